using Flowline.Records;

namespace Flowline.Query;

/// <summary>Which columns a filter or a query reads, so that a store can decode only those.</summary>
public static class FilterColumns
{
    public static HashSet<FlowField> Of(FilterNode node)
    {
        var set = new HashSet<FlowField>();
        Add(node, set);
        return set;
    }

    /// <summary>The columns an aggregation needs: its filter, keys, sums, time bucket and distinct field.</summary>
    public static HashSet<FlowField> Of(FlowQuery query)
    {
        var set = Of(query.Filter);
        foreach (var k in query.GroupBy) set.UnionWith(k.Reads);
        set.Add(FlowField.Bytes);
        set.Add(FlowField.Packets);
        set.Add(FlowField.Start);
        if (query.Span) set.Add(FlowField.End);
        if (query.CountDistinct is { } d) set.Add(d);
        return set;
    }

    /// <summary>A directional term reads one column; an undirected one both.</summary>
    private static void Pair(HashSet<FlowField> set, Direction direction, FlowField src, FlowField dst)
    {
        if (direction != Direction.Dst) set.Add(src);
        if (direction != Direction.Src) set.Add(dst);
    }

    private static void Add(FilterNode node, HashSet<FlowField> set)
    {
        switch (node)
        {
            case FilterNode.And a: Add(a.Left, set); Add(a.Right, set); break;
            case FilterNode.Or o: Add(o.Left, set); Add(o.Right, set); break;
            case FilterNode.Not n: Add(n.Inner, set); break;
            case FilterNode.Address a:
                Pair(set, a.Direction, FlowField.SrcAddr, FlowField.DstAddr);
                if (FilterEvaluator.UnspecifiedV6In(a.Prefixes)) set.Add(FlowField.IpVersion); // :: only in IPv6 records
                break;
            case FilterNode.Flags: set.Add(FlowField.TcpFlags); break;
            case FilterNode.Exporter: set.Add(FlowField.Exporter); break;
            case FilterNode.Mac m: Pair(set, m.Direction, FlowField.SrcMac, FlowField.DstMac); break;
            case FilterNode.OtherAddress o: set.Add(o.Column == AddressColumn.NextHop ? FlowField.NextHop : FlowField.Exporter); break;
            case FilterNode.Window: set.Add(FlowField.Start); set.Add(FlowField.End); break;
            case FilterNode.Number n:
                switch (n.Field)
                {
                    case NumericField.Protocol: set.Add(FlowField.IpProto); break;
                    case NumericField.IpVersion: set.Add(FlowField.IpVersion); break;
                    case NumericField.Port: Pair(set, n.Direction, FlowField.SrcPort, FlowField.DstPort); break;
                    case NumericField.Interface: Pair(set, n.Direction, FlowField.InIf, FlowField.OutIf); break;
                    case NumericField.As: Pair(set, n.Direction, FlowField.SrcAs, FlowField.DstAs); break;
                    case NumericField.Vlan: Pair(set, n.Direction, FlowField.Vlan, FlowField.PostVlan); break;
                    case NumericField.Tos: set.Add(FlowField.Tos); break;
                    case NumericField.TcpFlags: set.Add(FlowField.TcpFlags); break;
                    case NumericField.ForwardingStatus: set.Add(FlowField.ForwardingStatus); break;
                    case NumericField.Mask: Pair(set, n.Direction, FlowField.SrcMask, FlowField.DstMask); break;
                    case NumericField.FlowDirection: set.Add(FlowField.Direction); break;
                    case NumericField.Bytes: set.Add(FlowField.Bytes); break;
                    case NumericField.Packets: set.Add(FlowField.Packets); break;
                    case NumericField.Duration: set.Add(FlowField.Start); set.Add(FlowField.End); break;
                    case NumericField.SamplingRate: set.Add(FlowField.SamplingRate); break;
                    case NumericField.ObsDomain: set.Add(FlowField.ObsDomain); break;
                    case NumericField.Account: set.Add(FlowField.Account); break;
                    case NumericField.Vmi: set.Add(FlowField.Vmi); break;
                    case NumericField.Vn: Pair(set, n.Direction, FlowField.SrcVn, FlowField.DstVn); break;
                    case NumericField.SgRule: set.Add(FlowField.SgRule); break;
                    case NumericField.App: set.Add(FlowField.App); break;
                    case NumericField.Tier: set.Add(FlowField.Tier); break;
                    case NumericField.Site: set.Add(FlowField.Site); break;
                    case NumericField.Deployment: set.Add(FlowField.Deployment); break;
                    case NumericField.Action: set.Add(FlowField.Action); break;
                    case NumericField.VmiDirection: set.Add(FlowField.VmiDirection); break;
                    case NumericField.Country: Pair(set, n.Direction, FlowField.SrcCountry, FlowField.DstCountry); break;
                    case NumericField.IcmpType or NumericField.IcmpCode: set.Add(FlowField.IpProto); set.Add(FlowField.DstPort); break;
                    case NumericField.Bps: set.Add(FlowField.Bytes); set.Add(FlowField.Start); set.Add(FlowField.End); break;
                    case NumericField.Pps: set.Add(FlowField.Packets); set.Add(FlowField.Start); set.Add(FlowField.End); break;
                    case NumericField.Bpp: set.Add(FlowField.Bytes); set.Add(FlowField.Packets); break;
                }
                break;
        }
    }
}
