using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Flowline.Api;

using static Flowline.Cli.Tests.Rest;

namespace Flowline.Cli.Tests;

/// <summary>
/// A running `flowline serve` (real Kestrel) against clients that mean harm: filters nested a million deep on
/// every route that takes a filter, 100 MB bodies on every route that takes a body, ten thousand export.js
/// parameter sets, two thousand long-polls at once, regular expressions built to backtrack. After each, the
/// server must still answer /healthz, and each abuse must have been refused with what was wrong.
/// </summary>
public sealed class HostileClientTests : IDisposable
{
    private const string Password = "hostile-test-password";
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-hostile-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static void Alive(ServeProcess serve, string after)
    {
        var (status, body) = Send(HttpMethod.Get, serve.Url + "/healthz");
        Assert.True(status == 200 && body == "ok\n", $"after {after}: /healthz answered {status} {body}");
    }

    private static (int Status, string Body) SendSigned(HttpMethod method, string url, string? body, AccessKey key, bool password = false)
    {
        using var request = new HttpRequestMessage(method, url);
        var bytes = body is null ? [] : Encoding.UTF8.GetBytes(body);
        if (body is not null) request.Content = new ByteArrayContent(bytes) { Headers = { ContentType = new("application/json") } };
        var uri = new Uri(url);
        var query = System.Web.HttpUtility.ParseQueryString(uri.Query);
        var pairs = query.AllKeys.SelectMany(k => query.GetValues(k)!.Select(v => new KeyValuePair<string, string>(k!, v))).ToList();
        request.Headers.TryAddWithoutValidation("Authorization", Signatures.ApiAuthorization(key.Id, key.Secret, method.Method, uri.AbsolutePath, pairs, bytes, DateTimeOffset.UtcNow));
        if (password) request.Headers.TryAddWithoutValidation(ApiV1.AdminPasswordHeader, Password);
        using var response = Http.Send(request);
        return ((int)response.StatusCode, response.Content.ReadAsStringAsync().GetAwaiter().GetResult());
    }

