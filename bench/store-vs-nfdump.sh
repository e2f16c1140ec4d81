#!/usr/bin/env bash
# Reproduces the store comparison in docs/PERFORMANCE.md: the same generated flows go to nfcapd (LZ4)
# over UDP and into Flowline's embedded store through a capture; then the same four queries run on
# both, each three times, and the median wall time is printed. Usage: bench/store-vs-nfdump.sh [FLOWS] [WORKDIR]
# CLICKHOUSE=1: the same flows also go over UDP to `flowline serve --store` on a 2-shard ClickHouse cluster
# (bench/clickhouse-cluster.sh, in WORKDIR/ch), and the four queries run on it as well (`query --store`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
flows="${1:-20000000}"
work="${2:-${TMPDIR:-/tmp}/flowline-vs-nfdump}"
host="${HOST_QUERY:-10.0.7.48}"
command -v nfcapd >/dev/null || { echo "needs nfdump (apt-get install nfdump)" >&2; exit 1; }
./flowline version >/dev/null               # build outside the timing
bin="$root/.build/flowline/flowline"        # the published binary, without the launcher's freshness check
rm -rf "$work" && mkdir -p "$work/nf"
[ "$(sysctl -n net.core.rmem_max)" -ge 8388608 ] || sysctl -w net.core.rmem_max=8388608 >/dev/null

nfcapd -y -B 4194304 -w "$work/nf" -p 40666 -b 127.0.0.1 >"$work/nfcapd.log" 2>&1 &
sleep 1
"$bin" gen --protocol ipfix --count "$flows" --seed 11 --rate 150000 --target udp://127.0.0.1:40666 -q
sleep 3; pkill -INT -f "nfcapd -y -B 4194304 -w $work/nf" || true; sleep 3
grep -E "^Ident" "$work/nfcapd.log" | sed -E "s/.*Flows: ([0-9]+).*Sequence Errors: ([0-9]+).*/\1 \2/" | awk "{f+=\$1; e+=\$2} END {print \"nfcapd received \" f \" flows, \" e \" sequence errors\"}"

"$bin" gen --protocol ipfix --count "$flows" --seed 11 --rate 150000 --pcap "$work/g.pcap" -q
/usr/bin/time -f "flowline import: %e s wall, %M KiB peak" "$bin" import --pcap "$work/g.pcap" --data-dir "$work/fl"
rm -f "$work/g.pcap"
"$bin" store stats --data-dir "$work/fl"
echo "bytes on disk: nfdump $(du -sb "$work/nf" | cut -f1), flowline $(du -sb "$work/fl" | cut -f1)"
# nfdump's smallest files: the same flows recompressed with bzip2 (nfdump -J 2), on a copy.
cp -r "$work/nf" "$work/nf-bzip2" && nfdump -R "$work/nf-bzip2" -J 2 >/dev/null
echo "nfdump bzip2: $(du -sb "$work/nf-bzip2" | cut -f1) bytes"; rm -rf "$work/nf-bzip2"

