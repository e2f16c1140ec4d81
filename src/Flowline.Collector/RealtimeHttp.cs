using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Flowline.Realtime;
using Flowline.Wire.Records;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Collector;

/// <summary>
/// sFlow-RT's REST API on the collector's HTTP port, so that scripts, Prometheus jobs and dashboards
/// written for it work unchanged: flows, activeflows, flowkeys, the flow log, metrics, dump, agents,
/// thresholds, events, groups, analyzer statistics, and the Prometheus exports. Reading is open (like
/// /metrics); definitions are changed from the collector's own host (loopback) only.
/// </summary>
internal static class RealtimeHttp
{
    private const string Json = "application/json";
    private const string PrometheusText = "text/plain; version=0.0.4; charset=utf-8";

    private static IResult Error(string message, int status) => Results.Json(new JsonObject { ["error"] = message }, statusCode: status);

    private static IResult Ok(JsonNode node) => Results.Text(node.ToJsonString(), Json);

    private static bool Local(HttpContext c) => c.Connection.RemoteIpAddress is { } a && IPAddress.IsLoopback(a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a);

    private static IResult NotLocal() => Error("definitions are changed from the collector's own host (loopback) only", 403);

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

    private static long Now => Collector.NowMicros();

    public static void Map(WebApplication app, Collector collector)
    {
        var engine = collector.Realtime;
        MapFlows(app, engine);
        MapMetrics(app, collector, engine);
        MapThresholds(app, engine);
        MapPrometheus(app, collector, engine);
    }

