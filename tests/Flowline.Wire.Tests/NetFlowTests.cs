using System.Buffers.Binary;
using Flowline.Wire.Encoders;
using Flowline.Records;

namespace Flowline.Wire.Tests;

public sealed class NetFlowTests
{
    private const long Export = 1_795_000_002_000_000;

    [Fact]
    public void NetFlow_v5_round_trips_every_field()
    {
        var flows = new[] { TestFlows.Tcp4(0), TestFlows.Tcp4(1) };
        var encoder = new NetFlowV5Encoder { EngineType = 1, EngineId = 2, FlowSequence = 100 };
        var buffer = new byte[NetFlowV5Encoder.MaxLength(2)];
        var n = encoder.Encode(flows, Export, 3_600_000, buffer);
        var decoded = TestFlows.Decode(new FlowDecoder(), buffer.AsSpan(0, n), out var result);
        Assert.True(result.IsOk);
        Assert.Equal(2, decoded.Count);
        for (var i = 0; i < 2; i++)
        {
            var (a, b) = (flows[i], decoded[i]);
            Assert.Equal(FlowProtocol.NetFlow5, b.Protocol);
            Assert.Equal(FiveTuple.Of(a), FiveTuple.Of(b));
            Assert.Equal(a.SampledBytes, b.Bytes);
            Assert.Equal(a.SampledPackets, b.Packets);
            Assert.Equal((byte)a.TcpFlags, b.TcpFlags);
            Assert.Equal(a.Tos, b.Tos);
            Assert.Equal(a.InIf, b.InIf);
            Assert.Equal(a.OutIf, b.OutIf);
            Assert.Equal(a.Start / 1000, b.Start / 1000);
            Assert.Equal(a.End / 1000, b.End / 1000);
            Assert.Equal((1u << 8) | 2u, b.ObsDomain);
        }
    }

    [Fact]
    public void NetFlow_v5_sampling_interval_scales_the_estimates()
    {
        var encoder = new NetFlowV5Encoder { SamplingInterval = 0x4000 | 100 };
        var buffer = new byte[NetFlowV5Encoder.MaxLength(1)];
        var n = encoder.Encode([TestFlows.Tcp4()], Export, 1000, buffer);
        var r = Assert.Single(TestFlows.Decode(new FlowDecoder(), buffer.AsSpan(0, n), out _));
        Assert.Equal(100u, r.SamplingRate);
        Assert.Equal(TestFlows.Tcp4().SampledBytes * 100, r.Bytes);
        Assert.Equal(TestFlows.Tcp4().SampledBytes, r.SampledBytes);
    }

    [Fact]
    public void NetFlow_v9_round_trips_with_templates_and_sampling_options()
    {
        var encoder = new TemplateFlowEncoder(FlowProtocol.NetFlow9, 42) { SamplingRate = 10 };
        var buffer = new byte[4096];
        var decoder = new FlowDecoder();
        var n = encoder.EncodeTemplates(buffer, Export, 10_000);
        Assert.True(TestFlows.Decode(decoder, buffer.AsSpan(0, n), out var r1).Count == 0 && r1.IsOk, r1.ToString());
        Assert.Equal(2, decoder.Stats.Templates);
        Assert.Equal(1, decoder.Stats.OptionsRecords);

        var flows = new[] { TestFlows.Tcp4(0), TestFlows.Udp6(1), TestFlows.Tcp4(2) };
        n = encoder.EncodeData(flows, buffer, Export, 10_000);
        var decoded = TestFlows.Decode(decoder, buffer.AsSpan(0, n), out var result);
        Assert.True(result.IsOk, result.ToString());
        Assert.Equal(3, decoded.Count);
        var expected = flows.OrderBy(f => f.IpVersion).Select(f => FiveTuple.Of(f));
        Assert.Equal(expected, decoded.Select(f => FiveTuple.Of(f)));
        Assert.All(decoded, r => Assert.Equal(10u, r.SamplingRate));
        Assert.All(decoded, r => Assert.Equal(r.SampledBytes * 10, r.Bytes));
        Assert.Equal(flows[0].Start / 1000, decoded[0].Start / 1000);
        Assert.Equal(42u, decoded[0].ObsDomain);
        Assert.Equal(100, decoded.Single(r => r.IpVersion == 6).Vlan);
    }

    [Fact]
    public void NetFlow_v9_data_before_its_template_is_held_then_decoded()
    {
        var encoder = new TemplateFlowEncoder(FlowProtocol.NetFlow9, 7);
        var buffer = new byte[4096];
        var decoder = new FlowDecoder();
        var n = encoder.EncodeData([TestFlows.Tcp4()], buffer, Export, 1000);
        Assert.Empty(TestFlows.Decode(decoder, buffer.AsSpan(0, n), out var held));
        Assert.True(held.IsOk);
        Assert.Equal(1, decoder.Stats.PendingSets);

        n = encoder.EncodeTemplates(buffer, Export, 1000);
        var late = TestFlows.Decode(decoder, buffer.AsSpan(0, n), out var result);
        Assert.True(result.IsOk);
        Assert.Equal(FiveTuple.Of(TestFlows.Tcp4()), FiveTuple.Of(Assert.Single(late)));
        Assert.Equal(1, decoder.Stats.PendingDecoded);
        Assert.Equal(0, decoder.Templates.PendingSets);
    }

