/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vbd dataplane's own state, shared by its files: dataplane.c (the
 * rings, the request path, io_uring, setup and stats) and buffers.c (where
 * a request's data lives: persistent grants, a mapping for the request, or
 * grant copy through bounce pages).  Not a public header.
 */
#ifndef PVSPLIT_BLOCK_DPINT_H
#define PVSPLIT_BLOCK_DPINT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <liburing.h>

#include "core/gntcache.h"
#include "core/journal.h"
#include "core/ring.h"

#include "blkcheck.h"
#include "dataplane.h"

#define PAGE	     XEN_PAGE_SIZE
#define SECT	     512u
#define SECTS_PER_PG (PAGE / SECT)

#define LAT_BUCKETS 24 /* [2^i, 2^(i+1)) us; the last one open */

struct blk_qstats {
	uint64_t kicks;
	uint64_t reads, writes, flushes, barriers, discards, indirect;
	uint64_t redone; /* taken from the journal of the daemon before us, done again */
	uint64_t segments, bytes_read, bytes_written;
	uint64_t err_op, err_segs, err_range, err_grant, err_readonly, err_id_reuse, err_io,
		err_unsupported;
	uint64_t grants_copied;
	uint64_t indirect_cached;    /* indirect pages read through the persistent cache */
	uint64_t grants_mapped_once; /* for one request: beyond a full cache, or --map-min */
	uint64_t map_refused;	     /* requests whose map failed, copied instead */
	uint64_t copied_for_room;    /* requests copied: the daemon's mappings at their limit */
	uint64_t map_waits;	     /* requests parked for the queue's share of mappings */
	uint64_t mapped_peak;	     /* most pages mapped for single requests at once */
	uint64_t notify_sent, notify_suppressed;
	uint64_t page_waits; /* requests parked for bounce pages */
	uint64_t events;     /* event channel wakeups */
	uint64_t polled;     /* rounds of requests or completions found by polling */
	/* Transfers of BIG_IO and more: handed to an io_uring worker, or copied
	 * in the ring loop's own submission (one CPU). */
	uint64_t big_async, big_inline;
	/* io_uring completions found right after submitting (done inline, in
	 * io_uring_enter) and on a later wakeup (a worker or the device). */
	uint64_t reaped_at_submit, reaped_later;
	uint64_t cq_empty;     /* the ring's fd woke us with nothing to reap */
	uint64_t sq_full;      /* submissions made early: no room for a request's operations */
	uint64_t late_submits; /* made by batch_end(): operations prepared after the last one */
	uint64_t clock_reads;  /* CLOCK_MONOTONIC reads for the timings (qnow()) */
	/* Service time, ring to response, and the part of it in the store (io_uring):
	 * buckets of powers of two microseconds. */
	uint64_t lat[LAT_BUCKETS], io_lat[LAT_BUCKETS];
};

enum io_kind { IO_RW, IO_FLUSH, IO_DISCARD };

/* One request in flight: everything about it lives in this private copy. */
struct blk_io {
	struct blk_queue *q;
	struct pvb_jslot *js; /* the journal slot holding the private copy */
	struct blk_req req;
	uint8_t op; /* READ, WRITE, FLUSH_DISKCACHE, WRITE_BARRIER, DISCARD */
	uint32_t nsegs;
	struct blkif_request_segment *segs; /* direct: req.seg; indirect: segbuf */
	struct blkif_request_segment *segbuf;
	struct iovec *iov;
	struct pvb_gnt **gnts; /* persistent: one per segment */
	uint32_t *extra_refs;  /* grants mapped for this request only (outside a full */
	uint32_t *extra_idx;   /* cache, or all of them: map_min), their segments, */
	void *extra_map;       /* in one mapping, unmapped before the response */
	uint32_t nextra;
	uint32_t ngrants; /* gnts entries taken so far */
	void **pages;	  /* grant copy: bounce pages from the queue's pool */
	uint32_t npages;
	struct blk_io *wait_next; /* waiting for bounce pages */
	uint64_t off, len;
	/* Taken off the ring, handed to io_uring (CLOCK_MONOTONIC ns; t_io 0:
	 * not handed; T_BATCH: in the batch running now, see qnow()). */
	uint64_t t0, t_io;
	int pending; /* io_uring operations outstanding */
	int16_t status;
	bool unstamped; /* t0 or t_io is T_BATCH */
	bool flush_first;
	bool busy;
	bool id_held;	  /* its id is in the queue's table of ids in flight */
	bool no_map;	  /* not mapped (a map refused, no room): grant-copied, decided once */
	uint32_t id_next; /* the next io in its id bucket, plus one (0: none) */
};

