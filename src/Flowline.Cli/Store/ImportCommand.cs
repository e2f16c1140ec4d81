using System.Diagnostics;
using Flowline.Storage.Embedded;
using Flowline.Wire;
using Flowline.Wire.Capture;
using Flowline.Records;

namespace Flowline.Cli.Store;

/// <summary>`flowline import --pcap FILE --data-dir DIR`: decode captures into the embedded store.</summary>
internal static class ImportCommand
{
    public const string Help = """
        Usage: flowline import --pcap FILE [--pcap FILE ...] --data-dir DIR [--inventory FILE]
                               [--geo-dir DIR] [--geo-format csv|mmdb] [--no-compact] [--memory SIZE]
                               [--codec zstd|brotli|lz4]

        Decodes the sFlow, NetFlow and IPFIX datagrams of the captures ("-" reads one from standard input,
        e.g. `flowline gen ... --pcap - | flowline import --pcap - ...`) and appends the flow records to
        the embedded store in DIR (created when missing), then compacts the partitions it wrote (one
        sorted segment each, with rollups; skip with --no-compact, or run `flowline store compact`
        later). Prints how many records were stored. --memory (default 512m) bounds what the group
        commits and the compaction hold, whatever the number of flows (docs/STORE.md). --codec chooses
        the compression of compacted segments: zstd (default), brotli (0.9's, about 2 % smaller, half as
        fast to read) or lz4 (fastest, twice the size); stores may mix them (docs/PERFORMANCE.md).

        With --inventory, every record is enriched as `flowline serve --inventory` does it (accounts,
        networks, ports, tags, security-group verdicts; see docs/TENANCY.md), one row per port it
        touches; public addresses get a country and AS from --geo-dir (default FLOWLINE_GEO_DIR), read
        from its CSV range files or, with --geo-format mmdb, from its MaxMind DB (.mmdb) files.
        """;

