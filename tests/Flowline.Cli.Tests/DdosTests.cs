using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Flowline.Api;
using Xunit.Abstractions;

namespace Flowline.Cli.Tests;

/// <summary>
/// DDoS detection and mitigation end to end: `flowline gen` sends every attack class at once, each to its
/// own protected address, sampled 1:1000, as sFlow and as IPFIX, beside traffic below every threshold;
/// serve, in automatic mode, announces a FlowSpec rule for each to gobgpd, whose RIB is read with `gobgp`
/// every 100 ms: each rule must be there within 2 s of the generator's first datagram, with the components
/// the attack calls for, and be withdrawn within the hold time + 5 s of the attack's end. Tenants see and
/// withdraw only their own.
/// </summary>
public sealed class DdosTests(ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-ddos-");
    private const int HoldSeconds = 3;

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>Each attack: destination, the talker that makes it, and what gobgp must show of its rule.</summary>
    private static readonly (string Class, string Destination, string Talker, string[] Shows)[] Attacks =
    [
        ("udp_amplification", "198.51.100.11", "203.0.113.0/24>198.51.100.11=10M@udp-from:53*100",
            ["[source: 203.0.113.0/24]", "[protocol: ==udp]", "[source-port: ==53]", "[discard]"]),
        ("udp_flood", "198.51.100.12", "203.0.113.0/24>198.51.100.12=10M@udp:9999*100", ["[protocol: ==udp]", "[destination-port: ==9999]"]),
        ("tcp_syn_flood", "198.51.100.13", "203.0.113.0/24>198.51.100.13=10M@syn:80*100", ["[protocol: ==tcp]", "[destination-port: ==80]", "[tcp-flags: S&!A]"]),
        ("tcp_amplification", "198.51.100.14", "203.0.113.0/24>198.51.100.14=10M@synack:443*100", ["[protocol: ==tcp]", "[source-port: ==443]", "[tcp-flags: =SA]"]),
        ("tcp_flood", "198.51.100.15", "203.0.113.0/24>198.51.100.15=10M@tcp*100", ["[protocol: ==tcp]", "[destination-port: ==443]"]),
        ("icmp_flood", "198.51.100.16", "203.0.113.0/24>198.51.100.16=10M@icmp*100", ["[protocol: ==icmp]", "[icmp-type: ==8]"]),
        ("ip_flood", "198.51.100.17", "203.0.113.0/24>198.51.100.17=20M@ip:47*100", ["[protocol: ==gre]"]),
        ("ip_fragmentation", "198.51.100.18", "203.0.113.0/24>198.51.100.18=5M@frag*100", ["[protocol: ==udp]", "[fragment: "]),
        ("udp_amplification", "2001:db8:100::10", "2001:db8:ffff::/120>2001:db8:100::10=10M@udp-from:123*100", ["[protocol: ==udp]", "[source-port: ==123]"]),
        ("udp_amplification", "198.51.100.200", "203.0.113.0/24>198.51.100.200=10M@udp-from:123*100", ["[source-port: ==123]"]),
    ];

    /// <summary>Traffic below every threshold beside the attacks: a web server's clients, and a host answering a scan with port unreachables.</summary>
    private const string Background = "10.1.0.0/16>198.51.100.10=2M@tcp*500,198.51.100.20>192.0.2.99=1M@unreach*100";

    [Theory]
    [InlineData("sflow")]
    [InlineData("ipfix")]
    public async Task Every_attack_class_is_announced_within_two_seconds_and_withdrawn_after_the_hold(string protocol)
    {
        using var router = new BgpLab(BgpLab.Kind.Gobgp);
        using var serve = Serve(router, out var keyA, out var keyB);
        ServeProcess.WaitFor(() => serve.Errors.Contains("established", StringComparison.Ordinal), "the BGP session", 60);

        // gobgp's monitor prints each route the moment it reaches the RIB: when each attack's rule arrived.
        var seen = new Dictionary<string, (double At, string Line)>();
        void Arrived(string line)
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1e3;
            lock (seen)
            {
                foreach (var a in Attacks)
                {
                    var prefix = a.Destination + (a.Destination.Contains(':', StringComparison.Ordinal) ? "/128" : "/32");
                    if (!seen.ContainsKey(a.Destination) && line.Contains($"[destination: {prefix}", StringComparison.Ordinal)) seen[a.Destination] = (now, line);
                }
            }
        }
        using var monitor4 = router.Monitor(false, Arrived);
        using var monitor6 = router.Monitor(true, Arrived);
        await Task.Delay(1000);
        var gen = Process.Start(FlowlineProcess.Flowline("gen", "--protocol", protocol, "--sampling", "1000", "--duration", "6", "--seed", "7",
            "--target", $"udp://127.0.0.1:{serve.Ports[protocol]}", "--mix", string.Join(",", Attacks.Select(a => a.Talker)) + "," + Background))!;
        var stderrTask = gen.StandardError.ReadToEndAsync();
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            lock (seen)
            {
                if (seen.Count == Attacks.Length) break;
            }
            await Task.Delay(100);
        }
        monitor4.Kill();
        monitor6.Kill();
        Assert.True(gen.WaitForExit(30_000));
        var ended = DateTimeOffset.UtcNow;
        var genErrors = await stderrTask;
        output.WriteLine(genErrors);
        var started = genErrors.Split('\n').First(l => l.Contains("first datagram at", StringComparison.Ordinal));
        var first = DateTimeOffset.Parse(started[(started.IndexOf(" at ", StringComparison.Ordinal) + 4)..].Trim(), CultureInfo.InvariantCulture);
        try
        {
            foreach (var a in Attacks)
            {
                Assert.True(seen.TryGetValue(a.Destination, out var s), $"{a.Class} on {a.Destination}: no rule in gobgp's RIB");
                s = (s.At, router.Route(a.Destination + (a.Destination.Contains(':', StringComparison.Ordinal) ? "/128" : "/32")) ?? s.Line);
                var latency = s.At - first.ToUnixTimeMilliseconds() / 1e3;
                output.WriteLine($"{protocol} {a.Class,-18} {a.Destination,-18} {latency:0.00} s  {s.Line.Trim()}");
                Assert.True(latency <= 2.0, $"{a.Class}: {latency:0.00} s from the first datagram to the rule");
                foreach (var part in a.Shows) Assert.Contains(part, s.Line, StringComparison.Ordinal);
            }
            // Nothing else: the background (below every threshold) made no rule, and the wider classes the attacks also are were covered.
            var lines = (router.FlowSpecRib(false) + router.FlowSpecRib(true)).Split('\n').Count(l => l.Contains("[destination:", StringComparison.Ordinal));
            Assert.True(lines <= Attacks.Length, $"{lines} rules for {Attacks.Length} attacks:\n{router.FlowSpecRib(false)}{router.FlowSpecRib(true)}");
            Assert.Null(router.Route("198.51.100.10/32"));

            // The attacks as each tenant sees them, and the scanner named by the port unreachables.
            var (status, body) = Rest.Send(HttpMethod.Get, serve.Url + "/api/v1/ddos/attacks", key: keyA);
            Assert.Equal(200, status);
            var attacksA = JsonDocument.Parse(body).RootElement.GetProperty("attacks").EnumerateArray().ToList();
            Assert.DoesNotContain(attacksA, a => a.GetProperty("address").GetString() == "198.51.100.200");
            Assert.Contains(attacksA, a => a.GetProperty("class").GetString() == "icmp_unreachable" && a.GetProperty("sources").GetString() == "192.0.2.99");
            foreach (var a in Attacks.Where(a => a.Destination.StartsWith("198.51.100.1", StringComparison.Ordinal)))
                Assert.Contains(attacksA, x => x.GetProperty("class").GetString() == a.Class && x.GetProperty("address").GetString() == a.Destination);
            // When the detector saw each (the attack's start), against when the router had its rule.
            foreach (var a in attacksA.Where(a => a.GetProperty("class").GetString() != "icmp_unreachable"))
            {
                var detected = DateTimeOffset.Parse(a.GetProperty("started").GetString()!, CultureInfo.InvariantCulture) - first;
                output.WriteLine($"{protocol} detected {a.GetProperty("class").GetString(),-18} {a.GetProperty("address").GetString(),-18} {detected.TotalSeconds:0.00} s");
            }
            // Each rule in force names the router it is advertised to.
            (status, body) = Rest.Send(HttpMethod.Get, serve.Url + "/api/v1/ddos/mitigations", key: keyA);
            Assert.Equal(200, status);
            var announced = JsonDocument.Parse(body).RootElement.GetProperty("mitigations").EnumerateArray().Where(m => m.GetProperty("status").GetString() == "announced").ToList();
            Assert.NotEmpty(announced);
            Assert.All(announced, m => Assert.Equal([$"127.0.0.1:{router.Port}"], m.GetProperty("advertised_to").EnumerateArray().Select(n => n.GetString())));
            (status, body) = Rest.Send(HttpMethod.Get, serve.Url + "/api/v1/ddos/attacks", key: keyB);
            var attacksB = JsonDocument.Parse(body).RootElement.GetProperty("attacks").EnumerateArray().Select(a => a.GetProperty("address").GetString()).Distinct().ToList();
            Assert.Equal(["198.51.100.200"], attacksB);

            // Withdrawn within hold + 5 s of the attack's end.
            ServeProcess.WaitFor(() => router.FlowSpecRib(false).Split('\n').All(l => !l.Contains("[destination:", StringComparison.Ordinal))
                                        && router.FlowSpecRib(true).Split('\n').All(l => !l.Contains("[destination:", StringComparison.Ordinal)), "every rule withdrawn", 30);
            var gone = (DateTimeOffset.UtcNow - ended).TotalSeconds;
            output.WriteLine($"{protocol}: every rule withdrawn {gone:0.0} s after the generator stopped (hold {HoldSeconds} s)");
            Assert.True(gone <= HoldSeconds + 5, $"withdrawn {gone:0.0} s after the end");
            // The same events the thresholds send, to the same sinks.
            var file = Path.Combine(_dir.FullName, "events.jsonl");
            bool Has(string name) => File.Exists(file) && File.ReadAllLines(file).Select(l => JsonDocument.Parse(l).RootElement)
                .Any(e => e.GetProperty("event").GetString() == name && e.GetProperty("app").GetString() == "flowline-ddos");
            ServeProcess.WaitFor(() => new[] { "attack_start", "mitigation_announced", "mitigation_withdrawn", "attack_end" }.All(Has), "the four kinds of events in the events file");
            var metrics = serve.Get("/metrics");
            Assert.Contains("flowline_ddos_attacks_total{class=\"udp_amplification\"} 3", metrics, StringComparison.Ordinal);
            Assert.Contains("flowline_bgp_session_established{neighbor=\"127.0.0.1:" + router.Port + "\"} 1", metrics, StringComparison.Ordinal);
        }
        finally
        {
            output.WriteLine(serve.Errors.Length > 20_000 ? serve.Errors[^20_000..] : serve.Errors);
        }
    }

    [Theory]
    [InlineData(BgpLab.Kind.Exabgp)]
    [InlineData(BgpLab.Kind.Frr)]
    public void An_attack_reaches_exabgp_and_frr_and_leaves_them(BgpLab.Kind kind)
    {
        using var router = new BgpLab(kind);
        using var serve = Serve(router, out _, out _);
        ServeProcess.WaitFor(() => serve.Errors.Contains("established", StringComparison.Ordinal), "the BGP session", 60);
        // The route is looked for while the attack lasts (the rule leaves the hold time after it ends).
        string? route = null;
        using (var gen = Process.Start(FlowlineProcess.Flowline("gen", "--protocol", "sflow", "--sampling", "1000", "--duration", "30",
                   "--target", $"udp://127.0.0.1:{serve.Ports["sflow"]}", "--mix", "203.0.113.0/24>198.51.100.11=10M@udp-from:53*100", "-q"))!)
        {
            gen.StandardInput.Close();
            _ = gen.StandardOutput.ReadToEndAsync();
            _ = gen.StandardError.ReadToEndAsync();
            try
            {
                ServeProcess.WaitFor(() => (route = router.Route("198.51.100.11/32")) is not null || gen.HasExited, "the rule in the router", 60);
            }
            finally
            {
                gen.Kill();
                gen.WaitForExit();
            }
        }
        output.WriteLine(route ?? router.Log);
        Assert.NotNull(route);
        string[] parts = kind == BgpLab.Kind.Exabgp
            ? ["flow destination-ipv4 198.51.100.11/32 source-ipv4 203.0.113.0/24 protocol =udp source-port =53\"", "\"rate-limit:0\""]
            : ["Destination Address 198.51.100.11/32", "Source Address 203.0.113.0/24", "IP Protocol = 17", "Source Port = 53", "FS:rate 0.000000"];
        foreach (var part in parts) Assert.Contains(part, route, StringComparison.Ordinal);
        var ended = Stopwatch.StartNew();
        ServeProcess.WaitFor(() => router.Route("198.51.100.11/32") is null, "the rule withdrawn", 30);
        Assert.True(ended.Elapsed.TotalSeconds <= HoldSeconds + 5, $"withdrawn {ended.Elapsed.TotalSeconds:0.0} s after the attack");
    }

    /// <summary>
    /// The generator's default mix (Zipf clients and servers, real service ports, Pareto flow sizes) with its
    /// servers on public addresses, every address protected, at the attack test's rate (1,000 samples a
    /// second at 1:1000, about a million packets a second) for five minutes: with the default thresholds
    /// not one attack, not one rule.
    /// </summary>
    [Fact]
    public void Traffic_below_every_threshold_announces_nothing_for_five_minutes()
    {
        using var router = new BgpLab(BgpLab.Kind.Gobgp);
        var data = Path.Combine(_dir.FullName, "quiet");
        Directory.CreateDirectory(data);
        using var serve = new ServeProcess(data, "--ddos", "automatic", "--ddos-neighbors", $"127.0.0.1:{router.Port}={BgpLab.RouterAs}",
            "--ddos-groups", "everything=0.0.0.0/0 ::/0", "--sessions", "off");
        ServeProcess.WaitFor(() => serve.Errors.Contains("established", StringComparison.Ordinal), "the BGP session", 60);
        var gen = Process.Start(FlowlineProcess.Flowline("gen", "--protocol", "sflow", "--sampling", "1000", "--rate", "1000", "--count", "300000",
            "--public-servers", "--seed", "3", "-q", "--target", $"udp://127.0.0.1:{serve.Ports["sflow"]}"))!;
        var watch = Stopwatch.StartNew();
        // The highest smoothed rate of any address, per class, as the run goes: how near the thresholds the traffic ran.
        var peak = new Dictionary<string, double>();
        while (!gen.HasExited)
        {
            Assert.Null(router.FlowSpecRib(false).Split('\n').FirstOrDefault(l => l.Contains("[destination:", StringComparison.Ordinal)));
            foreach (var m in System.Text.RegularExpressions.Regex.Matches(serve.Get("/metrics"), @"flowline_ddos_max_pps\{class=""(\w+)""\} (\d+)").Cast<System.Text.RegularExpressions.Match>())
                peak[m.Groups[1].Value] = Math.Max(peak.GetValueOrDefault(m.Groups[1].Value), double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
            Thread.Sleep(2000);
            Assert.True(watch.Elapsed < TimeSpan.FromMinutes(8), "the generator did not finish within 8 minutes");
        }
        Assert.Equal(0, gen.ExitCode);
        var metrics = serve.Get("/metrics");
        var rows = metrics.Split('\n').First(l => l.StartsWith("flowline_ddos_rows_protected_total ", StringComparison.Ordinal));
        output.WriteLine($"{watch.Elapsed.TotalSeconds:0} s, {rows}");
        output.WriteLine("highest rate of any address during the run, by class (pps): " + string.Join(", ", peak.Select(p => $"{p.Key} {p.Value:N0}")));
        Assert.True(peak["ip_flood"] > 10_000, "the background must come near enough to the thresholds to mean something");
        Assert.True(long.Parse(rows.Split(' ')[1], CultureInfo.InvariantCulture) >= 290_000, rows);
        Assert.Contains("flowline_ddos_rules_announced_total 0\n", metrics, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"flowline_ddos_attacks_total\{[^}]*\} [1-9]", metrics);
        Assert.Null(router.FlowSpecRib(false).Split('\n').FirstOrDefault(l => l.Contains("[destination:", StringComparison.Ordinal)));
    }

    [Fact]
    public void Tenants_block_and_unblock_their_own_addresses_through_the_api()
    {
        using var router = new BgpLab(BgpLab.Kind.Gobgp);
        using var serve = Serve(router, out var keyA, out var keyB);
        ServeProcess.WaitFor(() => serve.Errors.Contains("established", StringComparison.Ordinal), "the BGP session", 60);
        var block = """{"destination": "198.51.100.10", "protocol": 6, "destination_ports": [22], "action": "rate-limit:12500"}""";
        var (status, body) = Rest.Send(HttpMethod.Post, serve.Url + "/api/v1/ddos/mitigations", block, keyB);
        Assert.Equal(403, status);
        Assert.Contains("not an address of account acc-b", body, StringComparison.Ordinal);
        (status, body) = Rest.Send(HttpMethod.Post, serve.Url + "/api/v1/ddos/mitigations", """{"destination": "198.51.100.10", "protocol": "tcp"}""", keyA);
        Assert.Equal(400, status);
        (status, body) = Rest.Send(HttpMethod.Post, serve.Url + "/api/v1/ddos/mitigations", block, keyA);
        Assert.Equal(201, status);
        var id = JsonDocument.Parse(body).RootElement.GetProperty("id").GetString()!;
        ServeProcess.WaitFor(() => router.Route("198.51.100.10/32") is { } r && r.Contains("[destination-port: ==22]", StringComparison.Ordinal)
            && r.Contains("[rate: 12500.000000]", StringComparison.Ordinal), "the block in gobgp's RIB", 30);

        (status, _) = Rest.Send(HttpMethod.Get, serve.Url + "/api/v1/ddos/mitigations/" + id, key: keyB);
        Assert.Equal(404, status);
        (status, _) = Rest.Send(HttpMethod.Delete, serve.Url + "/api/v1/ddos/mitigations/" + id, key: keyB);
        Assert.Equal(404, status);
        (status, _) = Rest.Send(HttpMethod.Get, serve.Url + "/api/v1/ddos/status", key: keyA);
        Assert.Equal(403, status);
        Assert.NotNull(router.Route("198.51.100.10/32"));
        (status, body) = Rest.Send(HttpMethod.Delete, serve.Url + "/api/v1/ddos/mitigations/" + id, key: keyA);
        Assert.Equal(200, status);
        Assert.Equal("withdrawn", JsonDocument.Parse(body).RootElement.GetProperty("status").GetString());
        ServeProcess.WaitFor(() => router.Route("198.51.100.10/32") is null, "the block withdrawn from gobgp's RIB", 30);
        var audit = File.ReadAllText(Path.Combine(_dir.FullName, "data", "audit.log"));
        Assert.Contains("\"ddos.withdraw\"", audit, StringComparison.Ordinal);
        Assert.Contains("\"denied\"", audit, StringComparison.Ordinal);
    }

    [Fact]
    public void A_block_no_router_would_take_is_answered_failed_and_not_kept()
    {
        using var router = new BgpLab(BgpLab.Kind.Gobgp, ipv4FlowSpecOnly: true);
        using var serve = Serve(router, out var keyA, out _);
        ServeProcess.WaitFor(() => serve.Errors.Contains("established", StringComparison.Ordinal), "the BGP session", 60);
        var (status, body) = Rest.Send(HttpMethod.Post, serve.Url + "/api/v1/ddos/mitigations", """{"destination": "2001:db8:100::10", "protocol": 17}""", keyA);
        Assert.True(status is 200 or 201, body);
        var answer = JsonDocument.Parse(body).RootElement;
        Assert.Equal("failed", answer.GetProperty("status").GetString());
        Assert.Contains("ipv6", answer.GetProperty("reason").GetString(), StringComparison.OrdinalIgnoreCase);
        (status, body) = Rest.Send(HttpMethod.Get, serve.Url + "/api/v1/ddos/mitigations", key: keyA);
        Assert.Equal(200, status);
        Assert.DoesNotContain("2001:db8:100::10", body, StringComparison.Ordinal);
        // An IPv4 block the router takes is announced as before.
        (status, body) = Rest.Send(HttpMethod.Post, serve.Url + "/api/v1/ddos/mitigations", """{"destination": "198.51.100.10", "protocol": 17}""", keyA);
        Assert.Equal("announced", JsonDocument.Parse(body).RootElement.GetProperty("status").GetString());
        ServeProcess.WaitFor(() => router.Route("198.51.100.10/32") is not null, "the IPv4 block in gobgp's RIB", 30);
    }

    private ServeProcess Serve(BgpLab router, out AccessKey keyA, out AccessKey keyB)
    {
        var inventory = Path.Combine(_dir.FullName, "inventory.yaml");
        File.WriteAllText(inventory, """
            accounts: [{id: acc-a, name: A}, {id: acc-b, name: B}]
            networks:
              - {name: "default-domain:a:public", account: acc-a, subnets: [198.51.100.0/25, "2001:db8:100::/64"]}
              - {name: "default-domain:b:public", account: acc-b, subnets: [198.51.100.128/25]}
            ports:
              - {uuid: 11111111-1111-4111-8111-111111111111, account: acc-a, network: "default-domain:a:public", mac: "02:00:00:00:00:0a", ips: [198.51.100.10]}
              - {uuid: 22222222-2222-4222-8222-222222222222, account: acc-b, network: "default-domain:b:public", mac: "02:00:00:00:00:0b", ips: [198.51.100.200]}
            """);
        var data = Path.Combine(_dir.FullName, "data");
        Directory.CreateDirectory(data);
        var keys = Flowline.Api.KeyStore.Open(data);
        keyA = keys.Create("acc-a", admin: false);
        keyB = keys.Create("acc-b", admin: false);
        return new ServeProcess(data, "--inventory", inventory, "--sessions", "off", "--ddos", "automatic",
            "--threshold-events-to", "file:" + Path.Combine(_dir.FullName, "events.jsonl"), "--ddos-neighbors", $"127.0.0.1:{router.Port}={BgpLab.RouterAs}",
            "--ddos-hold", $"{HoldSeconds}s", "--ddos-groups", "web=198.51.100.0/24 2001:db8:100::/48",
            "--ddos-thresholds", "ip_flood=150k,ip_fragmentation=30k,icmp_flood=30k,tcp_flood=60k,tcp_syn_flood=30k,tcp_amplification=30k,udp_flood=60k,udp_amplification=30k,icmp_unreachable=5k");
    }
}
