using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Flowline.Records;

namespace Flowline.Wire.Bgp;

/// <summary>The component types of a Flow Specification (RFC 8955 section 4.2.2; RFC 8956 for IPv6, which adds the flow label).</summary>
public enum FlowSpecType : byte
{
    DestinationPrefix = 1, SourcePrefix = 2, Protocol = 3, Port = 4, DestinationPort = 5, SourcePort = 6,
    IcmpType = 7, IcmpCode = 8, TcpFlags = 9, PacketLength = 10, Dscp = 11, Fragment = 12, FlowLabel = 13,
}

/// <summary>
/// One term of a numeric component (RFC 8955 section 4.2.1.1): compared with &lt;, &gt; and/or = (all three
/// false: never; all three true: always), ANDed with the term before it or ORed.
/// </summary>
public readonly record struct NumericTerm(bool And, bool Lt, bool Gt, bool Eq, ulong Value)
{
    public static NumericTerm Equal(ulong value, bool and = false) => new(and, false, false, true, value);
    public static NumericTerm AtLeast(ulong value, bool and = false) => new(and, false, true, true, value);
    public static NumericTerm AtMost(ulong value, bool and = false) => new(and, true, false, true, value);

    public bool Matches(ulong v) => (Lt && v < Value) || (Gt && v > Value) || (Eq && v == Value);

    public override string ToString() =>
        (And ? "&" : "") + (Lt, Gt, Eq) switch
        {
            (false, false, true) => "=", (false, true, false) => ">", (false, true, true) => ">=", (true, false, false) => "<",
            (true, false, true) => "<=", (true, true, false) => "!=", (true, true, true) => "true", _ => "false",
        } + Value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>One term of a bitmask component (RFC 8955 section 4.2.1.2): with <see cref="Match"/> every bit of the value is set, else any; <see cref="Not"/> negates.</summary>
public readonly record struct BitmaskTerm(bool And, bool Not, bool Match, ulong Value)
{
    public override string ToString() => (And ? "&" : "") + (Not ? "!" : "") + (Match ? "=" : "") + "0x" + Value.ToString("x", CultureInfo.InvariantCulture);
}

/// <summary>
/// A component: a prefix (types 1 and 2; for IPv6 with the offset of RFC 8956), or a list of numeric or
/// bitmask terms (bitmask for TCP flags and fragment, numeric otherwise).
/// </summary>
public sealed record FlowSpecComponent(FlowSpecType Type, Prefix Prefix = default, byte Offset = 0, IReadOnlyList<NumericTerm>? Numeric = null, IReadOnlyList<BitmaskTerm>? Bitmask = null)
{
    public static bool IsPrefix(FlowSpecType t) => t is FlowSpecType.DestinationPrefix or FlowSpecType.SourcePrefix;
    public static bool IsBitmask(FlowSpecType t) => t is FlowSpecType.TcpFlags or FlowSpecType.Fragment;

    public static FlowSpecComponent Of(FlowSpecType type, params NumericTerm[] terms) => new(type, Numeric: terms);
    public static FlowSpecComponent Of(FlowSpecType type, params BitmaskTerm[] terms) => new(type, Bitmask: terms);

    public override string ToString() => IsPrefix(Type)
        ? $"{Type}={Prefix}" + (Offset > 0 ? $"@{Offset}" : "")
        : Numeric is not null
            ? $"{Type}{string.Concat(Numeric.Select((t, i) => (i > 0 && !t.And ? "|" : "") + t))}"
            : $"{Type}:{string.Concat(Bitmask!.Select((t, i) => (i > 0 && !t.And ? "|" : "") + t))}";
}

/// <summary>
/// A Flow Specification NLRI (RFC 8955 for IPv4, RFC 8956 for IPv6): its components in ascending type order.
/// <see cref="Encode"/> writes the length (one octet below 240, else two) and the components; <see cref="Decode"/>
/// reads one and refuses what RFC 8955 section 4.2 calls malformed (types out of order or repeated, lengths
/// past the end, prefixes longer than the family allows, a term list without its end).
/// </summary>
public sealed record FlowSpecRule(bool Ipv6, IReadOnlyList<FlowSpecComponent> Components)
{
    /// <summary>The longest NLRI value RFC 8955 allows (the two-octet length's 12 bits).</summary>
    public const int MaxLength = 4095;

    public FlowSpecComponent? this[FlowSpecType type] => Components.FirstOrDefault(c => c.Type == type);

    public byte[] Encode()
    {
        var body = new List<byte>();
        var last = 0;
        foreach (var c in Components)
        {
            if ((int)c.Type <= last) throw new ArgumentException($"components must come in ascending type order, once each ({c.Type} after {(FlowSpecType)last})");
            if (c.Type == FlowSpecType.FlowLabel && !Ipv6) throw new ArgumentException("the flow label is an IPv6 component");
            last = (int)c.Type;
            body.Add((byte)c.Type);
            if (FlowSpecComponent.IsPrefix(c.Type)) WritePrefix(body, c);
            else if (FlowSpecComponent.IsBitmask(c.Type)) WriteTerms(body, c.Bitmask ?? throw new ArgumentException($"{c.Type} takes bitmask terms"), t => ((byte)((t.And ? 0x40 : 0) | (t.Not ? 0x02 : 0) | (t.Match ? 0x01 : 0)), t.Value));
            else WriteTerms(body, c.Numeric ?? throw new ArgumentException($"{c.Type} takes numeric terms"), t => ((byte)((t.And ? 0x40 : 0) | (t.Lt ? 0x04 : 0) | (t.Gt ? 0x02 : 0) | (t.Eq ? 0x01 : 0)), t.Value));
        }
        if (body.Count > MaxLength) throw new ArgumentException($"a flow specification of {body.Count} octets is longer than {MaxLength}");
        var head = body.Count < 240 ? new[] { (byte)body.Count } : [(byte)(0xF0 | body.Count >> 8), (byte)body.Count];
        return [.. head, .. body];
    }

    private void WritePrefix(List<byte> body, FlowSpecComponent c)
    {
        var family = Ipv6 ? 128 : 32;
        var length = Ipv6 ? c.Prefix.Length : c.Prefix.WrittenLength;
        // Any 128 bits are an IPv6 prefix (the IPv4-mapped range included); an IPv4 rule takes IPv4 prefixes only.
        if (!Ipv6 && !c.Prefix.Network.IsV4 && !c.Prefix.IsNone) throw new ArgumentException($"{c.Prefix} is not an IPv4 prefix");
        if (length < c.Offset || length > family) throw new ArgumentException($"prefix length {length} with offset {c.Offset}");
        Span<byte> address = stackalloc byte[16];
        c.Prefix.Network.WriteV6(address);
        var bytes = Ipv6 ? address : address[12..];
        body.Add((byte)length);
        if (Ipv6) body.Add(c.Offset);
        else if (c.Offset != 0) throw new ArgumentException("an IPv4 prefix has no offset");
        // The pattern: bits [offset, length), shifted to start at the pattern's first bit (RFC 8956 section 3.1).
        var bits = length - c.Offset;
        var pattern = new byte[(bits + 7) / 8];
        for (var i = 0; i < bits; i++)
        {
            var source = c.Offset + i;
            if ((bytes[source / 8] & (0x80 >> (source % 8))) != 0) pattern[i / 8] |= (byte)(0x80 >> (i % 8));
        }
        body.AddRange(pattern);
    }

    private static void WriteTerms<T>(List<byte> body, IReadOnlyList<T> terms, Func<T, (byte Op, ulong Value)> op)
    {
        if (terms.Count == 0) throw new ArgumentException("a component needs at least one term");
        for (var i = 0; i < terms.Count; i++)
        {
            var (bits, value) = op(terms[i]);
            var size = value <= 0xFF ? 0 : value <= 0xFFFF ? 1 : value <= 0xFFFF_FFFF ? 2 : 3;
            body.Add((byte)(bits | (i == terms.Count - 1 ? 0x80 : 0) | size << 4));
            for (var b = (1 << size) - 1; b >= 0; b--) body.Add((byte)(value >> (8 * b)));
        }
    }

    /// <summary>Reads one NLRI from the start of <paramref name="data"/>; <paramref name="consumed"/>: its octets, length included.</summary>
    /// <exception cref="FormatException">Malformed, with what and where.</exception>
    public static FlowSpecRule Decode(ReadOnlySpan<byte> data, bool ipv6, out int consumed)
    {
        if (data.Length == 0) throw new FormatException("no flow specification: empty");
        int length, at;
        if (data[0] < 0xF0) (length, at) = (data[0], 1);
        else if (data.Length >= 2) (length, at) = ((data[0] & 0x0F) << 8 | data[1], 2);
        else throw new FormatException("a two-octet length cut short");
        if (at + length > data.Length) throw new FormatException($"a flow specification of {length} octets with {data.Length - at} left");
        var body = data.Slice(at, length);
        consumed = at + length;
        var components = new List<FlowSpecComponent>();
        var last = 0;
        var i = 0;
        while (i < body.Length)
        {
            var type = body[i++];
            if (type <= last || type > (ipv6 ? 13 : 12)) throw new FormatException($"component type {type} at octet {at + i - 1} (after {last}; types come in ascending order, 1 to {(ipv6 ? 13 : 12)})");
            last = type;
            var t = (FlowSpecType)type;
            if (FlowSpecComponent.IsPrefix(t)) components.Add(ReadPrefix(body, ref i, t, ipv6));
            else if (FlowSpecComponent.IsBitmask(t))
            {
                var terms = new List<BitmaskTerm>();
                foreach (var (op, value) in ReadTerms(body, ref i, t)) terms.Add(new BitmaskTerm((op & 0x40) != 0, (op & 0x02) != 0, (op & 0x01) != 0, value));
                components.Add(new FlowSpecComponent(t, Bitmask: terms));
            }
            else
            {
                var terms = new List<NumericTerm>();
                foreach (var (op, value) in ReadTerms(body, ref i, t)) terms.Add(new NumericTerm((op & 0x40) != 0, (op & 0x04) != 0, (op & 0x02) != 0, (op & 0x01) != 0, value));
                components.Add(new FlowSpecComponent(t, Numeric: terms));
            }
        }
        if (components.Count == 0) throw new FormatException("a flow specification without components");
        return new FlowSpecRule(ipv6, components);
    }

    private static FlowSpecComponent ReadPrefix(ReadOnlySpan<byte> body, ref int i, FlowSpecType t, bool ipv6)
    {
        if (i >= body.Length) throw new FormatException($"{t}: no prefix length");
        int length = body[i++], offset = 0;
        if (ipv6)
        {
            if (i >= body.Length) throw new FormatException($"{t}: no offset");
            offset = body[i++];
        }
        if (length > (ipv6 ? 128 : 32) || offset > length) throw new FormatException($"{t}: prefix length {length}, offset {offset}");
        var bytes = (length - offset + 7) / 8;
        if (i + bytes > body.Length) throw new FormatException($"{t}: a prefix of {length} bits cut short");
        Span<byte> address = stackalloc byte[16];
        for (var b = 0; b < length - offset; b++)
        {
            if ((body[i + b / 8] & (0x80 >> (b % 8))) == 0) continue;
            var target = (ipv6 ? 0 : 96) + offset + b;
            address[target / 8] |= (byte)(0x80 >> (target % 8));
        }
        i += bytes;
        if (!ipv6)
        {
            address[10] = 0xFF;
            address[11] = 0xFF;
        }
        var network = FlowAddress.FromV6(address);
        return new FlowSpecComponent(t, new Prefix(network, (ipv6 ? 0 : 96) + length), (byte)offset);
    }

    private static List<(byte Op, ulong Value)> ReadTerms(ReadOnlySpan<byte> body, ref int i, FlowSpecType t)
    {
        var terms = new List<(byte, ulong)>();
        while (true)
        {
            if (i >= body.Length) throw new FormatException($"{t}: its terms end without the end-of-list bit");
            var op = body[i++];
            var size = 1 << ((op >> 4) & 3);
            if (i + size > body.Length) throw new FormatException($"{t}: a {size}-octet value cut short");
            ulong value = 0;
            for (var b = 0; b < size; b++) value = value << 8 | body[i++];
            terms.Add((op, value));
            if ((op & 0x80) != 0) return terms;
            if (terms.Count > 255) throw new FormatException($"{t}: more than 255 terms");
        }
    }

    public override string ToString()
    {
        var s = new StringBuilder(Ipv6 ? "ipv6" : "ipv4");
        foreach (var c in Components) s.Append(' ').Append(c);
        return s.ToString();
    }
}

/// <summary>
/// A traffic filtering action as a BGP extended community (RFC 8955 section 7), or the remote-triggered
/// blackhole community of RFC 7999 (a standard community, 65535:666).
/// </summary>
public abstract record FlowSpecAction
{
    /// <summary>traffic-rate-bytes (0x8006): at most <see cref="BytesPerSecond"/> (0: drop everything).</summary>
    public sealed record RateLimit(float BytesPerSecond, ushort As = 0) : FlowSpecAction;
    /// <summary>traffic-action (0x8007): sample and/or terminal.</summary>
    public sealed record TrafficAction(bool Sample, bool Terminal) : FlowSpecAction;
    /// <summary>rt-redirect, 2-octet AS (0x8008): into the VRF of this route target.</summary>
    public sealed record Redirect(ushort As, uint Value) : FlowSpecAction;
    /// <summary>traffic-marking (0x8009): set the DSCP.</summary>
    public sealed record Mark(byte Dscp) : FlowSpecAction;

    public static readonly RateLimit Drop = new(0);
    /// <summary>RFC 7999's BLACKHOLE community, 65535:666.</summary>
    public const uint Blackhole = 0xFFFF_029A;

    /// <summary>The 8-octet extended community.</summary>
    public byte[] Encode()
    {
        var c = new byte[8];
        c[0] = 0x80;
        switch (this)
        {
            case RateLimit r:
                c[1] = 0x06;
                BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(2), r.As);
                BinaryPrimitives.WriteSingleBigEndian(c.AsSpan(4), r.BytesPerSecond);
                break;
            case TrafficAction a:
                c[1] = 0x07;
                c[7] = (byte)((a.Sample ? 0x02 : 0) | (a.Terminal ? 0x01 : 0));
                break;
            case Redirect d:
                c[1] = 0x08;
                BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(2), d.As);
                BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(4), d.Value);
                break;
            case Mark m:
                c[1] = 0x09;
                c[7] = (byte)(m.Dscp & 0x3F);
                break;
        }
        return c;
    }

    /// <summary>The action an extended community carries, or null when it is not one of these.</summary>
    public static FlowSpecAction? Decode(ReadOnlySpan<byte> c)
    {
        if (c.Length != 8 || c[0] != 0x80) return null;
        return c[1] switch
        {
            0x06 => new RateLimit(BinaryPrimitives.ReadSingleBigEndian(c[4..]), BinaryPrimitives.ReadUInt16BigEndian(c[2..])),
            0x07 => new TrafficAction((c[7] & 0x02) != 0, (c[7] & 0x01) != 0),
            0x08 => new Redirect(BinaryPrimitives.ReadUInt16BigEndian(c[2..]), BinaryPrimitives.ReadUInt32BigEndian(c[4..])),
            0x09 => new Mark((byte)(c[7] & 0x3F)),
            _ => null,
        };
    }
}
