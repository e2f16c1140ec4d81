using System.Text.Json;
using System.Text.Json.Nodes;
using Flowline.Taas;

namespace Flowline.Api.Tests;

/// <summary>
/// The Neutron TaaS face against seed 004: resource shapes field by field, attribute rules (POST, PUT,
/// hidden network_id, uuids), Neutron's errors, and the ownership checks between accounts (each refusal audited).
/// </summary>
public sealed class TaasApiTests : IAsyncLifetime
{
    // Seed 004's ids: the monitoring port (port security off), the source port, and the tenant.
    private const string MonitorPort = "c9beb5a1-21f5-4225-9eaf-02ddccdd50a9";
    private const string SourcePort = "775a58bb-e2c6-4529-a918-2f019169b5b1";
    private const string SecuredPort = "5a6f0c3e-1111-4e5b-9c1d-0a0b0c0d0e01";
    private const string OtherPort = "5a6f0c3e-2222-4e5b-9c1d-0a0b0c0d0e02";
    private const string OtherMonitor = "5a6f0c3e-3333-4e5b-9c1d-0a0b0c0d0e03";
    // Seed 004's tenant id, as a Flowline account id (accounts are named acc-…).
    private const string Tenant = "acc-97e1586d580745d7b311406697aaf097";
    private readonly TapState _state = new(null);
    private ApiServer _server = null!;
    private Flowline.Api.AccessKey _tenant = null!, _other = null!, _admin = null!;

    private static readonly Dictionary<string, TapPort> Ports = new()
    {
        [MonitorPort] = new(MonitorPort, Tenant, "mon0", PortSecurityEnabled: false),
        [SourcePort] = new(SourcePort, Tenant, "vm1", PortSecurityEnabled: true),
        [SecuredPort] = new(SecuredPort, Tenant, "vm3", PortSecurityEnabled: true),
        [OtherPort] = new(OtherPort, "acc-other", "vm2", PortSecurityEnabled: true),
        [OtherMonitor] = new(OtherMonitor, "acc-other", "mon2", PortSecurityEnabled: false),
    };

