using System.Globalization;
using System.Text;
using Flowline.Query;
using Flowline.Records;

namespace Flowline.Storage.ClickHouse;

/// <summary>
/// Filters and groupings of the query model as ClickHouse expressions. Nothing a user typed is copied into a
/// statement: the parser has already turned every value into a number, an address or a symbol id, and only
/// those numbers (formatted here, invariant culture) and the schema's own column names are written. The
/// 18.x servers have no query parameters; the statement is the same text a parameterised one would bind.
/// </summary>
public static class ClickHouseSql
{
    /// <summary>
    /// The filter as a WHERE condition: exact (the rows it selects are exactly the filter's) or, where a term has
    /// no exact expression (nfdump's bps and pps overflow 64 bits in ClickHouse's integers), a condition that
    /// selects a superset (<paramref name="exact"/> false): the caller evaluates the filter on what comes back.
    /// </summary>
    public static string Where(FilterNode filter, out bool exact)
    {
        var sql = Translate(filter, out exact);
        return sql ?? "1";
    }

    /// <summary>The expression of <paramref name="node"/>; null when it has none. <paramref name="exact"/>: no superset taken.</summary>
    private static string? Translate(FilterNode node, out bool exact)
    {
        exact = true;
        switch (node)
        {
            case FilterNode.Any:
                return "1";
            case FilterNode.And and:
            {
                var l = Translate(and.Left, out var le);
                var r = Translate(and.Right, out var re);
                exact = le && re && l is not null && r is not null;
                if (l is null) return r;
                if (r is null) return l;
                return $"({l} AND {r})";
            }
            case FilterNode.Or or:
            {
                var l = Translate(or.Left, out var le);
                var r = Translate(or.Right, out var re);
                exact = le && re;
                if (l is null || r is null)
                {
                    exact = false;
                    return null;
                }
                return $"({l} OR {r})";
            }
            case FilterNode.Not not:
            {
                var inner = Translate(not.Inner, out var ie);
                if (inner is null || !ie)
                {
                    exact = false;
                    return null;
                }
                return $"NOT {inner}";
            }
            case FilterNode.Address a:
                return Either(a.Direction, FlowField.SrcAddr, FlowField.DstAddr, f => Prefixes(Hi(f), Lo(f), a.Prefixes, unspecifiedIsZero: false, ClickHouseSchema.Expr(FlowField.IpVersion)));
            case FilterNode.OtherAddress o:
            {
                var f = o.Column == AddressColumn.NextHop ? FlowField.NextHop : FlowField.Exporter;
                // A record without the address reads as 0.0.0.0 (nfdump's "next ip 0.0.0.0": no next hop).
                var none = $"({Hi(f)} = 0 AND {Lo(f)} = 0)";
                return Prefixes(Hi(f), $"if({none}, {Num(FlowAddress.FromV4(0).Lo)}, {Lo(f)})", o.Prefixes, unspecifiedIsZero: true);
            }
            case FilterNode.Number n:
            {
                var sql = Number(n);
                if (sql is null) exact = false;
                return sql;
            }
            case FilterNode.Flags f:
                return $"bitAnd(`tcp_flags`, {Num(f.Mask)}) = {Num(f.Mask)}";
            case FilterNode.Exporter e:
                return $"({Hi(FlowField.Exporter)} = {Num(e.Value.Hi)} AND {Lo(FlowField.Exporter)} = {Num(e.Value.Lo)})";
            case FilterNode.Mac m:
                return Either(m.Direction, FlowField.SrcMac, FlowField.DstMac, f => $"{ClickHouseSchema.Expr(f)} = {Num(m.Value)}");
            case FilterNode.Window t:
                return $"(intDiv({ClickHouseSchema.Expr(FlowField.Start)}, 1000) >= {Num(t.FirstMs)} AND intDiv({ClickHouseSchema.Expr(FlowField.End)}, 1000) <= {Num(t.LastMs)})";
            default:
                exact = false;
                return null;
        }
    }

    private static string Either(Direction direction, FlowField src, FlowField dst, Func<FlowField, string> test) => direction switch
    {
        Direction.Src => test(src),
        Direction.Dst => test(dst),
        _ => $"({test(src)} OR {test(dst)})",
    };

