// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the loopback hypervisor core (hvd): grant table checks and
 * pins, shares and end of access, grant copy, event channel state, client
 * death.  No daemon and no sockets: requests go straight into hvd_handle();
 * "clients" are objects in this process (grant copies reach this process
 * through the /proc/self/mem it hands over with HELLO).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <xen/xen.h>
#include <xen/grant_table.h>

#include "hvd.h"

static struct hvd *H;
static struct hvd_client *D0, *D1, *D2;

struct rsp {
	struct simhv_rsp r;
	char data[SIMHV_MSG_MAX];
	int fds[4];
	int nfds;
};

static int do_req_fd(struct hvd_client *c, const struct simhv_req *rq, const void *arg, size_t alen,
		     int in_fd, struct rsp *out)
{
	char req[SIMHV_MSG_MAX], rsp[SIMHV_MSG_MAX];
	size_t rlen;

	memcpy(req, rq, sizeof(*rq));
	if (alen)
		memcpy(req + sizeof(*rq), arg, alen);
	CU_ASSERT_EQUAL_FATAL(
		hvd_handle(c, req, sizeof(*rq) + alen, in_fd, rsp, &rlen, out->fds, &out->nfds), 0);
	memcpy(&out->r, rsp, sizeof(out->r));
	memcpy(out->data, rsp + sizeof(out->r), rlen - sizeof(out->r));
	return out->r.ret;
}

static int do_req(struct hvd_client *c, const struct simhv_req *rq, const void *arg, size_t alen,
		  struct rsp *out)
{
	return do_req_fd(c, rq, arg, alen, -1, out);
}

/* HELLO handing over this process's memory, as the sim provider does. */
static void hello_mem(struct hvd_client *c)
{
	struct simhv_req rq = { .op = SIMHV_HELLO };
	struct rsp r;
	int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(do_req_fd(c, &rq, NULL, 0, fd, &r), 0);
	for (int i = 0; i < r.nfds; i++)
		close(r.fds[i]);
}

static void close_fds(struct rsp *r)
{
	for (int i = 0; i < r->nfds; i++)
		close(r->fds[i]);
	r->nfds = 0;
}

/* dom1 shares n pages with grantee; returns the first ref. */
static int share(struct hvd_client *c, uint32_t grantee, uint32_t n, bool ro, uint32_t *refs,
		 uint64_t *frames)
{
	struct simhv_req rq = {
		.op = SIMHV_GNT_SHARE, .domid = grantee, .count = n, .flags = ro ? SIMHV_F_RO : 0
	};
	struct rsp r;
	int e = do_req(c, &rq, NULL, 0, &r);

	if (!e) {
		memcpy(refs, r.data, n * 4);
		if (frames)
			memcpy(frames, r.data + n * 4, n * 8);
	}
	close_fds(&r);
	return e;
}

static int map(struct hvd_client *c, uint32_t domid, uint32_t n, const uint32_t *refs, bool ro)
{
	struct simhv_req rq = {
		.op = SIMHV_GNT_MAP, .domid = domid, .count = n, .flags = ro ? SIMHV_F_RO : 0
	};
	struct rsp r;
	int e = do_req(c, &rq, refs, n * 4, &r);

	if (!e)
		CU_ASSERT_EQUAL(r.nfds, 1);
	close_fds(&r);
	return e;
}

static int unmap(struct hvd_client *c, uint32_t domid, uint32_t n, const uint32_t *refs, bool ro)
{
	struct simhv_req rq = {
		.op = SIMHV_GNT_UNMAP, .domid = domid, .count = n, .flags = ro ? SIMHV_F_RO : 0
	};
	struct rsp r;

	return do_req(c, &rq, refs, n * 4, &r);
}

static int unshare(struct hvd_client *c, uint32_t n, const uint32_t *refs)
{
	struct simhv_req rq = { .op = SIMHV_GNT_UNSHARE, .count = n };
	struct rsp r;

	return do_req(c, &rq, refs, n * 4, &r);
}

/* A domain's grant table, as its kernel sees it. */
static grant_entry_v1_t *gnttab(struct hvd_client *c, uint8_t **mem, size_t *memlen)
{
	struct simhv_req rq = { .op = SIMHV_HELLO };
	struct simhv_hello hello;
	struct rsp r;
	grant_entry_v1_t *g;

	CU_ASSERT_EQUAL_FATAL(do_req(c, &rq, NULL, 0, &r), 0);
	memcpy(&hello, r.data, sizeof(hello));
	CU_ASSERT_EQUAL_FATAL(r.nfds, 3);
	g = mmap(NULL, SIMHV_NR_GRANTS * sizeof(*g), PROT_READ | PROT_WRITE, MAP_SHARED, r.fds[1],
		 0);
	*memlen = (size_t)hello.nr_frames * 4096;
	*mem = mmap(NULL, *memlen, PROT_READ | PROT_WRITE, MAP_SHARED, r.fds[0], 0);
	close_fds(&r);
	CU_ASSERT_FATAL(g != MAP_FAILED && *mem != MAP_FAILED);
	return g;
}

