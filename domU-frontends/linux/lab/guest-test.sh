# SPDX-License-Identifier: GPL-2.0-only
# pvsplit-blkfront's own checks in a lab guest, the guest script of the xen
# tier's `pvsplit-lab run --frontend pvsplit --guest-script` (bash, as root;
# uses the lab guest's busybox, e2fsprogs, fio, util-linux, sha256sum).  The
# module is at $PVB_KO (default: where pvsplit-lab puts it).  It also takes
# over from a running xen-blkfront (--frontend stock), as an operator would
# switch a guest:
#
#   1. the stock xen-blkfront is unloaded (the xenbus devices go Closed),
#      pvsplit-blkfront is loaded with non-default parameters and must take
#      over xvda and xvdb (a re-handshake with the running backend);
#   2. per disk: ext4 + files + sha256 after a remount + fsck, fio verify;
#      discard on xvdb when offered; fio throughput on xvda (MiB/s);
#   3. the module is unloaded and loaded again with the other parameter
#      sets of $PVB_LOADS (";"-separated, the first is used in 1; default:
#      multi-page rings and 64 indirect segments; the defaults; persistent
#      grants and indirect requests off): the files written in 2 must still
#      verify, fio verify and throughput are run again;
# (The backend restart under I/O is one of the lab's built-in steps.)
set -u
: "${PVB_KO:=/lab/pvsplit-blkfront.ko}"
: "${PVB_LOADS=max_ring_page_order=2 max_indirect_segments=64 max_queues=4;;feature_persistent=0 max_indirect_segments=0}"
PVB_PARAMS=${PVB_LOADS%%;*}
: "${PVB_FIO_SECS:=3}"
MNT=/mnt/pvb
failed=0
[ -f /lab/lab-lib.sh ] && . /lab/lab-lib.sh
metric() { declare -F lab_metric >/dev/null && lab_metric "$@"; return 0; }

say() { echo "pvb: $*"; }
ok() { say "PASS $*"; }
bad() { say "FAIL $*"; failed=$((failed + 1)); }

wait_dev() { # DEV 1|0 SECS
	local i
	for i in $(seq $(($3 * 5))); do
		if [ -b "$1" ]; then [ "$2" = 1 ] && return 0; else [ "$2" = 0 ] && return 0; fi
		sleep 0.2
	done
	return 1
}

loaded() { grep -q "^$1 " /proc/modules; }

# xenbus holds a reference on a driver's module per bound device: unbind
# them through sysfs before rmmod
unbind_all() { # DRIVER
	local d=/sys/bus/xen/drivers/$1 dev
	[ -d "$d" ] || return 0
	for dev in "$d"/vbd-*; do
		[ -e "$dev" ] || continue
		echo "${dev##*/}" >"$d/unbind" || return 1
	done
}

load() { # PARAMS...
	insmod "$PVB_KO" "$@" || return 1
	wait_dev /dev/xvda 1 60 && wait_dev /dev/xvdb 1 60 || {
		dmesg | tail -n 30
		return 1
	}
	sleep 0.5
	dmesg | grep -E 'pvsplit|vbd-' | tail -n 6
}

unload() {
	unbind_all pvsplit-blkfront || return 1
	rmmod pvsplit_blkfront || return 1
	wait_dev /dev/xvda 0 30 && wait_dev /dev/xvdb 0 30
}

show_queue() { # DISK
	local q=/sys/block/$1/queue
	say "$1: $(cat /sys/block/$1/size) sectors, blocks $(cat $q/logical_block_size)/$(cat $q/physical_block_size)," \
		"max_hw_sectors_kb $(cat $q/max_hw_sectors_kb), hw queues $(ls /sys/block/$1/mq | wc -l)," \
		"write cache '$(cat $q/write_cache)', fua $(cat $q/fua 2>/dev/null), discard_max_bytes $(cat $q/discard_max_bytes)," \
		"ro $(cat /sys/block/$1/ro)"
}

fs_write() { # DEV TAG
	mkdir -p "$MNT"
	mkfs.ext4 -q -F "$1" || return 1
	mount -t ext4 "$1" "$MNT" || return 1
	local i
	for i in 1 2 3; do head -c $((i * 1024 * 1024 + 4096 * i + 512)) /dev/urandom >"$MNT/f$i" || return 1; done
	sync
	(cd "$MNT" && sha256sum f1 f2 f3) >"/run/pvb-sums-$2" || return 1
	umount "$MNT"
}

fs_verify() { # DEV TAG
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 "$1" "$MNT" || return 1
	(cd "$MNT" && sha256sum -c "/run/pvb-sums-$2") || { umount "$MNT"; return 1; }
	umount "$MNT" || return 1
	e2fsck -fn "$1" >/dev/null
}

fio_verify() { # DEV SIZE
	fio --name=pvbverify --filename="$1" --direct=1 --ioengine=libaio --iodepth=16 \
		--rw=randwrite --bsrange=4k-256k --size="$2" --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --output-format=terse --terse-version=3 >/dev/null
}

irqs() { # DISK: interrupts of its rings so far
	awk -v d="$1" '$NF ~ "^"d"-q" { for (i = 2; i < NF; i++) if ($i ~ /^[0-9]+$/) n += $i } END { print n + 0 }' /proc/interrupts
}

