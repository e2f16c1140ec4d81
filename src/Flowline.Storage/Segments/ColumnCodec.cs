using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Flowline.Records;

namespace Flowline.Storage.Segments;

/// <summary>
/// Encodes one column of a block: time columns as deltas, then the bytes of every value regrouped by
/// significance (byte shuffle, so the mostly-zero high bytes sit together), then Brotli, Zstandard or LZ4
/// (sizes and speeds measured in docs/PERFORMANCE.md, "Segment codecs").
/// </summary>
internal static partial class ColumnCodec
{
    public const byte Raw = 0;
    public const byte ShuffleBrotli = 1;
    public const byte ShuffleLz4 = 2;
    /// <summary>Every value of the block is the same: stored once (most columns of most exporters).</summary>
    public const byte Constant = 3;
    /// <summary>Integers in the fewest bits above the block's smallest (<see cref="BitPacking"/>): group commits.</summary>
    public const byte BitPacked = 4;
    public const byte ShuffleZstd = 5;
    private const int BrotliQuality = 3;
    private const int BrotliWindow = 22;
    private const int ZstdLevel = 3;

    /// <summary>The column codec byte a segment codec asks for.</summary>
    public static byte Preferred(SegmentCodec codec) => codec switch
    {
        SegmentCodec.Lz4 => ShuffleLz4,
        SegmentCodec.Zstd => ShuffleZstd,
        _ => ShuffleBrotli,
    };

    // ZstdSharp's contexts are not thread-safe and costly to make: one of each per thread.
    [ThreadStatic] private static ZstdSharp.Compressor? t_zstd;
    [ThreadStatic] private static ZstdSharp.Decompressor? t_unzstd;

    public static bool IsTime(FlowField f) => f is FlowField.TimeReceived or FlowField.Start or FlowField.End;

    /// <summary>Set on the codec byte when an address column is stored as a sorted dictionary plus 16-bit codes.</summary>
    public const byte Dictionary = 0x80;

    public static bool IsAddress(FlowField f) => f is FlowField.SrcAddr or FlowField.DstAddr or FlowField.NextHop or FlowField.Exporter
        or FlowField.UnderlaySrc or FlowField.UnderlayDst;

    /// <summary>Set on the codec byte when each value is stored minus the same row of its <see cref="ReferenceOf"/> column.</summary>
    public const byte Referenced = 0x40;

    /// <summary>Set on the codec byte when values are stored minus the block's smallest (an 8-byte base first).</summary>
    public const byte FrameOfReference = 0x20;

    /// <summary>
    /// The column a column is most like, row by row: end − start is the duration, time received − end the
    /// export delay, and the sampled counts equal the scaled ones at rate 1. Stored as differences when that
    /// is smaller. The reference always comes earlier in <see cref="DecodeOrder"/>.
    /// </summary>
    public static FlowField? ReferenceOf(FlowField f) => f switch
    {
        FlowField.End => FlowField.Start,
        FlowField.TimeReceived => FlowField.End,
        FlowField.SampledBytes => FlowField.Bytes,
        FlowField.SampledPackets => FlowField.Packets,
        _ => null,
    };

    /// <summary>Referenced columns, in the order their references become final.</summary>
    public static readonly FlowField[] DecodeOrder = [FlowField.End, FlowField.TimeReceived, FlowField.SampledBytes, FlowField.SampledPackets];

    [ThreadStatic] private static ArrayBufferWriter<byte>? t_candidate, t_best;

