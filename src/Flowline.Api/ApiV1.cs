using System.Globalization;
using System.Text.Json;
using Flowline.Query;
using Flowline.Storage;
using Flowline.Wire.Records;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>
/// <c>/api/v1</c>, signed with an Authorization header (<see cref="Signatures"/>): flows as NDJSON, the caller's
/// keys and, for admins with the admin password, the audit log. Every read is scoped to the key's account;
/// an admin key reads another account (<c>account=acc-…</c>, or <c>*</c> for all) only with the admin password
/// in <c>X-Flowline-Admin-Password</c>, and every such read is audited.
/// </summary>
public sealed class ApiV1(IFlowStore store, RequestGuard guard, AuditLog audit, ApiOptions options)
{
    public const string AdminPasswordHeader = "X-Flowline-Admin-Password";

    public void Map(WebApplication app)
    {
        app.MapGet("/api/v1/flows", Flows);
        app.MapGet("/api/v1/keys", Keys);
        app.MapGet("/api/v1/audit", Audit);
    }

    /// <summary>Checks the Authorization header; the key, or the error already written.</summary>
    private async Task<AccessKey?> Authenticate(HttpContext context)
    {
        var from = context.Connection.RemoteIpAddress;
        if (guard.Blocked(from) is { } blocked)
        {
            await Error(context, blocked);
            return null;
        }
        var header = context.Request.Headers.Authorization.ToString();
        var auth = Signatures.ParseAuthorization(header);
        if (auth is null)
        {
            guard.Fail(from);
            await Error(context, new ApiError(401, "AuthFailure",
                $"the request is not signed: send 'Authorization: {Signatures.Scheme} Credential=KEY, Timestamp=yyyy-MM-ddTHH:mm:ssZ, Signature=HEX' (see docs/API.md)"));
            return null;
        }
        var request = context.Request;
        request.EnableBuffering();
        using var body = new MemoryStream();
        await request.Body.CopyToAsync(body);
        request.Body.Position = 0;
        var query = request.Query.SelectMany(q => q.Value.Select(v => new KeyValuePair<string, string>(q.Key, v ?? ""))).ToList();
        var path = request.Path.Value ?? "/";
        var (key, error) = guard.Check(from, auth.Value.KeyId, auth.Value.Timestamp, auth.Value.Signature,
            secret => Signatures.ApiSignature(secret, Signatures.ApiStringToSign(request.Method, path, query, auth.Value.Timestamp, body.ToArray())),
            "Credential", $"{request.Method}\\n{path}\\n<sorted query>\\n<timestamp>\\n<hex SHA-256 of the body>");
        if (error is not null)
        {
            await Error(context, error);
            return null;
        }
        return key;
    }

