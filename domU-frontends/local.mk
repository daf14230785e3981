# SPDX-License-Identifier: GPL-2.0-or-later
# libpvsplit-front: userspace frontends (block), for the sim tests and the
# benchmarks, and for real guests through gntalloc/evtchn/xenbus.
noinst_LTLIBRARIES += libpvsplit-front.la
libpvsplit_front_la_SOURCES = domU-frontends/user/blkfront.c domU-frontends/user/blkfront.h \
	domU-frontends/user/consfront.c domU-frontends/user/consfront.h
libpvsplit_front_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
libpvsplit_front_la_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS)
libpvsplit_front_la_LIBADD = libpvsplit-blkif.la libpvsplit-hv.la libpvsplit-schema.la $(XENSTORE_LIBS)
