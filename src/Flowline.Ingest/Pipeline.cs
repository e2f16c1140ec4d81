using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Flowline.Wire;
using Flowline.Records;

namespace Flowline.Ingest;

/// <summary>
/// One socket of a listener: a reader thread that only receives into a <see cref="DatagramRing"/>
/// (dropping and counting when it is full), and a decoder thread that decodes, tracks exporter state
/// and hands batches to the store. The two never wait for each other.
/// </summary>
internal sealed class Pipeline : IDisposable
{
    private readonly Socket _socket;
    private readonly DatagramRing _ring;
    private readonly Collector _collector;
    private readonly Thread _reader, _decoder;
    private volatile bool _stopping;
    /// <summary>Set while the decoder sleeps on <see cref="_wake"/>; the reader wakes it only then.</summary>
    private int _parked;
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    private long _received, _queueDrops, _decoded;
    /// <summary>Datagrams with records; every 64th has a row probed for the keys it carries (/flowkeys/json).</summary>
    private int _probed;
    /// <summary>The listener's protocol as <see cref="Forwarding.Forward"/> numbers it.</summary>
    private readonly int _protocol;

    public Pipeline(Collector collector, string listener, int index, IPEndPoint endpoint, CollectorOptions options)
    {
        _collector = collector;
        Listener = listener;
        _protocol = listener switch { "sflow" => 0, "netflow" => 1, _ => 2 };
        Index = index;
        Decoder = new FlowDecoder();
        _ring = new DatagramRing(options.QueueBytes, options.QueueDatagrams);
        _socket = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any)) _socket.DualMode = true;
            // SO_REUSEPORT: several sockets on one port, the kernel spreading exporters over them.
            _socket.SetRawSocketOption(1, 15, BitConverter.GetBytes(1));
            _socket.ReceiveBufferSize = options.ReceiveBufferBytes;
            _socket.Bind(endpoint);
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        ReceiveBufferBytes = _socket.ReceiveBufferSize;
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = $"recv {listener}/{index}" };
        _decoder = new Thread(DecodeLoop) { IsBackground = true, Name = $"decode {listener}/{index}" };
    }

    public string Listener { get; }
    public int Index { get; }
    public IPEndPoint LocalEndPoint { get; }
    /// <summary>What the kernel granted (Linux reports twice the usable size).</summary>
    public int ReceiveBufferBytes { get; }
    public FlowDecoder Decoder { get; }
    public long Received => Interlocked.Read(ref _received);
    public long QueueDrops => Interlocked.Read(ref _queueDrops);
    public long Decoded => Interlocked.Read(ref _decoded);
    public long QueueDepth => _ring.Depth;
    public int QueueCapacity => _ring.Capacity;
    public double LastBatchSeconds { get; private set; }
    public Exception? Fault { get; private set; }

    public void Start()
    {
        _decoder.Start();
        _reader.Start();
    }

    /// <summary>Stops receiving; the decoder then drains what is queued and returns.</summary>
    public void Stop()
    {
        _stopping = true;
        _socket.Dispose();
        _wake.Set();
        // A collector that fails to start (its HTTP listener, say) is disposed without its threads ever running.
        if ((_reader.ThreadState & System.Threading.ThreadState.Unstarted) == 0) _reader.Join();
        if ((_decoder.ThreadState & System.Threading.ThreadState.Unstarted) == 0) _decoder.Join();
    }

    public void Dispose()
    {
        _socket.Dispose();
        _wake.Dispose();
    }

    /// <summary>
    /// Under load both threads nap for a millisecond whenever they run dry instead of sleeping until the
    /// next datagram: a few hundred wake-ups a second rather than one per datagram, which on a busy host
    /// costs more than the decoding. After this long without data they sleep until woken.
    /// </summary>
    private static readonly TimeSpan NapSpell = TimeSpan.FromMilliseconds(50);

    private void ReadLoop()
    {
        var from = new SocketAddress(_socket.AddressFamily);
        var overflow = new byte[DatagramRing.MaxDatagram];
        using var batch = BatchReceiver.Supported ? new BatchReceiver() : null;
        _ring.Prefault(); // datagrams arriving meanwhile wait in the socket's buffer
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
                var space = _ring.WriteSpace(out var position);
                var target = space.IsEmpty ? overflow : space;
                var n = _socket.ReceiveFrom(target.Span, SocketFlags.None, from);
                blocking = false;
                dryAt = 0;
                var exporter = ExporterAddress(from);
                Interlocked.Increment(ref _received);
                if (space.IsEmpty)
                {
                    CountQueueDrop(exporter, overflow.AsSpan(0, n));
                    continue;
                }
                _ring.Commit(position, n, Collector.NowMicros(), exporter);
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
    private void Queue(ReadOnlySpan<byte> datagram, FlowAddress exporter, long now)
    {
        var space = _ring.WriteSpace(out var position);
        if (space.IsEmpty)
        {
            CountQueueDrop(exporter, datagram);
            return;
        }
        datagram.CopyTo(space.Span);
        _ring.Commit(position, datagram.Length, now, exporter);
    }

    /// <summary>Full queue: the explicit policy is to drop the newest datagram and count it.</summary>
    private void CountQueueDrop(FlowAddress exporter, ReadOnlySpan<byte> datagram)
    {
        Interlocked.Increment(ref _queueDrops);
        _collector.CountQueueDrop(exporter, datagram);
    }

    private static FlowAddress ExporterAddress(SocketAddress a)
    {
        var b = a.Buffer.Span;
        if (a.Family == AddressFamily.InterNetworkV6 && b.Length >= 24) return FlowAddress.FromV6(b.Slice(8, 16));
        if (a.Family == AddressFamily.InterNetwork && b.Length >= 8) return FlowAddress.FromV4(b.Slice(4, 4));
        return default;
    }

    private void DecodeLoop()
    {
        var first = new FlowBatch(Math.Max(1024, _collector.Options.BatchRows));
        first.Prefault();
        var sink = new CollectorSink(_collector, first);
        var lastAppend = Stopwatch.GetTimestamp();
        var dryAt = 0L;
        // A datagram's records all go into the batch, so the batch is handed over a sixteenth short of
        // batch_rows: a full batch then stays within one store block, which the store adopts without copying.
        var handOver = Math.Max(1, _collector.Options.BatchRows - _collector.Options.BatchRows / 16);
        while (true)
        {
            if (_ring.TryPeek(out var entry, out var data))
            {
                dryAt = 0;
                Decode(entry, data.Span, ref sink);
                _ring.Release(entry);
                Interlocked.Increment(ref _decoded);
                if (sink.Batch.Count >= handOver)
                {
                    Append(ref sink);
                    lastAppend = Stopwatch.GetTimestamp();
                }
                continue;
            }
            if (sink.Batch.Count > 0 && Stopwatch.GetElapsedTime(lastAppend) >= _collector.Options.BatchInterval)
            {
                Append(ref sink);
                lastAppend = Stopwatch.GetTimestamp();
            }
            if (_stopping && !_reader.IsAlive && _ring.Depth == 0) break;
            if (dryAt == 0)
            {
                // The queue ran dry: what was decoded goes to the flow definitions now, not a batch interval later.
                if (sink.Batch.Count > _realtimeFrom) OfferRealtime(sink.Batch);
                dryAt = Stopwatch.GetTimestamp();
                _collector.MaybeSaveTemplates(this); // new templates are saved as soon as the queue runs dry
            }
            if (Stopwatch.GetElapsedTime(dryAt) < NapSpell)
            {
                Thread.Sleep(1);
                continue;
            }
            // Idle: sleep until the reader queues something (or the batch interval comes round for a partial batch).
            _wake.Reset();
            Volatile.Write(ref _parked, 1);
            if (_ring.Depth == 0 && !_stopping) _wake.Wait(sink.Batch.Count > 0 ? _collector.Options.BatchInterval : Timeout.InfiniteTimeSpan);
            Volatile.Write(ref _parked, 0);
        }
        if (sink.Batch.Count > 0) Append(ref sink);
        _collector.SaveTemplates(this);
    }

    /// <summary>Rows handed to the flow definitions at a time (fewer when the queue runs dry or the batch is stored).</summary>
    private const int RealtimeChunk = 512;
    /// <summary>The first row of the batch not yet handed to the flow definitions.</summary>
    private int _realtimeFrom;

    /// <summary>Hands the batch's new rows to the flow definitions' thread (when there are definitions).</summary>
    private void OfferRealtime(FlowBatch batch)
    {
        if (_collector.Realtime.Active) _collector.RealtimeFeed.Offer(batch, _realtimeFrom, batch.Count);
        _realtimeFrom = batch.Count;
    }

    private void Append(ref CollectorSink sink)
    {
        OfferRealtime(sink.Batch);
        _realtimeFrom = 0;
        var start = Stopwatch.GetTimestamp();
        _collector.Sessions?.Add(Index, sink.Batch);
        sink.Batch = _collector.Append(sink.Batch, sink.Records);
        sink.Records = 0;
        LastBatchSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private void Decode(in DatagramRing.Entry entry, ReadOnlySpan<byte> datagram, ref CollectorSink sink)
    {
        _collector.Forwarding.Forward(datagram, _protocol, entry.Exporter);
        var stats = Decoder.Stats;
        var dataBefore = stats.DataRecords;
        var pendingBefore = stats.PendingSets + stats.PendingDecoded;
        var recordsBefore = sink.Records;
        sink.BeginDatagram(entry.Exporter);
        var rowsBefore = sink.Batch.Count;
        var result = Decoder.Decode(datagram, entry.Exporter, entry.TimeReceived, ref sink);
        if (sink.Batch.Count > rowsBefore)
        {
            if (sink.Batch.Count - _realtimeFrom >= RealtimeChunk) OfferRealtime(sink.Batch);
            if ((++_probed & 63) == 0) _collector.Realtime.Probe(sink.Batch, rowsBefore);
        }
        var exporter = sink.Current ?? _collector.Exporter(Collector.IdOf(entry.Exporter, datagram));
        exporter.Seen(datagram.Length, entry.TimeReceived, sink.Records - recordsBefore);
        if (!result.IsOk)
        {
            exporter.AddMalformed(result.Error);
            return;
        }
        if (sink.Current is null) return;
        var h = sink.Header;
        switch (h.Protocol)
        {
            case FlowProtocol.SFlow5:
            case FlowProtocol.NetFlow9:
                exporter.Sequence(h.Sequence, 1);
                break;
            case FlowProtocol.NetFlow5:
                exporter.Sequence(h.Sequence, h.Count);
                break;
            case FlowProtocol.Ipfix:
            {
                // Sequence numbers count data records; unknown while some wait for their template.
                var known = stats.PendingSets + stats.PendingDecoded == pendingBefore;
                exporter.Sequence(h.Sequence, known ? (uint)(stats.DataRecords - dataBefore) : null);
                break;
            }
        }
    }
}
