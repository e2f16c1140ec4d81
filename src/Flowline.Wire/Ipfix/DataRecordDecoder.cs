using System.Buffers.Binary;
using Flowline.Wire.Records;

namespace Flowline.Wire.Ipfix;

/// <summary>Values of a data record that need the whole record (or the exporter's state) before they mean anything.</summary>
internal struct RecordExtras
{
    public bool HasOctetDelta, HasPacketDelta, HasOctetTotal, HasPacketTotal;
    public ulong OctetDelta, PacketDelta, OctetTotal, PacketTotal;
    public bool HasStartSysUp, HasEndSysUp, HasStartDelta, HasEndDelta;
    public uint StartSysUp, EndSysUp;
    public long StartDeltaMicros, EndDeltaMicros;
    /// <summary>Absolute times in Unix microseconds; 0 when the record has none.</summary>
    public long StartAbs, EndAbs;
    public long SystemInitMillis;
    public ulong PostDstMac, PostSrcMac;
    public ushort Dot1qVlan, Dot1qCustomerVlan;
    public bool HasIcmpTypeCode, HasIcmpType, HasIcmpCode;
    public ushort IcmpTypeCode;
    public byte IcmpType, IcmpCode;
    public uint SamplingInterval, SamplerRandomInterval, PacketInterval, PacketSpace;
    public double SamplingProbability;
    public bool HasSamplerId;
    public ulong SamplerId;
    public bool HasRevOctetDelta, HasRevPacketDelta, HasRevOctetTotal, HasRevPacketTotal;
    public ulong RevOctetDelta, RevPacketDelta, RevOctetTotal, RevPacketTotal;
    public ushort RevTcpFlags;
    public long RevStartAbs, RevEndAbs;

    public readonly ulong Octets => HasOctetDelta ? OctetDelta : OctetTotal;
    public readonly ulong Packets => HasPacketDelta ? PacketDelta : PacketTotal;
    public readonly ulong RevOctets => HasRevOctetDelta ? RevOctetDelta : RevOctetTotal;
    public readonly ulong RevPackets => HasRevPacketDelta ? RevPacketDelta : RevPacketTotal;

    /// <summary>The sampling rate the record itself announces, 0 when it announces none.</summary>
    public readonly uint RecordSamplingRate()
    {
        if (PacketInterval > 0)
        {
            // RFC 5476 systematic count-based sampling: select PacketInterval packets out of every Interval + Space.
            return (uint)Math.Max(1, ((ulong)PacketInterval + PacketSpace) / PacketInterval);
        }
        if (SamplingInterval > 0) return SamplingInterval;
        if (SamplerRandomInterval > 0) return SamplerRandomInterval;
        if (SamplingProbability is > 0 and <= 1) return (uint)Math.Round(1 / SamplingProbability);
        return 0;
    }
}

/// <summary>Walks one data record field by field, following its template.</summary>
internal static class DataRecordDecoder
{
    private const long NtpUnixOffsetSeconds = 2_208_988_800;

    /// <summary>Decodes one record; returns the bytes it used, or -1 when it does not fit in <paramref name="p"/>.</summary>
    public static int Decode(Template t, ReadOnlySpan<byte> p, ref FlowRecord r, ref RecordExtras x)
    {
        var fields = t.Fields;
        var kinds = t.Kinds;
        var offset = 0;
        for (var i = 0; i < fields.Length; i++)
        {
            int length = fields[i].Length;
            if (length == FieldSpec.VariableLength)
            {
                // RFC 7011 7: one length octet, or 255 followed by a two-octet length.
                if (offset >= p.Length) return -1;
                length = p[offset++];
                if (length == 255)
                {
                    if (p.Length - offset < 2) return -1;
                    length = BinaryPrimitives.ReadUInt16BigEndian(p[offset..]);
                    offset += 2;
                }
            }
            if (p.Length - offset < length) return -1;
            var v = p.Slice(offset, length);
            offset += length;
            if (kinds[i] != FieldKind.Ignore)
            {
                Apply(kinds[i], v, ref r, ref x);
            }
        }
        return offset;
    }

