using System.Diagnostics;
using Flowline.Query;
using Flowline.Storage.Embedded;

namespace Flowline.Storage.Tests;

/// <summary>
/// A child process appends continuously and is killed with SIGKILL at random moments, 20 times. After
/// each kill the store opens quickly, verify finds nothing corrupt, and every record up to the last
/// point the child reported durable is present exactly once.
/// </summary>
public sealed class CrashSafetyTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-crash-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public async Task Records_survive_twenty_kills_exactly_once()
    {
        var random = new Random(2026);
        var child = Path.Combine(AppContext.BaseDirectory, "Flowline.Storage.CrashChild.dll");
        ulong next = 0;
        long lastDurable = -1;
        for (var round = 0; round < 20; round++)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
            psi.ArgumentList.Add("exec");
            psi.ArgumentList.Add(child);
            psi.ArgumentList.Add(_dir.FullName);
            psi.ArgumentList.Add(next.ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var process = Process.Start(psi)!;
            Assert.Equal("ready", await process.StandardOutput.ReadLineAsync());
            // Kill after a random number of durable points (0 to 6), i.e. at a random place in the write cycle.
            var wait = random.Next(0, 7);
            for (var i = 0; i < wait; i++)
            {
                var line = await process.StandardOutput.ReadLineAsync();
                Assert.NotNull(line);
                lastDurable = long.Parse(line!["durable ".Length..], System.Globalization.CultureInfo.InvariantCulture);
            }
            process.Kill(entireProcessTree: true); // SIGKILL
            await process.WaitForExitAsync();

            var watch = Stopwatch.StartNew();
            using var store = new EmbeddedStore(_dir.FullName);
            var opened = watch.Elapsed;
            // Only a hang fails here: a loaded machine is slow, not wrong.
            Assert.True(opened < TimeSpan.FromSeconds(60), $"round {round}: opening took {opened.TotalSeconds:0.00} s");
            Assert.Empty(store.Verify());
            var ids = store.Scan(long.MinValue, long.MaxValue, new FilterNode.Any())
                .SelectMany(b => Enumerable.Range(0, b.Count).Select(i => b.SampledPackets[i])).ToList();
            Assert.Equal(ids.Count, ids.Distinct().Count());
            var present = ids.ToHashSet();
            for (var id = 0L; id <= lastDurable; id++)
            {
                Assert.True(present.Contains((ulong)id), $"round {round}: record {id} was reported durable but is missing");
            }
            Assert.Empty(Directory.GetFiles(_dir.FullName, "*.tmp", SearchOption.AllDirectories));
            next = ids.Count == 0 ? 0 : ids.Max() + 1;
        }
        Assert.True(lastDurable > 0);
    }
}
