using Flowline.Query;
using Flowline.Wire.Records;

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
public sealed class Enricher
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
    /// Enriches rows [0, batch.Count) in place; rows for a flow's second port are appended at the end.
    /// Returns how many rows were added.
    /// </summary>
    public int Enrich(FlowBatch batch)
    {
        var c = _compiled;
        var n = batch.Count;
        for (var i = 0; i < n; i++) Enrich(c, batch, i);
        return batch.Count - n;
    }

    private void Enrich(Compiled c, FlowBatch b, int i)
    {
        var exporter = b.Exporter[i];
        var netflow = b.Protocol[i] is FlowProtocol.NetFlow5 or FlowProtocol.NetFlow9;
        var src = b.SrcAddr[i];
        var dst = b.DstAddr[i];
        // Where the exporter saw it: the ports behind the interfaces, else the network behind the tag.
        var inPort = c.PortAt(exporter, b.InIf[i], netflow);
        var outPort = c.PortAt(exporter, b.OutIf[i], netflow);
        var context = inPort?.Network ?? outPort?.Network ?? c.NetworkOfTag(b.Vlan[i], b.PostVlan[i], b.Tunnel[i], b.TunnelId[i]);

        // The port an interface names is an end when the address or the MAC is its own (a VM's IPv6
        // link-local or DHCP traffic has addresses the inventory does not list, but the VM's MAC).
        var srcPort = inPort is not null && (inPort.Has(src) || inPort.Mac != 0 && inPort.Mac == b.SrcMac[i]) ? inPort : null;
        var dstPort = outPort is not null && (outPort.Has(dst) || outPort.Mac != 0 && outPort.Mac == b.DstMac[i]) ? outPort : null;
        CompiledNetwork? srcVn = srcPort?.Network, dstVn = dstPort?.Network;
        if (srcPort is null) (srcPort, srcVn) = c.Resolve(src, context ?? dstPort?.Network);
        if (dstPort is null) (dstPort, dstVn) = c.Resolve(dst, context ?? srcPort?.Network);
        if (context is null && srcPort is null && dstPort is not null) (srcPort, srcVn) = c.Resolve(src, dstPort.Network);

        var srcPublic = srcVn is { IsPublic: true };
        var dstPublic = dstVn is { IsPublic: true };
        // Private, loopback, link-local and multicast addresses outside every network have no country or AS.
        var srcGlobal = srcPublic && IsGlobal(src);
        var dstGlobal = dstPublic && IsGlobal(dst);
        var srcCountry = srcGlobal ? Geo.Country(src) : (ushort)0;
        var dstCountry = dstGlobal ? Geo.Country(dst) : (ushort)0;
        if (srcGlobal && b.SrcAs[i] == 0) b.SrcAs[i] = Geo.Asn(src);
        if (dstGlobal && b.DstAs[i] == 0) b.DstAs[i] = Geo.Asn(dst);
        b.SrcCountry[i] = srcCountry;
        b.DstCountry[i] = dstCountry;

        var row = i;
        var first = true;
        // The source port's row (egress from it), then the destination port's (ingress to it).
        if (srcPort is not null)
        {
            Fill(b, row, srcPort, VmiDirections.Egress, srcVn, dstVn, dstPort);
            first = false;
        }
        if (dstPort is not null && !ReferenceEquals(dstPort, srcPort))
        {
            if (!first) row = b.Duplicate(i);
            Fill(b, row, dstPort, VmiDirections.Ingress, srcVn, dstVn, srcPort);
            first = false;
        }
        if (first)
        {
            // No port of ours: one row without an account, networks only.
            b.Account[row] = 0;
            b.Vmi[row] = 0;
            b.VmiDirection[row] = VmiDirections.None;
            b.SrcVn[row] = srcVn?.Symbol ?? 0;
            b.DstVn[row] = dstVn?.Symbol ?? 0;
            b.Action[row] = ExporterVerdict(b.ForwardingStatus[row]);
            b.SgRule[row] = 0;
            b.App[row] = b.Tier[row] = b.Site[row] = b.Deployment[row] = 0;
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

    private static void Fill(FlowBatch b, int row, CompiledPort port, byte direction, CompiledNetwork? srcVn, CompiledNetwork? dstVn,
        CompiledPort? remote)
    {
        b.Account[row] = port.Account;
        b.Vmi[row] = port.Symbol;
        b.VmiDirection[row] = direction;
        // The far end's network only when it is public or the port's own account's.
        b.SrcVn[row] = Visible(srcVn, port);
        b.DstVn[row] = Visible(dstVn, port);
        b.App[row] = port.App;
        b.Tier[row] = port.Tier;
        b.Site[row] = port.Site;
        b.Deployment[row] = port.Deployment;
        var exporter = ExporterVerdict(b.ForwardingStatus[row]);
        var remoteAddress = direction == VmiDirections.Ingress ? b.SrcAddr[row] : b.DstAddr[row];
        var rule = port.Admitting(direction, b.IpVersion[row], b.IpProto[row], b.SrcPort[row], b.DstPort[row], b.TcpFlags[row], remoteAddress,
            remote is not null && remote.AccountId == port.AccountId ? remote : null);
        b.SgRule[row] = rule?.Symbol ?? 0;
        b.Action[row] = exporter switch
        {
            FlowAction.Drop => FlowAction.Drop,
            FlowAction.Pass => FlowAction.Pass,
            // No word from the exporter: the security groups decide (a port without groups has port security off).
            _ => rule is not null || port.Unguarded ? FlowAction.Pass : FlowAction.Drop,
        };
    }

    private static uint Visible(CompiledNetwork? vn, CompiledPort port) =>
        vn is null ? 0 : vn.IsPublic || vn.AccountId == port.AccountId ? vn.Symbol : 0;

    /// <summary>The inventory turned into lookups; built once per reload.</summary>
    private sealed class Compiled
    {
        public required Inventory Inventory { get; init; }
        private readonly Dictionary<(FlowAddress, uint), CompiledPort> _byIfIndex = [];
        private readonly Dictionary<(FlowAddress, uint), CompiledPort> _byOfPort = [];
        private readonly Dictionary<ushort, CompiledNetwork> _byVlan = [];
        private readonly Dictionary<uint, CompiledNetwork> _byVni = [];
        /// <summary>Addresses held by exactly one port in the whole inventory (null: held by several).</summary>
        private readonly Dictionary<FlowAddress, CompiledPort?> _unique = [];
        /// <summary>Per prefix length (in the 128-bit space), the networks whose subnet it is (null: several).</summary>
        private readonly List<(int Length, Dictionary<FlowAddress, CompiledNetwork?> Networks)> _subnets = [];
        private CompiledNetwork _public = null!;

        public static Compiled Build(Inventory inventory, ISymbolInterner symbols)
        {
            // Every name goes into the symbol table in one durable write before any row can carry its id.
            var names = new List<string>();
            foreach (var n in inventory.Networks) names.Add(n.Name);
            foreach (var p in inventory.Ports)
            {
                names.Add(p.Uuid);
                names.Add(p.Account);
                if (p.Tags.App is { } app) names.Add(app);
                if (p.Tags.Tier is { } tier) names.Add(tier);
                if (p.Tags.Site is { } site) names.Add(site);
                if (p.Tags.Deployment is { } dep) names.Add(dep);
            }
            foreach (var g in inventory.SecurityGroups)
            {
                foreach (var r in g.Rules) names.Add(r.Uuid);
            }
            names.Add(PublicName);
            var ids = symbols.Intern(names);
            var id = new Dictionary<string, uint>(StringComparer.Ordinal);
            for (var k = 0; k < names.Count; k++) id[names[k]] = ids[k];
            uint Sym(string? s) => s is null ? 0 : id[s];

            var c = new Compiled { Inventory = inventory };
            var networks = new Dictionary<string, CompiledNetwork>(StringComparer.Ordinal);
            foreach (var n in inventory.Networks)
            {
                var vn = new CompiledNetwork(Sym(n.Name), n.Account, n.IsPublic, n.Subnets);
                networks[n.Name] = vn;
                if (n.IsPublic) c._public = vn;
                if (n.Vlan is { } vlan) c._byVlan[vlan] = vn;
                if (n.Vni is { } vni) c._byVni[vni] = vn;
                foreach (var s in n.Subnets) c.AddSubnet(s, vn);
            }
            c._public ??= new CompiledNetwork(Sym(PublicName), null, true, []);

            var groups = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var g = 0; g < inventory.SecurityGroups.Count; g++)
            {
                groups[inventory.SecurityGroups[g].Uuid] = g;
                groups.TryAdd(inventory.SecurityGroups[g].Name, g);
            }
            var rulesOf = new CompiledRule[inventory.SecurityGroups.Count][];
            for (var g = 0; g < rulesOf.Length; g++)
            {
                var sg = inventory.SecurityGroups[g];
                rulesOf[g] = sg.Rules.Select(r => new CompiledRule(Sym(r.Uuid), r.Direction, r.IpVersion, r.Protocol, r.PortLow, r.PortHigh,
                    r.Remote, r.RemoteGroup is { } rg && groups.TryGetValue(rg, out var gi) ? gi : r.RemoteGroup is null ? -1 : -2)).ToArray();
            }

            foreach (var p in inventory.Ports)
            {
                var member = p.SecurityGroups.Select(s => groups.TryGetValue(s, out var g) ? g : -1).Where(g => g >= 0).Distinct().ToArray();
                var rules = member.SelectMany(g => rulesOf[g]).ToArray();
                var port = new CompiledPort(Sym(p.Uuid), Sym(p.Account), p.Account, networks[p.Network], p.Mac, [.. p.Addresses],
                    Sym(p.Tags.App), Sym(p.Tags.Tier), Sym(p.Tags.Site), Sym(p.Tags.Deployment), member,
                    rules.Where(r => r.Direction == RuleDirection.Ingress).ToArray(), rules.Where(r => r.Direction == RuleDirection.Egress).ToArray(),
                    unguarded: member.Length == 0);
                var exporter = p.Exporter ?? FlowAddress.None;
                if (p.IfIndex is { } ifIndex) c._byIfIndex[(exporter, ifIndex)] = port;
                if (p.OfPort is { } ofPort) c._byOfPort[(exporter, ofPort)] = port;
                foreach (var a in p.Addresses)
                {
                    port.Network.Ports[a] = port;
                    c._unique[a] = c._unique.ContainsKey(a) ? null : port;
                }
            }
            c._subnets.Sort((x, y) => y.Length.CompareTo(x.Length)); // longest prefix first
            return c;
        }

        private void AddSubnet(Prefix p, CompiledNetwork vn)
        {
            var table = _subnets.Find(t => t.Length == p.Length).Networks;
            if (table is null)
            {
                table = [];
                _subnets.Add((p.Length, table));
            }
            table[p.Network] = table.ContainsKey(p.Network) ? null : vn;
        }

        /// <summary>The port behind an interface number of an exporter (ports listed without an exporter match any).</summary>
        public CompiledPort? PortAt(FlowAddress exporter, uint number, bool netflow)
        {
            if (number == 0) return null;
            // Open vSwitch numbers interfaces by OpenFlow port in NetFlow and by ifindex in sFlow and IPFIX.
            var first = netflow ? _byOfPort : _byIfIndex;
            var second = netflow ? _byIfIndex : _byOfPort;
            if (first.Count == 0 && second.Count == 0) return null;
            return first.GetValueOrDefault((exporter, number)) ?? second.GetValueOrDefault((exporter, number))
                ?? first.GetValueOrDefault((FlowAddress.None, number)) ?? second.GetValueOrDefault((FlowAddress.None, number));
        }

        public CompiledNetwork? NetworkOfTag(ushort vlan, ushort postVlan, TunnelKind tunnel, uint tunnelId)
        {
            if (tunnel is TunnelKind.Vxlan or TunnelKind.Gre && _byVni.TryGetValue(tunnelId, out var byVni)) return byVni;
            if (vlan != 0 && _byVlan.TryGetValue(vlan, out var byVlan)) return byVlan;
            if (postVlan != 0 && _byVlan.TryGetValue(postVlan, out var byPost)) return byPost;
            return null;
        }

        /// <summary>
        /// An address's port and network: inside <paramref name="context"/> first; else the one port in the
        /// inventory with that address; else the network whose subnet holds it; public when no subnet does.
        /// An address that several networks could hold, with nothing to tell them apart, stays unknown.
        /// </summary>
        public (CompiledPort?, CompiledNetwork?) Resolve(FlowAddress a, CompiledNetwork? context)
        {
            if (a.IsNone) return (null, null);
            if (context is not null)
            {
                if (context.Ports.TryGetValue(a, out var p)) return (p, context);
                if (context.Contains(a)) return (null, context);
            }
            if (_unique.TryGetValue(a, out var only))
            {
                if (only is not null) return (only, only.Network);
            }
            var inSubnet = false;
            foreach (var (length, networks) in _subnets)
            {
                if (networks.TryGetValue(Prefix.Mask(a, length), out var vn))
                {
                    if (vn is not null) return (null, vn);
                    inSubnet = true;
                }
            }
            return inSubnet || only is null && _unique.ContainsKey(a) ? (null, null) : (null, _public);
        }
    }

    public const string PublicName = "public";
}

