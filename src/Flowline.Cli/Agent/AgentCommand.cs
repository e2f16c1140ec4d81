using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Flowline.Api;
using Flowline.Ingest;
using Flowline.Sessions;
using Flowline.Storage;
using Flowline.Storage.Agents;
using Flowline.Wire;
using Flowline.Records;

namespace Flowline.Cli.Agent;

/// <summary>
/// `flowline agent`: on a compute node, reads the local vswitch's IPFIX / NetFlow / sFlow, enriches the
/// records, stitches sessions and ships the session rows and the per-port flow rows to the collector in
/// the compact batch format (<see cref="AgentBatch"/>) every interval, or sooner when a batch is full. Each
/// batch is written to the backlog directory first and deleted only once the collector said it stored it,
/// so a collector away (or an agent restart) loses nothing while the backlog has room.
/// </summary>
public static class AgentCommand
{
    public const string Help = """
        flowline agent --collector URL --key-id ID --secret-file FILE [options]

        Runs on a compute node: receives the local switch's flow export on loopback, enriches it with the
        inventory, stitches forward and reverse flows into sessions (seed 001) and sends the collector the
        session rows and the per-port flow rows (what DescribeFlowLog and /api/v1/flows serve) in a compact
        columnar batch (about 20-40 bytes a session) every interval, or sooner when --batch-rows are
        waiting, signed with an agent key bound to its --name (`flowline keys create --account ACC --agent
        NAME`); the collector runs with sessions on (`serve --sessions on`). Batches wait in the backlog
        directory until the collector has stored them: nothing is lost while it is away, up to the backlog's
        size (then the oldest are dropped, counted and logged). What the agent holds in memory between two
        batches (at most one interval) is lost if it is killed.

          --collector URL        the collector's HTTP address, e.g. http://10.0.0.5:8008
          --key-id ID            agent access key id (made with --agent NAME, the same NAME as --name)
          --secret-file FILE     file holding the key's secret (or FLOWLINE_AGENT_SECRET)
          --ipfix ADDR:PORT      IPFIX listener (default 127.0.0.1:4739)
          --netflow ADDR:PORT    NetFlow v5/v9 listener (default none)
          --sflow ADDR:PORT      sFlow listener (default none)
          --inventory FILE       enrich with ports, networks, tags and rules before stitching
          --interval DURATION    how often batches are made (default 2s)
          --backlog DIR          where batches wait (default ./agent-backlog)
          --backlog-max SIZE     the backlog's size at most (default 256m)
          --name NAME            this agent's name (default the host name)
          --export-rate N        session sampling: at most N sessions/s (default 0: all)
          --max-sessions N       open sessions held at most (default 32768, about 300 bytes each); past
                                 it the least recently used are forgotten, or exported early
          --batch-rows N         a batch is sent once this many rows wait (default 100000)
          --no-flows             send sessions only, not the per-port flow rows
          --session-logging R[:N]  log sessions of rule R (or *), the first of every N
          --session-observation auto|ingress|egress|both
                                 which observations of a packet count (default auto: each direction counts
                                 the records reported as ingress if it has any, else the egress ones)
          --log-format text|json events on stderr as text lines (default) or JSON (docs/OPERATIONS.md)
          --log-level LEVEL      trace, debug, info (default), warn, error, critical or none
        """;

