using Flowline.Wire.Encoders;
using Flowline.Records;

namespace Flowline.Wire.Tests;

/// <summary>Anyone can make up observation domains and templates: the cache stays within its limits, and real exporters keep decoding.</summary>
public sealed class TemplateLimitTests
{
    private const long Export = 1_795_000_002_000_000;
    private readonly byte[] _buffer = new byte[8192];

    [Fact]
    public void A_flood_of_made_up_domains_is_held_to_the_scope_limit_and_a_real_exporter_keeps_its_templates()
    {
        var decoder = new FlowDecoder(new DecodeLimits { MaxTemplateScopes = 100 });
        var real = new TemplateFlowEncoder(FlowProtocol.Ipfix, 1);
        var n = real.EncodeData([TestFlows.Tcp4(1)], _buffer, Export, 0, includeTemplates: true);
        Assert.Single(TestFlows.Decode(decoder, _buffer.AsSpan(0, n), out _));
        for (uint d = 1000; d < 3000; d++)
        {
            var fake = new TemplateFlowEncoder(FlowProtocol.Ipfix, d);
            var m = fake.EncodeTemplates(_buffer, Export, 0);
            TestFlows.Decode(decoder, _buffer.AsSpan(0, m), out var r);
            Assert.True(r.IsOk, r.ToString());
            Assert.True(decoder.Templates.Exporters.Count <= 100);
        }
        Assert.True(decoder.Templates.ScopesEvicted >= 1900, $"{decoder.Templates.ScopesEvicted} evicted");
        // The real exporter's data still decodes without a new template.
        n = real.EncodeData([TestFlows.Tcp4(2)], _buffer, Export, 0);
        var decoded = TestFlows.Decode(decoder, _buffer.AsSpan(0, n), out var result);
        Assert.True(result.IsOk, result.ToString());
        Assert.Equal(FiveTuple.Of(TestFlows.Tcp4(2)), FiveTuple.Of(Assert.Single(decoded)));
        Assert.Equal(0, decoder.Stats.PendingSets);
    }

    [Fact]
    public void Sets_held_by_an_evicted_scope_are_counted_as_dropped()
    {
        // 300 domains each send data before any template; only 100 scopes are kept, and each evicted one takes its held set with it.
        var decoder = new FlowDecoder(new DecodeLimits { MaxTemplateScopes = 100 });
        for (uint d = 0; d < 300; d++)
        {
            var m = new TemplateFlowEncoder(FlowProtocol.Ipfix, d).EncodeData([TestFlows.Tcp4(d)], _buffer, Export, 0);
            TestFlows.Decode(decoder, _buffer.AsSpan(0, m), out _);
        }
        Assert.True(decoder.Templates.ScopesEvicted >= 200, $"{decoder.Templates.ScopesEvicted} evicted");
        Assert.Equal(decoder.Templates.ScopesEvicted, decoder.Templates.PendingDropped);
        Assert.Equal(300, decoder.Templates.PendingDropped + decoder.Templates.PendingSets);
    }

    [Fact]
    public void Template_fields_across_domains_stay_within_the_budget()
    {
        var decoder = new FlowDecoder(new DecodeLimits { MaxTemplateFieldsTotal = 2_000 });
        for (uint d = 0; d < 500; d++)
        {
            var m = new TemplateFlowEncoder(FlowProtocol.NetFlow9, d).EncodeTemplates(_buffer, Export, 0);
            TestFlows.Decode(decoder, _buffer.AsSpan(0, m), out _);
        }
        var fields = decoder.Templates.Exporters.Values.SelectMany(e => e.AllTemplates).Sum(t => t.Fields.Length);
        Assert.InRange(fields, 1, 2_000);
        Assert.Equal(decoder.Templates.TemplateTotal, decoder.Templates.Exporters.Values.Sum(e => e.TemplateCount));
        Assert.True(decoder.Templates.ScopesEvicted > 0);
    }

    [Fact]
    public void Data_held_for_missing_templates_stays_within_the_decoders_budget()
    {
        var decoder = new FlowDecoder(new DecodeLimits { MaxPendingBytesTotal = 10_000 });
        for (uint d = 0; d < 400; d++)
        {
            var m = new TemplateFlowEncoder(FlowProtocol.Ipfix, d).EncodeData([TestFlows.Tcp4(d)], _buffer, Export, 0);
            TestFlows.Decode(decoder, _buffer.AsSpan(0, m), out _);
        }
        Assert.InRange(decoder.Templates.PendingBytesTotal, 1, 10_000);
        Assert.Equal(decoder.Templates.PendingBytesTotal, decoder.Templates.Exporters.Values.Sum(e => (long)e.PendingByteCount));
        Assert.True(decoder.Templates.PendingRefused > 0);
    }

