using Flowline.Query;
using Flowline.Storage.Embedded;
using Flowline.Wire.Generation;
using Flowline.Records;

namespace Flowline.Storage.Tests;

/// <summary>One writer per store, readers beside it: what each may do to the other's files.</summary>
public sealed class StoreSharingTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-sharing-");

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>Rows in one partition, each with its number in SampledPackets, written as <paramref name="commits"/> group commits.</summary>
    private void Write(int rows, int commits)
    {
        var g = new TrafficGenerator(5, hosts: 200, flowsPerSecond: rows / 60.0);
        using var store = new EmbeddedStore(_dir.FullName, new EmbeddedStoreOptions { GroupCommit = TimeSpan.FromHours(1) });
        var start = 0;
        for (var c = 0; c < commits; c++)
        {
            var b = new FlowBatch();
            for (var i = 0; i < rows / commits; i++, start++)
            {
                var r = g.Next();
                r.Start = r.End = 1_790_000_000_000_000 + start;
                r.SampledPackets = (ulong)start;
                b.Add(r);
            }
            store.Append(b);
            store.Flush();
        }
    }

    private static List<ulong> Ids(IEnumerable<FlowBatch> batches) =>
        batches.SelectMany(b => Enumerable.Range(0, b.Count).Select(i => b.SampledPackets[i])).ToList();

    [Fact]
    public void A_second_writer_is_refused_and_readers_open_beside_the_writer()
    {
        using (var writer = new EmbeddedStore(_dir.FullName))
        {
            var e = Assert.Throws<StoreLockedException>(() => new EmbeddedStore(_dir.FullName));
            Assert.Contains("is being written by another process", e.Message, StringComparison.Ordinal);
            using var reader = new EmbeddedStore(_dir.FullName, new EmbeddedStoreOptions { ReadOnly = true });
            Assert.Equal(0, reader.Stats().Rows);
        }
        // Released with the writer.
        using var next = new EmbeddedStore(_dir.FullName);
    }

    [Fact]
    public void A_directory_where_the_lock_file_goes_is_named_as_such()
    {
        Directory.CreateDirectory(Path.Combine(_dir.FullName, EmbeddedStore.WriterLockFile));
        var e = Assert.Throws<IOException>(() => new EmbeddedStore(_dir.FullName));
        Assert.Contains("writer.lock is a directory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_reader_reports_a_damaged_segment_and_leaves_it_and_the_writer_quarantines_it_and_says_so()
    {
        Write(6_000, 3);
        var victim = Directory.GetFiles(_dir.FullName, "seg-*.seg", SearchOption.AllDirectories).Order().First();
        using (var f = new FileStream(victim, FileMode.Open)) f.SetLength(f.Length - 100);

        using (var reader = new EmbeddedStore(_dir.FullName, new EmbeddedStoreOptions { ReadOnly = true }))
        {
            Assert.Equal(4_000, Ids(reader.Scan(long.MinValue, long.MaxValue, new FilterNode.Any())).Count);
            var (path, reason) = Assert.Single(reader.Damaged);
            Assert.Equal(victim, path);
            Assert.StartsWith(victim, reason, StringComparison.Ordinal);
            Assert.True(File.Exists(victim), "a reader moved the writer's file");
            Assert.Equal(0, reader.QuarantinedCount);
        }
        var told = new List<string>();
        using var writer = new EmbeddedStore(_dir.FullName, new EmbeddedStoreOptions { Quarantined = (p, _) => told.Add(p) });
        Assert.Equal(4_000, Ids(writer.Scan(long.MinValue, long.MaxValue, new FilterNode.Any())).Count);
        Assert.Equal([victim], told);
        Assert.Equal(1, writer.QuarantinedCount);
        Assert.False(File.Exists(victim));
        Assert.Single(Directory.GetFiles(Path.Combine(_dir.FullName, "quarantine")));
    }

    [Fact]
    public void A_reader_scanning_while_the_writer_compacts_reads_every_row_once()
    {
        Write(30_000, 6);
        using var reader = new EmbeddedStore(_dir.FullName, new EmbeddedStoreOptions { ReadOnly = true, BlockRows = 1_024 });
        var ids = new List<ulong>();
        using (var scan = reader.Scan(long.MinValue, long.MaxValue, new FilterNode.Any()).GetEnumerator())
        {
            Assert.True(scan.MoveNext());
            ids.AddRange(Ids([scan.Current]));
            // The writer merges the six commits into one segment and deletes them, under the reader's scan.
            using (var writer = new EmbeddedStore(_dir.FullName))
            {
                Assert.Equal(1, writer.Compact(long.MaxValue));
            }
            Assert.Single(Directory.GetFiles(_dir.FullName, "seg-*.seg", SearchOption.AllDirectories));
            while (scan.MoveNext()) ids.AddRange(Ids([scan.Current]));
        }
        Assert.Equal(Enumerable.Range(0, 30_000).Select(i => (ulong)i), ids.Order());
        Assert.Empty(reader.Damaged);
    }
}
