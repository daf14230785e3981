# SPDX-License-Identifier: GPL-2.0-or-later
# Tests run by `make check`: the unit tier (CUnit, no processes) and the sim
# tier (real daemons over pvsplit-simhv).  tests/run-tiers runs these plus
# the fuzz smoke run, the style check and (when available) the xen tier.
TESTS_ENVIRONMENT = PVSPLIT_SCHEMA_DIR=$(abs_top_srcdir)/xenstore-schema/data \
	PVSPLIT_BUILDDIR=$(abs_top_builddir) PVSPLIT_SRCDIR=$(abs_top_srcdir)

include tests/unit/local.mk

# ---- unit tier: the loopback hypervisor's pieces ----
check_PROGRAMS += tests/unit/test_xsd tests/unit/test_hvd
TESTS += tests/unit/test_xsd tests/unit/test_hvd
tests_unit_test_xsd_SOURCES = tests/unit/test_xsd.c
tests_unit_test_xsd_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hypercalls/sim
tests_unit_test_xsd_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(XENSTORE_CFLAGS)
tests_unit_test_xsd_LDADD = libpvsplit-simd.la $(CUNIT_LIBS)
tests_unit_test_hvd_SOURCES = tests/unit/test_hvd.c
tests_unit_test_hvd_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hypercalls/sim
tests_unit_test_hvd_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
tests_unit_test_hvd_LDADD = libpvsplit-simd.la $(CUNIT_LIBS)

# Fuzz targets replayed on their corpus with any compiler (libFuzzer runs
# are in tests/run-tiers and tests/fuzz/run).
check_PROGRAMS += tests/fuzz/replay_xsd_wire
tests_fuzz_replay_xsd_wire_SOURCES = tests/fuzz/fuzz_xsd_wire.c tests/fuzz/replay.c
tests_fuzz_replay_xsd_wire_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hypercalls/sim
tests_fuzz_replay_xsd_wire_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS)
tests_fuzz_replay_xsd_wire_LDADD = libpvsplit-simd.la
TESTS += tests/fuzz/replay-xsd-wire.sh
check_PROGRAMS += tests/fuzz/replay_schema
tests_fuzz_replay_schema_SOURCES = tests/fuzz/fuzz_schema.c tests/fuzz/replay.c
tests_fuzz_replay_schema_CFLAGS = $(AM_CFLAGS)
tests_fuzz_replay_schema_LDADD = libpvsplit-schema.la
TESTS += tests/fuzz/replay-schema.sh
EXTRA_DIST += tests/fuzz/replay-xsd-wire.sh tests/fuzz/replay-schema.sh tests/fuzz/corpus \
	tests/fuzz/xsd_seeds.py tests/fuzz/run

# ---- sim tier ----
check_PROGRAMS += tests/sim/test_hv_sim tests/sim/test_xs_conformance
TESTS += tests/sim/test_hv_sim tests/sim/test_xs_conformance tests/sim/xenstore-utils.sh \
	tests/sim/bench-hv.sh
EXTRA_DIST += tests/sim/xenstore-utils.sh tests/sim/bench-hv.sh
SIM_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tools/lib
tests_sim_test_hv_sim_SOURCES = tests/sim/test_hv_sim.c
tests_sim_test_hv_sim_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
tests_sim_test_hv_sim_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(XENSTORE_CFLAGS)
tests_sim_test_hv_sim_LDADD = libpvsplit-tools.la libpvsplit-hv.la $(CUNIT_LIBS) $(XENSTORE_LIBS)
tests_sim_test_xs_conformance_SOURCES = tests/sim/test_xs_conformance.c
tests_sim_test_xs_conformance_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
tests_sim_test_xs_conformance_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(XENSTORE_CFLAGS)
tests_sim_test_xs_conformance_LDADD = libpvsplit-tools.la libpvsplit-hv.la $(CUNIT_LIBS) \
	$(XENSTORE_LIBS)

# ---- sim tier: console ----
check_PROGRAMS += tests/sim/test_cons_sim
TESTS += tests/sim/test_cons_sim tests/sim/bench-console.sh
EXTRA_DIST += tests/sim/bench-console.sh
tests_sim_test_cons_sim_SOURCES = tests/sim/test_cons_sim.c tests/sim/blkenv.c tests/sim/blkenv.h
tests_sim_test_cons_sim_CPPFLAGS = $(tests_sim_test_blk_sim_CPPFLAGS)
tests_sim_test_cons_sim_CFLAGS = $(tests_sim_test_blk_sim_CFLAGS)
tests_sim_test_cons_sim_LDADD = $(tests_sim_test_blk_sim_LDADD)

