using Flowline.Storage.Embedded;

namespace Flowline.Storage.Tests.Conformance;

/// <summary>The embedded engine as appends leave it: several unsorted-in-time segments per partition.</summary>
public sealed class EmbeddedStoreConformanceTests : StoreConformanceTests
{
    protected override IFlowStore Open() =>
        new EmbeddedStore(Directory.FullName, new EmbeddedStoreOptions { BlockRows = 700, GroupCommit = TimeSpan.FromHours(1) });
}

/// <summary>The embedded engine after compaction: one sorted segment per partition, with rollups answering where they can.</summary>
public sealed class CompactedEmbeddedStoreConformanceTests : StoreConformanceTests
{
    protected override IFlowStore Open() =>
        new EmbeddedStore(Directory.FullName, new EmbeddedStoreOptions { BlockRows = 700, GroupCommit = TimeSpan.FromHours(1) });

    protected override void Settle(IFlowStore store) => Assert.True(((EmbeddedStore)store).Compact() > 0);

    [Fact]
    public void Rollups_answer_the_queries_they_can()
    {
        using var store = (EmbeddedStore)Loaded();
        var all = store.Aggregate(long.MinValue, long.MaxValue, new Query.FlowQuery { GroupBy = [new Query.GroupKey(Wire.Records.FlowField.SrcAddr)] });
        Assert.True(store.ScanStats.RollupTables > 0);
        Assert.Equal(0, store.ScanStats.Read);
        Assert.True(all.Count > 0);
    }
}
