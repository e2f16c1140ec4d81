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
    private static readonly Dictionary<string, string> UncarriedNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["nhbip"] = "BGP next hop addresses", ["bgpnext"] = "BGP next hop addresses", ["dsttos"] = "destination type of service", ["prevas"] = "previous AS numbers",
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

    /// <summary>
    /// What an nfdump statistic or aggregation key of this name counts, when Flowline's records do not carry it
    /// (NSEL, NAT, BGP adjacency, MPLS labels ...); null for every other name.
    /// </summary>
    internal static string? Uncarried(string name) =>
        UncarriedNames.TryGetValue(name, out var what) ? what
        : name.StartsWith("mpls", StringComparison.OrdinalIgnoreCase) && int.TryParse(name[4..], out var label) && label is >= 1 and <= 10 ? $"MPLS labels ({label} in the stack)"
        : null;

    /// <summary>nfdump's directional orders without their i/o prefix: ipkg, ibyte, ipps, ibps, ibpp (and o...).</summary>
    private static readonly Dictionary<string, Metric> InOut = new(StringComparer.OrdinalIgnoreCase)
    {
        ["pkg"] = Metric.Packets, ["byte"] = Metric.Bytes, ["pps"] = Metric.Pps, ["bps"] = Metric.Bps, ["bpp"] = Metric.Bpp,
    };

    /// <summary>The grouping keys of one side: the value, then the protocol with <c>:p</c>.</summary>
    public IReadOnlyList<GroupKey> Keys => ByProtocol ? [Key, new GroupKey(FlowField.IpProto)] : [Key];

    /// <summary>Column names: the statistic's own name (with its prefix lengths) for the value, then ip_proto with <c>:p</c>.</summary>
    public IReadOnlyList<string> Columns => ByProtocol ? [Name, FlowFields.Name(FlowField.IpProto)] : [Name];

    /// <summary>Whether the rows carry their span and rates (first, last, pps, bps, bpp): when ordered by a rate.</summary>
    public bool Rates => Order is Metric.Pps or Metric.Bps or Metric.Bpp;

    /// <summary>
    /// A rate as nfdump prints it in a statistic's row: pps and bps divide by the duration in seconds as a double and
    /// drop the fraction (7 packets over 70 ms print as 99), while its order, like <see cref="Aggregator.Rate"/>,
    /// divides whole numbers (100). Bytes a packet are whole numbers either way.
    /// </summary>
    public static ulong Printed(Metric m, ulong bytes, ulong packets, long first, long last)
    {
        var seconds = last == 0 || first == 0 ? 0 : (last / 1000 - first / 1000) / 1000.0;
        return m switch
        {
            Metric.Pps => seconds == 0 ? 0 : (ulong)(packets / seconds),
            Metric.Bps => seconds == 0 ? 0 : (ulong)(8 * bytes / seconds),
            _ => Aggregator.Rate(m, bytes, packets, 0, first, last),
        };
    }

    /// <summary>How the statistic is written: its name and order (<c>ip/bytes</c>).</summary>
    public string Text => $"{Name}/{Order.ToString().ToLowerInvariant()}";

    /// <summary>
    /// Parses <c>name[/prefix[/v6prefix]][:p][/orderby...]</c>: one statistic per order given (nfdump's
    /// <c>-s ip/bytes/flows</c> is the same statistic ordered twice), flows when none is. Throws
    /// <see cref="ArgumentException"/> naming what is wrong.
    /// </summary>
    public static IReadOnlyList<NfdumpStatistic> Parse(string text)
    {
        var parts = text.Split('/');
        var orders = new List<Metric>();
        while (parts.Length - orders.Count > 1 && parts[^(orders.Count + 1)] is { Length: > 0 } given && OrderWord(given) is { Length: > 0 } word && word.All(char.IsAsciiLetter))
        {
            // nfdump's :d is the order statistics have anyway; its :a ascends only below 100 values (nfdump 1.7.1 sorts longer lists descending).
            if (given.EndsWith(":a", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"-s {text}: statistics are listed largest first; ':a' (ascending) is not taken (nfdump 1.7.1 honours it only below 100 values)");
            if (word.Length > 1 && word[0] is 'o' or 'O' && InOut.ContainsKey(word[1..]))
                throw new ArgumentException($"-s {text}: ordering by {word} counts the out direction of bidirectional records, which Flowline's records do not have (nfdump prints 0 for every value)");
            // nfdump's in-direction orders are the plain ones for one-directional records.
            if (!InOut.TryGetValue(word.Length > 1 && word[0] is 'i' or 'I' ? word[1..] : "", out var order) && !Enum.TryParse(word, ignoreCase: true, out order))
                throw new ArgumentException($"-s {text}: '{word}' is not an order (flows, packets, bytes, pps, bps or bpp)");
            if (orders.Contains(order)) throw new ArgumentException($"-s {text}: ordered by {word} twice");
            orders.Insert(0, order);
        }
        var one = ParseOne(text, parts, parts.Length - orders.Count);
        if (orders.Count == 0) orders.Add(Metric.Flows);
        return [.. orders.Select(o => one with { Order = o })];
    }

    /// <summary>An order word without nfdump's direction suffix (:a or :d).</summary>
    private static string OrderWord(string part) =>
        part.Length > 2 && part[^2] == ':' && part[^1] is 'a' or 'A' or 'd' or 'D' ? part[..^2] : part;

    private static NfdumpStatistic ParseOne(string text, string[] parts, int valueParts)
    {
        var head = parts[0];
        var byProtocol = head.EndsWith(":p", StringComparison.OrdinalIgnoreCase);
        if (byProtocol) head = head[..^2];
        if (head.Length == 0) throw new ArgumentException($"-s {text}: expected a statistic such as srcip, ip, dstport or port, e.g. -s ip/bytes");
        if (head.Equals("record", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"-s {text}: aggregated records are listed with -a (nfdump's 5-tuple) or -A FIELDS");
        if (Uncarried(head) is { } what)
            throw new ArgumentException($"-s {text}: nfdump's statistic '{head}' counts {what}, which Flowline's records do not carry");
        var prefixes = valueParts > 1 ? "/" + string.Join('/', parts[1..valueParts]) : "";
        var pair = Pairs.TryGetValue(head, out var fields);
        // Parse the value with the source field's name, so that prefix lengths follow the same rules as -A.
        var first = pair ? FlowFields.Name(fields.Src) : head;
        if (!GroupKey.TryParse(first + prefixes, out var key, out var error))
            throw new ArgumentException($"-s {text}: {error}");
        if (byProtocol && key.Field == FlowField.IpProto) throw new ArgumentException($"-s {text}: the statistic is the protocol already; :p splits other values by it");
        GroupKey? other = pair ? key with { Field = fields.Dst } : null;
        // A pair is named by its own name with the prefix lengths as parsed (ip/24, not ip/024 or the /32 that changes nothing).
        var name = pair ? head.ToLowerInvariant() + key.Name[FlowFields.Name(key.Field).Length..] : key.Name;
        return new NfdumpStatistic(name, key, other, byProtocol, Metric.Flows);
    }

    /// <summary>
    /// The statistic's rows over [from, to): largest first by <see cref="Order"/>, ties by value, cut to
    /// <paramref name="limit"/> (0 for all; per bucket with <paramref name="bucketMicros"/>, which a pair does not
    /// take). A pair is two aggregations, one per side, summed per value (earliest first, latest last).
    /// </summary>
    public IReadOnlyList<AggregateRow> Run(IFlowStore store, long from, long to, FilterNode filter, int limit, int maxGroups = int.MaxValue, long bucketMicros = 0)
    {
        if (Other is not null && bucketMicros > 0) throw new ArgumentException($"-s {Name} counts either side of a flow; it does not combine with time buckets");
        var query = new FlowQuery
        {
            Filter = filter, GroupBy = Keys, OrderBy = Order, Span = Rates, BucketMicros = bucketMicros,
            Limit = Other is null ? limit : 0, MaxGroups = maxGroups,
        };
        var sources = store.Aggregate(from, to, query);
        if (Other is not { } other) return sources;
        var destinations = store.Aggregate(from, to, query with { GroupBy = ByProtocol ? [other, new GroupKey(FlowField.IpProto)] : [other] });
        var sums = new Dictionary<(KeyPart Value, KeyPart Protocol), Sums>(sources.Count + destinations.Count);
        foreach (var side in new[] { sources, destinations })
        {
            for (var r = 0; r < side.Count; r++)
            {
                var k = (side.Key(r, 0), ByProtocol ? side.Key(r, 1) : default);
                var s = sums.TryGetValue(k, out var found) ? found : new Sums(0, 0, 0, long.MaxValue, long.MinValue);
                sums[k] = new Sums(s.Bytes + side.Bytes(r), s.Packets + side.Packets(r), s.Flows + side.Flows(r),
                    Math.Min(s.First, side.First(r)), Math.Max(s.Last, side.Last(r)));
            }
        }
        var rows = sums.Select(e => new AggregateRow(0, ByProtocol ? [e.Key.Value, e.Key.Protocol] : [e.Key.Value], e.Value.Bytes, e.Value.Packets, e.Value.Flows, 0)
            {
                First = Rates ? e.Value.First : 0,
                Last = Rates ? e.Value.Last : 0,
            })
            .OrderByDescending(r => r.Value(Order))
            .ThenBy(r => r.Keys[0].Hi).ThenBy(r => r.Keys[0].Lo).ThenBy(r => ByProtocol ? r.Keys[1].Lo : 0);
        return limit > 0 ? [.. rows.Take(limit)] : [.. rows];
    }

    private readonly record struct Sums(ulong Bytes, ulong Packets, ulong Flows, long First, long Last);
}
