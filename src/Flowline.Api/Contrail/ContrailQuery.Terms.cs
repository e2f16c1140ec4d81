using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Flowline.Query;

namespace Flowline.Api;

/// <summary>The where and filter terms of a query, its times, and what each may hold.</summary>
public static partial class ContrailQuery
{
    /// <summary>
    /// A term, its values read once: <see cref="Number"/> when the value is a whole number (443, "443" or
    /// 443.0, as Contrail reads a double), and a REGEX_MATCH's pattern built once for the whole query.
    /// </summary>
    private sealed record Term(string Name, int Op, string Text, long? Number, string Text2, long? Number2, Regex? Pattern);

    /// <summary>The latest time a query names: the last µs of the year 9999 (later would overflow its arithmetic).</summary>
    private const long MaxTime = 253_402_300_799_999_999;
    /// <summary>The longest relative offset and T= granularity: 100 years.</summary>
    private const long MaxSpanSeconds = 36_600 * 86_400L;

    /// <summary>µs since the epoch, or "now", "now-10m", "now+1h" (s, m, h, d); between 1970 and the year 9999.</summary>
    public static long Time(JsonElement q, string key, long nowMicros)
    {
        if (!q.TryGetProperty(key, out var v)) throw new QueryException($"{key} is required (µs since the epoch, or now-10m)");
        long n;
        if (v.ValueKind == JsonValueKind.Number)
        {
            if (!v.TryGetInt64(out n) || n < 0 || n > MaxTime) throw new QueryException($"{key} {v.GetRawText()}: µs since the epoch, from 0 to {MaxTime} (the year 9999)");
            return n;
        }
        var text = v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out n))
        {
            if (n > MaxTime) throw new QueryException($"{key} '{text}': µs since the epoch, at most {MaxTime} (the year 9999)");
            return n;
        }
        var m = Regex.Match(text, @"^now(?:([+-])(\d+)([smhd]))?$");
        if (!m.Success) throw new QueryException($"{key} {v.GetRawText()}: expected µs since the epoch or now, now-10m, now+1h (s, m, h, d)");
        if (!m.Groups[1].Success) return nowMicros;
        var unit = m.Groups[3].Value switch
        {
            "s" => 1L,
            "m" => 60L,
            "h" => 3_600L,
            _ => 86_400L,
        };
        // At most 100 years either way, in the unit given: a longer offset is no time at all.
        if (!long.TryParse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count > MaxSpanSeconds / unit)
        {
            throw new QueryException($"{key} '{text}': the offset is longer than 100 years");
        }
        var amount = count * unit * 1_000_000;
        var t = m.Groups[1].Value == "-" ? nowMicros - amount : nowMicros + amount;
        if (t < 0) throw new QueryException($"{key} '{text}': that is before 1970");
        return t;
    }

    /// <summary>The where clause (index columns only) or the filter (output columns), as an OR of AND-lists; null when absent or empty.</summary>
    private static List<List<Term>>? Terms(JsonElement q, string key, Table table, bool isFilter, ref int count)
    {
        if (!q.TryGetProperty(key, out var w) || w.ValueKind == JsonValueKind.Null) return null;
        if (w.ValueKind != JsonValueKind.Array) throw new QueryException($"{key}: expected a list of AND-lists of terms [[{{name, value, op}}]]");
        var terms = ParseTerms(w, key, ref count);
        // A filter's names are the answer's (checked against select_fields by the caller); where takes index columns.
        foreach (var t in isFilter ? [] : terms.SelectMany(a => a))
        {
            if (!table.Columns.TryGetValue(t.Name, out var c)) throw new QueryException($"{key}: '{t.Name}' is not a column of {table.Name}");
            if (!c.Index) throw new QueryException($"{key}: '{t.Name}' is not an index column of {table.Name}; use filter for it");
            if (t.Op == 8) throw new QueryException($"{key}: REGEX_MATCH (8) is for filters only");
        }
        return terms.Count == 0 ? null : terms;
    }

    private static List<List<Term>> ParseTerms(JsonElement w, string key, ref int count)
    {
        // A flat list of terms is one AND-list (the older form).
        var groups = w.GetArrayLength() > 0 && w.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Object) ? [w] : w.EnumerateArray().ToList();
        var result = new List<List<Term>>();
        foreach (var g in groups)
        {
            if (g.ValueKind != JsonValueKind.Array) throw new QueryException($"{key}: expected a list of AND-lists of terms");
            // An empty AND-list would match every row: refused, as Contrail does.
            if (g.GetArrayLength() == 0) throw new QueryException($"{key}: an AND-list holds at least one term");
            var and = new List<Term>();
            foreach (var t in g.EnumerateArray())
            {
                if (++count > FilterParser.MaxTerms) throw new QueryException($"where and filter hold at most {FilterParser.MaxTerms} terms together");
                if (t.ValueKind != JsonValueKind.Object || !t.TryGetProperty("name", out var nameElement) || nameElement.ValueKind != JsonValueKind.String
                    || !t.TryGetProperty("value", out var value) || !t.TryGetProperty("op", out var op) || op.ValueKind != JsonValueKind.Number)
                {
                    throw new QueryException($"{key}: each term is {{\"name\", \"value\", \"op\"}}");
                }
                var name = nameElement.GetString()!;
                var o = op.TryGetInt32(out var opNumber) ? opNumber : 0;
                if (o is < 1 or > 9) throw new QueryException($"{key}: op {op.GetRawText()} is not 1-9 (EQUAL, NOT_EQUAL, IN_RANGE, NOT_IN_RANGE, LEQ, GEQ, PREFIX, REGEX_MATCH, CONTAINS)");
                var (text, number) = Value(value, key, name);
                var (text2, number2) = ("", (long?)null);
                if (o is 3 or 4)
                {
                    if (!t.TryGetProperty("value2", out var v2) || v2.ValueKind == JsonValueKind.Null) throw new QueryException($"{key}: '{name}' IN_RANGE needs value2");
                    (text2, number2) = Value(v2, key, name);
                }
                Regex? pattern = null;
                if (o == 8)
                {
                    try
                    {
                        pattern = new Regex(text, RegexOptions.NonBacktracking);
                    }
                    catch (Exception e) when (e is ArgumentException or NotSupportedException)
                    {
                        throw new QueryException($"{key}: '{name}' REGEX_MATCH: the pattern is not taken: {e.Message}");
                    }
                }
                and.Add(new Term(name, o, text, number, text2, number2, pattern));
            }
            result.Add(and);
        }
        return result;
    }

    /// <summary>A term's value as text, and as a whole number when it is one.</summary>
    private static (string Text, long? Number) Value(JsonElement e, string key, string name)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String:
                var s = e.GetString()!;
                return (s, long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed) ? parsed : null);
            case JsonValueKind.Number:
                if (e.TryGetInt64(out var n)) return (n.ToString(CultureInfo.InvariantCulture), n);
                if (e.TryGetDouble(out var d) && Math.Floor(d) == d && Math.Abs(d) < 9e18)
                {
                    var whole = (long)d;
                    return (whole.ToString(CultureInfo.InvariantCulture), whole);
                }
                return (e.GetRawText(), null);
            default:
                throw new QueryException($"{key}: the value of '{name}' is a string or a number, not {e.GetRawText()}");
        }
    }

    private static bool Match(Term t, object? actual)
    {
        var text = actual?.ToString() ?? "";
        int Cmp(string s, long? n) => actual is long a && n is { } b ? a.CompareTo(b) : string.CompareOrdinal(text, s);
        return t.Op switch
        {
            1 => Cmp(t.Text, t.Number) == 0,
            2 => Cmp(t.Text, t.Number) != 0,
            3 => Cmp(t.Text, t.Number) >= 0 && Cmp(t.Text2, t.Number2) <= 0,
            4 => !(Cmp(t.Text, t.Number) >= 0 && Cmp(t.Text2, t.Number2) <= 0),
            5 => Cmp(t.Text, t.Number) <= 0,
            6 => Cmp(t.Text, t.Number) >= 0,
            7 => text.StartsWith(t.Text, StringComparison.Ordinal),
            8 => t.Pattern!.IsMatch(text),
            _ => text.Contains(t.Text, StringComparison.Ordinal),
        };
    }
}
