using System.Runtime.InteropServices;
using Flowline.Api;
using Flowline.Collector;

namespace Flowline.Cli.Serve;

/// <summary>`flowline serve`: the collector.</summary>
internal static class ServeCommand
{
    public const string Help = """
        Usage: flowline serve [--config FILE] [--data-dir DIR] [--sflow ADDR:PORT] [--netflow ADDR:PORT]
                              [--ipfix ADDR:PORT] [--http ADDR:PORT] [options]

        Receives sFlow v5, NetFlow v5/v9 and IPFIX over UDP, decodes every datagram, keeps per-exporter
        state (counters, loss from sequence numbers, sampling rates, templates that survive restarts) and
        stores the flows in the embedded store. HTTP: /healthz, /metrics (Prometheus), /api/v1 (flows,
        keys, audit, exporters; signed requests, docs/API.md) and the JCS-compatible DescribeFlowLog at /.
        SIGTERM or Ctrl-C: stop receiving, decode and store what is queued, exit.

        Defaults: sFlow :6343, NetFlow :2055, IPFIX :4739, HTTP :8008 (":PORT" means every IPv4 and IPv6
        address), data in ./data. Settings come from the defaults, then --config FILE (YAML, see
        docs/flowline.example.yaml), then FLOWLINE_* environment variables (FLOWLINE_DATA_DIR,
        FLOWLINE_SFLOW=":6343,127.0.0.1:6344", ...), then these flags:

          --config FILE          YAML settings
          --data-dir DIR         where the store and saved templates live
          --sflow ADDR:PORT      sFlow listener (repeat for several; the first replaces the default)
          --netflow ADDR:PORT    NetFlow v5/v9 listener (repeatable)
          --ipfix ADDR:PORT      IPFIX listener (repeatable)
          --http ADDR:PORT       HTTP listener
          --sockets N            sockets per port (SO_REUSEPORT; default: half the cores, 1 to 4)
          --receive-buffer SIZE  socket receive buffer asked for, e.g. 32m (capped by net.core.rmem_max)
          --queue SIZE           bytes of datagrams queued per socket before dropping (default 64m)
          --inventory FILE       accounts, networks, ports and security groups (YAML or JSON, see
                                 docs/inventory.example.yaml): every record is enriched with account,
                                 network, port, tags, direction, action and rule, and stored once per port
                                 it touches. Re-read when the file changes and on SIGHUP (not under
                                 nohup, which makes SIGHUP ignored); a file with
                                 errors is refused (each error logged with its line) and the inventory
                                 in force stays. A bad file at start stops the start.
          --geo-dir DIR          the @ip-location-db packages (country, asn) for public addresses
                                 (default: FLOWLINE_GEO_DIR, which ./flowline sets to what setup installed)
          --tls-cert FILE        serve HTTPS on the HTTP listener with this certificate: PEM (with its
                                 chain) or PKCS#12 (.pfx/.p12, no password)
          --tls-key FILE         the PEM private key, when it is not in the certificate file
          --sessions on|off|auto stitch flows into sessions every session_interval (2s) and keep them in
                                 DATA_DIR/sessions (default auto: on with an inventory); see docs/SESSIONS.md
          --session-export-rate N  session sampling: at most N sessions/s on average (default 0: all)
          --session-logging R[:N]  log sessions admitted by rule uuid R (or *), the first of every N;
                                 teardowns always (comma-separated for several)
          --anomaly-events-to D  where session rate events of ports marked of_interest in the inventory go
                                 besides DATA_DIR/sessions/anomalies.jsonl and /api/v1/session-anomalies:
                                 file:PATH, syslog:udp://HOST:PORT, syslog:tcp://HOST:PORT (comma-separated)
          --threshold-events-to D  where real-time threshold events go besides GET /events/json:
                                 file:PATH, syslog:udp://HOST:PORT, syslog:tcp://HOST:PORT (comma-separated)
          --event-webhook URL    POST each threshold event as JSON to URL, retried (comma-separated)
          --realtime-max-keys N  flows one real-time flow definition holds at once (default 1000000)
          --session-observation ingress|egress|both
                                 which observations of a packet sessions count (default ingress: records
                                 an exporter reports as egress are left out; Open vSwitch reports both)
          --sampled-sessions-to D, --logged-sessions-to D
                                 destinations, comma-separated: store, file:PATH (JSON lines, rotated),
                                 syslog:udp://HOST:PORT, syslog:tcp://HOST:PORT (RFC 5424); default store
        A port of 0 picks a free one; the ports in use are printed at start.
        """;

