namespace Flowline.Wire.Ipfix;

/// <summary>What the template-driven decoder does with one field of a data record.</summary>
internal enum FieldKind : byte
{
    Ignore = 0,
    OctetDelta, PacketDelta, OctetTotal, PacketTotal,
    Protocol, Tos, TcpFlags, SrcPort, DstPort,
    SrcV4, DstV4, SrcV6, DstV6, SrcMask, DstMask, NextHopV4, NextHopV6,
    InIf, OutIf, SrcAs, DstAs,
    EndSysUpTime, StartSysUpTime,
    StartSeconds, EndSeconds, StartMillis, EndMillis, StartMicros, EndMicros, StartNanos, EndNanos,
    StartDeltaMicros, EndDeltaMicros, SystemInitMillis,
    IcmpTypeCodeV4, IcmpTypeCodeV6, IcmpTypeV4, IcmpCodeV4, IcmpTypeV6, IcmpCodeV6,
    SrcMac, DstMac, PostDstMac, PostSrcMac,
    Vlan, PostVlan, Dot1qVlan, Dot1qCustomerVlan,
    Direction, EndReason, ForwardingStatus, IpVersion, EtherType, ObservationPoint,
    SamplingInterval, SamplingAlgorithm, SamplerId, SamplerRandomInterval,
    SamplingPacketInterval, SamplingPacketSpace, SamplingProbability,
    FragmentOffset, FragmentFlags,
    // RFC 5103 reverse information elements (enterprise 29305).
    RevOctetDelta, RevPacketDelta, RevOctetTotal, RevPacketTotal, RevTcpFlags,
    RevStartMillis, RevEndMillis, RevStartSeconds, RevEndSeconds,
    // Second halves of 16-byte addresses: slots only, never mapped from an element.
    SrcV6Lo, DstV6Lo, NextHopV6Lo,
    Count,
}

internal static class FieldKinds
{
    public const uint ReverseEnterprise = 29305;

    /// <summary>The only lengths a field may have to be used (0 = any length up to 8 octets, reduced-size encoding).</summary>
    public static int RequiredLength(FieldKind kind) => kind switch
    {
        FieldKind.SrcV4 or FieldKind.DstV4 or FieldKind.NextHopV4 => 4,
        FieldKind.SrcV6 or FieldKind.DstV6 or FieldKind.NextHopV6 => 16,
        FieldKind.SrcMac or FieldKind.DstMac or FieldKind.PostDstMac or FieldKind.PostSrcMac => 6,
        FieldKind.StartMicros or FieldKind.EndMicros or FieldKind.StartNanos or FieldKind.EndNanos => 8,
        _ => 0,
    };

    /// <summary>The slot that holds the low 8 octets of a 16-byte address.</summary>
    public static FieldKind LowHalf(FieldKind kind) => kind switch
    {
        FieldKind.SrcV6 => FieldKind.SrcV6Lo,
        FieldKind.DstV6 => FieldKind.DstV6Lo,
        FieldKind.NextHopV6 => FieldKind.NextHopV6Lo,
        _ => FieldKind.Ignore,
    };

    /// <summary>Whether a field of this kind and length can be used.</summary>
    public static bool Usable(FieldKind kind, int length)
    {
        if (kind == FieldKind.Ignore || length == 0) return false;
        if (kind == FieldKind.SamplingProbability) return length is 4 or 8;
        var required = RequiredLength(kind);
        return required != 0 ? length == required : length <= 8;
    }

    /// <summary>
    /// Maps an information element (RFC 7012 numbering; NetFlow v9 shares it for these ids) to an action.
    /// Enterprise-specific elements other than RFC 5103 reverse elements are kept as opaque bytes (ignored here).
    /// </summary>
    public static FieldKind For(ushort id, uint enterprise)
    {
        if (enterprise == ReverseEnterprise)
        {
            return id switch
            {
                1 => FieldKind.RevOctetDelta,
                2 => FieldKind.RevPacketDelta,
                85 => FieldKind.RevOctetTotal,
                86 => FieldKind.RevPacketTotal,
                6 => FieldKind.RevTcpFlags,
                150 => FieldKind.RevStartSeconds,
                151 => FieldKind.RevEndSeconds,
                152 => FieldKind.RevStartMillis,
                153 => FieldKind.RevEndMillis,
                _ => FieldKind.Ignore,
            };
        }
        if (enterprise != 0)
        {
            return FieldKind.Ignore;
        }
        return id switch
        {
            1 => FieldKind.OctetDelta,
            2 => FieldKind.PacketDelta,
            4 => FieldKind.Protocol,
            5 => FieldKind.Tos,
            6 => FieldKind.TcpFlags,
            7 => FieldKind.SrcPort,
            8 => FieldKind.SrcV4,
            9 => FieldKind.SrcMask,
            10 => FieldKind.InIf,
            11 => FieldKind.DstPort,
            12 => FieldKind.DstV4,
            13 => FieldKind.DstMask,
            14 => FieldKind.OutIf,
            15 => FieldKind.NextHopV4,
            16 => FieldKind.SrcAs,
            17 => FieldKind.DstAs,
            21 => FieldKind.EndSysUpTime,
            22 => FieldKind.StartSysUpTime,
            27 => FieldKind.SrcV6,
            28 => FieldKind.DstV6,
            29 => FieldKind.SrcMask,
            30 => FieldKind.DstMask,
            32 => FieldKind.IcmpTypeCodeV4,
            34 => FieldKind.SamplingInterval,
            35 => FieldKind.SamplingAlgorithm,
            48 => FieldKind.SamplerId,
            50 => FieldKind.SamplerRandomInterval,
            56 => FieldKind.SrcMac,
            57 => FieldKind.PostDstMac,
            58 => FieldKind.Vlan,
            59 => FieldKind.PostVlan,
            60 => FieldKind.IpVersion,
            61 => FieldKind.Direction,
            62 => FieldKind.NextHopV6,
            80 => FieldKind.DstMac,
            81 => FieldKind.PostSrcMac,
            85 => FieldKind.OctetTotal,
            86 => FieldKind.PacketTotal,
            88 => FieldKind.FragmentOffset,
            89 => FieldKind.ForwardingStatus,
            136 => FieldKind.EndReason,
            138 => FieldKind.ObservationPoint,
            139 => FieldKind.IcmpTypeCodeV6,
            150 => FieldKind.StartSeconds,
            151 => FieldKind.EndSeconds,
            152 => FieldKind.StartMillis,
            153 => FieldKind.EndMillis,
            154 => FieldKind.StartMicros,
            155 => FieldKind.EndMicros,
            156 => FieldKind.StartNanos,
            157 => FieldKind.EndNanos,
            158 => FieldKind.StartDeltaMicros,
            159 => FieldKind.EndDeltaMicros,
            160 => FieldKind.SystemInitMillis,
            176 => FieldKind.IcmpTypeV4,
            177 => FieldKind.IcmpCodeV4,
            178 => FieldKind.IcmpTypeV6,
            179 => FieldKind.IcmpCodeV6,
            197 => FieldKind.FragmentFlags,
            243 => FieldKind.Dot1qVlan,
            245 => FieldKind.Dot1qCustomerVlan,
            256 => FieldKind.EtherType,
            305 => FieldKind.SamplingPacketInterval,
            306 => FieldKind.SamplingPacketSpace,
            311 => FieldKind.SamplingProbability,
            _ => FieldKind.Ignore,
        };
    }
}
