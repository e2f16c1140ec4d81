using System.Text.Json;
using Flowline.Query;
using Flowline.Sessions;
using Flowline.Storage;
using Flowline.Storage.Embedded;
using Flowline.Wire.Generation;
using Flowline.Records;

namespace Flowline.Api.Tests;

/// <summary>
/// Sessions as stored rows: generated conversations stitched, aggregated, shipped as an agent would (JSON),
/// stored, and asked with the Contrail query; every answer is checked against the sessions themselves.
/// </summary>
public sealed class SessionQueryTests : IDisposable
{
    private const long T1 = 1_790_000_040_000_000, T2 = T1 + 90_000_000; // two reports in two different minutes
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-sessions-");

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>Conversations (a flow and its answer, a few unanswered) in two halves; the sessions of each half.</summary>
    private static (List<FlowRecord> Flows, List<Session>[] Halves) Traffic()
    {
        var g = new TrafficGenerator(11, hosts: 300);
        var s = new Sessionizer();
        var flows = new List<FlowRecord>();
        var halves = new List<Session>[2];
        for (var half = 0; half < 2; half++)
        {
            for (var i = 0; i < 4000; i++)
            {
                var f = g.Next();
                flows.Add(f);
                s.Add(f);
                if (i % 40 == 0) continue;
                var answer = f with
                {
                    SrcAddr = f.DstAddr, DstAddr = f.SrcAddr, SrcPort = f.DstPort, DstPort = f.SrcPort, Start = f.Start + 900, End = f.End + 900,
                    Bytes = f.Bytes * 5 + 60, Packets = f.Packets + 2,
                };
                flows.Add(answer);
                s.Add(answer);
            }
            halves[half] = s.Flush(half == 0 ? T1 : T2);
        }
        return (flows, halves);
    }

    private (EmbeddedStore Store, List<Session> Sessions, List<FlowRecord> Flows) Stored()
    {
        var (flows, halves) = Traffic();
        var store = new EmbeddedStore(_dir.FullName);
        var agentSymbols = new SymbolTable();
        var sequence = 0;
        foreach (var (half, time) in new[] { (halves[0], T1), (halves[1], T2) })
        {
            var agg = new EndpointAggregator();
            foreach (var session in half) agg.Add(session, sampled: true, scale: 1, logged: false);
            // As an agent ships it and a collector stores it: names over the wire, ids interned on arrival.
            var json = SessionEndpointJson.Write("node-1", ++sequence, time, agg.Endpoints, agentSymbols);
            var batch = SessionEndpointJson.Read(json, store.Symbols);
            Assert.Equal(time, batch.Time);
            var rows = new FlowBatch(1024);
            SessionRows.Append(batch.Endpoints, batch.Time, rows, store.Symbols);
            store.Append(rows);
        }
        store.Flush();
        return (store, halves.SelectMany(h => h).ToList(), flows);
    }

    private static IEnumerable<FlowRecord> Rows(IFlowStore store) =>
        QueryRunner.Rows(store.Scan(0, long.MaxValue, new FilterNode.Any(), new HashSet<FlowField>(FlowFields.All)), new FilterNode.Any());

    private static JsonElement Query(IFlowStore store, string json)
    {
        var answer = ContrailQuery.Run(JsonDocument.Parse(json).RootElement,
            (sessions, from, to) => QueryRunner.Rows(store.Scan(from, to, new FilterNode.Any(), new HashSet<FlowField>(FlowFields.All)), new FilterNode.Any()),
            store.Symbols, T2 + 60_000_000);
        return JsonDocument.Parse(answer.ToJsonString()).RootElement.GetProperty("value");
    }

    [Fact]
    public void Stored_sessions_keep_every_byte_in_at_most_60_percent_of_the_flow_rows()
    {
        var (store, sessions, flows) = Stored();
        using (store)
        {
            var rows = Rows(store).ToList();
            Assert.True(rows.Count <= flows.Count * 0.6, $"{rows.Count} session rows for {flows.Count} one-way flows");
            Assert.Equal(flows.Aggregate(0UL, (t, f) => t + f.Bytes), rows.Aggregate(0UL, (t, r) => t + r.Bytes + r.RevBytes));
            Assert.Equal(flows.Aggregate(0UL, (t, f) => t + f.Packets), rows.Aggregate(0UL, (t, r) => t + r.Packets + r.RevPackets));
            // Each row carries its session's flow ids, the same ones the sessionizer gave.
            var ids = sessions.Select(s => (s.Forward.FlowId, s.Reverse.FlowId)).ToHashSet();
            Assert.All(rows, r => Assert.Contains(SessionRows.FlowIds(r), ids));
        }
    }

