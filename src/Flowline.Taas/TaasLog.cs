using Microsoft.Extensions.Logging;

namespace Flowline.Taas;

/// <summary>The tap driver's log events (component taas).</summary>
internal static partial class TaasLog
{
    [LoggerMessage(400, LogLevel.Warning, "the switch at {Endpoint}: {Problem}; trying again in {Seconds} s", EventName = "switch-unreachable")]
    public static partial void SwitchUnreachable(ILogger log, string endpoint, string problem, int seconds);

    [LoggerMessage(401, LogLevel.Information, "{Bridge}: {Made} mirrors made, {MirrorsRemoved} removed, {TunnelsRemoved} tunnel ports removed", EventName = "programmed")]
    public static partial void Programmed(ILogger log, string bridge, int made, int mirrorsRemoved, int tunnelsRemoved);

    [LoggerMessage(402, LogLevel.Warning, "cannot purge the datapath's cached flows after a change ({Problem}): flows seen before a change keep the old mirroring until they idle out (about 10 s)", EventName = "purge-failed")]
    public static partial void PurgeFailed(ILogger log, string problem);
}