internal sealed class CompiledNetwork(uint symbol, string? accountId, bool isPublic, IReadOnlyList<Prefix> subnets)
{
    public uint Symbol { get; } = symbol;
    public string? AccountId { get; } = accountId;
    public bool IsPublic { get; } = isPublic;
    public Dictionary<FlowAddress, CompiledPort> Ports { get; } = [];
    private readonly Prefix[] _subnets = [.. subnets];

    public bool Contains(FlowAddress a)
    {
        foreach (var s in _subnets)
        {
            if (s.Contains(a)) return true;
        }
        return false;
    }
}

internal sealed record CompiledRule(uint Symbol, RuleDirection Direction, byte IpVersion, byte? Protocol, ushort PortLow, ushort PortHigh,
    Prefix? Remote, int RemoteGroup)
{
    /// <summary>Does the rule admit traffic of this protocol to <paramref name="port"/>, with this remote end?</summary>
    public bool Admits(byte ipVersion, byte protocol, ushort port, FlowAddress remote, CompiledPort? remotePort)
    {
        if (IpVersion != 0 && ipVersion != 0 && IpVersion != ipVersion) return false;
        if (Protocol is { } p && p != protocol) return false;
        if (PortLow != 0 || PortHigh != ushort.MaxValue)
        {
            // ICMP carries type << 8 | code where ports go; a rule's range then applies to the type.
            var value = protocol is 1 or 58 ? (ushort)(port >> 8) : port;
            if (value < PortLow || value > PortHigh) return false;
        }
        if (Remote is { } prefix) return prefix.Contains(remote);
        if (RemoteGroup >= 0) return remotePort is not null && Array.IndexOf(remotePort.Groups, RemoteGroup) >= 0;
        return RemoteGroup == -1;
    }
}

