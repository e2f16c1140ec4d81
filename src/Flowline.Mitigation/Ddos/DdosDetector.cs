using System.Numerics;
using System.Runtime.CompilerServices;
using Flowline.Realtime;
using Flowline.Records;

namespace Flowline.Mitigation.Ddos;

/// <summary>
/// Finds floods on the decoded stream, per protected address and attack class, the way sFlow-RT's
/// ddos-protect does with its flow definitions and thresholds, in one pass over the rows. Each row whose
/// destination is protected adds its packets and bytes (already scaled by the sampling rate) to the
/// counters of every class it belongs to — an IP flood, and by protocol, TCP flags, source port,
/// fragmentation. Every quarter second the counters become rates, smoothed by an exponentially weighted
/// average, and are compared with the thresholds; crossings and ends go to the <see cref="DdosService"/>.
/// <para>
/// One slot per address holds every class's counters side by side, so a row costs one probe of a flat,
/// open-addressed table (linear probing over a power-of-two array that starts small and doubles while at
/// most half full, up to <see cref="DdosOptions.MaxTracked"/> addresses; beyond, rows are counted, not
/// tracked; tombstones are reclaimed by a rebuild). Only a class that runs warm — a tenth of its threshold
/// in a quarter second — gets the heavy-hitter sketches (source ports; destination ports, ICMP types or
/// protocols; source /24s) from which an attack's signature is taken, from a pool, so that the bulk of
/// traffic, far below every threshold, costs the probe and two additions. After an inventory reload the
/// addresses take their owner from the new protected set.
/// </para>
/// </summary>
public sealed partial class DdosDetector : IRealtimeObserver
{
    private const int Classes = AttackClasses.Count, Slots = 4, Sketches = 3, SketchSize = Slots * Sketches;
    private const long EvaluateEvery = 250_000; // µs
    private const int InitialSize = 4096;
    private readonly DdosService _service;
    private readonly Func<long> _clock;
    private readonly int _capacity, _maxSize;
    private int _mask;
    private Entry[] _entries;
    private Counter[] _counters;
    private Rate[] _rates;
    private Attack?[] _attacks;
    private int _used, _dead;
    private long _lastEvaluation, _lastRefresh;
    private long _rows, _matched, _untracked, _unsketched;
    private ProtectedSet? _resolvedWith;
    private readonly double[] _maxPps = new double[Classes];

    /// <summary>An address: its owner, which classes it has counters in, when a row last came.</summary>
    private struct Entry
    {
        public FlowAddress Key;
        public byte State; // 0 empty, 1 live, 2 dead
        public ushort Seen; // a bit per class
        public long LastSeen;
        public ProtectedTarget? Target;
    }

    /// <summary>A class's counts since the last evaluation, the count that makes it warm, and its sketches (-1: none).</summary>
    private struct Counter
    {
        public ulong Packets, Bytes, WarmAt;
        public int Sketch;
    }

    private struct Rate
    {
        public double Pps, Bps;
    }

    public DdosDetector(DdosService service, Func<long> clock)
    {
        _service = service;
        _clock = clock;
        _capacity = Math.Max(1024, service.Options.MaxTracked);
        _maxSize = (int)Math.Min(1 << 26, BitOperations.RoundUpToPowerOf2((uint)(_capacity * 2)));
        var size = Math.Min(InitialSize, _maxSize);
        _mask = size - 1;
        _entries = new Entry[size];
        _counters = new Counter[size * Classes];
        _rates = new Rate[size * Classes];
        _attacks = new Attack?[size * Classes];
        var sketches = Math.Min(16_384, _capacity);
        _sketchKeys = new uint[sketches * SketchSize];
        _sketchCounts = new float[sketches * SketchSize];
        _freeSketches = [.. Enumerable.Range(0, sketches).Reverse()];
        _freeCount = sketches;
    }

    /// <summary>
    /// Rows seen; rows whose destination (or, for ICMP unreachables, source) is protected; rows not tracked for
    /// the cap; warm classes left without sketches because the pool was empty; addresses tracked now.
    /// </summary>
    public (long Rows, long Matched, long Untracked, long Unsketched, int Tracked) Counters =>
        (Interlocked.Read(ref _rows), Interlocked.Read(ref _matched), Interlocked.Read(ref _untracked), Interlocked.Read(ref _unsketched), Volatile.Read(ref _used));

    /// <summary>Per class, the highest smoothed packet rate of any address at the last evaluation: how near the thresholds traffic runs.</summary>
    public double[] MaxPps
    {
        get
        {
            lock (_maxPps) return [.. _maxPps];
        }
    }

