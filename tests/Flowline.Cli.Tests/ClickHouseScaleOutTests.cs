using System.Globalization;
using Flowline.Api;
using Flowline.Testing;

namespace Flowline.Cli.Tests;

/// <summary>
/// The scale-out deployment on one machine: a 2-shard ClickHouse cluster (two clickhouse-server processes with
/// a remote_servers cluster), two `flowline serve` collectors writing to it and an API node (`--collect false`)
/// reading it. The same export replayed to an embedded-store serve, half of it to each collector: the
/// flow-log API, /api/v1/flows and `flowline query` answer exactly as the embedded store does.
/// </summary>
public sealed class ClickHouseScaleOutTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-scaleout-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Two_collectors_and_an_API_node_over_a_2_shard_cluster_answer_as_the_embedded_store()
    {
        using var cluster = new ClickHouseServers(2);
        var location = cluster.Location("scaleout");
        // Without shards=: the cluster's two hosts (127.0.0.1, told apart by native ports) on one HTTP port would be
        // one server taken twice; refused, not "2 shard(s) ready" with one of them left without tables.
        var same = FlowlineProcess.RunFlowline(["clickhouse", "init", "--store", $"clickhouse://127.0.0.1:{cluster[0].HttpPort}/scaleout?cluster={ClickHouseServers.Cluster}"]);
        Assert.Equal(1, same.ExitCode);
        Assert.Contains($"has 2 shards on 127.0.0.1:{cluster[0].HttpPort}", same.Stderr, StringComparison.Ordinal);
        // A collector on a database no one made (a typo) is refused: it made the database before, for no reader.
        var typo = FlowlineProcess.RunFlowline(["serve", "--data-dir", Path.Combine(_dir.FullName, "typo"), "--store", cluster.Location("scaleuot"),
            "--sflow", "127.0.0.1:0", "--netflow", "127.0.0.1:0", "--ipfix", "127.0.0.1:0", "--http", "127.0.0.1:0"], TimeSpan.FromSeconds(60));
        Assert.Equal(1, typo.ExitCode);
        Assert.Contains("scaleuot doesn't exist", typo.Stderr, StringComparison.Ordinal);
        Assert.Contains("make the tables with `flowline clickhouse init --store", typo.Stderr, StringComparison.Ordinal);
        using (var system = new Flowline.Storage.ClickHouse.ClickHouseClient(cluster[0].Url, "system"))
        {
            Assert.Equal("0", system.Execute("SELECT count() FROM system.databases WHERE name = 'scaleuot'").Trim());
        }
        var init = FlowlineProcess.RunFlowline(["clickhouse", "init", "--store", location]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        Assert.Contains("init: 2 shard(s) ready", init.Stdout);
        Assert.Contains("rollups: 6 tables (per minute), answering for flows from the first", init.Stdout);

        var inventory = Path.Combine(_dir.FullName, "inventory.yaml");
        var make = FlowlineProcess.Run(FlowlineProcess.StartInfo("python3", Path.Combine(FlowlineProcess.RepositoryRoot, "bench", "make-inventory.py"), "200", "4"));
        Assert.True(make.ExitCode == 0, make.Stderr);
        File.WriteAllText(inventory, make.Stdout);
        var start = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60 * 60 - 600);
        var pcap = Path.Combine(_dir.FullName, "export.pcap");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", "20000", "--hosts", "200", "--seed", "11",
            "--start", start.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), "--pcap", pcap, "-q"]).ExitCode);
        var datagrams = AgentOutageTests.Datagrams(pcap, out _, out _);

        var reference = Path.Combine(_dir.FullName, "embedded");
        var referenceKey = KeyStore.Open(reference).Create("acc-0000", admin: false);
        var apiDir = Path.Combine(_dir.FullName, "api");
        var apiKey = KeyStore.Open(apiDir).Create("acc-0000", admin: false);
        using var embedded = new ServeProcess(reference, "--inventory", inventory);
        using var a = new ServeProcess(Path.Combine(_dir.FullName, "a"), "--store", location, "--inventory", inventory);
        using var b = new ServeProcess(Path.Combine(_dir.FullName, "b"), "--store", location, "--inventory", inventory);
        using var api = new ServeProcess(apiDir, "--store", location, "--collect", "false");
        Assert.Contains("(read only: an API node)", api.Errors);

        AgentFlowLogTests.Replay(datagrams, embedded.Ports["ipfix"]);
        AgentFlowLogTests.Replay(datagrams[..(datagrams.Count / 2)], a.Ports["ipfix"]);
        AgentFlowLogTests.Replay(datagrams[(datagrams.Count / 2)..], b.Ports["ipfix"]);
        ServeProcess.WaitFor(() => embedded.Records("ipfix") == 20_000, "20,000 records at the embedded serve", 60);
        ServeProcess.WaitFor(() => a.Records("ipfix") + b.Records("ipfix") == 20_000, "20,000 records at the two collectors", 60);
        // Records are counted as they are decoded and handed to the store up to a batch interval later: the reference
        // figure is taken once every one of them is in.
        ServeProcess.WaitFor(() => Metric(embedded, "flowline_records_stored_total") == 20_000, "20,000 records stored by the embedded serve", 60);
        var rows = Metric(embedded, "flowline_rows_stored_total");
        ServeProcess.WaitFor(() => Metric(a, "flowline_rows_stored_total") + Metric(b, "flowline_rows_stored_total") == rows
            && Metric(a, "flowline_clickhouse_inserted_rows_total") + Metric(b, "flowline_clickhouse_inserted_rows_total") == rows, $"{rows} rows in ClickHouse", 60);
        Assert.True(Metric(a, "flowline_clickhouse_inserted_rows_total") > 0 && Metric(b, "flowline_clickhouse_inserted_rows_total") > 0, "a collector inserted nothing");

        var from = start.AddMinutes(-1).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        var to = start.AddMinutes(30).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        var flows = $"/api/v1/flows?from={from}&to={to}&limit=100000&filter=" + Uri.EscapeDataString("proto tcp");
        // The embedded store shows rows once its group commit wrote them.
        ServeProcess.WaitFor(() => Rest.Send(HttpMethod.Get, embedded.Url + flows, key: referenceKey).Body == Rest.Send(HttpMethod.Get, api.Url + flows, key: apiKey).Body,
            "the same /api/v1/flows rows from both", 30);
        var (s1, embeddedFlows) = Rest.Send(HttpMethod.Get, embedded.Url + flows, key: referenceKey);
        var (s2, apiFlows) = Rest.Send(HttpMethod.Get, api.Url + flows, key: apiKey);
        Assert.Equal(200, s1);
        Assert.Equal(200, s2);
        Assert.True(embeddedFlows.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length > 5000);
        Assert.Equal(embeddedFlows, apiFlows); // the same rows in the same (start, line) order

        // The flow-log API of the API node, as the embedded serve's.
        var theirs = AgentFlowLogTests.Items(_dir.FullName, embedded, referenceKey, start);
        var ours = AgentFlowLogTests.Items(_dir.FullName, api, apiKey, start);
        Assert.True(theirs.Count > 15_000, $"{theirs.Count} items");
        Assert.Equal(theirs.Order(StringComparer.Ordinal), ours.Order(StringComparer.Ordinal));
        Assert.Equal(0, a.Terminate());
        Assert.Equal(0, b.Terminate());
        Assert.Equal(0, embedded.Terminate());
        // Totals, top-N, groupings and filters through `flowline query`, on the cluster and on the embedded store.
        foreach (var args in new[]
                 {
                     new[] { "-A", "proto", "-o", "csv" },
                     ["-s", "dstport/bytes", "-n", "10"],
                     ["-s", "srcip/flows", "-n", "15", "proto udp"],
                     ["-A", "srcip/24,dstport", "--order", "packets", "-n", "40", "-o", "csv"],
                     ["-A", "account,action", "-o", "csv", "not dst port 443"],
                     ["--bucket", "1m", "-A", "proto", "-o", "csv", "bytes > 1000 and (port 53 or port 80)"],
                     ["-o", "extended", "-q", "-c", "100000", "host 10.0.0.7"],
                 })
        {
            var expected = FlowlineProcess.RunFlowline(["query", "--data-dir", reference, .. args]);
            var actual = FlowlineProcess.RunFlowline(["query", "--store", location, .. args]);
            Assert.True(expected.ExitCode == 0, expected.Stderr);
            Assert.True(actual.ExitCode == 0, actual.Stderr);
            Assert.True(expected.Stdout.Length > 50, $"{string.Join(' ', args)}: {expected.Stdout}");
            // Listings come in each store's order; aggregates in the same order.
            var listing = args.Contains("extended");
            Assert.Equal(Lines(expected.Stdout, listing), Lines(actual.Stdout, listing));
        }

        // nfdump's summary: the flows of the window read, before the filter (not every row of the store's parts).
        string[] window = ["--from", start.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), "--to", start.AddSeconds(1).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)]; // half the flows: 10,000 a second
        var inWindow = FlowlineProcess.RunFlowline(["query", "--store", location, .. window, "-A", "proto", "-o", "csv"]).Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Sum(l => long.Parse(l.Split(',')[^1], CultureInfo.InvariantCulture));
        Assert.InRange(inWindow, 1, rows - 1);
        var summary = FlowlineProcess.RunFlowline(["query", "--store", location, .. window, "-o", "line", "-c", "5", "proto tcp"]);
        Assert.True(summary.ExitCode == 0, summary.Stderr);
        Assert.Contains($"Total flows processed: {inWindow}, passed: 5", summary.Stdout, StringComparison.Ordinal);

        // A shard down under the API node: a 503 with a JSON error the client can act on, and a log line.
        ClickHouseServers.Stop(cluster[1]);
        var (status, body) = Rest.Send(HttpMethod.Get, api.Url + flows, key: apiKey);
        Assert.Equal(503, status);
        Assert.Contains("\"code\":\"StoreUnavailable\"", body, StringComparison.Ordinal);
        ServeProcess.WaitFor(() => api.Errors.Contains("store/store-unavailable GET /api/v1/flows", StringComparison.Ordinal), "the failure in the API node's log", 30);
    }

    [Fact]
    public void A_collector_decodes_an_exporter_whose_templates_another_collector_of_the_store_learned()
    {
        using var cluster = new ClickHouseServers(2);
        var location = cluster.Location("templates");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["clickhouse", "init", "--store", location]).ExitCode);
        var withTemplates = Path.Combine(_dir.FullName, "with.pcap");
        var without = Path.Combine(_dir.FullName, "without.pcap");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", "5000", "--seed", "3", "--pcap", withTemplates, "-q"]).ExitCode);
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", "5000", "--seed", "4", "--no-templates", "--pcap", without, "-q"]).ExitCode);
        using var a = new ServeProcess(Path.Combine(_dir.FullName, "a"), "--store", location);
        using var b = new ServeProcess(Path.Combine(_dir.FullName, "b"), "--store", location);

        AgentFlowLogTests.Replay(AgentOutageTests.Datagrams(withTemplates, out _, out _), a.Ports["ipfix"]);
        ServeProcess.WaitFor(() => a.Records("ipfix") == 5000, "5,000 records at the first collector", 60);
        // The first collector publishes the exporter's templates; the second takes them without ever hearing them.
        ServeProcess.WaitFor(() => b.Errors.Contains("template sets from 1 other collectors of the store", StringComparison.Ordinal), "the templates at the second collector", 60);
        AgentFlowLogTests.Replay(AgentOutageTests.Datagrams(without, out _, out _), b.Ports["ipfix"]);
        ServeProcess.WaitFor(() => b.Records("ipfix") == 5000, "5,000 records at the second collector", 60);
        Assert.Equal(0, Metric(b, "flowline_template_pending_bytes"));
        Assert.True(Metric(b, "flowline_templates_adopted_total") > 0);
    }

    internal static IEnumerable<string> Lines(string text, bool sort)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return sort ? lines.Order(StringComparer.Ordinal) : lines;
    }

    internal static long Metric(ServeProcess serve, string name) => serve.Get("/metrics").Split('\n')
        .Where(l => l.StartsWith(name + " ", StringComparison.Ordinal) || l.StartsWith(name + "{store=\"flows\"} ", StringComparison.Ordinal))
        .Sum(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
}
