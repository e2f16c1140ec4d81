using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Flowline.Records;
using Flowline.Wire.Encoders;

namespace Flowline.Cli.Tests;

/// <summary>
/// A running `flowline serve` (real UDP) while strangers on 127.0.0.0/8 make up 100,000 sFlow agents and 100,000 IPFIX
/// observation domains with their templates and data for templates never sent, and real exporters (`flowline gen`)
/// send alongside: resident memory stays under its bound, every limit counts what it evicted, and the real exporters'
/// records are all stored.
/// </summary>
public sealed partial class HostileExporterTests : IDisposable
{
    /// <summary>The bound docs/LIMITS.md states for serve with its default limits under this flood.</summary>
    private const long ResidentBound = 1536L << 20;

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-hostile-exporters-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static double Metric(string metrics, string line) =>
        double.Parse(metrics.Split('\n').First(l => l.StartsWith(line + " ", StringComparison.Ordinal)).Split(' ')[^1], CultureInfo.InvariantCulture);

    /// <summary>The sum of a metric over its labels.</summary>
    private static double Sum(string metrics, string prefix) =>
        metrics.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).Sum(l => double.Parse(l.Split(' ')[^1], CultureInfo.InvariantCulture));

    private static Process Gen(params string[] args)
    {
        var p = Process.Start(FlowlineProcess.Flowline(["gen", .. args]))!;
        p.StandardInput.Close();
        return p;
    }

    [Fact]
    public async Task Made_up_agents_and_domains_stay_within_the_limits_and_real_exporters_lose_nothing()
    {
        var data = Path.Combine(_dir.FullName, "data");
        using var serve = new ServeProcess(data, "--realtime-open-on-loopback", "true");
        Assert.Equal(200, Rest.Send(HttpMethod.Put, serve.Url + "/flow/pairs/json", """{"keys": "ipsource,ipdestination", "value": "bytes"}""").Status);
        var baseline = serve.Resident();

        // The real exporters, from 127.0.0.1: IPFIX and sFlow (agent 192.0.2.1), at a steady rate throughout the flood.
        using var ipfix = Gen("--protocol", "ipfix", "--count", "300000", "--rate", "15000", "--target", $"udp://127.0.0.1:{serve.Ports["ipfix"]}");
        using var sflow = Gen("--protocol", "sflow", "--count", "100000", "--rate", "5000", "--target", $"udp://127.0.0.1:{serve.Ports["sflow"]}");
        var ipfixErr = ipfix.StandardError.ReadToEndAsync();
        var sflowErr = sflow.StandardError.ReadToEndAsync();
        _ = ipfix.StandardOutput.ReadToEndAsync();
        _ = sflow.StandardOutput.ReadToEndAsync();

        // The strangers: 256 source addresses, none of them 127.0.0.1.
        var senders = Enumerable.Range(0, 256).Select(i => new UdpClient(new IPEndPoint(IPAddress.Parse($"127.0.{1 + i / 250}.{2 + i % 250}"), 0))).ToArray();
        var sflowTo = new IPEndPoint(IPAddress.Loopback, serve.Ports["sflow"]);
        var ipfixTo = new IPEndPoint(IPAddress.Loopback, serve.Ports["ipfix"]);
        var buffer = new byte[9000];
        var flood = Stopwatch.StartNew();
        const int Each = 100_000;
        long sent = 0;
        for (var i = 0; i < Each; i++)
        {
            var sender = senders[i % senders.Length];
            // An sFlow datagram whose agent is made up, with a flow sample and a counter sample.
            var encoder = new SFlowEncoder { Agent = FlowAddress.FromV4((uint)(0x0A000000 + i)) };
            var counters = new CounterRecord { Agent = encoder.Agent, SourceId = (uint)(i % 48), Enterprise = 0, Format = 1 };
            ulong[] values = [(ulong)(i % 48), 6, 1_000_000_000, 1, 3, (ulong)i * 1000, (ulong)i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            for (var k = 0; k < values.Length; k++) counters.Values[k] = values[k];
            counters.Count = values.Length;
            var n = encoder.Encode([Wire.Tests.TestFlows.Tcp4((uint)i)], [counters], buffer);
            sender.Send(buffer.AsSpan(0, n), sflowTo);
            // An IPFIX datagram of a made-up observation domain: its templates, and every fourth one data for a
            // template it never sends (held, waiting).
            var domain = new TemplateFlowEncoder(FlowProtocol.Ipfix, (uint)(1_000 + i));
            n = i % 4 == 3 ? domain.EncodeData([Wire.Tests.TestFlows.Tcp4((uint)i)], buffer, 1_795_000_000_000_000, 0) : domain.EncodeTemplates(buffer, 1_795_000_000_000_000, 0);
            sender.Send(buffer.AsSpan(0, n), ipfixTo);
            sent += 2;
            // Paced at about 10,000 datagrams a second, what a busy collector takes in its stride.
            while (sent > flood.Elapsed.TotalSeconds * 10_000) Thread.Sleep(1);
        }
        foreach (var s in senders) s.Dispose();

        Assert.True(ipfix.WaitForExit(120_000) && sflow.WaitForExit(120_000), "the real exporters did not finish");
        Assert.Equal(0, ipfix.ExitCode);
        Assert.Equal(0, sflow.ExitCode);
        var metrics = serve.Get("/metrics");
        ServeProcess.WaitFor(() =>
        {
            metrics = serve.Get("/metrics");
            return Sum(metrics, "flowline_socket_queue_depth{") == 0;
        }, "the queues drained", 60);
        var peak = serve.Resident().Peak;
        Assert.Equal(0, Sum(metrics, "flowline_socket_queue_drops_total{"));
        Console.WriteLine($"flood: {sent:N0} datagrams in {flood.Elapsed.TotalSeconds:0.0} s; resident {baseline.Now >> 20} MiB at the start, peak {peak >> 20} MiB");
        Console.WriteLine(string.Join("\n", metrics.Split('\n').Where(l => Regex.IsMatch(l, "^flowline_(exporters|datagrams_refused|template|counter_sources|socket_queue_drops|realtime_rows)"))));

        // Every limit held and said what it did.
        Assert.InRange(Metric(metrics, "flowline_exporters"), 1, 10_000);
        Assert.True(Metric(metrics, "flowline_exporters_evicted_total") >= 90_000);
        Assert.InRange(Metric(metrics, "flowline_template_scopes"), 1, 10_000);
        Assert.True(Metric(metrics, "flowline_template_scopes_evicted_total") >= 90_000);
        Assert.InRange(Metric(metrics, "flowline_template_pending_bytes"), 0, 64 << 20);
        Assert.InRange(Metric(metrics, "flowline_counter_sources"), 1, 50_000);
        Assert.True(Metric(metrics, "flowline_counter_sources_evicted_total") > 0);
        Assert.True(peak < ResidentBound, $"peak resident memory {peak >> 20} MiB, bound {ResidentBound >> 20} MiB");
        Assert.Equal(0, serve.Terminate());

        // The real exporters' records, all stored: what gen sent minus what it says it left out (none at this rate).
        long LeftOut(string stderr) => LeftOutPattern().Match(stderr) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        var stored = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-A", "exporter", "-o", "csv", "exporter 127.0.0.1 or exporter 192.0.2.1"]);
        Assert.True(stored.ExitCode == 0, stored.Stderr);
        var flows = stored.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(','))
            .ToDictionary(c => c[0], c => long.Parse(c[^1], CultureInfo.InvariantCulture));
        Assert.Equal(300_000 - LeftOut(await ipfixErr), flows.GetValueOrDefault("127.0.0.1"));
        Assert.Equal(100_000 - LeftOut(await sflowErr), flows.GetValueOrDefault("192.0.2.1"));
    }

    [Fact]
    public void The_allow_list_and_the_agent_check_drop_and_count_what_they_refuse()
    {
        var data = Path.Combine(_dir.FullName, "admission");
        using var serve = new ServeProcess(data, "--exporters-allowed", "127.0.0.2,127.0.0.5", "--sflow-agent-check", "true", "--sflow-relays", "127.0.0.5");
        var buffer = new byte[9000];
        void Ipfix(string from, uint domain, int flows)
        {
            using var u = new UdpClient(new IPEndPoint(IPAddress.Parse(from), 0));
            var e = new TemplateFlowEncoder(FlowProtocol.Ipfix, domain);
            var n = e.EncodeData(Enumerable.Range(0, flows).Select(i => Wire.Tests.TestFlows.Tcp4((uint)i)).ToArray(), buffer, 1_795_000_000_000_000, 0, includeTemplates: true);
            u.Send(buffer.AsSpan(0, n), new IPEndPoint(IPAddress.Loopback, serve.Ports["ipfix"]));
        }
        void Sflow(string from, string agent, int flows)
        {
            using var u = new UdpClient(new IPEndPoint(IPAddress.Parse(from), 0));
            var n = new SFlowEncoder { Agent = FlowAddress.Parse(agent) }.Encode(Enumerable.Range(0, flows).Select(i => Wire.Tests.TestFlows.Tcp4((uint)i)).ToArray(), [], buffer);
            u.Send(buffer.AsSpan(0, n), new IPEndPoint(IPAddress.Loopback, serve.Ports["sflow"]));
        }
        Ipfix("127.0.0.3", 1, 5);          // not on the list
        Ipfix("127.0.0.2", 2, 7);          // on it
        Sflow("127.0.0.2", "10.0.0.1", 3); // an agent that is not its source, and the source is no relay
        Sflow("127.0.0.2", "127.0.0.2", 4); // the agent is its source
        Sflow("127.0.0.5", "10.0.0.1", 6); // through a relay
        Sflow("127.0.0.9", "127.0.0.9", 2); // the agent is its source, but the source is not on the list
        var metrics = "";
        ServeProcess.WaitFor(() =>
        {
            metrics = serve.Get("/metrics");
            return Sum(metrics, "flowline_socket_datagrams_total{") == 6 && Sum(metrics, "flowline_socket_queue_depth{") == 0;
        }, "six datagrams received and decoded or refused", 30);
        Assert.Equal(2, Metric(metrics, "flowline_datagrams_refused_total{reason=\"not_allowed\"}"));
        Assert.Equal(1, Metric(metrics, "flowline_datagrams_refused_total{reason=\"agent_mismatch\"}"));
        ServeProcess.WaitFor(() => Metric(serve.Get("/metrics"), "flowline_records_stored_total") == 7 + 4 + 6, "the admitted records stored", 30);
        var exporters = System.Text.Json.JsonDocument.Parse(serve.Get("/api/v1/exporters")).RootElement.GetProperty("exporters").EnumerateArray()
            .Select(e => (e.GetProperty("address").GetString(), e.GetProperty("records").GetInt64())).OrderBy(e => e.Item1, StringComparer.Ordinal).ToArray();
        Assert.Equal([("10.0.0.1", 6L), ("127.0.0.2", 7L + 4L)], exporters.GroupBy(e => e.Item1).Select(g => (g.Key, g.Sum(x => x.Item2))).ToArray());
        Assert.Equal(0, serve.Terminate());
    }

    [GeneratedRegex(@"left out \d+ datagrams carrying (\d+) flows")]
    private static partial Regex LeftOutPattern();
}
