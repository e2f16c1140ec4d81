using System.Buffers.Binary;
using System.Net;

namespace Flowline.Wire.Bgp;

/// <summary>BGP message types (RFC 4271 section 4.1; ROUTE-REFRESH from RFC 2918).</summary>
public enum BgpMessageType : byte { Open = 1, Update = 2, Notification = 3, Keepalive = 4, RouteRefresh = 5 }

/// <summary>An address family and subsequent address family (RFC 4760): FlowSpec is SAFI 133 on AFI 1 (IPv4) or 2 (IPv6).</summary>
public readonly record struct BgpFamily(ushort Afi, byte Safi)
{
    public static readonly BgpFamily Ipv4Unicast = new(1, 1), Ipv6Unicast = new(2, 1), Ipv4FlowSpec = new(1, 133), Ipv6FlowSpec = new(2, 133);
    public bool IsFlowSpec => Safi == 133;
    public override string ToString() => (Afi, Safi) switch
    {
        (1, 1) => "ipv4-unicast", (2, 1) => "ipv6-unicast", (1, 133) => "ipv4-flowspec", (2, 133) => "ipv6-flowspec", _ => $"afi {Afi} safi {Safi}",
    };
}

/// <summary>An OPEN's contents (RFC 4271 4.2) with the capabilities Flowline speaks: multiprotocol (RFC 4760), route refresh (RFC 2918) and four-octet AS numbers (RFC 6793).</summary>
public sealed record BgpOpen(uint As, ushort HoldTime, IPAddress RouterId, IReadOnlyList<BgpFamily> Families, bool RouteRefresh = true, bool FourOctetAs = true);

/// <summary>A NOTIFICATION (RFC 4271 4.5): error code, subcode, data.</summary>
public sealed record BgpNotification(byte Code, byte Subcode, byte[] Data)
{
    public override string ToString() => (Code, Subcode) switch
    {
        (1, _) => $"message header error {Subcode}",
        (2, 2) => "OPEN: bad peer AS",
        (2, 6) => "OPEN: unacceptable hold time",
        (2, 7) => "OPEN: unsupported capability",
        (2, _) => $"OPEN message error {Subcode}",
        (3, _) => $"UPDATE message error {Subcode}",
        (4, _) => "hold timer expired",
        (5, _) => "finite state machine error",
        (6, _) => $"cease {Subcode}",
        _ => $"error {Code}/{Subcode}",
    };
}

/// <summary>
/// BGP-4 messages (RFC 4271): the 19-octet header (marker, length, type) around OPEN, UPDATE,
/// NOTIFICATION and KEEPALIVE, and the UPDATEs Flowline sends: FlowSpec rules announced in MP_REACH_NLRI
/// (RFC 4760, no next hop) with their actions as extended communities, or withdrawn in MP_UNREACH_NLRI.
/// Reading checks every length against what arrived (4,096 octets at most, RFC 4271 section 4.1).
/// </summary>
public static class BgpMessage
{
    public const int HeaderLength = 19, MaxLength = 4096;
    /// <summary>AS_TRANS (RFC 6793): the two-octet AS an OPEN carries for a four-octet one.</summary>
    public const ushort AsTrans = 23456;

    public static byte[] Frame(BgpMessageType type, ReadOnlySpan<byte> body)
    {
        if (HeaderLength + body.Length > MaxLength) throw new ArgumentException($"a BGP message of {HeaderLength + body.Length} octets is longer than {MaxLength}");
        var m = new byte[HeaderLength + body.Length];
        m.AsSpan(0, 16).Fill(0xFF);
        BinaryPrimitives.WriteUInt16BigEndian(m.AsSpan(16), (ushort)m.Length);
        m[18] = (byte)type;
        body.CopyTo(m.AsSpan(HeaderLength));
        return m;
    }

    /// <summary>The length of the message at the start of <paramref name="data"/> once its header has arrived (else 0).</summary>
    /// <exception cref="FormatException">A bad marker or length (RFC 4271 6.1: connection not synchronized, bad message length).</exception>
    public static int PeekLength(ReadOnlySpan<byte> data)
    {
        if (data.Length < HeaderLength) return 0;
        foreach (var b in data[..16])
        {
            if (b != 0xFF) throw new FormatException("the marker is not all ones (connection not synchronized)");
        }
        var length = BinaryPrimitives.ReadUInt16BigEndian(data[16..]);
        if (length is < HeaderLength or > MaxLength) throw new FormatException($"a message length of {length}");
        return length;
    }

    public static byte[] Keepalive() => Frame(BgpMessageType.Keepalive, []);

