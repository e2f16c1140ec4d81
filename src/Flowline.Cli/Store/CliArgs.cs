using System.Globalization;
using Flowline.Query;
using Flowline.Storage.Embedded;
using Flowline.Records;

namespace Flowline.Cli.Store;

/// <summary>Small helpers for the store commands' arguments.</summary>
internal static class CliArgs
{
    public static long ParseTime(string option, string value)
    {
        if (!DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
        {
            throw new ArgumentException($"{option} {value}: expected an RFC 3339 time such as 2026-11-21T06:30:00Z");
        }
        return FlowTime.Of(t);
    }

    /// <summary>A duration in microseconds (<see cref="Durations"/>: 90s, 5m, 1h, 15d).</summary>
    public static long ParseDuration(string option, string value) =>
        Durations.TryParse(value, out var d) ? Durations.Micros(d) : throw new ArgumentException($"{option} {value}: expected a duration such as {Durations.Examples}");

    /// <summary>The compaction budget of --memory SIZE (512m, 1g), at least what a merge needs.</summary>
    public static long ParseMemory(string option, string value)
    {
        long bytes;
        try
        {
            bytes = Ingest.CollectorOptions.Size(value, 1L << 40);
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"{option} {value}: expected a size such as 64m or 4g ({e.Message})");
        }
        var least = EmbeddedStoreOptions.MinimumCompactionMemory;
        if (bytes < least) throw new ArgumentException($"{option} {value}: compaction needs at least {(least + (1 << 20) - 1) >> 20}m");
        return bytes;
    }

    /// <summary>
    /// Holds the process's managed heap to twice a command's memory budget: the collector then works within it
    /// rather than growing its heap ahead of need. For commands that run one budgeted job (compact, import).
    /// </summary>
    public static void LimitHeap(long memory)
    {
        // Twice the budget: what compaction keeps alive stays within the budget, and the collector gets
        // room for what it has not yet reclaimed; at the budget itself a fragmented heap could fail to place
        // an output block, and the command would fail for want of memory it was not using.
        AppContext.SetData("GCHeapHardLimit", (ulong)(2 * memory));
        GC.RefreshMemoryLimit();
    }

    public static string Time(long unixMicros) =>
        DateTime.UnixEpoch.AddTicks(unixMicros * 10).ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", CultureInfo.InvariantCulture);

    /// <summary>The checks every reading command makes of its data directory and range.</summary>
    public static void CheckRange(string? dataDir, long from, long to, string? store = null)
    {
        if (store is not null)
        {
            if (dataDir is not null) throw new ArgumentException("--data-dir and --store: one or the other");
            try
            {
                Flowline.Storage.ClickHouse.ClickHouseLocation.Parse(store);
            }
            catch (FormatException e)
            {
                throw new ArgumentException($"--store {e.Message}");
            }
        }
        else
        {
            if (dataDir is null) throw new ArgumentException("--data-dir (or --store) is required");
            CheckStore(dataDir);
        }
        if (from >= to) throw new ArgumentException("--from must be before --to");
    }

    /// <summary>
    /// Refuses a --data-dir that is missing or holds no store: read, a mistyped path (or nfcapd's directory) would
    /// answer "no flows"; opened for writing, it would be made a store.
    /// </summary>
    public static void CheckStore(string dataDir)
    {
        if (!Directory.Exists(dataDir)) throw new ArgumentException($"--data-dir {dataDir}: no such directory");
        if (!EmbeddedStore.IsStore(dataDir))
        {
            throw new ArgumentException($"--data-dir {dataDir} holds no store (no partition-width file, no day directories): give the directory serve or import writes");
        }
    }

    /// <summary>
    /// Says on <paramref name="stderr"/> which segments the answer left out because they could not be read
    /// (damaged, or replaced by the writer's compaction as the query began); true when there were any.
    /// </summary>
    public static bool ReportDamaged(string command, IFlowStore store, TextWriter stderr)
    {
        if (store is not EmbeddedStore { Damaged.Count: > 0 } embedded) return false;
        stderr.WriteLine($"flowline {command}: the answer leaves out {embedded.Damaged.Count} segment(s) that could not be read:");
        foreach (var (_, reason) in embedded.Damaged.Take(20)) stderr.WriteLine($"  {reason}");
        stderr.WriteLine($"  (a damaged segment stays until the writer moves it to quarantine; `flowline store verify` checks every block)");
        return true;
    }

    /// <summary>
    /// The filter of nfdump's <c>-f FILE</c>: the file's text, lines and <c>#</c> comments as nfdump reads them.
    /// One of the file and a filter on the command line, as in nfdump.
    /// </summary>
    public static string ReadFilterFile(string path, bool filterGiven)
    {
        if (filterGiven) throw new ArgumentException("-f FILE gives the filter: give it there or on the command line, not both");
        if (path.Length == 0) throw new ArgumentException("-f: expected the name of a file holding the filter");
        var text = new char[FilterParser.MaxLength + 1];
        int n;
        try
        {
            // Read no further than a filter may be long (the file may be a pipe, or anything).
            using var reader = new StreamReader(path);
            n = reader.ReadBlock(text);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new ArgumentException($"-f {path}: {e.Message}");
        }
        if (n > FilterParser.MaxLength) throw new ArgumentException($"-f {path}: a filter takes at most {FilterParser.MaxLength} characters; the file has more");
        var filter = new string(text, 0, n);
        // A file with no term (empty, blank, comments) is refused rather than read as "every flow": a script that left
        // it empty would otherwise select everything (nfdump 1.7.1: every flow for an empty file, none for a blank one).
        if (filter.Split('\n').All(line => string.IsNullOrWhiteSpace(line.Split('#')[0])))
            throw new ArgumentException($"-f {path}: the file holds no filter, only blanks or comments (for every flow give no filter, or 'any')");
        return filter;
    }

    /// <summary>
    /// Opens the store read-only and parses the filter against its names; null (after saying why on
    /// <paramref name="stderr"/>) when the filter does not parse.
    /// </summary>
    public static (IFlowStore Store, FilterNode Filter)? OpenFiltered(string command, string? dataDir, IEnumerable<string> filterWords, TextWriter stderr, string? clickhouse = null)
    {
        IFlowStore store;
        try
        {
            store = clickhouse is not null
                ? new Flowline.Storage.ClickHouse.ClickHouseStore(Flowline.Storage.ClickHouse.ClickHouseLocation.Parse(clickhouse) with { ReadOnly = true })
                : new EmbeddedStore(dataDir!, new EmbeddedStoreOptions { ReadOnly = true });
        }
        catch (Exception e) when (e is Flowline.Storage.ClickHouse.ClickHouseException or InvalidDataException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"flowline {command}: {e.Message}");
            return null;
        }
        var names = store.Symbols;
        try
        {
            return (store, FilterParser.Parse(string.Join(' ', filterWords), name => names.TryFind(name, out var id) ? id : null));
        }
        catch (FilterSyntaxException e)
        {
            store.Dispose();
            stderr.WriteLine($"flowline {command}: {e.Message}");
            return null;
        }
    }
}
