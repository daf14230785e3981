# SPDX-License-Identifier: GPL-2.0-or-later
# The daemons: thin mains over libpvsplit-back and its engines.
sbin_PROGRAMS += dom0/blkback/pvsplit-blkback
dom0_blkback_pvsplit_blkback_SOURCES = dom0/blkback/main.c
dom0_blkback_pvsplit_blkback_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
dom0_blkback_pvsplit_blkback_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS) $(JSONC_CFLAGS) \
	$(LIBSYSTEMD_CFLAGS)
dom0_blkback_pvsplit_blkback_LDADD = libpvsplit-blk.la $(LIBSYSTEMD_LIBS) $(JSONC_LIBS)
