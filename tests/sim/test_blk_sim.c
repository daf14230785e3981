// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Sim tier: pvsplit-blkback and the userspace blkfront over pvsplit-simhv.
 * Integrity across the feature matrix, FLUSH durability, discard,
 * read-only, resize, polling and waits, grant copy under pressure, the
 * persistent grant cache, xs-check, no leaks; and main, which also runs
 * test_blk_sim_guests.c's hostile frontends and lifecycle tests.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <poll.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <xenstore.h>
#include <xen/grant_table.h>

#include "pvsplit/hv-sim.h"

#include "blksim.h"

struct blkenv E;
uint32_t next_devid = 51712;
bool have_loop;
const char *const resize_fast[] = { "--resize-interval", "100", NULL };
static const char *const no_loop_file[] = { "--resize-interval", "100", "--no-loop-file", NULL };

/* ---- devices ---- */

int sh(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	int st;

	if (!p)
		return -1;
	if (out) {
		out[0] = 0;
		if (fgets(out, (int)len, p))
			out[strcspn(out, "\n")] = 0;
	}
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * bdev: LOOP_LIMITED, a loop device with a size limit, which the daemon
 * serves as the block device it is; LOOP_PLAIN, a plain one, which it
 * serves through its backing file (test_loop_file).
 */
/* A device for domid, backed by a new zeroed file (or a loop device over it). */
/* x: discard_enable and script taken from it when not NULL. */
void dev_add_ex(struct dev *d, uint32_t domid, uint64_t size, bool readonly, uint32_t sector,
		int bdev, const struct ts_vbd *x)
{
	struct ts_vbd v = { .backend_domid = 0, .domid = domid, .readonly = readonly };

	memset(d, 0, sizeof(*d));
	d->domid = domid;
	d->devid = next_devid++;
	snprintf(d->file, sizeof(d->file), "%s/disk-%u.img", E.sim.dir, d->devid);
	CU_ASSERT_FATAL(blkenv_make_file(d->file, size) == 0);
	v.devid = d->devid;
	v.params = d->file;
	v.sector_size = bdev ? 0 : sector;
	if (x) {
		v.discard_enable = x->discard_enable;
		v.script = x->script;
		v.direct_io_safe = x->direct_io_safe;
	}
	if (bdev) {
		char cmd[512];

		char limit[48] = "";

		if (bdev != LOOP_PLAIN)
			snprintf(limit, sizeof(limit), "--sizelimit %llu",
				 (unsigned long long)size);
		snprintf(cmd, sizeof(cmd), "losetup -f --show --sector-size %u %s '%s'",
			 sector ? sector : 512, limit, d->file);
		CU_ASSERT_FATAL(sh(cmd, d->loop, sizeof(d->loop)) == 0 && d->loop[0]);
		v.params = d->loop;
	}
	CU_ASSERT_FATAL(ts_vbd_add(E.xs, E.schema, &v) == 0);
}

void dev_add(struct dev *d, uint32_t domid, uint64_t size, bool readonly, uint32_t sector, int bdev)
{
	dev_add_ex(d, domid, size, readonly, sector, bdev, NULL);
}

void dev_remove(struct dev *d)
{
	CU_ASSERT_EQUAL(ts_vbd_remove(E.xs, E.schema, 0, d->domid, d->devid, 5000), 0);
	if (d->loop[0]) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "losetup -d %s", d->loop);
		sh(cmd, NULL, 0);
	}
	unlink(d->file);
}

void opts_for(struct pvf_blk_opts *o, const struct dev *d)
{
	pvf_blk_opts_default(o);
	o->devid = d->devid;
}

uint64_t stat_u64(json_object *dev, const char *path)
{
	/* "queues.0.errors.bad_range" style lookups, summed over queues when "queues.*". */
	char buf[128], *save = NULL, *tok;
	json_object *cur = dev;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) {
		if (!strcmp(tok, "*")) {
			uint64_t sum = 0;
			char rest[128];

			snprintf(rest, sizeof(rest), "%s", save ? save : "");
			for (size_t i = 0; i < json_object_array_length(cur); i++)
				sum += stat_u64(json_object_array_get_idx(cur, i), rest);
			return sum;
		}
		if (json_object_is_type(cur, json_type_array))
			cur = json_object_array_get_idx(cur, (size_t)atoi(tok));
		else if (!json_object_object_get_ex(cur, tok, &cur))
			cur = NULL;
	}
	return cur ? (uint64_t)json_object_get_int64(cur) : 0;
}

/* A counter of device (domid, devid), summed over its queues. */
uint64_t dev_counter(uint32_t domid, uint32_t devid, const char *path)
{
	json_object *root = blkenv_stats(&E);
	json_object *d = blkenv_dev_stats(root, domid, devid);
	char full[160];
	uint64_t v;

	snprintf(full, sizeof(full), "queues.*.%s", path);
	v = d ? stat_u64(d, full) : 0;
	json_object_put(root);
	return v;
}

/* What `pvsplit stats ARGS --socket <the daemon's>` prints (NULL if it failed); free it. */
char *pvsplit_stats(const char *args)
{
	const char *bd = getenv("PVSPLIT_BUILDDIR");
	size_t cap = 1 << 20, len = 0, n;
	char cmd[512], *buf = malloc(cap);
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s/tools/pvsplit/pvsplit stats %s --socket %s", bd ? bd : ".",
		 args, E.ctl);
	p = popen(cmd, "r");
	while (buf && p && (n = fread(buf + len, 1, cap - 1 - len, p)) > 0)
		len += n;
	if (!p || pclose(p) != 0 || !buf) {
		free(buf);
		return NULL;
	}
	buf[len] = 0;
	return buf;
}

/* ---- integrity with asynchronous I/O over every queue ---- */

static void io_done(void *cookie, int status)
{
	struct iot *t = cookie;

	t->busy = false;
	if (status) {
		fprintf(stderr, "%s %llu+%zu: status %d\n", t->reading ? "read" : "write",
			(unsigned long long)t->off, t->len, status);
		(*t->errors)++;
	} else if (t->reading && memcmp(t->buf, t->want + t->off, t->len)) {
		fprintf(stderr, "mismatch in %llu+%zu\n", (unsigned long long)t->off, t->len);
		(*t->errors)++;
	}
}

/* Write (or read and compare) want[base, end) with random sizes, qd at a time. */
int pass(struct pvf_blk *b, struct iot *slots, uint32_t qd, const uint8_t *want, uint64_t base,
	 uint64_t end, size_t io_max, uint64_t seed, bool reading, int *errors)
{
	struct pvf_blk_info in;
	uint64_t x = seed | 1, n = 0;
	const uint64_t size = end;

	pvf_blk_get_info(b, &in);
	for (uint64_t off = base; off < size; n++) {
		struct iot *t = NULL;
		size_t len;
		int r;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len = (size_t)(x % io_max) / in.sector_size * in.sector_size + in.sector_size;
		if (off + len > size)
			len = (size_t)(size - off);
		while (!t) {
			for (uint32_t i = 0; i < qd && !t; i++)
				if (!slots[i].busy)
					t = &slots[i];
			if (!t && pvf_blk_reap(b, 10000) < 0)
				return -ETIMEDOUT;
		}
		*t = (struct iot){ .b = b,
				   .buf = t->buf,
				   .want = want,
				   .off = off,
				   .len = len,
				   .busy = true,
				   .reading = reading,
				   .errors = errors };
		if (!reading)
			memcpy(t->buf, want + off, len);
		r = pvf_blk_submit(b, (uint32_t)(n % in.queues), reading ? PVF_READ : PVF_WRITE,
				   off, t->buf, len, io_done, t);
		if (r) {
			fprintf(stderr, "submit %llu+%zu: %s\n", (unsigned long long)off, len,
				strerror(-r));
			return r;
		}
		pvf_blk_kick(b);
		off += len;
	}
	while (pvf_blk_inflight(b))
		if (pvf_blk_reap(b, 10000) < 0)
			return -ETIMEDOUT;
	return 0;
}

