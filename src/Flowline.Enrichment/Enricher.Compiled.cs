using Flowline.Query;
using Flowline.Records;

namespace Flowline.Enrichment;

/// <summary>The inventory compiled for lookups by switch port, VLAN, VNI and address.</summary>
public sealed partial class Enricher
{
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
