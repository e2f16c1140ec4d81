using System.Globalization;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace Flowline.Cli.Tests;

/// <summary>
/// A real Open vSwitch bridge, configured by `flowline ovs configure`, exports sFlow (every packet
/// sampled), NetFlow v5 and IPFIX to `flowline serve` while iperf3 and curl move known amounts of data
/// between two namespaces. `flowline query` must show each conversation's 5-tuple, per protocol, with a
/// byte total within 2% of what the tool moved.
/// </summary>
/// <remarks>
/// Each protocol counts bytes from a different layer, so the payload is recovered by taking away the
/// headers it counts per packet: IPFIX octetDeltaCount starts at the IP header (20 + 20 bytes of
/// IPv4 and TCP, timestamps being off); Open vSwitch's NetFlow v5 dOctets also counts the 14-byte
/// Ethernet header; sFlow's frame_length counts Ethernet and the 4-byte FCS too. Open vSwitch 3.1
/// reports every packet to IPFIX twice, at ingress and at egress (flowDirection 0 and 1); the test
/// reads the ingress records (`flowdir ingress`).
/// </remarks>
public sealed class OvsEndToEndTests(ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-ovs-e2e-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static readonly Dictionary<string, int> HeaderBytes = new() { ["sflow5"] = 58, ["netflow5"] = 54, ["ipfix"] = 40 };

    private sealed record Conversation(string What, string Src, int SrcPort, string Dst, int DstPort, long Moved);

    [Fact]
    public void Sflow_netflow_and_ipfix_from_a_real_bridge_match_what_iperf3_and_curl_moved()
    {
        using var lab = new OvsLab();
        var dataDir = Path.Combine(_dir.FullName, "data");
        using var serve = new ServeProcess(dataDir);
        var configure = FlowlineProcess.Run(lab.WithLab(FlowlineProcess.Flowline("ovs", "configure", "--bridge", lab.Bridge,
            "--collector", "127.0.0.1", "--sflow-port", Port(serve, "sflow"), "--netflow-port", Port(serve, "netflow"),
            "--ipfix-port", Port(serve, "ipfix"), "--sampling", "1", "--polling", "5", "--active-timeout", "5")));
        Assert.True(configure.ExitCode == 0, configure.Stderr);

        var web = Directory.CreateDirectory(Path.Combine(_dir.FullName, "web")).FullName;
        File.WriteAllBytes(Path.Combine(web, "big.bin"), RandomBytes(3_000_000));
        File.WriteAllBytes(Path.Combine(web, "small.bin"), RandomBytes(1_000_000));
        lab.StartIn(lab.B, web, FlowlineProcess.Tool("python3"), "-m", "http.server", "8080", "--bind", lab.B.Address);
        lab.StartIn(lab.B, web, FlowlineProcess.Tool("iperf3"), "-s", "-B", lab.B.Address, "-p", "5201");

        var conversations = new List<Conversation> { Curl(lab, "big.bin"), Curl(lab, "small.bin"), Iperf(lab, 8 << 20) };

        // NetFlow v5 and IPFIX records come when Open vSwitch expires the datapath flows (idle 10 s, active 5 s).
        string report = "";
        bool AllWithin()
        {
            (var ok, report) = Compare(dataDir, conversations);
            return ok;
        }
        try
        {
            ServeProcess.WaitFor(AllWithin, "every conversation within 2% for every protocol", seconds: 90);
        }
        catch (TimeoutException)
        {
            Assert.Fail("not every conversation is within 2% of what the tool moved:\n" + report);
        }
        Assert.Equal(0, serve.Terminate());
        // After the shutdown the stored answer still holds.
        var (stored, final) = Compare(dataDir, conversations);
        output.WriteLine(final);
        Assert.True(stored, final);
    }

    private static string Port(ServeProcess serve, string listener) => serve.Ports[listener].ToString(CultureInfo.InvariantCulture);

    private static byte[] RandomBytes(int n)
    {
        var b = new byte[n];
        new Random(n).NextBytes(b);
        return b;
    }

    /// <summary>Downloads a file from host B to host A; the tool moved the response headers and body.</summary>
    private static Conversation Curl(OvsLab lab, string file)
    {
        var r = lab.In(lab.A, TimeSpan.FromMinutes(2), FlowlineProcess.Tool("curl"), "-s", "-o", "/dev/null", "--retry", "30", "--retry-connrefused",
            "--retry-delay", "1", "-w", "%{local_port} %{size_download} %{size_header} %{http_code}", $"http://{lab.B.Address}:8080/{file}");
        var f = r.Stdout.Split(' ');
        Assert.True(r.ExitCode == 0 && f.Length == 4 && f[3] == "200", $"curl {file}: {r.Stdout} {r.Stderr}");
        var moved = long.Parse(f[1], CultureInfo.InvariantCulture) + long.Parse(f[2], CultureInfo.InvariantCulture);
        return new Conversation($"curl {file}", lab.B.Address, 8080, lab.A.Address, int.Parse(f[0], CultureInfo.InvariantCulture), moved);
    }

    /// <summary>An iperf3 TCP transfer of a fixed size from A to B, paced so the userspace datapath keeps up.</summary>
    private static Conversation Iperf(OvsLab lab, long bytes)
    {
        for (var attempt = 0; ; attempt++)
        {
            var r = lab.In(lab.A, TimeSpan.FromMinutes(2), FlowlineProcess.Tool("iperf3"), "-c", lab.B.Address, "-p", "5201",
                "-n", bytes.ToString(CultureInfo.InvariantCulture), "-b", "50M", "--json");
            if (r.ExitCode != 0 && attempt < 30)
            {
                Thread.Sleep(500); // the server is still starting
                continue;
            }
            Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
            var json = JsonDocument.Parse(r.Stdout).RootElement;
            var port = json.GetProperty("start").GetProperty("connected")[0].GetProperty("local_port").GetInt32();
            var sent = json.GetProperty("end").GetProperty("sum_sent").GetProperty("bytes").GetInt64();
            return new Conversation("iperf3", lab.A.Address, port, lab.B.Address, 5201, sent);
        }
    }

    /// <summary>Per protocol and conversation: the stored bytes less the headers that protocol counts, against what the tool moved.</summary>
    private static (bool Ok, string Report) Compare(string dataDir, List<Conversation> conversations)
    {
        var r = FlowlineProcess.RunFlowline(["query", "--data-dir", dataDir, "-A", "protocol,src_addr,src_port,dst_addr,dst_port,ip_proto", "-o", "csv",
            "proto tcp and (flowdir ingress or flowdir unknown)"]);
        if (r.ExitCode != 0) return (false, r.Stderr);
        var rows = r.Stdout.Split('\n').Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')).ToList();
        var ok = true;
        var report = new StringBuilder();
        foreach (var c in conversations)
        {
            foreach (var (protocol, header) in HeaderBytes)
            {
                var row = rows.SingleOrDefault(f => f[0] == protocol && f[1] == c.Src && f[2] == c.SrcPort.ToString(CultureInfo.InvariantCulture)
                    && f[3] == c.Dst && f[4] == c.DstPort.ToString(CultureInfo.InvariantCulture) && f[5] == "6");
                if (row is null)
                {
                    ok = false;
                    report.AppendLine(CultureInfo.InvariantCulture, $"{c.What} {protocol}: no record of {c.Src}:{c.SrcPort} -> {c.Dst}:{c.DstPort} tcp");
                    continue;
                }
                long bytes = long.Parse(row[6], CultureInfo.InvariantCulture), packets = long.Parse(row[7], CultureInfo.InvariantCulture);
                var payload = bytes - header * packets;
                var error = Math.Abs(payload - c.Moved) / (double)c.Moved;
                ok &= error <= 0.02;
                report.AppendLine(CultureInfo.InvariantCulture,
                    $"{c.What} {protocol}: {bytes} bytes in {packets} packets, payload {payload} vs {c.Moved} moved ({error:P2})");
            }
        }
        return (ok, report.ToString());
    }
}
