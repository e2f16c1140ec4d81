using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Flowline.Records;

namespace Flowline.Query;

/// <summary>One key part: addresses use both halves, everything else the low half.</summary>
public readonly record struct KeyPart(ulong Hi, ulong Lo);

/// <summary>A result row: the bucket (when bucketed), the key values in GroupBy order, and the sums.</summary>
public sealed record AggregateRow(long BucketStart, KeyPart[] Keys, ulong Bytes, ulong Packets, ulong Flows, ulong Distinct)
{
    /// <summary>The earliest start and the latest end of the group's flows (with <see cref="FlowQuery.Span"/>; 0 otherwise).</summary>
    public long First { get; init; }
    public long Last { get; init; }

    public ulong Value(Metric m) => Aggregator.Rate(m, Bytes, Packets, Flows, First, Last);
}

/// <summary>
/// Sums bytes, packets and flows of selected rows per group, then orders and cuts. Groups live in flat
/// arrays (an open-addressing table over fixed-width keys), so millions of groups cost no objects.
/// </summary>
public sealed partial class Aggregator
{
    private readonly FlowQuery _query;
    private readonly bool _bucketed;
    /// <summary>Words per key: two per part (the bucket is a part when bucketed).</summary>
    private readonly int _width;
    /// <summary>
    /// Per group, <see cref="_stride"/> words: the key, then bytes, packets, flows (one cache line or two per
    /// group), then with <see cref="FlowQuery.Span"/> the earliest start and the latest end (order-preserving unsigned).
    /// </summary>
    private ulong[] _entries;
    private readonly int _stride;
    private readonly bool _span;
    private int _capacity;
    private ulong[] _hashes = [];
    private List<HashSet<KeyPart>>? _distinct;
    /// <summary>
    /// Open-addressing slots: the group's number + 1 in the low half (0: empty), its key's hash's high half
    /// above, so that a probe passing another group's slot rarely reads that group's key.
    /// </summary>
    private ulong[] _table;
    private int _mask;
    private int _count;
    private ulong[] _scratch = [];
    private int[] _rows = [];

    public Aggregator(FlowQuery query)
    {
        if (query.GroupBy.Count > MaxKeys) throw new ArgumentException($"at most {MaxKeys} grouping fields");
        _query = query;
        _bucketed = query.BucketMicros > 0;
        _width = 2 * (query.GroupBy.Count + (_bucketed ? 1 : 0));
        const int initial = 1024;
        _span = query.Span;
        _stride = _width + (_span ? 5 : 3);
        _capacity = initial;
        _entries = new ulong[initial * _stride];
        _table = new ulong[initial * 2];
        _mask = _table.Length - 1;
        if (query.CountDistinct is not null) _distinct = [];
    }

    public const int MaxKeys = 8;

    public int Groups => _count;

    /// <summary>
    /// Adds the rows whose bit is set in <paramref name="selection"/>. Each row counts as one flow, or as
    /// <paramref name="flows"/>[i] flows when given (pre-aggregated rows such as rollups).
    /// </summary>
    public void Add(FlowBatch b, ReadOnlySpan<ulong> selection, ReadOnlySpan<ulong> flows = default)
    {
        // The selected row numbers, then the keys built column by column into a row-major scratch matrix.
        if (_rows.Length < b.Count) _rows = new int[Math.Max(b.Count, 1024)];
        var n = 0;
        for (var w = 0; w < selection.Length; w++)
        {
            var bits = selection[w];
            while (bits != 0)
            {
                _rows[n++] = w * 64 + System.Numerics.BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
            }
        }
        if (n == 0) return;
        var width = _width;
        if (_scratch.Length < n * width) _scratch = new ulong[Math.Max(n, 1024) * width];
        var rows = _rows.AsSpan(0, n);
        var part = 0;
        if (_bucketed)
        {
            var bucket = _query.BucketMicros;
            for (var r = 0; r < n; r++)
            {
                _scratch[r * width] = 0;
                _scratch[r * width + 1] = (ulong)FloorBucket(b.Start[rows[r]], bucket);
            }
            part++;
        }
        foreach (var key in _query.GroupBy)
        {
            FillKey(b, rows, key, _scratch, width, 2 * part);
            part++;
        }
        if (_hashes.Length < n) _hashes = new ulong[Math.Max(n, 1024)];
        for (var r = 0; r < n; r++) _hashes[r] = Hash(_scratch.AsSpan(r * width, width));
        var distinct = _query.CountDistinct is { } d ? new GroupKey(d) : default;
        const int ahead = 12;
        for (var r = 0; r < n; r++)
        {
            // Groups are spread over hundreds of megabytes: ask for the slot and the group a few rows ahead.
            if (r + 2 * ahead < n) Prefetch(ref _table[(int)_hashes[r + 2 * ahead] & _mask]);
            if (r + ahead < n && (int)(uint)_table[(int)_hashes[r + ahead] & _mask] is var ahead1 && ahead1 > 0) Prefetch(ref _entries[(ahead1 - 1) * _stride]);
            var i = rows[r];
            var g = FindOrAdd(_scratch.AsSpan(r * width, width), _hashes[r]);
            ref var sums = ref _entries[g * _stride + width];
            sums += b.Bytes[i];
            Unsafe.Add(ref sums, 1) += b.Packets[i];
            Unsafe.Add(ref sums, 2) += flows.IsEmpty ? 1 : flows[i];
            if (_span)
            {
                ref var first = ref Unsafe.Add(ref sums, 3);
                ref var last = ref Unsafe.Add(ref sums, 4);
                first = Math.Min(first, Ordered(b.Start[i]));
                last = Math.Max(last, Ordered(b.End[i]));
            }
            if (_distinct is not null && _distinct[g].Add(Value(b, i, distinct)) && ++_distinctTotal > _query.MaxGroups) throw TooMany("distinct values");
        }
    }

