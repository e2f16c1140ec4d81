using Flowline.Wire.Records;

namespace Flowline.Sessions;

/// <summary>How the client of a session was told from its server (the first rule that applied).</summary>
public enum ClientRule : byte
{
    /// <summary>ICMP: the sender of the echo request (or of a one-way message) is the client.</summary>
    Icmp,
    /// <summary>TCP: one direction's flags hold SYN without ACK (an opening nobody answered yet).</summary>
    Syn,
    /// <summary>The direction whose first packet came first.</summary>
    FirstPacket,
    /// <summary>The side on a service port (configured, else below 1024, else the lower port) is the server.</summary>
    ServicePort,
}

/// <summary>One direction of a session: what its flow records add up to since the last flush.</summary>
public struct SessionDirection
{
    /// <summary>Estimated (scaled by the sampling rate) and raw sampled counts.</summary>
    public ulong Bytes, Packets, SampledBytes, SampledPackets;
    /// <summary>Flow records added.</summary>
    public uint Flows;
    public ushort TcpFlags;
    /// <summary><see cref="FlowAction"/> and the security-group rule (symbol id) of the last record.</summary>
    public byte Action;
    public uint SgRule;
    /// <summary>First packet and last packet, µs since the epoch (0: none seen).</summary>
    public long Start, End;
    /// <summary>A stable id of this direction's flow (from its exporter, 5-tuple and first start).</summary>
    public Guid FlowId;

    public readonly bool Seen => Flows > 0;

    internal void Add(in FlowRecord r)
    {
        Bytes += r.Bytes;
        Packets += r.Packets;
        SampledBytes += r.SampledBytes;
        SampledPackets += r.SampledPackets;
        Flows++;
        TcpFlags |= r.TcpFlags;
        Action = r.Action;
        SgRule = r.SgRule;
        Start = Start == 0 ? r.Start : Math.Min(Start, r.Start);
        End = Math.Max(End, r.End);
    }

    /// <summary>Clears the counts after a flush; the identity (flow id, first start) stays.</summary>
    internal void ResetCounts()
    {
        Bytes = Packets = SampledBytes = SampledPackets = 0;
        Flows = 0;
        TcpFlags = 0;
    }
}

/// <summary>
/// A bidirectional session: the forward flow (client to server) and the reverse flow, seen from one
/// place (a port of the inventory when the records were enriched, else an exporter).
/// </summary>
public sealed class Session
{
    public FlowAddress Exporter;
    public uint ObsDomain;
    /// <summary>Account and port (VMI) the records belong to; 0 when not enriched.</summary>
    public uint Account, Vmi;
    public byte Protocol;
    public FlowAddress ClientIp, ServerIp;
    public ushort ClientPort, ServerPort;
    public uint ClientVn, ServerVn;
    /// <summary>Tags of the port the session is seen from (symbol ids).</summary>
    public uint App, Tier, Site, Deployment;
    /// <summary>True when the port is the client's end: the session is the client part.</summary>
    public bool LocalIsClient;
    public ClientRule Rule;
    public SessionDirection Forward, Reverse;
    /// <summary>When the session began (its first packet) and ended (a FIN or RST seen, else 0), µs.</summary>
    public long Setup, Teardown;
    public ulong TotalBytes => Forward.Bytes + Reverse.Bytes;

    /// <summary>The local end's address, port and VN, and the remote's: the client's when the session is the client part.</summary>
    public FlowAddress LocalIp => LocalIsClient ? ClientIp : ServerIp;
    public FlowAddress RemoteIp => LocalIsClient ? ServerIp : ClientIp;
    public uint LocalVn => LocalIsClient ? ClientVn : ServerVn;
    public uint RemoteVn => LocalIsClient ? ServerVn : ClientVn;

    /// <summary>Sent and received from the local end's point of view.</summary>
    public ref SessionDirection Tx => ref LocalIsClient ? ref Forward : ref Reverse;
    public ref SessionDirection Rx => ref LocalIsClient ? ref Reverse : ref Forward;
}
