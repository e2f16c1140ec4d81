using System.Globalization;
using System.Text;
using Flowline.Records;

namespace Flowline.Query;

public sealed partial class NfdumpFormat
{
    private enum Element
    {
        Text, Version, FirstSeen, FirstSeenRaw, LastSeen, LastSeenRaw, Received, ReceivedRaw, Duration, DurationSeconds, Protocol,
        SrcAddr, DstAddr, SrcGeoAddr, DstGeoAddr, SrcNet, DstNet, NextHop, Router, SrcAddrPort, DstAddrPort, SrcGeoAddrPort, DstGeoAddrPort,
        SrcPort, DstPort, IcmpType, IcmpCode, SrcAs, DstAs, Input, Output, InPackets, OutPackets, InBytes, OutBytes, Flows, Flags,
        Tos, SrcTos, Direction, SrcMask, DstMask, Forwarding, EndReason, SrcVlan, DstVlan, InSrcMac, InDstMac, Bps, Pps, Bpp,
        SrcCountry, DstCountry, NewLine, ObsDomain, ObsPoint,
    }

    private readonly record struct ElementInfo(Element Element, string Header, bool IsAddress = false);

    /// <summary>nfdump 1.7's elements that Flowline's records carry, with nfdump's column headers.</summary>
    private static readonly Dictionary<string, ElementInfo> Elements = new()
    {
        ["%nfv"] = new(Element.Version, "Ver"),
        ["%tfs"] = new(Element.FirstSeen, "Date first seen        "),
        ["%ts"] = new(Element.FirstSeen, "Date first seen        "),
        ["%tsr"] = new(Element.FirstSeenRaw, "Date first seen (raw)    "),
        ["%te"] = new(Element.LastSeen, "Date last seen         "),
        ["%ter"] = new(Element.LastSeenRaw, "Date last seen (raw)     "),
        ["%tr"] = new(Element.Received, "Date flow received     "),
        ["%trr"] = new(Element.ReceivedRaw, "Date flow received (raw)  "),
        ["%td"] = new(Element.Duration, "    Duration    "),
        ["%tds"] = new(Element.DurationSeconds, "    Duration    "),
        ["%pr"] = new(Element.Protocol, "Proto"),
        ["%sa"] = new(Element.SrcAddr, "     Src IP Addr", true),
        ["%da"] = new(Element.DstAddr, "     Dst IP Addr", true),
        ["%gsa"] = new(Element.SrcGeoAddr, "     Src IP Addr(..)", true),
        ["%gda"] = new(Element.DstGeoAddr, "     Dst IP Addr(..)", true),
        ["%sn"] = new(Element.SrcNet, "        Src Network", true),
        ["%dn"] = new(Element.DstNet, "        Dst Network", true),
        ["%nh"] = new(Element.NextHop, "     Next-hop IP", true),
        ["%ra"] = new(Element.Router, "       Router IP", true),
        ["%sap"] = new(Element.SrcAddrPort, "     Src IP Addr:Port ", true),
        ["%dap"] = new(Element.DstAddrPort, "     Dst IP Addr:Port ", true),
        ["%gsap"] = new(Element.SrcGeoAddrPort, "     Src IP Addr(..):Port ", true),
        ["%gdap"] = new(Element.DstGeoAddrPort, "     Dst IP Addr(..):Port ", true),
        ["%sp"] = new(Element.SrcPort, "Src Pt"),
        ["%dp"] = new(Element.DstPort, "Dst Pt"),
        ["%it"] = new(Element.IcmpType, "ICMP-T"),
        ["%ic"] = new(Element.IcmpCode, "ICMP-C"),
        ["%sas"] = new(Element.SrcAs, "Src AS"),
        ["%das"] = new(Element.DstAs, "Dst AS"),
        ["%in"] = new(Element.Input, " Input"),
        ["%out"] = new(Element.Output, "Output"),
        ["%pkt"] = new(Element.InPackets, " Packets"),
        ["%ipkt"] = new(Element.InPackets, "  In Pkt"),
        ["%opkt"] = new(Element.OutPackets, " Out Pkt"),
        ["%byt"] = new(Element.InBytes, "   Bytes"),
        ["%ibyt"] = new(Element.InBytes, " In Byte"),
        ["%obyt"] = new(Element.OutBytes, "Out Byte"),
        ["%fl"] = new(Element.Flows, "Flows"),
        ["%flg"] = new(Element.Flags, "   Flags"),
        ["%tos"] = new(Element.Tos, "Tos"),
        ["%stos"] = new(Element.SrcTos, "STos"),
        ["%dir"] = new(Element.Direction, "Dir"),
        ["%smk"] = new(Element.SrcMask, "SMask"),
        ["%dmk"] = new(Element.DstMask, "DMask"),
        ["%fwd"] = new(Element.Forwarding, "Fwd"),
        ["%end"] = new(Element.EndReason, "End"),
        ["%svln"] = new(Element.SrcVlan, "SVlan"),
        ["%dvln"] = new(Element.DstVlan, "DVlan"),
        ["%ismc"] = new(Element.InSrcMac, "  In src MAC Addr"),
        ["%idmc"] = new(Element.InDstMac, "  In dst MAC Addr"),
        ["%bps"] = new(Element.Bps, "     bps"),
        ["%pps"] = new(Element.Pps, "     pps"),
        ["%bpp"] = new(Element.Bpp, "   Bpp"),
        ["%sc"] = new(Element.SrcCountry, "SC"),
        ["%dc"] = new(Element.DstCountry, "DC"),
        ["%n"] = new(Element.NewLine, ""),
        ["%odid"] = new(Element.ObsDomain, "obsDomainID"),
        ["%opid"] = new(Element.ObsPoint, "  obsPointID"),
    };

