using System.Globalization;
using System.Net;
using Flowline.Mitigation.Bgp;
using Flowline.Mitigation.Ddos;
using Flowline.Records;
using Flowline.Sessions;

namespace Flowline.Server;

/// <summary>
/// One setting of `flowline serve`: its YAML key, from which its flag (<c>--key-name</c>) and its variable
/// (<c>FLOWLINE_KEY_NAME</c>) follow; what its value looks like and means; how it is applied and shown; a
/// valid value other than the default (the settings test applies it each way).
/// </summary>
public sealed record Setting(string Key, string Value, string Help, Action<ServeOptions, SettingValue> Apply, Func<ServeOptions, string> Show, string Sample,
    string[]? Aliases = null, bool Repeatable = false)
{
    public string Flag => "--" + Key.Replace('_', '-');
    public string Variable => "FLOWLINE_" + Key.ToUpperInvariant();
}

/// <summary>The one table of serve's settings: the YAML keys, the FLOWLINE_* variables, the flags and the --help text all come from it.</summary>
public static class ServeSettings
{
    private static string Join<T>(IEnumerable<T> items) => string.Join(",", items);

    private static string Text(IFormattable v) => v.ToString(null, CultureInfo.InvariantCulture);

    public static readonly IReadOnlyList<Setting> All =
    [
        new("data_dir", "DIR", "where the store, saved templates, keys and state files live",
            (o, v) => o.Collector.DataDir = v.Scalar(), o => o.Collector.DataDir, "/tmp/flows"),
        new("sflow", "ADDR:PORT", "sFlow listener; ADDR:PORT, [IPv6]:PORT or :PORT for every address (repeat or comma-separate for several; the first replaces the default :6343)",
            (o, v) => o.Collector.Sflow = v.Endpoints("sflow"), o => Join(o.Collector.Sflow), "127.0.0.1:16343", Repeatable: true),
        new("netflow", "ADDR:PORT", "NetFlow v5/v9 listener (default :2055; repeatable)",
            (o, v) => o.Collector.Netflow = v.Endpoints("netflow"), o => Join(o.Collector.Netflow), "127.0.0.1:12055", Repeatable: true),
        new("ipfix", "ADDR:PORT", "IPFIX listener (default :4739; repeatable)",
            (o, v) => o.Collector.Ipfix = v.Endpoints("ipfix"), o => Join(o.Collector.Ipfix), "127.0.0.1:14739", Repeatable: true),
        new("http", "ADDR:PORT", "HTTP listener for every face (default :8008)",
            (o, v) => o.Http = v.Endpoint("http"), o => o.Http.ToString(), "127.0.0.1:18008"),
        new("log_format", "text|json", "log events as text lines (default) or one JSON object a line (time, level, component, event, message and the event's fields) for the journal or a log shipper",
            (o, v) => o.LogFormat = Logging.LogSettings.ParseFormat(v.Scalar()), o => Logging.LogSettings.Name(o.LogFormat), "json"),
        new("log_level", "LEVEL", "the least important events logged: trace, debug, info (default), warn, error, critical or none",
            (o, v) => o.LogLevel = Logging.LogSettings.ParseLevel(v.Scalar()), o => Logging.LogSettings.Name(o.LogLevel), "warn"),
        new("sockets_per_port", "N", "SO_REUSEPORT sockets per UDP port, each with a reader, a queue and a decoder (default: half the cores, 1 to 4)",
            (o, v) => o.Collector.SocketsPerPort = v.Positive(64), o => Text(o.Collector.SocketsPerPort), "3", Aliases: ["--sockets"]),
        new("receive_buffer", "SIZE", "socket receive buffer asked for, e.g. 32m (capped by net.core.rmem_max)",
            (o, v) => o.Collector.ReceiveBufferBytes = v.Size(), o => Text(o.Collector.ReceiveBufferBytes), "8m"),
        new("queue_bytes", "SIZE", "bytes of datagrams queued per socket before dropping and counting (default 64m)",
            (o, v) => o.Collector.QueueBytes = v.Size(), o => Text(o.Collector.QueueBytes), "16m", Aliases: ["--queue"]),
        new("queue_datagrams", "N", "datagrams queued per socket at most (default 131072, at most 16777216: each place is held in memory from the start)",
            (o, v) => o.Collector.QueueDatagrams = v.Positive(1 << 24), o => Text(o.Collector.QueueDatagrams), "4096"),
        new("batch_rows", "N", "records handed to the store in batches of this many (default 16384)",
            (o, v) => o.Collector.BatchRows = v.Positive(), o => Text(o.Collector.BatchRows), "4096"),
        new("batch_interval", "DURATION", "or at least this often (default 200ms)",
            (o, v) => o.Collector.BatchInterval = v.Duration(), o => o.Collector.BatchInterval.ToString(), "1s"),
        new("compact_after", "DURATION", "a partition whose end has passed is merged into its final segment once no commit came for this long (default 1m)",
            (o, v) => o.Collector.CompactAfter = v.Duration(), o => o.Collector.CompactAfter.ToString(), "1h"),
        new("compaction_memory", "SIZE", "memory compaction and rollups may hold, whatever a partition's size (default 512m, at least 64m)",
            (o, v) => o.Collector.CompactionMemory = v.LargeSize() is var m && m >= 64L << 20 ? m : throw new FormatException("compaction_memory must be at least 64m"),
            o => Text(o.Collector.CompactionMemory), "256m"),
        new("partition_width", "DURATION", "width of the store's time partitions, for a new data directory: whole minutes dividing an hour (default 5m; 1m at several hundred thousand records a second keeps each partition's merge in one pass); an existing store keeps its own",
            (o, v) => o.Collector.PartitionWidth = v.Duration() is var w && w > TimeSpan.Zero && w.Ticks % TimeSpan.TicksPerMinute == 0 && TimeSpan.FromHours(1).Ticks % w.Ticks == 0
                ? w : throw new FormatException("partition_width must be whole minutes dividing an hour (1m, 2m, 5m, 10m, 15m, 30m, 60m)"),
            o => o.Collector.PartitionWidth?.ToString() ?? "", "1m"),
        new("store", "embedded|clickhouse://HOST[:PORT]/DB[?cluster=NAME&shards=HOST:PORT,...]", "where flows are kept: the embedded store in data_dir (default), or ClickHouse over its HTTP port (docs/SCALE.md): one server, or the shards of a cluster (`flowline clickhouse init` makes the tables); inserts ClickHouse does not take wait in DATA_DIR/clickhouse-spool",
            (o, v) => o.ClickHouse = v.Scalar() == "embedded" ? null : Flowline.Storage.ClickHouse.ClickHouseLocation.Parse(v.Scalar()),
            o => o.ClickHouse is { } c ? Flowline.Storage.ClickHouse.ClickHouseLocation.Describe(c) : "embedded", "clickhouse://127.0.0.1:8123/flowline?cluster=flows"),
        new("collect", "true|false", "false: an API node, with no flow listeners and no sessions, answering from the store the collectors write (a ClickHouse cluster; docs/SCALE.md) (default true)",
            (o, v) => o.Collect = v.Flag(), o => o.Collect ? "true" : "false", "false"),
        new("retention", "DURATION", "partitions of flows and sessions that ended longer ago are removed, checked every minute (default 15d)",
            (o, v) => o.Collector.Retention = v.Duration(), o => o.Collector.Retention.ToString(), "2d"),
        new("sampling", "ADDR=RATE,...", "sampling rates to apply instead of what exporters report, by exporter or agent address",
            (o, v) =>
            {
                foreach (var (address, rate) in v.Map()) o.Collector.SamplingOverrides[SettingValue.Address(address)] = (uint)new SettingValue(rate).Positive();
            }, o => Join(o.Collector.SamplingOverrides.OrderBy(s => s.Key.ToString()).Select(s => $"{s.Key}={s.Value}")), "192.0.2.10=512"),
        new("exporters_allowed", "PREFIX,...", "sources exporters may send from (addresses or prefixes); datagrams from others are dropped and counted (default: everyone)",
            (o, v) => o.Collector.ExportersAllowed = v.Prefixes(), o => Join(o.Collector.ExportersAllowed), "192.0.2.0/24,2001:db8::/32"),
        new("sflow_agent_check", "true|false", "drop (and count) sFlow datagrams whose agent address is not the address they came from, unless that is a relay (default false: switches often send from another address)",
            (o, v) => o.Collector.SflowAgentCheck = v.Flag(), o => o.Collector.SflowAgentCheck ? "true" : "false", "true"),
        new("sflow_relays", "PREFIX,...", "sources that may send sFlow for other agents under sflow_agent_check",
            (o, v) => o.Collector.SflowRelays = v.Prefixes(), o => Join(o.Collector.SflowRelays), "198.51.100.7"),
        new("max_exporters", "N", "exporters (address, protocol, domain) tracked at most, an eighth of them (at least 16) per UDP source unless it is one of sflow_relays; beyond it those that never sent a record, then those that sent fewest datagrams, then the longest silent, are forgotten and counted (default 10000)",
            (o, v) => o.Collector.MaxExporters = Math.Max(10, v.Positive()), o => Text(o.Collector.MaxExporters), "500"),
        new("exporter_idle", "DURATION", "an exporter silent this long is forgotten (default 24h)",
            (o, v) => o.Collector.ExporterIdle = v.Duration(), o => o.Collector.ExporterIdle.ToString(), "2h"),
        new("max_request_body", "SIZE", "the largest request body on the HTTP port, refused with 413 from its Content-Length before any other work (default 4m)",
            (o, v) => o.MaxRequestBody = v.LongSize(), o => Text(o.MaxRequestBody), "256k"),
        new("max_upload_body", "SIZE", "the largest inventory upload or agent batch, read only for a known key within the signature window (default 64m)",
            (o, v) => o.MaxUploadBody = v.LongSize(), o => Text(o.MaxUploadBody), "16m"),
        new("inventory", "FILE", "accounts, networks, ports and security groups (YAML or JSON, docs/inventory.example.yaml): every record is enriched and stored once per port it touches; re-read when the file changes and on SIGHUP; a file with errors is refused and the inventory in force stays",
            (o, v) => o.Collector.Inventory = v.Scalar(), o => o.Collector.Inventory ?? "", "/etc/flowline/inventory.yaml"),
        new("geo_dir", "DIR", "the @ip-location-db packages (country, asn) for public addresses (default: FLOWLINE_GEO_DIR, which ./flowline sets)",
            (o, v) => o.Collector.GeoDir = v.Scalar(), o => o.Collector.GeoDir ?? "", "/opt/geo"),
        new("geo_format", "csv|mmdb", "countries from the CSV range files (default) or from the *-country-mmdb package in geo_dir (MaxMind DB, read with MaxMind.Db); AS numbers from the asn package either way",
            (o, v) => o.Collector.GeoFormat = v.Scalar() switch { "csv" => Enrichment.GeoFormat.Csv, "mmdb" => Enrichment.GeoFormat.Mmdb, var x => throw new FormatException($"geo_format '{x}': expected csv or mmdb") },
            o => o.Collector.GeoFormat == Enrichment.GeoFormat.Mmdb ? "mmdb" : "csv", "mmdb"),
        new("admin_password_hash", "HASH", "the admin password's salted hash (`flowline keys hash-password`); without it no key reads another account",
            (o, v) => o.AdminPasswordHash = v.Scalar(), o => o.AdminPasswordHash ?? "", "pbkdf2-sha256$600000$c2FsdA$aGFzaA"),
        new("key_file", "FILE", "the 32-byte file the access keys' secrets are sealed under, made on first use (default DATA_DIR/keys.key; keep it elsewhere so that a copy of the data directory opens no secret)",
            (o, v) => o.KeyFile = v.Scalar(), o => o.KeyFile ?? "", "/etc/flowline/keys.key"),
        new("jcs_time_zone", "ZONE", "the zone of DescribeFlowLog's times: IST (default), UTC, +HH:MM or a zone name",
            (o, v) => o.JcsTimeZone = v.Scalar(), o => o.JcsTimeZone, "UTC"),
        new("scrape_token", "TOKEN", "a bearer token (16 characters or more) with which Prometheus reads the sFlow-RT face (authorization: in its scrape config); without it only signed admin requests read it",
            (o, v) => o.ScrapeToken = v.Scalar() is { Length: >= 16 } t ? t : throw new FormatException("expected a token of 16 characters or more"), o => o.ScrapeToken ?? "", "0123456789abcdef0123"),
        new("realtime_open_on_loopback", "true|false", "sFlow-RT's own behaviour for scripts written for it: its face open without signature to clients on loopback (default false)",
            (o, v) => o.RealtimeOpenOnLoopback = v.Flag(), o => o.RealtimeOpenOnLoopback ? "true" : "false", "true"),
        new("tls_certificate", "FILE", "serve HTTPS with this certificate: PEM (with its chain) or PKCS#12 (no password)",
            (o, v) => o.TlsCertificate = v.Scalar(), o => o.TlsCertificate ?? "", "/etc/flowline/cert.pem", Aliases: ["--tls-cert"]),
        new("tls_key", "FILE", "the PEM private key, when it is not in the certificate file",
            (o, v) => o.TlsKey = v.Scalar(), o => o.TlsKey ?? "", "/etc/flowline/key.pem"),
        new("taas_ovsdb", "unix:PATH|tcp:HOST:PORT", "the Open vSwitch database whose mirrors carry the Tap-as-a-Service taps (docs/TAAS.md); without it taps are kept but not carried (status ERROR)",
            (o, v) => o.TaasOvsdb = v.Scalar() is { } e && (e.StartsWith("unix:", StringComparison.Ordinal) || e.StartsWith("tcp:", StringComparison.Ordinal)) ? e : throw new FormatException("expected unix:PATH or tcp:HOST:PORT"),
            o => o.TaasOvsdb ?? "", "unix:/var/run/openvswitch/db.sock"),
        new("sessions", "on|off|auto", "stitch flows into sessions every session_interval and keep them in DATA_DIR/sessions (default auto: on with an inventory; docs/SESSIONS.md)",
            (o, v) => o.Collector.Sessions = v.Scalar() is "on" or "off" or "auto" ? v.Scalar() : throw new FormatException("expected on, off or auto"), o => o.Collector.Sessions, "on"),
        new("session_interval", "DURATION", "how often sessions are flushed, sampled, logged and stored (default 2s)",
            (o, v) => o.Collector.SessionInterval = v.Duration(), o => o.Collector.SessionInterval.ToString(), "5s"),
        new("session_max_open", "N", "open sessions held at most, all decoders together (about 300 bytes each); past it the least recently used are forgotten or exported early, counted in /metrics (default 1000000)",
            (o, v) => o.Collector.SessionMaxOpen = (int)Math.Min(100_000_000, v.Number(1000, "sessions (1000 to 100000000)")), o => o.Collector.SessionMaxOpen.ToString(System.Globalization.CultureInfo.InvariantCulture), "200000"),
        new("session_input_rate", "N", "new sessions a second above which one session in N (by key hash, N a power of two) is held and its counts scaled by N, to shed load before anything is dropped (default 250000; 0: never)",
            (o, v) => o.Collector.SessionInputRate = v.Number(0, "new sessions per second (0: never sample)"), o => Text(o.Collector.SessionInputRate), "100000"),
        new("session_export_rate", "N", "session sampling: at most N sessions/s on average; every session while fewer come (default 50000; 0: every session always)",
            (o, v) => o.Collector.SessionExportRate = v.Number(0, "sessions per second (0: every session)"), o => Text(o.Collector.SessionExportRate), "100"),
        new("session_threshold", "BYTES", "bytes at or above which a session is always exported, at first; the sampler moves it to keep session_export_rate (default 1)",
            (o, v) => o.Collector.SessionThreshold = v.Number(1, "bytes (1 or more)"), o => Text(o.Collector.SessionThreshold), "5000"),
        new("session_observation", "auto|ingress|egress|both", "which observations of a packet sessions count (default auto: each direction the ingress ones if it has any, else the egress ones)",
            (o, v) => o.Collector.SessionObservation = SessionObservations.Parse(v.Scalar()), o => o.Collector.SessionObservation.ToString(), "both"),
        new("session_logging", "RULE[:N],...", "log sessions admitted by rule uuid RULE (or *), the first of every N; teardowns always",
            (o, v) => o.Collector.SessionLogging = v.List().Select(SessionLogRule.Parse).ToList(), o => Join(o.Collector.SessionLogging.Select(r => $"{r.Rule}:{r.Rate}")), "*:10"),
        new("sampled_sessions_to", "DEST,...", "where sampled sessions go: store, file:PATH (JSON lines, rotated), syslog:udp://HOST:PORT, syslog:tcp://HOST:PORT (default store)",
            (o, v) => o.Collector.SampledSessionsTo = v.Destinations(true, ""), o => Join(o.Collector.SampledSessionsTo), "file:/tmp/sampled.jsonl"),
        new("logged_sessions_to", "DEST,...", "where logged sessions go (as sampled_sessions_to)",
            (o, v) => o.Collector.LoggedSessionsTo = v.Destinations(true, ""), o => Join(o.Collector.LoggedSessionsTo), "file:/tmp/logged.jsonl"),
        new("service_ports", "PORT,...", "ports that are always the server's end of a session",
            (o, v) => o.Collector.ServicePorts = v.List().Select(p => ushort.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port > 0 ? port : throw new FormatException($"'{p}' is not a port")).ToHashSet(),
            o => Join(o.Collector.ServicePorts.Order()), "5432,8080"),
        new("anomaly_bin", "DURATION", "session rate anomalies of ports of interest: the bin new sessions are counted in; divides an hour (default 1m)",
            (o, v) => o.Collector.AnomalyBin = v.Duration() is var bin && TimeSpan.FromHours(1).Ticks % bin.Ticks == 0 ? bin : throw new FormatException("expected a duration that divides an hour (1m, 5m, 10s)"),
            o => o.Collector.AnomalyBin.ToString(), "5m"),
        new("anomaly_threshold", "N", "robust standard deviations from the usual rate that make an event (default 5)",
            (o, v) => o.Collector.AnomalyThreshold = v.Number(double.Epsilon, "robust standard deviations (above 0)"), o => Text(o.Collector.AnomalyThreshold), "3"),
        new("anomaly_events_to", "DEST,...", "where session rate events go besides DATA_DIR/sessions/anomalies.jsonl: file:PATH, syslog:udp://HOST:PORT, syslog:tcp://HOST:PORT",
            (o, v) => o.Collector.AnomalyEventsTo = v.Destinations(false, "anomaly events are always kept in DATA_DIR/sessions/anomalies.jsonl; list file:PATH or syslog:… destinations"),
            o => Join(o.Collector.AnomalyEventsTo), "file:/tmp/anomalies.jsonl"),
        new("realtime_max_keys", "N", "flows one real-time flow definition holds at once (default 1000000; 1000 to 100000000)",
            (o, v) => o.Collector.RealtimeMaxKeys = v.Whole(1000, 100_000_000), o => Text(o.Collector.RealtimeMaxKeys), "50000"),
        new("realtime_max_keys_total", "N", "flows all real-time flow definitions hold together, 95 to 190 bytes each with two keys (default 4000000; 1000 to 1000000000)",
            (o, v) => o.Collector.RealtimeMaxKeysTotal = v.Whole(1000, 1_000_000_000), o => Text(o.Collector.RealtimeMaxKeysTotal), "200000"),
        new("threshold_events_to", "DEST,...", "where real-time threshold events go besides GET /events/json: file:PATH, syslog:udp://HOST:PORT, syslog:tcp://HOST:PORT",
            (o, v) => o.Collector.ThresholdEventsTo = v.Destinations(false, "events are always kept for GET /events/json; list file:PATH or syslog:… destinations"),
            o => Join(o.Collector.ThresholdEventsTo), "file:/tmp/events.jsonl"),
        new("event_webhooks", "URL,...", "POST each threshold event as JSON to these URLs, retried",
            (o, v) => o.Collector.EventWebhooks = v.List().Select(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri : throw new FormatException($"'{u}' is not an http:// or https:// URL")).ToList(),
            o => Join(o.Collector.EventWebhooks), "http://127.0.0.1:9000/hook", Aliases: ["--event-webhook"]),
        new("ddos", "off|dry-run|manual|automatic", "DDoS detection on the decoded stream for every public address of the inventory and the ddos_groups prefixes (docs/DDOS.md): dry-run reports attacks, manual announces a rule once approved, automatic at once (default off)",
            (o, v) => o.Ddos.Mode = DdosOptions.ParseMode(v.Scalar()), o => DdosOptions.Name(o.Ddos.Mode), "dry-run"),
        new("ddos_neighbors", "ADDR[:PORT]=AS,...", "BGP neighbours the FlowSpec rules are announced to (Flowline connects; IPv6 as [ADDR]:PORT)",
            (o, v) =>
            {
                foreach (var (endpoint, asn) in v.Map())
                {
                    var e = endpoint.Contains(':') && !endpoint.StartsWith('[') && endpoint.Count(c => c == ':') > 1 ? new IPEndPoint(IPAddress.Parse(endpoint), 179)
                        : IPEndPoint.TryParse(endpoint, out var parsed) ? parsed : throw new FormatException($"'{endpoint}' is not ADDR[:PORT]");
                    if (e.Port == 0 && endpoint.EndsWith(":0", StringComparison.Ordinal)) throw new FormatException($"'{endpoint}': port 0 (leave the port out for BGP's 179)");
                    o.Ddos.Neighbors.Add(new BgpNeighbor(e.Address, new SettingValue(asn).AsNumber(), e.Port == 0 ? 179 : e.Port));
                }
            }, o => Join(o.Ddos.Neighbors.Select(n => $"{n.Name}={n.As}")), "192.0.2.254:1179=65001", Repeatable: true),
        new("ddos_local_as", "AS", "the AS Flowline's BGP speaker speaks as (default 65000)",
            (o, v) => o.Ddos.Local = o.Ddos.Local with { As = v.AsNumber() }, o => Text(o.Ddos.Local.As), "64512"),
        new("ddos_router_id", "IPV4", "the speaker's BGP identifier (default 192.0.2.1)",
            (o, v) => o.Ddos.Local = o.Ddos.Local with
            {
                // Four dotted numbers (IPAddress also reads "1.2.3" as 1.2.0.3), and not 0.0.0.0, which RFC 4271 peers refuse.
                RouterId = v.Scalar().Split('.').Length == 4 && IPAddress.TryParse(v.Scalar(), out var id) && id.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
                    && !id.Equals(IPAddress.Any) ? id : throw new FormatException($"'{v.Scalar()}': expected an IPv4 address other than 0.0.0.0, four numbers, e.g. 10.0.0.1"),
            },
            o => o.Ddos.Local.RouterId.ToString(), "10.0.0.1"),
        new("ddos_action", "ACTION", "what a rule does: drop, rate-limit:BYTES_PER_SECOND, redirect:AS:N, mark:DSCP or blackhole (RFC 7999 community) (default drop)",
            (o, v) => o.Ddos.Action = MitigationAction.Parse(v.Scalar()), o => o.Ddos.Action.Text, "rate-limit:12500"),
        new("ddos_groups", "NAME=PREFIX[ PREFIX...],...", "protected prefixes with a group name, for their own thresholds and action; the group tenant holds the inventory's addresses",
            (o, v) =>
            {
                foreach (var (name, prefixes) in v.Map())
                {
                    var list = prefixes.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (list.Length == 0) throw new FormatException($"group '{name}': no prefixes (NAME=PREFIX[ PREFIX...])");
                    o.Ddos.Group(name).Prefixes.AddRange(list.Select(p => Prefix.TryParse(p, out var x) ? x : throw new FormatException($"'{p}' is not a prefix")));
                }
            }, o => Join(o.Ddos.Groups.Values.Where(g => g.Prefixes.Count > 0).Select(g => $"{g.Name}={string.Join(' ', g.Prefixes)}")), "web=203.0.113.0/24"),
        new("ddos_thresholds", "[GROUP.]CLASS=PPS[/BPS],...", "attack thresholds in packets (and bits) per second, all groups or one (k, m, g allowed; defaults in docs/DDOS.md)",
            (o, v) => o.Ddos.SetThresholds(v.Map()), o => Join(AttackClasses.All.Select(c => $"{c.Name()}={o.Ddos.Thresholds[(int)c]}")), "udp_amplification=50k/1g"),
        new("ddos_group_actions", "GROUP=ACTION,...", "an action per group in place of ddos_action",
            (o, v) =>
            {
                foreach (var (name, action) in v.Map()) o.Ddos.Group(name).Action = MitigationAction.Parse(action);
            }, o => Join(o.Ddos.Groups.Values.Where(g => g.Action is not null).Select(g => $"{g.Name}={g.Action}")), "tenant=blackhole"),
        new("ddos_hold", "DURATION", "a rule is withdrawn once its attack has stayed below threshold this long (default 60s)",
            (o, v) => o.Ddos.Hold = v.Duration(), o => o.Ddos.Hold.ToString(), "20s"),
        new("ddos_max_rules", "N", "rules announced at once at most; attacks beyond are reported with the rule failed (default 100)",
            (o, v) => o.Ddos.MaxRules = v.Positive(100_000), o => Text(o.Ddos.MaxRules), "10"),
        new("ddos_amplification_ports", "PORT,...", "UDP source ports of amplification attacks (default 19,53,123,161,389,1900,11211)",
            (o, v) => o.Ddos.AmplificationPorts = v.List().Select(p => ushort.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port > 0 ? port : throw new FormatException($"'{p}' is not a port")).ToHashSet(),
            o => Join(o.Ddos.AmplificationPorts.Order()), "53,123,3702"),
        new("ddos_blocklist", "FILE", "prefixes (one a line, # comments) whose traffic to protected addresses is an event; re-read when it changes (a file refused at start stops serve; later, the list in force stays)",
            (o, v) => o.Ddos.Blocklist = v.Scalar(), o => o.Ddos.Blocklist ?? "", "/etc/flowline/blocklist.txt"),
    ];

