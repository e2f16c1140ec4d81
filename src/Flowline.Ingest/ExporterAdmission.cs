using Flowline.Records;

namespace Flowline.Ingest;

/// <summary>
/// Who may send: an allow-list of source prefixes (empty: everyone), and, when asked for, that an sFlow
/// datagram's agent address is the address it came from unless it came through a listed relay. A refused
/// datagram is counted here and never decoded, stored or forwarded.
/// </summary>
public sealed class ExporterAdmission(IReadOnlyList<Prefix> allowed, bool agentCheck, IReadOnlyList<Prefix> relays)
{
    private long _notAllowed, _agentMismatch;

    public static ExporterAdmission For(CollectorOptions o) => new(o.ExportersAllowed, o.SflowAgentCheck, o.SflowRelays);

    /// <summary>Datagrams from a source outside <c>exporters_allowed</c>.</summary>
    public long NotAllowed => Interlocked.Read(ref _notAllowed);
    /// <summary>sFlow datagrams whose agent address was not their source (<c>sflow_agent_check</c>).</summary>
    public long AgentMismatch => Interlocked.Read(ref _agentMismatch);

    /// <summary>Whether the datagram may be decoded; counts it when not.</summary>
    public bool Admit(FlowAddress from, ReadOnlySpan<byte> datagram)
    {
        if (allowed.Count > 0 && !Within(allowed, from))
        {
            Interlocked.Increment(ref _notAllowed);
            return false;
        }
        if (agentCheck && Wire.FlowDecoder.Detect(datagram) == FlowProtocol.SFlow5)
        {
            var agent = Collector.IdOf(from, datagram).Address;
            if (agent != from && !Within(relays, from))
            {
                Interlocked.Increment(ref _agentMismatch);
                return false;
            }
        }
        return true;
    }

    /// <summary>A listed sFlow relay (<c>sflow_relays</c>): it sends for many agents, and may make as many exporters known.</summary>
    public bool IsRelay(FlowAddress from) => Within(relays, from);

    private static bool Within(IReadOnlyList<Prefix> prefixes, FlowAddress a)
    {
        for (var i = 0; i < prefixes.Count; i++)
        {
            if (prefixes[i].Contains(a)) return true;
        }
        return false;
    }
}
