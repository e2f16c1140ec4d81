using System.Text.Json.Nodes;
using Flowline.Realtime;
using Flowline.Records;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>Flow definitions, active flows, flow keys, the flow log and groups.</summary>
public static partial class SflowRtApi
{
    /// <summary>Active flows as sFlow-RT answers them: key, value, agent and data source.</summary>
    internal static JsonArray ActiveFlows(List<ActiveFlow> flows) => new(flows.Select(f => (JsonNode)new JsonObject
    {
        ["key"] = f.Key,
        ["value"] = f.Value,
        ["agent"] = f.Source.Agent.ToString(),
        ["dataSource"] = f.Source.ToString(),
    }).ToArray());

    private static void MapFlows(WebApplication app, RealtimeEngine engine)
    {
        app.MapGet("/flow/json", () => Ok(new JsonObject(engine.Flows().Select(f => KeyValuePair.Create(f.Key, (JsonNode?)f.Value.ToJson())))));
        app.MapGet("/flow/{name}/json", (string name) =>
        {
            if (engine.Table(name) is not { } t) return Error($"no flow definition '{name}'", 404);
            var json = t.Definition.ToJson();
            // A definition taken out of service says why (PUT it again to put it back).
            if (t.Disabled is { } reason) json["disabled"] = reason;
            return Ok(json);
        });
        app.MapPut("/flow/{name}/json", async (HttpContext c, string name) =>
        {
            // A tenant's definitions are scoped to its account by its own face; one written here would not be.
            if (name.StartsWith(RealtimeEngine.TenantPrefix, StringComparison.Ordinal))
            {
                return Error($"'{name}': names beginning {RealtimeEngine.TenantPrefix} are the tenants' (PUT /api/v1/realtime/flows/NAME with the tenant's key)", 400);
            }
            var body = await Body(c);
            return Guard(() =>
            {
                engine.PutFlow(name, FlowDefinition.FromJson(body), Now);
                return Ok(engine.GetFlow(name)!.ToJson());
            });
        });
        app.MapDelete("/flow/{name}/json", (HttpContext c, string name) =>
            Guard(() => engine.DeleteFlow(name) ? Ok(new JsonObject()) : Error($"no flow definition '{name}'", 404)));

        app.MapGet("/activeflows/{agent}/{name}/json", (HttpContext c, string agent, string name) => Guard(() =>
        {
            var table = engine.Table(name);
            if (table is null) return Error($"no flow definition '{name}'", 404);
            var maxFlows = (int)Number(c, "maxFlows", 100, 1, 100_000);
            var minValue = Number(c, "minValue", 0);
            var sum = SumMode(c);
            var flows = RealtimeEngine.Merge(table.Top(RealtimeEngine.Agents(agent), Now), maxFlows, minValue, sum);
            return Ok(ActiveFlows(flows));
        }));
        app.MapGet("/flowkeys/json", () => Ok(engine.FlowKeys(Now)));
        app.MapGet("/flows/json", (Func<HttpContext, Task<IResult>>)(c => GuardAsync(async () =>
        {
            var after = (long)Number(c, "flowID", -1);
            var max = (int)Number(c, "maxFlows", 100, 1, 10_000);
            var timeout = Number(c, "timeout", 0, 0, 300);
            var name = Query(c, "name");
            var agents = Query(c, "agent") is { } a ? RealtimeEngine.Agents(a) : null;
            var flows = await engine.FlowLog.Read(after, max, TimeSpan.FromSeconds(timeout),
                e => (name is null || (string?)e["name"] == name) && (agents is null || agents(FlowAddress.Parse((string)e["agent"]!))), c.RequestAborted);
            return Ok(flows);
        })));
        app.MapGet("/group/json", () => Ok(new JsonObject(engine.Context.Groups.SetNames.Select(s => KeyValuePair.Create(s, (JsonNode?)Groups(engine, s))))));
        app.MapGet("/group/{name}/json", (string name) => Groups(engine, name) is { } g ? Ok(g) : Error($"no group set '{name}'", 404));
        app.MapPut("/group/{name}/json", async (HttpContext c, string name) =>
        {
            var body = await Body(c);
            return Guard(() =>
            {
                List<KeyValuePair<string, JsonNode?>> members;
                try
                {
                    members = (JsonNode.Parse(body) as JsonObject ?? throw new FormatException("expected a JSON object of group names to lists of prefixes")).ToList();
                }
                catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException)
                {
                    throw new FormatException($"not JSON, or a group given twice: {e.Message}");
                }
                var groups = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
                var prefixes = 0;
                foreach (var (group, value) in members)
                {
                    var list = new List<string>();
                    foreach (var x in value as JsonArray ?? throw new FormatException($"group '{group}': expected a list of prefixes"))
                    {
                        string? p = null;
                        try
                        {
                            if (x is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String) p = v.GetValue<string>();
                        }
                        catch (InvalidOperationException e)
                        {
                            throw new FormatException($"group '{group}': {e.Message}");
                        }
                        list.Add(p ?? throw new FormatException($"group '{group}': prefixes are strings such as \"10.0.0.0/8\""));
                    }
                    if ((prefixes += list.Count) > MaxGroupPrefixes) throw new FormatException($"a group set holds at most {MaxGroupPrefixes:N0} prefixes");
                    groups[group] = list;
                }
                engine.PutGroups(name, groups);
                return Ok(Groups(engine, name)!);
            });
        });
        app.MapDelete("/group/{name}/json", (HttpContext c, string name) =>
            Guard(() => engine.DeleteGroups(name) ? Ok(new JsonObject()) : Error($"no group set '{name}'", 404)));
    }

    /// <summary>Prefixes one group set holds at most (all its groups together).</summary>
    public const int MaxGroupPrefixes = 100_000;

    private static JsonObject? Groups(RealtimeEngine engine, string name) => engine.Context.Groups.Get(name) is { } g
        ? new JsonObject(g.Select(x => KeyValuePair.Create(x.Key, (JsonNode?)new JsonArray(x.Value.Select(p => (JsonNode)p).ToArray()))))
        : null;
}
