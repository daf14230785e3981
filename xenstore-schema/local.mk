# SPDX-License-Identifier: GPL-2.0-or-later
# libpvsplit-schema: the xenstore layout of vbd, vif and console as data
# (xenstore-schema/data/*.json, see xenstore-schema/README.md) and the library
# that reads it, builds and parses paths, validates values and checks trees.
lib_LTLIBRARIES += libpvsplit-schema.la
libpvsplit_schema_la_SOURCES = \
	xenstore-schema/internal.h \
	xenstore-schema/schema.c \
	xenstore-schema/value.c \
	xenstore-schema/path.c \
	xenstore-schema/check.c
libpvsplit_schema_la_CPPFLAGS = $(AM_CPPFLAGS) -DPVS_SCHEMA_INSTALL_DIR='"$(schemadir)"'
libpvsplit_schema_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
libpvsplit_schema_la_LIBADD = $(JSONC_LIBS)
libpvsplit_schema_la_LDFLAGS = -version-info 0:0:0 \
	-Wl,--version-script=$(top_srcdir)/xenstore-schema/libpvsplit-schema.map
EXTRA_libpvsplit_schema_la_DEPENDENCIES = xenstore-schema/libpvsplit-schema.map
pkginclude_HEADERS += xenstore-schema/include/pvsplit/schema.h

# The schema files, installed where pvs_schema_load(NULL) looks for them.
schemadir = $(pkgdatadir)/xenstore-schema
dist_schema_DATA = \
	xenstore-schema/data/vbd.json \
	xenstore-schema/data/vif.json \
	xenstore-schema/data/console.json

EXTRA_DIST += xenstore-schema/libpvsplit-schema.map xenstore-schema/README.md
dist_man_MANS += man/pvsplit-xs-check.1

# libFuzzer target for the loader, lookups, paths and the checker: only in a
# build configured with CC=clang --enable-fuzz (instrumentation from CFLAGS,
# as tests/fuzz/run does).
if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_schema
tests_fuzz_fuzz_schema_SOURCES = tests/fuzz/fuzz_schema.c
tests_fuzz_fuzz_schema_CPPFLAGS = $(AM_CPPFLAGS) \
	-DPVS_FUZZ_SCHEMA_DIR='"$(abs_top_srcdir)/xenstore-schema/data"'
tests_fuzz_fuzz_schema_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_schema_LDADD = libpvsplit-schema.la
endif
