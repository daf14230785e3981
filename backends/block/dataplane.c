// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The vbd dataplane: ring consumption, validation, the request path,
 * io_uring, setup, teardown and stats.  Where a request's data lives
 * (grants, mappings, bounce pages) is buffers.c; the state both share is
 * dpint.h.
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <json-c/json.h>
#include <liburing.h>

#include "dpint.h"

static void qlog(struct blk_queue *q, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void qlog(struct blk_queue *q, int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!q->dp->hooks.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	q->dp->hooks.log(q->dp->hooks.opaque, level, q->idx, msg);
}

/* ---- failing the device: deferred, the queue may be deep in a callback ---- */

static void fatal_deferred(void *opaque)
{
	struct blk_queue *q = opaque;

	q->dp->hooks.fatal(q->dp->hooks.opaque, q->idx, -EPROTO,
			   "ring producer index overflow (frontend bug or attack)");
}

static void fail_queue(struct blk_queue *q)
{
	if (q->dead)
		return;
	q->dead = true;
	pvb_loop_defer(q->dp->loop, fatal_deferred, q);
}

/* ---- responses ---- */

static void slot_free(struct blk_queue *q, struct blk_io *io)
{
	if (io->js)
		pvb_journal_done(io->js);
	io->busy = false;
	q->freelist[q->nfree++] = (uint32_t)(io - q->ios);
}

static void push(struct blk_queue *q)
{
	if (!q->responses)
		return;
	q->responses = false;
	if (pvb_ring_push(&q->ring)) {
		pvb_evtchn_notify(q->dp->ev, (uint32_t)q->port);
		q->st.notify_sent++;
	} else {
		q->st.notify_suppressed++;
	}
	/* Published: the journal may forget these, their slots are free. */
	for (uint32_t i = 0; i < q->nanswered; i++)
		slot_free(q, &q->ios[q->answered[i]]);
	q->nanswered = 0;
}

static void start_io(struct blk_queue *q, struct blk_io *io);
static void id_release(struct blk_queue *q, struct blk_io *io);
static void resume_waiters(struct blk_queue *q);
static void go(struct blk_queue *q, struct blk_io *io);

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Time, and what it costs.  The stats time each request from the batch
 * that took it off the ring to its response.  clock_gettime() is a system
 * call in a Xen guest whose clock has no stable TSC (the vDSO falls back),
 * one of the few a request makes at queue depth 1.  So a batch reads the
 * clock only when it must: ios get T_BATCH while the clock is unread; a
 * response in the batch that took its request (an inline completion)
 * needs no clock (0 us, as a clock read at the batch's start gave); ios
 * still in flight when the batch ends get the clock then (batch_end()).
 */
#define T_BATCH UINT64_MAX

static uint64_t qnow(struct blk_queue *q)
{
	if (!q->now) {
		q->now = clock_ns(CLOCK_MONOTONIC);
		q->st.clock_reads++;
	}
	return q->now;
}

/* A time for an io that is stamped now: the batch's clock if read, else T_BATCH. */
static uint64_t stamp(struct blk_queue *q, struct blk_io *io)
{
	if (q->now)
		return q->now;
	if (!io->unstamped) {
		io->unstamped = true;
		q->nunstamped++;
	}
	return T_BATCH;
}

static void batch_begin(struct blk_queue *q)
{
	q->now = 0;
	/* The grant cache's idle ages (a second): the coarse clock is the vDSO's, never a system call. */
	if (q->gc)
		pvb_gntcache_set_time(q->gc, clock_ns(CLOCK_MONOTONIC_COARSE));
}

/* The batch is over: what it leaves in flight gets the clock. */
static void batch_end(struct blk_queue *q)
{
	uint64_t t;

	/*
	 * Operations prepared after the batch's last submission: a request
	 * that got its bounce pages, or a barrier whose turn came, when a
	 * completion reaped after submitting (or by polling) made room.  Nothing
	 * else would submit them: with nothing else in flight, no completion
	 * and no event would come, and the ring would wait for good.
	 */
	if (q->uring_up && io_uring_sq_ready(&q->uring)) {
		q->st.late_submits++;
		io_uring_submit(&q->uring);
	}
	/*
	 * Completions still to come: have the loop wait for the ring's fd.
	 * Not otherwise: the fd polls readable for every completion posted
	 * inline, while submitting, and a wakeup for those would be wasted.
	 */
	if (q->inflight && q->uw)
		pvb_uwait_arm(q->uw);
	if (!q->nunstamped) {
		q->now = 0; /* outside a batch, qnow() reads the clock */
		return;
	}
	t = qnow(q);
	q->now = 0;
	for (uint32_t i = 0; i < q->nios && q->nunstamped; i++) {
		struct blk_io *io = &q->ios[i];

		if (!io->unstamped)
			continue;
		if (io->t0 == T_BATCH)
			io->t0 = t;
		if (io->t_io == T_BATCH)
			io->t_io = t;
		io->unstamped = false;
		q->nunstamped--;
	}
}

static void bucket(uint64_t *hist, uint64_t ns)
{
	uint64_t us = ns / 1000;
	int b = 0;

	while (us > 1 && b < LAT_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	hist[b]++;
}

static void account_latency(struct blk_queue *q, struct blk_io *io)
{
	uint64_t t = io->t0 == T_BATCH ? T_BATCH : qnow(q);

	bucket(q->st.lat, t - io->t0);
	if (io->t_io)
		bucket(q->st.io_lat, io->t_io == T_BATCH ? 0 : t - io->t_io);
	if (io->unstamped) {
		io->unstamped = false;
		q->nunstamped--;
	}
}

static void respond(struct blk_queue *q, struct blk_io *io, int16_t status)
{
	void *slot;

	account_latency(q, io);
	/* The journal learns where the answer goes before it overwrites a ring slot. */
	if (io->js)
		pvb_journal_answering(io->js, q->ring.rsp_prod_pvt);
	slot = pvb_ring_rsp_slot(&q->ring);
	/* As xen-blkback, and as blkfront checks: an indirect request is answered as its op. */
	blk_encode_rsp(q->dp->p.abi, slot, io->req.id,
		       io->req.operation == BLKIF_OP_INDIRECT ? io->req.indirect_op
							      : io->req.operation,
		       status);
	q->responses = true;
	id_release(q, io);
	blk_put_buffers(q, io);
	q->answered[q->nanswered++] = (uint32_t)(io - q->ios);
	q->inflight--;
	if (q->barrier && q->inflight == 1) {
		/* Only the barrier is left: everything before it is done. */
		struct blk_io *b = q->barrier;

		q->barrier = NULL;
		start_io(q, b);
	}
	resume_waiters(q);
}

/* ---- validation ---- */

static uint32_t *id_bucket(struct blk_queue *q, uint64_t id)
{
	return &q->id_heads[((id ^ id >> 32) * 0x9e3779b97f4a7c15ull >> 40) & q->id_mask];
}

/*
 * A request may not reuse the id of one still in flight (the frontend could
 * not tell the two answers apart).  Accept io's id, or say it is taken: O(1)
 * on average, whatever the guest picks (a bucket holds at most the ring).
 */
static bool id_claim(struct blk_queue *q, struct blk_io *io)
{
	uint32_t *head = id_bucket(q, io->req.id);

	for (uint32_t i = *head; i; i = q->ios[i - 1].id_next)
		if (q->ios[i - 1].req.id == io->req.id)
			return false;
	io->id_next = *head;
	*head = (uint32_t)(io - q->ios) + 1;
	io->id_held = true;
	return true;
}

static void id_release(struct blk_queue *q, struct blk_io *io)
{
	uint32_t self = (uint32_t)(io - q->ios) + 1;

	if (!io->id_held)
		return;
	io->id_held = false;
	for (uint32_t *p = id_bucket(q, io->req.id); *p; p = &q->ios[*p - 1].id_next)
		if (*p == self) {
			*p = io->id_next;
			return;
		}
}

/* The limits blkcheck.h holds a request to; the size follows the store (blk_dp_resized()). */
static void limits_init(struct blk_dp *dp)
{
	dp->lim = (struct blk_limits){
		.size = dp->store->size,
		.unit = dp->unit,
		.logical = dp->store->logical,
		.max_indirect = dp->p.max_indirect,
		.barrier = dp->p.barrier,
		.flush = dp->p.flush,
		.discard = dp->p.discard,
		.secure_discard = dp->store->secure_discard,
		.readonly = dp->p.readonly,
	};
}

/* A refusal, counted. */
static int16_t refuse(struct blk_queue *q, enum blk_verdict v)
{
	switch (v) {
	case BLK_OK:
		break;
	case BLK_BAD_OP:
		q->st.err_op++;
		break;
	case BLK_BAD_SEGS:
		q->st.err_segs++;
		break;
	case BLK_BAD_RANGE:
		q->st.err_range++;
		break;
	case BLK_READONLY:
		q->st.err_readonly++;
		break;
	case BLK_UNSUPPORTED:
		q->st.err_unsupported++;
		break;
	}
	return blk_verdict_status(v);
}

/* Work out op, segments, byte range (blkcheck.h).  BLKIF_RSP_OKAY or the response to send. */
static int16_t validate(struct blk_queue *q, struct blk_io *io)
{
	const struct blk_limits *l = &q->dp->lim;
	struct blk_plan plan;
	enum blk_verdict v;

	if (io->req.operation == BLKIF_OP_INDIRECT && l->max_indirect)
		q->st.indirect++;
	v = blk_check_req(&io->req, l, &plan);
	io->op = plan.op;
	io->nsegs = plan.nsegs;
	io->segs = io->req.seg;
	io->flush_first = plan.flush_first;
	io->off = plan.off;
	io->len = plan.len;
	if (v || !plan.nsegs)
		return refuse(q, v);
	if (plan.indirect) {
		int16_t st = blk_fetch_indirect(q, io);

		if (st)
			return st;
	}
	/* Segments, on our copy: within a page, in order, aligned for the store. */
	v = blk_check_segs(&io->req, io->segs, l, &plan);
	if (v)
		return refuse(q, v);
	io->off = plan.off;
	io->len = plan.len;
	q->st.segments += io->nsegs;
	return BLKIF_RSP_OKAY;
}

/* ---- io_uring ---- */

/* A large transfer: worth an io_uring worker's copy beside the ring loop. */
#define BIG_IO (128 * 1024)

/* user_data: the io, with bit 0 set for operations that move no data; or
 * UNMASK, the event channel's unmask (its CQE only comes if it failed). */
#define NODATA 1u
#define UNMASK UINT64_MAX

static void set_data(struct io_uring_sqe *e, struct blk_io *io, bool nodata)
{
	io_uring_sqe_set_data64(e, (uint64_t)(uintptr_t)io | (nodata ? NODATA : 0));
}

static struct blk_io *get_data(const struct io_uring_cqe *cqe, bool *nodata)
{
	*nodata = cqe->user_data & NODATA;
	return (struct blk_io *)(uintptr_t)(cqe->user_data & ~(uint64_t)NODATA);
}

static struct io_uring_sqe *sqe(struct blk_queue *q)
{
	struct io_uring_sqe *e = io_uring_get_sqe(&q->uring);

	if (!e) {
		io_uring_submit(&q->uring);
		e = io_uring_get_sqe(&q->uring);
	}
	return e;
}

/*
 * Room for a request's n operations before the first is prepared: linked
 * operations must reach the kernel in one submission (a chain cut by a
 * submission is no chain: the write would not wait for its flush).  Submits
 * what is queued when the ring is short of room.  0, or a negative errno
 * from io_uring_submit (-EAGAIN if the room never came).
 */
static int sq_room(struct blk_queue *q, unsigned n)
{
	int r = -EAGAIN;

	for (int tries = 0; io_uring_sq_space_left(&q->uring) < n; tries++) {
		if (tries == 8)
			return r < 0 ? r : -EAGAIN;
		r = io_uring_submit(&q->uring);
		if (r < 0 && r != -EINTR)
			return r;
		if (r >= 0)
			q->st.sq_full++;
	}
	return 0;
}

/*
 * The port came masked (pvb_evtchn_owner_unmasks()): its unmask goes with
 * the submission process() makes before the loop sleeps, a system call
 * fewer per event.  No CQE unless it fails (then: unmask_failed()).
 */
static void queue_unmask(struct blk_queue *q)
{
	struct io_uring_sqe *e = sqe(q);
	struct pvhv_evtchn_unmask_op *op = &q->unmask;

	if (!e) {
		pvb_evtchn_unmask(q->dp->ev, (uint32_t)q->port);
		return;
	}
	if (op->kind == PVHV_UNMASK_WRITE)
		io_uring_prep_write(e, op->fd, op->buf, op->len, 0);
	else
		io_uring_prep_epoll_ctl(e, op->fd, op->target, EPOLL_CTL_MOD, &op->event);
	io_uring_sqe_set_data64(e, UNMASK);
	io_uring_sqe_set_flags(e, IOSQE_CQE_SKIP_SUCCESS);
}

/*
 * An unmask through io_uring failed (a kernel whose io_uring lacks the
 * opcode, or IOSQE_CQE_SKIP_SUCCESS...): the port is unmasked by system
 * call from now on, by pvb_evtchn before each event, as for a provider
 * without unmask operations.  Not for a port already unbound (a queue failed
 * before it submitted, then stopped).
 */
static void unmask_failed(struct blk_queue *q, int res)
{
	if (!q->port)
		return;
	if (q->unmask_async) {
		qlog(q, 4,
		     "event channel unmask through io_uring failed (%s): unmasking by system call",
		     strerror(-res));
		q->unmask_async = false;
		pvb_evtchn_owner_unmasks_end(q->dp->ev, (uint32_t)q->port);
	}
	pvb_evtchn_unmask(q->dp->ev, (uint32_t)q->port);
}

static bool aligned(const struct blk_dp *dp, const struct blk_io *io)
{
	uint32_t a = dp->store->dio_align;

	if (dp->store->dfd < 0 || io->off % a || io->len % a)
		return false;
	for (uint32_t i = 0; i < io->nsegs; i++)
		if ((uintptr_t)io->iov[i].iov_base % a || io->iov[i].iov_len % a)
			return false;
	return true;
}

static void start_io(struct blk_queue *q, struct blk_io *io)
{
	struct blk_dp *dp = q->dp;
	struct io_uring_sqe *e;
	bool barrier = io->req.operation == BLKIF_OP_WRITE_BARRIER;
	/* A flush before the data (or the whole of a request without data)... */
	bool sync_before =
		io->flush_first || (!io->nsegs && (io->op == BLKIF_OP_FLUSH_DISKCACHE || barrier));
	/* ...and after it: a barrier's data is stable before it completes. */
	bool sync_after = io->nsegs && (barrier || io->flush_first);
	int fd, r;

	io->pending = 0;
	io->status = BLKIF_RSP_OKAY;
	io->t_io = stamp(q, io);
	if (io->op == BLKIF_OP_DISCARD && dp->store->bdev &&
	    (io->req.discard_flag & BLKIF_DISCARD_SECURE)) {
		/* No io_uring form for a secure erase: the one synchronous case. */
		r = blk_store_discard_bdev(dp->store, io->off, io->len, true);
		if (r)
			q->st.err_io++;
		respond(q, io, r ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY);
		return;
	}
	r = sq_room(q, io->op == BLKIF_OP_DISCARD
			       ? 1
			       : (unsigned)sync_before + (io->nsegs ? 1u : 0u) + sync_after);
	if (r) {
		q->st.err_io++;
		qlog(q, 3,
		     "request %llu: io_uring refused a submission (%s): answered with an error",
		     (unsigned long long)io->req.id, strerror(-r));
		respond(q, io, BLKIF_RSP_ERROR);
		return;
	}
	if (io->op == BLKIF_OP_DISCARD) {
		/* Files: punch a hole; block devices: the kernel zeroes/unmaps (io-wq). */
		e = sqe(q);
		io_uring_prep_fallocate(e, dp->store->fd,
					FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, io->off,
					io->len);
		set_data(e, io, true);
		io->pending = 1;
		return;
	}
	if (sync_before) {
		e = sqe(q);
		io_uring_prep_fsync(e, dp->store->fd, IORING_FSYNC_DATASYNC);
		set_data(e, io, true);
		if (io->nsegs)
			e->flags |= IOSQE_IO_LINK;
		io->pending++;
	}
	if (!io->nsegs)
		return;
	fd = aligned(dp, io) ? dp->store->dfd : dp->store->fd;
	e = sqe(q);
	if (io->op == BLKIF_OP_READ)
		io_uring_prep_readv(e, fd, io->iov, io->nsegs, io->off);
	else
		io_uring_prep_writev(e, fd, io->iov, io->nsegs, io->off);
	set_data(e, io, false);
	io->pending++;
	if (io->len >= BIG_IO && dp->async_big) {
		e->flags |= IOSQE_ASYNC; /* copy large transfers on another CPU */
		q->st.big_async++;
	} else if (io->len >= BIG_IO) {
		q->st.big_inline++;
	}
	if (sync_after) {
		e->flags |= IOSQE_IO_LINK;
		e = sqe(q);
		io_uring_prep_fsync(e, dp->store->fd, IORING_FSYNC_DATASYNC);
		set_data(e, io, true);
		io->pending++;
	}
}

static void finish(struct blk_queue *q, struct blk_io *io)
{
	int16_t st = io->status;

	if (!st && io->op == BLKIF_OP_READ && blk_copied(q, io))
		st = blk_copy_segments(q, io, true);
	if (!st) {
		if (io->op == BLKIF_OP_READ)
			q->st.bytes_read += io->len;
		else if (io->nsegs)
			q->st.bytes_written += io->len;
	}
	respond(q, io, st);
}

static void reap(struct blk_queue *q, bool at_submit)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0, seen = 0;

	io_uring_for_each_cqe(&q->uring, head, cqe)
	{
		bool nodata;
		struct blk_io *io;
		int res = cqe->res;

		if (cqe->user_data == UNMASK) {
			seen++;
			if (res < 0)
				unmask_failed(q, res);
			continue;
		}
		io = get_data(cqe, &nodata);
		n++;
		if (res == -EOPNOTSUPP && io->op == BLKIF_OP_DISCARD && q->dp->store->bdev)
			/* No zeroing unmap here: a plain discard (synchronous, but rare). */
			res = blk_store_discard_bdev(q->dp->store, io->off, io->len, false);
		if (res < 0) {
			if (io->status == BLKIF_RSP_OKAY)
				q->st.err_io++;
			io->status = BLKIF_RSP_ERROR;
		} else if (!nodata && (uint64_t)res != io->len) {
			/* A short transfer: the store shrank under us. */
			q->st.err_io++;
			io->status = BLKIF_RSP_ERROR;
		}
		if (--io->pending == 0)
			finish(q, io);
	}
	io_uring_cq_advance(&q->uring, n + seen);
	if (at_submit)
		q->st.reaped_at_submit += n;
	else
		q->st.reaped_later += n;
}

/* ---- the request path ---- */

static void handle(struct blk_queue *q, struct blk_io *io)
{
	int16_t st = validate(q, io);

	switch (io->op) {
	case BLKIF_OP_READ:
		q->st.reads++;
		break;
	case BLKIF_OP_WRITE:
		q->st.writes++;
		break;
	case BLKIF_OP_FLUSH_DISKCACHE:
		q->st.flushes++;
		break;
	case BLKIF_OP_WRITE_BARRIER:
		q->st.barriers++;
		break;
	case BLKIF_OP_DISCARD:
		q->st.discards++;
		break;
	}
	if (!st && !id_claim(q, io)) {
		q->st.err_id_reuse++;
		st = BLKIF_RSP_ERROR;
	}
	if (!st && io->nsegs && io->op != BLKIF_OP_DISCARD) {
		st = blk_get_buffers(q, io);
		if (st == WAIT_PAGES) {
			/* The bounce pool is spent: wait for completions, in order. */
			q->st.page_waits++;
			io->wait_next = NULL;
			*q->mem_wait_tail = io;
			q->mem_wait_tail = &io->wait_next;
			return;
		}
		if (!st && io->op != BLKIF_OP_READ && blk_copied(q, io))
			st = blk_copy_segments(q, io, false);
	}
	if (st) {
		respond(q, io, st);
		return;
	}
	go(q, io);
}

/* Start an accepted request, or park a barrier until what came before it is done. */
static void go(struct blk_queue *q, struct blk_io *io)
{
	if (io->req.operation == BLKIF_OP_WRITE_BARRIER && q->inflight > 1) {
		q->barrier = io;
		return;
	}
	start_io(q, io);
}

static void resume_waiters(struct blk_queue *q)
{
	while (q->mem_wait && !q->barrier) {
		struct blk_io *io = q->mem_wait;
		int16_t st = blk_get_buffers(q, io);

		if (st == WAIT_PAGES)
			return;
		q->mem_wait = io->wait_next;
		if (!q->mem_wait)
			q->mem_wait_tail = &q->mem_wait;
		if (!st && io->op != BLKIF_OP_READ && blk_copied(q, io))
			st = blk_copy_segments(q, io, false);
		if (st)
			respond(q, io, st);
		else
			go(q, io);
	}
}

static void process_deferred(void *opaque);

/* io's request (in its journal slot) is ours to answer from now on. */
static void accept_req(struct blk_queue *q, struct blk_io *io)
{
	io->t_io = 0;
	io->t0 = stamp(q, io);
	io->busy = true;
	q->inflight++;
	blk_decode(q->dp->p.abi, io->js->req, &io->req);
}

static void take(struct blk_queue *q, struct blk_io *io)
{
	accept_req(q, io);
	handle(q, io);
}

static void process(struct blk_queue *q)
{
	size_t rs = blk_abi_req_size(q->dp->p.abi);

	if (q->dead)
		return;
	q->st.kicks++;
	for (int rounds = 0; rounds < 64; rounds++) {
		if (pvb_ring_pending(&q->ring) < 0) {
			fail_queue(q);
			return;
		}
		while (!q->barrier && !q->mem_wait) {
			struct blk_io *io;

			if (q->redo_next < q->nredo) {
				/* Those a daemon before us took come first, in order. */
				take(q, &q->ios[q->redo[q->redo_next++]]);
				continue;
			}
			if (!q->nfree)
				break;
			io = &q->ios[q->freelist[q->nfree - 1]];
			/* The one copy off the ring lands in the journal slot. */
			if (!pvb_ring_take(&q->ring, io->js->req, rs))
				break;
			q->nfree--;
			pvb_journal_taken(io->js, q->ring.req_cons - 1);
			pvb_journal_set_req_cons(q->j, q->ring.req_cons);
			take(q, io);
		}
		/* Completions already posted (a worker's), then those the submission made. */
		reap(q, false);
		io_uring_submit(&q->uring);
		reap(q, true);
		push(q);
		if (q->barrier || q->mem_wait)
			return; /* completions kick us again */
		if (q->redo_next < q->nredo)
			continue; /* a restarted daemon's, not done yet */
		if (!q->nfree)
			return;
		/* Polling: the frontend need not notify; the poller arms before sleeping. */
		if (pvb_loop_polling(q->dp->loop) ? pvb_ring_pending(&q->ring) == 0
						  : !pvb_ring_final_check(&q->ring))
			return;
	}
	/* A frontend that keeps the ring full: let others run, come back. */
	pvb_loop_defer(q->dp->loop, process_deferred, q);
}

static void process_deferred(void *opaque)
{
	struct blk_queue *q = opaque;

	batch_begin(q);
	process(q);
	batch_end(q);
}

static void on_event(void *opaque)
{
	struct blk_queue *q = opaque;

	q->st.events++;
	if (q->unmask_async && !q->dead)
		queue_unmask(q);
	batch_begin(q);
	process(q);
	batch_end(q);
}

static void on_completion(void *opaque, const void *buf, int res)
{
	struct blk_queue *q = opaque;

	(void)buf;
	(void)res;
	/*
	 * The ring's own fd: readable while completions wait in the CQ.
	 * Completions that came inline, while submitting, were reaped then:
	 * the loop waits for the fd only while requests are in flight
	 * (batch_end()), and otherwise (in its epoll set) finds it not ready
	 * when it looks, instead of a return to us, as an eventfd's count
	 * would cost (a system call saved per such request).
	 */
	if (!io_uring_cq_ready(&q->uring)) {
		/* An overflowed CQ polls readable too: have the kernel flush it. */
		if (io_uring_cq_has_overflow(&q->uring))
			io_uring_get_events(&q->uring);
		if (!io_uring_cq_ready(&q->uring)) {
			q->st.cq_empty++;
			if (q->inflight)
				pvb_uwait_arm(q->uw); /* still waiting */
			return;
		}
	}
	batch_begin(q);
	reap(q, false);
	push(q);
	if (!q->dead)
		process(q);
	batch_end(q);
}

/* Requests this queue can take now (or a broken producer index, which process() fails). */
static bool can_take(struct blk_queue *q)
{
	return (q->redo_next < q->nredo || (pvb_ring_pending(&q->ring) != 0 && q->nfree)) &&
	       !q->barrier && !q->mem_wait;
}

/* The loop's busy polling: memory reads only, unless there is work. */
static bool queue_poll(void *opaque)
{
	struct blk_queue *q = opaque;
	bool work = false;

	if (q->dead)
		return false;
	batch_begin(q);
	if (io_uring_cq_ready(&q->uring)) {
		reap(q, false);
		push(q);
		work = true;
	}
	if (can_take(q)) {
		process(q);
		work = true;
	}
	batch_end(q);
	if (work)
		q->st.polled++;
	return work;
}

/* Before the loop sleeps: ask the frontend for a notification again. */
static bool queue_arm(void *opaque)
{
	struct blk_queue *q = opaque;

	if (q->dead)
		return false;
	return pvb_ring_final_check(&q->ring) && can_take(q);
}

/* ---- setup and teardown ---- */

/* Requests with an io_uring operation the kernel has not completed. */
static uint32_t ops_in_kernel(const struct blk_queue *q)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < q->nios; i++)
		if (q->ios[i].busy && q->ios[i].pending > 0)
			n++;
	return n;
}

