/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the pvsplit-blkfront ring/protocol core
 * (domU-frontends/linux/blkfront/core.c, the same file the kernel module
 * is built from): negotiation math, xvd naming, request planning and
 * encoding (direct, indirect, split, flush/barrier, discard), the shadow
 * table, and hostile responses on a real shared ring in memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "core.h"

#include "cunit_main.h"

/* ------------------------------------------------------------------ */
/* negotiation                                                         */

static void test_ring_order(void)
{
	CU_ASSERT_EQUAL(pvb_ring_order(0, 4), 0);
	CU_ASSERT_EQUAL(pvb_ring_order(2, 4), 2);
	CU_ASSERT_EQUAL(pvb_ring_order(4, 1), 1);
	CU_ASSERT_EQUAL(pvb_ring_order(3, 0), 0); /* key absent */
	CU_ASSERT_EQUAL(pvb_ring_order(9, 9), PVB_MAX_RING_ORDER);
	/* a 4 KiB page of 112-byte entries after the 64-byte header: 32 */
	CU_ASSERT_EQUAL(pvb_ring_entries(0), 32);
	CU_ASSERT_EQUAL(pvb_ring_entries(1), 64);
	CU_ASSERT_EQUAL(pvb_ring_entries(2), 128);
	CU_ASSERT_EQUAL(pvb_ring_entries(3), 256);
	CU_ASSERT_EQUAL(pvb_ring_entries(4), 512);
	CU_ASSERT_EQUAL(pvb_ring_entries(7), 512); /* capped */
}

static void test_queues(void)
{
	CU_ASSERT_EQUAL(pvb_nr_queues(4, 1), 1); /* default backend */
	CU_ASSERT_EQUAL(pvb_nr_queues(4, 8), 4);
	CU_ASSERT_EQUAL(pvb_nr_queues(2, 3), 2);
	CU_ASSERT_EQUAL(pvb_nr_queues(0, 8), 1); /* at least one */
	CU_ASSERT_EQUAL(pvb_nr_queues(4, 0), 1);
}

static void test_indirect_segments(void)
{
	CU_ASSERT_EQUAL(pvb_indirect_segments(32, 0), 0); /* not offered */
	CU_ASSERT_EQUAL(pvb_indirect_segments(32, 256), 32);
	CU_ASSERT_EQUAL(pvb_indirect_segments(128, 64), 64);
	CU_ASSERT_EQUAL(pvb_indirect_segments(4096, 4096), PVB_MAX_SEGMENTS);
	CU_ASSERT_EQUAL(pvb_indirect_segments(11, 256), 0); /* no gain */
	CU_ASSERT_EQUAL(pvb_indirect_segments(12, 256), 12);
	CU_ASSERT_EQUAL(pvb_indirect_segments(32, 11), 0);
	CU_ASSERT_EQUAL(pvb_indirect_segments(0, 256), 0); /* turned off */
}

static struct pvb_backend backend(uint32_t ss, uint32_t ps, uint64_t sectors)
{
	struct pvb_backend be;

	memset(&be, 0, sizeof(be));
	be.max_queues = 1;
	be.sector_size = ss;
	be.physical_sector_size = ps;
	be.sectors = sectors;
	return be;
}

static void test_geometry(void)
{
	struct pvb_backend be = backend(512, 0, 2048);
	struct pvb_geometry g;

	CU_ASSERT_EQUAL_FATAL(pvb_geometry(&be, 512, &g), 0);
	CU_ASSERT_EQUAL(g.capacity, 2048);
	CU_ASSERT_EQUAL(g.logical, 512);
	CU_ASSERT_EQUAL(g.physical, 512); /* absent: sector-size */
	CU_ASSERT_FALSE(g.physical_fixed);

	/* Linux semantics: 4 KiB sectors, "sectors" still in 512 bytes */
	be = backend(4096, 0, 8192);
	CU_ASSERT_EQUAL_FATAL(pvb_geometry(&be, pvb_wire_unit(false, 4096), &g), 0);
	CU_ASSERT_EQUAL(g.capacity, 8192);
	CU_ASSERT_EQUAL(g.logical, 4096);
	CU_ASSERT_EQUAL(g.physical, 4096);
	/* feature-large-sector-size=1: "sectors" in sector-size units */
	be = backend(4096, 0, 1024);
	CU_ASSERT_EQUAL(pvb_wire_unit(true, 4096), 4096);
	CU_ASSERT_EQUAL_FATAL(pvb_geometry(&be, 4096, &g), 0);
	CU_ASSERT_EQUAL(g.capacity, 8192);

	be = backend(512, 4096, 100);
	CU_ASSERT_EQUAL_FATAL(pvb_geometry(&be, 512, &g), 0);
	CU_ASSERT_EQUAL(g.physical, 4096);
	be = backend(4096, 1000, 100);
	CU_ASSERT_EQUAL_FATAL(pvb_geometry(&be, 512, &g), 0);
	CU_ASSERT_EQUAL(g.physical, 4096);
	CU_ASSERT_TRUE(g.physical_fixed);
	be = backend(4096, 512, 100); /* smaller than the logical size */
	CU_ASSERT_EQUAL_FATAL(pvb_geometry(&be, 512, &g), 0);
	CU_ASSERT_EQUAL(g.physical, 4096);
	CU_ASSERT_TRUE(g.physical_fixed);

	be = backend(0, 0, 100);
	CU_ASSERT_EQUAL(pvb_geometry(&be, 512, &g), -EINVAL);
	be = backend(256, 0, 100);
	CU_ASSERT_EQUAL(pvb_geometry(&be, 512, &g), -EINVAL);
	be = backend(1000, 0, 100);
	CU_ASSERT_EQUAL(pvb_geometry(&be, 512, &g), -EINVAL);
	be = backend(8192, 0, 100);
	CU_ASSERT_EQUAL(pvb_geometry(&be, 512, &g), -EINVAL);
	be = backend(4096, 0, 100);
	CU_ASSERT_EQUAL(pvb_geometry(&be, 1024, &g), -EINVAL);
	be = backend(4096, 0, PVB_U64_MAX / 4);
	CU_ASSERT_EQUAL(pvb_geometry(&be, 4096, &g), -EOVERFLOW);
	be = backend(4096, 0, PVB_U64_MAX / 8);
	CU_ASSERT_EQUAL(pvb_geometry(&be, 4096, &g), 0);
}

