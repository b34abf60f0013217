#!/usr/bin/env bash
# Builds the echo demo the way an application would (its own strict flags,
# the uninstalled pkg-config file) and runs server and client over a backend.
# Usage: run_echo_demo.sh BUILD_DIR [BACKEND]
set -euo pipefail
build=$(cd "$1" && pwd); backend=${2:-posix}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d); trap 'kill $srv 2>/dev/null || true; rm -rf "$out"' EXIT
export PKG_CONFIG_PATH="$build/meson-uninstalled"
flags="-std=c99 -Wall -Wextra -Werror"
# A sanitized library needs a sanitized application (ASan must come first).
# (grep without -q: with pipefail, -q exiting early can SIGPIPE ldd and fail the pipe.)
ldd "$build/libdemi.so" | grep libasan >/dev/null && flags="$flags -fsanitize=address,undefined"
cc $flags "$here/echo_server.c" $(pkg-config --cflags --libs demi) -o "$out/echo_server"
cc $flags "$here/echo_client.c" $(pkg-config --cflags --libs demi) -o "$out/echo_client"
export LD_LIBRARY_PATH="$build" DEMI_BACKEND="$backend"
port=$(python3 "$here/../free_port.py")
timeout 30 "$out/echo_server" 127.0.0.1 $port 2 > "$out/server.log" 2>&1 & srv=$!
# A sanitized server on a loaded machine can take seconds to come up.
for _ in $(seq 300); do grep -q listening "$out/server.log" 2>/dev/null && break; sleep 0.1; done
if ! grep -q listening "$out/server.log"; then
  echo "echo_server did not start listening:"; cat "$out/server.log"; exit 1
fi
timeout 30 "$out/echo_client" 127.0.0.1 $port 2000 64
timeout 30 "$out/echo_client" 127.0.0.1 $port 20 100000
wait $srv
cat "$out/server.log"
grep -q "served 2 connections" "$out/server.log"
