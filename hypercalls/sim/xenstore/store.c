// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Node operations over a view (the main tree or a transaction), with the
 * permission model of C xenstored: privileged connections and owners get
 * everything, then the first matching ACL entry, then the default (entry 0).
 *
 * Stale ACL entries (XSA-322, as xenstored 4.17's domain_adjust_node_perms):
 * an entry naming a domain that does not exist, or that was introduced
 * after the node was last written, is marked XS_PERM_IGNORE whenever the
 * node is looked at or written, so a new domain reusing an id never
 * inherits the rights given to the old one.  Ownership of a released
 * domain's nodes moves to dom0 (core.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include "xsd_private.h"

unsigned xs_perm_for(const struct xsd_conn *c, const struct xs_perm *p, uint32_t np)
{
	const unsigned all = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
	uint32_t target = c->s->doms[c->domid].target;

	if (!np)
		return c->priv ? all : 0;
	if (c->priv || p[0].id == c->domid || (target < XSD_NDOMS && p[0].id == target))
		return all;
	for (uint32_t i = 1; i < np; i++)
		if (!(p[i].bits & XS_PERM_IGNORE) &&
		    (p[i].id == c->domid || (target < XSD_NDOMS && p[i].id == target)))
			return p[i].bits & (XS_PERM_READ | XS_PERM_WRITE);
	return p[0].bits & (XS_PERM_READ | XS_PERM_WRITE);
}

/* Does domid exist for xenstore (introduced, or dom0)? */
bool xs_domain_exists(const struct xsd *s, uint32_t domid)
{
	return domid == 0 || (domid < XSD_NDOMS && s->doms[domid].introduced);
}

void xs_adjust_perms(const struct xsd *s, struct xs_node *n)
{
	for (uint32_t i = 1; i < n->nperms; i++) {
		struct xs_perm *p = &n->perms[i];

		if (p->bits & XS_PERM_IGNORE)
			continue;
		if (!xs_domain_exists(s, p->id) || (p->id && s->doms[p->id].gen > n->gen))
			p->bits |= XS_PERM_IGNORE;
	}
}

/* Record size of a node as xenstored's write_node_raw() counts it. */
static uint64_t record_size(uint32_t nperms, uint64_t vlen, uint64_t childlen)
{
	return 24 + 8 * (uint64_t)nperms + vlen + childlen;
}

/* Node size quota (unprivileged writers only). */
static int check_size(const struct xs_view *v, uint32_t nperms, uint64_t vlen, uint64_t childlen)
{
	if (v->c->priv || record_size(nperms, vlen, childlen) < v->s->lim.node_size)
		return 0;
	return -ENOSPC;
}

const char *xs_basename(const char *path)
{
	return strrchr(path, '/') + 1;
}

int xs_parent(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path + 1, '/');
	size_t l = slash ? (size_t)(slash - path) : 1;

	if (l >= len)
		return -ENAMETOOLONG;
	memcpy(buf, path, l);
	buf[l] = 0;
	return 0;
}

