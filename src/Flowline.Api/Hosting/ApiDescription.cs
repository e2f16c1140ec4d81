using System.Text.Json.Nodes;
using Flowline.Records;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Flowline.Api;

/// <summary>
/// The OpenAPI 3.1 document of the running app, made from its endpoints: every route it serves, and no
/// other, each with its access policy from <see cref="RoutePolicies"/> (<c>x-flowline-access</c> and the
/// matching <c>security</c>). Parameters, bodies and answers come from the descriptions written for the
/// faces (Explorer/openapi.json) where there are some; other routes (sFlow-RT's) get their path
/// parameters and the answers every door gives. Made once, on the first request, after the routes are fixed.
/// </summary>
public static class ApiDescription
{
    private static readonly Lock Gate = new();
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<EndpointDataSource, string> Made = [];

    public static IResult Serve(HttpContext context)
    {
        var endpoints = context.RequestServices.GetRequiredService<EndpointDataSource>();
        string text;
        lock (Gate)
        {
            if (!Made.TryGetValue(endpoints, out text!))
            {
                text = Make(endpoints.Endpoints.OfType<RouteEndpoint>()).ToJsonString(ReadableJson.Serializer);
                Made.Add(endpoints, text);
            }
        }
        return Results.Text(text, "application/json");
    }

    /// <summary>The document for these endpoints.</summary>
    public static JsonObject Make(IEnumerable<RouteEndpoint> endpoints)
    {
        var doc = JsonNode.Parse(ApiV1.Resource("openapi.json"))!.AsObject();
        var written = doc["paths"]!.AsObject();
        var paths = new JsonObject();
        var schemes = doc["components"]!["securitySchemes"]!.AsObject();
        schemes["ScrapeToken"] = new JsonObject
        {
            ["type"] = "http", ["scheme"] = "bearer",
            ["description"] = "serve's scrape_token, for reads of sFlow-RT's face (Prometheus: authorization: {credentials: TOKEN}).",
        };
        var tags = doc["tags"]!.AsArray();
        tags.Add(new JsonObject { ["name"] = "sflow-rt", ["description"] = "sFlow-RT's REST API (docs/ANALYTICS.md): operators only" });
        tags.Add(new JsonObject { ["name"] = "realtime", ["description"] = "A tenant's own real-time flows" });
        foreach (var endpoint in endpoints.OrderBy(e => e.RoutePattern.RawText, StringComparer.Ordinal))
        {
            var pattern = endpoint.RoutePattern.RawText ?? "/";
            if (pattern == "/api/v1/explorer/sign.js") continue; // the explorer's own script, not an API
            foreach (var method in endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? [])
            {
                var policy = RoutePolicies.Of(method, pattern);
                var verb = method.ToLowerInvariant();
                var operation = written[pattern]?[verb]?.DeepClone().AsObject() ?? Generic(pattern, method, endpoint);
                if (policy is not null)
                {
                    operation["x-flowline-access"] = policy.Name;
                    operation["security"] = Security(policy);
                }
                var path = paths[pattern] as JsonObject ?? new JsonObject();
                path[verb] = operation;
                paths[pattern] = path;
            }
        }
        doc["paths"] = paths;
        return doc;
    }

    private static JsonArray Security(AccessPolicy policy)
    {
        var options = new JsonArray();
        switch (policy.Door)
        {
            case Door.Open:
                break;
            case Door.AdminPassword:
                options.Add(new JsonObject { ["FlowlineSignature"] = new JsonArray(), ["AdminPassword"] = new JsonArray() });
                break;
            default:
                if (!policy.SignedInQuery) options.Add(new JsonObject { ["FlowlineSignature"] = new JsonArray() });
                if (policy.ScrapeToken) options.Add(new JsonObject { ["ScrapeToken"] = new JsonArray() });
                break;
        }
        return options;
    }

    /// <summary>An operation for a route without a written description: its path parameters and the doors' answers.</summary>
    private static JsonObject Generic(string pattern, string method, RouteEndpoint endpoint)
    {
        var tenant = pattern.StartsWith("/api/v1/realtime", StringComparison.Ordinal);
        var parameters = new JsonArray();
        foreach (var p in endpoint.RoutePattern.Parameters)
        {
            parameters.Add(new JsonObject { ["name"] = p.Name, ["in"] = "path", ["required"] = true, ["schema"] = new JsonObject { ["type"] = "string" } });
        }
        var o = new JsonObject
        {
            ["tags"] = new JsonArray(tenant ? "realtime" : "sflow-rt"),
            ["operationId"] = (method + pattern).Replace("/", "_", StringComparison.Ordinal).Replace("{", "", StringComparison.Ordinal).Replace("}", "", StringComparison.Ordinal).Replace(".", "_", StringComparison.Ordinal),
            ["summary"] = tenant ? $"{method} {pattern}: the key's account's own real-time flows (docs/ANALYTICS.md)" : $"sFlow-RT's {method} {pattern} (docs/ANALYTICS.md)",
            ["parameters"] = parameters,
            ["responses"] = new JsonObject
            {
                ["200"] = new JsonObject { ["description"] = "As sFlow-RT answers it." },
                ["400"] = new JsonObject { ["description"] = "A bad parameter or definition, named in the error." },
                ["401"] = new JsonObject { ["$ref"] = "#/components/responses/Unauthorized" },
                ["403"] = new JsonObject { ["$ref"] = "#/components/responses/Forbidden" },
            },
        };
        if (method is "PUT" or "POST")
        {
            o["requestBody"] = new JsonObject
            {
                ["required"] = true,
                ["content"] = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = new JsonObject { ["type"] = "object" } } },
            };
        }
        return o;
    }
}