int integrity(struct pvf_blk *b, void *arg)
{
	struct integ *t = arg;
	struct pvf_blk_info in;
	struct iot slots[32];
	uint8_t *want;
	size_t io_max;
	int errors = 0;

	pvf_blk_get_info(b, &in);
	if (in.size != DISK) {
		fprintf(stderr, "size %llu, expected %u\n", (unsigned long long)in.size, DISK);
		return 2;
	}
	io_max = t->io_max;
	if (io_max > (size_t)in.max_segments * 4096)
		io_max = (size_t)in.max_segments * 4096;
	want = malloc(in.size);
	if (!want)
		return 3;
	blkenv_pattern(want, in.size, t->seed);
	for (uint32_t i = 0; i < t->qd; i++) {
		slots[i].buf = pvf_blk_alloc(b, io_max);
		slots[i].busy = false;
		if (!slots[i].buf)
			return 4;
	}
	if (pass(b, slots, t->qd, want, 0, in.size, io_max, t->seed, false, &errors))
		return 5;
	if (pvf_blk_flush(b))
		return 6;
	if (pass(b, slots, t->qd, want, 0, in.size, io_max, t->seed * 7, true, &errors))
		return 7;
	free(want);
	return errors ? 8 : 0;
}

struct matrix_case {
	bool persistent, indirect;
	uint32_t ring_order, queues, sector;
	bool bdev, large;
	const char *protocol;
};

static void run_case(const struct matrix_case *c)
{
	struct integ t = { .io_max = 256 * 1024, .qd = 8 };
	struct pvf_blk_opts o;
	struct dev d;
	int r;

	if (c->bdev && !have_loop) {
		fprintf(stderr, "  (no loop devices here: the block device case is skipped)\n");
		return;
	}
	dev_add(&d, 1, DISK, false, c->sector, c->bdev);
	opts_for(&o, &d);
	o.persistent = c->persistent;
	o.indirect = c->indirect;
	o.ring_order = c->ring_order;
	o.queues = c->queues;
	o.large_sectors = c->large;
	o.protocol = c->protocol;
	t.seed = d.devid;
	r = blkenv_run_frontend(&E, 1, &o, integrity, &t);
	if (r)
		fprintf(stderr,
			"case persistent=%d indirect=%d order=%u queues=%u sector=%u bdev=%d "
			"large=%d protocol=%s: %d\n",
			c->persistent, c->indirect, c->ring_order, c->queues, c->sector, c->bdev,
			c->large, c->protocol ? c->protocol : "native", r);
	CU_ASSERT_EQUAL(r, 0);
	/* The data is in the backing store itself. */
	{
		uint8_t *want = malloc(DISK), *got = malloc(DISK);
		int fd = open(d.file, O_RDONLY);

		blkenv_pattern(want, DISK, d.devid);
		CU_ASSERT(fd >= 0 && pread(fd, got, DISK, 0) == DISK && !memcmp(want, got, DISK));
		close(fd);
		free(want);
		free(got);
	}
	dev_remove(&d);
}

/*
 * A daemon allowed one CPU (taskset, a 1-vCPU dom0) copies large transfers
 * inline, without IOSQE_ASYNC: data intact with persistent grants and with
 * grant copy, 256 KiB requests, QD8.
 */
struct big_case {
	struct integ t;
	struct blkenv_child fe;
};

/* The integrity run, then stay connected until the test has read the stats. */
static int integrity_then_wait(struct pvf_blk *b, void *arg)
{
	struct big_case *c = arg;
	int r = integrity(b, &c->t);

	if (r)
		return r;
	return blkenv_child_ready(&c->fe) || blkenv_child_wait_go(&c->fe) ? 1 : 0;
}

/*
 * One 256 KiB integrity run on a new device; the large transfers it made,
 * async and inline.  Its indirect pages come through the persistent cache
 * when persistent grants are on, by grant copy otherwise.
 */
static int big_run(bool persistent, uint64_t *async, uint64_t *inl)
{
	struct big_case c = { .t = { .io_max = 256 * 1024, .qd = 8 } };
	struct pvf_blk_opts o;
	struct dev d;
	int r;

	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	o.persistent = persistent;
	o.indirect = true;
	c.t.seed = d.devid;
	*async = *inl = 0;
	r = blkenv_fork_frontend(&E, &c.fe, 1, &o, integrity_then_wait, &c);
	if (r > 0 && !blkenv_child_wait_ready(&c.fe)) {
		*async = dev_counter(1, d.devid, "large_transfers.async");
		*inl = dev_counter(1, d.devid, "large_transfers.inline");
		if (persistent) {
			CU_ASSERT(dev_counter(1, d.devid, "grants.indirect_cached") > 0);
			CU_ASSERT_EQUAL(dev_counter(1, d.devid, "grants.copied"), 0);
		} else {
			CU_ASSERT(dev_counter(1, d.devid, "grants.copied") > 0);
		}
		blkenv_child_go(&c.fe);
	}
	r = r > 0 ? blkenv_child_wait(&c.fe) : r;
	dev_remove(&d);
	return r;
}

static void test_one_cpu(void)
{
	cpu_set_t all, one;
	uint64_t async, inl;
	int r, cpu = 0;

	CU_ASSERT_FATAL(sched_getaffinity(0, sizeof(all), &all) == 0);
	while (!CPU_ISSET(cpu, &all))
		cpu++;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	/* The daemon inherits the mask. */
	CU_ASSERT_FATAL(sched_setaffinity(0, sizeof(one), &one) == 0);
	r = blkenv_daemon_start(&E, resize_fast);
	CU_ASSERT_FATAL(sched_setaffinity(0, sizeof(all), &all) == 0);
	CU_ASSERT_EQUAL_FATAL(r, 0);
	for (int persistent = 0; persistent < 2; persistent++) {
		r = big_run(persistent, &async, &inl);
		if (r)
			fprintf(stderr, "persistent=%d: %d\n", persistent, r);
		CU_ASSERT_EQUAL(r, 0);
		/* Large transfers were made, and copied inline. */
		CU_ASSERT(inl > 0);
		CU_ASSERT_EQUAL(async, 0);
	}
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, resize_fast), 0);
	/* With more than one CPU they go to io_uring workers. */
	if (CPU_COUNT(&all) > 1) {
		CU_ASSERT_EQUAL(big_run(true, &async, &inl), 0);
		CU_ASSERT(async > 0);
		CU_ASSERT_EQUAL(inl, 0);
	}
}

/*
 * The end of a case run on a daemon started with options of its own: the
 * frontend's exit (r: blkenv_fork_frontend()'s result), the device
 * removed, the daemon restarted as the other cases expect it.
 */
static void end_with_default_daemon(struct big_case *c, struct dev *d, int r)
{
	if (r > 0)
		CU_ASSERT_EQUAL(blkenv_child_wait(&c->fe), 0);
	dev_remove(d);
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, resize_fast), 0);
}

/*
 * Integrity, then wait for the test; a pause well past the daemon's polling
 * window, integrity again, wait for the test again.
 */
static int integrity_pause_wait(struct pvf_blk *b, void *arg)
{
	struct big_case *c = arg;
	int r = integrity(b, &c->t);

	if (r)
		return r;
	if (blkenv_child_ready(&c->fe) || blkenv_child_wait_go(&c->fe))
		return 1;
	/* The daemon stops polling and asks for notifications again: they must wake it. */
	poll(NULL, 0, 300);
	c->t.seed++;
	r = integrity(b,
		      &c->t); /* pvf_blk's timeout turns a daemon that never wakes into an error */
	if (r)
		return 20 + r;
	return blkenv_child_ready(&c->fe) || blkenv_child_wait_go(&c->fe) ? 1 : 0;
}

/*
 * --poll-us: requests found by polling the ring need no event from the
 * frontend; after an idle window the daemon sleeps and events wake it again.
 * poll_us: a fixed window, or auto:MAX (adaptive).
 */
