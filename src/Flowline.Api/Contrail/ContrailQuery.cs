using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Flowline.Query;
using Flowline.Sessions;
using Flowline.Records;

namespace Flowline.Api;

/// <summary>
/// The Contrail analytics query (<c>POST /analytics/query</c>) over SessionSeriesTable, SessionRecordTable
/// (the sessions store) and FlowSeriesTable, FlowRecordTable (the flow store): table, start_time/end_time
/// (µs or "now-10m"), select_fields (columns, T, T=SECONDS, SUM(counter), COUNT_DISTINCT(column),
/// sample_count), where (OR of ANDs; ops 1 EQUAL, 2 NOT_EQUAL, 3 IN_RANGE, 4 NOT_IN_RANGE, 5 LEQ, 6 GEQ,
/// 7 PREFIX, 8 REGEX_MATCH, 9 CONTAINS), filter (on output columns), sort (1 ascending, 2 descending) with
/// sort_fields, limit, session_type (client or server, required on session tables), is_service_instance,
/// dir (flow tables: 1 ingress, 0 egress). The answer is <c>{"value": [rows]}</c> as Contrail gives it.
/// </summary>
public static partial class ContrailQuery
{
    public sealed class QueryException(string message) : Exception(message);

    private enum Kind { Session, Flow }

    private sealed record Column(string Name, string Type, bool Index, Func<FlowRecord, ISymbolNames, object?> Get);

    private sealed record Table(string Name, Kind Kind, bool Series, Dictionary<string, Column> Columns, string[] Counters);

    private static string Name(ISymbolNames n, uint id) => id == 0 ? "" : n.Name(id) ?? id.ToString(CultureInfo.InvariantCulture);
    private static bool Client(FlowRecord r) => (r.SessionFlags & SessionFlags.Client) != 0;

    private static readonly Table[] Tables = BuildTables();

