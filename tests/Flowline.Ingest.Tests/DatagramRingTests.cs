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

    /// <summary>
    /// A listener's queue (64 MiB by default, one per listener) is made resident at its first datagram, not
    /// when it starts: a listener that never receives holds none of it. Half a second gives a receiver that
    /// touched its queue at the start time to do so; then one datagram arrives and is queued intact.
    /// </summary>
    [Fact]
    public void A_listener_makes_its_queue_resident_at_its_first_datagram_not_when_it_starts()
    {
        using var receiver = new DatagramReceiver(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0), 1 << 20, 8 << 20, 4096);
        receiver.Start();
        Thread.Sleep(500);
        Assert.False(receiver.QueueTouched);
        using var sender = new System.Net.Sockets.UdpClient();
        var datagram = Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        sender.Send(datagram, datagram.Length, receiver.LocalEndPoint);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        DatagramRing.Entry entry;
        ReadOnlyMemory<byte> data;
        while (!receiver.TryTake(out entry, out data))
        {
            Assert.True(DateTime.UtcNow < deadline, "the datagram never reached the queue");
            Thread.Sleep(10);
        }
        Assert.True(receiver.QueueTouched);
        Assert.Equal(datagram, data.ToArray());
        receiver.Release(entry);
    }
}
