using System.Buffers.Binary;
using Flowline.Wire.Encoders;
using Flowline.Records;

namespace Flowline.Wire.Tests;

public sealed class SFlowTests
{
    /// <summary>An sFlow datagram with one flow sample holding the given raw header and any extra records.</summary>
    private static byte[] Datagram(ReadOnlySpan<byte> header, uint frameLength, uint rate = 1, uint headerProtocol = 1,
        uint output = 2, params (uint Tag, byte[] Body)[] extra)
    {
        var buffer = new byte[2048];
        var w = new WireWriter(buffer);
        w.U32(5); w.U32(1); w.U32(0xC0000201); w.U32(0); w.U32(1); w.U32(1000); w.U32(1);
        w.U32(1); var lengthAt = w.Position; w.U32(0); var start = w.Position;
        w.U32(1); w.U32(3); w.U32(rate); w.U32(rate); w.U32(0); w.U32(1); w.U32(output);
        w.U32((uint)(1 + extra.Length));
        w.U32(1); w.U32((uint)(16 + ((header.Length + 3) & ~3))); w.U32(headerProtocol); w.U32(frameLength); w.U32(4); w.U32((uint)header.Length);
        w.Bytes(header); w.Align4();
        foreach (var (tag, body) in extra)
        {
            w.U32(tag); w.U32((uint)body.Length); w.Bytes(body);
        }
        BinaryPrimitives.WriteUInt32BigEndian(w.At(lengthAt), (uint)(w.Position - start));
        return buffer.AsSpan(0, w.Position).ToArray();
    }

    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", ""));

    private static FlowRecord One(byte[] datagram, FlowDecoder? decoder = null)
    {
        var records = TestFlows.Decode(decoder ?? new FlowDecoder(), datagram, out var result);
        Assert.True(result.IsOk, result.Describe(datagram));
        return Assert.Single(records);
    }

    [Fact]
    public void Encoder_round_trip_scales_by_the_sampling_rate()
    {
        var flow = TestFlows.Tcp4();
        flow.SamplingRate = 512;
        flow.SampledBytes = 1518;
        var encoder = new SFlowEncoder();
        var buffer = new byte[1500];
        var n = encoder.Encode([flow], [], buffer);
        var r = One(buffer.AsSpan(0, n).ToArray());
        Assert.Equal(FiveTuple.Of(flow), FiveTuple.Of(r));
        Assert.Equal(512u, r.SamplingRate);
        Assert.Equal(1518ul * 512, r.Bytes);
        Assert.Equal(512ul, r.Packets);
        Assert.Equal(1518ul, r.SampledBytes);
        Assert.Equal(flow.SrcMac, r.SrcMac);
        Assert.Equal(flow.Tos, r.Tos);
        Assert.Equal(flow.TcpFlags, r.TcpFlags);
        Assert.Equal(FlowAddress.Parse("192.0.2.1"), r.Exporter);
    }

    [Fact]
    public void Vxlan_inner_flow_is_the_record_and_the_outer_header_the_underlay()
    {
        var flow = TestFlows.Tcp4();
        flow.Tunnel = TunnelKind.Vxlan;
        flow.TunnelId = 5001;
        flow.UnderlaySrc = FlowAddress.Parse("172.16.0.1");
        flow.UnderlayDst = FlowAddress.Parse("172.16.0.2");
        flow.UnderlaySrcPort = 49152;
        var buffer = new byte[1500];
        var n = new SFlowEncoder { HeaderBytes = 200 }.Encode([flow], [], buffer);
        var r = One(buffer.AsSpan(0, n).ToArray());
        Assert.Equal(FiveTuple.Of(flow), FiveTuple.Of(r));
        Assert.Equal(TunnelKind.Vxlan, r.Tunnel);
        Assert.Equal(5001u, r.TunnelId);
        Assert.Equal(17, r.UnderlayProto);
        Assert.Equal(49152, r.UnderlaySrcPort);
        Assert.Equal(flow.UnderlaySrc, r.UnderlaySrc);
        Assert.Equal(flow.DstMac, r.DstMac);
    }

