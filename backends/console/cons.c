// SPDX-License-Identifier: LGPL-2.1-or-later
/* One console: ring <-> pty, log, replay buffer. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/console.h>

#include "cons.h"

#define DEFAULT_LIMIT (1u << 20)
#define STORM_EVENTS  2000 /* events without data in one second */
/* A storm that goes on: this many within STORM_SPAN_MS disable the console. */
#define STORM_DISABLE 3
#define STORM_SPAN_MS 10000

/* A byte FIFO with a cap: appending beyond it drops the oldest bytes. */
struct fifo {
	char *buf;
	size_t cap, head, len;
};

struct cons {
	struct cons_params p;
	struct cons_hooks hooks;
	struct pvhv *hv;
	struct pvb_loop *loop;
	struct pvb_evtchn *ev;
	struct xencons_interface *ring;
	bool ring_granted; /* mapped by grant (else foreign) */
	int port;
	XENCONS_RING_IDX out_cons, in_prod; /* ours: never read back from the page */
	int master;
	char tty[64];
	struct pvb_watch *w;
	bool attached;
	bool in_blocked;     /* the guest's input ring is full: stop reading the pty */
	struct fifo pending; /* for the pty */
	struct fifo replay;
	int logfd;
	char *log_path;
	uint64_t log_size;
	bool line_start;
	bool log_failing;  /* the last write to the log failed */
	uint64_t log_lost; /* output the log could not take */
	/* A rotation failed: the log is written on and tried again at this size. */
	uint64_t rotate_retry_at;
	bool disabled;
	/* rate limit and storm detection */
	uint64_t window_start;
	uint32_t window_events, window_empty;
	bool held;
	uint64_t hold_until;
	uint64_t storm_since; /* the first storm of the current run of them */
	uint32_t storm_run;
	/* counters */
	uint64_t bytes_out, bytes_in, events, dropped, rotations, rotate_failures, storms,
		rate_holds;
};

