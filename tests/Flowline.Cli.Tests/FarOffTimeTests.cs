using System.Net;
using System.Net.Sockets;
using Flowline.Records;
using Flowline.Testing;
using Flowline.Wire.Capture;

namespace Flowline.Cli.Tests;

/// <summary>
/// A well-formed IPFIX record whose times lie beyond the calendar (flowStart/EndMilliseconds in the year 10000)
/// once brought `serve` and `import` down where the store named its partition. It is stored at the calendar's
/// last instant, and everything around it is stored as well.
/// </summary>
public sealed class FarOffTimeTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-faroff-");

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>A template (sourceIPv4Address, destinationIPv4Address, octetDeltaCount, flowStart/EndMilliseconds) and one record of it.</summary>
    private static byte[] Datagram(string startMillisHex) => Convert.FromHexString(
        "000a0050692481000000000100000001" +
        "0002001c01000005" + "00080004" + "000c0004" + "00010008" + "00980008" + "00990008" +
        "01000024" + "0a010101" + "0a020202" + "00000000000003e8" + startMillisHex + startMillisHex);

    [Fact]
    public void Import_stores_it_at_the_end_of_the_calendar()
    {
        var pcap = Path.Combine(_dir.FullName, "faroff.pcap");
        using (var file = File.Create(pcap))
        {
            var writer = new PcapWriter(file);
            writer.WriteUdp(1_790_000_000_000_000, FlowAddress.Parse("192.0.2.7"), 40000, FlowAddress.Parse("192.0.2.100"), 4739, Datagram("0000e677d21fdc00"));
            writer.WriteUdp(1_790_000_000_000_000, FlowAddress.Parse("192.0.2.7"), 40000, FlowAddress.Parse("192.0.2.100"), 4739, Datagram("ffffffffffffffff"));
        }
        var data = Path.Combine(_dir.FullName, "data");
        var import = FlowlineProcess.RunFlowline(["import", "--pcap", pcap, "--data-dir", data]);
        Assert.True(import.ExitCode == 0, import.Stderr);
        var query = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-o", "csv", "--fields", "start,end,src_addr,bytes"]);
        Assert.True(query.ExitCode == 0, query.Stderr);
        var rows = query.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
        Assert.Equal(2, rows.Count);
        Assert.All(rows, r => Assert.StartsWith("9999-12-31T23:59:59.999999Z,9999-12-31T23:59:59.999999Z,10.1.1.1,1000", r));
    }

    [Fact]
    public void Serve_keeps_running_and_stores_what_comes_around_it()
    {
        var data = Path.Combine(_dir.FullName, "data");
        using var serve = new ServeProcess(data);
        using var sender = new UdpClient();
        var to = new IPEndPoint(IPAddress.Loopback, serve.Ports["ipfix"]);
        var gen = FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", "2000", "--rate", "20000", "--seed", "3", "--target", $"udp://127.0.0.1:{serve.Ports["ipfix"]}"]);
        Assert.True(gen.ExitCode == 0, gen.Stderr);
        var far = Datagram("0000e677d21fdc00");
        sender.Send(far, far.Length, to);
        ServeProcess.WaitFor(() => serve.Records("ipfix") == 2001, "2,001 IPFIX records decoded", 60);
        Assert.Equal(0, serve.Terminate());
        var query = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-o", "csv", "--fields", "start,bytes"]);
        Assert.True(query.ExitCode == 0, query.Stderr);
        var rows = query.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
        Assert.Equal(2001, rows.Count);
        Assert.Single(rows, r => r.StartsWith("9999-12-31T23:59:59.999999Z,", StringComparison.Ordinal));
    }
}
