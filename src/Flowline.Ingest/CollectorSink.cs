using Flowline.Wire;
using Flowline.Records;

namespace Flowline.Ingest;

/// <summary>
/// Receives what the decoder finds in one datagram: flow records go to the batch (with a configured
/// sampling rate applied, and enriched when an inventory is in use, while the record is at hand), the
/// header and sample sequence numbers go to the exporter's state.
/// </summary>
internal struct CollectorSink(Collector collector, FlowBatch batch) : IFlowSink
{
    /// <summary>Where records go; replaced by the store's empty batch after each hand-over.</summary>
    public FlowBatch Batch = batch;
    /// <summary>Records added to <see cref="Batch"/> (a record between two ports of the inventory is two rows).</summary>
    public long Records;
    public ExporterState? Current;
    public DatagramHeader Header;
    private uint _override;
    /// <summary>The rate last given to <see cref="Current"/>: records repeat it, the lock is taken only on a change.</summary>
    private uint _rate;

    public void BeginDatagram()
    {
        Current = null;
        Header = default;
    }

    public void OnDatagram(in DatagramHeader header)
    {
        Header = header;
        // sFlow names its agent inside the datagram; the others are known by where they send from.
        var address = header.Protocol == FlowProtocol.SFlow5 && !header.Agent.IsNone ? header.Agent : header.Exporter;
        Current = collector.Exporter(new ExporterId(address, header.Protocol, header.ObsDomain), header.Exporter);
        _override = collector.SamplingOverride(address, header.Exporter);
        _rate = Current.SamplingRate;
    }

    public void OnSample(in SampleHeader sample)
    {
        if (Current is null) return;
        Current.SampleSequence(sample.IsCounters ? sample.SourceId | 0x8000_0000u : sample.SourceId & 0x7FFF_FFFFu, sample.Sequence);
        if (!sample.IsCounters) NoteRate(_override != 0 ? _override : sample.SamplingRate);
    }

    private void NoteRate(uint rate)
    {
        if (rate == 0 || rate == _rate) return;
        _rate = rate;
        Current?.SetSamplingRate(rate);
    }

    public void OnFlow(in FlowRecord record, in SampledPacket packet)
    {
        Records++;
        var enricher = collector.Enricher;
        if (_override == 0)
        {
            if (record.SamplingRate > 1) NoteRate(record.SamplingRate);
            if (enricher is null)
            {
                Batch.Add(record);
                return;
            }
        }
        var r = record;
        if (_override != 0)
        {
            // A configured rate replaces what the exporter said: estimates are the raw counts times it.
            r.SamplingRate = _override;
            r.Bytes = r.SampledBytes * _override;
            r.Packets = r.SampledPackets * _override;
            NoteRate(_override);
        }
        if (enricher is null) Batch.Add(r);
        else enricher.Add(ref r, Batch);
    }

    public readonly void OnCounters(in CounterRecord record) => collector.Realtime.Add(record, Header.TimeReceived);

    public readonly void OnTemplate(in TemplateEvent template)
    {
        if (template.Changed) collector.TemplatesChanged();
    }

    public readonly void OnOptions(FlowProtocol protocol, uint obsDomain, ushort templateId)
    {
    }
}
