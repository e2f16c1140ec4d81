using Flowline.Query;
using Flowline.Storage.Segments;
using Flowline.Records;

namespace Flowline.Storage.Embedded;

/// <summary>Scans: the blocks the zone maps leave, decoded on a second thread, and segments found damaged.</summary>
public sealed partial class EmbeddedStore
{
    private int _activeScans;
    private ScanStatistics _scanStats = new();

    /// <summary>Blocks considered, left after zone maps, read, and rows read, over all scans so far.</summary>
    public ScanStatistics ScanStats => _scanStats;

    /// <summary>Starts <see cref="ScanStats"/> again: a pass a command made for itself is not the query's.</summary>
    public void ResetScanStats() => _scanStats = new();

    public sealed class ScanStatistics
    {
        public long Blocks, PassedZoneMaps, Read, Rows, RollupTables, RollupRows;
    }

    /// <summary>
    /// Decodes blocks on a second thread while the caller works on the previous ones (a pipeline of
    /// <see cref="PrefetchDepth"/> batches), so decoding and filtering/aggregating overlap on two cores.
    /// </summary>
    public IEnumerable<FlowBatch> Scan(long from, long to, FilterNode filter, IReadOnlySet<FlowField>? columns = null) =>
        ScanSegments(Segments(), from, to, filter, columns);

    /// <summary>Blocks decoded on the caller's thread before the second thread starts: a lookup that reads one or two blocks needs no pipeline.</summary>
    private const int InlineBlocks = 2;

    private IEnumerable<FlowBatch> ScanSegments(IEnumerable<string> segments, long from, long to, FilterNode filter, IReadOnlySet<FlowField>? columns)
    {
        if (columns is not null && !columns.Contains(FlowField.Start))
        {
            columns = new HashSet<FlowField>(columns) { FlowField.Start };
        }
        Interlocked.Increment(ref _activeScans);
        try
        {
            using var blocks = Blocks(segments, from, to, filter).GetEnumerator();
            var quarantined = new HashSet<string>();
            var batch = new FlowBatch(_options.BlockRows);
            var inline = 0;
            bool more;
            while ((more = blocks.MoveNext()) && inline < InlineBlocks)
            {
                var (reader, block) = blocks.Current;
                if (quarantined.Contains(reader.Path)) continue;
                batch.Clear();
                if (!TryRead(reader, block, batch, columns, quarantined)) continue;
                inline++;
                yield return TimeSlice(batch, from, to);
            }
            if (!more) yield break;
            foreach (var b in Pipelined(blocks, from, to, columns, quarantined)) yield return b;
        }
        finally
        {
            Interlocked.Decrement(ref _activeScans);
        }
    }

    /// <summary>A segment found corrupt is quarantined and left out as a whole, as later scans will leave it out.</summary>
    private bool TryRead(SegmentFile.Reader reader, int block, FlowBatch batch, IReadOnlySet<FlowField>? columns, HashSet<string> quarantined)
    {
        try
        {
            reader.ReadBlock(block, batch, columns, skippedAreZero: true);
            return true;
        }
        catch (SegmentCorruptException e)
        {
            quarantined.Add(reader.Path);
            Quarantine(reader.Path, e.Message);
            return false;
        }
    }

