using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;

namespace Flowline.Console.Tests;

/// <summary>
/// Each page of the web console in a real browser, against a running serve: what it shows equals what the API
/// answers for the same query, for the signed-in key's account only.
/// </summary>
[Collection("console")]
public sealed class ConsolePageTests(ConsoleLab lab)
{
    [Fact]
    public async Task Live_traffic_shows_the_top_flows_activeflows_gives_advancing_every_second_in_bounded_memory()
    {
        var (page, errors) = await lab.NewPage();
        // Signing in shows the live page once: a second showing would remove the first one's definition under it.
        var removals = new List<string>();
        page.Request += (_, r) => { if (r.Method == "DELETE") lock (removals) removals.Add(r.Url); };
        await ConsoleLab.SignIn(page, lab.TenantA);
        var rows = page.GetByRole(AriaRole.Table, new() { Name = "Top flows now" }).Locator("tbody tr");
        await ConsoleLab.Until(async () => await rows.CountAsync() >= 5, "five top flows on the live page");
        lock (removals) Assert.Empty(removals);

        // The definition the page made in the account's own real-time flows.
        var definitions = JsonNode.Parse(lab.Api(lab.TenantA, HttpMethod.Get, "/api/v1/realtime/flows").Body)!.AsObject();
        var name = Assert.Single(definitions, d => d.Key.StartsWith("console-", StringComparison.Ordinal)).Key;
        Assert.Equal("ipsource,ipdestination", (string?)definitions[name]!["keys"]);
        // Shown against asked at about the same moment: the API's top five are on the page, each within 10 %.
        string? last = null;
        await ConsoleLab.Until(async () =>
        {
            var shown = await Shown(rows);
            var api = JsonNode.Parse(lab.Api(lab.TenantA, HttpMethod.Get, $"/api/v1/realtime/activeflows/{name}", [("maxFlows", "10")]).Body)!.AsArray()
                .Select(f => ((string)f!["key"]!, (double)f["value"]!)).ToList();
            last = $"page: {string.Join("; ", shown.Select(s => $"{s.Key} {s.Value:F0}"))} api: {string.Join("; ", api.Select(a => $"{a.Item1} {a.Item2:F0}"))}";
            return api.Count >= 5 && api.Take(5).All(a => shown.TryGetValue(a.Item1, out var v) && Math.Abs(v - a.Item2) <= 0.1 * a.Item2);
        }, "the page's top flows within 10 % of activeflows' (last: " + last + ")");
        // Every key is a pair of this account's addresses (10.0.0.0/24) with a server.
        Assert.All((await Shown(rows)).Keys, k => Assert.Contains("10.0.0.", k, StringComparison.Ordinal));

        // A minute of updates: the page advances every second and its memory stays put.
        var cdp = await page.Context.NewCDPSessionAsync(page);
        await cdp.SendAsync("Performance.enable");
        var updated = page.Locator("p.muted[data-ticks]");
        var (heap0, nodes0) = await Memory(cdp);
        var ticks0 = int.Parse(await updated.GetAttributeAsync("data-ticks") ?? "0", CultureInfo.InvariantCulture);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(60));
        var ticks = int.Parse(await updated.GetAttributeAsync("data-ticks") ?? "0", CultureInfo.InvariantCulture) - ticks0;
        var seconds = watch.Elapsed.TotalSeconds;
        var (heap1, nodes1) = await Memory(cdp);
        await ConsoleLab.Shot(page, "live");
        var report = $"{ticks} updates in {seconds:F1} s; JS heap {heap0 / 1024} -> {heap1 / 1024} KiB, DOM nodes {nodes0} -> {nodes1}";
        System.Console.WriteLine("live view: " + report);
        // One a second: a second whose answer is slow (a loaded machine) is skipped, not queued, so a busy run
        // loses a few; a stalled page would show a fraction of them.
        Assert.True(ticks >= 0.5 * seconds, report);
        Assert.True(heap1 - heap0 < 2 << 20, report); // the page holds five minutes of at most 16 series: no growth beyond 2 MiB
        Assert.True(nodes1 - nodes0 < 500, report);

