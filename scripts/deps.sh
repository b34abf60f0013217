#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the demo need, only
# those that are missing (apt-get update runs only when something is).
# Usage: scripts/deps.sh [build|test|demo]   (default: test = everything)
set -euo pipefail
build_pkgs="gcc clang pkg-config meson ninja-build python3 libcmocka-dev dpdk-dev libdpdk-dev liburing-dev libbpf-dev libxdp-dev libibverbs-dev librdmacm-dev"
tool_pkgs="iproute2 ethtool iputils-ping nftables netcat-openbsd curl procps psmisc tshark python3-scapy"
app_pkgs="redis-server redis-tools nginx-light libnginx-mod-stream wrk sockperf iperf3 memcached libmemcached-tools nodejs postgresql haproxy apache2 python3-matplotlib"
case "${1:-test}" in
  build) want="$build_pkgs" ;;
  demo) want="$build_pkgs redis-server redis-tools procps" ;;
  *) want="$build_pkgs $tool_pkgs $app_pkgs" ;;
esac
missing=()
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Services installed by these packages must not keep ports busy in tests.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
