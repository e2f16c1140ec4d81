using System.Diagnostics;
using Flowline.Storage;
using Flowline.Storage.Embedded;

namespace Flowline.Cli.Tests;

/// <summary>
/// `flowline serve` with a session table far smaller than the conversations it is sent: sessions are
/// forgotten and exported early (and counted), and the stored sessions still hold every byte the flows do.
/// </summary>
public sealed class SessionPressureTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-session-pressure-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void A_full_session_table_loses_no_byte()
    {
        var data = Path.Combine(_dir.FullName, "data");
        var port = ServeProcess.FreeTcpPort();
        using var serve = new ServeProcess(data, "--sessions", "on", "--session-max-open", "1000", "--session-export-rate", "0", "--ipfix", $"127.0.0.1:{port}");
        ServeProcess.WaitFor(() => ServeProcess.UdpBound(port), "serve's IPFIX socket", 30);
        var start = DateTimeOffset.UtcNow.AddMinutes(-5).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        var gen = FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", "120000", "--rate", "20000", "--hosts", "50000", "--seed", "9",
            "--start", start, "--target", $"udp://127.0.0.1:{port}", "-q"]);
        Assert.True(gen.ExitCode == 0, gen.Stderr);
        ServeProcess.WaitFor(() => serve.Records("ipfix") == 120_000, "120,000 records at serve", 60);
        double Metric(string name) => double.Parse(serve.Get("/metrics").Split('\n').First(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        ServeProcess.WaitFor(() => Metric("flowline_sessions_evicted_total") + Metric("flowline_sessions_exported_early_total") > 0, "sessions forgotten or exported early", 30);
        Assert.Equal(0, Metric("flowline_session_records_dropped_total"));
        Assert.True(Metric("flowline_session_table_bytes") < 4 << 20, $"{Metric("flowline_session_table_bytes")} bytes of session table for 1,000 sessions");
        Assert.Equal(0, serve.Terminate());
        Assert.Contains("records stored", serve.Errors, StringComparison.Ordinal);

        var symbols = new SymbolTable(data, readOnly: true);
        ulong Sum(string dir, bool sessions)
        {
            using var store = new EmbeddedStore(dir, new EmbeddedStoreOptions { ReadOnly = true, Symbols = symbols });
            ulong bytes = 0;
            foreach (var b in store.Scan(0, long.MaxValue, new Query.FilterNode.Any()))
            {
                for (var i = 0; i < b.Count; i++) bytes += b.Bytes[i] + (sessions ? b.RevBytes[i] : 0);
            }
            return bytes;
        }
        var flowBytes = Sum(data, sessions: false);
        Assert.True(flowBytes > 0);
        Assert.Equal(flowBytes, Sum(Path.Combine(data, "sessions"), sessions: true));
    }

    [Fact]
    public void Above_the_input_rate_one_session_in_N_is_held_and_the_stored_sessions_still_estimate_every_byte()
    {
        var data = Path.Combine(_dir.FullName, "data");
        var port = ServeProcess.FreeTcpPort();
        using var serve = new ServeProcess(data, "--sessions", "on", "--session-input-rate", "2000", "--session-export-rate", "0", "--ipfix", $"127.0.0.1:{port}");
        ServeProcess.WaitFor(() => ServeProcess.UdpBound(port), "serve's IPFIX socket", 30);
        var start = DateTimeOffset.UtcNow.AddMinutes(-5).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        // Every record a conversation of its own: 20,000 new sessions a second against 2,000.
        double Metric(string name) => double.Parse(serve.Get("/metrics").Split('\n').First(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        // The sampling follows the rate as it is now: it is read while the traffic lasts.
        var sampling = 0.0;
        using (var gen = Process.Start(FlowlineProcess.Flowline("gen", "--protocol", "ipfix", "--count", "160000", "--rate", "20000", "--public-servers", "--seed", "4",
                   "--start", start, "--target", $"udp://127.0.0.1:{port}", "-q"))!)
        {
            gen.StandardInput.Close();
            _ = gen.StandardOutput.ReadToEndAsync();
            ServeProcess.WaitFor(() => (sampling = Metric("flowline_session_input_sampling")) is >= 8 and <= 32 || gen.HasExited, "input sampling of 1 in 8 to 32", 60);
            var genErrors = gen.StandardError.ReadToEnd(); // -q: a line at most, until the generator ends
            Assert.True(gen.WaitForExit(120_000));
            Assert.True(gen.ExitCode == 0, genErrors);
        }
        Assert.InRange(sampling, 8, 32);
        ServeProcess.WaitFor(() => serve.Records("ipfix") == 160_000, "160,000 records at serve", 60);
        ServeProcess.WaitFor(() => Metric("flowline_session_records_sampled_out_total") > 50_000, "records left out by the input sampling", 30);
        Assert.Equal(0, Metric("flowline_session_records_dropped_total"));
        ServeProcess.WaitFor(() => Metric("flowline_records_stored_total") == 160_000, "160,000 records stored", 60);
        var sampledOut = Metric("flowline_session_records_sampled_out_total");
        Assert.Equal(0, serve.Terminate());
        Assert.Contains("sessions/input-sampling input sampling now 1 in", serve.Errors, StringComparison.Ordinal);

        var symbols = new SymbolTable(data, readOnly: true);
        (double Bytes, long Rows) Sum(string dir, bool sessions)
        {
            using var store = new EmbeddedStore(dir, new EmbeddedStoreOptions { ReadOnly = true, Symbols = symbols });
            double bytes = 0;
            long rows = 0;
            foreach (var b in store.Scan(0, long.MaxValue, new Query.FilterNode.Any()))
            {
                rows += b.Count;
                for (var i = 0; i < b.Count; i++) bytes += b.Bytes[i] + (sessions ? b.RevBytes[i] : 0);
            }
            return (bytes, rows);
        }
        var flows = Sum(data, sessions: false);
        var held = Sum(Path.Combine(data, "sessions"), sessions: true);
        Assert.Equal(160_000, flows.Rows);
        // Nearly every record is a conversation of its own: each one not left out by the sampling is a session
        // (a few share one). How many were left out depends on how soon the sampling engaged (the machine's
        // load), not on a fixed share.
        var kept = 160_000 - (long)sampledOut;
        Assert.InRange(held.Rows, kept * 99 / 100, kept);
        Assert.InRange(held.Rows, 160_000 / 64, 160_000 / 2);
        // The held sessions' scaled bytes estimate the flows' (one in 8 to 32 held: a few percent of error).
        Assert.InRange(held.Bytes / flows.Bytes, 0.85, 1.15);
    }
}