    [Fact]
    public void Gre_with_key_carrying_ipv4_is_followed()
    {
        // Ethernet / IPv4 (proto 47) / GRE with K bit, key 0x1234, type 0x0800 / IPv4 / UDP 1000 -> 2000
        var header = Hex(
            "020000000002 020000000001 0800" +
            "45000040 00004000 402f0000 ac100001 ac100002" +
            "2000 0800 00001234" +
            "4500001c 00004000 40110000 0a000001 0a000002" +
            "03e8 07d0 0008 0000");
        var r = One(Datagram(header, 100));
        Assert.Equal(TunnelKind.Gre, r.Tunnel);
        Assert.Equal(0x1234u, r.TunnelId);
        Assert.Equal(47, r.UnderlayProto);
        Assert.Equal(new FiveTuple(FlowAddress.Parse("10.0.0.1"), FlowAddress.Parse("10.0.0.2"), 17, 1000, 2000), FiveTuple.Of(r));
    }

    [Fact]
    public void QinQ_tags_give_outer_and_inner_vlans()
    {
        var header = Hex("020000000002 020000000001 88a8 0064 8100 00c8 0800 45000028 00004000 40060000 0a000001 0a000002 0050 1f90 00000000 00000000 5012 ffff 00000000");
        var r = One(Datagram(header, 64));
        Assert.Equal(100, r.Vlan);
        Assert.Equal(200, r.PostVlan);
        Assert.Equal(6, r.IpProto);
        Assert.Equal(0x12, r.TcpFlags);
        Assert.Equal(8080, r.DstPort);
    }

    [Fact]
    public void Ipv6_extension_headers_are_walked_to_the_transport_header()
    {
        // IPv6 / hop-by-hop (8 bytes) / destination options (8 bytes) / UDP 53 -> 5353
        var header = Hex(
            "020000000002 020000000001 86dd" +
            "60000000 0018 00 40 fd000000000000000000000000000001 fd000000000000000000000000000002" +
            "3c00 0000 00000000" + "1100 0000 00000000" + "0035 14e9 0008 0000");
        var r = One(Datagram(header, 100));
        Assert.Equal(6, r.IpVersion);
        Assert.Equal(new FiveTuple(FlowAddress.Parse("fd00::1"), FlowAddress.Parse("fd00::2"), 17, 53, 5353), FiveTuple.Of(r));
    }

    [Fact]
    public void A_later_ipv6_fragment_has_no_ports()
    {
        var header = Hex(
            "020000000002 020000000001 86dd" +
            "60000000 0010 2c 40 fd000000000000000000000000000001 fd000000000000000000000000000002" +
            "1100 0100 00000001" + "0035 14e9 0008 0000");
        var r = One(Datagram(header, 100));
        Assert.Equal(17, r.IpProto);
        Assert.Equal(0, r.SrcPort);
    }

    [Fact]
    public void Icmpv6_type_and_code_become_the_destination_port()
    {
        var header = Hex("020000000002 020000000001 86dd 60000000 0008 3a 40 fd000000000000000000000000000001 fd000000000000000000000000000002 8000 0000 00000000");
        var r = One(Datagram(header, 100));
        Assert.Equal(58, r.IpProto);
        Assert.Equal(128, r.IcmpType);
        Assert.Equal(128 << 8, r.DstPort);
    }

    [Fact]
    public void Raw_ipv4_header_protocol_and_extended_switch_router_gateway_records()
    {
        var ip = Hex("45000028 00004000 40060000 0a000001 0a000002 0050 1f90 00000000 00000000 5002 ffff 00000000");
        var sw = Hex("0000000a 00000000 00000014 00000000");
        var router = Hex("00000001 c0000201 00000018 00000010");
        var gateway = Hex("00000001 c0000201 0000fde8 0000fde9 0000fdea 00000001 00000002 00000002 0000fdeb 0000fdec 00000000 00000064");
        var r = One(Datagram(ip, 44, headerProtocol: 11, extra: [(1001, sw), (1002, router), (1003, gateway)]));
        Assert.Equal(4, r.IpVersion);
        Assert.Equal(10, r.Vlan);
        Assert.Equal(20, r.PostVlan);
        Assert.Equal(FlowAddress.Parse("192.0.2.1"), r.NextHop);
        Assert.Equal(24, r.SrcMask);
        Assert.Equal(16, r.DstMask);
        Assert.Equal(0xfde9u, r.SrcAs);
        Assert.Equal(0xfdecu, r.DstAs);
    }

