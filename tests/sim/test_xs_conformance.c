// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Sim tier: the stock libxenstore client (Debian's libxenstore4) against the
 * sim's xenstore, through XENSTORED_PATH, as real tools use it: reads and
 * writes, permissions as seen by a domU, watches, transactions with an
 * EAGAIN conflict, long directories (XS_DIRECTORY_PART), domain intro.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <xenstore.h>
#include <xen/io/xs_wire.h>

#include "simrun.h"

static struct simrun ENV;

static struct xs_handle *open_as(int domid)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/dom%d/xenstored.sock", ENV.dir, domid);
	setenv("XENSTORED_PATH", path, 1);
	return xs_open(0);
}

static char **next_watch(struct xs_handle *xs, int timeout_ms, unsigned *n)
{
	struct pollfd p = { .fd = xs_fileno(xs), .events = POLLIN };

	if (poll(&p, 1, timeout_ms) <= 0)
		return NULL;
	return xs_read_watch(xs, n);
}

static void test_basic(void)
{
	struct xs_handle *xs = open_as(0);
	unsigned len, n;
	char *v, **dir;

	CU_ASSERT_FATAL(xs != NULL);
	CU_ASSERT(xs_write(xs, XBT_NULL, "/conf/a", "1", 1));
	CU_ASSERT(xs_write(xs, XBT_NULL, "/conf/b", "22", 2));
	CU_ASSERT(xs_mkdir(xs, XBT_NULL, "/conf/c"));
	v = xs_read(xs, XBT_NULL, "/conf/b", &len);
	CU_ASSERT(v && len == 2 && !strcmp(v, "22"));
	free(v);
	dir = xs_directory(xs, XBT_NULL, "/conf", &n);
	CU_ASSERT(dir && n == 3);
	free(dir);
	CU_ASSERT(xs_rm(xs, XBT_NULL, "/conf/a"));
	errno = 0;
	CU_ASSERT(xs_read(xs, XBT_NULL, "/conf/a", &len) == NULL);
	CU_ASSERT_EQUAL(errno, ENOENT);
	v = xs_get_domain_path(xs, 3);
	CU_ASSERT(v && !strcmp(v, "/local/domain/3"));
	free(v);
	xs_close(xs);
}

static void test_permissions(void)
{
	struct xs_handle *x0 = open_as(0), *x1 = open_as(1);
	struct xs_permissions perms[2] = { { .id = 0, .perms = XS_PERM_NONE },
					   { .id = 1, .perms = XS_PERM_READ } };
	struct xs_permissions *got;
	unsigned len, n;
	char *v;

	CU_ASSERT_FATAL(x0 && x1);
	CU_ASSERT(xs_write(x0, XBT_NULL, "/conf/secret", "s", 1));
	errno = 0;
	CU_ASSERT(xs_read(x1, XBT_NULL, "/conf/secret", &len) == NULL);
	CU_ASSERT_EQUAL(errno, EACCES);
	CU_ASSERT(xs_set_permissions(x0, XBT_NULL, "/conf/secret", perms, 2));
	v = xs_read(x1, XBT_NULL, "/conf/secret", &len);
	CU_ASSERT(v != NULL);
	free(v);
	CU_ASSERT(!xs_write(x1, XBT_NULL, "/conf/secret", "x", 1));
	CU_ASSERT_EQUAL(errno, EACCES);
	got = xs_get_permissions(x0, XBT_NULL, "/conf/secret", &n);
	CU_ASSERT(got && n == 2 && got[1].id == 1 && got[1].perms == XS_PERM_READ);
	free(got);
	/* A domU writes below its data/; the node is its own. */
	CU_ASSERT(xs_write(x1, XBT_NULL, "data/vbd/51712/state", "1", 1));
	got = xs_get_permissions(x0, XBT_NULL, "/local/domain/1/data/vbd/51712/state", &n);
	CU_ASSERT(got && n >= 1 && got[0].id == 1);
	free(got);
	/* device/ is the toolstack's: readable, not writable, until it makes a frontend dir. */
	errno = 0;
	CU_ASSERT(!xs_write(x1, XBT_NULL, "device/vbd/51712/state", "1", 1));
	CU_ASSERT_EQUAL(errno, EACCES);
	/* The libxl home: the domain reads its domid and name. */
	v = xs_read(x1, XBT_NULL, "domid", &len);
	CU_ASSERT(v && !strcmp(v, "1"));
	free(v);
	v = xs_read(x1, XBT_NULL, "name", &len);
	CU_ASSERT(v && !strcmp(v, "domain-1"));
	free(v);
	got = xs_get_permissions(x0, XBT_NULL, "/local/domain/1", &n);
	CU_ASSERT(got && n == 2 && got[0].id == 0 && got[0].perms == XS_PERM_NONE &&
		  got[1].id == 1 && got[1].perms == XS_PERM_READ);
	free(got);
	xs_close(x0);
	xs_close(x1);
}

