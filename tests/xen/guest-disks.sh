#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A guest script for the lab tier (pvsplit-lab run --guest-script): runs as
# root in the PV guest after the built-in checks, the disks unmounted and
# named in $PVSPLIT_DISKS.  Writes a pattern at the end of each disk with
# O_DIRECT and reads it back.
set -euo pipefail
for d in $PVSPLIT_DISKS; do
	size=$(blockdev --getsize64 "$d")
	off=$((size / 4096 - 16))
	head -c 65536 /dev/urandom >/tmp/pattern
	dd if=/tmp/pattern of="$d" bs=4096 seek="$off" oflag=direct status=none
	dd if="$d" of=/tmp/back bs=4096 skip="$off" count=16 iflag=direct status=none
	cmp /tmp/pattern /tmp/back
	echo "$d: $size bytes, last 64 KiB written and read back with O_DIRECT"
done
