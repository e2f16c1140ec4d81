using System.Globalization;
using System.Text.Json;
using Flowline.Realtime;
using Flowline.Records;

namespace Flowline.Api.Tests;

/// <summary>
/// Tenant isolation of /api/v1/realtime as a property: accounts whose names are prefixes of each other, on
/// the same addresses (overlapping subnets), define random flows with random filters (some naming another
/// account to widen the scope) over one stream of rows; each reads back exactly the flows of its own rows —
/// the same keys, in the same proportions — and never a key, a VMI or an account of another, nor another's
/// definitions.
/// </summary>
public sealed class RealtimeIsolationPropertyTests
{
    private static readonly string[] Accounts = ["acc-p1", "acc-p10", "acc-p11", "acc-p2", "acc-empty"];
    private static readonly string[] Keys = ["ipsource,ipdestination", "vmi", "account", "ipsource,vmi", "tcpdestinationport", "ipdestination,account"];

    private sealed record Row(string? Account, string Vmi, string Src, string Dst, ushort DstPort, ulong Bytes);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task A_tenant_counts_and_reads_exactly_its_own_rows(int seed)
    {
        var random = new Random(seed);
        RealtimeEngine? engine = null;
        await using var server = new ApiServer(realtime: s => engine = new RealtimeEngine(null, new KeyContext(s.Store.Symbols)));
        var names = new SymbolNames(server.Store);
        var keys = Accounts.ToDictionary(a => a, a => server.Keys.Create(a, admin: false));

        // Each account (one with no traffic) defines a few flows; some filters try to name another account.
        var definitions = new List<(string Account, string Name, string Keys, string? Filter, Func<Row, bool> Test)>();
        foreach (var account in Accounts)
        {
            for (var d = 0; d < 3; d++)
            {
                var k = Keys[random.Next(Keys.Length)];
                var other = Accounts[random.Next(Accounts.Length)];
                (string? Filter, Func<Row, bool> Test) f = random.Next(4) switch
                {
                    0 => (null, _ => true),
                    1 => ("ipsource=10.0.0.0/24", r => r.Src.StartsWith("10.0.0.", StringComparison.Ordinal)),
                    2 => ($"account={other}", r => r.Account == other),
                    _ => ($"account={other}|tcpdestinationport=443", r => r.Account == other || r.DstPort == 443),
                };
                var name = $"f{d}";
                var body = JsonSerializer.Serialize(new Dictionary<string, object?> { ["keys"] = k, ["filter"] = f.Filter, ["n"] = 10_000, ["t"] = 60 });
                var (status, answer, _) = await server.Send(keys[account], HttpMethod.Put, $"/api/v1/realtime/flows/{name}", [], body);
                Assert.True(status == 200, $"{account} PUT {name}: {status} {answer}");
                Assert.Equal(f.Filter, answer.TryGetProperty("filter", out var shown) ? shown.GetString() : null);
                definitions.Add((account, name, k, f.Filter, f.Test));
            }
        }

        // One stream of rows of every account (and some with none), on the same addresses.
        var now = Ingest.Collector.NowMicros();
        var rows = new List<Row>();
        var batch = new FlowBatch();
        for (var i = 0; i < 3000; i++)
        {
            var account = random.Next(10) == 0 ? null : Accounts[random.Next(Accounts.Length - 1)];
            var row = new Row(account, (account ?? "none") + ":vmi-" + random.Next(3), $"10.0.{random.Next(2)}.{random.Next(1, 6)}", $"10.0.1.{random.Next(1, 4)}",
                (ushort)(random.Next(2) == 0 ? 443 : 80), (ulong)(100 + random.Next(100_000)));
            // A third of the flows run between two ports: two rows, the sender's port (egress) then the receiver's.
            var peer = random.Next(3) == 0 ? row with { Account = Accounts[random.Next(Accounts.Length - 1)], Vmi = "" } : null;
            if (peer is not null) peer = peer with { Vmi = peer.Account + ":vmi-" + random.Next(3) };
            foreach (var (r, direction) in new[] { (row, peer is null ? (random.Next(2) == 0 ? VmiDirections.Ingress : VmiDirections.Egress) : VmiDirections.Egress), (peer, VmiDirections.Ingress) })
            {
                if (r is null) continue;
                rows.Add(r);
                batch.Add(new FlowRecord
                {
                    TimeReceived = now, Protocol = FlowProtocol.Ipfix, Exporter = FlowAddress.FromV4(0xC0000201), InIf = 1, IpVersion = 4, IpProto = 6,
                    SrcAddr = FlowAddress.Parse(r.Src), DstAddr = FlowAddress.Parse(r.Dst), SrcPort = 40000, DstPort = r.DstPort,
                    Bytes = r.Bytes, Packets = 1, SamplingRate = 1,
                    Account = r.Account is null ? 0 : names.Id(r.Account), Vmi = names.Id(r.Vmi), VmiDirection = direction,
                });
            }
        }
        engine!.Add(batch, 0, batch.Count);

        string KeyOf(Row r, string k) => string.Join(",", k.Split(',').Select(e => e switch
        {
            "ipsource" => r.Src,
            "ipdestination" => r.Dst,
            "vmi" => r.Vmi,
            "account" => r.Account!,
            _ => r.DstPort.ToString(CultureInfo.InvariantCulture),
        }));

