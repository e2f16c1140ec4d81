using Flowline.Records;

namespace Flowline.Query;

/// <summary>
/// nfdump's <c>-s statistic[:p][/orderby]</c>: the top values of one field (<c>srcip</c>, <c>dstport</c>, ...) or
/// of either side of a pair (<c>ip</c>, <c>port</c>, <c>as</c>, <c>if</c>, <c>mask</c>, <c>vlan</c>, <c>geo</c>),
/// where, as in nfdump, a flow counts once for its source's value and once for its destination's (a flow from
/// a host to itself twice). <c>:p</c> splits every value by IP protocol; the order is flows unless given.
/// </summary>
public sealed record NfdumpStatistic(string Name, GroupKey Key, GroupKey? Other, bool ByProtocol, Metric Order)
{
    /// <summary>nfdump's statistics over either side of a pair, with the two fields they read.</summary>
    private static readonly Dictionary<string, (FlowField Src, FlowField Dst)> Pairs = new(StringComparer.OrdinalIgnoreCase)
    {
        ["ip"] = (FlowField.SrcAddr, FlowField.DstAddr), ["port"] = (FlowField.SrcPort, FlowField.DstPort),
        ["as"] = (FlowField.SrcAs, FlowField.DstAs), ["if"] = (FlowField.InIf, FlowField.OutIf),
        ["mask"] = (FlowField.SrcMask, FlowField.DstMask), ["vlan"] = (FlowField.Vlan, FlowField.PostVlan),
        ["geo"] = (FlowField.SrcCountry, FlowField.DstCountry),
    };

    /// <summary>nfdump's statistics over what Flowline's records do not carry, with what they count.</summary>
    private static readonly Dictionary<string, string> Uncarried = new(StringComparer.OrdinalIgnoreCase)
    {
        ["nhbip"] = "BGP next hop addresses", ["dsttos"] = "destination type of service", ["prevas"] = "previous AS numbers",
        ["nextas"] = "next AS numbers", ["inam"] = "input interface names", ["onam"] = "output interface names",
        ["outdstmac"] = "output destination MAC addresses", ["outsrcmac"] = "output source MAC addresses",
        ["inmac"] = "input MAC addresses", ["outmac"] = "output MAC addresses", ["sysid"] = "nfdump's internal exporter ids",
        ["nbar"] = "NBAR application ids", ["ja3"] = "JA3 hashes", ["vrf"] = "ingress VRFs", ["ivrf"] = "ingress VRFs",
        ["evrf"] = "egress VRFs", ["ivrfnam"] = "ingress VRF names", ["evrfnam"] = "egress VRF names",
        ["event"] = "NSEL/ASA events", ["xevent"] = "NSEL/ASA extended events", ["xsrcip"] = "NSEL translated source addresses",
        ["xsrcport"] = "NSEL translated source ports", ["xdstip"] = "NSEL translated destination addresses",
        ["xdstport"] = "NSEL translated destination ports", ["iacl"] = "NSEL ingress ACLs", ["iace"] = "NSEL ingress ACEs",
        ["ixace"] = "NSEL ingress xACEs", ["eacl"] = "NSEL egress ACLs", ["eace"] = "NSEL egress ACEs", ["exace"] = "NSEL egress xACEs",
        ["nevent"] = "NAT events", ["nsrcip"] = "NAT source addresses", ["nsrcport"] = "NAT source ports",
        ["ndstip"] = "NAT destination addresses", ["ndstport"] = "NAT destination ports",
    };

    /// <summary>The grouping keys of one side: the value, then the protocol with <c>:p</c>.</summary>
    public IReadOnlyList<GroupKey> Keys => ByProtocol ? [Key, new GroupKey(FlowField.IpProto)] : [Key];

    /// <summary>Column names: the statistic's own name (with its prefix lengths) for the value, then ip_proto with <c>:p</c>.</summary>
    public IReadOnlyList<string> Columns => ByProtocol ? [Name, FlowFields.Name(FlowField.IpProto)] : [Name];

