using Flowline.Wire.Encoders;
using Flowline.Records;

namespace Flowline.Wire.Tests;

public sealed class IpfixTests
{
    private const long Export = 1_795_000_002_000_000;
    private readonly byte[] _buffer = new byte[8192];

    [Fact]
    public void Round_trips_times_counts_macs_and_direction()
    {
        var encoder = new TemplateFlowEncoder(FlowProtocol.Ipfix, 77);
        var decoder = new FlowDecoder();
        var flows = new[] { TestFlows.Tcp4(0), TestFlows.Udp6(1) };
        var n = encoder.EncodeData(flows, _buffer, Export, 0, includeTemplates: true);
        var decoded = TestFlows.Decode(decoder, _buffer.AsSpan(0, n), out var result);
        Assert.True(result.IsOk, result.ToString());
        Assert.Equal(2, decoded.Count);
        for (var i = 0; i < 2; i++)
        {
            var (a, b) = (flows[i], decoded[i]);
            Assert.Equal(FiveTuple.Of(a), FiveTuple.Of(b));
            Assert.Equal(a.Start / 1000 * 1000, b.Start);
            Assert.Equal(a.End / 1000 * 1000, b.End);
            Assert.Equal(a.SampledBytes, b.Bytes);
            Assert.Equal(a.SampledPackets, b.Packets);
            Assert.Equal(a.SrcMac, b.SrcMac);
            Assert.Equal(a.DstMac, b.DstMac);
            Assert.Equal(a.Direction, b.Direction);
            Assert.Equal(a.TcpFlags, b.TcpFlags);
            Assert.Equal(77u, b.ObsDomain);
            Assert.Equal(FlowProtocol.Ipfix, b.Protocol);
        }
    }

    [Fact]
    public void Packet_interval_and_space_options_set_the_sampling_rate()
    {
        var encoder = new TemplateFlowEncoder(FlowProtocol.Ipfix, 5) { SamplingRate = 64 };
        var decoder = new FlowDecoder();
        var n = encoder.EncodeData([TestFlows.Tcp4()], _buffer, Export, 0, includeTemplates: true);
        var r = Assert.Single(TestFlows.Decode(decoder, _buffer.AsSpan(0, n), out var result));
        Assert.True(result.IsOk);
        Assert.Equal(64u, r.SamplingRate);
        Assert.Equal(TestFlows.Tcp4().SampledBytes * 64, r.Bytes);
        Assert.Equal(1, decoder.Stats.OptionsTemplates);
        Assert.Equal(1, decoder.Stats.OptionsRecords);
    }

    [Fact]
    public void A_biflow_record_becomes_two_one_way_records()
    {
        var encoder = new TemplateFlowEncoder(FlowProtocol.Ipfix, 1);
        var decoder = new FlowDecoder();
        var forward = new[] { TestFlows.Tcp4(0), TestFlows.Tcp4(1) };
        var reverse = new[] { new FlowRecord { SampledBytes = 9000, SampledPackets = 6 }, new FlowRecord() };
        var n = encoder.EncodeData(forward, _buffer, Export, 0, includeTemplates: true, reverse: reverse);
        var decoded = TestFlows.Decode(decoder, _buffer.AsSpan(0, n), out var result);
        Assert.True(result.IsOk, result.ToString());
        // The second record's reverse direction carries nothing and is not emitted.
        Assert.Equal(3, decoded.Count);
        var back = decoded[1];
        Assert.Equal(forward[0].DstAddr, back.SrcAddr);
        Assert.Equal(forward[0].SrcPort, back.DstPort);
        Assert.Equal(forward[0].InIf, back.OutIf);
        Assert.Equal(9000ul, back.Bytes);
        Assert.Equal(6ul, back.Packets);
        Assert.Equal(1, back.Direction);
        Assert.Equal(forward.Sum(f => (long)f.SampledBytes) + 9000, decoded.Sum(r => (long)r.Bytes));
    }