static const struct pvb_params params = {
	.max_queues = 4,
	.max_indirect_segments = 32,
	.max_ring_page_order = 0,
	.persistent = true,
};

static void features(const struct pvb_backend *be, const struct pvb_params *p, struct pvb_conn *c)
{
	struct pvb_geometry g;

	CU_ASSERT_EQUAL_FATAL(pvb_geometry(be, 512, &g), 0);
	memset(c, 0xa5, sizeof(*c));
	pvb_features(be, p, &g, c);
}

static void test_features_flush(void)
{
	struct pvb_backend be = backend(512, 0, 100);
	struct pvb_conn c;

	features(&be, &params, &c);
	CU_ASSERT_FALSE(c.flush);
	CU_ASSERT_FALSE(c.barrier);
	be.barrier = true;
	features(&be, &params, &c);
	CU_ASSERT_TRUE(c.flush);
	CU_ASSERT_TRUE(c.barrier);
	be.flush_cache = true; /* flush-cache wins over barrier */
	features(&be, &params, &c);
	CU_ASSERT_TRUE(c.flush);
	CU_ASSERT_FALSE(c.barrier);
	be.barrier = false;
	features(&be, &params, &c);
	CU_ASSERT_TRUE(c.flush);
	CU_ASSERT_FALSE(c.barrier);
}

static void test_features_other(void)
{
	struct pvb_backend be = backend(4096, 0, 800);
	struct pvb_params p = params;
	struct pvb_conn c;

	features(&be, &p, &c);
	CU_ASSERT_FALSE(c.persistent);
	CU_ASSERT_EQUAL(c.indirect_segments, 0);
	CU_ASSERT_FALSE(c.readonly);
	CU_ASSERT_FALSE(c.discard);
	CU_ASSERT_FALSE(c.secure_discard);
	CU_ASSERT_EQUAL(pvb_segs_per_request(&c), 11);

	be.persistent = true;
	be.max_indirect_segments = 256;
	features(&be, &p, &c);
	CU_ASSERT_TRUE(c.persistent);
	CU_ASSERT_EQUAL(c.indirect_segments, 32);
	CU_ASSERT_EQUAL(pvb_segs_per_request(&c), 32);
	p.persistent = false;
	features(&be, &p, &c);
	CU_ASSERT_FALSE(c.persistent);

	be.info = VDISK_READONLY;
	features(&be, &p, &c);
	CU_ASSERT_TRUE(c.readonly);
	be.info = VDISK_CDROM | VDISK_REMOVABLE;
	features(&be, &p, &c);
	CU_ASSERT_FALSE(c.readonly);
	be.mode_ro = true;
	features(&be, &p, &c);
	CU_ASSERT_TRUE(c.readonly);

	be.discard_secure = true; /* without feature-discard: nothing */
	features(&be, &p, &c);
	CU_ASSERT_FALSE(c.secure_discard);
	be.discard = true;
	be.discard_granularity = 0; /* absent: physical block size */
	features(&be, &p, &c);
	CU_ASSERT_TRUE(c.discard);
	CU_ASSERT_TRUE(c.secure_discard);
	CU_ASSERT_EQUAL(c.discard_granularity, 4096);
	be.discard_granularity = 512; /* below the 4 KiB logical size */
	features(&be, &p, &c);
	CU_ASSERT_EQUAL(c.discard_granularity, 4096);
	be.discard_granularity = 1 << 20;
	be.discard_alignment = 8192;
	features(&be, &p, &c);
	CU_ASSERT_EQUAL(c.discard_granularity, 1 << 20);
	CU_ASSERT_EQUAL(c.discard_alignment, 8192);
	be.discard_alignment = 1 << 20; /* not below the granularity */
	features(&be, &p, &c);
	CU_ASSERT_EQUAL(c.discard_alignment, 0);
	be.discard_alignment = 100; /* not in sectors */
	features(&be, &p, &c);
	CU_ASSERT_EQUAL(c.discard_alignment, 0);
}

/* ------------------------------------------------------------------ */
/* xvd naming                                                          */