    private static Table[] BuildTables()
    {
        var session = new List<Column>
        {
            new("vmi", "string", true, (r, n) => Name(n, r.Vmi)),
            new("vn", "string", true, (r, n) => Name(n, Client(r) ? r.SrcVn : r.DstVn)),
            new("remote_vn", "string", true, (r, n) => Name(n, Client(r) ? r.DstVn : r.SrcVn)),
            new("deployment", "string", true, (r, n) => Name(n, r.Deployment)),
            new("tier", "string", true, (r, n) => Name(n, r.Tier)),
            new("application", "string", true, (r, n) => Name(n, r.App)),
            new("site", "string", true, (r, n) => Name(n, r.Site)),
            new("remote_deployment", "string", true, (r, n) => Name(n, r.RemoteDeployment)),
            new("remote_tier", "string", true, (r, n) => Name(n, r.RemoteTier)),
            new("remote_application", "string", true, (r, n) => Name(n, r.RemoteApp)),
            new("remote_site", "string", true, (r, n) => Name(n, r.RemoteSite)),
            new("remote_prefix", "string", true, (r, n) => Name(n, r.RemotePrefix)),
            new("security_policy_rule", "string", true, (r, n) => Name(n, r.SgRule)),
            new("is_service_instance", "int", true, (r, _) => (long)((r.SessionFlags & SessionFlags.ServiceInstance) != 0 ? 1 : 0)),
            new("local_ip", "ipaddr", true, (r, _) => (Client(r) ? r.SrcAddr : r.DstAddr).ToString()),
            new("protocol", "int", true, (r, _) => (long)r.IpProto),
            new("server_port", "int", true, (r, _) => (long)r.DstPort),
            new("vrouter", "string", false, (r, _) => r.Exporter.ToString()),
            new("vrouter_ip", "ipaddr", false, (r, _) => r.Exporter.ToString()),
            new("remote_ip", "ipaddr", false, (r, _) => (Client(r) ? r.DstAddr : r.SrcAddr).ToString()),
            new("client_port", "int", false, (r, _) => (long)r.SrcPort),
            new("forward_flow_uuid", "uuid", false, (r, _) => SessionRows.FlowIds(r).Forward.ToString()),
            new("reverse_flow_uuid", "uuid", false, (r, _) => SessionRows.FlowIds(r).Reverse.ToString()),
            new("forward_action", "string", false, (r, _) => FlowAction.Name(r.Action)),
            new("reverse_action", "string", false, (r, _) => FlowAction.Name(r.RevAction)),
            new("forward_sg_rule_uuid", "string", false, (r, n) => Name(n, r.SgRule)),
            new("reverse_sg_rule_uuid", "string", false, (r, n) => Name(n, r.RevSgRule)),
            new("forward_tcp_flags", "int", false, (r, _) => (long)r.TcpFlags),
            new("reverse_tcp_flags", "int", false, (r, _) => (long)r.RevTcpFlags),
            new("forward_sampled_bytes", "int", false, (r, _) => (long)r.Bytes),
            new("forward_sampled_pkts", "int", false, (r, _) => (long)r.Packets),
            new("reverse_sampled_bytes", "int", false, (r, _) => (long)r.RevBytes),
            new("reverse_sampled_pkts", "int", false, (r, _) => (long)r.RevPackets),
            new("forward_logged_bytes", "int", false, (r, _) => (long)r.LoggedBytes),
            new("forward_logged_pkts", "int", false, (r, _) => (long)r.LoggedPackets),
            new("reverse_logged_bytes", "int", false, (r, _) => (long)r.LoggedRevBytes),
            new("reverse_logged_pkts", "int", false, (r, _) => (long)r.LoggedRevPackets),
        };
        var flow = new List<Column>
        {
            new("vrouter", "string", true, (r, _) => r.Exporter.ToString()),
            new("sourcevn", "string", true, (r, n) => Name(n, r.SrcVn)),
            new("sourceip", "ipaddr", true, (r, _) => r.SrcAddr.ToString()),
            new("destvn", "string", true, (r, n) => Name(n, r.DstVn)),
            new("destip", "ipaddr", true, (r, _) => r.DstAddr.ToString()),
            new("protocol", "int", true, (r, _) => (long)r.IpProto),
            new("sport", "int", true, (r, _) => (long)r.SrcPort),
            new("dport", "int", true, (r, _) => (long)r.DstPort),
            new("direction_ing", "int", true, (r, _) => (long)(Ingress(r) ? 1 : 0)),
            new("UuidKey", "uuid", false, (r, _) => SessionIds.FlowId(r.Exporter, r.IpProto, r.SrcAddr, r.SrcPort, r.DstAddr, r.DstPort, r.Start, false).ToString()),
            new("setup_time", "long", false, (r, _) => r.Start),
            new("teardown_time", "long", false, (r, _) => r.End),
            new("action", "string", false, (r, _) => FlowAction.Name(r.Action)),
            new("sg_rule_uuid", "uuid", false, (r, n) => Name(n, r.SgRule)),
            new("vmi", "string", false, (r, n) => Name(n, r.Vmi)),
            new("vrouter_ip", "string", false, (r, _) => r.Exporter.ToString()),
            new("underlay_proto", "int", false, (r, _) => (long)r.UnderlayProto),
            new("underlay_source_port", "int", false, (r, _) => (long)r.UnderlaySrcPort),
        };
        var flowRecord = new List<Column>(flow)
        {
            new("agg-bytes", "long", false, (r, _) => (long)r.Bytes),
            new("agg-packets", "long", false, (r, _) => (long)r.Packets),
        };
        var flowSeries = new List<Column>(flow)
        {
            new("bytes", "int", false, (r, _) => (long)r.Bytes),
            new("packets", "int", false, (r, _) => (long)r.Packets),
        };
        string[] sessionCounters = ["forward_sampled_bytes", "forward_sampled_pkts", "reverse_sampled_bytes", "reverse_sampled_pkts",
            "forward_logged_bytes", "forward_logged_pkts", "reverse_logged_bytes", "reverse_logged_pkts"];
        static Dictionary<string, Column> D(List<Column> c) => c.ToDictionary(x => x.Name, StringComparer.Ordinal);
        return
        [
            new("SessionSeriesTable", Kind.Session, true, D(session), sessionCounters),
            new("SessionRecordTable", Kind.Session, false, D(session), []),
            new("FlowSeriesTable", Kind.Flow, true, D(flowSeries), ["bytes", "packets"]),
            new("FlowRecordTable", Kind.Flow, false, D(flowRecord), []),
        ];
    }