    public static byte[] Notification(BgpNotification n) => Frame(BgpMessageType.Notification, [n.Code, n.Subcode, .. n.Data]);

    public static byte[] Open(BgpOpen open)
    {
        var caps = new List<byte>();
        foreach (var f in open.Families) caps.AddRange([1, 4, (byte)(f.Afi >> 8), (byte)f.Afi, 0, f.Safi]);
        if (open.RouteRefresh) caps.AddRange([2, 0]);
        if (open.FourOctetAs) caps.AddRange([65, 4, (byte)(open.As >> 24), (byte)(open.As >> 16), (byte)(open.As >> 8), (byte)open.As]);
        var id = open.RouterId.GetAddressBytes();
        if (id.Length != 4) throw new ArgumentException("the BGP identifier is an IPv4 address");
        var myAs = open.As > ushort.MaxValue ? AsTrans : (ushort)open.As;
        byte[] body = [4, (byte)(myAs >> 8), (byte)myAs, (byte)(open.HoldTime >> 8), (byte)open.HoldTime, .. id, (byte)(caps.Count + 2), 2, (byte)caps.Count, .. caps];
        return Frame(BgpMessageType.Open, body);
    }

    /// <summary>Reads an OPEN's body (after the header).</summary>
    public static BgpOpen ReadOpen(ReadOnlySpan<byte> body)
    {
        if (body.Length < 10) throw new FormatException("an OPEN shorter than 10 octets");
        if (body[0] != 4) throw new FormatException($"BGP version {body[0]}");
        uint myAs = BinaryPrimitives.ReadUInt16BigEndian(body[1..]);
        var hold = BinaryPrimitives.ReadUInt16BigEndian(body[3..]);
        var id = new IPAddress(body.Slice(5, 4));
        var paramsLength = body[9];
        if (10 + paramsLength > body.Length) throw new FormatException("OPEN parameters past the end");
        var families = new List<BgpFamily>();
        bool refresh = false, fourOctet = false;
        var p = body.Slice(10, paramsLength);
        while (p.Length >= 2)
        {
            int type = p[0], length = p[1];
            if (2 + length > p.Length) throw new FormatException("an OPEN parameter past the end");
            var caps = p.Slice(2, length);
            p = p[(2 + length)..];
            if (type != 2) continue;
            while (caps.Length >= 2)
            {
                int code = caps[0], size = caps[1];
                if (2 + size > caps.Length) throw new FormatException("a capability past the end");
                var value = caps.Slice(2, size);
                caps = caps[(2 + size)..];
                if (code == 1 && size == 4) families.Add(new BgpFamily(BinaryPrimitives.ReadUInt16BigEndian(value), value[3]));
                else if (code is 2 or 128) refresh = true;
                else if (code == 65 && size == 4)
                {
                    fourOctet = true;
                    myAs = BinaryPrimitives.ReadUInt32BigEndian(value);
                }
            }
        }
        return new BgpOpen(myAs, hold, id, families, refresh, fourOctet);
    }

