// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <string.h>

#include "ring.h"

int pvb_ring_init(struct pvb_ring *r, void *sring, size_t bytes, size_t ent_size, RING_IDX start)
{
	size_t n;

	if (!ent_size || bytes <= PVB_RING_HDR)
		return -EINVAL;
	n = __RD32((bytes - PVB_RING_HDR) / ent_size);
	if (!n)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->sring = sring;
	r->ents = (uint8_t *)sring + PVB_RING_HDR;
	r->nr_ents = (uint32_t)n;
	r->ent_size = (uint32_t)ent_size;
	r->req_cons = r->rsp_prod_pvt = start;
	return 0;
}

static uint8_t *slot(struct pvb_ring *r, RING_IDX i)
{
	return r->ents + (size_t)(i & (r->nr_ents - 1)) * r->ent_size;
}

int pvb_ring_pending(struct pvb_ring *r)
{
	RING_IDX prod;

	if (r->halted)
		return -EPROTO;
	prod = __atomic_load_n(&r->sring->req_prod, __ATOMIC_ACQUIRE);
	/* RING_REQUEST_PROD_OVERFLOW: can there be this many requests? */
	if (prod - r->rsp_prod_pvt > r->nr_ents) {
		r->halted = true;
		return -EPROTO;
	}
	return (int)(prod - r->req_cons);
}

bool pvb_ring_take(struct pvb_ring *r, void *dst, size_t len)
{
	RING_IDX prod;

	if (r->halted || len > r->ent_size)
		return false;
	prod = __atomic_load_n(&r->sring->req_prod, __ATOMIC_ACQUIRE);
	if (prod - r->rsp_prod_pvt > r->nr_ents) {
		r->halted = true;
		return false;
	}
	if (r->req_cons == prod)
		return false;
	/* RING_REQUEST_CONS_OVERFLOW: every response slot is in use. */
	if (r->req_cons - r->rsp_prod_pvt >= r->nr_ents)
		return false;
	memcpy(dst, slot(r, r->req_cons), len);
	r->req_cons++;
	return true;
}

void *pvb_ring_rsp_slot(struct pvb_ring *r)
{
	return slot(r, r->rsp_prod_pvt++);
}

bool pvb_ring_push(struct pvb_ring *r)
{
	RING_IDX old = r->sring->rsp_prod, new = r->rsp_prod_pvt;

	xen_wmb(); /* responses before the producer index */
	__atomic_store_n(&r->sring->rsp_prod, new, __ATOMIC_RELAXED);
	xen_mb(); /* producer index before reading rsp_event */
	return (RING_IDX)(new - r->sring->rsp_event) < (RING_IDX)(new - old);
}

bool pvb_ring_final_check(struct pvb_ring *r)
{
	if (r->halted)
		return false;
	if (__atomic_load_n(&r->sring->req_prod, __ATOMIC_ACQUIRE) != r->req_cons)
		return true;
	r->sring->req_event = r->req_cons + 1;
	xen_mb();
	return __atomic_load_n(&r->sring->req_prod, __ATOMIC_ACQUIRE) != r->req_cons;
}
