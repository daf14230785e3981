// SPDX-License-Identifier: LGPL-2.1-or-later
/* pvb_loop: epoll, timerfd and signalfd behind a small callback API. */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

struct pvb_watch {
	struct pvb_loop *l;
	int fd;
	uint32_t events;
	pvb_io_fn fn;
	void *opaque;
	bool dead;
	struct pvb_watch *next_dead;
};

struct pvb_timer {
	struct pvb_watch *w;
	int fd;
	pvb_timer_fn fn;
	void *opaque;
};

struct deferred {
	pvb_defer_fn fn;
	void *opaque;
};

struct pvb_poller {
	struct pvb_loop *l;
	pvb_poll_fn poll, arm;
	void *opaque;
	bool dead;
};

/* An fd waited for where the loop sleeps (loop.h). */
struct pvb_uwait {
	struct pvb_loop *l;
	int fd;
	void *buf; /* len bytes, after the struct; NULL: a poll */
	uint32_t len;
	pvb_uwait_fn fn;
	void *opaque;
	bool armed;	     /* an operation in the io_uring, until its CQE */
	bool dead;	     /* pvb_uwait_del(): freed once not armed */
	bool fallback;	     /* an io_uring error: in the epoll set for good */
	bool on_demand;	     /* pvb_uwait_on_demand(): */
	bool wanted;	     /* ... pvb_uwait_arm() since the last fn */
	struct pvb_watch *w; /* in the epoll set (PVB_WAIT_EPOLL, fallback) */
	struct pvb_uwait *next;
};

struct sig_action {
	int sig;
	bool stop;
	pvb_defer_fn fn;
	void *opaque;
};

struct pvb_loop {
	int ep;
	bool stop;
	struct pvb_watch *dead;
	struct deferred *defer;
	size_t ndefer, cap_defer;
	int sigfd;
	sigset_t sigs;
	struct pvb_watch *sigw;
	struct sig_action *acts;
	size_t nacts;
	struct pvb_poller **pollers;
	size_t npollers, cap_pollers;
	bool pollers_dead;    /* some are marked dead: compact the array */
	uint64_t poll_ns;     /* the window now */
	uint64_t poll_max_ns; /* adaptive: the window's bound (0: a fixed window) */
	uint64_t poll_grows, poll_shrinks;
	unsigned long_sleeps;	   /* adaptive: sleeps in a row longer than the bound */
	uint64_t poll_clock_reads; /* clock reads for polling (windows, idle spells) */
	uint64_t window_start;	   /* the last window's first clock read */
	unsigned poll_hits;	   /* windows with work since the fds were last looked at */
	uint64_t poll_preempts;	   /* windows in which this CPU was taken away */
	uint64_t preempted_at;	   /* adaptive: the last window's preemption (0: none) */
	uint64_t hold_ns;	   /* adaptive: the last hold's length */
	uint64_t hold_until;	   /* adaptive: no polling before this time */
	bool held;		   /* adaptive: the window is 0 for a hold */
	/* Sleeping in an io_uring (PVB_WAIT_URING): */
	struct io_uring ring;
	bool ring_up;	/* ring made (it stays until the loop is freed) */
	bool uring;	/* the loop sleeps in it */
	bool ep_armed;	/* the epoll set's poll is in the ring */
	bool ep_ready;	/* ... and came back in the wait: the epoll set has events */
	unsigned fresh; /* CQEs in the ring when the wait ended (loop_reap()) */
	struct pvb_uwait *uwaits;
	uint64_t sleeps, ring_ops, fallbacks;
};

/* user_data of the ring's own operations; a uwait's is its address. */
#define TAG_EPOLL    1u
#define TAG_CANCEL   2u
#define RING_ENTRIES 32u

/* Windows that found work between two looks at the fds while polling. */
#define POLL_HITS_PER_EPOLL 8
/* While polling finds nothing, the CPU is yielded this often. */
#define POLL_YIELD_NS 50000ull
/* Poller calls between two looks at the clock while polling finds nothing. */
#define POLL_CLOCK_CALLS 64

