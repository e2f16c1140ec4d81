using Microsoft.Extensions.Logging;

namespace Flowline.Ingest;

/// <summary>
/// The collector's log events (docs/OPERATIONS.md lists them). The component is the logger's category:
/// collector, enrichment, inventory, store, templates, sessions, forwarding, events.
/// </summary>
internal static partial class IngestLog
{
    [LoggerMessage(100, LogLevel.Warning, "no address database (geo_dir / FLOWLINE_GEO_DIR): public addresses get no country or AS", EventName = "no-geo")]
    public static partial void NoGeo(ILogger log);

    [LoggerMessage(101, LogLevel.Information, "{CountryRanges} country and {AsnRanges} AS ranges from {Source}", EventName = "geo-loaded")]
    public static partial void GeoLoaded(ILogger log, int countryRanges, int asnRanges, string source);

    [LoggerMessage(172, LogLevel.Warning, "{Source} gives no {What} ranges: public addresses get no {What}", EventName = "geo-partial")]
    public static partial void GeoPartial(ILogger log, string source, string what);

    [LoggerMessage(102, LogLevel.Warning, "{Dir}: {Reason}; country: and asn: keys have no values", EventName = "geo-unreadable")]
    public static partial void GeoUnreadable(ILogger log, string dir, string reason);

    [LoggerMessage(110, LogLevel.Information, "{Path}: {Summary}", EventName = "loaded")]
    public static partial void InventoryLoaded(ILogger log, string path, string summary);

    [LoggerMessage(111, LogLevel.Information, "reloaded {Path} ({Why}): {Summary}", EventName = "reloaded")]
    public static partial void InventoryReloaded(ILogger log, string path, string why, string summary);

    [LoggerMessage(112, LogLevel.Warning, "refused {Path} ({Why}), the previous inventory stays in force: {Errors}", EventName = "refused")]
    public static partial void InventoryRefused(ILogger log, string path, string why, IEnumerable<string> errors);

    [LoggerMessage(113, LogLevel.Warning, "not reloaded ({Reason}), the previous inventory stays in force", EventName = "not-reloaded")]
    public static partial void InventoryNotReloaded(ILogger log, string reason);

    [LoggerMessage(120, LogLevel.Error, "{Reason}; shutting down: {Records} records not stored", EventName = "not-stored")]
    public static partial void StoreGaveUp(ILogger log, string reason, long records);

    [LoggerMessage(121, LogLevel.Warning, "{Reason}; the decoders hold their records and retry every second (the sockets' queues fill, then drop and count); said again each minute it lasts", EventName = "retrying")]
    public static partial void StoreRetrying(ILogger log, string reason);

    [LoggerMessage(127, LogLevel.Information, "the store takes records again", EventName = "recovered")]
    public static partial void StoreRecovered(ILogger log);

    [LoggerMessage(122, LogLevel.Error, "{Reason}; {Records} records of the last commit window could not be made durable", EventName = "not-durable")]
    public static partial void StoreNotDurable(ILogger log, string reason, long records);

    [LoggerMessage(123, LogLevel.Information, "{Store}: {Detail}", EventName = "compacted")]
    public static partial void Compacted(ILogger log, string store, string detail);

    [LoggerMessage(124, LogLevel.Error, "compaction: {Kind}: {Reason}; tried again at the next pass", EventName = "compaction-failed")]
    public static partial void CompactionFailed(ILogger log, string kind, string reason);

    [LoggerMessage(125, LogLevel.Information, "removed {Flows} flow and {Sessions} session partition(s) that ended before {Before} UTC (retention {Retention})", EventName = "retention")]
    public static partial void RetentionApplied(ILogger log, int flows, int sessions, string before, string retention);

    [LoggerMessage(175, LogLevel.Warning, "retention removed {Partitions} partition(s) written to since its last pass, a minute ago: their flows started before {Before} UTC, so they arrived about as old as the retention ({Retention}) or older (an exporter's clock behind, or old traffic replayed?); --retention keeps more", EventName = "expired-on-arrival")]
    public static partial void ExpiredOnArrival(ILogger log, long partitions, string before, string retention);

    [LoggerMessage(126, LogLevel.Error, "retention: {Kind}: {Reason}; tried again in a minute", EventName = "retention-failed")]
    public static partial void RetentionFailed(ILogger log, string kind, string reason);

    [LoggerMessage(130, LogLevel.Warning, "{Path}: not restored ({Reason})", EventName = "not-restored")]
    public static partial void TemplatesNotRestored(ILogger log, string path, string reason);

    [LoggerMessage(131, LogLevel.Warning, "not saved ({Reason})", EventName = "not-saved")]
    public static partial void TemplatesNotSaved(ILogger log, string reason);

    [LoggerMessage(132, LogLevel.Warning, "not shared through the store ({Reason}); tried again shortly", EventName = "not-shared")]
    public static partial void TemplatesNotShared(ILogger log, string reason);

    [LoggerMessage(133, LogLevel.Information, "{Sets} template sets from {Collectors} other collectors of the store handed to the decoders", EventName = "adopted")]
    public static partial void TemplatesAdopted(ILogger log, int sets, int collectors);

