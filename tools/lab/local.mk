# SPDX-License-Identifier: GPL-2.0-or-later
# The lab (real Xen in QEMU): pvsplit-lab(1).  The program is Python 3
# (standard library only) and finds its data beside itself in a checkout or
# in $(pkgdatadir)/lab once installed.  Own directory variables, so nothing
# here depends on Makefile.am defining bin_SCRIPTS.
labbindir = $(bindir)
dist_labbin_SCRIPTS = tools/lab/pvsplit-lab

labpydir = $(pkgdatadir)/lab/pvlab
dist_labpy_DATA = \
	tools/lab/pvlab/__init__.py \
	tools/lab/pvlab/bench.py \
	tools/lab/pvlab/cli.py \
	tools/lab/pvlab/cpio.py \
	tools/lab/pvlab/debs.py \
	tools/lab/pvlab/elf.py \
	tools/lab/pvlab/images.py \
	tools/lab/pvlab/kmod.py \
	tools/lab/pvlab/machine.py \
	tools/lab/pvlab/hostload.py tools/lab/pvlab/monitor.py \
	tools/lab/pvlab/overlay.py \
	tools/lab/pvlab/stage.py \
	tools/lab/pvlab/ui.py

# image recipes and the files laid into the images (modes are set when packed)
labcommondir = $(pkgdatadir)/lab/images/common/root/lab
dist_labcommon_DATA = tools/lab/images/common/root/lab/lab-lib.sh
labdom0dir = $(pkgdatadir)/lab/images/dom0
dist_labdom0_DATA = tools/lab/images/dom0/recipe
labdom0rootdir = $(pkgdatadir)/lab/images/dom0/root
dist_labdom0root_DATA = tools/lab/images/dom0/root/init
labdom0labdir = $(pkgdatadir)/lab/images/dom0/root/lab
dist_labdom0lab_DATA = \
	tools/lab/images/dom0/root/lab/as-host.sh \
	tools/lab/images/dom0/root/lab/backend-emulated.sh \
	tools/lab/images/dom0/root/lab/backend-kernel.sh \
	tools/lab/images/dom0/root/lab/backend-pvsplit.sh \
	tools/lab/images/dom0/root/lab/dom0-main.sh \
	tools/lab/images/dom0/root/lab/dom0-services.sh
labguestdir = $(pkgdatadir)/lab/images/guest
dist_labguest_DATA = tools/lab/images/guest/recipe
labguestrootdir = $(pkgdatadir)/lab/images/guest/root
dist_labguestroot_DATA = tools/lab/images/guest/root/init
labguestlabdir = $(pkgdatadir)/lab/images/guest/root/lab
dist_labguestlab_DATA = tools/lab/images/guest/root/lab/guest-main.sh
# pvsplit-lab bench only: the device model layer and the HVM guest's stage 1
labdom0hvmdir = $(pkgdatadir)/lab/images/dom0-hvm
dist_labdom0hvm_DATA = tools/lab/images/dom0-hvm/recipe
labdom0perfdir = $(pkgdatadir)/lab/images/dom0-perf
dist_labdom0perf_DATA = tools/lab/images/dom0-perf/recipe
labhvmbootdir = $(pkgdatadir)/lab/images/guest-hvmboot
dist_labhvmboot_DATA = tools/lab/images/guest-hvmboot/recipe
labhvmbootrootdir = $(pkgdatadir)/lab/images/guest-hvmboot/root
dist_labhvmbootroot_DATA = tools/lab/images/guest-hvmboot/root/init

dist_man_MANS += man/pvsplit-lab.1

# the xen tier: tests/xen/lab-run.sh (tests/run-tiers runs it, not make
# check); the lab's own pieces without Xen are checked by make check
TESTS += tests/xen/lab-selftest.py
EXTRA_DIST += tests/xen/lab-run.sh tests/xen/guest-disks.sh tests/xen/dom0-state.sh \
	tests/xen/lab-selftest.py
