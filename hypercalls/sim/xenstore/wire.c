// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The xenstore wire protocol (xen/io/xs_wire.h): framing, a dispatch table
 * of operations with flags, argument parsing, replies and errors.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "xsd_private.h"

struct req {
	struct xsd_conn *c;
	const struct xsd_sockmsg *hdr;
	char *buf; /* payload; buf[len] == 0 */
	uint32_t len;
	struct xsd_txn *t;
};

#define F_NOTID (1u << 0) /* ignore the transaction id */
#define F_PRIV	(1u << 1) /* privileged connections only */

static struct xs_view view_of(struct req *r)
{
	struct xs_view v = { .s = r->c->s, .c = r->c, .t = r->t };

	return v;
}

static int reply(struct req *r, const void *data, uint32_t len)
{
	if (len > XENSTORE_PAYLOAD_MAX)
		return -E2BIG;
	return xs_out_append(r->c, r->hdr->type, r->hdr->req_id, r->hdr->tx_id, data, len, false);
}

static int ack(struct req *r)
{
	return reply(r, "OK", 3);
}

static void send_error(struct xsd_conn *c, const struct xsd_sockmsg *hdr, int err)
{
	const char *s = "EINVAL";

	for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++) {
		if (xsd_errors[i].errnum == err) {
			s = xsd_errors[i].errstring;
			break;
		}
	}
	c->s->st.errors++;
	xs_out_append(c, XS_ERROR, hdr->req_id, hdr->tx_id, s, (uint32_t)strlen(s) + 1, false);
}

/* Number of nul-terminated strings (xenstored counts the nuls). */
static unsigned count_strings(const struct req *r)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < r->len; i++)
		n += r->buf[i] == 0;
	return n;
}

/* Exactly one nul, at the end. */
static const char *onearg(const struct req *r)
{
	if (!r->len || strlen(r->buf) + 1 != r->len)
		return NULL;
	return r->buf;
}

/* Start of the i-th string (caller checked count_strings() > i). */
static const char *arg(const struct req *r, unsigned i)
{
	const char *p = r->buf;

	while (i--)
		p += strlen(p) + 1;
	return p;
}

static int parse_domid(const char *s, uint32_t *domid)
{
	char *end;
	unsigned long v;

	if (!*s)
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v >= XSD_NDOMS)
		return -EINVAL;
	*domid = (uint32_t)v;
	return 0;
}

/* Canonical node path from a request argument. */
static int node_path(struct req *r, const char *in, char *out, size_t len)
{
	if (!in || in[0] == '@')
		return -EINVAL;
	if (xs_canonical(r->c, in, out, len))
		return -EINVAL;
	return xsd_valid_path(out) ? 0 : -EINVAL;
}

static int op_directory(struct req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 64];
	struct xs_view v = view_of(r);
	struct xs_node *n;
	int e = node_path(r, onearg(r), path, sizeof(path));

	if (e || (e = xs_op_read(&v, path, &n)))
		return e;
	return reply(r, n->children, n->childlen);
}

static int op_directory_part(struct req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 64], gen[24];
	char data[XENSTORE_PAYLOAD_MAX];
	struct xs_view v = view_of(r);
	struct xs_node *n;
	uint32_t off, len = 0, genlen, maxlen;
	int e;

	if (count_strings(r) != 2)
		return -EINVAL;
	e = node_path(r, arg(r, 0), path, sizeof(path));
	if (e || (e = xs_op_read(&v, path, &n)))
		return e;
	off = (uint32_t)strtoul(arg(r, 1), NULL, 10);
	genlen = (uint32_t)snprintf(gen, sizeof(gen), "%" PRIu64, n->gen) + 1;
	memcpy(data, gen, genlen);
	if (off >= n->childlen) {
		data[genlen] = 0;
		return reply(r, data, genlen + 1);
	}
	maxlen = XENSTORE_PAYLOAD_MAX - genlen - 1;
	for (const char *child = n->children + off; len + strlen(child) < maxlen;) {
		len += (uint32_t)strlen(child) + 1;
		child += strlen(child) + 1;
		if (off + len == n->childlen)
			break;
	}
	memcpy(data + genlen, n->children + off, len);
	if (off + len == n->childlen) {
		data[genlen + len] = 0;
		len++;
	}
	return reply(r, data, genlen + len);
}

static int op_read(struct req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 64];
	struct xs_view v = view_of(r);
	struct xs_node *n;
	int e = node_path(r, onearg(r), path, sizeof(path));

	if (e || (e = xs_op_read(&v, path, &n)))
		return e;
	return reply(r, n->value, n->vlen);
}

