using System.Buffers;
using System.Diagnostics;
using Flowline.Storage.Segments;
using Flowline.Wire.Generation;
using Flowline.Records;

namespace Flowline.Bench;

/// <summary>
/// `commit-profile [ROWS] [ROUNDS] [INVENTORY]`: where a group commit's time goes. Fills one batch with the
/// generator's flows (as `flowline gen` sends them), enriched with INVENTORY when one is given (as
/// `flowline serve --inventory` stores them), then times writing it as an LZ4 segment and, separately,
/// encoding each column and building the zone maps, block by block; and a sorted commit's two steps (the
/// sort, then gathering the rows in windows of GATHER_ROWS rows, 65,536 by default as serve does).
/// </summary>
public static class CommitProfile
{
    public static void Run(int rows, int rounds, string? inventory = null)
    {
        var traffic = new TrafficGenerator(seed: 1);
        var batch = new FlowBatch(rows);
        for (var i = 0; i < rows; i++)
        {
            var r = traffic.Next();
            r.Exporter = FlowAddress.FromV4(0x7F00_0001);
            batch.Add(in r);
        }
        if (inventory is not null)
        {
            var geoDir = Enrichment.GeoDatabase.Locate(null);
            var enricher = new Enrichment.Enricher(new Storage.SymbolTable(), geoDir is null ? null : Enrichment.GeoDatabase.Load(geoDir));
            enricher.Use(Enrichment.InventoryFile.Load(inventory));
            var enriched = new FlowBatch(rows * 2);
            enriched.AppendRange(batch, 0, rows);
            enricher.Enrich(enriched);
            batch = new FlowBatch(rows);
            batch.AppendRange(enriched, 0, rows);
        }
        SortedCommit(batch, rounds);
        var path = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"commit-profile-{Environment.ProcessId}.seg");
        var blockRows = SegmentFile.DefaultBlockRows;
        var perColumn = new Dictionary<FlowField, (double Ms, long Bytes, byte Codec)>();
        double whole = 0, zones = 0;
        for (var round = 0; round < rounds + 1; round++)
        {
            var sw = Stopwatch.StartNew();
            SegmentFile.Write(path, batch, blockRows, SegmentCodec.Lz4);
            var ms = sw.Elapsed.TotalMilliseconds;
            var output = new ArrayBufferWriter<byte>(1 << 20);
            double z = 0;
            foreach (var field in SegmentFile.Columns)
            {
                var size = FlowBatch.ValueSize(field);
                double t = 0;
                long bytes = 0;
                byte codec = 0;
                for (var start = 0; start < rows; start += blockRows)
                {
                    var n = Math.Min(blockRows, rows - start);
                    var raw = batch.ColumnValues(field, start + n)[(start * size)..];
                    var reference = ColumnCodec.ReferenceOf(field) is { } r ? batch.ColumnValues(r, start + n)[(start * size)..] : default;
                    output.ResetWrittenCount();
                    var c = Stopwatch.GetTimestamp();
                    codec = ColumnCodec.Encode(field, raw, size, output, ColumnCodec.ShuffleLz4, reference);
                    t += Stopwatch.GetElapsedTime(c).TotalMilliseconds;
                    bytes += output.WrittenCount;
                }
                if (round > 0) perColumn[field] = (perColumn.GetValueOrDefault(field).Ms + t / rounds, bytes, codec);
            }
            for (var start = 0; start < rows; start += blockRows)
            {
                var c = Stopwatch.GetTimestamp();
                ZoneMap.Of(batch, start, Math.Min(blockRows, rows - start));
                z += Stopwatch.GetElapsedTime(c).TotalMilliseconds;
            }
            if (round == 0) continue; // warm-up
            whole += ms / rounds;
            zones += z / rounds;
        }
        File.Delete(path);
        foreach (var field in new[] { FlowField.IpProto, FlowField.SrcPort, FlowField.Bytes })
        {
            var size = FlowBatch.ValueSize(field);
            var raw = batch.ColumnValues(field, blockRows);
            var output = new ArrayBufferWriter<byte>(1 << 20);
            var c = Stopwatch.GetTimestamp();
            for (var k = 0; k < 2000; k++)
            {
                output.ResetWrittenCount();
                BitPacking.Encode(raw, size, BitPacking.NoTransform, output);
            }
            Console.WriteLine($"BitPacking.Encode {field}: {Stopwatch.GetElapsedTime(c).TotalMilliseconds * 1e6 / 2000 / blockRows:F2} ns/row");
        }
        Console.WriteLine($"{rows} rows, blocks of {blockRows}: whole segment {whole:F2} ms ({whole * 1e6 / rows:F1} ns/row), zone maps {zones:F2} ms ({zones * 1e6 / rows:F1} ns/row)");
        Console.WriteLine($"{"column",-16} {"ns/row",8} {"B/row",8} codec");
        foreach (var (field, (ms, bytes, codec)) in perColumn.OrderByDescending(kv => kv.Value.Ms))
        {
            Console.WriteLine($"{field,-16} {ms * 1e6 / rows,8:F1} {(double)bytes / rows,8:F2} 0x{codec:X2}");
        }
        Console.WriteLine($"{"sum",-16} {perColumn.Values.Sum(v => v.Ms) * 1e6 / rows,8:F1} {perColumn.Values.Sum(v => (double)v.Bytes) / rows,8:F2}");
    }

    /// <summary>Times a sorted group commit's two steps on chunks of a block as serve holds them: the sort, and gathering the rows in that order.</summary>
    private static void SortedCommit(FlowBatch batch, int rounds)
    {
        var chunks = new List<FlowBatch>();
        for (var at = 0; at < batch.Count; at += SegmentFile.DefaultBlockRows)
        {
            var chunk = new FlowBatch(SegmentFile.DefaultBlockRows);
            chunk.AppendRange(batch, at, Math.Min(SegmentFile.DefaultBlockRows, batch.Count - at));
            chunks.Add(chunk);
        }
        int nonzero = 0, bytes = 0, all = 0;
        foreach (var f in FlowBatch.Fields)
        {
            all += FlowBatch.ValueSize(f);
            if (batch.ColumnValues(f, batch.Count).ContainsAnyExcept((byte)0)) { nonzero++; bytes += FlowBatch.ValueSize(f); }
        }
        Console.WriteLine($"fields {FlowBatch.Fields.Length}, non-zero {nonzero} ({bytes} of {all} bytes a row)");
        var sorter = new RowOrder.Sorter();
        var blockRows = int.Parse(Environment.GetEnvironmentVariable("GATHER_ROWS") ?? "65536");
        var from = new int[blockRows];
        var rowsOf = new int[blockRows];
        var block = new FlowBatch(blockRows);
        double sort = 0, gather = 0;
        for (var round = 0; round < rounds + 1; round++)
        {
            var c = Stopwatch.GetTimestamp();
            var ids = sorter.Sort(chunks, RowOrder.Sorter.Stride);
            var s = Stopwatch.GetElapsedTime(c).TotalMilliseconds;
            c = Stopwatch.GetTimestamp();
            for (var at = 0; at < ids.Length; at += blockRows)
            {
                var m = Math.Min(blockRows, ids.Length - at);
                RowOrder.Gather(block, chunks, ids.Slice(at, m), RowOrder.Sorter.Stride, from, rowsOf);
            }
            var g = Stopwatch.GetElapsedTime(c).TotalMilliseconds;
            if (round == 0) continue;
            sort += s / rounds;
            gather += g / rounds;
        }
        Console.WriteLine($"sorted commit of {batch.Count} rows in {chunks.Count} chunks: sort {sort * 1e6 / batch.Count:F1} ns/row, gather {gather * 1e6 / batch.Count:F1} ns/row");
    }
}
