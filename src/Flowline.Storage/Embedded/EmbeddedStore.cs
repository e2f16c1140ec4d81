using System.Globalization;
using Flowline.Query;
using Flowline.Storage.Segments;
using Flowline.Records;

namespace Flowline.Storage.Embedded;

/// <summary>Settings of the embedded store.</summary>
public sealed record EmbeddedStoreOptions
{
    /// <summary>Told of each segment a writer moves to quarantine (its path and what is wrong with it), to log it.</summary>
    public Action<string, string>? Quarantined { get; init; }

    /// <summary>
    /// Width of a time partition (by flow start), for a new store; an existing store keeps the width it was
    /// created with (recorded in its directory), and asking another is refused. Null: the store's own, or
    /// <see cref="DefaultPartitionWidth"/> for a new one.
    /// </summary>
    public TimeSpan? PartitionWidth { get; init; }

    public static readonly TimeSpan DefaultPartitionWidth = TimeSpan.FromMinutes(5);
    /// <summary>Appended records are written to disk at least this often.</summary>
    public TimeSpan GroupCommit { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Rows buffered before a flush regardless of the window.</summary>
    public int MaxBufferedRows { get; init; } = 262_144;
    public int BlockRows { get; init; } = SegmentFile.DefaultBlockRows;
    /// <summary>Compression of compacted segments, which hold the data for its lifetime: small and quick to read.</summary>
    public SegmentCodec Codec { get; init; } = SegmentCodec.Zstd;
    /// <summary>
    /// Compression of group commits, which live until their partition is compacted: fastest, so that a
    /// collector's commits keep up with its decoders.
    /// </summary>
    public SegmentCodec CommitCodec { get; init; } = SegmentCodec.Lz4;
    /// <summary>
    /// Group commits are written in <see cref="Segments.RowOrder"/>: the committing thread sorts the rows it
    /// holds anyway, and compaction merges commits as they are instead of reading each back to sort it.
    /// Off, commits keep arrival order and compaction sorts them (an import, whose commits are small and all
    /// compacted at the end). By default on when <see cref="CompactionMemory"/> is at least 256 MiB: below, a
    /// merge takes too few commits of 4,096-row blocks at once, and sorting them in chunks costs less.
    /// </summary>
    public bool? SortCommits { get; init; }
    /// <summary>Whether group commits are written sorted (<see cref="SortCommits"/>, or its default for the budget).</summary>
    internal bool CommitsSorted => SortCommits ?? CompactionMemory >= 256L << 20;
    /// <summary>Rows of a group commit's blocks: a few compaction chunks (sorting commits reads each block through a small staging batch).</summary>
    public int CommitBlockRows { get; init; } = 4096;
    /// <summary>
    /// Memory compaction, rollups and imports may hold, whatever a partition's size and number of segments
    /// (see docs/STORE.md). At least <see cref="MinimumCompactionMemory"/>.
    /// </summary>
    public long CompactionMemory { get; init; } = DefaultCompactionMemory;

    public const long DefaultCompactionMemory = 512L << 20;

    /// <summary>Bytes a decoded row takes in memory (every column): what buffers of rows cost.</summary>
    public static int DecodedRowBytes => Compaction.Compactor.RowBytes;

    /// <summary>Rows of compaction's chunks and runs' blocks (smaller only in tests, to reach every path with little data).</summary>
    internal int? CompactionChunkRows { get; init; }

    /// <summary>Group commits gathered in a partition before they are sorted into a run.</summary>
    internal int CommitsPerRun { get; init; } = 32;

    /// <summary>The smallest compaction budget: two merge inputs, an output block and the writer's buffers.</summary>
    public static long MinimumCompactionMemory => Compaction.Compactor.MinimumBudget(SegmentFile.DefaultBlockRows, 1024);

    /// <summary>Memory the rollup tables of one compaction may hold together (default: an eighth of <see cref="CompactionMemory"/>).</summary>
    internal long? RollupMemory { get; init; }

    /// <summary>Only reads (queries next to a running collector): no commits, no clean-up, no compaction.</summary>
    public bool ReadOnly { get; init; }
    /// <summary>
    /// The symbol table to use instead of the store's own: a store kept inside another's directory (the
    /// sessions next to the flows) shares its ids.
    /// </summary>
    public ISymbolTable? Symbols { get; init; }
}

/// <summary>
/// The default store: a directory of time partitions (<c>yyyyMMdd/HHmm</c>), each holding immutable
/// segment files. Appends are buffered and written as a new segment per partition at every group
/// commit; a segment appears whole (temporary name, fsync, rename, directory fsync) or not at all,
/// so after a crash every record up to the last commit is present exactly once.
/// </summary>
public sealed partial class EmbeddedStore : IFlowStore
{
    private const string SegmentExtension = ".seg";
    private readonly string _root;
    private readonly EmbeddedStoreOptions _options;
    private readonly object _lock = new();
    /// <summary>Rows waiting for the next group commit: per partition, chunks of at most a block each.</summary>
    private readonly Dictionary<long, List<FlowBatch>> _buffers = [];
    private readonly Timer? _timer;
    private long _sequence;
    private int _buffered;
    private bool _disposed;
    private readonly FileStream? _writer;