static void expect_vdev(uint32_t vdev, const char *name, uint32_t minor, uint32_t nr_minors)
{
	struct pvb_disk_id id;
	char buf[32];

	memset(&id, 0xff, sizeof(id));
	CU_ASSERT_EQUAL_FATAL(pvb_vdev_parse(vdev, &id), 0);
	CU_ASSERT_EQUAL_FATAL(pvb_disk_name(&id, buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, name);
	CU_ASSERT_EQUAL(id.minor, minor);
	CU_ASSERT_EQUAL(id.nr_minors, nr_minors);
	if (strcmp(buf, name) || id.minor != minor)
		fprintf(stderr, "vdev %#x: %s minor %u, expected %s minor %u\n", vdev, buf,
			id.minor, name, minor);
}

static void test_vdev_names(void)
{
	struct pvb_disk_id id;
	char small[5];

	expect_vdev(51712, "xvda", 0, 16);
	expect_vdev(51728, "xvdb", 16, 16);
	expect_vdev(51713, "xvda1", 1, 1);
	expect_vdev(202 << 8 | 255, "xvdp15", 255, 1);
	expect_vdev(3 << 8 | 0, "xvda", 0, 16);	      /* hda */
	expect_vdev(3 << 8 | 64, "xvdb", 16, 16);     /* hdb */
	expect_vdev(3 << 8 | 65, "xvdb", 16, 16);     /* hdb1: the disk */
	expect_vdev(22 << 8 | 64, "xvdd", 48, 16);    /* hdd */
	expect_vdev(8 << 8 | 16, "xvdb", 16, 16);     /* sdb */
	expect_vdev(8 << 8 | 18, "xvdb2", 18, 1);     /* sdb2 */
	expect_vdev(65 << 8 | 0, "xvdq", 256, 16);    /* sdq */
	expect_vdev(128 << 8 | 0, "xvddy", 2048, 16); /* sddy */
	expect_vdev(1u << 28 | 26 * 256, "xvdaa", 26 * 256, 256);
	expect_vdev(1u << 28 | (256 + 3), "xvdb3", 256 + 3, 1);
	expect_vdev(1u << 28 | 701 * 256, "xvdzz", 701 * 256, 256);
	expect_vdev(1u << 28 | 702 * 256, "xvdaaa", 702 * 256, 256);

	CU_ASSERT_EQUAL(pvb_vdev_parse(9 << 8, &id), -ENODEV);	 /* md */
	CU_ASSERT_EQUAL(pvb_vdev_parse(2u << 28, &id), -ENODEV); /* above ext */
	CU_ASSERT_EQUAL(pvb_vdev_parse(1u << 28 | 1u << 20, &id), -ENODEV);
	CU_ASSERT_EQUAL_FATAL(pvb_vdev_parse(1u << 28 | 26 * 256, &id), 0);
	CU_ASSERT_EQUAL(pvb_disk_name(&id, small, sizeof(small)), -ENAMETOOLONG);
}

/* ------------------------------------------------------------------ */
/* requests                                                            */

static struct pvb_conn conn(uint32_t indirect)
{
	struct pvb_conn c;

	memset(&c, 0, sizeof(c));
	c.unit = 512;
	c.indirect_segments = indirect;
	c.handle = 51712;
	c.flush = true;
	return c;
}

static struct pvb_io io(enum pvb_io_kind kind, uint64_t sector, uint64_t nr)
{
	struct pvb_io x = { .kind = kind, .fua = false, .sector = sector, .nr_sectors = nr };

	return x;
}

static grant_ref_t grefs[PVB_MAX_SEGMENTS];

static void setup_grefs(void)
{
	for (uint32_t i = 0; i < PVB_MAX_SEGMENTS; i++)
		grefs[i] = 1000 + i;
}

static void test_direct(void)
{
	struct pvb_conn c = conn(0);
	struct pvb_io x = io(PVB_IO_READ, 100, 8);
	struct pvb_plan p;
	struct pvb_part part;
	struct blkif_request r;

	setup_grefs();
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.op, BLKIF_OP_READ);
	CU_ASSERT_EQUAL(p.nparts, 1);
	CU_ASSERT_EQUAL(p.nsegs, 1);
	CU_ASSERT_EQUAL(p.ngrants, 1);
	pvb_plan_part(&c, &x, &p, 0, &part);
	CU_ASSERT_EQUAL(part.op, BLKIF_OP_READ);
	CU_ASSERT_EQUAL(part.nsegs, 1);
	CU_ASSERT_EQUAL(part.nind, 0);
	CU_ASSERT_EQUAL(part.off, 0);
	CU_ASSERT_EQUAL(part.len, 4096);
	CU_ASSERT_EQUAL(part.sector, 100);
	memset(&r, 0xee, sizeof(r));
	pvb_encode(&c, &part, 7, grefs, NULL, NULL, &r);
	CU_ASSERT_EQUAL(r.operation, BLKIF_OP_READ);
	CU_ASSERT_EQUAL(r.nr_segments, 1);
	CU_ASSERT_EQUAL(r.handle, 51712);
	CU_ASSERT_EQUAL(r.id, 7);
	CU_ASSERT_EQUAL(r.sector_number, 100);
	CU_ASSERT_EQUAL(r.seg[0].gref, 1000);
	CU_ASSERT_EQUAL(r.seg[0].first_sect, 0);
	CU_ASSERT_EQUAL(r.seg[0].last_sect, 7);
	CU_ASSERT_EQUAL(r.seg[1].gref, 0); /* the rest is cleared */

	/* 11 full pages: still one direct request */
	x = io(PVB_IO_WRITE, 0, 88);
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.op, BLKIF_OP_WRITE);
	CU_ASSERT_EQUAL(p.nparts, 1);
	CU_ASSERT_EQUAL(p.nsegs, 11);
	pvb_plan_part(&c, &x, &p, 0, &part);
	pvb_encode(&c, &part, 3, grefs, NULL, NULL, &r);
	CU_ASSERT_EQUAL(r.operation, BLKIF_OP_WRITE);
	CU_ASSERT_EQUAL(r.nr_segments, 11);
	CU_ASSERT_EQUAL(r.seg[10].gref, 1010);
	CU_ASSERT_EQUAL(r.seg[10].last_sect, 7);

	/* a partial last page: 9 sectors = a page and one sector */
	x = io(PVB_IO_READ, 5, 9);
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.nsegs, 2);
	pvb_plan_part(&c, &x, &p, 0, &part);
	CU_ASSERT_EQUAL(part.len, 4608);
	pvb_encode(&c, &part, 0, grefs, NULL, NULL, &r);
	CU_ASSERT_EQUAL(r.seg[0].last_sect, 7);
	CU_ASSERT_EQUAL(r.seg[1].first_sect, 0);
	CU_ASSERT_EQUAL(r.seg[1].last_sect, 0);
}

static void test_split_without_indirect(void)
{
	struct pvb_conn c = conn(0);
	struct pvb_io x = io(PVB_IO_WRITE, 1000, 90); /* 45 KiB */
	struct pvb_plan p;
	struct pvb_part part;
	struct blkif_request r;

	setup_grefs();
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.nsegs, 12);
	CU_ASSERT_EQUAL(p.nparts, 2);
	CU_ASSERT_EQUAL(p.ngrants, 12);
	pvb_plan_part(&c, &x, &p, 0, &part);
	CU_ASSERT_EQUAL(part.op, BLKIF_OP_WRITE);
	CU_ASSERT_EQUAL(part.nsegs, 11);
	CU_ASSERT_EQUAL(part.off, 0);
	CU_ASSERT_EQUAL(part.len, 11 * 4096);
	CU_ASSERT_EQUAL(part.sector, 1000);
	pvb_plan_part(&c, &x, &p, 1, &part);
	CU_ASSERT_EQUAL(part.op, BLKIF_OP_WRITE);
	CU_ASSERT_EQUAL(part.nsegs, 1);
	CU_ASSERT_EQUAL(part.off, 11 * 4096);
	CU_ASSERT_EQUAL(part.len, 1024);
	CU_ASSERT_EQUAL(part.sector, 1088);
	pvb_encode(&c, &part, 9, grefs + 11, NULL, NULL, &r);
	CU_ASSERT_EQUAL(r.nr_segments, 1);
	CU_ASSERT_EQUAL(r.sector_number, 1088);
	CU_ASSERT_EQUAL(r.seg[0].gref, 1011);
	CU_ASSERT_EQUAL(r.seg[0].last_sect, 1);
}

