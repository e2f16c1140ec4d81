using System.Net;
using Flowline.Ingest;

namespace Flowline.Server;

/// <summary>
/// Everything `flowline serve` is told: the collector's settings and those of the HTTP faces. Filled from
/// the one table <see cref="ServeSettings"/>: defaults, then the YAML file, then FLOWLINE_* variables, then flags.
/// </summary>
public sealed class ServeOptions
{
    public CollectorOptions Collector { get; } = new();
    public IPEndPoint Http { get; set; } = new(IPAddress.IPv6Any, 8008);
    /// <summary>How log events are written (log_format).</summary>
    public Logging.LogFormat LogFormat { get; set; } = Logging.LogFormat.Text;
    /// <summary>The least important events written (log_level).</summary>
    public Microsoft.Extensions.Logging.LogLevel LogLevel { get; set; } = Microsoft.Extensions.Logging.LogLevel.Information;
    /// <summary>The admin password's salted hash (`flowline keys hash-password`); null: no key reads another account.</summary>
    public string? AdminPasswordHash { get; set; }
    /// <summary>The zone of DescribeFlowLog's times: IST (default), UTC, +HH:MM or a zone name.</summary>
    public string JcsTimeZone { get; set; } = "IST";
    /// <summary>A bearer token that reads the sFlow-RT face (Prometheus scrapes); null: only signed admin requests read it.</summary>
    public string? ScrapeToken { get; set; }
    /// <summary>The sFlow-RT face open without signature to clients on loopback (sFlow-RT's own behaviour).</summary>
    public bool RealtimeOpenOnLoopback { get; set; }
    /// <summary>The file the access keys' secrets are sealed under (key_file); null: DATA_DIR/keys.key.</summary>
    public string? KeyFile { get; set; }
    /// <summary>The largest request body (max_request_body).</summary>
    public long MaxRequestBody { get; set; } = 4 << 20;
    /// <summary>The largest inventory upload or agent batch (max_upload_body).</summary>
    public long MaxUploadBody { get; set; } = 64L << 20;
    /// <summary>HTTPS for the HTTP listener: a PEM certificate (chain) or a PKCS#12 file; null: plain HTTP.</summary>
    public string? TlsCertificate { get; set; }
    /// <summary>The PEM private key of <see cref="TlsCertificate"/> when it is not in the certificate file.</summary>
    public string? TlsKey { get; set; }
    /// <summary>The Open vSwitch database the tap driver programs (unix:PATH or tcp:HOST:PORT); null: taps are kept but not carried.</summary>
    public string? TaasOvsdb { get; set; }
    /// <summary>Flows in ClickHouse (store: clickhouse://...); null: the embedded store in data_dir.</summary>
    public Flowline.Storage.ClickHouse.ClickHouseStoreOptions? ClickHouse { get; set; }
    /// <summary>False: an API node (collect: false): no flow listeners, the store only read.</summary>
    public bool Collect { get; set; } = true;
    /// <summary>DDoS detection and mitigation (the ddos_* settings).</summary>
    public Flowline.Mitigation.Ddos.DdosOptions Ddos { get; } = new();
}

