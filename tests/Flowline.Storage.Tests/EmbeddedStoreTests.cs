using Flowline.Query;
using Flowline.Storage.Embedded;
using Flowline.Wire.Generation;
using Flowline.Records;

namespace Flowline.Storage.Tests;

public sealed class EmbeddedStoreTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-store-");

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>Records over 40 minutes (eight partitions), each with a unique id in SampledPackets.</summary>
    internal static List<FlowRecord> Records(int count, int seed)
    {
        var g = new TrafficGenerator(seed, hosts: 500, flowsPerSecond: count / 2400.0);
        var list = new List<FlowRecord>(count);
        for (var i = 0; i < count; i++)
        {
            var r = g.Next();
            r.SampledPackets = (ulong)i;
            list.Add(r);
        }
        return list;
    }

    internal static FlowBatch Batch(IEnumerable<FlowRecord> records)
    {
        var b = new FlowBatch();
        foreach (var r in records) b.Add(r);
        return b;
    }

    [Fact]
    public void Rows_spread_over_thousands_of_partitions_are_buffered_in_bounded_memory_and_all_stored()
    {
        // One row in each of 4,000 five-minute partitions (14 days), as an exporter spreading its flows' times would send.
        var t0 = FlowTime.Of(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero));
        var records = Records(4000, 3);
        for (var i = 0; i < records.Count; i++)
        {
            var r = records[i];
            r.Start = t0 + i * 300_000_000L;
            r.End = r.Start + 1000;
            r.TimeReceived = r.End;
            records[i] = r;
        }
        using (var store = new EmbeddedStore(_dir.FullName, new EmbeddedStoreOptions { GroupCommit = TimeSpan.FromHours(1) }))
        {
            var most = 0L;
            foreach (var chunk in records.Chunk(200))
            {
                store.Append(Batch(chunk));
                var (capacity, partitions) = store.BufferedRoom;
                most = Math.Max(most, capacity);
                // Past the partition limit a commit starts at once (the group commit window is an hour): the buffers empty.
                var waited = System.Diagnostics.Stopwatch.StartNew();
                while (partitions > EmbeddedStore.MaxBufferedPartitions + 200 && waited.Elapsed < TimeSpan.FromMinutes(1))
                {
                    Thread.Sleep(10);
                    partitions = store.BufferedRoom.Partitions;
                }
                Assert.True(partitions <= EmbeddedStore.MaxBufferedPartitions + 200, $"{partitions} partitions buffered");
            }
            // 64 rows of room a partition at most (each holds one row), where 4,096 were (a megabyte each).
            Assert.True(most <= 64L * (EmbeddedStore.MaxBufferedPartitions + 400), $"room for {most} rows buffered");
            store.Flush();
        }
        using var reopened = new EmbeddedStore(_dir.FullName);
        Assert.Equal(4000, reopened.Stats().Rows);
        Assert.Equal(4000, reopened.Stats().Partitions);
    }

    [Fact]
    public void What_was_flushed_is_read_back_exactly_once_after_reopening()
    {
        var records = Records(30_000, 1);
        using (var store = new EmbeddedStore(_dir.FullName, new EmbeddedStoreOptions { GroupCommit = TimeSpan.FromHours(1) }))
        {
            foreach (var chunk in records.Chunk(7000)) store.Append(Batch(chunk));
            store.Flush();
        }
        using var reopened = new EmbeddedStore(_dir.FullName);
        var ids = reopened.Scan(long.MinValue, long.MaxValue, new FilterNode.Any())
            .SelectMany(b => Enumerable.Range(0, b.Count).Select(i => b.SampledPackets[i])).ToList();
        Assert.Equal(Enumerable.Range(0, 30_000).Select(i => (ulong)i), ids.Order());
        var stats = reopened.Stats();
        Assert.Equal(30_000, stats.Rows);
        Assert.Equal(9, stats.Partitions);
        Assert.Empty(reopened.Verify());
        // Each group commit is written in row order, so that compaction merges it as it is.
        var commits = Directory.GetFiles(_dir.FullName, "seg-*.seg", SearchOption.AllDirectories);
        Assert.True(commits.Length >= 9);
        foreach (var path in commits)
        {
            using var reader = new Segments.SegmentFile.Reader(path);
            Assert.True(reader.Sorted);
            var all = new FlowBatch();
            for (var i = 0; i < reader.Blocks.Length; i++) reader.ReadBlock(i, all);
            Assert.True(Segments.RowOrder.IsSorted(all), path);
        }
    }

    [Fact]
    public void Handed_batches_are_kept_whole_or_copied_and_every_row_is_stored_once()
    {
        // 30,000 records over 40 minutes (nine partitions), handed in batches of three sizes: 2,000 rows
        // inside one partition (kept without copying), 300 rows (too few: copied), and batches that cross a
        // partition boundary (copied run by run).
        var records = Records(30_000, 2);
        var options = new EmbeddedStoreOptions { GroupCommit = TimeSpan.FromHours(1), BlockRows = 4000, MaxBufferedRows = 9000 };
        var kept = 0;
        var handed = 0;
        using (var store = new EmbeddedStore(_dir.FullName, options))
        {
            var batch = new FlowBatch(2000);
            var at = 0;
            var sizes = new[] { 2000, 300, 2000, 1700 };
            for (var k = 0; at < records.Count; k++)
            {
                var n = Math.Min(sizes[k % sizes.Length], records.Count - at);
                foreach (var r in records.Skip(at).Take(n)) batch.Add(r);
                at += n;
                var next = store.Hand(batch);
                Assert.Equal(0, next.Count);
                if (!ReferenceEquals(next, batch)) kept++;
                handed++;
                batch = next;
            }
            store.Flush();
        }
        Assert.InRange(kept, 1, handed - 1); // both paths were taken
        using var reopened = new EmbeddedStore(_dir.FullName);
        var rows = reopened.Scan(long.MinValue, long.MaxValue, new FilterNode.Any())
            .SelectMany(b => Enumerable.Range(0, b.Count).Select(i => b[i])).ToList();
        Assert.Equal(Enumerable.Range(0, 30_000).Select(i => (ulong)i), rows.Select(r => r.SampledPackets).Order());
        // Every row whole, whichever path it took.
        var byId = rows.ToDictionary(r => r.SampledPackets);
        foreach (var r in records) Assert.Equal(r, byId[r.SampledPackets]);
        Assert.Empty(reopened.Verify());
    }

    [Fact]
    public void Reserved_chunks_are_resident_before_ingest_and_are_what_handed_batches_get_back()
    {
        // Two commits' worth of blocks: 2 x (65,536 / 16,384 + 1) = 10 chunks.
        var options = new EmbeddedStoreOptions { GroupCommit = TimeSpan.FromHours(1), BlockRows = 16_384, MaxBufferedRows = 65_536 };
        // 12,000 records in 12 s, all in one partition, each with its id in SampledPackets.
        var g = new TrafficGenerator(4, hosts: 500, flowsPerSecond: 1000);
        var records = Enumerable.Range(0, 12_000).Select(i => g.Next() with { SampledPackets = (ulong)i }).ToList();
        using (var store = new EmbeddedStore(_dir.FullName, options))
        {
            Assert.Equal(10, store.ReserveChunks());
            Assert.Equal(0, store.ReserveChunks()); // the pool is full
            var batch = new FlowBatch(16_384);
            foreach (var r in records.Take(8000)) batch.Add(r);
            var next = store.Hand(batch);
            Assert.NotSame(batch, next); // kept whole; a reserved chunk came back
            Assert.Equal((0, 16_384), (next.Count, next.Capacity));
            var (resident, pages) = Testing.ResidentPages.Of(next.SrcAddr);
            Assert.True(pages > 0 && resident == pages, $"{resident} of {pages} pages resident");
            foreach (var r in records.Skip(8000)) next.Add(r);
            Assert.Same(next, store.Hand(next)); // too few rows to keep: copied
            store.Flush();
            Assert.Equal(0, store.ReserveChunks()); // the written chunk went back to the pool: full again
            using var reader = new EmbeddedStore(_dir.FullName, new EmbeddedStoreOptions { ReadOnly = true });
            Assert.Equal(0, reader.ReserveChunks());
        }
        using var reopened = new EmbeddedStore(_dir.FullName);
        var rows = reopened.Scan(long.MinValue, long.MaxValue, new FilterNode.Any()).SelectMany(b => Enumerable.Range(0, b.Count).Select(i => b[i])).ToList();
        Assert.Equal(records, rows.OrderBy(r => r.SampledPackets));
        reopened.Dispose();
        Assert.Equal(0, reopened.ReserveChunks());
    }

    [Fact]
    public void Queries_over_the_store_equal_a_naive_evaluation()
    {
        var records = Records(20_000, 2);
        using var store = new EmbeddedStore(_dir.FullName, new EmbeddedStoreOptions { BlockRows = 1000 });
        store.Append(Batch(records));
        store.Flush();
        var from = records.Min(r => r.Start) + 600_000_000;
        var to = from + 900_000_000;
        // Rare hosts exercise the dictionary pruning (most blocks skipped), popular ones the zone maps.
        string[] filters = ["any", "proto udp", "dst port 443 and proto tcp", "host 10.0.0.1", "src net 172.16.0.0/24 or dst port 53", "not proto tcp", "ipv6",
            "host 10.0.1.200", "src host 10.0.0.77 or dst host 172.16.0.30", "ip in [10.0.0.9 10.0.1.77 fd00::5]", "dst host 10.0.0.3 and proto tcp", "not host 10.0.0.2"];
        foreach (var text in filters)
        {
            var filter = FilterParser.Parse(text);
            var evaluator = new FilterEvaluator(filter);
            var batch = Batch(records);
            var selection = new ulong[FilterEvaluator.Words(batch.Count)];
            evaluator.Evaluate(batch, selection);
            var expected = Enumerable.Range(0, batch.Count)
                .Where(i => (selection[i >> 6] & (1UL << (i & 63))) != 0 && records[i].Start >= from && records[i].Start < to)
                .Select(i => records[i].SampledPackets).Order().ToList();
            // Only the filter's columns and the id are decoded; the answer must not change.
            var needed = FilterColumns.Of(filter);
            needed.Add(FlowField.SampledPackets);
            var actual = QueryRunner.Rows(store.Scan(from, to, filter, needed), filter).Select(r => r.SampledPackets).Order().ToList();
            Assert.True(expected.SequenceEqual(actual), $"'{text}': store gave {actual.Count} rows, expected {expected.Count}");

            var query = new FlowQuery { Filter = filter, GroupBy = [new GroupKey(FlowField.SrcAddr, 24)], Limit = 5 };
            var top = QueryRunner.Aggregate(store.Scan(from, to, filter, FilterColumns.Of(query)), query);
            var naiveTop = records.Where((r, i) => (selection[i >> 6] & (1UL << (i & 63))) != 0 && r.Start >= from && r.Start < to)
                .GroupBy(r => Prefix.Mask(r.SrcAddr, r.SrcAddr.IsV4 ? 120 : 128))
                .Select(g => g.Aggregate(0UL, (s, r) => s + r.Bytes)).OrderDescending().Take(5).ToList();
            Assert.Equal(naiveTop, top.Select(r => r.Bytes).ToList());
        }
    }

    [Fact]
    public void A_corrupt_segment_is_quarantined_and_the_rest_stays_queryable()
    {
        var records = Records(10_000, 3);
        using (var store = new EmbeddedStore(_dir.FullName))
        {
            store.Append(EmbeddedStoreTests.Batch(records));
            store.Flush();
        }
        var segments = Directory.GetFiles(_dir.FullName, "seg-*.seg", SearchOption.AllDirectories).Order().ToArray();
        Assert.True(segments.Length > 1);
        var victim = segments[0];
        var bytes = File.ReadAllBytes(victim);
        bytes[100] ^= 0xFF;
        File.WriteAllBytes(victim, bytes);
        using var reopened = new EmbeddedStore(_dir.FullName);
        var problems = reopened.Verify();
        var problem = Assert.Single(problems);
        Assert.Equal(victim, problem.Path);
        Assert.Contains("checksum", problem.Reason);
        Assert.Equal(0, problem.Block);
        Assert.False(File.Exists(victim));
        Assert.Equal(1, reopened.Stats().Quarantined);
        var left = reopened.Scan(long.MinValue, long.MaxValue, new FilterNode.Any()).Sum(b => b.Count);
        Assert.True(left > 0 && left < 10_000);
        Assert.Empty(reopened.Verify());
    }

    [Theory]
    [InlineData(8, 1)]  // the column count: the segment would read as having fewer columns, the rest as zeros
    [InlineData(12, 1)] // the flags: unsorted rows taken for sorted ones, or a final segment for a run
    [InlineData(7, 7)]  // the format byte, 4 to 3: a format whose header is read unchecked
    [InlineData(7, 6)]  // 4 to 2: not "written in an earlier format"
    public void A_segment_whose_header_was_changed_is_quarantined(int offset, byte mask)
    {
        using (var store = new EmbeddedStore(_dir.FullName))
        {
            store.Append(Batch(Records(5_000, 4)));
            store.Flush();
        }
        var victim = Directory.GetFiles(_dir.FullName, "seg-*.seg", SearchOption.AllDirectories).Order().First();
        var bytes = File.ReadAllBytes(victim);
        Assert.Equal("FLSEG004"u8.ToArray(), bytes[..8]);
        bytes[offset] ^= mask;
        File.WriteAllBytes(victim, bytes);
        using var reopened = new EmbeddedStore(_dir.FullName);
        var problem = Assert.Single(reopened.Verify());
        Assert.Equal(victim, problem.Path);
        Assert.Equal("header checksum mismatch", problem.Reason);
        Assert.False(File.Exists(victim));
    }

    [Fact]
    public void A_scan_left_early_stops_its_decoding_thread()
    {
        var records = Records(50_000, 5);
        using var store = new EmbeddedStore(_dir.FullName, new EmbeddedStoreOptions { BlockRows = 1000 });
        store.Append(Batch(records));
        store.Flush();
        // Leaving after two blocks must neither hang nor lose the pipeline's batches for the next scan.
        for (var round = 0; round < 20; round++)
        {
            Assert.Equal(2, store.Scan(long.MinValue, long.MaxValue, new FilterNode.Any()).Take(2).Count());
        }
        var first = QueryRunner.Rows(store.Scan(long.MinValue, long.MaxValue, new FilterNode.Any()), new FilterNode.Any(), limit: 10).ToList();
        Assert.Equal(10, first.Count);
        Assert.Equal(50_000, store.Scan(long.MinValue, long.MaxValue, new FilterNode.Any()).Sum(b => b.Count));
    }

    [Fact]
    public void Expire_drops_whole_old_partitions()
    {
        var records = Records(5000, 4);
        using var store = new EmbeddedStore(_dir.FullName);
        store.Append(Batch(records));
        store.Flush();
        var cut = records.Min(r => r.Start) + 20 * 60_000_000L;
        var dropped = store.Expire(cut);
        Assert.Equal(4, dropped);
        var remaining = store.Scan(long.MinValue, long.MaxValue, new FilterNode.Any()).SelectMany(b => Enumerable.Range(0, b.Count).Select(i => b.Start[i])).ToList();
        Assert.All(remaining, s => Assert.True(s >= cut - 5 * 60_000_000L));
        Assert.Equal(records.Count(r => Aggregator.FloorBucket(r.Start, 300_000_000) >= Aggregator.FloorBucket(cut, 300_000_000)), remaining.Count);
    }
    [Fact]
    public void Compaction_leaves_each_partition_one_sorted_segment_and_every_record_once_even_if_interrupted()
    {
        var records = Records(30_000, 3);
        var options = new EmbeddedStoreOptions { GroupCommit = TimeSpan.FromHours(1), BlockRows = 2000 };
        using (var store = new EmbeddedStore(_dir.FullName, options))
        {
            foreach (var chunk in records.Chunk(4000)) { store.Append(Batch(chunk)); store.Flush(); }
        }
        // Keep copies of the inputs, to put back as a crash between the rename and the deletes would leave them.
        var inputs = Directory.GetFiles(_dir.FullName, "seg-*.seg", SearchOption.AllDirectories).ToDictionary(p => p, File.ReadAllBytes);
        using (var store = new EmbeddedStore(_dir.FullName, options))
        {
            Assert.Equal(9, store.Compact());
            Assert.Equal(0, store.Compact()); // nothing left to do
        }
        var compacted = Directory.GetFiles(_dir.FullName, "seg-*.seg", SearchOption.AllDirectories);
        Assert.Equal(9, compacted.Length);
        Assert.All(compacted, p => Assert.Contains("-", Path.GetFileNameWithoutExtension(p)[4..]));
        Assert.All(compacted, p => Assert.True(File.Exists(Path.ChangeExtension(p, ".rollup"))));
        foreach (var path in compacted)
        {
            using var reader = new Segments.SegmentFile.Reader(path);
            Assert.True(reader.Sorted);
            var all = new FlowBatch();
            for (var i = 0; i < reader.Blocks.Length; i++) reader.ReadBlock(i, all);
            Assert.True(Segments.RowOrder.IsSorted(all));
        }
        foreach (var (path, bytes) in inputs) File.WriteAllBytes(path, bytes);
        File.WriteAllBytes(compacted[0] + ".tmp", [1, 2, 3]);

        using var reopened = new EmbeddedStore(_dir.FullName);
        var ids = reopened.Scan(long.MinValue, long.MaxValue, new FilterNode.Any())
            .SelectMany(b => Enumerable.Range(0, b.Count).Select(i => b.SampledPackets[i])).ToList();
        Assert.Equal(Enumerable.Range(0, 30_000).Select(i => (ulong)i), ids.Order());
        Assert.Equal(9, Directory.GetFiles(_dir.FullName, "seg-*.seg", SearchOption.AllDirectories).Length);
        Assert.Empty(Directory.GetFiles(_dir.FullName, "*.tmp", SearchOption.AllDirectories));
        Assert.Empty(reopened.Verify());
    }

    [Fact]
    public void A_host_lookup_in_a_compacted_partition_reads_few_blocks()
    {
        var records = Records(60_000, 4);
        var options = new EmbeddedStoreOptions { GroupCommit = TimeSpan.FromHours(1), BlockRows = 1000, PartitionWidth = TimeSpan.FromHours(2) };
        using var store = new EmbeddedStore(_dir.FullName, options);
        foreach (var chunk in records.Chunk(5000)) { store.Append(Batch(chunk)); store.Flush(); }
        store.Compact();
        // A client: its flows with servers (higher addresses) form one run in the pair order.
        var host = records.GroupBy(r => r.SrcAddr).Where(g => g.Key.IsV4 && g.Key.V4 >> 24 == 10).OrderBy(g => g.Count()).ElementAt(200).Key;
        var filter = FilterParser.Parse($"host {host}");
        var found = QueryRunner.Rows(store.Scan(long.MinValue, long.MaxValue, filter), filter).Select(r => r.SampledPackets).Order().ToList();
        Assert.Equal(records.Where(r => r.SrcAddr == host || r.DstAddr == host).Select(r => r.SampledPackets).Order(), found);
        Assert.True(store.ScanStats.Read <= 3, $"{store.ScanStats.Read} of {store.ScanStats.Blocks} blocks read");
    }
}

