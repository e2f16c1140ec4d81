using System.Globalization;
using Flowline.Query;
using Flowline.Storage.Segments;
using Flowline.Wire.Records;

namespace Flowline.Storage.Embedded;

/// <summary>Settings of the embedded store.</summary>
public sealed record EmbeddedStoreOptions
{
    /// <summary>Width of a time partition (by flow start).</summary>
    public TimeSpan PartitionWidth { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Appended records are written to disk at least this often.</summary>
    public TimeSpan GroupCommit { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Rows buffered before a flush regardless of the window.</summary>
    public int MaxBufferedRows { get; init; } = 262_144;
    public int BlockRows { get; init; } = SegmentFile.DefaultBlockRows;
    public SegmentCodec Codec { get; init; } = SegmentCodec.Brotli;
}

/// <summary>
/// The default store: a directory of time partitions (<c>yyyyMMdd/HHmm</c>), each holding immutable
/// segment files. Appends are buffered and written as a new segment per partition at every group
/// commit; a segment appears whole (temporary name, fsync, rename, directory fsync) or not at all,
/// so after a crash every record up to the last commit is present exactly once.
/// </summary>
public sealed class EmbeddedStore : IFlowStore
{
    private const string SegmentExtension = ".seg";
    private readonly string _root;
    private readonly EmbeddedStoreOptions _options;
    private readonly object _lock = new();
    private readonly Dictionary<long, FlowBatch> _buffers = [];
    private readonly Timer _timer;
    private long _sequence;
    private int _buffered;
    private bool _disposed;

    public EmbeddedStore(string root, EmbeddedStoreOptions? options = null)
    {
        _root = Path.GetFullPath(root);
        _options = options ?? new EmbeddedStoreOptions();
        Directory.CreateDirectory(_root);
        Directory.CreateDirectory(QuarantineDirectory);
        // Whatever a crash left half-written was never acknowledged as durable.
        foreach (var tmp in Directory.EnumerateFiles(_root, "*.tmp", SearchOption.AllDirectories)) File.Delete(tmp);
        _sequence = Segments().Select(s => SequenceOf(s)).DefaultIfEmpty(0).Max();
        _timer = new Timer(_ => TimedFlush(), null, _options.GroupCommit, _options.GroupCommit);
    }

    public string Root => _root;
    private string QuarantineDirectory => Path.Combine(_root, "quarantine");
    private long PartitionMicros => (long)_options.PartitionWidth.TotalMicroseconds;

    private static long SequenceOf(string segment) =>
        long.TryParse(Path.GetFileNameWithoutExtension(segment).AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 0;

    private string PartitionDirectory(long partitionStart)
    {
        var t = DateTime.UnixEpoch.AddTicks(partitionStart * 10);
        return Path.Combine(_root, t.ToString("yyyyMMdd", CultureInfo.InvariantCulture), t.ToString("HHmm", CultureInfo.InvariantCulture));
    }

    private long PartitionOf(long start) => Aggregator.FloorBucket(start, PartitionMicros);

    /// <summary>Every segment file outside quarantine, in write order.</summary>
    private IEnumerable<string> Segments() =>
        Directory.EnumerateFiles(_root, "seg-*" + SegmentExtension, SearchOption.AllDirectories)
            .Where(p => !p.StartsWith(QuarantineDirectory, StringComparison.Ordinal))
            .OrderBy(SequenceOf);

    public void Append(FlowBatch batch)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var flush = false;
        lock (_lock)
        {
            // Rows usually arrive in time order: copy each run of one partition column by column.
            var runStart = 0;
            while (runStart < batch.Count)
            {
                var partition = PartitionOf(batch.Start[runStart]);
                var runEnd = runStart + 1;
                while (runEnd < batch.Count && PartitionOf(batch.Start[runEnd]) == partition) runEnd++;
                if (!_buffers.TryGetValue(partition, out var buffer))
                {
                    buffer = new FlowBatch(1024);
                    _buffers.Add(partition, buffer);
                }
                buffer.AppendRange(batch, runStart, runEnd - runStart);
                runStart = runEnd;
            }
            _buffered += batch.Count;
            flush = _buffered >= _options.MaxBufferedRows;
        }
        if (flush) Flush();
    }

    private void TimedFlush()
    {
        try
        {
            Flush();
        }
        catch (IOException)
        {
            // The next commit or an explicit Flush reports it; the rows stay buffered.
        }
    }

    public void Flush()
    {
        lock (_lock)
        {
            if (_buffered == 0) return;
            foreach (var (partition, buffer) in _buffers.OrderBy(kv => kv.Key))
            {
                if (buffer.Count == 0) continue;
                var directory = PartitionDirectory(partition);
                Directory.CreateDirectory(directory);
                var path = Path.Combine(directory, $"seg-{_sequence + 1:D12}{SegmentExtension}");
                SegmentFile.Write(path, buffer, _options.BlockRows, _options.Codec);
                _sequence++;
                buffer.Clear();
            }
            _buffers.Clear();
            _buffered = 0;
        }
    }

    /// <summary>
    /// Decodes blocks on a second thread while the caller works on the previous ones (a pipeline of
    /// <see cref="PrefetchDepth"/> batches), so decoding and filtering/aggregating overlap on two cores.
    /// </summary>
    public IEnumerable<FlowBatch> Scan(long from, long to, FilterNode filter, IReadOnlySet<FlowField>? columns = null)
    {
        if (columns is not null && !columns.Contains(FlowField.Start))
        {
            columns = new HashSet<FlowField>(columns) { FlowField.Start };
        }
        var free = System.Threading.Channels.Channel.CreateUnbounded<FlowBatch>();
        // Pool batches are filled only with this projection, so their other columns stay zero from allocation.
        for (var i = 0; i < PrefetchDepth + 1; i++) free.Writer.TryWrite(new FlowBatch(_options.BlockRows));
        var ready = System.Threading.Channels.Channel.CreateBounded<(FlowBatch Rented, FlowBatch Rows)>(PrefetchDepth);
        using var cancel = new CancellationTokenSource();
        var producer = Task.Run(async () =>
        {
            try
            {
                var quarantined = new HashSet<string>();
                foreach (var (reader, block) in Blocks(from, to, filter))
                {
                    // A segment found corrupt is left out as a whole, as later scans will leave it out.
                    if (quarantined.Contains(reader.Path)) continue;
                    var batch = await free.Reader.ReadAsync(cancel.Token).ConfigureAwait(false);
                    batch.Clear();
                    try
                    {
                        reader.ReadBlock(block, batch, columns, skippedAreZero: true);
                    }
                    catch (SegmentCorruptException)
                    {
                        quarantined.Add(reader.Path);
                        Quarantine(reader.Path);
                        free.Writer.TryWrite(batch);
                        continue;
                    }
                    await ready.Writer.WriteAsync((batch, TimeSlice(batch, from, to)), cancel.Token).ConfigureAwait(false);
                }
                ready.Writer.Complete();
            }
            catch (Exception e)
            {
                ready.Writer.Complete(e is OperationCanceledException ? null : e);
            }
        });
        FlowBatch? previous = null;
        try
        {
            while (true)
            {
                if (!ready.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult()) break;
                if (!ready.Reader.TryRead(out var item)) continue;
                if (previous is not null) free.Writer.TryWrite(previous);
                previous = item.Rented;
                yield return item.Rows;
            }
        }
        finally
        {
            cancel.Cancel();
            try
            {
                producer.Wait();
            }
            catch (AggregateException)
            {
                // Cancelled with the consumer: nothing to report.
            }
        }
    }

    private const int PrefetchDepth = 2;

    /// <summary>The blocks of the range that the zone maps and the address dictionaries cannot rule out, in write order.</summary>
    private IEnumerable<(SegmentFile.Reader Reader, int Block)> Blocks(long from, long to, FilterNode filter)
    {
        foreach (var path in Segments())
        {
            var partitionStart = PartitionStartOf(path);
            if (partitionStart is { } p && (p + PartitionMicros <= from || p >= to)) continue;
            SegmentFile.Reader reader;
            try
            {
                reader = new SegmentFile.Reader(path);
            }
            catch (SegmentCorruptException)
            {
                Quarantine(path);
                continue;
            }
            using (reader)
            {
                for (var i = 0; i < reader.Blocks.Length; i++)
                {
                    if (!reader.Blocks[i].Zone.MayMatch(from, to, filter)) continue;
                    bool mayMatch;
                    try
                    {
                        mayMatch = DictionaryPruning.MayMatch(reader, i, filter);
                    }
                    catch (SegmentCorruptException)
                    {
                        Quarantine(path);
                        break;
                    }
                    if (mayMatch) yield return (reader, i);
                }
            }
        }
    }

    /// <summary>Keeps the rows of a block whose start lies in [from, to), in place.</summary>
    private static FlowBatch TimeSlice(FlowBatch b, long from, long to)
    {
        var all = true;
        for (var i = 0; i < b.Count && all; i++) all = b.Start[i] >= from && b.Start[i] < to;
        if (all) return b;
        var kept = new FlowBatch(b.Count);
        for (var i = 0; i < b.Count; i++)
        {
            if (b.Start[i] >= from && b.Start[i] < to) kept.Add(b[i]);
        }
        return kept;
    }

    private long? PartitionStartOf(string segment)
    {
        var dir = Path.GetDirectoryName(segment)!;
        var hhmm = Path.GetFileName(dir);
        var day = Path.GetFileName(Path.GetDirectoryName(dir)!);
        return DateTime.TryParseExact(day + hhmm, "yyyyMMddHHmm", CultureInfo.InvariantCulture,
            DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t)
            ? (t - DateTime.UnixEpoch).Ticks / 10
            : null;
    }

    private void Quarantine(string path)
    {
        var target = Path.Combine(QuarantineDirectory, Path.GetRelativePath(_root, path).Replace(Path.DirectorySeparatorChar, '_'));
        try
        {
            File.Move(path, target, overwrite: true);
        }
        catch (IOException)
        {
            // Already moved by a concurrent reader.
        }
    }

    public StoreStats Stats()
    {
        var segments = Segments().ToList();
        long rows = 0, bytes = 0;
        long? first = null, last = null;
        foreach (var s in segments)
        {
            try
            {
                using var r = new SegmentFile.Reader(s);
                rows += r.Rows;
                bytes += r.SizeBytes;
                foreach (var b in r.Blocks)
                {
                    first = Math.Min(first ?? long.MaxValue, b.Zone.MinStart);
                    last = Math.Max(last ?? long.MinValue, b.Zone.MaxStart);
                }
            }
            catch (SegmentCorruptException)
            {
                // Counted by verify.
            }
        }
        var partitions = segments.Select(Path.GetDirectoryName).Distinct().Count();
        return new StoreStats(partitions, segments.Count, rows, bytes, first, last, Directory.EnumerateFiles(QuarantineDirectory).Count());
    }

    public int Expire(long before)
    {
        var dropped = 0;
        foreach (var dir in Segments().Select(s => Path.GetDirectoryName(s)!).Distinct().ToList())
        {
            if (PartitionStartOf(Path.Combine(dir, "x")) is { } start && start + PartitionMicros <= before)
            {
                Directory.Delete(dir, recursive: true);
                dropped++;
                var day = Path.GetDirectoryName(dir)!;
                if (!Directory.EnumerateFileSystemEntries(day).Any()) Directory.Delete(day);
            }
        }
        return dropped;
    }

    public IReadOnlyList<StoreProblem> Verify()
    {
        var problems = new List<StoreProblem>();
        var batch = new FlowBatch(_options.BlockRows);
        foreach (var path in Segments().ToList())
        {
            try
            {
                using var reader = new SegmentFile.Reader(path);
                for (var i = 0; i < reader.Blocks.Length; i++)
                {
                    batch.Clear();
                    reader.ReadBlock(i, batch);
                }
            }
            catch (SegmentCorruptException e)
            {
                problems.Add(new StoreProblem(e.Path, e.Block, e.Reason));
                Quarantine(path);
            }
        }
        return problems;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _timer.Dispose();
        Flush();
        _disposed = true;
    }
}
