// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the sim's xenstore server core (xsd): wire protocol,
 * permissions, watches, transactions, quotas and hostile input.  No
 * sockets: requests go straight into xsd_conn_input().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "xenstore/xsd.h"

struct msg {
	struct xsd_sockmsg h;
	char d[XENSTORE_PAYLOAD_MAX + 1];
};

/* Watch events seen per connection, in order. */
struct evlog {
	char path[16][XENSTORE_PAYLOAD_MAX + 1];
	char token[16][XENSTORE_PAYLOAD_MAX + 1];
	int n;
};

static struct xsd *S;
static struct xsd_conn *C0, *C1, *C2;
static struct evlog EV0, EV1, EV2;
static uint32_t req_id;
static int introduced_hook, released_hook;

static struct evlog *log_of(struct xsd_conn *c)
{
	return c == C0 ? &EV0 : c == C1 ? &EV1 : &EV2;
}

/* Pop one message from c's output.  0 if none. */
static int pop(struct xsd_conn *c, struct msg *m)
{
	const void *buf;
	size_t len = xsd_conn_output(c, &buf);

	if (len < sizeof(m->h))
		return 0;
	memcpy(&m->h, buf, sizeof(m->h));
	CU_ASSERT_FATAL(len >= sizeof(m->h) + m->h.len);
	memcpy(m->d, (const char *)buf + sizeof(m->h), m->h.len);
	m->d[m->h.len] = 0;
	xsd_conn_output_consume(c, sizeof(m->h) + m->h.len);
	return 1;
}

static void drain_events(struct xsd_conn *c)
{
	struct msg m;
	struct evlog *l = log_of(c);

	while (pop(c, &m)) {
		CU_ASSERT_EQUAL(m.h.type, XS_WATCH_EVENT);
		if (l->n < 16) {
			snprintf(l->path[l->n], sizeof(l->path[0]), "%s", m.d);
			snprintf(l->token[l->n], sizeof(l->token[0]), "%s", m.d + strlen(m.d) + 1);
			l->n++;
		}
	}
}

static void send_raw(struct xsd_conn *c, uint32_t type, uint32_t tx, const void *p, uint32_t len)
{
	char buf[sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX + 64];
	struct xsd_sockmsg h = { .type = type, .req_id = ++req_id, .tx_id = tx, .len = len };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), p, len);
	CU_ASSERT_EQUAL(xsd_conn_input(c, buf, sizeof(h) + len), (ssize_t)(sizeof(h) + len));
}

/* Send and return the reply (watch events before it are logged). */
static void call(struct xsd_conn *c, uint32_t type, uint32_t tx, const void *p, uint32_t len,
		 struct msg *m)
{
	uint32_t id;

	send_raw(c, type, tx, p, len);
	id = req_id;
	for (;;) {
		CU_ASSERT_FATAL(pop(c, m));
		if (m->h.type != XS_WATCH_EVENT)
			break;
		struct evlog *l = log_of(c);

		if (l->n < 16) {
			snprintf(l->path[l->n], sizeof(l->path[0]), "%s", m->d);
			snprintf(l->token[l->n], sizeof(l->token[0]), "%s",
				 m->d + strlen(m->d) + 1);
			l->n++;
		}
	}
	CU_ASSERT_EQUAL(m->h.req_id, id);
	CU_ASSERT_EQUAL(m->h.tx_id, tx);
	/* Events a request caused for anyone. */
	drain_events(C0);
	drain_events(C1);
	drain_events(C2);
}

/* errno of a reply: 0 for success. */
static int err_of(const struct msg *m)
{
	if (m->h.type != XS_ERROR)
		return 0;
	for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (!strcmp(xsd_errors[i].errstring, m->d))
			return xsd_errors[i].errnum;
	return -1;
}

static int x_write(struct xsd_conn *c, uint32_t tx, const char *path, const char *val)
{
	char buf[XENSTORE_PAYLOAD_MAX];
	size_t pl = strlen(path) + 1, vl = strlen(val);
	struct msg m;

	memcpy(buf, path, pl);
	memcpy(buf + pl, val, vl);
	call(c, XS_WRITE, tx, buf, (uint32_t)(pl + vl), &m);
	return err_of(&m);
}

static int x_op1(struct xsd_conn *c, uint32_t type, uint32_t tx, const char *arg, struct msg *m)
{
	call(c, type, tx, arg, (uint32_t)strlen(arg) + 1, m);
	return err_of(m);
}

static int x_read(struct xsd_conn *c, uint32_t tx, const char *path, char *out)
{
	struct msg m;
	int e = x_op1(c, XS_READ, tx, path, &m);

	if (!e && out)
		strcpy(out, m.d);
	return e;
}

static int x_op2(struct xsd_conn *c, uint32_t type, uint32_t tx, const char *a, const char *b,
		 struct msg *m)
{
	char buf[XENSTORE_PAYLOAD_MAX];
	size_t al = strlen(a) + 1, bl = strlen(b) + 1;

	memcpy(buf, a, al);
	memcpy(buf + al, b, bl);
	call(c, type, tx, buf, (uint32_t)(al + bl), m);
	return err_of(m);
}

static int x_watch(struct xsd_conn *c, const char *path, const char *token)
{
	struct msg m;

	return x_op2(c, XS_WATCH, 0, path, token, &m);
}

static uint32_t x_txn_start(struct xsd_conn *c)
{
	struct msg m;

	CU_ASSERT_EQUAL(x_op1(c, XS_TRANSACTION_START, 0, "", &m), 0);
	return (uint32_t)strtoul(m.d, NULL, 10);
}

static int x_txn_end(struct xsd_conn *c, uint32_t tx, bool commit)
{
	struct msg m;

	return x_op1(c, XS_TRANSACTION_END, tx, commit ? "T" : "F", &m);
}

static int x_set_perms(struct xsd_conn *c, const char *path, const char *const *perms, int n)
{
	char buf[512];
	size_t off = strlen(path) + 1;
	struct msg m;

	memcpy(buf, path, off);
	for (int i = 0; i < n; i++) {
		size_t l = strlen(perms[i]) + 1;

		memcpy(buf + off, perms[i], l);
		off += l;
	}
	call(c, XS_SET_PERMS, 0, buf, (uint32_t)off, &m);
	return err_of(&m);
}

static int hook_introduce(void *o, uint32_t domid)
{
	introduced_hook++;
	return 0;
}

static void hook_release(void *o, uint32_t domid)
{
	released_hook++;
}

