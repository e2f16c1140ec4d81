using System.Buffers.Binary;
using System.Numerics;

namespace Flowline.Storage.Segments;

/// <summary>CRC-32C (Castagnoli), hardware-accelerated where the CPU has it.</summary>
public static class Checksum
{
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFF_FFFFu;
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }
        return ~crc;
    }
}
