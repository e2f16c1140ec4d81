using System.Globalization;
using System.Text;
using Flowline.Query;
using Flowline.Records;
using Flowline.Storage.Embedded;

namespace Flowline.Storage.ClickHouse;

/// <summary>Where a <see cref="ClickHouseStore"/> keeps its rows.</summary>
public sealed record ClickHouseStoreOptions
{
    /// <summary>The server statements and reads go to (http://host:8123).</summary>
    public required Uri Url { get; init; }

    public string Database { get; init; } = "flowline";

    /// <summary>The cluster of the Distributed tables (its `remote_servers` name); null for one server.</summary>
    public string? Cluster { get; init; }

    /// <summary>
    /// The HTTP address of each shard's server, in the cluster's shard order: collectors write each insert to
    /// one shard's local table directly (an insert is then one part on one server, all or nothing, and its
    /// retry can be checked). Defaults to the cluster's hosts on <see cref="Url"/>'s port, or <see cref="Url"/> alone.
    /// </summary>
    public IReadOnlyList<Uri>? Shards { get; init; }

    /// <summary>Where inserts ClickHouse did not take wait, on disk, to be replayed; null: a failed insert fails the flush.</summary>
    public string? SpoolDirectory { get; init; }

    /// <summary>Appended rows are inserted within this time, or at <see cref="IFlowStore.Flush"/>.</summary>
    public TimeSpan GroupCommit { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Rows buffered before an insert is started without waiting for the group commit.</summary>
    public int MaxBufferedRows { get; init; } = 262_144;

    /// <summary>Creates the tables when they are missing (`flowline clickhouse init` does it explicitly).</summary>
    public bool CreateTables { get; init; } = true;

    /// <summary>No appends (an API node).</summary>
    public bool ReadOnly { get; init; }

    /// <summary>
    /// How long an insert (or a statement at start) may go unanswered: then the block is spooled, and the shard
    /// takes no new block until its spool has been replayed. A server that hangs (stopped, swapping, a network
    /// that drops packets) holds the other shards' inserts no longer than this.
    /// </summary>
    public TimeSpan InsertTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a read may wait for ClickHouse's first answer (its rows then stream for as long as they take).</summary>
    public TimeSpan QueryTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Hears a shard start to fail (its blocks spooled from then on): the shard's address and ClickHouse's answer.</summary>
    public Action<string, string>? ShardFailing { get; init; }

    /// <summary>Hears a shard's spool replayed whole: the shard's address, blocks and rows.</summary>
    public Action<string, int, long>? ShardRecovered { get; init; }
}

/// <summary>
/// The flow store on ClickHouse: MergeTree tables partitioned by day on one server or on every shard of a
/// cluster, read through a Distributed table. Filters and groupings the query model can say in SQL run in
/// ClickHouse; what comes back is still put through the same evaluator and aggregator as the embedded
/// store's rows, so answers, their order and their cuts are the same.
/// </summary>
public sealed partial class ClickHouseStore : IFlowStore
{
    private readonly ClickHouseStoreOptions _options;
    private readonly ClickHouseClient _reader;
    private readonly ClickHouseClient[] _shards;
    private readonly string _readTable;
    private readonly ClickHouseSymbols _symbols;

    public ClickHouseStore(ClickHouseStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _reader = new ClickHouseClient(options.Url, options.Database, options.QueryTimeout);
        IReadOnlyList<Uri> shards;
        if (options.Shards is not null) shards = options.Shards;
        else if (options.Cluster is null) shards = [options.Url];
        else
        {
            using var system = new ClickHouseClient(options.Url, "system", options.InsertTimeout);
            shards = ClusterShards(system, options.Cluster, options.Url);
        }
        _shards = [.. shards.Select(u => new ClickHouseClient(u, options.Database, options.InsertTimeout))];
        _readTable = options.Cluster is null ? ClickHouseSchema.LocalTable : ClickHouseSchema.Table;
        if (options.CreateTables && !options.ReadOnly) CreateSchema(options.Url, options.Database, options.Cluster, shards, options.InsertTimeout);
        _symbols = new ClickHouseSymbols(_reader, _shards, options.Cluster is null ? ClickHouseSchema.SymbolsLocal : ClickHouseSchema.Symbols);
        Shared = new ClickHouseState(_reader, _shards, options.Cluster is null ? ClickHouseSchema.StateLocal : ClickHouseSchema.State);
        if (!options.ReadOnly) StartWriting();
    }

    public ISymbolTable Symbols => _symbols;

    /// <summary>Templates and exporter options the collectors of this store share.</summary>
    public ISharedState Shared { get; }

