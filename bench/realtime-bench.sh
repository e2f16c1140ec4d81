#!/usr/bin/env bash
# Real-time analytics cost and memory (docs/PERFORMANCE.md):
#  1. sFlow ingest at RATE samples/s for 30 s with no flow definitions and with ten, alternating, RUNS times each
#     (bench/collector-run.sh: records stored, loss, CPU ns per record, peak RSS);
#  2. memory with about a million distinct flow keys a minute: one five-tuple definition, gen sending
#     16,667 flows/s for 70 s from a pool of ten million clients; flows held and peak RSS at the end.
# Usage: bench/realtime-bench.sh [RATE] [RUNS]
set -euo pipefail
rate=${1:-300000} runs=${2:-2}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/flowline" --version >/dev/null 2>&1 || true

define_ten() {
  local url=$1 i=0
  for keys in "ipsource,ipdestination" "ipsource" "ipdestination" "ipprotocol" "tcpdestinationport" "udpdestinationport" \
      "or:ipsource:ip6source,or:ipdestination:ip6destination,ipprotocol,or:tcpsourceport:udpsourceport" \
      "mask:ipsource:24" "inputifindex,outputifindex" "ipsource,tcpdestinationport"; do
    i=$((i + 1))
    filter=""; [ $i -eq 10 ] && filter=', "filter": "ipprotocol=6"'
    curl -sf -X PUT -H "Content-Type: application/json" -d "{\"keys\": \"$keys\", \"value\": \"bytes\"$filter}" "$url/flow/f$i/json" >/dev/null
  done
}
export -f define_ten

echo "# collector protocol rate seconds sent_in sent stored lost cpu_s ns_per_record rss_mib socket_drops queue_drops"
for run in $(seq "$runs"); do
  echo -n "none: "; "$root/bench/collector-run.sh" flowline sflow "$rate" 30
  echo -n "ten:  "; FLOWLINE_SERVE_ARGS="--realtime-open-on-loopback true" FLOWLINE_SETUP=define_ten "$root/bench/collector-run.sh" flowline sflow "$rate" 30
done

# Memory: ~1M distinct five-tuples a minute.
work=$(mktemp -d /tmp/flowline-realtime-mem.XXXXXX)
port=$((40000 + RANDOM % 20000))
"$root/.build/flowline/flowline" serve --data-dir "$work/data" --sflow "127.0.0.1:$port" --netflow 127.0.0.1:0 --ipfix 127.0.0.1:0 \
  --http "127.0.0.1:$((port + 1))" --realtime-open-on-loopback true >"$work/out" 2>"$work/err" &
pid=$!
trap 'kill $pid 2>/dev/null && wait $pid 2>/dev/null; rm -rf "$work"' EXIT
url="http://127.0.0.1:$((port + 1))"
for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done
curl -sf -X PUT -H "Content-Type: application/json" -d '{"keys": "or:ipsource:ip6source,or:ipdestination:ip6destination,ipprotocol,or:tcpsourceport:udpsourceport", "value": "bytes"}' "$url/flow/fivetuple/json" >/dev/null
"$root/flowline" gen --protocol sflow --count 1166690 --rate 16667 --hosts 10000000 --seed 7 --target "udp://127.0.0.1:$port" -q
analyzer=$(curl -sf "$url/analyzer/json")
held=$(echo "$analyzer" | sed -n 's/.*"flowsActive":\([0-9]*\).*/\1/p')
rows=$(echo "$analyzer" | sed -n 's/.*"rowsAnalysed":\([0-9]*\).*/\1/p')
distinct=$(curl -sf "$url/activeflows/ALL/fivetuple/json?maxFlows=5" | head -c 200)
rss=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
echo "memory: 1166690 flows in 70 s (1M a minute), rows analysed $rows, flows held at the end $held, peak RSS ${rss} MiB"
echo "        top flows: $distinct"
