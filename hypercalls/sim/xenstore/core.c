// SPDX-License-Identifier: LGPL-2.1-or-later
/* The server object, domains, connections and their output queues. */
#include <stdio.h>
#include <stdlib.h>

#include "xsd_private.h"

void xsd_limits_default(struct xsd_limits *lim)
{
	lim->entries_per_domain = 1000;
	lim->node_size = 2048;
	lim->watches_per_domain = 128;
	lim->txns_per_domain = 10;
	lim->conns_per_domain = 64;
	lim->perms_per_node = 5;
	lim->txn_nodes = 1024;
	lim->outq_max = 1u << 20;
}

static int add_root_node(struct xsd *s, const char *path)
{
	struct xs_node *n = xs_node_new(path);
	struct xs_perm p = { .id = 0, .bits = XS_PERM_NONE };
	char up[XENSTORE_ABS_PATH_MAX + 1];

	if (!n || xs_node_set_perms(n, &p, 1) || xs_node_set_value(n, "", 0) ||
	    xs_map_put(&s->nodes, n)) {
		xs_node_free(n);
		return -ENOMEM;
	}
	n->gen = ++s->gen;
	xs_account(s, 0, +1);
	if (strcmp(path, "/")) {
		struct xs_node *parent;

		xs_parent(path, up, sizeof(up));
		parent = xs_map_get(&s->nodes, up);
		if (!parent || xs_node_add_child(parent, xs_basename(path)))
			return -ENOMEM;
	}
	return 0;
}

int xsd_new(struct xsd **out, const struct xsd_limits *lim, const struct xsd_hooks *hooks)
{
	static const char *const roots[] = { "/", "/local", "/local/domain", "/tool" };
	struct xsd *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	if (lim)
		s->lim = *lim;
	else
		xsd_limits_default(&s->lim);
	if (hooks)
		s->hooks = *hooks;
	s->doms = calloc(XSD_NDOMS, sizeof(*s->doms));
	if (!s->doms || xs_map_init(&s->nodes))
		goto fail;
	for (uint32_t i = 0; i < XSD_NDOMS; i++)
		s->doms[i].target = XSD_NDOMS;
	s->doms[0].introduced = true;
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
		if (add_root_node(s, roots[i]))
			goto fail;
	for (int i = 0; i < 2; i++) {
		s->special_perms[i][0].id = 0;
		s->special_perms[i][0].bits = XS_PERM_NONE;
		s->special_nperms[i] = 1;
	}
	*out = s;
	return 0;
fail:
	xsd_free(s);
	return -ENOMEM;
}

void xsd_free(struct xsd *s)
{
	if (!s)
		return;
	while (s->conns)
		xsd_conn_free(s->conns);
	xs_map_fini(&s->nodes, true);
	free(s->doms);
	free(s);
}

void xsd_get_stats(const struct xsd *s, struct xsd_stats *st)
{
	*st = s->st;
	st->nodes = s->nodes.n;
}

/* A node written by the toolstack (dom0), as libxl__xs_mknod() does. */
static int mknod(struct xs_view *v, const char *home, const char *name, const char *val,
		 const struct xs_perm *p, uint32_t np)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "%s%s%s", home, *name ? "/" : "", name);
	r = xs_op_write(v, path, val, (uint32_t)strlen(val));
	if (!r && p)
		r = xs_op_set_perms(v, path, p, np);
	return r;
}

