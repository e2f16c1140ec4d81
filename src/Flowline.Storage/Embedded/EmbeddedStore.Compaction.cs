using System.Globalization;
using Flowline.Query;
using Flowline.Storage.Compaction;
using Flowline.Storage.Segments;
using Flowline.Records;

namespace Flowline.Storage.Embedded;

/// <summary>
/// Compaction (docs/STORE.md): group commits are sorted into runs while their partition fills, and a
/// partition that has closed is merged into one final segment with its rollups; all of it in memory
/// bounded by <see cref="EmbeddedStoreOptions.CompactionMemory"/>. Every output appears atomically under
/// the name of the sequence range it replaces (see <see cref="RangeOf"/>), so a crash at any point leaves
/// each row readable exactly once.
/// </summary>
public sealed partial class EmbeddedStore
{
    private readonly object _compactLock = new();
    private Compactor? _compactor;
    /// <summary>Header facts of segments (immutable files), by path; pruned to the live ones at each pass.</summary>
    private readonly Dictionary<string, Facts> _facts = new(StringComparer.Ordinal);

    private readonly record struct Facts(bool Sorted, bool Run, long Rows);

    private Compactor Merger => _compactor ??= NewCompactor();

    /// <summary>What the rollup tables of one compaction may hold together: an eighth of the budget, unless set.</summary>
    private long RollupMemory => _options.RollupMemory ?? Merger.RollupBudget;

    private Compactor NewCompactor()
    {
        // Small budgets sort and merge in smaller chunks, so that a merge still takes many runs at once.
        var chunkRows = _options.CompactionChunkRows ?? (_options.CompactionMemory < 256L << 20 ? 1024 : Compactor.DefaultChunkRows);
        return new Compactor(Math.Max(_options.CompactionMemory, Compactor.MinimumBudget(_options.BlockRows, chunkRows)), _options.BlockRows, chunkRows);
    }

    /// <summary>What compaction has done since the store was opened, for /metrics.</summary>
    public CompactionStatistics CompactionStats { get; } = new();

    public sealed class CompactionStatistics
    {
        public long Finals, Runs, Rows, TemporaryRuns, RollupTablesDropped, Expired, ExpiredOnArrival, Errors;
        public double Seconds;
    }

