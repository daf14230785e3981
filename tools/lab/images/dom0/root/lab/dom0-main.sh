# SPDX-License-Identifier: GPL-2.0-or-later
# The lab in dom0 (bash): start Xen's dom0 services and the chosen backends,
# create the PV guest with stock xl, drive the checks that need dom0 (console,
# block hot-plug, destroy) and relay the guest's records to the host.
#
# Settings come from /lab/run.env (written by pvsplit-lab for this run):
#   LAB_BACKEND       kernel | pvsplit
#   LAB_FRONTEND      stock (xen-blkfront) | pvsplit (pvsplit-blkfront.ko)
#   LAB_MODE          qemu (this image) | host (a real dom0: services are
#                     already running, nothing is started or loaded)
#   LAB_ROOT          where these files are (/lab in the image)
#   PVSPLIT_*DIR      where the pvsplit build is installed (configure's
#                     directories; under LAB_DESTDIR on a real host)
#   LAB_GUEST_MEM     guest memory in MiB
#   LAB_GUEST_VCPUS   its vCPUs (2 with pvsplit-blkfront: multi-queue)
#   LAB_GUEST_CPUS    the physical CPUs guests may use (--pin-dom0: all but
#                     dom0's); unset: any
#   LAB_DISK_MB       size of each test disk
#   LAB_T_*           timeouts in seconds (see pvsplit-lab(1))
set -u
LAB_ROOT=${LAB_ROOT:-/lab}
# the run's own state: pid files, the guest's records (on a real host: only
# this run's, under the lock taken in main)
LAB_DIR=/run/pvsplit-lab
LAB_STEP_DIR=$LAB_DIR/steps
DISK_DIR=/var/lib/pvsplit-lab
GUEST=lab-guest
. "$LAB_ROOT/lab-lib.sh"
. "$LAB_ROOT/run.env"
. "$LAB_ROOT/backend-$LAB_BACKEND.sh"
# LAB_DESTDIR: where the build is unpacked on a real host (empty in the image)
LAB_DESTDIR=${LAB_DESTDIR:-}
export PATH=$LAB_DESTDIR$PVSPLIT_BINDIR:$LAB_DESTDIR$PVSPLIT_SBINDIR:$PATH
export LD_LIBRARY_PATH=$LAB_DESTDIR$PVSPLIT_LIBDIR
PVSPLIT_LIBEXECDIR=$LAB_DESTDIR$PVSPLIT_LIBEXECDIR
# the daemons' xenstore schema: where the build is unpacked, not where it was
# configured to be installed (the same place in the image)
export PVSPLIT_SCHEMA_DIR=$LAB_DESTDIR$PVSPLIT_PKGDATADIR/xenstore-schema

GUEST_EVENTS=$LAB_DIR/guest.events
GUEST_FAILURES=$LAB_DIR/guest.failures
LAB_LOCK=/run/pvsplit-lab.lock
# in dom0: $LAB_ROOT/user/dom0-script, if the run has one, runs after the
# guest's checks with PVSPLIT_BACKEND, PVSPLIT_GUEST and PVSPLIT_DOMID set

# ---- dom0 services (in the image; a real host runs its own) ----

. "$LAB_ROOT/dom0-services.sh"

# ---- disks: one file, one block device (brd), one file for hot-plug ----

# loop devices backed by FILE (the stock block script's, for instance);
# losetup -j matches the file itself, not the path as written
loops_of() {
	[ -e "$1" ] || return 0
	losetup -j "$1" | cut -d: -f1
}

# loop devices on the guest's file disks (not the block device's: on a real
# host that is a loop device the lab made, and other loop devices are the host's)
lab_disk_loops() {
	loops_of "$DISK_DIR/disk-file.img"
	loops_of "$DISK_DIR/disk-hot.img"
}

# the block device: a brd ramdisk in the image, a loop device on a real host
make_block_device() {
	if [ "$LAB_MODE" = qemu ]; then
		insmod "/lib/modules/$(uname -r)/kernel/drivers/block/brd.ko" rd_nr=1 \
			rd_size=$((LAB_DISK_MB * 1024)) || return 1
		BLOCK_DEV=/dev/ram0
	else
		truncate -s "${LAB_DISK_MB}M" "$DISK_DIR/disk-block.img" || return 1
		BLOCK_DEV=$(losetup -f --show "$DISK_DIR/disk-block.img") || return 1
	fi
	[ -b "$BLOCK_DEV" ] || { echo "no block device $BLOCK_DEV"; return 1; }
	echo "$BLOCK_DEV" >"$LAB_DIR/block-dev"
}

