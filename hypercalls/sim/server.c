// SPDX-License-Identifier: LGPL-2.1-or-later
/* pvsplit-simhv's event loop: sockets in, hvd and xsd behind. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <xen/xen.h>

#include "hvd.h"
#include "server.h"
#include "xenstore/xsd.h"

#define NDOMS DOMID_FIRST_RESERVED
/* Out of descriptors: stop accepting for this long, then try again. */
#define ACCEPT_PAUSE_MS 100

enum kind { K_SIGNAL, K_HV_LISTEN, K_XS_LISTEN, K_HV_CONN, K_XS_CONN };

struct ep_item {
	enum kind kind;
	int fd;
	uint32_t domid;
	bool dead; /* closed during this epoll batch; freed after it */
};

struct hv_conn {
	struct ep_item it;
	struct hv_conn *next, *prev;
	struct hvd_client *c;
};

struct xs_conn {
	struct ep_item it;
	struct xs_conn *next, *prev;
	struct xsd_conn *c;
	uint32_t events; /* what epoll watches for it now */
	bool pending;	 /* on the flush list */
	struct xs_conn *pnext;
};

struct sim_dom {
	struct ep_item hv, xs;
};

struct simhv_server {
	char *dir;
	uint32_t mem_mib;
	int ep;
	struct ep_item sig;
	struct hvd *hv;
	struct xsd *xs;
	struct sim_dom *doms[NDOMS];
	struct hv_conn *hv_conns;
	struct xs_conn *xs_conns;
	struct xs_conn *flush; /* connections with queued output */
	char *buf;	       /* SIMHV_MSG_MAX */
	char *rsp;	       /* SIMHV_MSG_MAX */
	void **zombies;	       /* items closed during the current batch */
	size_t nzombies, zcap;
	bool accept_paused; /* listeners unpolled until accept_resume_ms */
	uint64_t accept_resume_ms;
};

/* Free p after the current epoll batch (its events may still be in hand). */
static void defer_free(struct simhv_server *s, struct ep_item *it)
{
	it->dead = true;
	if (s->nzombies == s->zcap) {
		size_t cap = s->zcap ? s->zcap * 2 : 16;
		void **z = realloc(s->zombies, cap * sizeof(*z));

		if (!z) {
			/* Leak rather than risk a use after free. */
			return;
		}
		s->zombies = z;
		s->zcap = cap;
	}
	s->zombies[s->nzombies++] = it;
}

static void reap(struct simhv_server *s)
{
	for (size_t i = 0; i < s->nzombies; i++)
		free(s->zombies[i]);
	s->nzombies = 0;
}

static int ep_add(struct simhv_server *s, struct ep_item *it, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = it };

	return epoll_ctl(s->ep, EPOLL_CTL_ADD, it->fd, &ev) ? -errno : 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void listeners_poll(struct simhv_server *s, uint32_t events)
{
	for (uint32_t i = 0; i < NDOMS; i++) {
		struct sim_dom *d = s->doms[i];
		struct epoll_event ev = { .events = events };

		if (!d)
			continue;
		ev.data.ptr = &d->hv;
		epoll_ctl(s->ep, EPOLL_CTL_MOD, d->hv.fd, &ev);
		ev.data.ptr = &d->xs;
		epoll_ctl(s->ep, EPOLL_CTL_MOD, d->xs.fd, &ev);
	}
}

/*
 * accept() failed for want of descriptors: a pending connection would make
 * a level-triggered listener spin.  Stop polling every listener for a
 * while; the connections wait in the backlog meanwhile.
 */
static void accept_pause(struct simhv_server *s)
{
	if (s->accept_paused)
		return;
	listeners_poll(s, 0);
	s->accept_paused = true;
	s->accept_resume_ms = now_ms() + ACCEPT_PAUSE_MS;
}

static void accept_resume(struct simhv_server *s)
{
	listeners_poll(s, EPOLLIN);
	s->accept_paused = false;
}

