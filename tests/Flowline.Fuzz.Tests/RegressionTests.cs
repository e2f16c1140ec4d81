using System.Text;
using System.Text.Json;
using Flowline.Enrichment;
using Flowline.Realtime;
using Flowline.Storage;

namespace Flowline.Fuzz.Tests;

/// <summary>Every crash the fuzz targets found, kept with its literal input: each must now be refused with the parser's own error, or run.</summary>
public sealed class RegressionTests
{
    [Fact]
    public void SflowRt_a_key_with_an_empty_argument_is_refused()
    {
        var context = new KeyContext(new SymbolTable());
        var e = Assert.Throws<FormatException>(() => KeyParser.ParseList("null:[country::ipsource]:unknown", context));
        Assert.Contains("country", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"table": "FlowRecordTable", "start_time": 0, "end_time": 9000000000000000, "select_fields": ["sourceip", "sport", "destip", "dport", "agg-bytes"], "sort_fields": ["agg-bytes"], "sort": 1e3082, "limit": 5, "dir": 1}""")]
    [InlineData("""{"table": "FlowRecordTable", "start_time": 0, "end_time": 9000000000000000, "select_fields": ["sourceip"], "sort_fields": [7], "limit": 5}""")]
    [InlineData("""{"table": "FlowRecordTable", "start_time": 0, "end_time": 9000000000000000, "select_fields": ["sourceip"], "limit": 5, "dir": 1.5}""")]
    [InlineData("""{"table": "FlowRecordTable", "start_time": 0, "end_time": 9000000000000000, "select_fields": ["sourceip"], "limit": 5, "where": [[{"name": "sourceip", "value": "10.", "op": 7e40}]]}""")]
    [InlineData("""{"table": "FlowRecordTable", "start_time": "now-18446744073709551616h", "end_time": "now", "select_fields": ["sourceip"], "limit": 5}""")]
    [InlineData("""{"table": "FlowRecordTable", "start_time": "now-9223372036854775807d", "end_time": "now", "select_fields": ["sourceip"], "limit": 5}""")]
    [InlineData("""{"table": "SessionRecordTable", "session_type": "client", "start_time": 0, "end_time": 9000000000000000, "select_fields": ["local_ip"], "limit": 5, "is_service_instance": 0.5}""")]
    public void Contrail_numbers_of_the_wrong_kind_are_refused_or_read(string json)
    {
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetBytes(json));
        try
        {
            Api.ContrailQuery.Run(doc.RootElement, (_, _, _) => [], new SymbolTable(), 1_795_000_000_000_000);
        }
        catch (Api.ContrailQuery.QueryException)
        {
        }
    }

    [Fact]
    public void SflowRt_a_definition_that_is_not_text_is_refused()
    {
        // A lone surrogate: no UTF-8 body carries one, a caller in-process may.
        Assert.Throws<FormatException>(() => FlowDefinition.FromJson("{\uFFFD\"keys\":\"ipsource\ud800\"}"));
    }

    [Fact]
    public void SflowRt_a_definition_with_a_field_given_twice_is_refused()
    {
        Assert.Throws<FormatException>(() => FlowDefinition.FromJson("""{"keys":"ipsource","value":"bytes","value":"frames"}"""));
        Assert.Throws<FormatException>(() => ThresholdDefinition.FromJson("""{"metric":"m","value":1,"value":2}"""));
    }

    /// <summary>
    /// `decode --format flows` once aborted on NetFlow v9 (ArgumentOutOfRangeException in BufferedStream.Write from
    /// Utf8TextWriter.Reserve, reached from CsvOutput.Row) as soon as its buffer wrapped in the middle of a text
    /// column. The bytes are a pmacct nfprobe export: templates with data, then a data-only datagram sent again until
    /// the output has wrapped many times.
    /// </summary>
    [Fact]
    public void NetFlow9_flows_text_output_survives_its_buffer_wrapping_mid_column()
    {
        var templates = Convert.FromHexString(
        "00090006000055D46B013C5C000000010000002A000000500400001200990008009800080001000800020008003C0001000A0004000E0004003D0001" +
        "00080004000C000400070002000B00020005000100060001000400010038000600500006003A00020000005004010012009900080098000800010008" +
        "00020008003C0001000A0004000E0004003D000100080004000C000400070002000B00020005000100060001000400010051000600390006003B0002" +
        "000000500800001200990008009800080001000800020008003C0001000A0004000E0004003D0001001B0010001C00100005000100070002000B0002" +
        "00060001000400010038000600500006003A0002000000500801001200990008009800080001000800020008003C0001000A0004000E0004003D0001" +
        "001B0010001C00100005000100070002000B000200060001000400010051000600390006003B000204000094000001A1FCC9D71F000001A1FCC9D718" +
        "0000000000000304000000000000000D040000000000000000000A4D00010A4D0002B0FA1F40001B06CE7AAFDAA7912ED9A6D2766B0000000001A1FC" +
        "C9D71F000001A1FCC9D7180000000000002A1F000000000000000B040000000000000000000A4D00020A4D00011F40B0FA001B062ED9A6D2766BCE7A" +
        "AFDAA79100000000" +
        "");
        // One data flowset of pmacct's sent twelve times in one datagram (as a mutation made it), the header's count
        // saying so: one datagram's rows then outgrow what the writer keeps free between datagrams, and a text column
        // meets the buffer's end.
        var header = Convert.FromHexString("00090048000055D46B013C5C000000020000002A");
        var flowset = Convert.FromHexString(
            "040001B0000001A1FCC9D733000001A1FCC9D72F0000000000000A890000000000000032040000000000000000000A4D00010A4D0002B0FC1F40001B" +
            "06CE7AAFDAA7912ED9A6D2766B0000000001A1FCC9D733000001A1FCC9D72F000000000001967C000000000000004A040000000000000000000A4D00" +
            "020A4D00011F40B0FC001B062ED9A6D2766BCE7AAFDAA7910000000001A1FCC9D74D000001A1FCC9D7410000000000007B9600000000000001F10400" +
            "00000000000000000A4D00010A4D0002B1041F40001B06CE7AAFDAA7912ED9A6D2766B0000000001A1FCC9D74D000001A1FCC9D74100000000001095" +
            "5100000000000002DB040000000000000000000A4D00020A4D00011F40B104001B062ED9A6D2766BCE7AAFDAA7910000000001A1FCC9D764000001A1" +
            "FCC9D761000000000000019A0000000000000006040000000000000000000A4D00010A4D0002B10C1F40001B06CE7AAFDAA7912ED9A6D2766B000000" +
            "0001A1FCC9D764000001A1FCC9D76100000000000003480000000000000006040000000000000000000A4D00020A4D00011F40B10C001B062ED9A6D2" +
            "766BCE7AAFDAA79100000000" +
            "");
        var data = header.Concat(Enumerable.Repeat(flowset, 12).SelectMany(b => b)).ToArray();
        foreach (var format in new[] { "flows", "csv", "grep", "json", "jsonl" })
        {
            string[] args = format == "csv" ? ["--pcap", "x", "--format", "csv", "--fields", "src_addr,dst_addr,ip_proto,src_port,dst_port,bytes,packets,exporter,srcIP,dstIP,IPProtocol"] : ["--pcap", "x", "--format", format];
            Assert.Null(Cli.Decode.DecodeOptions.TryParse(args, out var options));
            using var output = new MemoryStream();
            var buffered = new BufferedStream(output, 1 << 16);
            var collector = new Cli.Decode.DatagramCollector();
            var writer = Cli.Decode.DecodeCommand.Writer(options, buffered, collector);
            var decoder = new Wire.FlowDecoder();
            var source = Records.FlowAddress.FromV4(0x7F000001);
            for (var i = 0; i < 60; i++)
            {
                var d = i == 0 ? templates : data;
                var result = Cli.Decode.DecodeCommand.DecodeDatagram(decoder, collector, writer, d, source, 1_795_000_000_000_000 + i);
                Assert.True(result.IsOk, result.ToString());
            }
            writer.Finish();
            buffered.Flush();
            Assert.True(output.Length > 4 << 16, $"{format}: {output.Length} bytes: the buffer did not wrap often enough to tell");
        }
    }

    /// <summary>Found by the HTTP target: PUT /threshold/ALL/json with this body answered 500 (infinity cannot be written back as JSON).</summary>
    [Fact]
    public void SflowRt_numbers_too_large_for_a_double_are_refused()
    {
        Assert.Throws<FormatException>(() => ThresholdDefinition.FromJson("""{"metric":"x","value":101e9990,"byFlow":true,"timeout":5}"""));
        Assert.Throws<FormatException>(() => ThresholdDefinition.FromJson("""{"metric":"x","value":"-1e400"}"""));
        Assert.Throws<FormatException>(() => FlowDefinition.FromJson("""{"keys":"ipsource","t":1e999}"""));
    }

    /// <summary>Found by the sFlow-RT target: a string escaping half a surrogate pair (\uDF92) failed when it was read, as a 500.</summary>
    [Fact]
    public void SflowRt_text_escaping_half_a_surrogate_pair_is_refused()
    {
        Assert.Throws<FormatException>(() => FlowDefinition.FromJson("""{"keys":"not accou\uCDEBnt","value":"bytes","filter":"accoun\uDF92t=acc-0001","t":2,"n":10,"log":true}"""));
        Assert.Throws<FormatException>(() => ThresholdDefinition.FromJson("""{"metric":"\uD800","value":1}"""));
    }

    [Fact]
    public void FlowSpec_an_ipv6_prefix_in_the_ipv4_mapped_range_encodes_back()
    {
        // Found by the flowspec fuzz target: ::ffff:255.0.0.0/104 read from an IPv6 rule was refused when encoded again.
        var input = Convert.FromHexString("1201200020010DB80268400000FFFFFF038106");
        var rule = Flowline.Wire.Bgp.FlowSpecRule.Decode(input, ipv6: true, out _);
        Assert.Equal(Convert.ToHexString(input), Convert.ToHexString(rule.Encode()));
    }
}
