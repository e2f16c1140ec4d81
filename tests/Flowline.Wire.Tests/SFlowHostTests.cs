using System.Buffers.Binary;
using Flowline.Records;
using Flowline.Testing;
using Flowline.Wire.Encoders;

namespace Flowline.Wire.Tests;

/// <summary>
/// Host sFlow's structures (sflow.org/sflow_host.txt) from datagrams laid out here by hand from the
/// specification, as hsflowd sends them for a hypervisor and for one of its containers; then through the
/// encoder and back.
/// </summary>
public sealed class SFlowHostTests
{
    private static List<CounterRecord> Decode(ReadOnlySpan<byte> datagram, out DecodeResult result)
    {
        var counters = new List<CounterRecord>();
        var sink = new SFlowTests.CounterSink(counters);
        result = new FlowDecoder().Decode(datagram, FlowAddress.Parse("192.0.2.7"), 0, ref sink);
        return counters;
    }

    private static CounterRecord Find(List<CounterRecord> records, uint source, uint format) =>
        Assert.Single(records, r => r.SourceId == source && r.Format == format);

    [Fact]
    public void Every_host_structure_is_read_field_by_field()
    {
        var records = Decode(HostSflow.Datagram(), out var result);
        Assert.True(result.IsOk, result.Describe(HostSflow.Datagram()));
        Assert.Equal(13, records.Count);
        const uint host = (2u << 24) | 1, container = (3u << 24) | 7;

        var descr = Find(records, host, 2000).Host!;
        Assert.Equal(new HostDescription("hv-7.example.net", HostSflow.HostUuid, 3, 2, "6.1.0-28-amd64"), descr);
        Assert.Equal(("x86_64", "linux"), (descr.MachineTypeName, descr.OsNameName));
        var adapters = Find(records, host, 2001).Adapters!;
        Assert.Equal(2, adapters.Length);
        Assert.Equal([2u, 3u], adapters.Select(a => a.IfIndex));
        Assert.Equal([0x02_00_00_00_00_0AUL], adapters[0].Macs);
        Assert.Equal([0x02_00_00_00_00_0BUL, 0x02_00_00_00_00_0CUL], adapters[1].Macs);

        var disk = Find(records, host, 2005);
        Assert.Equal([1UL << 40, 600UL << 30, 8123, 1000, 4_000_000, 50, 2000, 8_000_000, 70],
            CounterSchema.HostDiskIo.Names.Select(disk.Get));
        var nio = Find(records, host, 2006);
        Assert.Equal([5_000_000_000, 4_000_000, 1, 2, 6_000_000_000, 5_000_000, 3, 4], CounterSchema.HostNetIo.Names.Select(nio.Get));
        var node = Find(records, host, 2100);
        Assert.Equal([2400, 32, 128UL << 30, 90UL << 30, 12], CounterSchema.VirtNode.Names.Select(node.Get));
        Assert.Equal(40UL << 30, Find(records, host, 2004).Get("mem_free"));

        Assert.Equal(new HostDescription("web-1", HostSflow.ContainerUuid, 3, 2, ""), Find(records, container, 2000).Host);
        Assert.Equal([2UL, 1UL], CounterSchema.HostParent.Names.Select(Find(records, container, 2002).Get));
        Assert.Equal([1UL, 987_654, 4], CounterSchema.VirtCpu.Names.Select(Find(records, container, 2101).Get));
        Assert.Equal([2UL << 30, 4UL << 30], CounterSchema.VirtMemory.Names.Select(Find(records, container, 2102).Get));
        Assert.Equal([100UL << 30, 20UL << 30, 80UL << 30, 11, 12_000, 13, 14_000, 0], CounterSchema.VirtDiskIo.Names.Select(Find(records, container, 2103).Get));
        Assert.Equal([500_000_000, 21, 0, 1, 31_000, 41, 0, 2], CounterSchema.VirtNetIo.Names.Select(Find(records, container, 2104).Get));
    }

    [Fact]
    public void Host_structures_round_trip_through_the_encoder()
    {
        var records = Decode(HostSflow.Datagram(), out _);
        var buffer = new byte[8192];
        var n = new SFlowEncoder().Encode([], records.ToArray(), buffer);
        var again = Decode(buffer.AsSpan(0, n), out var result);
        Assert.True(result.IsOk, result.Describe(buffer.AsSpan(0, n)));
        Assert.Equal(records.Count, again.Count);
        for (var i = 0; i < records.Count; i++)
        {
            Assert.Equal((records[i].SourceId, records[i].Format, records[i].Count), (again[i].SourceId, again[i].Format, again[i].Count));
            Assert.Equal(records[i].Host, again[i].Host);
            Assert.Equal(records[i].Adapters?.SelectMany(a => a.Macs.Prepend(a.IfIndex)), again[i].Adapters?.SelectMany(a => a.Macs.Prepend(a.IfIndex)));
            for (var v = 0; v < records[i].Count; v++) Assert.Equal(records[i].Values[v], again[i].Values[v]);
        }
    }

    [Fact]
    public void Strings_and_lists_beyond_the_specification_are_malformed()
    {
        var buffer = new byte[4096];
        // Five adapters of 64 MACs: each within its own limit, 320 together.
        var many = new List<byte> { 0, 0, 0, 5 };
        for (var a = 0; a < 5; a++) many.AddRange([0, 0, 0, (byte)(a + 1), 0, 0, 0, 64, .. new byte[64 * 8]]);
        foreach (var (format, body) in new (uint, byte[])[]
                 {
                     (2000, [0, 0, 0, 65, .. new byte[68], .. new byte[28]]),          // a 65-byte hostname
                     (2000, [0, 0, 0, 4, (byte)'h', (byte)'o', (byte)'s', (byte)'t']),  // cut before the UUID
                     (2001, [0, 1, 0, 0]),                                              // 65,536 adapters in 4 bytes
                     (2001, [0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 200]),                    // 200 MACs announced, none there
                     (2001, [.. many]),
                 })
        {
            var w = new WireWriter(buffer);
            w.U32(5); w.U32(1); w.U32(0xC0000207); w.U32(0); w.U32(1); w.U32(1); w.U32(1);
            w.U32(2); w.U32((uint)(12 + 8 + body.Length)); w.U32(1); w.U32(1); w.U32(1);
            w.U32(format); w.U32((uint)body.Length); w.Bytes(body);
            Decode(buffer.AsSpan(0, w.Position), out var result);
            Assert.Equal(DecodeError.BadLength, result.Error);
        }
    }
}
