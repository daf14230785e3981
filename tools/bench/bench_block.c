// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pvsplit-bench block: pvsplit-blkback against the machine, in one run.
 *
 *   4 KiB random reads at queue depth 32: through pvsplit (a userspace
 *     blkfront in another process, the daemon, the loopback hypervisor) and
 *     through plain io_uring on the same file;
 *   1 MiB sequential reads and writes through pvsplit, against the
 *     machine's memcpy bandwidth;
 *   latency percentiles of the pvsplit runs.
 *
 * Self-contained: starts pvsplit-simhv and pvsplit-blkback, writes the
 * device into xenstore as libxl would, backs it with a file in /dev/shm
 * (tmpfs) unless --file names one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <liburing.h>
#include <xenstore.h>

#include "pvsplit/schema.h"

#include "bench.h"
#include "blkfront.h"
#include "simrun.h"
#include "toolstack.h"

#define KIB 1024ull
#define MIB (1024ull * 1024)

struct result {
	double iops, gbps, p50_us, p99_us;
	int err;
};

struct results {
	struct result rand4k, seqread, seqwrite;
};

/* ---- the machine ---- */

static double memcpy_gbps(double secs)
{
	size_t len = 64 * MIB;
	uint8_t *a = malloc(len), *b = malloc(len);
	uint64_t t0, bytes = 0;

	if (!a || !b)
		return 0;
	memset(a, 1, len);
	memset(b, 2, len);
	t0 = bench_now_ns();
	while (bench_now_ns() - t0 < (uint64_t)(secs * 1e9)) {
		for (size_t off = 0; off < len; off += MIB)
			memcpy(b + off, a + off, MIB);
		bytes += len;
	}
	free(a);
	free(b);
	return (double)bytes / (double)(bench_now_ns() - t0);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Plain io_uring, 4 KiB random buffered reads at depth qd: what the backend does per request. */
static double native_iops(const char *file, uint64_t size, unsigned qd, double secs)
{
	struct io_uring ring;
	uint8_t *bufs;
	uint64_t x = 88172645463325252ull, done = 0, t0;
	unsigned inflight = 0;
	int fd = open(file, O_RDONLY);

	if (fd < 0 || io_uring_queue_init(qd * 2, &ring, 0)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	bufs = aligned_alloc(4096, (size_t)qd * 4096);
	t0 = bench_now_ns();
	for (;;) {
		struct io_uring_cqe *cqe;

		while (inflight < qd) {
			struct io_uring_sqe *e = io_uring_get_sqe(&ring);
			unsigned slot = (unsigned)(done + inflight) % qd;

			io_uring_prep_read(e, fd, bufs + (size_t)slot * 4096, 4096,
					   (rnd(&x) % (size / 4096)) * 4096);
			inflight++;
		}
		io_uring_submit_and_wait(&ring, 1);
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			io_uring_cqe_seen(&ring, cqe);
			inflight--;
			done++;
		}
		if ((done & 1023) == 0 && bench_now_ns() - t0 > (uint64_t)(secs * 1e9))
			break;
	}
	io_uring_queue_exit(&ring);
	free(bufs);
	close(fd);
	return (double)done / ((double)(bench_now_ns() - t0) / 1e9);
}

/* ---- through pvsplit (runs in the frontend process) ---- */

struct req {
	struct pvf_blk *b;
	void *buf;
	uint64_t t0;
	bool busy;
	int status;
};

struct run {
	struct req *reqs;
	unsigned qd;
	double *lat;
	size_t nlat, cap;
	int errors;
};

static void done_cb(void *cookie, int status)
{
	struct req *r = cookie;

	r->busy = false;
	r->status = status;
}

/* Keep qd requests of len bytes in flight for secs; offsets random or sequential. */
static struct result workload(struct pvf_blk *b, struct run *run, enum pvf_op op, size_t len,
			      bool random, double secs)
{
	struct pvf_blk_info in;
	struct result res = { 0 };
	uint64_t x = 2463534242ull, seq = 0, done = 0, t0, slots;

	pvf_blk_get_info(b, &in);
	slots = in.size / len;
	run->nlat = 0;
	for (unsigned i = 0; i < run->qd; i++)
		run->reqs[i].busy = false;
	t0 = bench_now_ns();
	for (bool stop = false; !stop || pvf_blk_inflight(b);) {
		for (unsigned i = 0; i < run->qd && !stop; i++) {
			struct req *r = &run->reqs[i];
			uint64_t off;

			if (r->busy)
				continue;
			off = (random ? rnd(&x) % slots : seq++ % slots) * len;
			r->busy = true;
			r->t0 = bench_now_ns();
			if (pvf_blk_submit(b, (uint32_t)(i % in.queues), op, off, r->buf, len,
					   done_cb, r)) {
				r->busy = false;
				res.err = -EIO;
				return res;
			}
		}
		pvf_blk_kick(b);
		if (pvf_blk_reap(b, 5000) < 0) {
			res.err = -ETIMEDOUT;
			return res;
		}
		for (unsigned i = 0; i < run->qd; i++) {
			struct req *r = &run->reqs[i];

			if (r->busy || !r->t0)
				continue;
			if (r->status)
				run->errors++;
			if (run->nlat < run->cap)
				run->lat[run->nlat++] = (double)(bench_now_ns() - r->t0) / 1000.0;
			r->t0 = 0;
			done++;
		}
		if (bench_now_ns() - t0 > (uint64_t)(secs * 1e9))
			stop = true;
	}
	{
		double s = (double)(bench_now_ns() - t0) / 1e9;

		res.iops = (double)done / s;
		res.gbps = (double)done * (double)len / s / 1e9;
	}
	res.p50_us = bench_percentile(run->lat, run->nlat, 50);
	res.p99_us = bench_percentile(run->lat, run->nlat, 99);
	if (run->errors)
		res.err = -EIO;
	return res;
}

struct fe_args {
	struct simrun *sim;
	uint32_t devid;
	double secs;
	int out;
};

static void frontend(struct fe_args *a)
{
	struct pvf_blk_opts o;
	struct results res = { 0 };
	struct pvhv *hv;
	struct pvf_blk *b;
	struct run run = { .cap = 4000000 };
	int r;

	pvf_blk_opts_default(&o);
	o.devid = a->devid;
	o.ring_order = 2;
	o.pool_pages = 32 + 8 * 256 + 64;
	r = simrun_open(a->sim, 1, &hv);
	if (!r)
		r = pvf_blk_open(hv, &o, &b);
	if (r) {
		res.rand4k.err = r;
		goto out;
	}
	run.lat = calloc(run.cap, sizeof(double));
	run.reqs = calloc(32, sizeof(*run.reqs));
	for (unsigned i = 0; i < 32; i++)
		run.reqs[i].buf = pvf_blk_alloc(b, i < 8 ? MIB : 4096);
	/* Warm the persistent grants and the page cache: a first sequential pass. */
	run.qd = 8;
	workload(b, &run, PVF_READ, MIB, false, a->secs / 3);
	run.qd = 32;
	res.rand4k = workload(b, &run, PVF_READ, 4096, true, a->secs);
	run.qd = 8;
	res.seqread = workload(b, &run, PVF_READ, MIB, false, a->secs);
	res.seqwrite = workload(b, &run, PVF_WRITE, MIB, false, a->secs);
	pvf_blk_close(b);
out:
	if (write(a->out, &res, sizeof(res)) != sizeof(res))
		_exit(1);
	_exit(0);
}

/* ---- orchestration ---- */

static int find_blkback(char *buf, size_t len)
{
	const char *e = getenv("PVSPLIT_BLKBACK");
	char simhv[PATH_MAX];

	if (e) {
		snprintf(buf, len, "%s", e);
		return 0;
	}
	/* Next to pvsplit-simhv: the build tree's dom0/blkback, or the same sbin. */
	if (!simrun_binary(simhv, sizeof(simhv)))
		return -ENOENT;
	{
		char *slash = strrchr(simhv, '/');

		*slash = 0;
		if (snprintf(buf, len, "%s/../../dom0/blkback/pvsplit-blkback", simhv) >= (int)len)
			return -ENAMETOOLONG;
		if (!access(buf, X_OK))
			return 0;
		if (snprintf(buf, len, "%s/pvsplit-blkback", simhv) >= (int)len)
			return -ENAMETOOLONG;
		return access(buf, X_OK) ? -ENOENT : 0;
	}
}

static pid_t start_daemon(struct simrun *sim, const char *bin, const char *poll_us, char *ctl,
			  size_t ctl_len)
{
	pid_t pid;

	snprintf(ctl, ctl_len, "%s/blkback.sock", sim->dir);
	pid = fork();
	if (pid == 0) {
		/* What it says goes to a file: quoted if the device does not come up. */
		char log[PATH_MAX];
		int fd;

		snprintf(log, sizeof(log), "%s/blkback.log", sim->dir);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		setenv("PVSPLIT_DOMID", "0", 1);
		const char *argv[] = { "pvsplit-blkback",
				       "--ctl",
				       ctl,
				       "--persistent-max",
				       "4096",
				       "--quiet",
				       poll_us ? "--poll-us" : NULL,
				       poll_us,
				       NULL };

		execv(bin, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* The last line pvsplit-blkback wrote to its log (buf empty if none). */
static void daemon_said(const struct simrun *sim, char *buf, size_t len)
{
	char path[PATH_MAX], line[512];
	FILE *f;

	buf[0] = 0;
	snprintf(path, sizeof(path), "%s/blkback.log", sim->dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (line[0])
			snprintf(buf, len, "%s", line);
	}
	fclose(f);
}

/*
 * Wait up to 10 s for the vbd's backend to reach InitWait, and stop early
 * if the daemon exits (a bad option): -ECHILD then, *status its wait status.
 */
static int wait_device(struct xs_handle *xs, const struct pvs_schema *schema, pid_t daemon,
		       int *status)
{
	int r = -ETIMEDOUT;

	for (int i = 0; i < 50; i++) {
		r = ts_vbd_wait(xs, schema, 0, 1, 51712, "state", "2", 200);
		if (r != -ETIMEDOUT)
			return r;
		if (waitpid(daemon, status, WNOHANG) == daemon)
			return -ECHILD;
	}
	return r;
}

static void add_result(json_object *out, const char *key, const char *what, double v)
{
	json_object *o;

	if (!json_object_object_get_ex(out, key, &o)) {
		o = json_object_new_object();
		json_object_object_add(out, key, o);
	}
	json_object_object_add(o, what, json_object_new_double(v));
}

int bench_block(const struct bench_opts *o, json_object *out)
{
	const double secs = o->quick ? 0.5 : 3.0;
	uint64_t size = 256 * MIB;
	char file[PATH_MAX], bin[PATH_MAX], ctl[256], *err = NULL;
	struct simrun sim;
	struct results res;
	struct pvs_schema *schema = NULL;
	struct pvhv *hv0 = NULL;
	struct xs_handle *xs = NULL;
	double native, mcpy;
	bool own_file = !o->file;
	pid_t daemon = 0, fe;
	int p[2], r;

	if (o->file) {
		struct stat st;

		if (stat(o->file, &st) || !S_ISREG(st.st_mode) || st.st_size < (off_t)(16 * MIB)) {
			fprintf(stderr,
				"pvsplit-bench block: --file %s: need a regular file of 16 MiB "
				"or more\n",
				o->file);
			return -EINVAL;
		}
		size = (uint64_t)st.st_size / MIB * MIB;
		snprintf(file, sizeof(file), "%s", o->file);
	} else {
		int fd;

		snprintf(file, sizeof(file), "/dev/shm/pvsplit-bench-%d.img", (int)getpid());
		fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)size)) {
			fprintf(stderr, "pvsplit-bench block: %s: %s\n", file, strerror(errno));
			return -errno;
		}
		/* Real data, so that reads copy pages rather than map the zero page. */
		{
			uint8_t *buf = malloc(MIB);

			memset(buf, 0x5a, MIB);
			for (uint64_t off = 0; off < size; off += MIB)
				if (pwrite(fd, buf, MIB, (off_t)off) != (ssize_t)MIB)
					break;
			free(buf);
		}
		close(fd);
	}
	if (find_blkback(bin, sizeof(bin))) {
		fprintf(stderr,
			"pvsplit-bench block: pvsplit-blkback not found (set PVSPLIT_BLKBACK)\n");
		r = -ENOENT;
		goto out_file;
	}
	/*
	 * Everything on one CPU, as the native reference runs: the daemon, the
	 * sim and the frontend inherit it.  Left to the scheduler (--spread),
	 * the 4 KiB figure swings between runs by 2x on these VMs, with where
	 * the frontend and the daemon land (a wakeup across CPUs costs 40-80 us
	 * here: see `pvsplit-bench hv`), and large copies go to io_uring
	 * workers on another CPU.
	 */
	{
		cpu_set_t all, one;
		int cpu = -1;

		if (!o->spread && !sched_getaffinity(0, sizeof(all), &all) && CPU_COUNT(&all) > 0) {
			cpu = 0;
			while (!CPU_ISSET(cpu, &all))
				cpu++;
			CPU_ZERO(&one);
			CPU_SET(cpu, &one);
			sched_setaffinity(0, sizeof(one), &one);
		}
		json_object_object_add(out, "cpu", json_object_new_int(cpu));
		json_object_object_add(out, "poll_us",
				       json_object_new_string(o->poll_us ? o->poll_us : "default"));
		if (!o->json)
			printf("pvsplit-bench block: %s, %llu MiB, %.1f s per workload, %s; "
			       "pvsplit-blkback --poll-us %s\n",
			       file, (unsigned long long)(size / MIB), secs,
			       cpu < 0 ? "placement left to the scheduler"
				       : "every process on one CPU",
			       o->poll_us ? o->poll_us : "(default)");
	}
	native = native_iops(file, size, 32, secs);
	mcpy = memcpy_gbps(secs);

	r = simrun_start(&sim, "0,1", 512);
	if (r) {
		fprintf(stderr, "pvsplit-bench block: cannot start pvsplit-simhv: %s\n",
			strerror(-r));
		goto out_file;
	}
	r = pvs_schema_load(&schema, NULL, &err);
	if (!r)
		r = simrun_open(&sim, 0, &hv0);
	if (!r)
		r = pvhv_xs_open(hv0, &xs);
	if (r) {
		fprintf(stderr, "pvsplit-bench block: setup: %s\n", err ? err : strerror(-r));
		goto out_sim;
	}
	daemon = start_daemon(&sim, bin, o->poll_us, ctl, sizeof(ctl));
	{
		struct ts_vbd v = { .domid = 1, .devid = 51712, .params = file };
		int st = 0;
		char said[512];

		r = ts_vbd_add(xs, schema, &v);
		if (!r)
			r = wait_device(xs, schema, daemon, &st);
		if (r) {
			daemon_said(&sim, said, sizeof(said));
			if (r == -ECHILD) {
				daemon = -1; /* reaped */
				fprintf(stderr,
					"pvsplit-bench block: pvsplit-blkback exited (%s %d)%s%s\n",
					WIFEXITED(st) ? "status" : "signal",
					WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
					said[0] ? ": " : "", said);
			} else {
				fprintf(stderr,
					"pvsplit-bench block: vbd 1/51712 did not come up: "
					"%s%s%s\n",
					strerror(-r), said[0] ? "; pvsplit-blkback said: " : "",
					said);
			}
			goto out_sim;
		}
	}
	if (pipe(p)) {
		r = -errno;
		goto out_sim;
	}
	fe = fork();
	if (fe == 0) {
		struct fe_args a = { .sim = &sim, .devid = 51712, .secs = secs, .out = p[1] };

		close(p[0]);
		frontend(&a);
	}
	close(p[1]);
	memset(&res, 0, sizeof(res));
	if (read(p[0], &res, sizeof(res)) != sizeof(res))
		res.rand4k.err = -EIO;
	close(p[0]);
	simrun_wait(fe);
	r = res.rand4k.err ?: res.seqread.err ?: res.seqwrite.err;
	if (r) {
		fprintf(stderr, "pvsplit-bench block: frontend: %s\n", strerror(-r));
		goto out_sim;
	}

	add_result(out, "iops_4k_randread_qd32", "pvsplit", res.rand4k.iops);
	add_result(out, "iops_4k_randread_qd32", "native", native);
	add_result(out, "iops_4k_randread_qd32", "ratio", res.rand4k.iops / native);
	add_result(out, "iops_4k_randread_qd32", "p50_us", res.rand4k.p50_us);
	add_result(out, "iops_4k_randread_qd32", "p99_us", res.rand4k.p99_us);
	add_result(out, "gbps_1m_seqread", "pvsplit", res.seqread.gbps);
	add_result(out, "gbps_1m_seqread", "memcpy", mcpy);
	add_result(out, "gbps_1m_seqread", "ratio", res.seqread.gbps / mcpy);
	add_result(out, "gbps_1m_seqread", "p50_us", res.seqread.p50_us);
	add_result(out, "gbps_1m_seqread", "p99_us", res.seqread.p99_us);
	add_result(out, "gbps_1m_seqwrite", "pvsplit", res.seqwrite.gbps);
	add_result(out, "gbps_1m_seqwrite", "memcpy", mcpy);
	add_result(out, "gbps_1m_seqwrite", "ratio", res.seqwrite.gbps / mcpy);
	add_result(out, "gbps_1m_seqwrite", "p50_us", res.seqwrite.p50_us);
	add_result(out, "gbps_1m_seqwrite", "p99_us", res.seqwrite.p99_us);
	if (!o->json) {
		printf("  %-34s %12.0f IOPS  native %.0f  ratio %.2f  (target >= 0.80)\n",
		       "4 KiB random read, QD32", res.rand4k.iops, native,
		       res.rand4k.iops / native);
		printf("  %-34s %12s p50 %.1f us  p99 %.1f us\n", "", "", res.rand4k.p50_us,
		       res.rand4k.p99_us);
		printf("  %-34s %10.2f GB/s  memcpy %.2f  ratio %.2f  (target >= 0.60)\n",
		       "1 MiB sequential read, QD8", res.seqread.gbps, mcpy,
		       res.seqread.gbps / mcpy);
		printf("  %-34s %12s p50 %.1f us  p99 %.1f us\n", "", "", res.seqread.p50_us,
		       res.seqread.p99_us);
		printf("  %-34s %10.2f GB/s  memcpy %.2f  ratio %.2f\n",
		       "1 MiB sequential write, QD8", res.seqwrite.gbps, mcpy,
		       res.seqwrite.gbps / mcpy);
		printf("  %-34s %12s p50 %.1f us  p99 %.1f us\n", "", "", res.seqwrite.p50_us,
		       res.seqwrite.p99_us);
	}
	r = 0;
out_sim:
	if (daemon > 0) {
		kill(daemon, SIGTERM);
		simrun_wait(daemon);
	}
	if (xs)
		xs_close(xs);
	pvhv_close(hv0);
	pvs_schema_free(schema);
	free(err);
	simrun_stop(&sim);
out_file:
	if (own_file)
		unlink(file);
	return r;
}