static bool out_of_fds(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static int sock_path(const struct simhv_server *s, uint32_t domid, const char *name,
		     struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/dom%u/%s", s->dir, domid, name) >=
	    (int)sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

static int listen_on(struct simhv_server *s, uint32_t domid, const char *name, int type,
		     struct ep_item *it, enum kind kind)
{
	struct sockaddr_un sa;
	int r = sock_path(s, domid, name, &sa);

	if (r)
		return r;
	unlink(sa.sun_path);
	it->kind = kind;
	it->domid = domid;
	it->fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (it->fd < 0)
		return -errno;
	if (bind(it->fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(it->fd, 64)) {
		r = -errno;
		close(it->fd);
		it->fd = -1;
		return r;
	}
	r = ep_add(s, it, EPOLLIN);
	if (r) {
		close(it->fd);
		it->fd = -1;
	}
	return r;
}

static void unlisten(struct simhv_server *s, uint32_t domid, const char *name, struct ep_item *it)
{
	struct sockaddr_un sa;

	if (it->fd < 0)
		return;
	epoll_ctl(s->ep, EPOLL_CTL_DEL, it->fd, NULL);
	close(it->fd);
	it->fd = -1;
	if (!sock_path(s, domid, name, &sa))
		unlink(sa.sun_path);
}

static void dom_dir(const struct simhv_server *s, uint32_t domid, char *buf, size_t len)
{
	snprintf(buf, len, "%s/dom%u", s->dir, domid);
}

/* Domain's sockets and hvd state; xenstore introduction is separate. */
static int dom_create(struct simhv_server *s, uint32_t domid, uint32_t mem_mib)
{
	struct sim_dom *d;
	char path[4096];
	int r;

	if (domid >= NDOMS)
		return -EINVAL;
	if (s->doms[domid])
		return -EEXIST;
	r = hvd_domain_create(s->hv, domid, mem_mib ? mem_mib : s->mem_mib);
	if (r)
		return r;
	d = calloc(1, sizeof(*d));
	if (!d) {
		hvd_domain_destroy(s->hv, domid);
		return -ENOMEM;
	}
	d->hv.fd = d->xs.fd = -1;
	dom_dir(s, domid, path, sizeof(path));
	if (mkdir(path, 0755) && errno != EEXIST) {
		r = -errno;
		goto fail;
	}
	r = listen_on(s, domid, "hv.sock", SOCK_SEQPACKET, &d->hv, K_HV_LISTEN);
	if (!r)
		r = listen_on(s, domid, "xenstored.sock", SOCK_STREAM, &d->xs, K_XS_LISTEN);
	if (r)
		goto fail;
	s->doms[domid] = d;
	return 0;
fail:
	unlisten(s, domid, "hv.sock", &d->hv);
	unlisten(s, domid, "xenstored.sock", &d->xs);
	free(d);
	hvd_domain_destroy(s->hv, domid);
	return r;
}

static void hv_conn_close(struct simhv_server *s, struct hv_conn *c)
{
	epoll_ctl(s->ep, EPOLL_CTL_DEL, c->it.fd, NULL);
	close(c->it.fd);
	hvd_client_free(c->c);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->hv_conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	defer_free(s, &c->it);
}

static void xs_conn_close(struct simhv_server *s, struct xs_conn *c)
{
	epoll_ctl(s->ep, EPOLL_CTL_DEL, c->it.fd, NULL);
	close(c->it.fd);
	xsd_conn_free(c->c);
	if (c->pending) {
		for (struct xs_conn **pp = &s->flush; *pp; pp = &(*pp)->pnext)
			if (*pp == c) {
				*pp = c->pnext;
				break;
			}
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		s->xs_conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	defer_free(s, &c->it);
}

static int dom_destroy(struct simhv_server *s, uint32_t domid)
{
	struct sim_dom *d = domid < NDOMS ? s->doms[domid] : NULL;
	char path[4096];

	if (!d)
		return -ESRCH;
	for (struct hv_conn *c = s->hv_conns, *next; c; c = next) {
		next = c->next;
		if (c->it.domid == domid)
			hv_conn_close(s, c);
	}
	for (struct xs_conn *c = s->xs_conns, *next; c; c = next) {
		next = c->next;
		if (c->it.domid == domid)
			xs_conn_close(s, c);
	}
	/* As libxl destroying a domain: xenstored forgets it, its home goes. */
	xsd_domain_destroy(s->xs, domid);
	unlisten(s, domid, "hv.sock", &d->hv);
	unlisten(s, domid, "xenstored.sock", &d->xs);
	dom_dir(s, domid, path, sizeof(path));
	rmdir(path);
	d->hv.dead = d->xs.dead = true;
	defer_free(s, &d->hv); /* hv is the first member: frees d */
	s->doms[domid] = NULL;
	return hvd_domain_destroy(s->hv, domid);
}

/* ---- hooks ---- */

static int hook_hv_create(void *opaque, uint32_t domid, uint32_t mem_mib)
{
	struct simhv_server *s = opaque;
	int r = dom_create(s, domid, mem_mib);

	if (!r)
		r = xsd_domain_introduce(s->xs, domid);
	return r;
}

static int hook_hv_destroy(void *opaque, uint32_t domid)
{
	return dom_destroy(opaque, domid);
}

static int hook_xs_introduce(void *opaque, uint32_t domid)
{
	struct simhv_server *s = opaque;

	/* XS_INTRODUCE of an unknown domain creates it: "on demand". */
	if (s->doms[domid])
		return 0;
	return dom_create(s, domid, 0);
}

static void hook_xs_output(void *opaque, struct xsd_conn *xc)
{
	struct simhv_server *s = opaque;
	struct xs_conn *c = xsd_conn_opaque(xc);

	if (c && !c->pending) {
		c->pending = true;
		c->pnext = s->flush;
		s->flush = c;
	}
}

/* ---- I/O ---- */

static void accept_hv(struct simhv_server *s, struct ep_item *l)
{
	struct hv_conn *c;
	int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		if (out_of_fds(errno))
			accept_pause(s);
		return;
	}
	c = calloc(1, sizeof(*c));
	/* Refused (no memory, or too many connections of this domain): the client sees EOF. */
	if (!c || hvd_client_new(s->hv, l->domid, &c->c)) {
		free(c);
		close(fd);
		return;
	}
	c->it.kind = K_HV_CONN;
	c->it.fd = fd;
	c->it.domid = l->domid;
	if (ep_add(s, &c->it, EPOLLIN)) {
		hvd_client_free(c->c);
		free(c);
		close(fd);
		return;
	}
	c->next = s->hv_conns;
	if (s->hv_conns)
		s->hv_conns->prev = c;
	s->hv_conns = c;
}

static void accept_xs(struct simhv_server *s, struct ep_item *l)
{
	struct xs_conn *c;
	int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		if (out_of_fds(errno))
			accept_pause(s);
		return;
	}
	c = calloc(1, sizeof(*c));
	/* Refused (too many connections of this domain, or released): EOF. */
	if (!c || xsd_conn_new(s->xs, l->domid, &c->c)) {
		free(c);
		close(fd);
		return;
	}
	xsd_conn_set_opaque(c->c, c);
	c->it.kind = K_XS_CONN;
	c->it.fd = fd;
	c->it.domid = l->domid;
	c->events = EPOLLIN;
	if (ep_add(s, &c->it, EPOLLIN)) {
		xsd_conn_free(c->c);
		free(c);
		close(fd);
		return;
	}
	c->next = s->xs_conns;
	if (s->xs_conns)
		s->xs_conns->prev = c;
	s->xs_conns = c;
}

/*
 * One request of c, then back to the event loop (level-triggered: a client
 * with more queued comes round again after everybody else had a turn).  A
 * connection carries one request at a time (proto.h): the reply is sent
 * without blocking, and a client whose socket buffer is full because it
 * sends without reading is disconnected.
 */
static void hv_input(struct simhv_server *s, struct hv_conn *c)
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { .iov_base = s->buf, .iov_len = SIMHV_MSG_MAX };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	size_t rlen;
	int fds[4], nfds, r, in_fd = -1;
	ssize_t n;

	do
		n = recvmsg(c->it.fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n > 0) {
		/* Keep the first descriptor that came with the request, close any other. */
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			size_t k;

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (in_fd < 0)
					in_fd = fd;
				else
					close(fd);
			}
		}
	}
	if (n <= 0 || (mh.msg_flags & MSG_TRUNC)) {
		if (in_fd >= 0)
			close(in_fd);
		hv_conn_close(s, c);
		return;
	}
	r = hvd_handle(c->c, s->buf, (size_t)n, in_fd, s->rsp, &rlen, fds, &nfds);
	if (r) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		hv_conn_close(s, c);
		return;
	}
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = s->rsp;
	iov.iov_len = rlen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(c->it.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (n < 0)
		hv_conn_close(s, c);
}

