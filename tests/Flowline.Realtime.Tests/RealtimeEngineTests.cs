using System.Text.Json.Nodes;
using Flowline.Records;

namespace Flowline.Realtime.Tests;

public sealed class RealtimeEngineTests
{
    internal sealed class Names : ISymbolNames
    {
        public string? Name(uint id) => id == 0 ? null : $"acc-{id}";
    }

    internal static readonly KeyContext Context = new(new Names());

    internal static FlowRecord Row(string src, string dst, ulong bytes, long time, byte proto = 6, ushort dstPort = 443) => new()
    {
        TimeReceived = time, Protocol = FlowProtocol.SFlow5, Exporter = FlowAddress.Parse("192.0.2.1"), ObsPoint = 3,
        SrcAddr = FlowAddress.Parse(src), DstAddr = FlowAddress.Parse(dst), IpVersion = (byte)(src.Contains(':') ? 6 : 4),
        IpProto = proto, SrcPort = 40000, DstPort = dstPort, Bytes = bytes, Packets = 1, SamplingRate = 1,
    };

    internal static FlowBatch Batch(params FlowRecord[] rows)
    {
        var b = new FlowBatch();
        foreach (var r in rows) b.Add(r);
        return b;
    }

    [Fact]
    public void Keys_parse_nested_functions_and_name_what_is_wrong()
    {
        var k = KeyParser.ParseList("null:[country:ipsource]:unknown,mask:ipdestination:16,or:tcpsourceport:udpsourceport", Context);
        Assert.Equal(3, k.Length);
        var b = Batch(Row("10.1.2.3", "172.16.9.9", 100, 1, proto: 17));
        Assert.Equal("unknown", k[0].TextOf(b, 0));
        Assert.Equal("172.16.0.0", k[1].TextOf(b, 0));
        Assert.Equal("40000", k[2].TextOf(b, 0));
        Assert.Contains("unknown key 'ipsrc'", Assert.Throws<FormatException>(() => KeyParser.ParseList("ipsrc", Context)).Message, StringComparison.Ordinal);
        Assert.Contains("not an address key", Assert.Throws<FormatException>(() => KeyParser.Parse("country:tcpsourceport", Context)).Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => KeyParser.Parse("mask:ipsource", Context));
        Assert.Contains("an IPv4 address has 32 bits, not 40", Assert.Throws<FormatException>(() => KeyParser.Parse("mask:ipsource:40", Context)).Message, StringComparison.Ordinal);
        Assert.NotNull(KeyParser.Parse("mask:ipsource:32", Context));
        Assert.NotNull(KeyParser.Parse("mask:agent:64", Context)); // either family
        Assert.Throws<FormatException>(() => KeyParser.Parse("null:[country:ipsource:unknown", Context));
    }

    [Theory]
    [InlineData("ipsource=10.0.0.0/8", true)]
    [InlineData("ipsource=10.0.0.0/16", false)]
    [InlineData("ipsource!=10.1.2.3", false)]
    [InlineData("tcpdestinationport=80,443", true)]
    [InlineData("udpdestinationport=443", false)]
    [InlineData("udpdestinationport!=443", true)]
    [InlineData("ipsource=10.1.2.3&(tcpdestinationport=80|ipprotocol=6)", true)]
    [InlineData("!ipprotocol=6", false)]
    [InlineData("ipdestination~^172\\.16\\.", true)]
    [InlineData("ip6source=::/0", false)]
    [InlineData("ipsource~^10\\.(0|1)\\.", true)] // a group with alternation is the pattern's own
    [InlineData("ipsource~^10\\.(0|2)\\.", false)]
    [InlineData("(ipsource~^10\\.(0|1)\\.[0-9)]+)&ipprotocol=6", true)]
    [InlineData("ipsource~^10\\.(0|2)\\.|ipprotocol=6", true)] // a '|' outside the groups ends the pattern
    public void Filters_follow_sflow_rt_syntax(string filter, bool matches)
    {
        var b = Batch(Row("10.1.2.3", "172.16.9.9", 100, 1));
        Assert.Equal(matches, FlowFilter.Parse(filter, Context).Matches(b, 0));
    }

    [Theory]
    [InlineData("ipsource=10.0.0.1&")]
    [InlineData("ipsource")]
    [InlineData("(ipsource=10.0.0.1")]
    [InlineData("ipsource~[")]
    [InlineData("ipsource=300.1.1.1")] // literals a typed key never holds: refused rather than matching nothing forever
    [InlineData("ipsource=10.0.0.0/33")]
    [InlineData("tcpdestinationport=abc")]
    [InlineData("vlan=99999999999999999999")]
    [InlineData("macsource=not-a-mac")]
    [InlineData("tcpflags~..(.1\\")] // a pattern ending in its escape (found by the fuzzer)
    [InlineData("ipsource~(10")]
    public void Bad_filters_are_refused(string filter) => Assert.Throws<FormatException>(() => FlowFilter.Parse(filter, Context));

