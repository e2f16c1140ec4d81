using Flowline.Query;
using Flowline.Records;
using Flowline.Storage.ClickHouse;
using Flowline.Storage.Tests.Conformance;

namespace Flowline.Storage.Tests;

/// <summary>The ClickHouse engine's parts beyond the conformance suite: its address, names, shared state and refusals.</summary>
public sealed class ClickHouseStoreTests(OneClickHouseServer fixture) : IClassFixture<OneClickHouseServer>
{
    private ClickHouseStore Open(string database) => new(new ClickHouseStoreOptions { Url = fixture.Servers[0].Url, Database = database });

    [Fact]
    public void Addresses_parse_with_clear_errors()
    {
        var o = ClickHouseLocation.Parse("clickhouse://u:p%40ss@ch1.example:8124/flows?cluster=c1&shards=ch1.example:8124,ch2.example");
        Assert.Equal(new Uri("http://ch1.example:8124/"), new Uri(o.Url.GetLeftPart(UriPartial.Authority) + "/"));
        Assert.Equal("u:p%40ss", o.Url.UserInfo);
        Assert.Equal("flows", o.Database);
        Assert.Equal("c1", o.Cluster);
        Assert.Equal(["ch1.example:8124", "ch2.example:8123"], o.Shards!.Select(s => $"{s.Host}:{s.Port}"));
        Assert.Equal("clickhouse://ch1.example:8124/flows?cluster=c1&shards=ch1.example:8124,ch2.example:8123", ClickHouseLocation.Describe(o));
        Assert.Equal(8123, ClickHouseLocation.Parse("clickhouse://localhost").Url.Port);
        Assert.Equal("flowline", ClickHouseLocation.Parse("clickhouse://localhost").Database);
        Assert.Contains("expected clickhouse://", Assert.Throws<FormatException>(() => ClickHouseLocation.Parse("http://localhost:8123/x")).Message);
        Assert.Contains("a database name", Assert.Throws<FormatException>(() => ClickHouseLocation.Parse("clickhouse://h/a;drop")).Message);
        Assert.Contains("the options are cluster and shards", Assert.Throws<FormatException>(() => ClickHouseLocation.Parse("clickhouse://h/db?replicas=2")).Message);
        Assert.Contains("shards needs a cluster", Assert.Throws<FormatException>(() => ClickHouseLocation.Parse("clickhouse://h/db?shards=a:1")).Message);
        Assert.Contains("expected HOST:PORT", Assert.Throws<FormatException>(() => ClickHouseLocation.Parse("clickhouse://h/db?cluster=c&shards=a:x")).Message);
    }

    [Fact]
    public void Names_get_the_same_ids_in_two_stores_and_are_read_back_by_a_third()
    {
        using var one = Open("names");
        using var two = Open("names");
        var a = one.Symbols.Intern(["acc-0001", "default-domain:acc-0001:net", "a'b\\c\n\"d"]);
        var b = two.Symbols.Intern(["a'b\\c\n\"d", "acc-0001"]);
        Assert.Equal(a[2], b[0]);
        Assert.Equal(a[0], b[1]);
        Assert.DoesNotContain(0u, a);
        using var reader = new ClickHouseStore(new ClickHouseStoreOptions { Url = fixture.Servers[0].Url, Database = "names", ReadOnly = true });
        Assert.Equal("a'b\\c\n\"d", reader.Symbols.Name(a[2]));
        Assert.True(reader.Symbols.TryFind("default-domain:acc-0001:net", out var id));
        Assert.Equal(a[1], id);
        Assert.False(reader.Symbols.TryFind("acc-9999", out _));
    }

    [Fact]
    public void A_hash_taken_by_another_name_moves_to_the_next_probe()
    {
        // Two names whose first probe collides cannot be found by hand; the probe sequence itself is checked.
        var first = ClickHouseSymbols.IdOf("acc-0001", 0);
        Assert.NotEqual(first, ClickHouseSymbols.IdOf("acc-0001", 1));
        Assert.NotEqual(ClickHouseSymbols.IdOf("acc-0001", 1), ClickHouseSymbols.IdOf("acc-0001", 2));
        Assert.Equal(first, ClickHouseSymbols.IdOf("acc-0001", 0));
    }

