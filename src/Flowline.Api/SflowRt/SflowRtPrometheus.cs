using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Flowline.Ingest;
using Flowline.Realtime;
using Flowline.Records;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>Prometheus exports: counter metrics, the analyzer, and top flows (sFlow-RT's prometheus app).</summary>
public static partial class SflowRtApi
{
    private static void MapPrometheus(WebApplication app, Ingest.Collector collector, RealtimeEngine engine)
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
                // The inventory names the port; else the agent's own name for it (port_name: Open vSwitch's port).
                ifname ??= engine.Counters.PortName(source);
                var (sflowHost, container) = engine.Counters.Names(source);
                host ??= sflowHost;
                if (ifname is not null) s.Append("\",ifname=\"").Append(Escape(ifname));
                if (host is not null) s.Append("\",host=\"").Append(Escape(host));
                if (container is not null) s.Append("\",container=\"").Append(Escape(container));
                s.Append("\"} ").Append(Format(value)).Append('\n');
            }
            // Host sFlow's host_descr as an info metric: one series per described host or container, value 1.
            if (wanted is null || wanted.Contains("host_info"))
            {
                foreach (var g in engine.Counters.Texts(agents, CounterMetrics.HostTextMetrics.Contains).GroupBy(t => t.Source).OrderBy(g => g.Key.Agent).ThenBy(g => g.Key.Index))
                {
                    var (host, container) = engine.Counters.Names(g.Key);
                    s.Append("sflow_host_info{agent=\"").Append(g.Key.Agent).Append("\",datasource=\"").Append(g.Key);
                    if (host is not null) s.Append("\",host=\"").Append(Escape(host));
                    if (container is not null) s.Append("\",container=\"").Append(Escape(container));
                    foreach (var (_, name, value, _) in g) s.Append("\",").Append(name).Append("=\"").Append(Escape(value));
                    s.Append("\"} 1\n");
                }
            }
            return Results.Text(s.ToString(), PrometheusText);
        }));
        app.MapGet("/prometheus/analyzer/txt", () =>
        {
            var s = new StringBuilder();
            foreach (var (name, node) in Analyzer(collector, engine))
            {
                if (node is JsonObject byDefinition)
                {
                    // One series per definition and figure, each figure's series together (one metric family):
                    // sflow_analyzer_definition_flows_active{definition="pairs"}.
                    foreach (var figure in byDefinition.Select(d => d.Value!.AsObject()).SelectMany(f => f.Select(kv => kv.Key)).Distinct())
                    {
                        foreach (var (definition, figures) in byDefinition)
                        {
                            s.Append("sflow_analyzer_definition_").Append(Snake(figure)).Append("{definition=\"").Append(Escape(definition))
                                .Append("\"} ").Append(figures![figure]!.ToJsonString()).Append('\n');
                        }
                    }
                    continue;
                }
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
            // A reader (the scrape token) is served only what an operator defined; it never makes a definition.
            var table = engine.Export(definition, Now, create: DoorKeeper.MayChangeRealtime(c));
            if (table is null)
            {
                return Error("no flow definition has these keys, value, filter and t: define one with PUT /flow/{name}/json (or call this once with an admin key) before scraping", 404);
            }
            var flows = RealtimeEngine.Merge(table.Top(RealtimeEngine.Agents(agent), Now), maxFlows, minValue / scale, sum);
            var s = new StringBuilder();
            foreach (var f in flows)
            {
                var values = f.Key.Split(table.Definition.Fs);
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

    /// <summary>A sample value in the exposition format's spelling (its infinities are +Inf and -Inf, not .NET's words).</summary>
    private static string Format(double v) => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : double.IsNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";

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
    private sealed class PortLabels(Ingest.Collector collector)
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
