using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Flowline.Cli.Tests;

/// <summary>
/// nfdump's computed filter primitives (bps, pps, bpp) and router ip select exactly the flows nfdump selects:
/// the same NetFlow v9 datagrams go to nfcapd and to `flowline serve`, then each expression is run by nfdump
/// over nfcapd's file and by `flowline query` over the store. (ICMP type and code: nfcapd 1.7.1 reads them
/// from element 32 only, which these datagrams do not carry; tests/Flowline.Query.Tests checks them.)
/// </summary>
public sealed class NfdumpFilterTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-nffilter-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Computed_primitives_select_what_nfdump_selects()
    {
        var pcap = Path.Combine(_dir.FullName, "g.pcap");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "netflow9", "--count", "20000", "--seed", "3", "--pcap", pcap, "-q"]).ExitCode);
        var datagrams = AgentOutageTests.Datagrams(pcap, out _, out _);

        var data = Path.Combine(_dir.FullName, "flowline");
        var nfdumpDir = Directory.CreateDirectory(Path.Combine(_dir.FullName, "nfdump")).FullName;
        int nfdumpPort;
        using (var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0))) nfdumpPort = ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
        using var serve = new ServeProcess(data);
        using var collector = Process.Start(FlowlineProcess.StartInfo(FlowlineProcess.Tool("nfcapd"),
            "-B", "4194304", "-b", "127.0.0.1", "-p", nfdumpPort.ToString(CultureInfo.InvariantCulture), "-w", nfdumpDir))!;
        try
        {
            ServeProcess.WaitFor(() => ServeProcess.UdpBound(nfdumpPort), $"nfcapd bound to udp/{nfdumpPort}", 30);
            using var sender = new UdpClient();
            for (var i = 0; i < datagrams.Count; i++)
            {
                sender.Send(datagrams[i], datagrams[i].Length, new IPEndPoint(IPAddress.Loopback, nfdumpPort));
                sender.Send(datagrams[i], datagrams[i].Length, new IPEndPoint(IPAddress.Loopback, serve.Ports["netflow"]));
                if (i % 32 == 31) Thread.Sleep(1); // loopback sockets drop bursts beyond their buffer
            }
            ServeProcess.WaitFor(() => serve.Records("netflow9") == 20_000, "20,000 records at serve", 60);
            Assert.Equal(0, serve.Terminate());
            Process.Start("kill", ["-TERM", collector.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
            Assert.True(collector.WaitForExit(30_000), "nfcapd did not stop");
        }
        finally
        {
            if (!collector.HasExited) collector.Kill();
        }

        (long Flows, long Bytes) Nfdump(string filter)
        {
            var r = FlowlineProcess.Run(FlowlineProcess.StartInfo(FlowlineProcess.Tool("nfdump"), "-R", nfdumpDir, "-o", "csv", "-N", filter));
            Assert.True(r.ExitCode == 0, $"nfdump '{filter}': {r.Stderr}");
            var lines = r.Stdout.Split('\n').SkipWhile(l => !l.StartsWith("ts,", StringComparison.Ordinal)).ToList();
            Assert.True(lines.Count > 0, $"nfdump '{filter}' printed no header: {r.Stdout}{r.Stderr}");
            var ibyt = Array.IndexOf(lines[0].Split(','), "ibyt");
            var rows = lines.Skip(1).TakeWhile(l => l.Length > 0 && !l.StartsWith("Summary", StringComparison.Ordinal) && !l.StartsWith("No matching", StringComparison.Ordinal)).ToList();
            return (rows.Count, rows.Sum(l => long.Parse(l.Split(',')[ibyt], CultureInfo.InvariantCulture)));
        }
        (long Flows, long Bytes) Flowline(string filter)
        {
            var r = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-o", "csv", "--fields", "bytes", filter]);
            Assert.True(r.ExitCode == 0, $"flowline '{filter}': {r.Stderr}");
            var rows = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
            return (rows.Count, rows.Sum(l => long.Parse(l, CultureInfo.InvariantCulture)));
        }

        Assert.Equal(20_000, Nfdump("any").Flows);
        foreach (var filter in new[]
                 {
                     "bps > 500000", "bps < 100k", "pps > 100", "pps < 101", "pps = 100", "bpp > 1000", "bpp < 100", "bpp = 64",
                     "router ip 127.0.0.1", "not router ip 127.0.0.1", "proto tcp and bps > 1m", "proto udp and pps > 100", "bps > 1m or bpp < 80",
                 })
        {
            var theirs = Nfdump(filter);
            Assert.True(theirs.Flows > 0 || filter.StartsWith("not", StringComparison.Ordinal), $"'{filter}' selects nothing in nfdump: not a useful check");
            Assert.Equal((filter, theirs), (filter, Flowline(filter)));
        }
    }
}
