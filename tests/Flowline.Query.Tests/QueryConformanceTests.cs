using Flowline.Records;
using static Flowline.Testing.RandomFlows;

namespace Flowline.Query.Tests;

/// <summary>
/// Seeded random records and seeded random queries: the columnar filter evaluator and the aggregator
/// must give exactly what a naive evaluation gives. Each generated filter comes as text (parsed by the
/// product) together with its meaning as a plain predicate (the oracle), written independently here.
/// </summary>
public sealed class QueryConformanceTests
{

    [Fact]
    public void Random_filters_select_exactly_what_the_naive_predicate_selects()
    {
        var random = new Random(20261121);
        var records = Flowline.Testing.RandomFlows.Records(random, 5000);
        var batch = Batch(records);
        var selection = new ulong[FilterEvaluator.Words(batch.Count)];
        for (var q = 0; q < 400; q++)
        {
            var (text, test) = Filter(random);
            var evaluator = new FilterEvaluator(FilterParser.Parse(text));
            var count = evaluator.Evaluate(batch, selection);
            var expected = records.Select((r, i) => (r, i)).Where(x => test(x.r)).Select(x => x.i).ToList();
            var actual = Enumerable.Range(0, batch.Count).Where(i => (selection[i >> 6] & (1UL << (i & 63))) != 0).ToList();
            Assert.True(expected.SequenceEqual(actual), $"query {q}: '{text}' selected {actual.Count} rows, the naive predicate {expected.Count}");
            Assert.Equal(expected.Count, count);
        }
    }

    [Fact]
    public void Random_aggregations_equal_naive_group_by()
    {
        var random = new Random(7);
        var records = Flowline.Testing.RandomFlows.Records(random, 4000);
        var batch = Batch(records);
        var selection = new ulong[FilterEvaluator.Words(batch.Count)];
        string[] keyChoices = ["src_addr", "dst_addr", "srcip/24", "dst_addr/16/64", "dst_port", "proto", "in_if", "src_port", "vlan"];
        for (var q = 0; q < 150; q++)
        {
            var (text, test) = Filter(random);
            var keys = keyChoices.OrderBy(_ => random.Next()).Take(random.Next(0, 3)).ToArray();
            var groupBy = keys.Select(k => GroupKey.TryParse(k, out var g, out var e) ? g : throw new InvalidOperationException(e)).ToArray();
            var metric = (Metric)random.Next(3);
            var limit = random.Next(3) == 0 ? 0 : random.Next(1, 20);
            var bucket = random.Next(3) == 0 ? 600_000_000L : 0;
            var distinct = random.Next(2) == 0;
            var query = new FlowQuery { Filter = FilterParser.Parse(text), GroupBy = groupBy, OrderBy = metric, Limit = limit, BucketMicros = bucket, CountDistinct = distinct ? FlowField.SrcPort : null };

            var aggregator = new Aggregator(query);
            new FilterEvaluator(query.Filter).Evaluate(batch, selection);
            aggregator.Add(batch, selection);
            var actual = aggregator.Result();

            // Naive: LINQ over the records with the generator's predicate.
            var expected = records.Where(test)
                .GroupBy(r => (Bucket: bucket > 0 ? r.Start - r.Start % bucket : 0, Key: string.Join("|", groupBy.Select(g => NaiveKey(r, g)))))
                .Select(g => (g.Key.Bucket, g.Key.Key, Bytes: g.Aggregate(0UL, (s, r) => s + r.Bytes), Packets: g.Aggregate(0UL, (s, r) => s + r.Packets),
                    Flows: (ulong)g.Count(), Distinct: (ulong)g.Select(r => r.SrcPort).Distinct().Count()))
                .ToList();
            Assert.Equal(expected.Sum(e => (decimal)e.Bytes), actual.Sum(a => (decimal)a.Bytes) + (limit > 0 ? expected.Sum(e => (decimal)e.Bytes) - actual.Sum(a => (decimal)a.Bytes) : 0));
            if (limit == 0)
            {
                Assert.Equal(expected.Count, actual.Count);
            }
            // Every returned group equals the naive group with the same key...
            var byKey = expected.ToDictionary(e => (e.Bucket, e.Key));
            foreach (var row in actual)
            {
                var key = string.Join("|", row.Keys.Select((k, i) => RenderKey(k, groupBy[i])));
                Assert.True(byKey.TryGetValue((row.BucketStart, key), out var e), $"query {q}: group {key} is not in the naive answer");
                Assert.Equal((e.Bytes, e.Packets, e.Flows, distinct ? e.Distinct : 0), (row.Bytes, row.Packets, row.Flows, row.Distinct));
            }
            // ...and with a limit, the returned groups are the top ones of each bucket.
            foreach (var perBucket in actual.GroupBy(r => r.BucketStart))
            {
                var naiveTop = expected.Where(e => e.Bucket == perBucket.Key)
                    .Select(e => metric switch { Metric.Bytes => e.Bytes, Metric.Packets => e.Packets, _ => e.Flows })
                    .OrderByDescending(v => v).Take(limit > 0 ? limit : int.MaxValue).ToList();
                Assert.Equal(naiveTop, perBucket.Select(r => r.Value(metric)).ToList());
            }
        }
    }

