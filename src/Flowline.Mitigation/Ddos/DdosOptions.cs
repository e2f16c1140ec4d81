using System.Globalization;
using Flowline.Mitigation.Bgp;
using Flowline.Records;
using Flowline.Wire.Bgp;

namespace Flowline.Mitigation.Ddos;

/// <summary>What happens when an attack is found.</summary>
public enum DdosMode
{
    /// <summary>No detection at all.</summary>
    Off,
    /// <summary>Detect and report; announce nothing.</summary>
    DryRun,
    /// <summary>Detect, report, and announce a rule once an operator approves it.</summary>
    Manual,
    /// <summary>Detect, report and announce at once.</summary>
    Automatic,
}

/// <summary>What a rule does to the attack's traffic: drop, limit, redirect into a VRF, mark, or RFC 7999 blackhole.</summary>
public sealed record MitigationAction(string Text, IReadOnlyList<FlowSpecAction> Actions, IReadOnlyList<uint> Communities)
{
    public static readonly MitigationAction Drop = new("drop", [FlowSpecAction.Drop], []);

    /// <summary>drop | rate-limit:BYTES_PER_SECOND | redirect:AS:N | mark:DSCP | blackhole</summary>
    public static MitigationAction Parse(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        var parts = t.Split(':');
        static uint Number(string s, uint max, string what) =>
            uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= max ? n : throw new FormatException($"{what}: '{s}' is not a number up to {max}");
        return parts[0] switch
        {
            "drop" when parts.Length == 1 => Drop,
            "rate-limit" when parts.Length == 2 => new(t, [new FlowSpecAction.RateLimit(Number(parts[1], uint.MaxValue, "rate-limit bytes per second"))], []),
            "redirect" when parts.Length == 3 => new(t, [new FlowSpecAction.Redirect((ushort)Number(parts[1], ushort.MaxValue, "redirect AS"), Number(parts[2], uint.MaxValue, "redirect value"))], []),
            "mark" when parts.Length == 2 => new(t, [new FlowSpecAction.Mark((byte)Number(parts[1], 63, "mark DSCP"))], []),
            // RFC 7999: the attacked address alone, with the BLACKHOLE community (and NO_EXPORT, as it recommends).
            "blackhole" when parts.Length == 1 => new(t, [], [FlowSpecAction.Blackhole, 0xFFFF_FF01]),
            _ => throw new FormatException($"action '{text}': expected drop, rate-limit:BYTES_PER_SECOND, redirect:AS:N, mark:DSCP or blackhole"),
        };
    }

    public override string ToString() => Text;
}

/// <summary>A set of protected prefixes with its own name, and optionally its own thresholds and action.</summary>
public sealed class ProtectedGroup(string name)
{
    public string Name { get; } = name;
    public List<Prefix> Prefixes { get; } = [];
    /// <summary>Per-class thresholds in place of the defaults (absent classes keep the defaults).</summary>
    public Dictionary<AttackClass, AttackThreshold> Thresholds { get; } = [];
    public MitigationAction? Action { get; set; }
}

