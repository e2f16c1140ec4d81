using Flowline.Records;

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
    /// <summary>A stable id of this direction's flow (see <see cref="SessionIds.FlowId"/>).</summary>
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

    /// <summary>Clears the counts after a flush; the first start stays.</summary>
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
    /// <summary>True the first time the session is handed out.</summary>
    public bool First;
    public ulong TotalBytes => Forward.Bytes + Reverse.Bytes;

    /// <summary>A copy (a flush hands out one session object again and again), with its flow ids.</summary>
    public Session Clone()
    {
        EnsureFlowIds();
        return (Session)MemberwiseClone();
    }

    private bool _idsSet;

    /// <summary>Sets the two directions' <see cref="SessionDirection.FlowId"/> (a flush leaves them to whoever needs them).</summary>
    public void EnsureFlowIds()
    {
        if (_idsSet) return;
        Forward.FlowId = SessionIds.FlowId(this, reverse: false);
        Reverse.FlowId = SessionIds.FlowId(this, reverse: true);
        _idsSet = true;
    }

    /// <summary>The session's fields changed: its flow ids are computed again when asked for.</summary>
    internal void ForgetFlowIds() => _idsSet = false;

    /// <summary>The local end's address, port and VN, and the remote's: the client's when the session is the client part.</summary>
    public FlowAddress LocalIp => LocalIsClient ? ClientIp : ServerIp;
    public FlowAddress RemoteIp => LocalIsClient ? ServerIp : ClientIp;
    public uint LocalVn => LocalIsClient ? ClientVn : ServerVn;
    public uint RemoteVn => LocalIsClient ? ServerVn : ClientVn;

    /// <summary>Sent and received from the local end's point of view.</summary>
    public ref SessionDirection Tx => ref LocalIsClient ? ref Forward : ref Reverse;
    public ref SessionDirection Rx => ref LocalIsClient ? ref Reverse : ref Forward;
}

/// <summary>Ids of a session's two flows, the same wherever they are computed (agent, collector, query).</summary>
public static class SessionIds
{
    /// <summary>
    /// A stable id for one direction of a session: its exporter, protocol, client and server ends and its
    /// setup time, mixed into 128 bits (laid out as a version-4 UUID).
    /// </summary>
    public static Guid FlowId(FlowAddress exporter, byte protocol, FlowAddress client, ushort clientPort, FlowAddress server,
        ushort serverPort, long setup, bool reverse)
    {
        Span<ulong> words = [exporter.Hi, exporter.Lo, client.Hi, client.Lo, server.Hi, server.Lo,
            ((ulong)clientPort << 48) | ((ulong)serverPort << 32) | ((ulong)protocol << 24) | (reverse ? 1UL : 0UL), (ulong)setup];
        ulong a = 0x9E3779B97F4A7C15UL, b = 0xC2B2AE3D27D4EB4FUL;
        foreach (var w in words)
        {
            a = Mix(a ^ w);
            b = Mix(b + w * 0xFF51AFD7ED558CCDUL);
        }
        Span<byte> bytes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes, a);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes[8..], b);
        bytes[7] = (byte)((bytes[7] & 0x0F) | 0x40); // version 4 layout (random-looking), variant 1
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes);
    }

    public static Guid FlowId(Session s, bool reverse) =>
        FlowId(s.Exporter, s.Protocol, s.ClientIp, s.ClientPort, s.ServerIp, s.ServerPort, s.Setup, reverse);

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
