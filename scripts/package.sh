#!/usr/bin/env bash
# Builds the Debian package: flowline_<version>_<arch>.deb in OUTPUT_DIR (default .build/package).
#
#   scripts/package.sh [OUTPUT_DIR]        (FLOWLINE_DEB_XZ_LEVEL: xz level, default 6)
#
# /usr/bin/flowline is self-contained (the .NET runtime inside, no SDK or runtime on the target), one file,
# ahead-of-time compiled (ReadyToRun); flowline.service (serve) and flowline-agent.service with hardening;
# /etc/flowline/flowline.yaml (a conffile, from docs/flowline.example.yaml) and /etc/default/flowline-agent;
# the address database in /usr/share/flowline/geo; bash completion; maintainer scripts that make the
# flowline system user and /var/lib/flowline (0700). Removing keeps the data; purging removes it.
# Needs the SDK and scripts/setup.sh's address database (run it first); prints the package's path.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:-$root/.build/package}" && cd "${1:-$root/.build/package}" && pwd)"
geo="$root/.deps/geo/node_modules/@ip-location-db"
[ -f "$geo/asn/asn-ipv4-num.csv" ] || { echo "package: no address database in $geo (run scripts/setup.sh)" >&2; exit 1; }

arch=$(dpkg --print-architecture)
case "$arch" in
  amd64) rid=linux-x64 ;;
  arm64) rid=linux-arm64 ;;
  *) echo "package: no .NET runtime identifier for architecture $arch" >&2; exit 1 ;;
esac
base=$(sed -n 's:.*<VersionPrefix>\(.*\)</VersionPrefix>.*:\1:p' "$root/Directory.Build.props")
[ -n "$base" ] || { echo "package: no VersionPrefix in Directory.Build.props" >&2; exit 1; }
# Later commits sort later: 0.9.0+412.g1a2b3c4 (the commit count since the start, then the commit).
version=$base
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  version="$base+$(git -C "$root" rev-list --count HEAD).g$(git -C "$root" rev-parse --short=7 HEAD)"
fi

work=$(mktemp -d /tmp/flowline-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
pkg="$work/root"

echo "package: building flowline $version for $rid (self-contained, one file, ReadyToRun)" >&2
dotnet publish "$root/src/Flowline.Cli/Flowline.Cli.csproj" -c Release -r "$rid" --self-contained true \
  -p:PublishSingleFile=true -p:PublishReadyToRun=true -p:DebugType=none -p:Version="$base" \
  -o "$work/publish" -nologo -v quiet >&2

install -d -m 0755 "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/etc/flowline" "$pkg/etc/default" \
  "$pkg/usr/share/flowline/geo" "$pkg/usr/share/doc/flowline" "$pkg/usr/share/bash-completion/completions" "$pkg/DEBIAN"
install -m 0755 "$work/publish/flowline" "$pkg/usr/bin/flowline"
install -m 0644 "$root/packaging/flowline.service" "$root/packaging/flowline-agent.service" "$pkg/lib/systemd/system/"
install -m 0644 "$root/packaging/flowline-agent.default" "$pkg/etc/default/flowline-agent"

# The configuration: the example with the package's paths and JSON events for the journal.
sed -e 's|^data_dir: data$|data_dir: /var/lib/flowline|' \
    -e 's|^# geo_dir: .*|geo_dir: /usr/share/flowline/geo|' \
    -e 's|^log_format: text .*|log_format: json          # the journal keeps one JSON event a line (text: for a terminal)|' \
    "$root/docs/flowline.example.yaml" > "$pkg/etc/flowline/flowline.yaml"
for key in "data_dir: /var/lib/flowline" "geo_dir: /usr/share/flowline/geo" "log_format: json"; do
  grep -q "^$key" "$pkg/etc/flowline/flowline.yaml" || { echo "package: the example configuration no longer has a line for ${key%%:*}" >&2; exit 1; }
done
chmod 0644 "$pkg/etc/flowline/flowline.yaml"

# The address database: the files the enrichment reads, with their licences.
for package in asn geo-whois-asn-country geo-whois-asn-country-mmdb; do
  install -d -m 0755 "$pkg/usr/share/flowline/geo/$package"
  find "$geo/$package" -maxdepth 1 -type f \( -name '*-ipv4-num.csv' -o -name '*-ipv6.csv' -o -name '*-ipv4.mmdb' -o -name '*-ipv6.mmdb' \
    -o -name '*LICENSE*' -o -name README.md -o -name package.json \) \
    -exec install -m 0644 {} "$pkg/usr/share/flowline/geo/$package/" \;
done

"$pkg/usr/bin/flowline" completion bash > "$pkg/usr/share/bash-completion/completions/flowline"
install -m 0644 "$root/README.md" "$pkg/usr/share/doc/flowline/README.md"
install -m 0644 "$root/docs/"*.md "$pkg/usr/share/doc/flowline/"
install -m 0644 "$root/docs/flowline.example.yaml" "$root/docs/inventory.example.yaml" "$pkg/usr/share/doc/flowline/"
cat > "$pkg/usr/share/doc/flowline/copyright" <<'EOF'
Flowline. The address database in /usr/share/flowline/geo comes from the @ip-location-db packages;
their licences are beside the data (NRO_LICENSE, DBIP-LICENSE, ROUTEVIEWS-LICENSE).
EOF

install -m 0755 "$root/packaging/postinst" "$root/packaging/prerm" "$root/packaging/postrm" "$pkg/DEBIAN/"
printf '/etc/flowline/flowline.yaml\n/etc/default/flowline-agent\n' > "$pkg/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<EOF
Package: flowline
Version: $version
Architecture: $arch
Maintainer: Flowline <flowline@localhost>
Installed-Size: $size
Depends: libc6, libgcc-s1, libstdc++6, libssl3 | libssl3t64, adduser | passwd
Suggests: openvswitch-switch
Section: net
Priority: optional
Description: network flow visibility for multi-tenant clouds
 Collects sFlow v5, NetFlow v5/v9 and IPFIX, enriches every flow with its
 tenant, network, port and rule, stores it, and answers flow-log, session,
 real-time and DDoS questions over HTTP, each account seeing only its own.
 flowline.service runs the collector; flowline-agent.service the compute-node
 agent. Self-contained: no .NET runtime is needed.
EOF

deb="$out/flowline_${version}_${arch}.deb"
rm -f "$out"/flowline_*_"$arch".deb
# xz level: 6 makes the smallest package (46 MB, about 50 s here); the test command asks for 2 (52 MB, 12 s).
dpkg-deb --root-owner-group -Zxz -z"${FLOWLINE_DEB_XZ_LEVEL:-6}" --build "$pkg" "$deb" >&2
echo "$deb"
