using System.Diagnostics;
using Flowline.Enrichment;
using Flowline.Storage;
using Flowline.Wire.Generation;
using Flowline.Wire.Records;

namespace Flowline.Bench;

/// <summary>
/// `enrich-profile INVENTORY [RECORDS]`: time spent enriching `flowline gen` records with an inventory
/// (bench/make-inventory.py) and servers on public addresses (`gen --public-servers`), per record, on one thread, batches of 16,384 as the collector hands them.
/// </summary>
internal static class EnrichProfile
{
    public static void Run(string inventoryPath, int records)
    {
        var inventory = InventoryFile.Load(inventoryPath);
        var geoDir = GeoDatabase.Locate(null);
        var geo = geoDir is null ? null : GeoDatabase.Load(geoDir);
        var enricher = new Enricher(new SymbolTable(), geo);
        enricher.Use(inventory);
        var generator = new TrafficGenerator(1) { PublicServers = true };
        var batches = new List<FlowBatch>();
        for (var n = 0; n < records; n += 16_384)
        {
            var b = new FlowBatch(16_384);
            for (var k = 0; k < 16_384; k++) b.Add(generator.Next());
            batches.Add(b);
        }
        // Each round enriches fresh copies of the batches; the copying is not timed. CPU time (the process's,
        // which on a shared machine is steadier than the clock) is reported beside the elapsed time.
        var work = batches.Select(_ => new FlowBatch(32_768)).ToArray();
        var perRecord = new List<double>();
        var total = batches.Count * 16_384;
        var process = Process.GetCurrentProcess();
        for (var round = 0; round < 9; round++)
        {
            for (var k = 0; k < batches.Count; k++)
            {
                work[k].Clear();
                work[k].AppendRange(batches[k], 0, batches[k].Count);
            }
            process.Refresh();
            var cpu = process.TotalProcessorTime;
            var t = Stopwatch.GetTimestamp();
            long rows = 0;
            foreach (var w in work)
            {
                enricher.Enrich(w);
                rows += w.Count;
            }
            var ns = Stopwatch.GetElapsedTime(t).TotalNanoseconds;
            process.Refresh();
            var cpuNs = (process.TotalProcessorTime - cpu).TotalNanoseconds;
            Console.WriteLine($"round {round}: {total} records -> {rows} rows, {ns / total:0.0} ns per record elapsed, {cpuNs / total:0.0} ns CPU");
            if (round > 0) perRecord.Add(cpuNs / total);
        }
        perRecord.Sort();
        Console.WriteLine($"after the first round: min {perRecord[0]:0.0}, median {perRecord[perRecord.Count / 2]:0.0} ns of CPU per record");
    }
}
