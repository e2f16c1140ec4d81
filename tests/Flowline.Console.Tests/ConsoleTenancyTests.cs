using System.Text.Json;
using System.Text.Json.Nodes;
using Flowline.Api;
using Microsoft.Playwright;

namespace Flowline.Console.Tests;

/// <summary>
/// The console's other pages against the API (sessions matrix, countries, exporters), what a tenant sees and does
/// not, an admin's account switch, a revoked key, and the controls' labels and keyboard reach.
/// </summary>
[Collection("console")]
public sealed class ConsoleTenancyTests(ConsoleLab lab)
{
    [Fact]
    public async Task Sessions_matrix_totals_equal_the_stored_sessions_sums()
    {
        var (from, to) = await lab.PastWindow();
        var (page, errors) = await lab.NewPage();
        await ConsoleLab.SignIn(page, lab.TenantA);
        await page.GetByRole(AriaRole.Link, new() { Name = "Sessions by tags" }).ClickAsync();
        await Custom(page, from, to);
        await page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        var matrix = page.Locator("table.matrix");
        await matrix.WaitForAsync();
        await page.GetByRole(AriaRole.Table, new() { Name = "Endpoint security stats" }).WaitForAsync();

        // The stored sessions of the window, client side, by the client's and the server's app: bytes both ways.
        var sessions = ConsoleLab.Lines(lab.Api(lab.TenantA, HttpMethod.Get, "/api/v1/sessions", [("from", ConsoleLab.Time(from)), ("to", ConsoleLab.Time(to))]).Body);
        var expected = sessions.Where(s => s.GetProperty("session_type").GetString() == "client")
            .GroupBy(s => (Name(s, "application"), Name(s, "remote_application")))
            .ToDictionary(g => g.Key, g => g.Sum(s => s.GetProperty("forward_sampled_bytes").GetInt64() + s.GetProperty("reverse_sampled_bytes").GetInt64()));
        Assert.True(expected.Count >= 3, $"{expected.Count} cells");
        var servers = await matrix.Locator("thead th").AllInnerTextsAsync();
        var shown = new Dictionary<(string, string), long>();
        foreach (var row in await matrix.Locator("tbody tr").AllAsync())
        {
            var client = await row.Locator("th").InnerTextAsync();
            var cells = row.Locator("td");
            for (var i = 0; i < servers.Count - 2; i++)
            {
                // An empty cell has no button: counted, not waited for (a timeout would decide under load).
                var button = cells.Nth(i).Locator("button");
                if (await button.CountAsync() == 0) continue;
                var v = await button.GetAttributeAsync("data-value");
                shown[(Untagged(client), Untagged(servers[i + 1]))] = long.Parse(v!, System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        Assert.Equal(expected.OrderBy(e => e.Key), shown.OrderBy(e => e.Key));
        await ConsoleLab.Shot(page, "sessions", fullPage: false);

        // A cell's sessions: this account's ports only.
        await matrix.Locator("tbody button").First.ClickAsync();
        var detail = page.GetByRole(AriaRole.Table, new() { Name = "Sessions of the cell" });
        await detail.WaitForAsync();
        var ports = await detail.Locator("tbody tr td:first-child").AllInnerTextsAsync();
        Assert.NotEmpty(ports);
        Assert.All(ports, p => Assert.True(string.CompareOrdinal(p, "vmi-000256") < 0, p)); // acc-0000 holds vmi-000000 … vmi-000255
        await ConsoleLab.Shot(page, "sessions-cell");
        Assert.Empty(errors);
    }

    private static string Name(JsonElement s, string member) => s.TryGetProperty(member, out var v) ? v.GetString() ?? "" : "";

    private static string Untagged(string label) => label == "(untagged)" ? "" : label;

    private static async Task Custom(IPage page, DateTimeOffset from, DateTimeOffset to)
    {
        await page.GetByLabel("Time range").SelectOptionAsync("custom");
        await page.GetByLabel("From (UTC)").FillAsync(ConsoleLab.Typed(from));
        await page.GetByLabel("To (UTC)").FillAsync(ConsoleLab.Typed(to));
    }


    [Fact]
    public async Task Countries_and_exporters_show_what_the_api_answers()
    {
        var (from, to) = await lab.PastWindow();
        var (page, errors) = await lab.NewPage();
        await ConsoleLab.SignIn(page, lab.TenantA);
        await page.GetByRole(AriaRole.Link, new() { Name = "Countries and networks" }).ClickAsync();
        await Custom(page, from, to);
        await page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        foreach (var (field, title) in new[] { ("src_country", "Source countries"), ("dst_country", "Destination countries"), ("src_as", "Source AS"), ("dst_as", "Destination AS") })
        {
            var body = new JsonObject { ["from"] = ConsoleLab.Time(from), ["to"] = ConsoleLab.Time(to), ["group_by"] = new JsonArray(field), ["order"] = "bytes", ["limit"] = 20 };
            var rows = JsonNode.Parse(lab.Api(lab.TenantA, HttpMethod.Post, "/api/v1/query", json: body.ToJsonString()).Body)!["rows"]!.AsArray();
            Assert.True(rows.Count >= 5, $"{field}: {rows.Count} rows");
            var table = page.GetByRole(AriaRole.Table, new() { Name = title });
            // The page showed the default window first, with as many rows: wait for the chosen window's answer.
            var expected = rows.Select(r => r!["bytes"]!.ToString()).ToArray();
            string[] values = [];
            await ConsoleLab.Until(async () => (values = await table.Locator("tbody td.num").EvaluateAllAsync<string[]>("cells => cells.map(c => c.dataset.value)")).SequenceEqual(expected),
                $"{title}: the chosen window's {rows.Count} rows");
            Assert.Equal(expected, values);
            var names = await table.Locator("tbody tr td:first-child").AllInnerTextsAsync();
            Assert.Equal(rows.Select(r => r![field]!.ToString() is "" or "0" ? "(private or unknown)" : r[field]!.ToString()), names);
        }
        Assert.Contains("US", await page.GetByRole(AriaRole.Table, new() { Name = "Destination countries" }).InnerTextAsync(), StringComparison.Ordinal);
        await ConsoleLab.Shot(page, "countries");

        await page.GetByRole(AriaRole.Link, new() { Name = "Exporters" }).ClickAsync();
        var exporters = page.GetByRole(AriaRole.Table, new() { Name = "Exporters" });
        await exporters.Locator("tbody tr").First.WaitForAsync();
        // The table at one moment (it is made anew every 5 s), then the API: counters only grow in between.
        var shown = await exporters.Locator("tbody tr").EvaluateAllAsync<string[][]>("trs => trs.map(tr => [...tr.cells].map(c => c.innerText))");
        var api = JsonNode.Parse(lab.Serve.Get("/api/v1/exporters"))!["exporters"]!.AsArray();
        Assert.Equal(api.Count, shown.Length);
        for (var i = 0; i < api.Count; i++)
        {
            Assert.Equal((string)api[i]!["address"]!, shown[i][0]);
            Assert.Equal((string)api[i]!["protocol"]!, shown[i][1]);
            Assert.InRange(long.Parse(shown[i][4].Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture), 1, (long)api[i]!["records"]!);
        }
        await page.GetByRole(AriaRole.Table, new() { Name = "Collector" }).WaitForAsync();
        await ConsoleLab.Shot(page, "exporters");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task A_tenant_sees_only_its_account_and_no_account_switch_an_admin_switches_with_the_password()
    {
        var (page, errors) = await lab.NewPage();
        await ConsoleLab.SignIn(page, lab.TenantB);
        Assert.Equal(0, await page.GetByLabel("Account (* for all)").CountAsync());
        Assert.Equal(0, await page.GetByRole(AriaRole.Form, new() { Name = "Account switch" }).CountAsync());
        var live = page.GetByRole(AriaRole.Table, new() { Name = "Top flows now" }).Locator("tbody tr td:first-child");
        await ConsoleLab.Until(async () => await live.CountAsync() >= 3, "acc-0001's top flows");
        Assert.All(await live.AllInnerTextsAsync(), k => Assert.Contains("10.0.1.", k, StringComparison.Ordinal)); // acc-0001 is 10.0.1.0/24

        await page.GotoAsync("/#/search");
        await page.GetByLabel("Time range").SelectOptionAsync("1h");
        await page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        var accounts = page.GetByRole(AriaRole.Table, new() { Name = "Flows" }).Locator("tbody tr td:nth-child(10)");
        await accounts.First.WaitForAsync();
        Assert.Equal(["acc-0001"], (await accounts.AllInnerTextsAsync()).Distinct());
        // A tenant asking for another account by hand is refused by the API, and the page shows nothing of it.
        Assert.Equal(403, lab.Api(lab.TenantB, HttpMethod.Get, "/api/v1/flows", [("from", ConsoleLab.Time(lab.Started)), ("to", ConsoleLab.Time(DateTimeOffset.UtcNow)), ("account", "acc-0000")]).Status);
        await ConsoleLab.Shot(page, "tenant-search");
        // No page shows acc-0000's addresses (10.0.0.0/24, 198.51.100.0/24) or its name to acc-0001.
        foreach (var name in new[] { "live", "geo", "search", "sessions", "exporters", "attacks", "taps" })
        {
            await page.GotoAsync("/#/" + name);
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            if (name == "sessions" && await page.Locator("table.matrix tbody button").CountAsync() > 0)
            {
                await page.Locator("table.matrix tbody button").First.ClickAsync();
                await page.GetByRole(AriaRole.Table, new() { Name = "Sessions of the cell" }).WaitForAsync();
            }
            if (name == "search") await page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            var text = await page.Locator("main").InnerTextAsync();
            Assert.DoesNotContain("10.0.0.", text, StringComparison.Ordinal);
            Assert.DoesNotContain("198.51.100.", text, StringComparison.Ordinal);
            Assert.DoesNotContain("acc-0000", text, StringComparison.Ordinal);
        }

        // An admin: the switch is there; with the password and * the search spans the accounts.
        var (admin, adminErrors) = await lab.NewPage();
        await ConsoleLab.SignIn(admin, lab.Admin);
        await admin.GetByLabel("Account (* for all)").FillAsync("*");
        await admin.GetByLabel("Admin password", new() { Exact = true }).FillAsync(ConsoleLab.Password);
        await admin.GetByRole(AriaRole.Button, new() { Name = "Read" }).ClickAsync();
        await admin.GotoAsync("/#/search");
        await admin.GetByLabel("Time range").SelectOptionAsync("1h");
        await admin.GetByLabel("Rows a page").SelectOptionAsync("1000");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        var all = admin.GetByRole(AriaRole.Table, new() { Name = "Flows" }).Locator("tbody tr td:nth-child(10)");
        await all.First.WaitForAsync();
        Assert.True((await all.AllInnerTextsAsync()).Distinct().Count() >= 2);
        await ConsoleLab.Shot(admin, "admin-search");
        Assert.Empty(errors);
        Assert.Empty(adminErrors);
    }

    [Fact]
    public async Task Taps_and_blocks_are_made_and_removed_from_their_pages_as_the_api_has_them()
    {
        var (page, errors) = await lab.NewPage();
        await ConsoleLab.SignIn(page, lab.TenantA);
        await page.GotoAsync("/#/taps");
        await page.GetByLabel("Name").FillAsync("console-tap");
        await page.GetByLabel("Port (where the copies go)").FillAsync(ConsoleLab.TapPort);
        await page.GetByRole(AriaRole.Button, new() { Name = "Create" }).First.ClickAsync();
        var services = page.GetByRole(AriaRole.Table, new() { Name = "Tap services" });
        await ConsoleLab.Shown(page, services.GetByRole(AriaRole.Cell, new() { Name = "console-tap", Exact = true }));
        string[] Taps(AccessKey key) => [.. JsonNode.Parse(lab.Api(key, HttpMethod.Get, "/v2.0/taas/tap_services").Body)!["tap_services"]!.AsArray().Select(t => (string)t!["name"]!)];
        Assert.Contains("console-tap", Taps(lab.TenantA));
        Assert.DoesNotContain("console-tap", Taps(lab.TenantB));
        await ConsoleLab.Shot(page, "taps");
        await page.GetByRole(AriaRole.Button, new() { Name = "Delete tap_service console-tap" }).ClickAsync();
        await ConsoleLab.Shown(page, services.GetByRole(AriaRole.Cell, new() { Name = "console-tap", Exact = true }), WaitForSelectorState.Detached);
        Assert.DoesNotContain("console-tap", Taps(lab.TenantA));

        await page.GotoAsync("/#/attacks");
        await page.GetByLabel("Destination", new() { Exact = true }).FillAsync("198.51.100.10");
        await page.GetByLabel("Protocol").SelectOptionAsync("17");
        await page.GetByLabel("Destination ports").FillAsync("53");
        await page.GetByRole(AriaRole.Button, new() { Name = "Block" }).ClickAsync();
        var rules = page.GetByRole(AriaRole.Table, new() { Name = "Mitigations" });
        await ConsoleLab.Shown(page, rules.Locator("tbody tr").First);
        var mitigations = JsonNode.Parse(lab.Api(lab.TenantA, HttpMethod.Get, "/api/v1/ddos/mitigations", [("active", "true")]).Body)!["mitigations"]!.AsArray();
        var id = Assert.Single(mitigations)!["id"]!.ToString();
        Assert.Equal([id], (await rules.Locator("tbody tr td:first-child").AllInnerTextsAsync()).ToArray());
        // Another tenant's address is refused, and the page says why.
        await page.GetByLabel("Destination", new() { Exact = true }).FillAsync("10.0.1.5");
        await page.GetByRole(AriaRole.Button, new() { Name = "Block" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("is not an address of account acc-0000");
        await ConsoleLab.Shot(page, "attacks");
        await rules.GetByRole(AriaRole.Button, new() { Name = "Withdraw" }).ClickAsync();
        await ConsoleLab.Shown(page, rules.Locator("tbody tr"), WaitForSelectorState.Detached);
        Assert.Empty(JsonNode.Parse(lab.Api(lab.TenantA, HttpMethod.Get, "/api/v1/ddos/mitigations", [("active", "true")]).Body)!["mitigations"]!.AsArray());
        Assert.Empty(errors);
    }

    [Fact]
    public async Task A_revoked_key_is_sent_back_to_sign_in_with_the_reason()
    {
        var key = KeyStore.Open(lab.DataDir).Create("acc-0000", admin: false);
        var (page, _) = await lab.NewPage();
        await ConsoleLab.SignIn(page, key);
        KeyStore.Open(lab.DataDir).Revoke(key.Id);
        // The live page asks every second: the next answer ends the sign-in.
        var status = page.GetByRole(AriaRole.Status);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).WaitForAsync();
        Assert.Matches($"^Signed out: the access key {key.Id} was revoked on .*; create a new one$", await status.InnerTextAsync());
        // Nothing of the key is left in the browser.
        Assert.DoesNotContain(key.Secret, await page.EvaluateAsync<string>("() => JSON.stringify(sessionStorage) + JSON.stringify(localStorage)"), StringComparison.Ordinal);
        await ConsoleLab.Shot(page, "signed-out");
    }

    [Fact]
    public async Task Every_control_is_labelled_and_reached_by_the_keyboard_on_every_page()
    {
        var (page, errors) = await lab.NewPage();
        await page.GotoAsync("/");
        await Check(page, "sign-in");
        await ConsoleLab.SignIn(page, lab.Admin);
        foreach (var name in new[] { "live", "geo", "search", "sessions", "exporters", "attacks", "taps" })
        {
            await page.GotoAsync("/#/" + name);
            await page.Locator("main h1").WaitForAsync();
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await Check(page, name);
            await ConsoleLab.Shot(page, "page-" + name);
        }
        Assert.Empty(errors);
    }

    /// <summary>
    /// Every control in the accessibility tree has a name, and Tab reaches every visible, enabled control of the page.
    /// </summary>
    private static async Task Check(IPage page, string name)
    {
        var cdp = await page.Context.NewCDPSessionAsync(page);
        var tree = (await cdp.SendAsync("Accessibility.getFullAXTree"))!.Value.GetProperty("nodes").EnumerateArray();
        string[] controls = ["textbox", "combobox", "checkbox", "button", "spinbutton", "link", "radio", "searchbox"];
        var unnamed = tree.Where(n => !n.TryGetProperty("ignored", out var i) || !i.GetBoolean())
            .Where(n => n.TryGetProperty("role", out var r) && controls.Contains(r.GetProperty("value").GetString()))
            .Where(n => !n.TryGetProperty("name", out var nm) || string.IsNullOrWhiteSpace(nm.GetProperty("value").GetString()))
            .Select(n => n.GetProperty("role").GetProperty("value").GetString()).ToList();
        Assert.True(unnamed.Count == 0, $"{name}: controls without a name: {string.Join(", ", unnamed)}");
        await cdp.DetachAsync();

        var total = await page.EvaluateAsync<int>("""
            () => {
              const all = [...document.querySelectorAll('a[href], button, input, select, textarea, summary')]
                .filter(e => !e.disabled && e.checkVisibility({ contentVisibilityAuto: true, visibilityProperty: true }) && e.getAttribute('tabindex') !== '-1');
              all.forEach((e, i) => e.dataset.k = String(i));
              return all.length;
            }
            """);
        var reached = new HashSet<string>();
        await page.EvaluateAsync("() => document.activeElement && document.activeElement.blur()");
        for (var i = 0; i < total * 2 + 5 && reached.Count < total; i++)
        {
            await page.Keyboard.PressAsync("Tab");
            if (await page.EvaluateAsync<string?>("() => document.activeElement && document.activeElement.dataset.k || null") is { } k) reached.Add(k);
        }
        Assert.True(reached.Count == total, $"{name}: Tab reached {reached.Count} of {total} controls");
    }
}
