// SPDX-License-Identifier: LGPL-2.1-or-later
/* Watches: registration, matching on subtrees, permission-filtered events. */
#include <stdlib.h>

#include "xsd_private.h"

/* Is path the watched node or below it? */
static bool is_child(const char *path, const char *watched)
{
	size_t len = strlen(watched);

	if (!strcmp(watched, "/"))
		return true;
	if (strncmp(path, watched, len))
		return false;
	return path[len] == '/' || path[len] == 0;
}

void xs_send_event(struct xsd_conn *c, const char *path, const char *token)
{
	size_t pl = strlen(path) + 1, tl = strlen(token) + 1;
	char buf[XENSTORE_PAYLOAD_MAX];

	if (pl + tl > sizeof(buf))
		return;
	memcpy(buf, path, pl);
	memcpy(buf + pl, token, tl);
	if (xs_out_append(c, XS_WATCH_EVENT, 0, 0, buf, (uint32_t)(pl + tl), true) == 0)
		c->s->st.watch_events++;
	else
		c->s->st.watch_events_dropped++;
}

static void send_for_watch(struct xsd_conn *c, const struct xs_watch *w, const char *path)
{
	const char *p = path;

	if (w->relative) {
		p += w->relative;
		if (*p == '/')
			p++;
	}
	xs_send_event(c, p, w->token);
}

/*
 * May c see an event for path?  It may if it can read the node (now or,
 * for a permission change, before), or its parent.
 */
static bool permitted(struct xsd_conn *c, const char *path, const struct xs_perm *perms,
		      uint32_t np, const struct xs_perm *old, uint32_t nold)
{
	char up[XENSTORE_ABS_PATH_MAX + 1];
	struct xs_node *parent;

	if (c->priv)
		return true;
	if (old && (xs_perm_for(c, old, nold) & XS_PERM_READ))
		return true;
	if (xs_perm_for(c, perms, np) & XS_PERM_READ)
		return true;
	if (xs_parent(path, up, sizeof(up)))
		return false;
	parent = xs_map_get(&c->s->nodes, up);
	if (!parent)
		return false;
	xs_adjust_perms(c->s, parent);
	return xs_perm_for(c, parent->perms, parent->nperms) & XS_PERM_READ;
}

static void deliver(struct xsd *s, const char *path, bool exact, const struct xs_perm *perms,
		    uint32_t np, const struct xs_perm *old, uint32_t nold)
{
	for (struct xsd_conn *c = s->conns; c; c = c->next) {
		bool checked = false, ok = false;

		if (c->released)
			continue;
		for (struct xs_watch *w = c->watches; w; w = w->next) {
			bool match = exact ? !strcmp(path, w->path) : is_child(path, w->path);

			if (!match)
				continue;
			if (!checked) {
				ok = permitted(c, path, perms, np, old, nold);
				checked = true;
			}
			if (ok)
				send_for_watch(c, w, path);
		}
	}
}

static struct xs_perm *perms_dup(const struct xs_perm *p, uint32_t n)
{
	struct xs_perm *q = malloc((n ? n : 1) * sizeof(*q));

	if (q && n)
		memcpy(q, p, n * sizeof(*q));
	return q;
}

void xs_fire(struct xs_view *v, const char *path, bool exact, const struct xs_perm *perms,
	     uint32_t nperms, const struct xs_perm *old, uint32_t nold)
{
	struct xs_node *n;
	struct xs_qevent *e;
	struct xs_perm *np;

	if (!v->t) {
		deliver(v->s, path, exact, perms, nperms, old, nold);
		return;
	}
	/*
	 * Inside a transaction: queue, fire on successful commit.  One event
	 * per node, as xenstored's queue_watches(): the queue is bounded by the
	 * nodes the transaction touched (every path here is one of them).
	 */
	n = xs_map_get(&v->t->nodes, path);
	e = n ? n->qev : NULL;
	if (e) {
		np = perms_dup(perms, nperms);
		if (!np) {
			v->t->failed = true;
			return;
		}
		free(e->perms);
		e->perms = np;
		e->nperms = nperms;
		if (!exact)
			e->exact = false; /* non-exact fires a superset of the watches */
		return;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->path = strdup(path)) || !(e->perms = perms_dup(perms, nperms)) ||
	    !(e->old = old ? perms_dup(old, nold) : perms_dup(perms, nperms))) {
		if (e) {
			free(e->path);
			free(e->perms);
		}
		free(e);
		v->t->failed = true; /* cannot honour the events: refuse the commit */
		return;
	}
	e->nperms = nperms;
	e->nold = old ? nold : nperms;
	e->exact = exact;
	if (n)
		n->qev = e;
	*v->t->events_tail = e;
	v->t->events_tail = &e->next;
}

void xs_fire_special(struct xsd *s, const char *name)
{
	int idx = !strcmp(name, "@releaseDomain");

	for (struct xsd_conn *c = s->conns; c; c = c->next) {
		if (c->released)
			continue;
		if (!c->priv &&
		    !(xs_perm_for(c, s->special_perms[idx], s->special_nperms[idx]) & XS_PERM_READ))
			continue;
		for (struct xs_watch *w = c->watches; w; w = w->next)
			if (!strcmp(w->path, name))
				xs_send_event(c, name, w->token);
	}
}

int xs_watch_add(struct xsd_conn *c, const char *path, const char *token, uint32_t relative)
{
	struct xs_watch *w, **pp;

	for (w = c->watches; w; w = w->next)
		if (!strcmp(w->path, path) && !strcmp(w->token, token))
			return -EEXIST;
	if (!c->priv && c->s->doms[c->domid].nwatches >= c->s->lim.watches_per_domain)
		return -E2BIG;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->path = strdup(path);
	w->token = strdup(token);
	if (!w->path || !w->token) {
		free(w->path);
		free(w->token);
		free(w);
		return -ENOMEM;
	}
	w->relative = relative;
	/* Keep registration order: events for one change go out in that order. */
	for (pp = &c->watches; *pp; pp = &(*pp)->next)
		;
	*pp = w;
	c->nwatches++;
	c->s->doms[c->domid].nwatches++;
	c->s->st.watches++;
	return 0;
}

static void watch_free(struct xsd_conn *c, struct xs_watch *w)
{
	free(w->path);
	free(w->token);
	free(w);
	c->nwatches--;
	c->s->doms[c->domid].nwatches--;
	c->s->st.watches--;
}

int xs_watch_del(struct xsd_conn *c, const char *path, const char *token)
{
	for (struct xs_watch **pp = &c->watches; *pp; pp = &(*pp)->next) {
		struct xs_watch *w = *pp;

		if (!strcmp(w->path, path) && !strcmp(w->token, token)) {
			*pp = w->next;
			watch_free(c, w);
			return 0;
		}
	}
	return -ENOENT;
}

void xs_watch_free_all(struct xsd_conn *c)
{
	while (c->watches) {
		struct xs_watch *w = c->watches;

		c->watches = w->next;
		watch_free(c, w);
	}
}
