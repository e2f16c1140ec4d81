using System.Text.RegularExpressions;
using Flowline.Records;

namespace Flowline.Realtime;

/// <summary>
/// A filter in sFlow-RT's syntax, compiled against batch columns: comparisons <c>KEY=V1,V2</c>,
/// <c>KEY!=V</c>, <c>KEY~REGEX</c>, <c>KEY!~REGEX</c> joined by <c>&amp;</c> and <c>|</c>, negated by
/// <c>!</c>, grouped with parentheses. Address values may be prefixes (<c>ipsource=10.0.0.0/8</c>). A row
/// without the key fails <c>=</c> and <c>~</c> and passes <c>!=</c> and <c>!~</c>.
/// </summary>
public abstract class FlowFilter
{
    public abstract bool Matches(FlowBatch b, int i);

    /// <summary>Whether the filter reads a tenancy key: then each port's row of a flow between two ports is a row of its own.</summary>
    public abstract bool Tenancy { get; }

    public static FlowFilter Parse(string text, KeyContext context)
    {
        if (text.Length > Query.FilterParser.MaxLength) throw new FormatException($"filter: {text.Length} characters; at most {Query.FilterParser.MaxLength} are taken");
        var p = new Parser(text, context);
        var f = p.Or();
        if (p.Position != text.Length) throw new FormatException($"filter '{text}': unexpected '{text[p.Position..]}' at {p.Position + 1}");
        return f;
    }

    private sealed class And(FlowFilter a, FlowFilter b) : FlowFilter
    {
        public override bool Tenancy => a.Tenancy || b.Tenancy;

        public override bool Matches(FlowBatch batch, int i) => a.Matches(batch, i) && b.Matches(batch, i);
    }

    private sealed class Or(FlowFilter a, FlowFilter b) : FlowFilter
    {
        public override bool Tenancy => a.Tenancy || b.Tenancy;

        public override bool Matches(FlowBatch batch, int i) => a.Matches(batch, i) || b.Matches(batch, i);
    }

    private sealed class Not(FlowFilter a) : FlowFilter
    {
        public override bool Tenancy => a.Tenancy;

        public override bool Matches(FlowBatch batch, int i) => !a.Matches(batch, i);
    }

    /// <summary>KEY=values (or !=): values compared as the key's own type when they parse, as text otherwise.</summary>
    private sealed class Among(KeyElement key, (UInt128 Value, int Bits)[] values, string[] texts, bool negate) : FlowFilter
    {
        public override bool Tenancy => key.Tenancy;

        public override bool Matches(FlowBatch b, int i)
        {
            bool hit;
            if (texts.Length == 0)
            {
                if (!key.Read(b, i, out var v)) return negate;
                hit = false;
                foreach (var (value, bits) in values)
                {
                    if (bits == 0 || ((v ^ value) >> (128 - bits)) == 0)
                    {
                        hit = true;
                        break;
                    }
                }
            }
            else
            {
                var t = key.TextOf(b, i);
                if (t is null) return negate;
                hit = Array.IndexOf(texts, t) >= 0;
            }
            return hit != negate;
        }
    }

    private sealed class Match(KeyElement key, Regex regex, bool negate) : FlowFilter
    {
        public override bool Tenancy => key.Tenancy;

        public override bool Matches(FlowBatch b, int i)
        {
            var t = key.TextOf(b, i);
            if (t is null) return negate;
            return regex.IsMatch(t) != negate;
        }
    }

    /// <summary>
    /// sFlow-RT's <c>key~P1,P2</c>: a list of patterns, any of which matches; made one pattern of alternatives. A
    /// comma inside brackets, braces or parentheses (<c>a{1,3}</c>, <c>[,;]</c>) belongs to its pattern.
    /// </summary>
    internal static string Alternatives(string value)
    {
        var parts = new List<string>();
        var depth = 0;
        var start = 0;
        for (var i = 0; i < value.Length; i++)
        {
            switch (value[i])
            {
                case '\\': i++; break;
                case '(' or '[' or '{': depth++; break;
                case ')' or ']' or '}': depth = Math.Max(0, depth - 1); break;
                case ',' when depth == 0:
                    parts.Add(value[start..i]);
                    start = i + 1;
                    break;
            }
        }
        if (parts.Count == 0) return value;
        parts.Add(value[start..]);
        return string.Join('|', parts.Select(p => $"(?:{p})"));
    }

    private sealed class Parser(string text, KeyContext context)
    {
        public int Position;
        private int _depth, _terms;

        private void Skip()
        {
            while (Position < text.Length && text[Position] == ' ') Position++;
        }

