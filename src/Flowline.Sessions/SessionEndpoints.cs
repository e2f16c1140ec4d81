using Flowline.Records;

namespace Flowline.Sessions;

/// <summary>
/// Who a SessionEndpoint is (seed 001): the local port (VMI) with its network and tags, the remote end's
/// tags, network and prefix, the security rule that admitted the session, which part of the session this
/// is, and where it was seen. Ids are symbols of the store's symbol table (0: none).
/// </summary>
public readonly record struct EndpointIdentity(
    uint Account, uint Vmi, uint Vn, uint App, uint Tier, uint Site, uint Deployment,
    uint RemoteApp, uint RemoteTier, uint RemoteSite, uint RemoteDeployment, uint RemoteVn, Prefix RemotePrefix,
    uint SgRule, bool IsClientSession, bool IsServiceInstance, FlowAddress VrouterIp);

/// <summary>The key of a session aggregate: the local address, the protocol and the service (server) port.</summary>
public readonly record struct AggregateKey(FlowAddress LocalIp, byte Protocol, ushort ServicePort);

/// <summary>The key of a session inside its aggregate: the remote address and the client's port.</summary>
public readonly record struct SessionKey(FlowAddress RemoteIp, ushort ClientPort);

/// <summary>Sampled and logged counts, sent (tx) and received (rx) from the local end's point of view.</summary>
public struct SessionCounts
{
    public long SampledTxBytes, SampledTxPackets, SampledRxBytes, SampledRxPackets;
    public long LoggedTxBytes, LoggedTxPackets, LoggedRxBytes, LoggedRxPackets;

    public void Add(in SessionCounts c)
    {
        SampledTxBytes += c.SampledTxBytes; SampledTxPackets += c.SampledTxPackets;
        SampledRxBytes += c.SampledRxBytes; SampledRxPackets += c.SampledRxPackets;
        LoggedTxBytes += c.LoggedTxBytes; LoggedTxPackets += c.LoggedTxPackets;
        LoggedRxBytes += c.LoggedRxBytes; LoggedRxPackets += c.LoggedRxPackets;
    }
}

/// <summary>One session inside an aggregate (seed 001's Sessioninfo).</summary>
public sealed class SessionInfo
{
    public SessionCounts Counts;
    public Guid ForwardFlowUuid, ReverseFlowUuid;
    /// <summary>TCP flags sent by the local end and by the remote end.</summary>
    public ushort LocalTcpFlags, ReverseTcpFlags;
    public long SetupTime, TeardownTime;
    /// <summary><see cref="FlowAction"/> of the forward and the reverse flow.</summary>
    public byte Action, ReverseAction;
    public uint SgRule, ReverseSgRule;
    /// <summary>Sessions folded into this entry (a client port reused within one interval).</summary>
    public int Sessions;
    public bool Sampled, Logged;
}

/// <summary>A session aggregate (seed 001's SessionAggInfo): its counts always equal the sum of its sessions'.</summary>
public sealed class SessionAggregate
{
    public SessionCounts Counts;
    public Dictionary<SessionKey, SessionInfo> Sessions { get; } = [];
}

/// <summary>A SessionEndpoint: an identity and its aggregates keyed by local address, protocol and service port.</summary>
public sealed class SessionEndpoint(EndpointIdentity identity)
{
    public EndpointIdentity Identity { get; } = identity;
    public Dictionary<AggregateKey, SessionAggregate> Aggregates { get; } = [];
}

/// <summary>Per remote group (tags, prefix, network): sessions (hits) and bytes and packets each way (seed 001's SecurityPolicySessionStats).</summary>
public sealed class PolicySessionStats
{
    public long Hits, TxBytes, RxBytes, TxPackets, RxPackets;
}

/// <summary>The remote group a <see cref="PolicySessionStats"/> counts.</summary>
public readonly record struct RemoteGroup(uint App, uint Tier, uint Site, uint Deployment, Prefix Prefix, uint Vn);

/// <summary>Per port and security rule: client and server sessions by remote group (seed 001's EndpointSecurityStats).</summary>
public sealed class EndpointSecurityStats(uint account, uint vmi, uint vn, uint app, uint tier, uint site, uint deployment)
{
    public uint Account { get; } = account;
    public uint Vmi { get; } = vmi;
    public uint Vn { get; } = vn;
    public uint App { get; } = app;
    public uint Tier { get; } = tier;
    public uint Site { get; } = site;
    public uint Deployment { get; } = deployment;

    /// <summary>By security rule: (client sessions, server sessions) by remote group.</summary>
    public Dictionary<uint, (Dictionary<RemoteGroup, PolicySessionStats> Client, Dictionary<RemoteGroup, PolicySessionStats> Server)> Rules { get; } = [];
}

/// <summary>Tags of a remote address, when something (the inventory) knows them; null otherwise.</summary>
public delegate (uint App, uint Tier, uint Site, uint Deployment)? RemoteTagLookup(uint account, uint vn, FlowAddress address);

