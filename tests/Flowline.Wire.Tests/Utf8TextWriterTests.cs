using System.Text;
using Flowline.Records;

namespace Flowline.Wire.Tests;

/// <summary>The text writer's buffer wraps at every offset: what comes out is what went in, in order.</summary>
public sealed class Utf8TextWriterTests
{
    [Theory]
    [InlineData(16, false)]
    [InlineData(64, false)]
    [InlineData(1 << 16, false)]
    [InlineData(16, true)]
    [InlineData(1 << 16, true)]
    public void Text_numbers_and_addresses_survive_every_buffer_wrap(int capacity, bool writeBehind)
    {
        var random = new Random(capacity);
        using var output = new MemoryStream();
        // Behind a write-behind stream, as `decode` writes captures.
        using var behind = new WriteBehindStream(output, 100, 3, leaveOpen: true);
        var w = new Utf8TextWriter(writeBehind ? behind : output, capacity);
        var expected = new StringBuilder();
        for (var i = 0; i < 200_000; i++)
        {
            switch (random.Next(6))
            {
                case 0:
                {
                    var s = new string('x', random.Next(0, 12)) + (random.Next(4) == 0 ? "é" : "");
                    w.Text(s);
                    expected.Append(s);
                    break;
                }
                case 1:
                {
                    // Every digit count, 0 through ulong.MaxValue (20 digits).
                    var v = random.Next(3) switch
                    {
                        0 => (ulong)random.Next(12),
                        1 => (ulong)random.NextInt64() >> random.Next(64),
                        _ => random.Next(50) == 0 ? ulong.MaxValue - (ulong)random.Next(1000) : (ulong)random.NextInt64() * 2 + (ulong)random.Next(2),
                    };
                    w.Number(v);
                    expected.Append(v);
                    break;
                }
                case 2:
                {
                    var a = FlowAddress.FromV4((uint)random.Next());
                    w.Address(a);
                    expected.Append(a.ToString());
                    break;
                }
                case 5:
                {
                    var mac = (ulong)random.NextInt64() & 0xFFFF_FFFF_FFFF;
                    var separator = random.Next(2) == 0 ? ':' : '\0';
                    w.Mac(mac, separator);
                    Span<char> reference = stackalloc char[17];
                    MacAddress.TryFormat(mac, reference, out var n, separator);
                    expected.Append(reference[..n]);
                    break;
                }
                case 3:
                    w.Byte((byte)' ');
                    expected.Append(' ');
                    break;
                default:
                    w.Raw("ab\n"u8);
                    expected.Append("ab\n");
                    break;
            }
            if (random.Next(50) == 0) w.MaybeFlush();
        }
        w.Flush();
        Assert.Equal(expected.ToString(), Encoding.UTF8.GetString(output.ToArray()));
    }
}
