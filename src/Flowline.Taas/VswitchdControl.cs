namespace Flowline.Taas;

/// <summary>
/// ovs-vswitchd's control socket (what <c>ovs-appctl -t ovs-vswitchd</c> talks to: JSON-RPC, one method per
/// command), found as ovs-appctl finds it: <c>ovs-vswitchd.PID.ctl</c> beside the database socket, PID from
/// <c>ovs-vswitchd.pid</c>. The driver asks it to purge the datapath's cached flows after changing mirrors:
/// flows cached before the change keep the old mirroring until they idle out otherwise (seen here: 10 s).
/// </summary>
public static class VswitchdControl
{
    /// <summary>The control socket for the switch whose database is <paramref name="ovsdbEndpoint"/>, or null when it is not on this machine.</summary>
    public static string? Locate(string? ovsdbEndpoint)
    {
        if (ovsdbEndpoint is null || !ovsdbEndpoint.StartsWith("unix:", StringComparison.Ordinal)) return null;
        var dir = Path.GetDirectoryName(ovsdbEndpoint[5..]);
        if (dir is null) return null;
        try
        {
            var pid = File.ReadAllText(Path.Combine(dir, "ovs-vswitchd.pid")).Trim();
            var ctl = Path.Combine(dir, $"ovs-vswitchd.{pid}.ctl");
            return File.Exists(ctl) ? ctl : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Runs <c>revalidator/purge</c>; false (with the reason) when the switch's control socket cannot be reached.</summary>
    public static async Task<(bool Done, string? Problem)> PurgeAsync(string? ovsdbEndpoint, CancellationToken cancel)
    {
        if (Locate(ovsdbEndpoint) is not { } ctl) return (false, "ovs-vswitchd's control socket is not beside the database socket");
        try
        {
            await using var control = await OvsdbClient.ConnectAsync("unix:" + ctl, cancel);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await control.CallAsync("revalidator/purge", [], timeout.Token);
            return (true, null);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OvsdbException or OperationCanceledException)
        {
            return (false, e.Message);
        }
    }
}
