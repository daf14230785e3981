# SPDX-License-Identifier: GPL-2.0-or-later
# pvsplit-lab run --host-mode: the real-host path (LAB_MODE=host) tried in
# the image, since no Xen host is at hand.  dom0 is first made to look like
# a Debian Xen host after xencommons (xenstored, xen-init-dom0, xen-blkback
# loaded, xenconsoled running) with things of its own the lab must leave
# alone (a loop device, a stopped pvsplit service's journal), and the run's
# files leave / for a scratch root, where pvsplit-lab unpacks them on a real
# host.  dom0-main.sh, run as pvsplit-lab runs it there (HostDom0), must:
#   - refuse while another run holds the lock, touching nothing of it;
#   - with --backend pvsplit, refuse while xen-blkback is loaded, xenconsoled
#     or another pvsplit-blkback runs, naming each, touching none of them;
#   - after the operator stopped those, pass its checks;
#   - leave nothing behind and the host's things as they were (checked
#     here, not by the run's own report).
# The run's records are relayed to the host as they come; its "done" is held
# back until those last checks are made.
set -u
LAB_ROOT=/lab
. "$LAB_ROOT/lab-lib.sh"
. "$LAB_ROOT/run.env"
. "$LAB_ROOT/dom0-services.sh"
LAB_STEP_DIR=/run/lab-as-host
HOST_ROOT=/tmp/pvsplit-lab-host
RUN_DIR=/run/pvsplit-lab # dom0-main.sh's
DECOY_DIR=/var/tmp/host-decoys
JOURNAL=/run/pvsplit/blkback/decoy-journal
LAB_FAILED=0

start_stock_backends() {
	insmod "/lib/modules/$(uname -r)/kernel/drivers/block/xen-blkback/xen-blkback.ko" || return 1
	xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console ||
		return 1
	echo "xen-blkback loaded, xenconsoled running (pid $(cat /run/xenconsoled.pid))"
}

