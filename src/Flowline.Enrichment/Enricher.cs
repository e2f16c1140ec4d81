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

    /// <summary>
    /// The inventory turned into lookups, built once per reload. Ports, networks and rules are arrays of
    /// structs referred to by index (-1: none), and addresses sit in open-addressing tables, so that a
    /// record costs a handful of memory reads rather than a chain of objects.
    /// </summary>
    private sealed class Compiled
    {
        public required Inventory Inventory { get; init; }
        public PortEntry[] Ports = [];
        public NetworkEntry[] Networks = [];
        public RuleEntry[] Rules = [];
        /// <summary>Per port, its ingress rules then its egress rules (indexes into <see cref="Rules"/>).</summary>
        private int[] _portRules = [];
        /// <summary>Per port, the security groups it is a member of.</summary>
        private int[] _portGroups = [];
        private FlowAddress[][] _portAddresses = [];
        private readonly Dictionary<(FlowAddress, uint), int> _byIfIndex = [];
        private readonly Dictionary<(FlowAddress, uint), int> _byOfPort = [];
        private readonly Dictionary<ushort, int> _byVlan = [];
        private readonly Dictionary<uint, int> _byVni = [];
        /// <summary>Every port address: the port's index, or ~k for the k-th list of ports sharing it.</summary>
        private AddressTable _addresses = AddressTable.Empty;
        private int[][] _shared = [];
        /// <summary>Per prefix length (in the 128-bit space), longest first: the network whose subnet it is (-2: several).</summary>
        private (int Length, AddressTable Networks)[] _subnets = [];

        /// <summary>The public network's index.</summary>
        public int Public;
        public bool HasInterfaces => _byIfIndex.Count != 0 || _byOfPort.Count != 0;
        public bool HasTags => _byVlan.Count != 0 || _byVni.Count != 0;

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
            var accounts = new Dictionary<string, int>(StringComparer.Ordinal);
            int AccountOrdinal(string? account) =>
                account is null ? -1 : accounts.TryGetValue(account, out var o) ? o : accounts[account] = accounts.Count;

            var c = new Compiled { Inventory = inventory };
            var networks = new List<NetworkEntry>();
            var networkIndex = new Dictionary<string, int>(StringComparer.Ordinal);
            var subnets = new Dictionary<int, Dictionary<FlowAddress, int>>();
            c.Public = -1;
            foreach (var n in inventory.Networks)
            {
                var index = networks.Count;
                networks.Add(new NetworkEntry(Sym(n.Name), AccountOrdinal(n.Account), n.IsPublic, [.. n.Subnets]));
                networkIndex[n.Name] = index;
                if (n.IsPublic) c.Public = index;
                if (n.Vlan is { } vlan) c._byVlan[vlan] = index;
                if (n.Vni is { } vni) c._byVni[vni] = index;
                foreach (var s in n.Subnets)
                {
                    if (!subnets.TryGetValue(s.Length, out var table)) subnets[s.Length] = table = [];
                    table[s.Network] = table.ContainsKey(s.Network) ? -2 : index;
                }
            }
            if (c.Public < 0)
            {
                c.Public = networks.Count;
                networks.Add(new NetworkEntry(Sym(PublicName), -1, true, []));
            }
            c.Networks = [.. networks];
            c._subnets = subnets.OrderByDescending(s => s.Key).Select(s => (s.Key, AddressTable.Build(s.Value))).ToArray();

            var groups = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var g = 0; g < inventory.SecurityGroups.Count; g++)
            {
                groups[inventory.SecurityGroups[g].Uuid] = g;
                groups.TryAdd(inventory.SecurityGroups[g].Name, g);
            }
            var rules = new List<RuleEntry>();
            var rulesOf = new List<int>[inventory.SecurityGroups.Count];
            for (var g = 0; g < rulesOf.Length; g++)
            {
                rulesOf[g] = [];
                foreach (var r in inventory.SecurityGroups[g].Rules)
                {
                    rulesOf[g].Add(rules.Count);
                    rules.Add(new RuleEntry(Sym(r.Uuid), r, r.RemoteGroup is { } rg && groups.TryGetValue(rg, out var gi) ? gi : r.RemoteGroup is null ? -1 : -2));
                }
            }
            c.Rules = [.. rules];

            var ports = new PortEntry[inventory.Ports.Count];
            var portRules = new List<int>();
            var portGroups = new List<int>();
            var addresses = new Dictionary<FlowAddress, List<int>>();
            c._portAddresses = new FlowAddress[ports.Length][];
            for (var k = 0; k < ports.Length; k++)
            {
                var p = inventory.Ports[k];
                var member = p.SecurityGroups.Select(s => groups.TryGetValue(s, out var g) ? g : -1).Where(g => g >= 0).Distinct().ToArray();
                var own = member.SelectMany(g => rulesOf[g]).ToArray();
                ref var e = ref ports[k];
                e.Symbol = Sym(p.Uuid);
                e.Account = Sym(p.Account);
                e.AccountOrdinal = AccountOrdinal(p.Account);
                e.Network = networkIndex[p.Network];
                e.Mac = p.Mac;
                e.App = Sym(p.Tags.App);
                e.Tier = Sym(p.Tags.Tier);
                e.Site = Sym(p.Tags.Site);
                e.Deployment = Sym(p.Tags.Deployment);
                e.Unguarded = member.Length == 0;
                e.IngressStart = portRules.Count;
                portRules.AddRange(own.Where(r => rules[r].Direction == RuleDirection.Ingress));
                e.IngressEnd = e.EgressStart = portRules.Count;
                portRules.AddRange(own.Where(r => rules[r].Direction == RuleDirection.Egress));
                e.EgressEnd = portRules.Count;
                e.GroupStart = portGroups.Count;
                portGroups.AddRange(member);
                e.GroupEnd = portGroups.Count;
                c._portAddresses[k] = [.. p.Addresses];

                var exporter = p.Exporter ?? FlowAddress.None;
                if (p.IfIndex is { } ifIndex) c._byIfIndex[(exporter, ifIndex)] = k;
                if (p.OfPort is { } ofPort) c._byOfPort[(exporter, ofPort)] = k;
                foreach (var a in p.Addresses)
                {
                    if (!addresses.TryGetValue(a, out var holders)) addresses[a] = holders = [];
                    if (!holders.Contains(k)) holders.Add(k);
                }
            }
            c.Ports = ports;
            c._portRules = [.. portRules];
            c._portGroups = [.. portGroups];
            var shared = new List<int[]>();
            var byAddress = new Dictionary<FlowAddress, int>(addresses.Count);
            foreach (var (a, holders) in addresses)
            {
                if (holders.Count == 1) byAddress[a] = holders[0];
                else
                {
                    byAddress[a] = ~shared.Count;
                    shared.Add([.. holders]);
                }
            }
            c._shared = [.. shared];
            c._addresses = AddressTable.Build(byAddress);
            return c;
        }

        /// <summary>The port behind an interface number of an exporter (ports listed without an exporter match any), or -1.</summary>
        public int PortAt(FlowAddress exporter, uint number, bool netflow)
        {
            if (number == 0) return -1;
            // Open vSwitch numbers interfaces by OpenFlow port in NetFlow and by ifindex in sFlow and IPFIX.
            var first = netflow ? _byOfPort : _byIfIndex;
            var second = netflow ? _byIfIndex : _byOfPort;
            return first.TryGetValue((exporter, number), out var p) || second.TryGetValue((exporter, number), out p)
                || first.TryGetValue((FlowAddress.None, number), out p) || second.TryGetValue((FlowAddress.None, number), out p) ? p : -1;
        }

        /// <summary>Is the address, or else the MAC, the port's own?</summary>
        public bool Owns(int port, in FlowAddress address, ulong mac) =>
            Array.IndexOf(_portAddresses[port], address) >= 0 || Ports[port].Mac != 0 && Ports[port].Mac == mac;

        public int NetworkOfTag(ushort vlan, ushort postVlan, TunnelKind tunnel, uint tunnelId)
        {
            if (tunnel is TunnelKind.Vxlan or TunnelKind.Gre && _byVni.TryGetValue(tunnelId, out var byVni)) return byVni;
            if (vlan != 0 && _byVlan.TryGetValue(vlan, out var byVlan)) return byVlan;
            if (postVlan != 0 && _byVlan.TryGetValue(postVlan, out var byPost)) return byPost;
            return -1;
        }

        /// <summary>
        /// An address's network and port: inside <paramref name="context"/> first; else the one port in the
        /// inventory with that address; else the network whose subnet holds it; public when no subnet does.
        /// An address that several networks could hold, with nothing to tell them apart, stays unknown (-1).
        /// </summary>
        public int Resolve(in FlowAddress a, int context, out int port)
        {
            port = -1;
            if (a.IsNone) return -1;
            var holder = _addresses.Find(a);
            if (context >= 0)
            {
                if (holder >= 0)
                {
                    if (Ports[holder].Network == context)
                    {
                        port = holder;
                        return context;
                    }
                }
                else if (holder != AddressTable.Missing)
                {
                    // Several ports hold it: the last one listed in this network, as a port listed later replaces an earlier one.
                    var candidates = _shared[~holder];
                    for (var k = candidates.Length - 1; k >= 0; k--)
                    {
                        if (Ports[candidates[k]].Network != context) continue;
                        port = candidates[k];
                        return context;
                    }
                }
                if (Networks[context].Contains(a)) return context;
            }
            if (holder >= 0)
            {
                port = holder;
                return Ports[holder].Network;
            }
            var inSubnet = false;
            foreach (var (length, networks) in _subnets)
            {
                var vn = networks.Find(Prefix.Mask(a, length));
                if (vn >= 0) return vn;
                if (vn != AddressTable.Missing) inSubnet = true;
            }
            return inSubnet || holder != AddressTable.Missing ? -1 : Public;
        }

        /// <summary>The port holding an address in the network named <paramref name="vn"/> (0: the one port holding it anywhere), or -1.</summary>
        public int PortOf(in FlowAddress a, uint vn)
        {
            if (a.IsNone) return -1;
            var holder = _addresses.Find(a);
            if (holder >= 0) return vn == 0 || Networks[Ports[holder].Network].Symbol == vn ? holder : -1;
            if (holder == AddressTable.Missing || vn == 0) return -1;
            var candidates = _shared[~holder];
            for (var k = candidates.Length - 1; k >= 0; k--)
            {
                if (Networks[Ports[candidates[k]].Network].Symbol == vn) return candidates[k];
            }
            return -1;
        }

        /// <summary>A network's name for a row of a port's account: only when public or the account's own.</summary>
        public uint Visible(int network, int accountOrdinal)
        {
            if (network < 0) return 0;
            ref readonly var vn = ref Networks[network];
            return vn.IsPublic || vn.AccountOrdinal == accountOrdinal ? vn.Symbol : 0;
        }

        /// <summary>
        /// The rule that admits a flow through this port (an index into <see cref="Rules"/>), or -1. Security
        /// groups are stateful: a flow is also admitted as the reply of one that a rule of the other direction
        /// admits. Without connection state, a flow counts as a reply when it does not open a connection (no
        /// TCP SYN without ACK) and comes from the lower port (the service port) to the higher (the client's
        /// ephemeral port).
        /// </summary>
        public int Admitting(in PortEntry port, byte direction, byte ipVersion, byte protocol, ushort srcPort, ushort dstPort, ushort tcpFlags,
            in FlowAddress remote, int remotePort)
        {
            var ingress = direction == VmiDirections.Ingress;
            var rule = FirstAdmitting(ingress ? port.IngressStart : port.EgressStart, ingress ? port.IngressEnd : port.EgressEnd,
                ipVersion, protocol, dstPort, remote, remotePort);
            if (rule >= 0) return rule;
            if (protocol is 1 or 58) return -1; // ICMP replies are told by type, not by port
            const ushort syn = 0x02, ack = 0x10;
            if (protocol == 6 && (tcpFlags & (syn | ack)) == syn || srcPort >= dstPort) return -1;
            return FirstAdmitting(ingress ? port.EgressStart : port.IngressStart, ingress ? port.EgressEnd : port.IngressEnd,
                ipVersion, protocol, srcPort, remote, remotePort);
        }

        private int FirstAdmitting(int start, int end, byte ipVersion, byte protocol, ushort port, in FlowAddress remote, int remotePort)
        {
            for (var k = start; k < end; k++)
            {
                var r = _portRules[k];
                ref readonly var rule = ref Rules[r];
                if (!rule.Matches(ipVersion, protocol, port, remote)) continue;
                if (rule.RemoteGroup == -1) return r;
                if (rule.RemoteGroup >= 0 && remotePort >= 0 && IsMember(remotePort, rule.RemoteGroup)) return r;
            }
            return -1;
        }

        private bool IsMember(int port, int group)
        {
            ref readonly var p = ref Ports[port];
            for (var k = p.GroupStart; k < p.GroupEnd; k++)
            {
                if (_portGroups[k] == group) return true;
            }
            return false;
        }
    }

    public const string PublicName = "public";
}
