using System.Buffers;
using System.Buffers.Binary;
using Flowline.Records;

namespace Flowline.Wire.Ipfix;

/// <summary>IPFIX (RFC 7011) messages: template, options template and data sets.</summary>
public static class IpfixDecoder
{
    public const int HeaderLength = 16;
    public const ushort TemplateSetId = 2;
    public const ushort OptionsTemplateSetId = 3;

    /*
     Message header (RFC 7011 3.1):
      0                   1                   2                   3
     |       Version Number (10)     |            Length             |
     |                           Export Time                         |
     |                       Sequence Number                         |
     |                    Observation Domain ID                      |
     Set header (3.3.2): | Set ID (2 template, 3 options template, >= 256 data) | Length |
    */
    public static DecodeResult Decode<TSink>(ReadOnlySpan<byte> d, FlowAddress exporter, long timeReceived,
        TemplateCache cache, DecodeLimits limits, DecodeStats stats, ref TSink sink) where TSink : IFlowSink
    {
        if (d.Length < HeaderLength)
        {
            return DecodeResult.Fail(DecodeError.Truncated, d.Length);
        }
        var length = BinaryPrimitives.ReadUInt16BigEndian(d[2..]);
        if (length < HeaderLength)
        {
            return DecodeResult.Fail(DecodeError.BadHeader, 2);
        }
        if (length > d.Length)
        {
            return DecodeResult.Fail(DecodeError.Truncated, d.Length);
        }
        // Over UDP a datagram carries one message (RFC 7011): bytes after it are counted, once its sets are decoded.
        var trailing = d.Length - length;
        d = d[..length];
        var header = new DatagramHeader
        {
            Protocol = FlowProtocol.Ipfix,
            Exporter = exporter,
            Agent = exporter,
            TimeReceived = timeReceived,
            Length = length,
            Version = 10,
            ExportTime = BinaryPrimitives.ReadUInt32BigEndian(d[4..]),
            Sequence = BinaryPrimitives.ReadUInt32BigEndian(d[8..]),
            ObsDomain = BinaryPrimitives.ReadUInt32BigEndian(d[12..]),
        };
        var ctx = new PacketContext
        {
            TimeReceived = timeReceived,
            ExportTime = header.ExportTime,
            Sequence = header.Sequence,
        };
        var key = new ExporterKey(exporter, header.ObsDomain, FlowProtocol.Ipfix);
        var state = cache.GetOrAdd(key);
        sink.OnDatagram(header);

        var offset = HeaderLength;
        while (offset < d.Length)
        {
            if (d.Length - offset < 4)
            {
                return DecodeResult.Fail(DecodeError.BadLength, offset);
            }
            var setId = BinaryPrimitives.ReadUInt16BigEndian(d[offset..]);
            var setLength = BinaryPrimitives.ReadUInt16BigEndian(d[(offset + 2)..]);
            if (setLength < 4)
            {
                return DecodeResult.Fail(DecodeError.BadLength, offset + 2);
            }
            if (setLength > d.Length - offset)
            {
                return DecodeResult.Fail(DecodeError.Truncated, offset + 2);
            }
            var body = d.Slice(offset + 4, setLength - 4);
            var bodyOffset = offset + 4;
            offset += setLength;
            DecodeResult result;
            if (setId is TemplateSetId or OptionsTemplateSetId)
            {
                result = DecodeTemplateSet(body, setId == OptionsTemplateSetId, key, state, cache, limits, stats, ref sink);
            }
            else if (setId < 256)
            {
                stats.UnknownSkipped++;
                continue;
            }
            else
            {
                var template = state.Templates.GetValueOrDefault(setId);
                if (template is null)
                {
                    stats.PendingSets++;
                    stats.PendingDropped += cache.Hold(state, setId, body, ctx);
                    continue;
                }
                result = DataSetDecoder.Decode(template, body, key, state, ctx, stats, ref sink, out _);
            }
            if (!result.IsOk)
            {
                return result with { Offset = result.Offset + bodyOffset };
            }
        }
        return trailing > 0 ? DecodeResult.Fail(DecodeError.BadLength, length) : DecodeResult.Ok;
    }