struct blk_queue {
	struct blk_dp *dp;
	int idx;
	void *ring_mem;
	struct pvb_ring ring;
	int port;
	struct io_uring uring;
	bool uring_up;
	/* The ring's fd, readable while completions wait: waited for (on demand)
	 * only while requests are in flight. */
	struct pvb_uwait *uw;
	struct pvb_poller *poller; /* busy polling of the ring and the CQ (--poll-us) */
	/* The port's unmask, made by queue_unmask() (unmask_async) or by pvb_evtchn. */
	struct pvhv_evtchn_unmask_op unmask;
	bool unmask_async;
	struct pvb_gntcache *gc;
	uint32_t gc_max;  /* its size */
	uint32_t mapped;  /* guest pages mapped now for single requests (not the cache's) */
	uint32_t map_max; /* this queue's share of the device's mappings (max_mapped) */
	/* The clock (ns) of this batch of requests or completions, read once
	 * and only if needed (0: not yet), see qnow(). */
	uint64_t now;
	uint32_t nunstamped; /* ios holding a T_BATCH time */
	struct blk_io *ios;
	uint32_t *freelist;
	uint32_t nfree;
	uint32_t nios;
	uint32_t inflight;
	struct blk_io *barrier;			  /* waiting for the queue to drain */
	struct blk_io *mem_wait, **mem_wait_tail; /* waiting for bounce pages, in order */
	/* A restarted daemon's requests to do again (ios, in ring order): taken
	 * before the ring's, under the same barrier and bounce-page waits. */
	uint32_t *redo;
	uint32_t nredo, redo_next;
	void **pool; /* free bounce pages */
	uint32_t pool_free, pool_total, pool_budget;
	uint32_t *answered; /* ios whose response is written but not pushed */
	/* Ids of accepted requests not yet answered: buckets of io indices plus one. */
	uint32_t *id_heads;
	uint32_t id_mask;
	uint32_t nanswered;
	bool responses;
	bool dead;
	struct pvb_journal *j;
	struct blk_qstats st;
};

struct blk_dp {
	struct blk_dp_params p;
	struct blk_store *store;
	struct pvhv *hv;
	struct pvb_loop *loop;
	struct pvb_evtchn *ev;
	struct blk_dp_hooks hooks;
	uint32_t max_segs;
	bool async_big;	       /* IOSQE_ASYNC for transfers of BIG_IO and more */
	uint32_t unit;	       /* bytes per sector number */
	struct blk_limits lim; /* what requests are checked against (blkcheck.h) */
	struct blk_queue q[BLK_MAX_QUEUES];
};

/* ---- buffers.c: where a request's data lives ---- */

/* blk_get_buffers() result: no bounce pages free now, retry when some are. */
#define WAIT_PAGES 1

/*
 * Fetch the segment list of an indirect request (the persistent cache, or
 * grant copy) into the request's private copy.  BLKIF_RSP_OKAY or the
 * response to send.
 */
int16_t blk_fetch_indirect(struct blk_queue *q, struct blk_io *io);
/*
 * Give the request buffers for its segments: persistent grants, a mapping
 * for the request (--map-min), or bounce pages for grant copy.
 * BLKIF_RSP_OKAY, WAIT_PAGES (parked: retry when pages come back), or the
 * response to send.
 */
int16_t blk_get_buffers(struct blk_queue *q, struct blk_io *io);
/* The request's data goes by grant copy (no persistent grants, not mapped). */
bool blk_copied(const struct blk_queue *q, const struct blk_io *io);
/* Grant copy between the bounce pages and the guest.  BLKIF_RSP_OKAY or BLKIF_RSP_ERROR. */
int16_t blk_copy_segments(struct blk_queue *q, struct blk_io *io, bool to_guest);
/* Give back what an answered request held; a mapping is undone here, before the answer is published. */
void blk_put_buffers(struct blk_queue *q, struct blk_io *io);

#endif
