using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace Flowline.Api;

/// <summary>
/// The access policy of every HTTP route serve answers, in one table. A route mapped without an entry here
/// stops the start (<see cref="Verify"/>); <see cref="DoorKeeper"/> enforces the entries before any handler runs.
/// </summary>
public static class RoutePolicies
{
    public static readonly IReadOnlyDictionary<string, AccessPolicy> Table = new Dictionary<string, AccessPolicy>(StringComparer.Ordinal)
    {
        // Health, self-metrics, the API description and the explorer page.
        ["GET /healthz"] = AccessPolicy.Open,
        ["GET /metrics"] = AccessPolicy.Open,
        ["GET /api/v1/exporters"] = AccessPolicy.Open,
        ["GET /api/v1/openapi.json"] = AccessPolicy.Open,
        ["GET /api/v1/explorer"] = AccessPolicy.Open,
        ["GET /api/v1/explorer/sign.js"] = AccessPolicy.Open,
        ["GET /api/v1/fields"] = AccessPolicy.Open,
        ["GET /console/{file}"] = AccessPolicy.Open,

        // JCS DescribeFlowLog (seed 000): signature version 2 in the parameters. A GET without parameters is the
        // web console's page (ConsoleAssets), which holds no data.
        ["GET /"] = AccessPolicy.ActionSigned,
        ["POST /"] = AccessPolicy.ActionSigned,

        // /api/v1: scoped to the key's account; another account or all only with an admin key and the password (audited).
        ["GET /api/v1/flows"] = AccessPolicy.Tenant,
        ["POST /api/v1/query"] = AccessPolicy.Tenant,
        ["GET /api/v1/sessions"] = AccessPolicy.Tenant,
        ["GET /api/v1/session-anomalies"] = AccessPolicy.Tenant,
        ["GET /api/v1/keys"] = AccessPolicy.Tenant,
        ["GET /api/v1/inventory"] = AccessPolicy.Tenant,
        ["GET /api/v1/inventory/{kind}/{id}"] = AccessPolicy.Tenant,
        ["PUT /api/v1/inventory"] = AccessPolicy.AdminPassword with { LargeBody = true },
        ["PUT /api/v1/inventory/{kind}/{id}"] = AccessPolicy.AdminPassword,
        ["DELETE /api/v1/inventory/{kind}/{id}"] = AccessPolicy.AdminPassword,
        ["GET /api/v1/audit"] = AccessPolicy.AdminPassword,
        ["POST /api/v1/session-endpoints"] = AccessPolicy.Agent with { LargeBody = true },
        ["GET /api/v1/ddos/attacks"] = AccessPolicy.Tenant,
        ["GET /api/v1/ddos/mitigations"] = AccessPolicy.Tenant,
        ["POST /api/v1/ddos/mitigations"] = AccessPolicy.Tenant,
        ["GET /api/v1/ddos/mitigations/{id}"] = AccessPolicy.Tenant,
        ["DELETE /api/v1/ddos/mitigations/{id}"] = AccessPolicy.Tenant,
        ["POST /api/v1/ddos/mitigations/{id}/approve"] = AccessPolicy.Tenant,
        ["GET /api/v1/ddos/status"] = AccessPolicy.AdminPassword,
        ["GET /api/v1/realtime/flows"] = AccessPolicy.Tenant,
        ["GET /api/v1/realtime/flows/{name}"] = AccessPolicy.Tenant,
        ["PUT /api/v1/realtime/flows/{name}"] = AccessPolicy.Tenant,
        ["DELETE /api/v1/realtime/flows/{name}"] = AccessPolicy.Tenant,
        ["GET /api/v1/realtime/activeflows/{name}"] = AccessPolicy.Tenant,

        // Contrail analytics (seed 001), scoped like /api/v1.
        ["POST /analytics/query"] = AccessPolicy.Tenant,
        ["GET /analytics/tables"] = AccessPolicy.Tenant,
        ["GET /analytics/table/{name}/schema"] = AccessPolicy.Tenant,

        // sFlow-RT's REST API (seed 003): every tenant's live traffic, so operators only.
        ["GET /flow/json"] = AccessPolicy.RealtimeRead,
        ["GET /flow/{name}/json"] = AccessPolicy.RealtimeRead,
        ["PUT /flow/{name}/json"] = AccessPolicy.RealtimeWrite,
        ["DELETE /flow/{name}/json"] = AccessPolicy.RealtimeWrite,
        ["GET /activeflows/{agent}/{name}/json"] = AccessPolicy.RealtimeRead,
        ["GET /flowkeys/json"] = AccessPolicy.RealtimeRead,
        ["GET /flows/json"] = AccessPolicy.RealtimeRead,
        ["GET /group/json"] = AccessPolicy.RealtimeRead,
        ["GET /group/{name}/json"] = AccessPolicy.RealtimeRead,
        ["PUT /group/{name}/json"] = AccessPolicy.RealtimeWrite,
        ["DELETE /group/{name}/json"] = AccessPolicy.RealtimeWrite,
        ["GET /metric/{agent}/{metric}/json"] = AccessPolicy.RealtimeRead,
        ["GET /metric/{agent}/json"] = AccessPolicy.RealtimeRead,
        ["GET /dump/{agent}/{metric}/json"] = AccessPolicy.RealtimeRead,
        ["GET /metrics/json"] = AccessPolicy.RealtimeRead,
        ["GET /agents/json"] = AccessPolicy.RealtimeRead,
        ["GET /analyzer/json"] = AccessPolicy.RealtimeRead,
        ["GET /threshold/json"] = AccessPolicy.RealtimeRead,
        ["GET /threshold/{name}/json"] = AccessPolicy.RealtimeRead,
        ["PUT /threshold/{name}/json"] = AccessPolicy.RealtimeWrite,
        ["DELETE /threshold/{name}/json"] = AccessPolicy.RealtimeWrite,
        ["GET /events/json"] = AccessPolicy.RealtimeRead,
        ["GET /prometheus/metrics/{agent}/{metric}/txt"] = AccessPolicy.RealtimeRead,
        ["GET /prometheus/analyzer/txt"] = AccessPolicy.RealtimeRead,
        ["GET /app/prometheus/scripts/export.js/flows/{agent}/txt"] = AccessPolicy.RealtimeRead,
        ["GET /forwarding/json"] = AccessPolicy.RealtimeRead,
        ["GET /forwarding/{name}/json"] = AccessPolicy.RealtimeRead,
        ["PUT /forwarding/{name}/json"] = AccessPolicy.RealtimeWrite,
        ["DELETE /forwarding/{name}/json"] = AccessPolicy.RealtimeWrite,

        // Neutron TaaS (seed 004): a key acts on its own account's taps and ports; another account only with an admin key and the password (audited).
        ["GET /v2.0/taas/tap_services"] = AccessPolicy.Tenant,
        ["POST /v2.0/taas/tap_services"] = AccessPolicy.Tenant,
        ["GET /v2.0/taas/tap_services/{id}"] = AccessPolicy.Tenant,
        ["PUT /v2.0/taas/tap_services/{id}"] = AccessPolicy.Tenant,
        ["DELETE /v2.0/taas/tap_services/{id}"] = AccessPolicy.Tenant,
        ["GET /v2.0/taas/tap-services"] = AccessPolicy.Tenant,
        ["POST /v2.0/taas/tap-services"] = AccessPolicy.Tenant,
        ["GET /v2.0/taas/tap-services/{id}"] = AccessPolicy.Tenant,
        ["PUT /v2.0/taas/tap-services/{id}"] = AccessPolicy.Tenant,
        ["DELETE /v2.0/taas/tap-services/{id}"] = AccessPolicy.Tenant,
        ["GET /v2.0/taas/tap_flows"] = AccessPolicy.Tenant,
        ["POST /v2.0/taas/tap_flows"] = AccessPolicy.Tenant,
        ["GET /v2.0/taas/tap_flows/{id}"] = AccessPolicy.Tenant,
        ["PUT /v2.0/taas/tap_flows/{id}"] = AccessPolicy.Tenant,
        ["DELETE /v2.0/taas/tap_flows/{id}"] = AccessPolicy.Tenant,
        ["GET /v2.0/taas/tap-flows"] = AccessPolicy.Tenant,
        ["POST /v2.0/taas/tap-flows"] = AccessPolicy.Tenant,
        ["GET /v2.0/taas/tap-flows/{id}"] = AccessPolicy.Tenant,
        ["PUT /v2.0/taas/tap-flows/{id}"] = AccessPolicy.Tenant,
        ["DELETE /v2.0/taas/tap-flows/{id}"] = AccessPolicy.Tenant,
        ["GET /v2.0/taas/tap_mirrors"] = AccessPolicy.Tenant,
        ["POST /v2.0/taas/tap_mirrors"] = AccessPolicy.Tenant,
        ["GET /v2.0/taas/tap_mirrors/{id}"] = AccessPolicy.Tenant,
        ["PUT /v2.0/taas/tap_mirrors/{id}"] = AccessPolicy.Tenant,
        ["DELETE /v2.0/taas/tap_mirrors/{id}"] = AccessPolicy.Tenant,
    };

    /// <summary>The "METHOD /pattern" of each mapped route and method.</summary>
    public static IEnumerable<(string Route, RouteEndpoint Endpoint)> Routes(IEndpointRouteBuilder app)
    {
        foreach (var endpoint in app.DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>())
        {
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["*"];
            foreach (var method in methods) yield return ($"{method} {endpoint.RoutePattern.RawText}", endpoint);
        }
    }

    /// <summary>The policy of a route, or null when the table has none.</summary>
    public static AccessPolicy? Of(string method, string? pattern) =>
        pattern is not null && Table.TryGetValue($"{method} {pattern}", out var p) ? p : null;

    /// <summary>Refuses to start with a route that declares no policy: every door has a lock, or the server does not open.</summary>
    public static void Verify(IEndpointRouteBuilder app)
    {
        var missing = Routes(app).Select(r => r.Route).Where(r => !Table.ContainsKey(r)).Distinct().ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"routes without an access policy (declare each in {nameof(RoutePolicies)}.{nameof(Table)}): {string.Join(", ", missing)}");
        }
    }
}
