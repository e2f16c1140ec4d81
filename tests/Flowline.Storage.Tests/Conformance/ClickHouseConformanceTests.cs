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
    protected override IFlowStore Open() =>
        new ClickHouseStore(new ClickHouseStoreOptions { Url = fixture.Servers[0].Url, Database = "conformance_" + Guid.NewGuid().ToString("N") });
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
