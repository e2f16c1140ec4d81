using System.Diagnostics;
using Flowline.Enrichment;
using Flowline.Records;
using Flowline.Sessions;
using Flowline.Storage;
using Flowline.Wire.Generation;

namespace Flowline.Bench;

/// <summary>
/// `session-profile INVENTORY [RECORDS] [EXPORT_RATE] [MAX_OPEN] [INPUT_SAMPLING]`: what sessions cost per record, on one thread, without a store:
/// `flowline gen --public-servers` records enriched with the inventory, added to a sessionizer 256 at a time
/// (as a decoder does), flushed every 800,000 records (an interval at 400,000 records/s) into session
/// rows, one session in INPUT_SAMPLING held (serve's input sampling; 1: all). Prints ns (elapsed, one thread) per record for adding and for flushing (rows included), and bytes allocated.
/// </summary>
internal static class SessionProfile
{
    public static void Run(string inventoryPath, int records, double exportRate, int maxOpen, int inputSampling)
    {
        var symbols = new SymbolTable();
        var geoDir = GeoDatabase.Locate(null);
        var enricher = new Enricher(symbols, geoDir is null ? null : GeoDatabase.Load(geoDir));
        enricher.Use(InventoryFile.Load(inventoryPath));
        var generator = new TrafficGenerator(1) { PublicServers = true };
        var batches = new List<FlowBatch>();
        for (var n = 0; n < records; n += 256)
        {
            var b = new FlowBatch(512);
            for (var k = 0; k < 256; k++)
            {
                var r = generator.Next();
                enricher.Add(ref r, b);
            }
            batches.Add(b);
        }
        var sessionizer = new Sessionizer(new SessionizerOptions { MaxSessions = maxOpen }) { InputSampling = inputSampling };
        var exporter = new SessionExporter(new SessionSampler(exportRate, exportRate > 0 ? 10_000 : 10_000), [], symbols, enricher.RemoteTags);
        long rows = 0;
        var writer = new SessionRowWriter(exporter, symbols, chunk => rows += chunk.Count);
        TimeSpan add = default, flush = default;
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        long addAllocated = 0;
        TimeSpan addLate = default;
        long added = 0, now = 1_700_000_000_000_000;
        foreach (var b in batches)
        {
            var a0 = GC.GetAllocatedBytesForCurrentThread();
            var t0 = Stopwatch.GetTimestamp();
            sessionizer.Add(b);
            add += Stopwatch.GetElapsedTime(t0);
            if (added >= records / 2) addLate += Stopwatch.GetElapsedTime(t0);
            addAllocated += GC.GetAllocatedBytesForCurrentThread() - a0;
            added += b.Count;
            if (added % 800_000 < b.Count)
            {
                now += 2_000_000;
                var t1 = Stopwatch.GetTimestamp();
                writer.Time = now;
                exporter.Plan([sessionizer], 2);
                sessionizer.Flush(now, writer);
                writer.Complete();
                exporter.EndInterval(2);
                flush += Stopwatch.GetElapsedTime(t1);
            }
        }
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        // Again over the last batches: sessions held already (a lookup, no insert).
        var again = batches.Skip(Math.Max(0, batches.Count - 1000)).ToList();
        var t2 = Stopwatch.GetTimestamp();
        foreach (var b in again) sessionizer.Add(b);
        Console.WriteLine($"adding records of held sessions: {Stopwatch.GetElapsedTime(t2).TotalNanoseconds / (again.Count * 256.0):0} ns/record");
        Console.WriteLine($"{added} records, {rows} session rows, held {sessionizer.Count}, evicted {sessionizer.Evicted}, exported early {sessionizer.ExportedEarly}, dropped {sessionizer.Dropped}");
        Console.WriteLine($"add {add.TotalNanoseconds / added:0} ns/record ({addLate.TotalNanoseconds / (added - records / 2):0} in the second half), flush {flush.TotalNanoseconds / added:0} ns/record, allocated {allocated / (double)added:0.0} bytes/record ({addAllocated / (double)added:0.0} adding), table {sessionizer.MemoryBytes >> 20} MiB");
    }
}
