using Flowline.Records;

namespace Flowline.Wire;

/// <summary>Counters a decoder keeps. Plain fields: one decoder is used by one thread at a time.</summary>
public sealed class DecodeStats
{
    public long Datagrams;
    public readonly long[] DatagramsByProtocol = new long[5];
    public long FlowRecords;
    /// <summary>NetFlow v9 / IPFIX data records (flow and options), before biflows are split: what sequence numbers count.</summary>
    public long DataRecords;
    public long FlowSamples;
    public long CounterSamples;
    public long CounterRecords;
    public long Templates;
    public long OptionsTemplates;
    public long TemplatesWithdrawn;
    public long OptionsRecords;
    /// <summary>Records or samples of a type this decoder does not know, skipped by their length.</summary>
    public long UnknownSkipped;
    /// <summary>Data sets held until their template arrives, later decoded, and dropped unresolved.</summary>
    public long PendingSets;
    public long PendingDecoded;
    public long PendingDropped;
    public long MalformedDatagrams;
    public readonly long[] MalformedByReason = new long[DecodeErrorNames.Count];

    public void CountMalformed(DecodeError error)
    {
        MalformedDatagrams++;
        MalformedByReason[(int)error]++;
    }

    public void Add(DecodeStats other)
    {
        Datagrams += other.Datagrams;
        for (var i = 0; i < DatagramsByProtocol.Length; i++) DatagramsByProtocol[i] += other.DatagramsByProtocol[i];
        FlowRecords += other.FlowRecords; FlowSamples += other.FlowSamples; DataRecords += other.DataRecords;
        CounterSamples += other.CounterSamples; CounterRecords += other.CounterRecords;
        Templates += other.Templates; OptionsTemplates += other.OptionsTemplates;
        TemplatesWithdrawn += other.TemplatesWithdrawn; OptionsRecords += other.OptionsRecords;
        UnknownSkipped += other.UnknownSkipped; PendingSets += other.PendingSets;
        PendingDecoded += other.PendingDecoded; PendingDropped += other.PendingDropped;
        MalformedDatagrams += other.MalformedDatagrams;
        for (var i = 0; i < MalformedByReason.Length; i++) MalformedByReason[i] += other.MalformedByReason[i];
    }

    /// <summary>A one-paragraph human summary (used on stderr by the CLI).</summary>
    public string Summary()
    {
        var sb = new System.Text.StringBuilder();
        sb.Append("datagrams ").Append(Datagrams);
        var parts = new List<string>();
        foreach (var p in new[] { FlowProtocol.SFlow5, FlowProtocol.NetFlow5, FlowProtocol.NetFlow9, FlowProtocol.Ipfix })
        {
            if (DatagramsByProtocol[(int)p] > 0) parts.Add($"{FlowProtocolNames.Name(p)} {DatagramsByProtocol[(int)p]}");
        }
        if (parts.Count > 0) sb.Append(" (").Append(string.Join(", ", parts)).Append(')');
        sb.Append("; flow records ").Append(FlowRecords);
        if (FlowSamples > 0 || CounterSamples > 0)
        {
            sb.Append("; sflow samples: flow ").Append(FlowSamples).Append(", counter ").Append(CounterSamples)
              .Append(" (").Append(CounterRecords).Append(" counter records)");
        }
        if (Templates + OptionsTemplates + TemplatesWithdrawn + OptionsRecords > 0)
        {
            sb.Append("; templates ").Append(Templates).Append(", options templates ").Append(OptionsTemplates)
              .Append(", withdrawn ").Append(TemplatesWithdrawn).Append(", options records ").Append(OptionsRecords);
        }
        if (PendingSets > 0)
        {
            sb.Append("; data sets before their template: ").Append(PendingSets).Append(" held, ")
              .Append(PendingDecoded).Append(" decoded later, ").Append(PendingDropped).Append(" dropped");
        }
        sb.Append("; unknown records skipped ").Append(UnknownSkipped);
        sb.Append("; malformed ").Append(MalformedDatagrams);
        if (MalformedDatagrams > 0)
        {
            var reasons = new List<string>();
            for (var i = 1; i < MalformedByReason.Length; i++)
            {
                if (MalformedByReason[i] > 0) reasons.Add($"{DecodeErrorNames.Name((DecodeError)i)} {MalformedByReason[i]}");
            }
            sb.Append(" (").Append(string.Join(", ", reasons)).Append(')');
        }
        return sb.ToString();
    }
}