static void cons_logf(struct cons *c, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void cons_logf(struct cons *c, int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!c->hooks.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->hooks.log(c->hooks.opaque, level, msg);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- fifos ---- */

static int fifo_init(struct fifo *f, size_t cap)
{
	f->cap = cap;
	f->head = f->len = 0;
	f->buf = cap ? malloc(cap) : NULL;
	return cap && !f->buf ? -ENOMEM : 0;
}

/* Append; the oldest bytes go when full.  Returns the bytes dropped. */
static size_t fifo_put(struct fifo *f, const char *p, size_t n)
{
	size_t dropped = 0;

	if (!f->cap)
		return n;
	if (n > f->cap) {
		dropped += n - f->cap;
		p += n - f->cap;
		n = f->cap;
	}
	if (f->len + n > f->cap) {
		size_t drop = f->len + n - f->cap;

		f->head = (f->head + drop) % f->cap;
		f->len -= drop;
		dropped += drop;
	}
	for (size_t i = 0; i < n;) {
		size_t tail = (f->head + f->len) % f->cap;
		size_t k = f->cap - tail < n - i ? f->cap - tail : n - i;

		memcpy(f->buf + tail, p + i, k);
		f->len += k;
		i += k;
	}
	return dropped;
}

/* The longest contiguous run at the head. */
static size_t fifo_peek(const struct fifo *f, const char **p)
{
	*p = f->buf + f->head;
	return f->len < f->cap - f->head ? f->len : f->cap - f->head;
}

static void fifo_drop(struct fifo *f, size_t n)
{
	f->head = (f->head + n) % f->cap;
	f->len -= n;
	if (!f->len)
		f->head = 0;
}

/* ---- the log ---- */

static void log_open(struct cons *c)
{
	struct stat st;

	if (!c->log_path)
		return;
	c->logfd = open(c->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (c->logfd < 0) {
		cons_logf(c, 3, "cannot open log %s: %s", c->log_path, strerror(errno));
		return;
	}
	c->log_size = fstat(c->logfd, &st) ? 0 : (uint64_t)st.st_size;
	c->line_start = true;
	c->rotate_retry_at = 0; /* a reopened log may rotate at once */
}

static void log_close(struct cons *c)
{
	if (c->logfd >= 0)
		close(c->logfd);
	c->logfd = -1;
}

void cons_reopen_log(struct cons *c)
{
	log_close(c);
	log_open(c);
}

/* rename() that never replaces a file (0, or -1 with errno: EEXIST when one is there). */
static int move_noreplace(const char *from, const char *to)
{
	struct stat st;

	if (!renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE))
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A file system without the flag: the daemon is the one writer of its log dir. */
	if (!lstat(to, &st)) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

/*
 * log -> log.1 -> ... -> log.<keep>; the oldest falls off.  The log moves
 * aside first (to log.rotating, never over a file already there), so one
 * that cannot move (an append-only file, a read-only directory, a
 * log.rotating left behind) costs none of the older files: it is written
 * on, and tried again after each further rotate-size of output (said once
 * per spell, counted).  Older files that are missing are no failure; a
 * log.rotating that cannot become log.1 is left there, said and counted.
 */
static void rotate(struct cons *c)
{
	size_t n = strlen(c->log_path) + 16;
	char *from = malloc(n), *to = malloc(n);
	const char *what = "rename";
	int err = 0;

	if (!from || !to) {
		err = ENOMEM;
	} else if (!c->p.rotate_keep) {
		what = "unlink";
		if (unlink(c->log_path))
			err = errno;
	} else {
		snprintf(from, n, "%s.rotating", c->log_path);
		if (move_noreplace(c->log_path, from))
			err = errno;
	}
	if (!err && c->p.rotate_keep) {
		for (unsigned i = c->p.rotate_keep; i > 1; i--) {
			snprintf(from, n, "%s.%u", c->log_path, i - 1);
			snprintf(to, n, "%s.%u", c->log_path, i);
			rename(from, to);
		}
		snprintf(from, n, "%s.rotating", c->log_path);
		snprintf(to, n, "%s.1", c->log_path);
		if (rename(from, to)) {
			cons_logf(c, 3, "log %s: rotated to %s, which cannot become %s: %s",
				  c->log_path, from, to, strerror(errno));
			c->rotate_failures++;
		}
	}
	if (err) {
		if (!c->rotate_retry_at)
			cons_logf(c, 3,
				  "log %s: cannot rotate it (%s: %s): written on past rotate-size, "
				  "tried again after each further %" PRIu64 " bytes",
				  c->log_path, what, strerror(err), c->p.rotate_size);
		c->rotate_failures++;
		c->rotate_retry_at = c->log_size + c->p.rotate_size;
	} else {
		if (c->rotate_retry_at)
			cons_logf(c, 5, "log %s: rotated again at %" PRIu64 " bytes", c->log_path,
				  c->log_size);
		c->rotations++;
		log_close(c);
		log_open(c);
	}
	free(from);
	free(to);
}

/*
 * The log cannot take the guest's output (a full file system, an I/O
 * error): said once per spell of failures, the bytes counted, the output
 * still going to the pty and the replay buffer.
 */
static void log_failed(struct cons *c, size_t lost, int err)
{
	c->log_lost += lost;
	if (!c->log_failing)
		cons_logf(c, 3, "log %s: %s: the output goes unlogged until a write succeeds",
			  c->log_path, strerror(err));
	c->log_failing = true;
}

static void log_written(struct cons *c)
{
	if (c->log_failing)
		cons_logf(c, 5, "log %s: written again (%" PRIu64 " bytes not logged so far)",
			  c->log_path, c->log_lost);
	c->log_failing = false;
}

/* One write to the log: the bytes it took, or 0 when it failed (counted). */
static size_t log_put(struct cons *c, const char *p, size_t n)
{
	ssize_t w = write(c->logfd, p, n);

	if (w <= 0) {
		log_failed(c, n, w < 0 ? errno : ENOSPC);
		return 0;
	}
	log_written(c);
	c->log_size += (uint64_t)w;
	return (size_t)w;
}

/* "[YYYY-mm-dd HH:MM:SS] " for a line about to start. */
static size_t stamp(char *ts, size_t size)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	return strftime(ts, size, "[%Y-%m-%d %H:%M:%S] ", &tm);
}

/* The size at which the log rotates next. */
static uint64_t rotate_at(const struct cons *c)
{
	return c->rotate_retry_at ? c->rotate_retry_at : c->p.rotate_size;
}

/*
 * Every byte of n either reaches the log or is counted in log_lost_bytes
 * (timestamps included).  With rotate-size, a file is cut at the size and
 * the rest goes to the next one; a timestamp stays with its line.
 */
static void log_write(struct cons *c, const char *p, size_t n)
{
	bool may_rotate = c->p.rotate_size != 0;

	while (n && c->logfd >= 0) {
		size_t k = n, l = 0, w;
		char ts[40];

		if (c->p.timestamps && c->line_start)
			l = stamp(ts, sizeof(ts));
		if (may_rotate && c->log_size && c->log_size + l >= rotate_at(c)) {
			rotate(c);
			continue;
		}
		if (l) {
			size_t put = log_put(c, ts, l);

			/* A stamp cut short: the rest is lost (a failure counted it all). */
			if (put && put < l)
				c->log_lost += l - put;
			c->line_start = false;
		}
		if (c->p.timestamps) {
			const char *nl = memchr(p, '\n', n);

			if (nl)
				k = (size_t)(nl - p) + 1;
		}
		if (may_rotate && c->log_size + k > rotate_at(c) && c->log_size < rotate_at(c))
			k = (size_t)(rotate_at(c) - c->log_size);
		w = log_put(c, p, k);
		if (!w)
			w = k; /* lost (counted); go on, so each later stamp is counted too */
		if (c->p.timestamps && p[w - 1] == '\n')
			c->line_start = true;
		p += w;
		n -= w;
	}
	/* Configured but not open: it could not be (re)opened, which log_open said. */
	if (n && c->log_path)
		c->log_lost += n;
}

/* ---- the pty ---- */

static void pty_events(void *opaque, uint32_t events);

static void pty_flush(struct cons *c)
{
	const char *p;
	size_t n;

	while ((n = fifo_peek(&c->pending, &p))) {
		ssize_t w = write(c->master, p, n);

		if (w <= 0)
			break;
		fifo_drop(&c->pending, (size_t)w);
	}
	if (c->w)
		pvb_watch_mod(c->w,
			      (c->in_blocked ? 0 : EPOLLIN) | (c->pending.len ? EPOLLOUT : 0));
}

static void detach(struct cons *c)
{
	pvb_watch_del(c->w);
	c->w = NULL;
	c->attached = false;
	c->pending.len = c->pending.head = 0;
}

/* A client opened the pty: what it missed, then live output. */
static void attach(struct cons *c)
{
	const char *p;
	size_t n;
	struct fifo tmp = c->replay;

	if (pvb_watch_add(c->loop, c->master, EPOLLIN, pty_events, c, &c->w))
		return;
	c->attached = true;
	while ((n = fifo_peek(&tmp, &p))) {
		fifo_put(&c->pending, p, n);
		fifo_drop(&tmp, n);
	}
	pty_flush(c);
}

static void notify(struct cons *c)
{
	pvb_evtchn_notify(c->ev, (uint32_t)c->port);
}

static void disable(struct cons *c, const char *why)
{
	if (c->disabled)
		return;
	c->disabled = true;
	cons_logf(c, 3, "console disabled: %s", why);
	if (c->port > 0)
		pvb_evtchn_unbind(c->ev, (uint32_t)c->port);
	c->port = 0;
}

/* Client input -> the guest's input ring. */
static void input(struct cons *c)
{
	XENCONS_RING_IDX in_cons = __atomic_load_n(&c->ring->in_cons, __ATOMIC_ACQUIRE);
	XENCONS_RING_IDX used = c->in_prod - in_cons;
	char buf[sizeof(c->ring->in)];
	size_t space;
	ssize_t n;

	if (used > sizeof(c->ring->in)) {
		disable(c, "input ring consumer index out of range");
		return;
	}
	space = sizeof(c->ring->in) - used;
	if (!space) {
		/* The guest reads slowly: the tty holds the rest until it does. */
		c->in_blocked = true;
		pty_flush(c);
		return;
	}
	n = read(c->master, buf, space);
	if (n <= 0)
		return;
	for (ssize_t i = 0; i < n; i++)
		c->ring->in[MASK_XENCONS_IDX(c->in_prod + (XENCONS_RING_IDX)i, c->ring->in)] =
			buf[i];
	c->in_prod += (XENCONS_RING_IDX)n;
	__atomic_store_n(&c->ring->in_prod, c->in_prod, __ATOMIC_RELEASE);
	c->bytes_in += (uint64_t)n;
	notify(c);
}

static void pty_events(void *opaque, uint32_t events)
{
	struct cons *c = opaque;

	if (events & (EPOLLHUP | EPOLLERR)) {
		detach(c); /* the client left: the timer notices the next one */
		return;
	}
	if (c->disabled)
		return;
	if (events & EPOLLIN)
		input(c);
	if (events & EPOLLOUT)
		pty_flush(c);
}

/* ---- the output ring ---- */

static void output(struct cons *c)
{
	XENCONS_RING_IDX prod = __atomic_load_n(&c->ring->out_prod, __ATOMIC_ACQUIRE);
	XENCONS_RING_IDX n = prod - c->out_cons;
	char buf[sizeof(c->ring->out)];

	if (n > sizeof(c->ring->out)) {
		disable(c, "output ring producer index out of range");
		return;
	}
	c->window_empty += !n;
	if (!n)
		return;
	/* Copy once; then only the copy is looked at. */
	for (XENCONS_RING_IDX i = 0; i < n; i++)
		buf[i] = c->ring->out[MASK_XENCONS_IDX(c->out_cons + i, c->ring->out)];
	c->out_cons = prod;
	__atomic_store_n(&c->ring->out_cons, c->out_cons, __ATOMIC_RELEASE);
	notify(c); /* room for the guest again */
	c->bytes_out += n;
	log_write(c, buf, n);
	fifo_put(&c->replay, buf, n);
	if (c->attached) {
		c->dropped += fifo_put(&c->pending, buf, n);
		pty_flush(c);
	}
}

static void hold(struct cons *c, uint64_t until)
{
	c->held = true;
	c->hold_until = until;
	pvb_evtchn_hold(c->ev, (uint32_t)c->port, true);
}

static void on_event(void *opaque)
{
	struct cons *c = opaque;
	uint64_t t = now_ms();

	if (c->disabled)
		return;
	c->events++;
	if (t - c->window_start >= (c->p.rate_ms ? c->p.rate_ms : 1000)) {
		c->window_start = t;
		c->window_events = c->window_empty = 0;
	}
	c->window_events++;
	if (c->in_blocked && c->attached) {
		c->in_blocked = false; /* the guest may have read its input */
		pty_flush(c);
	}
	output(c);
	if (c->disabled)
		return;
	if (c->window_empty > STORM_EVENTS) {
		/*
		 * Events without data: an event storm.  Ignore this guest for a
		 * second; one that keeps storming loses its console.
		 */
		c->storms++;
		if (!c->storm_run || t - c->storm_since > STORM_SPAN_MS) {
			c->storm_since = t;
			c->storm_run = 0;
		}
		if (++c->storm_run >= STORM_DISABLE) {
			disable(c, "event storm that does not stop");
			return;
		}
		cons_logf(c, 4, "event storm (%u empty events): holding the port for 1 s",
			  c->window_empty);
		c->window_empty = 0;
		hold(c, t + 1000);
	} else if (c->p.rate_ms && c->window_events >= c->p.rate_events) {
		c->rate_holds++;
		hold(c, c->window_start + c->p.rate_ms);
	}
}

void cons_tick(struct cons *c, uint64_t t)
{
	if (c->disabled)
		return;
	if (c->held && t >= c->hold_until) {
		c->held = false;
		c->window_start = t;
		c->window_events = c->window_empty = 0;
		pvb_evtchn_hold(c->ev, (uint32_t)c->port, false);
	}
	if (!c->attached) {
		struct pollfd p = { .fd = c->master, .events = POLLIN };

		if (poll(&p, 1, 0) >= 0 && !(p.revents & POLLHUP))
			attach(c);
	}
}

/* ---- setup ---- */

static int map_ring(struct cons *c)
{
	uint32_t ref = GNTTAB_RESERVED_CONSOLE;
	int r;

	if (!c->p.primary)
		return pvhv_gnt_map(c->hv, c->p.domid, 1, &c->p.ring_ref, 0, (void **)&c->ring);
	/* As xenconsoled: the reserved grant first, the frame itself otherwise. */
	r = pvhv_gnt_map(c->hv, c->p.domid, 1, &ref, 0, (void **)&c->ring);
	if (!r) {
		c->ring_granted = true;
		return 0;
	}
	{
		uint64_t frame = c->p.ring_ref;

		return pvhv_foreign_map(c->hv, c->p.domid, PROT_READ | PROT_WRITE, &frame, 1,
					(void **)&c->ring);
	}
}

static int make_pty(struct cons *c)
{
	struct termios t;
	int slave;

	c->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (c->master < 0 || grantpt(c->master) || unlockpt(c->master) ||
	    ptsname_r(c->master, c->tty, sizeof(c->tty)))
		return -errno;
	/* Raw, both ways; opening and closing the slave once arms HUP detection. */
	slave = open(c->tty, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return -errno;
	if (!tcgetattr(slave, &t)) {
		cfmakeraw(&t);
		tcsetattr(slave, TCSANOW, &t);
	}
	close(slave);
	return 0;
}

int cons_start(const struct cons_params *p, struct pvhv *hv, struct pvb_loop *loop,
	       struct pvb_evtchn *ev, const struct cons_hooks *hooks, struct cons **out)
{
	struct cons *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->p = *p;
	c->hooks = *hooks;
	c->hv = hv;
	c->loop = loop;
	c->ev = ev;
	c->master = c->logfd = -1;
	if (p->log_path && !(c->log_path = strdup(p->log_path))) {
		free(c);
		return -ENOMEM;
	}
	r = fifo_init(&c->pending, p->limit ? p->limit : DEFAULT_LIMIT);
	if (!r)
		r = fifo_init(&c->replay, p->replay);
	if (!r)
		r = map_ring(c);
	if (r) {
		c->ring = NULL;
		goto fail;
	}
	/* Continue where the guest's page says (a restarted daemon). */
	c->out_cons = __atomic_load_n(&c->ring->out_cons, __ATOMIC_ACQUIRE);
	c->in_prod = __atomic_load_n(&c->ring->in_prod, __ATOMIC_ACQUIRE);
	r = make_pty(c);
	if (r)
		goto fail;
	log_open(c);
	c->window_start = now_ms();
	c->port = pvb_evtchn_bind(ev, p->domid, p->port, on_event, c);
	if (c->port < 0) {
		r = c->port;
		c->port = 0;
		goto fail;
	}
	/* Output may be waiting already. */
	output(c);
	*out = c;
	return 0;
fail:
	cons_stop(c);
	return r;
}

void cons_stop(struct cons *c)
{
	if (!c)
		return;
	if (c->port > 0)
		pvb_evtchn_unbind(c->ev, (uint32_t)c->port);
	pvb_watch_del(c->w);
	if (c->master >= 0)
		close(c->master);
	log_close(c);
	if (c->ring) {
		if (c->ring_granted || !c->p.primary)
			pvhv_gnt_unmap(c->hv, c->ring, 1);
		else
			pvhv_foreign_unmap(c->hv, c->ring, 1);
	}
	free(c->pending.buf);
	free(c->replay.buf);
	free(c->log_path);
	free(c);
}

const char *cons_tty(const struct cons *c)
{
	return c->tty;
}

bool cons_disabled(const struct cons *c)
{
	return c->disabled;
}

static void add(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

void cons_stats(struct cons *c, json_object *o)
{
	json_object_object_add(o, "tty", json_object_new_string(c->tty));
	json_object_object_add(o, "attached", json_object_new_boolean(c->attached));
	json_object_object_add(o, "disabled", json_object_new_boolean(c->disabled));
	json_object_object_add(
		o, "mapped_by",
		json_object_new_string(c->ring_granted || !c->p.primary ? "grant" : "foreign"));
	add(o, "bytes_out", c->bytes_out);
	add(o, "bytes_in", c->bytes_in);
	add(o, "events", c->events);
	add(o, "dropped", c->dropped);
	add(o, "log_bytes", c->log_size);
	add(o, "log_lost_bytes", c->log_lost);
	add(o, "rotations", c->rotations);
	add(o, "rotate_failures", c->rotate_failures);
	add(o, "storms", c->storms);
	add(o, "rate_holds", c->rate_holds);
	if (c->ring) {
		/* The shared page's indices as they are now (the guest's are its word). */
		json_object *r = json_object_new_object();

		add(r, "out_prod", __atomic_load_n(&c->ring->out_prod, __ATOMIC_ACQUIRE));
		add(r, "out_cons", __atomic_load_n(&c->ring->out_cons, __ATOMIC_ACQUIRE));
		add(r, "in_prod", __atomic_load_n(&c->ring->in_prod, __ATOMIC_ACQUIRE));
		add(r, "in_cons", __atomic_load_n(&c->ring->in_cons, __ATOMIC_ACQUIRE));
		json_object_object_add(o, "ring", r);
	}
}