/// <summary>DDoS detection and mitigation settings (serve's ddos_* settings; docs/DDOS.md).</summary>
public sealed class DdosOptions
{
    public DdosMode Mode { get; set; } = DdosMode.Off;
    public AttackThreshold[] Thresholds { get; } = [.. AttackClasses.Defaults];
    public Dictionary<string, ProtectedGroup> Groups { get; } = new(StringComparer.Ordinal);
    public MitigationAction Action { get; set; } = MitigationAction.Drop;
    /// <summary>A rule stays until the attack has stayed below its threshold this long.</summary>
    public TimeSpan Hold { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Time constant of the smoothing of rates (an exponentially weighted average).</summary>
    public TimeSpan Smoothing { get; set; } = TimeSpan.FromMilliseconds(500);
    /// <summary>Rules announced at once at most; attacks beyond are reported with the mitigation failed.</summary>
    public int MaxRules { get; set; } = 100;
    /// <summary>Addresses × classes tracked at once; beyond, new ones are counted and not tracked.</summary>
    public int MaxTracked { get; set; } = 100_000;
    /// <summary>UDP source ports of amplification: DNS, NTP, SSDP, memcached, CLDAP, chargen, SNMP.</summary>
    public HashSet<ushort> AmplificationPorts { get; set; } = [53, 123, 1900, 11211, 389, 19, 161];
    /// <summary>A file of prefixes (one a line, # comments) whose traffic to protected addresses is reported; re-read when it changes.</summary>
    public string? Blocklist { get; set; }
    public BgpLocal Local { get; set; } = new(65000, System.Net.IPAddress.Parse("192.0.2.1"));
    public List<BgpNeighbor> Neighbors { get; } = [];
    /// <summary>Attacks kept in the list after they end.</summary>
    public int History { get; set; } = 1000;

    /// <summary>
    /// CLASS=PPS[/BPS],... or GROUP.CLASS=PPS[/BPS],... (k, m, g allowed: 100k, 2g); a group named here must
    /// be defined by ddos_groups (serve checks it once every setting is read). Without /BPS the bit rate stays
    /// the class's (a group's: the class's for every group), /0 turns it off.
    /// </summary>
    public void SetThresholds(IEnumerable<(string Key, string Value)> entries)
    {
        foreach (var (key, value) in entries)
        {
            var dot = key.IndexOf('.');
            var className = dot < 0 ? key : key[(dot + 1)..];
            if (!AttackClasses.TryParse(className, out var c))
                throw new FormatException($"'{key}': unknown attack class '{className}' (one of {string.Join(", ", AttackClasses.All.Select(a => a.Name()))})");
            var slash = value.IndexOf('/');
            // PPS alone changes the packet rate and keeps the class's bit rate (PPS/0 turns bit rates off).
            var threshold = new AttackThreshold(Rate(slash < 0 ? value : value[..slash]), slash < 0 ? Thresholds[(int)c].Bps : Rate(value[(slash + 1)..]));
            if (dot < 0) Thresholds[(int)c] = threshold;
            else Group(key[..dot]).Thresholds[c] = threshold;
        }
    }

    /// <summary>The group named <paramref name="name"/>, made when new.</summary>
    public ProtectedGroup Group(string name)
    {
        if (name.Length is 0 or > 64 || name.Any(ch => !(char.IsAsciiLetterOrDigit(ch) || ch is '_' or '-')))
            throw new FormatException($"group '{name}': expected 1 to 64 letters, digits, '_' or '-'");
        if (!Groups.TryGetValue(name, out var g)) Groups[name] = g = new ProtectedGroup(name);
        return g;
    }

    /// <summary>A rate: a number with an optional k, m or g (thousands, millions, billions).</summary>
    public static double Rate(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        var scale = t.Length > 0 ? t[^1] switch { 'k' => 1e3, 'm' => 1e6, 'g' => 1e9, _ => 1 } : 1;
        if (scale != 1) t = t[..^1];
        return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) && r >= 0 && double.IsFinite(r)
            ? r * scale : throw new FormatException($"'{text}': expected a rate such as 50000, 100k or 2g");
    }

    public static string Name(DdosMode m) => m switch { DdosMode.DryRun => "dry-run", _ => m.ToString().ToLowerInvariant() };

    public static DdosMode ParseMode(string text) => text.Trim().ToLowerInvariant() switch
    {
        // Only the four names: "on" or "true" would have to guess how far to go, and automatic announces without approval.
        "off" => DdosMode.Off,
        "dry-run" => DdosMode.DryRun,
        "manual" => DdosMode.Manual,
        "automatic" => DdosMode.Automatic,
        _ => throw new FormatException($"'{text}': expected off, dry-run, manual or automatic"),
    };
}
