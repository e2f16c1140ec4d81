using System.Net;
using System.Text.Json.Nodes;
using Flowline.Records;

namespace Flowline.Realtime;

/// <summary>
/// Real-time analytics on the decoded stream, as sFlow-RT offers them: flow definitions with their
/// active flows and flow log, counter metrics, thresholds and events, address groups. Definitions,
/// thresholds and groups are kept in <c>DATA_DIR/realtime.json</c> and are in force again after a restart
/// (the flows and rates themselves are live state and start empty).
/// </summary>
public sealed partial class RealtimeEngine
{
    public const string FileName = "realtime.json";
    /// <summary>Prefix of the definitions the Prometheus flow export makes; they are not saved and go when unread for an hour.</summary>
    public const string ExportPrefix = "prometheus_export:";
    /// <summary>Prefix of the definitions a tenant makes (<c>tenant:ACCOUNT:NAME</c>, /api/v1/realtime/flows).</summary>
    public const string TenantPrefix = "tenant:";

    private readonly string? _path;
    private readonly Microsoft.Extensions.Logging.ILogger _log;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, FlowTable> _flows = [];
    private readonly Dictionary<string, ThresholdState> _thresholds = [];
    private volatile FlowTable[] _active = [];
    /// <summary>Refused flows of definitions no longer held (<see cref="FlowsDropped"/>).</summary>
    private long _droppedRetired;
    private volatile ThresholdState[] _counterThresholds = [];
    private readonly FlowLogger _flowLog;
    private readonly ThresholdSink _events;
    private readonly KeyElement[] _probes;
    private readonly long[] _keySeen;
    private long _batches, _rows;

    public RealtimeEngine(string? dataDir, KeyContext context, RealtimeOptions? options = null, Microsoft.Extensions.Logging.ILogger? log = null, Action<JsonObject>? raised = null)
    {
        Context = context;
        Options = options ?? new RealtimeOptions();
        FlowRoom = new FlowBudget(Options.MaxKeys, Options.MaxKeysTotal);
        _log = log ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _path = dataDir is null ? null : Path.Combine(dataDir, FileName);
        _flowLog = new FlowLogger(new Journal(Options.JournalEntries, "flowID", Options.MaxWaiters));
        _events = new ThresholdSink(new Journal(Options.JournalEntries, "eventID", Options.MaxWaiters), raised);
        _probes = KeyParser.Names.Select(n => KeyParser.Parse(n, context)).ToArray();
        _keySeen = new long[_probes.Length];
        Load();
    }

    public KeyContext Context { get; }

    /// <summary>
    /// The context a tenant's keys and filter are read in: the engine's names and geo, without the operator's
    /// address groups.
    /// </summary>
    public KeyContext TenantContext => new(Context.Symbols, Context.Geo) { OperatorGroups = false };

    /// <summary>Refuses (<see cref="FormatException"/>) a tenant's definition whose keys or filter read what only operators may.</summary>
    public void CheckTenantDefinition(FlowDefinition definition)
    {
        var tenant = TenantContext;
        KeyParser.ParseList(definition.Keys, tenant);
        if (definition.Filter is { Length: > 0 } f) FlowFilter.Parse(f, tenant);
    }

    /// <summary>
    /// Refuses (<see cref="FormatException"/>) a definition under a tenant's name (<c>tenant:ACCOUNT:NAME</c>) that
    /// does not read that account alone: its filter is <c>account=ACCOUNT</c>, or that and a whole expression
    /// in parentheses, as the tenant's face writes it. A file edited by hand could hold anything else, and the
    /// tenant would read every account's flows through it.
    /// </summary>
    public void CheckTenantScope(string name, FlowDefinition definition)
    {
        var rest = name[TenantPrefix.Length..];
        var colon = rest.IndexOf(':');
        var account = colon > 0 ? rest[..colon] : throw new FormatException($"'{name}': a tenant's definition is named tenant:ACCOUNT:NAME");
        var bare = $"account={account}";
        var filter = definition.Filter ?? "";
        if (filter != bare && !(filter.StartsWith(bare + "&(", StringComparison.Ordinal) && filter.EndsWith(')')))
        {
            throw new FormatException($"'{name}': a tenant's definition reads its own account only (a filter of {bare}, or {bare}&(FILTER))");
        }
        // The part in parentheses must be a whole expression: "x)|(account=other" would close them early.
        if (filter != bare) FlowFilter.Parse(filter[(bare.Length + 2)..^1], TenantContext);
        CheckTenantDefinition(definition);
    }
    public RealtimeOptions Options { get; }
    /// <summary>The room for flows every definition draws on.</summary>
    public FlowBudget FlowRoom { get; }
    public CounterMetrics Counters { get; } = new();
    public Journal FlowLog => _flowLog.Journal;
    public Journal Events => _events.Journal;
    public long Batches => Interlocked.Read(ref _batches);
    /// <summary>Definitions taken out of service because counting rows into them failed.</summary>
    public long DefinitionsDisabled => Interlocked.Read(ref _disabled);
    private long _disabled;
    public long Rows => Interlocked.Read(ref _rows);
    /// <summary>Threshold crossings neither remembered nor raised: their threshold held <see cref="ThresholdState.MaxOutstanding"/>.</summary>
    public long ThresholdsUntracked { get { lock (_lock) return _thresholds.Values.Sum(t => t.Untracked); } }