public sealed class RetentionStoreTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-expire-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void A_partition_an_interrupted_expiry_left_in_expired_is_gone_at_open_and_the_rest_is_whole()
    {
        var records = Flowline.Testing.RandomFlows.Records(new Random(7), 6000);
        var options = new Flowline.Storage.Embedded.EmbeddedStoreOptions { GroupCommit = TimeSpan.FromHours(1) };
        long total;
        using (var store = new Flowline.Storage.Embedded.EmbeddedStore(_dir.FullName, options))
        {
            var batch = new Flowline.Records.FlowBatch();
            foreach (var r in records) batch.Add(r);
            store.Append(batch);
            store.Flush();
            total = store.Stats().Rows;
        }
        // What a crash between the rename and the delete leaves: a partition directory inside expired/.
        var partition = Directory.EnumerateDirectories(_dir.FullName, "*", SearchOption.AllDirectories)
            .First(d => Directory.EnumerateFiles(d, "seg-*.seg").Any());
        var rows = records.Count(r => Path.GetFileName(partition) == DateTime.UnixEpoch.AddTicks(r.Start / 300_000_000 * 300_000_000 * 10).ToString("HHmm", System.Globalization.CultureInfo.InvariantCulture)
                                      && Path.GetFileName(Path.GetDirectoryName(partition)) == DateTime.UnixEpoch.AddTicks(r.Start * 10).ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(rows > 0);
        Directory.CreateDirectory(Path.Combine(_dir.FullName, "expired"));
        Directory.Move(partition, Path.Combine(_dir.FullName, "expired", "left-by-a-crash"));
        using (var store = new Flowline.Storage.Embedded.EmbeddedStore(_dir.FullName, options))
        {
            Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_dir.FullName, "expired")));
            Assert.Empty(store.Verify());
            Assert.Equal(total - rows, store.Stats().Rows);
            // And a pass removes whole partitions, with their hourly rollups, counting them.
            store.Compact();
            var last = records.Max(r => r.Start);
            var dropped = store.Expire(last + 2 * 3_600_000_000L);
            Assert.True(dropped > 0);
            Assert.Equal(dropped, store.CompactionStats.Expired);
            Assert.Equal(0, store.Stats().Rows);
            Assert.Empty(Directory.EnumerateFiles(_dir.FullName, "*.rollup", SearchOption.AllDirectories));
        }
    }

    [Fact]
    public void A_start_beyond_the_calendar_is_stored_in_its_last_or_first_partition_and_read_back()
    {
        // Decoders keep times within the years 1 to 9999; a caller that does not must not bring the store down.
        long[] starts = [FlowTime.MaxMicros, FlowTime.MaxMicros + 1, long.MaxValue - 1, FlowTime.MinMicros, FlowTime.MinMicros - 1, long.MinValue, 1_795_000_000_000_000];
        var records = starts.Select((t, i) => new FlowRecord { Start = t, End = t, TimeReceived = 1_795_000_000_000_000, SampledPackets = (ulong)i, Packets = 1, IpVersion = 4 }).ToList();
        using (var store = new EmbeddedStore(_dir.FullName, new EmbeddedStoreOptions { GroupCommit = TimeSpan.FromHours(1) }))
        {
            store.Append(EmbeddedStoreTests.Batch(records));
            store.Flush();
            store.Compact(long.MaxValue);
        }
        using var reopened = new EmbeddedStore(_dir.FullName);
        var ids = reopened.Scan(long.MinValue, long.MaxValue, new FilterNode.Any())
            .SelectMany(b => Enumerable.Range(0, b.Count).Select(i => b.SampledPackets[i])).ToList();
        Assert.Equal(Enumerable.Range(0, starts.Length).Select(i => (ulong)i), ids.Order());
        Assert.Empty(reopened.Verify());
    }
}
