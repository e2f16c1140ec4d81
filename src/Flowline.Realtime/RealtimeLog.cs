using Microsoft.Extensions.Logging;

namespace Flowline.Realtime;

/// <summary>The real-time analytics' log events (component realtime).</summary>
internal static partial class RealtimeLog
{
    [LoggerMessage(200, LogLevel.Warning, "flow definition '{Name}' disabled: {Reason}", EventName = "definition-disabled")]
    public static partial void DefinitionDisabled(ILogger log, string name, string reason);

    [LoggerMessage(201, LogLevel.Warning, "{Path}: {Reason}; kept as .unreadable, starting without flow definitions", EventName = "state-unreadable")]
    public static partial void StateUnreadable(ILogger log, string path, string reason);

    [LoggerMessage(202, LogLevel.Warning, "{Path}: {Section} '{Name}': {Reason}; left out", EventName = "definition-left-out")]
    public static partial void DefinitionLeftOut(ILogger log, string path, string section, string name, string reason);

    [LoggerMessage(203, LogLevel.Information, "{Flows} flow definitions, {Thresholds} thresholds and {GroupSets} group sets from {Path}", EventName = "restored")]
    public static partial void Restored(ILogger log, int flows, int thresholds, int groupSets, string path);
}
