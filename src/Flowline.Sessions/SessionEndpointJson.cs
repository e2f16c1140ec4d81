using System.Globalization;
using System.Text.Json;
using Flowline.Records;

namespace Flowline.Sessions;

/// <summary>
/// SessionEndpoint batches as JSON, the way `flowline agent` ships them to a collector: names instead of
/// symbol ids (ids are local to a process), seed 001's field names. A batch:
/// <code>
/// {"agent": "compute-7", "sequence": 42, "time": µs,
///  "endpoints": [{"account", "vmi", "vn", "application", "tier", "site", "deployment",
///                 "remote_application", "remote_tier", "remote_site", "remote_deployment", "remote_vn",
///                 "remote_prefix", "security_policy_rule", "is_client_session", "is_si", "vrouter_ip",
///                 "sess_agg_info": [{"local_ip", "protocol", "service_port", sampled_/logged_ tx/rx bytes/pkts,
///                                    "sessionMap": [{"remote_ip", "client_port", the eight counters, "forward_flow_uuid",
///                                                  "reverse_flow_uuid", "local_tcp_flags", "reverse_tcp_flags",
///                                                  "setup_time", "teardown_time", "action", "reverse_action",
///                                                  "sg_rule_uuid", "reverse_sg_rule_uuid", "sampled", "logged"}]}]}]}
/// </code>
/// </summary>
public static class SessionEndpointJson
{
    public sealed record Batch(string Agent, long Sequence, long Time, List<SessionEndpoint> Endpoints);

