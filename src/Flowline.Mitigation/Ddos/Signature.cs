using Flowline.Records;
using Flowline.Wire.Bgp;

namespace Flowline.Mitigation.Ddos;

/// <summary>
/// The FlowSpec rule that matches an attack and little else: the attacked address alone, the protocol,
/// and what dominates the attack's traffic — the amplification source ports, a single destination port,
/// the TCP flags of a SYN flood or of reflected SYN-ACKs, the ICMP type, a single source /24.
/// </summary>
public static class Signature
{
    /// <summary>A key is dominant from this share of the packets on.</summary>
    public const double Dominant = 0.5;
    /// <summary>Amplification source ports that carry at least this share are all in the rule.</summary>
    public const double Notable = 0.1;

    public static FlowSpecRule Of(AttackSighting s, ISet<ushort> amplificationPorts)
    {
        var v6 = !s.Address.IsV4;
        var components = new List<FlowSpecComponent> { new(FlowSpecType.DestinationPrefix, Prefix.Create(s.Address, v6 ? 128 : 32)) };
        byte? protocol = s.Class switch
        {
            AttackClass.IcmpFlood => v6 ? (byte)58 : (byte)1,
            AttackClass.TcpFlood or AttackClass.TcpSynFlood or AttackClass.TcpAmplification => 6,
            AttackClass.UdpFlood or AttackClass.UdpAmplification => 17,
            AttackClass.IpFlood or AttackClass.IpFragmentation when Top(s.Second) is { } p => (byte)p,
            _ => null,
        };
        if (protocol is { } proto) components.Add(FlowSpecComponent.Of(FlowSpecType.Protocol, NumericTerm.Equal(proto)));
        switch (s.Class)
        {
            case AttackClass.TcpFlood or AttackClass.UdpFlood when Top(s.Second) is { } port:
                components.Add(FlowSpecComponent.Of(FlowSpecType.DestinationPort, NumericTerm.Equal(port)));
                break;
            case AttackClass.TcpSynFlood:
                if (Top(s.Second) is { } synPort) components.Add(FlowSpecComponent.Of(FlowSpecType.DestinationPort, NumericTerm.Equal(synPort)));
                // SYN set and ACK not set (RFC 8955 4.2.2.9: the second term ANDed, negated).
                components.Add(FlowSpecComponent.Of(FlowSpecType.TcpFlags, new BitmaskTerm(false, false, false, 0x02), new BitmaskTerm(true, true, false, 0x10)));
                break;
            case AttackClass.TcpAmplification:
                if (Top(s.SourcePorts) is { } reflector) components.Add(FlowSpecComponent.Of(FlowSpecType.SourcePort, NumericTerm.Equal(reflector)));
                components.Add(FlowSpecComponent.Of(FlowSpecType.TcpFlags, new BitmaskTerm(false, false, true, 0x12)));
                break;
            case AttackClass.UdpAmplification:
                var ports = s.SourcePorts.Where(p => p.Share >= Notable && amplificationPorts.Contains((ushort)p.Key)).Select(p => (ulong)p.Key).Order().ToList();
                if (ports.Count > 0) components.Add(FlowSpecComponent.Of(FlowSpecType.SourcePort, [.. ports.Select(p => NumericTerm.Equal(p))]));
                break;
            case AttackClass.IpFragmentation:
                // Any fragment: IsF (not the first, 0x02) or FF (the first, 0x04), RFC 8955 4.2.2.12.
                components.Add(FlowSpecComponent.Of(FlowSpecType.Fragment, new BitmaskTerm(false, false, false, 0x06)));
                break;
            case AttackClass.IcmpFlood when Top(s.Second) is { } type:
                components.Add(FlowSpecComponent.Of(FlowSpecType.IcmpType, NumericTerm.Equal(type)));
                break;
        }
        if (s.Address.IsV4 && Top(s.Sources) is { } net)
        {
            components.Add(new FlowSpecComponent(FlowSpecType.SourcePrefix, Prefix.Create(FlowAddress.FromV4((net & 0xFF_FFFF) << 8), 24)));
        }
        // RFC 8955 5.1: components in increasing type order.
        components.Sort((a, b) => a.Type.CompareTo(b.Type));
        return new FlowSpecRule(v6, components);
    }

    private static uint? Top(List<(uint Key, double Share)> sketch) => sketch.Count > 0 && sketch[0].Share >= Dominant ? sketch[0].Key : null;
}