static void queue_stop(struct blk_dp *dp, struct blk_queue *q, bool handover)
{
	uint32_t left = 0;

	pvb_loop_undefer(dp->loop, q);
	pvb_poller_del(q->poller);
	q->poller = NULL;
	pvb_uwait_del(q->uw);
	q->uw = NULL;
	if (q->uring_up) {
		/*
		 * Let what the kernel holds finish and answer it, so that the
		 * ring is left consistent for whoever serves it next.  What was
		 * never started has nothing to wait for: a daemon handing the
		 * ring over leaves it in the journal, to be done by the next one
		 * (the frontend sees a pause, not an error).
		 */
		struct blk_io *b = q->barrier, *w = q->mem_wait;

		/* Nothing starts from here on (completions would resume waiters). */
		q->barrier = q->mem_wait = NULL;
		q->mem_wait_tail = &q->mem_wait;
		if (!handover) {
			if (b)
				respond(q, b, BLKIF_RSP_ERROR);
			for (struct blk_io *next; w; w = next) {
				next = w->wait_next;
				respond(q, w, BLKIF_RSP_ERROR);
			}
			while (q->redo_next < q->nredo) {
				struct blk_io *io = &q->ios[q->redo[q->redo_next++]];

				accept_req(q, io);
				respond(q, io, BLKIF_RSP_ERROR);
			}
		}
		/*
		 * Until the kernel holds no operation of any request (not only
		 * until no request is answered: the first of two linked
		 * operations completes without answering its request).
		 */
		while (ops_in_kernel(q)) {
			int r = io_uring_submit_and_wait(&q->uring, 1);

			if (r == -EINTR)
				continue;
			if (r < 0)
				break;
			reap(q, false);
		}
		push(q);
		io_uring_queue_exit(&q->uring);
		q->uring_up = false;
	}
	/* Unbound after the last push: its answers are signalled (not to port 0). */
	if (q->port > 0)
		pvb_evtchn_unbind(dp->ev, (uint32_t)q->port);
	q->port = 0;
	if (q->ios) {
		for (uint32_t i = 0; i < q->nios; i++) {
			struct blk_io *io = &q->ios[i];

			if (io->busy && io->pending > 0) {
				/*
				 * The kernel may still use its buffers (the io_uring
				 * failed while draining): leave them mapped or
				 * allocated, never reused under it.
				 */
				left++;
				continue;
			}
			if (io->busy)
				blk_put_buffers(q, io);
			free(io->segbuf);
			free(io->iov);
			free(io->gnts);
			free(io->extra_refs);
			free(io->extra_idx);
			free(io->pages);
		}
		free(q->ios);
		q->ios = NULL;
	}
	if (left)
		qlog(q, 3,
		     "%u request(s) still in the kernel at teardown: their buffers and the "
		     "persistent grants are left mapped",
		     left);
	free(q->freelist);
	free(q->answered);
	free(q->id_heads);
	q->freelist = q->answered = q->id_heads = NULL;
	while (q->pool_free)
		free(q->pool[--q->pool_free]);
	free(q->pool);
	q->pool = NULL;
	/* Everything taken was answered and published: the journal is not needed. */
	pvb_journal_close(q->j, q->inflight == 0 && q->redo_next == q->nredo);
	q->j = NULL;
	free(q->redo);
	q->redo = NULL;
	q->nredo = q->redo_next = 0;
	if (!left)
		pvb_gntcache_free(q->gc);
	q->gc = NULL;
	if (q->ring_mem)
		pvhv_gnt_unmap(dp->hv, q->ring_mem, dp->p.nr_ring_pages);
	q->ring_mem = NULL;
}