    /// <summary>Which account(s) a request reads: the key's own, or with admin rights and the password another or all (null).</summary>
    private async Task<(bool Ok, string? Account)> Scope(HttpContext context, AccessKey key, string what)
    {
        var asked = context.Request.Query["account"].ToString();
        if (asked.Length == 0 || asked == key.Account) return (true, key.Account);
        var from = context.Connection.RemoteIpAddress;
        var target = asked == "*" ? "all accounts" : asked;
        ApiError? refusal = null;
        if (asked != "*" && !KeyStore.AccountPattern().IsMatch(asked))
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", $"account '{asked}' is not an account id like acc-789189089, or * for all"));
            return (false, null);
        }
        var password = context.Request.Headers[AdminPasswordHeader].ToString();
        if (!key.Admin) refusal = new ApiError(403, "UnauthorizedOperation", $"the access key {key.Id} belongs to {key.Account} and reads only that account, not {target}");
        else if (options.AdminPassword is null) refusal = new ApiError(403, "UnauthorizedOperation", $"reading {target} needs the admin password, and this server has none configured (admin_password_hash)");
        else if (password.Length == 0) refusal = new ApiError(403, "UnauthorizedOperation", $"reading {target} with an admin key needs the admin password in {AdminPasswordHeader}");
        else if (!options.AdminPassword.Verify(password)) refusal = new ApiError(403, "UnauthorizedOperation", "the admin password is wrong");
        if (refusal is not null)
        {
            guard.Fail(from);
            audit.Write(new AuditEntry(guard.Now, what, key.Id, key.Account, target, "denied", from?.ToString() ?? "", refusal.Message));
            await Error(context, refusal);
            return (false, null);
        }
        audit.Write(new AuditEntry(guard.Now, what, key.Id, key.Account, target, "granted", from?.ToString() ?? "", context.Request.QueryString.Value ?? ""));
        return (true, asked == "*" ? null : asked);
    }

    private async Task Flows(HttpContext context)
    {
        var key = await Authenticate(context);
        if (key is null) return;
        var q = context.Request.Query;
        if (!Rfc3339(q["from"], out var from) || !Rfc3339(q["to"], out var to))
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", "from and to are required as RFC 3339 times, e.g. from=2026-11-21T10:00:00Z&to=2026-11-21T10:30:00Z"));
            return;
        }
        if (to <= from)
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", "to must be later than from"));
            return;
        }
        var fieldsText = q["fields"].ToString();
        var fields = new List<FlowField>();
        foreach (var name in (fieldsText.Length > 0 ? fieldsText : "start,end,src_addr,dst_addr,src_port,dst_port,ip_proto,bytes,packets,account,vmi,vmi_direction,action")
                     .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!FlowFields.TryParse(name, out var f))
            {
                await Error(context, new ApiError(400, "InvalidParameterValue", $"fields: '{name}' is not a field (GET /api/v1/fields, or `flowline fields`)"));
                return;
            }
            fields.Add(f);
        }
        long limit = 0;
        if (q["limit"].ToString() is { Length: > 0 } l && (!long.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit <= 0))
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", $"limit '{l}' is not a positive number"));
            return;
        }
        var (ok, account) = await Scope(context, key, "flows");
        if (!ok) return;
        FilterNode filter;
        var symbols = store.Symbols;
        try
        {
            var user = FilterParser.Parse(q["filter"].ToString(), name => symbols.TryFind(name, out var id) ? id : null);
            filter = account is null ? user : new FilterNode.And(FilterParser.Parse("account " + account, name => symbols.TryFind(name, out var id) ? id : null), user);
        }
        catch (FilterSyntaxException e)
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", $"filter: {e.Message}"));
            return;
        }
        var needed = FilterColumns.Of(filter);
        needed.UnionWith(fields);
        context.Response.ContentType = "application/x-ndjson";
        var body = context.Response.Body;
        // Lines gather in a buffer that goes out in 64 KiB writes: one write per row would cost more than the row.
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1 << 17);
        await using var json = new Utf8JsonWriter(buffer);
        foreach (var r in QueryRunner.Rows(store.Scan(from.ToUnixTimeMilliseconds() * 1000, to.ToUnixTimeMilliseconds() * 1000, filter, needed), filter, limit))
        {
            json.WriteStartObject();
            foreach (var f in fields)
            {
                var text = FlowFields.Format(f, r, symbols);
                if (!FlowFields.IsSymbol(f) && ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) json.WriteNumber(FlowFields.Name(f), n);
                else json.WriteString(FlowFields.Name(f), text);
            }
            json.WriteEndObject();
            json.Flush();
            json.Reset();
            System.Buffers.BuffersExtensions.Write(buffer, "\n"u8);
            if (buffer.WrittenCount >= 1 << 16)
            {
                await body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
                buffer.ResetWrittenCount();
            }
        }
        if (buffer.WrittenCount > 0) await body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
    }

    private async Task Keys(HttpContext context)
    {
        var key = await Authenticate(context);
        if (key is null) return;
        var (ok, account) = await Scope(context, key, "keys");
        if (!ok) return;
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.Body, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteStartArray("keys");
        foreach (var k in guard.Keys.List().Where(k => account is null || k.Account == account))
        {
            json.WriteStartObject();
            json.WriteString("id", k.Id);
            json.WriteString("account", k.Account);
            json.WriteBoolean("admin", k.Admin);
            json.WriteString("created", k.Created.UtcDateTime.ToString(Signatures.ActionTimestampFormat, CultureInfo.InvariantCulture));
            if (k.Revoked is { } rv) json.WriteString("revoked", rv.UtcDateTime.ToString(Signatures.ActionTimestampFormat, CultureInfo.InvariantCulture));
            else json.WriteNull("revoked");
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private async Task Audit(HttpContext context)
    {
        var key = await Authenticate(context);
        if (key is null) return;
        if (context.Request.Query["account"].Count == 0)
        {
            await Error(context, new ApiError(400, "MissingParameter", "the audit log covers every account: ask with account=* (an admin key and the admin password)"));
            return;
        }
        var (ok, account) = await Scope(context, key, "audit");
        if (!ok) return;
        if (account is not null)
        {
            await Error(context, new ApiError(403, "UnauthorizedOperation", "the audit log is read with account=* by an admin key with the admin password"));
            return;
        }
        context.Response.ContentType = "application/x-ndjson";
        foreach (var line in audit.Tail(10_000)) await context.Response.WriteAsync(line + "\n");
    }

    private static bool Rfc3339(Microsoft.Extensions.Primitives.StringValues v, out DateTimeOffset t) =>
        DateTimeOffset.TryParse(v.ToString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out t) && v.ToString().Length >= 20;

    private static async Task Error(HttpContext context, ApiError error)
    {
        context.Response.StatusCode = error.Status;
        context.Response.ContentType = "application/json";
        using var buffer = new MemoryStream();
        using (var j = new Utf8JsonWriter(buffer))
        {
            j.WriteStartObject();
            j.WriteStartObject("error");
            j.WriteString("code", error.Code);
            j.WriteString("message", error.Message);
            j.WriteEndObject();
            j.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        await context.Response.Body.WriteAsync(buffer.ToArray());
    }
}