    /// <summary>
    /// Decodes blocks on a second thread while the caller works on the previous ones (a pipeline of
    /// <see cref="PrefetchDepth"/> batches), so decoding and filtering/aggregating overlap on two cores.
    /// Starts with the enumerator's current block.
    /// </summary>
    private IEnumerable<FlowBatch> Pipelined(IEnumerator<(SegmentFile.Reader Reader, int Block)> blocks, long from, long to,
        IReadOnlySet<FlowField>? columns, HashSet<string> quarantined)
    {
        var free = System.Threading.Channels.Channel.CreateUnbounded<FlowBatch>();
        // Pool batches are filled only with this projection, so their other columns stay zero from allocation.
        for (var i = 0; i < PrefetchDepth + 1; i++) free.Writer.TryWrite(new FlowBatch(_options.BlockRows));
        var ready = System.Threading.Channels.Channel.CreateBounded<(FlowBatch Rented, FlowBatch Rows)>(PrefetchDepth);
        using var cancel = new CancellationTokenSource();
        var producer = Task.Run(async () =>
        {
            try
            {
                do
                {
                    var (reader, block) = blocks.Current;
                    if (quarantined.Contains(reader.Path)) continue;
                    var batch = await free.Reader.ReadAsync(cancel.Token).ConfigureAwait(false);
                    batch.Clear();
                    if (!TryRead(reader, block, batch, columns, quarantined))
                    {
                        free.Writer.TryWrite(batch);
                        continue;
                    }
                    await ready.Writer.WriteAsync((batch, TimeSlice(batch, from, to)), cancel.Token).ConfigureAwait(false);
                }
                while (blocks.MoveNext());
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
    /// <summary>Files a scan leaves to everything else (the runtime's own, sockets, the output).</summary>
    private const int FilesBesideSegments = 256;

    /// <summary>
    /// The blocks of the range that the zone maps and the address dictionaries cannot rule out, in write order.
    /// Every segment of the range is opened before the first block is read: a compaction that replaces some
    /// of them meanwhile (another process's, for a reader) removes their names, not the files this scan
    /// holds open, so the scan reads the store as it was when it began, each row once.
    /// </summary>
    private IEnumerable<(SegmentFile.Reader Reader, int Block)> Blocks(IEnumerable<string> segments, long from, long to, FilterNode filter)
    {
        var open = new List<(string Path, Microsoft.Win32.SafeHandles.SafeFileHandle? File)>();
        var inRange = segments.Where(path => PartitionStartOf(path) is not { } p || (p + PartitionMicros > from && p < to)).ToList();
        // Every one is held open at once (above); beyond what the process may open, say so before the first.
        var limit = OpenFileLimit.Current;
        if (inRange.Count > limit - FilesBesideSegments)
        {
            throw new IOException($"the range holds {inRange.Count:N0} segment files, more than this process may hold open ({limit:N0} files, `ulimit -n`, less {FilesBesideSegments} for the rest): "
                + "run `flowline store compact` (serve's upkeep merges them too), ask for a shorter range, or raise the limit");
        }
        try
        {
            foreach (var path in inRange)
            {
                try
                {
                    open.Add((path, SegmentFile.Reader.Open(path)));
                }
                catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
                {
                    Quarantine(path, $"{path}: gone between listing the store and opening it (replaced by a compaction); run the query again");
                }
                catch (SegmentCorruptException e)
                {
                    Quarantine(path, e.Message);
                }
            }
        }
        catch
        {
            foreach (var (_, file) in open) file?.Dispose();
            throw;
        }
        try
        {
            for (var n = 0; n < open.Count; n++)
            {
                var (path, file) = open[n];
                open[n] = (path, null);
                SegmentFile.Reader reader;
                try
                {
                    reader = new SegmentFile.Reader(path, file!);
                }
                catch (SegmentCorruptException e)
                {
                    Quarantine(path, e.Message);
                    continue;
                }
                using (reader)
                {
                    for (var i = 0; i < reader.Blocks.Length; i++)
                    {
                        Interlocked.Increment(ref _scanStats.Blocks);
                        if (!reader.Blocks[i].Zone.MayMatch(from, to, filter)) continue;
                        Interlocked.Increment(ref _scanStats.PassedZoneMaps);
                        bool mayMatch;
                        try
                        {
                            mayMatch = DictionaryPruning.MayMatch(reader, i, filter);
                        }
                        catch (SegmentCorruptException e)
                        {
                            Quarantine(path, e.Message);
                            break;
                        }
                        if (!mayMatch) continue;
                        Interlocked.Increment(ref _scanStats.Read);
                        Interlocked.Add(ref _scanStats.Rows, reader.Blocks[i].Rows);
                        yield return (reader, i);
                    }
                }
            }
        }
        finally
        {
            // Segments not reached when the caller stopped early.
            foreach (var (_, file) in open) file?.Dispose();
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

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _damaged = new(StringComparer.Ordinal);
    private long _quarantined;

    /// <summary>
    /// Segments this process found damaged or gone, with why, whose rows its answers left out: a writer moved
    /// them to quarantine; a read-only process leaves another process's files where they are and says so.
    /// </summary>
    public IReadOnlyDictionary<string, string> Damaged => _damaged;

    /// <summary>Segments this process moved to quarantine.</summary>
    public long QuarantinedCount => Interlocked.Read(ref _quarantined);

    private void Quarantine(string path, string reason)
    {
        if (!_damaged.TryAdd(path, reason) || _options.ReadOnly || !File.Exists(path)) return;
        // A segment quarantined before under the same name keeps its copy.
        var target = FreeName(Path.Combine(QuarantineDirectory, Path.GetRelativePath(_root, path).Replace(Path.DirectorySeparatorChar, '_')));
        try
        {
            Directory.CreateDirectory(QuarantineDirectory);
            File.Move(path, target);
            Interlocked.Increment(ref _quarantined);
            Volatile.Write(ref _salvageDue, 1);
            _options.Quarantined?.Invoke(path, reason);
        }
        catch (IOException)
        {
            // Already moved by a concurrent scan of this process.
        }
    }
}
