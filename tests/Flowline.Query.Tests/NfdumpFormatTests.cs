using Flowline.Records;

namespace Flowline.Query.Tests;

/// <summary>nfdump's number scaling, durations and IPv6 shortening, on values the generated flows rarely reach.</summary>
public sealed class NfdumpFormatTests
{
    [Theory]
    [InlineData(999_999UL, true, "999999")]
    [InlineData(999_999UL, false, "999999")]
    [InlineData(1_000_000UL, false, "1.0 M")]
    [InlineData(1_250_000UL, false, "1.2 M")]   // an exact tie: printf rounds it to even
    [InlineData(1_350_000UL, false, "1.4 M")]
    [InlineData(1_750_000UL, false, "1.8 M")]
    [InlineData(1_260_000UL, false, "1.3 M")]
    [InlineData(12_345_678_901UL, false, "12.3 G")]
    [InlineData(3_000_000_000_000UL, false, "3.0 T")]
    [InlineData(3_000_000_000_000UL, true, "3000000000000")]
    public void Numbers_scale_as_nfdump(ulong value, bool plain, string expected) =>
        Assert.Equal(expected, NfdumpFormat.Number(value, plain, fixedWidth: false));

    [Fact]
    public void Fixed_width_numbers_pad_as_nfdump()
    {
        Assert.Equal("  12", NfdumpFormat.Number(12, false, fixedWidth: true));
        Assert.Equal("  1.0 M", NfdumpFormat.Number(1_000_000, false, fixedWidth: true));
    }

    private static string Line(string format, FlowRecord r, bool wholeV6 = false)
    {
        using var ms = new MemoryStream();
        var w = new Utf8TextWriter(ms);
        NfdumpFormat.Parse(format, wholeV6: wholeV6).Write(w, r, 1);
        w.Flush();
        return System.Text.Encoding.UTF8.GetString(ms.ToArray()).TrimEnd('\n');
    }

    [Fact]
    public void Durations_past_a_day_long_IPv6_and_ICMP_are_written_as_nfdump_writes_them()
    {
        var r = new FlowRecord
        {
            IpVersion = 6, IpProto = 58, SrcAddr = FlowAddress.Parse("2001:620:1000:cafe:20e:35ff:fec0:fed5"), DstAddr = FlowAddress.Parse("fd00::1"),
            IcmpType = 128, IcmpCode = 0, Start = 1_000_000, End = 1_000_000 + (90_061_500L * 1000), Bytes = 100, Packets = 1,
        };
        Assert.Equal(" 1d 01:01:01.500", Line("fmt:%td", r));
        Assert.Equal("2001:62..c0:fed5", Line("fmt:%sa", r));
        Assert.Equal("         fd00::1.128.0", Line("fmt:%dap", r));
        Assert.Equal("ICMP6", Line("fmt:%pr", r));
        Assert.Contains("2001:620:1000:cafe:20e:35ff:fec0:fed5".PadLeft(39) + ".0     ->", Line("line6", r));
        // nfdump's -6: whole addresses in any format, fmt: included.
        Assert.Equal(Line("line6", r), Line("line", r, wholeV6: true));
        Assert.Equal("2001:620:1000:cafe:20e:35ff:fec0:fed5", Line("fmt:%sa", r, wholeV6: true).Trim());
    }

    [Fact]
    public void A_duration_of_more_than_68_years_is_printed_whole()
    {
        // 1969-12-31 to 2106-02-07: 49,710 days and a bit, beyond 2^31 seconds.
        var start = -1_000_000L;
        var end = 4_294_967_295_000_000L;
        Assert.Equal("49710d 06:28:16.000", Line("fmt:%td", new FlowRecord { Start = start, End = end }).Trim());
    }

    [Theory]
    [InlineData(0, "I")]
    [InlineData(1, "E")]
    [InlineData(2, "E")]
    [InlineData(255, "I")] // not reported
    public void A_direction_other_than_0_is_egress_as_nfdump_prints_it(byte direction, string expected) =>
        Assert.Equal("  " + expected, Line("fmt:%dir", new FlowRecord { Direction = direction }));

    [Theory]
    [InlineData("fmt:%ts %evt", "%evt (NSEL event) is not carried")]
    [InlineData("fmt:%ts %zz", "unknown format element '%zz' at column 5")]
    [InlineData("%ts %sa %mpls", "%mpls (MPLS labels) is not carried")]
    [InlineData("fmt:%ts %mpls1 %pr", "%mpls1 (MPLS labels) is not carried")]
    [InlineData("fmt:%mpls10", "%mpls10 (MPLS labels) is not carried")]
    [InlineData("fmt:%cnt %ts", "%cnt (nfdump's record counter) is not carried")]
    [InlineData("wide6", "unknown output format 'wide6'")]
    public void Refusals_name_the_element(string format, string message) =>
        Assert.Contains(message, Assert.Throws<FormatException>(() => NfdumpFormat.Parse(format)).Message);

    [Fact]
    public void Every_element_nfdump_has_and_the_records_do_not_is_refused_by_its_own_name()
    {
        foreach (var (name, what) in NfdumpFormat.Refused)
        {
            Assert.Contains($"{name} ({what}) is not carried", Assert.Throws<FormatException>(() => NfdumpFormat.Parse("fmt:%ts " + name + " %pr")).Message);
        }
    }
}
