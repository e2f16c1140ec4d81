using System.Globalization;

namespace Flowline.Records;

/// <summary>
/// The one duration grammar of Flowline's settings, flags and APIs: a positive number and a unit,
/// <c>ms</c>, <c>s</c>, <c>m</c>, <c>h</c> or <c>d</c> (500ms, 2s, 1.5m, 1h, 15d).
/// </summary>
public static class Durations
{
    private static readonly (string Suffix, double Seconds)[] Units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)];

    public const string Examples = "500ms, 2s, 5m, 1h or 15d";

    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = default;
        var t = text?.Trim() ?? "";
        foreach (var (suffix, seconds) in Units)
        {
            // "5m" must not read as "5" milli-something: ms is tried first and m only when no s follows.
            if (!t.EndsWith(suffix, StringComparison.Ordinal)) continue;
            var number = t[..^suffix.Length];
            if (number.Length == 0 || !char.IsAsciiDigit(number[^1])) continue;
            if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var v) || v <= 0 || v * seconds > TimeSpan.MaxValue.TotalSeconds / 2) return false;
            duration = TimeSpan.FromSeconds(v * seconds);
            return true;
        }
        return false;
    }

    /// <summary>The duration, or a <see cref="FormatException"/> that shows the grammar.</summary>
    public static TimeSpan Parse(string text)
    {
        if (TryParse(text, out var d)) return d;
        var t = text.Trim();
        foreach (var (suffix, _) in Units)
        {
            // "0s": a duration, but none a setting takes.
            if (t.EndsWith(suffix, StringComparison.Ordinal) && double.TryParse(t[..^suffix.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var v) && v == 0)
            {
                throw new FormatException($"'{text}' is not a duration above zero (such as {Examples})");
            }
        }
        throw new FormatException($"'{text}' is not a duration (such as {Examples})");
    }

    /// <summary>Microseconds, the unit of record times.</summary>
    public static long Micros(TimeSpan d) => d.Ticks / 10;

    /// <summary>The duration the way <see cref="Parse"/> reads it: 15d, 1h, 5m, 90s.</summary>
    public static string Format(TimeSpan d) =>
        d.Ticks % TimeSpan.TicksPerDay == 0 ? $"{d.Ticks / TimeSpan.TicksPerDay}d"
        : d.Ticks % TimeSpan.TicksPerHour == 0 ? $"{d.Ticks / TimeSpan.TicksPerHour}h"
        : d.Ticks % TimeSpan.TicksPerMinute == 0 ? $"{d.Ticks / TimeSpan.TicksPerMinute}m"
        : $"{d.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}s";
}
