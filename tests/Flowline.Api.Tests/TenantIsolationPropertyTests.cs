using System.Text.Json;
using Flowline.Api;
using Flowline.Records;

namespace Flowline.Api.Tests;

/// <summary>
/// Tenant isolation as a property, through HTTP: for random accounts (names that are prefixes of each other,
/// one with keys but no flows), random keys, random flows and random requests on every read path, a tenant key
/// gets exactly its own account's rows, never one of another's, and every attempt to read another account
/// without admin rights and the right password is refused and audited. The read paths: /api/v1/flows, /api/v1/query,
/// DescribeFlowLog and the Contrail /analytics/query (the real-time face has its own, RealtimeIsolationPropertyTests).
/// On the embedded store and on the ClickHouse engine over a 2-shard cluster.
/// </summary>
public sealed class TenantIsolationPropertyTests(Flowline.Testing.ClickHouseClusterFixture cluster) : IClassFixture<Flowline.Testing.ClickHouseClusterFixture>
{
    private static KeyValuePair<string, string> P(string k, string v) => new(k, v);

    private sealed record Stored(string Account, FlowRecord Record, string Vmi);

    [Theory]
    [InlineData(1, "embedded")]
    [InlineData(2, "embedded")]
    [InlineData(3, "embedded")]
    [InlineData(4, "clickhouse")]
    [InlineData(5, "clickhouse")]
    public async Task A_tenant_reads_exactly_its_own_account_on_every_read_path(int seed, string engine)
    {
        var random = new Random(seed);
        string[] accounts = ["acc-p1", "acc-p10", "acc-p11", "acc-p2", "acc-q" + seed, "acc-empty"];
        var start = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60 * 60 - 7200);
        var stored = new List<Stored>();
        await using var server = new ApiServer(store =>
        {
            var names = new SymbolNames(store);
            var batch = new FlowBatch();
            var count = 800 + random.Next(800);
            for (var i = 0; i < count; i++)
            {
                // Every account but the last has flows; some VMIs are named after another account.
                var account = accounts[random.Next(accounts.Length - 1)];
                var t = (start.ToUnixTimeSeconds() + random.Next(7000)) * 1_000_000L + i;
                var r = ApiServer.Flow(names, account, t, i, random.Next(2) == 0 ? VmiDirections.Ingress : VmiDirections.Egress);
                var vmi = random.Next(4) == 0 ? accounts[random.Next(accounts.Length)] + ":vmi-x" : account + ":vmi-" + (i % 3);
                r.Vmi = names.Id(vmi);
                r.SrcPort = (ushort)(20000 + i);
                stored.Add(new Stored(account, r, vmi));
                batch.Add(r);
            }
            store.Append(batch);
        }, open: engine == "clickhouse"
            ? _ => new Storage.ClickHouse.ClickHouseStore(Storage.ClickHouse.ClickHouseLocation.Parse(cluster.Location($"isolation{seed}")))
            : null);
        var keys = accounts.ToDictionary(a => a, a => server.Keys.Create(a, admin: false));
        var admin = server.Keys.Create("acc-ops", admin: true);
        var from = start.ToString("yyyy-MM-ddTHH:mm:ssZ");
        var to = start.AddHours(3).ToString("yyyy-MM-ddTHH:mm:ssZ");
        var refusals = 0;

