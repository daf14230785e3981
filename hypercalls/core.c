// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libpvsplit-hv core: picks a provider at open time and checks arguments
 * once, so that providers only see well-formed calls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hv_private.h"

/* A domain id a grant or an event channel may name (xen/xen.h: DOMID_FIRST_RESERVED). */
#define DOMID_FIRST_RESERVED 0x7FF0u
_Static_assert(PVHV_DOMID_SELF == DOMID_FIRST_RESERVED, "DOMID_SELF is the first reserved id");

static bool domid_ok(uint32_t domid)
{
	return domid < DOMID_FIRST_RESERVED;
}

static const struct pvhv_ops *pick(const char *name)
{
	if (!name) {
		name = getenv("PVSPLIT_HV");
		if (!name || !*name) {
			if (access("/dev/xen", F_OK) == 0)
				name = "xen";
			else if (getenv("PVSPLIT_SIM_DIR"))
				name = "sim";
			else
				return NULL;
		}
	}
	if (!strcmp(name, "xen"))
		return &pvhvi_xen_ops;
	if (!strcmp(name, "sim"))
		return &pvhvi_sim_ops;
	return NULL;
}

int pvhv_open(struct pvhv **out, const struct pvhv_open_args *args)
{
	struct pvhv_open_args def = { .provider = NULL, .sim_dir = NULL, .domid = -1 };
	const struct pvhv_ops *ops;
	struct pvhv *hv;
	int r;

	if (!out)
		return -EINVAL;
	if (!args)
		args = &def;
	ops = pick(args->provider);
	if (!ops)
		return args->provider ? -EINVAL : -ENOENT;
	hv = calloc(1, sizeof(*hv));
	if (!hv)
		return -ENOMEM;
	hv->ops = ops;
	hv->domid = -1;
	r = ops->open(hv, args);
	if (r) {
		free(hv);
		return r;
	}
	*out = hv;
	return 0;
}

void pvhv_close(struct pvhv *hv)
{
	if (!hv)
		return;
	hv->ops->close(hv);
	free(hv);
}

const char *pvhv_provider(const struct pvhv *hv)
{
	return hv->ops->name;
}

int pvhv_domid(const struct pvhv *hv)
{
	struct pvhv *h = (struct pvhv *)hv;

	if (h->domid < 0)
		h->domid = h->ops->domid(h);
	return h->domid;
}

static bool page_aligned(const void *p)
{
	return ((uintptr_t)p & (PVHV_PAGE_SIZE - 1)) == 0;
}

int pvhv_gnt_map(struct pvhv *hv, uint32_t domid, uint32_t count, const uint32_t *refs,
		 unsigned flags, void **addr)
{
	if (!count || count > PVHV_GNT_MAX_BATCH || !refs || !addr || (flags & ~PVHV_GNT_RO) ||
	    !domid_ok(domid))
		return -EINVAL;
	return hv->ops->gnt_map(hv, domid, count, refs, flags, addr);
}

int pvhv_gnt_unmap(struct pvhv *hv, void *addr, uint32_t count)
{
	if (!addr || !count || !page_aligned(addr))
		return -EINVAL;
	return hv->ops->gnt_unmap(hv, addr, count);
}

int pvhv_gnt_copy(struct pvhv *hv, struct pvhv_gnt_copy_seg *segs, uint32_t count)
{
	if (!segs || !count || count > PVHV_GNT_MAX_BATCH)
		return -EINVAL;
	/* Refused here, per segment: a domid that is not a domain, a range off the page. */
	for (uint32_t i = 0; i < count; i++)
		segs[i].status = (!domid_ok(segs[i].domid) ||
				  (uint32_t)segs[i].offset + segs[i].len > PVHV_PAGE_SIZE)
					 ? -EINVAL
					 : 0;
	return hv->ops->gnt_copy(hv, segs, count);
}

int pvhv_gnt_share(struct pvhv *hv, uint32_t domid, uint32_t count, unsigned flags, uint32_t *refs,
		   void **addr)
{
	if (!count || count > PVHV_GNT_MAX_BATCH || !refs || !addr || (flags & ~PVHV_GNT_RO) ||
	    !domid_ok(domid))
		return -EINVAL;
	return hv->ops->gnt_share(hv, domid, count, flags, refs, addr);
}

