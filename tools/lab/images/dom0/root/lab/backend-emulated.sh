# SPDX-License-Identifier: GPL-2.0-or-later
# The emulated disk for pvsplit-lab bench: an HVM guest (no PV drivers,
# xen_platform_pci=0) whose disk is QEMU's emulated IDE, served by the
# device model xen-qemu-system-i386 that libxl starts in dom0 (from the
# dom0-hvm image layer).  Its console is the emulated serial port, logged to
# a file.  The outer QEMU must offer SVM with NPT (-cpu qemu64,+svm,+npt).
# Its initrd is the small guest-hvmboot image, which unpacks the guest root
# from the second IDE disk (root.tar): the firmware loads a big initrd far
# too slowly under TCG (8.5 min for 100 MiB).
GUEST_TYPE=hvm
HVM_SERIAL_LOG=/var/log/xen/lab-hvm-serial.log

backend_start() {
	[ -x /usr/libexec/xen-qemu-system-i386 ] || { echo "no device model (dom0-hvm layer)"; return 1; }
	grep -qE 'hvm|svm' /sys/hypervisor/properties/capabilities 2>/dev/null ||
		echo "note: Xen capabilities: $(cat /sys/hypervisor/properties/capabilities 2>/dev/null)"
	xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
}

# libxl adds a PV vbd beside the emulated disk; backendtype=qdisk lets the
# device model serve it (the guest, without platform PCI, never uses it)
backend_disk_spec() {
	printf '%s,raw,%s,rw,backendtype=qdisk' "$1" "${2/xvda/hda}"
}

backend_guest_cfg() {
	cat <<-CFG
		name = "$GUEST"
		type = "hvm"
		kernel = "$LAB_ROOT/guest/vmlinuz"
		ramdisk = "$LAB_ROOT/guest/initrd.cpio"
		cmdline = "console=ttyS0 lab.console=ttyS0 quiet loglevel=3"
		memory = $LAB_GUEST_MEM
		vcpus = 1
		$(guest_cpus_cfg)
		xen_platform_pci = 0
		serial = "file:$HVM_SERIAL_LOG"
		vga = "none"
		vnc = 0
		sdl = 0
		on_crash = "preserve"
		disk = [ '$(backend_disk_spec "$DISK_DIR/disk-file.img" xvda)',
		         '$LAB_ROOT/guest/root.tar,raw,hdb,rw,backendtype=qdisk' ]
	CFG
}

backend_console_log() {
	echo "$HVM_SERIAL_LOG"
}

backend_check_clean() {
	pgrep -f xen-qemu-system-i386 && { echo "device model still running"; return 1; }
	echo "no device model left"
}

backend_diagnostics() {
	tail -n 25 /var/log/xen/qemu-dm-"$GUEST".log 2>/dev/null
	tail -n 10 /var/log/xen/xl-"$GUEST".log 2>/dev/null
}
