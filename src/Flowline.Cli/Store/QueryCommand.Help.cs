namespace Flowline.Cli.Store;

internal static partial class QueryCommand
{
    public const string Help = """
        Usage: flowline query --data-dir DIR [--from TIME] [--to TIME] [FILTER ...] [options]
               flowline query --store clickhouse://HOST[:PORT]/DB[?cluster=NAME] [...]

        Lists or aggregates the stored flows whose start lies in [--from, --to) (RFC 3339; default: all).
        The filter is nfdump's language, e.g.  proto tcp and dst port 443 and net 10.0.0.0/8
        Terms: proto, [src|dst] host|ip|net|port|as|vlan|mac, in/out if, bytes, packets, flags, tos,
        duration, sampling, domain, flowdir ingress|egress|unknown, exporter, router ip|net, next ip|net, icmp-type,
        icmp-code, bps, pps, bpp (nfdump's rates over the duration in ms), any, ipv4, ipv6; and (&&), or (||), not (!),
        ( ); # to the end of the line is a comment.
        Tenancy (stored by `serve --inventory`): account ACC, vmi UUID, [src|dst] vn NAME, tag app|tier|site|deployment=VALUE,
        action pass|drop, vmidir ingress|egress, sgrule UUID, [src|dst] country CC (public addresses), e.g.
          account acc-0001 and tag app=web and action drop

        Options:
          -f FILE           read the filter from FILE (lines and # comments, as nfdump's -f)
          --store URL       read flows from ClickHouse (as `serve --store` writes them) instead of --data-dir
          -A a,b,...        aggregate by these fields (canonical names or nfdump's srcip, dstport, proto ...;
                            addresses take prefix lengths: srcip/24, src_addr/24/64)
          -s STAT[:p][/ORDER...]  nfdump's top-N statistic of a field (srcip, dstport, proto, srcas, inif, ...) or
                            of either side (ip, port, as, if, mask, vlan, geo: a flow counts for its source's value
                            and for its destination's); :p splits it by protocol; ORDER is flows (default), packets,
                            bytes, or the rates pps, bps, bpp (rows then also carry first, last, pps, bps and bpp,
                            read from the flows); several orders give the statistic once per order, and -s may be
                            repeated; e.g. -s ip/bytes, -s dstport:p/packets/pps, -s srcip/24 -s dstport
          -n N              at most N rows (top-N with -A/-s; default 10 with -s, all otherwise; 0 for all);
                            in nfdump's listing, as nfdump: the first N rows of -O or -a/-b/-B (the summary
                            still counts every flow), ignored otherwise
          --bucket D        aggregate per time bucket of width D (30s, 1m, 5m, 1h)
          -t WINDOW         nfdump's time window, local time: yyyy/MM/dd.hh:mm:ss[-yyyy/MM/dd.hh:mm:ss], later
                            parts optional (2026/11/19 is that midnight), or +N/-N: the first/last N seconds of the
                            flows; the flows that start and end inside it, in every output (--from/--to apply too)
          --order M         order aggregates by bytes (default), packets or flows
          --fields a,b,...  columns when listing flows (default: start,end,src_addr,dst_addr,src_port,dst_port,ip_proto,bytes,packets);
                            with -o vpc, VPC flow-log fields in order (version 2-5, e.g. version,account-id,
                            interface-id,srcaddr,dstaddr,action,flow-direction)
          -o FORMAT         table (default), csv, json, ndjson, or flow logs: jcs (the DescribeFlowLogResponse
                            of JCS, one item per row) or vpc (AWS VPC flow-log lines; default fields: version 2),
                            or nfdump's: line, long, extended, biline, bilong, gline, glong (each also with 6 for
                            whole IPv6 addresses) or fmt:%ts %td %pr %sap -> %dap %pkt %byt ... (its % elements)
        nfdump's listing (any of these selects it; the format defaults to line, biline with -b/-B):
          -a                aggregate the flows of one 5-tuple (proto, addresses, ports) into one row
          -b, -B            aggregate bidirectionally: a TCP/UDP flow and its reverse are one row (in and out
                            counters); -B also turns rows round so that the lower, well-known port is the destination
          -O ORDER[:a|:d]   order rows by flows, packets, ipkg, opkg, bytes, ibyte, obyte, pps, ipps, opps, bps,
                            ibps, obps, bpp, ibpp, obpp, tstart, tend or duration (ascending or descending)
          -c N              at most N matching flows (before aggregation and ordering, as nfdump)
          -N                plain numbers (no 1.2 M scaling)
          -6                whole IPv6 addresses in any of nfdump's formats (as line6, long6 ...)
          -q                no header and no summary lines
          --stats           print on stderr how many blocks were skipped and read, and the time taken
        Keys in csv/json/ndjson are canonical field names; sums are bytes, packets and flows.
        Listings come partition by partition (5 minutes each, oldest first); inside a compacted partition
        flows are ordered by their address pair, then start. Aggregates are ordered by the --order metric.
        Groupings whose filter and keys use only the usual keys (addresses, ports with protocol, exporter)
        and whose range falls on whole minutes are answered from rollups, with the same result.
        """;
}
