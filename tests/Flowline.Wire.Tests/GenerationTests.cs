using Flowline.Wire.Generation;
using Flowline.Records;

namespace Flowline.Wire.Tests;

public sealed class GenerationTests
{
    private static List<byte[]> Datagrams(FlowProtocol protocol, int seed, int flows, uint sampling = 1)
    {
        var generator = new DatagramGenerator(protocol, new TrafficGenerator(seed, hosts: 1000, samplingRate: sampling));
        var buffer = new byte[65536];
        var list = new List<byte[]>();
        while (generator.Flows < flows)
        {
            var n = generator.Next(buffer, flows - (int)generator.Flows, out _);
            list.Add(buffer.AsSpan(0, n).ToArray());
        }
        return list;
    }

    [Theory]
    [InlineData(FlowProtocol.SFlow5)]
    [InlineData(FlowProtocol.NetFlow9)]
    [InlineData(FlowProtocol.Ipfix)]
    public void The_same_seed_gives_the_same_datagrams(FlowProtocol protocol)
    {
        var a = Datagrams(protocol, 42, 3000);
        var b = Datagrams(protocol, 42, 3000);
        var c = Datagrams(protocol, 43, 3000);
        Assert.Equal(a.Count, b.Count);
        Assert.All(a.Zip(b), p => Assert.Equal(p.First, p.Second));
        Assert.NotEqual(a.SelectMany(x => x), c.SelectMany(x => x));
    }

    [Theory]
    [InlineData(FlowProtocol.SFlow5, 1u)]
    [InlineData(FlowProtocol.NetFlow9, 1u)]
    [InlineData(FlowProtocol.Ipfix, 1u)]
    [InlineData(FlowProtocol.Ipfix, 100u)]
    public void Every_generated_flow_decodes_with_its_sampling(FlowProtocol protocol, uint sampling)
    {
        var decoder = new FlowDecoder();
        var batch = new FlowBatch();
        foreach (var d in Datagrams(protocol, 1, 5000, sampling))
        {
            Assert.True(decoder.Decode(d, FlowAddress.Parse("192.0.2.1"), 0, batch).IsOk);
        }
        Assert.Equal(5000, batch.Count);
        Assert.Equal(0, decoder.Stats.MalformedDatagrams);
        for (var i = 0; i < batch.Count; i++)
        {
            Assert.Equal(sampling, batch.SamplingRate[i]);
            Assert.Equal(batch.SampledBytes[i] * sampling, batch.Bytes[i]);
        }
    }

    [Fact]
    public void Records_match_the_generator_field_for_field()
    {
        var traffic = new TrafficGenerator(9, hosts: 1000);
        var expected = Enumerable.Range(0, 2000).Select(_ => traffic.Next()).ToList();
        var decoder = new FlowDecoder();
        var batch = new FlowBatch();
        foreach (var d in Datagrams(FlowProtocol.Ipfix, 9, 2000)) decoder.Decode(d, FlowAddress.Parse("192.0.2.1"), 0, batch);
        var actual = Enumerable.Range(0, batch.Count).Select(i => batch[i]).ToList();
        // IPFIX data sets group IPv4 before IPv6 within a datagram, so compare as multisets.
        var key = (FlowRecord r) => (r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort, r.IpProto, r.SampledBytes, r.SampledPackets, r.Start / 1000);
        Assert.Equal(expected.Select(key).OrderBy(k => k), actual.Select(key).OrderBy(k => k));
    }

    [Fact]
    public void Hosts_are_zipf_distributed()
    {
        var traffic = new TrafficGenerator(3, hosts: 1000);
        var counts = new Dictionary<FlowAddress, int>();
        for (var i = 0; i < 50_000; i++)
        {
            var r = traffic.Next();
            var client = r.SrcPort >= 32768 ? r.SrcAddr : r.DstAddr;
            counts[client] = counts.GetValueOrDefault(client) + 1;
        }
        var ranked = counts.Values.OrderByDescending(v => v).ToList();
        // With exponent 1.1 over 1000 hosts the busiest client carries about 13% of flows (uniform: 0.1%),
        // and the top ten carry well over a third.
        Assert.InRange(ranked[0] / 50_000.0, 0.08, 0.2);
        Assert.True(ranked.Take(10).Sum() > 50_000 / 3, $"top ten: {ranked.Take(10).Sum()}");
    }
}
