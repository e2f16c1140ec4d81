namespace Flowline.Query;

/// <summary>A filter that does not parse: says where (1-based column) and what was expected, with the filter around that column.</summary>
public sealed class FilterSyntaxException(string filter, int column, string message)
    : Exception($"filter: at column {column}: {message}\n  {Excerpt(filter, column, out var caret)}\n  {new string(' ', caret)}^")
{
    /// <summary>Characters of the filter shown on each side of the column.</summary>
    private const int Around = 60;

    public string Filter { get; } = filter;
    public int Column { get; } = column;
    public string Reason { get; } = message;

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