# libFuzzer builds: only in a build configured with CC=clang --enable-fuzz
# (tests/fuzz/run makes one).
if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_xsd_wire
tests_fuzz_fuzz_xsd_wire_SOURCES = tests/fuzz/fuzz_xsd_wire.c
tests_fuzz_fuzz_xsd_wire_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hypercalls/sim
tests_fuzz_fuzz_xsd_wire_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS)
tests_fuzz_fuzz_xsd_wire_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_xsd_wire_LDADD = libpvsplit-simd.la
endif

# ---- sim tier: block ----
check_PROGRAMS += tests/sim/test_blk_sim
TESTS += tests/sim/test_blk_sim tests/sim/bench-block.sh

# ---- unit tier: the man pages the tools point to exist and are installed ----
TESTS += tests/unit/man-pages.sh
EXTRA_DIST += tests/unit/man-pages.sh
EXTRA_DIST += tests/sim/bench-block.sh
tests_sim_test_blk_sim_SOURCES = tests/sim/test_blk_sim.c tests/sim/test_blk_sim_guests.c \
	tests/sim/test_blk_sim_restart.c tests/sim/blksim.h tests/sim/blkenv.c tests/sim/blkenv.h
tests_sim_test_blk_sim_CPPFLAGS = $(SIM_TEST_CPPFLAGS) -I$(top_srcdir)/domU-frontends/user \
	-I$(top_srcdir)/backends
tests_sim_test_blk_sim_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(XENSTORE_CFLAGS) $(JSONC_CFLAGS)
tests_sim_test_blk_sim_LDADD = libpvsplit-front.la libpvsplit-tools.la libpvsplit-hv.la \
	libpvsplit-schema.la $(CUNIT_LIBS) $(XENSTORE_LIBS) $(JSONC_LIBS)

# The loopback hypervisor core (hvd_handle): replayed on its corpus by make
# check; the libFuzzer build as for xsd_wire.
check_PROGRAMS += tests/fuzz/replay_hvd
tests_fuzz_replay_hvd_SOURCES = tests/fuzz/fuzz_hvd.c tests/fuzz/replay.c
tests_fuzz_replay_hvd_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hypercalls/sim
tests_fuzz_replay_hvd_CFLAGS = $(AM_CFLAGS)
tests_fuzz_replay_hvd_LDADD = libpvsplit-simd.la
TESTS += tests/fuzz/replay-hvd.sh
EXTRA_DIST += tests/fuzz/replay-hvd.sh tests/fuzz/hvd_seeds.py
if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_hvd
tests_fuzz_fuzz_hvd_SOURCES = tests/fuzz/fuzz_hvd.c
tests_fuzz_fuzz_hvd_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hypercalls/sim
tests_fuzz_fuzz_hvd_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_hvd_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_hvd_LDADD = libpvsplit-simd.la
endif

# pvsplit-consoled's configuration parser (file and command line): replayed
# on its corpus by make check; the libFuzzer build as for the others.
check_PROGRAMS += tests/fuzz/replay_consd_config
tests_fuzz_replay_consd_config_SOURCES = tests/fuzz/fuzz_consd_config.c tests/fuzz/replay.c
tests_fuzz_replay_consd_config_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
tests_fuzz_replay_consd_config_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS)
tests_fuzz_replay_consd_config_LDADD = libpvsplit-cons.la
TESTS += tests/fuzz/replay-consd-config.sh
EXTRA_DIST += tests/fuzz/replay-consd-config.sh
if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_consd_config
tests_fuzz_fuzz_consd_config_SOURCES = tests/fuzz/fuzz_consd_config.c
tests_fuzz_fuzz_consd_config_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
tests_fuzz_fuzz_consd_config_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS)
tests_fuzz_fuzz_consd_config_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_consd_config_LDADD = libpvsplit-cons.la
endif

# A guest's block request, decoded and checked (backends/block/blkcheck.h):
# replayed on its corpus by make check; the libFuzzer build as for the others.
check_PROGRAMS += tests/fuzz/replay_blkreq
tests_fuzz_replay_blkreq_SOURCES = tests/fuzz/fuzz_blkreq.c tests/fuzz/replay.c
tests_fuzz_replay_blkreq_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
tests_fuzz_replay_blkreq_CFLAGS = $(AM_CFLAGS)
tests_fuzz_replay_blkreq_LDADD = libpvsplit-blkif.la
TESTS += tests/fuzz/replay-blkreq.sh
EXTRA_DIST += tests/fuzz/replay-blkreq.sh tests/fuzz/blkreq_seeds.py
if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_blkreq
tests_fuzz_fuzz_blkreq_SOURCES = tests/fuzz/fuzz_blkreq.c
tests_fuzz_fuzz_blkreq_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
tests_fuzz_fuzz_blkreq_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_blkreq_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_blkreq_LDADD = libpvsplit-blkif.la
endif
