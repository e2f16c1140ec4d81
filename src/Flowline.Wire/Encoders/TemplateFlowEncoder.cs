using System.Buffers.Binary;
using Flowline.Wire.Ipfix;
using Flowline.Wire.NetFlow;
using Flowline.Records;

namespace Flowline.Wire.Encoders;

/// <summary>
/// Encodes NetFlow v9 or IPFIX messages with a fixed set of templates: IPv4 (256), IPv6 (257), an IPFIX
/// RFC 5103 biflow template (258), an IPFIX template with a variable-length enterprise element (259), and
/// an options template (260) announcing the sampling rate.
/// </summary>
public sealed class TemplateFlowEncoder
{
    public const ushort V4Template = 256, V6Template = 257, BiflowTemplate = 258, EnterpriseTemplate = 259, OptionsTemplate = 260, FragmentTemplate = 261;
    public const uint TestEnterprise = 32473; // RFC 5612 documentation enterprise number

    private readonly bool _ipfix;

    public TemplateFlowEncoder(FlowProtocol protocol, uint domain)
    {
        if (protocol is not (FlowProtocol.NetFlow9 or FlowProtocol.Ipfix)) throw new ArgumentException("NetFlow v9 or IPFIX", nameof(protocol));
        _ipfix = protocol == FlowProtocol.Ipfix;
        Domain = domain;
    }

    public uint Domain { get; }
    public uint Sequence { get; set; }
    /// <summary>When above 1, templates are followed by an options record announcing it.</summary>
    public uint SamplingRate { get; set; }

    /// <summary>IPFIX: IPv4 records in template 261, which adds fragmentFlags (197) and fragmentOffset (88) to 256's fields.</summary>
    public bool Fragments { get; init; }

    private (ushort Id, ushort Length, uint Enterprise)[] Fields(ushort template)
    {
        var v6 = template == V6Template;
        var list = new List<(ushort, ushort, uint)>
        {
            (v6 ? (ushort)27 : (ushort)8, v6 ? (ushort)16 : (ushort)4, 0),
            (v6 ? (ushort)28 : (ushort)12, v6 ? (ushort)16 : (ushort)4, 0),
            (7, 2, 0), (11, 2, 0), (4, 1, 0), (6, _ipfix ? (ushort)2 : (ushort)1, 0), (5, 1, 0),
            (10, 4, 0), (14, 4, 0), (1, 8, 0), (2, 8, 0),
        };
        if (_ipfix) list.AddRange([(152, 8, 0), (153, 8, 0)]);
        else list.AddRange([(22, 4, 0), (21, 4, 0)]);
        list.AddRange([(56, 6, 0), (80, 6, 0), (58, 2, 0), (61, 1, 0)]);
        if (template == FragmentTemplate) list.AddRange([(197, 1, 0), (88, 2, 0)]);
        if (template == BiflowTemplate) list.AddRange([(1, 8, FieldKinds.ReverseEnterprise), (2, 8, FieldKinds.ReverseEnterprise)]);
        if (template == EnterpriseTemplate) list.Add((1, FieldSpec.VariableLength, TestEnterprise));
        return [.. list];
    }

    private void Header(ref WireWriter w, long exportUs, uint uptimeMs, int count)
    {
        if (_ipfix)
        {
            w.U16(10);
            w.U16(0); // length, patched at the end
            w.U32((uint)(exportUs / 1_000_000));
            w.U32(Sequence);
            w.U32(Domain);
        }
        else
        {
            w.U16(9);
            w.U16((ushort)count);
            w.U32(uptimeMs);
            w.U32((uint)(exportUs / 1_000_000));
            w.U32(++Sequence);
            w.U32(Domain);
        }
    }

    private static void Finish(ref WireWriter w, bool ipfix)
    {
        if (ipfix) BinaryPrimitives.WriteUInt16BigEndian(w.At(2), (ushort)w.Position);
    }

    private int TemplateSets(ref WireWriter w, bool withOptions)
    {
        var records = 0;
        w.U16(_ipfix ? IpfixDecoder.TemplateSetId : (ushort)0);
        var lengthAt = w.Position;
        w.U16(0);
        ushort[] ids = _ipfix ? Fragments ? [V4Template, V6Template, BiflowTemplate, EnterpriseTemplate, FragmentTemplate] : [V4Template, V6Template, BiflowTemplate, EnterpriseTemplate]
            : [V4Template, V6Template];
        foreach (var id in ids)
        {
            var fields = Fields(id);
            w.U16(id);
            w.U16((ushort)fields.Length);
            foreach (var (fid, len, pen) in fields)
            {
                w.U16(pen != 0 ? (ushort)(fid | 0x8000) : fid);
                w.U16(len);
                if (pen != 0) w.U32(pen);
            }
            records++;
        }
        BinaryPrimitives.WriteUInt16BigEndian(w.At(lengthAt), (ushort)(w.Position - lengthAt + 2));
        if (!withOptions) return records;

        w.U16(_ipfix ? IpfixDecoder.OptionsTemplateSetId : (ushort)1);
        lengthAt = w.Position;
        w.U16(0);
        w.U16(OptionsTemplate);
        if (_ipfix)
        {
            w.U16(3); // field count
            w.U16(1); // scope field count
            w.U16(149); w.U16(4); // observationDomainId
            w.U16(305); w.U16(4); // samplingPacketInterval
            w.U16(306); w.U16(4); // samplingPacketSpace
        }
        else
        {
            w.U16(4); // scope length: one field
            w.U16(8); // options length: two fields
            w.U16(1); w.U16(4); // scope System
            w.U16(34); w.U16(4); // SAMPLING_INTERVAL
            w.U16(35); w.U16(1); // SAMPLING_ALGORITHM
            w.Align4();
        }
        BinaryPrimitives.WriteUInt16BigEndian(w.At(lengthAt), (ushort)(w.Position - lengthAt + 2));
        records++;

        w.U16(OptionsTemplate);
        lengthAt = w.Position;
        w.U16(0);
        w.U32(Domain);
        if (_ipfix)
        {
            w.U32(1);
            w.U32(SamplingRate - 1);
        }
        else
        {
            w.U32(SamplingRate);
            w.U8(1); // deterministic
            w.Align4();
        }
        BinaryPrimitives.WriteUInt16BigEndian(w.At(lengthAt), (ushort)(w.Position - lengthAt + 2));
        return records + 1;
    }

