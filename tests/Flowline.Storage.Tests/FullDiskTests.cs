using System.Diagnostics;
using Flowline.Query;
using Flowline.Storage.Embedded;
using Flowline.Wire.Generation;
using Flowline.Records;

namespace Flowline.Storage.Tests;

/// <summary>
/// A store on a small tmpfs that fills up: the flush fails with a clear I/O error, no partial segment
/// is left behind, what was committed before stays intact, and once space returns the buffered rows
/// are written. Needs root for mount(8), as the test command runs it.
/// </summary>
public sealed class FullDiskTests : IDisposable
{
    private readonly string _mount = Directory.CreateTempSubdirectory("flowline-full-").FullName;
    private bool _mounted;

    public void Dispose()
    {
        if (_mounted) Run("umount", _mount);
        Directory.Delete(_mount, recursive: true);
    }

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: {error}");
    }

    private static FlowBatch Records(TrafficGenerator g, int count)
    {
        var b = new FlowBatch(count);
        for (var i = 0; i < count; i++) b.Add(g.Next());
        return b;
    }

    [Fact]
    public void A_full_disk_fails_the_flush_clearly_and_corrupts_nothing()
    {
        Run("mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", _mount);
        _mounted = true;
        var store = new EmbeddedStore(_mount, new EmbeddedStoreOptions { GroupCommit = TimeSpan.FromHours(1) });
        var g = new TrafficGenerator(5, hosts: 5000, flowsPerSecond: 1000);
        store.Append(Records(g, 2000));
        store.Flush();
        var committed = store.Stats().Rows;
        Assert.Equal(2000, committed);

        // 200,000 records take about 3.5 MB compressed, far more than the space left.
        store.Append(Records(g, 200_000));
        var e = Assert.ThrowsAny<IOException>(store.Flush);
        Assert.Contains("space", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(Directory.GetFiles(_mount, "*.tmp", SearchOption.AllDirectories));
        Assert.Empty(store.Verify());
        Assert.Equal(committed, store.Stats().Rows);

        // Space comes back (a bigger filesystem): the rows still buffered are written.
        Run("mount", "-o", "remount,size=64m", _mount);
        store.Flush();
        Assert.Equal(202_000, store.Stats().Rows);
        Assert.Empty(store.Verify());
        store.Dispose();
    }

    [Fact]
    public void Appends_are_refused_while_the_timed_commits_fail_and_taken_again_when_they_succeed()
    {
        Run("mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", _mount);
        _mounted = true;
        using var store = new EmbeddedStore(_mount, new EmbeddedStoreOptions { GroupCommit = TimeSpan.FromMilliseconds(200) });
        var g = new TrafficGenerator(5, hosts: 5000, flowsPerSecond: 1000);
        // More than the disk holds, far below the buffers' own limit: the caller would hear nothing of the
        // failing commits if appends waited for that limit (serve counted such rows stored, and lost them in a crash).
        store.Append(Records(g, 200_000));
        long appended = 200_000;
        var deadline = DateTime.UtcNow.AddMinutes(1);
        IOException? refused = null;
        while (refused is null && DateTime.UtcNow < deadline)
        {
            try
            {
                store.Append(Records(g, 100));
                appended += 100;
                Thread.Sleep(50);
            }
            catch (IOException e)
            {
                refused = e;
            }
        }
        Assert.NotNull(refused);
        Assert.Contains("commits are failing", refused.Message, StringComparison.Ordinal);
        Assert.Contains("space", refused.Message, StringComparison.OrdinalIgnoreCase);

        // Space comes back: the timed commit writes what waited, and appends are taken again.
        Run("mount", "-o", "remount,size=64m", _mount);
        var taken = false;
        while (!taken && DateTime.UtcNow < deadline.AddMinutes(1))
        {
            try
            {
                store.Append(Records(g, 100));
                appended += 100;
                taken = true;
            }
            catch (IOException)
            {
                Thread.Sleep(50);
            }
        }
        Assert.True(taken, "appends still refused after space came back");
        store.Flush();
        Assert.Equal(appended, store.Stats().Rows); // nothing refused was taken, nothing taken lost
        Assert.Empty(store.Verify());
    }
}