int pvhv_gnt_unshare(struct pvhv *hv, void *addr, uint32_t count)
{
	if (!addr || !count || !page_aligned(addr))
		return -EINVAL;
	return hv->ops->gnt_unshare(hv, addr, count);
}

int pvhv_evtchn_open(struct pvhv *hv, struct pvhv_evtchn **out)
{
	struct pvhv_evtchn *ev;
	int r;

	if (!out)
		return -EINVAL;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->hv = hv;
	r = hv->ops->evtchn_open(ev);
	if (r) {
		free(ev);
		return r;
	}
	*out = ev;
	return 0;
}

void pvhv_evtchn_close(struct pvhv_evtchn *ev)
{
	if (!ev)
		return;
	ev->hv->ops->evtchn_close(ev);
	free(ev);
}

int pvhv_evtchn_fd(struct pvhv_evtchn *ev)
{
	return ev->hv->ops->evtchn_fd(ev);
}

int pvhv_evtchn_bind_interdomain(struct pvhv_evtchn *ev, uint32_t domid, uint32_t remote_port)
{
	if (!domid_ok(domid) && domid != PVHV_DOMID_SELF)
		return -EINVAL;
	return ev->hv->ops->evtchn_bind_interdomain(ev, domid, remote_port);
}

int pvhv_evtchn_alloc_unbound(struct pvhv_evtchn *ev, uint32_t remote_domid)
{
	if (!domid_ok(remote_domid) && remote_domid != PVHV_DOMID_SELF)
		return -EINVAL;
	return ev->hv->ops->evtchn_alloc_unbound(ev, remote_domid);
}

int pvhv_evtchn_notify(struct pvhv_evtchn *ev, uint32_t port)
{
	return ev->hv->ops->evtchn_notify(ev, port);
}

int pvhv_evtchn_pending_batch(struct pvhv_evtchn *ev, uint32_t *ports, uint32_t max)
{
	if (!ports || !max)
		return -EINVAL;
	if (max > PVHV_EVTCHN_BATCH_MAX)
		max = PVHV_EVTCHN_BATCH_MAX;
	return ev->hv->ops->evtchn_pending(ev, ports, max);
}

int pvhv_evtchn_pending(struct pvhv_evtchn *ev)
{
	uint32_t port;
	int r = ev->hv->ops->evtchn_pending(ev, &port, 1);

	return r < 0 ? r : (int)port;
}

int pvhv_evtchn_unmask(struct pvhv_evtchn *ev, uint32_t port)
{
	return ev->hv->ops->evtchn_unmask(ev, port);
}

int pvhv_evtchn_unmask_op(struct pvhv_evtchn *ev, uint32_t port, struct pvhv_evtchn_unmask_op *op)
{
	if (!op)
		return -EINVAL;
	if (!ev->hv->ops->evtchn_unmask_op)
		return -EOPNOTSUPP;
	memset(op, 0, sizeof(*op));
	return ev->hv->ops->evtchn_unmask_op(ev, port, op);
}

enum pvhv_evtchn_fd_kind pvhv_evtchn_fd_kind(struct pvhv_evtchn *ev)
{
	return ev->hv->ops->evtchn_fd_kind ? ev->hv->ops->evtchn_fd_kind(ev) : PVHV_EVTCHN_FD_POLL;
}

int pvhv_evtchn_unbind(struct pvhv_evtchn *ev, uint32_t port)
{
	return ev->hv->ops->evtchn_unbind(ev, port);
}

int pvhv_foreign_map(struct pvhv *hv, uint32_t domid, int prot, const uint64_t *frames,
		     uint32_t count, void **addr)
{
	if (!frames || !addr || !count || count > PVHV_GNT_MAX_BATCH ||
	    (prot & ~(PROT_READ | PROT_WRITE)) || !(prot & PROT_READ) || !domid_ok(domid))
		return -EINVAL;
	return hv->ops->foreign_map(hv, domid, prot, frames, count, addr);
}

int pvhv_foreign_unmap(struct pvhv *hv, void *addr, uint32_t count)
{
	if (!addr || !count || !page_aligned(addr))
		return -EINVAL;
	return hv->ops->foreign_unmap(hv, addr, count);
}

int pvhv_xs_open(struct pvhv *hv, struct xs_handle **out)
{
	if (!out)
		return -EINVAL;
	return hv->ops->xs_open(hv, out);
}
