#!/usr/bin/env bash
# Installs what Flowline and its tests use: Debian packages (when missing) and NuGet packages.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# command -> Debian package
declare -A packages=(
  [tshark]=tshark
  [tcpdump]=tcpdump
  [strace]=strace
  [nfdump]=nfdump
  [softflowd]=softflowd
  [sfcapd]=nfdump-sflow
  [pmacctd]=pmacct
  [ovs-vsctl]=openvswitch-switch
  [iperf3]=iperf3
  [curl]=curl
  [ping]=iputils-ping
  [ethtool]=ethtool
  [ip]=iproute2
  [python3]=python3
  [npm]=npm
  [openssl]=openssl
  [rsyslogd]=rsyslog
  [prometheus]=prometheus
  [gobgpd]=gobgpd
  [exabgp]=exabgp
  [vtysh]=frr
  [zsh]=zsh
  [fish]=fish
  [dpkg-deb]=dpkg
  [systemd-analyze]=systemd
  [shellcheck]=shellcheck
  [clickhouse-server]=clickhouse-server
  [clickhouse-client]=clickhouse-client
  [chromium]=chromium
)
missing=()
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/usr/bin/$cmd" ] || missing+=("${packages[$cmd]}")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Country and AS of public addresses: the @ip-location-db range files, from npm (the packages are data only).
geo="$root/.deps/geo"
if [ ! -f "$geo/node_modules/@ip-location-db/asn/asn-ipv4-num.csv" ] || \
   [ ! -f "$geo/node_modules/@ip-location-db/geo-whois-asn-country/geo-whois-asn-country-ipv4-num.csv" ] || \
   [ ! -f "$geo/node_modules/@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country-ipv4.mmdb" ]; then
  echo "setup: installing the address database (@ip-location-db/geo-whois-asn-country, its -mmdb form, @ip-location-db/asn)" >&2
  mkdir -p "$geo"
  npm install --prefix "$geo" --no-audit --no-fund --loglevel=error \
    @ip-location-db/geo-whois-asn-country @ip-location-db/asn @ip-location-db/geo-whois-asn-country-mmdb >&2
fi

# The web console's libraries (uPlot) and bundler (esbuild), exactly as its lock file says; the build bundles them.
console="$root/src/Flowline.Api/Console"
if [ ! -x "$console/node_modules/.bin/esbuild" ] || [ "$console/package-lock.json" -nt "$console/node_modules/.package-lock.json" ]; then
  echo "setup: installing the web console's packages (npm ci)" >&2
  npm ci --prefix "$console" --no-audit --no-fund --loglevel=error >&2
fi

# A large socket receive buffer is what keeps bursts from being dropped by the kernel: serve asks for 32 MiB
# per flow socket, and the kernel gives at most net.core.rmem_max (a few hundred KiB by default).
if [ "$(sysctl -n net.core.rmem_max 2>/dev/null || echo 0)" -lt 33554432 ]; then
  $sudo sysctl -w net.core.rmem_max=33554432 >/dev/null || echo "setup: could not raise net.core.rmem_max; bursts may be dropped" >&2
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "setup: the .NET 10 SDK (dotnet) is not installed" >&2
  exit 1
fi
dotnet restore "$root/Flowline.slnx" -v quiet >&2
