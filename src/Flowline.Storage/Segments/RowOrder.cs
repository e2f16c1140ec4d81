using Flowline.Records;

namespace Flowline.Storage.Segments;

/// <summary>
/// The order rows take inside a segment: by the lower address of the row's pair, then the higher one, then
/// start. Both directions of a conversation sit together, and a host's flows with every peer that has a
/// higher address (a client's with its servers, typically) form one run, so zone maps skip the rest of a
/// partition for a host query. Similar rows side by side also compress far better than time order.
/// </summary>
public static class RowOrder
{
    public static int Compare(FlowBatch a, int i, FlowBatch b, int j)
    {
        var (aLow, aHigh) = Pair(a, i);
        var (bLow, bHigh) = Pair(b, j);
        var c = aLow.CompareTo(bLow);
        if (c != 0) return c;
        c = aHigh.CompareTo(bHigh);
        return c != 0 ? c : a.Start[i].CompareTo(b.Start[j]);
    }

    private static (FlowAddress Low, FlowAddress High) Pair(FlowBatch b, int i) =>
        b.SrcAddr[i].CompareTo(b.DstAddr[i]) <= 0 ? (b.SrcAddr[i], b.DstAddr[i]) : (b.DstAddr[i], b.SrcAddr[i]);

    public static bool IsSorted(FlowBatch b)
    {
        for (var i = 1; i < b.Count; i++)
        {
            if (Compare(b, i - 1, b, i) > 0) return false;
        }
        return true;
    }

    /// <summary>The bytes a sort key takes (see <see cref="Order"/>).</summary>
    internal const int KeyBytes = 48;

    /// <summary>
    /// Sorts the rows of several batches together: on return <paramref name="keys"/>[0..n) hold, in this
    /// order, each row's number (<see cref="Key.Row"/>: batch index × <paramref name="stride"/> + row; no
    /// batch holds more than <paramref name="stride"/> rows).
    /// </summary>
    internal static int Order(IReadOnlyList<FlowBatch> batches, int stride, Key[] keys)
    {
        var n = 0;
        for (var c = 0; c < batches.Count; c++)
        {
            var batch = batches[c];
            for (var i = 0; i < batch.Count; i++)
            {
                var (low, high) = Pair(batch, i);
                keys[n++] = new Key(low.Hi, low.Lo, high.Hi, high.Lo, batch.Start[i], c * stride + i);
            }
        }
        Array.Sort(keys, 0, n);
        return n;
    }

    internal readonly record struct Key(ulong LowHi, ulong LowLo, ulong HighHi, ulong HighLo, long Start, int Row) : IComparable<Key>
    {
        public int CompareTo(Key o)
        {
            var c = LowHi.CompareTo(o.LowHi);
            if (c != 0) return c;
            c = LowLo.CompareTo(o.LowLo);
            if (c != 0) return c;
            c = HighHi.CompareTo(o.HighHi);
            if (c != 0) return c;
            c = HighLo.CompareTo(o.HighLo);
            if (c != 0) return c;
            c = Start.CompareTo(o.Start);
            return c != 0 ? c : Row.CompareTo(o.Row);
        }
    }
}
