namespace Flowline.Query;

/// <summary>
/// The rest of nfdump 1.7's FILTER section: the MACs of <c>in src|dst mac</c>, and the terms for what
/// Flowline's records do not carry, refused with what they select.
/// </summary>
public sealed partial class FilterParser
{
    /// <summary>nfdump's terms for data Flowline's records do not hold, with what each selects.</summary>
    private static readonly Dictionary<string, string> NotCarriedTerms = new(StringComparer.Ordinal)
    {
        ["engine-type"] = "the NetFlow engine type", ["engine-id"] = "the NetFlow engine id", ["sysid"] = "nfdump's exporter sysid",
        ["flows"] = "nfdump's count of aggregated flows (every stored row is one flow)", ["prev"] = "the previous adjacent AS",
        ["bgpnext"] = "the BGP next hop", ["mpls"] = "MPLS labels", ["nat"] = "NAT events", ["nevent"] = "NAT events",
        ["event"] = "NSEL firewall events", ["asa"] = "ASA firewall events", ["xip"] = "NAT-translated addresses",
        ["xnet"] = "NAT-translated addresses", ["xport"] = "NAT-translated ports", ["xsrc"] = "NAT-translated addresses",
        ["xdst"] = "NAT-translated addresses", ["pblock"] = "NAT port blocks", ["vrf"] = "VRF ids", ["ingress"] = "NSEL ACLs",
        ["egress"] = "NSEL ACLs", ["latency"] = "nfpcapd's latency measurements", ["payload"] = "packet payloads",
        ["ja3"] = "TLS fingerprints", ["sni"] = "TLS server names", ["nbar"] = "NBAR applications", ["label"] = "nfdump's flow labels",
    };

    private static string NotCarried(string term, string what) =>
        $"'{term}' selects {what}, which Flowline's records do not carry";

    /// <summary><c>in src mac</c> and <c>in dst mac</c> are the flow's MACs; <c>out …</c> the MACs after forwarding, not carried.</summary>
    private FilterNode InOutMac(bool input, bool source, int column)
    {
        var c = Column;
        var mac = Take("'mac'").ToLowerInvariant();
        if (mac != "mac") throw ErrorAt(c, $"expected 'mac' after '{(input ? "in" : "out")} {(source ? "src" : "dst")}', found '{mac}'");
        if (!input) throw ErrorAt(column, NotCarried($"out {(source ? "src" : "dst")} mac", "the MAC addresses after forwarding"));
        return new FilterNode.Mac(source ? Direction.Src : Direction.Dst, MacValue());
    }
}
