// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Sim tier, pvsplit-blkback: hostile frontends next to a good one, producer
 * overflow, and a device's life (hotplug scripts, a guest that dies,
 * reconnects, re-adds; the daemon's restarts are in test_blk_sim_restart.c),
 * and frontends without persistent grants under --map-min.  Registered by
 * main in test_blk_sim.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <xenstore.h>
#include <xen/grant_table.h>

#include "pvsplit/hv-sim.h"

#include "blksim.h"

/* ---- hostile frontends ---- */

struct hostile_result {
	int16_t status[64];
	bool got[64];
};

static void raw_done(void *opaque, uint64_t id, uint8_t op, int16_t status)
{
	struct hostile_result *h = opaque;

	if (id >= 1000 && id < 1064) {
		h->got[id - 1000] = true;
		h->status[id - 1000] = status;
	}
}

/* Send one hand-made request, wait for its response.  Returns the status or 99. */
static int16_t one(struct pvf_blk *b, struct hostile_result *h, struct blk_req *r, int idx)
{
	uint8_t entry[128];

	r->id = 1000 + (uint64_t)idx;
	pvf_blk_encode(b, entry, r);
	if (pvf_blk_raw_request(b, 0, entry))
		return 99;
	for (int i = 0; i < 100 && !h->got[idx]; i++)
		if (pvf_blk_reap(b, 100) == -EPROTO)
			return 98;
	return h->got[idx] ? h->status[idx] : 97;
}

/* A ref of this domain's grant table that grants nothing now (from the top). */
static uint32_t ungranted_ref(struct pvhv *hv)
{
	grant_entry_v1_t *gt;
	uint32_t nr;

	if (pvhv_sim_grant_table(hv, (void **)&gt, &nr))
		return 30000;
	for (uint32_t r = nr - 1; r >= 16; r--)
		if (!(__atomic_load_n(&gt[r].flags, __ATOMIC_ACQUIRE) & GTF_type_mask))
			return r;
	return 30000;
}

struct hostile_arg {
	struct pvhv *hv;
	bool persistent;
};

