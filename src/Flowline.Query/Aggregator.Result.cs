using Flowline.Records;

namespace Flowline.Query;

/// <summary>The aggregator's answer: its groups ordered and cut, read in place.</summary>
public sealed partial class Aggregator
{
    /// <summary>Groups ordered by the query's metric (largest first, ties by key; per bucket when bucketed), cut to its limit.</summary>
    public AggregateResult Result()
    {
        var limit = _query.Limit;
        int[] order;
        if (limit > 0 && !_bucketed && limit < _count / 4)
        {
            // Top-N: a bounded heap whose root is the weakest row kept.
            var heap = new PriorityQueue<int, int>(limit + 1, Comparer<int>.Create((x, y) => Compare(y, x)));
            for (var g = 0; g < _count; g++)
            {
                if (heap.Count < limit) heap.Enqueue(g, g);
                else if (Compare(g, heap.Peek()) < 0)
                {
                    heap.DequeueEnqueue(g, g);
                }
            }
            order = new int[heap.Count];
            for (var i = order.Length - 1; i >= 0; i--) order[i] = heap.Dequeue();
        }
        else
        {
            order = new int[_count];
            for (var g = 0; g < _count; g++) order[g] = g;
            SortGroups(order);
            if (limit > 0 && _bucketed)
            {
                var kept = new List<int>(order.Length);
                var run = 0;
                for (var i = 0; i < order.Length; i++)
                {
                    run = i > 0 && BucketOf(order[i]) == BucketOf(order[i - 1]) ? run + 1 : 0;
                    if (run < limit) kept.Add(order[i]);
                }
                order = [.. kept];
            }
            else if (limit > 0 && order.Length > limit)
            {
                Array.Resize(ref order, limit);
            }
        }
        return new AggregateResult(this, order);
    }

    /// <summary>
    /// Sorts copies of each group's order key (bucket, metric, the first four key words) held inline, so the
    /// sort touches no group storage; only groups equal on all of that fall back to the full key.
    /// </summary>
    private void SortGroups(int[] order)
    {
        var items = new SortItem[order.Length];
        var first = _bucketed ? 2 : 0;
        for (var i = 0; i < order.Length; i++)
        {
            var g = order[i];
            var at = g * _stride;
            ulong K(int w) => first + w < _width ? _entries[at + first + w] : 0;
            items[i] = new SortItem(_bucketed ? (ulong)BucketOf(g) ^ (1UL << 63) : 0, ~Value(g, _query.OrderBy), K(0), K(1), K(2), K(3), g);
        }
        Array.Sort(items, new SortItemComparer(this, _width - first > 4));
        for (var i = 0; i < order.Length; i++) order[i] = items[i].Group;
    }

    private readonly record struct SortItem(ulong Bucket, ulong Metric, ulong K0, ulong K1, ulong K2, ulong K3, int Group);

    private sealed class SortItemComparer(Aggregator a, bool longKeys) : IComparer<SortItem>
    {
        public int Compare(SortItem x, SortItem y)
        {
            var c = x.Bucket.CompareTo(y.Bucket);
            if (c != 0) return c;
            c = x.Metric.CompareTo(y.Metric);
            if (c != 0) return c;
            c = x.K0.CompareTo(y.K0);
            if (c != 0) return c;
            c = x.K1.CompareTo(y.K1);
            if (c != 0) return c;
            c = x.K2.CompareTo(y.K2);
            if (c != 0) return c;
            c = x.K3.CompareTo(y.K3);
            if (c != 0 || !longKeys) return c;
            return a.Compare(x.Group, y.Group);
        }
    }

    private long BucketOf(int g) => _bucketed ? (long)_entries[g * _stride + 1] : 0;

    private ulong Value(int g, Metric m)
    {
        var at = g * _stride + _width;
        return m switch
        {
            Metric.Bytes or Metric.Packets or Metric.Flows => _entries[at + (int)m],
            _ => Rate(m, _entries[at], _entries[at + 1], _entries[at + 2], First(g), Last(g)),
        };
    }