static int io_init(struct blk_dp *dp, struct blk_io *io)
{
	io->iov = calloc(dp->max_segs, sizeof(*io->iov));
	if (!io->iov)
		return -ENOMEM;
	if (dp->p.max_indirect) {
		io->segbuf = malloc(BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * PAGE);
		if (!io->segbuf)
			return -ENOMEM;
	}
	io->extra_refs = calloc(dp->max_segs, sizeof(*io->extra_refs));
	io->extra_idx = calloc(dp->max_segs, sizeof(*io->extra_idx));
	if (!io->extra_refs || !io->extra_idx)
		return -ENOMEM;
	if (dp->p.persistent) {
		io->gnts = calloc(dp->max_segs, sizeof(*io->gnts));
		if (!io->gnts)
			return -ENOMEM;
	}
	/* Bounce pages: grant copy, also with persistent grants past the daemon's mappings. */
	io->pages = calloc(dp->max_segs, sizeof(*io->pages));
	if (!io->pages)
		return -ENOMEM;
	return 0;
}

static int journal_open(struct blk_dp *dp, struct blk_queue *q, bool *resumed)
{
	char path[512];
	uint64_t id = 0;
	uint32_t v[4] = { dp->p.domid, dp->p.devid, (uint32_t)q->idx, dp->p.abi };

	if (!dp->p.journal_dir)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/vbd-%u-%u-q%d.journal", dp->p.journal_dir, dp->p.domid,
		 dp->p.devid, q->idx);
	id = pvb_journal_hash(id, v, sizeof(v));
	id = pvb_journal_hash(id, dp->p.ring_refs[q->idx],
			      dp->p.nr_ring_pages * sizeof(dp->p.ring_refs[0][0]));
	id = pvb_journal_hash(id, &dp->p.evtchn[q->idx], sizeof(dp->p.evtchn[0]));
	return pvb_journal_open(path, id, q->nios, (uint32_t)blk_abi_req_size(dp->p.abi),
				dp->p.resume, &q->j, resumed);
}