    /// <summary>Encodes <paramref name="raw"/> (the column's in-memory bytes) into <paramref name="output"/>; returns the codec used.</summary>
    /// <param name="reference">The same rows of <see cref="ReferenceOf"/>(field), when it has one.</param>
    public static byte Encode(FlowField field, ReadOnlySpan<byte> raw, int valueSize, ArrayBufferWriter<byte> output, byte preferred = ShuffleBrotli,
        ReadOnlySpan<byte> reference = default)
    {
        // All values equal when the column equals itself shifted by one value (a vectorised compare).
        if (raw.Length >= valueSize && raw[valueSize..].SequenceEqual(raw[..^valueSize]))
        {
            raw[..valueSize].CopyTo(output.GetSpan(valueSize));
            output.Advance(valueSize);
            return Constant;
        }
        if (IsAddress(field) && TryEncodeDictionary(raw, output, preferred, out var codec))
        {
            return codec;
        }
        // Equal to its reference row for row (sampled counts at rate 1): nothing to store but the flag.
        if (!reference.IsEmpty && raw.SequenceEqual(reference))
        {
            output.GetSpan(valueSize)[..valueSize].Clear();
            output.Advance(valueSize);
            return Referenced | Constant;
        }
        var time = IsTime(field);
        // LZ4 is chosen for speed (group commits): integers are bit-packed, no search for a smaller shape.
        if (preferred == ShuffleLz4 && valueSize is 1 or 2 or 4 or 8 && raw.Length > 0)
        {
            return EncodeFast(time, raw, valueSize, output, reference);
        }
        if (valueSize != 8 || raw.Length == 0 || (!time && reference.IsEmpty) || preferred == ShuffleLz4)
        {
            return EncodeBytes(time, raw, valueSize, output, preferred);
        }
        // Several shapes suit 8-byte counters and times; keep whichever is smallest. Each shape is also
        // divided by the greatest common divisor of its values when that is above 1 (times in whole
        // milliseconds, durations in tens of milliseconds), which a general compressor cannot see. A large
        // block tries them on its first rows only, then encodes all of them in the shape that won there:
        // each shape tried is a Brotli pass, and the first rows choose as well as all of them.
        var only = AnyShape;
        if (raw.Length >= 4 * SampleValues * 8)
        {
            only = Shaped(time, raw[..(SampleValues * 8)], reference.IsEmpty ? default : reference[..(SampleValues * 8)], preferred, AnyShape).Shape;
        }
        var (bestCodec, _) = Shaped(time, raw, reference, preferred, only);
        var best = t_best!;
        best.WrittenSpan.CopyTo(output.GetSpan(best.WrittenCount));
        output.Advance(best.WrittenCount);
        return bestCodec;
    }

    private const int AnyShape = -1, PlainShape = 0, ScaledDeltaShape = 1, ReferencedShape = 2, FrameShape = 3;

    /// <summary>Values a large block tries its shapes on.</summary>
    private const int SampleValues = 2048;

    /// <summary>
    /// Encodes an 8-byte column in the smallest of its shapes, or in <paramref name="only"/> that one (the plain
    /// shape when it no longer applies), into the thread's <c>t_best</c>.
    /// </summary>
    private static (byte Codec, int Shape) Shaped(bool time, ReadOnlySpan<byte> raw, ReadOnlySpan<byte> reference, byte preferred, int only)
    {
        var best = t_best ??= new ArrayBufferWriter<byte>();
        var candidate = t_candidate ??= new ArrayBufferWriter<byte>();
        best.ResetWrittenCount();
        byte bestCodec = 0;
        var bestShape = AnyShape;
        if (only is AnyShape or PlainShape)
        {
            bestCodec = EncodeBytes(time, raw, 8, best, preferred);
            bestShape = PlainShape;
        }
        var transformed = ArrayPool<byte>.Shared.Rent(raw.Length);
        try
        {
            var t = MemoryMarshal.Cast<byte, long>(transformed.AsSpan(0, raw.Length));
            var values = MemoryMarshal.Cast<byte, long>(raw);
            void Try(Span<long> shaped, byte flags, long? frameBase, int shape)
            {
                candidate.ResetWrittenCount();
                var divisor = Divisor(shaped);
                if (flags == 0 && divisor <= 1) return; // the same as the plain deltas encoded first
                if (frameBase is { } b)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(candidate.GetSpan(8), b);
                    candidate.Advance(8);
                }
                if (divisor > 1)
                {
                    for (var i = 0; i < shaped.Length; i++) shaped[i] /= divisor;
                    BinaryPrimitives.WriteInt64LittleEndian(candidate.GetSpan(8), divisor);
                    candidate.Advance(8);
                    flags |= Scaled;
                }
                var c = EncodeBytes(false, MemoryMarshal.AsBytes(shaped), 8, candidate, preferred);
                if (bestShape == AnyShape || candidate.WrittenCount < best.WrittenCount)
                {
                    (best, candidate) = (candidate, best);
                    bestCodec = (byte)(c | flags);
                    bestShape = shape;
                }
            }
            if (time && only is AnyShape or ScaledDeltaShape)
            {
                long previous = 0;
                for (var i = 0; i < values.Length; i++)
                {
                    t[i] = values[i] - previous;
                    previous = values[i];
                }
                Try(t, 0, null, ScaledDeltaShape);
            }
            if (!reference.IsEmpty && only is AnyShape or ReferencedShape)
            {
                var refs = MemoryMarshal.Cast<byte, long>(reference);
                for (var i = 0; i < values.Length; i++) t[i] = unchecked(values[i] - refs[i]);
                Try(t, Referenced, null, ReferencedShape);
            }
            if (time && only is AnyShape or FrameShape)
            {
                var min = long.MaxValue;
                foreach (var v in values) min = Math.Min(min, v);
                for (var i = 0; i < values.Length; i++) t[i] = values[i] - min;
                Try(t, FrameOfReference, min, FrameShape);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(transformed);
        }
        if (bestShape == AnyShape)
        {
            bestCodec = EncodeBytes(time, raw, 8, best, preferred);
            bestShape = PlainShape;
        }
        t_best = best;
        t_candidate = candidate;
        return (bestCodec, bestShape);
    }

