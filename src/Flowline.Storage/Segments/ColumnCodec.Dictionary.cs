using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Flowline.Records;

namespace Flowline.Storage.Segments;

/// <summary>Address columns as a dictionary of distinct addresses and a code per row.</summary>
internal static partial class ColumnCodec
{
    /*
     Dictionary layout: u32 entries | u8 dictionary codec | u8 codes codec | u8 order | u8 reserved | u32 dictionary stored length
                        | dictionary (distinct addresses, 16 bytes each, encoded) | codes (u16 per row, encoded)
     order: 0 = ascending, 1 = in order of first appearance.
    */
    private const byte AscendingEntries = 0, EntriesAsFound = 1;
    private static bool TryEncodeDictionary(ReadOnlySpan<byte> raw, ArrayBufferWriter<byte> output, byte preferred, out byte codec)
    {
        codec = 0;
        var values = MemoryMarshal.Cast<byte, FlowAddress>(raw);
        // Worth it only when the dictionary and the codes are much smaller than the values: give up as
        // soon as the distinct values pass that bound.
        var maxDistinct = Math.Min(ushort.MaxValue + 1, (raw.Length / 2 - values.Length * 2) / 16);
        if (maxDistinct <= 0) return false;
        // Codes in order of first appearance from an open-addressing table of entry + 1 (0 = empty).
        var bits = BitOperations.Log2((uint)Math.Min(values.Length, maxDistinct) * 2 - 1) + 1;
        var mask = (1 << bits) - 1;
        var slots = ArrayPool<int>.Shared.Rent(1 << bits);
        var entries = ArrayPool<FlowAddress>.Shared.Rent(maxDistinct + 1);
        var codes = ArrayPool<ushort>.Shared.Rent(values.Length);
        var order = ArrayPool<int>.Shared.Rent(maxDistinct + 1);
        try
        {
            Array.Clear(slots, 0, 1 << bits);
            var count = 0;
            for (var i = 0; i < values.Length; i++)
            {
                var v = values[i];
                var h = (int)((v.Lo * 0x9E3779B97F4A7C15UL ^ v.Hi * 0xC2B2AE3D27D4EB4FUL) >> (64 - bits)) & mask;
                while (true)
                {
                    var slot = slots[h];
                    if (slot == 0)
                    {
                        if (count == maxDistinct) return false;
                        entries[count] = v;
                        slots[h] = ++count;
                        codes[i] = (ushort)(count - 1);
                        break;
                    }
                    if (entries[slot - 1] == v)
                    {
                        codes[i] = (ushort)(slot - 1);
                        break;
                    }
                    h = (h + 1) & mask;
                }
            }
            var distinct = entries.AsSpan(0, count);
            var rowCodes = codes.AsSpan(0, values.Length);
            // Kept for long, a dictionary is stored ascending (pruning searches it): sort it and renumber the
            // codes. A group commit (LZ4) stores it as found, and a reader sorts it only when it prunes.
            var sorted = preferred != ShuffleLz4;
            if (sorted)
            {
                var firstCode = order.AsSpan(0, count);
                for (var k = 0; k < count; k++) firstCode[k] = k;
                distinct.Sort(firstCode);
                var renumber = slots.AsSpan(0, count); // the table is no longer needed
                for (var k = 0; k < count; k++) renumber[firstCode[k]] = k;
                for (var i = 0; i < rowCodes.Length; i++) rowCodes[i] = (ushort)renumber[rowCodes[i]];
            }
            WriteDictionary(distinct, sorted, rowCodes, output, preferred);
            codec = Dictionary;
            return true;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(slots);
            ArrayPool<FlowAddress>.Shared.Return(entries);
            ArrayPool<ushort>.Shared.Return(codes);
            ArrayPool<int>.Shared.Return(order);
        }
    }

