using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using Flowline.Query;
using Flowline.Storage.Segments;
using Flowline.Records;

namespace Flowline.Storage.Embedded;

/// <summary>
/// Pre-aggregated sums (bytes, packets, flows) of a compacted segment, per minute and per partition, by
/// the usual keys. A grouping or top-N query whose filter and keys use only a table's keys and whose
/// time range and buckets fall on the table's boundaries reads the table instead of the flows: the
/// answer is the same, because every row of a bucket went into its sums.
/// <code>
///   [hourly files: "FLMANI01" | u16 entries | per entry: u16 length | UTF-8 relative segment path]
///   "FLROLL02" | u32 tables | per table: u8 key count | u8 keys[4] | 3 reserved | i64 bucket width (µs)
///              | u32 rows | u32 stored length | u32 raw length | u32 CRC-32C of the table's header before it and of stored
///              | stored (Brotli)
///   raw rows: i64 bucket start | per key: u64 hi, u64 lo | u64 bytes | u64 packets | u64 flows
/// </code>
/// Files of format 1 ("FLROLL01") are read as they are: their CRC covers the stored rows only.
/// </summary>
internal sealed class Rollups
{
    /// <summary>The key sets kept. The empty set gives per-bucket totals.</summary>
    public static readonly FlowField[][] KeySets =
    [
        [],
        [FlowField.SrcAddr],
        [FlowField.DstAddr],
        [FlowField.IpProto, FlowField.DstPort],
        [FlowField.IpProto, FlowField.SrcPort],
        [FlowField.Exporter],
    ];

    public const long MinuteMicros = 60_000_000;
    private static readonly byte[] Magic = "FLROLL02"u8.ToArray();
    private static readonly byte[] HeaderUncheckedMagic = "FLROLL01"u8.ToArray();
    private const int TableHeaderLength = 32;
    private const int CheckedHeaderLength = 28;
    private static readonly byte[] ManifestMagic = "FLMANI01"u8.ToArray();

    public IReadOnlyList<Table> Tables { get; }

    private Rollups(IReadOnlyList<Table> tables) => Tables = tables;

    /// <summary>The rollup file that belongs to a compacted segment.</summary>
    public static string PathFor(string segment) => Path.ChangeExtension(segment, ".rollup");

    public const long HourMicros = 3_600_000_000;

    /// <summary>Sums blocks as they are written by compaction, or other rollup tables into coarser ones.</summary>
    public sealed class Builder
    {
        /// <summary>
        /// A table being built. One whose <see cref="Source"/> is set is not fed rows: it is the sum of that
        /// finer table with the same keys, taken when written or when the finer table is dropped (the rows
        /// that follow are then fed to it).
        /// </summary>
        private sealed class Entry(FlowField[] keys, long width, Aggregator sums)
        {
            public FlowField[] Keys { get; } = keys;
            public long Width { get; } = width;
            public Aggregator Sums { get; } = sums;
            public Entry? Source { get; set; }
        }

        private readonly List<Entry> _tables = [];
        /// <summary>Groups all tables together may hold.</summary>
        private readonly long _maxGroups;
        private ulong[] _all = [];

        /// <summary>Per-minute and per-partition tables of a segment.</summary>
        public Builder(long partitionWidth, long memory = long.MaxValue)
            : this([MinuteMicros, partitionWidth], memory)
        {
        }

        /// <param name="memory">
        /// Bytes the tables may take together, checked after each 1,024 rows (they may pass it by that many
        /// groups a table until then): while they hold more, the largest table (keys as diverse as the flows
        /// themselves, where it would save nothing) is dropped, and queries read the flows instead. Small
        /// tables (no key, exporters, ports) leave their room to the address tables.
        /// </param>
        /// <param name="keySets">The key sets to build (all by default).</param>
        public Builder(IEnumerable<long> widths, long memory = long.MaxValue, IEnumerable<FlowField[]>? keySets = null)
        {
            var sets = (keySets ?? KeySets).ToList();
            var distinct = widths.Distinct().Order().ToList();
            _maxGroups = Math.Clamp(memory / BytesPerGroup, 1, long.MaxValue);
            foreach (var width in distinct)
            {
                foreach (var keys in sets)
                {
                    // Summing a finer table costs a pass over its groups instead of one over every row.
                    var finer = _tables.Find(t => t.Width < width && width % t.Width == 0 && t.Keys.AsSpan().SequenceEqual(keys));
                    // Limited together by the check after each slice of rows, not in the middle of one (what a
                    // table holds then is whole slices, to be handed over).
                    var query = new FlowQuery { GroupBy = keys.Select(k => new GroupKey(k)).ToArray(), BucketMicros = width };
                    _tables.Add(new Entry(keys, width, new Aggregator(query)) { Source = finer });
                }
            }
        }