    public void Add(FlowBatch b, int from, int to)
    {
        var set = _service.Protected;
        Interlocked.Add(ref _rows, to - from);
        if (set.IsEmpty) return;
        var blocklist = _service.Blocklist;
        var amplification = _service.AmplificationPorts;
        long matched = 0;
        for (var i = from; i < to; i++)
        {
            if (b.IpVersion[i] == 0) continue;
            var proto = b.IpProto[i];
            var t = set.Find(b.DstAddr[i]);
            if (t < 0)
            {
                // A protected host answering with port unreachables names whoever sends to its closed ports.
                if (((proto == 1 && b.IcmpType[i] == 3) || (proto == 58 && b.IcmpType[i] == 1)) && b.IcmpCode[i] == (proto == 1 ? 3 : 4)
                    && set.Find(b.SrcAddr[i]) is var s and >= 0 && Slot(b.DstAddr[i], set[s], b, i) is var u and >= 0)
                {
                    matched++;
                    Count(u, AttackClass.IcmpUnreachable, b, i, 0, 0);
                }
                continue;
            }
            matched++;
            var slot = Slot(b.DstAddr[i], set[t], b, i);
            if (slot < 0) continue;
            var sport = b.SrcPort[i];
            var dport = b.DstPort[i];
            Count(slot, AttackClass.IpFlood, b, i, sport, proto);
            var fragment = b.IpFragment[i];
            if (fragment != 0) Count(slot, AttackClass.IpFragmentation, b, i, sport, proto);
            // A later fragment has no transport header: it is an IP packet, not a TCP, UDP or ICMP one.
            switch (fragment == FlowFragment.Later ? 0 : proto)
            {
                case 1 or 58:
                    Count(slot, AttackClass.IcmpFlood, b, i, 0, b.IcmpType[i]);
                    break;
                case 6:
                    Count(slot, AttackClass.TcpFlood, b, i, sport, dport);
                    var flags = b.TcpFlags[i] & 0x12;
                    if (flags == 0x02) Count(slot, AttackClass.TcpSynFlood, b, i, sport, dport);
                    else if (flags == 0x12) Count(slot, AttackClass.TcpAmplification, b, i, sport, dport);
                    break;
                case 17:
                    Count(slot, AttackClass.UdpFlood, b, i, sport, dport);
                    if (amplification.Contains(sport)) Count(slot, AttackClass.UdpAmplification, b, i, sport, dport);
                    break;
            }
            if (blocklist is not null && blocklist.Find(b.SrcAddr[i]) >= 0) Count(slot, AttackClass.Blocklisted, b, i, sport, dport);
        }
        Interlocked.Add(ref _matched, matched);
        var now = _clock();
        if (now - _lastEvaluation >= EvaluateEvery) Evaluate(now);
    }

    public void Tick(long now)
    {
        // The inventory and the block list are looked at once a second, between batches.
        if (now - _lastRefresh >= 1_000_000)
        {
            _lastRefresh = now;
            _service.Refresh();
        }
        if (now - _lastEvaluation >= EvaluateEvery) Evaluate(now);
    }

    /// <summary>The slot of <paramref name="key"/>, made when new (-1 when the table is at its cap: counted).</summary>
    private int Slot(in FlowAddress key, ProtectedTarget target, FlowBatch b, int row)
    {
        // At most half full (the cap allowing): double first, so that probes stay short.
        if ((_used + _dead + 1) * 2 > _entries.Length && _entries.Length < _maxSize) Rebuild(_entries.Length * 2);
        var slot = Find(key);
        if (slot < 0)
        {
            Interlocked.Increment(ref _untracked);
            return -1;
        }
        ref var e = ref _entries[slot];
        if (e.State != 1) e = new Entry { Key = key, State = 1, Target = target };
        e.LastSeen = b.TimeReceived[row];
        return slot;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Count(int slot, AttackClass c, FlowBatch b, int row, ushort sketch0, ushort sketch1)
    {
        ref var e = ref _entries[slot];
        ref var k = ref _counters[slot * Classes + (int)c];
        var bit = (ushort)(1 << (int)c);
        if ((e.Seen & bit) == 0)
        {
            e.Seen |= bit;
            k = new Counter { WarmAt = WarmAt(c, e.Target), Sketch = -1 };
            _rates[slot * Classes + (int)c] = default;
            _attacks[slot * Classes + (int)c] = null;
        }
        var packets = b.Packets[row];
        k.Packets += packets;
        k.Bytes += b.Bytes[row];
        if (k.Sketch < 0)
        {
            if (k.Packets < k.WarmAt) return;
            if ((k.Sketch = AllocateSketch()) < 0)
            {
                Interlocked.Increment(ref _unsketched);
                k.WarmAt = ulong.MaxValue;
                return;
            }
        }
        var src = b.SrcAddr[row];
        var w = (float)packets;
        Sketch(k.Sketch, 0, sketch0, w);
        Sketch(k.Sketch, 1, sketch1, w);
        // Source /24 of IPv4 (the network part, with a marker bit); IPv6 sources are not summarised.
        if (src.IsV4) Sketch(k.Sketch, 2, (uint)(src.Lo >> 8) & 0xFF_FFFF | 0x100_0000, w);
    }

    /// <summary>Packets in a quarter second that make a class warm: a tenth of its threshold (its bit rate taken at 1,500-byte packets).</summary>
    private ulong WarmAt(AttackClass c, ProtectedTarget? target)
    {
        var t = _service.Threshold(c, target);
        var pps = Math.Min(t.Pps > 0 ? t.Pps : double.MaxValue, t.Bps > 0 ? t.Bps / 8 / 1500 : double.MaxValue);
        return pps == double.MaxValue ? ulong.MaxValue : (ulong)Math.Max(1, pps * EvaluateEvery / 1e6 / 10);
    }

    private int Find(in FlowAddress key)
    {
        var h = (int)(uint)((key.Hi * 0x9E37_79B9_7F4A_7C15UL ^ key.Lo * 0xC2B2_AE3D_27D4_EB4FUL) >> 32) & _mask;
        var firstDead = -1;
        for (var probe = 0; probe <= _mask; probe++)
        {
            var i = (h + probe) & _mask;
            ref var e = ref _entries[i];
            if (e.State == 0)
            {
                if (_used >= _capacity) return -1;
                _used++;
                if (firstDead >= 0)
                {
                    _dead--;
                    return firstDead;
                }
                return i;
            }
            if (e.State == 2)
            {
                if (firstDead < 0) firstDead = i;
                continue;
            }
            if (e.Key == key) return i;
        }
        return -1;
    }
}

/// <summary>What the detector saw when a class crossed its threshold on an address.</summary>
public sealed record AttackSighting(AttackClass Class, FlowAddress Address, ProtectedTarget? Target, double Pps, double Bps,
    List<(uint Key, double Share)> SourcePorts, List<(uint Key, double Share)> Second, List<(uint Key, double Share)> Sources);