    [Theory]
    [InlineData("next_hop")]
    [InlineData("next_hop/24")]
    public void No_next_hop_and_0_0_0_0_are_one_group_as_both_read_0_0_0_0(string key)
    {
        var records = Flowline.Testing.RandomFlows.Records(new Random(5), 30);
        for (var i = 0; i < records.Count; i++)
        {
            // None (stored as ::), an exporter's 0.0.0.0, and one real next hop.
            records[i] = records[i] with { NextHop = (i % 3) switch { 0 => default, 1 => FlowAddress.FromV4(0), _ => FlowAddress.Parse("10.9.9.1") } };
        }
        var batch = Batch(records);
        GroupKey.TryParse(key, out var g, out _);
        var query = new FlowQuery { Filter = new FilterNode.Any(), GroupBy = [g] };
        var aggregator = new Aggregator(query);
        var selection = new ulong[FilterEvaluator.Words(batch.Count)];
        new FilterEvaluator(query.Filter).Evaluate(batch, selection);
        aggregator.Add(batch, selection);
        var rows = aggregator.Result();
        Assert.Equal(["0.0.0.0", key == "next_hop" ? "10.9.9.1" : "10.9.9.0"], rows.Select(r => g.Text(r.Keys[0], null!)).Order());
        Assert.Equal(20UL, rows.Single(r => g.Text(r.Keys[0], null!) == "0.0.0.0").Flows);
    }

    [Fact]
    public void Srcnet_and_dstnet_group_by_each_flows_own_mask_as_nfdump()
    {
        // (address, its mask): nfdump masks by the flow's own length; 0 keeps an IPv4 address whole (its x86 shift).
        (string Address, byte Mask)[] flows =
        [
            ("10.1.2.3", 8), ("10.200.1.1", 8), ("10.1.2.3", 24), ("10.1.2.77", 24), ("192.0.2.9", 0), ("2001:db8:1:2::5", 48), ("2001:db8:1:9::5", 48),
        ];
        var records = flows.Select(f => new FlowRecord
        {
            SrcAddr = FlowAddress.Parse(f.Address), SrcMask = f.Mask, DstAddr = FlowAddress.Parse(f.Address), DstMask = f.Mask, Bytes = 100, Packets = 1,
        }).ToList();
        var batch = Batch(records);
        foreach (var name in new[] { "srcnet", "dstnet" })
        {
            Assert.True(GroupKey.TryParse(name, out var g, out var error), error);
            var query = new FlowQuery { Filter = new FilterNode.Any(), GroupBy = [g] };
            Assert.Contains(g.MaskField, FilterColumns.Of(query));
            var aggregator = new Aggregator(query);
            var selection = new ulong[FilterEvaluator.Words(batch.Count)];
            new FilterEvaluator(query.Filter).Evaluate(batch, selection);
            aggregator.Add(batch, selection);
            var groups = aggregator.Result().ToDictionary(r => g.Text(r.Keys[0], null!), r => r.Flows);
            Assert.Equal(new Dictionary<string, ulong> { ["10.0.0.0"] = 2, ["10.1.2.0"] = 2, ["192.0.2.9"] = 1, ["2001:db8:1::"] = 2 }, groups);
            Assert.Equal(name == "srcnet" ? "src_net" : "dst_net", g.Name);
        }
        Assert.False(GroupKey.TryParse("srcnet/24", out _, out var refused));
        Assert.Contains("for one length for all give e.g. srcip/24", refused);
    }
}
