using Flowline.Query;
using Flowline.Records;
using static Flowline.Testing.RandomFlows;

namespace Flowline.Storage.Tests.Conformance;

/// <summary>
/// The behaviour every <see cref="IFlowStore"/> engine must have, written against the interface only:
/// seeded random records are appended, then seeded random queries (filters, time ranges, groupings,
/// top-N, buckets, limits) must give exactly what a naive in-memory evaluation gives. An engine runs it
/// by deriving a class that says how to open it.
/// </summary>
public abstract class StoreConformanceTests : IDisposable
{
    private const long Minute = 60_000_000;
    private readonly List<FlowRecord> _records;

    protected StoreConformanceTests()
    {
        _records = Flowline.Testing.RandomFlows.Records(new Random(20261121), 24_000);
        for (var i = 0; i < _records.Count; i++)
        {
            var r = _records[i];
            r.SampledPackets = (ulong)i; // an identity for each record
            // No next hop, an exporter's 0.0.0.0 (one group with none), and real ones of both families.
            (r.SrcMask, r.DstMask) = ((byte)(i % 7 * 6), (byte)(i % 5 * 16)); // 0 ... 36 and 0 ... 64: every family's cases
            r.NextHop = (i % 4) switch { 0 => default, 1 => FlowAddress.FromV4(0), 2 => FlowAddress.FromV4(0x0A090901u + (uint)(i % 3)), _ => FlowAddress.Parse("fd00::1") };
            _records[i] = r;
        }
    }

    protected DirectoryInfo Directory { get; } = System.IO.Directory.CreateTempSubdirectory("flowline-conformance-");

    /// <summary>Opens the engine under test, empty.</summary>
    protected abstract IFlowStore Open();

    /// <summary>What the engine does after appends in normal operation (compaction, merges); nothing by default.</summary>
    protected virtual void Settle(IFlowStore store)
    {
    }

    public void Dispose()
    {
        Directory.Delete(recursive: true);
        GC.SuppressFinalize(this);
    }

    protected IReadOnlyList<FlowRecord> Records => _records;

    protected IFlowStore Loaded()
    {
        var store = Open();
        // Several appends and commits, out of time order, so that partitions hold several pieces.
        foreach (var chunk in _records.Chunk(3000).Reverse())
        {
            var b = new FlowBatch(chunk.Length);
            foreach (var r in chunk) b.Add(r);
            store.Append(b);
            store.Flush();
        }
        Settle(store);
        return store;
    }

    private (long From, long To) Range(Random random)
    {
        var first = _records.Min(r => r.Start);
        var last = _records.Max(r => r.Start);
        long Point() => first + (long)(random.NextDouble() * (last - first));
        switch (random.Next(4))
        {
            case 0:
                return (long.MinValue, long.MaxValue);
            case 1:
            {
                // Whole minutes: a rollup may answer.
                var a = Point() / Minute * Minute;
                return (a, a + random.Next(1, 40) * Minute);
            }
            default:
            {
                var a = Point();
                return (a, a + (long)(random.NextDouble() * (last - first)));
            }
        }
    }

    [Fact]
    public void Random_listings_return_exactly_the_matching_records()
    {
        using var store = Loaded();
        var random = new Random(5);
        for (var q = 0; q < 120; q++)
        {
            var (text, test) = Filter(random);
            var (from, to) = Range(random);
            var expected = _records.Where(r => r.Start >= from && r.Start < to && test(r)).Select(r => r.SampledPackets).Order().ToList();
            var columns = new HashSet<FlowField> { FlowField.SampledPackets, FlowField.Bytes };
            var rows = store.Rows(from, to, FilterParser.Parse(text), columns).ToList();
            Assert.True(expected.SequenceEqual(rows.Select(r => r.SampledPackets).Order()), $"query {q}: '{text}' [{from}, {to}) gave {rows.Count} records, expected {expected.Count}");
            Assert.All(rows, r => Assert.Equal(_records[(int)r.SampledPackets].Bytes, r.Bytes));
            var limit = random.Next(1, 50);
            var some = store.Rows(from, to, FilterParser.Parse(text), columns, limit).Select(r => r.SampledPackets).ToList();
            Assert.Equal(Math.Min(limit, expected.Count), some.Count);
            Assert.Subset(expected.ToHashSet(), some.ToHashSet());
        }
    }

    [Fact]
    public void Time_windows_select_the_flows_that_start_and_end_inside_them()
    {
        using var store = Loaded();
        var random = new Random(11);
        var first = _records.Min(r => r.Start) / 1000;
        var last = _records.Max(r => r.End) / 1000;
        var columns = new HashSet<FlowField> { FlowField.SampledPackets };
        for (var q = 0; q < 20; q++)
        {
            var a = first + (long)(random.NextDouble() * (last - first));
            var b = q == 0 ? a : a + (long)(random.NextDouble() * (last - a));
            // Half of them also with a filter, as `query -t WINDOW FILTER` combines them.
            var (text, test) = q % 2 == 0 ? ("", (Func<FlowRecord, bool>)(_ => true)) : Filter(random);
            var parsed = FilterParser.Parse(text);
            var filter = new FilterNode.And(parsed, new FilterNode.Window(a, b));
            var inside = _records.Where(r => r.Start / 1000 >= a && r.End / 1000 <= b && test(r)).ToList();
            var rows = store.Rows(long.MinValue, long.MaxValue, filter, columns).Select(r => r.SampledPackets).Order().ToList();
            Assert.True(inside.Select(r => r.SampledPackets).Order().SequenceEqual(rows), $"window {q} [{a}, {b}] ms '{text}': {rows.Count} rows, expected {inside.Count}");
            var sums = store.Aggregate(long.MinValue, long.MaxValue, new FlowQuery { Filter = filter });
            Assert.Equal((ulong)inside.Count, sums.Aggregate(0UL, (s, g) => s + g.Flows));
            Assert.Equal(inside.Aggregate(0UL, (s, r) => s + r.Bytes), sums.Aggregate(0UL, (s, g) => s + g.Bytes));
        }
    }

