// SPDX-License-Identifier: LGPL-2.1-or-later
/* libpvsplit-front: the guest side of a console ring. */
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xenstore.h>
#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/console.h>
#include <xen/io/xenbus.h>

#include "pvsplit/hv-sim.h"
#include "pvsplit/schema.h"

#include "consfront.h"

struct pvf_cons {
	grant_entry_v1_t *seeded; /* our reserved console grant entry (primary) */
	struct pvhv *hv;
	struct pvhv_evtchn *ev;
	struct xencons_interface *ring;
	uint32_t ref;
	int port;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int setup(struct pvhv *hv, uint32_t backend, struct pvf_cons **out)
{
	struct pvf_cons *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->hv = hv;
	r = pvhv_gnt_share(hv, backend, 1, 0, &c->ref, (void **)&c->ring);
	if (r) {
		free(c);
		return r;
	}
	r = pvhv_evtchn_open(hv, &c->ev);
	if (!r) {
		c->port = pvhv_evtchn_alloc_unbound(c->ev, backend);
		if (c->port < 0)
			r = c->port;
	}
	if (r) {
		pvf_cons_close(c);
		return r;
	}
	*out = c;
	return 0;
}

int pvf_cons_primary(struct pvhv *hv, uint32_t backend, struct pvf_cons **out, uint64_t *frame,
		     uint32_t *port)
{
	grant_entry_v1_t *gt, *mine;
	uint32_t nr;
	int r = pvhv_sim_grant_table(hv, (void **)&gt, &nr);

	if (r)
		return r; /* on Xen the domain builder made the primary console */
	r = setup(hv, backend, out);
	if (r)
		return r;
	/* As xc_dom_gnttab_seed(): the reserved entry names the console page. */
	mine = &gt[(*out)->ref];
	gt[GNTTAB_RESERVED_CONSOLE].frame = mine->frame;
	gt[GNTTAB_RESERVED_CONSOLE].domid = (domid_t)backend;
	__atomic_store_n(&gt[GNTTAB_RESERVED_CONSOLE].flags, GTF_permit_access, __ATOMIC_RELEASE);
	(*out)->seeded = &gt[GNTTAB_RESERVED_CONSOLE];
	*frame = mine->frame;
	*port = (uint32_t)(*out)->port;
	return 0;
}

static int wait_state(struct xs_handle *xs, const char *path, int want, unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;
	int r = -ETIMEDOUT;

	if (!xs_watch(xs, path, "s"))
		return -errno;
	for (;;) {
		unsigned len;
		char *v = xs_read(xs, XBT_NULL, path, &len);
		int s = v ? atoi(v) : 0;
		struct pollfd p = { .fd = xs_fileno(xs), .events = POLLIN };
		uint64_t t = now_ms();

		free(v);
		if (s == want) {
			r = 0;
			break;
		}
		if (t >= deadline)
			break;
		if (poll(&p, 1, (int)(deadline - t)) > 0) {
			char **w = xs_read_watch(xs, &len);

			free(w);
		}
	}
	xs_unwatch(xs, path, "s");
	return r;
}

struct sec {
	const struct pvs_devtype *dt;
	struct xs_handle *xs;
	char fe[256], be[256];
};

static char *sec_read(struct sec *x, enum pvs_side side, const char *key)
{
	char path[512];
	unsigned len;

	if (pvs_devtype_key_path(x->dt, side, side == PVS_SIDE_FRONTEND ? x->fe : x->be, key, path,
				 sizeof(path)) < 0)
		return NULL;
	return xs_read(x->xs, XBT_NULL, path, &len);
}

static int sec_write(struct sec *x, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int sec_write(struct sec *x, const char *key, const char *fmt, ...)
{
	char path[512], val[64];
	va_list ap;

	if (pvs_devtype_key_path(x->dt, PVS_SIDE_FRONTEND, x->fe, key, path, sizeof(path)) < 0)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	return xs_write(x->xs, XBT_NULL, path, val, (unsigned)strlen(val)) ? 0 : -errno;
}

static int sec_wait(struct sec *x, int state, unsigned timeout_ms)
{
	char path[512];

	if (pvs_devtype_key_path(x->dt, PVS_SIDE_BACKEND, x->be, "state", path, sizeof(path)) < 0)
		return -EINVAL;
	return wait_state(x->xs, path, state, timeout_ms);
}

int pvf_cons_secondary(struct pvhv *hv, uint32_t devid, unsigned timeout_ms, struct pvf_cons **out)
{
	struct pvs_schema *s = NULL;
	struct sec x = { 0 };
	char *err = NULL, *v;
	uint32_t backend;
	int r, self = pvhv_domid(hv);

	*out = NULL;
	r = pvs_schema_load(&s, NULL, &err);
	free(err);
	if (!r)
		r = pvs_schema_type(s, "console", &x.dt);
	if (!r && pvs_devtype_frontend_dir(x.dt, (unsigned)self, devid, x.fe, sizeof(x.fe)) < 0)
		r = -EINVAL;
	if (!r)
		r = pvhv_xs_open(hv, &x.xs);
	if (r)
		goto out;
	v = sec_read(&x, PVS_SIDE_FRONTEND, "backend");
	if (!v) {
		r = -ENODEV;
		goto out;
	}
	snprintf(x.be, sizeof(x.be), "%s", v);
	free(v);
	v = sec_read(&x, PVS_SIDE_FRONTEND, "backend-id");
	backend = v ? (uint32_t)atoi(v) : 0;
	free(v);
	/* As a new xenbus device: Initialising, then the backend's InitWait. */
	r = sec_write(&x, "state", "%d", XenbusStateInitialising);
	if (!r)
		r = sec_wait(&x, XenbusStateInitWait, timeout_ms);
	if (!r)
		r = setup(hv, backend, out);
	if (!r)
		r = sec_write(&x, "ring-ref", "%u", (*out)->ref);
	if (!r)
		r = sec_write(&x, "port", "%d", (*out)->port);
	if (!r)
		r = sec_write(&x, "state", "%d", XenbusStateInitialised);
	if (!r)
		r = sec_wait(&x, XenbusStateConnected, timeout_ms);
	if (!r)
		r = sec_write(&x, "state", "%d", XenbusStateConnected);
	if (r) {
		pvf_cons_close(*out);
		*out = NULL;
	}
out:
	if (x.xs)
		xs_close(x.xs);
	pvs_schema_free(s);
	return r;
}

void pvf_cons_close(struct pvf_cons *c)
{
	if (!c)
		return;
	if (c->seeded) {
		/* End the reserved grant unless the backend still maps it (Xen's rule). */
		uint16_t fl = GTF_permit_access;

		__atomic_compare_exchange_n(&c->seeded->flags, &fl, 0, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE);
	}
	if (c->ev)
		pvhv_evtchn_close(c->ev);
	if (c->ring)
		pvhv_gnt_unshare(c->hv, c->ring, 1);
	free(c);
}

int pvf_cons_fd(struct pvf_cons *c)
{
	return pvhv_evtchn_fd(c->ev);
}

struct xencons_interface *pvf_cons_ring(struct pvf_cons *c)
{
	return c->ring;
}

int pvf_cons_notify(struct pvf_cons *c)
{
	return pvhv_evtchn_notify(c->ev, (uint32_t)c->port);
}

/* Wait for an event (or the deadline), and take it. */
static void wait_event(struct pvf_cons *c, uint64_t deadline)
{
	struct pollfd p = { .fd = pvhv_evtchn_fd(c->ev), .events = POLLIN };
	uint64_t t = now_ms();
	uint32_t ports[8];
	int n;

	if (deadline && t < deadline)
		poll(&p, 1, deadline == UINT64_MAX ? -1 : (int)(deadline - t));
	/* Until a short batch: nothing else was pending. */
	while ((n = pvhv_evtchn_pending_batch(c->ev, ports, 8)) > 0) {
		for (int i = 0; i < n; i++)
			pvhv_evtchn_unmask(c->ev, ports[i]);
		if (n < 8)
			break;
	}
}

ssize_t pvf_cons_write(struct pvf_cons *c, const void *buf, size_t len, int timeout_ms)
{
	struct xencons_interface *r = c->ring;
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now_ms() + (uint64_t)timeout_ms;
	const char *p = buf;
	size_t done = 0;

	while (done < len) {
		XENCONS_RING_IDX cons = __atomic_load_n(&r->out_cons, __ATOMIC_ACQUIRE);
		XENCONS_RING_IDX prod = r->out_prod;
		size_t room = sizeof(r->out) - (prod - cons);

		if (!room) {
			if (now_ms() >= deadline)
				break;
			wait_event(c, deadline);
			continue;
		}
		while (room && done < len) {
			r->out[MASK_XENCONS_IDX(prod++, r->out)] = p[done++];
			room--;
		}
		__atomic_store_n(&r->out_prod, prod, __ATOMIC_RELEASE);
		pvf_cons_notify(c);
	}
	return (ssize_t)done;
}

ssize_t pvf_cons_read(struct pvf_cons *c, void *buf, size_t len, int timeout_ms)
{
	struct xencons_interface *r = c->ring;
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now_ms() + (uint64_t)timeout_ms;
	char *p = buf;
	size_t n = 0;

	for (;;) {
		XENCONS_RING_IDX prod = __atomic_load_n(&r->in_prod, __ATOMIC_ACQUIRE);
		XENCONS_RING_IDX cons = r->in_cons;

		if (prod - cons > sizeof(r->in))
			return -EPROTO;
		while (cons != prod && n < len)
			p[n++] = r->in[MASK_XENCONS_IDX(cons++, r->in)];
		__atomic_store_n(&r->in_cons, cons, __ATOMIC_RELEASE);
		if (n) {
			pvf_cons_notify(c);
			return (ssize_t)n;
		}
		if (now_ms() >= deadline)
			return 0;
		wait_event(c, deadline);
	}
}
