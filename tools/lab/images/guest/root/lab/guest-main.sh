# SPDX-License-Identifier: GPL-2.0-or-later
# The lab's checks inside the PV guest, in order:
#   ready          the guest runs (dom0 then checks the console with xl console)
#   frontend       the disks are served by the chosen frontend: the stock
#                  xen-blkfront, or pvsplit-blkfront with xen-blkfront absent
#   file systems   per disk: mkfs.ext4, files written, sync, read back and
#                  hashes verified after a remount, fsck clean
#   fio verify     per disk: raw random writes read back with crc32c checks
#   throughput     fio on the first disk: 1 MiB sequential, 4 KiB random
#   hot-plug       xvdc attached by dom0 is used, then detached
#   restart I/O    (pvsplit backend) fio verify passes on xvdb, over and over
#                  for LAB_RESTART_SECS, while dom0 stops pvsplit-blkback
#                  (SIGKILL, SIGTERM) and starts it again (and, with pvsplit-blkfront,
#                  makes the backend go Closing and back)
#   guest script   /lab/user/guest-script, if the run has one
# Marks (ready, checks-done, hotplug-ready, hotplug-used, hotplug-gone,
# restart-ready, restart-done, guest-done) are what dom0 waits for.
#
# With LAB_BENCH=1 (pvsplit-lab bench) only the throughput runs, on the
# first disk: /dev/xvda (PV) or /dev/sda (the HVM guest's emulated IDE).
set -u
. /lab/lab-lib.sh
. /lab/run.env
export PVSPLIT_DISKS="/dev/xvda /dev/xvdb"
MNT=/mnt/lab
: "${LAB_CONSOLE:=hvc0}"
: "${LAB_FRONTEND:=stock}"
# metrics are named disk.LABEL.*: the backend, plus the frontend when not stock
: "${LAB_DISK_LABEL:=$LAB_BACKEND}"

# answer "ping TOKEN" typed on the console (dom0 sends it through xl console)
console_responder() {
	local cmd arg
	while read -r cmd arg; do
		[ "$cmd" = ping ] && echo "pong $arg"
	done </dev/"$LAB_CONSOLE"
}

wait_block() { # DEV PRESENT(1|0) TIMEOUT
	local i
	for i in $(seq $(($3 * 5))); do
		if [ -b "$1" ]; then [ "$2" = 1 ] && return 0; else [ "$2" = 0 ] && return 0; fi
		sleep 0.2
	done
	echo "$1: still $([ "$2" = 1 ] && echo absent || echo present) after $3 s"
	return 1
}

wait_disks() {
	local d
	for d in $PVSPLIT_DISKS; do wait_block "$d" 1 60 || return 1; done
	grep -H . /sys/block/xvd*/size
}

write_files() {
	local i
	for i in 1 2 3 4; do
		head -c $((i * 1024 * 1024)) /dev/urandom >"$MNT/f$i" || return 1
	done
	mkdir -p "$MNT/dir" && echo "pvsplit lab" >"$MNT/dir/small"
	sync
	(cd "$MNT" && sha256sum f1 f2 f3 f4 dir/small) >/run/lab/sums
}

fs_check() { # DEV
	mkdir -p "$MNT"
	mkfs.ext4 -q -F "$1" || return 1
	mount -t ext4 "$1" "$MNT" || return 1
	write_files || { umount "$MNT"; return 1; }
	umount "$MNT" || return 1
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 "$1" "$MNT" || return 1
	(cd "$MNT" && sha256sum -c /run/lab/sums) || { umount "$MNT"; return 1; }
	umount "$MNT" || return 1
	e2fsck -fn "$1"
}

fio_verify() { # DEV SIZE
	fio --name=verify --filename="$1" --direct=1 --ioengine=libaio --iodepth=8 \
		--rw=randwrite --bs=4k --size="$2" --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --output-format=normal
}

# terse_pct LINE FIRST PCT: fio's completion latency percentile PCT (us)
# among the 20 fields from FIRST of a terse v3 LINE ("50.000000%=USEC")
terse_pct() {
	echo "$1" | awk -F';' -v f="$2" -v p="$3" '{
		for (i = f; i < f + 20; i++)
			if (split($i, kv, "%=") == 2 && kv[1] + 0 == p + 0) { print kv[2]; exit }
	}'
}

