using System.Globalization;
using System.Text.Json;
using Flowline.Query;
using Flowline.Records;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary><c>POST /api/v1/query</c>: grouped totals, top N and time series over the caller's scope.</summary>
public sealed partial class ApiV1
{
    /// <summary>
    /// <c>POST /api/v1/query</c>: a JSON body asking for groups (<c>group_by</c>, or nfdump's <c>statistic</c>
    /// such as <c>ip</c>, either side of a flow), the top N of them (<c>order</c>, <c>limit</c>), and/or a time
    /// series (<c>bucket</c>), over the caller's scope.
    /// </summary>
    private async Task Query(HttpContext context)
    {
        var key = await Authenticate(context);
        if (key is null) return;
        JsonElement body;
        try
        {
            using var doc = await JsonDocument.ParseAsync(context.Request.Body);
            body = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            await Error(context, new ApiError(400, "MalformedBody", $"the body is not JSON: {e.Message}"));
            return;
        }
        if (body.ValueKind != JsonValueKind.Object)
        {
            await Error(context, new ApiError(400, "MalformedBody", "the body is a JSON object such as {\"from\":\"2026-11-21T10:00:00Z\",\"to\":\"2026-11-21T11:00:00Z\",\"group_by\":[\"src_addr\"],\"limit\":10}"));
            return;
        }
        var known = new HashSet<string> { "from", "to", "filter", "group_by", "statistic", "bucket", "order", "limit", "count_distinct" };
        foreach (var p in body.EnumerateObject())
        {
            if (!known.Contains(p.Name))
            {
                await Error(context, new ApiError(400, "InvalidParameter", $"'{p.Name}' is not a query member (from, to, filter, group_by, statistic, bucket, order, limit, count_distinct; the account goes in the query string)"));
                return;
            }
        }
        // A member of the wrong type would be read as absent, and the answer would not be what was asked for.
        foreach (var text in new[] { "from", "to", "filter", "count_distinct" })
        {
            if (body.TryGetProperty(text, out var v) && v.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
            {
                await Error(context, new ApiError(400, "InvalidParameterValue", $"{text} is a string, not {v.ValueKind.ToString().ToLowerInvariant()}"));
                return;
            }
        }
        string? Str(string name) => body.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        if (!Rfc3339(Str("from"), out var from) || !Rfc3339(Str("to"), out var to) || to <= from)
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", "from and to are required as RFC 3339 times with from before to, e.g. \"from\":\"2026-11-21T10:00:00Z\",\"to\":\"2026-11-21T10:30:00Z\""));
            return;
        }
        var groupBy = new List<GroupKey>();
        if (body.TryGetProperty("group_by", out var g))
        {
            var names = g.ValueKind switch
            {
                JsonValueKind.Array when g.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) => g.EnumerateArray().Select(e => e.GetString()!).ToList(),
                JsonValueKind.String => g.GetString()!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList(),
                _ => null,
            };
            if (names is null)
            {
                await Error(context, new ApiError(400, "InvalidParameterValue", $"group_by is a list of field names, e.g. [\"src_addr/24\", \"dst_port\"], not {g.GetRawText()}"));
                return;
            }
            foreach (var n in names)
            {
                if (!GroupKey.TryParse(n, out var k, out var why))
                {
                    await Error(context, new ApiError(400, "InvalidParameterValue", $"group_by: {why}"));
                    return;
                }
                if (groupBy.Contains(k))
                {
                    await Error(context, new ApiError(400, "InvalidParameterValue", $"group_by: '{n}' groups by {k.Name} again"));
                    return;
                }
                groupBy.Add(k);
            }
            if (groupBy.Count > Aggregator.MaxKeys)
            {
                await Error(context, new ApiError(400, "InvalidParameterValue", $"group_by: at most {Aggregator.MaxKeys} fields"));
                return;
            }
        }
        long bucket = 0;
        if (body.TryGetProperty("bucket", out var b) && (bucket = Duration(b)) <= 0)
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", "bucket is a width such as \"30s\", \"5m\", \"1h\", \"1d\" or a number of seconds"));
            return;
        }
        var order = Metric.Bytes;
        if (body.TryGetProperty("order", out var ov)
            && (ov.ValueKind != JsonValueKind.String || !Enum.TryParse(ov.GetString(), ignoreCase: true, out order) || ov.GetString()!.Any(char.IsDigit)))
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", $"order {ov.GetRawText()}: expected \"bytes\", \"packets\", \"flows\", or a rate: \"pps\", \"bps\", \"bpp\""));
            return;
        }
        NfdumpStatistic? statistic = null;
        if (body.TryGetProperty("statistic", out var sv))
        {
            var text = sv.ValueKind == JsonValueKind.String ? sv.GetString()! : "";
            string? why = null;
            try
            {
                if (sv.ValueKind != JsonValueKind.String)
                    why = $"statistic is one of nfdump's -s names as a string, e.g. \"ip\", \"dstport:p\" or \"srcip/24\", not {sv.GetRawText()}";
                else if (text.Split('/')[^1] is { Length: > 0 } last && text.Contains('/', StringComparison.Ordinal) && last.All(char.IsAsciiLetter))
                    why = $"statistic {sv.GetRawText()}: give the order in \"order\"";
                else if (groupBy.Count > 0) why = "statistic and group_by are two kinds of grouping: give one";
                else statistic = NfdumpStatistic.Parse(text)[0] with { Order = order };
            }
            catch (ArgumentException e)
            {
                why = $"statistic: {e.Message}";
            }
            if (statistic is { Other: not null } && bucket > 0) why = $"statistic {statistic.Name} counts either side of a flow; it does not combine with bucket";
            if (why is not null)
            {
                await Error(context, new ApiError(400, "InvalidParameterValue", why));
                return;
            }
        }
        var limit = DefaultQueryLimit;
        if (body.TryGetProperty("limit", out var lv) && (lv.ValueKind != JsonValueKind.Number || !lv.TryGetInt32(out limit) || limit <= 0 || limit > MaxPage))
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", $"limit is a number of groups from 1 to {MaxPage} (per bucket in a time series)"));
            return;
        }
        FlowField? distinct = null;
        if (body.TryGetProperty("count_distinct", out var dv))
        {
            if (dv.ValueKind != JsonValueKind.String || !FlowFields.TryParse(dv.GetString()!, out var df))
            {
                await Error(context, new ApiError(400, "InvalidParameterValue", "count_distinct is a field name such as \"dst_addr\""));
                return;
            }
            distinct = df;
        }
        if (groupBy.Count == 0 && statistic is null && bucket == 0)
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", "ask for groups (group_by or statistic), a time series (bucket) or both; flows one by one come from GET /api/v1/flows"));
            return;
        }
        var (ok, account) = await Scope(context, key, "query");
        if (!ok) return;
        FilterNode filter;
        try
        {
            filter = ScopedFilter(account, Str("filter") ?? "");
        }
        catch (FilterSyntaxException e)
        {
            await FilterError(context, e);
            return;
        }
        if (statistic is not null && distinct is not null)
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", "count_distinct goes with group_by, not with statistic"));
            return;
        }
        var query = new FlowQuery { Filter = filter, GroupBy = groupBy, BucketMicros = bucket, OrderBy = order, Limit = limit, CountDistinct = distinct, MaxGroups = MaxGroups, Span = order >= Metric.Pps };
        var watch = System.Diagnostics.Stopwatch.StartNew();
        IReadOnlyList<AggregateRow> rows;
        var (fromMicros, toMicros) = (FlowTime.Of(from), FlowTime.Of(to));
        try
        {
            rows = statistic is null ? store.Aggregate(fromMicros, toMicros, query) : statistic.Run(store, fromMicros, toMicros, filter, limit, MaxGroups, bucket);
        }
        catch (QueryLimitException e)
        {
            await Error(context, new ApiError(400, "QueryTooBroad", e.Message));
            return;
        }
        // A time series answers a row per bucket and group: the cap on what is returned counts them all.
        if (rows.Count > MaxPage)
        {
            await Error(context, new ApiError(400, "QueryTooBroad",
                $"the answer holds {rows.Count.ToString("N0", CultureInfo.InvariantCulture)} rows ({(bucket > 0 ? "buckets × groups" : "groups")}), at most {MaxPage.ToString("N0", CultureInfo.InvariantCulture)}: a wider bucket, a narrower range or a smaller limit"));
            return;
        }
        var symbols = store.Symbols;
        context.Response.ContentType = "application/json";
        var output = new System.Buffers.ArrayBufferWriter<byte>(1 << 16);
        await using (var json = new Utf8JsonWriter(output, ReadableJson.Compact))
        {
            json.WriteStartObject();
            // The range as it was applied: a fraction of a second only when one was given.
            json.WriteString("from", from.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.FFFFFFFZ", CultureInfo.InvariantCulture));
            json.WriteString("to", to.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.FFFFFFFZ", CultureInfo.InvariantCulture));
            json.WriteString("account", account ?? "*");
            // A statistic's keys are named by it (ip, ip_proto with :p); the rows then count either side of a flow.
            IReadOnlyList<GroupKey> keys = statistic?.Keys ?? groupBy;
            var keyNames = statistic?.Columns ?? [.. groupBy.Select(k => k.Name)];
            if (statistic is not null) json.WriteString("statistic", statistic.Name + (statistic.ByProtocol ? ":p" : ""));
            json.WriteStartArray("group_by");
            foreach (var k in keyNames) json.WriteStringValue(k);
            json.WriteEndArray();
            if (bucket > 0) json.WriteNumber("bucket_seconds", bucket / 1_000_000m);
            json.WriteString("order", order.ToString().ToLowerInvariant());
            json.WriteNumber("limit", limit);
            json.WriteStartArray("rows");
            foreach (var row in rows)
            {
                json.WriteStartObject();
                if (bucket > 0) json.WriteString("bucket", GroupKey.FormatTime(row.BucketStart));
                for (var k = 0; k < keys.Count; k++)
                {
                    var part = row.Keys[k];
                    if (keys[k].IsNumeric) json.WriteNumber(keyNames[k], part.Lo);
                    else json.WriteString(keyNames[k], keys[k].Text(part, symbols));
                }
                json.WriteNumber("bytes", row.Bytes);
                json.WriteNumber("packets", row.Packets);
                json.WriteNumber("flows", row.Flows);
                if (distinct is { } d) json.WriteNumber("distinct_" + FlowFields.Name(d), row.Distinct);
                if (order >= Metric.Pps)
                {
                    // Ordered by a rate: the span it is over, and the three rates (whole numbers, as nfdump orders by).
                    json.WriteString("first", GroupKey.FormatTime(row.First));
                    json.WriteString("last", GroupKey.FormatTime(row.Last));
                    json.WriteNumber("pps", row.Value(Metric.Pps));
                    json.WriteNumber("bps", row.Value(Metric.Bps));
                    json.WriteNumber("bpp", row.Value(Metric.Bpp));
                }
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteNumber("elapsed_ms", Math.Round(watch.Elapsed.TotalMilliseconds, 1));
            json.WriteEndObject();
        }
        System.Buffers.BuffersExtensions.Write(output, "\n"u8);
        await context.Response.Body.WriteAsync(output.WrittenMemory, context.RequestAborted);
    }

    /// <summary>A bucket width in microseconds: "30s", "5m", "1h", "1d" or a number of seconds; 0 when not one.</summary>
    private static long Duration(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Number) return e.TryGetInt64(out var s) && s > 0 && s <= 366L * 86400 ? s * 1_000_000 : 0;
        if (e.ValueKind != JsonValueKind.String) return 0;
        return Durations.TryParse(e.GetString(), out var d) && d <= TimeSpan.FromDays(366) ? Durations.Micros(d) : 0;
    }
}
