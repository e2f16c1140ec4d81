using K4os.Compression.LZ4;

namespace Flowline.Storage.Segments;

/// <summary>
/// The LZ4 block format (lz4_Block_format.md) through K4os.Compression.LZ4, which measured faster both ways
/// than the codec Flowline had of its own (docs/PERFORMANCE.md, "Segment codecs") and writes the same format:
/// segments written by either read with either.
/// </summary>
public static class Lz4Block
{
    public static int MaxCompressedLength(int length) => LZ4Codec.MaximumOutputSize(length);

    /// <summary>Compresses <paramref name="source"/> into <paramref name="destination"/> (at least <see cref="MaxCompressedLength"/>); returns the length.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var n = LZ4Codec.Encode(source, destination, LZ4Level.L00_FAST);
        if (n < 0) throw new ArgumentException("the destination is smaller than MaxCompressedLength", nameof(destination));
        return n;
    }

    /// <summary>Decompresses exactly <paramref name="destination"/>.Length bytes; false when the input is not a valid block for it.</summary>
    public static bool Decompress(ReadOnlySpan<byte> source, Span<byte> destination) =>
        LZ4Codec.Decode(source, destination) == destination.Length;
}
