using Flowline.Records;
using Flowline.Testing;
using Flowline.Wire.Encoders;

namespace Flowline.Wire.Tests;

/// <summary>
/// The counter structures Open vSwitch sends beside an interface's counters: of_port (0:1004) and port_name
/// (0:1005) from sflow.org/sflow_openflow.txt, app_resources (0:2203) from sflow_application.txt, and LACP
/// (0:7) from sflow_lag.txt for bond members: from the shared capture of a real bridge, from records laid
/// out here by hand from the specifications, and through the encoder and back.
/// </summary>
public sealed class SFlowPortStructureTests
{
    private static List<CounterRecord> Counters(IEnumerable<byte[]> datagrams, FlowDecoder decoder)
    {
        var counters = new List<CounterRecord>();
        var sink = new SFlowTests.CounterSink(counters);
        foreach (var d in datagrams)
        {
            var result = decoder.Decode(d, FlowAddress.Parse("192.0.2.7"), 0, ref sink);
            Assert.True(result.IsOk, result.Describe(d));
        }
        return counters;
    }

    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", ""));

    /// <summary>A datagram of one counter sample (0:2) with one record of <paramref name="format"/>.</summary>
    private static byte[] CounterDatagram(uint sourceId, uint format, byte[] body)
    {
        var buffer = new byte[64 + body.Length];
        var w = new WireWriter(buffer);
        w.U32(5); w.U32(1); w.U32(0xC0000207); w.U32(0); w.U32(1); w.U32(1000); w.U32(1);
        w.U32(2); w.U32((uint)(12 + 8 + body.Length));
        w.U32(1); w.U32(sourceId); w.U32(1);
        w.U32(format); w.U32((uint)body.Length); w.Bytes(body);
        return buffer[..w.Position];
    }

    [Fact]
    public void Open_vswitch_s_port_records_in_a_real_capture_are_read_and_none_is_skipped()
    {
        var decoder = new FlowDecoder();
        var counters = Counters(TestCorpus.Datagrams("ovs_sflow_s1_h128_p5").Select(d => d.Payload), decoder);
        // 57 interface samples of generic, ethernet, of_port and port_name; 11 of the datapath and app_resources.
        Assert.Equal(0, decoder.Stats.UnknownSkipped);
        Assert.Equal([(1u, 57), (2u, 57), (1004u, 57), (1005u, 57), (2203u, 11), (2207u, 11)],
            counters.GroupBy(c => c.Format).OrderBy(g => g.Key).Select(g => (g.Key, g.Count())));

        // The bridge's ports (values read from the capture's bytes): each interface names itself and its OpenFlow port.
        var names = counters.Where(c => c.Format == 1005).GroupBy(c => c.SourceId & 0xFF_FFFF).ToDictionary(g => g.Key, g => g.Select(c => c.PortName).Distinct().Single());
        Assert.Equal("cwa-p", names[69]);
        Assert.Equal("cwb-p", names[71]);
        Assert.Equal("cwt0", names[78]);
        Assert.Equal("cwbr", names[3]);
        var ports = counters.Where(c => c.Format == 1004).GroupBy(c => c.SourceId & 0xFF_FFFF).ToDictionary(g => g.Key, g => g.Select(c => (c.Get("openflow_datapath_id"), c.Get("openflow_port"))).Distinct().Single());
        Assert.Equal((0xC1UL, 1UL), ports[69]);
        Assert.Equal((0xC1UL, 2UL), ports[71]);
        Assert.Equal((0xC1UL, 65534UL), ports[3]); // OFPP_LOCAL: the bridge's own port

        var app = counters.First(c => c.Format == 2203);
        Assert.Equal([325UL, 265, 0x11DF000, 0, 0, 0, 0, 0], CounterSchema.AppResources.Names.Select(app.Get));
    }

    [Fact]
    public void A_lacp_record_is_read_field_by_field()
    {
        // lag_port_stats: actor and partner system ids (mac, padded to 8), attached aggregator, the four port states
        // in one word (actor admin, actor oper, partner admin, partner oper), then eight counters.
        var body = Hex("02aabbccdd01 0000 02aabbccdd02 0000 00000005 3d 3f 3c 3e"
            + "00000064 00000001 00000002 00000003 00000004 00000065 00000006 00000007");
        var datagram = CounterDatagram((2u << 24) | 17, 7, body);
        var c = Assert.Single(Counters([datagram], new FlowDecoder()));
        Assert.Equal(15, c.Count);
        Assert.Equal([0x02aabbccdd01UL, 0x02aabbccdd02, 5, 0x3d, 0x3f, 0x3c, 0x3e, 100, 1, 2, 3, 4, 101, 6, 7], CounterSchema.Lacp.Names.Select(c.Get));
    }

    [Fact]
    public void Port_records_round_trip_through_the_encoder()
    {
        var records = new List<CounterRecord>();
        CounterRecord Record(uint format, params ulong[] values)
        {
            var c = new CounterRecord { SourceId = (2u << 24) | 9, Format = format, SampleSequence = 4, Count = values.Length };
            for (var i = 0; i < values.Length; i++) c.Values[i] = values[i];
            return c;
        }
        records.Add(Record(7, 0x02aabbccdd01, 0x02aabbccdd02, 5, 0x3d, 0x3f, 0x3c, 0x3e, 100, 1, 2, 3, 4, 101, 6, 7));
        records.Add(Record(1004, 0xFEDC_BA98_7654_3210, 7));
        records.Add(Record(1005) with { PortName = "tap0f3c-9a" });
        records.Add(Record(1005) with { PortName = "" });
        records.Add(Record(2203, 1000, 200, 1UL << 33, 1UL << 34, 40, 1024, 3, 0));
        var buffer = new byte[4096];
        var n = new SFlowEncoder().Encode([], records.ToArray(), buffer);
        var again = Counters([buffer[..n]], new FlowDecoder());
        Assert.Equal(records.Count, again.Count);
        for (var i = 0; i < records.Count; i++)
        {
            Assert.Equal((records[i].Format, records[i].Count, records[i].PortName), (again[i].Format, again[i].Count, again[i].PortName));
            for (var v = 0; v < records[i].Count; v++) Assert.Equal(records[i].Values[v], again[i].Values[v]);
        }
    }

    [Fact]
    public void A_port_name_beyond_255_bytes_or_its_record_is_malformed()
    {
        var name = new byte[4 + 256];
        name[2] = 1; // length 256
        var datagram = CounterDatagram(1, 1005, name);
        var counters = new List<CounterRecord>();
        var sink = new SFlowTests.CounterSink(counters);
        Assert.False(new FlowDecoder().Decode(datagram, FlowAddress.Parse("192.0.2.7"), 0, ref sink).IsOk);
        // Shorter than the length it gives.
        Assert.False(new FlowDecoder().Decode(CounterDatagram(1, 1005, Hex("00000008 61626364")), FlowAddress.Parse("192.0.2.7"), 0, ref sink).IsOk);
        Assert.Empty(counters);
    }
}