    private static ulong Unsigned(ReadOnlySpan<byte> v)
    {
        // Reduced-size encoding (RFC 7011 6.2): any length up to 8 octets, big-endian.
        switch (v.Length)
        {
            case 1: return v[0];
            case 2: return BinaryPrimitives.ReadUInt16BigEndian(v);
            case 4: return BinaryPrimitives.ReadUInt32BigEndian(v);
            case 8: return BinaryPrimitives.ReadUInt64BigEndian(v);
        }
        ulong value = 0;
        var start = v.Length > 8 ? v.Length - 8 : 0;
        for (var i = start; i < v.Length; i++) value = (value << 8) | v[i];
        return value;
    }

    private static long NtpToUnixMicros(ReadOnlySpan<byte> v)
    {
        if (v.Length != 8) return 0;
        long seconds = BinaryPrimitives.ReadUInt32BigEndian(v);
        ulong fraction = BinaryPrimitives.ReadUInt32BigEndian(v[4..]);
        return (seconds - NtpUnixOffsetSeconds) * 1_000_000 + (long)((fraction * 1_000_000) >> 32);
    }

    private static void Apply(FieldKind kind, ReadOnlySpan<byte> v, ref FlowRecord r, ref RecordExtras x)
    {
        switch (kind)
        {
            case FieldKind.OctetDelta: x.OctetDelta = Unsigned(v); x.HasOctetDelta = true; break;
            case FieldKind.PacketDelta: x.PacketDelta = Unsigned(v); x.HasPacketDelta = true; break;
            case FieldKind.OctetTotal: x.OctetTotal = Unsigned(v); x.HasOctetTotal = true; break;
            case FieldKind.PacketTotal: x.PacketTotal = Unsigned(v); x.HasPacketTotal = true; break;
            case FieldKind.Protocol: r.IpProto = (byte)Unsigned(v); break;
            case FieldKind.Tos: r.Tos = (byte)Unsigned(v); break;
            case FieldKind.TcpFlags: r.TcpFlags = (ushort)Unsigned(v); break;
            case FieldKind.SrcPort: r.SrcPort = (ushort)Unsigned(v); break;
            case FieldKind.DstPort: r.DstPort = (ushort)Unsigned(v); break;
            case FieldKind.SrcV4 when v.Length == 4: r.SrcAddr = FlowAddress.FromV4(v); r.IpVersion = 4; break;
            case FieldKind.DstV4 when v.Length == 4: r.DstAddr = FlowAddress.FromV4(v); r.IpVersion = 4; break;
            case FieldKind.SrcV6 when v.Length == 16: r.SrcAddr = FlowAddress.FromV6(v); r.IpVersion = 6; break;
            case FieldKind.DstV6 when v.Length == 16: r.DstAddr = FlowAddress.FromV6(v); r.IpVersion = 6; break;
            case FieldKind.SrcMask: r.SrcMask = (byte)Unsigned(v); break;
            case FieldKind.DstMask: r.DstMask = (byte)Unsigned(v); break;
            case FieldKind.NextHopV4 when v.Length == 4: r.NextHop = FlowAddress.FromV4(v); break;
            case FieldKind.NextHopV6 when v.Length == 16: r.NextHop = FlowAddress.FromV6(v); break;
            case FieldKind.InIf: r.InIf = (uint)Unsigned(v); break;
            case FieldKind.OutIf: r.OutIf = (uint)Unsigned(v); break;
            case FieldKind.SrcAs: r.SrcAs = (uint)Unsigned(v); break;
            case FieldKind.DstAs: r.DstAs = (uint)Unsigned(v); break;
            case FieldKind.EndSysUpTime: x.EndSysUp = (uint)Unsigned(v); x.HasEndSysUp = true; break;
            case FieldKind.StartSysUpTime: x.StartSysUp = (uint)Unsigned(v); x.HasStartSysUp = true; break;
            case FieldKind.StartSeconds: x.StartAbs = (long)Unsigned(v) * 1_000_000; break;
            case FieldKind.EndSeconds: x.EndAbs = (long)Unsigned(v) * 1_000_000; break;
            case FieldKind.StartMillis: x.StartAbs = (long)Unsigned(v) * 1000; break;
            case FieldKind.EndMillis: x.EndAbs = (long)Unsigned(v) * 1000; break;
            case FieldKind.StartMicros or FieldKind.StartNanos: x.StartAbs = NtpToUnixMicros(v); break;
            case FieldKind.EndMicros or FieldKind.EndNanos: x.EndAbs = NtpToUnixMicros(v); break;
            case FieldKind.StartDeltaMicros: x.StartDeltaMicros = (long)Unsigned(v); x.HasStartDelta = true; break;
            case FieldKind.EndDeltaMicros: x.EndDeltaMicros = (long)Unsigned(v); x.HasEndDelta = true; break;
            case FieldKind.SystemInitMillis: x.SystemInitMillis = (long)Unsigned(v); break;
            case FieldKind.IcmpTypeCodeV4 or FieldKind.IcmpTypeCodeV6: x.IcmpTypeCode = (ushort)Unsigned(v); x.HasIcmpTypeCode = true; break;
            case FieldKind.IcmpTypeV4 or FieldKind.IcmpTypeV6: x.IcmpType = (byte)Unsigned(v); x.HasIcmpType = true; break;
            case FieldKind.IcmpCodeV4 or FieldKind.IcmpCodeV6: x.IcmpCode = (byte)Unsigned(v); x.HasIcmpCode = true; break;
            case FieldKind.SrcMac when v.Length == 6: r.SrcMac = MacAddress.Read(v); break;
            case FieldKind.DstMac when v.Length == 6: r.DstMac = MacAddress.Read(v); break;
            case FieldKind.PostDstMac when v.Length == 6: x.PostDstMac = MacAddress.Read(v); break;
            case FieldKind.PostSrcMac when v.Length == 6: x.PostSrcMac = MacAddress.Read(v); break;
            case FieldKind.Vlan: r.Vlan = (ushort)(Unsigned(v) & 0xFFF); break;
            case FieldKind.PostVlan: r.PostVlan = (ushort)(Unsigned(v) & 0xFFF); break;
            case FieldKind.Dot1qVlan: x.Dot1qVlan = (ushort)(Unsigned(v) & 0xFFF); break;
            case FieldKind.Dot1qCustomerVlan: x.Dot1qCustomerVlan = (ushort)(Unsigned(v) & 0xFFF); break;
            case FieldKind.Direction: r.Direction = (byte)Unsigned(v); break;
            case FieldKind.EndReason: r.EndReason = (byte)Unsigned(v); break;
            case FieldKind.ForwardingStatus: r.ForwardingStatus = (byte)Unsigned(v); break;
            case FieldKind.IpVersion: if (r.IpVersion == 0) r.IpVersion = (byte)Unsigned(v); break;
            case FieldKind.EtherType: r.EtherType = (ushort)Unsigned(v); break;
            case FieldKind.ObservationPoint: r.ObsPoint = (uint)Unsigned(v); break;
            case FieldKind.SamplingInterval: x.SamplingInterval = (uint)Unsigned(v); break;
            case FieldKind.SamplerId: x.SamplerId = Unsigned(v); x.HasSamplerId = true; break;
            case FieldKind.SamplerRandomInterval: x.SamplerRandomInterval = (uint)Unsigned(v); break;
            case FieldKind.SamplingPacketInterval: x.PacketInterval = (uint)Unsigned(v); break;
            case FieldKind.SamplingPacketSpace: x.PacketSpace = (uint)Unsigned(v); break;
            case FieldKind.SamplingProbability when v.Length == 8: x.SamplingProbability = BinaryPrimitives.ReadDoubleBigEndian(v); break;
            case FieldKind.SamplingProbability when v.Length == 4: x.SamplingProbability = BinaryPrimitives.ReadSingleBigEndian(v); break;
            case FieldKind.RevOctetDelta: x.RevOctetDelta = Unsigned(v); x.HasRevOctetDelta = true; break;
            case FieldKind.RevPacketDelta: x.RevPacketDelta = Unsigned(v); x.HasRevPacketDelta = true; break;
            case FieldKind.RevOctetTotal: x.RevOctetTotal = Unsigned(v); x.HasRevOctetTotal = true; break;
            case FieldKind.RevPacketTotal: x.RevPacketTotal = Unsigned(v); x.HasRevPacketTotal = true; break;
            case FieldKind.RevTcpFlags: x.RevTcpFlags = (ushort)Unsigned(v); break;
            case FieldKind.RevStartSeconds: x.RevStartAbs = (long)Unsigned(v) * 1_000_000; break;
            case FieldKind.RevEndSeconds: x.RevEndAbs = (long)Unsigned(v) * 1_000_000; break;
            case FieldKind.RevStartMillis: x.RevStartAbs = (long)Unsigned(v) * 1000; break;
            case FieldKind.RevEndMillis: x.RevEndAbs = (long)Unsigned(v) * 1000; break;
        }
    }
}
