using System.Buffers.Binary;
using System.Globalization;
using Flowline.Enrichment;
using Flowline.Records;

namespace Flowline.Realtime;

/// <summary>What key elements look things up in: symbol names, the address database, address groups.</summary>
public sealed class KeyContext(ISymbolNames symbols, GeoDatabase? geo = null)
{
    public ISymbolNames Symbols { get; } = symbols;
    public GeoDatabase Geo { get; set; } = geo ?? GeoDatabase.Empty;
    public AddressGroups Groups { get; } = new();

    /// <summary>
    /// Whether <c>group:</c> may read the operator's address groups; false where a tenant writes the keys and
    /// filter (its real-time definitions), since the groups' names and ranges are the operator's.
    /// </summary>
    public bool OperatorGroups { get; init; } = true;
}

/// <summary>
/// One element of a flow key in sFlow-RT's vocabulary (<c>ipsource</c>, <c>tcpdestinationport</c>,
/// <c>country:ipsource</c>, <c>null:[asn:ipdestination]:unknown</c> ...). It reads its value from a row of
/// a batch into a key buffer (a tag byte and 16 value bytes) and renders that value as sFlow-RT would.
/// A row without the value (an IPv6 packet for <c>ipsource</c>, UDP for <c>tcpsourceport</c>) is absent:
/// the row does not count towards the flow unless <c>null:</c> supplies a default.
/// </summary>
public abstract class KeyElement
{
    public const int Size = 17;

    protected KeyElement(string text) => Text = text;

    /// <summary>The element as written in a definition.</summary>
    public string Text { get; }

    /// <summary>True for Flowline's tenancy keys: each of a flow's rows (one per port it touches) counts.</summary>
    public virtual bool Tenancy => false;

    public abstract bool Read(FlowBatch b, int i, out UInt128 value);

    public abstract string Render(UInt128 value);

    /// <summary>
    /// What a filter literal of a typed element must be ("an IP address or prefix"), named when one is not; null
    /// for elements whose literals are compared as text.
    /// </summary>
    public virtual string? LiteralForm => null;

    /// <summary>A filter literal as a value; <paramref name="bits"/> leading bits must match (addresses take prefixes).</summary>
    public virtual bool TryParse(string text, out UInt128 value, out int bits)
    {
        value = default;
        bits = 128;
        return false;
    }

    /// <summary>Writes tag and value at <paramref name="key"/>; false when the row has no value.</summary>
    public virtual bool Write(FlowBatch b, int i, Span<byte> key)
    {
        if (!Read(b, i, out var v)) return false;
        key[0] = 1;
        BinaryPrimitives.WriteUInt128LittleEndian(key[1..], v);
        return true;
    }

    public virtual string Render(ReadOnlySpan<byte> key) => Render(BinaryPrimitives.ReadUInt128LittleEndian(key[1..]));

    /// <summary>The element's text for a row (for filters that compare text), or null when absent.</summary>
    public string? TextOf(FlowBatch b, int i)
    {
        Span<byte> key = stackalloc byte[Size];
        return Write(b, i, key) ? Render(key) : null;
    }

    internal static UInt128 Of(in FlowAddress a) => new(a.Hi, a.Lo);

    internal static FlowAddress AddressOf(UInt128 v) => new((ulong)(v >> 64), (ulong)v);
}

/// <summary>ipsource, ipdestination (IPv4), ip6source, ip6destination (IPv6), agent.</summary>
internal sealed class AddressElement(string text, Func<FlowBatch, int, FlowAddress> column, int version) : KeyElement(text)
{
    /// <summary>4 or 6 for a key of one family, 0 for either.</summary>
    public int Version => version;

    public override bool Read(FlowBatch b, int i, out UInt128 value)
    {
        value = default;
        if (version != 0 && b.IpVersion[i] != version) return false;
        var a = column(b, i);
        value = Of(a);
        return !a.IsNone;
    }

    public override string Render(UInt128 value) => AddressOf(value).ToString();

    public override string LiteralForm => "an IP address or prefix (a.b.c.d/n, with n up to 32, or IPv6 up to /128)";

