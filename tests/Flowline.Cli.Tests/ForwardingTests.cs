using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Flowline.Cli.Tests;

/// <summary>
/// sFlow-RT's forwarding sessions in a real serve: one receiver takes everything, one only an agent's
/// datagrams; each gets exactly its datagrams, byte for byte and in order; a deleted session's copies stop
/// at once, and the sessions come back after a restart.
/// </summary>
public sealed class ForwardingTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-forwarding-");
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public void Dispose() => _dir.Delete(recursive: true);

    private static (int Status, string Body) Send(HttpMethod method, string url, string? json = null)
    {
        using var request = new HttpRequestMessage(method, url);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = Http.Send(request);
        return ((int)response.StatusCode, response.Content.ReadAsStringAsync().GetAwaiter().GetResult());
    }

    private static UdpClient Receiver()
    {
        var r = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        r.Client.ReceiveBufferSize = 16 << 20;
        r.Client.ReceiveTimeout = 10_000;
        return r;
    }

    private static int Port(UdpClient c) => ((IPEndPoint)c.Client.LocalEndPoint!).Port;

    private static List<byte[]> ReceiveAll(UdpClient r, int count)
    {
        var from = new IPEndPoint(IPAddress.Any, 0);
        var list = new List<byte[]>();
        while (list.Count < count) list.Add(r.Receive(ref from));
        return list;
    }

    [Fact]
    public void Each_session_gets_exactly_its_datagrams_and_a_deleted_one_stops_at_once()
    {
        var pcap = Path.Combine(_dir.FullName, "sflow.pcap");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "sflow", "--count", "30000", "--seed", "2", "--pcap", pcap, "-q"]).ExitCode);
        // Two agents: the agent address of every third datagram is 192.0.2.77.
        var datagrams = AgentOutageTests.Datagrams(pcap, out _, out _);
        Assert.True(datagrams.Count >= 1000, $"{datagrams.Count} datagrams");
        for (var i = 0; i < datagrams.Count; i++)
        {
            Assert.Equal(1u, BinaryPrimitives.ReadUInt32BigEndian(datagrams[i].AsSpan(4)));
            if (i % 3 == 0) BinaryPrimitives.WriteUInt32BigEndian(datagrams[i].AsSpan(8), 0xC000024D);
        }
        var fromAgent = datagrams.Where((_, i) => i % 3 == 0).ToList();

        using var all = Receiver();
        using var one = Receiver();
        var data = Path.Combine(_dir.FullName, "data");
        var serve = new ServeProcess(data);
        try
        {
            Assert.Equal(200, Send(HttpMethod.Put, $"{serve.Url}/forwarding/all/json", $"{{\"address\": \"127.0.0.1\", \"port\": {Port(all)}}}").Status);
            Assert.Equal(200, Send(HttpMethod.Put, $"{serve.Url}/forwarding/agent77/json",
                $"{{\"address\": \"127.0.0.1\", \"port\": {Port(one)}, \"agents\": [\"192.0.2.77\"]}}").Status);
            // Bad requests name what is wrong.
            var bad = Send(HttpMethod.Put, $"{serve.Url}/forwarding/x/json", "{\"address\": \"nowhere\"}");
            Assert.Equal(400, bad.Status);
            Assert.Contains("not an IP address", bad.Body, StringComparison.Ordinal);
            Assert.Equal(400, Send(HttpMethod.Put, $"{serve.Url}/forwarding/x/json", "{\"address\": \"127.0.0.1\", \"port\": 0}").Status);
            Assert.Equal(404, Send(HttpMethod.Delete, $"{serve.Url}/forwarding/none/json").Status);

            using var sender = new UdpClient();
            sender.Connect(IPAddress.Loopback, serve.Ports["sflow"]);
            // Bursts of 100 datagrams, each burst received before the next leaves: as fast as the receivers
            // take them, within socket buffers of the system's default size.
            var gotAll = new List<byte[]>();
            var gotOne = new List<byte[]>();
            for (var i = 0; i < datagrams.Count; i += 100)
            {
                var burst = datagrams.Skip(i).Take(100).ToList();
                foreach (var d in burst) sender.Send(d);
                gotAll.AddRange(ReceiveAll(all, burst.Count));
                gotOne.AddRange(ReceiveAll(one, Enumerable.Range(i, burst.Count).Count(k => k % 3 == 0)));
            }
            Assert.Equal(datagrams.Count, gotAll.Count);
            for (var i = 0; i < datagrams.Count; i++) Assert.True(datagrams[i].AsSpan().SequenceEqual(gotAll[i]), $"datagram {i} differs");
            for (var i = 0; i < fromAgent.Count; i++) Assert.True(fromAgent[i].AsSpan().SequenceEqual(gotOne[i]), $"agent datagram {i} differs");
            using (var exporters = JsonDocument.Parse(serve.Get("/api/v1/exporters")))
            {
                Assert.Equal(0, exporters.RootElement.GetProperty("exporters").EnumerateArray().Sum(e => e.GetProperty("queue_drops").GetInt64()));
            }

            using (var list = JsonDocument.Parse(Send(HttpMethod.Get, $"{serve.Url}/forwarding/json").Body))
            {
                Assert.Equal(datagrams.Count, list.RootElement.GetProperty("all").GetProperty("datagrams").GetInt64());
                Assert.Equal(fromAgent.Count, list.RootElement.GetProperty("agent77").GetProperty("datagrams").GetInt64());
            }

            // Deleted: nothing more for it, while the other session goes on.
            Assert.Equal(200, Send(HttpMethod.Delete, $"{serve.Url}/forwarding/all/json").Status);
            foreach (var d in fromAgent.Take(50)) sender.Send(d);
            Assert.Equal(50, ReceiveAll(one, 50).Count);
            Assert.Equal(0, all.Available);
            Assert.Equal(404, Send(HttpMethod.Get, $"{serve.Url}/forwarding/all/json").Status);
            Assert.Equal(0, serve.Terminate());
        }
        finally
        {
            serve.Dispose();
        }

        // The remaining session is back after a restart.
        serve = new ServeProcess(data);
        try
        {
            using var list = JsonDocument.Parse(Send(HttpMethod.Get, $"{serve.Url}/forwarding/json").Body);
            Assert.Equal(["agent77"], list.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.Equal(Port(one), list.RootElement.GetProperty("agent77").GetProperty("port").GetInt32());
        }
        finally
        {
            serve.Dispose();
        }
    }
}
