using Microsoft.AspNetCore.Builder;

namespace Flowline.Api;

/// <summary>
/// Every face of `flowline serve` on one web application, behind one <see cref="DoorKeeper"/>: self-metrics,
/// the web console, DescribeFlowLog, /api/v1 (with tenants' own real-time analytics), Contrail analytics, sFlow-RT's API and Neutron TaaS.
/// Refuses to build when a route declares no access policy.
/// </summary>
public static class ServeFaces
{
    public static void Map(WebApplication app, Ingest.Collector collector, RequestGuard guard, AuditLog audit, ApiOptions options,
        InventoryAccess? inventory, SessionAccess? sessions, TaasAccess? taas = null, Mitigation.Ddos.DdosService? ddos = null)
    {
        Doors(app, guard, options);
        SelfMetrics.Map(app, collector, taas, ddos);
        ConsoleAssets.Map(app);
        new ActionApi(collector.Store, guard, audit, options).Map(app);
        new ApiV1(collector.Store, guard, audit, options, inventory, sessions, ddos).Map(app);
        new TenantRealtimeApi(collector.Realtime).Map(app);
        SflowRtApi.Map(app, collector);
        if (taas is not null) new TaasApi(taas, new AdminGrant(guard, audit, options)).Map(app);
        RoutePolicies.Verify(app);
    }

    /// <summary>Routing first, then the door keeper, so that it knows each request's route before any handler runs.</summary>
    public static void Doors(WebApplication app, RequestGuard guard, ApiOptions options)
    {
        app.UseRouting();
        app.Use(new DoorKeeper(guard, options).Invoke);
        app.Use(StoreUnavailable);
    }

    /// <summary>
    /// A store that fails under a request a face did not answer itself (ClickHouse down or not answering, a disk
    /// error) is a 503 with a JSON error and a log line, not an empty 500: the client may try again.
    /// </summary>
    private static async Task StoreUnavailable(Microsoft.AspNetCore.Http.HttpContext context, Func<Task> next)
    {
        try
        {
            await next();
        }
        catch (IOException e) when (!context.Response.HasStarted)
        {
            var log = context.RequestServices.GetService(typeof(Microsoft.Extensions.Logging.ILoggerFactory)) as Microsoft.Extensions.Logging.ILoggerFactory;
            if (log is not null) ApiLog.StoreUnavailable(log.CreateLogger("store"), context.Request.Method, context.Request.Path, e.Message);
            await ApiV1.Error(context, new ApiError(503, "StoreUnavailable", "the flow store did not answer; try again later"), null);
        }
    }
}
