using System.Globalization;
using System.Net;
using Flowline.Records;

namespace Flowline.Query;

/// <summary>
/// Parses nfdump-style filters:
/// <code>
///   expr    := term (("or" | "||") term)*
///   term    := factor (("and" | "&amp;&amp;") factor)*
///   factor  := ("not" | "!") factor | "(" expr ")" | primitive
///   primitive :=
///       any | ipv4 | inet | ipv6 | inet6
///     | proto (tcp | udp | icmp | icmp6 | gre | esp | sctp | N)
///     | [src | dst] (host | ip) ADDRESS            | [src | dst] (host | ip) in "[" ADDRESS|PREFIX ... "]"
///     | [src | dst] net PREFIX | [src | dst] net ADDRESS MASK
///     | [src | dst] port [CMP] N                  | [src | dst] port in "[" N ... "]"
///     | [in | out] if [CMP] N | [src | dst] as [CMP] N | [src | dst] vlan [CMP] N
///     | (bytes | packets | [src] tos | duration | sampling | domain) [CMP] N[k|m|g|t]
///     | flags LETTERS                             -- F S R P A U E C, or X for all
///     | flags [CMP] N                             -- the flags as a number (0-63), TCP flows only
///     | src or dst PRIMITIVE | src and dst PRIMITIVE
///     | exporter ADDRESS | [src | dst] mac MAC
///   CMP := = | == | != | &lt; | &lt;= | &gt; | &gt;= | eq | ne | lt | le | gt | ge
/// </code>
/// Keywords are case-insensitive. Scale suffixes k, m, g multiply by 1000, 1000², 1000³ (as nfdump).
/// </summary>
public sealed partial class FilterParser
{
    private readonly string _text;
    private readonly List<(string Text, int Column)> _tokens;
    private readonly Func<string, uint?>? _symbols;
    private int _position;
    private int _depth, _terms;

    /// <summary>Parentheses and negations nested deeper than this are refused (the parser and evaluator recurse).</summary>
    public const int MaxDepth = 64;
    /// <summary>Primitives in one filter at most: a chain of ands and ors is a tree as deep as it is long.</summary>
    public const int MaxTerms = 1000;
    /// <summary>Characters in one filter at most.</summary>
    public const int MaxLength = 65_536;

    /// <summary>The id a name that is in no symbol table gets: no row holds it.</summary>
    public const uint UnknownSymbol = uint.MaxValue;

    private FilterParser(string text, Func<string, uint?>? symbols)
    {
        _text = text;
        _tokens = Tokenize(text);
        _symbols = symbols;
    }

    public static FilterNode Parse(string? text) => Parse(text, null);

