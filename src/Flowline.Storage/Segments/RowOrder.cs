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

    /// <summary>The bytes a row takes in a <see cref="Sorter"/> (its prefix and number, twice over).</summary>
    internal const int KeyBytes = 24;

    /// <summary>
    /// Fills <paramref name="block"/> (cleared first) with the rows <paramref name="ids"/> name, in their order,
    /// gathered column by column from <paramref name="batches"/> (row numbers as <see cref="Sorter.Sort"/> gives
    /// them). <paramref name="from"/> and <paramref name="rows"/> are scratch of ids' length.
    /// </summary>
    internal static void Gather(FlowBatch block, IReadOnlyList<FlowBatch> batches, ReadOnlySpan<int> ids, int stride, int[] from, int[] rows)
    {
        var m = ids.Length;
        for (var k = 0; k < m; k++)
        {
            from[k] = ids[k] / stride;
            rows[k] = ids[k] % stride;
        }
        block.Clear();
        block.AppendGathered(batches, from.AsSpan(0, m), rows.AsSpan(0, m));
    }

    /// <summary>
    /// A 64-bit prefix of a row's place in the order: a row with a smaller prefix comes first, rows with equal
    /// prefixes are ordered by their whole key. For an IPv4 pair it holds the lower address and 29 bits of the
    /// higher one, so equal prefixes are mostly rows of one conversation.
    /// </summary>
    internal static ulong Prefix(FlowAddress low, FlowAddress high)
    {
        if (low.Hi == 0 && low.Lo >> 32 == 0xFFFF)
        {
            // Lower address IPv4: 01 | its 32 bits | 0 and the higher IPv4 address's top 29 bits (0 below the
            // IPv4 range) | 1 and zeros above it.
            var v4High = high.Hi == 0 && high.Lo >> 32 == 0xFFFF;
            var above = high.Hi != 0 || high.Lo >> 32 > 0xFFFF;
            var tail = above ? 1UL << 29 : v4High ? (uint)high.Lo >> 3 : 0UL;
            return (1UL << 62) | ((ulong)(uint)low.Lo << 30) | tail;
        }
        // Below the IPv4 range (::1 and the like): 0; above it: 10 | the top 62 bits of the address.
        return low.Hi == 0 && low.Lo >> 32 < 0xFFFF ? 0 : (2UL << 62) | (low.Hi >> 2);
    }

    /// <summary>
    /// Sorts the rows of several batches together: a radix sort of <see cref="Prefix"/> (the bytes that
    /// differ only), then the rows of each equal prefix by their whole key. No comparisons for most rows and
    /// no generic code to compile; scratch kept between sorts.
    /// </summary>
    internal sealed class Sorter
    {
        /// <summary>What row numbers are counted in: batch index × this + row (a batch holds no more rows).</summary>
        public const int Stride = 1 << 16;

        private ulong[] _prefix = [], _prefixScratch = [];
        private int[] _ids = [], _idScratch = [];
        private Key[] _ties = [];

        /// <summary>Rows sorted, as batch index × <paramref name="stride"/> + row (no batch holds more than stride rows).</summary>
        public ReadOnlySpan<int> Sort(IReadOnlyList<FlowBatch> batches, int stride)
        {
            var n = 0;
            foreach (var b in batches) n += b.Count;
            if (_prefix.Length < n)
            {
                _prefix = new ulong[n];
                _prefixScratch = new ulong[n];
                _ids = new int[n];
                _idScratch = new int[n];
            }
            var at = 0;
            for (var c = 0; c < batches.Count; c++)
            {
                var batch = batches[c];
                for (var i = 0; i < batch.Count; i++)
                {
                    var (low, high) = Pair(batch, i);
                    _prefix[at] = Prefix(low, high);
                    _ids[at++] = c * stride + i;
                }
            }
            RadixSort(n);
            SortTies(batches, stride, n);
            return _ids.AsSpan(0, n);
        }

        /// <summary>Least significant byte first, stable; a byte every prefix shares is skipped.</summary>
        private void RadixSort(int n)
        {
            Span<int> counts = stackalloc int[8 * 256];
            counts.Clear();
            var p = _prefix.AsSpan(0, n);
            foreach (var v in p)
            {
                for (var d = 0; d < 8; d++) counts[d * 256 + (int)((v >> (8 * d)) & 0xFF)]++;
            }
            for (var d = 0; d < 8; d++)
            {
                var digit = counts.Slice(d * 256, 256);
                if (n == 0 || digit[(int)((_prefix[0] >> (8 * d)) & 0xFF)] == n) continue;
                var sum = 0;
                for (var b = 0; b < 256; b++) (digit[b], sum) = (sum, sum + digit[b]);
                var (from, fromIds, to, toIds) = (_prefix, _ids, _prefixScratch, _idScratch);
                var shift = 8 * d;
                for (var i = 0; i < n; i++)
                {
                    var v = from[i];
                    var slot = digit[(int)((v >> shift) & 0xFF)]++;
                    to[slot] = v;
                    toIds[slot] = fromIds[i];
                }
                (_prefix, _prefixScratch, _ids, _idScratch) = (to, from, toIds, fromIds);
            }
        }

        /// <summary>Orders each stretch of equal prefixes by the whole key (address pair, start, row).</summary>
        private void SortTies(IReadOnlyList<FlowBatch> batches, int stride, int n)
        {
            for (var a = 0; a < n;)
            {
                var b = a + 1;
                while (b < n && _prefix[b] == _prefix[a]) b++;
                var len = b - a;
                if (len > 1)
                {
                    if (_ties.Length < len) _ties = new Key[Math.Max(len, 1024)];
                    for (var k = 0; k < len; k++)
                    {
                        var id = _ids[a + k];
                        var batch = batches[id / stride];
                        var row = id % stride;
                        var (low, high) = Pair(batch, row);
                        _ties[k] = new Key(low.Hi, low.Lo, high.Hi, high.Lo, batch.Start[row], id);
                    }
                    if (len <= 16)
                    {
                        for (var i = 1; i < len; i++)
                        {
                            var key = _ties[i];
                            var j = i - 1;
                            for (; j >= 0 && _ties[j].CompareTo(key) > 0; j--) _ties[j + 1] = _ties[j];
                            _ties[j + 1] = key;
                        }
                    }
                    else
                    {
                        Array.Sort(_ties, 0, len);
                    }
                    for (var k = 0; k < len; k++) _ids[a + k] = _ties[k].Row;
                }
                a = b;
            }
        }
    }

    private readonly record struct Key(ulong LowHi, ulong LowLo, ulong HighHi, ulong HighLo, long Start, int Row) : IComparable<Key>
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