    private static (FlowTable Table, FlowLogger Log, ThresholdSink Events, List<JsonObject> Raised) Table(string json, long now = 0)
    {
        var raised = new List<JsonObject>();
        var table = new FlowTable("t", FlowDefinition.FromJson(json), Context, new FlowBudget(1000, long.MaxValue), now);
        return (table, new FlowLogger(new Journal(100, "flowID")), new ThresholdSink(new Journal(100, "eventID"), raised.Add), raised);
    }

    [Fact]
    public void A_steady_flow_settles_to_its_rate_and_decays_when_it_stops()
    {
        var (table, log, events, _) = Table("""{"keys": "ipsource,ipdestination", "t": 2}""");
        // 1000 bytes every millisecond for 20 s: 1 MB/s; one millisecond at a time in batches of 100.
        for (long ms = 0; ms < 20_000; ms += 100)
        {
            var b = Batch(Enumerable.Range(0, 100).Select(k => Row("10.0.0.1", "10.0.0.2", 1000, (ms + k) * 1000)).ToArray());
            table.Add(b, 0, b.Count, log, events);
        }
        var top = Assert.Single(table.Top(null, 20_000_000));
        Assert.Equal("10.0.0.1,10.0.0.2", top.Key);
        Assert.InRange(top.Value, 0.99e6, 1.01e6);
        // Ten seconds later (five time constants) it is below 1% of that.
        Assert.True(table.Top(null, 30_000_000)[0].Value < 1e4);
        // Idle for 10 t it is dropped.
        table.Sweep(41_000_000, log);
        Assert.Empty(table.Top(null, 41_000_000));
    }

    [Fact]
    public void A_separator_that_could_not_split_a_key_again_is_refused()
    {
        Assert.Contains("expected a separator of 1 to 16 characters", Assert.Throws<FormatException>(() => FlowDefinition.FromJson("""{"keys": "ipsource,ipdestination", "fs": ""}""")).Message);
        Assert.Throws<FormatException>(() => FlowDefinition.FromJson("""{"keys": "ipsource", "fs": "%%%%%%%%%%%%%%%%%"}"""));
        Assert.Equal("|", FlowDefinition.FromJson("""{"keys": "ipsource", "fs": "|"}""").Fs);
        Assert.Equal(",", FlowDefinition.FromJson("""{"keys": "ipsource"}""").Fs);
    }

    [Fact]
    public void The_shortest_time_constant_keeps_finite_rates_however_long_between_sweeps()
    {
        Assert.Contains("expected seconds from 0.1 to 3600", Assert.Throws<FormatException>(() => FlowDefinition.FromJson("""{"keys": "ipsource", "t": 0.001}""")).Message);
        Assert.Throws<FormatException>(() => FlowDefinition.FromJson("""{"keys": "ipsource", "t": 0.099}"""));
        var (table, log, events, _) = Table("""{"keys": "ipsource", "t": 0.1}""");
        // Rows two minutes after the table's time base, with no sweep between (1,200 time constants).
        for (long ms = 120_000; ms < 121_000; ms += 100)
        {
            var b = Batch(Enumerable.Range(0, 100).Select(k => Row("10.0.0.1", "10.0.0.2", 1000, (ms + k) * 1000)).ToArray());
            table.Add(b, 0, b.Count, log, events);
        }
        var top = Assert.Single(table.Top(null, 121_000_000));
        Assert.InRange(top.Value, 0.99e6, 1.01e6);
    }