static int perms_to_strings(const struct xs_perm *p, uint32_t np, char *out, size_t len)
{
	size_t used = 0;

	for (uint32_t i = 0; i < np; i++) {
		char c;
		int w;

		switch (p[i].bits & (XS_PERM_READ | XS_PERM_WRITE)) {
		case XS_PERM_READ:
			c = 'r';
			break;
		case XS_PERM_WRITE:
			c = 'w';
			break;
		case XS_PERM_READ | XS_PERM_WRITE:
			c = 'b';
			break;
		default:
			c = 'n';
		}
		w = snprintf(out + used, len - used, "%c%u", c, p[i].id);
		if (w < 0 || (size_t)w + 1 > len - used)
			return -E2BIG;
		used += (size_t)w + 1;
	}
	return (int)used;
}

static int op_get_perms(struct req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 64], out[XENSTORE_PAYLOAD_MAX];
	struct xs_view v = view_of(r);
	struct xs_node *n;
	int e = node_path(r, onearg(r), path, sizeof(path)), len;

	if (e || (e = xs_op_read(&v, path, &n)))
		return e;
	len = perms_to_strings(n->perms, n->nperms, out, sizeof(out));
	if (len < 0)
		return len;
	return reply(r, out, (uint32_t)len);
}

int xsd_parse_perms(const char *buf, size_t len, uint32_t *ids, uint8_t *perms, int max)
{
	int n = 0;

	for (size_t off = 0; off < len;) {
		const char *s = buf + off;
		const char *nul = memchr(s, 0, len - off);
		char *end;
		unsigned long id;
		uint8_t bits;

		if (!nul || n >= max)
			return -EINVAL;
		switch (s[0]) {
		case 'r':
			bits = XS_PERM_READ;
			break;
		case 'w':
			bits = XS_PERM_WRITE;
			break;
		case 'b':
			bits = XS_PERM_READ | XS_PERM_WRITE;
			break;
		case 'n':
			bits = XS_PERM_NONE;
			break;
		default:
			return -EINVAL;
		}
		if (s[1] < '0' || s[1] > '9')
			return -EINVAL;
		errno = 0;
		id = strtoul(s + 1, &end, 10);
		if (errno || *end || id > UINT16_MAX)
			return -EINVAL;
		ids[n] = (uint32_t)id;
		perms[n] = bits;
		n++;
		off = (size_t)(nul - buf) + 1;
	}
	return n;
}

static int op_set_perms(struct req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 64];
	struct xs_perm p[XENSTORE_PAYLOAD_MAX / 3];
	uint32_t ids[XENSTORE_PAYLOAD_MAX / 3];
	uint8_t bits[XENSTORE_PAYLOAD_MAX / 3];
	struct xs_view v = view_of(r);
	const char *name;
	size_t off;
	int n, e;

	if (count_strings(r) < 2)
		return -EINVAL;
	name = arg(r, 0);
	off = strlen(name) + 1;
	n = xsd_parse_perms(r->buf + off, r->len - off, ids, bits,
			    (int)(sizeof(ids) / sizeof(ids[0])));
	if (n <= 0)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		p[i].id = ids[i];
		p[i].bits = bits[i];
	}
	if (name[0] == '@') {
		struct xsd *s = r->c->s;
		int idx;

		if (!r->c->priv)
			return -EACCES;
		if (!strcmp(name, "@introduceDomain"))
			idx = 0;
		else if (!strcmp(name, "@releaseDomain"))
			idx = 1;
		else
			return -ENOENT;
		if (n > 8)
			return -ENOSPC;
		if (!xs_domain_exists(s, p[0].id))
			return -ENOENT;
		for (int i = 1; i < n; i++)
			if (!xs_domain_exists(s, p[i].id))
				p[i].bits |= XS_PERM_IGNORE;
		memcpy(s->special_perms[idx], p, (size_t)n * sizeof(*p));
		s->special_nperms[idx] = (uint32_t)n;
		return ack(r);
	}
	e = node_path(r, name, path, sizeof(path));
	if (e || (e = xs_op_set_perms(&v, path, p, (uint32_t)n)))
		return e;
	return ack(r);
}

static int op_write(struct req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 64];
	struct xs_view v = view_of(r);
	uint32_t off;
	int e;

	if (count_strings(r) < 1)
		return -EINVAL;
	off = (uint32_t)strlen(r->buf) + 1;
	e = node_path(r, r->buf, path, sizeof(path));
	if (e || (e = xs_op_write(&v, path, r->buf + off, r->len - off)))
		return e;
	return ack(r);
}

static int op_mkdir(struct req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 64];
	struct xs_view v = view_of(r);
	int e = node_path(r, onearg(r), path, sizeof(path));

	if (e || (e = xs_op_mkdir(&v, path)))
		return e;
	return ack(r);
}

