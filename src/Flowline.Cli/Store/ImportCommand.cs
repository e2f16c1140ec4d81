using System.Diagnostics;
using Flowline.Storage.Embedded;
using Flowline.Wire;
using Flowline.Wire.Capture;
using Flowline.Wire.Records;

namespace Flowline.Cli.Store;

/// <summary>`flowline import --pcap FILE --data-dir DIR`: decode captures into the embedded store.</summary>
internal static class ImportCommand
{
    public const string Help = """
        Usage: flowline import --pcap FILE [--pcap FILE ...] --data-dir DIR [--no-compact]

        Decodes the sFlow, NetFlow and IPFIX datagrams of the captures and appends the flow records to
        the embedded store in DIR (created when missing), then compacts the partitions it wrote (one
        sorted segment each, with rollups; skip with --no-compact, or run `flowline store compact`
        later). Prints how many records were stored.
        """;

    public static int Run(string[] args, TextWriter stderr)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.Out.Write(Help);
            return 0;
        }
        var pcaps = new List<string>();
        string? dataDir = null;
        var compact = true;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--pcap" when i + 1 < args.Length: pcaps.Add(args[++i]); break;
                case "--data-dir" when i + 1 < args.Length: dataDir = args[++i]; break;
                case "--no-compact": compact = false; break;
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
        var watch = Stopwatch.StartNew();
        var decoder = new FlowDecoder();
        var batch = new FlowBatch(65536);
        try
        {
            using var store = new EmbeddedStore(dataDir);
            foreach (var path in pcaps)
            {
                using var reader = CaptureReader.Open(path);
                while (reader.TryRead(out var d))
                {
                    decoder.Decode(d.Payload, d.Src, d.Timestamp, batch);
                    if (batch.Count >= 60_000)
                    {
                        store.Append(batch);
                        batch.Clear();
                    }
                }
            }
            store.Append(batch);
            store.Flush();
            if (compact)
            {
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
        catch (IOException e)
        {
            stderr.WriteLine($"flowline import: cannot write the store in {dataDir}: {e.Message}");
            return 1;
        }
        var records = decoder.Stats.FlowRecords;
        stderr.WriteLine($"flowline import: {records} flow records from {decoder.Stats.Datagrams} datagrams stored in {dataDir} " +
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
