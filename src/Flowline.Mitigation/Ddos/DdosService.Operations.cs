using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Flowline.Enrichment;
using Flowline.Mitigation.Bgp;
using Flowline.Records;
using Flowline.Wire.Bgp;

namespace Flowline.Mitigation.Ddos;

/// <summary>Why an operation on a mitigation was refused.</summary>
public enum DdosRefusal { None, NotFound, NotAllowed, Conflict, TooMany }

public sealed partial class DdosService
{
    private ProtectedSet? _blocklist;
    private DateTime _blocklistWritten;
    private readonly List<(string Id, JsonObject Request)> _blocks = [];

    /// <summary>Attacks, newest first; <paramref name="account"/> null for all (admin), else that account's only.</summary>
    public IReadOnlyList<JsonObject> Attacks(string? account, bool activeOnly = false)
    {
        lock (_lock)
        {
            return _attacks.Where(a => Visible(a.Account, account) && (!activeOnly || a.Ended is null)).Reverse().Select(ToJson).ToList();
        }
    }

    public IReadOnlyList<JsonObject> Mitigations(string? account, bool activeOnly = false)
    {
        lock (_lock)
        {
            return _mitigations.Where(m => Visible(m.Account, account) && (!activeOnly || m.Status is "announced" or "pending" or "dry-run"))
                .Reverse().Select(ToJson).ToList();
        }
    }

    public JsonObject? Mitigation(string id, string? account)
    {
        lock (_lock) return _mitigations.FirstOrDefault(m => m.Id == id && Visible(m.Account, account)) is { } m ? ToJson(m) : null;
    }

    private static bool Visible(string? owner, string? account) => account is null || owner == account;

    /// <summary>Withdraws a rule (an attack's or one blocked by hand); a tenant only its own.</summary>
    public DdosRefusal Withdraw(string id, string? account, string by)
    {
        lock (_lock)
        {
            var m = _mitigations.FirstOrDefault(x => x.Id == id);
            if (m is null || !Visible(m.Account, account)) return DdosRefusal.NotFound;
            if (m.Status is not ("announced" or "pending" or "dry-run" or "failed")) return DdosRefusal.Conflict;
            Retire(m, "withdrawn", $"withdrawn by {by}");
            if (_blocks.RemoveAll(b => b.Id == id) > 0) Save();
            // Withdrawn blocks by hand are kept for the record as ended attacks are: the last ddos_history of them.
            var ended = _mitigations.Where(x => x.AttackId is null && !InForce(x)).ToList();
            foreach (var old in ended.Take(ended.Count - Options.History)) _mitigations.Remove(old);
        }
        return DdosRefusal.None;
    }

    private static bool InForce(Mitigation m) => m.Status is "announced" or "pending" or "dry-run";

    /// <summary>Blocks by hand one tenant account may have in force: a tenth of ddos_max_rules, so that no tenant holds every rule.</summary>
    public int MaxBlocksPerAccount => Math.Max(1, Options.MaxRules / 10);

    /// <summary>Approves a pending rule (manual mode): it is announced.</summary>
    public DdosRefusal Approve(string id, string? account)
    {
        lock (_lock)
        {
            var m = _mitigations.FirstOrDefault(x => x.Id == id);
            if (m is null || !Visible(m.Account, account)) return DdosRefusal.NotFound;
            if (m.Status != "pending") return DdosRefusal.Conflict;
            Apply(m, null);
        }
        return DdosRefusal.None;
    }

    /// <summary>
    /// Blocks by hand: {"destination": "198.51.100.10/32", "protocol": 17, "source_ports": [53], "destination_ports": [80],
    /// "source": "203.0.113.0/24", "action": "drop"}. A tenant may block only single addresses of its own.
    /// </summary>
    /// <exception cref="FormatException">The request names something that is not a valid rule.</exception>
    public (JsonObject? Mitigation, DdosRefusal Refusal, string? Reason) Block(JsonObject request, string? account, string by, string? id = null)
    {
        var (rule, action) = ParseBlock(request);
        var destination = rule[FlowSpecType.DestinationPrefix]!.Prefix;
        var owner = Protected.Find(destination.Network) is var t and >= 0 ? Protected[t].Account : null;
        if (account is not null)
        {
            if (owner != account) return (null, DdosRefusal.NotAllowed, $"{destination} is not an address of account {account}");
            if (destination.Length != 128) return (null, DdosRefusal.NotAllowed, "a tenant blocks single addresses (/32 or /128)");
        }
        lock (_lock)
        {
            var route = new FlowSpecRoute(rule, action.Actions, action.Communities);
            // The same rule blocked again for the same account is the block already in force.
            if (_mitigations.FirstOrDefault(x => x.AttackId is null && x.Account == (owner ?? account) && x.Route.Key == route.Key && InForce(x)) is { } same)
                return (ToJson(same), DdosRefusal.None, null);
            if (account is not null && _mitigations.Count(x => x.AttackId is null && x.Account == account && InForce(x)) >= MaxBlocksPerAccount)
                return (null, DdosRefusal.TooMany, $"account {account} has {MaxBlocksPerAccount} blocks in force (a tenth of ddos_max_rules): withdraw one first");
            var m = new Mitigation
            {
                Id = id ?? NextId("m"), Route = route, Action = action.Text,
                Account = owner ?? account, Created = DateTimeOffset.UtcNow, Status = "", By = by,
            };
            m.Changed = m.Created;
            _mitigations.Add(m);
            Apply(m, null);
            RaiseMitigation("block", m);
            // A block the router could not take is answered, not kept: it would wait for a withdrawal forever. One
            // restored from ddos.json stays kept and listed as failed (over ddos_max_rules, say): the next start
            // announces it again, and a withdrawal removes it.
            if (m.Status == "failed" && id is null)
            {
                _mitigations.Remove(m);
                return (ToJson(m), DdosRefusal.None, null);
            }
            _blocks.Add((m.Id, request));
            if (id is null) Save();
            return (ToJson(m), DdosRefusal.None, null);
        }
    }

