using Flowline.Wire;
using Flowline.Records;

namespace Flowline.Cli.Decode;

/// <summary>Field names of sflowtool's -L output, for users who already script against them.</summary>
internal enum SflowtoolField
{
    DatagramSourceIP, DatagramSize, UnixSecondsUTC, DatagramVersion, AgentSubId, Agent, PacketSequenceNo, SysUpTime,
    SamplesInPacket, SampleTypeTag, SampleType, SampleSequenceNo, SourceId, MeanSkipCount, SamplePool, DropEvents,
    InputPort, OutputPort, SampledPacketSize, SrcMAC, DstMAC, DecodedVLAN, EthernetType, SrcIP, DstIP, SrcIP6, DstIP6,
    IPProtocol, IPTOS, TCPSrcPort, TCPDstPort, TCPFlags, UDPSrcPort, UDPDstPort, ICMPType, ICMPCode, InVlan, OutVlan,
    NextHop, SrcSubnetMask, DstSubnetMask, SrcAs, DstAs,
}

internal static class SflowtoolFields
{
    private static readonly Dictionary<string, SflowtoolField> ByName = new(StringComparer.Ordinal)
    {
        ["datagramSourceIP"] = SflowtoolField.DatagramSourceIP, ["datagramSize"] = SflowtoolField.DatagramSize,
        ["unixSecondsUTC"] = SflowtoolField.UnixSecondsUTC, ["datagramVersion"] = SflowtoolField.DatagramVersion,
        ["agentSubId"] = SflowtoolField.AgentSubId, ["agent"] = SflowtoolField.Agent,
        ["packetSequenceNo"] = SflowtoolField.PacketSequenceNo, ["sysUpTime"] = SflowtoolField.SysUpTime,
        ["samplesInPacket"] = SflowtoolField.SamplesInPacket, ["sampleType_tag"] = SflowtoolField.SampleTypeTag,
        ["sampleType"] = SflowtoolField.SampleType, ["sampleSequenceNo"] = SflowtoolField.SampleSequenceNo,
        ["sourceId"] = SflowtoolField.SourceId, ["meanSkipCount"] = SflowtoolField.MeanSkipCount,
        ["samplePool"] = SflowtoolField.SamplePool, ["dropEvents"] = SflowtoolField.DropEvents,
        ["inputPort"] = SflowtoolField.InputPort, ["outputPort"] = SflowtoolField.OutputPort,
        ["sampledPacketSize"] = SflowtoolField.SampledPacketSize, ["srcMAC"] = SflowtoolField.SrcMAC,
        ["dstMAC"] = SflowtoolField.DstMAC, ["decodedVLAN"] = SflowtoolField.DecodedVLAN,
        ["ethernet_type"] = SflowtoolField.EthernetType, ["srcIP"] = SflowtoolField.SrcIP, ["dstIP"] = SflowtoolField.DstIP,
        ["srcIP6"] = SflowtoolField.SrcIP6, ["dstIP6"] = SflowtoolField.DstIP6, ["IPProtocol"] = SflowtoolField.IPProtocol,
        ["IPTOS"] = SflowtoolField.IPTOS, ["TCPSrcPort"] = SflowtoolField.TCPSrcPort, ["TCPDstPort"] = SflowtoolField.TCPDstPort,
        ["TCPFlags"] = SflowtoolField.TCPFlags, ["UDPSrcPort"] = SflowtoolField.UDPSrcPort, ["UDPDstPort"] = SflowtoolField.UDPDstPort,
        ["ICMPType"] = SflowtoolField.ICMPType, ["ICMPCode"] = SflowtoolField.ICMPCode, ["in_vlan"] = SflowtoolField.InVlan,
        ["out_vlan"] = SflowtoolField.OutVlan, ["nextHop"] = SflowtoolField.NextHop, ["srcSubnetMask"] = SflowtoolField.SrcSubnetMask,
        ["dstSubnetMask"] = SflowtoolField.DstSubnetMask, ["src_as"] = SflowtoolField.SrcAs, ["dst_as"] = SflowtoolField.DstAs,
    };

    public static IEnumerable<string> Names => ByName.Keys;

    /// <summary>
    /// The columns of <c>sflowtool -l</c>'s flow lines that records carry, in its order: its address and port columns
    /// hold either family and any protocol's ports, as the canonical src_addr and src_port do.
    /// </summary>
    public const string LineColumns = "agent,inputPort,outputPort,srcMAC,dstMAC,ethernet_type,in_vlan,out_vlan,src_addr,dst_addr,IPProtocol,IPTOS,src_port,dst_port,TCPFlags,sampledPacketSize,meanSkipCount";

    public static bool TryParse(string name, out SflowtoolField field) => ByName.TryGetValue(name, out field);

