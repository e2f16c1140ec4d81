#!/usr/bin/env bash
# Reproduces docs/PERFORMANCE.md: BenchmarkDotNet (decode per protocol, loopback UDP receive), then
# `flowline decode --format csv` on a 200,000-datagram sFlow capture as a whole process, beside tshark.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# The receive benchmark fills a socket buffer with 8192 datagrams before draining it.
if [ "$(sysctl -n net.core.rmem_max)" -lt 1073741824 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo sysctl -w net.core.rmem_max=1073741824 >/dev/null
fi
dotnet run -c Release --project bench/Flowline.Bench -- --filter "${1:-*}" --join

pcap="${TMPDIR:-/tmp}/flowline-sflow-200k.pcap"
dotnet run -c Release --project bench/Flowline.Bench -- make-pcap ovs_sflow_s1_h128_p5 "$pcap" 200000
./flowline version >/dev/null   # build outside the timing
fields=agent,srcIP,dstIP,srcIP6,dstIP6,IPProtocol,TCPSrcPort,TCPDstPort,UDPSrcPort,UDPDstPort,sampledPacketSize
for run in 1 2 3; do
  /usr/bin/time -f "flowline decode: %e s wall, %U s user, %M KiB peak" ./flowline decode --pcap "$pcap" --format csv --fields "$fields" -q >/dev/null
done
if command -v tshark >/dev/null; then
  /usr/bin/time -f "tshark: %e s wall, %U s user, %M KiB peak" tshark -r "$pcap" -d udp.port==6343,sflow -T fields -E separator=, \
    -e sflow_245.agent -e ip.src -e ip.dst -e ipv6.src -e ipv6.dst -e ip.proto -e tcp.srcport -e tcp.dstport \
    -e udp.srcport -e udp.dstport -e sflow_245.header.frame_length >/dev/null
fi
# Every decode format against sflowtool's own form of it, when an sflowtool binary is given (not packaged).
if [ -n "${SFLOWTOOL:-}" ]; then
  bench/decode-vs-sflowtool.sh "$SFLOWTOOL" "$pcap" 3
fi
