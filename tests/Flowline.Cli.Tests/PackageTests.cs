using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Flowline.Cli.Tests;

/// <summary>
/// The Debian package scripts/package.sh builds (the test command builds it before the tests; built here when
/// missing): what it holds, its units as systemd reads them, its maintainer scripts, and its flowline run from
/// an extracted root with no .NET anywhere the process can see — receiving, storing and answering a query.
/// </summary>
public sealed class PackageTests : IDisposable
{
    private static readonly Lock Building = new();
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-package-");

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>The package of this clone: the newest in .build/package, made by scripts/package.sh when there is none.</summary>
    private static string Package()
    {
        lock (Building)
        {
            var dir = Path.Combine(FlowlineProcess.RepositoryRoot, ".build", "package");
            string? Newest() => Directory.Exists(dir) ? new DirectoryInfo(dir).GetFiles("flowline_*.deb").OrderByDescending(f => f.LastWriteTimeUtc).FirstOrDefault()?.FullName : null;
            if (Newest() is { } deb) return deb;
            var r = FlowlineProcess.Run(FlowlineProcess.StartInfo(Path.Combine(FlowlineProcess.RepositoryRoot, "scripts", "package.sh")), TimeSpan.FromMinutes(15));
            Assert.True(r.ExitCode == 0, r.Stderr);
            return Newest() ?? throw new FileNotFoundException("scripts/package.sh made no package in " + dir);
        }
    }

    private static FlowlineProcess.Result Tool(string name, params string[] args)
    {
        return FlowlineProcess.Run(FlowlineProcess.StartInfo(name.StartsWith('/') ? name : FlowlineProcess.Tool(name), args), TimeSpan.FromMinutes(5));
    }

    private string Extract()
    {
        var root = Path.Combine(_dir.FullName, "root");
        var r = Tool("dpkg-deb", "-x", Package(), root);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return root;
    }

    [Fact]
    public void The_package_holds_what_it_promises()
    {
        var deb = Package();
        var contents = Tool("dpkg-deb", "--contents", deb);
        Assert.True(contents.ExitCode == 0, contents.Stderr);
        var entries = contents.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToDictionary(f => f[^1], f => (Mode: f[0], Owner: f[1], Size: long.Parse(f[2], CultureInfo.InvariantCulture)));
        Assert.Equal(("-rwxr-xr-x", "root/root"), (entries["./usr/bin/flowline"].Mode, entries["./usr/bin/flowline"].Owner));
        Assert.True(entries["./usr/bin/flowline"].Size > 50 << 20, "a self-contained flowline holds the runtime");
        foreach (var path in new[]
                 {
                     "./lib/systemd/system/flowline.service", "./lib/systemd/system/flowline-agent.service", "./etc/flowline/flowline.yaml",
                     "./etc/default/flowline-agent", "./usr/share/bash-completion/completions/flowline", "./usr/share/doc/flowline/copyright",
                     "./usr/share/flowline/geo/asn/asn-ipv4-num.csv", "./usr/share/flowline/geo/geo-whois-asn-country/geo-whois-asn-country-ipv4-num.csv",
                     "./usr/share/flowline/geo/geo-whois-asn-country-mmdb/geo-whois-asn-country-ipv4.mmdb",
                 })
        {
            Assert.True(entries.ContainsKey(path), $"{path} in the package");
        }
        Assert.DoesNotContain(entries.Keys, p => p.StartsWith("./var/", StringComparison.Ordinal)); // made by postinst, kept by remove
        var info = Tool("dpkg-deb", "--info", deb);
        Assert.Contains("Package: flowline", info.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"Version: \d+\.\d+\.\d+\+\d+\.g[0-9a-f]{7}", info.Stdout);
        var control = Path.Combine(_dir.FullName, "control");
        Assert.Equal(0, Tool("dpkg-deb", "--control", deb, control).ExitCode);
        Assert.Equal(["/etc/default/flowline-agent", "/etc/flowline/flowline.yaml"], File.ReadAllLines(Path.Combine(control, "conffiles")).Order(StringComparer.Ordinal));
        Assert.Contains("adduser --system", File.ReadAllText(Path.Combine(control, "postinst")), StringComparison.Ordinal);
        Assert.Contains("chmod 0700 /var/lib/flowline", File.ReadAllText(Path.Combine(control, "postinst")), StringComparison.Ordinal);
        Assert.Contains("rm -rf /var/lib/flowline", File.ReadAllText(Path.Combine(control, "postrm")), StringComparison.Ordinal);
        foreach (var script in new[] { "postinst", "prerm", "postrm" })
        {
            var path = Path.Combine(control, script);
            var syntax = Tool("sh", "-n", path);
            Assert.True(syntax.ExitCode == 0, $"sh -n {script}: {syntax.Stderr}");
            var check = Tool("shellcheck", path);
            Assert.True(check.ExitCode == 0, $"shellcheck {script}: {check.Stdout}{check.Stderr}");
        }
    }