static void setup_entries(uint32_t entries)
{
	struct xsd_limits lim;
	struct xsd_hooks hooks = { .introduce = hook_introduce, .release = hook_release };

	xsd_limits_default(&lim);
	lim.entries_per_domain = entries;
	CU_ASSERT_FATAL(xsd_new(&S, &lim, &hooks) == 0);
	CU_ASSERT_FATAL(xsd_domain_introduce(S, 0) == 0);
	CU_ASSERT_FATAL(xsd_domain_introduce(S, 1) == 0);
	CU_ASSERT_FATAL(xsd_domain_introduce(S, 2) == 0);
	CU_ASSERT_FATAL(xsd_conn_new(S, 0, &C0) == 0);
	CU_ASSERT_FATAL(xsd_conn_new(S, 1, &C1) == 0);
	CU_ASSERT_FATAL(xsd_conn_new(S, 2, &C2) == 0);
	memset(&EV0, 0, sizeof(EV0));
	memset(&EV1, 0, sizeof(EV1));
	memset(&EV2, 0, sizeof(EV2));
	introduced_hook = released_hook = 0;
}

static void setup(void)
{
	setup_entries(50);
}

static void teardown(void)
{
	xsd_free(S);
	S = NULL;
}

/* ---- tests ---- */

static void test_read_write_mkdir_rm(void)
{
	char v[XENSTORE_PAYLOAD_MAX + 1];
	struct msg m;

	setup();
	CU_ASSERT_EQUAL(x_write(C0, 0, "/a/b/c", "hello"), 0);
	CU_ASSERT_EQUAL(x_read(C0, 0, "/a/b/c", v), 0);
	CU_ASSERT_STRING_EQUAL(v, "hello");
	CU_ASSERT_EQUAL(x_read(C0, 0, "/a/b", v), 0); /* created as ancestor, empty */
	CU_ASSERT_STRING_EQUAL(v, "");
	CU_ASSERT_EQUAL(x_read(C0, 0, "/a/x", v), ENOENT);
	CU_ASSERT_EQUAL(x_op1(C0, XS_MKDIR, 0, "/a/d", &m), 0);
	CU_ASSERT_EQUAL(x_op1(C0, XS_MKDIR, 0, "/a/d", &m), 0); /* exists: fine */
	CU_ASSERT_EQUAL(x_op1(C0, XS_DIRECTORY, 0, "/a", &m), 0);
	CU_ASSERT_EQUAL(m.h.len, sizeof("b\0d"));
	CU_ASSERT(memcmp(m.d, "b\0d", sizeof("b\0d")) == 0);
	/* Binary values round trip. */
	{
		char buf[32] = "/bin";
		struct msg r;

		memcpy(buf + 5, "\0\1\2\3", 4);
		call(C0, XS_WRITE, 0, buf, 9, &r);
		CU_ASSERT_EQUAL(err_of(&r), 0);
		CU_ASSERT_EQUAL(x_op1(C0, XS_READ, 0, "/bin", &r), 0);
		CU_ASSERT_EQUAL(r.h.len, 4);
		CU_ASSERT(memcmp(r.d, "\0\1\2\3", 4) == 0);
	}
	CU_ASSERT_EQUAL(x_op1(C0, XS_RM, 0, "/a/b", &m), 0);
	CU_ASSERT_EQUAL(x_read(C0, 0, "/a/b/c", v), ENOENT);
	CU_ASSERT_EQUAL(x_op1(C0, XS_RM, 0, "/a/b", &m), 0);	      /* absent, parent exists */
	CU_ASSERT_EQUAL(x_op1(C0, XS_RM, 0, "/a/b/c/d", &m), ENOENT); /* parent absent */
	CU_ASSERT_EQUAL(x_op1(C0, XS_RM, 0, "/", &m), EINVAL);
	/* Relative paths live under the connection's home. */
	CU_ASSERT_EQUAL(x_write(C1, 0, "data/k", "v1"), 0);
	CU_ASSERT_EQUAL(x_read(C0, 0, "/local/domain/1/data/k", v), 0);
	CU_ASSERT_STRING_EQUAL(v, "v1");
	CU_ASSERT_EQUAL(x_op1(C0, XS_GET_DOMAIN_PATH, 0, "7", &m), 0);
	CU_ASSERT_STRING_EQUAL(m.d, "/local/domain/7");
	teardown();
}

