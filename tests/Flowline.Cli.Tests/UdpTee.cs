using System.Net;
using System.Net.Sockets;

namespace Flowline.Cli.Tests;

/// <summary>
/// Receives datagrams on a loopback port and sends each, unchanged and in order, to every target: two
/// collectors then see exactly the same export stream from one exporter run (softflowd and pmacctd
/// export to a single destination). Targets taken in turn get one datagram each in rotation, as behind a
/// UDP load balancer.
/// </summary>
public sealed class UdpTee : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Socket _out = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly IPEndPoint[] _targets;
    private readonly IPEndPoint[] _inTurn;
    private readonly Thread _thread;
    private long _forwarded;

    public UdpTee(params int[] targetPorts) : this(targetPorts, []) { }

    public UdpTee(int[] targetPorts, int[] inTurn)
    {
        _targets = [.. targetPorts.Select(p => new IPEndPoint(IPAddress.Loopback, p))];
        _inTurn = [.. inTurn.Select(p => new IPEndPoint(IPAddress.Loopback, p))];
        _socket.ReceiveBufferSize = 8 << 20;
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Port = ((IPEndPoint)_socket.LocalEndPoint!).Port;
        _thread = new Thread(Pump) { IsBackground = true, Name = "udp-tee" };
        _thread.Start();
    }

    public int Port { get; }

    /// <summary>Datagrams received and sent to every target.</summary>
    public long Forwarded => Interlocked.Read(ref _forwarded);

    /// <summary>Returns once everything the exporter sent has been passed on (nothing queued, nothing new for a while).</summary>
    public void WaitUntilDrained()
    {
        var last = -1L;
        while (_socket.Available > 0 || Forwarded != last)
        {
            last = Forwarded;
            Thread.Sleep(300);
        }
    }

    private void Pump()
    {
        var buffer = new byte[65536];
        try
        {
            while (true)
            {
                var n = _socket.Receive(buffer);
                foreach (var t in _targets) _out.SendTo(buffer.AsSpan(0, n), SocketFlags.None, t);
                if (_inTurn.Length > 0) _out.SendTo(buffer.AsSpan(0, n), SocketFlags.None, _inTurn[_forwarded % _inTurn.Length]);
                Interlocked.Increment(ref _forwarded);
                // Paced like a replay (a millisecond apart): a collector with a small socket buffer keeps up with a bursty exporter.
                Thread.Sleep(1);
            }
        }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    public void Dispose()
    {
        _socket.Dispose();
        _out.Dispose();
        _thread.Join();
    }
}
