// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the loopback hypervisor core (hvd): grant table checks and
 * pins, shares and end of access, grant copy, event channel state, client
 * death.  No daemon and no sockets: requests go straight into hvd_handle();
 * "clients" are objects in this process (grant copy targets our own pid).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <CUnit/Basic.h>
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

static int do_req(struct hvd_client *c, const struct simhv_req *rq, const void *arg, size_t alen,
		  struct rsp *out)
{
	char req[SIMHV_MSG_MAX], rsp[SIMHV_MSG_MAX];
	size_t rlen;

	memcpy(req, rq, sizeof(*rq));
	if (alen)
		memcpy(req + sizeof(*rq), arg, alen);
	CU_ASSERT_EQUAL_FATAL(
		hvd_handle(c, req, sizeof(*rq) + alen, rsp, &rlen, out->fds, &out->nfds), 0);
	memcpy(&out->r, rsp, sizeof(out->r));
	memcpy(out->data, rsp + sizeof(out->r), rlen - sizeof(out->r));
	return out->r.ret;
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
	CU_ASSERT_FATAL(hvd_client_new(H, 0, getpid(), &D0) == 0);
	CU_ASSERT_FATAL(hvd_client_new(H, 1, getpid(), &D1) == 0);
	CU_ASSERT_FATAL(hvd_client_new(H, 2, getpid(), &D2) == 0);
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
	CU_ASSERT_FATAL(hvd_client_new(H, 0, getpid(), &D0) == 0);
	stats(&st);
	CU_ASSERT_EQUAL(st.grant_pins, 0);
	CU_ASSERT_EQUAL(g[refs[0]].flags, GTF_permit_access);
	/* The frontend dies while mapped: shares end once unmapped. */
	CU_ASSERT_EQUAL(map(D0, 1, 1, refs + 1, false), 0);
	hvd_client_free(D1);
	CU_ASSERT_FATAL(hvd_client_new(H, 1, getpid(), &D1) == 0);
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
	CU_ASSERT_EQUAL(ev(D0, SIMHV_EVTCHN_ALLOC_UNBOUND, 99, 0, NULL), -ESRCH);
	p0 = ev(D0, SIMHV_EVTCHN_BIND_INTERDOMAIN, 1, (uint32_t)p1, &fd0);
	CU_ASSERT(p0 > 0);
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

		CU_ASSERT_FATAL(hvd_client_new(H, 0, getpid(), &other) == 0);
		CU_ASSERT_EQUAL(ev(other, SIMHV_EVTCHN_PEER, 0, (uint32_t)p0, NULL), -ENOTCONN);
		CU_ASSERT_EQUAL(ev(other, SIMHV_EVTCHN_CLOSE, 0, (uint32_t)p0, NULL), -ENOTCONN);
		hvd_client_free(other);
	}
	/* The backend closes (or dies): dom1's port is unbound and re-bindable. */
	hvd_client_free(D0);
	CU_ASSERT_FATAL(hvd_client_new(H, 0, getpid(), &D0) == 0);
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
	p2 = ev(D2, SIMHV_EVTCHN_ALLOC_UNBOUND, 1, 0, NULL);
	CU_ASSERT_EQUAL(p2, -ESRCH);
	close(fd0);
	close(fd1);
	close(fd2);
	teardown();
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
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