static int hostile(struct pvf_blk *b, void *arg)
{
	const struct hostile_arg *ha = arg;
	struct hostile_result h = { 0 };
	struct blk_req r;
	uint8_t *page = pvf_blk_alloc(b, 4096 * 2);
	uint32_t ref, ro_ref;
	int idx = 0, bad = 0;

	if (!page || pvf_blk_pool_ref(b, page, &ref))
		return 2;
	pvf_blk_set_raw_done(b, raw_done, &h);
#define EXPECT(st)                                                                                 \
	do {                                                                                       \
		int16_t got_ = one(b, &h, &r, idx);                                                \
		if (got_ != (st)) {                                                                \
			fprintf(stderr, "hostile case %d (line %d): status %d, want %d\n", idx,    \
				__LINE__, got_, (st));                                             \
			bad++;                                                                     \
		}                                                                                  \
		idx++;                                                                             \
	} while (0)
#define READ1(sec, f, l, g)                                                                        \
	do {                                                                                       \
		memset(&r, 0, sizeof(r));                                                          \
		r.operation = BLKIF_OP_READ;                                                       \
		r.nr_segments = 1;                                                                 \
		r.sector_number = (sec);                                                           \
		r.seg[0] = (struct blkif_request_segment){ .gref = (g),                            \
							   .first_sect = (f),                      \
							   .last_sect = (l) };                     \
	} while (0)

	/* 0: sanity, a good read. */
	READ1(0, 0, 7, ref);
	EXPECT(BLKIF_RSP_OKAY);
	/* 1: unknown operation. */
	READ1(0, 0, 7, ref);
	r.operation = 99;
	EXPECT(BLKIF_RSP_ERROR);
	/* 2: reserved operation. */
	r.operation = BLKIF_OP_RESERVED_1;
	EXPECT(BLKIF_RSP_ERROR);
	/* 3: no segment. */
	READ1(0, 0, 7, ref);
	r.nr_segments = 0;
	EXPECT(BLKIF_RSP_ERROR);
	/* 4: too many segments for a direct request. */
	READ1(0, 0, 7, ref);
	r.nr_segments = BLKIF_MAX_SEGMENTS_PER_REQUEST + 1;
	EXPECT(BLKIF_RSP_ERROR);
	/* 5: first sector after last. */
	READ1(0, 5, 2, ref);
	EXPECT(BLKIF_RSP_ERROR);
	/* 6: last sector beyond the page. */
	READ1(0, 0, 8, ref);
	EXPECT(BLKIF_RSP_ERROR);
	/* 7: range beyond the disk. */
	READ1(DISK / 512, 0, 7, ref);
	EXPECT(BLKIF_RSP_ERROR);
	/* 8: sector number that overflows when scaled. */
	READ1(UINT64_MAX - 1, 0, 7, ref);
	EXPECT(BLKIF_RSP_ERROR);
	/* 9: a grant never granted (the sim hands refs out in turn: look one up). */
	READ1(0, 0, 7, ungranted_ref(ha->hv));
	EXPECT(BLKIF_RSP_ERROR);
	/* 10: a reserved grant ref. */
	READ1(0, 0, 7, 1);
	EXPECT(BLKIF_RSP_ERROR);
	/* 11: indirect with too many segments. */
	memset(&r, 0, sizeof(r));
	r.operation = BLKIF_OP_INDIRECT;
	r.indirect_op = BLKIF_OP_READ;
	r.nr_segments = 5000;
	r.indirect_grefs[0] = ref;
	EXPECT(BLKIF_RSP_ERROR);
	/* 12: indirect with no segment. */
	r.nr_segments = 0;
	EXPECT(BLKIF_RSP_ERROR);
	/* 13: indirect with a bad indirect page. */
	r.nr_segments = 20;
	r.indirect_grefs[0] = 30001;
	EXPECT(BLKIF_RSP_ERROR);
	/* 14: indirect of an operation that is not read/write. */
	r.indirect_grefs[0] = ref;
	r.indirect_op = BLKIF_OP_FLUSH_DISKCACHE;
	EXPECT(BLKIF_RSP_ERROR);
	/* 15: indirect whose segment list is garbage (first > last). */
	memset(page + 4096, 0xff, 4096);
	if (pvf_blk_pool_ref(b, page + 4096, &ro_ref))
		return 3;
	r.indirect_op = BLKIF_OP_READ;
	r.indirect_grefs[0] = ro_ref;
	EXPECT(BLKIF_RSP_ERROR);
	/* 16: discard beyond the end. */
	memset(&r, 0, sizeof(r));
	r.operation = BLKIF_OP_DISCARD;
	r.sector_number = DISK / 512 - 1;
	r.nr_sectors = 16;
	EXPECT(BLKIF_RSP_ERROR);
	/* 17: discard of length zero. */
	r.sector_number = 0;
	r.nr_sectors = 0;
	EXPECT(BLKIF_RSP_ERROR);
	/* 18/19: the same id twice in one batch: the second is refused. */
	{
		uint8_t e1[128], e2[128];

		READ1(0, 0, 7, ref);
		r.id = 1000 + (uint64_t)idx;
		pvf_blk_encode(b, e1, &r);
		pvf_blk_encode(b, e2, &r);
		if (pvf_blk_raw_queue(b, 0, e1) || pvf_blk_raw_queue(b, 0, e2))
			return 4;
		pvf_blk_kick(b);
		for (int i = 0; i < 100 && pvf_blk_inflight(b); i++)
			pvf_blk_reap(b, 100);
		/* Both answered, one of them with an error. */
		if (!h.got[idx] || pvf_blk_inflight(b))
			bad++;
		idx += 2;
	}
	/*
	 * 20: a grant revoked before the backend copies it.  With persistent
	 * grants the backend holds the mapping, as it would on Xen, where a
	 * mapped grant cannot be revoked: the read still works.
	 */
	{
		grant_entry_v1_t *gt;
		uint32_t nr;
		uint16_t saved;

		if (pvhv_sim_grant_table(ha->hv, (void **)&gt, &nr))
			return 5;
		saved = gt[ref].flags;
		__atomic_store_n(&gt[ref].flags, 0, __ATOMIC_RELEASE);
		READ1(0, 0, 7, ref);
		EXPECT(ha->persistent ? BLKIF_RSP_OKAY : BLKIF_RSP_ERROR);
		__atomic_store_n(&gt[ref].flags, saved, __ATOMIC_RELEASE);
		READ1(0, 0, 7, ref);
		EXPECT(BLKIF_RSP_OKAY);
		/* 22..: revoked while in flight: answered either way, never a hang. */
		for (int k = 0; k < 20 && idx < 64; k++) {
			uint8_t entry[128];

			READ1(0, 0, 7, ref);
			r.id = 1000 + (uint64_t)idx;
			pvf_blk_encode(b, entry, &r);
			if (pvf_blk_raw_request(b, 0, entry))
				return 6;
			__atomic_store_n(&gt[ref].flags, 0, __ATOMIC_RELEASE);
			for (int i = 0; i < 100 && !h.got[idx]; i++)
				pvf_blk_reap(b, 100);
			if (!h.got[idx] ||
			    (h.status[idx] != BLKIF_RSP_OKAY && h.status[idx] != BLKIF_RSP_ERROR))
				bad++;
			__atomic_store_n(&gt[ref].flags, saved, __ATOMIC_RELEASE);
			idx++;
		}
	}
	pvf_blk_set_raw_done(b, NULL, NULL);
	return bad ? 10 + bad : 0;
}

