using System.Globalization;
using Flowline.Query;
using Flowline.Records;

namespace Flowline.Cli.Store;

/// <summary>
/// nfdump's <c>-t</c> (1.7): <c>yyyy[/MM[/dd[.hh[:mm[:ss]]]]][-yyyy[/MM[/dd[.hh[:mm[:ss]]]]]]</c>, in local time as
/// nfdump reads it, omitted parts the start of the period; without an end, the window is open. A flow is in the window
/// when it starts at or after its first second and ends at or before its last (<see cref="FilterNode.Window"/>).
/// Or nfdump's relative window, <c>+N</c> or <c>-N</c> seconds (N up to a week): the first N seconds of all flows
/// (from the second the earliest starts) or the last N (up to the second the latest ends), of the flows the query
/// reads (--from/--to), as nfdump(1) describes it.
/// </summary>
public static class NfdumpTimeWindow
{
    /// <summary>The longest window: two whole times and the dash between them.</summary>
    private const int MaxLength = 39;

    /// <summary>The longest relative window, as nfdump: a larger number is seconds since 1970 to it.</summary>
    public const long MaxRelativeSeconds = 604_800;

    /// <summary>A window as given: absolute, or relative to the flows (<see cref="Resolve"/>).</summary>
    public sealed record Given(FilterNode.Window? Absolute, long RelativeSeconds)
    {
        /// <summary>
        /// The window over the flows of [<paramref name="from"/>, <paramref name="to"/>) in <paramref name="store"/>:
        /// a relative one measured from their earliest start or latest end, each cut to the second as nfdump's
        /// file statistics are (reading only those two columns); null when there are no flows to measure.
        /// </summary>
        public FilterNode.Window? Resolve(IFlowStore store, long from, long to)
        {
            if (Absolute is not null) return Absolute;
            long first = long.MaxValue, last = long.MinValue;
            foreach (var batch in store.Scan(from, to, new FilterNode.Any(), new HashSet<FlowField> { FlowField.Start, FlowField.End }))
            {
                for (var i = 0; i < batch.Count; i++)
                {
                    first = Math.Min(first, batch.Start[i]);
                    last = Math.Max(last, batch.End[i]);
                }
            }
            // This pass is not the query's: "Total flows processed" and --stats count the query's own reads.
            (store as Flowline.Storage.Embedded.EmbeddedStore)?.ResetScanStats();
            if (first == long.MaxValue) return null;
            // Times are microseconds; nfdump's statistics whole seconds, rounded down.
            var firstSecond = Aggregator.FloorBucket(first, 1_000_000) / 1_000_000;
            var lastSecond = Aggregator.FloorBucket(last, 1_000_000) / 1_000_000;
            return RelativeSeconds > 0
                ? new FilterNode.Window(firstSecond * 1000, (firstSecond + RelativeSeconds) * 1000)
                : new FilterNode.Window((lastSecond + RelativeSeconds) * 1000, long.MaxValue);
        }
    }

    public static Given Parse(string text)
    {
        if (text.Length == 0) throw new ArgumentException("-t: the window is empty; give yyyy/MM/dd.hh:mm:ss[-yyyy/MM/dd.hh:mm:ss]");
        if (text.Length > MaxLength) throw new ArgumentException($"-t: the window is {text.Length} characters; yyyy/MM/dd.hh:mm:ss-yyyy/MM/dd.hh:mm:ss takes {MaxLength}");
        if (text[0] is '+' or '-') return new Given(null, Relative(text));
        if (System.Text.RegularExpressions.Regex.IsMatch(text, @"^\d{4}-\d{2}-\d{2}"))
        {
            throw new ArgumentException($"-t {text}: nfdump's window is yyyy/MM/dd.hh:mm:ss[-yyyy/MM/dd.hh:mm:ss]; give RFC 3339 times with --from and --to");
        }
        if (text.Count(c => c == '-') > 1) throw new ArgumentException($"-t {text}: a window has one '-', between its start and its end");
        var dash = text.IndexOf('-');
        var first = Second(text, "start", dash < 0 ? text : text[..dash]);
        var last = dash < 0 ? long.MaxValue / 1000 : Second(text, "end", text[(dash + 1)..]);
        if (last < first) throw new ArgumentException($"-t {text}: the window ends before it starts");
        return new Given(new FilterNode.Window(first * 1000, last == long.MaxValue / 1000 ? long.MaxValue : last * 1000), 0);
    }

