using Flowline.Records;

namespace Flowline.Realtime.Tests;

/// <summary>
/// Definitions that strangers write: keys nested past what the parser's stack holds, a tenant's name written
/// without its account's scope, a state file damaged by hand; and sFlow-RT's list of patterns after ~.
/// </summary>
public sealed class RealtimeHostileDefinitionTests
{
    private static readonly KeyContext Context = RealtimeEngineTests.Context;

    [Fact]
    public void Keys_in_a_filter_nest_at_most_sixteen_functions_deep_and_hold_at_most_1024_characters()
    {
        string Nested(int depth)
        {
            var key = "ipsource";
            for (var i = 0; i < depth; i++) key = "or:[" + key + "]:app";
            return key;
        }
        Assert.NotNull(FlowFilter.Parse(Nested(16) + "=x", Context));
        Assert.Contains("nest at most 16 deep", Assert.Throws<FormatException>(() => FlowFilter.Parse(Nested(17) + "=x", Context)).Message, StringComparison.Ordinal);
        // 7,000 levels once overflowed the parser's stack, which no handler catches: the process died.
        Assert.Contains("at most 1024", Assert.Throws<FormatException>(() => FlowFilter.Parse(Nested(7_000) + "=x", Context)).Message, StringComparison.Ordinal);
        Assert.Contains("at most 1024", Assert.Throws<FormatException>(() => FlowFilter.Parse(new string('[', 30_000) + "ipsource" + new string(']', 30_000) + "=x", Context)).Message, StringComparison.Ordinal);
        Assert.Contains("nest at most 16 deep", Assert.Throws<FormatException>(() => KeyParser.ParseList(Nested(17), Context)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pattern_list_after_a_tilde_matches_any_of_its_patterns()
    {
        var b = RealtimeEngineTests.Batch(RealtimeEngineTests.Row("10.1.2.3", "10.0.0.9", 100, 1), RealtimeEngineTests.Row("192.168.1.1", "10.0.0.9", 100, 1),
            RealtimeEngineTests.Row("172.16.0.1", "10.0.0.9", 100, 1));
        var f = FlowFilter.Parse(@"ipsource~^10\..*,^192\..*", Context);
        Assert.Equal([true, true, false], Enumerable.Range(0, 3).Select(i => f.Matches(b, i)));
        // A comma of a repetition or a class belongs to its pattern.
        Assert.Equal(@"^1{1,3}[,;]", FlowFilter.Alternatives(@"^1{1,3}[,;]"));
        Assert.Equal("(?:a)|(?:b\\,c)|(?:(d,e))", FlowFilter.Alternatives("a,b\\,c,(d,e)"));
    }

    [Fact]
    public void A_saved_tenant_definition_without_its_accounts_scope_or_a_damaged_entry_is_left_out_and_the_rest_start()
    {
        var dir = Directory.CreateTempSubdirectory("flowline-realtime-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, RealtimeEngine.FileName), """
                {"flows": {"tenant:acc-1:scoped": {"keys": "ipdestination", "filter": "account=acc-1"},
                           "tenant:acc-1:narrowed": {"keys": "ipdestination", "filter": "account=acc-1&(ipprotocol=6)"},
                           "tenant:acc-1:open": {"keys": "ipdestination"},
                           "tenant:acc-1:other": {"keys": "ipdestination", "filter": "account=acc-2"},
                           "tenant:acc-1:escaped": {"keys": "ipdestination", "filter": "account=acc-1&(ipprotocol=6)|(ipprotocol=17)"},
                           "broken": null, "ops": {"keys": "ipsource"}},
                 "groups": {"bad": {"g": [1]}, "worse": 7, "good": {"g": ["10.0.0.0/8"]}}}
                """);
            var engine = new RealtimeEngine(dir.FullName, new KeyContext(new RealtimeEngineTests.Names()));
            Assert.NotNull(engine.GetFlow("tenant:acc-1:scoped"));
            Assert.NotNull(engine.GetFlow("tenant:acc-1:narrowed"));
            Assert.Null(engine.GetFlow("tenant:acc-1:open"));
            Assert.Null(engine.GetFlow("tenant:acc-1:other"));
            Assert.Null(engine.GetFlow("tenant:acc-1:escaped"));
            Assert.Null(engine.GetFlow("broken"));
            Assert.NotNull(engine.GetFlow("ops"));
            Assert.Equal(["good"], engine.Context.Groups.SetNames);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
