#!/usr/bin/env bash
# Sets up Flowline and runs its collector: sFlow udp/6343, NetFlow udp/2055, IPFIX udp/4739, HTTP 8008
# (the web console at /, /healthz, /metrics, /api/v1/exporters), flows stored in ./data (FLOWLINE_DATA_DIR or --data-dir to change).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
# A large socket receive buffer is what keeps bursts from being dropped by the kernel.
if [ "$(sysctl -n net.core.rmem_max 2>/dev/null || echo 0)" -lt 33554432 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo sysctl -w net.core.rmem_max=33554432 >/dev/null || echo "run.sh: could not raise net.core.rmem_max; bursts may be dropped" >&2
fi
exec "$root/flowline" serve "$@"
