namespace Flowline.Query;

/// <summary>A filter that does not parse: says where (1-based column) and what was expected.</summary>
public sealed class FilterSyntaxException(string filter, int column, string message)
    : Exception($"filter: at column {column}: {message}\n  {filter}\n  {new string(' ', Math.Max(0, column - 1))}^")
{
    public string Filter { get; } = filter;
    public int Column { get; } = column;
    public string Reason { get; } = message;
}
