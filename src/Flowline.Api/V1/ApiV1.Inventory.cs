using System.Text.Json;
using System.Text.Json.Nodes;
using Flowline.Enrichment;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Flowline.Records;

namespace Flowline.Api;

/// <summary>The inventory file serve enriches with: its path, a reload that says whether the file on disk is now in force.</summary>
public sealed record InventoryAccess(string Path, Func<string, bool> Reload);

/// <summary>
/// <c>/api/v1/inventory</c>: a tenant reads its own account's networks, ports and security groups; an admin
/// key with the admin password reads all of it and changes it, whole (PUT of a document) or one object at a
/// time (PUT/DELETE <c>/api/v1/inventory/{kind}/{id}</c>). Every change is validated as the file is (a change
/// with any error is refused whole, each error with its field), written to the file atomically, put in force
/// at once, and audited. The file before the change is kept beside it as <c>FILE.previous</c>.
/// </summary>
public sealed partial class ApiV1
{
    private readonly Lock _inventoryLock = new();

    private void MapInventory(WebApplication app)
    {
        app.MapGet("/api/v1/inventory", InventoryGet);
        app.MapPut("/api/v1/inventory", InventoryPutWhole);
        app.MapGet("/api/v1/inventory/{kind}/{id}", InventoryGetOne);
        app.MapPut("/api/v1/inventory/{kind}/{id}", InventoryPutOne);
        app.MapDelete("/api/v1/inventory/{kind}/{id}", InventoryDeleteOne);
    }

    /// <summary>The inventory in use, or null with a 409 written when serve runs without one.</summary>
    private async Task<InventoryAccess?> InventoryInUse(HttpContext context)
    {
        if (inventory is not null) return inventory;
        await Error(context, new ApiError(409, "NoInventory",
            "this server runs without an inventory file: start flowline serve with --inventory FILE (a file holding 'accounts: []' will do) to manage it here"));
        return null;
    }

    private JsonObject ReadDocument(InventoryAccess inv) =>
        File.Exists(inv.Path) ? InventoryDocument.Read(File.ReadAllText(inv.Path)) : [];

    private async Task InventoryGet(HttpContext context)
    {
        var key = await Authenticate(context);
        if (key is null) return;
        var (ok, account) = await Scope(context, key, "inventory");
        if (!ok || await InventoryInUse(context) is not { } inv) return;
        JsonObject document;
        try
        {
            document = ReadDocument(inv);
        }
        catch (Exception e) when (e is InventoryException or IOException)
        {
            await Error(context, new ApiError(500, "InventoryUnreadable", $"the inventory file {inv.Path} cannot be read: {e.Message}"));
            return;
        }
        await Json(context, 200, account is null ? document : InventoryDocument.OfAccount(document, account));
    }

    private async Task InventoryGetOne(HttpContext context, string kind, string id)
    {
        var key = await Authenticate(context);
        if (key is null) return;
        if (!await KnownKind(context, kind)) return;
        var (ok, account) = await Scope(context, key, "inventory");
        if (!ok || await InventoryInUse(context) is not { } inv) return;
        var document = ReadDocument(inv);
        var item = InventoryDocument.Find(account is null ? document : InventoryDocument.OfAccount(document, account), kind, id);
        if (item is null)
        {
            await Error(context, new ApiError(404, "NotFound", $"there is no {kind} entry '{id}'" + (account is null ? "" : $" in {account}")));
            return;
        }
        await Json(context, 200, item);
    }

    /// <summary>
    /// What every change checks first: a signed request, a known kind (when one is named), an admin key with the
    /// admin password, and an inventory in use. The key and the inventory, or nulls with the refusal written.
    /// </summary>
    private async Task<(AccessKey? Key, InventoryAccess? Inventory)> Changer(HttpContext context, string what, string target, string? kind = null)
    {
        var key = await Authenticate(context);
        if (key is null) return default;
        if (kind is not null && !await KnownKind(context, kind)) return default;
        if (!await Admitted(context, key, what, target, "cannot change the inventory (an admin key can)", "changing the inventory")) return default;
        return await InventoryInUse(context) is { } inv ? (key, inv) : default;
    }

    private async Task InventoryPutWhole(HttpContext context)
    {
        if (await Changer(context, "inventory.put", "inventory") is not ({ } key, { } inv)) return;
        var text = await new StreamReader(context.Request.Body).ReadToEndAsync();
        await Change(context, key, inv, "replaced the whole inventory", _ => text);
    }

