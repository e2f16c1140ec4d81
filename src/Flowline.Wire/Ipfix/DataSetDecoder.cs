using Flowline.Wire.NetFlow;
using Flowline.Records;

namespace Flowline.Wire.Ipfix;

/// <summary>Decodes the data records of one NetFlow v9 flowset or IPFIX data set and applies options data.</summary>
internal static class DataSetDecoder
{
    private const long NtpUnixOffsetSeconds = 2_208_988_800;

    public static DecodeResult Decode<TSink>(Template t, ReadOnlySpan<byte> set, in ExporterKey key, ExporterTemplateState state,
        in PacketContext ctx, DecodeStats stats, ref TSink sink, out int records) where TSink : IFlowSink
    {
        records = 0;
        state.HasData = true;
        var offset = 0;
        var min = Math.Max(1, t.MinRecordLength);
        // Every record of a set fills the same slots, so they are cleared once per set.
        var slots = default(RecordSlots);
        while (set.Length - offset >= min)
        {
            var used = DataRecordDecoder.Read(t, set[offset..], ref slots);
            if (used < 0)
            {
                // What is left is padding only if it is all zero (RFC 7011 3.3.1).
                if (set[offset..].IndexOfAnyExcept((byte)0) < 0)
                {
                    break;
                }
                return DecodeResult.Fail(DecodeError.BadLength, offset);
            }
            if (used == 0)
            {
                return DecodeResult.Fail(DecodeError.BadTemplate, offset);
            }
            offset += used;
            records++;
            stats.DataRecords++;
            if (t.IsOptions)
            {
                ApplyOptions(t, ref slots, state);
                stats.OptionsRecords++;
                sink.OnOptions(key.Protocol, key.Domain, t.Id);
                continue;
            }
            // Assigned field by field: an initializer builds a temporary and copies all of it into r.
            var r = default(FlowRecord);
            r.TimeReceived = ctx.TimeReceived;
            r.Protocol = key.Protocol;
            r.Exporter = key.Exporter;
            r.ObsDomain = key.Domain;
            Finish(ref r, t, ref slots, in ctx, state);
            stats.FlowRecords++;
            sink.OnFlow(r, default(SampledPacket));
            if (t.Has(FieldKind.RevOctetDelta) || t.Has(FieldKind.RevPacketDelta) || t.Has(FieldKind.RevOctetTotal) || t.Has(FieldKind.RevPacketTotal))
            {
                var rr = MakeReverse(in r, t, ref slots);
                if (rr.SampledBytes != 0 || rr.SampledPackets != 0)
                {
                    stats.FlowRecords++;
                    sink.OnFlow(rr, default(SampledPacket));
                }
            }
        }
        return DecodeResult.Ok;
    }

    private static ulong Octets(Template t, ref RecordSlots s) =>
        t.Has(FieldKind.OctetDelta) ? s[(int)FieldKind.OctetDelta] : s[(int)FieldKind.OctetTotal];

    private static ulong Packets(Template t, ref RecordSlots s) =>
        t.Has(FieldKind.PacketDelta) ? s[(int)FieldKind.PacketDelta] : s[(int)FieldKind.PacketTotal];

    /// <summary>The sampling rate the record itself announces, 0 when it announces none.</summary>
    private static uint RecordSamplingRate(ref RecordSlots s)
    {
        var interval = s[(int)FieldKind.SamplingPacketInterval];
        if (interval > 0)
        {
            // RFC 5476 systematic count-based sampling: select Interval packets out of every Interval + Space.
            return (uint)Math.Clamp((interval + s[(int)FieldKind.SamplingPacketSpace]) / interval, 1, uint.MaxValue);
        }
        if (s[(int)FieldKind.SamplingInterval] is > 0 and var si) return (uint)Math.Min(si, uint.MaxValue);
        if (s[(int)FieldKind.SamplerRandomInterval] is > 0 and var ri) return (uint)Math.Min(ri, uint.MaxValue);
        var probability = BitConverter.Int64BitsToDouble((long)s[(int)FieldKind.SamplingProbability]);
        if (probability is > 0 and <= 1) return (uint)Math.Min(Math.Round(1 / probability), uint.MaxValue);
        return 0;
    }

