using Flowline.Storage.ClickHouse;
using Flowline.Records;

namespace Flowline.Cli.Store;

/// <summary>`flowline clickhouse init|stats|verify|expire --store clickhouse://...`: the ClickHouse store's tables and upkeep.</summary>
internal static class ClickHouseCommand
{
    public const string Help = """
        Usage: flowline clickhouse init|stats|verify|expire --store clickhouse://HOST[:PORT]/DB[?cluster=NAME&shards=HOST:PORT,...]
                                   [--retention 15d | --before TIME]

        The flow store on ClickHouse (docs/SCALE.md), over its HTTP port (default 8123):
          init     create the database and tables on every server: the MergeTree table flows_local (by day,
                   ordered by account and start), symbols_local and state_local; with ?cluster=NAME also the
                   Distributed tables flows, symbols and state over the cluster's shards. The shards are the
                   cluster's hosts (system.clusters) on the same HTTP port, or the list given in &shards=.
                   Also the rollups: per-minute sums (SummingMergeTree rollup_1m_*, filled by materialised
                   views as flows are inserted) that answer groupings and top-N by the usual keys without
                   reading the flows. Created over flows already stored, they answer
                   from the next whole hour on. Safe to run again: what exists is kept.
          stats    day partitions, parts, records and bytes on disk over every shard, time span
          verify   check every part's checksums (CHECK TABLE, or a read of every column where the server
                   has no CHECK TABLE for MergeTree) and that each rollup table sums the flows the shard
                   holds (up to the current hour); exit status 1 when any shard reports a problem
          expire   drop the day partitions that end before --before TIME or --retention ago (default 15d)

        `flowline serve --store URL` writes and reads the same tables; `flowline query --store URL` reads them.
        """;

    public static int Run(string[] args, TextWriter stderr)
    {
        if (args.Length == 0 || args.Contains("--help") || args.Contains("-h"))
        {
            HelpText.Print(Console.Out, Help);
            return args.Length == 0 ? 2 : 0;
        }
        var verb = args[0];
        ClickHouseStoreOptions? options = null;
        long? before = null;
        var retention = 15 * 86_400_000_000L;
        try
        {
            for (var i = 1; i < args.Length; i++)
            {
                var a = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
                switch (a)
                {
                    case "--store":
                        try
                        {
                            options = ClickHouseLocation.Parse(Next());
                        }
                        catch (FormatException e)
                        {
                            throw new ArgumentException($"--store {e.Message}");
                        }
                        break;
                    case "--retention": retention = CliArgs.ParseDuration(a, Next()); break;
                    case "--before": before = CliArgs.ParseTime(a, Next()); break;
                    default: throw new ArgumentException($"unknown option {a}");
                }
            }
            if (verb is not ("init" or "stats" or "verify" or "expire")) throw new ArgumentException($"unknown clickhouse command '{verb}' (init, stats, verify, expire)");
            if (options is null) throw new ArgumentException("--store clickhouse://HOST[:PORT]/DB is required");
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"flowline clickhouse: {e.Message}");
            return 2;
        }
        try
        {
            if (verb == "init") return Init(options);
            using var store = new ClickHouseStore(options with { CreateTables = false });
            switch (verb)
            {
                case "stats":
                {
                    var s = store.Stats();
                    Console.Out.WriteLine($"partitions  {s.Partitions} (days)");
                    Console.Out.WriteLine($"parts       {s.Segments}");
                    Console.Out.WriteLine($"records     {s.Rows}");
                    Console.Out.WriteLine($"bytes       {s.BytesOnDisk} ({(s.Rows > 0 ? s.BytesOnDisk / (double)s.Rows : 0):0.0} per record)");
                    Console.Out.WriteLine($"first       {(s.FirstStart is { } f ? CliArgs.Time(f) : "-")}");
                    Console.Out.WriteLine($"last        {(s.LastStart is { } l ? CliArgs.Time(l) : "-")}");
                    return 0;
                }
                case "verify":
                {
                    var problems = store.Verify();
                    foreach (var p in problems) Console.Out.WriteLine($"{p.Path}: {p.Reason}");
                    Console.Out.WriteLine(problems.Count == 0 ? "verify: every shard's parts are intact" : $"verify: {problems.Count} shard(s) reported problems");
                    return problems.Count == 0 ? 0 : 1;
                }
                default:
                {
                    var cutoff = before ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000 - retention;
                    var dropped = store.Expire(cutoff);
                    Console.Out.WriteLine($"expire: dropped {dropped} day partition(s) (over all shards) ending before {CliArgs.Time(cutoff)}");
                    return 0;
                }
            }
        }
        catch (ClickHouseException e)
        {
            stderr.WriteLine($"flowline clickhouse {verb}: {e.Message}");
            return 1;
        }
    }

    private static int Init(ClickHouseStoreOptions options)
    {
        IReadOnlyList<Uri> shards;
        if (options.Shards is { } given) shards = given;
        else if (options.Cluster is null) shards = [options.Url];
        else
        {
            using var system = new ClickHouseClient(options.Url, "system");
            shards = ClickHouseStore.ClusterShards(system, options.Cluster, options.Url);
        }
        ClickHouseStore.CreateSchema(options.Url, options.Database, options.Cluster, shards);
        foreach (var server in shards.Append(options.Url).Distinct())
        {
            using var c = new ClickHouseClient(server, options.Database);
            Console.Out.WriteLine($"{server.Authority}: ClickHouse {c.Execute("SELECT version()").Trim()}, database {options.Database}: " +
                (options.Cluster is null ? "flows_local, symbols_local, state_local" : $"flows_local, symbols_local, state_local; flows, symbols, state over cluster {options.Cluster}"));
        }
        using (var c = new ClickHouseClient(options.Url, options.Database))
        {
            var from = ClickHouseRollups.ValidFrom(ClickHouseState.OnServer(c));
            Console.Out.WriteLine($"rollups: {ClickHouseRollups.Tables.Count} tables (per minute), answering for flows " +
                (from is null ? "never (no valid-from recorded: run init again)" : from == long.MinValue ? "from the first" : $"from {CliArgs.Time(from.Value)}"));
        }
        Console.Out.WriteLine($"init: {shards.Count} shard(s) ready");
        return 0;
    }
}
