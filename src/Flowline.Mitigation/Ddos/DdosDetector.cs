using System.Numerics;
using Flowline.Realtime;
using Flowline.Records;

namespace Flowline.Mitigation.Ddos;

/// <summary>
/// Finds floods on the decoded stream, per protected address and attack class, the way sFlow-RT's
/// ddos-protect does with its flow definitions and thresholds, in one pass over the rows. Each row whose
/// destination is protected adds its packets and bytes (already scaled by the sampling rate) to the
/// counters of every class it belongs to — an IP flood, and by protocol, TCP flags, source port — and to
/// three small heavy-hitter sketches per counter (source ports; destination ports, ICMP types or protocols;
/// source /24s) from which the attack's signature is taken. Every quarter second the counters become
/// rates, smoothed by an exponentially weighted average, and compared with the thresholds; crossings
/// and ends go to the <see cref="DdosService"/>.
/// The table is flat and open-addressed (linear probing over a power-of-two array that starts small and
/// doubles while at most half full, tombstones reclaimed by a rebuild), capped at
/// <see cref="DdosOptions.MaxTracked"/>: keys beyond the cap are counted, not tracked. After an inventory
/// reload the keys take their owner from the new protected set.
/// </summary>
public sealed class DdosDetector : IRealtimeObserver
{
    private const int Slots = 4, Sketches = 3;
    private const long EvaluateEvery = 250_000; // µs
    private readonly DdosService _service;
    private readonly Func<long> _clock;
    private const int InitialSize = 4096;
    private readonly int _capacity;
    private readonly int _maxSize;
    private int _mask;
    private ProtectedSet? _resolvedWith;
    private Entry[] _entries;
    private uint[] _sketchKeys;
    private float[] _sketchCounts;
    private int _used, _dead;
    private long _lastEvaluation;
    private long _rows, _matched, _untracked;
    private readonly double[] _maxPps = new double[AttackClasses.Count];

    private struct Entry
    {
        public FlowAddress Key;
        public byte Class;
        public byte State; // 0 empty, 1 live, 2 dead
        public ProtectedTarget? Target;
        public ulong Packets, Bytes;
        public double Pps, Bps;
        public long LastSeen;
        public Attack? Attack;
    }

    public DdosDetector(DdosService service, Func<long> clock)
    {
        _service = service;
        _clock = clock;
        var cap = Math.Max(1024, service.Options.MaxTracked);
        _capacity = cap;
        _maxSize = (int)Math.Min(1 << 28, BitOperations.RoundUpToPowerOf2((uint)(cap * 2)));
        var size = Math.Min(InitialSize, _maxSize);
        _mask = size - 1;
        _entries = new Entry[size];
        _sketchKeys = new uint[size * Slots * Sketches];
        _sketchCounts = new float[size * Slots * Sketches];
    }

