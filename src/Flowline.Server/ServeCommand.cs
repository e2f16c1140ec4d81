using System.Runtime.InteropServices;
using Flowline.Api;
using Flowline.Ingest;
using Flowline.Records;
using Flowline.Server.Logging;
using Flowline.Storage.ClickHouse;
using Flowline.Storage.Embedded;
using Flowline.Taas;

namespace Flowline.Server;

/// <summary>`flowline serve`: the collector.</summary>
public static class ServeCommand
{
    public static string Help => """
        Usage: flowline serve [--config FILE] [--data-dir DIR] [--sflow ADDR:PORT] [--netflow ADDR:PORT]
                              [--ipfix ADDR:PORT] [--http ADDR:PORT] [options]

        Receives sFlow v5, NetFlow v5/v9 and IPFIX over UDP, decodes every datagram, keeps per-exporter
        state (counters, loss from sequence numbers, sampling rates, templates that survive restarts) and
        stores the flows in the embedded store. HTTP, every route behind its declared door (docs/API.md):
        /healthz, /metrics and /api/v1/exporters (open); /api/v1 (flows, query, sessions, inventory, keys,
        audit, tenants' own real-time flows), the JCS-compatible DescribeFlowLog at / and the Contrail
        /analytics query (signed, scoped to the key's account); sFlow-RT's REST API (docs/ANALYTICS.md:
        an admin key, the scrape_token for reads, or loopback with realtime_open_on_loopback).
        SIGTERM or Ctrl-C: stop receiving, decode and store what is queued, exit. SIGHUP: re-read the
        inventory (not under nohup, which makes SIGHUP ignored).

        Settings come from the defaults, then --config FILE (YAML, see docs/flowline.example.yaml), then
        the FLOWLINE_* variables, then these flags. Each setting is a YAML key, a variable and a flag:
        --data-dir DIR is data_dir: DIR and FLOWLINE_DATA_DIR=DIR. Lists are comma-separated in variables
        and flags. Durations: 500ms, 2s, 5m, 1h, 15d. Sizes: 1048576, 512k, 32m, 1g. An unknown key or
        flag is refused; a FLOWLINE_* variable no setting reads is named in a warning at start.

          --config FILE                YAML settings (docs/flowline.example.yaml)

        """ + ServeSettings.Help() + """
        A port of 0 picks a free one; the ports in use are printed at start.
        """;

