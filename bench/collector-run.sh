#!/usr/bin/env bash
# One collector run: start a fresh collector, send RATE records/s for SECONDS with `flowline gen --preload`,
# wait for it to settle, stop it, and print one line:
#   collector protocol rate seconds sent stored lost cpu_seconds cpu_ns_per_record max_rss_mib socket_drops queue_drops offered
#   user_ns_per_record sys_ns_per_record
# offered: records sent per second as achieved (the generator falls short of RATE when it cannot keep up).
# socket_drops: datagrams the kernel dropped for a full receive buffer (all UDP sockets, from /proc/net/snmp);
# queue_drops: datagrams Flowline dropped from its own full queues.
# CPU time is the collector's (user + system) from the first datagram until it is idle again.
# collector: flowline | nfcapd (NetFlow v9 / IPFIX) | sfcapd (sFlow)
# FLOWLINE_COMPACT=1: after the collector stops, its store's open partitions are compacted too
# (`flowline store compact`), and the line ends with that CPU time and the whole CPU per record
# (ingest + every merge the rows will ever go through): " compact_s=S total_ns_per_record=N".
set -euo pipefail
collector=$1 protocol=$2 rate=$3 seconds=${4:-30}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work=$(mktemp -d /tmp/flowline-collector-run.XXXXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
count=$((rate * seconds))
port=$((40000 + RANDOM % 20000))
case $collector in
  flowline)
    flag=--netflow; [ "$protocol" = ipfix ] && flag=--ipfix; [ "$protocol" = sflow ] && flag=--sflow
    others=(); for f in --netflow --ipfix --sflow; do [ "$f" = "$flag" ] || others+=("$f" 127.0.0.1:0); done
    # gen dates its flows from a fixed day: a long retention keeps them for as long as the run lasts.
    # FLOWLINE_SERVE_ARGS: more flags for serve, e.g. "--inventory FILE" (bench/enrichment-bench.sh).
    # shellcheck disable=SC2086
    "$root/.build/flowline/flowline" serve --data-dir "$work/data" "$flag" "127.0.0.1:$port" "${others[@]}" \
      --http "127.0.0.1:$((port + 1))" --retention 3650d ${FLOWLINE_SERVE_ARGS:-} >"$work/out" 2>"$work/err" &
    ;;
  nfcapd|sfcapd)
    mkdir -p "$work/data"
    "$collector" -y -B 4194304 -w "$work/data" -b 127.0.0.1 -p "$port" >"$work/out" 2>&1 &
    ;;
  *) echo "unknown collector $collector" >&2; exit 2 ;;
esac
pid=$!
for _ in $(seq 300); do ss -lun | grep -q ":$port " && break; sleep 0.1; done
# FLOWLINE_SETUP: a command run with serve's HTTP URL before the load, e.g. to define real-time flows (bench/realtime-bench.sh).
if [ -n "${FLOWLINE_SETUP:-}" ] && [ "$collector" = flowline ]; then
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((port + 1))/healthz" >/dev/null && break; sleep 0.1; done
  $FLOWLINE_SETUP "http://127.0.0.1:$((port + 1))"