# cpu_ticks [STAT]: the guest's CPU time so far, all CPUs, in clock ticks,
# from /proc/stat (or STAT): "BUSY IDLE STEAL" (busy: user, nice, system,
# irq, softirq; idle: idle, iowait)
cpu_ticks() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $5 + $6, $9; exit }' "${1:-/proc/stat}"
}

# guest_cpu BEFORE AFTER IOPS NCPU: "IDLE_PCT BUSY_US_PER_IO STEAL_PCT"
# between two cpu_ticks: the share of the guest's CPU time spent idle
# (waiting for the disk, when fio is all that runs), its busy CPU time per
# I/O, and the share stolen (its vCPU runnable while another vCPU, dom0's,
# had the physical CPU: Xen's runstate, as a PV guest's steal time)
guest_cpu() {
	awk -v a="$1" -v b="$2" -v iops="$3" -v ncpu="$4" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		busy = y[1] - x[1]; idle = y[2] - x[2]; steal = y[3] - x[3]
		total = busy + idle + steal
		if (total <= 0 || iops <= 0 || ncpu <= 0) exit
		printf "%.0f %.0f %.0f\n", 100 * idle / total, busy / total * ncpu * 1e6 / iops,
			100 * steal / total
	}'
}

# blkif_irqs [FILE]: interrupts taken from blkfront's event channels (every
# "blkif" line of /proc/interrupts, all CPUs' columns), summed
blkif_irqs() {
	awk '/blkif/ { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }' \
		"${1:-/proc/interrupts}"
}

# irqs_per_io BEFORE AFTER IOPS RUNTIME_MS: blkif interrupts per I/O (nothing
# when no I/O was done)
irqs_per_io() {
	awk -v a="$1" -v b="$2" -v iops="$3" -v ms="$4" 'BEGIN {
		ios = iops * ms / 1000
		if (ios > 0) printf "%.2f\n", (b - a) / ios
	}'
}

# fio_rate NAME DEV RW BS DEPTH: one timed fio job; metrics MiB/s, IOPS,
# the completion latency's 50th and 99th percentiles, the guest's CPU
# (guest_cpu, over the whole fio command: its start and exit too) and the
# disk's interrupts per I/O (irqs_per_io: how many responses one event
# carried, inverted)
fio_rate() {
	local name=$1 dev=$2 rw=$3 out field bw iops p50 p99 t0 cpu idle busy steal i0 irqs ms
	t0=$(cpu_ticks)
	i0=$(blkif_irqs)
	lab_emit span name "disk.$LAB_DISK_LABEL.$name" edge begin
	out=$(fio --name="$name" --filename="$dev" --direct=1 --ioengine=libaio --rw="$rw" \
		--bs="$4" --iodepth="$5" --size=64M --runtime="$LAB_FIO_SECS" --time_based \
		--output-format=terse --terse-version=3) || return 1
	lab_emit span name "disk.$LAB_DISK_LABEL.$name" edge end
	# terse v3: field 7/8 read KiB/s and IOPS, 18-37 its completion latency
	# percentiles; 48/49 and 59-78 the same for writes
	case $rw in *write) field=48 ;; *) field=7 ;; esac
	bw=$(echo "$out" | awk -F';' -v f=$field '{ v = $f / 1024; printf (v < 1 ? "%.3f" : "%.1f"), v }')
	iops=$(echo "$out" | awk -F';' -v f=$((field + 1)) '{ print $f }')
	p50=$(terse_pct "$out" $((field + 11)) 50)
	p99=$(terse_pct "$out" $((field + 11)) 99)
	cpu=$(guest_cpu "$t0" "$(cpu_ticks)" "$iops" "$(grep -c '^cpu[0-9]' /proc/stat)")
	ms=$(echo "$out" | awk -F';' -v f=$((field + 2)) '{ print $f }')
	irqs=$(irqs_per_io "$i0" "$(blkif_irqs)" "$iops" "$ms")
	read -r idle busy steal <<<"$cpu"
	lab_metric "disk.$LAB_DISK_LABEL.$name.mib_s" "$bw" MiB/s
	lab_metric "disk.$LAB_DISK_LABEL.$name.iops" "$iops" IOPS
	[ -z "$p50" ] || lab_metric "disk.$LAB_DISK_LABEL.$name.clat_p50_us" "$p50" us
	[ -z "$p99" ] || lab_metric "disk.$LAB_DISK_LABEL.$name.clat_p99_us" "$p99" us
	[ -z "$idle" ] || lab_metric "disk.$LAB_DISK_LABEL.$name.guest_idle_pct" "$idle" %
	[ -z "$busy" ] || lab_metric "disk.$LAB_DISK_LABEL.$name.guest_cpu_us_per_io" "$busy" us
	[ -z "$steal" ] || lab_metric "disk.$LAB_DISK_LABEL.$name.guest_steal_pct" "$steal" %
	[ -z "$irqs" ] || lab_metric "disk.$LAB_DISK_LABEL.$name.guest_irqs_per_io" "$irqs" irqs
	echo "$name: $bw MiB/s, $iops IOPS, completion latency p50 ${p50:-?} us, p99 ${p99:-?} us," \
		"guest CPU ${idle:-?}% idle, ${steal:-?}% stolen, ${busy:-?} us busy per I/O," \
		"${irqs:-?} disk interrupts per I/O"
}

