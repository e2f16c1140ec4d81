using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Flowline.Records;
using Flowline.Storage.Segments;

namespace Flowline.Storage.ClickHouse;

/// <summary>
/// Inserts ClickHouse did not take, kept on disk until it does: one file per block, written whole through
/// <see cref="AtomicFile"/> (flushed, renamed, the directory flushed) before the flush that made it returns,
/// so a collector killed afterwards still has it when it starts again. Numbered in order; replayed oldest
/// first per shard.
/// <code>
///   NNNNNNNNNNNNNNNN.blk  "FLCHSP01" | u64 batch id | i32 shard | i32 day | i32 rows | i32 n | statement (n bytes UTF-8)
///                         | i32 m | body (m bytes, Native) | u32 CRC-32C of everything before
/// </code>
/// </summary>
public sealed class ClickHouseSpool
{
    private static readonly byte[] Magic = "FLCHSP01"u8.ToArray();
    private readonly string _directory;
    private readonly int _shards;
    private readonly object _lock = new();
    private readonly SortedDictionary<long, Entry>[] _pending;
    private long _next;

    /// <summary>A block as inserted: where it goes, what it holds, the INSERT statement and its Native body.</summary>
    public sealed record Block(ulong Id, int Shard, int Day, int Rows, string Statement, ReadOnlyMemory<byte> Body)
    {
        internal long Sequence { get; init; }
    }

    private sealed record Entry(string Path, ulong Id, int Shard, int Day, int Rows);

    public ClickHouseSpool(string directory, int shards)
    {
        _directory = directory;
        _shards = shards;
        Directory.CreateDirectory(directory);
        _pending = [.. Enumerable.Range(0, shards).Select(_ => new SortedDictionary<long, Entry>())];
        foreach (var path in Directory.EnumerateFiles(directory, "*.blk"))
        {
            if (!long.TryParse(Path.GetFileNameWithoutExtension(path), NumberStyles.None, CultureInfo.InvariantCulture, out var sequence)) continue;
            _next = Math.Max(_next, sequence + 1);
            var header = ReadHeader(path);
            if (header is null)
            {
                Quarantine(path);
                continue;
            }
            var (id, shard, day, rows) = header.Value;
            _pending[shard % shards][sequence] = new Entry(path, id, shard % shards, day, rows);
        }
    }

    /// <summary>Blocks waiting.</summary>
    public int Count
    {
        get
        {
            lock (_lock) return _pending.Sum(p => p.Count);
        }
    }

    /// <summary>Files found damaged (moved aside to bad/ and not replayed).</summary>
    public int Damaged { get; private set; }

    /// <summary>Blocks waiting for <paramref name="shard"/>.</summary>
    public int Waiting(int shard)
    {
        lock (_lock) return _pending[shard].Count;
    }

    public bool Pending(int shard)
    {
        lock (_lock) return _pending[shard].Count > 0;
    }

    /// <summary>Writes <paramref name="block"/> durably; it is then replayed in its turn.</summary>
    public void Add(Block block)
    {
        ArgumentNullException.ThrowIfNull(block);
        long sequence;
        lock (_lock) sequence = _next++;
        var path = Path.Combine(_directory, sequence.ToString("D16", CultureInfo.InvariantCulture) + ".blk");
        var statement = Encoding.UTF8.GetBytes(block.Statement);
        var length = Magic.Length + 8 + 4 * 4 + statement.Length + 4 + block.Body.Length + 4;
        var bytes = new byte[length];
        var at = 0;
        Magic.CopyTo(bytes, 0);
        at += Magic.Length;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), block.Id);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at + 8), block.Shard);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at + 12), block.Day);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at + 16), block.Rows);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at + 20), statement.Length);
        at += 24;
        statement.CopyTo(bytes, at);
        at += statement.Length;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), block.Body.Length);
        at += 4;
        block.Body.Span.CopyTo(bytes.AsSpan(at));
        at += block.Body.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), Checksum.Crc32C(bytes.AsSpan(0, at)));
        AtomicFile.Write(path, bytes);
        lock (_lock) _pending[block.Shard][sequence] = new Entry(path, block.Id, block.Shard, block.Day, block.Rows);
    }

    /// <summary>The oldest block waiting for <paramref name="shard"/>, read back and checked; null when none.</summary>
    public Block? Oldest(int shard)
    {
        while (true)
        {
            Entry entry;
            long sequence;
            lock (_lock)
            {
                if (_pending[shard].Count == 0) return null;
                (sequence, entry) = _pending[shard].First();
            }
            var block = Read(entry.Path);
            if (block is not null) return block with { Sequence = sequence };
            Quarantine(entry.Path);
            lock (_lock) _pending[shard].Remove(sequence);
        }
    }

    /// <summary>Forgets a block ClickHouse now holds.</summary>
    public void Remove(Block block)
    {
        ArgumentNullException.ThrowIfNull(block);
        lock (_lock)
        {
            if (!_pending[block.Shard].Remove(block.Sequence, out var entry)) return;
            File.Delete(entry.Path);
        }
    }

    private static (ulong Id, int Shard, int Day, int Rows)? ReadHeader(string path)
    {
        try
        {
            using var f = File.OpenRead(path);
            var header = new byte[Magic.Length + 24];
            if (f.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length || !header.AsSpan(0, Magic.Length).SequenceEqual(Magic)) return null;
            var h = header.AsSpan(Magic.Length);
            var shard = BinaryPrimitives.ReadInt32LittleEndian(h[8..]);
            var rows = BinaryPrimitives.ReadInt32LittleEndian(h[16..]);
            if (shard < 0 || rows < 0) return null;
            return (BinaryPrimitives.ReadUInt64LittleEndian(h), shard, BinaryPrimitives.ReadInt32LittleEndian(h[12..]), rows);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private Block? Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (IOException)
        {
            return null;
        }
        var min = Magic.Length + 24 + 4 + 4;
        if (bytes.Length < min || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic)) return null;
        var crcAt = bytes.Length - 4;
        if (Checksum.Crc32C(bytes.AsSpan(0, crcAt)) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(crcAt))) return null;
        var h = bytes.AsSpan(Magic.Length);
        var statementLength = BinaryPrimitives.ReadInt32LittleEndian(h[20..]);
        var at = Magic.Length + 24;
        if (statementLength < 0 || at + statementLength + 4 > crcAt) return null;
        var statement = Encoding.UTF8.GetString(bytes, at, statementLength);
        at += statementLength;
        var bodyLength = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at));
        at += 4;
        if (bodyLength != crcAt - at) return null;
        var shard = BinaryPrimitives.ReadInt32LittleEndian(h[8..]) % _shards;
        return new Block(BinaryPrimitives.ReadUInt64LittleEndian(h), shard, BinaryPrimitives.ReadInt32LittleEndian(h[12..]),
            BinaryPrimitives.ReadInt32LittleEndian(h[16..]), statement, bytes.AsMemory(at, bodyLength));
    }

    private void Quarantine(string path)
    {
        var bad = Path.Combine(_directory, "bad");
        Directory.CreateDirectory(bad);
        File.Move(path, Path.Combine(bad, Path.GetFileName(path)), overwrite: true);
        Damaged++;
    }
}