static void setup(void)
{
	CU_ASSERT_FATAL(hvd_new(&H, NULL) == 0);
	CU_ASSERT_FATAL(hvd_domain_create(H, 0, 16) == 0);
	CU_ASSERT_FATAL(hvd_domain_create(H, 1, 16) == 0);
	CU_ASSERT_FATAL(hvd_domain_create(H, 2, 16) == 0);
	CU_ASSERT_FATAL(hvd_client_new(H, 0, &D0) == 0);
	CU_ASSERT_FATAL(hvd_client_new(H, 1, &D1) == 0);
	CU_ASSERT_FATAL(hvd_client_new(H, 2, &D2) == 0);
	hello_mem(D0);
	hello_mem(D1);
	hello_mem(D2);
}

static void teardown(void)
{
	hvd_client_free(D0);
	hvd_client_free(D1);
	hvd_client_free(D2);
	hvd_free(H);
}

static void stats(struct simhv_stats *st)
{
	hvd_get_stats(H, st);
}

static void test_map_checks(void)
{
	uint32_t refs[4], bad;
	struct simhv_stats st;
	grant_entry_v1_t *g;
	uint8_t *mem;
	size_t memlen;

	setup();
	CU_ASSERT_EQUAL(share(D1, 0, 2, false, refs, NULL), 0);
	CU_ASSERT_EQUAL(share(D1, 0, 1, true, refs + 2, NULL), 0);
	CU_ASSERT(refs[0] >= GNTTAB_NR_RESERVED_ENTRIES);
	g = gnttab(D1, &mem, &memlen);
	CU_ASSERT_EQUAL(g[refs[0]].flags, GTF_permit_access);
	CU_ASSERT_EQUAL(g[refs[0]].domid, 0);
	CU_ASSERT_EQUAL(g[refs[2]].flags, GTF_permit_access | GTF_readonly);

	/* The grantee maps; flags show it as Xen sets them. */
	CU_ASSERT_EQUAL(map(D0, 1, 2, refs, false), 0);
	CU_ASSERT_EQUAL(g[refs[0]].flags, GTF_permit_access | GTF_reading | GTF_writing);
	/* Wrong grantee. */
	CU_ASSERT_EQUAL(map(D2, 1, 1, refs, false), -EPERM);
	CU_ASSERT_EQUAL(map(D2, 1, 1, refs, true), -EPERM);
	/* Bad refs: out of range, never granted, reserved. */
	bad = SIMHV_NR_GRANTS + 5;
	CU_ASSERT_EQUAL(map(D0, 1, 1, &bad, false), -EINVAL);
	bad = 20000;
	CU_ASSERT_EQUAL(map(D0, 1, 1, &bad, false), -EPERM);
	bad = 0;
	CU_ASSERT_EQUAL(map(D0, 1, 1, &bad, false), -EPERM);
	/* Write to a read-only grant: refused; read-only map is fine. */
	CU_ASSERT_EQUAL(map(D0, 1, 1, refs + 2, false), -EPERM);
	CU_ASSERT_EQUAL(map(D0, 1, 1, refs + 2, true), 0);
	CU_ASSERT_EQUAL(g[refs[2]].flags, GTF_permit_access | GTF_readonly | GTF_reading);
	/* No such domain. */
	CU_ASSERT_EQUAL(map(D0, 77, 1, refs, false), -ESRCH);
	/* All or nothing: a batch with one bad ref pins nothing. */
	{
		uint32_t mix[2] = { refs[1], 20001 };

		stats(&st);
		uint32_t pins = st.grant_pins;

		CU_ASSERT_EQUAL(map(D0, 1, 2, mix, false), -EPERM);
		stats(&st);
		CU_ASSERT_EQUAL(st.grant_pins, pins);
	}
	/* Batch bounds. */
	{
		struct simhv_req rq = { .op = SIMHV_GNT_MAP, .domid = 1, .count = 0 };
		struct rsp r;

		CU_ASSERT_EQUAL(do_req(D0, &rq, NULL, 0, &r), -EINVAL);
		rq.count = SIMHV_MAX_BATCH + 1;
		CU_ASSERT_EQUAL(do_req(D0, &rq, NULL, 0, &r), -EINVAL);
	}
	/* End of access while mapped fails; after unmap it works. */
	CU_ASSERT_EQUAL(unshare(D1, 2, refs), -EBUSY);
	CU_ASSERT_EQUAL(g[refs[0]].flags & GTF_permit_access, GTF_permit_access);
	CU_ASSERT_EQUAL(unmap(D0, 1, 2, refs, false), 0);
	CU_ASSERT_EQUAL(g[refs[0]].flags, GTF_permit_access);
	CU_ASSERT_EQUAL(unmap(D0, 1, 2, refs, false), -EINVAL); /* not mapped any more */
	CU_ASSERT_EQUAL(unshare(D1, 2, refs), 0);
	CU_ASSERT_EQUAL(g[refs[0]].flags, 0);
	CU_ASSERT_EQUAL(map(D0, 1, 1, refs, false), -EPERM); /* access ended */
	/* Only the sharer may end a share. */
	CU_ASSERT_EQUAL(unshare(D2, 1, refs + 2), -EINVAL);
	munmap(g, SIMHV_NR_GRANTS * sizeof(*g));
	munmap(mem, memlen);
	teardown();
}

