using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Flowline.Api;
using Flowline.Cli.Tests;
using Microsoft.Playwright;

namespace Flowline.Console.Tests;

/// <summary>
/// A real `flowline serve` with an inventory of three accounts (bench/make-inventory.py 600 12), sessions on, the
/// address database, an admin password and keys for two tenants and an admin, fed NetFlow v9 at 2,000 flows/s by
/// `flowline gen` (servers on public addresses, flows dated as they are sent) and IPFIX of six conversations
/// between acc-0000's ports (820 frames/s of 1,000 bytes, a record each) (tagged at both ends), and Debian's chromium driven by
/// Playwright. Screenshots go to .build/test-results/console/. One for the console's tests together (a collection).
/// </summary>
public sealed class ConsoleLab : IAsyncLifetime
{
    public const string Password = "correct horse battery staple";
    /// <summary>acc-0000's port that tap services may send their copies to.</summary>
    public const string TapPort = "5f0c3a54-9d2e-4a8b-9c61-3a2f4d0b7e11";
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(60) };
    private Process? _gen;
    private Process? _mix;
    private IPlaywright? _playwright;

    public string Dir { get; } = Directory.CreateTempSubdirectory("flowline-console-").FullName;
    public string DataDir => Path.Combine(Dir, "data");
    public ServeProcess Serve { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public AccessKey TenantA { get; private set; } = null!;
    public AccessKey TenantB { get; private set; } = null!;
    public AccessKey Admin { get; private set; } = null!;
    /// <summary>When the generator's first flow is dated (whole seconds).</summary>
    public DateTimeOffset Started { get; private set; }

    public static string Screenshots
    {
        get
        {
            var dir = Path.Combine(FlowlineProcess.RepositoryRoot, ".build", "test-results", "console");
            Directory.CreateDirectory(dir);
            return dir;
        }
    }

    public async Task InitializeAsync()
    {
        var inventory = Path.Combine(Dir, "inventory.yaml");
        var make = FlowlineProcess.Run(FlowlineProcess.StartInfo("python3", Path.Combine(FlowlineProcess.RepositoryRoot, "bench", "make-inventory.py"), "600", "12"));
        Assert.True(make.ExitCode == 0, make.Stderr);
        // acc-0000 also holds a public subnet, whose addresses DDoS protection covers and the tenant may block.
        File.WriteAllText(inventory, make.Stdout.Replace("  - {name: public, public: true}\n",
            "  - {name: public, public: true}\n  - {name: \"default-domain:tenant-0:public\", account: acc-0000, subnets: [198.51.100.0/24]}\n", StringComparison.Ordinal)
            // and a port named by a UUID, as Neutron's tap services take them.
            + $"  - {{uuid: {TapPort}, account: acc-0000, network: \"default-domain:tenant-0:public\", mac: \"02:00:c6:33:64:c8\", ips: [198.51.100.200], vm: vm-tap, port_security_enabled: false, tags: {{app: probe, tier: tools}}}}\n");
        var keys = KeyStore.Open(DataDir);
        TenantA = keys.Create("acc-0000", admin: false);
        TenantB = keys.Create("acc-0001", admin: false);
        Admin = keys.Create("acc-0002", admin: true);
        var geo = Path.Combine(FlowlineProcess.RepositoryRoot, ".deps", "geo", "node_modules", "@ip-location-db");
        Serve = new ServeProcess(DataDir, "--inventory", inventory, "--sessions", "on", "--geo-dir", geo, "--ddos", "dry-run",
            "--admin-password-hash", AdminPassword.Hash(Password, 10_000));
        Started = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        _gen = Process.Start(FlowlineProcess.Flowline("gen", "--protocol", "netflow9", "--count", "100000000", "--rate", "2000", "--hosts", "600",
            "--public-servers", "--seed", "7", "--start", Started.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            "--target", $"udp://127.0.0.1:{Serve.Ports["netflow"]}", "-q"))!;
        _gen.StandardInput.Close();
        _ = _gen.StandardOutput.ReadToEndAsync();
        _ = _gen.StandardError.ReadToEndAsync();
        // Conversations inside acc-0000 (app-1 to app-2 …), so that the servers have tags too: IPFIX, known rates.
        _mix = Process.Start(FlowlineProcess.Flowline("gen", "--protocol", "ipfix", "--duration", "3600",
            "--mix", "10.0.0.2>10.0.0.3=200k,10.0.0.4>10.0.0.3=100k,10.0.0.5>10.0.0.6=300k,10.0.0.7>10.0.0.6=50k,10.0.0.8>10.0.0.9=100k,10.0.0.10>10.0.0.2=70k",
            "--target", $"udp://127.0.0.1:{Serve.Ports["ipfix"]}"))!;
        _mix.StandardInput.Close();
        _ = _mix.StandardOutput.ReadToEndAsync();
        _ = _mix.StandardError.ReadToEndAsync();
        ServeProcess.WaitFor(() => Serve.Records("netflow9") > 0 && Serve.Records("ipfix") > 0, "the first NetFlow and IPFIX records at serve", 60);

        var chromium = Environment.GetEnvironmentVariable("FLOWLINE_CHROMIUM") is { Length: > 0 } c ? c : "/usr/bin/chromium";
        Assert.True(File.Exists(chromium), $"{chromium} is missing: scripts/setup.sh installs Debian's chromium (or set FLOWLINE_CHROMIUM)");
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new() { ExecutablePath = chromium, Headless = true });
    }

    public async Task DisposeAsync()
    {
        foreach (var p in new[] { _gen, _mix })
        {
            if (p is { HasExited: false }) p.Kill(entireProcessTree: true);
            p?.Dispose();
        }
        if (Browser is not null) await Browser.DisposeAsync();
        _playwright?.Dispose();
        Serve?.Dispose();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
            // serve may still be closing files; the temporary directory is left.
        }
    }

    /// <summary>A page of its own (a fresh browser context: nothing kept from another test), whose script errors are collected.</summary>
    public async Task<(IPage Page, List<string> Errors)> NewPage()
    {
        var context = await Browser.NewContextAsync(new() { ViewportSize = new() { Width = 1400, Height = 900 }, BaseURL = Serve.Url });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) =>
        {
            // A refused request is reported by the browser as a failed resource; the page shows it itself.
            if (m.Type == "error" && !m.Text.StartsWith("Failed to load resource", StringComparison.Ordinal)) lock (errors) errors.Add(m.Text);
        };
        page.PageError += (_, e) => { lock (errors) errors.Add(e); };
        return (page, errors);
    }

    /// <summary>Signs in on the sign-in page, and waits for the live traffic page.</summary>
    public static async Task SignIn(IPage page, AccessKey key, string? password = null)
    {
        await page.GotoAsync("/");
        await page.GetByLabel("Access key id").FillAsync(key.Id);
        await page.GetByLabel("Secret", new() { Exact = true }).FillAsync(key.Secret);
        if (password is not null) await page.GetByLabel("Admin password (optional)").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Live traffic" }).WaitForAsync();
    }

    /// <summary>Waits for the element; when it never comes, the failure says what the page's status line said.</summary>
    public static async Task Shown(IPage page, ILocator locator, WaitForSelectorState state = WaitForSelectorState.Visible)
    {
        try
        {
            await locator.WaitForAsync(new() { State = state });
        }
        catch (TimeoutException e)
        {
            var said = await page.Locator("[role=status]").AllInnerTextsAsync();
            throw new TimeoutException($"{e.Message}\npage status: {string.Join(" | ", said)}", e);
        }
    }

    public static Task Shot(IPage page, string name, bool fullPage = true) =>
        page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, name + ".png"), FullPage = fullPage });

    /// <summary>A signed request to serve: status, body, and the next-page cursor if any.</summary>
    public (int Status, string Body, string? Cursor) Api(AccessKey key, HttpMethod method, string path, IEnumerable<(string, string)>? query = null, string? json = null, string? password = null)
    {
        var pairs = (query ?? []).Select(q => new KeyValuePair<string, string>(q.Item1, q.Item2)).ToList();
        var url = Serve.Url + path + (pairs.Count == 0 ? "" : "?" + string.Join('&', pairs.Select(p => Signatures.Encode(p.Key) + "=" + Signatures.Encode(p.Value))));
        using var request = new HttpRequestMessage(method, url);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        request.Headers.TryAddWithoutValidation("Authorization", Signatures.ApiAuthorization(key.Id, key.Secret, method.Method, path, pairs,
            json is null ? [] : Encoding.UTF8.GetBytes(json), DateTimeOffset.UtcNow));
        if (password is not null) request.Headers.TryAddWithoutValidation(ApiV1.AdminPasswordHeader, password);
        using var response = Http.Send(request);
        var cursor = response.Headers.TryGetValues("X-Flowline-Next-Cursor", out var c) ? c.First() : null;
        return ((int)response.StatusCode, response.Content.ReadAsStringAsync().GetAwaiter().GetResult(), cursor);
    }

    public static List<JsonElement> Lines(string ndjson) =>
        ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    /// <summary>How the console shows a JSON value in a table cell (JavaScript's String() of the parsed value).</summary>
    public static string Cell(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString()!,
        JsonValueKind.Null or JsonValueKind.Undefined => "",
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => e.GetRawText(),
    };

    public static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>The time as the console's range inputs take it (UTC).</summary>
    public static string Typed(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>
    /// The first 15 s of traffic (from 10 s before it), once they ended 15 s ago and the flows and sessions the
    /// API answers for it stayed the same over 2 s: the pages and the API then see the same rows in it.
    /// </summary>
    public async Task<(DateTimeOffset From, DateTimeOffset To)> PastWindow()
    {
        var from = Started.AddSeconds(-10);
        var to = Started.AddSeconds(15);
        var wait = to.AddSeconds(15) - DateTimeOffset.UtcNow;
        if (wait > TimeSpan.Zero) await Task.Delay(wait);
        (string, string)[] window = [("from", Time(from)), ("to", Time(to))];
        // Sorted: an unpaged answer comes in the store's order, which compaction may change.
        string Rows() => string.Join('\n', (Api(TenantA, HttpMethod.Get, "/api/v1/flows", window).Body + Api(TenantA, HttpMethod.Get, "/api/v1/sessions", window).Body)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
        var last = Rows();
        await Until(async () =>
        {
            await Task.Delay(2000);
            var now = Rows();
            var settled = now == last;
            last = now;
            return settled;
        }, "the window's flows and sessions settled", 180);
        return (from, to);
    }

    /// <summary>Waits (asynchronously) until the condition holds; the deadline only names what never happened.</summary>
    public static async Task Until(Func<Task<bool>> condition, string what, int seconds = 60)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(seconds)) throw new TimeoutException(what);
            await Task.Delay(250);
        }
    }
}

[CollectionDefinition("console")]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleLab>;
