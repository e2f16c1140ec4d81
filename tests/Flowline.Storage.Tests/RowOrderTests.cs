using Flowline.Records;
using Flowline.Storage.Segments;

namespace Flowline.Storage.Tests;

public sealed class RowOrderTests
{
    /// <summary>Addresses from every range the prefix treats apart, drawn from small pools so that pairs repeat.</summary>
    private static FlowAddress Address(Random r) => r.Next(6) switch
    {
        0 => new FlowAddress(0, (ulong)r.Next(0, 3)),                                  // ::, ::1, ::2 (below IPv4)
        1 => FlowAddress.FromV4(0x0A000000u + (uint)r.Next(0, 40)),                    // 10.0.0.x
        2 => FlowAddress.FromV4(0xAC100000u + (uint)r.Next(0, 40) * 4),                // 172.16.x, several per /29
        3 => FlowAddress.FromV4(0xFFFFFFF0u + (uint)r.Next(0, 16)),                    // the top of IPv4
        4 => new FlowAddress(0, 0x0001_0000_0000_0000UL + (ulong)r.Next(0, 3)),        // above IPv4, below ::/64's end
        _ => new FlowAddress(0x2001_0DB8_0000_0000UL + (ulong)r.Next(0, 3), (ulong)r.Next(0, 3)),
    };

    /// <summary>Starts a few apart (ties on start), a collector's microseconds over minutes, or spread too wide for the sorter's second word.</summary>
    private static long Start(Random r, int spread) => spread switch
    {
        0 => r.Next(0, 5),
        1 => 1_764_000_000_000_000L + r.NextInt64(0, 300_000_000),
        _ => r.NextInt64(long.MinValue / 2, long.MaxValue / 2),
    };

    [Theory]
    [InlineData(1, 1, 0)]
    [InlineData(2, 50, 0)]
    [InlineData(3, 5000, 0)]
    [InlineData(5, 5000, 1)]
    [InlineData(6, 5000, 2)]
    public void The_sorter_gives_exactly_the_order_of_the_whole_key(int seed, int rowsPerBatch, int spread)
    {
        var r = new Random(seed);
        var batches = new List<FlowBatch>();
        for (var c = 0; c < 7; c++)
        {
            var b = new FlowBatch(rowsPerBatch);
            for (var i = 0; i < rowsPerBatch; i++)
            {
                b.Add(new FlowRecord { SrcAddr = Address(r), DstAddr = Address(r), Start = Start(r, spread) });
            }
            batches.Add(b);
        }
        const int stride = 1 << 16;
        var sorter = new RowOrder.Sorter();
        sorter.Sort([batches[0]], stride); // scratch left over from another sort changes nothing
        var sorted = sorter.Sort(batches, stride).ToArray();

        var expected = new List<int>();
        for (var c = 0; c < batches.Count; c++)
        {
            for (var i = 0; i < batches[c].Count; i++) expected.Add(c * stride + i);
        }
        expected.Sort((x, y) =>
        {
            var o = RowOrder.Compare(batches[x / stride], x % stride, batches[y / stride], y % stride);
            return o != 0 ? o : x.CompareTo(y);
        });
        Assert.Equal(expected, sorted);
    }

    [Fact]
    public void Prefixes_never_contradict_the_order()
    {
        var r = new Random(4);
        var pairs = new List<(FlowAddress Low, FlowAddress High)>();
        for (var i = 0; i < 3000; i++)
        {
            var (a, b) = (Address(r), Address(r));
            pairs.Add(a.CompareTo(b) <= 0 ? (a, b) : (b, a));
        }
        foreach (var x in pairs)
        {
            foreach (var y in pairs.Take(300))
            {
                var order = x.Low.CompareTo(y.Low) is var c && c != 0 ? c : x.High.CompareTo(y.High);
                var prefix = RowOrder.Prefix(x.Low, x.High).CompareTo(RowOrder.Prefix(y.Low, y.High));
                if (order < 0) Assert.True(prefix <= 0, $"{x} before {y} but its prefix is larger");
                if (order > 0) Assert.True(prefix >= 0, $"{x} after {y} but its prefix is smaller");
            }
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 1000)]
    [InlineData(300, 4096)]
    public void Gather_puts_each_picked_row_in_its_place(int window, int seed)
    {
        var r = new Random(seed);
        var batches = new List<FlowBatch>();
        for (var c = 0; c < 3; c++)
        {
            var b = new FlowBatch(700);
            for (var i = 0; i < 700; i++) b.Add(new FlowRecord { SrcAddr = Address(r), DstAddr = Address(r), Start = c * 1000 + i, Bytes = (ulong)r.Next() });
            batches.Add(b);
        }
        const int stride = 1 << 16;
        var ids = sorterIds(batches, stride);
        var block = new FlowBatch(16);
        var from = new int[window];
        var rows = new int[window];
        for (var at = 0; at < ids.Length; at += window)
        {
            var m = Math.Min(window, ids.Length - at);
            RowOrder.Gather(block, batches, ids.AsSpan(at, m), stride, from, rows);
            Assert.Equal(m, block.Count);
            for (var k = 0; k < m; k++)
            {
                var (b, i) = (batches[ids[at + k] / stride], ids[at + k] % stride);
                Assert.Equal(b.Start[i], block.Start[k]);
                Assert.Equal(b.SrcAddr[i], block.SrcAddr[k]);
                Assert.Equal(b.Bytes[i], block.Bytes[k]);
            }
        }

        static int[] sorterIds(List<FlowBatch> batches, int stride) => new RowOrder.Sorter().Sort(batches, stride).ToArray();
    }
}
