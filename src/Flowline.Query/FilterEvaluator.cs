using Flowline.Records;

namespace Flowline.Query;

/// <summary>
/// Evaluates a filter column by column over a <see cref="FlowBatch"/>: each term scans one or two
/// columns into a bitset (64 rows per word), and and/or/not combine whole words.
/// </summary>
public sealed class FilterEvaluator
{
    private static readonly FlowAddress UnspecifiedV4 = FlowAddress.FromV4(0);

    private readonly FilterNode _root;
    private readonly Stack<ulong[]> _scratch = new();

    public FilterEvaluator(FilterNode root) => _root = root;

    public FilterNode Filter => _root;

    /// <summary>Sets bit i of <paramref name="selection"/> when row i matches; returns the number of matches.</summary>
    public int Evaluate(FlowBatch batch, ulong[] selection)
    {
        var words = (batch.Count + 63) / 64;
        if (selection.Length < words) throw new ArgumentException($"selection needs {words} words", nameof(selection));
        Evaluate(_root, batch, selection.AsSpan(0, words));
        ClearTail(selection.AsSpan(0, words), batch.Count);
        var count = 0;
        for (var w = 0; w < words; w++) count += System.Numerics.BitOperations.PopCount(selection[w]);
        return count;
    }

    public static int Words(int rows) => (rows + 63) / 64;

    private static void ClearTail(Span<ulong> bits, int rows)
    {
        if (rows % 64 != 0 && bits.Length > 0) bits[^1] &= (1UL << (rows % 64)) - 1;
    }

    private ulong[] Rent(int words)
    {
        var a = _scratch.Count > 0 ? _scratch.Pop() : [];
        if (a.Length < words) a = new ulong[Math.Max(words, 64)];
        return a;
    }

    private void Evaluate(FilterNode node, FlowBatch b, Span<ulong> result)
    {
        switch (node)
        {
            case FilterNode.Any:
                result.Fill(ulong.MaxValue);
                return;
            case FilterNode.And and:
            {
                Evaluate(and.Left, b, result);
                var right = Rent(result.Length);
                Evaluate(and.Right, b, right.AsSpan(0, result.Length));
                for (var w = 0; w < result.Length; w++) result[w] &= right[w];
                _scratch.Push(right);
                return;
            }
            case FilterNode.Or or:
            {
                Evaluate(or.Left, b, result);
                var right = Rent(result.Length);
                Evaluate(or.Right, b, right.AsSpan(0, result.Length));
                for (var w = 0; w < result.Length; w++) result[w] |= right[w];
                _scratch.Push(right);
                return;
            }
            case FilterNode.Not not:
                Evaluate(not.Inner, b, result);
                for (var w = 0; w < result.Length; w++) result[w] = ~result[w];
                return;
            case FilterNode.Address a:
                AddressScan(a, b, result);
                return;
            case FilterNode.Number n:
                NumberScan(n, b, result);
                return;
            case FilterNode.Flags f:
                Scan(result, b.Count, b.TcpFlags, f.Mask, static (v, m) => (v & m) == m);
                return;
            case FilterNode.Exporter e:
                Scan(result, b.Count, b.Exporter, e.Value, static (v, x) => v == x);
                return;
            case FilterNode.Mac m:
                switch (m.Direction)
                {
                    case Direction.Src: Scan(result, b.Count, b.SrcMac, m.Value, static (v, x) => v == x); break;
                    case Direction.Dst: Scan(result, b.Count, b.DstMac, m.Value, static (v, x) => v == x); break;
                    default: Scan2(result, b.Count, b.SrcMac, b.DstMac, m.Value, static (v, x) => v == x); break;
                }
                return;
            case FilterNode.OtherAddress o:
                // A record without one holds no address; nfdump reads it as 0.0.0.0 ("next ip 0.0.0.0": no next hop).
                Scan(result, b.Count, o.Column == AddressColumn.NextHop ? b.NextHop : b.Exporter, AddressMatcher.For(o.Prefixes),
                    static (v, m) => m.Matches(v.IsNone ? UnspecifiedV4 : v));
                return;
            case FilterNode.Window t:
                result.Clear();
                for (var i = 0; i < b.Count; i++)
                {
                    if (b.Start[i] / 1000 >= t.FirstMs && b.End[i] / 1000 <= t.LastMs) result[i >> 6] |= 1UL << (i & 63);
                }
                return;
            default:
                throw new NotSupportedException($"filter node {node.GetType().Name}");
        }
    }

    private static void Scan<T, TArg>(Span<ulong> result, int rows, T[] column, TArg arg, Func<T, TArg, bool> test)
    {
        result.Clear();
        for (var i = 0; i < rows; i++)
        {
            if (test(column[i], arg)) result[i >> 6] |= 1UL << (i & 63);
        }
    }

    private static void Scan2<T, TArg>(Span<ulong> result, int rows, T[] a, T[] b, TArg arg, Func<T, TArg, bool> test)
    {
        result.Clear();
        for (var i = 0; i < rows; i++)
        {
            if (test(a[i], arg) || test(b[i], arg)) result[i >> 6] |= 1UL << (i & 63);
        }
    }

