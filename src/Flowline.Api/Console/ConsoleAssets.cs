using System.Collections.Frozen;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Flowline.Api;

/// <summary>
/// The web console: its page at <c>/</c> (a GET without parameters; with them <c>/</c> is DescribeFlowLog) and its
/// bundled script and style sheet under <c>/console/</c>, built into the assembly from <c>Console/</c> by esbuild.
/// The assets are open (they hold no data); everything the page shows comes through the signed API, behind the
/// same doors as any other client. No CDN: the console works offline.
/// </summary>
public static class ConsoleAssets
{
    private const string Prefix = "Flowline.Api.Console.";

    private static readonly FrozenDictionary<string, (byte[] Body, string Type, string Tag)> Files = Load();

    /// <summary>Whether the console was bundled into this build (the set-up installs what bundles it).</summary>
    public static bool Built => Files.ContainsKey("index.html");

    /// <summary>Browsers may keep nothing from elsewhere: scripts and styles from this server only, no frames, no plug-ins.</summary>
    private const string Policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
                                  + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public static void Map(WebApplication app)
    {
        app.MapGet("/console/{file}", (HttpContext context, string file) => Serve(context, file));
    }

    /// <summary>
    /// The console's page (from <see cref="ActionApi"/> for a GET of <c>/</c> without parameters), naming the time
    /// zone DescribeFlowLog reads its times in (<c>jcs_time_zone</c>): a fixed offset as <c>+05:30</c>, else its
    /// IANA id, so that the page can ask for JCS flow logs.
    /// </summary>
    public static Task Index(HttpContext context, TimeZoneInfo jcsZone)
    {
        var zone = jcsZone.GetAdjustmentRules().Length == 0
            ? (jcsZone.BaseUtcOffset < TimeSpan.Zero ? "-" : "+") + jcsZone.BaseUtcOffset.ToString(@"hh\:mm", System.Globalization.CultureInfo.InvariantCulture)
            : jcsZone.Id;
        return Serve(context, "index.html", body => body.Replace("name=\"flowline-jcs-time-zone\" content=\"\"",
            $"name=\"flowline-jcs-time-zone\" content=\"{System.Net.WebUtility.HtmlEncode(zone)}\"", StringComparison.Ordinal));
    }

    private static Task Serve(HttpContext context, string file, Func<string, string>? fill = null)
    {
        var response = context.Response;
        response.Headers.ContentSecurityPolicy = Policy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers.XFrameOptions = "DENY";
        if (!Files.TryGetValue(file, out var asset))
        {
            if (file == "index.html")
            {
                response.ContentType = "text/plain; charset=utf-8";
                response.StatusCode = 503;
                return response.WriteAsync("The web console was not bundled into this build: run scripts/setup.sh (it installs esbuild and uPlot from src/Flowline.Api/Console/package-lock.json), then build again.\n");
            }
            response.StatusCode = 404;
            return Task.CompletedTask;
        }
        if (fill is not null)
        {
            var filled = System.Text.Encoding.UTF8.GetBytes(fill(System.Text.Encoding.UTF8.GetString(asset.Body)));
            asset = (filled, asset.Type, Tag(filled));
        }
        // Revalidated every time (the page is small; a new build must never meet an old script).
        response.Headers.CacheControl = "no-cache";
        response.Headers.ETag = asset.Tag;
        if (context.Request.Headers.IfNoneMatch.ToString() == asset.Tag)
        {
            response.StatusCode = 304;
            return Task.CompletedTask;
        }
        response.ContentType = asset.Type;
        response.ContentLength = asset.Body.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : response.Body.WriteAsync(asset.Body).AsTask();
    }

    private static string Tag(byte[] body) => "\"" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body))[..16] + "\"";

    private static FrozenDictionary<string, (byte[], string, string)> Load()
    {
        var assembly = typeof(ConsoleAssets).Assembly;
        var files = new Dictionary<string, (byte[], string, string)>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var body = copy.ToArray();
            var file = name[Prefix.Length..];
            var type = Path.GetExtension(file) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                _ => "application/octet-stream",
            };
            files[file] = (body, type, Tag(body));
        }
        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