    private static void ApplyOptions(Template t, ref RecordSlots s, ExporterTemplateState state)
    {
        var rate = RecordSamplingRate(ref s);
        if (rate > 0)
        {
            if (t.Has(FieldKind.SamplerId))
            {
                // Sampler ids are the exporter's to choose: a scope keeps a bounded number of them.
                state.Owner.SetSamplerRate(state, s[(int)FieldKind.SamplerId], rate);
            }
            else
            {
                state.SamplingRate = rate;
            }
        }
        if (s[(int)FieldKind.SystemInitMillis] > 0)
        {
            state.SystemInitMillis = (long)Math.Min(s[(int)FieldKind.SystemInitMillis], long.MaxValue);
        }
    }

    /// <summary>Turns a record's slots into the canonical record.</summary>
    private static void Finish(ref FlowRecord r, Template t, ref RecordSlots s, in PacketContext ctx, ExporterTemplateState state)
    {
        r.IpProto = (byte)s[(int)FieldKind.Protocol];
        r.Tos = (byte)s[(int)FieldKind.Tos];
        r.TcpFlags = (ushort)s[(int)FieldKind.TcpFlags];
        // fragmentOffset (88), fragmentFlags (197: MF is 0x20, bit 2 counted from the most significant).
        if (t.Has(FieldKind.FragmentOffset) || t.Has(FieldKind.FragmentFlags))
        {
            r.IpFragment = s[(int)FieldKind.FragmentOffset] != 0 ? FlowFragment.Later
                : (s[(int)FieldKind.FragmentFlags] & 0x20) != 0 ? FlowFragment.First : FlowFragment.None;
        }
        r.SrcPort = (ushort)s[(int)FieldKind.SrcPort];
        r.DstPort = (ushort)s[(int)FieldKind.DstPort];
        if (t.Has(FieldKind.SrcV4)) { r.SrcAddr = FlowAddress.FromV4((uint)s[(int)FieldKind.SrcV4]); r.IpVersion = 4; }
        if (t.Has(FieldKind.DstV4)) { r.DstAddr = FlowAddress.FromV4((uint)s[(int)FieldKind.DstV4]); r.IpVersion = 4; }
        if (t.Has(FieldKind.SrcV6)) { r.SrcAddr = new FlowAddress(s[(int)FieldKind.SrcV6], s[(int)FieldKind.SrcV6Lo]); r.IpVersion = 6; }
        if (t.Has(FieldKind.DstV6)) { r.DstAddr = new FlowAddress(s[(int)FieldKind.DstV6], s[(int)FieldKind.DstV6Lo]); r.IpVersion = 6; }
        if (t.Has(FieldKind.NextHopV4)) r.NextHop = FlowAddress.FromV4((uint)s[(int)FieldKind.NextHopV4]);
        else if (t.Has(FieldKind.NextHopV6)) r.NextHop = new FlowAddress(s[(int)FieldKind.NextHopV6], s[(int)FieldKind.NextHopV6Lo]);
        if (r.IpVersion == 0) r.IpVersion = (byte)s[(int)FieldKind.IpVersion];
        r.SrcMask = (byte)s[(int)FieldKind.SrcMask];
        r.DstMask = (byte)s[(int)FieldKind.DstMask];
        r.InIf = (uint)s[(int)FieldKind.InIf];
        r.OutIf = (uint)s[(int)FieldKind.OutIf];
        r.SrcAs = (uint)s[(int)FieldKind.SrcAs];
        r.DstAs = (uint)s[(int)FieldKind.DstAs];
        r.SrcMac = t.Has(FieldKind.SrcMac) ? s[(int)FieldKind.SrcMac] : s[(int)FieldKind.PostSrcMac];
        r.DstMac = t.Has(FieldKind.DstMac) ? s[(int)FieldKind.DstMac] : s[(int)FieldKind.PostDstMac];
        r.Vlan = (ushort)((t.Has(FieldKind.Vlan) ? s[(int)FieldKind.Vlan] : s[(int)FieldKind.Dot1qVlan]) & 0xFFF);
        r.PostVlan = (ushort)((t.Has(FieldKind.PostVlan) ? s[(int)FieldKind.PostVlan] : s[(int)FieldKind.Dot1qCustomerVlan]) & 0xFFF);
        r.Direction = t.Has(FieldKind.Direction) ? (byte)s[(int)FieldKind.Direction] : FlowRecord.DirectionUnknown;
        r.EndReason = (byte)s[(int)FieldKind.EndReason];
        r.ForwardingStatus = (byte)s[(int)FieldKind.ForwardingStatus];
        r.EtherType = (ushort)s[(int)FieldKind.EtherType];
        if (r.EtherType == 0 && r.IpVersion != 0) r.EtherType = r.IpVersion == 4 ? (ushort)0x0800 : (ushort)0x86DD;
        r.ObsPoint = (uint)s[(int)FieldKind.ObservationPoint];

        var rate = RecordSamplingRate(ref s);
        if (rate == 0 && t.Has(FieldKind.SamplerId) && state.SamplerRates is { } rates)
        {
            rates.TryGetValue(s[(int)FieldKind.SamplerId], out rate);
        }
        if (rate == 0) rate = state.SamplingRate;
        if (rate == 0) rate = 1;
        r.SamplingRate = rate;
        r.SampledBytes = Octets(t, ref s);
        r.SampledPackets = Packets(t, ref s);
        r.Bytes = r.SampledBytes * rate;
        r.Packets = r.SampledPackets * rate;

        (r.Start, r.End) = Times(t, ref s, in ctx, state, r.Protocol);

        if (r.IpProto is 1 or 58)
        {
            var v6 = r.IpProto == 58;
            if (t.Has(v6 ? FieldKind.IcmpTypeCodeV6 : FieldKind.IcmpTypeCodeV4))
            {
                r.DstPort = (ushort)s[(int)(v6 ? FieldKind.IcmpTypeCodeV6 : FieldKind.IcmpTypeCodeV4)];
            }
            else if (t.Has(v6 ? FieldKind.IcmpTypeV6 : FieldKind.IcmpTypeV4))
            {
                var type = (byte)s[(int)(v6 ? FieldKind.IcmpTypeV6 : FieldKind.IcmpTypeV4)];
                var code = (byte)s[(int)(v6 ? FieldKind.IcmpCodeV6 : FieldKind.IcmpCodeV4)];
                r.DstPort = (ushort)((type << 8) | code);
            }
            r.IcmpType = (byte)(r.DstPort >> 8);
            r.IcmpCode = (byte)r.DstPort;
        }
    }

