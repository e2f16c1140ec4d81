using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Flowline.Records;

namespace Flowline.Query;

/// <summary>
/// Flow-log records as other clouds write them, from the stored columns: the JCS DescribeFlowLog item
/// (seed 000) and AWS VPC flow-log lines (versions 2 to 5).
/// </summary>
public static class FlowLogFormats
{
    /// <summary>The columns a JCS item is built from.</summary>
    public static readonly FlowField[] JcsColumns =
    [
        FlowField.Action, FlowField.Bytes, FlowField.Packets, FlowField.SrcAddr, FlowField.DstAddr, FlowField.SrcVn, FlowField.DstVn,
        FlowField.VmiDirection, FlowField.SrcPort, FlowField.DstPort, FlowField.IpProto, FlowField.Start, FlowField.End, FlowField.SgRule,
        FlowField.Tunnel, FlowField.UnderlaySrc, FlowField.UnderlaySrcPort, FlowField.Exporter, FlowField.ObsDomain, FlowField.Vmi, FlowField.IpVersion,
        FlowField.InIf,
    ];

    /// <summary>JCS reports network-policy ACEs as "not valid now" and sends this constant.</summary>
    public const string NwAceUuid = "00000000-0000-0000-0000-000000000001";

    /// <summary>
    /// One item of <c>DescribeFlowLogResponse.value.item[]</c>, every value a string as JCS sends them.
    /// <c>directionIng</c> is 1 for egress from the row's port and 0 for ingress (seed 000's convention);
    /// <c>underlayProto</c> is 1 for an IPv4 underlay, 2 for IPv6, 0 when the flow was not tunnelled.
    /// </summary>
    public static void WriteJcsItem(Utf8JsonWriter j, in FlowRecord r, ISymbolNames? names)
    {
        j.WriteStartObject();
        j.WriteString("action", r.Action == FlowAction.Drop ? "dropped" : r.Action == FlowAction.Pass ? "pass" : "");
        j.WriteString("agg-bytes", r.Bytes.ToString(CultureInfo.InvariantCulture));
        j.WriteString("agg-packets", r.Packets.ToString(CultureInfo.InvariantCulture));
        j.WriteString("destip", r.DstAddr.IsNone && r.IpVersion != 6 ? "" : r.DstAddr.ToString());
        j.WriteString("destvn", Name(names, r.DstVn));
        j.WriteString("directionIng", r.VmiDirection switch { VmiDirections.Egress => "1", VmiDirections.Ingress => "0", _ => "" });
        j.WriteString("dport", r.DstPort.ToString(CultureInfo.InvariantCulture));
        j.WriteString("nwAceUuid", NwAceUuid);
        j.WriteString("protocol", r.IpProto.ToString(CultureInfo.InvariantCulture));
        j.WriteString("setupTime", r.Start.ToString(CultureInfo.InvariantCulture));
        j.WriteString("sgRuleUuid", Name(names, r.SgRule));
        j.WriteString("sourceip", r.SrcAddr.IsNone && r.IpVersion != 6 ? "" : r.SrcAddr.ToString());
        j.WriteString("sourcevn", Name(names, r.SrcVn));
        j.WriteString("sport", r.SrcPort.ToString(CultureInfo.InvariantCulture));
        j.WriteString("teardownTime", r.End.ToString(CultureInfo.InvariantCulture));
        j.WriteString("underlayProto", r.Tunnel == TunnelKind.None ? "0" : r.UnderlaySrc.IsV4 ? "1" : "2");
        j.WriteString("underlaySourcePort", r.UnderlaySrcPort.ToString(CultureInfo.InvariantCulture));
        j.WriteString("uuidKey", FlowUuid(r));
        j.WriteEndObject();
    }

