// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Sim tier: libpvsplit-hv against a real pvsplit-simhv, with one process per
 * domain.  Grants, copies, event channels and xenstore across processes;
 * what happens when a process dies or a domain is destroyed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>
#include <xen/grant_table.h>

#include "pvsplit/hv-sim.h"
#include "../../hypercalls/sim/proto.h" /* the raw protocol, for hostile clients */
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

/* Poll the daemon's statistics until grant_pins is want: 0, or -ETIMEDOUT. */
static int wait_pins(struct pvhv *hv, uint32_t want, int timeout_ms)
{
	struct pvhv_sim_stats st;

	for (int waited = 0;; waited++) {
		if (pvhv_sim_stats(hv, &st) == 0 && st.grant_pins == want)
			return 0;
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		usleep(1000);
	}
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
	/* As Xen: a freshly bound port is pending once (events sent before were lost). */
	CU_ASSERT_EQUAL(wait_port(ev, 0), port);
	CU_ASSERT_EQUAL(pvhv_evtchn_unmask(ev, (uint32_t)port), 0);
	CU_ASSERT_EQUAL(pvhv_evtchn_pending(ev), -EAGAIN);
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
	/* Unmasked by a call of our own (pvhv_evtchn_unmask_op(): an io_uring op for a backend). */
	{
		struct pvhv_evtchn_unmask_op op;

		CU_ASSERT_EQUAL(pvhv_evtchn_unmask_op(ev, 4000, &op), -ENOTCONN);
		CU_ASSERT_EQUAL_FATAL(pvhv_evtchn_unmask_op(ev, (uint32_t)port, &op), 0);
		CU_ASSERT_EQUAL(op.kind, PVHV_UNMASK_EPOLL_CTL);
		CU_ASSERT_EQUAL(epoll_ctl(op.fd, EPOLL_CTL_MOD, op.target, &op.event), 0);
	}
	/* PVSPLIT_SIM_FAULTS=unmask-op: a handle opened then gets ops the kernel refuses. */
	{
		struct pvhv_evtchn_unmask_op op;
		struct pvhv *fh;
		struct pvhv_evtchn *fe;
		int fp;

		setenv("PVSPLIT_SIM_FAULTS", "unmask-op", 1);
		CU_ASSERT_FATAL(simrun_open(&ENV, 0, &fh) == 0);
		unsetenv("PVSPLIT_SIM_FAULTS");
		CU_ASSERT_FATAL(pvhv_evtchn_open(fh, &fe) == 0);
		fp = pvhv_evtchn_alloc_unbound(fe, 1);
		CU_ASSERT_FATAL(fp > 0);
		CU_ASSERT_EQUAL_FATAL(pvhv_evtchn_unmask_op(fe, (uint32_t)fp, &op), 0);
		errno = 0;
		CU_ASSERT_EQUAL(epoll_ctl(op.fd, EPOLL_CTL_MOD, op.target, &op.event), -1);
		CU_ASSERT_EQUAL(errno, EINVAL);
		/* The system call still unmasks. */
		CU_ASSERT_EQUAL(pvhv_evtchn_unmask(fe, (uint32_t)fp), 0);
		CU_ASSERT_EQUAL(pvhv_evtchn_unbind(fe, (uint32_t)fp), 0);
		pvhv_evtchn_close(fe);
		pvhv_close(fh);
	}
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
static bool fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Batches of pending ports: the handle holds nothing back, so ports not
 * taken keep the fd readable, whatever the size of the batch.
 */
static void test_evtchn_batch(void)
{
	struct pvhv *hv;
	struct pvhv_evtchn *ev;
	uint32_t local[5], remote[5], got[8];
	int n;

	CU_ASSERT_FATAL(simrun_open(&ENV, 1, &hv) == 0);
	CU_ASSERT_FATAL(pvhv_evtchn_open(hv, &ev) == 0);
	for (int i = 0; i < 5; i++) {
		int r = pvhv_evtchn_alloc_unbound(ev, PVHV_DOMID_SELF);
		int l = r > 0 ? pvhv_evtchn_bind_interdomain(ev, PVHV_DOMID_SELF, (uint32_t)r) : -1;

		CU_ASSERT_FATAL(r > 0 && l > 0);
		remote[i] = (uint32_t)r;
		local[i] = (uint32_t)l;
	}
	/* Freshly bound ports are pending once: take them all. */
	while ((n = pvhv_evtchn_pending_batch(ev, got, 8)) > 0)
		for (int i = 0; i < n; i++)
			CU_ASSERT_EQUAL(pvhv_evtchn_unmask(ev, got[i]), 0);
	CU_ASSERT_EQUAL(n, -EAGAIN);
	CU_ASSERT_FALSE(fd_readable(pvhv_evtchn_fd(ev)));

	CU_ASSERT_EQUAL(pvhv_evtchn_pending_batch(ev, got, 0), -EINVAL);
	CU_ASSERT_EQUAL(pvhv_evtchn_pending_batch(ev, NULL, 4), -EINVAL);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(pvhv_evtchn_notify(ev, local[i]), 0);
	CU_ASSERT_EQUAL(pvhv_evtchn_pending_batch(ev, got, 2), 2);
	/* Three left: still signalled. */
	CU_ASSERT_TRUE(fd_readable(pvhv_evtchn_fd(ev)));
	n = pvhv_evtchn_pending(ev);
	CU_ASSERT(n > 0);
	got[2] = (uint32_t)n;
	CU_ASSERT_TRUE(fd_readable(pvhv_evtchn_fd(ev)));
	/* Room for five, two left: a short batch. */
	CU_ASSERT_EQUAL(pvhv_evtchn_pending_batch(ev, got + 3, 5), 2);
	/* Each of the five came exactly once. */
	qsort(got, 5, sizeof(got[0]), cmp_u32);
	qsort(remote, 5, sizeof(remote[0]), cmp_u32);
	CU_ASSERT_EQUAL(memcmp(got, remote, sizeof(remote)), 0);
	/* Masked until unmasked: a second notification is not delivered yet. */
	CU_ASSERT_EQUAL(pvhv_evtchn_notify(ev, local[0]), 0);
	CU_ASSERT_EQUAL(pvhv_evtchn_pending_batch(ev, got, 8), -EAGAIN);
	CU_ASSERT_FALSE(fd_readable(pvhv_evtchn_fd(ev)));
	/* ... and is, once unmasked. */
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(pvhv_evtchn_unmask(ev, got[i]), 0);
	CU_ASSERT_EQUAL(pvhv_evtchn_pending_batch(ev, got, 8), 1);
	pvhv_evtchn_close(ev);
	pvhv_close(hv);
}

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
	/* The backend dies: its mappings go with it, once the daemon sees the hangup. */
	kill(child, SIGKILL);
	CU_ASSERT_EQUAL(simrun_wait(child), 128 + SIGKILL);
	CU_ASSERT_EQUAL(wait_pins(hv, 0, 5000), 0);
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

/*
 * Handles are not fork-safe: a grant copy from a child through its parent's
 * handle would reach the parent's memory (the reviewer's d7).  It is
 * refused; the child's own handle works.
 */
static void test_copy_after_fork(void)
{
	static char buf[64];
	struct pvhv *h0, *h1;
	uint32_t ref;
	char *page;
	pid_t c;

	CU_ASSERT_FATAL(simrun_open(&ENV, 1, &h1) == 0);
	CU_ASSERT_EQUAL_FATAL(pvhv_gnt_share(h1, 0, 1, 0, &ref, (void **)&page), 0);
	strcpy(page, "guest data");
	CU_ASSERT_FATAL(simrun_open(&ENV, 0, &h0) == 0);
	strcpy(buf, "parent's buffer");
	c = fork();
	if (c == 0) {
		struct pvhv_gnt_copy_seg s = {
			.local = buf, .domid = 1, .ref = ref, .len = 11, .to_guest = 0
		};
		struct pvhv *mine;

		CHECK(pvhv_gnt_copy(h0, &s, 1) == -EBADF);
		CHECK(strcmp(buf, "parent's buffer") == 0);
		CHECK(simrun_open(&ENV, 0, &mine) == 0);
		CHECK(pvhv_gnt_copy(mine, &s, 1) == 0 && s.status == 0);
		CHECK(strcmp(buf, "guest data") == 0);
		_exit(0);
	}
	CU_ASSERT_EQUAL(simrun_wait(c), 0);
	CU_ASSERT_STRING_EQUAL(buf, "parent's buffer");
	{
		struct pvhv_gnt_copy_seg s = {
			.local = buf, .domid = 1, .ref = ref, .len = 11, .to_guest = 0
		};

		CU_ASSERT(pvhv_gnt_copy(h0, &s, 1) == 0 && s.status == 0);
		CU_ASSERT_STRING_EQUAL(buf, "guest data");
		/* Refused before the hypervisor: a reserved domid, a range off the page. */
		s.domid = 0x7FF2;
		CU_ASSERT(pvhv_gnt_copy(h0, &s, 1) == 0 && s.status == -EINVAL);
		s.domid = 1;
		s.offset = 4090;
		CU_ASSERT(pvhv_gnt_copy(h0, &s, 1) == 0 && s.status == -EINVAL);
	}
	pvhv_close(h0);
	CU_ASSERT_EQUAL(pvhv_gnt_unshare(h1, page, 1), 0);
	pvhv_close(h1);
}

/* A raw SEQPACKET connection to DIR/domN/hv.sock, or -1. */
static int raw_connect(const char *dir, int domid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/dom%d/hv.sock", dir, domid);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One STATS request on a raw connection: 1 answered, 0 refused (EOF), -1 no answer in time. */
static int raw_stats(int fd, int timeout_ms)
{
	struct simhv_req rq = { .op = SIMHV_STATS };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[256];
	ssize_t n;

	if (send(fd, &rq, sizeof(rq), MSG_NOSIGNAL) != sizeof(rq))
		return 0;
	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	n = recv(fd, buf, sizeof(buf), 0);
	return n > 0 ? 1 : 0;
}

/* A domU has at most 64 hypervisor connections; the 65th is closed at once. */
static void test_connection_limit(void)
{
	int fds[80], answered = 0, refused = 0;

	for (int i = 0; i < 80; i++) {
		fds[i] = raw_connect(ENV.dir, 2);
		CU_ASSERT_FATAL(fds[i] >= 0);
	}
	for (int i = 0; i < 80; i++) {
		int r = raw_stats(fds[i], 2000);

		answered += r == 1;
		refused += r == 0;
	}
	CU_ASSERT_EQUAL(answered, 64);
	CU_ASSERT_EQUAL(refused, 16);
	for (int i = 0; i < 80; i++)
		close(fds[i]);
	/* dom0 is not limited by it. */
	for (int i = 0; i < 80; i++) {
		fds[i] = raw_connect(ENV.dir, 0);
		CU_ASSERT_FATAL(fds[i] >= 0);
	}
	answered = 0;
	for (int i = 0; i < 80; i++)
		answered += raw_stats(fds[i], 2000) == 1;
	CU_ASSERT_EQUAL(answered, 80);
	for (int i = 0; i < 80; i++)
		close(fds[i]);
}

static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	long utime = 0, stime = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(buf, ')');
	/* After "pid (comm)": state is field 3; utime and stime are 14 and 15. */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime,
			 &stime) != 2)
		return -1;
	return utime + stime;
}