    public static int Run(string[] args, TextWriter stderr)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.Out.Write(Help);
            return 0;
        }
        var options = new CollectorOptions();
        try
        {
            var config = Value(args, "--config");
            if (config is not null)
            {
                if (!File.Exists(config)) throw new FormatException($"--config {config}: no such file");
                options.ApplyYaml(config);
            }
            options.ApplyEnvironment(Environment.GetEnvironmentVariable);
            var replaced = new HashSet<string>();
            for (var i = 0; i < args.Length; i++)
            {
                var a = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{a} needs a value");
                var key = a switch
                {
                    "--config" => "",
                    "--data-dir" => "data_dir",
                    "--sflow" => "sflow",
                    "--netflow" => "netflow",
                    "--ipfix" => "ipfix",
                    "--http" => "http",
                    "--sockets" => "sockets_per_port",
                    "--receive-buffer" => "receive_buffer",
                    "--queue" => "queue_bytes",
                    "--inventory" => "inventory",
                    "--geo-dir" => "geo_dir",
                    "--tls-cert" => "tls_certificate",
                    "--scrape-token" => "scrape_token",
                    "--realtime-open-on-loopback" => "realtime_open_on_loopback",
                    "--tls-key" => "tls_key",
                    "--sessions" => "sessions",
                    "--session-export-rate" => "session_export_rate",
                    "--session-logging" => "session_logging",
                    "--session-observation" => "session_observation",
                    "--anomaly-events-to" => "anomaly_events_to",
                    "--threshold-events-to" => "threshold_events_to",
                    "--event-webhook" => "event_webhooks",
                    "--realtime-max-keys" => "realtime_max_keys",
                    "--sampled-sessions-to" => "sampled_sessions_to",
                    "--logged-sessions-to" => "logged_sessions_to",
                    _ => throw new FormatException($"unknown option {a} (see `flowline serve --help`)"),
                };
                var value = Next();
                if (key.Length == 0) continue;
                options.ApplyFlag(key, value, replaceList: replaced.Add(key));
            }
        }
        catch (FormatException e)
        {
            stderr.WriteLine($"flowline serve: {e.Message}");
            return 2;
        }
        ApiOptions apiOptions;
        KeyStore keys;
        try
        {
            apiOptions = new ApiOptions
            {
                JcsTimeZone = ApiOptions.ParseZone(options.JcsTimeZone),
                AdminPassword = options.AdminPasswordHash is { Length: > 0 } hash ? AdminPassword.Parse(hash) : null,
                ScrapeToken = options.ScrapeToken,
                RealtimeOpenOnLoopback = options.RealtimeOpenOnLoopback,
            };
            keys = KeyStore.Open(options.DataDir);
        }
        catch (FormatException e)
        {
            stderr.WriteLine($"flowline serve: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"flowline serve: cannot start: the access keys: {e.Message}");
            return 1;
        }

        System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null;
        if (options.TlsCertificate is { Length: > 0 } certPath)
        {
            try
            {
                certificate = WebHost.LoadCertificate(certPath, options.TlsKey);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
            {
                stderr.WriteLine($"flowline serve: cannot start: the TLS certificate {certPath}: {e.Message}");
                return 2;
            }
        }
        Flowline.Collector.Collector collector;
        try
        {
            collector = new Flowline.Collector.Collector(options, message => stderr.WriteLine($"flowline serve: {message}"));
        }
        catch (Flowline.Enrichment.InventoryException e)
        {
            stderr.WriteLine($"flowline serve: cannot start: the inventory {e.Path} has errors:");
            foreach (var error in e.Errors) stderr.WriteLine($"  {error}");
            return 2;
        }
        catch (InvalidDataException e)
        {
            stderr.WriteLine($"flowline serve: cannot start: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"flowline serve: cannot start: {e.Message}");
            return 1;
        }
        var app = WebHost.Create(options.Http, certificate);
        ServeFaces.Map(app, collector, new RequestGuard(keys), new AuditLog(options.DataDir), apiOptions,
            collector.Inventory is { } watch ? new InventoryAccess(watch.Path, watch.Reload) : null,
            collector.Sessions is { } sessions ? new SessionAccess(sessions.Store, body => sessions.Ingest(body), sessions.Anomalies.Events) : null);
        try
        {
            app.StartAsync().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            stderr.WriteLine($"flowline serve: cannot listen for HTTP on {options.Http}: {e.Message}");
            collector.Dispose();
            return 1;
        }
        collector.Start();

        var stop = new ManualResetEventSlim();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Set(); });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Set(); });
        using var hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c =>
        {
            c.Cancel = true;
            if (collector.Inventory is { } inventory) ThreadPool.QueueUserWorkItem(_ => inventory.Reload("SIGHUP"));
            else stderr.WriteLine("flowline serve: SIGHUP: no inventory configured (--inventory), nothing to reload");
        });

        var output = Console.Out;
        output.WriteLine($"flowline serve: storing in {Path.GetFullPath(options.DataDir)}" +
                         (collector.TemplatesRestored > 0 ? $" ({collector.TemplatesRestored} templates restored)" : ""));
        foreach (var group in collector.Sockets.GroupBy(s => (s.Listener, s.Endpoint)))
        {
            output.WriteLine($"flowline serve: {group.Key.Listener} on udp {group.Key.Endpoint} ({group.Count()} sockets, receive buffer {group.First().ReceiveBuffer / 2 >> 10} KiB each)");
        }
        if (collector.Sessions is { } sessionService)
        {
            output.WriteLine($"flowline serve: sessions every {sessionService.Interval.TotalSeconds:0.###} s into {sessionService.Store.Root}" +
                             string.Concat(sessionService.LineDestinations.Select(d => $", {d.Destination}")));
        }
        foreach (var address in app.Urls) output.WriteLine($"flowline serve: http on {address}");
        output.Flush();

        stop.Wait();
        output.WriteLine("flowline serve: stopping");
        output.Flush();
        using (var httpStop = new CancellationTokenSource(TimeSpan.FromSeconds(2))) app.StopAsync(httpStop.Token).GetAwaiter().GetResult();
        collector.Dispose();
        ((IDisposable)app).Dispose();
        if (collector.RecordsNotStored > 0)
        {
            stderr.WriteLine($"flowline serve: {collector.RecordsNotStored} records could not be stored ({collector.FinalFlushError ?? "the store kept failing"}); see the lines above");
            return 1;
        }
        return 0;
    }

    private static string? Value(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
