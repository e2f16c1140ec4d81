using System.Globalization;
using System.Net;
using Flowline.Records;

namespace Flowline.Query;

/// <summary>The values of primitives: prefixes, addresses, MAC addresses and TCP flags.</summary>
public sealed partial class FilterParser
{
    private Prefix HostPrefix()
    {
        var column = Column;
        var word = Take("an IP address");
        var a = Address(word, column);
        return Prefix.Create(a, a.IsV4 ? 32 : 128);
    }

    private Prefix NetPrefix()
    {
        var column = Column;
        var word = Take("a network such as 10.0.0.0/8");
        var slash = word.IndexOf('/');
        if (slash < 0)
        {
            // "net 10.0.0.0 255.0.0.0"
            var address = Address(word, column);
            if (!address.IsV4) throw ErrorAt(column, $"expected ADDRESS/LENGTH for an IPv6 network, found '{word}'");
            var maskColumn = Column;
            var maskWord = Take("a netmask such as 255.255.255.0, or write ADDRESS/LENGTH");
            var mask = Address(maskWord, maskColumn);
            var bits = mask.IsV4 ? System.Numerics.BitOperations.PopCount(mask.V4) : -1;
            if (bits < 0 || (bits > 0 && mask.V4 != uint.MaxValue << (32 - bits)))
            {
                throw ErrorAt(maskColumn, $"'{maskWord}' is not a contiguous IPv4 netmask");
            }
            return Prefix.Create(address, bits);
        }
        // As nfdump, a network may leave out its trailing zero bytes: 172.16/16, 10.1.2/24.
        var a = Address(word[..slash], column, minimumBytes: 2);
        if (!int.TryParse(word[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var length) || length > (a.IsV4 ? 32 : 128))
        {
            throw ErrorAt(column + slash + 1, $"'{word[(slash + 1)..]}' is not a prefix length (0-{(a.IsV4 ? 32 : 128)})");
        }
        return Prefix.Create(a, length);
    }

    private List<Prefix> PrefixList()
    {
        if (!Accept("[")) throw Error($"expected '[' to start the address list, found '{Peek ?? "the end of the filter"}'");
        var listColumn = Column;
        var list = new List<Prefix>();
        while (!Accept("]"))
        {
            if (Peek is null) throw Error("expected ']' to close the address list, found the end of the filter");
            list.Add(Peek.Contains('/') ? NetPrefix() : HostPrefix());
        }
        if (list.Count == 0) throw ErrorAt(listColumn, "the address list is empty");
        return list;
    }

    /// <summary>
    /// An IPv6 address, or an IPv4 address in dotted decimal as nfdump reads it: four bytes (fewer, down to
    /// <paramref name="minimumBytes"/>, for a network, the rest zero), each 0-255 in decimal (010 is ten). Not the
    /// system's inet_aton forms, where 172.16 is 172.0.0.16, 010 is octal and 0x0a000001 or 167772161 are addresses.
    /// </summary>
    private FlowAddress Address(string word, int? column = null, int minimumBytes = 4)
    {
        var at = column ?? Column - 1;
        if (word.Contains(':'))
        {
            if (!IPAddress.TryParse(word, out var ip6) || ip6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6 || word.Contains('/'))
            {
                throw ErrorAt(at, $"expected an IP address, found '{word}'");
            }
            return FlowAddress.FromIPAddress(ip6);
        }
        var parts = word.Split('.');
        uint v4 = 0;
        for (var i = 0; i < parts.Length; i++)
        {
            if (parts.Length > 4 || parts[i].Length is 0 or > 3 || !parts[i].All(char.IsAsciiDigit) || int.Parse(parts[i], CultureInfo.InvariantCulture) > 255)
            {
                throw ErrorAt(at, $"expected an IP address, found '{word}'");
            }
            v4 |= (uint)int.Parse(parts[i], CultureInfo.InvariantCulture) << (24 - 8 * i);
        }
        if (parts.Length < minimumBytes)
        {
            throw ErrorAt(at, minimumBytes == 4
                ? $"'{word}' is an incomplete IP address: write all four bytes (or a network with its length, e.g. {word}/{8 * parts.Length})"
                : $"'{word}' is an incomplete network: write at least two bytes, e.g. {word}.0/{8 * parts.Length}");
        }
        return FlowAddress.FromV4(v4);
    }

    private ulong MacValue()
    {
        var column = Column;
        var word = Take("a MAC address such as 02:00:00:00:00:01");
        // Six octets of one or two hexadecimal digits, as ether_aton reads them (0:bb:0:0:3:d9), or with hyphens.
        var octets = word.Split(word.Contains(':', StringComparison.Ordinal) ? ':' : '-');
        var hex = octets.Length == 6 && octets.All(o => o.Length is 1 or 2) ? string.Concat(octets.Select(o => o.PadLeft(2, '0'))) : word;
        if (hex.Length != 12 || !ulong.TryParse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var mac))
        {
            throw ErrorAt(column, $"expected a MAC address such as 02:00:00:00:00:01, found '{word}'");
        }
        return mac;
    }

    private ushort FlagMask()
    {
        var column = Column;
        var word = Take("TCP flag letters (F S R P A U E C, X for all) after 'flags'");
        ushort mask = 0;
        foreach (var c in word.ToUpperInvariant())
        {
            mask |= c switch
            {
                'F' => (ushort)0x01,
                'S' => (ushort)0x02,
                'R' => (ushort)0x04,
                'P' => (ushort)0x08,
                'A' => (ushort)0x10,
                'U' => (ushort)0x20,
                'E' => (ushort)0x40,
                'C' => (ushort)0x80,
                'X' => (ushort)0x3F,
                _ => throw ErrorAt(column, $"'{c}' is not a TCP flag (F S R P A U E C, X for all)"),
            };
        }
        return mask;
    }
}