/// <summary>Reads serve's settings in order: defaults, the YAML file, FLOWLINE_* variables, flags; errors name where.</summary>
public static class ServeOptionsReader
{
    /// <summary>The options from <paramref name="args"/> (flags, <c>--config FILE</c> among them) and the variables.</summary>
    public static ServeOptions Read(IReadOnlyList<string> args, Func<string, string?> variable)
    {
        var options = new ServeOptions();
        var flags = new List<(Setting Setting, string Flag, string Value)>();
        string? config = null;
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            string Next() => i + 1 < args.Count ? args[++i] : throw new FormatException($"{a} needs a value");
            if (a == "--config")
            {
                config = Next();
                continue;
            }
            var setting = ServeSettings.FindFlag(a) ?? throw new FormatException($"unknown option {a} (see `flowline serve --help`)");
            flags.Add((setting, a, Next()));
        }
        if (config is not null)
        {
            if (!File.Exists(config)) throw new FormatException($"--config {config}: no such file");
            ApplyYaml(options, config);
        }
        foreach (var setting in ServeSettings.All)
        {
            if (variable(setting.Variable) is not { Length: > 0 } text) continue;
            Apply(options, setting, new SettingValue(text), setting.Variable);
        }
        // A listener flag given several times lists them all; any other flag given twice, the last wins.
        foreach (var group in flags.GroupBy(f => f.Setting))
        {
            var setting = group.Key;
            if (setting.Repeatable) Apply(options, setting, new SettingValue(string.Join(",", group.Select(f => f.Value))), group.First().Flag);
            else foreach (var (_, flag, value) in group) Apply(options, setting, new SettingValue(value), flag);
        }
        // Thresholds and actions for a group no ddos_groups entry defines would apply to nothing: a misspelt name.
        if (options.Ddos.Groups.Values.FirstOrDefault(g => g.Prefixes.Count == 0 && g.Name != Flowline.Mitigation.Ddos.ProtectedSet.TenantGroup) is { } undefined)
        {
            throw new FormatException($"ddos_thresholds / ddos_group_actions: group '{undefined.Name}' is not defined by ddos_groups (groups: {string.Join(", ", options.Ddos.Groups.Values.Where(g => g.Prefixes.Count > 0).Select(g => g.Name).Append(Flowline.Mitigation.Ddos.ProtectedSet.TenantGroup))})");
        }
        return options;
    }

    /// <summary>FLOWLINE_* variables the other commands read (clients, import, the agent): set beside serve's, they are no typo.</summary>
    private static readonly HashSet<string> OtherVariables = new(StringComparer.Ordinal)
    {
        "FLOWLINE_ACCESS_KEY", "FLOWLINE_SECRET_KEY", "FLOWLINE_ADMIN_PASSWORD", "FLOWLINE_AGENT_SECRET", "FLOWLINE_CA_CERT",
        "FLOWLINE_GEO_DIR", "FLOWLINE_JCS_TIME_ZONE", "FLOWLINE_KEY_FILE", "FLOWLINE_URL",
    };

    /// <summary>
    /// The FLOWLINE_* variables among <paramref name="names"/> that no command reads, each with the setting's
    /// variable it most likely meant (null when none is close): a misspelt variable is otherwise ignored in silence.
    /// </summary>
    public static IEnumerable<(string Name, string? Meant)> UnknownVariables(IEnumerable<string> names)
    {
        foreach (var name in names.Where(n => n.StartsWith("FLOWLINE_", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            if (OtherVariables.Contains(name) || ServeSettings.All.Any(s => s.Variable == name)) continue;
            var closest = ServeSettings.All.Select(s => s.Variable).Concat(OtherVariables).MinBy(v => Distance(v, name))!;
            yield return (name, Distance(closest, name) <= 2 ? closest : null);
        }
    }

    /// <summary>Edits (insert, delete, substitute) from <paramref name="a"/> to <paramref name="b"/>.</summary>
    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var diagonal = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }

    private static void Apply(ServeOptions options, Setting setting, SettingValue value, string where)
    {
        try
        {
            setting.Apply(options, value);
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
        {
            throw new FormatException($"{where}: {e.Message}");
        }
    }

    /// <summary>A YAML mapping of settings; errors name the file, the line and the key.</summary>
    public static void ApplyYaml(ServeOptions options, string path)
    {
        var yaml = new YamlDotNet.RepresentationModel.YamlStream();
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
        if (yaml.Documents[0].RootNode is not YamlDotNet.RepresentationModel.YamlMappingNode root) throw new FormatException($"{path}: expected a mapping of settings");
        foreach (var (keyNode, value) in root.Children)
        {
            var key = (keyNode as YamlDotNet.RepresentationModel.YamlScalarNode)?.Value ?? "";
            var setting = ServeSettings.Find(key) ?? throw new FormatException($"{path}:{keyNode.Start.Line}: {key}: unknown setting (see docs/flowline.example.yaml)");
            // A key present with no value keeps the default.
            if (value is YamlDotNet.RepresentationModel.YamlScalarNode { Value: null or "" }) continue;
            Apply(options, setting, new SettingValue(value), $"{path}:{keyNode.Start.Line}: {key}");
        }
    }
}
