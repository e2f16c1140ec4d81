using Flowline.Query;
using Flowline.Wire.Records;

namespace Flowline.Storage.Segments;

/// <summary>
/// Minimum and maximum of the columns queries filter on, per block, so that a block that cannot hold a
/// match is skipped without reading it.
/// </summary>
public struct ZoneMap
{
    public long MinStart, MaxStart;
    public FlowAddress MinSrc, MaxSrc, MinDst, MaxDst, MinExporter, MaxExporter;
    /// <summary>Ranges of the lower and the higher address of each row's pair (the <see cref="RowOrder"/> keys).</summary>
    public FlowAddress MinLow, MaxLow, MinHigh, MaxHigh;
    public ushort MinSrcPort, MaxSrcPort, MinDstPort, MaxDstPort;
    /// <summary>One bit per IP protocol number present.</summary>
    public ulong Proto0, Proto1, Proto2, Proto3;

    public const int Size = 8 * 2 + 16 * 10 + 2 * 4 + 8 * 4;

    public static ZoneMap Of(FlowBatch b, int from, int count)
    {
        var z = new ZoneMap
        {
            MinStart = long.MaxValue, MaxStart = long.MinValue,
            MinSrc = new FlowAddress(ulong.MaxValue, ulong.MaxValue), MinDst = new FlowAddress(ulong.MaxValue, ulong.MaxValue),
            MinExporter = new FlowAddress(ulong.MaxValue, ulong.MaxValue),
            MinLow = new FlowAddress(ulong.MaxValue, ulong.MaxValue), MinHigh = new FlowAddress(ulong.MaxValue, ulong.MaxValue),
            MinSrcPort = ushort.MaxValue, MinDstPort = ushort.MaxValue,
        };
        for (var i = from; i < from + count; i++)
        {
            z.MinStart = Math.Min(z.MinStart, b.Start[i]);
            z.MaxStart = Math.Max(z.MaxStart, b.Start[i]);
            if (b.SrcAddr[i].CompareTo(z.MinSrc) < 0) z.MinSrc = b.SrcAddr[i];
            if (b.SrcAddr[i].CompareTo(z.MaxSrc) > 0) z.MaxSrc = b.SrcAddr[i];
            if (b.DstAddr[i].CompareTo(z.MinDst) < 0) z.MinDst = b.DstAddr[i];
            if (b.DstAddr[i].CompareTo(z.MaxDst) > 0) z.MaxDst = b.DstAddr[i];
            var (low, high) = b.SrcAddr[i].CompareTo(b.DstAddr[i]) <= 0 ? (b.SrcAddr[i], b.DstAddr[i]) : (b.DstAddr[i], b.SrcAddr[i]);
            if (low.CompareTo(z.MinLow) < 0) z.MinLow = low;
            if (low.CompareTo(z.MaxLow) > 0) z.MaxLow = low;
            if (high.CompareTo(z.MinHigh) < 0) z.MinHigh = high;
            if (high.CompareTo(z.MaxHigh) > 0) z.MaxHigh = high;
            if (b.Exporter[i].CompareTo(z.MinExporter) < 0) z.MinExporter = b.Exporter[i];
            if (b.Exporter[i].CompareTo(z.MaxExporter) > 0) z.MaxExporter = b.Exporter[i];
            z.MinSrcPort = Math.Min(z.MinSrcPort, b.SrcPort[i]);
            z.MaxSrcPort = Math.Max(z.MaxSrcPort, b.SrcPort[i]);
            z.MinDstPort = Math.Min(z.MinDstPort, b.DstPort[i]);
            z.MaxDstPort = Math.Max(z.MaxDstPort, b.DstPort[i]);
            var p = b.IpProto[i];
            switch (p >> 6)
            {
                case 0: z.Proto0 |= 1UL << (p & 63); break;
                case 1: z.Proto1 |= 1UL << (p & 63); break;
                case 2: z.Proto2 |= 1UL << (p & 63); break;
                default: z.Proto3 |= 1UL << (p & 63); break;
            }
        }
        return z;
    }

    public readonly bool HasProto(ulong p) => (p >> 6) switch
    {
        0 => (Proto0 & (1UL << (int)(p & 63))) != 0,
        1 => (Proto1 & (1UL << (int)(p & 63))) != 0,
        2 => (Proto2 & (1UL << (int)(p & 63))) != 0,
        3 => (Proto3 & (1UL << (int)(p & 63))) != 0,
        _ => false,
    };

    /// <summary>
    /// False only when no row of the block can match the time range and the filter. Conservative:
    /// terms the zone map does not describe (and anything under a "not") count as "may match".
    /// </summary>
    public readonly bool MayMatch(long from, long to, FilterNode filter) =>
        MaxStart >= from && MinStart < to && MayMatch(filter);

    private readonly bool MayMatch(FilterNode node)
    {
        switch (node)
        {
            case FilterNode.And a:
                return MayMatch(a.Left) && MayMatch(a.Right);
            case FilterNode.Or o:
                return MayMatch(o.Left) || MayMatch(o.Right);
            case FilterNode.Address a:
                foreach (var p in a.Prefixes)
                {
                    var src = a.Direction != Direction.Dst && Overlaps(p, MinSrc, MaxSrc);
                    var dst = a.Direction != Direction.Src && Overlaps(p, MinDst, MaxDst);
                    // Whichever end matches is the lower or the higher address of its row.
                    var pair = Overlaps(p, MinLow, MaxLow) || Overlaps(p, MinHigh, MaxHigh);
                    if ((src || dst) && pair) return true;
                }
                return false;
            case FilterNode.Exporter e:
                return e.Value.CompareTo(MinExporter) >= 0 && e.Value.CompareTo(MaxExporter) <= 0;
            case FilterNode.Number { Field: NumericField.Protocol, Comparison: Comparison.Eq } n:
                foreach (var v in n.Values)
                {
                    if (HasProto(v)) return true;
                }
                return false;
            case FilterNode.Number { Field: NumericField.Port } n:
                return n.Direction switch
                {
                    Direction.Src => PortMay(n, MinSrcPort, MaxSrcPort),
                    Direction.Dst => PortMay(n, MinDstPort, MaxDstPort),
                    _ => PortMay(n, MinSrcPort, MaxSrcPort) || PortMay(n, MinDstPort, MaxDstPort),
                };
            default:
                return true;
        }
    }

    private static bool Overlaps(Prefix p, FlowAddress min, FlowAddress max)
    {
        var last = p.Length >= 128 ? p.Network : Last(p);
        return p.Network.CompareTo(max) <= 0 && last.CompareTo(min) >= 0;
    }

    private static FlowAddress Last(Prefix p)
    {
        var bits = p.Length;
        if (bits <= 64)
        {
            var hostHi = bits == 0 ? ulong.MaxValue : ulong.MaxValue >> bits;
            return new FlowAddress(p.Network.Hi | hostHi, ulong.MaxValue);
        }
        return new FlowAddress(p.Network.Hi, p.Network.Lo | (ulong.MaxValue >> (bits - 64)));
    }

    private static bool PortMay(FilterNode.Number n, ushort min, ushort max)
    {
        if (n.Values.Count > 1) return n.Values.Any(v => v >= min && v <= max);
        var v = n.Values[0];
        return n.Comparison switch
        {
            Comparison.Eq => v >= min && v <= max,
            Comparison.Lt => min < v,
            Comparison.Le => min <= v,
            Comparison.Gt => max > v,
            Comparison.Ge => max >= v,
            _ => !(min == max && min == v),
        };
    }
}
