#!/usr/bin/env bash
# Soak: `flowline serve` fed IPFIX at RATE records/s for MINUTES (default 500000 for 30), with its defaults
# (compaction in the background, retention). Every 10 s it samples serve's resident memory and what the
# store holds; every minute it queries a closed minute while ingest goes on. Prints a summary at the end:
#   sent, stored, lost (sent - stored), queue drops, peak and last resident memory, partitions that closed
#   and how long each took to reach one final segment, bytes per record of the final partitions, and
#   whether every queried minute held exactly RATE*60 flows and answered the same before and after its
#   partition was compacted.
# Samples go to $SOAK_DIR/samples.tsv (default /tmp/flowline-soak). Needs net.core.rmem_max >= 32 MiB.
set -euo pipefail
rate=${1:-500000} minutes=${2:-30}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fl=${FLOWLINE_BIN:-$root/.build/flowline/flowline}
work=${SOAK_DIR:-/tmp/flowline-soak}
rm -rf "$work"; mkdir -p "$work"
port=$((40000 + RANDOM % 20000)) http=$((port + 1))
"$fl" serve --data-dir "$work/data" --ipfix "127.0.0.1:$port" --netflow 127.0.0.1:0 --sflow 127.0.0.1:0 \
  --http "127.0.0.1:$http" ${SOAK_SERVE_ARGS:-} >"$work/serve.out" 2>"$work/serve.err" &
serve=$!
trap 'kill $serve $gen 2>/dev/null || true' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$http/healthz" >/dev/null && break; sleep 0.1; done
count=$((rate * minutes * 60))
start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
start_s=$(date -u -d "$start" +%s)
"$fl" gen --protocol ipfix --count "$count" --rate "$rate" --start "$start" --target "udp://127.0.0.1:$port" -q 2>"$work/gen.err" &
gen=$!
metric() { curl -s "http://127.0.0.1:$http/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%d", s}'; }
printf 'seconds\trss_mib\tstored\tqueue_drops\tfinals\truns\tpartitions\tsegments\tstore_bytes\n' >"$work/samples.tsv"
: >"$work/queries.tsv"
sample() {
  local t=$1
  local rss; rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$serve/status")
  local segs; segs=$(find "$work/data" -path '*/[0-9]*/[0-9]*/seg-*.seg' | wc -l)
  local parts; parts=$(find "$work/data" -mindepth 2 -maxdepth 2 -path '*/[0-9]*/[0-9]*' -type d | wc -l)
  local bytes; bytes=$(du -sb "$work/data" | cut -f1)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$rss" "$(metric flowline_records_stored_total)" "$(metric flowline_socket_queue_drops_total)" \
    "$(metric flowline_compaction_finals_total)" "$(metric flowline_compaction_runs_total)" "$parts" "$segs" "$bytes" >>"$work/samples.tsv"
}
# A closed minute's flows by protocol (a rollup answers once its partition is compacted, the flows before).
probe() {
  local from=$1
  "$fl" query --data-dir "$work/data" --from "$(date -u -d "@$from" +%FT%TZ)" --to "$(date -u -d "@$((from + 60))" +%FT%TZ)" -A ip_proto -o csv 2>/dev/null | sort
}
t0=$(date +%s)
next_probe=$((t0 + 150))
probed=()
while kill -0 $gen 2>/dev/null; do
  now=$(date +%s)
  sample $((now - t0))
  if [ "$now" -ge "$next_probe" ]; then
    # The minute that ended two minutes ago (in the flows' time, which runs with the clock).
    m=$(( (now - 180 - start_s) / 60 * 60 + start_s ))
    if [ "$m" -ge "$start_s" ]; then
      probe "$m" >"$work/probe-$m.before"
      probed+=("$m")
    fi
    next_probe=$((now + 60))
  fi
  sleep 10
done
gen_status=0; wait $gen || gen_status=$?
# Let the last partitions close and compact (compact_after after their end).
settle_until=$(( $(date +%s) + 600 ))
while [ "$(date +%s)" -lt "$settle_until" ]; do
  now=$(date +%s); sample $((now - t0))
  stored=$(metric flowline_records_stored_total)
  [ "$stored" -ge "$count" ] && [ "$(find "$work/data" -path '*/[0-9]*/[0-9]*/seg-*.seg' | wc -l)" -le "$(find "$work/data" -mindepth 2 -maxdepth 2 -path '*/[0-9]*/[0-9]*' -type d | wc -l)" ] && break
  sleep 10
done
stored=$(metric flowline_records_stored_total)
drops=$(metric flowline_socket_queue_drops_total)
ok=0 bad=0
for m in "${probed[@]}"; do
  probe "$m" >"$work/probe-$m.after"
  total=$(awk -F, '$1 != "ip_proto" {s += $NF} END {print s + 0}' "$work/probe-$m.after")
  if cmp -s "$work/probe-$m.before" "$work/probe-$m.after" && [ "$total" -eq $((rate * 60)) ]; then ok=$((ok + 1)); else bad=$((bad + 1)); echo "minute $m: flows $total, before/after differ or short" >&2; fi
done
echo "sent $count stored $stored lost $((count - stored)) queue_drops $drops gen_status $gen_status"
awk -F'\t' 'NR > 1 {if ($2 > p) p = $2; l = $2} END {print "rss_peak_mib " p " rss_last_mib " l}' "$work/samples.tsv"
echo "queried minutes: $ok correct, $bad wrong"
# Per partition: final (one segment) or not, its bytes per record, when its last commit and final segment were written.
for d in "$work"/data/[0-9]*/[0-9]*; do
  [ -d "$d" ] || continue
  n=$(ls "$d"/seg-*.seg 2>/dev/null | wc -l)
  seg=$(ls "$d"/seg-*.seg 2>/dev/null | head -1)
  end=$(( $(date -u -d "$(basename "$(dirname "$d")") $(basename "$d" | sed 's/../&:/')" +%s) + $(cat "$work/data/partition-width") ))
  done_at=$(stat -c %Y "$seg")
  printf 'partition %s segments %s final_after_end_s %s\n' "${d#"$work/data/"}" "$n" "$((done_at - end))"
done
kill -TERM $serve; wait $serve || true
"$fl" store stats --data-dir "$work/data" | sed 's/^/store /'
