using Flowline.Storage.Segments;
using Flowline.Wire.Records;

namespace Flowline.Storage.Embedded;

/// <summary>Appends into per-partition buffers and group commits of those buffers as new segments.</summary>
public sealed partial class EmbeddedStore
{
    /// <summary>Rows appended but not yet written by a group commit.</summary>
    public int BufferedRows
    {
        get { lock (_lock) return _buffered; }
    }

    public void Append(FlowBatch batch)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_options.ReadOnly) throw new InvalidOperationException("the store was opened read-only");
        bool commit;
        lock (_lock)
        {
            // Commits run beside appends; when they fall far behind, wait rather than grow without bound,
            // unless they are failing (a full disk): then the caller hears of it and decides.
            while (_buffered >= BackpressureFactor * _options.MaxBufferedRows && !_disposed)
            {
                if (_commitError is { } failing) throw new IOException($"commits are failing: {failing.Message}", failing);
                Monitor.Wait(_lock, 100);
            }
            // Rows usually arrive in time order: copy each run of one partition column by column.
            var runStart = 0;
            while (runStart < batch.Count)
            {
                var partition = PartitionOf(batch.Start[runStart]);
                var runEnd = runStart + 1;
                while (runEnd < batch.Count && PartitionOf(batch.Start[runEnd]) == partition) runEnd++;
                if (!_buffers.TryGetValue(partition, out var buffer))
                {
                    buffer = _spare.Count > 0 ? _spare.Pop() : new FlowBatch(1024);
                    _buffers.Add(partition, buffer);
                }
                buffer.AppendRange(batch, runStart, runEnd - runStart);
                runStart = runEnd;
            }
            _buffered += batch.Count;
            commit = _buffered >= _options.MaxBufferedRows;
        }
        // A full buffer is committed on another thread: the caller (a decoder) goes on.
        if (commit && Interlocked.Exchange(ref _commitQueued, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(_ =>
            {
                Volatile.Write(ref _commitQueued, 0);
                TimedFlush();
            }, null);
        }
    }

    private const int BackpressureFactor = 4;
    /// <summary>The last group commit's failure, until a commit succeeds (under <see cref="_lock"/>).</summary>
    private IOException? _commitError;
    /// <summary>Written buffers kept for reuse (under <see cref="_lock"/>): no fresh, zeroed memory at every commit.</summary>
    private readonly Stack<FlowBatch> _spare = new();
    private const int SpareBuffers = 4;
    private readonly object _writeLock = new();
    private int _commitQueued;

    private void TimedFlush()
    {
        try
        {
            Flush();
        }
        catch (IOException e)
        {
            // The rows stay buffered; an explicit Flush reports it, and so does Append once the buffers are full.
            lock (_lock) _commitError = e;
        }
        catch (ObjectDisposedException)
        {
            // Disposed meanwhile; Dispose made everything durable.
        }
    }

    /// <summary>
    /// Writes everything appended so far as one segment per partition, durably. The buffers are taken
    /// under a short lock and written outside it, so appends continue meanwhile; writers take turns, so
    /// when this returns, every row appended before the call is on disk. On an I/O error (a full disk)
    /// the rows not written go back to the buffers and the error is thrown.
    /// </summary>
    public void Flush()
    {
        if (_options.ReadOnly) return;
        lock (_writeLock)
        {
            List<KeyValuePair<long, FlowBatch>> taken;
            lock (_lock)
            {
                if (_buffered == 0) return;
                taken = [.. _buffers.OrderBy(kv => kv.Key)];
                _buffers.Clear();
                _buffered = 0;
                Monitor.PulseAll(_lock);
            }
            for (var i = 0; i < taken.Count; i++)
            {
                var (partition, buffer) = taken[i];
                if (buffer.Count == 0) continue;
                try
                {
                    var directory = PartitionDirectory(partition);
                    Directory.CreateDirectory(directory);
                    var path = Path.Combine(directory, $"seg-{_sequence + 1:D12}{SegmentExtension}");
                    // In arrival order: compaction sorts each partition once, when it is closed.
                    SegmentFile.Write(path, buffer, _options.BlockRows, _options.CommitCodec);
                    _sequence++;
                    lock (_lock)
                    {
                        buffer.Clear();
                        if (_spare.Count < SpareBuffers) _spare.Push(buffer);
                        _commitError = null;
                    }
                }
                catch (IOException)
                {
                    lock (_lock)
                    {
                        for (var j = i; j < taken.Count; j++)
                        {
                            var (p, rows) = taken[j];
                            if (_buffers.TryGetValue(p, out var newer)) rows.AppendRange(newer, 0, newer.Count);
                            _buffers[p] = rows;
                            _buffered += rows.Count - (newer?.Count ?? 0);
                        }
                    }
                    throw;
                }
            }
        }
    }
}
