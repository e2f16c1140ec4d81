using Flowline.Storage.Embedded;
using Flowline.Wire.Generation;
using Flowline.Records;

// Test helper for the crash-safety test: appends records with increasing ids (in SampledPackets) to a
// store forever, flushing every few batches and printing "durable N" after each flush, and compacting
// every partition now and then (so that kills also land inside compactions), until killed.
var dataDir = args[0];
var next = ulong.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
var generator = new TrafficGenerator((int)(next % int.MaxValue), hosts: 200);
using var store = new EmbeddedStore(dataDir, new EmbeddedStoreOptions { GroupCommit = TimeSpan.FromMilliseconds(50) });
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
    if (round % 12 == 7) store.Compact();
}
