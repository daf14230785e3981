// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The "sim" provider: a client of pvsplit-simhv (hypercalls/sim/).
 *
 * Hypercalls are requests on DIR/domN/hv.sock.  Data paths stay in process:
 * granted frames are mmap()ed from the granting domain's memory file, and
 * an event channel notification is a write to the peer port's eventfd after
 * a check of our domain's (read-only, shared) port table.  Grant copies are
 * done by the daemon, through the /proc/self/mem descriptor this process
 * hands over with HELLO (sim/proto.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <xenstore.h>
#include <xen/xen.h>
#include <xen/grant_table.h>

#include "hv_private.h"
#include "pvsplit/hv-sim.h"
#include "sim/proto.h"

#define PAGE PVHV_PAGE_SIZE

enum range_kind { R_GRANT, R_SHARE, R_FOREIGN };

struct range {
	struct range *next;
	enum range_kind kind;
	void *addr;
	uint32_t count;
	uint32_t domid;
	unsigned flags;
	uint32_t refs[]; /* R_GRANT, R_SHARE */
};

/* One SEQPACKET connection to the daemon. */
struct conn {
	int fd;
	char *buf; /* SIMHV_MSG_MAX */
};

struct sim {
	struct conn c;
	char dir[108];
	pid_t pid; /* the process that opened it: copies reach its memory only */
	uint32_t domid;
	bool priv;
	uint32_t nr_frames;
	int mem_fd;
	uint8_t *mem;
	grant_entry_v1_t *gnt;
	uint32_t nr_grants;
	const struct simhv_port_shared *evt;
	struct range *ranges;
	bool fail_unmask_op; /* $PVSPLIT_SIM_FAULTS has "unmask-op" */
	bool stall_unmap;    /* ... "unmap-stall" */
};

struct sim_port {
	int efd;     /* ours: readable when notified */
	int peer_fd; /* the peer port's eventfd, -1 until known */
	uint32_t peer_gen;
	bool bound;
};

struct sim_ev {
	struct conn c;
	int epfd;
	bool fail_unmask_op;
	struct sim_port *ports; /* SIMHV_NR_PORTS */
};

static struct sim *S(struct pvhv *hv)
{
	return hv->priv;
}

/* ---- transport ---- */

static int conn_open(struct conn *c, const char *dir, uint32_t domid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/dom%u/hv.sock", dir, domid) >=
	    (int)sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	c->buf = malloc(SIMHV_MSG_MAX);
	if (!c->buf)
		return -ENOMEM;
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int r = -errno;

		if (c->fd >= 0)
			close(c->fd);
		free(c->buf);
		c->buf = NULL;
		c->fd = -1;
		return r;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

/*
 * One request/response (never more than one outstanding: proto.h).
 * arg/alen: the request's array; send_fd: a descriptor to pass with it, or
 * -1.  On return *payload points at the response array (in c->buf) and
 * fds[] holds up to 4 received descriptors (the caller owns them).  Returns
 * the response's ret.
 */
static int rpc_fd(struct conn *c, const struct simhv_req *rq, const void *arg, size_t alen,
		  int send_fd, const void **payload, size_t *plen, int fds[4], int *nfds,
		  uint32_t *gen)
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov[2] = { { (void *)rq, sizeof(*rq) }, { (void *)arg, alen } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = alen ? 2 : 1 };
	struct simhv_rsp rs;
	ssize_t n;
	int got = 0;

	if (nfds)
		*nfds = 0;
	if (send_fd >= 0) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &send_fd, sizeof(int));
	}
	do
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	iov[0].iov_base = c->buf;
	iov[0].iov_len = SIMHV_MSG_MAX;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	do
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET; /* the hypervisor went away */
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int tmp[4];

			if (k > 4)
				k = 4;
			memcpy(tmp, CMSG_DATA(cm), (size_t)k * sizeof(int));
			for (int i = 0; i < k; i++) {
				if (fds && got < 4)
					fds[got++] = tmp[i];
				else
					close(tmp[i]);
			}
		}
	}
	if (nfds)
		*nfds = got;
	if ((size_t)n < sizeof(rs)) {
		for (int i = 0; i < got; i++)
			close(fds[i]);
		if (nfds)
			*nfds = 0;
		return -EPROTO;
	}
	memcpy(&rs, c->buf, sizeof(rs));
	if (payload)
		*payload = c->buf + sizeof(rs);
	if (plen)
		*plen = (size_t)n - sizeof(rs);
	if (gen)
		*gen = rs.gen;
	return rs.ret;
}

