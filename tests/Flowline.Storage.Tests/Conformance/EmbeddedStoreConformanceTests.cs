using Flowline.Query;
using Flowline.Storage.Embedded;
using Flowline.Records;

namespace Flowline.Storage.Tests.Conformance;

/// <summary>The embedded engine as appends leave it: several group commits per partition, each in row order.</summary>
public sealed class EmbeddedStoreConformanceTests : StoreConformanceTests
{
    protected override IFlowStore Open() =>
        new EmbeddedStore(Directory.FullName, new EmbeddedStoreOptions { BlockRows = 700, GroupCommit = TimeSpan.FromHours(1) });
}

/// <summary>Group commits in arrival order (an import's, or a store written before commits were sorted).</summary>
public sealed class UnsortedCommitsConformanceTests : StoreConformanceTests
{
    protected override IFlowStore Open() =>
        new EmbeddedStore(Directory.FullName, new EmbeddedStoreOptions { BlockRows = 700, GroupCommit = TimeSpan.FromHours(1), SortCommits = false });
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

    [Fact]
    public void A_rollup_table_whose_header_was_changed_is_not_believed_and_verify_rebuilds_it()
    {
        using var store = (EmbeddedStore)Loaded();
        var byDestination = new FlowQuery { GroupBy = [new GroupKey(FlowField.DstAddr)] };
        var expected = Answer(store.Aggregate(long.MinValue, long.MaxValue, byDestination));
        var rollups = System.IO.Directory.GetFiles(Directory.FullName, "*.rollup", SearchOption.AllDirectories);
        Assert.NotEmpty(rollups);
        // One bit in each file: the tables by source and by destination address swap their names, so that a
        // query by destination would be answered with the sums by source if the names were believed.
        foreach (var path in rollups)
        {
            var bytes = File.ReadAllBytes(path);
            Assert.True(SwapAddressTables(bytes) >= 2);
            File.WriteAllBytes(path, bytes);
        }
        var tablesBefore = store.ScanStats.RollupTables;
        Assert.Equal(expected, Answer(store.Aggregate(long.MinValue, long.MaxValue, byDestination)));
        Assert.Equal(tablesBefore, store.ScanStats.RollupTables);

        var problems = store.Verify();
        Assert.Equal(rollups.Order(), problems.Select(p => p.Path).Order());
        Assert.All(problems, p => Assert.Contains("checksum", p.Reason));
        Assert.All(problems, p => Assert.NotEqual("quarantined", p.Outcome));
        Assert.Empty(store.Verify());
        // The partitions' tables are whole again; the hourly ones come back with the next compaction.
        store.Compact();
        Assert.Equal(expected, Answer(store.Aggregate(long.MinValue, long.MaxValue, byDestination)));
        Assert.True(store.ScanStats.RollupTables > tablesBefore);
    }

    private static List<(ulong, ulong, ulong, ulong, ulong)> Answer(Aggregator.AggregateResult result) =>
        result.Select(r => (r.Keys[0].Hi, r.Keys[0].Lo, r.Bytes, r.Packets, r.Flows)).Order().ToList();

    /// <summary>Renames the one-key tables by SrcAddr and DstAddr to each other in a rollup file; how many it renamed.</summary>
    private static int SwapAddressTables(byte[] file)
    {
        var at = 0;
        if (file.AsSpan(0, 8).SequenceEqual("FLMANI01"u8))
        {
            var entries = BitConverter.ToUInt16(file, 8);
            at = 10;
            for (var i = 0; i < entries; i++) at += 2 + BitConverter.ToUInt16(file, at);
        }
        Assert.True(file.AsSpan(at, 8).SequenceEqual("FLROLL02"u8));
        var tables = BitConverter.ToUInt32(file, at + 8);
        at += 12;
        var swapped = 0;
        for (var t = 0; t < tables; t++)
        {
            if (file[at] == 1 && file[at + 1] is (byte)FlowField.SrcAddr or (byte)FlowField.DstAddr)
            {
                file[at + 1] = (byte)(file[at + 1] == (byte)FlowField.SrcAddr ? FlowField.DstAddr : FlowField.SrcAddr);
                swapped++;
            }
            at += 32 + (int)BitConverter.ToUInt32(file, at + 20);
        }
        return swapped;
    }
}

