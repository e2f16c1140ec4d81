using Flowline.Api;

namespace Flowline.Cli.Tests;

/// <summary>`flowline taas` against a real serve (no switch configured): create, list, show, update, delete, and its errors.</summary>
public sealed class TaasCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-taas-cli-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void The_command_drives_the_taas_api_and_reports_refusals()
    {
        const string monitor = "44444444-4444-4444-8444-444444444444", source = "11111111-1111-4111-8111-111111111111";
        var inventory = Path.Combine(_dir.FullName, "inventory.yaml");
        File.WriteAllText(inventory, $$"""
            accounts: [{id: acc-a, name: A}]
            networks:
              - {name: "default-domain:a:net", account: acc-a, subnets: [10.77.0.0/24]}
            ports:
              - {uuid: {{source}}, account: acc-a, network: "default-domain:a:net", ips: [10.77.0.1], interface: vm1}
              - {uuid: {{monitor}}, account: acc-a, network: "default-domain:a:net", ips: [10.77.0.9], interface: mon, port_security_enabled: false}
            """);
        var data = Path.Combine(_dir.FullName, "data");
        Directory.CreateDirectory(data);
        var key = KeyStore.Open(data).Create("acc-a", admin: false);
        using var serve = new ServeProcess(data, "--inventory", inventory);
        FlowlineProcess.Result Taas(params string[] args)
        {
            var psi = FlowlineProcess.Flowline(["taas", .. args, "--endpoint", serve.Url]);
            psi.Environment["FLOWLINE_ACCESS_KEY"] = key.Id;
            psi.Environment["FLOWLINE_SECRET_KEY"] = key.Secret;
            return FlowlineProcess.Run(psi);
        }

        var created = Taas("service", "create", "--port", monitor, "--name", "mon", "-f", "json");
        Assert.True(created.ExitCode == 0, created.Stderr);
        var id = System.Text.Json.JsonDocument.Parse(created.Stdout).RootElement.GetProperty("tap_service").GetProperty("id").GetString()!;
        var flow = Taas("flow", "create", "--service", id, "--port", source, "--direction", "BOTH", "--name", "vm1");
        Assert.True(flow.ExitCode == 0, flow.Stderr);
        Assert.Contains("direction", flow.Stdout, StringComparison.Ordinal);
        Assert.Contains("BOTH", flow.Stdout, StringComparison.Ordinal);
        // Without a switch the tap is kept, and says why it is not carried.
        ServeProcess.WaitFor(() => Taas("service", "show", id).Stdout.Contains("no switch is configured", StringComparison.Ordinal), "the tap service in ERROR with its reason");
        Assert.Contains("flowline_taps{kind=\"tap_service\",status=\"ERROR\"} 1", serve.Get("/metrics"), StringComparison.Ordinal);
        var list = Taas("service", "list");
        Assert.True(list.ExitCode == 0, list.Stderr);
        Assert.Contains(id, list.Stdout, StringComparison.Ordinal);
        Assert.Contains("ERROR", list.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, Taas("service", "update", id, "--name", "renamed").ExitCode);
        Assert.Contains("renamed", Taas("service", "show", id).Stdout, StringComparison.Ordinal);
        // Refusals come back with Neutron's type and message, exit 1; bad arguments exit 2.
        var refused = Taas("service", "create", "--port", source);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("PortSecurityEnabled", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, Taas("service", "create", "--colour", "red").ExitCode);
        Assert.Equal(2, Taas("tunnel", "list").ExitCode);
        // Asking for other accounts without the admin password is refused, not answered with this key's own taps.
        foreach (var others in new[] { new[] { "--all" }, ["--project", "acc-b"] })
        {
            var all = Taas(["service", "list", .. others]);
            Assert.Equal(1, all.ExitCode);
            Assert.Contains("needs an admin key and the admin password in FLOWLINE_ADMIN_PASSWORD", all.Stderr, StringComparison.Ordinal);
            Assert.Equal("", all.Stdout);
        }
        var deleted = Taas("service", "delete", id);
        Assert.True(deleted.ExitCode == 0, deleted.Stderr);
        Assert.Contains("(none)", Taas("flow", "list").Stdout, StringComparison.Ordinal);
        Assert.Contains("Usage: flowline taas", Taas("--help").Stdout, StringComparison.Ordinal);
    }
}
