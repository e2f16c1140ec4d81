using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Flowline.Api;
using Flowline.Records;

namespace Flowline.Cli.Api;

/// <summary>
/// `flowline describe-flow-logs`: reads a long period through DescribeFlowLog in windows the API allows,
/// several at once, with retries, a progress line and a resumable state, and writes one file.
/// </summary>
internal static partial class DescribeFlowLogsCommand
{
    public const string Help = """
        Usage: flowline describe-flow-logs -s "dd-mm-yyyy hh:mm:ss" -e "dd-mm-yyyy hh:mm:ss" [-a acc-…] [-d 0|1]
                                           [-o FILE] [--endpoint URL] [options]

        Reads the flow logs of a period of any length from a Flowline server's DescribeFlowLog API (or any
        JCS-compatible one) and writes them to one file. The period is split into windows of at most 30
        minutes (the API's limit), a few are fetched at once, failed ones are retried with backoff, a window
        whose answer is too large or too slow is split in two, and progress is shown with percent and ETA.
        Each finished window is kept in FILE.parts/; if the run is interrupted, running the same command
        again fetches only what is missing. The file holds every flow of the period exactly once, ordered by
        setup time, so two runs over the same data give the same file.

          -s, --start TIME      start, dd-mm-yyyy hh:mm:ss in IST (or --zone)
          -e, --end TIME        end (exclusive), same format
          -a, --account ACC     another account (needs an admin key and the admin password)
          -d, --direction 0|1   0 ingress, 1 egress (required with -a)
          -o, --output FILE     where to write (default flow_logs.json; .ndjson: one item per line)
          --format json|ndjson  output format (default: by the file name, else json)
          --endpoint URL        the server (default FLOWLINE_URL, else http://127.0.0.1:8008)
          --openrc FILE         read credentials from a file of `export NAME=value` lines
          --ca-cert FILE        trust this PEM certificate (a private CA or the server's own) for
                                https endpoints (default FLOWLINE_CA_CERT; else the system's CAs)
          --window MINUTES      window length, 1 to 30 (default 30)
          --parallel N          windows fetched at once (default 2)
          --retries N           attempts per window before giving up (default 6)
          --zone ZONE           zone of -s and -e: IST (default), UTC, +HH:MM or a zone name
          --server-zone ZONE    the server's jcs_time_zone, which requests are written in (default
                                FLOWLINE_JCS_TIME_ZONE, else IST)
          -q, --quiet           no progress line

        Credentials: FLOWLINE_ACCESS_KEY, FLOWLINE_SECRET_KEY, FLOWLINE_URL, FLOWLINE_ADMIN_PASSWORD (also the
        JCS client's ACCESS_KEY, SECRET_KEY, VPC_URL, VPC_FLOW_LOGS_ADMIN_PASS), from the environment or --openrc.
        Exit status: 0 done, 1 a window failed after every retry (rerun to resume), 2 bad arguments.
        """;

    private sealed record Window(DateTimeOffset From, DateTimeOffset To)
    {
        public string Name => $"{From.ToUnixTimeSeconds()}-{To.ToUnixTimeSeconds()}";
    }