static void hostile_variant(bool persistent, const char *protocol)
{
	struct dev bad, good;
	struct pvf_blk_opts o;
	struct integ t = { .io_max = 128 * 1024, .qd = 4 };
	struct blkenv_child goodfe, badfe;
	pid_t pid;

	dev_add(&bad, 1, DISK, false, 512, false);
	dev_add(&good, 2, DISK, false, 512, false);
	/* A well-behaved guest on the same daemon works all along. */
	opts_for(&o, &good);
	t.seed = good.devid;
	CU_ASSERT_FATAL(blkenv_fork_frontend(&E, &goodfe, 2, &o, integrity, &t) > 0);
	opts_for(&o, &bad);
	o.persistent = persistent;
	o.protocol = protocol;
	pid = blkenv_child_fork(&badfe);
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct pvhv *hv;
		struct pvf_blk *b;
		int r;

		if (simrun_open(&E.sim, 1, &hv) || pvf_blk_open(hv, &o, &b))
			_exit(100);
		r = hostile(b, &(struct hostile_arg){ .hv = hv, .persistent = persistent });
		/* Stay connected while the parent reads the counters. */
		if (blkenv_child_ready(&badfe) || blkenv_child_wait_go(&badfe))
			r = 99;
		blkenv_child_close(&badfe);
		pvf_blk_close(b);
		_exit(r);
	}
	CU_ASSERT_FATAL(blkenv_child_wait_ready(&badfe) == 0);
	if (getenv("PVSPLIT_TEST_VERBOSE")) {
		json_object *root = blkenv_stats(&E);

		fprintf(stderr, "%s\n",
			json_object_to_json_string_ext(blkenv_dev_stats(root, 1, bad.devid),
						       JSON_C_TO_STRING_PRETTY));
		json_object_put(root);
	}
	/* Every malformed request was answered and counted by its kind. */
	CU_ASSERT(dev_counter(1, bad.devid, "errors.bad_operation") >= 3);
	CU_ASSERT(dev_counter(1, bad.devid, "errors.bad_segments") >= 6);
	CU_ASSERT(dev_counter(1, bad.devid, "errors.bad_range") >= 4);
	CU_ASSERT(dev_counter(1, bad.devid, "errors.bad_grant") >= (persistent ? 3 : 4));
	CU_ASSERT(dev_counter(1, bad.devid, "errors.id_reuse") >= 1);
	/* Error answers are timed too; its valid requests went through the store. */
	CU_ASSERT(dev_counter(1, bad.devid, "service_us.count") >=
		  dev_counter(1, bad.devid, "errors.bad_operation") +
			  dev_counter(1, bad.devid, "errors.bad_range"));
	CU_ASSERT(dev_counter(1, bad.devid, "store_us.count") > 0);
	CU_ASSERT(dev_counter(1, bad.devid, "service_us.max") >=
		  dev_counter(1, bad.devid, "service_us.p50"));
	CU_ASSERT(dev_counter(1, bad.devid, "service_us.p50") > 0);
	CU_ASSERT(dev_counter(1, bad.devid, "notifications.received") > 0);
	/* pvsplit stats --json shows the same, for an operator. */
	{
		char *buf = pvsplit_stats("--json");
		json_object *all, *d;

		CU_ASSERT_FATAL(buf != NULL);
		all = json_tokener_parse(buf);
		CU_ASSERT_FATAL(all && json_object_is_type(all, json_type_array));
		d = blkenv_dev_stats(json_object_array_get_idx(all, 0), 1, bad.devid);
		CU_ASSERT(d && stat_u64(d, "queues.0.errors.bad_grant") >= (persistent ? 3 : 4));
		json_object_put(all);
		free(buf);
	}
	CU_ASSERT(blkenv_child_go(&badfe) == 0);
	CU_ASSERT_EQUAL(blkenv_child_wait(&badfe), 0);
	CU_ASSERT_EQUAL(blkenv_child_wait(&goodfe), 0);
	/* The daemon is still there. */
	CU_ASSERT(waitpid(E.daemon, NULL, WNOHANG) == 0);
	dev_remove(&bad);
	dev_remove(&good);
}

void test_hostile(void)
{
	hostile_variant(false, NULL); /* grant copy: a revoked grant is looked at per request */
}

/* The same with persistent grants (the cache must not let a bad request through) and x86_32. */
void test_hostile_persistent_x86_32(void)
{
	hostile_variant(true, "x86_32-abi");
}

/* A producer index far ahead of the ring fails that device only. */
static int overflow(struct pvf_blk *b, void *arg)
{
	struct pvf_blk_info in;

	pvf_blk_get_info(b, &in);
	pvf_blk_raw_set_req_prod(b, 0, in.ring_entries * 3 + 5);
	poll(NULL, 0, 300);
	return 0;
}