internal sealed class CompiledPort(uint symbol, uint account, string accountId, CompiledNetwork network, ulong mac, FlowAddress[] addresses,
    uint app, uint tier, uint site, uint deployment, int[] groups, CompiledRule[] ingress, CompiledRule[] egress, bool unguarded)
{
    public uint Symbol { get; } = symbol;
    public uint Account { get; } = account;
    public string AccountId { get; } = accountId;
    public CompiledNetwork Network { get; } = network;
    public ulong Mac { get; } = mac;
    public uint App { get; } = app;
    public uint Tier { get; } = tier;
    public uint Site { get; } = site;
    public uint Deployment { get; } = deployment;
    public int[] Groups { get; } = groups;
    /// <summary>In no security group: port security is off and everything passes.</summary>
    public bool Unguarded { get; } = unguarded;

    public bool Has(FlowAddress a) => Array.IndexOf(addresses, a) >= 0;

    /// <summary>
    /// The rule that admits a flow through this port, or null. Security groups are stateful: a flow is
    /// also admitted as the reply of one that a rule of the other direction admits. Without connection
    /// state, a flow counts as a reply when it does not open a connection (no TCP SYN without ACK) and
    /// comes from the lower port (the service port) to the higher (the client's ephemeral port).
    /// </summary>
    public CompiledRule? Admitting(byte direction, byte ipVersion, byte protocol, ushort srcPort, ushort dstPort, ushort tcpFlags,
        FlowAddress remote, CompiledPort? remotePort)
    {
        var (forward, reverse) = direction == VmiDirections.Ingress ? (ingress, egress) : (egress, ingress);
        foreach (var r in forward)
        {
            if (r.Admits(ipVersion, protocol, dstPort, remote, remotePort)) return r;
        }
        if (protocol is 1 or 58) return null; // ICMP replies are told by type, not by port
        const ushort syn = 0x02, ack = 0x10;
        if (protocol == 6 && (tcpFlags & (syn | ack)) == syn || srcPort >= dstPort) return null;
        foreach (var r in reverse)
        {
            if (r.Admits(ipVersion, protocol, srcPort, remote, remotePort)) return r;
        }
        return null;
    }
}