    [LoggerMessage(140, LogLevel.Information,
        "stopped: {Datagrams} datagrams received, {Decoded} records decoded, {Stored} records stored, {QueueDrops} datagrams dropped at full queues{Unstored}; drained in {Seconds} s",
        EventName = "stopped")]
    public static partial void Stopped(ILogger log, long datagrams, long decoded, long stored, long queueDrops, string unstored, double seconds);

    [LoggerMessage(141, LogLevel.Warning, "{Datagrams} malformed datagrams from {Exporter} ({Protocol}) in the last {Seconds} s: {Reasons}", EventName = "malformed")]
    public static partial void Malformed(ILogger log, long datagrams, string exporter, string protocol, int seconds, string reasons);

    [LoggerMessage(142, LogLevel.Warning, "{More} more exporters sent malformed datagrams in the last {Seconds} s", EventName = "malformed-more")]
    public static partial void MalformedMore(ILogger log, int more, int seconds);

    [LoggerMessage(143, LogLevel.Warning, "{Datagrams} datagrams dropped at full queues in the last {Seconds} s ({Total} since the start): the decoders fall behind", EventName = "queue-drops")]
    public static partial void QueueDrops(ILogger log, long datagrams, int seconds, long total);

    [LoggerMessage(144, LogLevel.Warning, "{Exporters} exporters forgotten in the last {Seconds} s (max_exporters {Max}, or silent for exporter_idle)", EventName = "exporters-evicted")]
    public static partial void ExportersEvicted(ILogger log, long exporters, int seconds, int max);

    [LoggerMessage(145, LogLevel.Warning, "{Datagrams} datagrams refused in the last {Seconds} s (exporters_allowed, sflow_agent_check)", EventName = "datagrams-refused")]
    public static partial void Refused(ILogger log, long datagrams, int seconds);

    [LoggerMessage(150, LogLevel.Information, "{Evicted} sessions forgotten early and {Exported} exported early for room in the last {Seconds} s (session_max_open {Max})", EventName = "evicted")]
    public static partial void SessionsEvicted(ILogger log, long evicted, long exported, int seconds, long max);

    [LoggerMessage(151, LogLevel.Warning, "{Records} records found no room in the session table and {Rows} session rows were dropped in the last {Seconds} s", EventName = "dropped")]
    public static partial void SessionsDropped(ILogger log, long records, long rows, int seconds);

    [LoggerMessage(158, LogLevel.Warning, "input sampling now 1 in {Sampling}: {Rate} new sessions/s against session_input_rate {Budget} (held sessions count {Sampling} times)", EventName = "input-sampling")]
    public static partial void SessionInputSampling(ILogger log, int sampling, long rate, long budget);

    [LoggerMessage(171, LogLevel.Warning, "input sampling now 1 in {Sampling}: the decoder is behind its socket queue ({Fill:P0} full), sessions shed before datagrams are dropped", EventName = "input-sampling-backlog")]
    public static partial void SessionInputSamplingBacklog(ILogger log, int sampling, double fill);

    [LoggerMessage(152, LogLevel.Warning, "store: {Reason}; {Rows} rows kept for the next interval", EventName = "store-retrying")]
    public static partial void SessionStoreRetrying(ILogger log, string reason, int rows);

    [LoggerMessage(153, LogLevel.Error, "store: {Reason}", EventName = "store-failed")]
    public static partial void SessionStoreFailed(ILogger log, string reason);

    [LoggerMessage(154, LogLevel.Warning, "{Destination}: {Reason}; {Lines} lines kept for the next interval", EventName = "send-retrying")]
    public static partial void SessionLinesRetrying(ILogger log, string destination, string reason, int lines);

    [LoggerMessage(155, LogLevel.Warning, "{Path}: {Reason}; kept as .unreadable, the session rates are learned again", EventName = "history-unreadable")]
    public static partial void AnomalyHistoryUnreadable(ILogger log, string path, string reason);

    [LoggerMessage(156, LogLevel.Warning, "{Vmi} ({Account}): session rate {Kind}, {Observed} new in a bin of {Bin} s, usually {Expected} ({Baseline})", EventName = "rate-anomaly")]
    public static partial void RateAnomaly(ILogger log, string vmi, string account, string kind, long observed, string bin, string expected, string baseline);

    [LoggerMessage(157, LogLevel.Warning, "{Path}: {Reason}", EventName = "file-failed")]
    public static partial void SessionFileFailed(ILogger log, string path, string reason);

    [LoggerMessage(160, LogLevel.Warning, "{Path}: {Reason}; no forwarding sessions restored", EventName = "state-unreadable")]
    public static partial void ForwardingNotRestored(ILogger log, string path, string reason);

    [LoggerMessage(170, LogLevel.Warning, "{Hook}: event {EventNumber} not delivered after {Attempts} attempts ({Problem})", EventName = "not-delivered")]
    public static partial void EventNotDelivered(ILogger log, string hook, string eventNumber, int attempts, string problem);
}
