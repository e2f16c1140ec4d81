namespace Flowline.Mitigation.Ddos;

/// <summary>
/// The attack classes of sFlow-RT's ddos-protect, plus SYN floods and TCP (SYN-ACK) reflection, and two
/// kinds of source events that are reported but never mitigated: hosts named by a flood of ICMP port
/// unreachables, and traffic from block-listed prefixes.
/// </summary>
public enum AttackClass : byte
{
    IpFlood, IpFragmentation, IcmpFlood, TcpFlood, TcpSynFlood, TcpAmplification, UdpFlood, UdpAmplification, IcmpUnreachable, Blocklisted,
}

/// <summary>Packets and bits per second beyond which a class is an attack (0: that measure is not used).</summary>
public readonly record struct AttackThreshold(double Pps, double Bps)
{
    public bool Exceeded(double pps, double bps) => (Pps > 0 && pps > Pps) || (Bps > 0 && bps > Bps);

    /// <summary>How far over (≥ 1 when exceeded): the larger of the two ratios.</summary>
    public double Ratio(double pps, double bps) => Math.Max(Pps > 0 ? pps / Pps : 0, Bps > 0 ? bps / Bps : 0);

    public override string ToString() => $"{Pps:0} pps / {Bps:0} bit/s";
}

public static class AttackClasses
{
    public const int Count = (int)AttackClass.Blocklisted + 1;

    private static readonly string[] Names =
    [
        "ip_flood", "ip_fragmentation", "icmp_flood", "tcp_flood", "tcp_syn_flood", "tcp_amplification", "udp_flood", "udp_amplification",
        "icmp_unreachable", "blocklisted",
    ];

    /// <summary>
    /// Defaults, per protected address: ddos-protect's packet rates (1 M pps for an IP flood, 500 k for the
    /// others), lower for the narrow classes whose normal rate is small (SYN without ACK, reflected
    /// SYN-ACKs, traffic from amplification ports, fragments), with a bit rate beside each; any traffic
    /// from a block-listed prefix (more than a packet a second).
    /// </summary>
    public static readonly AttackThreshold[] Defaults =
    [
        new(1_000_000, 8e9), new(100_000, 1e9), new(500_000, 2e9), new(500_000, 4e9), new(200_000, 1e9), new(200_000, 1e9),
        new(500_000, 4e9), new(200_000, 1e9), new(10_000, 0), new(1, 0),
    ];

    public static string Name(this AttackClass c) => Names[(int)c];

    public static bool TryParse(string name, out AttackClass c)
    {
        var i = Array.IndexOf(Names, name.Trim().ToLowerInvariant().Replace('-', '_'));
        c = (AttackClass)Math.Max(0, i);
        return i >= 0;
    }

    public static IEnumerable<AttackClass> All => Enumerable.Range(0, Count).Select(i => (AttackClass)i);

    /// <summary>Events only: named sources, never a rule.</summary>
    public static bool IsSourceEvent(this AttackClass c) => c is AttackClass.IcmpUnreachable or AttackClass.Blocklisted;

    /// <summary>
    /// The narrower class an attack of <paramref name="c"/> is also counted in: a SYN flood is a TCP flood is an
    /// IP flood. A class whose narrower class is already mitigated on the same address gets no rule of its own.
    /// </summary>
    public static AttackClass? Wider(this AttackClass c) => c switch
    {
        AttackClass.TcpSynFlood or AttackClass.TcpAmplification => AttackClass.TcpFlood,
        AttackClass.UdpAmplification => AttackClass.UdpFlood,
        AttackClass.TcpFlood or AttackClass.UdpFlood or AttackClass.IcmpFlood or AttackClass.IpFragmentation => AttackClass.IpFlood,
        _ => null,
    };

    /// <summary>Narrow before wide, so that within one evaluation the narrow class is mitigated first.</summary>
    public static int Specificity(this AttackClass c) => c switch
    {
        AttackClass.TcpSynFlood or AttackClass.TcpAmplification or AttackClass.UdpAmplification => 0,
        AttackClass.TcpFlood or AttackClass.UdpFlood or AttackClass.IcmpFlood or AttackClass.IpFragmentation => 1,
        _ => 2,
    };
}
