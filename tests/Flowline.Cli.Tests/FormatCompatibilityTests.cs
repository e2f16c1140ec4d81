using System.Security.Cryptography;
using System.Text;

namespace Flowline.Cli.Tests;

/// <summary>
/// A store written by Flowline 0.9 before the codec change (compacted segments in Brotli, group commits in
/// Flowline's own LZ4 encoder; Fixtures/store-0.9: 3,000 IPFIX flows, then 2,000 NetFlow v9 flows left
/// uncompacted) is read by this build exactly as 0.9 read it, and compacts into this build's codecs.
/// </summary>
public sealed class FormatCompatibilityTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-compat-");

    public void Dispose() => _dir.Delete(recursive: true);

    private const string Fields = "start,end,src_addr,dst_addr,src_port,dst_port,ip_proto,bytes,packets,tcp_flags,in_if,out_if,exporter,time_received";

    /// <summary>sha256 of the sorted CSV rows 0.9 printed for <see cref="Fields"/> (header included).</summary>
    private const string Expected = "0a183dc3c9e1ed597988248b83cecfca19279a896caa1100b0abf3c4ef13e274";

    private static string Digest(string dataDir)
    {
        var r = FlowlineProcess.RunFlowline(["query", "--data-dir", dataDir, "-o", "csv", "--fields", Fields]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal);
        Assert.Equal(5001, lines.Count());
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n")));
    }

    [Fact]
    public void A_store_written_before_the_codec_change_reads_the_same_and_compacts()
    {
        var store = Path.Combine(_dir.FullName, "store");
        CopyDirectory(Path.Combine(AppContext.BaseDirectory, "Fixtures", "store-0.9"), store);
        Assert.Equal(Expected, Digest(store));
        var compact = FlowlineProcess.RunFlowline(["store", "compact", "--data-dir", store]);
        Assert.True(compact.ExitCode == 0, compact.Stdout + compact.Stderr);
        Assert.Equal(Expected, Digest(store));
        Assert.Contains(Directory.GetFiles(store, "*.rollup", SearchOption.AllDirectories), p => Format(p) == "FLROLL01");
        // verify rewrites the rollups of format 1, whose table headers no checksum covers; nothing is damaged.
        var verify = FlowlineProcess.RunFlowline(["store", "verify", "--data-dir", store]);
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
        Assert.Contains("rollup file(s) of an older format rewritten", verify.Stdout);
        Assert.Contains("verify: every block and rollup is intact", verify.Stdout);
        Assert.All(Directory.GetFiles(store, "seg-*.rollup", SearchOption.AllDirectories), p => Assert.Equal("FLROLL02", Format(p)));
        Assert.Equal(Expected, Digest(store));
        Assert.Equal(0, FlowlineProcess.RunFlowline(["store", "compact", "--data-dir", store]).ExitCode);
        Assert.All(Directory.GetFiles(store, "*.rollup", SearchOption.AllDirectories), p => Assert.Equal("FLROLL02", Format(p)));
        Assert.DoesNotContain("rewritten", FlowlineProcess.RunFlowline(["store", "verify", "--data-dir", store]).Stdout);
    }

    /// <summary>The rollup format of a file: its magic, after the hourly files' manifest.</summary>
    private static string Format(string rollup)
    {
        var bytes = File.ReadAllBytes(rollup);
        var at = 0;
        if (Encoding.ASCII.GetString(bytes, 0, 8) == "FLMANI01")
        {
            at = 10;
            for (var i = 0; i < BitConverter.ToUInt16(bytes, 8); i++) at += 2 + BitConverter.ToUInt16(bytes, at);
        }
        return Encoding.ASCII.GetString(bytes, at, 8);
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(dir.Replace(from, to, StringComparison.Ordinal));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories)) File.Copy(file, file.Replace(from, to, StringComparison.Ordinal));
    }
}
