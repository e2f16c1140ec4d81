using Flowline.Records;

namespace Flowline.Wire.Tests;

/// <summary>Flow records for encoder round trips.</summary>
public static class TestFlows
{
    public static FlowRecord Tcp4(uint i = 0) => new()
    {
        IpVersion = 4,
        SrcAddr = FlowAddress.Parse("10.1.0.1"),
        DstAddr = FlowAddress.FromV4(0x0A020000 + i),
        SrcPort = (ushort)(40000 + i),
        DstPort = 443,
        IpProto = 6,
        TcpFlags = 0x1B,
        Tos = 0x28,
        InIf = 3,
        OutIf = 7,
        SrcMac = 0x02_11_22_33_44_55,
        DstMac = 0x02_66_77_88_99_AA,
        SampledBytes = 1500 + i,
        SampledPackets = 3 + i,
        Start = 1_795_000_000_000_000 + i * 1000,
        End = 1_795_000_001_000_000 + i * 1000,
        Direction = 0,
        SamplingRate = 1,
    };

    public static FlowRecord Udp6(uint i = 0) => new()
    {
        IpVersion = 6,
        SrcAddr = FlowAddress.Parse("fd00::1"),
        DstAddr = FlowAddress.Parse("fd00::2"),
        SrcPort = (ushort)(5000 + i),
        DstPort = 53,
        IpProto = 17,
        Tos = 0,
        InIf = 1,
        OutIf = 2,
        SrcMac = 0x02_00_00_00_00_01,
        DstMac = 0x02_00_00_00_00_02,
        SampledBytes = 100 + i,
        SampledPackets = 1,
        Start = 1_795_000_000_000_000,
        End = 1_795_000_000_500_000,
        Direction = 1,
        Vlan = 100,
        SamplingRate = 1,
    };

    public static List<FlowRecord> Decode(FlowDecoder decoder, ReadOnlySpan<byte> datagram, out DecodeResult result)
    {
        var batch = new FlowBatch();
        result = decoder.Decode(datagram, FlowAddress.Parse("192.0.2.9"), 1_795_000_002_000_000, batch);
        return Enumerable.Range(0, batch.Count).Select(i => batch[i]).ToList();
    }
}
