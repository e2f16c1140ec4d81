using Flowline.Records;
using Flowline.Storage.Embedded;

namespace Flowline.Storage.Tests;

/// <summary>Partition-width tables summed from the per-minute ones hold exactly what summing the rows gives.</summary>
public sealed class RollupBuilderTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-rollups-");

    public void Dispose() => _dir.Delete(recursive: true);

    private const long Partition = 5 * Rollups.MinuteMicros;

    private static List<FlowBatch> Blocks(int seed, int sources)
    {
        var r = new Random(seed);
        var blocks = new List<FlowBatch>();
        for (var b = 0; b < 12; b++)
        {
            var block = new FlowBatch(2000);
            for (var i = 0; i < 2000; i++)
            {
                block.Add(new FlowRecord
                {
                    Start = r.NextInt64(0, Partition),
                    SrcAddr = FlowAddress.FromV4(0x0A000000u + (uint)r.Next(sources)),
                    DstAddr = FlowAddress.FromV4(0xC0A80000u + (uint)r.Next(50)),
                    IpProto = 6,
                    SrcPort = (ushort)r.Next(1024, 1100),
                    DstPort = (ushort)(r.Next(2) == 0 ? 443 : 80),
                    Exporter = FlowAddress.FromV4(0x7F000001u + (uint)r.Next(3)),
                    Bytes = (ulong)r.Next(40, 100_000),
                    Packets = (ulong)r.Next(1, 100),
                });
            }
            blocks.Add(block);
        }
        return blocks;
    }

    private Dictionary<(int Keys, long Width), string> Written(Rollups.Builder builder, List<FlowBatch> blocks, string name)
    {
        foreach (var block in blocks) builder.Add(block);
        var path = Path.Combine(_dir.FullName, name);
        builder.WriteFile(path, []);
        var tables = Rollups.TryReadFile(path)!.Tables;
        return tables.ToDictionary(t => (Array.IndexOf(Rollups.KeySets, Rollups.KeySets.First(k => k.AsSpan().SequenceEqual(t.Keys))), t.Width), t =>
        {
            var (rows, flows) = t.Decode()!.Value;
            var lines = new List<string>();
            for (var i = 0; i < rows.Count; i++)
            {
                lines.Add($"{rows.Start[i]} {rows.SrcAddr[i]} {rows.DstAddr[i]} {rows.IpProto[i]} {rows.SrcPort[i]} {rows.DstPort[i]} {rows.Exporter[i]} {rows.Bytes[i]} {rows.Packets[i]} {flows[i]}");
            }
            lines.Sort(StringComparer.Ordinal);
            return string.Join("\n", lines);
        });
    }

    [Theory]
    [InlineData(1, 200, long.MaxValue)]
    // Source addresses too diverse for the per-minute table's share (it is dropped after a few blocks)
    // while the per-partition table still fits: it takes the minute table's sums and then the rows.
    [InlineData(2, 3000, 12L * 256 * 4000)]
    // Too diverse for both: each is dropped, the per-partition one when it takes the minute table's sums.
    [InlineData(3, 20000, 12L * 256 * 2500)]
    public void Partition_tables_summed_from_minute_tables_equal_the_rows_summed(int seed, int sources, long memory)
    {
        var blocks = Blocks(seed, sources);
        var both = Written(new Rollups.Builder(Partition, memory), blocks, "both");
        // Every table fed rows: one builder per width, each with the share it has in the builder of both.
        var minutes = Written(new Rollups.Builder([Rollups.MinuteMicros], memory / 2), blocks, "minutes");
        var partitions = Written(new Rollups.Builder([Partition], memory / 2), blocks, "partitions");
        foreach (var ((keys, width), rows) in partitions)
        {
            Assert.True(both.TryGetValue((keys, width), out var summed), $"key set {keys}: per-partition table missing");
            Assert.Equal(rows, summed);
        }
        Assert.Equal(partitions.Count + minutes.Count, both.Count);
        if (memory != long.MaxValue) Assert.True(minutes.Count < 6, "the test meant some minute table to be dropped");
    }
}
