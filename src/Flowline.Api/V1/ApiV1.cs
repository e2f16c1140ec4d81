using System.Globalization;
using System.Text.Json;
using Flowline.Query;
using Flowline.Records;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>
/// <c>/api/v1</c>, signed with an Authorization header (<see cref="Signatures"/>): flows as NDJSON, the caller's
/// keys and, for admins with the admin password, the audit log. Every read is scoped to the key's account;
/// an admin key reads another account (<c>account=acc-…</c>, or <c>*</c> for all) only with the admin password
/// in <c>X-Flowline-Admin-Password</c>, and every such read is audited.
/// </summary>
public sealed partial class ApiV1(IFlowStore store, RequestGuard guard, AuditLog audit, ApiOptions options, InventoryAccess? inventory = null,
    SessionAccess? sessions = null, Mitigation.Ddos.DdosService? ddos = null)
{
    public const string AdminPasswordHeader = AdminGrant.PasswordHeader;
    public const string DefaultFields = "start,end,src_addr,dst_addr,src_port,dst_port,ip_proto,bytes,packets,account,vmi,vmi_direction,action";
    /// <summary>The largest page of flows (held sorted while the store is read), and the most groups one query returns.</summary>
    public const int MaxPage = 100_000;
    /// <summary>Groups (or distinct values) one aggregation may build before it is refused as too broad.</summary>
    public const int MaxGroups = 1_000_000;
    public const int DefaultQueryLimit = 1000;

    public void Map(WebApplication app)
    {
        app.MapGet("/api/v1/flows", context => Rows(context, store, "flows"));
        MapSessions(app);
        app.MapPost("/api/v1/query", Query);
        app.MapGet("/api/v1/keys", Keys);
        app.MapGet("/api/v1/audit", Audit);
        MapInventory(app);
        MapDdos(app);
        app.MapGet("/api/v1/openapi.json", ApiDescription.Serve);
        app.MapGet("/api/v1/fields", () => Results.Text(new System.Text.Json.Nodes.JsonObject
        {
            ["fields"] = new System.Text.Json.Nodes.JsonArray(FlowFields.All.Select(f => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject
            {
                ["name"] = FlowFields.Name(f), ["description"] = FlowFields.Description(f),
            }).ToArray()),
        }.ToJsonString(ReadableJson.Serializer), "application/json"));
        app.MapGet("/api/v1/explorer", () => Results.Bytes(Resource("explorer.html"), "text/html; charset=utf-8"));
        app.MapGet("/api/v1/explorer/sign.js", () => Results.Bytes(Resource("sign.js"), "text/javascript; charset=utf-8"));
    }

    /// <summary>The OpenAPI document and the explorer page, built into the assembly.</summary>
    public static byte[] Resource(string name)
    {
        using var stream = typeof(ApiV1).Assembly.GetManifestResourceStream("Flowline.Api.Explorer." + name)
                           ?? throw new InvalidOperationException($"the resource {name} is missing from the build");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>The key the door admitted the request with (<see cref="DoorKeeper"/>); without one, the refusal is written.</summary>
    private static async Task<AccessKey?> Authenticate(HttpContext context)
    {
        if (DoorKeeper.KeyOf(context) is { } key) return key;
        await Error(context, new ApiError(401, "AuthFailure", "the request is not signed (see docs/API.md)"));
        return null;
    }

    /// <summary>Which account(s) a request reads: the key's own, or with admin rights and the password another or all (null).</summary>
    private async Task<(bool Ok, string? Account)> Scope(HttpContext context, AccessKey key, string what)
    {
        var asked = context.Request.Query["account"].ToString();
        if (asked.Length == 0 || asked == key.Account) return (true, key.Account);
        var target = asked == "*" ? "all accounts" : asked;
        if (asked != "*" && !KeyStore.AccountPattern().IsMatch(asked))
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", $"account '{asked}' is not an account id like acc-789189089, or * for all"));
            return (false, null);
        }
        if (!await Admitted(context, key, what, target, $"reads only that account, not {target}", $"reading {target}")) return (false, null);
        return (true, asked == "*" ? null : asked);
    }

    /// <summary>
    /// Whether an admin key with the admin password makes this request; otherwise the refusal is written,
    /// counted as a failure and audited. A granted request is audited too.
    /// </summary>
    private async Task<bool> Admitted(HttpContext context, AccessKey key, string what, string target, string tenantRefusal, string doing)
    {
        if (new AdminGrant(guard, audit, options).Check(context, key, what, target, tenantRefusal, doing) is not { } refusal) return true;
        await Error(context, refusal);
        return false;
    }

    private static readonly string[] RowParameters = ["from", "to", "filter", "fields", "format", "limit", "cursor", "account"];

    /// <summary>The account filter of a scope (null: every account), ANDed with the caller's filter text.</summary>
    private FilterNode ScopedFilter(string? account, string text)
    {
        // The sessions store shares the flow store's symbols.
        var symbols = store.Symbols;
        var user = FilterParser.Parse(text, name => symbols.TryFind(name, out var id) ? id : null);
        // An account the store has never seen matches nothing: the parser refuses unknown names, so the
        // scope is then a filter no row passes rather than an error that would tell accounts apart.
        if (account is null) return user;
        if (!symbols.TryFind(account, out _)) return new FilterNode.Not(new FilterNode.Any());
        return new FilterNode.And(FilterParser.Parse("account " + account, name => symbols.TryFind(name, out var id) ? id : null), user);
    }

    /// <summary>
    /// Rows of <paramref name="source"/> as NDJSON: flows with the chosen fields, or (the sessions store) each
    /// session as <see cref="Sessions.SessionLine"/> writes it.
    /// </summary>
    private async Task Rows(HttpContext context, IFlowStore source, string what)
    {
        var sessionRows = !ReferenceEquals(source, store);
        var key = await Authenticate(context);
        if (key is null) return;
        var q = context.Request.Query;
        // A misspelt parameter would be ignored, and every flow sent (filtre=proto tcp).
        if (q.Keys.FirstOrDefault(k => !RowParameters.Contains(k)) is { } unknown)
        {
            await Error(context, new ApiError(400, "InvalidParameter", $"'{unknown}' is not a parameter of {context.Request.Path} ({string.Join(", ", RowParameters)})"));
            return;
        }
        if (q.Any(p => p.Value.Count > 1))
        {
            await Error(context, new ApiError(400, "InvalidParameter", $"'{q.First(p => p.Value.Count > 1).Key}' is given more than once"));
            return;
        }
        if (!Rfc3339(q["from"].ToString(), out var from) || !Rfc3339(q["to"].ToString(), out var to))
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
        if (sessionRows && fieldsText.Length > 0)
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", "fields chooses flow columns; a session comes whole (see docs/SESSIONS.md)"));
            return;
        }
        // format=vpc: AWS VPC flow-log lines, fields naming VPC flow-log fields (version 2 by default).
        var format = q["format"].ToString();
        if (format is not ("" or "ndjson" or "vpc") || (format == "vpc" && sessionRows))
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", sessionRows ? "sessions come as NDJSON only" : $"format '{format}': expected ndjson (default) or vpc"));
            return;
        }
        string[]? vpcFields = null;
        var vpcVersion = 2;
        if (format == "vpc")
        {
            vpcFields = fieldsText.Length > 0 ? fieldsText.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) : FlowLogFormats.VpcDefault;
            try
            {
                vpcVersion = FlowLogFormats.VpcVersion(vpcFields);
            }
            catch (ArgumentException e)
            {
                await Error(context, new ApiError(400, "InvalidParameterValue", "fields: " + e.Message));
                return;
            }
        }
        var fields = new List<FlowField>();
        foreach (var name in (fieldsText.Length > 0 && vpcFields is null ? fieldsText : DefaultFields).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!FlowFields.TryParse(name, out var f))
            {
                await Error(context, new ApiError(400, "InvalidParameterValue", $"fields: '{name}' is not a field (GET /api/v1/fields lists them; docs/FIELDS.md)"));
                return;
            }
            if (fields.Contains(f))
            {
                await Error(context, new ApiError(400, "InvalidParameterValue", $"fields: '{name}' is given twice"));
                return;
            }
            fields.Add(f);
        }
        if (fields.Count == 0)
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", "fields names no field"));
            return;
        }
        long limit = 0;
        if (q.ContainsKey("limit") && q["limit"].ToString() is var l && (l.Length == 0 || !long.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit <= 0 || limit > MaxPage))
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", $"limit '{l}' is not a page size from 1 to {MaxPage}"));
            return;
        }
        Cursor? cursor = null;
        if (q["cursor"].ToString() is { Length: > 0 } c)
        {
            if (limit == 0)
            {
                await Error(context, new ApiError(400, "InvalidParameterValue", "cursor pages through an answer: send it with the limit of the first page"));
                return;
            }
            cursor = Cursor.Parse(c);
            if (cursor is null)
            {
                await Error(context, new ApiError(400, "InvalidParameterValue", $"cursor '{c}' is not a cursor this server handed out (X-Flowline-Next-Cursor)"));
                return;
            }
        }
        var (ok, account) = await Scope(context, key, what);
        if (!ok) return;
        FilterNode filter;
        try
        {
            filter = ScopedFilter(account, q["filter"].ToString());
        }
        catch (FilterSyntaxException e)
        {
            await FilterError(context, e);
            return;
        }
        var needed = FilterColumns.Of(filter);
        needed.UnionWith(vpcFields is null ? fields : FlowLogFormats.VpcColumns);
        var fromMicros = FlowTime.Of(from);
        var toMicros = FlowTime.Of(to);
        var symbols = store.Symbols;
        var line = new System.Buffers.ArrayBufferWriter<byte>(512);
        await using var json = new Utf8JsonWriter(line, ReadableJson.Compact);
        if (sessionRows) needed.UnionWith(FlowFields.All);
        FlowFields.AddReads(needed);
        var vpcBuffer = new MemoryStream();
        var vpc = new Utf8TextWriter(vpcBuffer, 1024);
        void Line(in FlowRecord r)
        {
            if (vpcFields is not null)
            {
                vpcBuffer.SetLength(0);
                FlowLogFormats.WriteVpcLine(vpc, r, vpcFields, vpcVersion, symbols);
                vpc.Flush();
                System.Buffers.BuffersExtensions.Write(line, vpcBuffer.GetBuffer().AsSpan(0, (int)vpcBuffer.Length));
                return;
            }
            json.Reset();
            if (sessionRows)
            {
                Sessions.SessionLine.Write(json, r, symbols);
                json.Flush();
                System.Buffers.BuffersExtensions.Write(line, "\n"u8);
                return;
            }
            json.WriteStartObject();
            foreach (var f in fields)
            {
                var text = FlowFields.Format(f, r, symbols);
                if (!FlowFields.IsSymbol(f) && ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) json.WriteNumber(FlowFields.Name(f), n);
                else json.WriteString(FlowFields.Name(f), text);
            }
            json.WriteEndObject();
            json.Flush();
            System.Buffers.BuffersExtensions.Write(line, "\n"u8);
        }

        // VPC flow-log lines come as text with the field names first, as AWS writes its log files.
        var (contentType, header) = vpcFields is null ? ("application/x-ndjson", Array.Empty<byte>())
            : ("text/plain; charset=utf-8", System.Text.Encoding.UTF8.GetBytes(string.Join(' ', vpcFields) + "\n"));
        if (limit > 0)
        {
            await Page(context, source, limit, cursor, fromMicros, toMicros, filter, needed, Line, line, contentType, header);
            return;
        }
        context.Response.ContentType = contentType;
        var body = context.Response.Body;
        // Lines gather in a buffer that goes out in 64 KiB writes: one write per row would cost more than the row.
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1 << 17);
        System.Buffers.BuffersExtensions.Write(buffer, header);
        foreach (var r in QueryRunner.Rows(source.Scan(fromMicros, toMicros, filter, needed), filter))
        {
            line.ResetWrittenCount();
            Line(r);
            System.Buffers.BuffersExtensions.Write(buffer, line.WrittenSpan);
            if (buffer.WrittenCount >= 1 << 16)
            {
                await body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
                buffer.ResetWrittenCount();
            }
        }
        if (buffer.WrittenCount > 0) await body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
    }

    private delegate void LineWriter(in FlowRecord r);

    /// <summary>
    /// One page of at most <paramref name="limit"/> rows in (start, line) order after <paramref name="cursor"/>.
    /// Rows are ordered by start, then by a hash of the line they print as: rows that print the same line are
    /// interchangeable, so the cursor counts how many of the last key it has handed out. The next page's cursor
    /// goes out in X-Flowline-Next-Cursor and a Link header; no cursor means the answer is complete.
    /// </summary>
    private async Task Page(HttpContext context, IFlowStore source, long limit, Cursor? cursor, long from, long to, FilterNode filter, HashSet<FlowField> needed,
        LineWriter write, System.Buffers.ArrayBufferWriter<byte> line, string contentType, byte[] header)
    {
        if (cursor is { } at) from = Math.Max(from, at.Start);
        // A max-heap of the limit + 1 smallest rows after the cursor: the extra one says whether another page exists.
        var heap = new PriorityQueue<(long Start, ulong Hash, byte[] Line), (long Start, ulong Hash)>(
            Comparer<(long Start, ulong Hash)>.Create((x, y) => y.CompareTo(x)));
        var skipped = 0L;
        foreach (var r in QueryRunner.Rows(source.Scan(from, to, filter, needed), filter))
        {
            line.ResetWrittenCount();
            write(r);
            var k = (r.Start, Fnv(line.WrittenSpan));
            if (cursor is { } cur)
            {
                var c = k.CompareTo((cur.Start, cur.Hash));
                if (c < 0) continue;
                if (c == 0 && skipped < cur.Repeat)
                {
                    skipped++;
                    continue;
                }
            }
            if (heap.Count > limit)
            {
                heap.TryPeek(out _, out var largest);
                if (k.CompareTo(largest) >= 0) continue;
                heap.DequeueEnqueue((k.Start, k.Item2, line.WrittenSpan.ToArray()), k);
            }
            else heap.Enqueue((k.Start, k.Item2, line.WrittenSpan.ToArray()), k);
        }
        var rows = new List<(long Start, ulong Hash, byte[] Line)>(heap.Count);
        while (heap.Count > 0) rows.Add(heap.Dequeue());
        rows.Reverse();
        var more = rows.Count > limit;
        if (more) rows.RemoveAt(rows.Count - 1);
        context.Response.ContentType = contentType;
        if (more)
        {
            var last = rows[^1];
            var repeat = rows.Count(r => r.Start == last.Start && r.Hash == last.Hash)
                         + (cursor is { } cur && cur.Start == last.Start && cur.Hash == last.Hash ? cur.Repeat : 0);
            var next = new Cursor(last.Start, last.Hash, repeat).ToString();
            context.Response.Headers["X-Flowline-Next-Cursor"] = next;
            var query = context.Request.Query.Where(kv => kv.Key != "cursor")
                .Select(kv => Uri.EscapeDataString(kv.Key) + "=" + Uri.EscapeDataString(kv.Value.ToString())).Append("cursor=" + next);
            context.Response.Headers.Link = $"<{context.Request.Path}?{string.Join('&', query)}>; rel=\"next\"";
        }
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1 << 17);
        System.Buffers.BuffersExtensions.Write(buffer, header);
        foreach (var r in rows)
        {
            System.Buffers.BuffersExtensions.Write(buffer, r.Line);
            if (buffer.WrittenCount >= 1 << 16)
            {
                await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
                buffer.ResetWrittenCount();
            }
        }
        if (buffer.WrittenCount > 0) await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
    }

    private static ulong Fnv(ReadOnlySpan<byte> bytes)
    {
        var h = 14695981039346656037UL;
        foreach (var b in bytes) h = (h ^ b) * 1099511628211UL;
        return h;
    }

    /// <summary>Where a page ended: the last row's start and line hash, and how many rows with that key were handed out.</summary>
    private readonly record struct Cursor(long Start, ulong Hash, long Repeat)
    {
        public override string ToString() =>
            Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(FormattableString.Invariant($"1.{Start}.{Hash:x16}.{Repeat}")))
                .TrimEnd('=').Replace('+', '-').Replace('/', '_');

        public static Cursor? Parse(string text)
        {
            try
            {
                var b64 = text.Replace('-', '+').Replace('_', '/');
                b64 += new string('=', (4 - b64.Length % 4) % 4);
                var parts = System.Text.Encoding.ASCII.GetString(Convert.FromBase64String(b64)).Split('.');
                if (parts.Length == 4 && parts[0] == "1"
                    && long.TryParse(parts[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var start)
                    && ulong.TryParse(parts[2], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hash)
                    && long.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var repeat) && repeat > 0)
                {
                    return new Cursor(start, hash, repeat);
                }
            }
            catch (FormatException)
            {
            }
            return null;
        }
    }

    private async Task Keys(HttpContext context)
    {
        var key = await Authenticate(context);
        if (key is null) return;
        var (ok, account) = await Scope(context, key, "keys");
        if (!ok) return;
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.Body, ReadableJson.Indented);
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
        if (!key.Admin)
        {
            await Admitted(context, key, "audit", "all accounts", "cannot read the audit log (an admin key with the admin password can)", "reading the audit log");
            return;
        }
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

    private static bool Rfc3339(string? v, out DateTimeOffset t)
    {
        t = default;
        return v is { Length: >= 20 } && DateTimeOffset.TryParse(v, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out t);
    }

    private static Task Error(HttpContext context, ApiError error) => Error(context, error, null);

    /// <summary>A filter that does not parse: the parser's message, and its 1-based column and reason as members of their own (the console marks the column).</summary>
    private static Task FilterError(HttpContext context, FilterSyntaxException e) =>
        Error(context, new ApiError(400, "InvalidParameterValue", e.Message), j =>
        {
            j.WriteNumber("column", e.Column);
            j.WriteString("reason", e.Reason);
        });

    /// <summary>An error in the shape of /api/v1: <c>{"error":{"code","message"}}</c>.</summary>
    internal static async Task Error(HttpContext context, ApiError error, Action<Utf8JsonWriter>? more)
    {
        context.Response.StatusCode = error.Status;
        context.Response.ContentType = "application/json";
        using var buffer = new MemoryStream();
        using (var j = new Utf8JsonWriter(buffer, ReadableJson.Compact))
        {
            j.WriteStartObject();
            j.WriteStartObject("error");
            j.WriteString("code", error.Code);
            j.WriteString("message", error.Message);
            more?.Invoke(j);
            j.WriteEndObject();
            j.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        await context.Response.Body.WriteAsync(buffer.ToArray());
    }
}
