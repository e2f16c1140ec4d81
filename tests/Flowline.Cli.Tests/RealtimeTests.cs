using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;

using static Flowline.Cli.Tests.Rest;

namespace Flowline.Cli.Tests;

/// <summary>
/// serve's sFlow-RT-compatible real-time analytics against a known mix from `flowline gen --mix` (each
/// talker's true rate is set, its frames sampled 1:N): active flows, filters and counter metrics, thresholds
/// delivered by long-poll, to a real rsyslogd and to a webhook, and a real Prometheus scraping the exports.
/// </summary>
public sealed class RealtimeTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-realtime-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static JsonNode Get(string url)
    {
        var (status, body) = Send(HttpMethod.Get, url);
        Assert.True(status == 200, $"GET {url}: {status} {body}");
        return JsonNode.Parse(body)!;
    }

    private static void Put(string url, string json)
    {
        var (status, body) = Send(HttpMethod.Put, url, json);
        Assert.True(status == 200, $"PUT {url}: {status} {body}");
    }

    /// <summary>The top five (true rates 8, 6, 4, 3 and 2 MB/s) and fifteen small talkers at 0.2 MB/s.</summary>
    private static readonly (string Source, string Destination, double Rate)[] Mix =
    [
        ("10.0.0.1", "10.0.0.9", 8e6), ("10.0.0.2", "10.0.0.9", 6e6), ("10.0.0.3", "10.0.0.8", 4e6),
        ("10.0.0.4", "10.0.0.8", 3e6), ("10.0.0.5", "10.0.0.7", 2e6),
        .. Enumerable.Range(1, 15).Select(i => ($"10.1.0.{i}", "10.0.0.9", 2e5)),
    ];

    private static string MixSpec((string Source, string Destination, double Rate)[] mix) =>
        string.Join(",", mix.Select(m => $"{m.Source}>{m.Destination}={m.Rate.ToString(CultureInfo.InvariantCulture)}"));

    /// <summary>Rows the flow definitions have counted so far (the self-metrics, open to all).</summary>
    private static double RealtimeRows(ServeProcess serve) =>
        double.Parse(serve.Get("/metrics").Split('\n').First(l => l.StartsWith("flowline_realtime_rows_total ", StringComparison.Ordinal)).Split(' ')[1], CultureInfo.InvariantCulture);

    private static Process StartGen(ServeProcess serve, string mix, int seconds, int sampling = 5)
    {
        var p = Process.Start(FlowlineProcess.Flowline("gen", "--protocol", "sflow", "--mix", mix, "--sampling", sampling.ToString(CultureInfo.InvariantCulture),
            "--frame", "500", "--duration", seconds.ToString(CultureInfo.InvariantCulture), "--target", $"udp://127.0.0.1:{serve.Ports["sflow"]}", "-q"))!;
        p.StandardInput.Close();
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        return p;
    }

    [Fact]
    public void Activeflows_lists_the_true_top_talkers_in_order_within_ten_percent()
    {
        var serve = new ServeProcess(Path.Combine(_dir.FullName, "data"), "--realtime-open-on-loopback", "true");
        try
        {
            Put($"{serve.Url}/flow/pairs/json", """{"keys": "ipsource,ipdestination", "value": "bytes", "n": 20}""");
            Put($"{serve.Url}/flow/to8/json", """{"keys": "mask:ipsource:24,ipsource", "value": "bytes", "filter": "ipdestination=10.0.0.8&tcpdestinationport=443", "n": 10}""");
            // Bad definitions are refused with what is wrong.
            var bad = Send(HttpMethod.Put, $"{serve.Url}/flow/bad/json", """{"keys": "ipsource,nosuchkey"}""");
            Assert.Equal(400, bad.Status);
            Assert.Contains("unknown key 'nosuchkey'", bad.Body, StringComparison.Ordinal);
            Assert.Equal(400, Send(HttpMethod.Put, $"{serve.Url}/flow/bad/json", """{"keys": "ipsource", "filter": "ipsource=10.0.0.1&"}""").Status);
            Assert.Equal(400, Send(HttpMethod.Put, $"{serve.Url}/flow/bad/json", """{"keys": "ipsource", "t": -1}""").Status);
            Assert.Equal(400, Send(HttpMethod.Get, $"{serve.Url}/activeflows/ALL/pairs/json?aggMode=median").Status);
            Assert.Equal(404, Send(HttpMethod.Get, $"{serve.Url}/activeflows/ALL/none/json").Status);

            // The smoothed rates converge as traffic goes on: read until they have (or a generous deadline), then check.
            using var gen = StartGen(serve, MixSpec(Mix), 150);
            var total = Mix.Sum(m => m.Rate);
            JsonArray top, filtered, metric;
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                top = Get($"{serve.Url}/activeflows/ALL/pairs/json?maxFlows=5").AsArray();
                filtered = Get($"{serve.Url}/activeflows/192.0.2.1/to8/json?maxFlows=10").AsArray();
                metric = Get($"{serve.Url}/metric/ALL/ifinoctets,pairs/json").AsArray();
                var converged = top.Count == 5 && Enumerable.Range(0, 5).All(i => (string)top[i]!["key"]! == $"{Mix[i].Source},{Mix[i].Destination}"
                                                                                  && Math.Abs((double)top[i]!["value"]! / Mix[i].Rate - 1) < 0.10)
                                && metric.Count == 2 && metric[0]!["metricValue"] is { } v && Math.Abs((double)v / total - 1) < 0.10;
                if (converged || deadline.Elapsed > TimeSpan.FromSeconds(120)) break;
                Thread.Sleep(500);
            }
            if (!gen.HasExited) gen.Kill();
            gen.WaitForExit();

            Assert.Equal(5, top.Count);
            for (var i = 0; i < 5; i++)
            {
                var (source, destination, rate) = Mix[i];
                Assert.Equal($"{source},{destination}", (string)top[i]!["key"]!);
                var estimate = (double)top[i]!["value"]!;
                Assert.True(Math.Abs(estimate / rate - 1) < 0.10, $"{source}>{destination}: {estimate:N0} B/s estimated, {rate:N0} true");
                Assert.Equal("192.0.2.1", (string)top[i]!["agent"]!);
                Assert.Equal("1", (string)top[i]!["dataSource"]!);
            }
            // The filter keeps only the two talkers towards 10.0.0.8; mask: names their /24.
            Assert.Equal(["10.0.0.0,10.0.0.3", "10.0.0.0,10.0.0.4"], filtered.Select(f => (string)f!["key"]!).ToArray());
            // Interface counters: the exact octets sent, as a rate.
            var octets = (double)metric[0]!["metricValue"]!;
            Assert.True(Math.Abs(octets / total - 1) < 0.10, $"ifinoctets {octets:N0} B/s, {total:N0} sent");
            Assert.Equal("10.0.0.1,10.0.0.9", (string)metric[1]!["topKeys"]![0]!["key"]!);

            // Each definition's own figures, by name.
            var analyzer = Get($"{serve.Url}/analyzer/json").AsObject();
            var byDefinition = analyzer["flowsByDefinition"]!.AsObject();
            Assert.Equal(["pairs", "to8"], byDefinition.Select(d => d.Key).Order(StringComparer.Ordinal).ToArray());
            Assert.Equal(2, (int)byDefinition["to8"]!["flowsActive"]!);
            Assert.True((int)byDefinition["pairs"]!["flowsActive"]! >= 5 && (long)byDefinition["pairs"]!["rowsAnalysed"]! > 0, byDefinition.ToJsonString());
            Assert.All(byDefinition, d => Assert.Equal((0L, 0L), ((long)d.Value!["flowsDropped"]!, (long)d.Value!["flowsTrimmedFairShare"]!)));
            // The same in Prometheus's text, each metric's series together.
            var text = Send(HttpMethod.Get, $"{serve.Url}/prometheus/analyzer/txt").Body.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains("sflow_analyzer_definition_flows_active{definition=\"to8\"} 2", text);
            var families = text.Select(l => l.Split('{', ' ')[0]).ToList();
            Assert.Equal(families.Distinct().Count(), families.Where((f, i) => i == 0 || families[i - 1] != f).Count());

            var keys = Get($"{serve.Url}/flowkeys/json").AsObject();
            Assert.True(keys.ContainsKey("ipsource") && keys.ContainsKey("tcpdestinationport") && !keys.ContainsKey("udpsourceport"), keys.ToJsonString());
            Assert.Equal(0, serve.Terminate());
        }
        finally
        {
            serve.Dispose();
        }
        // Definitions survive a restart.
        var again = new ServeProcess(Path.Combine(_dir.FullName, "data"), "--realtime-open-on-loopback", "true");
        try
        {
            var flows = Get($"{again.Url}/flow/json").AsObject();
            Assert.Equal(["pairs", "to8"], flows.Select(f => f.Key).Order(StringComparer.Ordinal).ToArray());
            Assert.Equal("ipdestination=10.0.0.8&tcpdestinationport=443", (string)flows["to8"]!["filter"]!);
            Assert.Equal(0, again.Terminate());
        }
        finally
        {
            again.Dispose();
        }
    }

    /// <summary>A webhook that refuses the first POST (so the retry is exercised) and keeps the bodies of the rest.</summary>
    private sealed class Webhook : IDisposable
    {
        private readonly HttpListener _listener = new();
        private int _calls;

        public Webhook()
        {
            Port = ServeProcess.FreeTcpPort();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/hook/");
            _listener.Start();
            _ = Task.Run(async () =>
            {
                while (_listener.IsListening)
                {
                    HttpListenerContext c;
                    try
                    {
                        c = await _listener.GetContextAsync();
                    }
                    catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                    {
                        return;
                    }
                    using var reader = new StreamReader(c.Request.InputStream);
                    var body = await reader.ReadToEndAsync();
                    var first = Interlocked.Increment(ref _calls) == 1;
                    if (!first) lock (Bodies) Bodies.Add(body);
                    c.Response.StatusCode = first ? 503 : 200;
                    c.Response.Close();
                }
            });
        }

        public int Port { get; }
        public int Calls => Volatile.Read(ref _calls);
        public List<string> Bodies { get; } = [];

        public void Dispose() => _listener.Close();
    }

    [Fact]
    public async Task A_threshold_crossed_by_generated_traffic_gives_one_event_by_long_poll_syslog_and_webhook()
    {
        int udpPort, tcpPort = ServeProcess.FreeTcpPort();
        using (var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0))) udpPort = ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
        string udpLog = Path.Combine(_dir.FullName, "udp.log"), tcpLog = Path.Combine(_dir.FullName, "tcp.log");
        using var rsyslog = RsyslogSessionTests.StartRsyslog(_dir.FullName, udpPort, tcpPort);
        using var hook = new Webhook();
        var serve = new ServeProcess(Path.Combine(_dir.FullName, "data"),
            "--threshold-events-to", $"syslog:udp://127.0.0.1:{udpPort}", "--event-webhook", $"http://127.0.0.1:{hook.Port}/hook/", "--realtime-open-on-loopback", "true");
        try
        {
            RsyslogSessionTests.WaitListening(udpLog, tcpLog, udpPort, tcpPort);
            Put($"{serve.Url}/flow/pairs/json", """{"keys": "ipsource,ipdestination", "value": "bytes"}""");
            Put($"{serve.Url}/threshold/elephant/json", """{"metric": "pairs", "value": 4000000, "byFlow": true}""");
            Assert.Equal(400, Send(HttpMethod.Put, $"{serve.Url}/threshold/bad/json", """{"metric": "pairs"}""").Status);
            Assert.Empty(Get($"{serve.Url}/events/json").AsArray());

            // The long-poll waits for the first event.
            var poll = Http.GetStringAsync($"{serve.Url}/events/json?eventID=0&timeout=60");
            var started = DateTimeOffset.UtcNow;
            // 16 MB/s, four times the threshold; the other talker stays below it.
            using var gen = StartGen(serve, "10.0.0.1>10.0.0.9=16M,10.0.0.2>10.0.0.9=1M", 60);
            var events = JsonNode.Parse(await poll)!.AsArray();
            var polled = DateTimeOffset.UtcNow;

            var e = Assert.Single(events)!;
            Assert.Equal("elephant", (string)e["thresholdID"]!);
            Assert.Equal("10.0.0.1,10.0.0.9", (string)e["flowKey"]!);
            Assert.True((double)e["value"]! > 4e6);
            // When the engine saw the crossing (the time of the datagram that crossed), from the start of the traffic:
            // reported, not asserted (how fast is measured by the benchmarks, not decided by a test).
            var crossing = (long)e["timestamp"]! - started.ToUnixTimeMilliseconds();
            Console.WriteLine($"threshold event: crossing seen {crossing} ms after the traffic started; long-poll answered after {(polled - started).TotalMilliseconds:0} ms");

            // While the flow stays above, no second event; the small talker never has one. Shown once the definitions
            // have counted many more rows of that same traffic since the event.
            var rowsAtEvent = RealtimeRows(serve);
            ServeProcess.WaitFor(() => RealtimeRows(serve) > rowsAtEvent + 5_000, $"5,000 more rows counted after the event ({rowsAtEvent} then)", 50);
            var all = Get($"{serve.Url}/events/json?maxEvents=100").AsArray();
            if (!gen.HasExited) gen.Kill();
            gen.WaitForExit();
            Assert.Single(all);

            ServeProcess.WaitFor(() => File.ReadAllLines(udpLog).Any(l => l.Contains("|threshold|", StringComparison.Ordinal)), "the event in syslog", 20);
            var line = File.ReadAllLines(udpLog).Single(l => l.Contains("|threshold|", StringComparison.Ordinal)).Split('|');
            Assert.Equal("flowline", line[4]);
            Assert.True(JsonNode.DeepEquals(e, JsonNode.Parse(line[8])), line[8]);

            ServeProcess.WaitFor(() => { lock (hook.Bodies) return hook.Bodies.Count == 1; }, "the event at the webhook (after one refused POST)", 20);
            Assert.Equal(2, hook.Calls);
            lock (hook.Bodies) Assert.True(JsonNode.DeepEquals(e, JsonNode.Parse(hook.Bodies[0])), hook.Bodies[0]);
            Assert.Equal(0, serve.Terminate());
        }
        finally
        {
            serve.Dispose();
            try
            {
                rsyslog.Kill();
            }
            catch (InvalidOperationException)
            {
            }
        }
    }

    [Fact]
    public void A_real_Prometheus_scrapes_the_metrics_and_the_flow_export_and_topk_gives_the_top_sources()
    {
        // The sFlow-RT face is for operators: an admin key defines, Prometheus reads with the scrape token.
        const string token = "scrape-token-0123456789abcdef";
        var data = Path.Combine(_dir.FullName, "data");
        Directory.CreateDirectory(data);
        var admin = Flowline.Api.KeyStore.Open(data).Create("acc-ops", admin: true);
        var serve = new ServeProcess(data, "--scrape-token", token);
        Process? prometheus = null;
        Process? gen = null;
        try
        {
            const string metrics = "/prometheus/metrics/ALL/ALL/txt";
            Assert.Equal(401, Send(HttpMethod.Get, serve.Url + metrics).Status);
            Assert.Equal(401, Send(HttpMethod.Get, serve.Url + metrics, bearer: "not-the-token-at-all").Status);
            Assert.Equal(200, Send(HttpMethod.Get, serve.Url + metrics, bearer: token).Status);
            // A reader never makes a definition: the export answers 404 until an operator defines the flow.
            const string export = "/app/prometheus/scripts/export.js/flows/ALL/txt?metric=ip_src_dst_bps&key=ipsource&key=ipdestination&label=src&label=dst&value=bytes&scale=8&minValue=1000&maxFlows=100";
            Assert.Equal(404, Send(HttpMethod.Get, serve.Url + export, bearer: token).Status);
            Assert.Equal(401, Send(HttpMethod.Put, $"{serve.Url}/flow/src_dst/json", """{"keys": "ipsource,ipdestination", "value": "bytes", "n": 100}""").Status);
            var defined = Send(HttpMethod.Put, $"{serve.Url}/flow/src_dst/json", """{"keys": "ipsource,ipdestination", "value": "bytes", "n": 100}""", key: admin);
            Assert.True(defined.Status == 200, defined.Body);
            Assert.Equal(200, Send(HttpMethod.Get, serve.Url + export, bearer: token).Status);
            var target = serve.Url.Replace("http://", "", StringComparison.Ordinal);
            var config = Path.Combine(_dir.FullName, "prometheus.yml");
            File.WriteAllText(config, $"""
                global:
                  scrape_interval: 1s
                scrape_configs:
                  - job_name: sflow-metrics
                    metrics_path: /prometheus/metrics/ALL/ALL/txt
                    authorization: {"{"} credentials: '{token}' {"}"}
                    static_configs: [{"{"} targets: ['{target}'] {"}"}]
                  - job_name: sflow-analyzer
                    metrics_path: /prometheus/analyzer/txt
                    authorization: {"{"} credentials: '{token}' {"}"}
                    static_configs: [{"{"} targets: ['{target}'] {"}"}]
                  - job_name: sflow-src-dst-bps
                    metrics_path: /app/prometheus/scripts/export.js/flows/ALL/txt
                    authorization: {"{"} credentials: '{token}' {"}"}
                    static_configs: [{"{"} targets: ['{target}'] {"}"}]
                    params:
                      metric: ['ip_src_dst_bps']
                      key: ['ipsource', 'ipdestination']
                      label: ['src', 'dst']
                      value: ['bytes']
                      scale: ['8']
                      minValue: ['1000']
                      maxFlows: ['100']
                """);
            var port = ServeProcess.FreeTcpPort();
            var psi = FlowlineProcess.StartInfo(FlowlineProcess.Tool("prometheus"), $"--config.file={config}",
                $"--storage.tsdb.path={Path.Combine(_dir.FullName, "tsdb")}", $"--web.listen-address=127.0.0.1:{port}");
            prometheus = Process.Start(psi)!;
            prometheus.StandardInput.Close();
            _ = prometheus.StandardOutput.ReadToEndAsync();
            _ = prometheus.StandardError.ReadToEndAsync();
            var api = $"http://127.0.0.1:{port}/api/v1";
            ServeProcess.WaitFor(() =>
            {
                try
                {
                    var targets = JsonNode.Parse(Http.GetStringAsync($"{api}/targets").GetAwaiter().GetResult())!["data"]!["activeTargets"]!.AsArray();
                    return targets.Count == 3 && targets.All(t => (string)t!["health"]! == "up");
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, "Prometheus scraping all three targets", 60);

            // The traffic lasts well beyond every wait below (a rate read after it ended would only decay); killed at the end.
            gen = StartGen(serve, MixSpec(Mix), 600);
            JsonArray Query(string q) => JsonNode.Parse(Http.GetStringAsync($"{api}/query?query={Uri.EscapeDataString(q)}").GetAwaiter().GetResult())!["data"]!["result"]!.AsArray();
            string[] expected = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"];
            string[] got = [];
            // Once the estimates have settled (a few time constants) and been scraped, topk gives the five largest sources.
            ServeProcess.WaitFor(() =>
            {
                var result = Query("topk(5, sum(ip_src_dst_bps) by (src))");
                got = result.Select(r => (string)r!["metric"]!["src"]!).Order(StringComparer.Ordinal).ToArray();
                return got.Length == 5 && result.All(r => Math.Abs(double.Parse((string)r!["value"]![1]!, CultureInfo.InvariantCulture)
                    / (8 * Mix.Single(m => m.Source == (string)r["metric"]!["src"]!).Rate) - 1) < 0.10);
            }, "topk(5, sum(ip_src_dst_bps) by (src)) settled", 120);
            Assert.Equal(expected, got);
            JsonArray octets = [];
            var value = 0.0;
            ServeProcess.WaitFor(() =>
            {
                octets = Query("sflow_ifinoctets{datasource=\"1\"}");
                value = octets.Count == 1 ? double.Parse((string)octets[0]!["value"]![1]!, CultureInfo.InvariantCulture) : 0;
                return Math.Abs(value / Mix.Sum(m => m.Rate) - 1) < 0.10;
            }, "sflow_ifinoctets within 10 % of the traffic's rate", 120);
            Assert.Equal("192.0.2.1", (string)octets[0]!["metric"]!["agent"]!);
            Assert.NotEmpty(Query("sflow_analyzer_flow_definitions"));
            var held = Query("sflow_analyzer_definition_flows_active{definition=\"src_dst\"}");
            Assert.True(double.Parse((string)Assert.Single(held)!["value"]![1]!, CultureInfo.InvariantCulture) >= 5, held.ToJsonString());
            // The dashboard that ships with the repository: every query is valid PromQL, and those over these jobs have data.
            var dashboard = JsonNode.Parse(File.ReadAllText(Path.Combine(FlowlineProcess.RepositoryRoot, "docs", "grafana", "flowline-realtime.json")))!;
            foreach (var t in dashboard["panels"]!.AsArray().SelectMany(p => p!["targets"]!.AsArray()))
            {
                var expr = ((string)t!["expr"]!).Replace("$agent", ".*", StringComparison.Ordinal);
                var result = Query(expr);
                if (!expr.Contains("countries", StringComparison.Ordinal)) Assert.True(result.Count > 0, $"no data for the dashboard's {expr}");
            }
            Assert.Equal(0, serve.Terminate());
        }
        finally
        {
            if (gen is { HasExited: false })
            {
                gen.Kill();
                gen.WaitForExit();
            }
            gen?.Dispose();
            if (prometheus is { HasExited: false })
            {
                prometheus.Kill();
                prometheus.WaitForExit();
            }
            prometheus?.Dispose();
            serve.Dispose();
        }
    }
}
