using System.Buffers.Binary;
using Flowline.Wire.Packets;
using Flowline.Records;

namespace Flowline.Wire.SFlow;

/// <summary>
/// sFlow version 5 (sflow_version_5.txt). Each flow sample becomes one canonical flow record;
/// each known counter record becomes a <see cref="CounterRecord"/>; unknown samples and records are
/// skipped by their length and counted.
/// </summary>
public static class SFlowDecoder
{
    /*
     Datagram:
       unsigned int version (= 5)
       address agent_address      -- unsigned int type (1 = IPv4, 2 = IPv6) followed by 4 or 16 bytes
       unsigned int sub_agent_id
       unsigned int sequence_number
       unsigned int uptime        -- milliseconds
       sample_record samples<>    -- unsigned int count, then each:
                                     data_format sample_type (enterprise << 12 | format), opaque sample_data<>
    */
    public static DecodeResult Decode<TSink>(ReadOnlySpan<byte> d, FlowAddress exporter, long timeReceived,
        DecodeLimits limits, DecodeStats stats, ref TSink sink) where TSink : IFlowSink
    {
        if (d.Length < 8)
        {
            return DecodeResult.Fail(DecodeError.Truncated, d.Length);
        }
        var agentType = BinaryPrimitives.ReadUInt32BigEndian(d[4..]);
        int offset;
        FlowAddress agent;
        if (agentType == 1)
        {
            if (d.Length < 28) return DecodeResult.Fail(DecodeError.Truncated, d.Length);
            agent = FlowAddress.FromV4(d[8..]);
            offset = 12;
        }
        else if (agentType == 2)
        {
            if (d.Length < 40) return DecodeResult.Fail(DecodeError.Truncated, d.Length);
            agent = FlowAddress.FromV6(d[8..]);
            offset = 24;
        }
        else
        {
            return DecodeResult.Fail(DecodeError.BadHeader, 4);
        }
        var header = new DatagramHeader
        {
            Protocol = FlowProtocol.SFlow5,
            Exporter = exporter,
            TimeReceived = timeReceived,
            Length = d.Length,
            Version = 5,
            Agent = agent,
            ObsDomain = BinaryPrimitives.ReadUInt32BigEndian(d[offset..]),
            Sequence = BinaryPrimitives.ReadUInt32BigEndian(d[(offset + 4)..]),
            UptimeMs = BinaryPrimitives.ReadUInt32BigEndian(d[(offset + 8)..]),
            Count = BinaryPrimitives.ReadUInt32BigEndian(d[(offset + 12)..]),
        };
        offset += 16;
        if (header.Count > (uint)limits.MaxSamplesPerDatagram)
        {
            return DecodeResult.Fail(DecodeError.LimitExceeded, offset - 4);
        }
        sink.OnDatagram(header);

        for (var i = 0u; i < header.Count; i++)
        {
            if (d.Length - offset < 8)
            {
                return DecodeResult.Fail(DecodeError.Truncated, offset);
            }
            var tag = BinaryPrimitives.ReadUInt32BigEndian(d[offset..]);
            var length = BinaryPrimitives.ReadUInt32BigEndian(d[(offset + 4)..]);
            if (length > (uint)(d.Length - offset - 8))
            {
                return DecodeResult.Fail(DecodeError.Truncated, offset + 4);
            }
            var body = d.Slice(offset + 8, (int)length);
            var bodyOffset = offset + 8;
            offset += 8 + (int)length;
            var enterprise = tag >> 12;
            var format = tag & 0xFFF;
            DecodeResult result;
            if (enterprise != 0)
            {
                stats.UnknownSkipped++;
                continue;
            }
            switch (format)
            {
                case 1:
                case 3:
                    result = DecodeFlowSample(body, format == 3, in header, limits, stats, ref sink);
                    break;
                case 2:
                case 4:
                    result = DecodeCounterSample(body, format == 4, in header, limits, stats, ref sink);
                    break;
                default:
                    stats.UnknownSkipped++;
                    continue;
            }
            if (!result.IsOk)
            {
                return result with { Offset = result.Offset + bodyOffset };
            }
        }
        return DecodeResult.Ok;
    }

