using Flowline.Records;

namespace Flowline.Wire.Capture;

/// <summary>A UDP datagram taken from a capture. <see cref="Payload"/> is valid until the next read.</summary>
public readonly ref struct CapturedDatagram
{
    public CapturedDatagram(long timestamp, FlowAddress src, ushort srcPort, FlowAddress dst, ushort dstPort, ReadOnlySpan<byte> payload)
    {
        Timestamp = timestamp;
        Src = src;
        SrcPort = srcPort;
        Dst = dst;
        DstPort = dstPort;
        Payload = payload;
    }

    /// <summary>Capture time in Unix microseconds.</summary>
    public long Timestamp { get; }
    public FlowAddress Src { get; }
    public ushort SrcPort { get; }
    public FlowAddress Dst { get; }
    public ushort DstPort { get; }
    public ReadOnlySpan<byte> Payload { get; }
}

/// <summary>What a capture reader saw besides the datagrams it returned.</summary>
public sealed class CaptureStats
{
    public long Packets;
    public long Datagrams;
    public long NotUdp;
    public long UnsupportedLinkType;
    /// <summary>Packets cut short by the capture's snap length (their datagram is incomplete and skipped).</summary>
    public long Truncated;
    /// <summary>Captures that end inside a packet's record (the file was cut short; that last packet is not read).</summary>
    public long CutShort;
    public long Fragments;
    public long Reassembled;
    public long FragmentsDropped;
    /// <summary>Datagrams still missing fragments when the capture ended (their fragments are not decoded).</summary>
    public long Incomplete;
    public long Ipv6Fragments;

    public void Add(CaptureStats s)
    {
        Packets += s.Packets; Datagrams += s.Datagrams; NotUdp += s.NotUdp;
        UnsupportedLinkType += s.UnsupportedLinkType; Truncated += s.Truncated; CutShort += s.CutShort;
        Fragments += s.Fragments; Reassembled += s.Reassembled;
        FragmentsDropped += s.FragmentsDropped; Incomplete += s.Incomplete; Ipv6Fragments += s.Ipv6Fragments;
    }

    public string Summary() =>
        $"packets {Packets}, udp datagrams {Datagrams}, not udp {NotUdp}, truncated {Truncated}, cut short {CutShort}, " +
        $"ipv4 fragments {Fragments} ({Reassembled} datagrams reassembled, {FragmentsDropped} dropped, {Incomplete} incomplete at the end), " +
        $"ipv6 fragments skipped {Ipv6Fragments}, unsupported link type {UnsupportedLinkType}";
}