        private bool Take(char c)
        {
            Skip();
            if (Position < text.Length && text[Position] == c)
            {
                Position++;
                return true;
            }
            return false;
        }

        public FlowFilter Or()
        {
            var f = And();
            while (Take('|')) f = new Or(f, And());
            return f;
        }

        private FlowFilter And()
        {
            var f = Unary();
            while (Take('&')) f = new And(f, Unary());
            return f;
        }

        private FlowFilter Unary()
        {
            Skip();
            var negation = Position < text.Length && text[Position] == '!' && (Position + 1 >= text.Length || text[Position + 1] is not ('=' or '~'));
            if (!negation && !(Position < text.Length && text[Position] == '('))
            {
                if (++_terms > Query.FilterParser.MaxTerms) throw new FormatException($"filter: more than {Query.FilterParser.MaxTerms} comparisons");
                return Comparison();
            }
            // Parsing and matching recurse: the nesting is bounded, as in the nfdump filter language.
            if (++_depth > Query.FilterParser.MaxDepth) throw new FormatException($"filter: parentheses and negations nest deeper than {Query.FilterParser.MaxDepth}");
            try
            {
                if (negation)
                {
                    Position++;
                    return new Not(Unary());
                }
                Take('(');
                var f = Or();
                if (!Take(')')) throw new FormatException($"filter '{Excerpt}': missing ')'");
                return f;
            }
            finally
            {
                _depth--;
            }
        }

        private string Excerpt => text.Length <= 200 ? text : text[..200] + "…";

        /// <summary>
        /// Past a regular expression: its groups, classes and escapes are its own, so a ')' or '|' inside them
        /// belongs to it; a '&amp;', '|' or ')' outside them ends it.
        /// </summary>
        private void SkipPattern()
        {
            var depth = 0;
            var inClass = false;
            for (; Position < text.Length; Position++)
            {
                var c = text[Position];
                if (c == '\\')
                {
                    // The escaped character is the pattern's; a backslash at the very end is left to the regex to refuse.
                    if (Position + 1 < text.Length) Position++;
                    continue;
                }
                if (inClass)
                {
                    if (c == ']') inClass = false;
                    continue;
                }
                if (c == '[') inClass = true;
                else if (c == '(') depth++;
                else if (c == ')' && depth > 0) depth--;
                else if (depth == 0 && c is '&' or '|' or ')') return;
            }
        }

        private FlowFilter Comparison()
        {
            Skip();
            var start = Position;
            var depth = 0;
            while (Position < text.Length && (depth > 0 || text[Position] is not ('=' or '!' or '~' or '&' or '|' or ')')))
            {
                if (text[Position] == '[') depth++;
                else if (text[Position] == ']') depth--;
                Position++;
            }
            var name = text[start..Position].Trim();
            if (name.Length == 0) throw new FormatException($"filter '{text}': expected a key at {start + 1}");
            var negate = false;
            if (Position < text.Length && text[Position] == '!')
            {
                negate = true;
                Position++;
            }
            if (Position >= text.Length || text[Position] is not ('=' or '~'))
                throw new FormatException($"filter '{text}': expected =, !=, ~ or !~ after '{name}'");
            var regex = text[Position++] == '~';
            var valueStart = Position;
            if (regex) SkipPattern();
            else while (Position < text.Length && text[Position] is not ('&' or '|' or ')')) Position++;
            var value = text[valueStart..Position].Trim();
            var key = KeyParser.Parse(name, context);
            if (regex)
            {
                // Matched on the analytics thread for every row: linear time whatever the pattern, never a timeout.
                try
                {
                    return new Match(key, new Regex(Alternatives(value), RegexOptions.CultureInvariant | RegexOptions.NonBacktracking), negate);
                }
                catch (Exception e) when (e is ArgumentException or NotSupportedException)
                {
                    throw new FormatException($"filter '{Excerpt}': regular expression '{value}' is not taken: {e.Message}");
                }
            }
            var parts = value.Split(',', StringSplitOptions.TrimEntries);
            var parsed = new List<(UInt128, int)>();
            foreach (var v in parts)
            {
                if (!key.TryParse(v, out var x, out var bits))
                {
                    // A typed key's literal that is not of its type would match nothing, ever: refused.
                    if (key.LiteralForm is { } form) throw new FormatException($"filter '{Excerpt}': '{v}' is not {form}, as {name} takes");
                    // A key without a typed form (or:, null:, group:, tenancy names) compares its text.
                    return new Among(key, [], parts, negate);
                }
                parsed.Add((x, bits));
            }
            return new Among(key, parsed.ToArray(), [], negate);
        }
    }
}