void test_producer_overflow(void)
{
	struct dev bad, good;
	struct pvf_blk_opts o;
	struct integ t = { .io_max = 64 * 1024, .qd = 4 };
	struct blkenv_child fe;
	char *err, *state;
	pid_t pid;

	dev_add(&bad, 1, DISK, false, 512, false);
	dev_add(&good, 2, DISK, false, 512, false);
	opts_for(&o, &bad);
	pid = blkenv_child_fork(&fe);
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct pvhv *hv;
		struct pvf_blk *b;
		int r = 0;

		if (simrun_open(&E.sim, 1, &hv) || pvf_blk_open(hv, &o, &b))
			_exit(100);
		overflow(b, NULL);
		if (blkenv_child_ready(&fe) || blkenv_child_wait_go(&fe))
			r = 99;
		blkenv_child_close(&fe);
		pvf_blk_close(b); /* sees the backend Closing, closes as a guest would */
		_exit(r);
	}
	CU_ASSERT_FATAL(blkenv_child_wait_ready(&fe) == 0);
	/* The error node and Closing, as xenbus_dev_fatal() leaves them. */
	CU_ASSERT_EQUAL(ts_vbd_wait(E.xs, E.schema, 0, 1, bad.devid, "state", "5", 5000), 0);
	{
		char path[256];
		unsigned len;

		snprintf(path, sizeof(path), "/local/domain/0/error/backend/vbd/1/%u/error",
			 bad.devid);
		err = xs_read(E.xs, XBT_NULL, path, &len);
		CU_ASSERT(err && strstr(err, "overflow"));
		free(err);
	}
	/* The other guest does not notice anything. */
	opts_for(&o, &good);
	t.seed = good.devid;
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 2, &o, integrity, &t), 0);
	CU_ASSERT(blkenv_child_go(&fe) == 0);
	CU_ASSERT_EQUAL(blkenv_child_wait(&fe), 0);
	state = ts_vbd_read(E.xs, E.schema, true, 0, 1, bad.devid, "state");
	CU_ASSERT(state && !strcmp(state, XENBUS_CLOSED));
	free(state);
	dev_remove(&bad);
	dev_remove(&good);
}

/* ---- lifecycle ---- */

static int small_io(struct pvf_blk *b, void *arg)
{
	uint8_t buf[16384], back[16384];
	uint64_t seed = *(uint64_t *)arg;

	blkenv_pattern(buf, sizeof(buf), seed);
	if (pvf_blk_write(b, seed % 64 * 65536, buf, sizeof(buf)) ||
	    pvf_blk_read(b, seed % 64 * 65536, back, sizeof(back)))
		return 2;
	return memcmp(buf, back, sizeof(buf)) ? 3 : 0;
}

/* ---- hotplug scripts ---- */

/*
 * Run pvsplit-block-hotplug add for a device as libxl does (XENBUS_PATH
 * relative to dom0's home), or with an absolute path: its exit status.
 */
static int hotplug_add_as(const struct dev *d, bool absolute)
{
	char cmd[1024];
	const char *b = getenv("PVSPLIT_BUILDDIR");

	snprintf(cmd, sizeof(cmd),
		 "XENSTORED_PATH=%s/dom0/xenstored.sock "
		 "XENBUS_PATH=%sbackend/vbd/%u/%u "
		 "%s/dom0/hotplug/pvsplit-block-hotplug add 2>/dev/null",
		 E.sim.dir, absolute ? "/local/domain/0/" : "", d->domid, d->devid, b ? b : ".");
	return sh(cmd, NULL, 0);
}

static int hotplug_add(const struct dev *d)
{
	return hotplug_add_as(d, false);
}

static bool backend_key_is(const struct dev *d, const char *key, const char *want)
{
	char *v = ts_vbd_read(E.xs, E.schema, true, 0, d->domid, d->devid, key);
	bool same = v && (!want || !strcmp(v, want));

	free(v);
	return same;
}

/*
 * With script= the backend waits for the script: nothing is opened before
 * hotplug-status=connected (and physical-device for a block device); a
 * script that fails (hotplug-status=error) fails the device, naming it.
 */
void test_hotplug(void)
{
	struct dev d, bad;
	struct pvf_blk_opts o;
	const struct ts_vbd x = { .script = "/usr/libexec/pvsplit/pvsplit-block-hotplug" };
	uint64_t seed = 5;
	char path[300], *err;

	dev_add_ex(&d, 1, DISK, false, 512, false, &x);
	CU_ASSERT_EQUAL(ts_vbd_wait(E.xs, E.schema, 0, 1, d.devid, "state", "2", 5000), 0);
	poll(NULL, 0, 200);
	CU_ASSERT(backend_key_is(&d, "state", "2"));	 /* still waiting for the script */
	CU_ASSERT(!backend_key_is(&d, "sectors", NULL)); /* nothing opened yet */
	CU_ASSERT_EQUAL(hotplug_add(&d), 0);
	CU_ASSERT(backend_key_is(&d, "hotplug-status", "connected"));
	opts_for(&o, &d);
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, small_io, &seed), 0);
	dev_remove(&d);

	/* The script cannot find the disk: it says so, and the device fails. */
	dev_add_ex(&bad, 1, DISK, false, 512, false, &x);
	unlink(bad.file);
	CU_ASSERT_EQUAL(hotplug_add_as(&bad, true), 1);
	CU_ASSERT(backend_key_is(&bad, "hotplug-status", "error"));
	err = ts_vbd_read(E.xs, E.schema, true, 0, 1, bad.devid, "hotplug-error");
	CU_ASSERT(err && strstr(err, bad.file));
	free(err);
	CU_ASSERT_EQUAL(ts_vbd_wait(E.xs, E.schema, 0, 1, bad.devid, "state", "5", 5000), 0);
	snprintf(path, sizeof(path), "/local/domain/0/error/backend/vbd/1/%u/error", bad.devid);
	err = xs_read(E.xs, XBT_NULL, path, &(unsigned){ 0 });
	CU_ASSERT(err != NULL);
	free(err);
	dev_remove(&bad);

	if (have_loop) {
		/* A block device: the script announces it, the backend opens that. */
		struct dev l;

		dev_add_ex(&l, 1, DISK, false, 512, LOOP_LIMITED, &x);
		CU_ASSERT_EQUAL(hotplug_add(&l), 0);
		CU_ASSERT(backend_key_is(&l, "physical-device", NULL));
		seed = 6;
		opts_for(&o, &l);
		CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, small_io, &seed), 0);
		dev_remove(&l);
	}
}

