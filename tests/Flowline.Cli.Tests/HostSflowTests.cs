using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Flowline.Records;
using Flowline.Testing;
using Flowline.Wire.Capture;

namespace Flowline.Cli.Tests;

/// <summary>
/// Host sFlow (hsflowd on hosts, Docker and Kubernetes nodes): `decode` prints every structure, `serve` turns them
/// into /metric values (the host_descr as text metrics) and Prometheus series labelled with host and container names.
/// </summary>
public sealed class HostSflowTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-hostsflow-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Decode_prints_every_host_structure()
    {
        var pcap = Path.Combine(_dir.FullName, "host.pcap");
        using (var file = File.Create(pcap))
        {
            var writer = new PcapWriter(file);
            writer.WriteUdp(1_790_000_000_000_000, FlowAddress.Parse("192.0.2.7"), 40000, FlowAddress.Parse("192.0.2.100"), 6343, HostSflow.Datagram());
        }
        var grep = FlowlineProcess.RunFlowline(["decode", "--pcap", pcap, "--format", "grep"]);
        Assert.True(grep.ExitCode == 0, grep.Stderr);
        foreach (var expected in new[]
                 {
                     "2:1 0:2 0:2000 hostname hv-7.example.net", "2:1 0:2 0:2000 UUID 8f3b2a10-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
                     "2:1 0:2 0:2000 machine_type 3", "2:1 0:2 0:2000 os_name 2", "2:1 0:2 0:2000 os_release 6.1.0-28-amd64",
                     "2:1 0:2 0:2001 adaptor_1_ifIndex 3", "2:1 0:2 0:2001 adaptor_1_MACs 2", "2:1 0:2 0:2001 adaptor_1_MAC_1 02000000000c",
                     "2:1 0:2 0:2005 disk_partition_max_used 81.23", "2:1 0:2 0:2006 nio_bytes_in 5000000000", "2:1 0:2 0:2100 vnode_num_domains 12",
                     "3:7 0:2 0:2000 hostname web-1", "3:7 0:2 0:2002 parent_dsClass 2", "3:7 0:2 0:2101 vcpu_cpu_mS 987654",
                     "3:7 0:2 0:2102 vmem_maxMemory 4294967296", "3:7 0:2 0:2103 vdsk_wr_bytes 14000", "3:7 0:2 0:2104 vnio_drops_out 2",
                 })
        {
            Assert.Contains(" " + expected + "\n", grep.Stdout);
        }
        var json = FlowlineProcess.RunFlowline(["decode", "--pcap", pcap, "--format", "json"]);
        Assert.Contains("\"hostname\":\"web-1\"", json.Stdout.Replace(" ", "", StringComparison.Ordinal));
    }

    [Fact]
    public void A_name_with_line_breaks_stays_on_its_grep_line()
    {
        var pcap = Path.Combine(_dir.FullName, "odd.pcap");
        using (var file = File.Create(pcap))
        {
            var writer = new PcapWriter(file);
            writer.WriteUdp(1_790_000_000_000_000, FlowAddress.Parse("192.0.2.7"), 40000, FlowAddress.Parse("192.0.2.100"), 6343, HostSflow.Datagram(containerName: "web\n1\r\\x\u0001"));
        }
        var grep = FlowlineProcess.RunFlowline(["decode", "--pcap", pcap, "--format", "grep"]);
        Assert.True(grep.ExitCode == 0, grep.Stderr);
        Assert.Contains(" 3:7 0:2 0:2000 hostname web\\x0a1\\x0d\\\\x\\x01\n", grep.Stdout);
        // Every line is one value: the context's seven fields, a name and a value.
        Assert.All(grep.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.True(l.Split(' ').Length >= 9, l));
    }

    [Fact]
    public void Serve_exports_host_metrics_labelled_with_host_and_container()
    {
        using var serve = new ServeProcess(Path.Combine(_dir.FullName, "data"), "--realtime-open-on-loopback", "true");
        using var sender = new UdpClient();
        var to = new IPEndPoint(IPAddress.Loopback, serve.Ports["sflow"]);
        var first = HostSflow.Datagram(sequence: 1, nioBytesIn: 5_000_000_000);
        sender.Send(first, first.Length, to);
        ServeProcess.WaitFor(() => Json(serve, "/metric/ALL/host_name/json")[0]!["metricN"]!.GetValue<int>() == 2, "the two host descriptions", 30);
        // A second sample a moment later: counters become rates.
        Thread.Sleep(1100);
        var second = HostSflow.Datagram(sequence: 2, nioBytesIn: 5_010_000_000);
        sender.Send(second, second.Length, to);
        ServeProcess.WaitFor(() => serve.Get("/metric/ALL/json").Contains("nio_bytes_in", StringComparison.Ordinal), "a network I/O rate", 30);

        var all = Json(serve, "/metric/ALL/json").AsObject();
        Assert.Equal("hv-7.example.net", (string?)all["2.1.host_name"]);
        Assert.Equal("web-1", (string?)all["3.7.host_name"]);
        Assert.Equal("linux", (string?)all["2.1.os_name"]);
        Assert.Equal("x86_64", (string?)all["2.1.machine_type"]);
        Assert.Equal(81.23, (double)all["2.1.disk_partition_max_used"]!, 3);
        Assert.Equal(12, (double)all["2.1.vnode_num_domains"]!);
        Assert.Equal(4UL << 30, (double)all["3.7.vmem_maxmemory"]!);
        Assert.Equal(1.5, (double)all["2.1.load_one"]!);
        var rate = (double)all["2.1.nio_bytes_in"]!;
        Assert.InRange(rate, 10_000_000 / 30.0, 10_000_000 / 1.0); // 10 MB over the time between the two samples

        var prometheus = serve.Get("/prometheus/metrics/ALL/ALL/txt");
        Assert.Contains("sflow_vmem_maxmemory{agent=\"192.0.2.7\",datasource=\"3.7\",host=\"hv-7.example.net\",container=\"web-1\"} 4294967296\n", prometheus);
        Assert.Contains("sflow_vnode_num_domains{agent=\"192.0.2.7\",datasource=\"2.1\",host=\"hv-7.example.net\"} 12\n", prometheus);
        Assert.Contains("sflow_host_info{agent=\"192.0.2.7\",datasource=\"3.7\",host=\"hv-7.example.net\",container=\"web-1\",host_name=\"web-1\"," +
                        "host_uuid=\"00112233-4455-6677-8899-aabbccddeeff\",machine_type=\"x86_64\",os_name=\"linux\",os_release=\"\"} 1\n", prometheus);
        Assert.Contains("sflow_load_one{agent=\"192.0.2.7\",datasource=\"2.1\",host=\"hv-7.example.net\"} 1.5\n", prometheus);
    }

    [Fact]
    public void An_agents_nan_or_infinity_is_an_unknown_value_not_a_broken_page()
    {
        using var serve = new ServeProcess(Path.Combine(_dir.FullName, "data"), "--realtime-open-on-loopback", "true");
        using var sender = new UdpClient();
        var to = new IPEndPoint(IPAddress.Loopback, serve.Ports["sflow"]);
        var first = HostSflow.Datagram(sequence: 1);
        sender.Send(first, first.Length, to);
        ServeProcess.WaitFor(() => serve.Get("/metric/ALL/json").Contains("2.1.load_one", StringComparison.Ordinal), "the load", 30);
        foreach (var (sequence, load) in new[] { (2u, float.NaN), (4u, float.PositiveInfinity) })
        {
            var bad = HostSflow.Datagram(sequence: sequence, loadOne: load);
            sender.Send(bad, bad.Length, to);
            ServeProcess.WaitFor(() => !serve.Get("/metric/ALL/json").Contains("2.1.load_one", StringComparison.Ordinal), $"the load of sample {sequence} taken as unknown", 30);
            // Every page that lists values still answers, with the agent's other values.
            Assert.Equal("hv-7.example.net", (string?)Json(serve, "/metric/ALL/json")["2.1.host_name"]);
            Assert.Equal(0, Json(serve, "/metric/ALL/load_one/json")[0]!["metricN"]!.GetValue<int>());
            Assert.NotEmpty(Json(serve, "/dump/ALL/ALL/json").AsArray());
            Assert.DoesNotContain("load_one", serve.Get("/prometheus/metrics/ALL/ALL/txt"), StringComparison.Ordinal);
            var good = HostSflow.Datagram(sequence: sequence + 1);
            sender.Send(good, good.Length, to);
            ServeProcess.WaitFor(() => serve.Get("/metric/ALL/json").Contains("2.1.load_one", StringComparison.Ordinal), "the load back", 30);
        }
    }

    [Fact]
    public void Serve_names_open_vswitch_ports_by_what_the_bridge_reports()
    {
        // The shared capture of a real bridge: every interface sample carries port_name and of_port, the bridge's
        // own process app_resources.
        var datagrams = new List<byte[]>();
        using (var reader = CaptureReader.Open(Path.Combine(Wire.Tests.TestCorpus.CapturesDirectory, "ovs_sflow_s1_h128_p5.pcap")))
        {
            while (reader.TryRead(out var d)) datagrams.Add(d.Payload.ToArray());
        }
        using var serve = new ServeProcess(Path.Combine(_dir.FullName, "data"), "--realtime-open-on-loopback", "true");
        AgentFlowLogTests.Replay(datagrams, serve.Ports["sflow"]);
        ServeProcess.WaitFor(() => Json(serve, "/metric/ALL/ifname/json")[0]!["metricN"]!.GetValue<int>() == 5, "the five ports' names", 30);

        var all = Json(serve, "/metric/ALL/json").AsObject();
        Assert.Equal(["cwbr", "cwa-p", "cwb-p", "cwc-p", "cwt0"], new[] { 3, 69, 71, 73, 78 }.Select(i => (string?)all[$"{i}.ifname"]));
        Assert.Equal("00000000000000c1", (string?)all["69.of_dpid"]);
        Assert.Equal(1, (double)all["69.of_port"]!);
        Assert.Equal(65534, (double)all["3.of_port"]!);
        Assert.Contains(all, kv => kv.Key.EndsWith(".app_memory_used", StringComparison.Ordinal));

        // Prometheus labels an interface's series with its name: nothing in an inventory needed.
        var prometheus = serve.Get("/prometheus/metrics/ALL/ifspeed/txt");
        Assert.Matches("sflow_ifspeed\\{agent=\"10\\.77\\.255\\.254\",datasource=\"69\",ifname=\"cwa-p\"\\} ", prometheus);
        Assert.DoesNotContain("sflow_host_info", serve.Get("/prometheus/metrics/ALL/ALL/txt"), StringComparison.Ordinal);
    }

    private static JsonNode Json(ServeProcess serve, string path) => JsonNode.Parse(serve.Get(path))!;
}
