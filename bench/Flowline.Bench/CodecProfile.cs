using System.Buffers;
using System.Diagnostics;
using Flowline.Query;
using Flowline.Records;
using Flowline.Storage.Embedded;
using Flowline.Storage.Segments;

namespace Flowline.Bench;

/// <summary>
/// `codec-profile DATA_DIR [ROUNDS]`: the segment codecs on a store's own columns. Every block's columns
/// (as compaction encodes them: deltas, shapes, byte shuffle) are encoded with Brotli, Zstandard and LZ4 and
/// decoded again, timed; then the byte-shuffled buffers alone go through the LZ4 block codec, both ways.
/// Prints bytes per flow and MB/s of column data.
/// </summary>
public static class CodecProfile
{
    public static void Run(string dataDir, int rounds)
    {
        var blocks = new List<(FlowField Field, byte[] Raw, byte[]? Reference, int Size)>();
        long rows = 0;
        using (var store = new EmbeddedStore(dataDir, new EmbeddedStoreOptions { ReadOnly = true }))
        {
            foreach (var batch in store.Scan(long.MinValue, long.MaxValue, new FilterNode.Any()))
            {
                rows += batch.Count;
                foreach (var field in SegmentFile.Columns)
                {
                    var size = FlowBatch.ValueSize(field);
                    var reference = ColumnCodec.ReferenceOf(field) is { } r ? batch.ColumnValues(r, batch.Count).ToArray() : null;
                    blocks.Add((field, batch.ColumnValues(field, batch.Count).ToArray(), reference, size));
                }
            }
        }
        var rawBytes = blocks.Sum(b => (long)b.Raw.Length);
        Console.WriteLine($"{rows:N0} flows, {blocks.Count:N0} column blocks, {rawBytes / 1e6:F1} MB of column data");
        Console.WriteLine("codec                      B/flow   encode MB/s   decode MB/s");
        foreach (var (name, codec) in new[] { ("brotli q3 (ColumnCodec)", SegmentCodec.Brotli), ("zstd 3 (ColumnCodec)", SegmentCodec.Zstd), ("lz4 (ColumnCodec)", SegmentCodec.Lz4) })
        {
            var preferred = ColumnCodec.Preferred(codec);
            var encoded = new List<(byte Codec, byte[] Data)>(blocks.Count);
            var output = new ArrayBufferWriter<byte>(1 << 20);
            double encodeSeconds = 0, decodeSeconds = 0;
            long stored = 0;
            for (var round = 0; round <= rounds; round++)
            {
                encoded.Clear();
                stored = 0;
                var sw = Stopwatch.StartNew();
                foreach (var b in blocks)
                {
                    output.ResetWrittenCount();
                    var c = ColumnCodec.Encode(b.Field, b.Raw, b.Size, output, preferred, b.Reference);
                    stored += output.WrittenCount;
                    encoded.Add((c, output.WrittenSpan.ToArray()));
                }
                var encode = sw.Elapsed.TotalSeconds;
                var target = new byte[blocks.Max(b => b.Raw.Length)];
                sw.Restart();
                for (var i = 0; i < blocks.Count; i++)
                {
                    if (!ColumnCodec.Decode(blocks[i].Field, encoded[i].Codec, encoded[i].Data, target.AsSpan(0, blocks[i].Raw.Length), blocks[i].Size))
                        throw new InvalidDataException($"{name}: {blocks[i].Field} does not decode");
                }
                var decode = sw.Elapsed.TotalSeconds;
                if (round == 0) continue; // warm-up
                encodeSeconds += encode / rounds;
                decodeSeconds += decode / rounds;
            }
            Console.WriteLine($"{name,-25} {stored / (double)rows,7:F2}   {rawBytes / 1e6 / encodeSeconds,11:F0}   {rawBytes / 1e6 / decodeSeconds,11:F0}");
        }

        // LZ4 alone (K4os.Compression.LZ4 through Lz4Block) on the byte-shuffled buffers, without the column work.
        var shuffled = blocks.Select(b =>
        {
            var s = new byte[b.Raw.Length];
            ByteShuffle.Shuffle(b.Raw, s, b.Size);
            return s;
        }).ToList();
        var total = shuffled.Sum(s => (long)s.Length);
        var compressed = new byte[Lz4Block.MaxCompressedLength(shuffled.Max(s => s.Length))];
        var back = new byte[shuffled.Max(s => s.Length)];
        double lz4Encode = 0, lz4Decode = 0;
        long lz4Size = 0;
        for (var round = 0; round <= rounds; round++)
        {
            lz4Size = 0;
            double e = 0, d = 0;
            foreach (var s in shuffled)
            {
                var t = Stopwatch.GetTimestamp();
                var n = Lz4Block.Compress(s, compressed);
                e += Stopwatch.GetElapsedTime(t).TotalSeconds;
                lz4Size += n;
                t = Stopwatch.GetTimestamp();
                var ok = Lz4Block.Decompress(compressed.AsSpan(0, n), back.AsSpan(0, s.Length));
                d += Stopwatch.GetElapsedTime(t).TotalSeconds;
                if (!ok || !back.AsSpan(0, s.Length).SequenceEqual(s)) throw new InvalidDataException("LZ4 round trip failed");
            }
            if (round == 0) continue;
            lz4Encode += e / rounds;
            lz4Decode += d / rounds;
        }
        Console.WriteLine($"{"lz4 block alone",-25} {lz4Size / (double)rows,7:F2}   {total / 1e6 / lz4Encode,11:F0}   {total / 1e6 / lz4Decode,11:F0}");
    }
}
