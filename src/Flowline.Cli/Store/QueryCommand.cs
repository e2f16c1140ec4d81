using System.Text.Json;
using Flowline.Query;
using Flowline.Storage.Embedded;
using Flowline.Records;

namespace Flowline.Cli.Store;

/// <summary>`flowline query`: nfdump-style filters, listing, aggregation and top-N over the embedded store.</summary>
internal static partial class QueryCommand
{
    public static int Run(string[] args, TextWriter stderr)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            HelpText.Print(Console.Out, Help);
            return 0;
        }
        string? dataDir = null;
        string? clickhouse = null;
        long from = long.MinValue, to = long.MaxValue, limit = -1, bucket = 0;
        var filterWords = new List<string>();
        List<GroupKey>? groupBy = null;
        var order = Metric.Bytes;
        var format = "table";
        string[] fields = ["start", "end", "src_addr", "dst_addr", "src_port", "dst_port", "ip_proto", "bytes", "packets"];
        var stats = false;
        var customFields = false;
        var vpcVersion = 2;
        bool nfAggregate = false, nfBidir = false, nfGuess = false, nfPlain = false, nfQuiet = false, nfLong6 = false;
        (string Name, bool Ascending)? nfOrder = null;
        NfdumpFormat? nfFormat = null;
        var statistics = new List<NfdumpStatistic>();
        var orderGiven = false;
        long nfCount = 0;
        var aggregationQuiet = false;
        NfdumpTimeWindow.Given? window = null;
        string? filterFile = null;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                var a = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
                switch (a)
                {
                    case "--data-dir": dataDir = Next(); break;
                    case "--store": clickhouse = Next(); break;
                    case "--stats": stats = true; break;
                    case "--from": from = CliArgs.ParseTime(a, Next()); break;
                    case "--to": to = CliArgs.ParseTime(a, Next()); break;
                    case "-A": groupBy = ParseKeys(Next()); break;
                    case "-s":
                        foreach (var parsed in NfdumpStatistic.Parse(Next()))
                        {
                            if (statistics.Any(s => s.Text == parsed.Text)) throw new ArgumentException($"-s {parsed.Text} is given twice");
                            statistics.Add(parsed);
                        }
                        break;
                    case "-n":
                        if (!long.TryParse(Next(), out limit) || limit < 0) throw new ArgumentException("-n: expected a number of rows (0 for all)");
                        break;
                    case "--bucket": bucket = CliArgs.ParseDuration(a, Next()); break;
                    case "--order":
                        {
                            var v = Next();
                            if (!Enum.TryParse(v, ignoreCase: true, out order) || v.Any(char.IsDigit) || order > Metric.Flows) throw new ArgumentException($"--order {v}: expected bytes, packets or flows");
                            orderGiven = true;
                            break;
                        }
                    case "--fields":
                        fields = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                        customFields = true;
                        break;
                    case "-o":
                        format = Next();
                        if (format is not ("table" or "csv" or "json" or "ndjson" or "jcs" or "vpc") && !NfdumpFormat.IsNfdumpFormat(format))
                            throw new ArgumentException($"-o {format}: expected table, csv, json, ndjson, jcs, vpc, or nfdump's line, long, extended, biline, bilong, gline, glong (each also with 6) or fmt:...");
                        break;
                    case "-a": nfAggregate = true; break;
                    case "-b": nfBidir = true; break;
                    case "-B": nfBidir = nfGuess = true; break;
                    case "-N": nfPlain = true; break;
                    case "-6": nfLong6 = true; break;
                    case "-q": nfQuiet = true; break;
                    case "-O": nfOrder = NfdumpListing.ParseOrder(Next()); break;
                    case "-c":
                        if (!long.TryParse(Next(), out nfCount) || nfCount <= 0) throw new ArgumentException("-c: expected a positive number");
                        break;
                    case "-f": filterFile = filterFile is null ? Next() : throw new ArgumentException("-f is given twice"); break;
                    case "-t": window = window is null ? NfdumpTimeWindow.Parse(Next()) : throw new ArgumentException("-t is given twice"); break;
                    case "-r" or "-R" or "-M": throw new ArgumentException($"{a}: flows are read from --data-dir DIR (or --store URL), not from nfcapd files");
                    default:
                        if (a.StartsWith("--", StringComparison.Ordinal) || (a.Length >= 2 && a[0] == '-' && char.IsAsciiLetter(a[1])))
                            throw new ArgumentException($"unknown option {a} (see `flowline query --help`)");
                        filterWords.Add(a);
                        break;
                }
            }
            if (filterFile is not null) filterWords = [CliArgs.ReadFilterFile(filterFile, filterWords.Count > 0)];
            if (format == "vpc")
            {
                if (!customFields) fields = FlowLogFormats.VpcDefault;
                try { vpcVersion = FlowLogFormats.VpcVersion(fields); }
                catch (ArgumentException e) { throw new ArgumentException($"--fields: {e.Message}"); }
            }
            else
            {
                foreach (var f in fields)
                {
                    if (!FlowFields.TryParse(f, out _)) throw new ArgumentException($"--fields: unknown field '{f}' (see `flowline fields`)");
                }
            }
            if ((groupBy is not null || statistics.Count > 0 || bucket > 0) && !NfdumpFormat.IsNfdumpFormat(format) && !nfAggregate && !nfBidir)
            {
                // An aggregation, as nfdump's -s and -A: its -N (numbers are plain here anyway) and -q (no header)
                // apply; -O orders an -A aggregation; -c, which stops a listing after N flows, does not apply.
                if (nfCount > 0) throw new ArgumentException("-c stops a listing after N flows; -A, -s and --bucket sum every matching flow (narrow them with the filter or --from/--to)");
                if (nfOrder is { } o)
                {
                    if (statistics.Count > 0) throw new ArgumentException($"-O orders a listing or -A; give a statistic's order after it, e.g. -s {statistics[0].Name}/bytes");
                    order = o.Name.ToLowerInvariant() switch
                    {
                        "flows" => Metric.Flows,
                        "packets" or "ipkg" => Metric.Packets,
                        "bytes" or "ibyte" => Metric.Bytes,
                        "pps" or "ipps" => Metric.Pps,
                        "bps" or "ibps" => Metric.Bps,
                        "bpp" or "ibpp" => Metric.Bpp,
                        _ => throw new ArgumentException($"-O {o.Name}: an aggregation is ordered by flows, packets, bytes, pps, bps or bpp"),
                    };
                    if (o.Ascending) throw new ArgumentException($"-O {o.Name}:a: aggregates are ordered largest first");
                    if (orderGiven) throw new ArgumentException("give one of -O and --order");
                    orderGiven = true;
                    nfOrder = null;
                }
                aggregationQuiet = nfQuiet;
                nfPlain = nfQuiet = nfLong6 = false; // -6: the aggregates print whole IPv6 addresses anyway
            }
            var nfdumpMode = NfdumpFormat.IsNfdumpFormat(format) || nfAggregate || nfBidir || nfPlain || nfQuiet || nfLong6 || nfOrder is not null || nfCount > 0;
            if (nfdumpMode)
            {
                if (format is "table" or "csv" or "json" or "ndjson" or "jcs" or "vpc")
                {
                    if (format != "table") throw new ArgumentException($"-o {format} does not combine with nfdump's -a, -b, -B, -O, -c, -N, -6 or -q");
                    format = nfBidir ? "biline" : "line";
                }
                if (groupBy is not null || statistics.Count > 0 || bucket > 0) throw new ArgumentException("nfdump's formats list flows: they do not combine with -A, -s or --bucket");
                if (customFields) throw new ArgumentException("--fields does not combine with nfdump's formats: give the columns with -o fmt:...");
                try { nfFormat = NfdumpFormat.Parse(format, nfPlain, nfLong6); }
                catch (FormatException e) { throw new ArgumentException($"-o {format}: {e.Message}"); }
            }
            if (statistics.Count > 0 && groupBy is not null) throw new ArgumentException("-s and -A are two kinds of aggregation: give one");
            if (statistics.Count > 0 && orderGiven) throw new ArgumentException($"--order does not apply to -s: give the order in the statistic, e.g. -s {statistics[0].Name}/bytes");
            if (statistics.Find(s => s.Other is not null) is { } either && bucket > 0) throw new ArgumentException($"-s {either.Name} counts either side of a flow; it does not combine with --bucket");
            if (format is "jcs" or "vpc" && (groupBy is not null || statistics.Count > 0 || bucket > 0)) throw new ArgumentException($"-o {format} lists flows; it does not combine with -A, -s or --bucket");
            CliArgs.CheckRange(dataDir, from, to, clickhouse);
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"flowline query: {e.Message}");
            return 2;
        }

        if (CliArgs.OpenFiltered("query", dataDir, filterWords, stderr, clickhouse) is not { } opened) return 2;
        var (store, filter) = opened;
        using var storeOpened = store;
        if (window?.Resolve(store, from, to) is { } w)
        {
            filter = filter is FilterNode.Any ? w : new FilterNode.And(filter, w);
            // A flow in the window starts in it: the scan reads those partitions only.
            from = Math.Max(from, w.FirstMs * 1000);
            if (w.LastMs < long.MaxValue / 1000) to = Math.Min(to, w.LastMs * 1000 + 1000);
        }
        var names = store.Symbols;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            var rc = Execute();
            return CliArgs.ReportDamaged("query", store, stderr) && rc == 0 ? 1 : rc;
        }
        finally
        {
            if (stats && store is EmbeddedStore embedded)
            {
                var s = embedded.ScanStats;
                stderr.WriteLine($"flowline query: {s.Blocks} blocks, {s.Blocks - s.PassedZoneMaps} skipped by zone maps, " +
                                 $"{s.PassedZoneMaps - s.Read} by address dictionaries, {s.Read} read ({s.Rows} rows); " +
                                 $"{s.RollupTables} rollup tables ({s.RollupRows} rows); {watch.Elapsed.TotalMilliseconds:0} ms");
            }
            else if (stats && store is Flowline.Storage.ClickHouse.ClickHouseStore clickHouse)
            {
                stderr.WriteLine($"flowline query: {clickHouse.RollupQueries} aggregation(s) from rollup tables; {watch.Elapsed.TotalMilliseconds:0} ms");
            }
        }

        int Execute()
        {
            var output = Console.OpenStandardOutput();
            if (nfFormat is not null)
            {
                var listing = new NfdumpListing
                {
                    Format = nfFormat, Plain = nfPlain, Quiet = nfQuiet, Order = nfOrder,
                    Aggregate = nfAggregate, Bidirectional = nfBidir, GuessDirection = nfGuess, Top = Math.Max(0, limit),
                };
                var needed = FilterColumns.Of(filter);
                needed.UnionWith(nfFormat.Columns);
                needed.UnionWith(NfdumpListing.Columns);
                // As in nfdump, -c stops reading; -n cuts what -O or -a/-b/-B print (a plain listing ignores it).
                var rows = QueryRunner.Rows(store.Scan(from, to, filter, needed), filter, nfCount > 0 ? nfCount : 0);
                try
                {
                    listing.Write(output, rows, () => store switch
                    {
                        EmbeddedStore e => e.ScanStats.Rows,
                        Flowline.Storage.ClickHouse.ClickHouseStore c => c.CountRows(from, to),
                        _ => store.Stats().Rows,
                    });
                }
                catch (InvalidOperationException e)
                {
                    stderr.WriteLine($"flowline query: {e.Message}");
                    return 1;
                }
                return 0;
            }
            using var writer = new StreamWriter(output, new System.Text.UTF8Encoding(false), 1 << 16);
            if (statistics.Count > 0)
            {
                WriteStatistics(writer, output, format, statistics, store, from, to, filter, (int)Math.Min(int.MaxValue, limit >= 0 ? limit : 10), bucket, names, aggregationQuiet);
            }
            else if (groupBy is not null || bucket > 0)
            {
                var query = new FlowQuery
                {
                    Filter = filter,
                    GroupBy = groupBy ?? [],
                    BucketMicros = bucket,
                    OrderBy = order,
                    Limit = (int)Math.Min(int.MaxValue, limit >= 0 ? limit : 0),
                };
                IReadOnlyList<AggregateRow> rows = store.Aggregate(from, to, query);
                var keyNames = query.GroupBy.Select(k => k.Name);
                var header = (bucket > 0 ? new[] { "bucket" } : []).Concat(keyNames).Concat(["bytes", "packets", "flows"]).ToArray();
                if (format == "csv")
                {
                    writer.Flush();
                    WriteCsv(output, header, rows, query, names, headerRow: !aggregationQuiet);
                    return 0;
                }
                var table = rows.Select(r => (bucket > 0 ? new[] { CliArgs.Time(r.BucketStart) } : [])
                    .Concat(r.Keys.Select((k, i) => query.GroupBy[i].Text(k, names)))
                    .Concat([r.Bytes.ToString(), r.Packets.ToString(), r.Flows.ToString()]).ToArray());
                // Keys are numbers in JSON where the field is one, whatever the column is called (-s port, ip_proto).
                var numericKeys = (bucket > 0 ? new[] { false } : []).Concat(query.GroupBy.Select(k => k.IsNumeric)).ToArray();
                Write(writer, format, header, table, numericFrom: header.Length - 3, numericKeys, headerRow: !aggregationQuiet);
            }
            else if (format is "jcs" or "vpc")
            {
                var needed = FilterColumns.Of(filter);
                needed.UnionWith(format == "jcs" ? FlowLogFormats.JcsColumns : FlowLogFormats.VpcColumns);
                var records = QueryRunner.Rows(store.Scan(from, to, filter, needed), filter, limit > 0 ? limit : 0);
                writer.Flush();
                if (format == "vpc")
                {
                    var lines = new Utf8TextWriter(output);
                    lines.Text(string.Join(' ', fields));
                    lines.Byte((byte)'\n');
                    foreach (var r in records)
                    {
                        FlowLogFormats.WriteVpcLine(lines, r, fields, vpcVersion, names);
                        lines.MaybeFlush();
                    }
                    lines.Flush();
                    return 0;
                }
                using var json = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true });
                json.WriteStartObject();
                json.WriteStartObject("DescribeFlowLogResponse");
                json.WriteString("requestId", "req-" + Guid.NewGuid());
                json.WriteStartObject("value");
                json.WriteStartArray("item");
                foreach (var r in records)
                {
                    FlowLogFormats.WriteJcsItem(json, r, names);
                    if (json.BytesPending > 1 << 16) json.Flush();
                }
                json.WriteEndArray();
                json.WriteEndObject();
                json.WriteEndObject();
                json.WriteEndObject();
                json.Flush();
                output.WriteByte((byte)'\n');
                return 0;
            }
            else
            {
                var columns = new FlowField[fields.Length];
                for (var c = 0; c < fields.Length; c++) FlowFields.TryParse(fields[c], out columns[c]);
                var needed = FilterColumns.Of(filter);
                needed.UnionWith(columns);
                FlowFields.AddReads(needed);
                var records = QueryRunner.Rows(store.Scan(from, to, filter, needed), filter, limit > 0 ? limit : 0);
                if (format == "csv")
                {
                    // The common bulk path: rows go straight to UTF-8, without a string per cell.
                    writer.Flush();
                    var csv = new Utf8TextWriter(output);
                    csv.Text(string.Join(',', fields));
                    csv.Byte((byte)'\n');
                    foreach (var r in records)
                    {
                        for (var c = 0; c < columns.Length; c++)
                        {
                            if (c > 0) csv.Byte((byte)',');
                            FlowFields.Write(csv, columns[c], r, names);
                        }
                        csv.Byte((byte)'\n');
                        csv.MaybeFlush();
                    }
                    csv.Flush();
                    return 0;
                }
                var table = records.Select(r => columns.Select(c => FlowFields.Format(c, r, names)).ToArray());
                Write(writer, format, fields, table, numericFrom: int.MaxValue);
            }
            return 0;
        }
    }

    /// <summary>Aggregates as CSV straight to UTF-8: millions of groups without a string per cell.</summary>
    private static void WriteCsv(Stream output, string[] header, IReadOnlyList<AggregateRow> rows, FlowQuery query, ISymbolNames names, bool rates = false, bool headerRow = true)
    {
        var csv = new Utf8TextWriter(output);
        if (headerRow)
        {
            csv.Text(string.Join(',', header));
            csv.Byte((byte)'\n');
        }
        var bucketed = query.BucketMicros > 0;
        var result = rows as Aggregator.AggregateResult;
        for (var r = 0; r < rows.Count; r++)
        {
            // The aggregator's own result is read in place (millions of groups, no row objects); other lists row by row.
            var row = result is null ? rows[r] : null;
            if (bucketed)
            {
                csv.Time(row?.BucketStart ?? result!.BucketStart(r));
                csv.Byte((byte)',');
            }
            for (var k = 0; k < query.GroupBy.Count; k++)
            {
                var key = row?.Keys[k] ?? result!.Key(r, k);
                // Addresses straight to UTF-8, but for the next hop: Text reads none as 0.0.0.0.
                if (query.GroupBy[k].IsAddress && query.GroupBy[k].Field != FlowField.NextHop) csv.Address(new FlowAddress(key.Hi, key.Lo));
                else if (FlowFields.IsText(query.GroupBy[k].Field)) csv.Text(query.GroupBy[k].Text(key, names));
                else csv.Number(key.Lo);
                csv.Byte((byte)',');
            }
            csv.Number(row?.Bytes ?? result!.Bytes(r));
            csv.Byte((byte)',');
            csv.Number(row?.Packets ?? result!.Packets(r));
            csv.Byte((byte)',');
            var flows = row?.Flows ?? result!.Flows(r);
            csv.Number(flows);
            if (rates)
            {
                // first, last, pps, bps, bpp: nfdump's columns of a statistic, its figures as it prints them.
                long first = row?.First ?? result!.First(r), last = row?.Last ?? result!.Last(r);
                ulong bytes = row?.Bytes ?? result!.Bytes(r), packets = row?.Packets ?? result!.Packets(r);
                csv.Byte((byte)',');
                csv.Time(first);
                csv.Byte((byte)',');
                csv.Time(last);
                foreach (var m in RateMetrics)
                {
                    csv.Byte((byte)',');
                    csv.Number(NfdumpStatistic.Printed(m, bytes, packets, first, last));
                }
            }
            csv.Byte((byte)'\n');
            csv.MaybeFlush();
        }
        csv.Flush();
    }

    private static List<GroupKey> ParseKeys(string text)
    {
        var keys = new List<GroupKey>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!GroupKey.TryParse(part, out var key, out var error)) throw new ArgumentException(error);
            if (keys.Contains(key)) throw new ArgumentException($"-A: '{part}' groups by {key.Name} again");
            keys.Add(key);
        }
        if (keys.Count == 0) throw new ArgumentException("no fields to aggregate by");
        return keys;
    }

    /// <summary>Writes rows as an aligned table, CSV, a JSON array or JSON lines (numbers stay numbers in JSON).</summary>
    private static void Write(TextWriter w, string format, string[] header, IEnumerable<string[]> rows, int numericFrom, bool[]? numericKeys = null, bool headerRow = true)
    {
        switch (format)
        {
            case "csv":
                if (headerRow) w.WriteLine(string.Join(',', header));
                foreach (var r in rows) w.WriteLine(string.Join(',', r));
                break;
            case "json" or "ndjson":
                {
                    var array = format == "json";
                    using var ms = new MemoryStream();
                    if (array) w.Write('[');
                    var first = true;
                    foreach (var r in rows)
                    {
                        ms.SetLength(0);
                        using (var j = new Utf8JsonWriter(ms))
                        {
                            j.WriteStartObject();
                            for (var i = 0; i < header.Length; i++)
                            {
                                // Columns numericKeys covers are as it says; the rest numbers from numericFrom on, or by their field.
                                var numeric = numericKeys is not null && i < numericKeys.Length ? numericKeys[i] && r[i].Length > 0 : i >= numericFrom || IsNumericField(header[i], r[i]);
                                if (numeric) j.WriteNumber(header[i], decimal.Parse(r[i], System.Globalization.CultureInfo.InvariantCulture));
                                else j.WriteString(header[i], r[i]);
                            }
                            j.WriteEndObject();
                        }
                        if (array && !first) w.Write(',');
                        w.Write(System.Text.Encoding.UTF8.GetString(ms.GetBuffer(), 0, (int)ms.Length));
                        if (!array) w.WriteLine();
                        first = false;
                    }
                    if (array) w.WriteLine(']');
                    break;
                }
            default:
                {
                    var all = rows.ToList();
                    var widths = header.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
                    if (headerRow) w.WriteLine(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
                    foreach (var r in all)
                    {
                        w.WriteLine(string.Join("  ", r.Select((c, i) => i >= numericFrom ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))).TrimEnd());
                    }
                    break;
                }
        }
    }

    private static bool IsNumericField(string name, string value) =>
        FlowFields.TryParse(name, out var f) && !FlowFields.IsText(f) && value.Length > 0;
}
