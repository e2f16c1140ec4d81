#!/usr/bin/env bash
# Ingest with and without enrichment, same session: NetFlow v9 from `flowline gen` into `flowline serve`,
# once plain and once with an inventory of PORTS ports and GROUPS security groups (bench/make-inventory.py:
# every generated client address is a port). `flowline gen --public-servers` puts the servers on internet
# addresses, so every record has a country and AS lookup for its far end; plain runs get the same traffic.
# For each rate and mode, RUNS runs of SECONDS seconds (bench/collector-run.sh lines, prefixed by the mode).
# usage: bench/enrichment-bench.sh [SECONDS] [RUNS] [PORTS] [GROUPS] [RATES...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds=${1:-30} runs=${2:-3} ports=${3:-10000} groups=${4:-1000}
shift $(( $# < 4 ? $# : 4 ))
rates=("$@"); [ ${#rates[@]} -gt 0 ] || rates=(1600000 1400000 1300000)
"$root/flowline" --help >/dev/null   # build first
inventory=$(mktemp /tmp/flowline-inventory.XXXXXX.yaml)
trap 'rm -f "$inventory"' EXIT
python3 "$root/bench/make-inventory.py" "$ports" "$groups" >"$inventory"
export FLOWLINE_GEO_DIR="${FLOWLINE_GEO_DIR:-$root/.deps/geo/node_modules/@ip-location-db}"
export FLOWLINE_GEN_ARGS="--public-servers"
echo "# mode collector protocol rate seconds sent stored lost cpu_seconds cpu_ns_per_record max_rss_mib socket_drops queue_drops"
for rate in "${rates[@]}"; do
  for _ in $(seq "$runs"); do
    printf 'plain '; FLOWLINE_SERVE_ARGS="" bash "$root/bench/collector-run.sh" flowline netflow9 "$rate" "$seconds"
    printf 'enriched '; FLOWLINE_SERVE_ARGS="--inventory $inventory" bash "$root/bench/collector-run.sh" flowline netflow9 "$rate" "$seconds"
  done
done