    /*
     flow_sample (0:1):                       flow_sample_expanded (0:3):
       unsigned int sequence_number             unsigned int sequence_number
       sflow_data_source source_id              unsigned int source_id_type, source_id_index
       unsigned int sampling_rate               unsigned int sampling_rate
       unsigned int sample_pool                 unsigned int sample_pool
       unsigned int drops                       unsigned int drops
       interface input                          unsigned int input format, input value
       interface output                         unsigned int output format, output value
       flow_record flow_records<>               flow_record flow_records<>
     interface: top two bits are the format (0 ifIndex, 1 discarded with reason, 2 multiple).
     flow_record: data_format flow_format, opaque flow_data<>
    */
    private static DecodeResult DecodeFlowSample<TSink>(ReadOnlySpan<byte> s, bool expanded, in DatagramHeader dg,
        DecodeLimits limits, DecodeStats stats, ref TSink sink) where TSink : IFlowSink
    {
        var fixedLength = expanded ? 44 : 32;
        if (s.Length < fixedLength)
        {
            return DecodeResult.Fail(DecodeError.BadLength, s.Length);
        }
        var sample = new SampleHeader { Enterprise = 0, Format = expanded ? 3u : 1u, Sequence = Read(s, 0) };
        uint outputFormat;
        if (expanded)
        {
            sample.SourceId = (Read(s, 4) << 24) | (Read(s, 8) & 0x00FF_FFFF);
            sample.SamplingRate = Read(s, 12);
            sample.SamplePool = Read(s, 16);
            sample.Drops = Read(s, 20);
            sample.Input = Read(s, 28);
            outputFormat = Read(s, 32);
            sample.Output = Read(s, 36);
            sample.RecordCount = Read(s, 40);
        }
        else
        {
            sample.SourceId = Read(s, 4);
            sample.SamplingRate = Read(s, 8);
            sample.SamplePool = Read(s, 12);
            sample.Drops = Read(s, 16);
            sample.Input = Read(s, 20) & 0x3FFF_FFFF;
            var output = Read(s, 24);
            outputFormat = output >> 30;
            sample.Output = output & 0x3FFF_FFFF;
            sample.RecordCount = Read(s, 28);
        }
        if (sample.RecordCount > (uint)limits.MaxRecordsPerSample)
        {
            return DecodeResult.Fail(DecodeError.LimitExceeded, fixedLength - 4);
        }
        sink.OnSample(sample);
        stats.FlowSamples++;

        var rate = sample.SamplingRate == 0 ? 1u : sample.SamplingRate;
        var r = new FlowRecord
        {
            TimeReceived = dg.TimeReceived,
            Start = dg.TimeReceived,
            End = dg.TimeReceived,
            Protocol = FlowProtocol.SFlow5,
            Exporter = dg.Agent,
            ObsDomain = dg.ObsDomain,
            ObsPoint = sample.SourceId,
            SamplingRate = rate,
            InIf = sample.Input,
            OutIf = outputFormat == 0 ? sample.Output : 0,
            Direction = FlowRecord.DirectionUnknown,
            // Format 1 on the output interface means the packet was discarded (IPFIX: 0b10 = dropped).
            ForwardingStatus = outputFormat == 1 ? (byte)128 : (byte)0,
        };
        ReadOnlySpan<byte> sampledHeader = default;
        uint headerProtocol = 0, stripped = 0;
        ulong frameLength = 0;
        uint switchSrcVlan = 0, switchDstVlan = 0;
        var offset = fixedLength;
        for (var i = 0u; i < sample.RecordCount; i++)
        {
            if (s.Length - offset < 8)
            {
                return DecodeResult.Fail(DecodeError.BadLength, offset);
            }
            var tag = Read(s, offset);
            var length = Read(s, offset + 4);
            if (length > (uint)(s.Length - offset - 8))
            {
                return DecodeResult.Fail(DecodeError.BadLength, offset + 4);
            }
            var rec = s.Slice(offset + 8, (int)length);
            var recOffset = offset + 8;
            offset += 8 + (int)length;
            if (tag >> 12 != 0)
            {
                stats.UnknownSkipped++;
                continue;
            }
            switch (tag & 0xFFF)
            {
                case 1:
                {
                    /* sampled_header: header_protocol, frame_length, stripped, opaque header<> */
                    if (rec.Length < 16) return DecodeResult.Fail(DecodeError.BadLength, recOffset);
                    var protocol = Read(rec, 0);
                    headerProtocol = protocol;
                    frameLength = Read(rec, 4);
                    stripped = Read(rec, 8);
                    var headerLength = Read(rec, 12);
                    if (headerLength > (uint)(rec.Length - 16)) return DecodeResult.Fail(DecodeError.BadLength, recOffset + 12);
                    sampledHeader = rec.Slice(16, (int)headerLength);
                    switch (protocol)
                    {
                        case 1: // ETHERNET-ISO88023
                            PacketParser.ParseEthernet(sampledHeader, ref r, 0, limits);
                            break;
                        case 11: // IPv4
                            r.EtherType = PacketParser.EtherTypeIPv4;
                            PacketParser.ParseIPv4(sampledHeader, ref r, 0, limits);
                            break;
                        case 12: // IPv6
                            r.EtherType = PacketParser.EtherTypeIPv6;
                            PacketParser.ParseIPv6(sampledHeader, ref r, 0, limits);
                            break;
                    }
                    break;
                }
                case 2:
                    /* sampled_ethernet: length, mac src (6 + 2 pad), mac dst (6 + 2 pad), type */
                    if (rec.Length < 24) return DecodeResult.Fail(DecodeError.BadLength, recOffset);
                    if (frameLength == 0) frameLength = Read(rec, 0);
                    if (r.SrcMac == 0) r.SrcMac = MacAddress.Read(rec[4..]);
                    if (r.DstMac == 0) r.DstMac = MacAddress.Read(rec[12..]);
                    if (r.EtherType == 0) r.EtherType = (ushort)Read(rec, 20);
                    break;
                case 3 or 4:
                {
                    /* sampled_ipv4 / sampled_ipv6: length, protocol, src_ip, dst_ip (4 or 16 bytes each),
                       src_port, dst_port, tcp_flags, tos (IPv4) or priority (IPv6) */
                    var addressLength = (tag & 0xFFF) == 3 ? 4 : 16;
                    if (rec.Length < 24 + 2 * addressLength) return DecodeResult.Fail(DecodeError.BadLength, recOffset);
                    if (frameLength == 0) frameLength = Read(rec, 0);
                    if (r.IpVersion == 0)
                    {
                        var ports = 8 + 2 * addressLength;
                        r.IpVersion = addressLength == 4 ? (byte)4 : (byte)6;
                        r.IpProto = (byte)Read(rec, 4);
                        r.SrcAddr = addressLength == 4 ? FlowAddress.FromV4(rec[8..]) : FlowAddress.FromV6(rec[8..]);
                        r.DstAddr = addressLength == 4 ? FlowAddress.FromV4(rec[(8 + addressLength)..]) : FlowAddress.FromV6(rec[(8 + addressLength)..]);
                        r.SrcPort = (ushort)Read(rec, ports);
                        r.DstPort = (ushort)Read(rec, ports + 4);
                        r.TcpFlags = (ushort)Read(rec, ports + 8);
                        r.Tos = (byte)Read(rec, ports + 12);
                    }
                    break;
                }
                case 1001:
                    /* extended_switch: src_vlan, src_priority, dst_vlan, dst_priority */
                    if (rec.Length < 16) return DecodeResult.Fail(DecodeError.BadLength, recOffset);
                    switchSrcVlan = Read(rec, 0);
                    switchDstVlan = Read(rec, 8);
                    break;
                case 1002:
                {
                    /* extended_router: address nexthop, src_mask_len, dst_mask_len */
                    var n = ReadAddress(rec, 0, out var nextHop);
                    if (n < 0 || rec.Length < n + 8) return DecodeResult.Fail(DecodeError.BadLength, recOffset);
                    r.NextHop = nextHop;
                    r.SrcMask = (byte)Read(rec, n);
                    r.DstMask = (byte)Read(rec, n + 4);
                    break;
                }
                case 1003:
                {
                    var result = DecodeGateway(rec, ref r, limits);
                    if (!result.IsOk) return result with { Offset = result.Offset + recOffset };
                    break;
                }
                default:
                    stats.UnknownSkipped++;
                    break;
            }
        }
        if (r.Vlan == 0 && switchSrcVlan is > 0 and < 4096) r.Vlan = (ushort)switchSrcVlan;
        if (r.PostVlan == 0 && switchDstVlan is > 0 and < 4096 && switchDstVlan != r.Vlan) r.PostVlan = (ushort)switchDstVlan;
        r.SampledBytes = frameLength;
        r.SampledPackets = 1;
        r.Bytes = frameLength * rate;
        r.Packets = rate;
        stats.FlowRecords++;
        sink.OnFlow(r, new SampledPacket(sampledHeader, headerProtocol, (uint)frameLength, stripped));
        return DecodeResult.Ok;
    }

