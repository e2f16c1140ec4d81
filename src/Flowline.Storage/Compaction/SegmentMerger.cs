using Flowline.Storage.Segments;
using Flowline.Records;

namespace Flowline.Storage.Compaction;

/// <summary>
/// Merges segments into one segment in <see cref="RowOrder"/>, streaming: each input holds at most three
/// decoded blocks, whatever the inputs' sizes. Inputs written in that order (flagged in their header) are
/// merged as they are; any other input is first sorted in memory.
/// </summary>
internal static class SegmentMerger
{
    /// <summary>Blocks each input keeps decoded: an output block may draw on two of them plus the one being read.</summary>
    private const int Ring = 3;

    /// <summary>Merges <paramref name="inputs"/> into a new segment at <paramref name="output"/>; returns the rows written.</summary>
    /// <param name="onBlock">Sees every output block before it is written (rollups are built from it).</param>
    public static long Merge(IReadOnlyList<SegmentFile.Reader> inputs, string output, int blockRows, SegmentCodec codec,
        Action<FlowBatch>? onBlock = null, CancellationToken cancel = default)
    {
        var sources = new List<Input>(inputs.Count);
        foreach (var reader in inputs)
        {
            var input = new Input(reader, blockRows);
            if (input.Next()) sources.Add(input);
        }
        var batches = new FlowBatch[sources.Count * Ring];
        for (var i = 0; i < sources.Count; i++)
        {
            for (var s = 0; s < Ring; s++) batches[i * Ring + s] = sources[i].Slots[s];
        }

        using var writer = new SegmentFile.Writer(output, codec, sorted: true);
        var from = new int[blockRows];
        var rows = new int[blockRows];
        var picked = 0;
        var block = new FlowBatch(blockRows);

        void Emit()
        {
            if (picked == 0) return;
            block.Clear();
            block.AppendGathered(batches, from.AsSpan(0, picked), rows.AsSpan(0, picked));
            onBlock?.Invoke(block);
            writer.AppendBlock(block, 0, block.Count);
            picked = 0;
            foreach (var s in sources) s.LoadsSinceEmit = 0;
        }

        // A binary min-heap of input numbers, ordered by each input's current row.
        var heap = new int[sources.Count];
        var size = 0;
        bool Less(int a, int b)
        {
            var x = sources[a];
            var y = sources[b];
            var c = RowOrder.Compare(x.Current, x.Position, y.Current, y.Position);
            return c < 0 || (c == 0 && a < b);
        }
        void Down(int at)
        {
            while (true)
            {
                var l = 2 * at + 1;
                if (l >= size) return;
                var m = l + 1 < size && Less(heap[l + 1], heap[l]) ? l + 1 : l;
                if (!Less(heap[m], heap[at])) return;
                (heap[m], heap[at]) = (heap[at], heap[m]);
                at = m;
            }
        }
        for (var i = 0; i < sources.Count; i++) heap[size++] = i;
        for (var i = size / 2 - 1; i >= 0; i--) Down(i);

        while (size > 0)
        {
            var i = heap[0];
            var input = sources[i];
            from[picked] = i * Ring + input.Slot;
            rows[picked] = input.Position;
            picked++;
            input.Position++;
            if (input.Position == input.Current.Count)
            {
                // Reusing the oldest slot is safe only if the pending output block draws nothing from it.
                if (input.LoadsSinceEmit == Ring - 1) Emit();
                if (input.Next())
                {
                    input.LoadsSinceEmit++;
                }
                else
                {
                    heap[0] = heap[--size];
                }
            }
            Down(0);
            if (picked == blockRows)
            {
                cancel.ThrowIfCancellationRequested();
                Emit();
            }
        }
        Emit();
        writer.Complete();
        return writer.Rows;
    }

    private sealed class Input
    {
        private readonly SegmentFile.Reader _reader;
        private int _block = -1;
        private FlowBatch? _whole;

        public Input(SegmentFile.Reader reader, int blockRows)
        {
            _reader = reader;
            for (var s = 0; s < Ring; s++) Slots[s] = new FlowBatch(blockRows);
            if (!reader.Sorted)
            {
                var all = new FlowBatch((int)Math.Min(reader.Rows, int.MaxValue));
                for (var b = 0; b < reader.Blocks.Length; b++) reader.ReadBlock(b, all);
                _whole = RowOrder.Sorted(all);
            }
        }

        public FlowBatch[] Slots { get; } = new FlowBatch[Ring];
        public int Slot { get; private set; } = Ring - 1;
        public FlowBatch Current => Slots[Slot];
        public int Position { get; set; }
        public int LoadsSinceEmit { get; set; }

        /// <summary>Decodes the next block into the next slot; false at the end.</summary>
        public bool Next()
        {
            if (_whole is not null)
            {
                // An input that was not in order is one sorted batch, in the first slot.
                if (_block >= 0) return false;
                _block = 0;
                Slot = 0;
                Slots[0] = _whole;
                Position = 0;
                return _whole.Count > 0;
            }
            while (++_block < _reader.Blocks.Length)
            {
                Slot = (Slot + 1) % Ring;
                Slots[Slot].Clear();
                _reader.ReadBlock(_block, Slots[Slot]);
                Position = 0;
                if (Slots[Slot].Count > 0) return true;
            }
            return false;
        }
    }
}