    /// <summary>Rows seen, rows whose destination (or, for ICMP unreachables, source) is protected, keys not tracked for the cap.</summary>
    public (long Rows, long Matched, long Untracked, int Tracked) Counters =>
        (Interlocked.Read(ref _rows), Interlocked.Read(ref _matched), Interlocked.Read(ref _untracked), Volatile.Read(ref _used));

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
                    && set.Find(b.SrcAddr[i]) is var s and >= 0)
                {
                    matched++;
                    Count(b.DstAddr[i], AttackClass.IcmpUnreachable, set[s], b, i, 0, 0);
                }
                continue;
            }
            matched++;
            var target = set[t];
            var sport = b.SrcPort[i];
            var dport = b.DstPort[i];
            Count(b.DstAddr[i], AttackClass.IpFlood, target, b, i, sport, proto);
            var fragment = b.IpFragment[i];
            if (fragment != 0) Count(b.DstAddr[i], AttackClass.IpFragmentation, target, b, i, sport, proto);
            // A later fragment has no transport header: it is an IP packet, not a TCP, UDP or ICMP one.
            switch (fragment == FlowFragment.Later ? 0 : proto)
            {
                case 1 or 58:
                    Count(b.DstAddr[i], AttackClass.IcmpFlood, target, b, i, 0, b.IcmpType[i]);
                    break;
                case 6:
                    Count(b.DstAddr[i], AttackClass.TcpFlood, target, b, i, sport, dport);
                    var flags = b.TcpFlags[i] & 0x12;
                    if (flags == 0x02) Count(b.DstAddr[i], AttackClass.TcpSynFlood, target, b, i, sport, dport);
                    else if (flags == 0x12) Count(b.DstAddr[i], AttackClass.TcpAmplification, target, b, i, sport, dport);
                    break;
                case 17:
                    Count(b.DstAddr[i], AttackClass.UdpFlood, target, b, i, sport, dport);
                    if (amplification.Contains(sport)) Count(b.DstAddr[i], AttackClass.UdpAmplification, target, b, i, sport, dport);
                    break;
            }
            if (blocklist is not null && blocklist.Find(b.SrcAddr[i]) >= 0) Count(b.DstAddr[i], AttackClass.Blocklisted, target, b, i, sport, dport);
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

    private long _lastRefresh;

    private void Count(in FlowAddress key, AttackClass c, ProtectedTarget target, FlowBatch b, int row, ushort sketch0, ushort sketch1)
    {
        // At most half full (the cap allowing): double first, so that probes stay short.
        if ((_used + _dead + 1) * 2 > _entries.Length && _entries.Length < _maxSize) Rebuild(_entries.Length * 2);
        var e = Find(key, c);
        if (e < 0)
        {
            Interlocked.Increment(ref _untracked);
            return;
        }
        ref var entry = ref _entries[e];
        if (entry.State != 1)
        {
            entry = new Entry { Key = key, Class = (byte)c, State = 1, Target = target };
            Array.Clear(_sketchCounts, e * Slots * Sketches, Slots * Sketches);
        }
        var packets = b.Packets[row];
        entry.Packets += packets;
        entry.Bytes += b.Bytes[row];
        entry.LastSeen = b.TimeReceived[row];
        var src = b.SrcAddr[row];
        // Source /24 of IPv4 (the network part, shifted in); IPv6 sources are not summarised.
        var source24 = src.IsV4 ? (uint)(src.Lo >> 8) & 0xFF_FFFF | 0x100_0000 : 0;
        var w = (float)packets;
        Sketch(e, 0, sketch0, w);
        Sketch(e, 1, sketch1, w);
        if (source24 != 0) Sketch(e, 2, source24, w);
    }

    /// <summary>Space-saving sketch of <see cref="Slots"/> keys: a key present grows; an absent one takes the smallest slot.</summary>
    private void Sketch(int entry, int sketch, uint key, float weight)
    {
        var at = (entry * Sketches + sketch) * Slots;
        var min = at;
        for (var k = at; k < at + Slots; k++)
        {
            if (_sketchKeys[k] == key && _sketchCounts[k] > 0)
            {
                _sketchCounts[k] += weight;
                return;
            }
            if (_sketchCounts[k] < _sketchCounts[min]) min = k;
        }
        _sketchKeys[min] = key;
        _sketchCounts[min] += weight;
    }

    /// <summary>The sketch's keys with their share of the weight, largest first.</summary>
    internal List<(uint Key, double Share)> Top(int entry, int sketch)
    {
        var at = (entry * Sketches + sketch) * Slots;
        double total = 0;
        for (var k = at; k < at + Slots; k++) total += _sketchCounts[k];
        var top = new List<(uint, double)>();
        if (total <= 0) return top;
        for (var k = at; k < at + Slots; k++)
        {
            if (_sketchCounts[k] > 0) top.Add((_sketchKeys[k], _sketchCounts[k] / total));
        }
        top.Sort((x, y) => y.Item2.CompareTo(x.Item2));
        return top;
    }

    private int Find(in FlowAddress key, AttackClass c)
    {
        var h = (int)((uint)HashCode.Combine(key.Hi, key.Lo, (byte)c) & _mask);
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
            if (e.Class == (byte)c && e.Key == key) return i;
        }
        return -1;
    }

    /// <summary>Rates from the counters since the last evaluation; crossings, continuations and ends to the service; idle keys out.</summary>
    private void Evaluate(long now)
    {
        var dt = _lastEvaluation == 0 ? EvaluateEvery / 1e6 : (now - _lastEvaluation) / 1e6;
        _lastEvaluation = now;
        if (dt <= 0) return;
        var alpha = 1 - Math.Exp(-dt / Math.Max(0.05, _service.Options.Smoothing.TotalSeconds));
        var decay = (float)(1 - alpha);
        var set = _service.Protected;
        var reresolve = !ReferenceEquals(set, _resolvedWith);
        _resolvedWith = set;
        List<int>? crossed = null;
        Span<double> max = stackalloc double[AttackClasses.Count];
        for (var i = 0; i <= _mask; i++)
        {
            ref var e = ref _entries[i];
            if (e.State != 1) continue;
            e.Pps += (e.Packets / dt - e.Pps) * alpha;
            e.Bps += (e.Bytes * 8 / dt - e.Bps) * alpha;
            e.Packets = e.Bytes = 0;
            var c = (AttackClass)e.Class;
            if (e.Pps > max[e.Class]) max[e.Class] = e.Pps;
            // The inventory changed: an address may have another owner, or none (it keeps its old one until it goes quiet).
            if (reresolve && c != AttackClass.IcmpUnreachable && set.Find(e.Key) is var owner and >= 0) e.Target = set[owner];
            var threshold = _service.Threshold(c, e.Target);
            var over = threshold.Exceeded(e.Pps, e.Bps);
            if (e.Attack is { } attack)
            {
                if (_service.Continue(attack, e.Pps, e.Bps, over, now)) continue;
                e.Attack = null;
            }
            else if (over)
            {
                (crossed ??= []).Add(i);
                continue;
            }
            var at = i * Slots * Sketches;
            for (var k = at; k < at + Slots * Sketches; k++) _sketchCounts[k] *= decay;
            // Quiet for 10 s and far below any threshold: the slot is free again.
            if (now - e.LastSeen > 10_000_000 && e.Pps < 1 && e.Bps < 8)
            {
                e.State = 2;
                e.Attack = null;
                _used--;
                _dead++;
            }
        }
        lock (_maxPps) max.CopyTo(_maxPps);
        if (crossed is not null)
        {
            // Narrow classes first: a SYN flood is mitigated as such, and the TCP and IP floods it also is are covered by its rule.
            foreach (var i in crossed.OrderBy(i => ((AttackClass)_entries[i].Class).Specificity()))
            {
                ref var e = ref _entries[i];
                var c = (AttackClass)e.Class;
                e.Attack = _service.Start(new AttackSighting(c, e.Key, e.Target, e.Pps, e.Bps, Top(i, 0), Top(i, 1), Top(i, 2)), now);
            }
        }
        if (_dead > _mask / 4) Rebuild(_entries.Length);
    }

    /// <summary>Re-inserts the live entries into a table of <paramref name="size"/> slots, dropping the tombstones.</summary>
    private void Rebuild(int size)
    {
        var (entries, keys, counts) = (_entries, _sketchKeys, _sketchCounts);
        _entries = new Entry[size];
        _sketchKeys = new uint[size * Slots * Sketches];
        _sketchCounts = new float[size * Slots * Sketches];
        _mask = size - 1;
        _used = _dead = 0;
        for (var i = 0; i < entries.Length; i++)
        {
            if (entries[i].State != 1) continue;
            var j = Find(entries[i].Key, (AttackClass)entries[i].Class);
            _entries[j] = entries[i];
            Array.Copy(keys, i * Slots * Sketches, _sketchKeys, j * Slots * Sketches, Slots * Sketches);
            Array.Copy(counts, i * Slots * Sketches, _sketchCounts, j * Slots * Sketches, Slots * Sketches);
        }
    }
}

/// <summary>What the detector saw when a class crossed its threshold on an address.</summary>
public sealed record AttackSighting(AttackClass Class, FlowAddress Address, ProtectedTarget? Target, double Pps, double Bps,
    List<(uint Key, double Share)> SourcePorts, List<(uint Key, double Share)> Second, List<(uint Key, double Share)> Sources);
