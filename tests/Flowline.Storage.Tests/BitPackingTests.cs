using System.Buffers;
using System.Buffers.Binary;
using Flowline.Storage.Segments;

namespace Flowline.Storage.Tests;

public sealed class BitPackingTests
{
    /// <summary>Columns of every shape the packer distinguishes: tiny ranges, skewed counters, full-width noise, falling times.</summary>
    public static TheoryData<int, string, int> Shapes()
    {
        var data = new TheoryData<int, string, int>();
        foreach (var size in new[] { 1, 2, 4, 8 })
        {
            foreach (var shape in new[] { "two-values", "small-range", "skewed", "noise", "rising", "falling", "extremes" })
            {
                foreach (var rows in new[] { 1, 2, 63, 64, 65, 16384 })
                {
                    data.Add(size, shape, rows);
                }
            }
        }
        return data;
    }

    private static byte[] Column(int size, string shape, int rows, int seed = 7)
    {
        var random = new Random(seed);
        var raw = new byte[rows * size];
        ulong previous = 1UL << 40;
        for (var i = 0; i < rows; i++)
        {
            ulong v = shape switch
            {
                "two-values" => random.Next(2) == 0 ? 1000UL : 1001UL,
                "small-range" => 500 + (ulong)random.Next(13),
                // Mostly small, one in fifty far larger: the exceptions.
                "skewed" => random.Next(50) == 0 ? (ulong)random.NextInt64() : (ulong)random.Next(200),
                "noise" => (ulong)random.NextInt64() ^ ((ulong)random.Next() << 40),
                "rising" => previous += (ulong)random.Next(3),
                "falling" => previous -= (ulong)random.Next(1000),
                _ => random.Next(2) == 0 ? 0UL : ulong.MaxValue,
            };
            var span = raw.AsSpan(i * size, size);
            switch (size)
            {
                case 1: span[0] = (byte)v; break;
                case 2: BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)v); break;
                case 4: BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)v); break;
                default: BinaryPrimitives.WriteUInt64LittleEndian(span, v); break;
            }
        }
        return raw;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Every_column_comes_back_exactly_with_either_transform(int size, string shape, int rows)
    {
        var raw = Column(size, shape, rows);
        foreach (var transform in new[] { BitPacking.NoTransform, BitPacking.Deltas })
        {
            var output = new ArrayBufferWriter<byte>();
            BitPacking.Encode(raw, size, transform, output);
            var back = new byte[raw.Length];
            Assert.True(BitPacking.Decode(output.WrittenSpan, back, size), $"{shape} size {size} transform {transform}");
            Assert.Equal(raw, back);
            // Never much larger than the values themselves (header, and a worst case of 64-bit words).
            Assert.True(output.WrittenCount <= BitPacking.HeaderLength + rows * 8 + 8, $"{output.WrittenCount} bytes");
        }
    }

    [Fact]
    public void Narrow_and_skewed_columns_take_a_fraction_of_their_bytes()
    {
        int Stored(string shape, int size, byte transform = BitPacking.NoTransform)
        {
            var output = new ArrayBufferWriter<byte>();
            BitPacking.Encode(Column(size, shape, 16384), size, transform, output);
            return output.WrittenCount;
        }
        // Two values: one bit each. Thirteen values: four bits. A +0..2 ramp as deltas: two bits.
        Assert.Equal(BitPacking.HeaderLength + 16384 / 8, Stored("two-values", 8));
        Assert.Equal(BitPacking.HeaderLength + 16384 / 2, Stored("small-range", 4));
        Assert.Equal(BitPacking.HeaderLength + 16384 / 4 + 12, Stored("rising", 8, BitPacking.Deltas));
        // Skewed 8-byte counters: 8 bits per value plus 12 bytes per outlier (about 2%), not 64 bits each.
        var skewed = Stored("skewed", 8);
        Assert.InRange(skewed, 16384 + 200 * 12, 16384 + 450 * 12 + BitPacking.HeaderLength);
    }

    [Fact]
    public void Damaged_data_is_refused_never_thrown_or_read_past()
    {
        var raw = Column(8, "skewed", 1000);
        var output = new ArrayBufferWriter<byte>();
        BitPacking.Encode(raw, 8, BitPacking.NoTransform, output);
        var good = output.WrittenSpan.ToArray();
        var back = new byte[raw.Length];
        var random = new Random(3);
        for (var trial = 0; trial < 2000; trial++)
        {
            var bad = (byte[])good.Clone();
            switch (trial % 4)
            {
                case 0: bad[random.Next(16)] ^= (byte)(1 << random.Next(8)); break; // header
                case 1: bad = bad[..random.Next(bad.Length)]; break; // cut short
                case 2: BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(bad.Length - 12), (uint)random.Next()); break; // exception row
                default: bad[random.Next(bad.Length)] ^= 0xFF; break;
            }
            // Either refused, or (a flipped data bit) decoded to something of the right length: never an exception.
            BitPacking.Decode(bad, back, 8);
        }
        Assert.False(BitPacking.Decode(good, new byte[raw.Length - 64], 8)); // another row count
        Assert.False(BitPacking.Decode(good, back, 3)); // no such value size
        Assert.True(BitPacking.Decode(good, back, 8));
        Assert.Equal(raw, back);
    }

    [Fact]
    public void Time_widths_name_the_cheapest_shape()
    {
        var start = new long[1000];
        var end = new long[1000];
        var received = new long[1000];
        var random = new Random(5);
        for (var i = 0; i < start.Length; i++)
        {
            start[i] = 1_795_000_000_000_000 + random.Next(60_000_000); // arrival order is not start order
            end[i] = start[i] + random.Next(1000);
            received[i] = 1_795_000_100_000_000 + i * 3L + random.Next(2);
        }
        var (plain, deltas, referenced) = BitPacking.TimeWidths(end, start);
        Assert.True(referenced < Math.Min(plain, deltas), $"end: {plain} {deltas} {referenced}");
        (plain, deltas, _) = BitPacking.TimeWidths(received, default);
        Assert.Equal(2, deltas); // steps of 2 to 4
        Assert.True(plain > deltas);
        Assert.Equal(64, BitPacking.TimeWidths(received, default).Referenced);
        Assert.Equal((0, 0, 0), BitPacking.TimeWidths(ReadOnlySpan<long>.Empty, default));
    }
}