static void test_watches(void)
{
	struct xs_handle *x0 = open_as(0), *x1 = open_as(1);
	unsigned n;
	char **w;

	CU_ASSERT_FATAL(x0 && x1);
	/* The toolstack makes the frontend directory, the guest's (as libxl). */
	{
		struct xs_permissions fe[2] = { { .id = 1, .perms = XS_PERM_NONE },
						{ .id = 0, .perms = XS_PERM_READ } };

		CU_ASSERT(xs_mkdir(x0, XBT_NULL, "/local/domain/1/device/vif/0"));
		CU_ASSERT(xs_set_permissions(x0, XBT_NULL, "/local/domain/1/device/vif/0", fe, 2));
	}
	CU_ASSERT(xs_watch(x0, "/local/domain/1/device", "be"));
	w = next_watch(x0, 2000, &n); /* initial event */
	CU_ASSERT(w && !strcmp(w[XS_WATCH_PATH], "/local/domain/1/device") &&
		  !strcmp(w[XS_WATCH_TOKEN], "be"));
	free(w);
	CU_ASSERT(xs_write(x1, XBT_NULL, "device/vif/0/state", "3", 1));
	w = next_watch(x0, 2000, &n);
	CU_ASSERT(w && !strcmp(w[XS_WATCH_PATH], "/local/domain/1/device/vif/0/state"));
	free(w);
	CU_ASSERT(xs_unwatch(x0, "/local/domain/1/device", "be"));
	CU_ASSERT(xs_write(x1, XBT_NULL, "device/vif/0/state", "4", 1));
	CU_ASSERT(next_watch(x0, 200, &n) == NULL);
	xs_close(x0);
	xs_close(x1);
}

static void test_transactions(void)
{
	struct xs_handle *a = open_as(0), *b = open_as(0);
	xs_transaction_t t;
	unsigned len;
	char *v;

	CU_ASSERT_FATAL(a && b);
	CU_ASSERT(xs_write(a, XBT_NULL, "/conf/counter", "0", 1));
	/* Read-modify-write that loses a race: EAGAIN, nothing applied. */
	t = xs_transaction_start(a);
	CU_ASSERT_FATAL(t != XBT_NULL);
	v = xs_read(a, t, "/conf/counter", &len);
	free(v);
	CU_ASSERT(xs_write(a, t, "/conf/counter", "1", 1));
	CU_ASSERT(xs_write(b, XBT_NULL, "/conf/counter", "5", 1));
	CU_ASSERT(!xs_transaction_end(a, t, false));
	CU_ASSERT_EQUAL(errno, EAGAIN);
	v = xs_read(a, XBT_NULL, "/conf/counter", &len);
	CU_ASSERT(v && !strcmp(v, "5"));
	free(v);
	/* The retry succeeds. */
	t = xs_transaction_start(a);
	v = xs_read(a, t, "/conf/counter", &len);
	free(v);
	CU_ASSERT(xs_write(a, t, "/conf/counter", "6", 1));
	CU_ASSERT(xs_transaction_end(a, t, false));
	v = xs_read(b, XBT_NULL, "/conf/counter", &len);
	CU_ASSERT(v && !strcmp(v, "6"));
	free(v);
	/* Abort. */
	t = xs_transaction_start(a);
	CU_ASSERT(xs_write(a, t, "/conf/aborted", "x", 1));
	CU_ASSERT(xs_transaction_end(a, t, true));
	CU_ASSERT(xs_read(a, XBT_NULL, "/conf/aborted", &len) == NULL);
	xs_close(a);
	xs_close(b);
}

static void test_long_directory(void)
{
	struct xs_handle *xs = open_as(0);
	char path[128];
	unsigned n;
	char **dir;

	CU_ASSERT_FATAL(xs != NULL);
	for (int i = 0; i < 500; i++) {
		snprintf(path, sizeof(path), "/conf/long/entry-with-a-long-name-%05d", i);
		CU_ASSERT_FATAL(xs_write(xs, XBT_NULL, path, "", 0));
	}
	/* More than one payload: libxenstore falls back to XS_DIRECTORY_PART. */
	dir = xs_directory(xs, XBT_NULL, "/conf/long", &n);
	CU_ASSERT(dir != NULL);
	CU_ASSERT_EQUAL(n, 500);
	if (dir && n == 500)
		CU_ASSERT_STRING_EQUAL(dir[499], "entry-with-a-long-name-00499");
	free(dir);
	xs_close(xs);
}

