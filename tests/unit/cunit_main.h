/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The unit tier's CUnit runner: one suite of tests run verbosely, the exit
 * status make check wants.
 */
#ifndef PVSPLIT_TEST_CUNIT_MAIN_H
#define PVSPLIT_TEST_CUNIT_MAIN_H

#include <stddef.h>

#include <CUnit/CUnit.h>

struct cunit_test {
	const char *name;
	CU_TestFunc fn;
};

/*
 * Register the suite (init and clean may be NULL) and its n tests, run them:
 * 0 if all passed, 1 if any failed (or the suite's init or clean did), 2 on a
 * CUnit error.  For main() to return.
 */
int cunit_main(const char *suite, CU_InitializeFunc init, CU_CleanupFunc clean,
	       const struct cunit_test *tests, size_t n);

#define CUNIT_MAIN(suite, init, clean, tests)                                                      \
	cunit_main(suite, init, clean, tests, sizeof(tests) / sizeof((tests)[0]))

#endif
