using System.Buffers.Binary;
using Flowline.Records;

namespace Flowline.Wire.SFlow;

/// <summary>
/// Rewrites an sFlow v5 datagram keeping only the samples that touch chosen interfaces: a flow sample whose
/// data source, input or output is one of them, a counter sample whose data source is. The header (agent,
/// sub-agent, datagram sequence, uptime) and every kept sample are copied byte for byte; only the sample
/// count changes. Samples of other enterprises and unknown formats name no interface and are left out.
/// </summary>
public static class SFlowSampleFilter
{
    /// <summary>The outcome of <see cref="Filter{T}"/>.</summary>
    public enum Outcome : byte { Kept, NoneKept, Malformed }

    /// <summary>Says whether an interface (an ifIndex of the datagram's agent) is wanted.</summary>
    public interface IInterfaces
    {
        bool Contains(FlowAddress agent, uint ifIndex);
    }

    /// <summary>
    /// Writes the datagram with only the wanted samples to <paramref name="output"/> (at least as long as
    /// <paramref name="datagram"/>) and its length to <paramref name="length"/>. A datagram that is not
    /// well-formed sFlow v5 up to its last sample is <see cref="Outcome.Malformed"/> and nothing is written.
    /// </summary>
    public static Outcome Filter<T>(ReadOnlySpan<byte> datagram, Span<byte> output, T interfaces, out int length, out int kept)
        where T : IInterfaces
    {
        length = kept = 0;
        var d = datagram;
        if (d.Length < 28 || Read(d, 0) != 5) return Outcome.Malformed;
        var agentType = Read(d, 4);
        FlowAddress agent;
        int offset;
        if (agentType == 1)
        {
            agent = FlowAddress.FromV4(d[8..]);
            offset = 12;
        }
        else if (agentType == 2 && d.Length >= 40)
        {
            agent = FlowAddress.FromV6(d[8..]);
            offset = 24;
        }
        else
        {
            return Outcome.Malformed;
        }
        var countAt = offset + 12;
        var count = Read(d, countAt);
        offset = countAt + 4;
        d[..offset].CopyTo(output);
        var written = offset;
        for (var i = 0u; i < count; i++)
        {
            if (d.Length - offset < 8) return Outcome.Malformed;
            var tag = Read(d, offset);
            var sampleLength = Read(d, offset + 4);
            if (sampleLength > (uint)(d.Length - offset - 8)) return Outcome.Malformed;
            var whole = d.Slice(offset, 8 + (int)sampleLength);
            offset += whole.Length;
            if (Wanted(tag, whole[8..], agent, interfaces))
            {
                whole.CopyTo(output[written..]);
                written += whole.Length;
                kept++;
            }
        }
        if (kept == 0) return Outcome.NoneKept;
        BinaryPrimitives.WriteUInt32BigEndian(output[countAt..], (uint)kept);
        length = written;
        return Outcome.Kept;
    }

    /*
     flow_sample (0:1): sequence, source_id (type << 24 | index), rate, pool, drops, input, output, ...
       input and output: top two bits the format (0: an ifIndex), the rest the value.
     flow_sample_expanded (0:3): sequence, source type, source index, rate, pool, drops,
       input format, input value, output format, output value, ...
     counters_sample (0:2): sequence, source_id, ...      counters_sample_expanded (0:4): sequence, source type, source index, ...
     A source of type 0 is an interface (ifIndex).
    */
    private static bool Wanted<T>(uint tag, ReadOnlySpan<byte> s, FlowAddress agent, T interfaces) where T : IInterfaces
    {
        switch (tag)
        {
            case 1 when s.Length >= 32:
                return Source(Read(s, 4)) is { } source && interfaces.Contains(agent, source)
                    || Interface(Read(s, 20)) is { } input && interfaces.Contains(agent, input)
                    || Interface(Read(s, 24)) is { } output && interfaces.Contains(agent, output);
            case 3 when s.Length >= 44:
                return Read(s, 4) == 0 && interfaces.Contains(agent, Read(s, 8))
                    || Read(s, 24) == 0 && interfaces.Contains(agent, Read(s, 28))
                    || Read(s, 32) == 0 && interfaces.Contains(agent, Read(s, 36));
            case 2 when s.Length >= 12:
                return Source(Read(s, 4)) is { } counters && interfaces.Contains(agent, counters);
            case 4 when s.Length >= 16:
                return Read(s, 4) == 0 && interfaces.Contains(agent, Read(s, 8));
            default:
                return false;
        }
    }

    private static uint? Source(uint sourceId) => sourceId >> 24 == 0 ? sourceId : null;

    private static uint? Interface(uint value) => value >> 30 == 0 ? value : null;

    private static uint Read(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt32BigEndian(s[offset..]);
}