    /// <summary>+N or -N seconds: N from 1 to a week.</summary>
    private static long Relative(string text)
    {
        var digits = text.AsSpan(1);
        if (digits.Length == 0 || digits.ContainsAnyExceptInRange('0', '9'))
        {
            throw new ArgumentException($"-t {text}: a relative window is +N (the first N seconds of the flows) or -N (the last N), N a number of seconds up to {MaxRelativeSeconds}");
        }
        var seconds = digits.Length > 9 ? long.MaxValue : long.Parse(digits, CultureInfo.InvariantCulture);
        if (seconds == 0) throw new ArgumentException($"-t {text}: a window of 0 seconds holds no flow; give +N or -N with N from 1 to {MaxRelativeSeconds}");
        if (seconds > MaxRelativeSeconds)
        {
            throw new ArgumentException($"-t {text}: a relative window is at most {MaxRelativeSeconds} seconds (a week), as nfdump's; for a window from a time, give the time (yyyy/MM/dd.hh:mm:ss) or --from/--to");
        }
        return text[0] == '+' ? seconds : -seconds;
    }

    /// <summary>Seconds since the epoch of one end of the window.</summary>
    private static long Second(string window, string which, string time)
    {
        if (time.Length == 0) throw new ArgumentException($"-t {window}: the {which} is empty");
        // The separators in order: yyyy / MM / dd . hh : mm : ss
        ReadOnlySpan<char> separators = ['/', '/', '.', ':', ':'];
        ReadOnlySpan<int> lengths = [4, 2, 2, 2, 2, 2];
        Span<int> parts = [0, 1, 1, 0, 0, 0];
        var rest = time.AsSpan();
        var count = 0;
        while (true)
        {
            if (count == lengths.Length) throw Bad(window, which, time, "has more than year, month, day, hour, minute and second");
            var end = count < separators.Length ? rest.IndexOf(separators[count]) : -1;
            var part = end < 0 ? rest : rest[..end];
            if (part.Length != lengths[count] || part.ContainsAnyExceptInRange('0', '9'))
            {
                throw Bad(window, which, time, $"'{part}' is not {lengths[count]} digits where the {Names[count]} should be");
            }
            parts[count] = int.Parse(part, CultureInfo.InvariantCulture);
            count++;
            if (end < 0) break;
            rest = rest[(end + 1)..];
        }
        var (year, month, day, hour, minute, second) = (parts[0], parts[1], parts[2], parts[3], parts[4], parts[5]);
        if (year is < 1970 or > 2038) throw Bad(window, which, time, $"year {year} is out of range (1970 to 2038, as nfdump)");
        if (month is < 1 or > 12) throw Bad(window, which, time, $"month {month} is out of range");
        if (day < 1 || day > DateTime.DaysInMonth(year, month)) throw Bad(window, which, time, $"day {day} is out of range");
        if (hour > 23) throw Bad(window, which, time, $"hour {hour} is out of range (0 to 23)");
        if (minute > 59) throw Bad(window, which, time, $"minute {minute} is out of range (0 to 59)");
        if (second > 59) throw Bad(window, which, time, $"second {second} is out of range (0 to 59)");
        var local = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Unspecified);
        // A local time the clock skipped (daylight saving) is read with the offset in force before the jump, as
        // mktime reads it: so many minutes into the gap, that many after it.
        var offset = TimeZoneInfo.Local.GetUtcOffset(TimeZoneInfo.Local.IsInvalidTime(local) ? local.AddDays(-1) : local);
        return new DateTimeOffset(local, offset).ToUnixTimeSeconds();
    }

    private static readonly string[] Names = ["year", "month", "day", "hour", "minute", "second"];

    private static ArgumentException Bad(string window, string which, string time, string why) =>
        new($"-t {window}: its {which} {(time == window ? "" : $"'{time}' ")}{why} (nfdump's yyyy/MM/dd.hh:mm:ss, later parts optional)");
}