static void test_hostile_guest_table(void)
{
	uint32_t refs[2];
	grant_entry_v1_t *g;
	uint8_t *mem;
	size_t memlen;

	setup();
	CU_ASSERT_EQUAL(share(D1, 0, 2, false, refs, NULL), 0);
	g = gnttab(D1, &mem, &memlen);
	/* A guest kernel pointing a grant beyond its memory. */
	g[refs[0]].frame = 0x7fffffff;
	CU_ASSERT_EQUAL(map(D0, 1, 1, refs, false), -EINVAL);
	CU_ASSERT_EQUAL(g[refs[0]].flags & (GTF_reading | GTF_writing), 0);
	/* Revoking a mapped grant behind Xen's back: the mapping stands. */
	CU_ASSERT_EQUAL(map(D0, 1, 1, refs + 1, false), 0);
	__atomic_store_n(&g[refs[1]].flags, 0, __ATOMIC_RELEASE);
	CU_ASSERT_EQUAL(map(D0, 1, 1, refs + 1, false), 0); /* pinned: first check stands */
	CU_ASSERT_EQUAL(unmap(D0, 1, 1, refs + 1, false), 0);
	CU_ASSERT_EQUAL(unmap(D0, 1, 1, refs + 1, false), 0);
	CU_ASSERT_EQUAL(map(D0, 1, 1, refs + 1, false), -EPERM); /* now it is gone */
	munmap(g, SIMHV_NR_GRANTS * sizeof(*g));
	munmap(mem, memlen);
	teardown();
}

static void test_copy(void)
{
	uint32_t refs[2];
	uint64_t frames[2];
	struct simhv_copy_seg segs[4];
	char local[4096], back[4096];
	grant_entry_v1_t *g;
	uint8_t *mem;
	size_t memlen;
	struct rsp r;
	struct simhv_req rq = { .op = SIMHV_GNT_COPY, .count = 4 };
	int16_t st[4];

	setup();
	CU_ASSERT_EQUAL(share(D1, 0, 1, false, refs, frames), 0);
	CU_ASSERT_EQUAL(share(D1, 0, 1, true, refs + 1, frames + 1), 0);
	g = gnttab(D1, &mem, &memlen);
	memset(mem + frames[1] * 4096, 0xab, 4096);
	memset(local, 0x5a, sizeof(local));
	memset(segs, 0, sizeof(segs));
	/* 0: local -> rw grant; 1: ro grant -> local; 2: local -> ro grant; 3: bad range */
	segs[0] = (struct simhv_copy_seg){ .local = (uintptr_t)local,
					   .domid = 1,
					   .ref = refs[0],
					   .offset = 100,
					   .len = 200,
					   .to_guest = 1 };
	segs[1] = (struct simhv_copy_seg){ .local = (uintptr_t)back,
					   .domid = 1,
					   .ref = refs[1],
					   .offset = 0,
					   .len = 4096,
					   .to_guest = 0 };
	segs[2] = (struct simhv_copy_seg){ .local = (uintptr_t)local,
					   .domid = 1,
					   .ref = refs[1],
					   .offset = 0,
					   .len = 10,
					   .to_guest = 1 };
	segs[3] = (struct simhv_copy_seg){ .local = (uintptr_t)local,
					   .domid = 1,
					   .ref = refs[0],
					   .offset = 4000,
					   .len = 200,
					   .to_guest = 1 };
	CU_ASSERT_EQUAL(do_req(D0, &rq, segs, sizeof(segs), &r), 0);
	memcpy(st, r.data, sizeof(st));
	CU_ASSERT_EQUAL(st[0], 0);
	CU_ASSERT_EQUAL(st[1], 0);
	CU_ASSERT_EQUAL(st[2], -EPERM);
	CU_ASSERT_EQUAL(st[3], -EINVAL);
	CU_ASSERT(mem[frames[0] * 4096 + 99] == 0);
	CU_ASSERT(mem[frames[0] * 4096 + 100] == 0x5a);
	CU_ASSERT(mem[frames[0] * 4096 + 299] == 0x5a);
	CU_ASSERT(mem[frames[0] * 4096 + 300] == 0);
	CU_ASSERT((uint8_t)back[4095] == 0xab);
	/* Wrong grantee and a bad local address. */
	rq.count = 2;
	segs[0].len = 16;
	segs[1] = segs[0];
	segs[1].local = 8; /* unmapped in this process */
	CU_ASSERT_EQUAL(do_req(D2, &rq, segs, 2 * sizeof(segs[0]), &r), 0);
	memcpy(st, r.data, 2 * sizeof(st[0]));
	CU_ASSERT_EQUAL(st[0], -EPERM);
	CU_ASSERT_EQUAL(do_req(D0, &rq, segs, 2 * sizeof(segs[0]), &r), 0);
	memcpy(st, r.data, 2 * sizeof(st[0]));
	CU_ASSERT_EQUAL(st[0], 0);
	CU_ASSERT_EQUAL(st[1], -EFAULT);
	/* A copy never leaves a pin behind. */
	CU_ASSERT_EQUAL(g[refs[0]].flags, GTF_permit_access);
	CU_ASSERT_EQUAL(unshare(D1, 1, refs), 0);
	munmap(g, SIMHV_NR_GRANTS * sizeof(*g));
	munmap(mem, memlen);
	teardown();
}