    [Fact]
    public void Variable_length_enterprise_elements_are_skipped_as_opaque_values()
    {
        var encoder = new TemplateFlowEncoder(FlowProtocol.Ipfix, 1);
        var decoder = new FlowDecoder();
        var flows = Enumerable.Range(0, 6).Select(i => TestFlows.Tcp4((uint)i)).ToArray();
        var n = encoder.EncodeData(flows, _buffer, Export, 0, includeTemplates: true, enterpriseField: true, padding: 3);
        var decoded = TestFlows.Decode(decoder, _buffer.AsSpan(0, n), out var result);
        Assert.True(result.IsOk, result.ToString());
        Assert.Equal(flows.Select(f => FiveTuple.Of(f)), decoded.Select(f => FiveTuple.Of(f)));
        Assert.Equal(flows.Select(f => f.SampledBytes), decoded.Select(f => f.Bytes));
    }

    [Fact]
    public void A_long_variable_length_value_uses_the_three_byte_length_form()
    {
        // Template: sourceIPv4Address (4) + an enterprise element of variable length; one record with a 300-byte value.
        var w = new WireWriter(_buffer);
        w.U16(10); w.U16(0); w.U32(1); w.U32(0); w.U32(3);
        w.U16(2); w.U16(4 + 4 + 4 + 8);
        w.U16(300); w.U16(2);
        w.U16(8); w.U16(4);
        w.U16(0x8001); w.U16(0xFFFF); w.U32(TemplateFlowEncoder.TestEnterprise);
        w.U16(300); var setLengthAt = w.Position; w.U16(0);
        w.U32(0x0A000001);
        w.U8(255); w.U16(300); w.Zeros(300);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(w.At(setLengthAt), (ushort)(w.Position - setLengthAt + 2));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(w.At(2), (ushort)w.Position);
        var r = Assert.Single(TestFlows.Decode(new FlowDecoder(), _buffer.AsSpan(0, w.Position), out var result));
        Assert.True(result.IsOk, result.ToString());
        Assert.Equal(FlowAddress.Parse("10.0.0.1"), r.SrcAddr);
    }

    [Fact]
    public void A_withdrawn_template_no_longer_decodes_data()
    {
        var encoder = new TemplateFlowEncoder(FlowProtocol.Ipfix, 9);
        var decoder = new FlowDecoder();
        var n = encoder.EncodeTemplates(_buffer, Export, 0);
        TestFlows.Decode(decoder, _buffer.AsSpan(0, n), out _);
        n = encoder.EncodeWithdrawal(TemplateFlowEncoder.V4Template, _buffer, Export);
        TestFlows.Decode(decoder, _buffer.AsSpan(0, n), out var withdrawal);
        Assert.True(withdrawal.IsOk);
        Assert.Equal(1, decoder.Stats.TemplatesWithdrawn);
        n = encoder.EncodeData([TestFlows.Tcp4()], _buffer, Export, 0);
        Assert.Empty(TestFlows.Decode(decoder, _buffer.AsSpan(0, n), out _));
        Assert.Equal(1, decoder.Stats.PendingSets);
    }

    [Fact]
    public void Withdraw_all_removes_every_data_template_of_the_domain()
    {
        var encoder = new TemplateFlowEncoder(FlowProtocol.Ipfix, 9);
        var decoder = new FlowDecoder();
        var n = encoder.EncodeTemplates(_buffer, Export, 0);
        TestFlows.Decode(decoder, _buffer.AsSpan(0, n), out _);
        n = encoder.EncodeWithdrawal(2, _buffer, Export);
        TestFlows.Decode(decoder, _buffer.AsSpan(0, n), out var result);
        Assert.True(result.IsOk);
        Assert.Equal(4, decoder.Stats.TemplatesWithdrawn);
        Assert.Equal(0, decoder.Templates.Exporters.Values.Single().TemplateCount);
    }

