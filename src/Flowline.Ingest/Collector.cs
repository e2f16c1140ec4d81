using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Flowline.Query;
using Flowline.Records;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Flowline.Ingest;

/// <summary>
/// `flowline serve` without its HTTP face: listeners (several SO_REUSEPORT sockets per port, each with
/// its own receive queue and decoder), exporter state, template persistence, batching into the
/// embedded store, background compaction, and an orderly stop that loses nothing received.
/// </summary>
public sealed partial class Collector : IDisposable
{
    private readonly List<Pipeline> _pipelines = [];
    private readonly ConcurrentDictionary<ExporterId, ExporterState> _exporters = new();
    private readonly Dictionary<FlowAddress, uint> _sampling = [];
    private readonly ILogger _log, _storeLog;
    private readonly Thread _upkeep;
    private readonly CancellationTokenSource _upkeepStop = new();
    private long _templatesVersion;
    private readonly ConcurrentDictionary<Pipeline, long> _templatesSaved = new();
    private long _appended, _rows, _appendErrors, _lastCommitMicros;
    private int _stopped;

    /// <param name="stores">The flow store, and how to open the sessions' store in a directory (sharing its names): the composition root chooses the engine.</param>
    /// <param name="logs">Where the collector's events go (components collector, enrichment, inventory, store, templates, sessions, forwarding, events, realtime).</param>
    public Collector(CollectorOptions options, FlowStores stores, ILoggerFactory? logs = null)
    {
        Options = options;
        Admission = ExporterAdmission.For(options);
        Logs = logs ?? NullLoggerFactory.Instance;
        _log = Logs.CreateLogger("collector");
        _storeLog = Logs.CreateLogger("store");
        Store = stores.Flows;
        if (options.Inventory is not null)
        {
            try
            {
                var geoDir = Enrichment.GeoDatabase.Locate(options.GeoDir);
                var geo = geoDir is null ? null : Enrichment.GeoDatabase.Load(geoDir, options.GeoFormat);
                var enrichmentLog = Logs.CreateLogger("enrichment");
                if (geo is null) IngestLog.NoGeo(enrichmentLog);
                else
                {
                    IngestLog.GeoLoaded(enrichmentLog, geo.CountryRanges, geo.AsnRanges, geo.Source);
                    if (geo.CountryRanges == 0) IngestLog.GeoPartial(enrichmentLog, geo.Source, "country");
                    if (geo.AsnRanges == 0) IngestLog.GeoPartial(enrichmentLog, geo.Source, "AS");
                }
                Enricher = new Enrichment.Enricher(Store.Symbols, geo);
                var inventoryLog = Logs.CreateLogger("inventory");
                Inventory = new InventoryWatch(options.Inventory, Enricher, inventoryLog);
                IngestLog.InventoryLoaded(inventoryLog, Inventory.Path, InventoryWatch.Describe(Enricher.Inventory));
            }
            catch
            {
                Store.Dispose();
                throw;
            }
        }
        Forwarding = new Forwarding(options.DataDir, Logs.CreateLogger("forwarding"), Enricher);
        RealtimeEvents = new RealtimeEvents(options, Logs.CreateLogger("events"));
        var keys = new Realtime.KeyContext(Store.Symbols, Enricher?.Geo);
        try
        {
            Realtime = new Realtime.RealtimeEngine(options.DataDir, keys, new Realtime.RealtimeOptions { MaxKeys = options.RealtimeMaxKeys, MaxKeysTotal = options.RealtimeMaxKeysTotal }, Logs.CreateLogger("realtime"), RealtimeEvents.Raise);
        }
        catch
        {
            RealtimeEvents.Dispose();
            Forwarding.Dispose();
            Store.Dispose();
            throw;
        }
        RealtimeFeed = new Realtime.RealtimeFeed(Realtime, NowMicros);
        if (Enricher is null) LoadGeoForKeys(keys, options.GeoDir);
        foreach (var (address, rate) in options.SamplingOverrides) _sampling[FlowAddress.FromIPAddress(address)] = rate;
        try
        {
            var taken = new Dictionary<int, (string Name, IPEndPoint Endpoint)>();
            foreach (var (name, endpoints) in new[] { ("sflow", options.Sflow), ("netflow", options.Netflow), ("ipfix", options.Ipfix) })
            {
                foreach (var endpoint in endpoints)
                {
                    // Two listeners of this collector on one port would share its sockets (SO_REUSEPORT) and split the datagrams.
                    if (endpoint.Port != 0 && taken.TryGetValue(endpoint.Port, out var other)
                        && (other.Endpoint.Address.Equals(endpoint.Address) || AnyAddress(other.Endpoint.Address) || AnyAddress(endpoint.Address)))
                    {
                        throw new IOException(other.Name == name
                            ? $"{name}: udp {endpoint} is given twice"
                            : $"{other.Name} on udp {other.Endpoint} and {name} on udp {endpoint}: each listener needs a port of its own");
                    }
                    if (endpoint.Port != 0) taken[endpoint.Port] = (name, endpoint);
                    // Collectors of one shared store (ClickHouse) share ports on purpose: templates go through the store.
                    if (Store.Shared is null) DatagramReceiver.CheckFree(endpoint, name);
                    for (var i = 0; i < options.SocketsPerPort; i++)
                    {
                        // The first socket fixes the port (it may have been 0: any free port); the others join it.
                        var bind = i == 0 ? endpoint : new IPEndPoint(endpoint.Address, _pipelines[^1].LocalEndPoint.Port);
                        try
                        {
                            _pipelines.Add(new Pipeline(this, name, _pipelines.Count, bind, options));
                        }
                        catch (System.Net.Sockets.SocketException e)
                        {
                            // Named, as the HTTP listener's is: an address not on this host, a family the host lacks.
                            throw new IOException($"{name}: cannot listen on udp {bind}: {e.Message}"
                                + (e.SocketErrorCode == System.Net.Sockets.SocketError.AddressNotAvailable ? " (the address is not one of this host's)" : ""), e);
                        }
                    }
                }
            }
        }
        catch
        {
            foreach (var p in _pipelines) p.Dispose();
            RealtimeFeed.Dispose();
            Store.Dispose();
            throw;
        }
        if (options.SessionsEnabled)
        {
            try
            {
                Sessions = new SessionService(options, stores.Sessions, Store.Symbols, _pipelines.Count, Logs.CreateLogger("sessions"), enricher: Enricher, flows: Store);
            }
            catch
            {
                foreach (var p in _pipelines) p.Dispose();
                RealtimeFeed.Dispose();
                Store.Dispose();
                throw;
            }
        }
        var restored = 0;
        var templatesLog = Logs.CreateLogger("templates");
        // Each decoder loads the same files: a damaged one is reported once, by the first.
        foreach (var p in _pipelines) restored = TemplateFiles.Load(options.DataDir, p.Decoder.Templates, p == _pipelines[0] ? templatesLog : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        TemplatesRestored = restored;
        _upkeep = new Thread(Upkeep) { IsBackground = true, Name = "flowline-upkeep" };
        _upkeep.Start();
    }

    /// <summary>Without an inventory the address database is not loaded for enrichment; country: and asn: keys still want it (loaded in the background).</summary>
    private void LoadGeoForKeys(Realtime.KeyContext keys, string? configured)
    {
        var dir = Enrichment.GeoDatabase.Locate(configured);
        if (dir is null) return;
        _ = Task.Run(() =>
        {
            try
            {
                keys.Geo = Enrichment.GeoDatabase.Load(dir, Options.GeoFormat);
            }
            catch (Exception e) when (e is IOException or FormatException or InvalidDataException or UnauthorizedAccessException)
            {
                IngestLog.GeoUnreadable(Logs.CreateLogger("realtime"), dir, e.Message);
            }
        });
    }

    public CollectorOptions Options { get; }
    /// <summary>Where the collector's events go.</summary>
    public ILoggerFactory Logs { get; }
    /// <summary>The allow-list and the sFlow agent check, with what they refused.</summary>
    public ExporterAdmission Admission { get; }
    /// <summary>Exporters forgotten: beyond <see cref="CollectorOptions.MaxExporters"/>, or idle for <see cref="CollectorOptions.ExporterIdle"/>.</summary>
    public long ExportersEvicted => Interlocked.Read(ref _exportersEvicted);
    public IFlowStore Store { get; }
    /// <summary>Tenancy enrichment, when an inventory is configured.</summary>
    public Enrichment.Enricher? Enricher { get; }
    public InventoryWatch? Inventory { get; }
    /// <summary>Sessionizing and the sessions store, when enabled (<see cref="CollectorOptions.SessionsEnabled"/>).</summary>
    public SessionService? Sessions { get; }
    /// <summary>Copies of the received datagrams to other analyzers (sFlow-RT's /forwarding).</summary>
    public Forwarding Forwarding { get; }
    /// <summary>sFlow-RT-style analytics on the decoded stream: flow definitions, counter metrics, thresholds.</summary>
    public Realtime.RealtimeEngine Realtime { get; }
    public RealtimeEvents RealtimeEvents { get; }
    /// <summary>The flow definitions' own thread, fed by the decoders.</summary>
    public Realtime.RealtimeFeed RealtimeFeed { get; }
    /// <summary>Rows stored: records, plus one more for each flow between two ports.</summary>
    public long RowsStored => Interlocked.Read(ref _rows);
    public int TemplatesRestored { get; }
    public IReadOnlyList<(string Listener, IPEndPoint Endpoint, int ReceiveBuffer)> Sockets =>
        _pipelines.Select(p => (p.Listener, p.LocalEndPoint, p.ReceiveBufferBytes)).ToList();
    public ICollection<ExporterState> Exporters => _exporters.Values;
    public long RecordsStored => Interlocked.Read(ref _appended);
    public long StoreErrors => Interlocked.Read(ref _appendErrors);
    public long Datagrams => _pipelines.Sum(p => p.Received);

    /// <summary>Records decoded, from every exporter heard since start, those forgotten since included.</summary>
    public long RecordsDecoded => _exporters.Values.Sum(e => e.Records) + Interlocked.Read(ref _forgottenRecords);
    public long QueueDrops => _pipelines.Sum(p => p.QueueDrops);
    public long QueueDepth => _pipelines.Sum(p => p.QueueDepth);
    internal IReadOnlyList<Pipeline> Pipelines => _pipelines;

    /// <summary>The decoders' template caches together: scopes held, templates, held data bytes, and what their limits evicted or refused.</summary>
    public TemplateCounters Templates
    {
        get
        {
            var t = new TemplateCounters();
            foreach (var p in _pipelines)
            {
                var c = p.Decoder.Templates;
                t = new TemplateCounters(t.Scopes + c.Exporters.Count, t.Templates + c.TemplateTotal, t.PendingBytes + c.PendingBytesTotal,
                    t.ScopesEvicted + c.ScopesEvicted, t.TemplatesRefused + c.TemplatesRefused, t.PendingRefused + c.PendingRefused,
                    t.SamplersRefused + c.SamplersRefused, t.PendingExpired + c.PendingExpired, t.PendingDropped + c.PendingDropped);
            }
            return t;
        }
    }

    /// <summary>Each receiving socket's counters, for the self-metrics.</summary>
    public IEnumerable<SocketCounters> SocketCounters =>
        _pipelines.Select(p => new SocketCounters(p.Listener, p.Index, p.Received, p.QueueDrops, p.QueueDepth, p.QueueCapacity, p.LastBatchSeconds));
    /// <summary>Microseconds since the last successful hand-over to the store.</summary>
    public double StoreLagSeconds => Volatile.Read(ref _lastCommitMicros) == 0 ? 0 : (NowMicros() - Volatile.Read(ref _lastCommitMicros)) / 1e6;

    private static bool AnyAddress(IPAddress a) => a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any);

