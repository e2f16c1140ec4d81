using System.Globalization;
using System.Net;
using Flowline.Records;

namespace Flowline.Ingest;

/// <summary>
/// What the collector is told: listeners, queues, batching, tenancy, sessions and real-time analytics.
/// `flowline serve` fills it from its one settings table (Flowline.Server.ServeSettings).
/// </summary>
public sealed class CollectorOptions
{
    public List<IPEndPoint> Sflow { get; set; } = [new(IPAddress.IPv6Any, 6343)];
    public List<IPEndPoint> Netflow { get; set; } = [new(IPAddress.IPv6Any, 2055)];
    public List<IPEndPoint> Ipfix { get; set; } = [new(IPAddress.IPv6Any, 4739)];
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
    /// <summary>A partition whose end has passed is merged into its final segment once no commit came for this long.</summary>
    public TimeSpan CompactAfter { get; set; } = TimeSpan.FromMinutes(1);
    /// <summary>Partitions (flows and sessions) that ended longer ago than this are removed (seed 000: 15 days).</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(15);
    /// <summary>Width of the store's time partitions, for a new data directory (null: the store's own, 5 minutes when new).</summary>
    public TimeSpan? PartitionWidth { get; set; }
    /// <summary>Memory compaction may hold (the embedded store's budget).</summary>
    public long CompactionMemory { get; set; } = 512L << 20;
    /// <summary>The inventory file (accounts, networks, ports, security groups); null: records are stored without tenancy.</summary>
    public string? Inventory { get; set; }
    /// <summary>The @ip-location-db packages' directory for country and AS of public addresses; null: FLOWLINE_GEO_DIR.</summary>
    public string? GeoDir { get; set; }
    /// <summary>Countries from the CSV range files (default) or from a <c>*-country-mmdb</c> package (MaxMind DB).</summary>
    public Enrichment.GeoFormat GeoFormat { get; set; } = Enrichment.GeoFormat.Csv;
    /// <summary>Sessionize the records: on, off, or auto (on when an inventory is configured).</summary>
    public string Sessions { get; set; } = "auto";
    /// <summary>How often sessions are flushed, sampled, logged and stored (seed 000: every 2 s).</summary>
    public TimeSpan SessionInterval { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>Open sessions held at most (all decoders together); past it the least recently used are forgotten or exported early.</summary>
    public int SessionMaxOpen { get; set; } = 1_000_000;
    /// <summary>
    /// New sessions a second (all decoders together) above which the sessionizers hold only one session in N,
    /// chosen by key hash, and scale its counts by N (input sampling: load shed before anything is dropped);
    /// 0: never.
    /// </summary>
    public double SessionInputRate { get; set; } = 250_000;
    /// <summary>Sessions exported per second at most, on average (session sampling); 0: every session.</summary>
    public double SessionExportRate { get; set; } = DefaultSessionExportRate;
    /// <summary>
    /// Every session is stored while sessions come slower than this; above it the sampler holds the export
    /// rate here (upscaling what it keeps), so a flood of new conversations costs a bounded share of ingest.
    /// </summary>
    public const double DefaultSessionExportRate = 50_000;
    /// <summary>Bytes at or above which a session is always exported (the sampler adapts it to the export rate).</summary>
    public double SessionThreshold { get; set; } = 1;
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
    /// <summary>Flows all real-time flow definitions hold together (realtime_max_keys_total).</summary>
    public long RealtimeMaxKeysTotal { get; set; } = 4_000_000;
    /// <summary>Where threshold events go besides GET /events/json: file:PATH, syslog:udp://… (threshold_events_to).</summary>
    public List<string> ThresholdEventsTo { get; set; } = [];
    /// <summary>URLs each threshold event is POSTed to as JSON, with retries (event_webhooks).</summary>
    public List<Uri> EventWebhooks { get; set; } = [];
    /// <summary>Which of an exporter's observations of a packet the sessions count (ingress, egress, both).</summary>
    public Flowline.Sessions.SessionObservation SessionObservation { get; set; } = Flowline.Sessions.SessionObservation.Auto;

    /// <summary>Source prefixes exporters may send from (exporters_allowed); empty: every source.</summary>
    public List<Prefix> ExportersAllowed { get; set; } = [];
    /// <summary>An sFlow datagram's agent address must be its source address unless the source is a relay (sflow_agent_check).</summary>
    public bool SflowAgentCheck { get; set; }
    /// <summary>Sources allowed to send sFlow on behalf of other agents under <see cref="SflowAgentCheck"/> (sflow_relays).</summary>
    public List<Prefix> SflowRelays { get; set; } = [];
    /// <summary>Exporters (address, protocol, domain) tracked at most; the idle and those that never sent a record go first (max_exporters).</summary>
    public int MaxExporters { get; set; } = 10_000;
    /// <summary>An exporter not heard from this long is forgotten (exporter_idle).</summary>
    public TimeSpan ExporterIdle { get; set; } = TimeSpan.FromHours(24);

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

    /// <summary>
    /// "udp://HOST:PORT" (the scheme may be left out): an address, [IPv6], or a name resolved here (its IPv4
    /// address first). Port 0 only when <paramref name="anyPort"/> (a listener the system gives a port).
    /// </summary>
    public static IPEndPoint ParseUdp(string text, string what, bool anyPort = false)
    {
        var rest = text.StartsWith("udp://", StringComparison.OrdinalIgnoreCase) ? text[6..] : text;
        var colon = rest.LastIndexOf(':');
        var expected = $"{what} {text}: expected udp://HOST:PORT, e.g. udp://127.0.0.1:2055, udp://[::1]:4739 or udp://localhost:6343";
        if (colon <= 0 || !int.TryParse(rest.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535 || (port == 0 && !anyPort))
        {
            throw new FormatException(expected);
        }
        var host = rest[..colon];
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        else if (host.Contains(':')) throw new FormatException(expected); // an IPv6 address needs its brackets
        if (IPAddress.TryParse(host, out var address)) return new IPEndPoint(address, port);
        IPAddress[] found;
        try
        {
            found = Dns.GetHostAddresses(host);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            throw new FormatException($"{what} {text}: cannot resolve {host}: {e.Message}");
        }
        var pick = found.FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) ?? found.FirstOrDefault()
            ?? throw new FormatException($"{what} {text}: {host} has no address");
        return new IPEndPoint(pick, port);
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

    /// <summary>A byte size: 1048576, 512k, 32m, 1g; at most <paramref name="max"/> (a buffer's 2 GiB unless said).</summary>
    public static long Size(string text, long max = int.MaxValue)
    {
        var t = text.Trim().ToLowerInvariant();
        long unit = 1;
        if (t.EndsWith('k')) unit = 1 << 10;
        else if (t.EndsWith('m')) unit = 1 << 20;
        else if (t.EndsWith('g')) unit = 1 << 30;
        if (unit > 1) t = t[..^1];
        if (!long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v <= 0 || v > long.MaxValue / unit)
        {
            throw new FormatException($"'{text}' is not a size (such as 1048576, 512k, 32m)");
        }
        return v * unit <= max ? v * unit : throw new FormatException($"'{text}' is more than this setting takes (at most {max >> 20}m)");
    }

    /// <summary>500ms, 2s, 10m, 1h (<see cref="Durations"/>).</summary>
    public static TimeSpan Duration(string text) => Durations.Parse(text);
}