static int die_connected(struct pvf_blk *b, void *arg)
{
	int r = small_io(b, arg);

	_exit(r); /* a guest that dies: no Closing, no Closed */
}

/*
 * A guest dies connected and its toolstack removes its frontend directory:
 * the backend lets go of the rings (Closed) on its own, and the device's
 * removal is answered at once.
 */
void test_frontend_gone(void)
{
	struct dev d;
	struct pvf_blk_opts o;
	uint64_t seed = 31;
	char path[128];

	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, die_connected, &seed), 0);
	CU_ASSERT(backend_key_is(&d, "state", XENBUS_CONNECTED));
	snprintf(path, sizeof(path), "/local/domain/1/device/vbd/%u", d.devid);
	CU_ASSERT(xs_rm(E.xs, XBT_NULL, path));
	CU_ASSERT_EQUAL(ts_vbd_wait(E.xs, E.schema, 0, 1, d.devid, "state", XENBUS_CLOSED, 5000),
			0);
	{
		json_object *root = blkenv_stats(&E), *dev = blkenv_dev_stats(root, 1, d.devid), *c;

		CU_ASSERT(dev && json_object_object_get_ex(dev, "connected", &c) &&
			  !json_object_get_boolean(c));
		json_object_put(root);
	}
	dev_remove(&d);
}

void test_reconnect(void)
{
	struct dev d;
	struct pvf_blk_opts o;

	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	for (uint64_t i = 1; i <= 3; i++)
		CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, small_io, &i), 0);
	/* Connected -> closed -> connected with other features. */
	o.persistent = false;
	o.ring_order = 2;
	o.queues = 2;
	{
		uint64_t s = 9;

		CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, small_io, &s), 0);
	}
	dev_remove(&d);
}

/*
 * The toolstack removes a device and adds it again at the same path before
 * the daemon has looked: the daemon must serve the new device, not keep the
 * closed one.
 */
void test_readd_same_path(void)
{
	struct dev d, again;
	struct pvf_blk_opts o;
	uint64_t seed = 21;
	char *v;

	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, small_io, &seed), 0);
	CU_ASSERT_EQUAL(ts_vbd_wait(E.xs, E.schema, 0, 1, d.devid, "state", XENBUS_CLOSED, 5000),
			0);
	/* The daemon sleeps through the removal and the new add. */
	CU_ASSERT_FATAL(kill(E.daemon, SIGSTOP) == 0);
	ts_vbd_remove(E.xs, E.schema, 0, 1, d.devid, 200); /* Closed already: no wait */
	{
		/* The old disk moves away (the daemon keeps it open); a new one takes its name. */
		char old[300];

		snprintf(old, sizeof(old), "%s.old", d.file);
		CU_ASSERT(rename(d.file, old) == 0);
		next_devid--;
		dev_add(&again, 1, DISK, false, 512, false);
		CU_ASSERT_EQUAL(again.devid, d.devid);
		unlink(old);
	}
	CU_ASSERT_FATAL(kill(E.daemon, SIGCONT) == 0);
	seed = 22;
	CU_ASSERT_EQUAL(blkenv_run_frontend(&E, 1, &o, small_io, &seed), 0);
	v = ts_vbd_read(E.xs, E.schema, true, 0, 1, d.devid, "params");
	CU_ASSERT(v && !strcmp(v, again.file));
	free(v);
	{
		/* The data went to the new file, not to the old (unlinked) one. */
		uint8_t want[16384], got[16384];
		int fd = open(again.file, O_RDONLY);

		blkenv_pattern(want, sizeof(want), seed);
		CU_ASSERT(fd >= 0 &&
			  pread(fd, got, sizeof(got), seed % 64 * 65536) == (ssize_t)sizeof(got));
		CU_ASSERT(memcmp(want, got, sizeof(got)) == 0);
		if (fd >= 0)
			close(fd);
	}
	next_devid++;
	dev_remove(&again);
}

/* ---- without persistent grants: --map-min maps large requests, copies small ones ---- */

#define MAP_PAGES  8 /* one direct request of 32 KiB: over the test's --map-min */
#define MAP_ROUNDS 32

/* One raw request in flight, its pages ended as soon as its answer is read. */
struct map_req {
	struct pvhv *hv;
	uint8_t *pages;
	uint8_t *got; /* a read's data, copied out before the end of access */
	bool answered;
	int16_t status;
	int unshare; /* pvhv_gnt_unshare()'s result at the answer */
};

static void map_done(void *opaque, uint64_t id, uint8_t op, int16_t status)
{
	struct map_req *m = opaque;

	(void)id;
	(void)op;
	m->answered = true;
	m->status = status;
	if (m->got)
		memcpy(m->got, m->pages, MAP_PAGES * 4096ul);
	m->unshare = pvhv_gnt_unshare(m->hv, m->pages, MAP_PAGES);
}

