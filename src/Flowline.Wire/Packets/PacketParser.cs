using System.Buffers.Binary;
using Flowline.Records;

namespace Flowline.Wire.Packets;

/// <summary>
/// Decodes a sampled packet header (as carried by sFlow) into the flow fields of a record:
/// Ethernet, 802.1Q / 802.1ad (QinQ), IPv4, IPv6 with extension headers, TCP, UDP, ICMP, ICMPv6,
/// and the inner headers of VXLAN (UDP 4789), GRE (transparent Ethernet, IPv4, IPv6) and ERSPAN.
/// A sampled header is cut at an arbitrary length, so running out of bytes is not an error:
/// the parser fills what the bytes allow and stops.
/// </summary>
public static class PacketParser
{
    public const ushort EtherTypeIPv4 = 0x0800;
    public const ushort EtherTypeIPv6 = 0x86DD;
    public const ushort EtherTypeVlan = 0x8100;
    public const ushort EtherTypeQinQ = 0x88A8;
    public const ushort EtherTypeQinQOld = 0x9100;
    public const ushort EtherTypeTransparentBridging = 0x6558;
    public const ushort EtherTypeErspan2 = 0x88BE;
    public const ushort EtherTypeErspan3 = 0x22EB;
    public const ushort VxlanPort = 4789;

    /*
     Ethernet II, optionally tagged (IEEE 802.1Q / 802.1ad):
      0                   1                   2                   3
     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
     |                 destination MAC (6)               |  source  |
     |            MAC (6)                   |  TPID 0x8100 / 0x88a8  |
     | PCP |D|        VLAN id (12)           |  ... | EtherType (2)  |
    */
    public static void ParseEthernet(ReadOnlySpan<byte> p, ref FlowRecord r, int depth, DecodeLimits limits)
    {
        if (p.Length < 14)
        {
            return;
        }
        r.DstMac = MacAddress.Read(p);
        r.SrcMac = MacAddress.Read(p[6..]);
        var type = BinaryPrimitives.ReadUInt16BigEndian(p[12..]);
        var offset = 14;
        var tags = 0;
        while (type is EtherTypeVlan or EtherTypeQinQ or EtherTypeQinQOld && tags < 2)
        {
            if (p.Length < offset + 4)
            {
                r.EtherType = type;
                return;
            }
            var vlan = (ushort)(BinaryPrimitives.ReadUInt16BigEndian(p[offset..]) & 0x0FFF);
            if (tags == 0)
            {
                r.Vlan = vlan;
            }
            else
            {
                // The customer tag of a QinQ frame.
                r.PostVlan = vlan;
            }
            type = BinaryPrimitives.ReadUInt16BigEndian(p[(offset + 2)..]);
            offset += 4;
            tags++;
        }
        r.EtherType = type;
        ParseEtherPayload(type, p[offset..], ref r, depth, limits);
    }

    private static void ParseEtherPayload(ushort type, ReadOnlySpan<byte> p, ref FlowRecord r, int depth, DecodeLimits limits)
    {
        if (type == EtherTypeIPv4)
        {
            ParseIPv4(p, ref r, depth, limits);
        }
        else if (type == EtherTypeIPv6)
        {
            ParseIPv6(p, ref r, depth, limits);
        }
    }

    /*
     IPv4 (RFC 791):
     |Version|  IHL  |Type of Service|          Total Length         |
     |         Identification        |Flags|      Fragment Offset    |
     |  Time to Live |    Protocol   |         Header Checksum       |
     |                       Source Address                          |
     |                    Destination Address                        |
    */
    public static void ParseIPv4(ReadOnlySpan<byte> p, ref FlowRecord r, int depth, DecodeLimits limits)
    {
        if (p.Length < 20 || p[0] >> 4 != 4)
        {
            return;
        }
        var ihl = (p[0] & 0x0F) * 4;
        r.IpVersion = 4;
        r.Tos = p[1];
        r.IpProto = p[9];
        r.SrcAddr = FlowAddress.FromV4(p[12..]);
        r.DstAddr = FlowAddress.FromV4(p[16..]);
        var flagsAndOffset = BinaryPrimitives.ReadUInt16BigEndian(p[6..]);
        var fragmentOffset = flagsAndOffset & 0x1FFF;
        r.IpFragment = fragmentOffset != 0 ? FlowFragment.Later : (flagsAndOffset & 0x2000) != 0 ? FlowFragment.First : FlowFragment.None;
        if (ihl < 20 || fragmentOffset != 0 || p.Length < ihl)
        {
            // Later fragments carry no transport header.
            return;
        }
        ParseTransport(r.IpProto, p[ihl..], ref r, depth, limits);
    }