fi
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
base=$(cpu)
# User and system time apart: the kernel's share (receiving the datagrams) is paid by every collector alike.
sys_ticks() { awk '{print $15}' "/proc/$pid/stat"; }
sys_base=$(sys_ticks)
rcvbuf() { awk '/^Udp:/ && ++n == 2 {print $6}' /proc/net/snmp; }
rcvbuf_before=$(rcvbuf)
# FLOWLINE_THREADS=1: CPU seconds of each of the collector's threads (summed by name) on stderr, busiest first.
# Sampled every half second while it runs, so threads that end before it does (the thread pool's workers
# retire when idle) are counted with what they had used when last seen.
threads_sample() {
  while kill -0 "$pid" 2>/dev/null; do
    for t in /proc/"$pid"/task/*/stat; do
      read -r line < "$t" 2>/dev/null || continue
      name=${line#*(}; name=${name%)*}
      # shellcheck disable=SC2086
      set -- ${line##*) }
      printf '%s\t%s\t%s\n' "${t%/stat}" "$name" "$(( ${12} + ${13} ))"
    done > "$work/threads.now"
    mv "$work/threads.now" "$work/threads.snap.$SECONDS"
    sleep 0.5
  done
}
[ -n "${FLOWLINE_THREADS:-}" ] && { threads_sample & sampler=$!; }
# FLOWLINE_GEN_ARGS: more flags for gen, e.g. "--public-servers" (bench/enrichment-bench.sh).
# shellcheck disable=SC2086
"$root/flowline" gen --protocol "$protocol" --count "$count" --rate "$rate" --preload ${FLOWLINE_GEN_ARGS:-} --target "udp://127.0.0.1:$port" 2>"$work/gen"
sent_in=$(sed -n "s/.* in \([0-9.]*\) s$/\1/p" "$work/gen" | tail -1)
# Settle: wait until the collector's CPU time stops growing.
last=-1
while true; do now=$(cpu); [ "$now" = "$last" ] && break; last=$now; sleep 1; done
ticks=$(getconf CLK_TCK)
sys_used=$(( $(sys_ticks) - sys_base ))
socket_drops=$(( $(rcvbuf) - rcvbuf_before ))
queue_drops=-
realtime=""
if [ "$collector" = flowline ]; then
  metrics=$(curl -s "http://127.0.0.1:$((port + 1))/metrics")
  queue_drops=$(echo "$metrics" | awk '/^flowline_socket_queue_drops_total/ {s += $2} END {print s + 0}')
  # With flow definitions: rows they counted, and rows they skipped because they had fallen behind.
  # FLOWLINE_REALTIME_COUNTS=1: the same for an analysis without definitions (DDoS detection, bench/ddos-bench.sh).
  [ -n "${FLOWLINE_SETUP:-}${FLOWLINE_REALTIME_COUNTS:-}" ] && realtime=$(echo "$metrics" | awk '/^flowline_realtime_rows_total/ {r = $2} /^flowline_realtime_rows_dropped_total/ {d = $2} END {printf " realtime_rows=%d realtime_dropped=%d", r, d}')
fi
rss=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
if [ -n "${FLOWLINE_THREADS:-}" ]; then
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  # The last figure seen of every thread, summed by name.
  cat "$work"/threads.snap.* | awk -F'\t' -v hz="$ticks" '$3 >= cpu[$1] {cpu[$1] = $3; name[$1] = $2}
    END {for (t in cpu) {s[name[t]] += cpu[t]; n[name[t]]++} for (k in s) if (s[k] > 0) printf "%8.2f s  %3d thread(s)  %s\n", s[k] / hz, n[k], k}' | sort -rn >&2
fi
kill -TERM $pid; wait $pid 2>/dev/null || true
# FLOWLINE_LOG=FILE: keep the collector's log (its stderr) there.
[ -n "${FLOWLINE_LOG:-}" ] && [ "$collector" = flowline ] && cp "$work/err" "$FLOWLINE_LOG"
case $collector in
  flowline) stored=$(sed -n 's/.*records decoded, \([0-9]*\) records stored.*/\1/p' "$work/err") ;;
  *) stored=$(sed -n "s/.*Flows: \([0-9]*\),.*/\1/p" "$work/out" | awk '{s += $1} END {print s + 0}') ;;
esac
used=$((last - base))
cpu_s=$(echo "scale=2; $used / $ticks" | bc)
compacted=""
if [ -n "${FLOWLINE_COMPACT:-}" ] && [ "$collector" = flowline ]; then
  TIMEFORMAT='%U %S'
  { time "$root/.build/flowline/flowline" store compact --data-dir "$work/data" >"$work/compact" 2>&1; } 2>"$work/compact-time"
  compact_s=$(awk '{print $1 + $2}' "$work/compact-time")
  compacted=" compact_s=$compact_s total_ns_per_record=$(echo "($cpu_s + $compact_s) * 1000000000 / ${stored:-1}" | bc)"
  # The wall time of each store's compaction (flows, and sessions when serve stored them).
  compacted+=" flows_compact_wall_s=$(sed -n 's/^compact: [0-9]* partition(s) compacted in \([0-9.]*\) s$/\1/p' "$work/compact")"
  grep -q "^compact: sessions:" "$work/compact" && compacted+=" sessions_compact_wall_s=$(sed -n 's/^compact: sessions: [0-9]* partition(s) compacted in \([0-9.]*\) s$/\1/p' "$work/compact")"
fi
echo "$collector $protocol $rate $seconds sent_in=${sent_in}s $count ${stored:-0} $((count - ${stored:-0})) $cpu_s $(echo "$used * 1000000000 / $ticks / ${stored:-1}" | bc) $rss socket_drops=$socket_drops queue_drops=$queue_drops$realtime offered=$(echo "$count / $sent_in" | bc) user_ns_per_record=$(echo "($used - $sys_used) * 1000000000 / $ticks / ${stored:-1}" | bc) sys_ns_per_record=$(echo "$sys_used * 1000000000 / $ticks / ${stored:-1}" | bc)$compacted"
