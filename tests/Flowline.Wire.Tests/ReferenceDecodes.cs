using System.IO.Compression;
using System.Text.Json;
using Flowline.Records;

namespace Flowline.Wire.Tests;

/// <summary>A record's identity for comparison with reference decoders. Ports of ICMP hold type &lt;&lt; 8 | code.</summary>
public readonly record struct FiveTuple(FlowAddress Src, FlowAddress Dst, byte Proto, ushort SrcPort, ushort DstPort)
{
    public bool IsIcmp => Proto is 1 or 58;

    /// <summary>nfdump 1.7.1 does not carry ICMP type/code for sFlow ICMPv6 or IPFIX IE 176-179, so ICMP is compared by addresses there.</summary>
    public FiveTuple WithoutIcmpPorts() => IsIcmp ? this with { SrcPort = 0, DstPort = 0 } : this;

    public static FiveTuple Of(in FlowRecord r) => new(r.SrcAddr, r.DstAddr, r.IpProto, r.SrcPort, r.DstPort);

    public override string ToString() => $"{Src}:{SrcPort} -> {Dst}:{DstPort} proto {Proto}";
}

/// <summary>The reference decoders' view of a capture: tshark's JSON and nfdump's CSV.</summary>
public static class ReferenceDecodes
{
    public sealed record TsharkRecord(FiveTuple Tuple, ulong Bytes, ulong Packets);

    public static List<TsharkRecord> Tshark(string name)
    {
        var dir = TestCorpus.CapturesDirectory;
        var path = Path.Combine(dir, name + ".tshark.json");
        using Stream raw = File.Exists(path) ? File.OpenRead(path) : new GZipStream(File.OpenRead(path + ".gz"), CompressionMode.Decompress);
        using var doc = JsonDocument.Parse(raw, new JsonDocumentOptions { MaxDepth = 256 });
        var records = new List<TsharkRecord>();
        foreach (var packet in doc.RootElement.EnumerateArray())
        {
            var layers = packet.GetProperty("_source").GetProperty("layers");
            if (layers.TryGetProperty("sflow", out var sflow)) SFlowSamples(sflow, records);
            if (layers.TryGetProperty("cflow", out var cflow)) CflowRecords(cflow, records);
        }
        return records;
    }

