#!/usr/bin/env bash
# flowline decode against sflowtool, format by format, whole processes timed in pairs.
#
#   bench/decode-vs-sflowtool.sh SFLOWTOOL PCAP [PAIRS]
#
# SFLOWTOOL is an sflowtool binary (not a Debian package: build it from its public source for the
# measurement), PCAP an sFlow capture (bench/Flowline.Bench make-pcap makes a large one). For each
# format the two commands run in turn, PAIRS times each (default 5) after one warm-up of each; every
# process is timed from outside (wall, user + system CPU from wait4, peak RSS), output to a file.
# Prints one line per format: the medians, and the median of the pairwise ratios.
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,11p "$0"; exit 2; }
SFLOWTOOL=$1 PCAP=$2 PAIRS=${3:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/flowline" --version > /dev/null           # builds .build when the sources changed
FLOWLINE="$ROOT/.build/flowline/flowline"
OUT=$(mktemp -d /tmp/decode-vs-sflowtool.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

python3 - "$FLOWLINE" "$SFLOWTOOL" "$PCAP" "$PAIRS" "$OUT" <<'EOF'
import os, statistics, sys, time
flowline, sflowtool, pcap, pairs, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
csv_fields = "agent,inputPort,outputPort,srcMAC,dstMAC,ethernet_type,in_vlan,out_vlan,srcIP,dstIP,IPProtocol,IPTOS,TCPSrcPort,TCPDstPort,TCPFlags,sampledPacketSize,meanSkipCount"
formats = [
    ("csv (sflowtool -l)", ["decode", "--pcap", pcap, "--format", "csv", "-q", "--fields", csv_fields], ["-r", pcap, "-l"]),
    ("grep (sflowtool -g)", ["decode", "--pcap", pcap, "--format", "grep", "-q"], ["-r", pcap, "-g"]),
    ("json (sflowtool -J)", ["decode", "--pcap", pcap, "--format", "json", "-q"], ["-r", pcap, "-J"]),
    ("jsonl (sflowtool -j)", ["decode", "--pcap", pcap, "--format", "jsonl", "-q"], ["-r", pcap, "-j"]),
    ("pcap (sflowtool -t)", ["decode", "--pcap", pcap, "--format", "pcap", "-q"], ["-r", pcap, "-t"]),
]

def run(argv, path):
    with open(path, "wb") as f, open(os.devnull, "wb") as null:
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.dup2(f.fileno(), 1)
            os.dup2(null.fileno(), 2)
            os.execv(argv[0], argv)
        _, status, ru = os.wait4(pid, 0)
        wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv[0]} exited {os.waitstatus_to_exitcode(status)}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, os.path.getsize(path), sum(1 for _ in open(path, "rb"))

print(f"{'format':22} {'flowline wall':>14} {'cpu':>7} {'MiB':>6} {'sflowtool wall':>15} {'cpu':>7} {'MiB':>6} {'wall ratio':>11} {'cpu ratio':>10}  output (lines, MB)")
for name, fa, sa in formats:
    a, b = [flowline] + fa, [sflowtool] + sa
    run(a, f"{out}/a"); run(b, f"{out}/b")
    ra, rb = [], []
    for _ in range(pairs):
        ra.append(run(a, f"{out}/a")); rb.append(run(b, f"{out}/b"))
    med = lambda rs, i: statistics.median(r[i] for r in rs)
    wall = statistics.median(x[0] / y[0] for x, y in zip(ra, rb))
    cpu = statistics.median(x[1] / y[1] for x, y in zip(ra, rb))
    print(f"{name:22} {med(ra,0):>13.3f}s {med(ra,1):>6.3f}s {med(ra,2):>6.1f} {med(rb,0):>14.3f}s {med(rb,1):>6.3f}s {med(rb,2):>6.1f} "
          f"{wall:>6.3f} ({1/wall:.1f}x) {cpu:>5.3f} ({1/cpu:.1f}x)  {ra[-1][4]:,} / {rb[-1][4]:,} lines, {ra[-1][3]/1e6:.0f} / {rb[-1][3]/1e6:.0f} MB", flush=True)
EOF