static int op_rm(struct req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 64];
	struct xs_view v = view_of(r);
	int e = node_path(r, onearg(r), path, sizeof(path));

	if (e || (e = xs_op_rm(&v, path)))
		return e;
	return ack(r);
}

/* Watch path: "@special" as is, anything else canonical and valid. */
static int watch_path(struct req *r, const char *in, char *out, size_t len, uint32_t *relative)
{
	*relative = 0;
	if (in[0] == '@') {
		if (strlen(in) > XENSTORE_REL_PATH_MAX)
			return -EINVAL;
		snprintf(out, len, "%s", in);
		return 0;
	}
	if (in[0] != '/')
		*relative = (uint32_t)snprintf(NULL, 0, "/local/domain/%u", r->c->domid);
	if (xs_canonical(r->c, in, out, len) || !xsd_valid_path(out))
		return -EINVAL;
	return 0;
}

static int op_watch(struct req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 64];
	const char *token;
	uint32_t relative;
	int e;

	if (count_strings(r) != 2)
		return -EINVAL;
	token = arg(r, 1);
	e = watch_path(r, arg(r, 0), path, sizeof(path), &relative);
	if (e || (e = xs_watch_add(r->c, path, token, relative)))
		return e;
	e = ack(r);
	if (e)
		return e;
	/* The initial event: simplifies clients and restarts. */
	xs_send_event(r->c, relative ? arg(r, 0) : path, token);
	return 0;
}

static int op_unwatch(struct req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 64];
	uint32_t relative;
	int e;

	if (count_strings(r) != 2)
		return -EINVAL;
	e = watch_path(r, arg(r, 0), path, sizeof(path), &relative);
	if (e || (e = xs_watch_del(r->c, path, arg(r, 1))))
		return e;
	return ack(r);
}

static int op_transaction_start(struct req *r)
{
	char id[16];
	uint32_t tid;
	int e;

	if (r->t)
		return -EBUSY;
	e = xs_txn_start(r->c, &tid);
	if (e)
		return e;
	return reply(r, id, (uint32_t)snprintf(id, sizeof(id), "%u", tid) + 1);
}

static int op_transaction_end(struct req *r)
{
	const char *a = onearg(r);
	int e;

	if (!r->t)
		return -ENOENT;
	if (!a || (strcmp(a, "T") && strcmp(a, "F")))
		return -EINVAL;
	e = xs_txn_end(r->c, r->t, a[0] == 'T');
	r->t = NULL;
	if (e)
		return e;
	return ack(r);
}

static int op_introduce(struct req *r)
{
	struct xsd *s = r->c->s;
	uint32_t domid;
	int e;

	if (count_strings(r) < 3)
		return -EINVAL;
	if (parse_domid(arg(r, 0), &domid) || domid == 0)
		return -EINVAL;
	if (!s->doms[domid].introduced) {
		if (s->hooks.introduce && (e = s->hooks.introduce(s->hooks.opaque, domid)))
			return e;
		e = xsd_domain_introduce(s, domid);
		if (e && e != -EEXIST)
			return e;
	}
	return ack(r);
}

static int op_release(struct req *r)
{
	struct xsd *s = r->c->s;
	uint32_t domid;
	int e;

	if (parse_domid(onearg(r) ? onearg(r) : "", &domid) || domid == 0)
		return -EINVAL;
	if (!s->doms[domid].introduced)
		return -ENOENT;
	e = ack(r);
	xsd_domain_release(s, domid);
	if (s->hooks.release)
		s->hooks.release(s->hooks.opaque, domid);
	return e;
}

static int op_get_domain_path(struct req *r)
{
	char path[40];
	uint32_t domid;

	if (!onearg(r) || parse_domid(onearg(r), &domid))
		return -EINVAL;
	return reply(r, path,
		     (uint32_t)snprintf(path, sizeof(path), "/local/domain/%u", domid) + 1);
}

static int op_is_domain_introduced(struct req *r)
{
	uint32_t domid;

	if (!onearg(r) || parse_domid(onearg(r), &domid))
		return -EINVAL;
	return reply(r, xsd_domain_is_introduced(r->c->s, domid) ? "T" : "F", 2);
}

static int op_resume(struct req *r)
{
	uint32_t domid;

	if (!onearg(r) || parse_domid(onearg(r), &domid))
		return -EINVAL;
	if (!xsd_domain_is_introduced(r->c->s, domid))
		return -ENOENT;
	return ack(r);
}