        // Another key: the page's old definition is removed, not left to count against the account's 32.
        await page.GetByLabel("Stack by").SelectOptionAsync("ipprotocol");
        await ConsoleLab.Until(() => Task.FromResult(ConsoleDefinitions().SequenceEqual(["ipprotocol"])), "one console definition, by protocol");
        await ConsoleLab.Until(async () => (await Shown(rows)).Keys.All(k => k is "6" or "17" or "1" or "58"), "top flows by protocol");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task The_live_page_shown_again_keeps_its_definition()
    {
        var (page, errors) = await lab.NewPage();
        var removals = new List<string>();
        page.Request += (_, r) => { if (r.Method == "DELETE") lock (removals) removals.Add(r.Url); };
        await ConsoleLab.SignIn(page, lab.Admin);
        string[] Definitions() => [.. JsonNode.Parse(lab.Api(lab.Admin, HttpMethod.Get, "/api/v1/realtime/flows").Body)!.AsObject()
            .Where(d => d.Key.StartsWith("console-", StringComparison.Ordinal)).Select(d => d.Key)];
        await ConsoleLab.Until(() => Task.FromResult(Definitions().Length == 1), "the live page's definition");
        var name = Definitions()[0];
        var updated = page.Locator("p.muted[data-ticks]");
        await ConsoleLab.Until(async () => await updated.CountAsync() == 1, "a first update");

        // The account switch's Read with the same account shows the page again: the same definition, under the
        // same name. The first showing's removal is skipped; before, it went out beside the second showing's put
        // and, arriving last, removed the definition under it.
        await page.GetByRole(AriaRole.Button, new() { Name = "Read" }).ClickAsync();
        await ConsoleLab.Until(async () => int.Parse(await updated.GetAttributeAsync("data-ticks") ?? "0", CultureInfo.InvariantCulture) >= 3, "three updates after showing it again");
        Assert.Equal([name], Definitions());
        lock (removals) Assert.Empty(removals);
        Assert.Equal(0, await page.Locator("main p.status.error").CountAsync());
        Assert.Empty(errors);
    }

    private string[] ConsoleDefinitions() =>
        [.. JsonNode.Parse(lab.Api(lab.TenantA, HttpMethod.Get, "/api/v1/realtime/flows").Body)!.AsObject()
            .Where(d => d.Key.StartsWith("console-", StringComparison.Ordinal)).Select(d => (string)d.Value!["keys"]!)];

    /// <summary>The top flows table as it is at one moment (read in the page at once: it is made anew every second).</summary>
    private static async Task<Dictionary<string, double>> Shown(ILocator rows)
    {
        var pairs = await rows.EvaluateAllAsync<string[][]>("trs => trs.map(tr => [tr.cells[0].innerText, tr.cells[1].dataset.value])");
        return pairs.ToDictionary(p => p[0], p => double.Parse(p[1], CultureInfo.InvariantCulture), StringComparer.Ordinal);
    }

    /// <summary>The page's JavaScript heap in use (after a collection) and its DOM nodes, from the browser's performance metrics.</summary>
    private static async Task<(long Heap, long Nodes)> Memory(ICDPSession cdp)
    {
        await cdp.SendAsync("HeapProfiler.collectGarbage");
        var metrics = (await cdp.SendAsync("Performance.getMetrics"))!.Value.GetProperty("metrics").EnumerateArray()
            .ToDictionary(m => m.GetProperty("name").GetString()!, m => m.GetProperty("value").GetDouble());
        return ((long)metrics["JSHeapUsedSize"], (long)metrics["Nodes"]);
    }

