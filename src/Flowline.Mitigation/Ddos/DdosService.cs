using System.Text.Json.Nodes;
using Flowline.Enrichment;
using Flowline.Mitigation.Bgp;
using Flowline.Records;
using Flowline.Wire.Bgp;

namespace Flowline.Mitigation.Ddos;

/// <summary>An attack on a protected address: its class, rates, signature and mitigation.</summary>
public sealed class Attack
{
    public required string Id { get; init; }
    public required AttackClass Class { get; init; }
    public required FlowAddress Address { get; init; }
    public required string Group { get; init; }
    public string? Account { get; init; }
    public required DateTimeOffset Started { get; init; }
    public DateTimeOffset? Ended { get; set; }
    public double Pps { get; set; }
    public double Bps { get; set; }
    public double PeakPps { get; set; }
    public double PeakBps { get; set; }
    public long LastAbove { get; set; }
    /// <summary>What dominates the attack: at its start, then as <see cref="DdosService.Follow"/> finds it changed.</summary>
    public required FlowSpecRule Signature { get; set; }
    /// <summary>A different signature seen at the last check, and when the attack was last checked (µs).</summary>
    internal string? Proposed;
    internal long Followed;
    /// <summary>For source events: the named sources (the sender to closed ports, the block-listed prefixes).</summary>
    public string? Sources { get; init; }
    public Mitigation? Mitigation { get; set; }
}

/// <summary>A rule: announced for an attack or blocked by hand; dry-run, pending approval, announced, withdrawn, covered or failed.</summary>
public sealed class Mitigation
{
    public required string Id { get; init; }
    public string? AttackId { get; init; }
    public required FlowSpecRoute Route { get; set; }
    public required string Action { get; init; }
    public string? Account { get; init; }
    public required DateTimeOffset Created { get; init; }
    public DateTimeOffset Changed { get; set; }
    public required string Status { get; set; }
    public string? Reason { get; set; }
    public string? By { get; init; }
}

/// <summary>
/// DDoS protection: the protected addresses (inventory and configured groups), the detector's attacks,
/// the rules the BGP speaker announces for them per the mode (dry-run, manual, automatic), rules blocked
/// by hand, withdrawal after the hold time, the cap on active rules, and the events that go to the same
/// sinks as thresholds. Manual blocks are kept in <c>DATA_DIR/ddos.json</c> (through AtomicFile) and
/// announced again after a restart; attacks are live state.
/// </summary>
public sealed partial class DdosService : IAsyncDisposable
{
    public const string FileName = "ddos.json";
    private readonly Lock _lock = new();
    private readonly Func<Inventory> _inventory;
    private readonly Action<JsonObject> _raise;
    private readonly Microsoft.Extensions.Logging.ILogger _log;
    private readonly string? _path;
    private readonly List<Attack> _attacks = [];
    private readonly List<Mitigation> _mitigations = [];
    private Inventory? _builtFrom;
    private ProtectedSet _protected = ProtectedSet.Empty;
    private long _nextId;
    private readonly long[] _started = new long[AttackClasses.Count];
    private long _announced, _withdrawn, _failed;

    /// <param name="clock">Now in µs since the epoch.</param>
    public DdosService(DdosOptions options, Func<Inventory> inventory, string? dataDir, Func<long> clock, Action<JsonObject>? raise = null, Microsoft.Extensions.Logging.ILoggerFactory? logs = null)
    {
        Options = options;
        _inventory = inventory;
        _raise = raise ?? (_ => { });
        logs ??= Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
        _log = logs.CreateLogger("ddos");
        _path = dataDir is null ? null : Path.Combine(dataDir, FileName);
        AmplificationPorts = [.. options.AmplificationPorts];
        Speaker = new BgpSpeaker(options.Local, options.Neighbors, logs.CreateLogger("bgp"));
        Detector = new DdosDetector(this, clock);
        Refresh();
        Load();
    }

    /// <summary>The analysis the real-time thread runs on every row (<see cref="Realtime.RealtimeEngine.Observe"/>).</summary>
    public DdosDetector Detector { get; }