    /// <summary>
    /// Creates the database and tables on every shard (and the Distributed tables on each), if missing. Rollup
    /// views created over flows already stored hold only what is inserted from then on: they are then used
    /// for ranges from the next whole hour on (<see cref="ClickHouseRollups.ValidFromKey"/>).
    /// </summary>
    public static void CreateSchema(Uri url, string database, string? cluster, IReadOnlyList<Uri> shards, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(shards);
        var servers = shards.ToList();
        if (!servers.Contains(url)) servers.Add(url);
        bool created = false, populated = false;
        foreach (var server in servers)
        {
            using (var root = new ClickHouseClient(server, "default", timeout))
            {
                root.Execute($"CREATE DATABASE IF NOT EXISTS {ClickHouseClient.Identifier(database)}");
            }
            using var c = new ClickHouseClient(server, database, timeout);
            c.Execute(ClickHouseSchema.CreateLocal(ClickHouseSchema.LocalTable));
            c.Execute(ClickHouseSchema.CreateSymbolsLocal(ClickHouseSchema.SymbolsLocal));
            c.Execute(ClickHouseSchema.CreateStateLocal(ClickHouseSchema.StateLocal));
            var views = c.Execute($"SELECT name FROM system.tables WHERE database = {ClickHouseClient.Quote(database)} AND engine = 'MaterializedView' FORMAT TabSeparated")
                .Split('\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
            var missing = ClickHouseRollups.Tables.Where(t => !views.Contains(t.View)).ToList();
            if (missing.Count > 0)
            {
                populated |= c.Execute($"SELECT count() FROM {ClickHouseClient.Identifier(ClickHouseSchema.LocalTable)} FORMAT TabSeparated").Trim() != "0";
                created = true;
            }
            foreach (var t in ClickHouseRollups.Tables)
            {
                c.Execute(ClickHouseRollups.CreateLocal(t));
                if (missing.Contains(t)) c.Execute(ClickHouseRollups.CreateView(t));
            }
            if (cluster is null) continue;
            c.Execute(ClickHouseSchema.CreateDistributed(ClickHouseSchema.Table, ClickHouseSchema.LocalTable, cluster, database));
            c.Execute(ClickHouseSchema.CreateDistributed(ClickHouseSchema.Symbols, ClickHouseSchema.SymbolsLocal, cluster, database));
            c.Execute(ClickHouseSchema.CreateDistributed(ClickHouseSchema.State, ClickHouseSchema.StateLocal, cluster, database));
            foreach (var t in ClickHouseRollups.Tables) c.Execute(ClickHouseSchema.CreateDistributed(t.Name, t.Local, cluster, database));
        }
        if (!created) return;
        // Flows inserted before a view existed are not in its sums: the next whole hour on, every flow is
        // (one already stored would have to start in the future).
        var validFrom = long.MinValue;
        if (populated)
        {
            var now = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10;
            validFrom = (now / Rollups.HourMicros + 1) * Rollups.HourMicros;
        }
        var writers = shards.Select(u => new ClickHouseClient(u, database, timeout)).ToList();
        try
        {
            new ClickHouseState(writers[0], writers, ClickHouseSchema.StateLocal).Put(ClickHouseRollups.ValidFromKey, validFrom.ToString(CultureInfo.InvariantCulture));
        }
        finally
        {
            foreach (var w in writers) w.Dispose();
        }
    }

    /// <summary>The HTTP addresses of a cluster's shards (first replica each), from `system.clusters`, on <paramref name="url"/>'s port.</summary>
    public static IReadOnlyList<Uri> ClusterShards(ClickHouseClient client, string cluster, Uri url)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(url);
        var text = client.Execute($"SELECT shard_num, host_address FROM system.clusters WHERE cluster = {ClickHouseClient.Quote(cluster)} AND replica_num = 1 ORDER BY shard_num FORMAT TabSeparated");
        var shards = new List<Uri>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var host = line.Split('\t')[1];
            if (host.Contains(':', StringComparison.Ordinal)) host = $"[{host}]";
            shards.Add(new UriBuilder(url.Scheme, host, url.Port).Uri);
        }
        if (shards.Count == 0) throw new ClickHouseException(0, $"no cluster '{cluster}' in the server's remote_servers", url.Authority);
        // Shards on one host told apart by their native ports only: on one HTTP port they would be one server, taken twice.
        if (shards.GroupBy(s => s.Authority).FirstOrDefault(g => g.Count() > 1) is { } same)
        {
            throw new ClickHouseException(0, $"cluster '{cluster}' has {same.Count()} shards on {same.Key} (its hosts with this address's HTTP port): give each shard's HTTP address with &shards=HOST:PORT,HOST:PORT", url.Authority);
        }
        return shards;
    }