    private static void MapFlows(WebApplication app, RealtimeEngine engine)
    {
        app.MapGet("/flow/json", () => Ok(new JsonObject(engine.Flows().Select(f => KeyValuePair.Create(f.Key, (JsonNode?)f.Value.ToJson())))));
        app.MapGet("/flow/{name}/json", (string name) => engine.GetFlow(name) is { } d ? Ok(d.ToJson()) : Error($"no flow definition '{name}'", 404));
        app.MapPut("/flow/{name}/json", async (HttpContext c, string name) =>
        {
            if (!Local(c)) return NotLocal();
            var body = await Body(c);
            return Guard(() =>
            {
                engine.PutFlow(name, FlowDefinition.FromJson(body), Now);
                return Ok(engine.GetFlow(name)!.ToJson());
            });
        });
        app.MapDelete("/flow/{name}/json", (HttpContext c, string name) =>
            !Local(c) ? NotLocal() : Guard(() => engine.DeleteFlow(name) ? Ok(new JsonObject()) : Error($"no flow definition '{name}'", 404)));

        app.MapGet("/activeflows/{agent}/{name}/json", (HttpContext c, string agent, string name) => Guard(() =>
        {
            var table = engine.Table(name);
            if (table is null) return Error($"no flow definition '{name}'", 404);
            var maxFlows = (int)Number(c, "maxFlows", 100, 1, 100_000);
            var minValue = Number(c, "minValue", 0);
            var sum = SumMode(c);
            var flows = RealtimeEngine.Merge(table.Top(RealtimeEngine.Agents(agent), Now), maxFlows, minValue, sum);
            return Ok(new JsonArray(flows.Select(f => (JsonNode)new JsonObject
            {
                ["key"] = f.Key,
                ["value"] = f.Value,
                ["agent"] = f.Source.Agent.ToString(),
                ["dataSource"] = f.Source.ToString(),
            }).ToArray()));
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
            if (!Local(c)) return NotLocal();
            var body = await Body(c);
            return Guard(() =>
            {
                JsonObject o;
                try
                {
                    o = JsonNode.Parse(body) as JsonObject ?? throw new FormatException("expected a JSON object of group names to lists of prefixes");
                }
                catch (System.Text.Json.JsonException e)
                {
                    throw new FormatException($"not JSON: {e.Message}");
                }
                var groups = o.ToDictionary(g => g.Key, g => (IReadOnlyList<string>)((g.Value as JsonArray)
                    ?? throw new FormatException($"group '{g.Key}': expected a list of prefixes")).Select(x => x?.GetValue<string>() ?? "").ToList());
                engine.PutGroups(name, groups);
                return Ok(Groups(engine, name)!);
            });
        });
        app.MapDelete("/group/{name}/json", (HttpContext c, string name) =>
            !Local(c) ? NotLocal() : Guard(() => engine.DeleteGroups(name) ? Ok(new JsonObject()) : Error($"no group set '{name}'", 404)));
    }

    private static JsonObject? Groups(RealtimeEngine engine, string name) => engine.Context.Groups.Get(name) is { } g
        ? new JsonObject(g.Select(x => KeyValuePair.Create(x.Key, (JsonNode?)new JsonArray(x.Value.Select(p => (JsonNode)p).ToArray()))))
        : null;

    /// <summary>A metric list entry: "max:ifinoctets" and the like (default max).</summary>
    private static (string Op, string Metric) Aggregation(string text)
    {
        var colon = text.IndexOf(':');
        if (colon < 0) return ("max", text);
        var op = text[..colon];
        if (op is not ("max" or "min" or "sum" or "avg")) throw new FormatException($"metric '{text}': aggregation '{op}' is not one of max, min, sum, avg");
        return (op, text[(colon + 1)..]);
    }

    private static void MapMetrics(WebApplication app, Collector collector, RealtimeEngine engine)
    {
        app.MapGet("/metric/{agent}/{metric}/json", (string agent, string metric) => Guard(() =>
        {
            var agents = RealtimeEngine.Agents(agent);
            var now = Now;
            var result = new JsonArray();
            foreach (var item in metric.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var (op, name) = Aggregation(item);
                var values = engine.Values(agents, name, now);
                var o = new JsonObject { ["metricName"] = name, ["metricN"] = values.Count };
                if (values.Count > 0)
                {
                    var pick = op == "min" ? values.MinBy(v => v.Value) : values.MaxBy(v => v.Value);
                    o["metricValue"] = op switch { "sum" => values.Sum(v => v.Value), "avg" => values.Average(v => v.Value), _ => pick.Value };
                    o["agent"] = pick.Source.Agent.ToString();
                    o["dataSource"] = pick.Source.ToString();
                    o["lastUpdate"] = (now - pick.Updated) / 1000;
                    if (pick.Key is not null)
                    {
                        o["topKeys"] = new JsonArray(values.Where(v => v.Key is not null).OrderByDescending(v => v.Value).Take(20)
                            .Select(v => (JsonNode)new JsonObject { ["key"] = v.Key, ["value"] = v.Value, ["lastUpdate"] = 0 }).ToArray());
                    }
                }
                result.Add(o);
            }
            return Ok(result);
        }));
        app.MapGet("/metric/{agent}/json", (string agent) => Guard(() =>
        {
            var o = new JsonObject();
            foreach (var (source, name, value, _, _) in engine.Values(RealtimeEngine.Agents(agent), null, Now).OrderBy(v => v.Source.Index).ThenBy(v => v.Metric, StringComparer.Ordinal))
            {
                o[$"{source}.{name}"] = value;
            }
            return Ok(o);
        }));
        app.MapGet("/dump/{agent}/{metric}/json", (string agent, string metric) => Guard(() =>
        {
            var agents = RealtimeEngine.Agents(agent);
            var now = Now;
            var names = metric == "ALL" ? [null] : metric.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(m => (string?)m).ToArray();
            var result = new JsonArray();
            foreach (var name in names)
            {
                foreach (var (source, m, value, updated, key) in engine.Values(agents, name, now).OrderBy(v => v.Source.Agent).ThenBy(v => v.Source.Index).ThenBy(v => v.Metric, StringComparer.Ordinal))
                {
                    var o = new JsonObject
                    {
                        ["agent"] = source.Agent.ToString(),
                        ["dataSource"] = source.ToString(),
                        ["metricName"] = m,
                        ["metricValue"] = value,
                        ["lastUpdate"] = (now - updated) / 1000,
                    };
                    if (key is not null) o["topKey"] = key;
                    result.Add(o);
                }
            }
            return Ok(result);
        }));
        app.MapGet("/metrics/json", () =>
        {
            var now = Now;
            var o = new JsonObject();
            foreach (var g in engine.Values(null, null, now).GroupBy(v => v.Metric).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                o[g.Key] = (now - g.Max(v => v.Updated)) / 1000;
            }
            foreach (var t in engine.Flows().Keys) o[t] = 0;
            return Ok(o);
        });
        app.MapGet("/agents/json", () => Ok(Agents(collector, engine)));
        app.MapGet("/analyzer/json", () => Ok(Analyzer(collector, engine)));
    }

    /// <summary>Per agent (exporter address, all protocols and sub-agents together), as sFlow-RT lists them.</summary>
    private static JsonObject Agents(Collector collector, RealtimeEngine engine)
    {
        var now = Now;
        var counters = engine.Counters.Agents();
        var o = new JsonObject();
        foreach (var g in collector.Exporters.GroupBy(e => e.Id.Address).OrderBy(g => g.Key))
        {
            long datagrams = 0, records = 0, lost = 0, lostSamples = 0, first = long.MaxValue, last = 0;
            var protocols = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var e in g)
            {
                lock (e.Sync)
                {
                    datagrams += e.Datagrams;
                    records += e.Records;
                    lost += e.Lost;
                    lostSamples += e.LostSamples;
                    if (e.FirstSeen > 0) first = Math.Min(first, e.FirstSeen);
                    last = Math.Max(last, e.LastSeen);
                }
                protocols.Add(FlowProtocolNames.Name(e.Id.Protocol));
            }
            counters.TryGetValue(g.Key, out var c);
            o[g.Key.ToString()] = new JsonObject
            {
                ["protocols"] = new JsonArray(protocols.Select(p => (JsonNode)p).ToArray()),
                ["sFlowDatagramsReceived"] = datagrams,
                ["sFlowDatagramsLost"] = lost,
                ["sFlowSamplesLost"] = lostSamples,
                ["sFlowFlowSamples"] = records,
                ["sFlowCounterSamples"] = c.Samples,
                ["firstSeen"] = first == long.MaxValue ? 0 : (now - first) / 1000,
                ["lastSeen"] = last == 0 ? 0 : (now - last) / 1000,
            };
        }
        return o;
    }

