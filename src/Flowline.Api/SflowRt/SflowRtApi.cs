using System.Globalization;
using System.Text.Json.Nodes;
using Flowline.Ingest;
using Flowline.Records;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>
/// sFlow-RT's REST API on the collector's HTTP port, so that scripts, Prometheus jobs and dashboards
/// written for it work unchanged: flows, activeflows, flowkeys, the flow log, metrics, dump, agents,
/// thresholds, events, groups, forwarding, analyzer statistics, and the Prometheus exports. Every tenant's
/// live traffic is here, so its doors (<see cref="RoutePolicies"/>) are for operators: an admin key, the
/// scrape token for reads, or loopback when <c>realtime_open_on_loopback</c> is on.
/// </summary>
public static partial class SflowRtApi
{
    private const string Json = "application/json";
    private const string PrometheusText = "text/plain; version=0.0.4; charset=utf-8";

    private static IResult Error(string message, int status) => Results.Json(new JsonObject { ["error"] = message }, ReadableJson.Serializer, statusCode: status);

    private static IResult Ok(JsonNode node) => Results.Text(node.ToJsonString(ReadableJson.Serializer), Json);

    private static async Task<string> Body(HttpContext c)
    {
        using var reader = new StreamReader(c.Request.Body);
        return await reader.ReadToEndAsync();
    }

    /// <summary>Runs a handler that may meet bad parameters: a <see cref="FormatException"/> is a 400 with its message.</summary>
    private static IResult Guard(Func<IResult> handler)
    {
        try
        {
            return handler();
        }
        catch (FormatException e)
        {
            return Error(e.Message, 400);
        }
        catch (Realtime.RealtimeLimitException e)
        {
            return Error(e.Message, 429);
        }
        catch (IOException e)
        {
            return Error($"could not be saved: {e.Message}", 503);
        }
    }

    private static async Task<IResult> GuardAsync(Func<Task<IResult>> handler)
    {
        try
        {
            return await handler();
        }
        catch (FormatException e)
        {
            return Error(e.Message, 400);
        }
        catch (Realtime.RealtimeLimitException e)
        {
            return Error(e.Message, 429);
        }
    }

    private static string? Query(HttpContext c, string name) => c.Request.Query.TryGetValue(name, out var v) && v.Count > 0 ? v[^1] : null;

    /// <summary>A query parameter given once or repeated (Prometheus params lists), joined with commas.</summary>
    private static string? Joined(HttpContext c, string name) =>
        c.Request.Query.TryGetValue(name, out var v) && v.Count > 0 ? string.Join(",", v.Where(x => !string.IsNullOrEmpty(x))) : null;

    private static double Number(HttpContext c, string name, double fallback, double min = double.MinValue, double max = double.MaxValue)
    {
        var text = Query(c, name);
        if (text is null) return fallback;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || double.IsNaN(v) || v < min || v > max)
            throw new FormatException($"{name}={text}: expected a number{(min > double.MinValue ? $" from {min.ToString(CultureInfo.InvariantCulture)}" : "")}{(max < double.MaxValue ? $" to {max.ToString(CultureInfo.InvariantCulture)}" : "")}");
        return v;
    }

    private static bool SumMode(HttpContext c) => Query(c, "aggMode") switch
    {
        null or "max" => false,
        "sum" => true,
        var m => throw new FormatException($"aggMode={m}: expected max or sum"),
    };

    private static long Now => Ingest.Collector.NowMicros();

    public static void Map(WebApplication app, Ingest.Collector collector)
    {
        var engine = collector.Realtime;
        MapFlows(app, engine);
        MapMetrics(app, collector, engine);
        MapThresholds(app, engine);
        MapPrometheus(app, collector, engine);
        MapForwarding(app, collector.Forwarding);
    }
}
