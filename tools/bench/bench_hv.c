// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pvsplit-bench hv: what the loopback hypervisor costs, so that the device
 * benchmarks can tell the sim's share from the backends'.
 *
 *   event channel round trip: dom0 notifies, dom1 (another process) wakes
 *     from poll(), unmasks and notifies back, dom0 wakes;
 *   notify: the cost of one notification (no wakeup);
 *   grant map+unmap of 1 and of 32 refs;
 *   grant copy of 4 KiB, one segment and 32 segments per call.
 */
#include <errno.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "simrun.h"

#define NPAGES 32

struct shared_info {
	int port;
	uint32_t refs[NPAGES];
};

/* The raw cost of a wakeup on this machine: an eventfd pair, no sim. */
struct raw_pair {
	int ping, pong;
};

/* dom1: share pages, echo every notification (and raw ping), until the pipe closes. */
static void frontend(struct simrun *sr, int wfd, int rfd, struct raw_pair raw)
{
	struct shared_info si;
	struct pvhv *hv;
	struct pvhv_evtchn *ev;
	void *pages;

	if (simrun_open(sr, 1, &hv) || pvhv_evtchn_open(hv, &ev))
		_exit(1);
	si.port = pvhv_evtchn_alloc_unbound(ev, 0);
	if (si.port < 0 || pvhv_gnt_share(hv, 0, NPAGES, 0, si.refs, &pages))
		_exit(1);
	memset(pages, 0x5a, NPAGES * PVHV_PAGE_SIZE);
	if (write(wfd, &si, sizeof(si)) != sizeof(si))
		_exit(1);
	for (;;) {
		struct pollfd p[3] = { { .fd = pvhv_evtchn_fd(ev), .events = POLLIN },
				       { .fd = rfd, .events = POLLIN },
				       { .fd = raw.ping, .events = POLLIN } };
		uint64_t v;
		int port;

		if (poll(p, 3, -1) < 0)
			continue;
		if (p[1].revents)
			break;
		if (p[2].revents && read(raw.ping, &v, 8) == 8 && write(raw.pong, &v, 8) != 8)
			_exit(1);
		while ((port = pvhv_evtchn_pending(ev)) >= 0) {
			pvhv_evtchn_unmask(ev, (uint32_t)port);
			pvhv_evtchn_notify(ev, (uint32_t)port);
		}
	}
	_exit(0);
}

static int wait_event(struct pvhv_evtchn *ev)
{
	struct pollfd p = { .fd = pvhv_evtchn_fd(ev), .events = POLLIN };
	int port;

	if (poll(&p, 1, 5000) != 1)
		return -ETIMEDOUT;
	port = pvhv_evtchn_pending(ev);
	if (port >= 0)
		pvhv_evtchn_unmask(ev, (uint32_t)port);
	return port;
}

static void add(json_object *o, const char *k, double v)
{
	json_object_object_add(o, k, json_object_new_double(v));
}

static void pin(pid_t pid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(pid, sizeof(set), &set);
}

struct ctx {
	struct pvhv *hv;
	struct pvhv_evtchn *ev;
	int port;
	struct shared_info si;
	struct raw_pair raw;
	int iters;
	double *s;
};