# In QEMU the disk files get a tmpfs of their own, big enough for each of
# them written in full.  On the initramfs' root (half of dom0's memory, most
# of it the image) a guest script that filled its file disk ran that root
# out of space: the loop device's writeback failed ("lost async page write",
# in dom0's kernel log only) and the logs there, the guest's console log
# with them, stopped growing: the run waited for a guest that had finished.
DISK_FS_SLACK_MB=8

# DIR MIB: fail unless DIR's file system has MIB MiB free (not checked
# where df has no figure: busybox's for an initramfs root, --host-mode in QEMU)
disk_room() {
	local avail
	avail=$(df -Pm "$1" 2>/dev/null | awk 'NR == 2 { print $4 }')
	if [ -z "$avail" ]; then
		echo "no free-space figure for $1 (df): the room for the disks is not checked"
		return 0
	fi
	[ "$avail" -ge "$2" ] && return 0
	echo "$1 has $avail MiB free; the lab's disk files need $2 MiB written in full (--disk-mb $LAB_DISK_MB)"
	return 1
}

make_disks() {
	local files=2
	mkdir -p "$DISK_DIR" || return 1
	if [ "$LAB_MODE" = qemu ]; then
		mount -t tmpfs -o "size=$((files * LAB_DISK_MB + DISK_FS_SLACK_MB))m,mode=0755" \
			pvsplit-lab-disks "$DISK_DIR" || return 1
	else
		files=3 # and the block device's backing file
	fi
	disk_room "$DISK_DIR" $((files * LAB_DISK_MB)) || return 1
	truncate -s "${LAB_DISK_MB}M" "$DISK_DIR/disk-file.img" "$DISK_DIR/disk-hot.img" || return 1
	make_block_device || return 1
	ls -l "$DISK_DIR" "$(cat "$LAB_DIR/block-dev")"
	df -m "$DISK_DIR" 2>/dev/null || true
}

# a guest config's cpus= line (empty without LAB_GUEST_CPUS)
guest_cpus_cfg() {
	if [ -n "${LAB_GUEST_CPUS:-}" ]; then
		echo "cpus = \"$LAB_GUEST_CPUS\""
	fi
}

# the backend may bring its own guest (bench's emulated disk: HVM)
write_guest_cfg() {
	if declare -F backend_guest_cfg >/dev/null; then
		backend_guest_cfg >"$LAB_DIR/guest.cfg"
		cat "$LAB_DIR/guest.cfg"
		return
	fi
	# bench's pvsplit-file: xvda's file attached with pvsplit's own helper
	local XVDA_HOW=
	[ "${LAB_BENCH_DISK:-}" = file ] && XVDA_HOW=hotplug
	cat >"$LAB_DIR/guest.cfg" <<-CFG
		name = "$GUEST"
		type = "pv"
		kernel = "$LAB_ROOT/guest/vmlinuz"
		ramdisk = "$LAB_ROOT/guest/initrd.cpio"
		cmdline = "console=hvc0 quiet loglevel=3"
		memory = $LAB_GUEST_MEM
		vcpus = ${LAB_GUEST_VCPUS:-1}
		$(guest_cpus_cfg)
		on_crash = "preserve"
		disk = [ '$(backend_disk_spec "$DISK_DIR/disk-file.img" xvda "$XVDA_HOW")',
		         '$(backend_disk_spec "$(cat "$LAB_DIR/block-dev")" xvdb direct)' ]
	CFG
	cat "$LAB_DIR/guest.cfg"
}

# ---- the guest's console: relay its records, keep its text in dom0's log ----

