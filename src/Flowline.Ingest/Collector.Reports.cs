using System.Diagnostics;
using Flowline.Records;
using Flowline.Wire;
using Microsoft.Extensions.Logging;

namespace Flowline.Ingest;

/// <summary>
/// What the counters say, as log events: malformed datagrams by exporter and reason, queue drops, refused
/// datagrams, exporters forgotten, sessions evicted or dropped — at most once every <see cref="ReportInterval"/>
/// (and at the stop), and only when they grew. A flood of junk makes a few lines, not one a datagram.
/// </summary>
public sealed partial class Collector
{
    /// <summary>How often the counters are looked at for events.</summary>
    public static readonly TimeSpan ReportInterval = TimeSpan.FromSeconds(10);

    /// <summary>Exporters named in one round of malformed-datagram events; the rest are counted in one more.</summary>
    private const int MalformedExportersReported = 10;

    private readonly Dictionary<ExporterId, long[]> _malformedSeen = [];
    private long _queueDropsSeen, _refusedSeen, _evictedSeen, _sessionsEvictedSeen, _sessionsExportedSeen, _sessionRecordsDroppedSeen, _sessionRowsDroppedSeen;
    private long _reportedAt = Stopwatch.GetTimestamp();
    private readonly Lock _reporting = new();

    /// <summary>Logs what grew since the last report, when <see cref="ReportInterval"/> has passed (or always, at the stop).</summary>
    internal void Report(bool final = false)
    {
        lock (_reporting)
        {
            var elapsed = Stopwatch.GetElapsedTime(_reportedAt);
            if (!final && elapsed < ReportInterval) return;
            _reportedAt = Stopwatch.GetTimestamp();
            var seconds = Math.Max(1, (int)Math.Round(elapsed.TotalSeconds));
            ReportMalformed(seconds);
            var drops = QueueDrops;
            if (drops > _queueDropsSeen) IngestLog.QueueDrops(_log, drops - _queueDropsSeen, seconds, drops);
            _queueDropsSeen = drops;
            var refused = Admission.NotAllowed + Admission.AgentMismatch;
            if (refused > _refusedSeen) IngestLog.Refused(_log, refused - _refusedSeen, seconds);
            _refusedSeen = refused;
            var evicted = ExportersEvicted;
            if (evicted > _evictedSeen) IngestLog.ExportersEvicted(_log, evicted - _evictedSeen, seconds, Options.MaxExporters);
            _evictedSeen = evicted;
            if (Sessions is { } s)
            {
                var log = _sessionsLog ??= Logs.CreateLogger("sessions");
                long sessionsEvicted = s.SessionsEvicted, exported = s.SessionsExportedEarly, records = s.RecordsDropped, rows = s.RowsDropped;
                if (sessionsEvicted > _sessionsEvictedSeen || exported > _sessionsExportedSeen)
                {
                    IngestLog.SessionsEvicted(log, sessionsEvicted - _sessionsEvictedSeen, exported - _sessionsExportedSeen, seconds, Options.SessionMaxOpen);
                }
                if (records > _sessionRecordsDroppedSeen || rows > _sessionRowsDroppedSeen)
                {
                    IngestLog.SessionsDropped(log, records - _sessionRecordsDroppedSeen, rows - _sessionRowsDroppedSeen, seconds);
                }
                (_sessionsEvictedSeen, _sessionsExportedSeen, _sessionRecordsDroppedSeen, _sessionRowsDroppedSeen) = (sessionsEvicted, exported, records, rows);
            }
        }
    }

    private ILogger? _sessionsLog;

    private void ReportMalformed(int seconds)
    {
        var grown = new List<(ExporterState Exporter, long Count, string Reasons)>();
        foreach (var e in _exporters.Values)
        {
            long[] now;
            lock (e.Sync)
            {
                if (e.Malformed == 0) continue;
                now = (long[])e.MalformedByReason.Clone();
            }
            var before = _malformedSeen.GetValueOrDefault(e.Id);
            _malformedSeen[e.Id] = now;
            var reasons = new List<string>();
            long count = 0;
            for (var i = 0; i < now.Length; i++)
            {
                var d = now[i] - (before?[i] ?? 0);
                if (d <= 0) continue;
                count += d;
                reasons.Add($"{DecodeErrorNames.Name((DecodeError)i)} {d}");
            }
            if (count > 0) grown.Add((e, count, string.Join(", ", reasons)));
        }
        // Exporters forgotten since are forgotten here too: the map follows the collector's, which is capped.
        if (_malformedSeen.Count > _exporters.Count)
        {
            foreach (var id in _malformedSeen.Keys.Where(id => !_exporters.ContainsKey(id)).ToList()) _malformedSeen.Remove(id);
        }
        foreach (var (e, count, reasons) in grown.OrderByDescending(g => g.Count).Take(MalformedExportersReported))
        {
            var exporter = e.Id.Domain == 0 ? e.Id.Address.ToString() : $"{e.Id.Address} domain {e.Id.Domain}";
            IngestLog.Malformed(_log, count, exporter, FlowProtocolNames.Name(e.Id.Protocol), seconds, reasons);
        }
        if (grown.Count > MalformedExportersReported) IngestLog.MalformedMore(_log, grown.Count - MalformedExportersReported, seconds);
    }
}
