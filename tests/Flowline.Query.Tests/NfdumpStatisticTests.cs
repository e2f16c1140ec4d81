using Flowline.Query;
using Flowline.Records;

namespace Flowline.Query.Tests;

public sealed class NfdumpStatisticTests
{
    [Theory]
    [InlineData("ip/bytes", "ip", FlowField.SrcAddr, FlowField.DstAddr, false, Metric.Bytes)]
    [InlineData("port:p", "port", FlowField.SrcPort, FlowField.DstPort, true, Metric.Flows)]
    [InlineData("if/packets", "if", FlowField.InIf, FlowField.OutIf, false, Metric.Packets)]
    [InlineData("geo/flows", "geo", FlowField.SrcCountry, FlowField.DstCountry, false, Metric.Flows)]
    [InlineData("srcip/bytes", "src_addr", FlowField.SrcAddr, null, false, Metric.Bytes)]
    [InlineData("dstport:p/packets", "dst_port", FlowField.DstPort, null, true, Metric.Packets)]
    [InlineData("nhip", "next_hop", FlowField.NextHop, null, false, Metric.Flows)]
    [InlineData("srcip/ipps", "src_addr", FlowField.SrcAddr, null, false, Metric.Pps)]
    [InlineData("port/ibyte", "port", FlowField.SrcPort, FlowField.DstPort, false, Metric.Bytes)]
    [InlineData("ip/ipkg", "ip", FlowField.SrcAddr, FlowField.DstAddr, false, Metric.Packets)]
    public void Statistics_read_their_fields_protocol_split_and_order(string text, string name, FlowField field, FlowField? other, bool byProtocol, Metric order)
    {
        var s = Assert.Single(NfdumpStatistic.Parse(text));
        Assert.Equal(name, s.Name);
        Assert.Equal(field, s.Key.Field);
        Assert.Equal(other, s.Other?.Field);
        Assert.Equal(byProtocol, s.ByProtocol);
        Assert.Equal(order, s.Order);
        Assert.Equal(byProtocol ? [field, FlowField.IpProto] : new[] { field }, s.Keys.Select(k => k.Field));
    }

    [Fact]
    public void Prefix_lengths_apply_to_both_sides()
    {
        var s = Assert.Single(NfdumpStatistic.Parse("ip/24/64/bytes"));
        Assert.Equal("ip/24/64", s.Name);
        Assert.Equal((24, 64), (s.Key.V4Prefix, s.Key.V6Prefix));
        Assert.Equal((FlowField.DstAddr, 24, 64), (s.Other!.Value.Field, s.Other.Value.V4Prefix, s.Other.Value.V6Prefix));
    }

    [Theory]
    [InlineData("IP/024", "ip/24")]
    [InlineData("ip/32", "ip")]
    [InlineData("ip/32/64", "ip/32/64")]
    [InlineData("srcip/16", "src_addr/16")]
    public void A_statistic_is_named_by_what_it_parsed_not_by_how_it_was_typed(string text, string name) =>
        Assert.Equal(name, Assert.Single(NfdumpStatistic.Parse(text)).Name);

    [Theory]
    [InlineData("ip/flows/bytes/flows", "ordered by flows twice")]
    [InlineData("ip/tstart", "'tstart' is not an order (flows, packets, bytes, pps, bps or bpp)")]
    [InlineData("ip/obps", "ordering by obps counts the out direction of bidirectional records")]
    [InlineData("ip/opkg", "ordering by opkg counts the out direction")]
    [InlineData("ip/octets", "'octets' is not an order")]
    [InlineData("record/bytes", "listed with -a")]
    [InlineData("mpls3", "MPLS labels (3 in the stack)")]
    [InlineData("xsrcip", "NSEL translated source addresses, which Flowline's records do not carry")]
    [InlineData("port/24", "only address fields take a prefix length")]
    [InlineData("ip/ 24", "' 24' is not a prefix length")]
    [InlineData("ip/+24", "'+24' is not a prefix length")]
    [InlineData("ip/24/ 64", "' 64' is not an IPv6 prefix length")]
    [InlineData("nosuch", "unknown field 'nosuch'")]
    [InlineData(":p/bytes", "expected a statistic")]
    [InlineData("srcip/bytes:a", "':a' (ascending) is not taken")]
    [InlineData("ip/flows/bytes:A", "':a' (ascending) is not taken")]
    [InlineData("ip/bytes:x", "'bytes:x' is not a prefix length")]
    public void What_cannot_be_counted_is_refused_by_name(string text, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => NfdumpStatistic.Parse(text));
        Assert.Contains(message, e.Message);
        Assert.StartsWith($"-s {text}: ", e.Message);
    }

    [Theory]
    [InlineData("srcip/bytes:d", Metric.Bytes)]
    [InlineData("srcip/24/flows:D", Metric.Flows)]
    public void Nfdumps_descending_suffix_is_the_order_statistics_have(string text, Metric order) =>
        Assert.Equal(order, Assert.Single(NfdumpStatistic.Parse(text)).Order);

    [Theory]
    [InlineData("next", FlowField.NextHop)]
    [InlineData("srcip4/24", FlowField.SrcAddr)]
    [InlineData("router", FlowField.Exporter)]
    [InlineData("srcnet", FlowField.SrcAddr)]
    [InlineData("DSTNET", FlowField.DstAddr)]
    public void Nfdumps_aggregation_keys_name_their_fields(string text, FlowField field)
    {
        Assert.True(GroupKey.TryParse(text, out var key, out var error), error);
        Assert.Equal(field, key.Field);
    }

    [Theory]
    [InlineData("bgpnext", "nfdump's key 'bgpnext' is BGP next hop addresses, which Flowline's records do not carry")]
    [InlineData("nextas", "is next AS numbers")]
    [InlineData("mpls1", "is MPLS labels (1 in the stack)")]
    [InlineData("outdstmac", "is output destination MAC addresses")]
    [InlineData("dsttos", "is destination type of service")]
    [InlineData("dstnet/16", "dstnet masks each flow's address by the prefix length sent with it")]
    [InlineData("nosuch", "unknown field 'nosuch'")]
    public void Aggregation_keys_for_what_is_not_carried_are_refused_by_name(string text, string message)
    {
        Assert.False(GroupKey.TryParse(text, out _, out var error));
        Assert.Contains(message, error);
    }

    [Fact]
    public void Several_orders_take_the_suffix_too() =>
        Assert.Equal([Metric.Flows, Metric.Bytes], NfdumpStatistic.Parse("srcip/flows:d/bytes:d").Select(s => s.Order));
}
