using System.Buffers.Binary;
using Flowline.Wire.Records;

namespace Flowline.Collector.Tests;

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
}
