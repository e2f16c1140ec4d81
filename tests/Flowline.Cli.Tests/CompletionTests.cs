using System.Diagnostics;

namespace Flowline.Cli.Tests;

/// <summary>
/// `flowline completion bash|zsh|fish`, each script loaded into the real shell and its completion asked for:
/// `flowline qu` completes to `query`, serve's options (every setting's flag) are offered, subcommands follow
/// their verb, and a FILE option completes file names.
/// </summary>
public sealed class CompletionTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-completion-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string Script(string shell)
    {
        var r = FlowlineProcess.RunFlowline(["completion", shell]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var path = Path.Combine(_dir.FullName, "flowline." + shell);
        File.WriteAllText(path, r.Stdout);
        return path;
    }

    private static string Shell(string shell, params string[] args)
    {
        var start = new ProcessStartInfo(FlowlineProcess.Tool(shell)) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var errors = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{shell} exited {p.ExitCode}: {errors}");
        return output.Result;
    }

    /// <summary>What the bash function offers for the words typed (the last one being completed).</summary>
    private string[] Bash(string script, params string[] words) => Shell("bash", "-c",
        $"source {script}; COMP_WORDS=({string.Join(' ', words.Select(w => $"'{w}'"))}); COMP_CWORD={words.Length - 1}; _flowline; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
        .Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Bash_completes_verbs_serve_options_subcommands_and_files()
    {
        var script = Script("bash");
        Assert.Equal(["query"], Bash(script, "flowline", "qu"));
        var options = Bash(script, "flowline", "serve", "--");
        foreach (var setting in Flowline.Server.ServeSettings.All) Assert.Contains(setting.Flag, options);
        Assert.Contains("--config", options);
        Assert.Equal(["--log-format", "--log-level"], Bash(script, "flowline", "serve", "--log-").Order(StringComparer.Ordinal));
        Assert.Equal(["stats", "verify"], Bash(script, "flowline", "store", "").Where(w => w is "stats" or "verify").Order(StringComparer.Ordinal));
        Assert.Equal(["hash-password"], Bash(script, "flowline", "keys", "h"));
        // A subcommand's own words: taas service create|list|...
        Assert.Equal(["create", "delete", "list", "show", "update"], Bash(script, "flowline", "taas", "service", "").Order(StringComparer.Ordinal));
        Assert.Empty(Bash(script, "flowline", "taas", "nosuch", "cr"));
        File.WriteAllText(Path.Combine(_dir.FullName, "inventory-one.yaml"), "");
        Assert.Equal([Path.Combine(_dir.FullName, "inventory-one.yaml")], Bash(script, "flowline", "serve", "--inventory", Path.Combine(_dir.FullName, "inventory-o")));
        Assert.Empty(Bash(script, "flowline", "nosuchverb", "--"));
    }

    [Fact]
    public void Fish_completes_verbs_and_serve_options()
    {
        var script = Script("fish");
        var verbs = Shell("fish", "-c", $"source {script}; complete -C 'flowline qu'");
        Assert.StartsWith("query\t", verbs, StringComparison.Ordinal);
        var options = Shell("fish", "-c", $"source {script}; complete -C 'flowline serve --log-'").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["--log-format", "--log-level"], options.Select(o => o.Split('\t')[0]).Order(StringComparer.Ordinal));
        var subcommands = Shell("fish", "-c", $"source {script}; complete -C 'flowline store '");
        Assert.Contains("compact", subcommands, StringComparison.Ordinal);
        var actions = Shell("fish", "-c", $"source {script}; complete -C 'flowline taas flow '").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["create", "delete", "list", "show", "update"], actions.Select(o => o.Split('\t')[0]).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Zsh_completes_verbs_and_serve_options()
    {
        var script = Script("zsh");
        Shell("zsh", "-n", script);
        // The completion system's builtins stand in as functions that print what they are given.
        const string stubs = "compdef() { :; }; compadd() { if [[ $1 == -a ]]; then print -l -- ${(P)2}; else print -l -- \"$@\"; fi; }; " +
                             "_describe() { print -l -- ${(P)${@[-1]}}; }; _files() { print FILES; }; ";
        var verbs = Shell("zsh", "-c", stubs + $"source {script}; words=(flowline qu); CURRENT=2; _flowline");
        Assert.Contains("query:filter, list", verbs, StringComparison.Ordinal);
        var options = Shell("zsh", "-c", stubs + $"source {script}; words=(flowline serve --log); CURRENT=3; _flowline").Split('\n');
        Assert.Contains("--log-format", options);
        Assert.Contains("--data-dir", options);
        Assert.Equal("FILES", Shell("zsh", "-c", stubs + $"source {script}; words=(flowline serve --config ''); CURRENT=4; _flowline").Trim());
        Assert.Equal(["create", "list", "show", "update", "delete"], Shell("zsh", "-c", stubs + $"source {script}; words=(flowline taas mirror ''); CURRENT=4; _flowline").Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Every_commands_help_ends_in_one_newline()
    {
        // The shell's prompt goes on a line of its own after any help (raw string literals end without a newline).
        foreach (var args in Program.Commands.Select(c => new[] { c.Name, "--help" }).Append(["--help"]))
        {
            var r = FlowlineProcess.RunFlowline(args);
            Assert.True(r.ExitCode == 0, $"{string.Join(' ', args)}: exit {r.ExitCode}: {r.Stderr}");
            Assert.True(r.Stdout.Length > 0 && r.Stdout.EndsWith('\n') && !r.Stdout.EndsWith("\n\n", StringComparison.Ordinal),
                $"{string.Join(' ', args)}: help ends with '{r.Stdout[^Math.Min(40, r.Stdout.Length)..]}'");
        }
    }

    [Fact]
    public void A_missing_or_unknown_shell_is_refused()
    {
        var r = FlowlineProcess.RunFlowline(["completion", "tcsh"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("bash, zsh or fish", r.Stderr, StringComparison.Ordinal);
    }
}
