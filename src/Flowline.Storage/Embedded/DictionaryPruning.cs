using Flowline.Query;
using Flowline.Storage.Segments;
using Flowline.Wire.Records;

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
                case FilterNode.Address a when a.Prefixes.All(p => p.Length == 128):
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

    /// <summary>Without a dictionary (the column was stored plainly) nothing can be ruled out.</summary>
    private static bool Contains(FlowAddress[]? sorted, FlowAddress value) => sorted is null || Array.BinarySearch(sorted, value) >= 0;
}