    [Fact]
    public void Shared_state_keeps_the_newest_value_of_each_key()
    {
        using var store = Open("state");
        store.Shared.Put("templates/a/0", "one");
        store.Shared.Put("templates/b/0", "x");
        store.Shared.Put("other/c", "not a template");
        store.Shared.Put("templates/a/0", "two");
        var read = store.Shared.Read("templates/").OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
        Assert.Equal(["templates/a/0", "templates/b/0"], read.Select(e => e.Key));
        Assert.Equal("two", read[0].Value);
        Assert.Equal("x", read[1].Value);
        Assert.Empty(store.Shared.Read("templates_"));
    }

    [Fact]
    public void Session_rows_are_refused_and_an_unreachable_server_is_a_clear_error()
    {
        using var store = Open("refusals");
        var batch = new FlowBatch();
        batch.Add(new FlowRecord { Start = 1_795_000_000_000_000, SessionFlags = SessionFlags.Client });
        Assert.Contains("session rows stay in the sessions store", Assert.Throws<ArgumentException>(() => store.Append(batch)).Message);
        var e = Assert.Throws<ClickHouseException>(() => new ClickHouseStore(new ClickHouseStoreOptions { Url = new Uri("http://127.0.0.1:1/"), Database = "x" }));
        Assert.Contains("cannot reach ClickHouse", e.Message);
    }

    [Fact]
    public void Expire_drops_whole_days_and_stats_count_what_is_left()
    {
        using var store = Open("expire");
        var day = 86_400_000_000L;
        var first = 1_795_000_000_000_000L / day * day;
        var batch = new FlowBatch();
        for (var d = 0; d < 3; d++)
        {
            for (var i = 0; i < 100; i++) batch.Add(new FlowRecord { Start = first + d * day + i, Bytes = 1, Packets = 1, IpVersion = 4 });
        }
        store.Append(batch);
        store.Flush();
        Assert.Equal((3, 300L), (store.Stats().Partitions, store.Stats().Rows));
        Assert.Equal(2, store.Expire(first + 2 * day));
        var stats = store.Stats();
        Assert.Equal((1, 100L, first + 2 * day), (stats.Partitions, stats.Rows, stats.FirstStart));
        Assert.Empty(store.Verify());
        Assert.Equal(100, store.Rows(long.MinValue, long.MaxValue, new FilterNode.Any()).Count());
        // The rollups lost the same days: the total of all time, from the per-minute sums, is what is left.
        Assert.Equal(100UL, Assert.Single(store.Aggregate(long.MinValue, long.MaxValue, new FlowQuery())).Flows);
        Assert.Equal(1, store.RollupQueries);

        // Sums that do not match the flows (a block whose flows landed without its sums) are reported.
        using var c = new ClickHouseClient(fixture.Servers[0].Url, "expire");
        c.Execute($"INSERT INTO rollup_1m_src_addr_local (`start`, `flows`) VALUES ({first + 2 * day}, 1)");
        var problem = Assert.Single(store.Verify());
        Assert.Contains("rollup_1m_src_addr_local", problem.Path);
        Assert.Contains("sums 101 flows where flows_local holds 100", problem.Reason);
    }
    [Fact]
    public void Every_field_of_a_flow_record_comes_back_as_it_went_in()
    {
        // Random bytes in every column but the session rows' own; starts within a few days, ids unique.
        var random = new Random(17);
        const int rows = 5000;
        var batch = new FlowBatch(rows);
        foreach (var f in FlowBatch.Fields)
        {
            if (f is >= FlowField.SessionFlags and <= FlowField.RemotePrefix) continue;
            random.NextBytes(batch.ColumnBytes(f, rows));
        }
        batch.SetCount(rows);
        for (var i = 0; i < rows; i++)
        {
            batch.Start[i] = 1_795_000_000_000_000 + random.NextInt64(3 * 86_400_000_000L);
            batch.SampledPackets[i] = (ulong)i;
        }
        using var store = Open("roundtrip");
        store.Append(batch);
        store.Flush();
        var back = new FlowBatch(rows);
        foreach (var b in store.Scan(long.MinValue, long.MaxValue, new FilterNode.Any())) back.AppendRange(b, 0, b.Count);
        Assert.Equal(rows, back.Count);
        var order = Enumerable.Range(0, rows).OrderBy(i => back.SampledPackets[i]).ToArray();
        foreach (var f in FlowBatch.Fields)
        {
            var size = FlowBatch.ValueSize(f);
            var sent = batch.ColumnValues(f, rows);
            var got = back.ColumnValues(f, rows);
            for (var i = 0; i < rows; i++)
            {
                Assert.True(sent.Slice(i * size, size).SequenceEqual(got.Slice(order[i] * size, size)), $"{FlowFields.Name(f)} of row {i} changed");
            }
        }
    }
}
