using Flowline.Ingest;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>
/// sFlow-RT's forwarding API: <c>GET /forwarding/json</c>, <c>GET|PUT|DELETE /forwarding/{name}/json</c>.
/// A session sends the telemetry stream where it says, so changing one is an operator's act (its door).
/// </summary>
public static partial class SflowRtApi
{
    private static void MapForwarding(WebApplication app, Forwarding forwarding)
    {
        app.MapGet("/forwarding/json", () => Ok(forwarding.Describe()));
        app.MapGet("/forwarding/{name}/json", (string name) => forwarding.Describe(name) is { } o ? Ok(o) : Error($"no forwarding session '{name}'", 404));
        app.MapPut("/forwarding/{name}/json", async (HttpContext c, string name) =>
        {
            var body = await Body(c);
            return Guard(() =>
            {
                forwarding.Put(name, body);
                return Ok(forwarding.Describe(name)!);
            });
        });
        app.MapDelete("/forwarding/{name}/json", (string name) =>
            Guard(() => forwarding.Delete(name) ? Ok(new System.Text.Json.Nodes.JsonObject()) : Error($"no forwarding session '{name}'", 404)));
    }
}
