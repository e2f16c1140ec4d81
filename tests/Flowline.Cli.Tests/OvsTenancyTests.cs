using System.Globalization;
using System.Text;
using Xunit.Abstractions;

namespace Flowline.Cli.Tests;

/// <summary>
/// Two accounts use the same 10.0.0.0/24 on one Open vSwitch bridge, in VLANs 100 and 200 (access ports:
/// the tags never reach the flow exports). Only the switch port a packet used tells them apart — the
/// ifindex in sFlow and IPFIX, the OpenFlow port in NetFlow v5. Every stored TCP row must carry the right
/// account, network, port (VMI) and direction, for each protocol; an OpenFlow drop rule makes Open
/// vSwitch report discarded packets in sFlow, which are stored with action drop.
/// </summary>
public sealed class OvsTenancyTests(ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-ovs-tenancy-");

    public void Dispose() => _dir.Delete(recursive: true);

    private sealed record Tenant(string Account, string Network, int ServerPort, OvsLab.Host Client, OvsLab.Host Server, string ClientVmi, string ServerVmi);

    [Fact]
    public void Two_accounts_on_the_same_subnet_are_told_apart_by_the_switch_ports_in_every_protocol()
    {
        using var lab = new OvsLab(twoHosts: false);
        var a = new Tenant("acc-a", "default-domain:a:net", 8080, lab.AddHost("a1", "10.0.0.1", 100), lab.AddHost("a2", "10.0.0.2", 100), "vmi-a1", "vmi-a2");
        var b = new Tenant("acc-b", "default-domain:b:net", 8081, lab.AddHost("b1", "10.0.0.1", 200), lab.AddHost("b2", "10.0.0.2", 200), "vmi-b1", "vmi-b2");
        var inventory = Path.Combine(_dir.FullName, "inventory.yaml");
        File.WriteAllText(inventory, Inventory(a, b));

        var dataDir = Path.Combine(_dir.FullName, "data");
        using var serve = new ServeProcess(dataDir, "--inventory", inventory);
        Assert.Contains("inventory/loaded", serve.Errors, StringComparison.Ordinal);
        var configure = FlowlineProcess.Run(lab.WithLab(FlowlineProcess.Flowline("ovs", "configure", "--bridge", lab.Bridge,
            "--collector", "127.0.0.1", "--sflow-port", Port(serve, "sflow"), "--netflow-port", Port(serve, "netflow"),
            "--ipfix-port", Port(serve, "ipfix"), "--sampling", "1", "--polling", "5", "--active-timeout", "5")));
        Assert.True(configure.ExitCode == 0, configure.Stderr);
        // Open vSwitch drops TCP to port 9999 between A's hosts; sFlow reports those packets as discarded.
        lab.Ofctl("add-flow", lab.Bridge, $"priority=100,tcp,in_port={a.Client.OfPort},tp_dst=9999,actions=drop");

        var web = Directory.CreateDirectory(Path.Combine(_dir.FullName, "web")).FullName;
        File.WriteAllBytes(Path.Combine(web, "file.bin"), new byte[300_000]);
        foreach (var t in new[] { a, b })
        {
            lab.StartIn(t.Server, web, FlowlineProcess.Tool("python3"), "-m", "http.server", t.ServerPort.ToString(CultureInfo.InvariantCulture),
                "--bind", t.Server.Address);
        }
        foreach (var t in new[] { a, b })
        {
            var r = lab.In(t.Client, TimeSpan.FromMinutes(2), FlowlineProcess.Tool("curl"), "-s", "-o", "/dev/null", "--retry", "30",
                "--retry-connrefused", "--retry-delay", "1", "-w", "%{http_code}", $"http://{t.Server.Address}:{t.ServerPort}/file.bin");
            Assert.True(r.ExitCode == 0 && r.Stdout == "200", $"curl in {t.Account}: {r.Stdout} {r.Stderr}");
        }
        var blocked = lab.In(a.Client, TimeSpan.FromMinutes(1), FlowlineProcess.Tool("curl"), "-s", "--max-time", "3", $"http://{a.Server.Address}:9999/");
        Assert.NotEqual(0, blocked.ExitCode);

        string report = "";
        bool Complete()
        {
            (var ok, report) = Check(dataDir, a, b);
            return ok;
        }
        try
        {
            ServeProcess.WaitFor(Complete, "every protocol's rows of both conversations, each with the right tenancy", seconds: 90);
        }
        catch (TimeoutException)
        {
            Assert.Fail(report);
        }
        output.WriteLine(report);

        // A query scoped to one account returns only its rows.
        var scoped = Query(dataDir, "--fields", "account,vmi", "-o", "csv", "account acc-b");
        Assert.NotEmpty(scoped);
        Assert.All(scoped, r => Assert.True(r[0] == "acc-b" && r[1] is "vmi-b1" or "vmi-b2", string.Join(',', r)));
        Assert.Equal(0, serve.Terminate());
    }

    private static string Port(ServeProcess serve, string listener) => serve.Ports[listener].ToString(CultureInfo.InvariantCulture);

    private static string Inventory(Tenant a, Tenant b)
    {
        var s = new StringBuilder();
        s.AppendLine("accounts: [{id: acc-a, name: A}, {id: acc-b, name: B}]");
        s.AppendLine("networks:");
        s.AppendLine($"  - {{name: \"{a.Network}\", account: acc-a, subnets: [10.0.0.0/24], vlan: 100}}");
        s.AppendLine($"  - {{name: \"{b.Network}\", account: acc-b, subnets: [10.0.0.0/24], vlan: 200}}");
        s.AppendLine("security_groups:");
        s.AppendLine("  - {uuid: sg-a, name: a-web, account: acc-a, rules: [{uuid: rule-a-web, direction: ingress, protocol: tcp, ports: 8080}, {uuid: rule-a-out, direction: egress}]}");
        s.AppendLine("  - {uuid: sg-b, name: b-web, account: acc-b, rules: [{uuid: rule-b-web, direction: ingress, protocol: tcp, ports: 8081, remote_group: b-web}, {uuid: rule-b-out, direction: egress}]}");
        s.AppendLine("ports:");
        foreach (var (t, host, vmi, group) in new[] { (a, a.Client, a.ClientVmi, "a-web"), (a, a.Server, a.ServerVmi, "a-web"), (b, b.Client, b.ClientVmi, "b-web"), (b, b.Server, b.ServerVmi, "b-web") })
        {
            s.AppendLine(CultureInfo.InvariantCulture, $"  - {{uuid: {vmi}, account: {t.Account}, network: \"{t.Network}\", mac: \"{host.Mac}\", ips: [{host.Address}], " +
                $"exporter: 127.0.0.1, interface: {host.Port}, ofport: {host.OfPort}, ifindex: {host.IfIndex}, tags: {{app: web-{t.Account}}}, security_groups: [{group}]}}");
        }
        return s.ToString();
    }

    private static List<string[]> Query(string dataDir, params string[] args)
    {
        var r = FlowlineProcess.RunFlowline(["query", "--data-dir", dataDir, .. args]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return r.Stdout.Split('\n').Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')).ToList();
    }

    /// <summary>
    /// Every TCP row of the two conversations has the tenancy the conversation's server port says it must,
    /// and each protocol has all four rows of each conversation (request and reply, one per port).
    /// </summary>
    private static (bool Ok, string Report) Check(string dataDir, Tenant a, Tenant b)
    {
        var rows = Query(dataDir, "--fields", "protocol,src_addr,dst_addr,src_port,dst_port,account,vmi,vmi_direction,src_vn,dst_vn,action,sg_rule,app",
            "-o", "csv", "proto tcp");
        var report = new StringBuilder();
        var ok = true;
        var seen = new HashSet<string>();
        foreach (var r in rows)
        {
            var (protocol, src, dst, sport, dport) = (r[0], r[1], r[2], int.Parse(r[3], CultureInfo.InvariantCulture), int.Parse(r[4], CultureInfo.InvariantCulture));
            if (dport == 9999 || sport == 9999)
            {
                // Dropped by the OpenFlow rule: sFlow says discarded; the flow exports of the other protocols may not see them at all.
                if (protocol == "sflow5" && dport == 9999)
                {
                    var dropOk = r[5] == "acc-a" && r[10] == "drop";
                    ok &= dropOk;
                    if (!dropOk) report.AppendLine("dropped packet not stored as dropped: " + string.Join(',', r));
                    seen.Add("sflow5 drop " + r[6]);
                }
                continue;
            }
            var t = dport == a.ServerPort || sport == a.ServerPort ? a : dport == b.ServerPort || sport == b.ServerPort ? b : null;
            if (t is null) continue;
            var vmiAddress = r[7] == "egress" ? src : dst;
            var expectedVmi = vmiAddress == t.Client.Address ? t.ClientVmi : t.ServerVmi;
            var good = r[5] == t.Account && r[6] == expectedVmi && r[7] is "egress" or "ingress" && r[8] == t.Network && r[9] == t.Network
                && r[10] == "pass" && r[12] == $"web-{t.Account}";
            // The request into the server port is admitted by the web rule; everything else by the egress rule or as its reply.
            var rule = r[7] == "ingress" && dport == t.ServerPort ? (t == a ? "rule-a-web" : "rule-b-web") : (t == a ? "rule-a-out" : "rule-b-out");
            good &= r[11] == rule;
            if (!good)
            {
                ok = false;
                report.AppendLine(CultureInfo.InvariantCulture, $"wrong: {string.Join(',', r)} (expected {t.Account} {expectedVmi} {t.Network} {rule})");
            }
            seen.Add($"{protocol} {r[6]} {r[7]} {(dport == t.ServerPort ? "request" : "reply")}");
        }
        foreach (var protocol in new[] { "sflow5", "netflow5", "ipfix" })
        {
            foreach (var t in new[] { a, b })
            {
                foreach (var want in new[] { $"{t.ClientVmi} egress request", $"{t.ServerVmi} ingress request", $"{t.ServerVmi} egress reply", $"{t.ClientVmi} ingress reply" })
                {
                    if (seen.Contains($"{protocol} {want}")) continue;
                    ok = false;
                    report.AppendLine(CultureInfo.InvariantCulture, $"{protocol}: no row for {want}");
                }
            }
        }
        foreach (var vmi in new[] { a.ClientVmi, a.ServerVmi })
        {
            if (seen.Contains("sflow5 drop " + vmi)) continue;
            ok = false;
            report.AppendLine("sflow5: no dropped row for " + vmi);
        }
        report.AppendLine(CultureInfo.InvariantCulture, $"{rows.Count} TCP rows checked");
        return (ok, report.ToString());
    }
}