    private static void WriteDictionary(ReadOnlySpan<FlowAddress> entries, bool sorted, ReadOnlySpan<ushort> codes, ArrayBufferWriter<byte> output,
        byte preferred)
    {
        var headerAt = output.WrittenCount;
        output.GetSpan(12)[..12].Clear();
        output.Advance(12);
        var before = output.WrittenCount;
        var dictionaryCodec = EncodeBytes(false, MemoryMarshal.AsBytes(entries), 16, output, preferred);
        var dictionaryLength = output.WrittenCount - before;
        byte codesCodec;
        if (preferred == ShuffleLz4)
        {
            BitPacking.Encode(MemoryMarshal.AsBytes(codes), 2, BitPacking.NoTransform, output);
            codesCodec = BitPacked;
        }
        else
        {
            codesCodec = EncodeBytes(false, MemoryMarshal.AsBytes(codes), 2, output, preferred);
        }
        var header = MemoryMarshal.AsMemory(output.WrittenMemory).Span.Slice(headerAt, 12);
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)entries.Length);
        header[4] = dictionaryCodec;
        header[5] = codesCodec;
        header[6] = sorted ? AscendingEntries : EntriesAsFound;
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], (uint)dictionaryLength);
    }

    /// <summary>The sorted distinct values of a dictionary-encoded column, decoding nothing else; null when not one.</summary>
    public static FlowAddress[]? ReadDictionary(byte codec, ReadOnlySpan<byte> stored)
    {
        if (codec == Constant && stored.Length == 16) return [MemoryMarshal.Read<FlowAddress>(stored)];
        if (codec != Dictionary) return null;
        var entries = ReadEntries(stored);
        if (entries is not null && stored[6] == EntriesAsFound) Array.Sort(entries);
        return entries;
    }

    /// <summary>A dictionary's entries in stored order (what its codes index); null when the data is not one.</summary>
    private static FlowAddress[]? ReadEntries(ReadOnlySpan<byte> stored)
    {
        if (EntryCount(stored) is not (>= 0 and var entries)) return null;
        var dictionary = new FlowAddress[entries];
        return ReadEntries(stored, dictionary) ? dictionary : null;
    }

    /// <summary>How many entries a dictionary holds; -1 when the data is not one.</summary>
    private static int EntryCount(ReadOnlySpan<byte> stored)
    {
        if (stored.Length < 12 || stored[6] is not (AscendingEntries or EntriesAsFound)) return -1;
        var entries = (int)BinaryPrimitives.ReadUInt32LittleEndian(stored);
        var dictionaryLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(stored[8..]);
        return entries > ushort.MaxValue + 1 || dictionaryLength < 0 || dictionaryLength > stored.Length - 12 ? -1 : entries;
    }

    /// <summary>Decodes the entries (as many as <see cref="EntryCount"/> says) into <paramref name="dictionary"/>.</summary>
    private static bool ReadEntries(ReadOnlySpan<byte> stored, Span<FlowAddress> dictionary)
    {
        var dictionaryLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(stored[8..]);
        return DecodeBytes(false, stored[4], stored.Slice(12, dictionaryLength), MemoryMarshal.AsBytes(dictionary), 16);
    }

    private static bool DecodeDictionary(ReadOnlySpan<byte> stored, Span<byte> raw)
    {
        // Every address column of every block read comes this way: the entries go in pooled memory.
        if (EntryCount(stored) is not (>= 0 and var entries)) return false;
        var dictionaryLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(stored[8..]);
        var values = MemoryMarshal.Cast<byte, FlowAddress>(raw);
        var rentedEntries = ArrayPool<FlowAddress>.Shared.Rent(Math.Max(1, entries));
        var rented = ArrayPool<byte>.Shared.Rent(Math.Max(2, values.Length * 2));
        try
        {
            var dictionary = rentedEntries.AsSpan(0, entries);
            if (!ReadEntries(stored, dictionary)) return false;
            var codeBytes = rented.AsSpan(0, values.Length * 2);
            var codes = MemoryMarshal.Cast<byte, ushort>(codeBytes);
            if (!DecodeBytes(false, stored[5], stored[(12 + dictionaryLength)..], codeBytes, 2)) return false;
            for (var i = 0; i < values.Length; i++)
            {
                var code = codes[i];
                if (code >= dictionary.Length) return false;
                values[i] = dictionary[code];
            }
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
            ArrayPool<FlowAddress>.Shared.Return(rentedEntries);
        }
    }
}
