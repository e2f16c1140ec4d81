using Flowline.Records;

namespace Flowline.Sessions;

/// <summary>Receives the sessions of a flush, one at a time; the <see cref="Session"/> is reused after the call returns.</summary>
public interface ISessionVisitor
{
    /// <param name="ended">False: the session had traffic since the last flush. True: it ended (idle, torn down
    /// or forgotten early) without traffic since; only its identity and last state matter.</param>
    void Visit(Session session, bool ended);
}

/// <summary>
/// Stitches one-way flow records into bidirectional sessions. Records pair up when they have the same
/// exporter, observation domain, account and port (VMI), protocol, and the same two ends (address, port
/// and VN) in either order. ICMP echo requests pair with their replies (the two ends' addresses); other
/// ICMP messages are sessions of their own. A record's counts are added to its direction; <see cref="Flush(long, ISessionVisitor)"/>
/// hands out every session that had traffic since the last flush, oriented client to server.
/// <para>
/// Which end is the client, in this order: ICMP, the sender of the echo request (or of the message); TCP,
/// a direction whose flags hold SYN but no ACK (an opening not yet answered); the direction whose first
/// packet came first, when both were seen and their first packets differ in time; else the service-port
/// rule: a configured service port, else the one port below 1024, else the lower port is the server's
/// (equal ports: the lower address is the client). A decision made from one direction alone is made again
/// when the other turns up; once both were seen it stays.
/// </para>
/// <para>
/// Sessions live in one array of structs indexed by an open-addressed (linear probing) table of hashes, so
/// adding a record allocates nothing, and memory is bounded by <see cref="SessionizerOptions.MaxSessions"/>.
/// </para>
/// Not thread-safe: one sessionizer per decoder or agent loop.
/// </summary>
public sealed partial class Sessionizer
{
    private readonly SessionizerOptions _options;
    /// <summary>The reported direction (0 ingress, 1 egress) whose records are left out; -1: none.</summary>
    private readonly int _skipDirection;
    /// <summary>Each direction counts ingress observations when it has any, else egress ones (<see cref="SessionObservation.Auto"/>).</summary>
    private readonly bool _auto;
    private readonly int _max;
    /// <summary>The entries: room for <see cref="SessionizerOptions.MaxSessions"/> reserved, resident as used; the table grows by a page of <see cref="PageSize"/> and never copies itself.</summary>
    private readonly HugePageArray<Entry> _entries;
    private int _capacity = PageSize;
    private const int PageBits = 10, PageSize = 1 << PageBits, PageMask = PageSize - 1;
    /// <summary>Entries in use; entries [0, _top) are in use or on the free list.</summary>
    private int _count, _top;
    private int[] _free = new int[16];
    private int _freeCount;
    /// <summary>Sessions made since the last flush began, and in the interval before; clean entries whose last traffic ended before <see cref="_evictBefore"/> go at the next flush.</summary>
    private long _added, _addedBefore, _evictBefore = long.MinValue;
    private readonly int[] _ages = new int[AgeBuckets];
    /// <summary>Slots: the entry's hash (high 32 bits) and index + 1 (0: empty); the first <see cref="_slotMask"/> + 1 are in use, a power of two four times the entries' room.</summary>
    private readonly HugePageArray<ulong> _slots;
    private int _slotMask;
    private int _hand;
    /// <summary>Entries with traffic not yet handed out.</summary>
    private int _dirty;
    /// <summary>Sessions taken out of the table before their traffic was handed out, or forgotten early, for the next flush.</summary>
    private readonly List<(Session Session, bool Ended)> _early = [];

