using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Flowline.Records;
using Flowline.Storage;
using Flowline.Storage.Embedded;

namespace Flowline.Cli.Tests;

/// <summary>
/// Logged sessions to a real rsyslogd (UDP and TCP inputs, each written to its own file with the RFC 5424
/// fields apart): every session line serve logs reaches it once, as one message whose header rsyslog
/// parses and whose text is the session's JSON, the same lines serve writes to its JSON-lines file.
/// </summary>
public sealed class RsyslogSessionTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-rsyslog-");

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>rsyslogd with only the inputs of this test, each message as PRI|VERSION|TIME|HOST|APP|PROCID|MSGID|SD|MSG.</summary>
    internal static Process StartRsyslog(string d, int udpPort, int tcpPort)
    {
        var conf = Path.Combine(d, "rsyslog.conf");
        File.WriteAllText(conf, $$"""
            global(workDirectory="{{d}}" maxMessageSize="64k")
            module(load="imudp")
            module(load="imtcp")
            template(name="fields" type="list") {
              property(name="pri") constant(value="|") property(name="protocol-version") constant(value="|")
              property(name="timereported" dateFormat="rfc3339") constant(value="|") property(name="hostname") constant(value="|")
              property(name="app-name") constant(value="|") property(name="procid") constant(value="|") property(name="msgid") constant(value="|")
              property(name="structured-data") constant(value="|") property(name="msg") constant(value="\n")
            }
            ruleset(name="udp") { action(type="omfile" file="{{d}}/udp.log" template="fields") }
            ruleset(name="tcp") { action(type="omfile" file="{{d}}/tcp.log" template="fields") }
            input(type="imudp" address="127.0.0.1" port="{{udpPort}}" ruleset="udp" rcvbufSize="16m")
            input(type="imtcp" address="127.0.0.1" port="{{tcpPort}}" ruleset="tcp")
            """);
        var psi = FlowlineProcess.StartInfo(FlowlineProcess.Tool("rsyslogd"), "-n", "-f", conf, "-i", Path.Combine(d, "rsyslogd.pid"));
        var p = Process.Start(psi)!;
        p.StandardInput.Close();
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        return p;
    }

    private static string[] Lines(string path) => File.Exists(path) ? File.ReadAllLines(path) : [];

    /// <summary>Waits until a probe sent to each input has been written to its file.</summary>
    internal static void WaitListening(string udpLog, string tcpLog, int udpPort, int tcpPort)
    {
        using (var udp = new UdpClient())
        {
            ServeProcess.WaitFor(() =>
            {
                udp.Send("<14>1 - - probe - probe - ready"u8.ToArray(), new IPEndPoint(IPAddress.Loopback, udpPort));
                try
                {
                    using var tcp = new TcpClient("127.0.0.1", tcpPort);
                    var probe = "<14>1 - - probe - probe - ready"u8;
                    tcp.GetStream().Write(System.Text.Encoding.ASCII.GetBytes($"{probe.Length} "));
                    tcp.GetStream().Write(probe);
                }
                catch (SocketException)
                {
                    return false;
                }
                Thread.Sleep(200);
                return Lines(udpLog).Length > 0 && Lines(tcpLog).Length > 0;
            }, "rsyslogd listening", 30);
        }
    }

    [Fact]
    public void Logged_sessions_reach_a_real_rsyslog_over_UDP_and_TCP_one_parseable_line_each()
    {
        var pcap = Path.Combine(_dir.FullName, "export.pcap");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", "1500", "--seed", "5", "--pcap", pcap, "-q"]).ExitCode);
        var datagrams = AgentOutageTests.Datagrams(pcap, out _, out _);

        int udpPort, tcpPort = ServeProcess.FreeTcpPort();
        using (var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0))) udpPort = ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
        string udpLog = Path.Combine(_dir.FullName, "udp.log"), tcpLog = Path.Combine(_dir.FullName, "tcp.log");
        using var rsyslog = StartRsyslog(_dir.FullName, udpPort, tcpPort);
        try
        {
            WaitListening(udpLog, tcpLog, udpPort, tcpPort);

            var data = Path.Combine(_dir.FullName, "data");
            var file = Path.Combine(_dir.FullName, "logged.jsonl");
            var serve = new ServeProcess(data, "--sessions", "on", "--session-logging", "*", "--sampled-sessions-to", "store",
                "--logged-sessions-to", $"store,file:{file},syslog:udp://127.0.0.1:{udpPort},syslog:tcp://127.0.0.1:{tcpPort}");
            try
            {
                using var sender = new UdpClient();
                sender.Connect(IPAddress.Loopback, serve.Ports["ipfix"]);
                foreach (var d in datagrams) sender.Send(d);
                ServeProcess.WaitFor(() => serve.Records("ipfix") == 1500, "serve decoded the export", 60);
                Assert.Equal(0, serve.Terminate());
            }
            finally
            {
                serve.Dispose();
            }

            var logged = Lines(file);
            Assert.True(logged.Length >= 500, $"only {logged.Length} logged session lines");
            // Every logged row is also stored: the file holds exactly those rows.
            var symbols = new SymbolTable(data, readOnly: true);
            using (var store = new EmbeddedStore(Path.Combine(data, "sessions"), new EmbeddedStoreOptions { ReadOnly = true, Symbols = symbols }))
            {
                var stored = store.Rows(0, long.MaxValue, new Query.FilterNode.Any()).Count(r => (r.SessionFlags & SessionFlags.Logged) != 0);
                Assert.Equal(logged.Length, stored);
            }

            foreach (var (transport, path) in new[] { ("udp", udpLog), ("tcp", tcpLog) })
            {
                string[] Received() => Lines(path).Where(l => !l.Contains("|probe|", StringComparison.Ordinal)).ToArray();
                ServeProcess.WaitFor(() => Received().Length >= logged.Length, $"{transport}: {logged.Length} lines in rsyslog's file", 30);
                var received = Received();
                Assert.Equal(logged.Length, received.Length);
                var messages = new List<string>();
                foreach (var line in received)
                {
                    var f = line.Split('|', 9);
                    Assert.True(f.Length == 9, $"{transport}: not a parsed RFC 5424 message: {line}");
                    Assert.Equal(("134", "1", Environment.MachineName, "flowline", "session", "-"), (f[0], f[1], f[3], f[4], f[6], f[7]));
                    Assert.True(DateTimeOffset.TryParse(f[2], CultureInfo.InvariantCulture, DateTimeStyles.None, out _), $"{transport}: time {f[2]}");
                    Assert.True(int.TryParse(f[5], CultureInfo.InvariantCulture, out _), $"{transport}: procid {f[5]}");
                    using var json = JsonDocument.Parse(f[8]);
                    Assert.True(json.RootElement.GetProperty("logged").GetBoolean());
                    Assert.NotEmpty(json.RootElement.GetProperty("forward_flow_uuid").GetString()!);
                    messages.Add(f[8]);
                }
                // The same lines as the file's, each once.
                Assert.Equal(logged.Order(StringComparer.Ordinal), messages.Order(StringComparer.Ordinal));
            }
        }
        finally
        {
            if (!rsyslog.HasExited) rsyslog.Kill(entireProcessTree: true);
        }
    }
}
