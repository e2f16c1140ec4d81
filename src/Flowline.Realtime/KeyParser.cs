using System.Globalization;
using Flowline.Records;

namespace Flowline.Realtime;

/// <summary>Parses flow keys in sFlow-RT's syntax: comma-separated elements, functions with colon-separated arguments, brackets to nest.</summary>
public static class KeyParser
{
    /// <summary>The plain key names Flowline knows, for /flowkeys/json and error messages.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        "ipsource", "ipdestination", "ip6source", "ip6destination", "ipprotocol", "iptos", "ipdscp",
        "tcpsourceport", "tcpdestinationport", "tcpflags", "udpsourceport", "udpdestinationport", "icmptype", "icmpcode",
        "macsource", "macdestination", "ethernetprotocol", "vlan", "inputifindex", "outputifindex", "agent",
        "account", "vmi", "sourcevn", "destvn", "app", "tier", "site", "deployment", "action",
    ];

    public static readonly string[] Functions = ["country", "asn", "mask", "group", "or", "null"];

    private static readonly string[] Actions = ["", "pass", "drop"];

    /// <summary>The longest key list (its nesting is bounded by it).</summary>
    public const int MaxKeysLength = 1024;

    /// <summary>The elements of a comma-separated key list; a <see cref="FormatException"/> names what is wrong.</summary>
    public static KeyElement[] ParseList(string keys, KeyContext context)
    {
        if (keys.Length > MaxKeysLength) throw new FormatException($"keys: {keys.Length} characters, at most {MaxKeysLength}");
        var parts = Split(keys, ',');
        if (parts.Count == 0 || parts.Any(p => p.Length == 0)) throw new FormatException($"keys '{keys}': expected a comma-separated list of keys");
        if (parts.Count > 16) throw new FormatException($"keys '{keys}': at most 16 keys");
        return parts.Select(p => Parse(p, context)).ToArray();
    }

    /// <summary>How deep functions nest in one key (or:[null:[...]]): each level is a frame of the parser's stack.</summary>
    public const int MaxDepth = 16;

    public static KeyElement Parse(string text, KeyContext context) => Parse(text, context, 0);

    private static KeyElement Parse(string text, KeyContext context, int depth)
    {
        // A filter's keys come here too, from a text far longer than a key list: bounded here, once for all.
        if (text.Length > MaxKeysLength) throw new FormatException($"key '{text[..40]}…': {text.Length} characters, at most {MaxKeysLength}");
        if (depth > MaxDepth) throw new FormatException($"key '{(text.Length > 40 ? text[..40] + "…" : text)}': functions nest at most {MaxDepth} deep");
        text = text.Trim();
        while (text.Length >= 2 && text[0] == '[' && Matching(text, 0) == text.Length - 1) text = text[1..^1];
        var parts = Split(text, ':');
        if (parts.Count == 0 || parts[0].Length == 0) throw new FormatException($"'{text}': a key is missing (an empty argument?)");
        if (parts.Count == 1) return Plain(text, context);
        var args = parts.Skip(1).ToList();
        KeyElement Arg(int k) => k >= args.Count || args[k].Length == 0 ? throw new FormatException($"'{text}': missing an argument") : Parse(args[k], context, depth + 1);
        KeyElement Address(int k)
        {
            var a = Arg(k);
            return a is AddressElement or MaskElement ? a : throw new FormatException($"'{text}': '{args[k]}' is not an address key (ipsource, ipdestination, ip6source, ip6destination, agent)");
        }
        switch (parts[0])
        {
            case "country":
                return new CountryElement(text, Address(0), context);
            case "asn":
                return new AsnElement(text, Address(0), context);
            case "mask":
                if (args.Count != 2 || !int.TryParse(args[1], NumberStyles.None, CultureInfo.InvariantCulture, out var bits) || bits > 128)
                    throw new FormatException($"'{text}': expected mask:ADDRESSKEY:BITS");
                var masked = Address(0);
                // An IPv4 key's addresses have 32 bits: a longer mask would silently keep them whole.
                if (masked is AddressElement { Version: 4 } && bits > 32) throw new FormatException($"'{text}': an IPv4 address has 32 bits, not {bits}");
                return new MaskElement(text, masked, bits);
            case "group":
                if (args.Count != 2 || args[1].Length == 0) throw new FormatException($"'{text}': expected group:ADDRESSKEY:GROUPS");
                if (!context.OperatorGroups) throw new FormatException($"'{text}': group: reads the operator's address groups (PUT /group/{{name}}/json), which a tenant's definition cannot use");
                return new GroupElement(text, Address(0), args[1], context);
            case "or":
                if (args.Count < 2) throw new FormatException($"'{text}': expected or:KEY:KEY[:KEY...]");
                return new OrElement(text, args.Select(a => Parse(a, context, depth + 1)).ToArray());
            case "null":
                if (args.Count != 2) throw new FormatException($"'{text}': expected null:KEY:DEFAULT");
                return new NullElement(text, Arg(0), args[1]);
            default:
                throw new FormatException($"'{text}': unknown function '{parts[0]}' (known: {string.Join(", ", Functions)})");
        }
    }

    private static KeyElement Plain(string name, KeyContext c) => name switch
    {
        "ipsource" => new AddressElement(name, static (b, i) => b.SrcAddr[i], 4),
        "ipdestination" => new AddressElement(name, static (b, i) => b.DstAddr[i], 4),
        "ip6source" => new AddressElement(name, static (b, i) => b.SrcAddr[i], 6),
        "ip6destination" => new AddressElement(name, static (b, i) => b.DstAddr[i], 6),
        "agent" => new AddressElement(name, static (b, i) => b.Exporter[i], 0),
        "ipprotocol" => new NumberElement(name, static (b, i) => b.IpVersion[i] != 0 ? b.IpProto[i] : -1),
        "iptos" => new NumberElement(name, static (b, i) => b.IpVersion[i] != 0 ? b.Tos[i] : -1),
        "ipdscp" => new NumberElement(name, static (b, i) => b.IpVersion[i] != 0 ? b.Tos[i] >> 2 : -1),
        "tcpsourceport" => new NumberElement(name, static (b, i) => b.IpProto[i] == 6 && b.IpVersion[i] != 0 ? b.SrcPort[i] : -1),
        "tcpdestinationport" => new NumberElement(name, static (b, i) => b.IpProto[i] == 6 && b.IpVersion[i] != 0 ? b.DstPort[i] : -1),
        "tcpflags" => new NumberElement(name, static (b, i) => b.IpProto[i] == 6 && b.IpVersion[i] != 0 ? b.TcpFlags[i] : -1),
        "udpsourceport" => new NumberElement(name, static (b, i) => b.IpProto[i] == 17 && b.IpVersion[i] != 0 ? b.SrcPort[i] : -1),
        "udpdestinationport" => new NumberElement(name, static (b, i) => b.IpProto[i] == 17 && b.IpVersion[i] != 0 ? b.DstPort[i] : -1),
        "icmptype" => new NumberElement(name, static (b, i) => b.IpProto[i] is 1 or 58 && b.IpVersion[i] != 0 ? b.DstPort[i] >> 8 : -1),
        "icmpcode" => new NumberElement(name, static (b, i) => b.IpProto[i] is 1 or 58 && b.IpVersion[i] != 0 ? b.DstPort[i] & 0xFF : -1),
        "ethernetprotocol" => new NumberElement(name, static (b, i) => b.EtherType[i] != 0 ? b.EtherType[i] : -1),
        "vlan" => new NumberElement(name, static (b, i) => b.Vlan[i] != 0 ? b.Vlan[i] : -1),
        "inputifindex" => new NumberElement(name, static (b, i) => b.InIf[i]),
        "outputifindex" => new NumberElement(name, static (b, i) => b.OutIf[i]),
        "macsource" => new MacElement(name, true),
        "macdestination" => new MacElement(name, false),
        "account" => new SymbolElement(name, static (b, i) => b.Account[i], c.Symbols),
        "vmi" => new SymbolElement(name, static (b, i) => b.Vmi[i], c.Symbols),
        "sourcevn" => new SymbolElement(name, static (b, i) => b.SrcVn[i], c.Symbols),
        "destvn" => new SymbolElement(name, static (b, i) => b.DstVn[i], c.Symbols),
        "app" => new SymbolElement(name, static (b, i) => b.App[i], c.Symbols),
        "tier" => new SymbolElement(name, static (b, i) => b.Tier[i], c.Symbols),
        "site" => new SymbolElement(name, static (b, i) => b.Site[i], c.Symbols),
        "deployment" => new SymbolElement(name, static (b, i) => b.Deployment[i], c.Symbols),
        "action" => new WordElement(name, static (b, i) => b.Action[i], Actions, tenancy: true),
        _ => throw new FormatException($"unknown key '{name}' (known: {string.Join(", ", Names)}; functions: {string.Join(", ", Functions.Select(f => f + ":"))})"),
    };

    /// <summary>Splits at <paramref name="separator"/> outside brackets.</summary>
    internal static List<string> Split(string text, char separator)
    {
        var parts = new List<string>();
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '[': depth++; break;
                case ']':
                    if (--depth < 0) throw new FormatException($"'{text}': unbalanced ']'");
                    break;
                default:
                    if (text[i] == separator && depth == 0)
                    {
                        parts.Add(text[start..i].Trim());
                        start = i + 1;
                    }
                    break;
            }
        }
        if (depth != 0) throw new FormatException($"'{text}': unbalanced '['");
        if (text.Length > 0) parts.Add(text[start..].Trim());
        return parts;
    }

    private static int Matching(string text, int open)
    {
        var depth = 0;
        for (var i = open; i < text.Length; i++)
        {
            if (text[i] == '[') depth++;
            else if (text[i] == ']' && --depth == 0) return i;
        }
        return -1;
    }
}