/*
 * Watch for input unless too much output is queued (a client that does not
 * read its replies stops being read: xenstored's quota_req_outstanding);
 * watch for output while a write would block.
 */
#define XS_BACKLOG (256 * 1024)

static void xs_arm(struct simhv_server *s, struct xs_conn *c, bool blocked)
{
	const void *buf;
	size_t queued = xsd_conn_output(c->c, &buf);
	uint32_t want = (queued < XS_BACKLOG ? EPOLLIN : 0) | (blocked ? EPOLLOUT : 0);
	struct epoll_event ev = { .events = want, .data.ptr = &c->it };

	if (c->events == want)
		return;
	c->events = want;
	epoll_ctl(s->ep, EPOLL_CTL_MOD, c->it.fd, &ev);
}

/* Write what c has queued.  Returns false when c was closed. */
static bool xs_flush_one(struct simhv_server *s, struct xs_conn *c)
{
	const void *buf;
	size_t len;

	while ((len = xsd_conn_output(c->c, &buf))) {
		ssize_t n = send(c->it.fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			xs_arm(s, c, true);
			return true;
		}
		if (n <= 0) {
			xs_conn_close(s, c);
			return false;
		}
		xsd_conn_output_consume(c->c, (size_t)n);
	}
	xs_arm(s, c, false);
	if (xsd_conn_released(c->c)) {
		xs_conn_close(s, c);
		return false;
	}
	return true;
}