    private static string Hi(FlowField f) => ClickHouseClient.Identifier(FlowFields.Name(f) + "_hi");

    private static string Lo(FlowField f) => ClickHouseClient.Identifier(FlowFields.Name(f) + "_lo");

    internal static string Num(ulong v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Num(long v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The address (hi, lo) is inside one of the prefixes; the unset address (all zeros) never is, unless it stands
    /// for 0.0.0.0, or for :: in a record whose <paramref name="version"/> column says IPv6.
    /// </summary>
    private static string Prefixes(string hi, string lo, IReadOnlyList<Prefix> prefixes, bool unspecifiedIsZero, string? version = null)
    {
        var unset = version is null ? $"({hi} = 0 AND {lo} = 0)" : $"({hi} = 0 AND {lo} = 0 AND {version} != 6)";
        if (prefixes.Count == 0) return "0";
        var hosts = prefixes.Where(p => p.Length >= 128).ToList();
        var terms = new List<string>();
        if (hosts.Count > 0)
        {
            var set = string.Join(", ", hosts.Select(p => $"({Num(p.Network.Hi)}, {Num(p.Network.Lo)})"));
            var none = hosts.Any(p => p.Network.IsNone) && !unspecifiedIsZero ? $" AND NOT {unset}" : "";
            terms.Add(hosts.Count == 1
                ? $"({hi} = {Num(hosts[0].Network.Hi)} AND {lo} = {Num(hosts[0].Network.Lo)}{none})"
                : $"(({hi}, {lo}) IN ({set}){none})");
        }
        foreach (var p in prefixes.Where(p => p.Length < 128))
        {
            var test = p.Length <= 0 ? "1"
                : p.Length <= 64 ? $"bitAnd({hi}, {Num(ulong.MaxValue << (64 - p.Length))}) = {Num(p.Network.Hi)}"
                : $"({hi} = {Num(p.Network.Hi)} AND bitAnd({lo}, {Num(ulong.MaxValue << (128 - p.Length))}) = {Num(p.Network.Lo)})";
            if (p.Network.IsNone && !unspecifiedIsZero) test = $"({test} AND NOT {unset})";
            terms.Add(test);
        }
        return terms.Count == 1 ? terms[0] : "(" + string.Join(" OR ", terms) + ")";
    }

    private static string? Number(FilterNode.Number n)
    {
        string Test(string expr)
        {
            if (n.Values.Count > 1) return $"{expr} IN ({string.Join(", ", n.Values.Select(Num))})";
            var op = n.Comparison switch
            {
                Comparison.Eq => "=",
                Comparison.Ne => "!=",
                Comparison.Lt => "<",
                Comparison.Le => "<=",
                Comparison.Gt => ">",
                _ => ">=",
            };
            return $"{expr} {op} {Num(n.Values[0])}";
        }

        string Column(FlowField f) => Test(ClickHouseSchema.Expr(f));
        string Pair(FlowField src, FlowField dst) => Either(n.Direction, src, dst, Column);

        return n.Field switch
        {
            NumericField.Protocol => Column(FlowField.IpProto),
            NumericField.IpVersion => Column(FlowField.IpVersion),
            NumericField.Tos => Column(FlowField.Tos),
            NumericField.TcpFlags => Column(FlowField.TcpFlags),
            NumericField.FlowDirection => Column(FlowField.Direction),
            NumericField.Bytes => Column(FlowField.Bytes),
            NumericField.Packets => Column(FlowField.Packets),
            NumericField.SamplingRate => Column(FlowField.SamplingRate),
            NumericField.ObsDomain => Column(FlowField.ObsDomain),
            NumericField.Duration => Test("toUInt64(greatest(0, intDiv(`end` - `start`, 1000)))"),
            NumericField.Port => Pair(FlowField.SrcPort, FlowField.DstPort),
            NumericField.Interface => Pair(FlowField.InIf, FlowField.OutIf),
            NumericField.As => Pair(FlowField.SrcAs, FlowField.DstAs),
            NumericField.Vlan => Pair(FlowField.Vlan, FlowField.PostVlan),
            NumericField.Account => Column(FlowField.Account),
            NumericField.Vmi => Column(FlowField.Vmi),
            NumericField.Vn => Pair(FlowField.SrcVn, FlowField.DstVn),
            NumericField.SgRule => Column(FlowField.SgRule),
            NumericField.App => Column(FlowField.App),
            NumericField.Tier => Column(FlowField.Tier),
            NumericField.Site => Column(FlowField.Site),
            NumericField.Deployment => Column(FlowField.Deployment),
            NumericField.Action => Column(FlowField.Action),
            NumericField.VmiDirection => Column(FlowField.VmiDirection),
            NumericField.Country => Pair(FlowField.SrcCountry, FlowField.DstCountry),
            NumericField.ForwardingStatus => Column(FlowField.ForwardingStatus),
            NumericField.Mask => Pair(FlowField.SrcMask, FlowField.DstMask),
            NumericField.IcmpType => $"(`ip_proto` IN (1, 58) AND {Test("bitAnd(bitShiftRight(`dst_port`, 8), 255)")})",
            NumericField.IcmpCode => $"(`ip_proto` IN (1, 58) AND {Test("bitAnd(`dst_port`, 255)")})",
            NumericField.Bpp => Test("if(`packets` = 0, 0, intDiv(`bytes`, `packets`))"),
            // bits and packets a second: the products need 128 bits; evaluated on the rows instead.
            _ => null,
        };
    }

    /// <summary>The start-time condition of [from, to); the open ends of long.MinValue / long.MaxValue are left out.</summary>
    public static string TimeRange(long from, long to)
    {
        var terms = new List<string>();
        if (from != long.MinValue) terms.Add($"`start` >= {Num(from)}");
        if (to != long.MaxValue) terms.Add($"`start` < {Num(to)}");
        return terms.Count == 0 ? "1" : string.Join(" AND ", terms);
    }

    /// <summary>
    /// The columns of a grouping key as (expression, output column) pairs: an address masked to the key's
    /// prefix lengths (the IPv4 one for mapped addresses) in its two halves, any other field as itself.
    /// </summary>
    public static IEnumerable<(string Expression, ClickHouseSchema.Column Column)> Key(GroupKey key)
    {
        var columns = ClickHouseSchema.Of(key.Field).ToList();
        if (!key.IsAddress)
        {
            yield return ($"CAST({ClickHouseSchema.Expr(key.Field)} AS {columns[0].Type})", columns[0]);
            yield break;
        }
        var hi = Hi(key.Field);
        var lo = Lo(key.Field);
        if (key.V4Prefix == 32 && key.V6Prefix == 128)
        {
            yield return (hi, columns[0]);
            yield return (lo, columns[1]);
            yield break;
        }
        var v4 = $"({hi} = 0 AND bitShiftRight({lo}, 32) = 65535)";
        var m4 = Prefix.Mask(new FlowAddress(ulong.MaxValue, ulong.MaxValue), 96 + key.V4Prefix);
        var m6 = Prefix.Mask(new FlowAddress(ulong.MaxValue, ulong.MaxValue), key.V6Prefix);
        yield return ($"toUInt64(bitAnd({hi}, if({v4}, {Num(m4.Hi)}, {Num(m6.Hi)})))", columns[0]);
        yield return ($"toUInt64(bitAnd({lo}, if({v4}, {Num(m4.Lo)}, {Num(m6.Lo)})))", columns[1]);
    }

    /// <summary>The flow's start floored to a bucket of <paramref name="width"/> µs, as <see cref="Aggregator.FloorBucket"/> does.</summary>
    public static string Bucket(long width)
    {
        // The width as Int64: with a narrower literal the remainder takes the literal's type and the sum wraps.
        var w = $"toInt64({Num(width)})";
        return $"(`start` - (((`start` % {w}) + {w}) % {w}))";
    }

    /// <summary>A comma-separated list of column names, quoted.</summary>
    public static string List(IEnumerable<string> names)
    {
        var b = new StringBuilder();
        foreach (var n in names)
        {
            if (b.Length > 0) b.Append(", ");
            b.Append(ClickHouseClient.Identifier(n));
        }
        return b.ToString();
    }
}