fio_rate() { # NAME DEV RW BS DEPTH
	local out field bw i0 s0 n0 ios secs
	i0=$(irqs "${2##*/}")
	read -r n0 _ s0 _ _ _ _ _ _ _ _ <"/sys/block/${2##*/}/stat"
	[ "${3#*write}" != "$3" ] && read -r _ _ _ _ n0 _ s0 _ _ _ _ <"/sys/block/${2##*/}/stat"
	out=$(fio --name="$1" --filename="$2" --direct=1 --ioengine=libaio --rw="$3" \
		--bs="$4" --iodepth="$5" --size=64M --runtime="$PVB_FIO_SECS" --time_based \
		--output-format=terse --terse-version=3) || return 1
	case $3 in *write) field=48 ;; *) field=7 ;; esac
	bw=$(echo "$out" | awk -F';' -v f=$field '{ printf "%.1f", $f / 1024 }')
	if [ "${3#*write}" != "$3" ]; then
		read -r _ _ _ _ ios _ secs _ _ _ _ <"/sys/block/${2##*/}/stat"
	else
		read -r ios _ secs _ _ _ _ _ _ _ _ <"/sys/block/${2##*/}/stat"
	fi
	ios=$((ios - n0))
	say "throughput $1 ($PVB_CONFIG): $bw MiB/s; $ios requests of $(((secs - s0) / (ios ? ios : 1) / 2)) KiB on average, $(($(irqs "${2##*/}") - i0)) interrupts"
	metric "disk.blkfront.$PVB_CONFIG.$1.mib_s" "$bw" MiB/s
}

throughput() {
	fio_rate seqread_1m /dev/xvda read 1M 8 || bad "fio seqread"
	fio_rate seqwrite_1m /dev/xvda write 1M 8 || bad "fio seqwrite"
	fio_rate randread_4k_qd32 /dev/xvda randread 4k 32 || bad "fio randread"
	# the fio jobs overwrote xvda: write its files again
	fs_write /dev/xvda xvda && fs_verify /dev/xvda xvda || bad "xvda: ext4 after fio"
}

# ---- 1: take over from xen-blkfront ----
if loaded xen_blkfront; then
	unbind_all vbd && wait_dev /dev/xvda 0 30 && wait_dev /dev/xvdb 0 30 &&
		rmmod xen_blkfront && ok "xen-blkfront unbound and unloaded" ||
		bad "unbinding and unloading xen-blkfront"
fi
loaded pvsplit_blkfront && { unload || bad "unloading an earlier pvsplit-blkfront"; }
wait_dev /dev/xvda 0 30 || bad "xvda still present after unloading xen-blkfront"
# shellcheck disable=SC2086
if load $PVB_PARAMS; then ok "insmod with $PVB_PARAMS: xvda and xvdb appeared"; else
	bad "insmod with $PVB_PARAMS"
	exit 1
fi
show_queue xvda
show_queue xvdb

# ---- 2: data ----
for d in xvda xvdb; do
	if fs_write /dev/$d $d && fs_verify /dev/$d $d; then ok "$d: ext4, files, sha256 after remount, fsck"; else
		bad "$d: ext4 check"
	fi
done
if fio_verify /dev/xvdb 24M; then ok "xvdb: fio verify (crc32c, 4k-256k)"; else bad "xvdb: fio verify"; fi
if fs_write /dev/xvdb xvdb && fs_verify /dev/xvdb xvdb; then ok "xvdb: ext4 again"; else bad "xvdb: ext4 again"; fi
if [ "$(cat /sys/block/xvdb/queue/discard_max_bytes)" != 0 ]; then
	if blkdiscard -o 0 -l 1048576 /dev/xvdb 2>/dev/null || blkdiscard -o 0 -l 1048576 -f /dev/xvdb; then
		ok "xvdb: discard 1 MiB"
		fs_write /dev/xvdb xvdb && fs_verify /dev/xvdb xvdb || bad "xvdb: ext4 after discard"
	else
		bad "xvdb: discard"
	fi
else
	say "xvdb: no discard offered"
fi
PVB_CONFIG=$(echo "${PVB_PARAMS:-defaults}" | tr ' =' '_-') throughput

# ---- 3: reload: defaults, then persistent grants off ----
loads=()
if [ "$PVB_LOADS" != "${PVB_LOADS#*;}" ]; then
	rest="${PVB_LOADS#*;};"
	while [ -n "$rest" ]; do
		loads+=("${rest%%;*}")
		rest=${rest#*;}
	done
fi
for params in "${loads[@]}"; do
	PVB_CONFIG=$(echo "${params:-defaults}" | tr ' =' '_-')
	if unload; then ok "rmmod pvsplit_blkfront"; else bad "rmmod pvsplit_blkfront"; break; fi
	# shellcheck disable=SC2086
	if load $params; then ok "insmod ${params:-(defaults)}"; else bad "insmod ${params:-(defaults)}"; break; fi
	show_queue xvda
	for d in xvda xvdb; do
		if fs_verify /dev/$d $d; then ok "$d: files written before the reload verify"; else
			bad "$d: files after the reload"
		fi
	done
	if fio_verify /dev/xvdb 8M; then ok "xvdb: fio verify"; else bad "xvdb: fio verify"; fi
	fs_write /dev/xvdb xvdb && fs_verify /dev/xvdb xvdb || bad "xvdb: ext4"
	PVB_CONFIG=$PVB_CONFIG throughput
done
if dmesg | grep -E 'pvsplit|vbd-' | grep -v 'module verification failed' |
	grep -Ei 'disabled|broke|fail|error'; then
	bad "errors in the kernel log"
fi

say "$failed failure(s)"
[ "$failed" -eq 0 ]
