# SPDX-License-Identifier: GPL-2.0-only
# pvsplit's Linux guest modules.  The module itself is built by kbuild
# against a kernel's headers (domU-frontends/linux/Makefile); here, the
# ring/protocol core it shares with the host is unit tested, the module is
# built and checked when kernel headers are installed (exit 77 = skip
# otherwise), its sources are style-checked with the bundled checkpatch.pl,
# and everything goes into the tarball.
check_PROGRAMS += tests/unit/test_blkfront_core
TESTS += tests/unit/test_blkfront_core
tests_unit_test_blkfront_core_SOURCES = tests/unit/test_blkfront_core.c \
	tests/unit/cunit_main.c tests/unit/cunit_main.h \
	domU-frontends/linux/blkfront/core.c \
	domU-frontends/linux/blkfront/core.h \
	domU-frontends/linux/blkfront/compat.h
tests_unit_test_blkfront_core_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/domU-frontends/linux/blkfront
# as the kernel: the blkif request variants overlay one another
tests_unit_test_blkfront_core_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) -fno-strict-aliasing
tests_unit_test_blkfront_core_LDADD = $(CUNIT_LIBS)

TESTS += domU-frontends/linux/checkpatch.sh domU-frontends/linux/check-module.sh

EXTRA_DIST += \
	domU-frontends/linux/Kbuild \
	domU-frontends/linux/Makefile \
	domU-frontends/linux/README.md \
	domU-frontends/linux/check-module.sh \
	domU-frontends/linux/checkpatch.sh \
	domU-frontends/linux/blkfront/blkfront.h \
	domU-frontends/linux/blkfront/io.c \
	domU-frontends/linux/blkfront/main.c \
	domU-frontends/linux/lab/guest-test.sh \
	domU-frontends/linux/scripts/README \
	domU-frontends/linux/scripts/checkpatch.pl \
	domU-frontends/linux/scripts/const_structs.checkpatch \
	domU-frontends/linux/scripts/spelling.txt
