#!/usr/bin/env bash
# The collector benchmark of docs/PERFORMANCE.md: for each protocol, the highest offered rate at which
# three 30-second runs lose nothing, for flowline serve and for nfcapd / sfcapd, same generator
# (`flowline gen --preload`), same machine. Rates are tried from the highest given down: the first
# rate at which three runs in a row lose nothing is the result.
#   bench/collector-bench.sh [SECONDS]          # prints one line per run (see collector-run.sh)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds=${1:-30}
sysctl -qw net.core.rmem_max=33554432 2>/dev/null || true
"$root/flowline" --help >/dev/null   # build once before timing anything
search() {
  local collector=$1 protocol=$2; shift 2
  local best=0 least=0
  for rate in "$@"; do
    local ok=1
    least=$rate
    for run in 1 2 3; do
      line=$("$root/bench/collector-run.sh" "$collector" "$protocol" "$rate" "$seconds")
      echo "$line run=$run"
      lost=$(awk '{print $8}' <<<"$line")
      offered=$(sed -n 's/.* offered=\([0-9]*\).*/\1/p' <<<"$line")
      [ "${offered:-$rate}" -lt "$least" ] && least=$offered
      [ "$lost" = 0 ] || { ok=0; break; }
    done
    if [ $ok = 1 ]; then best=$rate; break; fi
  done
  # The generator may fall short of the rate asked for: the lowest rate it achieved in those runs says what was proven.
  echo "RESULT $collector $protocol loss-free $best (offered at least $least/s)"
}
search nfcapd netflow9 1400000 1200000 1100000 1000000 900000 800000 700000
search flowline netflow9 2400000 2000000 1800000 1600000
search nfcapd ipfix 1600000 1400000 1200000 1100000 1000000 900000 800000 700000 600000
search flowline ipfix 2400000 2000000 1800000 1600000
search sfcapd sflow 800000 700000 600000 500000 400000 300000
search flowline sflow 1200000 1000000 900000 800000