    [Theory]
    [InlineData("next_hop")]
    [InlineData("next_hop/8")]
    public void No_next_hop_and_0_0_0_0_are_one_group(string key)
    {
        using var store = Loaded();
        GroupKey.TryParse(key, out var g, out _);
        var groups = store.Aggregate(long.MinValue, long.MaxValue, new FlowQuery { GroupBy = [g] })
            .ToDictionary(r => RenderKey(r.Keys[0], g), r => r.Flows);
        var expected = _records.GroupBy(r => NaiveKey(r, g)).ToDictionary(x => x.Key, x => (ulong)x.Count());
        Assert.Equal(expected.OrderBy(e => e.Key), groups.OrderBy(e => e.Key));
        Assert.Equal((ulong)_records.Count(r => r.NextHop.IsNone || r.NextHop == FlowAddress.FromV4(0)), groups["0.0.0.0"]);
    }

    [Fact]
    public void Random_aggregations_equal_a_naive_group_by()
    {
        using var store = Loaded();
        var random = new Random(9);
        string[] keyChoices = ["src_addr", "dst_addr", "srcip/24", "dst_addr/16/64", "dst_port", "src_port", "proto", "in_if", "vlan", "next_hop", "next_hop/24", "srcnet", "dstnet"];
        for (var q = 0; q < 160; q++)
        {
            // Half the queries have the shapes rollups answer: no filter or a protocol, usual keys.
            var simple = random.Next(2) == 0;
            var (text, test) = simple
                ? random.Next(2) == 0 ? ("", (Func<FlowRecord, bool>)(_ => true)) : ("proto tcp", r => r.IpProto == 6)
                : Filter(random);
            var keys = simple
                ? new[] { "src_addr", "dst_addr", "dst_port", "src_port", "proto" }.OrderBy(_ => random.Next()).Take(random.Next(0, 2)).ToArray()
                : keyChoices.OrderBy(_ => random.Next()).Take(random.Next(0, 3)).ToArray();
            if (simple && keys is ["dst_port" or "src_port"] && random.Next(2) == 0) keys = [.. keys, "proto"];
            var groupBy = keys.Select(k => GroupKey.TryParse(k, out var g, out var e) ? g : throw new InvalidOperationException(e)).ToArray();
            // Bytes, packets, flows, or nfdump's rates; a third of the others also keep each group's span.
            var metric = (Metric)random.Next(6);
            var span = metric is Metric.Pps or Metric.Bps || random.Next(3) == 0;
            var limit = random.Next(3) == 0 ? 0 : random.Next(1, 20);
            var bucket = random.Next(4) switch { 0 => 0, 1 => Minute, 2 => 10 * Minute, _ => 60 * Minute };
            var distinct = !simple && random.Next(3) == 0;
            var (from, to) = Range(random);
            var query = new FlowQuery
            {
                Filter = FilterParser.Parse(text), GroupBy = groupBy, OrderBy = metric, Limit = limit, BucketMicros = bucket,
                CountDistinct = distinct ? FlowField.SrcPort : null, Span = span,
            };
            var actual = store.Aggregate(from, to, query);

            var expected = _records.Where(r => r.Start >= from && r.Start < to && test(r))
                .GroupBy(r => (Bucket: bucket > 0 ? r.Start - r.Start % bucket : 0, Key: string.Join("|", groupBy.Select(g => NaiveKey(r, g)))))
                .Select(g => (g.Key.Bucket, g.Key.Key, Bytes: g.Aggregate(0UL, (s, r) => s + r.Bytes), Packets: g.Aggregate(0UL, (s, r) => s + r.Packets),
                    Flows: (ulong)g.Count(), Distinct: (ulong)g.Select(r => r.SrcPort).Distinct().Count(), First: g.Min(r => r.Start), Last: g.Max(r => r.End)))
                .ToList();
            var context = $"query {q}: '{text}' by [{string.Join(',', keys)}] bucket {bucket} limit {limit} order {metric} span {span} over [{from}, {to})";
            if (limit == 0) Assert.True(expected.Count == actual.Count, $"{context}: {actual.Count} groups, expected {expected.Count}");
            var byKey = expected.ToDictionary(e => (e.Bucket, e.Key));
            foreach (var row in actual)
            {
                var key = string.Join("|", row.Keys.Select((k, i) => RenderKey(k, groupBy[i])));
                Assert.True(byKey.TryGetValue((row.BucketStart, key), out var e), $"{context}: group {key} is not in the naive answer");
                Assert.True((e.Bytes, e.Packets, e.Flows, distinct ? e.Distinct : 0) == (row.Bytes, row.Packets, row.Flows, row.Distinct), $"{context}: group {key} sums differ");
                if (span) Assert.True((e.First, e.Last) == (row.First, row.Last), $"{context}: group {key} spans ({row.First}, {row.Last}), expected ({e.First}, {e.Last})");
            }
            foreach (var perBucket in actual.GroupBy(r => r.BucketStart))
            {
                var naiveTop = expected.Where(e => e.Bucket == perBucket.Key)
                    .Select(e => Aggregator.Rate(metric, e.Bytes, e.Packets, e.Flows, e.First, e.Last))
                    .OrderByDescending(v => v).Take(limit > 0 ? limit : int.MaxValue).ToList();
                Assert.Equal(naiveTop, perBucket.Select(r => r.Value(metric)).ToList());
            }
        }
    }
}