static void test_permissions(void)
{
	const char *ro1[] = { "n0", "r1" };
	const char *own1[] = { "n1" };
	const char *steal[] = { "n2" };
	char v[64];
	struct msg m;

	setup();
	CU_ASSERT_EQUAL(x_write(C0, 0, "/tool/secret", "s"), 0);
	/* domU: denied, and cannot tell absent from denied under a closed parent. */
	CU_ASSERT_EQUAL(x_read(C1, 0, "/tool/secret", v), EACCES);
	CU_ASSERT_EQUAL(x_read(C1, 0, "/tool/absent", v), EACCES);
	CU_ASSERT_EQUAL(x_write(C1, 0, "/tool/secret", "x"), EACCES);
	CU_ASSERT_EQUAL(x_write(C1, 0, "/tool/new", "x"), EACCES);
	CU_ASSERT_EQUAL(x_op1(C1, XS_RM, 0, "/tool/secret", &m), EACCES);
	CU_ASSERT_EQUAL(x_op1(C1, XS_DIRECTORY, 0, "/tool", &m), EACCES);
	/* Its own data/ is its own (device/ is the toolstack's); a sibling's is not. */
	CU_ASSERT_EQUAL(x_write(C1, 0, "/local/domain/1/device/x", "1"), EACCES);
	CU_ASSERT_EQUAL(x_write(C1, 0, "/local/domain/1/data/x", "1"), 0);
	CU_ASSERT_EQUAL(x_read(C2, 0, "/local/domain/1/data/x", v), EACCES);
	CU_ASSERT_EQUAL(x_write(C2, 0, "/local/domain/1/data/x", "2"), EACCES);
	/* Created nodes are owned by the creator, ACL inherited. */
	CU_ASSERT_EQUAL(x_op1(C0, XS_GET_PERMS, 0, "/local/domain/1/data/x", &m), 0);
	CU_ASSERT_STRING_EQUAL(m.d, "n1");
	/* Grant read to dom1. */
	CU_ASSERT_EQUAL(x_set_perms(C0, "/tool/secret", ro1, 2), 0);
	CU_ASSERT_EQUAL(x_read(C1, 0, "/tool/secret", v), 0);
	CU_ASSERT_EQUAL(x_write(C1, 0, "/tool/secret", "x"), EACCES);
	CU_ASSERT_EQUAL(x_read(C2, 0, "/tool/secret", v), EACCES);
	CU_ASSERT_EQUAL(x_op1(C0, XS_GET_PERMS, 0, "/tool/secret", &m), 0);
	CU_ASSERT_EQUAL(m.h.len, sizeof("n0\0r1"));
	CU_ASSERT(memcmp(m.d, "n0\0r1", sizeof("n0\0r1")) == 0);
	/* A domU may set the ACL of what it owns, but not give it away. */
	CU_ASSERT_EQUAL(x_set_perms(C1, "/local/domain/1/data/x", own1, 1), 0);
	CU_ASSERT_EQUAL(x_set_perms(C1, "/local/domain/1/data/x", steal, 1), EPERM);
	CU_ASSERT_EQUAL(x_set_perms(C1, "/tool/secret", own1, 1), EACCES);
	/* Owner change by dom0 hands the node over. */
	CU_ASSERT_EQUAL(x_set_perms(C0, "/tool/secret", steal, 1), 0);
	CU_ASSERT_EQUAL(x_write(C2, 0, "/tool/secret", "mine"), 0);
	/* Bad perm strings. */
	{
		const char *bad[] = { "x1" };
		const char *bad2[] = { "r" };
		const char *big[] = { "r70000" };

		CU_ASSERT_EQUAL(x_set_perms(C0, "/tool/secret", bad, 1), EINVAL);
		CU_ASSERT_EQUAL(x_set_perms(C0, "/tool/secret", bad2, 1), EINVAL);
		CU_ASSERT_EQUAL(x_set_perms(C0, "/tool/secret", big, 1), EINVAL);
		CU_ASSERT_EQUAL(x_set_perms(C0, "/tool/secret", bad, 0), EINVAL);
	}
	/* Privileged-only operations. */
	CU_ASSERT_EQUAL(x_op1(C1, XS_IS_DOMAIN_INTRODUCED, 0, "1", &m), EACCES);
	CU_ASSERT_EQUAL(x_op2(C1, XS_SET_TARGET, 0, "1", "2", &m), EACCES);
	teardown();
}

static void test_target(void)
{
	char v[64];
	struct msg m;

	setup();
	CU_ASSERT_EQUAL(x_write(C2, 0, "/local/domain/2/data/k", "v"), 0);
	CU_ASSERT_EQUAL(x_read(C1, 0, "/local/domain/2/data/k", v), EACCES);
	CU_ASSERT_EQUAL(x_op2(C0, XS_SET_TARGET, 0, "1", "2", &m), 0);
	CU_ASSERT_EQUAL(x_read(C1, 0, "/local/domain/2/data/k", v), 0); /* device model of dom2 */
	CU_ASSERT_EQUAL(x_op2(C0, XS_SET_TARGET, 0, "1", "99", &m), ENOENT);
	teardown();
}

static void test_watches(void)
{
	const char *ro1[] = { "n0", "r1" };
	struct msg m;

	setup();
	CU_ASSERT_EQUAL(x_watch(C0, "/w", "tok"), 0);
	/* Initial event. */
	CU_ASSERT_EQUAL(EV0.n, 1);
	CU_ASSERT_STRING_EQUAL(EV0.path[0], "/w");
	CU_ASSERT_STRING_EQUAL(EV0.token[0], "tok");
	CU_ASSERT_EQUAL(x_watch(C0, "/w", "tok"), EEXIST);
	CU_ASSERT_EQUAL(x_write(C0, 0, "/w/a/b", "1"), 0);
	CU_ASSERT_EQUAL(x_write(C0, 0, "/wx", "1"), 0); /* not below /w */
	CU_ASSERT_EQUAL(EV0.n, 2);
	CU_ASSERT_STRING_EQUAL(EV0.path[1], "/w/a/b");
	/*
	 * Removing a subtree: the removed root fires watches on it and above,
	 * each node below fires only watches set exactly on it (xenstored).
	 */
	CU_ASSERT_EQUAL(x_watch(C0, "/w/a/b", "deep"), 0);
	EV0.n = 0;
	CU_ASSERT_EQUAL(x_op1(C0, XS_RM, 0, "/w/a", &m), 0);
	CU_ASSERT_EQUAL(EV0.n, 2);
	CU_ASSERT_STRING_EQUAL(EV0.path[0], "/w/a/b");
	CU_ASSERT_STRING_EQUAL(EV0.token[0], "deep");
	CU_ASSERT_STRING_EQUAL(EV0.path[1], "/w/a");
	CU_ASSERT_STRING_EQUAL(EV0.token[1], "tok");
	/* Unwatch. */
	CU_ASSERT_EQUAL(x_op2(C0, XS_UNWATCH, 0, "/w", "tok", &m), 0);
	CU_ASSERT_EQUAL(x_op2(C0, XS_UNWATCH, 0, "/w", "tok", &m), ENOENT);
	EV0.n = 0;
	CU_ASSERT_EQUAL(x_write(C0, 0, "/w/z", "1"), 0);
	CU_ASSERT_EQUAL(EV0.n, 0);

	/* Relative watch: events come back relative. */
	CU_ASSERT_EQUAL(x_watch(C1, "device", "dev"), 0);
	CU_ASSERT_EQUAL(EV1.n, 1);
	CU_ASSERT_STRING_EQUAL(EV1.path[0], "device");
	CU_ASSERT_EQUAL(x_write(C0, 0, "/local/domain/1/device/vbd", "x"), 0);
	CU_ASSERT_EQUAL(EV1.n, 2);
	CU_ASSERT_STRING_EQUAL(EV1.path[1], "device/vbd");

	/* Events are filtered by read permission. */
	CU_ASSERT_EQUAL(x_watch(C2, "/tool", "t2"), 0);
	EV2.n = 0;
	CU_ASSERT_EQUAL(x_write(C0, 0, "/tool/hidden", "1"), 0);
	CU_ASSERT_EQUAL(EV2.n, 0);
	CU_ASSERT_EQUAL(x_write(C2, 0, "/local/domain/2/data/x", "1"), 0);
	CU_ASSERT_EQUAL(x_watch(C1, "/tool/hidden", "h"), 0);
	EV1.n = 0;
	CU_ASSERT_EQUAL(x_set_perms(C0, "/tool/hidden", ro1, 2), 0);
	CU_ASSERT_EQUAL(EV1.n, 1); /* gained access: sees the change */

	/* Special watches: privileged only by default. */
	CU_ASSERT_EQUAL(x_watch(C0, "@introduceDomain", "intro"), 0);
	CU_ASSERT_EQUAL(x_watch(C1, "@introduceDomain", "intro"), 0);
	EV0.n = EV1.n = 0;
	{
		static const char intro[] = "5\0"
					    "1234\0"
					    "7";

		call(C0, XS_INTRODUCE, 0, intro, sizeof(intro), &m);
		CU_ASSERT_EQUAL(err_of(&m), 0);
	}
	CU_ASSERT_EQUAL(introduced_hook, 1);
	CU_ASSERT_EQUAL(EV0.n, 1);
	CU_ASSERT_STRING_EQUAL(EV0.path[0], "@introduceDomain");
	CU_ASSERT_EQUAL(EV1.n, 0);
	teardown();
}

