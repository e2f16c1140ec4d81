using Flowline.Records;

namespace Flowline.Wire;

/// <summary>What a datagram's header said, passed to the sink before its records.</summary>
public struct DatagramHeader
{
    public FlowProtocol Protocol;
    public FlowAddress Exporter;
    public long TimeReceived;
    public int Length;
    public ushort Version;
    public uint Sequence;
    /// <summary>Exporter uptime in milliseconds (sFlow, NetFlow); 0 for IPFIX.</summary>
    public uint UptimeMs;
    /// <summary>Export time in Unix seconds (NetFlow, IPFIX); 0 for sFlow.</summary>
    public uint ExportTime;
    public uint ObsDomain;
    /// <summary>sFlow agent address; the exporter address otherwise.</summary>
    public FlowAddress Agent;
    /// <summary>Samples (sFlow) or records (NetFlow v5/v9 count field); 0 for IPFIX.</summary>
    public uint Count;
}

/// <summary>An sFlow flow or counter sample header, passed to the sink before the sample's records.</summary>
public struct SampleHeader
{
    public uint Enterprise;
    public uint Format;
    public uint Sequence;
    public uint SourceId;
    public uint SamplingRate;
    public uint SamplePool;
    public uint Drops;
    public uint Input;
    public uint Output;
    public uint RecordCount;
    public readonly bool IsCounters => Format is 2 or 4;
}

/// <summary>A template or options template seen (or withdrawn) in a NetFlow v9 / IPFIX datagram.</summary>
public readonly record struct TemplateEvent(
    FlowProtocol Protocol, uint ObsDomain, ushort TemplateId, ushort FieldCount, ushort ScopeFieldCount, bool IsOptions, bool Withdrawn)
{
    /// <summary>False when the exporter resent a template exactly as it was already known.</summary>
    public bool Changed { get; init; } = true;
}

/// <summary>The raw packet header an sFlow flow sample carried (empty for other protocols).</summary>
public readonly ref struct SampledPacket(ReadOnlySpan<byte> header, uint headerProtocol, uint frameLength, uint stripped)
{
    /// <summary>sFlow header_protocol: 1 Ethernet, 11 IPv4, 12 IPv6, ...</summary>
    public uint HeaderProtocol { get; } = headerProtocol;
    public uint FrameLength { get; } = frameLength;
    public uint Stripped { get; } = stripped;
    public ReadOnlySpan<byte> Header { get; } = header;
    public bool IsEmpty => Header.IsEmpty;
}

/// <summary>
/// Receives what a decoder finds. Decoders are generic over the sink so that a struct sink is
/// specialised by the JIT. There are deliberately no default implementations: calling a default
/// interface method on a struct boxes it, which would allocate on every datagram.
/// </summary>
public interface IFlowSink
{
    void OnDatagram(in DatagramHeader header);

    void OnSample(in SampleHeader sample);

    /// <summary>A flow record. <paramref name="packet"/> holds the raw packet header of an sFlow sample, else is empty.</summary>
    void OnFlow(in FlowRecord record, in SampledPacket packet);

    void OnCounters(in CounterRecord record);

    void OnTemplate(in TemplateEvent template);

    /// <summary>An options data record applied to exporter state (sampling interval and the like).</summary>
    void OnOptions(FlowProtocol protocol, uint obsDomain, ushort templateId);
}

/// <summary>A sink that appends flow records to a columnar batch and ignores the rest.</summary>
public struct BatchSink(FlowBatch batch) : IFlowSink
{
    public readonly FlowBatch Batch = batch;

    public readonly void OnFlow(in FlowRecord record, in SampledPacket packet) => Batch.Add(record);

    public readonly void OnDatagram(in DatagramHeader header) { }

    public readonly void OnSample(in SampleHeader sample) { }

    public readonly void OnCounters(in CounterRecord record) { }

    public readonly void OnTemplate(in TemplateEvent template) { }

    public readonly void OnOptions(FlowProtocol protocol, uint obsDomain, ushort templateId) { }
}