    public static long NowMicros() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    public void Start()
    {
        foreach (var p in _pipelines) p.Start();
        // The store's spare blocks are made ready while nothing arrives yet: a burst right after the start
        // then fills memory that is already the process's own.
        _ = Task.Run(Store.Prepare);
    }

    /// <summary>Stores a decoder's batch of <paramref name="count"/> records; returns the (empty) batch to fill next.</summary>
    internal FlowBatch Append(FlowBatch batch, long count)
    {
        while (true)
        {
            try
            {
                var rows = batch.Count;
                var next = Store.Hand(batch);
                if (Interlocked.Exchange(ref _retryLogged, 0) != 0) IngestLog.StoreRecovered(_storeLog);
                Interlocked.Add(ref _appended, count);
                Interlocked.Add(ref _rows, rows);
                Volatile.Write(ref _lastCommitMicros, NowMicros());
                return next;
            }
            catch (IOException e)
            {
                // A full or failing disk: keep the batch and retry; the socket reader keeps queueing (and
                // counting drops once the queue is full), so nothing is silently lost. At shutdown the
                // retries end at a deadline, and what could not be stored is counted and reported.
                Interlocked.Increment(ref _appendErrors);
                var deadline = Volatile.Read(ref _giveUpAt);
                if (deadline != 0 && Stopwatch.GetTimestamp() >= deadline)
                {
                    Interlocked.Add(ref _unstored, count);
                    IngestLog.StoreGaveUp(_storeLog, e.Message, count);
                    batch.Clear();
                    return batch;
                }
                // Said when it starts and once a minute while it lasts (each decoder retries every second).
                var now = Environment.TickCount64;
                var last = Interlocked.Read(ref _retryLogged);
                if ((last == 0 || now - last >= 60_000) && Interlocked.CompareExchange(ref _retryLogged, now, last) == last) IngestLog.StoreRetrying(_storeLog, e.Message);
                Thread.Sleep(1000);
            }
        }
    }