    public IEnumerable<FlowBatch> Scan(long from, long to, FilterNode filter, IReadOnlySet<FlowField>? columns = null)
    {
        var where = ClickHouseSql.Where(filter, out _);
        return Select(Columns(filter, columns), $"{ClickHouseSql.TimeRange(from, to)} AND {where}", limit: 0);
    }

    public IEnumerable<FlowRecord> Rows(long from, long to, FilterNode filter, IReadOnlySet<FlowField>? columns = null, long limit = 0)
    {
        var where = ClickHouseSql.Where(filter, out var exact);
        var batches = Select(Columns(filter, columns), $"{ClickHouseSql.TimeRange(from, to)} AND {where}", exact ? limit : 0);
        return QueryRunner.Rows(batches, filter, limit);
    }

    private static List<string> Columns(FilterNode filter, IReadOnlySet<FlowField>? columns)
    {
        IEnumerable<FlowField> fields;
        if (columns is null)
        {
            fields = FlowFields.All;
        }
        else
        {
            var set = FilterColumns.Of(filter);
            set.UnionWith(columns);
            set.Add(FlowField.Start);
            fields = set.Order();
        }
        return [.. fields.SelectMany(ClickHouseSchema.Of).Select(c => c.Name)];
    }

    private IEnumerable<FlowBatch> Select(List<string> columns, string where, long limit)
    {
        var sql = $"SELECT {ClickHouseSql.List(columns)} FROM {ClickHouseClient.Identifier(_readTable)} WHERE {where}" +
            (limit > 0 ? $" LIMIT {limit.ToString(CultureInfo.InvariantCulture)}" : "") + " FORMAT Native";
        return Read(sql);
    }

    private IEnumerable<FlowBatch> Read(string sql)
    {
        using var response = _reader.Query(sql);
        using var stream = response.Content.ReadAsStream();
        var reader = new NativeFormat.Reader(stream);
        while (reader.Next()) yield return reader.Batch;
    }

    /// <summary>
    /// Groups in ClickHouse when the filter has an exact SQL form and the key columns do not collide (two keys,
    /// or a key and the distinct field, on the same column): one row per bucket, key and distinct value, with
    /// the sums; the aggregator then orders and cuts them as it does the embedded store's groups.
    /// </summary>
    public Aggregator.AggregateResult Aggregate(long from, long to, FlowQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var where = ClickHouseSql.Where(query.Filter, out var exact);
        if (query.GroupBy.Any(k => k.OwnMask || !ClickHouseSchema.Of(k.Field).Any()) || query.CountDistinct is { } none && !ClickHouseSchema.Of(none).Any())
        {
            // A session row's own field (not stored here, zero in every flow), or a network by each flow's own mask:
            // the aggregator groups the scanned rows.
            return QueryRunner.Aggregate(Scan(from, to, query.Filter, FilterColumns.Of(query)), query);
        }
        var keys = new List<(string Expression, ClickHouseSchema.Column Column)>();
        foreach (var k in query.GroupBy) keys.AddRange(ClickHouseSql.Key(k));
        if (query.CountDistinct is { } d && !query.GroupBy.Contains(new GroupKey(d))) keys.AddRange(ClickHouseSql.Key(new GroupKey(d)));
        var distinctKeys = keys.DistinctBy(k => k.Column.Name).ToList();
        var collide = distinctKeys.Count != keys.Count && keys.GroupBy(k => k.Column.Name).Any(g => g.Select(x => x.Expression).Distinct().Count() > 1);
        // A bucket is the `start` column of the answer, which a group's span would need as well: the rows then.
        if (!exact || collide || query.Span && query.BucketMicros > 0) return QueryRunner.Aggregate(Scan(from, to, query.Filter, FilterColumns.Of(query)), query);

        var inner = new StringBuilder("SELECT ");
        var outer = new StringBuilder("SELECT ");
        var groupBy = new List<string>();
        if (query.BucketMicros > 0)
        {
            inner.Append(ClickHouseSql.Bucket(query.BucketMicros)).Append(" AS k_bucket, ");
            outer.Append("k_bucket AS `start`, ");
            groupBy.Add("k_bucket");
        }
        for (var i = 0; i < distinctKeys.Count; i++)
        {
            inner.Append(distinctKeys[i].Expression).Append(" AS k").Append(i).Append(", ");
            outer.Append('k').Append(i).Append(" AS ").Append(ClickHouseClient.Identifier(distinctKeys[i].Column.Name)).Append(", ");
            groupBy.Add($"k{i}");
        }
        // A rollup table where it gives the same answer: its rows are sums, their flows a column.
        var rollup = ClickHouseRollups.Plan(from, to, query, RollupsValidFrom());
        if (rollup is not null) Interlocked.Increment(ref _rollupQueries);
        inner.Append("sum(`bytes`) AS s_bytes, sum(`packets`) AS s_packets, ").Append(rollup is null ? "count()" : "sum(`flows`)").Append(" AS s_flows FROM ")
            .Append(ClickHouseClient.Identifier(rollup is null ? _readTable : _options.Cluster is null ? rollup.Local : rollup.Name)).Append(" WHERE ").Append(ClickHouseSql.TimeRange(from, to)).Append(" AND ").Append(where);
        if (groupBy.Count > 0) inner.Append(" GROUP BY ").Append(string.Join(", ", groupBy));
        if (query.Span)
        {
            // Each group's span as one row's start and end: the aggregator keeps the least start and greatest end.
            inner.Insert("SELECT ".Length, "min(`start`) AS s_first, max(`end`) AS s_last, ");
            outer.Append("s_first AS `start`, s_last AS `end`, ");
        }
        outer.Append("toUInt64(s_bytes) AS `bytes`, toUInt64(s_packets) AS `packets`, toUInt64(s_flows) AS `flows` FROM (").Append(inner).Append(") FORMAT Native");

        var aggregator = new Aggregator(query);
        var selection = Array.Empty<ulong>();
        // Two-level aggregation whatever the group count: the groups come back in blocks of one bucket each
        // (a single-level GROUP BY answers in one block, millions of rows at once).
        using var response = _reader.Query(outer.ToString(), "group_by_two_level_threshold=1&group_by_two_level_threshold_bytes=1");
        using var stream = response.Content.ReadAsStream();
        var reader = new NativeFormat.Reader(stream);
        while (reader.Next())
        {
            var batch = reader.Batch;
            var words = FilterEvaluator.Words(batch.Count);
            if (selection.Length < words) selection = new ulong[words];
            selection.AsSpan(0, words).Fill(ulong.MaxValue);
            if (batch.Count % 64 != 0) selection[words - 1] = (1UL << (batch.Count % 64)) - 1;
            aggregator.Add(batch, selection.AsSpan(0, words), reader.Flows.AsSpan(0, batch.Count));
        }
        return aggregator.Result();
    }

