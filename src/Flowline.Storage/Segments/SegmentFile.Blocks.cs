using System.Buffers;
using System.Buffers.Binary;
using Flowline.Records;

namespace Flowline.Storage.Segments;

public static partial class SegmentFile
{
    public sealed partial class Reader
    {
        private readonly bool _repairHeader;

        /// <summary>Whether the header was damaged and rebuilt (only when asked to repair it).</summary>
        public bool HeaderRepaired { get; private set; }

        /// <summary>
        /// Finds the header whose CRC-32C the trailer keeps among those format 4 allows (its magic, a column count
        /// this version knows, the two flag bits) and writes it into <paramref name="head"/>. A header damaged in
        /// any of its 16 bytes is so rebuilt exactly; false when none matches.
        /// </summary>
        private static bool RepairHeader(Span<byte> head, uint crc)
        {
            Span<byte> candidate = stackalloc byte[HeaderLength];
            HeaderMagic.CopyTo(candidate);
            for (uint flags = 0; flags < 4; flags++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(candidate[12..], flags);
                for (uint columns = 1; columns <= Columns.Length; columns++)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(candidate[8..], columns);
                    if (Checksum.Crc32C(candidate) != crc) continue;
                    candidate.CopyTo(head);
                    return true;
                }
            }
            return false;
        }

        /// <summary>Opens a segment's file for <see cref="Reader(string, Microsoft.Win32.SafeHandles.SafeFileHandle)"/>; a file that is gone throws <see cref="FileNotFoundException"/>.</summary>
        public static Microsoft.Win32.SafeHandles.SafeFileHandle Open(string path)
        {
            try
            {
                return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not FileNotFoundException and not DirectoryNotFoundException)
            {
                throw new SegmentCorruptException(path, -1, $"cannot be read: {e.Message}");
            }
        }

        private static Microsoft.Win32.SafeHandles.SafeFileHandle OpenOrCorrupt(string path)
        {
            try
            {
                return Open(path);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                throw new SegmentCorruptException(path, -1, $"cannot be read: {e.Message}");
            }
        }

        /// <summary>Lets go of the last block's stored bytes (a reader kept open while others are read).</summary>
        public void ReleaseBuffer()
        {
            // Pooled: a compaction opens and drops readers by the thousand, and each buffer of a block's size
            // left as garbage would wait for a full collection in the large-object heap.
            if (_block.Length > 0) ArrayPool<byte>.Shared.Return(_block);
            (_block, _loaded) = ([], -1);
        }

        /// <summary>The stored bytes of a block (kept until another block is loaded).</summary>
        private ReadOnlySpan<byte> Load(int index)
        {
            var info = Blocks[index];
            if (_loaded != index)
            {
                _loaded = -1;
                if (_block.Length < info.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(Math.Max(info.Length, _block.Length * 2));
                    ReleaseBuffer();
                    _block = larger;
                }
                if (ReadAt(info.Offset, _block.AsSpan(0, info.Length)) != info.Length)
                {
                    throw new SegmentCorruptException(Path, index, "block is cut short");
                }
                _loaded = index;
            }
            return _block.AsSpan(0, info.Length);
        }

        /// <summary>A projection plus the columns its columns are stored relative to.</summary>
        private static IReadOnlySet<FlowField>? WithReferences(IReadOnlySet<FlowField>? columns)
        {
            if (columns is null) return null;
            HashSet<FlowField>? wider = null;
            for (var d = ColumnCodec.DecodeOrder.Length - 1; d >= 0; d--)
            {
                var field = ColumnCodec.DecodeOrder[d];
                if (!(wider ?? columns).Contains(field)) continue;
                var reference = ColumnCodec.ReferenceOf(field)!.Value;
                if ((wider ?? columns).Contains(reference)) continue;
                wider ??= [.. columns];
                wider.Add(reference);
            }
            return wider ?? columns;
        }
    }
}