    public IReadOnlyList<FlowTable> Tables => _active;

    /// <summary>True when some definition or observer wants the decoded rows.</summary>
    public bool Active => _active.Length > 0 || _observers.Length > 0;

    private volatile IRealtimeObserver[] _observers = [];

    /// <summary>Adds an analysis that sees every row from now on.</summary>
    public void Observe(IRealtimeObserver observer)
    {
        lock (_lock) _observers = [.. _observers, observer];
    }

    /// <summary>
    /// Rows [<paramref name="from"/>, <paramref name="to"/>) of a batch being filled, as each datagram is
    /// decoded (not when the batch is stored, which may be a batch interval later): every definition counts them.
    /// </summary>
    public void Add(FlowBatch batch, int from, int to)
    {
        if (to <= from) return;
        var tables = _active;
        var observers = _observers;
        if (tables.Length == 0 && observers.Length == 0) return;
        foreach (var observer in observers) observer.Add(batch, from, to);
        foreach (var table in tables)
        {
            try
            {
                table.Add(batch, from, to, _flowLog, _events);
            }
            catch (Exception e)
            {
                // One definition that fails is taken out and reported; the others and the process go on.
                Disable(table, e);
            }
        }
        // Counted once every definition has them, so a reader that sees the count sees the rows in the tables.
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _rows, to - from);
    }

    /// <summary>Notes which keys a row has, for /flowkeys/json (the decoders call it now and then, not for every row).</summary>
    public void Probe(FlowBatch batch, int row)
    {
        var now = batch.TimeReceived[row];
        for (var k = 0; k < _probes.Length; k++)
        {
            if (_keySeen[k] != now && _probes[k].Read(batch, row, out _)) _keySeen[k] = now;
        }
    }

    /// <summary>A counter record received at <paramref name="now"/> µs.</summary>
    public void Add(in CounterRecord record, long now)
    {
        var thresholds = _counterThresholds;
        Counters.Add(record, now, thresholds.Length == 0 ? null : (source, metric, value) =>
        {
            foreach (var th in thresholds)
            {
                if (th.Definition.Metric == metric && value > th.Definition.Value) th.Crossed(source, value, now, _events);
            }
        });
    }

    /// <summary>Once a second: idle flows go (and are logged), thresholds re-arm, export definitions unread for an hour go.</summary>
    public void Tick(long now)
    {
        foreach (var observer in _observers) observer.Tick(now);
        foreach (var table in _active)
        {
            try
            {
                table.Sweep(now, _flowLog);
            }
            catch (Exception e)
            {
                Disable(table, e);
            }
        }
        // While the definitions want more than the total, those above their fair share give up their slowest flows.
        var active = _active;
        var share = FlowBudget.FairShare([.. active.Select(t => t.TakeWanted())], FlowRoom.Total);
        long trimmed = 0;
        if (share != long.MaxValue)
        {
            foreach (var table in active)
            {
                try
                {
                    trimmed += table.Trim(share, _flowLog);
                }
                catch (Exception e)
                {
                    Disable(table, e);
                }
            }
        }
        FlowRoom.Recount(active.Sum(t => (long)t.Counts.Flows), share, trimmed);
        ThresholdState[] thresholds;
        lock (_lock) thresholds = _thresholds.Values.ToArray();
        foreach (var th in thresholds) th.Rearm(now);
        Counters.Sweep(now, 3_600_000_000);
        lock (_lock)
        {
            var unread = _flows.Values.Where(t => t.Name.StartsWith(ExportPrefix, StringComparison.Ordinal) && now - t.LastRead > 3_600_000_000).ToList();
            foreach (var t in unread)
            {
                _flows.Remove(t.Name);
                Retire(t);
            }
            if (unread.Count > 0) Publish();
        }
    }

    /// <summary>Key names with the milliseconds since a row last had them (sFlow-RT's /flowkeys/json).</summary>
    public JsonObject FlowKeys(long now)
    {
        var o = new JsonObject();
        for (var k = 0; k < _probes.Length; k++)
        {
            var seen = Volatile.Read(ref _keySeen[k]);
            if (seen != 0) o[_probes[k].Text] = Math.Max(0, (now - seen) / 1000);
        }
        return o;
    }

    /// <summary>Takes a failing definition out of service (it stays defined, with the reason, until it is put again) and raises an event.</summary>
    private void Disable(FlowTable table, Exception e)
    {
        var reason = $"{e.GetType().Name}: {e.Message}";
        lock (_lock)
        {
            if (table.Disabled is not null) return;
            table.Disabled = reason;
            Publish();
        }
        // Out of service, its flows would only hold room the others share (FlowRoom).
        table.Clear();
        Interlocked.Increment(ref _disabled);
        RealtimeLog.DefinitionDisabled(_log, table.Name, reason);
        _events.Disabled(table.Name, reason, Clock());
    }

    // ---- Flow definitions -------------------------------------------------------------------------

    public static void CheckName(string name)
    {
        if (name.Length is 0 or > 100 || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or ':')))
            throw new FormatException($"name '{name}': expected 1 to 100 letters, digits, '_', '-', '.' or ':'");
    }

    /// <summary>Defines (or redefines) a flow; a <see cref="FormatException"/> says what is wrong with it.</summary>
    public void PutFlow(string name, FlowDefinition definition, long now, bool save = true)
    {
        CheckName(name);
        var table = new FlowTable(name, definition, Context, FlowRoom, now) { LastRead = now };
        lock (_lock)
        {
            if (_flows.TryGetValue(name, out var old) && old.Definition == definition && old.Disabled is null) return;
            if (old is null && _flows.Count >= Options.MaxDefinitions)
                throw new RealtimeLimitException($"{_flows.Count} flow definitions are in force, the most this server holds: delete one first");
            _flows[name] = table;
            // Saved first: a change that could not be saved is not in force either.
            if (save) SaveOrUndo(() => Restore(_flows, name, old));
            if (old is not null) Retire(old);
            Publish();
        }
    }

    public FlowDefinition? GetFlow(string name)
    {
        lock (_lock) return _flows.TryGetValue(name, out var t) ? t.Definition : null;
    }

    public FlowTable? Table(string name)
    {
        lock (_lock) return _flows.GetValueOrDefault(name);
    }

    public Dictionary<string, FlowDefinition> Flows()
    {
        lock (_lock) return _flows.Where(f => !f.Key.StartsWith(ExportPrefix, StringComparison.Ordinal)).ToDictionary(f => f.Key, f => f.Value.Definition);
    }

    public bool DeleteFlow(string name)
    {
        lock (_lock)
        {
            if (!_flows.Remove(name, out var old)) return false;
            SaveOrUndo(() => _flows[name] = old);
            Retire(old);
            Publish();
            return true;
        }
    }

    /// <summary>Under the lock: a definition deleted or replaced leaves its count of refused flows to <see cref="FlowsDropped"/>.</summary>
    private void Retire(FlowTable old) => _droppedRetired += old.Counts.Dropped;

    /// <summary>
    /// New flows every definition refused since start (its own limit or the total), deleted and replaced ones
    /// included: a counter, it never goes down.
    /// </summary>
    public long FlowsDropped
    {
        get
        {
            lock (_lock) return _droppedRetired + _flows.Values.Sum(t => t.Counts.Dropped);
        }
    }

    /// <summary>Rebuilds the snapshots the decoders and counter path read; attaches thresholds to their flows. Under the lock.</summary>
    private void Publish()
    {
        foreach (var t in _flows.Values) t.Thresholds = _thresholds.Values.Where(th => th.Definition.Metric == t.Name).ToArray();
        _counterThresholds = _thresholds.Values.Where(th => !_flows.ContainsKey(th.Definition.Metric)).ToArray();
        _active = _flows.Values.Where(t => t.Disabled is null).ToArray();
    }

    // ---- Thresholds ----------------------------------------------------------------------------------

    public void PutThreshold(string name, ThresholdDefinition definition)
    {
        CheckName(name);
        lock (_lock)
        {
            if (_thresholds.TryGetValue(name, out var old) && old.Definition == definition) return;
            if (old is null && _thresholds.Count >= Options.MaxThresholds)
                throw new RealtimeLimitException($"{_thresholds.Count} thresholds are set, the most this server holds: delete one first");
            _thresholds[name] = new ThresholdState(name, definition);
            SaveOrUndo(() => Restore(_thresholds, name, old));
            Publish();
        }
    }

    public ThresholdDefinition? GetThreshold(string name)
    {
        lock (_lock) return _thresholds.TryGetValue(name, out var t) ? t.Definition : null;
    }

    public Dictionary<string, ThresholdDefinition> ThresholdDefinitions()
    {
        lock (_lock) return _thresholds.ToDictionary(t => t.Key, t => t.Value.Definition);
    }

    public bool DeleteThreshold(string name)
    {
        lock (_lock)
        {
            if (!_thresholds.Remove(name, out var old)) return false;
            SaveOrUndo(() => _thresholds[name] = old);
            Publish();
            return true;
        }
    }

    // ---- Groups ----------------------------------------------------------------------------------------

    public void PutGroups(string name, IReadOnlyDictionary<string, IReadOnlyList<string>> groups)
    {
        CheckName(name);
        lock (_lock)
        {
            var old = Context.Groups.Get(name);
            Context.Groups.Put(name, groups);
            SaveOrUndo(() =>
            {
                if (old is null) Context.Groups.Delete(name);
                else Context.Groups.Put(name, old.ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.Value));
            });
        }
    }

    public bool DeleteGroups(string name)
    {
        lock (_lock)
        {
            var old = Context.Groups.Get(name);
            if (old is null || !Context.Groups.Delete(name)) return false;
            SaveOrUndo(() => Context.Groups.Put(name, old.ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.Value)));
            return true;
        }
    }

    // ---- Reading ---------------------------------------------------------------------------------------

    /// <summary>An agent list as sFlow-RT writes it: ALL, or addresses separated by ';'. Null accepts every agent.</summary>
    public static Func<FlowAddress, bool>? Agents(string agents)
    {
        if (agents is "ALL" or "") return null;
        var set = new HashSet<FlowAddress>();
        foreach (var a in agents.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!IPAddress.TryParse(a, out var ip)) throw new FormatException($"agent '{a}': expected ALL or agent addresses separated by ';'");
            set.Add(FlowAddress.FromIPAddress(ip));
        }
        return set.Contains;
    }

    /// <summary>
    /// The active flows of a definition (sFlow-RT's /activeflows): each data source's n largest, merged by
    /// key across data sources (max: the largest; sum: added), above <paramref name="minValue"/>, largest first.
    /// </summary>
    public static List<ActiveFlow> Merge(List<ActiveFlow> flows, int maxFlows, double minValue, bool sum)
    {
        var merged = new Dictionary<string, ActiveFlow>();
        foreach (var f in flows)
        {
            if (!merged.TryGetValue(f.Key, out var m)) merged[f.Key] = f;
            else if (sum) merged[f.Key] = m with { Value = m.Value + f.Value, Source = f.Value > m.Value ? f.Source : m.Source };
            else if (f.Value > m.Value) merged[f.Key] = f;
        }
        return merged.Values.Where(f => f.Value > minValue).OrderByDescending(f => f.Value).ThenBy(f => f.Key, StringComparer.Ordinal).Take(maxFlows).ToList();
    }

    /// <summary>
    /// The table the Prometheus flow export asks for. An export made earlier under a name of its parameters,
    /// or a defined flow with the same keys, value, filter and time constant, serves; otherwise, when
    /// <paramref name="create"/> (the caller may change definitions), one is made, not saved. Null: none, and
    /// none made.
    /// </summary>
    public FlowTable? Export(FlowDefinition definition, long now, bool create)
    {
        var name = ExportPrefix + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(definition.ToJson().ToJsonString())))[..16].ToLowerInvariant();
        lock (_lock)
        {
            if (!_flows.TryGetValue(name, out var table))
            {
                table = _flows.Values.FirstOrDefault(t => !t.Name.StartsWith(ExportPrefix, StringComparison.Ordinal)
                    && t.Definition.Keys == definition.Keys && t.Definition.Value == definition.Value
                    && t.Definition.Filter == definition.Filter && t.Definition.T == definition.T);
            }
            if (table is null)
            {
                if (!create) return null;
                var exports = _flows.Keys.Count(k => k.StartsWith(ExportPrefix, StringComparison.Ordinal));
                if (exports >= Options.MaxExports || _flows.Count >= Options.MaxDefinitions)
                    throw new RealtimeLimitException($"{exports} export definitions are in force ({Options.MaxExports} at most; one goes when unread for an hour): define the flow with PUT /flow/NAME/json and export it by those parameters");
                table = new FlowTable(name, definition, Context, FlowRoom, now);
                _flows[name] = table;
                Publish();
            }
            table.LastRead = now;
            return table;
        }
    }

    /// <summary>
    /// Values of metrics for /metric and /dump: counter metrics per data source, and for a flow definition's
    /// name its largest flow per data source (with the flow's key).
    /// </summary>
    public List<(DataSource Source, string Metric, double Value, long Updated, string? Key)> Values(Func<FlowAddress, bool>? agents, string? metric, long now)
    {
        var result = new List<(DataSource, string, double, long, string?)>();
        var table = metric is null ? null : Table(metric);
        if (table is not null)
        {
            foreach (var f in table.Top(agents, now, 1)) result.Add((f.Source, metric!, f.Value, now, f.Key));
            return result;
        }
        foreach (var (source, name, value, updated) in Counters.Values(agents, metric is null ? null : m => m == metric)) result.Add((source, name, value, updated, null));
        return result;
    }

    public static long Clock() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;
}