    /*
     extended_gateway (0:1003):
       address nexthop; unsigned int as; unsigned int src_as; unsigned int src_peer_as;
       as_path_type dst_as_path<>   -- each: unsigned int type (1 set, 2 sequence), unsigned int as<>
       unsigned int communities<>; unsigned int localpref
    */
    private static DecodeResult DecodeGateway(ReadOnlySpan<byte> rec, ref FlowRecord r, DecodeLimits limits)
    {
        var n = ReadAddress(rec, 0, out var nextHop);
        if (n < 0 || rec.Length < n + 16) return DecodeResult.Fail(DecodeError.BadLength, 0);
        r.NextHop = nextHop;
        r.SrcAs = Read(rec, n + 4);
        var segments = Read(rec, n + 12);
        var offset = n + 16;
        if (segments > (uint)limits.MaxRecordsPerSample) return DecodeResult.Fail(DecodeError.LimitExceeded, n + 12);
        uint lastAs = 0;
        for (var i = 0u; i < segments; i++)
        {
            if (rec.Length - offset < 8) return DecodeResult.Fail(DecodeError.BadLength, offset);
            var count = Read(rec, offset + 4);
            if (count > (uint)(rec.Length - offset - 8) / 4) return DecodeResult.Fail(DecodeError.BadLength, offset + 4);
            if (count > 0) lastAs = Read(rec, offset + 8 + (int)(count - 1) * 4);
            offset += 8 + (int)count * 4;
        }
        r.DstAs = lastAs;
        return DecodeResult.Ok;
    }