/*
 * One raw request over MAP_PAGES pages shared for it alone (a write's
 * read-only, as Linux's blkfront grants a write's pages), the ring polled
 * without waiting for the event, and the end of access made the moment its
 * answer is read: the sim refuses it while the backend still maps a page,
 * so a backend that unmapped only after answering is caught in the act.
 * 0, or the step that failed.
 */
static int map_one(struct pvf_blk *b, struct pvhv *hv, uint64_t id, uint8_t op, uint8_t fill,
		   uint8_t *got)
{
	uint32_t refs[MAP_PAGES];
	struct blk_req r = { .operation = op, .nr_segments = MAP_PAGES, .id = id };
	struct map_req m = { .hv = hv, .got = got };
	uint8_t entry[128];
	struct timespec t0, t;

	if (pvhv_gnt_share(hv, 0, MAP_PAGES, op == BLKIF_OP_WRITE ? PVHV_GNT_RO : 0, refs,
			   (void **)&m.pages))
		return 1;
	if (op == BLKIF_OP_WRITE)
		for (size_t i = 0; i < MAP_PAGES * 4096ul; i++)
			m.pages[i] = (uint8_t)(fill + i * 31 / 4096);
	for (int i = 0; i < MAP_PAGES; i++)
		r.seg[i] = (struct blkif_request_segment){ .gref = refs[i],
							   .first_sect = 0,
							   .last_sect = 7 };
	pvf_blk_set_raw_done(b, map_done, &m);
	pvf_blk_encode(b, entry, &r);
	if (pvf_blk_raw_request(b, 0, entry))
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!m.answered) {
		if (pvf_blk_reap(b, 0) == -EPROTO)
			return 3;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 10)
			return 4;
	}
	pvf_blk_set_raw_done(b, NULL, NULL);
	if (m.unshare) {
		fprintf(stderr,
			"map mode: request %" PRIu64 ": a page still mapped at its answer (%d)\n",
			id, m.unshare);
		return 5;
	}
	if (m.status != BLKIF_RSP_OKAY) {
		fprintf(stderr, "map mode: request %" PRIu64 " answered %d\n", id, m.status);
		return 6;
	}
	return 0;
}

struct map_case {
	struct integ t;
	struct blkenv_child fe;
};

static int map_frontend(struct pvf_blk *b, struct pvhv *hv, struct map_case *c)
{
	struct hostile_result h = { 0 };
	struct blk_req bad = { .operation = BLKIF_OP_WRITE, .nr_segments = MAP_PAGES };
	uint8_t *got = malloc(MAP_PAGES * 4096ul);
	int r;

	if (!got)
		return 2;
	/* Every size up to 256 KiB, at depth 8: both ways, side by side. */
	r = integrity(b, &c->t);
	if (r)
		goto out;
	/*
	 * A write over grants that do not exist: the map is refused, the
	 * request goes to grant copy, which refuses it too: one error, one
	 * bad grant counted, and the device serves on.
	 */
	for (int i = 0; i < MAP_PAGES; i++)
		bad.seg[i] = (struct blkif_request_segment){ .gref = (1u << 30) + (uint32_t)i,
							     .first_sect = 0,
							     .last_sect = 7 };
	pvf_blk_set_raw_done(b, raw_done, &h);
	if (one(b, &h, &bad, 0) != BLKIF_RSP_ERROR) {
		r = 30;
		goto out;
	}
	/* Many rounds: a backend that unmapped after answering might win a race now and then. */
	for (int i = 0; i < MAP_ROUNDS; i++) {
		uint8_t fill = (uint8_t)(0x5a + i);

		r = map_one(b, hv, 5000 + 2 * i, BLKIF_OP_WRITE, fill, NULL);
		if (!r)
			r = map_one(b, hv, 5001 + 2 * i, BLKIF_OP_READ, 0, got);
		if (r) {
			r += 10;
			goto out;
		}
		for (size_t k = 0; k < MAP_PAGES * 4096ul; k++)
			if (got[k] != (uint8_t)(fill + k * 31 / 4096)) {
				r = 20;
				goto out;
			}
	}
	r = blkenv_child_ready(&c->fe) || blkenv_child_wait_go(&c->fe) ? 1 : 0;
out:
	free(got);
	return r;
}

/*
 * --map-min: a frontend without persistent grants; requests of 16 KiB and
 * more map its pages (read-only for writes), smaller ones are grant-copied;
 * the data is intact both ways and each mapping is gone before its answer.
 */
