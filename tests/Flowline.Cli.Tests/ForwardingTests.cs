using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

using static Flowline.Cli.Tests.Rest;

namespace Flowline.Cli.Tests;

/// <summary>
/// sFlow-RT's forwarding sessions in a real serve: one receiver takes everything, one only an agent's
/// datagrams; each gets exactly its datagrams, byte for byte and in order; a deleted session's copies stop
/// at once, and the sessions come back after a restart.
/// </summary>
public sealed class ForwardingTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-forwarding-");

    public void Dispose() => _dir.Delete(recursive: true);

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
        var serve = new ServeProcess(data, "--realtime-open-on-loopback", "true");
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
            // Junk between the bursts (a truncated sFlow datagram, a bad version, noise): counted, never forwarded.
            byte[][] junk = [datagrams[0][..20], [0, 0, 0, 9, 1, 2, 3], [.. Enumerable.Range(0, 300).Select(b => (byte)(b * 7))]];
            for (var i = 0; i < datagrams.Count; i += 100)
            {
                var burst = datagrams.Skip(i).Take(100).ToList();
                foreach (var j in junk) sender.Send(j);
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
                Assert.True(exporters.RootElement.GetProperty("exporters").EnumerateArray().Sum(e => e.GetProperty("malformed").GetInt64()) >= junk.Length);
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
        serve = new ServeProcess(data, "--realtime-open-on-loopback", "true");
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

    /// <summary>Two tenants on one agent: ifIndex 11 and 13 (a port listed without an exporter) are acc-1's, 12 is acc-2's.</summary>
    private const string TenantInventory = """
        accounts: [{id: acc-1, name: One}, {id: acc-2, name: Two}]
        networks:
          - {name: "d:one:net", account: acc-1, subnets: [10.1.0.0/16]}
          - {name: "d:two:net", account: acc-2, subnets: [10.2.0.0/16]}
        ports:
          - {uuid: vmi-1a, account: acc-1, network: "d:one:net", mac: "02:00:00:00:01:0a", ips: [10.1.0.1], exporter: 192.0.2.1, ifindex: 11}
          - {uuid: vmi-1b, account: acc-1, network: "d:one:net", mac: "02:00:00:00:01:0b", ips: [10.1.0.2], ifindex: 13}
          - {uuid: vmi-2a, account: acc-2, network: "d:two:net", mac: "02:00:00:00:02:0a", ips: [10.2.0.1], exporter: 192.0.2.1, ifindex: 12}
        """;

    [Fact]
    public void A_tenant_session_gets_only_the_samples_of_its_accounts_interfaces_each_byte_for_byte()
    {
        var inventory = Path.Combine(_dir.FullName, "inventory.yaml");
        File.WriteAllText(inventory, TenantInventory);
        // Datagrams of up to five flow samples and one counter sample over ifIndex 11..15 (14 and 15 belong to no
        // one), from the agent 192.0.2.1; what acc-1 should get is worked out from what was encoded.
        var random = new Random(7);
        var encoder = new Flowline.Wire.Encoders.SFlowEncoder { Agent = Flowline.Records.FlowAddress.Parse("192.0.2.1") };
        var buffer = new byte[9000];
        var datagrams = new List<byte[]>();
        var expected = new List<byte[]>();
        var forTenant = new List<bool>();
        static bool Ours(uint ifIndex) => ifIndex is 11 or 13;
        for (var i = 0; i < 3000; i++)
        {
            var flows = Enumerable.Range(0, random.Next(0, 6)).Select(k =>
            {
                var r = Flowline.Wire.Tests.TestFlows.Tcp4((uint)(i * 8 + k));
                (r.InIf, r.OutIf, r.SamplingRate, r.SampledBytes) = ((uint)random.Next(11, 16), (uint)random.Next(11, 16), 100, 300);
                return r;
            }).ToArray();
            var counter = new Flowline.Records.CounterRecord
            {
                Enterprise = 0, Format = 1, SourceId = (uint)random.Next(11, 16), SampleSequence = (uint)i,
                Count = Flowline.Records.CounterSchema.GenericInterface.Names.Length,
            };
            var n = encoder.Encode(flows, [counter], buffer);
            var datagram = buffer.AsSpan(0, n).ToArray();
            datagrams.Add(datagram);
            // The encoder writes the flow samples in order, then the counter sample.
            var wanted = flows.Select(f => Ours(f.InIf) || Ours(f.OutIf)).Append(Ours(counter.SourceId)).ToArray();
            var header = datagram.AsSpan(0, 28).ToArray();
            var kept = new List<byte>(header);
            var offset = 28;
            for (var k = 0; k < wanted.Length; k++)
            {
                var length = 8 + (int)BinaryPrimitives.ReadUInt32BigEndian(datagram.AsSpan(offset + 4));
                if (wanted[k]) kept.AddRange(datagram.AsSpan(offset, length).ToArray());
                offset += length;
            }
            Assert.Equal(n, offset);
            forTenant.Add(wanted.Any(w => w));
            if (forTenant[^1])
            {
                var rewritten = kept.ToArray();
                BinaryPrimitives.WriteUInt32BigEndian(rewritten.AsSpan(24), (uint)wanted.Count(w => w));
                expected.Add(rewritten);
            }
        }
        Assert.InRange(expected.Count, 1000, datagrams.Count - 100);

        using var all = Receiver();
        using var tenant = Receiver();
        var serve = new ServeProcess(Path.Combine(_dir.FullName, "data"), "--inventory", inventory, "--realtime-open-on-loopback", "true");
        try
        {
            Assert.Equal(200, Send(HttpMethod.Put, $"{serve.Url}/forwarding/all/json", $"{{\"address\": \"127.0.0.1\", \"port\": {Port(all)}}}").Status);
            var put = Send(HttpMethod.Put, $"{serve.Url}/forwarding/one/json", $"{{\"address\": \"127.0.0.1\", \"port\": {Port(tenant)}, \"account\": \"acc-1\"}}");
            Assert.True(put.Status == 200, put.Body);
            var unknown = Send(HttpMethod.Put, $"{serve.Url}/forwarding/x/json", "{\"address\": \"127.0.0.1\", \"account\": \"acc-9\"}");
            Assert.Equal(400, unknown.Status);
            Assert.Contains("'acc-9' is not an account", unknown.Body, StringComparison.Ordinal);
            var netflow = Send(HttpMethod.Put, $"{serve.Url}/forwarding/x/json", "{\"address\": \"127.0.0.1\", \"account\": \"acc-1\", \"protocols\": [\"netflow\"]}");
            Assert.Equal(400, netflow.Status);
            Assert.Contains("only sFlow", netflow.Body, StringComparison.Ordinal);

            using var sender = new UdpClient();
            sender.Connect(IPAddress.Loopback, serve.Ports["sflow"]);
            var gotAll = new List<byte[]>();
            var gotTenant = new List<byte[]>();
            // Junk between the bursts (a truncated sFlow datagram, a bad version, noise): counted, never forwarded.
            byte[][] junk = [datagrams[0][..20], [0, 0, 0, 9, 1, 2, 3], [.. Enumerable.Range(0, 300).Select(b => (byte)(b * 7))]];
            for (var i = 0; i < datagrams.Count; i += 100)
            {
                var burst = datagrams.Skip(i).Take(100).ToList();
                foreach (var j in junk) sender.Send(j);
                foreach (var d in burst) sender.Send(d);
                gotAll.AddRange(ReceiveAll(all, burst.Count));
                gotTenant.AddRange(ReceiveAll(tenant, Enumerable.Range(i, burst.Count).Count(k => forTenant[k])));
            }
            for (var i = 0; i < datagrams.Count; i++) Assert.True(datagrams[i].AsSpan().SequenceEqual(gotAll[i]), $"datagram {i} differs");
            Assert.Equal(expected.Count, gotTenant.Count);
            for (var i = 0; i < expected.Count; i++) Assert.True(expected[i].AsSpan().SequenceEqual(gotTenant[i]), $"tenant datagram {i} differs");
            using (var one = JsonDocument.Parse(Send(HttpMethod.Get, $"{serve.Url}/forwarding/one/json").Body))
            {
                Assert.Equal("acc-1", one.RootElement.GetProperty("account").GetString());
                Assert.Equal(expected.Count, one.RootElement.GetProperty("datagrams").GetInt64());
                Assert.Equal(datagrams.Count - expected.Count, one.RootElement.GetProperty("skipped").GetInt64());
            }

            // Removed: the next datagrams reach the other receiver only.
            Assert.Equal(200, Send(HttpMethod.Delete, $"{serve.Url}/forwarding/one/json").Status);
            var more = datagrams.Where((_, k) => forTenant[k]).Take(50).ToList();
            foreach (var d in more) sender.Send(d);
            Assert.Equal(50, ReceiveAll(all, 50).Count);
            Assert.Equal(0, tenant.Available);
            Assert.Equal(0, serve.Terminate());
        }
        finally
        {
            serve.Dispose();
        }
    }
}
