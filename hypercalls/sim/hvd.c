// SPDX-License-Identifier: LGPL-2.1-or-later
/* The loopback hypervisor core: domains, grant tables, event channels. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
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
};

struct hvd_port {
	struct hvd_client *owner;
	int efd;
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
	int evt_fd, evt_ro_fd;
	struct simhv_port_shared *evt;
	struct hvd_port *ports;
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
	uint32_t domid;
	pid_t pid;
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

static int memfd(const char *name, size_t size, int *rw, int *ro, void **map)
{
	char path[64];

	*rw = memfd_create(name, MFD_CLOEXEC);
	if (*rw < 0)
		return -errno;
	if (ftruncate(*rw, (off_t)size) < 0)
		goto fail;
	if (ro) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", *rw);
		*ro = open(path, O_RDONLY | O_CLOEXEC);
		if (*ro < 0)
			goto fail;
	}
	*map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *rw, 0);
	if (*map == MAP_FAILED) {
		if (ro)
			close(*ro);
		goto fail;
	}
	return 0;
fail:
	close(*rw);
	*rw = -1;
	return -errno;
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
	if (d->evt_ro_fd >= 0)
		close(d->evt_ro_fd);
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
	d->mem_fd = d->mem_ro_fd = d->gnt_fd = d->evt_fd = d->evt_ro_fd = -1;
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
	r = memfd(name, (size_t)d->nr_frames * PAGE, &d->mem_fd, &d->mem_ro_fd, (void **)&d->mem);
	if (r)
		goto fail;
	snprintf(name, sizeof(name), "pvsplit-dom%u-grant-table", domid);
	r = memfd(name, SIMHV_NR_GRANTS * sizeof(*d->gnt), &d->gnt_fd, NULL, (void **)&d->gnt);
	if (r)
		goto fail;
	snprintf(name, sizeof(name), "pvsplit-dom%u-evtchn", domid);
	r = memfd(name, SIMHV_NR_PORTS * sizeof(*d->evt), &d->evt_fd, &d->evt_ro_fd,
		  (void **)&d->evt);
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

static void port_publish(struct hvd_domain *d, uint32_t port, uint32_t state, uint32_t rdom,
			 uint32_t rport)
{
	struct simhv_port_shared *e = &d->evt[port];

	__atomic_store_n(&e->remote_dom, rdom, __ATOMIC_RELAXED);
	__atomic_store_n(&e->remote_port, rport, __ATOMIC_RELAXED);
	__atomic_store_n(&e->state, state, __ATOMIC_RELAXED);
	__atomic_add_fetch(&e->gen, 1, __ATOMIC_RELEASE);
}

static long port_alloc(struct hvd_domain *d, struct hvd_client *owner)
{
	for (uint32_t p = 1; p < SIMHV_NR_PORTS; p++) {
		if (d->evt[p].state != SIMHV_PORT_FREE)
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
	struct simhv_port_shared *e = &d->evt[port];

	if (e->state == SIMHV_PORT_INTERDOMAIN) {
		struct hvd_domain *r = dom_get(h, e->remote_dom);

		if (r && e->remote_port < SIMHV_NR_PORTS &&
		    r->evt[e->remote_port].state == SIMHV_PORT_INTERDOMAIN &&
		    r->evt[e->remote_port].remote_dom == d->domid &&
		    r->evt[e->remote_port].remote_port == port)
			port_publish(r, e->remote_port, SIMHV_PORT_UNBOUND, d->domid, 0);
	}
	if (e->state != SIMHV_PORT_FREE)
		h->st.ports_bound -= e->state == SIMHV_PORT_INTERDOMAIN;
	port_publish(d, port, SIMHV_PORT_FREE, 0, 0);
	if (d->ports[port].efd >= 0)
		close(d->ports[port].efd);
	d->ports[port].efd = -1;
	d->ports[port].owner = NULL;
}

static int ev_alloc_unbound(struct hvd_client *c, uint32_t rdom, int *fd)
{
	struct hvd_domain *d = dom_get(c->h, c->domid);
	long p;

	if (!dom_get(c->h, rdom))
		return -ESRCH;
	p = port_alloc(d, c);
	if (p < 0)
		return (int)p;
	port_publish(d, (uint32_t)p, SIMHV_PORT_UNBOUND, rdom, 0);
	*fd = dup(d->ports[p].efd);
	return (int)p;
}

static int ev_bind(struct hvd_client *c, uint32_t rdom, uint32_t rport, int *fd)
{
	struct hvd_domain *d = dom_get(c->h, c->domid), *r = dom_get(c->h, rdom);
	long p;

	if (!r)
		return -ESRCH;
	if (rport == 0 || rport >= SIMHV_NR_PORTS || r->evt[rport].state != SIMHV_PORT_UNBOUND ||
	    r->evt[rport].remote_dom != c->domid)
		return -EINVAL;
	p = port_alloc(d, c);
	if (p < 0)
		return (int)p;
	port_publish(d, (uint32_t)p, SIMHV_PORT_INTERDOMAIN, rdom, rport);
	port_publish(r, rport, SIMHV_PORT_INTERDOMAIN, c->domid, (uint32_t)p);
	c->h->st.ports_bound += 2;
	*fd = dup(d->ports[p].efd);
	return (int)p;
}

static bool owns(struct hvd_client *c, struct hvd_domain *d, uint32_t port)
{
	return port > 0 && port < SIMHV_NR_PORTS && d->evt[port].state != SIMHV_PORT_FREE &&
	       d->ports[port].owner == c;
}

static int ev_peer(struct hvd_client *c, uint32_t port, int *fd, uint32_t *gen)
{
	struct hvd_domain *d = dom_get(c->h, c->domid), *r;
	struct simhv_port_shared *e;

	if (!owns(c, d, port))
		return -ENOTCONN;
	e = &d->evt[port];
	*gen = e->gen;
	if (e->state != SIMHV_PORT_INTERDOMAIN)
		return 0;
	r = dom_get(c->h, e->remote_dom);
	if (!r || r->ports[e->remote_port].efd < 0)
		return 0;
	*fd = dup(r->ports[e->remote_port].efd);
	return *fd < 0 ? -errno : 1;
}

static int ev_close(struct hvd_client *c, uint32_t port)
{
	struct hvd_domain *d = dom_get(c->h, c->domid);

	if (!owns(c, d, port))
		return -ENOTCONN;
	port_close(c->h, d, port);
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
 * Check a grant for use by mapper and, unless transient, pin it (setting
 * GTF_reading / GTF_writing in the shared entry on first use).  *frame gets
 * the granted frame.
 */