int pvb_loop_new(struct pvb_loop **out)
{
	struct pvb_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	if (l->ep < 0) {
		int r = -errno;

		free(l);
		return r;
	}
	l->sigfd = -1;
	sigemptyset(&l->sigs);
	/* Sleep in an io_uring if the kernel gives one; else in epoll_wait(). */
	(void)pvb_loop_set_wait(l, PVB_WAIT_URING);
	*out = l;
	return 0;
}

static void reap_uwaits(struct pvb_loop *l);

static void reap(struct pvb_loop *l)
{
	while (l->dead) {
		struct pvb_watch *w = l->dead;

		l->dead = w->next_dead;
		free(w);
	}
	if (l->pollers_dead) {
		size_t k = 0;

		for (size_t i = 0; i < l->npollers; i++) {
			if (l->pollers[i]->dead)
				free(l->pollers[i]);
			else
				l->pollers[k++] = l->pollers[i];
		}
		l->npollers = k;
		l->pollers_dead = false;
	}
	reap_uwaits(l);
}

void pvb_loop_free(struct pvb_loop *l)
{
	if (!l)
		return;
	if (l->sigw)
		pvb_watch_del(l->sigw);
	if (l->sigfd >= 0)
		close(l->sigfd);
	for (struct pvb_uwait *u = l->uwaits; u; u = u->next)
		pvb_watch_del(u->w);
	if (l->ring_up)
		io_uring_queue_exit(&l->ring); /* ends what is armed: nothing is */
	while (l->uwaits) {
		struct pvb_uwait *u = l->uwaits;

		l->uwaits = u->next;
		free(u);
	}
	reap(l);
	for (size_t i = 0; i < l->npollers; i++)
		free(l->pollers[i]);
	free(l->pollers);
	close(l->ep);
	free(l->defer);
	free(l->acts);
	free(l);
}

int pvb_watch_add(struct pvb_loop *l, int fd, uint32_t events, pvb_io_fn fn, void *opaque,
		  struct pvb_watch **out)
{
	struct pvb_watch *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = events };

	if (!w)
		return -ENOMEM;
	w->l = l;
	w->fd = fd;
	w->events = events;
	w->fn = fn;
	w->opaque = opaque;
	ev.data.ptr = w;
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev)) {
		int r = -errno;

		free(w);
		return r;
	}
	if (out)
		*out = w;
	return 0;
}

int pvb_watch_mod(struct pvb_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (w->events == events)
		return 0;
	if (epoll_ctl(w->l->ep, EPOLL_CTL_MOD, w->fd, &ev))
		return -errno;
	w->events = events;
	return 0;
}

void pvb_watch_del(struct pvb_watch *w)
{
	if (!w || w->dead)
		return;
	epoll_ctl(w->l->ep, EPOLL_CTL_DEL, w->fd, NULL);
	w->dead = true;
	/* Freed after the round: its event may still be in hand. */
	w->next_dead = w->l->dead;
	w->l->dead = w;
}

/* ---- uwaits: fds waited for where the loop sleeps ---- */

