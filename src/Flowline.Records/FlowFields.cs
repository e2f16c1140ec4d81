namespace Flowline.Records;

/// <summary>The canonical flow fields. Their names are Flowline's interface: decode, query, the API and the store use them.</summary>
public enum FlowField
{
    TimeReceived, Start, End, Protocol, Exporter, ObsDomain, ObsPoint, SamplingRate, InIf, OutIf,
    SrcAddr, DstAddr, SrcPort, DstPort, IpProto, TcpFlags, Tos, Vlan, PostVlan, SrcMac, DstMac,
    Bytes, Packets, SampledBytes, SampledPackets, IpVersion, EtherType, IcmpType, IcmpCode, Direction,
    EndReason, ForwardingStatus, NextHop, SrcAs, DstAs, SrcMask, DstMask, Tunnel, TunnelId,
    UnderlayProto, UnderlaySrcPort, UnderlaySrc, UnderlayDst,
    Account, Vmi, VmiDirection, SrcVn, DstVn, Action, SgRule, App, Tier, Site, Deployment, SrcCountry, DstCountry,
    SessionFlags, SetupTime, TeardownTime, RevBytes, RevPackets, LoggedBytes, LoggedPackets, LoggedRevBytes, LoggedRevPackets,
    RevTcpFlags, RevAction, RevSgRule, RemoteApp, RemoteTier, RemoteSite, RemoteDeployment, RemotePrefix,
    IpFragment,
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
        (FlowField.Account, "account", "the account the row belongs to (its port's account; one row per port a flow touches)"),
        (FlowField.Vmi, "vmi", "the port (VMI) uuid the row is for"),
        (FlowField.VmiDirection, "vmi_direction", "ingress (towards the port) or egress (from it)"),
        (FlowField.SrcVn, "src_vn", "source virtual network (FQ name), or public"),
        (FlowField.DstVn, "dst_vn", "destination virtual network (FQ name), or public"),
        (FlowField.Action, "action", "pass or drop: the security-group verdict or the exporter's forwarding status"),
        (FlowField.SgRule, "sg_rule", "uuid of the security-group rule that admits the flow"),
        (FlowField.App, "app", "the port's application tag"),
        (FlowField.Tier, "tier", "the port's tier tag"),
        (FlowField.Site, "site", "the port's site tag"),
        (FlowField.Deployment, "deployment", "the port's deployment tag"),
        (FlowField.SrcCountry, "src_country", "country of a public source address (ISO 3166 alpha-2)"),
        (FlowField.DstCountry, "dst_country", "country of a public destination address (ISO 3166 alpha-2)"),
        (FlowField.SessionFlags, "session_flags", "session rows: 1 client part, 2 server part, +4 service instance, +8 sampled, +16 logged, +32 ended; 0 for flows"),
        (FlowField.SetupTime, "setup_time", "session rows: the session's first packet (RFC 3339 UTC)"),
        (FlowField.TeardownTime, "teardown_time", "session rows: when the session ended (FIN/RST or idle), empty while it lasts"),
        (FlowField.RevBytes, "rev_bytes", "session rows: reverse (server to client) bytes, upscaled like bytes"),
        (FlowField.RevPackets, "rev_packets", "session rows: reverse packets"),
        (FlowField.LoggedBytes, "logged_bytes", "session rows: forward bytes of a logged session, as counted"),
        (FlowField.LoggedPackets, "logged_packets", "session rows: forward packets of a logged session"),
        (FlowField.LoggedRevBytes, "logged_rev_bytes", "session rows: reverse bytes of a logged session"),
        (FlowField.LoggedRevPackets, "logged_rev_packets", "session rows: reverse packets of a logged session"),
        (FlowField.RevTcpFlags, "rev_tcp_flags", "session rows: TCP flags of the reverse flow"),
        (FlowField.RevAction, "rev_action", "session rows: pass or drop for the reverse flow"),
        (FlowField.RevSgRule, "rev_sg_rule", "session rows: the rule that admits the reverse flow"),
        (FlowField.RemoteApp, "remote_app", "session rows: the remote end's application tag"),
        (FlowField.RemoteTier, "remote_tier", "session rows: the remote end's tier tag"),
        (FlowField.RemoteSite, "remote_site", "session rows: the remote end's site tag"),
        (FlowField.RemoteDeployment, "remote_deployment", "session rows: the remote end's deployment tag"),
        (FlowField.RemotePrefix, "remote_prefix", "session rows: the remote end's prefix when it has no tags and no network"),
        (FlowField.IpFragment, "ip_fragment", "IP fragmentation: 0 a whole packet, 1 the first fragment (more follow), 2 a later fragment (no transport header)"),
    ];

    // Built with plain loops: LINQ over these tuples would be compiled at start-up by every command.
    private static readonly Dictionary<string, FlowField> ByName = BuildByName();

    private static readonly byte[][] Utf8Names = BuildUtf8Names();

    public static IReadOnlyList<FlowField> All { get; } = BuildAll();

    /// <summary>The fields a decoder fills: all but the tenancy ones, which enrichment adds before storage.</summary>
    public static IReadOnlyList<FlowField> Decoded { get; } = BuildAll()[..(int)FlowField.Account];

    /// <summary>The fields of flow records: all but the session rows' own.</summary>
    public static IReadOnlyList<FlowField> Flow { get; } = BuildAll()[..(int)FlowField.SessionFlags];

    /// <summary>The fields only session rows fill.</summary>
    public static IReadOnlyList<FlowField> SessionOnly { get; } = BuildAll()[(int)FlowField.SessionFlags..];

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

    /// <summary>Fields whose values are ids in the store's symbol table.</summary>
    public static bool IsSymbol(FlowField f) => f is FlowField.Account or FlowField.Vmi or FlowField.SrcVn or FlowField.DstVn
        or FlowField.SgRule or FlowField.App or FlowField.Tier or FlowField.Site or FlowField.Deployment
        or FlowField.RevSgRule or FlowField.RemoteApp or FlowField.RemoteTier or FlowField.RemoteSite or FlowField.RemoteDeployment
        or FlowField.RemotePrefix;

    /// <summary>Fields written as text (not numbers) in JSON.</summary>
    public static bool IsText(FlowField f) => IsSymbol(f) || f is FlowField.Start or FlowField.End or FlowField.TimeReceived
        or FlowField.Protocol or FlowField.Exporter or FlowField.SrcAddr or FlowField.DstAddr or FlowField.NextHop or FlowField.SrcMac
        or FlowField.DstMac or FlowField.Tunnel or FlowField.UnderlaySrc or FlowField.UnderlayDst or FlowField.VmiDirection
        or FlowField.Action or FlowField.SrcCountry or FlowField.DstCountry
        or FlowField.SetupTime or FlowField.TeardownTime or FlowField.RevAction;

    /// <summary>The id a symbol field holds (0 for others).</summary>
    public static uint SymbolId(FlowField f, in FlowRecord r) => f switch
    {
        FlowField.Account => r.Account,
        FlowField.Vmi => r.Vmi,
        FlowField.SrcVn => r.SrcVn,
        FlowField.DstVn => r.DstVn,
        FlowField.SgRule => r.SgRule,
        FlowField.App => r.App,
        FlowField.Tier => r.Tier,
        FlowField.Site => r.Site,
        FlowField.Deployment => r.Deployment,
        FlowField.RevSgRule => r.RevSgRule,
        FlowField.RemoteApp => r.RemoteApp,
        FlowField.RemoteTier => r.RemoteTier,
        FlowField.RemoteSite => r.RemoteSite,
        FlowField.RemoteDeployment => r.RemoteDeployment,
        FlowField.RemotePrefix => r.RemotePrefix,
        _ => 0,
    };

    /// <summary>Writes a field's text value; symbol ids as their names when <paramref name="names"/> is given, else as numbers.</summary>
    public static void Write(Utf8TextWriter w, FlowField f, in FlowRecord r, ISymbolNames? names)
    {
        if (IsSymbol(f))
        {
            var id = SymbolId(f, r);
            if (id == 0) return;
            if (names?.Name(id) is { } name) w.Text(name);
            else w.Number((ulong)id);
            return;
        }
        Write(w, f, r);
    }

    /// <summary>A field's text value as a string, symbols by name.</summary>
    public static string Format(FlowField f, in FlowRecord r, ISymbolNames? names)
    {
        if (!IsSymbol(f)) return Format(f, r);
        var id = SymbolId(f, r);
        return id == 0 ? "" : names?.Name(id) ?? id.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Adds the columns the text of <paramref name="columns"/> reads besides their own: an address reads the IP
    /// version, which tells IPv6's :: from a record without the address.
    /// </summary>
    public static void AddReads(ISet<FlowField> columns)
    {
        if (columns.Contains(FlowField.SrcAddr) || columns.Contains(FlowField.DstAddr)) columns.Add(FlowField.IpVersion);
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
            case FlowField.SrcAddr: if (!r.SrcAddr.IsNone || r.IpVersion == 6) w.Address(r.SrcAddr); break; // all zeros: :: in IPv6, else none
            case FlowField.DstAddr: if (!r.DstAddr.IsNone || r.IpVersion == 6) w.Address(r.DstAddr); break;
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
            case FlowField.IpFragment: w.Number((ulong)r.IpFragment); break;
            case FlowField.Direction: w.Number((ulong)r.Direction); break;
            case FlowField.EndReason: w.Number((ulong)r.EndReason); break;
            case FlowField.ForwardingStatus: w.Number((ulong)r.ForwardingStatus); break;
            // No next hop reads 0.0.0.0 in every output, as nfdump prints it (GroupKey.Text for aggregates).
            case FlowField.NextHop: if (r.NextHop.IsNone) w.Text("0.0.0.0"); else w.Address(r.NextHop); break;
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
            case FlowField.VmiDirection: w.Text(VmiDirections.Name(r.VmiDirection)); break;
            case FlowField.Action: w.Text(FlowAction.Name(r.Action)); break;
            case FlowField.SrcCountry: w.Text(CountryCode.Text(r.SrcCountry)); break;
            case FlowField.DstCountry: w.Text(CountryCode.Text(r.DstCountry)); break;
            case FlowField.SessionFlags: w.Number((ulong)r.SessionFlags); break;
            case FlowField.SetupTime: if (r.SetupTime != 0) w.Time(r.SetupTime); break;
            case FlowField.TeardownTime: if (r.TeardownTime != 0) w.Time(r.TeardownTime); break;
            case FlowField.RevBytes: w.Number(r.RevBytes); break;
            case FlowField.RevPackets: w.Number(r.RevPackets); break;
            case FlowField.LoggedBytes: w.Number(r.LoggedBytes); break;
            case FlowField.LoggedPackets: w.Number(r.LoggedPackets); break;
            case FlowField.LoggedRevBytes: w.Number(r.LoggedRevBytes); break;
            case FlowField.LoggedRevPackets: w.Number(r.LoggedRevPackets); break;
            case FlowField.RevTcpFlags: w.Number((ulong)r.RevTcpFlags); break;
            case FlowField.RevAction: w.Text(FlowAction.Name(r.RevAction)); break;
            default:
                if (IsSymbol(f)) { var id = SymbolId(f, r); if (id != 0) w.Number((ulong)id); }
                break;
        }
    }
}