static void polling_case(const char *poll_us)
{
	/* No resize timer: nothing but events may wake the daemon. */
	const char *const polling[] = { "--resize-interval", "0", "--poll-us", poll_us, NULL };
	struct big_case c = { .t = { .io_max = 64 * 1024, .qd = 1 } };
	struct pvf_blk_opts o;
	struct dev d;
	int r;

	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, polling), 0);
	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	c.t.seed = d.devid;
	r = blkenv_fork_frontend(&E, &c.fe, 1, &o, integrity_pause_wait, &c);
	CU_ASSERT(r > 0);
	if (r > 0 && !blkenv_child_wait_ready(&c.fe)) {
		uint64_t polled = dev_counter(1, d.devid, "notifications.polled");
		uint64_t events = dev_counter(1, d.devid, "notifications.received");
		uint64_t reqs = dev_counter(1, d.devid, "requests.read") +
				dev_counter(1, d.devid, "requests.write");

		/* the daemon says how it polls (the stats' "polling") */
		json_object *root = blkenv_stats(&E), *pol;
		bool adaptive = !strncmp(poll_us, "auto", 4);
		uint64_t preempts = 0;

		if (root && json_object_object_get_ex(root, "polling", &pol)) {
			const char *mode =
				json_object_get_string(json_object_object_get(pol, "mode"));

			CU_ASSERT_STRING_EQUAL(mode ? mode : "(none)",
					       adaptive ? "adaptive" : "fixed");
			CU_ASSERT_EQUAL(stat_u64(pol, "max_us"), 20000);
			CU_ASSERT(json_object_object_get_ex(pol, "preempts", NULL));
			preempts = stat_u64(pol, "preempts");
			if (adaptive)
				CU_ASSERT(stat_u64(pol, "grows") > 0);
		} else {
			CU_FAIL("no \"polling\" in the daemon's stats");
		}
		json_object_put(root);
		if (!polled || events * 2 >= reqs)
			fprintf(stderr,
				"polling: %llu polled, %llu events, %llu requests, "
				"%llu windows preempted\n",
				(unsigned long long)polled, (unsigned long long)events,
				(unsigned long long)reqs, (unsigned long long)preempts);
		/*
		 * Most requests came without an event: found by polling.  An
		 * adaptive window holds off after its CPU was taken away (a busy
		 * test machine): then they may not have.
		 */
		if (!adaptive || !preempts) {
			CU_ASSERT(polled > 0);
			CU_ASSERT(events * 2 < reqs);
		}
		/* and so does the table */
		{
			char *table = pvsplit_stats("");
			const char *want = adaptive ? "  polling: adaptive, window "
						    : "  polling: 20000 us after each burst (CPU "
						      "taken away in ";

			CU_ASSERT(table && strstr(table, want));
			if (table && !strstr(table, want))
				fprintf(stderr, "no '%s' in:\n%s", want, table);
			free(table);
		}
		CU_ASSERT(blkenv_child_go(&c.fe) == 0);
		/* After the pause the daemon slept: an event woke it. */
		if (!blkenv_child_wait_ready(&c.fe)) {
			CU_ASSERT(dev_counter(1, d.devid, "notifications.received") > events);
			CU_ASSERT(blkenv_child_go(&c.fe) == 0);
		}
	}
	end_with_default_daemon(&c, &d, r);
}

static void test_polling(void)
{
	polling_case("20000");
}

/* The adaptive window grows for a frontend at queue depth 1. */
static void test_polling_adaptive(void)
{
	polling_case("auto:20000");
}

/* Queue 0 of dom1's device devid unmasks its port this way ("io_uring", "system call"). */
static bool unmask_is(uint32_t devid, const char *want)
{
	json_object *root = blkenv_stats(&E), *dev, *v = NULL;
	bool ok;

	dev = root ? blkenv_dev_stats(root, 1, devid) : NULL;
	if (dev && json_object_object_get_ex(dev, "queues", &v))
		v = json_object_array_get_idx(v, 0);
	if (v && json_object_object_get_ex(v, "notifications", &v))
		json_object_object_get_ex(v, "unmask", &v);
	ok = v && !strcmp(json_object_get_string(v), want);
	if (!ok)
		fprintf(stderr, "  unmask: %s, want %s\n", v ? json_object_get_string(v) : "(none)",
			want);
	json_object_put(root);
	return ok;
}

/*
 * Where the daemon's loop sleeps (the stats' "wait"): mode, and the
 * operations that came back through its io_uring (the event channel's
 * polls, the queues' completions while requests are in flight).
 */
static void wait_is(const char *want, bool ring_ops)
{
	json_object *root = blkenv_stats(&E), *w;

	if (root && json_object_object_get_ex(root, "wait", &w)) {
		const char *mode = json_object_get_string(json_object_object_get(w, "mode"));

		CU_ASSERT_STRING_EQUAL(mode ? mode : "(none)", want);
		CU_ASSERT(stat_u64(w, "sleeps") > 0);
		CU_ASSERT_EQUAL(stat_u64(w, "ring_ops") > 0, ring_ops);
		CU_ASSERT_EQUAL(stat_u64(w, "fallbacks"), 0);
	} else {
		CU_FAIL("no \"wait\" in the daemon's stats");
	}
	json_object_put(root);
}

/*
 * A new device of dom1 with one queue, and a frontend that runs the
 * integrity check on it at queue depth 1 (4 KiB at most), then waits for
 * the test.  Returns blkenv_fork_frontend()'s result.
 */
static int qd1_frontend(struct big_case *c, struct dev *d)
{
	struct pvf_blk_opts o;
	int r;

	*c = (struct big_case){ .t = { .io_max = 4096, .qd = 1 } };
	dev_add(d, 1, DISK, false, 512, false);
	opts_for(&o, d);
	o.queues = 1;
	c->t.seed = d->devid;
	r = blkenv_fork_frontend(&E, &c->fe, 1, &o, integrity_then_wait, c);
	CU_ASSERT(r > 0);
	return r;
}

/*
 * What a request costs the daemon at queue depth 1, where each system call
 * counts (one is ~18 us in the lab's PV dom0 under TCG): a request served
 * within its io_uring submission (page cache) must not read the clock for
 * its timing (a system call in a Xen guest without a stable TSC) nor wake
 * the loop a second time for the completion it already reaped, and the
 * event channel's unmask rides on the io_uring submission.  The timings are
 * still taken for what completes later (the flushes).  On a daemon that
 * does not poll (--poll-us 0): every request comes by event.
 */
static void test_qd1_costs(void)
{
	const char *const no_polling[] = { "--resize-interval", "100", "--poll-us", "0", NULL };
	struct big_case c;
	struct dev d;
	int r;

	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, no_polling), 0);
	r = qd1_frontend(&c, &d);
	if (r > 0 && !blkenv_child_wait_ready(&c.fe)) {
		uint64_t reqs = dev_counter(1, d.devid, "requests.read") +
				dev_counter(1, d.devid, "requests.write");
		uint64_t inl = dev_counter(1, d.devid, "completions.at_submit");
		uint64_t later = dev_counter(1, d.devid, "completions.later");
		uint64_t empty = dev_counter(1, d.devid, "completions.empty_wakeups");
		uint64_t clocks = dev_counter(1, d.devid, "clock_reads");
		uint64_t timed = dev_counter(1, d.devid, "service_us.count");
		uint64_t flushes = dev_counter(1, d.devid, "requests.flush");

		fprintf(stderr,
			"  qd1: %llu requests, %llu completed at submit, %llu later, %llu empty "
			"wakeups, %llu clock reads\n",
			(unsigned long long)reqs, (unsigned long long)inl,
			(unsigned long long)later, (unsigned long long)empty,
			(unsigned long long)clocks);
		/*
		 * 8 MiB in writes and reads of at most 4 KiB: page cache hits,
		 * done within their submission (on a busy machine the kernel
		 * hands some to workers: they complete later).
		 */
		CU_ASSERT(reqs >= 2 * 2048);
		CU_ASSERT(inl >= 100);
		/* No wakeup for what was reaped at submission. */
		CU_ASSERT(empty * 10 < inl);
		/*
		 * The clock is read only for what completes later: once when
		 * the batch that took it ends, once when its completion comes.
		 */
		CU_ASSERT(clocks <= 2 * later + 4);
		/* Each request is still timed, and what went to a worker read the clock. */
		CU_ASSERT_EQUAL(timed, reqs + flushes);
		if (later)
			CU_ASSERT(clocks > 0);
		/* The port's unmask went with the io_uring submissions (no unmask of its own). */
		CU_ASSERT(unmask_is(d.devid, "io_uring"));
		/* The loop slept in its io_uring, the event channel waited for there. */
		wait_is("io_uring", true);
		/* this daemon does not poll, and pvsplit stats says so */
		{
			char *table = pvsplit_stats("");

			CU_ASSERT(table && strstr(table, "  polling: off\n"));
			free(table);
		}
		CU_ASSERT(blkenv_child_go(&c.fe) == 0);
	}
	end_with_default_daemon(&c, &d, r);
}

