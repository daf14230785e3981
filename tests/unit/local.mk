# SPDX-License-Identifier: GPL-2.0-or-later
# Unit tier: one CUnit program per library; each appends to check_PROGRAMS and TESTS.
# Each links the shared runner, tests/unit/cunit_main.c (test_blkfront_core's
# rules are in domU-frontends/linux/local.mk).

# libpvsplit-schema against the real schema data.
check_PROGRAMS += tests/unit/test_schema
TESTS += tests/unit/test_schema
tests_unit_test_schema_SOURCES = tests/unit/test_schema.c tests/unit/cunit_main.c \
	tests/unit/cunit_main.h
tests_unit_test_schema_CPPFLAGS = $(AM_CPPFLAGS) \
	-DPVS_TEST_SCHEMA_DIR='"$(abs_top_srcdir)/xenstore-schema/data"'
tests_unit_test_schema_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_schema_LDADD = libpvsplit-schema.la $(CUNIT_LIBS)

# pvb_loop's busy polling (the adaptive window) against a producer thread.
check_PROGRAMS += tests/unit/test_loop
TESTS += tests/unit/test_loop
tests_unit_test_loop_SOURCES = tests/unit/test_loop.c tests/unit/cunit_main.c \
	tests/unit/cunit_main.h
tests_unit_test_loop_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
tests_unit_test_loop_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_loop_LDADD = libpvsplit-back.la $(CUNIT_LIBS) -lpthread

# pvsplit-blkback's request rules (backends/block/blkcheck.h), case by case.
check_PROGRAMS += tests/unit/test_blkcheck
TESTS += tests/unit/test_blkcheck
tests_unit_test_blkcheck_SOURCES = tests/unit/test_blkcheck.c tests/unit/cunit_main.c \
	tests/unit/cunit_main.h
tests_unit_test_blkcheck_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
tests_unit_test_blkcheck_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_blkcheck_LDADD = libpvsplit-blkif.la $(CUNIT_LIBS)

# pvsplit-consoled's configuration parser (file and command line), key by key.
check_PROGRAMS += tests/unit/test_consd_config
TESTS += tests/unit/test_consd_config
tests_unit_test_consd_config_SOURCES = tests/unit/test_consd_config.c tests/unit/cunit_main.c \
	tests/unit/cunit_main.h
tests_unit_test_consd_config_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
tests_unit_test_consd_config_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(XENSTORE_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_consd_config_LDADD = libpvsplit-cons.la $(CUNIT_LIBS)
