using Flowline.Query;
using Flowline.Storage.ClickHouse;
using Flowline.Storage.Embedded;
using Flowline.Wire.Generation;
using Flowline.Records;

// Test helper for the crash-safety tests: appends records with increasing ids (in SampledPackets) to a
// store forever, flushing every few batches and printing "durable N" after each flush, and compacting
// every partition now and then (so that kills also land inside compactions), until killed.
//   CrashChild DIR NEXT                                  the embedded store in DIR
//   CrashChild clickhouse URL DATABASE SPOOL SHARD,SHARD NEXT   a ClickHouse cluster "flowline" with a spool
var clickhouse = args[0] == "clickhouse";
var next = ulong.Parse(args[clickhouse ? 5 : 1], System.Globalization.CultureInfo.InvariantCulture);
var generator = new TrafficGenerator((int)(next % int.MaxValue), hosts: 200);
using IFlowStore store = clickhouse
    ? new ClickHouseStore(new ClickHouseStoreOptions
    {
        Url = new Uri(args[1]), Database = args[2], SpoolDirectory = args[3], Cluster = "flowline",
        Shards = [.. args[4].Split(',').Select(u => new Uri(u))], GroupCommit = TimeSpan.FromMilliseconds(50),
    })
    : new EmbeddedStore(args[0], new EmbeddedStoreOptions { GroupCommit = TimeSpan.FromMilliseconds(50) });
var batch = new FlowBatch(500);
Console.Out.WriteLine("ready");
Console.Out.Flush();
for (var round = 0; ; round++)
{
    batch.Clear();
    for (var i = 0; i < 500; i++)
    {
        var r = generator.Next();
        r.SampledPackets = next++;
        batch.Add(r);
    }
    store.Append(batch);
    if (round % 3 == 2)
    {
        store.Flush();
        Console.Out.WriteLine($"durable {next - 1}");
        Console.Out.Flush();
    }
    if (round % 12 == 7 && store is EmbeddedStore embedded) embedded.Compact();
    // A steady rate into ClickHouse (each flush is an insert: a part to merge).
    if (clickhouse) Thread.Sleep(20);
}
