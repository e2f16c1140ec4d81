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
}

/// <summary>An IPv4 or IPv6 prefix in the 128-bit address space (IPv4 prefixes are IPv4-mapped).</summary>
public readonly record struct Prefix(FlowAddress Network, int Length)
{
    /// <summary>Length in the 128-bit space: an IPv4 /24 is a /120 of the mapped range.</summary>
    public static Prefix Create(FlowAddress address, int length)
    {
        var bits = address.IsV4 ? 96 + length : length;
        return new Prefix(Mask(address, bits), bits);
    }

    public bool Contains(in FlowAddress a) => Mask(a, Length) == Network;

    public static FlowAddress Mask(in FlowAddress a, int bits)
    {
        if (bits >= 128) return a;
        if (bits <= 0) return default;
        if (bits <= 64) return new FlowAddress(a.Hi & (ulong.MaxValue << (64 - bits)), 0);
        return new FlowAddress(a.Hi, a.Lo & (ulong.MaxValue << (128 - bits)));
    }

    public override string ToString() => $"{Network}/{(Network.IsV4 ? Length - 96 : Length)}";
}
