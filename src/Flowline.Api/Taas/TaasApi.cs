using System.Text.Json;
using System.Text.Json.Nodes;
using Flowline.Records;
using Flowline.Taas;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>What the TaaS face needs: the taps, the inventory's ports, and the driver's counters for /metrics.</summary>
public sealed record TaasAccess(TapState State, Func<string, TapPort?> Ports, Func<(long Passes, long Changes, long Failures)>? Driver = null);

/// <summary>
/// Neutron's Tap-as-a-Service API (seed 004 and the current TaaS API reference) under <c>/v2.0/taas/</c>:
/// <c>tap_services</c>, <c>tap_flows</c> and <c>tap_mirrors</c> (also at seed 004's <c>tap-services</c> and
/// <c>tap-flows</c>), POST, GET (list, with Neutron's attribute filters and <c>fields</c>), GET one, PUT of
/// name and description, DELETE (a tap service takes its tap flows with it). Signed like /api/v1; a key acts
/// on its own account; an admin key with the admin password on any (audited). A tenant taps only its own
/// ports and delivers only to its own port, whose port security must be off; every refusal is audited.
/// Errors are Neutron's: <c>{"NeutronError": {"type", "message", "detail"}}</c>.
/// </summary>
public sealed class TaasApi(TaasAccess taas, AdminGrant admin)
{
    /// <summary>Each resource's collection paths: the current API's, and seed 004's where it wrote one.</summary>
    public static readonly (TapKind Kind, string Path)[] Collections =
    [
        (TapKind.Service, "/v2.0/taas/tap_services"), (TapKind.Service, "/v2.0/taas/tap-services"),
        (TapKind.Flow, "/v2.0/taas/tap_flows"), (TapKind.Flow, "/v2.0/taas/tap-flows"),
        (TapKind.Mirror, "/v2.0/taas/tap_mirrors"),
    ];

    public void Map(WebApplication app)
    {
        foreach (var (kind, path) in Collections)
        {
            app.MapGet(path, c => Guarded(c, key => List(c, key, kind)));
            app.MapPost(path, c => Guarded(c, key => Create(c, key, kind)));
            app.MapGet(path + "/{id}", (HttpContext c, string id) => Guarded(c, key => Show(c, key, kind, id)));
            app.MapPut(path + "/{id}", (HttpContext c, string id) => Guarded(c, key => Update(c, key, kind, id)));
            app.MapDelete(path + "/{id}", (HttpContext c, string id) => Guarded(c, key => Delete(c, key, kind, id)));
        }
    }

    private static async Task Guarded(HttpContext c, Func<AccessKey, Task> handle)
    {
        if (DoorKeeper.KeyOf(c) is not { } key)
        {
            await Error(c, 401, "HTTPUnauthorized", "the request is not signed (see docs/API.md)");
            return;
        }
        try
        {
            await handle(key);
        }
        catch (TapRequestException e)
        {
            await Error(c, e.Status, e.Type, e.Message);
        }
        catch (IOException e)
        {
            await Error(c, 503, "ServiceUnavailable", $"the change could not be saved: {e.Message}");
        }
    }

    private Task List(HttpContext c, AccessKey key, TapKind kind)
    {
        var all = AllAccounts(c, key, "taas.read", "all accounts");
        var fields = c.Request.Query["fields"].Where(f => !string.IsNullOrEmpty(f)).Select(f => f!).ToHashSet(StringComparer.Ordinal);
        var filters = c.Request.Query.Where(q => q.Key != "fields").ToList();
        var items = new JsonArray();
        foreach (var r in taas.State.List(kind))
        {
            if (!all && r.TenantId != key.Account) continue;
            var json = r.ToJson();
            // Neutron's filters: an attribute equal to one of the values given.
            if (!filters.All(f => json[f.Key] is { } v && f.Value.Contains(v is JsonValue s && s.TryGetValue<string>(out var text) ? text : v.ToJsonString()))) continue;
            items.Add(Fields(json, fields));
        }
        return Write(c, 200, new JsonObject { [TapSchema.Names(kind).Many] = items });
    }

    private Task Show(HttpContext c, AccessKey key, TapKind kind, string id)
    {
        var r = Visible(c, key, kind, id, "taas.read");
        var fields = c.Request.Query["fields"].Where(f => !string.IsNullOrEmpty(f)).Select(f => f!).ToHashSet(StringComparer.Ordinal);
        return Write(c, 200, new JsonObject { [TapSchema.Names(kind).One] = Fields(r.ToJson(), fields) });
    }

