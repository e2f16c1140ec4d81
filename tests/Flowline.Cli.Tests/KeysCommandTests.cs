namespace Flowline.Cli.Tests;

/// <summary>`flowline keys`: what create prints for each role, an aligned list, revoke.</summary>
public sealed class KeysCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-keys-");

    public void Dispose() => _dir.Delete(recursive: true);

    private FlowlineProcess.Result Keys(params string[] args) => FlowlineProcess.RunFlowline(["keys", .. args, "--data-dir", _dir.FullName]);

    [Fact]
    public void Each_role_is_told_how_to_use_its_key_and_the_list_lines_up()
    {
        var tenant = Keys("create", "--account", "acc-1");
        Assert.True(tenant.ExitCode == 0, tenant.Stderr);
        Assert.Contains("For `flowline describe-flow-logs`:", tenant.Stdout, StringComparison.Ordinal);
        // An agent key reads nothing: it is shown how the agent takes it, not how to read flow logs.
        var agent = Keys("create", "--account", "acc-1", "--agent", "compute-7");
        Assert.True(agent.ExitCode == 0, agent.Stderr);
        Assert.DoesNotContain("describe-flow-logs", agent.Stdout, StringComparison.Ordinal);
        var id = agent.Stdout.Split('\n')[0].Split(':')[1].Trim();
        Assert.Contains($"flowline agent --name compute-7 --collector URL --key-id {id} --secret-file FILE", agent.Stdout, StringComparison.Ordinal);

        Assert.Equal(0, Keys("revoke", id).ExitCode);
        var list = Keys("list");
        Assert.True(list.ExitCode == 0, list.Stderr);
        var lines = list.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        // Every column starts where its heading does, whatever the role's length.
        var created = lines[0].IndexOf("created", StringComparison.Ordinal);
        Assert.All(lines[1..], l => Assert.Matches(@"^\d{4}-\d\d-\d\dT", l[created..]));
        Assert.Contains(lines, l => l.Contains("agent:compute-7", StringComparison.Ordinal) && !l.TrimEnd().EndsWith('-'));
        Assert.Equal(1, Keys("revoke", "FLKNOSUCHKEY").ExitCode);
    }
}