    /// <summary>A metric without labels from /metrics.</summary>
    internal static double Metric(ServeProcess serve, string name) =>
        double.Parse(serve.Get("/metrics").Split('\n').First(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Split(' ')[1], CultureInfo.InvariantCulture);

    private static string Nested(string inner, int depth, string open = "(", string close = ")") =>
        new StringBuilder(depth * (open.Length + close.Length) + inner.Length).Insert(0, open, depth).Append(inner).Insert(depth * open.Length + inner.Length, close, depth).ToString();

    /// <summary>Writes a raw request (the server may answer and close before it has all of it) and reads the status line.</summary>
    private static string RawStatus(ServeProcess serve, string request)
    {
        var uri = new Uri(serve.Url);
        using var tcp = new TcpClient(uri.Host, uri.Port);
        var stream = tcp.GetStream();
        try
        {
            stream.Write(Encoding.ASCII.GetBytes(request));
        }
        catch (IOException)
        {
            // Refused before the end of the request: the answer is waiting all the same.
        }
        stream.ReadTimeout = 30_000;
        return new StreamReader(stream, Encoding.ASCII).ReadLine() ?? "(connection closed without an answer)";
    }

    /// <summary>Sends only the headers of a request announcing <paramref name="length"/> bytes, and reads the whole answer (the refusal closes the connection).</summary>
    private static string Announce(ServeProcess serve, string method, string path, long length)
    {
        var uri = new Uri(serve.Url);
        using var tcp = new TcpClient(uri.Host, uri.Port);
        var stream = tcp.GetStream();
        stream.Write(Encoding.ASCII.GetBytes($"{method} {path} HTTP/1.1\r\nHost: {uri.Host}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"));
        stream.ReadTimeout = 30_000;
        // The refusal closes the connection: everything up to the close is the answer.
        using var reader = new StreamReader(stream, Encoding.ASCII);
        return reader.ReadToEnd();
    }

    [Fact]
    public async Task Hostile_requests_are_refused_with_the_reason_and_the_server_stays_up()
    {
        var data = Path.Combine(_dir.FullName, "data");
        var keys = KeyStore.Open(data);
        var admin = keys.Create("acc-ops", admin: true);
        var tenant = keys.Create("acc-0001", admin: false);
        var inventory = Path.Combine(_dir.FullName, "inventory.yaml");
        File.WriteAllText(inventory, "accounts: [{id: acc-0001, name: Acme}]\n");
        using var serve = new ServeProcess(data, "--admin-password-hash", AdminPassword.Hash(Password, iterations: 10_000), "--inventory", inventory);
        var url = serve.Url;

        // 1. A filter nested 1,000,000 deep on every route that takes one. In a body: 400 with the reason. In a URL the
        // request line is longer than the HTTP server reads (8 KiB): 414 before any parsing; a nesting that fits (1,000 deep) is 400.
        var deep = Nested("proto tcp", 1_000_000);
        var deepRealtime = Nested("ipsource=10.0.0.1", 1_000_000);
        // Functions nested in a key of a filter: 7,000 levels once overflowed the parser's stack and the process died.
        var deepKey = "ipsource";
        for (var i = 0; i < 7_000; i++) deepKey = "or:[" + deepKey + "]:app";
        var bodies = new (HttpMethod Method, string Path, string Body, bool Password)[]
        {
            (HttpMethod.Post, "/api/v1/query", new JsonObject { ["from"] = "2026-11-21T10:00:00Z", ["to"] = "2026-11-21T11:00:00Z", ["group_by"] = new JsonArray("src_addr"), ["filter"] = deep }.ToJsonString(), false),
            (HttpMethod.Put, "/flow/deep/json", new JsonObject { ["keys"] = "ipsource", ["filter"] = deepRealtime }.ToJsonString(), false),
            (HttpMethod.Put, "/api/v1/realtime/flows/deep", new JsonObject { ["keys"] = "ipsource", ["filter"] = deepRealtime }.ToJsonString(), false),
            (HttpMethod.Put, "/flow/deepkey/json", new JsonObject { ["keys"] = "ipsource", ["filter"] = deepKey + "=x" }.ToJsonString(), false),
            (HttpMethod.Put, "/api/v1/realtime/flows/deepkey", new JsonObject { ["keys"] = "ipsource", ["filter"] = deepKey + "=x" }.ToJsonString(), false),
            (HttpMethod.Post, "/analytics/query", """{"table": "FlowRecordTable", "start_time": "now-1h", "end_time": "now", "select_fields": ["sourceip"], "limit": 5, "where": """ + Nested("", 1_000_000, "[", "]") + "}", false),
            (HttpMethod.Put, "/api/v1/inventory", "accounts: " + Nested("", 1_000_000, "[", "]"), true),
        };
        foreach (var (method, path, body, password) in bodies)
        {
            var (status, answer) = SendSigned(method, url + path, body, admin, password);
            Assert.True(status == 400, $"{method} {path} ({body.Length:N0} bytes): {status} {answer[..Math.Min(300, answer.Length)]}");
            Console.WriteLine($"{answer[..Math.Min(300, answer.Length)]}");
            Assert.Matches("(?i)deep|depth|nest|long|characters", answer);
            Alive(serve, $"a filter nested 1,000,000 deep on {method} {path}");
        }
        var queries = new[] { "/api/v1/flows?from=2026-11-21T10:00:00Z&to=2026-11-21T11:00:00Z&filter=", "/api/v1/sessions?from=2026-11-21T10:00:00Z&to=2026-11-21T11:00:00Z&filter=",
            "/app/prometheus/scripts/export.js/flows/ALL/txt?metric=m&key=ipsource&filter=" };
        foreach (var path in queries)
        {
            var filter = path.Contains("export.js", StringComparison.Ordinal) ? "ipsource=10.0.0.1" : "proto tcp";
            var status = RawStatus(serve, "GET " + path + Uri.EscapeDataString(Nested(filter, 1_000_000)) + " HTTP/1.1\r\nHost: x\r\n\r\n");
            Assert.True(status.StartsWith("HTTP/1.1 414", StringComparison.Ordinal), $"GET {path} (1,000,000 deep): {status}");
            var (fits, answer) = SendSigned(HttpMethod.Get, url + path + Uri.EscapeDataString(Nested(filter, 1_000)), null, admin);
            Assert.True(fits == 400, $"GET {path} (1,000 deep): {fits} {answer}");
            Console.WriteLine($"{answer[..Math.Min(300, answer.Length)]}");
            Assert.Matches("(?i)deep|depth|nest|long|characters", answer);
            Alive(serve, $"a deep filter on GET {path}");
        }

        // A definition under a tenant's name made on the operator's face would not be scoped to the tenant's account.
        var (prefixed, prefixedWhy) = SendSigned(HttpMethod.Put, url + "/flow/tenant:acc-0001:all/json", """{"keys": "ipsource"}""", admin);
        Assert.True(prefixed == 400, $"{prefixed} {prefixedWhy}");
        Assert.Contains("are the tenants'", prefixedWhy, StringComparison.Ordinal);

        // 2. 100 MB announced to every route that takes a body: 413 from the headers alone, unsigned, before anything is read.
        foreach (var route in RoutePolicies.Table.Keys.Where(r => r.StartsWith("POST ", StringComparison.Ordinal) || r.StartsWith("PUT ", StringComparison.Ordinal)))
        {
            var method = route[..route.IndexOf(' ')];
            var path = route[(route.IndexOf(' ') + 1)..].Replace("{kind}", "ports", StringComparison.Ordinal).Replace("{id}", "p1", StringComparison.Ordinal).Replace("{name}", "x", StringComparison.Ordinal);
            var answer = Announce(serve, method, path, 100L << 20);
            Assert.True(answer.StartsWith("HTTP/1.1 413", StringComparison.Ordinal), $"{route}: {answer}");
            Assert.Contains("max_", answer, StringComparison.Ordinal);
        }
        Alive(serve, "100 MB bodies");

        // 3. Ten thousand export.js parameter sets: a tenant may not read the face at all (403); an operator's requests
        // make at most 100 definitions, then 429 with what to do.
        string Export(int i) => $"/app/prometheus/scripts/export.js/flows/ALL/txt?metric=m{i}&key=ipsource&value=bytes&filter=tcpsourceport={i % 65536}&t={1 + i % 30}";
        for (var i = 0; i < 3; i++) Assert.Equal(403, Send(HttpMethod.Get, url + Export(i), key: tenant).Status);
        var made = 0;
        var refused = 0;
        for (var i = 0; i < 10_000; i++)
        {
            var (status, answer) = SendSigned(HttpMethod.Get, url + Export(i), null, admin);
            if (status == 200) made++;
            else
            {
                Assert.True(status == 429, $"export.js parameter set {i}: {status} {answer}");
                Assert.Contains("export definitions", answer, StringComparison.Ordinal);
                refused++;
            }
        }
        Assert.Equal(100, made);
        Assert.Equal(10_000 - 100, refused);
        Alive(serve, "10,000 export.js parameter sets");

        // 4. Two thousand long-polls at once: a thousand wait, the others are told to come back (429); the server answers meanwhile.
        using var stop = new CancellationTokenSource();
        using var polls = new HttpClient { Timeout = TimeSpan.FromMinutes(3) };
        var waiting = Enumerable.Range(0, 2_000).Select(async i =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{url}/events/json?eventID=1000000&timeout=120&n={i}");
            var uri = request.RequestUri!;
            request.Headers.TryAddWithoutValidation("Authorization", Signatures.ApiAuthorization(admin.Id, admin.Secret, "GET", uri.AbsolutePath,
                [new("eventID", "1000000"), new("timeout", "120"), new("n", i.ToString(CultureInfo.InvariantCulture))], [], DateTimeOffset.UtcNow));
            try
            {
                using var response = await polls.SendAsync(request, stop.Token);
                return (int)response.StatusCode;
            }
            catch (OperationCanceledException)
            {
                return 0; // still waiting when the test let go
            }
        }).ToList();
        ServeProcess.WaitFor(() => waiting.Count(t => t.IsCompleted) >= 1_000, "a thousand long-polls refused", 120);
        Alive(serve, "2,000 long-polls");
        var metrics = serve.Get("/metrics");
        Assert.Contains("flowline_realtime_waiters{journal=\"events\"} 1000\n", metrics, StringComparison.Ordinal);
        await stop.CancelAsync();
        var outcomes = await Task.WhenAll(waiting);
        Assert.Equal(1_000, outcomes.Count(s => s == 429));
        Assert.Equal(1_000, outcomes.Count(s => s == 0));

        // 5. Regular expressions built to backtrack: run without backtracking (linear in the text), so the definition
        // counts as any other; a pattern the linear engine cannot run (back-references) is refused.
        // (a backtracking engine takes exponential time on "10.0.0.1" against this pattern).
        var (put, putBody) = SendSigned(HttpMethod.Put, url + "/flow/evil/json", """{"keys": "ipsource", "filter": "ipsource~^[0-9.]*[0-9.]*[0-9.]*[0-9.]*[0-9.]*[0-9.]*[0-9.]*[0-9.]*x$"}""", admin);
        Assert.True(put == 200, putBody);
        var (refusedRegex, why) = SendSigned(HttpMethod.Post, url + "/analytics/query",
            """{"table": "FlowRecordTable", "start_time": "now-1h", "end_time": "now", "select_fields": ["sourceip"], "limit": 5, "where": [[{"name": "sourcevn", "value": "(a)\\1", "op": 8}]]}""", admin);
        Assert.True(refusedRegex == 400 && why.Contains("REGEX_MATCH", StringComparison.Ordinal), why);
        var gen = FlowlineProcess.RunFlowline(["gen", "--protocol", "sflow", "--count", "20000", "--target", $"udp://127.0.0.1:{serve.Ports["sflow"]}", "--rate", "20000", "-q"]);
        Assert.Equal(0, gen.ExitCode);
        ServeProcess.WaitFor(() => Metric(serve, "flowline_realtime_rows_total") >= 20_000, "the definitions counting the 20,000 samples", 60);
        var (_, definition) = SendSigned(HttpMethod.Get, url + "/flow/evil/json", null, admin);
        Assert.DoesNotContain("disabled", definition, StringComparison.Ordinal);
        Assert.Contains("flowline_realtime_definitions_disabled_total 0\n", serve.Get("/metrics"), StringComparison.Ordinal);
        Alive(serve, "backtracking patterns");
        Assert.Equal(0, serve.Terminate());
    }
}
