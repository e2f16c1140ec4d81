using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using Flowline.Query;
using Flowline.Records;
using Flowline.Storage.ClickHouse;
using Flowline.Testing;

namespace Flowline.Storage.Tests;

/// <summary>
/// What the ClickHouse engine promises about acknowledged rows: a shard that stops does not fail flushes
/// (the blocks for it wait in the spool), a collector killed with blocks in its spool replays them when it
/// starts again, and a block that reached ClickHouse before its insert was reported failed is not inserted
/// a second time.
/// </summary>
public sealed class ClickHouseDurabilityTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-chspool-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static List<ulong> Ids(IFlowStore store) =>
        [.. store.Scan(long.MinValue, long.MaxValue, new FilterNode.Any(), new HashSet<FlowField> { FlowField.SampledPackets })
            .SelectMany(b => Enumerable.Range(0, b.Count).Select(i => b.SampledPackets[i]))];

    /// <summary>The crash child appending to the 2-shard cluster "durability" with a spool, ids from <paramref name="next"/>.</summary>
    private static Process Child(ClickHouseServers servers, string spool, ulong next)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "exec", Path.Combine(AppContext.BaseDirectory, "Flowline.Storage.CrashChild.dll"), "clickhouse",
                     servers[0].Url.ToString(), "durability", spool, string.Join(',', servers.All.Select(s => s.Url.ToString())),
                     next.ToString(CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }
        return Process.Start(psi)!;
    }

    private static async Task<long> Durable(Process child)
    {
        var line = await child.StandardOutput.ReadLineAsync();
        Assert.NotNull(line);
        return long.Parse(line!["durable ".Length..], CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task A_shard_down_for_30_s_and_a_killed_collector_lose_nothing_acknowledged_and_duplicate_nothing()
    {
        using var servers = new ClickHouseServers(2);
        var spool = Path.Combine(_dir.FullName, "spool");
        long lastDurable = -1;
        var first = Child(servers, spool, 0);
        try
        {
            Assert.Equal("ready", await first.StandardOutput.ReadLineAsync());
            for (var i = 0; i < 20; i++) lastDurable = await Durable(first);
            ClickHouseServers.Stop(servers[1]);
            // 30 s of flushes at a steady rate with a shard down: its blocks are spooled, the other shard's inserted.
            var down = Stopwatch.StartNew();
            while ((down.Elapsed < TimeSpan.FromSeconds(30) || lastDurable <= 100_000) && down.Elapsed < TimeSpan.FromMinutes(5)) lastDurable = await Durable(first);
            first.Kill(entireProcessTree: true); // SIGKILL, with blocks in the spool
            await first.WaitForExitAsync();
        }
        finally
        {
            if (!first.HasExited) first.Kill(entireProcessTree: true);
        }
        Assert.True(Directory.GetFiles(spool, "*.blk").Length > 0, "nothing was left in the spool");
        Assert.True(lastDurable > 100_000, $"only {lastDurable} records were written");

        // The shard back, the collector started again on its spool: the blocks are replayed while it goes on appending.
        servers.Start(servers[1]);
        const ulong secondFrom = 1_000_000_000;
        long lastDurable2 = -1;
        var second = Child(servers, spool, secondFrom);
        try
        {
            Assert.Equal("ready", await second.StandardOutput.ReadLineAsync());
            var deadline = DateTime.UtcNow.AddMinutes(2);
            do
            {
                lastDurable2 = await Durable(second);
            }
            while ((Directory.GetFiles(spool, "*.blk").Length > 0 || lastDurable2 < (long)secondFrom + 10_000) && DateTime.UtcNow < deadline);
            Assert.Empty(Directory.GetFiles(spool, "*.blk"));
            second.Kill(entireProcessTree: true);
            await second.WaitForExitAsync();
        }
        finally
        {
            if (!second.HasExited) second.Kill(entireProcessTree: true);
        }

        using var store = new ClickHouseStore(new ClickHouseStoreOptions
        {
            Url = servers[0].Url, Database = "durability", Cluster = ClickHouseServers.Cluster, Shards = [.. servers.All.Select(s => s.Url)], ReadOnly = true,
        });
        var ids = Ids(store);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        var present = ids.ToHashSet();
        for (var id = 0L; id <= lastDurable; id++)
        {
            Assert.True(present.Contains((ulong)id), $"record {id} was reported durable before the kill but is missing");
        }
        for (var id = (long)secondFrom; id <= lastDurable2; id++)
        {
            Assert.True(present.Contains((ulong)id), $"record {id} was reported durable after the restart but is missing");
        }
    }

    [Fact]
    public void A_replayed_block_that_had_already_landed_is_not_inserted_twice()
    {
        using var servers = new ClickHouseServers(1);
        var spool = Path.Combine(_dir.FullName, "spool");
        var records = RandomFlows.Records(new Random(7), 5000);
        var batch = new FlowBatch();
        foreach (var r in records) batch.Add(r with { Start = records[0].Start });
        var options = new ClickHouseStoreOptions { Url = servers[0].Url, Database = "replay", SpoolDirectory = spool };
        using (var store = new ClickHouseStore(options))
        {
            store.Append(batch);
            store.Flush();
            Assert.Equal(5000, store.Stats().Rows);
            Assert.Equal(0, store.SpooledBlocks);
        }

        // The same block in the spool, as if its insert had timed out after ClickHouse took it.
        using var client = new ClickHouseClient(servers[0].Url, "replay");
        var id = ulong.Parse(client.Execute("SELECT DISTINCT batch_id FROM flows_local").Trim(), CultureInfo.InvariantCulture);
        var columns = ClickHouseSchema.Columns.Where(c => !batch.IsZeroColumn(c.Field)).ToList();
        var body = new ArrayBufferWriter<byte>();
        NativeFormat.WriteBlock(body, batch, 0, batch.Count, columns, id);
        var statement = $"INSERT INTO flows_local ({string.Join(", ", columns.Select(c => c.Name).Append("batch_id"))}) FORMAT Native";
        new ClickHouseSpool(spool, 1).Add(new ClickHouseSpool.Block(id, 0, ClickHouseSchema.PartitionOf(batch.Start[0]), batch.Count, statement, body.WrittenMemory));
        // And a block that never landed: it is inserted.
        var other = new FlowBatch();
        foreach (var r in records.Take(100)) other.Add(r with { Start = records[0].Start });
        var body2 = new ArrayBufferWriter<byte>();
        NativeFormat.WriteBlock(body2, other, 0, other.Count, columns, id + 2);
        new ClickHouseSpool(spool, 1).Add(new ClickHouseSpool.Block(id + 2, 0, ClickHouseSchema.PartitionOf(other.Start[0]), other.Count, statement, body2.WrittenMemory));

        // And a file damaged on disk: moved aside and counted, never replayed.
        File.WriteAllText(Path.Combine(spool, "9999999999999999.blk"), "not a block");

        using var again = new ClickHouseStore(options);
        var deadline = DateTime.UtcNow.AddMinutes(1);
        // A spool left by an ended process waits until its shard has answered for an insert timeout (10 s).
        while (again.SpooledBlocks > 0 && DateTime.UtcNow < deadline)
        {
            again.ReplaySpool();
            Thread.Sleep(100);
        }
        Assert.Equal(0, again.SpooledBlocks);
        Assert.Equal(2, again.Metrics.Single(m => m.Name == "flowline_clickhouse_replayed_blocks_total").Value);
        Assert.Equal(5100, again.Stats().Rows);
        Assert.Equal(1, again.Metrics.Single(m => m.Name == "flowline_clickhouse_replay_already_present_total").Value);
        Assert.Equal(1, again.Metrics.Single(m => m.Name == "flowline_clickhouse_spool_damaged_total").Value);
        Assert.True(File.Exists(Path.Combine(spool, "bad", "9999999999999999.blk")));
    }
}
