using Flowline.Query;
using Flowline.Storage.Segments;
using Flowline.Records;

namespace Flowline.Storage.Embedded;

/// <summary>
/// Skips a block when a host the filter asks for is not among the block's distinct addresses: exact where
/// min/max zone maps are not (a busy address range spans every block). Reads only the dictionaries.
/// </summary>
internal static class DictionaryPruning
{
    public static bool MayMatch(SegmentFile.Reader reader, int block, FilterNode filter)
    {
        FlowAddress[]? src = null, dst = null;
        bool srcRead = false, dstRead = false;
        FlowAddress[]? Src() { if (!srcRead) { src = reader.Dictionary(block, FlowField.SrcAddr); srcRead = true; } return src; }
        FlowAddress[]? Dst() { if (!dstRead) { dst = reader.Dictionary(block, FlowField.DstAddr); dstRead = true; } return dst; }

        bool May(FilterNode node)
        {
            switch (node)
            {
                case FilterNode.And a:
                    return May(a.Left) && May(a.Right);
                case FilterNode.Or o:
                    return May(o.Left) || May(o.Right);
                case FilterNode.Address a when AllHosts(a.Prefixes):
                    foreach (var p in a.Prefixes)
                    {
                        if (a.Direction != Direction.Dst && Contains(Src(), p.Network)) return true;
                        if (a.Direction != Direction.Src && Contains(Dst(), p.Network)) return true;
                    }
                    return false;
                default:
                    return true;
            }
        }

        return May(filter);
    }

    private static bool AllHosts(IReadOnlyList<Prefix> prefixes)
    {
        for (var i = 0; i < prefixes.Count; i++)
        {
            if (prefixes[i].Length != 128) return false;
        }
        return true;
    }

    /// <summary>Without a dictionary (the column was stored plainly) nothing can be ruled out.</summary>
    private static bool Contains(FlowAddress[]? sorted, FlowAddress value)
    {
        if (sorted is null) return true;
        int lo = 0, hi = sorted.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var c = sorted[mid].CompareTo(value);
            if (c == 0) return true;
            if (c < 0) lo = mid + 1;
            else hi = mid - 1;
        }
        return false;
    }
}