    /// <summary>
    /// Adds the groups of <paramref name="finer"/> (the same grouping in buckets that this one's width is a
    /// multiple of) into this one's buckets: the sums are the ones its rows would have given.
    /// </summary>
    public void AddGroups(Aggregator finer)
    {
        if (!_bucketed || !finer._bucketed || finer._width != _width || finer._span != _span || _distinct is not null || finer._distinct is not null
            || _query.BucketMicros % finer._query.BucketMicros != 0 || !_query.GroupBy.SequenceEqual(finer._query.GroupBy))
        {
            throw new ArgumentException("only the groups of the same grouping in buckets that divide this one's add up", nameof(finer));
        }
        Span<ulong> key = stackalloc ulong[_width];
        for (var g = 0; g < finer._count; g++)
        {
            var from = finer._entries.AsSpan(g * finer._stride, finer._stride);
            from[.._width].CopyTo(key);
            key[1] = (ulong)FloorBucket((long)key[1], _query.BucketMicros);
            var into = FindOrAdd(key, Hash(key)); // may grow the entries
            var to = _entries.AsSpan(into * _stride, _stride);
            to[_width] += from[_width];
            to[_width + 1] += from[_width + 1];
            to[_width + 2] += from[_width + 2];
            if (_span)
            {
                to[_width + 3] = Math.Min(to[_width + 3], from[_width + 3]);
                to[_width + 4] = Math.Max(to[_width + 4], from[_width + 4]);
            }
        }
    }

