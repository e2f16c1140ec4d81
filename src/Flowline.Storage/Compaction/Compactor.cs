using Flowline.Records;
using Flowline.Storage.Segments;

namespace Flowline.Storage.Compaction;

/// <summary>
/// Merges the segments of a partition into one sorted segment in memory bounded by a budget, whatever
/// their number and size: an external merge sort. Unsorted segments (group commits) are read into a
/// buffer of <see cref="ChunkRows"/>-row chunks that the budget holds; each time it is full it is sorted
/// and spilled to a temporary run. Sorted inputs and runs are then merged with a fan-in the budget holds
/// (three decoded blocks per input); while there are more than that, the smallest are merged into a
/// temporary run first, as tiered LSM stores do. Every batch comes from one pool, so the sort buffer and
/// the merge inputs share the same memory and the process keeps what it took.
/// </summary>
internal sealed class Compactor(long budgetBytes, int blockRows, int chunkRows = Compactor.DefaultChunkRows) : IDisposable
{
    private BlockEncoder? _encoder;

    /// <summary>
    /// The thread that encodes and writes output blocks while the next is merged; none below 256 MiB, where
    /// its second output block and the garbage of two threads at once do not fit (blocks are then written
    /// on the merging thread).
    /// </summary>
    private BlockEncoder? Encoder => Budget >= 256L << 20 ? _encoder ??= new BlockEncoder() : null;

    public void Dispose() => _encoder?.Dispose();

    /// <summary>
    /// Rows of a chunk: smaller chunks give a merge a larger fan-in (an input holds three decoded blocks of a
    /// chunk) but cost more per row (measured: 1,024-row chunks made compacting 5,000,000 flows 65 % slower).
    /// </summary>
    public const int DefaultChunkRows = 4096;

    /// <summary>Rows of a run's blocks, and of the chunks the sort buffer and the merge inputs use.</summary>
    public int ChunkRows { get; } = chunkRows;

    /// <summary>Blocks each merge input keeps decoded (see <see cref="SegmentMerger"/>).</summary>
    public const int Ring = 3;

    /// <summary>The smallest budget that still merges: two inputs, the output block and the writer's buffers.</summary>
    public static long MinimumBudget(int blockRows, int chunkRows = DefaultChunkRows) => Reserve(blockRows) + Headroom + (2 * Ring + 4) * (long)chunkRows * RowBytes * 2;

    /// <summary>Bytes a decoded row takes in a <see cref="FlowBatch"/> (every column).</summary>
    public static readonly int RowBytes = Sum();

    private static int Sum()
    {
        var total = 0;
        foreach (var f in FlowBatch.Fields) total += FlowBatch.ValueSize(f);
        return total;
    }

    private long ChunkBytes => (long)ChunkRows * RowBytes;

    /// <summary>
    /// Memory outside the pool's chunks: the output blocks (one filled while the other is written), the
    /// writer's encoding buffer and the codecs' scratch (Brotli's window among them).
    /// </summary>
    private static long Reserve(int blockRows) => 2L * blockRows * RowBytes + (8L << 20);

    /// <summary>The share of the budget rollup tables may take while a final segment is written.</summary>
    public long RollupBudget => Budget / 8;

    /// <summary>
    /// What the pool's chunks and the sort keys may take: what is left of the budget after the reserve, the
    /// rollups and <see cref="Headroom"/>, less 40 % that the runtime's collector needs between collections
    /// (measured from outside: a process holds about 1.6 times what it keeps alive at its peak).
    /// </summary>
    private long ChunkBudget => Math.Max(2 * Ring * ChunkBytes, (Budget - Reserve(blockRows) - RollupBudget - Headroom) * 6 / 10);

    /// <summary>Memory that merging takes besides its own buffers: the codecs' pooled arrays and the code of the merge itself.</summary>
    private const long Headroom = 24L << 20;

    private readonly BatchPool _pool = new();
    private readonly RowOrder.Sorter _sorter = new();

    public long Budget { get; } = budgetBytes;

    /// <summary>Chunks the sort buffer holds (each with a key per row).</summary>
    private int SortChunks => (int)Math.Clamp(ChunkBudget / ((long)ChunkRows * (RowBytes + RowOrder.KeyBytes)), 2, 32_767);

    /// <summary>Rows the sort buffer holds at most.</summary>
    public int SortRows => SortChunks * ChunkRows;

    /// <summary>How many runs of <see cref="ChunkRows"/>-row blocks one merge takes at once.</summary>
    public int RunFanIn => FanInFor(ChunkRows);

