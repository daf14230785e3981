#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Smoke check of the pvsplit-blkfront module on the host (no Xen needed):
# build it out of tree with W=1 in a scratch copy (no warnings allowed),
# then check that modinfo shows the description, the licence, the four
# parameters and a vermagic for the kernel it was built against.
#
#   check-module.sh            build against $KDIR, or the newest
#                              /usr/src/linux-headers-*-amd64
#   check-module.sh FILE.ko    only check an already built module
#
# Exit 77 (skip) when there are no kernel headers to build against.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "check-module: FAIL: $*" >&2; exit 1; }

find_kdir() {
	if [ -n "${KDIR:-}" ]; then
		[ -f "$KDIR/Makefile" ] && echo "$KDIR"
		return 0
	fi
	for d in $(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V -r); do
		[ -f "$d/Makefile" ] && { echo "$d"; return 0; }
	done
	return 0
}

kdir=$(find_kdir)
rel=
if [ $# -ge 1 ]; then
	ko=$1
	[ -f "$ko" ] || fail "$ko: no such module"
else
	if [ -z "$kdir" ]; then
		echo "check-module: SKIP: no kernel headers (apt-get install linux-headers-<abi>-amd64, or set KDIR)"
		exit 77
	fi
	command -v make >/dev/null || { echo "check-module: SKIP: no make"; exit 77; }
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	cp -r "$here/Kbuild" "$here/blkfront" "$tmp/"
	chmod -R u+w "$tmp"
	rm -f "$tmp"/blkfront/*.o "$tmp"/blkfront/.*.cmd
	# a make of its own, not a job of the caller's (make check)
	if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make -s -C "$kdir" M="$tmp" W=1 modules >"$tmp/build.log" 2>&1; then
		cat "$tmp/build.log" >&2
		fail "the module does not build against $kdir"
	fi
	# compiler and modpost warnings ("Skipping BTF generation" is not one)
	if grep -E 'warning:|error:|WARNING:' "$tmp/build.log" | grep -v '^make' >&2; then
		fail "build warnings (W=1) against $kdir"
	fi
	ko=$tmp/pvsplit-blkfront.ko
	[ -f "$ko" ] || fail "no pvsplit-blkfront.ko after the build"
	echo "check-module: built $(basename "$ko") against $kdir with W=1: no warnings"
fi

# modinfo, or the .modinfo section itself when kmod is not installed
if command -v modinfo >/dev/null 2>&1; then
	info=$(modinfo "$ko")
	get() { modinfo -F "$1" "$ko"; }
elif command -v objcopy >/dev/null 2>&1; then
	sect=$(objcopy -O binary --only-section=.modinfo "$ko" /dev/stdout | tr '\0' '\n')
	info=$sect
	get() { echo "$sect" | sed -n "s/^$1=//p"; }
else
	echo "check-module: SKIP: neither modinfo (kmod) nor objcopy (binutils)"
	exit 77
fi

[ "$(get name)" = pvsplit_blkfront ] || fail "module name is '$(get name)'"
[ "$(get license)" = GPL ] || fail "licence is '$(get license)'"
get description | grep -q 'block device frontend' || fail "no description"
for p in max_queues max_indirect_segments max_ring_page_order feature_persistent; do
	echo "$info" | grep -Eq "^parm(:[[:space:]]*|=)$p:" || fail "parameter $p is missing"
done
uts=$kdir/include/generated/utsrelease.h
if [ -n "$kdir" ] && [ -f "$uts" ]; then
	rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$uts")
	get vermagic | grep -q "^$rel " || fail "vermagic '$(get vermagic)' is not for $rel"
fi
echo "check-module: modinfo shows name, licence GPL, description, the 4 parameters${rel:+, vermagic $rel}"