    private static string Name(ISymbolNames? names, uint id) =>
        id == 0 ? "" : names?.Name(id) ?? id.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// A stable uuid for a flow: the same flow (exporter, domain, 5-tuple, start) gets the same uuid in
    /// every row and every query, and both ports' rows of one flow share it.
    /// </summary>
    public static string FlowUuid(in FlowRecord r)
    {
        Span<byte> key = stackalloc byte[16 * 3 + 4 + 2 + 2 + 1 + 8 + 4];
        WriteAddress(key, r.Exporter);
        WriteAddress(key[16..], r.SrcAddr);
        WriteAddress(key[32..], r.DstAddr);
        BinaryPrimitives.WriteUInt32BigEndian(key[48..], r.ObsDomain);
        BinaryPrimitives.WriteUInt16BigEndian(key[52..], r.SrcPort);
        BinaryPrimitives.WriteUInt16BigEndian(key[54..], r.DstPort);
        key[56] = r.IpProto;
        BinaryPrimitives.WriteInt64BigEndian(key[57..], r.Start);
        BinaryPrimitives.WriteUInt32BigEndian(key[65..], r.InIf);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(key, hash);
        hash[6] = (byte)(hash[6] & 0x0F | 0x80); // version 8: custom
        hash[8] = (byte)(hash[8] & 0x3F | 0x80); // RFC 9562 variant
        return new Guid(hash[..16], bigEndian: true).ToString();
    }

    private static void WriteAddress(Span<byte> into, in FlowAddress a)
    {
        BinaryPrimitives.WriteUInt64BigEndian(into, a.Hi);
        BinaryPrimitives.WriteUInt64BigEndian(into[8..], a.Lo);
    }

    /// <summary>AWS VPC flow-log fields and the format version that introduced each.</summary>
    public static readonly IReadOnlyList<(string Name, int Version)> VpcFields =
    [
        ("version", 2), ("account-id", 2), ("interface-id", 2), ("srcaddr", 2), ("dstaddr", 2), ("srcport", 2), ("dstport", 2),
        ("protocol", 2), ("packets", 2), ("bytes", 2), ("start", 2), ("end", 2), ("action", 2), ("log-status", 2),
        ("vpc-id", 3), ("subnet-id", 3), ("instance-id", 3), ("tcp-flags", 3), ("type", 3), ("pkt-srcaddr", 3), ("pkt-dstaddr", 3),
        ("region", 4), ("az-id", 4), ("sublocation-type", 4), ("sublocation-id", 4),
        ("pkt-src-aws-service", 5), ("pkt-dst-aws-service", 5), ("flow-direction", 5), ("traffic-path", 5),
    ];

    /// <summary>The default format: version 2's fields in their order.</summary>
    public static readonly string[] VpcDefault =
        ["version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes", "start", "end", "action", "log-status"];

    /// <summary>The columns VPC lines are built from.</summary>
    public static readonly FlowField[] VpcColumns =
    [
        FlowField.Account, FlowField.Vmi, FlowField.SrcAddr, FlowField.DstAddr, FlowField.SrcPort, FlowField.DstPort, FlowField.IpProto,
        FlowField.Packets, FlowField.Bytes, FlowField.Start, FlowField.End, FlowField.Action, FlowField.SrcVn, FlowField.DstVn,
        FlowField.VmiDirection, FlowField.TcpFlags, FlowField.IpVersion,
    ];