static int rpc(struct conn *c, const struct simhv_req *rq, const void *arg, size_t alen,
	       const void **payload, size_t *plen, int fds[4], int *nfds, uint32_t *gen)
{
	return rpc_fd(c, rq, arg, alen, -1, payload, plen, fds, nfds, gen);
}

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* ---- open / close ---- */

/*
 * $PVSPLIT_SIM_FAULTS, a comma-separated list: faults a test asks the
 * emulation for, that a healthy host never shows.
 *   unmask-op    pvhv_evtchn_unmask_op() hands out an operation the kernel
 *                rejects (EINVAL), as one whose io_uring lacks the opcode.
 *   unmap-stall  the first pvhv_gnt_unmap() never returns (a process stuck
 *                mid-request, for the test to kill): it creates the file
 *                unmap-stalled in the sim directory, then sleeps for good.
 */
static bool has_fault(const char *name)
{
	const char *f = getenv("PVSPLIT_SIM_FAULTS");
	size_t n = strlen(name);

	while (f && *f) {
		if (!strncmp(f, name, n) && (f[n] == ',' || !f[n]))
			return true;
		f = strchr(f, ',');
		if (f)
			f++;
	}
	return false;
}

static int sim_open(struct pvhv *hv, const struct pvhv_open_args *a)
{
	const char *dir = a->sim_dir ? a->sim_dir : getenv("PVSPLIT_SIM_DIR");
	int domid = a->domid;
	struct simhv_req rq = { .op = SIMHV_HELLO };
	struct simhv_hello hello;
	const void *pl;
	size_t plen;
	int fds[4], nfds = 0, r, self_mem;
	struct sim *s;

	if (!dir)
		return -ENOENT;
	if (domid < 0) {
		const char *e = getenv("PVSPLIT_DOMID");

		domid = e ? atoi(e) : 0;
	}
	if (domid < 0 || domid >= (int)DOMID_FIRST_RESERVED)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->c.fd = s->mem_fd = -1;
	s->pid = getpid();
	s->fail_unmask_op = has_fault("unmask-op");
	s->stall_unmap = has_fault("unmap-stall");
	if (snprintf(s->dir, sizeof(s->dir), "%s", dir) >= (int)sizeof(s->dir)) {
		free(s);
		return -ENAMETOOLONG;
	}
	r = conn_open(&s->c, dir, (uint32_t)domid);
	if (r)
		goto fail;
	/* Our memory, for grant copies: the daemon reaches this process and no other. */
	self_mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	r = rpc_fd(&s->c, &rq, NULL, 0, self_mem, &pl, &plen, fds, &nfds, NULL);
	if (self_mem >= 0)
		close(self_mem);
	if (r >= 0 && (plen < sizeof(hello) || nfds != 3))
		r = -EPROTO;
	if (r < 0)
		goto fail;
	memcpy(&hello, pl, sizeof(hello));
	if (hello.version != SIMHV_PROTO_VERSION) {
		r = -EPROTO;
		goto fail;
	}
	s->domid = hello.domid;
	s->priv = hello.privileged;
	s->nr_frames = hello.nr_frames;
	s->nr_grants = hello.nr_grants;
	s->mem_fd = fds[0];
	s->mem = mmap(NULL, (size_t)s->nr_frames * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0],
		      0);
	s->gnt = mmap(NULL, s->nr_grants * sizeof(*s->gnt), PROT_READ | PROT_WRITE, MAP_SHARED,
		      fds[1], 0);
	s->evt = mmap(NULL, SIMHV_NR_PORTS * sizeof(*s->evt), PROT_READ, MAP_SHARED, fds[2], 0);
	close(fds[1]);
	close(fds[2]);
	nfds = 0;
	if (s->mem == MAP_FAILED || s->gnt == MAP_FAILED || s->evt == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	hv->priv = s;
	hv->domid = (int)s->domid;
	return 0;
fail:
	close_fds(fds, nfds);
	if (s->mem && s->mem != MAP_FAILED)
		munmap(s->mem, (size_t)s->nr_frames * PAGE);
	if (s->gnt && s->gnt != MAP_FAILED)
		munmap(s->gnt, s->nr_grants * sizeof(*s->gnt));
	if (s->evt && s->evt != MAP_FAILED)
		munmap((void *)s->evt, SIMHV_NR_PORTS * sizeof(*s->evt));
	if (s->mem_fd >= 0)
		close(s->mem_fd);
	conn_close(&s->c);
	free(s);
	return r;
}

