# SPDX-License-Identifier: GPL-2.0-or-later
# What xencommons starts on a Xen host, for the image's dom0 (dom0-main.sh
# in QEMU, and as-host.sh making dom0 look like a real host).

start_xenstored() {
	xenstored --pid-file /run/xenstored.pid || return 1
	local i
	for i in $(seq 50); do
		xenstore-list / >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "xenstored did not answer"
	return 1
}

start_dom0_services() {
	lab_step xenfs 30 mount -t xenfs xenfs /proc/xen || return 1
	lab_step xenstored 60 start_xenstored || return 1
	lab_step xen-init-dom0 60 xen-init-dom0 || return 1
}
