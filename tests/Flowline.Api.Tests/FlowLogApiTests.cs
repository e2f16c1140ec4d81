using System.Text.Json;
using Flowline.Api;
using Flowline.Records;

namespace Flowline.Api.Tests;

/// <summary>Flows of accounts acc-a and acc-b over the last hour, one every 10 s each, alternating direction.</summary>
public sealed class FlowLogServer : IAsyncLifetime
{
    public static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60 * 60 - 3600);
    public ApiServer Server { get; private set; } = null!;
    public AccessKey TenantA { get; private set; } = null!;
    public AccessKey TenantB { get; private set; } = null!;
    public AccessKey Admin { get; private set; } = null!;
    public Dictionary<string, List<FlowRecord>> Flows { get; } = new() { ["acc-a"] = [], ["acc-b"] = [] };

    public Task InitializeAsync()
    {
        Server = new ApiServer(store =>
        {
            var names = new SymbolNames(store);
            var batch = new FlowBatch();
            for (var i = 0; i < 360; i++)
            {
                foreach (var account in new[] { "acc-a", "acc-b" })
                {
                    var r = ApiServer.Flow(names, account, (Start.ToUnixTimeSeconds() + i * 10) * 1_000_000L + (account == "acc-b" ? 1 : 0), i, i % 2 == 0 ? VmiDirections.Ingress : VmiDirections.Egress);
                    Flows[account].Add(r);
                    batch.Add(r);
                }
            }
            store.Append(batch);
        });
        TenantA = Server.Keys.Create("acc-a", admin: false);
        TenantB = Server.Keys.Create("acc-b", admin: false);
        Admin = Server.Keys.Create("acc-ops", admin: true);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public sealed class FlowLogApiTests(FlowLogServer f) : IClassFixture<FlowLogServer>
{
    private static KeyValuePair<string, string> P(string k, string v) => new(k, v);

    private static List<KeyValuePair<string, string>> Window(int fromMinute, int toMinute) =>
        [P("start_time", ApiServer.Ist(FlowLogServer.Start.AddMinutes(fromMinute))), P("end_time", ApiServer.Ist(FlowLogServer.Start.AddMinutes(toMinute)))];

    private static (string Code, string Message) Error(JsonElement body)
    {
        var e = body.GetProperty("Response").GetProperty("Errors").GetProperty("Error");
        return (e.GetProperty("Code").GetString()!, e.GetProperty("Message").GetString()!);
    }

    private static List<JsonElement> Items(JsonElement body) =>
        [.. body.GetProperty("DescribeFlowLogResponse").GetProperty("value").GetProperty("item").EnumerateArray()];

    [Fact]
    public async Task A_tenant_reads_its_own_window_in_the_seeds_shape()
    {
        var (status, body) = await f.Server.Describe(f.TenantA, Window(0, 30));
        Assert.Equal(200, status);
        var response = body.GetProperty("DescribeFlowLogResponse");
        Assert.Equal(["@xmlns", "requestId", "value"], response.EnumerateObject().Select(p => p.Name));
        Assert.StartsWith("req-", response.GetProperty("requestId").GetString(), StringComparison.Ordinal);
        var items = Items(body);
        var expected = f.Flows["acc-a"].Where(r => r.Start < FlowLogServer.Start.AddMinutes(30).ToUnixTimeMilliseconds() * 1000).ToList();
        Assert.Equal(expected.Count, items.Count);
        string[] seedFields = ["action", "agg-bytes", "agg-packets", "destip", "destvn", "directionIng", "dport", "nwAceUuid", "protocol", "setupTime",
            "sgRuleUuid", "sourceip", "sourcevn", "sport", "teardownTime", "underlayProto", "underlaySourcePort", "uuidKey"];
        foreach (var item in items)
        {
            Assert.Equal(seedFields, item.EnumerateObject().Select(p => p.Name));
            Assert.All(item.EnumerateObject(), p => Assert.Equal(JsonValueKind.String, p.Value.ValueKind));
        }
        // Field by field against the flows stored.
        var byStart = expected.ToDictionary(r => r.Start);
        foreach (var item in items)
        {
            var r = byStart[long.Parse(item.GetProperty("setupTime").GetString()!)];
            Assert.Equal("pass", item.GetProperty("action").GetString());
            Assert.Equal(r.Bytes.ToString(), item.GetProperty("agg-bytes").GetString());
            Assert.Equal(r.Packets.ToString(), item.GetProperty("agg-packets").GetString());
            Assert.Equal(r.DstAddr.ToString(), item.GetProperty("destip").GetString());
            Assert.Equal(r.SrcAddr.ToString(), item.GetProperty("sourceip").GetString());
            Assert.Equal("default-domain:services:public", item.GetProperty("destvn").GetString());
            Assert.Equal("default-domain:acc-a:net", item.GetProperty("sourcevn").GetString());
            Assert.Equal(r.VmiDirection == VmiDirections.Egress ? "1" : "0", item.GetProperty("directionIng").GetString());
            Assert.Equal("443", item.GetProperty("dport").GetString());
            Assert.Equal(r.SrcPort.ToString(), item.GetProperty("sport").GetString());
            Assert.Equal("6", item.GetProperty("protocol").GetString());
            Assert.Equal(r.End.ToString(), item.GetProperty("teardownTime").GetString());
            Assert.Equal("0", item.GetProperty("underlayProto").GetString());
            Assert.Equal("0", item.GetProperty("underlaySourcePort").GetString());
            Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", item.GetProperty("uuidKey").GetString());
        }
    }

    [Fact]
    public async Task Direction_selects_ingress_or_egress()
    {
        var (_, ingress) = await f.Server.Describe(f.TenantA, [.. Window(0, 30), P("direction_ing", "0")]);
        var (_, egress) = await f.Server.Describe(f.TenantA, [.. Window(0, 30), P("direction_ing", "1")]);
        Assert.All(Items(ingress), i => Assert.Equal("0", i.GetProperty("directionIng").GetString()));
        Assert.All(Items(egress), i => Assert.Equal("1", i.GetProperty("directionIng").GetString()));
        Assert.Equal(90, Items(ingress).Count);
        Assert.Equal(90, Items(egress).Count);
    }

    public static TheoryData<string, string[], int, string, string> Rules => new()
    {
        { "start_time missing", ["end_time", "+10"], 400, "MissingParameter", "start_time is required" },
        { "end_time missing", ["start_time", "+0"], 400, "MissingParameter", "end_time is required" },
        { "start_time not a time", ["start_time", "2016-11-08 16:30", "end_time", "+10"], 400, "InvalidParameterValue", "is not a time 'dd-mm-yyyy hh:mm:ss'" },
        { "end_time not a time", ["start_time", "+0", "end_time", "31-02-2026 10:00:00"], 400, "InvalidParameterValue", "end_time '31-02-2026 10:00:00' is not a time" },
        { "start in the future", ["start_time", "+120", "end_time", "+130"], 400, "InvalidParameterValue", "is in the future" },
        { "start more than 15 days ago", ["start_time", "-21700", "end_time", "-21690"], 400, "InvalidParameterValue", "more than 15 days ago" },
        { "end before start", ["start_time", "+10", "end_time", "+5"], 400, "InvalidParameterValue", "must be later than start_time" },
        { "end equal to start", ["start_time", "+10", "end_time", "+10"], 400, "InvalidParameterValue", "must be later than start_time" },
        { "more than 30 minutes", ["start_time", "+0", "end_time", "+31"], 400, "InvalidParameterValue", "at most 30 minutes can be read in one request" },
        { "direction not 0 or 1", ["start_time", "+0", "end_time", "+10", "direction_ing", "2"], 400, "InvalidParameterValue", "must be 0 (ingress) or 1 (egress)" },
        { "account without direction", ["start_time", "+0", "end_time", "+10", "account", "acc-a"], 400, "MissingParameter", "direction_ing is required with account" },
        { "account not an id", ["start_time", "+0", "end_time", "+10", "account", "1234", "direction_ing", "1"], 400, "InvalidParameterValue", "is not an account id" },
        { "another account with a tenant key", ["start_time", "+0", "end_time", "+10", "account", "acc-b", "direction_ing", "1"], 403, "UnauthorizedOperation", "may read only that account" },
        { "wrong version", ["Version", "2015-01-01", "start_time", "+0", "end_time", "+10"], 400, "InvalidParameterValue", "Version '2015-01-01' is not supported" },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public async Task Every_rule_of_the_seed_has_its_error(string rule, string[] pairs, int status, string code, string message)
    {
        var p = new List<KeyValuePair<string, string>>();
        for (var i = 0; i < pairs.Length; i += 2)
        {
            var v = pairs[i + 1];
            // "+N"/"-N": N minutes from the data's start, in IST.
            if (v.Length > 1 && v[0] is '+' or '-' && int.TryParse(v, out var minutes)) v = ApiServer.Ist(FlowLogServer.Start.AddMinutes(minutes));
            p.Add(P(pairs[i], v));
        }
        var parameters = p.Where(kv => kv.Key != "Version").ToList();
        var (actual, body) = await f.Server.Describe(f.TenantA, parameters, tamper: pairs[0] == "Version" ? q => q.Replace("Version=2016-03-01", "Version=2015-01-01", StringComparison.Ordinal) : null);
        if (pairs[0] == "Version")
        {
            // The tampered request no longer matches its signature; sign the wrong version itself instead.
            (actual, body) = await SignedWithVersion(parameters, "2015-01-01");
        }
        Assert.True(status == actual, $"{rule}: expected {status}, got {actual}: {body}");
        var (c, m) = Error(body);
        Assert.Equal(code, c);
        Assert.Contains(message, m, StringComparison.Ordinal);
    }

    private async Task<(int, JsonElement)> SignedWithVersion(List<KeyValuePair<string, string>> parameters, string version)
    {
        var p = new List<KeyValuePair<string, string>> { P("Version", version), P("Action", "DescribeFlowLog") };
        p.AddRange(parameters);
        Signatures.SignAction(p, f.TenantA.Id, f.TenantA.Secret, "GET", f.Server.Base.Authority, DateTimeOffset.UtcNow);
        return await f.Server.Get(new Uri(f.Server.Base, "/?" + string.Join('&', p.Select(kv => Signatures.Encode(kv.Key) + "=" + Signatures.Encode(kv.Value)))));
    }

    [Fact]
    public async Task Quoted_times_as_in_the_seeds_sample_request_are_accepted()
    {
        var (status, body) = await f.Server.Describe(f.TenantA,
            [P("start_time", "\"" + ApiServer.Ist(FlowLogServer.Start) + "\""), P("end_time", "\"" + ApiServer.Ist(FlowLogServer.Start.AddMinutes(5)) + "\"")]);
        Assert.Equal(200, status);
        Assert.Equal(30, Items(body).Count);
    }

    [Fact]
    public async Task Unsigned_and_badly_signed_requests_are_refused()
    {
        var (status, body) = await f.Server.Describe(null, Window(0, 10));
        Assert.Equal(401, status);
        Assert.Equal("AuthFailure", Error(body).Code);
        Assert.Contains("not signed", Error(body).Message, StringComparison.Ordinal);

        (status, body) = await f.Server.Describe(f.TenantA with { Secret = "not-the-secret" }, Window(0, 10));
        Assert.Equal(401, status);
        Assert.Equal("SignatureDoesNotMatch", Error(body).Code);

        // Changing a signed parameter breaks the signature.
        (status, body) = await f.Server.Describe(f.TenantA, Window(0, 10), tamper: q => q.Replace("Action=DescribeFlowLog", "Action=DescribeFlowLog&direction_ing=1", StringComparison.Ordinal));
        Assert.Equal(401, status);
        Assert.Equal("SignatureDoesNotMatch", Error(body).Code);

        (status, body) = await f.Server.Describe(f.TenantA with { Id = "FLKNOSUCHKEY0000000" }, Window(0, 10));
        Assert.Equal(401, status);
        Assert.Contains("does not exist", Error(body).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Old_future_and_replayed_timestamps_are_refused()
    {
        var (status, body) = await f.Server.Describe(f.TenantA, Window(0, 10), DateTimeOffset.UtcNow.AddMinutes(-6));
        Assert.Equal(401, status);
        Assert.Equal("RequestExpired", Error(body).Code);
        Assert.Contains("older than 5 minutes", Error(body).Message, StringComparison.Ordinal);

        (status, body) = await f.Server.Describe(f.TenantA, Window(0, 10), DateTimeOffset.UtcNow.AddMinutes(6));
        Assert.Equal(401, status);
        Assert.Contains("later than 5 minutes", Error(body).Message, StringComparison.Ordinal);

        List<KeyValuePair<string, string>> p = [P("Version", "2016-03-01"), P("Action", "DescribeFlowLog"), .. Window(10, 20)];
        Signatures.SignAction(p, f.TenantA.Id, f.TenantA.Secret, "GET", f.Server.Base.Authority, DateTimeOffset.UtcNow);
        var url = new Uri(f.Server.Base, "/?" + string.Join('&', p.Select(kv => Signatures.Encode(kv.Key) + "=" + Signatures.Encode(kv.Value))));
        Assert.Equal(200, (await f.Server.Get(url)).Status);
        (status, body) = await f.Server.Get(url);
        Assert.Equal(401, status);
        Assert.Equal("RequestReplayed", Error(body).Code);
    }

    [Fact]
    public async Task A_revoked_key_is_refused_from_the_next_request()
    {
        var key = f.Server.Keys.Create("acc-a", admin: false);
        Assert.Equal(200, (await f.Server.Describe(key, Window(0, 1))).Status);
        KeyStore.Open(f.Server.Dir.FullName).Revoke(key.Id); // as `flowline keys revoke` would, from another process
        var (status, body) = await f.Server.Describe(key, Window(1, 2));
        Assert.Equal(401, status);
        Assert.Contains("was revoked", Error(body).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_admin_reads_another_account_only_with_the_admin_password_and_every_attempt_is_audited()
    {
        var before = f.Server.Audit.Tail(1000).Count;
        List<KeyValuePair<string, string>> other = [.. Window(0, 10), P("account", "acc-b"), P("direction_ing", "1")];

        var (status, body) = await f.Server.Describe(f.Admin, other);
        Assert.Equal(403, status);
        Assert.Contains("needs admin_password", Error(body).Message, StringComparison.Ordinal);

        (status, body) = await f.Server.Describe(f.Admin, [.. other, P("admin_password", "guess")]);
        Assert.Equal(403, status);
        Assert.Equal("admin_password is wrong", Error(body).Message);

        (status, body) = await f.Server.Describe(f.TenantA, [.. other, P("admin_password", ApiServer.AdminPasswordText)]);
        Assert.Equal(403, status);
        Assert.Contains("may read only that account", Error(body).Message, StringComparison.Ordinal);

        (status, body) = await f.Server.Describe(f.Admin, [.. other, P("admin_password", ApiServer.AdminPasswordText)]);
        Assert.Equal(200, status);
        var items = Items(body);
        Assert.Equal(30, items.Count);
        Assert.All(items, i => Assert.Equal("default-domain:acc-b:net", i.GetProperty("sourcevn").GetString()));

        (status, body) = await f.Server.Describe(f.Admin, [.. Window(0, 10), P("admin_password", ApiServer.AdminPasswordText)]);
        Assert.Equal(200, status);
        Assert.Equal(120, Items(body).Count); // every account

        var audit = f.Server.Audit.Tail(1000).Skip(before).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["denied", "denied", "denied", "granted", "granted"], audit.Select(a => a.GetProperty("outcome").GetString()));
        Assert.Equal(["acc-b", "acc-b", "acc-b", "acc-b", "all accounts"], audit.Select(a => a.GetProperty("target").GetString()));
        Assert.Equal(f.TenantA.Id, audit[2].GetProperty("key").GetString());
    }

    [Fact]
    public async Task The_admin_password_may_come_in_a_header_so_that_it_stays_out_of_urls_and_logs()
    {
        // A window of its own: the same parameters signed in the same second as another test's would be a replay.
        List<KeyValuePair<string, string>> other = [.. Window(0, 9), P("account", "acc-b"), P("direction_ing", "1")];
        var first = DateTimeOffset.UtcNow;
        var (status, body) = await f.Server.Describe(f.Admin, other, at: first, prepare: r => r.Headers.Add(ApiV1.AdminPasswordHeader, ApiServer.AdminPasswordText));
        Assert.Equal(200, status);
        Assert.NotEmpty(Items(body));
        Assert.All(Items(body), i => Assert.Equal("default-domain:acc-b:net", i.GetProperty("sourcevn").GetString()));
        // Signed anew, at a second the first request was not signed at (a signature is served once; checking the
        // password takes long enough that "now minus a little" could land on the first request's second).
        (status, body) = await f.Server.Describe(f.Admin, other, at: first.AddSeconds(-1), prepare: r => r.Headers.Add(ApiV1.AdminPasswordHeader, "guess"));
        Assert.Equal(403, status);
        Assert.Equal("admin_password is wrong", Error(body).Message);
        Assert.StartsWith("pbkdf2-sha256$600000$", AdminPassword.Hash("any password"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_and_missing_actions_are_refused()
    {
        var (status, body) = await f.Server.Get(new Uri(f.Server.Base, "/?Action=RunInstances"));
        Assert.Equal(400, status);
        Assert.Equal("InvalidAction", Error(body).Code);
        (status, body) = await f.Server.Get(new Uri(f.Server.Base, "/?Version=2016-03-01"));
        Assert.Equal(400, status);
        Assert.Equal("MissingAction", Error(body).Code);
    }

    [Fact]
    public async Task The_root_without_parameters_is_the_web_console_page()
    {
        using var response = await f.Server.Http.GetAsync(new Uri(f.Server.Base, "/"));
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<script src=\"/console/console.js\">", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_v1_flows_stream_is_scoped_to_the_keys_account()
    {
        var from = FlowLogServer.Start.ToString("yyyy-MM-ddTHH:mm:ssZ");
        var to = FlowLogServer.Start.AddHours(2).ToString("yyyy-MM-ddTHH:mm:ssZ");
        // A filter naming the other account cannot widen the scope.
        var (status, body) = await f.Server.ApiGet(f.TenantA, "/api/v1/flows", [P("from", from), P("to", to), P("fields", "account,vmi,src_addr,bytes"), P("filter", "account acc-b or any")]);
        Assert.Equal(200, status);
        var rows = body.EnumerateArray().ToList();
        Assert.Equal(360, rows.Count);
        Assert.All(rows, r => Assert.Equal("acc-a", r.GetProperty("account").GetString()));
        Assert.All(rows, r => Assert.StartsWith("acc-a:vmi-", r.GetProperty("vmi").GetString(), StringComparison.Ordinal));

        (status, body) = await f.Server.ApiGet(f.TenantA, "/api/v1/flows", [P("from", from), P("to", to), P("account", "acc-b")]);
        Assert.Equal(403, status);
        (status, body) = await f.Server.ApiGet(f.Admin, "/api/v1/flows", [P("from", from), P("to", to), P("account", "acc-b"), P("limit", "5")], ApiServer.AdminPasswordText);
        Assert.Equal(200, status);
        Assert.Equal(5, body.GetArrayLength());
    }

    [Fact]
    public async Task The_v1_flows_come_as_VPC_flow_log_lines_with_the_fields_asked_for_and_in_pages()
    {
        var from = FlowLogServer.Start.ToString("yyyy-MM-ddTHH:mm:ssZ");
        var to = FlowLogServer.Start.AddHours(2).ToString("yyyy-MM-ddTHH:mm:ssZ");
        var (status, text, type, _) = await f.Server.ApiGetText(f.TenantA, "/api/v1/flows", [P("from", from), P("to", to), P("format", "vpc")]);
        Assert.Equal(200, status);
        Assert.Equal("text/plain", type);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status", lines[0]);
        Assert.Equal(361, lines.Length);
        // The first flow of acc-a (i = 0): what the seed's fields hold, in version 2's order.
        var first = f.Flows["acc-a"][0];
        Assert.Contains($"2 acc-a acc-a:vmi-0 10.0.0.0 10.1.0.0 40000 443 6 2 1000 {first.Start / 1_000_000} {first.End / 1_000_000} ACCEPT OK", lines.Skip(1));
        Assert.All(lines.Skip(1), l => Assert.StartsWith("2 acc-a ", l, StringComparison.Ordinal));

        // Version 5 fields chosen, two pages of 200 and 160 lines, each with its header.
        List<KeyValuePair<string, string>> Query(string? cursor) =>
            [P("from", from), P("to", to), P("format", "vpc"), P("fields", "version,interface-id,vpc-id,flow-direction,bytes"), P("limit", "200"), .. cursor is null ? Array.Empty<KeyValuePair<string, string>>() : [P("cursor", cursor)]];
        var (s1, page1, _, h1) = await f.Server.ApiGetText(f.TenantA, "/api/v1/flows", Query(null));
        Assert.Equal(200, s1);
        var cursor = h1.GetValues("X-Flowline-Next-Cursor").Single();
        var (s2, page2, _, h2) = await f.Server.ApiGetText(f.TenantA, "/api/v1/flows", Query(cursor));
        Assert.Equal(200, s2);
        Assert.False(h2.Contains("X-Flowline-Next-Cursor"));
        var rows = page1.Split('\n', StringSplitOptions.RemoveEmptyEntries).Concat(page2.Split('\n', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Equal(2, rows.Count(r => r == "version interface-id vpc-id flow-direction bytes"));
        var data = rows.Where(r => !r.StartsWith("version", StringComparison.Ordinal)).ToList();
        Assert.Equal(360, data.Count);
        Assert.All(data, r => Assert.Matches(@"^5 acc-a:vmi-[012] default-domain:\S+ (ingress|egress) \d+$", r));
        Assert.Equal(f.Flows["acc-a"].Sum(x => (long)x.Bytes), data.Sum(r => long.Parse(r.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture)));

        var (bad, message, _, _) = await f.Server.ApiGetText(f.TenantA, "/api/v1/flows", [P("from", from), P("to", to), P("format", "vpc"), P("fields", "version,colour")]);
        Assert.Equal(400, bad);
        Assert.Contains("'colour' is not a VPC flow-log field", JsonDocument.Parse(message).RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        (bad, message, _, _) = await f.Server.ApiGetText(f.TenantA, "/api/v1/flows", [P("from", from), P("to", to), P("format", "xml")]);
        Assert.Equal(400, bad);
        Assert.Contains("expected ndjson (default) or vpc", message, StringComparison.Ordinal);
        // What would otherwise be ignored, and every flow sent: a misspelt parameter, an empty limit, no fields.
        foreach (var (parameters, expected) in new (KeyValuePair<string, string>[], string)[]
                 {
                     ([P("from", from), P("to", to), P("filtre", "proto tcp")], "'filtre' is not a parameter of /api/v1/flows"),
                     ([P("from", from), P("to", to), P("limit", "")], "limit '' is not a page size"),
                     ([P("from", from), P("to", to), P("fields", ",,")], "fields names no field"),
                     ([P("from", from), P("to", to), P("fields", "src_addr,src_addr")], "'src_addr' is given twice"),
                     ([P("from", from), P("to", to), P("format", "vpc"), P("fields", "srcaddr,srcaddr")], "'srcaddr' is given twice"),
                 })
        {
            (bad, message, _, _) = await f.Server.ApiGetText(f.TenantA, "/api/v1/flows", [.. parameters]);
            Assert.Equal(400, bad);
            Assert.Contains(expected, JsonDocument.Parse(message).RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        }
    }
}
