using System.Globalization;

namespace Flowline.Api;

/// <summary>Settings of the flow-log API.</summary>
public sealed class ApiOptions
{
    /// <summary>India Standard Time, UTC+05:30 all year: the zone of DescribeFlowLog's start_time and end_time by default.</summary>
    public static readonly TimeZoneInfo Ist = TimeZoneInfo.CreateCustomTimeZone("IST", TimeSpan.FromMinutes(330), "India Standard Time (UTC+05:30)", "IST");

    /// <summary>The zone DescribeFlowLog's times are read in (<c>jcs_time_zone</c>).</summary>
    public TimeZoneInfo JcsTimeZone { get; set; } = Ist;

    /// <summary>The hash of the admin password (<c>admin_password_hash</c>); without one, no key reads another account.</summary>
    public AdminPassword? AdminPassword { get; set; }

    /// <summary>A bearer token that reads the sFlow-RT face (Prometheus scrapes); null or empty: none is accepted.</summary>
    public string? ScrapeToken { get; set; }

    /// <summary>sFlow-RT's own behaviour, for scripts written for it: its face open without signature to clients on loopback.</summary>
    public bool RealtimeOpenOnLoopback { get; set; }

    /// <summary>The largest request body on every route but those marked <see cref="AccessPolicy.LargeBody"/> (<c>max_request_body</c>).</summary>
    public long MaxRequestBody { get; set; } = 4 << 20;

    /// <summary>The largest body of an inventory upload or an agent's batch (<c>max_upload_body</c>).</summary>
    public long MaxUploadBody { get; set; } = 64L << 20;

    /// <summary>How far back DescribeFlowLog's start_time may lie.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(15);

    /// <summary>The longest DescribeFlowLog window.</summary>
    public TimeSpan MaxWindow { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Reads a zone: "IST", "UTC", an offset such as "+05:30", or an IANA name such as "Asia/Kolkata".</summary>
    public static TimeZoneInfo ParseZone(string text)
    {
        var t = text.Trim();
        if (t.Equals("IST", StringComparison.OrdinalIgnoreCase)) return Ist;
        if (t.Equals("UTC", StringComparison.OrdinalIgnoreCase) || t == "Z") return TimeZoneInfo.Utc;
        if (t.Length > 1 && t[0] is '+' or '-' && TimeSpan.TryParseExact(t[1..], ["hh\\:mm", "hhmm", "hh"], CultureInfo.InvariantCulture, out var offset) && offset <= TimeSpan.FromHours(14))
        {
            if (t[0] == '-') offset = -offset;
            return TimeZoneInfo.CreateCustomTimeZone("UTC" + t, offset, "UTC" + t, "UTC" + t);
        }
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(t);
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new FormatException($"jcs_time_zone: '{text}' is not IST, UTC, an offset like +05:30, or a time zone name like Asia/Kolkata", e);
        }
    }
}
