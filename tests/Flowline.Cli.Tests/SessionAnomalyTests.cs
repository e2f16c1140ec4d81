using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Flowline.Api;
using Flowline.Sessions;
using Flowline.Wire;
using Flowline.Records;

namespace Flowline.Cli.Tests;

/// <summary>
/// Session rate anomalies in a real `flowline serve`: a port marked of_interest in the inventory, with a
/// learned history of a quiet port (restored from the data directory as after a restart), suddenly gets
/// hundreds of new sessions. The event must be readable through /api/v1/session-anomalies by the port's
/// account only, arrive at a syslog receiver, and be followed by a return to normal.
/// </summary>
public sealed class SessionAnomalyTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-anomaly-");
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public void Dispose() => _dir.Delete(recursive: true);

    private static (int Status, List<JsonElement> Lines) Get(ServeProcess serve, AccessKey key, string path, List<KeyValuePair<string, string>> query)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, serve.Url + path + "?" + string.Join('&', query.Select(kv => Signatures.Encode(kv.Key) + "=" + Signatures.Encode(kv.Value))));
        request.Headers.TryAddWithoutValidation("Authorization", Signatures.ApiAuthorization(key.Id, key.Secret, "GET", path, query, [], DateTimeOffset.UtcNow));
        using var response = Http.Send(request);
        var text = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
        if (!response.IsSuccessStatusCode) return ((int)response.StatusCode, [JsonDocument.Parse(text).RootElement.Clone()]);
        return (200, text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList());
    }

    [Fact]
    public void A_burst_of_new_sessions_at_a_port_of_interest_is_an_event_in_the_API_and_in_syslog_then_back_to_normal()
    {
        // The export: flows from ten clients to generated servers; the busiest IPv4 server becomes the watched port.
        var pcap = Path.Combine(_dir.FullName, "burst.pcap");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", "600", "--hosts", "10", "--seed", "3", "--pcap", pcap, "-q"]).ExitCode);
        var datagrams = AgentOutageTests.Datagrams(pcap, out _, out _);
        var batch = new FlowBatch(1024);
        var decoder = new FlowDecoder();
        foreach (var d in datagrams) decoder.Decode(d, FlowAddress.Parse("127.0.0.1"), 0, batch);
        var records = Enumerable.Range(0, batch.Count).Select(i => batch[i]).ToList();
        var server = records.Where(r => r.IpVersion == 4).GroupBy(r => r.DstAddr).MaxBy(g => g.Count())!;
        var sessions = server.Select(r => (r.SrcAddr, r.SrcPort, r.DstPort, r.IpProto)).Distinct().Count();
        Assert.True(sessions >= 100, $"only {sessions} sessions to {server.Key}");

        var data = Path.Combine(_dir.FullName, "data");
        var keys = KeyStore.Open(data);
        var tenant = keys.Create("acc-100000001", admin: false);
        var other = keys.Create("acc-100000002", admin: false);
        var inventory = Path.Combine(_dir.FullName, "inventory.yaml");
        File.WriteAllText(inventory, $$"""
            accounts:
              - {id: acc-100000001, name: A}
              - {id: acc-100000002, name: B}
            networks:
              - {name: "d:a:svc", account: acc-100000001, subnets: [172.16.0.0/12]}
              - {name: public, public: true}
            ports:
              - {uuid: vmi-watched, account: acc-100000001, network: "d:a:svc", ips: [{{server.Key}}], of_interest: true}
            """);
        var config = Path.Combine(_dir.FullName, "flowline.yaml");
        File.WriteAllText(config, "anomaly_bin: 10s\n");

        // What the port usually does: at most one new session in ten seconds, at every hour of the day (two days learned).
        var learned = new SessionRateWatch(new SessionRateWatchOptions { Bin = 10_000_000 });
        learned.Watch([("acc-100000001", "vmi-watched")]);
        var random = new Random(9);
        var t0 = DateTimeOffset.UtcNow.AddDays(-3).ToUnixTimeMilliseconds() * 1000;
        for (var bin = 0; bin < 2 * 8640; bin++)
        {
            var created = random.Next(4) == 0 ? new[] { ("acc-100000001", "vmi-watched") } : [];
            learned.Interval(t0 + bin * 10_000_000L + 5_000_000, created, null);
        }
        Directory.CreateDirectory(Path.Combine(data, "sessions"));
        var history = Path.Combine(data, "sessions", "session-rates.json");
        File.WriteAllText(history, learned.Save());
        var learnedBins = learned.Ports.Single().History;

        using var syslog = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var syslogPort = ((IPEndPoint)syslog.Client.LocalEndPoint!).Port;
        var messages = new List<string>();
        var receiving = new Thread(() =>
        {
            var from = new IPEndPoint(IPAddress.Any, 0);
            try
            {
                while (true)
                {
                    var m = Encoding.UTF8.GetString(syslog.Receive(ref from));
                    lock (messages) messages.Add(m);
                }
            }
            catch (SocketException)
            {
                // closed
            }
            catch (ObjectDisposedException)
            {
                // closed
            }
        }) { IsBackground = true };
        receiving.Start();

        var serve = new ServeProcess(data, "--config", config, "--inventory", inventory, "--anomaly-events-to", $"syslog:udp://127.0.0.1:{syslogPort}");
        try
        {
            ServeProcess.WaitFor(() => serve.Get("/metrics").Contains("flowline_session_rate_ports_watched 1", StringComparison.Ordinal), "the port watched", 30);
            var window = new List<KeyValuePair<string, string>>
            {
                new("from", DateTimeOffset.UtcNow.AddHours(-1).ToString("O", CultureInfo.InvariantCulture)),
                new("to", DateTimeOffset.UtcNow.AddHours(1).ToString("O", CultureInfo.InvariantCulture)),
            };
            Assert.Empty(Get(serve, tenant, "/api/v1/session-anomalies", window).Lines);

            using (var sender = new UdpClient())
            {
                sender.Connect(IPAddress.Loopback, serve.Ports["ipfix"]);
                foreach (var d in datagrams) sender.Send(d);
            }
            List<JsonElement> events = [];
            ServeProcess.WaitFor(() =>
            {
                events = Get(serve, tenant, "/api/v1/session-anomalies", window).Lines;
                return events.Any(e => e.GetProperty("kind").GetString() == "normal");
            }, "an abnormal rate and its end", 60);

            var high = events[0];
            Assert.Equal(("high", "acc-100000001", "vmi-watched"), (high.GetProperty("kind").GetString(), high.GetProperty("account").GetString(), high.GetProperty("vmi").GetString()));
            Assert.True(high.GetProperty("sessions").GetInt64() >= 50, high.ToString());
            Assert.True(high.GetProperty("expected").GetDouble() <= 1, high.ToString());
            Assert.Equal(10, high.GetProperty("bin_seconds").GetDouble());
            Assert.Equal("normal", events[^1].GetProperty("kind").GetString());

            // Another account sees none of it; bad parameters are refused.
            Assert.Equal((200, 0), (Get(serve, other, "/api/v1/session-anomalies", window) is var o ? (o.Status, o.Lines.Count) : default));
            Assert.Equal(400, Get(serve, tenant, "/api/v1/session-anomalies", [new("from", "yesterday")]).Status);

            // The same events reached syslog, RFC 5424 with MSGID anomaly.
            ServeProcess.WaitFor(() => { lock (messages) return messages.Count >= events.Count; }, "the events in syslog", 20);
            lock (messages)
            {
                Assert.All(messages, m => Assert.Matches(@"^<134>1 \S+ \S+ flowline \d+ anomaly - \{", m));
                Assert.Equal(events.Select(e => e.GetRawText()), messages.Select(m => m[(m.IndexOf(" - {", StringComparison.Ordinal) + 3)..]));
            }
            Assert.Equal(0, serve.Terminate());
        }
        finally
        {
            serve.Dispose();
            syslog.Dispose();
            receiving.Join(TimeSpan.FromSeconds(5));
        }

        // The history grew by the bins serve closed, and is kept for the next start.
        var after = new SessionRateWatch(new SessionRateWatchOptions { Bin = 10_000_000 });
        after.Load(File.ReadAllText(history));
        after.Watch([("acc-100000001", "vmi-watched")]);
        Assert.True(after.Ports.Single().History > learnedBins);
    }
}
