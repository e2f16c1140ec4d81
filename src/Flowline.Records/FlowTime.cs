namespace Flowline.Records;

/// <summary>
/// The times a record may hold: the calendar's years 1 to 9999 in Unix microseconds, what every part of the
/// product can print, partition and compare. Decoders bring an exporter's time beyond them to the nearer end
/// (a far-off clock is still shown as far off), and arithmetic on wire values saturates rather than wraps.
/// </summary>
public static class FlowTime
{
    /// <summary>0001-01-01T00:00:00Z.</summary>
    public const long MinMicros = -62_135_596_800_000_000;
    /// <summary>9999-12-31T23:59:59.999999Z.</summary>
    public const long MaxMicros = 253_402_300_799_999_999;

    /// <summary>A time in Unix milliseconds as a wire field carries it (unsigned), in microseconds within the bounds.</summary>
    public static long FromMillis(ulong millis) => millis > MaxMicros / 1000 ? MaxMicros : (long)millis * 1000;

    /// <summary>A time as Unix microseconds, to the microsecond (a query's window given as .000001 is not a millisecond).</summary>
    public static long Of(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    /// <summary><paramref name="micros"/> within the bounds.</summary>
    public static long Clamp(long micros) => Math.Clamp(micros, MinMicros, MaxMicros);

    /// <summary><paramref name="micros"/> less <paramref name="delta"/> microseconds, not below the lower bound.</summary>
    public static long Before(long micros, ulong delta) =>
        delta > (ulong)(Clamp(micros) - MinMicros) ? MinMicros : Clamp(micros) - (long)delta;
}
