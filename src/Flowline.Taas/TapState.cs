using System.Text.Json;
using System.Text.Json.Nodes;
using Flowline.Records;

namespace Flowline.Taas;

/// <summary>
/// The taps asked for (the desired state) and the status the driver found for each, kept in one file
/// written through <see cref="AtomicFile"/> on every change, so that a restart carries the same taps.
/// Thread-safe. An account holds at most <see cref="MaxPerAccount"/> of each kind.
/// </summary>
public sealed class TapState
{
    public const int MaxPerAccount = 64;
    public const string PendingCreate = "PENDING_CREATE", Active = "ACTIVE", Error = "ERROR";
    private readonly string? _path;
    private readonly object _lock = new();
    private readonly Dictionary<string, TapResource> _resources = new(StringComparer.Ordinal);

    /// <param name="path">The state file (null: in memory only).</param>
    public TapState(string? path)
    {
        _path = path;
        if (path is not null && File.Exists(path)) Load(path);
    }

    /// <summary>Raised after every change of what is asked (not of statuses).</summary>
    public event Action? Changed;

    public IReadOnlyList<TapResource> List(TapKind kind)
    {
        lock (_lock) return [.. _resources.Values.Where(r => r.Kind == kind).OrderBy(r => r.Id, StringComparer.Ordinal)];
    }

    public TapResource? Get(TapKind kind, string id)
    {
        lock (_lock) return _resources.TryGetValue(id, out var r) && r.Kind == kind ? r : null;
    }

    public TapResource Create(TapKind kind, string tenant, Dictionary<string, JsonNode?> attributes)
    {
        TapResource made;
        lock (_lock)
        {
            if (_resources.Values.Count(r => r.Kind == kind && r.TenantId == tenant) >= MaxPerAccount)
            {
                throw new TapRequestException(409, "OverQuota", $"{tenant} holds {MaxPerAccount} {TapSchema.Names(kind).Many} already: delete one first");
            }
            made = new TapResource(kind, Guid.NewGuid().ToString(), tenant, attributes, PendingCreate);
            _resources[made.Id] = made;
            Save();
        }
        Changed?.Invoke();
        return made;
    }

    public TapResource? Update(TapKind kind, string id, IReadOnlyDictionary<string, JsonNode?> changes)
    {
        TapResource updated;
        lock (_lock)
        {
            if (!_resources.TryGetValue(id, out var r) || r.Kind != kind) return null;
            var attributes = new Dictionary<string, JsonNode?>(r.Attributes, StringComparer.Ordinal);
            foreach (var (k, v) in changes) attributes[k] = v?.DeepClone();
            _resources[id] = updated = r with { Attributes = attributes };
            Save();
        }
        return updated;
    }

    /// <summary>Deletes a resource; a tap service takes its tap flows with it (as upstream TaaS does). The ids removed, empty when none.</summary>
    public IReadOnlyList<string> Delete(TapKind kind, string id)
    {
        List<string> removed;
        lock (_lock)
        {
            if (!_resources.TryGetValue(id, out var r) || r.Kind != kind) return [];
            removed = [id];
            if (kind == TapKind.Service) removed.AddRange(_resources.Values.Where(f => f.Kind == TapKind.Flow && f.Text("tap_service_id") == id).Select(f => f.Id));
            foreach (var x in removed) _resources.Remove(x);
            Save();
        }
        Changed?.Invoke();
        return removed;
    }

    /// <summary>The driver's finding for a resource; written only when it changes.</summary>
    public void SetStatus(string id, string status, string? reason)
    {
        lock (_lock)
        {
            if (!_resources.TryGetValue(id, out var r) || (r.Status == status && r.StatusReason == reason)) return;
            _resources[id] = r with { Status = status, StatusReason = reason };
            Save();
        }
    }

    private void Save()
    {
        if (_path is null) return;
        var resources = new JsonArray();
        foreach (var r in _resources.Values.OrderBy(r => r.Id, StringComparer.Ordinal))
        {
            var attributes = new JsonObject();
            foreach (var (k, v) in r.Attributes) attributes[k] = v?.DeepClone();
            resources.Add(new JsonObject
            {
                ["kind"] = r.Kind.ToString().ToLowerInvariant(), ["id"] = r.Id, ["tenant_id"] = r.TenantId,
                ["attributes"] = attributes, ["status"] = r.Status, ["status_reason"] = r.StatusReason,
            });
        }
        AtomicFile.WriteText(_path, new JsonObject { ["version"] = 1, ["resources"] = resources }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    private void Load(string path)
    {
        try
        {
            var root = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { MaxDepth = 16 }) as JsonObject
                       ?? throw new FormatException("not a JSON object");
            foreach (var item in root["resources"] as JsonArray ?? [])
            {
                if (item is not JsonObject o) continue;
                var kind = o["kind"]?.ToString() switch
                {
                    "service" => TapKind.Service,
                    "flow" => TapKind.Flow,
                    "mirror" => TapKind.Mirror,
                    var k => throw new FormatException($"unknown kind '{k}'"),
                };
                var attributes = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
                foreach (var (k, v) in o["attributes"] as JsonObject ?? []) attributes[k] = v?.DeepClone();
                var id = o["id"]?.ToString() ?? throw new FormatException("a resource without an id");
                _resources[id] = new TapResource(kind, id, o["tenant_id"]?.ToString() ?? "", attributes, o["status"]?.ToString() ?? PendingCreate, o["status_reason"]?.ToString());
            }
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }
}
