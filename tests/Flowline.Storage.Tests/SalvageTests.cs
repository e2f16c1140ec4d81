using Flowline.Query;
using Flowline.Storage.Embedded;
using Flowline.Records;

namespace Flowline.Storage.Tests;

/// <summary>
/// What verify and serve's upkeep restore of a damaged segment: its readable blocks, exactly once, whatever a
/// crash, a compaction or new commits did in between.
/// </summary>
public sealed class SalvageTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-salvage-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Verify_keeps_the_readable_blocks_of_a_damaged_segment_and_a_segment_a_query_quarantined()
    {
        var records = EmbeddedStoreTests.Records(40_000, 6);
        var options = new EmbeddedStoreOptions { BlockRows = 1_000 };
        Compacted(records, options);
        var finals = Directory.GetFiles(_dir.FullName, "seg-*-*.seg", SearchOption.AllDirectories).Order().ToArray();
        Assert.True(finals.Length >= 2, $"{finals.Length} compacted segments");
        // One byte of the third block of the first final segment, and of the first block of the second.
        int Damage(string segment, int block)
        {
            int rows;
            long offset;
            using (var reader = new Flowline.Storage.Segments.SegmentFile.Reader(segment))
            {
                Assert.True(reader.Blocks.Length > block + 1, $"{reader.Blocks.Length} blocks");
                (offset, rows) = (reader.Blocks[block].Offset, reader.Blocks[block].Rows);
            }
            var bytes = File.ReadAllBytes(segment);
            bytes[offset + 40] ^= 0x5A;
            File.WriteAllBytes(segment, bytes);
            return rows;
        }
        // A query meets the damage of the second first: it quarantines the segment; verify salvages it as well.
        var lostInQuery = Damage(finals[1], 0);
        using (var store = new EmbeddedStore(_dir.FullName, options))
        {
            Assert.True(store.Scan(long.MinValue, long.MaxValue, new FilterNode.Any()).Sum(b => b.Count) < records.Count);
        }
        Assert.False(File.Exists(finals[1]));
        var lostInVerify = Damage(finals[0], 2);

        using var reopened = new EmbeddedStore(_dir.FullName, options);
        var problems = reopened.Verify();
        Assert.Equal(2, problems.Count);
        var found = Assert.Single(problems, p => p.Damaged);
        Assert.Equal((finals[0], 2), (found.Path, found.Block));
        Assert.Matches(@"^quarantined; \d+ of its \d+ blocks \([\d,]+ rows\) restored as \d{8}/\d{4}/seg-\d{12}\.seg$", found.Outcome);
        var before = Assert.Single(problems, p => !p.Damaged);
        Assert.Equal((finals[1], StoreProblem.QuarantinedBefore), (before.Path, before.Reason));
        Assert.Contains(" restored as ", before.Outcome);

        // Every row but those of the two damaged blocks, once each; rollup answers agree with the flows.
        var left = reopened.Scan(long.MinValue, long.MaxValue, new FilterNode.Any(), new HashSet<FlowField> { FlowField.SampledPackets })
            .SelectMany(b => b.SampledPackets.Take(b.Count).ToArray()).ToList();
        Assert.Equal(records.Count - lostInVerify - lostInQuery, left.Count);
        Assert.Equal(left.Count, left.Distinct().Count());
        Assert.Equal(2, Directory.GetFiles(Path.Combine(_dir.FullName, "quarantine"), $"*{EmbeddedStore.RestoredInfix}seg-*.seg").Length);
        var query = new FlowQuery { GroupBy = [new GroupKey(FlowField.DstPort)], Limit = 0 };
        static IEnumerable<string> Sums(IEnumerable<AggregateRow> rows) => rows.Select(r => $"{r.Keys[0]} {r.Bytes} {r.Packets} {r.Flows}").Order(StringComparer.Ordinal);
        Assert.Equal(Sums(QueryRunner.Aggregate(reopened.Scan(long.MinValue, long.MaxValue, new FilterNode.Any(), FilterColumns.Of(query)), query)),
            Sums(reopened.Aggregate(long.MinValue, long.MaxValue, query)));
        Assert.Empty(reopened.Verify());
        // The next compaction merges the restored rows back into their partitions.
        Assert.True(reopened.Compact() >= 2);
        Assert.Equal(left.Count, reopened.Scan(long.MinValue, long.MaxValue, new FilterNode.Any()).Sum(b => b.Count));
        Assert.Equal(Sums(QueryRunner.Aggregate(reopened.Scan(long.MinValue, long.MaxValue, new FilterNode.Any(), FilterColumns.Of(query)), query)),
            Sums(reopened.Aggregate(long.MinValue, long.MaxValue, query)));
    }

    /// <summary>A compacted store of <paramref name="records"/> whose first final segment has block 1 damaged; its rows, and that block's.</summary>
    private (string Victim, int Lost) DamagedStore(List<FlowRecord> records, EmbeddedStoreOptions options)
    {
        Compacted(records, options);
        var victim = Directory.GetFiles(_dir.FullName, "seg-*-*.seg", SearchOption.AllDirectories).Order().First();
        int lost;
        long offset;
        using (var reader = new Flowline.Storage.Segments.SegmentFile.Reader(victim)) (offset, lost) = (reader.Blocks[1].Offset, reader.Blocks[1].Rows);
        var bytes = File.ReadAllBytes(victim);
        bytes[offset + 40] ^= 0x5A;
        File.WriteAllBytes(victim, bytes);
        return (victim, lost);
    }

    /// <summary>A store of <paramref name="records"/>, compacted.</summary>
    private void Compacted(List<FlowRecord> records, EmbeddedStoreOptions options)
    {
        using var store = new EmbeddedStore(_dir.FullName, options);
        store.Append(EmbeddedStoreTests.Batch(records));
        store.Flush();
        store.Compact();
    }

    private static long Count(EmbeddedStore s) => s.Scan(long.MinValue, long.MaxValue, new FilterNode.Any()).Sum(b => b.Count);

    private string[] Quarantined(string pattern) => Directory.GetFiles(Path.Combine(_dir.FullName, "quarantine"), pattern);

    [Fact]
    public void The_upkeep_restores_what_a_query_quarantined()
    {
        var records = EmbeddedStoreTests.Records(20_000, 8);
        var options = new EmbeddedStoreOptions { BlockRows = 1_000 };
        var (victim, lost) = DamagedStore(records, options);
        using var store = new EmbeddedStore(_dir.FullName, options);
        Assert.True(Count(store) <= records.Count - lost);
        Assert.False(File.Exists(victim));
        // Quarantined, the whole segment is out of the answers.
        Assert.True(Count(store) < records.Count - lost);
        // serve's upkeep step restores it, and says so.
        var said = new List<string>();
        Assert.True(store.MaintainStep(TimeSpan.Zero, log: said.Add));
        Assert.Matches(@"^salvage: \d{8}/\d{4}/seg-\d+-\d+\.seg \(quarantined\): \d+ of its \d+ blocks \([\d,]+ rows\) restored as ", Assert.Single(said));
        Assert.Equal(records.Count - lost, Count(store));
        Assert.Single(Quarantined($"*{EmbeddedStore.RestoredInfix}seg-*.seg"));
        Assert.Empty(store.Verify());
        // Retention takes the quarantined copy with its partition.
        store.Expire(long.MaxValue);
        Assert.Empty(Quarantined("*"));
    }

    [Theory]
    [InlineData(true, false)]  // the restored segment written, the crash before the quarantined file was renamed
    [InlineData(true, true)]   // the same, and a compaction ran before anything looked at the quarantine again
    [InlineData(false, true)]  // cut short before the segment appeared, then new commits took the next numbers
    public void A_restore_cut_short_by_a_crash_is_finished_exactly_once_whatever_ran_since(bool written, bool workSince)
    {
        var records = EmbeddedStoreTests.Records(20_000, 8);
        var options = new EmbeddedStoreOptions { BlockRows = 1_000 };
        var (victim, lost) = DamagedStore(records, options);
        using (var store = new EmbeddedStore(_dir.FullName, options))
        {
            Assert.Single(store.Verify());
            Assert.Equal(records.Count - lost, Count(store));
        }
        // Back to the moment of the crash: the quarantined file named for its target, which is there or not.
        var done = Assert.Single(Quarantined($"*{EmbeddedStore.RestoredInfix}seg-*.seg"));
        var at = done.IndexOf(EmbeddedStore.RestoredInfix, StringComparison.Ordinal);
        var target = Path.Combine(Path.GetDirectoryName(victim)!, done[(at + EmbeddedStore.RestoredInfix.Length)..]);
        Assert.True(File.Exists(target));
        File.Move(done, done[..at] + ".restoring-" + Path.GetFileName(target));
        if (!written) File.Delete(target);
        var extra = 0;
        using (var store = new EmbeddedStore(_dir.FullName, options))
        {
            if (workSince)
            {
                // New flows in the same partition (numbers the restore may have taken before), then a compaction.
                var first = records.Min(r => r.Start);
                var more = EmbeddedStoreTests.Records(20_000, 9).Take(2_000).Select(r => r with { Start = first, End = first }).ToList();
                store.Append(EmbeddedStoreTests.Batch(more));
                store.Flush();
                extra = more.Count;
                store.Compact();
            }
            store.Verify();
            Assert.Equal(records.Count - lost + extra, Count(store));
        }
        using (var store = new EmbeddedStore(_dir.FullName, options))
        {
            Assert.Empty(store.Verify());
            Assert.Equal(records.Count - lost + extra, Count(store));
            Assert.Single(Quarantined($"*{EmbeddedStore.RestoredInfix}seg-*.seg"));
        }
    }

    [Fact]
    public void The_number_of_a_quarantined_segment_is_not_given_again()
    {
        var records = EmbeddedStoreTests.Records(20_000, 8);
        var options = new EmbeddedStoreOptions { BlockRows = 1_000, CommitBlockRows = 1_000 };
        using (var store = new EmbeddedStore(_dir.FullName, options))
        {
            store.Append(EmbeddedStoreTests.Batch(records));
            store.Flush();
            // The newest commit: 3,000 rows of one partition, three blocks.
            var first = records.Min(r => r.Start);
            var late = EmbeddedStoreTests.Records(20_000, 10).Take(3_000).Select(r => r with { Start = first, End = first }).ToList();
            store.Append(EmbeddedStoreTests.Batch(late));
            store.Flush();
            records.AddRange(late);
        }
        // The newest commit damaged and quarantined by a read.
        var newest = Directory.GetFiles(_dir.FullName, "seg-*.seg", SearchOption.AllDirectories).MaxBy(Path.GetFileName, StringComparer.Ordinal)!;
        long start;
        int lost;
        using (var reader = new Flowline.Storage.Segments.SegmentFile.Reader(newest)) (start, lost) = (reader.Blocks[0].Zone.MinStart, reader.Blocks[1].Rows);
        var bytes = File.ReadAllBytes(newest);
        using (var reader = new Flowline.Storage.Segments.SegmentFile.Reader(newest)) bytes[reader.Blocks[1].Offset + 40] ^= 0x5A;
        File.WriteAllBytes(newest, bytes);
        using (var store = new EmbeddedStore(_dir.FullName, options)) Count(store);
        Assert.False(File.Exists(newest));
        // Reopened, a commit to the same partition: it must not take the quarantined segment's name, or its
        // restore would take the new segment for the rows it holds.
        var more = EmbeddedStoreTests.Records(20_000, 9).Take(500).Select(r => r with { Start = start, End = start }).ToList();
        using (var store = new EmbeddedStore(_dir.FullName, options))
        {
            store.Append(EmbeddedStoreTests.Batch(more));
            store.Flush();
            Assert.False(File.Exists(newest));
            Assert.Contains(" restored as ", Assert.Single(store.Verify()).Outcome);
            Assert.Equal(records.Count - lost + more.Count, Count(store));
        }
        // Nor once its restore is done and nothing went back (none of the restored segment's number is live).
        foreach (var restored in Directory.GetFiles(Path.GetDirectoryName(newest)!, "seg-*.seg")) File.Delete(restored);
        var done = Assert.Single(Quarantined($"*{EmbeddedStore.RestoredInfix}*"));
        File.Move(done, done[..done.IndexOf(EmbeddedStore.RestoredInfix, StringComparison.Ordinal)] + EmbeddedStore.UnrestoredSuffix);
        using (var store = new EmbeddedStore(_dir.FullName, options))
        {
            store.Append(EmbeddedStoreTests.Batch(more));
            store.Flush();
            Assert.False(File.Exists(newest));
        }
    }

    [Fact]
    public void Of_two_quarantined_copies_of_a_segment_one_is_restored()
    {
        var records = EmbeddedStoreTests.Records(20_000, 8);
        var options = new EmbeddedStoreOptions { BlockRows = 1_000 };
        var (victim, lost) = DamagedStore(records, options);
        var damaged = File.ReadAllBytes(victim);
        using (var store = new EmbeddedStore(_dir.FullName, options)) Count(store);
        var first = Assert.Single(Quarantined("*"));
        File.WriteAllBytes(first + "~1", damaged);
        using var reopened = new EmbeddedStore(_dir.FullName, options);
        var problems = reopened.Verify();
        Assert.Equal(2, problems.Count);
        Assert.Single(problems, p => p.Outcome.Contains(" restored as ", StringComparison.Ordinal));
        Assert.Single(problems, p => p.Outcome == "nothing restored: another copy of it was restored");
        Assert.Equal(records.Count - lost, Count(reopened));
    }

    [Fact]
    public void A_compacted_segment_whose_inputs_are_live_again_is_not_restored_twice()
    {
        var records = EmbeddedStoreTests.Records(20_000, 8);
        var options = new EmbeddedStoreOptions { BlockRows = 1_000 };
        using (var store = new EmbeddedStore(_dir.FullName, options))
        {
            store.Append(EmbeddedStoreTests.Batch(records));
            store.Flush();
        }
        // The inputs of the first partition's merge, kept aside as a scan running during the merge would keep them.
        var partition = Directory.GetDirectories(Directory.GetDirectories(_dir.FullName, "2*").Order().First()).Order().First();
        var inputs = Directory.GetFiles(partition, "seg-*.seg").ToDictionary(f => f, File.ReadAllBytes);
        using (var store = new EmbeddedStore(_dir.FullName, options)) store.Compact();
        var merged = Assert.Single(Directory.GetFiles(partition, "seg-*.seg"));
        // The merged segment damaged and quarantined by a read, its inputs live again.
        using (var store = new EmbeddedStore(_dir.FullName, options))
        {
            var bytes = File.ReadAllBytes(merged);
            bytes[bytes.Length / 2] ^= 0x5A;
            File.WriteAllBytes(merged, bytes);
            Count(store);
            Assert.False(File.Exists(merged));
        }
        foreach (var (path, bytes) in inputs) File.WriteAllBytes(path, bytes);
        using (var store = new EmbeddedStore(_dir.FullName, options))
        {
            Assert.Equal(records.Count, Count(store));
            var problem = Assert.Single(store.Verify());
            Assert.Equal("nothing restored: live segments still hold its rows (those it was merged from)", problem.Outcome);
            Assert.Equal(records.Count, Count(store));
            Assert.Single(Quarantined("*" + EmbeddedStore.UnrestoredSuffix));
        }
    }

    [Theory]
    [InlineData(2)]   // the magic
    [InlineData(9)]   // the column count
    [InlineData(12)]  // the flags
    public void A_damaged_header_is_rebuilt_from_the_trailers_checksum_and_every_row_kept(int at)
    {
        var records = EmbeddedStoreTests.Records(20_000, 9);
        var options = new EmbeddedStoreOptions { BlockRows = 1_000 };
        Compacted(records, options);
        var victim = Directory.GetFiles(_dir.FullName, "seg-*-*.seg", SearchOption.AllDirectories).Order().First();
        var bytes = File.ReadAllBytes(victim);
        bytes[at] ^= 0x10;
        File.WriteAllBytes(victim, bytes);
        using var reopened = new EmbeddedStore(_dir.FullName, options);
        var problem = Assert.Single(reopened.Verify());
        Assert.Matches(@"^quarantined; (\d+) of its \1 blocks \([\d,]+ rows\) restored as .* \(its damaged header rebuilt from the checksum its trailer keeps\)$", problem.Outcome);
        Assert.Equal(records.Count, Count(reopened));
        Assert.Empty(reopened.Verify());
    }
}
