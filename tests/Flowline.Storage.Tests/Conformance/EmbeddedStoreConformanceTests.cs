using Flowline.Query;
using Flowline.Storage.Embedded;
using Flowline.Records;

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
    public void Rollups_answer_the_queries_they_can_and_step_aside_when_flows_arrive_late()
    {
        using var store = (EmbeddedStore)Loaded();
        var bySource = new FlowQuery { GroupBy = [new GroupKey(FlowField.SrcAddr)] };
        var before = store.Aggregate(long.MinValue, long.MaxValue, bySource);
        // The records span two clock hours: one hourly table each, no flows read.
        Assert.Equal(2, store.ScanStats.RollupTables);
        Assert.Equal(0, store.ScanStats.Read);

        // A late flow in an already compacted partition: that hour's table no longer matches what is stored.
        var late = Records[0];
        late.Bytes = 1_000_000_007;
        var batch = new FlowBatch();
        batch.Add(late);
        store.Append(batch);
        store.Flush();
        var after = store.Aggregate(long.MinValue, long.MaxValue, bySource);
        var row = after.First(r => new FlowAddress(r.Keys[0].Hi, r.Keys[0].Lo) == late.SrcAddr);
        var old = before.First(r => new FlowAddress(r.Keys[0].Hi, r.Keys[0].Lo) == late.SrcAddr);
        Assert.Equal(old.Bytes + late.Bytes, row.Bytes);
        Assert.Equal(old.Flows + 1, row.Flows);
        Assert.True(store.ScanStats.Read > 0);

        // Compacting again folds the late flow in and rebuilds the hourly table.
        store.Compact();
        var reads = store.ScanStats.Read;
        var again = store.Aggregate(long.MinValue, long.MaxValue, bySource);
        Assert.Equal(reads, store.ScanStats.Read);
        Assert.Equal(row.Bytes, again.First(r => new FlowAddress(r.Keys[0].Hi, r.Keys[0].Lo) == late.SrcAddr).Bytes);
    }
}