/* What libxl__domain_make() and libxl__build_post() (4.17) write for a new domain. */
static int make_home(struct xsd *s, uint32_t domid, const char *home)
{
	static const char *const ro_dirs[] = { "cpu", "memory", "device", "control" };
	static const char *const rw_dirs[] = {
		"control/shutdown",
		"control/feature-poweroff",
		"control/feature-reboot",
		"control/feature-suspend",
		"control/sysrq",
		"data",
		"drivers",
		"feature",
		"attr",
		"error",
	};
	struct xsd_conn tool = { .s = s, .domid = 0, .priv = true };
	struct xs_view v = { .s = s, .c = &tool, .t = NULL };
	const struct xs_perm ro[2] = { { .id = 0, .bits = XS_PERM_NONE },
				       { .id = domid, .bits = XS_PERM_READ } };
	const struct xs_perm rw[1] = { { .id = domid, .bits = XS_PERM_NONE } };
	char val[32];
	int r;

	if (domid == 0) {
		/* dom0's home is its own; xen-init-dom0 writes domid and name. */
		r = mknod(&v, home, "", "", rw, 1);
		r = r ?: mknod(&v, home, "domid", "0", NULL, 0);
		return r ?: mknod(&v, home, "name", "Domain-0", NULL, 0);
	}
	r = mknod(&v, home, "", "", ro, 2);
	snprintf(val, sizeof(val), "%u", domid);
	r = r ?: mknod(&v, home, "domid", val, NULL, 0);
	snprintf(val, sizeof(val), "domain-%u", domid);
	r = r ?: mknod(&v, home, "name", val, NULL, 0);
	for (size_t i = 0; !r && i < sizeof(ro_dirs) / sizeof(ro_dirs[0]); i++)
		r = mknod(&v, home, ro_dirs[i], "", ro, 2);
	for (size_t i = 0; !r && i < sizeof(rw_dirs) / sizeof(rw_dirs[0]); i++)
		r = mknod(&v, home, rw_dirs[i], "", rw, 1);
	r = r ?: mknod(&v, home, "control/platform-feature-multiprocessor-suspend", "1", NULL, 0);
	return r ?: mknod(&v, home, "control/platform-feature-xs_reset_watches", "1", NULL, 0);
}

int xsd_domain_introduce(struct xsd *s, uint32_t domid)
{
	char path[32];
	int r;

	if (domid >= XSD_NDOMS)
		return -EINVAL;
	if (s->doms[domid].introduced && domid != 0)
		return -EEXIST;
	if (!s->doms[domid].introduced) {
		/* ACL entries older than this naming domid are not for this domain. */
		s->doms[domid].introduced = true;
		s->doms[domid].gen = ++s->gen;
	}
	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	if (!xs_map_get(&s->nodes, path)) {
		r = make_home(s, domid, path);
		if (r)
			return r;
	}
	if (domid != 0)
		xs_fire_special(s, "@introduceDomain");
	return 0;
}

/* Drop ACL entries naming domid from a special node's permissions (entry 0 stays). */
static void special_forget(struct xsd *s, int idx, uint32_t domid)
{
	struct xs_perm *p = s->special_perms[idx];
	uint32_t n = 1;

	for (uint32_t i = 1; i < s->special_nperms[idx]; i++)
		if (p[i].id != domid)
			p[n++] = p[i];
	s->special_nperms[idx] = n;
}

int xsd_domain_release(struct xsd *s, uint32_t domid)
{
	if (domid == 0 || domid >= XSD_NDOMS || !s->doms[domid].introduced)
		return -ENOENT;
	s->doms[domid].introduced = false;
	s->doms[domid].target = XSD_NDOMS;
	for (uint32_t i = 0; i < XSD_NDOMS; i++)
		if (s->doms[i].target == domid)
			s->doms[i].target = XSD_NDOMS;
	for (struct xsd_conn *c = s->conns; c; c = c->next) {
		if (c->domid != domid)
			continue;
		xs_watch_free_all(c);
		xs_txn_free_all(c);
		c->released = true;
		/* Let the owner of the connection flush and close it. */
		if (c->out.head == c->out.tail && s->hooks.output_ready)
			s->hooks.output_ready(s->hooks.opaque, c);
	}
	/*
	 * Its nodes go to dom0 (xenstored --keep-orphans; by default xenstored
	 * 4.17 deletes them).  A new generation makes open transactions that
	 * read one of them fail with EAGAIN rather than give it back.
	 */
	for (uint32_t b = 0; b < s->nodes.nb; b++) {
		for (struct xs_node *n = s->nodes.b[b]; n; n = n->hnext) {
			if (!n->nperms || n->perms[0].id != domid)
				continue;
			n->perms[0].id = 0;
			n->gen = ++s->gen;
			xs_account(s, domid, -1);
			xs_account(s, 0, +1);
		}
	}
	s->doms[domid].entries = 0;
	special_forget(s, 0, domid);
	special_forget(s, 1, domid);
	xs_fire_special(s, "@releaseDomain");
	return 0;
}

