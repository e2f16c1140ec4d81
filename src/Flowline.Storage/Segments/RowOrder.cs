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

    internal static (FlowAddress Low, FlowAddress High) Pair(FlowBatch b, int i) =>
        b.SrcAddr[i].CompareTo(b.DstAddr[i]) <= 0 ? (b.SrcAddr[i], b.DstAddr[i]) : (b.DstAddr[i], b.SrcAddr[i]);

    public static bool IsSorted(FlowBatch b)
    {
        for (var i = 1; i < b.Count; i++)
        {
            if (Compare(b, i - 1, b, i) > 0) return false;
        }
        return true;
    }

    /// <summary>The bytes a row takes in a <see cref="Sorter"/> (its prefix, second word and number, twice over).</summary>
    internal const int KeyBytes = 40;

    /// <summary>
    /// Fills <paramref name="block"/> (cleared first) with the rows <paramref name="ids"/> name, in their order,
    /// gathered column by column from <paramref name="batches"/> (row numbers as <see cref="Sorter.Sort"/> gives
    /// them). <paramref name="from"/> and <paramref name="rows"/> are scratch of ids' length. The rows are read in
    /// the order they sit in the batches and written to their places in the block: reading a commit's columns
    /// in sorted order jumps across tens of megabytes at every row, while the block's columns stay in cache
    /// (measured: the gather of a 262,144-row commit took twice as long in sorted order).
    /// </summary>
    internal static void Gather(FlowBatch block, IReadOnlyList<FlowBatch> batches, ReadOnlySpan<int> ids, int stride, int[] from, int[] rows)
    {
        var m = ids.Length;
        var picks = FlowBatch.Scratch(ref t_picks, m);
        var spare = FlowBatch.Scratch(ref t_picksScratch, m);
        var targets = FlowBatch.Scratch(ref t_targets, m);
        var highest = 0;
        for (var k = 0; k < m; k++)
        {
            picks[k] = ((ulong)(uint)ids[k] << 32) | (uint)k;
            highest |= ids[k];
        }
        // Stable radix sort by id (the upper half), a byte at a time up to the highest id's.
        Span<int> counts = stackalloc int[256];
        for (var shift = 32; shift < 64 && highest >> (shift - 32) != 0; shift += 8)
        {
            counts.Clear();
            foreach (var p in picks) counts[(int)((p >> shift) & 0xFF)]++;
            for (int b = 0, sum = 0; b < 256; b++) (counts[b], sum) = (sum, sum + counts[b]);
            foreach (var p in picks) spare[counts[(int)((p >> shift) & 0xFF)]++] = p;
            var swap = picks;
            picks = spare;
            spare = swap;
        }
        for (var k = 0; k < m; k++)
        {
            var id = (int)(picks[k] >> 32);
            from[k] = id / stride;
            rows[k] = id % stride;
            targets[k] = (int)(uint)picks[k];
        }
        block.Clear();
        block.AppendGathered(batches, from.AsSpan(0, m), rows.AsSpan(0, m), targets);
    }

    [ThreadStatic] private static ulong[]? t_picks, t_picksScratch;
    [ThreadStatic] private static int[]? t_targets;

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

    /// <summary>Whether rows with this prefix are a pair of IPv4 addresses (the second word then completes the key).</summary>
    internal static bool BothIPv4(ulong prefix) => prefix >> 62 == 1 && (prefix & (1UL << 29)) == 0;

    /// <summary>
    /// Sorts the rows of several batches together: a radix sort of <see cref="Prefix"/> (the bytes that
    /// differ only), then the rows of each equal prefix by their whole key. For a pair of IPv4 addresses the
    /// rest of the key (the higher address's last three bits, then start) is a second 64-bit word that the
    /// radix sort takes first, so rows of one IPv4 conversation need no comparisons at all; other equal
    /// prefixes are sorted by their whole key. No generic code to compile; scratch kept between sorts.
    /// </summary>
    internal sealed class Sorter
    {
        /// <summary>What row numbers are counted in: batch index × this + row (a batch holds no more rows).</summary>
        public const int Stride = 1 << 16;

        private ulong[] _prefix = [], _prefixScratch = [], _rest = [], _restScratch = [];
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
                _rest = new ulong[n];
                _restScratch = new ulong[n];
                _ids = new int[n];
                _idScratch = new int[n];
            }
            long minStart = long.MaxValue, maxStart = long.MinValue;
            foreach (var batch in batches)
            {
                foreach (var t in batch.Start.AsSpan(0, batch.Count))
                {
                    minStart = Math.Min(minStart, t);
                    maxStart = Math.Max(maxStart, t);
                }
            }
            // The second word holds start as an offset of 61 bits: starts further apart leave it to the comparisons.
            var restFits = n > 0 && (ulong)(maxStart - minStart) < 1UL << 61;
            var at = 0;
            for (var c = 0; c < batches.Count; c++)
            {
                var batch = batches[c];
                for (var i = 0; i < batch.Count; i++)
                {
                    var (low, high) = Pair(batch, i);
                    _prefix[at] = Prefix(low, high);
                    _rest[at] = restFits ? ((high.Lo & 7) << 61) | (ulong)(batch.Start[i] - minStart) : 0;
                    _ids[at++] = c * stride + i;
                }
            }
            if (restFits) Radix(n, ref _rest, ref _restScratch, ref _prefix, ref _prefixScratch);
            Radix(n, ref _prefix, ref _prefixScratch, ref _rest, ref _restScratch);
            SortTies(batches, stride, n, restFits);
            return _ids.AsSpan(0, n);
        }

        /// <summary>
        /// A stable radix sort of the rows by <paramref name="keys"/>, least significant byte first; a byte every
        /// key shares is skipped. <paramref name="other"/> (the other word) and the ids move along.
        /// </summary>
        private void Radix(int n, ref ulong[] keys, ref ulong[] keyScratch, ref ulong[] other, ref ulong[] otherScratch)
        {
            Span<int> counts = stackalloc int[8 * 256];
            counts.Clear();
            foreach (var v in keys.AsSpan(0, n))
            {
                for (var d = 0; d < 8; d++) counts[d * 256 + (int)((v >> (8 * d)) & 0xFF)]++;
            }
            for (var d = 0; d < 8; d++)
            {
                var digit = counts.Slice(d * 256, 256);
                if (n == 0 || digit[(int)((keys[0] >> (8 * d)) & 0xFF)] == n) continue;
                var sum = 0;
                for (var b = 0; b < 256; b++) (digit[b], sum) = (sum, sum + digit[b]);
                var (from, fromOther, fromIds) = (keys, other, _ids);
                var (to, toOther, toIds) = (keyScratch, otherScratch, _idScratch);
                var shift = 8 * d;
                for (var i = 0; i < n; i++)
                {
                    var v = from[i];
                    var slot = digit[(int)((v >> shift) & 0xFF)]++;
                    to[slot] = v;
                    toOther[slot] = fromOther[i];
                    toIds[slot] = fromIds[i];
                }
                (keys, keyScratch, other, otherScratch, _ids, _idScratch) = (to, from, toOther, fromOther, toIds, fromIds);
            }
        }

        /// <summary>Orders each stretch of equal prefixes by the whole key (address pair, start, row).</summary>
        private void SortTies(IReadOnlyList<FlowBatch> batches, int stride, int n, bool restSorted)
        {
            for (var a = 0; a < n;)
            {
                var b = a + 1;
                while (b < n && _prefix[b] == _prefix[a]) b++;
                var len = b - a;
                if (len > 1 && !(restSorted && BothIPv4(_prefix[a])))
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
