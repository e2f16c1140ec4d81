namespace Flowline.Records;

/// <summary>
/// The canonical flow record every decoder produces, whatever the export protocol.
/// Times are Unix microseconds (UTC). <see cref="Bytes"/> and <see cref="Packets"/> are estimates of
/// the traffic that crossed the wire: sampled values multiplied by the sampling rate for sFlow, the
/// delta counts of the reporting interval for NetFlow and IPFIX (never running totals). The values
/// as the exporter reported them are kept in <see cref="SampledBytes"/> / <see cref="SampledPackets"/>.
/// </summary>
public struct FlowRecord
{
    public long TimeReceived;
    public long Start;
    public long End;
    public FlowProtocol Protocol;
    public FlowAddress Exporter;
    /// <summary>sFlow sub-agent id, NetFlow v5 engine type/id (type &lt;&lt; 8 | id), v9 source id, IPFIX observation domain.</summary>
    public uint ObsDomain;
    /// <summary>sFlow data source (class &lt;&lt; 24 | index), IPFIX observationPointId; 0 when not reported.</summary>
    public uint ObsPoint;
    public uint SamplingRate;
    public uint InIf;
    public uint OutIf;
    public FlowAddress SrcAddr;
    public FlowAddress DstAddr;
    public FlowAddress NextHop;
    /// <summary>4 or 6; 0 for non-IP (e.g. ARP) samples.</summary>
    public byte IpVersion;
    /// <summary>0 a whole packet, 1 a first fragment, 2 a later fragment (<see cref="FlowFragment"/>).</summary>
    public byte IpFragment;
    public byte IpProto;
    public ushort SrcPort;
    /// <summary>For ICMP and ICMPv6: type &lt;&lt; 8 | code, the NetFlow convention.</summary>
    public ushort DstPort;
    public ushort TcpFlags;
    public byte Tos;
    public byte IcmpType;
    public byte IcmpCode;
    /// <summary>Flow direction as reported (IPFIX flowDirection): 0 ingress, 1 egress, 255 unknown.</summary>
    public byte Direction;
    public byte EndReason;
    public byte ForwardingStatus;
    public ushort Vlan;
    public ushort PostVlan;
    public ushort EtherType;
    public ulong SrcMac;
    public ulong DstMac;
    public uint SrcAs;
    public uint DstAs;
    public byte SrcMask;
    public byte DstMask;
    public ulong Bytes;
    public ulong Packets;
    public ulong SampledBytes;
    public ulong SampledPackets;
    public TunnelKind Tunnel;
    /// <summary>VXLAN VNI or GRE key of the encapsulation.</summary>
    public uint TunnelId;
    public byte UnderlayProto;
    public ushort UnderlaySrcPort;
    public FlowAddress UnderlaySrc;
    public FlowAddress UnderlayDst;

    // Enrichment (tenancy): symbol ids from the store's symbol table, 0 when unknown. A flow between two
    // ports (VMIs) is stored once per port, each row in that port's account.
    /// <summary>The account the row belongs to (the account of <see cref="Vmi"/>).</summary>
    public uint Account;
    /// <summary>The port (VMI) this row is for.</summary>
    public uint Vmi;
    /// <summary>Relative to <see cref="Vmi"/>: 1 ingress (towards the port), 2 egress (from it), 0 no port (see <see cref="VmiDirections"/>).</summary>
    public byte VmiDirection;
    public uint SrcVn;
    public uint DstVn;
    /// <summary>0 unknown, 1 pass, 2 drop (see <see cref="FlowAction"/>).</summary>
    public byte Action;
    /// <summary>The security-group rule that admits the flow.</summary>
    public uint SgRule;
    /// <summary>The port's workload tags.</summary>
    public uint App, Tier, Site, Deployment;
    /// <summary>ISO 3166 country of a public address: two ASCII letters, first in the high byte; 0 when not known.</summary>
    public ushort SrcCountry, DstCountry;

