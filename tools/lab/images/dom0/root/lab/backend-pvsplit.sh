# SPDX-License-Identifier: GPL-2.0-or-later
# --backend pvsplit: pvsplit-blkback and pvsplit-consoled from the build,
# installed in the overlay, serve what stock xl writes to xenstore; no kernel
# backend module is loaded and xenconsoled is not started.  (A build without
# pvsplit-consoled falls back to stock xenconsoled and says so in a note.)
#
# Disks: xvda (a file) and xvdb (a block device) go through Xen's stock
# /etc/xen/scripts/block (the file becomes a loop device); the hot-plugged
# xvdc goes through pvsplit's own hotplug helper (pvsplit-block-hotplug),
# which leaves a file a file.
#
# What the lab expects of the daemons (issues 3 and 4):
#   pvsplit-blkback, pvsplit-consoled   run in the foreground, log to stderr
#   pvsplit-consoled --log-dir DIR      guest-<name>.log per guest, like
#                                       xenconsoled --log=guest
#   pvsplit stats --json                devices and grants each daemon holds
# the lab's own log files (truncated at each start)
PVSPLIT_LOG_DIR=/var/log/pvsplit-lab
PVSPLIT_CONSOLE_LOG_DIR=$PVSPLIT_LOG_DIR/console
# the daemons' control sockets and ring journals: /run/pvsplit in the image;
# on a real host the run's own, so that a stopped pvsplit service's journals
# and sockets stay the service's, and `pvsplit stats` asks the lab's daemons
if [ "$LAB_MODE" = host ]; then
	PVSPLIT_RUN=$LAB_DIR/pvsplit
	BLKBACK_OWN_ARGS=(--ctl "$PVSPLIT_RUN/pvsplit-blkback.sock" --state-dir "$PVSPLIT_RUN/blkback")
	# and not the host's /etc/pvsplit/consoled.conf
	CONSOLED_OWN_ARGS=(--control-socket "$PVSPLIT_RUN/pvsplit-consoled.sock" --config /dev/null)
else
	PVSPLIT_RUN=/run/pvsplit
	BLKBACK_OWN_ARGS=() CONSOLED_OWN_ARGS=()
fi

# `pvsplit stats` of the lab's daemons (STATS_ARGS)
set_stats_args() {
	STATS_ARGS=()
	[ "$LAB_MODE" = host ] || return 0
	STATS_ARGS=(--socket "$PVSPLIT_RUN/pvsplit-blkback.sock")
	[ "$(cat "$LAB_DIR/console-daemon" 2>/dev/null)" = pvsplit-consoled ] &&
		STATS_ARGS+=(--socket "$PVSPLIT_RUN/pvsplit-consoled.sock")
	return 0
}

have() { command -v "$1" >/dev/null; }

# start_daemon NAME ARGS...: in the background, stderr to its log file, its
# pid in the run's directory; without the lock's descriptor (8: a daemon
# left behind must not hold it) or the console session's (7)
start_daemon() {
	local name=$1
	shift
	"$name" "$@" >>"$PVSPLIT_LOG_DIR/$name.log" 2>&1 7>&- 8>&- &
	echo "$!" >"$LAB_DIR/$name.pid"
}

start_blkback() {
	# shellcheck disable=SC2086 # LAB_BLKBACK_ARGS: options split at blanks
	start_daemon pvsplit-blkback "${BLKBACK_OWN_ARGS[@]}" ${LAB_BLKBACK_ARGS:-}
}

daemon_alive() {
	kill -0 "$(cat "$LAB_DIR/$1.pid" 2>/dev/null)" 2>/dev/null || {
		echo "$1 exited; its log:"
		tail -n 20 "$PVSPLIT_LOG_DIR/$1.log"
		return 1
	}
}

start_console_daemon() {
	if have pvsplit-consoled; then
		start_daemon pvsplit-consoled "${CONSOLED_OWN_ARGS[@]}" --log-dir "$PVSPLIT_CONSOLE_LOG_DIR"
		CONSOLE_DAEMON=pvsplit-consoled
	else
		lab_emit note text "pvsplit-consoled is not in the build (issue 4): the guest console is served by stock xenconsoled"
		xenconsoled --pid-file="$LAB_DIR/xenconsoled.pid" --log=guest \
			--log-dir=/var/log/xen/console 8>&- || return 1
		CONSOLE_DAEMON=xenconsoled
	fi
	echo "$CONSOLE_DAEMON" >"$LAB_DIR/console-daemon"
	echo "console daemon: $CONSOLE_DAEMON"
}

backend_start() {
	have pvsplit-blkback || { echo "pvsplit-blkback is not in the build"; return 1; }
	rm -rf "$PVSPLIT_LOG_DIR"
	mkdir -p "$PVSPLIT_CONSOLE_LOG_DIR" "$PVSPLIT_RUN"
	start_console_daemon || return 1
	start_blkback
	sleep 1
	daemon_alive pvsplit-blkback || return 1
	[ "$CONSOLE_DAEMON" = xenconsoled ] || daemon_alive pvsplit-consoled
}

# on a real host: what would serve the guest's devices next to pvsplit's
# daemons (Debian's xencommons loads xen-blkback and starts xenconsoled)
backend_host_conflicts() {
	local d pid
	have pidof || { echo "  pidof is missing: cannot tell what runs"; return 0; }
	[ -d /sys/module/xen_blkback ] &&
		echo "  xen-blkback is loaded and serves every backend/vbd too: rmmod xen-blkback"
	pid=$(pidof xenconsoled) &&
		echo "  xenconsoled (pid $pid) serves guest consoles too: stop it (systemctl stop xenconsoled)"
	for d in pvsplit-blkback pvsplit-consoled; do
		pid=$(pidof "$d") &&
			echo "  $d (pid $pid) already runs: stop it, the lab starts its own from the build"
	done
	# the lab's daemons serve every domain's vbds and consoles
	xl list | awk 'NR > 1 && $1 != "Domain-0" { print "  domain " $1 " (" $2 ") runs: the lab'"'"'s daemons would serve its devices too" }'
	return 0
}

