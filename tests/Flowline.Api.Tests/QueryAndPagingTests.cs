using System.Text.Json;
using Flowline.Api;
using Flowline.Query;
using Flowline.Records;

namespace Flowline.Api.Tests;

/// <summary>
/// Two accounts' flows over an hour, many sharing a start time and some identical in every field, so that
/// paging has ties to get right.
/// </summary>
public sealed class QueryServer : IAsyncLifetime
{
    public static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 3600 * 3600 - 7200);
    public ApiServer Server { get; private set; } = null!;
    public AccessKey TenantA { get; private set; } = null!;
    public AccessKey Admin { get; private set; } = null!;
    public List<FlowRecord> Flows { get; } = [];

    public Task InitializeAsync()
    {
        Server = new ApiServer(store =>
        {
            var names = new SymbolNames(store);
            var batch = new FlowBatch();
            var random = new Random(7);
            for (var i = 0; i < 2000; i++)
            {
                var account = i % 3 == 0 ? "acc-b" : "acc-a";
                // 40 distinct start times over the hour; every tenth flow repeats its predecessor exactly.
                var start = (Start.ToUnixTimeSeconds() + random.Next(40) * 90) * 1_000_000L;
                var r = i % 10 == 9 ? Flows[^1] : ApiServer.Flow(names, account, start, random.Next(50), VmiDirections.Ingress);
                Flows.Add(r);
                batch.Add(r);
            }
            store.Append(batch);
        });
        TenantA = Server.Keys.Create("acc-a", admin: false);
        Admin = Server.Keys.Create("acc-ops", admin: true);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public sealed class QueryAndPagingTests(QueryServer f) : IClassFixture<QueryServer>
{
    private static KeyValuePair<string, string> P(string k, string v) => new(k, v);
    private static readonly string From = QueryServer.Start.ToString("yyyy-MM-ddTHH:mm:ssZ");
    private static readonly string To = QueryServer.Start.AddHours(2).ToString("yyyy-MM-ddTHH:mm:ssZ");
    private const string Fields = "start,src_addr,dst_addr,src_port,bytes,packets,account";

    private string AccountOf(FlowRecord r) => f.Server.Store.Symbols.Name(r.Account)!;

    private static string Message(JsonElement body) => body.GetProperty("error").GetProperty("message").GetString()!;

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(500)]
    public async Task Pages_joined_by_their_cursors_are_the_whole_answer_in_start_order(int pageSize)
    {
        var (status, whole, _) = await f.Server.Send(f.TenantA, HttpMethod.Get, "/api/v1/flows", [P("from", From), P("to", To), P("fields", Fields)]);
        Assert.Equal(200, status);
        var expected = whole.EnumerateArray().Select(e => e.GetRawText()).ToList();
        Assert.Equal(f.Flows.Count(r => AccountOf(r) == "acc-a"), expected.Count);

        var got = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            List<KeyValuePair<string, string>> q = [P("from", From), P("to", To), P("fields", Fields), P("limit", pageSize.ToString())];
            if (cursor is not null) q.Add(P("cursor", cursor));
            var (s, page, headers) = await f.Server.Send(f.TenantA, HttpMethod.Get, "/api/v1/flows", q);
            Assert.Equal(200, s);
            Assert.InRange(page.GetArrayLength(), 1, pageSize);
            got.AddRange(page.EnumerateArray().Select(e => e.GetRawText()));
            cursor = headers.TryGetValues("X-Flowline-Next-Cursor", out var v) ? v.Single() : null;
            if (cursor is not null) Assert.Contains("rel=\"next\"", headers.GetValues("Link").Single());
            pages++;
        } while (cursor is not null && pages < 5000);
        Assert.Null(cursor);
        Assert.Equal(expected.Order(StringComparer.Ordinal), got.Order(StringComparer.Ordinal));
        var starts = got.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("start").GetString()!).ToList();
        Assert.Equal(starts.Order(StringComparer.Ordinal), starts);
        Assert.Equal((expected.Count + pageSize - 1) / pageSize, pages);
    }

    [Fact]
    public async Task Bad_cursors_and_page_sizes_are_refused_with_what_to_send()
    {
        var (status, body, _) = await f.Server.Send(f.TenantA, HttpMethod.Get, "/api/v1/flows", [P("from", From), P("to", To), P("limit", "5"), P("cursor", "bm90LWEtY3Vyc29y")]);
        Assert.Equal(400, status);
        Assert.Contains("is not a cursor this server handed out", Message(body));
        (status, body, _) = await f.Server.Send(f.TenantA, HttpMethod.Get, "/api/v1/flows", [P("from", From), P("to", To), P("cursor", "MS4xLjAuMQ")]);
        Assert.Equal(400, status);
        Assert.Contains("send it with the limit", Message(body));
        (status, body, _) = await f.Server.Send(f.TenantA, HttpMethod.Get, "/api/v1/flows", [P("from", From), P("to", To), P("limit", "0")]);
        Assert.Equal(400, status);
        Assert.Contains("page size from 1 to", Message(body));
    }

    [Fact]
    public async Task A_filter_nested_a_million_deep_is_refused_and_the_server_goes_on()
    {
        var deep = new string('(', 1_000_000) + "proto tcp" + new string(')', 1_000_000);
        var (status, body, _) = await f.Server.Send(f.TenantA, HttpMethod.Post, "/api/v1/query", [],
            System.Text.Json.JsonSerializer.Serialize(new { from = From, to = To, filter = deep, group_by = new[] { "dst_port" } }));
        Assert.Equal(400, status);
        Assert.Contains("at most 65536 are taken", Message(body));
        // Within the length limit, 30,000 deep: refused for its depth (it used to overflow the stack and end the process).
        deep = new string('(', 30_000) + "proto tcp" + new string(')', 30_000);
        (status, body, _) = await f.Server.Send(f.TenantA, HttpMethod.Post, "/api/v1/query", [],
            System.Text.Json.JsonSerializer.Serialize(new { from = From, to = To, filter = deep, group_by = new[] { "dst_port" } }));
        Assert.Equal(400, status);
        Assert.Contains("nest deeper than 64", Message(body));
        (status, _, _) = await f.Server.Send(f.TenantA, HttpMethod.Post, "/api/v1/query", [], $$"""{"from":"{{From}}","to":"{{To}}","group_by":["dst_port"]}""");
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task Top_talkers_are_the_tenants_own_in_order()
    {
        var (status, body, _) = await f.Server.Send(f.TenantA, HttpMethod.Post, "/api/v1/query", [],
            $$"""{"from":"{{From}}","to":"{{To}}","group_by":["src_addr","account"],"order":"bytes","limit":5}""");
        Assert.Equal(200, status);
        var expected = f.Flows.Where(r => AccountOf(r) == "acc-a").GroupBy(r => r.SrcAddr.ToString())
            .Select(g => (Src: g.Key, Bytes: g.Aggregate(0UL, (a, r) => a + r.Bytes), Flows: g.Count()))
            .OrderByDescending(g => g.Bytes).Take(5).ToList();
        var rows = body.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(expected.Select(e => (e.Src, e.Bytes, e.Flows)),
            rows.Select(r => (r.GetProperty("src_addr").GetString()!, r.GetProperty("bytes").GetUInt64(), r.GetProperty("flows").GetInt32())));
        Assert.All(rows, r => Assert.Equal("acc-a", r.GetProperty("account").GetString()));
        Assert.Equal("acc-a", body.GetProperty("account").GetString());
    }

    [Fact]
    public async Task Either_side_statistics_count_a_flow_at_both_ends_within_the_tenant_and_rates_order_them()
    {
        var (status, body, _) = await f.Server.Send(f.TenantA, HttpMethod.Post, "/api/v1/query", [],
            $$"""{"from":"{{From}}","to":"{{To}}","statistic":"ip","order":"bps","limit":8}""");
        Assert.Equal(200, status);
        Assert.Equal("ip", body.GetProperty("statistic").GetString());
        // As nfdump counts -s ip: once for the source's address and once for the destination's.
        var expected = f.Flows.Where(r => AccountOf(r) == "acc-a").SelectMany(r => new[] { (Ip: r.SrcAddr, r), (Ip: r.DstAddr, r) })
            .GroupBy(e => e.Ip)
            .Select(g => (Ip: g.Key, Bytes: g.Aggregate(0UL, (a, e) => a + e.r.Bytes), Packets: g.Aggregate(0UL, (a, e) => a + e.r.Packets),
                Flows: g.Count(), First: g.Min(e => e.r.Start), Last: g.Max(e => e.r.End)))
            .Select(g => (g.Ip, g.Bytes, g.Flows, g.First, g.Last, Bps: Aggregator.Rate(Metric.Bps, g.Bytes, g.Packets, (ulong)g.Flows, g.First, g.Last)))
            .OrderByDescending(g => g.Bps).ThenBy(g => g.Ip).Take(8).ToList();
        Assert.True(expected.Select(e => e.Bps).Distinct().Count() > 3, "too few distinct rates to show an order");
        var rows = body.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(expected.Select(e => (e.Ip.ToString(), e.Bytes, e.Flows, GroupKey.FormatTime(e.First), GroupKey.FormatTime(e.Last), e.Bps)),
            rows.Select(r => (r.GetProperty("ip").GetString()!, r.GetProperty("bytes").GetUInt64(), r.GetProperty("flows").GetInt32(),
                r.GetProperty("first").GetString()!, r.GetProperty("last").GetString()!, r.GetProperty("bps").GetUInt64())));
    }

    [Fact]
    public async Task The_answer_states_the_range_and_bucket_as_applied()
    {
        var from = QueryServer.Start.AddSeconds(5.5).ToString("yyyy-MM-ddTHH:mm:ss.fZ");
        var (status, body, _) = await f.Server.Send(f.TenantA, HttpMethod.Post, "/api/v1/query", [],
            $$"""{"from":"{{from}}","to":"{{To}}","bucket":"1500ms","limit":3}""");
        Assert.Equal(200, status);
        Assert.Equal(from, body.GetProperty("from").GetString());
        Assert.Equal(To, body.GetProperty("to").GetString());
        Assert.Equal(1.5m, body.GetProperty("bucket_seconds").GetDecimal());
    }

    [Fact]
    public async Task A_window_is_applied_to_the_microsecond()
    {
        var first = f.Flows.Where(r => AccountOf(r) == "acc-a").Min(r => r.Start);
        var atFirst = f.Flows.Count(r => AccountOf(r) == "acc-a" && r.Start == first);
        string At(long micros) => DateTimeOffset.UnixEpoch.AddTicks(micros * 10).ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ");
        async Task<int> Flows(long from, long to)
        {
            var (status, body, _) = await f.Server.Send(f.TenantA, HttpMethod.Post, "/api/v1/query", [],
                $$"""{"from":"{{At(from)}}","to":"{{At(to)}}","group_by":["account"]}""");
            Assert.True(status == 200, body.ToString());
            return body.GetProperty("rows").EnumerateArray().Sum(r => r.GetProperty("flows").GetInt32());
        }
        Assert.Equal(atFirst, await Flows(first, first + 500));
        // One microsecond later is after those flows' start; half a millisecond after it is still after it.
        Assert.Equal(0, await Flows(first + 1, first + 500));
        Assert.Equal(atFirst, await Flows(first - 500, first + 1));
    }

    [Fact]
    public async Task A_time_series_of_more_rows_than_a_page_is_refused_as_too_broad()
    {
        var start = QueryServer.Start.ToUnixTimeMilliseconds() * 1000;
        await using var server = new ApiServer(store =>
        {
            var names = new SymbolNames(store);
            var batch = new FlowBatch();
            for (var i = 0; i < ApiV1.MaxPage + 10; i++) batch.Add(ApiServer.Flow(names, "acc-a", start + i * 1000L, i % 50, VmiDirections.Ingress));
            store.Append(batch);
        });
        var key = server.Keys.Create("acc-a", admin: false);
        var (status, body, _) = await server.Send(key, HttpMethod.Post, "/api/v1/query", [], $$"""{"from":"{{From}}","to":"{{To}}","bucket":"1ms"}""");
        Assert.Equal(400, status);
        Assert.Contains("100,010 rows (buckets × groups), at most 100,000", Message(body), StringComparison.Ordinal);
        (status, _, _) = await server.Send(key, HttpMethod.Post, "/api/v1/query", [], $$"""{"from":"{{From}}","to":"{{To}}","bucket":"1s"}""");
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task A_time_series_sums_each_bucket_and_an_admin_sees_every_account_with_the_password()
    {
        var query = $$"""{"from":"{{From}}","to":"{{To}}","bucket":"10m","group_by":["account"],"count_distinct":"src_addr"}""";
        var (status, body, _) = await f.Server.Send(f.Admin, HttpMethod.Post, "/api/v1/query", [P("account", "*")], query);
        Assert.Equal(403, status);
        Assert.Contains(ApiV1.AdminPasswordHeader, Message(body));
        (status, body, _) = await f.Server.Send(f.Admin, HttpMethod.Post, "/api/v1/query", [P("account", "*")], query, ApiServer.AdminPasswordText);
        Assert.Equal(200, status);
        Assert.Equal(600, body.GetProperty("bucket_seconds").GetInt32());
        var expected = f.Flows.GroupBy(r => (Bucket: r.Start / 600_000_000 * 600, Account: AccountOf(r)))
            .ToDictionary(g => g.Key, g => (Bytes: g.Aggregate(0UL, (a, r) => a + r.Bytes), Flows: g.Count(), Sources: g.Select(r => r.SrcAddr).Distinct().Count()));
        var rows = body.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(expected.Count, rows.Count);
        foreach (var r in rows)
        {
            var k = (DateTimeOffset.Parse(r.GetProperty("bucket").GetString()!).ToUnixTimeSeconds(), r.GetProperty("account").GetString()!);
            Assert.Equal(expected[k], (r.GetProperty("bytes").GetUInt64(), r.GetProperty("flows").GetInt32(), r.GetProperty("distinct_src_addr").GetInt32()));
        }
        var buckets = rows.Select(r => r.GetProperty("bucket").GetString()!).ToList();
        Assert.Equal(buckets.Order(StringComparer.Ordinal), buckets);
        Assert.Contains(f.Server.Audit.Tail(100), l => l.Contains("\"query\"") && l.Contains("granted"));
    }

    [Fact]
    public async Task A_nonce_lets_the_same_request_go_twice_in_a_second_and_without_one_the_second_is_a_replay()
    {
        List<KeyValuePair<string, string>> query = [P("from", From), P("to", To), P("limit", "1")];
        var url = new Uri(f.Server.Base, "/api/v1/flows?" + string.Join('&', query.Select(kv => Signatures.Encode(kv.Key) + "=" + Signatures.Encode(kv.Value))));
        var timestamp = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ");
        string Header(string? nonce) => $"{Signatures.Scheme} Credential={f.TenantA.Id}, Timestamp={timestamp}, " + (nonce is null ? "" : $"Nonce={nonce}, ") +
            "Signature=" + Signatures.ApiSignature(f.TenantA.Secret, Signatures.ApiStringToSign("GET", "/api/v1/flows", query, timestamp, [], nonce));
        foreach (var (nonce, status) in new[] { ((string?)null, 200), (null, 401), ("n1", 200), ("n2", 200), ("n1", 401) })
        {
            var (s, body) = await f.Server.Get(url, r => r.Headers.TryAddWithoutValidation("Authorization", Header(nonce)));
            Assert.Equal(status, s);
            if (status == 401) Assert.Contains("already received", body.GetProperty("error").GetProperty("message").GetString()!);
        }
        // A nonce longer than the replay cache keeps is refused by what is wrong with it, not as an unsigned request.
        var (longStatus, longBody) = await f.Server.Get(url, r => r.Headers.TryAddWithoutValidation("Authorization", Header(new string('n', 65))));
        Assert.Equal(401, longStatus);
        Assert.Contains("the Authorization header is not understood: the Nonce is 1 to 64 characters, not 65", longBody.GetProperty("error").GetProperty("message").GetString()!);
    }

    [Theory]
    [InlineData("not json", "the body is not JSON")]
    [InlineData("[1]", "the body is a JSON object")]
    [InlineData("""{"from":"yesterday","to":"2026-01-01T00:00:00Z","group_by":["src_addr"]}""", "from and to are required as RFC 3339")]
    [InlineData("""{"from":"F","to":"T","group_by":["srcaddr"]}""", "unknown field 'srcaddr'")]
    [InlineData("""{"from":"F","to":"T","group_by":["dst_port/24"]}""", "only address fields take a prefix length")]
    [InlineData("""{"from":"F","to":"T","bucket":"5 minutes"}""", "bucket is a width such as")]
    [InlineData("""{"from":"F","to":"T","group_by":["src_addr"],"order":"size"}""", "order \"size\": expected \"bytes\", \"packets\", \"flows\", or a rate: \"pps\", \"bps\", \"bpp\"")]
    [InlineData("""{"from":"F","to":"T","group_by":["src_addr"],"order":5}""", "order 5: expected \"bytes\"")]
    [InlineData("""{"from":"F","to":"T","group_by":["src_addr"],"limit":0}""", "limit is a number of groups")]
    [InlineData("""{"from":"F","to":"T"}""", "ask for groups (group_by or statistic), a time series (bucket) or both")]
    [InlineData("""{"from":"F","to":"T","statistic":"ip/bytes"}""", "statistic \"ip/bytes\": give the order in \"order\"")]
    [InlineData("""{"from":"F","to":"T","statistic":"ip","group_by":["src_addr"]}""", "statistic and group_by are two kinds of grouping")]
    [InlineData("""{"from":"F","to":"T","statistic":"port","bucket":"5m"}""", "statistic port counts either side of a flow; it does not combine with bucket")]
    [InlineData("""{"from":"F","to":"T","statistic":"nextas"}""", "statistic: -s nextas: nfdump's statistic 'nextas' counts next AS numbers")]
    [InlineData("""{"from":"F","to":"T","statistic":"ip","count_distinct":"dst_port"}""", "count_distinct goes with group_by, not with statistic")]
    [InlineData("""{"from":"F","to":"T","group_by":["src_addr"],"filter":"proto tcp and ("}""", "filter:")]
    [InlineData("""{"from":"F","to":"T","group_by":["src_addr"],"account":"acc-b"}""", "the account goes in the query string")]
    [InlineData("""{"from":"F","to":"T","group_by":["ip_proto"],"filter":"vn \ud800"}""", "a string that is not valid Unicode")]
    [InlineData("""{"from":"F","to":"T","group_by":["ip_proto"],"filter":5}""", "filter is a string, not number")]
    [InlineData("""{"from":"F","to":"T","group_by":["src_addr","srcip"]}""", "group_by: 'srcip' groups by src_addr again")]
    [InlineData("""{"from":"F","to":"T","statistic":"proto:p"}""", "the statistic is the protocol already")]
    [InlineData("""{"from":"F","to":"T","group_by":["ip_proto"],"filter":{"x":1}}""", "filter is a string, not object")]
    [InlineData("""{"from":"F","to":"T","group_by":["ip_proto","\udfff"]}""", "a string that is not valid Unicode")]
    [InlineData("""{"from":"F","to":"T","group_by":[5]}""", "group_by is a list of field names, e.g. [\"src_addr/24\", \"dst_port\"], not [5]")]
    [InlineData("""{"from":"F","to":"T","statistic":["ip"]}""", "statistic is one of nfdump's -s names as a string, e.g. \"ip\"")]
    [InlineData("""{"from":"F","to":"T","statistic":"ip/ 24"}""", "statistic: -s ip/ 24: 'src_addr/ 24': ' 24' is not a prefix length")]
    public async Task Bad_query_bodies_get_a_400_that_says_what_to_change(string json, string message)
    {
        var (status, body, _) = await f.Server.Send(f.TenantA, HttpMethod.Post, "/api/v1/query", [], json.Replace("\"F\"", $"\"{From}\"").Replace("\"T\"", $"\"{To}\""));
        Assert.Equal(400, status);
        Assert.Contains(message, Message(body));
        // Only what JSON requires is escaped: an apostrophe stays one, not \u0027.
        Assert.Contains(message.Replace("\"", "\\\""), body.GetRawText());
    }
}
