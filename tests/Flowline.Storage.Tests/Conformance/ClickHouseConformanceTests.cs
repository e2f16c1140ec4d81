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
    protected override IFlowStore Open() =>
        new ClickHouseStore(new ClickHouseStoreOptions
        {
            Url = fixture.Servers[0].Url, Database = "conformance_" + Guid.NewGuid().ToString("N"), Cluster = ClickHouseServers.Cluster,
            Shards = [.. fixture.Servers.All.Select(s => s.Url)],
        });
}
