using System.Net;
using System.Text;
using Flowline.Ingest;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api.Tests;

/// <summary>
/// The doors of the real serve app (every face on one Kestrel, as `flowline serve` builds it): every route has a
/// declared policy, an app with an undeclared route does not start, and each door refuses who may not open it.
/// </summary>
public sealed class DoorTests : IAsyncDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-doors-");
    private readonly HttpClient _http = new();
    private Ingest.Collector? _collector;
    private WebApplication? _app;

    private (WebApplication App, KeyStore Keys, Uri Base) Start(ApiOptions options, int failureLimit = 1_000_000)
    {
        var collectorOptions = new CollectorOptions
        {
            DataDir = Path.Combine(_dir.FullName, "data"),
            Sflow = [new IPEndPoint(IPAddress.Loopback, 0)], Netflow = [new IPEndPoint(IPAddress.Loopback, 0)], Ipfix = [new IPEndPoint(IPAddress.Loopback, 0)],
            Sessions = "on",
        };
        var flows = new Storage.Embedded.EmbeddedStore(collectorOptions.DataDir);
        _collector = new Ingest.Collector(collectorOptions, new FlowStores(flows, dir => new Storage.Embedded.EmbeddedStore(dir, new Storage.Embedded.EmbeddedStoreOptions { Symbols = flows.Symbols })));
        var keys = KeyStore.Open(collectorOptions.DataDir);
        _app = WebHost.Create(new IPEndPoint(IPAddress.Loopback, 0));
        // Many refusals from one address in a row: the test is not a brute-force attempt (unless it says so).
        ServeFaces.Map(_app, _collector, new RequestGuard(keys, failureLimit: failureLimit), new AuditLog(collectorOptions.DataDir), options, null,
            new SessionAccess(_collector.Sessions!.Store, (body, agent) => _collector.Sessions!.Ingest(body, agent), null),
            new TaasAccess(new Flowline.Taas.TapState(null), _ => null));
        _app.StartAsync().GetAwaiter().GetResult();
        return (_app, keys, new Uri(_app.Urls.First()));
    }

    /// <summary>A concrete path for a route pattern, and for the JCS face the parameters that make it a DescribeFlowLog.</summary>
    private static string PathOf(string pattern) => pattern == "/" ? "/?Action=DescribeFlowLog&Version=2016-03-01" :
        pattern.Replace("{kind}", "ports", StringComparison.Ordinal).Replace("{id}", "p1", StringComparison.Ordinal)
            .Replace("{agent}", "ALL", StringComparison.Ordinal).Replace("{metric}", "ALL", StringComparison.Ordinal).Replace("{name}", "x", StringComparison.Ordinal);

    private async Task<(int Status, string Body)> Send(Uri root, string method, string path, AccessKey? key = null, string? contentType = "application/json",
        Action<HttpRequestMessage>? prepare = null)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(root, path));
        var body = method is "GET" or "DELETE" ? [] : "{}"u8.ToArray();
        if (body.Length > 0) request.Content = new ByteArrayContent(body) { Headers = { ContentType = contentType is null ? null : new(contentType) } };
        if (key is not null)
        {
            var uri = new Uri(root, path);
            var query = System.Web.HttpUtility.ParseQueryString(uri.Query);
            var pairs = query.AllKeys.SelectMany(k => query.GetValues(k)!.Select(v => new KeyValuePair<string, string>(k!, v))).ToList();
            request.Headers.TryAddWithoutValidation("Authorization", Signatures.ApiAuthorization(key.Id, key.Secret, method, uri.AbsolutePath, pairs, body, DateTimeOffset.UtcNow));
        }
        prepare?.Invoke(request);
        using var response = await _http.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Every_route_declares_a_policy_and_every_closed_door_refuses_unsigned_and_tenant_requests()
    {
        var (app, keys, root) = Start(new ApiOptions { ScrapeToken = "scrape-token-0123456789abcdef" });
        var routes = RoutePolicies.Routes(app).Select(r => r.Route).Distinct().ToList();
        // The table and the mapped routes are the same set: no route without a policy, no policy without a route.
        Assert.Empty(routes.Except(RoutePolicies.Table.Keys));
        Assert.Empty(RoutePolicies.Table.Keys.Except(routes));
        Assert.True(routes.Count >= 55, $"{routes.Count} routes");

        var tenant = keys.Create("acc-1", admin: false);
        var checkedUnsigned = 0;
        var checkedTenant = 0;
        foreach (var route in routes)
        {
            var method = route[..route.IndexOf(' ')];
            var pattern = route[(route.IndexOf(' ') + 1)..];
            var policy = RoutePolicies.Table[route];
            var path = PathOf(pattern);
            // sFlow-RT's face holds every tenant's live traffic: operators only, whatever the table says.
            if (!pattern.StartsWith("/api/", StringComparison.Ordinal) && !pattern.StartsWith("/analytics/", StringComparison.Ordinal) && !pattern.StartsWith("/v2.0/", StringComparison.Ordinal)
                && !pattern.StartsWith("/console/", StringComparison.Ordinal) && pattern is not ("/" or "/healthz" or "/metrics"))
            {
                Assert.True(policy.Door == Door.Admin, $"{route} is on the sFlow-RT face but declares {policy.Name}");
            }
            if (policy.Door == Door.Open)
            {
                Assert.NotEqual(401, (await Send(root, method, path)).Status);
                continue;
            }
            var (status, body) = await Send(root, method, path, contentType: policy.SignedInQuery ? "application/x-www-form-urlencoded" : "application/json");
            Assert.True(status == 401, $"{route} unsigned: {status} {body}");
            checkedUnsigned++;
            if (policy.Door is Door.Admin or Door.AdminPassword or Door.Agent)
            {
                (status, body) = await Send(root, method, path, tenant);
                Assert.True(status == 403, $"{route} with a tenant key: {status} {body}");
                checkedTenant++;
            }
            if (policy.ScrapeToken)
            {
                (status, _) = await Send(root, method, path, prepare: r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer wrong-token-0123456789"));
                Assert.True(status == 401, $"{route} with a wrong bearer token: {status}");
            }
            else if (!policy.SignedInQuery)
            {
                // The right scrape token opens no other door, and the refusal says why.
                (status, body) = await Send(root, method, path, contentType: "application/json", prepare: r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer scrape-token-0123456789abcdef"));
                Assert.True(status == 401 && body.Contains("opens only reads", StringComparison.Ordinal), $"{route} with the scrape token: {status} {body}");
            }
        }
        Assert.True(checkedUnsigned >= 50 && checkedTenant >= 30, $"{checkedUnsigned} unsigned, {checkedTenant} tenant-signed checks");

        // The API description is made from these very endpoints: every route of every face, with its door.
        var (docStatus, docText) = await Send(root, "GET", "/api/v1/openapi.json");
        Assert.Equal(200, docStatus);
        using var doc = System.Text.Json.JsonDocument.Parse(docText);
        var documented = doc.RootElement.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Select(m => ($"{m.Name.ToUpperInvariant()} {p.Name}", m.Value.GetProperty("x-flowline-access").GetString()))).ToList();
        Assert.Equal(routes.Where(r => r != "GET /api/v1/explorer/sign.js").Order(), documented.Select(d => d.Item1).Order());
        foreach (var (route, access) in documented) Assert.Equal(RoutePolicies.Table[route].Name, access);
    }

    [Fact]
    public void An_app_with_a_route_that_declares_no_policy_does_not_start()
    {
        var app = WebHost.Create(new IPEndPoint(IPAddress.Loopback, 0));
        app.MapGet("/healthz", () => "ok");
        RoutePolicies.Verify(app);
        app.MapPost("/debug/dump", () => "everything");
        var e = Assert.Throws<InvalidOperationException>(() => RoutePolicies.Verify(app));
        Assert.Contains("POST /debug/dump", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task State_changes_refuse_cross_site_requests_and_forms_and_loopback_is_open_only_when_opted_in()
    {
        var (_, keys, root) = Start(new ApiOptions());
        var admin = keys.Create("acc-ops", admin: true);
        // Signed by an admin, the request reaches the face (which says what the definition lacks).
        Assert.Equal(400, (await Send(root, "PUT", "/flow/f/json", admin)).Status);
        // A form or text body, the kinds a page on another site can send without asking: refused.
        Assert.Equal(415, (await Send(root, "PUT", "/flow/f/json", admin, "text/plain")).Status);
        Assert.Equal(415, (await Send(root, "PUT", "/flow/f/json", admin, "application/x-www-form-urlencoded")).Status);
        Assert.Equal(403, (await Send(root, "PUT", "/flow/f/json", admin, prepare: r => r.Headers.Add("Sec-Fetch-Site", "cross-site"))).Status);
        // Without the opt-in, loopback is no key.
        Assert.Equal(401, (await Send(root, "GET", "/flow/json")).Status);
        Assert.Equal(401, (await Send(root, "GET", "/activeflows/ALL/x/json")).Status);
        // The scrape token reads only when configured.
        Assert.Equal(401, (await Send(root, "GET", "/prometheus/analyzer/txt", prepare: r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer "))).Status);
        await DisposeApp();

        var (_, _, open) = Start(new ApiOptions { RealtimeOpenOnLoopback = true });
        Assert.Equal(200, (await Send(open, "GET", "/flow/json")).Status);
        var put = await Send(open, "PUT", "/flow/pairs/json", prepare: r => r.Content = new StringContent("""{"keys":"ipsource,ipdestination"}""", Encoding.UTF8, "application/json"));
        Assert.True(put.Status == 200, put.Body);
        // The opt-in opens the sFlow-RT face only: /api/v1 still wants a signature.
        Assert.Equal(401, (await Send(open, "GET", "/api/v1/flows")).Status);
        Assert.Equal(401, (await Send(open, "GET", "/api/v1/realtime/flows")).Status);
    }

    [Fact]
    public async Task Requests_without_credentials_guess_nothing_and_lock_no_one_out_where_bad_signatures_do()
    {
        var (_, keys, root) = Start(new ApiOptions(), RequestGuard.FailureLimit);
        var admin = keys.Create("acc-ops", admin: true);
        // A dashboard without its key, polling: each is told what is missing, and the operators' keys still work.
        for (var i = 0; i < 2 * RequestGuard.FailureLimit; i++) Assert.Equal(401, (await Send(root, "GET", "/agents/json")).Status);
        Assert.Equal(200, (await Send(root, "GET", "/agents/json", admin)).Status);
        // Guessing (a key this server does not know) is counted, and then even a good signature waits.
        var guess = admin with { Id = "FLK" + new string('X', 17) };
        for (var i = 0; i < RequestGuard.FailureLimit; i++) Assert.Equal(401, (await Send(root, "GET", "/agents/json", guess)).Status);
        Assert.Equal(429, (await Send(root, "GET", "/agents/json", admin)).Status);
    }

    [Fact]
    public async Task An_agent_key_speaks_for_its_agent_only_and_opens_no_other_door()
    {
        var (_, keys, root) = Start(new ApiOptions());
        var agent = keys.Create("acc-ops", admin: false, agent: "node-1");
        var admin = keys.Create("acc-ops", admin: true);
        byte[] Batch(string name, long sequence) => Sessions.SessionEndpointJson.Write(name, sequence, 1_795_000_000_000_000, [], _collector!.Store.Symbols);
        async Task<(int Status, string Body)> Post(AccessKey key, byte[] body) =>
            await Send(root, "POST", "/api/v1/session-endpoints", key, prepare: r => Sign(r, key, body));
        var mine = await Post(agent, Batch("node-1", 1));
        Assert.True(mine.Status == 200, mine.Body);
        // Another agent's name: its sequence must not be moved on by this key.
        var other = await Post(agent, Batch("node-2", 99));
        Assert.True(other.Status == 403, other.Body);
        Assert.Equal(403, (await Post(admin, Batch("node-1", 2))).Status);
        Assert.Equal(403, (await Send(root, "GET", "/api/v1/flows", agent)).Status);
        Assert.Equal(403, (await Send(root, "GET", "/flow/json", agent)).Status);
        // Nor the Action API, signed in the query: DescribeFlowLog reads the account's flow logs.
        var tenant = keys.Create("acc-ops", admin: false);
        foreach (var (key, expected) in new[] { (agent, 403), (tenant, 200) })
        {
            var now = DateTimeOffset.UtcNow;
            var p = new List<KeyValuePair<string, string>>
            {
                new("Version", DescribeFlowLog.Version), new("Action", "DescribeFlowLog"),
                new("start_time", DescribeFlowLog.Format(now.AddMinutes(-10), TimeZoneInfo.Utc)),
                new("end_time", DescribeFlowLog.Format(now, TimeZoneInfo.Utc)),
            };
            Signatures.SignAction(p, key.Id, key.Secret, "GET", root.Authority, now);
            var action = await Send(root, "GET", "/?" + string.Join('&', p.Select(kv => Signatures.Encode(kv.Key) + "=" + Signatures.Encode(kv.Value))));
            Assert.True(action.Status == expected, $"{key.Id}: {action.Status} {action.Body}");
        }
        Assert.Throws<ArgumentException>(() => keys.Create("acc-ops", admin: true, agent: "node-3"));
        Assert.Throws<ArgumentException>(() => keys.Create("acc-ops", admin: false, agent: "no spaces"));
        Assert.Equal("node-1", KeyStore.Open(Path.Combine(_dir.FullName, "data")).Find(agent.Id)!.Agent);
    }

    [Fact]
    public async Task Bodies_over_the_limit_are_refused_by_their_length_before_any_signature_work()
    {
        var (_, keys, root) = Start(new ApiOptions { MaxRequestBody = 1000, MaxUploadBody = 5000 });
        var admin = keys.Create("acc-ops", admin: true);
        var agent = keys.Create("acc-ops", admin: false, agent: "node-1");
        var big = new byte[2000];
        // Unsigned, yet 413 and not 401: the length alone decides, nothing is read.
        var (status, body) = await Send(root, "POST", "/api/v1/query", prepare: r => r.Content = Json(big));
        Assert.True(status == 413, body);
        Assert.Contains("max_request_body", body, StringComparison.Ordinal);
        // The upload routes take more, from a known key only.
        Assert.Equal(401, (await Send(root, "POST", "/api/v1/session-endpoints", prepare: r => r.Content = Json(new byte[3000]))).Status);
        Assert.Equal(413, (await Send(root, "POST", "/api/v1/session-endpoints", prepare: r => r.Content = Json(new byte[6000]))).Status);
        Assert.Equal(400, (await Send(root, "POST", "/api/v1/session-endpoints", agent, prepare: r => Sign(r, agent, new byte[3000]))).Status);
        // Without a length (chunked), the body is cut off at the limit as it is read.
        (status, body) = await Send(root, "POST", "/api/v1/query", admin, prepare: r =>
        {
            Sign(r, admin, big);
            r.Content = new StreamContent(new MemoryStream(big)) { Headers = { ContentType = new("application/json") } };
            r.Headers.TransferEncodingChunked = true;
        });
        Assert.True(status == 413, body);
        Assert.Equal(200, (await Send(root, "GET", "/healthz")).Status);
    }

    private static ByteArrayContent Json(byte[] body) => new(body) { Headers = { ContentType = new("application/json") } };

    /// <summary>Replaces the request's body and signs it anew.</summary>
    private static void Sign(HttpRequestMessage r, AccessKey key, byte[] body)
    {
        r.Content = Json(body);
        r.Headers.Remove("Authorization");
        r.Headers.TryAddWithoutValidation("Authorization", Signatures.ApiAuthorization(key.Id, key.Secret, r.Method.Method, r.RequestUri!.AbsolutePath, [], body, DateTimeOffset.UtcNow));
    }

    private async Task DisposeApp()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
        _collector?.Dispose();
        _collector = null;
    }

    public async ValueTask DisposeAsync()
    {
        await DisposeApp();
        _http.Dispose();
        _dir.Delete(recursive: true);
    }
}
