using Flowline.Wire.NetFlow;
using Flowline.Wire.Records;

namespace Flowline.Wire.Ipfix;

/// <summary>Decodes the data records of one NetFlow v9 flowset or IPFIX data set and applies options data.</summary>
internal static class DataSetDecoder
{
    public static DecodeResult Decode<TSink>(Template t, ReadOnlySpan<byte> set, in ExporterKey key, ExporterTemplateState state,
        in PacketContext ctx, DecodeStats stats, ref TSink sink, out int records) where TSink : IFlowSink
    {
        records = 0;
        var offset = 0;
        var min = Math.Max(1, t.MinRecordLength);
        while (set.Length - offset >= min)
        {
            var r = new FlowRecord
            {
                TimeReceived = ctx.TimeReceived,
                Protocol = key.Protocol,
                Exporter = key.Exporter,
                ObsDomain = key.Domain,
                Direction = FlowRecord.DirectionUnknown,
            };
            var x = default(RecordExtras);
            var used = DataRecordDecoder.Decode(t, set[offset..], ref r, ref x);
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
            if (t.IsOptions)
            {
                ApplyOptions(in x, state);
                stats.OptionsRecords++;
                sink.OnOptions(key.Protocol, key.Domain, t.Id);
                continue;
            }
            var reverse = Finish(ref r, in x, in ctx, state);
            stats.FlowRecords++;
            sink.OnFlow(r, default(SampledPacket));
            if (reverse)
            {
                var rr = MakeReverse(in r, in x);
                stats.FlowRecords++;
                sink.OnFlow(rr, default(SampledPacket));
            }
        }
        return DecodeResult.Ok;
    }

    private static void ApplyOptions(in RecordExtras x, ExporterTemplateState state)
    {
        var rate = x.RecordSamplingRate();
        if (rate > 0)
        {
            if (x.HasSamplerId)
            {
                (state.SamplerRates ??= [])[x.SamplerId] = rate;
            }
            else
            {
                state.SamplingRate = rate;
            }
        }
        if (x.SystemInitMillis > 0)
        {
            state.SystemInitMillis = x.SystemInitMillis;
        }
    }

    /// <summary>Completes a forward record; returns true when an RFC 5103 reverse direction with traffic is present.</summary>
    private static bool Finish(ref FlowRecord r, in RecordExtras x, in PacketContext ctx, ExporterTemplateState state)
    {
        var rate = x.RecordSamplingRate();
        if (rate == 0 && x.HasSamplerId && state.SamplerRates is { } rates)
        {
            rates.TryGetValue(x.SamplerId, out rate);
        }
        if (rate == 0) rate = state.SamplingRate;
        if (rate == 0) rate = 1;
        r.SamplingRate = rate;
        r.SampledBytes = x.Octets;
        r.SampledPackets = x.Packets;
        r.Bytes = x.Octets * rate;
        r.Packets = x.Packets * rate;

        var exportUs = (long)ctx.ExportTime * 1_000_000;
        (r.Start, r.End) = Times(in x, in ctx, state, r.Protocol, exportUs);

        if (r.IpProto is 1 or 58)
        {
            if (x.HasIcmpTypeCode)
            {
                r.DstPort = x.IcmpTypeCode;
            }
            else if (x.HasIcmpType || x.HasIcmpCode)
            {
                r.DstPort = (ushort)((x.IcmpType << 8) | x.IcmpCode);
            }
            r.IcmpType = (byte)(r.DstPort >> 8);
            r.IcmpCode = (byte)r.DstPort;
        }
        if (r.DstMac == 0) r.DstMac = x.PostDstMac;
        if (r.SrcMac == 0) r.SrcMac = x.PostSrcMac;
        if (r.Vlan == 0) r.Vlan = x.Dot1qVlan;
        if (r.PostVlan == 0) r.PostVlan = x.Dot1qCustomerVlan;
        if (r.EtherType == 0 && r.IpVersion != 0) r.EtherType = r.IpVersion == 4 ? (ushort)0x0800 : (ushort)0x86DD;
        return x.RevOctets != 0 || x.RevPackets != 0;
    }

    private static (long Start, long End) Times(in RecordExtras x, in PacketContext ctx, ExporterTemplateState state,
        FlowProtocol protocol, long exportUs)
    {
        long start = x.StartAbs, end = x.EndAbs;
        if (x.HasStartSysUp || x.HasEndSysUp)
        {
            if (protocol == FlowProtocol.NetFlow9)
            {
                // NetFlow v9: FIRST/LAST_SWITCHED are sysUptime values; the header pairs sysUptime with Unix time.
                if (start == 0 && x.HasStartSysUp) start = NetFlowV5Decoder.UptimeToUnixMicros(exportUs, ctx.UptimeMs, x.StartSysUp);
                if (end == 0 && x.HasEndSysUp) end = NetFlowV5Decoder.UptimeToUnixMicros(exportUs, ctx.UptimeMs, x.EndSysUp);
            }
            else
            {
                // IPFIX: flowStart/EndSysUpTime are relative to systemInitTimeMilliseconds.
                var init = x.SystemInitMillis != 0 ? x.SystemInitMillis : state.SystemInitMillis;
                if (init != 0)
                {
                    if (start == 0 && x.HasStartSysUp) start = (init + x.StartSysUp) * 1000;
                    if (end == 0 && x.HasEndSysUp) end = (init + x.EndSysUp) * 1000;
                }
                else if (x.HasStartSysUp && x.HasEndSysUp)
                {
                    // Without the init time only the duration is known: anchor the end at the export time.
                    end = exportUs;
                    start = exportUs - (long)unchecked((int)(x.EndSysUp - x.StartSysUp)) * 1000;
                }
            }
        }
        if (start == 0 && x.HasStartDelta) start = exportUs - x.StartDeltaMicros;
        if (end == 0 && x.HasEndDelta) end = exportUs - x.EndDeltaMicros;
        if (end == 0) end = start != 0 ? start : exportUs;
        if (start == 0) start = end;
        return (start, end);
    }

    /// <summary>The reverse direction of an RFC 5103 biflow record as a one-way record.</summary>
    private static FlowRecord MakeReverse(in FlowRecord f, in RecordExtras x)
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
        r.TcpFlags = x.RevTcpFlags;
        r.SampledBytes = x.RevOctets;
        r.SampledPackets = x.RevPackets;
        r.Bytes = x.RevOctets * f.SamplingRate;
        r.Packets = x.RevPackets * f.SamplingRate;
        if (x.RevStartAbs != 0) r.Start = x.RevStartAbs;
        if (x.RevEndAbs != 0) r.End = x.RevEndAbs;
        if (f.Direction is 0 or 1) r.Direction = (byte)(1 - f.Direction);
        return r;
    }
}
