/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpvsplit-front (block): a userspace blkfront over libpvsplit-hv.  It
 * runs as a guest would, on the sim or in a real guest (gntalloc, evtchn,
 * xenbus): negotiates every blkif feature (each can be switched off), keeps
 * its data in a pool of granted pages, and treats the backend as untrusted
 * (responses are copied once and checked against the request they answer).
 * Used by the sim-tier tests and pvsplit-bench.  Returns -errno.
 */
#ifndef PVSPLIT_FRONT_BLKFRONT_H
#define PVSPLIT_FRONT_BLKFRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvsplit/hv.h"

#include "block/blkif.h"

struct pvf_blk;

struct pvf_blk_opts {
	uint32_t devid;	       /* virtual-device, e.g. 51712 (xvda) */
	bool persistent;       /* advertise feature-persistent */
	bool indirect;	       /* use BLKIF_OP_INDIRECT when offered */
	uint32_t ring_order;   /* wanted ring-page-order (capped by the backend) */
	uint32_t queues;       /* wanted queues (capped by the backend), 0 = 1 */
	bool large_sectors;    /* feature-large-sector-size */
	const char *protocol;  /* NULL: native; "x86_32-abi" or "x86_64-abi" */
	uint32_t pool_pages;   /* granted data pages for pvf_blk_alloc() (default 1024) */
	uint32_t timeout_ms;   /* for each xenbus wait (default 10000) */
	uint32_t max_indirect; /* cap on indirect segments (0: the backend's) */
};

void pvf_blk_opts_default(struct pvf_blk_opts *o);

struct pvf_blk_info {
	uint64_t sectors;     /* as the backend says, in sector_unit bytes */
	uint32_t sector_unit; /* bytes per sector number on the wire (512, or sector_size) */
	uint32_t sector_size; /* logical */
	uint32_t physical_sector_size;
	uint64_t size; /* bytes */
	bool readonly, cdrom, removable;
	bool flush, barrier, discard, secure_discard;
	uint32_t discard_granularity;
	uint32_t max_segments; /* per request: 11, or the indirect maximum */
	uint32_t queues, ring_pages, ring_entries;
	bool persistent;
	const char *protocol;
};

/*
 * Connect device opts->devid of our domain: the toolstack has written the
 * frontend and backend directories.  Waits for the backend (InitWait),
 * publishes rings and features, waits for Connected.  0 or -errno
 * (-ETIMEDOUT naming nothing: the caller knows the device).
 */
int pvf_blk_open(struct pvhv *hv, const struct pvf_blk_opts *opts, struct pvf_blk **out);
/* Close: switch to Closing then Closed, wait for the backend, end access. */
void pvf_blk_close(struct pvf_blk *b);
/* Leave without telling anyone (a guest that died): for tests. */
void pvf_blk_abandon(struct pvf_blk *b);
void pvf_blk_get_info(const struct pvf_blk *b, struct pvf_blk_info *info);
/* Re-read "sectors" (after the backend re-announced Connected). */
int pvf_blk_refresh(struct pvf_blk *b);

/*
 * Take bytes (rounded up to pages) of the granted data pool for the
 * caller's I/O buffers; never straddles two grant shares.  NULL when the
 * pool (opts.pool_pages) is used up.  Freed with the device.
 */
void *pvf_blk_alloc(struct pvf_blk *b, size_t bytes);

/* ---- asynchronous I/O ---- */

enum pvf_op { PVF_READ, PVF_WRITE, PVF_FLUSH, PVF_BARRIER, PVF_DISCARD, PVF_SECURE_DISCARD };

/* Completion: status is BLKIF_RSP_OKAY (0), BLKIF_RSP_ERROR or BLKIF_RSP_EOPNOTSUPP. */
typedef void (*pvf_blk_done)(void *cookie, int status);

/*
 * Queue a request on queue q: len bytes at byte offset off, buf inside the
 * pool (page aligned per segment; len a multiple of the sector size).
 * PVF_FLUSH with data is a write with the cache flush before it (at most
 * BLKIF_MAX_SEGMENTS_PER_REQUEST segments), as Linux sends REQ_PREFLUSH.
 * Becomes visible to the backend at pvf_blk_kick().  0, -EAGAIN (the ring
 * or the slots are full: reap first), -EINVAL.
 */
int pvf_blk_submit(struct pvf_blk *b, uint32_t q, enum pvf_op op, uint64_t off, void *buf,
		   size_t len, pvf_blk_done done, void *cookie);
/* Push queued requests of every queue, notifying the backend if it asks. */
void pvf_blk_kick(struct pvf_blk *b);
/*
 * Reap completions, waiting up to timeout_ms (-1: forever, 0: no wait) for
 * at least one.  Returns the number reaped, -ETIMEDOUT, or -EPROTO when the
 * backend misbehaved (the device is then unusable).
 */
int pvf_blk_reap(struct pvf_blk *b, int timeout_ms);
/* Requests in flight. */
uint32_t pvf_blk_inflight(const struct pvf_blk *b);

/* ---- synchronous helpers (copy through the pool) ---- */

int pvf_blk_read(struct pvf_blk *b, uint64_t off, void *buf, size_t len);
int pvf_blk_write(struct pvf_blk *b, uint64_t off, const void *buf, size_t len);
int pvf_blk_flush(struct pvf_blk *b);
int pvf_blk_barrier(struct pvf_blk *b, uint64_t off, const void *buf, size_t len);
int pvf_blk_discard(struct pvf_blk *b, uint64_t off, uint64_t len, bool secure);
/* Map a status to -errno: 0, -EIO, -EOPNOTSUPP. */
int pvf_blk_status_errno(int status);

/* ---- for hostile tests ---- */

/*
 * Put raw bytes (one ring entry, already in the negotiated ABI) on queue q
 * and push; the completion arrives as a response with that id, reported by
 * pvf_blk_reap() through raw_done.  -EAGAIN when the ring is full.
 */
typedef void (*pvf_blk_raw_done)(void *opaque, uint64_t id, uint8_t op, int16_t status);
void pvf_blk_set_raw_done(struct pvf_blk *b, pvf_blk_raw_done fn, void *opaque);
int pvf_blk_raw_request(struct pvf_blk *b, uint32_t q, const void *entry);
/* The same without pushing: several requests become visible at pvf_blk_kick(). */
int pvf_blk_raw_queue(struct pvf_blk *b, uint32_t q, const void *entry);
/* Encode a request in the negotiated ABI (for pvf_blk_raw_*). */
void pvf_blk_encode(const struct pvf_blk *b, void *entry, const struct blk_req *req);
/* Set the shared req_prod of queue q to a value of our choosing, and notify. */
void pvf_blk_raw_set_req_prod(struct pvf_blk *b, uint32_t q, uint32_t req_prod);
/* The grant ref of the pool page holding p (for hand-made requests). */
int pvf_blk_pool_ref(struct pvf_blk *b, const void *p, uint32_t *ref);
/* The negotiated ABI's ring entry size. */
size_t pvf_blk_entry_size(const struct pvf_blk *b);
/* Backend path and frontend path. */
const char *pvf_blk_backend_path(const struct pvf_blk *b);
const char *pvf_blk_frontend_path(const struct pvf_blk *b);

#endif