    [Fact]
    public async Task Flow_log_search_shows_the_api_rows_row_for_row_and_pages_with_its_cursor()
    {
        var (from, to) = await lab.PastWindow();
        var (page, errors) = await lab.NewPage();
        await ConsoleLab.SignIn(page, lab.TenantA);
        await page.GetByRole(AriaRole.Link, new() { Name = "Flow logs" }).ClickAsync();
        await page.GetByLabel("Time range").SelectOptionAsync("custom");
        await page.GetByLabel("From (UTC)").FillAsync(ConsoleLab.Typed(from));
        await page.GetByLabel("To (UTC)").FillAsync(ConsoleLab.Typed(to));
        await page.GetByLabel("Filter (nfdump syntax)").FillAsync("proto tcp and not port 22");
        await page.GetByLabel("Rows a page").SelectOptionAsync("50");
        await page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        var table = page.GetByRole(AriaRole.Table, new() { Name = "Flows" });
        await table.WaitForAsync();

        var fields = Flowline.Api.ApiV1.DefaultFields;
        var query = new List<(string, string)> { ("from", ConsoleLab.Time(from)), ("to", ConsoleLab.Time(to)), ("filter", "proto tcp and not port 22"), ("fields", fields), ("limit", "50") };
        var first = lab.Api(lab.TenantA, HttpMethod.Get, "/api/v1/flows", query);
        Assert.Equal(200, first.Status);
        Assert.NotNull(first.Cursor);
        Assert.Equal(Rows(first.Body, fields), await Cells(table));
        await ConsoleLab.Shot(page, "search");

        await page.GetByRole(AriaRole.Button, new() { Name = "Next page" }).ClickAsync();
        await page.GetByRole(AriaRole.Cell).First.WaitForAsync();
        await ConsoleLab.Until(async () => (await page.Locator("table.flows caption").InnerTextAsync()).StartsWith("Flows 51", StringComparison.Ordinal), "the second page");
        var second = lab.Api(lab.TenantA, HttpMethod.Get, "/api/v1/flows", [.. query, ("cursor", first.Cursor!)]);
        Assert.Equal(Rows(second.Body, fields), await Cells(table));
        Assert.NotEqual(Rows(first.Body, fields), Rows(second.Body, fields));

        // Downloads of ten seconds: CSV of the whole range with the columns shown, and the JCS flow logs of the range.
        (from, to) = (lab.Started, lab.Started.AddSeconds(10));
        await page.GetByLabel("From (UTC)").FillAsync(ConsoleLab.Typed(from));
        await page.GetByLabel("To (UTC)").FillAsync(ConsoleLab.Typed(to));
        var all = lab.Api(lab.TenantA, HttpMethod.Get, "/api/v1/flows",
            [("from", ConsoleLab.Time(from)), ("to", ConsoleLab.Time(to)), ("filter", "proto tcp and not port 22"), ("fields", fields), ("limit", "100000")]);
        Assert.Null(all.Cursor);
        var csv = await Download(page, "CSV");
        Assert.Equal([fields, .. Rows(all.Body, fields).Select(r => string.Join(',', r))], csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries));
        var jcs = JsonNode.Parse(await Download(page, "JCS JSON"))!["DescribeFlowLogResponse"]!["value"]!["item"]!.AsArray();
        var parameters = new List<KeyValuePair<string, string>>
        {
            new("Version", "2016-03-01"), new("Action", "DescribeFlowLog"),
            new("start_time", Flowline.Api.DescribeFlowLog.Format(from, Flowline.Api.ApiOptions.Ist)), new("end_time", Flowline.Api.DescribeFlowLog.Format(to, Flowline.Api.ApiOptions.Ist)),
        };
        Flowline.Api.Signatures.SignAction(parameters, lab.TenantA.Id, lab.TenantA.Secret, "GET", new Uri(lab.Serve.Url).Authority, DateTimeOffset.UtcNow);
        var described = JsonNode.Parse(lab.Serve.Get("/?" + string.Join('&', parameters.Select(p => Flowline.Api.Signatures.Encode(p.Key) + "=" + Flowline.Api.Signatures.Encode(p.Value)))))!
            ["DescribeFlowLogResponse"]!["value"]!["item"]!.AsArray();
        Assert.True(described.Count > 1000, $"{described.Count} flow logs");
        Assert.Equal(described.Select(i => i!.ToJsonString()).Order(StringComparer.Ordinal), jcs.Select(i => i!.ToJsonString()).Order(StringComparer.Ordinal));