# the host's own: a loop device, and what a stopped pvsplit-blkback service
# keeps (RuntimeDirectoryPreserve): its journal directory
make_decoys() {
	mkdir -p "$DECOY_DIR" "${JOURNAL%/*}" || return 1
	truncate -s 16M "$DECOY_DIR/disk.img" || return 1
	losetup -f --show "$DECOY_DIR/disk.img" >"$DECOY_DIR/loop" || return 1
	echo "the service's journal" >"$JOURNAL"
	echo "host's loop device $(cat "$DECOY_DIR/loop"), journal $JOURNAL"
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

# dom0-main.sh as pvsplit-lab starts it on a real dom0 (HostDom0), its
# records to the file $1; run it in the background (`host_lab FILE &`): it
# becomes dom0-main.sh's bash, so $! is that
host_lab() {
	unset LAB_EMIT_FD
	LAB_MODE=host LAB_ROOT=$HOST_ROOT/lab LAB_DESTDIR=$HOST_ROOT LAB_EMIT_TO=$1 \
		exec bash "$HOST_ROOT/lab/dom0-main.sh"
}

# a run refused: step $2 failed, the lines $3... are in its output, it left
# no daemon and did not touch another run's state
refused() {
	local rec=$1 step=$2 want
	shift 2
	grep -F '"ev":"out"' "$rec" | sed 's/.*"line":"//; s/"}$//'
	grep -qE "\"name\":\"$step\",\"status\":\"fail\"" "$rec" ||
		{ echo "the lab did not refuse to run (step $step)"; return 1; }
	for want in "$@"; do
		grep -qF "$want" "$rec" || { echo "the refusal does not say: $want"; return 1; }
	done
	! grep -q '"name":"backend-start"' "$rec" || { echo "it started its backend anyway"; return 1; }
	! grep -q '"name":"host-cleanup"' "$rec" || { echo "it cleaned up after a run it did not make"; return 1; }
	[ -e "$RUN_DIR/other-run" ] || { echo "it removed another run's $RUN_DIR"; return 1; }
	[ "$(cat /var/lib/pvsplit-lab/disk-file.img 2>/dev/null)" = "another run's" ] ||
		{ echo "it changed or removed another run's disk file"; return 1; }
	[ "$(pidof pvsplit-blkback)" = "$(cat "$DECOY_DIR/daemon.pid")" ] ||
		{ echo "pvsplit-blkback processes now: '$(pidof pvsplit-blkback)'"; return 1; }
	! pidof pvsplit-consoled || { echo "a pvsplit-consoled was left running"; return 1; }
}

# another run holds the lock and has its state in RUN_DIR: a daemon with
# its pid file (a decoy: a copy of bash named pvsplit-blkback, which a
# cleanup by pid file would kill) and a disk file
refuses_while_locked() {
	mkdir -p "$RUN_DIR" /var/lib/pvsplit-lab && touch "$RUN_DIR/other-run" || return 1
	echo "another run's" >/var/lib/pvsplit-lab/disk-file.img
	cp /bin/bash "$DECOY_DIR/pvsplit-blkback" || return 1
	"$DECOY_DIR/pvsplit-blkback" -c 'while :; do sleep 1; done' </dev/null >/dev/null 2>&1 &
	echo $! >"$DECOY_DIR/daemon.pid"
	cp "$DECOY_DIR/daemon.pid" "$RUN_DIR/pvsplit-blkback.pid"
	(
		exec 7>>/run/pvsplit-lab.lock
		flock -n 7 || exit 1
		host_lab /tmp/refused-locked.jsonl >/tmp/refused-locked.out 2>&1 &
		wait $!
	)
	refused /tmp/refused-locked.jsonl host-lock "another pvsplit-lab run holds"
}

# xencommons' services, the decoy pvsplit-blkback, a loop device left on a
# lab disk file, and a guest of the host's (created paused: it only has to
# exist; the lab's daemons would serve its devices)
refuses_stock_backends() {
	local l
	truncate -s 1M /var/lib/pvsplit-lab/disk-hot.img &&
		l=$(losetup -f --show /var/lib/pvsplit-lab/disk-hot.img) || return 1
	cat >"$DECOY_DIR/guest.cfg" <<-CFG
		name = "host-guest"
		type = "pv"
		kernel = "$HOST_ROOT/lab/guest/vmlinuz"
		ramdisk = "$HOST_ROOT/lab/guest/initrd.cpio"
		memory = 256
	CFG
	QEMU_XEN=/bin/false xl create -p "$DECOY_DIR/guest.cfg" || return 1
	host_lab /tmp/refused.jsonl >/tmp/refused.out 2>&1 &
	wait $!
	refused /tmp/refused.jsonl host-preflight "xen-blkback is loaded" "xenconsoled (pid" \
		"pvsplit-blkback (pid $(cat "$DECOY_DIR/daemon.pid")) already runs" \
		"$l still holds /var/lib/pvsplit-lab/disk-hot.img" "domain host-guest ("
}

# what the operator does before serving guests with pvsplit (with the
# kernel's backends: only the decoy goes)
operator_stops_them() {
	local i
	if [ "$LAB_BACKEND" = pvsplit ]; then
		xl destroy host-guest || return 1
		rmmod xen-blkback || return 1
		kill "$(cat /run/xenconsoled.pid)" || return 1
		losetup -d "$(losetup -j /var/lib/pvsplit-lab/disk-hot.img | cut -d: -f1)" || return 1
	fi
	kill "$(cat "$DECOY_DIR/daemon.pid")" || return 1
	rm -f "$DECOY_DIR/daemon.pid" "$RUN_DIR/other-run"
	for i in $(seq 50); do
		pidof pvsplit-blkback >/dev/null || break
		sleep 0.1
	done
	! pidof pvsplit-blkback || { echo "still running: $(pidof pvsplit-blkback)"; return 1; }
	if [ "$LAB_BACKEND" = pvsplit ]; then
		for i in $(seq 50); do
			pidof xenconsoled >/dev/null || break
			sleep 0.1
		done
		! pidof xenconsoled || { echo "xenconsoled still runs"; return 1; }
		echo "the host's guest destroyed, xen-blkback unloaded, xenconsoled stopped, the leftover loop device detached"
	fi
	echo "the host's pvsplit-blkback stopped"
}

# a run stopped by SIGTERM (pvsplit-lab's timeout, Ctrl-C) once the guest is
# up: it ends the step in progress, cleans up, says so; then nothing is left
aborted_run_cleans_up() {
	local rec=/tmp/aborted.jsonl pid i
	: >"$rec"
	host_lab "$rec" >/tmp/aborted.out 2>&1 &
	pid=$! # dom0-main.sh's bash itself
	for i in $(seq 600); do
		grep -qE '"name":"guest-boot","status":"(pass|fail)"' "$rec" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	grep -qE '"name":"guest-boot","status":"pass"' "$rec" ||
		{ echo "the guest did not come up"; kill -KILL "$pid"; return 1; }
	sleep 2
	kill -TERM "$pid"
	wait "$pid"
	echo "the stopped run's last steps:"
	grep -oE '"name":"[^"]*","status":"[a-z]*"' "$rec" | tail -n 4
	grep -q 'stopped by a signal' "$rec" || { echo "no note of the signal"; return 1; }
	grep -qE '"name":"host-cleanup","status":"pass"' "$rec" ||
		{ echo "no passing host-cleanup after SIGTERM"; tail -n 30 /tmp/aborted.out; return 1; }
	grep -qE '"ev":"done".*"status":"fail"' "$rec" || { echo "its done record is not a fail"; return 1; }
	nothing_left
}

# the run, its records relayed as they come but for "done" (HOST_DONE)
relay_host_lab() {
	local rec=/tmp/host-run.jsonl n=0 pid alive line
	: >"$rec"
	host_lab "$rec" &
	pid=$!
	HOST_DONE=
	while :; do
		alive=
		kill -0 "$pid" 2>/dev/null && alive=1
		# complete lines only: a line being written is read next round
		while IFS= read -r line; do
			n=$((n + 1))
			case $line in
			*'"ev":"done"'*) HOST_DONE=$line ;;
			*) lab_emit_raw "$line" ;;
			esac
		done < <(tail -n +$((n + 1)) "$rec")
		[ -n "$alive" ] || break
		sleep 0.3
	done
	wait "$pid"
}