/*
 * --wait epoll: the loop sleeps in epoll_wait() and reads the event channel
 * itself; the same integrity check at queue depth 1, every request by event.
 */
static void test_wait_epoll(void)
{
	const char *const args[] = {
		"--resize-interval", "0", "--poll-us", "0", "--wait", "epoll", NULL
	};
	struct big_case c;
	struct dev d;
	int r;

	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, args), 0);
	r = qd1_frontend(&c, &d);
	if (r > 0 && !blkenv_child_wait_ready(&c.fe)) {
		uint64_t reqs = dev_counter(1, d.devid, "requests.read") +
				dev_counter(1, d.devid, "requests.write");

		CU_ASSERT(reqs >= 2 * 2048);
		CU_ASSERT(dev_counter(1, d.devid, "notifications.received") > 0);
		wait_is("epoll", false);
		CU_ASSERT(blkenv_child_go(&c.fe) == 0);
	}
	end_with_default_daemon(&c, &d, r);
}

/*
 * Without --poll-us the daemon polls with the adaptive window, bounded by
 * 50 system calls' worth, within 20 us and 2 ms.
 */
static void test_polling_default(void)
{
	json_object *root = blkenv_stats(&E), *pol;
	char *table = pvsplit_stats("");

	if (root && json_object_object_get_ex(root, "polling", &pol)) {
		const char *mode = json_object_get_string(json_object_object_get(pol, "mode"));
		uint64_t max = stat_u64(pol, "max_us");

		CU_ASSERT_STRING_EQUAL(mode ? mode : "(none)", "adaptive");
		if (max < 20 || max > 2000)
			fprintf(stderr, "  polling: bound %llu us\n", (unsigned long long)max);
		CU_ASSERT(max >= 20 && max <= 2000);
	} else {
		CU_FAIL("no \"polling\" in the daemon's stats");
	}
	json_object_put(root);
	CU_ASSERT(table && strstr(table, "  polling: adaptive, window "));
	free(table);
}

/*
 * An io_uring that refuses the unmask operation (the sim's "unmask-op"
 * fault: EINVAL, as a kernel without the opcode): the queue unmasks by
 * system call from then on, and keeps serving.  Every event after the first
 * needs that unmask, so a queue that lost it times out.
 */
static void test_unmask_fallback(void)
{
	struct big_case c;
	struct dev d;
	int r;

	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	setenv("PVSPLIT_SIM_FAULTS", "unmask-op", 1);
	r = blkenv_daemon_start(&E, resize_fast);
	unsetenv("PVSPLIT_SIM_FAULTS");
	CU_ASSERT_EQUAL_FATAL(r, 0);
	r = qd1_frontend(&c, &d);
	if (r > 0 && !blkenv_child_wait_ready(&c.fe)) {
		CU_ASSERT(dev_counter(1, d.devid, "requests.read") >= 2048);
		CU_ASSERT(unmask_is(d.devid, "system call"));
		CU_ASSERT(blkenv_child_go(&c.fe) == 0);
	}
	end_with_default_daemon(&c, &d, r);
}

/*
 * Every value of every dimension, each in several combinations: persistent
 * on/off x indirect on/off x ring order 0..3 x queues 1..4 x sector size
 * 512/4096 x file/block device, plus both foreign ABIs.
 */
static const struct matrix_case matrix[] = {
	{ true, true, 0, 1, 512, false, false, NULL },
	{ false, true, 1, 2, 512, false, false, NULL },
	{ true, false, 2, 3, 512, false, false, NULL },
	{ false, false, 3, 4, 512, false, false, NULL },
	{ true, true, 3, 2, 4096, false, false, NULL },
	{ false, true, 2, 1, 4096, false, true, NULL },
	{ true, false, 1, 4, 4096, false, false, NULL },
	{ false, false, 0, 3, 4096, false, true, NULL },
	{ true, true, 1, 3, 512, true, false, NULL },
	{ false, false, 2, 2, 512, true, false, NULL },
	{ true, false, 0, 4, 4096, true, false, NULL },
	{ false, true, 3, 1, 4096, true, true, NULL },
	{ true, true, 2, 2, 512, false, false, "x86_32-abi" },
	{ false, true, 0, 1, 4096, false, false, "x86_32-abi" },
	{ true, true, 1, 2, 512, false, false, "x86_64-abi" },
	{ false, false, 3, 1, 512, false, false, "x86_64-abi" },
};

static void test_integrity_matrix(void)
{
	for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++)
		run_case(&matrix[i]);
}

/* ---- FLUSH, discard, read-only, resize ---- */

struct peek {
	const char *file;
};

/* Each write is in the file when it completes; FLUSH completes. */
static int durability(struct pvf_blk *b, void *arg)
{
	struct peek *p = arg;
	uint8_t buf[65536], back[65536];
	int fd = open(p->file, O_RDONLY);

	if (fd < 0)
		return 2;
	for (int i = 0; i < 16; i++) {
		uint64_t off = (uint64_t)i * 393216;

		blkenv_pattern(buf, sizeof(buf), 100 + (uint64_t)i);
		if (pvf_blk_write(b, off, buf, sizeof(buf)))
			return 3;
		if (pread(fd, back, sizeof(back), (off_t)off) != sizeof(back) ||
		    memcmp(buf, back, sizeof(buf)))
			return 4; /* acknowledged before it reached the file */
		if (pvf_blk_flush(b))
			return 5;
	}
	/* A write with the flush before it (REQ_PREFLUSH), then a barrier. */
	if (pvf_blk_barrier(b, 0, buf, 4096) || pvf_blk_barrier(b, 8192, NULL, 0))
		return 6;
	if (pread(fd, back, 4096, 0) != 4096 || memcmp(buf, back, 4096))
		return 7;
	close(fd);
	return 0;
}

static void test_flush_durability(void)
{
	struct dev d;
	struct pvf_blk_opts o;
	struct peek p;

	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	p.file = d.file;
	{
		int r = blkenv_run_frontend(&E, 1, &o, durability, &p);

		if (r)
			fprintf(stderr, "durability: %d\n", r);
		CU_ASSERT_EQUAL(r, 0);
	}
	dev_remove(&d);
}

/*
 * A ring full of writes with the flush before them (FLUSH_DISKCACHE with
 * data, Linux's REQ_PREFLUSH), pushed at once: three io_uring operations
 * each (flush, write, flush), linked, more than the queue's io_uring holds
 * (2 x 32 entries).  Each request's chain must reach the kernel in one
 * submission: the daemon submits early instead of cutting one.
 */
#define PREFLUSH_N 32

struct preflush {
	struct blkenv_child fe;
	int status[PREFLUSH_N];
	int done;
};

static void preflush_done(void *cookie, int status)
{
	int *st = cookie;

	*st = status;
}

static int preflush_ring(struct pvf_blk *b, void *arg)
{
	struct preflush *p = arg;
	uint8_t *buf = pvf_blk_alloc(b, PREFLUSH_N * 4096);

	if (!buf)
		return 2;
	for (int i = 0; i < PREFLUSH_N; i++) {
		p->status[i] = -1;
		blkenv_pattern(buf + i * 4096, 4096, 900 + (uint64_t)i);
		if (pvf_blk_submit(b, 0, PVF_FLUSH, (uint64_t)i * 12288, buf + i * 4096, 4096,
				   preflush_done, &p->status[i]))
			return 3;
	}
	pvf_blk_kick(b);
	for (int i = 0; i < 200 && pvf_blk_inflight(b); i++)
		if (pvf_blk_reap(b, 100) == -EPROTO)
			return 4;
	if (pvf_blk_inflight(b))
		return 5;
	for (int i = 0; i < PREFLUSH_N; i++)
		if (p->status[i] != BLKIF_RSP_OKAY)
			return 6;
	return blkenv_child_ready(&p->fe) || blkenv_child_wait_go(&p->fe) ? 1 : 0;
}

