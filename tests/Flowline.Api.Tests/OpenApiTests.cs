using System.Diagnostics;
using System.Text.Json;
using Flowline.Api;
using Microsoft.AspNetCore.Routing;

namespace Flowline.Api.Tests;

/// <summary>The OpenAPI document describes exactly the routes served, and the explorer's in-browser signing is accepted.</summary>
public sealed class OpenApiTests(QueryServer f) : IClassFixture<QueryServer>
{
    [Fact]
    public async Task The_document_lists_every_route_served_and_no_other()
    {
        var (status, doc) = await f.Server.Get(new Uri(f.Server.Base, "/api/v1/openapi.json"));
        Assert.Equal(200, status);
        Assert.Equal("3.1.0", doc.GetProperty("openapi").GetString());
        var documented = doc.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Where(m => m.Name is "get" or "post" or "put" or "delete").Select(m => $"{m.Name.ToUpperInvariant()} {p.Name}"))
            .ToHashSet();
        var served = ((IEndpointRouteBuilder)f.Server.App).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? []).Select(m => $"{m} {e.RoutePattern.RawText}"))
            .Where(r => r != "GET /api/v1/explorer/sign.js")
            .ToHashSet();
        // Made from the endpoints: exactly the routes this app serves, each with its declared door.
        Assert.Empty(served.Except(documented));
        Assert.Empty(documented.Except(served));
        foreach (var p in doc.GetProperty("paths").EnumerateObject())
        {
            foreach (var m in p.Value.EnumerateObject())
            {
                Assert.Equal(RoutePolicies.Table[$"{m.Name.ToUpperInvariant()} {p.Name}"].Name, m.Value.GetProperty("x-flowline-access").GetString());
            }
        }

        // Every $ref resolves.
        var text = doc.GetRawText();
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(text, "\"\\$ref\":\\s*\"#/([^\"]+)\""))
        {
            var node = doc;
            foreach (var part in m.Groups[1].Value.Split('/')) Assert.True(node.TryGetProperty(part, out node), $"unresolved {m.Groups[1].Value}");
        }
    }

    [Fact]
    public async Task The_explorer_page_is_served_and_its_signing_code_is_accepted_by_the_server()
    {
        using var page = await f.Server.Http.GetAsync(new Uri(f.Server.Base, "/api/v1/explorer"));
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<script src=\"explorer/sign.js\">", await page.Content.ReadAsStringAsync());

        // The very script the page loads, run by Node's WebCrypto (the browser's API), signs a GET and a POST.
        using var script = await f.Server.Http.GetAsync(new Uri(f.Server.Base, "/api/v1/explorer/sign.js"));
        var dir = Directory.CreateTempSubdirectory("flowline-explorer-");
        try
        {
            var sign = Path.Combine(dir.FullName, "sign.js");
            await File.WriteAllTextAsync(sign, await script.Content.ReadAsStringAsync());
            var driver = Path.Combine(dir.FullName, "driver.js");
            await File.WriteAllTextAsync(driver, """
                require(process.argv[2]);
                const [keyId, secret, method, path, params, body] = process.argv.slice(3);
                flowlineSign.sign(keyId, secret, method, path, JSON.parse(params), body).then(s => console.log(JSON.stringify(s)));
                """);
            async Task<(int, JsonElement)> Send(string method, string path, string[][] query, string body)
            {
                var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true };
                foreach (var a in new[] { driver, sign, f.TenantA.Id, f.TenantA.Secret, method, path, JsonSerializer.Serialize(query), body }) psi.ArgumentList.Add(a);
                using var node = Process.Start(psi)!;
                var output = await node.StandardOutput.ReadToEndAsync();
                await node.WaitForExitAsync();
                Assert.True(node.ExitCode == 0, await node.StandardError.ReadToEndAsync());
                using var signed = JsonDocument.Parse(output);
                using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(f.Server.Base, path + "?" + signed.RootElement.GetProperty("query").GetString()));
                request.Headers.TryAddWithoutValidation("Authorization", signed.RootElement.GetProperty("authorization").GetString());
                if (body.Length > 0) request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
                using var response = await f.Server.Http.SendAsync(request);
                var text = await response.Content.ReadAsStringAsync();
                using var answer = JsonDocument.Parse(text.Split('\n')[0]);
                return ((int)response.StatusCode, answer.RootElement.Clone());
            }
            var from = QueryServer.Start.ToString("yyyy-MM-ddTHH:mm:ssZ");
            var to = QueryServer.Start.AddHours(2).ToString("yyyy-MM-ddTHH:mm:ssZ");
            // Names and values that need encoding: spaces, '*', '(', '!' and non-ASCII.
            // The filter is refused (400, after the signature was checked), not the signature (401).
            var (status, row) = await Send("GET", "/api/v1/flows", [["to", to], ["from", from], ["filter", "(proto tcp) and !*' é"], ["limit", "1"]], "");
            Assert.Equal(400, status);
            Assert.StartsWith("filter:", row.GetProperty("error").GetProperty("message").GetString());
            (status, row) = await Send("GET", "/api/v1/flows", [["to", to], ["from", from], ["filter", "(proto tcp)"], ["limit", "1"]], "");
            Assert.Equal(200, status);
            Assert.Equal("acc-a", row.GetProperty("account").GetString());
            (status, row) = await Send("POST", "/api/v1/query", [], $$"""{"from":"{{from}}","to":"{{to}}","group_by":["dst_port"]}""");
            Assert.Equal(200, status);
            Assert.Equal(443, row.GetProperty("rows")[0].GetProperty("dst_port").GetInt32());
            (status, _) = await Send("GET", "/api/v1/flows", [["from", from], ["to", to], ["fields", "src addr"]], "");
            Assert.Equal(400, status); // signed fine, refused for the field: the signature held with a space in a value
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
