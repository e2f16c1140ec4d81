using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Flowline.Cli.Tests;

/// <summary>`flowline serve` as a process on loopback, fed by `flowline gen`.</summary>
public sealed class ServeCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-serve-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string DataDir => Path.Combine(_dir.FullName, "data");

    private static (long Datagrams, long Flows) Gen(string protocol, int port, int count, params string[] extra)
    {
        var r = FlowlineProcess.RunFlowline(["gen", "--protocol", protocol, "--count", count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--target", $"udp://127.0.0.1:{port}", "--rate", "50000", "-q", .. extra]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var m = Regex.Match(r.Stderr, @"left out (\d+) datagrams carrying (\d+) flows");
        return m.Success ? (long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)) : (0, 0);
    }

    [Fact]
    public void Sequence_gaps_are_counted_exactly_per_protocol()
    {
        using var server = new ServeProcess(DataDir);
        var ipfix = Gen("ipfix", server.Ports["ipfix"], 30_000, "--drop-every", "7");
        var netflow = Gen("netflow9", server.Ports["netflow"], 20_000, "--drop-every", "11");
        var sflow = Gen("sflow", server.Ports["sflow"], 20_000, "--drop-every", "5");
        Assert.True(ipfix.Flows > 0 && netflow.Datagrams > 0 && sflow.Datagrams > 0);

        ServeProcess.WaitFor(() => server.Records("ipfix") == 30_000 - ipfix.Flows, "IPFIX records");
        ServeProcess.WaitFor(() => server.Records("sflow5") == 20_000 - sflow.Flows, "sFlow records");
        ServeProcess.WaitFor(() => server.Records("netflow9") == 20_000 - netflow.Flows, "NetFlow v9 records");
        var i = server.Exporter("ipfix");
        Assert.Equal(ipfix.Flows, i.GetProperty("lost").GetInt64());
        Assert.Equal("records", i.GetProperty("lost_unit").GetString());
        var n = server.Exporter("netflow9");
        Assert.Equal(netflow.Datagrams, n.GetProperty("lost").GetInt64());
        Assert.Equal("packets", n.GetProperty("lost_unit").GetString());
        var s = server.Exporter("sflow5");
        Assert.Equal(sflow.Datagrams, s.GetProperty("lost").GetInt64());
        Assert.Equal(sflow.Flows, s.GetProperty("lost_samples").GetInt64());
        Assert.Equal(0, s.GetProperty("queue_drops").GetInt64());

        var metrics = server.Get("/metrics");
        Assert.Contains($"flowline_exporter_lost_total{{exporter=\"127.0.0.1\",protocol=\"ipfix\",domain=\"1\"}} {ipfix.Flows}\n", metrics);
        Assert.Matches(@"flowline_socket_queue_depth\{listener=""ipfix"",socket=""\d+""\} \d+", metrics);
        Assert.Equal(0, server.Terminate());
    }

    [Fact]
    public void A_malformed_datagram_is_counted_as_malformed_and_not_also_as_lost()
    {
        using var server = new ServeProcess(DataDir);
        // pmacct's 25 NetFlow v9 packets, sequence 1 to 25; the sixth's first set claims more than the packet
        // holds: its header and sequence number decode, its set does not.
        var datagrams = AgentOutageTests.Datagrams(Path.Combine(Flowline.Wire.Tests.TestCorpus.CapturesDirectory, "pmacctd_nfprobe_v9_A.pcap"), out _, out _);
        Assert.Equal(25, datagrams.Count);
        datagrams[5][22] = 0xff;
        datagrams[5][23] = 0xf0;
        AgentFlowLogTests.Replay(datagrams, server.Ports["netflow"]);
        ServeProcess.WaitFor(() => server.Exporter("netflow9").GetProperty("datagrams").GetInt64() == 25, "25 packets at serve");
        var n = server.Exporter("netflow9");
        Assert.Equal(1, n.GetProperty("malformed").GetInt64());
        Assert.Equal(0, n.GetProperty("lost").GetInt64());
        Assert.Equal(0, server.Terminate());
    }

    [Fact]
    public void Sigterm_stores_everything_received_and_templates_survive_a_restart()
    {
        long received;
        using (var server = new ServeProcess(DataDir))
        {
            Gen("ipfix", server.Ports["ipfix"], 40_000);
            ServeProcess.WaitFor(() => server.Records("ipfix") == 40_000, "IPFIX records");
            received = server.Exporter("ipfix").GetProperty("records").GetInt64();
            Assert.Equal(0, server.Terminate());
            Assert.Contains("serve/stopping SIGTERM: stopping", server.Errors);
        }
        var stats = FlowlineProcess.RunFlowline(["store", "stats", "--data-dir", DataDir]);
        Assert.Matches($@"records\s+{received}\n", stats.Stdout);

        // A run killed between writing a state file and renaming it leaves the temporary behind: the next start
        // removes it, but never one that a running process (this one) is writing.
        var templates = Path.Combine(DataDir, "templates");
        var abandoned = Path.Combine(templates, "decoder-0.json.99999999.7.tmp");
        var live = Path.Combine(templates, $"decoder-1.json.{Environment.ProcessId}.7.tmp");
        var recent = Path.Combine(templates, "decoder-2.json.99999999.8.tmp");
        File.WriteAllText(abandoned, "{");
        File.WriteAllText(live, "{");
        File.WriteAllText(recent, "{");
        File.SetLastWriteTimeUtc(abandoned, DateTime.UtcNow.AddHours(-1));
        File.SetLastWriteTimeUtc(live, DateTime.UtcNow.AddHours(-1));

        // Data without templates right after the restart decodes at once: the saved templates are back.
        using var again = new ServeProcess(DataDir);
        Assert.Matches(@"\(\d+ templates restored\)", again.Errors);
        Assert.False(File.Exists(abandoned));
        Assert.True(File.Exists(live));
        Assert.True(File.Exists(recent)); // written minutes ago: perhaps by a writer this machine does not show
        Assert.Contains("serve/temporaries-removed removed 1 temporary file(s)", again.Errors);
        Gen("ipfix", again.Ports["ipfix"], 5_000, "--no-templates", "--seed", "2");
        ServeProcess.WaitFor(() => again.Records("ipfix") == 5_000, "IPFIX records after the restart");
        Assert.Equal(0, again.Exporter("ipfix").GetProperty("malformed").GetInt64());
        Assert.Equal(0, again.Terminate());
        Assert.Matches($@"records\s+{received + 5_000}\n", FlowlineProcess.RunFlowline(["store", "stats", "--data-dir", DataDir]).Stdout);
    }

    [Fact]
    public void Sigterm_under_load_keeps_every_record_received()
    {
        using var server = new ServeProcess(DataDir);
        // 200,000 records/s for what would be 10 minutes, stopped while it is sending.
        using var gen = Process.Start(FlowlineProcess.Flowline(["gen", "--protocol", "ipfix", "--count", "120000000", "--rate", "200000",
            "--target", $"udp://127.0.0.1:{server.Ports["ipfix"]}", "-q"]))!;
        try
        {
            ServeProcess.WaitFor(() => server.Records("ipfix") > 50_000, "records arriving");
            Assert.Equal(0, server.Terminate());
            Assert.False(gen.HasExited, "the generator finished before the collector was stopped");
        }
        finally
        {
            gen.Kill();
            gen.WaitForExit();
        }
        var m = Regex.Match(server.Errors, @"stopped: (\d+) datagrams received, (\d+) records decoded, (\d+) records stored");
        Assert.True(m.Success, server.Errors);
        Assert.Equal(m.Groups[2].Value, m.Groups[3].Value);
        Assert.Matches($@"records\s+{m.Groups[3].Value}\n", FlowlineProcess.RunFlowline(["store", "stats", "--data-dir", DataDir]).Stdout);
    }

    [Fact]
    public void A_full_disk_at_shutdown_ends_in_bounded_time_and_counts_what_was_not_stored()
    {
        // A 256 KiB tmpfs holds the templates and a small commit or two (sorted commits take about 15 bytes a
        // record), then fills.
        var mount = Directory.CreateDirectory(Path.Combine(_dir.FullName, "small")).FullName;
        Assert.Equal(0, FlowlineProcess.Run(FlowlineProcess.StartInfo("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mount)).ExitCode);
        try
        {
            using var server = new ServeProcess(Path.Combine(mount, "data"));
            // Once a timed commit has failed, the store refuses appends (their rows stay with the decoder).
            // While the decoder waits for the store, the queue fills and further datagrams are dropped and counted.
            // 1,200,000 records at a time until the store reports the full disk: a busy machine may drop enough of
            // a round's datagrams that it still fits.
            for (var round = 0; round < 10 && !server.Errors.Contains("retry every second", StringComparison.Ordinal); round++)
            {
                Gen("ipfix", server.Ports["ipfix"], 1_200_000, "--rate", "200000");
                try
                {
                    ServeProcess.WaitFor(() => server.Errors.Contains("retry every second", StringComparison.Ordinal), "the store reporting the full disk", seconds: 30);
                }
                catch (TimeoutException)
                {
                }
            }
            Assert.Contains("retry every second", server.Errors, StringComparison.Ordinal);
            // Data was lost: not a clean exit; it stops all the same (the retries end at a deadline) and says what it lost.
            Assert.Equal(1, server.Terminate());
            var m = Regex.Match(server.Errors, @"(\d+) records decoded, (\d+) records stored, \d+ datagrams dropped at full queues, (\d+) records NOT stored");
            Assert.True(m.Success, server.Errors);
            long decoded = long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
                stored = long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture),
                notStored = long.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(decoded, stored + notStored);
            Assert.True(notStored > 0);
            Assert.Contains("records could not be stored", server.Errors);
            // What the store says it holds is exactly what was reported stored.
            Assert.Matches($@"records\s+{stored}\n", FlowlineProcess.RunFlowline(["store", "stats", "--data-dir", Path.Combine(mount, "data")]).Stdout);
        }
        finally
        {
            FlowlineProcess.Run(FlowlineProcess.StartInfo("umount", mount));
        }
    }

    [Fact]
    public void The_example_configuration_is_accepted_and_flags_override_it()
    {
        var example = Path.Combine(FlowlineProcess.RepositoryRoot, "docs", "flowline.example.yaml");
        using var server = new ServeProcess(DataDir, "--config", example);
        Assert.Contains($"storing in {DataDir}", server.Errors);
        Assert.Contains("ok", server.Get("/healthz"));
        Assert.Equal(0, server.Terminate());
    }

    [Fact]
    public void A_collector_given_no_listeners_says_it_will_collect_nothing()
    {
        var config = Path.Combine(_dir.FullName, "none.yaml");
        File.WriteAllText(config, "sflow: []\nnetflow: []\nipfix: []\nretention: 3650d\n");
        using (var server = new ServeProcess(http => FlowlineProcess.StartInfo(FlowlineProcess.Tool("dotnet"),
                   ["exec", FlowlineProcess.Dll, "serve", "--config", config, "--data-dir", DataDir, "--http", $"127.0.0.1:{http}"]), listeners: 0))
        {
            Assert.Contains("serve/no-listeners no flow listeners", server.Errors);
            Assert.Equal(0, server.Terminate());
        }
        // With listeners, no such warning.
        using var listening = new ServeProcess(DataDir);
        Assert.DoesNotContain("no-listeners", listening.Errors);
    }

    [Fact]
    public void Bad_settings_get_clear_errors()
    {
        var config = Path.Combine(_dir.FullName, "bad.yaml");
        File.WriteAllText(config, "data_dir: /tmp/x\nsflow: 127.0.0.1:6343\nqueue_bytes: lots\n");
        var r = FlowlineProcess.RunFlowline(["serve", "--config", config]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("bad.yaml:3: queue_bytes: 'lots' is not a size", r.Stderr);

        File.WriteAllText(config, "colour: blue\n");
        Assert.Contains("bad.yaml:1: colour: unknown setting", FlowlineProcess.RunFlowline(["serve", "--config", config]).Stderr);
        Assert.Contains("sflow 'nowhere': expected ADDR:PORT", FlowlineProcess.RunFlowline(["serve", "--sflow", "nowhere"]).Stderr);
        Assert.Contains("unknown option --colour", FlowlineProcess.RunFlowline(["serve", "--colour", "blue"]).Stderr);
        Assert.Contains($"data_dir {config} is a file, not a directory", FlowlineProcess.RunFlowline(["serve", "--data-dir", config]).Stderr);
        Assert.Contains("tls_key is given without tls_certificate", FlowlineProcess.RunFlowline(["serve", "--data-dir", _dir.FullName, "--tls-key", config]).Stderr);
        var blocklist = FlowlineProcess.RunFlowline(["serve", "--data-dir", Path.Combine(_dir.FullName, "blocklist"), "--ddos", "dry-run", "--ddos-blocklist", "/nonexistent/blocklist.txt",
            "--sflow", "127.0.0.1:0", "--netflow", "127.0.0.1:0", "--ipfix", "127.0.0.1:0", "--http", "127.0.0.1:0"], TimeSpan.FromSeconds(60));
        Assert.Equal(2, blocklist.ExitCode);
        Assert.Contains("cannot start: the DDoS block list /nonexistent/blocklist.txt: ", blocklist.Stderr);
        Assert.Contains("FLOWLINE_HTTP: http 'x': expected ADDR:PORT",
            FlowlineProcess.Run(WithEnvironment(FlowlineProcess.Flowline("serve"), "FLOWLINE_HTTP", "x")).Stderr);
    }

    [Fact]
    public void A_flow_port_another_collector_holds_is_refused_rather_than_shared()
    {
        // Another collector's socket, with SO_REUSEPORT as serve's own: the kernel would let serve join it and
        // split the exporters' datagrams between the two.
        using var other = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        other.SetRawSocketOption(1, 15, BitConverter.GetBytes(1)); // SOL_SOCKET, SO_REUSEPORT
        other.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var port = ((System.Net.IPEndPoint)other.LocalEndPoint!).Port;
        var r = FlowlineProcess.RunFlowline(["serve", "--data-dir", Path.Combine(_dir.FullName, "taken"), "--ipfix", $"127.0.0.1:{port}",
            "--netflow", "127.0.0.1:0", "--sflow", "127.0.0.1:0", "--http", "127.0.0.1:0"], TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains($"ipfix: udp 127.0.0.1:{port} is in use by another process", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Listeners_on_one_port_or_on_an_address_not_here_are_refused_by_name()
    {
        var port = ServeProcess.FreeTcpPort();
        var twice = FlowlineProcess.RunFlowline(["serve", "--data-dir", Path.Combine(_dir.FullName, "twice"), "--netflow", $"127.0.0.1:{port}",
            "--ipfix", $"0.0.0.0:{port}", "--sflow", "127.0.0.1:0", "--http", "127.0.0.1:0"], TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, twice.ExitCode);
        Assert.Contains($"netflow on udp 127.0.0.1:{port} and ipfix on udp 0.0.0.0:{port}: each listener needs a port of its own", twice.Stderr, StringComparison.Ordinal);
        // 192.0.2.55 (TEST-NET-1) is on no interface here.
        var absent = FlowlineProcess.RunFlowline(["serve", "--data-dir", Path.Combine(_dir.FullName, "absent"), "--sflow", "192.0.2.55:0",
            "--netflow", "127.0.0.1:0", "--ipfix", "127.0.0.1:0", "--http", "127.0.0.1:0"], TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, absent.ExitCode);
        Assert.Contains("sflow: cannot listen on udp 192.0.2.55:0: ", absent.Stderr, StringComparison.Ordinal);
        Assert.Contains("(the address is not one of this host's)", absent.Stderr, StringComparison.Ordinal);
    }

    private static ProcessStartInfo WithEnvironment(ProcessStartInfo psi, string name, string value)
    {
        psi.Environment[name] = value;
        return psi;
    }
}