    private static void AddressScan(FilterNode.Address node, FlowBatch b, Span<ulong> result)
    {
        var matcher = AddressMatcher.For(node.Prefixes);
        switch (node.Direction)
        {
            case Direction.Src: Scan(result, b.Count, b.SrcAddr, matcher, static (v, m) => m.Matches(v)); break;
            case Direction.Dst: Scan(result, b.Count, b.DstAddr, matcher, static (v, m) => m.Matches(v)); break;
            default: Scan2(result, b.Count, b.SrcAddr, b.DstAddr, matcher, static (v, m) => m.Matches(v)); break;
        }
        if (!UnspecifiedV6In(node.Prefixes)) return;
        // All zeros is no address, except in an IPv6 record, where it is :: (the source of duplicate address detection).
        for (var i = 0; i < b.Count; i++)
        {
            if (b.IpVersion[i] != 6) continue;
            if ((node.Direction != Direction.Dst && b.SrcAddr[i].IsNone) || (node.Direction != Direction.Src && b.DstAddr[i].IsNone)) result[i >> 6] |= 1UL << (i & 63);
        }
    }

    /// <summary>Whether one of the prefixes holds IPv6's :: (all zeros).</summary>
    internal static bool UnspecifiedV6In(IReadOnlyList<Prefix> prefixes)
    {
        foreach (var p in prefixes)
        {
            if (!p.Network.IsV4 && p.Contains(FlowAddress.None)) return true;
        }
        return false;
    }

    private static void NumberScan(FilterNode.Number n, FlowBatch b, Span<ulong> result)
    {
        var test = NumberTest.For(n);
        var rows = b.Count;
        switch (n.Field)
        {
            case NumericField.Protocol: Scan(result, rows, b.IpProto, test, static (v, t) => t.Matches(v)); break;
            case NumericField.IpVersion: Scan(result, rows, b.IpVersion, test, static (v, t) => t.Matches(v)); break;
            case NumericField.Tos: Scan(result, rows, b.Tos, test, static (v, t) => t.Matches(v)); break;
            case NumericField.TcpFlags: Scan(result, rows, b.TcpFlags, test, static (v, t) => t.Matches(v)); break;
            case NumericField.FlowDirection: Scan(result, rows, b.Direction, test, static (v, t) => t.Matches(v)); break;
            case NumericField.Bytes: Scan(result, rows, b.Bytes, test, static (v, t) => t.Matches(v)); break;
            case NumericField.Packets: Scan(result, rows, b.Packets, test, static (v, t) => t.Matches(v)); break;
            case NumericField.SamplingRate: Scan(result, rows, b.SamplingRate, test, static (v, t) => t.Matches(v)); break;
            case NumericField.ObsDomain: Scan(result, rows, b.ObsDomain, test, static (v, t) => t.Matches(v)); break;
            case NumericField.Duration:
                result.Clear();
                for (var i = 0; i < rows; i++)
                {
                    if (test.Matches((ulong)Math.Max(0, (b.End[i] - b.Start[i]) / 1000))) result[i >> 6] |= 1UL << (i & 63);
                }
                break;
            case NumericField.Port: Pair(result, rows, b.SrcPort, b.DstPort, n.Direction, test); break;
            case NumericField.Interface: Pair(result, rows, b.InIf, b.OutIf, n.Direction, test); break;
            case NumericField.As: Pair(result, rows, b.SrcAs, b.DstAs, n.Direction, test); break;
            case NumericField.Vlan: Pair(result, rows, b.Vlan, b.PostVlan, n.Direction, test); break;
            case NumericField.Account: Scan(result, rows, b.Account, test, static (v, t) => t.Matches(v)); break;
            case NumericField.Vmi: Scan(result, rows, b.Vmi, test, static (v, t) => t.Matches(v)); break;
            case NumericField.Vn: Pair(result, rows, b.SrcVn, b.DstVn, n.Direction, test); break;
            case NumericField.SgRule: Scan(result, rows, b.SgRule, test, static (v, t) => t.Matches(v)); break;
            case NumericField.App: Scan(result, rows, b.App, test, static (v, t) => t.Matches(v)); break;
            case NumericField.Tier: Scan(result, rows, b.Tier, test, static (v, t) => t.Matches(v)); break;
            case NumericField.Site: Scan(result, rows, b.Site, test, static (v, t) => t.Matches(v)); break;
            case NumericField.Deployment: Scan(result, rows, b.Deployment, test, static (v, t) => t.Matches(v)); break;
            case NumericField.Action: Scan(result, rows, b.Action, test, static (v, t) => t.Matches(v)); break;
            case NumericField.VmiDirection: Scan(result, rows, b.VmiDirection, test, static (v, t) => t.Matches(v)); break;
            case NumericField.Country: Pair(result, rows, b.SrcCountry, b.DstCountry, n.Direction, test); break;
            case NumericField.ForwardingStatus: Scan(result, rows, b.ForwardingStatus, test, static (v, t) => t.Matches(v)); break;
            case NumericField.Mask: Pair(result, rows, b.SrcMask, b.DstMask, n.Direction, test); break;
            case NumericField.IcmpType or NumericField.IcmpCode:
            {
                // nfdump implies proto icmp (or icmp6); dst_port holds type << 8 | code.
                var shift = n.Field == NumericField.IcmpType ? 8 : 0;
                result.Clear();
                for (var i = 0; i < rows; i++)
                {
                    if (b.IpProto[i] is 1 or 58 && test.Matches((ulong)((b.DstPort[i] >> shift) & 0xFF))) result[i >> 6] |= 1UL << (i & 63);
                }
                break;
            }
            case NumericField.Bps or NumericField.Pps or NumericField.Bpp:
                result.Clear();
                for (var i = 0; i < rows; i++)
                {
                    if (test.Matches(Rate(n.Field, b.Bytes[i], b.Packets[i], b.Start[i], b.End[i]))) result[i >> 6] |= 1UL << (i & 63);
                }
                break;
            default: throw new NotSupportedException($"numeric field {n.Field}");
        }
    }