    /// <summary>How long a shutdown keeps retrying a failing store before it gives up and reports what it could not store.</summary>
    public static readonly TimeSpan ShutdownRetries = TimeSpan.FromSeconds(5);
    private long _giveUpAt, _unstored;
    /// <summary>When the store's failure was last logged (<see cref="Environment.TickCount64"/>), 0 while it works.</summary>
    private long _retryLogged;

    /// <summary>Records decoded but not stored because the store failed until the shutdown deadline (0 normally).</summary>
    public long RecordsNotStored => Interlocked.Read(ref _unstored);

    /// <summary>The store's last error when the final flush failed, or null.</summary>
    public string? FinalFlushError { get; private set; }

    internal void TemplatesChanged() => Interlocked.Increment(ref _templatesVersion);

    /// <summary>Template files are rewritten at most this often while templates change (and at every stop).</summary>
    public static readonly TimeSpan TemplateSaveInterval = TimeSpan.FromSeconds(10);

    /// <summary>Saves the decoder's templates if they changed and the last save is <see cref="TemplateSaveInterval"/> old; true while a change is left unsaved.</summary>
    internal bool MaybeSaveTemplates(Pipeline p)
    {
        var version = Interlocked.Read(ref _templatesVersion);
        if (_templatesSaved.TryGetValue(p, out var saved) && saved == version) return false;
        if (version == 0 && TemplatesRestored == 0) return false;
        if (_templatesSavedAt.TryGetValue(p, out var at) && Stopwatch.GetElapsedTime(at) < TemplateSaveInterval) return true;
        SaveTemplates(p);
        return false;
    }

