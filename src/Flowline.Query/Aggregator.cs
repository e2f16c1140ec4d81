using System.Runtime.CompilerServices;
using Flowline.Wire.Records;

namespace Flowline.Query;

/// <summary>One key part: addresses use both halves, everything else the low half.</summary>
public readonly record struct KeyPart(ulong Hi, ulong Lo);

[InlineArray(GroupKeyValue.MaxParts)]
internal struct KeyParts
{
    private KeyPart _element0;
}

/// <summary>A composite group key (time bucket plus up to eight fields).</summary>
internal struct GroupKeyValue : IEquatable<GroupKeyValue>
{
    public const int MaxParts = 9;
    public KeyParts Parts;
    public int Count;

    public readonly bool Equals(GroupKeyValue other)
    {
        if (Count != other.Count) return false;
        for (var i = 0; i < Count; i++)
        {
            if (Parts[i] != other.Parts[i]) return false;
        }
        return true;
    }

    public override readonly bool Equals(object? obj) => obj is GroupKeyValue o && Equals(o);

    public override readonly int GetHashCode()
    {
        var h = new HashCode();
        for (var i = 0; i < Count; i++)
        {
            h.Add(Parts[i].Hi);
            h.Add(Parts[i].Lo);
        }
        return h.ToHashCode();
    }
}

/// <summary>A result row: the bucket (when bucketed), the key values in GroupBy order, and the sums.</summary>
public sealed record AggregateRow(long BucketStart, KeyPart[] Keys, ulong Bytes, ulong Packets, ulong Flows, ulong Distinct)
{
    public ulong Value(Metric m) => m switch { Metric.Bytes => Bytes, Metric.Packets => Packets, _ => Flows };
}

/// <summary>Sums bytes, packets and flows of selected rows per group, then orders and cuts.</summary>
public sealed class Aggregator
{
    private sealed class Accumulator
    {
        public ulong Bytes, Packets, Flows;
        public HashSet<KeyPart>? Distinct;
    }

    private struct Sums
    {
        public ulong Bytes, Packets, Flows;
    }

    private readonly FlowQuery _query;
    private readonly Dictionary<GroupKeyValue, Accumulator> _groups = [];
    /// <summary>The common case, one key without buckets or distinct counts: sums updated in place.</summary>
    private readonly Dictionary<KeyPart, Sums>? _single;

    public Aggregator(FlowQuery query)
    {
        if (query.GroupBy.Count > GroupKeyValue.MaxParts - 1) throw new ArgumentException($"at most {GroupKeyValue.MaxParts - 1} grouping fields");
        _query = query;
        if (query.GroupBy.Count == 1 && query.BucketMicros == 0 && query.CountDistinct is null)
        {
            _single = [];
        }
    }

    public int Groups => _single?.Count ?? _groups.Count;

    /// <summary>Adds the rows whose bit is set in <paramref name="selection"/>.</summary>
    public void Add(FlowBatch b, ReadOnlySpan<ulong> selection)
    {
        if (_single is not null)
        {
            AddSingle(b, selection, _single);
            return;
        }
        var keys = _query.GroupBy;
        var bucket = _query.BucketMicros;
        for (var w = 0; w < selection.Length; w++)
        {
            var bits = selection[w];
            while (bits != 0)
            {
                var i = w * 64 + System.Numerics.BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                var key = default(GroupKeyValue);
                if (bucket > 0)
                {
                    key.Parts[key.Count++] = new KeyPart(0, (ulong)FloorBucket(b.Start[i], bucket));
                }
                for (var k = 0; k < keys.Count; k++)
                {
                    key.Parts[key.Count++] = Value(b, i, keys[k]);
                }
                if (!_groups.TryGetValue(key, out var acc))
                {
                    acc = new Accumulator();
                    _groups.Add(key, acc);
                }
                acc.Bytes += b.Bytes[i];
                acc.Packets += b.Packets[i];
                acc.Flows++;
                if (_query.CountDistinct is { } d)
                {
                    (acc.Distinct ??= []).Add(Value(b, i, new GroupKey(d)));
                }
            }
        }
    }

    private void AddSingle(FlowBatch b, ReadOnlySpan<ulong> selection, Dictionary<KeyPart, Sums> groups)
    {
        var key = _query.GroupBy[0];
        for (var w = 0; w < selection.Length; w++)
        {
            var bits = selection[w];
            while (bits != 0)
            {
                var i = w * 64 + System.Numerics.BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                ref var sums = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(groups, Value(b, i, key), out _);
                sums.Bytes += b.Bytes[i];
                sums.Packets += b.Packets[i];
                sums.Flows++;
            }
        }
    }

    public static long FloorBucket(long time, long width) => time - (((time % width) + width) % width);

    /// <summary>Rows ordered by the query's metric (largest first, ties by key), cut to its limit.</summary>
    public List<AggregateRow> Result()
    {
        var bucketed = _query.BucketMicros > 0;
        var rows = new List<AggregateRow>(Groups);
        if (_single is not null)
        {
            foreach (var (key, sums) in _single) rows.Add(new AggregateRow(0, [key], sums.Bytes, sums.Packets, sums.Flows, 0));
        }
        foreach (var (key, acc) in _groups)
        {
            var parts = new KeyPart[key.Count - (bucketed ? 1 : 0)];
            for (var i = 0; i < parts.Length; i++) parts[i] = key.Parts[i + (bucketed ? 1 : 0)];
            rows.Add(new AggregateRow(bucketed ? (long)key.Parts[0].Lo : 0, parts, acc.Bytes, acc.Packets, acc.Flows, (ulong)(acc.Distinct?.Count ?? 0)));
        }
        var metric = _query.OrderBy;
        rows.Sort((x, y) =>
        {
            if (bucketed && x.BucketStart != y.BucketStart) return x.BucketStart.CompareTo(y.BucketStart);
            var c = y.Value(metric).CompareTo(x.Value(metric));
            return c != 0 ? c : CompareKeys(x.Keys, y.Keys);
        });
        if (_query.Limit > 0)
        {
            if (bucketed)
            {
                // Top-N within each bucket.
                rows = rows.GroupBy(r => r.BucketStart).SelectMany(g => g.Take(_query.Limit)).ToList();
            }
            else if (rows.Count > _query.Limit)
            {
                rows.RemoveRange(_query.Limit, rows.Count - _query.Limit);
            }
        }
        return rows;
    }

    internal static int CompareKeys(KeyPart[] x, KeyPart[] y)
    {
        for (var i = 0; i < x.Length; i++)
        {
            var c = x[i].Hi.CompareTo(y[i].Hi);
            if (c != 0) return c;
            c = x[i].Lo.CompareTo(y[i].Lo);
            if (c != 0) return c;
        }
        return 0;
    }

    /// <summary>The key part a row has for a grouping key (addresses masked to the key's prefix).</summary>
    public static KeyPart Value(FlowBatch b, int i, GroupKey key)
    {
        switch (key.Field)
        {
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
        return new KeyPart(m.Hi, m.Lo);
    }

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
        _ => throw new ArgumentOutOfRangeException(nameof(f), f, "not a numeric field"),
    };
}