    private async Task InventoryPutOne(HttpContext context, string kind, string id)
    {
        if (await Changer(context, "inventory.put", $"{kind}/{id}", kind) is not ({ } key, { } inv)) return;
        JsonObject? item;
        try
        {
            item = JsonNode.Parse(context.Request.Body) as JsonObject;
        }
        catch (JsonException e)
        {
            await Error(context, new ApiError(400, "MalformedBody", $"the body is not JSON: {e.Message}"));
            return;
        }
        var member = InventoryDocument.Kinds[kind];
        if (item is null)
        {
            await Error(context, new ApiError(400, "MalformedBody", $"the body is one {kind} entry as a JSON object, with the same members as in the inventory file"));
            return;
        }
        if (item[member] is JsonValue named && named.ToString() != id)
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", $"the body's {member} '{named}' differs from the '{id}' in the path"));
            return;
        }
        var replaced = false;
        await Change(context, key, inv, $"put {kind}/{id}", document =>
        {
            replaced = InventoryDocument.Put(document, kind, id, item);
            return InventoryDocument.Write(document);
        }, () => replaced ? 200 : 201);
    }

    private async Task InventoryDeleteOne(HttpContext context, string kind, string id)
    {
        if (await Changer(context, "inventory.delete", $"{kind}/{id}", kind) is not ({ } key, { } inv)) return;
        await Change(context, key, inv, $"deleted {kind}/{id}", document =>
            InventoryDocument.Delete(document, kind, id) ? InventoryDocument.Write(document) : null);
    }

    /// <summary>
    /// Applies <paramref name="edit"/> (the current document to the new file text; null: nothing to delete) under
    /// the inventory lock, validates the result, writes it atomically, reloads, audits, and answers.
    /// </summary>
    private async Task Change(HttpContext context, AccessKey key, InventoryAccess inv, string what, Func<JsonObject, string?> edit, Func<int>? status = null)
    {
        ApiError? error = null;
        IReadOnlyList<InventoryError>? errors = null;
        Inventory? result = null;
        lock (_inventoryLock)
        {
            try
            {
                var text = edit(ReadDocument(inv));
                if (text is null) error = new ApiError(404, "NotFound", $"{what.Replace("deleted ", "")}: there is no such entry");
                else
                {
                    result = InventoryFile.Parse(text, inv.Path);
                    WriteAtomically(inv.Path, text);
                    if (!inv.Reload($"{what} through the API by {key.Id}")) error = new ApiError(500, "InventoryNotReloaded", "the file was written but could not be put in force; see the server's log");
                }
            }
            catch (InventoryException e)
            {
                errors = e.Errors;
                error = new ApiError(400, "InvalidInventory",
                    $"the inventory would have {e.Errors.Count} error(s), so nothing changed: " + string.Join("; ", e.Errors.Take(5).Select(x => $"{x.Field}: {x.Message}")));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error = new ApiError(500, "InventoryNotWritten", $"the inventory file {inv.Path} could not be written ({e.Message}); nothing changed");
            }
        }
        var from = context.Connection.RemoteIpAddress?.ToString() ?? "";
        audit.Write(new AuditEntry(guard.Now, "inventory.change", key.Id, key.Account, "inventory", error is null ? "done" : "refused", from, error?.Message ?? what));
        if (error is not null)
        {
            await Error(context, error, errors is null ? null : j =>
            {
                j.WriteStartArray("errors");
                foreach (var x in errors)
                {
                    j.WriteStartObject();
                    j.WriteNumber("line", x.Line);
                    j.WriteString("field", x.Field);
                    j.WriteString("message", x.Message);
                    j.WriteEndObject();
                }
                j.WriteEndArray();
            });
            return;
        }
        await Json(context, status?.Invoke() ?? 200, new JsonObject
        {
            ["changed"] = what,
            ["accounts"] = result!.Accounts.Count,
            ["networks"] = result.Networks.Count,
            ["ports"] = result.Ports.Count,
            ["security_groups"] = result.SecurityGroups.Count,
        });
    }

    /// <summary>Writes beside the file, syncs, keeps the old file as FILE.previous, and renames over it.</summary>
    private static void WriteAtomically(string path, string text)
    {
        if (File.Exists(path)) AtomicFile.Write(path + ".previous", File.ReadAllBytes(path));
        AtomicFile.WriteText(path, text);
    }

    private static async Task<bool> KnownKind(HttpContext context, string kind)
    {
        if (InventoryDocument.Kinds.ContainsKey(kind)) return true;
        await Error(context, new ApiError(404, "NotFound", $"'{kind}' is not part of the inventory: accounts, networks, ports or security_groups"));
        return false;
    }

    private static async Task Json(HttpContext context, int status, JsonNode node)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(node.ToJsonString(ReadableJson.SerializerIndented) + "\n");
    }
}
