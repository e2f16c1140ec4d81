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
public sealed partial class SessionService : IDisposable
{
    public const string Directory = "sessions";
    /// <summary>Lines kept for a failing file or syslog destination before the oldest are dropped (and counted).</summary>
    public const int MaxPendingLines = 200_000;
    /// <summary>Rows kept for a failing sessions store before new ones are dropped (and counted).</summary>
    public const int MaxPendingRows = 1_000_000;

    private readonly Sessionizer[] _sessionizers;
    private readonly SessionExporter _exporter;
    private readonly ISymbolTable _symbols;
    private readonly Microsoft.Extensions.Logging.ILogger _log;
    private readonly List<LineDestination> _lines = [];
    private readonly byte _storeKinds;
    private readonly FlowBatch _pendingStore = new(1024);
    private readonly FlowBatch _filtered = new(1024);
    private readonly SessionRowWriter _writer;
    private readonly FlushVisitor _visitor;
    private long _rowsDropped;
    private readonly object _flushLock = new();
    private readonly Timer? _timer;
    private readonly AgentSequences _agents;
    private long _lastFlush;
    private long _rowsStored, _storeErrors, _sessionsFlushed, _agentBatches, _agentDuplicates;
    private readonly Enrichment.Enricher? _enricher;
    private readonly SessionAnomalies _anomalies;
    private readonly Dictionary<string, long> _agentLastTime = new(StringComparer.Ordinal);
    private readonly IFlowStore? _flows;
    private long _agentFlowRows;
    private readonly double _inputRate;
    private readonly Func<long> _clock;

