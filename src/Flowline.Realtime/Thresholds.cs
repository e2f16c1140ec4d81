using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace Flowline.Realtime;

/// <summary>
/// A threshold as sFlow-RT takes it (<c>PUT /threshold/{name}/json</c>): an event when <c>metric</c> (a
/// flow definition's name or a counter metric such as <c>ifinutilization</c>) rises above <c>value</c>; with
/// <c>byFlow</c> one event per flow rather than per data source. After an event the threshold re-arms
/// for that flow (or data source) once it has stayed at or below the value for <c>timeout</c> seconds.
/// </summary>
public sealed record ThresholdDefinition
{
    public const double DefaultTimeout = 60;

    public required string Metric { get; init; }
    public required double Value { get; init; }
    public bool ByFlow { get; init; }
    public double Timeout { get; init; } = DefaultTimeout;

    public static ThresholdDefinition FromJson(string json)
    {
        var o = DefinitionJson.Parse(json, "metric", "value", "byFlow", "timeout");
        var metric = o["metric"] is JsonValue m && m.TryGetValue<string>(out var ms) && ms.Length > 0 ? ms
            : throw new FormatException("'metric' is required: a flow definition's name or a counter metric");
        var value = DefinitionJson.Number(o, "value") ?? throw new FormatException("'value' is required: the level above which an event is raised");
        var timeout = DefinitionJson.Number(o, "timeout") ?? DefaultTimeout;
        if (timeout is <= 0 or > 86_400) throw new FormatException($"timeout {timeout}: expected seconds between 0 and 86400");
        var byFlow = DefinitionJson.Flag(o, "byFlow");
        return new ThresholdDefinition { Metric = metric, Value = value, ByFlow = byFlow, Timeout = timeout };
    }

    public JsonObject ToJson() => new() { ["metric"] = Metric, ["value"] = Value, ["byFlow"] = ByFlow, ["timeout"] = Timeout };
}

/// <summary>Where events go: the engine's journal and its listeners (syslog, webhooks).</summary>
public sealed class ThresholdSink(Journal journal, Action<JsonObject>? raised)
{
    public Journal Journal { get; } = journal;

    /// <summary>A flow definition taken out of service: an event of its own kind (<c>disabled</c>), in the same stream.</summary>
    public void Disabled(string flow, string reason, long time)
    {
        var e = new JsonObject { ["type"] = "disabled", ["metric"] = flow, ["reason"] = reason, ["timestamp"] = time / 1000 };
        Journal.Add(e);
        raised?.Invoke((JsonObject)e.DeepClone());
    }

    public void Raise(string threshold, ThresholdDefinition definition, double value, DataSource source, string? flowKey, long time)
    {
        var e = new JsonObject
        {
            ["thresholdID"] = threshold,
            ["metric"] = definition.Metric,
            ["value"] = value,
            ["threshold"] = definition.Value,
            ["agent"] = source.Agent.ToString(),
            ["dataSource"] = source.ToString(),
        };
        if (flowKey is not null) e["flowKey"] = flowKey;
        e["timestamp"] = time / 1000;
        Journal.Add(e);
        raised?.Invoke((JsonObject)e.DeepClone());
    }
}

/// <summary>Byte-string keys compared by content; spans look up without allocating.</summary>
internal sealed class ByteKeyComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    public static readonly ByteKeyComparer Instance = new();

    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

    public int GetHashCode(byte[] obj) => Hash(obj);

    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

    private static int Hash(ReadOnlySpan<byte> bytes)
    {
        var h = new HashCode();
        h.AddBytes(bytes);
        return h.ToHashCode();
    }
}

/// <summary>A threshold in force: what crossed it lately (data source, and flow with byFlow) and when last above.</summary>
internal sealed class ThresholdState(string name, ThresholdDefinition definition)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<byte[], long> _above = new(ByteKeyComparer.Instance);
    private long _untracked;

    /// <summary>Data sources or flows above the value one threshold remembers at most (each until its timeout).</summary>
    public const int MaxOutstanding = 100_000;

    /// <summary>Crossings not remembered, nor raised, because <see cref="MaxOutstanding"/> were outstanding.</summary>
    public long Untracked => Interlocked.Read(ref _untracked);

    public string Name { get; } = name;
    public ThresholdDefinition Definition { get; } = definition;

    /// <summary>A flow's rate is above the value: an event unless this flow (or data source) has one outstanding.</summary>
    public void Crossed(FlowTable table, DataSource source, ReadOnlySpan<byte> key, double rate, long time, ThresholdSink sink)
    {
        if (!Note(source, Definition.ByFlow ? key : [], time)) return;
        sink.Raise(Name, Definition, rate, source, table.Render(key), time);
    }

    /// <summary>A counter metric of a data source is above the value.</summary>
    public void Crossed(DataSource source, double value, long time, ThresholdSink sink)
    {
        if (!Note(source, [], time)) return;
        sink.Raise(Name, Definition, value, source, null, time);
    }

    /// <summary>Records the time; true when nothing was outstanding for it (an event is due).</summary>
    private bool Note(DataSource source, ReadOnlySpan<byte> key, long time)
    {
        Span<byte> id = stackalloc byte[20 + key.Length];
        source.Agent.WriteV6(id);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(id[16..], source.Index);
        key.CopyTo(id[20..]);
        lock (_lock)
        {
            var lookup = _above.GetAlternateLookup<ReadOnlySpan<byte>>();
            if (_above.Count >= MaxOutstanding && !lookup.ContainsKey(id))
            {
                // Made-up sources or flows crossing a low value would otherwise be remembered for the whole timeout.
                Interlocked.Increment(ref _untracked);
                return false;
            }
            ref var last = ref CollectionsMarshal.GetValueRefOrAddDefault(lookup, id, out var outstanding);
            last = Math.Max(last, time);
            return !outstanding;
        }
    }

    /// <summary>Forgets what has not been above the value for the timeout: its next crossing raises an event again.</summary>
    public void Rearm(long now)
    {
        var timeout = (long)(Definition.Timeout * 1e6);
        lock (_lock)
        {
            foreach (var (k, last) in _above)
            {
                if (now - last > timeout) _above.Remove(k);
            }
        }
    }
}
