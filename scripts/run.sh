#!/usr/bin/env bash
# Sets up Flowline and runs its collector: sFlow udp/6343, NetFlow udp/2055, IPFIX udp/4739, HTTP 8008
# (the web console at /, /healthz, /metrics, /api/v1/exporters), flows stored in ./data (FLOWLINE_DATA_DIR or --data-dir to change).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
exec "$root/flowline" serve "$@"
