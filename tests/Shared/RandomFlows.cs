using Flowline.Query;
using Flowline.Records;

namespace Flowline.Testing;

/// <summary>
/// Seeded random flow records and seeded random nfdump-style filters, each filter as text (parsed by the
/// product) together with its meaning as a plain predicate (the oracle), written independently of the
/// product's evaluator. Shared by the query engine's and the stores' conformance tests.
/// </summary>
public static class RandomFlows
{
    public static readonly FlowAddress[] Hosts =
    [
        .. Enumerable.Range(0, 24).Select(i => FlowAddress.FromV4(0x0A000000u + (uint)(i % 6) * 0x100 + (uint)i)),
        .. Enumerable.Range(0, 8).Select(i => FlowAddress.Parse($"fd00:{i % 3}::{i + 1}")),
        FlowAddress.Parse("::"), // IPv6's unspecified address (duplicate address detection): all zeros, as no address is
    ];

    public static readonly ushort[] Ports = [22, 53, 80, 443, 8080, 1024, 5201, 40000, 50000, 65535];
    public static readonly byte[] Protos = [6, 17, 1, 58, 47];

    public static List<FlowRecord> Records(Random random, int count)
    {
        var list = new List<FlowRecord>(count);
        for (var i = 0; i < count; i++)
        {
            var v6 = random.Next(5) == 0;
            FlowAddress Host() => v6 ? Hosts[24 + random.Next(9)] : Hosts[random.Next(24)];
            var start = 1_795_000_000_000_000L + random.Next(3600) * 1_000_000L;
            list.Add(new FlowRecord
            {
                Start = start,
                End = start + random.Next(5000) * 1000L,
                Exporter = FlowAddress.FromV4(0x7F000001u + (uint)random.Next(2)),
                SrcAddr = Host(),
                DstAddr = Host(),
                IpVersion = v6 ? (byte)6 : (byte)4,
                IpProto = Protos[random.Next(Protos.Length)],
                SrcPort = Ports[random.Next(Ports.Length)],
                DstPort = Ports[random.Next(Ports.Length)],
                TcpFlags = (ushort)random.Next(64),
                InIf = (uint)random.Next(1, 5),
                OutIf = (uint)random.Next(1, 5),
                Vlan = (ushort)(random.Next(3) * 100),
                Tos = (byte)(random.Next(3) * 8),
                Direction = (list.Count % 3) switch { 0 => (byte)0, 1 => (byte)1, _ => FlowRecord.DirectionUnknown },
                Bytes = (ulong)Math.Pow(10, random.NextDouble() * 6),
                Packets = (ulong)random.Next(1, 1000),
            });
        }
        return list;
    }

    /// <summary>A random filter as text and as the predicate it means.</summary>
    public static (string Text, Func<FlowRecord, bool> Test) Filter(Random random, int depth = 0)
    {
        if (depth < 3 && random.Next(3) == 0)
        {
            var (lt, lp) = Filter(random, depth + 1);
            var (rt, rp) = Filter(random, depth + 1);
            return random.Next(3) switch
            {
                0 => ($"({lt}) and ({rt})", r => lp(r) && rp(r)),
                1 => ($"({lt}) or ({rt})", r => lp(r) || rp(r)),
                _ => ($"not ({lt})", r => !lp(r)),
            };
        }
        var (dir, dirText) = random.Next(3) switch { 0 => (0, ""), 1 => (1, "src "), _ => (2, "dst ") };
        bool Either<T>(FlowRecord r, Func<FlowRecord, T> src, Func<FlowRecord, T> dst, Func<T, bool> test) =>
            dir switch { 1 => test(src(r)), 2 => test(dst(r)), _ => test(src(r)) || test(dst(r)) };
        switch (random.Next(9))
        {
            case 0:
            {
                var p = Protos[random.Next(Protos.Length)];
                var name = p switch { 6 => "tcp", 17 => "udp", 1 => "icmp", 58 => "icmp6", _ => p.ToString() };
                return ($"proto {name}", r => r.IpProto == p);
            }
            case 1:
            {
                var h = Hosts[random.Next(Hosts.Length)];
                return ($"{dirText}host {h}", r => Either(r, x => x.SrcAddr, x => x.DstAddr, a => a == h));
            }
            case 2:
            {
                var len = random.Next(2) == 0 ? 24 : 16;
                var n = Hosts[random.Next(24)];
                var mask = uint.MaxValue << (32 - len);
                return ($"{dirText}net {FlowAddress.FromV4(n.V4 & mask)}/{len}", r => Either(r, x => x.SrcAddr, x => x.DstAddr, a => a.IsV4 && (a.V4 & mask) == (n.V4 & mask)));
            }
            case 3:
            {
                var port = Ports[random.Next(Ports.Length)];
                var (op, test) = random.Next(4) switch
                {
                    0 => ("", (Func<ushort, bool>)(v => v == port)),
                    1 => ("> ", v => v > port),
                    2 => ("<= ", v => v <= port),
                    _ => ("!= ", v => v != port),
                };
                return ($"{dirText}port {op}{port}", r => Either(r, x => x.SrcPort, x => x.DstPort, test));
            }
            case 4:
            {
                var set = Ports.OrderBy(_ => random.Next()).Take(random.Next(1, 4)).ToArray();
                return ($"{dirText}port in [{string.Join(' ', set)}]", r => Either(r, x => x.SrcPort, x => x.DstPort, v => set.Contains(v)));
            }
            case 5:
            {
                var limit = (ulong)random.Next(1, 1000);
                return random.Next(2) == 0
                    ? ($"bytes > {limit}k", r => r.Bytes > limit * 1000)
                    : ($"packets < {limit}", r => r.Packets < limit);
            }
            case 6:
            {
                var letters = new[] { "S", "A", "SA", "F", "R", "PA" }[random.Next(6)];
                ushort mask = 0;
                foreach (var c in letters) mask |= c switch { 'F' => (ushort)1, 'S' => (ushort)2, 'R' => (ushort)4, 'P' => (ushort)8, _ => (ushort)16 };
                return ($"flags {letters}", r => r.IpProto == 6 && (r.TcpFlags & mask) == mask); // TCP flows only, as nfdump
            }
            case 7:
            {
                var i = (uint)random.Next(1, 5);
                var (t, f) = random.Next(4) switch
                {
                    0 => ($"in if {i}", (Func<FlowRecord, bool>)(r => r.InIf == i)),
                    1 => ($"out if {i}", r => r.OutIf == i),
                    2 => (i % 2 == 0 ? "flowdir egress" : "flowdir in [ingress unknown]", r => i % 2 == 0 ? r.Direction == 1 : r.Direction != 1),
                    _ => ($"if {i}", r => r.InIf == i || r.OutIf == i),
                };
                return (t, f);
            }
            default:
            {
                var list = Hosts.OrderBy(_ => random.Next()).Take(random.Next(1, 5)).ToArray();
                return ($"{dirText}ip in [{string.Join(", ", list)}]", r => Either(r, x => x.SrcAddr, x => x.DstAddr, a => list.Contains(a)));
            }
        }
    }

