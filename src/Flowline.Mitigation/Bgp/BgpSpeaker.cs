using Flowline.Wire.Bgp;

namespace Flowline.Mitigation.Bgp;

/// <summary>
/// Flowline's BGP speaker: a session to each neighbour (<see cref="BgpSession"/>) and the one set of
/// FlowSpec routes they all announce. Changing the set wakes every session, which sends the difference.
/// </summary>
public sealed class BgpSpeaker : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly List<BgpSession> _sessions;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _running = [];
    private Dictionary<string, FlowSpecRoute> _routes = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public BgpSpeaker(BgpLocal local, IEnumerable<BgpNeighbor> neighbors, Microsoft.Extensions.Logging.ILogger? log = null)
    {
        _sessions = neighbors.Select(n => new BgpSession(n, local, this, log ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)).ToList();
    }

    /// <summary>The routes every session announces (a snapshot: the set is replaced, never changed in place).</summary>
    public IReadOnlyDictionary<string, FlowSpecRoute> Routes => Volatile.Read(ref _routes);

    /// <summary>Completes at the next change of the routes.</summary>
    internal Task Changed => Volatile.Read(ref _changed).Task;

    public IReadOnlyList<BgpNeighborStatus> Neighbors => _sessions.Select(s => s.Status).ToArray();

    /// <summary>Starts the sessions (connecting, and reconnecting until disposed).</summary>
    public void Start()
    {
        lock (_lock)
        {
            if (_running.Count > 0) return;
            foreach (var s in _sessions) _running.Add(Task.Run(() => s.RunAsync(_stop.Token)));
        }
    }

    /// <summary>
    /// Whether no router would take a route of <paramref name="family"/>: neighbours are established and none of
    /// them negotiated it. Before any is established nothing is known, and the route waits for them.
    /// </summary>
    public bool Refuses(BgpFamily family)
    {
        var established = Neighbors.Where(n => n.State == BgpState.Established).ToList();
        return established.Count > 0 && !established.Any(n => n.Families.Contains(family.ToString()));
    }

    /// <summary>The established neighbours that negotiated <paramref name="family"/>: those a route of it is advertised to now.</summary>
    public IReadOnlyList<string> Carrying(BgpFamily family) =>
        [.. Neighbors.Where(n => n.State == BgpState.Established && n.Families.Contains(family.ToString())).Select(n => n.Neighbor)];

    /// <summary>Adds a route, or replaces the one with the same rule.</summary>
    public void Announce(FlowSpecRoute route) => Change(routes => routes[route.Key] = route);

    /// <summary>Takes a route out; false when there was none with that rule.</summary>
    public bool Withdraw(FlowSpecRoute route)
    {
        var removed = false;
        Change(routes => removed = routes.Remove(route.Key));
        return removed;
    }

    private void Change(Action<Dictionary<string, FlowSpecRoute>> change)
    {
        TaskCompletionSource fired;
        lock (_lock)
        {
            var next = new Dictionary<string, FlowSpecRoute>(_routes);
            change(next);
            Volatile.Write(ref _routes, next);
            fired = _changed;
            Volatile.Write(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        }
        fired.TrySetResult();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        Task[] running;
        lock (_lock) running = [.. _running];
        try
        {
            await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        _stop.Dispose();
    }
}
