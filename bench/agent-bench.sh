#!/usr/bin/env bash
# Agents at rate: AGENTS `flowline agent`s on loopback, each fed RATE new IPFIX flows/s (`flowline gen`, its own
# seed) for SECONDS, shipping to one `flowline serve --sessions on`. Optionally the collector is away for
# AWAY seconds from the start (it starts late; the agents keep their batches in the backlog).
# Prints, per agent, its peak resident memory, what it shipped (its stop line) and bytes on the wire per
# session row, then what the collector stored (session rows, their bytes both ways, flow rows) and
# whether the totals equal what the agents shipped.
# usage: bench/agent-bench.sh [RATE] [SECONDS] [AGENTS] [AWAY] [agent options ...]
set -euo pipefail
rate=${1:-50000} seconds=${2:-60} agents=${3:-1} away=${4:-0}
shift $(( $# < 4 ? $# : 4 ))
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/flowline" --help >/dev/null   # build first
bin="$root/.build/flowline/flowline"
work=$(mktemp -d /tmp/flowline-agent-bench.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
http=$((20000 + RANDOM % 20000))
start_serve() {
  "$bin" serve --data-dir "$work/data" --sessions on --http "127.0.0.1:$http" --netflow 127.0.0.1:0 --sflow 127.0.0.1:0 --ipfix 127.0.0.1:0 \
    >"$work/serve.out" 2>"$work/serve.err" &
  serve=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$http/healthz" >/dev/null && break; sleep 0.1; done
}
[ "$away" -gt 0 ] || start_serve
for a in $(seq "$agents"); do
  "$bin" keys create --account acc-1 --agent "node-$a" --data-dir "$work/data" >"$work/key-$a"
  id=$(awk '/access key id/ {print $4}' "$work/key-$a"); awk '/secret key/ {print $3}' "$work/key-$a" >"$work/secret-$a"
  port=$((40000 + RANDOM % 20000))
  echo "$port" >"$work/port-$a"
  "$bin" agent --collector "http://127.0.0.1:$http" --key-id "$id" --secret-file "$work/secret-$a" --ipfix "127.0.0.1:$port" \
    --backlog "$work/backlog-$a" --name "node-$a" "$@" >"$work/agent-$a.out" 2>"$work/agent-$a.err" &
  echo $! >"$work/pid-$a"; pids+=($!)
done
for a in $(seq "$agents"); do for _ in $(seq 100); do grep -q "ipfix on udp" "$work/agent-$a.err" 2>/dev/null && break; sleep 0.1; done; done
gens=()
for a in $(seq "$agents"); do
  "$root/flowline" gen --protocol ipfix --count $((rate * seconds)) --rate "$rate" --seed "$a" --hosts 50000 -q --start "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --target "udp://127.0.0.1:$(cat "$work/port-$a")" & gens+=($!)
done
if [ "$away" -gt 0 ]; then sleep "$away"; start_serve; fi
wait "${gens[@]}"
# Settle: every backlog empty (the last interval's batch made and delivered).
sleep 3
for _ in $(seq 600); do
  left=$(find "$work" -path "*backlog-*" -name 'batch-*' \( -name '*.flb' -o -name '*.json' \) | wc -l)
  [ "$left" -eq 0 ] && break; sleep 1
done
for a in $(seq "$agents"); do
  pid=$(cat "$work/pid-$a")
  rss=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  echo "agent node-$a: peak RSS ${rss} MiB; $(grep 'stopped' "$work/agent-$a.err")"
  grep -E 'dropped|refused' "$work/agent-$a.err" || true
done
# Batches made at the agents' stop: delivered before they exit or left in the backlog (counted above).
sleep 2
kill -TERM "$serve"; wait "$serve" 2>/dev/null || true
"$bin" query --data-dir "$work/data/sessions" --fields bytes,rev_bytes -o csv | awk -F, 'NR > 1 {n++; b += $1 + $2} END {printf "collector: %d session rows, %.0f bytes both ways\n", n, b}'
"$bin" query --data-dir "$work/data" --fields bytes -o csv | awk -F, 'NR > 1 {n++} END {printf "collector: %d flow rows\n", n}'