static int grant_check(struct hvd_domain *d, uint32_t ref, uint32_t mapper, bool ro, bool pin,
		       uint32_t *frame)
{
	struct hvd_active *a;
	grant_entry_v1_t *e;

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
			uint32_t v = __atomic_load_n(entry_word(e), __ATOMIC_ACQUIRE);
			uint16_t fl = v & 0xffff;

			if ((fl & GTF_type_mask) != GTF_permit_access || (fl & GTF_readonly) ||
			    (v >> 16) != mapper)
				return -EPERM;
			if (pin)
				__atomic_or_fetch(&e->flags, GTF_writing, __ATOMIC_ACQ_REL);
		}
		*frame = a->frame;
	} else {
		for (int tries = 0;; tries++) {
			uint32_t v = __atomic_load_n(entry_word(e), __ATOMIC_ACQUIRE), nv;
			uint16_t fl = v & 0xffff;

			if ((fl & GTF_type_mask) != GTF_permit_access || (v >> 16) != mapper)
				return -EPERM;
			if (!ro && (fl & GTF_readonly))
				return -EPERM;
			if (!pin)
				break;
			nv = v | GTF_reading | (ro ? 0 : GTF_writing);
			if (__atomic_compare_exchange_n(entry_word(e), &v, nv, false,
							__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				break;
			if (tries > 16)
				return -EBUSY; /* the guest keeps rewriting the entry */
		}
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
 * Grant copy: check each segment, then move the bytes between the client's
 * address space and the granted frame with process_vm_readv/writev.
 */
static int gnt_copy(struct hvd_client *c, const char *segs, uint32_t n, int16_t *status)
{
	for (uint32_t i = 0; i < n; i++) {
		struct simhv_copy_seg seg, *s = &seg;
		struct hvd_domain *d;

		memcpy(&seg, segs + i * sizeof(seg), sizeof(seg));
		d = dom_get(c->h, s->domid);
		struct iovec local, remote;
		uint32_t frame;
		ssize_t done;
		int r;

		if (!d) {
			status[i] = -ESRCH;
			goto bad;
		}
		if ((uint32_t)s->offset + s->len > PAGE) {
			status[i] = -EINVAL;
			goto bad;
		}
		r = grant_check(d, s->ref, c->domid, !s->to_guest, false, &frame);
		if (r) {
			status[i] = (int16_t)r;
			goto bad;
		}
		local.iov_base = d->mem + (size_t)frame * PAGE + s->offset;
		local.iov_len = s->len;
		remote.iov_base = (void *)(uintptr_t)s->local;
		remote.iov_len = s->len;
		if (s->to_guest)
			done = process_vm_readv(c->pid, &local, 1, &remote, 1, 0);
		else
			done = process_vm_writev(c->pid, &local, 1, &remote, 1, 0);
		if (done != (ssize_t)s->len) {
			status[i] = -EFAULT;
			goto bad;
		}
		status[i] = 0;
		c->h->st.copies++;
		continue;
	bad:
		c->h->st.copy_errors++;
	}
	return 0;
}

static int gnt_share(struct hvd_client *c, const struct simhv_req *rq, uint32_t *refs,
		     uint64_t *frames)
{
	struct hvd_domain *d = dom_get(c->h, c->domid);
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

static int gnt_unshare(struct hvd_client *c, const struct simhv_req *rq, const uint32_t *refs)
{
	struct hvd_domain *d = dom_get(c->h, c->domid);

	for (uint32_t i = 0; i < rq->count; i++) {
		if (refs[i] < FIRST_REF || refs[i] >= SIMHV_NR_GRANTS ||
		    d->act[refs[i]].share_owner != c)
			return -EINVAL;
		/* End access fails while the peer maps it (GTF_reading/writing set). */
		if (d->act[refs[i]].pin_rd || d->act[refs[i]].pin_wr ||
		    (d->gnt[refs[i]].flags & (GTF_reading | GTF_writing)))
			return -EBUSY;
	}
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

int hvd_client_new(struct hvd *h, uint32_t domid, pid_t pid, struct hvd_client **out)
{
	struct hvd_client *c;

	if (!dom_get(h, domid))
		return -ESRCH;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->h = h;
	c->domid = domid;
	c->pid = pid;
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
	d = dom_get(h, c->domid);
	if (d) {
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
	h->st.clients--;
	free(c);
}

int hvd_domain_destroy(struct hvd *h, uint32_t domid)
{
	struct hvd_domain *d = dom_get(h, domid);

	if (!d)
		return -ESRCH;
	for (uint32_t p = 1; p < SIMHV_NR_PORTS; p++)
		if (d->evt[p].state != SIMHV_PORT_FREE)
			port_close(h, d, p);
	for (uint32_t ref = FIRST_REF; ref < SIMHV_NR_GRANTS; ref++)
		if (d->act[ref].share_owner && d->act[ref].share_owner != SHARE_ORPHAN)
			d->act[ref].share_owner = SHARE_ORPHAN;
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

int hvd_handle(struct hvd_client *c, const void *req, size_t len, void *rsp, size_t *rsp_len,
	       int fds[4], int *nfds)
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
	if (len < sizeof(rq))
		return -EPROTO;
	memcpy(&rq, req, sizeof(rq));
	asz = arg_size(rq.op);
	if (asz && (rq.count == 0 || rq.count > SIMHV_MAX_BATCH)) {
		rs->ret = -EINVAL;
		return 0;
	}
	if (len != sizeof(rq) + asz * rq.count)
		return -EPROTO;

	switch (rq.op) {
	case SIMHV_HELLO: {
		struct hvd_domain *d = dom_get(c->h, c->domid);
		struct simhv_hello hello = {
			.version = SIMHV_PROTO_VERSION,
			.domid = c->domid,
			.privileged = c->domid == 0,
			.nr_frames = d->nr_frames,
			.nr_grants = SIMHV_NR_GRANTS,
			.nr_ports = SIMHV_NR_PORTS,
			.daemon_pid = getpid(),
		};

		memcpy(out, &hello, sizeof(hello));
		*rsp_len += sizeof(hello);
		fds[0] = dup(d->mem_fd);
		fds[1] = dup(d->gnt_fd);
		fds[2] = dup(d->evt_ro_fd);
		*nfds = 3;
		if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0)
			r = -EMFILE;
		break;
	}
	case SIMHV_GNT_MAP: {
		uint32_t refs[SIMHV_MAX_BATCH];

		memcpy(refs, in, rq.count * sizeof(uint32_t));
		r = gnt_map(c, &rq, refs, (uint64_t *)out, &fd);
		if (!r) {
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
		r = gnt_copy(c, in, rq.count, (int16_t *)out);
		*rsp_len += rq.count * sizeof(int16_t);
		rs->count = rq.count;
		break;
	}
	case SIMHV_GNT_SHARE:
		if (rq.count == 0 || rq.count > SIMHV_MAX_BATCH) {
			r = -EINVAL;
			break;
		}
		r = gnt_share(c, &rq, (uint32_t *)out, (uint64_t *)(out + rq.count * 4));
		if (!r) {
			*rsp_len += rq.count * (4 + 8);
			rs->count = rq.count;
		}
		break;
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
	case SIMHV_FOREIGN_MAP:
		r = foreign_map(c, &rq, (const uint64_t *)in, &fd);
		break;
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