static void test_introduce_release(void)
{
	char in[] = "9\0"
		    "100\0"
		    "3";
	struct msg m;

	setup();
	CU_ASSERT_EQUAL(x_op1(C0, XS_IS_DOMAIN_INTRODUCED, 0, "9", &m), 0);
	CU_ASSERT_STRING_EQUAL(m.d, "F");
	call(C0, XS_INTRODUCE, 0, in, sizeof(in), &m);
	CU_ASSERT_EQUAL(err_of(&m), 0);
	CU_ASSERT_EQUAL(x_op1(C0, XS_IS_DOMAIN_INTRODUCED, 0, "9", &m), 0);
	CU_ASSERT_STRING_EQUAL(m.d, "T");
	/* Its home exists: the toolstack's, readable by it (libxl). */
	CU_ASSERT_EQUAL(x_op1(C0, XS_GET_PERMS, 0, "/local/domain/9", &m), 0);
	CU_ASSERT_EQUAL(m.h.len, sizeof("n0\0r9"));
	CU_ASSERT(memcmp(m.d, "n0\0r9", sizeof("n0\0r9")) == 0);
	CU_ASSERT_EQUAL(x_watch(C0, "@releaseDomain", "rel"), 0);
	EV0.n = 0;
	CU_ASSERT_EQUAL(x_op1(C0, XS_RELEASE, 0, "9", &m), 0);
	CU_ASSERT_EQUAL(released_hook, 1);
	CU_ASSERT_EQUAL(EV0.n, 1);
	CU_ASSERT_EQUAL(x_op1(C0, XS_RELEASE, 0, "9", &m), ENOENT);
	CU_ASSERT_EQUAL(x_op1(C0, XS_RELEASE, 0, "0", &m), EINVAL);
	CU_ASSERT_EQUAL(x_op1(C0, XS_RELEASE, 0, "junk", &m), EINVAL);
	/* Releasing a domain drops its connections' state. */
	CU_ASSERT_EQUAL(x_watch(C2, "data", "d"), 0);
	CU_ASSERT_EQUAL(xsd_domain_release(S, 2), 0);
	CU_ASSERT(xsd_conn_released(C2));
	CU_ASSERT(!xsd_conn_released(C1));
	teardown();
}

static void test_transactions(void)
{
	char v[64];
	uint32_t t1, t2;

	setup();
	CU_ASSERT_EQUAL(x_write(C0, 0, "/t/a", "0"), 0);
	CU_ASSERT_EQUAL(x_watch(C0, "/t", "w"), 0);

	/* Isolation and commit. */
	t1 = x_txn_start(C0);
	CU_ASSERT_NOT_EQUAL(t1, 0);
	CU_ASSERT_EQUAL(x_write(C0, t1, "/t/b", "1"), 0);
	CU_ASSERT_EQUAL(x_read(C0, t1, "/t/b", v), 0);
	CU_ASSERT_EQUAL(x_read(C0, 0, "/t/b", v), ENOENT);
	EV0.n = 0;
	CU_ASSERT_EQUAL(x_txn_end(C0, t1, true), 0);
	CU_ASSERT_EQUAL(EV0.n, 1); /* events fire on commit */
	CU_ASSERT_EQUAL(x_read(C0, 0, "/t/b", v), 0);
	CU_ASSERT_STRING_EQUAL(v, "1");

	/* Conflict: a node read in the transaction changed meanwhile. */
	t1 = x_txn_start(C0);
	CU_ASSERT_EQUAL(x_read(C0, t1, "/t/a", v), 0);
	CU_ASSERT_EQUAL(x_write(C0, t1, "/t/c", "x"), 0);
	CU_ASSERT_EQUAL(x_write(C1, 0, "/local/domain/1/data/noise", "x"), 0); /* unrelated */
	CU_ASSERT_EQUAL(x_write(C0, 0, "/t/a", "changed"), 0);
	CU_ASSERT_EQUAL(x_txn_end(C0, t1, true), EAGAIN);
	CU_ASSERT_EQUAL(x_read(C0, 0, "/t/c", v), ENOENT);

	/* Conflict on a node created concurrently (absent when read). */
	t1 = x_txn_start(C0);
	CU_ASSERT_EQUAL(x_read(C0, t1, "/t/new", v), ENOENT);
	CU_ASSERT_EQUAL(x_write(C0, 0, "/t/new", "x"), 0);
	CU_ASSERT_EQUAL(x_txn_end(C0, t1, true), EAGAIN);

	/* Two transactions of two domains, the second conflicts. */
	CU_ASSERT_EQUAL(x_write(C0, 0, "/local/domain/1/data/shared", "0"), 0);
	t1 = x_txn_start(C0);
	t2 = x_txn_start(C1);
	CU_ASSERT_EQUAL(x_read(C1, t2, "data/shared", v), 0);
	CU_ASSERT_EQUAL(x_write(C0, t1, "/local/domain/1/data/shared", "a"), 0);
	CU_ASSERT_EQUAL(x_write(C1, t2, "data/shared", "b"), 0);
	CU_ASSERT_EQUAL(x_txn_end(C0, t1, true), 0);
	CU_ASSERT_EQUAL(x_txn_end(C1, t2, true), EAGAIN);
	CU_ASSERT_EQUAL(x_read(C0, 0, "/local/domain/1/data/shared", v), 0);
	CU_ASSERT_STRING_EQUAL(v, "a");

	/* Abort discards; rm inside a transaction. */
	t1 = x_txn_start(C0);
	CU_ASSERT_EQUAL(x_write(C0, t1, "/t/gone", "x"), 0);
	CU_ASSERT_EQUAL(x_txn_end(C0, t1, false), 0);
	CU_ASSERT_EQUAL(x_read(C0, 0, "/t/gone", v), ENOENT);
	t1 = x_txn_start(C0);
	{
		struct msg m;

		CU_ASSERT_EQUAL(x_op1(C0, XS_RM, t1, "/t", &m), 0);
		CU_ASSERT_EQUAL(x_read(C0, t1, "/t/a", v), ENOENT);
		CU_ASSERT_EQUAL(x_read(C0, 0, "/t/a", v), 0);
		CU_ASSERT_EQUAL(x_txn_end(C0, t1, true), 0);
		CU_ASSERT_EQUAL(x_read(C0, 0, "/t/a", v), ENOENT);
		CU_ASSERT_EQUAL(x_op1(C0, XS_DIRECTORY, 0, "/", &m), 0);
		CU_ASSERT(memmem(m.d, m.h.len, "t\0", 2) == NULL);
	}
	/* Unknown transaction id, end twice, nested start. */
	CU_ASSERT_EQUAL(x_write(C0, 12345, "/t/x", "1"), ENOENT);
	t1 = x_txn_start(C0);
	CU_ASSERT_EQUAL(x_txn_end(C0, t1, true), 0);
	CU_ASSERT_EQUAL(x_txn_end(C0, t1, true), ENOENT);
	{
		struct msg m;

		t1 = x_txn_start(C0);
		CU_ASSERT_EQUAL(x_op1(C0, XS_TRANSACTION_START, t1, "", &m), EBUSY);
		CU_ASSERT_EQUAL(x_op1(C0, XS_TRANSACTION_END, t1, "X", &m), EINVAL);
	}
	/* Quota on open transactions of a domU. */
	for (int i = 0; i < 10; i++)
		x_txn_start(C1);
	{
		struct msg m;

		CU_ASSERT_EQUAL(x_op1(C1, XS_TRANSACTION_START, 0, "", &m), ENOSPC);
	}
	teardown();
}

