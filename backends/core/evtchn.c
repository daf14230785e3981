// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "evtchn.h"

struct port {
	pvb_port_fn fn;
	void *opaque;
	bool held;
	bool pending;	    /* an event arrived while held: the port is still masked */
	bool owner_unmasks; /* pvb_evtchn_owner_unmasks() */
};

#define BATCH 64

struct pvb_evtchn {
	struct pvhv_evtchn *ev;
	struct pvb_uwait *uw;
	struct port *ports;
	uint32_t nports;
};

static void dispatch(struct pvb_evtchn *e, const uint32_t *ports, int n)
{
	for (int i = 0; i < n; i++) {
		uint32_t p = ports[i];

		if (p < e->nports && e->ports[p].held) {
			e->ports[p].pending = true; /* stays masked until released */
			continue;
		}
		if (p >= e->nports || !e->ports[p].owner_unmasks)
			pvhv_evtchn_unmask(e->ev, p);
		if (p < e->nports && e->ports[p].fn)
			e->ports[p].fn(e->ports[p].opaque);
	}
}

/*
 * PVHV_EVTCHN_FD_READ: the loop read ports (in its io_uring, with the wait
 * it sleeps in: no system call of ours).  A full buffer leaves the rest
 * pending: the fd stays readable and the next read takes them.
 */
static void ports_read(void *opaque, const void *buf, int res)
{
	if (res > 0)
		dispatch(opaque, buf, res / (int)sizeof(uint32_t));
}

/* PVHV_EVTCHN_FD_POLL: the fd polls readable; take the ports. */
static void ready(void *opaque, const void *buf, int res)
{
	struct pvb_evtchn *e = opaque;
	uint32_t ports[BATCH];
	int n;

	(void)buf;
	(void)res;
	/*
	 * Bounded, 16 batches: a peer hammering one port cannot keep us here
	 * forever; what is left keeps the fd readable.  A short batch means
	 * nothing else was pending: no further read to learn that.
	 */
	for (int b = 0; b < 16; b++) {
		n = pvhv_evtchn_pending_batch(e->ev, ports, BATCH);
		if (n <= 0)
			break;
		dispatch(e, ports, n);
		if (n < BATCH)
			break;
	}
}

int pvb_evtchn_new(struct pvhv *hv, struct pvb_loop *loop, struct pvb_evtchn **out)
{
	struct pvb_evtchn *e = calloc(1, sizeof(*e));
	int r;

	if (!e)
		return -ENOMEM;
	r = pvhv_evtchn_open(hv, &e->ev);
	if (!r && pvhv_evtchn_fd_kind(e->ev) == PVHV_EVTCHN_FD_READ)
		r = pvb_uwait_add(loop, pvhv_evtchn_fd(e->ev), BATCH * sizeof(uint32_t), ports_read,
				  e, &e->uw);
	else if (!r)
		r = pvb_uwait_add(loop, pvhv_evtchn_fd(e->ev), 0, ready, e, &e->uw);
	if (r) {
		pvhv_evtchn_close(e->ev);
		free(e);
		return r;
	}
	*out = e;
	return 0;
}

void pvb_evtchn_free(struct pvb_evtchn *e)
{
	if (!e)
		return;
	pvb_uwait_del(e->uw);
	pvhv_evtchn_close(e->ev);
	free(e->ports);
	free(e);
}

static int adopt(struct pvb_evtchn *e, int port, pvb_port_fn fn, void *opaque)
{
	if (port < 0)
		return port;
	if ((uint32_t)port >= e->nports) {
		uint32_t n = e->nports ? e->nports : 64;
		struct port *p;

		while (n <= (uint32_t)port)
			n *= 2;
		p = realloc(e->ports, n * sizeof(*p));
		if (!p) {
			pvhv_evtchn_unbind(e->ev, (uint32_t)port);
			return -ENOMEM;
		}
		for (uint32_t i = e->nports; i < n; i++)
			p[i].fn = NULL;
		e->ports = p;
		e->nports = n;
	}
	e->ports[port].fn = fn;
	e->ports[port].opaque = opaque;
	e->ports[port].held = e->ports[port].pending = e->ports[port].owner_unmasks = false;
	return port;
}

int pvb_evtchn_bind(struct pvb_evtchn *e, uint32_t domid, uint32_t remote_port, pvb_port_fn fn,
		    void *opaque)
{
	return adopt(e, pvhv_evtchn_bind_interdomain(e->ev, domid, remote_port), fn, opaque);
}

int pvb_evtchn_alloc(struct pvb_evtchn *e, uint32_t domid, pvb_port_fn fn, void *opaque)
{
	return adopt(e, pvhv_evtchn_alloc_unbound(e->ev, domid), fn, opaque);
}

void pvb_evtchn_unbind(struct pvb_evtchn *e, uint32_t port)
{
	if (port < e->nports)
		e->ports[port].fn = NULL;
	pvhv_evtchn_unbind(e->ev, port);
}

void pvb_evtchn_hold(struct pvb_evtchn *e, uint32_t port, bool hold)
{
	struct port *p;

	if (port >= e->nports || !e->ports[port].fn)
		return;
	p = &e->ports[port];
	p->held = hold;
	if (!hold && p->pending) {
		p->pending = false;
		if (!p->owner_unmasks)
			pvhv_evtchn_unmask(e->ev, port);
		p->fn(p->opaque);
	}
}

int pvb_evtchn_owner_unmasks(struct pvb_evtchn *e, uint32_t port, struct pvhv_evtchn_unmask_op *op)
{
	int r;

	if (port >= e->nports || !e->ports[port].fn)
		return -ENOENT;
	r = pvhv_evtchn_unmask_op(e->ev, port, op);
	if (!r)
		e->ports[port].owner_unmasks = true;
	return r;
}

void pvb_evtchn_owner_unmasks_end(struct pvb_evtchn *e, uint32_t port)
{
	if (port < e->nports)
		e->ports[port].owner_unmasks = false;
}

int pvb_evtchn_unmask(struct pvb_evtchn *e, uint32_t port)
{
	return pvhv_evtchn_unmask(e->ev, port);
}

int pvb_evtchn_notify(struct pvb_evtchn *e, uint32_t port)
{
	return pvhv_evtchn_notify(e->ev, port);
}
