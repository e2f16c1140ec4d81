namespace Flowline.Wire.Records;

/// <summary>The canonical flow fields. Their names are Flowline's interface: decode, query, the API and the store use them.</summary>
public enum FlowField
{
    TimeReceived, Start, End, Protocol, Exporter, ObsDomain, ObsPoint, SamplingRate, InIf, OutIf,
    SrcAddr, DstAddr, SrcPort, DstPort, IpProto, TcpFlags, Tos, Vlan, PostVlan, SrcMac, DstMac,
    Bytes, Packets, SampledBytes, SampledPackets, IpVersion, EtherType, IcmpType, IcmpCode, Direction,
    EndReason, ForwardingStatus, NextHop, SrcAs, DstAs, SrcMask, DstMask, Tunnel, TunnelId,
    UnderlayProto, UnderlaySrcPort, UnderlaySrc, UnderlayDst,
}

public static class FlowFields
{
    private static readonly (FlowField Field, string Name, string Description)[] Table =
    [
        (FlowField.TimeReceived, "time_received", "when the collector received the datagram (RFC 3339 UTC)"),
        (FlowField.Start, "start", "flow start (RFC 3339 UTC); for sFlow the sample's receive time"),
        (FlowField.End, "end", "flow end (RFC 3339 UTC)"),
        (FlowField.Protocol, "protocol", "sflow5, netflow5, netflow9 or ipfix"),
        (FlowField.Exporter, "exporter", "exporter address (sFlow: the agent address)"),
        (FlowField.ObsDomain, "obs_domain", "sFlow sub-agent, NetFlow v5 engine type<<8|id, v9 source id, IPFIX observation domain"),
        (FlowField.ObsPoint, "obs_point", "sFlow data source (class<<24|index) or IPFIX observationPointId"),
        (FlowField.SamplingRate, "sampling_rate", "1 in N packets sampled"),
        (FlowField.InIf, "in_if", "input interface index"),
        (FlowField.OutIf, "out_if", "output interface index"),
        (FlowField.SrcAddr, "src_addr", "source IP address"),
        (FlowField.DstAddr, "dst_addr", "destination IP address"),
        (FlowField.SrcPort, "src_port", "source transport port"),
        (FlowField.DstPort, "dst_port", "destination port; ICMP type<<8|code for ICMP"),
        (FlowField.IpProto, "ip_proto", "IP protocol number"),
        (FlowField.TcpFlags, "tcp_flags", "TCP flags (OR of the packets' flags)"),
        (FlowField.Tos, "tos", "IPv4 ToS / IPv6 traffic class"),
        (FlowField.Vlan, "vlan", "VLAN id (outer tag)"),
        (FlowField.PostVlan, "post_vlan", "egress VLAN id, or the inner tag of a QinQ frame"),
        (FlowField.SrcMac, "src_mac", "source MAC"),
        (FlowField.DstMac, "dst_mac", "destination MAC"),
        (FlowField.Bytes, "bytes", "estimated bytes: sampled value x sampling rate (delta counts for NetFlow/IPFIX)"),
        (FlowField.Packets, "packets", "estimated packets: sampled value x sampling rate"),
        (FlowField.SampledBytes, "sampled_bytes", "bytes as the exporter reported them"),
        (FlowField.SampledPackets, "sampled_packets", "packets as the exporter reported them"),
        (FlowField.IpVersion, "ip_version", "4, 6, or 0 for non-IP"),
        (FlowField.EtherType, "ether_type", "EtherType of the (inner) frame"),
        (FlowField.IcmpType, "icmp_type", "ICMP / ICMPv6 type"),
        (FlowField.IcmpCode, "icmp_code", "ICMP / ICMPv6 code"),
        (FlowField.Direction, "direction", "0 ingress, 1 egress, 255 unknown (IPFIX flowDirection)"),
        (FlowField.EndReason, "end_reason", "IPFIX flowEndReason"),
        (FlowField.ForwardingStatus, "forwarding_status", "IPFIX forwardingStatus (128+ = dropped)"),
        (FlowField.NextHop, "next_hop", "next-hop address"),
        (FlowField.SrcAs, "src_as", "source AS"),
        (FlowField.DstAs, "dst_as", "destination AS"),
        (FlowField.SrcMask, "src_mask", "source prefix length"),
        (FlowField.DstMask, "dst_mask", "destination prefix length"),
        (FlowField.Tunnel, "tunnel", "encapsulation the record was found in: none, vxlan, gre, erspan"),
        (FlowField.TunnelId, "tunnel_id", "VXLAN VNI or GRE key"),
        (FlowField.UnderlayProto, "underlay_proto", "IP protocol of the outer (underlay) header"),
        (FlowField.UnderlaySrcPort, "underlay_src_port", "UDP source port of the outer header"),
        (FlowField.UnderlaySrc, "underlay_src", "outer source address"),
        (FlowField.UnderlayDst, "underlay_dst", "outer destination address"),
    ];

    // Built with plain loops: LINQ over these tuples would be compiled at start-up by every command.
    private static readonly Dictionary<string, FlowField> ByName = BuildByName();

    private static readonly byte[][] Utf8Names = BuildUtf8Names();

    public static IReadOnlyList<FlowField> All { get; } = BuildAll();

    private static Dictionary<string, FlowField> BuildByName()
    {
        var d = new Dictionary<string, FlowField>(Table.Length, StringComparer.Ordinal);
        foreach (var t in Table) d.Add(t.Name, t.Field);
        return d;
    }

