using Flowline.Wire.Records;

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
        foreach (var k in query.GroupBy) set.Add(k.Field);
        set.Add(FlowField.Bytes);
        set.Add(FlowField.Packets);
        set.Add(FlowField.Start);
        if (query.CountDistinct is { } d) set.Add(d);
        return set;
    }

    private static void Add(FilterNode node, HashSet<FlowField> set)
    {
        switch (node)
        {
            case FilterNode.And a: Add(a.Left, set); Add(a.Right, set); break;
            case FilterNode.Or o: Add(o.Left, set); Add(o.Right, set); break;
            case FilterNode.Not n: Add(n.Inner, set); break;
            case FilterNode.Address: set.Add(FlowField.SrcAddr); set.Add(FlowField.DstAddr); break;
            case FilterNode.Flags: set.Add(FlowField.TcpFlags); break;
            case FilterNode.Exporter: set.Add(FlowField.Exporter); break;
            case FilterNode.Mac: set.Add(FlowField.SrcMac); set.Add(FlowField.DstMac); break;
            case FilterNode.Number n:
                switch (n.Field)
                {
                    case NumericField.Protocol: set.Add(FlowField.IpProto); break;
                    case NumericField.IpVersion: set.Add(FlowField.IpVersion); break;
                    case NumericField.Port: set.Add(FlowField.SrcPort); set.Add(FlowField.DstPort); break;
                    case NumericField.Interface: set.Add(FlowField.InIf); set.Add(FlowField.OutIf); break;
                    case NumericField.As: set.Add(FlowField.SrcAs); set.Add(FlowField.DstAs); break;
                    case NumericField.Vlan: set.Add(FlowField.Vlan); set.Add(FlowField.PostVlan); break;
                    case NumericField.Tos: set.Add(FlowField.Tos); break;
                    case NumericField.Bytes: set.Add(FlowField.Bytes); break;
                    case NumericField.Packets: set.Add(FlowField.Packets); break;
                    case NumericField.Duration: set.Add(FlowField.Start); set.Add(FlowField.End); break;
                    case NumericField.SamplingRate: set.Add(FlowField.SamplingRate); break;
                    case NumericField.ObsDomain: set.Add(FlowField.ObsDomain); break;
                }
                break;
        }
    }
}