    /// <param name="decoders">How many decoders (pipelines) add records, each with its own sessionizer.</param>
    /// <param name="enricher">The inventory in force: the tags of a session's remote end, and the ports of interest whose session rate is watched.</param>
    /// <param name="flows">The flow store, where the per-port flow rows agents send go.</param>
    /// <param name="clock">The time now (µs; default the system's), for tests.</param>
    public SessionService(CollectorOptions options, Func<string, IFlowStore> openStore, ISymbolTable symbols, int decoders, Microsoft.Extensions.Logging.ILogger log, bool timer = true, Enrichment.Enricher? enricher = null, IFlowStore? flows = null,
        Func<long>? clock = null)
    {
        _clock = clock ?? Collector.NowMicros;
        _flows = flows;
        _symbols = symbols;
        _log = log;
        _enricher = enricher;
        RemoteTagLookup? remoteTags = enricher is null ? null : enricher.RemoteTags;
        Root = Path.Combine(options.DataDir, Directory);
        Store = openStore(Root);
        var sessionizerOptions = new SessionizerOptions
        {
            ServicePorts = options.ServicePorts, Observation = options.SessionObservation,
            MaxSessions = Math.Max(1, options.SessionMaxOpen), Shared = new SessionLimit(Math.Max(1, options.SessionMaxOpen)),
            ListEvicted = options.SessionLogging.Count > 0,
        };
        _sessionizers = Enumerable.Range(0, Math.Max(1, decoders)).Select(_ => new Sessionizer(sessionizerOptions)).ToArray();
        _exporter = new SessionExporter(new SessionSampler(options.SessionExportRate, options.SessionThreshold), options.SessionLogging, symbols, remoteTags);
        _writer = new SessionRowWriter(_exporter, symbols, Deliver);
        _visitor = new FlushVisitor(_writer);
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
        _inputRate = options.SessionInputRate;
        _lastFlush = _clock();
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
    /// <summary>Sessions forgotten early for room, exported early for room, and records that found no room (dropped).</summary>
    public long SessionsEvicted => _sessionizers.Sum(s => { lock (s) return s.Evicted; });
    public long SessionsExportedEarly => _sessionizers.Sum(s => { lock (s) return s.ExportedEarly; });
    public long RecordsDropped => _sessionizers.Sum(s => { lock (s) return s.Dropped; });
    /// <summary>Session rows dropped because the store failed for longer than <see cref="MaxPendingRows"/> rows.</summary>
    public long RowsDropped => Interlocked.Read(ref _rowsDropped);
    /// <summary>Remote prefixes named by their family's /0 because the symbol table was full (<see cref="SessionRowWriter.MaxNamesForPrefixes"/>).</summary>
    public long RemotePrefixesFolded => _writer.PrefixesFolded;
    /// <summary>Bytes the sessionizers' tables hold.</summary>
    public long TableBytes => _sessionizers.Sum(s => { lock (s) return s.MemoryBytes; });
    public SessionExporter Exporter => _exporter;
    public IEnumerable<(string Destination, int Pending, long Dropped, long Errors)> LineDestinations =>
        _lines.Select(l => (l.Sink.Describe, l.Pending.Count, l.Dropped, l.Errors));

    /// <summary>
    /// Adds a decoder's batch of (enriched) records to its sessionizer, a slice at a time. A table filling up
    /// ends the interval early, on the decoder's own thread: a flood of new conversations slows the decoder
    /// (its socket queue absorbs it, and counts what it cannot) rather than losing sessions.
    /// A decoder behind its socket (<paramref name="backlog"/> at least <see cref="Behind"/>) raises the input sampling first.
    /// </summary>
    /// <param name="backlog">How full the decoder's socket queue is, 0 to 1.</param>
    public void Add(int decoder, FlowBatch batch, double backlog = 0)
    {
        ShedOnBacklog(backlog);
        var s = _sessionizers[decoder % _sessionizers.Length];
        const int slice = 256;
        for (var at = 0; at < batch.Count; at += slice)
        {
            bool full;
            lock (s)
            {
                s.Add(batch, at, Math.Min(slice, batch.Count - at));
                full = s.WantsFlush;
            }
            if (full) Tick();
            else if (_inputRate > 0 && (Interlocked.Increment(ref _slices) & 63) == 0) RaiseOnFlood();
        }
    }

    /// <summary>Ends an interval: flushes the sessionizers, samples and logs, and writes to every destination.</summary>
    public void Tick()
    {
        lock (_flushLock)
        {
            var now = _clock();
            var seconds = Math.Max(1e-3, (now - _lastFlush) / 1e6);
            Volatile.Write(ref _lastFlush, now);
            _writer.Time = now;
            _anomalies.Watch(_enricher?.Inventory);
            _visitor.Start(_anomalies.Watched > 0 ? InputSampling : 0);
            // The sampler's threshold for this interval, from this interval's own session sizes.
            _exporter.Plan(_sessionizers, seconds);
            foreach (var s in _sessionizers)
            {
                // In parts of a chunk each: the decoder waits only while a part is made, never while it is stored.
                bool done;
                do
                {
                    if (_writer.Room == 0) _writer.Complete();
                    lock (s) done = s.FlushSome(now, _visitor, _writer.Room);
                    _writer.Complete();
                }
                while (!done);
            }
            Interlocked.Add(ref _sessionsFlushed, _visitor.Active);
            AdaptInputSampling(seconds);
            _exporter.EndInterval(seconds);
            if (_pendingStore.Count > 0) ToStore(_pendingStore, pending: true);
            foreach (var d in _lines) d.Send(_log);
            _anomalies.Interval(now, _enricher?.Inventory, _visitor.Created.Select(kv => (kv.Key, kv.Value)));
        }
    }

    /// <summary>Counts a flush's sessions (and the new ones per port, when ports are watched) and hands them to the row writer.</summary>
    private sealed class FlushVisitor(SessionRowWriter writer) : ISessionVisitor
    {
        public long Active;
        private long _perCreated;
        public Dictionary<(uint Account, uint Vmi), long> Created { get; } = [];

        /// <param name="perCreated">What a new session counts for (the input sampling); 0: new sessions are not counted per port.</param>
        public void Start(long perCreated)
        {
            Active = 0;
            _perCreated = perCreated;
            Created.Clear();
        }

        public void Visit(Session s, bool ended)
        {
            if (!ended)
            {
                Active++;
                if (s.First && s.Vmi != 0 && _perCreated > 0) System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(Created, (s.Account, s.Vmi), out _) += _perCreated;
            }
            writer.Visit(s, ended);
        }
    }

    /// <summary>A chunk of session rows: to the store (when it takes those kinds) and to the line destinations.</summary>
    private void Deliver(FlowBatch rows)
    {
        if (_storeKinds != 0)
        {
            var all = true;
            for (var i = 0; i < rows.Count && all; i++) all = (rows.SessionFlags[i] & _storeKinds) != 0;
            if (all) ToStore(rows, pending: false);
            else
            {
                _filtered.Clear();
                for (var i = 0; i < rows.Count; i++)
                {
                    if ((rows.SessionFlags[i] & _storeKinds) != 0) _filtered.AppendRange(rows, i, 1);
                }
                if (_filtered.Count > 0) ToStore(_filtered, pending: false);
            }
        }
        if (_lines.Count == 0) return;
        for (var i = 0; i < rows.Count; i++)
        {
            var flags = rows.SessionFlags[i];
            string? text = null;
            foreach (var d in _lines)
            {
                if ((flags & d.Kinds) != 0) d.Add(text ??= SessionLine.Text(rows[i], _symbols));
            }
        }
    }

    /// <summary>Appends rows to the sessions store; while it fails they wait (up to <see cref="MaxPendingRows"/>, then are dropped and counted).</summary>
    private void ToStore(FlowBatch rows, bool pending)
    {
        if (!pending && _pendingStore.Count > 0) ToStore(_pendingStore, pending: true);
        if (!pending && _pendingStore.Count > 0)
        {
            Keep(rows);
            return;
        }
        try
        {
            var n = rows.Count;
            Store.Append(rows);
            if (pending) _pendingStore.Clear();
            Interlocked.Add(ref _rowsStored, n);
        }
        catch (IOException e)
        {
            Interlocked.Increment(ref _storeErrors);
            if (!pending) Keep(rows);
            IngestLog.SessionStoreRetrying(_log, e.Message, _pendingStore.Count);
        }
    }

    private void Keep(FlowBatch rows)
    {
        var room = Math.Max(0, MaxPendingRows - _pendingStore.Count);
        var n = Math.Min(room, rows.Count);
        if (n > 0) _pendingStore.AppendRange(rows, 0, n);
        if (rows.Count > n) Interlocked.Add(ref _rowsDropped, rows.Count - n);
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

    /// <summary>Flow rows agents sent and the flow store holds.</summary>
    public long AgentFlowRows => Interlocked.Read(ref _agentFlowRows);

    /// <summary>
    /// Stores an agent's batch of rows (the compact format: session rows and per-port flow rows, read block
    /// by block by <paramref name="read"/>, symbol ids already this server's) durably before returning; a
    /// batch whose sequence number the agent already had stored is acknowledged without storing it again.
    /// Returns the rows stored.
    /// </summary>
    /// <param name="key">The agent the sender's key is bound to: a batch in another agent's name is refused.</param>
    /// <param name="read">Calls its argument with each block of rows: true for session rows, false for flow rows.</param>
    public int IngestRows(string agent, long sequence, long time, string? key, Action<Action<FlowBatch, bool>> read)
    {
        if (key is not null && agent != key) throw new UnauthorizedAccessException($"the batch is agent '{agent}''s, and the key speaks for agent '{key}' only");
        lock (_flushLock)
        {
            if (_agents.Stored(agent) >= sequence)
            {
                Interlocked.Increment(ref _agentDuplicates);
                return 0;
            }
            var since = _agentLastTime.GetValueOrDefault(agent, time - (long)Interval.TotalMicroseconds);
            _agentLastTime[agent] = Math.Max(since, time);
            var created = new Dictionary<(uint Account, uint Vmi), long>();
            long sessionRows = 0, flowRows = 0;
            read((rows, sessions) =>
            {
                if (sessions)
                {
                    for (var i = 0; i < rows.Count; i++)
                    {
                        if (rows.SetupTime[i] > since && rows.Vmi[i] != 0) System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(created, (rows.Account[i], rows.Vmi[i]), out _)++;
                    }
                    Store.Append(rows);
                    sessionRows += rows.Count;
                }
                else
                {
                    if (_flows is null) throw new FormatException("this server keeps no flow rows from agents");
                    _flows.Append(rows);
                    flowRows += rows.Count;
                }
            });
            if (sessionRows > 0) Store.Flush();
            if (flowRows > 0) _flows!.Flush();
            _agents.Save(agent, sequence);
            Interlocked.Add(ref _rowsStored, sessionRows);
            Interlocked.Add(ref _agentFlowRows, flowRows);
            Interlocked.Increment(ref _agentBatches);
            _anomalies.Interval(Collector.NowMicros(), _enricher?.Inventory, created.Select(kv => (kv.Key, kv.Value)));
            return (int)(sessionRows + flowRows);
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
            IngestLog.SessionStoreFailed(_log, e.Message);
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

    public void Send(Microsoft.Extensions.Logging.ILogger log)
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
            IngestLog.SessionLinesRetrying(log, Sink.Describe, e.Message, Pending.Count);
        }
    }
}