    private static byte[][] BuildUtf8Names()
    {
        var names = new byte[Table.Length][];
        foreach (var t in Table) names[(int)t.Field] = System.Text.Encoding.UTF8.GetBytes(t.Name);
        return names;
    }

    private static FlowField[] BuildAll()
    {
        var all = new FlowField[Table.Length];
        for (var i = 0; i < all.Length; i++) all[i] = Table[i].Field;
        return all;
    }

    public static string Name(FlowField f) => Table[(int)f].Name;

    public static ReadOnlySpan<byte> Utf8Name(FlowField f) => Utf8Names[(int)f];

    public static string Description(FlowField f) => Table[(int)f].Description;

    public static bool TryParse(string name, out FlowField field) => ByName.TryGetValue(name, out field);

    public static string TunnelName(TunnelKind k) => k switch
    {
        TunnelKind.Vxlan => "vxlan",
        TunnelKind.Gre => "gre",
        TunnelKind.Erspan => "erspan",
        _ => "none",
    };

    [ThreadStatic]
    private static (MemoryStream Stream, Utf8TextWriter Writer)? _text;

    /// <summary>A field's text value as a string (for JSON and table output; bulk paths write UTF-8 directly).</summary>
    public static string Format(FlowField f, in FlowRecord r)
    {
        var (stream, writer) = _text ??= CreateText();
        stream.SetLength(0);
        Write(writer, f, r);
        writer.Flush(force: false);
        return System.Text.Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }

    private static (MemoryStream, Utf8TextWriter) CreateText()
    {
        var stream = new MemoryStream();
        return (stream, new Utf8TextWriter(stream, 256));
    }

    /// <summary>Writes a field's text value.</summary>
    public static void Write(Utf8TextWriter w, FlowField f, in FlowRecord r)
    {
        switch (f)
        {
            case FlowField.TimeReceived: w.Time(r.TimeReceived); break;
            case FlowField.Start: w.Time(r.Start); break;
            case FlowField.End: w.Time(r.End); break;
            case FlowField.Protocol: w.Text(FlowProtocolNames.Name(r.Protocol)); break;
            case FlowField.Exporter: w.Address(r.Exporter); break;
            case FlowField.ObsDomain: w.Number((ulong)r.ObsDomain); break;
            case FlowField.ObsPoint: w.Number((ulong)r.ObsPoint); break;
            case FlowField.SamplingRate: w.Number((ulong)r.SamplingRate); break;
            case FlowField.InIf: w.Number((ulong)r.InIf); break;
            case FlowField.OutIf: w.Number((ulong)r.OutIf); break;
            case FlowField.SrcAddr: if (!r.SrcAddr.IsNone) w.Address(r.SrcAddr); break;
            case FlowField.DstAddr: if (!r.DstAddr.IsNone) w.Address(r.DstAddr); break;
            case FlowField.SrcPort: w.Number((ulong)r.SrcPort); break;
            case FlowField.DstPort: w.Number((ulong)r.DstPort); break;
            case FlowField.IpProto: w.Number((ulong)r.IpProto); break;
            case FlowField.TcpFlags: w.Number((ulong)r.TcpFlags); break;
            case FlowField.Tos: w.Number((ulong)r.Tos); break;
            case FlowField.Vlan: w.Number((ulong)r.Vlan); break;
            case FlowField.PostVlan: w.Number((ulong)r.PostVlan); break;
            case FlowField.SrcMac: w.Mac(r.SrcMac); break;
            case FlowField.DstMac: w.Mac(r.DstMac); break;
            case FlowField.Bytes: w.Number(r.Bytes); break;
            case FlowField.Packets: w.Number(r.Packets); break;
            case FlowField.SampledBytes: w.Number(r.SampledBytes); break;
            case FlowField.SampledPackets: w.Number(r.SampledPackets); break;
            case FlowField.IpVersion: w.Number((ulong)r.IpVersion); break;
            case FlowField.EtherType: w.Number((ulong)r.EtherType); break;
            case FlowField.IcmpType: w.Number((ulong)r.IcmpType); break;
            case FlowField.IcmpCode: w.Number((ulong)r.IcmpCode); break;
            case FlowField.Direction: w.Number((ulong)r.Direction); break;
            case FlowField.EndReason: w.Number((ulong)r.EndReason); break;
            case FlowField.ForwardingStatus: w.Number((ulong)r.ForwardingStatus); break;
            case FlowField.NextHop: if (!r.NextHop.IsNone) w.Address(r.NextHop); break;
            case FlowField.SrcAs: w.Number((ulong)r.SrcAs); break;
            case FlowField.DstAs: w.Number((ulong)r.DstAs); break;
            case FlowField.SrcMask: w.Number((ulong)r.SrcMask); break;
            case FlowField.DstMask: w.Number((ulong)r.DstMask); break;
            case FlowField.Tunnel: w.Text(TunnelName(r.Tunnel)); break;
            case FlowField.TunnelId: w.Number((ulong)r.TunnelId); break;
            case FlowField.UnderlayProto: w.Number((ulong)r.UnderlayProto); break;
            case FlowField.UnderlaySrcPort: w.Number((ulong)r.UnderlaySrcPort); break;
            case FlowField.UnderlaySrc: if (!r.UnderlaySrc.IsNone) w.Address(r.UnderlaySrc); break;
            case FlowField.UnderlayDst: if (!r.UnderlayDst.IsNone) w.Address(r.UnderlayDst); break;
        }
    }
}