static void test_preflush_ring(void)
{
	struct preflush p = { 0 };
	struct pvf_blk_opts o;
	struct dev d;
	int r;

	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	o.queues = 1;
	o.ring_order = 0;
	r = blkenv_fork_frontend(&E, &p.fe, 1, &o, preflush_ring, &p);
	CU_ASSERT(r > 0);
	if (r > 0 && !blkenv_child_wait_ready(&p.fe)) {
		uint8_t want[4096], back[4096];
		int fd = open(d.file, O_RDONLY);
		uint64_t early = dev_counter(1, d.devid, "completions.early_submits");

		fprintf(stderr, "  %d flush+write requests at once: %llu early submissions\n",
			PREFLUSH_N, (unsigned long long)early);
		CU_ASSERT_EQUAL(dev_counter(1, d.devid, "requests.flush"), PREFLUSH_N);
		CU_ASSERT_EQUAL(dev_counter(1, d.devid, "bytes_written"), PREFLUSH_N * 4096);
		CU_ASSERT(early > 0);
		CU_ASSERT_EQUAL(dev_counter(1, d.devid, "errors.io"), 0);
		CU_ASSERT(fd >= 0);
		for (int i = 0; fd >= 0 && i < PREFLUSH_N; i++) {
			blkenv_pattern(want, sizeof(want), 900 + (uint64_t)i);
			CU_ASSERT(pread(fd, back, sizeof(back), (off_t)i * 12288) == sizeof(back) &&
				  !memcmp(want, back, sizeof(back)));
		}
		if (fd >= 0)
			close(fd);
		CU_ASSERT(blkenv_child_go(&p.fe) == 0);
	}
	CU_ASSERT_EQUAL(r > 0 ? blkenv_child_wait(&p.fe) : r, 0);
	dev_remove(&d);
}

/* Memory a test shares with its frontend child, for a test on loop devices: NULL (skipped) without them. */
static void *loop_test_mem(size_t n)
{
	void *m;

	if (!have_loop) {
		fprintf(stderr, "no loop devices here: skipped\n");
		return NULL;
	}
	m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(m != MAP_FAILED);
	return m;
}

/* Flushes the block layer completed on a loop device (field 16 of its stat). */
static long long loop_flushes(const char *dev)
{
	char path[128];
	long long v[17] = { 0 };
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/sys/block/%s/stat", strrchr(dev, '/') + 1);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (n < 17 && fscanf(f, "%lld", &v[n]) == 1)
		n++;
	fclose(f);
	return n == 17 ? v[15] : -1;
}

struct flushpeek {
	const char *dev;
	long long before_write, after_write, after_flush, after_barrier;
};

static int flush_reaches_device(struct pvf_blk *b, void *arg)
{
	struct flushpeek *fp = arg;
	uint8_t *buf = pvf_blk_alloc(b, 65536);

	if (!buf)
		return 2;
	memset(buf, 0x3c, 65536);
	fp->before_write = loop_flushes(fp->dev);
	if (pvf_blk_write(b, 0, buf, 65536))
		return 3;
	fp->after_write = loop_flushes(fp->dev);
	if (pvf_blk_flush(b))
		return 4;
	fp->after_flush = loop_flushes(fp->dev);
	if (pvf_blk_barrier(b, 65536, buf, 4096))
		return 5;
	fp->after_barrier = loop_flushes(fp->dev);
	return 0;
}

/*
 * On a block device, FLUSH_DISKCACHE and WRITE_BARRIER reach the device as
 * cache flushes (the loop device counts them); a plain write does not.
 */
static void test_flush_bdev(void)
{
	struct dev d;
	struct pvf_blk_opts o;
	struct flushpeek *fp = loop_test_mem(sizeof(*fp));

	if (!fp)
		return;
	dev_add(&d, 1, DISK, false, 512, LOOP_LIMITED);
	opts_for(&o, &d);
	fp->dev = d.loop;
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, flush_reaches_device, fp), 0);
	CU_ASSERT(fp->before_write >= 0);
	CU_ASSERT_EQUAL(fp->after_write, fp->before_write);
	CU_ASSERT(fp->after_flush > fp->after_write);
	CU_ASSERT(fp->after_barrier > fp->after_flush);
	dev_remove(&d);
	munmap(fp, sizeof(*fp));
}

static bool is_hole(int fd, off_t off, off_t len)
{
	off_t data = lseek(fd, off, SEEK_DATA);

	return data < 0 || data >= off + len;
}

static int discard(struct pvf_blk *b, void *arg)
{
	struct peek *p = arg;
	struct pvf_blk_info in;
	uint8_t buf[1 << 20], back[4096];
	int fd = open(p->file, O_RDONLY);

	pvf_blk_get_info(b, &in);
	if (!in.discard || fd < 0)
		return 2;
	memset(buf, 0xa5, sizeof(buf));
	if (pvf_blk_write(b, 1 << 20, buf, sizeof(buf)) || pvf_blk_flush(b))
		return 3;
	if (is_hole(fd, 1 << 20, 1 << 20))
		return 4;
	if (pvf_blk_discard(b, 1 << 20, 1 << 20, false))
		return 5;
	if (!is_hole(fd, 1 << 20, 1 << 20))
		return 6; /* not punched */
	if (pvf_blk_read(b, 1 << 20, back, sizeof(back)) || back[0] || back[4095])
		return 7;
	/* Beyond the end, or not sector aligned: errors. */
	if (pvf_blk_discard(b, DISK, 4096, false) != -EIO)
		return 8;
	if (pvf_blk_discard(b, DISK - 4096, 8192, false) != -EIO)
		return 9;
	/* Secure discard is not offered for files: asking for it anyway is refused. */
	if (in.secure_discard || pvf_blk_discard(b, 0, 4096, true) != -EOPNOTSUPP)
		return 10;
	close(fd);
	return 0;
}

static void test_discard(void)
{
	struct dev d;
	struct pvf_blk_opts o;
	struct peek p;

	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	p.file = d.file;
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, discard, &p), 0);
	dev_remove(&d);
}

static int no_discard(struct pvf_blk *b, void *arg)
{
	struct pvf_blk_info in;

	(void)arg;
	pvf_blk_get_info(b, &in);
	if (in.discard)
		return 2;
	/* Not offered: asking anyway is refused, and nothing is punched. */
	if (pvf_blk_discard(b, 0, 4096, false) != -EOPNOTSUPP)
		return 3;
	return 0;
}

/* discard-enable=0 (xl's no-discard) hides discard even where the file could punch holes. */
static void test_discard_disabled(void)
{
	struct dev d;
	struct pvf_blk_opts o;
	char *v;

	dev_add_ex(&d, 1, DISK, false, 512, false, &(struct ts_vbd){ .discard_enable = "0" });
	opts_for(&o, &d);
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, no_discard, NULL), 0);
	v = ts_vbd_read(E.xs, E.schema, true, 0, 1, d.devid, "feature-discard");
	CU_ASSERT(v && !strcmp(v, "0"));
	free(v);
	dev_remove(&d);
}

/* ---- a plain loop device: served through its backing file ---- */

struct loopprobe {
	uint32_t devid;
	char file[256];
	int in_file;		/* a completed write was in the file at once (no flush) */
	char backing_file[256]; /* stats' backing_file, "" when absent */
};

static int loop_peek(struct pvf_blk *b, void *arg)
{
	struct loopprobe *p = arg;
	uint8_t buf[65536], back[65536];
	json_object *root, *dev, *v;
	int fd;

	blkenv_pattern(buf, sizeof(buf), p->devid);
	if (pvf_blk_write(b, 131072, buf, sizeof(buf)))
		return 2;
	fd = open(p->file, O_RDONLY);
	if (fd < 0)
		return 3;
	p->in_file = pread(fd, back, sizeof(back), 131072) == (ssize_t)sizeof(back) &&
		     !memcmp(buf, back, sizeof(back));
	close(fd);
	if (pvf_blk_read(b, 131072, back, sizeof(back)) || memcmp(buf, back, sizeof(back)))
		return 4;
	p->backing_file[0] = 0;
	root = blkenv_stats(&E);
	dev = root ? blkenv_dev_stats(root, 1, p->devid) : NULL;
	if (dev && json_object_object_get_ex(dev, "backing_file", &v))
		snprintf(p->backing_file, sizeof(p->backing_file), "%s", json_object_get_string(v));
	json_object_put(root);
	return 0;
}