    /*
     counters_sample (0:2):                 counters_sample_expanded (0:4):
       unsigned int sequence_number           unsigned int sequence_number
       sflow_data_source source_id            unsigned int source_id_type, source_id_index
       counter_record counters<>              counter_record counters<>
    */
    private static DecodeResult DecodeCounterSample<TSink>(ReadOnlySpan<byte> s, bool expanded, in DatagramHeader dg,
        DecodeLimits limits, DecodeStats stats, ref TSink sink) where TSink : IFlowSink
    {
        var fixedLength = expanded ? 16 : 12;
        if (s.Length < fixedLength)
        {
            return DecodeResult.Fail(DecodeError.BadLength, s.Length);
        }
        var sample = new SampleHeader
        {
            Format = expanded ? 4u : 2u,
            Sequence = Read(s, 0),
            SourceId = expanded ? (Read(s, 4) << 24) | (Read(s, 8) & 0x00FF_FFFF) : Read(s, 4),
            RecordCount = Read(s, fixedLength - 4),
        };
        if (sample.RecordCount > (uint)limits.MaxRecordsPerSample)
        {
            return DecodeResult.Fail(DecodeError.LimitExceeded, fixedLength - 4);
        }
        sink.OnSample(sample);
        stats.CounterSamples++;
        var offset = fixedLength;
        for (var i = 0u; i < sample.RecordCount; i++)
        {
            if (s.Length - offset < 8)
            {
                return DecodeResult.Fail(DecodeError.BadLength, offset);
            }
            var tag = Read(s, offset);
            var length = Read(s, offset + 4);
            if (length > (uint)(s.Length - offset - 8))
            {
                return DecodeResult.Fail(DecodeError.BadLength, offset + 4);
            }
            var rec = s.Slice(offset + 8, (int)length);
            var recOffset = offset + 8;
            offset += 8 + (int)length;
            var schema = CounterSchema.For(tag >> 12, tag & 0xFFF);
            if (schema is null)
            {
                stats.UnknownSkipped++;
                continue;
            }
            if (rec.Length < schema.MinLength)
            {
                return DecodeResult.Fail(DecodeError.BadLength, recOffset);
            }
            var c = new CounterRecord
            {
                Agent = dg.Agent,
                SubAgent = dg.ObsDomain,
                SourceId = sample.SourceId,
                SampleSequence = sample.Sequence,
                Enterprise = tag >> 12,
                Format = tag & 0xFFF,
            };
            if (schema.Structured)
            {
                var bad = SFlowHostStructures.Decode(c.Format, rec, ref c);
                if (bad >= 0) return DecodeResult.Fail(DecodeError.BadLength, recOffset + bad);
                stats.CounterRecords++;
                sink.OnCounters(c);
                continue;
            }
            var at = 0;
            var kinds = schema.Kinds;
            for (var f = 0; f < kinds.Length && f < CounterRecord.MaxValues; f++)
            {
                var width = CounterSchema.Width(kinds[f]);
                if (rec.Length - at < width)
                {
                    break;
                }
                c.Values[f] = kinds[f] switch
                {
                    CounterFieldKind.Mac => MacAddress.Read(rec.Slice(at, 6)),
                    CounterFieldKind.U8 => rec[at],
                    _ => width == 8 ? BinaryPrimitives.ReadUInt64BigEndian(rec[at..]) : BinaryPrimitives.ReadUInt32BigEndian(rec[at..]),
                };
                at += width;
                c.Count = f + 1;
            }
            stats.CounterRecords++;
            sink.OnCounters(c);
        }
        return DecodeResult.Ok;
    }

    private static uint Read(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt32BigEndian(s[offset..]);

    /// <summary>Reads an sFlow address (type + 4/16 bytes); returns the bytes used or -1.</summary>
    private static int ReadAddress(ReadOnlySpan<byte> s, int offset, out FlowAddress address)
    {
        address = default;
        if (s.Length - offset < 4) return -1;
        var type = Read(s, offset);
        switch (type)
        {
            case 1 when s.Length - offset >= 8:
                address = FlowAddress.FromV4(s[(offset + 4)..]);
                return 8;
            case 2 when s.Length - offset >= 20:
                address = FlowAddress.FromV6(s[(offset + 4)..]);
                return 20;
            case 0:
                return 4;
            default:
                return -1;
        }
    }
}