if [ -n "${CLICKHOUSE:-}" ]; then
  "$root/bench/clickhouse-cluster.sh" stop "$work/ch" 2>/dev/null || true
  ch=$("$root/bench/clickhouse-cluster.sh" start "$work/ch" 2 flowline)
  trap '"$root/bench/clickhouse-cluster.sh" stop "$work/ch"' EXIT
  "$bin" clickhouse init --store "$ch" >/dev/null
  "$bin" serve --data-dir "$work/chserve" --store "$ch" --ipfix 127.0.0.1:40667 --sflow 127.0.0.1:0 --netflow 127.0.0.1:0 \
    --http 127.0.0.1:40668 --retention 3650d 2>"$work/chserve.log" &
  serve=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:40668/healthz >/dev/null && break; sleep 0.1; done
  chcpu() { for p in "$work"/ch/s*/pid; do awk '{print $14 + $15}' "/proc/$(cat "$p")/stat"; done | awk '{s += $1} END {print s}'; }
  before=$(chcpu); start=$(date +%s.%N)
  "$bin" gen --protocol ipfix --count "$flows" --seed 11 --rate 150000 --target udp://127.0.0.1:40667 -q
  until [ "$(curl -s http://127.0.0.1:40668/metrics | awk '/^flowline_clickhouse_inserted_rows_total/ {print $2}')" -ge "$flows" ] 2>/dev/null; do sleep 1; done
  echo "clickhouse load: $(echo "$(date +%s.%N) - $start" | bc) s wall, serve $(awk '{print ($14 + $15) / 100}' "/proc/$serve/stat") s CPU, clickhouse $(echo "($(chcpu) - $before) / 100" | bc) s CPU"
  kill -TERM $serve; wait $serve || true
  grep -E "records stored" "$work/chserve.log" | tail -1
  # Merges settle before the queries are timed.
  while [ "$(curl -s http://127.0.0.1:18123/ --data-binary "SELECT count() FROM system.merges")$(curl -s http://127.0.0.1:18124/ --data-binary "SELECT count() FROM system.merges")" != "00" ]; do sleep 2; done
  "$bin" clickhouse stats --store "$ch"
  echo "clickhouse bytes on disk (data directories): $(du -sbc "$work"/ch/s*/data/data/flowline | tail -1 | cut -f1)"
fi

median() { # label, command: runs it 3 times, prints the median wall time, peak memory and output lines
  local times=() peak=0
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$work/time.txt" bash -c "$2" >"$work/out.txt"
    read -r t m <"$work/time.txt"; times+=("$t"); [ "$m" -gt "$peak" ] && peak=$m
  done
  printf '%-34s median %6.3f s  (runs %s)  peak %s KiB  %s lines\n' "$1" \
    "$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)" "${times[*]}" "$peak" "$(wc -l <"$work/out.txt")"
  cp "$work/out.txt" "$work/$(echo "$1" | tr -c 'a-z0-9' _).out"
}
median "nfdump tcp443 csv"        "nfdump -R $work/nf -q -o csv 'proto tcp and dst port 443'"
median "flowline tcp443 csv"      "$bin query --data-dir $work/fl proto tcp and dst port 443 -o csv"
median "nfdump -s srcip/bytes"    "nfdump -R $work/nf -s srcip/bytes -n 10"
median "flowline -s srcip/bytes"  "$bin query --data-dir $work/fl -s srcip/bytes -n 10"
median "nfdump -A srcip,dstport"  "nfdump -R $work/nf -q -A srcip,dstport"
median "flowline -A srcip,dstport" "$bin query --data-dir $work/fl -A srcip,dstport -o csv"
median "nfdump host"              "nfdump -R $work/nf -q -o csv 'host $host'"
median "flowline host"            "$bin query --data-dir $work/fl host $host -o csv"
median "flowline host (launcher)" "./flowline query --data-dir $work/fl host $host -o csv"
if [ -n "${CLICKHOUSE:-}" ]; then
  median "clickhouse tcp443 csv"      "$bin query --store '$ch' proto tcp and dst port 443 -o csv"
  median "clickhouse -s srcip/bytes"  "$bin query --store '$ch' -s srcip/bytes -n 10"
  median "clickhouse -A srcip,dstport" "$bin query --store '$ch' -A srcip,dstport -o csv"
  median "clickhouse host"            "$bin query --store '$ch' host $host -o csv"
  for q in "tcp443 csv" "-s srcip/bytes" "-A srcip,dstport" "host"; do
    f=$(echo "flowline $q" | tr -c 'a-z0-9' _); c=$(echo "clickhouse $q" | tr -c 'a-z0-9' _)
    if cmp -s <(sort "$work/$f.out") <(sort "$work/$c.out"); then echo "clickhouse $q: the same answer as the embedded store"
    else echo "clickhouse $q: DIFFERENT from the embedded store"; fi
  done
fi
