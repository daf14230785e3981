// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of pvb_loop's busy polling: the adaptive window's rule, and a
 * loop serving a producer thread the way a backend serves a frontend (work
 * found by polling while notifications are off, an event through a pipe only
 * when the poller is armed).  The producer checks that no request waits:
 * a loop that slept with notifications off would leave one unserved.  And
 * uwaits: fds read where the loop sleeps, in its io_uring or its epoll set.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "core/loop.h"
#include "cunit_main.h"

#define US 1000ull
#define MS 1000000ull

/* The rule with a fresh count of long sleeps (none before). */
static uint64_t next(uint64_t window, uint64_t max, uint64_t idle_ns)
{
	unsigned long_sleeps = 0;

	return pvb_poll_next_window(window, max, idle_ns, &long_sleeps);
}

static void test_rule(void)
{
	const uint64_t max = 2 * MS, start = PVB_POLL_GROW_START_NS;
	unsigned n = 0;

	/* idle and stays so: no window */
	CU_ASSERT_EQUAL(next(0, max, 5 * MS), 0);
	/* a sleep a window could have ended: grow from the start, doubling */
	CU_ASSERT_EQUAL(next(0, max, 300 * US), start);
	CU_ASSERT_EQUAL(next(start, max, 300 * US), 2 * start);
	CU_ASSERT_EQUAL(next(160 * US, max, 300 * US), 320 * US);
	/* up to the bound, never beyond */
	CU_ASSERT_EQUAL(next(1280 * US, max, 1900 * US), max);
	CU_ASSERT_EQUAL(next(max, max, max), max);
	/* the window ended the sleep: as it is */
	CU_ASSERT_EQUAL(next(320 * US, max, 100 * US), 320 * US);
	CU_ASSERT_EQUAL(next(320 * US, max, 320 * US), 320 * US);
	/* longer than any window: one such sleep keeps the window, the second in a row halves it */
	CU_ASSERT_EQUAL(pvb_poll_next_window(max, max, max + 1, &n), max);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(pvb_poll_next_window(max, max, max + 1, &n), max / 2);
	CU_ASSERT_EQUAL(n, 0);
	/* a late one between sleeps a window ended, or would have, costs nothing */
	CU_ASSERT_EQUAL(pvb_poll_next_window(max / 2, max, 10 * MS, &n), max / 2);
	CU_ASSERT_EQUAL(pvb_poll_next_window(max / 2, max, 100 * US, &n), max / 2);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(pvb_poll_next_window(max / 2, max, 10 * MS, &n), max / 2);
	CU_ASSERT_EQUAL(pvb_poll_next_window(max / 2, max, 1500 * US, &n), max);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(pvb_poll_next_window(max, max, 10 * MS, &n), max);
	/* and below the start, none */
	n = 1;
	CU_ASSERT_EQUAL(pvb_poll_next_window(2 * start, max, 10 * MS, &n), start);
	n = 1;
	CU_ASSERT_EQUAL(pvb_poll_next_window(start, max, 10 * MS, &n), 0);
	n = 1;
	CU_ASSERT_EQUAL(pvb_poll_next_window(start + 1, max, 10 * MS, &n), 0);
	/* a loop gone quiet: from the bound to none in twice as many sleeps as halvings */
	n = 0;
	{
		uint64_t w = max;
		int sleeps = 0;

		while (w && sleeps < 100) {
			w = pvb_poll_next_window(w, max, 10 * MS, &n);
			sleeps++;
		}
		CU_ASSERT_EQUAL(w, 0);
		CU_ASSERT_EQUAL(sleeps, 16); /* 2 ms halved 8 times is under 10 us */
	}
}

static void test_syscall_cost(void)
{
	uint64_t c = pvb_syscall_cost_ns();

	/* a real measurement: more than nothing, less than a millisecond */
	CU_ASSERT(c > 0);
	CU_ASSERT(c < MS);
}

/* ---- a loop and a producer ---- */

struct rig {
	struct pvb_loop *l;
	int pipe[2];
	atomic_uint pending; /* requests posted, not yet taken */
	atomic_bool armed;   /* the poller wants an event for new work */
	atomic_bool done;
	unsigned taken, by_poll, by_event;
	unsigned stuck;	 /* requests the producer saw wait too long */
	uint64_t window; /* the window when the last request's event came */
};

