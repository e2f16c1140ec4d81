namespace Flowline.Query;

/// <summary>A filter that does not parse: says where (1-based column) and what was expected, with the filter around that column.</summary>
public sealed partial class FilterSyntaxException(string filter, int column, string message)
    : Exception($"filter: at column {column}: {Shorten(message)}\n  {Excerpt(filter, column, out var caret)}\n  {new string(' ', caret)}^")
{
    /// <summary>Characters of the filter shown on each side of the column.</summary>
    private const int Around = 60;

    public string Filter { get; } = filter;
    public int Column { get; } = column;
    public string Reason { get; } = Shorten(message);

    /// <summary>A word of the filter quoted in a message (no white space: the filter's words are split at it), when it is longer than the excerpt shows.</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"'([^'\s]{61,})'")]
    private static partial System.Text.RegularExpressions.Regex LongQuote();

    /// <summary>Quoted words over 60 characters cut to their start and length: a 60,000-character term is not echoed whole.</summary>
    private static string Shorten(string message) =>
        LongQuote().Replace(message, m => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"'{m.Groups[1].ValueSpan[..40]}…' ({m.Groups[1].Length:N0} characters)"));

    /// <summary>The filter, or for a long one the part around <paramref name="column"/>, and where the caret goes under it.</summary>
    private static string Excerpt(string filter, int column, out int caret)
    {
        var at = Math.Clamp(column - 1, 0, filter.Length);
        var from = Math.Max(0, at - Around);
        var to = Math.Min(filter.Length, at + Around);
        var prefix = from > 0 ? "…" : "";
        caret = prefix.Length + at - from;
        return prefix + filter[from..to] + (to < filter.Length ? "…" : "");
    }
}
