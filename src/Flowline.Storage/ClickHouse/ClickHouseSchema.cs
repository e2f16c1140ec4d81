using System.Text;
using Flowline.Records;

namespace Flowline.Storage.ClickHouse;

/// <summary>
/// How flow records are laid out in ClickHouse: one column per canonical field with the field's name and the
/// narrowest unsigned type its value has (times signed Int64 microseconds), addresses as two UInt64 columns
/// `name_hi` / `name_lo` (IPv4 mapped into IPv6, as in memory, so prefix masks are integer operations),
/// and `batch_id`, the identity of the insert that wrote the row (what makes a replayed insert idempotent).
/// Flow records only: the session rows' own columns are not there (sessions stay in each collector's
/// sessions store), which spares ClickHouse 17 columns of zeros in every insert and merge.
/// </summary>
public static class ClickHouseSchema
{
    public const string BatchColumn = "batch_id";
    public const string LocalTable = "flows_local";
    public const string Table = "flows";
    public const string SymbolsLocal = "symbols_local";
    public const string Symbols = "symbols";
    public const string StateLocal = "state_local";
    public const string State = "state";

    /// <summary>One Native column of a field: the whole value, or an address's high or low half.</summary>
    public readonly record struct Column(FlowField Field, string Name, string Type, int Size, int Half);

    public static IReadOnlyList<Column> Columns { get; } = Build();

    private static readonly Dictionary<string, Column> ByName = Columns.ToDictionary(c => c.Name, StringComparer.Ordinal);

    public static bool TryColumn(string name, out Column column) => ByName.TryGetValue(name, out column);

    /// <summary>The Native columns of <paramref name="field"/> (two for an address).</summary>
    public static IEnumerable<Column> Of(FlowField field) => Columns.Where(c => c.Field == field);

    public static bool IsSigned(FlowField f) => f is FlowField.TimeReceived or FlowField.Start or FlowField.End or FlowField.SetupTime or FlowField.TeardownTime;

    private static List<Column> Build()
    {
        var list = new List<Column>();
        foreach (var f in FlowBatch.Fields)
        {
            if (f is >= FlowField.SessionFlags and <= FlowField.RemotePrefix) continue; // a session row's own
            var name = FlowFields.Name(f);
            var size = FlowBatch.ValueSize(f);
            switch (size)
            {
                case 16:
                    list.Add(new Column(f, name + "_hi", "UInt64", 8, 1));
                    list.Add(new Column(f, name + "_lo", "UInt64", 8, 2));
                    break;
                case 8:
                    list.Add(new Column(f, name, IsSigned(f) ? "Int64" : "UInt64", 8, 0));
                    break;
                case 4:
                    list.Add(new Column(f, name, "UInt32", 4, 0));
                    break;
                case 2:
                    list.Add(new Column(f, name, "UInt16", 2, 0));
                    break;
                case 1:
                    list.Add(new Column(f, name, "UInt8", 1, 0));
                    break;
                default:
                    throw new InvalidOperationException($"{name}: no ClickHouse type for {size}-byte values");
            }
        }
        return list;
    }

    /// <summary>The SQL expression of a field's value as a number (addresses have none: use the halves).</summary>
    public static string Expr(FlowField field) => ClickHouseClient.Identifier(FlowFields.Name(field));

    /// <summary>
    /// The local table of a shard (or the one table of a single server): MergeTree partitioned by UTC day of
    /// the flow's start, ordered by account and start (a tenant's query reads its own rows of the range).
    /// </summary>
    public static string CreateLocal(string table)
    {
        var b = new StringBuilder().Append("CREATE TABLE IF NOT EXISTS ").Append(ClickHouseClient.Identifier(table)).Append(" (");
        foreach (var c in Columns) b.Append(ClickHouseClient.Identifier(c.Name)).Append(' ').Append(c.Type).Append(", ");
        b.Append(ClickHouseClient.Identifier(BatchColumn)).Append(" UInt64");
        b.Append(") ENGINE = MergeTree PARTITION BY ").Append(PartitionExpression)
            .Append(" ORDER BY (`account`, `start`) SETTINGS index_granularity = 8192");
        return b.ToString();
    }

    /// <summary>A row's partition: the UTC day of its start (yyyymmdd).</summary>
    public const string PartitionExpression = "toYYYYMMDD(toDateTime(intDiv(`start`, 1000000), 'UTC'))";

    /// <summary>The partition of a start time, as <see cref="PartitionExpression"/> computes it.</summary>
    public static int PartitionOf(long startMicros)
    {
        var day = DateTime.UnixEpoch.AddTicks(Aggregate(startMicros));
        return day.Year * 10000 + day.Month * 100 + day.Day;

        static long Aggregate(long micros)
        {
            // intDiv truncates towards zero; toDateTime of a negative second is clamped to the epoch.
            var seconds = Math.Max(0, micros / 1_000_000);
            return Math.Min(seconds, uint.MaxValue) * TimeSpan.TicksPerSecond;
        }
    }

    /// <summary>The first start (µs) of the day partition <paramref name="yyyymmdd"/> and the first of the next.</summary>
    public static (long From, long To) PartitionRange(int yyyymmdd)
    {
        var day = new DateTime(yyyymmdd / 10000, yyyymmdd / 100 % 100, yyyymmdd % 100, 0, 0, 0, DateTimeKind.Utc);
        var from = (day - DateTime.UnixEpoch).Ticks / 10;
        return (from, from + 86_400_000_000);
    }

    /// <summary>Names behind the symbol ids (accounts, networks, ports, rules, tags).</summary>
    public static string CreateSymbolsLocal(string table) =>
        $"CREATE TABLE IF NOT EXISTS {ClickHouseClient.Identifier(table)} (`id` UInt32, `name` String) ENGINE = ReplacingMergeTree ORDER BY `id`";

    /// <summary>State collectors share (templates, exporter options): a key, a version and a value; the newest version wins.</summary>
    public static string CreateStateLocal(string table) =>
        $"CREATE TABLE IF NOT EXISTS {ClickHouseClient.Identifier(table)} (`key` String, `version` UInt64, `value` String) ENGINE = ReplacingMergeTree(`version`) ORDER BY `key`";

    /// <summary>A Distributed table over <paramref name="local"/> on every shard of <paramref name="cluster"/>.</summary>
    public static string CreateDistributed(string table, string local, string cluster, string database) =>
        $"CREATE TABLE IF NOT EXISTS {ClickHouseClient.Identifier(table)} AS {ClickHouseClient.Identifier(local)} " +
        $"ENGINE = Distributed({ClickHouseClient.Identifier(cluster)}, {ClickHouseClient.Identifier(database)}, {ClickHouseClient.Identifier(local)}, rand())";
}
