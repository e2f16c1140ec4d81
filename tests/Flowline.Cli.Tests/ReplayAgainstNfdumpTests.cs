using System.Diagnostics;
using System.Globalization;
using System.Net;
using Flowline.Testing;

namespace Flowline.Cli.Tests;

/// <summary>
/// Real exporters replay the shared traffic capture (softflowd for NetFlow v9 and IPFIX, pmacctd's sFlow
/// probe); every datagram goes at once to `flowline serve` and to nfdump's collector (nfcapd / sfcapd).
/// Both must hold the same flows: the same rows of addresses, ports, protocol, bytes and packets.
/// </summary>
public sealed class ReplayAgainstNfdumpTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-replay-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static string Traffic => Path.Combine(FlowlineProcess.RepositoryRoot, "..", "shared", "captures", "traffic", "traffic_A_all.pcap");

    [Theory]
    [InlineData("netflow9")]
    [InlineData("ipfix")]
    [InlineData("sflow5")]
    public void Flowline_and_nfdump_store_the_same_flows(string protocol)
    {
        var dataDir = Path.Combine(_dir.FullName, "flowline");
        var nfdumpDir = Directory.CreateDirectory(Path.Combine(_dir.FullName, "nfdump")).FullName;
        var sflow = protocol == "sflow5";
        var nfdumpPort = FreeUdpPort();
        using var serve = new ServeProcess(dataDir);
        using var collector = Process.Start(FlowlineProcess.StartInfo(FlowlineProcess.Tool(sflow ? "sfcapd" : "nfcapd"),
            "-B", "4194304", "-b", "127.0.0.1", "-p", nfdumpPort.ToString(CultureInfo.InvariantCulture), "-w", nfdumpDir))!;
        try
        {
            using var tee = new UdpTee(serve.Ports[sflow ? "sflow" : protocol == "ipfix" ? "ipfix" : "netflow"], nfdumpPort);
            // nfcapd/sfcapd print nothing when they are ready: wait until the kernel shows their socket bound.
            ServeProcess.WaitFor(() => ServeProcess.UdpBound(nfdumpPort), $"{(sflow ? "sfcapd" : "nfcapd")} bound to udp/{nfdumpPort}", 30);

            var exporter = sflow ? Pmacctd(tee.Port) : Softflowd(tee.Port, protocol == "ipfix" ? "10" : "9");
            var run = FlowlineProcess.Run(exporter, TimeSpan.FromMinutes(2));
            // pmacctd's core sometimes exits 1 at the end of the capture when its plugin finished first
            // ("no more plugins active"); what it sent is judged by the comparison below.
            Assert.True(run.ExitCode == 0 || sflow, run.Stdout + run.Stderr);
            tee.WaitUntilDrained();
            Assert.True(tee.Forwarded > 0, "the exporter sent nothing");
            ServeProcess.WaitFor(() => Datagrams(serve, protocol) == tee.Forwarded, $"{tee.Forwarded} datagrams at flowline");

            Assert.Equal(0, serve.Terminate());
            Process.Start("kill", ["-TERM", collector.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
            Assert.True(collector.WaitForExit(30_000), "nfdump's collector did not stop");
            var collectorLog = collector.StandardOutput.ReadToEnd() + collector.StandardError.ReadToEnd();

            var theirs = NfdumpRows(nfdumpDir);
            var ours = FlowlineRows(["--data-dir", dataDir]);
            Assert.True(theirs.Count > 0, "nfdump stored nothing: " + collectorLog);
            Assert.Equal(theirs.Count, ours.Count);
            Assert.Equal(theirs.Sum(r => r.Bytes), ours.Sum(r => r.Bytes));
            Assert.Equal(theirs.Sum(r => r.Packets), ours.Sum(r => r.Packets));
            Assert.Equal(theirs.Order(), ours.Order());

            // nfdump's listings of the same flows, aggregated as nfdump aggregates them: -a (the flows of one 5-tuple),
            // -b (a conversation's two directions as one row), -B (turned so the server is the destination).
            // TCP and UDP: nfcapd reads ICMP type and code from element 32 only, which these exporters do not send.
            // NetFlow v9 only: sFlow has no flow times (each collector stamps its own arrival), and nfcapd 1.7.1
            // misreads softflowd's IPFIX times (durations of -2147483648 days).
            if (protocol != "netflow9") return;
            foreach (var args in new[]
                     {
                         new[] { "-o", "extended" }, ["-a", "-o", "long"], ["-b", "-o", "bilong"],
                         ["-B", "-N", "-o", "fmt:%ts %te %td %pr %sap %dap %flg %ipkt %opkt %ibyt %obyt %bps %bpp %fl %in %out %ra"],
                     })
            {
                var theirLines = NfdumpLines(nfdumpDir, args);
                var ourLines = FlowlineProcess.RunFlowline(["query", "--data-dir", dataDir, "-q", .. args, "proto tcp or proto udp"]);
                Assert.True(ourLines.ExitCode == 0, ourLines.Stderr);
                Assert.True(theirLines.Count > 10, $"nfdump {string.Join(' ', args)}: {theirLines.Count} rows");
                Assert.Equal(theirLines, ourLines.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
            }
            var rows = NfdumpLines(nfdumpDir, ["-o", "fmt:%pr"]).Count;
            var conversations = NfdumpLines(nfdumpDir, ["-b", "-o", "fmt:%pr"]).Count;
            Assert.True(conversations < rows * 3 / 4, $"-b joined too few flows ({rows} to {conversations}) to show bidirectional aggregation");
        }
        finally
        {
            if (!collector.HasExited) collector.Kill();
        }
    }

    /// <summary>
    /// The scale-out deployment fed by a real exporter: softflowd's NetFlow v9 export of the capture goes whole to
    /// nfcapd and to an embedded-store serve, and datagram by datagram in turn to two collectors over a 2-shard
    /// ClickHouse cluster (as a UDP load balancer would: templates reach one collector, data both, so each decodes
    /// with templates the other shared). The cluster holds nfdump's flows; nfdump's listings, and the embedded
    /// store's totals, top-N and filtered aggregates, come out the same from it.
    /// </summary>
    [Fact]
    public void Two_collectors_behind_a_load_balancer_store_on_a_2_shard_cluster_what_nfdump_stores()
    {
        using var cluster = new ClickHouseServers(2);
        var location = cluster.Location("replay");
        var init = FlowlineProcess.RunFlowline(["clickhouse", "init", "--store", location]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        var embeddedDir = Path.Combine(_dir.FullName, "embedded");
        var nfdumpDir = Directory.CreateDirectory(Path.Combine(_dir.FullName, "nfdump")).FullName;
        var nfdumpPort = FreeUdpPort();
        using var embedded = new ServeProcess(embeddedDir);
        using var a = new ServeProcess(Path.Combine(_dir.FullName, "a"), "--store", location);
        using var b = new ServeProcess(Path.Combine(_dir.FullName, "b"), "--store", location);
        using var collector = Process.Start(FlowlineProcess.StartInfo(FlowlineProcess.Tool("nfcapd"),
            "-B", "4194304", "-b", "127.0.0.1", "-p", nfdumpPort.ToString(CultureInfo.InvariantCulture), "-w", nfdumpDir))!;
        try
        {
            using var tee = new UdpTee([embedded.Ports["netflow"], nfdumpPort], [a.Ports["netflow"], b.Ports["netflow"]]);
            ServeProcess.WaitFor(() => ServeProcess.UdpBound(nfdumpPort), $"nfcapd bound to udp/{nfdumpPort}", 30);
            var run = FlowlineProcess.Run(Softflowd(tee.Port, "9"), TimeSpan.FromMinutes(2));
            Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
            tee.WaitUntilDrained();
            ServeProcess.WaitFor(() => Datagrams(embedded, "netflow9") == tee.Forwarded && Datagrams(a, "netflow9") + Datagrams(b, "netflow9") == tee.Forwarded,
                $"{tee.Forwarded} datagrams at the embedded serve and at the two collectors", 60);
            // Every record decoded, none still waiting for a template.
            ServeProcess.WaitFor(() => a.Records("netflow9") + b.Records("netflow9") == embedded.Records("netflow9"),
                $"{embedded.Records("netflow9")} records at the two collectors", 60);
            Assert.Equal(0, ClickHouseScaleOutTests.Metric(a, "flowline_template_pending_bytes") + ClickHouseScaleOutTests.Metric(b, "flowline_template_pending_bytes"));
            Assert.Equal(0, embedded.Terminate());
            Assert.Equal(0, a.Terminate());
            Assert.Equal(0, b.Terminate());
            Process.Start("kill", ["-TERM", collector.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
            Assert.True(collector.WaitForExit(30_000), "nfcapd did not stop");

            var store = new[] { "--store", location };
            var theirs = NfdumpRows(nfdumpDir);
            var ours = FlowlineRows(store);
            Assert.True(theirs.Count > 100, $"nfdump stored {theirs.Count} flows");
            Assert.Equal(theirs.Order(), ours.Order());
            foreach (var args in new[]
                     {
                         new[] { "-o", "extended" }, ["-a", "-o", "long"], ["-b", "-o", "bilong"],
                         ["-B", "-N", "-o", "fmt:%ts %te %td %pr %sap %dap %flg %ipkt %opkt %ibyt %obyt %bps %bpp %fl %in %out %ra"],
                     })
            {
                var ourLines = FlowlineProcess.RunFlowline(["query", .. store, "-q", .. args, "proto tcp or proto udp"]);
                Assert.True(ourLines.ExitCode == 0, ourLines.Stderr);
                Assert.Equal(NfdumpLines(nfdumpDir, args), ourLines.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
            }
            foreach (var args in new[]
                     {
                         new[] { "-A", "proto", "-o", "csv" }, ["-s", "dstport/bytes", "-n", "10"], ["-s", "srcip/flows", "-n", "5", "proto udp"],
                         ["-s", "dstip/packets", "-n", "10", "net 10.0.0.0/8 and not port 53"], ["--bucket", "1m", "-A", "srcip/24,proto", "-o", "csv", "bytes > 500 or flags S"],
                         ["-o", "extended", "-q", "src port > 1024 and packets > 2 and not host fd77::1"],
                     })
            {
                var expected = FlowlineProcess.RunFlowline(["query", "--data-dir", embeddedDir, .. args]);
                var actual = FlowlineProcess.RunFlowline(["query", .. store, "--stats", .. args]);
                Assert.True(expected.ExitCode == 0 && actual.ExitCode == 0, expected.Stderr + actual.Stderr);
                // The whole range, keys of a rollup table, no filter: the per-minute rollups answer those.
                if (args[1] is "proto" or "dstport/bytes") Assert.Contains("1 aggregation(s) from rollup tables", actual.Stderr);
                Assert.True(expected.Stdout.Split('\n').Length > 3, $"{string.Join(' ', args)}: {expected.Stdout}");
                // A listing comes in each store's order (the embedded store's by arrival, the cluster's by shard); aggregates in one order.
                var listing = args.Contains("extended");
                Assert.Equal(ClickHouseScaleOutTests.Lines(expected.Stdout, listing), ClickHouseScaleOutTests.Lines(actual.Stdout, listing));
            }
        }
        finally
        {
            if (!collector.HasExited) collector.Kill();
        }
    }

    private static long Datagrams(ServeProcess serve, string protocol)
    {
        var exporters = System.Text.Json.JsonDocument.Parse(serve.Get("/api/v1/exporters")).RootElement.GetProperty("exporters");
        return exporters.EnumerateArray().Where(e => e.GetProperty("protocol").GetString() == protocol).Sum(e => e.GetProperty("datagrams").GetInt64());
    }

    /// <summary>softflowd reads the whole capture, expires every flow at its end, and exits.</summary>
    private ProcessStartInfo Softflowd(int port, string version) =>
        FlowlineProcess.StartInfo(FlowlineProcess.Tool("softflowd"), "-r", Traffic, "-v", version, "-a", "-d", "-c", "none",
            "-p", Path.Combine(_dir.FullName, "softflowd.pid"), "-n", $"127.0.0.1:{port}");

    /// <summary>pmacctd's sFlow probe, every packet sampled, exiting at the end of the capture.</summary>
    private ProcessStartInfo Pmacctd(int port)
    {
        var config = Path.Combine(_dir.FullName, "pmacctd.conf");
        File.WriteAllText(config, $"""
            daemonize: false
            pidfile: {Path.Combine(_dir.FullName, "pmacctd.pid")}
            pcap_savefile: {Traffic}
            pcap_savefile_wait: false
            plugins: sfprobe[sf]
            sfprobe_receiver[sf]: 127.0.0.1:{port}
            sfprobe_agentip[sf]: 10.77.255.253
            sfprobe_agentsubid[sf]: 5
            sampling_rate: 1

            """);
        return FlowlineProcess.StartInfo(FlowlineProcess.Tool("pmacctd"), "-f", config);
    }

    private readonly record struct Row(string Src, string Dst, int SrcPort, int DstPort, int Proto, long Bytes, long Packets) : IComparable<Row>
    {
        public int CompareTo(Row other) => string.CompareOrdinal(ToString(), other.ToString());
    }

    /// <summary>nfdump prints ICMP type/code in its own way; ports are compared for TCP and UDP only.</summary>
    private static Row MakeRow(string src, string dst, string srcPort, string dstPort, int proto, string bytes, string packets)
    {
        var ports = proto is 6 or 17;
        return new Row(IPAddress.Parse(src.Trim()).ToString(), IPAddress.Parse(dst.Trim()).ToString(),
            ports ? int.Parse(srcPort, CultureInfo.InvariantCulture) : 0, ports ? int.Parse(dstPort, CultureInfo.InvariantCulture) : 0, proto,
            long.Parse(bytes, CultureInfo.InvariantCulture), long.Parse(packets, CultureInfo.InvariantCulture));
    }

    private static List<string> NfdumpLines(string dir, string[] args)
    {
        var r = FlowlineProcess.Run(FlowlineProcess.StartInfo(FlowlineProcess.Tool("nfdump"), ["-R", dir, "-q", .. args, "proto tcp or proto udp"]));
        Assert.True(r.ExitCode == 0, r.Stderr);
        return [.. r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal)];
    }

    private static List<Row> NfdumpRows(string dir)
    {
        var r = FlowlineProcess.Run(FlowlineProcess.StartInfo(FlowlineProcess.Tool("nfdump"), "-R", dir, "-o", "csv", "-N"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Split('\n');
        var header = lines[0].Split(',');
        int Col(string name) => Array.IndexOf(header, name);
        var (sa, da, sp, dp, pr, ibyt, ipkt) = (Col("sa"), Col("da"), Col("sp"), Col("dp"), Col("pr"), Col("ibyt"), Col("ipkt"));
        var rows = new List<Row>();
        foreach (var line in lines.Skip(1))
        {
            if (line.Length == 0 || line.StartsWith("Summary", StringComparison.Ordinal)) break;
            var f = line.Split(',');
            rows.Add(MakeRow(f[sa], f[da], f[sp], f[dp], Protocol(f[pr]), f[ibyt], f[ipkt]));
        }
        return rows;
    }

    private static int Protocol(string name) => name.Trim() switch
    {
        "ICMP" => 1,
        "TCP" => 6,
        "UDP" => 17,
        "ICMP6" => 58,
        var n => int.Parse(n, CultureInfo.InvariantCulture),
    };

    private static List<Row> FlowlineRows(string[] store)
    {
        var r = FlowlineProcess.RunFlowline(["query", .. store, "--fields", "src_addr,dst_addr,src_port,dst_port,ip_proto,bytes,packets", "-o", "csv"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return [.. r.Stdout.Split('\n').Skip(1).Where(l => l.Length > 0).Select(l => l.Split(','))
            .Select(f => MakeRow(f[0], f[1], f[2], f[3], int.Parse(f[4], CultureInfo.InvariantCulture), f[5], f[6]))];
    }

    private static int FreeUdpPort()
    {
        using var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}
