using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Flowline.Storage.Segments;

/// <summary>
/// The LZ4 block format (lz4_Block_format.md), written from the format description: a sequence of
///   token (literal length:4 | match length - 4:4), [more literal length: 255...], literals,
///   match offset (u16 LE), [more match length: 255...]
/// ending with a literal-only sequence. Chosen for columns because it decodes at memory speed.
/// </summary>
public static class Lz4Block
{
    private const int MinMatch = 4;
    private const int HashBits = 14;
    /// <summary>The last match must start at least 12 bytes before the end; the last 5 bytes are literals.</summary>
    private const int MatchSafeEnd = 12;
    private const int LastLiterals = 5;

    public static int MaxCompressedLength(int length) => length + length / 255 + 16;

    /// <summary>Compresses <paramref name="source"/> into <paramref name="destination"/> (at least <see cref="MaxCompressedLength"/>); returns the length.</summary>
    /// <remarks>
    /// Greedy single-probe matching like the reference compressor's fast mode: positions are hashed 4
    /// bytes at a time, matches are extended 8 bytes at a time, and after a run of misses the scan
    /// steps further ahead (incompressible stretches cost little). The table is sized to the input and
    /// holds position + 1, so a cleared table means "no candidate".
    /// </remarks>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (destination.Length < MaxCompressedLength(source.Length)) throw new ArgumentException("destination too small", nameof(destination));
        var bits = Math.Clamp(BitOperations.Log2((uint)Math.Max(1, source.Length)) + 1, 8, HashBits);
        Span<int> table = stackalloc int[1 << bits]; // zeroed: no candidates
        var shift = 32 - bits;
        ref var src = ref MemoryMarshal.GetReference(source);
        var anchor = 0;
        var i = 0;
        var o = 0;
        var limit = source.Length - MatchSafeEnd;
        var maxEnd = source.Length - LastLiterals;
        var misses = 1 << 6;
        while (i < limit)
        {
            var sequence = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref src, i));
            var h = (int)((sequence * 2654435761u) >> shift);
            var candidate = table[h] - 1;
            table[h] = i + 1;
            if (candidate < 0 || i - candidate > 65535 || Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref src, candidate)) != sequence)
            {
                i += misses++ >> 6;
                continue;
            }
            misses = 1 << 6;
            // Extend the match forward, 8 bytes at a time, keeping the last bytes as literals.
            var matchEnd = i + MinMatch;
            var reference = candidate + MinMatch;
            while (matchEnd <= maxEnd - 8)
            {
                var diff = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref src, matchEnd)) ^ Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref src, reference));
                if (diff != 0)
                {
                    matchEnd += BitOperations.TrailingZeroCount(diff) >> 3;
                    goto found;
                }
                matchEnd += 8;
                reference += 8;
            }
            while (matchEnd < maxEnd && Unsafe.Add(ref src, matchEnd) == Unsafe.Add(ref src, reference))
            {
                matchEnd++;
                reference++;
            }
        found:
            o = WriteSequence(source[anchor..i], i - candidate, matchEnd - i - MinMatch, destination, o);
            i = matchEnd;
            anchor = i;
        }
        // Last literals.
        return WriteLiterals(source[anchor..], destination, o);
    }

    private static int WriteSequence(ReadOnlySpan<byte> literals, int offset, int matchExtra, Span<byte> d, int o)
    {
        var token = o++;
        d[token] = (byte)((Math.Min(literals.Length, 15) << 4) | Math.Min(matchExtra, 15));
        if (literals.Length >= 15) o = WriteLength(literals.Length - 15, d, o);
        literals.CopyTo(d[o..]);
        o += literals.Length;
        BinaryPrimitives.WriteUInt16LittleEndian(d[o..], (ushort)offset);
        o += 2;
        if (matchExtra >= 15) o = WriteLength(matchExtra - 15, d, o);
        return o;
    }

    private static int WriteLiterals(ReadOnlySpan<byte> literals, Span<byte> d, int o)
    {
        d[o++] = (byte)(Math.Min(literals.Length, 15) << 4);
        if (literals.Length >= 15) o = WriteLength(literals.Length - 15, d, o);
        literals.CopyTo(d[o..]);
        return o + literals.Length;
    }

    private static int WriteLength(int length, Span<byte> d, int o)
    {
        while (length >= 255)
        {
            d[o++] = 255;
            length -= 255;
        }
        d[o++] = (byte)length;
        return o;
    }

    /// <summary>Decompresses exactly <paramref name="destination"/>.Length bytes; false when the input is not a valid block for it.</summary>
    public static bool Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var i = 0;
        var o = 0;
        while (i < source.Length)
        {
            var token = source[i++];
            var literals = token >> 4;
            if (literals == 15)
            {
                if (!ReadLength(source, ref i, ref literals)) return false;
            }
            if (literals > source.Length - i || literals > destination.Length - o) return false;
            source.Slice(i, literals).CopyTo(destination[o..]);
            i += literals;
            o += literals;
            if (i == source.Length) break; // the last sequence has literals only
            if (source.Length - i < 2) return false;
            var offset = BinaryPrimitives.ReadUInt16LittleEndian(source[i..]);
            i += 2;
            if (offset == 0 || offset > o) return false;
            var match = (token & 15);
            if (match == 15)
            {
                if (!ReadLength(source, ref i, ref match)) return false;
            }
            match += MinMatch;
            if (match > destination.Length - o) return false;
            var from = o - offset;
            if (offset >= match)
            {
                destination.Slice(from, match).CopyTo(destination[o..]);
            }
            else if (offset == 1)
            {
                // A run of one byte.
                destination.Slice(o, match).Fill(destination[from]);
            }
            else
            {
                // Overlapping copy: the pattern of `offset` bytes repeats; copy it in growing chunks.
                var copied = 0;
                while (copied < match)
                {
                    var chunk = Math.Min(offset + copied, match - copied);
                    destination.Slice(from, chunk).CopyTo(destination[(o + copied)..]);
                    copied += chunk;
                }
            }
            o += match;
        }
        return o == destination.Length;
    }

    private static bool ReadLength(ReadOnlySpan<byte> source, ref int i, ref int length)
    {
        byte b;
        do
        {
            if (i >= source.Length) return false;
            b = source[i++];
            length += b;
            if (length > int.MaxValue / 2) return false;
        }
        while (b == 255);
        return true;
    }
}