/* One placement of the three processes: measure everything, fill obj. */
static int measure(struct ctx *c, json_object *obj, const char *title, bool print)
{
	static char local[NPAGES][PVHV_PAGE_SIZE];
	struct pvhv_gnt_copy_seg segs[NPAGES];
	double rtt_p50, rtt_p99, raw_p50, notify_ns, map1, map32, copy1, copy32;
	const int n = c->iters, maps = c->iters / 4;
	uint64_t t0, v = 1;

	for (int i = 0; i < n + 100; i++) {
		t0 = bench_now_ns();
		pvhv_evtchn_notify(c->ev, (uint32_t)c->port);
		if (wait_event(c->ev) != c->port)
			return -ETIMEDOUT;
		if (i >= 100)
			c->s[i - 100] = (double)(bench_now_ns() - t0) / 1000.0;
	}
	rtt_p50 = bench_percentile(c->s, (size_t)n, 50);
	rtt_p99 = bench_percentile(c->s, (size_t)n, 99);
	for (int i = 0; i < n + 100; i++) {
		t0 = bench_now_ns();
		if (write(c->raw.ping, &v, 8) != 8 || read(c->raw.pong, &v, 8) != 8)
			return -EIO;
		if (i >= 100)
			c->s[i - 100] = (double)(bench_now_ns() - t0) / 1000.0;
	}
	raw_p50 = bench_percentile(c->s, (size_t)n, 50);

	/* Notify alone (the peer wakes at most once per unmask). */
	t0 = bench_now_ns();
	for (int i = 0; i < n; i++)
		pvhv_evtchn_notify(c->ev, (uint32_t)c->port);
	notify_ns = (double)(bench_now_ns() - t0) / n;
	usleep(20000);
	while (pvhv_evtchn_pending(c->ev) >= 0)
		pvhv_evtchn_unmask(c->ev, (uint32_t)c->port);

	t0 = bench_now_ns();
	for (int i = 0; i < maps; i++) {
		void *a;

		if (pvhv_gnt_map(c->hv, 1, 1, &c->si.refs[i % NPAGES], 0, &a) ||
		    pvhv_gnt_unmap(c->hv, a, 1))
			return -EIO;
	}
	map1 = (double)(bench_now_ns() - t0) / maps / 1000.0;
	t0 = bench_now_ns();
	for (int i = 0; i < maps / 4; i++) {
		void *a;

		if (pvhv_gnt_map(c->hv, 1, NPAGES, c->si.refs, 0, &a) ||
		    pvhv_gnt_unmap(c->hv, a, NPAGES))
			return -EIO;
	}
	map32 = (double)(bench_now_ns() - t0) / (maps / 4) / 1000.0;

	for (int i = 0; i < NPAGES; i++)
		segs[i] = (struct pvhv_gnt_copy_seg){
			.local = local[i], .domid = 1, .ref = c->si.refs[i], .len = PVHV_PAGE_SIZE
		};
	t0 = bench_now_ns();
	for (int i = 0; i < maps; i++)
		if (pvhv_gnt_copy(c->hv, &segs[i % NPAGES], 1) || segs[i % NPAGES].status)
			return -EIO;
	copy1 = (double)(bench_now_ns() - t0) / maps / 1000.0;
	t0 = bench_now_ns();
	for (int i = 0; i < maps / 4; i++)
		if (pvhv_gnt_copy(c->hv, segs, NPAGES) || segs[0].status)
			return -EIO;
	copy32 = (double)(bench_now_ns() - t0) / (maps / 4) / 1000.0;

	add(obj, "evtchn_rtt_p50_us", rtt_p50);
	add(obj, "evtchn_rtt_p99_us", rtt_p99);
	add(obj, "eventfd_rtt_p50_us", raw_p50);
	add(obj, "notify_ns", notify_ns);
	add(obj, "gnt_map_unmap_1_us", map1);
	add(obj, "gnt_map_unmap_32_us", map32);
	add(obj, "gnt_copy_4k_1seg_us", copy1);
	add(obj, "gnt_copy_4k_32seg_us", copy32);
	add(obj, "gnt_copy_32seg_gbps", NPAGES * 4096.0 / (copy32 * 1000.0));
	if (print) {
		printf("%s\n", title);
		printf("  %-40s %9.2f us  p99 %.2f us\n", "event channel round trip p50", rtt_p50,
		       rtt_p99);
		printf("  %-40s %9.2f us  (sim/raw %.2f)\n", "raw eventfd round trip p50 (no sim)",
		       raw_p50, rtt_p50 / raw_p50);
		printf("  %-40s %9.0f ns\n", "notify", notify_ns);
		printf("  %-40s %9.2f us\n", "grant map+unmap, 1 ref", map1);
		printf("  %-40s %9.2f us  (%.2f us per ref)\n", "grant map+unmap, 32 refs", map32,
		       map32 / NPAGES);
		printf("  %-40s %9.2f us\n", "grant copy 4 KiB, 1 segment", copy1);
		printf("  %-40s %9.2f us  (%.2f GB/s)\n", "grant copy 4 KiB x 32 segments", copy32,
		       NPAGES * 4096.0 / (copy32 * 1000.0));
	}
	return 0;
}

int bench_hv(const struct bench_opts *o, json_object *out)
{
	struct ctx c = { .iters = o->quick ? 2000 : 20000 };
	struct simrun sr;
	int up[2], down[2], r;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pid_t child;

	c.s = calloc((size_t)c.iters, sizeof(double));
	if (!c.s)
		return -ENOMEM;
	r = simrun_start(&sr, "0,1", 256);
	if (r) {
		fprintf(stderr, "pvsplit-bench: cannot start pvsplit-simhv: %s\n", strerror(-r));
		free(c.s);
		return r;
	}
	c.raw.ping = eventfd(0, EFD_CLOEXEC);
	c.raw.pong = eventfd(0, EFD_CLOEXEC);
	if (c.raw.ping < 0 || c.raw.pong < 0 || pipe(up) || pipe(down)) {
		r = -errno;
		goto out;
	}
	child = fork();
	if (child == 0) {
		close(up[0]);
		close(down[1]);
		frontend(&sr, up[1], down[0], c.raw);
	}
	close(up[1]);
	close(down[0]);
	r = -EIO;
	if (read(up[0], &c.si, sizeof(c.si)) != sizeof(c.si))
		goto stop_child;
	r = simrun_open(&sr, 0, &c.hv);
	if (!r)
		r = pvhv_evtchn_open(c.hv, &c.ev);
	if (r)
		goto stop_child;
	c.port = pvhv_evtchn_bind_interdomain(c.ev, 1, (uint32_t)c.si.port);
	if (c.port < 0) {
		r = c.port;
		goto stop_child;
	}
	json_object_object_add(out, "iterations", json_object_new_int(c.iters));
	if (!o->json)
		printf("pvsplit-bench hv: loopback hypervisor costs, %d iterations\n", c.iters);

	/* Every process on one CPU: the sim's own cost. */
	pin(0, 0);
	pin(child, 0);
	pin(sr.daemon, 0);
	{
		json_object *same = json_object_new_object();

		json_object_object_add(out, "same_cpu", same);
		r = measure(&c, same, "all on one CPU (the sim's own cost):", !o->json);
	}
	/* Frontend on another CPU: adds this machine's cross-CPU wakeup. */
	if (!r && ncpu > 1) {
		json_object *cross = json_object_new_object();

		pin(child, 1);
		json_object_object_add(out, "cross_cpu", cross);
		r = measure(
			&c, cross,
			"frontend on another CPU (adds the machine's wakeup latency):", !o->json);
	}
stop_child:
	if (r)
		fprintf(stderr, "pvsplit-bench hv: %s\n", strerror(-r));
	close(down[1]); /* the frontend exits */
	simrun_wait(child);
	close(up[0]);
	pvhv_evtchn_close(c.ev);
	pvhv_close(c.hv);
out:
	simrun_stop(&sr);
	free(c.s);
	return r;
}
