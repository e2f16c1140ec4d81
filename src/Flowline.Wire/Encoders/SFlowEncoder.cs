using Flowline.Records;

namespace Flowline.Wire.Encoders;

/// <summary>
/// Encodes sFlow v5 datagrams: one flow sample per flow record (raw Ethernet header, extended switch
/// data when the record has VLANs) and counter samples from counter records.
/// </summary>
public sealed class SFlowEncoder
{
    public FlowAddress Agent { get; set; } = FlowAddress.Parse("192.0.2.1");
    public uint SubAgent { get; set; }
    public uint Sequence { get; set; }
    /// <summary>Flow samples written so far (each data source numbers its own).</summary>
    public uint SampleSequence { get; set; }
    private readonly Dictionary<uint, uint> _sourceSequences = [];
    public uint UptimeMs { get; set; }
    /// <summary>Bytes of each packet copied into the sample (sFlow's header size).</summary>
    public int HeaderBytes { get; set; } = 128;

    /// <summary>Upper bound of the bytes one flow sample takes.</summary>
    public int MaxFlowSampleLength => 8 + 32 + 8 + 16 + HeaderBytes + 3 + 8 + 16;

    public int Encode(ReadOnlySpan<FlowRecord> flows, ReadOnlySpan<CounterRecord> counters, Span<byte> destination)
    {
        var w = new WireWriter(destination);
        w.U32(5);
        if (Agent.IsV4)
        {
            w.U32(1);
            w.V4(Agent);
        }
        else
        {
            w.U32(2);
            w.V6(Agent);
        }
        w.U32(SubAgent);
        w.U32(++Sequence);
        w.U32(UptimeMs);
        w.U32((uint)(flows.Length + counters.Length));
        Span<byte> packet = stackalloc byte[256];
        foreach (ref readonly var r in flows)
        {
            var rate = Math.Max(1u, r.SamplingRate);
            var frameLength = (uint)Math.Max(64, r.SampledBytes != 0 ? r.SampledBytes : r.Bytes / rate);
            var built = PacketBuilder.Write(r, packet, (int)frameLength - 4);
            var headerLength = Math.Min(Math.Max(built, Math.Min(HeaderBytes, (int)frameLength - 4)), packet.Length);
            packet[built..headerLength].Clear();
            var hasSwitch = r.Vlan != 0 || r.PostVlan != 0;

            w.U32(1); // flow_sample
            var lengthAt = w.Position;
            w.U32(0);
            var start = w.Position;
            // Sample sequence numbers and the sample pool count per data source, as agents do.
            var source = r.ObsPoint != 0 ? r.ObsPoint : r.InIf & 0x00FF_FFFF;
            ref var sequence = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_sourceSequences, source, out _);
            sequence++;
            ++SampleSequence;
            w.U32(sequence);
            w.U32(source);
            w.U32(rate);
            w.U32(sequence * rate);
            w.U32(0);
            w.U32(r.InIf);
            w.U32(r.ForwardingStatus >= 128 ? 0x4000_0000u : r.OutIf);
            w.U32(hasSwitch ? 2u : 1u);
            w.U32(1); // raw packet header
            w.U32((uint)(16 + ((headerLength + 3) & ~3)));
            w.U32(1); // ETHERNET-ISO88023
            w.U32(frameLength);
            w.U32(4); // the FCS is stripped
            w.U32((uint)headerLength);
            w.Bytes(packet[..headerLength]);
            w.Align4();
            if (hasSwitch)
            {
                w.U32(1001);
                w.U32(16);
                w.U32(r.Vlan);
                w.U32(0);
                w.U32(r.PostVlan != 0 ? r.PostVlan : r.Vlan);
                w.U32(0);
            }
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(w.At(lengthAt), (uint)(w.Position - start));
        }
        foreach (ref readonly var c in counters)
        {
            var schema = c.Schema ?? throw new ArgumentException($"no schema for counter format {c.Enterprise}:{c.Format}");
            w.U32(2); // counters_sample
            var lengthAt = w.Position;
            w.U32(0);
            var start = w.Position;
            w.U32(c.SampleSequence);
            w.U32(c.SourceId);
            w.U32(1);
            w.U32((c.Enterprise << 12) | c.Format);
            var recordLengthAt = w.Position;
            w.U32(0);
            var recordStart = w.Position;
            if (schema.Structured)
            {
                SFlow.SFlowHostStructures.Encode(ref w, c);
            }
            else
            {
                for (var i = 0; i < c.Count; i++)
                {
                    switch (schema.Kinds[i])
                    {
                        case CounterFieldKind.U64 or CounterFieldKind.Hex64: w.U64(c.Values[i]); break;
                        case CounterFieldKind.Mac: w.Mac(c.Values[i]); w.Zeros(2); break;
                        case CounterFieldKind.U8: w.U8((byte)c.Values[i]); break;
                        default: w.U32((uint)c.Values[i]); break;
                    }
                }
            }
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(w.At(recordLengthAt), (uint)(w.Position - recordStart));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(w.At(lengthAt), (uint)(w.Position - start));
        }
        return w.Position;
    }
}
