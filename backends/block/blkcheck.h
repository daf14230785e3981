/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The rules a block backend holds a guest's request to, as pure functions
 * over the backend's private, decoded copy of it (blkif.h's blk_decode()):
 * which operation, how many segments, which bytes of the store.  No guest
 * memory, no I/O, no state: the dataplane calls them and counts the
 * verdicts, the fuzzer (tests/fuzz/fuzz_blkreq.c) checks that nothing they
 * accept reaches outside the store.
 *
 * A request is checked in two steps, because an indirect request's
 * segments live in pages the backend must fetch first: blk_check_req() on
 * the header, then, for a request with data, blk_check_segs() on the
 * segments (the request's own, or the fetched copy of the indirect ones).
 */
#ifndef PVSPLIT_BLK_BLKCHECK_H
#define PVSPLIT_BLK_BLKCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "blkif.h"

/* The most segments an indirect request can carry (its pages, full). */
#define BLK_MAX_SEGS_INDIRECT (BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * BLK_SEGS_PER_INDIRECT_PAGE)

/* What the backend offers and what its store is. */
struct blk_limits {
	uint64_t size; /* bytes */
	/* Bytes per sector number: 512, or the sector size with
	 * feature-large-sector-size; it divides XEN_PAGE_SIZE. */
	uint32_t unit;
	uint32_t logical; /* the store's logical block: a multiple of 512 */
	/* Segments of BLKIF_OP_INDIRECT, at most BLK_MAX_SEGS_INDIRECT; 0: not offered. */
	uint32_t max_indirect;
	bool barrier;	     /* feature-barrier */
	bool flush;	     /* feature-flush-cache */
	bool discard;	     /* feature-discard */
	bool secure_discard; /* discard-secure */
	bool readonly;	     /* mode r */
};

/* A refusal; each is one of the backend's error counters. */
enum blk_verdict {
	BLK_OK = 0,
	BLK_BAD_OP,	 /* unknown operation, or INDIRECT not offered, or its op */
	BLK_BAD_SEGS,	 /* the segment count, or a segment's sectors */
	BLK_BAD_RANGE,	 /* beyond the store, or not on its logical blocks */
	BLK_READONLY,	 /* data or a discard for a read-only device */
	BLK_UNSUPPORTED, /* a feature not offered: BLKIF_RSP_EOPNOTSUPP */
};

/* What a request asks, once checked. */
struct blk_plan {
	uint8_t op;	  /* READ, WRITE, FLUSH_DISKCACHE, WRITE_BARRIER, DISCARD;
			     INDIRECT's own op once known */
	uint32_t nsegs;	  /* data segments; 0: none (a bare flush or barrier) */
	bool indirect;	  /* the segments are in indirect pages, to be fetched */
	bool flush_first; /* FLUSH_DISKCACHE with data: flush, write, then flush */
	uint64_t off;	  /* bytes into the store (DISCARD: by blk_check_req();
			     data: by blk_check_segs()) */
	uint64_t len;
};

/*
 * The header.  Returns BLK_OK or why not; plan->op is set either way (for
 * the counters).  BLK_OK with plan->nsegs > 0: the segments still need
 * blk_check_segs(), after an indirect request's are fetched.
 */
enum blk_verdict blk_check_req(const struct blk_req *r, const struct blk_limits *l,
			       struct blk_plan *plan);

/*
 * The segments (plan->nsegs of them, from the backend's private copy):
 * each within its page and on the store's logical blocks, the whole within
 * the store from r->sector_number.  Returns BLK_OK (plan->off and
 * plan->len set) or why not.
 */
enum blk_verdict blk_check_segs(const struct blk_req *r, const struct blkif_request_segment *segs,
				const struct blk_limits *l, struct blk_plan *plan);

/* The response status for a verdict: BLKIF_RSP_OKAY, _EOPNOTSUPP or _ERROR. */
int16_t blk_verdict_status(enum blk_verdict v);

#endif