    /*
     IPv6 (RFC 8200):
     |Version| Traffic Class |           Flow Label                  |
     |         Payload Length        |  Next Header  |   Hop Limit   |
     |                  Source Address (16)                          |
     |                Destination Address (16)                       |
     Extension headers: hop-by-hop (0), routing (43), destination options (60), mobility (135),
     HIP (139), shim6 (140): next header, length in 8-octet units not counting the first 8;
     fragment (44): 8 octets; authentication header (51): length in 4-octet units minus 2.
    */
    public static void ParseIPv6(ReadOnlySpan<byte> p, ref FlowRecord r, int depth, DecodeLimits limits)
    {
        if (p.Length < 40 || p[0] >> 4 != 6)
        {
            return;
        }
        r.IpVersion = 6;
        r.Tos = (byte)((BinaryPrimitives.ReadUInt16BigEndian(p) >> 4) & 0xFF);
        r.SrcAddr = FlowAddress.FromV6(p[8..]);
        r.DstAddr = FlowAddress.FromV6(p[24..]);
        var next = p[6];
        var offset = 40;
        for (var i = 0; i <= limits.MaxIPv6ExtensionHeaders; i++)
        {
            r.IpProto = next;
            switch (next)
            {
                case 0 or 43 or 60 or 135 or 139 or 140:
                    if (p.Length < offset + 2)
                    {
                        return;
                    }
                    next = p[offset];
                    offset += (p[offset + 1] + 1) * 8;
                    continue;
                case 51:
                    if (p.Length < offset + 2)
                    {
                        return;
                    }
                    next = p[offset];
                    offset += (p[offset + 1] + 2) * 4;
                    continue;
                case 44:
                    if (p.Length < offset + 8)
                    {
                        return;
                    }
                    next = p[offset];
                    r.IpProto = next;
                    var fragment = BinaryPrimitives.ReadUInt16BigEndian(p[(offset + 2)..]);
                    r.IpFragment = (fragment >> 3) != 0 ? FlowFragment.Later : (fragment & 1) != 0 ? FlowFragment.First : FlowFragment.None;
                    if ((fragment >> 3) != 0)
                    {
                        return;
                    }
                    offset += 8;
                    continue;
                default:
                    if (offset <= p.Length)
                    {
                        ParseTransport(next, p[offset..], ref r, depth, limits);
                    }
                    return;
            }
        }
    }

    private static void ParseTransport(byte proto, ReadOnlySpan<byte> p, ref FlowRecord r, int depth, DecodeLimits limits)
    {
        switch (proto)
        {
            case 6:
                // TCP: ports, then data offset / flags at bytes 12-13 (NS in the low bit of byte 12).
                if (p.Length >= 4)
                {
                    r.SrcPort = BinaryPrimitives.ReadUInt16BigEndian(p);
                    r.DstPort = BinaryPrimitives.ReadUInt16BigEndian(p[2..]);
                }
                if (p.Length >= 14)
                {
                    r.TcpFlags = (ushort)(((p[12] & 1) << 8) | p[13]);
                }
                break;
            case 17 or 136:
                if (p.Length >= 4)
                {
                    r.SrcPort = BinaryPrimitives.ReadUInt16BigEndian(p);
                    r.DstPort = BinaryPrimitives.ReadUInt16BigEndian(p[2..]);
                    if (proto == 17 && r.DstPort == VxlanPort && depth < limits.MaxTunnelDepth && p.Length >= 8 + 8 + 14 && (p[8] & 0x08) != 0)
                    {
                        var vni = BinaryPrimitives.ReadUInt32BigEndian(p[12..]) >> 8;
                        EnterTunnel(ref r, TunnelKind.Vxlan, vni);
                        ParseEthernet(p[16..], ref r, depth + 1, limits);
                    }
                }
                break;
            case 1 or 58:
                if (p.Length >= 2)
                {
                    r.IcmpType = p[0];
                    r.IcmpCode = p[1];
                    r.SrcPort = 0;
                    r.DstPort = (ushort)((p[0] << 8) | p[1]);
                }
                break;
            case 47:
                ParseGre(p, ref r, depth, limits);
                break;
        }
    }

