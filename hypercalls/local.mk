# SPDX-License-Identifier: GPL-2.0-or-later
# libpvsplit-hv: the one door to Xen (providers: xen, sim).
lib_LTLIBRARIES += libpvsplit-hv.la
libpvsplit_hv_la_SOURCES = \
	hypercalls/core.c \
	hypercalls/hv_private.h \
	hypercalls/xen.c \
	hypercalls/sim.c \
	hypercalls/sim/proto.h
libpvsplit_hv_la_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS) $(XENEVTCHN_CFLAGS) \
	$(XENGNTTAB_CFLAGS) $(XENFOREIGNMEMORY_CFLAGS) $(XENCTRL_CFLAGS)
libpvsplit_hv_la_LIBADD = $(XENSTORE_LIBS) $(XENEVTCHN_LIBS) $(XENGNTTAB_LIBS) \
	$(XENFOREIGNMEMORY_LIBS)
libpvsplit_hv_la_LDFLAGS = -version-info 0:0:0 \
	-Wl,--version-script=$(top_srcdir)/hypercalls/libpvsplit-hv.map
EXTRA_libpvsplit_hv_la_DEPENDENCIES = hypercalls/libpvsplit-hv.map
EXTRA_DIST += hypercalls/libpvsplit-hv.map
pkginclude_HEADERS += hypercalls/include/pvsplit/hv.h hypercalls/include/pvsplit/hv-sim.h

# The loopback hypervisor: hvd (domains, grants, event channels), xsd
# (xenstore), the event loop; linked into the daemon, the tests and fuzzers.
noinst_LTLIBRARIES += libpvsplit-simd.la
libpvsplit_simd_la_SOURCES = \
	hypercalls/sim/hvd.c \
	hypercalls/sim/hvd.h \
	hypercalls/sim/server.c \
	hypercalls/sim/server.h \
	hypercalls/sim/xenstore/xsd.h \
	hypercalls/sim/xenstore/xsd_private.h \
	hypercalls/sim/xenstore/map.c \
	hypercalls/sim/xenstore/store.c \
	hypercalls/sim/xenstore/watch.c \
	hypercalls/sim/xenstore/txn.c \
	hypercalls/sim/xenstore/wire.c \
	hypercalls/sim/xenstore/core.c
libpvsplit_simd_la_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS)

sbin_PROGRAMS += hypercalls/sim/pvsplit-simhv
hypercalls_sim_pvsplit_simhv_SOURCES = hypercalls/sim/simhv.c
hypercalls_sim_pvsplit_simhv_CFLAGS = $(AM_CFLAGS) $(LIBSYSTEMD_CFLAGS)
hypercalls_sim_pvsplit_simhv_LDADD = libpvsplit-simd.la $(LIBSYSTEMD_LIBS)
dist_man_MANS += man/pvsplit-simhv.8
