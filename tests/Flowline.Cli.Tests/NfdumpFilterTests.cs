using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Flowline.Cli.Tests;

/// <summary>
/// The same 20,000 NetFlow v9 flows (one in ten over IPv6) sent to nfcapd and to `flowline serve`: nfdump over
/// nfcapd's file and `flowline query` over the store are then asked the same things.
/// </summary>
public sealed class NfdumpPair : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-nffilter-");

    public string Store { get; }
    public string NfdumpDir { get; }

    public NfdumpPair()
    {
        var pcap = Path.Combine(_dir.FullName, "g.pcap");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "netflow9", "--count", "20000", "--seed", "3", "--pcap", pcap, "-q"]).ExitCode);
        var datagrams = AgentOutageTests.Datagrams(pcap, out _, out _);

        Store = Path.Combine(_dir.FullName, "flowline");
        NfdumpDir = Directory.CreateDirectory(Path.Combine(_dir.FullName, "nfdump")).FullName;
        int nfdumpPort;
        using (var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0))) nfdumpPort = ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
        using var serve = new ServeProcess(Store);
        using var collector = Process.Start(FlowlineProcess.StartInfo(FlowlineProcess.Tool("nfcapd"),
            "-B", "4194304", "-b", "127.0.0.1", "-p", nfdumpPort.ToString(CultureInfo.InvariantCulture), "-w", NfdumpDir))!;
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
    }

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>nfdump's standard output for these arguments over nfcapd's files.</summary>
    public string Nfdump(params string[] args)
    {
        var r = FlowlineProcess.Run(FlowlineProcess.StartInfo(FlowlineProcess.Tool("nfdump"), ["-R", NfdumpDir, .. args]));
        Assert.True(r.ExitCode == 0, $"nfdump {string.Join(' ', args)}: {r.Stderr}");
        return r.Stdout;
    }

    /// <summary>`flowline query`'s standard output for the same arguments over the store.</summary>
    public string Flowline(params string[] args)
    {
        var r = FlowlineProcess.RunFlowline(["query", "--data-dir", Store, .. args]);
        Assert.True(r.ExitCode == 0, $"flowline query {string.Join(' ', args)}: {r.Stderr}");
        return r.Stdout;
    }

    public static List<string> Lines(string text) => [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries)];
}

/// <summary>
/// nfdump's computed filter primitives (bps, pps, bpp) and router ip select exactly the flows nfdump selects.
/// (ICMP type and code: nfcapd 1.7.1 reads them from element 32 only, which these datagrams do not carry;
/// tests/Flowline.Query.Tests checks them.)
/// </summary>
[Collection("nfdump pair")]
public sealed class NfdumpFilterTests(NfdumpPair pair)
{
    [Fact]
    public void Computed_primitives_select_what_nfdump_selects()
    {
        (long Flows, long Bytes) Nfdump(string filter)
        {
            var lines = NfdumpPair.Lines(pair.Nfdump("-o", "csv", "-N", filter)).SkipWhile(l => !l.StartsWith("ts,", StringComparison.Ordinal)).ToList();
            Assert.True(lines.Count > 0, $"nfdump '{filter}' printed no header");
            var ibyt = Array.IndexOf(lines[0].Split(','), "ibyt");
            var rows = lines.Skip(1).TakeWhile(l => !l.StartsWith("Summary", StringComparison.Ordinal) && !l.StartsWith("No matching", StringComparison.Ordinal)).ToList();
            return (rows.Count, rows.Sum(l => long.Parse(l.Split(',')[ibyt], CultureInfo.InvariantCulture)));
        }
        (long Flows, long Bytes) Flowline(string filter)
        {
            var rows = NfdumpPair.Lines(pair.Flowline("-o", "csv", "--fields", "bytes", filter)).Skip(1).ToList();
            return (rows.Count, rows.Sum(l => long.Parse(l, CultureInfo.InvariantCulture)));
        }

        Assert.Equal(20_000, Nfdump("any").Flows);
        foreach (var filter in new[]
                 {
                     // gen's flows last 10 ms a packet (up to a minute), so most run at exactly 100 packets a second.
                     "bps > 500000", "bps < 100k", "pps > 99", "pps < 101", "pps = 100", "pps >= 100 and bytes > 10k", "bpp > 1000", "bpp < 100", "bpp = 64",
                     "router ip 127.0.0.1", "not router ip 127.0.0.1", "proto tcp and bps > 1m", "proto udp and pps >= 100", "bps > 1m or bpp < 80",
                 })
        {
            var theirs = Nfdump(filter);
            Assert.True(theirs.Flows > 0 || filter.StartsWith("not", StringComparison.Ordinal), $"'{filter}' selects nothing in nfdump: not a useful check");
            Assert.Equal((filter, theirs), (filter, Flowline(filter)));
        }
    }
}