/// <summary>Named sets of address groups (sFlow-RT's /group API): each group a list of prefixes; the longest match wins.</summary>
public sealed class AddressGroups
{
    private sealed record Set(string[] Names, (UInt128 Prefix, int Bits, int Group)[] Prefixes);

    private volatile Dictionary<string, Set> _sets = [];

    public IEnumerable<string> SetNames => _sets.Keys;

    /// <summary>Defines a set: group name to CIDR prefixes. A <see cref="FormatException"/> names a bad prefix.</summary>
    public void Put(string set, IReadOnlyDictionary<string, IReadOnlyList<string>> groups)
    {
        var names = groups.Keys.ToArray();
        var prefixes = new List<(UInt128, int, int)>();
        var parser = new AddressElement("", static (_, _) => default, 0);
        for (var g = 0; g < names.Length; g++)
        {
            foreach (var p in groups[names[g]])
            {
                if (!parser.TryParse(p, out var v, out var bits)) throw new FormatException($"group '{names[g]}': '{p}' is not an address or prefix");
                prefixes.Add((v, bits, g));
            }
        }
        // Longest prefixes first: the first match is the most specific.
        var defined = new Set(names, prefixes.OrderByDescending(p => p.Item2).ToArray());
        lock (_write) _sets = new Dictionary<string, Set>(_sets) { [set] = defined };
    }

