using System.Text.Json;
using System.Text.Json.Nodes;
using Flowline.Records;

namespace Flowline.Realtime;

/// <summary>Definitions, thresholds and groups in <c>DATA_DIR/realtime.json</c>: loaded at start, saved at each change.</summary>
public sealed partial class RealtimeEngine
{
    private void Load()
    {
        if (_path is null || !File.Exists(_path)) return;
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(_path)) as JsonObject ?? throw new FormatException("not a JSON object");
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or FormatException or IOException)
        {
            File.Copy(_path, _path + ".unreadable", overwrite: true);
            RealtimeLog.StateUnreadable(_log, _path, e.Message);
            return;
        }
        var now = Clock();
        void Each(string section, Action<string, JsonNode> take)
        {
            if (root[section] is not JsonObject o) return;
            foreach (var (name, node) in o)
            {
                try
                {
                    take(name, node ?? throw new FormatException("null, not a definition"));
                }
                catch (Exception e) when (e is FormatException or InvalidOperationException or JsonException)
                {
                    // An entry the file holds in another shape (edited by hand, damaged) is left out, not the server.
                    RealtimeLog.DefinitionLeftOut(_log, _path, section, name, e.Message);
                }
            }
        }
        Each("groups", (name, node) => Context.Groups.Put(name, (node as JsonObject ?? throw new FormatException("a group set is an object of groups")).ToDictionary(
            g => g.Key, g => (IReadOnlyList<string>)(g.Value as JsonArray ?? throw new FormatException($"group '{g.Key}' is not a list of prefixes"))
                .Select(x => x is JsonValue v && v.TryGetValue<string>(out var prefix) ? prefix : throw new FormatException($"group '{g.Key}': {x?.ToJsonString() ?? "null"} is not a prefix")).ToList())));
        lock (_lock)
        {
            Each("flows", (name, node) =>
            {
                CheckName(name);
                var definition = FlowDefinition.FromJson(node.ToJsonString());
                if (name.StartsWith(TenantPrefix, StringComparison.Ordinal)) CheckTenantScope(name, definition);
                _flows[name] = new FlowTable(name, definition, Context, FlowRoom, now);
            });
            Each("thresholds", (name, node) =>
            {
                CheckName(name);
                _thresholds[name] = new ThresholdState(name, ThresholdDefinition.FromJson(node.ToJsonString()));
            });
            Publish();
        }
        RealtimeLog.Restored(_log, _flows.Count, _thresholds.Count, Context.Groups.SetNames.Count(), _path);
    }

    /// <summary>Writes the definitions whole, then renames into place. Under the lock.</summary>
    private void Save()
    {
        if (_path is null) return;
        var root = new JsonObject
        {
            ["flows"] = new JsonObject(_flows.Where(f => !f.Key.StartsWith(ExportPrefix, StringComparison.Ordinal))
                .Select(f => KeyValuePair.Create(f.Key, (JsonNode?)f.Value.Definition.ToJson()))),
            ["thresholds"] = new JsonObject(_thresholds.Select(t => KeyValuePair.Create(t.Key, (JsonNode?)t.Value.Definition.ToJson()))),
            ["groups"] = new JsonObject(Context.Groups.SetNames.Select(s => KeyValuePair.Create(s, (JsonNode?)new JsonObject(
                Context.Groups.Get(s)!.Select(g => KeyValuePair.Create(g.Key, (JsonNode?)new JsonArray(g.Value.Select(p => (JsonNode)p).ToArray()))))))),
        };
        AtomicFile.WriteText(_path, root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Saves the state; when that fails, <paramref name="undo"/> puts the state back and the error goes on. Under the lock.</summary>
    private void SaveOrUndo(Action undo)
    {
        try
        {
            Save();
        }
        catch
        {
            undo();
            throw;
        }
    }

    private static void Restore<T>(Dictionary<string, T> map, string name, T? old) where T : class
    {
        if (old is null) map.Remove(name);
        else map[name] = old;
    }
}
