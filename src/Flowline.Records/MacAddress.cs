using System.Buffers.Binary;

namespace Flowline.Records;

/// <summary>48-bit MAC addresses are carried as the low 48 bits of a ulong.</summary>
public static class MacAddress
{
    public static ulong Read(ReadOnlySpan<byte> six) =>
        ((ulong)BinaryPrimitives.ReadUInt16BigEndian(six) << 32) | BinaryPrimitives.ReadUInt32BigEndian(six[2..]);

    public static void Write(ulong mac, Span<byte> six)
    {
        BinaryPrimitives.WriteUInt16BigEndian(six, (ushort)(mac >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(six[2..], (uint)mac);
    }

    /// <summary>Writes <c>aa:bb:cc:dd:ee:ff</c> (17 characters).</summary>
    public static bool TryFormat(ulong mac, Span<char> destination, out int written, char separator = ':')
    {
        var width = separator == '\0' ? 12 : 17;
        written = 0;
        if (destination.Length < width)
        {
            return false;
        }
        const string hex = "0123456789abcdef";
        for (var i = 0; i < 6; i++)
        {
            var b = (byte)(mac >> ((5 - i) * 8));
            destination[written++] = hex[b >> 4];
            destination[written++] = hex[b & 0xF];
            if (separator != '\0' && i < 5)
            {
                destination[written++] = separator;
            }
        }
        return true;
    }

    public static string ToString(ulong mac)
    {
        Span<char> b = stackalloc char[17];
        TryFormat(mac, b, out var n);
        return new string(b[..n]);
    }
}