    private static JsonObject Analyzer(Collector collector, RealtimeEngine engine)
    {
        var tables = engine.Tables;
        var (queued, posted, failed, lines) = collector.RealtimeEvents.Counts;
        return new JsonObject
        {
            ["sFlowDatagramsReceived"] = collector.Datagrams,
            ["sFlowDatagramsDiscarded"] = collector.QueueDrops,
            ["agents"] = collector.Exporters.Select(e => e.Id.Address).Distinct().Count(),
            ["flowDefinitions"] = tables.Count,
            ["flowsActive"] = tables.Sum(t => t.Counts.Flows),
            ["flowsDropped"] = tables.Sum(t => t.Counts.Dropped),
            ["rowsAnalysed"] = engine.Rows,
            ["rowsDropped"] = collector.RealtimeFeed.Dropped,
            ["batchesAnalysed"] = engine.Batches,
            ["thresholds"] = engine.ThresholdDefinitions().Count,
            ["events"] = engine.Events.Last,
            ["eventsQueued"] = queued,
            ["eventsPosted"] = posted,
            ["eventsPostFailed"] = failed,
            ["eventLines"] = lines,
            ["flowsLogged"] = engine.FlowLog.Last,
            ["heapBytes"] = GC.GetTotalMemory(false),
            ["residentBytes"] = Environment.WorkingSet,
        };
    }

