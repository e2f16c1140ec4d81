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
    // Source addresses too diverse for the tables' room together: the largest (a minute table of sources) is
    // dropped, the per-partition table of sources summed from it first and fed the rows from then on.
    [InlineData(2, 3000, 512L * 12_000)]
    // Too diverse for both: the minute and the partition tables of sources dropped in turn.
    [InlineData(3, 20000, 512L * 12_000)]
    public void Tables_kept_within_the_room_equal_the_rows_summed(int seed, int sources, long memory)
    {
        var blocks = Blocks(seed, sources);
        var limited = Written(new Rollups.Builder(Partition, memory), blocks, "limited");
        // Every table fed the rows themselves, each width on its own: what summing finer tables must equal.
        var minutes = Written(new Rollups.Builder([Rollups.MinuteMicros]), blocks, "minutes");
        var partitions = Written(new Rollups.Builder([Partition]), blocks, "partitions");
        Assert.Equal(Rollups.KeySets.Length, minutes.Count);
        Assert.Equal(Rollups.KeySets.Length, partitions.Count);
        foreach (var (key, rows) in limited)
        {
            Assert.Equal(key.Width == Partition ? partitions[key] : minutes[key], rows);
        }
        if (memory == long.MaxValue)
        {
            Assert.Equal(2 * Rollups.KeySets.Length, limited.Count);
            return;
        }
        Assert.True(limited.Count < 2 * Rollups.KeySets.Length, "the test meant some table to be dropped");
        // The small tables (no key, exporters) leave the room to the large ones and are always kept.
        var none = Array.FindIndex(Rollups.KeySets, k => k.Length == 0);
        Assert.Contains((none, Rollups.MinuteMicros), limited.Keys);
        Assert.Contains((none, Partition), limited.Keys);
        if (seed == 2) Assert.True(limited.Keys.Count(k => k.Width == Partition) > limited.Keys.Count(k => k.Width == Rollups.MinuteMicros));
    }
}
