using System.Diagnostics;
using System.Text.Json;

namespace Flowline.Cli.Tests;

/// <summary>import, query and store through the real executable, on captures from `flowline gen`.</summary>
public sealed class StoreCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-cli-store-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string Imported(int flows)
    {
        var pcap = Path.Combine(_dir.FullName, "g.pcap");
        var data = Path.Combine(_dir.FullName, "data");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", flows.ToString(), "--pcap", pcap, "-q"]).ExitCode);
        var import = FlowlineProcess.RunFlowline(["import", "--pcap", pcap, "--data-dir", data]);
        Assert.True(import.ExitCode == 0, import.Stderr);
        Assert.Contains($"{flows} flow records", import.Stderr);
        return data;
    }

    [Fact]
    public void Import_with_an_inventory_enriches_like_serve_and_refuses_a_broken_inventory()
    {
        var pcap = Path.Combine(_dir.FullName, "g.pcap");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "netflow9", "--count", "20000", "--pcap", pcap, "-q"]).ExitCode);
        // gen's two busiest clients, 10.0.0.1 and 10.0.0.2, are ports of two accounts; everything else is nobody's.
        var inventory = Path.Combine(_dir.FullName, "inventory.yaml");
        File.WriteAllText(inventory, """
            accounts: [{id: acc-1, name: One}, {id: acc-2, name: Two}]
            networks:
              - {name: "d:one:net", account: acc-1, subnets: [10.0.0.1/32]}
              - {name: "d:two:net", account: acc-2, subnets: [10.0.0.2/32]}
            ports:
              - {uuid: vmi-1, account: acc-1, network: "d:one:net", mac: "02:00:0a:00:00:01", ips: [10.0.0.1], tags: {app: web}}
              - {uuid: vmi-2, account: acc-2, network: "d:two:net", mac: "02:00:0a:00:00:02", ips: [10.0.0.2], tags: {app: db}}
            """);
        var data = Path.Combine(_dir.FullName, "data");
        var import = FlowlineProcess.RunFlowline(["import", "--pcap", pcap, "--data-dir", data, "--inventory", inventory, "--no-compact"]);
        Assert.True(import.ExitCode == 0, import.Stderr);
        Assert.Contains("20000 flow records", import.Stderr);

        long Count(params string[] filter)
        {
            var q = FlowlineProcess.RunFlowline(["query", "--data-dir", data, .. filter, "-o", "csv", "--fields", "src_addr"]);
            Assert.True(q.ExitCode == 0, q.Stderr);
            var lines = q.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToArray();
            return lines.Length;
        }
        var one = Count("account", "acc-1");
        var byAddress = Count("host", "10.0.0.1");
        Assert.True(one > 100, $"{one} rows of acc-1");
        Assert.Equal(byAddress, one);
        Assert.Equal(Count("host", "10.0.0.2"), Count("account", "acc-2"));
        Assert.Equal(one, Count("tag", "app=web"));
        Assert.Equal(0, Count("account", "acc-1", "and", "host", "10.0.0.2"));

        File.WriteAllText(inventory, "accounts: [{id: acc-1, name: One}]\nports:\n  - {uuid: vmi-1, account: acc-9, network: nowhere}\n");
        var refused = FlowlineProcess.RunFlowline(["import", "--pcap", pcap, "--data-dir", Path.Combine(_dir.FullName, "other"), "--inventory", inventory]);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("line 3", refused.Stderr);
        Assert.False(Directory.Exists(Path.Combine(_dir.FullName, "other")), "nothing may be stored with a refused inventory");
    }

    [Fact]
    public void A_range_of_more_segments_than_the_process_may_open_is_refused_with_what_to_do()
    {
        // 300 group commits, each a segment of its own.
        var data = Path.Combine(_dir.FullName, "many");
        using (var store = new Flowline.Storage.Embedded.EmbeddedStore(data))
        {
            var batch = new Flowline.Records.FlowBatch();
            for (var i = 0; i < 300; i++)
            {
                batch.Clear();
                batch.Add(new Flowline.Records.FlowRecord { TimeReceived = 1_790_000_000_000_000 + i, Start = 1_790_000_000_000_000 + i, End = 1_790_000_000_000_001 + i, IpVersion = 4, IpProto = 6, Bytes = 1, Packets = 1 });
                store.Append(batch);
                store.Flush();
            }
        }
        var tight = FlowlineProcess.Run(FlowlineProcess.StartInfo(FlowlineProcess.Tool("bash"), "-c", $"ulimit -n 400 && exec dotnet exec {FlowlineProcess.Dll} query --data-dir {data} -A proto"));
        Assert.Equal(1, tight.ExitCode);
        Assert.Contains("the range holds 300 segment files, more than this process may hold open (400 files", tight.Stderr, StringComparison.Ordinal);
        Assert.Contains("flowline store compact", tight.Stderr, StringComparison.Ordinal);
        // Under the machine's own limit, the same query answers.
        var query = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-A", "proto", "-o", "csv"]);
        Assert.True(query.ExitCode == 0, query.Stderr);
        Assert.Contains(",300,", query.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Import_of_a_cut_capture_stores_what_is_whole_and_says_what_was_cut()
    {
        var pcap = Path.Combine(_dir.FullName, "whole.pcap");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "netflow9", "--count", "3000", "--pcap", pcap, "-q"]).ExitCode);
        var bytes = File.ReadAllBytes(pcap);
        foreach (var cut in new[] { 50_000, 50_007, 50_100 })
        {
            var cutPath = Path.Combine(_dir.FullName, $"cut-{cut}.pcap");
            File.WriteAllBytes(cutPath, bytes[..cut]);
            var import = FlowlineProcess.RunFlowline(["import", "--pcap", cutPath, "--data-dir", Path.Combine(_dir.FullName, $"cut-{cut}")]);
            Assert.True(import.ExitCode == 0, import.Stderr);
            Assert.Contains($"{cutPath} ends inside a packet (the capture was cut short)", import.Stderr);
        }
        var whole = FlowlineProcess.RunFlowline(["import", "--pcap", pcap, "--data-dir", Path.Combine(_dir.FullName, "whole")]);
        Assert.DoesNotContain("cut short", whole.Stderr);
        Assert.Contains("3000 flow records", whole.Stderr);
    }

    [Fact]
    public void Import_reads_countries_from_mmdb_files_as_from_the_csv_ranges_and_refuses_a_damaged_one()
    {
        var pcap = Path.Combine(_dir.FullName, "public.pcap");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "netflow9", "--count", "5000", "--public-servers", "--pcap", pcap, "-q"]).ExitCode);
        var inventory = Path.Combine(_dir.FullName, "inventory.yaml");
        File.WriteAllText(inventory, "accounts: [{id: acc-1, name: One}]\n");
        var geo = Path.Combine(FlowlineProcess.RepositoryRoot, ".deps", "geo", "node_modules", "@ip-location-db");
        string Countries(string format)
        {
            var data = Path.Combine(_dir.FullName, "geo-" + format);
            var import = FlowlineProcess.RunFlowline(["import", "--pcap", pcap, "--data-dir", data, "--inventory", inventory, "--geo-dir", geo, "--geo-format", format]);
            Assert.True(import.ExitCode == 0, import.Stderr);
            var q = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-A", "dst_country", "-o", "csv"]);
            Assert.True(q.ExitCode == 0, q.Stderr);
            return q.Stdout;
        }
        var csv = Countries("csv");
        Assert.True(csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length > 10, csv);
        Assert.Equal(csv, Countries("mmdb"));

        var damaged = Directory.CreateDirectory(Path.Combine(_dir.FullName, "damaged", "x-country-mmdb")).FullName;
        File.WriteAllBytes(Path.Combine(damaged, "x.mmdb"), new byte[100]);
        var refused = FlowlineProcess.RunFlowline(["import", "--pcap", pcap, "--data-dir", Path.Combine(_dir.FullName, "none"), "--inventory", inventory,
            "--geo-dir", Path.GetDirectoryName(damaged)!, "--geo-format", "mmdb"]);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("x.mmdb is not a readable MaxMind DB file", refused.Stderr);
    }

    [Theory]
    [InlineData("query")]
    [InlineData("query -o vpc")]
    [InlineData("query -s dst_port/bytes")]
    [InlineData("store stats")]
    public void Output_to_a_full_disk_is_one_line_not_a_crash(string command)
    {
        var data = Imported(2_000);
        var words = command.Split(' ');
        string[] args = [words[0], .. words.Skip(1).Take(words[0] == "store" ? 1 : 0), "--data-dir", data, .. words.Skip(words[0] == "store" ? 2 : 1)];
        var flowline = $"exec dotnet exec {FlowlineProcess.Dll} {string.Join(' ', args)}";
        // /dev/full refuses every write with ENOSPC, as a full file system does.
        var full = FlowlineProcess.Run(FlowlineProcess.StartInfo("sh", "-c", flowline + " > /dev/full"));
        Assert.Equal(1, full.ExitCode);
        Assert.Equal($"flowline {words[0]}: No space left on device", full.Stderr.Trim());
    }

    [Fact]
    public void Import_then_query_lists_aggregates_and_ranks()
    {
        var data = Imported(30_000);

        var stats = FlowlineProcess.RunFlowline(["store", "stats", "--data-dir", data]);
        Assert.Equal(0, stats.ExitCode);
        Assert.Matches(@"records\s+30000", stats.Stdout);

        var listing = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "proto", "udp", "and", "dst", "port", "53", "-o", "csv", "--fields", "src_addr,dst_port,ip_proto,bytes"]);
        Assert.Equal(0, listing.ExitCode);
        var lines = listing.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("src_addr,dst_port,ip_proto,bytes", lines[0]);
        Assert.True(lines.Length > 100);
        Assert.All(lines.Skip(1), l => Assert.Contains(",53,17,", l));

        var top = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-s", "srcip/bytes", "-n", "5", "-o", "ndjson"]);
        Assert.Equal(0, top.ExitCode);
        var rows = top.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(5, rows.Count);
        var bytes = rows.Select(r => r.GetProperty("bytes").GetUInt64()).ToList();
        Assert.Equal(bytes.OrderDescending(), bytes);
        Assert.All(rows, r => Assert.True(r.GetProperty("flows").GetInt64() > 0 && r.GetProperty("src_addr").GetString()!.Length > 0));

        // The grand total of a grouping equals the total of the listing of everything.
        var all = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-A", "proto", "-o", "json"]);
        var groups = JsonDocument.Parse(all.Stdout).RootElement.EnumerateArray().ToList();
        Assert.Equal(30_000, groups.Sum(g => g.GetProperty("flows").GetInt64()));

        var buckets = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-A", "dstport", "--bucket", "1s", "-n", "2", "-o", "csv"]);
        Assert.Equal(0, buckets.ExitCode);
        Assert.StartsWith("bucket,dst_port,bytes,packets,flows", buckets.Stdout);
    }

    [Fact]
    public void Imported_partitions_are_compacted_with_rollups_that_answer_top_n_alike()
    {
        var pcap = Path.Combine(_dir.FullName, "g.pcap");
        var raw = Path.Combine(_dir.FullName, "raw");
        var compacted = Path.Combine(_dir.FullName, "compacted");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", "40000", "--pcap", pcap, "-q"]).ExitCode);
        Assert.Equal(0, FlowlineProcess.RunFlowline(["import", "--pcap", pcap, "--data-dir", raw, "--no-compact"]).ExitCode);
        var import = FlowlineProcess.RunFlowline(["import", "--pcap", pcap, "--data-dir", compacted]);
        Assert.Contains("compacted 1 partition(s)", import.Stderr);

        string[] top = ["query", "-s", "dstport/flows", "-n", "5", "proto", "tcp", "-o", "csv", "--stats"];
        var fromFlows = FlowlineProcess.RunFlowline([.. top, "--data-dir", raw]);
        var fromRollups = FlowlineProcess.RunFlowline([.. top, "--data-dir", compacted]);
        Assert.Equal(fromFlows.Stdout, fromRollups.Stdout);
        Assert.Contains("0 rollup tables", fromFlows.Stderr);
        Assert.Matches(@"0 read \(0 rows\); [1-9]\d* rollup tables", fromRollups.Stderr);

        // Compacting the raw store gives the same layout; a second run has nothing to do.
        var compact = FlowlineProcess.RunFlowline(["store", "compact", "--data-dir", raw]);
        Assert.Contains("compact: 1 partition(s)", compact.Stdout);
        Assert.Contains("compact: 0 partition(s)", FlowlineProcess.RunFlowline(["store", "compact", "--data-dir", raw]).Stdout);
        var columns = FlowlineProcess.RunFlowline(["store", "stats", "--data-dir", raw, "--columns"]);
        Assert.Matches(@"segments\s+1\n", columns.Stdout);
        Assert.Contains("bytes per record by column:", columns.Stdout);
        Assert.Matches(@"\n  src_addr\s+\d+\.\d{3}\n", columns.Stdout);
    }

    /// <summary>serve keeps its sessions in DATA_DIR/sessions, sharing the flows' symbols: `store compact` and `store expire` see to them too.</summary>
    [Fact]
    public void Compact_and_expire_take_the_sessions_store_too()
    {
        var data = Path.Combine(_dir.FullName, "data");
        using (var flows = new Flowline.Storage.Embedded.EmbeddedStore(data))
        using (var sessions = new Flowline.Storage.Embedded.EmbeddedStore(Path.Combine(data, "sessions"), new Flowline.Storage.Embedded.EmbeddedStoreOptions { Symbols = flows.Symbols }))
        {
            // Two commits of session rows in one partition: two segments to merge.
            for (var commit = 0; commit < 2; commit++)
            {
                var rows = new Flowline.Records.FlowBatch(100);
                for (var i = 0; i < 100; i++)
                {
                    rows.Add(new Flowline.Records.FlowRecord
                    {
                        Start = 1_700_000_000_000_000 + i, End = 1_700_000_000_000_000 + i, SrcAddr = Flowline.Records.FlowAddress.FromV4(0x0A000000u + (uint)(commit * 100 + i)),
                        DstAddr = Flowline.Records.FlowAddress.FromV4(0x0A010001), IpProto = 6, DstPort = 443, Bytes = 1000, Packets = 2,
                    });
                }
                sessions.Append(rows);
                sessions.Flush();
            }
            Assert.Equal(2, sessions.Stats().Segments);
        }
        var compact = FlowlineProcess.RunFlowline(["store", "compact", "--data-dir", data]);
        Assert.True(compact.ExitCode == 0, compact.Stderr);
        Assert.Contains("compact: 0 partition(s)", compact.Stdout);
        Assert.Contains("compact: sessions: 1 partition(s)", compact.Stdout);
        using (var flows = new Flowline.Storage.Embedded.EmbeddedStore(data))
        using (var sessions = new Flowline.Storage.Embedded.EmbeddedStore(Path.Combine(data, "sessions"), new Flowline.Storage.Embedded.EmbeddedStoreOptions { Symbols = flows.Symbols }))
        {
            Assert.Equal((1, 200L), (sessions.Stats().Segments, sessions.Stats().Rows));
        }
        var expire = FlowlineProcess.RunFlowline(["store", "expire", "--data-dir", data, "--retention", "1d"]);
        Assert.True(expire.ExitCode == 0, expire.Stderr);
        Assert.Contains("expire: sessions: dropped 1 partition(s)", expire.Stdout);
    }

    [Fact]
    public void Sessions_of_a_real_softflowd_capture_hold_both_directions_and_every_byte()
    {
        // softflowd marks each record ingress or egress (into or out of the host), each packet once: the
        // default observation counts both, where leaving out egress would lose every reply.
        var data = Path.Combine(_dir.FullName, "softflowd");
        var import = FlowlineProcess.RunFlowline(["import", "--pcap", Path.Combine(Flowline.Wire.Tests.TestCorpus.CapturesDirectory, "softflowd_ipfix_A.pcap"), "--data-dir", data]);
        Assert.True(import.ExitCode == 0, import.Stderr);
        var flows = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-s", "proto/bytes", "-o", "csv", "proto tcp"]);
        Assert.True(flows.ExitCode == 0, flows.Stderr);
        var flowBytes = long.Parse(flows.Stdout.Split('\n')[1].Split(',')[1], System.Globalization.CultureInfo.InvariantCulture);
        var r = FlowlineProcess.RunFlowline(["sessions", "--data-dir", data, "-o", "json", "proto tcp"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var sessions = System.Text.Json.JsonDocument.Parse(r.Stdout).RootElement.EnumerateArray().ToList();
        Assert.NotEmpty(sessions);
        Assert.All(sessions, x => Assert.True(x.GetProperty("reverse").GetProperty("bytes").GetInt64() > 0, x.ToString()));
        Assert.Equal(flowBytes, sessions.Sum(x => x.GetProperty("forward").GetProperty("bytes").GetInt64() + x.GetProperty("reverse").GetProperty("bytes").GetInt64()));
    }

    [Fact]
    public void Bad_queries_and_bad_stores_get_clear_errors()
    {
        var data = Imported(2000);
        var syntax = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "proto", "tcpp"]);
        Assert.Equal(2, syntax.ExitCode);
        Assert.Contains("at column 7: unknown protocol 'tcpp'", syntax.Stderr);
        var missing = FlowlineProcess.RunFlowline(["query", "--data-dir", Path.Combine(_dir.FullName, "nope")]);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("no such directory", missing.Stderr);
        var badField = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-A", "srcipp"]);
        Assert.Equal(2, badField.ExitCode);
        Assert.Contains("unknown field 'srcipp'", badField.Stderr);

        var segment = Directory.GetFiles(data, "seg-*.seg", SearchOption.AllDirectories).First();
        // Cut short, as a disk that lost its last writes leaves a file.
        using (var f = new FileStream(segment, FileMode.Open)) f.SetLength(f.Length - 100);
        // A query reads without moving anything, and says that its answer leaves the segment out.
        var partial = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-o", "csv"]);
        Assert.Equal(1, partial.ExitCode);
        Assert.Contains("the answer leaves out 1 segment(s) that could not be read:", partial.Stderr);
        Assert.Contains(segment, partial.Stderr);
        Assert.True(File.Exists(segment));
        var stats = FlowlineProcess.RunFlowline(["store", "stats", "--data-dir", data]);
        Assert.Equal(1, stats.ExitCode);
        Assert.Contains("the figures leave out 1 segment(s) that could not be read: " + segment, stats.Stderr);
        var verify = FlowlineProcess.RunFlowline(["store", "verify", "--data-dir", data]);
        Assert.Equal(1, verify.ExitCode);
        Assert.Contains(segment, verify.Stdout);
        Assert.Contains("quarantined", verify.Stdout);
        Assert.Equal(0, FlowlineProcess.RunFlowline(["store", "verify", "--data-dir", data]).ExitCode);

        File.WriteAllText(Path.Combine(data, "partition-width"), "garbage\n");
        var width = FlowlineProcess.RunFlowline(["query", "--data-dir", data]);
        Assert.Equal(2, width.ExitCode);
        Assert.StartsWith("flowline query: ", width.Stderr);
        Assert.Contains("'garbage' is not a partition width in seconds", width.Stderr);
        Assert.Contains("give --before or --retention, not both", FlowlineProcess.RunFlowline(["store", "expire", "--data-dir", data, "--before", "2026-01-01T00:00:00Z", "--retention", "1d"]).Stderr);
        Assert.DoesNotContain("Unhandled exception", width.Stderr);
        // A number of seconds no store has (7 minutes do not divide a day): refused by every reader and writer, not a crash.
        File.WriteAllText(Path.Combine(data, "partition-width"), "420\n");
        foreach (var (command, exit) in new[] { (new[] { "query" }, 2), (["store", "stats"], 1), (["store", "verify"], 1) })
        {
            var r = FlowlineProcess.RunFlowline([.. command, "--data-dir", data]);
            Assert.Equal(exit, r.ExitCode);
            Assert.Contains("420 s is not a partition width this store could have", r.Stderr);
            Assert.DoesNotContain("Unhandled exception", r.Stderr);
        }
    }

    [Fact]
    public void A_store_this_user_may_not_write_is_refused_in_a_line_by_every_writer()
    {
        var data = Imported(1000);
        var pcap = Path.Combine(Path.GetDirectoryName(data)!, "more.pcap");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", "100", "--pcap", pcap, "-q"]).ExitCode);
        // The test's directory (0700 as made) opened to others, as /var/lib/flowline would be listable.
        Assert.Equal(0, FlowlineProcess.Run(FlowlineProcess.StartInfo("chmod", "0755", Path.GetDirectoryName(data)!)).ExitCode);
        Assert.Equal(0, FlowlineProcess.Run(FlowlineProcess.StartInfo("chmod", "0644", pcap)).ExitCode);
        // As nobody: the store is root's (and, as every store, 0700), as a service's store is its user's.
        foreach (var command in new[] { new[] { "store", "verify", "--data-dir", data }, ["store", "compact", "--data-dir", data], ["store", "stats", "--data-dir", data], ["import", "--pcap", pcap, "--data-dir", data] })
        {
            var r = FlowlineProcess.Run(FlowlineProcess.StartInfo("runuser", ["-u", "nobody", "--", "dotnet", "exec", FlowlineProcess.Dll, .. command]));
            Assert.Equal(2, r.ExitCode);
            Assert.Contains($"Access to the path '{data}", r.Stderr, StringComparison.Ordinal);
            Assert.Contains("is denied", r.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", r.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_directory_that_holds_no_store_is_refused_and_left_as_it_was()
    {
        var empty = Directory.CreateTempSubdirectory("flowline-not-a-store-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(empty, "notes.txt"), "mine\n");
            foreach (var verb in new[] { "verify", "compact", "expire", "stats" })
            {
                var r = FlowlineProcess.RunFlowline(["store", verb, "--data-dir", empty]);
                Assert.Equal(2, r.ExitCode);
                Assert.Contains("holds no store", r.Stderr);
            }
            // Read, it would answer "no flows" (a mistyped path, or nfcapd's directory).
            foreach (string[] read in new[] { new[] { "query", "-o", "line" }, ["query", "-s", "ip"], ["sessions"] })
            {
                var r = FlowlineProcess.RunFlowline([.. read, "--data-dir", empty]);
                Assert.Equal(2, r.ExitCode);
                Assert.Equal($"flowline {read[0]}: --data-dir {empty} holds no store (no partition-width file, no day directories): give the directory serve or import writes\n", r.Stderr);
                Assert.Empty(r.Stdout);
            }
            Assert.Equal(["notes.txt"], Directory.EnumerateFileSystemEntries(empty).Select(Path.GetFileName));
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }

    [Fact]
    public void A_store_serve_writes_refuses_a_second_writer_and_is_read_beside_it()
    {
        var data = Imported(2000);
        using (var serve = new ServeProcess(data))
        {
            var pcap = Path.Combine(_dir.FullName, "g.pcap");
            foreach (var writer in new[] { new[] { "store", "compact", "--data-dir", data }, ["store", "expire", "--data-dir", data, "--retention", "1d"], ["store", "verify", "--data-dir", data], ["import", "--pcap", pcap, "--data-dir", data] })
            {
                // 3, not verify's 1 for damage: the store is in use, nothing is wrong with it.
                var refused = FlowlineProcess.RunFlowline(writer);
                Assert.Equal(3, refused.ExitCode);
                Assert.Contains("is being written by another process", refused.Stderr);
            }
            var second = Process.Start(FlowlineProcess.Flowline(ServeProcess.Arguments(data, 0)))!;
            Assert.True(second.WaitForExit(60_000), "a second serve on the same store did not stop");
            Assert.Equal(1, second.ExitCode);
            Assert.Contains("is being written by another process", second.StandardError.ReadToEnd());
            var stats = FlowlineProcess.RunFlowline(["store", "stats", "--data-dir", data]);
            Assert.True(stats.ExitCode == 0, stats.Stderr);
            Assert.Contains("records     2000", stats.Stdout);
            Assert.Equal(0, FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-o", "csv"]).ExitCode);
        }
        Assert.Equal(0, FlowlineProcess.RunFlowline(["store", "compact", "--data-dir", data]).ExitCode);
    }
}
