# SPDX-License-Identifier: GPL-2.0-or-later
# --backend pvsplit: pvsplit-blkback and pvsplit-consoled from the build (in
# the overlay under $PVSPLIT_PREFIX) serve what stock xl writes to xenstore;
# no kernel backend module is loaded and xenconsoled is not started.
#
# Disks: xvda (a file) and xvdb (a block device) go through Xen's stock
# /etc/xen/scripts/block (the file becomes a loop device); the hot-plugged
# xvdc goes through pvsplit's own hotplug helper, which leaves a file a file.
#
# What the daemons must offer the lab (issues 3 and 4):
#   pvsplit-blkback   --pid-file FILE, daemonises or is started with & here
#   pvsplit-consoled  --pid-file FILE --log-dir DIR: guest-<name>.log per guest,
#                     like xenconsoled --log=guest
#   pvsplit stats --json   devices and grants currently held, per daemon
PVSPLIT_CONSOLE_LOG_DIR=/var/log/pvsplit/console

backend_start() {
	local d
	for d in pvsplit-blkback pvsplit-consoled; do
		command -v "$d" >/dev/null || { echo "$d is not in this build"; return 77; }
	done
	mkdir -p "$PVSPLIT_CONSOLE_LOG_DIR"
	pvsplit-consoled --pid-file /run/pvsplit-consoled.pid \
		--log-dir "$PVSPLIT_CONSOLE_LOG_DIR" >/var/log/pvsplit-consoled.out 2>&1 &
	pvsplit-blkback --pid-file /run/pvsplit-blkback.pid >/var/log/pvsplit-blkback.out 2>&1 &
	sleep 1
	pidof pvsplit-blkback pvsplit-consoled || { tail /var/log/pvsplit-*.out; return 1; }
}

pvsplit_hotplug_helper() {
	local h
	for h in "$PVSPLIT_LIBEXECDIR/pvsplit/block-hotplug" "$LAB_ROOT/block-pvsplit"; do
		[ -x "$h" ] && { echo "$h"; return; }
	done
}

backend_disk_spec() {
	local spec="$1,raw,$2,rw,backendtype=phy"
	[ "${3:-}" = hotplug ] && spec+=",script=$(pvsplit_hotplug_helper)"
	printf '%s' "$spec"
}

backend_console_log() {
	echo "$PVSPLIT_CONSOLE_LOG_DIR/guest-$1.log"
}

# after xl destroy: nothing in xenstore, no device and no grant in the stats
backend_check_clean() {
	local left stats
	left=$(xenstore-list "/local/domain/0/backend/vbd/$1" 2>/dev/null)
	[ -z "$left" ] || { echo "xenstore backend/vbd/$1 still has: $left"; return 1; }
	stats=$(pvsplit stats --json) || { echo "pvsplit stats --json failed"; return 1; }
	echo "$stats"
	if echo "$stats" | grep -q "\"domid\": *$1[,}]"; then
		echo "pvsplit stats still list domain $1"
		return 1
	fi
	if echo "$stats" | grep -qE '"grants_mapped": *[1-9]'; then
		echo "grants still mapped"
		return 1
	fi
	left=$(losetup -a)
	[ -z "$left" ] || { echo "loop devices left: $left"; return 1; }
}