    private readonly Lock _write = new();

    public Dictionary<string, List<string>>? Get(string set)
    {
        if (!_sets.TryGetValue(set, out var s)) return null;
        var result = s.Names.ToDictionary(n => n, _ => new List<string>());
        foreach (var (prefix, bits, group) in s.Prefixes.OrderBy(p => p.Group))
        {
            var a = KeyElement.AddressOf(prefix);
            result[s.Names[group]].Add(a.IsV4 ? $"{a}/{bits - 96}" : $"{a}/{bits}");
        }
        return result;
    }

    public bool Delete(string set)
    {
        lock (_write)
        {
            var copy = new Dictionary<string, Set>(_sets);
            var removed = copy.Remove(set);
            _sets = copy;
            return removed;
        }
    }

    public int Find(string set, in FlowAddress address)
    {
        if (!_sets.TryGetValue(set, out var s)) return -1;
        var v = KeyElement.Of(address);
        foreach (var (prefix, bits, group) in s.Prefixes)
        {
            if (bits == 0 || ((v ^ prefix) >> (128 - bits)) == 0) return group;
        }
        return -1;
    }

    public string? Name(string set, int group) => _sets.TryGetValue(set, out var s) && group >= 0 && group < s.Names.Length ? s.Names[group] : null;
}
