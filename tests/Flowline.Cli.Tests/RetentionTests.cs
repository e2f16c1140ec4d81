using System.Diagnostics;
using System.Globalization;

namespace Flowline.Cli.Tests;

/// <summary>Retention applied by `flowline serve` on its own, and what a kill in the middle of it leaves.</summary>
public sealed class RetentionTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-retention-");

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>Flows from `flowline gen` at RATE a second of flow time from START, imported without compaction.</summary>
    private string Imported(int flows, int rate, DateTime start)
    {
        var pcap = Path.Combine(_dir.FullName, "g.pcap");
        var data = Path.Combine(_dir.FullName, "data");
        var gen = FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", flows.ToString(CultureInfo.InvariantCulture),
            "--rate", rate.ToString(CultureInfo.InvariantCulture), "--start", start.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), "--pcap", pcap, "-q"]);
        Assert.True(gen.ExitCode == 0, gen.Stderr);
        var import = FlowlineProcess.RunFlowline(["import", "--pcap", pcap, "--data-dir", data, "--no-compact"]);
        Assert.True(import.ExitCode == 0, import.Stderr);
        return data;
    }

    /// <summary>The partitions on disk: their start times, from the day and HHmm directories (a day retention removes meanwhile counts as empty).</summary>
    private static List<DateTime> Partitions(string data) =>
        Directory.EnumerateDirectories(data).Where(d => Path.GetFileName(d).Length == 8 && Path.GetFileName(d).All(char.IsAsciiDigit))
            .SelectMany(Children)
            .Select(d => DateTime.ParseExact(Path.GetFileName(Path.GetDirectoryName(d)!) + Path.GetFileName(d), "yyyyMMddHHmm", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal))
            .Order().ToList();

    private static List<string> Children(string day)
    {
        try
        {
            return Directory.EnumerateDirectories(day).ToList();
        }
        catch (DirectoryNotFoundException)
        {
            return [];
        }
    }

    [Fact]
    public void Serve_removes_the_partitions_older_than_its_retention_while_it_runs_and_says_so()
    {
        // The last 40 minutes of flows (8 or 9 partitions), with a retention of two partitions' worth.
        var now = DateTime.UtcNow;
        var start = new DateTime(now.Ticks / TimeSpan.TicksPerMinute * TimeSpan.TicksPerMinute, DateTimeKind.Utc).AddMinutes(-40);
        var data = Imported(40 * 60 * 10, 10, start);
        var before = Partitions(data);
        Assert.True(before.Count >= 8, $"{before.Count} partitions");

        using var serve = new ServeProcess(data, "--retention", "10m");
        ServeProcess.WaitFor(() => serve.Errors.Contains("store/retention removed", StringComparison.Ordinal), "a retention pass that removes partitions", 60);
        var cutoff = DateTime.UtcNow.AddMinutes(-10);
        var after = Partitions(data);
        Assert.NotEmpty(after);
        Assert.All(after, p => Assert.True(p.AddMinutes(5) > cutoff.AddMinutes(-1), $"partition {p:HH:mm} ended before the retention window"));
        Assert.True(before.Count - after.Count >= 5, $"{before.Count} partitions before, {after.Count} after");
        var metrics = serve.Get("/metrics");
        var expired = metrics.Split('\n').Single(l => l.StartsWith("flowline_retention_partitions_expired_total{store=\"flows\"}", StringComparison.Ordinal));
        Assert.Equal(before.Count - after.Count, long.Parse(expired.Split(' ')[1], CultureInfo.InvariantCulture));
        // Stored before serve started, they did not arrive expired.
        Assert.DoesNotContain("expired-on-arrival", serve.Errors, StringComparison.Ordinal);
        // What is left answers queries: the flows of the partitions kept, every one of them (asked again if
        // the next pass, a minute later, removed another partition meanwhile).
        for (var attempt = 0; ; attempt++)
        {
            var kept = Partitions(data);
            var q = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-A", "ip_proto", "-o", "csv"]);
            Assert.True(q.ExitCode == 0, q.Stderr);
            if (!kept.SequenceEqual(Partitions(data)) && attempt < 3) continue;
            var flows = q.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Sum(l => long.Parse(l.Split(',')[^1], CultureInfo.InvariantCulture));
            Assert.Equal(kept.Sum(p => (long)(Math.Min((p.AddMinutes(5) - start).TotalSeconds, 2400) - Math.Max((p - start).TotalSeconds, 0)) * 10), flows);
            break;
        }
    }

    [Fact]
    public void Flows_that_arrive_older_than_the_retention_are_called_out_when_retention_removes_them()
    {
        // gen dates its flows 2026-11-19 by default: sent to a serve keeping 10 minutes, they are stored and dropped
        // at the next pass, which must say why rather than only "removed".
        using var serve = new ServeProcess(Path.Combine(_dir.FullName, "data"), "--retention", "10m");
        var gen = FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", "2000", "--target", $"udp://127.0.0.1:{serve.Ports["ipfix"]}", "-q"]);
        Assert.True(gen.ExitCode == 0, gen.Stderr);
        ServeProcess.WaitFor(() => serve.Errors.Contains("store/expired-on-arrival", StringComparison.Ordinal), "the warning of flows that arrived expired", 150);
        Assert.Contains("so they arrived about as old as the retention (10m) or older", serve.Errors, StringComparison.Ordinal);
        var late = serve.Get("/metrics").Split('\n').Single(l => l.StartsWith("flowline_retention_partitions_expired_on_arrival_total{store=\"flows\"}", StringComparison.Ordinal));
        Assert.True(long.Parse(late.Split(' ')[1], CultureInfo.InvariantCulture) >= 1, late);
    }

    [Fact]
    public void A_kill_in_the_middle_of_a_retention_pass_leaves_whole_partitions_that_verify()
    {
        // 240 partitions of 600 flows each, a month old: serve's first retention pass removes them all. A pass takes
        // a few hundred milliseconds, so a kill after a fixed delay may come after it; strace holds every rename for
        // 40 ms instead (the pass renames each partition out of the store), and each kill comes as soon as a partition
        // has gone, in the middle of the pass on any machine.
        const int perPartition = 600;
        var data = Imported(240 * perPartition, 2, new DateTime(2026, 10, 1, 0, 0, 0, DateTimeKind.Utc));
        Assert.Equal(240, Partitions(data).Count);
        var http = ServeProcess.FreeTcpPort();
        for (var kill = 0; kill < 4; kill++)
        {
            var before = Partitions(data).Count;
            var serve = FlowlineProcess.RenamesHeld(FlowlineProcess.Flowline("serve", "--data-dir", data, "--sflow", "127.0.0.1:0", "--netflow", "127.0.0.1:0",
                "--ipfix", "127.0.0.1:0", "--http", $"127.0.0.1:{http}", "--retention", "1d"), 40);
            serve.RedirectStandardOutput = serve.RedirectStandardError = serve.RedirectStandardInput = false;
            using (var p = Process.Start(serve)!)
            {
                try
                {
                    ServeProcess.WaitFor(() => Partitions(data).Count < before || p.HasExited, "the retention pass under way", 120);
                }
                finally
                {
                    FlowlineProcess.KillAll(p);
                }
            }
            var verify = FlowlineProcess.RunFlowline(["store", "verify", "--data-dir", data]);
            Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
            // Every partition still there is whole: a kill never leaves half of one.
            var left = Partitions(data);
            Assert.InRange(left.Count, 1, before - 1);
            var stats = FlowlineProcess.RunFlowline(["store", "stats", "--data-dir", data]);
            var records = long.Parse(stats.Stdout.Split('\n').First(l => l.StartsWith("records", StringComparison.Ordinal))["records".Length..].Trim(), CultureInfo.InvariantCulture);
            Assert.Equal(left.Count * (long)perPartition, records);
            Assert.False(Directory.Exists(Path.Combine(data, "expired")) && Directory.EnumerateFileSystemEntries(Path.Combine(data, "expired")).Any(),
                "the store's open empties what an interrupted pass left in expired/");
        }
        using var last = new ServeProcess(data, "--retention", "1d");
        ServeProcess.WaitFor(() => Partitions(data).Count == 0, "every partition of a month ago removed", 60);
    }
}
