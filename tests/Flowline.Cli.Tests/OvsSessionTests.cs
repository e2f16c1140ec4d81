using System.Globalization;
using System.Text.Json;
using Xunit.Abstractions;

namespace Flowline.Cli.Tests;

/// <summary>
/// Sessions from a real Open vSwitch bridge's IPFIX (every packet sampled): an HTTP download over TCP, a
/// UDP exchange and ICMP echoes between two namespaces. `flowline sessions` must orient each from its
/// client to its server, with forward and reverse counts equal to the sums of the underlying one-way
/// flows, and its SessionEndpoints' aggregates must add up to exactly those flows.
/// </summary>
public sealed class OvsSessionTests(ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-ovs-sessions-");

    public void Dispose() => _dir.Delete(recursive: true);

    private const string UdpServer = """
        import socket, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((sys.argv[1], 9999))
        while True:
            data, peer = s.recvfrom(65535)
            s.sendto(bytes(2 * len(data)), peer)
        """;

    /// <summary>
    /// Sends 20 datagrams of 500 bytes from port 45000, each after the previous answer (sent again after 10 s
    /// without one); prints sent and answered, late answers to a datagram sent again included.
    /// </summary>
    private const string UdpClient = """
        import socket, sys, time
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((sys.argv[1], 45000))
        s.settimeout(10)
        sent = answered = 0
        deadline = time.time() + 60
        while answered < 20 and time.time() < deadline:
            s.sendto(bytes(500), (sys.argv[2], 9999))
            sent += 1
            try:
                s.recvfrom(65535)
                answered += 1
            except socket.timeout:
                pass
        s.settimeout(5)
        while answered < sent:
            try:
                s.recvfrom(65535)
                answered += 1
            except socket.timeout:
                break
        print(sent, answered)
        """;

    /// <summary>Five ICMP echo requests with 56 bytes of data; prints how many were answered.</summary>
    private const string Ping = """
        import socket, struct, sys, time
        def checksum(b):
            t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
            t = (t >> 16) + (t & 0xFFFF)
            t += t >> 16
            return ~t & 0xFFFF
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        s.settimeout(10)
        answered = 0
        for seq in range(5):
            body = bytes(56)
            c = checksum(struct.pack('!BBHHH', 8, 0, 0, 0x4242, seq) + body)
            s.sendto(struct.pack('!BBHHH', 8, 0, c, 0x4242, seq) + body, (sys.argv[1], 0))
            try:
                while True:
                    data, _ = s.recvfrom(2048)
                    if data[20] == 0 and struct.unpack('!HH', data[24:28]) == (0x4242, seq):
                        answered += 1
                        break
            except socket.timeout:
                pass
            time.sleep(0.1)
        print(answered)
        """;

    [Fact]
    public void TCP_UDP_and_ICMP_sessions_from_a_real_bridge_are_oriented_and_equal_their_flows()
    {
        using var lab = new OvsLab();
        var dataDir = Path.Combine(_dir.FullName, "data");
        // Serve sessionizes too (every 2 s, sampling off): its stored session rows must agree with the flows.
        using var serve = new ServeProcess(dataDir, "--sessions", "on");
        var configure = FlowlineProcess.Run(lab.WithLab(FlowlineProcess.Flowline("ovs", "configure", "--bridge", lab.Bridge,
            "--collector", "127.0.0.1", "--protocols", "ipfix", "--ipfix-port", serve.Ports["ipfix"].ToString(CultureInfo.InvariantCulture),
            "--sampling", "1", "--active-timeout", "5")));
        Assert.True(configure.ExitCode == 0, configure.Stderr);

        var work = Directory.CreateDirectory(Path.Combine(_dir.FullName, "work")).FullName;
        File.WriteAllBytes(Path.Combine(work, "file.bin"), new byte[700_000]);
        File.WriteAllText(Path.Combine(work, "udp_server.py"), UdpServer);
        File.WriteAllText(Path.Combine(work, "udp_client.py"), UdpClient);
        File.WriteAllText(Path.Combine(work, "ping.py"), Ping);
        var python = FlowlineProcess.Tool("python3");
        lab.StartIn(lab.B, work, python, "-m", "http.server", "8080", "--bind", lab.B.Address);
        lab.StartIn(lab.B, work, python, Path.Combine(work, "udp_server.py"), lab.B.Address);

        var curl = lab.In(lab.A, TimeSpan.FromMinutes(2), FlowlineProcess.Tool("curl"), "-s", "-o", "/dev/null", "--retry", "30", "--retry-connrefused",
            "--retry-delay", "1", "-w", "%{local_port} %{http_code}", $"http://{lab.B.Address}:8080/file.bin");
        var c = curl.Stdout.Split(' ');
        Assert.True(curl.ExitCode == 0 && c.Length == 2 && c[1] == "200", $"curl: {curl.Stdout} {curl.Stderr}");
        var curlPort = int.Parse(c[0], CultureInfo.InvariantCulture);
        var udp = lab.In(lab.A, TimeSpan.FromMinutes(2), python, Path.Combine(work, "udp_client.py"), lab.A.Address, lab.B.Address);
        var u = udp.Stdout.Trim().Split(' ');
        Assert.True(udp.ExitCode == 0 && u.Length == 2 && int.Parse(u[1], CultureInfo.InvariantCulture) >= 20, $"udp: {udp.Stdout} {udp.Stderr}");
        long udpSent = long.Parse(u[0], CultureInfo.InvariantCulture), udpAnswered = long.Parse(u[1], CultureInfo.InvariantCulture);
        var ping = lab.In(lab.A, TimeSpan.FromMinutes(1), python, Path.Combine(work, "ping.py"), lab.B.Address);
        Assert.True(ping.ExitCode == 0, ping.Stdout + ping.Stderr);
        var pingAnswered = long.Parse(ping.Stdout.Trim(), CultureInfo.InvariantCulture);
        Assert.True(pingAnswered >= 1, "no echo was answered");

        string report = "";
        bool Complete()
        {
            report = Check(dataDir, lab, curlPort, udpSent, udpAnswered, pingAnswered, final: false);
            return report.Length == 0;
        }
        try
        {
            ServeProcess.WaitFor(Complete, "the three sessions with all their flows", seconds: 90);
        }
        catch (TimeoutException)
        {
            Assert.Fail("the sessions are not complete:\n" + report);
        }
        Assert.Equal(0, serve.Terminate());
        var final = Check(dataDir, lab, curlPort, udpSent, udpAnswered, pingAnswered, final: true);
        Assert.True(final.Length == 0, final);
        var served = CheckServeSessions(dataDir, lab, curlPort, udpSent, udpAnswered, pingAnswered);
        Assert.True(served.Length == 0, served);
    }

    /// <summary>
    /// The session rows serve stored (one per session and interval, client to server): summed per session
    /// they must equal the one-way flows of each direction, and together every flow.
    /// </summary>
    private string CheckServeSessions(string dataDir, OvsLab lab, int curlPort, long udpSent, long udpAnswered, long pingAnswered)
    {
        var q = FlowlineProcess.RunFlowline(["query", "--data-dir", dataDir, "-A", "src_addr,src_port,dst_addr,dst_port,ip_proto", "-o", "csv",
            "flowdir ingress and (proto tcp or proto udp or proto icmp)"]);
        if (q.ExitCode != 0) return q.Stderr;
        var flows = q.Stdout.Split('\n').Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')).ToList();
        (long, long) FlowSum(string src, int sport, string dst, int dport, int proto) =>
            flows.Where(f => f[0] == src && f[1] == sport.ToString(CultureInfo.InvariantCulture) && f[2] == dst
                             && f[3] == dport.ToString(CultureInfo.InvariantCulture) && f[4] == proto.ToString(CultureInfo.InvariantCulture))
                .Aggregate((0L, 0L), (t, f) => (t.Item1 + long.Parse(f[5], CultureInfo.InvariantCulture), t.Item2 + long.Parse(f[6], CultureInfo.InvariantCulture)));

        var sessions = new Dictionary<(int Proto, string Client, int ClientPort, string Server, int ServerPort), ((long, long) Forward, (long, long) Reverse)>();
        var symbols = new Flowline.Storage.SymbolTable(dataDir, readOnly: true);
        using (var store = new Flowline.Storage.Embedded.EmbeddedStore(Path.Combine(dataDir, "sessions"),
                   new Flowline.Storage.Embedded.EmbeddedStoreOptions { ReadOnly = true, Symbols = symbols }))
        {
            foreach (var b in store.Scan(0, long.MaxValue, new Flowline.Query.FilterNode.Any()))
            {
                for (var i = 0; i < b.Count; i++)
                {
                    var r = b[i];
                    if (r.IpProto is not (1 or 6 or 17)) continue;
                    var key = ((int)r.IpProto, r.SrcAddr.ToString(), (int)r.SrcPort, r.DstAddr.ToString(), (int)r.DstPort);
                    var (f, v) = sessions.GetValueOrDefault(key);
                    sessions[key] = ((f.Item1 + (long)r.Bytes, f.Item2 + (long)r.Packets), (v.Item1 + (long)r.RevBytes, v.Item2 + (long)r.RevPackets));
                }
            }
        }
        var problems = new List<string>();
        string a = lab.A.Address, b2 = lab.B.Address;
        void Expect(string what, (int, string, int, string, int) key, (long, long) forward, (long, long) reverse)
        {
            if (!sessions.TryGetValue(key, out var got)) problems.Add($"serve: {what}: no session row {key}; rows for {string.Join(", ", sessions.Keys)}");
            else if (got != (forward, reverse)) problems.Add($"serve: {what}: forward/reverse {got}, expected {(forward, reverse)}");
        }
        Expect("tcp", (6, a, curlPort, b2, 8080), FlowSum(a, curlPort, b2, 8080, 6), FlowSum(b2, 8080, a, curlPort, 6));
        Expect("udp", (17, a, 45000, b2, 9999), (udpSent * 528, udpSent), (udpAnswered * 1028, udpAnswered));
        Expect("icmp", (1, a, 0, b2, 0), (5 * 84, 5), (pingAnswered * 84, pingAnswered));
        var flowBytes = flows.Sum(f => long.Parse(f[5], CultureInfo.InvariantCulture));
        var sessionBytes = sessions.Values.Sum(x => x.Forward.Item1 + x.Reverse.Item1);
        if (flowBytes != sessionBytes) problems.Add($"serve: the session rows hold {sessionBytes} bytes, the flows {flowBytes}");
        return string.Join('\n', problems);
    }

    private sealed record Flow(string Src, int SrcPort, string Dst, int DstPort, int Proto, long Bytes, long Packets);

    /// <summary>What is wrong with the stored sessions, or "" when every expectation holds.</summary>
    private string Check(string dataDir, OvsLab lab, int curlPort, long udpSent, long udpAnswered, long pingAnswered, bool final)
    {
        // Each packet once: Open vSwitch reports IPFIX at ingress and at egress. The flows are summed over the
        // ingress copies; the sessions leave out the egress copies by themselves (session observation, default ingress).
        const string Protocols = "proto tcp or proto udp or proto icmp";
        var q = FlowlineProcess.RunFlowline(["query", "--data-dir", dataDir, "-A", "src_addr,src_port,dst_addr,dst_port,ip_proto", "-o", "csv", $"flowdir ingress and ({Protocols})"]);
        if (q.ExitCode != 0) return q.Stderr;
        var flows = q.Stdout.Split('\n').Skip(1).Where(l => l.Length > 0).Select(l => l.Split(','))
            .Select(f => new Flow(f[0], int.Parse(f[1], CultureInfo.InvariantCulture), f[2], int.Parse(f[3], CultureInfo.InvariantCulture),
                int.Parse(f[4], CultureInfo.InvariantCulture), long.Parse(f[5], CultureInfo.InvariantCulture), long.Parse(f[6], CultureInfo.InvariantCulture)))
            .ToList();
        var s = FlowlineProcess.RunFlowline(["sessions", "--data-dir", dataDir, "-o", "json", Protocols]);
        if (s.ExitCode != 0) return s.Stderr;
        var sessions = JsonDocument.Parse(s.Stdout).RootElement.EnumerateArray().ToList();
        if (final) output.WriteLine(s.Stdout);
        var problems = new List<string>();
        string a = lab.A.Address, b = lab.B.Address;

        JsonElement? Find(int proto, string client, int clientPort, string server, int serverPort) =>
            sessions.Cast<JsonElement?>().FirstOrDefault(x => x!.Value.GetProperty("ip_proto").GetInt32() == proto
                && x.Value.GetProperty("client_addr").GetString() == client && x.Value.GetProperty("client_port").GetInt32() == clientPort
                && x.Value.GetProperty("server_addr").GetString() == server && x.Value.GetProperty("server_port").GetInt32() == serverPort);
        (long Bytes, long Packets) Sum(string src, int sport, string dst, int dport, int proto)
        {
            var matching = flows.Where(f => f.Src == src && f.SrcPort == sport && f.Dst == dst && f.DstPort == dport && f.Proto == proto).ToList();
            return (matching.Sum(f => f.Bytes), matching.Sum(f => f.Packets));
        }
        void Expect(string what, JsonElement? session, (long Bytes, long Packets) forward, (long Bytes, long Packets) reverse)
        {
            if (session is not { } x)
            {
                problems.Add($"{what}: no session from {a} to {b}");
                return;
            }
            var f = x.GetProperty("forward");
            var r = x.GetProperty("reverse");
            var got = ((f.GetProperty("bytes").GetInt64(), f.GetProperty("packets").GetInt64()), (r.GetProperty("bytes").GetInt64(), r.GetProperty("packets").GetInt64()));
            if (got != (forward, reverse)) problems.Add($"{what}: forward/reverse {got}, expected {(forward, reverse)}");
        }

        // TCP: the client's download; the sums of its two one-way flows, with the reply the larger.
        var tcpForward = Sum(a, curlPort, b, 8080, 6);
        var tcpReverse = Sum(b, 8080, a, curlPort, 6);
        if (tcpReverse.Bytes < 700_000) problems.Add($"tcp: only {tcpReverse.Bytes} bytes stored from the server so far");
        Expect("tcp", Find(6, a, curlPort, b, 8080), tcpForward, tcpReverse);
        // UDP: every datagram is 500 + 28 bytes of IP, every answer twice the payload (unfragmented).
        Expect("udp", Find(17, a, 45000, b, 9999), (udpSent * 528, udpSent), (udpAnswered * 1028, udpAnswered));
        // ICMP echo: 56 bytes of data + 8 + 20; the requester is the client.
        Expect("icmp", Find(1, a, 0, b, 0), (5 * 84, 5), (pingAnswered * 84, pingAnswered));

        // The SessionEndpoints: every aggregate is the sum of its sessions, and together they are every flow.
        var e = FlowlineProcess.RunFlowline(["sessions", "--data-dir", dataDir, "--endpoints", Protocols]);
        if (e.ExitCode != 0) return e.Stderr;
        long tx = 0, rx = 0, txPackets = 0, rxPackets = 0;
        foreach (var endpoint in JsonDocument.Parse(e.Stdout).RootElement.EnumerateArray())
        {
            if (!endpoint.GetProperty("is_client_session").GetBoolean()) problems.Add("an endpoint without a port is not its client's part");
            foreach (var aggregate in endpoint.GetProperty("sess_agg_info").EnumerateArray())
            {
                long sum = 0;
                foreach (var session in aggregate.GetProperty("sessionMap").EnumerateArray()) sum += session.GetProperty("sampled_tx_bytes").GetInt64();
                if (sum != aggregate.GetProperty("sampled_tx_bytes").GetInt64()) problems.Add($"aggregate {aggregate.GetProperty("local_ip")} tx {aggregate.GetProperty("sampled_tx_bytes")} is not the sum {sum} of its sessions");
                tx += aggregate.GetProperty("sampled_tx_bytes").GetInt64();
                rx += aggregate.GetProperty("sampled_rx_bytes").GetInt64();
                txPackets += aggregate.GetProperty("sampled_tx_pkts").GetInt64();
                rxPackets += aggregate.GetProperty("sampled_rx_pkts").GetInt64();
            }
        }
        var allBytes = flows.Sum(f => f.Bytes);
        var allPackets = flows.Sum(f => f.Packets);
        if (tx + rx != allBytes || txPackets + rxPackets != allPackets)
            problems.Add($"endpoints hold {tx + rx} bytes in {txPackets + rxPackets} packets, the flows {allBytes} in {allPackets}");
        return string.Join('\n', problems);
    }
}
