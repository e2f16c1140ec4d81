namespace Flowline.Sessions.Tests;

/// <summary>
/// The session-rate watch on four simulated days of a port busy by day and quiet at night (Poisson counts
/// per minute): after three days of learning, the fourth day raises events only where traffic was changed.
/// </summary>
public sealed class SessionRateWatchTests
{
    private const long Minute = 60_000_000, Day = 1440 * Minute;
    private const long Start = 1_790_035_200_000_000; // a midnight, UTC
    private static readonly (string, string) Port = ("acc-a", "vmi-watched"), Other = ("acc-a", "vmi-not-watched");

    /// <summary>Sessions per minute: 2 at night (00–07 h), 40 by day (09–19 h), ramps between.</summary>
    private static double Rate(long minuteOfDay)
    {
        var h = minuteOfDay / 60.0;
        return h switch
        {
            < 7 => 2,
            < 9 => 2 + (h - 7) / 2 * 38,
            < 19 => 40,
            < 21 => 40 - (h - 19) / 2 * 38,
            _ => 2,
        };
    }

    private static int Poisson(Random random, double lambda)
    {
        var limit = Math.Exp(-lambda);
        var k = 0;
        for (var p = random.NextDouble(); p > limit; p *= random.NextDouble()) k++;
        return k;
    }

    /// <summary>Runs <paramref name="days"/> days from <paramref name="firstDay"/>; <paramref name="change"/> may replace a minute's count.</summary>
    private static List<SessionRateEvent> Run(SessionRateWatch watch, Random random, int firstDay, int days, Func<long, int, int>? change = null)
    {
        var events = new List<SessionRateEvent>();
        for (var m = firstDay * 1440L; m < (firstDay + days) * 1440L; m++)
        {
            var count = Poisson(random, Rate(m % 1440));
            if (change is not null) count = change(m - firstDay * 1440L, count);
            var created = Enumerable.Repeat(Port, count).Append(Other);
            watch.Interval(Start + m * Minute + 30_000_000, created, events);
        }
        return events;
    }

    /// <summary>Day 4: 40 sessions/min (a daytime rate) at 03:00–03:05, and none at 14:00–14:05.</summary>
    private static int Changed(long minuteOfDay, int count) => minuteOfDay switch
    {
        >= 180 and < 185 => 40,
        >= 840 and < 845 => 0,
        _ => count,
    };

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void A_daytime_rate_at_night_and_silence_by_day_are_found_and_nothing_else(int seed)
    {
        var random = new Random(seed);
        var watch = new SessionRateWatch();
        watch.Watch([Port]);
        Run(watch, random, 0, 3); // learning

        var events = Run(watch, random, 3, 1, Changed);
        var summary = string.Join("\n", events.Select(e => e.ToJson()));
        Assert.True(events.Count == 4, summary);
        var (nightHigh, nightNormal, dayLow, dayNormal) = (events[0], events[1], events[2], events[3]);
        // The rise is reported within the minute it started, judged against the night's own history.
        Assert.Equal((SessionRateEvent.High, Start + 3 * Day + 180 * Minute, "hour 03 UTC"), (nightHigh.Kind, nightHigh.BinStart, nightHigh.Baseline));
        Assert.True(nightHigh.Time < Start + 3 * Day + 181 * Minute);
        Assert.InRange(nightHigh.Expected, 1, 3);
        Assert.Equal((SessionRateEvent.Normal, Start + 3 * Day + 185 * Minute), (nightNormal.Kind, nightNormal.BinStart));
        Assert.Equal((SessionRateEvent.Low, Start + 3 * Day + 840 * Minute, 0L), (dayLow.Kind, dayLow.BinStart, dayLow.Observed));
        Assert.InRange(dayLow.Expected, 35, 45);
        Assert.Equal(SessionRateEvent.Normal, dayNormal.Kind);
        Assert.All(events, e => Assert.Equal(Port, (e.Account, e.Vmi)));
    }

    [Fact]
    public void Without_the_daily_pattern_the_night_burst_looks_normal()
    {
        // The same traffic judged against every hour's history at once: 40/min is an ordinary minute of the day.
        var random = new Random(1);
        var watch = new SessionRateWatch(new SessionRateWatchOptions { MinHourHistory = int.MaxValue });
        watch.Watch([Port]);
        Run(watch, random, 0, 3);
        var events = Run(watch, random, 3, 1, Changed);
        Assert.DoesNotContain(events, e => e.BinStart == Start + 3 * Day + 180 * Minute);
    }

    [Fact]
    public void The_history_survives_a_restart()
    {
        var random = new Random(4);
        var watch = new SessionRateWatch();
        watch.Watch([Port]);
        Run(watch, random, 0, 3);

        var restarted = new SessionRateWatch();
        restarted.Load(watch.Save());
        restarted.Watch([Port]);
        Assert.Equal(watch.Ports.Single().History, restarted.Ports.Single().History);
        var events = Run(restarted, random, 3, 1, Changed);
        Assert.Contains(events, e => e.Kind == SessionRateEvent.High && e.BinStart == Start + 3 * Day + 180 * Minute);

        Assert.Throws<FormatException>(() => new SessionRateWatch(new SessionRateWatchOptions { Bin = 10_000_000 }).Load(watch.Save()));
        Assert.Throws<FormatException>(() => new SessionRateWatch().Load("{\"ports\": 3}"));
    }
}
