using System.Globalization;
using System.Text.Json.Nodes;

namespace Flowline.Realtime;

/// <summary>
/// A flow definition as sFlow-RT takes it (<c>PUT /flow/{name}/json</c>): the keys that name a flow, the
/// value summed (bytes, frames or flows), an optional filter, the smoothing time constant <c>t</c> in
/// seconds, the <c>n</c> largest flows reported per data source, and whether flows are logged (at their
/// start with <c>flowStart</c>, else when they end: no update for <c>activeTimeout</c> seconds).
/// </summary>
public sealed record FlowDefinition
{
    public const double DefaultT = 2;

    /// <summary>The shortest smoothing time constant, seconds.</summary>
    public const double MinT = 0.1;
    public const int DefaultN = 5;
    public const double DefaultActiveTimeout = 20;

    public required string Keys { get; init; }
    public string Value { get; init; } = "bytes";
    public string? Filter { get; init; }
    public double T { get; init; } = DefaultT;
    public int N { get; init; } = DefaultN;
    public bool Log { get; init; }
    public bool FlowStart { get; init; }
    public double ActiveTimeout { get; init; } = DefaultActiveTimeout;
    /// <summary>Separator of the key values in a flow's key text.</summary>
    public string Fs { get; init; } = ",";

    public static readonly string[] Values = ["bytes", "frames", "flows"];

    /// <summary>Reads the JSON body of a PUT; a <see cref="FormatException"/> names the bad field.</summary>
    public static FlowDefinition FromJson(string json)
    {
        var o = DefinitionJson.Parse(json, "keys", "value", "filter", "t", "n", "log", "flowStart", "activeTimeout", "fs");
        var keys = Text(o, "keys") ?? throw new FormatException("'keys' is required, e.g. \"ipsource,ipdestination\"");
        var value = Text(o, "value") ?? "bytes";
        if (value is "packets") value = "frames";
        if (!Values.Contains(value)) throw new FormatException($"value '{value}': expected bytes, frames or flows");
        var t = DefinitionJson.Number(o, "t") ?? DefaultT;
        // Below a tenth of a second (finer than batches arrive) the decay would overflow between the table's rebasings.
        if (t is < MinT or > 3600 || double.IsNaN(t)) throw new FormatException($"t {t}: expected seconds from {MinT} to 3600");
        var n = DefinitionJson.Number(o, "n") ?? DefaultN;
        if (n is < 1 or > 10_000 || n != Math.Floor(n)) throw new FormatException($"n {n}: expected a whole number from 1 to 10000");
        var timeout = DefinitionJson.Number(o, "activeTimeout") ?? DefaultActiveTimeout;
        if (timeout is <= 0 or > 86_400) throw new FormatException($"activeTimeout {timeout}: expected seconds between 0 and 86400");
        var fs = Text(o, "fs") ?? ",";
        // The separator splits a flow's key into its values again (Prometheus labels, the console): none would leave one value.
        if (fs.Length is 0 or > 16) throw new FormatException($"fs '{fs}': expected a separator of 1 to 16 characters between key values, e.g. \",\"");
        return new FlowDefinition
        {
            Keys = keys,
            Value = value,
            Filter = Text(o, "filter") is { Length: > 0 } f ? f : null,
            T = t,
            N = (int)n,
            Log = DefinitionJson.Flag(o, "log"),
            FlowStart = DefinitionJson.Flag(o, "flowStart"),
            ActiveTimeout = timeout,
            Fs = fs,
        };
    }

    public JsonObject ToJson()
    {
        var o = new JsonObject { ["keys"] = Keys, ["value"] = Value };
        if (Filter is not null) o["filter"] = Filter;
        o["t"] = T;
        o["n"] = N;
        o["log"] = Log;
        o["flowStart"] = FlowStart;
        o["activeTimeout"] = ActiveTimeout;
        o["fs"] = Fs;
        return o;
    }

    private static string? Text(JsonObject o, string name) => o[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        // Prometheus-style clients send lists; sFlow-RT joins them.
        JsonArray a => string.Join(",", a.Select(x => x?.ToString())),
        var other => throw new FormatException($"'{name}': expected text, got {other.ToJsonString()}"),
    };
}

/// <summary>Reading the JSON bodies of definitions (flows, thresholds): one object, known fields only, lenient numbers and flags.</summary>
internal static class DefinitionJson
{
    /// <summary>The body as an object; a <see cref="FormatException"/> for anything else or a field not in <paramref name="known"/>.</summary>
    public static JsonObject Parse(string json, params string[] known)
    {
        JsonObject o;
        try
        {
            o = JsonNode.Parse(json) as JsonObject ?? throw new FormatException("expected a JSON object");
            // Members are read here, all of them: a name given twice, or a string escaping half a surrogate pair,
            // is refused now rather than when a value is asked for.
            foreach (var (name, value) in o)
            {
                if (!known.Contains(name)) throw new FormatException($"unknown field '{name}' (known: {string.Join(", ", known)})");
                if (value is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String) _ = v.GetValue<string>();
            }
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException or InvalidOperationException)
        {
            throw new FormatException($"not JSON, a field given twice, or text that is not valid UTF-16: {e.Message}");
        }
        return o;
    }

    /// <summary>A finite number, also when sent as text (query-string clients); null when absent.</summary>
    public static double? Number(JsonObject o, string name) => o[name] switch
    {
        null => null,
        // 1e999 reads as infinity, which no JSON answer or saved file can carry back: refused like any non-number.
        JsonValue v when v.TryGetValue<double>(out var d) && double.IsFinite(d) => d,
        JsonValue v when v.TryGetValue<string>(out var s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) => d,
        var other => throw new FormatException($"'{name}': expected a number, got {other.ToJsonString()}"),
    };

    public static bool Flag(JsonObject o, string name) => o[name] switch
    {
        null => false,
        JsonValue v when v.TryGetValue<bool>(out var b) => b,
        JsonValue v when v.TryGetValue<string>(out var s) && bool.TryParse(s, out var b) => b,
        var other => throw new FormatException($"'{name}': expected true or false, got {other.ToJsonString()}"),
    };
}