    /// <summary>nfdump's elements for data Flowline's records do not carry: refused with what they are.</summary>
    internal static readonly Dictionary<string, string> Refused = new()
    {
        ["%cnt"] = "nfdump's record counter", ["%exp"] = "nfdump's exporter sysid", ["%nhb"] = "BGP next hop",
        ["%nas"] = "next adjacent AS", ["%pas"] = "previous adjacent AS", ["%inam"] = "input interface name",
        ["%onam"] = "output interface name", ["%dtos"] = "destination ToS", ["%bfd"] = "biflow direction",
        ["%odmc"] = "output destination MAC", ["%osmc"] = "output source MAC", ["%mpls"] = "MPLS labels",
        ["%eng"] = "engine type and id", ["%lbl"] = "flow label", ["%sloc"] = "source location", ["%dloc"] = "destination location",
        ["%ipl"] = "payload", ["%opl"] = "payload", ["%nbid"] = "NBAR application", ["%nbnam"] = "NBAR application",
        ["%ja3"] = "JA3 fingerprint", ["%sni"] = "TLS server name", ["%vrf"] = "VRF", ["%ivrf"] = "VRF", ["%evrf"] = "VRF",
        ["%ivrfnam"] = "VRF name", ["%evrfnam"] = "VRF name", ["%nfc"] = "NSEL connection id", ["%tevt"] = "NSEL event time",
        ["%evt"] = "NSEL event", ["%xevt"] = "NSEL extended event", ["%sgt"] = "security group tag", ["%msec"] = "NSEL event time",
        ["%iacl"] = "NSEL ingress ACL", ["%eacl"] = "NSEL egress ACL", ["%xsa"] = "NAT translation", ["%xda"] = "NAT translation",
        ["%xsp"] = "NAT translation", ["%xdp"] = "NAT translation", ["%xsap"] = "NAT translation", ["%xdap"] = "NAT translation",
        ["%uname"] = "NSEL user name", ["%nevt"] = "NAT event", ["%nsa"] = "NAT translation", ["%nda"] = "NAT translation",
        ["%nsp"] = "NAT translation", ["%ndp"] = "NAT translation", ["%nsap"] = "NAT translation", ["%ndap"] = "NAT translation",
        ["%pbstart"] = "NAT port block", ["%pbend"] = "NAT port block", ["%pbstep"] = "NAT port block", ["%pbsize"] = "NAT port block",
        ["%cl"] = "client latency", ["%sl"] = "server latency", ["%al"] = "application latency",
    };

    private static readonly string[] ProtocolNames = BuildProtocolNames();

