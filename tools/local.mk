# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers shared by tools, benchmarks and sim-tier tests.
noinst_LTLIBRARIES += libpvsplit-tools.la
libpvsplit_tools_la_SOURCES = tools/lib/simrun.c tools/lib/simrun.h \
	tools/lib/toolstack.c tools/lib/toolstack.h
libpvsplit_tools_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tools/lib
libpvsplit_tools_la_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS)
libpvsplit_tools_la_LIBADD = libpvsplit-hv.la libpvsplit-schema.la $(XENSTORE_LIBS)

# pvsplit: the command line tool (one file per subcommand).
bin_PROGRAMS += tools/pvsplit/pvsplit
tools_pvsplit_pvsplit_SOURCES = \
	tools/pvsplit/main.c \
	tools/pvsplit/commands.h \
	tools/pvsplit/xs_check.c \
	tools/pvsplit/stats.c
tools_pvsplit_pvsplit_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS) $(JSONC_CFLAGS)
tools_pvsplit_pvsplit_LDADD = libpvsplit-schema.la libpvsplit-hv.la $(XENSTORE_LIBS) $(JSONC_LIBS)
dist_man_MANS += man/pvsplit.1 man/pvsplit-stats.1

# pvsplit-bench: benchmarks printing tables and JSON.
bin_PROGRAMS += tools/bench/pvsplit-bench
tools_bench_pvsplit_bench_SOURCES = \
	tools/bench/pvsplit-bench.c \
	tools/bench/bench.h \
	tools/bench/bench_hv.c \
	tools/bench/bench_block.c \
	tools/bench/bench_console.c
tools_bench_pvsplit_bench_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tools/lib \
	-I$(top_srcdir)/domU-frontends/user -I$(top_srcdir)/backends \
	-DBENCH_INSTALLED_SCHEMA='"$(schemadir)"' \
	-DBENCH_SOURCE_SCHEMA='"$(abs_top_srcdir)/xenstore-schema/data"'
tools_bench_pvsplit_bench_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(XENSTORE_CFLAGS) $(LIBURING_CFLAGS)
tools_bench_pvsplit_bench_LDADD = libpvsplit-front.la libpvsplit-tools.la libpvsplit-hv.la \
	libpvsplit-schema.la $(JSONC_LIBS) $(XENSTORE_LIBS) $(LIBURING_LIBS)
dist_man_MANS += man/pvsplit-bench.1
