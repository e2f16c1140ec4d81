using System.Globalization;
using System.Text;
using System.Text.Json;
using Flowline.Query;

namespace Flowline.Storage.ClickHouse;

/// <summary>
/// The state collectors share through ClickHouse (`state`, a ReplacingMergeTree by key keeping the highest
/// version): written to every shard, read through the Distributed table, the newest version of each key winning.
/// Versions are the writer's clock in microseconds. Both methods throw <see cref="ClickHouseException"/> (an
/// <see cref="IOException"/>) when no server takes or answers them.
/// </summary>
public sealed class ClickHouseState : ISharedState
{
    private readonly ClickHouseClient _reader;
    private readonly IReadOnlyList<ClickHouseClient> _writers;
    private readonly string _readTable;
    private long _lastVersion;

    internal ClickHouseState(ClickHouseClient reader, IReadOnlyList<ClickHouseClient> writers, string readTable)
    {
        _reader = reader;
        _writers = writers;
        _readTable = readTable;
    }

    /// <summary>The state as one server holds it (its local table): what `clickhouse init` reads back.</summary>
    public static ClickHouseState OnServer(ClickHouseClient server) => new(server, [server], ClickHouseSchema.StateLocal);

    /// <summary>The largest value kept: a key's value is a small document (an exporter's templates).</summary>
    public const int MaxValueBytes = 4 << 20;

    public void Put(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (Encoding.UTF8.GetByteCount(value) > MaxValueBytes) throw new ArgumentException($"a shared value of more than {MaxValueBytes} bytes", nameof(value));
        long version;
        lock (_writers)
        {
            // Microseconds of the clock, and always past this writer's previous version.
            version = _lastVersion = Math.Max(_lastVersion + 1, (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10);
        }
        var row = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Dictionary<string, object> { ["key"] = key, ["version"] = version, ["value"] = value }) + "\n");
        ClickHouseClient.InsertEverywhere(_writers, $"INSERT INTO {ClickHouseClient.Identifier(ClickHouseSchema.StateLocal)} FORMAT JSONEachRow", row);
    }

    public IReadOnlyList<(string Key, long Version, string Value)> Read(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var like = ClickHouseClient.Quote(prefix.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal) + "%");
        var text = _reader.Execute($"SELECT `key`, max(`version`) AS v, argMax(`value`, `version`) AS newest FROM {ClickHouseClient.Identifier(_readTable)} " +
            $"WHERE `key` LIKE {like} GROUP BY `key` FORMAT JSONEachRow", "skip_unavailable_shards=1");
        var result = new List<(string, long, string)>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            var v = doc.RootElement.GetProperty("v");
            // JSONEachRow quotes 64-bit integers by default.
            var version = v.ValueKind == JsonValueKind.String ? long.Parse(v.GetString()!, CultureInfo.InvariantCulture) : v.GetInt64();
            result.Add((doc.RootElement.GetProperty("key").GetString()!, version, doc.RootElement.GetProperty("newest").GetString()!));
        }
        return result;
    }
}