    /// <summary>How many sorted inputs in blocks of <paramref name="inputBlockRows"/> rows one merge takes at once.</summary>
    public int FanInFor(int inputBlockRows) => (int)Math.Max(2, ChunkBudget / (Ring * (long)Math.Max(inputBlockRows, ChunkRows) * RowBytes) - 1);

    /// <summary>Runs written (sorted spills and merge rounds), since the compactor was made.</summary>
    public long RunsWritten;

    /// <summary>
    /// Merges <paramref name="inputs"/> into a sorted segment at <paramref name="output"/>. Temporary runs go
    /// to <paramref name="scratch"/>(n), a name ending in <c>.tmp</c> that a store removes when it opens.
    /// </summary>
    /// <param name="run">Write an intermediate run (merged again later) rather than a final segment.</param>
    /// <param name="onBlock">Sees every output block before it is written (rollups are built from it).</param>
    public long Merge(IReadOnlyList<SegmentFile.Reader> inputs, string output, SegmentCodec codec, bool run,
        Func<int, string> scratch, Action<FlowBatch>? onBlock, CancellationToken cancel)
    {
        var sources = new List<Source>();
        var temporary = new List<string>();
        var chunks = new List<FlowBatch>();
        FlowBatch? staging = null;
        var outputRows = run ? ChunkRows : blockRows;
        try
        {
            var sortChunks = SortChunks;
            foreach (var input in inputs)
            {
                if (input.Sorted)
                {
                    sources.Add(new Source(input, owned: false));
                    continue;
                }
                for (var b = 0; b < input.Blocks.Length; b++)
                {
                    cancel.ThrowIfCancellationRequested();
                    var rows = input.Blocks[b].Rows;
                    var needed = (rows + ChunkRows - 1) / ChunkRows;
                    if (chunks.Count > 0 && chunks.Count + needed > sortChunks)
                    {
                        sources.Add(Spill(chunks, scratch(temporary.Count), temporary));
                    }
                    if (rows <= ChunkRows)
                    {
                        // Group commits are written in blocks of a chunk at most: read straight in.
                        var chunk = _pool.Rent(ChunkRows);
                        input.ReadBlock(b, chunk);
                        chunks.Add(chunk);
                        continue;
                    }
                    // Larger blocks (segments from elsewhere) go through a staging batch, a chunk at a time.
                    staging ??= _pool.Rent(rows);
                    if (staging.Capacity < rows)
                    {
                        _pool.Return(staging);
                        staging = _pool.Rent(rows);
                    }
                    staging.Clear();
                    input.ReadBlock(b, staging);
                    for (var at = 0; at < staging.Count; at += ChunkRows)
                    {
                        var chunk = _pool.Rent(ChunkRows);
                        chunk.AppendRange(staging, at, Math.Min(ChunkRows, staging.Count - at));
                        chunks.Add(chunk);
                    }
                }
                // Hundreds of commits are open at once: none keeps its last block's bytes.
                input.ReleaseBuffer();
            }
            if (staging is not null)
            {
                _pool.Return(staging);
                staging = null;
            }
            if (chunks.Count > 0)
            {
                if (sources.Count == 0)
                {
                    // Everything fit in memory: sorted straight into the output.
                    return WriteSorted(chunks, output, codec, run, outputRows, onBlock, cancel);
                }
                sources.Add(Spill(chunks, scratch(temporary.Count), temporary));
            }
            // Tiered rounds: while the inputs do not fit the budget together, merge the smallest into a run.
            while (sources.Count > 1)
            {
                var fit = FanIn(sources, outputRows);
                if (fit >= sources.Count) break;
                sources.Sort((a, b) => a.Reader.Rows.CompareTo(b.Reader.Rows));
                var group = sources.GetRange(0, Math.Max(2, fit));
                var path = scratch(temporary.Count);
                temporary.Add(path);
                using (var writer = new SegmentFile.Writer(path, SegmentCodec.Lz4, sorted: true, run: true, Blocks(group.Sum(s => s.Reader.Rows), ChunkRows)))
                {
                    SegmentMerger.Merge(group.ConvertAll(s => s.Reader), writer, ChunkRows, ChunkRows, _pool, null, cancel, Encoder);
                    writer.Complete();
                }
                RunsWritten++;
                        foreach (var s in group) s.Dispose();
                sources.RemoveRange(0, group.Count);
                sources.Add(new Source(new SegmentFile.Reader(path), owned: true));
            }
            if (sources.Count == 0) return 0;
            using var final = new SegmentFile.Writer(output, codec, sorted: true, run: run, Blocks(sources.Sum(s => s.Reader.Rows), outputRows));
            var written = SegmentMerger.Merge(sources.ConvertAll(s => s.Reader), final, outputRows, ChunkRows, _pool, onBlock, cancel, Encoder);
            final.Complete();
            return written;
        }
        finally
        {
            foreach (var c in chunks) _pool.Return(c);
            if (staging is not null) _pool.Return(staging);
            foreach (var s in sources) s.Dispose();
            foreach (var t in temporary)
            {
                try { File.Delete(t); } catch (IOException) { }
            }
        }
    }

