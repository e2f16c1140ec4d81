using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;

namespace Flowline.Bench;

/// <summary>
/// How many of the same datagrams one core receives from a loopback UDP socket: each iteration first
/// fills the socket's receive buffer, then one thread drains it with Socket.Receive. Needs a large
/// net.core.rmem_max (the benchmark script raises it); an iteration that loses datagrams fails.
/// </summary>
[MemoryDiagnoser]
public class UdpReceiveBenchmarks
{
    public const int Datagrams = 8192;

    [Params("ovs_sflow_s1_h128_p5", "ovs_netflow_v5", "softflowd_v9_A", "ovs_ipfix_s1")]
    public string Capture { get; set; } = "";

    private byte[][] _ring = [];
    private Socket _receiver = null!;
    private Socket _sender = null!;
    private readonly byte[] _buffer = new byte[65536];

    [GlobalSetup]
    public void Setup()
    {
        _ring = Corpus.Ring(Capture, Datagrams);
        _receiver = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 512 << 20 };
        _receiver.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _receiver.ReceiveTimeout = 2000;
        _sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { SendBufferSize = 8 << 20 };
        _sender.Connect(_receiver.LocalEndPoint!);
    }

    [IterationSetup]
    public void Fill()
    {
        foreach (var d in _ring) _sender.Send(d);
    }

    [Benchmark(OperationsPerInvoke = Datagrams)]
    public long Receive()
    {
        long bytes = 0;
        for (var i = 0; i < Datagrams; i++)
        {
            try
            {
                bytes += _receiver.Receive(_buffer);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
            {
                throw new InvalidOperationException(
                    $"only {i} of {Datagrams} datagrams arrived: raise net.core.rmem_max (sysctl -w net.core.rmem_max=1073741824)");
            }
        }
        return bytes;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _receiver.Dispose();
        _sender.Dispose();
    }
}