static void test_indirect(void)
{
	static struct blkif_request_segment page[PVB_SEGS_PER_INDIRECT_PAGE];
	struct blkif_request_segment *pages[1] = { page };
	grant_ref_t igref[1] = { 77 };
	struct pvb_conn c = conn(32);
	struct pvb_io x = io(PVB_IO_WRITE, 2048, 256); /* 128 KiB */
	struct pvb_plan p;
	struct pvb_part part;
	struct blkif_request r;
	struct blkif_request_indirect *ind = (struct blkif_request_indirect *)&r;

	setup_grefs();
	CU_ASSERT_EQUAL(PVB_SEGS_PER_INDIRECT_PAGE, 512);
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.nparts, 1);
	CU_ASSERT_EQUAL(p.nsegs, 32);
	CU_ASSERT_EQUAL(p.ngrants, 33);
	pvb_plan_part(&c, &x, &p, 0, &part);
	CU_ASSERT_EQUAL(part.op, BLKIF_OP_INDIRECT);
	CU_ASSERT_EQUAL(part.indirect_op, BLKIF_OP_WRITE);
	CU_ASSERT_EQUAL(part.nsegs, 32);
	CU_ASSERT_EQUAL(part.nind, 1);
	memset(page, 0xee, sizeof(page));
	pvb_encode(&c, &part, 5, grefs, igref, pages, &r);
	CU_ASSERT_EQUAL(ind->operation, BLKIF_OP_INDIRECT);
	CU_ASSERT_EQUAL(ind->indirect_op, BLKIF_OP_WRITE);
	CU_ASSERT_EQUAL(ind->nr_segments, 32);
	CU_ASSERT_EQUAL(ind->id, 5);
	CU_ASSERT_EQUAL(ind->sector_number, 2048);
	CU_ASSERT_EQUAL(ind->handle, 51712);
	CU_ASSERT_EQUAL(ind->indirect_grefs[0], 77);
	CU_ASSERT_EQUAL(ind->indirect_grefs[1], 0);
	CU_ASSERT_EQUAL(page[0].gref, 1000);
	CU_ASSERT_EQUAL(page[31].gref, 1031);
	CU_ASSERT_EQUAL(page[31].first_sect, 0);
	CU_ASSERT_EQUAL(page[31].last_sect, 7);
	CU_ASSERT_EQUAL(page[32].gref, 0xeeeeeeee); /* untouched */

	/* 12 segments go indirect, 11 stay direct */
	x = io(PVB_IO_READ, 0, 96);
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	pvb_plan_part(&c, &x, &p, 0, &part);
	CU_ASSERT_EQUAL(part.op, BLKIF_OP_INDIRECT);
	CU_ASSERT_EQUAL(part.indirect_op, BLKIF_OP_READ);
	x = io(PVB_IO_READ, 0, 88);
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.ngrants, 11);
	pvb_plan_part(&c, &x, &p, 0, &part);
	CU_ASSERT_EQUAL(part.op, BLKIF_OP_READ);
	CU_ASSERT_EQUAL(part.nind, 0);

	/* 33 pages with 32 per request: an indirect part and a direct one */
	x = io(PVB_IO_READ, 0, 33 * 8);
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.nparts, 2);
	CU_ASSERT_EQUAL(p.ngrants, 34);
	pvb_plan_part(&c, &x, &p, 1, &part);
	CU_ASSERT_EQUAL(part.op, BLKIF_OP_READ);
	CU_ASSERT_EQUAL(part.nsegs, 1);
	CU_ASSERT_EQUAL(part.sector, 32 * 8);
	CU_ASSERT_EQUAL(part.off, 32 * 4096);
}

static void test_indirect_split_after_reconnect(void)
{
	/* a 1 MiB request built for 256 segments, requeued to a 32-segment backend */
	struct pvb_conn c = conn(32);
	struct pvb_io x = io(PVB_IO_WRITE, 8, 2048);
	struct pvb_plan p;
	struct pvb_part part;
	uint32_t k, segs = 0;

	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.nsegs, 256);
	CU_ASSERT_EQUAL(p.nparts, 8);
	CU_ASSERT_EQUAL(p.ngrants, 256 + 8);
	for (k = 0; k < p.nparts; k++) {
		pvb_plan_part(&c, &x, &p, k, &part);
		CU_ASSERT_EQUAL(part.op, BLKIF_OP_INDIRECT);
		CU_ASSERT_EQUAL(part.nsegs, 32);
		CU_ASSERT_EQUAL(part.sector, 8 + k * 256);
		CU_ASSERT_EQUAL(part.off, k * 32 * 4096);
		CU_ASSERT_EQUAL(part.len, 32 * 4096);
		segs += part.nsegs;
	}
	CU_ASSERT_EQUAL(segs, 256);
	/* ...and to a backend without indirect descriptors: 24 parts */
	c = conn(0);
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.nparts, 24);
	CU_ASSERT_EQUAL(p.ngrants, 256);
	pvb_plan_part(&c, &x, &p, 23, &part);
	CU_ASSERT_EQUAL(part.nsegs, 256 - 23 * 11);
	CU_ASSERT_EQUAL(part.sector, 8 + 23 * 88);
	CU_ASSERT_TRUE(p.nparts <= pvb_ring_entries(0));
	/* 256 segments at most: one indirect page is enough */
	c = conn(256);
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.nparts, 1);
	CU_ASSERT_EQUAL(p.ngrants, 257);
}

static void test_flush_barrier(void)
{
	struct pvb_conn c = conn(32);
	struct pvb_io x = io(PVB_IO_FLUSH, 0, 0);
	struct pvb_plan p;
	struct pvb_part part;
	struct blkif_request r;
	uint32_t k;

	setup_grefs();
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.op, BLKIF_OP_FLUSH_DISKCACHE);
	CU_ASSERT_EQUAL(p.nparts, 1);
	CU_ASSERT_EQUAL(p.ngrants, 0);
	pvb_plan_part(&c, &x, &p, 0, &part);
	CU_ASSERT_EQUAL(part.nsegs, 0);
	pvb_encode(&c, &part, 4, grefs, NULL, NULL, &r);
	CU_ASSERT_EQUAL(r.operation, BLKIF_OP_FLUSH_DISKCACHE);
	CU_ASSERT_EQUAL(r.nr_segments, 0);
	CU_ASSERT_EQUAL(r.id, 4);

	c.barrier = true;
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.op, BLKIF_OP_WRITE_BARRIER);
	c.flush = c.barrier = false; /* nothing to flush: succeed at once */
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.nparts, 0);

	/* FUA by barrier: never indirect, so 20 pages are 11 + 9 */
	c = conn(32);
	c.barrier = true;
	x = io(PVB_IO_WRITE, 64, 160);
	x.fua = true;
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.op, BLKIF_OP_WRITE_BARRIER);
	CU_ASSERT_EQUAL(p.nparts, 2);
	CU_ASSERT_EQUAL(p.ngrants, 20);
	for (k = 0; k < 2; k++) {
		pvb_plan_part(&c, &x, &p, k, &part);
		CU_ASSERT_EQUAL(part.op, BLKIF_OP_WRITE_BARRIER);
		CU_ASSERT_EQUAL(part.nsegs, k ? 9 : 11);
		CU_ASSERT_EQUAL(part.sector, k ? 64 + 88 : 64);
	}
	pvb_encode(&c, &part, 1, grefs, NULL, NULL, &r);
	CU_ASSERT_EQUAL(r.operation, BLKIF_OP_WRITE_BARRIER);
	CU_ASSERT_EQUAL(r.nr_segments, 9);
	/* FUA without barrier (only after a reconnect): a plain write */
	c.barrier = false;
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.op, BLKIF_OP_WRITE);
	CU_ASSERT_EQUAL(p.nparts, 1);
}