    [Theory]
    [InlineData(FlowProtocol.NetFlow9)]
    [InlineData(FlowProtocol.Ipfix)]
    public void Data_held_for_a_template_learned_elsewhere_is_decoded_then_or_at_the_template_s_next_refresh(FlowProtocol protocol)
    {
        var encoder = new TemplateFlowEncoder(protocol, 7);
        var buffer = new byte[4096];
        // Another collector's decoder heard the templates; this one hears only data.
        var other = new FlowDecoder();
        var n = encoder.EncodeTemplates(buffer, Export, 1000);
        TestFlows.Decode(other, buffer.AsSpan(0, n), out _);
        foreach (var refresh in new[] { false, true })
        {
            var decoder = new FlowDecoder();
            n = encoder.EncodeData([TestFlows.Tcp4(), TestFlows.Udp6(1)], buffer, Export, 1000);
            Assert.Empty(TestFlows.Decode(decoder, buffer.AsSpan(0, n), out _));
            Assert.Empty(decoder.ScopesWithHeldSets()); // held, and its template not known yet
            var (key, state) = Assert.Single(decoder.Templates.Exporters);
            foreach (var t in other.Templates.Exporters.Values.Single().AllTemplates) decoder.Templates.Add(state, t);
            var batch = new FlowBatch();
            var sink = new BatchSink(batch);
            if (refresh)
            {
                // The exporter's periodic template set arrives unchanged: what waited is decoded with it.
                n = encoder.EncodeTemplates(buffer, Export, 1000);
                decoder.Decode(buffer.AsSpan(0, n), FlowAddress.Parse("192.0.2.9"), 1_795_000_002_000_000, batch);
            }
            else
            {
                Assert.Equal(key, Assert.Single(decoder.ScopesWithHeldSets()));
                decoder.DecodeHeld(key, ref sink);
            }
            Assert.Equal(2, batch.Count);
            Assert.Equal(FiveTuple.Of(TestFlows.Tcp4()), FiveTuple.Of(batch[0]));
            Assert.Equal(7u, batch[1].ObsDomain);
            Assert.Equal(FlowAddress.Parse("192.0.2.9"), batch[1].Exporter);
            Assert.Equal(0, decoder.Templates.PendingSets);
            Assert.Equal(2, decoder.Stats.PendingDecoded);
        }
    }

    [Fact]
    public void NetFlow_v9_flowset_padding_is_accepted()
    {
        var encoder = new TemplateFlowEncoder(FlowProtocol.NetFlow9, 1);
        var buffer = new byte[4096];
        var decoder = new FlowDecoder();
        var n = encoder.EncodeData([TestFlows.Tcp4()], buffer, Export, 1000, includeTemplates: true, padding: 3);
        var decoded = TestFlows.Decode(decoder, buffer.AsSpan(0, n), out var result);
        Assert.True(result.IsOk, result.ToString());
        Assert.Single(decoded);
    }

    [Fact]
    public void A_template_with_too_many_fields_is_refused_and_counted()
    {
        var decoder = new FlowDecoder(new DecodeLimits { MaxFieldsPerTemplate = 8 });
        var encoder = new TemplateFlowEncoder(FlowProtocol.NetFlow9, 1);
        var buffer = new byte[4096];
        var n = encoder.EncodeTemplates(buffer, Export, 1000);
        TestFlows.Decode(decoder, buffer.AsSpan(0, n), out var result);
        Assert.Equal(DecodeError.LimitExceeded, result.Error);
        Assert.Equal(1, decoder.Stats.MalformedByReason[(int)DecodeError.LimitExceeded]);
    }

    [Fact]
    public void The_template_limit_per_exporter_holds_under_a_flood()
    {
        var decoder = new FlowDecoder(new DecodeLimits { MaxTemplatesPerExporter = 10 });
        var buffer = new byte[64];
        for (ushort id = 256; id < 300; id++)
        {
            // v9 header + one template flowset with one single-field template.
            var w = new WireWriter(buffer);
            w.U16(9); w.U16(1); w.U32(0); w.U32(0); w.U32(id); w.U32(0);
            w.U16(0); w.U16(12); w.U16(id); w.U16(1); w.U16(8); w.U16(4);
            decoder.Decode(buffer.AsSpan(0, w.Position), FlowAddress.Parse("192.0.2.1"), 0, new FlowBatch());
        }
        Assert.Equal(10, decoder.Templates.Exporters.Values.Single().TemplateCount);
        Assert.Equal(34, decoder.Stats.MalformedByReason[(int)DecodeError.TemplateLimit]);
    }

    [Fact]
    public void An_unknown_version_is_counted_not_thrown()
    {
        var decoder = new FlowDecoder();
        var d = new byte[24];
        BinaryPrimitives.WriteUInt16BigEndian(d, 7);
        TestFlows.Decode(decoder, d, out var result);
        Assert.Equal(DecodeError.UnknownProtocol, result.Error);
        Assert.Contains("unknown_protocol at byte 0 of 24: 0007", result.Describe(d));
    }
}
