using Flowline.Enrichment;
using Flowline.Records;

namespace Flowline.Mitigation.Ddos;

/// <summary>A protected address's owner: the group whose thresholds and action apply, and the account (tenant) it belongs to, if any.</summary>
public sealed record ProtectedTarget(string Group, string? Account, ProtectedGroup? Settings);

/// <summary>
/// Who is protected: every public address of a port in the inventory and every public subnet of an
/// account's network (group <c>tenant</c>, with the account), and the prefixes of the configured groups.
/// An address takes its account from the inventory and its group from the longest configured prefix
/// that holds it. Lookups are an exact match, then one hash probe per distinct prefix length, longest first.
/// </summary>
public sealed class ProtectedSet
{
    public const string TenantGroup = "tenant";
    private readonly Dictionary<FlowAddress, int> _exact = [];
    private readonly Dictionary<Prefix, int> _prefixes = [];
    private readonly int[] _lengths;
    private readonly List<ProtectedTarget> _targets = [];
    private readonly Dictionary<(string, string?), int> _interned = [];

    public static readonly ProtectedSet Empty = new(new DdosOptions(), Inventory.Empty);

    public ProtectedSet(DdosOptions options, Inventory inventory)
    {
        var configured = new List<(Prefix Prefix, ProtectedGroup Group)>();
        foreach (var g in options.Groups.Values)
        {
            foreach (var p in g.Prefixes) configured.Add((p, g));
        }
        ProtectedGroup? GroupOf(FlowAddress a) =>
            configured.Where(c => c.Prefix.Contains(a)).OrderByDescending(c => c.Prefix.Length).Select(c => c.Group).FirstOrDefault();
        options.Groups.TryGetValue(TenantGroup, out var tenant);

        foreach (var port in inventory.Ports)
        {
            foreach (var a in port.Addresses)
            {
                if (!IsPublic(a)) continue;
                var g = GroupOf(a) ?? tenant;
                _exact[a] = Intern(g?.Name ?? TenantGroup, port.Account, g);
            }
        }
        foreach (var n in inventory.Networks)
        {
            if (n.Account is null) continue;
            foreach (var s in n.Subnets)
            {
                if (!IsPublic(s.Network)) continue;
                var g = GroupOf(s.Network) ?? tenant;
                _prefixes[s] = Intern(g?.Name ?? TenantGroup, n.Account, g);
            }
        }
        foreach (var (p, g) in configured) _prefixes.TryAdd(p, Intern(g.Name, null, g));
        _lengths = _prefixes.Keys.Select(p => p.Length).Distinct().OrderDescending().ToArray();
        Addresses = _exact.Count;
        Prefixes = _prefixes.Count;
    }

    public int Addresses { get; }
    public int Prefixes { get; }
    public bool IsEmpty => Addresses + Prefixes == 0;
    public ProtectedTarget this[int index] => _targets[index];

    private int Intern(string group, string? account, ProtectedGroup? settings)
    {
        if (_interned.TryGetValue((group, account), out var i)) return i;
        _targets.Add(new ProtectedTarget(group, account, settings));
        return _interned[(group, account)] = _targets.Count - 1;
    }

    /// <summary>The prefixes of the set that overlap <paramref name="p"/> (inside it or holding it), shortest first.</summary>
    public IEnumerable<Prefix> Overlapping(Prefix p) =>
        _prefixes.Keys.Where(k => k.Contains(p.Network) || p.Contains(k.Network)).OrderBy(k => k.Length);

    /// <summary>The index of the target that protects <paramref name="a"/>, or -1.</summary>
    public int Find(in FlowAddress a)
    {
        if (_exact.TryGetValue(a, out var i)) return i;
        foreach (var length in _lengths)
        {
            if (_prefixes.TryGetValue(new Prefix(Prefix.Mask(a, length), length), out i)) return i;
        }
        return -1;
    }

    private static readonly Prefix[] Special = Parse(
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3",
        "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8");

    /// <summary>
    /// An address reachable from the internet: not private (RFC 1918, RFC 6598, unique local), loopback,
    /// link-local, multicast or reserved. The documentation ranges count as public, so examples and labs work.
    /// </summary>
    public static bool IsPublic(in FlowAddress a)
    {
        foreach (var p in Special)
        {
            if (p.Contains(a)) return false;
        }
        return true;
    }

    private static Prefix[] Parse(params string[] texts) => texts.Select(t => Prefix.TryParse(t, out var p) ? p : throw new FormatException(t)).ToArray();
}
