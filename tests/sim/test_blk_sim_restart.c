// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Sim tier, pvsplit-blkback: the daemon stopped and started again under
 * I/O.  SIGKILL at any moment, a daemon stuck in the middle of a request
 * (the sim's unmap-stall fault), SIGTERM with requests taken but not
 * started: the next daemon takes the rings over from their journals and
 * the frontend sees every answer OKAY.  Also a barrier whose turn comes
 * after a batch's submission.  Registered by main in test_blk_sim.c.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <json-c/json.h>

#include "blksim.h"

struct restart {
	struct blkenv_child fe;
	uint64_t seed;
};

/*
 * A new device of dom1 with two queues (rings of 2^ring_order pages) and a
 * frontend running fn, connected and ready when this returns.
 */
static void restart_frontend(struct dev *d, struct restart *rs, uint32_t ring_order, blkenv_fn fn)
{
	struct pvf_blk_opts o;

	dev_add(d, 1, DISK, false, 512, false);
	opts_for(&o, d);
	o.queues = 2;
	o.ring_order = ring_order;
	rs->seed = d->devid;
	CU_ASSERT_FATAL(blkenv_fork_frontend(&E, &rs->fe, 1, &o, fn, rs) > 0);
	CU_ASSERT(blkenv_child_wait_ready(&rs->fe) == 0);
}

/*
 * I/O before, during and after the daemon is killed with SIGKILL and
 * restarted: everything verifies.
 */
static int through_restart(struct pvf_blk *b, void *arg)
{
	struct restart *rs = arg;
	struct pvf_blk_info in;
	struct iot slots[8];
	uint8_t *want = malloc(DISK);
	int errors = 0;

	pvf_blk_get_info(b, &in);
	blkenv_pattern(want, DISK, rs->seed);
	for (int i = 0; i < 8; i++) {
		slots[i].buf = pvf_blk_alloc(b, 65536);
		slots[i].busy = false;
	}
	if (pass(b, slots, 8, want, 0, DISK / 2, 65536, 1, false, &errors))
		return 2;
	if (blkenv_child_ready(&rs->fe))
		return 3;
	/* The daemon dies now; requests keep going on the ring and wait for it. */
	if (pass(b, slots, 8, want, DISK / 2, DISK, 65536, 2, false, &errors) ||
	    blkenv_child_wait_go(&rs->fe))
		return 4;
	if (pvf_blk_flush(b))
		return 5;
	if (pass(b, slots, 8, want, 0, DISK, 65536, 3, true, &errors))
		return 6;
	free(want);
	return errors ? 7 : 0;
}

void test_daemon_restart(void)
{
	struct dev d;
	struct restart rs;

	restart_frontend(&d, &rs, 1, through_restart);
	/* Several deaths while writes are in flight. */
	for (int k = 0; k < 5; k++) {
		CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, true), 128 + SIGKILL);
		CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, resize_fast), 0);
		poll(NULL, 0, 20 + 15 * k);
	}
	CU_ASSERT(blkenv_child_go(&rs.fe) == 0);
	CU_ASSERT_EQUAL(blkenv_child_wait(&rs.fe), 0);
	dev_remove(&d);
}

/* One write, then idle while the daemon is killed and restarted, then read it back. */
static int idle_through_restart(struct pvf_blk *b, void *arg)
{
	struct restart *rs = arg;
	uint8_t buf[4096], back[4096];

	blkenv_pattern(buf, sizeof(buf), rs->seed);
	if (pvf_blk_write(b, 0, buf, sizeof(buf)))
		return 2;
	if (blkenv_child_ready(&rs->fe) || blkenv_child_wait_go(&rs->fe))
		return 3;
	if (pvf_blk_read(b, 0, back, sizeof(back)) || memcmp(buf, back, sizeof(buf)))
		return 4;
	return 0;
}

/*
 * A daemon killed between publishing answers and notifying leaves the
 * frontend waiting: the one that takes the rings over sends each an event,
 * with nothing in flight too.
 */
void test_restart_notifies(void)
{
	struct dev d;
	struct restart rs;

	restart_frontend(&d, &rs, 0, idle_through_restart);
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, true), 128 + SIGKILL);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, resize_fast), 0);
	for (int i = 0; i < 300 && dev_counter(1, d.devid, "notifications.sent") < 2; i++)
		poll(NULL, 0, 10);
	CU_ASSERT(dev_counter(1, d.devid, "notifications.sent") >= 2); /* one per queue */
	CU_ASSERT(blkenv_child_go(&rs.fe) == 0);
	CU_ASSERT_EQUAL(blkenv_child_wait(&rs.fe), 0);
	dev_remove(&d);
}