    public static byte[] Write(string agent, long sequence, long time, IEnumerable<SessionEndpoint> endpoints, ISymbolNames names)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("agent", agent);
            w.WriteNumber("sequence", sequence);
            w.WriteNumber("time", time);
            w.WritePropertyName("endpoints");
            WriteEndpoints(w, endpoints, names);
            w.WriteEndObject();
        }
        return stream.ToArray();
    }

    /// <summary>The endpoints as a JSON array (seed 001's SessionEndpointData, names for symbol ids).</summary>
    public static void WriteEndpoints(Utf8JsonWriter w, IEnumerable<SessionEndpoint> endpoints, ISymbolNames names)
    {
        w.WriteStartArray();
        foreach (var e in endpoints) WriteEndpoint(w, e, names);
        w.WriteEndArray();
    }

    private static void WriteEndpoint(Utf8JsonWriter w, SessionEndpoint e, ISymbolNames names)
    {
        var id = e.Identity;
        void Name(string key, uint symbol)
        {
            if (symbol != 0 && names.Name(symbol) is { } n) w.WriteString(key, n);
        }
        w.WriteStartObject();
        Name("account", id.Account);
        Name("vmi", id.Vmi);
        Name("vn", id.Vn);
        Name("application", id.App);
        Name("tier", id.Tier);
        Name("site", id.Site);
        Name("deployment", id.Deployment);
        Name("remote_application", id.RemoteApp);
        Name("remote_tier", id.RemoteTier);
        Name("remote_site", id.RemoteSite);
        Name("remote_deployment", id.RemoteDeployment);
        Name("remote_vn", id.RemoteVn);
        if (!id.RemotePrefix.IsNone) w.WriteString("remote_prefix", id.RemotePrefix.ToString());
        Name("security_policy_rule", id.SgRule);
        w.WriteBoolean("is_client_session", id.IsClientSession);
        w.WriteBoolean("is_si", id.IsServiceInstance);
        w.WriteString("vrouter_ip", id.VrouterIp.ToString());
        w.WriteStartArray("sess_agg_info");
        foreach (var (key, aggregate) in e.Aggregates)
        {
            w.WriteStartObject();
            w.WriteString("local_ip", key.LocalIp.ToString());
            w.WriteNumber("protocol", key.Protocol);
            w.WriteNumber("service_port", key.ServicePort);
            WriteCounts(w, aggregate.Counts);
            w.WriteStartArray("sessionMap");
            foreach (var (sessionKey, s) in aggregate.Sessions)
            {
                w.WriteStartObject();
                w.WriteString("remote_ip", sessionKey.RemoteIp.ToString());
                w.WriteNumber("client_port", sessionKey.ClientPort);
                WriteCounts(w, s.Counts);
                w.WriteString("forward_flow_uuid", s.ForwardFlowUuid);
                w.WriteString("reverse_flow_uuid", s.ReverseFlowUuid);
                w.WriteNumber("local_tcp_flags", s.LocalTcpFlags);
                w.WriteNumber("reverse_tcp_flags", s.ReverseTcpFlags);
                w.WriteNumber("setup_time", s.SetupTime);
                if (s.TeardownTime != 0) w.WriteNumber("teardown_time", s.TeardownTime);
                if (FlowAction.Name(s.Action) is { Length: > 0 } action) w.WriteString("action", action);
                if (FlowAction.Name(s.ReverseAction) is { Length: > 0 } reverse) w.WriteString("reverse_action", reverse);
                Name("sg_rule_uuid", s.SgRule);
                Name("reverse_sg_rule_uuid", s.ReverseSgRule);
                w.WriteBoolean("sampled", s.Sampled);
                w.WriteBoolean("logged", s.Logged);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteCounts(Utf8JsonWriter w, in SessionCounts c)
    {
        w.WriteNumber("sampled_tx_bytes", c.SampledTxBytes);
        w.WriteNumber("sampled_tx_pkts", c.SampledTxPackets);
        w.WriteNumber("sampled_rx_bytes", c.SampledRxBytes);
        w.WriteNumber("sampled_rx_pkts", c.SampledRxPackets);
        w.WriteNumber("logged_tx_bytes", c.LoggedTxBytes);
        w.WriteNumber("logged_tx_pkts", c.LoggedTxPackets);
        w.WriteNumber("logged_rx_bytes", c.LoggedRxBytes);
        w.WriteNumber("logged_rx_pkts", c.LoggedRxPackets);
    }

    /// <summary>
    /// Reads a batch, interning its names in <paramref name="symbols"/> (in one write). A malformed batch
    /// throws <see cref="FormatException"/> naming what is wrong; nothing of it is then kept.
    /// </summary>
    public static Batch Read(ReadOnlySpan<byte> json, ISymbolInterner symbols)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException e)
        {
            throw new FormatException($"not JSON: {e.Message}");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new FormatException("expected an object with agent, sequence, time and endpoints");
            var agent = Text(root, "agent") ?? throw new FormatException("agent: missing");
            var sequence = Number(root, "sequence", "");
            var time = Number(root, "time", "");
            if (time is <= 0 or > FlowTime.MaxMicros) throw new FormatException("time: expected µs since the epoch, up to the year 9999");
            if (!root.TryGetProperty("endpoints", out var list) || list.ValueKind != JsonValueKind.Array) throw new FormatException("endpoints: expected an array");

            // First pass: every name, interned at once.
            var names = new List<string>();
            var index = new Dictionary<string, int>(StringComparer.Ordinal);
            void Note(string? n)
            {
                if (n is { Length: > 0 } && index.TryAdd(n, names.Count)) names.Add(n);
            }
            string[] identityNames = ["account", "vmi", "vn", "application", "tier", "site", "deployment", "remote_application",
                "remote_tier", "remote_site", "remote_deployment", "remote_vn", "security_policy_rule"];
            foreach (var e in list.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.Object) throw new FormatException("endpoints: expected objects");
                foreach (var n in identityNames) Note(Text(e, n));
                if (e.TryGetProperty("sess_agg_info", out var aggs) && aggs.ValueKind == JsonValueKind.Array)
                {
                    foreach (var a in aggs.EnumerateArray())
                    {
                        if (a.ValueKind == JsonValueKind.Object && a.TryGetProperty("sessionMap", out var ss) && ss.ValueKind == JsonValueKind.Array)
                        {
                            foreach (var s in ss.EnumerateArray())
                            {
                                Note(Text(s, "sg_rule_uuid"));
                                Note(Text(s, "reverse_sg_rule_uuid"));
                            }
                        }
                    }
                }
            }
            var ids = names.Count == 0 ? [] : symbols.Intern(names);
            uint Id(JsonElement e, string key) => Text(e, key) is { Length: > 0 } n ? ids[index[n]] : 0;

            var endpoints = new List<SessionEndpoint>();
            var k = 0;
            foreach (var e in list.EnumerateArray())
            {
                var at = $"endpoints[{k++}]";
                var prefix = Prefix.None;
                if (Text(e, "remote_prefix") is { Length: > 0 } p && !Prefix.TryParse(p, out prefix))
                {
                    throw new FormatException($"{at}.remote_prefix: '{p}' is not ADDRESS/LENGTH");
                }
                var identity = new EndpointIdentity(Id(e, "account"), Id(e, "vmi"), Id(e, "vn"), Id(e, "application"), Id(e, "tier"),
                    Id(e, "site"), Id(e, "deployment"), Id(e, "remote_application"), Id(e, "remote_tier"), Id(e, "remote_site"),
                    Id(e, "remote_deployment"), Id(e, "remote_vn"), prefix, Id(e, "security_policy_rule"),
                    Bool(e, "is_client_session"), Bool(e, "is_si"), Address(e, "vrouter_ip", at));
                var endpoint = new SessionEndpoint(identity);
                if (e.TryGetProperty("sess_agg_info", out var aggs))
                {
                    if (aggs.ValueKind != JsonValueKind.Array) throw new FormatException($"{at}.sess_agg_info: expected an array");
                    var j = 0;
                    foreach (var a in aggs.EnumerateArray())
                    {
                        var aat = $"{at}.sess_agg_info[{j++}]";
                        var protocol = Number(a, "protocol", aat);
                        var port = Number(a, "service_port", aat);
                        if (protocol is < 0 or > 255) throw new FormatException($"{aat}.protocol: {protocol} is not 0-255");
                        if (port is < 0 or > 65535) throw new FormatException($"{aat}.service_port: {port} is not 0-65535");
                        var aggregate = new SessionAggregate();
                        endpoint.Aggregates[new AggregateKey(Address(a, "local_ip", aat), (byte)protocol, (ushort)port)] = aggregate;
                        if (!a.TryGetProperty("sessionMap", out var ss) || ss.ValueKind != JsonValueKind.Array) throw new FormatException($"{aat}.sessions: expected an array");
                        var m = 0;
                        foreach (var s in ss.EnumerateArray())
                        {
                            var sat = $"{aat}.sessionMap[{m++}]";
                            var clientPort = Number(s, "client_port", sat);
                            if (clientPort is < 0 or > 65535) throw new FormatException($"{sat}.client_port: {clientPort} is not 0-65535");
                            var info = new SessionInfo
                            {
                                Counts = ReadCounts(s, sat),
                                ForwardFlowUuid = Uuid(s, "forward_flow_uuid", sat), ReverseFlowUuid = Uuid(s, "reverse_flow_uuid", sat),
                                LocalTcpFlags = (ushort)Number(s, "local_tcp_flags", sat, 0), ReverseTcpFlags = (ushort)Number(s, "reverse_tcp_flags", sat, 0),
                                SetupTime = Time(s, "setup_time", sat), TeardownTime = Time(s, "teardown_time", sat, 0),
                                Action = ActionOf(Text(s, "action")), ReverseAction = ActionOf(Text(s, "reverse_action")),
                                SgRule = Id(s, "sg_rule_uuid"), ReverseSgRule = Id(s, "reverse_sg_rule_uuid"),
                                Sampled = Bool(s, "sampled"), Logged = Bool(s, "logged"), Sessions = 1,
                            };
                            aggregate.Sessions[new SessionKey(Address(s, "remote_ip", sat), (ushort)clientPort)] = info;
                            aggregate.Counts.Add(info.Counts);
                        }
                    }
                }
                endpoints.Add(endpoint);
            }
            return new Batch(agent, sequence, time, endpoints);
        }
    }

    private static SessionCounts ReadCounts(JsonElement e, string at) => new()
    {
        SampledTxBytes = Number(e, "sampled_tx_bytes", at, 0), SampledTxPackets = Number(e, "sampled_tx_pkts", at, 0),
        SampledRxBytes = Number(e, "sampled_rx_bytes", at, 0), SampledRxPackets = Number(e, "sampled_rx_pkts", at, 0),
        LoggedTxBytes = Number(e, "logged_tx_bytes", at, 0), LoggedTxPackets = Number(e, "logged_tx_pkts", at, 0),
        LoggedRxBytes = Number(e, "logged_rx_bytes", at, 0), LoggedRxPackets = Number(e, "logged_rx_pkts", at, 0),
    };

    private static byte ActionOf(string? text) => text switch { "pass" => FlowAction.Pass, "drop" => FlowAction.Drop, _ => FlowAction.Unknown };

    private static string? Text(JsonElement e, string key) =>
        e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static bool Bool(JsonElement e, string key) => e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.True;

    private static long Number(JsonElement e, string key, string at, long? missing = null)
    {
        var name = at.Length == 0 ? key : $"{at}.{key}";
        if (!e.TryGetProperty(key, out var v)) return missing ?? throw new FormatException($"{name}: missing");
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var n) || n < 0) throw new FormatException($"{name}: expected a whole number ≥ 0");
        return n;
    }

    /// <summary>A time in µs since the epoch, up to the year 9999 (what can be stored and printed).</summary>
    private static long Time(JsonElement e, string key, string at, long? missing = null)
    {
        var n = Number(e, key, at, missing);
        return n <= FlowTime.MaxMicros ? n : throw new FormatException($"{at}.{key}: {n} µs is beyond the year 9999");
    }

    private static FlowAddress Address(JsonElement e, string key, string at)
    {
        var text = Text(e, key);
        if (text is null || !System.Net.IPAddress.TryParse(text, out var a)) throw new FormatException($"{at}.{key}: '{text}' is not an IP address");
        return FlowAddress.FromIPAddress(a);
    }

    private static Guid Uuid(JsonElement e, string key, string at)
    {
        var text = Text(e, key);
        if (text is null) return Guid.Empty;
        return Guid.TryParse(text, out var g) ? g : throw new FormatException($"{at}.{key}: '{text}' is not a UUID");
    }
}
