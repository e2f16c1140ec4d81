#!/usr/bin/env bash
# The flow-log API's speed, on one store of FLOWS flows of acc-a (and a quarter as many of acc-b) spread over
# HOURS: records/s streamed by GET /api/v1/flows over the whole range, records/s of describe-flow-logs over the
# whole range (with a check that its file holds exactly the store's flows of acc-a, and that a run killed
# half-way and resumed writes the identical file), and the latency of single 30-minute DescribeFlowLog windows.
# usage: bench/api-bench.sh [FLOWS] [HOURS] [LATENCY_RUNS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
flows=${1:-1200000} hours=${2:-6} runs=${3:-5}
"$root/flowline" --help >/dev/null   # build first
dotnet build -c Release -v q -nologo "$root/bench/Flowline.Bench" >/dev/null
bench=(dotnet "$root/bench/Flowline.Bench/bin/Release/net10.0/Flowline.Bench.dll")
work=$(mktemp -d /tmp/flowline-api-bench.XXXXXX)
serve_pid=""
cleanup() { [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
now() { date +%s.%N; }

t0=$(now)
read -r key secret start end < <("${bench[@]}" api-fill "$work/data" "$flows" "$hours")
echo "# store: $flows flows of acc-a + $((flows / 4)) of acc-b over $hours h, written in $(echo "$(now) - $t0" | bc) s"
export FLOWLINE_JCS_TIME_ZONE=UTC   # DescribeFlowLog times in UTC on both sides, so `date -u` writes them
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$root/flowline" serve --data-dir "$work/data" --sflow 127.0.0.1:0 --netflow 127.0.0.1:0 --ipfix 127.0.0.1:0 --http "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
serve_pid=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.2; done
utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
from=$(utc "$start") to=$(utc "$end")
stored=$("$root/flowline" query --data-dir "$work/data" --from "$from" --to "$to" -A account -o csv | awk -F, '$1=="acc-a"{print $4}')
echo "# acc-a flows in the store for $from .. $to: $stored"

# 1. GET /api/v1/flows, the whole range, default fields.
q="from=$from&to=$to"
auth=$("${bench[@]}" api-sign v1 "$key" "$secret" GET /api/v1/flows "$q")
t0=$(now)
curl -sf -H "Authorization: $auth" "http://127.0.0.1:$port/api/v1/flows?$q" -o "$work/flows.ndjson"
t=$(echo "$(now) - $t0" | bc)
lines=$(wc -l <"$work/flows.ndjson")
echo "v1-flows records=$lines seconds=$t records_per_s=$(echo "$lines / $t" | bc) bytes=$(stat -c %s "$work/flows.ndjson")"
rm -f "$work/flows.ndjson"

# 2. describe-flow-logs over the whole range (30-minute windows, 2 at once), then killed half-way and resumed.
export FLOWLINE_ACCESS_KEY="$key" FLOWLINE_SECRET_KEY="$secret"
zs() { date -u -d "@$1" "+%d-%m-%Y %H:%M:%S"; }
client=("$root/flowline" describe-flow-logs -s "$(zs "$start")" -e "$(zs "$end")" --zone UTC --endpoint "http://127.0.0.1:$port" -q)
t0=$(now)
"${client[@]}" -o "$work/whole.json"
t=$(echo "$(now) - $t0" | bc)
items=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["DescribeFlowLogResponse"]["value"]["item"]))' "$work/whole.json")
echo "client records=$items seconds=$t records_per_s=$(echo "$items / $t" | bc) equals_store=$([ "$items" = "$stored" ] && echo yes || echo NO)"
"${client[@]}" -o "$work/resumed.json" &
pid=$!
windows=$(( ${hours%.*} * 2 ))
until [ "$(ls "$work/resumed.json.parts" 2>/dev/null | grep -c 'ndjson$' || true)" -ge $((windows / 2)) ]; do sleep 0.05; done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
done_parts=$(ls "$work/resumed.json.parts" | grep -c 'ndjson$')
"${client[@]}" -o "$work/resumed.json"
echo "resume killed_after_windows=$done_parts/$windows identical=$(cmp -s "$work/whole.json" "$work/resumed.json" && echo yes || echo NO)"

# 3. One 30-minute DescribeFlowLog window in the middle of the range.
w=$(( start + (end - start) / 2 ))
inwindow=$("$root/flowline" query --data-dir "$work/data" --from "$(utc "$w")" --to "$(utc $((w + 1800)))" -A account -o csv | awk -F, '$1=="acc-a"{print $4}')
for _ in $(seq "$runs"); do
  qs=$("${bench[@]}" api-sign action "$key" "$secret" "127.0.0.1:$port" "Version=2016-03-01&Action=DescribeFlowLog&start_time=$(date -d "@$w" -u '+%d-%m-%Y %H:%M:%S' | sed 's/ /%20/')&end_time=$(date -d "@$((w + 1800))" -u '+%d-%m-%Y %H:%M:%S' | sed 's/ /%20/')")
  sleep 1.1   # a fresh timestamp, so no request is a replay of the one before
  curl -s -o "$work/window.json" -w "window flows_in_window=$inwindow status=%{http_code} seconds=%{time_total} bytes=%{size_download}\n" "http://127.0.0.1:$port/?$qs"
done
