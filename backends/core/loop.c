// SPDX-License-Identifier: LGPL-2.1-or-later
/* pvb_loop: epoll, timerfd and signalfd behind a small callback API. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
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
};

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
	*out = l;
	return 0;
}

static void reap(struct pvb_loop *l)
{
	while (l->dead) {
		struct pvb_watch *w = l->dead;

		l->dead = w->next_dead;
		free(w);
	}
}

void pvb_loop_free(struct pvb_loop *l)
{
	if (!l)
		return;
	if (l->sigw)
		pvb_watch_del(l->sigw);
	if (l->sigfd >= 0)
		close(l->sigfd);
	reap(l);
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

void pvb_loop_stop(struct pvb_loop *l)
{
	l->stop = true;
}

int pvb_loop_run(struct pvb_loop *l)
{
	struct epoll_event evs[64];

	l->stop = false;
	while (!l->stop) {
		int n = epoll_wait(l->ep, evs, 64, l->ndefer ? 0 : -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
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
