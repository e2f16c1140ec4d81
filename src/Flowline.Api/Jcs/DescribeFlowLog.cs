using System.Globalization;
using Flowline.Query;

namespace Flowline.Api;

/// <summary>A DescribeFlowLog call checked against seed 000's rules: what to read, for whom, and from when to when.</summary>
public sealed record FlowLogRequest(long From, long To, string? Account, bool AllAccounts, byte? Direction, bool CrossAccount);

/// <summary>
/// The rules of DescribeFlowLog (seed 000): start_time and end_time as <c>dd-mm-yyyy hh:mm:ss</c> in IST (or the
/// configured zone), start within the last 15 days and not in the future, 0 &lt; end − start ≤ 30 minutes;
/// <c>direction_ing</c> 0 (ingress) or 1 (egress); an explicit <c>account</c> needs <c>direction_ing</c>, and any
/// account but the key's own needs an admin key and the admin password. An admin key with the admin password
/// and no account reads every account.
/// </summary>
public static class DescribeFlowLog
{
    public const string Version = "2016-03-01";
    public const string TimeFormat = "dd-MM-yyyy HH:mm:ss";

    public static (FlowLogRequest? Request, ApiError? Error) Check(IReadOnlyDictionary<string, string> p, AccessKey key, ApiOptions options, DateTimeOffset now)
    {
        if (p.TryGetValue("Version", out var version) && version != Version)
        {
            return Bad("InvalidParameterValue", $"Version '{version}' is not supported; use Version={Version}");
        }
        var zone = options.JcsTimeZone;
        var zoneName = zone == ApiOptions.Ist ? "IST (UTC+05:30)" : zone.DisplayName;
        if (!p.TryGetValue("start_time", out var startText) || startText.Length == 0)
        {
            return Bad("MissingParameter", $"start_time is required: 'dd-mm-yyyy hh:mm:ss' in {zoneName}, e.g. start_time=08-11-2016 16:30:00");
        }
        if (!p.TryGetValue("end_time", out var endText) || endText.Length == 0)
        {
            return Bad("MissingParameter", $"end_time is required: 'dd-mm-yyyy hh:mm:ss' in {zoneName}, at most 30 minutes after start_time");
        }
        if (Time(startText, zone) is not { } start)
        {
            return Bad("InvalidParameterValue", $"start_time '{startText}' is not a time 'dd-mm-yyyy hh:mm:ss' (e.g. 08-11-2016 16:30:00, {zoneName})");
        }
        if (Time(endText, zone) is not { } end)
        {
            return Bad("InvalidParameterValue", $"end_time '{endText}' is not a time 'dd-mm-yyyy hh:mm:ss' (e.g. 08-11-2016 17:00:00, {zoneName})");
        }
        if (start > now)
        {
            return Bad("InvalidParameterValue", $"start_time {startText} is in the future; it must lie between now and {options.MaxAge.TotalDays:0} days ago");
        }
        if (start < now - options.MaxAge)
        {
            return Bad("InvalidParameterValue", $"start_time {startText} is more than {options.MaxAge.TotalDays:0} days ago; flow logs can be read for the last {options.MaxAge.TotalDays:0} days only");
        }
        if (end <= start)
        {
            return Bad("InvalidParameterValue", $"end_time {endText} must be later than start_time {startText}");
        }
        if (end - start > options.MaxWindow)
        {
            return Bad("InvalidParameterValue",
                $"end_time is {(end - start).TotalMinutes:0.##} minutes after start_time; at most {options.MaxWindow.TotalMinutes:0} minutes can be read in one request, so make several (flowline describe-flow-logs splits a longer period for you)");
        }
        byte? direction = null;
        if (p.TryGetValue("direction_ing", out var d))
        {
            direction = Unquote(d) switch
            {
                "0" => Flowline.Records.VmiDirections.Ingress,
                "1" => Flowline.Records.VmiDirections.Egress,
                _ => null,
            };
            if (direction is null) return Bad("InvalidParameterValue", $"direction_ing '{d}' must be 0 (ingress) or 1 (egress)");
        }
        p.TryGetValue("account", out var account);
        account = account is null ? null : Unquote(account);
        var password = p.TryGetValue("admin_password", out var pw) ? pw : null;
        if (account is not null)
        {
            if (!KeyStore.AccountPattern().IsMatch(account))
            {
                return Bad("InvalidParameterValue", $"account '{account}' is not an account id like acc-789189089");
            }
            if (direction is null)
            {
                return Bad("MissingParameter", $"direction_ing is required with account: 0 for ingress or 1 for egress flows of {account}");
            }
        }
        var cross = (account is not null && account != key.Account) || (account is null && password is not null && key.Admin);
        if (cross)
        {
            var target = account ?? "all accounts";
            if (!key.Admin)
            {
                return (null, new ApiError(403, "UnauthorizedOperation",
                    $"the access key {key.Id} belongs to {key.Account} and may read only that account's flow logs, not {target}; an admin key and the admin password are needed"));
            }
            if (options.AdminPassword is null)
            {
                return (null, new ApiError(403, "UnauthorizedOperation", $"reading {target} needs the admin password, and this server has none configured (admin_password_hash)"));
            }
            if (string.IsNullOrEmpty(password))
            {
                return (null, new ApiError(403, "UnauthorizedOperation", $"reading {target} with an admin key needs admin_password as well"));
            }
            if (!options.AdminPassword.Verify(password))
            {
                return (null, new ApiError(403, "UnauthorizedOperation", "admin_password is wrong"));
            }
        }
        var from = start.ToUnixTimeMilliseconds() * 1000;
        var to = end.ToUnixTimeMilliseconds() * 1000;
        return (new FlowLogRequest(from, to, account ?? (cross ? null : key.Account), cross && account is null, direction, cross), null);
    }

    /// <summary>The filter that scopes a checked request: its account (unless every account) and direction.</summary>
    public static FilterNode Filter(FlowLogRequest r, Flowline.Records.ISymbolTable symbols)
    {
        var terms = new List<string>();
        if (!r.AllAccounts) terms.Add("account " + r.Account);
        if (r.Direction is { } d) terms.Add("vmidir " + Flowline.Records.VmiDirections.Name(d));
        return terms.Count == 0 ? new FilterNode.Any() : FilterParser.Parse(string.Join(" and ", terms), name => symbols.TryFind(name, out var id) ? id : null);
    }

    /// <summary>A <c>dd-mm-yyyy hh:mm:ss</c> time in <paramref name="zone"/> (surrounding quotes, as in seed 000's sample request, are allowed).</summary>
    public static DateTimeOffset? Time(string text, TimeZoneInfo zone)
    {
        if (!DateTime.TryParseExact(Unquote(text), TimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.None, out var local)) return null;
        var offset = zone.GetUtcOffset(DateTime.SpecifyKind(local, DateTimeKind.Unspecified));
        return new DateTimeOffset(local, offset);
    }

    /// <summary>Formats a UTC time the way start_time and end_time are written, in <paramref name="zone"/>.</summary>
    public static string Format(DateTimeOffset time, TimeZoneInfo zone) =>
        TimeZoneInfo.ConvertTime(time, zone).ToString(TimeFormat, CultureInfo.InvariantCulture);

    private static string Unquote(string s)
    {
        var t = s.Trim();
        return t.Length >= 2 && t[0] == '"' && t[^1] == '"' ? t[1..^1].Trim() : t;
    }

    private static (FlowLogRequest?, ApiError?) Bad(string code, string message) => (null, new ApiError(400, code, message));
}
