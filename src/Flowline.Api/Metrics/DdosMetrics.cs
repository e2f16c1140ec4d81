using System.Globalization;
using System.Text;
using Flowline.Mitigation.Ddos;

namespace Flowline.Api;

/// <summary>DDoS detection and mitigation in /metrics: attacks by class, active attacks and rules, the BGP sessions, the detector's counters.</summary>
internal static class DdosMetrics
{
    public static string Text(DdosService ddos)
    {
        var s = new StringBuilder();
        var c = ddos.Counts;
        void Metric(string name, string type, string help, IEnumerable<(string Labels, double Value)> values)
        {
            s.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} {type}\n");
            foreach (var (labels, value) in values) s.Append(CultureInfo.InvariantCulture, $"{name}{labels} {value}\n");
        }
        Metric("flowline_ddos_attacks_total", "counter", "Attacks detected (and source events: icmp_unreachable, blocklisted), by class.",
            AttackClasses.All.Select(a => ($"{{class=\"{a.Name()}\"}}", (double)c.Started[(int)a])));
        Metric("flowline_ddos_attacks_active", "gauge", "Attacks going on.", [("", c.ActiveAttacks)]);
        Metric("flowline_ddos_rules_active", "gauge", "FlowSpec rules announced now.", [("", c.ActiveRules)]);
        Metric("flowline_ddos_rules_announced_total", "counter", "Rules announced.", [("", c.Announced)]);
        Metric("flowline_ddos_rules_withdrawn_total", "counter", "Rules withdrawn (attack ended or by hand).", [("", c.Withdrawn)]);
        Metric("flowline_ddos_rules_failed_total", "counter", "Rules not announced because ddos_max_rules were announced already.", [("", c.Failed)]);
        var d = ddos.Detector.Counters;
        Metric("flowline_ddos_rows_total", "counter", "Rows the detector looked at.", [("", d.Rows)]);
        Metric("flowline_ddos_rows_protected_total", "counter", "Rows to (or, ICMP unreachables, from) a protected address.", [("", d.Matched)]);
        Metric("flowline_ddos_tracked", "gauge", "Addresses x classes tracked now.", [("", d.Tracked)]);
        var max = ddos.Detector.MaxPps;
        Metric("flowline_ddos_max_pps", "gauge", "The highest smoothed packet rate of any protected address, by class, at the last evaluation (how near the thresholds traffic runs).",
            AttackClasses.All.Select(a => ($"{{class=\"{a.Name()}\"}}", Math.Round(max[(int)a]))));
        Metric("flowline_ddos_untracked_total", "counter", "Counts not tracked because ddos tracking was full (MaxTracked).", [("", d.Untracked)]);
        Metric("flowline_ddos_unsketched_total", "counter", "Rows of classes counted without a heavy-hitter sketch (all in use): their rules name the address and protocol only.", [("", d.Unsketched)]);
        Metric("flowline_bgp_session_established", "gauge", "1 when the BGP session with the neighbour is Established.",
            ddos.Speaker.Neighbors.Select(n => ($"{{neighbor=\"{n.Neighbor}\"}}", n.State == Mitigation.Bgp.BgpState.Established ? 1.0 : 0)));
        Metric("flowline_bgp_routes_advertised", "gauge", "FlowSpec routes the neighbour holds from Flowline.",
            ddos.Speaker.Neighbors.Select(n => ($"{{neighbor=\"{n.Neighbor}\"}}", (double)n.Advertised)));
        Metric("flowline_bgp_connects_total", "counter", "Connections opened to the neighbour.",
            ddos.Speaker.Neighbors.Select(n => ($"{{neighbor=\"{n.Neighbor}\"}}", (double)n.Connects)));
        Metric("flowline_bgp_notifications_total", "counter", "NOTIFICATIONs sent to or received from the neighbour.",
            ddos.Speaker.Neighbors.Select(n => ($"{{neighbor=\"{n.Neighbor}\"}}", (double)n.Notifications)));
        return s.ToString();
    }
}