    private long First(int g) => _span ? Time(_entries[g * _stride + _width + 3]) : 0;
    private long Last(int g) => _span ? Time(_entries[g * _stride + _width + 4]) : 0;

    /// <summary>A time as an unsigned word in the same order (min and max of the words are those of the times).</summary>
    private static ulong Ordered(long time) => (ulong)time ^ (1UL << 63);
    private static long Time(ulong ordered) => (long)(ordered ^ (1UL << 63));

    /// <summary>
    /// A metric of a group's sums as nfdump reckons it: pps and bps over whole milliseconds from the earliest
    /// start to the latest end (0 when they are the same millisecond or unknown), bpp as whole bytes a packet.
    /// </summary>
    public static ulong Rate(Metric m, ulong bytes, ulong packets, ulong flows, long first, long last)
    {
        var ms = last == 0 ? 0 : (ulong)Math.Max(0, last / 1000 - first / 1000);
        return m switch
        {
            Metric.Bytes => bytes,
            Metric.Packets => packets,
            Metric.Flows => flows,
            Metric.Pps => ms == 0 ? 0 : (ulong)(1000 * (UInt128)packets / ms),
            Metric.Bps => ms == 0 ? 0 : (ulong)(8000 * (UInt128)bytes / ms),
            Metric.Bpp => packets == 0 ? 0 : bytes / packets,
            _ => throw new ArgumentOutOfRangeException(nameof(m), m, null),
        };
    }

    /// <summary>Bucket ascending, then the metric descending, then the key ascending.</summary>
    private int Compare(int x, int y)
    {
        if (_bucketed)
        {
            var c = BucketOf(x).CompareTo(BucketOf(y));
            if (c != 0) return c;
        }
        var v = Value(y, _query.OrderBy).CompareTo(Value(x, _query.OrderBy));
        if (v != 0) return v;
        var kx = _entries.AsSpan(x * _stride, _width);
        var ky = _entries.AsSpan(y * _stride, _width);
        return kx.SequenceCompareTo(ky);
    }

    /// <summary>The ordered groups: read one by one (no object per group) or as <see cref="AggregateRow"/>s.</summary>
    public sealed class AggregateResult : IReadOnlyList<AggregateRow>
    {
        private readonly Aggregator _a;
        private readonly int[] _order;

        internal AggregateResult(Aggregator a, int[] order)
        {
            _a = a;
            _order = order;
        }

        public int Count => _order.Length;
        public int KeyCount => _a._query.GroupBy.Count;
        public long BucketStart(int row) => _a.BucketOf(_order[row]);
        public KeyPart Key(int row, int part)
        {
            var at = _order[row] * _a._stride + 2 * (part + (_a._bucketed ? 1 : 0));
            return new KeyPart(_a._entries[at], _a._entries[at + 1]);
        }
        public ulong Bytes(int row) => _a.Value(_order[row], Metric.Bytes);
        public ulong Packets(int row) => _a.Value(_order[row], Metric.Packets);
        public ulong Flows(int row) => _a.Value(_order[row], Metric.Flows);
        public ulong Distinct(int row) => (ulong)(_a._distinct?[_order[row]].Count ?? 0);
        /// <summary>The earliest start and latest end of the row's flows (with <see cref="FlowQuery.Span"/>; 0 otherwise).</summary>
        public long First(int row) => _a.First(_order[row]);
        public long Last(int row) => _a.Last(_order[row]);

        public AggregateRow this[int row]
        {
            get
            {
                var keys = new KeyPart[KeyCount];
                for (var k = 0; k < keys.Length; k++) keys[k] = Key(row, k);
                return new AggregateRow(BucketStart(row), keys, Bytes(row), Packets(row), Flows(row), Distinct(row)) { First = First(row), Last = Last(row) };
            }
        }

        public IEnumerator<AggregateRow> GetEnumerator()
        {
            for (var i = 0; i < Count; i++) yield return this[i];
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
