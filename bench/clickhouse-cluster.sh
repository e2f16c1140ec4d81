#!/usr/bin/env bash
# Starts (or stops) a ClickHouse cluster of N one-server shards on loopback for the benchmarks, each
# clickhouse-server from a private config in DIR/sN (HTTP port 18123+N-1, TCP port 19000+N-1), the
# cluster named "flowline" in every server's remote_servers. Prints the address `serve --store` takes.
#   bench/clickhouse-cluster.sh start DIR [N] [DATABASE]     bench/clickhouse-cluster.sh stop DIR
set -euo pipefail
verb=$1 dir=$2 n=${3:-2} database=${4:-flowline}
binary=/usr/bin/clickhouse-server; [ -x "$binary" ] || binary=/usr/sbin/clickhouse-server
if [ "$verb" = stop ]; then
  for pidfile in "$dir"/s*/pid; do [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true; done
  exit 0
fi
mkdir -p "$dir"
shards=""
for i in $(seq 0 $((n - 1))); do shards="$shards<shard><replica><host>127.0.0.1</host><port>$((19000 + i))</port></replica></shard>"; done
for i in $(seq 0 $((n - 1))); do
  s="$dir/s$i"; mkdir -p "$s"
  cat >"$s/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$s/server.log</log><errorlog>$s/error.log</errorlog><console>0</console></logger>
  <http_port>$((18123 + i))</http_port>
  <tcp_port>$((19000 + i))</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$s/data/</path>
  <tmp_path>$s/tmp/</tmp_path>
  <users_config>$s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <remote_servers><flowline>$shards</flowline></remote_servers>
</yandex>
XML
  cat >"$s/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>8000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
XML
  "$binary" --config-file="$s/config.xml" >"$s/stdout" 2>&1 &
  echo $! >"$s/pid"
done
for i in $(seq 0 $((n - 1))); do
  for _ in $(seq 300); do [ "$(curl -s "http://127.0.0.1:$((18123 + i))/ping")" = "Ok." ] && break; sleep 0.1; done
done
list=""; for i in $(seq 0 $((n - 1))); do list="$list${list:+,}127.0.0.1:$((18123 + i))"; done
if [ "$n" -eq 1 ]; then echo "clickhouse://127.0.0.1:18123/$database"
else echo "clickhouse://127.0.0.1:18123/$database?cluster=flowline&shards=$list"; fi