/*
 * A restarted daemon: continue from the journal.  Requests taken but not
 * answered, and answers written but never published, are done again;
 * responses go out from the published producer index on.
 */
static int recover(struct blk_queue *q)
{
	RING_IDX pub = q->ring.rsp_prod_pvt, cons = pvb_journal_req_cons(q->j);
	RING_IDX prod = __atomic_load_n(&q->ring.sring->req_prod, __ATOMIC_ACQUIRE);
	uint32_t *redo = q->redo, n = 0; /* ios, nios of them */

	if (cons - pub > q->nios || prod - pub > q->nios || cons - pub > prod - pub)
		return -EPROTO; /* the journal does not fit this ring */
	for (uint32_t i = 0; i < q->nios; i++) {
		struct pvb_jslot *js = q->ios[i].js;
		bool again = (js->state == PVB_J_TAKEN && (int32_t)(js->ring_idx - cons) < 0) ||
			     (js->state == PVB_J_ANSWERED && (int32_t)(js->rsp_idx - pub) >= 0);

		if (again)
			redo[n++] = i;
	}
	if (n != cons - pub)
		return -EPROTO;
	q->ring.req_cons = cons;
	for (uint32_t i = 0; i < q->nios; i++)
		if (q->ios[i].js->state != PVB_J_FREE) {
			bool listed = false;

			for (uint32_t k = 0; k < n; k++)
				listed |= redo[k] == i;
			if (!listed)
				pvb_journal_done(q->ios[i].js);
		}
	/* In the order they were taken. */
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t k = i; k > 0 && (int32_t)(q->ios[redo[k]].js->ring_idx -
							q->ios[redo[k - 1]].js->ring_idx) < 0;
		     k--) {
			uint32_t t = redo[k];

			redo[k] = redo[k - 1];
			redo[k - 1] = t;
		}
	q->nfree = 0;
	for (uint32_t i = q->nios; i-- > 0;) {
		bool used = false;

		for (uint32_t k = 0; k < n; k++)
			used |= redo[k] == i;
		if (!used)
			q->freelist[q->nfree++] = i;
	}
	/*
	 * process() takes them before the ring's next, as it takes those: a
	 * barrier waits for what came before it, and nothing passes a request
	 * waiting for bounce pages (taking them all here would let a barrier
	 * park behind a waiting request, which then waits for good).
	 */
	for (uint32_t k = 0; k < n; k++)
		pvb_journal_taken(q->ios[redo[k]].js, q->ios[redo[k]].js->ring_idx);
	q->nredo = n;
	q->redo_next = 0;
	q->st.redone += n;
	qlog(q, 6, "resumed from the journal: %u request(s) to do again", n);
	return 0;
}