    private readonly ConcurrentDictionary<Pipeline, long> _templatesSavedAt = new();

    internal void SaveTemplates(Pipeline p)
    {
        var version = Interlocked.Read(ref _templatesVersion);
        try
        {
            TemplateFiles.Save(Options.DataDir, p.Index, p.Decoder.Templates);
            _templatesSaved[p] = version;
            _templatesSavedAt[p] = Stopwatch.GetTimestamp();
        }
        catch (IOException e)
        {
            IngestLog.TemplatesNotSaved(Logs.CreateLogger("templates"), e.Message);
        }
    }

    /// <summary>How often upkeep looks for work when it found none.</summary>
    private static readonly TimeSpan UpkeepIdle = TimeSpan.FromSeconds(5);

    /// <summary>How often idle exporters are looked for.</summary>
    private static readonly TimeSpan EvictionInterval = TimeSpan.FromSeconds(30);

    /// <summary>How often retention is applied.</summary>
    private static readonly TimeSpan RetentionInterval = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The background thread of upkeep, at a lower CPU and I/O priority than ingest: idle exporters are
    /// forgotten, retention is applied every minute, and compaction goes on step by step while it finds
    /// work (docs/STORE.md).
    /// </summary>
    private void Upkeep()
    {
        BackgroundPriority.Apply();
        var cancel = _upkeepStop.Token;
        var nextRetention = DateTime.UtcNow;
        var nextEviction = DateTime.UtcNow;
        var nextShare = DateTime.UtcNow;
        while (!cancel.IsCancellationRequested)
        {
            if (DateTime.UtcNow >= nextShare)
            {
                ShareTemplates();
                nextShare = DateTime.UtcNow + ShareInterval;
            }
            if (DateTime.UtcNow >= nextEviction)
            {
                EvictIdleExporters(NowMicros());
                nextEviction = DateTime.UtcNow + EvictionInterval;
            }
            Report();
            if (DateTime.UtcNow >= nextRetention)
            {
                ApplyRetention();
                nextRetention = DateTime.UtcNow + RetentionInterval;
            }
            var busy = false;
            try
            {
                busy = Store.Maintain(Options.CompactAfter, cancel, m => IngestLog.Compacted(_storeLog, "flows", m));
                if (Sessions is { } sessions) busy |= sessions.Store.Maintain(Options.CompactAfter, cancel, m => IngestLog.Compacted(_storeLog, "sessions", m));
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (Exception e)
            {
                // Whatever a pass meets (a full disk, a damaged file), the collector goes on and the pass is
                // tried again: this thread must never take the process down.
                Interlocked.Increment(ref _upkeepErrors);
                IngestLog.CompactionFailed(_storeLog, e.GetType().Name, e.Message);
            }
            if (!busy) cancel.WaitHandle.WaitOne(UpkeepIdle);
        }
    }

    private long _upkeepErrors;

    /// <summary>Upkeep passes that failed (compaction or retention; retried at the next pass).</summary>
    public long UpkeepErrors => Interlocked.Read(ref _upkeepErrors);

    /// <summary>Removes the partitions of flows and sessions that ended before the retention window; logged.</summary>
    internal void ApplyRetention()
    {
        var cutoff = NowMicros() - (long)Options.Retention.TotalMicroseconds;
        try
        {
            var arrived = Store.ExpiredOnArrival;
            var flows = Store.Expire(cutoff);
            var sessions = Sessions?.Store.Expire(cutoff) ?? 0;
            if (flows + sessions > 0)
            {
                var before = DateTime.UnixEpoch.AddTicks(cutoff * 10).ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture);
                IngestLog.RetentionApplied(_storeLog, flows, sessions, before, Durations.Format(Options.Retention));
                if (Store.ExpiredOnArrival - arrived is > 0 and var late) IngestLog.ExpiredOnArrival(_storeLog, late, before, Durations.Format(Options.Retention));
            }
        }
        catch (Exception e) when (e is not ObjectDisposedException)
        {
            Interlocked.Increment(ref _upkeepErrors);
            IngestLog.RetentionFailed(_storeLog, e.GetType().Name, e.Message);
        }
    }

