using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Flowline.Cli.Tests;

public sealed class GenCommandTests
{
    [Theory]
    [InlineData("sflow")]
    [InlineData("netflow5")]
    [InlineData("netflow9")]
    [InlineData("ipfix")]
    public void Generated_pcap_decodes_to_exactly_the_requested_flows(string protocol)
    {
        var path = Path.Combine(Path.GetTempPath(), $"flowline-gen-{protocol}-{Guid.NewGuid():N}.pcap");
        try
        {
            var gen = FlowlineProcess.RunFlowline(["gen", "--protocol", protocol, "--count", "20000", "--pcap", path, "--seed", "11"]);
            Assert.True(gen.ExitCode == 0, gen.Stderr);
            Assert.Contains("20,000 flows", gen.Stderr);
            var decode = FlowlineProcess.RunFlowline(["decode", "--pcap", path, "--no-header"]);
            Assert.Equal(0, decode.ExitCode);
            Assert.Equal(20000, decode.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            Assert.Contains("malformed 0", decode.Stderr);
            var again = Path.ChangeExtension(path, ".again.pcap");
            FlowlineProcess.RunFlowline(["gen", "--protocol", protocol, "--count", "20000", "--pcap", again, "--seed", "11", "-q"]);
            Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(again));
            File.Delete(again);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void NetFlow_v5_sequences_count_flows_and_no_flow_starts_before_the_exporter_booted_or_ends_after_its_export()
    {
        var path = Path.Combine(Path.GetTempPath(), $"flowline-gen-v5-{Guid.NewGuid():N}.pcap");
        try
        {
            var gen = FlowlineProcess.RunFlowline(["gen", "--protocol", "netflow5", "--count", "5000", "--rate", "200", "--pcap", path, "-q"]);
            Assert.True(gen.ExitCode == 0, gen.Stderr);
            using var capture = Wire.Capture.CaptureReader.Open(path);
            uint expectedSequence = 0, lastUptime = 0;
            long lastExport = 0, flows = 0;
            while (capture.TryRead(out var d))
            {
                var p = d.Payload;
                var count = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(p[2..]);
                var uptime = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(p[4..]);
                var export = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(p[8..]) * 1_000_000L + System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(p[12..]) / 1000;
                Assert.Equal(expectedSequence, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(p[16..]));
                expectedSequence += count;
                // The exporter's two clocks go forward together.
                Assert.True(uptime >= lastUptime && export >= lastExport, $"datagram {flows}: uptime {uptime} after {lastUptime}, export {export} after {lastExport}");
                Assert.InRange(export - lastExport - (uptime - lastUptime) * 1000L, lastExport == 0 ? long.MinValue : -1000, lastExport == 0 ? long.MaxValue : 1000);
                (lastUptime, lastExport) = (uptime, export);
                for (var r = 0; r < count; r++)
                {
                    var record = p[(24 + 48 * r)..];
                    var first = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(record[24..]);
                    var last = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(record[28..]);
                    Assert.True(first <= last && last <= uptime, $"record {flows + r}: first {first}, last {last}, sysUptime {uptime}");
                }
                flows += count;
            }
            Assert.Equal(5000, flows);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Sends_to_a_udp_collector_at_a_rate()
    {
        int port;
        using (var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0))) port = ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
        // The generator is deterministic, so the number of datagrams 2000 flows take is known in advance.
        var generator = new Wire.Generation.DatagramGenerator(Records.FlowProtocol.Ipfix, new Wire.Generation.TrafficGenerator(1, flowsPerSecond: 20000));
        var buffer = new byte[65536];
        while (generator.Flows < 2000) generator.Next(buffer, 2000 - (int)generator.Flows, out _);
        var datagrams = generator.Datagrams.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var decode = Process.Start(FlowlineProcess.Flowline("decode", "--listen", $"udp://127.0.0.1:{port}", "--seconds", "120", "--count", datagrams, "--no-header"))!;
        var output = decode.StandardOutput.ReadToEndAsync();
        Assert.Contains("listening", await decode.StandardError.ReadLineAsync());
        var gen = FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", "2000", "--rate", "20000", "--target", $"udp://localhost:{port}"]);
        Assert.True(gen.ExitCode == 0, gen.Stderr);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await decode.WaitForExitAsync(timeout.Token);
        Assert.Equal(0, decode.ExitCode);
        Assert.Equal(2000, (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Theory]
    [InlineData("--count", "10")]
    [InlineData("--protocol", "sflow", "--count", "10")]
    [InlineData("--protocol", "nf5", "--count", "10", "--pcap", "x")]
    [InlineData("--protocol", "sflow", "--count", "0", "--pcap", "x")]
    [InlineData("--protocol", "sflow", "--count", "10", "--target", "udp://nowhere")]
    [InlineData("--protocol", "netflow5", "--count", "10", "--pcap", "x", "--sampling", "16384")]
    [InlineData("--protocol", "netflow9", "--count", "2", "--pcap", "x", "--start", "2106-02-07T06:28:16Z")]
    [InlineData("--protocol", "netflow5", "--count", "2", "--pcap", "x", "--start", "1900-01-01T00:00:00Z")]
    public void Usage_errors_exit_2(params string[] args)
    {
        var r = FlowlineProcess.RunFlowline(["gen", .. args]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("flowline gen: ", r.Stderr);
    }
}