        foreach (var (account, name, k, _, test) in definitions)
        {
            var mine = rows.Where(r => r.Account == account && test(r)).GroupBy(r => KeyOf(r, k)).ToDictionary(g => g.Key, g => g.Sum(r => (double)r.Bytes));
            var (status, answer, _) = await server.Send(keys[account], HttpMethod.Get, $"/api/v1/realtime/activeflows/{name}", [new("maxFlows", "10000"), new("aggMode", "sum")]);
            Assert.Equal(200, status);
            var got = answer.EnumerateArray().ToDictionary(e => e.GetProperty("key").GetString()!, e => e.GetProperty("value").GetDouble());
            Assert.Equal(mine.Keys.Order(StringComparer.Ordinal), got.Keys.Order(StringComparer.Ordinal));
            foreach (var key in got.Keys)
            {
                foreach (var other in Accounts.Where(a => a != account)) Assert.DoesNotContain(other + ":", key, StringComparison.Ordinal);
                if (k.Contains("account", StringComparison.Ordinal)) Assert.Contains(account, key.Split(','));
            }
            // The same proportions: no other account's bytes are in any flow.
            if (mine.Count > 1)
            {
                var (a, b) = (mine.Keys.First(), mine.Keys.Last());
                Assert.Equal(mine[a] / mine[b], got[a] / got[b], 6);
            }
        }

        // Definitions are per account: another account's names are not found, its list holds only its own.
        foreach (var account in Accounts)
        {
            var (status, list, _) = await server.Send(keys[account], HttpMethod.Get, "/api/v1/realtime/flows", []);
            Assert.Equal(200, status);
            Assert.Equal(["f0", "f1", "f2"], list.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        }
        var (deleted, _, _) = await server.Send(keys["acc-p1"], HttpMethod.Delete, "/api/v1/realtime/flows/f0", []);
        Assert.Equal(200, deleted);
        Assert.Equal(404, (await server.Send(keys["acc-p1"], HttpMethod.Get, "/api/v1/realtime/activeflows/f0", [])).Status);
        Assert.Equal(200, (await server.Send(keys["acc-p10"], HttpMethod.Get, "/api/v1/realtime/activeflows/f0", [])).Status);
    }

    [Theory]
    [InlineData("ipprotocol=999)|(account=acc-p2")]
    [InlineData("ipprotocol=999)|!(ipprotocol=999")]
    [InlineData("(account=acc-p2")]
    [InlineData("tcpdestinationport=443)")]
    public async Task A_filter_that_would_close_the_tenant_clause_is_refused(string filter)
    {
        await using var server = new ApiServer(realtime: s => new RealtimeEngine(null, new KeyContext(s.Store.Symbols)));
        var key = server.Keys.Create("acc-p1", admin: false);
        var body = JsonSerializer.Serialize(new Dictionary<string, object?> { ["keys"] = "account,ipsource", ["filter"] = filter });
        var (status, answer, _) = await server.Send(key, HttpMethod.Put, "/api/v1/realtime/flows/escape", [], body);
        Assert.True(status == 400, $"{status} {answer}");
        Assert.Equal(404, (await server.Send(key, HttpMethod.Get, "/api/v1/realtime/activeflows/escape", [])).Status);
    }

    [Theory]
    [InlineData("group:ipdestination:opsgroups,ipdestination", null)]
    [InlineData("ipdestination", "group:ipdestination:opsgroups=secret-billing-db")]
    [InlineData("null:[group:ipsource:opsgroups]:none", null)]
    [InlineData("or:ipsource:[group:ipsource:opsgroups]", null)]
    public async Task A_tenant_definition_cannot_read_the_operators_address_groups(string keys, string? filter)
    {
        RealtimeEngine? engine = null;
        await using var server = new ApiServer(realtime: s => engine = new RealtimeEngine(null, new KeyContext(s.Store.Symbols)));
        engine!.Context.Groups.Put("opsgroups", new Dictionary<string, IReadOnlyList<string>> { ["secret-billing-db"] = ["10.2.0.0/24"] });
        var key = server.Keys.Create("acc-p1", admin: false);
        var body = JsonSerializer.Serialize(new Dictionary<string, object?> { ["keys"] = keys, ["filter"] = filter });
        var (status, answer, _) = await server.Send(key, HttpMethod.Put, "/api/v1/realtime/flows/g", [], body);
        Assert.True(status == 400, $"{status} {answer}");
        Assert.Contains("operator's address groups", answer.ToString(), StringComparison.Ordinal);
        Assert.Null(engine.GetFlow(RealtimeEngine.TenantPrefix + "acc-p1:g"));
        // The operator's face still takes them.
        engine.PutFlow("opsview", new FlowDefinition { Keys = keys, Filter = filter }, Ingest.Collector.NowMicros());
    }

    [Fact]
    public void A_saved_tenant_definition_that_reads_the_operators_groups_is_left_out_at_start()
    {
        var dir = Directory.CreateTempSubdirectory("flowline-realtime-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, RealtimeEngine.FileName), """
                {"flows": {"tenant:acc-p1:g": {"keys": "group:ipdestination:opsgroups"}, "tenant:acc-p1:plain": {"keys": "ipdestination", "filter": "account=acc-p1"},
                           "opsview": {"keys": "group:ipdestination:opsgroups"}},
                 "groups": {"opsgroups": {"secret-billing-db": ["10.2.0.0/24"]}}}
                """);
            var engine = new RealtimeEngine(dir.FullName, new KeyContext(new Flowline.Storage.SymbolTable()));
            Assert.Null(engine.GetFlow("tenant:acc-p1:g"));
            Assert.NotNull(engine.GetFlow("tenant:acc-p1:plain"));
            Assert.NotNull(engine.GetFlow("opsview"));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
