using System.Diagnostics;
using System.Net.Http;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Flowline.Cli.Tests;

/// <summary>`flowline serve` as a process on loopback, fed by `flowline gen`.</summary>
public sealed partial class ServeCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-serve-");
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public void Dispose() => _dir.Delete(recursive: true);

    private string DataDir => Path.Combine(_dir.FullName, "data");

    /// <summary>A running collector on free loopback ports, with the ports it printed.</summary>
    private sealed class Server : IDisposable
    {
        private readonly Process _process;
        private readonly System.Text.StringBuilder _stdout = new();
        private readonly System.Text.StringBuilder _stderr = new();

        public Server(string dataDir, params string[] extra)
        {
            var http = FreeTcpPort();
            _process = Process.Start(FlowlineProcess.Flowline(["serve", "--data-dir", dataDir, "--sflow", "127.0.0.1:0", "--netflow", "127.0.0.1:0",
                "--ipfix", "127.0.0.1:0", "--http", $"127.0.0.1:{http}", .. extra]))!;
            _process.StandardInput.Close();
            _process.ErrorDataReceived += (_, e) => { lock (_stderr) _stderr.AppendLine(e.Data); };
            _process.BeginErrorReadLine();
            var ports = new Dictionary<string, int>();
            while (ports.Count < 3 || !Output.Contains("http on", StringComparison.Ordinal))
            {
                var line = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"serve exited: {Output} {Errors}");
                lock (_stdout) _stdout.AppendLine(line);
                var m = Listener().Match(line);
                if (m.Success) ports[m.Groups[1].Value] = int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            }
            Ports = ports;
            Url = $"http://127.0.0.1:{http}";
            _ = Task.Run(() =>
            {
                while (_process.StandardOutput.ReadLine() is { } line)
                {
                    lock (_stdout) _stdout.AppendLine(line);
                }
            });
        }

        public IReadOnlyDictionary<string, int> Ports { get; }
        public string Url { get; }
        public string Output { get { lock (_stdout) return _stdout.ToString(); } }
        public string Errors { get { lock (_stderr) return _stderr.ToString(); } }

        public string Get(string path) => Http.GetStringAsync($"{Url}{path}").GetAwaiter().GetResult();

        /// <summary>Records decoded from the exporter of that protocol so far; 0 before its first datagram.</summary>
        public long Records(string protocol) =>
            JsonDocument.Parse(Get("/api/v1/exporters")).RootElement.GetProperty("exporters").EnumerateArray()
                .Where(e => e.GetProperty("protocol").GetString() == protocol).Sum(e => e.GetProperty("records").GetInt64());

        public JsonElement Exporter(string protocol) =>
            JsonDocument.Parse(Get("/api/v1/exporters")).RootElement.GetProperty("exporters")
                .EnumerateArray().Single(e => e.GetProperty("protocol").GetString() == protocol);

        /// <summary>SIGTERM, then the exit code (the process must end within 10 s).</summary>
        public int Terminate()
        {
            Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
            Assert.True(_process.WaitForExit(10_000), "serve did not exit within 10 s of SIGTERM");
            _process.WaitForExit();
            return _process.ExitCode;
        }

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.Dispose();
        }

        private static int FreeTcpPort()
        {
            var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            l.Start();
            var port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            return port;
        }
    }

    [GeneratedRegex(@"serve: (sflow|netflow|ipfix) on udp 127\.0\.0\.1:(\d+)")]
    private static partial Regex Listener();

    private static (long Datagrams, long Flows) Gen(string protocol, int port, int count, params string[] extra)
    {
        var r = FlowlineProcess.RunFlowline(["gen", "--protocol", protocol, "--count", count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--target", $"udp://127.0.0.1:{port}", "--rate", "50000", "-q", .. extra]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var m = Regex.Match(r.Stderr, @"left out (\d+) datagrams carrying (\d+) flows");
        return m.Success ? (long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)) : (0, 0);
    }

    private static void WaitFor(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(20)) throw new TimeoutException(what);
            Thread.Sleep(100);
        }
    }

    [Fact]
    public void Sequence_gaps_are_counted_exactly_per_protocol()
    {
        using var server = new Server(DataDir);
        var ipfix = Gen("ipfix", server.Ports["ipfix"], 30_000, "--drop-every", "7");
        var netflow = Gen("netflow9", server.Ports["netflow"], 20_000, "--drop-every", "11");
        var sflow = Gen("sflow", server.Ports["sflow"], 20_000, "--drop-every", "5");
        Assert.True(ipfix.Flows > 0 && netflow.Datagrams > 0 && sflow.Datagrams > 0);

        WaitFor(() => server.Records("ipfix") == 30_000 - ipfix.Flows, "IPFIX records");
        WaitFor(() => server.Records("sflow5") == 20_000 - sflow.Flows, "sFlow records");
        WaitFor(() => server.Records("netflow9") == 20_000 - netflow.Flows, "NetFlow v9 records");
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
    public void Sigterm_stores_everything_received_and_templates_survive_a_restart()
    {
        long received;
        using (var server = new Server(DataDir))
        {
            Gen("ipfix", server.Ports["ipfix"], 40_000);
            WaitFor(() => server.Records("ipfix") == 40_000, "IPFIX records");
            received = server.Exporter("ipfix").GetProperty("records").GetInt64();
            Assert.Equal(0, server.Terminate());
            Assert.Contains("stopping", server.Output);
        }
        var stats = FlowlineProcess.RunFlowline(["store", "stats", "--data-dir", DataDir]);
        Assert.Matches($@"records\s+{received}\n", stats.Stdout);

        // Data without templates right after the restart decodes at once: the saved templates are back.
        using var again = new Server(DataDir);
        Assert.Matches(@"\(\d+ templates restored\)", again.Output);
        Gen("ipfix", again.Ports["ipfix"], 5_000, "--no-templates", "--seed", "2");
        WaitFor(() => again.Records("ipfix") == 5_000, "IPFIX records after the restart");
        Assert.Equal(0, again.Exporter("ipfix").GetProperty("malformed").GetInt64());
        Assert.Equal(0, again.Terminate());
        Assert.Matches($@"records\s+{received + 5_000}\n", FlowlineProcess.RunFlowline(["store", "stats", "--data-dir", DataDir]).Stdout);
    }

    [Fact]
    public void Sigterm_under_load_keeps_every_record_received()
    {
        using var server = new Server(DataDir);
        // 200,000 records/s for what would be 50 s, stopped while it is sending.
        using var gen = Process.Start(FlowlineProcess.Flowline(["gen", "--protocol", "ipfix", "--count", "10000000", "--rate", "200000",
            "--target", $"udp://127.0.0.1:{server.Ports["ipfix"]}", "-q"]))!;
        WaitFor(() => server.Records("ipfix") > 50_000, "records arriving");
        Assert.Equal(0, server.Terminate());
        Assert.False(gen.HasExited, "the generator finished before the collector was stopped");
        gen.Kill();
        var m = Regex.Match(server.Errors, @"stopped: (\d+) datagrams received, (\d+) records decoded, (\d+) records stored");
        Assert.True(m.Success, server.Errors);
        Assert.Equal(m.Groups[2].Value, m.Groups[3].Value);
        Assert.Matches($@"records\s+{m.Groups[3].Value}\n", FlowlineProcess.RunFlowline(["store", "stats", "--data-dir", DataDir]).Stdout);
    }

    [Fact]
    public void The_example_configuration_is_accepted_and_flags_override_it()
    {
        var example = Path.Combine(FlowlineProcess.RepositoryRoot, "docs", "flowline.example.yaml");
        using var server = new Server(DataDir, "--config", example);
        Assert.Contains($"storing in {DataDir}", server.Output);
        Assert.Contains("ok", server.Get("/healthz"));
        Assert.Equal(0, server.Terminate());
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
        Assert.Contains("FLOWLINE_HTTP: http 'x': expected ADDR:PORT",
            FlowlineProcess.Run(WithEnvironment(FlowlineProcess.Flowline("serve"), "FLOWLINE_HTTP", "x")).Stderr);
    }

    private static ProcessStartInfo WithEnvironment(ProcessStartInfo psi, string name, string value)
    {
        psi.Environment[name] = value;
        return psi;
    }
}