    private static long NtpToUnixMicros(ulong v) =>
        v == 0 ? 0 : ((long)(v >> 32) - NtpUnixOffsetSeconds) * 1_000_000 + (long)(((v & 0xFFFF_FFFF) * 1_000_000) >> 32);

    private static (long Start, long End) Times(Template t, ref RecordSlots s, in PacketContext ctx, ExporterTemplateState state, FlowProtocol protocol)
    {
        var exportUs = (long)ctx.ExportTime * 1_000_000;
        long start = 0, end = 0;
        if (t.Has(FieldKind.StartMillis)) start = FlowTime.FromMillis(s[(int)FieldKind.StartMillis]);
        else if (t.Has(FieldKind.StartMicros)) start = NtpToUnixMicros(s[(int)FieldKind.StartMicros]);
        else if (t.Has(FieldKind.StartNanos)) start = NtpToUnixMicros(s[(int)FieldKind.StartNanos]);
        else if (t.Has(FieldKind.StartSeconds)) start = (long)s[(int)FieldKind.StartSeconds] * 1_000_000;
        if (t.Has(FieldKind.EndMillis)) end = FlowTime.FromMillis(s[(int)FieldKind.EndMillis]);
        else if (t.Has(FieldKind.EndMicros)) end = NtpToUnixMicros(s[(int)FieldKind.EndMicros]);
        else if (t.Has(FieldKind.EndNanos)) end = NtpToUnixMicros(s[(int)FieldKind.EndNanos]);
        else if (t.Has(FieldKind.EndSeconds)) end = (long)s[(int)FieldKind.EndSeconds] * 1_000_000;

        var hasStartUp = t.Has(FieldKind.StartSysUpTime);
        var hasEndUp = t.Has(FieldKind.EndSysUpTime);
        if (hasStartUp || hasEndUp)
        {
            var startUp = (uint)s[(int)FieldKind.StartSysUpTime];
            var endUp = (uint)s[(int)FieldKind.EndSysUpTime];
            if (protocol == FlowProtocol.NetFlow9)
            {
                // NetFlow v9: FIRST/LAST_SWITCHED are sysUptime values; the header pairs sysUptime with Unix time.
                if (start == 0 && hasStartUp) start = NetFlowV5Decoder.UptimeToUnixMicros(exportUs, ctx.UptimeMs, startUp);
                if (end == 0 && hasEndUp) end = NetFlowV5Decoder.UptimeToUnixMicros(exportUs, ctx.UptimeMs, endUp);
            }
            else
            {
                // IPFIX: flowStart/EndSysUpTime are relative to systemInitTimeMilliseconds.
                var init = s[(int)FieldKind.SystemInitMillis] != 0 ? s[(int)FieldKind.SystemInitMillis] : (ulong)Math.Max(0, state.SystemInitMillis);
                if (init != 0)
                {
                    // Saturating: an init time near 2^64 must not wrap round to a plausible time.
                    if (start == 0 && hasStartUp) start = FlowTime.FromMillis(init > ulong.MaxValue - startUp ? ulong.MaxValue : init + startUp);
                    if (end == 0 && hasEndUp) end = FlowTime.FromMillis(init > ulong.MaxValue - endUp ? ulong.MaxValue : init + endUp);
                }
                else if (hasStartUp && hasEndUp)
                {
                    // Without the init time only the duration is known: anchor the end at the export time.
                    end = exportUs;
                    start = exportUs - (long)unchecked((int)(endUp - startUp)) * 1000;
                }
            }
        }
        if (start == 0 && t.Has(FieldKind.StartDeltaMicros)) start = FlowTime.Before(exportUs, s[(int)FieldKind.StartDeltaMicros]);
        if (end == 0 && t.Has(FieldKind.EndDeltaMicros)) end = FlowTime.Before(exportUs, s[(int)FieldKind.EndDeltaMicros]);
        if (end == 0) end = start != 0 ? start : exportUs;
        if (start == 0) start = end;
        return (start, end);
    }

