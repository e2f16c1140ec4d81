using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Flowline.Enrichment;
using Flowline.Records;
using Flowline.Wire.SFlow;

namespace Flowline.Ingest;

/// <summary>
/// sFlow-RT's forwarding sessions: copies of the received datagrams, byte for byte, to other analyzers.
/// A session has an address, a port (default 6343), optionally the agents whose datagrams it takes (the
/// sFlow agent address in the datagram; the source address for NetFlow and IPFIX), and the protocols it
/// takes (default sflow). A session for an <c>account</c> (per-tenant forwarding) sends only the sFlow samples
/// of that account's interfaces (inventory ports, by agent and ifIndex): each datagram rewritten with just
/// those samples, each copied byte for byte. Sessions are kept in <c>DATA_DIR/forwarding.json</c> and come back after a
/// restart. The decoders call <see cref="Forward"/> for every datagram; with no session that is one read.
/// A deleted session sends nothing once <see cref="Delete"/> has returned.
/// </summary>
public sealed class Forwarding : IDisposable
{
    public const string File = "forwarding.json";
    private static readonly string[] Protocols = ["sflow", "netflow", "ipfix"];

    private readonly string _path;
    private readonly Enricher? _enricher;
    [ThreadStatic] private static byte[]? _rewritten;
    private readonly object _change = new();
    private volatile Session[] _sessions = [];

    public sealed record Spec(string Address, int Port, IReadOnlyList<string> Agents, IReadOnlyList<string> Protocols, string? Account);

    private sealed class Session(string name, Spec spec, Socket socket, FlowAddress[] agents, bool[] protocols)
    {
        public string Name { get; } = name;
        public Spec Spec { get; } = spec;
        public Socket Socket { get; } = socket;
        public FlowAddress[] Agents { get; } = agents;
        public bool[] Protocols { get; } = protocols;
        public bool Closed;
        public long Datagrams, Bytes, Errors, Skipped;
    }

    /// <param name="enricher">The inventory in force, for sessions of an account; null without one.</param>
    public Forwarding(string dataDir, Microsoft.Extensions.Logging.ILogger log, Enricher? enricher = null)
    {
        _path = Path.Combine(dataDir, File);
        _enricher = enricher;
        if (!System.IO.File.Exists(_path)) return;
        try
        {
            foreach (var (name, node) in JsonNode.Parse(System.IO.File.ReadAllText(_path))!.AsObject())
            {
                Put(name, node!.ToJsonString(), save: false);
            }
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or NullReferenceException)
        {
            IngestLog.ForwardingNotRestored(log, _path, e.Message);
        }
    }

    public int Count => _sessions.Length;

    /// <summary>Forwarding sessions at most: each sends a copy of every datagram it takes.</summary>
    public const int MaxSessions = 64;
    /// <summary>Agents one session may list.</summary>
    public const int MaxAgents = 1_000;

    /// <summary>
    /// Creates or replaces a session from its JSON (<c>{"address": "10.0.0.30", "port": 7343, "agents": ["10.0.0.254"]}</c>,
    /// optionally <c>"protocols": ["sflow", "netflow", "ipfix"]</c> or <c>"account": "acc-0001"</c>). Throws <see cref="FormatException"/> with the reason.
    /// </summary>
    public void Put(string name, string json) => Put(name, json, save: true);

    private void Put(string name, string json, bool save)
    {
        if (name.Length is 0 or > 100 || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            throw new FormatException($"'{name}': a session name is 1 to 100 letters, digits, '-', '_' or '.'");
        }
        var spec = Parse(json);
        // A restored session keeps its account even when the inventory no longer has it: it sends nothing until it does.
        if (save && spec.Account is { } account)
        {
            if (_enricher is null) throw new FormatException("account: per-tenant forwarding needs an inventory (serve --inventory FILE)");
            if (!_enricher.Inventory.Accounts.Any(a => a.Id == account)) throw new FormatException($"account: '{account}' is not an account of the inventory in force");
        }
        var address = IPAddress.Parse(spec.Address);
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Connect(new IPEndPoint(address, spec.Port));
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new FormatException($"cannot send to {spec.Address}:{spec.Port}: {e.Message}");
        }
        var agents = spec.Agents.Select(a => FlowAddress.FromIPAddress(IPAddress.Parse(a))).ToArray();
        var protocols = Protocols.Select(p => spec.Protocols.Contains(p)).ToArray();
        var session = new Session(name, spec, socket, agents, protocols);
        lock (_change)
        {
            var old = _sessions.FirstOrDefault(s => s.Name == name);
            if (old is null && _sessions.Length >= MaxSessions)
            {
                // Each session is one more copy of every datagram received: their number bounds the amplification.
                socket.Dispose();
                throw new Realtime.RealtimeLimitException($"{_sessions.Length} forwarding sessions are defined, the most this server keeps: delete one first");
            }
            Session[] next = [.. _sessions.Where(s => s.Name != name), session];
            // Saved first: a change that could not be saved is not in force either.
            try
            {
                if (save) Save(next);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
            _sessions = next;
            if (old is not null) Close(old);
        }
    }

