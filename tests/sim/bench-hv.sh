#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Smoke run of `pvsplit-bench hv --json`: it runs, and prints the numbers it
# promises (this checks the tool, not the figures: no timing assertions).
set -eu
out=$("${PVSPLIT_BUILDDIR:-.}/tools/bench/pvsplit-bench" hv --json --quick)
echo "$out"
for key in evtchn_rtt_p50_us eventfd_rtt_p50_us gnt_map_unmap_1_us gnt_copy_4k_32seg_us; do
	echo "$out" | python3 -c "
import json, sys
d = json.load(sys.stdin)
v = d['same_cpu']['$key']
assert isinstance(v, (int, float)) and v > 0, '$key'
" || { echo "missing or bad number: same_cpu.$key"; exit 1; }
done
