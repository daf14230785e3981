# SPDX-License-Identifier: GPL-2.0-or-later
# pvsplit-lab run --host-mode: the real-host path (LAB_MODE=host) tried in
# the image, since no Xen host is at hand.  dom0 is first made to look like
# a Debian Xen host after xencommons (xenstored, xen-init-dom0, xen-blkback
# loaded, xenconsoled running), and the run's files leave / for a scratch
# root, where pvsplit-lab unpacks them on a real host.  With --backend
# pvsplit the lab must refuse to run, naming both, until the operator's two
# commands (rmmod xen-blkback, stop xenconsoled); then dom0-main.sh runs as
# pvsplit-lab runs it on a real host (machine.py, HostDom0).
set -u
LAB_ROOT=/lab
. "$LAB_ROOT/lab-lib.sh"
. "$LAB_ROOT/run.env"
. "$LAB_ROOT/dom0-services.sh"
# dom0-main.sh starts with an empty /run/lab: these steps log elsewhere
LAB_STEP_DIR=/run/lab-as-host
HOST_ROOT=/tmp/pvsplit-lab-host
LAB_FAILED=0

start_stock_backends() {
	insmod "/lib/modules/$(uname -r)/kernel/drivers/block/xen-blkback/xen-blkback.ko" || return 1
	xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console ||
		return 1
	echo "xen-blkback loaded, xenconsoled running (pid $(cat /run/xenconsoled.pid))"
}

# what the operator does before serving guests with pvsplit
stop_stock_backends() {
	local pid i
	rmmod xen-blkback || return 1
	pid=$(cat /run/xenconsoled.pid) || return 1
	kill "$pid" || return 1
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$pid" 2>/dev/null || { echo "xenconsoled ($pid) did not stop"; return 1; }
	echo "xen-blkback unloaded, xenconsoled stopped"
}

# the run's files under HOST_ROOT and gone from /: a host-mode path that still
# reached /lab or the build's prefix would work here by accident, now it fails
relocate() {
	local p=$PVSPLIT_PREFIX
	case $p in
	/usr/local | /opt/?* | /srv/?*) ;;
	*)
		echo "the build's prefix '$p' is not one the image can move aside (/usr/local, /opt/..., /srv/...)"
		return 1
		;;
	esac
	mkdir -p "$HOST_ROOT$(dirname "$p")" || return 1
	mv /lab "$HOST_ROOT/lab" || return 1
	mv "$p" "$HOST_ROOT$p" || return 1
	echo "/lab -> $HOST_ROOT/lab, $p -> $HOST_ROOT$p"
}

# dom0-main.sh as pvsplit-lab starts it on a real dom0 (HostDom0)
host_lab() {
	LAB_MODE=host LAB_ROOT=$HOST_ROOT/lab LAB_DESTDIR=$HOST_ROOT \
		bash "$HOST_ROOT/lab/dom0-main.sh"
}

# with xen-blkback and xenconsoled there, the lab refuses and names both;
# its records go to a file, not to the host
refuses() {
	local rec=/tmp/refused.jsonl
	(
		unset LAB_EMIT_FD
		LAB_EMIT_TO=$rec host_lab >/tmp/refused.out 2>&1
	)
	grep '"src":"host-preflight"' "$rec" | sed 's/.*"line":"//; s/"}$//'
	grep -qE '"name":"host-preflight","status":"fail"' "$rec" ||
		{ echo "the lab did not refuse to run"; return 1; }
	grep -q 'xen-blkback is loaded' "$rec" && grep -q 'xenconsoled (pid' "$rec" ||
		{ echo "the refusal does not name xen-blkback and xenconsoled"; return 1; }
	! grep -q '"name":"backend-start"' "$rec" || { echo "it started its backend anyway"; return 1; }
	! pidof pvsplit-blkback pvsplit-consoled || { echo "a pvsplit daemon was left running"; return 1; }
}

main() {
	# a Debian Xen host has these from its packages
	mkdir -p /var/log/xen/console /var/lib/xen /var/run/xen
	start_dom0_services &&
		lab_step host.stock-backends 60 start_stock_backends &&
		lab_step host.relocate 60 relocate &&
		if [ "$LAB_BACKEND" = pvsplit ]; then
			lab_step host.refuses-stock-backends 300 refuses &&
				lab_step host.stop-stock-backends 60 stop_stock_backends
		fi
	if [ "$LAB_FAILED" -ne 0 ]; then
		lab_emit done status fail failed "$LAB_FAILED"
		return 1
	fi
	host_lab
}

main
