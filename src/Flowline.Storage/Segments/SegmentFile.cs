using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Flowline.Records;

namespace Flowline.Storage.Segments;

/// <summary>
/// An immutable columnar segment file (little-endian):
/// <code>
///   header   "FLSEG004" | u32 column count | u32 flags (bit 0: rows are in <see cref="RowOrder"/>;
///            bit 1: an intermediate run of compaction, to be merged again)
///   blocks   per block, per column in canonical field order:
///              u32 stored length | u32 raw length | u32 CRC-32C of the stored bytes | u8 codec | 3 reserved | stored bytes
///   footer   u32 block count | per block: u64 offset | u32 rows | u32 length | zone map | u32 CRC-32C of the footer
///   trailer  u64 footer offset | u32 footer length | u32 CRC-32C of the header | "FLSEGEND"
/// </code>
/// Segments of format 3 ("FLSEG003", the trailer's CRC zero) are read as they are, their header unchecked.
/// Written to a temporary name, flushed to disk, then renamed, so a reader sees a whole segment or none.
/// </summary>
public static partial class SegmentFile
{
    public const int DefaultBlockRows = 16384;
    private static readonly byte[] HeaderMagic = "FLSEG004"u8.ToArray();
    private static readonly byte[] OlderMagic = "FLSEG00"u8.ToArray();
    private static readonly byte[] TrailerMagic = "FLSEGEND"u8.ToArray();
    private const int HeaderLength = 16;
    private const int TrailerLength = 24;
    private const int ColumnHeaderLength = 16;
    private const int BlockIndexEntry = 16 + ZoneMap.Size;
    public static readonly FlowField[] Columns = FlowBatch.Fields.ToArray();

    /// <summary>Writes rows [0, batch.Count) as a segment at <paramref name="path"/>, durably.</summary>
    public static void Write(string path, FlowBatch batch, int blockRows = DefaultBlockRows, SegmentCodec codec = SegmentCodec.Brotli, bool sorted = false)
    {
        using var writer = new Writer(path, codec, sorted);
        for (var start = 0; start < batch.Count; start += blockRows)
        {
            writer.AppendBlock(batch, start, Math.Min(blockRows, batch.Count - start));
        }
        writer.Complete();
    }

    /// <summary>
    /// Writes a segment block by block to a temporary file; <see cref="Complete"/> adds the footer, makes it
    /// durable and renames it into place. Disposed without completing, it leaves nothing behind.
    /// </summary>
    public sealed class Writer : IDisposable
    {
        private readonly string _path;
        private readonly string _temporary;
        private readonly SegmentCodec _codec;
        private readonly SegmentOutput _file;
        private readonly ArrayBufferWriter<byte> _buffer;
        private readonly List<(long Offset, int Rows, int Length, ZoneMap Zone)> _index;
        private readonly byte[] _header = new byte[HeaderLength];
        private long _written;
        private bool _completed;
        private bool _bufferReleased;

        /// <param name="sorted">The caller promises the rows come in <see cref="RowOrder"/>; recorded in the header.</param>
        /// <param name="run">An intermediate run of compaction (sorted, to be merged again); recorded in the header.</param>
        /// <param name="expectedBlocks">Blocks likely written: the index is made that large at once, not grown by doubling.</param>
        public Writer(string path, SegmentCodec codec = SegmentCodec.Brotli, bool sorted = false, bool run = false, int expectedBlocks = 0)
        {
            _index = new(expectedBlocks);
            _path = path;
            _temporary = path + ".tmp";
            _codec = codec;
            _file = new SegmentOutput(_temporary);
            _buffer = RentBuffer();
            var header = _buffer.GetSpan(HeaderLength);
            HeaderMagic.CopyTo(header);
            BinaryPrimitives.WriteUInt32LittleEndian(header[8..], (uint)Columns.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (sorted ? 1u : 0u) | (run ? 2u : 0u));
            header[..HeaderLength].CopyTo(_header);
            _buffer.Advance(HeaderLength);
            Drain();
        }

        public long Rows { get; private set; }

        private void Drain()
        {
            try
            {
                _file.Write(_buffer.WrittenSpan);
            }
            catch (IOException)
            {
                Abandon();
                throw;
            }
            _written += _buffer.WrittenCount;
            _buffer.ResetWrittenCount();
        }