    private static readonly Dictionary<string, Setting> ByKey = All.ToDictionary(s => s.Key, StringComparer.Ordinal);

    private static readonly Dictionary<string, Setting> ByFlag =
        All.SelectMany(s => (s.Aliases ?? []).Append(s.Flag).Select(f => (f, s))).ToDictionary(p => p.f, p => p.s, StringComparer.Ordinal);

    public static Setting? Find(string key) => ByKey.GetValueOrDefault(key);

    public static Setting? FindFlag(string flag) => ByFlag.GetValueOrDefault(flag);

    /// <summary>The settings part of --help, one entry a setting: flag, value, meaning, and its YAML key and variable.</summary>
    public static string Help()
    {
        var s = new System.Text.StringBuilder();
        foreach (var setting in All)
        {
            var head = $"  {setting.Flag} {setting.Value}";
            s.Append(head);
            var words = (setting.Help + $" [{setting.Key}, {setting.Variable}" + (setting.Aliases is { } a ? ", also " + string.Join(", ", a) : "") + "]").Split(' ');
            var column = head.Length;
            var indent = 8;
            if (column > 30)
            {
                s.Append('\n').Append(' ', indent);
                column = indent;
            }
            else
            {
                s.Append(' ', 31 - column);
                column = 31;
                indent = 31;
            }
            var first = true;
            foreach (var w in words)
            {
                if (!first && column + 1 + w.Length > 104)
                {
                    s.Append('\n').Append(' ', indent);
                    column = indent;
                    first = true;
                }
                if (!first)
                {
                    s.Append(' ');
                    column++;
                }
                s.Append(w);
                column += w.Length;
                first = false;
            }
            s.Append('\n');
        }
        return s.ToString();
    }

}