    /// <summary>Parses <c>name[/prefix[/v6prefix]][:p][/orderby]</c>; throws <see cref="ArgumentException"/> naming what is wrong.</summary>
    public static NfdumpStatistic Parse(string text)
    {
        var parts = text.Split('/');
        var orders = 0;
        var order = Metric.Flows;
        while (parts.Length - orders > 1 && parts[^(orders + 1)].All(char.IsAsciiLetter))
        {
            var word = parts[^(orders + 1)];
            if (word is "pps" or "bps" or "bpp")
                throw new ArgumentException($"-s {text}: ordering a statistic by {word} is not supported; order it by flows, packets or bytes");
            if (!Enum.TryParse(word, ignoreCase: true, out order))
                throw new ArgumentException($"-s {text}: '{word}' is not an order (flows, packets or bytes)");
            orders++;
        }
        if (orders > 1) throw new ArgumentException($"-s {text}: one order per statistic (run the query once per order)");
        var head = parts[0];
        var byProtocol = head.EndsWith(":p", StringComparison.OrdinalIgnoreCase);
        if (byProtocol) head = head[..^2];
        if (head.Length == 0) throw new ArgumentException($"-s {text}: expected a statistic such as srcip, ip, dstport or port, e.g. -s ip/bytes");
        if (head.Equals("record", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"-s {text}: aggregated records are listed with -a (nfdump's 5-tuple) or -A FIELDS");
        if (Uncarried.TryGetValue(head, out var what)
            || head.StartsWith("mpls", StringComparison.OrdinalIgnoreCase) && int.TryParse(head[4..], out var label) && label is >= 1 and <= 10 && (what = $"MPLS labels ({label} in the stack)") is not null)
            throw new ArgumentException($"-s {text}: nfdump's statistic '{head}' counts {what}, which Flowline's records do not carry");
        var prefixes = parts.Length - orders > 1 ? "/" + string.Join('/', parts[1..^orders]) : "";
        var pair = Pairs.TryGetValue(head, out var fields);
        // Parse the value with the source field's name, so that prefix lengths follow the same rules as -A.
        var first = pair ? FlowFields.Name(fields.Src) : head;
        if (!GroupKey.TryParse(first + prefixes, out var key, out var error))
            throw new ArgumentException($"-s {text}: {error}");
        GroupKey? other = pair ? key with { Field = fields.Dst } : null;
        return new NfdumpStatistic(pair ? head.ToLowerInvariant() + prefixes : key.Name, key, other, byProtocol, order);
    }

    /// <summary>
    /// The statistic's rows over [from, to): largest first by <see cref="Order"/>, ties by value, cut to
    /// <paramref name="limit"/> (0 for all). A pair is two aggregations, one per side, summed per value.
    /// </summary>
    public IReadOnlyList<AggregateRow> Run(IFlowStore store, long from, long to, FilterNode filter, int limit, int maxGroups = int.MaxValue)
    {
        var query = new FlowQuery { Filter = filter, GroupBy = Keys, OrderBy = Order, Limit = Other is null ? limit : 0, MaxGroups = maxGroups };
        var sources = store.Aggregate(from, to, query);
        if (Other is not { } other) return sources;
        var destinations = store.Aggregate(from, to, query with { GroupBy = ByProtocol ? [other, new GroupKey(FlowField.IpProto)] : [other] });
        var sums = new Dictionary<(KeyPart Value, KeyPart Protocol), (ulong Bytes, ulong Packets, ulong Flows)>(sources.Count + destinations.Count);
        foreach (var side in new[] { sources, destinations })
        {
            for (var r = 0; r < side.Count; r++)
            {
                var k = (side.Key(r, 0), ByProtocol ? side.Key(r, 1) : default);
                var s = sums.GetValueOrDefault(k);
                sums[k] = (s.Bytes + side.Bytes(r), s.Packets + side.Packets(r), s.Flows + side.Flows(r));
            }
        }
        var rows = sums.Select(e => new AggregateRow(0, ByProtocol ? [e.Key.Value, e.Key.Protocol] : [e.Key.Value], e.Value.Bytes, e.Value.Packets, e.Value.Flows, 0))
            .OrderByDescending(r => r.Value(Order))
            .ThenBy(r => r.Keys[0].Hi).ThenBy(r => r.Keys[0].Lo).ThenBy(r => ByProtocol ? r.Keys[1].Lo : 0);
        return limit > 0 ? [.. rows.Take(limit)] : [.. rows];
    }
}