/* Three 1 MiB writes, then a barrier without data, on one queue. */
#define REDO_WRITES 3
#define REDO_LEN    (1u << 20)

struct redo_case {
	struct blkenv_child fe;
	int status[REDO_WRITES + 1];
};

static void redo_done(void *cookie, int status)
{
	*(int *)cookie = status;
}

/*
 * Wait (a minute at most: a daemon restart takes a second) for every
 * answer: each OKAY, and the writes' data read back.  0, or 1 (no answer),
 * 2 (an error answered), 3 (the data differ).
 */
static int redo_answered(struct pvf_blk *b, const struct redo_case *rc, uint8_t *const *buf,
			 uint8_t *back)
{
	int waited = 0;

	while (pvf_blk_inflight(b)) {
		int r = pvf_blk_reap(b, 1000);

		if (r == -ETIMEDOUT && ++waited < 60)
			continue;
		if (r < 0)
			return 1;
	}
	for (int i = 0; i <= REDO_WRITES; i++)
		if (rc->status[i])
			return 2;
	for (int i = 0; i < REDO_WRITES; i++)
		if (pvf_blk_read(b, (uint64_t)i * REDO_LEN, back, REDO_LEN) ||
		    memcmp(back, buf[i], REDO_LEN))
			return 3;
	return 0;
}

/*
 * The four go on the ring at once; the daemon dies with all of them taken
 * and none answered, and the next one does them again: each is answered
 * OKAY and the data is on the disk.
 */
static int barrier_behind_writes(struct pvf_blk *b, void *arg)
{
	struct redo_case *rc = arg;
	uint8_t *buf[REDO_WRITES], *back = malloc(REDO_LEN);
	int r;

	for (int i = 0; i < REDO_WRITES; i++) {
		buf[i] = pvf_blk_alloc(b, REDO_LEN);
		if (!buf[i] || !back)
			return 2;
		blkenv_pattern(buf[i], REDO_LEN, 31 + (uint64_t)i);
		rc->status[i] = 1000;
		if (pvf_blk_submit(b, 0, PVF_WRITE, (uint64_t)i * REDO_LEN, buf[i], REDO_LEN,
				   redo_done, &rc->status[i]))
			return 3;
	}
	rc->status[REDO_WRITES] = 1000;
	if (pvf_blk_submit(b, 0, PVF_BARRIER, 0, NULL, 0, redo_done, &rc->status[REDO_WRITES]))
		return 4;
	pvf_blk_kick(b);
	if (blkenv_child_ready(&rc->fe))
		return 5;
	r = redo_answered(b, rc, buf, back);
	if (r)
		return 5 + r; /* 6, 7, 8 */
	free(back);
	/* Still connected while the test reads the counters. */
	return blkenv_child_ready(&rc->fe) || blkenv_child_wait_go(&rc->fe) ? 9 : 0;
}

/*
 * A restarted daemon redoes what the dead one took: in ring order, under
 * the rules the ring's requests follow.  The first daemon (--map-min: the
 * writes are mapped) stalls at its first unmap (the sim's "unmap-stall"),
 * with three 1 MiB writes and a barrier without data taken and none
 * answered, and is killed.  The next one (the default: grant copy without
 * persistent grants) copies the writes: two fill its bounce pages (512),
 * the third waits for them, and the barrier must wait behind it, not park
 * in front of it
 * (it would then wait for the third to finish, which waits for the barrier
 * to let it start: the ring would hang).
 */
