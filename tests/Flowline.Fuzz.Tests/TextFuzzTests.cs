using System.Text;
using System.Text.Json;
using Flowline.Api;
using Flowline.Enrichment;
using Flowline.Query;
using Flowline.Realtime;
using Flowline.Records;
using Flowline.Storage;
using Flowline.Wire;
using Flowline.Wire.Tests;

namespace Flowline.Fuzz.Tests;

/// <summary>
/// Mutated texts through every parser that reads what a client sends: the nfdump filter language, sFlow-RT
/// keys, filters and flow definitions, the Contrail query JSON and the inventory (YAML and JSON). Each may
/// refuse with its own error; any other exception, or a parse that then fails to run, is a crash.
/// </summary>
public sealed class TextFuzzTests
{
    private static readonly Lazy<(FlowBatch Batch, FlowRecord[] Records)> Rows = new(() =>
    {
        var batch = new FlowBatch(8192);
        var decoder = new FlowDecoder();
        foreach (var name in TestCorpus.ReferencedCaptures())
        {
            foreach (var d in TestCorpus.Datagrams(name).Take(200))
            {
                if (batch.Count > batch.Capacity - 1024) break;
                decoder.Decode(d.Payload, d.Source, d.Timestamp, batch);
            }
        }
        var records = new FlowRecord[batch.Count];
        for (var i = 0; i < batch.Count; i++) records[i] = batch[i];
        return (batch, records);
    });

    private static readonly string[] Filters =
    [
        "proto tcp and dst port 443 and net 10.0.0.0/8", "bytes > 1M and packets < 10", "flags SA && !flags R", "port in [80 443 8080]",
        "src net 10.0.0.0 255.255.0.0", "exporter 127.0.0.1 and src mac 02:00:00:00:00:01", "NOT (not (proto tcp))", "flowdir in [unknown 1]",
        "host 10.0.0.1 or host fd00::1", "src port > 1024 and dst port < 1024", "proto udp and (port 53 or port 123)", "any",
        "account acc-0001 and action drop", "src country US or dst asn 15169", "vlan 100", "ip 192.0.2.1", "packets >= 3G", "dst net fd00:1::/64",
        "icmp", "proto 47", "src tag web and dst tag db", "vmi p1", "sgrule *", "duration > 1000",
    ];

    private static readonly string[] FilterTokens =
    [
        " and ", " or ", " not ", "(", ")", "[", "]", " in ", "proto ", "tcp", "port ", "src ", "dst ", "net ", "host ", "/", "/33", ".", ":", "::",
        "10.0.0.0", "fd00::", ">", "<", "=", ">=", "!", "&&", "||", "1k", "2M", "3G", "255.255.0.0", "flags ", "SAFRPU", "any", "*", "\"", "'",
        "account ", "vmi ", "action ", "country ", "asn ", "bytes ", "packets ", "vlan ", "mac ", "02:00:00:00:00:01", "-1", "99999999999999999999",
    ];

    [Fact]
    public void The_nfdump_filter_language_refuses_with_its_own_error_and_what_it_accepts_runs()
    {
        var (batch, _) = Rows.Value;
        var selection = new ulong[FilterEvaluator.Words(batch.Count)];
        Budget.Run("nfdump-filter", (random, _) =>
        {
            var text = Mutator.Text(random, Filters[random.Next(Filters.Length)], FilterTokens);
            try
            {
                FilterNode node;
                try
                {
                    node = FilterParser.Parse(text);
                }
                catch (FilterSyntaxException)
                {
                    return;
                }
                new FilterEvaluator(node).Evaluate(batch, selection);
            }
            catch (Exception e)
            {
                throw Budget.Crash("nfdump-filter", Encoding.UTF8.GetBytes(text), e);
            }
        });
    }

    private static readonly string[] Keys =
    [
        "ipsource,ipdestination", "ipsource,ipdestination,ipprotocol,tcpsourceport,tcpdestinationport", "null:[country:ipsource]:unknown",
        "mask:ipdestination:16", "or:tcpsourceport:udpsourceport", "group:ipsource:site", "country:ipdestination", "asn:ipsource", "account",
        "macsource,vlan", "ip6source,ip6destination", "agent,inputifindex", "range:bytes:0:1000", "prefix:ipsource:24",
    ];

    private static readonly string[] RealtimeFilters =
    [
        "ipdestination=10.0.0.8&tcpdestinationport=443", "ipsource~^10\\.1\\.", "ipprotocol=6|ipprotocol=17", "!(ipsource=10.0.0.1)", "country:ipsource=US",
        "account=acc-0001", "ipsource~^[0-9.]*[0-9.]*x$", "tcpflags~...1.", "group:ipsource:site=inside", "vlan=100&macsource=020000000001",
    ];

    private static readonly string[] RealtimeTokens = [",", ":", "[", "]", "&", "|", "!", "(", ")", "=", "!=", "~", "^", "$", ".*", "(a+)+", "\\", "ipsource", "ipdestination", "tcpsourceport", "null", "mask", "or", "group", "country", "asn", "24", "999"];

