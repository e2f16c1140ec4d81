using Flowline.Records;

namespace Flowline.Query.Tests;

public sealed class FilterParserTests
{
    [Fact]
    public void Parses_nfdump_filters_into_terms()
    {
        var f = FilterParser.Parse("proto tcp and dst port 443 and net 10.0.0.0/8");
        var and = Assert.IsType<FilterNode.And>(f);
        var left = Assert.IsType<FilterNode.And>(and.Left);
        var proto = Assert.IsType<FilterNode.Number>(left.Left);
        Assert.Equal((NumericField.Protocol, Comparison.Eq, 6ul), (proto.Field, proto.Comparison, Assert.Single(proto.Values)));
        var port = Assert.IsType<FilterNode.Number>(left.Right);
        Assert.Equal((NumericField.Port, Direction.Dst, Comparison.Eq, 443ul), (port.Field, port.Direction, port.Comparison, port.Values[0]));
        var net = Assert.IsType<FilterNode.Address>(and.Right);
        Assert.Equal(Prefix.Create(FlowAddress.Parse("10.0.0.0"), 8), Assert.Single(net.Prefixes));
    }

    [Theory]
    [InlineData("proto tcp&&port 80", "proto tcp and port 80")]
    [InlineData("port 80||port 443", "port 80 or port 443")]
    [InlineData("proto udp&&!port 53", "proto udp and not port 53")]
    [InlineData("proto tcp and(port 80||port 443)", "proto tcp and (port 80 or port 443)")]
    [InlineData("host 10.0.1.7&&proto tcp", "host 10.0.1.7 and proto tcp")]
    [InlineData("proto tcp # web and the rest\nand port 80 # a comment to the end", "proto tcp and port 80")]
    public void Operators_need_no_spaces_and_comments_run_to_the_end_of_the_line_as_in_nfdump(string compact, string spaced)
    {
        var random = new Random(3);
        var batch = Flowline.Testing.RandomFlows.Batch(Flowline.Testing.RandomFlows.Records(random, 4000));
        ulong[] Select(string text)
        {
            var selection = new ulong[FilterEvaluator.Words(batch.Count)];
            new FilterEvaluator(FilterParser.Parse(text)).Evaluate(batch, selection);
            return selection;
        }
        Assert.Contains(Select(spaced), w => w != 0); // each selects some of the rows, not none
        Assert.Equal(Select(spaced), Select(compact));
    }

    [Theory]
    [InlineData("any")]
    [InlineData("not (src host 10.1.2.3 or dst host fd00::1)")]
    [InlineData("port in [80 443 8080]")]
    [InlineData("ip in [ 10.0.0.1, 192.168.0.0/16 ]")]
    [InlineData("bytes > 1M and packets < 10")]
    [InlineData("flags SA && !flags R")]
    [InlineData("in if 3 or out if > 4")]
    [InlineData("src net 10.0.0.0 255.255.0.0")]
    [InlineData("PROTO UDP AND SRC PORT >= 1024")]
    [InlineData("exporter 127.0.0.1 and src mac 02:00:00:00:00:01")]
    [InlineData("ipv6 and proto icmp6")]
    [InlineData("duration > 1000 or tos 40 or vlan 100 or src as 65000")]
    public void Accepts(string filter) => Assert.NotNull(FilterParser.Parse(filter));

