using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Flowline.Wire.Tests;

namespace Flowline.Cli.Tests;

public sealed class DecodeCommandTests
{
    private static string Capture(string name) => Path.Combine(TestCorpus.CapturesDirectory, name + ".pcap");

    public static TheoryData<string> SFlowCaptures()
    {
        var data = new TheoryData<string>();
        foreach (var n in TestCorpus.ReferencedCaptures().Where(n => n.Contains("sflow") || n.Contains("sfprobe"))) data.Add(n);
        return data;
    }

    [Theory]
    [MemberData(nameof(SFlowCaptures))]
    public void Pcap_output_opens_in_tshark_and_tcpdump_with_one_packet_per_sampled_header(string capture)
    {
        var dir = Directory.CreateTempSubdirectory("flowline-pcap-");
        try
        {
            var output = Path.Combine(dir.FullName, "sampled.pcap");
            var decode = FlowlineProcess.RunFlowline(["decode", "--pcap", Capture(capture), "--format", "pcap", "-o", output]);
            Assert.True(decode.ExitCode == 0, decode.Stderr);
            var samples = TestCorpus.Decode(capture).Batch.Count;

            var tshark = FlowlineProcess.Run(FlowlineProcess.StartInfo(FlowlineProcess.Tool("tshark"), "-r", output, "-T", "fields", "-e", "frame.number", "-e", "ip.src", "-e", "ipv6.src"));
            Assert.True(tshark.ExitCode == 0, tshark.Stderr);
            var frames = tshark.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(samples, frames.Length);
            Assert.All(frames, f => Assert.Matches(@"^\d+\t+[0-9a-f.:]+", f));

            var tcpdump = FlowlineProcess.Run(FlowlineProcess.StartInfo(FlowlineProcess.Tool("tcpdump"), "-n", "-r", output));
            Assert.True(tcpdump.ExitCode == 0, tcpdump.Stderr);
            Assert.Equal(samples, tcpdump.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Flows_output_has_the_canonical_header_and_one_row_per_record()
    {
        var r = FlowlineProcess.RunFlowline(["decode", "--pcap", Capture("softflowd_ipfix_A")]);
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("time_received,start,end,protocol,exporter,obs_domain,obs_point,sampling_rate,in_if,out_if,src_addr,dst_addr,src_port,dst_port,ip_proto,tcp_flags,tos,vlan,post_vlan,src_mac,dst_mac,bytes,packets", lines[0]);
        Assert.Equal(123, lines.Length - 1);
        var header = lines[0].Split(',');
        var bytes = Array.IndexOf(header, "bytes");
        Assert.Equal(3_739_083L, lines.Skip(1).Sum(l => long.Parse(l.Split(',')[bytes])));
        Assert.Contains("datagrams 5 (ipfix 5); flow records 123", r.Stderr);
        Assert.Contains("malformed 0", r.Stderr);
    }

    [Fact]
    public void Output_redirected_to_a_file_the_shell_shares_leaves_room_for_the_commands_after_it()
    {
        // The shell opens the file once for the group: each command writes where the one before stopped.
        var dir = Directory.CreateTempSubdirectory("flowline-redirect-");
        try
        {
            var file = Path.Combine(dir.FullName, "all.csv");
            var decode = $"dotnet exec '{FlowlineProcess.Dll}' decode -q --no-header --pcap";
            var r = FlowlineProcess.Run(FlowlineProcess.StartInfo("bash", "-c",
                $"(echo BEFORE; {decode} '{Capture("softflowd_v5_A")}'; {decode} '{Capture("softflowd_ipfix_A")}'; echo AFTER) > '{file}'"));
            Assert.True(r.ExitCode == 0, r.Stderr);
            var lines = File.ReadAllLines(file);
            Assert.Equal("BEFORE", lines[0]);
            Assert.Equal("AFTER", lines[^1]);
            Assert.Equal(2 + 81 + 123, lines.Length);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Csv_takes_sflowtool_and_canonical_field_names()
    {
        var r = FlowlineProcess.RunFlowline(["decode", "--pcap", Capture("pmacctd_sfprobe_A"), "--format", "csv", "--fields", "agent,srcIP,dstIP,IPProtocol,TCPDstPort,sampling_rate,bytes", "--no-header"]);
        Assert.Equal(0, r.ExitCode);
        var rows = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4173, rows.Length);
        Assert.All(rows, row => Assert.StartsWith("10.77.255.253,", row));
        Assert.Contains(rows, row => row.EndsWith(",6,8000,1,78", StringComparison.Ordinal) || row.Contains(",6,8000,1,", StringComparison.Ordinal));
    }

    [Fact]
    public void Csv_without_fields_prints_sflowtools_line_columns_and_netflow_records_fill_them_from_the_record()
    {
        var sflow = FlowlineProcess.RunFlowline(["decode", "--pcap", Capture("pmacctd_sfprobe_A"), "--format", "csv", "-q"]);
        Assert.Equal(0, sflow.ExitCode);
        var lines = sflow.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("agent,inputPort,outputPort,srcMAC,dstMAC,ethernet_type,in_vlan,out_vlan,src_addr,dst_addr,IPProtocol,IPTOS,src_port,dst_port,TCPFlags,sampledPacketSize,meanSkipCount", lines[0]);
        Assert.Equal(4173, lines.Length - 1);
        // As in sflowtool -l, the address and port columns hold IPv6 addresses and UDP ports too.
        Assert.Contains(lines, l => l.Contains(",fd77::1,", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(",10.77.0.1,10.77.0.2,17,0,54261,5201,,50,1", StringComparison.Ordinal));

        // NetFlow v5 has no sFlow sample: the interfaces and sampling rate are the record's (Open vSwitch's ports 1 and 2).
        var v5 = FlowlineProcess.RunFlowline(["decode", "--pcap", Capture("ovs_netflow_v5"), "--format", "csv", "-q", "--fields", "inputPort,in_if,outputPort,out_if,meanSkipCount", "--no-header"]);
        Assert.Equal(0, v5.ExitCode);
        var rows = v5.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("1,1,2,2,1", rows);
        Assert.All(rows, r => { var c = r.Split(','); Assert.Equal((c[1], c[3]), (c[0], c[2])); });
    }

    [Fact]
    public void Json_is_one_object_per_datagram_with_string_values()
    {
        var r = FlowlineProcess.RunFlowline(["decode", "--pcap", Capture("ovs_sflow_s1_h128_p5"), "--format", "jsonl", "--count", "20"]);
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(20, lines.Length);
        var counters = 0;
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            Assert.Equal("sflow5", doc.RootElement.GetProperty("protocol").GetString());
            Assert.Equal(JsonValueKind.String, doc.RootElement.GetProperty("packetSequenceNo").ValueKind);
            foreach (var s in doc.RootElement.GetProperty("samples").EnumerateArray())
            {
                if (s.GetProperty("sampleType").GetString() == "COUNTERSSAMPLE")
                {
                    counters++;
                    Assert.True(s.GetProperty("elements").GetArrayLength() > 0);
                }
                else
                {
                    Assert.Equal(JsonValueKind.String, s.GetProperty("flow").GetProperty("bytes").ValueKind);
                }
            }
        }
        Assert.True(counters > 0);

        var pretty = FlowlineProcess.RunFlowline(["decode", "--pcap", Capture("pmacctd_nfprobe_v9_A"), "--format", "json"]);
        Assert.Equal(0, pretty.ExitCode);
        var reader = new Utf8JsonReader(pretty.StdoutBytes, new JsonReaderOptions { AllowMultipleValues = true });
        var objects = 0;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.StartObject && reader.CurrentDepth == 0) objects++;
        }
        Assert.Equal(25, objects);
    }

    [Fact]
    public void Grep_lines_carry_the_datagram_context()
    {
        var r = FlowlineProcess.RunFlowline(["decode", "--pcap", Capture("ovs_sflow_s1_h128_p5"), "--format", "grep", "--count", "5"]);
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000 10\.77\.255\.254 0 \d+ 0:\d+ 0:2 0:1 ifInOctets \d+$"));
        Assert.Contains(lines, l => l.Contains(" sampleType COUNTERSSAMPLE"));
    }

    [Fact]
    public void A_file_that_is_not_a_capture_fails_clearly()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "this is not a capture\n");
            var r = FlowlineProcess.RunFlowline(["decode", "--pcap", path]);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("not a capture file", r.Stderr);
            Assert.Equal("", r.Stdout);
            var missing = FlowlineProcess.RunFlowline(["decode", "--pcap", path + ".missing"]);
            Assert.Equal(1, missing.ExitCode);
            Assert.Equal($"flowline decode: {path}.missing: no such file", missing.Stderr.Trim());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void The_output_file_is_not_locked_against_other_writers()
    {
        // Another writer holds the file open (two decodes to /dev/null, a log two tools append to): decode writes all the same.
        var path = Path.GetTempFileName();
        try
        {
            using var other = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
            var r = FlowlineProcess.RunFlowline(["decode", "--pcap", Capture("ovs_netflow_v5"), "-q", "-o", path]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            Assert.True(new FileInfo(path).Length > 0);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_capture_cut_inside_a_packet_prints_what_came_before_and_exits_1_as_tcpdump_does()
    {
        var path = Path.GetTempFileName();
        try
        {
            var whole = File.ReadAllBytes(Capture("ovs_netflow_v5"));
            File.WriteAllBytes(path, whole[..^37]);
            var all = FlowlineProcess.RunFlowline(["decode", "--pcap", Capture("ovs_netflow_v5"), "-q"]);
            var cut = FlowlineProcess.RunFlowline(["decode", "--pcap", path, "-q"]);
            var tcpdump = FlowlineProcess.Run(FlowlineProcess.StartInfo(FlowlineProcess.Tool("tcpdump"), "-n", "-r", path));
            Assert.Equal(1, tcpdump.ExitCode);
            Assert.Equal(1, cut.ExitCode);
            Assert.Equal($"flowline decode: {path} ends inside a packet (the capture was cut short); the packets before it were decoded", cut.Stderr.Trim());
            // Every datagram but the cut one, the last: all its records are missing, nothing else is.
            var lines = cut.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.StartsWith(cut.Stdout, all.Stdout);
            Assert.InRange(lines.Length, 2, all.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length - 1);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("flows")]
    [InlineData("json")]
    [InlineData("pcap")]
    public void A_full_disk_is_reported_not_a_crash(string format)
    {
        // /dev/full refuses every write with ENOSPC, as a full file system does.
        var r = FlowlineProcess.RunFlowline(["decode", "--pcap", Capture("ovs_sflow_s1_h128_p5"), "--format", format, "-q", "-o", "/dev/full"]);
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("flowline decode: cannot write /dev/full: No space left on device", r.Stderr.Trim());
        Assert.DoesNotContain("Unhandled exception", r.Stderr);
    }

    [Theory]
    [InlineData("--format", "xml")]
    [InlineData("--format", "csv", "--fields", ",")]
    [InlineData("--fields", "srcIP")]
    [InlineData("--count", "-3")]
    [InlineData("--bogus")]
    public void Usage_errors_exit_2_with_a_message(params string[] extra)
    {
        var r = FlowlineProcess.RunFlowline(["decode", "--pcap", Capture("softflowd_v5_A"), .. extra]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("flowline decode: ", r.Stderr);
    }

    [Fact]
    public async Task Listens_on_udp_and_decodes_what_arrives()
    {
        var datagrams = TestCorpus.Datagrams("softflowd_v9_A");
        int port;
        using (var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0))) port = ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
        var psi = FlowlineProcess.Flowline("decode", "--listen", $"udp://127.0.0.1:{port}", "--count", datagrams.Count.ToString(), "--seconds", "60");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var listening = await p.StandardError.ReadLineAsync();
        Assert.Contains($"listening on udp://127.0.0.1:{port}", listening);
        using var client = new UdpClient();
        foreach (var d in datagrams) client.Send(d.Payload, new IPEndPoint(IPAddress.Loopback, port));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(timeout.Token);
        var summary = await p.StandardError.ReadToEndAsync();
        Assert.Equal(0, p.ExitCode);
        Assert.Equal(123, (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length - 1);
        Assert.Contains("flow records 123", summary);
    }

    public static TheoryData<string, string> FormatsAndCaptures()
    {
        var data = new TheoryData<string, string>();
        foreach (var capture in TestCorpus.ReferencedCaptures())
        {
            foreach (var format in new[] { "grep", "flows", "csv", "json", "jsonl", "pcap" }) data.Add(format, capture);
        }
        return data;
    }

    /// <summary>
    /// Every output format over every whole capture runs to the end: the writers' buffers wrap many times (the
    /// text writer once added a length it had reset while flushing, and grep output aborted on half the captures).
    /// </summary>
    [Theory]
    [MemberData(nameof(FormatsAndCaptures))]
    public void Every_format_writes_every_whole_capture_to_the_end(string format, string capture)
    {
        var output = Path.Combine(Path.GetTempPath(), $"flowline-{format}-{capture}-{Guid.NewGuid():N}");
        try
        {
            string[] fields = format == "csv" ? ["--fields", "agent,srcIP,dstIP,IPProtocol,TCPDstPort,bytes,packets,sampling_rate"] : [];
            var r = FlowlineProcess.RunFlowline(["decode", "--pcap", Capture(capture), "--format", format, "-o", output, .. fields]);
            Assert.True(r.ExitCode == 0, $"{format} {capture}: exit {r.ExitCode}: {r.Stderr}");
            Assert.DoesNotContain("Unhandled exception", r.Stderr, StringComparison.Ordinal);
            var summary = System.Text.RegularExpressions.Regex.Match(r.Stderr, @"flow records (\d+)");
            Assert.True(summary.Success, r.Stderr);
            var records = long.Parse(summary.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            var text = format == "pcap" ? "" : File.ReadAllText(output);
            switch (format)
            {
                case "flows":
                case "csv":
                    Assert.Equal(records + 1, text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
                    break;
                case "grep":
                    // One line per canonical field of every flow record, at least.
                    Assert.True(text.Split('\n').Count(l => l.Contains(" flow ", StringComparison.Ordinal)) >= records, $"{capture}: grep lines for {records} records");
                    Assert.EndsWith("\n", text, StringComparison.Ordinal);
                    break;
                case "jsonl":
                    foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries)) System.Text.Json.JsonDocument.Parse(line).Dispose();
                    break;
                case "json":
                    Assert.True(text.Length > 0);
                    break;
            }
        }
        finally
        {
            File.Delete(output);
        }
    }

    /// <summary>A reader that goes away (`| head -1`) ends the run quietly, with the summary and no stack trace.</summary>
    [Theory]
    [InlineData("grep")]
    [InlineData("csv", "--fields", "agent,srcIP")]
    public async Task A_closed_pipe_ends_decoding_quietly(string format, params string[] fields)
    {
        // 400,000 sFlow samples: tens of megabytes of text, far more than a pipe and the output buffers hold.
        var pcap = Path.Combine(Path.GetTempPath(), $"flowline-pipe-{Guid.NewGuid():N}.pcap");
        try
        {
            Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "sflow", "--count", "400000", "--pcap", pcap, "-q"]).ExitCode);
            var psi = FlowlineProcess.Flowline(["decode", "--pcap", pcap, "--format", format, .. fields]);
            using var p = System.Diagnostics.Process.Start(psi)!;
            p.StandardInput.Close();
            var stderr = p.StandardError.ReadToEndAsync();
            Assert.NotNull(await p.StandardOutput.ReadLineAsync());
            p.StandardOutput.Close();
            Assert.True(p.WaitForExit(60_000), "decode did not end after its reader went away");
            var errors = await stderr;
            Assert.DoesNotContain("Unhandled exception", errors, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", errors, StringComparison.Ordinal);
            // It stopped when it found the pipe closed, not at the end of the capture.
            var all = FlowlineProcess.RunFlowline(["decode", "--pcap", pcap, "--format", "csv", "--fields", "agent", "--count", "1000000000"]);
            var total = long.Parse(System.Text.RegularExpressions.Regex.Match(all.Stderr, @"datagrams (\d+)").Groups[1].Value);
            var decoded = long.Parse(System.Text.RegularExpressions.Regex.Match(errors, @"datagrams (\d+)").Groups[1].Value);
            Assert.True(decoded < total / 2, $"decoded {decoded} of {total} datagrams after its reader went away");
        }
        finally
        {
            File.Delete(pcap);
        }
    }
}