    public DdosOptions Options { get; }
    public BgpSpeaker Speaker { get; }
    public HashSet<ushort> AmplificationPorts { get; }
    public ProtectedSet Protected => Volatile.Read(ref _protected);
    public ProtectedSet? Blocklist => Volatile.Read(ref _blocklist);

    public void Start() => Speaker.Start();

    /// <summary>Rebuilds the protected set when the inventory changed, and the block list when its file did (called every second).</summary>
    public void Refresh()
    {
        var inventory = _inventory();
        if (!ReferenceEquals(inventory, _builtFrom))
        {
            _builtFrom = inventory;
            var set = new ProtectedSet(Options, inventory);
            Volatile.Write(ref _protected, set);
            MitigationLog.Protecting(_log, set.Addresses, set.Prefixes);
        }
        ReloadBlocklist();
    }

    public AttackThreshold Threshold(AttackClass c, ProtectedTarget? target) =>
        target?.Settings is { } g && g.Thresholds.TryGetValue(c, out var t) ? t : Options.Thresholds[(int)c];

    /// <summary>Ids reserved at a time in ddos.json, so that ids stay unique across restarts (and crashes) at one write per so many.</summary>
    private const long IdsReserved = 1000;
    /// <summary>The highest id ddos.json reserves (under <see cref="_lock"/>).</summary>
    private long _reservedId;

    /// <summary>
    /// The next attack or mitigation id: never given before, even by an earlier run, since events, webhooks and
    /// the audit log name rules by it and a withdrawal by id must not reach another rule.
    /// </summary>
    private string NextId(string prefix)
    {
        lock (_lock)
        {
            var n = ++_nextId;
            if (n > _reservedId)
            {
                _reservedId = n + IdsReserved - 1;
                try
                {
                    Save();
                }
                catch (IOException e)
                {
                    MitigationLog.StateUnsaved(_log, _path ?? "", e.Message);
                }
            }
            return $"{prefix}{n}";
        }
    }