/* A uwait in the epoll set: what the io_uring would have done, by hand. */
static void uwait_ready(void *opaque, uint32_t events)
{
	struct pvb_uwait *u = opaque;
	ssize_t n;

	if (u->dead)
		return;
	if (!u->buf) {
		u->fn(u->opaque, NULL, (int)events);
		return;
	}
	n = read(u->fd, u->buf, u->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	u->fn(u->opaque, u->buf, n < 0 ? -errno : (int)n);
}

static int uwait_to_epoll(struct pvb_uwait *u)
{
	if (u->w)
		return 0;
	return pvb_watch_add(u->l, u->fd, EPOLLIN, uwait_ready, u, &u->w);
}

static struct io_uring_sqe *ring_sqe(struct pvb_loop *l)
{
	struct io_uring_sqe *e = io_uring_get_sqe(&l->ring);

	if (!e) {
		io_uring_submit(&l->ring);
		e = io_uring_get_sqe(&l->ring);
	}
	return e;
}

/* Cancel u's operation in the ring, now (its CQE comes back -ECANCELED). */
static void uwait_cancel(struct pvb_uwait *u)
{
	struct io_uring_sqe *e;

	if (!u->armed || !u->l->ring_up)
		return;
	e = ring_sqe(u->l);
	if (!e)
		return;
	io_uring_prep_cancel64(e, (uint64_t)(uintptr_t)u, 0);
	io_uring_sqe_set_data64(e, TAG_CANCEL);
	io_uring_submit(&u->l->ring);
}

int pvb_uwait_add(struct pvb_loop *l, int fd, uint32_t len, pvb_uwait_fn fn, void *opaque,
		  struct pvb_uwait **out)
{
	struct pvb_uwait *u;
	int r;

	if (fd < 0 || !fn || len > INT32_MAX)
		return -EINVAL;
	u = calloc(1, sizeof(*u) + len);
	if (!u)
		return -ENOMEM;
	*u = (struct pvb_uwait){
		.l = l, .fd = fd, .buf = len ? u + 1 : NULL, .len = len, .fn = fn, .opaque = opaque
	};
	/* In the ring: armed at the next round (loop_arm()). */
	r = l->uring ? 0 : uwait_to_epoll(u);
	if (r) {
		free(u);
		return r;
	}
	u->next = l->uwaits;
	l->uwaits = u;
	if (out)
		*out = u;
	return 0;
}

void pvb_uwait_del(struct pvb_uwait *u)
{
	if (!u || u->dead)
		return;
	u->dead = true;
	pvb_watch_del(u->w);
	u->w = NULL;
	/* Now, not at the next round: the ring holds the fd open until then. */
	uwait_cancel(u);
}

void pvb_uwait_on_demand(struct pvb_uwait *u)
{
	u->on_demand = true;
}

void pvb_uwait_arm(struct pvb_uwait *u)
{
	u->wanted = true;
}

/* Free the uwaits deleted and no longer in the ring. */
static void reap_uwaits(struct pvb_loop *l)
{
	struct pvb_uwait **pp = &l->uwaits;

	while (*pp) {
		struct pvb_uwait *u = *pp;

		if (u->dead && !u->armed) {
			*pp = u->next;
			free(u);
		} else {
			pp = &u->next;
		}
	}
}

int pvb_loop_set_wait(struct pvb_loop *l, enum pvb_wait_mode mode)
{
	if (mode == PVB_WAIT_EPOLL) {
		if (!l->uring)
			return 0;
		l->uring = false;
		for (struct pvb_uwait *u = l->uwaits; u; u = u->next) {
			if (u->dead)
				continue;
			/* A read the ring makes before the cancel is still delivered (loop_reap()). */
			uwait_cancel(u);
			if (uwait_to_epoll(u))
				return -ENOMEM; /* cannot happen but by ENOMEM */
		}
		return 0;
	}
	if (l->uring)
		return 0;
	if (!l->ring_up) {
		int r = io_uring_queue_init(RING_ENTRIES, &l->ring, 0);

		if (r)
			return r;
		l->ring_up = true;
	}
	l->uring = true;
	for (struct pvb_uwait *u = l->uwaits; u; u = u->next) {
		if (u->dead || u->fallback || !u->w)
			continue;
		pvb_watch_del(u->w);
		u->w = NULL;
		u->wanted = true; /* once: whatever the set would have said */
	}
	return 0;
}

void pvb_loop_wait_info(const struct pvb_loop *l, struct pvb_wait_info *out)
{
	*out = (struct pvb_wait_info){ .mode = l->uring ? PVB_WAIT_URING : PVB_WAIT_EPOLL,
				       .sleeps = l->sleeps,
				       .ring_ops = l->ring_ops,
				       .fallbacks = l->fallbacks };
}

/*
 * Queue, in the ring, each uwait not waited for yet, and the epoll set's poll
 * too if the loop is going to sleep.  Returns the operations queued.
 */
static unsigned loop_arm(struct pvb_loop *l, bool sleeping)
{
	unsigned n = 0;
	struct io_uring_sqe *e;

	if (sleeping && !l->ep_armed && (e = ring_sqe(l))) {
		io_uring_prep_poll_add(e, l->ep, POLLIN);
		io_uring_sqe_set_data64(e, TAG_EPOLL);
		l->ep_armed = true;
		n++;
	}
	for (struct pvb_uwait *u = l->uwaits; u; u = u->next) {
		if (u->dead || u->armed || u->w || (u->on_demand && !u->wanted) ||
		    !(e = ring_sqe(l)))
			continue;
		/* A non-blocking fd: the kernel waits for it to poll readable, then reads. */
		if (u->buf)
			io_uring_prep_read(e, u->fd, u->buf, u->len, (uint64_t)-1);
		else
			io_uring_prep_poll_add(e, u->fd, POLLIN);
		io_uring_sqe_set_data64(e, (uint64_t)(uintptr_t)u);
		u->armed = true;
		n++;
	}
	return n;
}

/* What came back from the ring: uwaits' fns run, the epoll set's poll is noted. */
static void loop_reap(struct pvb_loop *l)
{
	struct io_uring_cqe *cqe;

	while (!io_uring_peek_cqe(&l->ring, &cqe)) {
		uint64_t tag = cqe->user_data;
		int res = cqe->res;
		bool fresh = l->fresh > 0;
		struct pvb_uwait *u;

		l->fresh -= fresh;
		io_uring_cqe_seen(&l->ring, cqe);
		if (tag == TAG_CANCEL)
			continue;
		if (tag == TAG_EPOLL) {
			/*
			 * In the wait: look at the set (after an error too: the
			 * next sleep tries again).  Since the wait, during the
			 * callbacks: a hint only (ring_sleep()).
			 */
			l->ep_armed = false;
			l->ep_ready |= fresh && res != -ECANCELED;
			continue;
		}
		u = (struct pvb_uwait *)(uintptr_t)tag;
		u->armed = false;
		l->ring_ops++;
		if (u->dead || res == -EAGAIN || res == -EINTR || res == -ECANCELED)
			continue; /* waited for again (on demand: still wanted) */
		u->wanted = false;
		if (res < 0) {
			/* The ring cannot do it: the epoll set can, and reports what the fd says. */
			l->fallbacks++;
			u->fallback = true;
			if (uwait_to_epoll(u))
				u->fn(u->opaque, u->buf, res);
			continue;
		}
		u->fn(u->opaque, u->buf, res);
	}
}

/*
 * Sleep in the ring: one system call that also waits for the uwaits and the
 * epoll set.  Returns 0 (woken, or interrupted) or -errno (the ring failed).
 */
static int ring_sleep(struct pvb_loop *l)
{
	struct io_uring_cqe *cqe;
	unsigned head, stale = 0;
	int r;

	/*
	 * The epoll set's poll may have come back since the last wait, during
	 * the callbacks, for what they have handled since: the kernel checks a
	 * poll at the return of the system call in which its fd woke, before
	 * the caller gets to read the fd (an io_uring's fd in the set polls
	 * readable from the moment a completion is posted inline, in the very
	 * call that submitted it, until it is reaped: a wakeup per request,
	 * 40 us in the lab, when queues' fds were in the set).  Such a poll
	 * says nothing now: poll again, in the wait (the kernel checks the set
	 * at once, as epoll_wait() would).  Anything else that came back is
	 * work: no sleep.
	 */
	l->fresh = 0;
	io_uring_for_each_cqe(&l->ring, head, cqe)
	{
		if (cqe->user_data != TAG_EPOLL && cqe->user_data != TAG_CANCEL)
			return 0;
		stale++;
	}
	if (stale) {
		io_uring_cq_advance(&l->ring, stale);
		l->ep_armed = false;
	}
	loop_arm(l, true);
	l->ep_ready = false;
	r = io_uring_submit_and_wait(&l->ring, 1);
	l->fresh = io_uring_cq_ready(&l->ring);
	return r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY ? r : 0;
}

static void timer_fired(void *opaque, uint32_t events)
{
	struct pvb_timer *t = opaque;
	uint64_t n;

	if (read(t->fd, &n, sizeof(n)) != sizeof(n))
		return;
	t->fn(t->opaque);
}

int pvb_timer_set(struct pvb_timer *t, uint64_t ms, uint64_t period_ms)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)(ms % 1000) * 1000000 },
		.it_interval = { .tv_sec = (time_t)(period_ms / 1000),
				 .tv_nsec = (long)(period_ms % 1000) * 1000000 },
	};

	if (!ms)
		its.it_value.tv_nsec = 1; /* as soon as possible (0 would disarm) */
	return timerfd_settime(t->fd, 0, &its, NULL) ? -errno : 0;
}

