using System.Text.Json;
using System.Text.Json.Nodes;
using Flowline.Mitigation.Ddos;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>
/// DDoS attacks and their rules under <c>/api/v1/ddos/</c>: a key sees the attacks on its account's
/// addresses and their rules, may withdraw those, block one of its own addresses by hand and unblock it,
/// and approve a pending rule (manual mode); an admin key with the password does so for another account
/// or all (<c>?account=*</c>). Every change, granted or refused, is audited.
/// </summary>
public sealed partial class ApiV1
{
    private void MapDdos(WebApplication app)
    {
        app.MapGet("/api/v1/ddos/attacks", context => DdosList(context, "ddos.read", (s, account, active) => s.Attacks(account, active), "attacks"));
        app.MapGet("/api/v1/ddos/mitigations", context => DdosList(context, "ddos.read", (s, account, active) => s.Mitigations(account, active), "mitigations"));
        app.MapPost("/api/v1/ddos/mitigations", DdosBlock);
        app.MapGet("/api/v1/ddos/mitigations/{id}", async (HttpContext context, string id) =>
        {
            if (await DdosScope(context, "ddos.read") is not var (s, _, account)) return;
            if (s.Mitigation(id, account) is { } m) await Json(context, 200, m);
            else await Error(context, new ApiError(404, "NotFound", $"no mitigation {id}"));
        });
        app.MapDelete("/api/v1/ddos/mitigations/{id}", (HttpContext context, string id) =>
            DdosChange(context, id, "ddos.withdraw", (s, account, key) => s.Withdraw(id, account, $"key {key.Id}")));
        app.MapPost("/api/v1/ddos/mitigations/{id}/approve", (HttpContext context, string id) =>
            DdosChange(context, id, "ddos.approve", (s, account, _) => s.Approve(id, account)));
        app.MapGet("/api/v1/ddos/status", DdosStatus);
    }

    /// <summary>The DDoS service, the key, and the account the request acts on (null: all); null when refused (written).</summary>
    private async Task<(DdosService, AccessKey, string?)?> DdosScope(HttpContext context, string what)
    {
        if (await Authenticate(context) is not { } key) return null;
        if (ddos is null)
        {
            await Error(context, new ApiError(404, "DdosOff", "this server does not detect attacks: start it with --ddos dry-run, manual or automatic (docs/DDOS.md)"));
            return null;
        }
        var (ok, account) = await Scope(context, key, what);
        return ok ? (ddos, key, account) : null;
    }

    private async Task DdosList(HttpContext context, string what, Func<DdosService, string?, bool, IReadOnlyList<JsonObject>> list, string name)
    {
        if (await DdosScope(context, what) is not var (s, _, account)) return;
        var active = context.Request.Query["active"].ToString() is "true" or "1";
        await Json(context, 200, new JsonObject { [name] = new JsonArray([.. list(s, account, active)]) });
    }

    private async Task DdosChange(HttpContext context, string id, string what, Func<DdosService, string?, AccessKey, DdosRefusal> change)
    {
        if (await DdosScope(context, what) is not var (s, key, account)) return;
        var refusal = change(s, account, key);
        var from = context.Connection.RemoteIpAddress?.ToString() ?? "";
        audit.Write(new AuditEntry(guard.Now, what, key.Id, key.Account, id, refusal == DdosRefusal.None ? "granted" : "denied", from, refusal.ToString()));
        switch (refusal)
        {
            case DdosRefusal.None:
                await Json(context, 200, s.Mitigation(id, account)!);
                break;
            case DdosRefusal.Conflict:
                await Error(context, new ApiError(409, "IncorrectState", $"mitigation {id} is {s.Mitigation(id, account)?["status"]}"));
                break;
            default:
                await Error(context, new ApiError(404, "NotFound", $"no mitigation {id} of {(account ?? "any account")}"));
                break;
        }
    }

    private async Task DdosBlock(HttpContext context)
    {
        if (await DdosScope(context, "ddos.block") is not var (s, key, account)) return;
        var from = context.Connection.RemoteIpAddress?.ToString() ?? "";
        JsonObject? request;
        try
        {
            request = JsonNode.Parse(await new StreamReader(context.Request.Body).ReadToEndAsync(), documentOptions: new JsonDocumentOptions { MaxDepth = 8 }) as JsonObject;
        }
        catch (JsonException e)
        {
            await Error(context, new ApiError(400, "MalformedBody", $"the body is not JSON: {e.Message}"));
            return;
        }
        if (request is null)
        {
            await Error(context, new ApiError(400, "MalformedBody", "the body is a JSON object: destination, and optionally protocol, source_ports, destination_ports, source, action"));
            return;
        }
        try
        {
            var (m, refusal, reason) = s.Block(request, account, $"key {key.Id}");
            audit.Write(new AuditEntry(guard.Now, "ddos.block", key.Id, key.Account, request["destination"]?.ToString() ?? "", m is null ? "denied" : "granted", from, reason ?? m!["id"]!.ToString()));
            if (m is not null) await Json(context, 201, m);
            else if (refusal == DdosRefusal.TooMany) await Error(context, new ApiError(429, "RulesLimitExceeded", reason ?? refusal.ToString()));
            else await Error(context, new ApiError(refusal == DdosRefusal.NotAllowed ? 403 : 400, "UnauthorizedOperation", reason ?? refusal.ToString()));
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", e.Message));
        }
    }

    /// <summary>Mode, protected addresses, BGP neighbours and counters (admin with the password).</summary>
    private async Task DdosStatus(HttpContext context)
    {
        if (await Authenticate(context) is not { } key) return;
        // The admin's door first: a tenant learns nothing, not even whether detection is on.
        if (!await Admitted(context, key, "ddos.status", "all accounts", "reads only its own attacks", "reading the DDoS status")) return;
        if (ddos is null)
        {
            await Error(context, new ApiError(404, "DdosOff", "this server does not detect attacks: start it with --ddos dry-run, manual or automatic (docs/DDOS.md)"));
            return;
        }
        var c = ddos.Counts;
        var o = new JsonObject
        {
            ["mode"] = DdosOptions.Name(ddos.Options.Mode),
            ["protected_addresses"] = ddos.Protected.Addresses,
            ["protected_prefixes"] = ddos.Protected.Prefixes,
            ["active_attacks"] = c.ActiveAttacks,
            ["active_rules"] = c.ActiveRules,
            ["announced"] = c.Announced,
            ["withdrawn"] = c.Withdrawn,
            ["failed"] = c.Failed,
            ["neighbors"] = new JsonArray([.. ddos.Speaker.Neighbors.Select(n => (JsonNode)new JsonObject
            {
                ["neighbor"] = n.Neighbor, ["as"] = n.As, ["state"] = n.State.ToString(), ["established_since"] = n.EstablishedSince?.ToString("O"),
                ["families"] = new JsonArray([.. n.Families.Select(f => (JsonNode)f)]), ["advertised"] = n.Advertised, ["hold_time"] = n.HoldTime,
                ["connects"] = n.Connects, ["updates"] = n.Updates, ["notifications"] = n.Notifications, ["last_error"] = n.LastError,
            })]),
        };
        await Json(context, 200, o);
    }
}
