using Flowline.Query;
using Flowline.Records;

namespace Flowline.Enrichment;

// The compiled inventory's records: ports, networks and rules as structs addressed by index.

internal struct PortEntry
{
    public uint Symbol, Account, App, Tier, Site, Deployment;
    /// <summary>The account as a small number, to compare accounts without strings.</summary>
    public int AccountOrdinal;
    public int Network;
    public ulong Mac;
    public int IngressStart, IngressEnd, EgressStart, EgressEnd, GroupStart, GroupEnd;
    /// <summary>In no security group: port security is off and everything passes.</summary>
    public bool Unguarded;
}

internal readonly struct NetworkEntry(uint symbol, int accountOrdinal, bool isPublic, Prefix[] subnets)
{
    public readonly uint Symbol = symbol;
    /// <summary>-1 for a network without an account (the public one).</summary>
    public readonly int AccountOrdinal = accountOrdinal;
    public readonly bool IsPublic = isPublic;
    private readonly Prefix[] _subnets = subnets;

    public bool Contains(in FlowAddress a)
    {
        foreach (var s in _subnets)
        {
            if (s.Contains(a)) return true;
        }
        return false;
    }
}

/// <summary>A security-group rule with its remote prefix as a pair of 64-bit masks.</summary>
internal readonly struct RuleEntry
{
    public readonly uint Symbol;
    public readonly RuleDirection Direction;
    private readonly byte _ipVersion;
    /// <summary>-1: any protocol.</summary>
    private readonly short _protocol;
    private readonly ushort _portLow, _portHigh;
    private readonly ulong _netHi, _netLo, _maskHi, _maskLo;
    /// <summary>A security group's index; -1 when the rule names no group, -2 for a group not in the inventory (matches nobody).</summary>
    public readonly int RemoteGroup;

    public RuleEntry(uint symbol, SecurityRule r, int remoteGroup)
    {
        Symbol = symbol;
        Direction = r.Direction;
        _ipVersion = r.IpVersion;
        _protocol = r.Protocol is { } p ? p : (short)-1;
        _portLow = r.PortLow;
        _portHigh = r.PortHigh;
        RemoteGroup = r.Remote is null ? remoteGroup : -1;
        if (r.Remote is { } prefix)
        {
            var ones = new FlowAddress(ulong.MaxValue, ulong.MaxValue);
            var mask = Prefix.Mask(ones, prefix.Length);
            (_netHi, _netLo, _maskHi, _maskLo) = (prefix.Network.Hi, prefix.Network.Lo, mask.Hi, mask.Lo);
        }
    }

    /// <summary>
    /// Does the rule admit traffic of this protocol to <paramref name="port"/> from or to <paramref name="remote"/>?
    /// A rule naming a remote group matches here on everything else; the caller checks the membership.
    /// </summary>
    public bool Matches(byte ipVersion, byte protocol, ushort port, in FlowAddress remote)
    {
        if (_ipVersion != 0 && ipVersion != 0 && _ipVersion != ipVersion) return false;
        if (_protocol >= 0 && _protocol != protocol) return false;
        if (_portLow != 0 || _portHigh != ushort.MaxValue)
        {
            // ICMP carries type << 8 | code where ports go; a rule's range then applies to the type.
            var value = protocol is 1 or 58 ? (ushort)(port >> 8) : port;
            if (value < _portLow || value > _portHigh) return false;
        }
        return (remote.Hi & _maskHi) == _netHi && (remote.Lo & _maskLo) == _netLo;
    }
}
