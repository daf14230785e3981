#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The xen tier: one `pvsplit-lab run` on real Xen in QEMU (TCG), with the
# tier's guest and dom0 scripts.
#   usage: tests/xen/lab-run.sh kernel|pvsplit [BUILDDIR]
# Exit status: 0 pass, 1 fail, 77 skip (for pvsplit: while pvsplit-blkback is
# not in the build).  The run's directory (serial log, run log, summary.json)
# is under BUILDDIR/lab-runs/.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
backend=${1:?usage: $0 kernel|pvsplit [BUILDDIR]}
builddir=$(cd "${2:-$srcdir/build}" && pwd)
command -v qemu-system-x86_64 >/dev/null || {
	echo "qemu-system-x86_64 is missing: apt-get install qemu-system-x86"
	exit 1
}
"$srcdir/tools/lab/pvsplit-lab" run --backend "$backend" --build "$builddir" \
	--guest-script "$here/guest-disks.sh" --dom0-script "$here/dom0-state.sh"
