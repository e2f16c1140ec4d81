using System.Buffers.Binary;
using Flowline.Wire.Ipfix;
using Flowline.Wire.NetFlow;
using Flowline.Records;
using Flowline.Wire.SFlow;

namespace Flowline.Wire;

/// <summary>
/// Decodes any supported export datagram (sFlow v5, NetFlow v5, NetFlow v9, IPFIX), recognised by its
/// version field. Holds the template cache, so one instance serves one stream of datagrams at a time.
/// Never throws on datagram content: a bad datagram is counted in <see cref="Stats"/> by reason.
/// </summary>
public sealed class FlowDecoder
{
    public FlowDecoder(DecodeLimits? limits = null, TemplateCache? templates = null)
    {
        Limits = limits ?? DecodeLimits.Default;
        Templates = templates ?? new TemplateCache(Limits);
    }

    public DecodeLimits Limits { get; }
    public TemplateCache Templates { get; }
    public DecodeStats Stats { get; } = new();

    /// <summary>Which protocol the datagram's first bytes announce.</summary>
    public static FlowProtocol Detect(ReadOnlySpan<byte> d)
    {
        if (d.Length < 4)
        {
            return FlowProtocol.Unknown;
        }
        var v16 = BinaryPrimitives.ReadUInt16BigEndian(d);
        return v16 switch
        {
            5 => FlowProtocol.NetFlow5,
            9 => FlowProtocol.NetFlow9,
            10 => FlowProtocol.Ipfix,
            0 when BinaryPrimitives.ReadUInt32BigEndian(d) == 5 => FlowProtocol.SFlow5,
            _ => FlowProtocol.Unknown,
        };
    }

    public DecodeResult Decode<TSink>(ReadOnlySpan<byte> datagram, FlowAddress exporter, long timeReceived, ref TSink sink)
        where TSink : IFlowSink
    {
        var protocol = Detect(datagram);
        Stats.Datagrams++;
        Stats.DatagramsByProtocol[(int)protocol]++;
        DecodeResult result;
        try
        {
            result = protocol switch
            {
                FlowProtocol.SFlow5 => SFlowDecoder.Decode(datagram, exporter, timeReceived, Limits, Stats, ref sink),
                FlowProtocol.NetFlow5 => NetFlowV5Decoder.Decode(datagram, exporter, timeReceived, Limits, Stats, ref sink),
                FlowProtocol.NetFlow9 => NetFlowV9Decoder.Decode(datagram, exporter, timeReceived, Templates, Limits, Stats, ref sink),
                FlowProtocol.Ipfix => IpfixDecoder.Decode(datagram, exporter, timeReceived, Templates, Limits, Stats, ref sink),
                _ => DecodeResult.Fail(datagram.Length < 4 ? DecodeError.Truncated : DecodeError.UnknownProtocol, 0),
            };
        }
        catch (Exception)
        {
            // A decoder bug must cost one datagram, never the collector. The fuzz and truncation tests
            // assert that this path is never taken.
            result = DecodeResult.Fail(DecodeError.Internal, 0);
        }
        if (!result.IsOk)
        {
            Stats.CountMalformed(result.Error);
        }
        return result;
    }

    /// <summary>The template scopes holding data sets for a template they now know (taken from the store's other collectors).</summary>
    public List<ExporterKey> ScopesWithHeldSets()
    {
        var keys = new List<ExporterKey>();
        foreach (var (key, state) in Templates.Exporters)
        {
            if (state.Pending.Count == 0) continue;
            foreach (var id in state.Templates.Keys)
            {
                if (!state.FirstHeld(id, out _)) continue;
                keys.Add(key);
                break;
            }
        }
        return keys;
    }

    /// <summary>
    /// Decodes a scope's data sets held for templates that became known without a template set of their
    /// exporter: each template's sets are reported after a header naming the exporter, with the times of the
    /// datagram that brought the oldest of them.
    /// </summary>
    public void DecodeHeld<TSink>(in ExporterKey key, ref TSink sink) where TSink : IFlowSink
    {
        if (!Templates.Exporters.TryGetValue(key, out var state)) return;
        foreach (var template in state.Templates.Values.ToArray())
        {
            if (!state.FirstHeld(template.Id, out var context)) continue;
            sink.OnDatagram(new DatagramHeader
            {
                Protocol = key.Protocol,
                Exporter = key.Exporter,
                Agent = key.Exporter,
                TimeReceived = context.TimeReceived,
                Version = key.Protocol == FlowProtocol.Ipfix ? (ushort)10 : (ushort)9,
                UptimeMs = context.UptimeMs,
                ExportTime = context.ExportTime,
                Sequence = context.Sequence,
                ObsDomain = key.Domain,
            });
            TemplateSetDecoder.DecodeHeld(template, key, state, Templates, Stats, ref sink);
        }
    }

    /// <summary>Decodes into a columnar batch.</summary>
    public DecodeResult Decode(ReadOnlySpan<byte> datagram, FlowAddress exporter, long timeReceived, FlowBatch batch)
    {
        var sink = new BatchSink(batch);
        return Decode(datagram, exporter, timeReceived, ref sink);
    }
}
