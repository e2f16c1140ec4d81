using System.Globalization;
using System.Text.Json.Nodes;
using Flowline.Realtime;
using Flowline.Records;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>
/// Real-time analytics of a tenant's own traffic: <c>/api/v1/realtime/flows/{name}</c> defines flows as
/// sFlow-RT's <c>PUT /flow/{name}/json</c> does, under the key's account, and
/// <c>/api/v1/realtime/activeflows/{name}</c> reads their top flows. Every definition counts only rows of
/// the key's account: the account test is ANDed with the tenant's filter, as in /api/v1/flows, and the
/// definition lives under a name of the account's own (<c>tenant:ACCOUNT:NAME</c>) that no other key reaches.
/// </summary>
public sealed class TenantRealtimeApi(RealtimeEngine engine)
{
    private const string Prefix = RealtimeEngine.TenantPrefix;
    /// <summary>Definitions one account may hold at once.</summary>
    public const int MaxPerAccount = 32;
    private readonly Lock _quota = new();

    public void Map(WebApplication app)
    {
        app.MapGet("/api/v1/realtime/flows", (HttpContext c) => Key(c) is not { } key ? Unsigned() : Ok(new JsonObject(
            engine.Flows().Where(f => f.Key.StartsWith(Scope(key.Account), StringComparison.Ordinal))
                .Select(f => KeyValuePair.Create(f.Key[Scope(key.Account).Length..], (JsonNode?)Shown(f.Value, key.Account).ToJson())))));
        app.MapGet("/api/v1/realtime/flows/{name}", (HttpContext c, string name) => Key(c) is not { } key ? Unsigned()
            : engine.GetFlow(Scope(key.Account) + name) is { } d ? Ok(Shown(d, key.Account).ToJson()) : NotFound(name));
        app.MapPut("/api/v1/realtime/flows/{name}", async (HttpContext c, string name) =>
        {
            if (Key(c) is not { } key) return Unsigned();
            var body = await new StreamReader(c.Request.Body).ReadToEndAsync(c.RequestAborted);
            try
            {
                RealtimeEngine.CheckName(name);
                var asked = FlowDefinition.FromJson(body);
                var stored = Scope(key.Account) + name;
                // Read first as a tenant's: its keys and filter may not read the operator's address groups.
                engine.CheckTenantDefinition(asked);
                var scoped = asked with { Filter = Scoped(key.Account, asked.Filter, engine.TenantContext) };
                // Counted and added as one step: requests in parallel could each see room for one more.
                lock (_quota)
                {
                    if (engine.GetFlow(stored) is null && engine.Flows().Keys.Count(k => k.StartsWith(Scope(key.Account), StringComparison.Ordinal)) >= MaxPerAccount)
                    {
                        return Error(429, "LimitExceeded", $"{key.Account} holds {MaxPerAccount} real-time flow definitions already: delete one first");
                    }
                    engine.PutFlow(stored, scoped, Ingest.Collector.NowMicros());
                }
                return Ok(Shown(engine.GetFlow(stored)!, key.Account).ToJson());
            }
            catch (FormatException e)
            {
                return Error(400, "InvalidParameterValue", e.Message);
            }
            catch (RealtimeLimitException e)
            {
                return Error(429, "LimitExceeded", e.Message);
            }
            catch (IOException e)
            {
                return Error(503, "NotSaved", $"the definition could not be saved: {e.Message}");
            }
        });
        app.MapDelete("/api/v1/realtime/flows/{name}", (HttpContext c, string name) =>
        {
            if (Key(c) is not { } key) return Unsigned();
            try
            {
                return engine.DeleteFlow(Scope(key.Account) + name) ? Ok(new JsonObject()) : NotFound(name);
            }
            catch (IOException e)
            {
                return Error(503, "NotSaved", $"the change could not be saved: {e.Message}");
            }
        });
        app.MapGet("/api/v1/realtime/activeflows/{name}", (HttpContext c, string name) =>
        {
            if (Key(c) is not { } key) return Unsigned();
            var table = engine.Table(Scope(key.Account) + name);
            if (table is null) return NotFound(name);
            if (!Int(c, "maxFlows", 100, 1, 10_000, out var maxFlows) || !Double(c, "minValue", 0, out var minValue))
            {
                return Error(400, "InvalidParameterValue", "maxFlows is a whole number from 1 to 10000; minValue a number");
            }
            var sum = c.Request.Query["aggMode"].ToString() switch
            {
                "" or "max" => (bool?)false,
                "sum" => true,
                _ => null,
            };
            if (sum is null) return Error(400, "InvalidParameterValue", "aggMode is max or sum");
            var now = Ingest.Collector.NowMicros();
            var flows = RealtimeEngine.Merge(table.Top(null, now), maxFlows, minValue, sum.Value);
            return Ok(SflowRtApi.ActiveFlows(flows));
        });
    }

    private static string Scope(string account) => Prefix + account + ":";

    /// <summary>
    /// The filter a tenant's definition runs with: its account, and the tenant's own filter if any. The tenant's
    /// filter must be a whole expression on its own first: pasted in as text, "x)|(account=other" would close
    /// the parenthesis and select another account's flows.
    /// </summary>
    public static string Scoped(string account, string? filter, KeyContext context)
    {
        if (filter is not { Length: > 0 } f) return $"account={account}";
        FlowFilter.Parse(f, context); // throws FormatException: a 400
        return $"account={account}&({f})";
    }

    /// <summary>The definition as the tenant wrote it (the account test taken off again).</summary>
    private static FlowDefinition Shown(FlowDefinition stored, string account)
    {
        var bare = $"account={account}";
        var filter = stored.Filter == bare ? null
            : stored.Filter is { } f && f.StartsWith(bare + "&(", StringComparison.Ordinal) && f.EndsWith(')') ? f[(bare.Length + 2)..^1] : stored.Filter;
        return stored with { Filter = filter };
    }

    private static AccessKey? Key(HttpContext c) => DoorKeeper.KeyOf(c);

    private static bool Int(HttpContext c, string name, int fallback, int min, int max, out int value)
    {
        value = fallback;
        var text = c.Request.Query[name].ToString();
        return text.Length == 0 || (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max);
    }

    private static bool Double(HttpContext c, string name, double fallback, out double value)
    {
        value = fallback;
        var text = c.Request.Query[name].ToString();
        return text.Length == 0 || (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value));
    }

    private static IResult Ok(JsonNode node) => Results.Text(node.ToJsonString(ReadableJson.Serializer), "application/json");

    private static IResult Error(int status, string code, string message) =>
        Results.Json(new JsonObject { ["error"] = new JsonObject { ["code"] = code, ["message"] = message } }, ReadableJson.Serializer, statusCode: status);

    private static IResult NotFound(string name) => Error(404, "NotFound", $"no real-time flow definition '{name}' in this account");

    private static IResult Unsigned() => Error(401, "AuthFailure", "the request is not signed (see docs/API.md)");
}
