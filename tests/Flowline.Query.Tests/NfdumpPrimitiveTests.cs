using Flowline.Records;

namespace Flowline.Query.Tests;

/// <summary>
/// nfdump's icmp-type, icmp-code, bps, pps, bpp, next ip, router ip, fwdstat, [src|dst] mask and in src|dst mac as
/// the evaluator reads them; what the records do not carry (ident, engine-type, next as, out … mac, flows) refused.
/// </summary>
public sealed class NfdumpPrimitiveTests
{
    private static FlowRecord Row(byte proto, ushort dstPort, ulong bytes = 1000, ulong packets = 10, long durationUs = 1_000_000, string nextHop = "0.0.0.0", string exporter = "192.0.2.1") => new()
    {
        IpVersion = 4, IpProto = proto, SrcAddr = FlowAddress.Parse("10.0.0.1"), DstAddr = FlowAddress.Parse("10.0.0.2"), DstPort = dstPort,
        Bytes = bytes, Packets = packets, Start = 1_790_000_000_000_000, End = 1_790_000_000_000_000 + durationUs,
        NextHop = FlowAddress.Parse(nextHop), Exporter = FlowAddress.Parse(exporter),
    };

    private static readonly List<FlowRecord> Rows =
    [
        Row(1, 8 << 8),                      // 0: ICMP echo request
        Row(1, 0) with { ForwardingStatus = 64 },                  // 1: ICMP echo reply, forwarded
        Row(1, 3 << 8 | 3) with { SrcMask = 24 },                 // 2: ICMP port unreachable
        Row(58, 128 << 8) with { DstMask = 64 },                  // 3: ICMPv6 echo request
        Row(6, 8 << 8),                      // 4: TCP to port 2048: not ICMP
        Row(17, 53, bytes: 64_000, packets: 500, durationUs: 250_000, nextHop: "10.9.9.1") with { SrcMac = 0x02_00_00_00_00_05, TcpFlags = 0x12 },  // 5: 2,048,000 bps, 2,000 pps, 128 bpp; flag bits in a UDP record
        Row(17, 53, bytes: 5000, packets: 5, durationUs: 0, exporter: "192.0.2.7"),          // 6: no duration: bps and pps 0, 1000 bpp
        Row(17, 53, bytes: 90, packets: 0, durationUs: 999, nextHop: "10.9.8.1"),             // 7: under a millisecond: 0 bps; no packets: 0 bpp
    ];

    private static int[] Select(string filter)
    {
        var batch = Flowline.Testing.RandomFlows.Batch(Rows);
        var selection = new ulong[FilterEvaluator.Words(batch.Count)];
        new FilterEvaluator(FilterParser.Parse(filter)).Evaluate(batch, selection);
        return Enumerable.Range(0, batch.Count).Where(i => (selection[i >> 6] & (1UL << (i & 63))) != 0).ToArray();
    }

    [Fact]
    public void All_zeros_is_the_unspecified_address_in_an_ipv6_record_and_no_address_in_others()
    {
        List<FlowRecord> rows =
        [
            new() { IpVersion = 6, IpProto = 58, SrcAddr = FlowAddress.None, DstAddr = FlowAddress.Parse("ff02::1:ff00:5"), SrcMask = 0 },
            new() { IpVersion = 4, IpProto = 17, SrcAddr = FlowAddress.None, DstAddr = FlowAddress.Parse("10.0.0.1") },
            new() { IpVersion = 6, IpProto = 6, SrcAddr = FlowAddress.Parse("2001:db8:9::1"), DstAddr = FlowAddress.Parse("2001:db8::2"), SrcMask = 2 },
        ];
        var batch = Flowline.Testing.RandomFlows.Batch(rows);
        int[] Selected(string filter)
        {
            var selection = new ulong[FilterEvaluator.Words(batch.Count)];
            new FilterEvaluator(FilterParser.Parse(filter)).Evaluate(batch, selection);
            return Enumerable.Range(0, batch.Count).Where(i => (selection[i >> 6] & (1UL << (i & 63))) != 0).ToArray();
        }
        Assert.Equal([0], Selected("src ip ::"));
        Assert.Equal([0], Selected("ip ::"));
        Assert.Equal([0], Selected("src net ::/127"));
        Assert.Equal([0, 2], Selected("src net ::/0"));
        Assert.Empty(Selected("dst ip ::"));
        Assert.Contains(FlowField.IpVersion, FilterColumns.Of(FilterParser.Parse("src ip ::")));

        Assert.Equal("::", FlowFields.Format(FlowField.SrcAddr, rows[0]));
        Assert.Equal("", FlowFields.Format(FlowField.SrcAddr, rows[1]));
        string Line(FlowRecord r)
        {
            using var ms = new MemoryStream();
            var w = new Utf8TextWriter(ms);
            NfdumpFormat.Parse("fmt:%sa|%sap|%sn").Write(w, r, 1);
            w.Flush();
            return string.Join('|', System.Text.Encoding.UTF8.GetString(ms.ToArray()).TrimEnd('\n').Split('|').Select(c => c.Trim()));
        }
        Assert.Equal("::|::.0|::/0", Line(rows[0]));
        Assert.Equal("0.0.0.0|0.0.0.0:0|0.0.0.0/0", Line(rows[1]));
        Assert.Equal("::/2", Line(rows[2]).Split('|')[2]);
    }