static void loop_case(struct loopprobe *p)
{
	struct pvf_blk_opts o;
	struct dev d;

	memset(p, 0, sizeof(*p));
	dev_add(&d, 1, DISK, false, 512, LOOP_PLAIN);
	opts_for(&o, &d);
	p->devid = d.devid;
	snprintf(p->file, sizeof(p->file), "%s", d.file);
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, loop_peek, p), 0);
	dev_remove(&d);
}

/*
 * What Xen's block script makes of a file, a plain loop device, is served
 * through that file: one page cache, a write in the file as soon as it
 * completes (through the loop device's own cache it waits for writeback).
 * --no-loop-file serves the loop device.
 */
static void test_loop_file(void)
{
	struct loopprobe *p = loop_test_mem(sizeof(*p));

	if (!p)
		return;
	loop_case(p);
	CU_ASSERT_STRING_EQUAL(p->backing_file, p->file);
	CU_ASSERT(p->in_file);
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, no_loop_file), 0);
	loop_case(p);
	CU_ASSERT_STRING_EQUAL(p->backing_file, "");
	CU_ASSERT(!p->in_file);
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, resize_fast), 0);
	munmap(p, sizeof(*p));
}

/* ---- direct-io-safe: O_DIRECT only with the toolstack's permission ---- */

struct dioprobe {
	const char *dev; /* the loop device the daemon serves */
	uint32_t devid;
	int direct_fds; /* the daemon's fds on dev opened O_DIRECT */
	int fds;	/* all its fds on dev */
	int stats;	/* "direct_io" in pvsplit stats: 0, 1, -1 absent */
};

/* While connected: how the daemon opened the store, from /proc and from its stats. */
static int dio_peek(struct pvf_blk *b, void *arg)
{
	struct dioprobe *p = arg;
	struct pvf_blk_info in;
	uint8_t buf[65536], back[65536];
	char path[384], target[256], line[128];
	json_object *root, *dev, *v;
	struct dirent *de;
	DIR *dir;

	/* Aligned I/O that would take the O_DIRECT path, verified. */
	pvf_blk_get_info(b, &in);
	blkenv_pattern(buf, sizeof(buf), p->devid);
	if (pvf_blk_write(b, 65536, buf, sizeof(buf)) || pvf_blk_flush(b) ||
	    pvf_blk_read(b, 65536, back, sizeof(back)) || memcmp(buf, back, sizeof(buf)))
		return 2;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)E.daemon);
	dir = opendir(path);
	if (!dir)
		return 3;
	p->fds = p->direct_fds = 0;
	while ((de = readdir(dir))) {
		ssize_t n;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)E.daemon, de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strcmp(target, p->dev))
			continue;
		p->fds++;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", (int)E.daemon, de->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "flags:", 6) && (strtoul(line + 6, NULL, 8) & O_DIRECT))
				p->direct_fds++;
		if (f)
			fclose(f);
	}
	closedir(dir);
	p->stats = -1;
	root = blkenv_stats(&E);
	dev = root ? blkenv_dev_stats(root, 1, p->devid) : NULL;
	if (dev && json_object_object_get_ex(dev, "direct_io", &v))
		p->stats = json_object_get_boolean(v);
	json_object_put(root);
	return 0;
}

/*
 * blkif.h: a backend may use O_DIRECT only where the toolstack writes
 * direct-io-safe = 1 (the O_DIRECT memory lifetime bug of network storage).
 * Without it the store goes through the page cache; with it, aligned
 * transfers bypass it.  A loop device, which always takes O_DIRECT.
 */
static void test_direct_io_safe(void)
{
	struct dioprobe *p = loop_test_mem(sizeof(*p));

	if (!p)
		return;
	for (int safe = 0; safe < 2; safe++) {
		struct dev d;
		struct pvf_blk_opts o;

		dev_add_ex(&d, 1, DISK, false, 512, LOOP_LIMITED,
			   &(struct ts_vbd){ .direct_io_safe = safe });
		opts_for(&o, &d);
		p->dev = d.loop;
		p->devid = d.devid;
		CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, dio_peek, p), 0);
		CU_ASSERT(p->fds >= 1);
		if (safe) {
			CU_ASSERT(p->direct_fds >= 1);
			CU_ASSERT_EQUAL(p->stats, 1);
		} else {
			CU_ASSERT_EQUAL(p->direct_fds, 0);
			CU_ASSERT_EQUAL(p->stats, 0);
		}
		dev_remove(&d);
	}
	/* --direct-io never: not even with the permission. */
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(
		blkenv_daemon_start(&E, (const char *const[]){ "--resize-interval", "100",
							       "--direct-io", "never", NULL }),
		0);
	{
		struct dev d;
		struct pvf_blk_opts o;

		dev_add_ex(&d, 1, DISK, false, 512, LOOP_LIMITED,
			   &(struct ts_vbd){ .direct_io_safe = true });
		opts_for(&o, &d);
		p->dev = d.loop;
		p->devid = d.devid;
		CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, dio_peek, p), 0);
		CU_ASSERT(p->fds >= 1);
		CU_ASSERT_EQUAL(p->direct_fds, 0);
		CU_ASSERT_EQUAL(p->stats, 0);
		dev_remove(&d);
	}
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, resize_fast), 0);
	munmap(p, sizeof(*p));
}

static int readonly(struct pvf_blk *b, void *arg)
{
	struct pvf_blk_info in;
	uint8_t buf[8192];

	pvf_blk_get_info(b, &in);
	if (!in.readonly)
		return 2;
	memset(buf, 0x77, sizeof(buf));
	if (pvf_blk_write(b, 0, buf, sizeof(buf)) != -EIO)
		return 3;
	if (pvf_blk_barrier(b, 0, buf, 4096) != -EIO)
		return 4;
	if (pvf_blk_discard(b, 0, 4096, false) == 0)
		return 5;
	if (pvf_blk_read(b, 0, buf, sizeof(buf)) || buf[0] != 0x11)
		return 6;
	if (pvf_blk_flush(b))
		return 7; /* a flush alone writes nothing */
	return 0;
}

static void test_readonly(void)
{
	struct dev d;
	struct pvf_blk_opts o;
	uint8_t buf[8192];
	int fd;

	dev_add(&d, 1, DISK, true, 512, false);
	fd = open(d.file, O_RDWR);
	memset(buf, 0x11, sizeof(buf));
	CU_ASSERT(pwrite(fd, buf, sizeof(buf), 0) == sizeof(buf));
	opts_for(&o, &d);
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, readonly, NULL), 0);
	CU_ASSERT(pread(fd, buf, sizeof(buf), 0) == sizeof(buf) && buf[0] == 0x11 &&
		  buf[8191] == 0x11);
	close(fd);
	dev_remove(&d);
}

static int resize(struct pvf_blk *b, void *arg)
{
	struct blkenv_child *fe = arg;
	struct pvf_blk_info in;
	uint8_t buf[4096], back[4096];

	pvf_blk_get_info(b, &in);
	if (in.size != DISK)
		return 2;
	if (blkenv_child_ready(fe) || blkenv_child_wait_go(fe))
		return 3;
	/* The backend notices within its resize interval and re-announces. */
	for (int i = 0; i < 200; i++) {
		if (pvf_blk_refresh(b))
			return 4;
		pvf_blk_get_info(b, &in);
		if (in.size == 2 * DISK)
			break;
		poll(NULL, 0, 20);
	}
	if (in.size != 2 * DISK)
		return 5;
	blkenv_pattern(buf, sizeof(buf), 9);
	if (pvf_blk_write(b, 2 * DISK - 4096, buf, 4096) ||
	    pvf_blk_read(b, 2 * DISK - 4096, back, 4096) || memcmp(buf, back, 4096))
		return 6;
	if (pvf_blk_write(b, 2 * DISK, buf, 4096) != -EIO)
		return 7;
	return 0;
}

