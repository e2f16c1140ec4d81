using System.Text.Json;
using System.Text.Json.Nodes;
using Flowline.Records;

namespace Flowline.Api.Tests;

/// <summary>
/// What the Contrail query refuses rather than answer wrongly or at any cost: misspelt keys, malformed filters,
/// repeated select fields, times that overflow, more terms than a filter takes; and what it answers as
/// Contrail does: T with aggregates per timestamp, a value of 443.0 as 443.
/// </summary>
public sealed class ContrailQueryRulesTests
{
    private const long Now = 1_795_000_000_000_000;

    /// <summary>Four flows at two times (1 s and 2 s), to port 443 or 53.</summary>
    private static readonly FlowRecord[] Flows =
    [
        .. new[] { (1_000_000L, 443), (1_000_000L, 53), (2_000_000L, 443), (2_000_000L, 443) }.Select(x => new FlowRecord
        {
            Start = x.Item1, End = x.Item1 + 10, IpProto = 6, SrcAddr = FlowAddress.FromV4(0x0A000001), DstAddr = FlowAddress.FromV4(0x0A000002),
            SrcPort = 40000, DstPort = (ushort)x.Item2, Bytes = 100, Packets = 1,
        }),
    ];

    private static JsonArray Run(string json, IEnumerable<FlowRecord>? rows = null, CancellationToken cancel = default) =>
        ContrailQuery.Run(JsonDocument.Parse(json).RootElement, (_, _, _) => rows ?? Flows, new ContrailLimitsTests.Names(), Now, cancel)["value"]!.AsArray();

    private static string Refused(string json) => Assert.Throws<ContrailQuery.QueryException>(() => Run(json)).Message;

    private const string Flow = """ "table": "FlowSeriesTable", "start_time": 0, "end_time": 9000000 """;

    [Fact]
    public void A_misspelt_key_a_malformed_filter_or_an_empty_and_list_is_refused_rather_than_ignored()
    {
        Assert.Contains("'wehre' is not a query key", Refused("{" + Flow + """, "select_fields": ["dport"], "wehre": [[{"name": "dport", "value": 53, "op": 1}]]}"""));
        Assert.Contains("filter: expected a list", Refused("{" + Flow + """, "select_fields": ["dport"], "filter": {"name": "dport", "value": 53, "op": 1}}"""));
        Assert.Contains("at least one term", Refused("{" + Flow + """, "select_fields": ["dport"], "where": [[]]}"""));
        Assert.Contains("'sport' is not in select_fields", Refused("{" + Flow + """, "select_fields": ["dport"], "filter": [[{"name": "sport", "value": 1, "op": 1}]]}"""));
        Assert.Contains("limit \"10\"", Refused("{" + Flow + """, "select_fields": ["dport"], "limit": "10"}"""));
        Assert.Contains("limit -1", Refused("{" + Flow + """, "select_fields": ["dport"], "limit": -1}"""));
        Assert.Contains("sort 3", Refused("{" + Flow + """, "select_fields": ["dport"], "sort": 3, "sort_fields": ["dport"]}"""));
        Assert.Contains("a string or a number", Refused("{" + Flow + """, "select_fields": ["dport"], "where": [[{"name": "dport", "value": {"x": 1}, "op": 1}]]}"""));
        // A filter that is a list keeps what it says.
        var rows = Run("{" + Flow + """, "select_fields": ["dport", "SUM(bytes)"], "filter": [[{"name": "dport", "value": 53, "op": 1}]]}""");
        Assert.Equal(53, Assert.Single(rows)!["dport"]!.GetValue<long>());
    }

    [Fact]
    public void Repeated_select_fields_and_flow_count_are_refused()
    {
        Assert.Contains("'SUM(bytes)' is selected twice", Refused("{" + Flow + """, "select_fields": ["dport", "SUM(bytes)", "SUM(bytes)"]}"""));
        Assert.Contains("flow_count", Refused("{" + Flow + """, "select_fields": ["flow_count"]}"""));
    }

    [Fact]
    public void T_with_aggregates_groups_per_timestamp()
    {
        var rows = Run("{" + Flow + """, "select_fields": ["T", "SUM(bytes)"], "sort_fields": ["T"]}""");
        Assert.Equal(2, rows.Count);
        Assert.Equal(1_000_000, rows[0]!["T"]!.GetValue<long>());
        Assert.Equal(200, rows[0]!["SUM(bytes)"]!.GetValue<long>());
        Assert.Equal(2_000_000, rows[1]!["T"]!.GetValue<long>());
        Assert.Equal(200, rows[1]!["SUM(bytes)"]!.GetValue<long>());
    }

