using Flowline.Storage.Embedded;
using Flowline.Records;

namespace Flowline.Cli.Store;

/// <summary>`flowline store stats|verify|expire|compact --data-dir DIR`.</summary>
internal static class StoreCommand
{
    public const string Help = """
        Usage: flowline store stats|verify|expire|compact --data-dir DIR [--retention 15d | --before TIME]
                                                     [--memory SIZE]

          stats    partitions, segments, records, bytes on disk, time span (--columns: bytes per record by column)
          verify   read every block and check its checksums; corrupt segments are moved to quarantine/
                   and listed (exit status 1 when any was found)
          expire   drop whole partitions older than --retention (default 15d) or --before TIME
                   (flows, and the sessions of DIR/sessions when serve stored sessions there)
          compact  merge each partition's segments into one, sorted by address (tighter zone maps,
                   smaller files) with its rollups; only partitions ending before --before TIME if given;
                   the sessions store after the flows.
                   Holds at most --memory (default 512m, at least 51m) whatever the partition's size:
                   what does not fit is sorted and merged in rounds through temporary runs
                   (docs/STORE.md)

        Exit status: 0 done (verify: nothing damaged), 1 verify found damage (listed; repaired or moved to
        quarantine) or the store cannot be read, 2 bad arguments (a directory that is missing or holds no
        store among them), 3 another process writes the store (serve, import or another store command: run
        it again when that one has stopped).
        """;

