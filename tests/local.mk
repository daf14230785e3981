# SPDX-License-Identifier: GPL-2.0-or-later
# Unit tier: CUnit programs run by `make check`.
TESTS_ENVIRONMENT = PVSPLIT_SCHEMA_DIR=$(abs_top_srcdir)/xenstore-schema/data \
	PVSPLIT_BUILDDIR=$(abs_top_builddir) PVSPLIT_SRCDIR=$(abs_top_srcdir)

include tests/unit/local.mk
