using Flowline.Query;
using Flowline.Records;

namespace Flowline.Enrichment;

/// <summary>
/// Adds tenancy to flow records before they are stored: for each end the network (VN) and port (VMI),
/// for each port its account, tags, direction and the security-group rule that admits the flow, and
/// country and AS for public addresses.
/// <para>
/// Where an exporter saw a packet decides whose it is, because tenants reuse addresses. The record's
/// input and output interfaces name ports (by exporter and ifindex, or OpenFlow port for NetFlow, which
/// Open vSwitch reports that way), the VLAN tag or the VXLAN VNI / GRE key names a network, and only then
/// is an address looked up, inside that network. An address in no network's subnets is public.
/// </para>
/// <para>
/// A flow between two ports becomes two rows, one per port, each in its port's account (like one
/// flow-log line per interface). A row never names another account's port, tags or networks: those
/// columns stay empty. A flow that touches no known port stays one row without an account, visible only
/// to unscoped (administrator) queries.
/// </para>
/// Thread-safe: the compiled inventory is immutable and replaced whole by <see cref="Use"/>.
/// </summary>
public sealed partial class Enricher
{
    private readonly ISymbolInterner _symbols;
    private volatile Compiled _compiled;

    public Enricher(ISymbolInterner symbols, GeoDatabase? geo = null)
    {
        _symbols = symbols;
        Geo = geo ?? GeoDatabase.Empty;
        _compiled = Compiled.Build(Inventory.Empty, symbols);
    }

    public GeoDatabase Geo { get; }

    /// <summary>The inventory in force.</summary>
    public Inventory Inventory => _compiled.Inventory;

    /// <summary>Puts an inventory in force (its names are added to the symbol table first, durably).</summary>
    public void Use(Inventory inventory) => _compiled = Compiled.Build(inventory, _symbols);

    /// <summary>
    /// The account (its id) of the port behind an sFlow interface number (ifIndex) of an agent, as rows are
    /// enriched; null when no port of the inventory is there.
    /// </summary>
    public string? AccountAt(FlowAddress agent, uint ifIndex)
    {
        var c = _compiled;
        var port = c.PortAt(agent, ifIndex, netflow: false);
        return port < 0 ? null : c.Inventory.Ports[port].Account;
    }

    /// <summary>
    /// The tags of the port that holds <paramref name="address"/> in the network <paramref name="vn"/> (a
    /// network symbol; 0: the one port in the inventory with that address), when that port is in
    /// <paramref name="account"/> and has any tag: a session's remote end, named as seed 001 names it. Another
    /// account's port stays anonymous, as in its flow rows.
    /// </summary>
    public (uint App, uint Tier, uint Site, uint Deployment)? RemoteTags(uint account, uint vn, FlowAddress address)
    {
        var c = _compiled;
        var port = c.PortOf(address, vn);
        if (port < 0) return null;
        ref readonly var p = ref c.Ports[port];
        if (p.Account != account || (p.App | p.Tier | p.Site | p.Deployment) == 0) return null;
        return (p.App, p.Tier, p.Site, p.Deployment);
    }

    /// <summary>
    /// Enriches rows [0, batch.Count) in place; rows for a flow's second port are appended at the end.
    /// Returns how many rows were added.
    /// </summary>
    public int Enrich(FlowBatch batch)
    {
        var n = batch.Count;
        var rows = new FlowBatch(2);
        var extra = new FlowBatch(16);
        var first = new FlowBatch(Math.Max(16, n));
        for (var i = 0; i < n; i++)
        {
            var r = batch[i];
            rows.Clear();
            Add(ref r, rows);
            first.AppendRange(rows, 0, 1);
            if (rows.Count > 1) extra.AppendRange(rows, 1, rows.Count - 1);
        }
        batch.Clear();
        batch.AppendRange(first, 0, first.Count);
        batch.AppendRange(extra, 0, extra.Count);
        return extra.Count;
    }

