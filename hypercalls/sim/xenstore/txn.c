// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Transactions, generation-count style (as C xenstored): every node a
 * transaction touches is copied into it with the main tree's generation of
 * that moment (or "absent"); the commit fails with EAGAIN if any of them has
 * changed since, else the modified copies replace the main nodes and the
 * queued watch events fire.
 */
#include <stdlib.h>

#include "xsd_private.h"

struct xs_node *xs_txn_touch(struct xs_view *v, const char *path, int *err)
{
	struct xsd_txn *t = v->t;
	struct xs_node *n = xs_map_get(&t->nodes, path), *m;

	if (n)
		return n;
	if (!v->c->priv && t->ntouched >= v->s->lim.txn_nodes) {
		*err = -ENOSPC;
		return NULL;
	}
	m = xs_map_get(&v->s->nodes, path);
	if (m) {
		n = xs_node_dup(m);
		if (n)
			n->orig_gen = m->gen;
	} else {
		n = xs_node_new(path);
		if (n) {
			n->deleted = true;
			n->orig_gen = XSD_NO_GEN;
		}
	}
	if (!n || xs_map_put(&t->nodes, n)) {
		xs_node_free(n);
		*err = -ENOMEM;
		return NULL;
	}
	n->tnext = t->touched;
	t->touched = n;
	t->ntouched++;
	return n;
}

int xs_txn_start(struct xsd_conn *c, uint32_t *id)
{
	struct xsd_txn *t;

	if (!c->priv && c->s->doms[c->domid].ntxns >= c->s->lim.txns_per_domain)
		return -ENOSPC;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (xs_map_init(&t->nodes)) {
		free(t);
		return -ENOMEM;
	}
	t->events_tail = &t->events;
	do {
		t->id = ++c->next_txn_id;
	} while (t->id == 0 || xs_txn_find(c, t->id));
	t->next = c->txns;
	c->txns = t;
	c->ntxns++;
	c->s->doms[c->domid].ntxns++;
	c->s->st.txns++;
	*id = t->id;
	return 0;
}

struct xsd_txn *xs_txn_find(struct xsd_conn *c, uint32_t id)
{
	for (struct xsd_txn *t = c->txns; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

static void txn_free(struct xsd_conn *c, struct xsd_txn *t)
{
	struct xs_qevent *e, *next;

	for (struct xsd_txn **pp = &c->txns; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	for (e = t->events; e; e = next) {
		next = e->next;
		free(e->path);
		free(e->perms);
		free(e->old);
		free(e);
	}
	xs_map_fini(&t->nodes, true);
	free(t);
	c->ntxns--;
	c->s->doms[c->domid].ntxns--;
	c->s->st.txns--;
}

static bool conflicts(struct xsd *s, struct xsd_txn *t)
{
	for (struct xs_node *n = t->touched; n; n = n->tnext) {
		struct xs_node *m = xs_map_get(&s->nodes, n->path);

		if ((m ? m->gen : XSD_NO_GEN) != n->orig_gen)
			return true;
	}
	return false;
}

static int apply(struct xsd *s, struct xs_node *n)
{
	struct xs_node *m = xs_map_get(&s->nodes, n->path);

	if (n->deleted) {
		if (m) {
			m = xs_map_del(&s->nodes, n->path);
			if (m->nperms)
				xs_account(s, m->perms[0].id, -1);
			xs_node_free(m);
			s->gen++;
		}
		return 0;
	}
	if (!m) {
		m = xs_node_new(n->path);
		if (!m || xs_map_put(&s->nodes, m)) {
			xs_node_free(m);
			return -ENOMEM;
		}
	} else if (m->nperms) {
		xs_account(s, m->perms[0].id, -1);
	}
	/* ACL entries naming a domain younger than the transaction's write stay out. */
	xs_adjust_perms(s, n);
	/* Move the transaction's contents over. */
	free(m->value);
	free(m->perms);
	free(m->children);
	m->value = n->value;
	m->vlen = n->vlen;
	m->perms = n->perms;
	m->nperms = n->nperms;
	m->children = n->children;
	m->childlen = n->childlen;
	n->value = NULL;
	n->perms = NULL;
	n->children = NULL;
	n->vlen = n->nperms = n->childlen = 0;
	if (m->nperms)
		xs_account(s, m->perms[0].id, +1);
	m->gen = ++s->gen;
	return 0;
}

int xs_txn_end(struct xsd_conn *c, struct xsd_txn *t, bool commit)
{
	struct xsd *s = c->s;
	struct xs_view main_view = { .s = s, .c = c, .t = NULL };
	int r = 0;

	if (!commit)
		goto out;
	if (t->failed) {
		r = -EIO;
		goto out;
	}
	if (conflicts(s, t)) {
		s->st.txn_conflicts++;
		r = -EAGAIN;
		goto out;
	}
	/*
	 * Entry quota again (xenstored's transaction_fix_domains()): each
	 * transaction was checked against the count when it created its
	 * nodes, but several of them may have been open at once.
	 */
	if (!c->priv && t->entry_delta > 0 &&
	    (int64_t)s->doms[c->domid].entries + t->entry_delta > s->lim.entries_per_domain) {
		r = -ENOSPC;
		goto out;
	}
	for (struct xs_node *n = t->touched; n; n = n->tnext) {
		if (!n->modified)
			continue;
		r = apply(s, n);
		if (r)
			goto out; /* out of memory mid-commit: the tree stays consistent per node */
	}
	s->st.txn_commits++;
	for (struct xs_qevent *e = t->events; e; e = e->next)
		xs_fire(&main_view, e->path, e->exact, e->perms, e->nperms, e->old, e->nold);
out:
	txn_free(c, t);
	return r;
}

void xs_txn_free_all(struct xsd_conn *c)
{
	while (c->txns)
		txn_free(c, c->txns);
}