/*
 * The daemon out of descriptors (the reviewer's d2): it must not spin on
 * a pending connection it cannot accept, and must serve again once
 * descriptors are free.  A daemon of its own, with 64 descriptors.
 */
static void test_out_of_descriptors(void)
{
	struct simrun small;
	char bin[4096], line[256];
	int pfd[2], fds[100], n = 0;
	long t0, t1;
	FILE *f;

	CU_ASSERT_FATAL(simrun_binary(bin, sizeof(bin)) != NULL);
	snprintf(small.dir, sizeof(small.dir), "/tmp/pvsplit-sim.XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(small.dir) != NULL);
	CU_ASSERT_FATAL(pipe(pfd) == 0);
	small.daemon = fork();
	if (small.daemon == 0) {
		struct rlimit rl = { .rlim_cur = 64, .rlim_max = 64 };

		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		setrlimit(RLIMIT_NOFILE, &rl);
		execl(bin, "pvsplit-simhv", "--dir", small.dir, "--domains", "0,1,2", "--mem", "16",
		      (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	CU_ASSERT_FATAL(f && fgets(line, sizeof(line), f) && strstr(line, "ready"));
	fclose(f);
	/* More connections than it has descriptors for (fewer than the per-domain cap). */
	for (int i = 0; i < 60; i++) {
		fds[n] = raw_connect(small.dir, 1);
		if (fds[n] >= 0)
			n++;
	}
	CU_ASSERT(n >= 50);
	usleep(300000);
	t0 = cpu_ticks(small.daemon);
	usleep(1000000);
	t1 = cpu_ticks(small.daemon);
	CU_ASSERT(t0 >= 0 && t1 - t0 < 20); /* < 0.2 s of CPU in 1 s: not spinning */
	/* Free some (the first ones were accepted): it accepts again and serves. */
	for (int i = 0; i < 30; i++)
		close(fds[i]);
	{
		int fd = raw_connect(small.dir, 2);

		CU_ASSERT(fd >= 0 && raw_stats(fd, 5000) == 1);
		if (fd >= 0)
			close(fd);
	}
	for (int i = 30; i < n; i++)
		close(fds[i]);
	CU_ASSERT_EQUAL(simrun_stop(&small), 0);
}

/*
 * Domain id reuse (the reviewer's d8): a new domain 8 must not read what
 * was granted to the old one, nor find the old one's home.
 */
static void test_domid_reuse(void)
{
	struct xs_permissions r8[2] = { { .id = 0, .perms = XS_PERM_NONE },
					{ .id = 8, .perms = XS_PERM_READ } };
	const char *params = "/local/domain/0/backend/vbd/8/51712/params";
	struct xs_handle *xs0, *xs8;
	struct pvhv *h0, *h8;
	unsigned len;
	char *v;

	CU_ASSERT_FATAL(simrun_open(&ENV, 0, &h0) == 0);
	CU_ASSERT_EQUAL_FATAL(pvhv_xs_open(h0, &xs0), 0);
	CU_ASSERT_EQUAL_FATAL(pvhv_sim_domain_create(h0, 8, 16), 0);
	CU_ASSERT(xs_write(xs0, XBT_NULL, params, "/secret/disk.img", 16));
	CU_ASSERT(xs_set_permissions(xs0, XBT_NULL, params, r8, 2));
	CU_ASSERT_FATAL(simrun_open(&ENV, 8, &h8) == 0);
	CU_ASSERT_EQUAL_FATAL(pvhv_xs_open(h8, &xs8), 0);
	v = xs_read(xs8, XBT_NULL, params, &len);
	CU_ASSERT(v != NULL);
	free(v);
	CU_ASSERT(xs_write(xs8, XBT_NULL, "data/secret", "old guest's key", 15));
	xs_close(xs8);
	pvhv_close(h8);
	CU_ASSERT_EQUAL(pvhv_sim_domain_destroy(h0, 8), 0);
	errno = 0;
	v = xs_read(xs0, XBT_NULL, "/local/domain/8", &len);
	CU_ASSERT(v == NULL && errno == ENOENT); /* removed, as libxl does */
	free(v);
	CU_ASSERT_EQUAL_FATAL(pvhv_sim_domain_create(h0, 8, 16), 0);
	CU_ASSERT_FATAL(simrun_open(&ENV, 8, &h8) == 0);
	CU_ASSERT_EQUAL_FATAL(pvhv_xs_open(h8, &xs8), 0);
	errno = 0;
	v = xs_read(xs8, XBT_NULL, params, &len);
	CU_ASSERT(v == NULL && errno == EACCES);
	free(v);
	errno = 0;
	v = xs_read(xs8, XBT_NULL, "data/secret", &len);
	CU_ASSERT(v == NULL && errno == ENOENT);
	free(v);
	v = xs_read(xs8, XBT_NULL, "domid", &len);
	CU_ASSERT(v && !strcmp(v, "8"));
	free(v);
	xs_close(xs8);
	pvhv_close(h8);
	CU_ASSERT_EQUAL(pvhv_sim_domain_destroy(h0, 8), 0);
	xs_close(xs0);
	pvhv_close(h0);
}

/*
 * The "xen" provider's grant copy against a stand-in for libxengnttab and
 * /dev/xen, defined here: the library binds to these rather than to the
 * real ones.  The stand-in behaves as gntdev: a bad local address fails the
 * whole ioctl with EFAULT and sets no status.
 */
#define BAD_LOCAL ((void *)0x8)
static struct {
	bool on;
	int calls;
	uint32_t seen_ref[16], seen_dom[16];
	int nseen;
} xen_stub;

int access(const char *path, int mode)
{
	if (xen_stub.on && !strcmp(path, "/dev/xen"))
		return 0;
	return faccessat(AT_FDCWD, path, mode, 0);
}

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger, unsigned open_flags)
{
	(void)logger;
	(void)open_flags;
	return xen_stub.on ? (xengnttab_handle *)&xen_stub : NULL;
}

int xengnttab_close(xengnttab_handle *xgt)
{
	(void)xgt;
	return 0;
}

int xengnttab_grant_copy(xengnttab_handle *xgt, uint32_t count,
			 xengnttab_grant_copy_segment_t *segs)
{
	(void)xgt;
	xen_stub.calls++;
	for (uint32_t i = 0; i < count; i++) {
		bool to_guest = segs[i].flags & GNTCOPY_dest_gref;
		void *local = to_guest ? segs[i].source.virt : segs[i].dest.virt;

		if (local == BAD_LOCAL) {
			errno = EFAULT;
			return -1;
		}
	}
	for (uint32_t i = 0; i < count; i++) {
		const union xengnttab_copy_ptr *f =
			(segs[i].flags & GNTCOPY_dest_gref) ? &segs[i].dest : &segs[i].source;

		if (xen_stub.nseen < 16) {
			xen_stub.seen_ref[xen_stub.nseen] = f->foreign.ref;
			xen_stub.seen_dom[xen_stub.nseen++] = f->foreign.domid;
		}
		segs[i].status = f->foreign.ref == 666 ? GNTST_bad_gntref : GNTST_okay;
	}
	return 0;
}

/* The evtchn device, as a pipe: a read returns as many whole ports as fit. */
static int xen_ev_pipe[2] = { -1, -1 };

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger, unsigned open_flags)
{
	(void)logger;
	(void)open_flags;
	if (!xen_stub.on || pipe(xen_ev_pipe))
		return NULL;
	return (xenevtchn_handle *)xen_ev_pipe;
}

int xenevtchn_close(xenevtchn_handle *xce)
{
	(void)xce;
	close(xen_ev_pipe[0]);
	close(xen_ev_pipe[1]);
	xen_ev_pipe[0] = xen_ev_pipe[1] = -1;
	return 0;
}

int xenevtchn_fd(xenevtchn_handle *xce)
{
	(void)xce;
	return xen_ev_pipe[0];
}

/*
 * The "xen" provider's event channels against that device: it keeps no
 * ports to itself (each call is one read, of at most what the caller can
 * take), so ports not yet taken keep the fd readable.
 */
static void test_xen_provider_evtchn(void)
{
	struct pvhv_open_args a = { .provider = "xen", .domid = -1 };
	uint32_t in[5] = { 7, 9, 11, 13, 15 }, got[8];
	struct pvhv_evtchn *ev;
	struct pvhv *h;

	xen_stub.on = true;
	CU_ASSERT_EQUAL_FATAL(pvhv_open(&h, &a), 0);
	CU_ASSERT_EQUAL_FATAL(pvhv_evtchn_open(h, &ev), 0);
	CU_ASSERT_EQUAL(pvhv_evtchn_pending(ev), -EAGAIN); /* non-blocking */
	CU_ASSERT_EQUAL(write(xen_ev_pipe[1], in, sizeof(in)), (ssize_t)sizeof(in));
	CU_ASSERT_EQUAL(pvhv_evtchn_pending(ev), 7);
	CU_ASSERT_TRUE(fd_readable(pvhv_evtchn_fd(ev)));
	CU_ASSERT_EQUAL(pvhv_evtchn_pending_batch(ev, got, 2), 2);
	CU_ASSERT(got[0] == 9 && got[1] == 11);
	CU_ASSERT_TRUE(fd_readable(pvhv_evtchn_fd(ev)));
	CU_ASSERT_EQUAL(pvhv_evtchn_pending_batch(ev, got, 8), 2);
	CU_ASSERT(got[0] == 13 && got[1] == 15);
	CU_ASSERT_FALSE(fd_readable(pvhv_evtchn_fd(ev)));
	CU_ASSERT_EQUAL(pvhv_evtchn_pending_batch(ev, got, 8), -EAGAIN);
	/* Unmasking as a caller's own call: xenevtchn_unmask()'s write of the port. */
	{
		struct pvhv_evtchn_unmask_op op;

		CU_ASSERT_EQUAL_FATAL(pvhv_evtchn_unmask_op(ev, 13, &op), 0);
		CU_ASSERT_EQUAL(op.kind, PVHV_UNMASK_WRITE);
		CU_ASSERT_EQUAL(op.fd, pvhv_evtchn_fd(ev));
		CU_ASSERT_EQUAL(op.len, sizeof(uint32_t));
		CU_ASSERT_EQUAL(*(const uint32_t *)op.buf, 13);
		CU_ASSERT_EQUAL(pvhv_evtchn_unmask_op(ev, 13, NULL), -EINVAL);
	}
	pvhv_evtchn_close(ev);
	pvhv_close(h);
	xen_stub.on = false;
}

static void test_xen_provider_copy(void)
{
	struct pvhv_open_args a = { .provider = "xen", .domid = -1 };
	char buf[16];
	struct pvhv_gnt_copy_seg s[4] = {
		{ .local = buf, .domid = 1, .ref = 8, .len = 16 },
		{ .local = BAD_LOCAL, .domid = 1, .ref = 9, .len = 16 },
		{ .local = buf, .domid = 1, .ref = 666, .len = 16, .to_guest = 1 },
		{ .local = buf, .domid = 0x10001, .ref = 10, .len = 16 }, /* not domain 1 */
	};
	struct pvhv *h;

	xen_stub.on = true;
	CU_ASSERT_EQUAL_FATAL(pvhv_open(&h, &a), 0);
	CU_ASSERT_STRING_EQUAL(pvhv_provider(h), "xen");
	/* The bad segment fails alone; every status is set. */
	CU_ASSERT_EQUAL(pvhv_gnt_copy(h, s, 4), 0);
	CU_ASSERT_EQUAL(s[0].status, 0);
	CU_ASSERT_EQUAL(s[1].status, -EFAULT);
	CU_ASSERT_EQUAL(s[2].status, -EINVAL);
	CU_ASSERT_EQUAL(s[3].status, -EINVAL);
	/* A domid that does not fit in a domid_t never reaches Xen truncated. */
	for (int i = 0; i < xen_stub.nseen; i++)
		CU_ASSERT(xen_stub.seen_ref[i] != 10);
	/* A well-formed batch is one ioctl. */
	xen_stub.calls = 0;
	s[1].local = buf;
	CU_ASSERT_EQUAL(pvhv_gnt_copy(h, s, 3), 0);
	CU_ASSERT_EQUAL(xen_stub.calls, 1);
	CU_ASSERT(s[0].status == 0 && s[1].status == 0 && s[2].status == -EINVAL);
	/* Domain ids are bounded before the provider sees them. */
	{
		uint32_t ref = 8;
		void *addr;

		CU_ASSERT_EQUAL(pvhv_gnt_map(h, 0x7FF0, 1, &ref, 0, &addr), -EINVAL);
		CU_ASSERT_EQUAL(pvhv_gnt_map(h, 0x10001, 1, &ref, 0, &addr), -EINVAL);
	}
	pvhv_close(h);
	xen_stub.on = false;
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
	CU_add_test(s, "event channel batches hold nothing back", test_evtchn_batch);
	CU_add_test(s, "backend killed and restarted rebinds", test_evtchn_backend_restart);
	CU_add_test(s, "grants across processes", test_grants);
	CU_add_test(s, "foreign map, xenstore, domain lifecycle", test_foreign_and_xenstore);
	CU_add_test(s, "open errors", test_open_errors);
	CU_add_test(s, "domain id reuse: stale ACL entries, old home", test_domid_reuse);
	CU_add_test(s, "grant copy through a handle inherited by fork", test_copy_after_fork);
	CU_add_test(s, "hypervisor connections per domain", test_connection_limit);
	CU_add_test(s, "daemon out of descriptors", test_out_of_descriptors);
	CU_add_test(s, "xen provider: grant copy statuses, domid bounds (stub Xen)",
		    test_xen_provider_copy);
	CU_add_test(s, "xen provider: event channel batches (stub evtchn device)",
		    test_xen_provider_evtchn);
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
