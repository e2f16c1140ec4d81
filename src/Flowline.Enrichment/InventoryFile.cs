using System.Globalization;
using System.Net;
using Flowline.Query;
using Flowline.Records;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Flowline.Enrichment;

/// <summary>A problem in an inventory file, at a line, in a field (<c>ports[3].mac</c>).</summary>
public sealed record InventoryError(int Line, string Field, string Message)
{
    public override string ToString() => $"line {Line}: {Field}: {Message}";
}

/// <summary>An inventory file that cannot be used; every problem found is listed, each with its line and field.</summary>
public sealed class InventoryException(string path, IReadOnlyList<InventoryError> errors)
    : Exception($"{path}: " + string.Join("; ", errors.Take(10)) + (errors.Count > 10 ? $"; and {errors.Count - 10} more" : ""))
{
    public string Path { get; } = path;
    public IReadOnlyList<InventoryError> Errors { get; } = errors;
}

/// <summary>
/// Reads an inventory from YAML or JSON (see docs/inventory.example.yaml): accounts, networks, ports and
/// security groups. Checks everything before anything is used: unknown keys (typos), malformed values,
/// duplicate ids, references to accounts, networks and groups that do not exist, and addresses outside
/// their network's subnets. A file with any error is refused as a whole.
/// </summary>
public static class InventoryFile
{
    public static Inventory Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InventoryException(path, [new InventoryError(0, "file", e.Message)]);
        }
        return Parse(text, path);
    }

    /// <summary>Mappings and lists nested at most this deep (the inventory's own shape needs five).</summary>
    public const int MaxDepth = 64;
    /// <summary>Aliases (<c>*name</c>) at most: each may stand for a whole subtree.</summary>
    public const int MaxAliases = 1_000;
    /// <summary>Errors reported at most; reading stops there.</summary>
    public const int MaxErrors = 1_000;

    private sealed class TooManyErrors : Exception;

    public static Inventory Parse(string text, string path = "inventory")
    {
        var yaml = new YamlStream();
        try
        {
            Scan(text, path);
            yaml.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new InventoryException(path, [new InventoryError((int)e.Start.Line, "syntax", e.Message)]);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException or OverflowException)
        {
            // The YAML library's own faults on some malformed input are syntax errors too.
            throw new InventoryException(path, [new InventoryError(0, "syntax", e.Message)]);
        }
        var reader = new Reader();
        var inventory = Inventory.Empty;
        try
        {
            inventory = yaml.Documents.Count == 0 ? Inventory.Empty : reader.Read(yaml.Documents[0].RootNode);
        }
        catch (TooManyErrors)
        {
            reader.Errors.Add(new InventoryError(0, "file", $"more than {MaxErrors} errors: the rest were not looked for"));
        }
        if (reader.Errors.Count > 0) throw new InventoryException(path, reader.Errors);
        return inventory;
    }

    /// <summary>
    /// Reads the YAML events once, without building anything, to refuse deep nesting (which would exhaust the
    /// stack of the tree builder) and floods of aliases before the document is loaded.
    /// </summary>
    private static void Scan(string text, string path)
    {
        var parser = new YamlDotNet.Core.Parser(new StringReader(text));
        int depth = 0, aliases = 0;
        while (parser.MoveNext())
        {
            switch (parser.Current)
            {
                case YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart:
                    if (++depth > MaxDepth)
                        throw new InventoryException(path, [new InventoryError((int)parser.Current.Start.Line, "syntax", $"nested more than {MaxDepth} deep")]);
                    break;
                case YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd:
                    depth--;
                    break;
                case YamlDotNet.Core.Events.AnchorAlias:
                    if (++aliases > MaxAliases)
                        throw new InventoryException(path, [new InventoryError((int)parser.Current.Start.Line, "syntax", $"more than {MaxAliases} aliases")]);
                    break;
            }
        }
    }

    private sealed class Reader
    {
        public readonly List<InventoryError> Errors = [];

        private void Error(YamlNode node, string field, string message)
        {
            Errors.Add(new InventoryError((int)node.Start.Line, field, message));
            // An alias repeats its subtree's errors at every use: the list stops, as the reading does.
            if (Errors.Count >= MaxErrors) throw new TooManyErrors();
        }

        /// <summary>The mapping's entries by key; unknown keys are errors.</summary>
        private Dictionary<string, YamlNode>? Mapping(YamlNode node, string field, params string[] known)
        {
            if (node is not YamlMappingNode map)
            {
                Error(node, field, "expected a mapping (key: value lines)");
                return null;
            }
            var entries = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
            foreach (var (k, v) in map.Children)
            {
                var key = (k as YamlScalarNode)?.Value ?? "";
                if (!known.Contains(key)) Error(k, $"{field}.{key}", $"unknown key (known: {string.Join(", ", known)})");
                else if (!entries.TryAdd(key, v)) Error(k, $"{field}.{key}", "given twice");
            }
            return entries;
        }

        private IEnumerable<(YamlNode Node, string Field)> Items(Dictionary<string, YamlNode> m, string key, string field)
        {
            if (!m.TryGetValue(key, out var node) || node is YamlScalarNode { Value: null or "" }) yield break;
            if (node is not YamlSequenceNode seq)
            {
                Error(node, field, "expected a list");
                yield break;
            }
            for (var i = 0; i < seq.Children.Count; i++) yield return (seq.Children[i], $"{field}[{i}]");
        }

        private string? Text(Dictionary<string, YamlNode> m, YamlNode owner, string field, string key, bool required)
        {
            if (!m.TryGetValue(key, out var node) || node is YamlScalarNode { Value: null })
            {
                if (required) Error(owner, $"{field}.{key}", "missing");
                return null;
            }
            if (node is YamlScalarNode { Value: { } v } && v.Trim().Length > 0) return v.Trim();
            Error(node, $"{field}.{key}", "expected a non-empty value");
            return null;
        }

        private List<(YamlNode Node, string Value)> List(Dictionary<string, YamlNode> m, string field, string key)
        {
            var list = new List<(YamlNode, string)>();
            if (!m.TryGetValue(key, out var node) || node is YamlScalarNode { Value: null or "" }) return list;
            if (node is YamlScalarNode single)
            {
                list.Add((single, single.Value!.Trim()));
                return list;
            }
            if (node is not YamlSequenceNode seq)
            {
                Error(node, $"{field}.{key}", "expected a list");
                return list;
            }
            for (var i = 0; i < seq.Children.Count; i++)
            {
                if (seq.Children[i] is YamlScalarNode { Value: { Length: > 0 } v }) list.Add((seq.Children[i], v.Trim()));
                else Error(seq.Children[i], $"{field}.{key}[{i}]", "expected a value");
            }
            return list;
        }

        private T? Number<T>(Dictionary<string, YamlNode> m, YamlNode owner, string field, string key, T max) where T : struct, IComparable<T>, IParsable<T>
        {
            if (Text(m, owner, field, key, required: false) is not { } text) return null;
            if (T.TryParse(text, CultureInfo.InvariantCulture, out var v) && v.CompareTo(max) <= 0) return v;
            Error(m[key], $"{field}.{key}", $"'{text}' is not a whole number from 0 to {max}");
            return null;
        }

        private Prefix? Cidr(YamlNode node, string field, string text)
        {
            var slash = text.IndexOf('/');
            var addressText = slash < 0 ? text : text[..slash];
            if (!IPAddress.TryParse(addressText, out var ip))
            {
                Error(node, field, $"'{text}' is not an address or prefix (10.0.0.0/24, fd00::/64)");
                return null;
            }
            var address = FlowAddress.FromIPAddress(ip);
            var max = address.IsV4 ? 32 : 128;
            var length = max;
            if (slash >= 0 && (!int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out length) || length > max))
            {
                Error(node, field, $"'{text}': prefix length must be 0 to {max}");
                return null;
            }
            var prefix = Prefix.Create(address, length);
            if (prefix.Network != address) Error(node, field, $"'{text}' has host bits set (did you mean {prefix}?)");
            return prefix;
        }

        public Inventory Read(YamlNode rootNode)
        {
            var root = Mapping(rootNode, "inventory", "accounts", "networks", "ports", "security_groups");
            if (root is null) return Inventory.Empty;
            var accounts = ReadAccounts(root);
            var accountIds = accounts.Select(a => a.Id).ToHashSet(StringComparer.Ordinal);
            var networks = ReadNetworks(root, accountIds);
            var groups = ReadGroups(root, accountIds);
            var ports = ReadPorts(root, accountIds, networks, groups);
            return new Inventory(accounts, networks, ports, groups);
        }

        private List<Account> ReadAccounts(Dictionary<string, YamlNode> root)
        {
            var accounts = new List<Account>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (node, field) in Items(root, "accounts", "accounts"))
            {
                if (Mapping(node, field, "id", "name") is not { } m) continue;
                var id = Text(m, node, field, "id", required: true);
                var name = Text(m, node, field, "name", required: false);
                if (id is null) continue;
                if (!id.StartsWith("acc-", StringComparison.Ordinal) || id.Length == 4) Error(m["id"], $"{field}.id", $"'{id}': account ids look like acc-…");
                else if (!seen.Add(id)) Error(m["id"], $"{field}.id", $"'{id}' is listed twice");
                else accounts.Add(new Account(id, name ?? id));
            }
            return accounts;
        }

        private void CheckAccount(Dictionary<string, YamlNode> m, string field, string? account, HashSet<string> accounts)
        {
            if (account is not null && !accounts.Contains(account)) Error(m["account"], $"{field}.account", $"no account '{account}' (accounts: {string.Join(", ", accounts.Order())})");
        }

        private List<VirtualNetwork> ReadNetworks(Dictionary<string, YamlNode> root, HashSet<string> accounts)
        {
            var networks = new List<VirtualNetwork>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var vlans = new Dictionary<ushort, string>();
            var vnis = new Dictionary<uint, string>();
            foreach (var (node, field) in Items(root, "networks", "networks"))
            {
                if (Mapping(node, field, "name", "account", "subnets", "vlan", "vni", "public") is not { } m) continue;
                var name = Text(m, node, field, "name", required: true);
                var isPublic = false;
                switch (Text(m, node, field, "public", required: false))
                {
                    case null or "false": break;
                    case "true": isPublic = true; break;
                    case var other: Error(m["public"], $"{field}.public", $"'{other}': expected true or false"); break;
                }
                var account = Text(m, node, field, "account", required: !isPublic);
                if (isPublic && account is not null) Error(m["account"], $"{field}.account", "the public network belongs to no account");
                CheckAccount(m, field, account, accounts);
                var subnets = new List<Prefix>();
                foreach (var (n, s) in List(m, field, "subnets"))
                {
                    if (Cidr(n, $"{field}.subnets", s) is { } prefix) subnets.Add(prefix);
                }
                if (isPublic && subnets.Count > 0) Error(m["subnets"], $"{field}.subnets", "the public network has no subnets: it is every address outside the others");
                var vlan = Number(m, node, field, "vlan", (ushort)4095);
                var vni = Number(m, node, field, "vni", 16_777_215u);
                if (name is null) continue;
                if (!seen.Add(name))
                {
                    Error(m["name"], $"{field}.name", $"'{name}' is listed twice");
                    continue;
                }
                if (vlan is { } v && !vlans.TryAdd(v, name)) Error(m["vlan"], $"{field}.vlan", $"VLAN {v} is already network '{vlans[v]}'");
                if (vni is { } x && !vnis.TryAdd(x, name)) Error(m["vni"], $"{field}.vni", $"VNI {x} is already network '{vnis[x]}'");
                networks.Add(new VirtualNetwork(name, account, subnets, vlan, vni, isPublic));
            }
            if (networks.Count(n => n.IsPublic) > 1) Errors.Add(new InventoryError((int)root["networks"].Start.Line, "networks", "more than one network is marked public"));
            return networks;
        }

        private bool Bad(YamlNode node, string field, string message)
        {
            Error(node, field, message);
            return false;
        }

        private List<SecurityGroup> ReadGroups(Dictionary<string, YamlNode> root, HashSet<string> accounts)
        {
            var groups = new List<SecurityGroup>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var ruleIds = new HashSet<string>(StringComparer.Ordinal);
            var pending = new List<(YamlNode Node, string Field, string Group)>();
            foreach (var (node, field) in Items(root, "security_groups", "security_groups"))
            {
                if (Mapping(node, field, "uuid", "name", "account", "rules") is not { } m) continue;
                var uuid = Text(m, node, field, "uuid", required: true);
                var name = Text(m, node, field, "name", required: false);
                var account = Text(m, node, field, "account", required: true);
                CheckAccount(m, field, account, accounts);
                var rules = new List<SecurityRule>();
                foreach (var (ruleNode, ruleField) in Items(m, "rules", $"{field}.rules"))
                {
                    if (ReadRule(ruleNode, ruleField, ruleIds, pending) is { } rule) rules.Add(rule);
                }
                if (uuid is null || account is null) continue;
                if (!seen.Add(uuid)) Error(m["uuid"], $"{field}.uuid", $"'{uuid}' is listed twice");
                else groups.Add(new SecurityGroup(uuid, name ?? uuid, account, rules));
            }
            // A rule's remote group may be named by uuid or by name, and may come later in the file.
            foreach (var (node, field, group) in pending)
            {
                if (!groups.Any(g => g.Uuid == group || g.Name == group)) Error(node, field, $"no security group '{group}'");
            }
            return groups;
        }

        private SecurityRule? ReadRule(YamlNode node, string field, HashSet<string> ruleIds, List<(YamlNode, string, string)> pending)
        {
            if (Mapping(node, field, "uuid", "direction", "ethertype", "protocol", "ports", "remote", "remote_group") is not { } m) return null;
            var uuid = Text(m, node, field, "uuid", required: true);
            var ok = uuid is not null;
            if (uuid is not null && !ruleIds.Add(uuid)) ok = Bad(m["uuid"], $"{field}.uuid", $"rule '{uuid}' is listed twice");
            var direction = RuleDirection.Ingress;
            switch (Text(m, node, field, "direction", required: true))
            {
                case "ingress": break;
                case "egress": direction = RuleDirection.Egress; break;
                case null: ok = false; break;
                case var other: ok = Bad(m["direction"], $"{field}.direction", $"'{other}': expected ingress or egress"); break;
            }
            byte version = 4;
            switch (Text(m, node, field, "ethertype", required: false)?.ToUpperInvariant())
            {
                case null or "IPV4": break;
                case "IPV6": version = 6; break;
                case var other: ok = Bad(m["ethertype"], $"{field}.ethertype", $"'{other}': expected IPv4 or IPv6"); break;
            }
            byte? protocol = null;
            switch (Text(m, node, field, "protocol", required: false)?.ToLowerInvariant())
            {
                case null or "any": break;
                case "tcp": protocol = 6; break;
                case "udp": protocol = 17; break;
                case "icmp": protocol = 1; break;
                case "icmp6" or "ipv6-icmp": protocol = 58; break;
                case var other when byte.TryParse(other, NumberStyles.None, CultureInfo.InvariantCulture, out var p): protocol = p; break;
                case var other: ok = Bad(m["protocol"], $"{field}.protocol", $"'{other}': expected tcp, udp, icmp, icmp6, any or a number 0-255"); break;
            }
            ushort low = 0, high = ushort.MaxValue;
            if (Text(m, node, field, "ports", required: false) is { } ports and not "any")
            {
                var dash = ports.IndexOf('-');
                var a = dash < 0 ? ports : ports[..dash];
                var b = dash < 0 ? ports : ports[(dash + 1)..];
                if (!ushort.TryParse(a, NumberStyles.None, CultureInfo.InvariantCulture, out low) || !ushort.TryParse(b, NumberStyles.None, CultureInfo.InvariantCulture, out high) || low > high)
                {
                    ok = Bad(m["ports"], $"{field}.ports", $"'{ports}': expected a port, a range LOW-HIGH, or any");
                }
            }
            Prefix? remote = null;
            if (Text(m, node, field, "remote", required: false) is { } cidr)
            {
                remote = Cidr(m["remote"], $"{field}.remote", cidr);
                if (remote is null) ok = false;
                else if (remote.Value.Network.IsV4 != (version == 4)) ok = Bad(m["remote"], $"{field}.remote", $"'{cidr}' is not an {(version == 4 ? "IPv4" : "IPv6")} prefix (ethertype)");
            }
            var group = Text(m, node, field, "remote_group", required: false);
            if (group is not null)
            {
                if (remote is not null) ok = Bad(m["remote_group"], $"{field}.remote_group", "give remote or remote_group, not both");
                pending.Add((m["remote_group"], $"{field}.remote_group", group));
            }
            return ok ? new SecurityRule(uuid!, direction, version, protocol, low, high, remote, group) : null;
        }

        private List<Port> ReadPorts(Dictionary<string, YamlNode> root, HashSet<string> accounts, List<VirtualNetwork> networks, List<SecurityGroup> groups)
        {
            var ports = new List<Port>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            // Within a network an address or a MAC names one port; across networks they may repeat (tenants overlap).
            var addresses = new Dictionary<(string, FlowAddress), string>();
            var macs = new Dictionary<(string, ulong), string>();
            foreach (var (node, field) in Items(root, "ports", "ports"))
            {
                if (Mapping(node, field, "uuid", "account", "network", "mac", "ips", "vm", "node", "exporter", "interface", "ofport", "ifindex",
                        "tags", "labels", "security_groups", "of_interest", "port_security_enabled") is not { } m) continue;
                var uuid = Text(m, node, field, "uuid", required: true);
                var account = Text(m, node, field, "account", required: true);
                CheckAccount(m, field, account, accounts);
                var networkName = Text(m, node, field, "network", required: true);
                var network = networks.FirstOrDefault(n => n.Name == networkName);
                if (networkName is not null && network is null) Error(m["network"], $"{field}.network", $"no network '{networkName}'");
                else if (network is not null && network.IsPublic) Error(m["network"], $"{field}.network", "ports attach to tenant networks, not the public one");
                else if (network is not null && account is not null && network.Account != account)
                {
                    Error(m["network"], $"{field}.network", $"network '{networkName}' belongs to {network.Account}, not {account}");
                }
                ulong mac = 0;
                if (Text(m, node, field, "mac", required: false) is { } macText && !TryMac(macText, out mac)) Error(m["mac"], $"{field}.mac", $"'{macText}' is not a MAC address (02:00:00:00:00:01)");
                var ips = new List<FlowAddress>();
                foreach (var (n, text) in List(m, field, "ips"))
                {
                    if (!IPAddress.TryParse(text, out var ip) || text.Contains('/'))
                    {
                        Error(n, $"{field}.ips", $"'{text}' is not an address");
                        continue;
                    }
                    var a = FlowAddress.FromIPAddress(ip);
                    if (network is not null && !network.Subnets.Any(s => s.Contains(a)))
                    {
                        Error(n, $"{field}.ips", $"{text} is not in a subnet of network '{network.Name}' ({string.Join(", ", network.Subnets)})");
                        continue;
                    }
                    if (network is not null && !addresses.TryAdd((network.Name, a), uuid ?? "")) Error(n, $"{field}.ips", $"{text} is already port {addresses[(network.Name, a)]} in network '{network.Name}'");
                    ips.Add(a);
                }
                if (network is not null && mac != 0 && !macs.TryAdd((network.Name, mac), uuid ?? "")) Error(m["mac"], $"{field}.mac", $"already port {macs[(network.Name, mac)]} in network '{network.Name}'");
                FlowAddress? exporter = null;
                if (Text(m, node, field, "exporter", required: false) is { } e)
                {
                    if (IPAddress.TryParse(e, out var ip)) exporter = FlowAddress.FromIPAddress(ip);
                    else Error(m["exporter"], $"{field}.exporter", $"'{e}' is not an address");
                }
                var tags = ReadTags(m, field);
                var sgs = new List<string>();
                foreach (var (n, g) in List(m, field, "security_groups"))
                {
                    var group = groups.FirstOrDefault(x => x.Uuid == g || x.Name == g);
                    if (group is null) Error(n, $"{field}.security_groups", $"no security group '{g}'");
                    else if (account is not null && group.Account != account) Error(n, $"{field}.security_groups", $"group '{g}' belongs to {group.Account}, not {account}");
                    else sgs.Add(group.Uuid);
                }
                var ofInterest = false;
                switch (Text(m, node, field, "of_interest", required: false))
                {
                    case null or "false": break;
                    case "true": ofInterest = true; break;
                    case var other: Error(m["of_interest"], $"{field}.of_interest", $"'{other}': expected true or false"); break;
                }
                var portSecurity = true;
                switch (Text(m, node, field, "port_security_enabled", required: false))
                {
                    case null or "true": break;
                    case "false": portSecurity = false; break;
                    case var other: Error(m["port_security_enabled"], $"{field}.port_security_enabled", $"'{other}': expected true or false"); break;
                }
                var ofport = Number(m, node, field, "ofport", uint.MaxValue);
                var ifindex = Number(m, node, field, "ifindex", uint.MaxValue);
                if (uuid is null || account is null || network is null) continue;
                if (!seen.Add(uuid))
                {
                    Error(m["uuid"], $"{field}.uuid", $"'{uuid}' is listed twice");
                    continue;
                }
                ports.Add(new Port(uuid, account, network.Name, mac, ips, Text(m, node, field, "vm", false), Text(m, node, field, "node", false), exporter,
                    Text(m, node, field, "interface", false), ofport, ifindex, tags, sgs, ofInterest, portSecurity));
            }
            return ports;
        }

        private Tags ReadTags(Dictionary<string, YamlNode> m, string field)
        {
            var labels = List(m, field, "labels").Select(l => l.Value).ToList();
            if (!m.TryGetValue("tags", out var node) || node is YamlScalarNode { Value: null or "" }) return Tags.None with { Labels = labels };
            if (Mapping(node, $"{field}.tags", "app", "tier", "site", "deployment") is not { } t) return Tags.None;
            return new Tags(Text(t, node, $"{field}.tags", "app", false), Text(t, node, $"{field}.tags", "tier", false),
                Text(t, node, $"{field}.tags", "site", false), Text(t, node, $"{field}.tags", "deployment", false), labels);
        }

        private static bool TryMac(string text, out ulong mac)
        {
            mac = 0;
            var parts = text.Split(':', '-');
            if (parts.Length != 6) return false;
            foreach (var p in parts)
            {
                if (p.Length != 2 || !byte.TryParse(p, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var b)) return false;
                mac = (mac << 8) | b;
            }
            return true;
        }
    }
}