    public static int Run(string[] args, TextWriter stderr)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            HelpText.Print(Console.Out, Help);
            return 0;
        }
        ServeOptions serve;
        try
        {
            serve = ServeOptionsReader.Read(args, Environment.GetEnvironmentVariable);
        }
        catch (FormatException e)
        {
            stderr.WriteLine($"flowline serve: {e.Message}");
            return 2;
        }
        // Settings that cannot work together, said before anything starts.
        string? conflict = File.Exists(serve.Collector.DataDir) ? $"data_dir {serve.Collector.DataDir} is a file, not a directory"
            : serve.TlsKey is { Length: > 0 } && serve.TlsCertificate is not { Length: > 0 } ? "tls_key is given without tls_certificate: serve would answer plain HTTP (give both, or neither)"
            : null;
        if (conflict is not null)
        {
            stderr.WriteLine($"flowline serve: {conflict}");
            return 2;
        }
        var options = serve.Collector;
        using var logs = new LineLoggerProvider(stderr, serve.LogFormat, serve.LogLevel);
        var log = logs.CreateLogger("serve");
        ServeLog.Starting(log, typeof(ServeCommand).Assembly.GetName().Version?.ToString() ?? "?", Environment.ProcessId, LogSettings.Name(serve.LogLevel));
        foreach (var (name, meant) in ServeOptionsReader.UnknownVariables(Environment.GetEnvironmentVariables().Keys.Cast<string>()))
        {
            ServeLog.UnknownVariable(log, name, meant is null ? "" : $" (did you mean {meant}?)");
        }
        ApiOptions apiOptions;
        KeyStore keys;
        try
        {
            apiOptions = new ApiOptions
            {
                JcsTimeZone = ApiOptions.ParseZone(serve.JcsTimeZone),
                AdminPassword = serve.AdminPasswordHash is { Length: > 0 } hash ? AdminPassword.Parse(hash) : null,
                ScrapeToken = serve.ScrapeToken,
                RealtimeOpenOnLoopback = serve.RealtimeOpenOnLoopback,
                MaxRequestBody = serve.MaxRequestBody,
                MaxUploadBody = serve.MaxUploadBody,
            };
            keys = KeyStore.Open(options.DataDir, serve.KeyFile);
        }
        catch (FormatException e)
        {
            ServeLog.CannotStart(log, e.Message);
            return 2;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            ServeLog.CannotStart(log, $"the access keys: {e.Message}");
            return 1;
        }

        System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null;
        if (serve.TlsCertificate is { Length: > 0 } certPath)
        {
            try
            {
                certificate = WebHost.LoadCertificate(certPath, serve.TlsKey);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
            {
                ServeLog.CannotStart(log, $"the TLS certificate {certPath}: {e.Message}");
                return 2;
            }
        }
        Flowline.Ingest.Collector collector;
        var storeLog = logs.CreateLogger("store");
        void Quarantined(string path, string reason) => ServeLog.Quarantined(storeLog, reason);
        try
        {
            // One compaction runs at a time; the sessions' store, smaller, takes a quarter of the budget. Its
            // commits are sorted as they are written all the same: sorting them into runs later cost the
            // upkeep thread 3.6 s of CPU a million session rows (docs/PERFORMANCE.md, sessions at scale).
            var budget = options.CompactionMemory;
            if (!serve.Collect)
            {
                // An API node: no listeners, no sessions of its own; the store is only read.
                options.Sflow = [];
                options.Netflow = [];
                options.Ipfix = [];
                options.Sessions = "off";
            }
            Flowline.Query.IFlowStore flows = serve.ClickHouse is { } clickhouse
                ? new ClickHouseStore(clickhouse with
                {
                    SpoolDirectory = Path.Combine(options.DataDir, "clickhouse-spool"), ReadOnly = !serve.Collect,
                    // `flowline clickhouse init` makes the tables: a mistyped database is refused, not made for no reader.
                    CreateTables = false,
                    ShardFailing = (shard, problem) => ServeLog.ShardFailing(storeLog, shard, problem),
                    ShardRecovered = (shard, blocks, rows) => ServeLog.ShardRecovered(storeLog, shard, blocks, rows),
                })
                : new EmbeddedStore(options.DataDir, new EmbeddedStoreOptions { CompactionMemory = budget - budget / 4, PartitionWidth = options.PartitionWidth, ReadOnly = !serve.Collect, Quarantined = Quarantined });
            var stores = new FlowStores(flows, dir => new EmbeddedStore(dir, new EmbeddedStoreOptions { Symbols = flows.Symbols, CompactionMemory = budget / 4, SortCommits = true, Quarantined = Quarantined }));
            collector = new Flowline.Ingest.Collector(options, stores, logs);
        }
        catch (Flowline.Enrichment.InventoryException e)
        {
            ServeLog.CannotStart(log, $"the inventory {e.Path} has errors: {string.Join("; ", e.Errors)}");
            return 2;
        }
        catch (Exception e) when (e is InvalidDataException or InvalidOperationException)
        {
            ServeLog.CannotStart(log, e.Message);
            return 2;
        }
        catch (ClickHouseException e)
        {
            // 81 UNKNOWN_DATABASE, 60 UNKNOWN_TABLE.
            var hint = e.Code is 81 or 60 && serve.ClickHouse is { } missing
                ? $" (make the tables with `flowline clickhouse init --store '{ClickHouseLocation.Describe(missing)}'`, or mind the database's name)" : "";
            ServeLog.CannotStart(log, $"the ClickHouse store: {e.Message}{hint}");
            return 1;
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or UnauthorizedAccessException)
        {
            ServeLog.CannotStart(log, e.Message);
            return 1;
        }
        if (serve.Collect)
        {
            // State files (templates, keys, real-time definitions, taps ...) half-written when a run was killed; the
            // store's own day directories it cleans itself.
            var removed = AtomicFile.RemoveAbandoned(options.DataDir, subdirectories: true, skip: d => Path.GetFileName(d) is { Length: 8 } n && n.All(char.IsAsciiDigit));
            if (removed > 0) ServeLog.TemporariesRemoved(log, removed, options.DataDir);
        }
        var app = WebHost.Create(serve.Http, certificate, Math.Max(serve.MaxRequestBody, serve.MaxUploadBody), logs);
        TapState taps;
        try
        {
            taps = new TapState(Path.Combine(options.DataDir, "taas.json"));
        }
        catch (InvalidDataException e)
        {
            ServeLog.CannotStart(log, $"the taps: {e.Message}");
            collector.Dispose();
            return 2;
        }
        var ports = TapPorts(collector.Enricher);
        Flowline.Mitigation.Ddos.DdosService? ddos = null;
        if (serve.Ddos.Mode != Flowline.Mitigation.Ddos.DdosMode.Off)
        {
            var enricher = collector.Enricher;
            ddos = new Flowline.Mitigation.Ddos.DdosService(serve.Ddos, () => enricher?.Inventory ?? Flowline.Enrichment.Inventory.Empty, options.DataDir,
                () => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000, collector.RealtimeEvents.Raise, logs);
            collector.Realtime.Observe(ddos.Detector);
            if (ddos.BlocklistProblem is { } problem)
            {
                // At start there is no list in force to keep: running without the one asked for would block nothing in silence.
                ServeLog.CannotStart(log, $"the DDoS block list {serve.Ddos.Blocklist}: {problem}");
                collector.Dispose();
                return 2;
            }
        }
        var tapDriver = new TapDriver(taps, serve.TaasOvsdb, ports, logs.CreateLogger("taas"));
        ServeFaces.Map(app, collector, new RequestGuard(keys), new AuditLog(options.DataDir), apiOptions,
            collector.Inventory is { } watch ? new InventoryAccess(watch.Path, watch.Reload) : null,
            collector.Sessions is { } sessions ? new SessionAccess(sessions.Store, (body, agent) => IngestAgentBatch(sessions, body, agent), sessions.Anomalies.Events) : null,
            new TaasAccess(taps, ports, () => tapDriver.Counters), ddos);
        try
        {
            app.StartAsync().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            ServeLog.CannotStart(log, $"cannot listen for HTTP on {serve.Http}: {e.Message}");
            collector.Dispose();
            return 1;
        }
        collector.Start();
        tapDriver.Start();
        ddos?.Start();

        var stop = new ManualResetEventSlim();
        var signal = "SIGTERM";
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Set(); });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; signal = "SIGINT"; stop.Set(); });
        using var hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c =>
        {
            c.Cancel = true;
            if (collector.Inventory is { } inventory) ThreadPool.QueueUserWorkItem(_ => inventory.Reload("SIGHUP"));
            else ServeLog.HangupIgnored(log);
        });

        ServeLog.Storing(log, serve.ClickHouse is { } where ? ClickHouseLocation.Describe(where) + (serve.Collect ? "" : " (read only: an API node)") : Path.GetFullPath(options.DataDir), collector.TemplatesRestored > 0 ? $" ({collector.TemplatesRestored} templates restored)" : "");
        foreach (var group in collector.Sockets.GroupBy(s => (s.Listener, s.Endpoint)))
        {
            ServeLog.Listening(log, group.Key.Listener, group.Key.Endpoint.ToString(), group.Count(), group.First().ReceiveBuffer / 2 >> 10);
        }
        if (serve.Collect && !collector.Sockets.Any()) ServeLog.NoListeners(log);
        if (collector.Sessions is { } sessionService)
        {
            ServeLog.Sessions(log, Math.Round(sessionService.Interval.TotalSeconds, 3), sessionService.Root,
                string.Concat(sessionService.LineDestinations.Select(d => $", {d.Destination}")));
        }
        if (ddos is not null)
        {
            ServeLog.Ddos(log, Flowline.Mitigation.Ddos.DdosOptions.Name(serve.Ddos.Mode), ddos.Protected.Addresses, ddos.Protected.Prefixes,
                serve.Ddos.Neighbors.Count == 0 ? "no BGP neighbours (ddos_neighbors): rules are listed, not announced" : $"FlowSpec to {string.Join(", ", serve.Ddos.Neighbors.Select(n => $"{n.Name} (AS {n.As})"))} as AS {serve.Ddos.Local.As}");
        }
        foreach (var address in app.Urls) ServeLog.Http(log, address);

        stop.Wait();
        ServeLog.Stopping(log, signal);
        using (var httpStop = new CancellationTokenSource(TimeSpan.FromSeconds(2))) app.StopAsync(httpStop.Token).GetAwaiter().GetResult();
        tapDriver.DisposeAsync().AsTask().GetAwaiter().GetResult();
        ddos?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        collector.Dispose();
        ((IDisposable)app).Dispose();
        if (collector.RecordsNotStored > 0)
        {
            ServeLog.NotStored(log, collector.RecordsNotStored, collector.FinalFlushError ?? "the store kept failing");
            ServeLog.Exit(log, 1);
            return 1;
        }
        ServeLog.Exit(log, 0);
        return 0;
    }

    /// <summary>The inventory's ports as the tap face and driver need them (the inventory in force, looked up by uuid).</summary>
    private static Func<string, TapPort?> TapPorts(Flowline.Enrichment.Enricher? enricher)
    {
        var gate = new Lock();
        Flowline.Enrichment.Inventory? seen = null;
        Dictionary<string, Flowline.Enrichment.Port> byId = [];
        return id =>
        {
            if (enricher?.Inventory is not { } inventory) return null;
            lock (gate)
            {
                if (!ReferenceEquals(inventory, seen))
                {
                    byId = inventory.Ports.GroupBy(p => p.Uuid, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.First(), StringComparer.OrdinalIgnoreCase);
                    seen = inventory;
                }
                return byId.TryGetValue(id, out var p) ? new TapPort(p.Uuid, p.Account, p.Interface, p.PortSecurityEnabled) : null;
            }
        };
    }

    /// <summary>An agent's batch: the compact format (session and flow rows) or seed 001's JSON (older agents).</summary>
    private static int IngestAgentBatch(Flowline.Ingest.SessionService sessions, byte[] body, string agent)
    {
        if (!Flowline.Storage.Agents.AgentBatch.IsBatch(body)) return sessions.Ingest(body, agent);
        var h = Flowline.Storage.Agents.AgentBatch.ReadHeader(body, out _);
        return sessions.IngestRows(h.Agent, h.Sequence, h.Time, agent,
            rows => Flowline.Storage.Agents.AgentBatch.Read(body, sessions.Root, sessions.Store.Symbols, rows));
    }
}