static void test_client_death(void)
{
	uint32_t refs[3];
	struct simhv_stats st;
	grant_entry_v1_t *g;
	uint8_t *mem;
	size_t memlen;

	setup();
	CU_ASSERT_EQUAL(share(D1, 0, 3, false, refs, NULL), 0);
	g = gnttab(D1, &mem, &memlen);
	CU_ASSERT_EQUAL(map(D0, 1, 3, refs, false), 0);
	CU_ASSERT_EQUAL(map(D0, 1, 1, refs, true), 0);
	stats(&st);
	CU_ASSERT_EQUAL(st.grant_pins, 4);
	/* The backend dies: its pins go, as closing gntdev does. */
	hvd_client_free(D0);
	CU_ASSERT_FATAL(hvd_client_new(H, 0, &D0) == 0);
	stats(&st);
	CU_ASSERT_EQUAL(st.grant_pins, 0);
	CU_ASSERT_EQUAL(g[refs[0]].flags, GTF_permit_access);
	/* The frontend dies while mapped: shares end once unmapped. */
	CU_ASSERT_EQUAL(map(D0, 1, 1, refs + 1, false), 0);
	hvd_client_free(D1);
	CU_ASSERT_FATAL(hvd_client_new(H, 1, &D1) == 0);
	stats(&st);
	CU_ASSERT_EQUAL(st.grant_shares, 1); /* refs[1] stays while mapped */
	CU_ASSERT_EQUAL(g[refs[0]].flags, 0);
	CU_ASSERT_EQUAL(g[refs[1]].flags & GTF_permit_access, GTF_permit_access);
	CU_ASSERT_EQUAL(unmap(D0, 1, 1, refs + 1, false), 0);
	stats(&st);
	CU_ASSERT_EQUAL(st.grant_shares, 0);
	CU_ASSERT_EQUAL(g[refs[1]].flags, 0);
	munmap(g, SIMHV_NR_GRANTS * sizeof(*g));
	munmap(mem, memlen);
	teardown();
}

static int ev(struct hvd_client *c, uint32_t op, uint32_t domid, uint32_t port, int *fd)
{
	struct simhv_req rq = { .op = op, .domid = domid, .port = port };
	struct rsp r;
	int e = do_req(c, &rq, NULL, 0, &r);

	if (fd)
		*fd = r.nfds ? r.fds[0] : -1;
	else
		close_fds(&r);
	return e;
}