static bool valid_chars(const char *p)
{
	static const char ok[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-/_@";

	return p[strspn(p, ok)] == 0;
}

bool xsd_valid_path(const char *path)
{
	size_t len = strlen(path);
	unsigned domid;
	int off = 0;

	if (path[0] != '/')
		return false;
	if (len > 1 && path[len - 1] == '/')
		return false;
	if (strstr(path, "//"))
		return false;
	if (len > XENSTORE_ABS_PATH_MAX)
		return false;
	if (sscanf(path, "/local/domain/%5u/%n", &domid, &off) != 1)
		off = 0;
	if (len > (size_t)off + XENSTORE_REL_PATH_MAX)
		return false;
	return valid_chars(path);
}

/* Make a request path absolute: relative paths live under /local/domain/<id>. */
int xs_canonical(const struct xsd_conn *c, const char *in, char *out, size_t len)
{
	int n;

	if (in[0] == '/' || in[0] == '@')
		n = snprintf(out, len, "%s", in);
	else
		n = snprintf(out, len, "/local/domain/%u/%s", c->domid, in);
	return (n < 0 || (size_t)n >= len) ? -EINVAL : 0;
}

void xs_account(struct xsd *s, uint32_t owner, int delta)
{
	if (owner >= XSD_NDOMS)
		return;
	if (delta < 0 && s->doms[owner].entries < (uint32_t)-delta)
		s->doms[owner].entries = 0;
	else
		s->doms[owner].entries += delta;
}

int xs_view_get(struct xs_view *v, const char *path, struct xs_node **out)
{
	struct xs_node *n;
	int err = 0;

	if (!v->t) {
		n = xs_map_get(&v->s->nodes, path);
	} else {
		n = xs_txn_touch(v, path, &err);
		if (!n)
			return err;
		if (n->deleted)
			n = NULL;
	}
	if (n)
		xs_adjust_perms(v->s, n);
	*out = n;
	return 0;
}

/*
 * The node changed: it gets a new generation (in a transaction too, as
 * xenstored).  Its stale ACL entries were marked when it was looked up
 * (xs_view_get) against the old one, and stay marked; what is left names
 * domains that exist now.
 */
static void touch_mut(struct xs_view *v, struct xs_node *n)
{
	n->gen = ++v->s->gen;
	xs_adjust_perms(v->s, n);
	if (v->t)
		n->modified = true;
}

/*
 * An absent node must not reveal whether it exists unless the nearest
 * existing ancestor grants perm.
 */
static int errno_from_parents(struct xs_view *v, const char *path, unsigned perm)
{
	char buf[XENSTORE_ABS_PATH_MAX + 1];
	struct xs_node *n = NULL;
	int r;

	snprintf(buf, sizeof(buf), "%s", path);
	while (strcmp(buf, "/")) {
		char up[XENSTORE_ABS_PATH_MAX + 1];

		xs_parent(buf, up, sizeof(up));
		strcpy(buf, up);
		r = xs_view_get(v, buf, &n);
		if (r)
			return r;
		if (n)
			break;
	}
	if (!n)
		return -EACCES;
	return (xs_perm_for(v->c, n->perms, n->nperms) & perm) ? -ENOENT : -EACCES;
}

/* Look up an existing node the connection has perm on. */
static int lookup(struct xs_view *v, const char *path, unsigned perm, struct xs_node **out)
{
	struct xs_node *n;
	int r;

	*out = NULL;
	if (!xsd_valid_path(path))
		return -EINVAL;
	r = xs_view_get(v, path, &n);
	if (r)
		return r;
	if (!n)
		return errno_from_parents(v, path, perm);
	if ((xs_perm_for(v->c, n->perms, n->nperms) & perm) != perm)
		return -EACCES;
	*out = n;
	return 0;
}

int xs_op_read(struct xs_view *v, const char *path, struct xs_node **out)
{
	return lookup(v, path, XS_PERM_READ, out);
}

/* Quota check for n new nodes created by an unprivileged connection. */
static int check_entries(struct xs_view *v, uint32_t n)
{
	int64_t have;

	if (v->c->priv)
		return 0;
	have = v->s->doms[v->c->domid].entries;
	if (v->t)
		have += v->t->entry_delta;
	return (have + n > v->s->lim.entries_per_domain) ? -ENOSPC : 0;
}

/* Bring a new node into the view (main: allocate; transaction: revive the tombstone). */
static int view_create(struct xs_view *v, const char *path, struct xs_node **out)
{
	struct xs_node *n;
	int r;

	if (v->t) {
		n = xs_txn_touch(v, path, &r);
		if (!n)
			return r;
		free(n->value);
		free(n->perms);
		free(n->children);
		n->value = NULL;
		n->perms = NULL;
		n->children = NULL;
		n->vlen = n->nperms = n->childlen = 0;
		n->deleted = false;
		n->modified = true;
		n->gen = ++v->s->gen;
		*out = n;
		return 0;
	}
	n = xs_node_new(path);
	if (!n)
		return -ENOMEM;
	r = xs_map_put(&v->s->nodes, n);
	if (r) {
		xs_node_free(n);
		return r;
	}
	n->gen = ++v->s->gen;
	*out = n;
	return 0;
}

/*
 * Create path and every missing ancestor, inheriting permissions.  vlen is
 * the size of the value about to be written to path: every record this
 * grows or creates is checked against the node size quota first, so that a
 * refused write creates nothing.
 */
static int create_node(struct xs_view *v, const char *path, uint32_t vlen, struct xs_node **out)
{
	/* stack[0] is path itself, stack[1..] its missing ancestors (allocated). */
	const char *stack[XENSTORE_ABS_PATH_MAX / 2 + 2];
	char cur[XENSTORE_ABS_PATH_MAX + 1];
	struct xs_node *parent = NULL, *n = NULL;
	uint32_t depth = 0;
	int r;

	snprintf(cur, sizeof(cur), "%s", path);
	stack[depth++] = path;
	for (;;) {
		char up[XENSTORE_ABS_PATH_MAX + 1];

		xs_parent(cur, up, sizeof(up));
		strcpy(cur, up);
		r = xs_view_get(v, cur, &parent);
		if (r)
			goto out;
		if (parent || !strcmp(cur, "/"))
			break;
		stack[depth] = strdup(cur);
		if (!stack[depth]) {
			r = -ENOMEM;
			goto out;
		}
		depth++;
	}
	if (!parent) {
		r = -EIO; /* no root: cannot happen */
		goto out;
	}
	r = check_entries(v, depth);
	if (r)
		goto out;
	/* The existing parent gains a child; each new node has one child but the last. */
	r = check_size(v, parent->nperms, parent->vlen,
		       parent->childlen + strlen(xs_basename(stack[depth - 1])) + 1);
	for (uint32_t i = depth; !r && i-- > 0;)
		r = check_size(v, parent->nperms, i ? 0 : vlen,
			       i ? strlen(xs_basename(stack[i - 1])) + 1 : 0);
	if (r)
		goto out;

	for (uint32_t i = depth; i-- > 0;) {
		const char *name = stack[i];

		r = view_create(v, name, &n);
		if (r)
			goto out;
		r = xs_node_set_perms(n, parent->perms, parent->nperms);
		if (r)
			goto out;
		if (!v->c->priv && n->nperms)
			n->perms[0].id = v->c->domid;
		r = xs_node_add_child(parent, xs_basename(name));
		if (r)
			goto out;
		touch_mut(v, parent);
		if (v->t) {
			if (n->perms[0].id == v->c->domid)
				v->t->entry_delta++;
		} else {
			xs_account(v->s, n->perms[0].id, +1);
		}
		parent = n;
	}
	*out = n;
out:
	for (uint32_t i = 1; i < depth; i++)
		free((char *)stack[i]);
	return r;
}

int xs_op_write(struct xs_view *v, const char *path, const void *val, uint32_t len)
{
	struct xs_node *n;
	int r;

	r = lookup(v, path, XS_PERM_WRITE, &n);
	if (r == -ENOENT)
		r = create_node(v, path, len, &n);
	else if (!r)
		r = check_size(v, n->nperms, len, n->childlen);
	if (r)
		return r;
	r = xs_node_set_value(n, val, len);
	if (r)
		return r;
	touch_mut(v, n);
	xs_fire(v, path, false, n->perms, n->nperms, NULL, 0);
	return 0;
}

int xs_op_mkdir(struct xs_view *v, const char *path)
{
	struct xs_node *n;
	int r = lookup(v, path, XS_PERM_WRITE, &n);

	if (r != -ENOENT)
		return r; /* exists (fine) or no permission */
	r = create_node(v, path, 0, &n);
	if (r)
		return r;
	xs_fire(v, path, false, n->perms, n->nperms, NULL, 0);
	return 0;
}

/* Remove n and its subtree (post-order, as xenstored fires the events). */
static int rm_tree(struct xs_view *v, struct xs_node *n, const char *root)
{
	char child[XENSTORE_ABS_PATH_MAX + 1];
	int r;

	/* Children first.  The list shrinks as they go, so always take the first. */
	while (n->childlen) {
		struct xs_node *c;

		if (snprintf(child, sizeof(child), "%s/%s", n->path, n->children) >=
		    (int)sizeof(child))
			return -EIO;
		r = xs_view_get(v, child, &c);
		if (r)
			return r;
		if (c) {
			r = rm_tree(v, c, root);
			if (r)
				return r;
		}
		xs_node_del_child(n, n->children);
	}

	xs_fire(v, n->path, strcmp(n->path, root) != 0, n->perms, n->nperms, NULL, 0);
	if (v->t) {
		if (n->nperms && n->perms[0].id == v->c->domid)
			v->t->entry_delta--;
		n->deleted = true;
		n->modified = true;
	} else {
		struct xs_node *gone = xs_map_del(&v->s->nodes, n->path);

		if (gone->nperms)
			xs_account(v->s, gone->perms[0].id, -1);
		v->s->gen++;
		xs_node_free(gone);
	}
	return 0;
}

int xs_op_rm(struct xs_view *v, const char *path)
{
	char up[XENSTORE_ABS_PATH_MAX + 1];
	struct xs_node *n, *parent;
	int r = lookup(v, path, XS_PERM_WRITE, &n);

	if (r == -ENOENT) {
		/* Removing something absent is fine if its parent exists. */
		xs_parent(path, up, sizeof(up));
		r = xs_view_get(v, up, &parent);
		if (r)
			return r;
		return parent ? 0 : -ENOENT;
	}
	if (r)
		return r;
	if (!strcmp(path, "/"))
		return -EINVAL;
	xs_parent(path, up, sizeof(up));
	r = xs_view_get(v, up, &parent);
	if (r)
		return r;
	if (!parent)
		return -EIO;
	r = rm_tree(v, n, path);
	if (r)
		return r;
	xs_node_del_child(parent, xs_basename(path));
	touch_mut(v, parent);
	return 0;
}

int xs_op_set_perms(struct xs_view *v, const char *path, const struct xs_perm *p, uint32_t np)
{
	struct xs_perm old[64];
	uint32_t nold;
	struct xs_node *n;
	int r;

	if (!np)
		return -EINVAL;
	if (!v->c->priv && np > v->s->lim.perms_per_node)
		return -ENOSPC;
	/* The owner must exist; entries naming a domain that does not are ignored. */
	if ((p[0].bits & XS_PERM_IGNORE) || !xs_domain_exists(v->s, p[0].id))
		return -ENOENT;
	r = lookup(v, path, XS_PERM_WRITE | XS_PERM_OWNER, &n);
	if (r)
		return r;
	if (!v->c->priv && p[0].id != n->perms[0].id)
		return -EPERM;
	r = check_size(v, np, n->vlen, n->childlen);
	if (r)
		return r;
	nold = n->nperms < 64 ? n->nperms : 64;
	memcpy(old, n->perms, nold * sizeof(*old));
	r = xs_node_set_perms(n, p, np);
	if (r)
		return r;
	for (uint32_t i = 1; i < np; i++)
		if (!xs_domain_exists(v->s, n->perms[i].id))
			n->perms[i].bits |= XS_PERM_IGNORE;
	if (!v->t && nold && old[0].id != p[0].id) {
		xs_account(v->s, old[0].id, -1);
		xs_account(v->s, p[0].id, +1);
	}
	touch_mut(v, n);
	xs_fire(v, path, false, n->perms, n->nperms, old, nold);
	return 0;
}