    private static Spec Parse(string json)
    {
        JsonObject o;
        try
        {
            o = JsonNode.Parse(json) as JsonObject ?? throw new FormatException("expected a JSON object like {\"address\": \"10.0.0.30\", \"port\": 6343}");
            foreach (var (key, _) in o)
            {
                if (key is not ("address" or "port" or "agents" or "protocols" or "account")) throw new FormatException($"unknown member '{key}' (address, port, agents, protocols, account)");
            }
            // Every string read now: one that escapes half a surrogate pair is refused here, not when it is used.
            foreach (var n in o.AsEnumerable().SelectMany(m => m.Value is JsonArray a ? a.AsEnumerable() : [m.Value]))
            {
                if (n is JsonValue v && v.GetValueKind() == JsonValueKind.String) _ = v.GetValue<string>();
            }
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            throw new FormatException($"not JSON, a member given twice, or text that is not valid UTF-16: {e.Message}");
        }
        string Text(JsonNode? n, string what) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new FormatException($"{what}: expected a string");
        var address = Text(o["address"] ?? throw new FormatException("address is required"), "address");
        if (!IPAddress.TryParse(address, out _)) throw new FormatException($"address '{address}' is not an IP address");
        var port = 6343;
        if (o["port"] is { } p && !(p is JsonValue pv && pv.TryGetValue(out port) && port is > 0 and < 65536)) throw new FormatException("port: expected 1 to 65535");
        var agents = new List<string>();
        if (o["agents"] is { } a)
        {
            foreach (var n in a as JsonArray ?? throw new FormatException("agents: expected a list of agent addresses"))
            {
                var text = Text(n, "agents");
                agents.Add(IPAddress.TryParse(text, out var ip) ? ip.ToString() : throw new FormatException($"agents: '{text}' is not an IP address"));
                if (agents.Count > MaxAgents) throw new FormatException($"agents: at most {MaxAgents}");
            }
        }
        var protocols = new List<string>();
        if (o["protocols"] is { } ps)
        {
            foreach (var n in ps as JsonArray ?? throw new FormatException("protocols: expected a list"))
            {
                var text = Text(n, "protocols");
                protocols.Add(Protocols.Contains(text) ? text : throw new FormatException($"protocols: '{text}' is not sflow, netflow or ipfix"));
            }
        }
        if (protocols.Count == 0) protocols.Add("sflow");
        string? account = null;
        if (o["account"] is { } acc)
        {
            account = Text(acc, "account");
            if (account.Length == 0) throw new FormatException("account: expected an account id");
            if (protocols.Any(p => p != "sflow")) throw new FormatException("account: only sFlow datagrams can be split by sample; a session for an account takes protocols [\"sflow\"]");
        }
        return new Spec(address, port, agents, protocols, account);
    }

    /// <summary>Removes a session; false when there is none by that name. No copy leaves for it once this returns.</summary>
    public bool Delete(string name)
    {
        lock (_change)
        {
            var old = _sessions.FirstOrDefault(s => s.Name == name);
            if (old is null) return false;
            var next = _sessions.Where(s => s.Name != name).ToArray();
            Save(next);
            _sessions = next;
            Close(old);
            return true;
        }
    }

    private static void Close(Session s)
    {
        lock (s)
        {
            s.Closed = true;
            s.Socket.Dispose();
        }
    }

