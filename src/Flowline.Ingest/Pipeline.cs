using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Flowline.Wire;
using Flowline.Records;

namespace Flowline.Ingest;

/// <summary>
/// One socket of a listener: a <see cref="DatagramReceiver"/> whose thread only receives (dropping and
/// counting when its queue is full), and a decoder thread that decodes, tracks exporter state and hands
/// batches to the store. The two never wait for each other.
/// </summary>
internal sealed class Pipeline : IDisposable
{
    private readonly DatagramReceiver _receiver;
    private readonly Collector _collector;
    private readonly Thread _decoder;
    private volatile bool _stopping;
    private long _decoded;
    /// <summary>Datagrams with records; every 64th has a row probed for the keys it carries (/flowkeys/json).</summary>
    private int _probed;
    /// <summary>When held data sets were last checked for age (<see cref="ExpireHeld"/>).</summary>
    private long _expiredAt = Stopwatch.GetTimestamp();
    /// <summary>The listener's protocol as <see cref="Forwarding.Forward"/> numbers it.</summary>
    private readonly int _protocol;

    public Pipeline(Collector collector, string listener, int index, IPEndPoint endpoint, CollectorOptions options)
    {
        _collector = collector;
        Listener = listener;
        _protocol = listener switch { "sflow" => 0, "netflow" => 1, _ => 2 };
        Index = index;
        Decoder = new FlowDecoder();
        _receiver = new DatagramReceiver(endpoint, options.ReceiveBufferBytes, options.QueueBytes, options.QueueDatagrams, reusePort: true,
            dropped: collector.CountQueueDrop, name: $"recv {listener}/{index}");
        _decoder = new Thread(DecodeLoop) { IsBackground = true, Name = $"decode {listener}/{index}" };
    }

    public string Listener { get; }
    public int Index { get; }
    public IPEndPoint LocalEndPoint => _receiver.LocalEndPoint;
    /// <summary>What the kernel granted (Linux reports twice the usable size).</summary>
    public int ReceiveBufferBytes => _receiver.ReceiveBufferBytes;
    public FlowDecoder Decoder { get; }
    /// <summary>Template documents other collectors of the store published, for this decoder to adopt on its thread.</summary>
    internal System.Collections.Concurrent.ConcurrentQueue<string> SharedTemplates { get; } = new();

    /// <summary>Hands the decoder templates the store's other collectors published (on the upkeep thread).</summary>
    internal void ShareTemplates(string json)
    {
        SharedTemplates.Enqueue(json);
        _receiver.Wake();
    }
    public long Received => _receiver.Received;
    public long QueueDrops => _receiver.QueueDrops;
    public long Decoded => Interlocked.Read(ref _decoded);
    public long QueueDepth => _receiver.QueueDepth;
    public int QueueCapacity => _receiver.QueueCapacity;
    public double LastBatchSeconds { get; private set; }
    public Exception? Fault => _receiver.Fault;

    public void Start()
    {
        _decoder.Start();
        _receiver.Start();
    }

    /// <summary>Stops receiving; the decoder then drains what is queued and returns.</summary>
    public void Stop()
    {
        _stopping = true;
        _receiver.Stop();
        // A collector that fails to start (its HTTP listener, say) is disposed without its threads ever running.
        if ((_decoder.ThreadState & System.Threading.ThreadState.Unstarted) == 0) _decoder.Join();
    }