    [Fact]
    public void Times_and_granularities_that_would_overflow_are_refused()
    {
        const string Select = """ "table": "FlowRecordTable", "select_fields": ["dport"], "limit": 5 """;
        // 213,503,982 days times 86,400,000,000 µs wraps a 64-bit number to about now.
        Assert.Contains("longer than 100 years", Refused("{" + Select + """, "start_time": "now-213503982d", "end_time": "now"}"""));
        Assert.Contains("longer than 100 years", Refused("{" + Select + """, "start_time": "now-36601d", "end_time": "now"}"""));
        Assert.Contains("before 1970", Refused("{" + Select + """, "start_time": "now-36000d", "end_time": "now"}"""));
        Assert.Contains("the year 9999", Refused("{" + Select + """, "start_time": 0, "end_time": 9223372036854775807}"""));
        Assert.Equal(4, Run("{" + Select + """, "start_time": "now-10d", "end_time": "now+1h"}""").Count);
        Assert.Contains("up to 100 years", Refused("{" + Flow + """, "select_fields": ["T=9223372036855", "SUM(bytes)"]}"""));
    }

    [Fact]
    public void A_whole_number_written_as_a_double_matches_as_the_number()
    {
        var rows = Run("{" + Flow + """, "select_fields": ["dport", "SUM(bytes)"], "where": [[{"name": "dport", "value": 443.0, "op": 1}]]}""");
        Assert.Equal(300, Assert.Single(rows)!["SUM(bytes)"]!.GetValue<long>());
    }

    [Fact]
    public void Where_and_filter_hold_at_most_a_thousand_terms_and_a_pattern_is_built_once()
    {
        var terms = string.Join(", ", Enumerable.Range(0, 1001).Select(i => $$"""{"name": "dport", "value": {{i}}, "op": 2}"""));
        Assert.Contains("at most 1000 terms", Refused("{" + Flow + """, "select_fields": ["dport", "SUM(bytes)"], "where": [[""" + terms + "]]}"));
        // Twenty patterns (more than the runtime's cache of built ones), each matching one port.
        var filter = string.Join(", ", Enumerable.Range(0, 20).Select(i => $$"""[{"name": "dport", "value": "^{{(i == 7 ? 53 : 10_000 + i)}}$", "op": 8}]"""));
        var rows = Run("{" + Flow + """, "select_fields": ["dport", "SUM(bytes)"], "filter": [""" + filter + "]}");
        Assert.Equal(53, Assert.Single(rows)!["dport"]!.GetValue<long>());
    }

    [Fact]
    public void A_caller_gone_stops_the_scan()
    {
        using var gone = new CancellationTokenSource();
        gone.Cancel();
        long read = 0;
        IEnumerable<FlowRecord> Many()
        {
            for (var i = 0L; i < 2_000_000; i++)
            {
                read++;
                yield return Flows[i % Flows.Length];
            }
        }
        // A filter that never matches: without the token this reads every row, as an endless range would.
        Assert.ThrowsAny<OperationCanceledException>(() => Run("{" + Flow + """, "select_fields": ["dport"], "filter": [[{"name": "dport", "value": 1, "op": 1}]]}""", Many(), gone.Token));
        Assert.True(read <= 1, $"{read} rows read after the caller went");
    }

    [Fact]
    public async Task A_session_table_on_a_server_without_sessions_answers_that_sessions_are_off()
    {
        await using var server = new ApiServer();
        var key = server.Keys.Create("acc-a", admin: false);
        var (status, body, _) = await server.Send(key, HttpMethod.Post, "/analytics/query", [],
            """{"table": "SessionSeriesTable", "session_type": "client", "start_time": "now-1h", "end_time": "now", "select_fields": ["vn", "SUM(forward_sampled_bytes)"]}""");
        Assert.Equal(404, status);
        Assert.Contains("--sessions on", body.ToString(), StringComparison.Ordinal);
        (status, _, _) = await server.Send(key, HttpMethod.Post, "/analytics/query", [],
            """{"table": "FlowSeriesTable", "start_time": "now-1h", "end_time": "now", "select_fields": ["sourcevn", "SUM(bytes)"]}""");
        Assert.Equal(200, status);
    }
}