    private static void MapThresholds(WebApplication app, RealtimeEngine engine)
    {
        app.MapGet("/threshold/json", () => Ok(new JsonObject(engine.ThresholdDefinitions().Select(t => KeyValuePair.Create(t.Key, (JsonNode?)t.Value.ToJson())))));
        app.MapGet("/threshold/{name}/json", (string name) => engine.GetThreshold(name) is { } d ? Ok(d.ToJson()) : Error($"no threshold '{name}'", 404));
        app.MapPut("/threshold/{name}/json", async (HttpContext c, string name) =>
        {
            if (!Local(c)) return NotLocal();
            var body = await Body(c);
            return Guard(() =>
            {
                engine.PutThreshold(name, ThresholdDefinition.FromJson(body));
                return Ok(engine.GetThreshold(name)!.ToJson());
            });
        });
        app.MapDelete("/threshold/{name}/json", (HttpContext c, string name) =>
            !Local(c) ? NotLocal() : Guard(() => engine.DeleteThreshold(name) ? Ok(new JsonObject()) : Error($"no threshold '{name}'", 404)));
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

    private static void MapPrometheus(WebApplication app, Collector collector, RealtimeEngine engine)
    {
        app.MapGet("/prometheus/metrics/{agent}/{metric}/txt", (string agent, string metric) => Guard(() =>
        {
            var agents = RealtimeEngine.Agents(agent);
            HashSet<string>? wanted = metric == "ALL" ? null : metric.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
            var labels = new PortLabels(collector);
            var s = new StringBuilder();
            foreach (var (source, name, value, _) in engine.Counters.Values(agents, wanted is null ? null : wanted.Contains)
                         .OrderBy(v => v.Metric, StringComparer.Ordinal).ThenBy(v => v.Source.Agent).ThenBy(v => v.Source.Index))
            {
                s.Append("sflow_").Append(Sanitize(name)).Append("{agent=\"").Append(source.Agent).Append("\",datasource=\"").Append(source);
                var (ifname, host) = labels.Of(source);
                if (ifname is not null) s.Append("\",ifname=\"").Append(Escape(ifname));
                if (host is not null) s.Append("\",host=\"").Append(Escape(host));
                s.Append("\"} ").Append(Format(value)).Append('\n');
            }
            return Results.Text(s.ToString(), PrometheusText);
        }));
        app.MapGet("/prometheus/analyzer/txt", () =>
        {
            var s = new StringBuilder();
            foreach (var (name, node) in Analyzer(collector, engine))
            {
                s.Append("sflow_analyzer_").Append(Snake(name)).Append(' ').Append(node!.ToJsonString()).Append('\n');
            }
            return Results.Text(s.ToString(), PrometheusText);
        });
        app.MapGet("/app/prometheus/scripts/export.js/flows/{agent}/txt", (HttpContext c, string agent) => Guard(() =>
        {
            var metric = Query(c, "metric") ?? throw new FormatException("metric= is required: the Prometheus metric name, e.g. ip_src_dst_bps");
            if (Sanitize(metric) != metric || metric.Length == 0 || char.IsAsciiDigit(metric[0])) throw new FormatException($"metric={metric}: expected a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
            var keys = Joined(c, "key") ?? throw new FormatException("key= is required: the flow keys, e.g. key=ipsource&key=ipdestination");
            var elements = KeyParser.ParseList(keys, engine.Context);
            var labels = (Joined(c, "label") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var names = elements.Select((e, i) => i < labels.Length ? labels[i] : Sanitize(e.Text)).ToArray();
            foreach (var l in names)
            {
                if (Sanitize(l) != l || l.Length == 0 || char.IsAsciiDigit(l[0])) throw new FormatException($"label '{l}': expected a Prometheus label name");
            }
            var definition = FlowDefinition.FromJson(new JsonObject
            {
                ["keys"] = keys,
                ["value"] = Query(c, "value") ?? "bytes",
                ["filter"] = Query(c, "filter"),
                ["t"] = Number(c, "t", FlowDefinition.DefaultT),
                ["n"] = Number(c, "n", 20),
                ["fs"] = "\u001f",
            }.ToJsonString());
            var scale = Number(c, "scale", 1);
            var maxFlows = (int)Number(c, "maxFlows", 20, 1, 100_000);
            var minValue = Number(c, "minValue", 0);
            var sum = SumMode(c);
            var table = engine.Export(definition, Now);
            var flows = RealtimeEngine.Merge(table.Top(RealtimeEngine.Agents(agent), Now), maxFlows, minValue / scale, sum);
            var s = new StringBuilder();
            foreach (var f in flows)
            {
                var values = f.Key.Split('\u001f');
                s.Append(metric).Append('{');
                for (var i = 0; i < names.Length && i < values.Length; i++)
                {
                    if (i > 0) s.Append(',');
                    s.Append(names[i]).Append("=\"").Append(Escape(values[i])).Append('"');
                }
                s.Append("} ").Append(Format(f.Value * scale)).Append('\n');
            }
            return Results.Text(s.ToString(), PrometheusText);
        }));
    }

    private static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static string Escape(string v) => v.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string Sanitize(string name)
    {
        var s = new StringBuilder(name.Length);
        foreach (var ch in name) s.Append(char.IsAsciiLetterOrDigit(ch) || ch is '_' or ':' ? ch : '_');
        return s.ToString();
    }

    private static string Snake(string camel)
    {
        var s = new StringBuilder();
        foreach (var ch in camel.Replace("sFlow", "sflow", StringComparison.Ordinal))
        {
            if (char.IsAsciiLetterUpper(ch) && s.Length > 0) s.Append('_');
            s.Append(char.ToLowerInvariant(ch));
        }
        return s.ToString();
    }

    /// <summary>ifname and host labels of a data source: the inventory port at that agent and ifIndex (its interface name and node).</summary>
    private sealed class PortLabels(Collector collector)
    {
        private Dictionary<(FlowAddress, uint), (string?, string?)>? _ports;

        public (string? IfName, string? Host) Of(DataSource source)
        {
            if (collector.Enricher is not { } enricher) return (null, null);
            _ports ??= enricher.Inventory.Ports.Where(p => p.IfIndex is not null && p.Exporter is not null)
                .GroupBy(p => (p.Exporter!.Value, p.IfIndex!.Value))
                .ToDictionary(g => g.Key, g => (g.First().Interface, g.First().Node));
            return (source.Index >> 24) == 0 && _ports.TryGetValue((source.Agent, source.Index), out var l) ? l : (null, null);
        }
    }
}