# nothing of the run left, the host's things as they were
nothing_left() {
	local bad= p exe comm
	[ "$(xl list | awk 'NR > 1 { print $1 }')" = Domain-0 ] || bad+=" domains:$(xl list | awk 'NR > 2 { printf " %s", $1 }')"
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		comm=$(cat "$p/comm" 2>/dev/null)
		case $exe in "$HOST_ROOT"/*) bad+=" process:${p#/proc/}($exe)" ;; esac
		case $comm in tail | script | xenconsole) bad+=" process:${p#/proc/}($comm)" ;; esac
	done
	[ "$(losetup -a | cut -d: -f1)" = "$(cat "$DECOY_DIR/loop")" ] ||
		bad+=" loop-devices:$(losetup -a | tr '\n' ' ')"
	[ "$(losetup -j "$DECOY_DIR/disk.img" | cut -d: -f1)" = "$(cat "$DECOY_DIR/loop")" ] ||
		bad+=" the-host's-loop-device-gone"
	[ ! -e /var/lib/pvsplit-lab ] || bad+=" /var/lib/pvsplit-lab:$(ls /var/lib/pvsplit-lab | tr '\n' ' ')"
	[ "$(cat "$JOURNAL" 2>/dev/null)" = "the service's journal" ] || bad+=" the-service's-journal-changed"
	[ "$(cd /run/pvsplit && find . | sort | tr '\n' ' ')" = ". ./blkback ./blkback/decoy-journal " ] ||
		bad+=" /run/pvsplit:$(cd /run/pvsplit && find . | tr '\n' ' ')"
	[ -z "$bad" ] || { echo "left behind or changed:$bad"; return 1; }
	echo "no domain, daemon, console, relay, loop device or disk of the run left; the host's loop device and journal untouched"
}

main() {
	local status=pass
	# a Debian Xen host has these from its packages
	mkdir -p /var/log/xen/console /var/lib/xen /var/run/xen
	start_dom0_services &&
		lab_step host.stock-backends 60 start_stock_backends &&
		lab_step host.decoys 60 make_decoys &&
		lab_step host.relocate 60 relocate &&
		lab_step host.refuses-while-locked 120 refuses_while_locked &&
		{ [ "$LAB_BACKEND" != pvsplit ] ||
			lab_step host.refuses-stock-backends 120 refuses_stock_backends; } &&
		lab_step host.operator-stops-them 60 operator_stops_them
	if [ "$LAB_FAILED" -ne 0 ]; then
		lab_emit done status fail failed "$LAB_FAILED"
		return 1
	fi
	lab_step host.sigterm-cleans-up 400 aborted_run_cleans_up
	relay_host_lab
	lab_step host.nothing-left 60 nothing_left
	case ${HOST_DONE:-} in *'"status":"pass"'*) ;; *) status=fail ;; esac
	[ "$LAB_FAILED" -eq 0 ] || status=fail
	lab_emit done status "$status" failed "$LAB_FAILED"
}

main
