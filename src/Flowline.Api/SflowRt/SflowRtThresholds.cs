using System.Text.Json.Nodes;
using Flowline.Realtime;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>Thresholds and the events they raise.</summary>
public static partial class SflowRtApi
{
    private static void MapThresholds(WebApplication app, RealtimeEngine engine)
    {
        app.MapGet("/threshold/json", () => Ok(new JsonObject(engine.ThresholdDefinitions().Select(t => KeyValuePair.Create(t.Key, (JsonNode?)t.Value.ToJson())))));
        app.MapGet("/threshold/{name}/json", (string name) => engine.GetThreshold(name) is { } d ? Ok(d.ToJson()) : Error($"no threshold '{name}'", 404));
        app.MapPut("/threshold/{name}/json", async (HttpContext c, string name) =>
        {
            var body = await Body(c);
            return Guard(() =>
            {
                engine.PutThreshold(name, ThresholdDefinition.FromJson(body));
                return Ok(engine.GetThreshold(name)!.ToJson());
            });
        });
        app.MapDelete("/threshold/{name}/json", (HttpContext c, string name) =>
            Guard(() => engine.DeleteThreshold(name) ? Ok(new JsonObject()) : Error($"no threshold '{name}'", 404)));
        app.MapGet("/events/json", (Func<HttpContext, Task<IResult>>)(c => GuardAsync(async () =>
        {
            var after = (long)Number(c, "eventID", -1);
            var max = (int)Number(c, "maxEvents", 100, 1, 10_000);
            var timeout = Number(c, "timeout", 0, 0, 300);
            var threshold = Query(c, "thresholdID");
            var events = await engine.Events.Read(after, max, TimeSpan.FromSeconds(timeout),
                e => threshold is null || (string?)e["thresholdID"] == threshold, c.RequestAborted);
            return Ok(events);
        })));
    }
}
