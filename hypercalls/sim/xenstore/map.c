// SPDX-License-Identifier: LGPL-2.1-or-later
/* Nodes and the path -> node hash map behind the store and transactions. */
#include <stdlib.h>

#include "xsd_private.h"

uint32_t xs_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s) {
		h ^= (uint8_t)*s++;
		h *= 16777619u;
	}
	return h;
}

int xs_map_init(struct xs_map *m)
{
	m->nb = 64;
	m->n = 0;
	m->b = calloc(m->nb, sizeof(*m->b));
	return m->b ? 0 : -ENOMEM;
}

void xs_map_fini(struct xs_map *m, bool free_nodes)
{
	if (!m->b)
		return;
	if (free_nodes) {
		for (uint32_t i = 0; i < m->nb; i++) {
			struct xs_node *n = m->b[i], *next;

			for (; n; n = next) {
				next = n->hnext;
				xs_node_free(n);
			}
		}
	}
	free(m->b);
	m->b = NULL;
	m->n = m->nb = 0;
}

struct xs_node *xs_map_get(const struct xs_map *m, const char *path)
{
	uint32_t h = xs_hash(path);

	for (struct xs_node *n = m->b[h & (m->nb - 1)]; n; n = n->hnext)
		if (n->hash == h && !strcmp(n->path, path))
			return n;
	return NULL;
}

static int map_grow(struct xs_map *m)
{
	uint32_t nb = m->nb * 2;
	struct xs_node **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->nb; i++) {
		struct xs_node *n = m->b[i], *next;

		for (; n; n = next) {
			next = n->hnext;
			n->hnext = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

/* Insert n (whose path must not be present yet). */
int xs_map_put(struct xs_map *m, struct xs_node *n)
{
	if (m->n >= m->nb && map_grow(m))
		return -ENOMEM;
	n->hash = xs_hash(n->path);
	n->hnext = m->b[n->hash & (m->nb - 1)];
	m->b[n->hash & (m->nb - 1)] = n;
	m->n++;
	return 0;
}

struct xs_node *xs_map_del(struct xs_map *m, const char *path)
{
	uint32_t h = xs_hash(path);
	struct xs_node **pp = &m->b[h & (m->nb - 1)];

	for (; *pp; pp = &(*pp)->hnext) {
		struct xs_node *n = *pp;

		if (n->hash == h && !strcmp(n->path, path)) {
			*pp = n->hnext;
			n->hnext = NULL;
			m->n--;
			return n;
		}
	}
	return NULL;
}

struct xs_node *xs_node_new(const char *path)
{
	struct xs_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->path = strdup(path);
	if (!n->path) {
		free(n);
		return NULL;
	}
	n->orig_gen = XSD_NO_GEN;
	return n;
}

static void *memdup(const void *p, size_t len)
{
	void *q = malloc(len ? len : 1);

	if (q && len)
		memcpy(q, p, len);
	return q;
}

struct xs_node *xs_node_dup(const struct xs_node *o)
{
	struct xs_node *n = xs_node_new(o->path);

	if (!n)
		return NULL;
	n->vlen = o->vlen;
	n->nperms = o->nperms;
	n->childlen = o->childlen;
	n->gen = o->gen;
	n->value = memdup(o->value, o->vlen);
	n->perms = memdup(o->perms, o->nperms * sizeof(*o->perms));
	n->children = memdup(o->children, o->childlen);
	if (!n->value || !n->perms || !n->children) {
		xs_node_free(n);
		return NULL;
	}
	return n;
}

void xs_node_free(struct xs_node *n)
{
	if (!n)
		return;
	free(n->path);
	free(n->value);
	free(n->perms);
	free(n->children);
	free(n);
}

int xs_node_set_value(struct xs_node *n, const void *val, uint32_t len)
{
	char *v = memdup(val, len);

	if (!v)
		return -ENOMEM;
	free(n->value);
	n->value = v;
	n->vlen = len;
	return 0;
}

int xs_node_set_perms(struct xs_node *n, const struct xs_perm *p, uint32_t np)
{
	struct xs_perm *q = memdup(p, np * sizeof(*p));

	if (!q)
		return -ENOMEM;
	free(n->perms);
	n->perms = q;
	n->nperms = np;
	return 0;
}

int xs_node_add_child(struct xs_node *n, const char *name)
{
	size_t l = strlen(name) + 1;
	char *c = realloc(n->children, n->childlen + l);

	if (!c)
		return -ENOMEM;
	memcpy(c + n->childlen, name, l);
	n->children = c;
	n->childlen += l;
	return 0;
}

bool xs_node_del_child(struct xs_node *n, const char *name)
{
	for (uint32_t off = 0; off < n->childlen;) {
		size_t l = strlen(n->children + off) + 1;

		if (!strcmp(n->children + off, name)) {
			memmove(n->children + off, n->children + off + l, n->childlen - off - l);
			n->childlen -= l;
			return true;
		}
		off += l;
	}
	return false;
}