    /// <summary>nfdump's bps, pps and bpp: over the flow's duration in milliseconds (its times in whole milliseconds), 0 when that is 0.</summary>
    internal static ulong Rate(NumericField field, ulong bytes, ulong packets, long start, long end)
    {
        if (field == NumericField.Bpp) return packets == 0 ? 0 : bytes / packets;
        var ms = end / 1000 - start / 1000;
        if (ms <= 0) return 0;
        var count = field == NumericField.Bps ? (UInt128)bytes * 8000 : (UInt128)packets * 1000;
        return (ulong)UInt128.Min(count / (ulong)ms, ulong.MaxValue);
    }

    private static void Pair<T>(Span<ulong> result, int rows, T[] src, T[] dst, Direction direction, NumberTest test) where T : struct, IConvertible
    {
        switch (direction)
        {
            case Direction.Src: Scan(result, rows, src, test, static (v, t) => t.Matches(ToUInt64(v))); break;
            case Direction.Dst: Scan(result, rows, dst, test, static (v, t) => t.Matches(ToUInt64(v))); break;
            default: Scan2(result, rows, src, dst, test, static (v, t) => t.Matches(ToUInt64(v))); break;
        }
    }

    private static ulong ToUInt64<T>(T v) where T : struct, IConvertible => v switch
    {
        ushort u16 => u16,
        uint u32 => u32,
        byte u8 => u8,
        _ => v.ToUInt64(System.Globalization.CultureInfo.InvariantCulture),
    };
}

/// <summary>Address membership: exact hosts by hash, prefixes by mask.</summary>
internal sealed class AddressMatcher
{
    /// <summary>Up to this many hosts are compared directly; more go into a hash set.</summary>
    private const int FewHosts = 4;
    private readonly FlowAddress[] _few;
    private readonly HashSet<FlowAddress>? _hosts;
    private readonly Prefix[] _prefixes;

    private AddressMatcher(IReadOnlyList<Prefix> prefixes)
    {
        var hosts = new List<FlowAddress>();
        var rest = new List<Prefix>();
        foreach (var p in prefixes)
        {
            if (p.Length == 128) hosts.Add(p.Network);
            else rest.Add(p);
        }
        if (hosts.Count <= FewHosts)
        {
            _few = [.. hosts];
        }
        else
        {
            _few = [];
            _hosts = [.. hosts];
        }
        _prefixes = [.. rest];
    }

    public static AddressMatcher For(IReadOnlyList<Prefix> prefixes) => new(prefixes);

    public bool Matches(FlowAddress a)
    {
        if (a.IsNone) return false;
        foreach (var h in _few)
        {
            if (h == a) return true;
        }
        if (_hosts is not null && _hosts.Contains(a)) return true;
        foreach (var p in _prefixes)
        {
            if (p.Contains(a)) return true;
        }
        return false;
    }
}

/// <summary>A comparison against one value, or membership in a set of values.</summary>
internal sealed class NumberTest
{
    private readonly Comparison _comparison;
    private readonly ulong _value;
    private readonly HashSet<ulong>? _set;

    private NumberTest(Comparison comparison, ulong value, HashSet<ulong>? set)
    {
        _comparison = comparison;
        _value = value;
        _set = set;
    }

    public static NumberTest For(FilterNode.Number n) =>
        n.Values.Count > 1 ? new NumberTest(Comparison.Eq, 0, [.. n.Values]) : new NumberTest(n.Comparison, n.Values[0], null);

    public bool Matches(ulong v)
    {
        if (_set is not null) return _set.Contains(v);
        return _comparison switch
        {
            Comparison.Eq => v == _value,
            Comparison.Ne => v != _value,
            Comparison.Lt => v < _value,
            Comparison.Le => v <= _value,
            Comparison.Gt => v > _value,
            _ => v >= _value,
        };
    }
}
