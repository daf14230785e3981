#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Smoke run of `pvsplit-bench block --json --quick`: it runs end to end and
# prints the numbers it promises (this checks the tool, not the figures).
set -eu
out=$("${PVSPLIT_BUILDDIR:-.}/tools/bench/pvsplit-bench" block --json --quick)
echo "$out"
echo "$out" | python3 -c "
import json, sys
d = json.load(sys.stdin)
for k, f in [('iops_4k_randread_qd32', 'pvsplit'), ('iops_4k_randread_qd32', 'native'),
             ('gbps_1m_seqread', 'pvsplit'), ('gbps_1m_seqread', 'memcpy'),
             ('gbps_1m_seqwrite', 'pvsplit')]:
    v = d[k][f]
    assert isinstance(v, (int, float)) and v > 0, (k, f, v)
"

# A daemon that cannot start: the tool notices it exit (not a 10 s wait for
# the device), says why in pvsplit-blkback's own words, and fails.
if err=$("${PVSPLIT_BUILDDIR:-.}/tools/bench/pvsplit-bench" block --quick --poll-us bogus 2>&1 >/dev/null); then
	echo "pvsplit-bench block --poll-us bogus succeeded"
	exit 1
fi
echo "$err"
case $err in
*"pvsplit-blkback exited"*"--poll-us bogus"*) ;;
*)
	echo "pvsplit-bench block --poll-us bogus: no word from pvsplit-blkback"
	exit 1
	;;
esac
