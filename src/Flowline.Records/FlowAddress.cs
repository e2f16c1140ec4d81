using System.Buffers.Binary;
using System.Net;

namespace Flowline.Records;

/// <summary>
/// An IPv4 or IPv6 address held in 16 bytes without allocation. IPv4 addresses are stored
/// IPv4-mapped (::ffff:a.b.c.d) so that one comparison and one column type serve both families.
/// </summary>
public readonly record struct FlowAddress(ulong Hi, ulong Lo) : IComparable<FlowAddress>
{
    private const ulong MappedPrefixLo = 0x0000_FFFF_0000_0000UL;

    public static FlowAddress None => default;

    public bool IsNone => Hi == 0 && Lo == 0;

    public bool IsV4 => Hi == 0 && (Lo & 0xFFFF_FFFF_0000_0000UL) == MappedPrefixLo;

    /// <summary>The IPv4 address in host order; only meaningful when <see cref="IsV4"/>.</summary>
    public uint V4 => (uint)Lo;

    public static FlowAddress FromV4(uint hostOrder) => new(0, MappedPrefixLo | hostOrder);

    public static FlowAddress FromV4(ReadOnlySpan<byte> fourBytes) =>
        FromV4(BinaryPrimitives.ReadUInt32BigEndian(fourBytes));

    public static FlowAddress FromV6(ReadOnlySpan<byte> sixteenBytes) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(sixteenBytes), BinaryPrimitives.ReadUInt64BigEndian(sixteenBytes[8..]));

    public static FlowAddress FromIPAddress(IPAddress address)
    {
        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            Span<byte> b4 = stackalloc byte[4];
            address.TryWriteBytes(b4, out _);
            return FromV4(b4);
        }
        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(b, out _);
        var a = FromV6(b);
        return a;
    }

    public static FlowAddress Parse(string text) => FromIPAddress(IPAddress.Parse(text));

    public void WriteV6(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, Hi);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Lo);
    }

    public IPAddress ToIPAddress()
    {
        if (IsV4)
        {
            return new IPAddress(BinaryPrimitives.ReverseEndianness(V4));
        }
        Span<byte> b = stackalloc byte[16];
        WriteV6(b);
        return new IPAddress(b);
    }

    /// <summary>Formats without allocating for IPv4; IPv6 goes through RFC 5952 formatting.</summary>
    public bool TryFormat(Span<char> destination, out int written)
    {
        if (IsV4)
        {
            return TryFormatV4(V4, destination, out written);
        }
        return ToIPAddress().TryFormat(destination, out written);
    }

    internal static bool TryFormatV4(uint v, Span<char> destination, out int written)
    {
        written = 0;
        for (var i = 3; i >= 0; i--)
        {
            var octet = (byte)(v >> (i * 8));
            if (!octet.TryFormat(destination[written..], out var n))
            {
                return false;
            }
            written += n;
            if (i > 0)
            {
                if (written >= destination.Length)
                {
                    return false;
                }
                destination[written++] = '.';
            }
        }
        return true;
    }

    public override string ToString()
    {
        Span<char> buffer = stackalloc char[48];
        return TryFormat(buffer, out var n) ? new string(buffer[..n]) : "?";
    }

    public int CompareTo(FlowAddress other)
    {
        var c = Hi.CompareTo(other.Hi);
        return c != 0 ? c : Lo.CompareTo(other.Lo);
    }
}
