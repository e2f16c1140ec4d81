using Flowline.Wire.NetFlow;
using Flowline.Records;

namespace Flowline.Wire.Encoders;

/// <summary>Encodes NetFlow v5 datagrams (up to 30 IPv4 records each).</summary>
public sealed class NetFlowV5Encoder
{
    public const int MaxRecords = 30;

    public uint FlowSequence { get; set; }
    public byte EngineType { get; set; }
    public byte EngineId { get; set; }
    public ushort SamplingInterval { get; set; }

    /// <summary>Encodes the records; times are expressed against <paramref name="exportUnixMicros"/> and <paramref name="uptimeMs"/>.</summary>
    public int Encode(ReadOnlySpan<FlowRecord> flows, long exportUnixMicros, uint uptimeMs, Span<byte> destination)
    {
        if (flows.Length > MaxRecords) throw new ArgumentException($"NetFlow v5 carries at most {MaxRecords} records");
        var w = new WireWriter(destination);
        w.U16(5);
        w.U16((ushort)flows.Length);
        w.U32(uptimeMs);
        w.U32((uint)(exportUnixMicros / 1_000_000));
        w.U32((uint)(exportUnixMicros % 1_000_000 * 1000));
        w.U32(FlowSequence);
        w.U8(EngineType);
        w.U8(EngineId);
        w.U16(SamplingInterval);
        foreach (ref readonly var r in flows)
        {
            w.V4(r.SrcAddr);
            w.V4(r.DstAddr);
            w.V4(r.NextHop.IsV4 ? r.NextHop : FlowAddress.FromV4(0));
            w.U16((ushort)r.InIf);
            w.U16((ushort)r.OutIf);
            w.U32((uint)r.SampledPackets);
            w.U32((uint)r.SampledBytes);
            w.U32(ToUptime(r.Start, exportUnixMicros, uptimeMs));
            w.U32(ToUptime(r.End, exportUnixMicros, uptimeMs));
            w.U16(r.SrcPort);
            w.U16(r.DstPort);
            w.U8(0);
            w.U8((byte)r.TcpFlags);
            w.U8(r.IpProto);
            w.U8(r.Tos);
            w.U16((ushort)r.SrcAs);
            w.U16((ushort)r.DstAs);
            w.U8(r.SrcMask);
            w.U8(r.DstMask);
            w.U16(0);
        }
        FlowSequence += (uint)flows.Length;
        return w.Position;
    }

    internal static uint ToUptime(long unixMicros, long exportUnixMicros, uint uptimeMs) =>
        unchecked(uptimeMs - (uint)((exportUnixMicros - unixMicros) / 1000));

    public static int MaxLength(int records) => NetFlowV5Decoder.HeaderLength + records * NetFlowV5Decoder.RecordLength;
}
