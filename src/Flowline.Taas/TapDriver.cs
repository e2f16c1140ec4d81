using System.Text.Json.Nodes;
using Flowline.Wire.Ovsdb;
using static Flowline.Wire.Ovsdb.OvsdbValue;

namespace Flowline.Taas;

/// <summary>
/// Makes an Open vSwitch carry the taps of a <see cref="TapState"/>, through OVSDB (<see cref="OvsdbClient"/>).
/// It reconciles at start, whenever the taps change, whenever the switch's mirrors, ports or bridges
/// change (a <c>monitor</c>), and every <see cref="Period"/>: it makes the mirrors (and tunnel ports) the
/// taps need, re-makes what a restart or a hand lost, and removes what no tap needs any more. It touches
/// only rows it made (<c>external_ids:flowline-tap</c>). A tap is ACTIVE once the switch's database holds
/// its mirror as planned; ERROR, with the reason, when it cannot be carried. The connection is made again
/// with a growing pause (up to 10 s) when the database goes away.
/// </summary>
public sealed class TapDriver : IAsyncDisposable
{
    public const string Tag = "flowline-tap";
    private readonly TapState _state;
    private readonly string? _endpoint;
    private readonly Func<string, TapPort?> _ports;
    private readonly Microsoft.Extensions.Logging.ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private Task? _loop;
    private long _passes, _changes, _failures;
    private bool _purgeWarned;

    public TapDriver(TapState state, string? endpoint, Func<string, TapPort?> ports, Microsoft.Extensions.Logging.ILogger log)
    {
        (_state, _endpoint, _ports, _log) = (state, endpoint, ports, log);
        _state.Changed += Wake;
    }