static void test_discard(void)
{
	struct pvb_conn c = conn(0);
	struct pvb_io x = io(PVB_IO_DISCARD, 4096, 2048);
	struct pvb_plan p;
	struct pvb_part part;
	struct blkif_request r;
	struct blkif_request_discard *d = (struct blkif_request_discard *)&r;

	CU_ASSERT_EQUAL(pvb_plan_io(&c, &x, &p), -EOPNOTSUPP);
	c.discard = true;
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	CU_ASSERT_EQUAL(p.op, BLKIF_OP_DISCARD);
	CU_ASSERT_EQUAL(p.nparts, 1);
	CU_ASSERT_EQUAL(p.ngrants, 0);
	pvb_plan_part(&c, &x, &p, 0, &part);
	pvb_encode(&c, &part, 12, NULL, NULL, NULL, &r);
	CU_ASSERT_EQUAL(d->operation, BLKIF_OP_DISCARD);
	CU_ASSERT_EQUAL(d->flag, 0);
	CU_ASSERT_EQUAL(d->id, 12);
	CU_ASSERT_EQUAL(d->sector_number, 4096);
	CU_ASSERT_EQUAL(d->nr_sectors, 2048);

	x.kind = PVB_IO_SECURE_ERASE;
	CU_ASSERT_EQUAL(pvb_plan_io(&c, &x, &p), -EOPNOTSUPP);
	c.secure_discard = true;
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	pvb_plan_part(&c, &x, &p, 0, &part);
	pvb_encode(&c, &part, 12, NULL, NULL, NULL, &r);
	CU_ASSERT_EQUAL(d->flag, BLKIF_DISCARD_SECURE);

	/* in 4 KiB wire units */
	c.unit = 4096;
	x = io(PVB_IO_DISCARD, 8, 16);
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	pvb_plan_part(&c, &x, &p, 0, &part);
	CU_ASSERT_EQUAL(part.sector, 1);
	CU_ASSERT_EQUAL(part.nr_sectors, 2);
	x = io(PVB_IO_DISCARD, 4, 16);
	CU_ASSERT_EQUAL(pvb_plan_io(&c, &x, &p), -EINVAL);
	x = io(PVB_IO_DISCARD, 8, 0);
	CU_ASSERT_EQUAL(pvb_plan_io(&c, &x, &p), -EINVAL);
}

static void test_readonly_and_bad_requests(void)
{
	struct pvb_conn c = conn(32);
	struct pvb_io x = io(PVB_IO_WRITE, 0, 8);
	struct pvb_plan p;
	struct pvb_part part;
	struct blkif_request r;

	setup_grefs();
	c.readonly = true;
	c.discard = true;
	CU_ASSERT_EQUAL(pvb_plan_io(&c, &x, &p), -EROFS);
	x.kind = PVB_IO_DISCARD;
	CU_ASSERT_EQUAL(pvb_plan_io(&c, &x, &p), -EROFS);
	x.kind = PVB_IO_READ;
	CU_ASSERT_EQUAL(pvb_plan_io(&c, &x, &p), 0);
	x.kind = PVB_IO_FLUSH;
	CU_ASSERT_EQUAL(pvb_plan_io(&c, &x, &p), 0);

	c = conn(32);
	x = io(PVB_IO_READ, 0, 0);
	CU_ASSERT_EQUAL(pvb_plan_io(&c, &x, &p), -EINVAL);
	x = io((enum pvb_io_kind)99, 0, 8);
	CU_ASSERT_EQUAL(pvb_plan_io(&c, &x, &p), -EINVAL);
	c.unit = 3000;
	x = io(PVB_IO_READ, 0, 8);
	CU_ASSERT_EQUAL(pvb_plan_io(&c, &x, &p), -EINVAL);

	/* 4 KiB wire units: sectors divide by 8, a page is one sector */
	c.unit = 4096;
	x = io(PVB_IO_READ, 16, 8);
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	pvb_plan_part(&c, &x, &p, 0, &part);
	CU_ASSERT_EQUAL(part.sector, 2);
	pvb_encode(&c, &part, 0, grefs, NULL, NULL, &r);
	CU_ASSERT_EQUAL(r.sector_number, 2);
	CU_ASSERT_EQUAL(r.seg[0].last_sect, 0);
	x = io(PVB_IO_READ, 3, 8);
	CU_ASSERT_EQUAL(pvb_plan_io(&c, &x, &p), -EINVAL);
	x = io(PVB_IO_READ, 8, 4);
	CU_ASSERT_EQUAL(pvb_plan_io(&c, &x, &p), -EINVAL);
	/* a split in 4 KiB units: the second part starts 11 sectors on */
	c.indirect_segments = 0;
	x = io(PVB_IO_WRITE, 80, 12 * 8);
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&c, &x, &p), 0);
	pvb_plan_part(&c, &x, &p, 1, &part);
	CU_ASSERT_EQUAL(part.sector, 10 + 11);
}

/* ------------------------------------------------------------------ */
/* shadow table and responses on a real ring                           */

#define RING_SLOTS 32

struct rig {
	void *page;
	struct blkif_sring *sring;
	struct blkif_front_ring front;
	struct blkif_back_ring back;
	struct pvb_shadow sh[RING_SLOTS];
	struct pvb_ring r;
	struct pvb_conn c;
	/* what the callback saw */
	uint32_t seen[64];
	int16_t status[64];
	int nseen;
	int fail_at; /* callback fails on this call (-1: never) */
};

