#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The xen tier: one `pvsplit-lab run` on real Xen in QEMU (TCG).
#   usage: tests/xen/lab-run.sh kernel|pvsplit [stock|pvsplit [BUILDDIR [OPTION...]]]
# The second argument is the guest's block frontend: stock (xen-blkfront,
# with the tier's guest and dom0 scripts) or pvsplit (pvsplit-blkfront, with
# its own guest script: parameter sets, reloads, take-over).  OPTIONs go to
# pvsplit-lab run (--host-mode: the path a real Xen host takes).
# Exit status: 0 pass, 1 fail, 77 skip (for pvsplit: while pvsplit-blkback is
# not in the build).  The run's directory (serial log, run log, summary.json)
# is under BUILDDIR/lab-runs/.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
backend=${1:?usage: $0 kernel|pvsplit [stock|pvsplit [BUILDDIR]]}
frontend=${2:-stock}
builddir=$(cd "${3:-$srcdir/build}" && pwd)
shift $(($# < 3 ? $# : 3))
command -v qemu-system-x86_64 >/dev/null || {
	echo "qemu-system-x86_64 is missing: apt-get install qemu-system-x86"
	exit 1
}
guest_script=$here/guest-disks.sh
[ "$frontend" = pvsplit ] && guest_script=$srcdir/domU-frontends/linux/lab/guest-test.sh
"$srcdir/tools/lab/pvsplit-lab" run --backend "$backend" --frontend "$frontend" \
	--build "$builddir" --script-timeout 600 \
	--guest-script "$guest_script" --dom0-script "$here/dom0-state.sh" "$@"
