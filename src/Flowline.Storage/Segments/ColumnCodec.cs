using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using Flowline.Wire.Records;

namespace Flowline.Storage.Segments;

/// <summary>
/// Encodes one column of a block: time columns as deltas, then the bytes of every value regrouped by
/// significance (byte shuffle, so the mostly-zero high bytes sit together), then Brotli.
/// </summary>
internal static class ColumnCodec
{
    public const byte Raw = 0;
    public const byte ShuffleBrotli = 1;
    private const int BrotliQuality = 3;
    private const int BrotliWindow = 22;

    public static bool IsTime(FlowField f) => f is FlowField.TimeReceived or FlowField.Start or FlowField.End;

    /// <summary>Encodes <paramref name="raw"/> (the column's in-memory bytes) into <paramref name="output"/>; returns the codec used.</summary>
    public static byte Encode(FlowField field, ReadOnlySpan<byte> raw, int valueSize, ArrayBufferWriter<byte> output)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(Math.Max(1, raw.Length));
        var shuffled = ArrayPool<byte>.Shared.Rent(Math.Max(1, raw.Length));
        try
        {
            var source = raw;
            if (IsTime(field))
            {
                var t = scratch.AsSpan(0, raw.Length);
                long previous = 0;
                for (var i = 0; i < raw.Length; i += 8)
                {
                    var v = BinaryPrimitives.ReadInt64LittleEndian(raw[i..]);
                    BinaryPrimitives.WriteInt64LittleEndian(t[i..], v - previous);
                    previous = v;
                }
                source = t;
            }
            Shuffle(source, shuffled.AsSpan(0, raw.Length), valueSize);
            var bound = BrotliEncoder.GetMaxCompressedLength(raw.Length);
            var destination = output.GetSpan(bound);
            if (BrotliEncoder.TryCompress(shuffled.AsSpan(0, raw.Length), destination, out var written, BrotliQuality, BrotliWindow) && written < raw.Length)
            {
                output.Advance(written);
                return ShuffleBrotli;
            }
            raw.CopyTo(output.GetSpan(raw.Length));
            output.Advance(raw.Length);
            return Raw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
            ArrayPool<byte>.Shared.Return(shuffled);
        }
    }

    /// <summary>Decodes into <paramref name="raw"/> (exactly the column's byte length); false when the data is not what it claims.</summary>
    public static bool Decode(FlowField field, byte codec, ReadOnlySpan<byte> stored, Span<byte> raw, int valueSize)
    {
        if (codec == Raw)
        {
            if (stored.Length != raw.Length) return false;
            stored.CopyTo(raw);
            return true;
        }
        if (codec != ShuffleBrotli) return false;
        var shuffled = ArrayPool<byte>.Shared.Rent(Math.Max(1, raw.Length));
        try
        {
            if (!BrotliDecoder.TryDecompress(stored, shuffled.AsSpan(0, raw.Length), out var written) || written != raw.Length) return false;
            Unshuffle(shuffled.AsSpan(0, raw.Length), raw, valueSize);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(shuffled);
        }
        if (IsTime(field))
        {
            long previous = 0;
            for (var i = 0; i < raw.Length; i += 8)
            {
                previous += BinaryPrimitives.ReadInt64LittleEndian(raw[i..]);
                BinaryPrimitives.WriteInt64LittleEndian(raw[i..], previous);
            }
        }
        return true;
    }

    private static void Shuffle(ReadOnlySpan<byte> source, Span<byte> destination, int size)
    {
        var n = source.Length / size;
        for (var b = 0; b < size; b++)
        {
            var plane = destination.Slice(b * n, n);
            for (var i = 0; i < n; i++) plane[i] = source[i * size + b];
        }
    }

    private static void Unshuffle(ReadOnlySpan<byte> source, Span<byte> destination, int size)
    {
        var n = destination.Length / size;
        for (var b = 0; b < size; b++)
        {
            var plane = source.Slice(b * n, n);
            for (var i = 0; i < n; i++) destination[i * size + b] = plane[i];
        }
    }
}
