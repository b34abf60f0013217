#!/bin/sh
# SPDX-License-Identifier: MIT
# The preload must export exactly the intercepted libc symbols (syms.h):
# no datapath internals, no DPDK/liburing symbols leaking into the app.
set -u
lib=$1 syms=$2
want=$(sed -n 's/^[[:space:]]*DM_SYM(\([A-Za-z0-9_]*\)).*/\1/p' "$syms" | sort)
have=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TWiV]$/ {print $3}' | sed 's/@.*//' | sort)
if [ "$want" != "$have" ]; then
  echo "exports differ from syms.h (< syms.h, > library):"
  printf '%s\n' "$want" >/tmp/.want.$$; printf '%s\n' "$have" >/tmp/.have.$$
  diff /tmp/.want.$$ /tmp/.have.$$; rm -f /tmp/.want.$$ /tmp/.have.$$
  exit 1
fi
other=$(nm -D --defined-only "$lib" | awk '$2 !~ /^[TWiVA]$/ {print $3}')
if [ -n "$other" ]; then echo "unexpected exported data symbols: $other"; exit 1; fi
echo "exports: $(printf '%s\n' "$have" | wc -l) symbols, exactly syms.h"
