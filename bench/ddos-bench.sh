#!/usr/bin/env bash
# DDoS detection cost (docs/PERFORMANCE.md): sFlow from `flowline gen --public-servers` at RATE samples/s for
# 30 s, into serve without detection and with every address protected (--ddos dry-run, 0.0.0.0/0 and ::/0),
# alternating, RUNS times each (bench/collector-run.sh: records stored, loss, CPU ns per record, peak RSS).
# The difference of the CPU per record is what detection costs on the real-time thread.
# Usage: bench/ddos-bench.sh [RATE] [RUNS]
set -euo pipefail
rate=${1:-1000000} runs=${2:-2}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/flowline" --version >/dev/null 2>&1 || true
export FLOWLINE_GEN_ARGS=--public-servers
echo "# collector protocol rate seconds sent_in sent stored lost cpu_s ns_per_record rss_mib socket_drops queue_drops offered"
for run in $(seq "$runs"); do
  echo -n "off:  "; FLOWLINE_SERVE_ARGS="" "$root/bench/collector-run.sh" flowline sflow "$rate" 30
  echo -n "ddos: "; FLOWLINE_REALTIME_COUNTS=1 FLOWLINE_SERVE_ARGS="--ddos dry-run --ddos-groups v4=0.0.0.0/0,v6=::/0" "$root/bench/collector-run.sh" flowline sflow "$rate" 30
done
