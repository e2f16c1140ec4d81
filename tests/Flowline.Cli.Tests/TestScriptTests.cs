namespace Flowline.Cli.Tests;

/// <summary>
/// scripts/test.sh, the test command itself, on the fixtures of tests/fixtures: a run that writes no result file
/// is a failure, and a test that hangs is stopped and reported instead of eating CI's time.
/// </summary>
public sealed class TestScriptTests : IDisposable
{
    private readonly DirectoryInfo _results = Directory.CreateTempSubdirectory("flowline-test-script-");

    private FlowlineProcess.Result Run(string fixture, string hang = "15m")
    {
        var psi = FlowlineProcess.StartInfo("bash", Path.Combine(FlowlineProcess.RepositoryRoot, "scripts", "test.sh"));
        psi.Environment["FLOWLINE_SKIP_SETUP"] = "1";
        psi.Environment["FLOWLINE_HANG_TIMEOUT"] = hang;
        psi.Environment["FLOWLINE_TEST_RESULTS"] = _results.FullName;
        psi.Environment["FLOWLINE_TEST_PROJECTS"] = Path.Combine(FlowlineProcess.RepositoryRoot, "tests", "fixtures", fixture, fixture + ".csproj");
        return FlowlineProcess.Run(psi, TimeSpan.FromMinutes(5));
    }

    private static string LastLine(string s) => s.TrimEnd().Split('\n')[^1];

    [Fact]
    public void A_project_that_writes_no_result_file_fails_the_run()
    {
        var r = Run("NoResult.Tests");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Equal("0 passed, 1 failed", LastLine(r.Stdout));
        Assert.Contains("NoResult.Tests wrote no result file", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_test_that_hangs_is_stopped_and_the_run_fails()
    {
        // Run gives up after 5 minutes: the hang must be stopped at 20 s, not at the 15 m default.
        var r = Run("Hangs.Tests", hang: "20s");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Matches(@"^\d+ passed, [1-9]\d* failed$", LastLine(r.Stdout));
        Assert.Contains("Never_ends", r.Stdout + r.Stderr, StringComparison.Ordinal); // the test that was running when it was stopped
    }

    public void Dispose() => _results.Delete(recursive: true);
}