    /// <summary>The file a writing process holds locked (flock), so that one process at a time writes a store.</summary>
    public const string WriterLockFile = "writer.lock";

    /// <summary>
    /// Locks the store for this process's writing. Two writers would number their segments each from its own
    /// count and replace each other's, and each would delete the other's temporary files at open; readers
    /// (ReadOnly) take no lock and may run beside the writer.
    /// </summary>
    private static FileStream LockForWriting(string root)
    {
        var path = Path.Combine(root, WriterLockFile);
        if (Directory.Exists(path))
        {
            throw new IOException($"{path} is a directory, where the store keeps its writer's lock file: remove it (it holds nothing of the store)");
        }
        try
        {
            // On Linux, FileShare.None takes an exclusive flock, released when the process ends however it ends.
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException && File.Exists(path))
        {
            throw new StoreLockedException(root);
        }
    }

    public EmbeddedStore(string root, EmbeddedStoreOptions? options = null)
    {
        _root = Path.GetFullPath(root);
        _options = options ?? new EmbeddedStoreOptions();
        ArgumentOutOfRangeException.ThrowIfGreaterThan(_options.BlockRows, RowOrder.Sorter.Stride, "BlockRows");
        _partitionMicros = ChooseWidth(_root, _options);
        if (_options.ReadOnly)
        {
            // A reader next to a running writer must not touch its temporary files or its compaction.
            if (!Directory.Exists(_root)) throw new DirectoryNotFoundException($"no store at {_root}");
            Symbols = _options.Symbols ?? new SymbolTable(_root, readOnly: true);
            return;
        }
        DataDirectory.Create(_root);
        _writer = LockForWriting(_root);
        if (!File.Exists(Path.Combine(_root, PartitionWidthFile)))
        {
            AtomicFile.WriteText(Path.Combine(_root, PartitionWidthFile), (_partitionMicros / 1_000_000).ToString(CultureInfo.InvariantCulture) + "\n");
        }
        Symbols = _options.Symbols ?? new SymbolTable(_root);
        Directory.CreateDirectory(QuarantineDirectory);
        // Whatever a crash left half-written was never acknowledged as durable.
        foreach (var tmp in PartitionFiles("*.tmp")) File.Delete(tmp);
        PurgeExpired();
        DeleteObsolete();
        FinishInterruptedRestores();
        // A quarantined segment's number is never given again: its restore tells segments apart by number.
        _sequence = Math.Max(Segments().Select(s => SequenceOf(s)).DefaultIfEmpty(0).Max(), QuarantinedSequence());
        _timer = new Timer(_ => TimedFlush(), null, _options.GroupCommit, _options.GroupCommit);
    }

    public string Root => _root;

    /// <summary>The names behind the enrichment columns' ids, kept in the store's directory.</summary>
    public ISymbolTable Symbols { get; }


    void IFlowStore.Prepare() => ReserveChunks();

    IReadOnlyList<StoreMetric> IFlowStore.Metrics
    {
        get
        {
            var c = CompactionStats;
            lock (c)
            {
                return
                [
                    new("flowline_compaction_finals_total", "Partitions merged into their final segment.", "counter", c.Finals),
                    new("flowline_compaction_runs_total", "Group commits sorted into runs while their partition fills.", "counter", c.Runs),
                    new("flowline_compaction_rows_total", "Rows written by compaction (finals and runs).", "counter", c.Rows),
                    new("flowline_compaction_temporary_runs_total", "Temporary runs written because a merge did not fit the memory budget at once.", "counter", c.TemporaryRuns),
                    new("flowline_compaction_seconds_total", "Time spent merging.", "counter", c.Seconds),
                    new("flowline_compaction_errors_total", "Compaction passes that failed (retried at the next pass).", "counter", c.Errors),
                    new("flowline_compaction_memory_bytes", "Memory compaction may hold (compaction_memory).", "gauge", Merger.Budget),
                    new("flowline_rollup_tables_dropped_total", "Rollup tables not kept because their keys were too diverse for the memory budget.", "counter", c.RollupTablesDropped),
                    new("flowline_retention_partitions_expired_total", "Partitions removed by retention.", "counter", c.Expired),
                    new("flowline_retention_partitions_expired_on_arrival_total", "Partitions removed by retention that had been written to since the pass before (flows that arrived older than the retention).", "counter", c.ExpiredOnArrival),
                    new("flowline_segments_quarantined_total", "Damaged segments moved to the store's quarantine directory (their readable blocks are restored, the damaged blocks' rows left out).", "counter", QuarantinedCount),
                ];
            }
        }
    }

    private string QuarantineDirectory => Path.Combine(_root, "quarantine");