    [Fact]
    public void A_flow_between_two_ports_counts_once_unless_the_key_is_a_tenancy_key()
    {
        var egress = Row("10.0.0.1", "10.0.0.2", 500, 1);
        egress.Account = 1;
        egress.VmiDirection = VmiDirections.Egress;
        var ingress = egress;
        ingress.Account = 2;
        ingress.VmiDirection = VmiDirections.Ingress;
        var b = Batch(egress, ingress);
        var (pairs, log, events, _) = Table("""{"keys": "ipsource,ipdestination", "t": 1}""", 1);
        pairs.Add(b, 0, 2, log, events);
        Assert.Equal(500, pairs.Top(null, 1)[0].Value, 6);
        var (accounts, _, _, _) = Table("""{"keys": "account", "t": 1}""", 1);
        accounts.Add(b, 0, 2, log, events);
        Assert.Equal(["acc-1", "acc-2"], accounts.Top(null, 1).Select(f => f.Key).Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public void Top_keeps_n_per_data_source_and_merge_takes_the_max_or_the_sum()
    {
        var (table, log, events, _) = Table("""{"keys": "ipdestination", "n": 2}""");
        var rows = new List<FlowRecord>();
        for (var i = 1; i <= 4; i++)
        {
            var r = Row("10.0.0.1", $"10.0.0.{i}", (ulong)(i * 100), 0);
            rows.Add(r);
            r.ObsPoint = 4; // the same flows at a second data source
            rows.Add(r);
        }
        var b = Batch(rows.ToArray());
        table.Add(b, 0, b.Count, log, events);
        var top = table.Top(null, 0);
        Assert.Equal(4, top.Count);
        var max = RealtimeEngine.Merge(top, 10, 0, sum: false);
        Assert.Equal(["10.0.0.4", "10.0.0.3"], max.Select(f => f.Key).ToArray());
        var sum = RealtimeEngine.Merge(top, 10, 0, sum: true);
        Assert.Equal(2 * max[0].Value, sum[0].Value, 6);
        Assert.Single(RealtimeEngine.Merge(top, 10, max[1].Value, sum: false));
    }

    [Fact]
    public async Task A_threshold_raises_one_event_per_flow_and_rearms_after_its_timeout()
    {
        var engine = new RealtimeEngine(null, Context);
        var raised = new List<JsonObject>();
        engine.PutFlow("pairs", FlowDefinition.FromJson("""{"keys": "ipsource", "t": 1}"""), 0);
        engine.PutThreshold("big", new ThresholdDefinition { Metric = "pairs", Value = 1000, ByFlow = true, Timeout = 5 });
        void Send(long second, string src, ulong bytes)
        {
            var b = Batch(Row(src, "10.9.9.9", bytes, second * 1_000_000));
            engine.Add(b, 0, 1);
        }
        Send(0, "10.0.0.1", 5000);
        Send(0, "10.0.0.2", 500);
        Send(1, "10.0.0.1", 5000);
        var events = await engine.Events.Read(-1, 10, TimeSpan.Zero, null, default);
        var e = Assert.Single(events)!;
        Assert.Equal("10.0.0.1", (string)e["flowKey"]!);
        Assert.Equal(1, (long)e["eventID"]!);
        // Quiet past the timeout: armed again.
        engine.Tick(7_000_000);
        Send(7, "10.0.0.1", 5000);
        Assert.Equal(2, engine.Events.Last);
    }

    [Fact]
    public void The_feed_counts_rows_on_its_own_thread_and_counts_those_it_cannot_stage()
    {
        var engine = new RealtimeEngine(null, Context);
        engine.PutFlow("src", FlowDefinition.FromJson("""{"keys": "ipsource", "t": 1}"""), 0);
        using var feed = new RealtimeFeed(engine, () => 0, maxStaged: 100);
        var b = Batch(Enumerable.Range(0, 150).Select(i => Row($"10.0.0.{i % 3 + 1}", "10.9.9.9", 1000, 1_000_000)).ToArray());
        // More rows than may wait: refused and counted, the analysis untouched.
        feed.Offer(b, 0, 150);
        Assert.Equal((150L, 0L), (feed.Dropped, feed.Offered));
        feed.Offer(b, 0, 90);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (engine.Rows < 90 && DateTime.UtcNow < deadline) Thread.Sleep(10);
        Assert.Equal(90, engine.Rows);
        var top = engine.Table("src")!.Top(null, 1_000_000);
        Assert.Equal(["10.0.0.1", "10.0.0.2", "10.0.0.3"], top.Select(f => f.Key).Order().ToArray());
        Assert.All(top, f => Assert.Equal(30 * 1000.0, f.Value, 6));
    }

    [Fact]
    public void Counter_rates_wrap_32_bit_counters_skip_unknowns_and_give_utilization()
    {
        var metrics = new CounterMetrics();
        CounterRecord Sample(ulong inOctets, uint inPackets, uint discards)
        {
            var c = new CounterRecord { Agent = FlowAddress.Parse("192.0.2.1"), SourceId = 2, Enterprise = 0, Format = 1 };
            ulong[] v = [2, 6, 1_000_000, 1, 3, inOctets, inPackets, 0, 0, discards, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            for (var i = 0; i < v.Length; i++) c.Values[i] = v[i];
            c.Count = v.Length;
            return c;
        }
        metrics.Add(Sample(1000, uint.MaxValue - 99, uint.MaxValue), 0);
        metrics.Add(Sample(126_000, 100, uint.MaxValue), 2_000_000);
        var values = metrics.Values(null, null).ToDictionary(v => v.Metric, v => v.Value);
        Assert.Equal(62_500, values["ifinoctets"]);
        Assert.Equal(100, values["ifinucastpkts"]); // 200 packets across the wrap in 2 s
        Assert.False(values.ContainsKey("ifindiscards"));
        Assert.Equal(100 * 8 * 62_500 / 1e6, values["ifinutilization"], 6);
        Assert.Equal(1, values["ifoperstatus"]);
    }

    [Fact]
    public void An_agent_counts_its_counter_samples_not_the_records_in_them()
    {
        var metrics = new CounterMetrics();
        var agent = FlowAddress.Parse("192.0.2.9");
        foreach (var sequence in new uint[] { 1, 2 })
        foreach (var format in new uint[] { 1, 2, 1005 })
        {
            var c = new CounterRecord { Agent = agent, SourceId = 3, Enterprise = 0, Format = format, SampleSequence = sequence };
            for (var i = 0; i < 19; i++) c.Values[i] = 1;
            c.Count = 19;
            metrics.Add(c, sequence * 1_000_000L);
        }
        Assert.Equal(2, metrics.Agents()[agent].Samples);
    }

    [Fact]
    public void An_unknown_value_a_reset_or_a_restarted_agent_leaves_no_stale_metric_and_no_false_rate()
    {
        var metrics = new CounterMetrics();
        CounterRecord Sample(uint sequence, ulong inOctets, uint inPackets, uint discards, uint subAgent = 0)
        {
            var c = new CounterRecord { Agent = FlowAddress.Parse("192.0.2.2"), SubAgent = subAgent, SourceId = 2, Enterprise = 0, Format = 1, SampleSequence = sequence };
            ulong[] v = [2, 6, 1_000_000, 1, 3, inOctets, inPackets, 0, 0, discards, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            for (var i = 0; i < v.Length; i++) c.Values[i] = v[i];
            c.Count = v.Length;
            return c;
        }
        Dictionary<string, double> Now() => metrics.Values(null, null).ToDictionary(v => v.Metric, v => v.Value);
        metrics.Add(Sample(10, 1000, 100, 5), 0);
        metrics.Add(Sample(11, 3000, 300, 7), 1_000_000);
        Assert.Equal((2000.0, 200.0, 2.0), (Now()["ifinoctets"], Now()["ifinucastpkts"], Now()["ifindiscards"]));
        Assert.True(Now().ContainsKey("ifinutilization"));
        // A late sample (UDP reordered it) is older than what is kept: not taken, not a restart.
        metrics.Add(Sample(10, 1000, 100, 5), 1_500_000);
        Assert.Equal((2000.0, 200.0, 2.0), (Now()["ifinoctets"], Now()["ifinucastpkts"], Now()["ifindiscards"]));

        // The 64-bit octets went back (a reset) and the packets are unknown: neither keeps its old rate.
        metrics.Add(Sample(12, 2500, uint.MaxValue, 9), 2_000_000);
        var after = Now();
        Assert.False(after.ContainsKey("ifinoctets"));
        Assert.False(after.ContainsKey("ifinutilization"));
        Assert.False(after.ContainsKey("ifinucastpkts"));
        Assert.Equal(2.0, after["ifindiscards"]);

        // The agent restarted (its sample sequence began again): the 32-bit discards going from 9 to 1 are not a wrap.
        metrics.Add(Sample(1, 50, 5, 1), 3_000_000);
        var restarted = Now();
        Assert.False(restarted.ContainsKey("ifindiscards"));
        Assert.False(restarted.ContainsKey("ifinoctets"));
        Assert.Equal(1_000_000, restarted["ifspeed"]);
        metrics.Add(Sample(2, 1050, 105, 2), 4_000_000);
        Assert.Equal((1000.0, 100.0, 1.0), (Now()["ifinoctets"], Now()["ifinucastpkts"], Now()["ifindiscards"]));
        // Another sub-agent reporting the same source counts its own sequence: its low numbers after 2 are no restart.
        metrics.Add(Sample(1, 2050, 205, 3, subAgent: 1), 5_000_000);
        Assert.Equal((1000.0, 100.0, 1.0), (Now()["ifinoctets"], Now()["ifinucastpkts"], Now()["ifindiscards"]));
    }

    [Fact]
    public void A_container_without_a_name_is_named_by_its_data_source_and_a_source_parenting_itself_is_a_host()
    {
        var metrics = new CounterMetrics();
        var agent = FlowAddress.Parse("192.0.2.11");
        void Send(uint source, string? name, uint? parent)
        {
            var c = new CounterRecord { Agent = agent, SourceId = source, Enterprise = 0 };
            if (name is not null)
            {
                c.Format = CounterSchema.HostDescr.Format;
                c.Host = new HostDescription(name, Guid.Empty, 3, 2, "");
                metrics.Add(c, 1);
            }
            if (parent is { } p)
            {
                c.Host = null;
                c.Format = CounterSchema.HostParent.Format;
                c.Values[0] = p >> 24;
                c.Values[1] = p & 0x00FF_FFFF;
                c.Count = 2;
                metrics.Add(c, 1);
            }
        }
        const uint host = (2u << 24) | 1, unnamed = (3u << 24) | 5, itself = (3u << 24) | 13;
        Send(host, "hv-11", null);
        Send(unnamed, null, host);
        Send(itself, "c-13", itself);
        Assert.Equal(("hv-11", (string?)null), metrics.Names(new DataSource(agent, host)));
        Assert.Equal(("hv-11", "3.5"), metrics.Names(new DataSource(agent, unnamed)));
        Assert.Equal(("c-13", (string?)null), metrics.Names(new DataSource(agent, itself)));
    }

    [Fact]
    public async Task The_journal_long_poll_waits_for_the_next_entry_and_returns_newest_first()
    {
        var journal = new Journal(3, "id");
        journal.Add(new JsonObject { ["n"] = 1 });
        var waiting = journal.Read(1, 10, TimeSpan.FromSeconds(30), null, default);
        Assert.False(waiting.IsCompleted);
        journal.Add(new JsonObject { ["n"] = 2 });
        var got = await waiting;
        Assert.Equal(2, (long)Assert.Single(got)!["id"]!);
        for (var i = 3; i <= 5; i++) journal.Add(new JsonObject { ["n"] = i });
        var all = await journal.Read(-1, 10, TimeSpan.Zero, null, default);
        Assert.Equal([5L, 4L, 3L], all.Select(e => (long)e!["id"]!).ToArray());
    }

    [Fact]
    public void A_change_that_cannot_be_saved_is_not_in_force_and_a_saved_one_survives_a_restart()
    {
        var dir = Directory.CreateTempSubdirectory("flowline-realtime-save-");
        try
        {
            var engine = new RealtimeEngine(dir.FullName, Context);
            engine.PutFlow("kept", FlowDefinition.FromJson("""{"keys": "ipsource"}"""), 1);
            engine.PutGroups("sites", new Dictionary<string, IReadOnlyList<string>> { ["a"] = ["10.0.0.0/8"] });
            // The file's place taken by a directory: every save now fails.
            var path = Path.Combine(dir.FullName, RealtimeEngine.FileName);
            File.Delete(path);
            Directory.CreateDirectory(path);
            Assert.ThrowsAny<IOException>(() => engine.PutFlow("lost", FlowDefinition.FromJson("""{"keys": "ipdestination"}"""), 1));
            Assert.Null(engine.GetFlow("lost"));
            Assert.Null(engine.Table("lost"));
            Assert.ThrowsAny<IOException>(() => engine.DeleteFlow("kept"));
            Assert.NotNull(engine.Table("kept"));
            Assert.ThrowsAny<IOException>(() => engine.PutThreshold("big", ThresholdDefinition.FromJson("""{"metric": "kept", "value": 10}""")));
            Assert.Null(engine.GetThreshold("big"));
            Assert.ThrowsAny<IOException>(() => engine.PutGroups("sites", new Dictionary<string, IReadOnlyList<string>> { ["b"] = ["192.168.0.0/16"] }));
            Assert.Equal(["a"], engine.Context.Groups.Get("sites")!.Keys);
            Assert.ThrowsAny<IOException>(() => engine.DeleteGroups("sites"));
            Assert.NotNull(engine.Context.Groups.Get("sites"));
            Directory.Delete(path);
            engine.PutFlow("later", FlowDefinition.FromJson("""{"keys": "ipprotocol"}"""), 1);
            var again = new RealtimeEngine(dir.FullName, new KeyContext(new Names()));
            Assert.Equal(["kept", "later"], again.Flows().Keys.Order(StringComparer.Ordinal));
            Assert.Equal(["a"], again.Context.Groups.Get("sites")!.Keys);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Filters_are_bounded_and_regular_expressions_run_in_linear_time()
    {
        string Nested(int depth) => new string('(', depth) + "ipprotocol=6" + new string(')', depth);
        Assert.NotNull(FlowFilter.Parse(Nested(64), Context));
        Assert.Contains("nest deeper than 64", Assert.Throws<FormatException>(() => FlowFilter.Parse(Nested(65), Context)).Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => FlowFilter.Parse(Nested(200_000), Context));
        Assert.Throws<FormatException>(() => FlowFilter.Parse(string.Concat(Enumerable.Repeat("!", 200_000)) + "ipprotocol=6", Context));
        Assert.Throws<FormatException>(() => FlowFilter.Parse(string.Join("&", Enumerable.Repeat("ipprotocol=6", 1001)), Context));
        // A pattern that backtracks badly elsewhere matches in linear time here; a pattern that does not compile is refused.
        var f = FlowFilter.Parse("ipsource~^[0-9.]*[0-9.]*[0-9.]*[0-9.]*[0-9.]*[0-9.]*x$", Context);
        var b = Batch(Row("10.1.2.3", "10.0.0.9", 100, 1));
        Assert.False(f.Matches(b, 0));
        Assert.True(FlowFilter.Parse("ipsource~^10\\.1\\.", Context).Matches(b, 0));
        Assert.Contains("is not taken", Assert.Throws<FormatException>(() => FlowFilter.Parse("ipsource~[1-", Context)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_definition_that_fails_is_disabled_and_reported_and_the_others_go_on()
    {
        var raised = new List<JsonObject>();
        var engine = new RealtimeEngine(null, Context, raised: raised.Add);
        engine.PutFlow("a", FlowDefinition.FromJson("""{"keys": "ipsource", "t": 1}"""), 0);
        var b = Batch(Row("10.0.0.1", "10.9.9.9", 100, 1_000_000));
        // Rows past the batch's end: every definition that reads them fails (an upstream bug, here on purpose).
        engine.Add(b, 0, b.Capacity + 5);
        Assert.Equal(1, engine.DefinitionsDisabled);
        Assert.False(engine.Active);
        Assert.StartsWith("IndexOutOfRangeException", engine.Table("a")!.Disabled);
        var e = Assert.Single(await engine.Events.Read(-1, 10, TimeSpan.Zero, null, default))!;
        Assert.Equal("disabled", (string)e["type"]!);
        Assert.Equal("a", (string)e["metric"]!);
        Assert.Single(raised);
        // Put again, it counts again.
        engine.PutFlow("a", FlowDefinition.FromJson("""{"keys": "ipsource", "t": 1}"""), 0);
        engine.Add(b, 0, 1);
        Assert.Single(engine.Table("a")!.Top(null, 1_000_000));
        Assert.Equal(1, engine.DefinitionsDisabled);
    }

    [Fact]
    public void The_definitions_together_hold_at_most_the_total_of_flows()
    {
        var engine = new RealtimeEngine(null, Context, new RealtimeOptions { MaxKeys = 1_000, MaxKeysTotal = 1_500 });
        engine.PutFlow("sources", FlowDefinition.FromJson("""{"keys": "ipsource", "t": 1}"""), 0);
        engine.PutFlow("pairs", FlowDefinition.FromJson("""{"keys": "ipsource,ipdestination", "t": 1}"""), 0);
        int Held() => engine.Tables.Sum(t => t.Counts.Flows);
        // Made-up sources, each a new flow in both definitions: 4,000 rows would make 8,000 flows.
        for (var i = 0; i < 4_000; i++)
        {
            var b = Batch(Row($"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", "172.16.0.1", 100, 1_000_000 + i));
            engine.Add(b, 0, 1);
            Assert.True(Held() <= 1_500, $"{Held()} flows held after {i + 1} rows");
        }
        Assert.Equal(1_500, Held());
        // Each row went to both in turn: 750 flows each, then every new one refused by the total, counted as dropped too.
        Assert.Equal(6_500, engine.FlowRoom.Refused);
        Assert.Equal(6_500, engine.Tables.Sum(t => t.Counts.Dropped));

        // A deleted definition gives its room back at the next sweep.
        var pairs = engine.Table("pairs")!.Counts.Flows;
        Assert.True(pairs > 0);
        engine.DeleteFlow("pairs");
        engine.Tick(1_500_000);
        engine.Add(Batch(Row("192.168.1.1", "172.16.0.1", 100, 1_600_000)), 0, 1);
        Assert.Contains(engine.Table("sources")!.Top(null, 1_600_000, 10_000), f => f.Key == "192.168.1.1");
        // Flows that went idle leave room as well.
        engine.Tick(60_000_000);
        Assert.Equal(0, Held());
        engine.Add(Batch(Row("192.168.1.2", "172.16.0.1", 100, 60_000_000)), 0, 1);
        Assert.Equal(1, Held());
    }

    [Fact]
    public void A_definition_made_while_another_fills_the_total_gets_an_equal_share_and_the_other_keeps_its_fastest_flows()
    {
        var engine = new RealtimeEngine(null, Context, new RealtimeOptions { MaxKeys = 10_000, MaxKeysTotal = 1_000 });
        engine.PutFlow("first", FlowDefinition.FromJson("""{"keys": "ipsource", "t": 60}"""), 0);
        int Held(string name) => engine.Table(name)!.Counts.Flows;
        var n = 0;
        FlowRecord Made(long time, ulong bytes = 100) { n++; return Row($"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", $"172.{16 + (n >> 16 & 15)}.{n >> 8 & 255}.{n & 255}", bytes, time); }
        // Ten heavy sources first, then made-up ones until the total is full.
        var heavy = Enumerable.Range(0, 10).Select(_ => Made(1_000_000, 1_000_000)).ToArray();
        engine.Add(Batch(heavy), 0, heavy.Length);
        engine.Add(Batch([.. Enumerable.Range(0, 2_000).Select(_ => Made(1_000_000))]), 0, 2_000);
        Assert.Equal(1_000, Held("first"));

        // A second definition: every second 200 rows, each a new flow in both, and the heavy sources again.
        engine.PutFlow("second", FlowDefinition.FromJson("""{"keys": "ipdestination", "t": 60}"""), 0);
        for (var second = 2; second <= 14; second++)
        {
            var time = second * 1_000_000L;
            engine.Add(Batch([.. heavy.Select(h => h with { TimeReceived = time })]), 0, heavy.Length);
            engine.Add(Batch([.. Enumerable.Range(0, 200).Select(_ => Made(time))]), 0, 200);
            Assert.True(Held("first") + Held("second") <= 1_000, $"{Held("first")} + {Held("second")} flows after second {second}");
            engine.Tick(time);
            // The first sweep: the first wants its 1,000 and 1,210 refused, the second the 210 destinations refused
            // (the new rows' and the heavy sources'); the second gets what it wants, the first the other 790, and
            // gives up exactly 210 of its slowest flows.
            if (second == 2) Assert.Equal((790, 0, 210L), (Held("first"), Held("second"), engine.FlowRoom.Trimmed));
        }
        // Before, the second got nothing while the first held the total and none of its flows went idle.
        Assert.InRange(Held("second"), 450, 500);
        Assert.InRange(Held("first"), 450, 550);
        Assert.True(engine.FlowRoom.Trimmed >= 450, $"{engine.FlowRoom.Trimmed} trimmed");
        Assert.Equal(engine.FlowRoom.Trimmed, engine.Table("first")!.Counts.Trimmed + engine.Table("second")!.Counts.Trimmed);
        // The first gave up its slowest flows: the heavy sources are all still there.
        var top = engine.Table("first")!.Top(null, 14_000_000, 10).Select(f => f.Key).ToHashSet();
        Assert.All(heavy, h => Assert.Contains(h.SrcAddr.ToString(), top));

        // Once the second is deleted, the first is no longer held to a share; the flows it refused stay counted.
        var dropped = engine.FlowsDropped;
        Assert.True(engine.Table("second")!.Counts.Dropped > 0);
        engine.DeleteFlow("second");
        Assert.Equal(dropped, engine.FlowsDropped);
        engine.Tick(15_000_000);
        engine.Tick(16_000_000);
        Assert.Equal(long.MaxValue, engine.FlowRoom.Share);
        engine.Add(Batch([.. Enumerable.Range(0, 1_000).Select(_ => Made(16_000_000))]), 0, 1_000);
        Assert.Equal(1_000, Held("first"));
    }

    [Fact]
    public async Task Many_rows_of_a_few_refused_flows_want_room_for_those_few_flows_only()
    {
        var engine = new RealtimeEngine(null, Context, new RealtimeOptions { MaxKeys = 10_000, MaxKeysTotal = 1_000 });
        engine.PutFlow("first", FlowDefinition.FromJson("""{"keys": "ipsource", "t": 60, "log": true}"""), 0);
        engine.Add(Batch([.. Enumerable.Range(0, 1_000).Select(i => Row($"10.0.{i >> 8}.{i & 255}", "172.16.0.1", 100, 1_000_000))]), 0, 1_000);
        engine.PutFlow("second", FlowDefinition.FromJson("""{"keys": "ipdestination", "t": 60}"""), 0);
        // 2,000 rows of five new destinations, from sources the first holds already.
        var busy = Batch([.. Enumerable.Range(0, 2_000).Select(i => Row($"10.0.0.{i % 200}", $"172.20.0.{i % 5}", 100, 2_000_000))]);
        engine.Add(busy, 0, 2_000);
        Assert.Equal(0, engine.Table("second")!.Counts.Flows);
        engine.Tick(2_000_000);
        // Room for five flows, not for 2,000 (counted by rows the first would have lost half of its flows).
        Assert.Equal(5, engine.FlowRoom.Trimmed);
        Assert.Equal((995, 5L), (engine.Table("first")!.Counts.Flows, engine.Table("first")!.Counts.Trimmed));
        // The logging definition logs the five it gave up as trimmed, ended when last seen.
        var logged = await engine.FlowLog.Read(0, 100, TimeSpan.Zero, null, CancellationToken.None);
        Assert.Equal(5, logged.Count);
        Assert.All(logged, e => Assert.Equal((true, "first", 1_000L), ((bool)e!["trimmed"]!, (string)e["name"]!, (long)e["end"]!)));
        engine.Add(busy, 0, 2_000);
        Assert.Equal(5, engine.Table("second")!.Counts.Flows);
    }

    [Fact]
    public void The_fair_share_gives_those_wanting_little_what_they_want_and_divides_the_rest()
    {
        Assert.Equal(long.MaxValue, FlowBudget.FairShare([300, 700], 1_000));
        Assert.Equal(800, FlowBudget.FairShare([200, 2_200], 1_000));
        Assert.Equal(500, FlowBudget.FairShare([600, 800], 1_000));
        Assert.Equal(450, FlowBudget.FairShare([100, 5_000, 5_000], 1_000));
        Assert.Equal(333, FlowBudget.FairShare([1_000, 1_000, 1_000], 1_000));
    }

    [Fact]
    public async Task Definitions_exports_thresholds_and_waiting_readers_are_capped()
    {
        var engine = new RealtimeEngine(null, Context, new RealtimeOptions { MaxDefinitions = 5, MaxExports = 2, MaxThresholds = 1, MaxWaiters = 2 });
        for (var i = 0; i < 4; i++) engine.PutFlow($"f{i}", FlowDefinition.FromJson("""{"keys": "ipsource"}"""), 0);
        Assert.NotNull(engine.Export(FlowDefinition.FromJson("""{"keys": "ipdestination"}"""), 0, create: true));
        Assert.Throws<RealtimeLimitException>(() => engine.PutFlow("f9", FlowDefinition.FromJson("""{"keys": "ipsource"}"""), 0));
        engine.PutFlow("f0", FlowDefinition.FromJson("""{"keys": "ipdestination"}"""), 0); // redefining is not adding
        engine.DeleteFlow("f3");
        Assert.NotNull(engine.Export(FlowDefinition.FromJson("""{"keys": "tcpsourceport"}"""), 0, create: true));
        Assert.Throws<RealtimeLimitException>(() => engine.Export(FlowDefinition.FromJson("""{"keys": "udpsourceport"}"""), 0, create: true));
        // An export that exists is still served.
        Assert.NotNull(engine.Export(FlowDefinition.FromJson("""{"keys": "ipdestination"}"""), 0, create: true));
        engine.PutThreshold("t1", new ThresholdDefinition { Metric = "f0", Value = 1 });
        Assert.Throws<RealtimeLimitException>(() => engine.PutThreshold("t2", new ThresholdDefinition { Metric = "f0", Value = 1 }));
        using var stop = new CancellationTokenSource();
        var waiting = new[] { engine.Events.Read(0, 10, TimeSpan.FromMinutes(5), null, stop.Token), engine.Events.Read(0, 10, TimeSpan.FromMinutes(5), null, stop.Token) };
        Assert.Equal(2, engine.Events.Waiters);
        await Assert.ThrowsAsync<RealtimeLimitException>(() => engine.Events.Read(0, 10, TimeSpan.FromMinutes(5), null, stop.Token));
        await stop.CancelAsync();
        foreach (var w in waiting) await Assert.ThrowsAnyAsync<OperationCanceledException>(() => w);
        Assert.Equal(0, engine.Events.Waiters);
    }

    [Fact]
    public void Counter_sources_made_up_by_datagrams_stay_within_their_limit()
    {
        var metrics = new CounterMetrics();
        for (var i = 0; i < CounterMetrics.MaxSources + 20_000; i++)
        {
            var c = new CounterRecord { Agent = FlowAddress.FromV4((uint)(0x0A000000 + i)), SourceId = 1, Enterprise = 0, Format = 1 };
            ulong[] v = [2, 6, 1_000_000, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            for (var k = 0; k < v.Length; k++) c.Values[k] = v[k];
            c.Count = v.Length;
            metrics.Add(c, i);
        }
        Assert.InRange(metrics.Sources, 1, CounterMetrics.MaxSources);
        Assert.True(metrics.Evicted >= 20_000);
        // The newest agent is kept.
        Assert.Contains(metrics.Values(null, m => m == "ifspeed"), v => v.Source.Agent == FlowAddress.FromV4((uint)(0x0A000000 + CounterMetrics.MaxSources + 19_999)));
    }
}
