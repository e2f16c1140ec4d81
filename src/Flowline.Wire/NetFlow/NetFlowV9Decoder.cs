using System.Buffers.Binary;
using Flowline.Wire.Ipfix;
using Flowline.Records;

namespace Flowline.Wire.NetFlow;

/// <summary>NetFlow version 9 (RFC 3954): template, options template and data flowsets.</summary>
public static class NetFlowV9Decoder
{
    public const int HeaderLength = 20;

    /*
     Packet header (RFC 3954 5.1):
     |       Version Number (9)      |            Count              |
     |                           sysUpTime                           |
     |                           UNIX Secs                           |
     |                       Sequence Number                         |
     |                        Source ID                              |
     Count is the number of records (template, options template and data) in the packet.
     FlowSet header: | FlowSet ID (0 template, 1 options template, >= 256 data) | Length |
    */
    public static DecodeResult Decode<TSink>(ReadOnlySpan<byte> d, FlowAddress exporter, long timeReceived,
        TemplateCache cache, DecodeLimits limits, DecodeStats stats, ref TSink sink) where TSink : IFlowSink
    {
        if (d.Length < HeaderLength)
        {
            return DecodeResult.Fail(DecodeError.Truncated, d.Length);
        }
        var header = new DatagramHeader
        {
            Protocol = FlowProtocol.NetFlow9,
            Exporter = exporter,
            Agent = exporter,
            TimeReceived = timeReceived,
            Length = d.Length,
            Version = 9,
            Count = BinaryPrimitives.ReadUInt16BigEndian(d[2..]),
            UptimeMs = BinaryPrimitives.ReadUInt32BigEndian(d[4..]),
            ExportTime = BinaryPrimitives.ReadUInt32BigEndian(d[8..]),
            Sequence = BinaryPrimitives.ReadUInt32BigEndian(d[12..]),
            ObsDomain = BinaryPrimitives.ReadUInt32BigEndian(d[16..]),
        };
        var ctx = new PacketContext
        {
            TimeReceived = timeReceived,
            ExportTime = header.ExportTime,
            UptimeMs = header.UptimeMs,
            Sequence = header.Sequence,
        };
        var key = new ExporterKey(exporter, header.ObsDomain, FlowProtocol.NetFlow9);
        var state = cache.GetOrAdd(key);
        sink.OnDatagram(header);

        var offset = HeaderLength;
        var records = 0;
        var dataRecords = 0;
        var countKnown = true;
        while (d.Length - offset >= 4)
        {
            var setId = BinaryPrimitives.ReadUInt16BigEndian(d[offset..]);
            var setLength = BinaryPrimitives.ReadUInt16BigEndian(d[(offset + 2)..]);
            if (setLength < 4)
            {
                // Some exporters pad the packet itself with zeros after the last flowset.
                if (setId == 0 && setLength == 0 && d[offset..].IndexOfAnyExcept((byte)0) < 0) break;
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
            switch (setId)
            {
                case 0:
                    result = DecodeTemplates(body, key, state, cache, limits, stats, ref sink, ref records);
                    break;
                case 1:
                    result = DecodeOptionsTemplates(body, key, state, cache, limits, stats, ref sink, ref records);
                    break;
                case < 256:
                    stats.UnknownSkipped++;
                    countKnown = false;
                    continue;
                default:
                {
                    var template = state.Templates.GetValueOrDefault(setId);
                    if (template is null)
                    {
                        stats.PendingSets++;
                        stats.PendingDropped += cache.Hold(state, setId, body, ctx);
                        countKnown = false;
                        continue;
                    }
                    result = DataSetDecoder.Decode(template, body, key, state, ctx, stats, ref sink, out var n);
                    records += n;
                    if (!template.IsOptions) dataRecords += n;
                    break;
                }
            }
            if (!result.IsOk)
            {
                return result with { Offset = result.Offset + bodyOffset };
            }
        }
        if (offset < d.Length && d[offset..].IndexOfAnyExcept((byte)0) >= 0)
        {
            return DecodeResult.Fail(DecodeError.BadLength, offset);
        }
        // RFC 3954 counts every record; softflowd counts flow data records only. Either is accepted, so that
        // a datagram cut at a flowset boundary is still recognised as incomplete.
        if (countKnown && header.Count != records && header.Count != dataRecords)
        {
            return DecodeResult.Fail(DecodeError.CountMismatch, 2);
        }
        return DecodeResult.Ok;
    }

    /* Template FlowSet (5.2): { Template ID (2), Field Count (2), { Field Type (2), Field Length (2) } x count } ... */
    private static DecodeResult DecodeTemplates<TSink>(ReadOnlySpan<byte> body, in ExporterKey key, ExporterTemplateState state,
        TemplateCache cache, DecodeLimits limits, DecodeStats stats, ref TSink sink, ref int records) where TSink : IFlowSink
    {
        var offset = 0;
        Span<FieldSpec> small = stackalloc FieldSpec[128];
        while (body.Length - offset >= 4)
        {
            var recordStart = offset;
            var templateId = BinaryPrimitives.ReadUInt16BigEndian(body[offset..]);
            var fieldCount = BinaryPrimitives.ReadUInt16BigEndian(body[(offset + 2)..]);
            offset += 4;
            if (templateId == 0 && fieldCount == 0 && body[recordStart..].IndexOfAnyExcept((byte)0) < 0)
            {
                break; // padding
            }
            if (templateId < 256 || fieldCount == 0)
            {
                return DecodeResult.Fail(DecodeError.BadTemplate, recordStart);
            }
            if (fieldCount > limits.MaxFieldsPerTemplate)
            {
                return DecodeResult.Fail(DecodeError.LimitExceeded, recordStart + 2);
            }
            if (body.Length - offset < fieldCount * 4)
            {
                return DecodeResult.Fail(DecodeError.BadLength, offset);
            }
            var result = InstallFields(body.Slice(offset, fieldCount * 4), small, templateId, 0, key, state, cache, limits, stats, ref sink);
            if (!result.IsOk) return result with { Offset = recordStart };
            offset += fieldCount * 4;
            records++;
        }
        return DecodeResult.Ok;
    }

    /*
     Options Template FlowSet (6.1):
       Template ID (2) | Option Scope Length (2, bytes) | Option Length (2, bytes)
       { Scope Field Type (2), Scope Field Length (2) } ... { Option Field Type (2), Option Field Length (2) } ...
       Padding to a 4-byte boundary.
    */
    private static DecodeResult DecodeOptionsTemplates<TSink>(ReadOnlySpan<byte> body, in ExporterKey key, ExporterTemplateState state,
        TemplateCache cache, DecodeLimits limits, DecodeStats stats, ref TSink sink, ref int records) where TSink : IFlowSink
    {
        var offset = 0;
        Span<FieldSpec> small = stackalloc FieldSpec[128];
        while (body.Length - offset >= 6)
        {
            var recordStart = offset;
            var templateId = BinaryPrimitives.ReadUInt16BigEndian(body[offset..]);
            var scopeLength = BinaryPrimitives.ReadUInt16BigEndian(body[(offset + 2)..]);
            var optionLength = BinaryPrimitives.ReadUInt16BigEndian(body[(offset + 4)..]);
            offset += 6;
            if (templateId == 0 && body[recordStart..].IndexOfAnyExcept((byte)0) < 0)
            {
                break; // padding
            }
            if (templateId < 256 || scopeLength % 4 != 0 || optionLength % 4 != 0 || scopeLength == 0)
            {
                return DecodeResult.Fail(DecodeError.BadTemplate, recordStart);
            }
            var fieldCount = (scopeLength + optionLength) / 4;
            if (fieldCount > limits.MaxFieldsPerTemplate)
            {
                return DecodeResult.Fail(DecodeError.LimitExceeded, recordStart + 2);
            }
            if (body.Length - offset < fieldCount * 4)
            {
                return DecodeResult.Fail(DecodeError.BadLength, offset);
            }
            var result = InstallFields(body.Slice(offset, fieldCount * 4), small, templateId, scopeLength / 4, key, state, cache, limits, stats, ref sink);
            if (!result.IsOk) return result with { Offset = recordStart };
            offset += fieldCount * 4;
            records++;
            // Each options template record is padded to a 4-byte boundary; 6 + 4n leaves 2 bytes.
            if (offset % 4 != 0 && body.Length - offset >= 2) offset += 4 - offset % 4;
        }
        return DecodeResult.Ok;
    }

    /// <summary>Reads the field specifiers of one (options) template record and installs the template.</summary>
    private static DecodeResult InstallFields<TSink>(ReadOnlySpan<byte> p, Span<FieldSpec> small, ushort templateId, int scopeFieldCount,
        in ExporterKey key, ExporterTemplateState state, TemplateCache cache, DecodeLimits limits, DecodeStats stats, ref TSink sink)
        where TSink : IFlowSink
    {
        var count = p.Length / 4;
        var specs = count <= small.Length ? small[..count] : new FieldSpec[count];
        var result = ReadFields(p, specs, limits);
        if (!result.IsOk) return result;
        return TemplateSetDecoder.Install(specs, templateId, scopeFieldCount, scopeFieldCount > 0, key, state, cache, stats, ref sink);
    }

    private static DecodeResult ReadFields(ReadOnlySpan<byte> p, Span<FieldSpec> specs, DecodeLimits limits)
    {
        var total = 0;
        for (var i = 0; i < specs.Length; i++)
        {
            var id = BinaryPrimitives.ReadUInt16BigEndian(p[(i * 4)..]);
            var length = BinaryPrimitives.ReadUInt16BigEndian(p[(i * 4 + 2)..]);
            if (length == FieldSpec.VariableLength)
            {
                // NetFlow v9 has no variable-length fields.
                return DecodeResult.Fail(DecodeError.BadTemplate, 0);
            }
            specs[i] = new FieldSpec(id, length, 0);
            total += length;
        }
        if (total == 0) return DecodeResult.Fail(DecodeError.BadTemplate, 0);
        if (total > limits.MaxRecordLength) return DecodeResult.Fail(DecodeError.LimitExceeded, 0);
        return DecodeResult.Ok;
    }
}
