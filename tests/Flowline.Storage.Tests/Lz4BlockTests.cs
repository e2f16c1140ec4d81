using Flowline.Storage.Segments;

namespace Flowline.Storage.Tests;

public sealed class Lz4BlockTests
{
    public static TheoryData<string> Inputs() => ["empty", "tiny", "zeros", "runs", "text", "random", "mixed"];

    private static byte[] Make(string kind, Random r) => kind switch
    {
        "empty" => [],
        "tiny" => [1, 2, 3],
        "zeros" => new byte[100_000],
        "runs" => Enumerable.Range(0, 70_000).Select(i => (byte)(i / 300)).ToArray(),
        "text" => System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("the quick brown fox jumps over the lazy dog ", 2000))),
        "random" => Enumerable.Range(0, 50_000).Select(_ => (byte)r.Next(256)).ToArray(),
        _ => Enumerable.Range(0, 200_000).Select(i => i % 1000 < 500 ? (byte)0 : (byte)r.Next(4)).ToArray(),
    };

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Round_trips(string kind)
    {
        var data = Make(kind, new Random(1));
        var compressed = new byte[Lz4Block.MaxCompressedLength(data.Length)];
        var n = Lz4Block.Compress(data, compressed);
        var back = new byte[data.Length];
        Assert.True(Lz4Block.Decompress(compressed.AsSpan(0, n), back));
        Assert.Equal(data, back);
        if (kind is "zeros" or "runs" or "text") Assert.True(n < data.Length / 20, $"{kind}: {n} bytes");
    }

    [Fact]
    public void Corrupt_blocks_are_refused_not_overrun()
    {
        var random = new Random(2);
        var data = Make("mixed", random);
        var compressed = new byte[Lz4Block.MaxCompressedLength(data.Length)];
        var n = Lz4Block.Compress(data, compressed);
        var back = new byte[data.Length];
        for (var k = 0; k < 2000; k++)
        {
            var c = compressed.AsSpan(0, n).ToArray();
            c[random.Next(c.Length)] ^= (byte)(1 << random.Next(8));
            var cut = random.Next(3) == 0 ? c[..random.Next(c.Length)] : c;
            // Either refused or decoded to exactly the right length: never an exception.
            Lz4Block.Decompress(cut, back);
        }
        Assert.False(Lz4Block.Decompress(compressed.AsSpan(0, n - 1), back));
        Assert.False(Lz4Block.Decompress(compressed.AsSpan(0, n), new byte[data.Length + 1]));
    }
}

/// <summary>Brotli and zstd columns (LZ4 ones are bit-packed when narrow; Lz4BlockTests has the block codec): each round-trips, and a damaged frame is refused, never thrown on.</summary>
public sealed class ColumnCodecTests
{
    [Theory]
    [InlineData(Segments.SegmentCodec.Brotli)]
    [InlineData(Segments.SegmentCodec.Zstd)]
    public void Columns_round_trip_and_damage_is_refused(Segments.SegmentCodec codec)
    {
        var random = new Random((int)codec);
        // Ports of a generated mix: few distinct values, as real columns are.
        var values = Enumerable.Range(0, 8192).Select(_ => (ushort)(random.Next(4) == 0 ? random.Next(65536) : new[] { 443, 80, 53, 22 }[random.Next(4)])).ToArray();
        var raw = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        var output = new System.Buffers.ArrayBufferWriter<byte>();
        var used = ColumnCodec.Encode(Records.FlowField.DstPort, raw, 2, output, ColumnCodec.Preferred(codec));
        Assert.Equal(ColumnCodec.Preferred(codec), used);
        var back = new byte[raw.Length];
        Assert.True(ColumnCodec.Decode(Records.FlowField.DstPort, used, output.WrittenSpan, back, 2));
        Assert.Equal(raw, back);
        var stored = output.WrittenSpan.ToArray();
        var refused = 0;
        for (var k = 0; k < 500; k++)
        {
            var damaged = stored.ToArray();
            damaged[random.Next(damaged.Length)] ^= (byte)(1 << random.Next(8));
            var cut = random.Next(3) == 0 ? damaged[..random.Next(damaged.Length)] : damaged;
            if (!ColumnCodec.Decode(Records.FlowField.DstPort, used, cut, back, 2)) refused++;
        }
        Assert.True(refused > 0, "no damaged frame was noticed");
    }
}