static void sim_close(struct pvhv *hv)
{
	struct sim *s = S(hv);

	while (s->ranges) {
		struct range *r = s->ranges;

		s->ranges = r->next;
		munmap(r->addr, (size_t)r->count * PAGE);
		free(r);
	}
	/* Closing the connection drops our pins and shares in the daemon. */
	conn_close(&s->c);
	munmap(s->mem, (size_t)s->nr_frames * PAGE);
	munmap(s->gnt, s->nr_grants * sizeof(*s->gnt));
	munmap((void *)s->evt, SIMHV_NR_PORTS * sizeof(*s->evt));
	close(s->mem_fd);
	free(s);
}

static int sim_domid(struct pvhv *hv)
{
	return (int)S(hv)->domid;
}

/* ---- mapping helpers ---- */

/* Map frames[] of fd into one fresh range, coalescing runs of frames. */
static int map_frames(int fd, const uint64_t *frames, uint32_t count, int prot, void **addr)
{
	uint8_t *base =
		mmap(NULL, (size_t)count * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (base == MAP_FAILED)
		return -errno;
	for (uint32_t i = 0; i < count;) {
		uint32_t run = 1;

		while (i + run < count && frames[i + run] == frames[i] + run)
			run++;
		if (mmap(base + (size_t)i * PAGE, (size_t)run * PAGE, prot, MAP_SHARED | MAP_FIXED,
			 fd, (off_t)(frames[i] * PAGE)) == MAP_FAILED) {
			int r = -errno;

			munmap(base, (size_t)count * PAGE);
			return r;
		}
		i += run;
	}
	*addr = base;
	return 0;
}

static struct range *range_new(struct sim *s, enum range_kind kind, void *addr, uint32_t count,
			       uint32_t domid, unsigned flags, const uint32_t *refs)
{
	struct range *r = malloc(sizeof(*r) + (refs ? count * sizeof(uint32_t) : 0));

	if (!r)
		return NULL;
	r->kind = kind;
	r->addr = addr;
	r->count = count;
	r->domid = domid;
	r->flags = flags;
	if (refs)
		memcpy(r->refs, refs, count * sizeof(uint32_t));
	r->next = s->ranges;
	s->ranges = r;
	return r;
}

static struct range **range_find(struct sim *s, enum range_kind kind, void *addr, uint32_t count)
{
	for (struct range **pp = &s->ranges; *pp; pp = &(*pp)->next)
		if ((*pp)->kind == kind && (*pp)->addr == addr && (*pp)->count == count)
			return pp;
	return NULL;
}

/* ---- grants ---- */

static int sim_gnt_map(struct pvhv *hv, uint32_t domid, uint32_t count, const uint32_t *refs,
		       unsigned flags, void **addr)
{
	struct sim *s = S(hv);
	struct simhv_req rq = { .op = SIMHV_GNT_MAP, .domid = domid, .count = count };
	uint64_t frames[PVHV_GNT_MAX_BATCH];
	const void *pl;
	size_t plen;
	int fds[4], nfds, r;

	if (flags & PVHV_GNT_RO)
		rq.flags = SIMHV_F_RO;
	r = rpc(&s->c, &rq, refs, count * sizeof(uint32_t), &pl, &plen, fds, &nfds, NULL);
	if (r >= 0 && (nfds != 1 || plen != count * sizeof(uint64_t)))
		r = -EPROTO;
	if (r < 0) {
		close_fds(fds, nfds);
		return r;
	}
	memcpy(frames, pl, count * sizeof(uint64_t));
	r = map_frames(fds[0], frames, count,
		       (flags & PVHV_GNT_RO) ? PROT_READ : PROT_READ | PROT_WRITE, addr);
	close(fds[0]);
	if (!r && !range_new(s, R_GRANT, *addr, count, domid, flags, refs)) {
		munmap(*addr, (size_t)count * PAGE);
		r = -ENOMEM;
	}
	if (r) {
		rq.op = SIMHV_GNT_UNMAP;
		rpc(&s->c, &rq, refs, count * sizeof(uint32_t), NULL, NULL, NULL, NULL, NULL);
	}
	return r;
}

static int sim_gnt_unmap(struct pvhv *hv, void *addr, uint32_t count)
{
	struct sim *s = S(hv);
	struct range **pp = range_find(s, R_GRANT, addr, count), *r;
	struct simhv_req rq = { .op = SIMHV_GNT_UNMAP, .count = count };
	int ret;

	if (!pp)
		return -EINVAL;
	if (s->stall_unmap) {
		char path[sizeof(s->dir) + 16];

		snprintf(path, sizeof(path), "%s/unmap-stalled", s->dir);
		close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
		for (;;)
			pause();
	}
	r = *pp;
	*pp = r->next;
	/* Unmap before dropping the pin: the guest may reuse the page after. */
	munmap(r->addr, (size_t)count * PAGE);
	rq.domid = r->domid;
	rq.flags = (r->flags & PVHV_GNT_RO) ? SIMHV_F_RO : 0;
	ret = rpc(&s->c, &rq, r->refs, count * sizeof(uint32_t), NULL, NULL, NULL, NULL, NULL);
	free(r);
	return ret < 0 ? ret : 0;
}

static int sim_gnt_copy(struct pvhv *hv, struct pvhv_gnt_copy_seg *segs, uint32_t count)
{
	struct sim *s = S(hv);
	struct simhv_req rq = { .op = SIMHV_GNT_COPY };
	struct simhv_copy_seg w[PVHV_GNT_MAX_BATCH];
	uint32_t idx[PVHV_GNT_MAX_BATCH];
	const void *pl;
	size_t plen;
	int r;

	/*
	 * The daemon copies through the memory of the process that opened the
	 * handle: in a child forked since, it would reach the parent's.
	 */
	if (getpid() != s->pid)
		return -EBADF;
	/* Segments the core refused already carry their status. */
	for (uint32_t i = 0; i < count; i++) {
		struct simhv_copy_seg *x = &w[rq.count];

		if (segs[i].status)
			continue;
		memset(x, 0, sizeof(*x));
		x->local = (uintptr_t)segs[i].local;
		x->domid = segs[i].domid;
		x->ref = segs[i].ref;
		x->offset = segs[i].offset;
		x->len = segs[i].len;
		x->to_guest = segs[i].to_guest;
		idx[rq.count++] = i;
	}
	if (!rq.count)
		return 0;
	r = rpc(&s->c, &rq, w, rq.count * sizeof(w[0]), &pl, &plen, NULL, NULL, NULL);
	if (r < 0)
		return r;
	if (plen != rq.count * sizeof(int16_t))
		return -EPROTO;
	for (uint32_t k = 0; k < rq.count; k++) {
		int16_t st;

		memcpy(&st, (const char *)pl + k * sizeof(st), sizeof(st));
		segs[idx[k]].status = st;
	}
	return 0;
}

static int sim_gnt_share(struct pvhv *hv, uint32_t domid, uint32_t count, unsigned flags,
			 uint32_t *refs, void **addr)
{
	struct sim *s = S(hv);
	struct simhv_req rq = { .op = SIMHV_GNT_SHARE, .domid = domid, .count = count };
	uint64_t frames[PVHV_GNT_MAX_BATCH];
	const void *pl;
	size_t plen;
	int r;

	if (flags & PVHV_GNT_RO)
		rq.flags = SIMHV_F_RO;
	r = rpc(&s->c, &rq, NULL, 0, &pl, &plen, NULL, NULL, NULL);
	if (r < 0)
		return r;
	if (plen != count * (sizeof(uint32_t) + sizeof(uint64_t)))
		return -EPROTO;
	memcpy(refs, pl, count * sizeof(uint32_t));
	memcpy(frames, (const char *)pl + count * sizeof(uint32_t), count * sizeof(uint64_t));
	r = map_frames(s->mem_fd, frames, count, PROT_READ | PROT_WRITE, addr);
	if (!r && !range_new(s, R_SHARE, *addr, count, domid, flags, refs)) {
		munmap(*addr, (size_t)count * PAGE);
		r = -ENOMEM;
	}
	if (r) {
		rq.op = SIMHV_GNT_UNSHARE;
		rpc(&s->c, &rq, refs, count * sizeof(uint32_t), NULL, NULL, NULL, NULL, NULL);
	}
	return r;
}

static int sim_gnt_unshare(struct pvhv *hv, void *addr, uint32_t count)
{
	struct sim *s = S(hv);
	struct range **pp = range_find(s, R_SHARE, addr, count), *r;
	struct simhv_req rq = { .op = SIMHV_GNT_UNSHARE, .count = count };
	int ret;

	if (!pp)
		return -EINVAL;
	r = *pp;
	ret = rpc(&s->c, &rq, r->refs, count * sizeof(uint32_t), NULL, NULL, NULL, NULL, NULL);
	if (ret < 0)
		return ret; /* -EBUSY: the peer still maps it; nothing changed */
	*pp = r->next;
	munmap(r->addr, (size_t)count * PAGE);
	free(r);
	return 0;
}

/* ---- foreign memory ---- */

static int sim_foreign_map(struct pvhv *hv, uint32_t domid, int prot, const uint64_t *frames,
			   uint32_t count, void **addr)
{
	struct sim *s = S(hv);
	struct simhv_req rq = { .op = SIMHV_FOREIGN_MAP, .domid = domid, .count = count };
	int fds[4], nfds, r;

	if (!(prot & PROT_WRITE))
		rq.flags = SIMHV_F_RO;
	r = rpc(&s->c, &rq, frames, count * sizeof(uint64_t), NULL, NULL, fds, &nfds, NULL);
	if (r >= 0 && nfds != 1)
		r = -EPROTO;
	if (r < 0) {
		close_fds(fds, nfds);
		return r;
	}
	r = map_frames(fds[0], frames, count, prot, addr);
	close(fds[0]);
	if (!r && !range_new(s, R_FOREIGN, *addr, count, domid, 0, NULL)) {
		munmap(*addr, (size_t)count * PAGE);
		r = -ENOMEM;
	}
	return r;
}

static int sim_foreign_unmap(struct pvhv *hv, void *addr, uint32_t count)
{
	struct sim *s = S(hv);
	struct range **pp = range_find(s, R_FOREIGN, addr, count), *r;

	if (!pp)
		return -EINVAL;
	r = *pp;
	*pp = r->next;
	munmap(r->addr, (size_t)count * PAGE);
	free(r);
	return 0;
}

/* ---- event channels ---- */

static struct sim_ev *E(struct pvhv_evtchn *ev)
{
	return ev->priv;
}

static int sim_evtchn_open(struct pvhv_evtchn *ev)
{
	struct sim *s = S(ev->hv);
	struct sim_ev *e = calloc(1, sizeof(*e));
	int r;

	if (!e)
		return -ENOMEM;
	e->ports = calloc(SIMHV_NR_PORTS, sizeof(*e->ports));
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!e->ports || e->epfd < 0) {
		r = e->ports ? -errno : -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < SIMHV_NR_PORTS; i++)
		e->ports[i].efd = e->ports[i].peer_fd = -1;
	r = conn_open(&e->c, s->dir, s->domid);
	if (r)
		goto fail;
	e->fail_unmask_op = s->fail_unmask_op;
	ev->priv = e;
	return 0;
fail:
	if (e->epfd >= 0)
		close(e->epfd);
	free(e->ports);
	free(e);
	return r;
}