    /// <summary>Stops reading, decodes what is queued, stores it durably and saves templates.</summary>
    public void Stop()
    {
        if (Interlocked.CompareExchange(ref _stopped, 1, 0) != 0) return;
        _upkeepStop.Cancel();
        _upkeep.Join();
        var watch = Stopwatch.StartNew();
        Volatile.Write(ref _giveUpAt, Stopwatch.GetTimestamp() + (long)(ShutdownRetries.TotalSeconds * Stopwatch.Frequency));
        foreach (var p in _pipelines) p.Stop();
        RealtimeFeed.Dispose();
        Sessions?.Stop();
        try
        {
            Store.Flush();
        }
        catch (IOException e)
        {
            FinalFlushError = e.Message;
            var lost = Store.DiscardUnflushed();
            Interlocked.Add(ref _unstored, lost);
            Interlocked.Add(ref _appended, -lost);
            IngestLog.StoreNotDurable(_storeLog, e.Message, lost);
        }
        Report(final: true);
        var decoded = RecordsDecoded;
        var unstored = RecordsNotStored > 0 ? $", {RecordsNotStored} records NOT stored (store failing)" : "";
        IngestLog.Stopped(_log, Datagrams, decoded, RecordsStored, QueueDrops, unstored, Math.Round(watch.Elapsed.TotalSeconds, 2));
        Volatile.Write(ref _stopped, 2);
    }

    public void Dispose()
    {
        Inventory?.Dispose();
        Stop();
        Sessions?.Dispose();
        Forwarding.Dispose();
        RealtimeEvents.Dispose();
        try
        {
            Store.Dispose();
        }
        catch (IOException)
        {
            // Reported by Stop (FinalFlushError, RecordsNotStored).
        }
    }
}

/// <summary>The template caches' sizes and what their limits evicted or refused (<see cref="Wire.DecodeLimits"/>).</summary>
public readonly record struct TemplateCounters(long Scopes, long Templates, long PendingBytes, long ScopesEvicted, long TemplatesRefused, long PendingRefused, long SamplersRefused, long PendingExpired, long PendingDropped);

/// <summary>One receiving socket: datagrams received, dropped because its queue was full, waiting, the queue's size, and the last batch's store time.</summary>
public readonly record struct SocketCounters(string Listener, int Index, long Received, long QueueDrops, long QueueDepth, long QueueCapacity, double LastBatchSeconds);

/// <summary>The stores the collector writes: flows, and the sessions' store opened in a directory of its own with the same names.</summary>
public sealed record FlowStores(IFlowStore Flows, Func<string, IFlowStore> Sessions);