void test_redo_in_order(void)
{
	static const char *const stalls[] = { "--resize-interval", "100", "--map-min", "4096",
					      NULL };
	char marker[256];
	struct dev d;
	struct pvf_blk_opts o;
	struct redo_case rc;
	json_object *root, *dev;
	int r;

	snprintf(marker, sizeof(marker), "%s/unmap-stalled", E.sim.dir);
	unlink(marker);
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	setenv("PVSPLIT_SIM_FAULTS", "unmap-stall", 1);
	r = blkenv_daemon_start(&E, stalls);
	unsetenv("PVSPLIT_SIM_FAULTS");
	if (r) {
		CU_FAIL("the daemon with the unmap-stall fault did not start");
		CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, resize_fast), 0);
		return;
	}
	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	o.persistent = false;
	o.pool_pages = REDO_WRITES * (REDO_LEN / 4096) + 64;
	r = blkenv_fork_frontend(&E, &rc.fe, 1, &o, barrier_behind_writes, &rc);
	CU_ASSERT(r > 0);
	if (r > 0) {
		CU_ASSERT(blkenv_child_wait_ready(&rc.fe) == 0);
		for (int i = 0; i < 500 && access(marker, F_OK); i++)
			poll(NULL, 0, 10);
		CU_ASSERT(access(marker, F_OK) == 0);
	}
	unlink(marker);
	/* Killed whatever happened: a stalling daemon must not serve the tests after this. */
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, true), 128 + SIGKILL);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, resize_fast), 0);
	if (r > 0 && blkenv_child_wait_ready(&rc.fe) == 0) {
		root = blkenv_stats(&E);
		dev = root ? blkenv_dev_stats(root, 1, d.devid) : NULL;
		/* All four were taken by the first daemon (none answered): all redone. */
		CU_ASSERT(dev && stat_u64(dev, "queues.0.requests.redone") == REDO_WRITES + 1);
		CU_ASSERT(dev && stat_u64(dev, "queues.0.requests.barrier") == 1);
		CU_ASSERT(dev && stat_u64(dev, "queues.0.requests.write") >= REDO_WRITES);
		/* The third write did wait for bounce pages (the case this is about). */
		CU_ASSERT(dev && stat_u64(dev, "queues.0.bounce.waits") >= 1);
		json_object_put(root);
		CU_ASSERT(blkenv_child_go(&rc.fe) == 0);
	}
	if (r > 0)
		CU_ASSERT_EQUAL(blkenv_child_wait(&rc.fe), 0);
	dev_remove(&d);
}

/*
 * Rounds of three 1 MiB writes and a barrier without data, each pushed
 * while the daemon is stopped (SIGSTOP): even rounds put the barrier third
 * (it parks behind the two writes that fill the bounce pages), odd ones
 * last (the third write waits for bounce pages).  The test sends SIGTERM
 * and SIGCONT together: the daemon takes requests, then stops, and the
 * next daemon finishes them.  Every answer OKAY, the data on the disk.
 * (How far the daemon gets before it stops depends on what its loop finds
 * ready together: hence four rounds.)
 */
#define HANDOVER_ROUNDS 4

static int handover_rounds(struct pvf_blk *b, void *arg)
{
	struct redo_case *rc = arg;
	uint8_t *buf[REDO_WRITES], *back = malloc(REDO_LEN);

	for (int i = 0; i < REDO_WRITES; i++) {
		buf[i] = pvf_blk_alloc(b, REDO_LEN);
		if (!buf[i] || !back)
			return 2;
	}
	if (blkenv_child_ready(&rc->fe))
		return 3;
	for (int round = 0; round < HANDOVER_ROUNDS; round++) {
		int r, *bar = &rc->status[REDO_WRITES];

		if (blkenv_child_wait_go(&rc->fe))
			return 4;
		*bar = 1000;
		for (int i = 0; i < REDO_WRITES; i++) {
			blkenv_pattern(buf[i], REDO_LEN, 51 + (uint64_t)(round * REDO_WRITES + i));
			rc->status[i] = 1000;
			if (round % 2 == 0 && i == 2 &&
			    pvf_blk_submit(b, 0, PVF_BARRIER, 0, NULL, 0, redo_done, bar))
				return 5;
			if (pvf_blk_submit(b, 0, PVF_WRITE, (uint64_t)i * REDO_LEN, buf[i],
					   REDO_LEN, redo_done, &rc->status[i]))
				return 5;
		}
		if (round % 2 && pvf_blk_submit(b, 0, PVF_BARRIER, 0, NULL, 0, redo_done, bar))
			return 5;
		pvf_blk_kick(b);
		if (blkenv_child_ready(&rc->fe))
			return 6;
		r = redo_answered(b, rc, buf, back);
		if (r)
			return 6 + r; /* 7, 8, 9 */
		if (blkenv_child_ready(&rc->fe))
			return 10;
	}
	free(back);
	return blkenv_child_wait_go(&rc->fe) ? 11 : 0;
}

/* SIGSTOP the daemon and wait until it is stopped (kill() returns before). */
static bool daemon_stopped(void)
{
	char path[64], st[512], *p;

	if (kill(E.daemon, SIGSTOP))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)E.daemon);
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(st, 1, sizeof(st) - 1, f) : 0;

		if (f)
			fclose(f);
		st[n] = 0;
		p = strrchr(st, ')');
		if (p && p[1] == ' ' && p[2] == 'T')
			return true;
		poll(NULL, 0, 2);
	}
	return false;
}

