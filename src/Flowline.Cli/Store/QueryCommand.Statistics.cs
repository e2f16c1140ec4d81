using Flowline.Query;
using Flowline.Records;

namespace Flowline.Cli.Store;

internal static partial class QueryCommand
{
    /// <summary>nfdump's rate columns, in its order.</summary>
    private static readonly Metric[] RateMetrics = [Metric.Pps, Metric.Bps, Metric.Bpp];

    /// <summary>
    /// Writes nfdump's <c>-s</c> statistics one after the other. One statistic is one table, as any aggregation.
    /// Several: tables under a title, or CSV blocks with their own headers, separated by a blank line; one
    /// JSON object with an array per statistic (keyed <c>ip/bytes</c>); JSON lines that name their statistic.
    /// </summary>
    private static void WriteStatistics(StreamWriter writer, Stream output, string format, IReadOnlyList<NfdumpStatistic> statistics,
        IFlowStore store, long from, long to, FilterNode filter, int limit, long bucket, ISymbolNames names, bool quiet)
    {
        var several = statistics.Count > 1;
        if (several && format == "json") writer.Write('{');
        for (var i = 0; i < statistics.Count; i++)
        {
            var statistic = statistics[i];
            var rows = statistic.Run(store, from, to, filter, limit, bucketMicros: bucket);
            var keys = statistic.Keys;
            var header = (bucket > 0 ? new[] { "bucket" } : []).Concat(statistic.Columns).Concat(["bytes", "packets", "flows"])
                .Concat(statistic.Rates ? ["first", "last", "pps", "bps", "bpp"] : []).ToArray();
            if (i > 0 && format is "table" or "csv") writer.WriteLine();
            if (several && format == "table" && !quiet) writer.WriteLine($"Top {(limit > 0 ? limit.ToString(System.Globalization.CultureInfo.InvariantCulture) : "all")} {statistic.Name}{(statistic.ByProtocol ? " by protocol" : "")} ordered by {statistic.Order.ToString().ToLowerInvariant()}:");
            if (several && format == "json") writer.Write($"{(i > 0 ? "," : "")}{System.Text.Json.JsonSerializer.Serialize(statistic.Text)}:");
            if (format == "csv")
            {
                writer.Flush();
                WriteCsv(output, header, rows, new FlowQuery { GroupBy = keys, BucketMicros = bucket }, names, statistic.Rates, headerRow: !quiet);
                continue;
            }
            var table = rows.Select(r => (bucket > 0 ? new[] { CliArgs.Time(r.BucketStart) } : [])
                .Concat(r.Keys.Select((k, c) => keys[c].Text(k, names)))
                .Concat([r.Bytes.ToString(), r.Packets.ToString(), r.Flows.ToString()])
                .Concat(statistic.Rates ? [CliArgs.Time(r.First), CliArgs.Time(r.Last), .. RateMetrics.Select(m => NfdumpStatistic.Printed(m, r.Bytes, r.Packets, r.First, r.Last).ToString())] : [])
                .ToArray());
            // Keys are numbers in JSON where the field is one, whatever the column is called (-s port, ip_proto);
            // first and last are times (strings), the sums and rates numbers.
            var numericKeys = (bucket > 0 ? new[] { false } : []).Concat(keys.Select(k => k.IsNumeric)).Concat([true, true, true])
                .Concat(statistic.Rates ? [false, false, true, true, true] : []).ToArray();
            var sumsFrom = header.Length - (statistic.Rates ? 8 : 3);
            if (several && format == "ndjson")
            {
                header = ["statistic", .. header];
                numericKeys = [false, .. numericKeys];
                table = table.Select(r => (string[])[statistic.Text, .. r]);
                sumsFrom++;
            }
            Write(writer, format, header, table, numericFrom: sumsFrom, numericKeys, headerRow: !quiet);
        }
        if (several && format == "json") writer.WriteLine('}');
    }
}