    /*
     Template record (3.4.1):          Options template record (3.4.2.2):
       Template ID (2) | Field Count     Template ID (2) | Field Count (2) | Scope Field Count (2)
     Field specifier (3.2):
       |E|  Information Element id (15) |        Field Length (2)        |
       |              Enterprise Number (4, only when E = 1)             |
     A template record with Field Count 0 withdraws the template; Template ID 2 (3) withdraws all
     templates (options templates) of the domain.
    */
    private static DecodeResult DecodeTemplateSet<TSink>(ReadOnlySpan<byte> body, bool options, in ExporterKey key,
        ExporterTemplateState state, TemplateCache cache, DecodeLimits limits, DecodeStats stats, ref TSink sink) where TSink : IFlowSink
    {
        var offset = 0;
        var headerLength = options ? 6 : 4;
        Span<FieldSpec> small = stackalloc FieldSpec[128];
        while (body.Length - offset >= 4)
        {
            var recordStart = offset;
            var templateId = BinaryPrimitives.ReadUInt16BigEndian(body[offset..]);
            var fieldCount = BinaryPrimitives.ReadUInt16BigEndian(body[(offset + 2)..]);
            if (fieldCount == 0)
            {
                // Withdrawal: 4 bytes only, even in an options template set.
                offset += 4;
                if (templateId == TemplateSetId || templateId == OptionsTemplateSetId)
                {
                    stats.TemplatesWithdrawn += cache.WithdrawAll(state, templateId == OptionsTemplateSetId);
                }
                else if (templateId >= 256)
                {
                    if (cache.Withdraw(state, templateId)) stats.TemplatesWithdrawn++;
                }
                else
                {
                    return DecodeResult.Fail(DecodeError.BadTemplate, recordStart);
                }
                sink.OnTemplate(new TemplateEvent(FlowProtocol.Ipfix, key.Domain, templateId, 0, 0, options, true));
                continue;
            }
            if (body.Length - offset < headerLength)
            {
                // A padding tail shorter than an options template header.
                if (body[offset..].IndexOfAnyExcept((byte)0) < 0) break;
                return DecodeResult.Fail(DecodeError.BadLength, offset);
            }
            var scopeCount = options ? BinaryPrimitives.ReadUInt16BigEndian(body[(offset + 4)..]) : 0;
            offset += headerLength;
            if (templateId < 256)
            {
                return DecodeResult.Fail(DecodeError.BadTemplate, recordStart);
            }
            if (fieldCount > limits.MaxFieldsPerTemplate)
            {
                return DecodeResult.Fail(DecodeError.LimitExceeded, recordStart + 2);
            }
            if (options && (scopeCount == 0 || scopeCount > fieldCount))
            {
                return DecodeResult.Fail(DecodeError.BadTemplate, recordStart + 4);
            }
            var specs = fieldCount <= small.Length ? small[..fieldCount] : new FieldSpec[fieldCount];
            var recordLength = 0;
            for (var i = 0; i < fieldCount; i++)
            {
                if (body.Length - offset < 4)
                {
                    return DecodeResult.Fail(DecodeError.BadLength, offset);
                }
                var id = BinaryPrimitives.ReadUInt16BigEndian(body[offset..]);
                var length = BinaryPrimitives.ReadUInt16BigEndian(body[(offset + 2)..]);
                offset += 4;
                uint enterprise = 0;
                if ((id & 0x8000) != 0)
                {
                    if (body.Length - offset < 4)
                    {
                        return DecodeResult.Fail(DecodeError.BadLength, offset);
                    }
                    enterprise = BinaryPrimitives.ReadUInt32BigEndian(body[offset..]);
                    offset += 4;
                    id &= 0x7FFF;
                }
                specs[i] = new FieldSpec(id, length, enterprise);
                recordLength += length == FieldSpec.VariableLength ? 1 : length;
            }
            if (recordLength == 0)
            {
                return DecodeResult.Fail(DecodeError.BadTemplate, recordStart);
            }
            if (recordLength > limits.MaxRecordLength)
            {
                return DecodeResult.Fail(DecodeError.LimitExceeded, recordStart);
            }
            var result = TemplateSetDecoder.Install(specs, templateId, scopeCount, options, key, state, cache, stats, ref sink);
            if (!result.IsOk)
            {
                return result with { Offset = recordStart };
            }
        }
        return DecodeResult.Ok;
    }
}

/// <summary>Installs a parsed template and decodes the data sets that were waiting for it.</summary>
internal static class TemplateSetDecoder
{
    public static DecodeResult Install<TSink>(ReadOnlySpan<FieldSpec> specs, ushort templateId, int scopeCount, bool options,
        in ExporterKey key, ExporterTemplateState state, TemplateCache cache, DecodeStats stats, ref TSink sink) where TSink : IFlowSink
    {
        if (options) stats.OptionsTemplates++; else stats.Templates++;
        // Exporters resend templates periodically; an unchanged template is kept without allocating.
        if (state.Templates.TryGetValue(templateId, out var existing) && existing.IsOptions == options &&
            existing.ScopeFieldCount == scopeCount && specs.SequenceEqual(existing.Fields))
        {
            sink.OnTemplate(new TemplateEvent(key.Protocol, key.Domain, templateId, (ushort)specs.Length, (ushort)scopeCount, options, false) { Changed = false });
            // Known already (adopted from the store's other collectors, restored at start) while sets waited for it.
            if (state.Pending.Count > 0) DecodeHeld(existing, key, state, cache, stats, ref sink);
            return DecodeResult.Ok;
        }
        var template = new Template(key.Protocol, templateId, specs.ToArray(), scopeCount, options);
        if (!cache.Add(state, template))
        {
            return DecodeResult.Fail(DecodeError.TemplateLimit, 0);
        }
        sink.OnTemplate(new TemplateEvent(key.Protocol, key.Domain, templateId, (ushort)specs.Length, (ushort)scopeCount, options, false));
        DecodeHeld(template, key, state, cache, stats, ref sink);
        return DecodeResult.Ok;
    }

    /// <summary>Decodes the data sets held for <paramref name="template"/>, oldest first.</summary>
    public static void DecodeHeld<TSink>(Template template, in ExporterKey key, ExporterTemplateState state, TemplateCache cache, DecodeStats stats, ref TSink sink)
        where TSink : IFlowSink
    {
        var pending = cache.TakePending(state, template.Id);
        if (pending is null)
        {
            return;
        }
        foreach (var p in pending)
        {
            // A held set that turns out malformed is counted as dropped; it does not fail this datagram.
            var r = DataSetDecoder.Decode(template, p.Buffer.AsSpan(0, p.Length), key, state, p.Context, stats, ref sink, out _);
            if (r.IsOk) stats.PendingDecoded++; else stats.PendingDropped++;
            ArrayPool<byte>.Shared.Return(p.Buffer);
        }
    }
}
