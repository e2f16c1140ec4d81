using Flowline.Cli.Decode;
using Flowline.Records;
using Flowline.Wire;
using Flowline.Wire.Tests;

namespace Flowline.Fuzz.Tests;

/// <summary>
/// Mutated sequences of the shared captures' datagrams (templates and options mutated with the data that
/// follows them) through the decoder and every `flowline decode` output format, whose writers live across
/// inputs as in a long decode, so their buffers wrap. A decoder fault (the decoder's catch-all) or an exception
/// from a writer is a crash.
/// </summary>
public sealed class DatagramFuzzTests
{
    private static readonly Lazy<(byte[][] Payloads, TestCorpus.Datagram[][] Captures)> Corpus = new(() =>
    {
        var captures = TestCorpus.ReferencedCaptures().Select(n => TestCorpus.Datagrams(n).Take(4000).ToArray()).Where(c => c.Length > 0).ToArray();
        // Host sFlow's structures (strings and lists) have no capture here: the hand-made datagram seeds them.
        return ([.. captures.SelectMany(c => c.Select(d => d.Payload)), Flowline.Testing.HostSflow.Datagram(), Flowline.Testing.HostSflow.Datagram(2, 7, null)], captures);
    });

    private static readonly string[] Formats = ["flows", "csv", "grep", "json", "jsonl", "pcap"];

    private static readonly string CsvFields = string.Join(",", FlowFields.All.Select(FlowFields.Name).Concat(Enum.GetNames<SflowtoolField>().Select(n => char.ToLowerInvariant(n[0]) + n[1..]))
        .Where(n => CsvColumn.TryParse(n, out _)));

    /// <summary>One writer per format, as `flowline decode --format F` makes it, writing to nowhere.</summary>
    private sealed class Writers
    {
        public readonly List<(string Format, IDecodeOutput Output, DatagramCollector Collector, FlowDecoder Decoder)> All = [];

        public Writers()
        {
            foreach (var f in Formats)
            {
                // csv with every canonical field and every sflowtool field: each column's writer is exercised.
                string[] args = f == "csv" ? ["--pcap", "x.pcap", "--format", f, "--fields", CsvFields] : ["--pcap", "x.pcap", "--format", f];
                var error = DecodeOptions.TryParse(args, out var options);
                Assert.True(error is null, error);
                var collector = new DatagramCollector();
                All.Add((f, DecodeCommand.Writer(options, new BufferedStream(Stream.Null, 1 << 16), collector), collector, new FlowDecoder()));
            }
        }
    }

    [Fact]
    public void Mutated_datagram_sequences_never_fault_the_decoder_or_any_output_format()
    {
        var (pool, captures) = Corpus.Value;
        var writers = new Writers();
        var buffer = new byte[70_000];
        var sequence = new List<byte[]>();
        long datagrams = 0;
        Budget.Run("datagrams", (random, n) =>
        {
            if (n % 2000 == 0) writers = new Writers(); // fresh template caches now and then
            var capture = captures[random.Next(captures.Length)];
            var start = random.Next(capture.Length);
            sequence.Clear();
            for (var i = start; i < Math.Min(capture.Length, start + 1 + random.Next(32)); i++)
            {
                var d = capture[i].Payload;
                if (random.Next(3) == 0)
                {
                    var length = Mutator.Bytes(random, d, pool, buffer);
                    d = buffer.AsSpan(0, length).ToArray();
                }
                sequence.Add(d);
                if (random.Next(20) == 0) sequence.Add(d); // replayed
            }
            if (random.Next(10) == 0) sequence.Reverse(); // data before its template
            var source = FlowAddress.FromV4(0x7F000001 + (uint)random.Next(4));
            foreach (var d in sequence)
            {
                foreach (var (format, output, collector, decoder) in writers.All)
                {
                    try
                    {
                        var result = DecodeCommand.DecodeDatagram(decoder, collector, output, d, source, 1_795_000_000_000_000 + datagrams);
                        if (result.Error == DecodeError.Internal) throw new InvalidOperationException("the decoder faulted (DecodeError.Internal)");
                    }
                    catch (Exception e)
                    {
                        throw Budget.Crash("datagrams-" + format, Sequence(sequence), e);
                    }
                }
                datagrams++;
            }
        }, enough: () => datagrams > 1000);
        foreach (var (_, output, _, _) in writers.All) output.Finish();
        Assert.True(datagrams > 1000, $"only {datagrams} datagrams");
    }

    /// <summary>A sequence as one input: each datagram's length (two bytes, big-endian) and bytes.</summary>
    internal static byte[] Sequence(IEnumerable<byte[]> datagrams)
    {
        var s = new MemoryStream();
        foreach (var d in datagrams)
        {
            s.WriteByte((byte)(d.Length >> 8));
            s.WriteByte((byte)d.Length);
            s.Write(d);
        }
        return s.ToArray();
    }

    internal static List<byte[]> Datagrams(byte[] sequence)
    {
        var list = new List<byte[]>();
        for (var at = 0; at + 2 <= sequence.Length;)
        {
            var n = (sequence[at] << 8) | sequence[at + 1];
            list.Add(sequence.AsSpan(at + 2, n).ToArray());
            at += 2 + n;
        }
        return list;
    }
}