    /// <summary>How many of <paramref name="sources"/>, smallest first, fit the chunk budget together as merge inputs.</summary>
    private int FanIn(List<Source> sources, int outputRows)
    {
        var costs = sources.ConvertAll(s => InputBytes(s.Reader)).Order().ToList();
        long total = (long)outputRows * RowBytes;
        var n = 0;
        foreach (var c in costs)
        {
            if (total + c > ChunkBudget + (long)blockRows * RowBytes) break;
            total += c;
            n++;
        }
        return n;
    }

    private long InputBytes(SegmentFile.Reader reader)
    {
        var rows = 0;
        foreach (var b in reader.Blocks) rows = Math.Max(rows, b.Rows);
        return Ring * (long)Math.Max(rows, ChunkRows) * RowBytes;
    }

    /// <summary>Blocks of <paramref name="blockRows"/> rows that <paramref name="rows"/> rows fill: a writer's index size.</summary>
    private static int Blocks(long rows, int blockRows) => (int)Math.Min(1 << 20, (rows + blockRows - 1) / blockRows);

    /// <summary>Sorts the buffered chunks and writes them as a temporary run; the chunks go back to the pool.</summary>
    private Source Spill(List<FlowBatch> chunks, string path, List<string> temporary)
    {
        temporary.Add(path);
        WriteSorted(chunks, path, SegmentCodec.Lz4, run: true, ChunkRows, null, CancellationToken.None);
        RunsWritten++;
        return new Source(new SegmentFile.Reader(path), owned: true);
    }

    private long WriteSorted(List<FlowBatch> chunks, string path, SegmentCodec codec, bool run, int outputRows, Action<FlowBatch>? onBlock, CancellationToken cancel)
    {
        var total = 0;
        foreach (var c in chunks) total += c.Count;
        if (chunks.Count > int.MaxValue / RowOrder.Sorter.Stride) throw new InvalidOperationException("too many chunks to sort at once");
        var ids = _sorter.Sort(chunks, RowOrder.Sorter.Stride);
        var n = ids.Length;
        var from = new int[outputRows];
        var rows = new int[outputRows];
        using var writer = new SegmentFile.Writer(path, codec, sorted: true, run: run, Blocks(n, outputRows));
        var output = new SegmentMerger.Output(writer, _pool, outputRows, onBlock, Encoder);
        try
        {
            for (var at = 0; at < n; at += outputRows)
            {
                cancel.ThrowIfCancellationRequested();
                var m = Math.Min(outputRows, n - at);
                RowOrder.Gather(output.Block, chunks, ids.Slice(at, m), RowOrder.Sorter.Stride, from, rows);
                output.Emit();
            }
            output.Finish();
            writer.Complete();
            return writer.Rows;
        }
        finally
        {
            output.Release();
            foreach (var c in chunks) _pool.Return(c);
            chunks.Clear();
        }
    }


    private sealed class Source(SegmentFile.Reader reader, bool owned) : IDisposable
    {
        public SegmentFile.Reader Reader { get; } = reader;

        public void Dispose()
        {
            if (owned) Reader.Dispose();
        }
    }
}

/// <summary>
/// Batches kept for reuse by capacity: compaction's chunks, merge slots and output blocks come back here,
/// so one merge after another takes no new memory.
/// </summary>
internal sealed class BatchPool
{
    private readonly Dictionary<int, Stack<FlowBatch>> _free = [];

    public FlowBatch Rent(int capacity)
    {
        if (_free.TryGetValue(capacity, out var stack) && stack.Count > 0)
        {
            var b = stack.Pop();
            b.Clear();
            return b;
        }
        // Free batches of other sizes make way (a merge of final segments after sorts of commits), so
        // the pool does not hold both.
        var needed = (long)capacity * Compactor.RowBytes;
        var released = 0L;
        foreach (var (size, free) in _free)
        {
            while (released < needed && free.Count > 0 && size != capacity)
            {
                free.Pop();
                released += (long)size * Compactor.RowBytes;
            }
        }
        return new FlowBatch(capacity);
    }

    public void Return(FlowBatch batch)
    {
        batch.Clear();
        if (!_free.TryGetValue(batch.Capacity, out var stack)) _free.Add(batch.Capacity, stack = new Stack<FlowBatch>());
        stack.Push(batch);
    }
}
