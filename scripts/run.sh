#!/usr/bin/env bash
# Sets up Flowline and runs its collector on the standard ports (sFlow 6343, NetFlow 2055, IPFIX 4739).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
exec "$root/flowline" decode --listen udp://0.0.0.0:6343 --listen udp://0.0.0.0:2055 --listen udp://0.0.0.0:4739 "$@"