relay_guest_console() {
	local log line rec ncpu hz
	ncpu=$(grep -c '^cpu[0-9]' /proc/stat)
	hz=$(getconf CLK_TCK 2>/dev/null) && [[ $hz =~ ^[1-9][0-9]*$ ]] || hz=100
	log=$(backend_console_log "$GUEST")
	[ "$LAB_MODE" = host ] && log=$LAB_DIR/console.out
	touch "$GUEST_EVENTS"
	# tail's pid in a file: on a real host the cleanup ends the relay
	{
		echo "$BASHPID" >"$LAB_DIR/relay-tail.pid"
		exec tail -n +1 -F "$log" 2>/dev/null
	} | while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		*"@@LAB {"*)
			rec=${line#*@@LAB }
			printf '%s\n' "$rec" >>"$GUEST_EVENTS"
			with_dom0_cpu "$rec" "$ncpu" "$hz"
			rec=$RELAY_REC
			[ "${LAB_PERF:-0}" = 1 ] && perf_span "$rec"
			case $rec in *'"ev":"step"'*'"status":"fail"'*) echo "$rec" >>"$GUEST_FAILURES" ;; esac
			lab_emit_raw "{\"from\":\"guest\",${rec#\{}"
			;;
		*) [ "${LAB_INTERACTIVE:-0}" = 1 ] || printf 'guest| %s\n' "$line" ;;
		esac
	done
}

# backend_ticks [PROC]: BACKEND_TICKS = the CPU time (utime + stime, clock
# ticks) of the disk backend's own threads: the pvsplit-blkback processes
# (with their io_uring workers) and xen-blkback's kernel threads (DOMID.DEV-RING
# as Linux names them since multi-queue, blkback.* before) in PROC (default
# /proc).  Not the loop devices' workers or the page
# cache's writeback, which either backend may cause.  No fork.
backend_ticks() {
	local f line rest comm
	local -a v
	BACKEND_TICKS=0
	for f in "${1:-/proc}"/[0-9]*/stat; do
		read -r line <"$f" 2>/dev/null || continue
		comm=${line#*\(}
		comm=${comm%\)*}
		case $comm in pvsplit-blkback | blkback.* | [0-9]*.*-[0-9]*) ;; *) continue ;; esac
		rest=${line##*\) }
		read -ra v <<<"$rest"
		[[ ${v[11]:-} =~ ^[0-9]+$ && ${v[12]:-} =~ ^[0-9]+$ ]] || continue
		BACKEND_TICKS=$((BACKEND_TICKS + v[11] + v[12]))
	done
}

# with_dom0_cpu REC NCPU HZ [PROC]: RELAY_REC = the guest's record REC, and
# if it is a span's edge, with dom0's own CPU counters at this moment added:
# "dom0_cpu":[user,nice,system,idle,iowait,irq,softirq,steal] (clock ticks,
# all of dom0's vCPUs, the first line of PROC/stat), "dom0_up" (seconds,
# PROC/uptime), "dom0_ncpu":NCPU, "dom0_hz":HZ (ticks per second) and
# "dom0_backend_ticks" (backend_ticks).  The host turns two edges into
# dom0_* metrics (pvlab/hostload.py).  No fork: the relay runs this per
# record.
with_dom0_cpu() {
	local _c u n s i w q sq st _rest up proc=${4:-/proc}
	RELAY_REC=$1
	case $1 in *'"ev":"span"'*'}') ;; *) return 0 ;; esac
	read -r up _rest <"$proc/uptime"
	read -r _c u n s i w q sq st _rest <"$proc/stat"
	[ "$_c" = cpu ] && [[ $up =~ ^[0-9]+(\.[0-9]+)?$ ]] || return 0
	for _c in "$u" "$n" "$s" "$i" "$w" "$q" "$sq" "${st:-0}"; do
		[[ $_c =~ ^[0-9]+$ ]] || return 0
	done
	backend_ticks "$proc"
	printf -v RELAY_REC '%s,"dom0_cpu":[%s,%s,%s,%s,%s,%s,%s,%s],"dom0_up":%s,"dom0_ncpu":%s,"dom0_hz":%s,"dom0_backend_ticks":%s}' \
		"${1%\}}" "$u" "$n" "$s" "$i" "$w" "$q" "$sq" "${st:-0}" "$up" "$2" "$3" "$BACKEND_TICKS"
}

# ---- --perf: where dom0's CPU time goes during each fio job ----