static void rig_init(struct rig *g, RING_IDX start)
{
	memset(g, 0, sizeof(*g));
	g->page = aligned_alloc(4096, 4096);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g->page);
	memset(g->page, 0, 4096);
	g->sring = g->page;
	SHARED_RING_INIT(g->sring);
	FRONT_RING_INIT(&g->front, g->sring, 4096);
	BACK_RING_INIT(&g->back, g->sring, 4096);
	CU_ASSERT_EQUAL_FATAL(RING_SIZE(&g->front), RING_SLOTS);
	/* start the indexes anywhere, e.g. just before they wrap */
	g->sring->req_prod = g->sring->rsp_prod = start;
	g->sring->req_event = g->sring->rsp_event = start + 1;
	g->front.req_prod_pvt = g->front.rsp_cons = start;
	g->back.req_cons = g->back.rsp_prod_pvt = start;
	pvb_ring_init(&g->r, g->sh, RING_SLOTS);
	g->c = conn(32);
	g->fail_at = -1;
}

static void rig_free(struct rig *g)
{
	free(g->page);
}

/* Send a read of one page (or an indirect write); returns its id. */
static uint32_t rig_send(struct rig *g, bool indirect)
{
	static struct blkif_request_segment page[PVB_SEGS_PER_INDIRECT_PAGE];
	struct blkif_request_segment *pages[1] = { page };
	grant_ref_t ig[1] = { 99 };
	struct pvb_io x = io(indirect ? PVB_IO_WRITE : PVB_IO_READ, 0, indirect ? 128 : 8);
	struct pvb_plan p;
	struct pvb_part part;
	uint32_t id;
	int notify;

	setup_grefs();
	CU_ASSERT_EQUAL_FATAL(pvb_plan_io(&g->c, &x, &p), 0);
	pvb_plan_part(&g->c, &x, &p, 0, &part);
	id = pvb_id_get(&g->r);
	CU_ASSERT_NOT_EQUAL_FATAL(id, PVB_NO_ID);
	pvb_encode(&g->c, &part, id, grefs, ig, pages, &g->r.sh[id].req);
	pvb_ring_send(&g->r, &g->front, id, &part);
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&g->front, notify);
	(void)notify;
	return id;
}

/* The backend: take one request off the ring; returns its id. */
static uint64_t back_take(struct rig *g, uint8_t *op)
{
	struct blkif_request req;

	CU_ASSERT_FATAL(RING_HAS_UNCONSUMED_REQUESTS(&g->back));
	RING_COPY_REQUEST(&g->back, g->back.req_cons, &req);
	g->back.req_cons++;
	*op = req.operation;
	if (req.operation == BLKIF_OP_INDIRECT)
		*op = ((struct blkif_request_indirect *)&req)->indirect_op;
	return req.id;
}

static void back_respond(struct rig *g, uint64_t id, uint8_t op, int16_t status)
{
	struct blkif_response *rsp = RING_GET_RESPONSE(&g->back, g->back.rsp_prod_pvt);
	int notify;

	rsp->id = id;
	rsp->operation = op;
	rsp->status = status;
	g->back.rsp_prod_pvt++;
	RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&g->back, notify);
	(void)notify;
}

static int on_rsp(void *ctx, uint32_t id, const struct blkif_response *rsp)
{
	struct rig *g = ctx;

	CU_ASSERT_EQUAL(g->r.sh[id].state, PVB_SH_ANSWERED);
	if (g->nseen == g->fail_at)
		return -EIO;
	g->seen[g->nseen] = id;
	g->status[g->nseen] = rsp->status;
	g->nseen++;
	return 0;
}

static int rig_poll(struct rig *g, int *err)
{
	return pvb_consume(&g->r, &g->front, g->sring->rsp_prod, on_rsp, g, err);
}

static void test_ids(void)
{
	struct pvb_shadow sh[RING_SLOTS];
	struct pvb_ring r;
	uint32_t seen[RING_SLOTS] = { 0 };
	uint32_t i, id;

	pvb_ring_init(&r, sh, RING_SLOTS);
	CU_ASSERT_EQUAL(r.nfree, RING_SLOTS);
	for (i = 0; i < RING_SLOTS; i++) {
		id = pvb_id_get(&r);
		CU_ASSERT_FATAL(id < RING_SLOTS);
		CU_ASSERT_EQUAL(seen[id], 0);
		seen[id] = 1;
		CU_ASSERT_EQUAL(sh[id].state, PVB_SH_INFLIGHT);
	}
	CU_ASSERT_EQUAL(r.nfree, 0);
	CU_ASSERT_EQUAL(pvb_id_get(&r), PVB_NO_ID);
	CU_ASSERT_EQUAL(pvb_id_put(&r, 5), 0);
	CU_ASSERT_EQUAL(pvb_id_put(&r, 5), -EINVAL); /* twice */
	CU_ASSERT_EQUAL(pvb_id_put(&r, RING_SLOTS), -EINVAL);
	CU_ASSERT_EQUAL(pvb_id_put(&r, PVB_NO_ID), -EINVAL);
	CU_ASSERT_EQUAL(r.nfree, 1);
	CU_ASSERT_EQUAL(pvb_id_get(&r), 5);
	CU_ASSERT_EQUAL(pvb_id_get(&r), PVB_NO_ID);
}

static void test_responses_good(void)
{
	struct rig g;
	uint32_t ids[3];
	uint64_t bid[3];
	uint8_t op[3];
	int err = -1, i;

	rig_init(&g, 0);
	for (i = 0; i < 3; i++)
		ids[i] = rig_send(&g, i == 2);
	CU_ASSERT_EQUAL(g.sring->req_prod, 3);
	CU_ASSERT_EQUAL(g.r.nfree, RING_SLOTS - 3);
	for (i = 0; i < 3; i++)
		bid[i] = back_take(&g, &op[i]);
	CU_ASSERT_EQUAL(bid[0], ids[0]);
	CU_ASSERT_EQUAL(op[0], BLKIF_OP_READ);
	CU_ASSERT_EQUAL(op[2], BLKIF_OP_WRITE);
	/* answered out of order; the indirect one with indirect_op */
	back_respond(&g, bid[2], op[2], BLKIF_RSP_OKAY);
	back_respond(&g, bid[0], op[0], BLKIF_RSP_ERROR);
	back_respond(&g, bid[1], op[1], BLKIF_RSP_OKAY);
	CU_ASSERT_EQUAL(rig_poll(&g, &err), 3);
	CU_ASSERT_EQUAL(err, PVB_RSP_OK);
	CU_ASSERT_EQUAL(g.nseen, 3);
	CU_ASSERT_EQUAL(g.seen[0], ids[2]);
	CU_ASSERT_EQUAL(g.seen[1], ids[0]);
	CU_ASSERT_EQUAL(g.status[1], BLKIF_RSP_ERROR);
	CU_ASSERT_EQUAL(g.front.rsp_cons, 3);
	CU_ASSERT_EQUAL(g.r.nfree, RING_SLOTS);
	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(g.sh[ids[i]].state, PVB_SH_FREE);
	/* nothing more: nothing happens */
	CU_ASSERT_EQUAL(rig_poll(&g, &err), 0);
	rig_free(&g);
}

