/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vbd dataplane: the rings of one connected device, served from the
 * event loop with io_uring.  It never touches xenstore: the control part
 * (vbd.c) reads the frontend's keys and hands over plain values.
 *
 * Per request: copied off the ring once (pvb_ring), decoded for the ABI,
 * validated on the private copy, data reached through persistent grants
 * (mapped once, cached) or grant copy into a bounce buffer, submitted to
 * io_uring in one batch per kick; the response is written when the I/O is
 * done (a write is acknowledged only once the kernel reports it written;
 * FLUSH and WRITE_BARRIER end with an fdatasync).  A malformed request gets
 * BLKIF_RSP_ERROR (or EOPNOTSUPP for a feature not offered) and a counter;
 * a ring whose producer runs impossibly far ahead fails this device only.
 */
#ifndef PVSPLIT_BLK_DATAPLANE_H
#define PVSPLIT_BLK_DATAPLANE_H

#include <stdbool.h>
#include <stdint.h>

#include "pvsplit/hv.h"

#include "core/evtchn.h"
#include "core/loop.h"
#include "core/mapacct.h"

#include "blkif.h"
#include "store.h"

#define BLK_MAX_QUEUES	   16
#define BLK_MAX_RING_ORDER 4 /* 16 pages, as Linux's xen-blkback */
#define BLK_MAX_RING_PAGES (1u << BLK_MAX_RING_ORDER)
#define BLK_MAX_INDIRECT   4096 /* BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST pages of segments */

struct json_object;
struct blk_dp;

/*
 * The default bound on a device's grant mappings in dom0 (64 MiB): its
 * persistent caches' automatic size, and separately the pages it maps for
 * single requests, each shared by its queues (max_mapped).
 */
#define BLK_PERSISTENT_AUTO_MAX 16384u

struct blk_dp_params {
	enum blk_abi abi;
	uint32_t domid;
	uint32_t nr_queues;
	uint32_t nr_ring_pages;
	uint32_t ring_refs[BLK_MAX_QUEUES][BLK_MAX_RING_PAGES];
	uint32_t evtchn[BLK_MAX_QUEUES];
	bool persistent;
	uint32_t persistent_max; /* per queue; 0: ring entries x segments, at most
				    the queue's share of max_mapped */
	uint32_t max_mapped;	 /* 0: BLK_PERSISTENT_AUTO_MAX; a queue's share is
				    max_mapped / nr_queues, at least one request's
				    segments */
	uint32_t map_min;	 /* without persistent grants: a request moving at least
				    this many bytes maps its grants, a smaller one is
				    grant-copied; 0: every request is copied */
	/* The daemon's count of grant mappings (NULL: none): past its limit,
	 * caches stop growing and requests are grant-copied. */
	struct pvb_map_account *acct;
	bool large_sectors;    /* sector numbers in units of sector-size */
	uint32_t max_indirect; /* segments; 0: no BLKIF_OP_INDIRECT */
	bool barrier;
	bool flush;
	bool discard;
	bool readonly;
	/* Restart support: the journal files live in journal_dir (see core/journal.h). */
	const char *journal_dir;
	uint32_t devid;
	bool resume; /* a restarted daemon takes over a live ring: use the journal */
};

struct blk_dp_hooks {
	void *opaque;
	void (*log)(void *opaque, int level, int queue, const char *msg);
	/* The device must be failed (called from a deferred context). */
	void (*fatal)(void *opaque, int queue, int err, const char *msg);
};

/* Map the rings, bind the ports, set up io_uring.  0 or -errno (nothing left behind). */
int blk_dp_start(const struct blk_dp_params *p, struct blk_store *store, struct pvhv *hv,
		 struct pvb_loop *loop, struct pvb_evtchn *ev, const struct blk_dp_hooks *hooks,
		 struct blk_dp **out);
/*
 * Wait for I/O in flight, unmap every grant, unbind every port.  Requests
 * taken but not started (a barrier waiting for those before it, requests
 * waiting for bounce pages or still to be redone after a restart) are
 * answered BLKIF_RSP_ERROR; with handover they are left unanswered in the
 * ring's journal instead, for the daemon that takes the ring over.
 */
void blk_dp_stop(struct blk_dp *dp, bool handover);
/* Per-queue counters into o ("queues": [...]). */
void blk_dp_stats(struct blk_dp *dp, struct json_object *o);
/* The store's size changed: requests are checked against the new size. */
void blk_dp_resized(struct blk_dp *dp);

#endif