# perf_span REC: at a guest span's begin, start sampling every CPU of dom0
# into $LAB_DIR/perf/NAME.data; at its end, stop that (SIGINT: perf writes
# its file and exits).  A background job starts with SIGINT ignored until
# perf sets its handler, so the signal is sent again every 0.1 s, for 5 s
# at most, then SIGKILL: the relay must not hang on a perf that is stuck.
# The relay runs this only with LAB_PERF=1.
declare -A PERF_PIDS=()
perf_span() {
	local name edge pid st
	[[ $1 =~ \"ev\":[[:space:]]*\"span\" ]] || return 0
	[[ $1 =~ \"name\":[[:space:]]*\"([A-Za-z0-9_.-]+)\" ]] || return 0
	name=${BASH_REMATCH[1]}
	[[ $1 =~ \"edge\":[[:space:]]*\"(begin|end)\" ]] || return 0
	edge=${BASH_REMATCH[1]}
	if [ "$edge" = begin ]; then
		mkdir -p "$LAB_DIR/perf"
		perf record -e cpu-clock -F "${LAB_PERF_HZ:-1000}" -a -q \
			-o "$LAB_DIR/perf/$name.data" >"$LAB_DIR/perf/$name.log" 2>&1 </dev/null &
		PERF_PIDS[$name]=$!
	elif [ -n "${PERF_PIDS[$name]:-}" ]; then
		pid=${PERF_PIDS[$name]}
		unset "PERF_PIDS[$name]"
		for _ in {1..50}; do
			# gone, or exited and waiting for our wait (state Z)
			read -r st 2>/dev/null <"/proc/$pid/stat" || break
			st=${st##*) }
			[ "${st%% *}" = Z ] && break
			kill -INT "$pid" 2>/dev/null
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	return 0
}

# the kernel's addresses for perf's report (a lab dom0's own setting)
perf_prepare() {
	echo 0 >/proc/sys/kernel/kptr_restrict
	echo -1 >/proc/sys/kernel/perf_event_paranoid
}

# perf_report: per fio job, the share of dom0's samples by task and by
# binary, then the top functions (not the idle task's)
perf_report() {
	local f name line n=0
	for f in "$LAB_DIR"/perf/*.data; do
		[ -s "$f" ] || continue
		name=$(basename "$f" .data)
		n=$((n + 1))
		lab_out perf "== $name: dom0's samples by task and binary"
		while IFS= read -r line; do
			[ -n "$line" ] && lab_out perf "$line"
		done < <(perf report -i "$f" --stdio -q --sort comm,dso 2>/dev/null | head -n 12)
		lab_out perf "== $name: top functions (not idle)"
		while IFS= read -r line; do
			[ -n "$line" ] && lab_out perf "$line"
		done < <(perf report -i "$f" --stdio -q --sort comm,sym 2>/dev/null | grep -v swapper | head -n 30)
	done
	[ "$n" -gt 0 ] || { echo "no perf data in $LAB_DIR/perf: no fio job ran, or perf failed (see its .log there)"; return 1; }
}

# wait for the guest's mark NAME
wait_guest_mark() {
	lab_wait_for_line "$GUEST_EVENTS" "\"ev\":\"mark\",[^}]*\"name\":\"$1\"" "$2" || {
		echo "no mark '$1' from the guest within $2 s (guest console: see the serial log, 'guest|' lines)"
		guest_snapshot
		return 1
	}
}

# step NAME: wait SECS for the guest's mark MARK; the step's own timeout
# comes later, so that a guest that does not go on is looked at
guest_mark_step() {
	lab_step "$1" $(($3 + 30)) wait_guest_mark "$2" "$3"
}

guest_domid() { xl domid "$GUEST"; }

# a guest that does not go on: its vCPUs' time (growing: it runs), its
# devices as xenstore has them (state, hotplug-status, errors) and its
# console's last lines
guest_snapshot() {
	local domid log
	domid=$(guest_domid 2>/dev/null) || { echo "-- no domain $GUEST"; return 0; }
	echo "-- the guest's vCPUs (time: running or stuck in a loop if it grows)"
	xl vcpu-list "$GUEST"
	sleep 2
	xl vcpu-list "$GUEST" | tail -n +2
	echo "-- xenstore: the devices of domain $domid"
	xenstore-ls -f "/local/domain/$domid/device" 2>/dev/null | grep -E '/state = '
	xenstore-ls -f "/local/domain/0/backend" 2>/dev/null |
		grep -E "/$domid/[0-9]+/(state|hotplug-status|physical-device) = "
	xenstore-ls -f "/local/domain/$domid/error" 2>/dev/null | head -n 10
	xenstore-ls -f "/local/domain/0/error/backend" 2>/dev/null | grep -E "/$domid/" | head -n 10
	log=$(backend_console_log "$GUEST")
	[ "$LAB_MODE" = host ] && log=$LAB_DIR/console.out
	echo "-- the guest's console, last 40 lines ($log)"
	tail -n 40 "$log" 2>/dev/null | tr -d '\r'
	# dom0's own trouble can look like a guest that stopped: no room for
	# the logs, the disks' writeback failing
	echo "-- dom0: space for the disks and the logs, memory, kernel I/O errors"
	df -m 2>/dev/null
	free -m
	dmesg | grep -E 'I/O error|lost async page write|No space left' | tail -n 5
}

# on a real host the guest is created paused: the console session that feeds
# the relay must be there before the guest prints anything
create_guest() {
	write_guest_cfg || return 1
	# a PV guest needs no device model: libxl must not start one
	local qemu=/bin/false paused=
	[ "${GUEST_TYPE:-pv}" = pv ] || qemu=/usr/libexec/xen-qemu-system-i386
	[ "$LAB_MODE" = host ] && paused=-p
	if ! QEMU_XEN=$qemu xl create $paused "$LAB_DIR/guest.cfg"; then
		echo "--- /var/log/xen/xen-hotplug.log:"
		tail -n 20 /var/log/xen/xen-hotplug.log
		return 1
	fi
	xl list
}

# ---- checks that dom0 drives ----

# an `xl console` session under a pty (script): input through fd 7, output
# (the guest's console) to the file $1
open_console_session() {
	local fifo=$LAB_DIR/console.in
	rm -f "$fifo" "$1"
	mkfifo "$fifo"
	script -qfc "xl console $GUEST" "$1" <"$fifo" >/dev/null 2>&1 &
	CONSOLE_PID=$!
	exec 7>"$fifo"
}

close_console_session() {
	exec 7>&-
	kill "$CONSOLE_PID" 2>/dev/null
}

# send "ping TOKEN" as input, expect "pong TOKEN" in the session's output $1
ping_console() {
	local token=lab$RANDOM$RANDOM rc
	printf 'ping %s\r' "$token" >&7
	lab_wait_for_line "$1" "pong $token" 30
	rc=$?
	tr -d '\r' <"$1" | tail -n 5
	return $rc
}

# xl console output and input (on a real host: through the session that
# also feeds the relay)
check_console() {
	if [ "$LAB_MODE" = host ]; then
		ping_console "$LAB_DIR/console.out"
		return
	fi
	open_console_session "$LAB_DIR/console-check.out"
	sleep 2
	ping_console "$LAB_DIR/console-check.out"
	local rc=$?
	close_console_session
	return $rc
}

check_block_attach() {
	wait_guest_mark hotplug-ready "$LAB_T_GUEST_CHECKS" || return 1
	xl block-attach "$GUEST" "$(backend_disk_spec "$DISK_DIR/disk-hot.img" xvdc hotplug)" || return 1
	wait_guest_mark hotplug-used 120 || return 1
	xl block-list "$GUEST"
}

check_block_detach() {
	xl block-detach "$GUEST" xvdc || return 1
	wait_guest_mark hotplug-gone 120 || return 1
	xl block-list "$GUEST"
	! xl block-list "$GUEST" | grep -q 51744
}

check_destroy() {
	local domid
	domid=$(guest_domid) || return 1
	echo "$domid" >"$LAB_DIR/guest-domid"
	xl destroy "$GUEST" || return 1
	local i
	for i in $(seq 100); do
		xl domid "$GUEST" >/dev/null 2>&1 || break
		sleep 0.2
	done
	if xl domid "$GUEST" >/dev/null 2>&1; then
		echo "domain $GUEST still exists"
		return 1
	fi
	backend_check_clean "$domid"
}

# the backend going Closing while online (as one that fails and recovers):
# the frontend must reconnect and send again what was in flight
rehandshake() { # DOMID VDEV-NUMBER
	local be=/local/domain/0/backend/vbd/$1/$2 fe=/local/domain/$1/device/vbd/$2 round i
	for round in 1 2; do
		sleep 2
		echo "re-handshake $round: $be/state = 5 (Closing)"
		xenstore-write "$be/state" 5 || return 1
		for i in $(seq 300); do
			sleep 0.2
			[ "$(xenstore-read "$be/state")" = 4 ] && [ "$(xenstore-read "$fe/state")" = 4 ] &&
				continue 2
		done
		echo "re-handshake $round: not Connected again in 60 s (backend $(xenstore-read "$be/state"), frontend $(xenstore-read "$fe/state"))"
		return 1
	done
	echo "the frontend reconnected twice"
}

# while the guest's fio verify loop runs on xvdb (LAB_RESTART_SECS): the
# backend restarted (and with pvsplit-blkfront, re-handshakes), all of it
# before the loop ends; then the guest's verdict (its step guest.restart-io)
check_backend_restart() {
	local domid rc=0
	wait_guest_mark restart-ready "$LAB_T_GUEST_CHECKS" || return 1
	domid=$(guest_domid) || return 1
	backend_restart "$domid" || rc=1
	if [ "$rc" -eq 0 ] && [ "$LAB_FRONTEND" = pvsplit ]; then
		rehandshake "$domid" 51728 || rc=1
	fi
	if grep -qE '"ev":"mark",[^}]*"name":"restart-done"' "$GUEST_EVENTS"; then
		echo "the guest's I/O loop ended before the restarts did: raise LAB_RESTART_SECS"
		rc=1
	fi
	wait_guest_mark restart-done $((${LAB_RESTART_SECS:-75} + 300)) || rc=1
	# the guest's I/O across the restarts is what this step proves
	if ! grep -qE '"ev":"step",[^}]*"name":"guest.restart-io","status":"pass"' "$GUEST_EVENTS"; then
		echo "the guest's I/O across the restarts did not pass (see guest.restart-io)"
		rc=1
	fi
	return $rc
}

run_dom0_script() {
	PVSPLIT_BACKEND=$LAB_BACKEND PVSPLIT_GUEST=$GUEST PVSPLIT_DOMID=$(guest_domid) \
		bash "$LAB_ROOT/user/dom0-script" 2>&1 | while IFS= read -r line; do
		lab_out dom0-script "$line"
		printf '%s\n' "$line"
	done
	return "${PIPESTATUS[0]}"
}

# demo --interactive: the person at the serial console gets the guest's
interactive_console() {
	xl console "$GUEST" </dev/console >/dev/console 2>&1
}

# ---- a real host: what must not be running, and leaving nothing behind ----

# a process gone or a zombie (nobody may reap a daemon whose parent went)
gone() { ! lab_alive "$1"; }

# wait up to 5 s for PID to be gone
gone_soon() {
	local i
	for i in $(seq 50); do
		gone "$1" && return 0
		sleep 0.1
	done
	gone "$1"
}

# what the backend needs stopped first (backend_host_conflicts prints one line
# per conflict, with what to do about it)
host_preflight() {
	local conflicts= f l
	declare -F backend_host_conflicts >/dev/null && conflicts=$(backend_host_conflicts)
	xl domid "$GUEST" >/dev/null 2>&1 &&
		conflicts+=$'\n'"  a domain named $GUEST exists: xl destroy $GUEST"
	for f in "$DISK_DIR"/disk-*.img; do
		for l in $(loops_of "$f"); do
			conflicts+=$'\n'"  $l still holds $f (an earlier run's?): losetup -d $l"
		done
	done
	conflicts=${conflicts#$'\n'}
	[ -z "$conflicts" ] && return 0
	echo "the lab cannot run on this host as it is:"
	echo "$conflicts"
	echo "(or run the lab in QEMU: pvsplit-lab run --qemu)"
	return 1
}

# after the run on a real host: the guest if it is still there, its console
# session and relay, the daemons the lab started (backend_stop), its block
# device and its disk files; what had to be undone here, or stays, fails it
# (but for the guest of a run stopped by a signal: host_cleanup aborted)
host_cleanup() {
	local left= f l
	if xl domid "$GUEST" >/dev/null 2>&1; then
		if xl destroy "$GUEST"; then
			echo "$GUEST was still there: destroyed"
			[ "${1:-}" = aborted ] || left+=" domain-$GUEST"
		else
			echo "$GUEST is still there: xl destroy failed"
			left+=" domain-$GUEST"
		fi
	fi
	if [ -n "${CONSOLE_PID:-}" ]; then
		close_console_session
		gone_soon "$CONSOLE_PID" || left+=" console-session"
	fi
	if [ -n "${RELAY_PID:-}" ]; then
		kill "$(cat "$LAB_DIR/relay-tail.pid" 2>/dev/null)" 2>/dev/null
		gone_soon "$RELAY_PID" || left+=" console-relay"
	fi
	if declare -F backend_stop >/dev/null; then
		backend_stop || left+=" daemons"
	fi
	if [ -s "$LAB_DIR/block-dev" ]; then
		l=$(cat "$LAB_DIR/block-dev")
		[ "$(loops_of "$DISK_DIR/disk-block.img")" = "$l" ] && losetup -d "$l"
	fi
	for f in "$DISK_DIR"/disk-*.img; do
		[ -e "$f" ] || continue
		for l in $(loops_of "$f"); do
			[ "$f" = "$DISK_DIR/disk-block.img" ] || left+=" $l(${f##*/})"
			losetup -d "$l"
		done
		[ -n "$(loops_of "$f")" ] || rm -f "$f"
		# a busy loop device is only marked to go: the file stays with it
		[ ! -e "$f" ] || left+=" ${f##*/}"
	done
	rmdir "$DISK_DIR" 2>/dev/null
	[ -z "$left" ] || { echo "left behind by the run:$left"; return 1; }
	echo "stopped what the lab started; its disks and block device are gone"
}

# pvsplit-lab stops a run on a real host with SIGTERM (a timeout, Ctrl-C):
# the step in progress (its own process group) is ended first, so that
# nothing it does races the cleanup; output back to dom0's log (fd 6)
host_abort() {
	local i
	trap '' TERM INT
	exec 1>&6 2>&1
	lab_emit note text "dom0-main.sh stopped by a signal: ending the step in progress, cleaning up"
	if [ -n "${LAB_STEP_PID:-}" ] && kill -TERM -- -"$LAB_STEP_PID" 2>/dev/null; then
		for i in $(seq 50); do
			kill -0 -- -"$LAB_STEP_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- -"$LAB_STEP_PID" 2>/dev/null
	fi
	lab_step host-cleanup 120 host_cleanup aborted
	lab_emit done status fail failed $((LAB_FAILED + 1))
	exit 1
}

host_lock() {
	flock -n 8 && return 0
	echo "another pvsplit-lab run holds $LAB_LOCK, or what a killed run left does"
	echo "(xl's monitor of $GUEST, an xl console session: xl destroy $GUEST)"
	return 1
}

# ---- the run ----

# the steps while the guest runs; a guest that does not come up or finish its
# checks gets no more waits: straight to destroy
guest_steps() {
	guest_mark_step guest-boot ready "$LAB_T_GUEST_BOOT" || return 1
	lab_step console "$LAB_T_CONSOLE" check_console
	if declare -F backend_check_io_mode >/dev/null; then
		lab_step io-mode 30 backend_check_io_mode
	fi
	guest_mark_step guest-checks checks-done "$LAB_T_GUEST_CHECKS" || return 1
	# detach even after a failed attach: the guest waits for the disk to go
	lab_step block-attach "$LAB_T_HOTPLUG" check_block_attach
	lab_step block-detach "$LAB_T_HOTPLUG" check_block_detach
	if declare -F backend_restart >/dev/null; then
		lab_step backend-restart 900 check_backend_restart
	fi
	guest_mark_step guest-finish guest-done "$LAB_T_GUEST_SCRIPT"
	if [ -f "$LAB_ROOT/user/dom0-script" ]; then
		lab_step dom0-script "$LAB_T_GUEST_SCRIPT" run_dom0_script
	fi
	[ "${LAB_PERF:-0}" = 1 ] && lab_step perf-report 300 perf_report
	return 0
}

# pvsplit-lab bench: the guest only measures (LAB_BENCH=1)
bench_steps() {
	guest_mark_step guest-boot ready "$LAB_T_GUEST_BOOT" || return 1
	guest_mark_step guest-finish guest-done "$LAB_T_GUEST_CHECKS"
	# the backend's own view of the workloads (pvsplit: per-queue latency histograms)
	if declare -F backend_bench_stats >/dev/null; then
		lab_step backend-stats 60 backend_bench_stats
	fi
	[ "${LAB_PERF:-0}" = 1 ] && lab_step perf-report 300 perf_report
	return 0
}

guest_phase() {
	lab_step guest-create "$LAB_T_CREATE" create_guest || return 1
	if [ "$LAB_MODE" = host ]; then
		open_console_session "$LAB_DIR/console.out"
		lab_step guest-unpause 30 xl unpause "$GUEST" || return 1
	fi
	[ "${LAB_PERF:-0}" = 1 ] && perf_prepare
	relay_guest_console &
	RELAY_PID=$!
	if [ "${LAB_BENCH:-0}" = 1 ]; then bench_steps; else guest_steps; fi
	if [ "${LAB_INTERACTIVE:-0}" = 1 ]; then
		lab_emit note text "interactive: you are in the guest's console (xl console); Ctrl-] leaves it and ends the demo"
		lab_step interactive 86400 interactive_console
	fi
	lab_step destroy 120 check_destroy
	if declare -F backend_check_stats >/dev/null; then
		lab_step daemon-stats 60 backend_check_stats "$(cat "$LAB_DIR/guest-domid")"
	fi
}

# on a real host: one run at a time (the lock), nothing in the way
# (host-preflight); only then is /run/pvsplit-lab cleared and, whatever
# happens after, cleaned up again
host_start() {
	local early rc=0
	# until the lock is ours, step logs go to a directory of our own
	early=$(mktemp -d /tmp/pvsplit-lab-steps.XXXXXX) || { echo "mktemp -d in /tmp failed"; return 1; }
	LAB_STEP_DIR=$early
	exec 8>>"$LAB_LOCK"
	lab_step host-lock 10 host_lock && lab_step host-preflight 60 host_preflight || rc=1
	rm -rf "$early"
	LAB_STEP_DIR=$LAB_DIR/steps
	[ "$rc" -eq 0 ] || return 1
	rm -rf "$LAB_DIR"
	mkdir -p "$LAB_DIR" || return 1
	HOST_STARTED=1
	exec 6>&1
	trap host_abort TERM INT
}

main() {
	local t0 status=pass
	t0=$(lab_now)
	mkdir -p /var/log/xen/console /var/lib/xen /var/run/xen
	[ "$LAB_MODE" = host ] || mkdir -p "$LAB_DIR"
	lab_mark dom0-up
	if [ "$LAB_MODE" = qemu ]; then
		start_dom0_services || LAB_FAILED=$((LAB_FAILED + 1))
	else
		host_start || LAB_FAILED=$((LAB_FAILED + 1))
	fi
	if [ "$LAB_FAILED" -eq 0 ] && lab_step backend-start 120 backend_start &&
		lab_step disks 60 make_disks; then
		guest_phase
	fi
	if [ -n "${HOST_STARTED:-}" ]; then
		# a signal now: the cleanup under way finishes all the same
		trap '' TERM INT
		lab_step host-cleanup 120 host_cleanup
		[ -n "${RELAY_PID:-}" ] && gone "$RELAY_PID" && wait "$RELAY_PID" 2>/dev/null
	fi
	# (a run refused on a real host has no state of its own to look at)
	local ours=1
	[ "$LAB_MODE" = host ] && [ -z "${HOST_STARTED:-}" ] && ours=
	[ -n "$ours" ] && [ -s "$GUEST_FAILURES" ] &&
		LAB_FAILED=$((LAB_FAILED + $(wc -l <"$GUEST_FAILURES")))
	if [ "$LAB_FAILED" -ne 0 ]; then
		status=fail
		[ -n "$ours" ] && backend_diagnostics 2>&1 |
			while IFS= read -r line; do lab_out diagnostics "$line"; done
	fi
	lab_metric dom0.lab_secs "$(lab_secs_since "$t0")" s
	lab_emit done status "$status" failed "$LAB_FAILED"
}

main
