// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The rules pvsplit-blkback holds a guest's request to (blkcheck.h), case
 * by case: each request's verdict, and what an accepted one asks.
 */
#include <string.h>

#include "block/blkcheck.h"
#include "cunit_main.h"

#define MIB (1024ull * 1024)

/* 64 MiB, 512-byte sectors and blocks, everything offered. */
static struct blk_limits all(void)
{
	return (struct blk_limits){ .size = 64 * MIB,
				    .unit = 512,
				    .logical = 512,
				    .max_indirect = 256,
				    .barrier = true,
				    .flush = true,
				    .discard = true,
				    .secure_discard = true };
}

static struct blk_req rw(uint8_t op, uint64_t sector, uint32_t nsegs, uint8_t first, uint8_t last)
{
	struct blk_req r;

	memset(&r, 0, sizeof(r));
	r.operation = op;
	r.nr_segments = (uint16_t)nsegs;
	r.sector_number = sector;
	for (uint32_t i = 0; i < nsegs && i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++)
		r.seg[i] = (struct blkif_request_segment){ .gref = 10 + i,
							   .first_sect = first,
							   .last_sect = last };
	return r;
}

/* Both steps on the request's own segments. */
static enum blk_verdict check(const struct blk_req *r, const struct blk_limits *l,
			      struct blk_plan *p)
{
	enum blk_verdict v = blk_check_req(r, l, p);

	if (v == BLK_OK && p->nsegs)
		v = blk_check_segs(r, r->seg, l, p);
	return v;
}

/* The verdict on a request of NSEGS like segments (first..last sectors of each page). */
static enum blk_verdict verdict(uint8_t op, uint64_t sector, uint32_t nsegs, uint8_t first,
				uint8_t last, const struct blk_limits *l)
{
	struct blk_req r = rw(op, sector, nsegs, first, last);
	struct blk_plan p;

	return check(&r, l, &p);
}

static void test_read_write(void)
{
	struct blk_limits l = all();
	struct blk_plan p;
	struct blk_req r = rw(BLKIF_OP_READ, 8, 11, 0, 7);

	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_OK);
	CU_ASSERT(p.op == BLKIF_OP_READ && p.nsegs == 11 && !p.indirect && !p.flush_first);
	CU_ASSERT(p.off == 4096 && p.len == 11 * 4096);
	/* Part of a page: sectors 2-5 of each. */
	r = rw(BLKIF_OP_WRITE, 0, 2, 2, 5);
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_OK);
	CU_ASSERT(p.op == BLKIF_OP_WRITE && p.len == 2 * 4 * 512);
	/* No segments, or more than a request holds. */
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_READ, 0, 0, 0, 7, &l), BLK_BAD_SEGS);
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_READ, 0, 12, 0, 7, &l), BLK_BAD_SEGS);
	/* A segment backwards, or past its page. */
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_READ, 0, 1, 5, 4, &l), BLK_BAD_SEGS);
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_READ, 0, 1, 0, 8, &l), BLK_BAD_SEGS);
	/* An operation that does not exist. */
	CU_ASSERT_EQUAL(verdict(42, 0, 1, 0, 7, &l), BLK_BAD_OP);
	CU_ASSERT_EQUAL(blk_verdict_status(BLK_BAD_OP), BLKIF_RSP_ERROR);
}

static void test_range(void)
{
	struct blk_limits l = all();
	struct blk_plan p;
	uint64_t last = 64 * MIB / 512 - 8;
	struct blk_req r = rw(BLKIF_OP_READ, last, 1, 0, 7);

	/* The last page, then one sector past it. */
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_OK);
	CU_ASSERT(p.off + p.len == 64 * MIB);
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_READ, last + 1, 1, 0, 7, &l), BLK_BAD_RANGE);
	/* A start sector past the end; one whose bytes overflow 64 bits. */
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_WRITE, last + 100, 1, 0, 0, &l), BLK_BAD_RANGE);
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_WRITE, UINT64_MAX / 256, 1, 0, 0, &l), BLK_BAD_RANGE);
	/* A 4 KiB-block store: segments and start on its blocks. */
	l.logical = 4096;
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_READ, 8, 1, 0, 7, &l), BLK_OK);
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_READ, 9, 1, 0, 7, &l), BLK_BAD_RANGE);
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_READ, 8, 1, 0, 3, &l), BLK_BAD_SEGS);
	/* feature-large-sector-size: sector numbers in 4096-byte units, one per page. */
	l.unit = 4096;
	r = rw(BLKIF_OP_READ, 3, 2, 0, 0);
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_OK);
	CU_ASSERT(p.off == 3 * 4096 && p.len == 2 * 4096);
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_READ, 3, 1, 0, 1, &l), BLK_BAD_SEGS);
}

