using System.Globalization;
using System.Net;
using Flowline.Ingest;
using YamlDotNet.RepresentationModel;

namespace Flowline.Server;

/// <summary>
/// One setting's value as given: a YAML node from the file, or the text of a variable or a flag. A list is a
/// YAML sequence or comma-separated text; a map is a YAML mapping or <c>KEY=VALUE</c> pairs separated by commas.
/// </summary>
public sealed class SettingValue
{
    private readonly YamlNode _node;

    public SettingValue(YamlNode node) => _node = node;

    public SettingValue(string text) => _node = new YamlScalarNode(text);

    public string Scalar() => _node is YamlScalarNode { Value: { } v } ? v : throw new FormatException("expected a single value");

    public bool Empty => _node is YamlScalarNode { Value: null or "" };

    public List<string> List() => _node switch
    {
        YamlSequenceNode seq => seq.Children.Select(c => c is YamlScalarNode { Value: { } v } ? v : throw new FormatException("expected a list of single values")).ToList(),
        YamlScalarNode { Value: null or "" } => [],
        _ => Scalar().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList(),
    };

    public List<(string Key, string Value)> Map() => _node switch
    {
        YamlMappingNode map => map.Children.Select(kv => (((YamlScalarNode)kv.Key).Value ?? "",
            kv.Value is YamlScalarNode { Value: { } v } ? v : throw new FormatException("expected KEY: VALUE pairs"))).ToList(),
        YamlScalarNode { Value: null or "" } => [],
        _ => List().Select(p => p.Split('=', 2) is [var k, var v] ? (k.Trim(), v.Trim()) : throw new FormatException($"'{p}': expected KEY=VALUE")).ToList(),
    };

    // ---- The value kinds settings share --------------------------------------------------------------------

    public int Positive(int max = int.MaxValue) => Whole(1, max);

    /// <summary>A whole number in [min, max]; outside it refused with the range (never clamped in silence).</summary>
    public int Whole(int min, int max) =>
        int.TryParse(Scalar(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max ? v
            : throw new FormatException($"'{Scalar()}' is not a whole number from {min.ToString("N0", CultureInfo.InvariantCulture)} to {max.ToString("N0", CultureInfo.InvariantCulture)}");

    /// <summary>A BGP AS number, 1 to 4294967295 (four octets).</summary>
    public uint AsNumber() =>
        uint.TryParse(Scalar(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v >= 1 ? v
            : throw new FormatException($"'{Scalar()}' is not an AS number from 1 to 4,294,967,295");

    public double Number(double min, string what) =>
        double.TryParse(Scalar(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= min && double.IsFinite(v) ? v : throw new FormatException($"expected {what}");

    public bool Flag() => Scalar().ToLowerInvariant() switch
    {
        "true" or "on" or "yes" or "1" => true,
        "false" or "off" or "no" or "0" => false,
        _ => throw new FormatException("expected true or false"),
    };

    public TimeSpan Duration() => Records.Durations.Parse(Scalar());

    public int Size() => (int)CollectorOptions.Size(Scalar());

    /// <summary>A size beyond 2 GiB (memory budgets: up to 1 TiB).</summary>
    public long LargeSize() => CollectorOptions.Size(Scalar(), 1L << 40);

    public IPEndPoint Endpoint(string what) => CollectorOptions.ParseEndpoint(Scalar(), what);

    public List<IPEndPoint> Endpoints(string what) => List().Select(e => CollectorOptions.ParseEndpoint(e, what)).ToList();

    public List<string> Destinations(bool allowStore, string storeRefusal) =>
        List().Select(d => d != "store" || allowStore ? CollectorOptions.CheckDestination(d) : throw new FormatException(storeRefusal)).ToList();

    /// <summary>Prefixes ADDR/LEN, or single addresses (a /32 or /128).</summary>
    public List<Records.Prefix> Prefixes() => List().Select(t =>
    {
        if (Records.Prefix.TryParse(t, out var p)) return p;
        if (IPAddress.TryParse(t, out var a))
        {
            var address = Records.FlowAddress.FromIPAddress(a);
            return Records.Prefix.Create(address, address.IsV4 ? 32 : 128);
        }
        throw new FormatException($"'{t}' is not an address or a prefix like 192.0.2.0/24");
    }).ToList();

    public long LongSize() => CollectorOptions.Size(Scalar());

    public static IPAddress Address(string text) =>
        IPAddress.TryParse(text, out var a) ? CollectorOptions.Normalize(a) : throw new FormatException($"'{text}' is not an address");
}