void test_map_mode(void)
{
	static const char *const map16k[] = { "--resize-interval", "100", "--map-min", "16384",
					      NULL };
	struct map_case c = { .t = { .io_max = 256 * 1024, .qd = 8 } };
	struct pvf_blk_opts o;
	struct dev d;
	pid_t pid;
	int r = 1;

	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, map16k), 0);
	dev_add(&d, 1, DISK, false, 512, false);
	opts_for(&o, &d);
	o.persistent = false;
	o.indirect = true;
	c.t.seed = d.devid;
	pid = blkenv_child_fork(&c.fe);
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct pvhv *hv;
		struct pvf_blk *b;

		if (simrun_open(&E.sim, 1, &hv) || pvf_blk_open(hv, &o, &b))
			_exit(100);
		r = map_frontend(b, hv, &c);
		blkenv_child_close(&c.fe);
		pvf_blk_close(b);
		_exit(r);
	}
	if (!blkenv_child_wait_ready(&c.fe)) {
		/* Both ways were taken: mapped (large) and copied (small, and indirect pages). */
		CU_ASSERT(dev_counter(1, d.devid, "grants.mapped_once") >= 2 * MAP_PAGES);
		CU_ASSERT(dev_counter(1, d.devid, "grants.copied") > 0);
		/* The write over grants that do not exist: refused by both. */
		CU_ASSERT_EQUAL(dev_counter(1, d.devid, "grants.map_refused"), 1);
		CU_ASSERT_EQUAL(dev_counter(1, d.devid, "errors.bad_grant"), 1);
		blkenv_child_go(&c.fe);
	}
	r = blkenv_child_wait(&c.fe);
	if (r)
		fprintf(stderr, "map mode frontend: %d\n", r);
	CU_ASSERT_EQUAL(r, 0);
	dev_remove(&d);
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, resize_fast), 0);
}

/* ---- the daemon's grant mappings bounded (--max-mapped-total) ---- */

/* A device-level value of (domid, devid)'s stats ("daemon_mappings.peak"). */
static uint64_t dev_value(const struct dev *d, const char *path)
{
	json_object *root = blkenv_stats(&E);
	json_object *o = blkenv_dev_stats(root, d->domid, d->devid);
	uint64_t v = o ? stat_u64(o, path) : 0;

	json_object_put(root);
	return v;
}

struct bounded_fe {
	struct blkenv_child fe;
	struct integ t;
};

/* Ready at once (nothing mapped yet), integrity when told, then wait again. */
static int bounded_frontend(struct pvf_blk *b, void *arg)
{
	struct bounded_fe *f = arg;
	int r;

	if (blkenv_child_ready(&f->fe) || blkenv_child_wait_go(&f->fe))
		return 1;
	r = integrity(b, &f->t);
	if (r)
		return r;
	return blkenv_child_ready(&f->fe) || blkenv_child_wait_go(&f->fe) ? 1 : 0;
}

/*
 * A daemon started with args, and n devices of dom1 (one queue each,
 * persistent grants as asked) whose frontends (bounded_frontend) are
 * connected and waiting.  Returns how many came up.
 */
static int bounded_start(const char *const *args, bool persistent, int n, struct bounded_fe *f,
			 struct dev *d)
{
	int started = 0;

	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, args), 0);
	for (int i = 0; i < n; i++) {
		struct pvf_blk_opts o;

		dev_add(&d[i], 1, DISK, false, 512, false);
		opts_for(&o, &d[i]);
		o.queues = 1;
		o.persistent = persistent;
		o.indirect = true;
		f[i] = (struct bounded_fe){ .t = { .seed = d[i].devid, .io_max = 65536, .qd = 8 } };
		if (blkenv_fork_frontend(&E, &f[i].fe, 1, &o, bounded_frontend, &f[i]) <= 0 ||
		    blkenv_child_wait_ready(&f[i].fe)) {
			CU_FAIL("frontend did not come up");
			break;
		}
		started++;
	}
	return started;
}

/* The devices removed, the default daemon back. */
static void bounded_end(struct dev *d, int n)
{
	for (int i = 0; i < n; i++)
		dev_remove(&d[i]);
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_EQUAL_FATAL(blkenv_daemon_start(&E, resize_fast), 0);
}

/*
 * n frontends of dom1 (one queue each, persistent grants as asked) run the
 * integrity check at once under a daemon started with args; then the
 * daemon's mappings are looked at while they are still connected.
 */
