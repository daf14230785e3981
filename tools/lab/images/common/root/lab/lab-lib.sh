# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by dom0 and guest scripts (bash): structured records for the host.
#
# A record is one line of JSON: {"ev":KIND,"t":UPTIME,...}.  LAB_EMIT_FD (an
# open descriptor) or LAB_EMIT_TO (a file) is where records go;
# LAB_EMIT_PREFIX is put before each (the guest sends
# "@@LAB " lines on its console, which dom0 picks out and relays).
#   ev=begin  name timeout        a step starts
#   ev=step   name status secs    a step ended: status pass|fail|skip, detail
#   ev=metric name value unit     a figure (MB/s, seconds)
#   ev=out    src line            a line of output worth showing the person
#   ev=mark   name                a milestone other scripts wait for
#   ev=note   text                something the person should know
#   ev=span   name edge           work NAME begins or ends (edge begin|end):
#                                 the host adds its own load over it as
#                                 metrics NAME.host_* (pvlab/hostload.py)
#   ev=done   status              the end of the run (dom0 only)

: "${LAB_EMIT_TO:=/dev/stdout}"
: "${LAB_EMIT_PREFIX:=}"
LAB_STEP_DIR=${LAB_STEP_DIR:-/run/lab/steps}
LAB_FAILED=0

# (no subshells here: a fork costs ~50 ms under TCG and records are many)
lab_now() {
	local up _
	read -r up _ </proc/uptime
	echo "$up"
}

# LAB_STR = $1 as a JSON string (quotes included): \ and " escaped, control
# characters dropped
lab_str() {
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\t'/ }
	LAB_STR="\"${s//[$'\001'-$'\037']/}\""
}