static void port_forget(struct sim_ev *e, uint32_t port)
{
	struct sim_port *p = &e->ports[port];

	if (p->efd >= 0) {
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, p->efd, NULL);
		close(p->efd);
	}
	if (p->peer_fd >= 0)
		close(p->peer_fd);
	p->efd = p->peer_fd = -1;
	p->bound = false;
}

static void sim_evtchn_close(struct pvhv_evtchn *ev)
{
	struct sim_ev *e = E(ev);

	/* Closing the connection closes our ports in the daemon. */
	conn_close(&e->c);
	for (uint32_t i = 0; i < SIMHV_NR_PORTS; i++)
		if (e->ports[i].bound)
			port_forget(e, i);
	close(e->epfd);
	free(e->ports);
	free(e);
}

static int sim_evtchn_fd(struct pvhv_evtchn *ev)
{
	return E(ev)->epfd;
}

static int port_adopt(struct sim_ev *e, int port, int fd)
{
	struct epoll_event ee = { .events = EPOLLIN | EPOLLONESHOT, .data.u32 = (uint32_t)port };
	struct sim_port *p = &e->ports[port];

	p->efd = fd;
	p->peer_fd = -1;
	p->peer_gen = 0;
	p->bound = true;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ee))
		return -errno;
	return port;
}