    /// <summary>
    /// An UPDATE announcing FlowSpec rules of one family with their actions (and, when given, standard
    /// communities such as RFC 7999's blackhole), from <paramref name="localAs"/>: ORIGIN IGP, an AS_PATH of
    /// the local AS towards an external peer (empty towards an internal one, with LOCAL_PREF 100).
    /// </summary>
    public static byte[] Announce(BgpFamily family, IReadOnlyList<FlowSpecRule> rules, IReadOnlyList<FlowSpecAction> actions, uint localAs, bool external,
        IReadOnlyList<uint>? communities = null)
    {
        var attributes = new List<byte>();
        Attribute(attributes, 0x40, 1, [0]); // ORIGIN: IGP
        Attribute(attributes, 0x40, 2, external ? [2, 1, (byte)(localAs >> 24), (byte)(localAs >> 16), (byte)(localAs >> 8), (byte)localAs] : []);
        if (!external) Attribute(attributes, 0x40, 5, [0, 0, 0, 100]);
        if (communities is { Count: > 0 })
        {
            var c = new List<byte>();
            foreach (var value in communities) c.AddRange([(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value]);
            Attribute(attributes, 0xC0, 8, [.. c]);
        }
        if (actions.Count > 0) Attribute(attributes, 0xC0, 16, [.. actions.SelectMany(a => a.Encode())]);
        var reach = new List<byte> { (byte)(family.Afi >> 8), (byte)family.Afi, family.Safi, 0, 0 }; // no next hop, reserved
        foreach (var r in rules) reach.AddRange(r.Encode());
        Attribute(attributes, 0x80, 14, [.. reach]);
        return Update(attributes);
    }

    /// <summary>An UPDATE withdrawing FlowSpec rules of one family (MP_UNREACH_NLRI).</summary>
    public static byte[] Withdraw(BgpFamily family, IReadOnlyList<FlowSpecRule> rules)
    {
        var attributes = new List<byte>();
        var unreach = new List<byte> { (byte)(family.Afi >> 8), (byte)family.Afi, family.Safi };
        foreach (var r in rules) unreach.AddRange(r.Encode());
        Attribute(attributes, 0x80, 15, [.. unreach]);
        return Update(attributes);
    }

    private static byte[] Update(List<byte> attributes) =>
        Frame(BgpMessageType.Update, [0, 0, (byte)(attributes.Count >> 8), (byte)attributes.Count, .. attributes]);

    private static void Attribute(List<byte> into, byte flags, byte type, byte[] value)
    {
        if (value.Length > 255)
        {
            into.AddRange([(byte)(flags | 0x10), type, (byte)(value.Length >> 8), (byte)value.Length]);
        }
        else into.AddRange([flags, type, (byte)value.Length]);
        into.AddRange(value);
    }

    /// <summary>What an UPDATE carries of FlowSpec: the rules announced with their actions, and those withdrawn.</summary>
    public sealed record FlowSpecUpdate(BgpFamily? Family, List<FlowSpecRule> Announced, List<FlowSpecAction> Actions, List<uint> Communities, List<FlowSpecRule> Withdrawn);

    /// <summary>Reads the FlowSpec content of an UPDATE's body (other families and attributes are skipped).</summary>
    public static FlowSpecUpdate ReadUpdate(ReadOnlySpan<byte> body)
    {
        if (body.Length < 4) throw new FormatException("an UPDATE shorter than 4 octets");
        var withdrawnLength = BinaryPrimitives.ReadUInt16BigEndian(body);
        if (2 + withdrawnLength + 2 > body.Length) throw new FormatException("withdrawn routes past the end");
        var attributesLength = BinaryPrimitives.ReadUInt16BigEndian(body[(2 + withdrawnLength)..]);
        var a = body.Slice(4 + withdrawnLength);
        if (attributesLength > a.Length) throw new FormatException("path attributes past the end");
        a = a[..attributesLength];
        var update = new FlowSpecUpdate(null, [], [], [], []);
        BgpFamily? family = null;
        while (a.Length > 0)
        {
            if (a.Length < 3) throw new FormatException("a path attribute header cut short");
            var flags = a[0];
            var type = a[1];
            int length, at;
            if ((flags & 0x10) != 0)
            {
                if (a.Length < 4) throw new FormatException("an extended-length attribute header cut short");
                (length, at) = (BinaryPrimitives.ReadUInt16BigEndian(a[2..]), 4);
            }
            else (length, at) = (a[2], 3);
            if (at + length > a.Length) throw new FormatException($"path attribute {type} past the end");
            var value = a.Slice(at, length);
            a = a[(at + length)..];
            switch (type)
            {
                case 8:
                    for (var i = 0; i + 4 <= value.Length; i += 4) update.Communities.Add(BinaryPrimitives.ReadUInt32BigEndian(value[i..]));
                    break;
                case 16:
                    for (var i = 0; i + 8 <= value.Length; i += 8)
                    {
                        if (FlowSpecAction.Decode(value.Slice(i, 8)) is { } action) update.Actions.Add(action);
                    }
                    break;
                case 14 or 15:
                    if (value.Length < 3) throw new FormatException($"MP_{(type == 14 ? "" : "UN")}REACH_NLRI cut short");
                    var f = new BgpFamily(BinaryPrimitives.ReadUInt16BigEndian(value), value[2]);
                    if (!f.IsFlowSpec) break;
                    family = f;
                    var nlri = value[3..];
                    if (type == 14)
                    {
                        if (nlri.Length < 1 || 1 + nlri[0] + 1 > nlri.Length) throw new FormatException("MP_REACH_NLRI's next hop past the end");
                        nlri = nlri[(1 + nlri[0] + 1)..];
                    }
                    while (nlri.Length > 0)
                    {
                        var rule = FlowSpecRule.Decode(nlri, f.Afi == 2, out var used);
                        (type == 14 ? update.Announced : update.Withdrawn).Add(rule);
                        nlri = nlri[used..];
                    }
                    break;
            }
        }
        return update with { Family = family };
    }
}
