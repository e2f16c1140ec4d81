using System.Text.Json;
using System.Text.Json.Nodes;
using Flowline.Records;

namespace Flowline.Sessions;

/// <summary>Settings of a <see cref="SessionRateWatch"/>.</summary>
public sealed record SessionRateWatchOptions
{
    /// <summary>The length of a bin, in which new sessions are counted (µs; default a minute). An hour holds whole bins.</summary>
    public long Bin { get; init; } = 60_000_000;
    /// <summary>How far from the usual count, in robust standard deviations, a bin is abnormal.</summary>
    public double Threshold { get; init; } = 5;
    /// <summary>And by at least this many sessions (small counts vary a lot in relative terms).</summary>
    public double MinChange { get; init; } = 5;
    /// <summary>Bins of history (any hour) before the first verdict.</summary>
    public int MinHistory { get; init; } = 60;
    /// <summary>Bins of one hour of the day before that hour is judged by its own history rather than by every hour's.</summary>
    public int MinHourHistory { get; init; } = 20;
    /// <summary>Days of history kept for every hour of the day.</summary>
    public int Days { get; init; } = 7;
}

/// <summary>A port's session creation rate turned abnormal (high or low) or back to normal.</summary>
public sealed record SessionRateEvent(
    long Time, string Account, string Vmi, string Kind, long Observed, double Expected, double Spread, double Score, string Baseline, long BinStart, long BinLength)
{
    public const string High = "high", Low = "low", Normal = "normal";

    /// <summary>One JSON object: the line of the events file, syslog and the API.</summary>
    public string ToJson()
    {
        return new JsonObject
        {
            ["time"] = SessionLine.Time(Time),
            ["account"] = Account,
            ["vmi"] = Vmi,
            ["kind"] = Kind,
            ["sessions"] = Observed,
            ["expected"] = Math.Round(Expected, 2),
            ["spread"] = Math.Round(Spread, 2),
            ["score"] = Math.Round(Score, 2),
            ["baseline"] = Baseline,
            ["bin_start"] = SessionLine.Time(BinStart),
            ["bin_seconds"] = BinLength / 1e6,
        }.ToJsonString(ReadableJson.Serializer);
    }
}

/// <summary>
/// Anomaly detection on the session creation rate of ports of interest. New sessions are counted per bin
/// (a minute by default). Each closed bin's count joins the port's history for its hour of the day (UTC),
/// kept for <see cref="SessionRateWatchOptions.Days"/> days; so a port busy by day and quiet at night is
/// judged against its own hour. A count is abnormal when it lies more than <c>Threshold</c> robust standard
/// deviations from the median of that history (the spread is 1.4826 × the median absolute deviation, at
/// least √median as for a Poisson count, at least 1) and by at least <c>MinChange</c> sessions. Until an
/// hour has <c>MinHourHistory</c> bins the history of every hour is used; until there are <c>MinHistory</c>
/// bins, nothing is judged. A rise is reported as soon as the open bin's count crosses the bound; a fall
/// when its bin closes. An event is raised when a port turns abnormal and when it is back to normal.
/// Bins while the watch was not running are not history. Not thread-safe.
/// </summary>
public sealed class SessionRateWatch
{
    private readonly SessionRateWatchOptions _options;
    private readonly int _perHour;
    private readonly Dictionary<(string Account, string Vmi), Port> _ports = [];
    private long _open = long.MinValue;

    public SessionRateWatch(SessionRateWatchOptions? options = null)
    {
        _options = options ?? new SessionRateWatchOptions();
        if (_options.Bin <= 0 || 3_600_000_000 % _options.Bin != 0) throw new ArgumentException("the bin must divide an hour");
        _perHour = (int)(3_600_000_000 / _options.Bin);
    }

    private sealed class Port
    {
        /// <summary>Per hour of the day, the counts of its closed bins, oldest first.</summary>
        public readonly Queue<long>[] Hours = Enumerable.Range(0, 24).Select(_ => new Queue<long>()).ToArray();
        public long Count;
        public string State = SessionRateEvent.Normal;
        public bool Watched;
        /// <summary>The baseline of the open bin's hour, until a bin closes.</summary>
        public (int Hour, Baseline? Value)? Cached;
    }

    /// <summary>The bin length, µs.</summary>
    public long Bin => _options.Bin;

    /// <summary>Ports watched and the history they have.</summary>
    public IEnumerable<(string Account, string Vmi, int History)> Ports =>
        _ports.Where(p => p.Value.Watched).Select(p => (p.Key.Account, p.Key.Vmi, p.Value.Hours.Sum(h => h.Count)));

    /// <summary>The ports of interest (from the inventory); others are no longer watched, their history kept.</summary>
    public void Watch(IEnumerable<(string Account, string Vmi)> ports)
    {
        foreach (var p in _ports.Values) p.Watched = false;
        foreach (var key in ports)
        {
            if (!_ports.TryGetValue(key, out var p)) _ports[key] = p = new Port();
            p.Watched = true;
        }
    }

    /// <summary>
    /// An interval ends at <paramref name="now"/> (µs): bins that ended before it are judged and join the
    /// history, the ports' new sessions of the interval are counted in the open bin, and the open bin is
    /// checked for a rise. Sessions of ports not watched are ignored. Events go to <paramref name="events"/>.
    /// </summary>
    public void Interval(long now, IEnumerable<(string Account, string Vmi)> created, List<SessionRateEvent>? events) =>
        Interval(now, created.Select(c => (c, 1L)), events);

