using Microsoft.Extensions.Logging;

namespace Flowline.Cli.Agent;

/// <summary>The compute-node agent's log events (component agent; docs/OPERATIONS.md).</summary>
internal static partial class AgentLog
{
    [LoggerMessage(500, LogLevel.Critical, "cannot start: {Reason}", EventName = "cannot-start")]
    public static partial void CannotStart(ILogger log, string reason);

    [LoggerMessage(501, LogLevel.Information, "{Listener} on udp {Endpoint}", EventName = "listening")]
    public static partial void Listening(ILogger log, string listener, string endpoint);

    [LoggerMessage(502, LogLevel.Information, "{Name}: batches every {Seconds} s to {Collector}, backlog {Backlog}", EventName = "started")]
    public static partial void Started(ILogger log, string name, double seconds, string collector, string backlog);

    [LoggerMessage(503, LogLevel.Information, "the collector is back; {Batches} batches wait", EventName = "collector-back")]
    public static partial void CollectorBack(ILogger log, int batches);

    [LoggerMessage(504, LogLevel.Error, "the collector refused {Batch}: {Answer}; set aside as {Batch}.refused", EventName = "batch-refused")]
    public static partial void BatchRefused(ILogger log, string batch, string answer);

    [LoggerMessage(505, LogLevel.Warning, "cannot deliver to {Collector} ({Problem}); keeping batches in the backlog and retrying", EventName = "collector-away")]
    public static partial void CollectorAway(ILogger log, string collector, string problem);

    [LoggerMessage(508, LogLevel.Error, "{Collector} refuses this agent's key ({Problem}): check --key and --name against `flowline keys list` on the collector; keeping batches in the backlog and retrying", EventName = "key-refused")]
    public static partial void KeyRefused(ILogger log, string collector, string problem);

    [LoggerMessage(506, LogLevel.Warning, "backlog over its {MaxBytes} bytes: dropped {Batch}", EventName = "backlog-dropped")]
    public static partial void BacklogDropped(ILogger log, long maxBytes, string batch);

    [LoggerMessage(507, LogLevel.Information,
        "stopped; {Records} records; shipped {SessionRows} session rows ({SessionBytes} bytes both ways) and {FlowRows} flow rows in {Batches} batches of {BatchBytes} bytes ({BytesPerRow} bytes a row); {Waiting} batches wait in the backlog; {Evicted} sessions forgotten early, {ExportedEarly} exported early, {Dropped} records found no room",
        EventName = "stopped")]
    public static partial void Stopped(ILogger log, long records, long sessionRows, long sessionBytes, long flowRows, long batches, long batchBytes, double bytesPerRow,
        int waiting, long evicted, long exportedEarly, long dropped);
}