    public Sessionizer(SessionizerOptions? options = null)
    {
        _options = options ?? new SessionizerOptions();
        if (_options.MaxSessions < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxSessions is at least 1");
        _max = _options.MaxSessions;
        _entries = new HugePageArray<Entry>(_max);
        _slots = new HugePageArray<ulong>(SlotsFor(Math.Max(_max, PageSize)));
        _slotMask = SlotsFor(PageSize) - 1;
        _auto = _options.Observation == SessionObservation.Auto;
        _skipDirection = _options.Observation switch
        {
            SessionObservation.Ingress => 1,
            SessionObservation.Egress => 0,
            _ => -1,
        };
    }

    /// <summary>Sessions held (with or without traffic since the last flush).</summary>
    public int Count => _count;

    /// <summary>Records added since the sessionizer was made, and those of them left out as the other observation of their packets.</summary>
    public long Records { get; private set; }
    public long OtherObservation { get; private set; }

    /// <summary>Sessions forgotten early for room (their traffic handed out already), and sessions whose traffic was exported early for room.</summary>
    public long Evicted { get; private set; }
    public long ExportedEarly { get; private set; }

    /// <summary>Records that found no room at all (the early exports waiting for a flush were at their limit): dropped, counted.</summary>
    public long Dropped { get; private set; }

    /// <summary>True when the table is nearly full: the owner should flush soon rather than wait for the interval.</summary>
    public bool WantsFlush => _dirty >= _max - (_max >> 2) || _early.Count >= EarlyLimit / 2
        || (_options.Shared is { } shared && shared.Held >= shared.Max - (shared.Max >> 3) && _dirty >= _count / 2);

    /// <summary>Bytes the table holds (entries and index), for memory accounting.</summary>
    public long MemoryBytes => (long)Math.Min(_capacity, _max) * System.Runtime.CompilerServices.Unsafe.SizeOf<Entry>() + (_slotMask + 1L) * 8;

    /// <summary>
    /// Adds a batch's records, reading the columns a session needs (not whole records). Keys and hashes
    /// are made first, so that the table's slots and entries, spread over hundreds of megabytes, can be
    /// asked for a few records ahead.
    /// </summary>
    public void Add(FlowBatch b) => Add(b, 0, b.Count);

    /// <summary>Adds rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) of a batch.</summary>
    public unsafe void Add(FlowBatch b, int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)start + count, b.Count);
        var n = count;
        if (_pending.Length < n)
        {
            _pending = new Pending[Math.Max(n, 256)];
        }
        // The input sampling first, from the two ends alone: a session it leaves out costs a hash of four
        // columns, not its key and the other columns.
        var kept = 0;
        for (var k = 0; k < count; k++)
        {
            ref var p = ref _pending[kept];
            var i = start + k;
            if (_inputMask != 0 && !Selected(SelectionHash(b.SrcAddr[i], b.SrcPort[i], b.DstAddr[i], b.DstPort[i], b.IpProto[i])))
            {
                Records++;
                SampledOut++;
                continue;
            }
            p.Fields = new Fields
            {
                Exporter = b.Exporter[i], SrcAddr = b.SrcAddr[i], DstAddr = b.DstAddr[i],
                ObsDomain = b.ObsDomain[i], Account = b.Account[i], Vmi = b.Vmi[i], SrcVn = b.SrcVn[i], DstVn = b.DstVn[i],
                SrcPort = b.SrcPort[i], DstPort = b.DstPort[i], IpProto = b.IpProto[i],
            };
            p.Key = KeyOf(p.Fields, out p.SrcIsLow, out p.IcmpType);
            p.Hash = p.Key.Hash();
            (p.Fields.Direction, p.Fields.VmiDirection, p.Fields.Action, p.Fields.TcpFlags, p.Fields.SgRule) = (b.Direction[i], b.VmiDirection[i], b.Action[i], b.TcpFlags[i], b.SgRule[i]);
            (p.Fields.App, p.Fields.Tier, p.Fields.Site, p.Fields.Deployment) = (b.App[i], b.Tier[i], b.Site[i], b.Deployment[i]);
            (p.Fields.Bytes, p.Fields.Packets, p.Fields.SampledBytes, p.Fields.SampledPackets) = (b.Bytes[i], b.Packets[i], b.SampledBytes[i], b.SampledPackets[i]);
            (p.Fields.Start, p.Fields.End) = (b.Start[i], b.End[i]);
            kept++;
        }
        n = kept;
        const int ahead = 8;
        for (var i = 0; i < n; i++)
        {
            var mask = _slotMask;
            if (i + 2 * ahead < n) Prefetch(_slots.Address((int)_pending[i + 2 * ahead].Hash & mask));
            if (i + ahead < n && _slots[(int)_pending[i + ahead].Hash & mask] is var at && at != 0) PrefetchEntry((int)(uint)at - 1);
            // Most records of a busy table start a session: the entry it will take is asked for too.
            if (_freeCount > ahead) PrefetchEntry(_free[_freeCount - 1 - ahead]);
            else if (_top + ahead < _capacity) PrefetchEntry(_top + ahead);
            ref var p = ref _pending[i];
            Add(p.Fields, p.Key, p.Hash, p.SrcIsLow, p.IcmpType);
        }
    }

    private struct Pending
    {
        public Fields Fields;
        public Key Key;
        public uint Hash;
        public bool SrcIsLow;
        public byte IcmpType;
    }

    private Pending[] _pending = [];

    private unsafe void PrefetchEntry(int index)
    {
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported) return;
        var p = (byte*)_entries.Address(index);
        for (var offset = 0; offset < sizeof(Entry); offset += 64) System.Runtime.Intrinsics.X86.Sse.Prefetch0(p + offset);
    }

    private static unsafe void Prefetch(ulong* location)
    {
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported) System.Runtime.Intrinsics.X86.Sse.Prefetch0(location);
    }

    public void Add(in FlowRecord f) => Add(new Fields
    {
        Exporter = f.Exporter, SrcAddr = f.SrcAddr, DstAddr = f.DstAddr,
        ObsDomain = f.ObsDomain, Account = f.Account, Vmi = f.Vmi, SrcVn = f.SrcVn, DstVn = f.DstVn,
        SrcPort = f.SrcPort, DstPort = f.DstPort, IpProto = f.IpProto, Direction = f.Direction,
        VmiDirection = f.VmiDirection, Action = f.Action, TcpFlags = f.TcpFlags, SgRule = f.SgRule,
        App = f.App, Tier = f.Tier, Site = f.Site, Deployment = f.Deployment,
        Bytes = f.Bytes, Packets = f.Packets, SampledBytes = f.SampledBytes, SampledPackets = f.SampledPackets,
        Start = f.Start, End = f.End,
    });

    /// <summary>The fields of a flow record that sessions use.</summary>
    private struct Fields
    {
        public FlowAddress Exporter, SrcAddr, DstAddr;
        public uint ObsDomain, Account, Vmi, SrcVn, DstVn, SgRule, App, Tier, Site, Deployment;
        public ushort SrcPort, DstPort, TcpFlags;
        public byte IpProto, Direction, VmiDirection, Action;
        public ulong Bytes, Packets, SampledBytes, SampledPackets;
        public long Start, End;
    }

    private void Add(in Fields r)
    {
        if (_inputMask != 0 && !Selected(SelectionHash(r.SrcAddr, r.SrcPort, r.DstAddr, r.DstPort, r.IpProto)))
        {
            Records++;
            SampledOut++;
            return;
        }
        var key = KeyOf(r, out var srcIsLow, out var icmpType);
        Add(r, key, key.Hash(), srcIsLow, icmpType);
    }

    /// <summary>The session key of a record: its two ends in order (ICMP: echo by the addresses, other messages by type and code).</summary>
    private static Key KeyOf(in Fields r, out bool srcIsLow, out byte icmpType)
    {
        ushort sport = r.SrcPort, dport = r.DstPort;
        icmpType = 255;
        if (r.IpProto is 1 or 58)
        {
            icmpType = (byte)(r.DstPort >> 8);
            // Echo requests and replies pair by the two addresses; any other message stands alone.
            (sport, dport) = IsEcho(r.IpProto, icmpType) ? ((ushort)0, (ushort)0) : ((ushort)0, r.DstPort);
        }
        srcIsLow = Order(r.SrcAddr, sport, r.DstAddr, dport) <= 0;
        return srcIsLow
            ? new Key(r.Exporter, r.ObsDomain, r.Account, r.Vmi, r.IpProto, r.SrcAddr, sport, r.SrcVn, r.DstAddr, dport, r.DstVn)
            : new Key(r.Exporter, r.ObsDomain, r.Account, r.Vmi, r.IpProto, r.DstAddr, dport, r.DstVn, r.SrcAddr, sport, r.SrcVn);
    }

    private void Add(in Fields r, in Key key, uint hash, bool srcIsLow, byte icmpType)
    {
        Records++;
        if (r.Direction == _skipDirection)
        {
            OtherObservation++;
            return;
        }
        var icmp = r.IpProto is 1 or 58;
        var index = FindOrAdd(key, hash);
        if (index < 0)
        {
            Dropped++;
            return;
        }
        ref var e = ref At(index);
        ref var counts = ref srcIsLow ? ref e.FromLow : ref e.FromHigh;
        if (_auto && r.Direction is 0 or 1)
        {
            var ingress = srcIsLow ? Observed.IngressFromLow : Observed.IngressFromHigh;
            var egress = srcIsLow ? Observed.EgressFromLow : Observed.EgressFromHigh;
            if (r.Direction == 1)
            {
                // The direction has ingress observations: this is the same packets seen again where they left.
                if ((e.Observed & ingress) != 0)
                {
                    OtherObservation++;
                    return;
                }
                e.Observed |= egress;
            }
            else if ((e.Observed & ingress) == 0)
            {
                e.Observed |= ingress;
                if ((e.Observed & egress) != 0)
                {
                    // Egress observations came first and were counted: the ingress ones stand for the same packets.
                    var wasDirty = e.Dirty;
                    counts = default;
                    if (wasDirty && !e.Dirty) _dirty--;
                    e.Observed &= ~egress;
                }
            }
        }
        e.Referenced = true;
        if (!e.Dirty) _dirty++;
        // Under input sampling a held session stands for InputSampling sessions: its counts are scaled up.
        var scale = (ulong)_inputSampling;
        counts.Bytes += r.Bytes * scale;
        counts.Packets += r.Packets * scale;
        counts.SampledBytes += r.SampledBytes * scale;
        counts.SampledPackets += r.SampledPackets * scale;
        counts.Flows += (uint)scale;
        counts.TcpFlags |= r.TcpFlags;
        counts.Action = r.Action;
        counts.SgRule = r.SgRule;
        counts.Start = counts.Start == 0 ? r.Start : Math.Min(counts.Start, r.Start);
        counts.End = Math.Max(counts.End, r.End);
        if (srcIsLow)
        {
            e.State |= State.LowEver;
            e.LowFlags |= r.TcpFlags;
            if (icmp) e.IcmpLow = icmpType;
        }
        else
        {
            e.State |= State.HighEver;
            e.HighFlags |= r.TcpFlags;
            if (icmp) e.IcmpHigh = icmpType;
        }
        if (r.Vmi != 0 && r.VmiDirection != VmiDirections.None)
        {
            // Egress leaves the port: the port is the record's source.
            var localIsSrc = r.VmiDirection == VmiDirections.Egress;
            e.State = (e.State & ~State.LocalIsLow) | State.HasLocal | (localIsSrc == srcIsLow ? State.LocalIsLow : 0);
            (e.App, e.Tier, e.Site, e.Deployment) = (r.App, r.Tier, r.Site, r.Deployment);
        }
        e.Setup = e.Setup == 0 ? r.Start : Math.Min(e.Setup, r.Start);
        e.LastEnd = Math.Max(e.LastEnd, r.End);
        // FIN or RST in either direction ends a TCP session.
        if (r.IpProto == 6 && (r.TcpFlags & 0x05) != 0) e.Teardown = Math.Max(e.Teardown, r.End);
    }

    private static bool IsEcho(byte protocol, byte type) => protocol == 1 ? type is 8 or 0 : type is 128 or 129;

    private static int Order(FlowAddress a, ushort aPort, FlowAddress b, ushort bPort)
    {
        var c = a.CompareTo(b);
        return c != 0 ? c : aPort.CompareTo(bPort);
    }

    /// <summary>
    /// The sessions that had traffic since the last flush, oriented, with the counts of that time; their
    /// counts start again from zero. Sessions idle past <see cref="SessionizerOptions.IdleTimeout"/> at
    /// <paramref name="now"/> (µs), and TCP sessions torn down before this flush, are forgotten and
    /// listed in <paramref name="ended"/> when given.
    /// </summary>
    public List<Session> Flush(long now, List<Session>? ended = null)
    {
        var collect = new Collecting(ended);
        Flush(now, collect);
        return collect.Active;
    }

    private sealed class Collecting(List<Session>? ended) : ISessionVisitor
    {
        public List<Session> Active { get; } = [];

        public void Visit(Session session, bool isEnded)
        {
            if (!isEnded) Active.Add(session.Clone());
            else ended?.Add(session.Clone());
        }
    }

    /// <summary>
    /// Hands every session with traffic since the last flush to <paramref name="visitor"/> (ended: false),
    /// then those forgotten now — idle past the timeout at <paramref name="now"/> (µs), torn down before
    /// this flush, or forgotten early since the last flush (when <see cref="SessionizerOptions.ListEvicted"/>) —
    /// with ended: true. Counts start again from zero.
    /// </summary>
    public void Flush(long now, ISessionVisitor visitor)
    {
        while (!FlushSome(now, visitor, int.MaxValue)) { }
    }

    /// <summary>
    /// Gives the sampler the bytes of every session the next flush will hand out with traffic, so that it
    /// can solve its threshold for this interval before deciding (<see cref="SessionSampler.Plan"/>).
    /// </summary>
    public void Measure(SessionSampler sampler)
    {
        foreach (var (early, ended) in _early)
        {
            if (!ended) sampler.Measure(early.TotalBytes);
        }
        for (var i = 0; i < _top; i++)
        {
            ref readonly var e = ref At(i);
            if (e.Used && e.Dirty) sampler.Measure(e.FromLow.Bytes + e.FromHigh.Bytes);
        }
    }

    /// <summary>
    /// A flush in parts, so that the owner can let records in between (and store what the visitor made
    /// without holding up the decoder): hands out at most <paramref name="most"/> sessions and returns
    /// true when the flush is complete. Sessions that begin between the parts wait for the next flush.
    /// </summary>
    public bool FlushSome(long now, ISessionVisitor visitor, int most)
    {
        if (_cursor < 0)
        {
            _cursor = _top;
            (_addedBefore, _added) = (_added, 0);
            (_newSessionsBefore, _newSessionsAtFlush) = (_newSessions - _newSessionsAtFlush, _newSessions);
            NotePeak(now);
            Array.Clear(_ages);
        }
        var s = _flushing;
        var handed = 0;
        while (_early.Count > 0 && handed < most)
        {
            var (early, isEnded) = _early[^1];
            _early.RemoveAt(_early.Count - 1);
            visitor.Visit(early, isEnded);
            handed++;
        }
        // Entries never move; one made meanwhile in front of the cursor is flushed now rather than next time.
        while (_cursor > 0 && handed < most)
        {
            var i = --_cursor;
            ref var e = ref At(i);
            if (!e.Used) continue;
            if (e.Dirty)
            {
                Decide(ref e);
                Build(ref e, s);
                visitor.Visit(s, false);
                handed++;
                e.State |= State.Flushed;
                e.FromLow.ResetCounts();
                e.FromHigh.ResetCounts();
                e.Referenced = false;
                _dirty--;
                Age(now, e.LastEnd);
                continue;
            }
            var idle = e.Teardown != 0 || now - e.LastEnd >= _options.IdleTimeout;
            var early = !idle && e.LastEnd < _evictBefore;
            if (idle || (early && _options.ListEvicted))
            {
                Build(ref e, s);
                if (s.Teardown == 0) s.Teardown = e.LastEnd;
                visitor.Visit(s, true);
                handed++;
            }
            if (idle || early)
            {
                if (early) Evicted++;
                RemoveAt(i);
                _options.Shared?.Release();
            }
            else Age(now, e.LastEnd);
        }
        if (_cursor > 0 || _early.Count > 0) return false;
        _cursor = -1;
        PlanEviction();
        Shrink();
        return true;
    }

    /// <summary>Buckets of the time since held sessions' last traffic, each 1/<see cref="AgeBuckets"/> of the idle timeout.</summary>
    private const int AgeBuckets = 64;
    private long _agedAt;

    private void Age(long now, long lastEnd)
    {
        _agedAt = now;
        var width = Math.Max(1, _options.IdleTimeout / AgeBuckets);
        var bucket = (int)Math.Clamp((now - lastEnd) / width, 0, AgeBuckets - 1);
        _ages[bucket]++;
    }

    /// <summary>
    /// Chooses which sessions the next flush forgets early: the table must have room for as many new
    /// sessions as the last interval brought, and a quarter more; the sessions idle longest go first.
    /// </summary>
    private void PlanEviction()
    {
        _evictBefore = long.MinValue;
        var held = _options.Shared?.Held ?? _count;
        var limit = _options.Shared is { } shared ? Math.Min(_max, shared.Max) : _max;
        var excess = held + _addedBefore + (_addedBefore >> 2) - limit;
        if (excess <= 0) return;
        var width = Math.Max(1, _options.IdleTimeout / AgeBuckets);
        long freed = 0;
        for (var b = AgeBuckets - 1; b >= 0; b--)
        {
            freed += _ages[b];
            if (freed >= excess)
            {
                _evictBefore = _agedAt - b * width;
                return;
            }
        }
        _evictBefore = long.MaxValue; // every session without traffic goes
    }

    private int _cursor = -1;
    private readonly Session _flushing = new();
}