static void test_evtchn(void)
{
	int fd1, fd0, pfd, fd2;
	uint64_t v;
	int p1, p0, p2;
	struct simhv_req rq = { .op = SIMHV_EVTCHN_PEER };
	struct rsp r;

	setup();
	p1 = ev(D1, SIMHV_EVTCHN_ALLOC_UNBOUND, 0, 0, &fd1);
	CU_ASSERT(p1 > 0);
	/* Only the named remote domain may bind it. */
	CU_ASSERT_EQUAL(ev(D2, SIMHV_EVTCHN_BIND_INTERDOMAIN, 1, (uint32_t)p1, NULL), -EINVAL);
	CU_ASSERT_EQUAL(ev(D0, SIMHV_EVTCHN_BIND_INTERDOMAIN, 1, 4095, NULL), -EINVAL);
	CU_ASSERT_EQUAL(ev(D0, SIMHV_EVTCHN_BIND_INTERDOMAIN, 1, 70000, NULL), -EINVAL);
	CU_ASSERT_EQUAL(ev(D0, SIMHV_EVTCHN_BIND_INTERDOMAIN, 99, 1, NULL), -ESRCH);
	p0 = ev(D0, SIMHV_EVTCHN_BIND_INTERDOMAIN, 1, (uint32_t)p1, &fd0);
	CU_ASSERT(p0 > 0);
	/* As Xen: the new port is pending at once (notifications to p1 were lost). */
	CU_ASSERT_EQUAL(read(fd0, &v, 8), 8);
	CU_ASSERT_EQUAL(v, 1);
	/* Already bound: cannot bind twice. */
	CU_ASSERT_EQUAL(ev(D0, SIMHV_EVTCHN_BIND_INTERDOMAIN, 1, (uint32_t)p1, NULL), -EINVAL);
	/* The peer eventfd of dom0's port is dom1's port eventfd. */
	rq.port = (uint32_t)p0;
	CU_ASSERT_EQUAL(do_req(D0, &rq, NULL, 0, &r), 1);
	CU_ASSERT_EQUAL_FATAL(r.nfds, 1);
	pfd = r.fds[0];
	v = 1;
	CU_ASSERT_EQUAL(write(pfd, &v, 8), 8);
	CU_ASSERT_EQUAL(read(fd1, &v, 8), 8);
	CU_ASSERT_EQUAL(v, 1);
	close(pfd);
	/* Ports are the owner's: another client of dom0 cannot use them. */
	{
		struct hvd_client *other;

		CU_ASSERT_FATAL(hvd_client_new(H, 0, &other) == 0);
		CU_ASSERT_EQUAL(ev(other, SIMHV_EVTCHN_PEER, 0, (uint32_t)p0, NULL), -ENOTCONN);
		CU_ASSERT_EQUAL(ev(other, SIMHV_EVTCHN_CLOSE, 0, (uint32_t)p0, NULL), -ENOTCONN);
		hvd_client_free(other);
	}
	/* The backend closes (or dies): dom1's port is unbound and re-bindable. */
	hvd_client_free(D0);
	CU_ASSERT_FATAL(hvd_client_new(H, 0, &D0) == 0);
	rq.port = (uint32_t)p1;
	CU_ASSERT_EQUAL(do_req(D1, &rq, NULL, 0, &r), 0); /* unbound: no peer */
	p0 = ev(D0, SIMHV_EVTCHN_BIND_INTERDOMAIN, 1, (uint32_t)p1, &fd2);
	CU_ASSERT(p0 > 0);
	CU_ASSERT_EQUAL(do_req(D1, &rq, NULL, 0, &r), 1);
	close_fds(&r);
	/* Domain destroy closes its ports; peers become unbound. */
	hvd_client_free(D1);
	D1 = NULL;
	CU_ASSERT_EQUAL(hvd_domain_destroy(H, 1), 0);
	rq.port = (uint32_t)p0;
	CU_ASSERT_EQUAL(do_req(D0, &rq, NULL, 0, &r), 0);
	/* Nobody can bind to a port for a domain that is gone; allocating one is fine (Xen). */
	p2 = ev(D2, SIMHV_EVTCHN_ALLOC_UNBOUND, 1, 0, NULL);
	CU_ASSERT(p2 > 0);
	CU_ASSERT_EQUAL(ev(D2, SIMHV_EVTCHN_CLOSE, 0, (uint32_t)p2, NULL), 0);
	close(fd0);
	close(fd1);
	close(fd2);
	teardown();
}

/*
 * Reviewer's d15: a client reopens its (read-only) event channel table
 * read-write through /proc/self/fd and forges an entry, to reach another
 * domain's port or make the daemon index out of bounds.  The table is
 * sealed, and the daemon never reads it back anyway.
 */
