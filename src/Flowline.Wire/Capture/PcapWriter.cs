using System.Buffers.Binary;
using Flowline.Records;

namespace Flowline.Wire.Capture;

/// <summary>Writes UDP datagrams as Ethernet/IPv4/UDP frames into a classic pcap stream.</summary>
public sealed class PcapWriter
{
    private readonly Stream _out;
    private readonly byte[] _frame = new byte[PcapFormat.RecordHeaderLength + 14 + 20 + 8 + 65535];

    public PcapWriter(Stream output)
    {
        _out = output;
        Span<byte> header = stackalloc byte[PcapFormat.GlobalHeaderLength];
        PcapFormat.WriteGlobalHeader(header);
        _out.Write(header);
    }

    public long Frames { get; private set; }

    /// <summary>Writes one link-layer frame (Ethernet) as captured; <paramref name="originalLength"/> may exceed it.</summary>
    public void WriteFrame(long unixMicros, ReadOnlySpan<byte> frame, long originalLength)
    {
        var h = _frame.AsSpan(0, PcapFormat.RecordHeaderLength);
        PcapFormat.WriteRecordHeader(h, unixMicros, frame.Length, originalLength);
        _out.Write(h);
        _out.Write(frame);
        Frames++;
    }

    public void WriteUdp(long unixMicros, FlowAddress src, ushort srcPort, FlowAddress dst, ushort dstPort, ReadOnlySpan<byte> payload)
    {
        if (!src.IsV4 || !dst.IsV4) throw new ArgumentException("IPv4 endpoints only");
        if (payload.Length > 65535 - 28) throw new ArgumentException("payload too large for one IPv4 datagram");
        var length = 14 + 20 + 8 + payload.Length;
        var f = _frame.AsSpan();
        PcapFormat.WriteRecordHeader(f, unixMicros, length, length);
        var e = f[PcapFormat.RecordHeaderLength..];
        e[..12].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(e[12..], 0x0800);
        var ip = e[14..];
        ip[0] = 0x45;
        ip[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 8 + payload.Length));
        BinaryPrimitives.WriteUInt32BigEndian(ip[4..], 0x0000_4000);
        ip[8] = 64;
        ip[9] = 17;
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], src.V4);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], dst.V4);
        uint sum = 0;
        for (var i = 0; i < 20; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(ip[i..]);
        while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], (ushort)~sum);
        var udp = ip[20..];
        BinaryPrimitives.WriteUInt16BigEndian(udp, srcPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], dstPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + payload.Length));
        BinaryPrimitives.WriteUInt16BigEndian(udp[6..], 0);
        payload.CopyTo(udp[8..]);
        _out.Write(_frame, 0, PcapFormat.RecordHeaderLength + length);
        Frames++;
    }
}