        /// <summary>
        /// What a group of a table costs while it is built (entry, hash, index, growth, the sort and the written copy):
        /// measured, 20 M flows imported into one partition in 64 MiB held 5 MiB more than 256 bytes a group allowed.
        /// </summary>
        private const int BytesPerGroup = 512;

        /// <summary>Tables dropped for holding too many groups.</summary>
        public int Dropped { get; private set; }

        public void Add(FlowBatch block)
        {
            var words = (block.Count + 63) / 64;
            if (_all.Length < words) _all = new ulong[words];
            _all.AsSpan(0, words).Fill(ulong.MaxValue);
            if (block.Count % 64 != 0) _all[words - 1] = (1UL << (block.Count % 64)) - 1;
            Feed((t, selection) => t.Sums.Add(block, selection), words);
        }

        /// <summary>Adds a finer table's rows (with their flow counts) to the tables with the same keys.</summary>
        public void Add(Table finer)
        {
            if (finer.Decode() is not { } rows) throw new InvalidDataException("a rollup table is damaged");
            var words = (rows.Rows.Count + 63) / 64;
            if (_all.Length < words) _all = new ulong[words];
            _all.AsSpan(0, words).Fill(ulong.MaxValue);
            if (rows.Rows.Count % 64 != 0) _all[words - 1] = (1UL << (rows.Rows.Count % 64)) - 1;
            Feed((t, selection) =>
            {
                if (t.Keys.AsSpan().SequenceEqual(finer.Keys)) t.Sums.Add(rows.Rows, selection, rows.Flows);
            }, words);
        }

        private delegate void AddRows(Entry table, ReadOnlySpan<ulong> selection);

        /// <summary>Words of selection (64 rows each) a table that others are summed from takes between checks of its size.</summary>
        private const int SliceWords = 16;

        private ulong[] _mask = [];

        /// <summary>The rows of words [from, to) of <see cref="_all"/> alone.</summary>
        private ReadOnlySpan<ulong> Rows(int from, int to, int words)
        {
            if (_mask.Length < words) _mask = new ulong[words];
            var mask = _mask.AsSpan(0, words);
            mask.Clear();
            _all.AsSpan(from, to - from).CopyTo(mask[from..]);
            return mask;
        }

        /// <summary>
        /// Gives the rows to every table not summed from another, a slice at a time, and after each slice keeps
        /// the tables within the memory they share (<see cref="Limit"/>).
        /// </summary>
        private void Feed(AddRows add, int words)
        {
            for (var w = 0; w < words; w += SliceWords)
            {
                var slice = Rows(w, Math.Min(words, w + SliceWords), words);
                foreach (var table in _tables)
                {
                    if (table.Source is null) add(table, slice);
                }
                Limit();
            }
        }

        /// <summary>
        /// While the tables hold more groups than they may together, drops the largest; the coarser tables that were
        /// to be summed from it take its sums first, and the rows from then on.
        /// </summary>
        private void Limit()
        {
            while (_tables.Count > 0 && _tables.Sum(t => (long)t.Sums.Groups) > _maxGroups)
            {
                var largest = _tables.MaxBy(t => t.Sums.Groups)!;
                foreach (var coarser in _tables.Where(c => c.Source == largest).ToList()) Resolve(coarser);
                _tables.Remove(largest);
                Dropped++;
            }
        }

        /// <summary>Sums a table from its source now; from then on it is fed rows.</summary>
        private static void Resolve(Entry table)
        {
            var source = table.Source!;
            table.Source = null;
            table.Sums.AddGroups(source.Sums);
        }

        /// <summary>Writes the tables next to <paramref name="segment"/>, durably (temporary name, flush, rename).</summary>
        public void Write(string segment) => WriteFile(PathFor(segment), []);