    private static void SFlowSamples(JsonElement sflow, List<TsharkRecord> records)
    {
        foreach (var p in sflow.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Object || !p.Name.Contains("low sample", StringComparison.Ordinal)) continue;
            foreach (var rec in p.Value.EnumerateObject())
            {
                if (rec.Name != "Raw packet header") continue;
                var frameLength = ulong.Parse(Str(rec.Value, "sflow_245.header.frame_length")!);
                var tree = rec.Value.GetProperty("sflow_245.header_tree");
                records.Add(new TsharkRecord(PacketTuple(tree), frameLength, 1));
            }
        }
    }

    private static FiveTuple PacketTuple(JsonElement tree)
    {
        FlowAddress src = default, dst = default;
        byte proto = 0;
        ushort sp = 0, dp = 0;
        if (tree.TryGetProperty("ip", out var ip))
        {
            src = FlowAddress.Parse(Str(ip, "ip.src")!);
            dst = FlowAddress.Parse(Str(ip, "ip.dst")!);
            proto = byte.Parse(Str(ip, "ip.proto")!);
        }
        else if (tree.TryGetProperty("ipv6", out var ip6))
        {
            src = FlowAddress.Parse(Str(ip6, "ipv6.src")!);
            dst = FlowAddress.Parse(Str(ip6, "ipv6.dst")!);
            proto = byte.Parse(Str(ip6, "ipv6.nxt")!);
        }
        if (tree.TryGetProperty("tcp", out var tcp))
        {
            proto = 6;
            sp = ushort.Parse(Str(tcp, "tcp.srcport")!);
            dp = ushort.Parse(Str(tcp, "tcp.dstport")!);
        }
        else if (tree.TryGetProperty("udp", out var udp))
        {
            proto = 17;
            sp = ushort.Parse(Str(udp, "udp.srcport")!);
            dp = ushort.Parse(Str(udp, "udp.dstport")!);
        }
        else if (tree.TryGetProperty("icmp", out var icmp))
        {
            proto = 1;
            dp = (ushort)((int.Parse(Str(icmp, "icmp.type")!) << 8) | int.Parse(Str(icmp, "icmp.code")!));
        }
        else if (tree.TryGetProperty("icmpv6", out var icmp6))
        {
            proto = 58;
            dp = (ushort)((int.Parse(Str(icmp6, "icmpv6.type")!) << 8) | int.Parse(Str(icmp6, "icmpv6.code")!));
        }
        return new FiveTuple(src, dst, proto, sp, dp);
    }

    private static void CflowRecords(JsonElement element, List<TsharkRecord> records)
    {
        foreach (var p in element.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Object) continue;
            if ((p.Name.StartsWith("Flow ", StringComparison.Ordinal) || p.Name.StartsWith("pdu ", StringComparison.Ordinal)) &&
                p.Value.TryGetProperty("cflow.protocol", out _))
            {
                records.Add(CflowRecord(p.Value));
            }
            else
            {
                CflowRecords(p.Value, records);
            }
        }
    }

    private static TsharkRecord CflowRecord(JsonElement f)
    {
        var src = Str(f, "cflow.srcaddr") ?? Str(f, "cflow.srcaddrv6");
        var dst = Str(f, "cflow.dstaddr") ?? Str(f, "cflow.dstaddrv6");
        var proto = byte.Parse(Str(f, "cflow.protocol")!);
        var sp = ushort.Parse(Str(f, "cflow.srcport") ?? "0");
        var dp = ushort.Parse(Str(f, "cflow.dstport") ?? "0");
        if (Str(f, "cflow.icmp_type_code_ipv4") is { } tc)
        {
            dp = (ushort)Num(tc);
        }
        var type = Str(f, "cflow.icmp_ipv4_type") ?? Str(f, "cflow.icmp_ipv6_type");
        var code = Str(f, "cflow.icmp_ipv4_code") ?? Str(f, "cflow.icmp_ipv6_code");
        if (type is not null)
        {
            dp = (ushort)((Num(type) << 8) | Num(code ?? "0"));
        }
        return new TsharkRecord(
            new FiveTuple(src is null ? default : FlowAddress.Parse(src), dst is null ? default : FlowAddress.Parse(dst), proto, sp, dp),
            ulong.Parse(Str(f, "cflow.octets") ?? "0"), ulong.Parse(Str(f, "cflow.packets") ?? "0"));
    }

    private static int Num(string s) => s.StartsWith("0x", StringComparison.Ordinal) ? Convert.ToInt32(s, 16) : int.Parse(s);

    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.GetString() : null;

    public sealed record NfdumpRecord(FiveTuple Tuple, ulong Bytes, ulong Packets);

    /// <summary>Rows of nfdump's CSV (the Summary block at the end is skipped).</summary>
    public static List<NfdumpRecord> Nfdump(string name)
    {
        var rows = new List<NfdumpRecord>();
        var lines = File.ReadAllLines(Path.Combine(TestCorpus.CapturesDirectory, name + ".nfdump.csv"));
        var header = lines[0].Split(',');
        int Col(string n) => Array.IndexOf(header, n);
        int sa = Col("sa"), da = Col("da"), sp = Col("sp"), dp = Col("dp"), pr = Col("pr"), ipkt = Col("ipkt"), ibyt = Col("ibyt");
        foreach (var line in lines.Skip(1))
        {
            if (line.StartsWith("Summary", StringComparison.Ordinal)) break;
            var c = line.Split(',');
            if (c.Length < header.Length) continue;
            var proto = c[pr] switch { "TCP" => 6, "UDP" => 17, "ICMP" => 1, "ICMP6" => 58, var other => int.Parse(other) };
            rows.Add(new NfdumpRecord(
                new FiveTuple(FlowAddress.Parse(c[sa]), FlowAddress.Parse(c[da]), (byte)proto, ushort.Parse(c[sp]), ushort.Parse(c[dp])),
                ulong.Parse(c[ibyt]), ulong.Parse(c[ipkt])));
        }
        return rows;
    }
}
