using Flowline.Records;
using Flowline.Wire.Bgp;

namespace Flowline.Wire.Tests;

/// <summary>Flow Specification NLRI and actions against the worked examples of RFC 8955 and RFC 8956, byte for byte, and malformed input.</summary>
public sealed class FlowSpecTests
{
    private static Prefix P(string text) => Prefix.TryParse(text, out var p) ? p : throw new FormatException(text);

    private static void Same(string hex, FlowSpecRule rule)
    {
        Assert.Equal(hex.Replace(" ", ""), Convert.ToHexStringLower(rule.Encode()));
        // Parsed back, it encodes to the same octets.
        var decoded = FlowSpecRule.Decode(Convert.FromHexString(hex.Replace(" ", "")), rule.Ipv6, out var consumed);
        Assert.Equal(hex.Replace(" ", "").Length / 2, consumed);
        Assert.Equal(hex.Replace(" ", ""), Convert.ToHexStringLower(decoded.Encode()));
        Assert.Equal(rule.ToString(), decoded.ToString());
    }

    [Fact]
    public void Rfc_8955_example_1_to_192_0_2_0_24_tcp_port_25()
    {
        Same("0b 01 18 c0 00 02 03 81 06 04 81 19", new FlowSpecRule(false,
        [
            new(FlowSpecType.DestinationPrefix, P("192.0.2.0/24")),
            FlowSpecComponent.Of(FlowSpecType.Protocol, NumericTerm.Equal(6)),
            FlowSpecComponent.Of(FlowSpecType.Port, NumericTerm.Equal(25)),
        ]));
    }

    [Fact]
    public void Rfc_8955_example_2_from_203_0_113_0_24_and_port_137_to_139_or_8080()
    {
        Same("12 01 18 c0 00 02 02 18 cb 00 71 04 03 89 45 8b 91 1f 90", new FlowSpecRule(false,
        [
            new(FlowSpecType.DestinationPrefix, P("192.0.2.0/24")),
            new(FlowSpecType.SourcePrefix, P("203.0.113.0/24")),
            FlowSpecComponent.Of(FlowSpecType.Port, NumericTerm.AtLeast(137), NumericTerm.AtMost(139, and: true), NumericTerm.Equal(8080)),
        ]));
    }

    [Fact]
    public void Rfc_8955_example_3_to_192_0_2_1_and_fragment_df_or_ff()
    {
        Same("09 01 20 c0 00 02 01 0c 80 05", new FlowSpecRule(false,
        [
            new(FlowSpecType.DestinationPrefix, P("192.0.2.1/32")),
            FlowSpecComponent.Of(FlowSpecType.Fragment, new BitmaskTerm(false, false, false, 0x05)),
        ]));
    }

    [Fact]
    public void Rfc_8956_examples_ipv6_prefixes_with_offsets()
    {
        Same("12 01 20 00 20 01 0d b8 02 68 40 12 34 56 78 9a 03 81 06", new FlowSpecRule(true,
        [
            new(FlowSpecType.DestinationPrefix, P("2001:db8::/32")),
            new(FlowSpecType.SourcePrefix, P("::1234:5678:9a00:0/104"), Offset: 64),
            FlowSpecComponent.Of(FlowSpecType.Protocol, NumericTerm.Equal(6)),
        ]));
        Same("0f 01 20 00 20 01 0d b8 02 68 41 24 68 ac f1 34", new FlowSpecRule(true,
        [
            new(FlowSpecType.DestinationPrefix, P("2001:db8::/32")),
            new(FlowSpecType.SourcePrefix, P("::1234:5678:9a00:0/104"), Offset: 65),
        ]));
    }

    [Fact]
    public void A_long_rule_takes_a_two_octet_length_and_wide_values_take_wider_fields()
    {
        var ports = Enumerable.Range(0, 100).Select(i => NumericTerm.Equal((ulong)(1000 + i))).ToArray();
        var rule = new FlowSpecRule(false, [new(FlowSpecType.DestinationPrefix, P("10.0.0.0/8")), FlowSpecComponent.Of(FlowSpecType.SourcePort, ports)]);
        var bytes = rule.Encode();
        var length = (bytes[0] & 0x0F) << 8 | bytes[1];
        Assert.Equal(0xF0, bytes[0] & 0xF0);
        Assert.Equal(bytes.Length - 2, length);
        Assert.Equal(Convert.ToHexStringLower(bytes), Convert.ToHexStringLower(FlowSpecRule.Decode(bytes, false, out _).Encode()));
        var wide = new FlowSpecRule(true, [FlowSpecComponent.Of(FlowSpecType.FlowLabel, NumericTerm.Equal(0xABCDE))]).Encode();
        Assert.Equal("060da1000abcde", Convert.ToHexStringLower(wide)); // 4-octet value: op 0xa1
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("04 01 18 c0 00", "cut short")]                  // the prefix runs past the end
    [InlineData("06 03 81 06 01 18 c0", "ascending")]             // type 1 after type 3
    [InlineData("03 04 01 19", "end-of-list")]                    // a term without the end bit, then the rule ends
    [InlineData("05 01 21 c0 00 02", "prefix length 33")]         // longer than IPv4 allows
    [InlineData("03 0d 81 01", "component type 13")]              // the flow label is IPv6's
    [InlineData("0c 01 18 c0 00 02", "with 5 left")]              // the length says more than there is
    [InlineData("f1", "two-octet length cut short")]
    public void Malformed_rules_are_refused_with_what_is_wrong(string hex, string expected)
    {
        var e = Assert.Throws<FormatException>(() => FlowSpecRule.Decode(Convert.FromHexString(hex.Replace(" ", "")), false, out _));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Actions_are_the_extended_communities_of_rfc_8955_section_7()
    {
        Assert.Equal("8006000000000000", Convert.ToHexStringLower(FlowSpecAction.Drop.Encode()));
        Assert.Equal("8006fde849989680", Convert.ToHexStringLower(new FlowSpecAction.RateLimit(1_250_000, 65000).Encode()));
        Assert.Equal("8007000000000003", Convert.ToHexStringLower(new FlowSpecAction.TrafficAction(true, true).Encode()));
        Assert.Equal("8008fde800000064", Convert.ToHexStringLower(new FlowSpecAction.Redirect(65000, 100).Encode()));
        Assert.Equal("800900000000002e", Convert.ToHexStringLower(new FlowSpecAction.Mark(46).Encode()));
        foreach (var a in new FlowSpecAction[] { FlowSpecAction.Drop, new FlowSpecAction.RateLimit(1_250_000, 65000), new FlowSpecAction.Redirect(65000, 100), new FlowSpecAction.Mark(46), new FlowSpecAction.TrafficAction(false, true) })
        {
            Assert.Equal(a, FlowSpecAction.Decode(a.Encode()));
        }
        Assert.Null(FlowSpecAction.Decode(Convert.FromHexString("0002fde800000064"))); // a route target, not an action
        Assert.Equal(0xFFFF029Au, FlowSpecAction.Blackhole);
    }
}