    /// <summary>A message holding only the templates (and the sampling options when set).</summary>
    public int EncodeTemplates(Span<byte> destination, long exportUs, uint uptimeMs)
    {
        var w = new WireWriter(destination);
        Header(ref w, exportUs, uptimeMs, 0);
        var records = TemplateSets(ref w, SamplingRate > 1);
        if (!_ipfix) BinaryPrimitives.WriteUInt16BigEndian(w.At(2), (ushort)records);
        Finish(ref w, _ipfix);
        return w.Position;
    }

    /// <summary>An IPFIX template withdrawal for one template id.</summary>
    public int EncodeWithdrawal(ushort templateId, Span<byte> destination, long exportUs)
    {
        if (!_ipfix) throw new InvalidOperationException("NetFlow v9 has no template withdrawal");
        var w = new WireWriter(destination);
        Header(ref w, exportUs, 0, 0);
        w.U16(IpfixDecoder.TemplateSetId);
        w.U16(8);
        w.U16(templateId);
        w.U16(0);
        Finish(ref w, true);
        return w.Position;
    }

    /// <summary>
    /// A message with data records (IPv4 records in template 256, IPv6 in 257); with
    /// <paramref name="includeTemplates"/> the templates come first. <paramref name="reverse"/>, when given,
    /// pairs each IPv4 record with a reverse direction (template 258, IPFIX only).
    /// </summary>
    public int EncodeData(ReadOnlySpan<FlowRecord> flows, Span<byte> destination, long exportUs, uint uptimeMs,
        bool includeTemplates = false, ReadOnlySpan<FlowRecord> reverse = default, bool enterpriseField = false, int padding = 0)
    {
        var w = new WireWriter(destination);
        Header(ref w, exportUs, uptimeMs, 0);
        var records = includeTemplates ? TemplateSets(ref w, SamplingRate > 1) : 0;
        foreach (var version in (ReadOnlySpan<byte>)[4, 6])
        {
            var template = version == 6 ? V6Template : !reverse.IsEmpty ? BiflowTemplate : enterpriseField ? EnterpriseTemplate : _ipfix && Fragments ? FragmentTemplate : V4Template;
            var setStart = w.Position;
            var any = false;
            for (var i = 0; i < flows.Length; i++)
            {
                ref readonly var r = ref flows[i];
                if ((r.IpVersion == 6) != (version == 6)) continue;
                if (!any)
                {
                    w.U16(template);
                    w.U16(0);
                    any = true;
                }
                WriteRecord(ref w, r, exportUs, uptimeMs);
                if (template == BiflowTemplate)
                {
                    w.U64(reverse[i].SampledBytes);
                    w.U64(reverse[i].SampledPackets);
                }
                else if (template == FragmentTemplate)
                {
                    // fragmentFlags (MF is 0x20; DF 0x40 on whole packets) and fragmentOffset in 8-octet units.
                    w.U8(r.IpFragment == FlowFragment.First ? (byte)0x20 : r.IpFragment == FlowFragment.None ? (byte)0x40 : (byte)0);
                    w.U16(r.IpFragment == FlowFragment.Later ? (ushort)185 : (ushort)0);
                }
                else if (template == EnterpriseTemplate)
                {
                    // An opaque enterprise value of a length that varies per record.
                    var text = "opaque-" + new string('x', i % 5);
                    w.U8((byte)text.Length);
                    foreach (var ch in text) w.U8((byte)ch);
                }
                records++;
            }
            if (any)
            {
                w.Zeros(padding);
                BinaryPrimitives.WriteUInt16BigEndian(w.At(setStart + 2), (ushort)(w.Position - setStart));
            }
        }
        if (!_ipfix) BinaryPrimitives.WriteUInt16BigEndian(w.At(2), (ushort)records);
        else Sequence += (uint)flows.Length;
        Finish(ref w, _ipfix);
        return w.Position;
    }

    private void WriteRecord(ref WireWriter w, in FlowRecord r, long exportUs, uint uptimeMs)
    {
        if (r.IpVersion == 6)
        {
            w.V6(r.SrcAddr);
            w.V6(r.DstAddr);
        }
        else
        {
            w.V4(r.SrcAddr);
            w.V4(r.DstAddr);
        }
        w.U16(r.SrcPort);
        w.U16(r.DstPort);
        w.U8(r.IpProto);
        if (_ipfix) w.U16(r.TcpFlags); else w.U8((byte)r.TcpFlags);
        w.U8(r.Tos);
        w.U32(r.InIf);
        w.U32(r.OutIf);
        w.U64(r.SampledBytes);
        w.U64(r.SampledPackets);
        if (_ipfix)
        {
            w.U64((ulong)(r.Start / 1000));
            w.U64((ulong)(r.End / 1000));
        }
        else
        {
            w.U32(NetFlowV5Encoder.ToUptime(r.Start, exportUs, uptimeMs));
            w.U32(NetFlowV5Encoder.ToUptime(r.End, exportUs, uptimeMs));
        }
        w.Mac(r.SrcMac);
        w.Mac(r.DstMac);
        w.U16(r.Vlan);
        w.U8(r.Direction);
    }
}