    /// <summary>
    /// Merges the segments of each partition that ends at or before <paramref name="before"/> (all
    /// partitions by default) into one final segment in <see cref="RowOrder"/> with its rollups: fewer
    /// files, tighter zone maps, better compression. Partitions already in one final segment are left
    /// alone. Safe against crashes at any point and against concurrent appends and scans.
    /// </summary>
    /// <returns>The partitions compacted.</returns>
    public int Compact(long before = long.MaxValue, IProgress<string>? progress = null, CancellationToken cancel = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_options.ReadOnly) throw new InvalidOperationException("the store was opened read-only");
        var compacted = 0;
        lock (_compactLock)
        {
            foreach (var partition in Partitions(Segments()))
            {
                var start = PartitionStartOf(partition[0]);
                if (start is null || (before != long.MaxValue && start.Value + PartitionMicros > before)) continue;
                if (Final(partition) is { } final)
                {
                    if (!File.Exists(Rollups.PathFor(final))) RebuildRollups(final);
                    continue;
                }
                progress?.Report($"compacting {Path.GetRelativePath(_root, Path.GetDirectoryName(partition[0])!)}: {partition.Count} segments");
                if (MergeSegments(partition, run: false, cancel)) compacted++;
            }
            BuildHourRollups(before, progress);
            DeleteObsolete();
        }
        return compacted;
    }

    /// <summary>
    /// One step of a collector's background compaction, the most useful first: a partition that closed
    /// (its end has passed and no commit came for <paramref name="quietFor"/>) merged into its final
    /// segment; else a partition's gathered commits sorted into a run; else too many runs merged into one.
    /// </summary>
    /// <returns>Whether it did something (call again) or found nothing due.</returns>
    /// <param name="finals">False: only runs (tests reach a store of runs and commits this way).</param>
    public bool MaintainStep(TimeSpan quietFor, CancellationToken cancel = default, Action<string>? log = null, bool finals = true)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_options.ReadOnly) return false;
        lock (_compactLock)
        {
            // One quarantined segment a step: the commits, retention and compaction are not held up by a backlog.
            if (SalvageDue() && SalvageQuarantined(max: 1) is { Count: > 0 } salvaged)
            {
                foreach (var (original, outcome, _) in salvaged) log?.Invoke($"salvage: {Relative(original)} (quarantined): {outcome}");
                return true;
            }
            var now = DateTime.UtcNow;
            var nowMicros = (now - DateTime.UnixEpoch).Ticks / 10;
            var partitions = Partitions(Segments());
            partitions.Sort((a, b) => (PartitionStartOf(a[0]) ?? 0).CompareTo(PartitionStartOf(b[0]) ?? 0));
            PruneFacts(partitions);
            foreach (var partition in partitions)
            {
                if (!finals) break;
                if (PartitionStartOf(partition[0]) is not { } start || start + PartitionMicros > nowMicros) continue;
                if (LastCommit(partition) > now - quietFor) continue;
                if (Final(partition) is { } final)
                {
                    if (File.Exists(Rollups.PathFor(final))) continue;
                    RebuildRollups(final);
                    return true;
                }
                if (!Described(partition)) continue;
                var watch = System.Diagnostics.Stopwatch.StartNew();
                var rows = partition.Sum(s => _facts[s].Rows);
                if (!MergeSegments(partition, run: false, cancel)) continue;
                log?.Invoke($"compaction: {Relative(Path.GetDirectoryName(partition[0])!)} merged from {partition.Count} segments, {rows:N0} rows, in {watch.Elapsed.TotalSeconds:0.0} s");
                // Hourly tables for hours that have ended: summing an hour's partitions again after each
                // one of them closes would cost a collector as much as it saves a query.
                BuildHourRollups(Aggregator.FloorBucket(nowMicros, Rollups.HourMicros), null);
                DeleteObsolete();
                return true;
            }
            foreach (var partition in partitions)
            {
                if (!Described(partition)) continue;
                if (NextRun(partition) is not { } inputs) continue;
                if (!MergeSegments(inputs, run: true, cancel)) continue;
                DeleteObsolete();
                return true;
            }
            return false;
        }
    }

    bool IFlowStore.Maintain(TimeSpan quietFor, CancellationToken cancel, Action<string>? log) => MaintainStep(quietFor, cancel, log);

    /// <summary>
    /// The segments of a partition to merge into a run now, or null: the oldest consecutive commits once
    /// <see cref="EmbeddedStoreOptions.CommitsPerRun"/> of them or a sort buffer's worth have gathered; or the oldest runs once
    /// there are more than one merge can take.
    /// </summary>
    private List<string>? NextRun(List<string> partition)
    {
        var sortRows = Merger.SortRows;
        for (var i = 0; i < partition.Count;)
        {
            if (_facts[partition[i]].Sorted)
            {
                i++;
                continue;
            }
            var j = i;
            long rows = 0;
            while (j < partition.Count && !_facts[partition[j]].Sorted) rows += _facts[partition[j++]].Rows;
            if (j - i >= _options.CommitsPerRun || rows >= sortRows)
            {
                var take = new List<string>();
                long taken = 0;
                for (var k = i; k < j; k++)
                {
                    var r = _facts[partition[k]].Rows;
                    if (take.Count > 0 && taken + r > sortRows) break;
                    take.Add(partition[k]);
                    taken += r;
                }
                return take;
            }
            i = j;
        }
        // Sorted commits are merged as they are; once a partition holds more sorted inputs than its final
        // merge could take at once, the oldest commits that fit one merge become a run.
        // Only consecutive commits are merged: an output takes the name of the sequence range it replaces.
        var commitFanIn = Merger.FanInFor(_options.CommitBlockRows);
        bool SortedCommit(string segment) => _facts[segment] is { Sorted: true, Run: false } && !IsCompacted(segment);
        var inputs = partition.Count(s => _facts[s].Run || SortedCommit(s));
        for (var i = 0; inputs > commitFanIn && i < partition.Count;)
        {
            var j = i;
            while (j < partition.Count && SortedCommit(partition[j])) j++;
            if (j - i >= 2) return partition.GetRange(i, Math.Min(j - i, commitFanIn));
            i = j + 1;
        }
        var fanIn = Merger.RunFanIn;
        for (var i = 0; i < partition.Count;)
        {
            if (!_facts[partition[i]].Run)
            {
                i++;
                continue;
            }
            var j = i;
            while (j < partition.Count && _facts[partition[j]].Run) j++;
            if (j - i > fanIn) return partition.GetRange(i, fanIn);
            i = j;
        }
        return null;
    }

    /// <summary>The partition's single final segment, or null when it holds anything else.</summary>
    private string? Final(List<string> partition) =>
        partition.Count == 1 && IsCompacted(partition[0]) && Describe(partition[0]) is { Run: false } ? partition[0] : null;

    /// <summary>When the newest group commit of a partition was written (compaction's own outputs do not count).</summary>
    private static DateTime LastCommit(List<string> partition)
    {
        var last = DateTime.MinValue;
        foreach (var s in partition)
        {
            if (IsCompacted(s)) continue;
            var t = File.GetLastWriteTimeUtc(s);
            if (t > last) last = t;
        }
        return last;
    }

    private Facts? Describe(string segment)
    {
        if (_facts.TryGetValue(segment, out var known)) return known;
        try
        {
            using var reader = new SegmentFile.Reader(segment);
            var facts = new Facts(reader.Sorted, reader.Run, reader.Rows);
            _facts[segment] = facts;
            return facts;
        }
        catch (SegmentCorruptException e)
        {
            Quarantine(segment, e.Message);
            return null;
        }
    }

    /// <summary>Whether every segment of the partition could be described (a corrupt one is quarantined and the partition waits for the next pass).</summary>
    private bool Described(List<string> partition)
    {
        foreach (var s in partition)
        {
            if (Describe(s) is null) return false;
        }
        return true;
    }

    private void PruneFacts(List<List<string>> partitions)
    {
        var live = new HashSet<string>(partitions.SelectMany(p => p), StringComparer.Ordinal);
        foreach (var stale in _facts.Keys.Where(k => !live.Contains(k)).ToList()) _facts.Remove(stale);
    }

    /// <summary>
    /// Merges <paramref name="inputs"/> (consecutive live segments of one partition) into one segment named
    /// for the sequence range they cover: a run, or the partition's final segment with its rollups.
    /// </summary>
    /// <returns>False when a corrupt input was quarantined instead (its partition is merged at a later pass).</returns>
    private bool MergeSegments(List<string> inputs, bool run, CancellationToken cancel)
    {
        var directory = Path.GetDirectoryName(inputs[0])!;
        var first = inputs.Min(p => RangeOf(p).First);
        var last = inputs.Max(p => RangeOf(p).Last);
        var output = Path.Combine(directory, $"seg-{first:D12}-{last:D12}{SegmentExtension}");
        var readers = new List<SegmentFile.Reader>();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var merger = Merger;
        var spilled = merger.RunsWritten;
        try
        {
            foreach (var p in inputs)
            {
                try
                {
                    readers.Add(new SegmentFile.Reader(p));
                }
                catch (SegmentCorruptException e)
                {
                    // Merging around a corrupt segment would let the output claim its sequence range.
                    Quarantine(p, e.Message);
                    return false;
                }
            }
            var rollups = run ? null : new Rollups.Builder(PartitionMicros, RollupMemory);
            long rows;
            try
            {
                rows = merger.Merge(readers, output, run ? SegmentCodec.Lz4 : _options.Codec, run,
                    n => Path.Combine(directory, $"compact-{n:D4}.tmp"), rollups is null ? null : rollups.Add, cancel);
            }
            catch (SegmentCorruptException e)
            {
                Quarantine(e.Path, e.Message);
                return false;
            }
            finally
            {
                _facts.Remove(output);
            }
            // After the segment: a crash in between leaves a final segment without rollups, which the next
            // pass completes (queries read its flows meanwhile).
            if (rollups is not null)
            {
                rollups.Write(output);
                CompactionStats.RollupTablesDropped += rollups.Dropped;
            }
            lock (CompactionStats)
            {
                if (run) CompactionStats.Runs++;
                else CompactionStats.Finals++;
                CompactionStats.Rows += rows;
                CompactionStats.TemporaryRuns += merger.RunsWritten - spilled;
                CompactionStats.Seconds += watch.Elapsed.TotalSeconds;
            }
            return true;
        }
        finally
        {
            foreach (var r in readers) r.Dispose();
        }
    }

    private const string HourRollupSuffix = "-hour.rollup";

    /// <summary>Where the hourly rollup of the hour starting at <paramref name="hourStart"/> lives.</summary>
    private string HourRollupPath(long hourStart)
    {
        var t = DateTime.UnixEpoch.AddTicks(hourStart * 10);
        return Path.Combine(_root, t.ToString("yyyyMMdd", CultureInfo.InvariantCulture), t.ToString("HH", CultureInfo.InvariantCulture) + HourRollupSuffix);
    }

    private bool HourRollupsApply => PartitionMicros < Rollups.HourMicros && Rollups.HourMicros % PartitionMicros == 0;

    /// <summary>Live segments grouped by the hour their partition starts in.</summary>
    private SortedDictionary<long, List<string>> Hours(List<string> segments)
    {
        var hours = new SortedDictionary<long, List<string>>();
        foreach (var s in segments)
        {
            if (PartitionStartOf(s) is not { } p) continue;
            var hour = Aggregator.FloorBucket(p, Rollups.HourMicros);
            if (!hours.TryGetValue(hour, out var list)) hours.Add(hour, list = []);
            list.Add(s);
        }
        return hours;
    }

    private string Relative(string segment) => Path.GetRelativePath(_root, segment).Replace(Path.DirectorySeparatorChar, '/');

    /// <summary>
    /// Sums the partition rollups of each hour that ends by <paramref name="before"/> and whose partitions are
    /// all compacted into an hourly table, recording which segments it sums: when one of them changes, the
    /// hourly table no longer matches and is not used (the next compaction rebuilds it). Only the key sets
    /// every partition of the hour kept (a partition drops a table whose keys are too diverse).
    /// </summary>
    private void BuildHourRollups(long before, IProgress<string>? progress)
    {
        if (!HourRollupsApply) return;
        foreach (var (hour, segments) in Hours(Segments()))
        {
            if (before != long.MaxValue && hour + Rollups.HourMicros > before) continue;
            if (!segments.TrueForAll(s => IsCompacted(s) && File.Exists(Rollups.PathFor(s)))) continue;
            if (segments.Count != segments.Select(Path.GetDirectoryName).Distinct().Count()) continue;
            var manifest = segments.Select(Relative).Order(StringComparer.Ordinal).ToList();
            var path = HourRollupPath(hour);
            if (Rollups.TryReadFile(path) is { } existing && existing.Manifest.SequenceEqual(manifest)) continue;
            var partitions = new List<Rollups>();
            foreach (var segment in segments)
            {
                if (Rollups.TryRead(segment) is not { } tables) break;
                partitions.Add(tables);
            }
            if (partitions.Count != segments.Count) continue;
            var common = Rollups.KeySets.Where(keys => partitions.TrueForAll(p =>
                p.Tables.Any(t => t.Width == PartitionMicros && t.Keys.AsSpan().SequenceEqual(keys)))).ToList();
            var builder = new Rollups.Builder([Rollups.HourMicros], RollupMemory, common);
            var complete = true;
            foreach (var tables in partitions)
            {
                foreach (var table in tables.Tables)
                {
                    if (table.Width != PartitionMicros || !common.Exists(k => k.AsSpan().SequenceEqual(table.Keys))) continue;
                    if (table.Decode() is null)
                    {
                        complete = false;
                        break;
                    }
                    builder.Add(table);
                }
                if (!complete) break;
            }
            if (!complete) continue;
            builder.WriteFile(path, manifest);
            progress?.Report($"hourly rollup {Path.GetRelativePath(_root, path)} from {segments.Count} partitions");
        }
    }

    /// <summary>The hourly rollup of an hour when it sums exactly the segments stored for that hour now.</summary>
    private Rollups? CurrentHourRollups(long hour, List<string> segments)
    {
        var tables = Rollups.TryReadFile(HourRollupPath(hour));
        if (tables is null) return null;
        var stored = segments.Select(Relative).Order(StringComparer.Ordinal).ToList();
        return tables.Manifest.SequenceEqual(stored) ? tables : null;
    }

    private void RebuildRollups(string segment)
    {
        try
        {
            using var reader = new SegmentFile.Reader(segment);
            var rollups = new Rollups.Builder(PartitionMicros, RollupMemory);
            var batch = new FlowBatch(_options.BlockRows);
            for (var i = 0; i < reader.Blocks.Length; i++)
            {
                batch.Clear();
                reader.ReadBlock(i, batch);
                rollups.Add(batch);
            }
            rollups.Write(segment);
        }
        catch (SegmentCorruptException e)
        {
            Quarantine(e.Path, e.Message);
        }
    }

    /// <summary>Deletes segments a compacted one replaces, unless a scan may still be reading them.</summary>
    private void DeleteObsolete()
    {
        if (Volatile.Read(ref _activeScans) > 0) return;
        var obsolete = Obsolete().ToList();
        // Rollups whose segment is gone (replaced, quarantined, or never renamed into place).
        foreach (var rollup in PartitionFiles("seg-*.rollup"))
        {
            if (!File.Exists(Path.ChangeExtension(rollup, SegmentExtension))) obsolete.Add(rollup);
        }
        foreach (var path in obsolete)
        {
            try
            {
                File.Delete(path);
                if (path.EndsWith(SegmentExtension, StringComparison.Ordinal)) File.Delete(Rollups.PathFor(path));
            }
            catch (IOException)
            {
                // Retried at the next compaction or open.
            }
        }
    }
}