static int op_set_target(struct req *r)
{
	uint32_t domid, target;

	if (count_strings(r) != 2)
		return -EINVAL;
	if (parse_domid(arg(r, 0), &domid) || parse_domid(arg(r, 1), &target))
		return -EINVAL;
	if (!xsd_domain_is_introduced(r->c->s, domid) || !xsd_domain_is_introduced(r->c->s, target))
		return -ENOENT;
	r->c->s->doms[domid].target = target;
	return ack(r);
}

static int op_reset_watches(struct req *r)
{
	xs_watch_free_all(r->c);
	xs_txn_free_all(r->c);
	r->t = NULL;
	return ack(r);
}

static const struct {
	const char *name;
	int (*fn)(struct req *r);
	unsigned flags;
} ops[XS_TYPE_COUNT] = {
	[XS_DIRECTORY] = { "DIRECTORY", op_directory, 0 },
	[XS_READ] = { "READ", op_read, 0 },
	[XS_GET_PERMS] = { "GET_PERMS", op_get_perms, 0 },
	[XS_WATCH] = { "WATCH", op_watch, F_NOTID },
	[XS_UNWATCH] = { "UNWATCH", op_unwatch, F_NOTID },
	[XS_TRANSACTION_START] = { "TRANSACTION_START", op_transaction_start, 0 },
	[XS_TRANSACTION_END] = { "TRANSACTION_END", op_transaction_end, 0 },
	[XS_INTRODUCE] = { "INTRODUCE", op_introduce, F_PRIV },
	[XS_RELEASE] = { "RELEASE", op_release, F_PRIV },
	[XS_GET_DOMAIN_PATH] = { "GET_DOMAIN_PATH", op_get_domain_path, 0 },
	[XS_WRITE] = { "WRITE", op_write, 0 },
	[XS_MKDIR] = { "MKDIR", op_mkdir, 0 },
	[XS_RM] = { "RM", op_rm, 0 },
	[XS_SET_PERMS] = { "SET_PERMS", op_set_perms, 0 },
	[XS_IS_DOMAIN_INTRODUCED] = { "IS_DOMAIN_INTRODUCED", op_is_domain_introduced, F_PRIV },
	[XS_RESUME] = { "RESUME", op_resume, F_PRIV },
	[XS_SET_TARGET] = { "SET_TARGET", op_set_target, F_PRIV },
	[XS_RESET_WATCHES] = { "RESET_WATCHES", op_reset_watches, F_NOTID },
	[XS_DIRECTORY_PART] = { "DIRECTORY_PART", op_directory_part, 0 },
};

static void process(struct xsd_conn *c)
{
	struct req r = { .c = c, .hdr = &c->hdr, .buf = c->in, .len = c->hdr.len };
	uint32_t type = c->hdr.type;
	int e;

	c->s->st.requests++;
	c->in[c->hdr.len] = 0;
	if (type >= XS_TYPE_COUNT || !ops[type].fn) {
		send_error(c, &c->hdr, ENOSYS);
		return;
	}
	if ((ops[type].flags & F_PRIV) && !c->priv) {
		send_error(c, &c->hdr, EACCES);
		return;
	}
	if (!(ops[type].flags & F_NOTID) && c->hdr.tx_id) {
		r.t = xs_txn_find(c, c->hdr.tx_id);
		if (!r.t) {
			send_error(c, &c->hdr, ENOENT);
			return;
		}
	}
	e = ops[type].fn(&r);
	if (e)
		send_error(c, &c->hdr, -e);
}

ssize_t xsd_conn_input(struct xsd_conn *c, const void *buf, size_t len)
{
	const char *p = buf;
	size_t left = len;

	if (c->released)
		return -ECONNRESET; /* its domain is gone: nothing it sends counts */
	while (left) {
		if (c->hdr_got < sizeof(c->hdr)) {
			size_t n = sizeof(c->hdr) - c->hdr_got;

			if (n > left)
				n = left;
			memcpy((char *)&c->hdr + c->hdr_got, p, n);
			c->hdr_got += (uint32_t)n;
			p += n;
			left -= n;
			if (c->hdr_got < sizeof(c->hdr))
				break;
			if (c->hdr.len > XENSTORE_PAYLOAD_MAX) {
				c->s->st.protocol_errors++;
				return -EPROTO;
			}
			c->in_got = 0;
		}
		if (c->in_got < c->hdr.len) {
			size_t n = c->hdr.len - c->in_got;

			if (n > left)
				n = left;
			memcpy(c->in + c->in_got, p, n);
			c->in_got += (uint32_t)n;
			p += n;
			left -= n;
		}
		if (c->in_got == c->hdr.len) {
			process(c);
			c->hdr_got = 0;
			c->in_got = 0;
		}
	}
	return (ssize_t)len;
}