    [Fact]
    public void Templates_are_scoped_by_exporter_and_domain()
    {
        var decoder = new FlowDecoder();
        var a = new TemplateFlowEncoder(FlowProtocol.Ipfix, 1);
        var n = a.EncodeTemplates(_buffer, Export, 0);
        TestFlows.Decode(decoder, _buffer.AsSpan(0, n), out _);
        var b = new TemplateFlowEncoder(FlowProtocol.Ipfix, 2);
        n = b.EncodeData([TestFlows.Tcp4()], _buffer, Export, 0);
        Assert.Empty(TestFlows.Decode(decoder, _buffer.AsSpan(0, n), out _));
        Assert.Equal(1, decoder.Stats.PendingSets);
    }

    [Fact]
    public void The_pending_buffer_is_bounded_and_counts_what_it_drops()
    {
        var decoder = new FlowDecoder(new DecodeLimits { MaxPendingSetsPerExporter = 4 });
        var encoder = new TemplateFlowEncoder(FlowProtocol.Ipfix, 3);
        for (var i = 0; i < 10; i++)
        {
            var n = encoder.EncodeData([TestFlows.Tcp4((uint)i)], _buffer, Export, 0);
            TestFlows.Decode(decoder, _buffer.AsSpan(0, n), out _);
        }
        Assert.Equal(10, decoder.Stats.PendingSets);
        Assert.Equal(6, decoder.Stats.PendingDropped);
        Assert.Equal(6, decoder.Templates.PendingDropped); // what serve counts (flowline_template_pending_dropped_total)
        var m = encoder.EncodeTemplates(_buffer, Export, 0);
        var late = TestFlows.Decode(decoder, _buffer.AsSpan(0, m), out _);
        // The four newest sets survive, oldest first.
        Assert.Equal(Enumerable.Range(6, 4).Select(i => FiveTuple.Of(TestFlows.Tcp4((uint)i))), late.Select(f => FiveTuple.Of(f)));
    }

    /// <summary>An IPFIX message with one template and one record, built field by field.</summary>
    private int Message(ReadOnlySpan<(ushort Id, ushort Length)> fields, ReadOnlySpan<byte> record)
    {
        var w = new WireWriter(_buffer);
        w.U16(10); w.U16(0); w.U32(1_795_000_000); w.U32(0); w.U32(1);
        w.U16(2); w.U16((ushort)(4 + 4 + fields.Length * 4)); w.U16(400); w.U16((ushort)fields.Length);
        foreach (var (id, length) in fields) { w.U16(id); w.U16(length); }
        w.U16(400); w.U16((ushort)(4 + record.Length)); w.Bytes(record);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(w.At(2), (ushort)w.Position);
        return w.Position;
    }

    [Fact]
    public void Total_counts_stand_in_when_there_are_no_delta_counts_and_ntp_times_are_read()
    {
        // sourceIPv4Address, octetTotalCount (8), packetTotalCount (4, reduced size), flowStartMicroseconds, flowEndMicroseconds, protocol
        var record = Convert.FromHexString("0a000001" + "0000000000001f40" + "00000010" + "eb9a7e00" + "80000000" + "eb9a7e01" + "00000000" + "11");
        var n = Message([(8, 4), (85, 8), (86, 4), (154, 8), (155, 8), (4, 1)], record);
        var r = Assert.Single(TestFlows.Decode(new FlowDecoder(), _buffer.AsSpan(0, n), out var result));
        Assert.True(result.IsOk, result.ToString());
        Assert.Equal(8000ul, r.Bytes);
        Assert.Equal(16ul, r.Packets);
        // NTP 0xeb9a7e00 = 3952770560 s since 1900 = 1743781760 s Unix; fraction 0x80000000 = 0.5 s.
        Assert.Equal(1_743_781_760_500_000L, r.Start);
        Assert.Equal(1_743_781_761_000_000L, r.End);
        Assert.Equal(17, r.IpProto);
    }