    private (FlowSpecRule Rule, MitigationAction Action) ParseBlock(JsonObject request)
    {
        // A field misspelt or of another shape would otherwise be left out, and the rule would block more than asked.
        foreach (var (name, _) in request)
        {
            if (Array.IndexOf(BlockFields, name) < 0) throw new FormatException($"{name}: not a field of a block (fields: {string.Join(", ", BlockFields)})");
        }
        if (request["destination"]?.GetValue<string>() is not { } text || !Prefix.TryParse(text.Contains('/', StringComparison.Ordinal) ? text : text + (text.Contains(':', StringComparison.Ordinal) ? "/128" : "/32"), out var destination))
            throw new FormatException("destination: expected an address or a prefix such as 198.51.100.10/32");
        var v6 = !destination.Network.IsV4;
        var components = new List<FlowSpecComponent> { new(FlowSpecType.DestinationPrefix, destination) };
        if (request["source"]?.GetValue<string>() is { } src)
        {
            if (!Prefix.TryParse(src.Contains('/', StringComparison.Ordinal) ? src : src + (v6 ? "/128" : "/32"), out var source) || source.Network.IsV4 == v6)
                throw new FormatException("source: expected a prefix of the destination's family");
            components.Add(new FlowSpecComponent(FlowSpecType.SourcePrefix, source));
        }
        if (request["protocol"] is { } p)
            components.Add(FlowSpecComponent.Of(FlowSpecType.Protocol, NumericTerm.Equal(Number(p, 255, "protocol"))));
        foreach (var (key, type) in new[] { ("destination_ports", FlowSpecType.DestinationPort), ("source_ports", FlowSpecType.SourcePort) })
        {
            if (request[key] is null) continue;
            if (request[key] is not JsonArray ports) throw new FormatException($"{key}: expected an array of ports, e.g. [80, 443]");
            if (ports.Count is 0 or > 16) throw new FormatException($"{key}: 1 to 16 ports");
            components.Add(FlowSpecComponent.Of(type, [.. ports.Select(x => NumericTerm.Equal(Number(x, 65535, key)))]));
        }
        components.Sort((a, b) => a.Type.CompareTo(b.Type));
        var action = request["action"]?.GetValue<string>() is { } a ? MitigationAction.Parse(a) : Options.Action;
        return (new FlowSpecRule(v6, components), action);
    }

    /// <summary>The fields a block by hand takes.</summary>
    private static readonly string[] BlockFields = ["destination", "source", "protocol", "destination_ports", "source_ports", "action"];

    private static ulong Number(JsonNode? node, ulong max, string what) =>
        node is not null && node.GetValueKind() == JsonValueKind.Number && node.GetValue<double>() is var d && d >= 0 && d <= max && d == Math.Floor(d)
            ? (ulong)d : throw new FormatException($"{what}: expected a whole number up to {max}");

    /// <summary>Metrics for /metrics: attacks started per class, active attacks and rules, announcements, withdrawals, refusals for the cap.</summary>
    public (long[] Started, int ActiveAttacks, int ActiveRules, long Announced, long Withdrawn, long Failed) Counts
    {
        get
        {
            lock (_lock)
            {
                return ([.. _started], _attacks.Count(a => a.Ended is null), _mitigations.Count(m => m.Status == "announced"),
                    Interlocked.Read(ref _announced), Interlocked.Read(ref _withdrawn), Interlocked.Read(ref _failed));
            }
        }
    }

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    private JsonObject ToJson(Attack a) => new()
    {
        ["id"] = a.Id,
        ["class"] = a.Class.Name(),
        ["address"] = a.Address.ToString(),
        ["group"] = a.Group,
        ["account"] = a.Account,
        ["started"] = Time(a.Started),
        ["ended"] = a.Ended is { } e ? Time(e) : null,
        ["pps"] = Math.Round(a.Pps),
        ["bps"] = Math.Round(a.Bps),
        ["peak_pps"] = Math.Round(a.PeakPps),
        ["peak_bps"] = Math.Round(a.PeakBps),
        ["threshold"] = Threshold(a.Class, Protected.Find(a.Address) is var t and >= 0 ? Protected[t] : null).ToString(),
        ["signature"] = a.Signature.ToString(),
        ["sources"] = a.Sources,
        ["mitigation"] = a.Mitigation?.Id,
    };