    /// <summary>
    /// Enriches a record and adds it to <paramref name="batch"/>: once per port it touches, each row in
    /// that port's account (the source port's row first), or once without an account when it touches
    /// none. <paramref name="r"/> is used as scratch and holds the last row added.
    /// </summary>
    public void Add(ref FlowRecord r, FlowBatch batch)
    {
        var c = _compiled;
        // Where the exporter saw it: the ports behind the interfaces, else the network behind the tag.
        int inPort = -1, outPort = -1;
        if (c.HasInterfaces)
        {
            var netflow = r.Protocol is FlowProtocol.NetFlow5 or FlowProtocol.NetFlow9;
            inPort = c.PortAt(r.Exporter, r.InIf, netflow);
            outPort = c.PortAt(r.Exporter, r.OutIf, netflow);
        }
        var context = inPort >= 0 ? c.Ports[inPort].Network : outPort >= 0 ? c.Ports[outPort].Network : -1;
        if (context < 0 && c.HasTags) context = c.NetworkOfTag(r.Vlan, r.PostVlan, r.Tunnel, r.TunnelId);

        // The port an interface names is an end when the address or the MAC is its own (a VM's IPv6
        // link-local or DHCP traffic has addresses the inventory does not list, but the VM's MAC).
        var srcPort = inPort >= 0 && c.Owns(inPort, r.SrcAddr, r.SrcMac) ? inPort : -1;
        var dstPort = outPort >= 0 && c.Owns(outPort, r.DstAddr, r.DstMac) ? outPort : -1;
        int srcVn = srcPort >= 0 ? c.Ports[srcPort].Network : -1, dstVn = dstPort >= 0 ? c.Ports[dstPort].Network : -1;
        if (srcPort < 0) srcVn = c.Resolve(r.SrcAddr, context >= 0 ? context : dstPort >= 0 ? c.Ports[dstPort].Network : -1, out srcPort);
        if (dstPort < 0) dstVn = c.Resolve(r.DstAddr, context >= 0 ? context : srcPort >= 0 ? c.Ports[srcPort].Network : -1, out dstPort);
        if (context < 0 && srcPort < 0 && dstPort >= 0) srcVn = c.Resolve(r.SrcAddr, c.Ports[dstPort].Network, out srcPort);

        // Private, loopback, link-local and multicast addresses outside every network have no country or AS.
        r.SrcCountry = r.DstCountry = 0;
        if (srcVn == c.Public && IsGlobal(r.SrcAddr))
        {
            (r.SrcCountry, var asn) = Geo.Lookup(r.SrcAddr);
            if (r.SrcAs == 0) r.SrcAs = asn;
        }
        if (dstVn == c.Public && IsGlobal(r.DstAddr))
        {
            (r.DstCountry, var asn) = Geo.Lookup(r.DstAddr);
            if (r.DstAs == 0) r.DstAs = asn;
        }

        if (srcPort < 0 && dstPort < 0)
        {
            // No port of ours: one row without an account, networks only.
            r.Account = r.Vmi = 0;
            r.VmiDirection = VmiDirections.None;
            r.SrcVn = srcVn >= 0 ? c.Networks[srcVn].Symbol : 0;
            r.DstVn = dstVn >= 0 ? c.Networks[dstVn].Symbol : 0;
            r.Action = ExporterVerdict(r.ForwardingStatus);
            r.SgRule = 0;
            r.App = r.Tier = r.Site = r.Deployment = 0;
            batch.Add(r);
            return;
        }
        // The source port's row (egress from it), then the destination port's (ingress to it).
        if (srcPort >= 0)
        {
            Fill(c, ref r, srcPort, VmiDirections.Egress, srcVn, dstVn, dstPort);
            batch.Add(r);
        }
        if (dstPort >= 0 && dstPort != srcPort)
        {
            Fill(c, ref r, dstPort, VmiDirections.Ingress, srcVn, dstVn, srcPort);
            batch.Add(r);
        }
    }

    /// <summary>False for addresses that are not routed on the internet (RFC 1918, RFC 6598, loopback, link-local, ULA, multicast).</summary>
    public static bool IsGlobal(in FlowAddress a)
    {
        if (a.IsV4)
        {
            var v = a.V4;
            return (v >> 24) is not (0 or 10 or 127) && (v >> 20) != 0xAC1 && (v >> 16) is not (0xC0A8 or 0xA9FE)
                && (v >> 22) != (100 << 2 | 1) && (v >> 28) < 0xE;
        }
        var top = a.Hi >> 48;
        return !a.IsNone && (top & 0xFE00) != 0xFC00 && (top & 0xFFC0) != 0xFE80 && (top & 0xFF00) != 0xFF00 && !(a.Hi == 0 && a.Lo == 1);
    }

    /// <summary>IPFIX forwardingStatus: the top two bits say forwarded (01), dropped (10) or consumed (11).</summary>
    private static byte ExporterVerdict(byte forwardingStatus) => (forwardingStatus >> 6) switch
    {
        1 or 3 => FlowAction.Pass,
        2 => FlowAction.Drop,
        _ => FlowAction.Unknown,
    };

    private static void Fill(Compiled c, ref FlowRecord r, int portIndex, byte direction, int srcVn, int dstVn, int remoteIndex)
    {
        ref readonly var port = ref c.Ports[portIndex];
        r.Account = port.Account;
        r.Vmi = port.Symbol;
        r.VmiDirection = direction;
        // The far end's network only when it is public or the port's own account's.
        r.SrcVn = c.Visible(srcVn, port.AccountOrdinal);
        r.DstVn = c.Visible(dstVn, port.AccountOrdinal);
        r.App = port.App;
        r.Tier = port.Tier;
        r.Site = port.Site;
        r.Deployment = port.Deployment;
        var sameAccountRemote = remoteIndex >= 0 && c.Ports[remoteIndex].AccountOrdinal == port.AccountOrdinal ? remoteIndex : -1;
        var rule = c.Admitting(in port, direction, r.IpVersion, r.IpProto, r.SrcPort, r.DstPort, r.TcpFlags,
            direction == VmiDirections.Ingress ? r.SrcAddr : r.DstAddr, sameAccountRemote);
        r.SgRule = rule >= 0 ? c.Rules[rule].Symbol : 0;
        r.Action = ExporterVerdict(r.ForwardingStatus) switch
        {
            FlowAction.Drop => FlowAction.Drop,
            FlowAction.Pass => FlowAction.Pass,
            // No word from the exporter: the security groups decide (a port without groups has port security off).
            _ => rule >= 0 || port.Unguarded ? FlowAction.Pass : FlowAction.Drop,
        };
    }
}
