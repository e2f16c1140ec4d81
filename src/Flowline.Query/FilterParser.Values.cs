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
        if (!IPAddress.TryParse(word, out var ip) || word.Contains('/'))
        {
            throw ErrorAt(column, $"expected an IP address, found '{word}'");
        }
        var a = FlowAddress.FromIPAddress(ip);
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
        var a = Address(word[..slash], column);
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

    private FlowAddress Address(string word, int? column = null)
    {
        if (!IPAddress.TryParse(word, out var ip) || word.Contains('/'))
        {
            throw ErrorAt(column ?? Column - 1, $"expected an IP address, found '{word}'");
        }
        return FlowAddress.FromIPAddress(ip);
    }

    private ulong MacValue()
    {
        var column = Column;
        var word = Take("a MAC address such as 02:00:00:00:00:01");
        var hex = word.Replace(":", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal);
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