    public static int Run(string[] args, TextWriter stderr)
    {
        if (args.Length == 0 || args.Contains("--help") || args.Contains("-h"))
        {
            HelpText.Print(Console.Out, Help);
            return args.Length == 0 ? 2 : 0;
        }
        var listeners = new List<(string Kind, IPEndPoint Endpoint)>();
        string? collector = null, keyId = null, secretFile = null, inventory = null, name = Environment.MachineName;
        var interval = TimeSpan.FromSeconds(2);
        var backlog = "agent-backlog";
        long backlogMax = 256L << 20;
        double exportRate = 0;
        var logging = new List<SessionLogRule>();
        var observation = SessionObservation.Auto;
        var maxSessions = 32_768;
        var batchRows = 100_000;
        var flows = true;
        var logFormat = Flowline.Server.Logging.LogFormat.Text;
        var logLevel = Microsoft.Extensions.Logging.LogLevel.Information;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                var a = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{a} needs a value");
                switch (a)
                {
                    case "--collector": collector = Next().TrimEnd('/'); break;
                    case "--key-id": keyId = Next(); break;
                    case "--secret-file": secretFile = Next(); break;
                    case "--ipfix" or "--netflow" or "--sflow": listeners.Add((a[2..], CollectorOptions.ParseEndpoint(Next(), a))); break;
                    case "--inventory": inventory = Next(); break;
                    case "--interval": interval = CollectorOptions.Duration(Next()); break;
                    case "--backlog": backlog = Next(); break;
                    case "--backlog-max": backlogMax = CollectorOptions.Size(Next()); break;
                    case "--name": name = Next(); break;
                    case "--export-rate":
                        exportRate = double.TryParse(Next(), NumberStyles.Float, CultureInfo.InvariantCulture, out var r) && r >= 0 ? r : throw new FormatException("--export-rate: sessions per second, 0 for all");
                        break;
                    case "--session-logging":
                        logging.AddRange(Next().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(SessionLogRule.Parse));
                        break;
                    case "--session-observation": observation = SessionObservations.Parse(Next()); break;
                    case "--max-sessions":
                        maxSessions = int.TryParse(Next(), NumberStyles.None, CultureInfo.InvariantCulture, out var m) && m >= 1000 ? m : throw new FormatException("--max-sessions: a number of sessions, 1000 or more");
                        break;
                    case "--batch-rows":
                        batchRows = int.TryParse(Next(), NumberStyles.None, CultureInfo.InvariantCulture, out var b) && b is >= 1000 and <= 1_000_000 ? b : throw new FormatException("--batch-rows: 1000 to 1000000 rows");
                        break;
                    case "--no-flows": flows = false; break;
                    case "--log-format": logFormat = Flowline.Server.Logging.LogSettings.ParseFormat(Next()); break;
                    case "--log-level": logLevel = Flowline.Server.Logging.LogSettings.ParseLevel(Next()); break;
                    default: throw new FormatException($"unknown option {a} (see `flowline agent --help`)");
                }
            }
            if (collector is null || !Uri.TryCreate(collector, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                throw new FormatException("--collector http://HOST:PORT is required");
            }
            if (keyId is null) throw new FormatException("--key-id is required (an agent key: flowline keys create --account ACC --agent NAME)");
        }
        catch (FormatException e)
        {
            stderr.WriteLine($"flowline agent: {e.Message}");
            return 2;
        }
        using var logs = new Flowline.Server.Logging.LineLoggerProvider(stderr, logFormat, logLevel);
        var log = logs.CreateLogger("agent");
        var secret = secretFile is not null ? File.Exists(secretFile) ? File.ReadAllText(secretFile).Trim() : null : Environment.GetEnvironmentVariable("FLOWLINE_AGENT_SECRET");
        if (string.IsNullOrEmpty(secret))
        {
            AgentLog.CannotStart(log, secretFile is null ? "give the key's secret with --secret-file FILE or FLOWLINE_AGENT_SECRET" : $"--secret-file {secretFile}: no such file, or empty");
            return 2;
        }
        if (listeners.Count == 0) listeners.Add(("ipfix", new IPEndPoint(IPAddress.Loopback, 4739)));

