using System.Buffers.Binary;
using System.Text;
using Flowline.Storage.Segments;
using Flowline.Records;

namespace Flowline.Storage;

/// <summary>
/// The strings behind the enrichment columns (account ids, network names, port and rule uuids, tag
/// values), each stored once and referred to by a small id. Ids never change and are never reused: the
/// table only grows, and a segment written yesterday still names the same strings today.
/// <code>
///   symbols.dat   "FLSYM001" | entries: u32 length | UTF-8 bytes | u32 CRC-32C of length and bytes
/// </code>
/// Id n is the n-th entry (from 1; 0 is "none"). New strings are appended and flushed to disk before
/// <see cref="Intern(IReadOnlyList{string})"/> returns, so no stored row can refer to an id that a
/// crash could lose. A torn last entry (a crash mid-append) is cut off when the table is next opened.
/// </summary>
public sealed class SymbolTable : ISymbolTable
{
    public const string FileName = "symbols.dat";
    private static readonly byte[] Magic = "FLSYM001"u8.ToArray();
    /// <summary>Longer strings are refused: an inventory value this long is a mistake.</summary>
    public const int MaxLength = 4096;

    private readonly string? _path;
    private readonly bool _readOnly;
    private readonly object _lock = new();
    private readonly Dictionary<string, uint> _ids = new(StringComparer.Ordinal);
    /// <summary>Index id-1; replaced (never mutated in place) when it grows, so readers need no lock.</summary>
    private volatile string[] _names = [];
    private int _count;
    private long _length;

    /// <summary>A table kept only in memory (tests, and stores without a directory).</summary>
    public SymbolTable()
    {
    }

    /// <summary>Opens (or, unless <paramref name="readOnly"/>, creates) the table in <paramref name="directory"/>.</summary>
    public SymbolTable(string directory, bool readOnly = false)
    {
        _path = Path.Combine(directory, FileName);
        _readOnly = readOnly;
        Load();
    }

    public int Count => Volatile.Read(ref _count);

    public string? Name(uint id)
    {
        var names = _names;
        if (id == 0) return null;
        if (id <= names.Length) return names[id - 1];
        if (_readOnly && _path is not null)
        {
            // A reader next to a running collector: the writer may have added names since we opened.
            lock (_lock) Load();
            names = _names;
            if (id <= names.Length) return names[id - 1];
        }
        return null;
    }

    public bool TryFind(string name, out uint id)
    {
        lock (_lock)
        {
            if (_ids.TryGetValue(name, out id)) return true;
            if (!_readOnly || _path is null) return false;
            Load();
            return _ids.TryGetValue(name, out id);
        }
    }

    public uint Intern(string name) => Intern([name])[0];

    /// <summary>The ids of <paramref name="names"/>, adding the new ones durably in one write.</summary>
    public uint[] Intern(IReadOnlyList<string> names)
    {
        var ids = new uint[names.Count];
        lock (_lock)
        {
            List<string>? added = null;
            var next = (uint)_count;
            var pending = new Dictionary<string, uint>(StringComparer.Ordinal);
            for (var i = 0; i < names.Count; i++)
            {
                var name = names[i];
                ArgumentNullException.ThrowIfNull(name);
                if (Encoding.UTF8.GetByteCount(name) > MaxLength) throw new ArgumentException($"symbol longer than {MaxLength} bytes: {name[..40]}…");
                if (_ids.TryGetValue(name, out var id) || pending.TryGetValue(name, out id))
                {
                    ids[i] = id;
                    continue;
                }
                if (_readOnly) throw new InvalidOperationException("the symbol table is open read-only");
                id = ++next;
                pending.Add(name, id);
                (added ??= []).Add(name);
                ids[i] = id;
            }
            if (added is not null)
            {
                if (_path is not null) Append(added);
                var names2 = new string[_count + added.Count];
                _names.CopyTo(names2, 0);
                foreach (var name in added)
                {
                    names2[_count] = name;
                    _ids.Add(name, (uint)++_count);
                }
                _names = names2;
            }
        }
        return ids;
    }

    private void Append(List<string> added)
    {
        using var buffer = new MemoryStream();
        if (_length == 0) buffer.Write(Magic);
        foreach (var name in added)
        {
            var bytes = Encoding.UTF8.GetBytes(name);
            var entry = new byte[8 + bytes.Length];
            BinaryPrimitives.WriteUInt32LittleEndian(entry, (uint)bytes.Length);
            bytes.CopyTo(entry, 4);
            BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(4 + bytes.Length), Checksum.Crc32C(entry.AsSpan(0, 4 + bytes.Length)));
            buffer.Write(entry);
        }
        var created = !File.Exists(_path!);
        using (var file = new FileStream(_path!, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read))
        {
            file.SetLength(_length);
            file.Position = _length;
            file.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
            file.Flush(flushToDisk: true);
        }
        if (created) AtomicFile.SyncDirectory(Path.GetDirectoryName(_path!)!);
        _length += buffer.Length;
    }

    /// <summary>Reads entries past the ones already known; stops at (and, when writable, cuts off) a torn tail.</summary>
    private void Load()
    {
        if (!File.Exists(_path)) return;
        byte[] data;
        using (var file = new FileStream(_path!, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            data = new byte[file.Length];
            file.ReadExactly(data);
        }
        if (data.Length < Magic.Length)
        {
            if (data.Length > 0 && !_readOnly) File.WriteAllBytes(_path!, []);
            return;
        }
        if (!data.AsSpan(0, Magic.Length).SequenceEqual(Magic)) throw new InvalidDataException($"{_path}: not a Flowline symbol table");
        var at = Magic.Length;
        var index = 0;
        var names = new List<string>(_names);
        while (data.Length - at >= 8)
        {
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(at));
            if (length > MaxLength || data.Length - at - 8 < length) break;
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(at + 4 + length));
            if (Checksum.Crc32C(data.AsSpan(at, 4 + length)) != crc) break;
            if (index >= _count)
            {
                var name = Encoding.UTF8.GetString(data, at + 4, length);
                names.Add(name);
                _ids[name] = (uint)names.Count;
            }
            index++;
            at += 8 + length;
        }
        _count = names.Count;
        _names = [.. names];
        _length = at;
        if (at < data.Length && !_readOnly)
        {
            // A crash in the middle of an append: those names were never handed out.
            using var file = new FileStream(_path!, FileMode.Open, FileAccess.Write, FileShare.Read);
            file.SetLength(at);
            file.Flush(flushToDisk: true);
        }
    }
}
