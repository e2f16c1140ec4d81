using System.Text.Json;
using Flowline.Query;
using Flowline.Records;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>
/// The sessions store, how an agent's SessionEndpoint batch is stored (returns the rows stored;
/// FormatException when malformed), and the session rate events (JSON lines) in [from, to) µs of an account (null: all).
/// </summary>
public sealed record SessionAccess(IFlowStore Store, Func<byte[], string, int> Ingest, Func<long, long, string?, IEnumerable<string>>? Anomalies = null);

/// <summary>Sessions: <c>/api/v1/sessions</c>, agents' <c>/api/v1/session-endpoints</c>, and the Contrail <c>/analytics</c> query.</summary>
public sealed partial class ApiV1
{
    private void MapSessions(WebApplication app)
    {
        app.MapGet("/api/v1/sessions", async context =>
        {
            if (await SessionsInUse(context) is { } s) await Rows(context, s.Store, "sessions");
        });
        app.MapPost("/api/v1/session-endpoints", SessionEndpoints);
        app.MapGet("/api/v1/session-anomalies", SessionAnomalies);
        app.MapPost("/analytics/query", AnalyticsQuery);
        app.MapGet("/analytics/tables", async context =>
        {
            if (await Authenticate(context) is null) return;
            var request = context.Request;
            await Json(context, 200, ContrailQuery.TableList($"{request.Scheme}://{request.Host}"));
        });
        app.MapGet("/analytics/table/{name}/schema", async (HttpContext context, string name) =>
        {
            if (await Authenticate(context) is null) return;
            if (ContrailQuery.Schema(name) is { } schema) await Json(context, 200, schema);
            else await Error(context, new ApiError(410, "NotFound", $"Table {name} not found"));
        });
    }

    private Task SessionsOff(HttpContext context) =>
        Error(context, new ApiError(404, "SessionsOff", "this server does not keep sessions: start it with --sessions on (or an inventory, which turns them on)"));

    private async Task<SessionAccess?> SessionsInUse(HttpContext context)
    {
        if (sessions is not null) return sessions;
        if (await Authenticate(context) is null) return null;
        await SessionsOff(context);
        return null;
    }

    /// <summary>Session rate events of ports of interest, NDJSON oldest first, of the key's account (or another's, or all, as everywhere).</summary>
    private async Task SessionAnomalies(HttpContext context)
    {
        if (await SessionsInUse(context) is not { } s) return;
        var key = await Authenticate(context);
        if (key is null) return;
        var q = context.Request.Query;
        if (!Rfc3339(q["from"].ToString(), out var from) || !Rfc3339(q["to"].ToString(), out var to) || to <= from)
        {
            await Error(context, new ApiError(400, "InvalidParameterValue", "from and to are required as RFC 3339 times, to later than from, e.g. from=2026-11-21T10:00:00Z&to=2026-11-21T11:00:00Z"));
            return;
        }
        var (ok, account) = await Scope(context, key, "session anomalies");
        if (!ok) return;
        context.Response.ContentType = "application/x-ndjson";
        if (s.Anomalies is null) return;
        foreach (var line in s.Anomalies(FlowTime.Of(from), FlowTime.Of(to), account))
        {
            await context.Response.WriteAsync(line + "\n");
        }
    }

    /// <summary>An agent's batch: stored durably before the answer, so an agent that got 200 may forget it.</summary>
    private async Task SessionEndpoints(HttpContext context)
    {
        var key = await Authenticate(context);
        if (key is null) return;
        if (key.Agent is null)
        {
            await Error(context, new ApiError(403, "UnauthorizedOperation", $"the access key {key.Id} is not an agent key (flowline keys create --account ACC --agent NAME)"));
            return;
        }
        if (sessions is null)
        {
            await Error(context, new ApiError(404, "SessionsOff", "this server does not keep sessions: start it with --sessions on"));
            return;
        }
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        try
        {
            // The key speaks for one agent: a batch in another agent's name would move that agent's sequence on.
            var rows = sessions.Ingest(body.ToArray(), key.Agent);
            await Json(context, 200, new System.Text.Json.Nodes.JsonObject { ["stored"] = rows });
        }
        catch (FormatException e)
        {
            await Error(context, new ApiError(400, "MalformedBatch", e.Message));
        }
        catch (UnauthorizedAccessException e)
        {
            await Error(context, new ApiError(403, "UnauthorizedOperation", e.Message));
        }
        catch (IOException e)
        {
            await Error(context, new ApiError(503, "StoreUnavailable", $"the sessions store failed ({e.Message}); send the batch again later"));
        }
    }

    private async Task AnalyticsQuery(HttpContext context)
    {
        var key = await Authenticate(context);
        if (key is null) return;
        var (ok, account) = await Scope(context, key, "analytics query");
        if (!ok) return;
        JsonDocument doc;
        try
        {
            doc = await JsonDocument.ParseAsync(context.Request.Body);
        }
        catch (JsonException e)
        {
            await Error(context, new ApiError(400, "BadRequest", $"the query is not JSON: {e.Message}"));
            return;
        }
        using (doc)
        {
            if (sessions is null && doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("table", out var table)
                && table.ValueKind == JsonValueKind.String && ContrailQuery.IsSessionTable(table.GetString()))
            {
                // An empty answer would read as no traffic.
                await SessionsOff(context);
                return;
            }
            var filter = ScopedFilter(account, "");
            var names = store.Symbols;
            var sessionStore = sessions?.Store;
            IEnumerable<FlowRecord> Scan(bool sessionTable, long from, long to)
            {
                var source = sessionTable ? sessionStore : store;
                if (source is null) return [];
                return QueryRunner.Rows(source.Scan(from, to, filter, sessionTable ? new HashSet<FlowField>(FlowFields.All) : null), filter);
            }
            try
            {
                var answer = ContrailQuery.Run(doc.RootElement, Scan, names, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000, context.RequestAborted);
                await Json(context, 200, answer);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The client went away: the scan stopped, and there is no one to answer.
            }
            catch (ContrailQuery.QueryException e)
            {
                await Error(context, new ApiError(400, "BadRequest", e.Message));
            }
            catch (InvalidOperationException e) when (!context.Response.HasStarted && e.Message.Contains("UTF-16", StringComparison.Ordinal))
            {
                // A string of the query that escapes half a surrogate pair: JSON reads it, no text can hold it.
                await Error(context, new ApiError(400, "BadRequest", $"the query holds text that is not valid UTF-16: {e.Message}"));
            }
        }
    }
}