int xsd_domain_destroy(struct xsd *s, uint32_t domid)
{
	struct xsd_conn tool = { .s = s, .domid = 0, .priv = true };
	struct xs_view v = { .s = s, .c = &tool, .t = NULL };
	char path[32];

	if (domid == 0 || domid >= XSD_NDOMS)
		return -EINVAL;
	if (s->doms[domid].introduced)
		xsd_domain_release(s, domid);
	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	return xs_op_rm(&v, path);
}

bool xsd_domain_is_introduced(const struct xsd *s, uint32_t domid)
{
	return domid < XSD_NDOMS && s->doms[domid].introduced;
}

int xsd_conn_new(struct xsd *s, uint32_t domid, struct xsd_conn **out)
{
	struct xsd_conn *c;

	if (domid >= XSD_NDOMS)
		return -EINVAL;
	if (!xs_domain_exists(s, domid))
		return -ESRCH;
	if (domid != 0 && s->doms[domid].nconns >= s->lim.conns_per_domain)
		return -EUSERS;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->in = malloc(XENSTORE_PAYLOAD_MAX + 1);
	if (!c->in) {
		free(c);
		return -ENOMEM;
	}
	c->s = s;
	c->domid = domid;
	c->priv = domid == 0;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->doms[domid].nconns++;
	s->st.conns++;
	*out = c;
	return 0;
}

void xsd_conn_free(struct xsd_conn *c)
{
	struct xsd *s;

	if (!c)
		return;
	s = c->s;
	xs_watch_free_all(c);
	xs_txn_free_all(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->doms[c->domid].nconns--;
	s->st.conns--;
	free(c->out.buf);
	free(c->in);
	free(c);
}

uint32_t xsd_conn_domid(const struct xsd_conn *c)
{
	return c->domid;
}

void xsd_conn_set_opaque(struct xsd_conn *c, void *opaque)
{
	c->opaque = opaque;
}

void *xsd_conn_opaque(const struct xsd_conn *c)
{
	return c->opaque;
}

bool xsd_conn_released(const struct xsd_conn *c)
{
	return c->released;
}

int xs_out_append(struct xsd_conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
		  const void *data, uint32_t len, bool is_event)
{
	struct outbuf *o = &c->out;
	struct xsd_sockmsg h = { .type = type, .req_id = req_id, .tx_id = tx_id, .len = len };
	size_t need = sizeof(h) + len;
	bool was_empty = o->head == o->tail;

	if (is_event && !c->priv && o->tail - o->head + need > c->s->lim.outq_max)
		return -ENOSPC;
	if (o->head == o->tail)
		o->head = o->tail = 0;
	if (o->tail + need > o->cap) {
		/* Compact first, then grow. */
		if (o->head) {
			memmove(o->buf, o->buf + o->head, o->tail - o->head);
			o->tail -= o->head;
			o->head = 0;
		}
		if (o->tail + need > o->cap) {
			size_t cap = o->cap ? o->cap : 4096;
			char *b;

			while (cap < o->tail + need)
				cap *= 2;
			b = realloc(o->buf, cap);
			if (!b)
				return -ENOMEM;
			o->buf = b;
			o->cap = cap;
		}
	}
	memcpy(o->buf + o->tail, &h, sizeof(h));
	if (len)
		memcpy(o->buf + o->tail + sizeof(h), data, len);
	o->tail += need;
	if (was_empty && c->s->hooks.output_ready)
		c->s->hooks.output_ready(c->s->hooks.opaque, c);
	return 0;
}

size_t xsd_conn_output(struct xsd_conn *c, const void **buf)
{
	*buf = c->out.buf ? c->out.buf + c->out.head : NULL;
	return c->out.tail - c->out.head;
}

void xsd_conn_output_consume(struct xsd_conn *c, size_t n)
{
	c->out.head += n;
	if (c->out.head >= c->out.tail)
		c->out.head = c->out.tail = 0;
}
