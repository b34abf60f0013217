#!/usr/bin/env bash
# Runs the libFuzzer target for the inet receive path for a bounded time.
# Usage: test/fuzz/run_fuzz.sh BUILD_DIR SECONDS
# Builds with clang (-Dfuzz=true, ASan+UBSan), only the fuzz target.
set -euo pipefail
dir=${1:-build-fuzz}; secs=${2:-60}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
cc=$(command -v clang-14 || command -v clang)
if [ ! -f "$dir/build.ninja" ]; then
  CC=$cc CFLAGS=-fsanitize=fuzzer-no-link meson setup "$dir" -Dfuzz=true -Dbench=false \
    -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=false >"$dir.setup.log" 2>&1 \
    || { tail -20 "$dir.setup.log"; exit 1; }
fi
ninja -C "$dir" test/fuzz/fuzz_inet_rx >"$dir.build.log" 2>&1 || { tail -30 "$dir.build.log"; exit 1; }
work="$dir/test/fuzz/corpus-work"; mkdir -p "$work"
timeout $((secs + 120)) "$dir/test/fuzz/fuzz_inet_rx" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$dir/" "$work" test/fuzz/corpus 2>"$dir.fuzz.log" || { tail -40 "$dir.fuzz.log"; exit 1; }
tail -2 "$dir.fuzz.log"
echo "fuzz: ${secs}s, no crash"
