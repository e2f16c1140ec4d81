using System.Buffers.Binary;
using System.Text;

namespace Flowline.Fuzz.Tests;

/// <summary>Mutations of bytes (datagrams) and of text (filters, keys, JSON, YAML) that keep close enough to the valid to get deep.</summary>
internal static class Mutator
{
    private const string Odd = " \t\n\"'\\,;:/*|&!=<>-.";

    private static readonly uint[] Interesting = [0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF];

    /// <summary>One to four mutations of <paramref name="source"/> into <paramref name="buffer"/>; returns the new length.</summary>
    public static int Bytes(Random random, byte[] source, IReadOnlyList<byte[]> pool, byte[] buffer)
    {
        var length = Math.Min(source.Length, buffer.Length);
        Array.Copy(source, buffer, length);
        var rounds = 1 + random.Next(4);
        for (var r = 0; r < rounds; r++)
        {
            switch (random.Next(8))
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
                    var other = pool[random.Next(pool.Count)];
                    var at = random.Next(length + 1);
                    var from = random.Next(other.Length);
                    var n = Math.Min(other.Length - from, buffer.Length - at);
                    Array.Copy(other, from, buffer, at, n);
                    length = at + n;
                    break;
                }
                case 6: // remove a slice
                    if (length > 1)
                    {
                        var start = random.Next(length);
                        var n = random.Next(1, Math.Min(64, length - start) + 1);
                        Array.Copy(buffer, start + n, buffer, start, length - start - n);
                        length -= n;
                    }
                    break;
                default: // random bytes
                    for (var i = random.Next(1, 16); i > 0 && length > 0; i--) buffer[random.Next(length)] = (byte)random.Next(256);
                    break;
            }
        }
        return length;
    }

    /// <summary>One to three mutations of a text: tokens of its language inserted, parts removed, repeated or nested deep, odd characters.</summary>
    public static string Text(Random random, string source, IReadOnlyList<string> tokens)
    {
        var s = new StringBuilder(source);
        var rounds = 1 + random.Next(3);
        for (var r = 0; r < rounds; r++)
        {
            var at = random.Next(s.Length + 1);
            switch (random.Next(9))
            {
                case 0:
                    s.Insert(at, tokens[random.Next(tokens.Count)]);
                    break;
                case 1:
                    if (s.Length > 0) s.Remove(Math.Min(at, s.Length - 1), Math.Min(random.Next(1, 8), s.Length - Math.Min(at, s.Length - 1)));
                    break;
                case 2: // a slice repeated
                    if (s.Length > 0)
                    {
                        var from = random.Next(s.Length);
                        var part = s.ToString(from, Math.Min(random.Next(1, 32), s.Length - from));
                        s.Insert(at, string.Concat(Enumerable.Repeat(part, random.Next(1, 50))));
                    }
                    break;
                case 3: // nested deep
                {
                    var depth = random.Next(1, 300);
                    var (open, close) = random.Next(4) switch { 0 => ("(", ")"), 1 => ("[", "]"), 2 => ("{", "}"), _ => ("not ", "") };
                    s.Insert(0, string.Concat(Enumerable.Repeat(open, depth)));
                    s.Append(string.Concat(Enumerable.Repeat(close, random.Next(2) == 0 ? depth : random.Next(depth + 2))));
                    break;
                }
                case 4:
                    s.Insert(at, (char)random.Next(0, 0x80));
                    break;
                case 5:
                    s.Insert(at, (char)random.Next(0x80, 0xFFFF));
                    break;
                case 6: // a number at its limits
                    s.Insert(at, random.Next(6) switch { 0 => "-1", 1 => "4294967296", 2 => "18446744073709551616", 3 => "1e308", 4 => "NaN", _ => "0" });
                    break;
                case 7:
                    if (s.Length > 0) s[Math.Min(at, s.Length - 1)] = Odd[random.Next(Odd.Length)];
                    break;
                default: // truncated
                    s.Length = Math.Min(s.Length, at);
                    break;
            }
        }
        return s.ToString();
    }
}