    [Fact]
    public void Sampled_ipv4_and_ethernet_records_stand_in_for_a_header()
    {
        var eth = Hex("000005ee 020000000001 0000 020000000002 0000 00000800");
        var ipv4 = Hex("000005dc 00000011 0a000001 0a000002 00000035 000014e9 00000000 00000000");
        var buffer = new byte[512];
        var w = new WireWriter(buffer);
        w.U32(5); w.U32(1); w.U32(0xC0000201); w.U32(0); w.U32(1); w.U32(1000); w.U32(1);
        w.U32(1); w.U32((uint)(32 + 8 + eth.Length + 8 + ipv4.Length));
        w.U32(1); w.U32(3); w.U32(10); w.U32(10); w.U32(0); w.U32(1); w.U32(2); w.U32(2);
        w.U32(2); w.U32((uint)eth.Length); w.Bytes(eth);
        w.U32(3); w.U32((uint)ipv4.Length); w.Bytes(ipv4);
        var r = One(buffer.AsSpan(0, w.Position).ToArray());
        Assert.Equal(new FiveTuple(FlowAddress.Parse("10.0.0.1"), FlowAddress.Parse("10.0.0.2"), 17, 53, 5353), FiveTuple.Of(r));
        Assert.Equal(0x5EEul * 10, r.Bytes);
        Assert.Equal(0x020000000001ul, r.SrcMac);
    }

    [Fact]
    public void Unknown_records_are_skipped_by_length_and_counted()
    {
        var header = Hex("020000000002 020000000001 0800 45000028 00004000 40060000 0a000001 0a000002 0050 1f90 00000000 00000000 5002 ffff 00000000");
        var decoder = new FlowDecoder();
        var r = One(Datagram(header, 64, extra: [(1010, new byte[12]), ((9u << 12) | 1, new byte[4])]), decoder);
        Assert.Equal(80, r.SrcPort);
        Assert.Equal(2, decoder.Stats.UnknownSkipped);
    }

    [Fact]
    public void A_discarded_packet_is_marked_dropped()
    {
        var header = Hex("020000000002 020000000001 0800 45000028 00004000 40060000 0a000001 0a000002 0050 1f90 00000000 00000000 5002 ffff 00000000");
        var r = One(Datagram(header, 64, output: 0x4000_0000 | 3));
        Assert.Equal(128, r.ForwardingStatus);
        Assert.Equal(0u, r.OutIf);
    }

    [Fact]
    public void Counter_records_round_trip_through_their_schema()
    {
        var generic = new CounterRecord { Enterprise = 0, Format = 1, SourceId = 7, SampleSequence = 3, Count = CounterSchema.GenericInterface.Names.Length };
        for (var i = 0; i < generic.Count; i++) generic.Values[i] = (ulong)(i + 1) * 1000;
        generic.Values[2] = 10_000_000_000; // ifSpeed is 64-bit
        var dp = new CounterRecord { Format = 2207, SourceId = (2u << 24) | 1000, Count = 6 };
        for (var i = 0; i < 6; i++) dp.Values[i] = (ulong)i + 10;
        var buffer = new byte[1500];
        var n = new SFlowEncoder().Encode([], [generic, dp], buffer);
        var counters = new List<CounterRecord>();
        var sink = new CounterSink(counters);
        var decoder = new FlowDecoder();
        Assert.True(decoder.Decode(buffer.AsSpan(0, n), FlowAddress.Parse("192.0.2.1"), 0, ref sink).IsOk);
        Assert.Equal(2, counters.Count);
        Assert.Equal(10_000_000_000ul, counters[0].Get("ifSpeed"));
        Assert.Equal(6000ul, counters[0].Get("ifInOctets"));
        Assert.Equal(7u, counters[0].SourceId);
        Assert.Equal(15ul, counters[1].Get("OVS_dp_masks"));
        Assert.Equal(2, decoder.Stats.CounterSamples);
    }

    [Fact]
    public void Host_cpu_and_memory_counters_keep_floats_and_64_bit_values()
    {
        var cpu = new CounterRecord { Format = 2003, SourceId = (2u << 24) | 1, Count = 17 };
        cpu.Values[0] = (uint)BitConverter.SingleToInt32Bits(0.75f);
        for (var i = 3; i < 17; i++) cpu.Values[i] = (ulong)(i * 10);
        var memory = new CounterRecord { Format = 2004, SourceId = (2u << 24) | 1, Count = 11 };
        memory.Values[0] = 24UL << 30;
        memory.Values[10] = 7;
        var buffer = new byte[1500];
        var n = new SFlowEncoder().Encode([], [cpu, memory], buffer);
        var counters = new List<CounterRecord>();
        var sink = new CounterSink(counters);
        Assert.True(new FlowDecoder().Decode(buffer.AsSpan(0, n), FlowAddress.Parse("192.0.2.1"), 0, ref sink).IsOk);
        Assert.Equal(0.75f, BitConverter.Int32BitsToSingle((int)counters[0].Get("cpu_load_one")));
        Assert.Equal(50ul, counters[0].Get("cpu_num"));
        Assert.Equal(17, counters[0].Count); // the optional steal/guest fields are absent
        Assert.Equal(24UL << 30, counters[1].Get("mem_total"));
        Assert.Equal(7ul, counters[1].Get("swap_out"));
    }