        /// <summary>
        /// Writes the tables to <paramref name="path"/> with a manifest: the segments they were built from
        /// (relative paths), so a reader can tell whether they still describe what is stored.
        /// </summary>
        public void WriteFile(string path, IReadOnlyList<string> manifest)
        {
            using var body = new MemoryStream();
            Span<byte> u16 = stackalloc byte[2];
            if (manifest.Count > 0)
            {
                body.Write(ManifestMagic);
                BinaryPrimitives.WriteUInt16LittleEndian(u16, (ushort)manifest.Count);
                body.Write(u16);
                foreach (var m in manifest)
                {
                    var bytes = System.Text.Encoding.UTF8.GetBytes(m);
                    BinaryPrimitives.WriteUInt16LittleEndian(u16, (ushort)bytes.Length);
                    body.Write(u16);
                    body.Write(bytes);
                }
            }
            foreach (var table in _tables.Where(t => t.Source is not null).ToList()) Resolve(table);
            Limit();
            Span<byte> u32 = stackalloc byte[4];
            body.Write(Magic);
            BinaryPrimitives.WriteUInt32LittleEndian(u32, (uint)_tables.Count);
            body.Write(u32);
            foreach (var (keys, width, sums) in _tables.Select(t => (t.Keys, t.Width, t.Sums)))
            {
                var result = sums.Result();
                var rowSize = 8 + 16 * keys.Length + 24;
                var raw = new byte[result.Count * rowSize];
                for (var r = 0; r < result.Count; r++)
                {
                    var row = raw.AsSpan(r * rowSize, rowSize);
                    BinaryPrimitives.WriteInt64LittleEndian(row, result.BucketStart(r));
                    for (var k = 0; k < keys.Length; k++)
                    {
                        var part = result.Key(r, k);
                        BinaryPrimitives.WriteUInt64LittleEndian(row[(8 + 16 * k)..], part.Hi);
                        BinaryPrimitives.WriteUInt64LittleEndian(row[(16 + 16 * k)..], part.Lo);
                    }
                    var at = 8 + 16 * keys.Length;
                    BinaryPrimitives.WriteUInt64LittleEndian(row[at..], result.Bytes(r));
                    BinaryPrimitives.WriteUInt64LittleEndian(row[(at + 8)..], result.Packets(r));
                    BinaryPrimitives.WriteUInt64LittleEndian(row[(at + 16)..], result.Flows(r));
                }
                var stored = new byte[BrotliEncoder.GetMaxCompressedLength(raw.Length)];
                if (!BrotliEncoder.TryCompress(raw, stored, out var storedLength, 5, 22)) throw new InvalidOperationException("rollup compression failed");
                var header = new byte[TableHeaderLength];
                header[0] = (byte)keys.Length;
                for (var k = 0; k < keys.Length; k++) header[1 + k] = (byte)keys[k];
                BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), width);
                BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), (uint)result.Count);
                BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), (uint)storedLength);
                BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(24), (uint)raw.Length);
                BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(CheckedHeaderLength), Checksum.Crc32C(header.AsSpan(0, CheckedHeaderLength), stored.AsSpan(0, storedLength)));
                body.Write(header);
                body.Write(stored, 0, storedLength);
            }
            body.Position = 0;
            AtomicFile.Write(path, body.CopyTo);
        }
    }

    /// <summary>
    /// The table directory of a segment's rollup file (tables are decoded when asked for); null when the
    /// file is missing or damaged (the flows are then read instead).
    /// </summary>
    public static Rollups? TryRead(string segment) => TryReadFile(PathFor(segment));

    /// <summary>A rollup file by path (segment rollups and hourly ones alike); null when missing or damaged.</summary>
    public static Rollups? TryReadFile(string path)
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        var d = data.AsSpan();
        var start = 0;
        var manifest = new List<string>();
        if (d.Length >= 10 && d[..8].SequenceEqual(ManifestMagic))
        {
            var entries = BinaryPrimitives.ReadUInt16LittleEndian(d[8..]);
            start = 10;
            for (var i = 0; i < entries; i++)
            {
                if (d.Length - start < 2) return null;
                var length = BinaryPrimitives.ReadUInt16LittleEndian(d[start..]);
                start += 2;
                if (d.Length - start < length) return null;
                manifest.Add(System.Text.Encoding.UTF8.GetString(d.Slice(start, length)));
                start += length;
            }
        }
        if (d.Length - start < 12) return null;
        var headerChecked = d.Slice(start, 8).SequenceEqual(Magic);
        if (!headerChecked && !d.Slice(start, 8).SequenceEqual(HeaderUncheckedMagic)) return null;
        var count = BinaryPrimitives.ReadUInt32LittleEndian(d[(start + 8)..]);
        var at = start + 12;
        var tables = new List<Table>();
        for (var t = 0; t < count; t++)
        {
            if (d.Length - at < TableHeaderLength) return null;
            var h = d.Slice(at, TableHeaderLength);
            var keyCount = h[0];
            if (keyCount > 4) return null;
            var keys = new FlowField[keyCount];
            for (var k = 0; k < keyCount; k++)
            {
                keys[k] = (FlowField)h[1 + k];
                if (!Enum.IsDefined(keys[k])) return null;
            }
            var width = BinaryPrimitives.ReadInt64LittleEndian(h[8..]);
            var rows = (int)BinaryPrimitives.ReadUInt32LittleEndian(h[16..]);
            var storedLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
            var rawLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(h[24..]);
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(h[CheckedHeaderLength..]);
            var header = headerChecked ? at : -1;
            at += TableHeaderLength;
            var rowSize = 8 + 16 * keyCount + 24;
            if (rows < 0 || storedLength < 0 || storedLength > d.Length - at || rawLength != (long)rows * rowSize || width <= 0) return null;
            tables.Add(new Table(keys, width, rows, data, header, at, storedLength, crc));
            at += storedLength;
        }
        return new Rollups(tables) { Manifest = manifest, Format = headerChecked ? 2 : 1 };
    }

    /// <summary>1 (table headers unchecked) or 2.</summary>
    public int Format { get; private init; }

    /// <summary>
    /// What is wrong with the rollup file at <paramref name="path"/>; null when it is whole or missing. <paramref name="format"/>
    /// is its format when it could be read (0 otherwise).
    /// </summary>
    public static string? Damage(string path, out int format)
    {
        format = 0;
        if (!File.Exists(path)) return null;
        if (TryReadFile(path) is not { } rollups) return "not a rollup file, or cut short";
        format = rollups.Format;
        var bad = rollups.Tables.FirstOrDefault(t => t.Decode() is null);
        return bad is null ? null : $"the table by {(bad.Keys.Length == 0 ? "time" : string.Join(",", bad.Keys.Select(FlowFields.Name)))} every {bad.Width / 1_000_000} s: checksum mismatch or does not decode";
    }

    /// <summary>For tables built from other rollups: the segments (relative paths) they sum.</summary>
    public IReadOnlyList<string> Manifest { get; private init; } = [];

    /// <summary>
    /// One table: its keys and bucket width, and its rows, decoded on first use (null if damaged, its header
    /// included, so that a table chosen by a damaged header is not read either).
    /// </summary>
    /// <param name="header">Where its header starts in <paramref name="file"/>, when the checksum covers it (-1 if not).</param>
    public sealed class Table(FlowField[] keys, long width, int rows, byte[] file, int header, int offset, int storedLength, uint crc)
    {
        private (FlowBatch Rows, ulong[] Flows)? _decoded;

        public FlowField[] Keys { get; } = keys;
        public long Width { get; } = width;
        public int RowCount { get; } = rows;

        public (FlowBatch Rows, ulong[] Flows)? Decode()
        {
            if (_decoded is not null) return _decoded;
            var stored = file.AsSpan(offset, storedLength);
            var sum = header < 0 ? Checksum.Crc32C(stored) : Checksum.Crc32C(file.AsSpan(header, CheckedHeaderLength), stored);
            if (sum != crc) return null;
            var rowSize = 8 + 16 * Keys.Length + 24;
            var raw = new byte[RowCount * rowSize];
            if (!BrotliDecoder.TryDecompress(stored, raw, out var written) || written != raw.Length) return null;
            var batch = new FlowBatch(Math.Max(1, RowCount));
            var flows = new ulong[RowCount];
            for (var r = 0; r < RowCount; r++)
            {
                var row = raw.AsSpan(r * rowSize, rowSize);
                batch.Start[r] = BinaryPrimitives.ReadInt64LittleEndian(row);
                for (var k = 0; k < Keys.Length; k++)
                {
                    Set(batch, r, Keys[k], BinaryPrimitives.ReadUInt64LittleEndian(row[(8 + 16 * k)..]), BinaryPrimitives.ReadUInt64LittleEndian(row[(16 + 16 * k)..]));
                }
                var s = 8 + 16 * Keys.Length;
                batch.Bytes[r] = BinaryPrimitives.ReadUInt64LittleEndian(row[s..]);
                batch.Packets[r] = BinaryPrimitives.ReadUInt64LittleEndian(row[(s + 8)..]);
                flows[r] = BinaryPrimitives.ReadUInt64LittleEndian(row[(s + 16)..]);
            }
            batch.SetCount(RowCount);
            _decoded = (batch, flows);
            return _decoded;
        }
    }

    private static void Set(FlowBatch b, int row, FlowField field, ulong hi, ulong lo)
    {
        if (ColumnCodec.IsAddress(field))
        {
            MemoryMarshal.Cast<byte, FlowAddress>(b.ColumnBytes(field, row + 1))[row] = new FlowAddress(hi, lo);
            return;
        }
        var size = FlowBatch.ValueSize(field);
        Span<byte> value = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(value, lo);
        value[..size].CopyTo(b.ColumnBytes(field, row + 1)[(row * size)..]);
    }

    /// <summary>The smallest table of bucket width <paramref name="width"/> whose keys include every field in <paramref name="needed"/>.</summary>
    public Table? Best(IReadOnlySet<FlowField> needed, long width) =>
        Tables.Where(t => t.Width == width && needed.All(f => t.Keys.Contains(f))).MinBy(t => t.RowCount);
}
