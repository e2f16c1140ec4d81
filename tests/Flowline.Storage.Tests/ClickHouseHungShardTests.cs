using System.Collections.Concurrent;
using Flowline.Query;
using Flowline.Records;
using Flowline.Storage.ClickHouse;
using Flowline.Testing;

namespace Flowline.Storage.Tests;

/// <summary>
/// A shard that takes connections and answers nothing (a stopped process, a hung host): its insert is given up
/// after the insert timeout and spooled, the other shard takes every block from then on, and when the shard
/// answers again its spool is replayed; nothing lost, nothing twice, and the change told both ways.
/// </summary>
public sealed class ClickHouseHungShardTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-chhung-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void A_hung_shard_holds_no_insert_of_the_other_and_its_blocks_come_back_once()
    {
        using var servers = new ClickHouseServers(2);
        var failing = new ConcurrentQueue<string>();
        var recovered = new ConcurrentQueue<(string Shard, int Blocks, long Rows)>();
        var options = new ClickHouseStoreOptions
        {
            Url = servers[0].Url, Database = "hung", Cluster = ClickHouseServers.Cluster, Shards = [.. servers.All.Select(s => s.Url)],
            SpoolDirectory = Path.Combine(_dir.FullName, "spool"), InsertTimeout = TimeSpan.FromSeconds(2),
            ShardFailing = (shard, problem) => failing.Enqueue($"{shard} {problem}"),
            ShardRecovered = (shard, blocks, rows) => recovered.Enqueue((shard, blocks, rows)),
        };
        var records = RandomFlows.Records(new Random(3), 1000);
        ulong next = 0;
        using var store = new ClickHouseStore(options);
        void Flush()
        {
            var batch = new FlowBatch();
            foreach (var r in records) batch.Add(r with { Start = records[0].Start, SampledPackets = next++ });
            store.Append(batch);
            store.Flush();
        }
        using var shard0 = new ClickHouseClient(servers[0].Url, "hung");
        long OnShard0() => long.Parse(shard0.Execute("SELECT count() FROM flows_local").Trim(), System.Globalization.CultureInfo.InvariantCulture);

        for (var i = 0; i < 4; i++) Flush();
        Assert.Equal(2000, OnShard0()); // the shards take blocks in turn
        ClickHouseServers.Pause(servers[1]);
        try
        {
            // Every flush returns: the block for the paused shard is spooled when its insert times out, and the
            // other shard takes each block after it (none waits behind the paused one in the spool).
            for (var i = 0; i < 20; i++) Flush();
            Assert.Equal(1, store.SpooledBlocks);
            Assert.Equal(2000 + 19_000, OnShard0());
            var told = Assert.Single(failing);
            Assert.StartsWith($"127.0.0.1:{servers[1].HttpPort} ", told, StringComparison.Ordinal);
            Assert.Contains("no answer within 2 s", told, StringComparison.Ordinal);
            Assert.Empty(recovered);
        }
        finally
        {
            ClickHouseServers.Resume(servers[1]);
        }
        // Replayed by the store's own thread once the shard answers.
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while ((store.SpooledBlocks > 0 || recovered.IsEmpty) && DateTime.UtcNow < deadline) Thread.Sleep(100);
        Assert.Equal(0, store.SpooledBlocks);
        Assert.Equal(($"127.0.0.1:{servers[1].HttpPort}", 1, 1000L), Assert.Single(recovered));

        var ids = store.Scan(long.MinValue, long.MaxValue, new FilterNode.Any(), new HashSet<FlowField> { FlowField.SampledPackets })
            .SelectMany(b => Enumerable.Range(0, b.Count).Select(i => b.SampledPackets[i])).ToList();
        Assert.Equal(24_000, ids.Count);
        Assert.Equal(24_000, ids.Distinct().Count());
    }
}