static int ev_get_port(struct sim_ev *e, struct simhv_req *rq)
{
	int fds[4], nfds, port, r = rpc(&e->c, rq, NULL, 0, NULL, NULL, fds, &nfds, NULL);

	if (r >= 0 && (nfds != 1 || r == 0 || r >= SIMHV_NR_PORTS))
		r = -EPROTO;
	if (r < 0) {
		close_fds(fds, nfds);
		return r;
	}
	port = r;
	r = port_adopt(e, port, fds[0]);
	if (r < 0) {
		struct simhv_req cl = { .op = SIMHV_EVTCHN_CLOSE, .port = (uint32_t)port };

		port_forget(e, (uint32_t)port);
		rpc(&e->c, &cl, NULL, 0, NULL, NULL, NULL, NULL, NULL);
	}
	return r;
}

static int sim_evtchn_bind_interdomain(struct pvhv_evtchn *ev, uint32_t domid, uint32_t port)
{
	struct simhv_req rq = { .op = SIMHV_EVTCHN_BIND_INTERDOMAIN, .domid = domid, .port = port };

	return ev_get_port(E(ev), &rq);
}

static int sim_evtchn_alloc_unbound(struct pvhv_evtchn *ev, uint32_t domid)
{
	struct simhv_req rq = { .op = SIMHV_EVTCHN_ALLOC_UNBOUND, .domid = domid };

	return ev_get_port(E(ev), &rq);
}