/// <summary>
/// Compaction in the smallest memory: hour-wide partitions of about 12,000 rows, a merge fan-in of a few
/// inputs and runs of 256-row blocks, so every partition's sorted commits are merged in rounds through
/// temporary runs. The answers must not change.
/// </summary>
public class BoundedCompactionConformanceTests : StoreConformanceTests
{
    internal static EmbeddedStoreOptions Small(bool sortCommits = true) => new()
    {
        BlockRows = 700, GroupCommit = TimeSpan.FromHours(1), PartitionWidth = TimeSpan.FromHours(1),
        CompactionMemory = 0, CompactionChunkRows = 256, CommitsPerRun = 2, SortCommits = sortCommits,
        // Room for 4,000 groups across every rollup table: the address tables of these flows do not fit.
        RollupMemory = 4000L * 512,
    };

    protected virtual bool SortCommits => true;

    protected override IFlowStore Open() => new EmbeddedStore(Directory.FullName, Small(SortCommits));

    protected override void Settle(IFlowStore store)
    {
        var embedded = (EmbeddedStore)store;
        Assert.True(embedded.Compact() > 0);
        Assert.True(embedded.CompactionStats.TemporaryRuns > 0, "the partitions were small enough to sort at once: nothing was spilled");
        // The per-address tables of 12,000 random flows do not fit the rollup budget: the largest are dropped,
        // and the queries that would have read them read the flows.
        Assert.True(embedded.CompactionStats.RollupTablesDropped > 0, "no rollup table was too large for the budget");
    }

    [Fact]
    public void Every_partition_ends_as_one_segment_with_every_row()
    {
        using var store = (EmbeddedStore)Loaded();
        var stats = store.Stats();
        Assert.Equal(stats.Partitions, stats.Segments);
        Assert.Equal(Records.Count, stats.Rows);
        Assert.Empty(System.IO.Directory.EnumerateFiles(Directory.FullName, "*.tmp", SearchOption.AllDirectories));
        // Merging inputs of 256-row blocks, each final block is still whole (700 rows) but the last.
        foreach (var path in System.IO.Directory.EnumerateFiles(Directory.FullName, "seg-*.seg", SearchOption.AllDirectories))
        {
            using var reader = new Segments.SegmentFile.Reader(path);
            Assert.All(reader.Blocks[..^1], b => Assert.Equal(700, b.Rows));
        }
    }
}

/// <summary>The same with commits in arrival order: each partition is sorted in several spills of a small sort buffer first.</summary>
public sealed class BoundedSortingConformanceTests : BoundedCompactionConformanceTests
{
    protected override bool SortCommits => false;
}

/// <summary>
/// A collector's store mid-way: sorted group commits merged into runs while their partition fills (once
/// there are more than the final merge could take), runs merged once there are more than a merge takes,
/// the newest commits as they were; no final segments.
/// </summary>
public class RunsConformanceTests : StoreConformanceTests
{
    protected virtual bool SortCommits => true;

    protected override IFlowStore Open() => new EmbeddedStore(Directory.FullName, BoundedCompactionConformanceTests.Small(SortCommits));

    protected override void Settle(IFlowStore store)
    {
        var embedded = (EmbeddedStore)store;
        var steps = 0;
        while (embedded.MaintainStep(TimeSpan.Zero, finals: false)) steps++;
        Assert.True(steps > 0);
        Assert.True(embedded.CompactionStats.Runs > 0);
        Assert.Equal(0, embedded.CompactionStats.Finals);
    }
}

/// <summary>The same from commits in arrival order: sorted into runs two commits at a time.</summary>
public sealed class UnsortedRunsConformanceTests : RunsConformanceTests
{
    protected override bool SortCommits => false;
}