        // Group by / top N: the same rows as POST /api/v1/query.
        await page.GetByLabel("Show").SelectOptionAsync("groups");
        await page.GetByLabel("Group by (fields, addresses /bits)").FillAsync("dst_port");
        await page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        var groups = page.GetByRole(AriaRole.Table, new() { Name = "Groups" });
        await groups.WaitForAsync();
        var body = new JsonObject { ["from"] = ConsoleLab.Time(from), ["to"] = ConsoleLab.Time(to), ["filter"] = "proto tcp and not port 22", ["group_by"] = new JsonArray("dst_port"), ["order"] = "bytes", ["limit"] = 10 };
        var answer = JsonNode.Parse(lab.Api(lab.TenantA, HttpMethod.Post, "/api/v1/query", json: body.ToJsonString()).Body)!;
        var expected = answer["rows"]!.AsArray().Select(r => new[] { (string)r!["dst_port"]!.ToString(), r["bytes"]!.ToString(), r["packets"]!.ToString(), r["flows"]!.ToString() }.ToList()).ToList();
        Assert.True(expected.Count > 3, $"{expected.Count} groups");
        Assert.Equal(expected, await Cells(groups));
        Assert.Empty(errors);
    }

    /// <summary>Clicks a download button and answers the file's text.</summary>
    private static async Task<string> Download(IPage page, string format)
    {
        try
        {
            var download = await page.RunAndWaitForDownloadAsync(() => page.GetByRole(AriaRole.Group, new() { Name = "Download" }).GetByRole(AriaRole.Button, new() { Name = format, Exact = true }).ClickAsync());
            return await File.ReadAllTextAsync((await download.PathAsync())!);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{format}: {e.Message}\npage status: {string.Join(" | ", await page.Locator("[role=status]").AllInnerTextsAsync())}", e);
        }
    }

    /// <summary>The NDJSON rows as the console's cells, field by field.</summary>
    private static List<List<string>> Rows(string ndjson, string fields) =>
        ConsoleLab.Lines(ndjson).Select(r => fields.Split(',').Select(f => r.TryGetProperty(f, out var v) ? ConsoleLab.Cell(v) : "").ToList()).ToList();

    private static async Task<List<List<string>>> Cells(ILocator table)
    {
        var rows = new List<List<string>>();
        foreach (var row in await table.Locator("tbody tr").AllAsync()) rows.Add([.. await row.Locator("td").AllInnerTextsAsync()]);
        return rows;
    }


    [Fact]
    public async Task A_filter_with_a_syntax_error_is_marked_at_the_column_the_parser_names()
    {
        const string bad = "proto tcp and dst port x443";
        var api = JsonNode.Parse(lab.Api(lab.TenantA, HttpMethod.Get, "/api/v1/flows",
            [("from", ConsoleLab.Time(lab.Started)), ("to", ConsoleLab.Time(lab.Started.AddMinutes(1))), ("filter", bad), ("limit", "10")]).Body)!["error"]!;
        var column = (int)api["column"]!;
        Assert.Equal(24, column); // where "x443" starts
        var (page, errors) = await lab.NewPage();
        await ConsoleLab.SignIn(page, lab.TenantA);
        await page.GotoAsync("/#/search");
        var filter = page.GetByLabel("Filter (nfdump syntax)");
        await filter.FillAsync(bad);
        await page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        var alert = page.Locator("#filter-error");
        await alert.Locator("p").WaitForAsync();
        Assert.Equal($"Column {column}: {(string)api["reason"]!}", await alert.Locator("p").InnerTextAsync());
        // The caret line puts ^ under the column.
        var caretLine = (await alert.Locator("pre").InnerTextAsync()).Split('\n')[1];
        Assert.Equal(column - 1, caretLine.IndexOf('^', StringComparison.Ordinal));
        Assert.Equal("true", await filter.GetAttributeAsync("aria-invalid"));
        Assert.Equal(column - 1, await filter.EvaluateAsync<int>("e => e.selectionStart"));
        await ConsoleLab.Shot(page, "search-filter-error");
        Assert.Empty(errors);
    }
}
