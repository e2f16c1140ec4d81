using System.Diagnostics;
using System.Globalization;

namespace Flowline.Fuzz.Tests;

/// <summary>
/// How long each target runs: FLOWLINE_FUZZ_SECONDS in all, shared by the targets (60 s under CI, 12 s
/// otherwise), or FLOWLINE_FUZZ_TARGET_SECONDS for each. FLOWLINE_FUZZ_SEED repeats a run.
/// </summary>
internal static class Budget
{
    public const int Targets = 8;

    public static TimeSpan PerTarget
    {
        get
        {
            if (double.TryParse(Environment.GetEnvironmentVariable("FLOWLINE_FUZZ_TARGET_SECONDS"), CultureInfo.InvariantCulture, out var each)) return TimeSpan.FromSeconds(each);
            var total = double.TryParse(Environment.GetEnvironmentVariable("FLOWLINE_FUZZ_SECONDS"), CultureInfo.InvariantCulture, out var s) ? s
                : string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ? 60 : 12;
            return TimeSpan.FromSeconds(total / Targets);
        }
    }

    public static int Seed => int.TryParse(Environment.GetEnvironmentVariable("FLOWLINE_FUZZ_SEED"), out var s) ? s : Environment.TickCount;

    /// <summary>
    /// Runs <paramref name="one"/> until the target's time is up and <paramref name="enough"/> holds (a slow
    /// machine runs longer rather than proving less); a crash ends the run with what reproduces it.
    /// </summary>
    public static long Run(string target, Action<Random, long> one, Func<bool>? enough = null)
    {
        var seed = Seed;
        var random = new Random(seed);
        var watch = Stopwatch.StartNew();
        var limit = PerTarget;
        long n = 0;
        while (watch.Elapsed < limit || (enough is not null && !enough() && watch.Elapsed < 20 * limit))
        {
            one(random, n);
            n++;
        }
        Console.WriteLine($"fuzz {target}: {n} inputs in {watch.Elapsed.TotalSeconds:0.0} s, seed {seed}, no crash");
        return n;
    }

    /// <summary>Fails with the input that crashed, kept under .build/fuzz-crashes to become a named regression test.</summary>
    public static Exception Crash(string target, byte[] input, Exception e)
    {
        var dir = Path.Combine(Repository.Root, ".build", "fuzz-crashes");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"{target}-{DateTime.UtcNow:yyyyMMddHHmmssfff}.bin");
        File.WriteAllBytes(path, input);
        return new Xunit.Sdk.XunitException($"{target}: {e.GetType().Name}: {e.Message}\ninput ({input.Length} bytes, kept in {path}): {Convert.ToHexString(input.AsSpan(0, Math.Min(input.Length, 4096)))}\n{e}");
    }
}

internal static class Repository
{
    public static string Root { get; } = Locate();

    private static string Locate()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Flowline.slnx"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException("Flowline.slnx not found above " + AppContext.BaseDirectory);
    }
}
