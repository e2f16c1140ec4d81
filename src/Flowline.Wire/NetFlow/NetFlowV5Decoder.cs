using System.Buffers.Binary;
using Flowline.Records;

namespace Flowline.Wire.NetFlow;

/// <summary>NetFlow version 5: a fixed 24-byte header and up to 30 fixed 48-byte records.</summary>
public static class NetFlowV5Decoder
{
    public const int HeaderLength = 24;
    public const int RecordLength = 48;

    /*
     Header:
       0  version (2) = 5        2  count (2)            4  sys_uptime (4, ms)
       8  unix_secs (4)         12  unix_nsecs (4)      16  flow_sequence (4)
      20  engine_type (1)       21  engine_id (1)       22  sampling_interval (2: mode 2 bits, interval 14 bits)
     Record:
       0  srcaddr (4)    4  dstaddr (4)    8  nexthop (4)   12  input (2)    14  output (2)
      16  dPkts (4)     20  dOctets (4)   24  first (4, sysuptime ms)       28  last (4)
      32  srcport (2)   34  dstport (2)   36  pad1 (1)  37 tcp_flags (1)  38 prot (1)  39 tos (1)
      40  src_as (2)    42  dst_as (2)    44  src_mask (1)  45 dst_mask (1)  46 pad2 (2)
    */
    public static DecodeResult Decode<TSink>(ReadOnlySpan<byte> d, FlowAddress exporter, long timeReceived,
        DecodeLimits limits, DecodeStats stats, ref TSink sink) where TSink : IFlowSink
    {
        if (d.Length < HeaderLength)
        {
            return DecodeResult.Fail(DecodeError.Truncated, d.Length);
        }
        var count = BinaryPrimitives.ReadUInt16BigEndian(d[2..]);
        if (count > limits.MaxSamplesPerDatagram)
        {
            return DecodeResult.Fail(DecodeError.LimitExceeded, 2);
        }
        if (d.Length < HeaderLength + count * RecordLength)
        {
            return DecodeResult.Fail(DecodeError.Truncated, d.Length);
        }
        var header = new DatagramHeader
        {
            Protocol = FlowProtocol.NetFlow5,
            Exporter = exporter,
            Agent = exporter,
            TimeReceived = timeReceived,
            Length = d.Length,
            Version = 5,
            Count = count,
            UptimeMs = BinaryPrimitives.ReadUInt32BigEndian(d[4..]),
            ExportTime = BinaryPrimitives.ReadUInt32BigEndian(d[8..]),
            Sequence = BinaryPrimitives.ReadUInt32BigEndian(d[16..]),
            ObsDomain = BinaryPrimitives.ReadUInt16BigEndian(d[20..]),
        };
        var nsecs = BinaryPrimitives.ReadUInt32BigEndian(d[12..]);
        var interval = (uint)(BinaryPrimitives.ReadUInt16BigEndian(d[22..]) & 0x3FFF);
        var rate = interval == 0 ? 1u : interval;
        // Wall-clock time of the header, in microseconds; record times are sysUptime milliseconds.
        var exportUs = (long)header.ExportTime * 1_000_000 + nsecs / 1000;
        sink.OnDatagram(header);

        for (var i = 0; i < count; i++)
        {
            var p = d.Slice(HeaderLength + i * RecordLength, RecordLength);
            var proto = p[38];
            var first = BinaryPrimitives.ReadUInt32BigEndian(p[24..]);
            var last = BinaryPrimitives.ReadUInt32BigEndian(p[28..]);
            var pkts = BinaryPrimitives.ReadUInt32BigEndian(p[16..]);
            var octets = BinaryPrimitives.ReadUInt32BigEndian(p[20..]);
            var r = new FlowRecord
            {
                TimeReceived = timeReceived,
                Start = UptimeToUnixMicros(exportUs, header.UptimeMs, first),
                End = UptimeToUnixMicros(exportUs, header.UptimeMs, last),
                Protocol = FlowProtocol.NetFlow5,
                Exporter = exporter,
                ObsDomain = header.ObsDomain,
                SamplingRate = rate,
                SrcAddr = FlowAddress.FromV4(p),
                DstAddr = FlowAddress.FromV4(p[4..]),
                NextHop = FlowAddress.FromV4(p[8..]),
                InIf = BinaryPrimitives.ReadUInt16BigEndian(p[12..]),
                OutIf = BinaryPrimitives.ReadUInt16BigEndian(p[14..]),
                SrcPort = BinaryPrimitives.ReadUInt16BigEndian(p[32..]),
                DstPort = BinaryPrimitives.ReadUInt16BigEndian(p[34..]),
                TcpFlags = p[37],
                IpProto = proto,
                Tos = p[39],
                IpVersion = 4,
                EtherType = 0x0800,
                SrcAs = BinaryPrimitives.ReadUInt16BigEndian(p[40..]),
                DstAs = BinaryPrimitives.ReadUInt16BigEndian(p[42..]),
                SrcMask = p[44],
                DstMask = p[45],
                Direction = FlowRecord.DirectionUnknown,
                SampledBytes = octets,
                SampledPackets = pkts,
                Bytes = (ulong)octets * rate,
                Packets = (ulong)pkts * rate,
            };
            if (proto == 1)
            {
                r.IcmpType = (byte)(r.DstPort >> 8);
                r.IcmpCode = (byte)r.DstPort;
            }
            stats.FlowRecords++;
            sink.OnFlow(r, default(SampledPacket));
        }
        return DecodeResult.Ok;
    }

    /// <summary>
    /// Converts a sysUptime timestamp (ms) to Unix microseconds using the header's pair of clocks.
    /// The difference is taken modulo 2^32 and read as signed, so a wrapped uptime counter
    /// and a flow time slightly after the header both come out right.
    /// </summary>
    public static long UptimeToUnixMicros(long exportUs, uint uptimeMs, uint atMs) =>
        exportUs - (long)unchecked((int)(uptimeMs - atMs)) * 1000;
}
