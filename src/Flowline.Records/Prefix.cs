namespace Flowline.Records;

/// <summary>An IPv4 or IPv6 prefix in the 128-bit address space (IPv4 prefixes are IPv4-mapped).</summary>
public readonly record struct Prefix(FlowAddress Network, int Length)
{
    /// <summary>Length in the 128-bit space: an IPv4 /24 is a /120 of the mapped range.</summary>
    public static Prefix Create(FlowAddress address, int length)
    {
        var bits = address.IsV4 ? 96 + length : length;
        return new Prefix(Mask(address, bits), bits);
    }

    public bool Contains(in FlowAddress a) => Mask(a, Length) == Network;

    public static FlowAddress Mask(in FlowAddress a, int bits)
    {
        if (bits >= 128) return a;
        if (bits <= 0) return default;
        if (bits <= 64) return new FlowAddress(a.Hi & (ulong.MaxValue << (64 - bits)), 0);
        return new FlowAddress(a.Hi, a.Lo & (ulong.MaxValue << (128 - bits)));
    }

    /// <summary>No prefix (default).</summary>
    public static readonly Prefix None = default;

    public bool IsNone => Length == 0 && Network.IsNone;

    /// <summary>The length as written: 24 for an IPv4 /24.</summary>
    public int WrittenLength => Network.IsV4 ? Length - 96 : Length;

    /// <summary>The /24 of an IPv4 address, the /64 of an IPv6 one.</summary>
    public static Prefix Around(FlowAddress a) => Create(a, a.IsV4 ? 24 : 64);

    /// <summary>ADDRESS/LENGTH (10.1.0.0/16, fd00::/64); the address is masked to the length.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out Prefix prefix)
    {
        prefix = default;
        var slash = text.IndexOf('/');
        if (slash < 0 || !System.Net.IPAddress.TryParse(text[..slash], out var ip)
            || !int.TryParse(text[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var length)) return false;
        var address = FlowAddress.FromIPAddress(ip);
        if (length > (address.IsV4 ? 32 : 128)) return false;
        prefix = Create(address, length);
        return true;
    }

    public override string ToString() => IsNone ? "" : $"{Network}/{WrittenLength}";
}
