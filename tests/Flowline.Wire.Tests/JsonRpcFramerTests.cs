using System.Text;
using Flowline.Wire.Ovsdb;

namespace Flowline.Wire.Tests;

public sealed class JsonRpcFramerTests
{
    private static List<string> Feed(JsonRpcFramer framer, params string[] reads)
    {
        var messages = new List<string>();
        foreach (var read in reads)
        {
            var bytes = Encoding.UTF8.GetBytes(read);
            for (var at = 0; at < bytes.Length;)
            {
                var room = framer.Room();
                var n = Math.Min(room.Length, bytes.Length - at);
                bytes.AsSpan(at, n).CopyTo(room.Span);
                framer.Advance(n);
                at += n;
                while (framer.TryNext(out var m)) messages.Add(Encoding.UTF8.GetString(m.Span));
            }
        }
        return messages;
    }

    [Fact]
    public void Messages_are_split_wherever_the_reads_break_them_and_strings_may_hold_braces_and_escapes()
    {
        const string a = """{"id":1,"result":[{"rows":[{"name":"br}{[0"}]}],"error":null}""";
        const string b = """{"method":"echo","params":["a\"}\\"],"id":"echo"}""";
        var stream = a + "\n " + b + a;
        // Every split point of the stream into two reads gives the same three messages.
        for (var cut = 0; cut <= stream.Length; cut++)
        {
            Assert.Equal([a, b, a], Feed(new JsonRpcFramer(), stream[..cut], stream[cut..]));
        }
        // One byte at a time, too.
        Assert.Equal([a, b, a], Feed(new JsonRpcFramer(), [.. stream.Select(c => c.ToString())]));
    }

    [Fact]
    public void A_message_too_deep_too_long_or_not_an_object_ends_the_stream_with_a_clear_error()
    {
        var deep = new string('[', 10);
        var tooDeep = "{\"a\":" + new string('[', JsonRpcFramer.MaxDepth) + new string(']', JsonRpcFramer.MaxDepth) + "}";
        Assert.Contains("deeper", Assert.Throws<FormatException>(() => Feed(new JsonRpcFramer(), tooDeep)).Message);
        var huge = "{\"a\":\"" + new string('x', 200_000);
        Assert.Contains("longer than 100000", Assert.Throws<FormatException>(() => Feed(new JsonRpcFramer(100_000), huge)).Message);
        Assert.Contains("is an object", Assert.Throws<FormatException>(() => Feed(new JsonRpcFramer(), deep)).Message);
        // A bracket of the wrong kind ends the message for the JSON parser to refuse; what follows must still be an object.
        Assert.Contains("is an object", Assert.Throws<FormatException>(() => Feed(new JsonRpcFramer(), "{]]")).Message);
    }
}