    /// <summary>Checks a custom field list; returns the format version it makes (the highest of its fields).</summary>
    public static int VpcVersion(IReadOnlyList<string> fields)
    {
        if (fields.Count == 0) throw new ArgumentException("no VPC flow-log fields given");
        var version = 2;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var f in fields)
        {
            if (!seen.Add(f)) throw new ArgumentException($"'{f}' is given twice");
            var known = false;
            foreach (var (name, v) in VpcFields)
            {
                if (name != f) continue;
                known = true;
                version = Math.Max(version, v);
            }
            if (!known) throw new ArgumentException($"'{f}' is not a VPC flow-log field (version 2-5: {string.Join(' ', VpcFields.Select(x => x.Name))})");
        }
        return version;
    }

    /// <summary>
    /// One VPC flow-log line: the fields in order, separated by spaces, <c>-</c> where a field does not
    /// apply. The row's port is the interface (<c>interface-id</c>) and its network the VPC; AWS-only
    /// fields (region, sublocations, AWS services, traffic path, subnet, instance) are <c>-</c>.
    /// </summary>
    public static void WriteVpcLine(Utf8TextWriter w, in FlowRecord r, IReadOnlyList<string> fields, int version, ISymbolNames? names)
    {
        for (var k = 0; k < fields.Count; k++)
        {
            if (k > 0) w.Byte((byte)' ');
            var ported = r.Vmi != 0;
            switch (fields[k])
            {
                case "version": w.Number((ulong)version); break;
                case "account-id": Sym(w, names, r.Account); break;
                case "interface-id": Sym(w, names, r.Vmi); break;
                case "srcaddr" or "pkt-srcaddr": if (r.SrcAddr.IsNone && r.IpVersion != 6) w.Byte((byte)'-'); else w.Address(r.SrcAddr); break;
                case "dstaddr" or "pkt-dstaddr": if (r.DstAddr.IsNone && r.IpVersion != 6) w.Byte((byte)'-'); else w.Address(r.DstAddr); break;
                case "srcport": w.Number((ulong)(r.IpProto is 6 or 17 or 132 ? r.SrcPort : 0)); break;
                case "dstport": w.Number((ulong)(r.IpProto is 6 or 17 or 132 ? r.DstPort : 0)); break;
                case "protocol": w.Number((ulong)r.IpProto); break;
                case "packets": w.Number(r.Packets); break;
                case "bytes": w.Number(r.Bytes); break;
                case "start": w.Number((ulong)Math.Max(0, r.Start / 1_000_000)); break;
                case "end": w.Number((ulong)Math.Max(0, (r.End > 0 ? r.End : r.Start) / 1_000_000)); break;
                case "action": w.Text(r.Action switch { FlowAction.Pass => "ACCEPT", FlowAction.Drop => "REJECT", _ => "-" }); break;
                case "log-status": w.Text("OK"); break;
                case "vpc-id": Sym(w, names, !ported ? 0 : r.VmiDirection == VmiDirections.Egress ? r.SrcVn : r.DstVn); break;
                case "tcp-flags": w.Number(r.IpProto == 6 ? VpcTcpFlags(r.TcpFlags, r.SrcPort, r.DstPort) : 0); break;
                case "type": w.Text(r.IpVersion switch { 4 => "IPv4", 6 => "IPv6", _ => "-" }); break;
                case "flow-direction": w.Text(r.VmiDirection switch { VmiDirections.Ingress => "ingress", VmiDirections.Egress => "egress", _ => "-" }); break;
                default: w.Byte((byte)'-'); break;
            }
        }
        w.Byte((byte)'\n');
    }

    private static void Sym(Utf8TextWriter w, ISymbolNames? names, uint id)
    {
        if (id == 0) w.Byte((byte)'-');
        else if (names?.Name(id) is { } name) w.Text(name);
        else w.Number((ulong)id);
    }

    /// <summary>
    /// AWS's tcp-flags: FIN 1, SYN 2, RST 4 and SYN-ACK 18, OR-ed (ACK, PSH, URG and the rest are not reported).
    /// A record's flags are OR-ed over its packets, so a SYN and an ACK in it may be the client's SYN and later
    /// ACKs: they are read as SYN-ACK when the flow comes from the lower (well-known) port, the server answering.
    /// </summary>
    public static ulong VpcTcpFlags(ushort flags, ushort srcPort, ushort dstPort)
    {
        var v = (ulong)(flags & 0x07);
        if ((flags & 0x12) == 0x12 && srcPort < dstPort) v |= 0x10;
        return v;
    }
}
