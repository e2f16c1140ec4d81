using Flowline.Records;

namespace Flowline.Sessions;

/// <summary>
/// SessionEndpoints as rows of the sessions store: one row per session of each aggregate, oriented client
/// to server (src the client, dst the server, bytes forward, rev_bytes reverse), with the endpoint's
/// identity (port, networks, tags, rule, which part) on every row. Aggregates are sums over rows, so they
/// are not stored apart: a query sums the sessions of (local address, protocol, service port).
/// </summary>
public static class SessionRows
{
    /// <summary>Appends the rows of <paramref name="endpoints"/>, reported at <paramref name="time"/> (µs); returns how many.</summary>
    public static int Append(IReadOnlyCollection<SessionEndpoint> endpoints, long time, FlowBatch batch, ISymbolInterner symbols)
    {
        // Remote prefixes are names in the symbol table, interned together (one durable write).
        var prefixes = new List<string>();
        var seen = new HashSet<Prefix>();
        foreach (var e in endpoints)
        {
            if (!e.Identity.RemotePrefix.IsNone && seen.Add(e.Identity.RemotePrefix)) prefixes.Add(e.Identity.RemotePrefix.ToString());
        }
        var ids = prefixes.Count == 0 ? [] : symbols.Intern(prefixes);
        var prefixIds = new Dictionary<Prefix, uint>();
        var k = 0;
        foreach (var p in seen) prefixIds[p] = ids[k++];

        var rows = 0;
        foreach (var e in endpoints)
        {
            var id = e.Identity;
            var prefix = id.RemotePrefix.IsNone ? 0 : prefixIds[id.RemotePrefix];
            foreach (var (aggregateKey, aggregate) in e.Aggregates)
            {
                foreach (var (sessionKey, info) in aggregate.Sessions)
                {
                    var r = Row(id, aggregateKey, sessionKey, info, time);
                    r.RemotePrefix = prefix;
                    batch.Add(r);
                    rows++;
                }
            }
        }
        return rows;
    }

    /// <summary>The row of one session (without its remote prefix id).</summary>
    public static FlowRecord Row(in EndpointIdentity id, AggregateKey a, SessionKey s, SessionInfo info, long time)
    {
        var c = info.Counts;
        var client = id.IsClientSession;
        var r = new FlowRecord
        {
            TimeReceived = time, Start = time, End = info.TeardownTime != 0 ? info.TeardownTime : time,
            Exporter = id.VrouterIp, IpProto = a.Protocol, IpVersion = (byte)(a.LocalIp.IsV4 ? 4 : 6),
            SrcAddr = client ? a.LocalIp : s.RemoteIp, DstAddr = client ? s.RemoteIp : a.LocalIp,
            SrcPort = s.ClientPort, DstPort = a.ServicePort,
            SrcVn = client ? id.Vn : id.RemoteVn, DstVn = client ? id.RemoteVn : id.Vn,
            // Forward is client to server: what the local end sent when it is the client, else what it received.
            Bytes = (ulong)(client ? c.SampledTxBytes : c.SampledRxBytes), Packets = (ulong)(client ? c.SampledTxPackets : c.SampledRxPackets),
            RevBytes = (ulong)(client ? c.SampledRxBytes : c.SampledTxBytes), RevPackets = (ulong)(client ? c.SampledRxPackets : c.SampledTxPackets),
            LoggedBytes = (ulong)(client ? c.LoggedTxBytes : c.LoggedRxBytes), LoggedPackets = (ulong)(client ? c.LoggedTxPackets : c.LoggedRxPackets),
            LoggedRevBytes = (ulong)(client ? c.LoggedRxBytes : c.LoggedTxBytes), LoggedRevPackets = (ulong)(client ? c.LoggedRxPackets : c.LoggedTxPackets),
            TcpFlags = client ? info.LocalTcpFlags : info.ReverseTcpFlags, RevTcpFlags = client ? info.ReverseTcpFlags : info.LocalTcpFlags,
            Action = info.Action, RevAction = info.ReverseAction, SgRule = id.SgRule != 0 ? id.SgRule : info.SgRule, RevSgRule = info.ReverseSgRule,
            Account = id.Account, Vmi = id.Vmi, App = id.App, Tier = id.Tier, Site = id.Site, Deployment = id.Deployment,
            RemoteApp = id.RemoteApp, RemoteTier = id.RemoteTier, RemoteSite = id.RemoteSite, RemoteDeployment = id.RemoteDeployment,
            SetupTime = info.SetupTime, TeardownTime = info.TeardownTime,
            SessionFlags = (byte)((client ? SessionFlags.Client : SessionFlags.Server)
                | (id.IsServiceInstance ? SessionFlags.ServiceInstance : 0)
                | (info.Sampled ? SessionFlags.Sampled : 0) | (info.Logged ? SessionFlags.Logged : 0)
                | (info.TeardownTime != 0 ? SessionFlags.Ended : 0)),
        };
        return r;
    }

    /// <summary>The ids of a stored session's forward and reverse flows (as the sessionizer gave them).</summary>
    public static (Guid Forward, Guid Reverse) FlowIds(in FlowRecord r) =>
        (SessionIds.FlowId(r.Exporter, r.IpProto, r.SrcAddr, r.SrcPort, r.DstAddr, r.DstPort, r.SetupTime, reverse: false),
         SessionIds.FlowId(r.Exporter, r.IpProto, r.SrcAddr, r.SrcPort, r.DstAddr, r.DstPort, r.SetupTime, reverse: true));
}
