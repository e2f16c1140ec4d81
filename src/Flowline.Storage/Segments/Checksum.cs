using System.Buffers.Binary;
using System.Numerics;

namespace Flowline.Storage.Segments;

/// <summary>CRC-32C (Castagnoli), hardware-accelerated where the CPU has it.</summary>
public static class Checksum
{
    public static uint Crc32C(ReadOnlySpan<byte> data) => ~Update(0xFFFF_FFFFu, data);

    /// <summary>The CRC-32C of <paramref name="first"/> followed by <paramref name="second"/>, without joining them.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second) => ~Update(Update(0xFFFF_FFFFu, first), second);

    private static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }
        return crc;
    }
}
