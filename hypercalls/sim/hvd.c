// SPDX-License-Identifier: LGPL-2.1-or-later
/* The loopback hypervisor core: domains, grant tables, event channels. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <xen/xen.h>
#include <xen/grant_table.h>

#include "hvd.h"

#define PAGE	     4096u
#define NDOMS	     DOMID_FIRST_RESERVED
#define FIRST_REF    GNTTAB_NR_RESERVED_ENTRIES
#define SHARE_ORPHAN ((struct hvd_client *)1) /* owner died while the peer still maps */

struct hvd_active {
	uint32_t pin_rd;
	uint32_t pin_wr;
	uint32_t frame;
	uint32_t mapper;
	struct hvd_client *share_owner; /* the client that shared it, or SHARE_ORPHAN */
	bool mark;			/* scratch: seen in the current request */
};

/*
 * The authoritative state of a port.  The shared table (hvd_domain.evt) is
 * only a published copy for the clients' notify checks: nothing here ever
 * reads it back.
 */
struct hvd_port {
	struct hvd_client *owner; /* NULL when free */
	int efd;
	uint32_t state; /* SIMHV_PORT_* */
	uint32_t remote_dom;
	uint32_t remote_port;
};

struct hvd_domain {
	uint32_t domid;
	uint32_t serial;
	uint32_t refs; /* the domain table + every pin on its grants */
	bool dead;
	uint32_t nr_frames;
	int mem_fd, mem_ro_fd;
	uint8_t *mem;
	uint64_t *frame_used; /* bitmap */
	uint32_t frame_hint;
	int gnt_fd;
	grant_entry_v1_t *gnt;
	uint64_t *ref_used; /* bitmap */
	uint32_t ref_hint;
	struct hvd_active *act;
	int evt_fd; /* sealed: F_SEAL_FUTURE_WRITE after our own mapping */
	struct simhv_port_shared *evt;
	struct hvd_port *ports;
	uint32_t max_port;
	uint32_t nclients;
};

struct pin {
	struct pin *next;
	struct hvd_domain *d;
	uint32_t domid;
	uint32_t ref;
	bool ro;
	uint32_t count;
};

struct hvd_client {
	struct hvd *h;
	struct hvd_domain *d; /* the domain it acts as (holds a reference) */
	uint32_t domid;
	int mem_fd; /* the client's /proc/self/mem, from HELLO; -1 until then */
	struct pin **pins;
	uint32_t npin_buckets;
	uint32_t npins;
};

struct hvd {
	struct hvd_hooks hooks;
	struct hvd_domain **doms;
	uint32_t serial;
	struct simhv_stats st;
};

/* ---- bitmaps ---- */

static long bit_alloc(uint64_t *map, uint32_t nbits, uint32_t first, uint32_t *hint)
{
	uint32_t start = *hint < first || *hint >= nbits ? first : *hint;

	for (uint32_t n = 0; n < nbits; n++) {
		uint32_t i = start + n;

		if (i >= nbits)
			i = first + (i - nbits) % (nbits - first);
		if (!(map[i / 64] & (1ull << (i % 64)))) {
			map[i / 64] |= 1ull << (i % 64);
			*hint = i + 1;
			return i;
		}
	}
	return -ENOSPC;
}

static void bit_free(uint64_t *map, uint32_t i)
{
	map[i / 64] &= ~(1ull << (i % 64));
}

/* ---- domains ---- */

/*
 * A shared memory file of size bytes, mapped read-write here.  seal: once
 * mapped, nobody can write it any more except through that mapping
 * (F_SEAL_FUTURE_WRITE also refuses a writable mapping or write() through a
 * descriptor reopened read-write from /proc/PID/fd).  ro: also open a
 * read-only descriptor of it.
 */
static int memfd(const char *name, size_t size, bool seal, int *rw, int *ro, void **map)
{
	void *m;
	int r;

	*map = NULL;
	if (ro)
		*ro = -1;
	*rw = memfd_create(name, MFD_CLOEXEC | (seal ? MFD_ALLOW_SEALING : 0));
	if (*rw < 0)
		return -errno;
	if (ftruncate(*rw, (off_t)size) < 0)
		goto fail;
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *rw, 0);
	if (m == MAP_FAILED)
		goto fail;
	if (seal && fcntl(*rw, F_ADD_SEALS,
			  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0)
		goto fail_unmap;
	if (ro) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", *rw);
		*ro = open(path, O_RDONLY | O_CLOEXEC);
		if (*ro < 0)
			goto fail_unmap;
	}
	*map = m;
	return 0;
fail_unmap:
	r = -errno;
	munmap(m, size);
	close(*rw);
	*rw = -1;
	return r;
fail:
	r = -errno;
	close(*rw);
	*rw = -1;
	return r;
}