    /// <summary>
    /// Bit-packs a column. A time column takes whichever shape needs the fewest bits: the values, their
    /// deltas (arrival times), or their difference from the reference column (an end time from its start).
    /// </summary>
    private static byte EncodeFast(bool time, ReadOnlySpan<byte> raw, int valueSize, ArrayBufferWriter<byte> output, ReadOnlySpan<byte> reference)
    {
        if (!time)
        {
            BitPacking.Encode(raw, valueSize, BitPacking.NoTransform, output);
            return BitPacked;
        }
        var values = MemoryMarshal.Cast<byte, long>(raw);
        var (plain, deltas, referenced) = BitPacking.TimeWidths(values, MemoryMarshal.Cast<byte, long>(reference));
        if (referenced < Math.Min(plain, deltas))
        {
            var rented = ArrayPool<long>.Shared.Rent(values.Length);
            try
            {
                var differences = rented.AsSpan(0, values.Length);
                var refs = MemoryMarshal.Cast<byte, long>(reference);
                for (var i = 0; i < differences.Length; i++) differences[i] = unchecked(values[i] - refs[i]);
                BitPacking.Encode(MemoryMarshal.AsBytes(differences), 8, BitPacking.NoTransform, output);
                return Referenced | BitPacked;
            }
            finally
            {
                ArrayPool<long>.Shared.Return(rented);
            }
        }
        BitPacking.Encode(raw, 8, deltas < plain ? BitPacking.Deltas : BitPacking.NoTransform, output);
        return BitPacked;
    }

    /// <summary>Set on the codec byte when values were divided by a common divisor (stored as 8 bytes, after a frame base).</summary>
    public const byte Scaled = 0x10;

    /// <summary>The greatest common divisor of the values' magnitudes, or 1 (also when one is too large to negate).</summary>
    private static long Divisor(ReadOnlySpan<long> values)
    {
        ulong g = 0;
        foreach (var v in values)
        {
            if (v == long.MinValue) return 1;
            var m = (ulong)Math.Abs(v);
            if (m == 0) continue;
            while (m != 0) (g, m) = (m, g % m);
            if (g == 1) return 1;
        }
        return g is 0 or > long.MaxValue ? 1 : (long)g;
    }

