#!/bin/sh
# SPDX-License-Identifier: MIT
# Writes a capture with the pcap device (25 frames sent + 25 received) and
# checks that tshark reads all 50 records. Skips (77) without tshark.
set -u
tool="$1"
command -v tshark >/dev/null 2>&1 || { echo "tshark not installed: skipping"; exit 77; }
f=$(mktemp /tmp/dm_pcap_tshark.XXXXXX) || exit 1
trap 'rm -f "$f"' EXIT
"$tool" --write "$f" 25 || { echo "writing the capture failed"; exit 1; }
n=$(timeout 60 tshark -n -r "$f" 2>/dev/null | wc -l)
rc=$?
echo "tshark read $n frames"
[ "$rc" -eq 0 ] && [ "$n" -eq 50 ]