    public static int Run(string[] args, TextWriter stderr)
    {
        if (args.Length == 0 || args.Contains("--help") || args.Contains("-h"))
        {
            HelpText.Print(Console.Out, Help);
            return args.Length == 0 ? 2 : 0;
        }
        var verb = args[0];
        string? dataDir = null;
        long? before = null;
        var columns = false;
        var retention = 15 * 86_400_000_000L;
        var retentionGiven = false;
        var memory = EmbeddedStoreOptions.DefaultCompactionMemory;
        try
        {
            for (var i = 1; i < args.Length; i++)
            {
                var a = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
                switch (a)
                {
                    case "--data-dir": dataDir = Next(); break;
                    case "--columns": columns = true; break;
                    case "--retention": retention = CliArgs.ParseDuration(a, Next()); retentionGiven = true; break;
                    case "--before": before = CliArgs.ParseTime(a, Next()); break;
                    case "--memory": memory = CliArgs.ParseMemory(a, Next()); break;
                    default: throw new ArgumentException($"unknown option {a}");
                }
            }
            if (verb is not ("stats" or "verify" or "expire" or "compact")) throw new ArgumentException($"unknown store command '{verb}' (stats, verify, expire, compact)");
            if (dataDir is null) throw new ArgumentException("--data-dir is required");
            if (verb == "expire" && retentionGiven && before is not null) throw new ArgumentException("give --before or --retention, not both (--before TIME drops what ends before it; --retention AGE what is older)");
            CliArgs.CheckStore(dataDir);
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"flowline store: {e.Message}");
            return 2;
        }
        EmbeddedStore store;
        try
        {
            // stats only reads, beside a running writer; the other verbs write and take the store's lock.
            store = new EmbeddedStore(dataDir, new EmbeddedStoreOptions { CompactionMemory = memory, ReadOnly = verb == "stats" });
        }
        catch (StoreLockedException e)
        {
            // Not damage: a script running verify tells "try again later" from "the store needed repair".
            stderr.WriteLine($"flowline store: {e.Message}");
            return 3;
        }
        catch (InvalidDataException e)
        {
            stderr.WriteLine($"flowline store: {e.Message}");
            return 1;
        }
        using var opened = store;
        switch (verb)
        {
            case "stats":
            {
                var s = store.Stats();
                Console.Out.WriteLine($"partitions  {s.Partitions}");
                Console.Out.WriteLine($"segments    {s.Segments}");
                Console.Out.WriteLine($"records     {s.Rows}");
                Console.Out.WriteLine($"bytes       {s.BytesOnDisk} ({(s.Rows > 0 ? s.BytesOnDisk / (double)s.Rows : 0):0.0} per record)");
                Console.Out.WriteLine($"first       {(s.FirstStart is { } f ? CliArgs.Time(f) : "-")}");
                Console.Out.WriteLine($"last        {(s.LastStart is { } l ? CliArgs.Time(l) : "-")}");
                Console.Out.WriteLine($"quarantined {s.Quarantined}");
                if (columns && s.Rows > 0)
                {
                    Console.Out.WriteLine("bytes per record by column:");
                    foreach (var (field, bytes) in store.ColumnSizes().OrderByDescending(kv => kv.Value))
                    {
                        Console.Out.WriteLine($"  {Flowline.Records.FlowFields.Name(field),-18} {bytes / (double)s.Rows,7:0.000}");
                    }
                }
                if (s.Unreadable.Count == 0) return 0;
                // As every reader: what could not be read is named, and the figures said to leave it out.
                stderr.WriteLine($"flowline store: the figures leave out {s.Unreadable.Count} segment(s) that could not be read: {string.Join(", ", s.Unreadable)} (store verify moves them to quarantine and restores their readable blocks)");
                return 1;
            }
            case "verify":
            {
                var found = store.Verify();
                foreach (var p in found)
                {
                    Console.Out.WriteLine(p.Block >= 0 ? $"{p.Path}: block {p.Block}: {p.Reason} ({p.Outcome})" : $"{p.Path}: {p.Reason} ({p.Outcome})");
                }
                var problems = found.Where(p => p.Damaged).ToList();
                var quarantined = problems.Count(p => p.Outcome.StartsWith("quarantined", StringComparison.Ordinal));
                var rollups = problems.Count - quarantined;
                var salvagedBefore = found.Count(p => p.Reason == Flowline.Query.StoreProblem.QuarantinedBefore);
                Console.Out.WriteLine(problems.Count == 0 ? "verify: every block and rollup is intact"
                    : quarantined == 0 ? $"verify: {rollups} damaged rollup file(s); the segments are intact"
                    : $"verify: {quarantined} corrupt segment(s) moved to quarantine, {problems.Count(p => p.Outcome.Contains(" restored as ", StringComparison.Ordinal))} of them restored in part (their readable blocks)"
                      + (rollups > 0 ? $", {rollups} damaged rollup file(s)" : ""));
                if (salvagedBefore > 0) Console.Out.WriteLine($"verify: {salvagedBefore} segment(s) quarantined before looked at, {found.Count(p => p.Reason == Flowline.Query.StoreProblem.QuarantinedBefore && p.Outcome.Contains(" restored as ", StringComparison.Ordinal))} of them restored in part");
                var olderFormat = found.Count - problems.Count - salvagedBefore;
                if (olderFormat > 0) Console.Out.WriteLine($"verify: {olderFormat} rollup file(s) of an older format rewritten");
                var earlier = store.Stats().Quarantined - quarantined;
                if (earlier > 0) Console.Out.WriteLine($"verify: {earlier} segment(s) were in quarantine before (see {Path.Combine(dataDir, "quarantine")})");
                return problems.Count == 0 ? 0 : 1;
            }
            case "compact":
            {
                CliArgs.LimitHeap(memory);
                var watch = System.Diagnostics.Stopwatch.StartNew();
                var n = store.Compact(before ?? long.MaxValue, new ImportCommand.Progress(stderr));
                Console.Out.WriteLine($"compact: {n} partition(s) compacted in {watch.Elapsed.TotalSeconds:0.0} s");
                if (Sessions(store, dataDir, memory) is { } sessions)
                {
                    using (sessions)
                    {
                        watch.Restart();
                        n = sessions.Compact(before ?? long.MaxValue, new ImportCommand.Progress(stderr));
                        Console.Out.WriteLine($"compact: sessions: {n} partition(s) compacted in {watch.Elapsed.TotalSeconds:0.0} s");
                    }
                }
                return 0;
            }
            default:
            {
                var cutoff = before ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000 - retention;
                var dropped = store.Expire(cutoff);
                Console.Out.WriteLine($"expire: dropped {dropped} partition(s) older than {CliArgs.Time(cutoff)}");
                if (Sessions(store, dataDir, memory) is { } sessions)
                {
                    using (sessions) Console.Out.WriteLine($"expire: sessions: dropped {sessions.Expire(cutoff)} partition(s)");
                }
                return 0;
            }
        }
    }

    /// <summary>The sessions store serve keeps in DIR/sessions (sharing the flows' symbols), when there is one.</summary>
    private static EmbeddedStore? Sessions(EmbeddedStore flows, string dataDir, long memory)
    {
        var dir = Path.Combine(dataDir, Flowline.Ingest.SessionService.Directory);
        return Directory.Exists(dir) ? new EmbeddedStore(dir, new EmbeddedStoreOptions { Symbols = flows.Symbols, CompactionMemory = memory }) : null;
    }
}