/* Segments a request may have: the indirect ones offered, or the ring entry's. */
static uint32_t max_segs_of(const struct blk_dp_params *p)
{
	return p->max_indirect > BLKIF_MAX_SEGMENTS_PER_REQUEST ? p->max_indirect
								: BLKIF_MAX_SEGMENTS_PER_REQUEST;
}

/*
 * A queue's bounds on grant mappings: map_max, its share of the device's
 * (max_mapped), for the pages mapped for single requests, at least one
 * request's segments; and gc_max, its persistent cache's size (0 without
 * persistent grants).  A guest's many deep queues must not pin dom0's grant
 * mappings (Xen's maptrack, shared by every guest dom0 serves) without bound.
 */
static void queue_map_limits(const struct blk_dp_params *p, uint32_t nios, uint32_t max_segs,
			     uint32_t *map_max, uint32_t *gc_max)
{
	*map_max = (p->max_mapped ? p->max_mapped : BLK_PERSISTENT_AUTO_MAX) / p->nr_queues;
	if (*map_max < max_segs)
		*map_max = max_segs;
	*gc_max = 0;
	if (!p->persistent)
		return;
	/*
	 * Room for every segment the ring can have in flight (a frontend's
	 * persistent pool: Linux's blkfront grants ring size x segments), up
	 * to the queue's share, unless the operator set a limit.
	 */
	*gc_max = p->persistent_max;
	if (!*gc_max) {
		/* Each request's segments and its indirect pages. */
		uint32_t ind = max_segs > BLKIF_MAX_SEGMENTS_PER_REQUEST
				       ? (max_segs + BLK_SEGS_PER_INDIRECT_PAGE - 1) /
						 BLK_SEGS_PER_INDIRECT_PAGE
				       : 0;
		uint64_t want = (uint64_t)nios * (max_segs + ind);

		*gc_max = want < *map_max ? (uint32_t)want : *map_max;
	}
}

