using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using Flowline.Records;

namespace Flowline.Realtime;

/// <summary>A data source: the agent (exporter) and its sFlow data source index (the input interface for NetFlow and IPFIX).</summary>
public readonly record struct DataSource(FlowAddress Agent, uint Index)
{
    /// <summary>sFlow-RT's form: the index for an interface (class 0), else class.index.</summary>
    public override string ToString() => (Index >> 24) == 0
        ? Index.ToString(CultureInfo.InvariantCulture)
        : $"{Index >> 24}.{(Index & 0x00FF_FFFF).ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>One flow's running value: decayed sum in units scaled by the table's time base, first and last update, raw total.</summary>
internal struct FlowEntry
{
    public double Scaled;
    public long First, Last;
    public double Total;
}

/// <summary>A flow of a definition at one data source with its current rate (per second).</summary>
public readonly record struct ActiveFlow(string Key, double Value, DataSource Source);

/// <summary>
/// The live state of one flow definition: for every data source, every flow seen lately with its rate
/// smoothed exponentially with time constant <c>t</c>, as sFlow-RT keeps it. Rows are added by the
/// decoders (under the table's lock, one batch at a time); readers take the n largest per data source.
/// </summary>
public sealed class FlowTable
{
    private readonly KeyElement[] _keys;
    private readonly FlowFilter? _filter;
    private readonly int _value;
    private readonly bool _tenancy;
    private readonly double _tauMicros;
    private readonly FlowBudget _budget;
    private readonly Lock _lock = new();
    private readonly Dictionary<DataSource, FlowMap> _sources = [];
    /// <summary>Time base of the scaled sums (µs): a contribution at time x is stored times e^((x - base)/τ).</summary>
    private long _base;
    private int _count;
    private long _dropped, _rows, _trimmed;
    /// <summary>
    /// The distinct flows (data source and key, by their hash) the shared room refused since the last sweep
    /// (<see cref="TakeWanted"/>): a refused flow is refused again at each of its rows, and counting rows would
    /// make a few busy flows look like many wanted. At most <see cref="MaxRefusedNoted"/>.
    /// </summary>
    private readonly HashSet<int> _refused = [];
    /// <summary>Refused flows noted between two sweeps at most: a definition wanting more grows by this much a sweep.</summary>
    internal const int MaxRefusedNoted = 65_536;
    private volatile ThresholdState[] _thresholds = [];

    public FlowTable(string name, FlowDefinition definition, KeyContext context, FlowBudget budget, long now)
    {
        Name = name;
        Definition = definition;
        _keys = KeyParser.ParseList(definition.Keys, context);
        _filter = definition.Filter is { Length: > 0 } f ? FlowFilter.Parse(f, context) : null;
        _value = Array.IndexOf(FlowDefinition.Values, definition.Value);
        _tenancy = _keys.Any(k => k.Tenancy) || _filter is { Tenancy: true };
        _tauMicros = definition.T * 1e6;
        _budget = budget;
        _base = now;
    }

    public string Name { get; }
    public FlowDefinition Definition { get; }
    /// <summary>Data sources (agent and interface) one definition keeps flows for at most.</summary>
    public const int MaxSources = 100_000;

    /// <summary>Why the definition was taken out of service (counting rows into it failed); null while it counts.</summary>
    public string? Disabled { get; internal set; }

    /// <summary>When a transient definition (one the Prometheus export made) was last read, µs.</summary>
    public long LastRead { get; set; }

    /// <summary>Flows held now, new flows refused because the table was full, rows counted, flows given up to the fair share.</summary>
    public (int Flows, long Dropped, long Rows, long Trimmed) Counts
    {
        get
        {
            lock (_lock) return (_count, _dropped, _rows, _trimmed);
        }
    }

    /// <summary>Forgets every flow (a definition taken out of service).</summary>
    internal void Clear()
    {
        lock (_lock)
        {
            _sources.Clear();
            _count = 0;
        }
    }

    internal ThresholdState[] Thresholds
    {
        get => _thresholds;
        set => _thresholds = value;
    }

    /// <summary>
    /// Counts the rows of a batch. A flow between two ports of the inventory is two rows (one in each
    /// port's account); unless a key is a tenancy key it counts once.
    /// </summary>
    public void Add(FlowBatch b, int from, int to, FlowLogger log, ThresholdSink events)
    {
        var width = _keys.Length * KeyElement.Size;
        Span<byte> key = stackalloc byte[width];
        var tSeconds = Definition.T;
        lock (_lock)
        {
            FlowMap flows = null!;
            var source = new DataSource(FlowAddress.None, uint.MaxValue);
            var haveSource = false;
            long lastTime = long.MinValue;
            var factor = 1.0;
            var thresholds = _thresholds;
            for (var i = from; i < to; i++)
            {
                if (!_tenancy && i > from && b.VmiDirection[i] == VmiDirections.Ingress && b.VmiDirection[i - 1] == VmiDirections.Egress && SameFlow(b, i - 1, i)) continue;
                if (_filter is not null && !_filter.Matches(b, i)) continue;
                var complete = true;
                for (var k = 0; k < _keys.Length && complete; k++) complete = _keys[k].Write(b, i, key.Slice(k * KeyElement.Size, KeyElement.Size));
                if (!complete) continue;
                double amount = _value switch { 0 => b.Bytes[i], 1 => b.Packets[i], _ => 1 };
                if (amount <= 0) continue;
                var here = new DataSource(b.Exporter[i], DataSourceOf(b, i));
                if (!haveSource || here != source)
                {
                    source = here;
                    haveSource = true;
                    ref var table = ref CollectionsMarshal.GetValueRefOrAddDefault(_sources, source, out var existed);
                    if (!existed && _sources.Count > MaxSources)
                    {
                        // Data sources are what datagrams say they are: beyond the cap a new one is counted as dropped.
                        _sources.Remove(source);
                        _dropped++;
                        haveSource = false;
                        continue;
                    }
                    flows = table ??= new FlowMap(width);
                }
                var t = b.TimeReceived[i];
                if (t != lastTime)
                {
                    // The sweep moves the base once a second; rows far ahead of it (a stalled sweep) move it here
                    // before the factor could overflow.
                    if (t - _base > 500 * _tauMicros) Rebase(t);
                    factor = Math.Exp((t - _base) / _tauMicros);
                    lastTime = t;
                }
                _rows++;
                ref var e = ref flows.Find(key);
                if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref e))
                {
                    if (_count >= _budget.PerDefinition)
                    {
                        _dropped++;
                        continue;
                    }
                    if (!_budget.TryTake(_count))
                    {
                        _dropped++;
                        NoteRefused(source, key);
                        continue;
                    }
                    e = ref flows.Add(key);
                    e.First = t;
                    _count++;
                    if (Definition.Log && Definition.FlowStart) log.Log(this, Render(key), amount, t, t, source);
                }
                e.Scaled += amount * factor;
                if (t > e.Last) e.Last = t;
                e.Total += amount;
                foreach (var th in thresholds)
                {
                    var rate = e.Scaled / factor / tSeconds;
                    if (rate > th.Definition.Value) th.Crossed(this, source, key, rate, t, events);
                }
            }
        }
    }

    private static bool SameFlow(FlowBatch b, int x, int y) =>
        b.TimeReceived[x] == b.TimeReceived[y] && b.SrcAddr[x] == b.SrcAddr[y] && b.DstAddr[x] == b.DstAddr[y]
        && b.SrcPort[x] == b.SrcPort[y] && b.DstPort[x] == b.DstPort[y] && b.Bytes[x] == b.Bytes[y];

    /// <summary>sFlow: the data source index of the sample; NetFlow and IPFIX: the input interface.</summary>
    private static uint DataSourceOf(FlowBatch b, int i) => b.Protocol[i] == FlowProtocol.SFlow5 ? b.ObsPoint[i] & 0x00FF_FFFF : b.InIf[i];

    internal string Render(ReadOnlySpan<byte> key)
    {
        var s = new StringBuilder();
        for (var k = 0; k < _keys.Length; k++)
        {
            if (k > 0) s.Append(Definition.Fs);
            s.Append(_keys[k].Render(key.Slice(k * KeyElement.Size, KeyElement.Size)));
        }
        return s.ToString();
    }

    /// <summary>
    /// The <c>n</c> largest flows (by current rate) of each data source whose agent <paramref name="agents"/>
    /// accepts (null: all), at <paramref name="now"/> µs.
    /// </summary>
    public List<ActiveFlow> Top(Func<FlowAddress, bool>? agents, long now, int? n = null)
    {
        var keep = n ?? Definition.N;
        var picked = new List<ActiveFlow>();
        lock (_lock)
        {
            var decay = Math.Exp(-(now - _base) / _tauMicros) / Definition.T;
            var heap = new PriorityQueue<int, double>();
            foreach (var (source, flows) in _sources)
            {
                if (agents is not null && !agents(source.Agent)) continue;
                heap.Clear();
                for (var slot = 0; slot < flows.Slots; slot++)
                {
                    if (!flows.Occupied(slot)) continue;
                    var rate = flows.EntryAt(slot).Scaled * decay;
                    if (heap.Count < keep) heap.Enqueue(slot, rate);
                    else if (heap.TryPeek(out _, out var smallest) && rate > smallest) heap.EnqueueDequeue(slot, rate);
                }
                while (heap.TryDequeue(out var slot, out var rate)) picked.Add(new ActiveFlow(Render(flows.KeyAt(slot)), rate, source));
            }
        }
        return picked;
    }

    /// <summary>
    /// Once a second: flows idle for activeTimeout (or, unlogged, for ten time constants, when their rate is
    /// below e^-10 of what it was) are dropped — logged first when the definition logs flows at their end —
    /// and the time base moves forward before the scaled sums grow large.
    /// </summary>
    public void Sweep(long now, FlowLogger log)
    {
        var idle = (long)(1e6 * (Definition.Log ? Definition.ActiveTimeout : Math.Min(Definition.ActiveTimeout, 10 * Definition.T)));
        List<Ended> ended;
        lock (_lock)
        {
            ended = RemoveWhere((in FlowEntry e) => now - e.Last > idle);
            if (now - _base > 50 * _tauMicros) Rebase(now);
        }
        foreach (var (key, total, first, last, source) in ended) log.Log(this, key, total, first, last, source);
    }

    /// <summary>Moves the time base to <paramref name="now"/>, scaling every sum down to it. Under the lock.</summary>
    private void Rebase(long now)
    {
        var f = Math.Exp(-(now - _base) / _tauMicros);
        foreach (var flows in _sources.Values)
        {
            for (var slot = 0; slot < flows.Slots; slot++)
            {
                if (flows.Occupied(slot)) flows.EntryAt(slot).Scaled *= f;
            }
        }
        _base = now;
    }

    /// <summary>The flows held plus the distinct new ones the shared room refused since the last call (what this definition wants), capped at its own limit.</summary>
    internal long TakeWanted()
    {
        lock (_lock)
        {
            var noted = _refused.Count;
            _refused.Clear();
            if (noted > 4_096) _refused.TrimExcess(); // a contested second's set is not kept for quiet ones
            return Math.Min(_budget.PerDefinition, _count + noted);
        }
    }

    private void NoteRefused(DataSource source, ReadOnlySpan<byte> key)
    {
        if (_refused.Count >= MaxRefusedNoted) return;
        var hash = new HashCode();
        hash.Add(source);
        hash.AddBytes(key);
        _refused.Add(hash.ToHashCode());
    }

    /// <summary>Keeps the <paramref name="keep"/> fastest flows (by current rate) and removes the rest, logged as trimmed. Returns how many went.</summary>
    internal int Trim(long keep, FlowLogger log)
    {
        List<Ended> ended;
        int removed;
        lock (_lock)
        {
            if (_count <= keep) return 0;
            var rates = new double[_count];
            var n = 0;
            foreach (var flows in _sources.Values)
            {
                for (var slot = 0; slot < flows.Slots; slot++)
                {
                    if (flows.Occupied(slot)) rates[n++] = flows.EntryAt(slot).Scaled;
                }
            }
            Array.Sort(rates, 0, n);
            // The slowest go: those below the rate of the last to go, and of those at it as many as are still needed.
            var go = n - (int)keep;
            var edge = rates[go - 1];
            var first = go - 1;
            while (first > 0 && rates[first - 1] == edge) first--;
            var atEdge = go - first;
            var before = _count;
            ended = RemoveWhere((in FlowEntry e) => e.Scaled < edge || (e.Scaled == edge && atEdge-- > 0));
            removed = before - _count;
            _trimmed += removed;
        }
        foreach (var (key, total, first, last, source) in ended) log.Log(this, key, total, first, last, source, trimmed: true);
        return removed;
    }

    private readonly record struct Ended(string Key, double Total, long First, long Last, DataSource Source);
    private delegate bool EntryTest(in FlowEntry e);

    /// <summary>Under the lock: removes the flows the test picks; those a logging definition reports at their end are returned.</summary>
    private List<Ended> RemoveWhere(EntryTest remove)
    {
        var logEnd = Definition.Log && !Definition.FlowStart;
        var ended = new List<Ended>();
        var width = _keys.Length * KeyElement.Size;
        var stale = new List<byte>();
        var emptied = new List<DataSource>();
        foreach (var (source, flows) in _sources)
        {
            // Keys first, removals after: a removal moves later entries of its run back.
            stale.Clear();
            for (var slot = 0; slot < flows.Slots; slot++)
            {
                if (!flows.Occupied(slot)) continue;
                ref var e = ref flows.EntryAt(slot);
                if (!remove(in e)) continue;
                if (logEnd) ended.Add(new Ended(Render(flows.KeyAt(slot)), e.Total, e.First, e.Last, source));
                stale.AddRange(flows.KeyAt(slot));
            }
            var keys = CollectionsMarshal.AsSpan(stale);
            for (var at = 0; at < keys.Length; at += width) flows.Remove(keys.Slice(at, width));
            _count -= keys.Length / width;
            flows.Shrink();
            if (flows.Count == 0) emptied.Add(source);
        }
        foreach (var s in emptied) _sources.Remove(s);
        return ended;
    }
}

/// <summary>Receives flows that a definition with <c>log</c> records.</summary>
public sealed class FlowLogger(Journal journal)
{
    public Journal Journal { get; } = journal;

    /// <summary>
    /// Logs a flow; one <paramref name="trimmed"/> was removed while still active, to keep its definition to its fair
    /// share of the total (it comes back as a new flow if it stays active); its end is when it was last seen, as for any flow.
    /// </summary>
    public void Log(FlowTable table, string key, double value, long start, long end, DataSource source, bool trimmed = false)
    {
        var entry = new JsonObject
        {
            ["name"] = table.Name,
            ["flowKeys"] = key,
            ["value"] = value,
            ["start"] = start / 1000,
            ["end"] = end / 1000,
            ["agent"] = source.Agent.ToString(),
            ["dataSource"] = source.ToString(),
        };
        if (trimmed) entry["trimmed"] = true;
        Journal.Add(entry);
    }
}