# on a real host, after the run: the daemons the lab started, and only those
backend_stop() {
	local d pid rc=0
	for d in pvsplit-blkback "$(cat "$LAB_DIR/console-daemon" 2>/dev/null)"; do
		[ -s "$LAB_DIR/$d.pid" ] || continue
		pid=$(cat "$LAB_DIR/$d.pid")
		rm -f "$LAB_DIR/$d.pid"
		# the pid is still the daemon (comm: the name's first 15 bytes)
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${d:0:15}" ] || continue
		kill -TERM "$pid" 2>/dev/null
		if gone_soon "$pid"; then
			echo "$d ($pid) stopped"
		else
			echo "$d ($pid) did not stop on SIGTERM in 5 s"
			rc=1
		fi
	done
	return $rc
}

# backend_restart DOMID: stop pvsplit-blkback and start it again, three
# times, while the guest's I/O runs: SIGKILL in rounds 1 and 3, SIGTERM in
# round 2 (it finishes the I/O it started and leaves what it took but had
# not started in the ring journal); it takes its devices up again from
# xenstore and its ring journal, the frontend must notice nothing
backend_restart() {
	local round pid i sig
	for round in 1 2 3; do
		sleep 3
		pid=$(cat "$LAB_DIR/pvsplit-blkback.pid")
		sig=KILL
		[ "$round" = 2 ] && sig=TERM
		echo "round $round: kill -$sig pvsplit-blkback ($pid)"
		kill -"$sig" "$pid" || return 1
		for i in $(seq 50); do
			gone "$pid" && break
			sleep 0.1
		done
		gone "$pid" || { echo "pvsplit-blkback ($pid) did not stop on SIG$sig in 5 s"; return 1; }
		start_blkback
		sleep 0.5
		daemon_alive pvsplit-blkback || return 1
		echo "round $round: pvsplit-blkback started again ($(cat "$LAB_DIR/pvsplit-blkback.pid"))"
	done
}

pvsplit_hotplug_helper() {
	echo "$PVSPLIT_LIBEXECDIR/pvsplit/pvsplit-block-hotplug"
}

backend_disk_spec() {
	local spec="$1,raw,$2,rw,backendtype=phy"
	[ "${3:-}" = hotplug ] && spec+=",script=$(pvsplit_hotplug_helper)"
	[ "${3:-}" = direct ] && spec+=",direct-io-safe"
	printf '%s' "$spec"
}

# pvsplit-blkback's choice per disk: the page cache by default, O_DIRECT
# where the disk spec says direct-io-safe (xvdb); its log names each store
backend_check_io_mode() {
	local log=$PVSPLIT_LOG_DIR/pvsplit-blkback.log block
	block=$(cat "$LAB_DIR/block-dev")
	grep -E "byte sectors, " "$log"
	grep -qE "block device $block: .*byte sectors, O_DIRECT" "$log" ||
		{ echo "xvdb ($block, direct-io-safe) is not served with O_DIRECT"; return 1; }
	# the block script's loop device over the file, served through the file
	grep -qE "loop device /dev/loop[0-9]+ \(through its file $DISK_DIR/disk-file.img\): .*byte sectors, page cache" "$log" ||
		{ echo "xvda (a loop device, no direct-io-safe) is not served through its file's page cache"; return 1; }
}

backend_console_log() {
	if [ "$(cat "$LAB_DIR/console-daemon" 2>/dev/null)" = pvsplit-consoled ]; then
		echo "$PVSPLIT_CONSOLE_LOG_DIR/guest-$1.log"
	else
		echo "/var/log/xen/console/guest-$1.log"
	fi
}

# after xl destroy: nothing in xenstore, no loop device, daemons still up
backend_check_clean() {
	local left
	left=$(xenstore-list "/local/domain/0/backend/vbd/$1" 2>/dev/null)
	[ -z "$left" ] || { echo "xenstore backend/vbd/$1 still has: $left"; return 1; }
	left=$(lab_disk_loops)
	[ -z "$left" ] || { echo "loop devices left on the lab's disk files: $left"; return 1; }
	daemon_alive pvsplit-blkback
}

# the daemons' own view (exit 77 = skip while `pvsplit stats` does not exist)
backend_check_stats() {
	local stats
	pvsplit stats --help >/dev/null 2>&1 || { echo "pvsplit stats is not in the build"; return 77; }
	set_stats_args
	stats=$(pvsplit stats --json "${STATS_ARGS[@]}") || { echo "pvsplit stats --json failed"; return 1; }
	echo "$stats"
	if echo "$stats" | grep -qE "\"domid\": *$1[,} ]"; then
		echo "pvsplit stats still list domain $1"
		return 1
	fi
	if echo "$stats" | grep -qE '"mapped": *[1-9]'; then
		echo "grants still mapped after the domain is gone"
		return 1
	fi
}

# pvsplit-lab bench, before the guest goes: what pvsplit-blkback counted
backend_bench_stats() {
	set_stats_args
	pvsplit stats --json "${STATS_ARGS[@]}"
}

# after a failed run: the daemons' last log lines
backend_diagnostics() {
	local f
	for f in "$PVSPLIT_LOG_DIR"/*.log; do
		[ -f "$f" ] || continue
		echo "== ${f##*/}"
		tail -n 25 "$f"
	done
}
