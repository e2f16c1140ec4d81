#!/usr/bin/env bash
# The segment codecs in the store: imports the same generated capture once per codec and times three
# queries cold (page cache dropped; needs root) and warm. Figures go in docs/PERFORMANCE.md, "Segment codecs".
# Usage: bench/codec-bench.sh [FLOWS] [WORKDIR]   (defaults 5000000, /tmp/codec-bench)
set -euo pipefail
flows=${1:-5000000}
work=${2:-/tmp/codec-bench}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/flowline" --help > /dev/null
fl="$root/.build/flowline/flowline"
mkdir -p "$work"
pcap="$work/flows.pcap"
[ -s "$pcap" ] || "$fl" gen --protocol ipfix --count "$flows" --seed 11 --public-servers --pcap "$pcap" -q
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
ms() { local t0 t1; t0=$(date +%s%N); "$@" > /dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
for codec in brotli zstd lz4; do
  store="$work/store-$codec"
  rm -rf "$store"
  t0=$(date +%s%N)
  "$fl" import --pcap "$pcap" --data-dir "$store" --codec "$codec" > /dev/null
  t1=$(date +%s%N)
  bytes=$(du -sb --exclude='*.rollup' "$store" | cut -f1)
  echo "== $codec: import $(( (t1 - t0) / 1000000 )) ms, segments $bytes bytes, $(awk -v b="$bytes" -v f="$flows" 'BEGIN { printf "%.2f", b / f }') B per flow"
  busiest=$("$fl" query --data-dir "$store" -s srcip/flows -n 1 -o csv | sed -n 2p | cut -d, -f1)
  for name in host aggregate listing; do
    case $name in
      host) args=(host "$busiest" -o csv --fields bytes) ;;
      aggregate) args=(-s srcip/bytes -n 10 bytes '>' 100) ;;
      listing) args=(proto udp and dst port 53 -o csv --fields "start,src_addr,bytes") ;;
    esac
    cold=() warm=()
    for _ in 1 2 3; do
      sync; echo 3 > /proc/sys/vm/drop_caches
      cold+=("$(ms "$fl" query --data-dir "$store" "${args[@]}")")
      "$fl" query --data-dir "$store" "${args[@]}" > /dev/null
      warm+=("$(ms "$fl" query --data-dir "$store" "${args[@]}")")
    done
    echo "$name (${args[*]}): cold $(median "${cold[@]}") ms (${cold[*]}), warm $(median "${warm[@]}") ms (${warm[*]})"
  done
done