static void bounded_case(const char *const *args, bool persistent, int n, uint64_t limit)
{
	struct bounded_fe f[2];
	struct dev d[2];
	int started = 0;

	started = bounded_start(args, persistent, n, f, d);
	if (started == n) {
		/* Connected, no I/O yet: the rings are not counted. */
		CU_ASSERT_EQUAL(dev_value(&d[0], "daemon_mappings.now"), 0);
		CU_ASSERT_EQUAL(dev_value(&d[0], "daemon_mappings.limit"), limit);
		for (int i = 0; i < n; i++)
			CU_ASSERT(blkenv_child_go(&f[i].fe) == 0);
		for (int i = 0; i < n; i++)
			CU_ASSERT(blkenv_child_wait_ready(&f[i].fe) == 0);
		{
			uint64_t peak = dev_value(&d[0], "daemon_mappings.peak");
			uint64_t now = dev_value(&d[0], "daemon_mappings.now");
			uint64_t copied = 0, mapped = 0, held = 0;

			for (int i = 0; i < n; i++) {
				copied += dev_counter(1, d[i].devid, "grants.copied_for_room");
				mapped += dev_counter(1, d[i].devid, "grants.mapped_once");
				held += dev_counter(1, d[i].devid, "grants.mapped") +
					dev_counter(1, d[i].devid, "grants.mapped_once_now");
			}
			fprintf(stderr,
				"  limit %llu: peak %llu, now %llu (held %llu); %llu requests "
				"copied for want of room, %llu pages mapped for single requests\n",
				(unsigned long long)limit, (unsigned long long)peak,
				(unsigned long long)now, (unsigned long long)held,
				(unsigned long long)copied, (unsigned long long)mapped);
			/* Bounded, counted exactly, and the bound was reached. */
			CU_ASSERT(peak <= limit);
			CU_ASSERT(peak + 16 > limit);
			CU_ASSERT_EQUAL(now, held);
			CU_ASSERT(copied > 0);
			if (persistent) {
				uint64_t full = 0;

				for (int i = 0; i < n; i++)
					full += dev_counter(1, d[i].devid,
							    "grants.cache_full_daemon");
				CU_ASSERT(full > 0);
			} else {
				CU_ASSERT(mapped > 0);
			}
		}
		for (int i = 0; i < n; i++)
			CU_ASSERT(blkenv_child_go(&f[i].fe) == 0);
	}
	for (int i = 0; i < started; i++)
		CU_ASSERT_EQUAL(blkenv_child_wait(&f[i].fe), 0);
	/* Everything given back: a new connection starts from nothing. */
	if (started == n) {
		struct pvf_blk_opts o;

		opts_for(&o, &d[0]);
		o.queues = 1;
		f[0] = (struct bounded_fe){ .t = { .seed = 3, .io_max = 4096, .qd = 1 } };
		if (blkenv_fork_frontend(&E, &f[0].fe, 1, &o, bounded_frontend, &f[0]) > 0 &&
		    !blkenv_child_wait_ready(&f[0].fe)) {
			CU_ASSERT_EQUAL(dev_value(&d[0], "daemon_mappings.now"), 0);
			blkenv_child_close(&f[0].fe);
			CU_ASSERT(blkenv_child_wait(&f[0].fe) != 0);
		} else {
			CU_FAIL("frontend did not come up again");
		}
	}
	bounded_end(d, started);
}

/*
 * An idle device's cache does not keep the daemon's mappings from a busy
 * one: entries idle for a second go to the device that needs them.
 */
static void idle_gives_way(void)
{
	const char *const args[] = { "--resize-interval", "100", "--max-mapped-total", "160",
				     NULL };
	struct bounded_fe f[2];
	struct dev d[2];
	int started = 0;

	started = bounded_start(args, true, 2, f, d);
	if (started == 2) {
		uint64_t a_before, a_after, given, b_mapped, b_copied;

		/* The first fills the daemon's mappings, then idles. */
		CU_ASSERT(blkenv_child_go(&f[0].fe) == 0);
		CU_ASSERT(blkenv_child_wait_ready(&f[0].fe) == 0);
		a_before = dev_counter(1, d[0].devid, "grants.mapped");
		poll(NULL, 0, 2500);
		CU_ASSERT(blkenv_child_go(&f[1].fe) == 0);
		CU_ASSERT(blkenv_child_wait_ready(&f[1].fe) == 0);
		a_after = dev_counter(1, d[0].devid, "grants.mapped");
		given = dev_counter(1, d[0].devid, "grants.given_to_others");
		b_mapped = dev_counter(1, d[1].devid, "grants.mapped");
		b_copied = dev_counter(1, d[1].devid, "grants.copied_for_room");
		fprintf(stderr,
			"  idle device: %llu pages mapped, %llu after the busy one ran (%llu "
			"given); "
			"busy one: %llu mapped, %llu requests copied\n",
			(unsigned long long)a_before, (unsigned long long)a_after,
			(unsigned long long)given, (unsigned long long)b_mapped,
			(unsigned long long)b_copied);
		CU_ASSERT(a_before > 100);
		CU_ASSERT(given > 0);
		CU_ASSERT_EQUAL(a_after, a_before - given);
		CU_ASSERT(b_mapped > a_after);
		CU_ASSERT(dev_value(&d[0], "daemon_mappings.peak") <= 160);
		for (int i = 0; i < 2; i++)
			CU_ASSERT(blkenv_child_go(&f[i].fe) == 0);
	}
	for (int i = 0; i < started; i++)
		CU_ASSERT_EQUAL(blkenv_child_wait(&f[i].fe), 0);
	bounded_end(d, started);
}

/*
 * --max-mapped-total: two guests' devices with persistent grants whose
 * caches together want more than the daemon may map: their caches stop
 * growing at the bound and the rest is grant-copied, the data intact;
 * a device without persistent grants mapping large requests (--map-min)
 * is bounded the same way; an idle device's entries go to a busy one.
 */
void test_mapping_bound(void)
{
	const char *const persistent[] = { "--resize-interval", "100", "--max-mapped-total", "160",
					   NULL };
	const char *const map_min[] = { "--resize-interval",
					"100",
					"--no-persistent",
					"--map-min",
					"4096",
					"--max-mapped-total",
					"40",
					NULL };

	bounded_case(persistent, true, 2, 160);
	bounded_case(map_min, false, 1, 40);
	idle_gives_way();
}
