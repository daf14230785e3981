# SPDX-License-Identifier: GPL-2.0-or-later
"""pvsplit-lab: Xen 4.17 in QEMU built from Debian packages (see pvsplit-lab(1))."""