static void dom_put(struct hvd_domain *d)
{
	if (--d->refs)
		return;
	if (d->mem)
		munmap(d->mem, (size_t)d->nr_frames * PAGE);
	if (d->gnt)
		munmap(d->gnt, SIMHV_NR_GRANTS * sizeof(*d->gnt));
	if (d->evt)
		munmap(d->evt, SIMHV_NR_PORTS * sizeof(*d->evt));
	if (d->mem_fd >= 0)
		close(d->mem_fd);
	if (d->mem_ro_fd >= 0)
		close(d->mem_ro_fd);
	if (d->gnt_fd >= 0)
		close(d->gnt_fd);
	if (d->evt_fd >= 0)
		close(d->evt_fd);
	free(d->frame_used);
	free(d->ref_used);
	free(d->act);
	free(d->ports);
	free(d);
}

int hvd_new(struct hvd **out, const struct hvd_hooks *hooks)
{
	struct hvd *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->doms = calloc(NDOMS, sizeof(*h->doms));
	if (!h->doms) {
		free(h);
		return -ENOMEM;
	}
	if (hooks)
		h->hooks = *hooks;
	*out = h;
	return 0;
}

void hvd_free(struct hvd *h)
{
	if (!h)
		return;
	for (uint32_t i = 0; i < NDOMS; i++)
		if (h->doms[i])
			hvd_domain_destroy(h, i);
	free(h->doms);
	free(h);
}

bool hvd_domain_exists(const struct hvd *h, uint32_t domid)
{
	return domid < NDOMS && h->doms[domid];
}

int hvd_domain_create(struct hvd *h, uint32_t domid, uint32_t mem_mib)
{
	struct hvd_domain *d;
	char name[48];
	int r;

	if (domid >= NDOMS)
		return -EINVAL;
	if (h->doms[domid])
		return -EEXIST;
	if (!mem_mib)
		mem_mib = SIMHV_DEFAULT_MEM_MIB;
	if (mem_mib > 65536)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->domid = domid;
	d->serial = ++h->serial;
	d->refs = 1;
	d->nr_frames = mem_mib * (1024 * 1024 / PAGE);
	d->max_port = domid == 0 ? SIMHV_NR_PORTS - 1 : HVD_DOMU_MAX_PORT;
	d->mem_fd = d->mem_ro_fd = d->gnt_fd = d->evt_fd = -1;
	d->frame_used = calloc((d->nr_frames + 63) / 64, 8);
	d->ref_used = calloc(SIMHV_NR_GRANTS / 64, 8);
	d->act = calloc(SIMHV_NR_GRANTS, sizeof(*d->act));
	d->ports = calloc(SIMHV_NR_PORTS, sizeof(*d->ports));
	if (!d->frame_used || !d->ref_used || !d->act || !d->ports) {
		r = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < SIMHV_NR_PORTS; i++)
		d->ports[i].efd = -1;
	snprintf(name, sizeof(name), "pvsplit-dom%u-memory", domid);
	r = memfd(name, (size_t)d->nr_frames * PAGE, false, &d->mem_fd, &d->mem_ro_fd,
		  (void **)&d->mem);
	if (r)
		goto fail;
	snprintf(name, sizeof(name), "pvsplit-dom%u-grant-table", domid);
	r = memfd(name, SIMHV_NR_GRANTS * sizeof(*d->gnt), false, &d->gnt_fd, NULL,
		  (void **)&d->gnt);
	if (r)
		goto fail;
	snprintf(name, sizeof(name), "pvsplit-dom%u-evtchn", domid);
	r = memfd(name, SIMHV_NR_PORTS * sizeof(*d->evt), true, &d->evt_fd, NULL, (void **)&d->evt);
	if (r)
		goto fail;
	h->doms[domid] = d;
	return 0;
fail:
	dom_put(d);
	return r;
}

static struct hvd_domain *dom_get(struct hvd *h, uint32_t domid)
{
	return domid < NDOMS ? h->doms[domid] : NULL;
}

/* ---- event channels ---- */

/* Set a port's state and publish it to the domain's shared (read-only) table. */
static void port_set(struct hvd *h, struct hvd_domain *d, uint32_t port, uint32_t state,
		     uint32_t rdom, uint32_t rport)
{
	struct hvd_port *p = &d->ports[port];
	struct simhv_port_shared *e = &d->evt[port];

	if (p->state == SIMHV_PORT_INTERDOMAIN)
		h->st.ports_bound--;
	if (state == SIMHV_PORT_INTERDOMAIN)
		h->st.ports_bound++;
	p->state = state;
	p->remote_dom = rdom;
	p->remote_port = rport;
	__atomic_store_n(&e->remote_dom, rdom, __ATOMIC_RELAXED);
	__atomic_store_n(&e->remote_port, rport, __ATOMIC_RELAXED);
	__atomic_store_n(&e->state, state, __ATOMIC_RELAXED);
	__atomic_add_fetch(&e->gen, 1, __ATOMIC_RELEASE);
}