static int queue_start(struct blk_dp *dp, struct blk_queue *q)
{
	struct pvb_any_sring *sring;
	unsigned entries;
	bool resumed = false;
	int r;

	r = pvhv_gnt_map(dp->hv, dp->p.domid, dp->p.nr_ring_pages, dp->p.ring_refs[q->idx], 0,
			 &q->ring_mem);
	if (r)
		return r;
	sring = q->ring_mem;
	/*
	 * Answers go after the last published one: 0 on a new ring, and the
	 * right place when a restarted daemon takes a live ring over.
	 */
	r = pvb_ring_init(&q->ring, q->ring_mem, (size_t)dp->p.nr_ring_pages * PAGE,
			  blk_abi_ent_size(dp->p.abi),
			  __atomic_load_n(&sring->rsp_prod, __ATOMIC_ACQUIRE));
	if (r)
		return r;
	q->nios = q->ring.nr_ents;
	q->mem_wait_tail = &q->mem_wait;
	/* Bounce pages for grant copy: bounded, whatever the guest asks. */
	q->pool_budget = dp->max_segs * 2 > 512 ? dp->max_segs * 2 : 512;
	q->pool = calloc(q->pool_budget, sizeof(*q->pool));
	if (!q->pool)
		return -ENOMEM;
	q->nunstamped = 0;
	q->ios = calloc(q->nios, sizeof(*q->ios));
	q->freelist = calloc(q->nios, sizeof(*q->freelist));
	q->answered = calloc(q->nios, sizeof(*q->answered));
	q->redo = calloc(q->nios, sizeof(*q->redo));
	for (q->id_mask = 1; q->id_mask < q->nios * 2; q->id_mask <<= 1)
		;
	q->id_heads = calloc(q->id_mask, sizeof(*q->id_heads));
	q->id_mask--;
	if (!q->ios || !q->freelist || !q->answered || !q->redo || !q->id_heads)
		return -ENOMEM;
	r = journal_open(dp, q, &resumed);
	if (r)
		return r;
	for (uint32_t i = 0; i < q->nios; i++) {
		q->ios[i].q = q;
		q->ios[i].js = pvb_journal_slot(q->j, i);
		r = io_init(dp, &q->ios[i]);
		if (r)
			return r;
		q->freelist[q->nfree++] = q->nios - 1 - i;
	}
	queue_map_limits(&dp->p, q->nios, dp->max_segs, &q->map_max, &q->gc_max);
	if (dp->p.persistent) {
		r = pvb_gntcache_new(dp->hv, dp->p.domid, q->gc_max, dp->p.acct, &q->gc);
		if (r)
			return r;
	}
	for (entries = 16; entries < q->nios * 2; entries *= 2)
		;
	r = io_uring_queue_init(entries, &q->uring, 0);
	if (r)
		return r;
	q->uring_up = true;
	r = pvb_uwait_add(dp->loop, q->uring.ring_fd, 0, on_completion, q, &q->uw);
	if (r)
		return r;
	pvb_uwait_on_demand(q->uw);
	r = pvb_poller_add(dp->loop, queue_poll, queue_arm, q, &q->poller);
	if (r)
		return r;
	q->port = pvb_evtchn_bind(dp->ev, dp->p.domid, dp->p.evtchn[q->idx], on_event, q);
	if (q->port < 0) {
		r = q->port;
		q->port = 0;
		return r;
	}
	q->unmask_async = !pvb_evtchn_owner_unmasks(dp->ev, (uint32_t)q->port, &q->unmask);
	if (resumed) {
		r = recover(q);
		if (r) {
			qlog(q, 4, "journal unusable (%s): resuming after the last answer",
			     strerror(-r));
			for (uint32_t i = 0; i < q->nios; i++)
				pvb_journal_done(q->ios[i].js);
		}
		/*
		 * The daemon before us may have died between publishing responses
		 * and notifying: the frontend would wait for an event that never
		 * comes.  One spurious event is harmless.
		 */
		pvb_evtchn_notify(dp->ev, (uint32_t)q->port);
		q->st.notify_sent++;
	}
	/* Requests may already wait (a restart): look now, not at the next event. */
	pvb_loop_defer(dp->loop, process_deferred, q);
	return 0;
}

