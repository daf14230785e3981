/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pvb_ring: the one way backends consume a shared ring (xen/io/ring.h).
 *
 * The layout is Xen's (the sring header from ring.h, entries after it); the
 * element sizes are parameters, so block (three ABIs) and net (tx and rx)
 * use the same code.  Rules it enforces:
 *   - a producer index impossibly far ahead halts the ring (the device is
 *     failed by the caller; nothing is read);
 *   - a request is copied off the ring once, into the caller's buffer, and
 *     only the copy is looked at afterwards;
 *   - no more requests are taken than there are free response slots;
 *   - responses are published with notification suppression.
 * Returns -errno; no global state.
 */
#ifndef PVSPLIT_BACK_RING_H
#define PVSPLIT_BACK_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "barrier.h"
#include <xen/io/ring.h>

/* A ring of bytes: its sring type has exactly Xen's header layout. */
DEFINE_RING_TYPES(pvb_any, uint8_t, uint8_t);

struct pvb_ring {
	struct pvb_any_sring *sring;
	uint8_t *ents;
	uint32_t nr_ents;
	uint32_t ent_size; /* sizeof the request/response union of the ABI */
	RING_IDX req_cons;
	RING_IDX rsp_prod_pvt;
	bool halted;
};

/* Bytes before the first entry of any shared ring. */
#define PVB_RING_HDR offsetof(struct pvb_any_sring, ring)

/*
 * Attach to a mapped shared ring of bytes (a whole number of pages) whose
 * entries are ent_size bytes.  Consumption starts at start (0 for a new
 * ring).  -EINVAL when the ring would have no entry.
 */
int pvb_ring_init(struct pvb_ring *r, void *sring, size_t bytes, size_t ent_size, RING_IDX start);

/*
 * Look at the producer: returns the number of requests waiting (>= 0), or
 * -EPROTO when the producer is more than a ring ahead of our responses (the
 * ring is halted from then on).
 */
int pvb_ring_pending(struct pvb_ring *r);

/*
 * Copy the next request (len bytes, len <= ent_size) into dst.  false when
 * no request is waiting or all response slots are taken.
 */
bool pvb_ring_take(struct pvb_ring *r, void *dst, size_t len);

/* The next response slot (ent_size bytes); fill it, then pvb_ring_push(). */
void *pvb_ring_rsp_slot(struct pvb_ring *r);

/* Publish the responses written so far.  true when the frontend wants an event. */
bool pvb_ring_push(struct pvb_ring *r);

/*
 * Before sleeping: ask for an event on the next request and look once more.
 * true when requests arrived meanwhile (process them, no event will come).
 */
bool pvb_ring_final_check(struct pvb_ring *r);

#endif
