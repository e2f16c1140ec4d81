using System.Text.Json;
using Flowline.Sessions;
using Flowline.Records;

namespace Flowline.Ingest;

/// <summary>
/// Session rate anomalies in serve: the <see cref="SessionRateWatch"/> of the inventory's ports of interest,
/// its history kept in the sessions directory (written at every bin and at shutdown, read at start), its
/// events appended to <see cref="EventsFile"/>, logged, and sent to the configured destinations.
/// Called under the session service's flush lock.
/// </summary>
public sealed class SessionAnomalies : IDisposable
{
    public const string EventsFile = "anomalies.jsonl", HistoryFile = "session-rates.json";

    private readonly SessionRateWatch _watch;
    private readonly string _directory, _historyPath;
    private readonly ISymbolTable _symbols;
    private readonly Microsoft.Extensions.Logging.ILogger _log;
    private readonly SessionLogFile _events;
    private readonly List<LineDestination> _destinations = [];
    private Enrichment.Inventory? _watching;
    private long _savedBin = long.MinValue, _raised;
    private int _watched;

    public SessionAnomalies(CollectorOptions options, string directory, ISymbolTable symbols, Microsoft.Extensions.Logging.ILogger log)
    {
        (_directory, _symbols, _log) = (directory, symbols, log);
        _watch = new SessionRateWatch(new SessionRateWatchOptions { Bin = (long)options.AnomalyBin.TotalMicroseconds, Threshold = options.AnomalyThreshold });
        _historyPath = Path.Combine(directory, HistoryFile);
        if (File.Exists(_historyPath))
        {
            try
            {
                _watch.Load(File.ReadAllText(_historyPath));
            }
            catch (FormatException e)
            {
                File.Move(_historyPath, _historyPath + ".unreadable", overwrite: true);
                IngestLog.AnomalyHistoryUnreadable(_log, _historyPath, e.Message);
            }
        }
        _events = new SessionLogFile(Path.Combine(directory, EventsFile));
        foreach (var d in options.AnomalyEventsTo) _destinations.Add(new LineDestination(SessionService.Sink(d, "anomaly"), 0));
    }

    /// <summary>Watches the ports of interest of <paramref name="inventory"/> when it is not the one watched already.</summary>
    public void Watch(Enrichment.Inventory? inventory)
    {
        if (inventory is null || ReferenceEquals(inventory, _watching)) return;
        _watching = inventory;
        var ports = inventory.Ports.Where(p => p.OfInterest).Select(p => (p.Account, p.Uuid)).ToList();
        _watch.Watch(ports);
        Volatile.Write(ref _watched, ports.Count);
    }

    /// <summary>Events raised since start, and ports watched.</summary>
    public long Raised => Interlocked.Read(ref _raised);
    public int Watched => Volatile.Read(ref _watched);

    /// <summary>An interval ends: the ports of interest of <paramref name="inventory"/>, and the (account, port) of each new session.</summary>
    public void Interval(long now, Enrichment.Inventory? inventory, IEnumerable<(uint Account, uint Vmi)> created) =>
        Interval(now, inventory, created.GroupBy(c => c).Select(g => (g.Key, (long)g.Count())));

    /// <summary>As above, with the new sessions counted per port.</summary>
    public void Interval(long now, Enrichment.Inventory? inventory, IEnumerable<((uint Account, uint Vmi) Port, long Count)> created)
    {
        Watch(inventory);
        var events = new List<SessionRateEvent>();
        _watch.Interval(now, created.Select(c => ((_symbols.Name(c.Port.Account) ?? "", _symbols.Name(c.Port.Vmi) ?? ""), c.Count)), events);
        if (events.Count > 0)
        {
            Interlocked.Add(ref _raised, events.Count);
            var lines = events.Select(e => e.ToJson()).ToList();
            foreach (var e in events)
            {
                IngestLog.RateAnomaly(_log, e.Vmi, e.Account, e.Kind.ToString(), e.Observed, (e.BinLength / 1e6).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture),
                    e.Expected.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture), e.Baseline.ToString());
            }
            try
            {
                _events.Write(lines);
            }
            catch (IOException e)
            {
                IngestLog.SessionFileFailed(_log, EventsFile, e.Message);
            }
            foreach (var d in _destinations)
            {
                foreach (var line in lines) d.Add(line);
            }
        }
        foreach (var d in _destinations) d.Send(_log);
        var bin = now / _watch.Bin;
        if (bin != _savedBin)
        {
            _savedBin = bin;
            Save();
        }
    }

    /// <summary>Writes the history (whole, then renamed into place).</summary>
    public void Save()
    {
        try
        {
            AtomicFile.WriteText(_historyPath, _watch.Save());
        }
        catch (IOException e)
        {
            IngestLog.SessionFileFailed(_log, HistoryFile, e.Message);
        }
    }

    /// <summary>
    /// The events (JSON lines) whose time lies in [from, to) µs, of <paramref name="account"/> (null: every
    /// account), oldest first, from the events file and its rotations.
    /// </summary>
    public IEnumerable<string> Events(long from, long to, string? account)
    {
        var path = Path.Combine(_directory, EventsFile);
        foreach (var file in Enumerable.Range(1, 5).Reverse().Select(i => $"{path}.{i}").Append(path).Where(File.Exists).ToList())
        {
            foreach (var line in File.ReadLines(file))
            {
                if (line.Length == 0) continue;
                long time;
                string? owner;
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    time = (doc.RootElement.GetProperty("time").GetDateTime().ToUniversalTime() - DateTime.UnixEpoch).Ticks / 10;
                    owner = doc.RootElement.GetProperty("account").GetString();
                }
                catch (Exception e) when (e is JsonException or KeyNotFoundException or FormatException or InvalidOperationException)
                {
                    continue; // a torn last line
                }
                if (time >= from && time < to && (account is null || owner == account)) yield return line;
            }
        }
    }

    public void Dispose()
    {
        foreach (var d in _destinations) d.Sink.Dispose();
        _events.Dispose();
    }
}