    private static unsafe void Prefetch<T>(ref T location) where T : unmanaged
    {
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported)
        {
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(Unsafe.AsPointer(ref location));
        }
    }

    private static void FillKey(FlowBatch b, ReadOnlySpan<int> rows, GroupKey key, ulong[] m, int width, int at)
    {
        FlowAddress[]? addresses = key.Field switch
        {
            FlowField.SrcAddr => b.SrcAddr,
            FlowField.DstAddr => b.DstAddr,
            FlowField.NextHop => b.NextHop,
            FlowField.Exporter => b.Exporter,
            FlowField.UnderlaySrc => b.UnderlaySrc,
            FlowField.UnderlayDst => b.UnderlayDst,
            _ => null,
        };
        if (addresses is not null)
        {
            var full = key.V4Prefix == 32 && key.V6Prefix == 128 && !key.OwnMask;
            var masks = key.OwnMask ? (key.Field == FlowField.DstAddr ? b.DstMask : b.SrcMask) : null;
            for (var r = 0; r < rows.Length; r++)
            {
                var a = addresses[rows[r]];
                if (masks is not null) a = NfdumpFormat.Masked(a, masks[rows[r]]);
                else if (!full) a = Prefix.Mask(a, a.IsV4 ? 96 + key.V4Prefix : key.V6Prefix);
                if (key.Field == FlowField.NextHop && a == NoNextHopV4) a = default;
                m[r * width + at] = a.Hi;
                m[r * width + at + 1] = a.Lo;
            }
            return;
        }
        switch (key.Field)
        {
            case FlowField.SrcPort: Fill(b.SrcPort, rows, m, width, at); return;
            case FlowField.DstPort: Fill(b.DstPort, rows, m, width, at); return;
            case FlowField.IpProto: Fill(b.IpProto, rows, m, width, at); return;
            default:
                for (var r = 0; r < rows.Length; r++)
                {
                    m[r * width + at] = 0;
                    m[r * width + at + 1] = NumericValue(b, rows[r], key.Field);
                }
                return;
        }
    }

    private static void Fill<T>(T[] column, ReadOnlySpan<int> rows, ulong[] m, int width, int at) where T : unmanaged, System.Numerics.IUnsignedNumber<T>, System.Numerics.INumberBase<T>
    {
        for (var r = 0; r < rows.Length; r++)
        {
            m[r * width + at] = 0;
            m[r * width + at + 1] = ulong.CreateTruncating(column[rows[r]]);
        }
    }

    private static ulong Hash(ReadOnlySpan<ulong> key)
    {
        var h = 0x9E3779B97F4A7C15UL;
        foreach (var w in key)
        {
            h = (h ^ w) * 0xBF58476D1CE4E5B9UL;
            h ^= h >> 31;
        }
        h *= 0x94D049BB133111EBUL;
        return h ^ (h >> 29);
    }

    private const ulong TagMask = 0xFFFF_FFFF_0000_0000UL;

    /// <summary>Whether a stored key equals <paramref name="key"/>, a part (two words) at a time: keys are a few words, too short for a call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SameKey(ref ulong stored, ReadOnlySpan<ulong> key)
    {
        ref var k = ref MemoryMarshal.GetReference(key);
        for (var i = 0; i < key.Length; i += 2)
        {
            if (((Unsafe.Add(ref stored, i) ^ Unsafe.Add(ref k, i)) | (Unsafe.Add(ref stored, i + 1) ^ Unsafe.Add(ref k, i + 1))) != 0) return false;
        }
        return true;
    }

    private int FindOrAdd(ReadOnlySpan<ulong> key, ulong hash)
    {
        var width = _width;
        var slot = (int)hash & _mask;
        var tag = hash & TagMask;
        while (true)
        {
            var entry = _table[slot];
            if (entry == 0) break;
            var g = (int)(uint)entry - 1;
            if ((entry & TagMask) == tag && SameKey(ref _entries[g * _stride], key)) return g;
            slot = (slot + 1) & _mask;
        }
        if (_count >= _query.MaxGroups) throw TooMany("groups");
        if (_count == _capacity) Grow();
        var added = _count++;
        key.CopyTo(_entries.AsSpan(added * _stride, width));
        if (_span) _entries[added * _stride + width + 3] = ulong.MaxValue; // no start yet: any is earlier
        _distinct?.Add([]);
        if (_count * 2 > _table.Length)
        {
            Rehash();
        }
        else
        {
            _table[slot] = tag | (uint)(added + 1);
        }
        return added;
    }

    private QueryLimitException TooMany(string what) =>
        new($"the answer would hold more than {_query.MaxGroups:N0} {what}: narrow the time range or the filter, or group by fewer or coarser fields");

    private long _distinctTotal;

    private void Grow()
    {
        _capacity *= 2;
        Array.Resize(ref _entries, _capacity * _stride);
    }

    private void Rehash()
    {
        _table = new ulong[_table.Length * 2];
        _mask = _table.Length - 1;
        for (var g = 0; g < _count; g++)
        {
            var hash = Hash(_entries.AsSpan(g * _stride, _width));
            var slot = (int)hash & _mask;
            while (_table[slot] != 0) slot = (slot + 1) & _mask;
            _table[slot] = (hash & TagMask) | (uint)(g + 1);
        }
    }

    public static long FloorBucket(long time, long width) => time - (((time % width) + width) % width);

    /// <summary>The key part a row has for a grouping key (addresses masked to the key's prefix).</summary>
    public static KeyPart Value(FlowBatch b, int i, GroupKey key)
    {
        switch (key.Field)
        {
            case FlowField.SrcAddr when key.OwnMask: return OwnMasked(b.SrcAddr[i], b.SrcMask[i]);
            case FlowField.DstAddr when key.OwnMask: return OwnMasked(b.DstAddr[i], b.DstMask[i]);
            case FlowField.SrcAddr: return Masked(b.SrcAddr[i], key);
            case FlowField.DstAddr: return Masked(b.DstAddr[i], key);
            case FlowField.NextHop: return Masked(b.NextHop[i], key);
            case FlowField.Exporter: return Masked(b.Exporter[i], key);
            case FlowField.UnderlaySrc: return Masked(b.UnderlaySrc[i], key);
            case FlowField.UnderlayDst: return Masked(b.UnderlayDst[i], key);
            default: return new KeyPart(0, NumericValue(b, i, key.Field));
        }
    }

    private static KeyPart Masked(FlowAddress a, GroupKey key)
    {
        var m = Prefix.Mask(a, a.IsV4 ? 96 + key.V4Prefix : key.V6Prefix);
        if (key.Field == FlowField.NextHop && m == NoNextHopV4) m = default;
        return new KeyPart(m.Hi, m.Lo);
    }

    private static KeyPart OwnMasked(FlowAddress a, byte mask)
    {
        var m = NfdumpFormat.Masked(a, mask);
        return new KeyPart(m.Hi, m.Lo);
    }

    /// <summary>
    /// A next hop of 0.0.0.0 (what an exporter sends for none, or a mask's /0) is one group with no next hop
    /// (stored as ::): both read 0.0.0.0, as nfdump has them.
    /// </summary>
    private static readonly FlowAddress NoNextHopV4 = FlowAddress.FromV4(0);

    public static ulong NumericValue(FlowBatch b, int i, FlowField f) => f switch
    {
        FlowField.TimeReceived => (ulong)b.TimeReceived[i],
        FlowField.Start => (ulong)b.Start[i],
        FlowField.End => (ulong)b.End[i],
        FlowField.Protocol => (ulong)b.Protocol[i],
        FlowField.ObsDomain => b.ObsDomain[i],
        FlowField.ObsPoint => b.ObsPoint[i],
        FlowField.SamplingRate => b.SamplingRate[i],
        FlowField.InIf => b.InIf[i],
        FlowField.OutIf => b.OutIf[i],
        FlowField.SrcPort => b.SrcPort[i],
        FlowField.DstPort => b.DstPort[i],
        FlowField.IpProto => b.IpProto[i],
        FlowField.TcpFlags => b.TcpFlags[i],
        FlowField.Tos => b.Tos[i],
        FlowField.Vlan => b.Vlan[i],
        FlowField.PostVlan => b.PostVlan[i],
        FlowField.SrcMac => b.SrcMac[i],
        FlowField.DstMac => b.DstMac[i],
        FlowField.Bytes => b.Bytes[i],
        FlowField.Packets => b.Packets[i],
        FlowField.SampledBytes => b.SampledBytes[i],
        FlowField.SampledPackets => b.SampledPackets[i],
        FlowField.IpVersion => b.IpVersion[i],
        FlowField.EtherType => b.EtherType[i],
        FlowField.IcmpType => b.IcmpType[i],
        FlowField.IcmpCode => b.IcmpCode[i],
        FlowField.IpFragment => b.IpFragment[i],
        FlowField.Direction => b.Direction[i],
        FlowField.EndReason => b.EndReason[i],
        FlowField.ForwardingStatus => b.ForwardingStatus[i],
        FlowField.SrcAs => b.SrcAs[i],
        FlowField.DstAs => b.DstAs[i],
        FlowField.SrcMask => b.SrcMask[i],
        FlowField.DstMask => b.DstMask[i],
        FlowField.Tunnel => (ulong)b.Tunnel[i],
        FlowField.TunnelId => b.TunnelId[i],
        FlowField.UnderlayProto => b.UnderlayProto[i],
        FlowField.UnderlaySrcPort => b.UnderlaySrcPort[i],
        FlowField.Account => b.Account[i],
        FlowField.Vmi => b.Vmi[i],
        FlowField.VmiDirection => b.VmiDirection[i],
        FlowField.SrcVn => b.SrcVn[i],
        FlowField.DstVn => b.DstVn[i],
        FlowField.Action => b.Action[i],
        FlowField.SgRule => b.SgRule[i],
        FlowField.App => b.App[i],
        FlowField.Tier => b.Tier[i],
        FlowField.Site => b.Site[i],
        FlowField.Deployment => b.Deployment[i],
        FlowField.SrcCountry => b.SrcCountry[i],
        FlowField.DstCountry => b.DstCountry[i],
        FlowField.SessionFlags => b.SessionFlags[i],
        FlowField.SetupTime => (ulong)b.SetupTime[i],
        FlowField.TeardownTime => (ulong)b.TeardownTime[i],
        FlowField.RevBytes => b.RevBytes[i],
        FlowField.RevPackets => b.RevPackets[i],
        FlowField.LoggedBytes => b.LoggedBytes[i],
        FlowField.LoggedPackets => b.LoggedPackets[i],
        FlowField.LoggedRevBytes => b.LoggedRevBytes[i],
        FlowField.LoggedRevPackets => b.LoggedRevPackets[i],
        FlowField.RevTcpFlags => b.RevTcpFlags[i],
        FlowField.RevAction => b.RevAction[i],
        FlowField.RevSgRule => b.RevSgRule[i],
        FlowField.RemoteApp => b.RemoteApp[i],
        FlowField.RemoteTier => b.RemoteTier[i],
        FlowField.RemoteSite => b.RemoteSite[i],
        FlowField.RemoteDeployment => b.RemoteDeployment[i],
        FlowField.RemotePrefix => b.RemotePrefix[i],
        _ => throw new ArgumentOutOfRangeException(nameof(f), f, "not a numeric field"),
    };
}
