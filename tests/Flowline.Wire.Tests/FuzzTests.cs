using System.Buffers.Binary;
using System.Diagnostics;
using Flowline.Records;

namespace Flowline.Wire.Tests;

/// <summary>
/// Random mutations of the captured datagrams for a bounded time (FLOWLINE_FUZZ_SECONDS; 60 s under CI,
/// 5 s otherwise). No mutation may make the decoder fault: every bad datagram is counted with a reason.
/// </summary>
public sealed class FuzzTests
{
    private static readonly uint[] Interesting = [0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF];

    private static double Seconds()
    {
        if (double.TryParse(Environment.GetEnvironmentVariable("FLOWLINE_FUZZ_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out var s)) return s;
        return string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ? 60 : 5;
    }

    [Fact]
    public void Mutated_datagrams_never_fault_the_decoder()
    {
        var corpus = TestCorpus.ReferencedCaptures().SelectMany(TestCorpus.Datagrams).Select(d => d.Payload).ToArray();
        var seed = Environment.TickCount;
        var random = new Random(seed);
        var decoder = new FlowDecoder();
        var batch = new FlowBatch();
        // Prime the template caches so that mutations reach the data records too.
        foreach (var d in corpus) decoder.Decode(d, FlowAddress.FromV4(0x7F000001), 0, batch);

        var budget = Stopwatch.StartNew();
        var limit = TimeSpan.FromSeconds(Seconds());
        long iterations = 0;
        var buffer = new byte[70000];
        while (budget.Elapsed < limit)
        {
            for (var k = 0; k < 1000; k++)
            {
                var length = Mutate(random, corpus, buffer);
                batch.Clear();
                var result = decoder.Decode(buffer.AsSpan(0, length), FlowAddress.FromV4(0x7F000001 + (uint)random.Next(4)), 0, batch);
                if (result.Error == DecodeError.Internal)
                {
                    Assert.Fail($"seed {seed}, iteration {iterations}: decoder fault on {Convert.ToHexString(buffer, 0, length)}");
                }
                iterations++;
            }
            if (iterations % 200_000 == 0)
            {
                // A fresh decoder now and then, so template-limit saturation does not hide the data paths.
                decoder = new FlowDecoder();
                foreach (var d in corpus) decoder.Decode(d, FlowAddress.FromV4(0x7F000001), 0, batch);
            }
        }
        Assert.Equal(decoder.Stats.MalformedDatagrams, decoder.Stats.MalformedByReason.Sum());
        Assert.True(iterations > 1000, $"only {iterations} iterations ran");
    }

    private static int Mutate(Random random, byte[][] corpus, byte[] buffer)
    {
        var source = corpus[random.Next(corpus.Length)];
        var length = source.Length;
        source.CopyTo(buffer, 0);
        var rounds = 1 + random.Next(4);
        for (var r = 0; r < rounds; r++)
        {
            switch (random.Next(7))
            {
                case 0: // flip bits
                    for (var i = random.Next(1, 9); i > 0 && length > 0; i--) buffer[random.Next(length)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1: // an interesting 16-bit value (lengths, counts, ids)
                    if (length >= 2) BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(random.Next(length - 1)), (ushort)Interesting[random.Next(Interesting.Length)]);
                    break;
                case 2: // an interesting 32-bit value, 4-aligned as in sFlow's XDR
                    if (length >= 4) BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(random.Next(length / 4) * 4), Interesting[random.Next(Interesting.Length)]);
                    break;
                case 3: // truncate
                    length = random.Next(length + 1);
                    break;
                case 4: // duplicate a slice to the end
                    if (length > 0)
                    {
                        var start = random.Next(length);
                        var n = Math.Min(random.Next(1, 256), Math.Min(length - start, buffer.Length - length));
                        Array.Copy(buffer, start, buffer, length, n);
                        length += n;
                    }
                    break;
                case 5: // splice the tail of another datagram
                {
                    var other = corpus[random.Next(corpus.Length)];
                    var at = random.Next(length + 1);
                    var from = random.Next(other.Length);
                    var n = Math.Min(other.Length - from, buffer.Length - at);
                    Array.Copy(other, from, buffer, at, n);
                    length = at + n;
                    break;
                }
                default: // random bytes
                    for (var i = random.Next(1, 16); i > 0 && length > 0; i--) buffer[random.Next(length)] = (byte)random.Next(256);
                    break;
            }
        }
        return length;
    }
}