    public TimeSpan Period { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Reconcile passes, changes made to the switch, and passes that failed.</summary>
    public (long Passes, long Changes, long Failures) Counters => (Interlocked.Read(ref _passes), Interlocked.Read(ref _changes), Interlocked.Read(ref _failures));

    public void Start() => _loop ??= Task.Run(Loop);

    /// <summary>Asks for a reconcile pass soon.</summary>
    public void Wake()
    {
        if (_wake.CurrentCount < 2) _wake.Release();
    }

    private async Task Loop()
    {
        var pause = TimeSpan.FromSeconds(1);
        while (!_stop.IsCancellationRequested)
        {
            if (_endpoint is null)
            {
                Unreachable("no switch is configured (taas_ovsdb)");
                if (!await Sleep(Period)) return;
                continue;
            }
            try
            {
                await using var client = await OvsdbClient.ConnectAsync(_endpoint, _stop.Token);
                client.Updated += _ => Wake();
                await client.MonitorAsync("flowline-taas", new Dictionary<string, string[]>
                {
                    ["Bridge"] = ["name", "ports", "mirrors"],
                    ["Port"] = ["name", "interfaces"],
                    ["Interface"] = ["name", "type", "options"],
                    ["Mirror"] = ["name", "select_src_port", "select_dst_port", "select_vlan", "output_port", "external_ids"],
                }, _stop.Token);
                pause = TimeSpan.FromSeconds(1);
                while (!_stop.IsCancellationRequested && !client.Closed.IsCompleted)
                {
                    await Reconcile(client, _stop.Token);
                    // Until something changes (debounced: a burst of updates makes one pass), or the period ends.
                    var wait = Task.WhenAny(_wake.WaitAsync(Period, _stop.Token), client.Closed);
                    await wait;
                    await Task.Delay(100, _stop.Token);
                    while (_wake.CurrentCount > 0) await _wake.WaitAsync(_stop.Token);
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OvsdbException or FormatException or TimeoutException)
            {
                Interlocked.Increment(ref _failures);
                TaasLog.SwitchUnreachable(_log, _endpoint ?? "", e.Message, (int)pause.TotalSeconds);
                Unreachable($"the switch at {_endpoint} cannot be reached: {e.Message}");
                if (!await Sleep(pause)) return;
                pause = TimeSpan.FromSeconds(Math.Min(10, pause.TotalSeconds * 2));
            }
        }
    }

    private async Task<bool> Sleep(TimeSpan time)
    {
        try
        {
            await _wake.WaitAsync(time, _stop.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Taps waiting to be made become ERROR while no switch answers (those made already keep their status: the switch keeps its mirrors).</summary>
    private void Unreachable(string reason)
    {
        foreach (var kind in new[] { TapKind.Service, TapKind.Flow, TapKind.Mirror })
        {
            foreach (var r in _state.List(kind).Where(r => r.Status != TapState.Active)) _state.SetStatus(r.Id, TapState.Error, reason);
        }
    }

    /// <summary>One pass: read the switch, plan, change what differs in one transaction per bridge, read again and set statuses.</summary>
    internal async Task Reconcile(OvsdbClient client, CancellationToken cancel)
    {
        Interlocked.Increment(ref _passes);
        var resources = new[] { TapKind.Service, TapKind.Flow, TapKind.Mirror }.SelectMany(_state.List).ToList();
        var plan = TapPlan.Make(resources, _ports);
        var sw = await Switch.Read(client, cancel);
        var errors = new Dictionary<string, string>(plan.Errors, StringComparer.Ordinal);
        var wanted = new Dictionary<string, (DesiredMirror Mirror, Switch.Bridge Bridge)>(StringComparer.Ordinal);
        foreach (var m in plan.Mirrors)
        {
            var (bridge, reason) = sw.BridgeFor(m);
            if (bridge is null)
            {
                foreach (var owner in m.Owners) errors.TryAdd(owner, reason!);
                continue;
            }
            wanted[m.Key] = (m, bridge);
        }
        // Per bridge: remove ours that are not wanted or differ, then add what is missing. Removals go in a
        // transaction of their own: a tunnel port made again takes the name of the one it replaces.
        var changed = false;
        foreach (var bridge in sw.Bridges.Values)
        {
            JsonObject Guard() => Wait("Bridge", Where("_uuid", "==", Uuid(bridge.Uuid)), ["name"], [new JsonObject { ["name"] = bridge.Name }]);
            var removeMirrors = new List<string>();
            var keep = new HashSet<string>(StringComparer.Ordinal);
            foreach (var mirrorUuid in bridge.Mirrors)
            {
                if (!sw.Mirrors.TryGetValue(mirrorUuid, out var have) || have.Key is null) continue; // not ours
                if (wanted.TryGetValue(have.Key, out var w) && w.Bridge == bridge && sw.Carries(have, w.Mirror)) keep.Add(have.Key);
                else removeMirrors.Add(mirrorUuid);
            }
            // Tunnel ports: kept while a wanted mirror of this bridge can use them as they are.
            var tunnels = new Dictionary<string, string>(StringComparer.Ordinal);
            var removePorts = new List<string>();
            foreach (var portUuid in bridge.Ports)
            {
                if (sw.Ports[portUuid] is not { Key: { } key } port) continue; // not ours
                if (wanted.TryGetValue(key, out var w) && w.Bridge == bridge && sw.IsTunnelFor(port, w.Mirror)) tunnels[key] = portUuid;
                else removePorts.Add(portUuid);
            }
            if (removeMirrors.Count > 0 || removePorts.Count > 0)
            {
                var removal = new List<JsonObject> { Guard() };
                if (removeMirrors.Count > 0) removal.Add(Mutate("Bridge", Where("_uuid", "==", Uuid(bridge.Uuid)), "mirrors", "delete", UuidSet(removeMirrors)));
                if (removePorts.Count > 0) removal.Add(Mutate("Bridge", Where("_uuid", "==", Uuid(bridge.Uuid)), "ports", "delete", UuidSet(removePorts)));
                removal.Add(Comment($"flowline taas: {removeMirrors.Count} mirrors and {removePorts.Count} tunnel ports removed from {bridge.Name}"));
                await client.TransactAsync(removal, cancel);
            }
            var ops = new List<JsonObject> { Guard() };
            var named = 0;
            foreach (var (key, (m, b)) in wanted)
            {
                if (b != bridge || keep.Contains(key)) continue;
                JsonNode output;
                if (m.Tunnel is not { } tunnel) output = Uuid(sw.PortUuid(m.Output!)!);
                else if (tunnels.TryGetValue(key, out var existing)) output = Uuid(existing);
                else
                {
                    var iface = "i" + named;
                    var port = "p" + named;
                    ops.Add(Insert("Interface", new JsonObject { ["name"] = m.TunnelPort, ["type"] = tunnel.Type, ["options"] = Map(tunnel.Options(sw.TunnelIndex(m))) }, iface));
                    ops.Add(Insert("Port", new JsonObject
                    {
                        ["name"] = m.TunnelPort, ["interfaces"] = NamedUuid(iface),
                        ["external_ids"] = Map([new(Tag, key)]),
                    }, port));
                    ops.Add(Mutate("Bridge", Where("_uuid", "==", Uuid(bridge.Uuid)), "ports", "insert", Set([NamedUuid(port)])));
                    output = NamedUuid(port);
                }
                var mirror = "m" + named++;
                var row = new JsonObject
                {
                    ["name"] = m.Name,
                    ["select_src_port"] = UuidSet(m.FromPorts.Select(p => sw.PortUuid(p)!)),
                    ["select_dst_port"] = UuidSet(m.ToPorts.Select(p => sw.PortUuid(p)!)),
                    ["select_vlan"] = Set(m.Vlans.Select(v => (JsonNode?)v)),
                    ["output_port"] = output,
                    ["external_ids"] = Map([new(Tag, key)]),
                };
                ops.Add(Insert("Mirror", row, mirror));
                ops.Add(Mutate("Bridge", Where("_uuid", "==", Uuid(bridge.Uuid)), "mirrors", "insert", Set([NamedUuid(mirror)])));
            }
            if (named > 0)
            {
                ops.Add(Comment($"flowline taas: {named} mirrors made on {bridge.Name}"));
                await client.TransactAsync(ops, cancel);
            }
            if (named == 0 && removeMirrors.Count == 0 && removePorts.Count == 0) continue;
            Interlocked.Increment(ref _changes);
            changed = true;
            TaasLog.Programmed(_log, bridge.Name, named, removeMirrors.Count, removePorts.Count);
        }
        if (changed)
        {
            // Packets of flows the datapath cached before the change would keep the old mirroring until they idle out.
            var (purged, problem) = await VswitchdControl.PurgeAsync(_endpoint, cancel);
            if (!purged && !_purgeWarned)
            {
                _purgeWarned = true;
                TaasLog.PurgeFailed(_log, problem ?? "");
            }
            sw = await Switch.Read(client, cancel);
        }
        // Statuses: ACTIVE when every mirror a resource owns is in the switch as planned.
        var active = new HashSet<string>(StringComparer.Ordinal);
        var missing = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, (m, bridge)) in wanted)
        {
            // The bridge as read again (the plan's snapshot predates the changes).
            var now = sw.Bridges.GetValueOrDefault(bridge.Uuid);
            var carried = now is not null && sw.Mirrors.Values.Any(h => h.Key == key && now.Mirrors.Contains(h.Uuid) && sw.Carries(h, m));
            foreach (var owner in m.Owners) (carried ? active : missing).Add(owner);
        }
        foreach (var r in resources)
        {
            if (errors.TryGetValue(r.Id, out var reason)) _state.SetStatus(r.Id, TapState.Error, reason);
            else if (missing.Contains(r.Id)) _state.SetStatus(r.Id, TapState.Error, "the switch did not keep the mirror");
            else if (active.Contains(r.Id)) _state.SetStatus(r.Id, TapState.Active, null);
            else if (r.Kind == TapKind.Service && plan.Needs.TryGetValue(r.Id, out var needs))
            {
                // A tap service without tap flows: ready when its port is on the switch.
                if (needs.All(n => sw.PortUuid(n) is not null)) _state.SetStatus(r.Id, TapState.Active, null);
                else _state.SetStatus(r.Id, TapState.Error, $"the tap service port's interface {needs[0]} is on no bridge of the switch");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _state.Changed -= Wake;
        _stop.Cancel();
        if (_loop is not null)
        {
            try
            {
                await _loop;
            }
            catch (OperationCanceledException)
            {
            }
        }
        _stop.Dispose();
    }
}