int blk_dp_start(const struct blk_dp_params *p, struct blk_store *store, struct pvhv *hv,
		 struct pvb_loop *loop, struct pvb_evtchn *ev, const struct blk_dp_hooks *hooks,
		 struct blk_dp **out)
{
	struct blk_dp *dp;
	int r = 0;

	if (!p->nr_queues || p->nr_queues > BLK_MAX_QUEUES || !p->nr_ring_pages ||
	    p->nr_ring_pages > BLK_MAX_RING_PAGES || p->max_indirect > BLK_MAX_INDIRECT)
		return -EINVAL;
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->p = *p;
	dp->store = store;
	dp->hv = hv;
	dp->loop = loop;
	dp->ev = ev;
	dp->hooks = *hooks;
	dp->max_segs = max_segs_of(p);
	dp->unit = p->large_sectors ? store->logical : SECT;
	limits_init(dp);
	/*
	 * Handing a large transfer to an io_uring worker lets its copy run
	 * beside the ring loop; with one CPU (a dom0 with dom0_max_vcpus=1)
	 * that is only a context switch more per request.
	 */
	{
		/* The CPUs this daemon may run on (taskset, cgroups), not the machine's. */
		cpu_set_t cpus;

		dp->async_big = sched_getaffinity(0, sizeof(cpus), &cpus)
					? sysconf(_SC_NPROCESSORS_ONLN) > 1
					: CPU_COUNT(&cpus) > 1;
	}
	for (uint32_t i = 0; i < p->nr_queues && !r; i++) {
		dp->q[i].dp = dp;
		dp->q[i].idx = (int)i;
		r = queue_start(dp, &dp->q[i]);
		if (r)
			qlog(&dp->q[i], 3, "cannot start: %s", strerror(-r));
	}
	if (r) {
		blk_dp_stop(dp, false);
		return r;
	}
	*out = dp;
	return 0;
}

