using System.Globalization;
using Flowline.Query;

namespace Flowline.Cli.Store;

/// <summary>
/// nfdump's <c>-t</c> (1.7): <c>yyyy[/MM[/dd[.hh[:mm[:ss]]]]][-yyyy[/MM[/dd[.hh[:mm[:ss]]]]]]</c>, in local time as
/// nfdump reads it, omitted parts the start of the period; without an end, the window is open. A flow is in the window
/// when it starts at or after its first second and ends at or before its last (<see cref="FilterNode.Window"/>).
/// </summary>
public static class NfdumpTimeWindow
{
    /// <summary>The longest window: two whole times and the dash between them.</summary>
    private const int MaxLength = 39;

    public static FilterNode.Window Parse(string text)
    {
        if (text.Length == 0) throw new ArgumentException("-t: the window is empty; give yyyy/MM/dd.hh:mm:ss[-yyyy/MM/dd.hh:mm:ss]");
        if (text.Length > MaxLength) throw new ArgumentException($"-t: the window is {text.Length} characters; yyyy/MM/dd.hh:mm:ss-yyyy/MM/dd.hh:mm:ss takes {MaxLength}");
        if (text[0] is '+' or '-')
        {
            throw new ArgumentException($"-t {text}: a window relative to the first or last flow is not supported; give the times, e.g. -t 2026/11/19.00:00-2026/11/19.00:10, or --from/--to");
        }
        if (System.Text.RegularExpressions.Regex.IsMatch(text, @"^\d{4}-\d{2}-\d{2}"))
        {
            throw new ArgumentException($"-t {text}: nfdump's window is yyyy/MM/dd.hh:mm:ss[-yyyy/MM/dd.hh:mm:ss]; give RFC 3339 times with --from and --to");
        }
        if (text.Count(c => c == '-') > 1) throw new ArgumentException($"-t {text}: a window has one '-', between its start and its end");
        var dash = text.IndexOf('-');
        var first = Second(text, "start", dash < 0 ? text : text[..dash]);
        var last = dash < 0 ? long.MaxValue / 1000 : Second(text, "end", text[(dash + 1)..]);
        if (last < first) throw new ArgumentException($"-t {text}: the window ends before it starts");
        return new FilterNode.Window(first * 1000, last == long.MaxValue / 1000 ? long.MaxValue : last * 1000);
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
