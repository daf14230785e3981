# SPDX-License-Identifier: GPL-2.0-or-later
# The lab (real Xen in QEMU): see tools/lab/.
