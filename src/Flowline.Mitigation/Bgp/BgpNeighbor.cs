using System.Net;
using Flowline.Wire.Bgp;

namespace Flowline.Mitigation.Bgp;

/// <summary>
/// A router Flowline announces its FlowSpec rules to. Flowline opens the TCP connection (the router is
/// configured with Flowline as a passive neighbour, or simply as a neighbour: a router that also connects
/// is refused, and the connection Flowline opened stays).
/// </summary>
public sealed record BgpNeighbor(IPAddress Address, uint As, int Port = 179)
{
    /// <summary>Families offered in the OPEN; only those the router offers too are announced.</summary>
    public IReadOnlyList<BgpFamily> Families { get; init; } = [BgpFamily.Ipv4FlowSpec, BgpFamily.Ipv6FlowSpec];
    /// <summary>Hold time offered (RFC 4271: 0, or at least 3 seconds); the smaller of both sides' is used.</summary>
    public ushort HoldTime { get; init; } = 90;
    public string Name => Port == 179 ? Address.ToString() : new IPEndPoint(Address, Port).ToString();
}

/// <summary>The speaker's own identity: its AS and BGP identifier.</summary>
public sealed record BgpLocal(uint As, IPAddress RouterId);

/// <summary>RFC 4271 8.2.2 session states (Active and Connect are one here: Flowline only connects).</summary>
public enum BgpState { Idle, Connect, OpenSent, OpenConfirm, Established }

/// <summary>What a neighbour's session is doing, for the API and /metrics.</summary>
public sealed record BgpNeighborStatus(string Neighbor, uint As, BgpState State, DateTimeOffset? EstablishedSince, IReadOnlyList<string> Families,
    int Advertised, long Connects, long Updates, long Notifications, string? LastError, DateTimeOffset? LastErrorTime, ushort HoldTime);