    /// <summary>The record columns an element reads (a listing reads only what its format shows).</summary>
    private static FlowField[] ColumnsOf(Element e) => e switch
    {
        Element.Version => [FlowField.Protocol],
        Element.FirstSeen or Element.FirstSeenRaw => [FlowField.Start],
        Element.LastSeen or Element.LastSeenRaw => [FlowField.End],
        Element.Received or Element.ReceivedRaw => [FlowField.TimeReceived],
        Element.Duration or Element.DurationSeconds => [FlowField.Start, FlowField.End],
        Element.Protocol => [FlowField.IpProto],
        // The version tells IPv6's :: from a record without the address (0.0.0.0 in nfdump's text).
        Element.SrcAddr => [FlowField.SrcAddr, FlowField.IpVersion],
        Element.DstAddr => [FlowField.DstAddr, FlowField.IpVersion],
        Element.SrcGeoAddr => [FlowField.SrcAddr, FlowField.SrcCountry, FlowField.IpVersion],
        Element.DstGeoAddr => [FlowField.DstAddr, FlowField.DstCountry, FlowField.IpVersion],
        Element.SrcNet => [FlowField.SrcAddr, FlowField.SrcMask, FlowField.IpVersion],
        Element.DstNet => [FlowField.DstAddr, FlowField.DstMask, FlowField.IpVersion],
        Element.NextHop => [FlowField.NextHop],
        Element.Router => [FlowField.Exporter],
        Element.SrcAddrPort => [FlowField.SrcAddr, FlowField.SrcPort, FlowField.IpVersion],
        Element.DstAddrPort => [FlowField.DstAddr, FlowField.DstPort, FlowField.IpProto, FlowField.IcmpType, FlowField.IcmpCode, FlowField.IpVersion],
        Element.SrcGeoAddrPort => [FlowField.SrcAddr, FlowField.SrcPort, FlowField.SrcCountry, FlowField.IpVersion],
        Element.DstGeoAddrPort => [FlowField.DstAddr, FlowField.DstPort, FlowField.IpProto, FlowField.IcmpType, FlowField.IcmpCode, FlowField.DstCountry, FlowField.IpVersion],
        Element.SrcPort => [FlowField.SrcPort],
        Element.DstPort or Element.IcmpType or Element.IcmpCode => [FlowField.DstPort, FlowField.IpProto, FlowField.IcmpType, FlowField.IcmpCode],
        Element.SrcAs => [FlowField.SrcAs],
        Element.DstAs => [FlowField.DstAs],
        Element.Input => [FlowField.InIf],
        Element.Output => [FlowField.OutIf],
        Element.InPackets => [FlowField.Packets],
        Element.OutPackets => [FlowField.RevPackets],
        Element.InBytes => [FlowField.Bytes],
        Element.OutBytes => [FlowField.RevBytes],
        Element.Flags => [FlowField.TcpFlags, FlowField.IpProto],
        Element.Tos or Element.SrcTos => [FlowField.Tos],
        Element.Direction => [FlowField.Direction],
        Element.SrcMask => [FlowField.SrcMask],
        Element.DstMask => [FlowField.DstMask],
        Element.Forwarding => [FlowField.ForwardingStatus],
        Element.EndReason => [FlowField.EndReason],
        Element.SrcVlan => [FlowField.Vlan],
        Element.DstVlan => [FlowField.PostVlan],
        Element.InSrcMac => [FlowField.SrcMac],
        Element.InDstMac => [FlowField.DstMac],
        Element.Bps => [FlowField.Bytes, FlowField.Start, FlowField.End],
        Element.Pps => [FlowField.Packets, FlowField.Start, FlowField.End],
        Element.Bpp => [FlowField.Bytes, FlowField.Packets],
        Element.SrcCountry => [FlowField.SrcCountry],
        Element.DstCountry => [FlowField.DstCountry],
        Element.ObsDomain => [FlowField.ObsDomain],
        Element.ObsPoint => [FlowField.ObsPoint],
        _ => [],
    };

