# SPDX-License-Identifier: GPL-2.0-or-later
# --backend kernel: Linux's xen-blkback and stock xenconsoled (the baseline).
# Each backend file defines the same four functions for dom0-main.sh
# (backend_start, backend_disk_spec, backend_console_log, backend_check_clean,
# backend_diagnostics); backend_check_stats is optional (the daemons' own view
# after destroy).

backend_start() {
	if [ "$LAB_MODE" = qemu ]; then
		insmod "/lib/modules/$(uname -r)/kernel/drivers/block/xen-blkback/xen-blkback.ko" ||
			return 1
		xenconsoled --pid-file=/run/xenconsoled.pid --log=guest \
			--log-dir=/var/log/xen/console || return 1
	fi
	[ -d /sys/module/xen_blkback ] || { echo "xen-blkback is not loaded"; return 1; }
	pidof xenconsoled || { echo "xenconsoled is not running"; return 1; }
}

# backend_disk_spec TARGET VDEV [hotplug|direct]: an xl disk spec (xl writes
# direct-io-safe for both backends; xen-blkback does not read it)
backend_disk_spec() {
	printf '%s,raw,%s,rw,backendtype=phy' "$1" "$2"
	[ "${3:-}" = direct ] && printf ',direct-io-safe'
	return 0
}

# the file where the console daemon logs the guest's console output
backend_console_log() {
	echo "/var/log/xen/console/guest-$1.log"
}

# after xl destroy: no backend device, no loop device left for DOMID
backend_check_clean() {
	local left
	left=$(xenstore-list "/local/domain/0/backend/vbd/$1" 2>/dev/null)
	[ -z "$left" ] || { echo "xenstore backend/vbd/$1 still has: $left"; return 1; }
	left=$(ls /sys/bus/xen-backend/devices 2>/dev/null | grep "^vbd-$1-")
	[ -z "$left" ] || { echo "kernel backend devices left: $left"; return 1; }
	left=$(lab_disk_loops)
	[ -z "$left" ] || { echo "loop devices left on the lab's disk files: $left"; return 1; }
	echo "no backend state left for domain $1"
}

# after a failed run: what the kernel said
backend_diagnostics() {
	dmesg | tail -n 25
}
