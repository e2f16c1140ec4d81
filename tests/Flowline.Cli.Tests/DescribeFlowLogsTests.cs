using System.Diagnostics;
using System.Text.Json;
using Flowline.Api;
using Flowline.Storage.Embedded;
using Flowline.Records;

namespace Flowline.Cli.Tests;

/// <summary>`flowline describe-flow-logs` against a real `flowline serve`: one file, every flow once, and resumable.</summary>
public sealed class DescribeFlowLogsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-dfl-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Six_hours_come_back_whole_and_an_interrupted_run_resumes_to_the_same_file()
    {
        var data = Path.Combine(_dir.FullName, "data");
        var start = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 3600 * 3600 - 7 * 3600);
        var expected = new HashSet<(long, ushort)>();
        using (var store = new EmbeddedStore(data))
        {
            var ids = new Dictionary<string, uint>();
            uint Id(string name) => ids.TryGetValue(name, out var id) ? id : ids[name] = store.Symbols.Intern(name);
            var batch = new FlowBatch();
            var random = new Random(7);
            // 6.5 hours of flows, a few a second, most of acc-a, some of acc-b; those of the 6 hours asked for are expected.
            for (var i = 0; i < 60_000; i++)
            {
                var account = random.Next(5) == 0 ? "acc-b" : "acc-a";
                var setup = start.ToUnixTimeMilliseconds() * 1000 + (long)(random.NextDouble() * 6.5 * 3600e6);
                var sport = (ushort)(1024 + i % 60000);
                batch.Add(new FlowRecord
                {
                    TimeReceived = setup, Start = setup, End = setup + 1_000_000, Protocol = FlowProtocol.Ipfix, IpVersion = 4, IpProto = 6,
                    SrcAddr = FlowAddress.FromV4(0x0A000001), DstAddr = FlowAddress.FromV4(0x0A000002), SrcPort = sport, DstPort = 443,
                    Bytes = 100, Packets = 1, Account = Id(account), VmiDirection = VmiDirections.Egress, Action = FlowAction.Pass,
                });
                if (account == "acc-a" && setup < start.AddHours(6).ToUnixTimeMilliseconds() * 1000) expected.Add((setup, sport));
            }
            store.Append(batch);
            store.Flush();
        }
        var key = KeyStore.Open(data).Create("acc-a", admin: false);
        using var serve = new ServeProcess(data);
        string[] Args(string output) =>
        [
            "describe-flow-logs", "-s", DescribeFlowLog.Format(start, ApiOptions.Ist), "-e", DescribeFlowLog.Format(start.AddHours(6), ApiOptions.Ist),
            "-o", output, "--endpoint", serve.Url, "--window", "1", "--parallel", "1",
        ];
        ProcessStartInfo Client(string output)
        {
            var psi = FlowlineProcess.Flowline(Args(output));
            psi.Environment["FLOWLINE_ACCESS_KEY"] = key.Id;
            psi.Environment["FLOWLINE_SECRET_KEY"] = key.Secret;
            return psi;
        }

        var whole = Path.Combine(_dir.FullName, "whole.json");
        var first = FlowlineProcess.Run(Client(whole), TimeSpan.FromMinutes(5));
        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Contains("100.0%", first.Stderr, StringComparison.Ordinal);
        using (var doc = JsonDocument.Parse(File.ReadAllText(whole)))
        {
            var items = doc.RootElement.GetProperty("DescribeFlowLogResponse").GetProperty("value").GetProperty("item").EnumerateArray()
                .Select(i => (long.Parse(i.GetProperty("setupTime").GetString()!), ushort.Parse(i.GetProperty("sport").GetString()!))).ToList();
            Assert.Equal(items.Count, items.Distinct().Count()); // no duplicates
            Assert.Equal(expected.Count, items.Count); // no gaps
            Assert.True(expected.SetEquals(items));
            Assert.Equal(items.OrderBy(i => i.Item1), items.Select(i => i).OrderBy(i => i.Item1)); // by setup time
        }
        Assert.False(Directory.Exists(whole + ".parts"));

        // The same question again, killed once a few windows are in, then run to its end. Each window's part is
        // written with a rename, held 50 ms, so the first run cannot end between the count and the kill.
        var resumed = Path.Combine(_dir.FullName, "resumed.json");
        using (var p = Process.Start(FlowlineProcess.RenamesHeld(Client(resumed), 50))!)
        {
            p.StandardInput.Close();
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            var parts = resumed + ".parts";
            var deadline = Stopwatch.StartNew();
            while (!p.HasExited && (!Directory.Exists(parts) || Directory.GetFiles(parts, "*.ndjson").Length < 20) && deadline.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(10);
            Assert.False(p.HasExited, "the client finished before it could be interrupted");
            FlowlineProcess.KillAll(p);
            Assert.InRange(Directory.GetFiles(parts, "*.ndjson").Length, 20, 359);
        }
        Assert.False(File.Exists(resumed));
        var second = FlowlineProcess.Run(Client(resumed), TimeSpan.FromMinutes(5));
        Assert.True(second.ExitCode == 0, second.Stderr);
        Assert.Equal(File.ReadAllBytes(whole), File.ReadAllBytes(resumed));
    }

    [Fact]
    public void Missing_credentials_and_bad_times_are_explained()
    {
        var psi = FlowlineProcess.Flowline("describe-flow-logs", "-s", "08-11-2016 16:30:00", "-e", "08-11-2016 17:35:02");
        psi.Environment.Remove("FLOWLINE_ACCESS_KEY");
        psi.Environment.Remove("ACCESS_KEY");
        var r = FlowlineProcess.Run(psi);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no access key", r.Stderr, StringComparison.Ordinal);
        r = FlowlineProcess.RunFlowline(["describe-flow-logs", "-s", "2016-11-08", "-e", "08-11-2016 17:35:02"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("is not dd-mm-yyyy hh:mm:ss", r.Stderr, StringComparison.Ordinal);
        r = FlowlineProcess.RunFlowline(["describe-flow-logs", "-s", "08-11-2016 16:30:00", "-e", "08-11-2016 17:35:02", "-a", "acc-1"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("-a needs -d", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Over_https_the_client_trusts_the_given_certificate_and_refuses_an_unknown_one_at_once()
    {
        var cert = Path.Combine(_dir.FullName, "cert.pem");
        var keyFile = Path.Combine(_dir.FullName, "key.pem");
        var openssl = FlowlineProcess.Run(FlowlineProcess.StartInfo(FlowlineProcess.Tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", keyFile, "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"));
        Assert.True(openssl.ExitCode == 0, openssl.Stderr);

        var data = Path.Combine(_dir.FullName, "data");
        var start = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 3600 * 3600 - 3600);
        using (var store = new EmbeddedStore(data))
        {
            var account = store.Symbols.Intern("acc-a");
            var batch = new FlowBatch();
            for (var i = 0; i < 100; i++)
            {
                var t = start.ToUnixTimeMilliseconds() * 1000 + i * 1_000_000L;
                batch.Add(new FlowRecord
                {
                    TimeReceived = t, Start = t, End = t + 1, Protocol = FlowProtocol.Ipfix, IpVersion = 4, IpProto = 17, SrcAddr = FlowAddress.FromV4(0x0A000001),
                    DstAddr = FlowAddress.FromV4(0x0A000002), SrcPort = (ushort)(2000 + i), DstPort = 53, Bytes = 80, Packets = 1, Account = account,
                    VmiDirection = VmiDirections.Egress, Action = FlowAction.Pass,
                });
            }
            store.Append(batch);
        }
        var key = KeyStore.Open(data).Create("acc-a", admin: false);

        var bad = FlowlineProcess.RunFlowline(["serve", "--data-dir", data, "--sflow", "127.0.0.1:0", "--netflow", "127.0.0.1:0", "--ipfix", "127.0.0.1:0",
            "--http", "127.0.0.1:0", "--tls-cert", Path.Combine(_dir.FullName, "missing.pem")]);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("the TLS certificate", bad.Stderr, StringComparison.Ordinal);

        using var serve = new ServeProcess(data, "--tls-cert", cert, "--tls-key", keyFile);
        Assert.Contains("http on https://127.0.0.1:", serve.Errors, StringComparison.Ordinal);
        var url = serve.Url.Replace("http://", "https://", StringComparison.Ordinal);
        ProcessStartInfo Client(string output, params string[] extra)
        {
            var psi = FlowlineProcess.Flowline(["describe-flow-logs", "-s", DescribeFlowLog.Format(start, ApiOptions.Ist), "-e", DescribeFlowLog.Format(start.AddMinutes(30), ApiOptions.Ist),
                "-o", output, "--endpoint", url, "-q", .. extra]);
            psi.Environment["FLOWLINE_ACCESS_KEY"] = key.Id;
            psi.Environment["FLOWLINE_SECRET_KEY"] = key.Secret;
            psi.Environment.Remove("FLOWLINE_CA_CERT");
            return psi;
        }
        var output = Path.Combine(_dir.FullName, "tls.json");
        var ok = FlowlineProcess.Run(Client(output, "--ca-cert", cert), TimeSpan.FromMinutes(2));
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        using (var doc = JsonDocument.Parse(File.ReadAllText(output)))
        {
            Assert.Equal(100, doc.RootElement.GetProperty("DescribeFlowLogResponse").GetProperty("value").GetProperty("item").GetArrayLength());
        }
        var untrusted = FlowlineProcess.Run(Client(Path.Combine(_dir.FullName, "untrusted.json")), TimeSpan.FromMinutes(2));
        Assert.Equal(1, untrusted.ExitCode);
        Assert.Contains("is not trusted", untrusted.Stderr, StringComparison.Ordinal);
        // Nothing fetched: nothing kept to resume from.
        Assert.False(Directory.Exists(Path.Combine(_dir.FullName, "untrusted.json.parts")));
        Assert.DoesNotContain("run the same command again", untrusted.Stderr, StringComparison.Ordinal);
    }
}