static void test_hostile_wire(void)
{
	struct xsd_sockmsg h = { .type = XS_READ, .req_id = 1, .len = XENSTORE_PAYLOAD_MAX + 1 };
	char longpath[XENSTORE_PAYLOAD_MAX];
	char bigval[4000];
	struct msg m;
	char v[16];

	setup();
	/* Unknown and reply-only types: ENOSYS, the connection lives on. */
	call(C1, XS_TYPE_COUNT + 5, 0, "x", 2, &m);
	CU_ASSERT_EQUAL(err_of(&m), ENOSYS);
	call(C1, XS_WATCH_EVENT, 0, "x", 2, &m);
	CU_ASSERT_EQUAL(err_of(&m), ENOSYS);
	call(C1, XS_ERROR, 0, "x", 2, &m);
	CU_ASSERT_EQUAL(err_of(&m), ENOSYS);
	/* Missing nul, extra nuls, empty payload. */
	call(C1, XS_READ, 0, "data", 4, &m);
	CU_ASSERT_EQUAL(err_of(&m), EINVAL);
	call(C1, XS_READ, 0, "a\0b", 4, &m);
	CU_ASSERT_EQUAL(err_of(&m), EINVAL);
	call(C1, XS_READ, 0, "", 0, &m);
	CU_ASSERT_EQUAL(err_of(&m), EINVAL);
	call(C1, XS_WATCH, 0, "a", 2, &m);
	CU_ASSERT_EQUAL(err_of(&m), EINVAL);
	call(C1, XS_WRITE, 0, "nonul", 5, &m);
	CU_ASSERT_EQUAL(err_of(&m), EINVAL);
	/* Bad paths. */
	CU_ASSERT_EQUAL(x_read(C0, 0, "/a//b", v), EINVAL);
	CU_ASSERT_EQUAL(x_read(C0, 0, "/a/", v), EINVAL);
	CU_ASSERT_EQUAL(x_read(C0, 0, "/a b", v), EINVAL);
	CU_ASSERT_EQUAL(x_read(C0, 0, "@introduceDomain", v), EINVAL);
	/* Oversized path: beyond XENSTORE_REL_PATH_MAX below the domain home. */
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "/x/", 3);
	longpath[XENSTORE_REL_PATH_MAX + 10] = 0;
	CU_ASSERT_EQUAL(x_write(C0, 0, longpath, "v"), EINVAL);
	/* Oversized value from a domU: quota. */
	memset(bigval, 'v', sizeof(bigval));
	bigval[sizeof(bigval) - 1] = 0;
	CU_ASSERT_EQUAL(x_write(C1, 0, "data/big", bigval), ENOSPC);
	CU_ASSERT_EQUAL(x_write(C0, 0, "/big", bigval), 0); /* dom0 may */
	/* Entry quota of a domU (50 here; its home already has 10 nodes of its own). */
	{
		char p[64];
		int e = 0, i;

		for (i = 0; i < 100 && !e; i++) {
			snprintf(p, sizeof(p), "data/q/%d", i);
			e = x_write(C1, 0, p, "1");
		}
		CU_ASSERT_EQUAL(e, ENOSPC);
		CU_ASSERT_EQUAL(i, 40); /* 10 + data/q + 39 children = 50: the 40th is refused */
	}
	/* Watch quota. */
	{
		char t[16];
		int e = 0;

		for (int i = 0; i < 200 && !e; i++) {
			snprintf(t, sizeof(t), "%d", i);
			e = x_watch(C2, "data", t);
		}
		CU_ASSERT_EQUAL(e, E2BIG);
	}
	/* Header length beyond XENSTORE_PAYLOAD_MAX: stream is unusable. */
	CU_ASSERT_EQUAL(xsd_conn_input(C1, &h, sizeof(h)), -EPROTO);
	teardown();
}

static void test_directory_part(void)
{
	char p[64];
	struct msg m;
	size_t total = 0, seen = 0;
	uint32_t off = 0;

	setup();
	/* Enough children to need several parts. */
	for (int i = 0; i < 400; i++) {
		snprintf(p, sizeof(p), "/d/child-with-a-longish-name-%04d", i);
		CU_ASSERT_EQUAL_FATAL(x_write(C0, 0, p, ""), 0);
		total += strlen(p) - 3 + 1;
	}
	CU_ASSERT_EQUAL(x_op1(C0, XS_DIRECTORY, 0, "/d", &m), E2BIG);
	for (int parts = 0; parts < 10; parts++) {
		char offs[16];
		size_t genlen, len;

		snprintf(offs, sizeof(offs), "%u", off);
		CU_ASSERT_EQUAL_FATAL(x_op2(C0, XS_DIRECTORY_PART, 0, "/d", offs, &m), 0);
		genlen = strlen(m.d) + 1;
		len = m.h.len - genlen;
		if (len >= 1 && m.d[m.h.len - 1] == 0 && m.d[m.h.len - 2] == 0) {
			seen += len - 1;
			break;
		}
		seen += len;
		off += (uint32_t)len;
	}
	CU_ASSERT_EQUAL(seen, total);
	teardown();
}