void blk_dp_stop(struct blk_dp *dp, bool handover)
{
	if (!dp)
		return;
	for (uint32_t i = 0; i < dp->p.nr_queues; i++)
		if (dp->q[i].dp)
			queue_stop(dp, &dp->q[i], handover);
	free(dp);
}

void blk_dp_resized(struct blk_dp *dp)
{
	dp->lim.size = dp->store->size; /* requests are checked against the new size */
}

static void add(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

/*
 * Requests answered and the percentiles of a time as bucket upper bounds in
 * microseconds: "service_us" ring to response, "store_us" the store's part.
 */
static void latency_stats(const uint64_t *hist, const char *name, json_object *j)
{
	json_object *l = json_object_new_object();
	static const struct {
		const char *name;
		unsigned permille;
	} pct[] = { { "p50", 500 }, { "p90", 900 }, { "p99", 990 }, { "max", 1000 } };
	uint64_t n = 0;

	for (int b = 0; b < LAT_BUCKETS; b++)
		n += hist[b];
	add(l, "count", n);
	for (size_t i = 0; i < sizeof(pct) / sizeof(pct[0]); i++) {
		uint64_t want = (n * pct[i].permille + 999) / 1000, seen = 0;
		int b = 0;

		for (; b < LAT_BUCKETS - 1; b++) {
			seen += hist[b];
			if (seen >= want && want)
				break;
		}
		add(l, pct[i].name, n ? (uint64_t)2 << b : 0);
	}
	json_object_object_add(j, name, l);
}

void blk_dp_stats(struct blk_dp *dp, json_object *o)
{
	json_object *arr = json_object_new_array();

	for (uint32_t i = 0; i < dp->p.nr_queues; i++) {
		struct blk_queue *q = &dp->q[i];
		json_object *j = json_object_new_object(), *req = json_object_new_object(),
			    *err = json_object_new_object(), *g = json_object_new_object(),
			    *ev = json_object_new_object();

		add(j, "queue", i);
		add(j, "ring_entries", q->ring.nr_ents);
		add(j, "in_flight", q->inflight);
		add(j, "kicks", q->st.kicks);
		add(req, "read", q->st.reads);
		add(req, "write", q->st.writes);
		add(req, "flush", q->st.flushes);
		add(req, "barrier", q->st.barriers);
		add(req, "discard", q->st.discards);
		add(req, "indirect", q->st.indirect);
		add(req, "redone", q->st.redone);
		json_object_object_add(j, "requests", req);
		add(j, "segments", q->st.segments);
		add(j, "bytes_read", q->st.bytes_read);
		add(j, "bytes_written", q->st.bytes_written);
		add(err, "bad_operation", q->st.err_op);
		add(err, "bad_segments", q->st.err_segs);
		add(err, "bad_range", q->st.err_range);
		add(err, "bad_grant", q->st.err_grant);
		add(err, "read_only", q->st.err_readonly);
		add(err, "id_reuse", q->st.err_id_reuse);
		add(err, "unsupported", q->st.err_unsupported);
		add(err, "io", q->st.err_io);
		json_object_object_add(j, "errors", err);
		if (q->gc) {
			struct pvb_gntcache_stats gs;

			pvb_gntcache_get_stats(q->gc, &gs);
			add(g, "mapped", gs.mapped);
			add(g, "in_use", gs.in_use);
			add(g, "cache_hits", gs.hits);
			add(g, "cache_misses", gs.misses);
			add(g, "evictions", gs.evictions);
			add(g, "cache_full", gs.full);
			add(g, "cache_full_daemon", gs.acct_full);
			add(g, "given_to_others", gs.reclaimed);
			add(g, "limit", q->gc_max);
		}
		add(g, "copied", q->st.grants_copied);
		if (dp->p.persistent)
			add(g, "indirect_cached", q->st.indirect_cached);
		add(g, "mapped_once", q->st.grants_mapped_once);
		add(g, "mapped_once_now", q->mapped);
		add(g, "mapped_once_peak", q->st.mapped_peak);
		add(g, "mapped_once_limit", q->map_max);
		add(g, "map_waits", q->st.map_waits);
		add(g, "copied_for_room", q->st.copied_for_room);
		if (dp->p.persistent || dp->p.map_min)
			add(g, "map_refused", q->st.map_refused);
		json_object_object_add(j, "grants", g);
		if (!dp->p.persistent || q->pool_total) {
			json_object *bp = json_object_new_object();

			add(bp, "pages", q->pool_total);
			add(bp, "budget", q->pool_budget);
			add(bp, "waits", q->st.page_waits);
			json_object_object_add(j, "bounce", bp);
		}
		add(ev, "sent", q->st.notify_sent);
		add(ev, "suppressed", q->st.notify_suppressed);
		add(ev, "received", q->st.events);
		add(ev, "polled", q->st.polled);
		json_object_object_add(
			ev, "unmask",
			json_object_new_string(q->unmask_async ? "io_uring" : "system call"));
		json_object_object_add(j, "notifications", ev);
		{
			json_object *big = json_object_new_object(), *cq = json_object_new_object();

			add(big, "min_bytes", BIG_IO);
			add(big, "async", q->st.big_async);
			add(big, "inline", q->st.big_inline);
			json_object_object_add(j, "large_transfers", big);
			add(cq, "at_submit", q->st.reaped_at_submit);
			add(cq, "later", q->st.reaped_later);
			add(cq, "empty_wakeups", q->st.cq_empty);
			add(cq, "early_submits", q->st.sq_full);
			add(cq, "late_submits", q->st.late_submits);
			json_object_object_add(j, "completions", cq);
		}
		add(j, "clock_reads", q->st.clock_reads);
		latency_stats(q->st.lat, "service_us", j);
		latency_stats(q->st.io_lat, "store_us", j);
		json_object_array_add(arr, j);
	}
	json_object_object_add(o, "queues", arr);
}