    private long _rollupQueries;
    private long _validFrom = long.MaxValue;
    private long _validFromRead = -1;

    /// <summary>Aggregations answered from a rollup table.</summary>
    public long RollupQueries => Interlocked.Read(ref _rollupQueries);

    /// <summary>From which start on the rollup tables hold every flow (read again after a minute; never when unknown).</summary>
    private long RollupsValidFrom()
    {
        var now = Environment.TickCount64;
        if (Interlocked.Read(ref _validFromRead) is >= 0 and var read && now - read < 60_000) return Interlocked.Read(ref _validFrom);
        long value;
        try
        {
            value = ClickHouseRollups.ValidFrom(Shared) ?? long.MaxValue;
        }
        catch (IOException)
        {
            return long.MaxValue; // the flows then, and asked again next time
        }
        Interlocked.Exchange(ref _validFrom, value);
        Interlocked.Exchange(ref _validFromRead, now);
        return value;
    }

    /// <summary>Flows that start in [<paramref name="from"/>, <paramref name="to"/>): what a query of that window reads before its filter (nfdump's "flows processed").</summary>
    public long CountRows(long from, long to) =>
        long.Parse(_reader.Execute($"SELECT count() FROM {ClickHouseClient.Identifier(_readTable)} WHERE {ClickHouseSql.TimeRange(from, to)} FORMAT TabSeparated").Trim(), CultureInfo.InvariantCulture);