    [Fact]
    public void Installing_makes_the_user_and_data_directory_removing_keeps_the_data_and_purging_removes_it()
    {
        Assert.True(Tool("dpkg-query", "--show", "flowline").ExitCode != 0, "this test installs and purges the package: this machine has one installed already");
        try
        {
            var install = Tool("dpkg", "-i", Package());
            Assert.True(install.ExitCode == 0, install.Stdout + install.Stderr);
            Assert.True(Tool("id", "flowline").ExitCode == 0, "the flowline user");
            var data = new DirectoryInfo("/var/lib/flowline");
            Assert.True(data.Exists);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, data.UnixFileMode);
            Assert.Equal("flowline", Tool("stat", "-c", "%U", data.FullName).Stdout.Trim());
            Assert.Matches(@"^flowline \d+\.\d+\.\d+", Tool("/usr/bin/flowline", "version").Stdout);
            Assert.True(File.Exists("/etc/systemd/system/multi-user.target.wants/flowline.service"), "flowline.service enabled");
            // The service user can run the collector with the packaged configuration.
            var help = Tool("runuser", "-u", "flowline", "--", "/usr/bin/flowline", "serve", "--config", "/etc/flowline/flowline.yaml", "--log-level", "nonsense");
            Assert.Contains("log level 'nonsense'", help.Stderr, StringComparison.Ordinal);
            File.WriteAllText("/var/lib/flowline/kept", "data");
            File.AppendAllText("/etc/flowline/flowline.yaml", "# edited\n");

            Assert.Equal(0, Tool("dpkg", "-r", "flowline").ExitCode);
            Assert.False(File.Exists("/usr/bin/flowline"));
            Assert.Equal("data", File.ReadAllText("/var/lib/flowline/kept"));
            Assert.EndsWith("# edited\n", File.ReadAllText("/etc/flowline/flowline.yaml"), StringComparison.Ordinal);

            Assert.Equal(0, Tool("dpkg", "-P", "flowline").ExitCode);
            Assert.False(Directory.Exists("/var/lib/flowline"));
            Assert.False(Directory.Exists("/etc/flowline"));
            Assert.True(Tool("id", "flowline").ExitCode != 0, "the user purged");
        }
        finally
        {
            Tool("dpkg", "-P", "flowline");
        }
    }

    [Fact]
    public void Systemd_accepts_both_units_and_they_are_hardened()
    {
        var root = Extract();
        // systemd-analyze reads the units inside the root, which needs the targets and /bin/kill they name.
        var units = Path.Combine(root, "lib", "systemd", "system");
        foreach (var f in Directory.GetFiles("/lib/systemd/system").Where(f => f.EndsWith(".target", StringComparison.Ordinal) || f.EndsWith(".slice", StringComparison.Ordinal)))
        {
            File.Copy(f, Path.Combine(units, Path.GetFileName(f)), overwrite: false);
        }
        Directory.CreateDirectory(Path.Combine(root, "bin"));
        File.Copy(FlowlineProcess.Tool("kill"), Path.Combine(root, "bin", "kill"));
        foreach (var unit in new[] { "flowline.service", "flowline-agent.service" })
        {
            var r = Tool("systemd-analyze", "verify", "--root=" + root, "/lib/systemd/system/" + unit);
            Assert.True(r.ExitCode == 0 && r.Stdout.Trim().Length == 0 && r.Stderr.Trim().Length == 0, $"{unit}: exit {r.ExitCode}: {r.Stdout}{r.Stderr}");
            var text = File.ReadAllText(Path.Combine(units, unit));
            foreach (var line in new[] { "User=flowline", "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes", "CapabilityBoundingSet=\n", "Restart=on-failure" })
            {
                Assert.Contains(line, text, StringComparison.Ordinal);
            }
        }
        Assert.Contains("ExecReload=/bin/kill -HUP $MAINPID", File.ReadAllText(Path.Combine(units, "flowline.service")), StringComparison.Ordinal);
        Assert.Contains("ReadWritePaths=/var/lib/flowline\n", File.ReadAllText(Path.Combine(units, "flowline.service")), StringComparison.Ordinal);
    }

    [Fact]
    public void The_packaged_serve_runs_without_dotnet_stores_flows_and_answers_a_query()
    {
        var root = Extract();
        var binary = Path.Combine(root, "usr", "bin", "flowline");
        var data = Path.Combine(_dir.FullName, "data");
        var home = Directory.CreateDirectory(Path.Combine(_dir.FullName, "home")).FullName;
        // The .NET installation is hidden behind an empty file system in a mount namespace of its own, and the
        // environment holds no PATH to it: only what the package brings can run.
        var dotnet = Path.GetDirectoryName(new FileInfo(FlowlineProcess.Tool("dotnet")).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? FlowlineProcess.Tool("dotnet"))!;
        ProcessStartInfo Isolated(params string[] args)
        {
            var psi = FlowlineProcess.StartInfo(FlowlineProcess.Tool("unshare"), ["--mount", "--propagation", "private", "sh", "-c",
                "mount -t tmpfs none \"$0\" && exec env --default-signal=HUP \"$@\"", dotnet, binary, .. args]);
            psi.Environment.Clear();
            psi.Environment["PATH"] = Path.Combine(root, "usr", "bin") + ":/usr/bin:/bin";
            psi.Environment["HOME"] = home;
            return psi;
        }
        var noDotnet = FlowlineProcess.Run(FlowlineProcess.StartInfo(FlowlineProcess.Tool("unshare"), ["--mount", "--propagation", "private", "sh", "-c",
            "mount -t tmpfs none \"$0\" && ls -A \"$0\" | wc -l", dotnet]));
        Assert.True(noDotnet.ExitCode == 0 && noDotnet.Stdout.Trim() == "0", $"the .NET directory {dotnet} hidden: {noDotnet.Stdout}{noDotnet.Stderr}");

        // With an inventory every record is enriched, public addresses with the packaged address database (its mmdb form).
        var inventory = Path.Combine(_dir.FullName, "inventory.yaml");
        File.WriteAllText(inventory, "accounts: [{id: acc-1, name: One}]\n");
        using (var serve = new ServeProcess(http => Isolated(ServeProcess.Arguments(data, http, "--config", Path.Combine(root, "etc", "flowline", "flowline.yaml"),
                   "--geo-dir", Path.Combine(root, "usr", "share", "flowline", "geo"), "--geo-format", "mmdb", "--inventory", inventory))))
        {
            var gen = FlowlineProcess.RunFlowline(["gen", "--protocol", "netflow9", "--count", "20000", "--rate", "20000", "--public-servers",
                "--target", $"udp://127.0.0.1:{serve.Ports["netflow"]}", "-q"]);
            Assert.True(gen.ExitCode == 0, gen.Stderr);
            ServeProcess.WaitFor(() => serve.Records("netflow9") == 20_000, "20,000 records decoded by the packaged serve", 60);
            Assert.Equal(0, serve.Terminate());
            // The package's configuration writes JSON events: every line is one.
            foreach (var line in serve.Errors.Split('\n', StringSplitOptions.RemoveEmptyEntries)) JsonDocument.Parse(line).Dispose();
            Assert.Contains("\"event\":\"geo-loaded\"", serve.Errors, StringComparison.Ordinal);
            Assert.Contains("geo-whois-asn-country-ipv4.mmdb", serve.Errors, StringComparison.Ordinal);
        }
        var query = FlowlineProcess.Run(Isolated("query", "--data-dir", data, "-s", "dst_country/flows", "-n", "3", "-o", "csv"));
        Assert.True(query.ExitCode == 0, query.Stderr);
        var rows = query.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(rows.Length >= 2 && rows.Skip(1).Any(r => r.Length >= 2 && char.IsAsciiLetterUpper(r[0]) && char.IsAsciiLetterUpper(r[1])), query.Stdout);
        var stats = FlowlineProcess.Run(Isolated("store", "stats", "--data-dir", data));
        Assert.True(stats.ExitCode == 0, stats.Stderr);
        Assert.Matches(@"records\s+20000\n", stats.Stdout);
    }
}