static int sim_evtchn_notify(struct pvhv_evtchn *ev, uint32_t port)
{
	struct sim_ev *e = E(ev);
	struct sim *s = S(ev->hv);
	const struct simhv_port_shared *sh;
	struct sim_port *p;
	uint64_t one = 1;
	uint32_t gen;

	if (port == 0 || port >= SIMHV_NR_PORTS || !e->ports[port].bound)
		return -ENOTCONN;
	p = &e->ports[port];
	sh = &s->evt[port];
	gen = __atomic_load_n(&sh->gen, __ATOMIC_ACQUIRE);
	if (__atomic_load_n(&sh->state, __ATOMIC_RELAXED) != SIMHV_PORT_INTERDOMAIN)
		return 0; /* the peer has gone: Xen drops the event */
	if (p->peer_fd < 0 || p->peer_gen != gen) {
		struct simhv_req rq = { .op = SIMHV_EVTCHN_PEER, .port = port };
		int fds[4], nfds, r;

		r = rpc(&e->c, &rq, NULL, 0, NULL, NULL, fds, &nfds, &gen);
		if (r <= 0) {
			close_fds(fds, nfds);
			return r;
		}
		if (nfds != 1) {
			close_fds(fds, nfds);
			return -EPROTO;
		}
		if (p->peer_fd >= 0)
			close(p->peer_fd);
		p->peer_fd = fds[0];
		p->peer_gen = gen;
	}
	if (write(p->peer_fd, &one, sizeof(one)) != sizeof(one))
		return -errno;
	return 0;
}