static void test_resize(void)
{
	struct dev d;
	struct pvf_blk_opts o;
	struct blkenv_child fe;

	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	CU_ASSERT_FATAL(blkenv_fork_frontend(&E, &fe, 1, &o, resize, &fe) > 0);
	CU_ASSERT(blkenv_child_wait_ready(&fe) == 0);
	CU_ASSERT(truncate(d.file, 2 * DISK) == 0);
	CU_ASSERT(blkenv_child_go(&fe) == 0);
	CU_ASSERT_EQUAL(blkenv_child_wait(&fe), 0);
	dev_remove(&d);
}

/* ---- grant copy under memory pressure, barriers, teardown ---- */

#define FLOOD_N	  8
#define FLOOD_LEN (1u << 20)

struct flood {
	bool close_early; /* leave with everything in flight */
	struct blkenv_child fe;
	int status[FLOOD_N + 1];
	int done;
};

static void flood_done(void *cookie, int status)
{
	int *st = cookie;

	*st = status;
}

/*
 * Grant copy mode: 8 MiB of 1 MiB indirect writes and a barrier in the
 * middle, more than the backend's bounce budget.  Requests wait for pages in
 * order, the barrier waits for what came before it, and everything is
 * answered; or, with close_early, the frontend goes away with it all in
 * flight and the backend must still close.
 */
static int flood(struct pvf_blk *b, void *arg)
{
	struct flood *f = arg;
	uint8_t *buf[FLOOD_N], *bar = pvf_blk_alloc(b, 16384), *back;

	for (int i = 0; i < FLOOD_N; i++) {
		buf[i] = pvf_blk_alloc(b, FLOOD_LEN);
		if (!buf[i])
			return 2;
		blkenv_pattern(buf[i], FLOOD_LEN, 77 + (uint64_t)i);
	}
	if (!bar)
		return 2;
	blkenv_pattern(bar, 16384, 99);
	for (int i = 0; i <= FLOOD_N; i++)
		f->status[i] = 1000;
	for (int i = 0; i < FLOOD_N; i++) {
		if (pvf_blk_submit(b, 0, PVF_WRITE, (uint64_t)i * FLOOD_LEN, buf[i], FLOOD_LEN,
				   flood_done, &f->status[i]))
			return 3;
		if (i == FLOOD_N / 2 - 1 && pvf_blk_submit(b, 0, PVF_BARRIER, 0, bar, 16384,
							   flood_done, &f->status[FLOOD_N]))
			return 4;
	}
	pvf_blk_kick(b);
	if (f->close_early)
		return 0; /* the runner closes the device with all of it in flight */
	while (pvf_blk_inflight(b))
		if (pvf_blk_reap(b, 5000) < 0)
			return 5;
	for (int i = 0; i <= FLOOD_N; i++)
		if (f->status[i])
			return 6;
	/* The parent reads the counters while we are still connected. */
	if (blkenv_child_ready(&f->fe) || blkenv_child_wait_go(&f->fe))
		return 7;
	back = malloc(FLOOD_LEN);
	for (int i = 0; i < FLOOD_N; i++) {
		/* The barrier rewrote the first 16 KiB after the first half was written. */
		size_t skip = i == 0 ? 16384 : 0;

		if (pvf_blk_read(b, (uint64_t)i * FLOOD_LEN, back, FLOOD_LEN))
			return 8;
		if ((skip && memcmp(back, bar, skip)) ||
		    memcmp(back + skip, buf[i] + skip, FLOOD_LEN - skip))
			return 9;
	}
	free(back);
	return 0;
}

static void test_flood_copy_mode(void)
{
	struct dev d;
	struct pvf_blk_opts o;
	struct flood f = { .close_early = false };
	json_object *root, *dev;

	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	o.persistent = false;
	o.pool_pages = (FLOOD_N + 1) * (FLOOD_LEN / 4096) + 16; /* 1 MiB never straddles chunks */
	CU_ASSERT_FATAL(blkenv_fork_frontend(&E, &f.fe, 1, &o, flood, &f) > 0);
	if (blkenv_child_wait_ready(&f.fe))
		CU_FAIL("the flooding frontend failed");
	root = blkenv_stats(&E);
	dev = blkenv_dev_stats(root, 1, d.devid);
	/* Bounce pages never went past the budget, and requests did wait for them. */
	CU_ASSERT(dev && stat_u64(dev, "queues.0.bounce.budget") > 0);
	CU_ASSERT(dev && stat_u64(dev, "queues.0.bounce.pages") <=
				 stat_u64(dev, "queues.0.bounce.budget"));
	CU_ASSERT(dev && stat_u64(dev, "queues.0.bounce.waits") > 0);
	CU_ASSERT(dev && stat_u64(dev, "queues.0.requests.barrier") == 1);
	json_object_put(root);
	CU_ASSERT(blkenv_child_go(&f.fe) == 0);
	CU_ASSERT_EQUAL(blkenv_child_wait(&f.fe), 0);
	/* Again, leaving with all of it in flight: the backend still closes. */
	f.close_early = true;
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, flood, &f), 0);
	CU_ASSERT_EQUAL(ts_vbd_wait(E.xs, E.schema, 0, 1, d.devid, "state", XENBUS_CLOSED, 5000),
			0);
	CU_ASSERT(waitpid(E.daemon, NULL, WNOHANG) == 0);
	dev_remove(&d);
}

/* ---- persistent grants: the cache's size and what goes beyond it ---- */

struct cachecase {
	struct integ t;
	uint32_t devid;
	uint64_t limit;
	bool beyond; /* the working set outgrows the cache */
	/* --max-mapped: the queue's share, which pages mapped for single requests never pass */
	uint64_t map_limit;
};

/* Integrity, then (still connected) the queue's grant counters. */
static int integrity_then_grants(struct pvf_blk *b, void *arg)
{
	struct cachecase *c = arg;
	json_object *root, *dev;
	int r = integrity(b, &c->t);

	if (r)
		return r;
	root = blkenv_stats(&E);
	dev = root ? blkenv_dev_stats(root, 1, c->devid) : NULL;
	if (!dev)
		r = 40;
	else if (stat_u64(dev, "queues.0.grants.limit") != c->limit)
		r = 41;
	else if (stat_u64(dev, "queues.0.grants.mapped") > c->limit)
		r = 42;
	else if (stat_u64(dev, "queues.0.grants.cache_hits") == 0)
		r = 43;
	else if ((stat_u64(dev, "queues.0.grants.cache_full") > 0) != c->beyond ||
		 (stat_u64(dev, "queues.0.grants.mapped_once") > 0) != c->beyond)
		r = 44;
	else if (stat_u64(dev, "queues.0.grants.evictions") != 0)
		r = 45; /* nothing was idle for a second: no LRU churn */
	else if (c->map_limit &&
		 (stat_u64(dev, "queues.0.grants.mapped_once_limit") != c->map_limit ||
		  stat_u64(dev, "queues.0.grants.mapped_once_peak") > c->map_limit ||
		  stat_u64(dev, "queues.0.grants.map_waits") == 0))
		r = 46; /* the share held: requests waited for it, never went past it */
	else if (stat_u64(dev, "queues.0.grants.mapped_once_now") != 0)
		r = 47; /* every request's own mapping went with its answer */
	if (r && dev)
		fprintf(stderr, "grants: %s\n",
			json_object_to_json_string(json_object_object_get(
				json_object_array_get_idx(json_object_object_get(dev, "queues"), 0),
				"grants")));
	json_object_put(root);
	return r;
}

