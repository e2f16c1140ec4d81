using System.Diagnostics;
using Flowline.Enrichment;
using Flowline.Storage;
using Flowline.Wire.Generation;
using Flowline.Records;

namespace Flowline.Bench;

/// <summary>
/// `enrich-profile INVENTORY [RECORDS]`: time spent enriching `flowline gen` records with an inventory
/// (bench/make-inventory.py) and servers on public addresses (`gen --public-servers`), per record, on one
/// thread, as the collector does it: on the way into a batch.
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
        // As in the collector, each record is enriched on its way into a batch. Each round adds every record
        // once plainly and once enriched; the difference is what enrichment costs. CPU time (the process's)
        // is used because on a shared machine it is steadier than the clock.
        var flows = batches.Select(b => Enumerable.Range(0, b.Count).Select(i => b[i]).ToArray()).ToArray();
        var work = new FlowBatch(32_768);
        var perRecord = new List<double>();
        var total = batches.Count * 16_384;
        var process = Process.GetCurrentProcess();
        double Time(bool enrich)
        {
            process.Refresh();
            var cpu = process.TotalProcessorTime;
            foreach (var batch in flows)
            {
                work.Clear();
                for (var i = 0; i < batch.Length; i++)
                {
                    var r = batch[i];
                    if (enrich) enricher.Add(ref r, work);
                    else work.Add(r);
                }
            }
            process.Refresh();
            return (process.TotalProcessorTime - cpu).TotalNanoseconds / total;
        }
        for (var round = 0; round < 9; round++)
        {
            var plain = Time(enrich: false);
            var enriched = Time(enrich: true);
            Console.WriteLine($"round {round}: {total} records, added plainly {plain:0.0} ns, enriched {enriched:0.0} ns of CPU per record: enrichment {enriched - plain:0.0} ns");
            if (round > 0) perRecord.Add(enriched - plain);
        }
        perRecord.Sort();
        Console.WriteLine($"after the first round: min {perRecord[0]:0.0}, median {perRecord[perRecord.Count / 2]:0.0} ns of CPU per record for enrichment");
    }
}