static void test_responses_indirect_op(void)
{
	struct rig g;
	uint8_t op;
	uint64_t id;
	int err;

	rig_init(&g, 0);
	rig_send(&g, true);
	id = back_take(&g, &op);
	back_respond(&g, id, BLKIF_OP_INDIRECT, BLKIF_RSP_OKAY); /* also fine */
	CU_ASSERT_EQUAL(rig_poll(&g, &err), 1);
	rig_send(&g, true);
	id = back_take(&g, &op);
	back_respond(&g, id, BLKIF_OP_READ, BLKIF_RSP_OKAY); /* it was a write */
	CU_ASSERT_EQUAL(rig_poll(&g, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, PVB_RSP_BAD_OP);
	rig_free(&g);
}

static void test_responses_hostile(void)
{
	struct rig g;
	uint8_t op;
	uint64_t id, id2;
	int err;

	/* an id beyond the shadow table */
	rig_init(&g, 0);
	rig_send(&g, false);
	id = back_take(&g, &op);
	back_respond(&g, RING_SLOTS, op, BLKIF_RSP_OKAY);
	CU_ASSERT_EQUAL(rig_poll(&g, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, PVB_RSP_BAD_ID);
	CU_ASSERT_EQUAL(g.nseen, 0);
	CU_ASSERT_EQUAL(g.front.rsp_cons, 0); /* not consumed */
	CU_ASSERT_EQUAL(g.sh[id].state, PVB_SH_INFLIGHT);
	rig_free(&g);

	/* 64-bit ids whose low bits name a good slot */
	rig_init(&g, 0);
	rig_send(&g, false);
	id = back_take(&g, &op);
	back_respond(&g, id | 1ull << 32, op, BLKIF_RSP_OKAY);
	CU_ASSERT_EQUAL(rig_poll(&g, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, PVB_RSP_BAD_ID);
	rig_free(&g);

	/* an id never sent */
	rig_init(&g, 0);
	id = rig_send(&g, false);
	back_take(&g, &op);
	back_respond(&g, id + 1, op, BLKIF_RSP_OKAY);
	CU_ASSERT_EQUAL(rig_poll(&g, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, PVB_RSP_NOT_PENDING);
	rig_free(&g);

	/* a duplicate completion in the same batch, and in a later one */
	rig_init(&g, 0);
	rig_send(&g, false);
	rig_send(&g, false);
	id = back_take(&g, &op);
	id2 = back_take(&g, &op);
	back_respond(&g, id, op, BLKIF_RSP_OKAY);
	back_respond(&g, id, op, BLKIF_RSP_OKAY);
	CU_ASSERT_EQUAL(rig_poll(&g, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, PVB_RSP_NOT_PENDING);
	CU_ASSERT_EQUAL(g.nseen, 1);
	CU_ASSERT_EQUAL(g.front.rsp_cons, 1);
	rig_free(&g);
	rig_init(&g, 0);
	rig_send(&g, false);
	rig_send(&g, false);
	id = back_take(&g, &op);
	id2 = back_take(&g, &op);
	back_respond(&g, id, op, BLKIF_RSP_OKAY);
	CU_ASSERT_EQUAL(rig_poll(&g, &err), 1);
	back_respond(&g, id, op, BLKIF_RSP_OKAY);
	CU_ASSERT_EQUAL(rig_poll(&g, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, PVB_RSP_NOT_PENDING);
	CU_ASSERT_EQUAL(g.sh[id2].state, PVB_SH_INFLIGHT);
	rig_free(&g);

	/* the wrong operation */
	rig_init(&g, 0);
	rig_send(&g, false);
	id = back_take(&g, &op);
	back_respond(&g, id, BLKIF_OP_WRITE, BLKIF_RSP_OKAY);
	CU_ASSERT_EQUAL(rig_poll(&g, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, PVB_RSP_BAD_OP);
	CU_ASSERT_EQUAL(g.nseen, 0);
	rig_free(&g);
}

static void test_rsp_prod_ahead(void)
{
	struct rig g;
	uint8_t op;
	uint64_t id;
	int err;

	rig_init(&g, 0);
	rig_send(&g, false);
	id = back_take(&g, &op);
	back_respond(&g, id, op, BLKIF_RSP_OKAY);
	/* far beyond the ring */
	CU_ASSERT_EQUAL(pvb_consume(&g.r, &g.front, 1000, on_rsp, &g, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, PVB_RSP_TOO_MANY);
	CU_ASSERT_EQUAL(pvb_consume(&g.r, &g.front, RING_SLOTS + 1, on_rsp, &g, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, PVB_RSP_TOO_MANY);
	/* within the ring but more than the one request outstanding */
	CU_ASSERT_EQUAL(pvb_consume(&g.r, &g.front, 2, on_rsp, &g, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, PVB_RSP_TOO_MANY);
	/* behind rsp_cons */
	CU_ASSERT_EQUAL(pvb_consume(&g.r, &g.front, (RING_IDX)-1, on_rsp, &g, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, PVB_RSP_TOO_MANY);
	CU_ASSERT_EQUAL(g.nseen, 0);
	CU_ASSERT_EQUAL(g.front.rsp_cons, 0);
	/* the honest value still works */
	CU_ASSERT_EQUAL(pvb_consume(&g.r, &g.front, 1, on_rsp, &g, &err), 1);
	CU_ASSERT_EQUAL(err, PVB_RSP_OK);
	rig_free(&g);
}

static void test_callback_failure(void)
{
	struct rig g;
	uint8_t op;
	uint64_t a, b;
	int err;

	rig_init(&g, 0);
	rig_send(&g, false);
	rig_send(&g, false);
	a = back_take(&g, &op);
	b = back_take(&g, &op);
	back_respond(&g, a, op, BLKIF_RSP_OKAY);
	back_respond(&g, b, op, BLKIF_RSP_OKAY);
	g.fail_at = 1;
	CU_ASSERT_EQUAL(rig_poll(&g, &err), -EIO);
	CU_ASSERT_EQUAL(err, PVB_RSP_OK);
	CU_ASSERT_EQUAL(g.front.rsp_cons, 2); /* consumed */
	CU_ASSERT_EQUAL(g.sh[a].state, PVB_SH_FREE);
	CU_ASSERT_EQUAL(g.sh[b].state, PVB_SH_ANSWERED); /* left for teardown */
	CU_ASSERT_EQUAL(g.r.nfree, RING_SLOTS - 1);
	rig_free(&g);
}

static void on_abort(void *ctx, uint32_t id)
{
	struct rig *g = ctx;

	CU_ASSERT_NOT_EQUAL(g->sh[id].state, PVB_SH_FREE);
	g->seen[g->nseen++] = id;
}

/*
 * A broken ring fails what it holds without a teardown: the requests in
 * flight and the one whose completion failed are given up, every id is
 * free again, and a late response to one of them is refused.
 */
static void test_abort(void)
{
	struct rig g;
	uint32_t ids[4], got = 0;
	uint64_t a, b;
	uint8_t op;
	int err, i, j;

	rig_init(&g, 0);
	for (i = 0; i < 4; i++)
		ids[i] = rig_send(&g, i == 3);
	a = back_take(&g, &op);
	back_respond(&g, a, op, BLKIF_RSP_OKAY);
	b = back_take(&g, &op);
	back_respond(&g, b, op, BLKIF_RSP_OKAY);
	g.fail_at = 1; /* the second completion fails: b stays ANSWERED */
	CU_ASSERT_EQUAL(rig_poll(&g, &err), -EIO);
	CU_ASSERT_EQUAL(g.sh[a].state, PVB_SH_FREE);
	CU_ASSERT_EQUAL(g.sh[b].state, PVB_SH_ANSWERED);
	CU_ASSERT_EQUAL(g.r.nfree, RING_SLOTS - 3);

	g.nseen = 0;
	CU_ASSERT_EQUAL(pvb_ring_abort(&g.r, on_abort, &g), 3);
	CU_ASSERT_EQUAL(g.nseen, 3);
	for (i = 1; i < 4; i++)
		for (j = 0; j < g.nseen; j++)
			if (g.seen[j] == ids[i])
				got++;
	CU_ASSERT_EQUAL(got, 3); /* b and the two never answered */
	CU_ASSERT_EQUAL(g.r.nfree, RING_SLOTS);
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(g.sh[ids[i]].state, PVB_SH_FREE);
	/* nothing left: a second abort finds nothing */
	CU_ASSERT_EQUAL(pvb_ring_abort(&g.r, on_abort, &g), 0);
	CU_ASSERT_EQUAL(g.nseen, 3);

	/* the backend answers an aborted request late: refused */
	g.fail_at = -1;
	a = back_take(&g, &op);
	back_respond(&g, a, op, BLKIF_RSP_OKAY);
	CU_ASSERT_EQUAL(rig_poll(&g, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, PVB_RSP_NOT_PENDING);

	/* every id can be had again */
	for (i = 0; i < RING_SLOTS; i++)
		CU_ASSERT_NOT_EQUAL(pvb_id_get(&g.r), PVB_NO_ID);
	CU_ASSERT_EQUAL(pvb_id_get(&g.r), PVB_NO_ID);
	rig_free(&g);
}

static void test_index_wrap(void)
{
	struct rig g;
	uint8_t op;
	uint64_t id;
	int err, i, total = 0;

	rig_init(&g, 0xfffffff0u);
	for (int round = 0; round < 3; round++) {
		for (i = 0; i < 20; i++)
			rig_send(&g, i % 3 == 0);
		for (i = 0; i < 20; i++) {
			id = back_take(&g, &op);
			back_respond(&g, id, op, BLKIF_RSP_OKAY);
		}
		total += rig_poll(&g, &err);
		CU_ASSERT_EQUAL(err, PVB_RSP_OK);
	}
	CU_ASSERT_EQUAL(total, 60);
	CU_ASSERT_EQUAL(g.front.rsp_cons, 0xfffffff0u + 60);
	CU_ASSERT_EQUAL(g.r.nfree, RING_SLOTS);
	rig_free(&g);
}

static void test_status(void)
{
	CU_ASSERT_EQUAL(pvb_status_errno(BLKIF_RSP_OKAY), 0);
	CU_ASSERT_EQUAL(pvb_status_errno(BLKIF_RSP_EOPNOTSUPP), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(pvb_status_errno(BLKIF_RSP_ERROR), -EIO);
	CU_ASSERT_EQUAL(pvb_status_errno(42), -EIO);
	CU_ASSERT_STRING_EQUAL(pvb_rsp_error_str(PVB_RSP_BAD_ID), "response id out of range");
	CU_ASSERT_STRING_EQUAL(pvb_rsp_error_str(1234), "unknown error");
}

int main(void)
{
	static const struct cunit_test tests[] = {
		{ "ring order and size", test_ring_order },
		{ "queue count", test_queues },
		{ "indirect segments", test_indirect_segments },
		{ "geometry and sector units", test_geometry },
		{ "flush and barrier features", test_features_flush },
		{ "persistent, read-only, discard features", test_features_other },
		{ "xvd names", test_vdev_names },
		{ "direct requests", test_direct },
		{ "split without indirect", test_split_without_indirect },
		{ "indirect requests", test_indirect },
		{ "requeue to a smaller backend", test_indirect_split_after_reconnect },
		{ "flush, barrier and FUA", test_flush_barrier },
		{ "discard and secure discard", test_discard },
		{ "read-only and bad requests", test_readonly_and_bad_requests },
		{ "shadow ids", test_ids },
		{ "good responses", test_responses_good },
		{ "indirect response operation", test_responses_indirect_op },
		{ "hostile responses", test_responses_hostile },
		{ "rsp_prod ahead", test_rsp_prod_ahead },
		{ "completion failure", test_callback_failure },
		{ "abort a broken ring", test_abort },
		{ "index wrap", test_index_wrap },
		{ "status codes", test_status },
	};

	return CUNIT_MAIN("blkfront core", NULL, NULL, tests);
}
