// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Sim tier: pvsplit-blkback and the userspace blkfront over pvsplit-simhv.
 * Integrity across the feature matrix, FLUSH durability, discard,
 * read-only, resize, hostile frontends, lifecycle and restarts, xs-check.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <xenstore.h>

#include "blkenv.h"

static struct blkenv E;
static uint32_t next_devid = 51712;

#define DISK (8u << 20)

/* ---- integrity ---- */

struct integ {
	uint64_t seed;
	size_t io_max;
};

/* Random-sized writes covering the disk, then read back and compare. */
static int integrity(struct pvf_blk *b, void *arg)
{
	struct integ *t = arg;
	struct pvf_blk_info in;
	uint8_t *want, *got;
	uint64_t x = t->seed | 1;
	int r;

	pvf_blk_get_info(b, &in);
	if (in.size != DISK) {
		fprintf(stderr, "size %llu, expected %u\n", (unsigned long long)in.size, DISK);
		return 2;
	}
	want = malloc(in.size);
	got = malloc(in.size);
	if (!want || !got)
		return 3;
	blkenv_pattern(want, in.size, t->seed);
	for (uint64_t off = 0; off < in.size;) {
		size_t len;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len = (size_t)(x % t->io_max) / in.sector_size * in.sector_size + in.sector_size;
		if (off + len > in.size)
			len = (size_t)(in.size - off);
		r = pvf_blk_write(b, off, want + off, len);
		if (r) {
			fprintf(stderr, "write %llu+%zu: %s\n", (unsigned long long)off, len,
				strerror(-r));
			return 4;
		}
		off += len;
	}
	if (pvf_blk_flush(b))
		return 5;
	memset(got, 0, in.size);
	r = pvf_blk_read(b, 0, got, in.size);
	if (r) {
		fprintf(stderr, "read: %s\n", strerror(-r));
		return 6;
	}
	if (memcmp(want, got, in.size)) {
		for (size_t i = 0; i < in.size; i++)
			if (want[i] != got[i]) {
				fprintf(stderr, "mismatch at byte %zu\n", i);
				break;
			}
		return 7;
	}
	free(want);
	free(got);
	return 0;
}

struct matrix_case {
	bool persistent, indirect;
	uint32_t ring_order, queues, sector;
};

static void run_case(const struct matrix_case *c)
{
	char file[256];
	struct ts_vbd v = { .backend_domid = 0, .domid = 1, .devid = next_devid++ };
	struct pvf_blk_opts o;
	struct integ t = { .seed = v.devid, .io_max = 256 * 1024 };
	int r;

	snprintf(file, sizeof(file), "%s/disk-%u.img", E.sim.dir, v.devid);
	CU_ASSERT_FATAL(blkenv_make_file(file, DISK) == 0);
	v.params = file;
	v.sector_size = c->sector;
	CU_ASSERT_FATAL(ts_vbd_add(E.xs, E.schema, &v) == 0);
	pvf_blk_opts_default(&o);
	o.devid = v.devid;
	o.persistent = c->persistent;
	o.indirect = c->indirect;
	o.ring_order = c->ring_order;
	o.queues = c->queues;
	r = blkenv_run_frontend(&E, 1, &o, integrity, &t);
	if (r)
		fprintf(stderr, "case persistent=%d indirect=%d order=%u queues=%u sector=%u: %d\n",
			c->persistent, c->indirect, c->ring_order, c->queues, c->sector, r);
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_EQUAL(ts_vbd_remove(E.xs, E.schema, 0, 1, v.devid, 5000), 0);
	unlink(file);
}

static void test_integrity_basic(void)
{
	struct matrix_case c = { .persistent = true, .indirect = true, .queues = 1, .sector = 512 };

	run_case(&c);
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;
	int r;

	r = blkenv_start(&E, 3);
	if (!r)
		r = blkenv_daemon_start(&E, NULL);
	if (r) {
		fprintf(stderr, "cannot start the sim and pvsplit-blkback: %s\n", strerror(-r));
		blkenv_stop(&E);
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("blk-sim", NULL, NULL);
	CU_add_test(s, "integrity, basic", test_integrity_basic);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	r = blkenv_daemon_stop(&E, false);
	if (r) {
		fprintf(stderr, "pvsplit-blkback exited with %d\n", r);
		fails++;
	}
	blkenv_stop(&E);
	return fails ? 1 : 0;
}