static void test_evtchn_table_forge(void)
{
	struct simhv_req rq = { .op = SIMHV_HELLO };
	struct simhv_port_shared *evt;
	char path[64];
	struct rsp r;
	int fd1, fd0, q, rw, p1, p0;
	void *w;

	setup();
	p1 = ev(D1, SIMHV_EVTCHN_ALLOC_UNBOUND, 0, 0, &fd1);
	p0 = ev(D0, SIMHV_EVTCHN_BIND_INTERDOMAIN, 1, (uint32_t)p1, &fd0);
	CU_ASSERT_FATAL(p1 > 0 && p0 > 0);
	{
		uint64_t v;

		CU_ASSERT_EQUAL(read(fd0, &v, 8), 8); /* the bind's own event */
	}
	CU_ASSERT_EQUAL_FATAL(do_req(D2, &rq, NULL, 0, &r), 0);
	CU_ASSERT_EQUAL_FATAL(r.nfds, 3);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", r.fds[2]);
	rw = open(path, O_RDWR | O_CLOEXEC);
	CU_ASSERT_FATAL(rw >= 0);
	q = ev(D2, SIMHV_EVTCHN_ALLOC_UNBOUND, 2, 0, NULL);
	CU_ASSERT_FATAL(q > 0);
	/* Sealed: no writable mapping, no write(). */
	w = mmap(NULL, SIMHV_NR_PORTS * sizeof(*evt), PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
	CU_ASSERT(w == MAP_FAILED);
	{
		struct simhv_port_shared e = { .state = SIMHV_PORT_INTERDOMAIN,
					       .remote_dom = 0,
					       .remote_port = (uint32_t)p0 };

		CU_ASSERT(pwrite(rw, &e, sizeof(e), (off_t)q * sizeof(e)) < 0);
	}
	if (w != MAP_FAILED) {
		/* Unsealed (the bug): forge (dom0, p0), then an index far out of range. */
		evt = w;
		evt[q].state = SIMHV_PORT_INTERDOMAIN;
		evt[q].remote_dom = 0;
		evt[q].remote_port = (uint32_t)p0;
	}
	/* Whatever the table says, our port is unbound: no peer, no event to dom0. */
	{
		struct simhv_req peer = { .op = SIMHV_EVTCHN_PEER, .port = (uint32_t)q };

		CU_ASSERT_EQUAL(do_req(D2, &peer, NULL, 0, &r), 0);
		CU_ASSERT_EQUAL(r.nfds, 0);
		close_fds(&r);
		if (w != MAP_FAILED)
			evt[q].remote_port = 0x7fffffff;
		CU_ASSERT_EQUAL(do_req(D2, &peer, NULL, 0, &r), 0);
		close_fds(&r);
	}
	{
		uint64_t v;

		CU_ASSERT(read(fd0, &v, 8) < 0); /* dom0's port saw nothing */
	}
	if (w != MAP_FAILED)
		munmap(w, SIMHV_NR_PORTS * sizeof(*evt));
	close(rw);
	close(fd0);
	close(fd1);
	teardown();
}

/* Xen's alloc_unbound records the remote domain without looking it up. */
static void test_evtchn_alloc_unbound(void)
{
	struct simhv_stats st;
	int fd, p, lp, q;
	uint64_t v;

	setup();
	/* A domain that does not exist (yet): fine. */
	p = ev(D1, SIMHV_EVTCHN_ALLOC_UNBOUND, 99, 0, NULL);
	CU_ASSERT(p > 0);
	/* Once it exists it can bind. */
	CU_ASSERT_FATAL(hvd_domain_create(H, 99, 1) == 0);
	{
		struct hvd_client *d99;

		CU_ASSERT_FATAL(hvd_client_new(H, 99, &d99) == 0);
		q = ev(d99, SIMHV_EVTCHN_BIND_INTERDOMAIN, 1, (uint32_t)p, NULL);
		CU_ASSERT(q > 0);
		hvd_client_free(d99);
	}
	CU_ASSERT_EQUAL(hvd_domain_destroy(H, 99), 0);
	/* DOMID_SELF: our own domain, which can then bind it (loopback). */
	p = ev(D1, SIMHV_EVTCHN_ALLOC_UNBOUND, DOMID_SELF, 0, NULL);
	CU_ASSERT_FATAL(p > 0);
	lp = ev(D1, SIMHV_EVTCHN_BIND_INTERDOMAIN, DOMID_SELF, (uint32_t)p, &fd);
	CU_ASSERT_FATAL(lp > 0);
	CU_ASSERT_EQUAL(read(fd, &v, 8), 8);
	close(fd);
	/* Reserved ids other than DOMID_SELF are not domains. */
	CU_ASSERT_EQUAL(ev(D1, SIMHV_EVTCHN_ALLOC_UNBOUND, DOMID_SELF + 1, 0, NULL), -EINVAL);
	CU_ASSERT_EQUAL(ev(D1, SIMHV_EVTCHN_ALLOC_UNBOUND, 70000, 0, NULL), -EINVAL);
	stats(&st);
	CU_ASSERT_EQUAL(st.ports_bound, 2);
	teardown();
}

/* ports_bound counts ports in the interdomain state: back to 0 once both ends close. */
static void test_evtchn_stats(void)
{
	struct simhv_stats st;
	int p1, p0;

	setup();
	p1 = ev(D1, SIMHV_EVTCHN_ALLOC_UNBOUND, 0, 0, NULL);
	p0 = ev(D0, SIMHV_EVTCHN_BIND_INTERDOMAIN, 1, (uint32_t)p1, NULL);
	CU_ASSERT_FATAL(p1 > 0 && p0 > 0);
	stats(&st);
	CU_ASSERT_EQUAL(st.ports_bound, 2);
	CU_ASSERT_EQUAL(ev(D0, SIMHV_EVTCHN_CLOSE, 0, (uint32_t)p0, NULL), 0);
	stats(&st);
	CU_ASSERT_EQUAL(st.ports_bound, 0);
	CU_ASSERT_EQUAL(ev(D1, SIMHV_EVTCHN_CLOSE, 0, (uint32_t)p1, NULL), 0);
	stats(&st);
	CU_ASSERT_EQUAL(st.ports_bound, 0);
	/* Rebinding after one end died, then a client death: still exact. */
	p1 = ev(D1, SIMHV_EVTCHN_ALLOC_UNBOUND, 0, 0, NULL);
	p0 = ev(D0, SIMHV_EVTCHN_BIND_INTERDOMAIN, 1, (uint32_t)p1, NULL);
	hvd_client_free(D0);
	CU_ASSERT_FATAL(hvd_client_new(H, 0, &D0) == 0);
	p0 = ev(D0, SIMHV_EVTCHN_BIND_INTERDOMAIN, 1, (uint32_t)p1, NULL);
	CU_ASSERT(p0 > 0);
	hvd_client_free(D1);
	D1 = NULL;
	stats(&st);
	CU_ASSERT_EQUAL(st.ports_bound, 0);
	teardown();
}

/* A guest has ports 1..1023 (libxl's default), dom0 the whole table. */
static void test_evtchn_port_limit(void)
{
	int n = 0, p, last = 0;

	setup();
	while ((p = ev(D1, SIMHV_EVTCHN_ALLOC_UNBOUND, 0, 0, NULL)) > 0) {
		last = p;
		n++;
	}
	CU_ASSERT_EQUAL(p, -ENOSPC);
	CU_ASSERT_EQUAL(n, (int)HVD_DOMU_MAX_PORT);
	CU_ASSERT_EQUAL(last, (int)HVD_DOMU_MAX_PORT);
	for (int i = 0; i < (int)HVD_DOMU_MAX_PORT + 10; i++)
		CU_ASSERT_FATAL(ev(D0, SIMHV_EVTCHN_ALLOC_UNBOUND, 1, 0, NULL) > 0);
	teardown();
}

/* An unprivileged domain has at most HVD_MAX_CLIENTS_PER_DOMAIN connections. */
static void test_client_limit(void)
{
	struct hvd_client *c[HVD_MAX_CLIENTS_PER_DOMAIN + 1], *x;
	uint32_t n = 0;

	setup();
	/* D1 is one already. */
	while (n < HVD_MAX_CLIENTS_PER_DOMAIN && hvd_client_new(H, 1, &c[n]) == 0)
		n++;
	CU_ASSERT_EQUAL(n, HVD_MAX_CLIENTS_PER_DOMAIN - 1);
	CU_ASSERT_EQUAL(hvd_client_new(H, 1, &x), -EUSERS);
	hvd_client_free(c[0]);
	CU_ASSERT_EQUAL(hvd_client_new(H, 1, &c[0]), 0);
	for (uint32_t i = 0; i < n; i++)
		hvd_client_free(c[i]);
	/* dom0 is not limited. */
	for (uint32_t i = 0; i <= HVD_MAX_CLIENTS_PER_DOMAIN; i++)
		CU_ASSERT_FATAL(hvd_client_new(H, 0, &c[i]) == 0);
	for (uint32_t i = 0; i <= HVD_MAX_CLIENTS_PER_DOMAIN; i++)
		hvd_client_free(c[i]);
	teardown();
}

/* The same ref twice in one UNSHARE: refused whole, the counters stay right. */
static void test_unshare_duplicates(void)
{
	struct simhv_stats st;
	uint32_t refs[2], dup[3];

	setup();
	CU_ASSERT_EQUAL(share(D1, 0, 2, false, refs, NULL), 0);
	stats(&st);
	CU_ASSERT_EQUAL(st.grant_shares, 2);
	dup[0] = refs[0];
	dup[1] = refs[1];
	dup[2] = refs[0];
	CU_ASSERT_EQUAL(unshare(D1, 3, dup), -EINVAL);
	stats(&st);
	CU_ASSERT_EQUAL(st.grant_shares, 2);
	CU_ASSERT_EQUAL(map(D0, 1, 2, refs, false), 0); /* both still granted */
	CU_ASSERT_EQUAL(unmap(D0, 1, 2, refs, false), 0);
	CU_ASSERT_EQUAL(unshare(D1, 2, refs), 0);
	stats(&st);
	CU_ASSERT_EQUAL(st.grant_shares, 0);
	teardown();
}

/* A copy reaches the memory the client handed over with HELLO, and only that. */
static void test_copy_memory_fd(void)
{
	struct simhv_req rq = { .op = SIMHV_GNT_COPY, .count = 1 };
	struct simhv_req hello = { .op = SIMHV_HELLO };
	struct simhv_copy_seg seg;
	struct hvd_client *anon;
	uint32_t ref;
	int16_t st;
	struct rsp r;
	char buf[16] = "untouched";
	int pfd[2];

	setup();
	CU_ASSERT_EQUAL(share(D1, 0, 1, false, &ref, NULL), 0);
	memset(&seg, 0, sizeof(seg));
	seg = (struct simhv_copy_seg){
		.local = (uintptr_t)buf, .domid = 1, .ref = ref, .len = 8, .to_guest = 0
	};
	/* A client that never said HELLO with its memory cannot copy. */
	CU_ASSERT_FATAL(hvd_client_new(H, 0, &anon) == 0);
	CU_ASSERT_EQUAL(do_req(anon, &rq, &seg, sizeof(seg), &r), 0);
	memcpy(&st, r.data, 2);
	CU_ASSERT_EQUAL(st, -EFAULT);
	CU_ASSERT_STRING_EQUAL(buf, "untouched");
	/* Only a /proc/PID/mem is taken as memory. */
	CU_ASSERT_FATAL(pipe(pfd) == 0);
	CU_ASSERT_EQUAL(do_req_fd(anon, &hello, NULL, 0, pfd[0], &r), -EINVAL);
	close(pfd[1]);
	/* A descriptor sent along with any other request is closed, not kept. */
	{
		int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);

		CU_ASSERT_EQUAL(do_req_fd(anon, &rq, &seg, sizeof(seg), fd, &r), 0);
		memcpy(&st, r.data, 2);
		CU_ASSERT_EQUAL(st, -EFAULT);
		CU_ASSERT(fcntl(fd, F_GETFD) < 0);
	}
	hvd_client_free(anon);
	/* The memory of a process that is gone: nothing is copied, into anybody. */
	{
		pid_t child = fork();
		char path[64];
		int fd, status;

		if (child == 0) {
			pause();
			_exit(0);
		}
		snprintf(path, sizeof(path), "/proc/%d/mem", (int)child);
		fd = open(path, O_RDWR | O_CLOEXEC);
		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT_FATAL(hvd_client_new(H, 0, &anon) == 0);
		CU_ASSERT_EQUAL(do_req_fd(anon, &hello, NULL, 0, fd, &r), 0);
		close_fds(&r);
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
		CU_ASSERT_EQUAL(do_req(anon, &rq, &seg, sizeof(seg), &r), 0);
		memcpy(&st, r.data, 2);
		CU_ASSERT_EQUAL(st, -EFAULT);
		CU_ASSERT_STRING_EQUAL(buf, "untouched");
		hvd_client_free(anon);
	}
	/* D0 handed over its memory: the copy lands. */
	CU_ASSERT_EQUAL(do_req(D0, &rq, &seg, sizeof(seg), &r), 0);
	memcpy(&st, r.data, 2);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_EQUAL(buf[0], 0); /* the shared page is zeroed */
	teardown();
}