    public Task InitializeAsync()
    {
        _server = new ApiServer(taas: _ => new TaasAccess(_state, id => Ports.GetValueOrDefault(id)));
        _tenant = _server.Keys.Create(Tenant, admin: false);
        _other = _server.Keys.Create("acc-other", admin: false);
        _admin = _server.Keys.Create("acc-ops", admin: true);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<(int Status, JsonElement Body, System.Net.Http.Headers.HttpResponseHeaders Headers)> Send(Flowline.Api.AccessKey key, HttpMethod method, string path, string? json = null,
        List<KeyValuePair<string, string>>? query = null, string? password = null) =>
        _server.Send(key, method, path, query ?? [], json, password);

    /// <summary>Seed 004's "Create TapService" request, as written there.</summary>
    private const string CreateService = """
        {"tap_service": {"description": "Test_Tap", "name": "Test", "network_id": "8686f7d1-14e3-46ab-be3c-ccc0eead93cd",
         "port_id": "c9beb5a1-21f5-4225-9eaf-02ddccdd50a9", "tenant_id": "acc-97e1586d580745d7b311406697aaf097"}}
        """;

    private async Task<string> Service()
    {
        var (status, body, _) = await Send(_tenant, HttpMethod.Post, "/v2.0/taas/tap-services", CreateService);
        Assert.Equal(201, status);
        return body.GetProperty("tap_service").GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task Seed_004s_requests_get_seed_004s_answers_field_by_field()
    {
        var (status, body, _) = await Send(_tenant, HttpMethod.Post, "/v2.0/taas/tap-services", CreateService);
        Assert.Equal(201, status);
        var service = body.GetProperty("tap_service");
        // Seed 004's response fields with their values (id is new), network_id hidden; status and project_id from the current API.
        var expected = JsonNode.Parse("""{"description": "Test_Tap", "name": "Test", "port_id": "c9beb5a1-21f5-4225-9eaf-02ddccdd50a9", "tenant_id": "acc-97e1586d580745d7b311406697aaf097"}""")!.AsObject();
        foreach (var (k, v) in expected) Assert.Equal(v!.GetValue<string>(), service.GetProperty(k).GetString());
        Assert.True(Guid.TryParseExact(service.GetProperty("id").GetString(), "D", out _));
        Assert.False(service.TryGetProperty("network_id", out _));
        Assert.Equal(Tenant, service.GetProperty("project_id").GetString());
        Assert.Equal("PENDING_CREATE", service.GetProperty("status").GetString());
        Assert.Equal(["description", "id", "name", "port_id", "project_id", "status", "tenant_id"], service.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        var serviceId = service.GetProperty("id").GetString()!;

        var flowRequest = $$$"""
            {"tap_flow": {"description": "Test_flow1", "direction": "BOTH", "name": "flow1", "source_port": "{{{SourcePort}}}",
             "tap_service_id": "{{{serviceId}}}", "tenant_id": "{{{Tenant}}}"}}
            """;
        (status, body, _) = await Send(_tenant, HttpMethod.Post, "/v2.0/taas/tap-flows", flowRequest);
        Assert.Equal(201, status);
        var flow = body.GetProperty("tap_flow");
        foreach (var (k, v) in JsonNode.Parse(flowRequest)!["tap_flow"]!.AsObject()) Assert.Equal(v!.GetValue<string>(), flow.GetProperty(k).GetString());
        Assert.Equal(JsonValueKind.Null, flow.GetProperty("vlan_filter").ValueKind);

        // Lists at both spellings, with Neutron's filters and fields.
        foreach (var path in new[] { "/v2.0/taas/tap-services", "/v2.0/taas/tap_services" })
        {
            (status, body, _) = await Send(_tenant, HttpMethod.Get, path, query: [new("name", "Test"), new("fields", "id"), new("fields", "name")]);
            Assert.Equal(200, status);
            var only = Assert.Single(body.GetProperty("tap_services").EnumerateArray());
            Assert.Equal(["id", "name"], only.EnumerateObject().Select(p => p.Name));
        }
        (status, body, _) = await Send(_tenant, HttpMethod.Get, "/v2.0/taas/tap_services", query: [new("name", "nothing-called-this")]);
        Assert.Empty(body.GetProperty("tap_services").EnumerateArray());
        (status, body, _) = await Send(_tenant, HttpMethod.Get, "/v2.0/taas/tap_flows/" + flow.GetProperty("id").GetString());
        Assert.Equal("BOTH", body.GetProperty("tap_flow").GetProperty("direction").GetString());
    }

    [Fact]
    public async Task Attribute_rules_and_errors_are_neutrons()
    {
        var id = await Service();
        // PUT: name and description only.
        var (status, body, _) = await Send(_tenant, HttpMethod.Put, "/v2.0/taas/tap_services/" + id, """{"tap_service": {"name": "renamed", "description": "d"}}""");
        Assert.Equal(200, status);
        Assert.Equal("renamed", body.GetProperty("tap_service").GetProperty("name").GetString());
        (status, body, _) = await Send(_tenant, HttpMethod.Put, "/v2.0/taas/tap_services/" + id, $$$"""{"tap_service": {"port_id": "{{{SourcePort}}}"}}""");
        Assert.Equal(400, status);
        Assert.Equal("Cannot update read-only attribute port_id", body.GetProperty("NeutronError").GetProperty("message").GetString());
        Assert.Equal("HTTPBadRequest", body.GetProperty("NeutronError").GetProperty("type").GetString());
        // POST: no id or status, no unknown attributes, uuids checked, required attributes.
        foreach (var (json, message) in new[]
        {
            ($$$"""{"tap_service": {"port_id": "{{{MonitorPort}}}", "id": "{{{MonitorPort}}}"}}""", "Attribute 'id' not allowed in POST"),
            ($$$"""{"tap_service": {"port_id": "{{{MonitorPort}}}", "status": "ACTIVE"}}""", "Attribute 'status' not allowed in POST"),
            ($$$"""{"tap_service": {"port_id": "{{{MonitorPort}}}", "colour": "red"}}""", "Unrecognized attribute(s) 'colour'"),
            ("""{"tap_service": {"port_id": "not-a-uuid"}}""", "Invalid input for port_id. Reason: 'not-a-uuid' is not a valid UUID."),
            ("""{"tap_service": {"name": "x"}}""", "Failed to parse request. Required attribute 'port_id' not specified"),
        })
        {
            (status, body, _) = await Send(_tenant, HttpMethod.Post, "/v2.0/taas/tap_services", json);
            Assert.Equal(400, status);
            Assert.Equal(message, body.GetProperty("NeutronError").GetProperty("message").GetString());
        }
        (status, body, _) = await Send(_tenant, HttpMethod.Post, "/v2.0/taas/tap_flows", $$$"""{"tap_flow": {"tap_service_id": "{{{id}}}", "source_port": "{{{SourcePort}}}", "direction": "SIDEWAYS"}}""");
        Assert.Equal(400, status);
        Assert.Contains("is not in ['IN', 'OUT', 'BOTH']", body.GetProperty("NeutronError").GetProperty("message").GetString());
        (status, body, _) = await Send(_tenant, HttpMethod.Get, "/v2.0/taas/tap_services/" + Guid.NewGuid());
        Assert.Equal(404, status);
        Assert.Equal("TapServiceNotFound", body.GetProperty("NeutronError").GetProperty("type").GetString());
        // Tap mirrors: type, remote address and directions checked.
        (status, body, _) = await Send(_tenant, HttpMethod.Post, "/v2.0/taas/tap_mirrors",
            $$$$"""{"tap_mirror": {"port_id": "{{{{SourcePort}}}}", "mirror_type": "erspanv1", "remote_ip": "192.0.2.9", "directions": {"IN": 101, "OUT": 102}}}""");
        Assert.Equal(201, status);
        Assert.Equal(101, body.GetProperty("tap_mirror").GetProperty("directions").GetProperty("IN").GetInt32());
        (status, _, _) = await Send(_tenant, HttpMethod.Post, "/v2.0/taas/tap_mirrors",
            $$$$"""{"tap_mirror": {"port_id": "{{{{SourcePort}}}}", "mirror_type": "vxlan", "remote_ip": "192.0.2.9", "directions": {"IN": 1}}}""");
        Assert.Equal(400, status);
        (status, _, _) = await Send(_tenant, HttpMethod.Post, "/v2.0/taas/tap_mirrors",
            $$$$"""{"tap_mirror": {"port_id": "{{{{SourcePort}}}}", "mirror_type": "gre", "remote_ip": "192.0.2.9", "directions": {"UP": 1}}}""");
        Assert.Equal(400, status);
        // DELETE of a tap service takes its tap flows with it.
        (status, body, _) = await Send(_tenant, HttpMethod.Post, "/v2.0/taas/tap_flows", $$$"""{"tap_flow": {"tap_service_id": "{{{id}}}", "source_port": "{{{SourcePort}}}", "direction": "IN"}}""");
        Assert.Equal(201, status);
        (status, _, _) = await Send(_tenant, HttpMethod.Delete, "/v2.0/taas/tap_services/" + id);
        Assert.Equal(204, status);
        (status, body, _) = await Send(_tenant, HttpMethod.Get, "/v2.0/taas/tap_flows");
        Assert.Empty(body.GetProperty("tap_flows").EnumerateArray());
    }

    [Fact]
    public async Task A_tenant_taps_and_delivers_to_its_own_ports_only_sees_its_own_taps_and_every_refusal_is_audited()
    {
        var id = await Service();
        // Another account's port as the source, or as the delivery port: as if it did not exist.
        var (status, body, _) = await Send(_tenant, HttpMethod.Post, "/v2.0/taas/tap_flows", $$$"""{"tap_flow": {"tap_service_id": "{{{id}}}", "source_port": "{{{OtherPort}}}", "direction": "BOTH"}}""");
        Assert.Equal(404, status);
        Assert.Equal("PortNotFound", body.GetProperty("NeutronError").GetProperty("type").GetString());
        (status, _, _) = await Send(_tenant, HttpMethod.Post, "/v2.0/taas/tap_services", $$$"""{"tap_service": {"port_id": "{{{OtherMonitor}}}"}}""");
        Assert.Equal(404, status);
        (status, _, _) = await Send(_tenant, HttpMethod.Post, "/v2.0/taas/tap_mirrors",
            $$$$"""{"tap_mirror": {"port_id": "{{{{OtherPort}}}}", "mirror_type": "gre", "remote_ip": "192.0.2.9", "directions": {"IN": 1}}}""");
        Assert.Equal(404, status);
        // A port with port security on cannot receive the copies.
        (status, body, _) = await Send(_tenant, HttpMethod.Post, "/v2.0/taas/tap_services", $$$"""{"tap_service": {"port_id": "{{{SecuredPort}}}"}}""");
        Assert.Equal(400, status);
        Assert.Equal("PortSecurityEnabled", body.GetProperty("NeutronError").GetProperty("type").GetString());
        // Acting for another account needs an admin key and the password.
        (status, _, _) = await Send(_tenant, HttpMethod.Post, "/v2.0/taas/tap_services", $$$"""{"tap_service": {"port_id": "{{{OtherMonitor}}}", "tenant_id": "acc-other"}}""");
        Assert.Equal(403, status);
        // The other account sees none of these taps and cannot touch them; nor can it hang a flow on this tap service.
        (status, body, _) = await Send(_other, HttpMethod.Get, "/v2.0/taas/tap_services");
        Assert.Empty(body.GetProperty("tap_services").EnumerateArray());
        (status, _, _) = await Send(_other, HttpMethod.Get, "/v2.0/taas/tap_services/" + id);
        Assert.Equal(404, status);
        (status, _, _) = await Send(_other, HttpMethod.Delete, "/v2.0/taas/tap_services/" + id);
        Assert.Equal(404, status);
        (status, _, _) = await Send(_other, HttpMethod.Put, "/v2.0/taas/tap_services/" + id, """{"tap_service": {"name": "mine now"}}""");
        Assert.Equal(404, status);
        (status, _, _) = await Send(_other, HttpMethod.Post, "/v2.0/taas/tap_flows", $$$"""{"tap_flow": {"tap_service_id": "{{{id}}}", "source_port": "{{{OtherPort}}}", "direction": "BOTH"}}""");
        Assert.Equal(404, status);
        Assert.NotNull(_state.Get(TapKind.Service, id));
        var audit = _server.Audit.Tail(100);
        Assert.Contains(audit, l => l.Contains("taas.create") && l.Contains("denied") && l.Contains(OtherPort));
        Assert.Contains(audit, l => l.Contains("taas.create") && l.Contains("denied") && l.Contains(OtherMonitor));
        Assert.Contains(audit, l => l.Contains("taas.create") && l.Contains("denied") && l.Contains(SecuredPort));
        Assert.Contains(audit, l => l.Contains("taas.read") && l.Contains("denied") && l.Contains(id));
        Assert.Contains(audit, l => l.Contains("taas.delete") && l.Contains("denied") && l.Contains(id));
        Assert.Contains(audit, l => l.Contains("taas.update") && l.Contains("denied") && l.Contains(id));
        // An admin key with the password acts on any account (audited); without the password only on its own.
        (status, body, _) = await Send(_admin, HttpMethod.Get, "/v2.0/taas/tap_services");
        Assert.Empty(body.GetProperty("tap_services").EnumerateArray());
        (status, body, _) = await Send(_admin, HttpMethod.Get, "/v2.0/taas/tap_services", password: ApiServer.AdminPasswordText);
        Assert.Single(body.GetProperty("tap_services").EnumerateArray());
        // A wrong password is refused and audited, never quietly read as "the key's own account".
        (status, body, _) = await Send(_admin, HttpMethod.Get, "/v2.0/taas/tap_services", password: "not the password");
        Assert.Equal(403, status);
        Assert.Contains("the admin password is wrong", body.ToString(), StringComparison.Ordinal);
        (status, _, _) = await Send(_admin, HttpMethod.Get, "/v2.0/taas/tap_services/" + id, password: "not the password");
        Assert.Equal(403, status);
        Assert.Equal(2, _server.Audit.Tail(100).Count(l => l.Contains("taas.read") && l.Contains("denied") && l.Contains("the admin password is wrong")));
        (status, body, _) = await Send(_admin, HttpMethod.Post, "/v2.0/taas/tap_services", $$$"""{"tap_service": {"port_id": "{{{OtherMonitor}}}", "tenant_id": "acc-other"}}""", password: ApiServer.AdminPasswordText);
        Assert.Equal(201, status);
        Assert.Equal("acc-other", body.GetProperty("tap_service").GetProperty("tenant_id").GetString());
        (status, _, _) = await Send(_admin, HttpMethod.Delete, "/v2.0/taas/tap_services/" + id, password: ApiServer.AdminPasswordText);
        Assert.Equal(204, status);
        Assert.Contains(_server.Audit.Tail(100), l => l.Contains("taas.delete") && l.Contains("granted"));
        // Unsigned: refused at the door.
        using var unsigned = await _server.Http.GetAsync(new Uri(_server.Base, "/v2.0/taas/tap_services"));
        Assert.Equal(401, (int)unsigned.StatusCode);
    }
}
