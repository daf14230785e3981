# SPDX-License-Identifier: GPL-2.0-or-later
# The daemons: thin mains over libpvsplit-back and its engines.
sbin_PROGRAMS += dom0/blkback/pvsplit-blkback
dom0_blkback_pvsplit_blkback_SOURCES = dom0/blkback/main.c
dom0_blkback_pvsplit_blkback_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
dom0_blkback_pvsplit_blkback_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS) $(JSONC_CFLAGS) \
	$(LIBSYSTEMD_CFLAGS)
dom0_blkback_pvsplit_blkback_LDADD = libpvsplit-blk.la $(LIBSYSTEMD_LIBS) $(JSONC_LIBS)

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