    [Fact]
    public void SflowRt_keys_filters_and_definitions_refuse_with_their_own_error_and_what_they_accept_counts()
    {
        var (batch, _) = Rows.Value;
        var context = new KeyContext(new SymbolTable());
        context.Groups.Put("site", new Dictionary<string, IReadOnlyList<string>> { ["inside"] = ["10.0.0.0/8"], ["outside"] = ["0.0.0.0/0"] });
        var log = new FlowLogger(new Journal(100, "flowID"));
        var events = new ThresholdSink(new Journal(100, "eventID"), null);
        Budget.Run("sflowrt", (random, n) =>
        {
            var keys = Mutator.Text(random, Keys[random.Next(Keys.Length)], RealtimeTokens);
            var filter = Mutator.Text(random, RealtimeFilters[random.Next(RealtimeFilters.Length)], RealtimeTokens);
            var json = random.Next(3) == 0
                ? Mutator.Text(random, JsonSerializer.Serialize(new { keys, value = "bytes", filter, t = 2, n = 10, log = true }), ["{", "}", "[", "]", ",", ":", "\"", "null", "1e999", "-0", "true"])
                : JsonSerializer.Serialize(new { keys, value = random.Next(2) == 0 ? "bytes" : "frames", filter, t = 1 + random.Next(10) });
            json = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(json)); // as a request body arrives: valid UTF-16
            try
            {
                FlowDefinition definition;
                try
                {
                    definition = FlowDefinition.FromJson(json);
                    var table = new FlowTable("fuzz", definition, context, new FlowBudget(1000, long.MaxValue), 0);
                    table.Add(batch, 0, batch.Count, log, events);
                    table.Top(null, 1_000_000);
                    table.Sweep(10_000_000, log);
                }
                catch (FormatException)
                {
                }
                try
                {
                    KeyParser.ParseList(keys, context);
                }
                catch (FormatException)
                {
                }
                try
                {
                    FlowFilter.Parse(filter, context);
                }
                catch (FormatException)
                {
                }
            }
            catch (Exception e)
            {
                throw Budget.Crash("sflowrt", Encoding.UTF8.GetBytes(json + "\n" + keys + "\n" + filter), e);
            }
        });
    }

    private static readonly string[] ContrailQueries =
    [
        """{"table": "SessionSeriesTable", "start_time": "now-10m", "end_time": "now", "select_fields": ["T=60", "SUM(forward_sampled_bytes)"], "session_type": "client", "where": [[{"name": "protocol", "value": 6, "op": 1}, {"name": "server_port", "value": 443, "op": 1}]]}""",
        """{"table": "SessionRecordTable", "session_type": "client", "start_time": "now-10m", "end_time": "now", "select_fields": ["local_ip", "remote_ip", "server_port"], "limit": 10}""",
        """{"table": "FlowRecordTable", "start_time": 0, "end_time": 9000000000000000, "select_fields": ["sourceip", "sport", "destip", "dport", "agg-bytes"], "sort_fields": ["agg-bytes"], "sort": 2, "limit": 5, "dir": 1}""",
        """{"table": "FlowSeriesTable", "start_time": 0, "end_time": "now", "select_fields": ["T=1", "sourcevn", "SUM(bytes)", "COUNT(packets)"], "where": [[{"name": "sourceip", "value": "10.0.0.0", "value2": "10.255.255.255", "op": 3}]], "filter": [[{"name": "sourcevn", "value": "a.*", "op": 8}]], "limit": 100}""",
        """{"table": "FlowRecordTable", "start_time": "now-1h", "end_time": "now", "select_fields": ["vrouter", "protocol"], "where": [[{"name": "vrouter", "value": "10.", "op": 7}], [{"name": "protocol", "value": 17, "op": 1}]], "limit": 3}""",
    ];

    [Fact]
    public void The_contrail_query_json_refuses_with_its_own_error()
    {
        var (_, records) = Rows.Value;
        var names = new SymbolTable();
        Budget.Run("contrail", (random, _) =>
        {
            var json = Mutator.Text(random, ContrailQueries[random.Next(ContrailQueries.Length)],
                ["{", "}", "[", "]", ",", ":", "\"", "null", "1e999", "-1", "true", "\"op\": 8", "\"value\": \"(a+)+$\"", "\"limit\": 0", "\"T=0\"", "\"SUM(\"", "\"now-\"", "\"sort\": 9"]);
            try
            {
                JsonDocument doc;
                try
                {
                    doc = JsonDocument.Parse(Encoding.UTF8.GetBytes(json)); // as the request's bytes arrive
                }
                catch (JsonException)
                {
                    return;
                }
                using (doc)
                {
                    try
                    {
                        Api.ContrailQuery.Run(doc.RootElement, (_, _, _) => records, names, 1_795_000_000_000_000);
                    }
                    catch (Api.ContrailQuery.QueryException)
                    {
                    }
                    catch (InvalidOperationException e) when (e.Message.Contains("UTF-16", StringComparison.Ordinal))
                    {
                        // Half a surrogate pair escaped in a string: the face answers 400 for it.
                    }
                }
            }
            catch (Exception e)
            {
                throw Budget.Crash("contrail", Encoding.UTF8.GetBytes(json), e);
            }
        });
    }

    [Fact]
    public void The_inventory_refuses_with_its_own_error()
    {
        var example = File.ReadAllText(Path.Combine(Repository.Root, "docs", "inventory.example.yaml"));
        var lines = example.Split('\n');
        Budget.Run("inventory", (random, _) =>
        {
            // A slice of the example (whole files are slow to mutate meaningfully), now and then as JSON-ish flow style.
            var from = random.Next(lines.Length);
            var text = string.Join('\n', lines.Skip(random.Next(2) == 0 ? 0 : from).Take(random.Next(5, 200)));
            text = Mutator.Text(random, text, ["\n  - ", ": ", "[", "]", "{", "}", "&a ", "*a", "<<: *a", "!!binary ", "---\n", "...", "\t", "'", "\"", "- id: acc-9\n", "subnets: [", "10.0.0.0/33", "vlan: 70000"]);
            try
            {
                InventoryFile.Parse(text);
            }
            catch (InventoryException)
            {
            }
            catch (Exception e)
            {
                throw Budget.Crash("inventory", Encoding.UTF8.GetBytes(text), e);
            }
        });
    }
}