static void xs_flush_all(struct simhv_server *s)
{
	while (s->flush) {
		struct xs_conn *c = s->flush;

		s->flush = c->pnext;
		c->pending = false;
		xs_flush_one(s, c);
	}
}

static void xs_input(struct simhv_server *s, struct xs_conn *c)
{
	for (;;) {
		const void *buf;
		ssize_t n;

		if (xsd_conn_output(c->c, &buf) >= XS_BACKLOG) {
			xs_arm(s, c, true); /* read again once the client reads */
			return;
		}
		n = recv(c->it.fd, s->buf, SIMHV_MSG_MAX, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0 || xsd_conn_input(c->c, s->buf, (size_t)n) < 0) {
			xs_conn_close(s, c);
			return;
		}
	}
}

int simhv_server_new(struct simhv_server **out, const struct simhv_config *cfg, const char **err)
{
	struct simhv_server *s = calloc(1, sizeof(*s));
	struct hvd_hooks hh = { .domain_create = hook_hv_create,
				.domain_destroy = hook_hv_destroy };
	struct xsd_hooks xh = { .introduce = hook_xs_introduce, .output_ready = hook_xs_output };
	sigset_t mask;
	int r;

	*err = "out of memory";
	if (!s)
		return -ENOMEM;
	s->ep = s->sig.fd = -1;
	s->dir = strdup(cfg->dir);
	s->buf = malloc(SIMHV_MSG_MAX);
	s->rsp = malloc(SIMHV_MSG_MAX);
	s->mem_mib = cfg->mem_mib;
	hh.opaque = xh.opaque = s;
	if (!s->dir || !s->buf || !s->rsp) {
		r = -ENOMEM;
		goto fail;
	}
	*err = "cannot create the directory";
	if (mkdir(s->dir, 0755) && errno != EEXIST) {
		r = -errno;
		goto fail;
	}
	*err = "epoll/signalfd";
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	s->sig.kind = K_SIGNAL;
	s->sig.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->ep < 0 || s->sig.fd < 0) {
		r = -errno;
		goto fail;
	}
	r = ep_add(s, &s->sig, EPOLLIN);
	if (r)
		goto fail;
	*err = "out of memory";
	r = hvd_new(&s->hv, &hh);
	if (!r)
		r = xsd_new(&s->xs, NULL, &xh);
	if (r)
		goto fail;
	*err = "cannot create a domain's sockets (path too long, or no permission)";
	r = dom_create(s, 0, 0);
	if (r)
		goto fail;
	for (uint32_t i = 0; i < cfg->ndomains; i++) {
		if (cfg->domains[i] == 0)
			continue;
		r = dom_create(s, cfg->domains[i], 0);
		if (!r)
			r = xsd_domain_introduce(s->xs, cfg->domains[i]);
		if (r)
			goto fail;
	}
	r = xsd_domain_introduce(s->xs, 0); /* /local/domain/0 */
	if (r)
		goto fail;
	*err = NULL;
	*out = s;
	return 0;