    /*
     GRE (RFC 2784, RFC 2890):
     |C| |K|S| Reserved0       | Ver |         Protocol Type         |
     |      Checksum (optional)      |       Reserved1 (Optional)    |
     |                         Key (optional)                        |
     |                 Sequence Number (Optional)                    |
     ERSPAN type II follows with an 8-byte header, type III with 12 (+8 when its O bit is set).
    */
    private static void ParseGre(ReadOnlySpan<byte> p, ref FlowRecord r, int depth, DecodeLimits limits)
    {
        if (depth >= limits.MaxTunnelDepth || p.Length < 4)
        {
            return;
        }
        var flags = BinaryPrimitives.ReadUInt16BigEndian(p);
        if ((flags & 0x7) != 0)
        {
            return; // only version 0 carries these payloads
        }
        var type = BinaryPrimitives.ReadUInt16BigEndian(p[2..]);
        var offset = 4;
        uint key = 0;
        if ((flags & 0x8000) != 0)
        {
            offset += 4;
        }
        if ((flags & 0x2000) != 0)
        {
            if (p.Length < offset + 4)
            {
                return;
            }
            key = BinaryPrimitives.ReadUInt32BigEndian(p[offset..]);
            offset += 4;
        }
        if ((flags & 0x1000) != 0)
        {
            offset += 4;
        }
        if (p.Length < offset)
        {
            return;
        }
        var inner = p[offset..];
        switch (type)
        {
            case EtherTypeTransparentBridging:
                EnterTunnel(ref r, TunnelKind.Gre, key);
                ParseEthernet(inner, ref r, depth + 1, limits);
                break;
            case EtherTypeIPv4 or EtherTypeIPv6:
                EnterTunnel(ref r, TunnelKind.Gre, key);
                r.EtherType = type;
                ParseEtherPayload(type, inner, ref r, depth + 1, limits);
                break;
            case EtherTypeErspan2 when inner.Length >= 8:
                EnterTunnel(ref r, TunnelKind.Erspan, BinaryPrimitives.ReadUInt16BigEndian(inner[2..]) & 0x3FFu);
                ParseEthernet(inner[8..], ref r, depth + 1, limits);
                break;
            case EtherTypeErspan3 when inner.Length >= 12:
                var headerLength = (inner[11] & 1) != 0 ? 20 : 12;
                if (inner.Length >= headerLength)
                {
                    EnterTunnel(ref r, TunnelKind.Erspan, BinaryPrimitives.ReadUInt16BigEndian(inner[2..]) & 0x3FFu);
                    ParseEthernet(inner[headerLength..], ref r, depth + 1, limits);
                }
                break;
        }
    }

    /// <summary>The outer header becomes the underlay; the record is rewritten by the inner headers.</summary>
    private static void EnterTunnel(ref FlowRecord r, TunnelKind kind, uint id)
    {
        r.Tunnel = kind;
        r.TunnelId = id;
        r.UnderlayProto = r.IpProto;
        r.UnderlaySrcPort = r.IpProto == 17 ? r.SrcPort : (ushort)0;
        r.UnderlaySrc = r.SrcAddr;
        r.UnderlayDst = r.DstAddr;
        r.SrcAddr = default;
        r.DstAddr = default;
        r.SrcPort = 0;
        r.DstPort = 0;
        r.IpProto = 0;
        r.IpVersion = 0;
        r.Tos = 0;
        r.TcpFlags = 0;
        r.IcmpType = 0;
        r.IcmpCode = 0;
        r.EtherType = 0;
        r.IpFragment = 0;
    }
}