/* A client left over after its domain was destroyed gets -ESRCH, never a crash. */
static void test_client_of_dead_domain(void)
{
	uint32_t ref;

	setup();
	CU_ASSERT_EQUAL(share(D1, 0, 1, false, &ref, NULL), 0);
	CU_ASSERT_EQUAL(hvd_domain_destroy(H, 1), 0);
	CU_ASSERT_EQUAL(ev(D1, SIMHV_EVTCHN_ALLOC_UNBOUND, 0, 0, NULL), -ESRCH);
	CU_ASSERT_EQUAL(share(D1, 0, 1, false, &ref, NULL), -ESRCH);
	CU_ASSERT_EQUAL(map(D0, 1, 1, &ref, false), -ESRCH);
	/* A new domain 1 is not the old one's. */
	CU_ASSERT_FATAL(hvd_domain_create(H, 1, 1) == 0);
	CU_ASSERT_EQUAL(ev(D1, SIMHV_EVTCHN_ALLOC_UNBOUND, 0, 0, NULL), -ESRCH);
	{
		struct simhv_stats st;

		stats(&st);
		CU_ASSERT_EQUAL(st.grant_shares, 0);
	}
	teardown();
}

/* Creating a domain that does not fit in the address space fails cleanly. */
static void test_domain_create_failure(void)
{
	pid_t child = fork();
	int status;

	CU_ASSERT_FATAL(child >= 0);
	if (child == 0) {
		struct rlimit rl = { .rlim_cur = 512u << 20, .rlim_max = 512u << 20 };
		struct hvd *h;
		int before = 0, after = 0;

		if (hvd_new(&h, NULL))
			_exit(2);
		for (int fd = 0; fd < 1024; fd++)
			before += fcntl(fd, F_GETFD) >= 0;
		setrlimit(RLIMIT_AS, &rl);
		if (hvd_domain_create(h, 5, 4096) != -ENOMEM)
			_exit(3);
		for (int fd = 0; fd < 1024; fd++)
			after += fcntl(fd, F_GETFD) >= 0;
		if (after != before || hvd_domain_exists(h, 5))
			_exit(4);
		if (hvd_domain_create(h, 5, 16))
			_exit(5);
		hvd_free(h);
		_exit(0);
	}
	waitpid(child, &status, 0);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("hvd", NULL, NULL);
	CU_add_test(s, "grant map checks and end of access", test_map_checks);
	CU_add_test(s, "hostile grant table writes", test_hostile_guest_table);
	CU_add_test(s, "grant copy", test_copy);
	CU_add_test(s, "client death drops pins and shares", test_client_death);
	CU_add_test(s, "event channels", test_evtchn);
	CU_add_test(s, "forged event channel table (sealed, never read back)",
		    test_evtchn_table_forge);
	CU_add_test(s, "alloc_unbound: remote not looked up, DOMID_SELF",
		    test_evtchn_alloc_unbound);
	CU_add_test(s, "ports_bound statistic", test_evtchn_stats);
	CU_add_test(s, "ports per domain", test_evtchn_port_limit);
	CU_add_test(s, "clients per domain", test_client_limit);
	CU_add_test(s, "duplicate refs in one unshare", test_unshare_duplicates);
	CU_add_test(s, "grant copy through the client's memory descriptor", test_copy_memory_fd);
	CU_add_test(s, "client of a destroyed domain", test_client_of_dead_domain);
	CU_add_test(s, "domain create out of address space", test_domain_create_failure);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