    // Session rows (the sessions store): a bidirectional session seen from one port, oriented client to
    // server. SrcAddr/SrcPort/SrcVn are the client's, DstAddr/DstPort/DstVn the server's; Bytes, Packets,
    // TcpFlags, Action and SgRule are the forward (client to server) flow's, the Rev* fields the reverse
    // flow's. Flow records leave them all zero (with SessionFlags 0 the others are not stored).
    /// <summary>0 for a flow record; else <see cref="SessionFlags"/> bits: which part (client or server), sampled, logged, ended.</summary>
    public byte SessionFlags;
    /// <summary>The session's first packet and, once it ended (FIN/RST or idle), its end; µs.</summary>
    public long SetupTime, TeardownTime;
    /// <summary>Reverse (server to client) bytes and packets; estimates, upscaled by session sampling.</summary>
    public ulong RevBytes, RevPackets;
    /// <summary>The counts of a logged session as they are: forward and reverse.</summary>
    public ulong LoggedBytes, LoggedPackets, LoggedRevBytes, LoggedRevPackets;
    public ushort RevTcpFlags;
    public byte RevAction;
    public uint RevSgRule;
    /// <summary>The remote end's workload tags and, when it has neither tags nor a network, its prefix (symbol ids).</summary>
    public uint RemoteApp, RemoteTier, RemoteSite, RemoteDeployment, RemotePrefix;

    public const byte DirectionUnknown = 255;
}

/// <summary>What happened to a flow: the security-group verdict or the exporter's forwarding status.</summary>
public static class FlowAction
{
    public const byte Unknown = 0, Pass = 1, Drop = 2;

    public static string Name(byte action) => action switch { Pass => "pass", Drop => "drop", _ => "" };
}

/// <summary>The bits of <see cref="FlowRecord.SessionFlags"/>.</summary>
public static class SessionFlags
{
    /// <summary>The row is the client part (the port is the client's end) or the server part.</summary>
    public const byte Client = 1, Server = 2;
    public const byte ServiceInstance = 4, Sampled = 8, Logged = 16, Ended = 32;

    public static string Side(byte flags) => (flags & Client) != 0 ? "client" : (flags & Server) != 0 ? "server" : "";
}

public static class VmiDirections
{
    public const byte None = 0, Ingress = 1, Egress = 2;

    public static string Name(byte d) => d switch { Ingress => "ingress", Egress => "egress", _ => "" };
}

/// <summary>Two-letter country codes packed into a ushort, as stored.</summary>
public static class CountryCode
{
    public static ushort Pack(ReadOnlySpan<char> code) =>
        code.Length == 2 && char.IsAsciiLetter(code[0]) && char.IsAsciiLetter(code[1])
            ? (ushort)(char.ToUpperInvariant(code[0]) << 8 | char.ToUpperInvariant(code[1]))
            : (ushort)0;

    public static string Text(ushort code) => code == 0 ? "" : new string([(char)(code >> 8), (char)(code & 0xFF)]);
}

/// <summary>Names of the symbol ids stored in enrichment columns (accounts, networks, ports, rules, tags).</summary>
public interface ISymbolNames
{
    /// <summary>The string behind an id, or null for 0 and unknown ids.</summary>
    string? Name(uint id);
}

/// <summary>Adds names to a symbol table (durably, in one write) and returns their ids.</summary>
public interface ISymbolInterner
{
    uint[] Intern(IReadOnlyList<string> names);

    /// <summary>Names held: ids are kept for good, so what adds names made of strangers' input checks this first.</summary>
    int Count { get; }
}

/// <summary>A store's names (accounts, networks, ports, rules, tags): read by id, found by name, added durably.</summary>
public interface ISymbolTable : ISymbolNames, ISymbolInterner
{
    /// <summary>The id of a name the table holds; false for a name it has never seen.</summary>
    bool TryFind(string name, out uint id);

    /// <summary>One name's id, added when new.</summary>
    uint Intern(string name) => Intern([name])[0];
}

/// <summary>Values of <see cref="FlowRecord.IpFragment"/>.</summary>
public static class FlowFragment
{
    public const byte None = 0, First = 1, Later = 2;
}