/* A free port (1..max_port) with a fresh eventfd, owned by owner.  -ENOSPC, -errno. */
static long port_alloc(struct hvd_domain *d, struct hvd_client *owner)
{
	for (uint32_t p = 1; p <= d->max_port; p++) {
		if (d->ports[p].state != SIMHV_PORT_FREE)
			continue;
		d->ports[p].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (d->ports[p].efd < 0)
			return -errno;
		d->ports[p].owner = owner;
		return p;
	}
	return -ENOSPC;
}

/* Close one port; an interdomain peer becomes unbound (and re-bindable by us). */
static void port_close(struct hvd *h, struct hvd_domain *d, uint32_t port)
{
	struct hvd_port *p = &d->ports[port];

	if (p->state == SIMHV_PORT_INTERDOMAIN) {
		struct hvd_domain *r = dom_get(h, p->remote_dom);

		if (r && p->remote_port < SIMHV_NR_PORTS) {
			struct hvd_port *q = &r->ports[p->remote_port];

			if (q->state == SIMHV_PORT_INTERDOMAIN && q->remote_dom == d->domid &&
			    q->remote_port == port)
				port_set(h, r, p->remote_port, SIMHV_PORT_UNBOUND, d->domid, 0);
		}
	}
	if (p->state != SIMHV_PORT_FREE)
		port_set(h, d, port, SIMHV_PORT_FREE, 0, 0);
	if (p->efd >= 0)
		close(p->efd);
	p->efd = -1;
	p->owner = NULL;
}

/* Hand the client its own descriptor of a port's eventfd; close the port if we cannot. */
static int port_give(struct hvd *h, struct hvd_domain *d, uint32_t port, int *fd)
{
	*fd = dup(d->ports[port].efd);
	if (*fd < 0) {
		int r = -errno;

		port_close(h, d, port);
		return r;
	}
	return (int)port;
}

/*
 * EVTCHNOP_alloc_unbound: as Xen, the remote domain is only recorded (it
 * need not exist yet); DOMID_SELF stands for our own domain.
 */
static int ev_alloc_unbound(struct hvd_client *c, uint32_t rdom, int *fd)
{
	struct hvd_domain *d = c->d;
	long p;

	if (rdom == DOMID_SELF)
		rdom = c->domid;
	if (rdom >= NDOMS)
		return -EINVAL;
	p = port_alloc(d, c);
	if (p < 0)
		return (int)p;
	port_set(c->h, d, (uint32_t)p, SIMHV_PORT_UNBOUND, rdom, 0);
	return port_give(c->h, d, (uint32_t)p, fd);
}

/*
 * EVTCHNOP_bind_interdomain.  As Xen does, the new local port is set
 * pending: notifications sent to the remote port while it was unbound were
 * dropped, so the binder must look at the ring once.
 */
static int ev_bind(struct hvd_client *c, uint32_t rdom, uint32_t rport, int *fd)
{
	struct hvd_domain *d = c->d, *r;
	struct hvd_port *q;
	long p;

	if (rdom == DOMID_SELF)
		rdom = c->domid;
	r = dom_get(c->h, rdom);
	if (!r)
		return -ESRCH;
	if (rport == 0 || rport >= SIMHV_NR_PORTS)
		return -EINVAL;
	q = &r->ports[rport];
	if (q->state != SIMHV_PORT_UNBOUND || q->remote_dom != c->domid)
		return -EINVAL;
	p = port_alloc(d, c);
	if (p < 0)
		return (int)p;
	port_set(c->h, d, (uint32_t)p, SIMHV_PORT_INTERDOMAIN, rdom, rport);
	port_set(c->h, r, rport, SIMHV_PORT_INTERDOMAIN, c->domid, (uint32_t)p);
	eventfd_write(d->ports[p].efd, 1);
	return port_give(c->h, d, (uint32_t)p, fd);
}

static bool owns(struct hvd_client *c, struct hvd_domain *d, uint32_t port)
{
	return port > 0 && port < SIMHV_NR_PORTS && d->ports[port].state != SIMHV_PORT_FREE &&
	       d->ports[port].owner == c;
}

static int ev_peer(struct hvd_client *c, uint32_t port, int *fd, uint32_t *gen)
{
	struct hvd_domain *d = c->d, *r;
	struct hvd_port *p;

	if (!owns(c, d, port))
		return -ENOTCONN;
	p = &d->ports[port];
	*gen = __atomic_load_n(&d->evt[port].gen, __ATOMIC_RELAXED);
	if (p->state != SIMHV_PORT_INTERDOMAIN)
		return 0;
	r = dom_get(c->h, p->remote_dom);
	if (!r || p->remote_port == 0 || p->remote_port >= SIMHV_NR_PORTS ||
	    r->ports[p->remote_port].efd < 0)
		return 0;
	*fd = dup(r->ports[p->remote_port].efd);
	return *fd < 0 ? -errno : 1;
}

static int ev_close(struct hvd_client *c, uint32_t port)
{
	if (!owns(c, c->d, port))
		return -ENOTCONN;
	port_close(c->h, c->d, port);
	return 0;
}

