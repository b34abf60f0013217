#!/usr/bin/env bash
# Latency comparison in one invocation: sockperf, redis-benchmark and wrk
# over the kernel and each backend, plus the raw memif floor.
# Usage: bench/latency.sh [BUILD_DIR]   (outputs in BUILD_DIR/latency/)
exec "$(dirname "$0")/latency/latency.sh" "$@"