/*
 * Each port's eventfd is in epfd with EPOLLONESHOT: epoll_wait() hands a
 * port out once and disarms it, as Xen masks a port it delivers, until
 * sim_evtchn_unmask().  Only as many events are taken as the caller has
 * room for, so nothing is held here: a port not yet taken stays armed and
 * keeps epfd readable.
 */
static int sim_evtchn_pending(struct pvhv_evtchn *ev, uint32_t *ports, uint32_t max)
{
	struct sim_ev *e = E(ev);
	uint32_t n = 0;

	while (n < max) {
		struct epoll_event evs[64];
		int want = max - n > 64 ? 64 : (int)(max - n);
		int got = epoll_wait(e->epfd, evs, want, 0);

		if (got < 0 && errno != EINTR && !n)
			return -errno;
		if (got <= 0)
			break;
		for (int i = 0; i < got; i++) {
			uint32_t port = evs[i].data.u32;
			uint64_t cnt;
			ssize_t r;

			if (port == 0 || port >= SIMHV_NR_PORTS || !e->ports[port].bound)
				continue;
			/* Consume the count: this delivery covers every notification so far. */
			r = read(e->ports[port].efd, &cnt, sizeof(cnt));
			(void)r; /* a non-blocking eventfd: only EAGAIN, when already consumed */
			ports[n++] = port;
		}
		if (got < want)
			break;
	}
	return n ? (int)n : -EAGAIN;
}

static int sim_evtchn_unmask(struct pvhv_evtchn *ev, uint32_t port)
{
	struct sim_ev *e = E(ev);
	struct epoll_event ee = { .events = EPOLLIN | EPOLLONESHOT, .data.u32 = port };

	if (port == 0 || port >= SIMHV_NR_PORTS || !e->ports[port].bound)
		return -ENOTCONN;
	return epoll_ctl(e->epfd, EPOLL_CTL_MOD, e->ports[port].efd, &ee) ? -errno : 0;
}

/* sim_evtchn_unmask() as data: the same epoll_ctl. */
static int sim_evtchn_unmask_op(struct pvhv_evtchn *ev, uint32_t port,
				struct pvhv_evtchn_unmask_op *op)
{
	struct sim_ev *e = E(ev);

	if (port == 0 || port >= SIMHV_NR_PORTS || !e->ports[port].bound)
		return -ENOTCONN;
	op->kind = PVHV_UNMASK_EPOLL_CTL;
	op->fd = e->epfd;
	op->target = e->ports[port].efd;
	op->event = (struct epoll_event){ .events = EPOLLIN | EPOLLONESHOT, .data.u32 = port };
	/* The fault: EPOLL_CTL_MOD refuses EPOLLEXCLUSIVE with EINVAL. */
	if (e->fail_unmask_op)
		op->event.events |= EPOLLEXCLUSIVE;
	return 0;
}

static int sim_evtchn_unbind(struct pvhv_evtchn *ev, uint32_t port)
{
	struct sim_ev *e = E(ev);
	struct simhv_req rq = { .op = SIMHV_EVTCHN_CLOSE, .port = port };
	int r;

	if (port == 0 || port >= SIMHV_NR_PORTS || !e->ports[port].bound)
		return -ENOTCONN;
	r = rpc(&e->c, &rq, NULL, 0, NULL, NULL, NULL, NULL, NULL);
	port_forget(e, port);
	return r < 0 ? r : 0;
}

/* ---- xenstore ---- */