    /// <summary>The reverse direction of an RFC 5103 biflow record as a one-way record.</summary>
    private static FlowRecord MakeReverse(in FlowRecord f, Template t, ref RecordSlots s)
    {
        var r = f;
        r.SrcAddr = f.DstAddr;
        r.DstAddr = f.SrcAddr;
        r.SrcMac = f.DstMac;
        r.DstMac = f.SrcMac;
        r.InIf = f.OutIf;
        r.OutIf = f.InIf;
        r.SrcAs = f.DstAs;
        r.DstAs = f.SrcAs;
        r.SrcMask = f.DstMask;
        r.DstMask = f.SrcMask;
        if (f.IpProto is 1 or 58)
        {
            r.SrcPort = 0;
            r.DstPort = 0;
            r.IcmpType = 0;
            r.IcmpCode = 0;
        }
        else
        {
            r.SrcPort = f.DstPort;
            r.DstPort = f.SrcPort;
        }
        r.TcpFlags = (ushort)s[(int)FieldKind.RevTcpFlags];
        r.SampledBytes = t.Has(FieldKind.RevOctetDelta) ? s[(int)FieldKind.RevOctetDelta] : s[(int)FieldKind.RevOctetTotal];
        r.SampledPackets = t.Has(FieldKind.RevPacketDelta) ? s[(int)FieldKind.RevPacketDelta] : s[(int)FieldKind.RevPacketTotal];
        r.Bytes = r.SampledBytes * f.SamplingRate;
        r.Packets = r.SampledPackets * f.SamplingRate;
        if (t.Has(FieldKind.RevStartMillis)) r.Start = FlowTime.FromMillis(s[(int)FieldKind.RevStartMillis]);
        else if (t.Has(FieldKind.RevStartSeconds)) r.Start = (long)s[(int)FieldKind.RevStartSeconds] * 1_000_000;
        if (t.Has(FieldKind.RevEndMillis)) r.End = FlowTime.FromMillis(s[(int)FieldKind.RevEndMillis]);
        else if (t.Has(FieldKind.RevEndSeconds)) r.End = (long)s[(int)FieldKind.RevEndSeconds] * 1_000_000;
        if (f.Direction is 0 or 1) r.Direction = (byte)(1 - f.Direction);
        return r;
    }
}