    private void Save(Session[] sessions)
    {
        var o = new JsonObject();
        foreach (var s in sessions) o[s.Name] = Describe(s, withCounters: false);
        AtomicFile.WriteText(_path, o.ToJsonString());
    }

    /// <summary>Every session by name: its spec, and with <paramref name="withCounters"/> what it sent.</summary>
    public JsonObject Describe(bool withCounters = true)
    {
        var o = new JsonObject();
        foreach (var s in _sessions) o[s.Name] = Describe(s, withCounters);
        return o;
    }

    public JsonObject? Describe(string name) => _sessions.FirstOrDefault(s => s.Name == name) is { } s ? Describe(s, true) : null;

    private static JsonObject Describe(Session s, bool withCounters)
    {
        var o = new JsonObject
        {
            ["address"] = s.Spec.Address,
            ["port"] = s.Spec.Port,
            ["agents"] = new JsonArray(s.Spec.Agents.Select(a => (JsonNode)a).ToArray()),
            ["protocols"] = new JsonArray(s.Spec.Protocols.Select(a => (JsonNode)a).ToArray()),
        };
        if (s.Spec.Account is { } account) o["account"] = account;
        if (withCounters)
        {
            o["datagrams"] = Interlocked.Read(ref s.Datagrams);
            o["bytes"] = Interlocked.Read(ref s.Bytes);
            o["errors"] = Interlocked.Read(ref s.Errors);
            if (s.Spec.Account is not null) o["skipped"] = Interlocked.Read(ref s.Skipped);
        }
        return o;
    }

    /// <summary>
    /// Copies a datagram to every session that takes it. <paramref name="protocol"/>: 0 sflow, 1 netflow,
    /// 2 ipfix (the listener it came in on); <paramref name="source"/>: the sender's address.
    /// </summary>
    public void Forward(ReadOnlySpan<byte> datagram, int protocol, FlowAddress source)
    {
        var sessions = _sessions;
        if (sessions.Length == 0) return;
        FlowAddress? agent = null;
        foreach (var s in sessions)
        {
            if (!s.Protocols[protocol]) continue;
            if (s.Agents.Length > 0)
            {
                agent ??= protocol == 0 ? SflowAgent(datagram) : source;
                if (Array.IndexOf(s.Agents, agent.Value) < 0) continue;
            }
            var copy = datagram;
            if (s.Spec.Account is { } account)
            {
                var buffer = _rewritten ??= new byte[65536];
                var interfaces = new AccountInterfaces(_enricher, account);
                if (datagram.Length > buffer.Length
                    || SFlowSampleFilter.Filter(datagram, buffer, interfaces, out var length, out _) != SFlowSampleFilter.Outcome.Kept)
                {
                    Interlocked.Increment(ref s.Skipped);
                    continue;
                }
                copy = buffer.AsSpan(0, length);
            }
            lock (s)
            {
                if (s.Closed) continue;
                try
                {
                    s.Socket.Send(copy);
                    s.Datagrams++;
                    s.Bytes += copy.Length;
                }
                catch (SocketException)
                {
                    // The analyzer is not listening (ICMP port unreachable) or the network is down: counted, not fatal.
                    s.Errors++;
                }
            }
        }
    }

    /// <summary>An account's interfaces: the inventory ports (agent, ifIndex) that enrichment gives that account.</summary>
    private readonly struct AccountInterfaces(Enricher? enricher, string account) : SFlowSampleFilter.IInterfaces
    {
        public bool Contains(FlowAddress agent, uint ifIndex) => enricher?.AccountAt(agent, ifIndex) == account;
    }

    /// <summary>The agent address of an sFlow v5 datagram (type 1 IPv4, 2 IPv6), or none.</summary>
    private static FlowAddress SflowAgent(ReadOnlySpan<byte> d)
    {
        if (d.Length < 12) return FlowAddress.None;
        var type = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(d[4..]);
        if (type == 1) return FlowAddress.FromV4(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(d[8..]));
        if (type == 2 && d.Length >= 24) return FlowAddress.FromV6(d.Slice(8, 16));
        return FlowAddress.None;
    }

    public void Dispose()
    {
        lock (_change)
        {
            foreach (var s in _sessions) Close(s);
            _sessions = [];
        }
    }
}
