using System.Text.Json;
using Flowline.Sessions;
using Flowline.Query;
using Flowline.Records;

namespace Flowline.Ingest;

/// <summary>
/// Sessions in `flowline serve`: a sessionizer per decoder (an exporter's datagrams all reach the same
/// socket, so both directions of its flows meet there), flushed every interval into sampled and logged
/// SessionEndpoints, which go to their destinations: the sessions store (<c>DATA_DIR/sessions</c>, sharing
/// the flow store's symbols), a JSON-lines file, syslog. Agents' batches (<see cref="Ingest"/>) are stored
/// the same way. A destination that fails keeps what it was given and is tried again next interval.
/// </summary>
public sealed class SessionService : IDisposable
{
    public const string Directory = "sessions";
    /// <summary>Lines kept for a failing file or syslog destination before the oldest are dropped (and counted).</summary>
    public const int MaxPendingLines = 200_000;

    private readonly Sessionizer[] _sessionizers;
    private readonly SessionExporter _exporter;
    private readonly ISymbolTable _symbols;
    private readonly Action<string> _log;
    private readonly List<LineDestination> _lines = [];
    private readonly byte _storeKinds;
    private readonly FlowBatch _pendingStore = new(1024);
    private readonly object _flushLock = new();
    private readonly Timer? _timer;
    private readonly AgentSequences _agents;
    private long _lastFlush;
    private long _rowsStored, _storeErrors, _sessionsFlushed, _agentBatches, _agentDuplicates;
    private readonly Enrichment.Enricher? _enricher;
    private readonly SessionAnomalies _anomalies;
    private readonly Dictionary<string, long> _agentLastTime = new(StringComparer.Ordinal);

    /// <param name="decoders">How many decoders (pipelines) add records, each with its own sessionizer.</param>
    /// <param name="enricher">The inventory in force: the tags of a session's remote end, and the ports of interest whose session rate is watched.</param>
    public SessionService(CollectorOptions options, Func<string, IFlowStore> openStore, ISymbolTable symbols, int decoders, Action<string> log, bool timer = true, Enrichment.Enricher? enricher = null)
    {
        _symbols = symbols;
        _log = log;
        _enricher = enricher;
        RemoteTagLookup? remoteTags = enricher is null ? null : enricher.RemoteTags;
        Root = Path.Combine(options.DataDir, Directory);
        Store = openStore(Root);
        var sessionizerOptions = new SessionizerOptions { ServicePorts = options.ServicePorts, Observation = options.SessionObservation };
        _sessionizers = Enumerable.Range(0, Math.Max(1, decoders)).Select(_ => new Sessionizer(sessionizerOptions)).ToArray();
        _exporter = new SessionExporter(new SessionSampler(options.SessionExportRate, options.SessionThreshold), options.SessionLogging, symbols, remoteTags);
        byte Kinds(string destination) => (byte)((options.SampledSessionsTo.Contains(destination) ? SessionFlags.Sampled : 0)
            | (options.LoggedSessionsTo.Contains(destination) ? SessionFlags.Logged : 0));
        _storeKinds = Kinds("store");
        foreach (var d in options.SampledSessionsTo.Concat(options.LoggedSessionsTo).Distinct())
        {
            if (d == "store") continue;
            _lines.Add(new LineDestination(Sink(d, "session"), Kinds(d)));
        }
        _agents = new AgentSequences(Path.Combine(Root, "agents.json"));
        _anomalies = new SessionAnomalies(options, Root, symbols, log);
        Interval = options.SessionInterval;
        _lastFlush = Collector.NowMicros();
        if (timer) _timer = new Timer(_ => Tick(), null, Interval, Interval);
    }

    internal static ISessionLineSink Sink(string destination, string messageId) => destination.StartsWith("file:", StringComparison.Ordinal)
        ? new SessionLogFile(destination[5..])
        : SyslogSender.Parse(destination[7..], messageId);

