using System.Globalization;

namespace Flowline.Cli.Tests;

/// <summary>
/// `flowline serve --inventory` picks up a changed file without a restart, refuses a broken one (naming its
/// line) while records keep being enriched with the inventory in force, and re-reads on SIGHUP.
/// </summary>
public sealed class InventoryReloadTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-reload-");

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>`flowline gen`'s busiest client is 10.0.0.1; its flows go to public 172.16.x.y servers.</summary>
    private static string Inventory(string app, string mac = "02:00:0a:00:00:01") => $"""
        accounts: [{"{"}id: acc-1, name: One{"}"}]
        networks:
          - {"{"}name: "d:one:clients", account: acc-1, subnets: [10.0.0.0/16]{"}"}
        ports:
          - uuid: vmi-client-1
            account: acc-1
            network: "d:one:clients"
            mac: "{mac}"
            ips: [10.0.0.1]
            tags: {"{"}app: {app}{"}"}
        """;

    [Fact]
    public void A_changed_inventory_is_used_without_a_restart_and_a_broken_one_is_refused_while_the_old_one_stays()
    {
        var file = Path.Combine(_dir.FullName, "inventory.yaml");
        File.WriteAllText(file, Inventory("first"));
        var dataDir = Path.Combine(_dir.FullName, "data");
        using var serve = new ServeProcess(dataDir, "--inventory", file);
        var sent = 0L;

        void Send(string start)
        {
            var gen = FlowlineProcess.RunFlowline(["gen", "--protocol", "netflow9", "--count", "3000", "--seed", start.Length.ToString(CultureInfo.InvariantCulture),
                "--start", start, "--target", $"udp://127.0.0.1:{serve.Ports["netflow"]}", "--rate", "20000", "-q"]);
            Assert.True(gen.ExitCode == 0, gen.Stderr);
            sent += 3000;
            ServeProcess.WaitFor(() => serve.Records("netflow9") >= sent, $"{sent} records decoded");
        }

        // The app tag of the client's rows in one hour of flows, once they are stored.
        string[] Apps(string from, string to)
        {
            string[] apps = [];
            ServeProcess.WaitFor(() =>
            {
                var r = FlowlineProcess.RunFlowline(["query", "--data-dir", dataDir, "--from", from, "--to", to, "-A", "app", "-o", "csv", "vmi vmi-client-1"]);
                apps = r.Stdout.Split('\n').Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')[0]).ToArray();
                return apps.Length > 0;
            }, "the client's rows stored", seconds: 30);
            return apps;
        }

        Send("2026-11-19T00:00:00Z");
        Assert.Equal(["first"], Apps("2026-11-19T00:00:00Z", "2026-11-19T01:00:00Z"));

        // A broken file (line 8 has a MAC that is not one) is refused; the first inventory stays in force.
        File.WriteAllText(file, Inventory("second", mac: "not-a-mac"));
        // The file is rewritten in place: a reload may first see it half written (and refuse that too); the
        // whole file's refusal names the line and the field.
        ServeProcess.WaitFor(() => serve.Errors.Contains("line 8: ports[0].mac", StringComparison.Ordinal), "the broken inventory refused, with its line and field");
        Assert.Contains("refused", serve.Errors, StringComparison.Ordinal);
        Assert.Contains("flowline_inventory_current 0", serve.Get("/metrics"), StringComparison.Ordinal);
        Send("2026-11-19T01:00:00Z");
        Assert.Equal(["first"], Apps("2026-11-19T01:00:00Z", "2026-11-19T02:00:00Z"));

        // A good file is picked up on its own.
        File.WriteAllText(file, Inventory("second"));
        ServeProcess.WaitFor(() => serve.Errors.Contains("(file changed): 1 accounts", StringComparison.Ordinal), "the new inventory in force");
        Send("2026-11-19T02:00:00Z");
        Assert.Equal(["second"], Apps("2026-11-19T02:00:00Z", "2026-11-19T03:00:00Z"));

        // And on SIGHUP.
        serve.Hangup();
        ServeProcess.WaitFor(() => serve.Errors.Contains("(SIGHUP)", StringComparison.Ordinal), "the inventory re-read on SIGHUP");
        Assert.Contains("flowline_inventory_current 1", serve.Get("/metrics"), StringComparison.Ordinal);
        Assert.Equal(0, serve.Terminate());
    }

    [Fact]
    public void A_broken_inventory_at_start_stops_the_start_with_its_line()
    {
        var file = Path.Combine(_dir.FullName, "inventory.yaml");
        File.WriteAllText(file, Inventory("x").Replace("    account: acc-1", "    account: acc-9", StringComparison.Ordinal));
        var r = FlowlineProcess.RunFlowline(["serve", "--data-dir", Path.Combine(_dir.FullName, "data"), "--inventory", file, "--sflow", "127.0.0.1:0",
            "--netflow", "127.0.0.1:0", "--ipfix", "127.0.0.1:0", "--http", "127.0.0.1:0"], TimeSpan.FromSeconds(60));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("line 6: ports[0].account", r.Stderr, StringComparison.Ordinal);
    }
}
