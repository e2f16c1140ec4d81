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
}
