using Flowline.Storage.Segments;
using Flowline.Records;

namespace Flowline.Storage.Compaction;

/// <summary>
/// Merges sorted segments into one in <see cref="RowOrder"/>, streaming: each input holds three decoded
/// blocks (taken from a <see cref="BatchPool"/> and given back), whatever the inputs' sizes.
/// </summary>
internal static class SegmentMerger
{
    /// <summary>Blocks each input keeps decoded: an output block may draw on two of them plus the one being read.</summary>
    private const int Ring = Compactor.Ring;

    /// <summary>Merges <paramref name="inputs"/> (each in <see cref="RowOrder"/>) into <paramref name="writer"/>; returns the rows written.</summary>
    /// <param name="slotRows">The least rows of an input's decoded slots (the pool's chunk size).</param>
    /// <param name="onBlock">Sees every output block before it is written (rollups are built from it).</param>
    /// <param name="encoder">Encodes and writes the blocks on its thread while the next is merged; null: on this one.</param>
    public static long Merge(IReadOnlyList<SegmentFile.Reader> inputs, SegmentFile.Writer writer, int blockRows, int slotRows, BatchPool pool,
        Action<FlowBatch>? onBlock = null, CancellationToken cancel = default, BlockEncoder? encoder = null)
    {
        var sources = new List<Input>(inputs.Count);
        var output = new Output(writer, pool, blockRows, onBlock, encoder);
        try
        {
            foreach (var reader in inputs)
            {
                if (!reader.Sorted) throw new InvalidOperationException($"{reader.Path} is not sorted: it cannot be merged as it is");
                var input = new Input(reader, pool, slotRows);
                if (input.Next()) sources.Add(input);
                else input.Release(pool);
            }
            var rows = Run(sources, output, blockRows, cancel);
            output.Finish();
            return rows;
        }
        finally
        {
            output.Release();
            foreach (var s in sources) s.Release(pool);
        }
    }

    /// <summary>
    /// Where output blocks go: written here, or handed to an encoder thread (then two blocks take turns).
    /// </summary>
    internal sealed class Output(SegmentFile.Writer writer, BatchPool pool, int blockRows, Action<FlowBatch>? onBlock, BlockEncoder? encoder)
    {
        private FlowBatch? _spare;

        /// <summary>The block to fill now.</summary>
        public FlowBatch Block { get; private set; } = pool.Rent(blockRows);

        /// <summary>Writes <see cref="Block"/> (or hands it over) and makes another block the one to fill.</summary>
        public void Emit()
        {
            if (Block.Count == 0) return;
            if (encoder is null)
            {
                onBlock?.Invoke(Block);
                writer.AppendBlock(Block, 0, Block.Count);
                Block.Clear();
                return;
            }
            var previous = encoder.Submit(Block, writer, onBlock);
            Block = previous ?? _spare ?? pool.Rent(blockRows);
            _spare = null;
            Block.Clear();
        }

        /// <summary>Waits for the last block handed over to be written; throws what writing it threw.</summary>
        public void Finish()
        {
            if (encoder?.Finish() is { } last) _spare = last;
        }

        /// <summary>Gives the blocks back to the pool, once nothing is in flight.</summary>
        public void Release()
        {
            if (encoder?.Quiesce() is { } last) pool.Return(last);
            if (_spare is not null) pool.Return(_spare);
            pool.Return(Block);
            _spare = null;
        }
    }

    private static long Run(List<Input> sources, Output output, int blockRows, CancellationToken cancel)
    {
        var batches = new FlowBatch[sources.Count * Ring];
        for (var i = 0; i < sources.Count; i++)
        {
            for (var s = 0; s < Ring; s++) batches[i * Ring + s] = sources[i].Slots[s];
        }
        var from = new int[blockRows];
        var rows = new int[blockRows];
        var picked = 0;
        var staged = 0;
        long written = 0;

        // Copies the rows picked so far into the output block (their slots may then be reused).
        void Stage()
        {
            if (picked == 0) return;
            var block = output.Block;
            if (staged == 0) block.Clear();
            block.AppendGathered(batches, from.AsSpan(0, picked), rows.AsSpan(0, picked));
            staged += picked;
            picked = 0;
            foreach (var s in sources) s.LoadsSinceEmit = 0;
        }
        void Emit()
        {
            Stage();
            if (staged == 0) return;
            written += staged;
            output.Emit();
            staged = 0;
        }
        // A binary min-heap of input numbers, ordered by each input's current row.
        var heap = new int[sources.Count];
        var size = 0;
        // Each input's current row carries its prefix (and, for a pair of IPv4 addresses, the rest of its
        // key): most comparisons end there, without reading the addresses again.
        bool Less(int a, int b)
        {
            var x = sources[a];
            var y = sources[b];
            if (x.Prefix != y.Prefix) return x.Prefix < y.Prefix;
            var c = RowOrder.BothIPv4(x.Prefix)
                ? x.Tail != y.Tail ? x.Tail.CompareTo(y.Tail) : x.Start.CompareTo(y.Start)
                : RowOrder.Compare(x.Current, x.Position, y.Current, y.Position);
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
            if (input.Position < input.Current.Count)
            {
                input.Mark();
            }
            else
            {
                // Reusing the oldest slot is safe only if the picks draw nothing from it: they go into the
                // output block first (which is written only when full, so that blocks stay whole).
                if (input.LoadsSinceEmit == Ring - 1) Stage();
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
            if (staged + picked == blockRows)
            {
                cancel.ThrowIfCancellationRequested();
                Emit();
            }
        }
        Emit();
        return written;
    }

    private sealed class Input
    {
        private readonly SegmentFile.Reader _reader;
        private int _block = -1;

        public Input(SegmentFile.Reader reader, BatchPool pool, int slotRows)
        {
            _reader = reader;
            var rows = slotRows;
            foreach (var b in reader.Blocks) rows = Math.Max(rows, b.Rows);
            for (var s = 0; s < Ring; s++) Slots[s] = pool.Rent(rows);
        }

        public FlowBatch[] Slots { get; } = new FlowBatch[Ring];
        public int Slot { get; private set; } = Ring - 1;
        public FlowBatch Current => Slots[Slot];
        public int Position { get; set; }
        public int LoadsSinceEmit { get; set; }

        /// <summary>The current row's <see cref="RowOrder.Prefix"/>, its higher address's last three bits and its start.</summary>
        public ulong Prefix;
        public int Tail;
        public long Start;

        /// <summary>Takes the current row's key (after <see cref="Position"/> moved).</summary>
        public void Mark()
        {
            var b = Current;
            var (low, high) = RowOrder.Pair(b, Position);
            Prefix = RowOrder.Prefix(low, high);
            Tail = (int)(high.Lo & 7);
            Start = b.Start[Position];
        }

        public void Release(BatchPool pool)
        {
            foreach (var s in Slots) pool.Return(s);
        }

        /// <summary>Decodes the next block into the next slot; false at the end.</summary>
        public bool Next()
        {
            while (++_block < _reader.Blocks.Length)
            {
                Slot = (Slot + 1) % Ring;
                Slots[Slot].Clear();
                _reader.ReadBlock(_block, Slots[Slot]);
                Position = 0;
                if (Slots[Slot].Count > 0)
                {
                    Mark();
                    return true;
                }
            }
            return false;
        }
    }
}