    /// <summary>
    /// Parses a filter; the tenancy terms (account, vn, vmi, tag, sgrule) are resolved to ids with
    /// <paramref name="symbols"/> (a name it does not know matches no row). Without it they are refused.
    /// </summary>
    public static FilterNode Parse(string? text, Func<string, uint?>? symbols)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return new FilterNode.Any();
        }
        if (text.Length > MaxLength)
        {
            throw new FilterSyntaxException(text[..64], 1, $"the filter is {text.Length} characters long; at most {MaxLength} are taken");
        }
        var parser = new FilterParser(text, symbols);
        var node = parser.Expression();
        if (parser._position < parser._tokens.Count)
        {
            throw parser.Error($"expected 'and', 'or' or the end of the filter, found '{parser.Peek}'");
        }
        return node;
    }

    private FilterNode Expression()
    {
        var left = Term();
        while (Accept("or", "||"))
        {
            left = new FilterNode.Or(left, Term());
        }
        return left;
    }

    private FilterNode Term()
    {
        var left = Factor();
        while (Accept("and", "&&"))
        {
            left = new FilterNode.And(left, Factor());
        }
        return left;
    }

    private FilterNode Factor()
    {
        var nested = Peek is { } word && (word == "!" || word == "(" || word.Equals("not", StringComparison.OrdinalIgnoreCase));
        if (!nested)
        {
            if (++_terms > MaxTerms) throw Error($"the filter has more than {MaxTerms} terms");
            return Primitive();
        }
        if (++_depth > MaxDepth) throw Error($"parentheses and negations nest deeper than {MaxDepth}");
        try
        {
            if (Accept("not", "!"))
            {
                return new FilterNode.Not(Factor());
            }
            Accept("(");
            var inner = Expression();
            if (!Accept(")"))
            {
                throw Error(Peek is null ? "expected ')' to close the parenthesis, found the end of the filter" : $"expected ')', found '{Peek}'");
            }
            return inner;
        }
        finally
        {
            _depth--;
        }
    }

    // fwdstat, [src|dst] mask, geo, in src|dst mac and the refused terms: FilterParser.Nfdump.cs.
    /// <param name="side">The side "src and dst" gave (the term is read once for each).</param>
    private FilterNode Primitive(Direction? side = null)
    {
        var column = Column;
        var word = side is null ? Take("a filter term (proto, host, net, port, bytes, flags, ...)") : "src";
        var key = word.ToLowerInvariant();
        var direction = Direction.Either;
        if (key is "src" or "dst")
        {
            direction = side ?? (key == "src" ? Direction.Src : Direction.Dst);
            // nfdump's "src or dst TERM" (either side) and "src and dst TERM" (both sides).
            if (side is null && Peek?.ToLowerInvariant() is "or" or "and" && _position + 1 < _tokens.Count
                && _tokens[_position + 1].Text.Equals(key == "src" ? "dst" : "src", StringComparison.OrdinalIgnoreCase))
            {
                var both = Peek.Equals("and", StringComparison.OrdinalIgnoreCase);
                _position += 2;
                if (both)
                {
                    var from = _position;
                    var source = Primitive(Direction.Src);
                    _position = from;
                    return new FilterNode.And(source, Primitive(Direction.Dst));
                }
                direction = Direction.Either;
            }
            column = Column;
            word = Take($"host, ip, net, port, as, vlan or mac after '{word}'");
            key = word.ToLowerInvariant();
        }
        else if (key is "in" or "out")
        {
            direction = key == "in" ? Direction.Src : Direction.Dst;
            column = Column;
            var next = Take($"'if' after '{word}'").ToLowerInvariant();
            if (next is "src" or "dst") return InOutMac(key == "in", next == "src", column);
            if (next != "if") throw ErrorAt(column, $"expected 'if' after '{word}', found '{next}'");
            key = "if";
        }
        switch (key)
        {
            case "any":
                return new FilterNode.Any();
            case "ipv4" or "inet":
                return new FilterNode.Number(NumericField.IpVersion, Direction.Either, Comparison.Eq, [4]);
            case "ipv6" or "inet6":
                return new FilterNode.Number(NumericField.IpVersion, Direction.Either, Comparison.Eq, [6]);
            case "proto":
                return new FilterNode.Number(NumericField.Protocol, Direction.Either, Comparison.Eq, [Protocol()]);
            case "host" or "ip":
                if (Accept("in")) return new FilterNode.Address(direction, PrefixList());
                return new FilterNode.Address(direction, [HostPrefix()]);
            case "net":
                if (Accept("in")) return new FilterNode.Address(direction, PrefixList());
                return new FilterNode.Address(direction, [NetPrefix()]);
            case "port":
                return Numeric(NumericField.Port, direction, allowList: true);
            case "if":
                return Numeric(NumericField.Interface, direction, allowList: true);
            case "as":
                return Numeric(NumericField.As, direction, allowList: true);
            case "vlan":
                return Numeric(NumericField.Vlan, direction, allowList: true);
            case "mac":
                return new FilterNode.Mac(direction, MacValue());
            case "mask":
                return Numeric(NumericField.Mask, direction, allowList: true);
            case "fwdstat" when direction == Direction.Either:
                return Numeric(NumericField.ForwardingStatus, direction, allowList: true);
            case "exporter" when direction == Direction.Either:
                return new FilterNode.Exporter(Address(Take("an exporter address")));
            case "flags" when direction == Direction.Either:
            {
                // nfdump's flags [CMP] N (0-63) compares the flags as a number, letters test for flags set: both of
                // TCP flows only (an exporter may leave flag bits in other records).
                var tcp = new FilterNode.Number(NumericField.Protocol, Direction.Either, Comparison.Eq, [6]);
                return Peek is { } flags && (flags.All(char.IsAsciiDigit) || !flags.All(char.IsAsciiLetter) || flags.ToLowerInvariant() is "eq" or "ne" or "lt" or "le" or "gt" or "ge")
                    ? new FilterNode.And(tcp, Numeric(NumericField.TcpFlags, direction, allowList: false))
                    : new FilterNode.And(tcp, new FilterNode.Flags(FlagMask()));
            }
            case "bytes" when direction == Direction.Either:
                return Numeric(NumericField.Bytes, direction, allowList: false);
            case "packets" when direction == Direction.Either:
                return Numeric(NumericField.Packets, direction, allowList: false);
            case "tos" when direction != Direction.Dst: // src tos is the ToS; nfdump's dst tos, after forwarding, is not carried
                return Numeric(NumericField.Tos, Direction.Either, allowList: true);
            case "tos":
                throw ErrorAt(column, NotCarried("dst tos", "the ToS after forwarding"));
            case "duration" when direction == Direction.Either:
                return Numeric(NumericField.Duration, direction, allowList: false);
            case "sampling" when direction == Direction.Either:
                return Numeric(NumericField.SamplingRate, direction, allowList: true);
            case "domain" when direction == Direction.Either:
                return Numeric(NumericField.ObsDomain, direction, allowList: true);
            case "flowdir" when direction == Direction.Either:
                return Numeric(NumericField.FlowDirection, direction, allowList: true);
            case "account" when direction == Direction.Either:
                return Named(NumericField.Account, direction, "an account id (acc-…)");
            case "vmi" when direction == Direction.Either:
                return Named(NumericField.Vmi, direction, "a port (VMI) uuid");
            case "vn":
                return Named(NumericField.Vn, direction, "a virtual network name");
            case "sgrule" when direction == Direction.Either:
                return Named(NumericField.SgRule, direction, "a security-group rule uuid");
            case "tag" when direction == Direction.Either:
                return Tag();
            case "action" when direction == Direction.Either:
            {
                var c = Column;
                var a = Take("pass or drop after 'action'").ToLowerInvariant();
                ulong v = a switch { "pass" or "accept" or "allow" => FlowAction.Pass, "drop" or "dropped" or "reject" or "deny" => FlowAction.Drop, _ => throw ErrorAt(c, $"expected pass or drop after 'action', found '{a}'") };
                return new FilterNode.Number(NumericField.Action, direction, Comparison.Eq, [v]);
            }
            case "vmidir" when direction == Direction.Either:
            {
                var c = Column;
                var a = Take("ingress or egress after 'vmidir'").ToLowerInvariant();
                ulong v = a switch { "ingress" => VmiDirections.Ingress, "egress" => VmiDirections.Egress, _ => throw ErrorAt(c, $"expected ingress or egress after 'vmidir', found '{a}'") };
                return new FilterNode.Number(NumericField.VmiDirection, direction, Comparison.Eq, [v]);
            }
            case "icmp-type" when direction == Direction.Either:
                return Numeric(NumericField.IcmpType, direction, allowList: false);
            case "icmp-code" when direction == Direction.Either:
                return Numeric(NumericField.IcmpCode, direction, allowList: false);
            case "bps" when direction == Direction.Either:
                return Numeric(NumericField.Bps, direction, allowList: false);
            case "pps" when direction == Direction.Either:
                return Numeric(NumericField.Pps, direction, allowList: false);
            case "bpp" when direction == Direction.Either:
                return Numeric(NumericField.Bpp, direction, allowList: false);
            case "next" or "router" when direction == Direction.Either:
            {
                var which = key == "next" ? AddressColumn.NextHop : AddressColumn.Exporter;
                var c = Column;
                var what = Take($"ip, host or net after '{word}'").ToLowerInvariant();
                if (key == "next" && what == "as") throw ErrorAt(column, NotCarried("next as", "the next adjacent AS"));
                if (what is not ("ip" or "host" or "net")) throw ErrorAt(c, $"expected ip, host or net after '{word}', found '{what}'");
                var prefixes = Accept("in") ? PrefixList() : [what == "net" ? NetPrefix() : HostPrefix()];
                // No next hop is stored as ::, and an exporter's 0.0.0.0 is none too: either selects both, as in nfdump.
                if (which == AddressColumn.NextHop && prefixes.Any(p => p.Network.Hi == 0 && (p.Network.Lo == 0 || p.Network == FlowAddress.FromV4(0))))
                {
                    prefixes = [.. prefixes, Prefix.Create(default, 128), Prefix.Create(FlowAddress.FromV4(0), 32)];
                }
                return new FilterNode.OtherAddress(which, prefixes);
            }
            case "ident":
                throw ErrorAt(column, "'ident' selects nfcapd's source identifier, which Flowline's records do not carry: select the source with exporter, router ip or domain");
            case "country" or "geo":
            {
                var c = Column;
                var values = new List<ulong>();
                var list = Accept("in");
                if (list && !Accept("[")) throw Error($"expected '[' to start the list, found '{Peek ?? "the end of the filter"}'");
                do
                {
                    if (list && Accept("]")) break;
                    c = Column;
                    var code = Take("a two-letter country code");
                    var packed = CountryCode.Pack(code);
                    if (packed == 0) throw ErrorAt(c, $"'{code}' is not a two-letter country code (ISO 3166, e.g. IN, US, DE)");
                    values.Add(packed);
                } while (list);
                if (values.Count == 0) throw ErrorAt(c, "the list is empty");
                return new FilterNode.Number(NumericField.Country, direction, Comparison.Eq, values);
            }
            default:
                if (NotCarriedTerms.TryGetValue(key, out var selects)) throw ErrorAt(column, NotCarried(word, selects));
                throw ErrorAt(column, direction == Direction.Either
                    ? $"unknown filter term '{word}' (expected proto, host, ip, net, port, if, as, vlan, mac, bytes, packets, flags, tos, duration, sampling, domain, flowdir, exporter, account, vn, vmi, tag, action, vmidir, sgrule, country, any, ipv4, ipv6)"
                    : $"'{word}' cannot follow a direction (expected host, ip, net, port, as, vlan, mac, vn or country)");
        }
    }

    /// <summary>A term naming something in the symbol table: one name, or a list in [ ].</summary>
    private FilterNode Named(NumericField field, Direction direction, string what)
    {
        var column = Column;
        var names = new List<string>();
        if (Accept("in"))
        {
            if (!Accept("[")) throw Error($"expected '[' to start the list, found '{Peek ?? "the end of the filter"}'");
            while (!Accept("]"))
            {
                if (Peek is null) throw Error("expected ']' to close the list, found the end of the filter");
                names.Add(Take(what));
            }
            if (names.Count == 0) throw ErrorAt(column, "the list is empty");
        }
        else
        {
            names.Add(Take(what));
        }
        return new FilterNode.Number(field, direction, Comparison.Eq, Resolve(column, names));
    }

    private List<ulong> Resolve(int column, List<string> names)
    {
        if (_symbols is null) throw ErrorAt(column, "tenancy terms (account, vn, vmi, tag, sgrule) need a store to resolve names");
        var ids = new List<ulong>(names.Count);
        foreach (var n in names) ids.Add(_symbols(n) ?? UnknownSymbol);
        return ids;
    }

    /// <summary><c>tag app=web</c>, <c>tag tier in [web db]</c>: the port's workload tags.</summary>
    private FilterNode Tag()
    {
        var column = Column;
        var kind = Take("app, tier, site or deployment after 'tag'").ToLowerInvariant();
        NumericField field = kind switch
        {
            "app" or "application" => NumericField.App,
            "tier" => NumericField.Tier,
            "site" => NumericField.Site,
            "deployment" => NumericField.Deployment,
            _ => throw ErrorAt(column, $"expected app, tier, site or deployment after 'tag', found '{kind}'"),
        };
        if (Peek is "=" or "==") _position++;
        return Named(field, Direction.Either, $"a {kind} tag value");
    }

    private static readonly Dictionary<string, ulong> Protocols = new(StringComparer.OrdinalIgnoreCase)
    {
        ["icmp"] = 1, ["igmp"] = 2, ["tcp"] = 6, ["udp"] = 17, ["gre"] = 47, ["esp"] = 50, ["ah"] = 51,
        ["icmp6"] = 58, ["icmpv6"] = 58, ["ipv6-icmp"] = 58, ["ospf"] = 89, ["pim"] = 103, ["vrrp"] = 112, ["sctp"] = 132,
    };

    private ulong Protocol()
    {
        var column = Column;
        var word = Take("a protocol name or number after 'proto'");
        if (Protocols.TryGetValue(word, out var p)) return p;
        if (TryNumber(word, out p) && p <= 255) return p;
        throw ErrorAt(column, $"unknown protocol '{word}' (expected tcp, udp, icmp, icmp6, gre, esp, sctp, ... or 0-255)");
    }

    private FilterNode Numeric(NumericField field, Direction direction, bool allowList)
    {
        if (allowList && Accept("in"))
        {
            if (!Accept("[")) throw Error($"expected '[' to start the list, found '{Peek ?? "the end of the filter"}'");
            var listColumn = Column;
            var values = new List<ulong>();
            while (!Accept("]"))
            {
                if (Peek is null) throw Error("expected ']' to close the list, found the end of the filter");
                values.Add(Value(field));
            }
            if (values.Count == 0) throw ErrorAt(listColumn, "the list is empty");
            return new FilterNode.Number(field, direction, Comparison.Eq, values);
        }
        var comparison = Comparison.Eq;
        if (Peek is { } op)
        {
            Comparison? c = op.ToLowerInvariant() switch
            {
                "=" or "==" or "eq" => Comparison.Eq,
                "!=" or "ne" => Comparison.Ne,
                "<" or "lt" => Comparison.Lt,
                "<=" or "le" => Comparison.Le,
                ">" or "gt" => Comparison.Gt,
                ">=" or "ge" => Comparison.Ge,
                _ => null,
            };
            if (c is { } found)
            {
                comparison = found;
                _position++;
            }
        }
        return new FilterNode.Number(field, direction, comparison, [Value(field)]);
    }

    private static bool IsHex(string word) => word.Length > 2 && word[0] == '0' && word[1] is 'x' or 'X';

    /// <summary>A number as nfdump's scanner reads one: decimal digits, or 0x and hexadecimal digits (no suffix).</summary>
    private static bool TryNumber(string word, out ulong value) => IsHex(word)
        ? ulong.TryParse(word.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
        : ulong.TryParse(word, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    private ulong Value(NumericField field)
    {
        var column = Column;
        var word = Take("a number");
        if (field == NumericField.FlowDirection)
        {
            switch (word.ToLowerInvariant())
            {
                case "ingress": return 0;
                case "egress": return 1;
                case "unknown": return 255;
            }
        }
        var scale = 1UL;
        var digits = word;
        if (field is NumericField.Bytes or NumericField.Packets or NumericField.Duration or NumericField.Bps or NumericField.Pps or NumericField.Bpp && word.Length > 1
            && !IsHex(word))
        {
            scale = char.ToLowerInvariant(word[^1]) switch { 'k' => 1000UL, 'm' => 1000_000UL, 'g' => 1000_000_000UL, 't' => 1000_000_000_000UL, _ => 1UL };
            if (scale != 1) digits = word[..^1];
        }
        if (!TryNumber(digits, out var value))
        {
            throw ErrorAt(column, field == NumericField.FlowDirection
                ? $"expected ingress, egress, unknown or a number after 'flowdir', found '{word}'"
                : $"expected a number, found '{word}'");
        }
        var max = field switch
        {
            NumericField.Port or NumericField.Vlan => 65535UL,
            NumericField.TcpFlags => 63UL,
            NumericField.Tos or NumericField.Protocol or NumericField.FlowDirection or NumericField.IcmpType or NumericField.IcmpCode or NumericField.ForwardingStatus => 255UL,
            NumericField.Mask => 128UL,
            NumericField.Interface or NumericField.As or NumericField.SamplingRate or NumericField.ObsDomain => uint.MaxValue,
            _ => ulong.MaxValue,
        };
        if (value > max || (scale > 1 && value > ulong.MaxValue / scale))
        {
            throw ErrorAt(column, $"{word} is out of range (at most {max})");
        }
        return value * scale;
    }

}