/* ---- grant tables ---- */

typedef uint32_t __attribute__((may_alias)) u32_alias;

/* The (flags, domid) pair of a v1 entry as one word, as Xen's cmpxchg sees it. */
static u32_alias *entry_word(grant_entry_v1_t *e)
{
	return (u32_alias *)e;
}

/*
 * Check entry e for use by mapper (read-only or not) and, when set is not
 * zero, set those GTF_reading / GTF_writing bits in the same compare-and-
 * swap as the check, as Xen's _set_status_v1() does: the guest cannot
 * switch the entry to read-only (or end access) between the two.
 */
static int entry_acquire(grant_entry_v1_t *e, uint32_t mapper, bool ro, uint16_t set)
{
	for (int tries = 0;; tries++) {
		uint32_t v = __atomic_load_n(entry_word(e), __ATOMIC_ACQUIRE);
		uint16_t fl = v & 0xffff;

		if ((fl & GTF_type_mask) != GTF_permit_access || (v >> 16) != mapper)
			return -EPERM;
		if (!ro && (fl & GTF_readonly))
			return -EPERM;
		if (!set)
			return 0;
		if (__atomic_compare_exchange_n(entry_word(e), &v, v | set, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return 0;
		if (tries > 16)
			return -EBUSY; /* the guest keeps rewriting the entry */
	}
}

/*
 * Check a grant for use by mapper and, unless transient, pin it (setting
 * GTF_reading / GTF_writing in the shared entry on first use).  *frame gets
 * the granted frame.
 */
static int grant_check(struct hvd_domain *d, uint32_t ref, uint32_t mapper, bool ro, bool pin,
		       uint32_t *frame)
{
	struct hvd_active *a;
	grant_entry_v1_t *e;
	int r;

	if (d->dead)
		return -ESRCH;
	if (ref >= SIMHV_NR_GRANTS)
		return -EINVAL;
	a = &d->act[ref];
	e = &d->gnt[ref];
	if (a->pin_rd + a->pin_wr) {
		/* Already pinned: the first mapper's check stands, as in Xen. */
		if (a->mapper != mapper)
			return -EPERM;
		if (!ro && !a->pin_wr) {
			/* Upgrade to writable: check and set GTF_writing at once. */
			r = entry_acquire(e, mapper, false, pin ? GTF_writing : 0);
			if (r)
				return r;
		}
		*frame = a->frame;
	} else {
		r = entry_acquire(e, mapper, ro, pin ? GTF_reading | (ro ? 0 : GTF_writing) : 0);
		if (r)
			return r;
		*frame = __atomic_load_n(&e->frame, __ATOMIC_ACQUIRE);
		if (*frame >= d->nr_frames) {
			if (pin)
				__atomic_and_fetch(&e->flags,
						   (uint16_t) ~(GTF_reading | GTF_writing),
						   __ATOMIC_ACQ_REL);
			return -EINVAL;
		}
		if (pin) {
			a->frame = *frame;
			a->mapper = mapper;
		}
	}
	if (pin) {
		if (ro)
			a->pin_rd++;
		else
			a->pin_wr++;
	}
	return 0;
}

static void share_free(struct hvd *h, struct hvd_domain *d, uint32_t ref)
{
	struct hvd_active *a = &d->act[ref];

	__atomic_store_n(entry_word(&d->gnt[ref]), 0, __ATOMIC_RELEASE);
	d->gnt[ref].frame = 0;
	fallocate(d->mem_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)a->frame * PAGE,
		  PAGE);
	bit_free(d->frame_used, a->frame);
	bit_free(d->ref_used, ref);
	a->share_owner = NULL;
	h->st.grant_shares--;
}

static void grant_unpin(struct hvd *h, struct hvd_domain *d, uint32_t ref, bool ro)
{
	struct hvd_active *a = &d->act[ref];

	if (ro)
		a->pin_rd--;
	else
		a->pin_wr--;
	if (!ro && !a->pin_wr)
		__atomic_and_fetch(&d->gnt[ref].flags, (uint16_t)~GTF_writing, __ATOMIC_ACQ_REL);
	if (!a->pin_rd && !a->pin_wr) {
		__atomic_and_fetch(&d->gnt[ref].flags, (uint16_t)~GTF_reading, __ATOMIC_ACQ_REL);
		if (a->share_owner == SHARE_ORPHAN)
			share_free(h, d, ref);
	}
}

/* Per-client pin records, so that a dying client's mappings are dropped. */
static uint32_t pin_hash(uint32_t serial, uint32_t ref, bool ro)
{
	return (serial * 2654435761u) ^ (ref * 40503u) ^ ro;
}

static struct pin **pin_slot(struct hvd_client *c, struct hvd_domain *d, uint32_t ref, bool ro)
{
	struct pin **pp = &c->pins[pin_hash(d->serial, ref, ro) & (c->npin_buckets - 1)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->d == d && (*pp)->ref == ref && (*pp)->ro == ro)
			break;
	return pp;
}

static int pin_grow(struct hvd_client *c)
{
	uint32_t nb = c->npin_buckets ? c->npin_buckets * 2 : 256;
	struct pin **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->npin_buckets; i++) {
		struct pin *p = c->pins[i], *next;

		for (; p; p = next) {
			uint32_t k = pin_hash(p->d->serial, p->ref, p->ro) & (nb - 1);

			next = p->next;
			p->next = b[k];
			b[k] = p;
		}
	}
	free(c->pins);
	c->pins = b;
	c->npin_buckets = nb;
	return 0;
}

