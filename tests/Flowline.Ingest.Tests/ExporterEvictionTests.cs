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
        for (var i = 0; i < 5_000; i++) collector.Exporter(real, real.Address).Seen(1400, now - 5_000_000 + i, 6);
        // Then a flood of made-up agents, one datagram with one record each, all heard from after the real one,
        // each from a source address of its own (spoofed): the share of one source does not limit them.
        for (uint a = 0; a < 2_000; a++)
        {
            var agent = FlowAddress.FromV4(0x0A000000 + a);
            collector.Exporter(new ExporterId(agent, FlowProtocol.SFlow5, 0), agent).Seen(200, now + a, 1);
            Assert.True(collector.Exporters.Count() <= 100);
        }
        Assert.Contains(collector.Exporters, e => e.Id == real && e.Datagrams == 5_000);
        // The totals still count the records of the exporters forgotten.
        Assert.Equal(5_000 * 6 + 2_000, collector.RecordsDecoded);
    }

    [Fact]
    public void One_source_naming_ever_new_agents_makes_room_among_its_own_however_busy_they_are()
    {
        var options = new CollectorOptions { DataDir = _dir, MaxExporters = 100, Sflow = [], Netflow = [], Ipfix = [], Sessions = "off" };
        var flows = new EmbeddedStore(Path.Combine(_dir, "flows"));
        using var collector = new Collector(options, new FlowStores(flows, dir => new EmbeddedStore(dir, new EmbeddedStoreOptions { Symbols = flows.Symbols })));
        var now = Collector.NowMicros();
        // Fifty real exporters, each from its own address, with 100 datagrams each.
        var real = Enumerable.Range(1, 50).Select(i => new ExporterId(FlowAddress.FromV4(0xC0000200u + (uint)i), FlowProtocol.NetFlow9, 0)).ToList();
        foreach (var id in real)
        {
            for (var d = 0; d < 100; d++) collector.Exporter(id, id.Address).Seen(1400, now - 1_000_000 + d, 20);
        }
        // One source making up agents, each sending more datagrams than any real exporter, all heard from later.
        var source = FlowAddress.Parse("198.51.100.7");
        for (uint a = 0; a < 500; a++)
        {
            var id = new ExporterId(FlowAddress.FromV4(0x0A000000 + a), FlowProtocol.SFlow5, 0);
            for (var d = 0; d < 5_000; d++) collector.Exporter(id, source).Seen(200, now + a, 1);
            Assert.True(collector.Exporters.Count(e => e.Source == source) <= 16);
        }
        Assert.True(real.ToHashSet().SetEquals(collector.Exporters.Where(e => e.Source != source).Select(e => e.Id)));
        Assert.All(collector.Exporters.Where(e => e.Source != source), e => Assert.Equal(100, e.Datagrams));
        Assert.True(collector.ExportersEvicted >= 500 - 16);

        // A configured relay sends for many agents: it is not held to a share.
        var relayed = new CollectorOptions { DataDir = Path.Combine(_dir, "relay"), MaxExporters = 100, Sflow = [], Netflow = [], Ipfix = [], Sessions = "off",
            SflowRelays = [Prefix.TryParse("198.51.100.0/24", out var relays) ? relays : default] };
        var flows2 = new EmbeddedStore(Path.Combine(_dir, "relay", "flows"));
        using var relay = new Collector(relayed, new FlowStores(flows2, dir => new EmbeddedStore(dir, new EmbeddedStoreOptions { Symbols = flows2.Symbols })));
        for (uint a = 0; a < 60; a++) relay.Exporter(new ExporterId(FlowAddress.FromV4(0x0A000000 + a), FlowProtocol.SFlow5, 0), source).Seen(200, now + a, 1);
        Assert.Equal(60, relay.Exporters.Count);
    }
}