    public override bool TryParse(string text, out UInt128 value, out int bits)
    {
        value = default;
        bits = 128;
        var slash = text.IndexOf('/');
        if (!System.Net.IPAddress.TryParse(slash < 0 ? text : text[..slash], out var ip)) return false;
        var a = FlowAddress.FromIPAddress(ip);
        value = Of(a);
        if (slash < 0) return true;
        if (!int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var prefix)) return false;
        var max = a.IsV4 ? 32 : 128;
        if (prefix > max) return false;
        bits = a.IsV4 ? 96 + prefix : prefix;
        return true;
    }
}

/// <summary>A number: protocol, ports, VLAN, interfaces ...; a negative reading is absent.</summary>
internal sealed class NumberElement(string text, Func<FlowBatch, int, long> read) : KeyElement(text)
{
    public override bool Read(FlowBatch b, int i, out UInt128 value)
    {
        var n = read(b, i);
        value = (ulong)Math.Max(0, n);
        return n >= 0;
    }

    public override string Render(UInt128 value) => ((ulong)value).ToString(CultureInfo.InvariantCulture);

    public override string LiteralForm => "a whole number";

    public override bool TryParse(string text, out UInt128 value, out int bits)
    {
        bits = 128;
        var ok = ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n);
        value = n;
        return ok;
    }
}

/// <summary>macsource, macdestination: twelve upper-case hex digits, as sFlow-RT writes them.</summary>
internal sealed class MacElement(string text, bool source) : KeyElement(text)
{
    public override bool Read(FlowBatch b, int i, out UInt128 value)
    {
        var m = source ? b.SrcMac[i] : b.DstMac[i];
        value = m;
        return m != 0;
    }

    public override string Render(UInt128 value) => ((ulong)value).ToString("X12", CultureInfo.InvariantCulture);

    public override string LiteralForm => "a MAC address (twelve hexadecimal digits)";

    public override bool TryParse(string text, out UInt128 value, out int bits)
    {
        bits = 128;
        var ok = ulong.TryParse(text.Replace(":", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal),
            NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var m);
        value = m;
        return ok;
    }
}

/// <summary>Flowline's tenancy keys (account, vmi, sourcevn, destvn, app, tier, site, deployment): names from the symbol table.</summary>
internal sealed class SymbolElement(string text, Func<FlowBatch, int, uint> column, ISymbolNames names) : KeyElement(text)
{
    public override bool Tenancy => true;

    public override bool Read(FlowBatch b, int i, out UInt128 value)
    {
        var id = column(b, i);
        value = id;
        return id != 0;
    }

    public override string Render(UInt128 value) => names.Name((uint)value) ?? ((uint)value).ToString(CultureInfo.InvariantCulture);
}

/// <summary>Words for small codes: action (pass, drop).</summary>
internal sealed class WordElement(string text, Func<FlowBatch, int, uint> column, string[] words, bool tenancy) : KeyElement(text)
{
    public override bool Tenancy => tenancy;

    public override bool Read(FlowBatch b, int i, out UInt128 value)
    {
        var v = column(b, i);
        value = v;
        return v != 0 && v < words.Length;
    }

    public override string Render(UInt128 value) => (uint)value < words.Length ? words[(uint)value] : "";

    public override bool TryParse(string text, out UInt128 value, out int bits)
    {
        bits = 128;
        var k = Array.IndexOf(words, text);
        value = (uint)Math.Max(0, k);
        return k > 0;
    }
}

/// <summary>country:ADDRESS — ISO 3166 code from the address database (the enriched column when the row has it).</summary>
internal sealed class CountryElement(string text, KeyElement address, KeyContext context) : KeyElement(text)
{
    public override bool Read(FlowBatch b, int i, out UInt128 value)
    {
        value = default;
        if (!address.Read(b, i, out var a)) return false;
        var code = context.Geo.Country(AddressOf(a));
        value = code;
        return code != 0;
    }

    public override string Render(UInt128 value) => new([(char)((ushort)value >> 8), (char)((ushort)value & 0xFF)]);

    public override bool TryParse(string text, out UInt128 value, out int bits)
    {
        bits = 128;
        value = text.Length == 2 ? (UInt128)(uint)(char.ToUpperInvariant(text[0]) << 8 | char.ToUpperInvariant(text[1])) : 0;
        return text.Length == 2;
    }
}

