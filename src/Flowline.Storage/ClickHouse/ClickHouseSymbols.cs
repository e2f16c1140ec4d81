using System.Text;
using System.Text.Json;
using Flowline.Records;

namespace Flowline.Storage.ClickHouse;

/// <summary>
/// The names behind symbol ids, shared by every collector and API node through ClickHouse. Several collectors
/// add names at once with no coordinator, so an id is not a counter but a hash of the name (FNV-1a, folded to
/// 32 bits, 0 skipped): two collectors give a name the same id without asking each other. A hash already
/// taken by another name moves on to the next probe (the name with a probe number). Every name is written to
/// each shard's table and read back through the Distributed table: one shard down does not lose a name.
/// </summary>
public sealed class ClickHouseSymbols : ISymbolTable
{
    private readonly ClickHouseClient _reader;
    private readonly IReadOnlyList<ClickHouseClient> _writers;
    private readonly string _readTable;
    private readonly object _lock = new();
    private readonly Dictionary<string, uint> _ids = new(StringComparer.Ordinal);
    private readonly Dictionary<uint, string> _names = [];
    private long _refreshed;

    /// <summary>Refreshes from ClickHouse on a name it does not know at most this often (an API node sees a collector's new names).</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(1);

    internal ClickHouseSymbols(ClickHouseClient reader, IReadOnlyList<ClickHouseClient> writers, string readTable)
    {
        _reader = reader;
        _writers = writers;
        _readTable = readTable;
        Refresh(null);
    }

    public int Count
    {
        get
        {
            lock (_lock) return _ids.Count;
        }
    }

    public string? Name(uint id)
    {
        if (id == 0) return null;
        lock (_lock)
        {
            if (_names.TryGetValue(id, out var name)) return name;
            if (Environment.TickCount64 - _refreshed < RefreshInterval.TotalMilliseconds) return null;
        }
        try
        {
            Refresh(null);
        }
        catch (ClickHouseException)
        {
            return null;
        }
        lock (_lock) return _names.GetValueOrDefault(id);
    }

    public bool TryFind(string name, out uint id)
    {
        lock (_lock)
        {
            if (_ids.TryGetValue(name, out id)) return true;
        }
        Refresh([name]);
        lock (_lock) return _ids.TryGetValue(name, out id);
    }

    public uint[] Intern(IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        foreach (var n in names)
        {
            if (Encoding.UTF8.GetByteCount(n) > SymbolTable.MaxLength) throw new ArgumentException($"a name of more than {SymbolTable.MaxLength} bytes");
        }
        var result = new uint[names.Count];
        List<string> missing;
        lock (_lock)
        {
            missing = names.Where(n => !_ids.ContainsKey(n)).Distinct(StringComparer.Ordinal).ToList();
        }
        if (missing.Count > 0)
        {
            // Names another collector may have added since: theirs are the ids to use.
            Refresh(missing);
            var added = new List<(uint Id, string Name)>();
            lock (_lock)
            {
                foreach (var name in missing)
                {
                    if (_ids.ContainsKey(name)) continue;
                    var id = IdOf(name, 0);
                    for (var probe = 1; id == 0 || _names.ContainsKey(id); probe++) id = IdOf(name, probe);
                    added.Add((id, name));
                    _names[id] = name;
                    _ids[name] = id;
                }
            }
            if (added.Count > 0) Write(added);
        }
        lock (_lock)
        {
            for (var i = 0; i < names.Count; i++) result[i] = _ids[names[i]];
        }
        return result;
    }

    /// <summary>The id a name takes at the given probe: FNV-1a 64 of its UTF-8 bytes (and the probe number), folded.</summary>
    internal static uint IdOf(string name, int probe)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(name))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }
        if (probe > 0)
        {
            for (var i = 0; i < 4; i++) hash = (hash ^ (byte)(probe >> (8 * i))) * 1099511628211UL;
        }
        return (uint)(hash ^ (hash >> 32));
    }

    private void Write(List<(uint Id, string Name)> added)
    {
        var body = new StringBuilder();
        foreach (var (id, name) in added)
        {
            body.Append(JsonSerializer.Serialize(new Dictionary<string, object> { ["id"] = id, ["name"] = name })).Append('\n');
        }
        try
        {
            ClickHouseClient.InsertEverywhere(_writers, $"INSERT INTO {ClickHouseClient.Identifier(ClickHouseSchema.SymbolsLocal)} FORMAT JSONEachRow",
                Encoding.UTF8.GetBytes(body.ToString()));
        }
        catch (ClickHouseException)
        {
            lock (_lock)
            {
                foreach (var (id, name) in added)
                {
                    _names.Remove(id);
                    _ids.Remove(name);
                }
            }
            throw;
        }
    }

    /// <summary>Reads the names ClickHouse holds (only <paramref name="only"/> when given).</summary>
    private void Refresh(IReadOnlyList<string>? only)
    {
        var where = only is null ? "" : " WHERE `name` IN (" + string.Join(", ", only.Select(ClickHouseClient.Quote)) + ")";
        var text = _reader.Execute($"SELECT DISTINCT `id`, `name` FROM {ClickHouseClient.Identifier(_readTable)}{where} FORMAT JSONEachRow",
            "skip_unavailable_shards=1");
        lock (_lock)
        {
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                using var doc = JsonDocument.Parse(line);
                var id = doc.RootElement.GetProperty("id").GetUInt32();
                var name = doc.RootElement.GetProperty("name").GetString()!;
                _names[id] = name;
                _ids[name] = id;
            }
            if (only is null) _refreshed = Environment.TickCount64;
        }
    }
}