throughput() { # DEV
	fio_rate seqread_1m "$1" read 1M 8 &&
		fio_rate seqwrite_1m "$1" write 1M 8 &&
		fio_rate randread_4k_qd1 "$1" randread 4k 1 &&
		fio_rate randread_4k_qd32 "$1" randread 4k 32 &&
		fio_rate randwrite_4k_qd32 "$1" randwrite 4k 32
}

# a disk whose step failed gets no more steps: a hung backend would
# otherwise cost every later step its whole timeout
disk_step() { # NAME DEV TIMEOUT CMD...
	local name=$1 dev=$2
	shift 2
	case " $BAD_DISKS " in *" $dev "*)
		lab_step_skip "$name" "$dev failed an earlier step"
		return 1
		;;
	esac
	lab_step "$name" "$@" || { BAD_DISKS+=" $dev"; return 1; }
}

# the xenbus driver bound to each disk: "vbd" is xen-blkfront's
check_frontend() {
	local want=vbd d drv
	if [ "$LAB_FRONTEND" = pvsplit ]; then
		want=pvsplit-blkfront
		if grep -q '^xen_blkfront ' /proc/modules; then
			echo "xen-blkfront is loaded"
			return 1
		fi
		grep '^pvsplit_blkfront ' /proc/modules || { echo "pvsplit-blkfront is not loaded"; return 1; }
		echo "parameters: $(grep -H . /sys/module/pvsplit_blkfront/parameters/* | sed 's,.*/,,' | tr '\n' ' ')"
	fi
	for d in /sys/bus/xen/devices/vbd-*; do
		drv=$(readlink "$d/driver")
		drv=${drv##*/}
		echo "${d##*/}: driver $drv"
		[ "$drv" = "$want" ] || { echo "${d##*/} is not served by $want"; return 1; }
	done
	# pvsplit-blkback offers up to 4 queues: the module takes one per vCPU
	if [ "$LAB_FRONTEND" = pvsplit ] && [ "$LAB_BACKEND" = pvsplit ]; then
		for d in $PVSPLIT_DISKS; do
			d=${d##*/}
			[ "$(ls /sys/block/$d/mq | wc -l)" = "$(nproc)" ] ||
				{ echo "$d: $(ls /sys/block/$d/mq | wc -l) hardware queue(s) for $(nproc) vCPUs"; return 1; }
		done
	fi
	for d in $PVSPLIT_DISKS; do
		d=${d##*/}
		echo "$d: $(cat /sys/block/$d/size) sectors," \
			"$(cat /sys/block/$d/queue/logical_block_size)/$(cat /sys/block/$d/queue/physical_block_size) B sectors," \
			"max $(cat /sys/block/$d/queue/max_hw_sectors_kb) KiB per request," \
			"$(ls /sys/block/$d/mq | wc -l) queue(s), write cache $(cat /sys/block/$d/queue/write_cache)," \
			"discard max $(cat /sys/block/$d/queue/discard_max_bytes) B"
	done
}

disk_checks() {
	local d n
	BAD_DISKS=
	lab_step guest.disks 90 wait_disks || { BAD_DISKS=$PVSPLIT_DISKS; return 1; }
	lab_step guest.frontend 30 check_frontend || { BAD_DISKS=$PVSPLIT_DISKS; return 1; }
	for d in $PVSPLIT_DISKS; do
		n=${d##*/}
		disk_step "guest.fs.$n" "$d" 120 fs_check "$d"
		disk_step "guest.fio-verify.$n" "$d" 120 fio_verify "$d" 16M
	done
	disk_step guest.throughput /dev/xvda $((LAB_FIO_SECS * 5 + 120)) throughput /dev/xvda
}

hot_use() {
	wait_block /dev/xvdc 1 120 || return 1
	fio_verify /dev/xvdc 8M
}

hotplug_checks() {
	lab_mark hotplug-ready
	lab_step guest.hotplug-use 180 hot_use
	lab_mark hotplug-used
	lab_step guest.hotplug-gone 180 wait_block /dev/xvdc 0 150
	lab_mark hotplug-gone
}

# fio verify on xvdb for LAB_RESTART_SECS (dom0's restarts take a third of
# that): every pass writes 16 MiB of random blocks and reads them back with
# checksums
restart_io() {
	local n=0 end=$((SECONDS + ${LAB_RESTART_SECS:-75}))
	lab_mark restart-ready
	while [ "$SECONDS" -lt "$end" ]; do
		n=$((n + 1))
		fio --name=restart --filename=/dev/xvdb --direct=1 --ioengine=libaio --iodepth=16 \
			--rw=randwrite --bsrange=4k-128k --size=16M --verify=crc32c --verify_fatal=1 \
			--do_verify=1 --output-format=terse --terse-version=3 >/run/lab/restart-fio.out 2>&1 || {
			echo "fio verify pass $n failed:"
			tail -n 20 /run/lab/restart-fio.out
			return 1
		}
	done
	echo "$n fio verify passes on xvdb, all verified"
	dmesg | grep -E 'blkfront|vbd' | tail -n 10
	return 0
}

restart_checks() {
	if [ -n "$BAD_DISKS" ]; then
		lab_mark restart-ready
		lab_step_skip guest.restart-io "not run:$BAD_DISKS failed the built-in checks"
		lab_mark restart-done
		return
	fi
	lab_step guest.restart-io $((${LAB_RESTART_SECS:-75} + 300)) restart_io
	lab_mark restart-done
}

run_user_script() {
	local line
	bash /lab/user/guest-script 2>&1 </dev/null | while IFS= read -r line; do
		lab_out guest-script "$line"
		printf '%s\n' "$line"
	done
	return "${PIPESTATUS[0]}"
}

# demo --interactive: a shell on the console once the checks are done
interactive_shell() {
	kill "$RESPONDER" 2>/dev/null
	echo "pvsplit lab guest: disks $PVSPLIT_DISKS (exit the shell or press Ctrl-] to leave)"
	while :; do setsid -c bash -i </dev/"$LAB_CONSOLE" >/dev/"$LAB_CONSOLE" 2>&1; done
}

# HVM: the emulated disk that is not the guest root stage 1 unpacked (the
# SCSI layer names them in probe order, which varies); none within 60 s, or
# no record of the root: fail rather than measure the root's disk
hvm_bench_disk() {
	local root i d
	root=$(cat /lab-root-disk 2>/dev/null) && [ -n "$root" ] ||
		{ echo "stage 1 left no /lab-root-disk"; return 1; }
	for i in $(seq 300); do
		for d in /sys/block/sd*; do
			[ -e "$d" ] && [ "${d##*/}" != "$root" ] && { echo "/dev/${d##*/}" >/run/lab/bench-disk; return 0; }
		done
		sleep 0.2
	done
	echo "no emulated disk besides the guest root ($root) after 60 s"
	return 1
}

bench_main() {
	local disk=/dev/xvda
	lab_mark ready
	if [ "$LAB_CONSOLE" != hvc0 ]; then
		lab_step guest.bench-disk 90 hvm_bench_disk || { lab_mark guest-done; return; }
		disk=$(cat /run/lab/bench-disk)
	fi
	lab_step guest.disks 90 wait_block "$disk" 1 60 &&
		lab_step guest.throughput $((LAB_FIO_SECS * 5 + 300)) throughput "$disk"
	lab_mark guest-done
}

main() {
	console_responder &
	RESPONDER=$!
	lab_mark ready
	disk_checks
	lab_mark checks-done
	hotplug_checks
	[ "$LAB_BACKEND" = pvsplit ] && restart_checks
	if [ -f /lab/user/guest-script ] && [ -n "$BAD_DISKS" ]; then
		lab_step_skip guest.script "not run:$BAD_DISKS failed the built-in checks"
	elif [ -f /lab/user/guest-script ]; then
		lab_step guest.script "$LAB_T_GUEST_SCRIPT" run_user_script
	fi
	lab_mark guest-done
	[ "${LAB_INTERACTIVE:-0}" = 1 ] && interactive_shell
}

if [ "${LAB_BENCH:-0}" = 1 ]; then bench_main; else main; fi
