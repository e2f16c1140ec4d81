using System.Buffers.Binary;
using Flowline.Wire.Packets;
using Flowline.Records;

namespace Flowline.Wire.Encoders;

/// <summary>
/// Builds the packet a flow record describes: Ethernet (with an 802.1Q tag when the record has a VLAN),
/// IPv4 or IPv6, and TCP, UDP or ICMP, optionally inside VXLAN. Used to make sFlow raw headers for tests and load.
/// </summary>
public static class PacketBuilder
{
    /// <summary>Writes the frame's headers (no payload) and returns their length.</summary>
    public static int Write(in FlowRecord r, Span<byte> destination, int frameLength)
    {
        var w = new WireWriter(destination);
        if (r.Tunnel == TunnelKind.Vxlan)
        {
            // Outer Ethernet/IPv4/UDP/VXLAN, then the inner frame.
            var inner = r;
            inner.Tunnel = TunnelKind.None;
            var outerPayload = frameLength - 14 - 20;
            w.Mac(0x02_00_00_00_00_02);
            w.Mac(0x02_00_00_00_00_01);
            w.U16(PacketParser.EtherTypeIPv4);
            WriteIPv4Header(ref w, r.UnderlaySrc, r.UnderlayDst, 17, 0, outerPayload);
            w.U16(r.UnderlaySrcPort);
            w.U16(PacketParser.VxlanPort);
            w.U16((ushort)Math.Max(8, outerPayload));
            w.U16(0);
            w.U32(0x0800_0000);
            w.U32(r.TunnelId << 8);
            var used = w.Position;
            return used + Write(inner, destination[used..], frameLength - used);
        }
        w.Mac(r.DstMac);
        w.Mac(r.SrcMac);
        if (r.Vlan != 0)
        {
            w.U16(PacketParser.EtherTypeVlan);
            w.U16(r.Vlan);
        }
        var l3Length = frameLength - w.Position;
        if (r.IpVersion == 6)
        {
            w.U16(PacketParser.EtherTypeIPv6);
            w.U32(0x6000_0000u | ((uint)r.Tos << 20));
            w.U16((ushort)Math.Max(0, l3Length - 40));
            w.U8(r.IpFragment != 0 ? (byte)44 : r.IpProto);
            w.U8(64);
            w.V6(r.SrcAddr);
            w.V6(r.DstAddr);
            if (r.IpFragment != 0)
            {
                // The fragment header (RFC 8200 4.5): a later fragment at offset 1480, or the first with M set.
                w.U8(r.IpProto);
                w.U8(0);
                w.U16(r.IpFragment == FlowFragment.Later ? (ushort)(185 << 3) : (ushort)1);
                w.U32(0x0001_0000);
                if (r.IpFragment == FlowFragment.Later) return w.Position;
            }
        }
        else if (r.IpVersion == 4)
        {
            w.U16(PacketParser.EtherTypeIPv4);
            // A later fragment (offset 1480) carries no transport header; the first one has More Fragments set.
            WriteIPv4Header(ref w, r.SrcAddr, r.DstAddr, r.IpProto, r.Tos, l3Length,
                r.IpFragment == FlowFragment.Later ? (ushort)185 : r.IpFragment == FlowFragment.First ? (ushort)0x2000 : (ushort)0x4000);
            if (r.IpFragment == FlowFragment.Later) return w.Position;
        }
        else
        {
            w.U16(r.EtherType);
            return w.Position;
        }
        switch (r.IpProto)
        {
            case 6:
                w.U16(r.SrcPort);
                w.U16(r.DstPort);
                w.U32(1);
                w.U32(0);
                w.U8((byte)(0x50 | ((r.TcpFlags >> 8) & 1)));
                w.U8((byte)r.TcpFlags);
                w.U16(65535);
                w.U32(0);
                break;
            case 17:
                w.U16(r.SrcPort);
                w.U16(r.DstPort);
                w.U16((ushort)Math.Max(8, l3Length - (r.IpVersion == 6 ? 40 : 20)));
                w.U16(0);
                break;
            case 1 or 58:
                w.U8((byte)(r.DstPort >> 8));
                w.U8((byte)r.DstPort);
                w.U16(0);
                w.U32(0);
                break;
        }
        return w.Position;
    }

    private static void WriteIPv4Header(ref WireWriter w, in FlowAddress src, in FlowAddress dst, byte proto, byte tos, int totalLength, ushort flagsAndOffset = 0x4000)
    {
        var start = w.Position;
        w.U8(0x45);
        w.U8(tos);
        w.U16((ushort)Math.Clamp(totalLength, 20, 65535));
        w.U16(0);
        w.U16(flagsAndOffset);
        w.U8(64);
        w.U8(proto);
        w.U16(0);
        w.V4(src);
        w.V4(dst);
        // Header checksum, so that captures of these frames are valid.
        uint sum = 0;
        var h = w.At(start)[..20];
        for (var i = 0; i < 20; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(h[i..]);
        while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(h[10..], (ushort)~sum);
    }
}
