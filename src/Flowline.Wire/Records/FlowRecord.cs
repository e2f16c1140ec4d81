namespace Flowline.Wire.Records;

/// <summary>
/// The canonical flow record every decoder produces, whatever the export protocol.
/// Times are Unix microseconds (UTC). <see cref="Bytes"/> and <see cref="Packets"/> are estimates of
/// the traffic that crossed the wire: sampled values multiplied by the sampling rate for sFlow, the
/// delta counts of the reporting interval for NetFlow and IPFIX (never running totals). The values
/// as the exporter reported them are kept in <see cref="SampledBytes"/> / <see cref="SampledPackets"/>.
/// </summary>
public struct FlowRecord
{
    public long TimeReceived;
    public long Start;
    public long End;
    public FlowProtocol Protocol;
    public FlowAddress Exporter;
    /// <summary>sFlow sub-agent id, NetFlow v5 engine type/id (type &lt;&lt; 8 | id), v9 source id, IPFIX observation domain.</summary>
    public uint ObsDomain;
    /// <summary>sFlow data source (class &lt;&lt; 24 | index), IPFIX observationPointId; 0 when not reported.</summary>
    public uint ObsPoint;
    public uint SamplingRate;
    public uint InIf;
    public uint OutIf;
    public FlowAddress SrcAddr;
    public FlowAddress DstAddr;
    public FlowAddress NextHop;
    /// <summary>4 or 6; 0 for non-IP (e.g. ARP) samples.</summary>
    public byte IpVersion;
    public byte IpProto;
    public ushort SrcPort;
    /// <summary>For ICMP and ICMPv6: type &lt;&lt; 8 | code, the NetFlow convention.</summary>
    public ushort DstPort;
    public ushort TcpFlags;
    public byte Tos;
    public byte IcmpType;
    public byte IcmpCode;
    /// <summary>Flow direction as reported (IPFIX flowDirection): 0 ingress, 1 egress, 255 unknown.</summary>
    public byte Direction;
    public byte EndReason;
    public byte ForwardingStatus;
    public ushort Vlan;
    public ushort PostVlan;
    public ushort EtherType;
    public ulong SrcMac;
    public ulong DstMac;
    public uint SrcAs;
    public uint DstAs;
    public byte SrcMask;
    public byte DstMask;
    public ulong Bytes;
    public ulong Packets;
    public ulong SampledBytes;
    public ulong SampledPackets;
    public TunnelKind Tunnel;
    /// <summary>VXLAN VNI or GRE key of the encapsulation.</summary>
    public uint TunnelId;
    public byte UnderlayProto;
    public ushort UnderlaySrcPort;
    public FlowAddress UnderlaySrc;
    public FlowAddress UnderlayDst;

    public const byte DirectionUnknown = 255;
}