    public IFlowStore Store { get; }

    /// <summary>The sessions' directory: their store, the agents' sequences and the anomaly history.</summary>
    public string Root { get; }
    /// <summary>Session rate anomalies of the ports of interest.</summary>
    public SessionAnomalies Anomalies => _anomalies;
    public TimeSpan Interval { get; }
    public long RowsStored => Interlocked.Read(ref _rowsStored);
    public long StoreErrors => Interlocked.Read(ref _storeErrors);
    public long SessionsFlushed => Interlocked.Read(ref _sessionsFlushed);
    public long AgentBatches => Interlocked.Read(ref _agentBatches);
    public long AgentDuplicates => Interlocked.Read(ref _agentDuplicates);
    public long OtherObservations => _sessionizers.Sum(s => { lock (s) return s.OtherObservation; });
    public int SessionsHeld => _sessionizers.Sum(s => { lock (s) return s.Count; });
    public SessionExporter Exporter => _exporter;
    public IEnumerable<(string Destination, int Pending, long Dropped, long Errors)> LineDestinations =>
        _lines.Select(l => (l.Sink.Describe, l.Pending.Count, l.Dropped, l.Errors));

    /// <summary>Adds a decoder's batch of (enriched) records to its sessionizer.</summary>
    public void Add(int decoder, FlowBatch batch)
    {
        var s = _sessionizers[decoder % _sessionizers.Length];
        lock (s) s.Add(batch);
    }

    /// <summary>Ends an interval: flushes the sessionizers, samples and logs, and writes to every destination.</summary>
    public void Tick()
    {
        lock (_flushLock)
        {
            var now = Collector.NowMicros();
            var active = new List<Session>();
            var ended = new List<Session>();
            foreach (var s in _sessionizers)
            {
                lock (s) active.AddRange(s.Flush(now, ended));
            }
            Interlocked.Add(ref _sessionsFlushed, active.Count);
            var seconds = Math.Max(1e-3, (now - _lastFlush) / 1e6);
            _lastFlush = now;
            var endpoints = _exporter.Export(active, ended, seconds).Endpoints;
            Deliver(endpoints, now);
            _anomalies.Interval(now, _enricher?.Inventory, active.Where(s => s.First && s.Vmi != 0).Select(s => (s.Account, s.Vmi)));
        }
    }

    private void Deliver(IReadOnlyCollection<SessionEndpoint> endpoints, long time)
    {
        var rows = new FlowBatch(64);
        if (endpoints.Count > 0) SessionRows.Append(endpoints, time, rows, _symbols);
        for (var i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            if ((r.SessionFlags & _storeKinds) != 0) _pendingStore.Add(r);
            foreach (var d in _lines)
            {
                if ((r.SessionFlags & d.Kinds) != 0) d.Add(SessionLine.Text(r, _symbols));
            }
        }
        if (_pendingStore.Count > 0)
        {
            try
            {
                var n = _pendingStore.Count;
                Store.Append(_pendingStore);
                _pendingStore.Clear();
                Interlocked.Add(ref _rowsStored, n);
            }
            catch (IOException e)
            {
                Interlocked.Increment(ref _storeErrors);
                _log($"sessions: store: {e.Message}; {_pendingStore.Count} rows kept for the next interval");
            }
        }
        foreach (var d in _lines) d.Send(_log);
    }

