// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Sim tier: libpvsplit-hv against a real pvsplit-simhv, with one process per
 * domain.  Grants, copies, event channels and xenstore across processes;
 * what happens when a process dies or a domain is destroyed.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <poll.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <xenstore.h>
#include <xen/grant_table.h>

#include "pvsplit/hv-sim.h"
#include "simrun.h"

static struct simrun ENV;

/* In children: report and exit non-zero. */
#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: child check failed: %s\n", __FILE__, __LINE__,     \
				#c);                                                               \
			_exit(1);                                                                  \
		}                                                                                  \
	} while (0)

/* Tiny message passing between test processes. */
static void put(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		_exit(3);
}

static void get(int fd, void *p, size_t n)
{
	if (read(fd, p, n) != (ssize_t)n)
		_exit(4);
}

static int wait_port(struct pvhv_evtchn *ev, int timeout_ms)
{
	struct pollfd p = { .fd = pvhv_evtchn_fd(ev), .events = POLLIN };

	if (poll(&p, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	return pvhv_evtchn_pending(ev);
}

/* Notify the child, which notifies back and acks on the pipe. */
static void echo(struct pvhv_evtchn *ev, int port, int wfd, int rfd)
{
	char a;

	CU_ASSERT_EQUAL(pvhv_evtchn_notify(ev, (uint32_t)port), 0);
	put(wfd, "n", 1);
	get(rfd, &a, 1);
}

static void test_evtchn(void)
{
	int to_child[2], to_parent[2];
	struct pvhv *hv;
	struct pvhv_evtchn *ev;
	uint32_t fport;
	int port, p;
	pid_t child;

	CU_ASSERT_FATAL(pipe(to_child) == 0 && pipe(to_parent) == 0);
	child = fork();
	if (child == 0) {
		/* dom1: the frontend side. */
		struct pvhv *h;
		struct pvhv_evtchn *e;
		int lp;
		char c;

		CHECK(simrun_open(&ENV, 1, &h) == 0);
		CHECK(pvhv_domid(h) == 1);
		CHECK(pvhv_evtchn_open(h, &e) == 0);
		lp = pvhv_evtchn_alloc_unbound(e, 0);
		CHECK(lp > 0);
		put(to_parent[1], &lp, sizeof(lp));
		/* Echo every notification back, until told to stop. */
		for (;;) {
			int got = wait_port(e, 5000);

			CHECK(got == lp);
			CHECK(pvhv_evtchn_unmask(e, (uint32_t)lp) == 0);
			get(to_child[0], &c, 1);
			if (c == 'q')
				break;
			CHECK(pvhv_evtchn_notify(e, (uint32_t)lp) == 0);
			put(to_parent[1], "a", 1); /* echoed */
		}
		_exit(0);
	}
	CU_ASSERT_FATAL(simrun_open(&ENV, 0, &hv) == 0);
	CU_ASSERT_FATAL(pvhv_evtchn_open(hv, &ev) == 0);
	get(to_parent[0], &fport, sizeof(fport));
	/* Bind to the wrong domain's port, or a port not meant for us. */
	CU_ASSERT_EQUAL(pvhv_evtchn_bind_interdomain(ev, 2, fport), -EINVAL);
	CU_ASSERT_EQUAL(pvhv_evtchn_bind_interdomain(ev, 42, fport), -ESRCH);
	port = pvhv_evtchn_bind_interdomain(ev, 1, fport);
	CU_ASSERT_FATAL(port > 0);
	/* Notify on a port this handle never bound. */
	CU_ASSERT_EQUAL(pvhv_evtchn_notify(ev, 4000), -ENOTCONN);
	CU_ASSERT_EQUAL(pvhv_evtchn_notify(ev, 0), -ENOTCONN);
	CU_ASSERT_EQUAL(pvhv_evtchn_unmask(ev, 4000), -ENOTCONN);
	CU_ASSERT_EQUAL(pvhv_evtchn_pending(ev), -EAGAIN);
	/* Round trips: one notification each way, the child acks on a pipe. */
	for (int i = 0; i < 100; i++) {
		echo(ev, port, to_child[1], to_parent[0]);
		p = wait_port(ev, 5000);
		CU_ASSERT_EQUAL_FATAL(p, port);
		CU_ASSERT_EQUAL(pvhv_evtchn_unmask(ev, (uint32_t)port), 0);
	}
	/* Masked: three notifications while masked are one pending event. */
	echo(ev, port, to_child[1], to_parent[0]);
	CU_ASSERT_EQUAL(wait_port(ev, 5000), port); /* now masked */
	for (int i = 0; i < 3; i++)
		echo(ev, port, to_child[1], to_parent[0]);
	CU_ASSERT_EQUAL(wait_port(ev, 0), -ETIMEDOUT); /* masked: fd not readable */
	CU_ASSERT_EQUAL(pvhv_evtchn_unmask(ev, (uint32_t)port), 0);
	CU_ASSERT_EQUAL(wait_port(ev, 1000), port);
	CU_ASSERT_EQUAL(pvhv_evtchn_unmask(ev, (uint32_t)port), 0);
	CU_ASSERT_EQUAL(wait_port(ev, 100), -ETIMEDOUT);
	/* The frontend goes away: our notifications are dropped, not errors. */
	CU_ASSERT_EQUAL(pvhv_evtchn_notify(ev, (uint32_t)port), 0);
	put(to_child[1], "q", 1);
	CU_ASSERT_EQUAL(simrun_wait(child), 0);
	CU_ASSERT_EQUAL(pvhv_evtchn_notify(ev, (uint32_t)port), 0);
	CU_ASSERT_EQUAL(pvhv_evtchn_unbind(ev, (uint32_t)port), 0);
	CU_ASSERT_EQUAL(pvhv_evtchn_unbind(ev, (uint32_t)port), -ENOTCONN);
	pvhv_evtchn_close(ev);
	pvhv_close(hv);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

/* A backend killed with SIGKILL leaves the frontend's port re-bindable. */
static void test_evtchn_backend_restart(void)
{
	int pp[2], go[2];
	struct pvhv *hv;
	struct pvhv_evtchn *ev;
	int fport, port;
	pid_t backend;

	CU_ASSERT_FATAL(pipe(pp) == 0 && pipe(go) == 0);
	CU_ASSERT_FATAL(simrun_open(&ENV, 1, &hv) == 0);
	CU_ASSERT_FATAL(pvhv_evtchn_open(hv, &ev) == 0);
	fport = pvhv_evtchn_alloc_unbound(ev, 0);
	CU_ASSERT_FATAL(fport > 0);
	for (int round = 0; round < 2; round++) {
		backend = fork();
		if (backend == 0) {
			struct pvhv *h;
			struct pvhv_evtchn *e;
			int bp;
			char c;

			CHECK(simrun_open(&ENV, 0, &h) == 0);
			CHECK(pvhv_evtchn_open(h, &e) == 0);
			bp = pvhv_evtchn_bind_interdomain(e, 1, (uint32_t)fport);
			CHECK(bp > 0);
			CHECK(pvhv_evtchn_notify(e, (uint32_t)bp) == 0);
			put(pp[1], "b", 1);
			get(go[0], &c, 1); /* wait to be killed */
			_exit(0);
		}
		{
			char c;

			get(pp[0], &c, 1);
		}
		port = wait_port(ev, 5000);
		CU_ASSERT_EQUAL(port, fport);
		CU_ASSERT_EQUAL(pvhv_evtchn_unmask(ev, (uint32_t)fport), 0);
		kill(backend, SIGKILL);
		CU_ASSERT_EQUAL(simrun_wait(backend), 128 + SIGKILL);
	}
	pvhv_evtchn_close(ev);
	pvhv_close(hv);
	close(pp[0]);
	close(pp[1]);
	close(go[0]);
	close(go[1]);
}

static void test_grants(void)
{
	int to_child[2], to_parent[2];
	struct pvhv *hv;
	uint32_t refs[5];
	uint8_t *pages;
	struct pvhv_sim_stats st;
	pid_t child;
	char c;

	CU_ASSERT_FATAL(pipe(to_child) == 0 && pipe(to_parent) == 0);
	/* dom1 (this process) shares 4 rw pages and 1 ro page with dom0. */
	CU_ASSERT_FATAL(simrun_open(&ENV, 1, &hv) == 0);
	CU_ASSERT_EQUAL_FATAL(pvhv_gnt_share(hv, 0, 4, 0, refs, (void **)&pages), 0);
	{
		uint8_t *ro;

		CU_ASSERT_EQUAL_FATAL(pvhv_gnt_share(hv, 0, 1, PVHV_GNT_RO, refs + 4, (void **)&ro),
				      0);
		memset(ro, 0x77, 4096);
	}
	for (int i = 0; i < 4 * 4096; i++)
		pages[i] = (uint8_t)(i * 7);

	child = fork();
	if (child == 0) {
		/* dom0: the backend side. */
		struct pvhv *h;
		uint8_t *m, *ro, buf[4096];
		struct pvhv_gnt_copy_seg seg[3];

		CHECK(simrun_open(&ENV, 0, &h) == 0);
		get(to_child[0], refs, sizeof(refs));
		CHECK(pvhv_gnt_map(h, 1, 4, refs, 0, (void **)&m) == 0);
		for (int i = 0; i < 4 * 4096; i++)
			CHECK(m[i] == (uint8_t)(i * 7));
		m[5] = 0xee; /* seen by the frontend */
		CHECK(pvhv_gnt_map(h, 1, 1, refs + 4, 0, (void **)&ro) == -EPERM);
		CHECK(pvhv_gnt_map(h, 1, 1, refs + 4, PVHV_GNT_RO, (void **)&ro) == 0);
		CHECK(ro[100] == 0x77);
		/* A write through a read-only mapping faults. */
		{
			pid_t w = fork();

			if (w == 0) {
				ro[0] = 1;
				_exit(0);
			}
			CHECK(simrun_wait(w) == 128 + SIGSEGV);
		}
		/* Copy out of the grant, and into it; a ro grant refuses writes. */
		memset(seg, 0, sizeof(seg));
		seg[0] = (struct pvhv_gnt_copy_seg){ .local = buf,
						     .domid = 1,
						     .ref = refs[1],
						     .offset = 0,
						     .len = 4096,
						     .to_guest = 0 };
		seg[1] = (struct pvhv_gnt_copy_seg){ .local = "hello",
						     .domid = 1,
						     .ref = refs[2],
						     .offset = 10,
						     .len = 5,
						     .to_guest = 1 };
		seg[2] = (struct pvhv_gnt_copy_seg){ .local = buf,
						     .domid = 1,
						     .ref = refs[4],
						     .offset = 0,
						     .len = 1,
						     .to_guest = 1 };
		CHECK(pvhv_gnt_copy(h, seg, 3) == 0);
		CHECK(seg[0].status == 0 && seg[1].status == 0 && seg[2].status == -EPERM);
		for (int i = 0; i < 4096; i++)
			CHECK(buf[i] == (uint8_t)((i + 4096) * 7));
		CHECK(pvhv_gnt_unmap(h, ro, 1) == 0);
		CHECK(pvhv_gnt_unmap(h, ro, 1) == -EINVAL);
		put(to_parent[1], "m", 1);
		get(to_child[0], &c, 1); /* hold the mapping until killed */
		_exit(0);
	}
	put(to_child[1], refs, sizeof(refs));
	get(to_parent[0], &c, 1);
	CU_ASSERT_EQUAL(pages[5], 0xee);
	CU_ASSERT(memcmp(pages + 2 * 4096 + 10, "hello", 5) == 0);
	/* End of access fails while the backend maps the pages. */
	CU_ASSERT_EQUAL(pvhv_gnt_unshare(hv, pages, 4), -EBUSY);
	CU_ASSERT_EQUAL(pvhv_sim_stats(hv, &st), 0);
	CU_ASSERT_EQUAL(st.grant_pins, 4);
	/* A third domain cannot map or copy them. */
	{
		pid_t other = fork();

		if (other == 0) {
			struct pvhv *h;
			void *m;
			char b[8];
			struct pvhv_gnt_copy_seg s = {
				.local = b, .domid = 1, .ref = refs[0], .len = 8
			};

			CHECK(simrun_open(&ENV, 2, &h) == 0);
			CHECK(pvhv_gnt_map(h, 1, 1, refs, PVHV_GNT_RO, &m) == -EPERM);
			CHECK(pvhv_gnt_copy(h, &s, 1) == 0 && s.status == -EPERM);
			_exit(0);
		}
		CU_ASSERT_EQUAL(simrun_wait(other), 0);
	}
	/* The backend dies: its mappings go with it. */
	kill(child, SIGKILL);
	CU_ASSERT_EQUAL(simrun_wait(child), 128 + SIGKILL);
	usleep(50000); /* the daemon sees the hangup */
	CU_ASSERT_EQUAL(pvhv_sim_stats(hv, &st), 0);
	CU_ASSERT_EQUAL(st.grant_pins, 0);
	CU_ASSERT_EQUAL(pvhv_gnt_unshare(hv, pages, 4), 0);
	CU_ASSERT_EQUAL(pvhv_gnt_unshare(hv, pages, 4), -EINVAL);
	pvhv_close(hv);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

static void test_foreign_and_xenstore(void)
{
	struct pvhv *h0, *h1;
	struct xs_handle *xs0, *xs1;
	grant_entry_v1_t *gt;
	uint32_t nr, ref;
	uint64_t frame;
	uint8_t *page, *f;
	unsigned len;
	char *v;

	CU_ASSERT_FATAL(simrun_open(&ENV, 1, &h1) == 0);
	CU_ASSERT_EQUAL_FATAL(pvhv_gnt_share(h1, 0, 1, 0, &ref, (void **)&page), 0);
	strcpy((char *)page, "console bytes");
	CU_ASSERT_EQUAL_FATAL(pvhv_sim_grant_table(h1, (void **)&gt, &nr), 0);
	frame = gt[ref].frame;
	/* Only the privileged domain maps foreign frames. */
	CU_ASSERT_EQUAL(pvhv_foreign_map(h1, 1, PROT_READ, &frame, 1, (void **)&f), -EPERM);
	{
		pid_t c = fork();

		if (c == 0) {
			CHECK(simrun_open(&ENV, 0, &h0) == 0);
			CHECK(pvhv_foreign_map(h0, 1, PROT_READ, &frame, 1, (void **)&f) == 0);
			CHECK(strcmp((char *)f, "console bytes") == 0);
			CHECK(pvhv_foreign_unmap(h0, f, 1) == 0);
			frame = 1u << 30;
			CHECK(pvhv_foreign_map(h0, 1, PROT_READ, &frame, 1, (void **)&f) ==
			      -EINVAL);
			_exit(0);
		}
		CU_ASSERT_EQUAL(simrun_wait(c), 0);
	}
	CU_ASSERT_EQUAL(pvhv_gnt_unshare(h1, page, 1), 0);

	/* Xenstore through the stock client, as each domain. */
	CU_ASSERT_EQUAL_FATAL(pvhv_xs_open(h1, &xs1), 0);
	CU_ASSERT(xs_write(xs1, XBT_NULL, "data/hello", "world", 5));
	xs_close(xs1);
	CU_ASSERT_FATAL(simrun_open(&ENV, 0, &h0) == 0);
	CU_ASSERT_EQUAL_FATAL(pvhv_xs_open(h0, &xs0), 0);
	v = xs_read(xs0, XBT_NULL, "/local/domain/1/data/hello", &len);
	CU_ASSERT(v && len == 5 && !memcmp(v, "world", 5));
	free(v);

	/* Domain create / destroy (sim only). */
	CU_ASSERT_EQUAL(pvhv_sim_domain_create(h1, 7, 16), -EPERM);
	CU_ASSERT_EQUAL(pvhv_sim_domain_create(h0, 7, 16), 0);
	CU_ASSERT_EQUAL(pvhv_sim_domain_create(h0, 7, 16), -EEXIST);
	CU_ASSERT(xs_watch(xs0, "@releaseDomain", "rel"));
	{
		unsigned n;
		char **w = xs_read_watch(xs0, &n); /* the initial event */

		free(w);
	}
	{
		struct pvhv *h7;
		struct pvhv_evtchn *e7;

		CU_ASSERT_FATAL(simrun_open(&ENV, 7, &h7) == 0);
		CU_ASSERT_EQUAL(pvhv_domid(h7), 7);
		CU_ASSERT_FATAL(pvhv_evtchn_open(h7, &e7) == 0);
		CU_ASSERT_EQUAL(pvhv_sim_domain_destroy(h0, 7), 0);
		/* Its processes lost the hypervisor. */
		CU_ASSERT(pvhv_evtchn_alloc_unbound(e7, 0) < 0);
		pvhv_evtchn_close(e7);
		pvhv_close(h7);
	}
	{
		unsigned n;
		char **w = xs_read_watch(xs0, &n);

		CU_ASSERT(w && !strcmp(w[XS_WATCH_PATH], "@releaseDomain"));
		free(w);
	}
	CU_ASSERT_EQUAL(pvhv_sim_domain_destroy(h0, 7), -ESRCH);
	{
		struct pvhv *h7;

		CU_ASSERT_NOT_EQUAL(simrun_open(&ENV, 7, &h7), 0);
	}
	xs_close(xs0);
	pvhv_close(h0);
	pvhv_close(h1);
}

static void test_open_errors(void)
{
	struct pvhv *h;
	struct pvhv_open_args a = { .provider = "sim", .sim_dir = "/nonexistent", .domid = 0 };

	CU_ASSERT_EQUAL(pvhv_open(&h, &a), -ENOENT);
	a.sim_dir = ENV.dir;
	a.domid = 55; /* no such domain */
	CU_ASSERT_EQUAL(pvhv_open(&h, &a), -ENOENT);
	a.provider = "bogus";
	CU_ASSERT_EQUAL(pvhv_open(&h, &a), -EINVAL);
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;
	int r;

	signal(SIGPIPE, SIG_IGN);
	r = simrun_start(&ENV, "0,1,2", 64);
	if (r) {
		fprintf(stderr, "cannot start pvsplit-simhv: %s\n", strerror(-r));
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("hv-sim", NULL, NULL);
	CU_add_test(s, "event channels across processes", test_evtchn);
	CU_add_test(s, "backend killed and restarted rebinds", test_evtchn_backend_restart);
	CU_add_test(s, "grants across processes", test_grants);
	CU_add_test(s, "foreign map, xenstore, domain lifecycle", test_foreign_and_xenstore);
	CU_add_test(s, "open errors", test_open_errors);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	r = simrun_stop(&ENV);
	if (r != 0) {
		fprintf(stderr, "pvsplit-simhv exited with %d\n", r);
		fails++;
	}
	return fails ? 1 : 0;
}