/* take what is pending; notifications back on unless the loop polls */
static void take(struct rig *g)
{
	g->taken += atomic_exchange(&g->pending, 0);
	if (!pvb_loop_polling(g->l))
		atomic_store(&g->armed, true);
}

static bool rig_poll(void *opaque)
{
	struct rig *g = opaque;

	if (!atomic_load(&g->pending))
		return false;
	g->by_poll++;
	take(g);
	return true;
}

static bool rig_arm(void *opaque)
{
	struct rig *g = opaque;

	atomic_store(&g->armed, true);
	return atomic_load(&g->pending) != 0;
}

static void rig_event(void *opaque, uint32_t events)
{
	struct rig *g = opaque;
	char buf[64];

	(void)events;
	while (read(g->pipe[0], buf, sizeof(buf)) > 0)
		;
	if (atomic_load(&g->done)) {
		pvb_loop_stop(g->l);
		return;
	}
	if (atomic_load(&g->pending)) {
		struct pvb_poll_info pi;

		g->by_event++;
		pvb_loop_poll_info(g->l, &pi);
		g->window = pi.window_ns;
	}
	atomic_store(&g->armed, false);
	take(g);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void kick(struct rig *g)
{
	char c = 1;

	if (write(g->pipe[1], &c, 1) < 0 && errno != EAGAIN)
		perror("write");
}

/* one request: posted, an event only if armed; taken within 2 s or stuck */
static void post(struct rig *g)
{
	atomic_fetch_add(&g->pending, 1);
	if (atomic_exchange(&g->armed, false))
		kick(g);
	for (int i = 0; i < 2000 && atomic_load(&g->pending); i++)
		sleep_ns(MS);
	if (atomic_load(&g->pending)) {
		g->stuck++;
		kick(g); /* wake it all the same: the test goes on */
	}
}

static void *producer(void *opaque)
{
	struct rig *g = opaque;

	/* a burst of requests 1 ms apart: the window grows to find them */
	for (int i = 0; i < 60; i++) {
		post(g);
		sleep_ns(MS);
	}
	/*
	 * then idle spells longer than the bound: it shrinks to none (two
	 * spells a halving, from at most 2.56 ms: 18; 24 for slack)
	 */
	for (int i = 0; i < 24; i++) {
		sleep_ns(30 * MS);
		post(g);
	}
	atomic_store(&g->done, true);
	kick(g);
	return NULL;
}

static void test_adaptive_loop(void)
{
	struct rig g = { .armed = true };
	struct pvb_poll_info pi;
	struct pvb_poller *p;
	pthread_t t;

	CU_ASSERT_EQUAL_FATAL(pvb_loop_new(&g.l), 0);
	CU_ASSERT_EQUAL_FATAL(pipe2(g.pipe, O_NONBLOCK | O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(pvb_watch_add(g.l, g.pipe[0], EPOLLIN, rig_event, &g, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(pvb_poller_add(g.l, rig_poll, rig_arm, &g, &p), 0);
	/* a bound far above the 1 ms gaps */
	pvb_loop_set_poll_adaptive(g.l, 20000);
	CU_ASSERT_FALSE(pvb_loop_polling(g.l));
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, producer, &g), 0);
	CU_ASSERT_EQUAL(pvb_loop_run(g.l), 0);
	pthread_join(t, NULL);
	pvb_loop_poll_info(g.l, &pi);
	if (g.stuck || !g.by_poll || g.window)
		fprintf(stderr,
			"adaptive: %u taken, %u by polling, %u by events, %u stuck; window %llu "
			"ns, %llu grows, %llu shrinks\n",
			g.taken, g.by_poll, g.by_event, g.stuck, (unsigned long long)g.window,
			(unsigned long long)pi.grows, (unsigned long long)pi.shrinks);
	/* no request waited for an event that was never asked for */
	CU_ASSERT_EQUAL(g.stuck, 0);
	CU_ASSERT_EQUAL(g.taken, 84);
	CU_ASSERT(pi.adaptive);
	CU_ASSERT_EQUAL(pi.max_ns, 20 * MS);
	/*
	 * the burst was found by polling, the window grew for it (unless this
	 * machine was so busy that the loop's CPU was taken away while it
	 * polled, and it held off)...
	 */
	CU_ASSERT(g.by_poll > 0 || pi.preempts > 0);
	CU_ASSERT(pi.grows > 0);
	/* ...and the idle spells took it back to none (the last one came by event) */
	CU_ASSERT(pi.shrinks > 0);
	CU_ASSERT_EQUAL(g.window, 0);
	pvb_poller_del(p);
	pvb_loop_free(g.l);
	close(g.pipe[0]);
	close(g.pipe[1]);
}

/*
 * A poller with work on every `every`-th pass (1: on each), `left` times;
 * the last one stops the loop.
 */
struct busy {
	struct pvb_loop *l;
	unsigned left, every, calls;
	int pipe[2];
};

static bool busy_poll(void *opaque)
{
	struct busy *b = opaque;

	if (!b->left || ++b->calls % b->every)
		return false;
	if (!--b->left)
		pvb_loop_stop(b->l);
	return true;
}

static bool busy_arm(void *opaque)
{
	return ((struct busy *)opaque)->left != 0;
}

/* A byte on the pipe starts the poller's work: 1000 calls with work. */
static void busy_start(void *opaque, uint32_t events)
{
	struct busy *b = opaque;
	char c;

	(void)events;
	while (read(b->pipe[0], &c, 1) > 0)
		;
	b->left = 1000;
}

/*
 * The clock can be a system call in a Xen PV guest.  Work back to back: each
 * window finds it on its first pass and reads no clock, whether the window
 * is fixed or adaptive.  Work 200 passes apart: a few reads per window
 * (one every 64 poller calls), not one per pass.
 */
static void test_window_clock(void)
{
	struct busy b = { .left = 1000, .every = 1 };
	struct pvb_poll_info pi;
	struct pvb_poller *p;

	CU_ASSERT_EQUAL_FATAL(pvb_loop_new(&b.l), 0);
	CU_ASSERT_EQUAL_FATAL(pvb_poller_add(b.l, busy_poll, busy_arm, &b, &p), 0);
	/* a window far longer than the test: it never ends */
	pvb_loop_set_poll_us(b.l, 10000000);
	CU_ASSERT_EQUAL(pvb_loop_run(b.l), 0);
	CU_ASSERT_EQUAL(b.left, 0);
	pvb_loop_poll_info(b.l, &pi);
	CU_ASSERT_EQUAL(pi.clock_reads, 0);

	b = (struct busy){ .l = b.l, .left = 50, .every = 200 };
	CU_ASSERT_EQUAL(pvb_loop_run(b.l), 0);
	CU_ASSERT_EQUAL(b.left, 0);
	pvb_loop_poll_info(b.l, &pi);
	if (pi.clock_reads < 50 || pi.clock_reads > 50 * 4)
		fprintf(stderr, "%llu clock reads for 50 windows of 200 passes\n",
			(unsigned long long)pi.clock_reads);
	CU_ASSERT(pi.clock_reads >= 50 && pi.clock_reads <= 50 * 4);
	pvb_poller_del(p);
	pvb_loop_free(b.l);

	/*
	 * Adaptive: one sleep, timed (two reads), that an event ends at once,
	 * so the window grows; then 1000 windows with work at once: no more.
	 */
	b = (struct busy){ .every = 1 };
	CU_ASSERT_EQUAL_FATAL(pvb_loop_new(&b.l), 0);
	CU_ASSERT_EQUAL_FATAL(pipe2(b.pipe, O_NONBLOCK | O_CLOEXEC), 0);
	CU_ASSERT_EQUAL_FATAL(pvb_watch_add(b.l, b.pipe[0], EPOLLIN, busy_start, &b, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(pvb_poller_add(b.l, busy_poll, busy_arm, &b, &p), 0);
	pvb_loop_set_poll_adaptive(b.l, 20000);
	CU_ASSERT_EQUAL(write(b.pipe[1], "x", 1), 1);
	CU_ASSERT_EQUAL(pvb_loop_run(b.l), 0);
	CU_ASSERT_EQUAL(b.left, 0);
	pvb_loop_poll_info(b.l, &pi);
	CU_ASSERT(pi.grows > 0);
	if (pi.clock_reads != 2)
		fprintf(stderr, "adaptive: %llu clock reads for one sleep and 1000 busy windows\n",
			(unsigned long long)pi.clock_reads);
	CU_ASSERT_EQUAL(pi.clock_reads, 2);
	pvb_poller_del(p);
	pvb_loop_free(b.l);
	close(b.pipe[0]);
	close(b.pipe[1]);
}

/* The hold after a preemption: 10 ms, doubled when it comes back soon, to 1 s. */
static void test_preempted_rule(void)
{
	uint64_t hold = 0, until = 0, t = 5000 * MS;

	pvb_poll_preempted(t, &hold, &until);
	CU_ASSERT_EQUAL(hold, PVB_POLL_HOLD_MIN_NS);
	CU_ASSERT_EQUAL(until, t + 10 * MS);
	/* again within a hold's length after it ended: twice as long */
	t = until + 9 * MS;
	pvb_poll_preempted(t, &hold, &until);
	CU_ASSERT_EQUAL(hold, 20 * MS);
	CU_ASSERT_EQUAL(until, t + 20 * MS);
	/* and so on, never beyond the bound */
	for (int i = 0; i < 20; i++)
		pvb_poll_preempted(until + MS, &hold, &until);
	CU_ASSERT_EQUAL(hold, PVB_POLL_HOLD_MAX_NS);
	/* long after the last hold: from the start again */
	t = until + PVB_POLL_HOLD_MAX_NS + 1;
	pvb_poll_preempted(t, &hold, &until);
	CU_ASSERT_EQUAL(hold, PVB_POLL_HOLD_MIN_NS);
	CU_ASSERT_EQUAL(until, t + 10 * MS);
}

/*
 * A loop whose pipe is always readable, so each window runs out and the
 * next sleep ends at once: an adaptive window grows.  Once it is 1 ms or
 * more, one poller call takes 3 ms (the CPU taken away): the window ends,
 * polling stops for the hold, then grows again.  A fixed window only counts.
 */
struct preempt_rig {
	struct pvb_loop *l;
	int pipe[2];
	unsigned calls, late;	 /* calls in the window; windows seen during the hold */
	bool stalled, held_seen; /* held_seen: stats said "held" during the hold */
	uint64_t stalled_at, regrown_at, deadline;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool preempt_poll(void *opaque)
{
	struct preempt_rig *r = opaque;
	struct pvb_poll_info pi;

	pvb_loop_poll_info(r->l, &pi);
	if (!r->stalled && pi.window_ns >= MS && ++r->calls == 200) {
		r->stalled = true;
		r->stalled_at = now_ns();
		sleep_ns(3 * MS);
	}
	return false;
}

static bool preempt_arm(void *opaque)
{
	(void)opaque;
	return false;
}

static void preempt_wake(void *opaque, uint32_t events)
{
	struct preempt_rig *r = opaque;
	struct pvb_poll_info pi;
	uint64_t now = now_ns();

	(void)events;
	pvb_loop_poll_info(r->l, &pi);
	r->calls = 0;
	if (now > r->deadline) {
		pvb_loop_stop(r->l);
	} else if (r->stalled && !pi.window_ns) {
		if (pi.held)
			r->held_seen = true;
	} else if (r->stalled && pi.window_ns) {
		CU_ASSERT_FALSE(pi.held);
		if (now < r->stalled_at + PVB_POLL_HOLD_MIN_NS)
			r->late++; /* polling during the hold */
		else if (!r->regrown_at)
			r->regrown_at = now;
		if (pi.window_ns >= MS)
			pvb_loop_stop(r->l); /* grown back: done */
	}
}

static void test_preempted_loop(void)
{
	struct preempt_rig r = { 0 };
	struct pvb_poll_info pi;
	struct pvb_poller *p;

	CU_ASSERT_EQUAL_FATAL(pvb_loop_new(&r.l), 0);
	CU_ASSERT_EQUAL_FATAL(pipe2(r.pipe, O_NONBLOCK | O_CLOEXEC), 0);
	CU_ASSERT_EQUAL(write(r.pipe[1], "x", 1), 1); /* never read: always readable */
	CU_ASSERT_EQUAL_FATAL(pvb_watch_add(r.l, r.pipe[0], EPOLLIN, preempt_wake, &r, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(pvb_poller_add(r.l, preempt_poll, preempt_arm, &r, &p), 0);
	pvb_loop_set_poll_adaptive(r.l, 2000);
	r.deadline = now_ns() + 5000 * MS;
	CU_ASSERT_EQUAL(pvb_loop_run(r.l), 0);
	pvb_loop_poll_info(r.l, &pi);
	if (!r.stalled || !r.regrown_at || r.late || !pi.preempts)
		fprintf(stderr,
			"preempted: stalled %d, regrown after %lld ns, %u windows in the "
			"hold, %llu preempts\n",
			r.stalled, r.regrown_at ? (long long)(r.regrown_at - r.stalled_at) : -1LL,
			r.late, (unsigned long long)pi.preempts);
	CU_ASSERT_TRUE(r.stalled);
	CU_ASSERT(pi.preempts >= 1);
	/* no window during the hold (another preemption only lengthens it) */
	CU_ASSERT_EQUAL(r.late, 0);
	CU_ASSERT_TRUE(r.held_seen);
	/* polling came back after it */
	CU_ASSERT(r.regrown_at != 0);

	/* a fixed window: counted, kept */
	r.stalled = false;
	r.calls = 0;
	pvb_loop_set_poll_us(r.l, 5000);
	r.deadline = now_ns() + 100 * MS;
	CU_ASSERT_EQUAL(pvb_loop_run(r.l), 0);
	CU_ASSERT_TRUE(r.stalled);
	pvb_loop_poll_info(r.l, &pi);
	CU_ASSERT(pi.preempts >= 2);
	CU_ASSERT_EQUAL(pi.window_ns, 5000 * US);
	CU_ASSERT_FALSE(pi.held);
	pvb_poller_del(p);
	pvb_loop_free(r.l);
	close(r.pipe[0]);
	close(r.pipe[1]);
}

/*
 * The wake after a preempted window comes after its hold is over (the
 * daemon slept 20 ms, the hold was 10): the window is 0 all the same, not
 * kept as a long sleep would keep it (a busy machine that preempts every
 * window would otherwise never shrink it).
 */
struct late_rig {
	struct preempt_rig r;
	int tfd;
	bool fired;
	uint64_t window_at_wake;
};

static bool late_poll(void *opaque)
{
	struct late_rig *lr = opaque;
	struct pvb_poll_info pi;
	char buf[16];

	pvb_loop_poll_info(lr->r.l, &pi);
	if (!lr->r.stalled && pi.window_ns >= MS && ++lr->r.calls == 200) {
		struct itimerspec its = { .it_value = { .tv_nsec = 20 * 1000000L } };

		lr->r.stalled = true;
		while (read(lr->r.pipe[0], buf, sizeof(buf)) > 0)
			; /* nothing wakes the loop now but the timer */
		CU_ASSERT_EQUAL(timerfd_settime(lr->tfd, 0, &its, NULL), 0);
		sleep_ns(3 * MS);
	}
	return false;
}

static void late_wake(void *opaque, uint32_t events)
{
	struct late_rig *lr = opaque;

	(void)events;
	lr->r.calls = 0;
	if (now_ns() > lr->r.deadline)
		pvb_loop_stop(lr->r.l);
}

static void late_timer(void *opaque, uint32_t events)
{
	struct late_rig *lr = opaque;
	struct pvb_poll_info pi;
	uint64_t n;

	(void)events;
	if (read(lr->tfd, &n, sizeof(n)) < 0)
		return;
	pvb_loop_poll_info(lr->r.l, &pi);
	lr->fired = true;
	lr->window_at_wake = pi.window_ns;
	pvb_loop_stop(lr->r.l);
}

static void test_preempted_late_wake(void)
{
	struct late_rig lr = { .tfd = -1 };
	struct pvb_poll_info pi;
	struct pvb_poller *p;

	CU_ASSERT_EQUAL_FATAL(pvb_loop_new(&lr.r.l), 0);
	CU_ASSERT_EQUAL_FATAL(pipe2(lr.r.pipe, O_NONBLOCK | O_CLOEXEC), 0);
	lr.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	CU_ASSERT_FATAL(lr.tfd >= 0);
	CU_ASSERT_EQUAL(write(lr.r.pipe[1], "x", 1), 1); /* readable until the stall */
	CU_ASSERT_EQUAL_FATAL(pvb_watch_add(lr.r.l, lr.r.pipe[0], EPOLLIN, late_wake, &lr, NULL),
			      0);
	CU_ASSERT_EQUAL_FATAL(pvb_watch_add(lr.r.l, lr.tfd, EPOLLIN, late_timer, &lr, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(pvb_poller_add(lr.r.l, late_poll, preempt_arm, &lr, &p), 0);
	pvb_loop_set_poll_adaptive(lr.r.l, 2000);
	lr.r.deadline = now_ns() + 5000 * MS;
	CU_ASSERT_EQUAL(pvb_loop_run(lr.r.l), 0);
	pvb_loop_poll_info(lr.r.l, &pi);
	if (!lr.fired || lr.window_at_wake)
		fprintf(stderr, "late wake: stalled %d, fired %d, window %llu ns, %llu preempts\n",
			lr.r.stalled, lr.fired, (unsigned long long)lr.window_at_wake,
			(unsigned long long)pi.preempts);
	CU_ASSERT_TRUE(lr.r.stalled);
	CU_ASSERT_TRUE(lr.fired);
	CU_ASSERT(pi.preempts >= 1);
	CU_ASSERT_EQUAL(lr.window_at_wake, 0);
	pvb_poller_del(p);
	pvb_loop_free(lr.r.l);
	close(lr.tfd);
	close(lr.r.pipe[0]);
	close(lr.r.pipe[1]);
}

/* A fixed window: polls from the start, never adapts. */
static void test_fixed(void)
{
	struct pvb_loop *l;
	struct pvb_poll_info pi;

	CU_ASSERT_EQUAL_FATAL(pvb_loop_new(&l), 0);
	pvb_loop_set_poll_us(l, 300);
	CU_ASSERT_TRUE(pvb_loop_polling(l));
	pvb_loop_poll_info(l, &pi);
	CU_ASSERT_FALSE(pi.adaptive);
	CU_ASSERT_EQUAL(pi.window_ns, 300 * US);
	CU_ASSERT_EQUAL(pi.max_ns, 300 * US);
	pvb_loop_set_poll_us(l, 0);
	CU_ASSERT_FALSE(pvb_loop_polling(l));
	pvb_loop_free(l);
}

/* ---- uwaits: fds waited for where the loop sleeps, in its io_uring or epoll set ---- */

struct uw {
	struct pvb_loop *l;
	struct pvb_uwait *u;
	int pipe[2];
	char got[64];
	size_t ngot;
	int calls, errors, last_err;
	int switch_after; /* calls after which the fn moves the loop to epoll (0: never) */
	int polls;	  /* len 0: the events seen */
};

static void uw_read(void *opaque, const void *buf, int res)
{
	struct uw *t = opaque;

	t->calls++;
	if (res < 0) {
		t->errors++;
		t->last_err = res;
		pvb_uwait_del(t->u); /* the fd keeps polling readable: enough */
		pvb_loop_stop(t->l);
		return;
	}
	CU_ASSERT_TRUE(res > 0 && t->ngot + (size_t)res <= sizeof(t->got));
	if (res > 0 && t->ngot + (size_t)res <= sizeof(t->got)) {
		memcpy(t->got + t->ngot, buf, (size_t)res);
		t->ngot += (size_t)res;
	}
	if (t->switch_after && t->calls == t->switch_after)
		CU_ASSERT_EQUAL(pvb_loop_set_wait(t->l, PVB_WAIT_EPOLL), 0);
	if (t->ngot >= 12)
		pvb_loop_stop(t->l);
}

/* The writer: a timer that puts 4 bytes in the pipe each time it fires. */
static void uw_write(void *opaque)
{
	struct uw *t = opaque;
	static const char *parts[] = { "abcd", "efgh", "ijkl" };
	int k = t->calls < 3 ? t->calls : 2;

	CU_ASSERT_EQUAL(write(t->pipe[1], parts[k], 4), 4);
}

static void uw_setup(struct uw *t, enum pvb_wait_mode mode)
{
	memset(t, 0, sizeof(*t));
	CU_ASSERT_EQUAL_FATAL(pvb_loop_new(&t->l), 0);
	CU_ASSERT_EQUAL_FATAL(pvb_loop_set_wait(t->l, mode), 0);
	CU_ASSERT_EQUAL_FATAL(pipe2(t->pipe, O_NONBLOCK | O_CLOEXEC), 0);
}

static void uw_teardown(struct uw *t)
{
	pvb_uwait_del(t->u);
	pvb_loop_free(t->l);
	close(t->pipe[0]);
	close(t->pipe[1]);
}

/*
 * Reads through the loop, each write seen whole and in order, the loop
 * asleep between writes (woken by the pipe in the ring, or by the timer's
 * fd through the epoll set polled in the ring).
 */
static void uw_reads(enum pvb_wait_mode mode, int switch_after)
{
	struct uw t;
	struct pvb_timer *tm;
	struct pvb_wait_info wi;

	uw_setup(&t, mode);
	t.switch_after = switch_after;
	CU_ASSERT_EQUAL_FATAL(pvb_uwait_add(t.l, t.pipe[0], 16, uw_read, &t, &t.u), 0);
	CU_ASSERT_EQUAL_FATAL(pvb_timer_add(t.l, 5, 5, uw_write, &t, &tm), 0);
	CU_ASSERT_EQUAL(pvb_loop_run(t.l), 0);
	CU_ASSERT_EQUAL(t.ngot, 12);
	CU_ASSERT_EQUAL(memcmp(t.got, "abcdefghijkl", 12), 0);
	CU_ASSERT_EQUAL(t.calls, 3);
	pvb_loop_wait_info(t.l, &wi);
	CU_ASSERT_TRUE(wi.sleeps >= 3);
	CU_ASSERT_EQUAL(wi.fallbacks, 0);
	if (mode == PVB_WAIT_EPOLL) {
		CU_ASSERT_EQUAL(wi.mode, PVB_WAIT_EPOLL);
		CU_ASSERT_EQUAL(wi.ring_ops, 0);
	} else if (switch_after) {
		CU_ASSERT_EQUAL(wi.mode, PVB_WAIT_EPOLL);
		CU_ASSERT_TRUE(wi.ring_ops >= 1);
	} else {
		CU_ASSERT_EQUAL(wi.mode, PVB_WAIT_URING);
		CU_ASSERT_EQUAL(wi.ring_ops, 3); /* the reads, each done in the ring */
	}
	pvb_timer_del(tm);
	uw_teardown(&t);
}

static void test_uwait_ring(void)
{
	uw_reads(PVB_WAIT_URING, 0);
}

static void test_uwait_epoll(void)
{
	uw_reads(PVB_WAIT_EPOLL, 0);
}

/* From the ring to the epoll set inside a callback: nothing lost, nothing twice. */
static void test_uwait_switch(void)
{
	uw_reads(PVB_WAIT_URING, 1);
}

/* len 0: the events, nothing read; the owner drains. */
static void uw_poll(void *opaque, const void *buf, int res)
{
	struct uw *t = opaque;
	char c[8];

	CU_ASSERT_PTR_NULL(buf);
	CU_ASSERT_TRUE(res & EPOLLIN);
	t->polls++;
	CU_ASSERT_EQUAL(read(t->pipe[0], c, sizeof(c)), 1);
	if (t->polls == 2)
		pvb_loop_stop(t->l);
	else
		CU_ASSERT_EQUAL(write(t->pipe[1], "y", 1), 1);
}

static void uw_polls(enum pvb_wait_mode mode)
{
	struct uw t;

	uw_setup(&t, mode);
	CU_ASSERT_EQUAL_FATAL(pvb_uwait_add(t.l, t.pipe[0], 0, uw_poll, &t, &t.u), 0);
	CU_ASSERT_EQUAL(write(t.pipe[1], "x", 1), 1);
	CU_ASSERT_EQUAL(pvb_loop_run(t.l), 0);
	CU_ASSERT_EQUAL(t.polls, 2);
	uw_teardown(&t);
}

static void test_uwait_poll(void)
{
	uw_polls(PVB_WAIT_URING);
	uw_polls(PVB_WAIT_EPOLL);
}

/*
 * A read the ring cannot make (an epoll fd polls readable but refuses
 * read(): EINVAL): the uwait moves to the epoll set, whose read() reports
 * the fd's own error to the owner.
 */
static void test_uwait_fallback(void)
{
	struct uw t;
	struct pvb_wait_info wi;
	int ep, pr[2];
	struct epoll_event ev = { .events = EPOLLIN };

	uw_setup(&t, PVB_WAIT_URING);
	ep = epoll_create1(EPOLL_CLOEXEC);
	CU_ASSERT_FATAL(ep >= 0);
	CU_ASSERT_EQUAL_FATAL(pipe2(pr, O_NONBLOCK | O_CLOEXEC), 0);
	CU_ASSERT_EQUAL(epoll_ctl(ep, EPOLL_CTL_ADD, pr[0], &ev), 0);
	CU_ASSERT_EQUAL(write(pr[1], "z", 1), 1);
	CU_ASSERT_EQUAL_FATAL(pvb_uwait_add(t.l, ep, 16, uw_read, &t, &t.u), 0);
	CU_ASSERT_EQUAL(pvb_loop_run(t.l), 0);
	CU_ASSERT_EQUAL(t.errors, 1);
	CU_ASSERT_EQUAL(t.last_err, -EINVAL);
	pvb_loop_wait_info(t.l, &wi);
	CU_ASSERT_EQUAL(wi.fallbacks, 1);
	CU_ASSERT_EQUAL(wi.mode, PVB_WAIT_URING); /* the loop itself still sleeps in the ring */
	t.u = NULL;				  /* deleted by uw_read */
	uw_teardown(&t);
	close(ep);
	close(pr[0]);
	close(pr[1]);
}

/*
 * On demand: an fd that polls readable all along (a byte never read) is
 * reported only after pvb_uwait_arm(), once per arm; without one the loop
 * sleeps through it.
 */
struct od {
	struct uw t;
	int ticks, armed_at, polled_at[4], npolled;
};

static void od_poll(void *opaque, const void *buf, int res)
{
	struct od *o = opaque;

	(void)buf;
	CU_ASSERT_TRUE(res & EPOLLIN);
	if (o->npolled < 4)
		o->polled_at[o->npolled] = o->ticks;
	o->npolled++;
}

static void od_tick(void *opaque)
{
	struct od *o = opaque;

	o->ticks++;
	if (o->ticks == 2 || o->ticks == 5)
		pvb_uwait_arm(o->t.u);
	if (o->ticks == 8)
		pvb_loop_stop(o->t.l);
}

static void test_uwait_on_demand(void)
{
	struct od o = { 0 };
	struct pvb_timer *tm;

	uw_setup(&o.t, PVB_WAIT_URING);
	CU_ASSERT_EQUAL(write(o.t.pipe[1], "x", 1), 1);
	CU_ASSERT_EQUAL_FATAL(pvb_uwait_add(o.t.l, o.t.pipe[0], 0, od_poll, &o, &o.t.u), 0);
	pvb_uwait_on_demand(o.t.u);
	CU_ASSERT_EQUAL_FATAL(pvb_timer_add(o.t.l, 3, 3, od_tick, &o, &tm), 0);
	CU_ASSERT_EQUAL(pvb_loop_run(o.t.l), 0);
	/* once after each arm, in the round that armed it, never before the first */
	CU_ASSERT_EQUAL(o.npolled, 2);
	CU_ASSERT_EQUAL(o.polled_at[0], 2);
	CU_ASSERT_EQUAL(o.polled_at[1], 5);
	pvb_timer_del(tm);
	uw_teardown(&o.t);
}

/* Bad arguments; a uwait deleted before the loop ever ran. */
static void test_uwait_args(void)
{
	struct uw t;
	struct pvb_uwait *u;

	uw_setup(&t, PVB_WAIT_URING);
	CU_ASSERT_EQUAL(pvb_uwait_add(t.l, -1, 8, uw_read, &t, &u), -EINVAL);
	CU_ASSERT_EQUAL(pvb_uwait_add(t.l, t.pipe[0], 8, NULL, &t, &u), -EINVAL);
	CU_ASSERT_EQUAL(pvb_uwait_add(t.l, t.pipe[0], 8, uw_read, &t, &u), 0);
	pvb_uwait_del(u);
	pvb_uwait_del(NULL);
	uw_teardown(&t);
}

int main(void)
{
	static const struct cunit_test tests[] = {
		{ "adaptive window: grow, keep, shrink", test_rule },
		{ "system call cost", test_syscall_cost },
		{ "adaptive loop: polls a burst, sleeps armed, shrinks when idle",
		  test_adaptive_loop },
		{ "fixed window", test_fixed },
		{ "back-to-back work: windows read no clock", test_window_clock },
		{ "preempted: the hold's rule", test_preempted_rule },
		{ "preempted: an adaptive window holds off, a fixed one counts",
		  test_preempted_loop },
		{ "preempted: the window is 0 at the next wake, even after the hold",
		  test_preempted_late_wake },
		{ "uwait: reads in the io_uring", test_uwait_ring },
		{ "uwait: reads in the epoll set", test_uwait_epoll },
		{ "uwait: io_uring to epoll inside a callback", test_uwait_switch },
		{ "uwait: polls, both ways", test_uwait_poll },
		{ "uwait: an fd the io_uring cannot read falls back", test_uwait_fallback },
		{ "uwait: arguments, deleted unused", test_uwait_args },
		{ "uwait: on demand, once per arm", test_uwait_on_demand },
	};

	return CUNIT_MAIN("pvb_loop polling", NULL, NULL, tests);
}