/// <summary>asn:ADDRESS — the origin AS from the address database.</summary>
internal sealed class AsnElement(string text, KeyElement address, KeyContext context) : KeyElement(text)
{
    public override bool Read(FlowBatch b, int i, out UInt128 value)
    {
        value = default;
        if (!address.Read(b, i, out var a)) return false;
        var asn = context.Geo.Asn(AddressOf(a));
        value = asn;
        return asn != 0;
    }

    public override string Render(UInt128 value) => ((uint)value).ToString(CultureInfo.InvariantCulture);

    public override bool TryParse(string text, out UInt128 value, out int bits)
    {
        bits = 128;
        var ok = uint.TryParse(text.StartsWith("AS", StringComparison.OrdinalIgnoreCase) ? text[2..] : text, NumberStyles.None, CultureInfo.InvariantCulture, out var n);
        value = n;
        return ok;
    }
}

/// <summary>mask:ADDRESS:BITS — the address with only its first BITS bits (the network it is in).</summary>
internal sealed class MaskElement(string text, KeyElement address, int bits) : KeyElement(text)
{
    public override bool Read(FlowBatch b, int i, out UInt128 value)
    {
        if (!address.Read(b, i, out value)) return false;
        var a = AddressOf(value);
        var keep = a.IsV4 ? 96 + Math.Min(bits, 32) : Math.Min(bits, 128);
        value = keep == 0 ? 0 : value & (UInt128.MaxValue << (128 - keep));
        return true;
    }

    public override string Render(UInt128 value) => address.Render(value);

    public override string? LiteralForm => address.LiteralForm;

    public override bool TryParse(string text, out UInt128 value, out int bits) => address.TryParse(text, out value, out bits);
}

/// <summary>group:ADDRESS:GROUPS — the name of the most specific group of the address in the named set (PUT /group/{name}/json).</summary>
internal sealed class GroupElement(string text, KeyElement address, string set, KeyContext context) : KeyElement(text)
{
    public override bool Read(FlowBatch b, int i, out UInt128 value)
    {
        value = default;
        if (!address.Read(b, i, out var a)) return false;
        var g = context.Groups.Find(set, AddressOf(a));
        value = (uint)(g + 1);
        return g >= 0;
    }

    public override string Render(UInt128 value) => context.Groups.Name(set, (int)(uint)value - 1) ?? "";
}

/// <summary>or:A:B... — the first of the elements the row has.</summary>
internal sealed class OrElement(string text, KeyElement[] choices) : KeyElement(text)
{
    public override bool Tenancy => choices.Any(c => c.Tenancy);

    public override bool Read(FlowBatch b, int i, out UInt128 value)
    {
        foreach (var c in choices)
        {
            if (c.Read(b, i, out value)) return true;
        }
        value = default;
        return false;
    }

    public override bool Write(FlowBatch b, int i, Span<byte> key)
    {
        for (var k = 0; k < choices.Length; k++)
        {
            if (!choices[k].Write(b, i, key)) continue;
            key[0] = (byte)(k + 1);
            return true;
        }
        return false;
    }

    public override string Render(ReadOnlySpan<byte> key) => choices[key[0] - 1].Render(key);

    public override string Render(UInt128 value) => choices[0].Render(value);
}

/// <summary>null:ELEMENT:DEFAULT — the element, or DEFAULT when the row has none.</summary>
internal sealed class NullElement(string text, KeyElement inner, string fallback) : KeyElement(text)
{
    private const byte Default = 0xFF;

    public override bool Tenancy => inner.Tenancy;

    public override bool Read(FlowBatch b, int i, out UInt128 value)
    {
        inner.Read(b, i, out value);
        return true;
    }

    public override bool Write(FlowBatch b, int i, Span<byte> key)
    {
        if (inner.Write(b, i, key)) return true;
        key[..Size].Clear();
        key[0] = Default;
        return true;
    }

    public override string Render(ReadOnlySpan<byte> key) => key[0] == Default ? fallback : inner.Render(key);

    public override string Render(UInt128 value) => inner.Render(value);
}
