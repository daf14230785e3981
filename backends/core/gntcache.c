// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gntcache.h"

struct pvb_gnt {
	struct pvb_gnt *hnext;
	struct pvb_gnt *lprev, *lnext; /* idle list, oldest first */
	uint32_t ref;
	uint32_t users;
	bool ro;
	void *page;
	uint64_t last; /* put back at (the cache's clock) */
};

struct pvb_gntcache {
	struct pvhv *hv;
	uint32_t domid, max, nb;
	struct pvb_map_account *acct;
	struct pvb_gntcache *anext, **aprev; /* the account's list of caches */
	struct pvb_gnt **buckets;
	struct pvb_gnt *idle_head, *idle_tail;
	uint64_t now;
	struct pvb_gntcache_stats st;
};

void pvb_gntcache_set_time(struct pvb_gntcache *c, uint64_t now_ns)
{
	c->now = now_ns;
}

int pvb_gntcache_new(struct pvhv *hv, uint32_t domid, uint32_t max, struct pvb_map_account *acct,
		     struct pvb_gntcache **out)
{
	struct pvb_gntcache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->hv = hv;
	c->acct = acct;
	if (acct) {
		c->anext = acct->caches;
		if (c->anext)
			c->anext->aprev = &c->anext;
		c->aprev = &acct->caches;
		acct->caches = c;
	}
	c->domid = domid;
	c->max = max ? max : 1;
	for (c->nb = 64; c->nb < c->max; c->nb *= 2)
		;
	c->buckets = calloc(c->nb, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

static struct pvb_gnt **slot(struct pvb_gntcache *c, uint32_t ref)
{
	struct pvb_gnt **pp = &c->buckets[(ref * 2654435761u) & (c->nb - 1)];

	while (*pp && (*pp)->ref != ref)
		pp = &(*pp)->hnext;
	return pp;
}

static void idle_del(struct pvb_gntcache *c, struct pvb_gnt *g)
{
	if (g->lprev)
		g->lprev->lnext = g->lnext;
	else
		c->idle_head = g->lnext;
	if (g->lnext)
		g->lnext->lprev = g->lprev;
	else
		c->idle_tail = g->lprev;
	g->lprev = g->lnext = NULL;
}

static void idle_add(struct pvb_gntcache *c, struct pvb_gnt *g)
{
	g->lnext = NULL;
	g->lprev = c->idle_tail;
	if (c->idle_tail)
		c->idle_tail->lnext = g;
	else
		c->idle_head = g;
	c->idle_tail = g;
}

static void drop(struct pvb_gntcache *c, struct pvb_gnt *g)
{
	struct pvb_gnt **pp = slot(c, g->ref);

	*pp = g->hnext;
	pvhv_gnt_unmap(c->hv, g->page, 1);
	pvb_map_give(c->acct, 1);
	c->st.mapped--;
	free(g);
}

static int map_one(struct pvb_gntcache *c, uint32_t ref, bool write, void **page, bool *ro)
{
	int r = pvhv_gnt_map(c->hv, c->domid, 1, &ref, 0, page);

	*ro = false;
	if ((r == -EPERM || r == -EINVAL) && !write) {
		/* A read-only grant: good enough for a request that only reads it. */
		r = pvhv_gnt_map(c->hv, c->domid, 1, &ref, PVHV_GNT_RO, page);
		*ro = true;
	}
	return r;
}

/* x's least recently used idle entry, if idle for long enough by c's clock. */
static bool stale_in(const struct pvb_gntcache *c, const struct pvb_gntcache *x)
{
	return x->idle_head && c->now > x->idle_head->last &&
	       c->now - x->idle_head->last >= PVB_GNTCACHE_STALE_NS;
}

/* The cache of c's account with the stalest idle entry (NULL: none is stale). */
static struct pvb_gntcache *stalest(const struct pvb_gntcache *c)
{
	struct pvb_gntcache *best = NULL;

	for (struct pvb_gntcache *x = c->acct ? c->acct->caches : NULL; x; x = x->anext)
		if (stale_in(c, x) && (!best || x->idle_head->last < best->idle_head->last))
			best = x;
	return best;
}

int pvb_gntcache_get(struct pvb_gntcache *c, uint32_t ref, bool write, struct pvb_gnt **out,
		     void **page)
{
	struct pvb_gnt **pp = slot(c, ref), *g = *pp;
	bool ro;
	int r;

	if (g && (!g->ro || !write)) {
		c->st.hits++;
		if (!g->users++) {
			idle_del(c, g);
			c->st.in_use++;
		}
		*out = g;
		*page = g->page;
		return 0;
	}
	if (g) {
		/* Cached read-only, needed writable: only possible if it is idle. */
		if (g->users)
			return -EPERM;
		idle_del(c, g);
		drop(c, g);
		pp = slot(c, ref);
	}
	c->st.misses++;
	/* The daemon's account at its limit counts as this cache full. */
	if (c->st.mapped >= c->max || !pvb_map_take(c->acct, 1)) {
		bool acct_full = c->st.mapped < c->max;
		/* This cache full: its own idle entry; the account full: anyone's. */
		struct pvb_gntcache *v = acct_full ? stalest(c) : stale_in(c, c) ? c : NULL;

		if (!v) {
			c->st.full++;
			if (acct_full)
				c->st.acct_full++;
			return -ENOSPC;
		}
		g = v->idle_head;
		idle_del(v, g);
		drop(v, g); /* gives its page back to the account */
		v->st.evictions++;
		if (v != c)
			v->st.reclaimed++;
		pp = slot(c, ref);
		if (!pvb_map_take(c->acct, 1)) {
			c->st.full++;
			c->st.acct_full++;
			return -ENOSPC;
		}
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		pvb_map_give(c->acct, 1);
		return -ENOMEM;
	}
	r = map_one(c, ref, write, &g->page, &ro);
	if (r) {
		pvb_map_give(c->acct, 1);
		c->st.map_errors++;
		free(g);
		return r;
	}
	g->ref = ref;
	g->ro = ro;
	g->users = 1;
	g->hnext = NULL;
	*pp = g;
	c->st.mapped++;
	c->st.in_use++;
	*out = g;
	*page = g->page;
	return 0;
}

void pvb_gntcache_put(struct pvb_gntcache *c, struct pvb_gnt *g)
{
	if (--g->users)
		return;
	c->st.in_use--;
	g->last = c->now;
	idle_add(c, g);
}

void pvb_gntcache_free(struct pvb_gntcache *c)
{
	if (!c)
		return;
	if (c->aprev) {
		*c->aprev = c->anext;
		if (c->anext)
			c->anext->aprev = c->aprev;
	}
	for (uint32_t i = 0; i < c->nb; i++) {
		while (c->buckets[i]) {
			struct pvb_gnt *g = c->buckets[i];

			c->buckets[i] = g->hnext;
			pvhv_gnt_unmap(c->hv, g->page, 1);
			pvb_map_give(c->acct, 1);
			free(g);
		}
	}
	free(c->buckets);
	free(c);
}

void pvb_gntcache_get_stats(const struct pvb_gntcache *c, struct pvb_gntcache_stats *st)
{
	*st = c->st;
}