# lab_emit KIND [key value]...: values that look like numbers stay numbers
lab_emit() {
	local rec up _
	read -r up _ </proc/uptime
	lab_str "$1"
	rec="{\"ev\":$LAB_STR,\"t\":$up"
	shift
	while [ $# -ge 2 ]; do
		lab_str "$1"
		rec+=",$LAB_STR:"
		if [[ $2 =~ ^-?(0|[1-9][0-9]*)(\.[0-9]+)?$ ]]; then
			rec+=$2
		else
			lab_str "$2" && rec+=$LAB_STR
		fi
		shift 2
	done
	lab_emit_raw "$LAB_EMIT_PREFIX$rec}"
}

# one line to the record channel: through the inherited descriptor
# $LAB_EMIT_FD when set (a virtio port can be open only once at a time, so
# dom0's init opens it once for every process), else appended to LAB_EMIT_TO
lab_emit_raw() {
	if [ -n "${LAB_EMIT_FD:-}" ]; then
		printf '%s\n' "$1" >&"$LAB_EMIT_FD"
	else
		printf '%s\n' "$1" >>"$LAB_EMIT_TO"
	fi
}

lab_out() { lab_emit out src "$1" line "$2"; }
lab_mark() { lab_emit mark name "$1"; }
lab_metric() { lab_emit metric name "$1" value "$2" unit "$3"; }

lab_secs_since() { awk -v a="$1" -v b="$(lab_now)" 'BEGIN { printf "%.2f", b - a }'; }

# lab_sleep SECS: sleep without starting a process: read times out on a
# pipe that nobody writes (opened once, read-write, so never at its end).
# The lab's waits poll, and in a PV domain under TCG each sleep(1) process
# costs milliseconds of the one vCPU the backend under test runs on: with
# a backend that polls, every such fork was a chance to hold a request up.
lab_sleep() {
	[ -n "${LAB_SLEEP_FD:-}" ] || exec {LAB_SLEEP_FD}<> <(:)
	read -r -t "$1" -u "$LAB_SLEEP_FD" _
	return 0
}

# lab_alive PID: running, and not a zombie yet to be reaped (in a trap
# handler bash reaps no child until it waits for one, and lab_sleep starts
# none: kill -0 alone would wait out the timeout)
lab_alive() {
	local s
	kill -0 "$1" 2>/dev/null || return 1
	{ read -r s </proc/"$1"/stat; } 2>/dev/null || return 1
	s=${s##*) }
	[ "${s%% *}" != Z ]
}

# run "$@" in its own process group; after $1 seconds kill the group and
# return 124 (without waiting for a process stuck in the kernel, such as I/O
# to a hung disk, which SIGKILL cannot end)
lab_with_timeout() {
	local tmo=$1 pid end i
	shift
	set -m
	"$@" &
	pid=$!
	set +m
	LAB_STEP_PID=$pid # its process group: for a TERM trap of the caller's
	end=$((SECONDS + tmo))
	while lab_alive "$pid"; do
		if [ "$SECONDS" -ge "$end" ]; then
			kill -KILL -- -"$pid" 2>/dev/null
			for i in 1 2 3 4 5 6 7 8 9 10; do
				lab_alive "$pid" || break
				lab_sleep 0.5
			done
			lab_alive "$pid" && echo "lab: $1 (pid $pid) did not die: left behind"
			return 124
		fi
		lab_sleep 0.2
	done
	wait "$pid"
}

# lab_step NAME TIMEOUT CMD...: one checked step; output to its log file
# (copied to the console after); on failure its last lines are sent as records.
lab_step() {
	local name=$1 tmo=$2 t0 rc log secs
	shift 2
	mkdir -p "$LAB_STEP_DIR"
	log=$LAB_STEP_DIR/$name.log
	t0=$(lab_now)
	lab_emit begin name "$name" timeout "$tmo"
	echo "--- step $name (timeout ${tmo}s): $*"
	lab_with_timeout "$tmo" "$@" >"$log" 2>&1 </dev/null
	rc=$?
	cat "$log"
	secs=$(lab_secs_since "$t0")
	if [ "$rc" -eq 0 ]; then
		lab_emit step name "$name" status pass secs "$secs"
		return 0
	fi
	local why="exit status $rc"
	[ "$rc" -eq 124 ] && why="timed out after ${tmo}s"
	[ "$rc" -eq 77 ] && { lab_step_skip "$name" "$(tail -1 "$log")" "$secs"; return 0; }
	tail -n 15 "$log" | while IFS= read -r line; do lab_out "$name" "$line"; done
	lab_emit step name "$name" status fail secs "$secs" detail "$why"
	LAB_FAILED=$((LAB_FAILED + 1))
	return 1
}

lab_step_skip() { lab_emit step name "$1" status skip secs "${3:-0}" detail "$2"; }

# wait until FILE has a line matching the extended regex; 1 on timeout.
# Reads only what was appended since the last look, in the shell: no grep,
# date or sleep process per look (see lab_sleep).
lab_wait_for_line() {
	local file=$1 re=$2 end=$((SECONDS + $3)) fd="" line part=""
	while :; do
		# (the braces: a redirection of exec itself would stay, for good)
		[ -n "$fd" ] || { exec {fd}<"$file"; } 2>/dev/null || fd=""
		if [ -n "$fd" ]; then
			while IFS= read -r -u "$fd" line; do
				line=$part$line
				part=""
				[[ $line =~ $re ]] && { exec {fd}<&-; return 0; }
			done
			part+=$line # a last line still being written (grep saw it too)
			[[ -n $part && $part =~ $re ]] && { exec {fd}<&-; return 0; }
		fi
		if [ "$SECONDS" -ge "$end" ]; then
			[ -z "$fd" ] || exec {fd}<&-
			return 1
		fi
		lab_sleep 0.3
	done
}

# load the image's kernel modules in dependency order (modules.load), except
# those named in $1 (a space separated list)
lab_load_modules() {
	local skip=" $1 " abi rel name
	abi=$(uname -r)
	while read -r rel; do
		name=${rel##*/}
		name=${name%.ko}
		case $skip in *" ${name//_/-} "* | *" ${name//-/_} "*) continue ;; esac
		grep -q "^${name//-/_} " /proc/modules || insmod "/lib/modules/$abi/$rel" 2>/dev/null ||
			echo "lab: insmod $rel failed"
	done <"/lib/modules/$abi/modules.load"
}

lab_mount_basics() {
	mkdir -p /proc /sys /dev /run /tmp /var /mnt
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev
	mkdir -p /dev/pts /dev/shm
	mount -t devpts devpts /dev/pts
	mount -t tmpfs -o mode=0755 tmpfs /run
	mount -t tmpfs tmpfs /tmp
	ln -sfn /run /var/run
	# devtmpfs has no /dev/fd, /dev/stdin...: Xen's hotplug scripts stat /dev/stdin
	ln -sfn /proc/self/fd /dev/fd
	ln -sfn /proc/self/fd/0 /dev/stdin
	ln -sfn /proc/self/fd/1 /dev/stdout
	ln -sfn /proc/self/fd/2 /dev/stderr
	mkdir -p /var/lock /var/log /var/lib /run/lab
}