fail:
	simhv_server_free(s);
	return r;
}

int simhv_server_run(struct simhv_server *s)
{
	struct epoll_event evs[64];

	for (;;) {
		int timeout = -1, n;

		if (s->accept_paused) {
			uint64_t now = now_ms();

			if (now >= s->accept_resume_ms)
				accept_resume(s);
			else
				timeout = (int)(s->accept_resume_ms - now);
		}
		n = epoll_wait(s->ep, evs, 64, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct ep_item *it = evs[i].data.ptr;

			if (it->dead)
				continue;
			switch (it->kind) {
			case K_SIGNAL: {
				struct signalfd_siginfo si;

				if (read(it->fd, &si, sizeof(si)) == sizeof(si))
					return 0;
				break;
			}
			case K_HV_LISTEN:
				accept_hv(s, it);
				break;
			case K_XS_LISTEN:
				accept_xs(s, it);
				break;
			case K_HV_CONN:
				hv_input(s, (struct hv_conn *)it);
				break;
			case K_XS_CONN: {
				struct xs_conn *c = (struct xs_conn *)it;

				if ((evs[i].events & EPOLLOUT) && !xs_flush_one(s, c))
					break;
				if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					xs_input(s, c);
				break;
			}
			}
			/* Replies and watch events go out before the next request. */
			xs_flush_all(s);
		}
		reap(s);
	}
}

void simhv_server_free(struct simhv_server *s)
{
	if (!s)
		return;
	for (uint32_t i = NDOMS; i-- > 0;)
		if (s->doms[i])
			dom_destroy(s, i);
	while (s->hv_conns)
		hv_conn_close(s, s->hv_conns);
	while (s->xs_conns)
		xs_conn_close(s, s->xs_conns);
	xsd_free(s->xs);
	hvd_free(s->hv);
	if (s->sig.fd >= 0)
		close(s->sig.fd);
	if (s->ep >= 0)
		close(s->ep);
	reap(s);
	free(s->zombies);
	free(s->buf);
	free(s->rsp);
	free(s->dir);
	free(s);
}
