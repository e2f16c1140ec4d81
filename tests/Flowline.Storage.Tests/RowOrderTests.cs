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

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 50)]
    [InlineData(3, 5000)]
    public void The_sorter_gives_exactly_the_order_of_the_whole_key(int seed, int rowsPerBatch)
    {
        var r = new Random(seed);
        var batches = new List<FlowBatch>();
        for (var c = 0; c < 7; c++)
        {
            var b = new FlowBatch(rowsPerBatch);
            for (var i = 0; i < rowsPerBatch; i++)
            {
                b.Add(new FlowRecord { SrcAddr = Address(r), DstAddr = Address(r), Start = r.Next(0, 5) });
            }
            batches.Add(b);
        }
        const int stride = 1 << 16;
        var sorted = new RowOrder.Sorter().Sort(batches, stride).ToArray();

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
}
