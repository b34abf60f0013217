# SPDX-License-Identifier: MIT
# Sourced by the preload's shell tests: preloaded BACKEND OUT ERR PROG...
# runs PROG under the library in $lib (with the sanitizer's runtime first
# in a sanitized build) at DEMI_LOG=info, its stdout in OUT and stderr in
# ERR; extra environment comes before the call (VAR=x preloaded ...),
# PRELOADED_LOG=debug for another log level.
preloaded() {
  _be=$1 _out=$2 _err=$3
  shift 3
  _pre=$(ldd "$lib" 2>/dev/null | awk '/libasan\.so/ {print $3}')
  env LD_PRELOAD="${_pre:+$_pre }$lib" ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" DEMI_BACKEND="$_be" \
    DEMI_LOG="${PRELOADED_LOG:-info}" timeout 60 "$@" >"$_out" 2>"$_err"
}