    public static FlowBatch Batch(List<FlowRecord> records)
    {
        var b = new FlowBatch(records.Count);
        foreach (var r in records) b.Add(r);
        return b;
    }

    public static string NaiveKey(FlowRecord r, GroupKey g)
    {
        switch (g.Field)
        {
            case FlowField.SrcAddr or FlowField.DstAddr when g.OwnMask:
            {
                // nfdump's srcnet/dstnet: the flow's own length; 0 keeps IPv4 whole and IPv6's first 64 bits (x86 shifts).
                var a = g.Field == FlowField.SrcAddr ? r.SrcAddr : r.DstAddr;
                var mask = g.Field == FlowField.SrcAddr ? r.SrcMask : r.DstMask;
                var bytes = a.ToIPAddress().GetAddressBytes();
                var bits = a.IsV4 ? (mask is 0 or >= 32 ? 32 : mask) : mask == 0 ? 64 : Math.Min((int)mask, 128);
                for (var i = 0; i < bytes.Length; i++) bytes[i] &= (byte)(0xFF << (8 - Math.Clamp(bits - i * 8, 0, 8)));
                return new System.Net.IPAddress(bytes).ToString();
            }
            case FlowField.NextHop when r.NextHop.IsNone:
                return "0.0.0.0"; // none reads as nfdump prints it, and groups with an exporter's 0.0.0.0
            case FlowField.SrcAddr or FlowField.DstAddr or FlowField.NextHop:
            {
                var a = g.Field switch { FlowField.SrcAddr => r.SrcAddr, FlowField.DstAddr => r.DstAddr, _ => r.NextHop };
                var ip = a.ToIPAddress();
                var bytes = ip.GetAddressBytes();
                var bits = a.IsV4 ? g.V4Prefix : g.V6Prefix;
                for (var i = 0; i < bytes.Length; i++)
                {
                    var keep = Math.Clamp(bits - i * 8, 0, 8);
                    bytes[i] &= (byte)(0xFF << (8 - keep));
                }
                return new System.Net.IPAddress(bytes).ToString();
            }
            case FlowField.DstPort: return r.DstPort.ToString();
            case FlowField.SrcPort: return r.SrcPort.ToString();
            case FlowField.IpProto: return r.IpProto.ToString();
            case FlowField.InIf: return r.InIf.ToString();
            case FlowField.Vlan: return r.Vlan.ToString();
            default: throw new NotSupportedException(g.Field.ToString());
        }
    }

    public static string RenderKey(KeyPart k, GroupKey g) =>
        g.Field == FlowField.NextHop && k.Hi == 0 && k.Lo == 0 ? "0.0.0.0" : g.IsAddress ? new FlowAddress(k.Hi, k.Lo).ToString() : k.Lo.ToString();
}
