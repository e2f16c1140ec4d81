using System.Globalization;
using System.Net;
using System.Text;

namespace Flowline.Cli.Tests;

[CollectionDefinition("nfdump pair")]
public sealed class NfdumpPairCollection : ICollectionFixture<NfdumpPair>;

/// <summary>
/// nfdump and `flowline query` over the same stored flows (<see cref="NfdumpPair"/>): seeded random filter
/// expressions select the same rows, printed identically in every nfdump format Flowline writes; -a, -b, -B and
/// -O aggregate and order as nfdump does; the summary line is nfdump's.
/// Documented differences (docs/QUERY.md): %odid shows the NetFlow v9 source id (nfcapd leaves it 0); %tr is each
/// collector's own receive time; the rows' order without -O (nfdump: file order; Flowline: partition order) and so
/// which rows -c keeps; the "Time window" and "Total flows processed" lines; %ter (nfdump prints the
/// milliseconds modulo 100); nfdump's %sn and %dn mask the addresses of the elements after them too (so they
/// come last here).
/// </summary>
[Collection("nfdump pair")]
public sealed class NfdumpDifferentialTests(NfdumpPair pair)
{
    /// <summary>Every element both write for these records, %ra included (both collectors hear 127.0.0.1).</summary>
    private const string EveryElement =
        "fmt:%ts %te %td %tds %tsr %pr %sa %da %sp %dp %it %ic %in %out %sas %das %nh %ra %pkt %ipkt %opkt %byt %ibyt %obyt " +
        "%fl %flg %tos %stos %dir %smk %dmk %fwd %end %svln %dvln %ismc %idmc %bps %pps %bpp %nfv %sap %dap %sn %dn";

    private static List<string> Sorted(string text) => [.. NfdumpPair.Lines(text).Order(StringComparer.Ordinal)];

    [Fact]
    public void Random_filters_select_the_same_rows_printed_the_same()
    {
        var sample = Sample();
        var random = new Random(2026);
        var nonEmpty = 0;
        var checkedExpressions = new List<string>();
        for (var n = 0; n < 120; n++)
        {
            var expression = Expression(random, sample, depth: 3);
            var theirs = Sorted(pair.Nfdump("-q", "-N", "-o", EveryElement, expression));
            var ours = Sorted(pair.Flowline("-q", "-N", "-o", EveryElement, expression));
            Assert.True(theirs.SequenceEqual(ours), $"'{expression}': nfdump {theirs.Count} lines, flowline {ours.Count}; first difference:\n" +
                                                    $"{theirs.Except(ours).FirstOrDefault()}\n{ours.Except(theirs).FirstOrDefault()}");
            if (theirs is not ["No matching flows"]) nonEmpty++;
            checkedExpressions.Add(expression);
        }
        // Most expressions must select something, or equal answers prove little.
        Assert.True(nonEmpty >= 80, $"only {nonEmpty} of 120 expressions selected flows:\n{string.Join('\n', checkedExpressions)}");
    }

    [Theory]
    [InlineData("net 172.16/16")]
    [InlineData("net 172.16.1/24")]
    [InlineData("net 010.0.0.0/8")]
    [InlineData("src or dst net 172.16.1.0/24")]
    [InlineData("dst or src port 53")]
    [InlineData("src and dst net 0.0.0.0/0")]
    [InlineData("src tos 0 and proto udp")]
    [InlineData("flags 0")]
    [InlineData("flags = 27 or flags 2")]
    [InlineData("bytes < 1t and packets > 1k")]
    [InlineData("next ip :: and proto tcp")]
    [InlineData("next ip 0.0.0.0")]
    [InlineData("port 0x1bb or proto 0x11")]
    [InlineData("bytes > 0x100 and packets < 0X10 and port in [0x35 0x50]")]
    [InlineData("proto udp&&port 53")]
    [InlineData("port 443||port 53")]
    [InlineData("proto udp and(port 53||port 443)&&!port 80")]
    [InlineData("proto udp # a comment, as in a filter file\nand port 53 # and another")]
    public void Nfdumps_short_networks_and_both_side_qualifiers_select_its_rows(string expression)
    {
        const string format = "fmt:%ts %te %pr %sap %dap %pkt %byt %flg %tos %nh";
        var theirs = Sorted(pair.Nfdump("-q", "-N", "-o", format, expression));
        // These generated flows all carry flags or none of a terabyte: those two must agree on selecting nothing.
        Assert.True(theirs is not ["No matching flows"] || expression is "flags 0" || expression.StartsWith("bytes", StringComparison.Ordinal), $"'{expression}' selects nothing: it proves little");
        Assert.Equal(theirs, Sorted(pair.Flowline("-q", "-N", "-o", format, expression)));
    }