    /// <summary>A rule as the API and events show it; an announced one with the neighbours it is advertised to now.</summary>
    private JsonObject ToJson(Mitigation m) => new()
    {
        ["id"] = m.Id,
        ["attack"] = m.AttackId,
        ["account"] = m.Account,
        ["status"] = m.Status,
        ["reason"] = m.Status == "announced" ? AnnouncedReason(m) : m.Reason,
        ["advertised_to"] = m.Status == "announced" ? new JsonArray([.. Speaker.Carrying(m.Route.Family).Select(n => (JsonNode)n)]) : null,
        ["rule"] = m.Route.ToString(),
        ["nlri"] = m.Route.Key,
        ["action"] = m.Action,
        ["by"] = m.By,
        ["created"] = Time(m.Created),
        ["changed"] = Time(m.Changed),
    };

    private void Raise(string name, Attack a) => Raise(name, ToJson(a));

    private void RaiseMitigation(string name, Mitigation m)
    {
        MitigationLog.Mitigation(_log, name, m.Id, m.Route.ToString(), m.Reason is null ? "" : $" ({m.Reason})");
        Raise(name, ToJson(m));
    }

    /// <summary>An event to the threshold sinks: the attack's or rule's JSON with its name, the app and the time.</summary>
    private void Raise(string name, JsonObject e)
    {
        e["event"] = name;
        e["app"] = "flowline-ddos";
        e["timestamp"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        _raise(e);
    }

    // ---- Block list and state file ----------------------------------------------------------------

    /// <summary>Why the block list was last refused (null once it loads): at start, serve refuses to run without the list it was given.</summary>
    public string? BlocklistProblem { get; private set; }

    private void ReloadBlocklist()
    {
        if (Options.Blocklist is not { } path) return;
        DateTime written;
        try
        {
            written = File.GetLastWriteTimeUtc(path);
        }
        catch (IOException)
        {
            return;
        }
        if (written == _blocklistWritten) return;
        _blocklistWritten = written;
        try
        {
            var options = new DdosOptions();
            var group = options.Group("blocklist");
            var n = 0;
            foreach (var raw in File.ReadLines(path))
            {
                n++;
                var line = raw.Split('#')[0].Trim();
                if (line.Length == 0) continue;
                if (!Prefix.TryParse(line.Contains('/', StringComparison.Ordinal) ? line : line + (line.Contains(':', StringComparison.Ordinal) ? "/128" : "/32"), out var p))
                    throw new FormatException($"line {n}: '{line}' is not a prefix");
                group.Prefixes.Add(p);
                if (group.Prefixes.Count > 1_000_000) throw new FormatException("more than 1,000,000 prefixes");
            }
            Volatile.Write(ref _blocklist, group.Prefixes.Count == 0 ? null : new ProtectedSet(options, Inventory.Empty));
            MitigationLog.BlocklistLoaded(_log, path, group.Prefixes.Count);
            BlocklistProblem = null;
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            BlocklistProblem = e.Message;
            MitigationLog.BlocklistRefused(_log, path, e.Message);
        }
    }

    private void Save()
    {
        if (_path is null) return;
        var doc = new JsonObject
        {
            ["blocks"] = new JsonArray([.. _blocks.Select(b => new JsonObject { ["id"] = b.Id, ["request"] = b.Request.DeepClone() })]),
            ["reserved_id"] = _reservedId,
        };
        AtomicFile.WriteText(_path, doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private void Load()
    {
        if (_path is null || !File.Exists(_path)) return;
        try
        {
            var doc = JsonNode.Parse(File.ReadAllText(_path))?.AsObject();
            // Ids go on after every id an earlier run reserved, whether it gave them or not.
            if (doc?["reserved_id"] is JsonValue reserved && reserved.TryGetValue<long>(out var r) && r > 0) _nextId = Math.Max(_nextId, r);
            foreach (var b in doc?["blocks"]?.AsArray() ?? [])
            {
                if (b?["id"]?.GetValue<string>() is not { } id || b["request"] is not JsonObject request) continue;
                if (long.TryParse(id.AsSpan(1), out var n)) _nextId = Math.Max(_nextId, n);
                Block((JsonObject)request.DeepClone(), null, "restored", id);
            }
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or IOException)
        {
            MitigationLog.StateUnreadable(_log, _path ?? "", e.Message);
        }
    }
}
