using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Flowline.Records;

namespace Flowline.Ingest;

/// <summary>
/// The one UDP receive loop, used by `serve`, `agent` and `decode --listen`: a socket and a thread that
/// only receives, straight into a bounded <see cref="DatagramRing"/> (in batches where the kernel offers
/// them), stamping each datagram with its sender and the time it arrived. When the ring is full the
/// datagram is dropped and counted, never waited for. One consumer takes the datagrams in order
/// (<see cref="TryTake"/>, <see cref="Release"/>) and sleeps in <see cref="Wait"/> when there are none.
/// </summary>
public sealed class DatagramReceiver : IDisposable
{
    private readonly Socket _socket;
    private readonly DatagramRing _ring;
    private readonly Thread _reader;
    private readonly Action<FlowAddress, ReadOnlySpan<byte>>? _dropped;
    private volatile bool _stopping;
    /// <summary>Set while the consumer sleeps on <see cref="_wake"/>; the reader wakes it only then.</summary>
    private int _parked;
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    private long _received, _queueDrops;
    private volatile bool _queueTouched;

    /// <summary>Whether the queue's memory was made resident (at the first datagram).</summary>
    internal bool QueueTouched => _queueTouched;

    /// <param name="reusePort">SO_REUSEPORT: several receivers on one port, the kernel spreading senders over them.</param>
    /// <param name="dropped">Told of each datagram dropped for a full ring (its sender and bytes), on the reader's thread.</param>
    public DatagramReceiver(IPEndPoint endpoint, int receiveBufferBytes, int queueBytes, int queueDatagrams, bool reusePort = false,
        Action<FlowAddress, ReadOnlySpan<byte>>? dropped = null, string name = "recv")
    {
        _dropped = dropped;
        _ring = new DatagramRing(queueBytes, queueDatagrams);
        _socket = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any)) _socket.DualMode = true;
            if (reusePort) _socket.SetRawSocketOption(1, 15, BitConverter.GetBytes(1)); // SOL_SOCKET, SO_REUSEPORT
            _socket.ReceiveBufferSize = receiveBufferBytes;
            _socket.Bind(endpoint);
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        ReceiveBufferBytes = _socket.ReceiveBufferSize;
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = name };
    }

    /// <summary>
    /// Refuses (<see cref="IOException"/>) a port another socket holds. Receivers bind with
    /// SO_REUSEPORT, which a second collector's sockets would share: the kernel would split the exporters between
    /// the two, and unless they share templates through their store a template could reach one while its data
    /// reaches the other. A plain socket bound first finds any holder, SO_REUSEPORT or not.
    /// </summary>
    public static void CheckFree(IPEndPoint endpoint, string listener)
    {
        if (endpoint.Port == 0) return;
        using var probe = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any)) probe.DualMode = true;
        try
        {
            probe.Bind(endpoint);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new IOException($"{listener}: udp {endpoint} is in use by another process (or by another listener of this one: each needs a port of its own); two collectors on one port would each get part of the datagrams, and only collectors of one ClickHouse store share templates (stop the other, or choose another port)", e);
        }
        catch (SocketException)
        {
            // Not a holder: the listener's own bind says what else is wrong, with its name.
        }
    }

    public IPEndPoint LocalEndPoint { get; }
    /// <summary>What the kernel granted (Linux reports twice the usable size).</summary>
    public int ReceiveBufferBytes { get; }
    public long Received => Interlocked.Read(ref _received);
    public long QueueDrops => Interlocked.Read(ref _queueDrops);
    public long QueueDepth => _ring.Depth;
    public int QueueCapacity => _ring.Capacity;
    /// <summary>How full the queue is, 0 to 1 (<see cref="DatagramRing.Fill"/>).</summary>
    public double QueueFill => _ring.Fill;
    /// <summary>The socket error that ended the reader, if one did.</summary>
    public Exception? Fault { get; private set; }

    /// <summary>True once stopped and every queued datagram was taken.</summary>
    public bool Drained => _stopping && !_reader.IsAlive && _ring.Depth == 0;

    public void Start() => _reader.Start();

    /// <summary>The oldest queued datagram; hand it back with <see cref="Release"/> once done with its bytes.</summary>
    public bool TryTake(out DatagramRing.Entry entry, out ReadOnlyMemory<byte> data) => _ring.TryPeek(out entry, out data);

    public void Release(in DatagramRing.Entry entry) => _ring.Release(entry);

    /// <summary>Sleeps until the reader queues a datagram, <paramref name="timeout"/> passes, or the receiver stops.</summary>
    public void Wait(TimeSpan timeout)
    {
        _wake.Reset();
        Volatile.Write(ref _parked, 1);
        if (_ring.Depth == 0 && !_stopping) _wake.Wait(timeout);
        Volatile.Write(ref _parked, 0);
    }

    /// <summary>Ends a <see cref="Wait"/> early: the decoder has work that did not come through the socket.</summary>
    public void Wake() => _wake.Set();

    /// <summary>Stops receiving; what is queued can still be taken.</summary>
    public void Stop()
    {
        _stopping = true;
        _socket.Dispose();
        _wake.Set();
        // A receiver that fails to start is stopped without its thread ever running.
        if ((_reader.ThreadState & System.Threading.ThreadState.Unstarted) == 0) _reader.Join();
    }

    public void Dispose()
    {
        _socket.Dispose();
        _wake.Dispose();
    }

    /// <summary>
    /// Under load the reader naps for a millisecond whenever it runs dry instead of sleeping until the next
    /// datagram: a few hundred wake-ups a second rather than one per datagram, which on a busy host costs
    /// more than the decoding. After this long without data it waits for the next datagram.
    /// </summary>
    public static readonly TimeSpan NapSpell = TimeSpan.FromMilliseconds(50);

    private void ReadLoop()
    {
        var from = new SocketAddress(_socket.AddressFamily);
        var overflow = new byte[DatagramRing.MaxDatagram];
        using var batch = BatchReceiver.Supported ? new BatchReceiver() : null;
        var blocking = true;
        var dryAt = 0L;
        while (!_stopping)
        {
            try
            {
                if (!blocking)
                {
                    var got = batch is not null ? batch.Receive(_socket) : _socket.Poll(0, SelectMode.SelectRead) ? -1 : 0;
                    if (got > 0)
                    {
                        dryAt = 0;
                        Interlocked.Add(ref _received, got);
                        var now = Collector.NowMicros();
                        for (var k = 0; k < got; k++) Queue(batch!.Data(k), batch.Sender(k), now);
                        if (Volatile.Read(ref _parked) == 1) _wake.Set();
                        continue;
                    }
                    if (got == 0)
                    {
                        if (dryAt == 0) dryAt = Stopwatch.GetTimestamp();
                        if (Stopwatch.GetElapsedTime(dryAt) < NapSpell)
                        {
                            Thread.Sleep(1);
                            continue;
                        }
                        blocking = true; // a quiet spell: the next receive waits for the next datagram
                    }
                }
                // One datagram at a time, straight into the ring (or waiting for the first after a quiet spell).
                long position = 0;
                var space = _queueTouched ? _ring.WriteSpace(out position) : Memory<byte>.Empty;
                var target = space.IsEmpty ? overflow : space;
                var n = _socket.ReceiveFrom(target.Span, SocketFlags.None, from);
                blocking = false;
                dryAt = 0;
                var sender = SenderOf(from);
                Interlocked.Increment(ref _received);
                if (!_queueTouched)
                {
                    // The ring's pages are made resident at the first datagram (those arriving meanwhile wait in
                    // the socket's buffer), not before: a listener that never receives holds none of them.
                    _ring.Prefault();
                    _queueTouched = true;
                    Queue(overflow.AsSpan(0, n), sender, Collector.NowMicros());
                    if (Volatile.Read(ref _parked) == 1) _wake.Set();
                    continue;
                }
                if (space.IsEmpty)
                {
                    Drop(sender, overflow.AsSpan(0, n));
                    continue;
                }
                _ring.Commit(position, n, Collector.NowMicros(), sender);
                if (Volatile.Read(ref _parked) == 1) _wake.Set();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (_stopping) return;
                if (e is SocketException { SocketErrorCode: SocketError.MessageSize or SocketError.ConnectionReset }) continue;
                Fault = e;
                return;
            }
        }
    }

    /// <summary>Copies a datagram received in a batch into the ring, or drops and counts it when the ring is full.</summary>
    private void Queue(ReadOnlySpan<byte> datagram, FlowAddress sender, long now)
    {
        var space = _ring.WriteSpace(out var position);
        if (space.IsEmpty)
        {
            Drop(sender, datagram);
            return;
        }
        datagram.CopyTo(space.Span);
        _ring.Commit(position, datagram.Length, now, sender);
    }

    /// <summary>Full queue: the explicit policy is to drop the newest datagram and count it.</summary>
    private void Drop(FlowAddress sender, ReadOnlySpan<byte> datagram)
    {
        Interlocked.Increment(ref _queueDrops);
        _dropped?.Invoke(sender, datagram);
    }

    private static FlowAddress SenderOf(SocketAddress a)
    {
        var b = a.Buffer.Span;
        if (a.Family == AddressFamily.InterNetworkV6 && b.Length >= 24) return FlowAddress.FromV6(b.Slice(8, 16));
        if (a.Family == AddressFamily.InterNetwork && b.Length >= 8) return FlowAddress.FromV4(b.Slice(4, 4));
        return default;
    }
}