static int pin_record(struct hvd_client *c, struct hvd_domain *d, uint32_t ref, bool ro)
{
	struct pin **pp, *p;

	if (c->npins >= c->npin_buckets && pin_grow(c))
		return -ENOMEM;
	pp = pin_slot(c, d, ref, ro);
	if (*pp) {
		(*pp)->count++;
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->d = d;
	p->domid = d->domid;
	p->ref = ref;
	p->ro = ro;
	p->count = 1;
	d->refs++;
	*pp = p;
	c->npins++;
	return 0;
}

/* Drop one pin of (domid, ref) held by c; the current domain instance first. */
static int pin_drop(struct hvd_client *c, uint32_t domid, uint32_t ref, bool ro)
{
	struct hvd_domain *d = dom_get(c->h, domid);
	struct pin **pp = NULL, *p;

	if (d && c->npin_buckets)
		pp = pin_slot(c, d, ref, ro);
	if (!pp || !*pp) {
		pp = NULL;
		for (uint32_t i = 0; i < c->npin_buckets && !pp; i++)
			for (struct pin **q = &c->pins[i]; *q; q = &(*q)->next)
				if ((*q)->domid == domid && (*q)->ref == ref && (*q)->ro == ro) {
					pp = q;
					break;
				}
		if (!pp)
			return -EINVAL;
	}
	p = *pp;
	grant_unpin(c->h, p->d, ref, ro);
	c->h->st.grant_pins--;
	if (--p->count == 0) {
		*pp = p->next;
		dom_put(p->d);
		free(p);
		c->npins--;
	}
	return 0;
}

static int gnt_map(struct hvd_client *c, const struct simhv_req *rq, const uint32_t *refs,
		   uint64_t *frames, int *fd)
{
	struct hvd_domain *d = dom_get(c->h, rq->domid);
	bool ro = rq->flags & SIMHV_F_RO;
	uint32_t i, frame;
	int r = 0;

	if (!d)
		return -ESRCH;
	for (i = 0; i < rq->count; i++) {
		r = grant_check(d, refs[i], c->domid, ro, true, &frame);
		if (!r) {
			r = pin_record(c, d, refs[i], ro);
			if (r)
				grant_unpin(c->h, d, refs[i], ro);
		}
		if (r)
			break;
		c->h->st.grant_pins++;
		frames[i] = frame;
	}
	if (r) {
		/* All or nothing. */
		while (i-- > 0)
			pin_drop(c, rq->domid, refs[i], ro);
		c->h->st.map_errors++;
		return r;
	}
	*fd = dup(ro ? d->mem_ro_fd : d->mem_fd);
	if (*fd < 0) {
		r = -errno;
		for (i = 0; i < rq->count; i++)
			pin_drop(c, rq->domid, refs[i], ro);
		return r;
	}
	c->h->st.maps += rq->count;
	return 0;
}

static int gnt_unmap(struct hvd_client *c, const struct simhv_req *rq, const uint32_t *refs)
{
	int r = 0;

	for (uint32_t i = 0; i < rq->count; i++) {
		int e = pin_drop(c, rq->domid, refs[i], rq->flags & SIMHV_F_RO);

		if (e && !r)
			r = e;
	}
	return r;
}

/*
 * Grant copy of one segment.  The grant is pinned for the duration of the
 * copy (a transient pin, as Xen's __acquire_grant_for_copy()), so the guest
 * cannot end access meanwhile.  The client's side is reached through the
 * /proc/self/mem descriptor it passed with HELLO: bound to that process's
 * memory, never to a pid.  The kernel does not wait for userfaultfd on such
 * an access (the segment fails with -EFAULT), but a page mapped from a FUSE
 * file blocks the daemon until the file system answers: a limitation of the
 * sim (pvsplit-simhv(8)).
 */
static int copy_one(struct hvd_client *c, const struct simhv_copy_seg *s)
{
	struct hvd_domain *d = dom_get(c->h, s->domid);
	bool ro = !s->to_guest;
	uint32_t frame;
	uint8_t *page;
	ssize_t done;
	int r;

	if (!d)
		return -ESRCH;
	if ((uint32_t)s->offset + s->len > PAGE)
		return -EINVAL;
	r = grant_check(d, s->ref, c->domid, ro, true, &frame);
	if (r)
		return r;
	page = d->mem + (size_t)frame * PAGE + s->offset;
	if (c->mem_fd < 0)
		done = -1;
	else if (s->to_guest)
		done = pread(c->mem_fd, page, s->len, (off_t)s->local);
	else
		done = pwrite(c->mem_fd, page, s->len, (off_t)s->local);
	grant_unpin(c->h, d, s->ref, ro);
	return done == (ssize_t)s->len ? 0 : -EFAULT;
}

static int gnt_copy(struct hvd_client *c, const char *segs, uint32_t n, char *status)
{
	for (uint32_t i = 0; i < n; i++) {
		struct simhv_copy_seg seg;
		int16_t st;

		memcpy(&seg, segs + i * sizeof(seg), sizeof(seg));
		st = (int16_t)copy_one(c, &seg);
		memcpy(status + i * sizeof(st), &st, sizeof(st));
		if (st)
			c->h->st.copy_errors++;
		else
			c->h->st.copies++;
	}
	return 0;
}

static int gnt_share(struct hvd_client *c, const struct simhv_req *rq, uint32_t *refs,
		     uint64_t *frames)
{
	struct hvd_domain *d = c->d;
	uint16_t flags = GTF_permit_access | ((rq->flags & SIMHV_F_RO) ? GTF_readonly : 0);
	uint32_t i;

	if (rq->domid >= NDOMS)
		return -EINVAL;
	for (i = 0; i < rq->count; i++) {
		long ref = bit_alloc(d->ref_used, SIMHV_NR_GRANTS, FIRST_REF, &d->ref_hint);
		long frame;

		if (ref < 0)
			goto nospace;
		frame = bit_alloc(d->frame_used, d->nr_frames, 0, &d->frame_hint);
		if (frame < 0) {
			bit_free(d->ref_used, (uint32_t)ref);
			goto nospace;
		}
		refs[i] = (uint32_t)ref;
		frames[i] = (uint64_t)frame;
		d->act[ref].frame = (uint32_t)frame;
		d->act[ref].share_owner = c;
		/* As a guest kernel does: frame and domid first, then the flags. */
		d->gnt[ref].frame = (uint32_t)frame;
		d->gnt[ref].domid = (domid_t)rq->domid;
		__atomic_store_n(&d->gnt[ref].flags, flags, __ATOMIC_RELEASE);
		c->h->st.grant_shares++;
	}
	return 0;
nospace:
	while (i-- > 0)
		share_free(c->h, d, refs[i]);
	return -ENOSPC;
}

static void unmark(struct hvd_domain *d, const uint32_t *refs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		d->act[refs[i]].mark = false;
}

/* End access to refs (all or none): -EINVAL (not ours, or twice in the batch), -EBUSY (mapped). */
static int gnt_unshare(struct hvd_client *c, const struct simhv_req *rq, const uint32_t *refs)
{
	struct hvd_domain *d = c->d;

	for (uint32_t i = 0; i < rq->count; i++) {
		struct hvd_active *a;
		int r = 0;

		if (refs[i] < FIRST_REF || refs[i] >= SIMHV_NR_GRANTS) {
			unmark(d, refs, i);
			return -EINVAL;
		}
		a = &d->act[refs[i]];
		if (a->share_owner != c || a->mark)
			r = -EINVAL;
		/* End access fails while the peer maps it (GTF_reading/writing set). */
		else if (a->pin_rd || a->pin_wr ||
			 (d->gnt[refs[i]].flags & (GTF_reading | GTF_writing)))
			r = -EBUSY;
		if (r) {
			unmark(d, refs, i);
			return r;
		}
		a->mark = true;
	}
	unmark(d, refs, rq->count);
	for (uint32_t i = 0; i < rq->count; i++)
		share_free(c->h, d, refs[i]);
	return 0;
}

static int foreign_map(struct hvd_client *c, const struct simhv_req *rq, const uint64_t *frames,
		       int *fd)
{
	struct hvd_domain *d = dom_get(c->h, rq->domid);

	if (c->domid != 0)
		return -EPERM;
	if (!d)
		return -ESRCH;
	for (uint32_t i = 0; i < rq->count; i++)
		if (frames[i] >= d->nr_frames)
			return -EINVAL;
	*fd = dup((rq->flags & SIMHV_F_RO) ? d->mem_ro_fd : d->mem_fd);
	return *fd < 0 ? -errno : 0;
}

/* ---- clients ---- */

int hvd_client_new(struct hvd *h, uint32_t domid, struct hvd_client **out)
{
	struct hvd_domain *d = dom_get(h, domid);
	struct hvd_client *c;

	if (!d)
		return -ESRCH;
	if (domid != 0 && d->nclients >= HVD_MAX_CLIENTS_PER_DOMAIN)
		return -EUSERS;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->h = h;
	c->d = d;
	c->domid = domid;
	c->mem_fd = -1;
	d->refs++;
	d->nclients++;
	h->st.clients++;
	*out = c;
	return 0;
}

uint32_t hvd_client_domid(const struct hvd_client *c)
{
	return c->domid;
}

void hvd_client_free(struct hvd_client *c)
{
	struct hvd *h;
	struct hvd_domain *d;

	if (!c)
		return;
	h = c->h;
	d = c->d;
	/* Mappings first: as closing gntdev does. */
	for (uint32_t i = 0; i < c->npin_buckets; i++) {
		while (c->pins[i]) {
			struct pin *p = c->pins[i];

			while (p->count) {
				grant_unpin(h, p->d, p->ref, p->ro);
				h->st.grant_pins--;
				p->count--;
			}
			c->pins[i] = p->next;
			dom_put(p->d);
			free(p);
		}
	}
	free(c->pins);
	if (!d->dead) {
		/* Then our shares (gntalloc): still mapped ones end when unmapped. */
		for (uint32_t ref = FIRST_REF; ref < SIMHV_NR_GRANTS; ref++) {
			struct hvd_active *a = &d->act[ref];

			if (a->share_owner != c)
				continue;
			if (a->pin_rd || a->pin_wr)
				a->share_owner = SHARE_ORPHAN;
			else
				share_free(h, d, ref);
		}
		/* And our ports (evtchn). */
		for (uint32_t p = 1; p < SIMHV_NR_PORTS; p++)
			if (d->ports[p].owner == c)
				port_close(h, d, p);
	}
	if (c->mem_fd >= 0)
		close(c->mem_fd);
	d->nclients--;
	dom_put(d);
	h->st.clients--;
	free(c);
}

int hvd_domain_destroy(struct hvd *h, uint32_t domid)
{
	struct hvd_domain *d = dom_get(h, domid);

	if (!d)
		return -ESRCH;
	for (uint32_t p = 1; p < SIMHV_NR_PORTS; p++)
		if (d->ports[p].state != SIMHV_PORT_FREE)
			port_close(h, d, p);
	/* Shares end; pages another domain still maps stay until it unmaps them. */
	for (uint32_t ref = FIRST_REF; ref < SIMHV_NR_GRANTS; ref++) {
		struct hvd_active *a = &d->act[ref];

		if (!a->share_owner)
			continue;
		if (a->pin_rd || a->pin_wr)
			a->share_owner = SHARE_ORPHAN;
		else
			share_free(h, d, ref);
	}
	d->dead = true;
	h->doms[domid] = NULL;
	dom_put(d);
	return 0;
}

void hvd_get_stats(const struct hvd *h, struct simhv_stats *st)
{
	*st = h->st;
	st->domains = 0;
	for (uint32_t i = 0; i < NDOMS; i++)
		st->domains += h->doms[i] != NULL;
}

/* ---- dispatch ---- */

static size_t arg_size(uint32_t op)
{
	switch (op) {
	case SIMHV_GNT_MAP:
	case SIMHV_GNT_UNMAP:
	case SIMHV_GNT_UNSHARE:
		return sizeof(uint32_t);
	case SIMHV_GNT_COPY:
		return sizeof(struct simhv_copy_seg);
	case SIMHV_FOREIGN_MAP:
		return sizeof(uint64_t);
	default:
		return 0;
	}
}

/* Is fd a /proc/PID/mem (the only kind of memory descriptor HELLO accepts)? */
static bool is_proc_file(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC;
}

static int hello(struct hvd_client *c, int in_fd, char *out, size_t *rsp_len, int fds[4], int *nfds)
{
	struct hvd_domain *d = c->d;
	struct simhv_hello hello = {
		.version = SIMHV_PROTO_VERSION,
		.domid = c->domid,
		.privileged = c->domid == 0,
		.nr_frames = d->nr_frames,
		.nr_grants = SIMHV_NR_GRANTS,
		.nr_ports = SIMHV_NR_PORTS,
		.daemon_pid = getpid(),
	};

	if (in_fd >= 0) {
		if (!is_proc_file(in_fd)) {
			close(in_fd);
			return -EINVAL;
		}
		if (c->mem_fd >= 0)
			close(c->mem_fd);
		c->mem_fd = in_fd;
	}
	fds[0] = dup(d->mem_fd);
	fds[1] = dup(d->gnt_fd);
	fds[2] = dup(d->evt_fd);
	if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0) {
		int r = -errno;

		for (int i = 0; i < 3; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return r;
	}
	*nfds = 3;
	memcpy(out, &hello, sizeof(hello));
	*rsp_len += sizeof(hello);
	return 0;
}

int hvd_handle(struct hvd_client *c, const void *req, size_t len, int in_fd, void *rsp,
	       size_t *rsp_len, int fds[4], int *nfds)
{
	struct simhv_req rq;
	struct simhv_rsp *rs = rsp;
	char *out = (char *)rsp + sizeof(*rs);
	const char *in = (const char *)req + sizeof(rq);
	size_t asz;
	int r = 0, fd = -1;

	*nfds = 0;
	*rsp_len = sizeof(*rs);
	memset(rs, 0, sizeof(*rs));
	if (len < sizeof(rq)) {
		if (in_fd >= 0)
			close(in_fd);
		return -EPROTO;
	}
	memcpy(&rq, req, sizeof(rq));
	if (in_fd >= 0 && rq.op != SIMHV_HELLO) {
		close(in_fd);
		in_fd = -1;
	}
	asz = arg_size(rq.op);
	if (asz && (rq.count == 0 || rq.count > SIMHV_MAX_BATCH)) {
		if (in_fd >= 0)
			close(in_fd);
		rs->ret = -EINVAL;
		return 0;
	}
	if (len != sizeof(rq) + asz * rq.count) {
		if (in_fd >= 0)
			close(in_fd);
		return -EPROTO;
	}
	if (c->d->dead) {
		/* The domain was destroyed under this client: nothing works any more. */
		if (in_fd >= 0)
			close(in_fd);
		rs->ret = -ESRCH;
		return 0;
	}

	switch (rq.op) {
	case SIMHV_HELLO:
		r = hello(c, in_fd, out, rsp_len, fds, nfds);
		break;
	/* Arrays are copied in and out: messages carry no alignment guarantee. */
	case SIMHV_GNT_MAP: {
		uint32_t refs[SIMHV_MAX_BATCH];
		uint64_t frames[SIMHV_MAX_BATCH];

		memcpy(refs, in, rq.count * sizeof(uint32_t));
		r = gnt_map(c, &rq, refs, frames, &fd);
		if (!r) {
			memcpy(out, frames, rq.count * sizeof(uint64_t));
			*rsp_len += rq.count * sizeof(uint64_t);
			rs->count = rq.count;
		}
		break;
	}
	case SIMHV_GNT_UNMAP: {
		uint32_t refs[SIMHV_MAX_BATCH];

		memcpy(refs, in, rq.count * sizeof(uint32_t));
		r = gnt_unmap(c, &rq, refs);
		break;
	}
	case SIMHV_GNT_COPY: {
		r = gnt_copy(c, in, rq.count, out);
		*rsp_len += rq.count * sizeof(int16_t);
		rs->count = rq.count;
		break;
	}
	case SIMHV_GNT_SHARE: {
		uint32_t refs[SIMHV_MAX_BATCH];
		uint64_t frames[SIMHV_MAX_BATCH];

		if (rq.count == 0 || rq.count > SIMHV_MAX_BATCH) {
			r = -EINVAL;
			break;
		}
		r = gnt_share(c, &rq, refs, frames);
		if (!r) {
			memcpy(out, refs, rq.count * sizeof(uint32_t));
			memcpy(out + rq.count * sizeof(uint32_t), frames,
			       rq.count * sizeof(uint64_t));
			*rsp_len += rq.count * (4 + 8);
			rs->count = rq.count;
		}
		break;
	}
	case SIMHV_GNT_UNSHARE: {
		uint32_t refs[SIMHV_MAX_BATCH];

		memcpy(refs, in, rq.count * sizeof(uint32_t));
		r = gnt_unshare(c, &rq, refs);
		break;
	}
	case SIMHV_EVTCHN_ALLOC_UNBOUND:
		r = ev_alloc_unbound(c, rq.domid, &fd);
		break;
	case SIMHV_EVTCHN_BIND_INTERDOMAIN:
		r = ev_bind(c, rq.domid, rq.port, &fd);
		break;
	case SIMHV_EVTCHN_PEER:
		r = ev_peer(c, rq.port, &fd, &rs->gen);
		break;
	case SIMHV_EVTCHN_CLOSE:
		r = ev_close(c, rq.port);
		break;
	case SIMHV_FOREIGN_MAP: {
		uint64_t frames[SIMHV_MAX_BATCH];

		memcpy(frames, in, rq.count * sizeof(uint64_t));
		r = foreign_map(c, &rq, frames, &fd);
		break;
	}
	case SIMHV_DOMAIN_CREATE:
		if (c->domid != 0)
			r = -EPERM;
		else if (c->h->hooks.domain_create)
			r = c->h->hooks.domain_create(c->h->hooks.opaque, rq.domid, rq.arg);
		else
			r = hvd_domain_create(c->h, rq.domid, rq.arg);
		break;
	case SIMHV_DOMAIN_DESTROY:
		if (c->domid != 0)
			r = -EPERM;
		else if (rq.domid == 0)
			r = -EINVAL;
		else if (c->h->hooks.domain_destroy)
			r = c->h->hooks.domain_destroy(c->h->hooks.opaque, rq.domid);
		else
			r = hvd_domain_destroy(c->h, rq.domid);
		break;
	case SIMHV_STATS: {
		struct simhv_stats st;

		hvd_get_stats(c->h, &st);
		memcpy(out, &st, sizeof(st));
		*rsp_len += sizeof(st);
		break;
	}
	default:
		r = -ENOSYS;
	}
	if (fd >= 0)
		fds[(*nfds)++] = fd;
	rs->ret = r;
	return 0;
}
