using System.Diagnostics;
using System.Text;

namespace Flowline.Cli.Tests;

/// <summary>Runs the real `flowline` executable (built beside the tests) and external tools.</summary>
public static class FlowlineProcess
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "flowline.dll");

    /// <summary>The clone the tests were built from (the directory holding Flowline.slnx).</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Flowline.slnx"))) return dir.FullName;
            }
            throw new DirectoryNotFoundException("Flowline.slnx not found above " + AppContext.BaseDirectory);
        }
    }

    public sealed record Result(int ExitCode, string Stdout, string Stderr, byte[] StdoutBytes);

    public static ProcessStartInfo StartInfo(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    public static ProcessStartInfo Flowline(params string[] args) => StartInfo("dotnet", ["exec", Dll, .. args]);

    /// <summary>
    /// Kills <paramref name="p"/> and every process under it (SIGKILL), and returns once each of them has gone,
    /// its files (and locks) closed: a process traced by one that dies may outlive it by a moment.
    /// </summary>
    public static void KillAll(Process p)
    {
        var pids = new List<int>();
        void Under(int pid)
        {
            pids.Add(pid);
            try
            {
                foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
                foreach (var child in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    Under(int.Parse(child, System.Globalization.CultureInfo.InvariantCulture));
            }
            catch (IOException)
            {
                // Gone already.
            }
        }
        Under(p.Id);
        p.Kill(entireProcessTree: true);
        p.WaitForExit();
        foreach (var pid in pids)
        {
            ServeProcess.WaitFor(() =>
            {
                try
                {
                    // Every thread a zombie ("Z") or gone: the threads share one table of open files, released
                    // with the last of them (a leader that shows Z may still have threads holding it).
                    foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
                    {
                        var stat = File.ReadAllText(Path.Combine(task, "stat"));
                        if (!stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z')) return false;
                    }
                    return true;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return true;
                }
            }, $"process {pid} gone", 60);
        }
    }

    /// <summary>
    /// <paramref name="psi"/> run under strace, which holds every rename its process makes for
    /// <paramref name="milliseconds"/>: work that renames as it goes (retention, durable writes) is then slow
    /// enough on any machine for a kill to land in its middle once the first of it is seen.
    /// </summary>
    public static ProcessStartInfo RenamesHeld(ProcessStartInfo psi, int milliseconds)
    {
        var held = StartInfo(Tool("strace"), ["-f", "--seccomp-bpf", "-o", "/dev/null", "-e", "trace=rename,renameat,renameat2",
            "-e", $"inject=rename,renameat,renameat2:delay_exit={milliseconds * 1000}", psi.FileName, .. psi.ArgumentList]);
        foreach (var (name, value) in psi.Environment) held.Environment[name] = value;
        foreach (var name in held.Environment.Keys.Except(psi.Environment.Keys).ToList()) held.Environment.Remove(name);
        held.RedirectStandardOutput = psi.RedirectStandardOutput;
        held.RedirectStandardError = psi.RedirectStandardError;
        held.RedirectStandardInput = psi.RedirectStandardInput;
        return held;
    }

    public static Result Run(ProcessStartInfo psi, TimeSpan? timeout = null)
    {
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = new MemoryStream();
        var copy = p.StandardOutput.BaseStream.CopyToAsync(stdout);
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromMinutes(2)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{psi.FileName} {string.Join(' ', psi.ArgumentList)} did not finish");
        }
        copy.Wait();
        var bytes = stdout.ToArray();
        return new Result(p.ExitCode, Encoding.UTF8.GetString(bytes), stderr.Result, bytes);
    }

    public static Result RunFlowline(string[] args, TimeSpan? timeout = null) => Run(Flowline(args), timeout);

    /// <summary>The full path of a tool the test command installs (tshark, tcpdump); the test fails when it is missing.</summary>
    public static string Tool(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/bin", "/usr/sbin", "/bin", "/sbin"]))
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException($"{name} is not installed; the test command (scripts/test.sh) installs it");
    }
}