static void test_domains(void)
{
	struct xs_handle *xs = open_as(0);
	unsigned n;
	char **w;

	CU_ASSERT_FATAL(xs != NULL);
	CU_ASSERT(xs_watch(xs, "@introduceDomain", "i"));
	free(next_watch(xs, 2000, &n));
	CU_ASSERT(!xs_is_domain_introduced(xs, 9));
	CU_ASSERT(xs_introduce_domain(xs, 9, 0x1234, 3));
	CU_ASSERT(xs_is_domain_introduced(xs, 9));
	w = next_watch(xs, 2000, &n);
	CU_ASSERT(w && !strcmp(w[XS_WATCH_PATH], "@introduceDomain"));
	free(w);
	/* Introduced on demand: the domain's own socket now exists. */
	{
		struct xs_handle *x9 = open_as(9);
		unsigned len;
		char *v;

		CU_ASSERT_FATAL(x9 != NULL);
		CU_ASSERT(xs_write(x9, XBT_NULL, "data/up", "1", 1));
		CU_ASSERT(xs_release_domain(xs, 9));
		CU_ASSERT(!xs_is_domain_introduced(xs, 9));
		/* A released domain's connection is not served any more (and closed). */
		CU_ASSERT(!xs_write(x9, XBT_NULL, "data/after-release", "x", 1));
		xs_close(x9);
		errno = 0;
		v = xs_read(xs, XBT_NULL, "/local/domain/9/data/after-release", &len);
		CU_ASSERT(v == NULL && errno == ENOENT);
		free(v);
		/* Nor can it connect again. */
		x9 = open_as(9);
		if (x9) {
			CU_ASSERT(!xs_write(x9, XBT_NULL, "data/again", "x", 1));
			xs_close(x9);
		}
	}
	xs_close(xs);
}

/* A client that floods requests and never reads its replies stops being
 * read; everybody else is still served, and it is served once it reads. */
static void test_flooding_client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct xsd_sockmsg h = { .type = XS_READ, .len = sizeof("/local") };
	char msg[sizeof(h) + sizeof("/local")];
	struct xs_handle *xs;
	long sent = 0, got = 0;
	int fd, fl;
	char *v;
	unsigned len;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/dom1/xenstored.sock", ENV.dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), "/local", sizeof("/local"));
	/* Write until the kernel buffers are full both ways. */
	for (int idle = 0; idle < 50;) {
		if (send(fd, msg, sizeof(msg), MSG_NOSIGNAL) == (ssize_t)sizeof(msg)) {
			sent++;
			idle = 0;
		} else {
			idle++;
			usleep(2000);
		}
	}
	CU_ASSERT(sent > 1000);
	xs = open_as(0);
	CU_ASSERT_FATAL(xs != NULL);
	v = xs_read(xs, XBT_NULL, "/local/domain/1/domid", &len);
	CU_ASSERT(v && len == 1 && !strcmp(v, "1"));
	free(v);
	CU_ASSERT(xs_write(xs, XBT_NULL, "/conf/still-served", "1", 1));
	xs_close(xs);
	/* Now read everything: every request gets its reply. */
	fcntl(fd, F_SETFL, fl);
	while (got < sent) {
		struct xsd_sockmsg r;
		char payload[XENSTORE_PAYLOAD_MAX];

		if (recv(fd, &r, sizeof(r), MSG_WAITALL) != sizeof(r) ||
		    (r.len && recv(fd, payload, r.len, MSG_WAITALL) != (ssize_t)r.len))
			break;
		got++;
	}
	CU_ASSERT_EQUAL(got, sent);
	close(fd);
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;
	int r = simrun_start(&ENV, "0,1", 64);

	if (r) {
		fprintf(stderr, "cannot start pvsplit-simhv: %s\n", strerror(-r));
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("xenstore conformance (libxenstore)", NULL, NULL);
	CU_add_test(s, "read/write/mkdir/rm/directory", test_basic);
	CU_add_test(s, "permissions", test_permissions);
	CU_add_test(s, "watches", test_watches);
	CU_add_test(s, "transactions and EAGAIN", test_transactions);
	CU_add_test(s, "directory longer than one payload", test_long_directory);
	CU_add_test(s, "introduce / release", test_domains);
	CU_add_test(s, "a client that never reads", test_flooding_client);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	if (simrun_stop(&ENV) != 0)
		fails++;
	return fails ? 1 : 0;
}