static void test_indirect(void)
{
	static struct blkif_request_segment segs[BLK_MAX_SEGS_INDIRECT];
	struct blk_limits l = all();
	struct blk_plan p;
	struct blk_req r = rw(BLKIF_OP_INDIRECT, 0, 0, 0, 0);

	for (uint32_t i = 0; i < BLK_MAX_SEGS_INDIRECT; i++)
		segs[i] = (struct blkif_request_segment){ .gref = i,
							  .first_sect = 0,
							  .last_sect = 7 };
	r.indirect_op = BLKIF_OP_WRITE;
	r.nr_segments = 256;
	CU_ASSERT_EQUAL(blk_check_req(&r, &l, &p), BLK_OK);
	CU_ASSERT(p.indirect && p.op == BLKIF_OP_WRITE && p.nsegs == 256);
	CU_ASSERT_EQUAL(blk_check_segs(&r, segs, &l, &p), BLK_OK);
	CU_ASSERT(p.off == 0 && p.len == MIB);
	/* More than offered; none; an op that is not READ or WRITE; not offered at all. */
	r.nr_segments = 257;
	CU_ASSERT_EQUAL(blk_check_req(&r, &l, &p), BLK_BAD_SEGS);
	CU_ASSERT_EQUAL(p.op, BLKIF_OP_WRITE); /* counted as the write it is */
	r.nr_segments = 0;
	CU_ASSERT_EQUAL(blk_check_req(&r, &l, &p), BLK_BAD_SEGS);
	r.nr_segments = 8;
	r.indirect_op = BLKIF_OP_FLUSH_DISKCACHE;
	CU_ASSERT_EQUAL(blk_check_req(&r, &l, &p), BLK_BAD_OP);
	r.indirect_op = BLKIF_OP_READ;
	l.max_indirect = 0;
	CU_ASSERT_EQUAL(blk_check_req(&r, &l, &p), BLK_BAD_OP);
	/* A bad segment deep in the fetched list. */
	l.max_indirect = BLK_MAX_SEGS_INDIRECT;
	r.nr_segments = BLK_MAX_SEGS_INDIRECT;
	CU_ASSERT_EQUAL(blk_check_req(&r, &l, &p), BLK_OK);
	segs[4000].last_sect = 8;
	CU_ASSERT_EQUAL(blk_check_segs(&r, segs, &l, &p), BLK_BAD_SEGS);
	/* 16 MiB from sector 0 fits; from the last page it does not. */
	segs[4000].last_sect = 7;
	CU_ASSERT_EQUAL(blk_check_segs(&r, segs, &l, &p), BLK_OK);
	CU_ASSERT_EQUAL(p.len, 16 * MIB);
	r.sector_number = 64 * MIB / 512 - 8;
	CU_ASSERT_EQUAL(blk_check_segs(&r, segs, &l, &p), BLK_BAD_RANGE);
}

static void test_flush_barrier(void)
{
	struct blk_limits l = all();
	struct blk_plan p;
	struct blk_req r = rw(BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0, 0);

	/* A bare flush; a flush with data (REQ_PREFLUSH): flush, write, flush. */
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_OK);
	CU_ASSERT(p.nsegs == 0 && !p.flush_first);
	r = rw(BLKIF_OP_FLUSH_DISKCACHE, 8, 1, 0, 7);
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_OK);
	CU_ASSERT(p.nsegs == 1 && p.flush_first && p.len == 4096);
	r = rw(BLKIF_OP_WRITE_BARRIER, 8, 2, 0, 7);
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_OK);
	CU_ASSERT(p.op == BLKIF_OP_WRITE_BARRIER && !p.flush_first && p.len == 8192);
	/* Not offered: EOPNOTSUPP, as blkif.h asks. */
	l.barrier = l.flush = false;
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_UNSUPPORTED);
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0, 0, &l), BLK_UNSUPPORTED);
	CU_ASSERT_EQUAL(blk_verdict_status(BLK_UNSUPPORTED), BLKIF_RSP_EOPNOTSUPP);
}

static void test_discard(void)
{
	struct blk_limits l = all();
	struct blk_plan p;
	struct blk_req r;

	memset(&r, 0, sizeof(r));
	r.operation = BLKIF_OP_DISCARD;
	r.sector_number = 8;
	r.nr_sectors = 16;
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_OK);
	CU_ASSERT(p.op == BLKIF_OP_DISCARD && p.nsegs == 0 && p.off == 4096 && p.len == 8192);
	/* Empty; past the end; a count that wraps. */
	r.nr_sectors = 0;
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_BAD_RANGE);
	r.nr_sectors = 64 * MIB / 512;
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_BAD_RANGE);
	r.nr_sectors = UINT64_MAX - 4;
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_BAD_RANGE);
	/* Off the store's blocks. */
	l.logical = 4096;
	r.sector_number = 4;
	r.nr_sectors = 8;
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_BAD_RANGE);
	/* Secure erase only where the store has it; no discard on a read-only device. */
	l.logical = 512;
	r.discard_flag = BLKIF_DISCARD_SECURE;
	l.secure_discard = false;
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_UNSUPPORTED);
	l.secure_discard = true;
	l.readonly = true;
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_READONLY);
	l.discard = false;
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_UNSUPPORTED);
}

static void test_readonly(void)
{
	struct blk_limits l = all();
	struct blk_plan p;
	struct blk_req r = rw(BLKIF_OP_READ, 0, 1, 0, 7);

	l.readonly = true;
	CU_ASSERT_EQUAL(check(&r, &l, &p), BLK_OK);
	/* Nothing with data but a read; a bare flush is harmless. */
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_WRITE, 0, 1, 0, 7, &l), BLK_READONLY);
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_FLUSH_DISKCACHE, 0, 1, 0, 7, &l), BLK_READONLY);
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_WRITE_BARRIER, 0, 1, 0, 7, &l), BLK_READONLY);
	CU_ASSERT_EQUAL(verdict(BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0, 0, &l), BLK_OK);
	r = rw(BLKIF_OP_INDIRECT, 0, 0, 0, 0);
	r.indirect_op = BLKIF_OP_WRITE;
	r.nr_segments = 16;
	CU_ASSERT_EQUAL(blk_check_req(&r, &l, &p), BLK_READONLY);
}

int main(void)
{
	static const struct cunit_test tests[] = {
		{ "reads and writes: segments and operations", test_read_write },
		{ "the store's end, blocks and sector units", test_range },
		{ "indirect requests", test_indirect },
		{ "flush and barrier", test_flush_barrier },
		{ "discard", test_discard },
		{ "read-only devices", test_readonly },
	};

	return CUNIT_MAIN("blkcheck", NULL, NULL, tests);
}