static int sim_xs_open(struct pvhv *hv, struct xs_handle **out)
{
	struct sim *s = S(hv);
	char path[160];
	struct xs_handle *xs;

	snprintf(path, sizeof(path), "%s/dom%u/xenstored.sock", s->dir, s->domid);
	/*
	 * libxenstore takes its socket from the environment: a sim process is
	 * one domain.  Process-wide, set here rather than at pvhv_open().
	 */
	if (setenv("XENSTORED_PATH", path, 1))
		return -errno;
	xs = xs_open(0);
	if (!xs)
		return errno ? -errno : -ECONNREFUSED;
	*out = xs;
	return 0;
}

/* ---- sim-only extras (pvsplit/hv-sim.h) ---- */

static bool is_sim(struct pvhv *hv)
{
	return hv && hv->ops == &pvhvi_sim_ops;
}

int pvhv_sim_domain_create(struct pvhv *hv, uint32_t domid, uint32_t mem_mib)
{
	struct simhv_req rq = { .op = SIMHV_DOMAIN_CREATE, .domid = domid, .arg = mem_mib };

	if (!is_sim(hv))
		return -EOPNOTSUPP;
	return rpc(&S(hv)->c, &rq, NULL, 0, NULL, NULL, NULL, NULL, NULL);
}

int pvhv_sim_domain_destroy(struct pvhv *hv, uint32_t domid)
{
	struct simhv_req rq = { .op = SIMHV_DOMAIN_DESTROY, .domid = domid };

	if (!is_sim(hv))
		return -EOPNOTSUPP;
	return rpc(&S(hv)->c, &rq, NULL, 0, NULL, NULL, NULL, NULL, NULL);
}

int pvhv_sim_stats(struct pvhv *hv, struct pvhv_sim_stats *st)
{
	struct simhv_req rq = { .op = SIMHV_STATS };
	struct simhv_stats ss;
	const void *pl;
	size_t plen;
	int r;

	if (!is_sim(hv))
		return -EOPNOTSUPP;
	r = rpc(&S(hv)->c, &rq, NULL, 0, &pl, &plen, NULL, NULL, NULL);
	if (r < 0)
		return r;
	if (plen != sizeof(ss))
		return -EPROTO;
	memcpy(&ss, pl, sizeof(ss));
	st->domains = ss.domains;
	st->clients = ss.clients;
	st->ports_bound = ss.ports_bound;
	st->grant_pins = ss.grant_pins;
	st->grant_shares = ss.grant_shares;
	st->maps = ss.maps;
	st->copies = ss.copies;
	st->copy_errors = ss.copy_errors;
	st->map_errors = ss.map_errors;
	return 0;
}

int pvhv_sim_grant_table(struct pvhv *hv, void **table, uint32_t *nr)
{
	if (!is_sim(hv))
		return -EOPNOTSUPP;
	*table = S(hv)->gnt;
	*nr = S(hv)->nr_grants;
	return 0;
}

const struct pvhv_ops pvhvi_sim_ops = {
	.name = "sim",
	.open = sim_open,
	.close = sim_close,
	.domid = sim_domid,
	.gnt_map = sim_gnt_map,
	.gnt_unmap = sim_gnt_unmap,
	.gnt_copy = sim_gnt_copy,
	.gnt_share = sim_gnt_share,
	.gnt_unshare = sim_gnt_unshare,
	.evtchn_open = sim_evtchn_open,
	.evtchn_close = sim_evtchn_close,
	.evtchn_fd = sim_evtchn_fd,
	.evtchn_bind_interdomain = sim_evtchn_bind_interdomain,
	.evtchn_alloc_unbound = sim_evtchn_alloc_unbound,
	.evtchn_notify = sim_evtchn_notify,
	.evtchn_pending = sim_evtchn_pending,
	.evtchn_unmask = sim_evtchn_unmask,
	.evtchn_unmask_op = sim_evtchn_unmask_op,
	.evtchn_unbind = sim_evtchn_unbind,
	.foreign_map = sim_foreign_map,
	.foreign_unmap = sim_foreign_unmap,
	.xs_open = sim_xs_open,
};