int pvb_timer_add(struct pvb_loop *l, uint64_t ms, uint64_t period_ms, pvb_timer_fn fn,
		  void *opaque, struct pvb_timer **out)
{
	struct pvb_timer *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	t->fn = fn;
	t->opaque = opaque;
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->fd < 0) {
		r = -errno;
		free(t);
		return r;
	}
	r = pvb_timer_set(t, ms, period_ms);
	if (!r)
		r = pvb_watch_add(l, t->fd, EPOLLIN, timer_fired, t, &t->w);
	if (r) {
		close(t->fd);
		free(t);
		return r;
	}
	*out = t;
	return 0;
}

void pvb_timer_del(struct pvb_timer *t)
{
	if (!t)
		return;
	pvb_watch_del(t->w);
	close(t->fd);
	free(t);
}

int pvb_loop_defer(struct pvb_loop *l, pvb_defer_fn fn, void *opaque)
{
	for (size_t i = 0; i < l->ndefer; i++)
		if (l->defer[i].fn == fn && l->defer[i].opaque == opaque)
			return 0;
	if (l->ndefer == l->cap_defer) {
		size_t cap = l->cap_defer ? l->cap_defer * 2 : 16;
		struct deferred *d = realloc(l->defer, cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		l->defer = d;
		l->cap_defer = cap;
	}
	l->defer[l->ndefer].fn = fn;
	l->defer[l->ndefer].opaque = opaque;
	l->ndefer++;
	return 0;
}

void pvb_loop_undefer(struct pvb_loop *l, void *opaque)
{
	for (size_t i = 0; i < l->ndefer; i++)
		if (l->defer[i].opaque == opaque)
			l->defer[i].fn = NULL;
}

static void run_deferred(struct pvb_loop *l)
{
	/* Deferred work may defer more; what is left runs after the next poll. */
	size_t budget = l->ndefer * 4 + 64;

	while (l->ndefer && budget--) {
		struct deferred d = l->defer[0];

		l->ndefer--;
		memmove(l->defer, l->defer + 1, l->ndefer * sizeof(d));
		if (d.fn)
			d.fn(d.opaque);
	}
}

static void signal_in(void *opaque, uint32_t events)
{
	struct pvb_loop *l = opaque;
	struct signalfd_siginfo si;

	while (read(l->sigfd, &si, sizeof(si)) == sizeof(si)) {
		for (size_t i = 0; i < l->nacts; i++) {
			if (l->acts[i].sig != (int)si.ssi_signo)
				continue;
			if (l->acts[i].stop)
				l->stop = true;
			else
				l->acts[i].fn(l->acts[i].opaque);
		}
	}
}

static int add_signal(struct pvb_loop *l, int sig, bool stop, pvb_defer_fn fn, void *opaque)
{
	struct sig_action *a = realloc(l->acts, (l->nacts + 1) * sizeof(*a));
	int fd;

	if (!a)
		return -ENOMEM;
	l->acts = a;
	a[l->nacts++] = (struct sig_action){ .sig = sig, .stop = stop, .fn = fn, .opaque = opaque };
	sigaddset(&l->sigs, sig);
	if (sigprocmask(SIG_BLOCK, &l->sigs, NULL))
		return -errno;
	fd = signalfd(l->sigfd, &l->sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (l->sigfd < 0) {
		l->sigfd = fd;
		return pvb_watch_add(l, fd, EPOLLIN, signal_in, l, &l->sigw);
	}
	return 0;
}

int pvb_loop_stop_on_signal(struct pvb_loop *l, int sig)
{
	return add_signal(l, sig, true, NULL, NULL);
}

int pvb_loop_on_signal(struct pvb_loop *l, int sig, pvb_defer_fn fn, void *opaque)
{
	return add_signal(l, sig, false, fn, opaque);
}

int pvb_poller_add(struct pvb_loop *l, pvb_poll_fn poll, pvb_poll_fn arm, void *opaque,
		   struct pvb_poller **out)
{
	struct pvb_poller *p;

	if (l->npollers == l->cap_pollers) {
		size_t cap = l->cap_pollers ? l->cap_pollers * 2 : 8;
		struct pvb_poller **n = realloc(l->pollers, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		l->pollers = n;
		l->cap_pollers = cap;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct pvb_poller){ .l = l, .poll = poll, .arm = arm, .opaque = opaque };
	l->pollers[l->npollers++] = p;
	*out = p;
	return 0;
}

void pvb_poller_del(struct pvb_poller *p)
{
	if (!p)
		return;
	p->dead = true;
	p->l->pollers_dead = true;
}

void pvb_loop_set_poll_us(struct pvb_loop *l, uint32_t us)
{
	l->poll_ns = (uint64_t)us * 1000;
	l->poll_max_ns = 0;
	l->held = false; /* a fixed window never holds off */
}

void pvb_loop_set_poll_adaptive(struct pvb_loop *l, uint32_t max_us)
{
	l->poll_ns = 0;
	l->poll_max_ns = (uint64_t)max_us * 1000;
	l->long_sleeps = 0;
	l->hold_ns = l->hold_until = l->preempted_at = 0;
	l->held = false;
}

void pvb_poll_preempted(uint64_t now, uint64_t *hold_ns, uint64_t *until)
{
	/* Soon after the last hold ended: the CPU is still wanted, hold longer. */
	if (*hold_ns && now < *until + *hold_ns)
		*hold_ns =
			*hold_ns * 2 < PVB_POLL_HOLD_MAX_NS ? *hold_ns * 2 : PVB_POLL_HOLD_MAX_NS;
	else
		*hold_ns = PVB_POLL_HOLD_MIN_NS;
	*until = now + *hold_ns;
}

uint64_t pvb_poll_next_window(uint64_t window, uint64_t max, uint64_t idle_ns,
			      unsigned *long_sleeps)
{
	if (idle_ns <= window) {
		*long_sleeps = 0;
		return window; /* the window ended the sleep: right as it is */
	}
	if (idle_ns > max) {
		/*
		 * No window would have: shrink, but only on the second such
		 * sleep in a row.  A guest at queue depth 1 whose turnaround
		 * now and then runs long would otherwise lose half its window
		 * to each such outlier and miss the next request too (the lab:
		 * about 1,300 shrinks and as many grows in 16,384 reads); one
		 * that went quiet still comes to 0.
		 */
		if (++*long_sleeps < PVB_POLL_SHRINK_AFTER)
			return window;
		*long_sleeps = 0;
		window /= 2;
		return window < PVB_POLL_GROW_START_NS ? 0 : window;
	}
	/* a longer window would have: grow */
	*long_sleeps = 0;
	window = window ? window * 2 : PVB_POLL_GROW_START_NS;
	return window < max ? window : max;
}

bool pvb_loop_polling(const struct pvb_loop *l)
{
	return l->poll_ns != 0;
}

void pvb_loop_poll_info(const struct pvb_loop *l, struct pvb_poll_info *out)
{
	*out = (struct pvb_poll_info){
		.adaptive = l->poll_max_ns != 0,
		.window_ns = l->poll_ns,
		.max_ns = l->poll_max_ns ? l->poll_max_ns : l->poll_ns,
		.grows = l->poll_grows,
		.shrinks = l->poll_shrinks,
		.clock_reads = l->poll_clock_reads,
		.preempts = l->poll_preempts,
		.held = l->held,
	};
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t pvb_syscall_cost_ns(void)
{
	uint64_t best = UINT64_MAX;

	for (int round = 0; round < 5; round++) {
		uint64_t t0 = mono_ns();

		for (int i = 0; i < 64; i++)
			syscall(SYS_getppid);
		t0 = (mono_ns() - t0) / 64;
		if (t0 < best)
			best = t0;
	}
	return best;
}

/*
 * One polling window: true as soon as a poller finds work (or, at the end,
 * an arm() does), false when it passed idle and everything is armed.
 * Pollers added meanwhile are polled from the next window on.
 */
static bool poll_window(struct pvb_loop *l)
{
	uint64_t now, end = 0, yield_at = 0, last = 0;
	size_t n = l->npollers;
	unsigned calls = 0;
	bool work = false;

	for (;;) {
		/* Every poller each pass: a busy one must not starve the others. */
		for (size_t i = 0; i < n; i++) {
			struct pvb_poller *p = l->pollers[i];

			if (!p->dead && p->poll(p->opaque))
				work = true;
		}
		if (work)
			return true;
		/*
		 * No PAUSE between passes: this polls memory between calls,
		 * it does not spin on a lock.  Where dom0 is itself a virtual
		 * machine PAUSE is what the CPU traps (pause-loop exiting,
		 * Xen's vCPU yield), and QEMU's TCG leaves translated code on
		 * each one, back through its vCPU loop and global lock (the
		 * lab, polling: 4 KiB reads 6-12% faster at QD1 and QD32
		 * without).
		 *
		 * The clock only every few poller calls, and not before the
		 * first few: clock_gettime() is a system call where the vDSO
		 * cannot read the clock (a Xen PV guest without a stable TSC),
		 * a pass that makes one sees new work a system call later, and
		 * a window that finds work at once (requests back to back)
		 * costs none.  The window starts at the first look.
		 */
		calls += n ? (unsigned)n : 1;
		if (calls < POLL_CLOCK_CALLS)
			continue;
		calls = 0;
		now = mono_ns();
		l->poll_clock_reads++;
		if (last && now - last > PVB_POLL_PREEMPT_NS) {
			/*
			 * The CPU was taken away between two looks (by the
			 * hypervisor for another vCPU, by the host under an
			 * emulated machine, by another task after a yield):
			 * something else wants it, perhaps the very guest whose
			 * ring this polls, and each turn it gets stretches the
			 * window to a time slice.  An adaptive window ends here
			 * and polling holds off (see pvb_loop_run()); a fixed
			 * one, the operator's choice, only counts it.
			 */
			l->poll_preempts++;
			if (l->poll_max_ns) {
				l->preempted_at = now;
				break;
			}
		}
		last = now;
		if (!end) {
			l->window_start = now;
			end = now + l->poll_ns;
			yield_at = now + POLL_YIELD_NS;
		}
		if (now >= end)
			break;
		if (!yield_at) {
			yield_at = now + POLL_YIELD_NS; /* polled again since the last yield */
		} else if (now >= yield_at) {
			/*
			 * Now and then give the CPU to whatever else is runnable
			 * (an io_uring worker, a loop device's thread: on a
			 * one-vCPU dom0 they need it to make the progress we
			 * poll for).  Not every pass: sched_yield() is a system
			 * call, expensive in a PV guest, and polls less often.
			 */
			sched_yield();
			yield_at = 0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct pvb_poller *p = l->pollers[i];

		if (!p->dead && p->arm(p->opaque))
			work = true;
	}
	return work;
}

void pvb_loop_stop(struct pvb_loop *l)
{
	l->stop = true;
}

int pvb_loop_run(struct pvb_loop *l)
{
	struct epoll_event evs[64];

	l->stop = false;
	while (!l->stop) {
		int timeout = l->ndefer ? 0 : -1;
		uint64_t idle_from = 0;
		bool idle_window = false, slept;
		int n;

		if (timeout < 0 && l->poll_ns && l->npollers) {
			if (poll_window(l)) {
				/*
				 * Work found: poll again at once, and look at
				 * the fds (without waiting) only every few
				 * rounds: a system call saved per request,
				 * other fds wait a few rounds.
				 */
				if (++l->poll_hits < POLL_HITS_PER_EPOLL && !l->ndefer) {
					reap(l);
					continue;
				}
				timeout = 0;
			} else {
				idle_window = true;
			}
		}
		l->poll_hits = 0;
		/*
		 * Adaptive: the idle spell is timed from the start of the
		 * window that ran out (its first clock read), or from now
		 * when there was none; a window that found work read no clock.
		 */
		if (timeout < 0 && l->poll_max_ns && l->npollers) {
			if (idle_window) {
				idle_from = l->window_start;
			} else {
				idle_from = mono_ns();
				l->poll_clock_reads++;
			}
		}
		if (timeout < 0)
			l->sleeps++;
		slept = timeout < 0 && l->uring;
		if (slept) {
			n = 0;
			if (ring_sleep(l)) {
				/* Back to epoll_wait() for good; the uwaits go into the set. */
				l->fallbacks++;
				pvb_loop_set_wait(l, PVB_WAIT_EPOLL);
				continue;
			}
		} else {
			/* Uwaits done since the last sleep: waited for again, with this round's call. */
			if (l->uring && loop_arm(l, false))
				io_uring_submit(&l->ring);
			n = epoll_wait(l->ep, evs, 64, timeout);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
		}
		if (idle_from) {
			/*
			 * Woken from a sleep: every poller is armed (the window
			 * ended so, or there was none), so the window may change
			 * here, before any callback asks pvb_loop_polling().
			 */
			uint64_t now = mono_ns();
			uint64_t w = pvb_poll_next_window(l->poll_ns, l->poll_max_ns,
							  now - idle_from, &l->long_sleeps);

			l->poll_clock_reads++;
			if (l->preempted_at) {
				/* the window ends at 0 even if the hold is over by now */
				pvb_poll_preempted(l->preempted_at, &l->hold_ns, &l->hold_until);
				l->preempted_at = 0;
				w = 0;
			}
			l->held = now < l->hold_until;
			if (l->held)
				w = 0; /* held off: the CPU is wanted elsewhere */

			l->poll_grows += w > l->poll_ns;
			l->poll_shrinks += w < l->poll_ns;
			l->poll_ns = w;
		}
		if (l->ring_up) {
			loop_reap(l);
			/* Woken in the ring with events in the epoll set: take them
			 * (a poll that came back after a round's own look: the next). */
			if (l->ep_ready && slept) {
				n = epoll_wait(l->ep, evs, 64, 0);
				if (n < 0 && errno != EINTR)
					return -errno;
				n = n < 0 ? 0 : n;
			}
			l->ep_ready = false;
		}
		for (int i = 0; i < n; i++) {
			struct pvb_watch *w = evs[i].data.ptr;

			if (!w->dead)
				w->fn(w->opaque, evs[i].events);
		}
		run_deferred(l);
		reap(l);
	}
	return 0;
}