        /// <summary>Encodes rows [start, start + rows) of <paramref name="batch"/> as one block.</summary>
        public void AppendBlock(FlowBatch batch, int start, int rows)
        {
            ObjectDisposedException.ThrowIf(_completed, this);
            if (rows <= 0) return;
            var offset = _written;
            foreach (var field in Columns)
            {
                var size = FlowBatch.ValueSize(field);
                var raw = batch.ColumnValues(field, start + rows)[(start * size)..];
                var columnHeaderAt = _buffer.WrittenCount;
                _buffer.GetSpan(ColumnHeaderLength)[..ColumnHeaderLength].Clear();
                _buffer.Advance(ColumnHeaderLength);
                var before = _buffer.WrittenCount;
                var reference = ColumnCodec.ReferenceOf(field) is { } r ? batch.ColumnValues(r, start + rows)[(start * size)..] : default;
                byte used;
                if (batch.IsZeroColumn(field))
                {
                    // Known to be all zeros (a group of columns the exporter never filled): stored as the
                    // constant it is, without reading the rows.
                    _buffer.GetSpan(size)[..size].Clear();
                    _buffer.Advance(size);
                    used = ColumnCodec.Constant;
                }
                else
                {
                    used = ColumnCodec.Encode(field, raw, size, _buffer, ColumnCodec.Preferred(_codec), reference);
                }
                var storedLength = _buffer.WrittenCount - before;
                var written = MemoryMarshal.AsMemory(_buffer.WrittenMemory).Span;
                var h = written.Slice(columnHeaderAt, ColumnHeaderLength);
                BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)storedLength);
                BinaryPrimitives.WriteUInt32LittleEndian(h[4..], (uint)raw.Length);
                BinaryPrimitives.WriteUInt32LittleEndian(h[8..], Checksum.Crc32C(written.Slice(before, storedLength)));
                h[12] = used;
                // The codec byte is not under the column's checksum: its complement beside it catches a flipped bit.
                h[13] = (byte)~used;
            }
            var length = _buffer.WrittenCount;
            Drain();
            _index.Add((offset, rows, length, ZoneMap.Of(batch, start, rows)));
            Rows += rows;
        }

        /// <summary>Footer, trailer, flush to disk, rename, directory flush: from here on the segment exists.</summary>
        public void Complete()
        {
            ObjectDisposedException.ThrowIf(_completed, this);
            var footerOffset = _written;
            var footer = _buffer.GetSpan(4 + _index.Count * BlockIndexEntry + 4);
            BinaryPrimitives.WriteUInt32LittleEndian(footer, (uint)_index.Count);
            var at = 4;
            foreach (var (offset, rows, length, zone) in _index)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(footer[at..], (ulong)offset);
                BinaryPrimitives.WriteUInt32LittleEndian(footer[(at + 8)..], (uint)rows);
                BinaryPrimitives.WriteUInt32LittleEndian(footer[(at + 12)..], (uint)length);
                var z = zone;
                MemoryMarshal.AsBytes(new ReadOnlySpan<ZoneMap>(in z))[..ZoneMap.Size].CopyTo(footer[(at + 16)..]);
                at += BlockIndexEntry;
            }
            BinaryPrimitives.WriteUInt32LittleEndian(footer[at..], Checksum.Crc32C(footer[..at]));
            _buffer.Advance(at + 4);
            var trailer = _buffer.GetSpan(TrailerLength);
            BinaryPrimitives.WriteUInt64LittleEndian(trailer, (ulong)footerOffset);
            BinaryPrimitives.WriteUInt32LittleEndian(trailer[8..], (uint)(at + 4));
            BinaryPrimitives.WriteUInt32LittleEndian(trailer[12..], Checksum.Crc32C(_header));
            TrailerMagic.CopyTo(trailer[16..]);
            _buffer.Advance(TrailerLength);
            Drain();
            try
            {
                _file.Complete();
                ReleaseBuffer();
                File.Move(_temporary, _path, overwrite: true);
            }
            catch (IOException)
            {
                // A full disk or an I/O error: leave no partial file behind; the caller keeps its rows.
                Abandon();
                throw;
            }
            _completed = true;
            AtomicFile.SyncDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(_path))!);
        }

        private void Abandon()
        {
            _completed = true;
            _file.Dispose();
            ReleaseBuffer();
            try { File.Delete(_temporary); } catch (IOException) { }
        }

        // Blocks are encoded into a buffer kept from segment to segment: a commit touches no new memory.
        private static readonly Stack<ArrayBufferWriter<byte>> SpareBuffers = new();

        private static ArrayBufferWriter<byte> RentBuffer()
        {
            lock (SpareBuffers)
            {
                if (SpareBuffers.Count > 0) return SpareBuffers.Pop();
            }
            return new ArrayBufferWriter<byte>(1 << 16);
        }

        private void ReleaseBuffer()
        {
            if (_bufferReleased) return;
            _bufferReleased = true;
            _buffer.ResetWrittenCount();
            lock (SpareBuffers)
            {
                if (SpareBuffers.Count < 4) SpareBuffers.Push(_buffer);
            }
        }

        public void Dispose()
        {
            if (!_completed) Abandon();
        }
    }

    /// <summary>
    /// The block index of a segment, after checking the trailer and the footer checksum. Blocks are read
    /// from the file on demand (positioned reads), so a query that skips most blocks reads little.
    /// Not for concurrent use; dispose to close the file.
    /// </summary>
    public sealed partial class Reader : IDisposable
    {
        private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _file;
        private byte[] _block = [];
        private int _loaded = -1;

        /// <param name="repairHeader">For salvage: a damaged header is rebuilt when one of the headers the format allows has the checksum the trailer keeps.</param>
        public Reader(string path, bool repairHeader = false) : this(path, OpenOrCorrupt(path), repairHeader)
        {
        }

        /// <summary>Reads the index of a segment through a file already open (which the reader then owns).</summary>
        public Reader(string path, Microsoft.Win32.SafeHandles.SafeFileHandle file, bool repairHeader = false)
        {
            Path = path;
            _file = file;
            _repairHeader = repairHeader;
            try
            {
                SizeBytes = RandomAccess.GetLength(_file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _file.Dispose();
                throw new SegmentCorruptException(path, -1, $"cannot be read: {e.Message}");
            }
            try
            {
                foreach (var b in Blocks = ReadIndex()) Rows += b.Rows;
            }
            catch
            {
                _file.Dispose();
                throw;
            }
        }

        private BlockInfo[] ReadIndex()
        {
            var path = Path;
            Span<byte> head = stackalloc byte[HeaderLength];
            Span<byte> trailer = stackalloc byte[TrailerLength];
            var read = SizeBytes >= HeaderLength + TrailerLength && ReadAt(0, head) == HeaderLength && ReadAt(SizeBytes - TrailerLength, trailer) == TrailerLength;
            var format = read && head[..7].SequenceEqual(OlderMagic) && head[7] is >= (byte)'1' and <= (byte)'9' ? head[7] - '0' : -1;
            // Format 4 keeps its header's CRC in the trailer, where earlier formats left zeros: beside a CRC, a format
            // byte that reads otherwise was damaged (and the CRC says so).
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(trailer[12..]);
            if (_repairHeader && read && crc != 0 && trailer[^8..].SequenceEqual(TrailerMagic) && Checksum.Crc32C(head) != crc && RepairHeader(head, crc))
            {
                HeaderRepaired = true;
                format = 4;
            }
            if (format > 0 && trailer[^8..].SequenceEqual(TrailerMagic) && (format == 4 || crc != 0) && Checksum.Crc32C(head) != crc)
            {
                throw new SegmentCorruptException(path, -1, "header checksum mismatch");
            }
            if (format is 1 or 2) throw new SegmentCorruptException(path, -1, $"written in an earlier segment format ({System.Text.Encoding.ASCII.GetString(head[..8])}); import its flows again");
            if (format is not (3 or 4)) throw new SegmentCorruptException(path, -1, "not a Flowline segment (bad header)");
            var flags = BinaryPrimitives.ReadUInt32LittleEndian(head[12..]);
            Sorted = (flags & 1) != 0;
            Run = (flags & 2) != 0;
            // Segments written before columns were added hold a prefix of today's columns; the rest read as zero.
            var columns = BinaryPrimitives.ReadUInt32LittleEndian(head[8..]);
            if (columns == 0 || columns > Columns.Length)
            {
                throw new SegmentCorruptException(path, -1, $"has {columns} columns; this Flowline knows {Columns.Length} (written by a newer version?)");
            }
            ColumnCount = (int)columns;
            if (!trailer[^8..].SequenceEqual(TrailerMagic))
            {
                throw new SegmentCorruptException(path, -1, "incomplete: the trailer is missing");
            }
            var footerOffset = BinaryPrimitives.ReadUInt64LittleEndian(trailer);
            var footerLength = BinaryPrimitives.ReadUInt32LittleEndian(trailer[8..]);
            if (footerLength < 8 || footerOffset + footerLength != (ulong)(SizeBytes - TrailerLength))
            {
                throw new SegmentCorruptException(path, -1, "footer position is inconsistent");
            }
            var footer = new byte[footerLength].AsSpan();
            ReadAt((long)footerOffset, footer);
            if (Checksum.Crc32C(footer[..^4]) != BinaryPrimitives.ReadUInt32LittleEndian(footer[^4..]))
            {
                throw new SegmentCorruptException(path, -1, "footer checksum mismatch");
            }
            var count = BinaryPrimitives.ReadUInt32LittleEndian(footer);
            if ((ulong)count * BlockIndexEntry + 8 != footerLength)
            {
                throw new SegmentCorruptException(path, -1, "footer length does not match its block count");
            }
            var blocks = new BlockInfo[count];
            for (var i = 0; i < count; i++)
            {
                var e = footer.Slice(4 + i * BlockIndexEntry, BlockIndexEntry);
                var zone = MemoryMarshal.Read<ZoneMap>(e[16..]);
                blocks[i] = new BlockInfo((long)BinaryPrimitives.ReadUInt64LittleEndian(e), (int)BinaryPrimitives.ReadUInt32LittleEndian(e[8..]),
                    (int)BinaryPrimitives.ReadUInt32LittleEndian(e[12..]), zone);
                if (blocks[i].Offset < HeaderLength || blocks[i].Offset + blocks[i].Length > (long)footerOffset || blocks[i].Rows <= 0)
                {
                    throw new SegmentCorruptException(path, i, "block index entry out of range");
                }
            }
            return blocks;
        }

        private int ReadAt(long offset, Span<byte> into)
        {
            var total = 0;
            try
            {
                while (total < into.Length)
                {
                    var n = RandomAccess.Read(_file, into[total..], offset + total);
                    if (n == 0) break;
                    total += n;
                }
            }
            catch (IOException e)
            {
                throw new SegmentCorruptException(Path, -1, $"cannot be read: {e.Message}");
            }
            return total;
        }

        public string Path { get; }
        public BlockInfo[] Blocks { get; }
        /// <summary>Rows of all the blocks, counted once: compaction compares inputs by it at every round.</summary>
        public long Rows { get; }
        public long SizeBytes { get; }
        /// <summary>The rows are in <see cref="RowOrder"/>.</summary>
        public bool Sorted { get; private set; }

        /// <summary>An intermediate run of compaction: sorted, but not yet merged into its partition's final segment.</summary>
        public bool Run { get; private set; }

        /// <summary>How many of <see cref="Columns"/> (a prefix) the file holds.</summary>
        public int ColumnCount { get; private set; }

        private ReadOnlySpan<FlowField> Stored => Columns.AsSpan(0, ColumnCount);

        public void Dispose()
        {
            _file.Dispose();
            ReleaseBuffer();
        }

        /// <summary>Adds each column's stored bytes in block <paramref name="index"/> to <paramref name="sizes"/> (indexed by field).</summary>
        public void AddColumnSizes(int index, long[] sizes)
        {
            var d = Load(index);
            var at = 0;
            foreach (var f in Stored)
            {
                if (d.Length - at < ColumnHeaderLength) throw new SegmentCorruptException(Path, index, $"column {FlowFields.Name(f)} is cut short");
                var stored = (int)BinaryPrimitives.ReadUInt32LittleEndian(d[at..]);
                sizes[(int)f] += stored + ColumnHeaderLength;
                at += ColumnHeaderLength + stored;
            }
        }

        /// <summary>
        /// The sorted distinct values of an address column in a block when it is dictionary-encoded (the
        /// rest of the block is not decoded), else null. Checks the column's checksum.
        /// </summary>
        /// <summary>
        /// A column header's codec byte, checked against its complement (segments written before the check have
        /// zeros there, and are read as they were).
        /// </summary>
        private byte Codec(ReadOnlySpan<byte> h, int index, FlowField field)
        {
            if ((h[13] | h[14] | h[15]) != 0 && h[13] != (byte)~h[12])
                throw new SegmentCorruptException(Path, index, $"column {FlowFields.Name(field)}: the codec byte does not match its check");
            return h[12];
        }

        public FlowAddress[]? Dictionary(int index, FlowField field)
        {
            var d = Load(index);
            var at = 0;
            foreach (var f in Stored)
            {
                if (d.Length - at < ColumnHeaderLength) throw new SegmentCorruptException(Path, index, $"column {FlowFields.Name(f)} is cut short");
                var h = d.Slice(at, ColumnHeaderLength);
                var stored = (int)BinaryPrimitives.ReadUInt32LittleEndian(h);
                at += ColumnHeaderLength;
                if (stored < 0 || stored > d.Length - at) throw new SegmentCorruptException(Path, index, $"column {FlowFields.Name(f)}: lengths are inconsistent");
                if (f == field)
                {
                    var bytes = d.Slice(at, stored);
                    if (Checksum.Crc32C(bytes) != BinaryPrimitives.ReadUInt32LittleEndian(h[8..]))
                    {
                        throw new SegmentCorruptException(Path, index, $"column {FlowFields.Name(f)}: checksum mismatch");
                    }
                    return ColumnCodec.ReadDictionary(Codec(h, index, f), bytes);
                }
                at += stored;
            }
            return null;
        }

        /// <summary>
        /// Appends block <paramref name="index"/>'s rows to <paramref name="into"/>, checking each decoded column's checksum.
        /// With <paramref name="columns"/>, only those columns are decoded; the others are set to zero, unless
        /// <paramref name="skippedAreZero"/> says the caller's batch already holds zeros there (a batch only
        /// ever filled with the same projection), which saves clearing them block after block.
        /// </summary>
        public void ReadBlock(int index, FlowBatch into, IReadOnlySet<FlowField>? columns = null, bool skippedAreZero = false)
        {
            var info = Blocks[index];
            var start = into.Count;
            var rows = info.Rows;
            into.EnsureCapacity(start + rows);
            var d = Load(index);
            var at = 0;
            columns = WithReferences(columns);
            Span<bool> referenced = stackalloc bool[Columns.Length];
            foreach (var field in Columns.AsSpan(ColumnCount))
            {
                // Columns this segment does not have read as zero; a column known to hold zeros already does.
                if ((!skippedAreZero || columns is null || columns.Contains(field)) && !into.IsZeroColumn(field))
                {
                    var size = FlowBatch.ValueSize(field);
                    into.ColumnBytes(field, start + rows)[(start * size)..].Clear();
                }
            }
            foreach (var field in Stored)
            {
                if (d.Length - at < ColumnHeaderLength) throw new SegmentCorruptException(Path, index, $"column {FlowFields.Name(field)} is cut short");
                var h = d.Slice(at, ColumnHeaderLength);
                var stored = (int)BinaryPrimitives.ReadUInt32LittleEndian(h);
                var rawLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(h[4..]);
                var crc = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
                var size = FlowBatch.ValueSize(field);
                at += ColumnHeaderLength;
                if (stored < 0 || stored > d.Length - at || rawLength != rows * size)
                {
                    throw new SegmentCorruptException(Path, index, $"column {FlowFields.Name(field)}: lengths are inconsistent");
                }
                var bytes = d.Slice(at, stored);
                var codec = Codec(h, index, field);
                if (codec == ColumnCodec.Constant && into.IsZeroColumn(field) && !bytes.ContainsAnyExcept((byte)0))
                {
                    // Zeros where the batch holds zeros already: nothing to write, and the batch keeps knowing it.
                    if (Checksum.Crc32C(bytes) != crc) throw new SegmentCorruptException(Path, index, $"column {FlowFields.Name(field)}: checksum mismatch");
                    at += stored;
                    continue;
                }
                var target = into.ColumnBytes(field, start + rows)[(start * size)..];
                if (columns is not null && !columns.Contains(field))
                {
                    if (!skippedAreZero) target.Clear();
                    at += stored;
                    continue;
                }
                if (Checksum.Crc32C(bytes) != crc)
                {
                    throw new SegmentCorruptException(Path, index, $"column {FlowFields.Name(field)}: checksum mismatch");
                }
                if (!ColumnCodec.Decode(field, codec, bytes, target, size))
                {
                    throw new SegmentCorruptException(Path, index, $"column {FlowFields.Name(field)}: does not decode");
                }
                referenced[(int)field] = (codec & ColumnCodec.Referenced) != 0 && codec != ColumnCodec.Dictionary;
                at += stored;
            }
            foreach (var field in ColumnCodec.DecodeOrder)
            {
                if (!referenced[(int)field]) continue;
                var size = FlowBatch.ValueSize(field);
                ColumnCodec.AddReference(into.ColumnBytes(field, start + rows)[(start * size)..],
                    into.ColumnBytes(ColumnCodec.ReferenceOf(field)!.Value, start + rows)[(start * size)..]);
            }
            into.SetCount(start + rows);
        }
    }
}
