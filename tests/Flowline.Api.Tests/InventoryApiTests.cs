using System.Text.Json;
using Flowline.Api;
using Flowline.Ingest;
using Flowline.Enrichment;

namespace Flowline.Api.Tests;

/// <summary>The inventory API over a real inventory file, watched and put in force by the collector's own watch.</summary>
public sealed class InventoryApiTests : IAsyncLifetime
{
    private const string File0 = """
        # two tenants
        accounts:
          - id: acc-a
            name: Acme
          - id: acc-b
            name: Globex
        networks:
          - name: default-domain:acme:web
            account: acc-a
            subnets: [10.0.0.0/24]
            vlan: 100
          - name: default-domain:globex:app
            account: acc-b
            subnets: [10.0.0.0/24]
            vlan: 200
        ports:
          - uuid: 3c1d2e3f-0000-4000-8000-000000000101
            account: acc-a
            network: default-domain:acme:web
            mac: 02:00:00:00:01:01
            ips: [10.0.0.5]
        """;

    private ApiServer _server = null!;
    private Enricher _enricher = null!;
    private InventoryWatch _watch = null!;
    private AccessKey _tenant = null!, _admin = null!;
    private string _path = "";

    public Task InitializeAsync()
    {
        _server = new ApiServer(inventory: s =>
        {
            _path = Path.Combine(s.Dir.FullName, "inventory.yaml");
            File.WriteAllText(_path, File0);
            _enricher = new Enricher(s.Store.Symbols);
            _watch = new InventoryWatch(_path, _enricher, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
            return new InventoryAccess(_watch.Path, _watch.Reload);
        });
        _tenant = _server.Keys.Create("acc-a", admin: false);
        _admin = _server.Keys.Create("acc-ops", admin: true);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _watch.Dispose();
        await _server.DisposeAsync();
    }

    private static string Message(JsonElement body) => body.GetProperty("error").GetProperty("message").GetString()!;

    private Task<(int Status, JsonElement Body, System.Net.Http.Headers.HttpResponseHeaders Headers)> Admin(HttpMethod method, string path, string? json = null) =>
        _server.Send(_admin, method, path, [], json, ApiServer.AdminPasswordText);

    [Fact]
    public async Task A_tenant_sees_only_its_own_objects_and_cannot_change_any()
    {
        var (status, body, _) = await _server.Send(_tenant, HttpMethod.Get, "/api/v1/inventory", []);
        Assert.Equal(200, status);
        Assert.Equal(["acc-a"], body.GetProperty("accounts").EnumerateArray().Select(a => a.GetProperty("id").GetString()));
        Assert.Equal(["default-domain:acme:web"], body.GetProperty("networks").EnumerateArray().Select(a => a.GetProperty("name").GetString()));
        Assert.Equal(100, body.GetProperty("networks")[0].GetProperty("vlan").GetInt32());
        (status, _, _) = await _server.Send(_tenant, HttpMethod.Get, "/api/v1/inventory/networks/default-domain:globex:app", []);
        Assert.Equal(404, status);
        (status, body, _) = await _server.Send(_tenant, HttpMethod.Get, "/api/v1/inventory", [new("account", "acc-b")]);
        Assert.Equal(403, status);

        (status, body, _) = await _server.Send(_tenant, HttpMethod.Delete, "/api/v1/inventory/ports/3c1d2e3f-0000-4000-8000-000000000101", []);
        Assert.Equal(403, status);
        Assert.Contains("cannot change the inventory", Message(body));
        (status, body, _) = await _server.Send(_admin, HttpMethod.Delete, "/api/v1/inventory/ports/3c1d2e3f-0000-4000-8000-000000000101", []);
        Assert.Equal(403, status);
        Assert.Contains(ApiV1.AdminPasswordHeader, Message(body));
        Assert.Single(_enricher.Inventory.Ports);
        Assert.Equal(File0, File.ReadAllText(_path));
        Assert.Contains(_server.Audit.Tail(100), l => l.Contains("inventory.delete") && l.Contains("denied"));
    }

    [Fact]
    public async Task An_admin_adds_replaces_and_deletes_objects_and_each_change_is_in_force_at_once()
    {
        const string port = """{"account":"acc-b","network":"default-domain:globex:app","mac":"02:00:00:00:02:01","ips":["10.0.0.9"],"tags":{"app":"db"}}""";
        var (status, body, _) = await Admin(HttpMethod.Put, "/api/v1/inventory/ports/3c1d2e3f-0000-4000-8000-000000000201", port);
        Assert.Equal(201, status);
        Assert.Equal(2, body.GetProperty("ports").GetInt32());
        Assert.Equal(2, _enricher.Inventory.Ports.Count);
        Assert.Equal("db", _enricher.Inventory.Ports.Single(p => p.Account == "acc-b").Tags.App);
        Assert.Equal(File0, File.ReadAllText(_path + ".previous"));

        (status, _, _) = await Admin(HttpMethod.Put, "/api/v1/inventory/ports/3c1d2e3f-0000-4000-8000-000000000201", port.Replace("db", "cache"));
        Assert.Equal(200, status);
        Assert.Equal("cache", _enricher.Inventory.Ports.Single(p => p.Account == "acc-b").Tags.App);

        // An admin reads like any key, its own account, unless it asks for another or all.
        (status, _, _) = await Admin(HttpMethod.Get, "/api/v1/inventory/ports/3c1d2e3f-0000-4000-8000-000000000201");
        Assert.Equal(404, status);
        (status, body, _) = await _server.Send(_admin, HttpMethod.Get, "/api/v1/inventory/ports/3c1d2e3f-0000-4000-8000-000000000201", [new("account", "*")], null, ApiServer.AdminPasswordText);
        Assert.Equal(200, status);
        Assert.Equal("10.0.0.9", body.GetProperty("ips")[0].GetString());

        (status, _, _) = await Admin(HttpMethod.Delete, "/api/v1/inventory/ports/3c1d2e3f-0000-4000-8000-000000000201");
        Assert.Equal(200, status);
        Assert.Single(_enricher.Inventory.Ports);
        (status, body, _) = await Admin(HttpMethod.Delete, "/api/v1/inventory/ports/3c1d2e3f-0000-4000-8000-000000000201");
        Assert.Equal(404, status);
        // What the API wrote is still a file the server starts with.
        Assert.Single(InventoryFile.Load(_path).Ports);
        Assert.Contains(_server.Audit.Tail(100), l => l.Contains("inventory.change") && l.Contains("put ports/3c1d2e3f-0000-4000-8000-000000000201"));
    }

    [Fact]
    public async Task A_change_that_breaks_the_inventory_is_refused_whole_with_each_error()
    {
        // The network still has a port on it.
        var (status, body, _) = await Admin(HttpMethod.Delete, "/api/v1/inventory/networks/default-domain:acme:web");
        Assert.Equal(400, status);
        Assert.Equal("InvalidInventory", body.GetProperty("error").GetProperty("code").GetString());
        var errors = body.GetProperty("error").GetProperty("errors").EnumerateArray().ToList();
        Assert.Contains(errors, e => e.GetProperty("field").GetString()!.EndsWith(".network") && e.GetProperty("message").GetString()!.Contains("default-domain:acme:web"));
        Assert.Equal(File0, File.ReadAllText(_path));
        Assert.Equal(2, _enricher.Inventory.Networks.Count);

        (status, body, _) = await Admin(HttpMethod.Put, "/api/v1/inventory/ports/p1", """{"account":"acc-a","network":"default-domain:acme:web","mac":"zz","ips":["10.9.9.9"]}""");
        Assert.Equal(400, status);
        Assert.True(body.GetProperty("error").GetProperty("errors").GetArrayLength() >= 2);
        (status, body, _) = await Admin(HttpMethod.Put, "/api/v1/inventory/ports/p1", """{"uuid":"p2"}""");
        Assert.Equal(400, status);
        Assert.Contains("differs from the 'p1' in the path", Message(body));
        (status, body, _) = await Admin(HttpMethod.Put, "/api/v1/inventory/vms/x", "{}");
        Assert.Equal(404, status);
        Assert.Contains("accounts, networks, ports or security_groups", Message(body));
        (status, body, _) = await Admin(HttpMethod.Put, "/api/v1/inventory", "accounts: [");
        Assert.Equal(400, status);
        Assert.Equal(File0, File.ReadAllText(_path));
    }

    [Fact]
    public async Task A_whole_document_replaces_the_file_as_sent()
    {
        var text = File0.Replace("name: Globex", "name: Globex Corp") + "\n# kept as sent\n";
        var (status, body, _) = await Admin(HttpMethod.Put, "/api/v1/inventory", text);
        Assert.Equal(200, status);
        Assert.Equal(text, File.ReadAllText(_path));
        Assert.Equal("Globex Corp", _enricher.Inventory.Accounts.Single(a => a.Id == "acc-b").Name);
    }
}
