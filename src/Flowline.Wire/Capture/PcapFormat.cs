using System.Buffers.Binary;

namespace Flowline.Wire.Capture;

/// <summary>
/// Classic pcap headers (little-endian, microsecond timestamps), for tools that write captures:
///   global header: magic a1b2c3d4, version 2.4, thiszone, sigfigs, snaplen, link type (24 bytes)
///   record header: ts_sec, ts_usec, incl_len, orig_len (16 bytes)
/// </summary>
public static class PcapFormat
{
    public const int GlobalHeaderLength = 24;
    public const int RecordHeaderLength = 16;
    public const uint LinkTypeEthernet = 1;

    public static void WriteGlobalHeader(Span<byte> h, uint linkType = LinkTypeEthernet, uint snapLength = 65535)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(h, 0xA1B2C3D4);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], snapLength);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], linkType);
    }

    public static void WriteRecordHeader(Span<byte> h, long unixMicros, int capturedLength, long originalLength)
    {
        var seconds = unixMicros / 1_000_000;
        BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], (uint)(unixMicros - seconds * 1_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], (uint)capturedLength);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], (uint)Math.Clamp(originalLength, capturedLength, uint.MaxValue));
    }
}
