using System.Globalization;
using System.Net;
using YamlDotNet.RepresentationModel;

namespace Flowline.Collector;

/// <summary>
/// Settings of `flowline serve`. Defaults, then the YAML file (`--config`), then FLOWLINE_* environment
/// variables, then command-line flags: each later source overrides the earlier. See
/// docs/flowline.example.yaml for every setting.
/// </summary>
public sealed class CollectorOptions
{
    public List<IPEndPoint> Sflow { get; set; } = [new(IPAddress.IPv6Any, 6343)];
    public List<IPEndPoint> Netflow { get; set; } = [new(IPAddress.IPv6Any, 2055)];
    public List<IPEndPoint> Ipfix { get; set; } = [new(IPAddress.IPv6Any, 4739)];
    public IPEndPoint Http { get; set; } = new(IPAddress.IPv6Any, 8008);
    public string DataDir { get; set; } = "data";
    /// <summary>Sockets bound to each port with SO_REUSEPORT; the kernel spreads exporters over them.</summary>
    public int SocketsPerPort { get; set; } = Math.Clamp(Environment.ProcessorCount / 2, 1, 4);
    /// <summary>SO_RCVBUF asked for each socket (the kernel caps it at net.core.rmem_max).</summary>
    public int ReceiveBufferBytes { get; set; } = 32 << 20;
    /// <summary>Bytes of datagrams queued per socket between the reader and the decoder.</summary>
    public int QueueBytes { get; set; } = 64 << 20;
    /// <summary>Datagrams queued per socket at most.</summary>
    public int QueueDatagrams { get; set; } = 131_072;
    /// <summary>Decoded records are handed to the store in batches of this many, or every <see cref="BatchInterval"/>.</summary>
    public int BatchRows { get; set; } = 16_384;
    public TimeSpan BatchInterval { get; set; } = TimeSpan.FromMilliseconds(200);
    /// <summary>Sampling rates to apply instead of what exporters report, by exporter address.</summary>
    public Dictionary<IPAddress, uint> SamplingOverrides { get; set; } = [];
    /// <summary>Closed partitions older than this are compacted in the background.</summary>
    public TimeSpan CompactAfter { get; set; } = TimeSpan.FromMinutes(10);
    /// <summary>The inventory file (accounts, networks, ports, security groups); null: records are stored without tenancy.</summary>
    public string? Inventory { get; set; }
    /// <summary>The @ip-location-db packages' directory for country and AS of public addresses; null: FLOWLINE_GEO_DIR.</summary>
    public string? GeoDir { get; set; }
    /// <summary>The admin password's salted hash (`flowline keys hash-password`); null: no key reads another account.</summary>
    public string? AdminPasswordHash { get; set; }
    /// <summary>The zone of DescribeFlowLog's times: IST (default), UTC, +HH:MM or a zone name.</summary>
    public string JcsTimeZone { get; set; } = "IST";
    /// <summary>A bearer token that reads the sFlow-RT face (Prometheus scrapes); null: only signed admin requests read it.</summary>
    public string? ScrapeToken { get; set; }
    /// <summary>The sFlow-RT face open without signature to clients on loopback (sFlow-RT's own behaviour).</summary>
    public bool RealtimeOpenOnLoopback { get; set; }
    /// <summary>HTTPS for the HTTP listener: a PEM certificate (chain) or a PKCS#12 file; null: plain HTTP.</summary>
    public string? TlsCertificate { get; set; }
    /// <summary>The PEM private key of <see cref="TlsCertificate"/> when it is not in the certificate file.</summary>
    public string? TlsKey { get; set; }
    /// <summary>Sessionize the records: on, off, or auto (on when an inventory is configured).</summary>
    public string Sessions { get; set; } = "auto";
    /// <summary>How often sessions are flushed, sampled, logged and stored (seed 000: every 2 s).</summary>
    public TimeSpan SessionInterval { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>Sessions exported per second at most, on average (session sampling); 0: every session.</summary>
    public double SessionExportRate { get; set; }
    /// <summary>Bytes at or above which a session is always exported (the sampler adapts it to the export rate).</summary>
    public double SessionThreshold { get; set; } = 10_000;
    /// <summary>Security-logging rules: sessions admitted by a rule (uuid, or *) are logged, the first of every RATE.</summary>
    public List<Sessions.SessionLogRule> SessionLogging { get; set; } = [];
    /// <summary>Where sampled and logged sessions go: store, file:PATH, syslog:udp://HOST:PORT, syslog:tcp://HOST:PORT.</summary>
    public List<string> SampledSessionsTo { get; set; } = ["store"];
    public List<string> LoggedSessionsTo { get; set; } = ["store"];
    /// <summary>Ports that are always the server's end of a session (before the below-1024 rule).</summary>
    public HashSet<ushort> ServicePorts { get; set; } = [];
    /// <summary>Session rate anomalies of ports of interest: the bin new sessions are counted in, how far off is abnormal, and where events go besides the events file.</summary>
    public TimeSpan AnomalyBin { get; set; } = TimeSpan.FromMinutes(1);
    public double AnomalyThreshold { get; set; } = 5;
    public List<string> AnomalyEventsTo { get; set; } = [];
    /// <summary>Flows one real-time flow definition holds at once (realtime_max_keys).</summary>
    public int RealtimeMaxKeys { get; set; } = 1_000_000;
    /// <summary>Where threshold events go besides GET /events/json: file:PATH, syslog:udp://… (threshold_events_to).</summary>
    public List<string> ThresholdEventsTo { get; set; } = [];
    /// <summary>URLs each threshold event is POSTed to as JSON, with retries (event_webhooks).</summary>
    public List<Uri> EventWebhooks { get; set; } = [];
    /// <summary>Which of an exporter's observations of a packet the sessions count (ingress, egress, both).</summary>
    public Flowline.Sessions.SessionObservation SessionObservation { get; set; } = Flowline.Sessions.SessionObservation.Ingress;

    /// <summary>Whether serve sessionizes, after <see cref="Sessions"/> and the inventory.</summary>
    public bool SessionsEnabled => Sessions == "on" || (Sessions == "auto" && Inventory is not null);

    /// <summary>"ADDR:PORT", "[v6]:PORT" or ":PORT" (all addresses, IPv4 and IPv6).</summary>
    public static IPEndPoint ParseEndpoint(string text, string what)
    {
        if (text.StartsWith(':') && int.TryParse(text.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var onlyPort) && onlyPort is >= 0 and < 65536)
        {
            return new IPEndPoint(IPAddress.IPv6Any, onlyPort);
        }
        if (IPEndPoint.TryParse(text, out var e) && (e.Port != 0 || text.EndsWith(":0", StringComparison.Ordinal))) return e;
        throw new FormatException($"{what} '{text}': expected ADDR:PORT, [IPv6]:PORT or :PORT");
    }

    /// <summary>Applies a YAML file; errors name the line and the key.</summary>
    public void ApplyYaml(string path)
    {
        var yaml = new YamlStream();
        try
        {
            using var reader = File.OpenText(path);
            yaml.Load(reader);
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new FormatException($"{path}:{e.Start.Line}: {e.Message}");
        }
        if (yaml.Documents.Count == 0) return;
        if (yaml.Documents[0].RootNode is not YamlMappingNode root) throw new FormatException($"{path}: expected a mapping of settings");
        foreach (var (keyNode, value) in root.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? "";
            var line = keyNode.Start.Line;
            try
            {
                Apply(key, value);
            }
            catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
            {
                throw new FormatException($"{path}:{line}: {key}: {e.Message}");
            }
        }
    }

    private void Apply(string key, YamlNode value)
    {
        string Scalar() => value is YamlScalarNode s && s.Value is { } v ? v : throw new FormatException("expected a single value");
        // A list: a YAML sequence, or one value with commas (environment variables and flags).
        List<string> List() => value switch
        {
            YamlSequenceNode seq => seq.Children.Select(c => ((YamlScalarNode)c).Value ?? "").ToList(),
            YamlScalarNode { Value: null or "" } => [],
            _ => Scalar().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList(),
        };
        List<IPEndPoint> Endpoints(string what) => value switch
        {
            YamlSequenceNode seq => seq.Children.Select(c => ParseEndpoint(((YamlScalarNode)c).Value ?? "", what)).ToList(),
            _ => [ParseEndpoint(Scalar(), what)],
        };
        switch (key)
        {
            case "sflow": Sflow = Endpoints("sflow"); break;
            case "netflow": Netflow = Endpoints("netflow"); break;
            case "ipfix": Ipfix = Endpoints("ipfix"); break;
            case "http": Http = ParseEndpoint(Scalar(), "http"); break;
            case "data_dir": DataDir = Scalar(); break;
            case "sockets_per_port": SocketsPerPort = Positive(Scalar()); break;
            case "receive_buffer": ReceiveBufferBytes = (int)Size(Scalar()); break;
            case "queue_bytes": QueueBytes = (int)Size(Scalar()); break;
            case "queue_datagrams": QueueDatagrams = Positive(Scalar()); break;
            case "batch_rows": BatchRows = Positive(Scalar()); break;
            case "batch_interval": BatchInterval = Duration(Scalar()); break;
            case "compact_after": CompactAfter = Duration(Scalar()); break;
            case "inventory": Inventory = Scalar(); break;
            case "geo_dir": GeoDir = Scalar(); break;
            case "admin_password_hash": AdminPasswordHash = Scalar(); break;
            case "jcs_time_zone": JcsTimeZone = Scalar(); break;
            case "scrape_token": ScrapeToken = Scalar() is { Length: >= 16 } token ? token : throw new FormatException("expected a token of 16 characters or more"); break;
            case "realtime_open_on_loopback": RealtimeOpenOnLoopback = Scalar() switch { "true" or "on" or "yes" => true, "false" or "off" or "no" => false, _ => throw new FormatException("expected true or false") }; break;
            case "tls_certificate": TlsCertificate = Scalar(); break;
            case "tls_key": TlsKey = Scalar(); break;
            case "sessions":
                Sessions = Scalar() is var mode && mode is "on" or "off" or "auto" ? mode : throw new FormatException("expected on, off or auto");
                break;
            case "session_interval": SessionInterval = Duration(Scalar()); break;
            case "session_export_rate":
                SessionExportRate = double.TryParse(Scalar(), NumberStyles.Float, CultureInfo.InvariantCulture, out var rate) && rate >= 0
                    ? rate : throw new FormatException("expected sessions per second (0: every session)");
                break;
            case "session_threshold":
                SessionThreshold = double.TryParse(Scalar(), NumberStyles.Float, CultureInfo.InvariantCulture, out var threshold) && threshold >= 1
                    ? threshold : throw new FormatException("expected bytes (1 or more)");
                break;
            case "session_logging": SessionLogging = List().Select(Flowline.Sessions.SessionLogRule.Parse).ToList(); break;
            case "sampled_sessions_to": SampledSessionsTo = List().Select(CheckDestination).ToList(); break;
            case "logged_sessions_to": LoggedSessionsTo = List().Select(CheckDestination).ToList(); break;
            case "anomaly_bin":
                AnomalyBin = Duration(Scalar()) is var bin && bin > TimeSpan.Zero && TimeSpan.FromHours(1).Ticks % bin.Ticks == 0
                    ? bin : throw new FormatException("expected a duration that divides an hour (1m, 5m, 10s)");
                break;
            case "anomaly_threshold":
                AnomalyThreshold = double.TryParse(Scalar(), NumberStyles.Float, CultureInfo.InvariantCulture, out var deviations) && deviations > 0
                    ? deviations : throw new FormatException("expected robust standard deviations (above 0)");
                break;
            case "anomaly_events_to":
                AnomalyEventsTo = List().Select(d => d != "store" ? CheckDestination(d) : throw new FormatException("anomaly events are always kept in DATA_DIR/sessions/anomalies.jsonl; list file:PATH or syslog:… destinations")).ToList();
                break;
            case "realtime_max_keys": RealtimeMaxKeys = (int)Math.Clamp(Positive(Scalar()), 1000, 100_000_000); break;
            case "threshold_events_to":
                ThresholdEventsTo = List().Select(d => d != "store" ? CheckDestination(d) : throw new FormatException("events are always kept for GET /events/json; list file:PATH or syslog:… destinations")).ToList();
                break;
            case "event_webhooks":
                EventWebhooks = List().Select(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
                    ? uri : throw new FormatException($"'{u}' is not an http:// or https:// URL")).ToList();
                break;
            case "session_observation": SessionObservation = Flowline.Sessions.SessionObservations.Parse(Scalar()); break;
            case "service_ports": ServicePorts = List().Select(p => ushort.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port > 0 ? port : throw new FormatException($"'{p}' is not a port")).ToHashSet(); break;
            case "sampling":
                if (value is YamlScalarNode { Value: null or "" }) break; // present but empty
                if (value is not YamlMappingNode map) throw new FormatException("expected a mapping of exporter address to rate");
                foreach (var (k, v) in map.Children)
                {
                    var address = IPAddress.TryParse(((YamlScalarNode)k).Value, out var a) ? a : throw new FormatException($"'{((YamlScalarNode)k).Value}' is not an address");
                    SamplingOverrides[Normalize(address)] = (uint)Positive(((YamlScalarNode)v).Value ?? "");
                }
                break;
            default:
                throw new FormatException("unknown setting (see docs/flowline.example.yaml)");
        }
    }

    /// <summary>FLOWLINE_SFLOW, FLOWLINE_NETFLOW, FLOWLINE_IPFIX (comma-separated), FLOWLINE_HTTP, FLOWLINE_DATA_DIR, ...</summary>
    public void ApplyEnvironment(Func<string, string?> get)
    {
        foreach (var key in new[] { "sflow", "netflow", "ipfix", "http", "data_dir", "sockets_per_port", "receive_buffer", "queue_bytes", "queue_datagrams", "batch_rows", "batch_interval", "compact_after", "inventory", "geo_dir", "admin_password_hash", "jcs_time_zone", "scrape_token", "realtime_open_on_loopback", "tls_certificate", "tls_key",
            "sessions", "session_interval", "session_export_rate", "session_threshold", "session_logging", "sampled_sessions_to", "logged_sessions_to", "service_ports",
            "realtime_max_keys", "threshold_events_to", "event_webhooks" })
        {
            var name = "FLOWLINE_" + key.ToUpperInvariant();
            if (get(name) is not { Length: > 0 } text) continue;
            try
            {
                YamlNode node = key is "sflow" or "netflow" or "ipfix"
                    ? new YamlSequenceNode(text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(t => new YamlScalarNode(t)))
                    : new YamlScalarNode(text);
                Apply(key, node);
            }
            catch (FormatException e)
            {
                throw new FormatException($"{name}: {e.Message}");
            }
        }
    }

    /// <summary>Applies one command-line setting by its configuration key.</summary>
    public void ApplyFlag(string key, string text, bool replaceList)
    {
        YamlNode node = new YamlScalarNode(text);
        if (key is "sflow" or "netflow" or "ipfix" && !replaceList)
        {
            var list = key switch { "sflow" => Sflow, "netflow" => Netflow, _ => Ipfix };
            list.Add(ParseEndpoint(text, key));
            return;
        }
        Apply(key, node);
    }

    /// <summary>A session destination as written: store, file:PATH, syslog:udp://HOST:PORT or syslog:tcp://HOST:PORT.</summary>
    public static string CheckDestination(string text)
    {
        if (text == "store") return text;
        if (text.StartsWith("file:", StringComparison.Ordinal) && text.Length > 5) return text;
        if (text.StartsWith("syslog:", StringComparison.Ordinal))
        {
            Flowline.Sessions.SyslogSender.Parse(text[7..]).Dispose();
            return text;
        }
        throw new FormatException($"'{text}': a destination is store, file:PATH, syslog:udp://HOST:PORT or syslog:tcp://HOST:PORT");
    }

    public static IPAddress Normalize(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    private static int Positive(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : throw new FormatException($"'{text}' is not a positive number");

    /// <summary>A byte size: 1048576, 512k, 32m, 1g.</summary>
    public static long Size(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        long unit = 1;
        if (t.EndsWith('k')) unit = 1 << 10;
        else if (t.EndsWith('m')) unit = 1 << 20;
        else if (t.EndsWith('g')) unit = 1 << 30;
        if (unit > 1) t = t[..^1];
        return long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0 && v * unit <= int.MaxValue
            ? v * unit : throw new FormatException($"'{text}' is not a size (such as 1048576, 512k, 32m)");
    }

    /// <summary>500ms, 2s, 10m, 1h.</summary>
    public static TimeSpan Duration(string text)
    {
        var t = text.Trim();
        (string Suffix, double Seconds)[] units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)];
        foreach (var (suffix, seconds) in units)
        {
            if (t.EndsWith(suffix, StringComparison.Ordinal) && double.TryParse(t[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0)
            {
                return TimeSpan.FromSeconds(v * seconds);
            }
        }
        throw new FormatException($"'{text}' is not a duration (such as 500ms, 2s, 10m)");
    }
}