    /// <summary>Writes the value sflowtool would print, or nothing when the field does not apply to this record.</summary>
    public static void Write(Utf8TextWriter w, SflowtoolField f, in DatagramHeader d, in SampleHeader s, in FlowRecord r)
    {
        var proto = r.IpProto;
        var sflow = r.Protocol == FlowProtocol.SFlow5;
        switch (f)
        {
            case SflowtoolField.DatagramSourceIP: w.Address(d.Exporter); break;
            case SflowtoolField.DatagramSize: w.Number((long)d.Length); break;
            case SflowtoolField.UnixSecondsUTC: w.Number(d.TimeReceived / 1_000_000); break;
            case SflowtoolField.DatagramVersion: w.Number((ulong)d.Version); break;
            case SflowtoolField.AgentSubId: w.Number((ulong)d.ObsDomain); break;
            case SflowtoolField.Agent: w.Address(d.Agent); break;
            case SflowtoolField.PacketSequenceNo: w.Number((ulong)d.Sequence); break;
            case SflowtoolField.SysUpTime: w.Number((ulong)d.UptimeMs); break;
            case SflowtoolField.SamplesInPacket: w.Number((ulong)d.Count); break;
            case SflowtoolField.SampleTypeTag: w.Number((ulong)s.Enterprise); w.Byte((byte)':'); w.Number((ulong)s.Format); break;
            case SflowtoolField.SampleType: w.Text(s.IsCounters ? "COUNTERSSAMPLE" : "FLOWSAMPLE"); break;
            case SflowtoolField.SampleSequenceNo: w.Number((ulong)s.Sequence); break;
            case SflowtoolField.SourceId: w.Number((ulong)(s.SourceId >> 24)); w.Byte((byte)':'); w.Number((ulong)(s.SourceId & 0xFFFFFF)); break;
            // NetFlow and IPFIX records carry the interfaces and the sampling rate themselves, not in an sFlow sample.
            case SflowtoolField.MeanSkipCount: w.Number((ulong)(sflow ? s.SamplingRate : r.SamplingRate)); break;
            case SflowtoolField.SamplePool: w.Number((ulong)s.SamplePool); break;
            case SflowtoolField.DropEvents: w.Number((ulong)s.Drops); break;
            case SflowtoolField.InputPort: w.Number((ulong)(sflow ? s.Input : r.InIf)); break;
            case SflowtoolField.OutputPort: w.Number((ulong)(sflow ? s.Output : r.OutIf)); break;
            case SflowtoolField.SampledPacketSize: w.Number(r.SampledBytes); break;
            case SflowtoolField.SrcMAC: w.Mac(r.SrcMac, '\0'); break;
            case SflowtoolField.DstMAC: w.Mac(r.DstMac, '\0'); break;
            case SflowtoolField.DecodedVLAN: if (r.Vlan != 0) w.Number((ulong)r.Vlan); break;
            case SflowtoolField.EthernetType: w.Number((ulong)r.EtherType); break;
            case SflowtoolField.SrcIP: if (r.IpVersion == 4) w.Address(r.SrcAddr); break;
            case SflowtoolField.DstIP: if (r.IpVersion == 4) w.Address(r.DstAddr); break;
            case SflowtoolField.SrcIP6: if (r.IpVersion == 6) w.Address(r.SrcAddr); break;
            case SflowtoolField.DstIP6: if (r.IpVersion == 6) w.Address(r.DstAddr); break;
            case SflowtoolField.IPProtocol: if (r.IpVersion != 0) w.Number((ulong)proto); break;
            case SflowtoolField.IPTOS: if (r.IpVersion != 0) w.Number((ulong)r.Tos); break;
            case SflowtoolField.TCPSrcPort: if (proto == 6) w.Number((ulong)r.SrcPort); break;
            case SflowtoolField.TCPDstPort: if (proto == 6) w.Number((ulong)r.DstPort); break;
            case SflowtoolField.TCPFlags: if (proto == 6) w.Number((ulong)r.TcpFlags); break;
            case SflowtoolField.UDPSrcPort: if (proto == 17) w.Number((ulong)r.SrcPort); break;
            case SflowtoolField.UDPDstPort: if (proto == 17) w.Number((ulong)r.DstPort); break;
            case SflowtoolField.ICMPType: if (proto is 1 or 58) w.Number((ulong)r.IcmpType); break;
            case SflowtoolField.ICMPCode: if (proto is 1 or 58) w.Number((ulong)r.IcmpCode); break;
            case SflowtoolField.InVlan: w.Number((ulong)r.Vlan); break;
            case SflowtoolField.OutVlan: w.Number((ulong)r.PostVlan); break;
            case SflowtoolField.NextHop: if (!r.NextHop.IsNone) w.Address(r.NextHop); break;
            case SflowtoolField.SrcSubnetMask: w.Number((ulong)r.SrcMask); break;
            case SflowtoolField.DstSubnetMask: w.Number((ulong)r.DstMask); break;
            case SflowtoolField.SrcAs: w.Number((ulong)r.SrcAs); break;
            case SflowtoolField.DstAs: w.Number((ulong)r.DstAs); break;
        }
    }
}