    /// <summary>
    /// The write sequence numbers a segment holds: <c>seg-N</c> holds N; a compacted <c>seg-A-B</c> holds every
    /// segment of its partition numbered A to B. A segment inside another's range is obsolete (compaction
    /// finished, its inputs not yet deleted) and is never read: the compacted file appears atomically, so
    /// each row is read exactly once whether a crash came before, during or after compaction.
    /// </summary>
    private static (long First, long Last) RangeOf(string segment)
    {
        var name = Path.GetFileNameWithoutExtension(segment).AsSpan(4);
        var dash = name.IndexOf('-');
        if (dash < 0)
        {
            return long.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? (n, n) : (0, 0);
        }
        return long.TryParse(name[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var a)
            && long.TryParse(name[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var b) ? (a, b) : (0, 0);
    }

    private static long SequenceOf(string segment) => RangeOf(segment).Last;

    private static bool IsCompacted(string segment) => Path.GetFileNameWithoutExtension(segment).AsSpan(4).Contains('-');

    private string PartitionDirectory(long partitionStart)
    {
        var t = DateTime.UnixEpoch.AddTicks(partitionStart * 10);
        return Path.Combine(_root, t.ToString("yyyyMMdd", CultureInfo.InvariantCulture), t.ToString("HHmm", CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// The partition of a row; a start beyond the calendar (which decoders never give, but a caller might) is
    /// kept in the first or last partition the calendar has, whose directory can be named.
    /// </summary>
    private long PartitionOf(long start) => Aggregator.FloorBucket(FlowTime.Clamp(start), PartitionMicros);

    /// <summary>Every live segment file outside quarantine, in write order.</summary>
    private List<string> Segments() => Live(AllSegments());

    private IEnumerable<string> AllSegments() => PartitionFiles("seg-*" + SegmentExtension);

    /// <summary>
    /// Files matching <paramref name="pattern"/> in the day directories (<c>yyyyMMdd</c>) and their partitions:
    /// not in quarantine, and not in another store kept inside this one's directory.
    /// </summary>
    private IEnumerable<string> PartitionFiles(string pattern)
    {
        foreach (var day in Directory.EnumerateDirectories(_root))
        {
            var name = Path.GetFileName(day.AsSpan());
            if (name.Length != 8 || name.ContainsAnyExceptInRange('0', '9')) continue;
            foreach (var file in Directory.EnumerateFiles(day, pattern, SearchOption.AllDirectories)) yield return file;
        }
    }

    /// <summary>Leaves out segments that a compacted segment of the same partition replaces.</summary>
    private static List<string> Live(IEnumerable<string> segments)
    {
        // Plain loops over a class: this runs at the start of every query, where LINQ over tuples costs compile time.
        // By partition directory first: a store keeps thousands of partitions (15 days of 1-minute ones is
        // 21,600), and only segments of the same partition can replace each other.
        var byDirectory = new Dictionary<string, List<SegmentName>>(StringComparer.Ordinal);
        var count = 0;
        foreach (var p in segments)
        {
            var name = new SegmentName(p);
            if (!byDirectory.TryGetValue(name.Directory, out var group)) byDirectory.Add(name.Directory, group = []);
            group.Add(name);
            count++;
        }
        var live = new List<SegmentName>(count);
        foreach (var group in byDirectory.Values)
        {
            foreach (var x in group)
            {
                var replaced = false;
                foreach (var c in group)
                {
                    if (c.Compacted && !ReferenceEquals(c, x) && c.First <= x.First && c.Last >= x.Last)
                    {
                        replaced = true;
                        break;
                    }
                }
                if (!replaced) live.Add(x);
            }
        }
        live.Sort(static (a, b) => a.First != b.First ? a.First.CompareTo(b.First) : a.Last.CompareTo(b.Last));
        var paths = new List<string>(live.Count);
        foreach (var x in live) paths.Add(x.Path);
        return paths;
    }

    private sealed class SegmentName
    {
        public SegmentName(string path)
        {
            Path = path;
            Directory = System.IO.Path.GetDirectoryName(path)!;
            (First, Last) = RangeOf(path);
            Compacted = IsCompacted(path);
        }

        public string Path { get; }
        public string Directory { get; }
        public long First { get; }
        public long Last { get; }
        public bool Compacted { get; }
    }

    /// <summary>Segments that compaction replaced, to delete once no scan can be reading them.</summary>
    private IEnumerable<string> Obsolete()
    {
        var all = AllSegments().ToList();
        return all.Except(Live(all));
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

    public void Dispose()
    {
        if (_disposed) return;
        if (!_options.ReadOnly)
        {
            _timer?.Dispose();
            Flush();
            lock (_compactLock)
            {
                DeleteObsolete();
                _compactor?.Dispose();
            }
            _writer?.Dispose();
        }
        _disposed = true;
    }
}

/// <summary>Another process writes the store: serve, import, or store compact/expire/verify.</summary>
public sealed class StoreLockedException(string root) : IOException(
    $"the store at {root} is being written by another process (flowline serve, import or store compact/expire/verify): " +
    "stop it first; flowline query and store stats only read, and run beside it");
