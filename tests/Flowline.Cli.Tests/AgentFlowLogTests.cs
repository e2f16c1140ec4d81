using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Flowline.Api;

namespace Flowline.Cli.Tests;

/// <summary>
/// Seed 000's deployment: compute nodes run `flowline agent`, the flow-log servers run `flowline serve`. The same
/// capture replayed once straight to an enriching serve and once through an agent (same inventory) to a
/// serve: DescribeFlowLog over the window answers the same items, uuidKey included.
/// </summary>
public sealed class AgentFlowLogTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-agent-dfl-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void An_agents_only_deployment_answers_DescribeFlowLog_as_a_direct_export_does()
    {
        var inventory = Path.Combine(_dir.FullName, "inventory.yaml");
        var make = FlowlineProcess.Run(FlowlineProcess.StartInfo("python3", Path.Combine(FlowlineProcess.RepositoryRoot, "bench", "make-inventory.py"), "200", "4"));
        Assert.True(make.ExitCode == 0, make.Stderr);
        File.WriteAllText(inventory, make.Stdout);
        var start = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60 * 60 - 600);
        var pcap = Path.Combine(_dir.FullName, "export.pcap");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", "20000", "--hosts", "200", "--seed", "5",
            "--start", start.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture), "--pcap", pcap, "-q"]).ExitCode);
        var datagrams = AgentOutageTests.Datagrams(pcap, out _, out _);

        // Straight to serve.
        var direct = Path.Combine(_dir.FullName, "direct");
        var directPort = FreeUdpPort();
        var directKey = KeyStore.Open(direct).Create("acc-0000", admin: false);
        using var first = new ServeProcess(direct, "--inventory", inventory, "--ipfix", $"127.0.0.1:{directPort}");
        ServeProcess.WaitFor(() => ServeProcess.UdpBound(directPort), "serve's IPFIX socket", 30);
        Replay(datagrams, directPort);
        ServeProcess.WaitFor(() => first.Records("ipfix") == 20_000, "20,000 records at the direct serve", 60);

        // Through an agent.
        var collected = Path.Combine(_dir.FullName, "collected");
        var agentKey = KeyStore.Open(collected).Create("acc-0000", admin: false, agent: "node-a");
        var readKey = KeyStore.Open(collected).Create("acc-0000", admin: false);
        var secret = Path.Combine(_dir.FullName, "secret");
        File.WriteAllText(secret, agentKey.Secret);
        using var second = new ServeProcess(collected, "--sessions", "on");
        var agentPort = FreeUdpPort();
        var backlog = Path.Combine(_dir.FullName, "backlog");
        using var agent = Process.Start(FlowlineProcess.Flowline("agent", "--collector", second.Url, "--key-id", agentKey.Id, "--secret-file", secret,
            "--ipfix", $"127.0.0.1:{agentPort}", "--inventory", inventory, "--interval", "1s", "--backlog", backlog, "--name", "node-a"))!;
        try
        {
            agent.StandardInput.Close();
            // The agent's start events are on stderr: the listener first.
            Assert.Contains("ipfix on udp", agent.StandardError.ReadLine() ?? "", StringComparison.Ordinal);
            _ = agent.StandardOutput.ReadToEndAsync();
            _ = agent.StandardError.ReadToEndAsync();
            Replay(datagrams, agentPort);
            var expected = StoredRows(first);
            ServeProcess.WaitFor(() => StoredRows(second) == expected && !AgentOutageTests.Waiting(backlog).Any(), $"{expected} flow rows at the collector", 60);
        }
        finally
        {
            if (!agent.HasExited) agent.Kill(entireProcessTree: true);
        }

        var straight = Items(first, directKey, start);
        var throughAgent = Items(second, readKey, start);
        Assert.True(straight.Count > 15_000, $"{straight.Count} items"); // one flow in ten is IPv6, outside the inventory
        Assert.Equal(straight.Count, throughAgent.Count);
        Assert.Equal(straight.Order(StringComparer.Ordinal), throughAgent.Order(StringComparer.Ordinal));
    }

    /// <summary>Flow rows a server stored: from its own sockets, and from agents.</summary>
    private static long StoredRows(ServeProcess serve) => serve.Get("/metrics").Split('\n')
        .Where(l => l.StartsWith("flowline_rows_stored_total ", StringComparison.Ordinal) || l.StartsWith("flowline_agent_flow_rows_total ", StringComparison.Ordinal))
        .Sum(l => long.Parse(l[(l.IndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));

    private static int FreeUdpPort()
    {
        using var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
    }

    internal static void Replay(List<byte[]> datagrams, int port)
    {
        using var sender = new UdpClient();
        sender.Connect(IPAddress.Loopback, port);
        for (var i = 0; i < datagrams.Count; i++)
        {
            sender.Send(datagrams[i]);
            if (i % 64 == 63) Thread.Sleep(1); // loopback sockets drop bursts beyond their buffer
        }
    }

    /// <summary>DescribeFlowLog's items over the capture's window, each as its JSON text, through `flowline describe-flow-logs`.</summary>
    private List<string> Items(ServeProcess serve, AccessKey key, DateTimeOffset start) => Items(_dir.FullName, serve, key, start);

    /// <summary>DescribeFlowLog's items over the window around <paramref name="start"/>, each as its JSON text, written to a file in <paramref name="dir"/>.</summary>
    internal static List<string> Items(string dir, ServeProcess serve, AccessKey key, DateTimeOffset start)
    {
        var output = Path.Combine(dir, $"items-{Guid.NewGuid():N}.json");
        var psi = FlowlineProcess.Flowline("describe-flow-logs", "-s", DescribeFlowLog.Format(start.AddMinutes(-1), ApiOptions.Ist),
            "-e", DescribeFlowLog.Format(start.AddMinutes(10), ApiOptions.Ist), "-o", output, "--endpoint", serve.Url);
        psi.Environment["FLOWLINE_ACCESS_KEY"] = key.Id;
        psi.Environment["FLOWLINE_SECRET_KEY"] = key.Secret;
        var run = FlowlineProcess.Run(psi, TimeSpan.FromMinutes(5));
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var doc = JsonDocument.Parse(File.ReadAllText(output));
        return doc.RootElement.GetProperty("DescribeFlowLogResponse").GetProperty("value").GetProperty("item").EnumerateArray()
            .Select(i => i.GetRawText()).ToList();
    }
}