    private async Task Create(HttpContext c, AccessKey key, TapKind kind)
    {
        var (attributes, asked) = TapSchema.ForCreate(kind, await Body(c));
        var tenant = asked ?? key.Account;
        if (tenant != key.Account && admin.Check(c, key, "taas.create", tenant, $"acts only on its own account, not {tenant}", $"creating taps for {tenant}") is { } refusal)
        {
            throw new TapRequestException(403, "PolicyNotAuthorized", refusal.Message);
        }
        switch (kind)
        {
            case TapKind.Service:
                var port = OwnPort(c, key, tenant, attributes["port_id"]!.ToString(), "taas.create");
                if (port.PortSecurityEnabled)
                {
                    admin.Deny(c, key, "taas.create", port.Id, "port security is on");
                    throw new TapRequestException(400, "PortSecurityEnabled", $"Port {port.Id} has port security enabled: a tap service port needs port_security_enabled false (seed 004, step 1)");
                }
                break;
            case TapKind.Flow:
                var serviceId = attributes["tap_service_id"]!.ToString();
                var service = taas.State.Get(TapKind.Service, serviceId);
                if (service is null || service.TenantId != tenant)
                {
                    if (service is not null) admin.Deny(c, key, "taas.create", serviceId, $"the tap service belongs to {service.TenantId}");
                    throw NotFound(TapKind.Service, serviceId);
                }
                OwnPort(c, key, tenant, attributes["source_port"]!.ToString(), "taas.create");
                break;
            default:
                OwnPort(c, key, tenant, attributes["port_id"]!.ToString(), "taas.create");
                break;
        }
        var made = taas.State.Create(kind, tenant, attributes);
        await Write(c, 201, new JsonObject { [TapSchema.Names(kind).One] = made.ToJson() });
    }

    private async Task Update(HttpContext c, AccessKey key, TapKind kind, string id)
    {
        var changes = TapSchema.ForUpdate(kind, await Body(c));
        Visible(c, key, kind, id, "taas.update");
        var updated = taas.State.Update(kind, id, changes) ?? throw NotFound(kind, id);
        await Write(c, 200, new JsonObject { [TapSchema.Names(kind).One] = updated.ToJson() });
    }

    private Task Delete(HttpContext c, AccessKey key, TapKind kind, string id)
    {
        Visible(c, key, kind, id, "taas.delete");
        if (taas.State.Delete(kind, id).Count == 0) throw NotFound(kind, id);
        c.Response.StatusCode = 204;
        return Task.CompletedTask;
    }

    /// <summary>
    /// Whether the request reaches every account: an admin password given (granted and audited). A password given
    /// that does not open (a wrong one, a tenant key) is refused with 403 and audited, never quietly read as
    /// "the key's own account".
    /// </summary>
    private bool AllAccounts(HttpContext c, AccessKey key, string what, string target)
    {
        if (c.Request.Headers[AdminGrant.PasswordHeader].ToString().Length == 0) return false;
        if (admin.Check(c, key, what, target, "reads only its own account's taps", "reading other accounts' taps") is { } refusal)
        {
            throw new TapRequestException(403, "PolicyNotAuthorized", refusal.Message);
        }
        return true;
    }

    /// <summary>The resource when the key may see it (its account's, or any with the admin password, audited); else 404, and audited when it exists.</summary>
    private TapResource Visible(HttpContext c, AccessKey key, TapKind kind, string id, string what)
    {
        var r = taas.State.Get(kind, id);
        if (r is not null && r.TenantId == key.Account) return r;
        if (r is not null && AllAccounts(c, key, what, r.TenantId)) return r;
        if (r is not null) admin.Deny(c, key, what, id, $"the {TapSchema.Label(kind).ToLowerInvariant()} belongs to {r.TenantId}");
        throw NotFound(kind, id);
    }

    /// <summary>A port of <paramref name="tenant"/>; another account's port is refused as missing (audited), as Neutron does.</summary>
    private TapPort OwnPort(HttpContext c, AccessKey key, string tenant, string portId, string what)
    {
        var port = taas.Ports(portId);
        if (port is not null && port.Account == tenant) return port;
        if (port is not null) admin.Deny(c, key, what, portId, $"the port belongs to {port.Account}, not {tenant}");
        throw new TapRequestException(404, "PortNotFound", $"Port {portId} could not be found.");
    }

    private static TapRequestException NotFound(TapKind kind, string id) => new(404, TapSchema.NotFoundType(kind), $"{TapSchema.Label(kind)} {id} does not exist");

    private static JsonObject Fields(JsonObject resource, HashSet<string> fields)
    {
        if (fields.Count == 0) return resource;
        var o = new JsonObject();
        foreach (var (k, v) in resource)
        {
            if (fields.Contains(k)) o[k] = v?.DeepClone();
        }
        return o;
    }

    private static async Task<JsonNode?> Body(HttpContext c)
    {
        try
        {
            return await JsonNode.ParseAsync(c.Request.Body, documentOptions: new JsonDocumentOptions { MaxDepth = 16 }, cancellationToken: c.RequestAborted);
        }
        catch (JsonException e)
        {
            throw new TapRequestException(400, "HTTPBadRequest", $"Failed to parse request. The body is not JSON: {e.Message}");
        }
    }

    private static Task Write(HttpContext c, int status, JsonObject body)
    {
        c.Response.StatusCode = status;
        c.Response.ContentType = "application/json";
        return c.Response.WriteAsync(body.ToJsonString(ReadableJson.Serializer));
    }

    private static Task Error(HttpContext c, int status, string type, string message) =>
        Write(c, status, new JsonObject { ["NeutronError"] = new JsonObject { ["type"] = type, ["message"] = message, ["detail"] = "" } });
}