    private sealed class Failure(string message, bool transient, bool tooLarge = false) : Exception(message)
    {
        public bool Transient { get; } = transient;
        public bool TooLarge { get; } = tooLarge;
    }

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            HelpText.Print(stdout, Help);
            return 0;
        }
        string? startText = null, endText = null, account = null, direction = null, output = null, format = null, endpoint = null, openrc = null, caCert = null;
        int windowMinutes = 30, parallel = 2, retries = 6;
        var zone = ApiOptions.Ist;
        TimeZoneInfo? serverZone = null;
        var quiet = false;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                var a = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
                int Number(int min, int max) => int.TryParse(Next(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
                    ? n : throw new ArgumentException($"{a} takes a number from {min} to {max}");
                switch (a)
                {
                    case "-s" or "--start": startText = Next(); break;
                    case "-e" or "--end": endText = Next(); break;
                    case "-a" or "--account": account = Next(); break;
                    case "-d" or "--direction": direction = Next(); break;
                    case "-o" or "--output": output = Next(); break;
                    case "--format": format = Next(); break;
                    case "--endpoint": endpoint = Next(); break;
                    case "--openrc": openrc = Next(); break;
                    case "--ca-cert": caCert = Next(); break;
                    case "--window": windowMinutes = Number(1, 30); break;
                    case "--parallel": parallel = Number(1, 16); break;
                    case "--retries": retries = Number(1, 100); break;
                    case "--zone": zone = ApiOptions.ParseZone(Next()); break;
                    case "--server-zone": serverZone = ApiOptions.ParseZone(Next()); break;
                    case "-q" or "--quiet": quiet = true; break;
                    default: throw new ArgumentException($"unknown option {a} (see `flowline describe-flow-logs --help`)");
                }
            }
            if (startText is null || endText is null) throw new ArgumentException("-s START and -e END are required, e.g. -s \"08-11-2016 16:30:00\" -e \"08-11-2016 17:35:02\"");
            var start = DescribeFlowLog.Time(startText, zone) ?? throw new ArgumentException($"-s '{startText}' is not dd-mm-yyyy hh:mm:ss");
            var end = DescribeFlowLog.Time(endText, zone) ?? throw new ArgumentException($"-e '{endText}' is not dd-mm-yyyy hh:mm:ss");
            if (end <= start) throw new ArgumentException("-e must be later than -s");
            if (direction is not (null or "0" or "1")) throw new ArgumentException($"-d '{direction}' must be 0 (ingress) or 1 (egress)");
            if (account is not null && direction is null) throw new ArgumentException("-a needs -d 0 or -d 1 (the API requires a direction with an account)");
            output ??= "flow_logs.json";
            format ??= output.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase) ? "ndjson" : "json";
            if (format is not ("json" or "ndjson")) throw new ArgumentException($"--format {format}: expected json or ndjson");

            var connection = ApiConnection.From(endpoint, openrc, caCert);
            var env = ApiConnection.Credentials(openrc);
            var windows = new List<Window>();
            for (var t = start; t < end; t = t.AddMinutes(windowMinutes))
            {
                var to = t.AddMinutes(windowMinutes);
                windows.Add(new Window(t, to < end ? to : end));
            }
            // -s and -e are read in --zone; requests are written in the server's zone, whatever the user's.
            serverZone ??= env("FLOWLINE_JCS_TIME_ZONE", "FLOWLINE_JCS_TIME_ZONE") is { } z ? ApiOptions.ParseZone(z) : ApiOptions.Ist;
            var call = new Call(connection.Base, connection.KeyId, connection.Secret, connection.AdminPassword, account, direction, serverZone, connection.Trusted);
            return Fetch(call, windows, output, format, parallel, retries, quiet, stderr, start, end);
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"flowline describe-flow-logs: {e.Message}");
            return 2;
        }
        catch (FormatException e)
        {
            stderr.WriteLine($"flowline describe-flow-logs: {e.Message}");
            return 2;
        }
    }

    private sealed record Call(Uri Base, string KeyId, string Secret, string? AdminPassword, string? Account, string? Direction, TimeZoneInfo Zone,
        System.Security.Cryptography.X509Certificates.X509Certificate2? Trusted);

    private static HttpClient Client(Call call) => new ApiConnection(call.Base, call.KeyId, call.Secret, call.AdminPassword, call.Trusted).Client();

    private static int Fetch(Call call, List<Window> windows, string output, string format, int parallel, int retries, bool quiet, TextWriter stderr,
        DateTimeOffset start, DateTimeOffset end)
    {
        // The parts directory belongs to one question: other arguments start afresh rather than mixing answers.
        var parts = output + ".parts";
        var identity = $"{call.Base}|{call.KeyId}|{call.Account}|{call.Direction}|{start.ToUnixTimeSeconds()}|{end.ToUnixTimeSeconds()}";
        var manifest = Path.Combine(parts, "request");
        if (Directory.Exists(parts) && (!File.Exists(manifest) || File.ReadAllText(manifest) != identity))
        {
            Directory.Delete(parts, recursive: true);
        }
        Directory.CreateDirectory(parts);
        AtomicFile.WriteText(manifest, identity);

        var total = (end - start).TotalSeconds;
        double doneSeconds = 0;
        long flows = 0;
        var pending = new Queue<Window>();
        foreach (var w in windows)
        {
            var done = DoneParts(parts, w);
            if (done is not null)
            {
                doneSeconds += (w.To - w.From).TotalSeconds;
                flows += done.Value;
            }
            else
            {
                pending.Enqueue(w);
            }
        }
        var resumed = doneSeconds;
        var clock = Stopwatch.StartNew();
        var progress = new Progress(stderr, quiet, total);
        progress.Show(doneSeconds, flows, clock.Elapsed, resumed);
        using var http = Client(call);
        var gate = new object();
        string? fatal = null;
        var running = new List<Task>();
        while (true)
        {
            Window? next = null;
            lock (gate)
            {
                running.RemoveAll(t => t.IsCompleted);
                if (fatal is null && pending.Count > 0 && running.Count < parallel) next = pending.Dequeue();
                else if (running.Count == 0 && (pending.Count == 0 || fatal is not null)) break;
            }
            if (next is null)
            {
                Task.WaitAny([.. running], 200);
                continue;
            }
            var window = next;
            var task = Task.Run(async () =>
            {
                try
                {
                    var count = await FetchWindow(http, call, window, parts, retries);
                    lock (gate)
                    {
                        doneSeconds += (window.To - window.From).TotalSeconds;
                        flows += count;
                        progress.Show(doneSeconds, flows, clock.Elapsed, resumed);
                    }
                }
                catch (Failure f) when (f.TooLarge && window.To - window.From > TimeSpan.FromMinutes(1))
                {
                    // Too much for one answer: fetch the two halves instead.
                    var middle = window.From + TimeSpan.FromSeconds(Math.Floor((window.To - window.From).TotalSeconds / 2));
                    lock (gate)
                    {
                        pending.Enqueue(new Window(window.From, middle));
                        pending.Enqueue(new Window(middle, window.To));
                    }
                }
                catch (Failure f)
                {
                    lock (gate) fatal ??= $"{DescribeFlowLog.Format(window.From, call.Zone)} to {DescribeFlowLog.Format(window.To, call.Zone)}: {f.Message}";
                }
            });
            lock (gate) running.Add(task);
        }
        progress.End();
        if (fatal is not null)
        {
            stderr.WriteLine($"flowline describe-flow-logs: {fatal}");
            if (Parts(parts).Count == 0)
            {
                // Nothing finished (a refused question, a server that never answered): nothing to resume.
                Directory.Delete(parts, recursive: true);
                return 1;
            }
            stderr.WriteLine($"flowline describe-flow-logs: finished windows are kept in {parts}; run the same command again to fetch the rest");
            return 1;
        }
        Assemble(parts, output, format, call, start, end);
        Directory.Delete(parts, recursive: true);
        stderr.WriteLine($"flowline describe-flow-logs: {flows} flows from {DescribeFlowLog.Format(start, call.Zone)} to {DescribeFlowLog.Format(end, call.Zone)} written to {output}");
        return 0;
    }

    /// <summary>How many flows the finished parts covering <paramref name="w"/> hold, or null when some of it is missing.</summary>
    private static long? DoneParts(string parts, Window w)
    {
        long count = 0;
        var covered = w.From;
        foreach (var (from, to, path) in Parts(parts).Where(p => p.From >= w.From.ToUnixTimeSeconds() && p.To <= w.To.ToUnixTimeSeconds()))
        {
            if (from != covered.ToUnixTimeSeconds()) return null;
            count += File.ReadLines(path).LongCount();
            covered = DateTimeOffset.FromUnixTimeSeconds(to);
        }
        return covered == w.To ? count : null;
    }

    private static List<(long From, long To, string Path)> Parts(string parts) =>
        [.. Directory.EnumerateFiles(parts, "*.ndjson")
            .Select(p => (Name: Path.GetFileNameWithoutExtension(p), Path: p))
            .Select(p => (Split: p.Name.Split('-'), p.Path))
            .Where(p => p.Split.Length == 2)
            .Select(p => (long.Parse(p.Split[0], CultureInfo.InvariantCulture), long.Parse(p.Split[1], CultureInfo.InvariantCulture), p.Path))
            .OrderBy(p => p.Item1)];

    private static async Task<long> FetchWindow(HttpClient http, Call call, Window w, string parts, int retries)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var items = await Once(http, call, w);
                // One line per item, ordered so that the file does not depend on the order the server read them in.
                items.Sort(CompareItems);
                var path = Path.Combine(parts, w.Name + ".ndjson");
                AtomicFile.Write(path, f =>
                {
                    foreach (var item in items)
                    {
                        f.Write(Encoding.UTF8.GetBytes(item.Line));
                        f.WriteByte((byte)'\n');
                    }
                });
                return items.Count;
            }
            catch (Failure f) when (f.Transient && attempt < retries)
            {
                // 1, 2, 4, 8, 16, 30 s with jitter, never under a second: each attempt is signed anew with a later
                // Timestamp, so it is never a replay of the one before.
                var delay = Math.Max(1.1, Math.Min(30, Math.Pow(2, attempt - 1)) * (0.75 + Random.Shared.NextDouble() / 2));
                await Task.Delay(TimeSpan.FromSeconds(delay));
            }
        }
    }

    private sealed record Item(long Setup, string Uuid, string Line);

    private static int CompareItems(Item a, Item b)
    {
        var c = a.Setup.CompareTo(b.Setup);
        if (c == 0) c = string.CompareOrdinal(a.Uuid, b.Uuid);
        return c != 0 ? c : string.CompareOrdinal(a.Line, b.Line);
    }

    private static async Task<List<Item>> Once(HttpClient http, Call call, Window w)
    {
        var p = new List<KeyValuePair<string, string>>
        {
            new("Version", DescribeFlowLog.Version),
            new("Action", "DescribeFlowLog"),
            new("start_time", DescribeFlowLog.Format(w.From, call.Zone)),
            new("end_time", DescribeFlowLog.Format(w.To, call.Zone)),
        };
        if (call.Account is not null) p.Add(new("account", call.Account));
        if (call.Direction is not null) p.Add(new("direction_ing", call.Direction));
        if (call.AdminPassword is not null) p.Add(new("admin_password", call.AdminPassword));
        Signatures.SignAction(p, call.KeyId, call.Secret, "GET", call.Base.Authority, DateTimeOffset.UtcNow);
        var url = new Uri(call.Base, "/?" + string.Join('&', p.Select(kv => Signatures.Encode(kv.Key) + "=" + Signatures.Encode(kv.Value))));
        HttpResponseMessage response;
        try
        {
            response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead);
        }
        catch (HttpRequestException e) when (e.InnerException is System.Security.Authentication.AuthenticationException)
        {
            // Retrying will not make the server's certificate trusted.
            throw new Failure($"the TLS certificate of {call.Base} is not trusted ({e.InnerException.Message}): give the CA with --ca-cert or FLOWLINE_CA_CERT", transient: false);
        }
        catch (HttpRequestException e)
        {
            throw new Failure($"cannot reach {call.Base}: {e.Message}", transient: true);
        }
        catch (TaskCanceledException)
        {
            throw new Failure($"no answer from {call.Base} within {http.Timeout.TotalSeconds:0} s", transient: true, tooLarge: true);
        }
        using (response)
        {
            var body = await response.Content.ReadAsByteArrayAsync();
            if (response.StatusCode != HttpStatusCode.OK)
            {
                var message = $"HTTP {(int)response.StatusCode}";
                string? code = null;
                try
                {
                    using var doc = JsonDocument.Parse(body);
                    var error = doc.RootElement.GetProperty("Response").GetProperty("Errors").GetProperty("Error");
                    code = error.GetProperty("Code").GetString();
                    message += $" {code}: {error.GetProperty("Message").GetString()}";
                }
                catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    message += ": " + Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(200, body.Length)));
                }
                // A replay refusal means this very request (same window, same second) was sent before, by an
                // earlier attempt or an interrupted run: signed again a second later it is a new request.
                var transient = (int)response.StatusCode >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests || code == "RequestReplayed";
                throw new Failure(message, transient);
            }
            try
            {
                using var doc = JsonDocument.Parse(body);
                var items = doc.RootElement.GetProperty("DescribeFlowLogResponse").GetProperty("value").GetProperty("item");
                var list = new List<Item>(items.GetArrayLength());
                foreach (var item in items.EnumerateArray())
                {
                    var setup = item.TryGetProperty("setupTime", out var s) && long.TryParse(s.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0;
                    var uuid = item.TryGetProperty("uuidKey", out var u) ? u.GetString() ?? "" : "";
                    list.Add(new Item(setup, uuid, item.GetRawText().ReplaceLineEndings("").Replace("  ", "", StringComparison.Ordinal)));
                }
                return list;
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new Failure($"the answer is not a DescribeFlowLogResponse ({e.Message})", transient: true);
            }
        }
    }

}
