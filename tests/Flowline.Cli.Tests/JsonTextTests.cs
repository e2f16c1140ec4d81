using System.Text.Json;
using Flowline.Cli.Decode;
using Flowline.Records;

namespace Flowline.Cli.Tests;

/// <summary>
/// `decode --format json|jsonl` writes its JSON by hand for speed: it must be the bytes System.Text.Json's
/// writer gives for the same values, text from agents (any character) included, indented and compact.
/// </summary>
public sealed class JsonTextTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Writes_what_Utf8JsonWriter_writes(bool indented)
    {
        var random = new Random(indented ? 1 : 2);
        string Text()
        {
            // Quotes, backslashes, control characters, HTML-sensitive and non-ASCII characters, surrogate pairs.
            const string alphabet = "ab<>&'+\"\\\n\r\t\u0001\u007f é中😀 .:-";
            var chars = new List<char>();
            for (var i = random.Next(0, 12); i > 0; i--)
            {
                var c = alphabet[random.Next(alphabet.Length)];
                if (char.IsHighSurrogate(c)) chars.AddRange("😀");
                else if (!char.IsLowSurrogate(c)) chars.Add(c);
            }
            return new string([.. chars]);
        }
        var record = new FlowRecord { SrcAddr = FlowAddress.Parse("2001:db8::1"), DstAddr = FlowAddress.Parse("10.1.2.3"), SrcPort = 443, Bytes = 12_345, Start = 1_790_000_000_123_456 };
        for (var round = 0; round < 200; round++)
        {
            using var expected = new MemoryStream();
            using var actual = new MemoryStream();
            var reference = new Utf8JsonWriter(expected, new JsonWriterOptions { Indented = indented });
            var w = new Utf8TextWriter(actual);
            var ours = new JsonText(w, indented);
            ours.Reset();
            reference.WriteStartObject();
            ours.StartObject();
            for (var member = random.Next(0, 6); member > 0; member--)
            {
                switch (random.Next(5))
                {
                    case 0:
                        var (name, value) = (Text(), Text());
                        reference.WriteString(name, value);
                        ours.String(name, value);
                        break;
                    case 1:
                        var number = (ulong)random.NextInt64();
                        reference.WriteString("n"u8, number.ToString(System.Globalization.CultureInfo.InvariantCulture));
                        ours.Number("n"u8, number);
                        break;
                    case 2:
                        reference.WriteStartArray("list"u8);
                        ours.StartArray("list"u8);
                        for (var e = random.Next(0, 3); e > 0; e--)
                        {
                            reference.WriteStartObject();
                            ours.StartObject();
                            var text = Text();
                            reference.WriteString("text"u8, text);
                            ours.String("text"u8, text);
                            reference.WriteEndObject();
                            ours.EndObject();
                        }
                        reference.WriteEndArray();
                        ours.EndArray();
                        break;
                    case 3:
                        reference.WriteStartObject("flow"u8);
                        ours.StartObject("flow"u8);
                        foreach (var f in new[] { FlowField.Start, FlowField.SrcAddr, FlowField.DstAddr, FlowField.SrcPort, FlowField.Bytes, FlowField.NextHop, FlowField.Tunnel })
                        {
                            reference.WriteString(FlowFields.Utf8Name(f), FlowFields.Format(f, record));
                            ours.Field(f, record);
                        }
                        reference.WriteEndObject();
                        ours.EndObject();
                        break;
                    default:
                        reference.WriteStartObject("empty"u8);
                        ours.StartObject("empty"u8);
                        reference.WriteEndObject();
                        ours.EndObject();
                        break;
                }
            }
            reference.WriteEndObject();
            ours.EndObject();
            reference.Flush();
            w.Flush();
            Assert.Equal(System.Text.Encoding.UTF8.GetString(expected.ToArray()), System.Text.Encoding.UTF8.GetString(actual.ToArray()));
        }
    }
}