    private void WriteElement(StringBuilder line, Element element, in FlowRecord r, ulong flows, long first, long last, double duration)
    {
        var addressWidth = _longV6 ? 39 : 16;
        switch (element)
        {
            case Element.Version: line.Append(Version(r.Protocol)); break;
            case Element.FirstSeen: line.Append(LocalTime(first)); break;
            case Element.LastSeen: line.Append(LocalTime(last)); break;
            case Element.Received: line.Append(LocalTime(r.TimeReceived / 1000)); break;
            case Element.FirstSeenRaw: line.Append(RawTime(first)); break;
            case Element.LastSeenRaw: line.Append(RawTime(last)); break;
            case Element.ReceivedRaw: line.Append(RawTime(r.TimeReceived / 1000)); break;
            case Element.Duration: line.Append(_plain ? Fixed3(duration).PadLeft(16) : DurationText(duration)); break;
            case Element.DurationSeconds: line.Append(Fixed3(duration).PadLeft(16)); break;
            case Element.Protocol: line.Append((r.IpProto < ProtocolNames.Length && !_plain ? ProtocolNames[r.IpProto] : r.IpProto.ToString(CultureInfo.InvariantCulture)).PadRight(5)); break;
            case Element.SrcAddr: line.Append(Address(r.SrcAddr, r.IpVersion).PadLeft(addressWidth)); break;
            case Element.DstAddr: line.Append(Address(r.DstAddr, r.IpVersion).PadLeft(addressWidth)); break;
            case Element.SrcGeoAddr: line.Append(Address(r.SrcAddr, r.IpVersion).PadLeft(addressWidth)).Append('(').Append(Country(r.SrcCountry)).Append(')'); break;
            case Element.DstGeoAddr: line.Append(Address(r.DstAddr, r.IpVersion).PadLeft(addressWidth)).Append('(').Append(Country(r.DstCountry)).Append(')'); break;
            case Element.SrcNet: line.Append(Address(Masked(r.SrcAddr, r.SrcMask), r.IpVersion).PadLeft(addressWidth)).Append('/').Append(Num(r.SrcMask).PadRight(2)); break;
            case Element.DstNet: line.Append(Address(Masked(r.DstAddr, r.DstMask), r.IpVersion).PadLeft(addressWidth)).Append('/').Append(Num(r.DstMask).PadRight(2)); break;
            case Element.NextHop: line.Append(Address(r.NextHop).PadLeft(addressWidth)); break;
            case Element.Router: line.Append(Address(r.Exporter).PadLeft(addressWidth)); break;
            case Element.SrcAddrPort:
                line.Append(Address(r.SrcAddr, r.IpVersion).PadLeft(addressWidth)).Append(V4Text(r.SrcAddr, r.IpVersion) ? ':' : '.').Append(Num(r.SrcPort).PadRight(5));
                break;
            case Element.DstAddrPort:
                line.Append(Address(r.DstAddr, r.IpVersion).PadLeft(addressWidth)).Append(V4Text(r.DstAddr, r.IpVersion) ? ':' : '.').Append(DstPortText(r).PadRight(5));
                break;
            case Element.SrcGeoAddrPort:
                line.Append(Address(r.SrcAddr, r.IpVersion).PadLeft(addressWidth)).Append('(').Append(Country(r.SrcCountry)).Append(')')
                    .Append(V4Text(r.SrcAddr, r.IpVersion) ? ':' : '.').Append(Num(r.SrcPort).PadRight(5));
                break;
            case Element.DstGeoAddrPort:
                line.Append(Address(r.DstAddr, r.IpVersion).PadLeft(addressWidth)).Append('(').Append(Country(r.DstCountry)).Append(')')
                    .Append(V4Text(r.DstAddr, r.IpVersion) ? ':' : '.').Append(DstPortText(r).PadRight(5));
                break;
            case Element.SrcPort: line.Append(Num(r.SrcPort).PadLeft(6)); break;
            case Element.DstPort: line.Append(DstPortText(r).PadLeft(6)); break;
            case Element.IcmpType: line.Append(Num(IsIcmp(r) ? r.IcmpType : 0UL).PadLeft(6)); break;
            case Element.IcmpCode: line.Append(Num(IsIcmp(r) ? r.IcmpCode : 0UL).PadLeft(6)); break;
            case Element.SrcAs: line.Append(Num(r.SrcAs).PadLeft(6)); break;
            case Element.DstAs: line.Append(Num(r.DstAs).PadLeft(6)); break;
            case Element.Input: line.Append(Num(r.InIf).PadLeft(6)); break;
            case Element.Output: line.Append(Num(r.OutIf).PadLeft(6)); break;
            case Element.InPackets: line.Append(Number(r.Packets, _plain, fixedWidth: true).PadLeft(8)); break;
            case Element.OutPackets: line.Append(Number(r.RevPackets, _plain, fixedWidth: true).PadLeft(8)); break;
            case Element.InBytes: line.Append(Number(r.Bytes, _plain, fixedWidth: true).PadLeft(8)); break;
            case Element.OutBytes: line.Append(Number(r.RevBytes, _plain, fixedWidth: true).PadLeft(8)); break;
            case Element.Flows: line.Append(Num(flows).PadLeft(5)); break;
            case Element.Flags: line.Append(FlagsText(r.IpProto == 6 ? r.TcpFlags : (ushort)0)); break;
            case Element.Tos: line.Append(Num(r.Tos).PadLeft(3)); break;
            case Element.SrcTos: line.Append(Num(r.Tos).PadLeft(4)); break;
            // nfdump: any direction but 0 is egress; none reported (255 here, absent in nfdump) is its 0, ingress.
            case Element.Direction: line.Append(r.Direction is not (0 or 255) ? "  E" : "  I"); break;
            case Element.SrcMask: line.Append(Num(r.SrcMask).PadLeft(5)); break;
            case Element.DstMask: line.Append(Num(r.DstMask).PadLeft(5)); break;
            case Element.Forwarding: line.Append(Num(r.ForwardingStatus).PadLeft(3)); break;
            case Element.EndReason: line.Append(Num(r.EndReason).PadLeft(3)); break;
            case Element.SrcVlan: line.Append(Num(r.Vlan).PadLeft(5)); break;
            case Element.DstVlan: line.Append(Num(r.PostVlan).PadLeft(5)); break;
            case Element.InSrcMac: line.Append(MacAddress.ToString(r.SrcMac)); break;
            case Element.InDstMac: line.Append(MacAddress.ToString(r.DstMac)); break;
            case Element.Bps: line.Append(Number(duration > 0 ? (ulong)((r.Bytes << 3) / duration) : 0, _plain, fixedWidth: true).PadLeft(8)); break;
            case Element.Pps: line.Append(Number(duration > 0 ? (ulong)(r.Packets / duration) : 0, _plain, fixedWidth: true).PadLeft(8)); break;
            case Element.Bpp: line.Append(Num(r.Packets > 0 ? (uint)(r.Bytes / r.Packets) : 0u).PadLeft(6)); break;
            case Element.SrcCountry: line.Append(Country(r.SrcCountry).PadLeft(2)); break;
            case Element.DstCountry: line.Append(Country(r.DstCountry).PadLeft(2)); break;
            case Element.NewLine: line.Append('\n'); break;
            case Element.ObsDomain: line.Append("0x").Append(r.ObsDomain.ToString("x9", CultureInfo.InvariantCulture)); break;
            case Element.ObsPoint: line.Append("0x").Append(((ulong)r.ObsPoint).ToString("x10", CultureInfo.InvariantCulture)); break;
        }
    }

