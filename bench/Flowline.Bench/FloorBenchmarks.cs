using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using Flowline.Records;

namespace Flowline.Bench;

/// <summary>
/// A lower bound, not a product path: softflowd's NetFlow v9 IPv4 template (16 fields, 42-byte records)
/// decoded by hand-written straight-line code into the same columnar batch. It shows what any
/// template decoder, however specialised, costs per record on this machine.
/// </summary>
[MemoryDiagnoser]
public class FloorBenchmarks
{
    private byte[] _set = [];
    private int _records;
    private readonly FlowBatch _batch = new(4096);

    [GlobalSetup]
    public void Setup()
    {
        // The second datagram of softflowd_v9_A is one flowset of template 1024 holding 32 records.
        var datagram = Corpus.Datagrams("softflowd_v9_A")[1];
        _set = datagram.AsSpan(24, BinaryPrimitives.ReadUInt16BigEndian(datagram.AsSpan(22)) - 4).ToArray();
        _records = _set.Length / 42;
    }

    [Benchmark]
    public int HandWrittenTemplateRecordToBatch()
    {
        _batch.Clear();
        var s = _set.AsSpan();
        for (var off = 0; s.Length - off >= 42; off += 42)
        {
            var p = s.Slice(off, 42);
            var r = new FlowRecord
            {
                SrcAddr = FlowAddress.FromV4(BinaryPrimitives.ReadUInt32BigEndian(p)),
                DstAddr = FlowAddress.FromV4(BinaryPrimitives.ReadUInt32BigEndian(p[4..])),
                Start = 1000L * BinaryPrimitives.ReadUInt32BigEndian(p[8..]),
                End = 1000L * BinaryPrimitives.ReadUInt32BigEndian(p[12..]),
                SampledBytes = BinaryPrimitives.ReadUInt32BigEndian(p[16..]),
                SampledPackets = BinaryPrimitives.ReadUInt32BigEndian(p[20..]),
                InIf = BinaryPrimitives.ReadUInt32BigEndian(p[24..]),
                OutIf = BinaryPrimitives.ReadUInt32BigEndian(p[28..]),
                Direction = p[32],
                EndReason = p[33],
                SrcPort = BinaryPrimitives.ReadUInt16BigEndian(p[34..]),
                DstPort = BinaryPrimitives.ReadUInt16BigEndian(p[36..]),
                TcpFlags = p[38],
                IpProto = p[39],
                IpVersion = p[40],
                Tos = p[41],
                SamplingRate = 1,
            };
            r.Bytes = r.SampledBytes;
            r.Packets = r.SampledPackets;
            _batch.Add(r);
        }
        return _batch.Count;
    }

    /// <summary>Records per operation, to turn the mean into ns per record.</summary>
    public int Records => _records;
}
