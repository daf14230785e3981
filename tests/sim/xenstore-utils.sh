#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Sim tier: Debian's xenstore-utils, unmodified, against the sim's xenstore.
set -u
builddir=${PVSPLIT_BUILDDIR:-.}
simhv=$builddir/hypercalls/sim/pvsplit-simhv
command -v xenstore-read >/dev/null || { echo "xenstore-utils not installed"; exit 99; }

dir=$(mktemp -d /tmp/pvsplit-xsu.XXXXXX)
fails=0
coproc SIM { exec "$simhv" --dir "$dir" --domains 0,1,2 --mem 16; }
read -r -t 10 line <&"${SIM[0]}" || { echo "simhv did not start"; exit 1; }
trap 'kill $SIM_PID 2>/dev/null; wait $SIM_PID 2>/dev/null; rm -rf "$dir"' EXIT

as() { local d=$1; shift; XENSTORED_PATH=$dir/dom$d/xenstored.sock "$@"; }
check() { # name expected actual
	if [ "$2" == "$3" ]; then echo "ok: $1"; else
		echo "FAIL: $1"; echo "  expected: $(printf %q "$2")"; echo "  actual:   $(printf %q "$3")"
		fails=$((fails + 1)); fi
}

as 0 xenstore-write /vm/a 1 /vm/b "two words"
check "write+read" "two words" "$(as 0 xenstore-read /vm/b)"
check "list" "$(printf 'a\nb')" "$(as 0 xenstore-list /vm)"
as 0 xenstore-exists /vm/a; check "exists" 0 $?
as 0 xenstore-exists /vm/zz; check "exists absent" 1 $?
check "ls" "$(printf 'a = "1"\nb = "two words"')" "$(as 0 xenstore-ls /vm)"
as 1 xenstore-read /vm/a >/dev/null 2>&1; check "domU denied" 1 $?
as 0 xenstore-chmod /vm/a n0 r1
check "chmod grants read" 1 "$(as 1 xenstore-read /vm/a)"
check "ls -p shows perms" 'a = "1" (n0,r1)' \
	"$(as 0 xenstore-ls -p /vm | head -1 | sed 's/  [ .]*(/ (/')"
as 1 xenstore-write /vm/a 2 2>/dev/null; check "read-only for domU" 1 $?
check "domU reads its domid (libxl home)" 1 "$(as 1 xenstore-read domid)"
check "home perms" "n0,r1" "$(as 0 xenstore-ls -p /local/domain | sed -n 's/^1 = "" *[ .]*(\(.*\))$/\1/p')"
as 1 xenstore-write data/vbd/51712/state 1; check "domU writes its data/" 0 $?
as 1 xenstore-write device/vbd/51712/state 1 2>/dev/null; check "device/ is the toolstack's" 1 $?
check "relative read" 1 "$(as 1 xenstore-read data/vbd/51712/state)"
check "absolute by dom0" 1 "$(as 0 xenstore-read /local/domain/1/data/vbd/51712/state)"
as 2 xenstore-read /local/domain/1/data/vbd/51712/state >/dev/null 2>&1
check "sibling denied" 1 $?
as 0 xenstore-chmod -r /vm n0 b2
check "chmod -r" "$(printf 'n0\nb2')" "$(as 0 xenstore-ls -p /vm | sed -n 's/.*(\(.*\))$/\1/p' | sort -u | tr , '\n')"

# Watches: initial event, then changes below, in order.
as 0 timeout 5 xenstore-watch -n 3 /vm/w > "$dir/watch.out" 2>&1 &
wpid=$!
sleep 0.3
as 0 xenstore-write /vm/w/x 1
as 0 xenstore-rm /vm/w
wait $wpid
check "watch" "$(printf '/vm/w\n/vm/w/x\n/vm/w')" "$(cat "$dir/watch.out")"

as 0 xenstore-rm /vm
as 0 xenstore-exists /vm; check "rm subtree" 1 $?

echo "xenstore-utils: $fails failed"
[ $fails -eq 0 ]
