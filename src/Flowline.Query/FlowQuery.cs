using Flowline.Records;

namespace Flowline.Query;

public enum Metric : byte
{
    Bytes,
    Packets,
    Flows,
    /// <summary>nfdump's rates of a group: packets and bits a second over the span its flows cover, bytes a packet.</summary>
    Pps,
    Bps,
    Bpp,
}

/// <summary>
/// A grouping key: a canonical field, with prefix lengths for address fields
/// (<c>src_addr/24</c> groups IPv4 sources by /24; <c>src_addr/24/64</c> also IPv6 by /64), or, with
/// <paramref name="OwnMask"/>, each flow's address masked by the prefix length its exporter sent with it
/// (nfdump's <c>srcnet</c>, <c>dstnet</c>).
/// </summary>
public readonly record struct GroupKey(FlowField Field, int V4Prefix = 32, int V6Prefix = 128, bool OwnMask = false)
{
    /// <summary>The columns the key's value is made of: the field, and for a network by its own mask the mask.</summary>
    public IEnumerable<FlowField> Reads => OwnMask ? [Field, MaskField] : [Field];

    /// <summary>The mask column of an <see cref="OwnMask"/> key.</summary>
    public FlowField MaskField => Field == FlowField.DstAddr ? FlowField.DstMask : FlowField.SrcMask;

    public bool IsAddress => Field is FlowField.SrcAddr or FlowField.DstAddr or FlowField.NextHop or FlowField.Exporter
        or FlowField.UnderlaySrc or FlowField.UnderlayDst;

    /// <summary>nfdump's -A / -s names as well as canonical field names.</summary>
    private static readonly Dictionary<string, FlowField> Aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["srcip"] = FlowField.SrcAddr, ["dstip"] = FlowField.DstAddr, ["srcip4"] = FlowField.SrcAddr, ["dstip4"] = FlowField.DstAddr,
        ["srcip6"] = FlowField.SrcAddr, ["dstip6"] = FlowField.DstAddr, ["srcport"] = FlowField.SrcPort, ["dstport"] = FlowField.DstPort,
        ["proto"] = FlowField.IpProto, ["srcas"] = FlowField.SrcAs, ["dstas"] = FlowField.DstAs, ["inif"] = FlowField.InIf,
        ["outif"] = FlowField.OutIf, ["srcvlan"] = FlowField.Vlan, ["dstvlan"] = FlowField.PostVlan, ["srcmac"] = FlowField.SrcMac,
        ["dstmac"] = FlowField.DstMac, ["nexthop"] = FlowField.NextHop, ["next"] = FlowField.NextHop, ["router"] = FlowField.Exporter, ["tos"] = FlowField.Tos,
        ["nhip"] = FlowField.NextHop, ["srctos"] = FlowField.Tos, ["dir"] = FlowField.Direction, ["srcmask"] = FlowField.SrcMask,
        ["dstmask"] = FlowField.DstMask, ["srcgeo"] = FlowField.SrcCountry, ["dstgeo"] = FlowField.DstCountry,
        ["insrcmac"] = FlowField.SrcMac, ["indstmac"] = FlowField.DstMac, ["odid"] = FlowField.ObsDomain, ["opid"] = FlowField.ObsPoint,
    };

    public static bool TryParse(string text, out GroupKey key, out string? error)
    {
        key = default;
        error = null;
        var parts = text.Split('/');
        var name = parts[0];
        if (name.ToLowerInvariant() is "srcnet" or "dstnet" or "src_net" or "dst_net")
        {
            key = new GroupKey(name[0] is 's' or 'S' ? FlowField.SrcAddr : FlowField.DstAddr, OwnMask: true);
            if (parts.Length == 1) return true;
            error = $"'{text}': {name} masks each flow's address by the prefix length sent with it; for one length for all give e.g. {name[..3].ToLowerInvariant()}ip/24";
            return false;
        }
        if (!FlowFields.TryParse(name, out var field) && !Aliases.TryGetValue(name, out field))
        {
            error = NfdumpStatistic.Uncarried(name) is { } what ? $"nfdump's key '{name}' is {what}, which Flowline's records do not carry"
                : $"unknown field '{name}' (canonical names such as src_addr, dst_port, ip_proto, or nfdump's srcip, dstport, proto)";
            return false;
        }
        key = new GroupKey(field);
        if (parts.Length == 1) return true;
        if (!key.IsAddress)
        {
            error = $"'{text}': only address fields take a prefix length";
            return false;
        }
        var v6Name = name.EndsWith('6');
        if (!TryPrefixLength(parts[1], out var first) || first < 0 || first > (v6Name ? 128 : 32))
        {
            error = $"'{text}': '{parts[1]}' is not a prefix length";
            return false;
        }
        key = v6Name ? key with { V6Prefix = first } : key with { V4Prefix = first };
        if (parts.Length == 3)
        {
            if (v6Name || !TryPrefixLength(parts[2], out var second) || second < 0 || second > 128)
            {
                error = $"'{text}': '{parts[2]}' is not an IPv6 prefix length";
                return false;
            }
            key = key with { V6Prefix = second };
        }
        else if (parts.Length > 3)
        {
            error = $"'{text}': at most two prefix lengths (IPv4/IPv6)";
            return false;
        }
        return true;
    }

    /// <summary>A prefix length is digits only: no sign, no spaces around it.</summary>
    private static bool TryPrefixLength(string text, out int length) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out length);

    /// <summary>A group's value of this key as text: addresses, names behind symbol ids, times in RFC 3339, numbers.</summary>
    public string Text(KeyPart k, ISymbolNames names)
    {
        // No next hop (stored as ::) reads 0.0.0.0, as nfdump prints it.
        if (IsAddress) return Field == FlowField.NextHop && k.Hi == 0 && k.Lo == 0 ? "0.0.0.0" : new FlowAddress(k.Hi, k.Lo).ToString();
        if (FlowFields.IsSymbol(Field)) return k.Lo == 0 ? "" : names.Name((uint)k.Lo) ?? k.Lo.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Field switch
        {
            FlowField.VmiDirection => VmiDirections.Name((byte)k.Lo),
            FlowField.Action or FlowField.RevAction => FlowAction.Name((byte)k.Lo),
            FlowField.SrcCountry or FlowField.DstCountry => CountryCode.Text((ushort)k.Lo),
            FlowField.Start or FlowField.End or FlowField.TimeReceived or FlowField.SetupTime or FlowField.TeardownTime => FormatTime((long)k.Lo),
            FlowField.SrcMac or FlowField.DstMac => MacAddress.ToString(k.Lo),
            FlowField.Protocol => FlowProtocolNames.Name((FlowProtocol)k.Lo),
            FlowField.Tunnel => FlowFields.TunnelName((TunnelKind)k.Lo),
            _ => k.Lo.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    /// <summary>Unix microseconds as RFC 3339 UTC with microseconds.</summary>
    public static string FormatTime(long unixMicros) =>
        DateTime.UnixEpoch.AddTicks(unixMicros * 10).ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Whether <see cref="Text"/> of this key is a number (JSON writers keep it one).</summary>
    public bool IsNumeric => !IsAddress && !FlowFields.IsSymbol(Field) && Field is not (FlowField.VmiDirection or FlowField.Action or FlowField.SrcCountry
        or FlowField.DstCountry or FlowField.Start or FlowField.End or FlowField.TimeReceived or FlowField.SrcMac or FlowField.DstMac
        or FlowField.RevAction or FlowField.SetupTime or FlowField.TeardownTime
        or FlowField.Protocol or FlowField.Tunnel);

    public string Name => OwnMask ? (Field == FlowField.DstAddr ? "dst_net" : "src_net") : FlowFields.Name(Field) +
        (IsAddress && (V4Prefix != 32 || V6Prefix != 128) ? $"/{V4Prefix}" + (V6Prefix != 128 ? $"/{V6Prefix}" : "") : "");
}

/// <summary>What a query asks: which records, grouped how, ordered and cut how.</summary>
public sealed record FlowQuery
{
    public FilterNode Filter { get; init; } = new FilterNode.Any();
    public IReadOnlyList<GroupKey> GroupBy { get; init; } = [];
    /// <summary>Time bucket width in microseconds (by flow start); 0 for none.</summary>
    public long BucketMicros { get; init; }
    public Metric OrderBy { get; init; } = Metric.Bytes;
    /// <summary>
    /// Keep each group's earliest start and latest end (<see cref="AggregateRow.First"/>, <see cref="AggregateRow.Last"/>).
    /// Rollups do not hold them, so such a query reads the flows. Ordering by pps or bps implies it.
    /// </summary>
    public bool Span { get => _span || OrderBy is Metric.Pps or Metric.Bps; init => _span = value; }
    private readonly bool _span;
    /// <summary>Rows to return after ordering; 0 for all.</summary>
    public int Limit { get; init; }
    /// <summary>A field whose distinct values are counted per group.</summary>
    public FlowField? CountDistinct { get; init; }
    /// <summary>Groups, and distinct values across groups, the answer may hold while it is built; beyond it the query fails with <see cref="QueryLimitException"/> (the API's limit, not the store's own work).</summary>
    public int MaxGroups { get; init; } = int.MaxValue;
}

/// <summary>A query would hold more than its limit allows (<see cref="FlowQuery.MaxGroups"/>): narrow it.</summary>
public sealed class QueryLimitException(string message) : Exception(message);
