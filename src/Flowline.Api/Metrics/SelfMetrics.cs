using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Flowline.Ingest;
using Flowline.Wire;
using Flowline.Records;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>The collector's own health and counters: /healthz, /metrics (Prometheus text) and /api/v1/exporters (JSON).</summary>
public static class SelfMetrics
{
    /// <summary>The open routes: /healthz, /metrics and /api/v1/exporters (the same counters as JSON).</summary>
    public static void Map(WebApplication app, Ingest.Collector collector, TaasAccess? taas = null, Mitigation.Ddos.DdosService? ddos = null)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/metrics", () => Results.Text(Metrics(collector) + (taas is null ? "" : TaasMetrics(taas)) + (ddos is null ? "" : DdosMetrics.Text(ddos)), "text/plain; version=0.0.4; charset=utf-8"));
        app.MapGet("/api/v1/exporters", (HttpContext context) =>
        {
            context.Response.ContentType = "application/json";
            return context.Response.WriteAsync(ExportersJson(collector));
        });
    }

    private static string Time(long micros) =>
        micros == 0 ? "" : DateTime.UnixEpoch.AddTicks(micros * 10).ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", CultureInfo.InvariantCulture);

    public static string ExportersJson(Ingest.Collector collector)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, ReadableJson.Indented))
        {
            w.WriteStartObject();
            w.WriteStartArray("exporters");
            foreach (var e in collector.Exporters.OrderBy(e => e.Id.Address).ThenBy(e => e.Id.Protocol).ThenBy(e => e.Id.Domain))
            {
                lock (e.Sync)
                {
                    w.WriteStartObject();
                    w.WriteString("address", e.Id.Address.ToString());
                    w.WriteString("protocol", FlowProtocolNames.Name(e.Id.Protocol));
                    w.WriteNumber("domain", e.Id.Domain);
                    w.WriteNumber("datagrams", e.Datagrams);
                    w.WriteNumber("bytes", e.Bytes);
                    w.WriteNumber("records", e.Records);
                    w.WriteNumber("malformed", e.Malformed);
                    w.WriteStartObject("malformed_by_reason");
                    for (var i = 0; i < e.MalformedByReason.Length; i++)
                    {
                        if (e.MalformedByReason[i] > 0) w.WriteNumber(DecodeErrorNames.Name((DecodeError)i), e.MalformedByReason[i]);
                    }
                    w.WriteEndObject();
                    w.WriteNumber("queue_drops", e.QueueDrops);
                    w.WriteNumber("lost", e.Lost);
                    w.WriteString("lost_unit", e.LostUnit);
                    w.WriteNumber("lost_samples", e.LostSamples);
                    w.WriteNumber("sequence_resets", e.SequenceResets);
                    w.WriteNumber("sampling_rate", e.SamplingRate);
                    w.WriteString("first_seen", Time(e.FirstSeen));
                    w.WriteString("last_seen", Time(e.LastSeen));
                    w.WriteEndObject();
                }
            }
            w.WriteEndArray();
            // The collector's own health: what it received, stored and dropped, its queues and template caches.
            w.WriteStartObject("collector");
            w.WriteNumber("datagrams", collector.Datagrams);
            w.WriteNumber("records_stored", collector.RecordsStored);
            w.WriteNumber("queue_drops", collector.QueueDrops);
            w.WriteNumber("queue_depth", collector.QueueDepth);
            w.WriteNumber("store_errors", collector.StoreErrors);
            w.WriteNumber("store_lag_seconds", Math.Round(collector.StoreLagSeconds, 3));
            var t = collector.Templates;
            w.WriteStartObject("templates");
            w.WriteNumber("scopes", t.Scopes);
            w.WriteNumber("templates", t.Templates);
            w.WriteNumber("pending_bytes", t.PendingBytes);
            w.WriteNumber("scopes_evicted", t.ScopesEvicted);
            w.WriteNumber("templates_refused", t.TemplatesRefused);
            w.WriteNumber("pending_refused", t.PendingRefused);
            w.WriteNumber("pending_expired", t.PendingExpired);
            w.WriteNumber("pending_dropped", t.PendingDropped);
            w.WriteNumber("samplers_refused", t.SamplersRefused);
            w.WriteEndObject();
            w.WriteStartArray("sockets");
            foreach (var p in collector.SocketCounters)
            {
                w.WriteStartObject();
                w.WriteString("listener", p.Listener);
                w.WriteNumber("socket", p.Index);
                w.WriteNumber("datagrams", p.Received);
                w.WriteNumber("queue_drops", p.QueueDrops);
                w.WriteNumber("queue_depth", p.QueueDepth);
                w.WriteNumber("queue_capacity", p.QueueCapacity);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    public static string Metrics(Ingest.Collector collector)
    {
        var s = new StringBuilder();
        void Help(string name, string type, string help) => s.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        static string Escape(string v) => v.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
        void Line(string name, string labels, double value) =>
            s.Append(name).Append(labels.Length > 0 ? "{" + labels + "}" : "").Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');

        var exporters = collector.Exporters.OrderBy(e => e.Id.Address).ThenBy(e => e.Id.Protocol).ThenBy(e => e.Id.Domain).ToList();
        string L(ExporterState e) => $"exporter=\"{Escape(e.Id.Address.ToString())}\",protocol=\"{FlowProtocolNames.Name(e.Id.Protocol)}\",domain=\"{e.Id.Domain}\"";
        (string Name, string Type, string Help, Func<ExporterState, double> Value)[] perExporter =
        [
            ("flowline_exporter_datagrams_total", "counter", "Datagrams received from the exporter.", e => e.Datagrams),
            ("flowline_exporter_bytes_total", "counter", "UDP payload bytes received from the exporter.", e => e.Bytes),
            ("flowline_exporter_records_total", "counter", "Flow records decoded from the exporter.", e => e.Records),
            ("flowline_exporter_malformed_total", "counter", "Datagrams that did not decode.", e => e.Malformed),
            ("flowline_exporter_queue_drops_total", "counter", "Datagrams of this exporter dropped because a receive queue was full (counted once it is known; drops before its first decoded datagram are in flowline_socket_queue_drops_total only).", e => e.QueueDrops),
            ("flowline_exporter_lost_total", "counter", "Missing by sequence numbers (records for NetFlow v5 and IPFIX, packets for NetFlow v9, datagrams for sFlow).", e => e.Lost),
            ("flowline_exporter_lost_samples_total", "counter", "sFlow samples missing by sample sequence numbers.", e => e.LostSamples),
            ("flowline_exporter_sequence_resets_total", "counter", "Sequence restarts (exporter restarts), not counted as loss.", e => e.SequenceResets),
            ("flowline_exporter_sampling_rate", "gauge", "Sampling rate in force for the exporter.", e => e.SamplingRate),
            ("flowline_exporter_last_seen_seconds", "gauge", "Unix time of the exporter's last datagram.", e => e.LastSeen / 1e6),
        ];
        foreach (var (name, type, help, value) in perExporter)
        {
            Help(name, type, help);
            foreach (var e in exporters)
            {
                lock (e.Sync) Line(name, L(e), value(e));
            }
        }
        Help("flowline_exporter_malformed_by_reason_total", "counter", "Datagrams that did not decode, by reason.");
        foreach (var e in exporters)
        {
            lock (e.Sync)
            {
                for (var i = 1; i < e.MalformedByReason.Length; i++)
                {
                    if (e.MalformedByReason[i] > 0) Line("flowline_exporter_malformed_by_reason_total", L(e) + $",reason=\"{DecodeErrorNames.Name((DecodeError)i)}\"", e.MalformedByReason[i]);
                }
            }
        }
        Help("flowline_socket_datagrams_total", "counter", "Datagrams received per socket.");
        foreach (var p in collector.SocketCounters) Line("flowline_socket_datagrams_total", $"listener=\"{p.Listener}\",socket=\"{p.Index}\"", p.Received);
        Help("flowline_socket_queue_drops_total", "counter", "Datagrams dropped per socket because its queue was full.");
        foreach (var p in collector.SocketCounters) Line("flowline_socket_queue_drops_total", $"listener=\"{p.Listener}\",socket=\"{p.Index}\"", p.QueueDrops);
        Help("flowline_socket_queue_depth", "gauge", "Datagrams waiting to be decoded per socket.");
        foreach (var p in collector.SocketCounters) Line("flowline_socket_queue_depth", $"listener=\"{p.Listener}\",socket=\"{p.Index}\"", p.QueueDepth);
        Help("flowline_socket_queue_capacity", "gauge", "Datagrams a socket's queue holds at most.");
        foreach (var p in collector.SocketCounters) Line("flowline_socket_queue_capacity", $"listener=\"{p.Listener}\",socket=\"{p.Index}\"", p.QueueCapacity);
        Help("flowline_batch_append_seconds", "gauge", "Time the last batch took to enter the store, per socket.");
        foreach (var p in collector.SocketCounters) Line("flowline_batch_append_seconds", $"listener=\"{p.Listener}\",socket=\"{p.Index}\"", p.LastBatchSeconds);
        Help("flowline_records_stored_total", "counter", "Flow records handed to the store.");
        Line("flowline_records_stored_total", "", collector.RecordsStored);
        Help("flowline_store_errors_total", "counter", "Failed hand-overs to the store (retried).");
        Line("flowline_store_errors_total", "", collector.StoreErrors);
        Help("flowline_store_lag_seconds", "gauge", "Seconds since records last entered the store.");
        Line("flowline_store_lag_seconds", "", collector.StoreLagSeconds);
        // The engine's upkeep: compaction and retention, per store.
        var stores = new List<(string Name, IReadOnlyList<Query.StoreMetric> Metrics)> { ("flows", collector.Store.Metrics) };
        if (collector.Sessions is { } sessionService) stores.Add(("sessions", sessionService.Store.Metrics));
        foreach (var metric in stores[0].Metrics)
        {
            Help(metric.Name, metric.Type, metric.Help);
            foreach (var (name, metrics) in stores)
            {
                if (metrics.FirstOrDefault(m => m.Name == metric.Name) is { } m) Line(metric.Name, $"store=\"{name}\"", m.Value);
            }
        }
        Help("flowline_upkeep_errors_total", "counter", "Background upkeep passes (compaction, retention) that failed; retried at the next pass.");
        Line("flowline_upkeep_errors_total", "", collector.UpkeepErrors);
        Help("flowline_rows_stored_total", "counter", "Rows stored: one per record, plus one for each flow between two ports (one per port).");
        Line("flowline_rows_stored_total", "", collector.RowsStored);
        // What strangers can make us hold is capped (docs/LIMITS.md); each cap says what it refused or evicted.
        Help("flowline_exporters", "gauge", "Exporters (address, protocol, domain) tracked now (max_exporters).");
        Line("flowline_exporters", "", exporters.Count);
        Help("flowline_exporters_evicted_total", "counter", "Exporters forgotten beyond max_exporters or after exporter_idle.");
        Line("flowline_exporters_evicted_total", "", collector.ExportersEvicted);
        Help("flowline_datagrams_refused_total", "counter", "Datagrams dropped before decoding: source not in exporters_allowed, or sFlow agent not its source (sflow_agent_check).");
        Line("flowline_datagrams_refused_total", "reason=\"not_allowed\"", collector.Admission.NotAllowed);
        Line("flowline_datagrams_refused_total", "reason=\"agent_mismatch\"", collector.Admission.AgentMismatch);
        var templates = collector.Templates;
        Help("flowline_template_scopes", "gauge", "Exporter/domain pairs the decoders hold templates for.");
        Line("flowline_template_scopes", "", templates.Scopes);
        Help("flowline_templates", "gauge", "NetFlow v9 and IPFIX templates held.");
        Line("flowline_templates", "", templates.Templates);
        Help("flowline_template_pending_bytes", "gauge", "Bytes of data sets held until their template arrives.");
        Line("flowline_template_pending_bytes", "", templates.PendingBytes);
        Help("flowline_template_scopes_evicted_total", "counter", "Exporter/domain pairs whose templates were forgotten to stay within the decoders' limits.");
        Line("flowline_template_scopes_evicted_total", "", templates.ScopesEvicted);
        Help("flowline_templates_refused_total", "counter", "Templates refused: their exporter/domain held its maximum, or their exporter its share of the decoders' template fields.");
        Line("flowline_templates_refused_total", "", templates.TemplatesRefused);
        Help("flowline_template_pending_refused_total", "counter", "Data sets not held for a template because held data reached the decoders' limit.");
        Line("flowline_template_pending_refused_total", "", templates.PendingRefused);
        Help("flowline_template_pending_expired_total", "counter", "Held data sets dropped because their template did not come within an hour.");
        Line("flowline_template_pending_expired_total", "", templates.PendingExpired);
        Help("flowline_template_pending_dropped_total", "counter", "Held data sets dropped before their template came: beyond an exporter's held limits (oldest first), too large to hold, or with their evicted scope.");
        Line("flowline_template_pending_dropped_total", "", templates.PendingDropped);
        Help("flowline_template_samplers_refused_total", "counter", "Sampler rates from options data not kept: their exporter/domain held its maximum of samplers.");
        Line("flowline_template_samplers_refused_total", "", templates.SamplersRefused);
        Help("flowline_templates_adopted_total", "counter", "Templates taken from the other collectors of the store (a ClickHouse cluster; docs/SCALE.md).");
        Line("flowline_templates_adopted_total", "", collector.TemplatesAdopted);
        Help("flowline_realtime_definitions_disabled_total", "counter", "Real-time flow definitions taken out of service because counting rows into them failed (each also raises a 'disabled' event).");
        Line("flowline_realtime_definitions_disabled_total", "", collector.Realtime.DefinitionsDisabled);
        Help("flowline_counter_sources", "gauge", "sFlow counter data sources whose metrics are kept.");
        Line("flowline_counter_sources", "", collector.Realtime.Counters.Sources);
        Help("flowline_counter_sources_evicted_total", "counter", "Counter data sources forgotten, the longest silent first, to stay within their limit.");
        Line("flowline_counter_sources_evicted_total", "", collector.Realtime.Counters.Evicted);
        Help("flowline_realtime_waiters", "gauge", "Long-poll readers waiting on the flow log and on the events.");
        Line("flowline_realtime_waiters", "journal=\"flows\"", collector.Realtime.FlowLog.Waiters);
        Line("flowline_realtime_waiters", "journal=\"events\"", collector.Realtime.Events.Waiters);
        Help("flowline_realtime_rows_total", "counter", "Rows counted by the real-time flow definitions.");
        Line("flowline_realtime_rows_total", "", collector.Realtime.Rows);
        Help("flowline_realtime_rows_dropped_total", "counter", "Rows the real-time flow definitions did not count because they had fallen behind (the rows are stored all the same).");
        Line("flowline_realtime_rows_dropped_total", "", collector.RealtimeFeed.Dropped);
        // A garbage collection stops the socket readers too: long pauses show up as socket drops.
        Help("flowline_gc_collections_total", "counter", "Garbage collections of the collector process, by generation.");
        for (var g = 0; g <= GC.MaxGeneration; g++) Line("flowline_gc_collections_total", $"generation=\"{g}\"", GC.CollectionCount(g));
        Help("flowline_gc_pause_seconds_total", "counter", "Time the collector's threads were paused for garbage collections.");
        Line("flowline_gc_pause_seconds_total", "", GC.GetTotalPauseDuration().TotalSeconds);
        Help("flowline_gc_heap_bytes", "gauge", "Bytes of the managed heap in use after the last garbage collection.");
        Line("flowline_gc_heap_bytes", "", GC.GetGCMemoryInfo().HeapSizeBytes);
        if (collector.Inventory is { } inventory && collector.Enricher is { } enricher)
        {
            var inv = enricher.Inventory;
            Help("flowline_inventory_objects", "gauge", "Objects in the inventory in force.");
            Line("flowline_inventory_objects", "kind=\"account\"", inv.Accounts.Count);
            Line("flowline_inventory_objects", "kind=\"network\"", inv.Networks.Count);
            Line("flowline_inventory_objects", "kind=\"port\"", inv.Ports.Count);
            Line("flowline_inventory_objects", "kind=\"security_group\"", inv.SecurityGroups.Count);
            Help("flowline_inventory_reloads_total", "counter", "Inventory reloads put in force (file changes and SIGHUP).");
            Line("flowline_inventory_reloads_total", "", inventory.Reloads);
            Help("flowline_inventory_refused_total", "counter", "Inventory files refused for errors (the previous inventory stayed in force).");
            Line("flowline_inventory_refused_total", "", inventory.Failures);
            Help("flowline_inventory_current", "gauge", "1 when the inventory in force is the file on disk, 0 when the file on disk was refused.");
            Line("flowline_inventory_current", "", inventory.LastError is null ? 1 : 0);
        }
        if (collector.Sessions is { } sessions)
        {
            Help("flowline_sessions_held", "gauge", "Sessions the sessionizers hold (active or waiting to end).");
            Line("flowline_sessions_held", "", sessions.SessionsHeld);
            Help("flowline_session_table_bytes", "gauge", "Memory the sessionizers' tables take (session_max_open bounds it).");
            Line("flowline_session_table_bytes", "", sessions.TableBytes);
            Help("flowline_sessions_evicted_total", "counter", "Sessions forgotten early to make room (their traffic was stored already; more traffic starts a new session).");
            Line("flowline_sessions_evicted_total", "", sessions.SessionsEvicted);
            Help("flowline_sessions_exported_early_total", "counter", "Sessions whose traffic was handed out before the interval ended, to make room.");
            Line("flowline_sessions_exported_early_total", "", sessions.SessionsExportedEarly);
            Help("flowline_session_records_dropped_total", "counter", "Records left out of sessions because the table and its early exports were full.");
            Line("flowline_session_records_dropped_total", "", sessions.RecordsDropped);
            Help("flowline_session_rows_dropped_total", "counter", "Session rows dropped because the sessions store failed for too long.");
            Line("flowline_session_rows_dropped_total", "", sessions.RowsDropped);
            Help("flowline_session_remote_prefixes_folded_total", "counter", "Remote prefixes named 0.0.0.0/0 or ::/0 because the store held the most names it gives prefixes made of strangers' addresses.");
            Line("flowline_session_remote_prefixes_folded_total", "", sessions.RemotePrefixesFolded);
            Help("flowline_session_input_sampling", "gauge", "Input sampling: one session in this many is held, its counts scaled up (1: every session; session_input_rate).");
            Line("flowline_session_input_sampling", "", sessions.InputSampling);
            Help("flowline_session_input_sampling_backlog_raises_total", "counter", "Rises of the input sampling because a decoder fell behind its socket queue (a quarter full): sessions shed before datagrams are dropped.");
            Line("flowline_session_input_sampling_backlog_raises_total", "", sessions.BacklogRaises);
            Help("flowline_session_records_sampled_out_total", "counter", "Records of sessions the input sampling left out (their traffic is in the scaled counts of those held).");
            Line("flowline_session_records_sampled_out_total", "", sessions.RecordsSampledOut);
            Help("flowline_session_other_observations_total", "counter", "Records left out of sessions as the other observation of their packets (session_observation).");
            Line("flowline_session_other_observations_total", "", sessions.OtherObservations);
            Help("flowline_session_rate_ports_watched", "gauge", "Ports of interest whose session creation rate is watched for anomalies.");
            Line("flowline_session_rate_ports_watched", "", sessions.Anomalies.Watched);
            Help("flowline_session_rate_events_total", "counter", "Session rate events (abnormal high, low, back to normal).");
            Line("flowline_session_rate_events_total", "", sessions.Anomalies.Raised);
            Help("flowline_sessions_flushed_total", "counter", "Sessions with traffic handed out at interval ends.");
            Line("flowline_sessions_flushed_total", "", sessions.SessionsFlushed);
            Help("flowline_sessions_exported_total", "counter", "Sessions exported, by kind (sampled, logged).");
            Line("flowline_sessions_exported_total", "kind=\"sampled\"", sessions.Exporter.Sampled);
            Line("flowline_sessions_exported_total", "kind=\"logged\"", sessions.Exporter.Logged);
            Help("flowline_session_sampling_threshold_bytes", "gauge", "Bytes at or above which a session is exported as it is.");
            Line("flowline_session_sampling_threshold_bytes", "", sessions.Exporter.Sampler.Threshold);
            Help("flowline_session_rows_stored_total", "counter", "Session rows stored (from this server and from agents).");
            Line("flowline_session_rows_stored_total", "", sessions.RowsStored);
            Help("flowline_session_store_errors_total", "counter", "Failed session store writes (the rows are kept and retried).");
            Line("flowline_session_store_errors_total", "", sessions.StoreErrors);
            Help("flowline_agent_batches_total", "counter", "Agents' batches stored (session and flow rows, or SessionEndpoints).");
            Line("flowline_agent_batches_total", "", sessions.AgentBatches);
            Help("flowline_agent_flow_rows_total", "counter", "Per-port flow rows agents sent, stored in the flow store.");
            Line("flowline_agent_flow_rows_total", "", sessions.AgentFlowRows);
            Help("flowline_agent_duplicate_batches_total", "counter", "Agents' batches received again after they were stored (not stored twice).");
            Line("flowline_agent_duplicate_batches_total", "", sessions.AgentDuplicates);
            Help("flowline_session_destination_pending_lines", "gauge", "Session lines a file or syslog destination has not taken yet.");
            foreach (var d in sessions.LineDestinations) Line("flowline_session_destination_pending_lines", $"destination=\"{Escape(d.Destination)}\"", d.Pending);
            Help("flowline_session_destination_dropped_lines_total", "counter", "Session lines dropped because a failing destination's queue was full.");
            foreach (var d in sessions.LineDestinations) Line("flowline_session_destination_dropped_lines_total", $"destination=\"{Escape(d.Destination)}\"", d.Dropped);
            Help("flowline_session_destination_errors_total", "counter", "Failed writes to a file or syslog destination (the lines are kept and retried).");
            foreach (var d in sessions.LineDestinations) Line("flowline_session_destination_errors_total", $"destination=\"{Escape(d.Destination)}\"", d.Errors);
        }
        return s.ToString();
    }

    /// <summary>The taps by kind and status, and the driver's reconcile passes, changes and failures.</summary>
    private static string TaasMetrics(TaasAccess taas)
    {
        var s = new StringBuilder();
        s.Append("# HELP flowline_taps Tap resources, by kind and status.\n# TYPE flowline_taps gauge\n");
        foreach (var kind in new[] { Flowline.Taas.TapKind.Service, Flowline.Taas.TapKind.Flow, Flowline.Taas.TapKind.Mirror })
        {
            var list = taas.State.List(kind);
            foreach (var status in new[] { Flowline.Taas.TapState.PendingCreate, Flowline.Taas.TapState.Active, Flowline.Taas.TapState.Error })
            {
                s.Append(CultureInfo.InvariantCulture, $"flowline_taps{{kind=\"{Flowline.Taas.TapSchema.Names(kind).One}\",status=\"{status}\"}} {list.Count(r => r.Status == status)}\n");
            }
        }
        if (taas.Driver?.Invoke() is { } d)
        {
            s.Append(CultureInfo.InvariantCulture, $"# HELP flowline_taas_reconcile_passes_total Passes of the tap driver over the switch.\n# TYPE flowline_taas_reconcile_passes_total counter\nflowline_taas_reconcile_passes_total {d.Passes}\n");
            s.Append(CultureInfo.InvariantCulture, $"# HELP flowline_taas_switch_changes_total Transactions the tap driver made on the switch.\n# TYPE flowline_taas_switch_changes_total counter\nflowline_taas_switch_changes_total {d.Changes}\n");
            s.Append(CultureInfo.InvariantCulture, $"# HELP flowline_taas_failures_total Passes that failed (switch unreachable or refusing).\n# TYPE flowline_taas_failures_total counter\nflowline_taas_failures_total {d.Failures}\n");
        }
        return s.ToString();
    }
}
