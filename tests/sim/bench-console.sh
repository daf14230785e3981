#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Smoke run of `pvsplit-bench console --json --quick`: it runs end to end and
# prints the numbers it promises (this checks the tool, not the figures).
set -eu
out=$("${PVSPLIT_BUILDDIR:-.}/tools/bench/pvsplit-bench" console --json --quick)
echo "$out"
echo "$out" | python3 -c "
import json, sys
d = json.load(sys.stdin)
for k in ('bytes_per_s', 'rtt_p99_us', 'rtt_p50_us', 'bytes_per_s_at_xenconsoled_limit'):
    assert isinstance(d[k], (int, float)) and d[k] > 0, (k, d.get(k))
"