    public void Dispose() => _receiver.Dispose();

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
            if (_receiver.TryTake(out var entry, out var data))
            {
                dryAt = 0;
                // Templates from the store's other collectors first: this datagram may need them.
                if (!SharedTemplates.IsEmpty) _collector.AdoptSharedTemplates(this, ref sink);
                if (_collector.Admission.Admit(entry.Exporter, data.Span)) Decode(entry, data.Span, ref sink);
                _receiver.Release(entry);
                Interlocked.Increment(ref _decoded);
                if (sink.Batch.Count >= handOver)
                {
                    Append(ref sink);
                    lastAppend = Stopwatch.GetTimestamp();
                }
                continue;
            }
            // Templates shared while the socket is quiet: sets held for them are decoded now, not at the next datagram.
            if (!SharedTemplates.IsEmpty) _collector.AdoptSharedTemplates(this, ref sink);
            if (sink.Batch.Count > 0 && Stopwatch.GetElapsedTime(lastAppend) >= _collector.Options.BatchInterval)
            {
                Append(ref sink);
                lastAppend = Stopwatch.GetTimestamp();
            }
            if (_stopping && _receiver.Drained) break;
            if (dryAt == 0)
            {
                // The queue ran dry: what was decoded goes to the flow definitions now, not a batch interval later.
                if (sink.Batch.Count > _realtimeFrom) OfferRealtime(sink.Batch);
                dryAt = Stopwatch.GetTimestamp();
                _collector.MaybeSaveTemplates(this); // new templates are saved as soon as the queue runs dry
            }
            if (Stopwatch.GetElapsedTime(dryAt) < DatagramReceiver.NapSpell)
            {
                Thread.Sleep(1);
                continue;
            }
            // Idle: sleep until the reader queues something (or the batch interval comes round for a partial
            // batch, or a second has passed while templates wait to be saved, or a minute while data sets are held).
            var unsaved = _collector.MaybeSaveTemplates(this);
            ExpireHeld();
            // Held data sets age on a quiet socket too: woken once a minute while there are any.
            _receiver.Wait(sink.Batch.Count > 0 ? _collector.Options.BatchInterval : unsaved ? TimeSpan.FromSeconds(1)
                : Decoder.Templates.PendingBytesTotal > 0 ? TimeSpan.FromMinutes(1) : Timeout.InfiniteTimeSpan);
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
        ExpireHeld();
        OfferRealtime(sink.Batch);
        _realtimeFrom = 0;
        var start = Stopwatch.GetTimestamp();
        _collector.Sessions?.Add(Index, sink.Batch, _receiver.QueueFill);
        sink.Batch = _collector.Append(sink.Batch, sink.Records);
        sink.Records = 0;
        LastBatchSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    /// <summary>Once a minute, on this thread (the cache is the decoder's alone): held sets whose template never came are dropped.</summary>
    private void ExpireHeld()
    {
        if (Stopwatch.GetElapsedTime(_expiredAt) < TimeSpan.FromMinutes(1)) return;
        _expiredAt = Stopwatch.GetTimestamp();
        if (Decoder.Templates.PendingBytesTotal > 0) Decoder.Templates.ExpireHeld(Collector.NowMicros());
    }

    private void Decode(in DatagramRing.Entry entry, ReadOnlySpan<byte> datagram, ref CollectorSink sink)
    {
        var stats = Decoder.Stats;
        var dataBefore = stats.DataRecords;
        var pendingBefore = stats.PendingSets + stats.PendingDecoded;
        var recordsBefore = sink.Records;
        sink.BeginDatagram();
        var rowsBefore = sink.Batch.Count;
        var result = Decoder.Decode(datagram, entry.Exporter, entry.TimeReceived, ref sink);
        // Only what decoded is copied on: a forwarding session must not carry junk anyone can send to our port.
        if (result.IsOk) _collector.Forwarding.Forward(datagram, _protocol, entry.Exporter);
        if (sink.Batch.Count > rowsBefore)
        {
            if (sink.Batch.Count - _realtimeFrom >= RealtimeChunk) OfferRealtime(sink.Batch);
            if ((++_probed & 63) == 0) _collector.Realtime.Probe(sink.Batch, rowsBefore);
        }
        var exporter = sink.Current ?? _collector.Exporter(Collector.IdOf(entry.Exporter, datagram), entry.Exporter);
        exporter.Seen(datagram.Length, entry.TimeReceived, sink.Records - recordsBefore);
        if (!result.IsOk) exporter.AddMalformed(result.Error);
        // A datagram whose header decoded counts in the sequence even when what follows did not: it arrived, and
        // is counted as malformed, not also as lost.
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
                var known = result.IsOk && stats.PendingSets + stats.PendingDecoded == pendingBefore;
                exporter.Sequence(h.Sequence, known ? (uint)(stats.DataRecords - dataBefore) : null);
                break;
            }
        }
    }
}
