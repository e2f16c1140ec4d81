using Flowline.Records;
using Flowline.Storage.Embedded;

namespace Flowline.Ingest.Tests;

public sealed class ExporterEvictionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("flowline-eviction-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Made_up_exporters_with_a_record_each_make_room_among_themselves_not_by_evicting_a_real_one()
    {
        var options = new CollectorOptions { DataDir = _dir, MaxExporters = 100, Sflow = [], Netflow = [], Ipfix = [], Sessions = "off" };
        var flows = new EmbeddedStore(Path.Combine(_dir, "flows"));
        using var collector = new Collector(options, new FlowStores(flows, dir => new EmbeddedStore(dir, new EmbeddedStoreOptions { Symbols = flows.Symbols })));
        var real = new ExporterId(FlowAddress.Parse("192.0.2.1"), FlowProtocol.SFlow5, 0);
        var now = Collector.NowMicros();
        for (var i = 0; i < 5_000; i++) collector.Exporter(real).Seen(1400, now - 5_000_000 + i, 6);
        // Then a flood of made-up agents, one datagram with one record each, all heard from after the real one.
        for (uint a = 0; a < 2_000; a++)
        {
            collector.Exporter(new ExporterId(FlowAddress.FromV4(0x0A000000 + a), FlowProtocol.SFlow5, 0)).Seen(200, now + a, 1);
            Assert.True(collector.Exporters.Count() <= 100);
        }
        Assert.Contains(collector.Exporters, e => e.Id == real && e.Datagrams == 5_000);
    }
}
