using System.Diagnostics;
using Flowline.Enrichment;
using Flowline.Storage;
using Flowline.Wire.Generation;
using Flowline.Wire.Records;

namespace Flowline.Bench;

/// <summary>
/// `enrich-profile INVENTORY [RECORDS]`: time spent enriching `flowline gen` records with an inventory
/// (bench/make-inventory.py), per record, on one thread, batches of 16,384 as the collector hands them.
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
        var generator = new TrafficGenerator(1);
        var batches = new List<FlowBatch>();
        for (var n = 0; n < records; n += 16_384)
        {
            var b = new FlowBatch(16_384);
            for (var k = 0; k < 16_384; k++) b.Add(generator.Next());
            batches.Add(b);
        }
        var work = new FlowBatch(32_768);
        for (var round = 0; round < 5; round++)
        {
            long rows = 0, ticks = 0;
            foreach (var b in batches)
            {
                work.Clear();
                work.AppendRange(b, 0, b.Count);
                var t = Stopwatch.GetTimestamp();
                enricher.Enrich(work);
                ticks += Stopwatch.GetTimestamp() - t;
                rows += work.Count;
            }
            var ns = ticks * 1e9 / Stopwatch.Frequency;
            Console.WriteLine($"round {round}: {batches.Count * 16_384} records -> {rows} rows, {ns / (batches.Count * 16_384):0.0} ns per record");
        }
    }
}