static void test_persistent_cache(void)
{
	static const char *const small[] = { "--resize-interval", "100", "--persistent-max", "8",
					     NULL };
	static const char *const small_bounded[] = {
		"--resize-interval", "100", "--persistent-max", "8", "--max-mapped", "256", NULL
	};
	struct dev d;
	struct pvf_blk_opts o;
	struct cachecase c = { .t = { .io_max = 128 * 1024, .qd = 8 } };

	/* Default: room for everything one ring can have in flight: 32 x (256 + 1 indirect page). */
	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	c.devid = d.devid;
	c.t.seed = d.devid;
	c.limit = 32 * (256 + 1);
	c.beyond = false;
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, integrity_then_grants, &c), 0);
	dev_remove(&d);
	/* An operator's limit far below the working set: data still right, no churn. */
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, small), 0);
	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	c.devid = d.devid;
	c.t.seed = d.devid;
	c.limit = 8;
	c.beyond = true;
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, integrity_then_grants, &c), 0);
	dev_remove(&d);
	/*
	 * And the device's mappings bounded (--max-mapped 256: one request's
	 * 256 segments at most): 256 KiB requests at depth 8 want up to 512
	 * pages mapped beyond the cache; they wait for their turn instead.
	 */
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, small_bounded), 0);
	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	c.devid = d.devid;
	c.t.seed = d.devid;
	c.t.io_max = 256 * 1024;
	c.map_limit = 256;
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, integrity_then_grants, &c), 0);
	dev_remove(&d);
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, resize_fast), 0);
}

/* ---- xs-check in every state ---- */

static int xs_check(const struct dev *d, bool backend)
{
	char cmd[1024], path[256];
	const char *b = getenv("PVSPLIT_BUILDDIR");

	if (backend)
		snprintf(path, sizeof(path), "/local/domain/0/backend/vbd/%u/%u", d->domid,
			 d->devid);
	else
		snprintf(path, sizeof(path), "/local/domain/%u/device/vbd/%u", d->domid, d->devid);
	snprintf(cmd, sizeof(cmd),
		 "XENSTORED_PATH=%s/dom0/xenstored.sock %s/tools/pvsplit/pvsplit "
		 "xs-check %s >&2",
		 E.sim.dir, b ? b : ".", path);
	return sh(cmd, NULL, 0);
}

/* Connected on both sides now: how many sides xs-check finds fault with. */
static int check_connected(struct pvf_blk *b, void *arg)
{
	const struct dev *d = arg;

	return (xs_check(d, true) != 0) + (xs_check(d, false) != 0);
}

static void test_xs_check_states(void)
{
	struct dev d;
	struct pvf_blk_opts o;

	dev_add(&d, 1, DISK, false, 512, false);
	/* Backend in InitWait, frontend Initialising. */
	CU_ASSERT_EQUAL(ts_vbd_wait(E.xs, E.schema, 0, 1, d.devid, "state", "2", 5000), 0);
	CU_ASSERT_EQUAL(xs_check(&d, true), 0);
	CU_ASSERT_EQUAL(xs_check(&d, false), 0);
	opts_for(&o, &d);
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, check_connected, &d), 0);
	/* Closed on both sides. */
	CU_ASSERT_EQUAL(ts_vbd_wait(E.xs, E.schema, 0, 1, d.devid, "state", XENBUS_CLOSED, 5000),
			0);
	CU_ASSERT_EQUAL(xs_check(&d, true), 0);
	CU_ASSERT_EQUAL(xs_check(&d, false), 0);
	dev_remove(&d);
}

/* ---- no leaks ---- */

static size_t ndevices(void)
{
	json_object *root = blkenv_stats(&E), *bes, *be, *devs;
	size_t n = SIZE_MAX;

	if (root && json_object_object_get_ex(root, "backends", &bes) &&
	    (be = json_object_array_get_idx(bes, 0)) &&
	    json_object_object_get_ex(be, "devices", &devs))
		n = json_object_array_length(devs);
	json_object_put(root);
	return n;
}

static void test_no_leaks(void)
{
	struct pvhv_sim_stats st;
	size_t n = SIZE_MAX;

	/* The daemon sees the last removal asynchronously. */
	for (int i = 0; i < 500 && (n = ndevices()) != 0; i++)
		poll(NULL, 0, 10);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(pvhv_sim_stats(E.hv0, &st), 0);
	CU_ASSERT_EQUAL(st.grant_pins, 0);
	CU_ASSERT_EQUAL(st.grant_shares, 0);
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;
	int r;

	signal(SIGPIPE, SIG_IGN);
	have_loop = getuid() == 0 && sh("losetup -f >/dev/null 2>&1", NULL, 0) == 0;
	r = blkenv_start(&E, 3);
	if (!r)
		r = blkenv_daemon_start(&E, resize_fast);
	if (r) {
		fprintf(stderr, "cannot start the sim and pvsplit-blkback: %s\n", strerror(-r));
		blkenv_stop(&E);
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("blk-sim", NULL, NULL);
	CU_add_test(s, "integrity across the feature matrix", test_integrity_matrix);
	CU_add_test(s, "writes reach the file before they complete; flush, barrier",
		    test_flush_durability);
	CU_add_test(s, "flush and barrier reach a block device", test_flush_bdev);
	CU_add_test(s, "a ring of flush+write requests: each chain in one submission",
		    test_preflush_ring);
	CU_add_test(s, "a plain loop device is served through its file", test_loop_file);
	CU_add_test(s, "discard punches holes", test_discard);
	CU_add_test(s, "discard-enable=0 hides discard", test_discard_disabled);
	CU_add_test(s, "a daemon on one CPU: large transfers inline", test_one_cpu);
	CU_add_test(s, "O_DIRECT only where direct-io-safe = 1", test_direct_io_safe);
	CU_add_test(s, "--poll-us: requests without events, sleeps when idle", test_polling);
	CU_add_test(s, "--poll-us auto: the window grows at queue depth 1, sleeps when idle",
		    test_polling_adaptive);
	CU_add_test(s, "by default the daemon polls with the adaptive window",
		    test_polling_default);
	CU_add_test(s, "queue depth 1: no clock read, no second wakeup per request",
		    test_qd1_costs);
	CU_add_test(s, "--wait epoll: the loop in epoll_wait(), serving", test_wait_epoll);
	CU_add_test(s, "an io_uring that refuses the unmask: system calls, still serving",
		    test_unmask_fallback);
	CU_add_test(s, "read-only device", test_readonly);
	CU_add_test(s, "online resize", test_resize);
	CU_add_test(s, "grant copy: bounded bounce pages, barrier, teardown in flight",
		    test_flood_copy_mode);
	CU_add_test(s, "--map-min: large requests map, small ones copy, unmapped before the answer",
		    test_map_mode);
	CU_add_test(s, "--max-mapped-total: caches stop growing, the rest grant-copied",
		    test_mapping_bound);
	CU_add_test(s, "hostile frontend next to a good one", test_hostile);
	CU_add_test(s, "hostile frontend, persistent grants, x86_32 ABI",
		    test_hostile_persistent_x86_32);
	CU_add_test(s, "producer index overflow fails one device", test_producer_overflow);
	CU_add_test(s, "disconnect and reconnect", test_reconnect);
	CU_add_test(s, "hotplug script handshake", test_hotplug);
	CU_add_test(s, "a guest dies and its frontend directory goes", test_frontend_gone);
	CU_add_test(s, "removed and added again at the same path", test_readd_same_path);
	CU_add_test(s, "daemon SIGKILLed and restarted under I/O", test_daemon_restart);
	CU_add_test(s, "a restarted daemon sends each ring it takes over an event",
		    test_restart_notifies);
	CU_add_test(s,
		    "a restarted daemon redoes requests in order: a barrier behind a waiting write",
		    test_redo_in_order);
	CU_add_test(s, "a barrier parked behind a read done at submission starts",
		    test_barrier_after_inline);
	CU_add_test(s, "SIGTERM: requests not started are left to the next daemon, not failed",
		    test_sigterm_handover);
	CU_add_test(
		s,
		"persistent grant cache: sized to the ring, no churn beyond it, mappings bounded",
		test_persistent_cache);
	CU_add_test(s, "xs-check in every state", test_xs_check_states);
	CU_add_test(s, "nothing left behind", test_no_leaks);
	if (getenv("PVSPLIT_TEST_ONLY")) {
		/* A developer's shortcut: only the tests whose name has this in it. */
		for (CU_pTest t = s->pTest; t; t = t->pNext)
			if (!strstr(t->pName, getenv("PVSPLIT_TEST_ONLY")))
				CU_set_test_active(t, CU_FALSE);
		CU_set_fail_on_inactive(CU_FALSE);
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	r = blkenv_daemon_stop(&E, false);
	if (r) {
		fprintf(stderr, "pvsplit-blkback exited with %d\n", r);
		fails++;
	}
	blkenv_stop(&E);
	return fails ? 1 : 0;
}
