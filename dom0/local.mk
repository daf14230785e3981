# SPDX-License-Identifier: GPL-2.0-or-later
# The daemons: thin mains over libpvsplit-back and its engines.
# What every daemon's main shares (logging, setup, control socket, run).
noinst_LTLIBRARIES += libpvsplit-daemon.la
libpvsplit_daemon_la_SOURCES = dom0/common/daemon.c dom0/common/daemon.h
libpvsplit_daemon_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
libpvsplit_daemon_la_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS) $(JSONC_CFLAGS) $(LIBSYSTEMD_CFLAGS)
libpvsplit_daemon_la_LIBADD = libpvsplit-back.la $(LIBSYSTEMD_LIBS) $(JSONC_LIBS)

sbin_PROGRAMS += dom0/blkback/pvsplit-blkback
dom0_blkback_pvsplit_blkback_SOURCES = dom0/blkback/main.c
dom0_blkback_pvsplit_blkback_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends \
	-I$(top_srcdir)/dom0
dom0_blkback_pvsplit_blkback_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS)
dom0_blkback_pvsplit_blkback_LDADD = libpvsplit-blk.la libpvsplit-daemon.la

sbin_PROGRAMS += dom0/consoled/pvsplit-consoled
dom0_consoled_pvsplit_consoled_SOURCES = dom0/consoled/main.c
dom0_consoled_pvsplit_consoled_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends \
	-I$(top_srcdir)/dom0
dom0_consoled_pvsplit_consoled_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS)
dom0_consoled_pvsplit_consoled_LDADD = libpvsplit-cons.la libpvsplit-daemon.la
dist_man_MANS += man/pvsplit-consoled.8

# The hotplug helper for disks served by pvsplit-blkback (script=...).
pkglibexec_PROGRAMS = dom0/hotplug/pvsplit-block-hotplug
dom0_hotplug_pvsplit_block_hotplug_SOURCES = dom0/hotplug/block.c
dom0_hotplug_pvsplit_block_hotplug_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS)
dom0_hotplug_pvsplit_block_hotplug_LDADD = libpvsplit-schema.la $(XENSTORE_LIBS)

dist_man_MANS += man/pvsplit-blkback.8
systemdunitdir = $(prefix)/lib/systemd/system
systemdunit_DATA = dom0/blkback/pvsplit-blkback.service
EXTRA_DIST += dom0/blkback/pvsplit-blkback.service.in
CLEANFILES += dom0/blkback/pvsplit-blkback.service
dom0/blkback/pvsplit-blkback.service: $(top_srcdir)/dom0/blkback/pvsplit-blkback.service.in
	$(AM_V_GEN)mkdir -p dom0/blkback && sed -e 's|@sbindir[@]|$(sbindir)|g' $< > $@