/// <summary>`flowline ovs`: the ovs-vsctl transaction it builds, and its errors.</summary>
public sealed class OvsCommandTests
{
    [Fact]
    public void Configure_builds_one_ovs_vsctl_transaction_for_the_chosen_exports()
    {
        var all = FlowlineProcess.RunFlowline(["ovs", "configure", "--bridge", "br-int", "--collector", "10.0.10.53", "--sampling", "100",
            "--polling", "5", "--dry-run"]);
        Assert.Equal(0, all.ExitCode);
        Assert.StartsWith("ovs-vsctl -- --id=@sflow create sflow agent=br-int 'targets=\"10.0.10.53:6343\"' header=128 sampling=100 polling=5 -- set Bridge br-int sflow=@sflow", all.Stdout);
        Assert.Contains("-- --id=@nf create NetFlow 'targets=\"10.0.10.53:2055\"' active-timeout=60 -- set Bridge br-int netflow=@nf", all.Stdout);
        Assert.Contains("-- --id=@ipfix create IPFIX 'targets=\"10.0.10.53:4739\"' obs_domain_id=1 sampling=100", all.Stdout);

        var v6 = FlowlineProcess.RunFlowline(["ovs", "configure", "--bridge", "br0", "--collector", "fd00::53", "--protocols", "netflow", "--dry-run"]);
        Assert.Contains("'targets=\"[fd00::53]:2055\"'", v6.Stdout);
        Assert.Contains("-- clear Bridge br0 sflow", v6.Stdout);
        Assert.Contains("-- clear Bridge br0 ipfix", v6.Stdout);

        Assert.Equal("ovs-vsctl -- clear Bridge br0 sflow -- clear Bridge br0 netflow -- clear Bridge br0 ipfix\n",
            FlowlineProcess.RunFlowline(["ovs", "clear", "--bridge", "br0", "--dry-run"]).Stdout);
    }

    [Theory]
    [InlineData("--collector is required", "configure", "--bridge", "br0")]
    [InlineData("--collector nowhere: not an IP address", "configure", "--bridge", "br0", "--collector", "nowhere")]
    [InlineData("--bridge is required", "clear")]
    [InlineData("--protocols: unknown 'jflow'", "configure", "--bridge", "br0", "--collector", "10.0.0.1", "--protocols", "sflow,jflow")]
    [InlineData("--sampling 0: expected a number from 1", "configure", "--bridge", "br0", "--collector", "10.0.0.1", "--sampling", "0")]
    [InlineData("unknown ovs command 'restart'", "restart", "--bridge", "br0")]
    public void Bad_arguments_are_refused_with_the_reason(string message, params string[] args)
    {
        var r = FlowlineProcess.RunFlowline(["ovs", .. args]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
    }
}