    public static int Run(string[] args, TextWriter stderr)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            HelpText.Print(Console.Out, Help);
            return 0;
        }
        var pcaps = new List<string>();
        string? dataDir = null;
        var compact = true;
        var memory = EmbeddedStoreOptions.DefaultCompactionMemory;
        var codec = Storage.Segments.SegmentCodec.Zstd;
        string? inventoryPath = null, geoDir = null;
        var geoFormat = Enrichment.GeoFormat.Csv;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--pcap" when i + 1 < args.Length: pcaps.Add(args[++i]); break;
                case "--data-dir" when i + 1 < args.Length: dataDir = args[++i]; break;
                case "--no-compact": compact = false; break;
                case "--codec" when i + 1 < args.Length:
                    if (args[++i].ToLowerInvariant() is not ("zstd" or "brotli" or "lz4") || !Enum.TryParse(args[i], ignoreCase: true, out codec))
                    {
                        stderr.WriteLine($"flowline import: --codec {args[i]}: expected zstd, brotli or lz4");
                        return 2;
                    }
                    break;
                case "--memory" when i + 1 < args.Length:
                    try
                    {
                        memory = CliArgs.ParseMemory("--memory", args[++i]);
                    }
                    catch (ArgumentException e)
                    {
                        stderr.WriteLine($"flowline import: {e.Message}");
                        return 2;
                    }
                    break;
                case "--inventory" when i + 1 < args.Length: inventoryPath = args[++i]; break;
                case "--geo-dir" when i + 1 < args.Length: geoDir = args[++i]; break;
                case "--geo-format" when i + 1 < args.Length:
                    switch (args[++i])
                    {
                        case "csv": geoFormat = Enrichment.GeoFormat.Csv; break;
                        case "mmdb": geoFormat = Enrichment.GeoFormat.Mmdb; break;
                        default:
                            stderr.WriteLine($"flowline import: --geo-format {args[i]}: expected csv or mmdb");
                            return 2;
                    }
                    break;
                default:
                    stderr.WriteLine($"flowline import: unexpected '{args[i]}' (see `flowline import --help`)");
                    return 2;
            }
        }
        if (pcaps.Count == 0 || dataDir is null)
        {
            stderr.WriteLine("flowline import: give --pcap FILE and --data-dir DIR");
            return 2;
        }
        Enrichment.Inventory? inventory = null;
        Enrichment.GeoDatabase? geo = null;
        if (inventoryPath is not null)
        {
            try
            {
                inventory = Enrichment.InventoryFile.Load(inventoryPath);
                var geoFrom = Enrichment.GeoDatabase.Locate(geoDir);
                geo = geoFrom is null ? null : Enrichment.GeoDatabase.Load(geoFrom, geoFormat);
                if (geo is null) stderr.WriteLine("flowline import: no address database (--geo-dir / FLOWLINE_GEO_DIR): public addresses get no country or AS");
            }
            catch (Enrichment.InventoryException e)
            {
                stderr.WriteLine($"flowline import: {inventoryPath} refused:");
                foreach (var error in e.Errors) stderr.WriteLine($"  {error}");
                return 2;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"flowline import: {e.Message}");
                return 2;
            }
        }
        CliArgs.LimitHeap(memory);
        var watch = Stopwatch.StartNew();
        var decoder = new FlowDecoder();
        // Group commits take a sixteenth of the budget (at least a block): the rest is compaction's.
        var commitRows = (int)Math.Clamp(memory / 16 / EmbeddedStoreOptions.DecodedRowBytes, Storage.Segments.SegmentFile.DefaultBlockRows, 262_144);
        var batch = new FlowBatch(Storage.Segments.SegmentFile.DefaultBlockRows);
        long rows = 0;
        try
        {
            using var store = new EmbeddedStore(dataDir, new EmbeddedStoreOptions
            {
                CompactionMemory = memory, MaxBufferedRows = commitRows, GroupCommit = TimeSpan.FromHours(1), Codec = codec,
                // Its commits are small (a sixteenth of the budget) and all compacted at the end: sorting
                // them once there takes fewer merge rounds than merging hundreds of sorted commits.
                SortCommits = false,
            });
            Enrichment.Enricher? enricher = null;
            if (inventory is not null)
            {
                enricher = new Enrichment.Enricher(store.Symbols, geo);
                enricher.Use(inventory);
            }
            void Store()
            {
                enricher?.Enrich(batch);
                rows += batch.Count;
                store.Append(batch);
                batch.Clear();
                // Committed here rather than in the background, so the buffers never hold more than a commit.
                if (store.BufferedRows >= commitRows) store.Flush();
            }
            foreach (var path in pcaps)
            {
                using var reader = path == "-"
                    ? new CaptureReader(Console.OpenStandardInput(), ownsStream: true, name: "standard input")
                    : CaptureReader.Open(path);
                while (reader.TryRead(out var d))
                {
                    decoder.Decode(d.Payload, d.Src, d.Timestamp, batch);
                    if (batch.Count >= Storage.Segments.SegmentFile.DefaultBlockRows) Store();
                }
                if (reader.Stats.Truncated > 0)
                {
                    stderr.WriteLine($"flowline import: {reader.Stats.Truncated} packet(s) of {path} cut short by the capture's snap length were skipped");
                }
                if (reader.Stats.CutShort > 0)
                {
                    stderr.WriteLine($"flowline import: {path} ends inside a packet (the capture was cut short): that packet was skipped, the ones before it are stored");
                }
            }
            Store();
            store.Flush();
            if (compact)
            {
                // The commit buffers are not needed any more: their memory goes to compaction.
                store.ReleaseWriteBuffers();
                batch = new FlowBatch(16);
                GC.Collect();
                var before = watch.Elapsed;
                var partitions = store.Compact(progress: new Progress(stderr));
                stderr.WriteLine($"flowline import: compacted {partitions} partition(s) in {(watch.Elapsed - before).TotalSeconds:0.0} s");
            }
        }
        catch (CaptureFormatException e)
        {
            stderr.WriteLine($"flowline import: {e.Message}");
            return 1;
        }
        catch (StoreLockedException e)
        {
            // As the store commands: 3 is "in use, try again later", not damage or a failed write.
            stderr.WriteLine($"flowline import: {e.Message}");
            return 3;
        }
        catch (IOException e)
        {
            stderr.WriteLine($"flowline import: cannot write the store in {dataDir}: {e.Message}");
            return 1;
        }
        var records = decoder.Stats.FlowRecords;
        var enriched = inventory is null ? "" : $" (enriched: {rows} rows)";
        stderr.WriteLine($"flowline import: {records} flow records from {decoder.Stats.Datagrams} datagrams stored in {dataDir}{enriched} " +
                         $"in {watch.Elapsed.TotalSeconds:0.000} s ({records / Math.Max(watch.Elapsed.TotalSeconds, 1e-9):N0} records/s); " +
                         $"malformed {decoder.Stats.MalformedDatagrams}");
        return 0;
    }

    /// <summary>Reports synchronously (System.Progress would post to the thread pool).</summary>
    internal sealed class Progress(TextWriter stderr) : IProgress<string>
    {
        public void Report(string value) => stderr.WriteLine($"flowline: {value}");
    }
}
