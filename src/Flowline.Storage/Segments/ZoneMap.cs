using System.Runtime.CompilerServices;
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
            MinSrcPort = ushort.MaxValue, MinDstPort = ushort.MaxValue,
        };
        var none = new FlowAddress(ulong.MaxValue, ulong.MaxValue);
        FlowAddress minSrc = none, maxSrc = default, minDst = none, maxDst = default, minLow = none, maxLow = default,
            minHigh = none, maxHigh = default, minExporter = none, maxExporter = default;
        var start = b.Start.AsSpan(from, count);
        var src = b.SrcAddr.AsSpan(from, count);
        var dst = b.DstAddr.AsSpan(from, count);
        var exporter = b.Exporter.AsSpan(from, count);
        var srcPort = b.SrcPort.AsSpan(from, count);
        var dstPort = b.DstPort.AsSpan(from, count);
        var proto = b.IpProto.AsSpan(from, count);
        Span<ulong> protocols = stackalloc ulong[4];
        for (var i = 0; i < count; i++)
        {
            z.MinStart = Math.Min(z.MinStart, start[i]);
            z.MaxStart = Math.Max(z.MaxStart, start[i]);
            var s = src[i];
            var d = dst[i];
            Widen(s, ref minSrc, ref maxSrc);
            Widen(d, ref minDst, ref maxDst);
            var srcLower = !Less(d, s);
            Widen(srcLower ? s : d, ref minLow, ref maxLow);
            Widen(srcLower ? d : s, ref minHigh, ref maxHigh);
            Widen(exporter[i], ref minExporter, ref maxExporter);
            z.MinSrcPort = Math.Min(z.MinSrcPort, srcPort[i]);
            z.MaxSrcPort = Math.Max(z.MaxSrcPort, srcPort[i]);
            z.MinDstPort = Math.Min(z.MinDstPort, dstPort[i]);
            z.MaxDstPort = Math.Max(z.MaxDstPort, dstPort[i]);
            var p = proto[i];
            protocols[p >> 6] |= 1UL << (p & 63);
        }
        (z.MinSrc, z.MaxSrc, z.MinDst, z.MaxDst) = (minSrc, maxSrc, minDst, maxDst);
        (z.MinLow, z.MaxLow, z.MinHigh, z.MaxHigh) = (minLow, maxLow, minHigh, maxHigh);
        (z.MinExporter, z.MaxExporter) = (minExporter, maxExporter);
        (z.Proto0, z.Proto1, z.Proto2, z.Proto3) = (protocols[0], protocols[1], protocols[2], protocols[3]);
        return z;
    }

    /// <summary>Address order (<see cref="FlowAddress.CompareTo"/>) as two unsigned compares.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Less(FlowAddress a, FlowAddress b) => a.Hi < b.Hi || (a.Hi == b.Hi && a.Lo < b.Lo);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Widen(FlowAddress v, ref FlowAddress min, ref FlowAddress max)
    {
        if (Less(v, min)) min = v;
        if (Less(max, v)) max = v;
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
