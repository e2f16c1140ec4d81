using Flowline.Query;
using Flowline.Records;

namespace Flowline.Storage.Embedded;

/// <summary>Listings and aggregations by plan, reading rollups where they give the same answer.</summary>
public sealed partial class EmbeddedStore
{
    public IEnumerable<FlowRecord> Rows(long from, long to, FilterNode filter, IReadOnlySet<FlowField>? columns = null, long limit = 0)
    {
        HashSet<FlowField>? needed = null;
        if (columns is not null)
        {
            needed = FilterColumns.Of(filter);
            needed.UnionWith(columns);
        }
        return QueryRunner.Rows(Scan(from, to, filter, needed), filter, limit);
    }

    /// <summary>
    /// Answers a grouping / top-N query. Per partition it reads a rollup table instead of the flows when
    /// the answer is the same: the filter and the keys use only the table's keys, nothing distinct is
    /// counted, and the time range and buckets fall on the table's boundaries (whole partitions for the
    /// partition-wide table, whole minutes for the per-minute one), and the groups' spans are not asked for
    /// (<see cref="FlowQuery.Span"/>). Flows appended to a partition after its compaction are read as flows.
    /// </summary>
    public Aggregator.AggregateResult Aggregate(long from, long to, FlowQuery query)
    {
        var aggregator = new Aggregator(query);
        var evaluator = new FilterEvaluator(query.Filter);
        var selection = Array.Empty<ulong>();
        HashSet<FlowField>? needed = null;
        if (query.CountDistinct is null && !query.Span)
        {
            needed = FilterColumns.Of(query.Filter);
            foreach (var k in query.GroupBy) needed.UnionWith(k.Reads);
        }
        var flows = new List<string>();
        var segments = Segments();
        if (needed is not null && HourRollupsApply && query.BucketMicros % Rollups.HourMicros == 0)
        {
            // Whole hours inside the range: one hourly table instead of twelve partition tables.
            var byHour = Hours(segments);
            var done = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (hour, inHour) in byHour)
            {
                if (hour < from || hour + Rollups.HourMicros > to) continue;
                if (CurrentHourRollups(hour, inHour)?.Best(needed, Rollups.HourMicros)?.Decode() is not { } decoded) continue;
                AddRollup(decoded.Rows, decoded.Flows, from, to, evaluator, aggregator, ref selection);
                done.UnionWith(inHour);
            }
            if (done.Count > 0) segments = segments.FindAll(s => !done.Contains(s));
        }
        foreach (var partition in Partitions(segments))
        {
            var start = PartitionStartOf(partition[0]);
            if (start is { } p && (p + PartitionMicros <= from || p >= to)) continue;
            var compacted = partition.Find(IsCompacted);
            var width = start is { } s0 && compacted is not null && needed is not null ? RollupWidth(s0, from, to, query.BucketMicros) : 0;
            var table = width > 0 ? Rollups.TryRead(compacted!)?.Best(needed!, width)?.Decode() : null;
            if (table is not { } decoded)
            {
                flows.AddRange(partition);
                continue;
            }
            AddRollup(decoded.Rows, decoded.Flows, from, to, evaluator, aggregator, ref selection);
            foreach (var segment in partition)
            {
                if (!ReferenceEquals(segment, compacted)) flows.Add(segment);
            }
        }
        if (flows.Count > 0)
        {
            foreach (var batch in ScanSegments(flows, from, to, query.Filter, FilterColumns.Of(query)))
            {
                var words = FilterEvaluator.Words(batch.Count);
                if (selection.Length < words) selection = new ulong[words];
                evaluator.Evaluate(batch, selection);
                aggregator.Add(batch, selection.AsSpan(0, words));
            }
        }
        return aggregator.Result();
    }

    private void AddRollup(FlowBatch rows, ulong[] flows, long from, long to, FilterEvaluator evaluator, Aggregator aggregator, ref ulong[] selection)
    {
        var words = FilterEvaluator.Words(rows.Count);
        if (selection.Length < words) selection = new ulong[words];
        evaluator.Evaluate(rows, selection);
        for (var i = 0; i < rows.Count; i++)
        {
            if (rows.Start[i] < from || rows.Start[i] >= to) selection[i >> 6] &= ~(1UL << (i & 63));
        }
        aggregator.Add(rows, selection.AsSpan(0, words), flows);
        Interlocked.Increment(ref _scanStats.RollupTables);
        Interlocked.Add(ref _scanStats.RollupRows, rows.Count);
    }

    /// <summary>
    /// The rollup bucket width that answers exactly for the part of partition [start, start + width) inside
    /// [from, to), or 0 when none does.
    /// </summary>
    private long RollupWidth(long start, long from, long to, long bucket)
    {
        var width = PartitionMicros;
        if (from <= start && start + width <= to && (bucket == 0 || bucket % width == 0)) return width;
        const long minute = Rollups.MinuteMicros;
        static bool OnMinute(long t) => t == long.MinValue || t == long.MaxValue || t % minute == 0;
        return OnMinute(from) && OnMinute(to) && (bucket == 0 || bucket % minute == 0) ? minute : 0;
    }

    /// <summary>Live segments grouped by partition directory, in write order within each.</summary>
    private static List<List<string>> Partitions(List<string> segments)
    {
        var byDirectory = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var order = new List<List<string>>();
        foreach (var s in segments)
        {
            var dir = Path.GetDirectoryName(s)!;
            if (!byDirectory.TryGetValue(dir, out var list))
            {
                list = [];
                byDirectory.Add(dir, list);
                order.Add(list);
            }
            list.Add(s);
        }
        return order;
    }
}
