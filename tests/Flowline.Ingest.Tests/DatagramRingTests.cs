using System.Buffers.Binary;
using Flowline.Records;

namespace Flowline.Ingest.Tests;

public sealed class DatagramRingTests
{
    /// <summary>
    /// A producer as fast as it can go against a slower consumer: every datagram the consumer sees is
    /// intact and in order, and the numbers it misses are exactly those the producer counted as dropped.
    /// </summary>
    [Fact]
    public void Under_pressure_every_datagram_is_either_delivered_intact_or_counted_as_dropped()
    {
        var ring = new DatagramRing(1 << 18, 64);
        const int total = 200_000;
        var dropped = new HashSet<int>();
        var producer = new Thread(() =>
        {
            var random = new Random(1);
            for (var n = 0; n < total; n++)
            {
                var length = random.Next(8, 1500);
                var space = ring.WriteSpace(out var position);
                if (space.IsEmpty)
                {
                    dropped.Add(n);
                    continue;
                }
                var s = space.Span;
                BinaryPrimitives.WriteInt32LittleEndian(s, n);
                BinaryPrimitives.WriteInt32LittleEndian(s[4..], length);
                for (var i = 8; i < length; i++) s[i] = (byte)(n + i);
                ring.Commit(position, length, n, default(FlowAddress));
            }
        });
        producer.Start();
        var seen = new List<int>();
        var slow = 0;
        while (producer.IsAlive || ring.Depth > 0)
        {
            if (!ring.TryPeek(out var entry, out var data)) continue;
            var d = data.Span;
            var n = BinaryPrimitives.ReadInt32LittleEndian(d);
            Assert.Equal(entry.Length, BinaryPrimitives.ReadInt32LittleEndian(d[4..]));
            Assert.Equal(entry.TimeReceived, n);
            for (var i = 8; i < entry.Length; i++) Assert.Equal((byte)(n + i), d[i]);
            seen.Add(n);
            if (++slow % 3 == 0) Thread.SpinWait(200);
            ring.Release(entry);
        }
        producer.Join();
        Assert.True(dropped.Count > 0, "the consumer was never too slow: the test proves nothing");
        Assert.Equal(seen.Order(), seen);
        Assert.Equal(Enumerable.Range(0, total).Where(n => !dropped.Contains(n)), seen);
    }

    [Fact]
    public void Prefault_makes_the_whole_ring_resident_and_datagrams_then_pass_unchanged()
    {
        var ring = new DatagramRing(8 << 20, 4096);
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(ring.WriteSpace(out _), out var segment));
        ring.Prefault();
        var (resident, pages) = Flowline.Testing.ResidentPages.Of(segment.Array!);
        Assert.True(pages >= 2047 && resident == pages, $"{resident} of {pages} pages resident");
        // Round the ring twice.
        for (var n = 0; n < 24_000; n++)
        {
            var space = ring.WriteSpace(out var position);
            Assert.False(space.IsEmpty);
            var length = 200 + n % 1200;
            space.Span[..length].Fill((byte)n);
            ring.Commit(position, length, n, default(FlowAddress));
            Assert.True(ring.TryPeek(out var entry, out var data));
            Assert.Equal(length, entry.Length);
            Assert.True(data.Span.IndexOfAnyExcept((byte)n) < 0);
            ring.Release(entry);
        }
    }
}
