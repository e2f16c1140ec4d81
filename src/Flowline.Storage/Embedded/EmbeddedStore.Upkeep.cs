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
        return new StoreStats(partitions, segments.Count, rows, bytes, first, last, Directory.Exists(QuarantineDirectory) ? Directory.EnumerateFiles(QuarantineDirectory).Count() : 0);
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
                var hour = Aggregator.FloorBucket(start, Rollups.HourMicros);
                if (hour + Rollups.HourMicros <= before) File.Delete(HourRollupPath(hour));
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
}