    [Theory]
    [InlineData("proto tcpp", 7, "unknown protocol 'tcpp'")]
    [InlineData("port 70000", 6, "70000 is out of range")]
    [InlineData("host 10.0.0.300", 6, "expected an IP address, found '10.0.0.300'")]
    [InlineData("proto tcp and", 14, "expected a filter term")]
    [InlineData("# only a comment", 17, "expected a filter term")]
    [InlineData("proto tcp#x", 7, "unknown protocol 'tcp#x'")]
    [InlineData("(proto tcp", 11, "expected ')' to close the parenthesis")]
    [InlineData("proto tcp port 80", 11, "expected 'and', 'or' or the end of the filter, found 'port'")]
    [InlineData("net 10.0.0.0/33", 14, "'33' is not a prefix length")]
    [InlineData("flags SQ", 7, "'Q' is not a TCP flag")]
    [InlineData("src bytes > 3", 5, "'bytes' cannot follow a direction")]
    [InlineData("port in [ ]", 11, "the list is empty")]
    [InlineData("hots 10.0.0.1", 1, "unknown filter term 'hots'")]
    [InlineData("mac 0:bb:0:0:3", 5, "expected a MAC address")]
    [InlineData("mac 0:bbb:0:0:3:d9", 5, "expected a MAC address")]
    public void Rejects_with_where_and_what(string filter, int column, string message)
    {
        var e = Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(filter));
        Assert.Equal(column, e.Column);
        Assert.Contains(message, e.Reason);
        Assert.Contains("^", e.Message);
    }

    [Fact]
    public void A_mac_address_takes_octets_without_leading_zeros_as_nfdump_does()
    {
        var expected = Assert.IsType<FilterNode.Mac>(FilterParser.Parse("mac 00:bb:00:00:03:d9")).Value;
        Assert.Equal(0x00bb_0000_03d9UL, expected);
        Assert.Equal(expected, Assert.IsType<FilterNode.Mac>(FilterParser.Parse("mac 0:bb:0:0:3:d9")).Value);
        Assert.Equal(expected, Assert.IsType<FilterNode.Mac>(FilterParser.Parse("mac 00-bb-00-00-03-d9")).Value);
    }

    [Fact]
    public void Flow_direction_takes_names_or_numbers()
    {
        Assert.Equal(0ul, Assert.IsType<FilterNode.Number>(FilterParser.Parse("flowdir ingress")).Values[0]);
        Assert.Equal(1ul, Assert.IsType<FilterNode.Number>(FilterParser.Parse("flowdir EGRESS")).Values[0]);
        Assert.Equal([255ul, 1ul], Assert.IsType<FilterNode.Number>(FilterParser.Parse("flowdir in [unknown 1]")).Values);
        Assert.Contains("expected ingress, egress, unknown or a number after 'flowdir', found 'sideways'", Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse("flowdir sideways")).Reason);
    }

    [Fact]
    public void Scale_suffixes_multiply_by_powers_of_1000()
    {
        var n = Assert.IsType<FilterNode.Number>(FilterParser.Parse("bytes > 2k"));
        Assert.Equal(2000ul, n.Values[0]);
        n = Assert.IsType<FilterNode.Number>(FilterParser.Parse("packets >= 3G"));
        Assert.Equal(3_000_000_000ul, n.Values[0]);
        // nfdump's hexadecimal numbers; they take no suffix.
        Assert.Equal(443ul, Assert.IsType<FilterNode.Number>(FilterParser.Parse("port 0x1bb")).Values[0]);
        Assert.Equal(0xBEEFul, Assert.IsType<FilterNode.Number>(FilterParser.Parse("bytes > 0XbeEf")).Values[0]);
        Assert.Contains("expected a number, found '0x10k'", Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse("bytes > 0x10k")).Reason);
        Assert.Contains("0x10000 is out of range (at most 65535)", Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse("port 0x10000")).Reason);
    }

    [Fact]
    public void Nesting_terms_and_length_are_bounded_so_hostile_filters_are_refused_not_fatal()
    {
        string Nested(int depth, string open = "(", string close = ")") => string.Concat(Enumerable.Repeat(open, depth)) + "proto tcp" + string.Concat(Enumerable.Repeat(close, depth));
        Assert.IsType<FilterNode.Number>(FilterParser.Parse(Nested(FilterParser.MaxDepth)));
        Assert.Contains("nest deeper than 64", Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(Nested(FilterParser.MaxDepth + 1))).Reason);
        // A million deep used to overflow the stack, which no handler can catch.
        Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(Nested(60_000)));
        Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(Nested(60_000, "not ", "")));
        Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(Nested(60_000, "! ", "")));
        Assert.IsType<FilterNode.Not>(FilterParser.Parse("NOT (not (proto tcp))"));
        // A long chain of ands is a tree as deep as it is long.
        var chain = string.Join(" and ", Enumerable.Repeat("port 80", FilterParser.MaxTerms));
        Assert.NotNull(FilterParser.Parse(chain));
        Assert.Contains("more than 1000 terms", Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(chain + " and port 81")).Reason);
        Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(new string(' ', FilterParser.MaxLength) + "any"));
        // A long unknown word is quoted by its start and length, not echoed whole.
        var word = Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse("port 80 and " + new string('y', 60_000)));
        Assert.Contains($"unknown filter term '{new string('y', 40)}…' (60,000 characters)", word.Message);
        Assert.True(word.Message.Length < 1_000, $"{word.Message.Length} characters");
        // Prose between two apostrophes is not a word.
        Assert.Contains("'flows' selects nfdump's count of aggregated flows", Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse("flows > 1")).Reason);
    }
}
