using System.Globalization;
using Flowline.Query;
using Flowline.Storage.Segments;
using Flowline.Records;

namespace Flowline.Storage.Embedded;

/// <summary>Compaction of closed partitions into sorted segments with rollups, and removal of what they replace.</summary>
public sealed partial class EmbeddedStore
{
    /// <summary>
    /// Merges the segments of each partition that ends at or before <paramref name="before"/> (all
    /// partitions by default) into one segment in <see cref="RowOrder"/>: fewer files, tighter zone maps,
    /// better compression. Partitions already in one compacted segment are left alone. Safe against
    /// crashes at any point (see <see cref="RangeOf"/>) and against concurrent appends and scans.
    /// </summary>
    /// <returns>The partitions compacted.</returns>
    /// <param name="quietFor">Only partitions that received no segment for this long (a collector compacts what stopped changing).</param>
    public int Compact(long before = long.MaxValue, IProgress<string>? progress = null, CancellationToken cancel = default, TimeSpan? quietFor = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_options.ReadOnly) throw new InvalidOperationException("the store was opened read-only");
        var compacted = 0;
        lock (_compactLock)
        {
            var byPartition = Segments().GroupBy(p => Path.GetDirectoryName(p)!).ToList();
            foreach (var group in byPartition)
            {
                var inputs = group.ToList();
                var start = PartitionStartOf(inputs[0]);
                if (start is null || (before != long.MaxValue && start.Value + PartitionMicros > before)) continue;
                if (quietFor is { } quiet && inputs.Max(File.GetLastWriteTimeUtc) > DateTime.UtcNow - quiet) continue;
                if (inputs.Count == 1 && IsCompacted(inputs[0]))
                {
                    if (!File.Exists(Rollups.PathFor(inputs[0]))) RebuildRollups(inputs[0]);
                    continue;
                }
                progress?.Report($"compacting {Path.GetRelativePath(_root, group.Key)}: {inputs.Count} segments");
                CompactPartition(group.Key, inputs, cancel);
                compacted++;
            }
            BuildHourRollups(before, progress);
            DeleteObsolete();
        }
        return compacted;
    }

    private readonly object _compactLock = new();

    private void CompactPartition(string directory, List<string> inputs, CancellationToken cancel)
    {
        var first = inputs.Min(p => RangeOf(p).First);
        var last = inputs.Max(p => RangeOf(p).Last);
        var output = Path.Combine(directory, $"seg-{first:D12}-{last:D12}{SegmentExtension}");
        var readers = new List<SegmentFile.Reader>();
        try
        {
            foreach (var p in inputs)
            {
                try
                {
                    readers.Add(new SegmentFile.Reader(p));
                }
                catch (SegmentCorruptException)
                {
                    Quarantine(p);
                    // Compacting around a corrupt segment would let the merged file claim its sequence range.
                    return;
                }
            }
            try
            {
                var rollups = new Rollups.Builder(PartitionMicros);
                Compaction.SegmentMerger.Merge(readers, output, _options.BlockRows, _options.Codec, rollups.Add, cancel);
                // After the segment: a crash in between leaves a segment without rollups, which the next
                // compaction completes (queries read its flows meanwhile).
                rollups.Write(output);
            }
            catch (SegmentCorruptException e)
            {
                Quarantine(e.Path);
            }
        }
        finally
        {
            foreach (var r in readers) r.Dispose();
        }
    }

    /// <summary>Where the hourly rollup of the hour starting at <paramref name="hourStart"/> lives.</summary>
    private string HourRollupPath(long hourStart)
    {
        var t = DateTime.UnixEpoch.AddTicks(hourStart * 10);
        return Path.Combine(_root, t.ToString("yyyyMMdd", CultureInfo.InvariantCulture), t.ToString("HH", CultureInfo.InvariantCulture) + "-hour.rollup");
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
    /// hourly table no longer matches and is not used (the next compaction rebuilds it).
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
            var builder = new Rollups.Builder([Rollups.HourMicros]);
            var complete = true;
            foreach (var segment in segments)
            {
                var tables = Rollups.TryRead(segment);
                if (tables is null)
                {
                    complete = false;
                    break;
                }
                foreach (var table in tables.Tables)
                {
                    if (table.Width == PartitionMicros) builder.Add(table);
                }
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
            var rollups = new Rollups.Builder(PartitionMicros);
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
            Quarantine(e.Path);
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