    private static bool IsIcmp(in FlowRecord r) => r.IpProto is 1 or 58;

    private static string DstPortText(in FlowRecord r) =>
        IsIcmp(r) ? $"{r.IcmpType}.{r.IcmpCode}" : Num(r.DstPort);

    private static string Num(ulong v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Country(ushort code) => code == 0 ? ".." : CountryCode.Text(code);

    /// <summary>
    /// An address masked by the prefix length its flow carries, as nfdump's %sn/%dn and -A srcnet/dstnet mask it:
    /// its ApplyNetMaskBits on x86, where a shift by the word's width shifts by nothing, so a mask of 0 keeps an
    /// IPv4 address whole and the upper half of an IPv6 one (the lower half is cleared up to /64).
    /// </summary>
    internal static FlowAddress Masked(FlowAddress a, byte bits)
    {
        static ulong Keep(int shift) => ulong.MaxValue << (shift % 64);
        if (a.IsV4) return bits == 0 ? a : FlowAddress.FromV4(bits >= 32 ? a.V4 : a.V4 & (uint.MaxValue << (32 - bits)));
        if (bits > 64) return new FlowAddress(a.Hi, bits >= 128 ? a.Lo : a.Lo & Keep(128 - bits));
        return new FlowAddress(a.Hi & Keep(64 - bits), 0);
    }

    /// <summary>inet_ntop's text; without the 6 suffix, IPv6 longer than 16 characters shortened as nfdump does.</summary>
    /// <remarks>
    /// A record's own addresses (<paramref name="ipVersion"/> given): all zeros in an IPv6 record is ::, as the
    /// address or as a network masked down to nothing; elsewhere no address, 0.0.0.0 in nfdump's text.
    /// </remarks>
    private string Address(in FlowAddress a, byte ipVersion = 0)
    {
        if (a.IsNone) return ipVersion == 6 ? "::" : "0.0.0.0";
        var text = a.ToString();
        if (a.IsV4 || _longV6 || text.Length <= 16) return text;
        return string.Concat(text.AsSpan(0, 7), "..", text.AsSpan(text.Length - 7));
    }

    /// <summary>Whether an address prints as IPv4 (its port after ':', not '.').</summary>
    private static bool V4Text(in FlowAddress a, byte ipVersion) => a.IsV4 || (a.IsNone && ipVersion != 6);

    private static string Version(FlowProtocol p) => p switch
    {
        FlowProtocol.NetFlow5 => "Nv5",
        FlowProtocol.NetFlow9 => "Nv9",
        FlowProtocol.Ipfix => "Nv10",
        FlowProtocol.SFlow5 => "Sv5",
        _ => "FLO",
    };

    private static string FlagsText(ushort f)
    {
        Span<char> s = stackalloc char[8];
        const string letters = "CEUAPRSF";
        for (var i = 0; i < 8; i++) s[i] = (f & (0x80 >> i)) != 0 ? letters[i] : '.';
        return new string(s);
    }

    private static string Fixed3(double v) => v.ToString("F3", CultureInfo.InvariantCulture);

    /// <summary>nfdump's DurationString: <c>    HH:MM:SS.mmm</c>, or <c>Nd HH:MM:SS.mmm</c> past a day.</summary>
    private static string DurationText(double duration)
    {
        var days = (long)(duration / 86400);
        var sum = 86400 * days; // in long: 2^31 seconds is 68 years, within the times a record may carry
        var hours = (int)((duration - sum) / 3600);
        sum += 3600 * hours;
        var minutes = (int)((duration - sum) / 60);
        var seconds = duration - sum - 60 * minutes;
        var tail = $"{hours:00}:{minutes:00}:{Fixed3(seconds).PadLeft(6, '0')}";
        return days == 0 ? "    " + tail : $"{days,2}d {tail}";
    }

    private static string RawTime(long ms) => $"{ms / 1000}.{ms % 1000:000}";

    [ThreadStatic] private static long _cachedSecond;
    [ThreadStatic] private static string? _cachedText;

    /// <summary>Local time with milliseconds, as nfdump prints it (<c>localtime</c>): 2026-11-19 00:00:00.009.</summary>
    private static string LocalTime(long ms)
    {
        var second = Math.DivRem(ms, 1000, out var milli);
        if (milli < 0) { second--; milli += 1000; }
        if (_cachedText is null || _cachedSecond != second)
        {
            var utc = DateTime.UnixEpoch.AddSeconds(Math.Clamp(second, -62_135_596_800L, 253_402_300_799L));
            _cachedText = TimeZoneInfo.ConvertTimeFromUtc(utc, TimeZoneInfo.Local).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
            _cachedSecond = second;
        }
        return $"{_cachedText}.{milli:000}";
    }

    private static string[] BuildProtocolNames()
    {
        // nfdump's protocol names (output_util.c), numbers 0 to 137; "0", "99", "128", "134" are its own entries.
        const string names = "0 ICMP IGMP GGP IPIP ST TCP CBT EGP IGP BBN NVPII PUP ARGUS ENCOM XNET CHAOS UDP MUX DCN HMP PRM XNS Trnk1 " +
                             "Trnk2 Leaf1 Leaf2 RDP IRTP ISO-4 NETBK MFESP MEINP DCCP 3PC IDPR XTP DDP IDPR TP++ IL IPv6 SDRP Rte6 Frag6 IDRP " +
                             "RSVP GRE MHRP BNA ESP AH INLSP SWIPE NARP MOBIL TLSP SKIP ICMP6 NOHE6 OPTS6 HOST CFTP NET SATNT KLAN RVD IPPC FS " +
                             "SATM VISA IPCV CPNX CPHB WSN PVP BSATM SUNND WBMON WBEXP ISOIP VMTP SVMTP VINES TTP NSIGP DGP TCF EIGRP OSPF S-RPC " +
                             "LARP MTP AX.25 OS MICP SCCSP ETHIP ENCAP 99 GMTP IFMP PNNI PIM ARIS SCPS QNX A/N IPcmp SNP CpqPP IPXIP VRRP PGM 0hop " +
                             "L2TP DDX IATP STP SRP UTI SMP SM PTP ISIS4 FIRE CRTP CRUDP 128 IPLT SPS PIPE SCTP FC 134 MHEAD UDP-L MPLS";
        return names.Split(' ');
    }
}
