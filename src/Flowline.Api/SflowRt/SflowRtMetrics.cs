using System.Text.Json.Nodes;
using Flowline.Ingest;
using Flowline.Realtime;
using Flowline.Records;
using Microsoft.AspNetCore.Builder;

namespace Flowline.Api;

/// <summary>Counter metrics, dumps, agents and the analyzer's own statistics.</summary>
public static partial class SflowRtApi
{
    /// <summary>A metric list entry: "max:ifinoctets" and the like (default max).</summary>
    private static (string Op, string Metric) Aggregation(string text)
    {
        var colon = text.IndexOf(':');
        if (colon < 0) return ("max", text);
        var op = text[..colon];
        if (op is not ("max" or "min" or "sum" or "avg")) throw new FormatException($"metric '{text}': aggregation '{op}' is not one of max, min, sum, avg");
        return (op, text[(colon + 1)..]);
    }

    private static void MapMetrics(WebApplication app, Ingest.Collector collector, RealtimeEngine engine)
    {
        app.MapGet("/metric/{agent}/{metric}/json", (string agent, string metric) => Guard(() =>
        {
            var agents = RealtimeEngine.Agents(agent);
            var now = Now;
            var result = new JsonArray();
            foreach (var item in metric.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var (op, name) = Aggregation(item);
                if (CounterMetrics.TextMetrics.Contains(name))
                {
                    // Host sFlow's descriptions are text: the most recently updated source's value.
                    var texts = engine.Counters.Texts(agents, m => m == name);
                    var t = new JsonObject { ["metricName"] = name, ["metricN"] = texts.Count };
                    if (texts.Count > 0)
                    {
                        var latest = texts.MaxBy(v => v.Updated);
                        t["metricValue"] = latest.Value;
                        t["agent"] = latest.Source.Agent.ToString();
                        t["dataSource"] = latest.Source.ToString();
                        t["lastUpdate"] = (now - latest.Updated) / 1000;
                    }
                    result.Add(t);
                    continue;
                }
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
            foreach (var (source, name, value, _) in engine.Counters.Texts(RealtimeEngine.Agents(agent), null).OrderBy(v => v.Source.Index).ThenBy(v => v.Metric, StringComparer.Ordinal))
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
                foreach (var (source, m, value, updated) in engine.Counters.Texts(agents, name is null ? null : n => n == name).OrderBy(v => v.Source.Agent).ThenBy(v => v.Source.Index).ThenBy(v => v.Metric, StringComparer.Ordinal))
                {
                    result.Add(new JsonObject
                    {
                        ["agent"] = source.Agent.ToString(), ["dataSource"] = source.ToString(), ["metricName"] = m, ["metricValue"] = value,
                        ["lastUpdate"] = (now - updated) / 1000,
                    });
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
    private static JsonObject Agents(Ingest.Collector collector, RealtimeEngine engine)
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
                ["firstSeen"] = first == long.MaxValue ? 0 : Math.Max(0, now - first) / 1000,
                ["lastSeen"] = last == 0 ? 0 : Math.Max(0, now - last) / 1000,
            };
        }
        return o;
    }

    private static JsonObject Analyzer(Ingest.Collector collector, RealtimeEngine engine)
    {
        // Each definition's counts read once, so that the totals are the sums of what is shown by name.
        var tables = engine.Tables.Select(t => (t.Name, t.Counts)).ToList();
        var (queued, posted, failed, lines) = collector.RealtimeEvents.Counts;
        return new JsonObject
        {
            ["sFlowDatagramsReceived"] = collector.Datagrams,
            ["sFlowDatagramsDiscarded"] = collector.QueueDrops,
            ["agents"] = collector.Exporters.Select(e => e.Id.Address).Distinct().Count(),
            ["flowDefinitions"] = tables.Count,
            ["flowsActive"] = tables.Sum(t => t.Counts.Flows),
            ["flowsDropped"] = engine.FlowsDropped,
            ["flowsRefusedTotalLimit"] = engine.FlowRoom.Refused,
            ["flowsTrimmedFairShare"] = engine.FlowRoom.Trimmed,
            ["flowsByDefinition"] = new JsonObject(tables.Select(t => KeyValuePair.Create(t.Name, (JsonNode?)new JsonObject
            {
                ["flowsActive"] = t.Counts.Flows, ["flowsDropped"] = t.Counts.Dropped,
                ["flowsTrimmedFairShare"] = t.Counts.Trimmed, ["rowsAnalysed"] = t.Counts.Rows,
            }))),
            ["rowsAnalysed"] = engine.Rows,
            ["rowsDropped"] = collector.RealtimeFeed.Dropped,
            ["batchesAnalysed"] = engine.Batches,
            ["thresholds"] = engine.ThresholdDefinitions().Count,
            ["thresholdsUntracked"] = engine.ThresholdsUntracked,
            ["events"] = engine.Events.Last,
            ["eventsQueued"] = queued,
            ["eventsPosted"] = posted,
            ["eventsPostFailed"] = failed,
            ["eventsDropped"] = collector.RealtimeEvents.Dropped,
            ["eventLines"] = lines,
            ["flowsLogged"] = engine.FlowLog.Last,
            ["heapBytes"] = GC.GetTotalMemory(false),
            ["residentBytes"] = Environment.WorkingSet,
        };
    }
}
