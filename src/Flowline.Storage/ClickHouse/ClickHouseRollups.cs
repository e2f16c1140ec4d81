using System.Globalization;
using System.Text;
using Flowline.Query;
using Flowline.Records;
using Flowline.Storage.Embedded;

namespace Flowline.Storage.ClickHouse;

/// <summary>
/// The per-minute sums of the flows (bytes, packets, flows) by the embedded store's rollup key sets, each
/// with the account: a SummingMergeTree table per key set on every shard, filled by a materialised view on
/// the shard's flows table as each insert lands, read through a Distributed table. A grouping or top-N query
/// reads one instead of the flows by the embedded store's rule — nothing distinct counted, the filter (the
/// account scope included) and the keys use only the table's keys, the time range and the buckets on whole
/// minutes — so the answer is the same, because every flow of a minute went into its sums. The tables use the
/// flows' column names (`start` holds the minute's start), so the same filter and key expressions run on both.
/// Per minute only: ClickHouse 18.16 does not pass a view's rows on to the views of its target table, so an
/// hourly table would be a second aggregation of every insert (each view costs ClickHouse about 0.12 µs a
/// flow inserted), and a query over hours reads the minutes' sums, 60 a key an hour, still far fewer than flows.
/// </summary>
public static class ClickHouseRollups
{
    /// <summary>A rollup table: its keys (the account first) and bucket width (a minute).</summary>
    public sealed record Table(FlowField[] Keys, long Width)
    {
        /// <summary>The Distributed table (on one server, the local one).</summary>
        public string Name => "rollup_1m_" + string.Join("_", Keys.Skip(1).Select(FlowFields.Name).DefaultIfEmpty("total"));

        public string Local => Name + "_local";

        public string View => Name + "_mv";

        /// <summary>The table's key columns as stored (an address as its two halves), the account first.</summary>
        public IEnumerable<ClickHouseSchema.Column> Columns => Keys.SelectMany(ClickHouseSchema.Of);
    }

    /// <summary>Every table: each embedded key set with the account, per minute.</summary>
    public static IReadOnlyList<Table> Tables { get; } = [.. Rollups.KeySets.Select(k => new Table([FlowField.Account, .. k], Rollups.MinuteMicros))];

    /// <summary>The key of the shared state that says from which start time on the tables hold every flow.</summary>
    public const string ValidFromKey = "rollups/valid-from";

    /// <summary>The start from which on the tables hold every flow, as recorded in <paramref name="state"/>; null when none is.</summary>
    public static long? ValidFrom(ISharedState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        long? value = null;
        foreach (var (_, _, text) in state.Read(ValidFromKey))
        {
            if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)) value = v;
        }
        return value;
    }

    public static string CreateLocal(Table t)
    {
        var b = new StringBuilder("CREATE TABLE IF NOT EXISTS ").Append(ClickHouseClient.Identifier(t.Local)).Append(" (`start` Int64, ");
        foreach (var c in t.Columns) b.Append(ClickHouseClient.Identifier(c.Name)).Append(' ').Append(c.Type).Append(", ");
        b.Append("`bytes` UInt64, `packets` UInt64, `flows` UInt64) ENGINE = SummingMergeTree PARTITION BY ").Append(ClickHouseSchema.PartitionExpression)
            .Append(" ORDER BY (`account`, `start`");
        foreach (var c in t.Columns.Skip(1)) b.Append(", ").Append(ClickHouseClient.Identifier(c.Name));
        return b.Append(')').ToString();
    }

    /// <summary>The view that sums each insert into a shard's flows table into <paramref name="t"/> on the same shard.</summary>
    public static string CreateView(Table t)
    {
        var keys = ClickHouseSql.List(t.Columns.Select(c => c.Name));
        var width = $"toInt64({t.Width.ToString(CultureInfo.InvariantCulture)})";
        // Floored as ClickHouseSql.Bucket floors; named `start` like the column it is computed from (the
        // table-qualified name is the column, not the alias).
        var start = $"{ClickHouseClient.Identifier(ClickHouseSchema.LocalTable)}.`start`";
        var bucket = $"({start} - ((({start} % {width}) + {width}) % {width})) AS `start`";
        return $"CREATE MATERIALIZED VIEW IF NOT EXISTS {ClickHouseClient.Identifier(t.View)} TO {ClickHouseClient.Identifier(t.Local)} AS " +
            $"SELECT {bucket}, {keys}, sum(`bytes`) AS `bytes`, sum(`packets`) AS `packets`, count() AS `flows` " +
            $"FROM {ClickHouseClient.Identifier(ClickHouseSchema.LocalTable)} GROUP BY `start`, {keys}";
    }

    /// <summary>
    /// The table that answers <paramref name="query"/> over [from, to) exactly, or null: nothing distinct counted,
    /// every field the filter and the keys use among the table's keys, [from, to) and the buckets on its
    /// boundaries (the widest width that fits), and the range inside what the tables hold (from <paramref name="validFrom"/>).
    /// </summary>
    public static Table? Plan(long from, long to, FlowQuery query, long validFrom)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.CountDistinct is not null || query.Span || from < validFrom) return null;
        var needed = FilterColumns.Of(query.Filter);
        foreach (var k in query.GroupBy) needed.UnionWith(k.Reads);
        foreach (var width in Tables.Select(t => t.Width).Distinct().OrderDescending())
        {
            if (!On(from, width) || !On(to, width) || query.BucketMicros % width != 0) continue;
            var table = Tables.Where(t => t.Width == width && needed.All(t.Keys.Contains)).MinBy(t => t.Keys.Length);
            if (table is not null) return table;
        }
        return null;

        static bool On(long t, long width) => t == long.MinValue || t == long.MaxValue || t % width == 0;
    }
}