    [Theory]
    [InlineData("ip 10.1", "'10.1' is an incomplete IP address")]
    [InlineData("ip 0x0a000001", "expected an IP address, found '0x0a000001'")]
    [InlineData("ip 167772161", "expected an IP address, found '167772161'")]
    [InlineData("net 10/8", "'10' is an incomplete network")]
    [InlineData("dst tos 0", "'dst tos' selects the ToS after forwarding")]
    public void Addresses_nfdump_refuses_are_refused(string expression, string message)
    {
        var r = FlowlineProcess.RunFlowline(["query", "--data-dir", pair.Store, "-o", "line", expression]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
    }

    [Theory]
    [InlineData("line")]
    [InlineData("long")]
    [InlineData("extended")]
    [InlineData("extended6")]
    [InlineData("bilong")]
    [InlineData(EveryElement)]
    public void Formats_header_rows_and_summary_are_nfdumps(string format)
    {
        foreach (var plain in new[] { false, true })
        {
            string[] args = plain ? ["-N", "-o", format] : ["-o", format];
            var theirs = NfdumpPair.Lines(pair.Nfdump(args));
            var ours = NfdumpPair.Lines(pair.Flowline(args));
            Assert.Equal(theirs[0], ours[0]); // the header
            var summary = theirs.FindIndex(l => l.StartsWith("Summary:", StringComparison.Ordinal));
            Assert.Equal(theirs[summary], ours.Single(l => l.StartsWith("Summary:", StringComparison.Ordinal)));
            Assert.Equal(theirs.Skip(1).Take(summary - 1).Order(StringComparer.Ordinal), ours.Skip(1).Take(summary - 1).Order(StringComparer.Ordinal));
            Assert.Equal(20_000, summary - 1);
        }
    }

    [Theory]
    [InlineData("-a", "fmt:%ts %te %pr %sap %dap %pkt %byt %opkt %obyt %fl %flg")]
    [InlineData("-b", "bilong")]
    [InlineData("-B", "fmt:%ts %te %pr %sap %dap %sas %das %in %out %ipkt %opkt %ibyt %obyt %fl %flg")]
    public void Aggregations_are_nfdumps(string mode, string format)
    {
        // Half the flows, so that the aggregation has groups of one and of several.
        var theirs = Sorted(pair.Nfdump("-q", mode, "-o", format, "proto tcp or port 53"));
        var ours = Sorted(pair.Flowline("-q", mode, "-o", format, "proto tcp or port 53"));
        Assert.Equal(theirs, ours);
    }

    [Theory]
    [InlineData("ibyte", "-b", "%ibyt")]
    [InlineData("bytes", "", "%byt")]
    [InlineData("packets:a", "-a", "%pkt")]
    [InlineData("tstart", "", "%ts")]
    [InlineData("tend:d", "", "%te")]
    [InlineData("duration", "", "%td")]
    [InlineData("bpp", "", "%bpp")]
    public void Orders_are_nfdumps(string order, string mode, string element)
    {
        // With the order's own value as the only column, the output is the same whatever order ties take.
        string[] args = mode.Length > 0 ? ["-q", "-N", mode, "-O", order, "-o", "fmt:" + element] : ["-q", "-N", "-O", order, "-o", "fmt:" + element];
        var theirs = NfdumpPair.Lines(pair.Nfdump(args));
        Assert.True(theirs.Distinct().Count() > 3, $"-O {order}: too few distinct values to show an order");
        Assert.Equal(theirs, NfdumpPair.Lines(pair.Flowline(args)));
    }

    [Theory]
    [InlineData("7", "-O", "bytes", "fmt:%byt")]
    [InlineData("5", "-b", "-O", "ibyte", "fmt:%ibyt")]
    [InlineData("4", "-a", "-O", "flows", "fmt:%fl")]
    public void Top_n_of_an_ordered_listing_prints_nfdumps_rows_and_its_summary_counts_every_flow(string n, params string[] mode)
    {
        string[] args = ["-N", "-n", n, .. mode[..^1], "-o", mode[^1], "proto tcp"];
        var theirs = NfdumpPair.Lines(pair.Nfdump(args));
        var ours = NfdumpPair.Lines(pair.Flowline(args));
        var rows = int.Parse(n, CultureInfo.InvariantCulture);
        Assert.Equal(theirs[..(1 + rows)], ours[..(1 + rows)]); // the header and the top N
        Assert.StartsWith("Summary:", ours[1 + rows], StringComparison.Ordinal);
        Assert.Equal(theirs.Single(l => l.StartsWith("Summary:", StringComparison.Ordinal)), ours[1 + rows]);
    }

    [Theory]
    [InlineData("2026/11/19.00:00:01-2026/11/19.00:00:02", "")]
    [InlineData("2026/11/19.00:00:01", "proto tcp")]
    [InlineData("2026/11/19.00:00:00-2026/11/19.00:00:01", "")]
    [InlineData("2026/11/19", "")]
    [InlineData("2026/11/19.00:00:02-2026/11/19.00:00:03", "")]
    public void Time_windows_select_nfdumps_flows(string window, string filter)
    {
        // The generated flows start in the first 3 s of 2026-11-19 and most end within it (local time is the
        // machine's, for both): these windows cut through them at both ends.
        string[] args = filter.Length > 0 ? ["-t", window, filter] : ["-t", window];
        const string format = "fmt:%ts %te %pr %sap %dap %pkt %byt";
        var theirs = Sorted(pair.Nfdump(["-q", "-N", "-o", format, .. args]));
        Assert.True(theirs is not ["No matching flows"] && theirs.Count < 20_000 || window == "2026/11/19", $"-t {window}: nfdump selected {theirs.Count} rows");
        Assert.Equal(theirs, Sorted(pair.Flowline(["-q", "-N", "-o", format, .. args])));
        var summary = (string s) => NfdumpPair.Lines(s).Single(l => l.StartsWith("Summary:", StringComparison.Ordinal));
        Assert.Equal(summary(pair.Nfdump(["-N", "-o", format, .. args])), summary(pair.Flowline(["-N", "-o", format, .. args])));

        // And a statistic over the window.
        SameStatistic("dstport/bytes", args, args);
    }

    /// <summary>Every value's flows, packets and bytes of nfdump's <c>-s</c> over <paramref name="theirArgs"/> and Flowline's over <paramref name="ourArgs"/>.</summary>
    private void SameStatistic(string statistic, string[] theirArgs, string[] ourArgs)
    {
        var theirs = NfdumpPair.Lines(pair.Nfdump(["-q", "-o", "csv", "-n", "0", "-s", statistic, .. theirArgs])).Skip(1)
            .Select(l => l.Split(',')).Select(c => $"{c[4]} {c[5]} {c[7]} {c[9]}").Order(StringComparer.Ordinal);
        var ours = NfdumpPair.Lines(pair.Flowline(["-o", "csv", "-n", "0", "-s", statistic, .. ourArgs])).Skip(1)
            .Select(l => l.Split(',')).Select(c => $"{c[0]} {c[3]} {c[2]} {c[1]}").Order(StringComparer.Ordinal);
        Assert.Equal(theirs, ours);
    }

    [Theory]
    [InlineData("+1", "")]
    [InlineData("+2", "proto udp")]
    [InlineData("-14", "")]
    [InlineData("-15", "proto tcp")]
    public void Relative_time_windows_select_the_flows_of_the_window_they_stand_for(string window, string filter)
    {
        // nfdump(1): "+10 means the first 10 seconds of all flows, -10 means the last 10 seconds". nfdump 1.7.1
        // itself selects every flow with either (documented in QUERY.md), so its answer for the absolute window
        // the relative one stands for is the reference: from the second the earliest flow starts, or to the
        // second the latest ends.
        const string format = "fmt:%ts %te %pr %sap %dap %pkt %byt";
        var every = NfdumpPair.Lines(pair.Nfdump("-q", "-N", "-o", "fmt:%ts|%te"));
        var earliest = every.Select(l => l.Split('|')[0]).Min(StringComparer.Ordinal)!;
        var latest = every.Select(l => l.Split('|')[1]).Max(StringComparer.Ordinal)!;
        static DateTime Whole(string t) => DateTime.ParseExact(t[..19], "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        static string Nf(DateTime t) => t.ToString("yyyy/MM/dd.HH:mm:ss", CultureInfo.InvariantCulture);
        var seconds = int.Parse(window[1..], CultureInfo.InvariantCulture);
        var absolute = window[0] == '+'
            ? $"{Nf(Whole(earliest))}-{Nf(Whole(earliest).AddSeconds(seconds))}"
            : Nf(Whole(latest).AddSeconds(-seconds));
        string[] theirArgs = filter.Length > 0 ? ["-t", absolute, filter] : ["-t", absolute];
        string[] ourArgs = filter.Length > 0 ? ["-t", window, filter] : ["-t", window];
        var theirs = Sorted(pair.Nfdump(["-q", "-N", "-o", format, .. theirArgs]));
        Assert.True(theirs is not ["No matching flows"] && theirs.Count < 20_000, $"-t {absolute}: nfdump selected {theirs.Count} rows");
        Assert.Equal(theirs, Sorted(pair.Flowline(["-q", "-N", "-o", format, .. ourArgs])));
        // Its summary (flows read included: measuring the window is not part of the query) is the absolute window's.
        var tail = (string s) => NfdumpPair.Lines(s).SkipWhile(l => !l.StartsWith("Summary:", StringComparison.Ordinal)).ToList();
        Assert.Equal(tail(pair.Flowline(["-N", "-o", format, .. theirArgs])), tail(pair.Flowline(["-N", "-o", format, .. ourArgs])));
        SameStatistic("srcip/bytes", theirArgs, ourArgs);
    }

    [Theory]
    [InlineData("+", "a relative window is +N (the first N seconds of the flows) or -N (the last N)")]
    [InlineData("+1x", "a relative window is +N (the first N seconds of the flows) or -N (the last N)")]
    [InlineData("-0", "a window of 0 seconds holds no flow")]
    [InlineData("+604801", "a relative window is at most 604800 seconds (a week)")]
    [InlineData("-1700000000", "a relative window is at most 604800 seconds (a week)")]
    [InlineData("2026/11/19.0:00", "'0' is not 2 digits where the hour should be")]
    [InlineData("2026/13/19", "month 13 is out of range")]
    [InlineData("2026/11/19.00:05-2026/11/19.00:04", "the window ends before it starts")]
    [InlineData("2026-11-19", "give RFC 3339 times with --from and --to")]
    [InlineData("2039/01/01", "year 2039 is out of range")]
    [InlineData("2026/11/19.24", "hour 24 is out of range")]
    [InlineData("2026/11/19-", "the end is empty")]
    [InlineData("2026/11/19-2026/11/20-2026/11/21", "a window has one '-'")]
    [InlineData("2026/11/19.00:00:00-2026/11/19.00:00:000000000000000000000000000000", "characters; yyyy/MM/dd.hh:mm:ss-yyyy/MM/dd.hh:mm:ss takes 39")]
    public void Time_windows_nfdump_would_not_read_are_refused(string window, string message)
    {
        var r = FlowlineProcess.RunFlowline(["query", "--data-dir", pair.Store, "-t", window]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
    }

    [Fact]
    public void A_filter_file_selects_what_nfdumps_f_selects()
    {
        var file = Path.Combine(Path.GetTempPath(), $"flowline-filter-{Guid.NewGuid():N}.txt");
        File.WriteAllText(file, "# DNS and the web\nproto udp and port 53\n  or port 443 # either\n");
        try
        {
            const string format = "fmt:%ts %te %pr %sap %dap %pkt %byt";
            var theirs = Sorted(pair.Nfdump("-q", "-N", "-o", format, "-f", file));
            Assert.True(theirs.Count > 1, $"nfdump -f selected {theirs.Count} lines");
            Assert.Equal(theirs, Sorted(pair.Flowline("-q", "-N", "-o", format, "-f", file)));
            var both = FlowlineProcess.RunFlowline(["query", "--data-dir", pair.Store, "-f", file, "proto tcp"]);
            Assert.Equal(2, both.ExitCode);
            Assert.Contains("give it there or on the command line, not both", both.Stderr);
            File.WriteAllText(file, " \t\n# nothing but a comment\r\n\n");
            var blank = FlowlineProcess.RunFlowline(["query", "--data-dir", pair.Store, "-f", file]);
            Assert.Equal(2, blank.ExitCode);
            Assert.Contains("the file holds no filter, only blanks or comments", blank.Stderr);
            var empty = FlowlineProcess.RunFlowline(["query", "--data-dir", pair.Store, "-f", ""]);
            Assert.Equal((2, "flowline query: -f: expected the name of a file holding the filter\n"), (empty.ExitCode, empty.Stderr));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void No_next_hop_reads_as_nfdump_prints_it_in_every_output()
    {
        // Flows without a next hop exist here ("next ip 0.0.0.0" selects them); nfdump's -s nhip shows 0.0.0.0.
        Assert.Contains(NfdumpPair.Lines(pair.Nfdump("-q", "-o", "csv", "-n", "0", "-s", "nhip")).Skip(1), l => l.Split(',')[4] == "0.0.0.0");
        foreach (string[] args in new[]
                 {
                     new[] { "-s", "nhip", "-n", "0", "-o", "csv" }, ["-A", "next_hop", "-o", "csv"], ["--fields", "next_hop", "-o", "csv"],
                     ["-s", "nhip", "-n", "0"], ["--fields", "next_hop"], ["-A", "next_hop", "-o", "ndjson"], ["--fields", "next_hop", "-o", "ndjson"],
                 })
        {
            var values = NfdumpPair.Lines(pair.Flowline(["proto tcp and next ip 0.0.0.0", .. args]))
                .Select(l => args.Contains("ndjson") ? (string)System.Text.Json.Nodes.JsonNode.Parse(l)!["next_hop"]! : l.Split(',', ' ')[0].Trim())
                .Where(v => v is not ("next_hop" or "nhip")).ToHashSet();
            Assert.True(values.SetEquals(["0.0.0.0"]) || values.SetEquals(["0.0.0.0", "-"]), $"{string.Join(' ', args)}: {string.Join(" | ", values)}");
        }
    }

    [Fact]
    public void A_plain_listing_ignores_n_as_nfdump_does()
    {
        string[] args = ["-q", "-N", "-n", "3", "-o", "fmt:%ts %sap %dap %byt", "proto udp"];
        var theirs = Sorted(pair.Nfdump(args));
        Assert.True(theirs.Count > 3);
        Assert.Equal(theirs, Sorted(pair.Flowline(args)));
    }

    [Theory]
    [InlineData("ip/bytes", "")]
    [InlineData("ip", "proto udp or net 10.0.0.0/24")]
    [InlineData("port:p/packets", "")]
    [InlineData("srcip", "")]
    [InlineData("dstport:p/bytes", "not port 53")]
    [InlineData("if/flows", "")]
    [InlineData("proto/bytes", "")]
    public void Statistics_are_nfdumps(string statistic, string filter)
    {
        // Every value's sums (-n 0), then the default top ten's order; nfdump's protocol column counts with :p only.
        string[] args = filter.Length > 0 ? ["-s", statistic, filter] : ["-s", statistic];
        var byProtocol = statistic.Contains(":p", StringComparison.Ordinal);
        var theirs = NfdumpPair.Lines(pair.Nfdump(["-q", "-o", "csv", "-n", "0", .. args])).Skip(1).Select(l => l.Split(','))
            .Select(c => $"{(byProtocol ? Protocols.GetValueOrDefault(c[3], c[3]) : "")} {c[4]} {c[5]} {c[7]} {c[9]}").Order(StringComparer.Ordinal).ToList();
        var ours = NfdumpPair.Lines(pair.Flowline(["-o", "csv", "-n", "0", .. args])).Skip(1).Select(l => l.Split(','))
            .Select(c => byProtocol ? $"{c[1]} {c[0]} {c[4]} {c[3]} {c[2]}" : $" {c[0]} {c[3]} {c[2]} {c[1]}").Order(StringComparer.Ordinal).ToList();
        Assert.True(theirs.Count > 1, $"-s {statistic}: nfdump gave {theirs.Count} values");
        Assert.Equal(theirs, ours);

        var column = statistic.EndsWith("/bytes", StringComparison.Ordinal) ? (9, 2) : statistic.EndsWith("/packets", StringComparison.Ordinal) ? (7, 3) : (5, 4);
        var theirTop = NfdumpPair.Lines(pair.Nfdump(["-q", "-o", "csv", .. args])).Skip(1).Select(l => l.Split(',')[column.Item1]);
        var ourTop = NfdumpPair.Lines(pair.Flowline(["-o", "csv", .. args])).Skip(1).Select(l => l.Split(',')[column.Item2 + (byProtocol ? 1 : 0) - 1]);
        Assert.Equal(theirTop, ourTop);
    }

    [Theory]
    [InlineData("srcip/pps", "")]
    [InlineData("ip/bps", "")]
    [InlineData("dstport:p/bpp", "proto tcp or proto udp")]
    [InlineData("port/pps", "not port 53")]
    [InlineData("srcip/ibps", "")]
    public void Statistic_rates_and_spans_are_nfdumps(string statistic, string filter)
    {
        // Every value's first and last second, duration, sums and rates (-n 0); then the top ten's rates in order
        // (values with equal rates are ordered differently: nfdump keeps its table's order, Flowline the value's).
        string[] args = filter.Length > 0 ? ["-s", statistic, filter] : ["-s", statistic];
        var byProtocol = statistic.Contains(":p", StringComparison.Ordinal);
        var k = byProtocol ? 2 : 1;
        var theirs = NfdumpPair.Lines(pair.Nfdump(["-q", "-o", "csv", "-n", "0", .. args])).Skip(1).Select(l => l.Split(','))
            .Select(c => $"{(byProtocol ? Protocols.GetValueOrDefault(c[3], c[3]) : "")} {c[4]} {Second(c[0], local: true)} {Second(c[1], local: true)} {c[2]} {c[5]} {c[7]} {c[9]} {c[11]} {c[12]} {c[13]}")
            .Order(StringComparer.Ordinal).ToList();
        var ours = NfdumpPair.Lines(pair.Flowline(["-o", "csv", "-n", "0", .. args])).Skip(1).Select(l => l.Split(','))
            .Select(c => $"{(byProtocol ? c[1] : "")} {c[0]} {Second(c[k + 3])} {Second(c[k + 4])} {Duration(c[k + 3], c[k + 4])} {c[k + 2]} {c[k + 1]} {c[k]} {c[k + 5]} {c[k + 6]} {c[k + 7]}")
            .Order(StringComparer.Ordinal).ToList();
        Assert.True(theirs.Count > 1, $"-s {statistic}: nfdump gave {theirs.Count} values");
        Assert.Equal(theirs, ours);

        var rate = statistic.EndsWith("pps", StringComparison.Ordinal) ? 0 : statistic.EndsWith("bps", StringComparison.Ordinal) ? 1 : 2;
        var theirTop = NfdumpPair.Lines(pair.Nfdump(["-q", "-o", "csv", .. args])).Skip(1).Select(l => l.Split(',')[11 + rate]);
        var ourTop = NfdumpPair.Lines(pair.Flowline(["-o", "csv", .. args])).Skip(1).Select(l => l.Split(',')[k + 5 + rate]);
        Assert.Equal(theirTop, ourTop);
    }

    /// <summary>A time to the second in UTC: nfdump's csv prints local time to the second, Flowline RFC 3339 in UTC.</summary>
    private static string Second(string time, bool local = false) =>
        DateTime.Parse(time, CultureInfo.InvariantCulture, local ? DateTimeStyles.AssumeLocal | DateTimeStyles.AdjustToUniversal : DateTimeStyles.AdjustToUniversal)
            .ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>nfdump's td: whole milliseconds from first to last, in seconds.</summary>
    private static string Duration(string first, string last)
    {
        static long Ms(string t) => DateTimeOffset.Parse(t, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
        return ((Ms(last) - Ms(first)) / 1000.0).ToString("0.000", CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Several_statistics_in_one_run_are_each_as_alone()
    {
        var alone = new[] { "srcip/bytes", "srcip/pps", "dstport:p" }.Select(s => pair.Flowline("-s", s, "-o", "csv", "-n", "4")).ToList();
        Assert.Equal(string.Join("\n", alone), pair.Flowline("-s", "srcip/bytes/pps", "-s", "dstport:p", "-o", "csv", "-n", "4"));

        using var json = System.Text.Json.JsonDocument.Parse(pair.Flowline("-s", "srcip/bytes/pps", "-s", "dstport:p", "-o", "json", "-n", "4"));
        Assert.Equal(["src_addr/bytes", "src_addr/pps", "dst_port/flows"], json.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.All(json.RootElement.EnumerateObject(), p => Assert.Equal(4, p.Value.GetArrayLength()));
        var pps = json.RootElement.GetProperty("src_addr/pps")[0];
        Assert.Equal(System.Text.Json.JsonValueKind.Number, pps.GetProperty("pps").ValueKind);
        Assert.Equal(System.Text.Json.JsonValueKind.String, pps.GetProperty("first").ValueKind);

        var table = pair.Flowline("-s", "srcip/bytes", "-s", "dstport", "-n", "3");
        Assert.Contains("Top 3 src_addr ordered by bytes:", table);
        Assert.Contains("Top 3 dst_port ordered by flows:", table);
        var refused = FlowlineProcess.RunFlowline(["query", "--data-dir", pair.Store, "-s", "srcip", "--order", "bytes"]);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("give the order in the statistic, e.g. -s src_addr/bytes", refused.Stderr);
    }

    [Fact]
    public void Nfdumps_options_that_apply_to_aggregations_are_taken_there()
    {
        // -N (plain numbers: ours are) and -q (no header) with -s and -A, as nfdump takes them.
        var statistic = NfdumpPair.Lines(pair.Flowline("-s", "srcip/bytes", "-n", "5"));
        Assert.Equal(statistic[1..], NfdumpPair.Lines(pair.Flowline("-N", "-q", "-s", "srcip/bytes", "-n", "5")));
        var grouped = NfdumpPair.Lines(pair.Flowline("-A", "srcip,dstport", "--order", "packets", "-n", "6"));
        Assert.Equal(7, grouped.Count);
        Assert.Equal(grouped, NfdumpPair.Lines(pair.Flowline("-N", "-A", "srcip,dstport", "-O", "packets", "-n", "6")));
        Assert.Equal(grouped[1..], NfdumpPair.Lines(pair.Flowline("-q", "-A", "srcip,dstport", "-O", "packets", "-n", "6")));
        foreach (var (args, message) in new (string[], string)[]
                 {
                     (["-s", "srcip", "-c", "100"], "-c stops a listing after N flows"),
                     (["-s", "srcip", "-O", "bytes"], "give a statistic's order after it, e.g. -s src_addr/bytes"),
                     (["-A", "srcip", "-O", "tstart"], "-O tstart: an aggregation is ordered by flows, packets, bytes, pps, bps or bpp"),
                     (["-t", "-10", "-t", "+10"], "-t is given twice"),
                     (["-z"], "unknown option -z"),
                 })
        {
            var refused = FlowlineProcess.RunFlowline(["query", "--data-dir", pair.Store, .. args]);
            Assert.Equal(2, refused.ExitCode);
            Assert.Contains(message, refused.Stderr);
        }
    }

    [Fact]
    public void Statistics_keep_numbers_numbers_in_json()
    {
        foreach (var line in NfdumpPair.Lines(pair.Flowline("-s", "port:p/bytes", "-n", "3", "-o", "ndjson")))
        {
            using var row = System.Text.Json.JsonDocument.Parse(line);
            Assert.Equal(System.Text.Json.JsonValueKind.Number, row.RootElement.GetProperty("port").ValueKind);
            Assert.Equal(System.Text.Json.JsonValueKind.Number, row.RootElement.GetProperty("ip_proto").ValueKind);
        }
        using var ips = System.Text.Json.JsonDocument.Parse(pair.Flowline("-s", "ip", "-n", "3", "-o", "json"));
        Assert.Equal(3, ips.RootElement.GetArrayLength());
        Assert.All(ips.RootElement.EnumerateArray(), r => Assert.True(IPAddress.TryParse(r.GetProperty("ip").GetString(), out _)));
    }

    private static readonly Dictionary<string, string> Protocols = new() { ["TCP"] = "6", ["UDP"] = "17", ["ICMP"] = "1", ["ICMP6"] = "58" };

    [Theory]
    [InlineData("fmt:%ts %evt", "%evt (NSEL event) is not carried")]
    [InlineData("fmt:%ts %zz", "unknown format element '%zz' at column 5")]
    [InlineData("fmt:", "fmt: needs a format")]
    [InlineData("wide", "-o wide: expected table, csv, json, ndjson, jcs, vpc, or nfdump's")]
    public void Unknown_and_uncarried_elements_are_refused_with_their_name(string format, string message)
    {
        var r = FlowlineProcess.RunFlowline(["query", "--data-dir", pair.Store, "-o", format]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
    }

    private sealed record Values(List<IPAddress> Addresses, List<int> Ports, List<long> Bytes, List<long> Packets, List<long> DurationsMs, List<string> Macs);

    /// <summary>Values that occur in the flows, so that random terms select something.</summary>
    private Values Sample()
    {
        var lines = NfdumpPair.Lines(pair.Nfdump("-q", "-N", "-o", "fmt:%sa|%da|%sp|%dp|%byt|%pkt|%tds|%ismc|%idmc"));
        var random = new Random(7);
        var picked = Enumerable.Range(0, 200).Select(_ => lines[random.Next(lines.Count)].Split('|').Select(c => c.Trim()).ToArray()).ToList();
        return new Values(
            [.. picked.SelectMany(p => new[] { IPAddress.Parse(p[0]), IPAddress.Parse(p[1]) })],
            [.. picked.SelectMany(p => new[] { int.Parse(p[2], CultureInfo.InvariantCulture), int.Parse(p[3], CultureInfo.InvariantCulture) })],
            [.. picked.Select(p => long.Parse(p[4], CultureInfo.InvariantCulture))],
            [.. picked.Select(p => long.Parse(p[5], CultureInfo.InvariantCulture))],
            [.. picked.Select(p => (long)(double.Parse(p[6], CultureInfo.InvariantCulture) * 1000))],
            [.. picked.SelectMany(p => new[] { p[7], p[8] })]);
    }

    private static string Expression(Random random, Values v, int depth)
    {
        if (depth == 0 || random.NextDouble() < 0.35) return Primitive(random, v);
        return random.Next(5) switch
        {
            0 => $"not {Expression(random, v, depth - 1)}",
            1 => $"( {Expression(random, v, depth - 1)} or {Expression(random, v, depth - 1)} )",
            2 => $"{Expression(random, v, depth - 1)} or {Expression(random, v, depth - 1)}",
            _ => $"{Expression(random, v, depth - 1)} and {Expression(random, v, depth - 1)}",
        };
    }

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    private static string Primitive(Random random, Values v)
    {
        string Dir() => Pick(random, ["", "src ", "dst "]);
        string Cmp() => Pick(random, ["", "= ", "> ", "< ", ">= ", "<= ", "gt ", "lt ", "eq "]);
        string Number(long n) => random.Next(4) == 0 && n >= 1000 ? $"{n / 1000}k" : n.ToString(CultureInfo.InvariantCulture);
        var address = Pick(random, v.Addresses);
        return random.Next(19) switch
        {
            0 => $"proto {Pick(random, new[] { "tcp", "udp", "icmp", "6", "17" })}",
            1 => $"{Dir()}ip {address}",
            2 => $"{Dir()}host {address}",
            3 => $"{Dir()}net {Prefix(address, random)}",
            4 when address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork =>
                $"{Dir()}net {Prefix(address, random, dotted: true)}",
            5 => $"{Dir()}port {Cmp()}{Pick(random, v.Ports)}",
            6 => $"{Dir()}port in [ {string.Join(' ', Enumerable.Range(0, 3).Select(_ => Pick(random, v.Ports)))} ]",
            7 => $"{Dir()}ip in [ {string.Join(' ', Enumerable.Range(0, 3).Select(_ => Pick(random, v.Addresses)))} ]",
            8 => $"bytes {Cmp()}{Number(Pick(random, v.Bytes))}",
            9 => $"packets {Cmp()}{Pick(random, v.Packets)}",
            // One flag at a time: under a negation nfdump reads "flags SF" as "S or F" (docs/QUERY.md), and
            // Flowline as the complement of "S and F"; for one flag the two agree.
            10 => $"flags {Pick(random, new[] { "S", "A", "F", "R", "P", "U" })}",
            11 => $"{Pick(random, new[] { "in", "out" })} if {random.Next(1, 3)}",
            12 => $"duration {Pick(random, new[] { "> ", "< ", "" })}{Pick(random, v.DurationsMs)}",
            13 => $"{Pick(random, new[] { "bps", "pps", "bpp" })} {Pick(random, new[] { "> ", "< " })}{random.Next(1, 200) * Pick(random, new[] { 1, 100, 1000 })}",
            14 => Pick(random, new[] { "ipv4", "ipv6", "inet", "inet6", "any" }),
            15 => $"tos {Cmp()}{Pick(random, new[] { 0, 1 })}",
            16 => $"{Pick(random, new[] { "router", "next" })} ip {Pick(random, new[] { "127.0.0.1", "0.0.0.0", "10.0.0.1" })}",
            // nfdump 1.7.1 refuses "as" terms without its geo database: not compared.
            17 => random.Next(3) switch
            {
                0 => $"fwdstat {Pick(random, new[] { 0, 64 })}",
                1 => $"{Dir()}mask {Pick(random, new[] { 0, 16, 24 })}",
                _ => $"in {Pick(random, new[] { "src", "dst" })} mac {Pick(random, v.Macs)}",
            },
            _ => $"{Dir()}net {Prefix(address, random)} and not {Dir()}port {Pick(random, v.Ports)}",
        };
    }

    private static string Prefix(IPAddress address, Random random, bool dotted = false)
    {
        var bytes = address.GetAddressBytes();
        var length = bytes.Length == 4 ? random.Next(8, 33) : random.Next(16, 129);
        for (var bit = length; bit < bytes.Length * 8; bit++) bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        var network = new IPAddress(bytes);
        if (!dotted) return $"{network}/{length}";
        var mask = length == 0 ? 0 : uint.MaxValue << (32 - length);
        var maskText = new StringBuilder().AppendJoin('.', Enumerable.Range(0, 4).Select(i => (mask >> (24 - 8 * i)) & 0xFF)).ToString();
        return $"{network} {maskText}";
    }
}