    [Theory]
    [InlineData("icmp-type 8", new[] { 0 })]
    [InlineData("icmp-type 0", new[] { 1 })]
    [InlineData("icmp-type > 2", new[] { 0, 2, 3 })]
    [InlineData("icmp-code 3", new[] { 2 })]
    [InlineData("icmp-code 0", new[] { 0, 1, 3 })]
    [InlineData("icmp-type 128", new[] { 3 })]
    [InlineData("bps > 2000000", new[] { 5 })]
    [InlineData("bps = 0", new[] { 6, 7 })]
    [InlineData("bps = 8000", new[] { 0, 1, 2, 3, 4 })]
    [InlineData("pps >= 2k", new[] { 5 })]
    [InlineData("pps = 10", new[] { 0, 1, 2, 3, 4 })]
    [InlineData("bpp = 128", new[] { 5 })]
    [InlineData("bpp = 0", new[] { 7 })]
    [InlineData("bpp >= 1k", new[] { 6 })]
    [InlineData("next ip 10.9.9.1", new[] { 5 })]
    [InlineData("next net 10.9.0.0/16", new[] { 5, 7 })]
    [InlineData("router ip 192.0.2.7", new[] { 6 })]
    [InlineData("router net 192.0.2.0/24 and not router host 192.0.2.7", new[] { 0, 1, 2, 3, 4, 5, 7 })]
    [InlineData("fwdstat 64", new[] { 1 })]
    [InlineData("fwdstat 0", new[] { 0, 2, 3, 4, 5, 6, 7 })]
    [InlineData("src mask 24", new[] { 2 })]
    [InlineData("mask > 16", new[] { 2, 3 })]
    [InlineData("dst mask 64", new[] { 3 })]
    [InlineData("in src mac 02:00:00:00:00:05", new[] { 5 })]
    [InlineData("in dst mac 02:00:00:00:00:05", new int[0])]
    [InlineData("flags 0", new[] { 4 })] // TCP flows only, as nfdump
    [InlineData("flags = 1", new int[0])]
    [InlineData("flags lt 1 or flags > 0", new[] { 4 })]
    [InlineData("flags S", new int[0])] // letters too: the UDP record's flag bits are not TCP flags
    [InlineData("flags 18", new int[0])]
    [InlineData("next ip ::", new[] { 0, 1, 2, 3, 4, 6 })]
    [InlineData("next ip 0.0.0.0 and proto 17", new[] { 6 })]
    [InlineData("src or dst ip 10.0.0.2 and proto 58", new[] { 3 })]
    [InlineData("src and dst net 10.0.0.0/8 and proto 58", new[] { 3 })]
    [InlineData("src and dst ip 10.0.0.1", new int[0])]
    [InlineData("src tos 0 and packets < 1t and proto 6", new[] { 4 })]
    public void Each_primitive_selects_the_rows_nfdump_would(string filter, int[] expected) => Assert.Equal(expected, Select(filter));

    [Theory]
    [InlineData("ident router1", "'ident' selects nfcapd's source identifier", 1)]
    [InlineData("next port 3", "expected ip, host or net after 'next'", 6)]
    [InlineData("icmp-type 300", "out of range", 11)]
    [InlineData("proto tcp and engine-type 1", "'engine-type' selects the NetFlow engine type, which Flowline's records do not carry", 15)]
    [InlineData("next as 4", "'next as' selects the next adjacent AS", 1)]
    [InlineData("out src mac 02:00:00:00:00:01", "'out src mac' selects the MAC addresses after forwarding", 5)]
    [InlineData("in src port 3", "expected 'mac' after 'in src'", 8)]
    [InlineData("flows > 1", "'flows' selects nfdump's count of aggregated flows", 1)]
    [InlineData("src mask 129", "out of range", 10)]
    public void What_cannot_be_answered_is_refused_at_its_column_counted_from_1(string filter, string message, int column)
    {
        var e = Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(filter));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.Equal(column, e.Column);
    }
}
