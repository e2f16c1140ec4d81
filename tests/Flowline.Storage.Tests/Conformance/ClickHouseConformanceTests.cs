using Flowline.Query;
using Flowline.Storage.ClickHouse;
using Flowline.Testing;

namespace Flowline.Storage.Tests.Conformance;

/// <summary>One clickhouse-server for the tests of a class.</summary>
public sealed class OneClickHouseServer : IDisposable
{
    public ClickHouseServers Servers { get; } = new(1);

    public void Dispose() => Servers.Dispose();
}

/// <summary>Two clickhouse-servers as the two shards of the cluster "flowline".</summary>
public sealed class TwoClickHouseShards : IDisposable
{
    public ClickHouseServers Servers { get; } = new(2);

    public void Dispose() => Servers.Dispose();
}

/// <summary>The ClickHouse engine on one server: its local table read directly.</summary>
public sealed class ClickHouseConformanceTests(OneClickHouseServer fixture) : StoreConformanceTests, IClassFixture<OneClickHouseServer>
{
    private readonly string _database = "conformance_" + Guid.NewGuid().ToString("N");

    protected override IFlowStore Open() => new ClickHouseStore(new ClickHouseStoreOptions { Url = fixture.Servers[0].Url, Database = _database });

    [Fact]
    public void Rollup_tables_answer_what_they_can_exactly_and_only_from_when_they_hold_every_flow()
    {
        using (var store = (ClickHouseStore)Loaded())
        {
            var first = Records.Min(r => r.Start);
            var last = Records.Max(r => r.Start);
            // Not on a minute: the flows answer.
            var (from, to) = (first / 60_000_000 * 60_000_000 - 7, last + 1);
            foreach (var (text, keys, bucket, used) in new (string, string[], long, bool)[]
                     {
                         ("", ["src_addr"], 0, true), ("proto udp", ["dst_port", "proto"], 600_000_000, true),
                         ("", ["exporter"], 3_600_000_000, true), ("", [], 60_000_000, true), ("proto tcp", ["exporter"], 0, false),
                         ("bytes > 1000", ["src_addr"], 0, false), ("host 10.1.2.3", [], 0, false), ("", ["src_addr", "dst_port"], 0, false),
                     })
            {
                var query = new FlowQuery
                {
                    Filter = FilterParser.Parse(text), BucketMicros = bucket,
                    GroupBy = [.. keys.Select(k => GroupKey.TryParse(k, out var g, out _) ? g : throw new ArgumentException(k))],
                };
                var fromFlows = store.Aggregate(from, to, query);
                var before = store.RollupQueries;
                var answer = store.Aggregate(long.MinValue, long.MaxValue, query);
                Assert.True(store.RollupQueries == before + (used ? 1 : 0), $"'{text}' by {string.Join(',', keys)}: rollup {(used ? "not " : "")}used");
                Assert.True(fromFlows.Count > 0, text);
                Assert.Equal(Render(fromFlows), Render(answer));
            }
        }

        // A database whose views came after its flows (an older Flowline's): the rollups hold only what is
        // inserted from then on, so they answer from the next whole hour, never over the flows before.
        using (var c = new ClickHouseClient(fixture.Servers[0].Url, _database))
        {
            foreach (var t in ClickHouseRollups.Tables) c.Execute($"DROP TABLE {ClickHouseClient.Identifier(t.View)}");
        }
        using (var store = (ClickHouseStore)Open())
        {
            var query = new FlowQuery { GroupBy = [new GroupKey(Flowline.Records.FlowField.SrcAddr)] };
            var all = store.Aggregate(long.MinValue, long.MaxValue, query);
            Assert.Equal(0, store.RollupQueries);
            Assert.Equal(Records.Count, all.Sum(r => (long)r.Flows));
            var hour = ((DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10 / 3_600_000_000 + 1) * 3_600_000_000;
            Assert.Empty(store.Aggregate(hour, long.MaxValue, query));
            Assert.Equal(1, store.RollupQueries);
        }
    }

    private static List<string> Render(Aggregator.AggregateResult result) =>
        [.. result.Select(r => $"{r.BucketStart} {string.Join(',', r.Keys.Select(k => $"{k.Hi:x}:{k.Lo:x}"))} {r.Bytes} {r.Packets} {r.Flows}")];
}

/// <summary>The ClickHouse engine on a 2-shard cluster: inserts spread over both shards' local tables, reads through the Distributed table.</summary>
public sealed class ClickHouseClusterConformanceTests(TwoClickHouseShards fixture) : StoreConformanceTests, IClassFixture<TwoClickHouseShards>
{
    private readonly string _database = "conformance_" + Guid.NewGuid().ToString("N");

    protected override IFlowStore Open() =>
        new ClickHouseStore(new ClickHouseStoreOptions
        {
            Url = fixture.Servers[0].Url, Database = _database, Cluster = ClickHouseServers.Cluster,
            Shards = [.. fixture.Servers.All.Select(s => s.Url)],
        });

    [Fact]
    public void Inserts_spread_over_both_shards()
    {
        using var store = Loaded();
        var counts = fixture.Servers.All.Select(s =>
        {
            using var client = new ClickHouseClient(s.Url, _database);
            return long.Parse(client.Execute("SELECT count() FROM flows_local").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }).ToList();
        Assert.Equal(Records.Count, counts.Sum());
        // Eight inserts of 3,000 rows, the shards taking them in turn.
        Assert.All(counts, c => Assert.True(c > 0, $"a shard holds nothing: {string.Join(", ", counts)}"));
    }
}
