using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Flowline.Cli.Tests;

/// <summary>`flowline relay --out | flowline relay --to`: every datagram arrives byte for byte, through a real pipe.</summary>
public sealed class RelayTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-relay-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static int FreeUdpPort()
    {
        using var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    [Fact]
    public void Datagrams_cross_a_pipe_as_hex_lines_byte_identical()
    {
        // Real sFlow datagrams, and odd sizes: one byte, and the largest a UDP datagram over IPv4 can be.
        var pcap = Path.Combine(_dir.FullName, "sflow.pcap");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "sflow", "--count", "20000", "--seed", "8", "--pcap", pcap, "-q"]).ExitCode);
        var datagrams = AgentOutageTests.Datagrams(pcap, out _, out _);
        var random = new Random(3);
        foreach (var size in new[] { 1, 2, 65507, 9000, 1400 })
        {
            var d = new byte[size];
            random.NextBytes(d);
            datagrams.Insert(random.Next(datagrams.Count), d);
        }
        Assert.True(datagrams.Count > 500);

        using var receiver = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        receiver.Client.ReceiveBufferSize = 16 << 20;
        var target = ((IPEndPoint)receiver.Client.LocalEndPoint!).Port;
        var listen = FreeUdpPort();
        var flowline = $"dotnet exec {Quote(FlowlineProcess.Dll)}";
        using var pipe = Process.Start(FlowlineProcess.StartInfo(FlowlineProcess.Tool("bash"), "-c",
            $"{flowline} relay --out --listen 127.0.0.1:{listen} | {flowline} relay --to 127.0.0.1:{target}"))!;
        var errors = new StringBuilder();
        pipe.ErrorDataReceived += (_, e) => { lock (errors) errors.AppendLine(e.Data); };
        pipe.BeginErrorReadLine();
        pipe.StandardInput.Close();
        try
        {
            ServeProcess.WaitFor(() =>
            {
                lock (errors) return errors.ToString().Contains("datagrams on udp", StringComparison.Ordinal) && errors.ToString().Contains("hex lines from", StringComparison.Ordinal);
            }, "both relays started", 30);

            var received = new List<byte[]>();
            var from = new IPEndPoint(IPAddress.Any, 0);
            using var sender = new UdpClient();
            sender.Connect(IPAddress.Loopback, listen);
            // In windows of 20, each delivered before the next is sent: a test of the relay, not of socket buffers.
            for (var i = 0; i < datagrams.Count; i += 20)
            {
                var window = datagrams.Skip(i).Take(20).ToList();
                foreach (var d in window) sender.Send(d);
                receiver.Client.ReceiveTimeout = 10_000;
                while (received.Count < i + window.Count) received.Add(receiver.Receive(ref from));
            }
            Assert.Equal(datagrams.Count, received.Count);
            for (var i = 0; i < datagrams.Count; i++) Assert.True(datagrams[i].AsSpan().SequenceEqual(received[i]), $"datagram {i} ({datagrams[i].Length} bytes) differs");
        }
        finally
        {
            if (!pipe.HasExited) pipe.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public void Lines_that_are_not_hex_are_skipped_and_counted()
    {
        using var receiver = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var target = ((IPEndPoint)receiver.Client.LocalEndPoint!).Port;
        var psi = FlowlineProcess.Flowline("relay", "--to", $"127.0.0.1:{target}");
        using var relay = Process.Start(psi)!;
        relay.StandardInput.Write("zz\n0a0b\n123\n\nDEADbeef\n");
        relay.StandardInput.Close();
        var stderr = relay.StandardError.ReadToEnd();
        relay.WaitForExit();
        Assert.Equal(0, relay.ExitCode);
        Assert.Contains("2 datagrams (6 bytes) sent, 2 lines skipped", stderr, StringComparison.Ordinal);
        Assert.Contains("line 1: not a datagram in hex", stderr, StringComparison.Ordinal);
        var from = new IPEndPoint(IPAddress.Any, 0);
        receiver.Client.ReceiveTimeout = 10_000;
        Assert.Equal(new byte[] { 0x0a, 0x0b }, receiver.Receive(ref from));
        Assert.Equal(new byte[] { 0xde, 0xad, 0xbe, 0xef }, receiver.Receive(ref from));

        Assert.Equal(2, FlowlineProcess.RunFlowline(["relay", "--out", "--to", "127.0.0.1:1"]).ExitCode);
        Assert.Equal(2, FlowlineProcess.RunFlowline(["relay", "--to", "nowhere"]).ExitCode);
    }
}