    private static bool Ingress(FlowRecord r) => r.VmiDirection != VmiDirections.None ? r.VmiDirection == VmiDirections.Ingress : r.Direction != 1;

    /// <summary>GET /analytics/tables.</summary>
    public static JsonArray TableList(string baseUrl) =>
        new(Tables.Select(t => (JsonNode)new JsonObject
        {
            ["name"] = t.Name, ["href"] = $"{baseUrl}/analytics/table/{t.Name}", ["type"] = t.Kind == Kind.Session ? "SESSION" : "FLOW",
        }).ToArray());

    /// <summary>GET /analytics/table/NAME/schema, or null for a table this server does not have.</summary>
    public static JsonObject? Schema(string name)
    {
        var t = Tables.FirstOrDefault(x => x.Name == name);
        if (t is null) return null;
        var columns = new JsonArray();
        void Add(string n, string type, bool index, string? requiredness = null, JsonArray? choices = null) => columns.Add(new JsonObject
        {
            ["name"] = n, ["datatype"] = type, ["index"] = index, ["select"] = null, ["requiredness"] = requiredness,
            ["suffixes"] = null, ["choices"] = choices,
        });
        if (t.Kind == Kind.Session) Add("session_type", "string", true, "mandatory", new JsonArray("server", "client"));
        foreach (var c in t.Columns.Values) Add(c.Name, c.Type, c.Index);
        if (t.Series)
        {
            Add("T", "int", false);
            Add("T=", "int", false);
            foreach (var c in t.Counters) Add($"SUM({c})", "int", false);
            if (t.Kind == Kind.Session)
            {
                foreach (var c in new[] { "local_ip", "vn", "remote_vn", "remote_ip" }) Add($"COUNT_DISTINCT({c})", "int", false);
                Add("sample_count", "int", false);
            }
        }
        return new JsonObject { ["type"] = t.Kind == Kind.Session ? "SESSION" : "FLOW", ["columns"] = columns };
    }

    /// <summary>
    /// Runs a query. <paramref name="scan"/> gives the rows of a table kind (session or flow) in [from, to),
    /// already limited to the caller's account. Throws <see cref="QueryException"/> with Contrail-like
    /// messages for bad requests.
    /// </summary>
    /// <param name="cancel">The caller gone: the scan stops.</param>
    public static JsonObject Run(JsonElement q, Func<bool, long, long, IEnumerable<FlowRecord>> scan, ISymbolNames names, long nowMicros, CancellationToken cancel = default)
    {
        if (q.ValueKind != JsonValueKind.Object) throw new QueryException("the query is a JSON object with table, start_time, end_time and select_fields");
        // A misspelt key ("wehre") would otherwise widen the answer without a word.
        foreach (var p in q.EnumerateObject())
        {
            if (!Keys.Contains(p.Name)) throw new QueryException($"'{p.Name}' is not a query key ({string.Join(", ", Keys)})");
        }
        var tableName = q.TryGetProperty("table", out var tn) && tn.ValueKind == JsonValueKind.String ? tn.GetString()! : throw new QueryException("table is required");
        var table = Tables.FirstOrDefault(t => t.Name == tableName) ?? throw new QueryException($"Table {tableName} not found (this server has {string.Join(", ", Tables.Select(t => t.Name))})");
        var start = Time(q, "start_time", nowMicros);
        var end = Time(q, "end_time", nowMicros);
        if (end < start) throw new QueryException("end_time is before start_time");
        if (!q.TryGetProperty("select_fields", out var sf) || sf.ValueKind != JsonValueKind.Array || sf.GetArrayLength() == 0)
        {
            throw new QueryException("select_fields is required: a list of column names");
        }
        if (sf.GetArrayLength() > MaxSelect) throw new QueryException($"select_fields holds at most {MaxSelect} names");
        var distinctBudget = new DistinctBudget();
        var select = sf.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new QueryException("select_fields holds column names (strings)")).ToList();
        if (select.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice) throw new QueryException($"select_fields: '{twice.Key}' is selected twice");