    /// <summary>A class crossed its threshold on an address: the attack begins, and its rule per the mode.</summary>
    internal Attack Start(AttackSighting s, long now)
    {
        var rule = Signature.Of(s, AmplificationPorts);
        var attack = new Attack
        {
            Id = NextId("a"), Class = s.Class, Address = s.Address, Group = s.Target?.Group ?? "default", Account = s.Target?.Account,
            Started = DateTimeOffset.FromUnixTimeMilliseconds(now / 1000), Pps = s.Pps, Bps = s.Bps, PeakPps = s.Pps, PeakBps = s.Bps,
            LastAbove = now, Signature = rule,
            Sources = s.Class.IsSourceEvent() ? SourcesOf(s) : null,
        };
        Interlocked.Increment(ref _started[(int)s.Class]);
        lock (_lock)
        {
            _attacks.Add(attack);
            Trim();
            if (!s.Class.IsSourceEvent()) attack.Mitigation = Mitigate(attack, now);
        }
        MitigationLog.AttackStarted(_log, attack.Class.Name(), attack.Address.ToString(), attack.Group, attack.Account is null ? "" : $", account {attack.Account}",
            (long)Math.Round(attack.Pps), (attack.Bps / 1e6).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture), rule.ToString(), attack.Mitigation is { } m ? $"; rule {m.Status}" : "");
        Raise("attack_start", attack);
        return attack;
    }

    /// <summary>The next rates of an attack; false once it has ended (below threshold for the hold time).</summary>
    internal bool Continue(Attack attack, double pps, double bps, bool over, long now)
    {
        lock (_lock)
        {
            attack.Pps = pps;
            attack.Bps = bps;
            attack.PeakPps = Math.Max(attack.PeakPps, pps);
            attack.PeakBps = Math.Max(attack.PeakBps, bps);
            if (over) attack.LastAbove = now;
            if (over || now - attack.LastAbove < Options.Hold.Ticks / 10) return true;
            attack.Ended = DateTimeOffset.FromUnixTimeMilliseconds(now / 1000);
            if (attack.Mitigation is { Status: "announced" or "pending" or "dry-run" } m)
            {
                Retire(m, "withdrawn", "the attack ended");
                // A wider attack this one covered, still going on (the SYN flood ended, the TCP flood did not), needs its own rule now.
                foreach (var wider in _attacks.Where(a => a.Ended is null && a.Address == attack.Address
                             && a.Mitigation is { Status: "covered" } w && w.Reason?.StartsWith($"by {m.Id} (", StringComparison.Ordinal) == true))
                {
                    Apply(wider.Mitigation!, Options.Mode == DdosMode.Manual ? "pending" : null);
                }
            }
        }
        MitigationLog.AttackEnded(_log, attack.Class.Name(), attack.Address.ToString(), (long)Math.Round(attack.PeakPps), (attack.PeakBps / 1e6).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture));
        Raise("attack_end", attack);
        return false;
    }

    /// <summary>The route of an attack's rule: its signature, or its destination alone for a blackhole.</summary>
    private FlowSpecRoute RouteOf(Attack attack)
    {
        var action = Action(attack.Group);
        return new FlowSpecRoute(action.Communities.Contains(FlowSpecAction.Blackhole)
            ? new FlowSpecRule(attack.Signature.Ipv6, [attack.Signature.Components[0]]) : attack.Signature, action.Actions, action.Communities);
    }

    /// <summary>
    /// An attack going on, seen again (once a second): when what dominates it has changed at two checks in a row
    /// (the flood moved to another port, another source took over, or it spread so that no port dominates), its
    /// rule follows: the new route is announced before the old one is withdrawn, under the same mitigation id.
    /// </summary>
    internal void Follow(Attack attack, AttackSighting s, long now)
    {
        var rule = Signature.Of(s, AmplificationPorts);
        lock (_lock)
        {
            if (attack.Ended is not null) return;
            var text = rule.ToString();
            if (text == attack.Signature.ToString())
            {
                attack.Proposed = null;
                return;
            }
            if (attack.Proposed != text)
            {
                attack.Proposed = text;
                return;
            }
            attack.Proposed = null;
            var was = attack.Signature;
            attack.Signature = rule;
            MitigationLog.AttackChanged(_log, attack.Class.Name(), attack.Address.ToString(), was.ToString(), text);
            if (attack.Mitigation is not { Status: "announced" or "pending" or "dry-run" or "covered" } m) return;
            var route = RouteOf(attack);
            if (route.Key == m.Route.Key) return;
            var old = m.Route;
            (m.Route, m.Changed) = (route, DateTimeOffset.FromUnixTimeMilliseconds(now / 1000));
            if (m.Status != "announced") return;
            Speaker.Announce(route);
            if (!_mitigations.Any(x => x != m && x.Status == "announced" && x.Route.Key == old.Key)) Speaker.Withdraw(old);
            RaiseMitigation("mitigation_changed", m);
        }
    }

    private Mitigation Mitigate(Attack attack, long now)
    {
        var action = Action(attack.Group);
        var route = RouteOf(attack);
        var m = new Mitigation
        {
            Id = NextId("m"), AttackId = attack.Id, Route = route, Action = action.Text, Account = attack.Account,
            Created = DateTimeOffset.FromUnixTimeMilliseconds(now / 1000), Status = "", By = "detector",
        };
        m.Changed = m.Created;
        _mitigations.Add(m);
        // A narrower class already mitigated on the address covers this one (a SYN flood's rule stops the TCP flood it is).
        var narrower = _attacks.FirstOrDefault(a => a.Ended is null && a != attack && a.Address == attack.Address && Covers(a.Class, attack.Class)
            && a.Mitigation is { Status: "announced" or "pending" or "dry-run" });
        if (narrower is not null) (m.Status, m.Reason) = ("covered", $"by {narrower.Mitigation!.Id} ({narrower.Class.Name()})");
        else Apply(m, Options.Mode == DdosMode.Manual ? "pending" : null);
        return m;
    }

    private static bool Covers(AttackClass narrow, AttackClass wide)
    {
        for (var c = narrow.Wider(); c is not null; c = c.Value.Wider())
        {
            if (c == wide) return true;
        }
        return false;
    }

    /// <summary>Announces a rule, or sets why not (dry-run, pending approval, the cap).</summary>
    private void Apply(Mitigation m, string? hold)
    {
        m.Changed = DateTimeOffset.UtcNow;
        if (Options.Mode == DdosMode.DryRun) (m.Status, m.Reason) = ("dry-run", "dry-run mode: nothing is announced");
        else if (hold is not null) (m.Status, m.Reason) = (hold, "waiting for an operator's approval");
        else if (_mitigations.Count(x => x.Status == "announced") >= Options.MaxRules)
        {
            (m.Status, m.Reason) = ("failed", $"{Options.MaxRules} rules are announced already (ddos_max_rules)");
            Interlocked.Increment(ref _failed);
        }
        else if (Speaker.Refuses(m.Route.Family))
        {
            (m.Status, m.Reason) = ("failed", $"no established BGP neighbour negotiated {m.Route.Family}: no router would take the rule");
            Interlocked.Increment(ref _failed);
        }
        else
        {
            Speaker.Announce(m.Route);
            (m.Status, m.Reason) = ("announced", AnnouncedReason(m));
            Interlocked.Increment(ref _announced);
            RaiseMitigation("mitigation_announced", m);
        }
    }

    /// <summary>Why an announced rule reaches no router, if it does not: none configured, or none established yet.</summary>
    private string? AnnouncedReason(Mitigation m) =>
        Options.Neighbors.Count == 0 ? "no BGP neighbours (ddos_neighbors): no router receives it"
        : Speaker.Carrying(m.Route.Family).Count == 0 ? "no BGP neighbour is established yet: the rule goes to each as its session comes up"
        : null;

    private void Retire(Mitigation m, string status, string reason)
    {
        var wasAnnounced = m.Status == "announced";
        (m.Status, m.Reason, m.Changed) = (status, reason, DateTimeOffset.UtcNow);
        if (!wasAnnounced) return;
        // Another announced mitigation may carry the same rule (a block by hand and an attack): it stays.
        if (!_mitigations.Any(x => x != m && x.Status == "announced" && x.Route.Key == m.Route.Key)) Speaker.Withdraw(m.Route);
        Interlocked.Increment(ref _withdrawn);
        RaiseMitigation("mitigation_withdrawn", m);
    }

    public MitigationAction Action(string group) =>
        Options.Groups.TryGetValue(group, out var g) && g.Action is { } a ? a : Options.Action;

    private string SourcesOf(AttackSighting s)
    {
        if (s.Class == AttackClass.IcmpUnreachable) return s.Address.ToString();
        var sources = s.Sources.Where(x => x.Share >= Signature.Notable).Select(x => Prefix.Create(FlowAddress.FromV4((x.Key & 0xFF_FFFF) << 8), 24));
        // The sketch keeps sources by /24: a blocklisted event names the listed prefixes those /24s overlap.
        if (s.Class == AttackClass.Blocklisted && Blocklist is { } listed)
        {
            sources = sources.SelectMany(p => listed.Overlapping(p) is var o && o.Any() ? o : [p]).Distinct();
        }
        return string.Join(",", sources);
    }

    /// <summary>Ended attacks beyond the history go, oldest first, with their finished mitigations.</summary>
    private void Trim()
    {
        var ended = _attacks.Count(a => a.Ended is not null);
        while (ended > Options.History)
        {
            var oldest = _attacks.First(a => a.Ended is not null);
            _attacks.Remove(oldest);
            if (oldest.Mitigation is { } m && m.Status != "announced") _mitigations.Remove(m);
            ended--;
        }
    }

    public async ValueTask DisposeAsync() => await Speaker.DisposeAsync().ConfigureAwait(false);
}
