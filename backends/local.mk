# SPDX-License-Identifier: GPL-2.0-or-later
# libpvsplit-back: the backend framework (event loop, xenbus state machine,
# rings, grant cache, event channels, control socket), and one engine per
# device type.  Internal libraries: the daemons in dom0/ link them.
noinst_LTLIBRARIES += libpvsplit-back.la
libpvsplit_back_la_SOURCES = \
	backends/core/backend.h \
	backends/core/barrier.h \
	backends/core/ctl.c \
	backends/core/ctl.h \
	backends/core/evtchn.c \
	backends/core/evtchn.h \
	backends/core/gntcache.c \
	backends/core/gntcache.h \
	backends/core/journal.c \
	backends/core/journal.h \
	backends/core/loop.c \
	backends/core/loop.h \
	backends/core/mapacct.h \
	backends/core/ring.c \
	backends/core/ring.h \
	backends/core/xenbus.c
libpvsplit_back_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
libpvsplit_back_la_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS) $(JSONC_CFLAGS) $(LIBURING_CFLAGS)
libpvsplit_back_la_LIBADD = libpvsplit-hv.la libpvsplit-schema.la $(XENSTORE_LIBS) $(JSONC_LIBS) \
	$(LIBURING_LIBS)

# blkif wire formats of the three ABIs (shared by the backend and the user
# frontend) and the rules a backend holds a request to (blkcheck.h).
noinst_LTLIBRARIES += libpvsplit-blkif.la
libpvsplit_blkif_la_SOURCES = backends/block/blkif.c backends/block/blkif.h \
	backends/block/blkcheck.c backends/block/blkcheck.h

# The vbd engine: backing stores, the io_uring dataplane, the control part.
noinst_LTLIBRARIES += libpvsplit-blk.la
libpvsplit_blk_la_SOURCES = \
	backends/block/buffers.c \
	backends/block/dataplane.c \
	backends/block/dataplane.h \
	backends/block/dpint.h \
	backends/block/store.c \
	backends/block/store.h \
	backends/block/vbd.c \
	backends/block/vbd.h
libpvsplit_blk_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
libpvsplit_blk_la_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS) $(JSONC_CFLAGS) $(LIBURING_CFLAGS)
libpvsplit_blk_la_LIBADD = libpvsplit-back.la libpvsplit-blkif.la $(LIBURING_LIBS)

# The console engine: one console's dataplane, the control part, the configuration.
noinst_LTLIBRARIES += libpvsplit-cons.la
libpvsplit_cons_la_SOURCES = \
	backends/console/cons.c \
	backends/console/cons.h \
	backends/console/consback.c \
	backends/console/consback.h \
	backends/console/config.c
libpvsplit_cons_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
libpvsplit_cons_la_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS) $(JSONC_CFLAGS)
libpvsplit_cons_la_LIBADD = libpvsplit-back.la
