using System.Diagnostics;
using Flowline.Storage.Segments;

namespace Flowline.Storage.Tests;

public sealed class SegmentOutputTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-output-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static byte[] Bytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Writes <paramref name="data"/> in pieces of random sizes, as segment blocks arrive.</summary>
    private static void WriteInPieces(SegmentOutput output, byte[] data, Random random)
    {
        for (var at = 0; at < data.Length;)
        {
            var n = Math.Min(data.Length - at, random.Next(1, 300_000));
            output.Write(data.AsSpan(at, n));
            at += n;
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4095)]
    [InlineData(4096)]
    [InlineData(4097)]
    [InlineData(1 << 20)]
    [InlineData((1 << 20) + 1)]
    [InlineData(3_000_001)]
    public void The_file_holds_exactly_the_bytes_written_whatever_their_length(int length)
    {
        var path = Path.Combine(_dir.FullName, "out");
        var data = Bytes(length, length);
        var output = new SegmentOutput(path);
        WriteInPieces(output, data, new Random(length));
        Assert.Equal(length, output.Length);
        output.Complete();
        Assert.Equal(data, File.ReadAllBytes(path));
    }

    [Fact]
    public void Two_files_written_at_once_keep_their_own_bytes()
    {
        // A group commit and a compaction can write at the same time; their buffers must not mix.
        var a = Bytes(2_500_000, 1);
        var b = Bytes(1_700_000, 2);
        var first = new SegmentOutput(Path.Combine(_dir.FullName, "a"));
        var second = new SegmentOutput(Path.Combine(_dir.FullName, "b"));
        for (var at = 0; at < Math.Max(a.Length, b.Length); at += 100_000)
        {
            if (at < a.Length) first.Write(a.AsSpan(at, Math.Min(100_000, a.Length - at)));
            if (at < b.Length) second.Write(b.AsSpan(at, Math.Min(100_000, b.Length - at)));
        }
        first.Complete();
        // Another file opened now may get the first one's buffer back: it must start empty.
        var third = new SegmentOutput(Path.Combine(_dir.FullName, "c"));
        third.Write("x"u8);
        third.Complete();
        second.Complete();
        Assert.Equal(a, File.ReadAllBytes(Path.Combine(_dir.FullName, "a")));
        Assert.Equal(b, File.ReadAllBytes(Path.Combine(_dir.FullName, "b")));
        Assert.Equal("x"u8.ToArray(), File.ReadAllBytes(Path.Combine(_dir.FullName, "c")));
    }

    [Fact]
    public void On_a_disk_file_system_the_bytes_bypass_the_page_cache()
    {
        if (!OperatingSystem.IsLinux()) return;
        var type = Tool("stat", "-f", "-c", "%T", _dir.FullName).Trim();
        // The file systems a data directory sits on; tmpfs and others may refuse direct I/O.
        if (type is not ("ext2/ext3" or "xfs" or "btrfs")) return;
        var path = Path.Combine(_dir.FullName, "direct");
        var output = new SegmentOutput(path);
        Assert.True(output.Direct);
        WriteInPieces(output, Bytes(5_000_000, 7), new Random(7));
        output.Complete();
        // fincore: pages of the file held in the page cache; none when the writes went straight to the device.
        Assert.Equal("0", Tool("fincore", "--bytes", "--noheadings", "--output", "RES", path).Trim());
        Assert.Equal(5_000_000, new FileInfo(path).Length);
    }

    private static string Tool(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: {error}");
        return output;
    }
}