    [Fact]
    public void A_series_query_sums_forward_and_reverse_bytes_per_T_bucket()
    {
        var (store, _, _) = Stored();
        using (store)
        {
            var value = Query(store, $$"""
                {"table": "SessionSeriesTable", "start_time": {{T1 - 1}}, "end_time": "now",
                 "select_fields": ["T=60", "SUM(forward_sampled_bytes)", "SUM(reverse_sampled_bytes)", "sample_count"],
                 "session_type": "client", "sort_fields": ["T="], "sort": 1}
                """);
            var rows = Rows(store).ToList();
            var expected = rows.GroupBy(r => Aggregator.FloorBucket(r.Start, 60_000_000)).OrderBy(g => g.Key)
                .Select(g => (g.Key, g.Sum(r => (long)r.Bytes), g.Sum(r => (long)r.RevBytes), (long)g.Count())).ToList();
            Assert.Equal(2, expected.Count);
            var got = value.EnumerateArray().Select(o => (o.GetProperty("T=").GetInt64(), o.GetProperty("SUM(forward_sampled_bytes)").GetInt64(),
                o.GetProperty("SUM(reverse_sampled_bytes)").GetInt64(), o.GetProperty("sample_count").GetInt64())).ToList();
            Assert.Equal(expected, got);
            // No server sessions were recorded (no port of an inventory): the server part is empty.
            Assert.Empty(Query(store, $$"""{"table": "SessionSeriesTable", "start_time": "now-10m", "end_time": "now", "select_fields": ["SUM(forward_sampled_bytes)"], "session_type": "server"}""").EnumerateArray());
        }
    }

    [Fact]
    public void A_record_query_filters_with_where_and_sorts()
    {
        var (store, sessions, _) = Stored();
        using (store)
        {
            var value = Query(store, $$"""
                {"table": "SessionRecordTable", "start_time": "now-10m", "end_time": "now",
                 "select_fields": ["local_ip", "remote_ip", "client_port", "forward_sampled_bytes", "reverse_sampled_bytes"],
                 "where": [[{"name": "protocol", "value": 6, "op": 1}, {"name": "server_port", "value": 443, "op": 1}]],
                 "session_type": "client", "sort_fields": ["forward_sampled_bytes"], "sort": 2, "limit": 7}
                """);
            var expected = sessions.Where(s => s.Protocol == 6 && s.ServerPort == 443)
                .Select(s => (long)s.Forward.Bytes).OrderDescending().Take(7).ToList();
            Assert.Equal(7, expected.Count);
            Assert.Equal(expected, value.EnumerateArray().Select(o => o.GetProperty("forward_sampled_bytes").GetInt64()).ToList());
            foreach (var o in value.EnumerateArray())
            {
                var s = sessions.Single(x => x.Protocol == 6 && x.ServerPort == 443 && x.ClientIp.ToString() == o.GetProperty("local_ip").GetString()
                    && x.ServerIp.ToString() == o.GetProperty("remote_ip").GetString() && x.ClientPort == o.GetProperty("client_port").GetInt32()
                    && (long)x.Forward.Bytes == o.GetProperty("forward_sampled_bytes").GetInt64());
                Assert.Equal((long)s.Reverse.Bytes, o.GetProperty("reverse_sampled_bytes").GetInt64());
                Assert.Equal(s.Forward.FlowId.ToString(), o.GetProperty("forward_flow_uuid").GetString());
            }
        }
    }

    [Theory]
    [InlineData("""{"table": "SessionSeriesTable", "start_time": "now-10m", "end_time": "now", "select_fields": ["T=60"]}""", "session_type is required")]
    [InlineData("""{"table": "NoSuchTable", "start_time": "now-10m", "end_time": "now", "select_fields": ["T"]}""", "Table NoSuchTable not found")]
    [InlineData("""{"table": "SessionRecordTable", "session_type": "client", "start_time": "now-10m", "end_time": "now", "select_fields": ["local_ip"], "where": [[{"name": "local_ip", "value": "10.0.0.1", "op": 12}]]}""", "op 12 is not 1-9")]
    [InlineData("""{"table": "SessionRecordTable", "session_type": "client", "start_time": "yesterday", "end_time": "now", "select_fields": ["local_ip"]}""", "start_time")]
    [InlineData("""{"table": "SessionRecordTable", "session_type": "client", "start_time": "now-10m", "end_time": "now", "select_fields": ["nonsense"]}""", "'nonsense' is not a column")]
    public void Bad_queries_are_refused_with_a_reason(string json, string reason)
    {
        using var store = new EmbeddedStore(_dir.FullName);
        var e = Assert.Throws<ContrailQuery.QueryException>(() => Query(store, json));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }
}