    private static byte EncodeBytes(bool delta, ReadOnlySpan<byte> raw, int valueSize, ArrayBufferWriter<byte> output, byte preferred)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(Math.Max(1, raw.Length));
        var shuffled = ArrayPool<byte>.Shared.Rent(Math.Max(1, raw.Length));
        try
        {
            var source = raw;
            if (delta)
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
            ByteShuffle.Shuffle(source, shuffled.AsSpan(0, raw.Length), valueSize);
            var input = shuffled.AsSpan(0, raw.Length);
            int written;
            switch (preferred)
            {
                case ShuffleLz4:
                    written = Lz4Block.Compress(input, output.GetSpan(Lz4Block.MaxCompressedLength(raw.Length)));
                    break;
                case ShuffleZstd:
                    written = (t_zstd ??= new ZstdSharp.Compressor(ZstdLevel)).Wrap(input, output.GetSpan(ZstdSharp.Compressor.GetCompressBound(raw.Length)));
                    break;
                default:
                    if (!BrotliEncoder.TryCompress(input, output.GetSpan(BrotliEncoder.GetMaxCompressedLength(raw.Length)), out written, BrotliQuality, BrotliWindow)) written = int.MaxValue;
                    break;
            }
            // What does not shrink is kept as it is.
            if (written < raw.Length)
            {
                output.Advance(written);
                return preferred is ShuffleLz4 or ShuffleZstd ? preferred : ShuffleBrotli;
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
    /// <remarks>
    /// A <see cref="Referenced"/> column comes out as differences: the caller adds its reference column
    /// (<see cref="AddReference"/>) once that one is final.
    /// </remarks>
    public static bool Decode(FlowField field, byte codec, ReadOnlySpan<byte> stored, Span<byte> raw, int valueSize)
    {
        if (codec is Constant or (Referenced | Constant))
        {
            // A referenced constant comes out as that difference, like every referenced column.
            if (stored.Length != valueSize || raw.Length % valueSize != 0 || (codec != Constant && ReferenceOf(field) is null)) return false;
            for (var at = 0; at < raw.Length; at += valueSize) stored.CopyTo(raw[at..]);
            return true;
        }
        if (codec == Dictionary) return IsAddress(field) && DecodeDictionary(stored, raw);
        if ((codec & (Referenced | FrameOfReference | Scaled)) == 0) return DecodeBytes(IsTime(field), codec, stored, raw, valueSize);
        var referenced = (codec & Referenced) != 0;
        var frame = (codec & FrameOfReference) != 0;
        var scaled = (codec & Scaled) != 0;
        if (valueSize != 8 || (referenced && ReferenceOf(field) is null) || (referenced && frame)) return false;
        long frameBase = 0, divisor = 1;
        if (frame)
        {
            if (stored.Length < 8) return false;
            frameBase = BinaryPrimitives.ReadInt64LittleEndian(stored);
            stored = stored[8..];
        }
        if (scaled)
        {
            if (stored.Length < 8) return false;
            divisor = BinaryPrimitives.ReadInt64LittleEndian(stored);
            stored = stored[8..];
            if (divisor < 2) return false;
        }
        if (!DecodeBytes(false, (byte)(codec & ~(Referenced | FrameOfReference | Scaled)), stored, raw, valueSize)) return false;
        var values = MemoryMarshal.Cast<byte, long>(raw);
        if (scaled)
        {
            for (var i = 0; i < values.Length; i++) values[i] = unchecked(values[i] * divisor);
        }
        if (frame)
        {
            for (var i = 0; i < values.Length; i++) values[i] += frameBase;
        }
        else if (!referenced && IsTime(field))
        {
            // A time column without another shape is stored as deltas.
            long previous = 0;
            for (var i = 0; i < values.Length; i++) values[i] = previous += values[i];
        }
        return true;
    }

    /// <summary>Completes a <see cref="Referenced"/> column: adds the reference column row by row.</summary>
    public static void AddReference(Span<byte> raw, ReadOnlySpan<byte> reference)
    {
        var values = MemoryMarshal.Cast<byte, ulong>(raw);
        var refs = MemoryMarshal.Cast<byte, ulong>(reference);
        for (var i = 0; i < values.Length; i++) values[i] += refs[i];
    }

    private static bool DecodeBytes(bool delta, byte codec, ReadOnlySpan<byte> stored, Span<byte> raw, int valueSize)
    {
        if (codec == Raw)
        {
            if (stored.Length != raw.Length) return false;
            stored.CopyTo(raw);
            return true;
        }
        // Bit-packed columns say themselves whether they hold deltas.
        if (codec == BitPacked) return BitPacking.Decode(stored, raw, valueSize);
        if (codec is not (ShuffleBrotli or ShuffleLz4 or ShuffleZstd)) return false;
        var shuffled = ArrayPool<byte>.Shared.Rent(Math.Max(1, raw.Length));
        try
        {
            if (codec == ShuffleLz4)
            {
                if (!Lz4Block.Decompress(stored, shuffled.AsSpan(0, raw.Length))) return false;
            }
            else if (codec == ShuffleZstd)
            {
                var zstd = t_unzstd ??= new ZstdSharp.Decompressor();
                // A frame that is not zstd, claims another size or is cut short is the data not being what it claims.
                try
                {
                    if (ZstdSharp.Decompressor.GetDecompressedSize(stored) != (ulong)raw.Length) return false;
                    if (zstd.Unwrap(stored, shuffled.AsSpan(0, raw.Length)) != raw.Length) return false;
                }
                catch (ZstdSharp.ZstdException)
                {
                    return false;
                }
            }
            else if (!BrotliDecoder.TryDecompress(stored, shuffled.AsSpan(0, raw.Length), out var written) || written != raw.Length)
            {
                return false;
            }
            ByteShuffle.Unshuffle(shuffled.AsSpan(0, raw.Length), raw, valueSize);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(shuffled);
        }
        if (delta)
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
}
