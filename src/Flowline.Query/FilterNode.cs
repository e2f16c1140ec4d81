using Flowline.Records;

namespace Flowline.Query;

/// <summary>Which end of a flow a term applies to; <see cref="Either"/> matches when either end does.</summary>
public enum Direction : byte
{
    Either,
    Src,
    Dst,
}

public enum Comparison : byte
{
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// <summary>A parsed filter. Leaves test one field; And/Or/Not combine.</summary>
public abstract record FilterNode
{
    /// <summary>Matches every record ("any", or an empty filter).</summary>
    public sealed record Any : FilterNode;

    public sealed record And(FilterNode Left, FilterNode Right) : FilterNode;

    public sealed record Or(FilterNode Left, FilterNode Right) : FilterNode;

    public sealed record Not(FilterNode Inner) : FilterNode;

    /// <summary>An address inside one of the prefixes (a host is a /32 or /128 prefix).</summary>
    public sealed record Address(Direction Direction, IReadOnlyList<Prefix> Prefixes) : FilterNode;

    /// <summary>A numeric field compared with a value, or (Eq with several values) in a set.</summary>
    public sealed record Number(NumericField Field, Direction Direction, Comparison Comparison, IReadOnlyList<ulong> Values) : FilterNode;

    /// <summary>TCP flags: every given flag is set.</summary>
    public sealed record Flags(ushort Mask) : FilterNode;

    public sealed record Exporter(FlowAddress Value) : FilterNode;

    public sealed record Mac(Direction Direction, ulong Value) : FilterNode;

    /// <summary>The next hop's or the exporter's address inside one of the prefixes (nfdump's <c>next ip</c>, <c>router ip</c>).</summary>
    public sealed record OtherAddress(AddressColumn Column, IReadOnlyList<Prefix> Prefixes) : FilterNode;

    /// <summary>
    /// nfdump's time window (<c>-t</c>): flows that start at or after <paramref name="FirstMs"/> and end at or before
    /// <paramref name="LastMs"/>, times in whole milliseconds since the epoch as nfdump compares them.
    /// </summary>
    public sealed record Window(long FirstMs, long LastMs) : FilterNode;
}

/// <summary>Addresses of a flow other than its two ends.</summary>
public enum AddressColumn : byte
{
    NextHop,
    Exporter,
}

/// <summary>The numeric fields the filter language compares; ports, interfaces, AS and VLAN take a direction.</summary>
public enum NumericField : byte
{
    Protocol,
    IpVersion,
    Port,
    Interface,
    As,
    Vlan,
    Tos,
    /// <summary>IPFIX flowDirection: 0 ingress, 1 egress, 255 unknown.</summary>
    FlowDirection,
    Bytes,
    Packets,
    Duration,
    SamplingRate,
    ObsDomain,
    // Tenancy (enrichment) columns; names resolved to symbol ids when the filter is parsed.
    Account,
    Vmi,
    /// <summary>Source / destination virtual network.</summary>
    Vn,
    SgRule,
    App,
    Tier,
    Site,
    Deployment,
    /// <summary><see cref="FlowAction"/>: 1 pass, 2 drop.</summary>
    Action,
    VmiDirection,
    /// <summary>Source / destination country (two letters packed).</summary>
    Country,
    /// <summary>ICMP type and code (ICMP and ICMPv6 only: dst_port's high and low byte).</summary>
    IcmpType,
    IcmpCode,
    /// <summary>nfdump's computed rates: bits and packets a second over the flow's duration in whole milliseconds (0 when it is 0), bytes a packet.</summary>
    Bps,
    Pps,
    Bpp,
    /// <summary>NetFlow/IPFIX forwarding status (nfdump's fwdstat).</summary>
    ForwardingStatus,
    /// <summary>Source / destination prefix length the exporter reported (nfdump's [src|dst] mask).</summary>
    Mask,
    /// <summary>The TCP flags as a number (nfdump's flags [CMP] N; the parser adds proto tcp, as nfdump does).</summary>
    TcpFlags,
}