/* Wait up to 10 s for the daemon to exit (then SIGKILL it): its exit status, or -1. */
static int daemon_exit(void)
{
	int st;

	for (int i = 0; i < 1000; i++) {
		pid_t p = waitpid(E.daemon, &st, WNOHANG);

		if (p == E.daemon)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (p < 0)
			return -1;
		poll(NULL, 0, 10);
	}
	kill(E.daemon, SIGKILL);
	waitpid(E.daemon, &st, 0);
	return -1;
}

/*
 * pvsplit-blkback stopped by SIGTERM (an upgrade, systemctl restart) with
 * requests taken but not started: it leaves them in the ring's journal for
 * the next daemon, where it used to answer them with errors.
 */
void test_sigterm_handover(void)
{
	struct dev d;
	struct pvf_blk_opts o;
	struct redo_case rc;
	uint64_t redone = 0;

	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	o.persistent = false;
	o.pool_pages = REDO_WRITES * (REDO_LEN / 4096) + 64;
	CU_ASSERT_FATAL(blkenv_fork_frontend(&E, &rc.fe, 1, &o, handover_rounds, &rc) > 0);
	CU_ASSERT_FATAL(blkenv_child_wait_ready(&rc.fe) == 0);
	for (int round = 0; round < HANDOVER_ROUNDS; round++) {
		bool stopped = daemon_stopped();
		bool pushed = stopped && blkenv_child_go(&rc.fe) == 0 &&
			      blkenv_child_wait_ready(&rc.fe) == 0;

		CU_ASSERT(stopped);
		CU_ASSERT(pushed);
		/* Both arrive at once: the loop serves the event, then stops. */
		kill(E.daemon, SIGTERM);
		kill(E.daemon, SIGCONT);
		CU_ASSERT_EQUAL(daemon_exit(), 0);
		CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, resize_fast), 0);
		if (!pushed || blkenv_child_wait_ready(&rc.fe))
			break;
		redone += dev_counter(1, d.devid, "requests.redone");
	}
	/* Something was left over to the next daemon (else this proved nothing). */
	CU_ASSERT(redone >= 1);
	CU_ASSERT(blkenv_child_go(&rc.fe) == 0);
	CU_ASSERT_EQUAL(blkenv_child_wait(&rc.fe), 0);
	dev_remove(&d);
}

/*
 * A small read and a barrier without data, pushed together, eight times:
 * the read (of what was just written: a page cache hit) completes inside
 * the submission, and its answer lets the parked barrier start after the
 * batch's submission was made.  Each answered within 5 s (nothing else is
 * in flight to wake the daemon again).
 */
static int barrier_after_inline(struct pvf_blk *b, void *arg)
{
	struct redo_case *rc = arg;
	uint8_t *buf = pvf_blk_alloc(b, 4096);

	if (!buf)
		return 2;
	blkenv_pattern(buf, 4096, 41);
	if (pvf_blk_write(b, 0, buf, 4096))
		return 3;
	for (int round = 0; round < 8; round++) {
		rc->status[0] = rc->status[1] = 1000;
		if (pvf_blk_submit(b, 0, PVF_READ, 0, buf, 4096, redo_done, &rc->status[0]) ||
		    pvf_blk_submit(b, 0, PVF_BARRIER, 0, NULL, 0, redo_done, &rc->status[1]))
			return 4;
		pvf_blk_kick(b);
		while (pvf_blk_inflight(b))
			if (pvf_blk_reap(b, 5000) < 0)
				return 5;
		if (rc->status[0] || rc->status[1])
			return 6;
	}
	return blkenv_child_ready(&rc->fe) || blkenv_child_wait_go(&rc->fe) ? 7 : 0;
}

void test_barrier_after_inline(void)
{
	struct dev d;
	struct pvf_blk_opts o;
	struct redo_case rc;

	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	CU_ASSERT_FATAL(blkenv_fork_frontend(&E, &rc.fe, 1, &o, barrier_after_inline, &rc) > 0);
	if (blkenv_child_wait_ready(&rc.fe) == 0) {
		CU_ASSERT(dev_counter(1, d.devid, "requests.barrier") == 8);
		/* The reads were page cache hits: a barrier went in at a batch's end. */
		CU_ASSERT(dev_counter(1, d.devid, "completions.late_submits") >= 1);
		CU_ASSERT(blkenv_child_go(&rc.fe) == 0);
	}
	CU_ASSERT_EQUAL(blkenv_child_wait(&rc.fe), 0);
	dev_remove(&d);
}
