using Flowline.Records;

namespace Flowline.Wire.Tests;

/// <summary>The write-behind stream: what comes out is what went in, in order, and a failed write reaches the producer.</summary>
public sealed class WriteBehindStreamTests
{
    [Theory]
    [InlineData(1, 2)]
    [InlineData(7, 3)]
    [InlineData(4096, 4)]
    public void Bytes_come_out_in_order_whatever_the_write_sizes(int bufferSize, int buffers)
    {
        var random = new Random(bufferSize);
        var expected = new MemoryStream();
        var output = new SlowStream();
        using (var stream = new WriteBehindStream(output, bufferSize, buffers))
        {
            var writes = Math.Min(20_000, 8_000_000 / (3 * bufferSize + 5));
            for (var i = 0; i < writes; i++)
            {
                var chunk = new byte[random.Next(0, 3 * bufferSize + 5)];
                random.NextBytes(chunk);
                expected.Write(chunk);
                if (chunk.Length == 1 && random.Next(2) == 0) stream.WriteByte(chunk[0]);
                else stream.Write(chunk);
                if (random.Next(writes / 20) == 0)
                {
                    stream.Flush();
                    Assert.Equal(expected.ToArray(), output.ToArray());
                }
            }
        }
        Assert.Equal(expected.ToArray(), output.ToArray());
        Assert.True(output.Disposed, "the inner stream is disposed with the write-behind stream");
    }

    [Fact]
    public void Every_byte_of_a_large_output_arrives_after_flush()
    {
        var random = new Random(5);
        var data = new byte[3_000_000];
        random.NextBytes(data);
        var output = new SlowStream();
        using var stream = new WriteBehindStream(output, 64 * 1024, 3, leaveOpen: true);
        var offset = 0;
        while (offset < data.Length)
        {
            var n = Math.Min(random.Next(1, 100_000), data.Length - offset);
            stream.Write(data, offset, n);
            offset += n;
        }
        stream.Flush();
        Assert.Equal(data, output.ToArray());
        Assert.True(output.Flushes > 0, "Flush reaches the inner stream");
    }

    [Fact]
    public async Task A_failed_write_is_thrown_to_the_producer_as_itself()
    {
        var output = new SlowStream { FailAfter = 10 };
        var stream = new WriteBehindStream(output, 16, 2);
        // On a thread with a deadline: a producer never told of the failure would wait for a free buffer forever.
        var producer = Task.Run(() =>
        {
            var e = Assert.Throws<IOException>(() =>
            {
                for (var i = 0; i < 1000; i++) stream.Write(new byte[16]);
                stream.Flush();
            });
            Assert.Equal("Broken pipe", e.Message);
            Assert.Throws<IOException>(() => stream.Flush());
            stream.Dispose(); // no throw, no hang
        });
        var first = await Task.WhenAny(producer, Task.Delay(TimeSpan.FromSeconds(60)));
        Assert.True(first == producer, "the producer was not told that the write failed");
        await producer;
    }

    /// <summary>A memory stream that takes its time (so that the producer gets ahead) and can fail.</summary>
    private sealed class SlowStream : MemoryStream
    {
        public int FailAfter = int.MaxValue;
        public int Flushes;
        public bool Disposed;
        private int _writes;

        public override void Write(byte[] buffer, int offset, int count)
        {
            if (++_writes > FailAfter) throw new IOException("Broken pipe");
            if (_writes % 7 == 0) Thread.Sleep(0);
            base.Write(buffer, offset, count);
        }

        public override void Flush()
        {
            Flushes++;
            base.Flush();
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            // Keep the bytes readable after the stream is disposed.
        }
    }
}
