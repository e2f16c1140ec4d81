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

    [Fact]
    public async Task A_shard_down_and_a_killed_collector_lose_nothing_acknowledged_and_duplicate_nothing()
    {
        using var servers = new ClickHouseServers(2);
        var spool = Path.Combine(_dir.FullName, "spool");
        var shards = string.Join(',', servers.All.Select(s => s.Url.ToString()));
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "exec", Path.Combine(AppContext.BaseDirectory, "Flowline.Storage.CrashChild.dll"), "clickhouse",
                     servers[0].Url.ToString(), "durability", spool, shards, "0" })
        {
            psi.ArgumentList.Add(a);
        }
        using var child = Process.Start(psi)!;
        Assert.Equal("ready", await child.StandardOutput.ReadLineAsync());
        long lastDurable = -1;
        async Task Durable(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var line = await child.StandardOutput.ReadLineAsync();
                Assert.NotNull(line);
                lastDurable = long.Parse(line!["durable ".Length..], CultureInfo.InvariantCulture);
            }
        }

        await Durable(20);
        ClickHouseServers.Stop(servers[1]);
        // Flushes go on while the shard is down: its blocks are spooled, the other shard's inserted.
        await Durable(150);
        Assert.NotEmpty(Directory.GetFiles(spool, "*.blk"));
        child.Kill(entireProcessTree: true); // SIGKILL, with blocks in the spool
        await child.WaitForExitAsync();
        var spooled = Directory.GetFiles(spool, "*.blk").Length;
        Assert.True(spooled > 0, "nothing was left in the spool");

        servers.Start(servers[1]);
        using var store = new ClickHouseStore(new ClickHouseStoreOptions
        {
            Url = servers[0].Url, Database = "durability", SpoolDirectory = spool, Cluster = ClickHouseServers.Cluster,
            Shards = [.. servers.All.Select(s => s.Url)],
        });
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (store.SpooledBlocks > 0 && DateTime.UtcNow < deadline) store.ReplaySpool();
        Assert.Equal(0, store.SpooledBlocks);
        Assert.Empty(Directory.GetFiles(spool, "*.blk"));

        var ids = Ids(store);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        var present = ids.ToHashSet();
        for (var id = 0L; id <= lastDurable; id++)
        {
            Assert.True(present.Contains((ulong)id), $"record {id} was reported durable but is missing");
        }
        Assert.True(lastDurable > 150 * 1000, $"only {lastDurable} records were written");
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

        using var again = new ClickHouseStore(options);
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (again.SpooledBlocks > 0 && DateTime.UtcNow < deadline) again.ReplaySpool();
        Assert.Equal(0, again.SpooledBlocks);
        Assert.Equal(2, again.Metrics.Single(m => m.Name == "flowline_clickhouse_replayed_blocks_total").Value);
        Assert.Equal(5100, again.Stats().Rows);
        Assert.Equal(1, again.Metrics.Single(m => m.Name == "flowline_clickhouse_replay_already_present_total").Value);
    }
}