        byte side = 0;
        var serviceInstance = false;
        var ingress = true;
        if (table.Kind == Kind.Session)
        {
            var type = q.TryGetProperty("session_type", out var st) && st.ValueKind == JsonValueKind.String ? st.GetString() : null;
            side = type switch
            {
                "client" => SessionFlags.Client,
                "server" => SessionFlags.Server,
                null => throw new QueryException("session_type is required for session queries: \"client\" or \"server\""),
                _ => throw new QueryException($"session_type '{type}' is not \"client\" or \"server\""),
            };
            serviceInstance = q.TryGetProperty("is_service_instance", out var si) && (si.ValueKind == JsonValueKind.True || si.ValueKind == JsonValueKind.Number && si.TryGetDouble(out var instance) && instance != 0);
        }
        else if (q.TryGetProperty("dir", out var dir))
        {
            ingress = dir.ValueKind == JsonValueKind.Number && dir.TryGetInt32(out var d) ? d switch
            {
                1 => true,
                0 => false,
                _ => throw new QueryException("dir is 1 (ingress) or 0 (egress)"),
            } : throw new QueryException("dir is 1 (ingress) or 0 (egress)");
        }

        // The select list: plain columns, T, T=N, aggregates.
        long bucket = 0;
        var plain = new List<Column>();
        var outputs = new List<(string Key, Func<Accumulator>? Aggregate, Column? Column)>();
        var hasAggregate = false;
        var hasT = false;
        foreach (var name in select)
        {
            if (name.StartsWith("T=", StringComparison.Ordinal))
            {
                if (!table.Series) throw new QueryException($"T= is only for series tables, not {table.Name}");
                if (!long.TryParse(name.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds <= 0 || seconds > MaxSpanSeconds)
                {
                    throw new QueryException($"'{name}': T= takes a granularity in seconds up to 100 years, such as T=60");
                }
                bucket = seconds * 1_000_000;
                continue;
            }
            if (name == "T")
            {
                if (!table.Series) throw new QueryException($"T is only for series tables, not {table.Name}");
                hasT = true;
                continue;
            }
            if (Aggregate(name) is { } agg)
            {
                var (fn, arg) = agg;
                if (!table.Series) throw new QueryException($"'{name}': aggregates are only for series tables, not {table.Name}");
                if (fn == "SUM")
                {
                    if (!table.Counters.Contains(arg)) throw new QueryException($"'{name}': SUM takes a counter of {table.Name} ({string.Join(", ", table.Counters)})");
                    var c = table.Columns[arg];
                    outputs.Add((name, () => new Sum(c, names), null));
                }
                else if (fn == "COUNT_DISTINCT")
                {
                    var c = table.Columns.GetValueOrDefault(arg) ?? throw new QueryException($"'{name}': {arg} is not a column of {table.Name}");
                    outputs.Add((name, () => new Distinct(c, names, distinctBudget), null));
                }
                else throw new QueryException($"'{name}': supported aggregates are SUM, COUNT_DISTINCT and sample_count");
                hasAggregate = true;
                continue;
            }
            if (name is "sample_count" or "session_class_id" or "flow_class_id")
            {
                if (!table.Series || name is "session_class_id" or "flow_class_id") throw new QueryException($"'{name}' is not supported on {table.Name}");
                outputs.Add((name, () => new Count(), null));
                hasAggregate = true;
                continue;
            }
            var column = table.Columns.GetValueOrDefault(name) ?? throw new QueryException($"'{name}' is not a column of {table.Name} (GET /analytics/table/{table.Name}/schema)");
            plain.Add(column);
            outputs.Add((name, null, column));
        }
        if (hasT && bucket != 0) throw new QueryException("T and T= cannot both be selected");
        if (!table.Series)
        {
            // Record tables always carry the flows' ids.
            foreach (var id in table.Kind == Kind.Session ? new[] { "forward_flow_uuid", "reverse_flow_uuid" } : ["UuidKey"])
            {
                if (!select.Contains(id)) outputs.Add((id, null, table.Columns[id]));
            }
        }

        var terms = 0;
        var where = Terms(q, "where", table, isFilter: false, ref terms);
        var postFilter = Terms(q, "filter", table, isFilter: true, ref terms);
        foreach (var t in postFilter?.SelectMany(a => a) ?? [])
        {
            // The filter reads the answer's rows: a name they do not hold would match as an empty value.
            if (!(outputs.Any(o => o.Key == t.Name) || t.Name == "T" && hasT || t.Name == "T=" && bucket != 0)) throw new QueryException($"filter: '{t.Name}' is not in select_fields");
        }
        bool Kept(JsonObject o) => postFilter is null || postFilter.Any(and => and.All(t => Match(t, Plain(o[t.Name]))));
        var limit = 0;
        if (q.TryGetProperty("limit", out var limitElement) && limitElement.ValueKind != JsonValueKind.Null
            && !(limitElement.ValueKind == JsonValueKind.Number && limitElement.TryGetInt32(out limit) && limit >= 0))
        {
            throw new QueryException($"limit {limitElement.GetRawText()}: a whole number of rows, 0 for no limit");
        }
        if (limit > MaxRows) throw new QueryException($"limit is at most {MaxRows}");
        if (q.TryGetProperty("sort", out var sortElement) && sortElement.ValueKind != JsonValueKind.Null
            && !(sortElement.ValueKind == JsonValueKind.Number && sortElement.TryGetInt32(out var sortOrder) && sortOrder is 1 or 2))
        {
            throw new QueryException($"sort {sortElement.GetRawText()}: 1 (ascending) or 2 (descending)");
        }
        var sorted = q.TryGetProperty("sort_fields", out var sortFieldsElement) && sortFieldsElement.ValueKind == JsonValueKind.Array && sortFieldsElement.GetArrayLength() > 0;
        var comparer = sorted ? Sorting(q, sortFieldsElement, select, bucket, hasT) : null;

        // The rows that pass, one at a time as the store reads them: never all of them at once.
        IEnumerable<FlowRecord> Matching()
        {
            foreach (var r in scan(table.Kind == Kind.Session, start, end + 1))
            {
                cancel.ThrowIfCancellationRequested();
                if (table.Kind == Kind.Session)
                {
                    if ((r.SessionFlags & side) == 0) continue;
                    if (((r.SessionFlags & SessionFlags.ServiceInstance) != 0) != serviceInstance) continue;
                }
                else if (Ingress(r) != ingress) continue;
                if (where is null || where.Any(and => and.All(t => Match(t, table.Columns[t.Name].Get(r, names))))) yield return r;
            }
        }

        var result = new List<JsonObject>();
        if (hasAggregate || bucket != 0)
        {
            // Grouped by the plain columns (and the T= bucket); each group keeps its first row and running aggregates.
            var groups = new Dictionary<string, (long Bucket, FlowRecord First, Accumulator[] Aggregates)>(StringComparer.Ordinal);
            foreach (var r in Matching())
            {
                // T with aggregates: a group per timestamp, as Contrail's stats queries do.
                var b = bucket != 0 ? Aggregator.FloorBucket(r.Start, bucket) : hasT ? r.Start : 0;
                var key = b.ToString(CultureInfo.InvariantCulture) + "\u0001" + string.Join("\u0001", plain.Select(c => c.Get(r, names)));
                if (!groups.TryGetValue(key, out var g))
                {
                    if (groups.Count >= MaxGroups) throw new QueryException($"the answer has more than {MaxGroups} groups: narrow the time range or the where clause, or select fewer columns");
                    groups[key] = g = (b, r, outputs.Select(x => x.Aggregate?.Invoke() ?? Accumulator.Nothing).ToArray());
                }
                foreach (var a in g.Aggregates) a.Add(r);
            }
            foreach (var (b, first, aggregates) in groups.Values)
            {
                var o = new JsonObject();
                if (bucket != 0) o["T="] = b;
                if (hasT) o["T"] = b;
                for (var i = 0; i < outputs.Count; i++)
                {
                    var (key, aggregate, column) = outputs[i];
                    o[key] = ToNode(aggregate is not null ? aggregates[i].Value : column!.Get(first, names));
                }
                if (Kept(o)) result.Add(o);
            }
            if (comparer is not null) result.Sort(comparer);
            if (limit > 0 && result.Count > limit) result.RemoveRange(limit, result.Count - limit);
        }
        else
        {
            // Rows: a limit without sorting ends the scan; with sorting only the best `limit` are kept as it goes.
            foreach (var r in Matching())
            {
                var o = new JsonObject();
                if (hasT) o["T"] = r.Start;
                foreach (var (key, _, column) in outputs) o[key] = ToNode(column!.Get(r, names));
                if (!Kept(o)) continue;
                result.Add(o);
                if (comparer is null && limit > 0 && result.Count == limit) break;
                if (comparer is not null && limit > 0 && result.Count >= 2 * limit + 1024)
                {
                    result.Sort(comparer);
                    result.RemoveRange(limit, result.Count - limit);
                }
                if (limit == 0 && result.Count > MaxRows) throw new QueryException($"the answer has more than {MaxRows} rows: give a limit of at most {MaxRows} or narrow the query");
            }
            if (comparer is not null) result.Sort(comparer);
            if (limit > 0 && result.Count > limit) result.RemoveRange(limit, result.Count - limit);
        }
        return new JsonObject { ["value"] = new JsonArray(result.Select(o => (JsonNode)o).ToArray()) };
    }