static void test_reset_watches(void)
{
	struct msg m;

	setup();
	CU_ASSERT_EQUAL(x_watch(C1, "data", "a"), 0);
	x_txn_start(C1);
	CU_ASSERT_EQUAL(x_op1(C1, XS_RESET_WATCHES, 0, "", &m), 0);
	EV1.n = 0;
	CU_ASSERT_EQUAL(x_write(C1, 0, "data/x", "1"), 0);
	CU_ASSERT_EQUAL(EV1.n, 0);
	{
		struct xsd_stats st;

		xsd_get_stats(S, &st);
		CU_ASSERT_EQUAL(st.txns, 0);
	}
	teardown();
}

/* Raw request on any connection (not one of C0..C2): returns the reply's errno. */
static int raw_call(struct xsd_conn *c, uint32_t type, uint32_t tx, const void *p, uint32_t len,
		    struct msg *m)
{
	send_raw(c, type, tx, p, len);
	do {
		CU_ASSERT_FATAL(pop(c, m));
	} while (m->h.type == XS_WATCH_EVENT);
	return err_of(m);
}

static int raw_read(struct xsd_conn *c, const char *path, char *out)
{
	struct msg m;
	int e = raw_call(c, XS_READ, 0, path, (uint32_t)strlen(path) + 1, &m);

	if (!e && out)
		strcpy(out, m.d);
	return e;
}

static int raw_write(struct xsd_conn *c, const char *path, const char *val)
{
	char buf[XENSTORE_PAYLOAD_MAX];
	size_t pl = strlen(path) + 1, vl = strlen(val);
	struct msg m;

	memcpy(buf, path, pl);
	memcpy(buf + pl, val, vl);
	return raw_call(c, XS_WRITE, 0, buf, (uint32_t)(pl + vl), &m);
}

static void drain_all(struct xsd_conn *c)
{
	struct msg m;

	while (pop(c, &m))
		;
}

static bool perms_are(struct xsd_conn *c, const char *path, const char *want, size_t wlen)
{
	struct msg m;

	return x_op1(c, XS_GET_PERMS, 0, path, &m) == 0 && m.h.len == wlen &&
	       !memcmp(m.d, want, wlen);
}

/* The home of a domain is what libxl 4.17 makes of it. */
static void test_home_layout(void)
{
	char v[64];
	struct msg m;

	setup();
	CU_ASSERT(perms_are(C0, "/local/domain/1", "n0\0r1", 6));
	CU_ASSERT_EQUAL(x_read(C1, 0, "domid", v), 0); /* README: xenstore-read domid */
	CU_ASSERT_STRING_EQUAL(v, "1");
	CU_ASSERT_EQUAL(x_read(C1, 0, "name", v), 0);
	CU_ASSERT_STRING_EQUAL(v, "domain-1");
	CU_ASSERT(perms_are(C0, "/local/domain/1/domid", "n0\0r1", 6));
	CU_ASSERT(perms_are(C0, "/local/domain/1/device", "n0\0r1", 6));
	CU_ASSERT(perms_are(C0, "/local/domain/1/control", "n0\0r1", 6));
	CU_ASSERT(perms_are(C0, "/local/domain/1/cpu", "n0\0r1", 6));
	CU_ASSERT(perms_are(C0, "/local/domain/1/memory", "n0\0r1", 6));
	CU_ASSERT(perms_are(C0, "/local/domain/1/control/shutdown", "n1", 3));
	CU_ASSERT(perms_are(C0, "/local/domain/1/data", "n1", 3));
	CU_ASSERT(perms_are(C0, "/local/domain/1/drivers", "n1", 3));
	CU_ASSERT(perms_are(C0, "/local/domain/1/feature", "n1", 3));
	CU_ASSERT(perms_are(C0, "/local/domain/1/attr", "n1", 3));
	CU_ASSERT(perms_are(C0, "/local/domain/1/error", "n1", 3));
	/* The guest writes below data/ and control/shutdown, not elsewhere in its home. */
	CU_ASSERT_EQUAL(x_write(C1, 0, "data/k", "v"), 0);
	CU_ASSERT_EQUAL(x_write(C1, 0, "control/shutdown", "poweroff"), 0);
	CU_ASSERT_EQUAL(x_write(C1, 0, "device/vbd", "x"), EACCES);
	CU_ASSERT_EQUAL(x_write(C1, 0, "domid", "7"), EACCES);
	CU_ASSERT_EQUAL(x_write(C1, 0, "newkey", "x"), EACCES);
	/* The toolstack's device directory: the guest's frontend dir is the guest's. */
	{
		const char *fe[] = { "n1", "r0" };

		CU_ASSERT_EQUAL(x_op1(C0, XS_MKDIR, 0, "/local/domain/1/device/vbd/51712", &m), 0);
		CU_ASSERT_EQUAL(x_set_perms(C0, "/local/domain/1/device/vbd/51712", fe, 2), 0);
		CU_ASSERT_EQUAL(x_write(C1, 0, "device/vbd/51712/state", "1"), 0);
	}
	CU_ASSERT_EQUAL(x_read(C2, 0, "/local/domain/1/domid", v), EACCES);
	/* dom0 has its domid too (xen-init-dom0). */
	CU_ASSERT_EQUAL(x_read(C0, 0, "domid", v), 0);
	CU_ASSERT_STRING_EQUAL(v, "0");
	teardown();
}

/*
 * Node size quota as xenstored counts it: 24-byte header + 8 per
 * permission + value + children, refused at 2048 for a domU.
 */
