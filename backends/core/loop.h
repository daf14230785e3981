/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pvb_loop: the backends' event loop.  One epoll set, fd watches with a
 * callback each, one-shot or periodic timers (timerfd), and "after batch"
 * work that runs once every ready fd of an epoll round has been handled
 * (where a ring's queued I/O is submitted in one go).  It sleeps in an
 * io_uring of its own, the epoll set polled there, along with the fds
 * whose wait and read can be made by the kernel (uwaits: the event
 * channel's), or in epoll_wait() (pvb_loop_set_wait()).
 * Single-threaded; no global state; returns -errno.
 */
#ifndef PVSPLIT_BACK_LOOP_H
#define PVSPLIT_BACK_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct pvb_loop;
struct pvb_watch;
struct pvb_timer;

typedef void (*pvb_io_fn)(void *opaque, uint32_t events);
typedef void (*pvb_timer_fn)(void *opaque);
typedef void (*pvb_defer_fn)(void *opaque);

int pvb_loop_new(struct pvb_loop **out);
void pvb_loop_free(struct pvb_loop *l);

/* Run until pvb_loop_stop() or a signal in sigs (blocked and read through a signalfd). */
int pvb_loop_run(struct pvb_loop *l);
void pvb_loop_stop(struct pvb_loop *l);

/*
 * Watch fd for events (EPOLLIN, EPOLLOUT...).  fn runs with the events seen.
 * The watch may be removed from inside any callback.
 */
int pvb_watch_add(struct pvb_loop *l, int fd, uint32_t events, pvb_io_fn fn, void *opaque,
		  struct pvb_watch **out);
int pvb_watch_mod(struct pvb_watch *w, uint32_t events);
void pvb_watch_del(struct pvb_watch *w);

/*
 * An fd waited for where the loop sleeps.  By default the loop sleeps in an
 * io_uring of its own (its epoll set polled through it): a uwait is then
 * part of that wait, and a read uwait's read() is made by the kernel once
 * the fd is readable, so the wakeup and the read cost no system call of
 * their own (two fewer per event than epoll_wait() and read(): each is tens
 * of microseconds in a PV dom0).  Without the io_uring (pvb_loop_set_wait(),
 * or a kernel that refuses it), a uwait is an ordinary watch and the loop
 * makes the read() itself.  Either way:
 *   len > 0   read(fd, buf, len) once fd is readable, into a buffer of the
 *             uwait's own (it outlives the owner's pvb_uwait_del() until the
 *             kernel is done with it); fn gets buf and the read's result
 *             (bytes, or -errno; never -EAGAIN);
 *   len == 0  fn gets the poll's events (EPOLLIN...) once fd is readable
 *             (buf NULL) and nothing is read: the owner must drain fd, or
 *             fn runs again.
 * Waited for again after each fn, until pvb_uwait_del() (which may be called
 * from inside any callback).  An io_uring operation that fails (an old
 * kernel, an fd that io_uring cannot read) makes that uwait an ordinary
 * watch from then on (pvb_wait_info.fallbacks), transparently.  fd must be
 * non-blocking.  Returns 0 or -errno.
 */
struct pvb_uwait;
typedef void (*pvb_uwait_fn)(void *opaque, const void *buf, int res);
int pvb_uwait_add(struct pvb_loop *l, int fd, uint32_t len, pvb_uwait_fn fn, void *opaque,
		  struct pvb_uwait **out);
void pvb_uwait_del(struct pvb_uwait *w);
/*
 * On demand: in the io_uring, u is waited for only after pvb_uwait_arm(),
 * once (until fn runs; fn or anything after may arm it again).  For an fd
 * that polls readable while its owner is busy with it and is worth a wakeup
 * only sometimes: an io_uring's own fd, readable from the moment a
 * completion is posted inline, during the submission, until it is reaped,
 * and worth waiting for only while operations are outstanding.  In the
 * epoll set (PVB_WAIT_EPOLL, a fallback) it is always watched.
 */
void pvb_uwait_on_demand(struct pvb_uwait *u);
void pvb_uwait_arm(struct pvb_uwait *u);

enum pvb_wait_mode { PVB_WAIT_URING, PVB_WAIT_EPOLL };
/*
 * Where the loop sleeps: PVB_WAIT_URING (the default, if the kernel gives
 * an io_uring) or PVB_WAIT_EPOLL (epoll_wait(), uwaits as watches).  May be
 * called at any time, from inside a callback too (a read the io_uring made
 * before the switch is still delivered).  Returns 0, or -errno when the
 * io_uring cannot be made (then the loop stays as it was).
 */
int pvb_loop_set_wait(struct pvb_loop *l, enum pvb_wait_mode mode);

struct pvb_wait_info {
	enum pvb_wait_mode mode;
	uint64_t sleeps;    /* times the loop blocked (either way) */
	uint64_t ring_ops;  /* uwait operations completed in the io_uring */
	uint64_t fallbacks; /* uwaits moved to the epoll set after an io_uring error */
};
void pvb_loop_wait_info(const struct pvb_loop *l, struct pvb_wait_info *out);

/* A timer firing after ms, then every period_ms (0: once). */
int pvb_timer_add(struct pvb_loop *l, uint64_t ms, uint64_t period_ms, pvb_timer_fn fn,
		  void *opaque, struct pvb_timer **out);
int pvb_timer_set(struct pvb_timer *t, uint64_t ms, uint64_t period_ms);
void pvb_timer_del(struct pvb_timer *t);

/*
 * Run fn(opaque) once at the end of the current epoll round (or of the next
 * one, if called outside a round).  Deferring the same fn/opaque twice in
 * one round runs it once.  -ENOMEM.
 */
int pvb_loop_defer(struct pvb_loop *l, pvb_defer_fn fn, void *opaque);
/* Forget a deferred call (an object being freed). */
void pvb_loop_undefer(struct pvb_loop *l, void *opaque);

/*
 * Busy polling, off unless pvb_loop_set_poll_us() or
 * pvb_loop_set_poll_adaptive() turns it on: before it would block, the loop
 * calls every poller's poll() again and again for up to a window.  poll()
 * handles what it can see without a system call (a shared ring's indices, an
 * io_uring completion queue) and returns true if it found work; the loop then
 * polls again, looking at its fds (without waiting) every few windows.  While
 * a window finds nothing it yields the CPU to anything else runnable every
 * 50 us.  When a window passes without work, each poller's arm() turns its
 * notifications back on and returns true if work came meanwhile (polling goes
 * on), and the loop blocks.  A poller's owner asks pvb_loop_polling() whether
 * to leave notifications off between windows (the answer changes only when
 * the loop wakes from blocking, before it runs any callback).  One CPU spins
 * for up to the window after each burst of work: the price of not sleeping
 * and being woken for each request.
 */
struct pvb_poller;
typedef bool (*pvb_poll_fn)(void *opaque);

int pvb_poller_add(struct pvb_loop *l, pvb_poll_fn poll, pvb_poll_fn arm, void *opaque,
		   struct pvb_poller **out);
/* Remove a poller; may be called from inside any callback, its own poll() too. */
void pvb_poller_del(struct pvb_poller *p);
/* A fixed polling window in microseconds (0: never poll, the default). */
void pvb_loop_set_poll_us(struct pvb_loop *l, uint32_t us);
/*
 * An adaptive window, between 0 and max_us (as KVM's halt polling): it
 * starts at 0, grows (to PVB_POLL_GROW_START_NS, then doubling) after each
 * sleep that a window of max_us would have ended, and halves after every
 * PVB_POLL_SHRINK_AFTER sleeps in a row longer than max_us; below
 * PVB_POLL_GROW_START_NS it is 0.  An idle loop comes to sleep soon; one
 * whose work comes back within max_us after each burst polls for it, and
 * keeps its window through a single late one.
 */
void pvb_loop_set_poll_adaptive(struct pvb_loop *l, uint32_t max_us);
#define PVB_POLL_GROW_START_NS 10000ull
#define PVB_POLL_SHRINK_AFTER  2u
/*
 * The adaptive rule: the next window after a sleep of idle_ns (window and
 * max in ns); *long_sleeps counts the sleeps in a row longer than max (the
 * caller keeps it, starting at 0, and passes it to every call).
 */
uint64_t pvb_poll_next_window(uint64_t window, uint64_t max, uint64_t idle_ns,
			      unsigned *long_sleeps);
/*
 * A polling window in which the CPU was taken away for longer than
 * PVB_POLL_PREEMPT_NS between two looks at the clock (the hypervisor ran
 * another vCPU, the host under an emulated machine another thread, or a
 * yield another task) was spinning on a CPU something else wants: when
 * busy, spinning delays that other work, perhaps the guest's own vCPU, and
 * polling's answers come a time slice late.  An adaptive window ends, goes
 * to 0 and stays there until *until: a hold of PVB_POLL_HOLD_MIN_NS,
 * doubled up to PVB_POLL_HOLD_MAX_NS when the preemption (at now) came
 * within one hold's length after the previous hold ended.  Then it grows
 * again by the rule above.  (The caller keeps *hold_ns and *until, both
 * starting at 0.)  A fixed window is only counted (pvb_poll_info.preempts).
 */
void pvb_poll_preempted(uint64_t now, uint64_t *hold_ns, uint64_t *until);
#define PVB_POLL_PREEMPT_NS  500000ull
#define PVB_POLL_HOLD_MIN_NS 10000000ull
#define PVB_POLL_HOLD_MAX_NS 1000000000ull
/*
 * The cost of one system call here in ns (the least of a few timed batches
 * of getppid()): what an adaptive window's bound can be scaled from.
 */
uint64_t pvb_syscall_cost_ns(void);
bool pvb_loop_polling(const struct pvb_loop *l);

struct pvb_poll_info {
	bool adaptive;
	uint64_t window_ns; /* now */
	uint64_t max_ns;    /* the fixed window, or the adaptive bound */
	uint64_t grows, shrinks;
	/*
	 * Clock reads for polling: a window looks at the clock every 64
	 * poller calls, not at all if it finds work first; the adaptive mode
	 * times each sleep (from the window's first read, if one ran out).
	 * (clock_gettime() can be a system call in a Xen PV guest.)
	 */
	uint64_t clock_reads;
	uint64_t preempts; /* windows in which the CPU was taken away */
	bool held;	   /* adaptive: the window is 0 for a hold after a preemption */
};
void pvb_loop_poll_info(const struct pvb_loop *l, struct pvb_poll_info *out);

/* Add signals that end pvb_loop_run() (e.g. SIGTERM, SIGINT); they are blocked. */
int pvb_loop_stop_on_signal(struct pvb_loop *l, int sig);
/* Call fn when sig arrives (e.g. SIGHUP); the signal is blocked. */
int pvb_loop_on_signal(struct pvb_loop *l, int sig, pvb_defer_fn fn, void *opaque);

#endif