    /// <summary>
    /// Stores an agent's batch (JSON, see <see cref="SessionEndpointJson"/>) durably before returning; a batch
    /// whose sequence number the agent already had stored is acknowledged without storing it again.
    /// Returns the rows stored; throws <see cref="FormatException"/> for a malformed batch.
    /// </summary>
    /// <param name="agent">The agent the sender's key is bound to: a batch in another agent's name is refused.</param>
    public int Ingest(ReadOnlySpan<byte> json, string? agent = null)
    {
        var batch = SessionEndpointJson.Read(json, _symbols);
        if (agent is not null && batch.Agent != agent) throw new UnauthorizedAccessException($"the batch is agent '{batch.Agent}''s, and the key speaks for agent '{agent}' only");
        lock (_flushLock)
        {
            if (_agents.Stored(batch.Agent) >= batch.Sequence)
            {
                Interlocked.Increment(ref _agentDuplicates);
                return 0;
            }
            var rows = new FlowBatch(64);
            var n = SessionRows.Append(batch.Endpoints, batch.Time, rows, _symbols);
            if (n > 0)
            {
                Store.Append(rows);
                Store.Flush();
            }
            _agents.Save(batch.Agent, batch.Sequence);
            Interlocked.Add(ref _rowsStored, n);
            Interlocked.Increment(ref _agentBatches);
            // Sessions that began after the agent's previous batch are its new ones (the first batch since this
            // server started: within one interval before it, rather than every session the agent still holds).
            var since = _agentLastTime.GetValueOrDefault(batch.Agent, batch.Time - (long)Interval.TotalMicroseconds);
            _agentLastTime[batch.Agent] = Math.Max(since, batch.Time);
            var created = new List<(uint, uint)>();
            foreach (var e in batch.Endpoints)
            {
                foreach (var a in e.Aggregates.Values)
                {
                    foreach (var info in a.Sessions.Values)
                    {
                        if (info.SetupTime <= since || e.Identity.Vmi == 0) continue;
                        for (var k = 0; k < Math.Max(1, info.Sessions); k++) created.Add((e.Identity.Account, e.Identity.Vmi));
                    }
                }
            }
            _anomalies.Interval(Collector.NowMicros(), _enricher?.Inventory, created);
            return n;
        }
    }

    /// <summary>The last interval, then everything made durable.</summary>
    public void Stop()
    {
        _timer?.Dispose();
        Tick();
        lock (_flushLock) _anomalies.Save();
        try
        {
            Store.Flush();
        }
        catch (IOException e)
        {
            _log($"sessions: store: {e.Message}");
        }
    }

    public void Dispose()
    {
        _timer?.Dispose();
        foreach (var d in _lines) d.Sink.Dispose();
        _anomalies.Dispose();
        Store.Dispose();
    }

    /// <summary>The last sequence number stored for each agent, kept in a file (written whole, then renamed).</summary>
    private sealed class AgentSequences
    {
        private readonly string _path;
        private readonly Dictionary<string, long> _stored;

        public AgentSequences(string path)
        {
            _path = path;
            _stored = File.Exists(path) ? JsonSerializer.Deserialize<Dictionary<string, long>>(File.ReadAllBytes(path)) ?? [] : [];
        }

        public long Stored(string agent) => _stored.TryGetValue(agent, out var s) ? s : -1;

        public void Save(string agent, long sequence)
        {
            _stored[agent] = sequence;
            AtomicFile.Write(_path, JsonSerializer.SerializeToUtf8Bytes(_stored));
        }
    }
}

/// <summary>A file or syslog destination with the lines it has not taken yet (kept while it fails, the oldest dropped past a limit).</summary>
internal sealed class LineDestination(ISessionLineSink sink, byte kinds)
{
    public ISessionLineSink Sink { get; } = sink;
    public byte Kinds { get; } = kinds;
    public List<string> Pending { get; } = [];
    public long Dropped, Errors;

    public void Add(string line)
    {
        if (Pending.Count >= SessionService.MaxPendingLines)
        {
            Pending.RemoveAt(0);
            Dropped++;
        }
        Pending.Add(line);
    }

    public void Send(Action<string> log)
    {
        if (Pending.Count == 0) return;
        try
        {
            Sink.Write(Pending);
            Pending.Clear();
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
        {
            Errors++;
            log($"sessions: {Sink.Describe}: {e.Message}; {Pending.Count} lines kept for the next interval");
        }
    }
}