static void test_node_size(void)
{
	char val[2100];
	char p[64];
	struct msg m;
	int e = 0, i;
	size_t childlen = 0;

	setup_entries(1000);
	/* data/big inherits data's one permission: 24 + 8 + 2015 = 2047 fits, 2016 does not. */
	memset(val, 'v', sizeof(val));
	val[2015] = 0;
	CU_ASSERT_EQUAL(x_write(C1, 0, "data/big", val), 0);
	val[2015] = 'v';
	val[2016] = 0;
	CU_ASSERT_EQUAL(x_write(C1, 0, "data/big", val), ENOSPC);
	CU_ASSERT_EQUAL(x_write(C1, 0, "data/big2", val), ENOSPC);
	CU_ASSERT_EQUAL(x_read(C1, 0, "data/big2", NULL), ENOENT);	     /* nothing created */
	CU_ASSERT_EQUAL(x_write(C0, 0, "/local/domain/1/data/big", val), 0); /* dom0 may */
	/* A second permission makes a fitting node too big. */
	val[2008] = 0;
	CU_ASSERT_EQUAL(x_write(C1, 0, "data/big", val), 0); /* 24 + 8 + 2008 = 2040 */
	{
		const char *two[] = { "n1", "r0" };

		CU_ASSERT_EQUAL(x_set_perms(C1, "/local/domain/1/data/big", two, 2), ENOSPC);
	}
	/* A directory the domU fills: its child list counts against it. */
	for (i = 0; i < 200 && !e; i++) {
		snprintf(p, sizeof(p), "data/dir/child-name-number-%03d", i);
		e = x_write(C1, 0, p, "1");
		if (!e)
			childlen += strlen(p) - strlen("data/dir/") + 1;
	}
	CU_ASSERT_EQUAL(e, ENOSPC);
	CU_ASSERT(24 + 8 + childlen < 2048 && 24 + 8 + childlen + 24 >= 2048);
	CU_ASSERT_EQUAL(x_op1(C1, XS_DIRECTORY, 0, "data/dir", &m), 0);
	CU_ASSERT_EQUAL(m.h.len, childlen);
	/* A missing ancestor is checked before anything is created. */
	memset(val, 'v', 2040);
	val[2040] = 0;
	CU_ASSERT_EQUAL(x_write(C1, 0, "data/new/deep", val), ENOSPC);
	CU_ASSERT_EQUAL(x_read(C1, 0, "data/new", NULL), ENOENT);
	teardown();
}

/* Watches, transactions and connections are counted per domain, not per connection. */
static void test_domain_quotas(void)
{
	struct xsd_conn *more[70], *c1b;
	char t[16];
	struct msg m;
	int e = 0, n = 0;

	setup();
	CU_ASSERT_FATAL(xsd_conn_new(S, 1, &c1b) == 0);
	for (int i = 0; i < 200 && !e; i++) {
		char buf[64];
		int len;

		snprintf(t, sizeof(t), "%d", i);
		len = snprintf(buf, sizeof(buf), "data%c%s", 0, t) + 1;
		e = raw_call(i % 2 ? C1 : c1b, XS_WATCH, 0, buf, (uint32_t)len, &m);
		drain_all(c1b);
		drain_events(C1);
		n += !e;
	}
	CU_ASSERT_EQUAL(e, E2BIG);
	CU_ASSERT_EQUAL(n, 128);
	e = 0;
	n = 0;
	for (int i = 0; i < 20 && !e; i++) {
		e = raw_call(i % 2 ? C1 : c1b, XS_TRANSACTION_START, 0, "", 1, &m);
		n += !e;
	}
	CU_ASSERT_EQUAL(e, ENOSPC);
	CU_ASSERT_EQUAL(n, 10);
	/* dom0 is not limited. */
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(x_op1(C0, XS_TRANSACTION_START, 0, "", &m), 0);
	/* Connections: 64 per domain (C1 and c1b are two). */
	n = 0;
	while (n < 70 && xsd_conn_new(S, 1, &more[n]) == 0)
		n++;
	CU_ASSERT_EQUAL(n, 62);
	CU_ASSERT_EQUAL(xsd_conn_new(S, 1, &more[n]), -EUSERS);
	xsd_conn_free(more[0]);
	CU_ASSERT_EQUAL(xsd_conn_new(S, 1, &more[0]), 0);
	/* Freeing a connection gives its watches and transactions back. */
	xsd_conn_free(c1b);
	CU_ASSERT_EQUAL(x_watch(C1, "data", "again"), 0);
	teardown();
}

/*
 * Transactions: one queued watch event per node however often it is
 * written (the queue is bounded by the nodes touched), and the entry quota
 * checked again at commit.
 */
static void test_txn_events_and_quota(void)
{
	char p[64];
	uint32_t t, ts[3];
	int e;

	setup();
	CU_ASSERT_EQUAL(x_watch(C0, "/local/domain/1/data", "w"), 0);
	t = x_txn_start(C1);
	for (int i = 0; i < 5000; i++)
		CU_ASSERT_EQUAL_FATAL(x_write(C1, t, "data/x", i % 2 ? "a" : "b"), 0);
	CU_ASSERT_EQUAL(x_write(C1, t, "data/y", "1"), 0);
	EV0.n = 0;
	CU_ASSERT_EQUAL(x_txn_end(C1, t, true), 0);
	CU_ASSERT_EQUAL(EV0.n, 2);
	CU_ASSERT_STRING_EQUAL(EV0.path[0], "/local/domain/1/data/x");
	CU_ASSERT_STRING_EQUAL(EV0.path[1], "/local/domain/1/data/y");
	{
		struct xsd_stats st;

		xsd_get_stats(S, &st);
		CU_ASSERT_EQUAL(st.watch_events_dropped, 0);
	}
	/*
	 * Three transactions each within the quota on their own (50 here,
	 * 15 used): together they are not.  Each writes below its own
	 * directory, so that they do not conflict.
	 */
	for (int k = 0; k < 3; k++) {
		snprintf(p, sizeof(p), "data/t%d", k);
		CU_ASSERT_EQUAL(x_write(C1, 0, p, ""), 0);
	}
	for (int k = 0; k < 3; k++) {
		ts[k] = x_txn_start(C1);
		for (int i = 0; i < 20; i++) {
			snprintf(p, sizeof(p), "data/t%d/k%d", k, i);
			CU_ASSERT_EQUAL(x_write(C1, ts[k], p, "v"), 0);
		}
	}
	CU_ASSERT_EQUAL(x_txn_end(C1, ts[0], true), 0);
	e = x_txn_end(C1, ts[1], true);
	CU_ASSERT_EQUAL(e, ENOSPC);
	CU_ASSERT_EQUAL(x_txn_end(C1, ts[2], true), ENOSPC);
	CU_ASSERT_EQUAL(x_read(C1, 0, "data/t1/k0", NULL), ENOENT);
	CU_ASSERT_EQUAL(x_write(C1, 0, "data/one-more", "v"), 0); /* 15 + 20 + 1 */
	teardown();
}

