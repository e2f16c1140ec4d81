using System.Net;
using System.Text.Json;
using Flowline.Query;
using Flowline.Records;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>
/// The JCS-compatible Action API: <c>GET</c> or <c>POST /?Action=DescribeFlowLog&amp;…</c>, signed with signature
/// version 2, answered with seed 000's <c>DescribeFlowLogResponse</c>, every value a string.
/// </summary>
public sealed class ActionApi(IFlowStore store, RequestGuard guard, AuditLog audit, ApiOptions options)
{
    public void Map(WebApplication app)
    {
        app.MapGet("/", Handle);
        app.MapPost("/", Handle);
    }

    public async Task Handle(HttpContext context)
    {
        if ((HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)) && !context.Request.QueryString.HasValue)
        {
            // A browser opening the server: the web console (DescribeFlowLog always has parameters).
            await ConsoleAssets.Index(context, options.JcsTimeZone);
            return;
        }
        var requestId = "req-" + Guid.NewGuid();
        var from = context.Connection.RemoteIpAddress;
        if (guard.Blocked(from) is { } blocked)
        {
            await Error(context, requestId, blocked);
            return;
        }
        List<KeyValuePair<string, string>> parameters;
        string? duplicate;
        try
        {
            (parameters, duplicate) = await Parameters(context.Request);
        }
        catch (InvalidDataException e)
        {
            // The form reader's own limits (a name over 2 KiB, a value over 4 MiB, more than 1,024 fields).
            await Error(context, requestId, new ApiError(400, "MalformedQueryString", $"the form is not taken: {e.Message}"));
            return;
        }
        if (duplicate is not null)
        {
            await Error(context, requestId, new ApiError(400, "InvalidParameterValue", $"{duplicate} is given more than once; give each parameter once"));
            return;
        }
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in parameters) map[k] = v;
        if (!map.TryGetValue("Action", out var action))
        {
            await Error(context, requestId, new ApiError(400, "MissingAction", "Action is required, e.g. Action=DescribeFlowLog"));
            return;
        }
        if (action != "DescribeFlowLog")
        {
            await Error(context, requestId, new ApiError(400, "InvalidAction", $"Action '{action}' is not supported; the Action API serves DescribeFlowLog"));
            return;
        }
        if (map.TryGetValue("SignatureVersion", out var sv) && sv != "2" || map.TryGetValue("SignatureMethod", out var sm) && sm != "HmacSHA256")
        {
            guard.Fail(from);
            await Error(context, requestId, new ApiError(401, "AuthFailure", "only SignatureVersion=2 with SignatureMethod=HmacSHA256 is accepted"));
            return;
        }
        var verb = context.Request.Method;
        var host = context.Request.Host.Value ?? "";
        var (key, authError) = guard.Check(from, map.GetValueOrDefault("JCSAccessKeyId"), map.GetValueOrDefault("Timestamp"), map.GetValueOrDefault("Signature"),
            secret => Signatures.ActionSignature(secret, Signatures.ActionStringToSign(verb, host, "/", parameters)),
            "JCSAccessKeyId", $"{verb}\\n{host}\\n/\\n<parameters sorted by name, percent-encoded, joined by &>");
        if (authError is not null)
        {
            await Error(context, requestId, authError);
            return;
        }
        if (DoorKeeper.RoleRefusal(AccessPolicy.ActionSigned, key!, $"{verb} /?Action=DescribeFlowLog") is { } role)
        {
            guard.Fail(from);
            audit.Write(new AuditEntry(guard.Now, "DescribeFlowLog", key!.Id, key.Account, map.GetValueOrDefault("account") ?? key.Account, "denied", from?.ToString() ?? "", role.Message));
            await Error(context, requestId, role);
            return;
        }
        // The admin password may come in a header rather than in the parameters, to stay out of URLs and logs.
        if (!map.ContainsKey("admin_password") && context.Request.Headers[ApiV1.AdminPasswordHeader].ToString() is { Length: > 0 } header)
        {
            map["admin_password"] = header;
        }
        var (request, ruleError) = DescribeFlowLog.Check(map, key!, options, guard.Now);
        if (ruleError is not null)
        {
            if (ruleError.Status == 403)
            {
                guard.Fail(from);
                audit.Write(new AuditEntry(guard.Now, "DescribeFlowLog", key!.Id, key.Account, map.GetValueOrDefault("account") ?? "all accounts", "denied", from?.ToString() ?? "", ruleError.Message));
            }
            await Error(context, requestId, ruleError);
            return;
        }
        var r = request!;
        if (r.CrossAccount)
        {
            audit.Write(new AuditEntry(guard.Now, "DescribeFlowLog", key!.Id, key.Account, r.AllAccounts ? "all accounts" : r.Account!, "granted", from?.ToString() ?? "",
                $"{DescribeFlowLog.Format(DateTimeOffset.FromUnixTimeMilliseconds(r.From / 1000), options.JcsTimeZone)} to {DescribeFlowLog.Format(DateTimeOffset.FromUnixTimeMilliseconds(r.To / 1000), options.JcsTimeZone)}" +
                (r.Direction is { } dir ? $", {VmiDirections.Name(dir)}" : "")));
        }
        await Respond(context, requestId, host, r);
    }

    private async Task Respond(HttpContext context, string requestId, string host, FlowLogRequest r)
    {
        var filter = DescribeFlowLog.Filter(r, store.Symbols);
        var needed = FilterColumns.Of(filter);
        needed.UnionWith(FlowLogFormats.JcsColumns);
        context.Response.ContentType = "application/json";
        var body = context.Response.Body;
        await using var json = new Utf8JsonWriter(body, ReadableJson.Indented);
        json.WriteStartObject();
        json.WriteStartObject("DescribeFlowLogResponse");
        json.WriteString("@xmlns", $"http://{host}/doc/{DescribeFlowLog.Version}/");
        json.WriteString("requestId", requestId);
        json.WriteStartObject("value");
        json.WriteStartArray("item");
        foreach (var record in QueryRunner.Rows(store.Scan(r.From, r.To, filter, needed), filter))
        {
            FlowLogFormats.WriteJcsItem(json, record, store.Symbols);
            if (json.BytesPending > 1 << 16) await json.FlushAsync(context.RequestAborted);
        }
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
        await json.FlushAsync(context.RequestAborted);
        await body.WriteAsync("\n"u8.ToArray(), context.RequestAborted);
    }

    /// <summary>The query's parameters, and for POST the form body's too, in order; the first name given twice.</summary>
    public static async Task<(List<KeyValuePair<string, string>> Parameters, string? Duplicate)> Parameters(HttpRequest request)
    {
        var list = new List<KeyValuePair<string, string>>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        string? duplicate = null;
        void Add(string k, Microsoft.Extensions.Primitives.StringValues values)
        {
            foreach (var v in values)
            {
                if (!names.Add(k)) duplicate ??= k;
                list.Add(new(k, v ?? ""));
            }
        }
        foreach (var (k, v) in request.Query) Add(k, v);
        if (HttpMethods.IsPost(request.Method) && request.HasFormContentType)
        {
            var form = await request.ReadFormAsync();
            foreach (var (k, v) in form) Add(k, v);
        }
        return (list, duplicate);
    }

    /// <summary>A JCS-style error body: <c>{"Response":{"Errors":{"Error":{"Code","Message"}},"RequestID"}}</c>.</summary>
    public static async Task Error(HttpContext context, string requestId, ApiError error)
    {
        context.Response.StatusCode = error.Status;
        context.Response.ContentType = "application/json";
        using var buffer = new MemoryStream();
        using (var j = new Utf8JsonWriter(buffer, ReadableJson.Indented))
        {
            j.WriteStartObject();
            j.WriteStartObject("Response");
            j.WriteStartObject("Errors");
            j.WriteStartObject("Error");
            j.WriteString("Code", error.Code);
            j.WriteString("Message", error.Message);
            j.WriteEndObject();
            j.WriteEndObject();
            j.WriteString("RequestID", requestId);
            j.WriteEndObject();
            j.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        await context.Response.Body.WriteAsync(buffer.ToArray());
    }
}