    /// <summary>The keys a query may hold.</summary>
    private static readonly string[] Keys = ["table", "start_time", "end_time", "select_fields", "where", "filter", "sort_fields", "sort", "limit",
        "session_type", "is_service_instance", "dir"];

    /// <summary>Whether <paramref name="table"/> is one of the session tables (which need the sessions store).</summary>
    public static bool IsSessionTable(string? table) => Tables.Any(t => t.Name == table && t.Kind == Kind.Session);

    private static (string Function, string Argument)? Aggregate(string name)
    {
        var open = name.IndexOf('(');
        if (open <= 0 || !name.EndsWith(')')) return null;
        return (name[..open].ToUpperInvariant(), name[(open + 1)..^1]);
    }

    private static JsonNode? ToNode(object? v) => v switch
    {
        null => null,
        long n => JsonValue.Create(n),
        string s => JsonValue.Create(s),
        _ => JsonValue.Create(v.ToString()),
    };

    private static object? Plain(JsonNode? n) => n is JsonValue v
        ? v.TryGetValue<long>(out var l) ? l : v.TryGetValue<string>(out var s) ? s : v.ToString()
        : null;

    private static int Compare(object? a, object? b) => (a, b) switch
    {
        (long x, long y) => x.CompareTo(y),
        (null, null) => 0,
        (null, _) => -1,
        (_, null) => 1,
        _ => string.CompareOrdinal(a.ToString(), b.ToString()),
    };
}