    public StoreStats Stats()
    {
        var partitions = new HashSet<string>(StringComparer.Ordinal);
        var parts = 0;
        long rows = 0, bytes = 0;
        foreach (var shard in _shards)
        {
            var text = shard.Execute($"SELECT partition, count(), sum(rows), sum(bytes_on_disk) FROM system.parts WHERE database = {ClickHouseClient.Quote(_options.Database)} " +
                $"AND table = {ClickHouseClient.Quote(ClickHouseSchema.LocalTable)} AND active GROUP BY partition FORMAT TabSeparated");
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var f = line.Split('\t');
                partitions.Add(f[0]);
                parts += int.Parse(f[1], CultureInfo.InvariantCulture);
                rows += long.Parse(f[2], CultureInfo.InvariantCulture);
                bytes += long.Parse(f[3], CultureInfo.InvariantCulture);
            }
        }
        long? first = null, last = null;
        if (rows > 0)
        {
            var range = _reader.Execute($"SELECT min(`start`), max(`start`) FROM {ClickHouseClient.Identifier(_readTable)} FORMAT TabSeparated").Trim().Split('\t');
            first = long.Parse(range[0], CultureInfo.InvariantCulture);
            last = long.Parse(range[1], CultureInfo.InvariantCulture);
        }
        return new StoreStats(partitions.Count, parts, rows, bytes, first, last, 0);
    }

    /// <summary>Drops, on every shard, the day partitions that end before <paramref name="before"/>.</summary>
    public int Expire(long before)
    {
        var dropped = 0;
        if (_options.ReadOnly) return 0; // an API node: the collectors apply retention
        foreach (var shard in _shards)
        {
            // The flows and their rollups, partitioned alike.
            var tables = string.Join(", ", ClickHouseRollups.Tables.Select(t => t.Local).Prepend(ClickHouseSchema.LocalTable).Select(ClickHouseClient.Quote));
            var text = shard.Execute($"SELECT DISTINCT table, partition FROM system.parts WHERE database = {ClickHouseClient.Quote(_options.Database)} " +
                $"AND table IN ({tables}) AND active FORMAT TabSeparated");
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var f = line.Split('\t');
                if (f.Length != 2 || !int.TryParse(f[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var day)) continue;
                if (ClickHouseSchema.PartitionRange(day).To > before) continue;
                shard.Execute($"ALTER TABLE {ClickHouseClient.Identifier(f[0])} DROP PARTITION {day.ToString(CultureInfo.InvariantCulture)}");
                if (f[0] == ClickHouseSchema.LocalTable) dropped++;
            }
        }
        return dropped;
    }

    /// <summary>
    /// Asks each shard to check its parts against their checksums: `CHECK TABLE` where the server has it for
    /// MergeTree, else a read of every column of every part (ClickHouse checks each compressed block it reads).
    /// </summary>
    public IReadOnlyList<StoreProblem> Verify()
    {
        var problems = new List<StoreProblem>();
        var table = ClickHouseClient.Identifier(ClickHouseSchema.LocalTable);
        foreach (var shard in _shards)
        {
            var where = $"{shard.Url.Authority}/{_options.Database}.{ClickHouseSchema.LocalTable}";
            try
            {
                string text;
                try
                {
                    text = shard.Execute($"CHECK TABLE {table}").Trim();
                }
                catch (ClickHouseException e) when (e.Code == NotImplemented)
                {
                    shard.Execute($"SELECT * FROM {table} FORMAT Null");
                    text = "1";
                }
                if (text != "1") problems.Add(new StoreProblem(where, -1, $"CHECK TABLE answered {text}"));
                problems.AddRange(RollupProblems(shard));
            }
            catch (ClickHouseException e)
            {
                problems.Add(new StoreProblem(where, -1, e.Message));
            }
        }
        return problems;
    }

    /// <summary>
    /// A shard's rollups against its flows: each table must sum as many flows as the shard holds, from when the
    /// tables hold every flow to the start of the current hour (the hour inserts are landing in is left out).
    /// A server that failed in the middle of an insert may have written the block's flows but not its sums.
    /// </summary>
    private List<StoreProblem> RollupProblems(ClickHouseClient shard)
    {
        var problems = new List<StoreProblem>();
        if (ClickHouseRollups.ValidFrom(Shared) is not { } from) return problems;
        var now = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10;
        var range = ClickHouseSql.TimeRange(from, now / Rollups.HourMicros * Rollups.HourMicros);
        var flows = shard.Execute($"SELECT count() FROM {ClickHouseClient.Identifier(ClickHouseSchema.LocalTable)} WHERE {range} FORMAT TabSeparated").Trim();
        foreach (var t in ClickHouseRollups.Tables)
        {
            var sum = shard.Execute($"SELECT sum(`flows`) FROM {ClickHouseClient.Identifier(t.Local)} WHERE {range} FORMAT TabSeparated").Trim();
            if (sum != flows)
            {
                problems.Add(new StoreProblem($"{shard.Url.Authority}/{_options.Database}.{t.Local}", -1,
                    $"sums {sum} flows where {ClickHouseSchema.LocalTable} holds {flows}: its groupings read wrong sums (docs/SCALE.md, Rollups)"));
            }
        }
        return problems;
    }

    /// <summary>ClickHouse's NOT_IMPLEMENTED: the statement is one this server's version does not have.</summary>
    private const int NotImplemented = 48;
}
