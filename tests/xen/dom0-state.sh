#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A dom0 script for the lab tier (pvsplit-lab run --dom0-script): runs in
# dom0 while the guest is up; shows the guest's vbd backends in xenstore and
# checks each one is Connected (state 4).
set -euo pipefail
be=/local/domain/0/backend/vbd/$PVSPLIT_DOMID
xl list
for dev in $(xenstore-list "$be"); do
	state=$(xenstore-read "$be/$dev/state")
	echo "backend/vbd/$PVSPLIT_DOMID/$dev: state $state, params $(xenstore-read "$be/$dev/params")"
	[ "$state" = 4 ]
done
