using System.Text.Json.Nodes;
using Flowline.Enrichment;
using Flowline.Mitigation.Ddos;
using Flowline.Records;
using Flowline.Wire.Bgp;

namespace Flowline.Cli.Tests;

/// <summary>
/// The detector and the service without the network: rows go in with a clock the test moves, and the
/// attacks, rules and refusals come out. Thresholds, smoothing, hold, modes, the cap on rules, the cap on
/// tracked keys, tenants' rights, the block list and blocks by hand kept across a restart.
/// </summary>
public sealed class DdosServiceTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-ddos-unit-");
    private long _now = 1_800_000_000_000_000;

    public void Dispose() => _dir.Delete(recursive: true);

    private static readonly Inventory Tenants = new(
        [new Account("acc-a", "A"), new Account("acc-b", "B")],
        [new VirtualNetwork("a:pub", "acc-a", [P("198.51.100.0/25")], null, null, false), new VirtualNetwork("b:pub", "acc-b", [P("198.51.100.128/25")], null, null, false)],
        [], []);

    private static Prefix P(string text) => Prefix.TryParse(text, out var p) ? p : throw new FormatException(text);

    private DdosService Service(Action<DdosOptions>? configure = null, Inventory? inventory = null, string? dataDir = null)
    {
        var o = new DdosOptions { Mode = DdosMode.Automatic, Hold = TimeSpan.FromSeconds(5) };
        o.SetThresholds([("udp_amplification", "10k"), ("udp_flood", "50k"), ("ip_flood", "100k")]);
        configure?.Invoke(o);
        return new DdosService(o, () => inventory ?? Tenants, dataDir, () => _now);
    }

    /// <summary>One second of an attack as sampled rows: <paramref name="pps"/> packets a second to <paramref name="dst"/>, sampled 1:1000, in quarter seconds.</summary>
    private void Second(DdosService s, string dst, double pps, ushort sourcePort = 53, byte proto = 17, string src = "203.0.113.7", ushort? dstPort = null)
    {
        for (var q = 0; q < 4; q++)
        {
            var batch = new FlowBatch();
            var samples = (int)Math.Round(pps / 1000 / 4);
            for (var i = 0; i < samples; i++)
            {
                batch.Add(new FlowRecord
                {
                    TimeReceived = _now, IpVersion = 4, IpProto = proto, SrcAddr = FlowAddress.Parse(src), DstAddr = FlowAddress.Parse(dst),
                    SrcPort = sourcePort, DstPort = dstPort ?? (ushort)(1024 + i), SamplingRate = 1000, Packets = 1000, Bytes = 1000 * 500, SampledPackets = 1, SampledBytes = 500,
                });
            }
            _now += 250_000;
            s.Detector.Add(batch, 0, batch.Count);
            s.Detector.Tick(_now);
        }
    }

    [Fact]
    public async Task An_attack_above_its_threshold_gets_a_rule_with_its_signature_and_loses_it_after_the_hold()
    {
        await using var s = Service();
        for (var i = 0; i < 5; i++) Second(s, "198.51.100.10", 8_000);
        Assert.Empty(s.Attacks(null));
        Second(s, "198.51.100.10", 40_000);
        var attack = Assert.Single(s.Attacks(null));
        Assert.Equal("udp_amplification", attack["class"]!.ToString());
        Assert.Equal("acc-a", attack["account"]!.ToString());
        Assert.Equal("ipv4 DestinationPrefix=198.51.100.10/32 SourcePrefix=203.0.113.0/24 Protocol=17 SourcePort=53", attack["signature"]!.ToString());
        var route = Assert.Single(s.Speaker.Routes.Values);
        Assert.Equal([FlowSpecAction.Drop], route.Actions);
        // Still on: the rule stays; below the threshold for less than the hold: it stays too.
        for (var i = 0; i < 3; i++) Second(s, "198.51.100.10", 40_000);
        for (var i = 0; i < 4; i++) Second(s, "198.51.100.10", 0);
        Assert.Single(s.Speaker.Routes.Values);
        for (var i = 0; i < 3; i++) Second(s, "198.51.100.10", 0);
        Assert.Empty(s.Speaker.Routes.Values);
        Assert.Equal("withdrawn", Assert.Single(s.Mitigations(null))["status"]!.ToString());
        Assert.NotNull(Assert.Single(s.Attacks(null))["ended"]);
    }

    [Fact]
    public async Task A_rule_no_router_has_yet_says_so_and_names_none_it_is_advertised_to()
    {
        // Nothing listens on the neighbour's port: its session never comes up.
        await using var waiting = Service(o => o.Neighbors.Add(new Flowline.Mitigation.Bgp.BgpNeighbor(System.Net.IPAddress.Loopback, 65001, 1)));
        Second(waiting, "198.51.100.10", 40_000);
        var rule = Assert.Single(waiting.Mitigations(null));
        Assert.Equal("announced", rule["status"]!.ToString());
        Assert.Equal("no BGP neighbour is established yet: the rule goes to each as its session comes up", rule["reason"]!.ToString());
        Assert.Empty(rule["advertised_to"]!.AsArray());
        await using var alone = Service();
        Second(alone, "198.51.100.10", 40_000);
        Assert.StartsWith("no BGP neighbours (ddos_neighbors)", Assert.Single(alone.Mitigations(null))["reason"]!.ToString());
    }

    [Fact]
    public async Task Dry_run_announces_nothing_and_manual_waits_for_approval()
    {
        await using (var dry = Service(o => o.Mode = DdosMode.DryRun))
        {
            Second(dry, "198.51.100.10", 60_000);
            Assert.Contains(dry.Mitigations(null), m => m["status"]!.ToString() == "dry-run");
            Assert.DoesNotContain(dry.Mitigations(null), m => m["status"]!.ToString() == "announced");
            Assert.Empty(dry.Speaker.Routes);
        }
        await using var manual = Service(o => o.Mode = DdosMode.Manual);
        Second(manual, "198.51.100.10", 60_000);
        var m = manual.Mitigations(null).Single(x => x["status"]!.ToString() == "pending");
        Assert.Empty(manual.Speaker.Routes);
        Assert.Equal(DdosRefusal.NotFound, manual.Approve(m["id"]!.ToString(), "acc-b"));
        Assert.Equal(DdosRefusal.None, manual.Approve(m["id"]!.ToString(), "acc-a"));
        Assert.Single(manual.Speaker.Routes);
        Assert.Equal(DdosRefusal.Conflict, manual.Approve(m["id"]!.ToString(), null));
    }

    [Fact]
    public async Task Rules_beyond_the_cap_fail_and_a_narrower_rule_covers_the_wider_class()
    {
        await using var s = Service(o => o.MaxRules = 1);
        Second(s, "198.51.100.10", 80_000);
        Second(s, "198.51.100.11", 80_000);
        var ms = s.Mitigations(null);
        // The first address: udp_amplification announced, and its udp_flood covered by it; the second: both
        // refused for the cap (a failed rule covers nothing).
        Assert.Equal(1, ms.Count(m => m["status"]!.ToString() == "announced"));
        Assert.Equal(2, ms.Count(m => m["status"]!.ToString() == "failed"));
        Assert.Equal(1, ms.Count(m => m["status"]!.ToString() == "covered"));
        Assert.Single(s.Speaker.Routes);
    }

    [Fact]
    public async Task A_wider_attack_that_outlasts_the_one_covering_it_gets_its_own_rule()
    {
        await using var s = Service();
        Second(s, "198.51.100.10", 80_000);
        Assert.Contains(s.Mitigations(null), m => m["status"]!.ToString() == "covered");
        // The amplification stops; a UDP flood from other ports goes on, above udp_flood's threshold.
        for (var i = 0; i < 8; i++) Second(s, "198.51.100.10", 80_000, sourcePort: 40000);
        var ms = s.Mitigations(null);
        Assert.Equal("withdrawn", ms.Single(m => m["rule"]!.ToString().Contains("SourcePort=53", StringComparison.Ordinal))["status"]!.ToString());
        var flood = Assert.Single(s.Speaker.Routes.Values);
        Assert.Equal("ipv4 DestinationPrefix=198.51.100.10/32 SourcePrefix=203.0.113.0/24 Protocol=17 then discard", flood.ToString());
    }

    [Fact]
    public async Task A_tenant_sees_and_withdraws_only_its_own()
    {
        await using var s = Service();
        Second(s, "198.51.100.10", 40_000);
        Second(s, "198.51.100.200", 40_000);
        Assert.Equal(["198.51.100.10"], s.Attacks("acc-a").Select(a => a["address"]!.ToString()));
        Assert.Equal(["198.51.100.200"], s.Attacks("acc-b").Select(a => a["address"]!.ToString()));
        var ofA = s.Mitigations("acc-a").Single()["id"]!.ToString();
        Assert.Equal(DdosRefusal.NotFound, s.Withdraw(ofA, "acc-b", "test"));
        Assert.Equal(2, s.Speaker.Routes.Count);
        Assert.Equal(DdosRefusal.None, s.Withdraw(ofA, "acc-a", "test"));
        Assert.Single(s.Speaker.Routes);
        Assert.Equal(DdosRefusal.Conflict, s.Withdraw(ofA, "acc-a", "test"));
    }

    [Fact]
    public async Task Blocks_by_hand_are_a_tenants_own_addresses_and_come_back_after_a_restart()
    {
        var data = _dir.FullName;
        string id;
        await using (var s = Service(dataDir: data))
        {
            var request = (JsonObject)JsonNode.Parse("""{"destination": "198.51.100.10", "protocol": 17, "source_ports": [53, 123], "action": "rate-limit:1000"}""")!;
            Assert.Equal(DdosRefusal.NotAllowed, s.Block(request, "acc-b", "test").Refusal);
            var wide = (JsonObject)JsonNode.Parse("""{"destination": "198.51.100.0/25"}""")!;
            Assert.Equal(DdosRefusal.NotAllowed, s.Block(wide, "acc-a", "test").Refusal);
            var (m, refusal, _) = s.Block(request, "acc-a", "test");
            Assert.Equal(DdosRefusal.None, refusal);
            id = m!["id"]!.ToString();
            Assert.Equal("ipv4 DestinationPrefix=198.51.100.10/32 Protocol=17 SourcePort=53|=123 then rate-limit 1000 bytes/s", s.Speaker.Routes.Values.Single().ToString());
            Assert.Throws<FormatException>(() => s.Block((JsonObject)JsonNode.Parse("""{"destination": "198.51.100.10", "protocol": 300}""")!, null, "test"));
            Assert.Throws<FormatException>(() => s.Block((JsonObject)JsonNode.Parse("""{"destination": "198.51.100.10", "action": "explode"}""")!, null, "test"));
            // A misspelt or misshapen field would widen the rule: refused.
            Assert.Throws<FormatException>(() => s.Block((JsonObject)JsonNode.Parse("""{"destination": "198.51.100.10", "destination_port": 80, "protocol": 6}""")!, null, "test"));
            Assert.Throws<FormatException>(() => s.Block((JsonObject)JsonNode.Parse("""{"destination": "198.51.100.10", "destination_ports": 80}""")!, null, "test"));
        }
        await using (var again = Service(dataDir: data))
        {
            Assert.Single(again.Speaker.Routes);
            Assert.Equal(DdosRefusal.None, again.Withdraw(id, "acc-a", "test"));
            Assert.Empty(again.Speaker.Routes);
        }
        await using var third = Service(dataDir: data);
        Assert.Empty(third.Speaker.Routes);
    }

    [Fact]
    public async Task A_tenant_holds_a_tenth_of_the_rules_a_block_twice_is_one_and_withdrawn_blocks_are_kept_only_as_history()
    {
        await using var s = Service(o => { o.MaxRules = 30; o.History = 5; });
        JsonObject Block(int host) => (JsonObject)JsonNode.Parse($$"""{"destination": "198.51.100.{{host}}", "protocol": 17}""")!;
        var first = s.Block(Block(1), "acc-a", "test").Mitigation!["id"]!.ToString();
        // The same rule again is the block in force, not a second one.
        Assert.Equal(first, s.Block(Block(1), "acc-a", "test").Mitigation!["id"]!.ToString());
        for (var h = 2; h <= 3; h++) Assert.Equal(DdosRefusal.None, s.Block(Block(h), "acc-a", "test").Refusal);
        var (none, refusal, reason) = s.Block(Block(4), "acc-a", "test");
        Assert.Null(none);
        Assert.Equal(DdosRefusal.TooMany, refusal);
        Assert.Equal("account acc-a has 3 blocks in force (a tenth of ddos_max_rules): withdraw one first", reason);
        // Another tenant, and the operator, are not held to acc-a's share.
        Assert.Equal(DdosRefusal.None, s.Block((JsonObject)JsonNode.Parse("""{"destination": "198.51.100.200"}""")!, "acc-b", "test").Refusal);
        Assert.Equal(DdosRefusal.None, s.Block((JsonObject)JsonNode.Parse("""{"destination": "203.0.113.5"}""")!, null, "test").Refusal);
        Assert.Equal(5, s.Speaker.Routes.Count);
        // Blocking and withdrawing again and again keeps the list to the history.
        Assert.Equal(DdosRefusal.None, s.Withdraw(first, "acc-a", "test"));
        for (var i = 0; i < 40; i++)
        {
            var id = s.Block(Block(1), "acc-a", "test").Mitigation!["id"]!.ToString();
            Assert.Equal(DdosRefusal.None, s.Withdraw(id, "acc-a", "test"));
        }
        Assert.Equal(4 + 5, s.Mitigations(null).Count);
        Assert.Equal(4, s.Mitigations(null, activeOnly: true).Count);
    }

    [Fact]
    public async Task Tracked_keys_are_capped_and_idle_ones_make_room()
    {
        await using var s = Service(o =>
        {
            o.MaxTracked = 1024;
            o.Group("wide").Prefixes.Add(P("100.100.0.0/16"));
        }, Inventory.Empty);
        var batch = new FlowBatch();
        for (var i = 0; i < 5000; i++)
        {
            batch.Add(new FlowRecord { TimeReceived = _now, IpVersion = 4, IpProto = 6, SrcAddr = FlowAddress.Parse("203.0.113.1"),
                DstAddr = FlowAddress.FromV4(0x6464_0000u + (uint)i), TcpFlags = 0x10, Packets = 1, Bytes = 100 });
        }
        s.Detector.Add(batch, 0, batch.Count);
        var c = s.Detector.Counters;
        Assert.True(c.Tracked <= 1024, $"{c.Tracked} tracked");
        Assert.True(c.Untracked > 0);
        // Idle for more than 10 s: the keys go, and new ones are tracked again.
        for (var i = 0; i < 50; i++)
        {
            _now += 250_000;
            s.Detector.Tick(_now);
        }
        Assert.Equal(0, s.Detector.Counters.Tracked);
        s.Detector.Add(batch, 0, 100);
        Assert.Equal(100, s.Detector.Counters.Tracked);
    }

    [Fact]
    public async Task Traffic_from_the_block_list_is_an_event_and_the_list_is_read_again_when_it_changes()
    {
        var list = Path.Combine(_dir.FullName, "blocklist.txt");
        File.WriteAllText(list, "# known bad\n192.0.2.0/26\n");
        await using var s = Service(o => o.Blocklist = list);
        Second(s, "198.51.100.10", 8_000, sourcePort: 40000, proto: 6, src: "192.0.2.55");
        var e = Assert.Single(s.Attacks(null));
        Assert.Equal("blocklisted", e["class"]!.ToString());
        // The listed prefix, not the /24 the sketch keeps sources by.
        Assert.Equal("192.0.2.0/26", e["sources"]!.ToString());
        Assert.Empty(s.Speaker.Routes);
        File.WriteAllText(list, "not a prefix\n");
        File.SetLastWriteTimeUtc(list, DateTime.UtcNow.AddSeconds(5));
        s.Refresh();
        Assert.NotNull(s.Blocklist);
        File.WriteAllText(list, "2001:db8::/32\n");
        File.SetLastWriteTimeUtc(list, DateTime.UtcNow.AddSeconds(10));
        s.Refresh();
        Assert.Equal(-1, s.Blocklist!.Find(FlowAddress.Parse("192.0.2.55")));
    }

    [Fact]
    public async Task A_rule_follows_its_attack_when_what_dominates_it_changes()
    {
        await using var s = Service();
        for (var i = 0; i < 2; i++) Second(s, "198.51.100.10", 80_000, sourcePort: 40000, dstPort: 1111);
        var first = Assert.Single(s.Speaker.Routes.Values).ToString();
        Assert.Contains("Protocol=17 DestinationPort=1111 ", first, StringComparison.Ordinal);
        var id = Assert.Single(s.Mitigations(null))["id"]!.ToString();
        // The flood moves to another port: after two checks in a row that see it, the rule is the new port's.
        for (var i = 0; i < 6; i++) Second(s, "198.51.100.10", 80_000, sourcePort: 40000, dstPort: 2222);
        var now = Assert.Single(s.Speaker.Routes.Values).ToString();
        Assert.Contains("Protocol=17 DestinationPort=2222 ", now, StringComparison.Ordinal);
        var m = Assert.Single(s.Mitigations(null));
        Assert.Equal((id, "announced"), (m["id"]!.ToString(), m["status"]!.ToString()));
        Assert.Contains("DestinationPort=2222", Assert.Single(s.Attacks(null))["signature"]!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ids_are_never_given_twice_even_across_restarts()
    {
        var data = _dir.FullName;
        var seen = new HashSet<string>();
        for (var run = 0; run < 3; run++)
        {
            await using var s = Service(dataDir: data);
            Second(s, $"198.51.100.{10 + run}", 80_000);
            foreach (var a in s.Attacks(null)) Assert.True(seen.Add(a["id"]!.ToString()), $"attack {a["id"]} given again in run {run}");
            foreach (var m in s.Mitigations(null)) Assert.True(seen.Add(m["id"]!.ToString()), $"mitigation {m["id"]} given again in run {run}");
        }
    }

    [Fact]
    public async Task Blocks_restored_beyond_the_cap_are_kept_listed_as_failed_and_announced_again_later()
    {
        var data = _dir.FullName;
        await using (var s = Service(o => o.MaxRules = 30, dataDir: data))
        {
            for (var h = 1; h <= 5; h++) Assert.Equal(DdosRefusal.None, s.Block((JsonObject)JsonNode.Parse($$"""{"destination": "203.0.113.{{h}}"}""")!, null, "test").Refusal);
        }
        string failed;
        await using (var capped = Service(o => o.MaxRules = 2, dataDir: data))
        {
            Assert.Equal(2, capped.Speaker.Routes.Count);
            var ms = capped.Mitigations(null);
            Assert.Equal(5, ms.Count);
            Assert.Equal(3, ms.Count(m => m["status"]!.ToString() == "failed"));
            failed = ms.First(m => m["status"]!.ToString() == "failed")["id"]!.ToString();
            Assert.Equal(DdosRefusal.None, capped.Withdraw(failed, null, "test"));
        }
        await using var again = Service(o => o.MaxRules = 30, dataDir: data);
        Assert.Equal(4, again.Speaker.Routes.Count);
        Assert.Null(again.Mitigation(failed, null));
    }

    [Fact]
    public void A_packet_rate_alone_keeps_the_class_bit_rate()
    {
        var o = new DdosOptions();
        var bits = o.Thresholds[(int)AttackClass.UdpAmplification].Bps;
        Assert.True(bits > 0);
        o.Group("web").Prefixes.Add(P("203.0.113.0/24"));
        o.SetThresholds([("udp_amplification", "500k"), ("web.udp_amplification", "20k"), ("udp_flood", "100k/0")]);
        Assert.Equal(new AttackThreshold(500_000, bits), o.Thresholds[(int)AttackClass.UdpAmplification]);
        Assert.Equal(new AttackThreshold(20_000, bits), o.Groups["web"].Thresholds[AttackClass.UdpAmplification]);
        Assert.Equal(new AttackThreshold(100_000, 0), o.Thresholds[(int)AttackClass.UdpFlood]);
    }
}