/// <summary>
/// Folds sessions into SessionEndpoints and EndpointSecurityStats, as the agent sends them every interval.
/// A session goes in as sampled (its counts multiplied by the sampler's scale), logged (as they are), or
/// both; the sampled and the logged counts are kept apart. Client ports are aggregated away: sessions of
/// one local address, protocol and service port are one aggregate, whose counts are the exact sum of its
/// sessions'.
/// </summary>
public sealed class EndpointAggregator(RemoteTagLookup? remoteTags = null)
{
    private readonly Dictionary<EndpointIdentity, SessionEndpoint> _endpoints = [];
    private readonly Dictionary<(uint Vmi, uint Account, FlowAddress Vrouter), EndpointSecurityStats> _security = [];

    public IReadOnlyCollection<SessionEndpoint> Endpoints => _endpoints.Values;
    public IReadOnlyCollection<EndpointSecurityStats> SecurityStats => _security.Values;

    public int AggregateCount
    {
        get
        {
            var n = 0;
            foreach (var e in _endpoints.Values) n += e.Aggregates.Count;
            return n;
        }
    }

    /// <summary>Adds a session; <paramref name="scale"/> multiplies its sampled counts (1 when not sampled down).</summary>
    public void Add(Session s, bool sampled, double scale, bool logged)
    {
        if (!sampled && !logged) return;
        s.EnsureFlowIds();
        var tags = remoteTags?.Invoke(s.Account, s.RemoteVn, s.RemoteIp);
        var (ra, rt, rs, rd) = tags ?? (0u, 0u, 0u, 0u);
        // The remote end is named by its tags, else its network, else the prefix around its address.
        var prefix = tags is null && s.RemoteVn == 0 ? Prefix.Around(s.RemoteIp) : Prefix.None;
        var rule = s.Forward.Seen || s.Forward.SgRule != 0 ? s.Forward.SgRule : s.Reverse.SgRule;
        var identity = new EndpointIdentity(s.Account, s.Vmi, s.LocalVn, s.App, s.Tier, s.Site, s.Deployment,
            ra, rt, rs, rd, s.RemoteVn, prefix, rule, s.LocalIsClient, false, s.Exporter);
        if (!_endpoints.TryGetValue(identity, out var endpoint))
        {
            endpoint = new SessionEndpoint(identity);
            _endpoints.Add(identity, endpoint);
        }
        var aggregateKey = new AggregateKey(s.LocalIp, s.Protocol, s.ServerPort);
        if (!endpoint.Aggregates.TryGetValue(aggregateKey, out var aggregate))
        {
            aggregate = new SessionAggregate();
            endpoint.Aggregates.Add(aggregateKey, aggregate);
        }
        var sessionKey = new SessionKey(s.RemoteIp, s.ClientPort);
        if (!aggregate.Sessions.TryGetValue(sessionKey, out var info))
        {
            info = new SessionInfo
            {
                ForwardFlowUuid = s.Forward.FlowId, ReverseFlowUuid = s.Reverse.FlowId, SetupTime = s.Setup,
            };
            aggregate.Sessions.Add(sessionKey, info);
        }
        info.Sessions++;
        info.Sampled |= sampled;
        info.Logged |= logged;
        info.LocalTcpFlags |= s.Tx.TcpFlags;
        info.ReverseTcpFlags |= s.Rx.TcpFlags;
        info.TeardownTime = Math.Max(info.TeardownTime, s.Teardown);
        (info.Action, info.ReverseAction, info.SgRule, info.ReverseSgRule) = (s.Forward.Action, s.Reverse.Action, s.Forward.SgRule, s.Reverse.SgRule);
        var c = default(SessionCounts);
        if (sampled)
        {
            c.SampledTxBytes = Scale(s.Tx.Bytes, scale); c.SampledTxPackets = Scale(s.Tx.Packets, scale);
            c.SampledRxBytes = Scale(s.Rx.Bytes, scale); c.SampledRxPackets = Scale(s.Rx.Packets, scale);
        }
        if (logged)
        {
            c.LoggedTxBytes = (long)s.Tx.Bytes; c.LoggedTxPackets = (long)s.Tx.Packets;
            c.LoggedRxBytes = (long)s.Rx.Bytes; c.LoggedRxPackets = (long)s.Rx.Packets;
        }
        info.Counts.Add(c);
        aggregate.Counts.Add(c);

        if (sampled)
        {
            var key = (s.Vmi, s.Account, s.Exporter);
            if (!_security.TryGetValue(key, out var stats))
            {
                stats = new EndpointSecurityStats(s.Account, s.Vmi, s.LocalVn, s.App, s.Tier, s.Site, s.Deployment);
                _security.Add(key, stats);
            }
            if (!stats.Rules.TryGetValue(rule, out var lists))
            {
                lists = ([], []);
                stats.Rules.Add(rule, lists);
            }
            var group = new RemoteGroup(ra, rt, rs, rd, prefix, s.RemoteVn);
            var side = s.LocalIsClient ? lists.Client : lists.Server;
            if (!side.TryGetValue(group, out var p))
            {
                p = new PolicySessionStats();
                side.Add(group, p);
            }
            p.Hits++;
            p.TxBytes += c.SampledTxBytes; p.TxPackets += c.SampledTxPackets;
            p.RxBytes += c.SampledRxBytes; p.RxPackets += c.SampledRxPackets;
        }
    }

    private static long Scale(ulong value, double scale) => scale == 1 ? (long)value : (long)Math.Round(value * scale);
}
