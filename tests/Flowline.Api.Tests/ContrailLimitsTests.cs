using System.Text.Json;
using System.Text.Json.Nodes;
using Flowline.Records;

namespace Flowline.Api.Tests;

/// <summary>
/// The Contrail query works as the rows stream by: a limit ends the scan, only the best rows of a sorted
/// answer are kept, and an answer that would grow without bound is refused with what to change. The scans
/// here never end, so each of these would run until memory ran out if rows were gathered first.
/// </summary>
public sealed class ContrailLimitsTests
{
    /// <summary>No symbol has a name (the flows here carry none).</summary>
    internal sealed class Names : ISymbolNames
    {
        public string? Name(uint id) => null;
    }

    private static IEnumerable<FlowRecord> Endless(Action<long>? pulled = null)
    {
        for (long i = 0; ; i++)
        {
            pulled?.Invoke(i);
            yield return new FlowRecord
            {
                Start = 1_000_000 + i, End = 2_000_000 + i, IpProto = 6, SrcAddr = FlowAddress.FromV4((uint)(0x0A000000 + i)), DstAddr = FlowAddress.FromV4(0x0A010101),
                SrcPort = (ushort)(i % 60000), DstPort = 443, Bytes = (ulong)(i % 1000), Packets = 1,
            };
        }
    }

    private static JsonArray Run(string json, Action<long>? pulled = null) =>
        ContrailQuery.Run(JsonDocument.Parse(json).RootElement, (_, _, _) => Endless(pulled), new Names(), 10_000_000)["value"]!.AsArray();

    [Fact]
    public void A_limit_without_sorting_ends_the_scan()
    {
        long last = 0;
        var rows = Run("""{"table": "FlowRecordTable", "start_time": 0, "end_time": 9000000, "select_fields": ["sourceip", "sport"], "limit": 25}""", i => last = i);
        Assert.Equal(25, rows.Count);
        Assert.True(last < 100, $"{last} rows read for 25");
    }

    [Fact]
    public void Without_a_limit_or_with_endless_groups_the_answer_is_refused_with_what_to_change()
    {
        var e = Assert.Throws<ContrailQuery.QueryException>(() => Run("""{"table": "FlowRecordTable", "start_time": 0, "end_time": 9000000, "select_fields": ["sourceip"]}"""));
        Assert.Contains("give a limit", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ContrailQuery.QueryException>(() => Run("""{"table": "FlowSeriesTable", "start_time": 0, "end_time": 9000000, "select_fields": ["sourceip", "SUM(bytes)"]}"""));
        Assert.Contains("groups", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sorted_limited_answer_keeps_only_the_best_as_it_goes()
    {
        // Sorted without a limit, an endless scan meets the row cap; with a limit, 5 best of 300,000 rows are kept as they come.
        var e = Assert.Throws<ContrailQuery.QueryException>(() => Run("""{"table": "FlowRecordTable", "start_time": 0, "end_time": 9000000, "select_fields": ["sourceip", "sport"], "sort_fields": ["sport"], "sort": 2}"""));
        Assert.Contains("give a limit", e.Message, StringComparison.Ordinal);
        var rows = ContrailQuery.Run(JsonDocument.Parse("""{"table": "FlowRecordTable", "start_time": 0, "end_time": 9000000, "select_fields": ["sourceip", "sport"], "sort_fields": ["sport"], "sort": 2, "limit": 5}""").RootElement,
            (_, _, _) => Endless().Take(300_000), new Names(), 10_000_000)["value"]!.AsArray();
        Assert.Equal([59999L, 59999L, 59999L, 59999L, 59999L], rows.Select(r => (long)r!["sport"]!));
    }

    [Fact]
    public void A_limit_beyond_the_row_cap_endless_distinct_values_and_endless_select_fields_are_refused()
    {
        // A huge limit had bypassed the row cap, and 2 × limit + 1024 overflowed for a sorted one.
        foreach (var sort in new[] { "", """, "sort_fields": ["sport"], "sort": 2""" })
        {
            var e = Assert.Throws<ContrailQuery.QueryException>(() => Run($$"""{"table": "FlowRecordTable", "start_time": 0, "end_time": 9000000, "select_fields": ["sourceip", "sport"], "limit": 2000000000{{sort}}}"""));
            Assert.Equal($"limit is at most {ContrailQuery.MaxRows}", e.Message);
        }
        // One group whose distinct source addresses never end.
        var d = Assert.Throws<ContrailQuery.QueryException>(() => Run("""{"table": "FlowSeriesTable", "start_time": 0, "end_time": 9000000, "select_fields": ["destip", "COUNT_DISTINCT(sourceip)"]}"""));
        Assert.Contains($"the COUNT_DISTINCTs hold more than {ContrailQuery.MaxDistinct} values", d.Message, StringComparison.Ordinal);
        var names = string.Join(",", Enumerable.Repeat("\"sport\"", ContrailQuery.MaxSelect + 1));
        var s = Assert.Throws<ContrailQuery.QueryException>(() => Run($$"""{"table": "FlowRecordTable", "start_time": 0, "end_time": 9000000, "select_fields": [{{names}}], "limit": 1}"""));
        Assert.Equal($"select_fields holds at most {ContrailQuery.MaxSelect} names", s.Message);
    }
}
