using Microsoft.Extensions.Logging;

namespace Flowline.Mitigation;

/// <summary>DDoS detection's and the BGP speaker's log events (components ddos and bgp).</summary>
internal static partial class MitigationLog
{
    [LoggerMessage(300, LogLevel.Information, "protecting {Addresses} addresses and {Prefixes} prefixes", EventName = "protected-set")]
    public static partial void Protecting(ILogger log, int addresses, int prefixes);

    [LoggerMessage(301, LogLevel.Warning, "{Class} on {Address} ({Group}{AccountNote}): {Pps} pps, {Mbps} Mbit/s; {Rule}{RuleStatus}", EventName = "attack-start")]
    public static partial void AttackStarted(ILogger log, string @class, string address, string group, string accountNote, long pps, string mbps, string rule, string ruleStatus);

    [LoggerMessage(302, LogLevel.Information, "{Class} on {Address} ended (peak {PeakPps} pps, {PeakMbps} Mbit/s)", EventName = "attack-end")]
    public static partial void AttackEnded(ILogger log, string @class, string address, long peakPps, string peakMbps);

    [LoggerMessage(303, LogLevel.Information, "{Change} {Id}: {Route}{ReasonNote}", EventName = "mitigation")]
    public static partial void Mitigation(ILogger log, string change, string id, string route, string reasonNote);

    [LoggerMessage(304, LogLevel.Information, "block list {Path}: {Prefixes} prefixes", EventName = "blocklist-loaded")]
    public static partial void BlocklistLoaded(ILogger log, string path, int prefixes);

    [LoggerMessage(305, LogLevel.Warning, "block list {Path} refused, the one in force stays: {Reason}", EventName = "blocklist-refused")]
    public static partial void BlocklistRefused(ILogger log, string path, string reason);

    [LoggerMessage(306, LogLevel.Warning, "{Path}: {Reason}; blocks by hand not restored", EventName = "state-unreadable")]
    public static partial void StateUnreadable(ILogger log, string path, string reason);

    [LoggerMessage(308, LogLevel.Warning, "attack {Class} on {Address} changed: {Was} is now {Now}; its rule follows", EventName = "attack-changed")]
    public static partial void AttackChanged(ILogger log, string @class, string address, string was, string now);

    [LoggerMessage(307, LogLevel.Warning, "{Path} not saved: {Reason}; ids given from now on may be given again after a restart", EventName = "state-unsaved")]
    public static partial void StateUnsaved(ILogger log, string path, string reason);

    [LoggerMessage(310, LogLevel.Warning, "{Neighbor}: {Problem}; reconnecting in {Seconds} s", EventName = "session-down")]
    public static partial void SessionDown(ILogger log, string neighbor, string problem, int seconds);

    [LoggerMessage(311, LogLevel.Information, "{Neighbor}: established (AS {PeerAs}, id {RouterId}, hold {Hold} s, {Families})", EventName = "established")]
    public static partial void Established(ILogger log, string neighbor, uint peerAs, string routerId, int hold, string families);

    [LoggerMessage(312, LogLevel.Warning, "{Neighbor}: the router offers none of {Families}: nothing will be announced to it", EventName = "no-family")]
    public static partial void NoFamily(ILogger log, string neighbor, string families);
}
