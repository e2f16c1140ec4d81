using Flowline.Records;
using Flowline.Storage.Compaction;
using Flowline.Storage.Segments;
using Flowline.Wire.Generation;

namespace Flowline.Storage.Tests;

public sealed class SegmentMergerTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-merge-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Output_blocks_stay_whole_when_one_input_supplies_many_blocks_in_a_row()
    {
        // 3,000 rows in order, the first half in one input and the second in another, both in 256-row blocks:
        // each output block of 700 rows draws on three or more blocks of one input, whose slots are reused
        // meanwhile. The rows must come out in order, every block whole but the last.
        var g = new TrafficGenerator(5, hosts: 300);
        var all = new FlowBatch(3000);
        for (var i = 0; i < 3000; i++) all.Add(g.Next());
        var ids = new RowOrder.Sorter().Sort([all], 1 << 16).ToArray();
        var sorted = new FlowBatch(3000);
        sorted.AppendGathered([all], new int[ids.Length], ids);
        var paths = new List<string>();
        for (var half = 0; half < 2; half++)
        {
            var path = Path.Combine(_dir.FullName, $"in{half}.seg");
            using var writer = new SegmentFile.Writer(path, SegmentCodec.Lz4, sorted: true);
            for (var at = half * 1500; at < (half + 1) * 1500; at += 256) writer.AppendBlock(sorted, at, Math.Min(256, (half + 1) * 1500 - at));
            writer.Complete();
            paths.Add(path);
        }
        var output = Path.Combine(_dir.FullName, "out.seg");
        var readers = paths.ConvertAll(p => new SegmentFile.Reader(p));
        try
        {
            using var writer = new SegmentFile.Writer(output, SegmentCodec.Lz4, sorted: true);
            Assert.Equal(3000, SegmentMerger.Merge(readers, writer, 700, 256, new BatchPool()));
            writer.Complete();
        }
        finally
        {
            foreach (var r in readers) r.Dispose();
        }
        using var merged = new SegmentFile.Reader(output);
        Assert.All(merged.Blocks[..^1], b => Assert.Equal(700, b.Rows));
        var back = new FlowBatch();
        for (var b = 0; b < merged.Blocks.Length; b++) merged.ReadBlock(b, back);
        Assert.True(sorted.Start.AsSpan(0, 3000).SequenceEqual(back.Start.AsSpan(0, 3000)));
        Assert.True(sorted.SrcAddr.AsSpan(0, 3000).SequenceEqual(back.SrcAddr.AsSpan(0, 3000)));
    }
}
