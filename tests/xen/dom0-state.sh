#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A dom0 script for the lab tier (pvsplit-lab run --dom0-script): runs in
# dom0 while the guest is up; shows the guest's vbd backends in xenstore and
# checks each one is Connected (state 4).  A pvsplit-blkback started with
# --map-min must have mapped grants for single requests (its stats'
# grants.mapped_once), and must not offer persistent grants with
# --no-persistent; one with --max-mapped-total must have kept its grant
# mappings within it and grant-copied requests past it.
set -euo pipefail
be=/local/domain/0/backend/vbd/$PVSPLIT_DOMID
xl list
for dev in $(xenstore-list "$be"); do
	state=$(xenstore-read "$be/$dev/state")
	echo "backend/vbd/$PVSPLIT_DOMID/$dev: state $state, params $(xenstore-read "$be/$dev/params")," \
		"feature-persistent $(xenstore-read "$be/$dev/feature-persistent" 2>/dev/null || echo -)"
	[ "$state" = 4 ]
done
pid=$(pidof pvsplit-blkback 2>/dev/null || true)
[ -n "$pid" ] || exit 0
args=$(tr '\0' ' ' <"/proc/${pid%% *}/cmdline")
echo "pvsplit-blkback: $args"
case " $args " in *" --no-persistent "*)
	for dev in $(xenstore-list "$be"); do
		[ "$(xenstore-read "$be/$dev/feature-persistent")" = 0 ]
	done
	;;
esac
# the daemon's own control socket (--host-mode gives it one of the run's)
sock=$(echo "$args" | sed -n 's/.*--ctl \([^ ]*\).*/\1/p')
case " $args " in *" --map-min "*)
	# the largest per-queue count of the lab's devices
	mapped=$(pvsplit stats --json ${sock:+--socket "$sock"} | grep -o '"mapped_once": *[0-9]*' | grep -o '[0-9]*$' | sort -n | tail -n 1)
	echo "grants mapped for one request (most on one queue): ${mapped:-none}"
	[ "${mapped:-0}" -gt 0 ]
	;;
esac
case " $args " in *" --max-mapped-total "*)
	# The daemon's grant mappings stayed within the bound, and requests past it
	# were grant-copied (the run's bound is below the guest's working set).
	limit=$(echo "$args" | sed -n 's/.*--max-mapped-total \([0-9]*\).*/\1/p')
	pvsplit stats --json ${sock:+--socket "$sock"} >/tmp/stats.json
	peak=$(grep -o '"peak": *[0-9]*' /tmp/stats.json | grep -o '[0-9]*$' | sort -n | tail -n 1)
	copied=$(grep -o '"copied_for_room": *[0-9]*' /tmp/stats.json | grep -o '[0-9]*$' |
		awk '{ s += $1 } END { print s + 0 }')
	echo "grant mappings: peak ${peak:-none} of $limit; requests grant-copied past it: $copied"
	[ -n "$peak" ] && [ "$peak" -le "$limit" ] && [ "$peak" -gt 0 ]
	[ "$copied" -gt 0 ]
	;;
esac
# What each restart took over from the ring journals (the restarts under
# I/O: SIGKILL, SIGTERM, SIGKILL): shown, not checked (an idle ring has
# nothing to redo).
log=${PVSPLIT_LOG_DIR:-/var/log/pvsplit-lab}/pvsplit-blkback.log
if [ -r "$log" ]; then
	echo "ring journals taken over:"
	grep -E "resumed from the journal" "$log" | sed 's/^/  /' || echo "  none"
fi