    [Fact]
    public void Data_held_longer_than_the_age_limit_is_dropped_and_younger_sets_still_decode_when_their_template_comes()
    {
        var decoder = new FlowDecoder(new DecodeLimits { MaxPendingAge = TimeSpan.FromHours(1) });
        var exporter = FlowAddress.Parse("192.0.2.9");
        const long t0 = 1_795_000_000_000_000, minute = 60_000_000;
        var old = new TemplateFlowEncoder(FlowProtocol.Ipfix, 1);
        var young = new TemplateFlowEncoder(FlowProtocol.Ipfix, 2);
        List<FlowRecord> At(TemplateFlowEncoder e, long time, bool templates)
        {
            var batch = new FlowBatch();
            var n = templates ? e.EncodeTemplates(_buffer, Export, 0) : e.EncodeData([TestFlows.Tcp4(e == old ? 1u : 2u)], _buffer, Export, 0);
            Assert.True(decoder.Decode(_buffer.AsSpan(0, n), exporter, time, batch).IsOk);
            return [.. Enumerable.Range(0, batch.Count).Select(i => batch[i])];
        }
        Assert.Empty(At(old, t0, templates: false));
        Assert.Empty(At(young, t0 + 50 * minute, templates: false));
        var held = decoder.Templates.PendingBytesTotal;

        Assert.Equal(0, decoder.Templates.ExpireHeld(t0 + 59 * minute)); // younger than an hour: kept
        Assert.Equal(1, decoder.Templates.ExpireHeld(t0 + 61 * minute));
        Assert.Equal(1, decoder.Templates.PendingExpired);
        Assert.InRange(decoder.Templates.PendingBytesTotal, 1, held - 1);
        Assert.Equal(decoder.Templates.PendingBytesTotal, decoder.Templates.Exporters.Values.Sum(e => (long)e.PendingByteCount));

        // The young set decodes when its template comes; the dropped one's template finds nothing to decode.
        Assert.Equal(FiveTuple.Of(TestFlows.Tcp4(2)), FiveTuple.Of(Assert.Single(At(young, t0 + 61 * minute, templates: true))));
        Assert.Empty(At(old, t0 + 61 * minute, templates: true));
        Assert.Equal(0, decoder.Templates.PendingBytesTotal);
    }

    [Fact]
    public void One_address_making_up_domains_and_templates_cannot_push_another_exporters_templates_out()
    {
        var decoder = new FlowDecoder(new DecodeLimits { MaxTemplateFieldsTotal = 2_000, MaxTemplateScopes = 100, MaxPendingBytesTotal = 80_000 });
        FlowAddress real = FlowAddress.Parse("192.0.2.1"), flood = FlowAddress.Parse("192.0.2.66");
        var batch = new FlowBatch();
        var encoder = new TemplateFlowEncoder(FlowProtocol.Ipfix, 1);
        var n = encoder.EncodeData([TestFlows.Tcp4(1)], _buffer, Export, 0, includeTemplates: true);
        Assert.True(decoder.Decode(_buffer.AsSpan(0, n), real, Export, batch).IsOk);
        Assert.Equal(1, batch.Count);
        var share = decoder.Templates.Exporters.Keys.Count(k => k.Exporter == real);
        for (uint d = 0; d < 2_000; d++)
        {
            var fake = new TemplateFlowEncoder(FlowProtocol.Ipfix, 1000 + d);
            // Each made-up domain sends data (so it counts as a real exporter) and then its templates.
            var m = fake.EncodeData([TestFlows.Tcp4(d)], _buffer, Export, 0);
            decoder.Decode(_buffer.AsSpan(0, m), flood, Export, batch);
            m = fake.EncodeTemplates(_buffer, Export, 0);
            decoder.Decode(_buffer.AsSpan(0, m), flood, Export, batch);
            var flooded = decoder.Templates.Exporters.Where(e => e.Key.Exporter == flood).Select(e => e.Value).ToList();
            Assert.InRange(flooded.Count, 1, 100 / 8);
            Assert.InRange(flooded.Sum(e => e.AllTemplates.Sum(t => (long)t.Fields.Length)), 0, 2_000 / 8);
            Assert.InRange(flooded.Sum(e => (long)e.PendingByteCount), 0, 80_000 / 8);
        }
        Assert.Equal(share, decoder.Templates.Exporters.Keys.Count(k => k.Exporter == real));
        // The other exporter's data still decodes with the template it sent before the flood.
        batch.Clear();
        n = encoder.EncodeData([TestFlows.Tcp4(2)], _buffer, Export, 0);
        Assert.True(decoder.Decode(_buffer.AsSpan(0, n), real, Export, batch).IsOk);
        Assert.Equal(FiveTuple.Of(TestFlows.Tcp4(2)), FiveTuple.Of(Assert.Single(Enumerable.Range(0, batch.Count).Select(i => batch[i]))));
    }

    [Fact]
    public void Options_data_naming_ever_new_samplers_is_held_to_the_scopes_maximum()
    {
        var decoder = new FlowDecoder(new DecodeLimits { MaxSamplersPerScope = 256 });
        // IPFIX: an options template (scope observationDomainId; samplerId, samplingInterval) and 1,000 records.
        var d = new List<byte>();
        void U16(int v) { d.Add((byte)(v >> 8)); d.Add((byte)v); }
        void U32(long v) { U16((int)(v >> 16)); U16((int)(v & 0xFFFF)); }
        U16(10); U16(0); U32(Export / 1_000_000); U32(0); U32(7);
        U16(3); U16(22); U16(300); U16(3); U16(1); U16(149); U16(4); U16(48); U16(2); U16(34); U16(4);
        U16(300); U16(4 + 1_000 * 10);
        for (var id = 0; id < 1_000; id++) { U32(7); U16(id + 1); U32(100 + id); }
        var datagram = d.ToArray();
        datagram[2] = (byte)(datagram.Length >> 8);
        datagram[3] = (byte)datagram.Length;
        Assert.True(decoder.Decode(datagram, FlowAddress.Parse("192.0.2.9"), Export, new FlowBatch()).IsOk);
        Assert.Equal(1_000 - 256, decoder.Templates.SamplersRefused);
        Assert.Equal(256, Assert.Single(decoder.Templates.Exporters.Values).SamplerRates!.Count);
        // A sampler already known is updated, not refused.
        Assert.True(decoder.Decode(datagram, FlowAddress.Parse("192.0.2.9"), Export, new FlowBatch()).IsOk);
        Assert.Equal(2 * (1_000 - 256), decoder.Templates.SamplersRefused);
        Assert.Equal(256, decoder.Templates.Exporters.Values.Single().SamplerRates!.Count);
    }
}
