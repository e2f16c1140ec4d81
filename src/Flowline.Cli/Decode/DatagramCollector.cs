using Flowline.Wire;
using Flowline.Records;

namespace Flowline.Cli.Decode;

/// <summary>One sFlow sample of a collected datagram: its header and the range of flows/counters it produced.</summary>
internal struct CollectedSample
{
    public SampleHeader Header;
    public int FirstFlow;
    public int FlowCount;
    public int FirstCounter;
    public int CounterCount;
}

/// <summary>
/// Gathers everything one datagram yields, so that datagram-shaped formats (json, grep) can write it
/// whole. Lists are reused from datagram to datagram.
/// </summary>
internal sealed class DatagramCollector : IFlowSink
{
    public DatagramHeader Header;
    public bool HasHeader;
    /// <summary>The current sFlow sample's header, for sinks that write as they go instead of collecting.</summary>
    public SampleHeader Sample;
    public bool HasSample;
    public readonly List<CollectedSample> Samples = [];
    public readonly List<FlowRecord> Flows = [];
    public readonly List<CounterRecord> Counters = [];
    public readonly List<TemplateEvent> Templates = [];
    public int OptionsRecords;
    /// <summary>Called for each flow as it is decoded (before the datagram completes), e.g. to write pcap frames.</summary>
    public PcapFrameWriter? Pcap;

    /// <summary>The address the datagram came from and when it was received.</summary>
    public FlowAddress Source;
    public long TimeReceived;

    public void Reset(FlowAddress source, long timeReceived)
    {
        Source = source;
        TimeReceived = timeReceived;
        HasHeader = false;
        HasSample = false;
        Samples.Clear();
        Flows.Clear();
        Counters.Clear();
        Templates.Clear();
        OptionsRecords = 0;
    }

    public void OnDatagram(in DatagramHeader header)
    {
        Header = header;
        HasHeader = true;
    }

    public void OnSample(in SampleHeader sample) =>
        Samples.Add(new CollectedSample { Header = sample, FirstFlow = Flows.Count, FirstCounter = Counters.Count });

    public void OnFlow(in FlowRecord record, in SampledPacket packet)
    {
        Flows.Add(record);
        if (Samples.Count > 0 && record.Protocol == FlowProtocol.SFlow5)
        {
            var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(Samples);
            span[^1].FlowCount++;
        }
        Pcap?.Write(record, packet);
    }

    public void OnCounters(in CounterRecord record)
    {
        Counters.Add(record);
        if (Samples.Count > 0)
        {
            var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(Samples);
            span[^1].CounterCount++;
        }
    }

    public void OnTemplate(in TemplateEvent template) => Templates.Add(template);

    public void OnOptions(FlowProtocol protocol, uint obsDomain, ushort templateId) => OptionsRecords++;
}

/// <summary>
/// The collector as the decoders' sink. A struct, so that the decoders are compiled for it and call it
/// directly (over the class itself they would run shared generic code with a lookup per call).
/// </summary>
internal readonly struct CollectorSink(DatagramCollector collector) : IFlowSink
{
    public void OnDatagram(in DatagramHeader header) => collector.OnDatagram(header);

    public void OnSample(in SampleHeader sample) => collector.OnSample(sample);

    public void OnFlow(in FlowRecord record, in SampledPacket packet) => collector.OnFlow(record, packet);

    public void OnCounters(in CounterRecord record) => collector.OnCounters(record);

    public void OnTemplate(in TemplateEvent template) => collector.OnTemplate(template);

    public void OnOptions(FlowProtocol protocol, uint obsDomain, ushort templateId) => collector.OnOptions(protocol, obsDomain, templateId);
}