    /// <summary>Keeps the counter records a decode yields.</summary>
    internal readonly struct CounterSink(List<CounterRecord> list) : IFlowSink
    {
        public void OnFlow(in FlowRecord record, in SampledPacket packet) { }
        public void OnCounters(in CounterRecord record) => list.Add(record);
        public void OnDatagram(in DatagramHeader header) { }
        public void OnSample(in SampleHeader sample) { }
        public void OnTemplate(in TemplateEvent template) { }
        public void OnOptions(FlowProtocol protocol, uint obsDomain, ushort templateId) { }
    }

    [Fact]
    public void Expanded_flow_and_counter_samples_are_decoded()
    {
        var header = Hex("020000000002 020000000001 0800 45000028 00004000 40060000 0a000001 0a000002 0050 1f90 00000000 00000000 5002 ffff 00000000");
        var buffer = new byte[1024];
        var w = new WireWriter(buffer);
        w.U32(5); w.U32(1); w.U32(0xC0000201); w.U32(3); w.U32(9); w.U32(1000); w.U32(2);
        // expanded flow sample (0:3): source id type 0 index 70000 (beyond 24 bits in the compact form)
        w.U32(3); w.U32((uint)(44 + 8 + 16 + header.Length));
        w.U32(1); w.U32(0); w.U32(70000); w.U32(256); w.U32(256); w.U32(0); w.U32(0); w.U32(70000); w.U32(0); w.U32(70001); w.U32(1);
        w.U32(1); w.U32((uint)(16 + header.Length)); w.U32(1); w.U32(64); w.U32(4); w.U32((uint)header.Length); w.Bytes(header);
        // expanded counter sample (0:4) with one VLAN counter record
        w.U32(4); w.U32(16 + 8 + 28);
        w.U32(1); w.U32(0); w.U32(70000); w.U32(1);
        w.U32(5); w.U32(28); w.U32(100); w.U64(123456789); w.U32(1); w.U32(2); w.U32(3); w.U32(4);
        var counters = new List<CounterRecord>();
        var sink = new CounterSink(counters);
        var decoder = new FlowDecoder();
        Assert.True(decoder.Decode(buffer.AsSpan(0, w.Position), FlowAddress.Parse("192.0.2.1"), 0, ref sink).IsOk);
        var flow = Assert.Single(TestFlows.Decode(new FlowDecoder(), buffer.AsSpan(0, w.Position), out _));
        Assert.Equal(70000u, flow.InIf);
        Assert.Equal(70001u, flow.OutIf);
        Assert.Equal(256u, flow.SamplingRate);
        Assert.Equal(64ul * 256, flow.Bytes);
        Assert.Equal(3u, flow.ObsDomain);
        var vlan = Assert.Single(counters);
        Assert.Equal(100ul, vlan.Get("vlan"));
        Assert.Equal(123456789ul, vlan.Get("octets"));
        Assert.Equal(4ul, vlan.Get("discards"));
    }

    [Fact]
    public void More_samples_than_the_limit_is_refused()
    {
        var d = new byte[28];
        BinaryPrimitives.WriteUInt32BigEndian(d, 5);
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(24), 100_000);
        TestFlows.Decode(new FlowDecoder(), d, out var result);
        Assert.Equal(DecodeError.LimitExceeded, result.Error);
    }

    [Fact]
    public void An_ipv6_agent_address_is_read()
    {
        var flow = TestFlows.Tcp4();
        var encoder = new SFlowEncoder { Agent = FlowAddress.Parse("2001:db8::7") };
        var buffer = new byte[1500];
        var n = encoder.Encode([flow], [], buffer);
        Assert.Equal(FlowAddress.Parse("2001:db8::7"), One(buffer.AsSpan(0, n).ToArray()).Exporter);
    }
}