        var symbols = new SymbolTable();
        Enrichment.Enricher? enricher = null;
        try
        {
            if (inventory is not null)
            {
                enricher = new Enrichment.Enricher(symbols);
                enricher.Use(Enrichment.InventoryFile.Load(inventory));
            }
            Flowline.Records.DataDirectory.Create(backlog);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Enrichment.InventoryException or FormatException)
        {
            AgentLog.CannotStart(log, e.Message);
            return 1;
        }
        var receivers = new List<DatagramReceiver>();
        try
        {
            foreach (var (kind, endpoint) in listeners)
            {
                var r = new DatagramReceiver(endpoint, 8 << 20, queueBytes: 8 << 20, queueDatagrams: 16_384, name: $"recv {kind}");
                receivers.Add(r);
                AgentLog.Listening(log, kind, r.LocalEndPoint.ToString());
            }
        }
        catch (SocketException e)
        {
            AgentLog.CannotStart(log, $"cannot listen: {e.Message}");
            foreach (var r in receivers) r.Dispose();
            return 1;
        }
        AgentLog.Started(log, name!, Math.Round(interval.TotalSeconds, 3), collector!, Path.GetFullPath(backlog));

        var queue = new Backlog(backlog, backlogMax, log);
        var shipper = new Shipper(queue, new AgentBatch.Builder(backlog, blockRows: 4096), symbols, name!, batchRows);
        var sessionizer = new Sessionizer(new SessionizerOptions { Observation = observation, MaxSessions = maxSessions, ListEvicted = logging.Count > 0 });
        var exporter = new SessionExporter(new SessionSampler(exportRate), logging, symbols, enricher is null ? null : enricher.RemoteTags);
        // Small chunks and blocks: an agent shares the hypervisor with the VMs (memory), not with a store.
        var writer = new SessionRowWriter(exporter, symbols, shipper.AddSessions, chunkRows: 4096);
        var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });

        // A table filling up before the interval ends asks for the interval to end now (early export).
        using var flushNow = new AutoResetEvent(false);
        var readers = receivers.Select(r => new Thread(() => Receive(r, sessionizer, enricher, flows ? shipper : null, flushNow)) { IsBackground = true }).ToList();
        foreach (var r in receivers) r.Start();
        foreach (var t in readers) t.Start();
        var sender = new Thread(() => Send(queue, collector!, keyId!, secret, stop.Token, log)) { IsBackground = true };
        sender.Start();

        var last = Ingest.Collector.NowMicros();
        while (WaitHandle.WaitAny([stop.Token.WaitHandle, flushNow], interval) != 0)
        {
            last = MakeBatch(sessionizer, exporter, writer, shipper, last);
        }
        foreach (var r in receivers) r.Stop();
        foreach (var t in readers) t.Join();
        foreach (var r in receivers) r.Dispose();
        MakeBatch(sessionizer, exporter, writer, shipper, last);
        // A last try to deliver; what is left stays in the backlog for the next start.
        sender.Join(TimeSpan.FromSeconds(5));
        lock (shipper)
        {
            AgentLog.Stopped(log, sessionizer.Records, shipper.SessionRows, shipper.SessionBytes, shipper.FlowRows, shipper.Batches, shipper.BatchBytes,
                Math.Round(shipper.SessionRows + shipper.FlowRows == 0 ? 0 : shipper.BatchBytes / (double)(shipper.SessionRows + shipper.FlowRows), 1),
                queue.Count, sessionizer.Evicted, sessionizer.ExportedEarly, sessionizer.Dropped);
        }
        return 0;
    }

    /// <summary>Ends an interval: the sessions with traffic become rows (in parts, so the readers wait only briefly) and the batch is sealed.</summary>
    private static long MakeBatch(Sessionizer sessionizer, SessionExporter exporter, SessionRowWriter writer, Shipper shipper, long last)
    {
        var now = Ingest.Collector.NowMicros();
        var seconds = Math.Max(1e-3, (now - last) / 1e6);
        writer.Time = now;
        exporter.Plan([sessionizer], seconds);
        bool done;
        do
        {
            if (writer.Room == 0) writer.Complete();
            lock (sessionizer) done = sessionizer.FlushSome(now, writer, writer.Room);
            writer.Complete();
        }
        while (!done);
        exporter.EndInterval(seconds);
        shipper.Seal(now);
        return now;
    }

    /// <summary>Rows on their way into the backlog: a batch being built, sealed at the interval or when it holds enough rows.</summary>
    private sealed class Shipper(Backlog queue, AgentBatch.Builder builder, SymbolTable symbols, string name, int batchRows)
    {
        /// <summary>What went into batches: session rows with their bytes (both ways), flow rows, batches and their bytes.</summary>
        public long SessionRows, SessionBytes, FlowRows, Batches, BatchBytes;

        public void AddSessions(FlowBatch rows)
        {
            lock (this)
            {
                for (var i = 0; i < rows.Count; i++) SessionBytes += (long)(rows.Bytes[i] + rows.RevBytes[i]);
                SessionRows += rows.Count;
                builder.AddSessions(rows);
                if (builder.Rows >= batchRows) SealLocked(Ingest.Collector.NowMicros());
            }
        }

        public void AddFlows(FlowBatch rows)
        {
            lock (this)
            {
                FlowRows += rows.Count;
                builder.AddFlows(rows);
                if (builder.Rows >= batchRows) SealLocked(Ingest.Collector.NowMicros());
            }
        }

        public void Seal(long now)
        {
            lock (this) SealLocked(now);
        }

        private void SealLocked(long now) => queue.Add((sequence, path) =>
        {
            if (!builder.Seal(path, name, sequence, now, symbols)) return false;
            Batches++;
            BatchBytes += new FileInfo(path).Length;
            return true;
        });
    }

    /// <summary>Decodes what a receiver queues, enriches it when there is an inventory, and hands it to the sessionizer and the shipper, until the receiver is stopped and drained.</summary>
    private static void Receive(DatagramReceiver receiver, Sessionizer sessionizer, Enrichment.Enricher? enricher, Shipper? shipper, AutoResetEvent flushNow)
    {
        var decoder = new FlowDecoder();
        var decoded = new FlowBatch(256);
        var enriched = new FlowBatch(256);
        while (!receiver.Drained)
        {
            if (!receiver.TryTake(out var entry, out var data))
            {
                receiver.Wait(TimeSpan.FromMilliseconds(200));
                continue;
            }
            decoded.Clear();
            decoder.Decode(data.Span, entry.Exporter, entry.TimeReceived, decoded);
            receiver.Release(entry);
            var batch = decoded;
            if (enricher is not null)
            {
                enriched.Clear();
                for (var i = 0; i < decoded.Count; i++)
                {
                    var r = decoded[i];
                    enricher.Add(ref r, enriched);
                }
                batch = enriched;
            }
            bool full;
            lock (sessionizer)
            {
                sessionizer.Add(batch);
                full = sessionizer.WantsFlush;
            }
            if (full) flushNow.Set();
            shipper?.AddFlows(batch);
        }
    }

    private static void Send(Backlog queue, string collector, string keyId, string secret, CancellationToken stop, Microsoft.Extensions.Logging.ILogger log)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var backoff = TimeSpan.FromSeconds(1);
        var failing = false;
        while (true)
        {
            var next = queue.Oldest();
            if (next is null)
            {
                if (stop.IsCancellationRequested) return;
                queue.WaitForMore(TimeSpan.FromMilliseconds(500));
                continue;
            }
            var (path, body) = next.Value;
            string? problem;
            bool keyRefused;
            try
            {
                const string target = "/api/v1/session-endpoints";
                using var request = new HttpRequestMessage(HttpMethod.Post, collector + target) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(path.EndsWith(AgentBatch.Extension, StringComparison.Ordinal) ? AgentBatch.ContentType : "application/json");
                request.Headers.TryAddWithoutValidation("Authorization", Signatures.ApiAuthorization(keyId, secret, "POST", target, [], body, DateTimeOffset.UtcNow));
                using var response = http.Send(request);
                if (response.IsSuccessStatusCode)
                {
                    queue.Delivered(path);
                    if (failing) AgentLog.CollectorBack(log, queue.Count);
                    (failing, backoff) = (false, TimeSpan.FromSeconds(1));
                    continue;
                }
                var text = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
                if ((int)response.StatusCode == 400)
                {
                    // The collector cannot read this batch; sending it again will not change that.
                    AgentLog.BatchRefused(log, Path.GetFileName(path), text.Trim());
                    queue.SetAside(path);
                    continue;
                }
                problem = $"HTTP {(int)response.StatusCode}: {text.Trim()}";
                // The collector is there and answers, but not to this key (another agent's, revoked): not "away".
                keyRefused = (int)response.StatusCode is 401 or 403;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                problem = e.Message;
                keyRefused = false;
            }
            if (!failing && keyRefused) AgentLog.KeyRefused(log, collector, problem);
            else if (!failing) AgentLog.CollectorAway(log, collector, problem);
            failing = true;
            if (stop.IsCancellationRequested) return;
            stop.WaitHandle.WaitOne(backoff);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }
    }

    /// <summary>Batches on disk (<c>batch-SEQUENCE.flb</c>, written whole then renamed; <c>.json</c> from older agents), oldest first, within a size.</summary>
    private sealed class Backlog
    {
        private readonly string _dir;
        private readonly long _max;
        private readonly Microsoft.Extensions.Logging.ILogger _log;
        private readonly object _lock = new();
        private long _next;

        public Backlog(string dir, long max, Microsoft.Extensions.Logging.ILogger log)
        {
            (_dir, _max, _log) = (dir, max, log);
            foreach (var tmp in Directory.EnumerateFiles(dir, "*.tmp")) File.Delete(tmp);
            var sequences = Files().Select(SequenceOf).ToList();
            var saved = Path.Combine(dir, "next-sequence");
            var fromFile = File.Exists(saved) && long.TryParse(File.ReadAllText(saved), out var n) ? n : 1;
            _next = Math.Max(fromFile, sequences.Count == 0 ? 1 : sequences.Max() + 1);
        }

        public int Count
        {
            get
            {
                lock (_lock) return Files().Count;
            }
        }

        private List<string> Files() => Directory.EnumerateFiles(_dir, "batch-*")
            .Where(f => f.EndsWith(".json", StringComparison.Ordinal) || f.EndsWith(AgentBatch.Extension, StringComparison.Ordinal))
            .OrderBy(SequenceOf).ToList();

        private static long SequenceOf(string path) => long.Parse(Path.GetFileNameWithoutExtension(path)[6..], CultureInfo.InvariantCulture);

        /// <summary>Writes the next batch with <paramref name="write"/>(sequence, path), which returns false when it had nothing to write.</summary>
        public void Add(Func<long, string, bool> write)
        {
            lock (_lock)
            {
                var sequence = _next;
                var path = Path.Combine(_dir, $"batch-{sequence:D12}{AgentBatch.Extension}");
                if (!write(sequence, path)) return;
                _next++;
                AtomicFile.WriteText(Path.Combine(_dir, "next-sequence"), _next.ToString(CultureInfo.InvariantCulture));
                var files = Files();
                var size = files.Sum(f => new FileInfo(f).Length);
                while (size > _max && files.Count > 1)
                {
                    size -= new FileInfo(files[0]).Length;
                    AgentLog.BacklogDropped(_log, _max, Path.GetFileName(files[0]));
                    File.Delete(files[0]);
                    files.RemoveAt(0);
                }
                Monitor.PulseAll(_lock);
            }
        }

        public (string Path, byte[] Body)? Oldest()
        {
            lock (_lock)
            {
                var first = Files().FirstOrDefault();
                return first is null ? null : (first, File.ReadAllBytes(first));
            }
        }

        public void WaitForMore(TimeSpan timeout)
        {
            lock (_lock) Monitor.Wait(_lock, timeout);
        }

        public void Delivered(string path)
        {
            lock (_lock) File.Delete(path);
        }

        public void SetAside(string path)
        {
            lock (_lock) File.Move(path, path + ".refused", overwrite: true);
        }
    }
}