/*
 * XSA-322: ACL entries naming a domain that is gone, or introduced after the
 * node was written, give nothing; the nodes a released domain owned go to
 * dom0; a destroyed domain's home is removed (the reviewer's d8).
 */
static void test_stale_acl(void)
{
	const char *r5[] = { "n0", "r5" };
	const char *own5[] = { "n5" };
	struct xsd_conn *c5;
	char v[64];
	struct msg m;

	setup();
	CU_ASSERT_EQUAL(xsd_domain_introduce(S, 5), 0);
	CU_ASSERT_FATAL(xsd_conn_new(S, 5, &c5) == 0);
	CU_ASSERT_EQUAL(x_write(C0, 0, "/backend/vbd/5/51712/params", "/secret.img"), 0);
	CU_ASSERT_EQUAL(x_set_perms(C0, "/backend/vbd/5/51712/params", r5, 2), 0);
	CU_ASSERT_EQUAL(x_write(C0, 0, "/tool/owned", "x"), 0);
	CU_ASSERT_EQUAL(x_set_perms(C0, "/tool/owned", own5, 1), 0);
	CU_ASSERT_EQUAL(raw_read(c5, "/backend/vbd/5/51712/params", v), 0);
	CU_ASSERT_EQUAL(raw_write(c5, "data/secret", "old guest's key"), 0);
	xsd_conn_free(c5);
	/* Destroyed (the toolstack's way) and created again with the same id. */
	CU_ASSERT_EQUAL(xsd_domain_destroy(S, 5), 0);
	CU_ASSERT_EQUAL(x_read(C0, 0, "/local/domain/5", NULL), ENOENT);
	CU_ASSERT(perms_are(C0, "/tool/owned", "n0", 3)); /* orphan: dom0's now */
	CU_ASSERT_EQUAL(xsd_domain_introduce(S, 5), 0);
	CU_ASSERT_FATAL(xsd_conn_new(S, 5, &c5) == 0);
	CU_ASSERT_EQUAL(raw_read(c5, "/backend/vbd/5/51712/params", v), EACCES);
	CU_ASSERT_EQUAL(raw_read(c5, "data/secret", v), ENOENT);
	CU_ASSERT_EQUAL(raw_write(c5, "/tool/owned", "mine"), EACCES);
	/* Rewriting the node does not bring the old entry back... */
	CU_ASSERT_EQUAL(x_write(C0, 0, "/backend/vbd/5/51712/params", "/other.img"), 0);
	CU_ASSERT_EQUAL(raw_read(c5, "/backend/vbd/5/51712/params", v), EACCES);
	/* ...setting it again for the new domain does. */
	CU_ASSERT_EQUAL(x_set_perms(C0, "/backend/vbd/5/51712/params", r5, 2), 0);
	CU_ASSERT_EQUAL(raw_read(c5, "/backend/vbd/5/51712/params", v), 0);
	CU_ASSERT_STRING_EQUAL(v, "/other.img");
	/* An entry for a domain that does not exist is ignored; an owner that does not is refused. */
	{
		const char *r6[] = { "n0", "r6" };
		const char *own6[] = { "n6" };
		struct xsd_conn *c6;

		CU_ASSERT_EQUAL(x_write(C0, 0, "/tool/for6", "x"), 0);
		CU_ASSERT_EQUAL(x_set_perms(C0, "/tool/for6", r6, 2), 0);
		CU_ASSERT_EQUAL(x_set_perms(C0, "/tool/for6", own6, 1), ENOENT);
		CU_ASSERT_EQUAL(xsd_domain_introduce(S, 6), 0);
		CU_ASSERT_FATAL(xsd_conn_new(S, 6, &c6) == 0);
		CU_ASSERT_EQUAL(raw_read(c6, "/tool/for6", v), EACCES);
		/* Children created since inherit the ignored entry, ignored. */
		CU_ASSERT_EQUAL(x_write(C0, 0, "/tool/for6/child", "x"), 0);
		CU_ASSERT_EQUAL(raw_read(c6, "/tool/for6/child", v), EACCES);
		xsd_conn_free(c6);
	}
	(void)m;
	xsd_conn_free(c5);
	teardown();
}

/* Requests on a released connection are not processed (the reviewer's d14). */
static void test_released_connection(void)
{
	char buf[64];
	struct msg m;
	int len = snprintf(buf, sizeof(buf), "data/after-release%cx", 0) + 1;
	struct xsd_sockmsg h = { .type = XS_WRITE, .req_id = 99, .len = (uint32_t)len - 1 };
	char req[sizeof(h) + 64];

	setup();
	CU_ASSERT_EQUAL(x_op1(C0, XS_RELEASE, 0, "1", &m), 0);
	CU_ASSERT(xsd_conn_released(C1));
	memcpy(req, &h, sizeof(h));
	memcpy(req + sizeof(h), buf, h.len);
	CU_ASSERT_EQUAL(xsd_conn_input(C1, req, sizeof(h) + h.len), -ECONNRESET);
	CU_ASSERT_EQUAL(x_read(C0, 0, "/local/domain/1/data/after-release", NULL), ENOENT);
	/* No new connection for a domain that is not introduced. */
	{
		struct xsd_conn *c;

		CU_ASSERT_EQUAL(xsd_conn_new(S, 1, &c), -ESRCH);
	}
	teardown();
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("xsd", NULL, NULL);
	CU_add_test(s, "read/write/mkdir/rm/directory", test_read_write_mkdir_rm);
	CU_add_test(s, "permissions", test_permissions);
	CU_add_test(s, "set target", test_target);
	CU_add_test(s, "watches", test_watches);
	CU_add_test(s, "introduce/release", test_introduce_release);
	CU_add_test(s, "transactions", test_transactions);
	CU_add_test(s, "hostile wire input", test_hostile_wire);
	CU_add_test(s, "directory part", test_directory_part);
	CU_add_test(s, "reset watches", test_reset_watches);
	CU_add_test(s, "home layout (libxl)", test_home_layout);
	CU_add_test(s, "node size quota", test_node_size);
	CU_add_test(s, "per-domain quotas", test_domain_quotas);
	CU_add_test(s, "transaction events and quota at commit", test_txn_events_and_quota);
	CU_add_test(s, "stale ACL entries and orphaned nodes", test_stale_acl);
	CU_add_test(s, "released connection", test_released_connection);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
