using System.Globalization;
using Flowline.Query;
using Flowline.Storage.Segments;
using Flowline.Records;

namespace Flowline.Storage.Embedded;

/// <summary>What the store holds, and its upkeep: statistics, column sizes, retention and verification.</summary>
public sealed partial class EmbeddedStore
{
    public StoreStats Stats()
    {
        var segments = Segments().ToList();
        var unreadable = new List<string>();
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
                // Left out of the figures, and named: verify moves it to quarantine.
                unreadable.Add(s);
            }
        }
        var partitions = segments.Select(Path.GetDirectoryName).Distinct().Count();
        return new StoreStats(partitions, segments.Count, rows, bytes, first, last, Directory.Exists(QuarantineDirectory) ? Directory.EnumerateFiles(QuarantineDirectory).Count() : 0)
        {
            Unreadable = unreadable,
        };
    }

    /// <summary>Bytes on disk per column (with each column's header) over all live segments.</summary>
    public IReadOnlyDictionary<FlowField, long> ColumnSizes()
    {
        var sizes = new long[SegmentFile.Columns.Length];
        foreach (var path in Segments())
        {
            try
            {
                using var reader = new SegmentFile.Reader(path);
                for (var i = 0; i < reader.Blocks.Length; i++) reader.AddColumnSizes(i, sizes);
            }
            catch (SegmentCorruptException)
            {
                // Counted by verify.
            }
        }
        return SegmentFile.Columns.ToDictionary(f => f, f => sizes[(int)f]);
    }

    /// <summary>
    /// Drops every partition that ends at or before <paramref name="before"/>. Each goes in one step: its
    /// directory is renamed out of the store (atomic), then deleted; a crash in between leaves it in
    /// <c>expired/</c>, which the next open or pass empties. Hourly rollups of hours wholly before the cut go too.
    /// </summary>
    public int Expire(long before)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_options.ReadOnly) throw new InvalidOperationException("the store was opened read-only");
        var dropped = 0;
        var onArrival = 0;
        lock (_compactLock)
        {
            // Taken once the lock is held: partitions committed while a merge held it count for this pass.
            HashSet<long> arrived;
            lock (_arrivedLock) (arrived, _arrived) = (_arrived, []);
            PurgeExpired();
            ExpireQuarantined(before);
            foreach (var day in Directory.EnumerateDirectories(_root).ToList())
            {
                var dayName = Path.GetFileName(day);
                if (dayName.Length != 8 || dayName.AsSpan().ContainsAnyExceptInRange('0', '9')) continue;
                foreach (var dir in Directory.EnumerateDirectories(day).ToList())
                {
                    if (PartitionStartOf(Path.Combine(dir, "x")) is not { } start || start + PartitionMicros > before) continue;
                    var target = Path.Combine(ExpiredDirectory, $"{dayName}-{Path.GetFileName(dir)}-{Guid.NewGuid():N}");
                    Directory.CreateDirectory(ExpiredDirectory);
                    Directory.Move(dir, target);
                    AtomicFile.SyncDirectory(day);
                    Directory.Delete(target, recursive: true);
                    dropped++;
                    if (arrived.Contains(start)) onArrival++;
                }
                foreach (var hourFile in Directory.EnumerateFiles(day, "*-hour.rollup").ToList())
                {
                    var name = Path.GetFileName(hourFile);
                    if (!DateTime.TryParseExact(dayName + name[..2], "yyyyMMddHH", CultureInfo.InvariantCulture,
                            DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t)) continue;
                    if ((t - DateTime.UnixEpoch).Ticks / 10 + Rollups.HourMicros <= before) File.Delete(hourFile);
                }
                if (!Directory.EnumerateFileSystemEntries(day).Any()) Directory.Delete(day);
            }
            _facts.Clear();
        }
        lock (CompactionStats)
        {
            CompactionStats.Expired += dropped;
            CompactionStats.ExpiredOnArrival += onArrival;
        }
        return dropped;
    }

    private readonly object _arrivedLock = new();

    /// <summary>Partitions committed to since the last <see cref="Expire"/> (at most <see cref="MaxArrivals"/>).</summary>
    private HashSet<long> _arrived = [];

    private const int MaxArrivals = 100_000;

    private void NoteArrival(long partition)
    {
        lock (_arrivedLock)
        {
            if (_arrived.Count < MaxArrivals) _arrived.Add(partition);
        }
    }

    /// <summary>
    /// Partitions retention removed that had been written to since the pass before: flows that arrived already
    /// older than the retention (an exporter's clock behind, or old traffic replayed), stored only to be dropped.
    /// </summary>
    public long ExpiredOnArrival
    {
        get
        {
            lock (CompactionStats) return CompactionStats.ExpiredOnArrival;
        }
    }

    private string ExpiredDirectory => Path.Combine(_root, "expired");

    /// <summary>Deletes what a retention pass interrupted by a crash left behind.</summary>
    private void PurgeExpired()
    {
        if (!Directory.Exists(ExpiredDirectory)) return;
        foreach (var left in Directory.EnumerateDirectories(ExpiredDirectory).ToList()) Directory.Delete(left, recursive: true);
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
                Quarantine(path, e.Message);
            }
        }
        // What can still be read of those, and of segments a query or compaction quarantined before, goes back.
        List<Salvaged> salvaged;
        lock (_compactLock) salvaged = SalvageQuarantined();
        foreach (var (original, outcome, _) in salvaged)
        {
            var found = problems.FindIndex(p => p.Path == original && p.Outcome == "quarantined");
            if (found >= 0) problems[found] = problems[found] with { Outcome = $"quarantined; {outcome}" };
            else problems.Add(new StoreProblem(original, -1, StoreProblem.QuarantinedBefore, outcome, Damaged: false));
        }
        // Rollups only speed answers up (a query reads the flows when a table does not decode), but one whose
        // checksum fails is rebuilt rather than left to slow every query that could use it; so is one of format 1,
        // whose tables' headers (keys, bucket width) no checksum covers.
        foreach (var rollup in PartitionFiles("*.rollup").ToList())
        {
            var reason = Rollups.Damage(rollup, out var format);
            if (reason is null && format != 1) continue;
            if (_options.ReadOnly)
            {
                if (reason is not null) problems.Add(new StoreProblem(rollup, -1, reason, "left as it is: read-only"));
                continue;
            }
            var segment = Path.ChangeExtension(rollup, SegmentExtension);
            var hourly = rollup.EndsWith(HourRollupSuffix, StringComparison.Ordinal);
            var rebuilt = !hourly && File.Exists(segment);
            File.Delete(rollup);
            if (rebuilt) RebuildRollups(segment);
            var outcome = hourly ? "removed; the next compaction sums the hour again" : rebuilt ? "rebuilt from the segment's flows" : "removed with its segment";
            problems.Add(reason is null
                ? new StoreProblem(rollup, -1, "format 1, whose table headers no checksum covers", outcome, Damaged: false)
                : new StoreProblem(rollup, -1, reason, outcome));
        }
        return problems;
    }
}
