using Microsoft.Extensions.Logging;

namespace Flowline.Server.Logging;

/// <summary>serve's own log events (component serve): the start banner, signals, the stop.</summary>
internal static partial class ServeLog
{
    [LoggerMessage(1, LogLevel.Critical, "cannot start: {Reason}", EventName = "cannot-start")]
    public static partial void CannotStart(ILogger log, string reason);

    [LoggerMessage(2, LogLevel.Information, "flowline {Version} starting (pid {Pid}, log level {LogLevel})", EventName = "starting")]
    public static partial void Starting(ILogger log, string version, int pid, string logLevel);

    [LoggerMessage(3, LogLevel.Information, "storing in {DataDir}{Restored}", EventName = "storing")]
    public static partial void Storing(ILogger log, string dataDir, string restored);

    [LoggerMessage(4, LogLevel.Information, "{Listener} on udp {Endpoint} ({Sockets} sockets, receive buffer {ReceiveBufferKiB} KiB each)", EventName = "listening")]
    public static partial void Listening(ILogger log, string listener, string endpoint, int sockets, int receiveBufferKiB);

    [LoggerMessage(179, LogLevel.Warning, "no flow listeners (sflow, netflow and ipfix are all empty): nothing will be collected, HTTP only", EventName = "no-listeners")]
    public static partial void NoListeners(ILogger log);

    [LoggerMessage(180, LogLevel.Warning, "{Variable} is set but no setting reads it{Meant}", EventName = "unknown-variable")]
    public static partial void UnknownVariable(ILogger log, string variable, string meant);

    [LoggerMessage(5, LogLevel.Information, "sessions every {Seconds} s into {Root}{Destinations}", EventName = "sessions")]
    public static partial void Sessions(ILogger log, double seconds, string root, string destinations);

    [LoggerMessage(6, LogLevel.Information, "ddos {Mode}: protecting {Addresses} addresses and {Prefixes} prefixes; {Announcing}", EventName = "ddos")]
    public static partial void Ddos(ILogger log, string mode, int addresses, int prefixes, string announcing);

    [LoggerMessage(7, LogLevel.Information, "http on {Url}", EventName = "http")]
    public static partial void Http(ILogger log, string url);

    [LoggerMessage(8, LogLevel.Warning, "SIGHUP: no inventory configured (--inventory), nothing to reload", EventName = "sighup-ignored")]
    public static partial void HangupIgnored(ILogger log);

    [LoggerMessage(173, LogLevel.Error, "{Reason}: moved to quarantine; its readable blocks are restored at the next upkeep step, the damaged ones' rows left out", EventName = "segment-quarantined")]
    public static partial void Quarantined(ILogger log, string reason);

    [LoggerMessage(176, LogLevel.Warning, "ClickHouse shard {Shard} did not take a block ({Problem}): its blocks wait in the spool, the other shards take the new ones, and it is tried again every second", EventName = "shard-failing")]
    public static partial void ShardFailing(ILogger log, string shard, string problem);

    [LoggerMessage(177, LogLevel.Information, "ClickHouse shard {Shard} took its spool back: {Blocks} block(s), {Rows} rows", EventName = "shard-recovered")]
    public static partial void ShardRecovered(ILogger log, string shard, int blocks, long rows);

    [LoggerMessage(174, LogLevel.Information, "removed {Files} temporary file(s) that writers which did not finish (a crash, a kill) left in {DataDir}", EventName = "temporaries-removed")]
    public static partial void TemporariesRemoved(ILogger log, int files, string dataDir);

    [LoggerMessage(9, LogLevel.Information, "{Signal}: stopping", EventName = "stopping")]
    public static partial void Stopping(ILogger log, string signal);

    [LoggerMessage(10, LogLevel.Error, "{Records} records could not be stored ({Reason}); see the events before", EventName = "not-stored")]
    public static partial void NotStored(ILogger log, long records, string reason);

    [LoggerMessage(11, LogLevel.Information, "stopped, exit code {Code}", EventName = "exit")]
    public static partial void Exit(ILogger log, int code);
}