    /// <summary>As above, with the new sessions counted per port.</summary>
    public void Interval(long now, IEnumerable<((string Account, string Vmi) Port, long Count)> created, List<SessionRateEvent>? events)
    {
        var bin = now - Mod(now, _options.Bin);
        if (_open == long.MinValue) _open = bin;
        if (bin > _open)
        {
            // The open bin closes; bins after it (up to a day) went by without a session.
            Close(_open, events, now);
            for (var b = _open + _options.Bin; b < bin && b <= _open + 86_400_000_000L; b += _options.Bin) Close(b, events, now);
            _open = bin;
        }
        foreach (var (key, n) in created)
        {
            if (_ports.TryGetValue(key, out var p) && p.Watched) p.Count += n;
        }
        foreach (var ((account, vmi), p) in _ports)
        {
            if (!p.Watched || p.State == SessionRateEvent.High || BaselineOf(p, _open) is not { } b) continue;
            if (p.Count - b.Median >= _options.MinChange && (p.Count - b.Median) / b.Spread > _options.Threshold)
            {
                Report(events, now, account, vmi, p, SessionRateEvent.High, p.Count, b, _open);
            }
        }
    }

    private void Close(long bin, List<SessionRateEvent>? events, long now)
    {
        foreach (var ((account, vmi), p) in _ports)
        {
            if (!p.Watched) continue;
            var count = p.Count;
            p.Count = 0;
            if (BaselineOf(p, bin) is { } b)
            {
                var score = (count - b.Median) / b.Spread;
                var kind = Math.Abs(count - b.Median) >= _options.MinChange && Math.Abs(score) > _options.Threshold
                    ? score > 0 ? SessionRateEvent.High : SessionRateEvent.Low
                    : SessionRateEvent.Normal;
                if (kind != p.State) Report(events, now, account, vmi, p, kind, count, b, bin);
            }
            p.Cached = null;
            var history = p.Hours[HourOf(bin)];
            history.Enqueue(count);
            while (history.Count > _options.Days * _perHour) history.Dequeue();
        }
    }

    private void Report(List<SessionRateEvent>? events, long now, string account, string vmi, Port p, string kind, long count, Baseline b, long bin)
    {
        p.State = kind;
        events?.Add(new SessionRateEvent(now, account, vmi, kind, count, b.Median, b.Spread, (count - b.Median) / b.Spread, b.Name, bin, _options.Bin));
    }

    internal readonly record struct Baseline(double Median, double Spread, string Name);

    private Baseline? BaselineOf(Port p, long bin)
    {
        var hour = HourOf(bin);
        if (p.Cached is { } c && c.Hour == hour) return c.Value;
        var value = Compute(p, hour);
        p.Cached = (hour, value);
        return value;
    }

    private Baseline? Compute(Port p, int hour)
    {
        IEnumerable<long> history;
        string name;
        if (p.Hours[hour].Count >= _options.MinHourHistory)
        {
            history = p.Hours[hour];
            name = $"hour {hour:00} UTC";
        }
        else if (p.Hours.Sum(h => h.Count) >= _options.MinHistory)
        {
            history = p.Hours.SelectMany(h => h);
            name = "all hours";
        }
        else
        {
            return null;
        }
        var values = history.Select(v => (double)v).ToArray();
        var median = Median(values);
        for (var i = 0; i < values.Length; i++) values[i] = Math.Abs(values[i] - median);
        var spread = Math.Max(1.4826 * Median(values), Math.Max(1, Math.Sqrt(median)));
        return new Baseline(median, spread, name);
    }

    private static double Median(double[] values)
    {
        Array.Sort(values);
        var n = values.Length;
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }

    private static long Mod(long a, long b) => ((a % b) + b) % b;

    private static int HourOf(long micros) => (int)(Mod(micros, 86_400_000_000L) / 3_600_000_000L);

    /// <summary>The history as JSON (ports by account and uuid, counts per hour oldest first), for <see cref="Load"/> after a restart.</summary>
    public string Save()
    {
        var ports = new JsonArray();
        foreach (var ((account, vmi), p) in _ports)
        {
            var hours = new JsonArray();
            foreach (var h in p.Hours) hours.Add(new JsonArray(h.Select(v => (JsonNode)v).ToArray()));
            ports.Add(new JsonObject { ["account"] = account, ["vmi"] = vmi, ["state"] = p.State, ["hours"] = hours });
        }
        return new JsonObject { ["bin_seconds"] = _options.Bin / 1e6, ["ports"] = ports }.ToJsonString(ReadableJson.Serializer);
    }

    /// <summary>Restores a history written by <see cref="Save"/> with the same bin; throws <see cref="FormatException"/> otherwise.</summary>
    public void Load(string json)
    {
        try
        {
            var root = JsonNode.Parse(json)!.AsObject();
            if ((long)Math.Round(root["bin_seconds"]!.GetValue<double>() * 1e6) != _options.Bin)
            {
                throw new FormatException($"the history has bins of {root["bin_seconds"]} s, this watch {_options.Bin / 1e6} s");
            }
            foreach (var node in root["ports"]!.AsArray())
            {
                var key = (node!["account"]!.GetValue<string>(), node["vmi"]!.GetValue<string>());
                if (!_ports.TryGetValue(key, out var p)) _ports[key] = p = new Port();
                p.State = node["state"]?.GetValue<string>() ?? SessionRateEvent.Normal;
                p.Cached = null;
                var hours = node["hours"]!.AsArray();
                if (hours.Count != 24) throw new FormatException("expected 24 hours");
                for (var h = 0; h < 24; h++)
                {
                    p.Hours[h].Clear();
                    foreach (var v in hours[h]!.AsArray()) p.Hours[h].Enqueue(v!.GetValue<long>());
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or KeyNotFoundException)
        {
            throw new FormatException($"not a session rate history: {e.Message}", e);
        }
    }
}