        for (var step = 0; step < 40; step++)
        {
            var me = accounts[random.Next(accounts.Length)];
            var other = accounts.Where(a => a != me).ElementAt(random.Next(accounts.Length - 1));
            var key = keys[me];
            var mine = stored.Where(s => s.Account == me).ToList();
            // A filter and what it means, several naming another account to try to widen the scope.
            var port = mine.Count > 0 && random.Next(2) == 0 ? mine[random.Next(mine.Count)].Record.SrcPort : (ushort)(20000 + random.Next(2000));
            (string Text, Func<Stored, bool> Holds)[] filters =
            [
                ("", _ => true),
                ($"account {other}", s => s.Account == other),
                ($"account {other} or any", _ => true),
                ($"not account {other}", s => s.Account != other),
                ($"vmi {other}:vmi-x", s => s.Vmi == other + ":vmi-x"),
                ($"src port {port}", s => s.Record.SrcPort == port),
                ($"account {me} or vmi {other}:vmi-x", s => s.Account == me || s.Vmi == other + ":vmi-x"),
            ];
            var (filter, holds) = filters[random.Next(filters.Length)];
            var expected = mine.Where(holds).ToList();

            switch (random.Next(7))
            {
                case 0:
                {
                    List<KeyValuePair<string, string>> q = [P("from", from), P("to", to), P("fields", "account,vmi,src_port"), P("filter", filter)];
                    if (random.Next(2) == 0) q.Add(P("account", me));
                    var (status, body, _) = await server.Send(key, HttpMethod.Get, "/api/v1/flows", q);
                    Assert.Equal(200, status);
                    var rows = body.EnumerateArray().ToList();
                    Assert.All(rows, r => Assert.Equal(me, r.GetProperty("account").GetString()));
                    Assert.Equal(expected.Select(s => (int)s.Record.SrcPort).Order(), rows.Select(r => r.GetProperty("src_port").GetInt32()).Order());
                    break;
                }
                case 1:
                {
                    var (status, body, _) = await server.Send(key, HttpMethod.Post, "/api/v1/query", [],
                        JsonSerializer.Serialize(new { from, to, filter, group_by = new[] { "account", "vmi" }, limit = 100000 }));
                    Assert.Equal(200, status);
                    var rows = body.GetProperty("rows").EnumerateArray().ToList();
                    Assert.All(rows, r => Assert.Equal(me, r.GetProperty("account").GetString()));
                    Assert.Equal(expected.Count, rows.Sum(r => r.GetProperty("flows").GetInt32()));
                    Assert.Equal(expected.Aggregate(0UL, (a, s) => a + s.Record.Bytes), rows.Aggregate(0UL, (a, r) => a + r.GetProperty("bytes").GetUInt64()));
                    break;
                }
                case 2:
                {
                    // A DescribeFlowLog window of up to 30 minutes.
                    var w = start.AddSeconds(random.Next(7000 - 1800));
                    var length = 60 + random.Next(1741);
                    var (status, body) = await server.Describe(key, [P("start_time", ApiServer.Ist(w)), P("end_time", ApiServer.Ist(w.AddSeconds(length)))]);
                    Assert.Equal(200, status);
                    var items = body.GetProperty("DescribeFlowLogResponse").GetProperty("value").GetProperty("item").EnumerateArray().ToList();
                    Assert.All(items, i => Assert.Equal($"default-domain:{me}:net", i.GetProperty("sourcevn").GetString()));
                    var inWindow = mine.Where(s => s.Record.Start >= w.ToUnixTimeSeconds() * 1_000_000 && s.Record.Start < w.AddSeconds(length).ToUnixTimeSeconds() * 1_000_000);
                    Assert.Equal(inWindow.Select(s => (int)s.Record.SrcPort).Order(), items.Select(i => int.Parse(i.GetProperty("sport").GetString()!)).Order());
                    break;
                }
                case 3:
                {
                    // Another account: a tenant key, or an admin key without or with a wrong password. Refused and audited.
                    var before = server.Audit.Tail(100_000).Count(l => l.Contains("\"denied\""));
                    var (who, password) = random.Next(3) switch { 0 => (key, (string?)ApiServer.AdminPasswordText), 1 => (admin, null), _ => (admin, "wrong " + step) };
                    var path = random.Next(3) switch { 0 => "/api/v1/flows", 1 => "/api/v1/keys", _ => "/api/v1/inventory" };
                    var (status, body, _) = await server.Send(who, HttpMethod.Get, path, [P("from", from), P("to", to), P("account", random.Next(4) == 0 ? "*" : other)], null, password);
                    Assert.Equal(403, status);
                    Assert.Equal("UnauthorizedOperation", body.GetProperty("error").GetProperty("code").GetString());
                    Assert.Equal(before + 1, server.Audit.Tail(100_000).Count(l => l.Contains("\"denied\"")));
                    refusals++;
                    break;
                }
                case 4:
                {
                    // The same through the Action API: account needs an admin key and the admin password.
                    var w = start.AddSeconds(random.Next(5000));
                    var (status, _) = await server.Describe(key, [P("start_time", ApiServer.Ist(w)), P("end_time", ApiServer.Ist(w.AddMinutes(10))), P("account", other), P("direction_ing", "1")]);
                    Assert.Equal(403, status);
                    refusals++;
                    break;
                }
                case 5:
                {
                    // The Contrail analytics query over flows, one direction, with a where clause that tries to name another account.
                    var ingress = random.Next(2) == 0;
                    var (where, holds2) = random.Next(3) switch
                    {
                        0 => ((object?)null, (Func<Stored, bool>)(_ => true)),
                        1 => (new[] { new[] { new { name = "sourcevn", value = $"default-domain:{other}:net", op = 1 } } }, _ => false),
                        _ => (new[] { new[] { new { name = "sourcevn", value = "default-domain:acc-", op = 7 } } }, _ => true),
                    };
                    var query = new Dictionary<string, object?>
                    {
                        ["table"] = "FlowRecordTable", ["dir"] = ingress ? 1 : 0,
                        ["start_time"] = start.ToUnixTimeSeconds() * 1_000_000, ["end_time"] = start.AddHours(3).ToUnixTimeSeconds() * 1_000_000,
                        ["select_fields"] = new[] { "sourcevn", "vmi", "sport" },
                    };
                    if (where is not null) query["where"] = where;
                    var (status, body, _) = await server.Send(key, HttpMethod.Post, "/analytics/query", [], JsonSerializer.Serialize(query));
                    Assert.Equal(200, status);
                    var rows = body.GetProperty("value").EnumerateArray().ToList();
                    Assert.All(rows, r => Assert.Equal($"default-domain:{me}:net", r.GetProperty("sourcevn").GetString()));
                    var wanted = mine.Where(s => (s.Record.VmiDirection == VmiDirections.Ingress) == ingress && holds2(s)).ToList();
                    Assert.Equal(wanted.Select(s => (long)s.Record.SrcPort).Order(), rows.Select(r => r.GetProperty("sport").GetInt64()).Order());
                    break;
                }
                default:
                {
                    // An admin with the password reads exactly the other account.
                    var (status, body, _) = await server.Send(admin, HttpMethod.Get, "/api/v1/flows", [P("from", from), P("to", to), P("fields", "account,src_port"), P("account", other)], null, ApiServer.AdminPasswordText);
                    Assert.Equal(200, status);
                    var rows = body.EnumerateArray().ToList();
                    Assert.All(rows, r => Assert.Equal(other, r.GetProperty("account").GetString()));
                    Assert.Equal(stored.Count(s => s.Account == other), rows.Count);
                    break;
                }
            }
        }
        Assert.True(refusals > 0);
    }
}
