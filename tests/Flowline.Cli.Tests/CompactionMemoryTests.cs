using System.Diagnostics;
using System.Globalization;

namespace Flowline.Cli.Tests;

/// <summary>
/// Tests that measure a process's memory from outside run alone: beside other tests' processes the same
/// command's peak differed by tens of MiB (its collector ran at other moments).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Alone
{
    public const string Name = "measured alone";
}

/// <summary>
/// Compaction and import of large partitions in a small memory budget, measured from outside the process:
/// 5,000,000 flows in more than 300 group commits compacted by `flowline store compact --memory 64m`, and
/// 20,000,000 flows imported into one partition by `flowline import --memory 64m`, must not hold more than
/// 64 MiB beyond what the same command holds on a thousand flows (the runtime and its compiled code); the
/// compacted partition must answer every query exactly as the commits did.
/// </summary>
[Collection(Alone.Name)]
public sealed class CompactionMemoryTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-compaction-memory-");

    public void Dispose() => _dir.Delete(recursive: true);

    private const long Budget = 64L << 20;

    private string Store(string name, int flows, int seed)
    {
        var pcap = Path.Combine(_dir.FullName, name + ".pcap");
        var data = Path.Combine(_dir.FullName, name);
        // 20,000 flows a second of flow time: 5,000,000 flows fall in one 5-minute partition.
        var gen = FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", flows.ToString(CultureInfo.InvariantCulture), "--rate", "20000",
            "--seed", seed.ToString(CultureInfo.InvariantCulture), "--pcap", pcap, "-q"], TimeSpan.FromMinutes(5));
        Assert.True(gen.ExitCode == 0, gen.Stderr);
        var import = FlowlineProcess.RunFlowline(["import", "--pcap", pcap, "--data-dir", data, "--no-compact", "--memory", "64m"], TimeSpan.FromMinutes(5));
        Assert.True(import.ExitCode == 0, import.Stderr);
        File.Delete(pcap);
        return data;
    }

    /// <summary>Runs the command and returns its peak resident memory (VmHWM, polled until it exits).</summary>
    private static (long Peak, FlowlineProcess.Result Result) Measured(params string[] args) => Measured(null, args);

    /// <param name="input">Writes the command's standard input (closed after it returns).</param>
    private static (long Peak, FlowlineProcess.Result Result) Measured(Action<Stream>? input, params string[] args)
    {
        var psi = FlowlineProcess.Flowline(args);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var feeding = Task.Run(() =>
        {
            try
            {
                input?.Invoke(p.StandardInput.BaseStream);
            }
            finally
            {
                p.StandardInput.Close();
            }
        });
        long peak = 0;
        var status = $"/proc/{p.Id}/status";
        while (!p.HasExited)
        {
            try
            {
                foreach (var line in File.ReadLines(status))
                {
                    if (!line.StartsWith("VmHWM:", StringComparison.Ordinal)) continue;
                    peak = Math.Max(peak, long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024);
                }
            }
            catch (IOException)
            {
                // Exited meanwhile.
            }
            Thread.Sleep(20);
        }
        p.WaitForExit();
        feeding.Wait();
        return (peak, new FlowlineProcess.Result(p.ExitCode, stdout.Result, stderr.Result, []));
    }

    private static readonly string[][] Queries =
    [
        ["-s", "srcip/bytes", "-n", "20", "-o", "csv"],
        ["-A", "dst_port,ip_proto", "-o", "csv"],
        ["proto", "tcp", "and", "dst", "port", "443", "-A", "src_addr", "-n", "50", "-o", "csv"],
        ["--from", "2026-11-19T00:01:00Z", "--to", "2026-11-19T00:03:00Z", "-A", "exporter", "--bucket", "1m", "-o", "csv"],
        ["host", "10.0.0.7", "-o", "csv", "--fields", "start,end,src_addr,dst_addr,src_port,dst_port,ip_proto,bytes,packets"],
        ["bytes", ">", "100000", "and", "not", "proto", "udp", "-o", "csv"],
    ];

    private static List<string> Answers(string data) => Queries.Select(q =>
    {
        var r = FlowlineProcess.RunFlowline(["query", "--data-dir", data, .. q], TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, r.Stderr);
        // Listings come in storage order, which compaction changes: compare them as sets of lines.
        return string.Join('\n', r.Stdout.Split('\n').Order(StringComparer.Ordinal));
    }).ToList();

    private static int Segments(string data)
    {
        var stats = FlowlineProcess.RunFlowline(["store", "stats", "--data-dir", data]);
        Assert.True(stats.ExitCode == 0, stats.Stderr);
        var line = stats.Stdout.Split('\n').First(l => l.StartsWith("segments", StringComparison.Ordinal));
        return int.Parse(line["segments".Length..].Trim(), CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Five_million_flows_in_three_hundred_commits_compact_in_64_MiB_and_answer_as_before()
    {
        var tiny = Store("tiny", 1_000, 2);
        var (baseline, tinyRun) = Measured("store", "compact", "--data-dir", tiny, "--memory", "64m");
        Assert.True(tinyRun.ExitCode == 0, tinyRun.Stderr);

        var data = Store("large", 5_000_000, 1);
        var before = Segments(data);
        Assert.True(before >= 300, $"{before} segments");
        var answers = Answers(data);
        Assert.Contains("10.0.0.7", answers[4]);

        var (peak, run) = Measured("store", "compact", "--data-dir", data, "--memory", "64m");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("1 partition(s) compacted", run.Stdout);
        // Measured: 30–41 MiB above the baseline.
        Assert.True(peak <= baseline + Budget,
            $"peak {peak >> 20} MiB, baseline {baseline >> 20} MiB: {(peak - baseline) >> 20} MiB for compaction, budget {Budget >> 20} MiB");
        Assert.Equal(1, Segments(data));
        var verify = FlowlineProcess.RunFlowline(["store", "verify", "--data-dir", data], TimeSpan.FromMinutes(2));
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
        var after = Answers(data);
        for (var i = 0; i < Queries.Length; i++) Assert.True(answers[i] == after[i], $"query {string.Join(' ', Queries[i])} answers differently after compaction");
    }

    /// <summary>`flowline gen` writing a capture of <paramref name="flows"/> IPFIX flows into a command's standard input.</summary>
    private static Action<Stream> Generated(int flows) => stdin =>
    {
        // 70,000 flows a second of flow time: 20,000,000 flows fall in one 5-minute partition.
        using var gen = Process.Start(FlowlineProcess.Flowline(["gen", "--protocol", "ipfix", "--count", flows.ToString(CultureInfo.InvariantCulture),
            "--rate", "70000", "--pcap", "-", "-q"]))!;
        gen.StandardInput.Close();
        var errors = gen.StandardError.ReadToEndAsync();
        try
        {
            gen.StandardOutput.BaseStream.CopyTo(stdin);
        }
        catch (IOException)
        {
            // The import stopped reading (it failed): its exit code says so.
        }
        gen.WaitForExit();
        Assert.True(gen.ExitCode == 0, errors.Result);
    };

    [Fact]
    public void Twenty_million_flows_import_into_one_partition_in_64_MiB()
    {
        var tiny = Path.Combine(_dir.FullName, "tiny-import");
        var (baseline, tinyRun) = Measured(Generated(1_000), "import", "--pcap", "-", "--data-dir", tiny, "--memory", "64m");
        Assert.True(tinyRun.ExitCode == 0, tinyRun.Stderr);

        var data = Path.Combine(_dir.FullName, "import");
        var (peak, run) = Measured(Generated(20_000_000), "import", "--pcap", "-", "--data-dir", data, "--memory", "64m");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("20000000 flow records", run.Stderr);
        // Measured: 48–49 MiB above the baseline (the group commits while decoding, then the compaction).
        Assert.True(peak <= baseline + Budget,
            $"peak {peak >> 20} MiB, baseline {baseline >> 20} MiB: {(peak - baseline) >> 20} MiB for the import, budget {Budget >> 20} MiB");
        var stats = FlowlineProcess.RunFlowline(["store", "stats", "--data-dir", data]);
        Assert.Contains("partitions  1\n", stats.Stdout);
        Assert.Equal(1, Segments(data));
        Assert.Contains("records     20000000", stats.Stdout);
    }

    [Fact]
    public void A_budget_below_what_a_merge_needs_is_refused_with_the_least_that_works()
    {
        var r = FlowlineProcess.RunFlowline(["store", "compact", "--data-dir", _dir.FullName, "--memory", "8m"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("compaction needs at least", r.Stderr);
    }
}
