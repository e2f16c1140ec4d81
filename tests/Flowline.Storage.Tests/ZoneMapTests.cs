using Flowline.Storage.Segments;
using Flowline.Records;

namespace Flowline.Storage.Tests;

public sealed class ZoneMapTests
{
    private static FlowAddress Address(Random random, bool v6) => v6
        ? new FlowAddress(0xFD00_0000_0000_0000UL + (ulong)random.Next(4), (ulong)random.NextInt64())
        : FlowAddress.FromV4(0x0A00_0000u + (uint)random.Next(1 << 20));

    /// <summary>The zone map computed row by row with <see cref="FlowAddress.CompareTo"/>, as the definition says.</summary>
    private static ZoneMap Naive(FlowBatch b, int from, int count)
    {
        FlowAddress Min(FlowAddress x, FlowAddress y) => x.CompareTo(y) <= 0 ? x : y;
        FlowAddress Max(FlowAddress x, FlowAddress y) => x.CompareTo(y) >= 0 ? x : y;
        var z = new ZoneMap
        {
            MinStart = long.MaxValue, MaxStart = long.MinValue, MinSrcPort = ushort.MaxValue, MinDstPort = ushort.MaxValue,
            MinSrc = b.SrcAddr[from], MaxSrc = b.SrcAddr[from], MinDst = b.DstAddr[from], MaxDst = b.DstAddr[from],
            MinExporter = b.Exporter[from], MaxExporter = b.Exporter[from],
            MinLow = Min(b.SrcAddr[from], b.DstAddr[from]), MaxLow = Min(b.SrcAddr[from], b.DstAddr[from]),
            MinHigh = Max(b.SrcAddr[from], b.DstAddr[from]), MaxHigh = Max(b.SrcAddr[from], b.DstAddr[from]),
        };
        var protocols = new ulong[4];
        for (var i = from; i < from + count; i++)
        {
            z.MinStart = Math.Min(z.MinStart, b.Start[i]);
            z.MaxStart = Math.Max(z.MaxStart, b.Start[i]);
            z.MinSrc = Min(z.MinSrc, b.SrcAddr[i]); z.MaxSrc = Max(z.MaxSrc, b.SrcAddr[i]);
            z.MinDst = Min(z.MinDst, b.DstAddr[i]); z.MaxDst = Max(z.MaxDst, b.DstAddr[i]);
            z.MinExporter = Min(z.MinExporter, b.Exporter[i]); z.MaxExporter = Max(z.MaxExporter, b.Exporter[i]);
            var low = Min(b.SrcAddr[i], b.DstAddr[i]);
            var high = Max(b.SrcAddr[i], b.DstAddr[i]);
            z.MinLow = Min(z.MinLow, low); z.MaxLow = Max(z.MaxLow, low);
            z.MinHigh = Min(z.MinHigh, high); z.MaxHigh = Max(z.MaxHigh, high);
            z.MinSrcPort = Math.Min(z.MinSrcPort, b.SrcPort[i]); z.MaxSrcPort = Math.Max(z.MaxSrcPort, b.SrcPort[i]);
            z.MinDstPort = Math.Min(z.MinDstPort, b.DstPort[i]); z.MaxDstPort = Math.Max(z.MaxDstPort, b.DstPort[i]);
            protocols[b.IpProto[i] >> 6] |= 1UL << (b.IpProto[i] & 63);
        }
        (z.Proto0, z.Proto1, z.Proto2, z.Proto3) = (protocols[0], protocols[1], protocols[2], protocols[3]);
        return z;
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(0, 5000)]
    [InlineData(0.001, 5000)]
    [InlineData(0.5, 300)]
    [InlineData(0, 3)]
    [InlineData(1, 777)]
    public void Ranges_equal_the_row_by_row_definition_for_IPv4_and_mixed_blocks(double v6Share, int rows)
    {
        var random = new Random(rows + (int)(v6Share * 1000));
        var b = new FlowBatch(16);
        for (var i = 0; i < rows + 20; i++)
        {
            var v6 = random.NextDouble() < v6Share;
            b.Add(new FlowRecord
            {
                Start = 1_700_000_000_000_000 + random.Next(1_000_000), SrcAddr = Address(random, v6), DstAddr = Address(random, v6),
                Exporter = random.Next(3) == 0 ? FlowAddress.FromV4(0xC0A8_0001u) : FlowAddress.FromV4(0xC0A8_0002u),
                SrcPort = (ushort)random.Next(65536), DstPort = (ushort)random.Next(1, 1024), IpProto = (byte)random.Next(256),
            });
        }
        Assert.Equal(Naive(b, 10, rows), ZoneMap.Of(b, 10, rows));
    }
}
