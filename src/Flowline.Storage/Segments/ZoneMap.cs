using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Flowline.Query;
using Flowline.Records;

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
        // Column by column. Addresses of one family share their high word (IPv4 is mapped into ::ffff:0:0/96),
        // so their ranges come from the low words, a vector at a time; mixed families take the row loops.
        var z = new ZoneMap();
        (z.MinStart, z.MaxStart) = Range(b.Start.AsSpan(from, count));
        var src = b.SrcAddr.AsSpan(from, count);
        var dst = b.DstAddr.AsSpan(from, count);
        var srcLanes = Lanes(src);
        var dstLanes = Lanes(dst);
        (z.MinSrc, z.MaxSrc) = Range(src, srcLanes);
        (z.MinDst, z.MaxDst) = Range(dst, dstLanes);
        var exporter = b.Exporter.AsSpan(from, count);
        (z.MinExporter, z.MaxExporter) = Range(exporter, Lanes(exporter));
        // Of each row's lower and higher address, the smallest lower and the largest higher are the smallest
        // and largest of both columns; only the largest lower and the smallest higher need the rows.
        z.MinLow = Less(z.MinDst, z.MinSrc) ? z.MinDst : z.MinSrc;
        z.MaxHigh = Less(z.MaxSrc, z.MaxDst) ? z.MaxDst : z.MaxSrc;
        (z.MaxLow, z.MinHigh) = srcLanes.MinHi == srcLanes.MaxHi && dstLanes.MinHi == srcLanes.MinHi && dstLanes.MaxHi == srcLanes.MinHi
            ? InnerPairRange(src, dst, srcLanes.MinHi)
            : InnerPairRange(src, dst);
        (z.MinSrcPort, z.MaxSrcPort) = Range(b.SrcPort.AsSpan(from, count));
        (z.MinDstPort, z.MaxDstPort) = Range(b.DstPort.AsSpan(from, count));
        // One byte per protocol number seen (stores without a dependency between rows), then the bits.
        Span<byte> seen = stackalloc byte[256];
        seen.Clear();
        foreach (var p in b.IpProto.AsSpan(from, count)) seen[p] = 1;
        Span<ulong> bits = stackalloc ulong[4];
        bits.Clear();
        for (var p = 0; p < 256; p++) bits[p >> 6] |= (ulong)seen[p] << (p & 63);
        (z.Proto0, z.Proto1, z.Proto2, z.Proto3) = (bits[0], bits[1], bits[2], bits[3]);
        return z;
    }

    /// <summary>Smallest and largest high word and low word of a column of addresses, each on its own.</summary>
    private static (ulong MinHi, ulong MaxHi, ulong MinLo, ulong MaxLo) Lanes(ReadOnlySpan<FlowAddress> column)
    {
        // FlowAddress is (Hi, Lo): as words, even lanes are high words and odd lanes low words.
        var words = MemoryMarshal.Cast<FlowAddress, ulong>(column);
        ulong minHi = ulong.MaxValue, maxHi = 0, minLo = ulong.MaxValue, maxLo = 0;
        var i = 0;
        if (Vector256.IsHardwareAccelerated && words.Length >= 4)
        {
            var min = Vector256.Create(ulong.MaxValue);
            var max = Vector256<ulong>.Zero;
            for (; i + 4 <= words.Length; i += 4)
            {
                var v = Vector256.Create(words.Slice(i, 4));
                min = Vector256.Min(min, v);
                max = Vector256.Max(max, v);
            }
            (minHi, minLo, maxHi, maxLo) = (Math.Min(min[0], min[2]), Math.Min(min[1], min[3]), Math.Max(max[0], max[2]), Math.Max(max[1], max[3]));
        }
        for (; i < words.Length; i += 2)
        {
            (minHi, maxHi) = (Math.Min(minHi, words[i]), Math.Max(maxHi, words[i]));
            (minLo, maxLo) = (Math.Min(minLo, words[i + 1]), Math.Max(maxLo, words[i + 1]));
        }
        return (minHi, maxHi, minLo, maxLo);
    }

    /// <summary>Smallest and largest address; (all ones, zero) when empty.</summary>
    private static (FlowAddress Min, FlowAddress Max) Range(ReadOnlySpan<FlowAddress> column, (ulong MinHi, ulong MaxHi, ulong MinLo, ulong MaxLo) lanes)
    {
        // One high word throughout: the order is the low words' order.
        if (lanes.MinHi == lanes.MaxHi) return (new FlowAddress(lanes.MinHi, lanes.MinLo), new FlowAddress(lanes.MaxHi, lanes.MaxLo));
        FlowAddress min = new(ulong.MaxValue, ulong.MaxValue), max = default;
        var words = MemoryMarshal.Cast<FlowAddress, ulong>(column);
        var i = 0;
        if (Vector256.IsHardwareAccelerated && words.Length >= 4)
        {
            // Two addresses per vector, each compared as a whole.
            var lo = Vector256.Create(ulong.MaxValue);
            var hi = Vector256<ulong>.Zero;
            for (; i + 4 <= words.Length; i += 4)
            {
                var v = Vector256.Create(words.Slice(i, 4));
                lo = Vector256.ConditionalSelect(Greater(lo, v), v, lo);
                hi = Vector256.ConditionalSelect(Greater(v, hi), v, hi);
            }
            min = Smaller(new FlowAddress(lo[0], lo[1]), new FlowAddress(lo[2], lo[3]));
            max = Larger(new FlowAddress(hi[0], hi[1]), new FlowAddress(hi[2], hi[3]));
        }
        for (var k = i / 2; k < column.Length; k++) (min, max) = (Smaller(min, column[k]), Larger(max, column[k]));
        return (min, max);
    }

    /// <summary>
    /// Of two addresses per vector (high word, low word, high word, low word), where the one in
    /// <paramref name="a"/> is greater than the one in <paramref name="b"/>: all ones in both its words.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Greater(Vector256<ulong> a, Vector256<ulong> b)
    {
        var high = Vector256.Create(0UL, 0, 2, 2);
        var gt = Vector256.GreaterThan(a, b);
        return Vector256.Shuffle(gt, high) | (Vector256.Shuffle(Vector256.Equals(a, b), high) & Vector256.Shuffle(gt, Vector256.Create(1UL, 1, 3, 3)));
    }

    private static FlowAddress Smaller(FlowAddress a, FlowAddress b) => Less(b, a) ? b : a;

    private static FlowAddress Larger(FlowAddress a, FlowAddress b) => Less(a, b) ? b : a;

    /// <summary>The largest of the rows' lower addresses and the smallest of their higher ones, all sharing <paramref name="hi"/>.</summary>
    private static (FlowAddress MaxLow, FlowAddress MinHigh) InnerPairRange(ReadOnlySpan<FlowAddress> src, ReadOnlySpan<FlowAddress> dst, ulong hi)
    {
        var s = MemoryMarshal.Cast<FlowAddress, ulong>(src);
        var d = MemoryMarshal.Cast<FlowAddress, ulong>(dst);
        ulong maxLow = 0, minHigh = ulong.MaxValue;
        var i = 0;
        if (Vector256.IsHardwareAccelerated && s.Length >= 4)
        {
            var up = Vector256<ulong>.Zero;
            var down = Vector256.Create(ulong.MaxValue);
            for (; i + 4 <= s.Length; i += 4)
            {
                var a = Vector256.Create(s.Slice(i, 4));
                var b = Vector256.Create(d.Slice(i, 4));
                up = Vector256.Max(up, Vector256.Min(a, b));
                down = Vector256.Min(down, Vector256.Max(a, b));
            }
            (maxLow, minHigh) = (Math.Max(up[1], up[3]), Math.Min(down[1], down[3]));
        }
        for (; i < s.Length; i += 2)
        {
            maxLow = Math.Max(maxLow, Math.Min(s[i + 1], d[i + 1]));
            minHigh = Math.Min(minHigh, Math.Max(s[i + 1], d[i + 1]));
        }
        return src.IsEmpty ? (default, new FlowAddress(ulong.MaxValue, ulong.MaxValue)) : (new FlowAddress(hi, maxLow), new FlowAddress(hi, minHigh));
    }

    /// <summary>The largest of the rows' lower addresses and the smallest of their higher ones.</summary>
    private static (FlowAddress MaxLow, FlowAddress MinHigh) InnerPairRange(ReadOnlySpan<FlowAddress> src, ReadOnlySpan<FlowAddress> dst)
    {
        FlowAddress maxLow = default, minHigh = new(ulong.MaxValue, ulong.MaxValue);
        var s = MemoryMarshal.Cast<FlowAddress, ulong>(src);
        var d = MemoryMarshal.Cast<FlowAddress, ulong>(dst);
        var i = 0;
        if (Vector256.IsHardwareAccelerated && s.Length >= 4)
        {
            var up = Vector256<ulong>.Zero;
            var down = Vector256.Create(ulong.MaxValue);
            for (; i + 4 <= s.Length; i += 4)
            {
                var a = Vector256.Create(s.Slice(i, 4));
                var b = Vector256.Create(d.Slice(i, 4));
                var aGreater = Greater(a, b);
                var low = Vector256.ConditionalSelect(aGreater, b, a);
                var high = Vector256.ConditionalSelect(aGreater, a, b);
                up = Vector256.ConditionalSelect(Greater(low, up), low, up);
                down = Vector256.ConditionalSelect(Greater(down, high), high, down);
            }
            maxLow = Larger(new FlowAddress(up[0], up[1]), new FlowAddress(up[2], up[3]));
            minHigh = Smaller(new FlowAddress(down[0], down[1]), new FlowAddress(down[2], down[3]));
        }
        for (var k = i / 2; k < src.Length; k++)
        {
            maxLow = Larger(maxLow, Smaller(src[k], dst[k]));
            minHigh = Smaller(minHigh, Larger(src[k], dst[k]));
        }
        return (maxLow, minHigh);
    }

    /// <summary>Smallest and largest value; (max, min) of the type when empty.</summary>
    private static (T Min, T Max) Range<T>(ReadOnlySpan<T> column) where T : unmanaged, INumber<T>, IMinMaxValue<T>
    {
        T min = T.MaxValue, max = T.MinValue;
        var i = 0;
        if (Vector256.IsHardwareAccelerated && column.Length >= Vector256<T>.Count)
        {
            var lo = Vector256.Create(T.MaxValue);
            var hi = Vector256.Create(T.MinValue);
            for (; i + Vector256<T>.Count <= column.Length; i += Vector256<T>.Count)
            {
                var v = Vector256.Create(column.Slice(i, Vector256<T>.Count));
                lo = Vector256.Min(lo, v);
                hi = Vector256.Max(hi, v);
            }
            for (var k = 0; k < Vector256<T>.Count; k++) (min, max) = (T.Min(min, lo[k]), T.Max(max, hi[k]));
        }
        for (; i < column.Length; i++) (min, max) = (T.Min(min, column[i]), T.Max(max, column[i]));
        return (min, max);
    }

    /// <summary>Address order (<see cref="FlowAddress.CompareTo"/>) as two unsigned compares.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Less(FlowAddress a, FlowAddress b) => a.Hi < b.Hi || (a.Hi == b.Hi && a.Lo < b.Lo);

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
