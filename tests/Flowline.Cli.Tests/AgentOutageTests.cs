using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Flowline.Api;
using Flowline.Storage;
using Flowline.Storage.Embedded;
using Flowline.Wire;
using Flowline.Wire.Capture;
using Flowline.Records;

namespace Flowline.Cli.Tests;

/// <summary>
/// `flowline agent` against a real `flowline serve` that is stopped for 30 s while the agent keeps receiving:
/// once the collector is back, every byte the exporter reported is in the stored sessions, none twice.
/// </summary>
public sealed class AgentOutageTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-agent-");

    public void Dispose() => _dir.Delete(recursive: true);

    internal static List<byte[]> Datagrams(string pcap, out ulong bytes, out ulong packets)
    {
        var list = new List<byte[]>();
        var decoder = new FlowDecoder();
        var batch = new FlowBatch(1024);
        using var reader = CaptureReader.Open(pcap);
        while (reader.TryRead(out var d))
        {
            list.Add(d.Payload.ToArray());
            decoder.Decode(d.Payload, d.Src, 0, batch);
        }
        (bytes, packets) = (0, 0);
        for (var i = 0; i < batch.Count; i++) (bytes, packets) = (bytes + batch.Bytes[i], packets + batch.Packets[i]);
        return list;
    }

    /// <summary>Batches in an agent's backlog.</summary>
    internal static IEnumerable<string> Waiting(string backlog) =>
        Directory.EnumerateFiles(backlog, "batch-*").Where(f => f.EndsWith(".flb", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal));

    [Fact]
    public void A_collector_away_for_30_seconds_loses_no_session_data()
    {
        var data = Path.Combine(_dir.FullName, "data");
        var key = KeyStore.Open(data).Create("acc-100000001", admin: false, agent: "node-a");
        var secret = Path.Combine(_dir.FullName, "secret");
        File.WriteAllText(secret, key.Secret);
        var pcap = Path.Combine(_dir.FullName, "export.pcap");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", "6000", "--seed", "21", "--pcap", pcap, "-q"]).ExitCode);
        var datagrams = Datagrams(pcap, out var trueBytes, out var truePackets);
        Assert.True(trueBytes > 0 && datagrams.Count > 10);

        var http = ServeProcess.FreeTcpPort();
        string[] serveArgs = ["--sessions", "on", "--http", $"127.0.0.1:{http}"];
        var serve = new ServeProcess(data, serveArgs);
        int agentPort;
        using (var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0))) agentPort = ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
        var backlog = Path.Combine(_dir.FullName, "backlog");
        using var agent = Process.Start(FlowlineProcess.Flowline("agent", "--collector", $"http://127.0.0.1:{http}", "--key-id", key.Id,
            "--secret-file", secret, "--ipfix", $"127.0.0.1:{agentPort}", "--interval", "1s", "--backlog", backlog, "--name", "node-a"))!;
        var agentErrors = new System.Text.StringBuilder();
        agent.ErrorDataReceived += (_, e) => { lock (agentErrors) agentErrors.AppendLine(e.Data); };
        agent.BeginErrorReadLine();
        agent.StandardInput.Close();
        _ = agent.StandardOutput.ReadToEndAsync();
        ServeProcess.WaitFor(() => { lock (agentErrors) return agentErrors.ToString().Contains("ipfix on udp", StringComparison.Ordinal); }, "the agent listening");
        try
        {
            var half = datagrams.Count / 2;
            AgentFlowLogTests.Replay(datagrams[..half], agentPort);
            ServeProcess.WaitFor(() => Waiting(backlog).Any() == false
                                       && File.Exists(Path.Combine(data, "sessions", "agents.json")), "the first batches stored", 30);

            // The collector goes away; the agent keeps receiving and keeps its batches.
            Assert.Equal(0, serve.Terminate());
            serve.Dispose();
            var away = Stopwatch.StartNew();
            AgentFlowLogTests.Replay(datagrams[half..], agentPort);
            ServeProcess.WaitFor(() => Waiting(backlog).Any(), "batches waiting in the backlog", 30);
            var rest = TimeSpan.FromSeconds(30) - away.Elapsed;
            if (rest > TimeSpan.Zero) Thread.Sleep(rest);
            Assert.True(Waiting(backlog).Any());

            serve = new ServeProcess(data, serveArgs);
            ServeProcess.WaitFor(() => !Waiting(backlog).Any(), "the backlog delivered", 60);
            Assert.Equal(0, serve.Terminate());
        }
        finally
        {
            serve.Dispose();
            if (!agent.HasExited) agent.Kill(entireProcessTree: true);
        }
        lock (agentErrors) Assert.Contains("the collector is back", agentErrors.ToString(), StringComparison.Ordinal);

        var symbols = new SymbolTable(data, readOnly: true);
        using var store = new EmbeddedStore(Path.Combine(data, "sessions"), new EmbeddedStoreOptions { ReadOnly = true, Symbols = symbols });
        ulong bytes = 0, packets = 0;
        foreach (var b in store.Scan(0, long.MaxValue, new Query.FilterNode.Any()))
        {
            for (var i = 0; i < b.Count; i++)
            {
                bytes += b.Bytes[i] + b.RevBytes[i];
                packets += b.Packets[i] + b.RevPackets[i];
            }
        }
        Assert.Equal(trueBytes, bytes);
        Assert.Equal(truePackets, packets);
    }
}