    [Fact]
    public void Icmpv6_type_and_code_elements_become_the_destination_port()
    {
        // sourceIPv6Address, destinationIPv6Address, protocol, icmpTypeIPv6, icmpCodeIPv6, packetDeltaCount
        var record = Convert.FromHexString("fd000000000000000000000000000001" + "fd000000000000000000000000000002" + "3a" + "87" + "00" + "00000001");
        var n = Message([(27, 16), (28, 16), (4, 1), (178, 1), (179, 1), (2, 4)], record);
        var r = Assert.Single(TestFlows.Decode(new FlowDecoder(), _buffer.AsSpan(0, n), out var result));
        Assert.True(result.IsOk, result.ToString());
        Assert.Equal(0x8700, r.DstPort);
        Assert.Equal(135, r.IcmpType);
        Assert.Equal(6, r.IpVersion);
    }

    [Fact]
    public void Bytes_after_the_message_are_counted_and_its_records_kept()
    {
        // One message a datagram (RFC 7011 10.3.2): what follows its length is not silently ignored.
        var encoder = new TemplateFlowEncoder(FlowProtocol.Ipfix, 3);
        var n = encoder.EncodeData([TestFlows.Tcp4(1)], _buffer, Export, 0, includeTemplates: true);
        var decoder = new FlowDecoder();
        var decoded = TestFlows.Decode(decoder, _buffer.AsSpan(0, n + 4), out var result);
        Assert.Equal(FiveTuple.Of(TestFlows.Tcp4(1)), FiveTuple.Of(Assert.Single(decoded)));
        Assert.Equal(DecodeError.BadLength, result.Error);
        Assert.Equal(n, result.Offset);
        Assert.Single(TestFlows.Decode(new FlowDecoder(), _buffer.AsSpan(0, n), out var whole));
        Assert.True(whole.IsOk);
    }

    [Fact]
    public void A_message_length_beyond_the_datagram_is_truncated()
    {
        var encoder = new TemplateFlowEncoder(FlowProtocol.Ipfix, 3);
        var n = encoder.EncodeTemplates(_buffer, Export, 0);
        var decoder = new FlowDecoder();
        TestFlows.Decode(decoder, _buffer.AsSpan(0, n - 1), out var result);
        Assert.Equal(DecodeError.Truncated, result.Error);
    }

    [Theory]
    // flowStart/EndMilliseconds in the year 10000, and at 2^64 - 1 (which times 1000 would wrap to a plausible time)
    [InlineData(152, "0000e677d21fdc00", 153, "0000e677d21fdc00", FlowTime.MaxMicros, FlowTime.MaxMicros)]
    [InlineData(152, "ffffffffffffffff", 153, "ffffffffffffffff", FlowTime.MaxMicros, FlowTime.MaxMicros)]
    // flowStart/EndDeltaMicroseconds of 2^64 - 1: before the year 1
    [InlineData(158, "ffffffffffffffff", 159, "ffffffffffffffff", FlowTime.MinMicros, FlowTime.MinMicros)]
    // systemInitTimeMilliseconds near 2^64 with flowStart/EndSysUpTime
    [InlineData(160, "fffffffffffffff0", 22, "00000100", FlowTime.MaxMicros, FlowTime.MaxMicros)]
    public void Times_beyond_the_calendar_are_kept_at_its_ends(ushort first, string firstValue, ushort second, string secondValue, long start, long end)
    {
        var record = Convert.FromHexString("0a000001" + "00000010" + firstValue + secondValue + (second == 22 ? "00000200" : ""));
        (ushort, ushort)[] fields = second == 22
            ? [(8, 4), (2, 4), (first, 8), (22, 4), (21, 4)]
            : [(8, 4), (2, 4), (first, 8), (second, 8)];
        var n = Message(fields, record);
        var r = Assert.Single(TestFlows.Decode(new FlowDecoder(), _buffer.AsSpan(0, n), out var result));
        Assert.True(result.IsOk, result.ToString());
        Assert.Equal(start, r.Start);
        Assert.Equal(end, r.End);
        // Printable, as every output prints them.
        _ = DateTime.UnixEpoch.AddTicks(r.Start * 10);
        _ = DateTime.UnixEpoch.AddTicks(r.End * 10);
    }
}
