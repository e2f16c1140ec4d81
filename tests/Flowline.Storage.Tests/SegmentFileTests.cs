using Flowline.Query;
using Flowline.Storage.Segments;
using Flowline.Wire.Generation;
using Flowline.Records;

namespace Flowline.Storage.Tests;

public sealed class SegmentFileTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-segments-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static FlowBatch Generated(int count, int seed = 1)
    {
        var g = new TrafficGenerator(seed, hosts: 2000);
        var b = new FlowBatch(count);
        for (var i = 0; i < count; i++)
        {
            var r = g.Next();
            r.Exporter = FlowAddress.FromV4(0x7F000001u + (uint)(i % 3));
            r.Protocol = FlowProtocol.Ipfix;
            b.Add(r);
        }
        return b;
    }

    private static void AssertSameColumns(FlowBatch batch, FlowBatch back)
    {
        Assert.Equal(batch.Count, back.Count);
        foreach (var field in SegmentFile.Columns)
        {
            Assert.True(batch.ColumnValues(field, batch.Count).SequenceEqual(back.ColumnValues(field, back.Count)), FlowFields.Name(field));
        }
    }

    private static FlowBatch ReadAll(SegmentFile.Reader reader)
    {
        var b = new FlowBatch();
        for (var i = 0; i < reader.Blocks.Length; i++) reader.ReadBlock(i, b);
        return b;
    }

    [Theory]
    [InlineData(SegmentCodec.Brotli, 25)]
    [InlineData(SegmentCodec.Lz4, 45)]
    public void Every_column_of_every_row_round_trips(SegmentCodec codec, double maxBytesPerRecord)
    {
        var batch = Generated(40_000);
        var path = Path.Combine(_dir.FullName, "a.seg");
        SegmentFile.Write(path, batch, blockRows: 16384, codec);
        using var reader = new SegmentFile.Reader(path);
        Assert.Equal(3, reader.Blocks.Length);
        Assert.Equal(40_000, reader.Rows);
        var back = ReadAll(reader);
        Assert.Equal(batch.Count, back.Count);
        AssertSameColumns(batch, back);
        Assert.False(File.Exists(path + ".tmp"));
        // Compressed columns: far under the 320 bytes a record takes in memory.
        Assert.True(reader.SizeBytes / 40_000.0 < maxBytesPerRecord, $"{reader.SizeBytes / 40_000.0:0.0} bytes per record");
    }

    [Theory]
    [InlineData(1000, 1)]   // the first rows choose deltas divided by 1,000; later ones are not divisible
    [InlineData(1, 1000)]   // the first rows choose plain deltas; later ones would divide by 1,000
    [InlineData(7, 7)]
    public void A_large_block_round_trips_whatever_shape_its_first_rows_chose(int firstStep, int laterStep)
    {
        // Large blocks try the shapes of their 8-byte columns on their first rows only: the rest must come
        // back exactly even where that shape suits them badly or no longer applies.
        var batch = Generated(20_000);
        for (var i = 0; i < batch.Count; i++)
        {
            var step = i < 2048 ? firstStep : laterStep;
            batch.Start[i] = 1_800_000_000_000_000L + (long)i * step * 1000 + (i < 2048 ? 0 : i % 7);
            batch.End[i] = batch.Start[i] + (i < 2048 ? 1000 * (i % 50) : i % 977);
            batch.TimeReceived[i] = i < 2048 ? batch.End[i] : batch.End[i] + 5000 + i % 13;
        }
        var path = Path.Combine(_dir.FullName, "shapes.seg");
        SegmentFile.Write(path, batch, blockRows: 16384, SegmentCodec.Brotli);
        using var reader = new SegmentFile.Reader(path);
        var back = ReadAll(reader);
        AssertSameColumns(batch, back);
    }

    [Fact]
    public void Columns_with_one_value_per_block_are_stored_once_and_come_back_whole()
    {
        var batch = Generated(20_000);
        // The same in every row: one stored value. Columns are written through ColumnBytes, which tells the
        // batch that a column it knew to be zero (next hop) no longer is.
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, FlowAddress>(batch.ColumnBytes(FlowField.NextHop, batch.Count)).Fill(FlowAddress.Parse("fd00::53"));
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(batch.ColumnBytes(FlowField.Vlan, batch.Count)).Fill(100);
        var path = Path.Combine(_dir.FullName, "constant.seg");
        SegmentFile.Write(path, batch, blockRows: 8192, SegmentCodec.Lz4);
        using var reader = new SegmentFile.Reader(path);
        var back = ReadAll(reader);
        AssertSameColumns(batch, back);
        // A constant address column is also a one-entry dictionary for pruning.
        var dictionary = reader.Dictionary(0, FlowField.NextHop);
        Assert.Equal([FlowAddress.Parse("fd00::53")], dictionary!);
    }

    [Fact]
    public void The_zone_map_struct_has_the_size_the_file_format_says()
    {
        Assert.Equal(ZoneMap.Size, System.Runtime.CompilerServices.Unsafe.SizeOf<ZoneMap>());
    }

    [Fact]
    public void Flipped_bytes_are_detected_never_returned_as_data()
    {
        var batch = Generated(3000);
        var path = Path.Combine(_dir.FullName, "b.seg");
        SegmentFile.Write(path, batch, blockRows: 1000);
        var good = File.ReadAllBytes(path);
        var corrupt = Path.Combine(_dir.FullName, "c.seg");
        var detected = 0;
        for (var position = 0; position < good.Length; position += 37)
        {
            var bytes = (byte[])good.Clone();
            bytes[position] ^= 0x40;
            File.WriteAllBytes(corrupt, bytes);
            try
            {
                var reader = new SegmentFile.Reader(corrupt);
                var back = ReadAll(reader);
                // Only bytes nothing depends on (reserved header/column bytes) may change unnoticed: the data must be intact.
                foreach (var field in SegmentFile.Columns)
                {
                    Assert.True(batch.ColumnValues(field, batch.Count).SequenceEqual(back.ColumnValues(field, back.Count)),
                        $"byte {position} flipped: column {FlowFields.Name(field)} changed silently");
                }
            }
            catch (SegmentCorruptException e)
            {
                detected++;
                Assert.Equal(corrupt, e.Path);
                Assert.Contains(corrupt, e.Message);
            }
        }
        Assert.True(detected > good.Length / 37 * 9 / 10, $"only {detected} of {good.Length / 37} flips detected");
    }

    [Fact]
    public void A_cut_segment_says_it_is_incomplete()
    {
        var path = Path.Combine(_dir.FullName, "d.seg");
        SegmentFile.Write(path, Generated(500));
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<SegmentCorruptException>(() => new SegmentFile.Reader(path));
        Assert.Contains("incomplete", e.Reason);
        Assert.Equal(-1, e.Block);
    }

    [Fact]
    public void A_block_the_zone_map_rules_out_has_no_matching_row()
    {
        var batch = Generated(20_000, seed: 4);
        var path = Path.Combine(_dir.FullName, "e.seg");
        SegmentFile.Write(path, batch, blockRows: 500);
        using var reader = new SegmentFile.Reader(path);
        string[] filters =
        [
            "host 10.0.0.1", "src host 172.16.0.3", "dst net 10.0.7.0/24", "proto udp", "dst port 53", "port > 60000",
            "proto tcp and dst port 443", "host fd00::1 or host 10.0.0.2", "src port in [22 25]", "exporter 127.0.0.2",
            "net 192.168.0.0/16", "proto gre",
        ];
        var pruned = 0;
        foreach (var text in filters)
        {
            var filter = FilterParser.Parse(text);
            var evaluator = new FilterEvaluator(filter);
            for (var i = 0; i < reader.Blocks.Length; i++)
            {
                if (reader.Blocks[i].Zone.MayMatch(long.MinValue, long.MaxValue, filter)) continue;
                pruned++;
                var block = new FlowBatch();
                reader.ReadBlock(i, block);
                var selection = new ulong[FilterEvaluator.Words(block.Count)];
                Assert.Equal(0, evaluator.Evaluate(block, selection));
            }
        }
        Assert.True(pruned > 0, "no block was ever pruned");
    }
    [Theory]
    [InlineData(SegmentCodec.Brotli)]
    [InlineData(SegmentCodec.Lz4)]
    public void Columns_stored_relative_to_others_read_back_alone(SegmentCodec codec)
    {
        var batch = Generated(20_000);
        for (var i = 0; i < batch.Count; i++)
        {
            batch.End[i] = batch.Start[i] + i % 977;
            batch.TimeReceived[i] = batch.End[i] + 5000 + i % 13;
            batch.SampledBytes[i] = batch.Bytes[i];
        }
        var path = Path.Combine(_dir.FullName, "r.seg");
        SegmentFile.Write(path, batch, blockRows: 8192, codec);
        using var reader = new SegmentFile.Reader(path);
        foreach (var field in new[] { FlowField.End, FlowField.TimeReceived, FlowField.SampledBytes, FlowField.SampledPackets })
        {
            var back = new FlowBatch();
            for (var i = 0; i < reader.Blocks.Length; i++) reader.ReadBlock(i, back, new HashSet<FlowField> { field });
            Assert.True(batch.ColumnValues(field, batch.Count).SequenceEqual(back.ColumnValues(field, back.Count)), FlowFields.Name(field));
        }
        // Durations and delays cost far less than absolute times.
        var sizes = new long[SegmentFile.Columns.Length];
        for (var i = 0; i < reader.Blocks.Length; i++) reader.AddColumnSizes(i, sizes);
        Assert.True(sizes[(int)FlowField.SampledBytes] < 100 * reader.Blocks.Length, $"sampled_bytes takes {sizes[(int)FlowField.SampledBytes]} bytes");
        if (codec == SegmentCodec.Brotli)
        {
            Assert.True(sizes[(int)FlowField.TimeReceived] < sizes[(int)FlowField.Start], "time_received should cost less than start");
        }
        else
        {
            // Bit-packed: delays of 5,000–5,012 µs take four bits, durations under 977 µs sixteen.
            Assert.True(sizes[(int)FlowField.TimeReceived] < batch.Count, $"time_received takes {sizes[(int)FlowField.TimeReceived]} bytes");
            Assert.True(sizes[(int)FlowField.End] < 2.1 * batch.Count, $"end takes {sizes[(int)FlowField.End]} bytes");
        }
    }

    [Fact]
    public void Group_commit_dictionaries_unsorted_on_disk_come_back_sorted_for_pruning()
    {
        var batch = Generated(20_000);
        var path = Path.Combine(_dir.FullName, "d.seg");
        SegmentFile.Write(path, batch, blockRows: 8192, SegmentCodec.Lz4);
        using var reader = new SegmentFile.Reader(path);
        var start = 0;
        for (var block = 0; block < reader.Blocks.Length; block++)
        {
            var rows = reader.Blocks[block].Rows;
            foreach (var field in new[] { FlowField.SrcAddr, FlowField.DstAddr })
            {
                var column = field == FlowField.SrcAddr ? batch.SrcAddr : batch.DstAddr;
                var expected = column.AsSpan(start, rows).ToArray().Distinct().Order().ToArray();
                var dictionary = reader.Dictionary(block, field);
                Assert.NotNull(dictionary);
                Assert.Equal(expected, dictionary);
            }
            start += rows;
        }
    }
}
