using System.Net.Sockets;
using Flowline.Wire.Bgp;

namespace Flowline.Mitigation.Bgp;

/// <summary>
/// One neighbour's BGP-4 session (RFC 4271): connect, OPEN with the multiprotocol capabilities of the
/// FlowSpec families (RFC 4760), KEEPALIVE to reach Established, then keep the router's view equal to
/// the speaker's routes — every route it lacks announced, every route it holds that the speaker no
/// longer has withdrawn — while keepalives go out every third of the hold time and a silent peer is
/// dropped when the hold timer expires. Errors send the NOTIFICATION RFC 4271 section 6 names; the
/// session then starts again after a back-off that doubles from 1 to 30 seconds. On every new session
/// all routes are announced again (the router forgot them when the previous one closed).
/// </summary>
internal sealed class BgpSession(BgpNeighbor neighbor, BgpLocal local, BgpSpeaker speaker, Microsoft.Extensions.Logging.ILogger log)
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10), OpenHoldTime = TimeSpan.FromSeconds(90), MaxBackoff = TimeSpan.FromSeconds(30);
    private readonly Lock _lock = new();
    private BgpState _state;
    private DateTimeOffset? _since, _errorTime;
    private string? _error;
    private BgpFamily[] _families = [];
    private int _advertised;
    private long _connects, _updates, _notifications;
    private ushort _hold;

    public BgpNeighbor Neighbor => neighbor;

    public BgpNeighborStatus Status
    {
        get
        {
            lock (_lock)
            {
                return new BgpNeighborStatus(neighbor.Name, neighbor.As, _state, _since, _families.Select(f => f.ToString()).ToArray(), _advertised,
                    _connects, _updates, _notifications, _error, _errorTime, _hold);
            }
        }
    }

    public async Task RunAsync(CancellationToken stop)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!stop.IsCancellationRequested)
        {
            var established = false;
            try
            {
                established = await SessionAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is IOException or SocketException or FormatException or BgpSessionException or TimeoutException or ObjectDisposedException)
            {
                if (e is BgpSessionException { Notification: true }) Interlocked.Increment(ref _notifications);
                var message = e is IOException { InnerException: SocketException s } ? s.Message : e.Message;
                lock (_lock)
                {
                    _error = message;
                    _errorTime = DateTimeOffset.UtcNow;
                }
                MitigationLog.SessionDown(log, neighbor.Name, message, (int)backoff.TotalSeconds);
            }
            finally
            {
                lock (_lock)
                {
                    _state = BgpState.Idle;
                    _since = null;
                    _advertised = 0;
                    _families = [];
                }
            }
            if (established) backoff = TimeSpan.FromSeconds(1);
            try
            {
                await Task.Delay(backoff, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, backoff.Ticks * 2));
        }
    }

    /// <summary>One session from connect to close; true when it reached Established.</summary>
    private async Task<bool> SessionAsync(CancellationToken stop)
    {
        SetState(BgpState.Connect);
        Interlocked.Increment(ref _connects);
        using var client = new TcpClient(neighbor.Address.AddressFamily) { NoDelay = true };
        using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(stop))
        {
            connectTimeout.CancelAfter(ConnectTimeout);
            try
            {
                await client.ConnectAsync(neighbor.Address, neighbor.Port, connectTimeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!stop.IsCancellationRequested)
            {
                throw new TimeoutException($"no answer to the connection within {ConnectTimeout.TotalSeconds:0} s");
            }
        }
        var stream = client.GetStream();
        var reader = new BgpReader(stream);
        await stream.WriteAsync(BgpMessage.Open(new BgpOpen(local.As, neighbor.HoldTime, local.RouterId, neighbor.Families)), stop).ConfigureAwait(false);
        SetState(BgpState.OpenSent);

        var (type, body) = await reader.ReadAsync(OpenHoldTime, stop).ConfigureAwait(false);
        Expect(type, BgpMessageType.Open, "an OPEN");
        BgpOpen open;
        try
        {
            open = BgpMessage.ReadOpen(body);
        }
        catch (FormatException e)
        {
            await Fail(stream, new BgpNotification(2, 0, []), e.Message).ConfigureAwait(false);
            throw;
        }
        if (open.As != neighbor.As) await Fail(stream, new BgpNotification(2, 2, []), $"the peer's AS is {open.As}, not {neighbor.As}").ConfigureAwait(false);
        if (open.HoldTime is 1 or 2) await Fail(stream, new BgpNotification(2, 6, []), $"the peer offers a hold time of {open.HoldTime} s").ConfigureAwait(false);
        var hold = Math.Min(neighbor.HoldTime, open.HoldTime);
        // A peer without the multiprotocol capability speaks IPv4 unicast only (RFC 4760 8): nothing to announce to it.
        var families = neighbor.Families.Where(open.Families.Contains).ToArray();
        await stream.WriteAsync(BgpMessage.Keepalive(), stop).ConfigureAwait(false);
        SetState(BgpState.OpenConfirm);

        (type, _) = await reader.ReadAsync(hold == 0 ? OpenHoldTime : TimeSpan.FromSeconds(hold), stop).ConfigureAwait(false);
        Expect(type, BgpMessageType.Keepalive, "a KEEPALIVE");
        lock (_lock)
        {
            _state = BgpState.Established;
            _since = DateTimeOffset.UtcNow;
            _families = families;
            _hold = (ushort)hold;
            _error = null;
        }
        MitigationLog.Established(log, neighbor.Name, open.As, open.RouterId.ToString(), hold, families.Length == 0 ? "no FlowSpec family in common" : string.Join(", ", families));
        if (families.Length == 0) MitigationLog.NoFamily(log, neighbor.Name, string.Join(", ", neighbor.Families));
        await EstablishedAsync(stream, reader, families, hold, stop).ConfigureAwait(false);
        return true;
    }

    private async Task EstablishedAsync(NetworkStream stream, BgpReader reader, BgpFamily[] families, int hold, CancellationToken stop)
    {
        var advertised = new Dictionary<string, FlowSpecRoute>();
        var keepalive = hold == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(Math.Max(1, hold / 3.0));
        var holdTime = hold == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(hold);
        var lastSent = DateTime.UtcNow;
        var lastHeard = DateTime.UtcNow;
        Task<(BgpMessageType, byte[])>? read = null;
        while (true)
        {
            var changed = speaker.Changed;
            var sent = await SyncAsync(stream, advertised, families, stop).ConfigureAwait(false);
            if (sent) lastSent = DateTime.UtcNow;
            read ??= reader.ReadAsync(Timeout.InfiniteTimeSpan, stop);
            var now = DateTime.UtcNow;
            var wait = Timeout.InfiniteTimeSpan;
            if (hold != 0)
            {
                var next = Min(lastSent + keepalive, lastHeard + holdTime) - now;
                wait = next < TimeSpan.Zero ? TimeSpan.Zero : next;
            }
            var done = await Task.WhenAny(read, changed, Task.Delay(wait, stop)).ConfigureAwait(false);
            stop.ThrowIfCancellationRequested();
            if (done == read)
            {
                var (type, _) = await read.ConfigureAwait(false);
                read = null;
                lastHeard = DateTime.UtcNow;
                switch (type)
                {
                    case BgpMessageType.Keepalive or BgpMessageType.Update:
                        break;
                    case BgpMessageType.RouteRefresh:
                        // The router asks for everything again (RFC 2918).
                        advertised.Clear();
                        break;
                    default:
                        Expect(type, BgpMessageType.Update, "a KEEPALIVE or an UPDATE");
                        break;
                }
            }
            now = DateTime.UtcNow;
            if (hold != 0 && now - lastHeard >= holdTime)
                await Fail(stream, new BgpNotification(4, 0, []), $"nothing heard for {hold} s (hold timer expired)").ConfigureAwait(false);
            if (hold != 0 && now - lastSent >= keepalive)
            {
                await stream.WriteAsync(BgpMessage.Keepalive(), stop).ConfigureAwait(false);
                lastSent = now;
            }
        }
    }

    /// <summary>Sends what makes the router's view equal to the speaker's routes; true when something was sent.</summary>
    private async Task<bool> SyncAsync(NetworkStream stream, Dictionary<string, FlowSpecRoute> advertised, BgpFamily[] families, CancellationToken stop)
    {
        var desired = speaker.Routes;
        var sent = false;
        foreach (var (key, route) in desired)
        {
            if (!families.Contains(route.Family)) continue;
            if (advertised.TryGetValue(key, out var had) && had.SameAttributes(route)) continue;
            await stream.WriteAsync(BgpMessage.Announce(route.Family, [route.Rule], route.Actions, local.As, external: neighbor.As != local.As, route.Communities), stop).ConfigureAwait(false);
            advertised[key] = route;
            Interlocked.Increment(ref _updates);
            sent = true;
        }
        var gone = advertised.Where(a => !desired.ContainsKey(a.Key)).Select(a => a.Value).ToList();
        foreach (var family in gone.GroupBy(r => r.Family))
        {
            // As many rules to a message as fit (an NLRI is at most 4,095 octets, so one always fits).
            var batch = new List<FlowSpecRule>();
            var size = 0;
            foreach (var route in family)
            {
                var length = route.Rule.Encode().Length;
                if (batch.Count > 0 && BgpMessage.HeaderLength + 4 + 7 + size + length > BgpMessage.MaxLength)
                {
                    await stream.WriteAsync(BgpMessage.Withdraw(family.Key, batch), stop).ConfigureAwait(false);
                    Interlocked.Increment(ref _updates);
                    batch.Clear();
                    size = 0;
                }
                batch.Add(route.Rule);
                size += length;
                advertised.Remove(route.Key);
            }
            await stream.WriteAsync(BgpMessage.Withdraw(family.Key, batch), stop).ConfigureAwait(false);
            Interlocked.Increment(ref _updates);
            sent = true;
        }
        lock (_lock) _advertised = advertised.Count;
        return sent;
    }

    private void Expect(BgpMessageType type, BgpMessageType expected, string what)
    {
        if (type == expected) return;
        throw new BgpSessionException($"{what} was expected, {type} came");
    }

    /// <summary>Sends a NOTIFICATION and ends the session.</summary>
    private async Task Fail(NetworkStream stream, BgpNotification notification, string reason)
    {
        try
        {
            await stream.WriteAsync(BgpMessage.Notification(notification)).ConfigureAwait(false);
        }
        catch (IOException)
        {
        }
        throw new BgpSessionException($"{reason}: NOTIFICATION sent ({notification})", notification: true);
    }

    private void SetState(BgpState state)
    {
        lock (_lock) _state = state;
    }

    private static DateTime Min(DateTime a, DateTime b) => a < b ? a : b;

    /// <summary>Reads whole messages; a NOTIFICATION from the peer ends the session with its reason.</summary>
    private sealed class BgpReader(NetworkStream stream)
    {
        private readonly byte[] _header = new byte[BgpMessage.HeaderLength];

        public async Task<(BgpMessageType Type, byte[] Body)> ReadAsync(TimeSpan timeout, CancellationToken stop)
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(stop);
            if (timeout != Timeout.InfiniteTimeSpan) limit.CancelAfter(timeout);
            try
            {
                await stream.ReadExactlyAsync(_header, limit.Token).ConfigureAwait(false);
                var length = BgpMessage.PeekLength(_header);
                var body = new byte[length - BgpMessage.HeaderLength];
                await stream.ReadExactlyAsync(body, limit.Token).ConfigureAwait(false);
                var type = (BgpMessageType)_header[18];
                if (type == BgpMessageType.Notification)
                {
                    var n = new BgpNotification(body.Length > 0 ? body[0] : (byte)0, body.Length > 1 ? body[1] : (byte)0, body.Length > 2 ? body[2..] : []);
                    throw new BgpSessionException($"the peer sent a NOTIFICATION: {n}{(n.Code == 6 && body.Length > 3 ? $" ({Reason(body[2..])})" : "")}");
                }
                if (type is < BgpMessageType.Open or > BgpMessageType.RouteRefresh) throw new BgpSessionException($"message type {(byte)type}");
                return (type, body);
            }
            catch (OperationCanceledException) when (!stop.IsCancellationRequested)
            {
                throw new TimeoutException($"nothing heard for {timeout.TotalSeconds:0} s");
            }
            catch (EndOfStreamException)
            {
                throw new BgpSessionException("the peer closed the connection");
            }
        }

        /// <summary>RFC 8203 shutdown communication: a length octet and UTF-8 text.</summary>
        private static string Reason(ReadOnlySpan<byte> data)
        {
            var n = Math.Min(data[0], data.Length - 1);
            return System.Text.Encoding.UTF8.GetString(data.Slice(1, n));
        }
    }
}

/// <summary>A BGP session ended on a protocol matter (a NOTIFICATION sent or received, a message out of turn).</summary>
public sealed class BgpSessionException(string message, bool notification = false) : Exception(message)
{
    /// <summary>True when a NOTIFICATION was sent or received.</summary>
    public bool Notification { get; } = notification;
}
