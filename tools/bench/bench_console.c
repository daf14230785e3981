// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pvsplit-bench console: pvsplit-consoled on the loopback hypervisor.
 *
 *   guest-to-log throughput: a guest writes its console as fast as it can,
 *     the daemon logs it (to a tmpfs); measured with the rate limit off
 *     (the default) and with xenconsoled's fixed 30 events / 200 ms;
 *   guest-to-pty round trip: the guest writes a byte, a client on the pty
 *     echoes it, the guest reads it back (p50, p99);
 *   xenconsoled's bound for the same workload: 30 events per 200 ms of at
 *     most one 2 KiB ring each, about 300 KiB/s.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <xenstore.h>

#include "pvsplit/hv-sim.h"
#include "pvsplit/schema.h"

#include "bench.h"
#include "consfront.h"
#include "simrun.h"
#include "toolstack.h"

#define XENCONSOLED_BOUND (30.0 / 0.2 * 2048.0) /* bytes per second */

struct env {
	struct simrun sim;
	struct pvs_schema *schema;
	struct pvhv *hv0;
	struct xs_handle *xs;
	char bin[PATH_MAX], ctl[256], logdir[256];
	pid_t daemon;
};

static int find_consoled(char *buf, size_t len)
{
	const char *e = getenv("PVSPLIT_CONSOLED");
	char simhv[PATH_MAX], *slash;

	if (e) {
		snprintf(buf, len, "%s", e);
		return 0;
	}
	if (!simrun_binary(simhv, sizeof(simhv)))
		return -ENOENT;
	slash = strrchr(simhv, '/');
	*slash = 0;
	if (snprintf(buf, len, "%s/../../dom0/consoled/pvsplit-consoled", simhv) >= (int)len)
		return -ENAMETOOLONG;
	if (!access(buf, X_OK))
		return 0;
	if (snprintf(buf, len, "%s/pvsplit-consoled", simhv) >= (int)len)
		return -ENAMETOOLONG;
	return access(buf, X_OK) ? -ENOENT : 0;
}

static int daemon_start(struct env *e, const char *rate)
{
	e->daemon = fork();
	if (e->daemon < 0)
		return -errno;
	if (e->daemon == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 2);
		setenv("PVSPLIT_DOMID", "0", 1);
		execl(e->bin, "pvsplit-consoled", "--config", "/dev/null", "--control-socket",
		      e->ctl, "--log-dir", e->logdir, "--rate-limit", rate, "--quiet",
		      (char *)NULL);
		_exit(127);
	}
	return 0;
}

static void daemon_stop(struct env *e)
{
	if (e->daemon > 0) {
		kill(e->daemon, SIGTERM);
		simrun_wait(e->daemon);
	}
	e->daemon = 0;
}

static char *tty_of(struct env *e, uint32_t domid)
{
	char path[64];
	unsigned len;

	snprintf(path, sizeof(path), "/local/domain/%u/console/tty", domid);
	for (int i = 0; i < 1000; i++) {
		char *t = xs_read(e->xs, XBT_NULL, path, &len);

		if (t && *t)
			return t;
		free(t);
		poll(NULL, 0, 10);
	}
	return NULL;
}

/* A guest with a primary console, published as libxl would. */
static int guest(struct env *e, uint32_t domid, const char *name, struct pvhv **hv,
		 struct pvf_cons **c)
{
	uint64_t frame;
	uint32_t port;
	int r = pvhv_sim_domain_create(e->hv0, domid, 4);

	if (r && r != -EEXIST)
		return r;
	r = simrun_open(&e->sim, (int)domid, hv);
	if (!r)
		r = pvf_cons_primary(*hv, 0, c, &frame, &port);
	if (!r)
		r = ts_console_add(e->xs, e->schema, domid, 0, name, NULL, "xenconsoled", frame,
				   port);
	return r;
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint64_t)st.st_size;
}

/* Bytes per second from the guest's ring into the log. */
static double throughput(struct env *e, uint32_t domid, const char *name, double secs)
{
	char log[512], chunk[4096];
	struct pvhv *hv;
	struct pvf_cons *c;
	uint64_t t0, written = 0;
	double rate;

	snprintf(log, sizeof(log), "%s/guest-%s.log", e->logdir, name);
	unlink(log);
	if (guest(e, domid, name, &hv, &c))
		return -1;
	free(tty_of(e, domid));
	memset(chunk, 'x', sizeof(chunk));
	t0 = bench_now_ns();
	while (bench_now_ns() - t0 < (uint64_t)(secs * 1e9)) {
		ssize_t n = pvf_cons_write(c, chunk, sizeof(chunk), 100);

		if (n > 0)
			written += (uint64_t)n;
	}
	/* Until the log has it all (bounded). */
	for (int i = 0; i < 500 && file_size(log) < written; i++)
		poll(NULL, 0, 10);
	rate = (double)file_size(log) / ((double)(bench_now_ns() - t0) / 1e9);
	pvf_cons_close(c);
	pvhv_close(hv);
	ts_console_remove(e->xs, e->schema, domid, 0);
	pvhv_sim_domain_destroy(e->hv0, domid);
	unlink(log);
	return rate;
}

/* The pty client: echo every byte back. */
static void echo_client(const char *tty, int ready)
{
	struct termios t;
	int fd = open(tty, O_RDWR | O_NOCTTY);
	char b[64];

	if (fd < 0)
		_exit(1);
	if (!tcgetattr(fd, &t)) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	if (write(ready, "r", 1) != 1)
		_exit(1);
	for (;;) {
		ssize_t n = read(fd, b, sizeof(b));

		if (n <= 0 || write(fd, b, (size_t)n) != n)
			_exit(0);
	}
}

static int round_trips(struct env *e, int iters, double *p50, double *p99)
{
	struct pvhv *hv;
	struct pvf_cons *c;
	double *s = calloc((size_t)iters, sizeof(double));
	char *tty, b;
	int p[2], r = 0;
	pid_t client;

	if (!s || guest(e, 1, "rtt", &hv, &c))
		return -EIO;
	tty = tty_of(e, 1);
	if (!tty || pipe(p))
		return -EIO;
	client = fork();
	if (client == 0)
		echo_client(tty, p[1]);
	if (read(p[0], &b, 1) != 1)
		r = -EIO;
	poll(NULL, 0, 200); /* the daemon notices the client */
	/* Drain anything the replay buffer sent. */
	while (pvf_cons_read(c, &b, 1, 50) > 0)
		;
	for (int i = 0; i < iters && !r; i++) {
		uint64_t t0 = bench_now_ns();

		b = (char)('a' + i % 26);
		if (pvf_cons_write(c, &b, 1, 1000) != 1 || pvf_cons_read(c, &b, 1, 2000) != 1) {
			r = -ETIMEDOUT;
			break;
		}
		s[i] = (double)(bench_now_ns() - t0) / 1000.0;
	}
	if (!r) {
		*p50 = bench_percentile(s, (size_t)iters, 50);
		*p99 = bench_percentile(s, (size_t)iters, 99);
	}
	kill(client, SIGTERM);
	simrun_wait(client);
	pvf_cons_close(c);
	pvhv_close(hv);
	free(s);
	free(tty);
	return r;
}

static void add(json_object *o, const char *k, double v)
{
	json_object_object_add(o, k, json_object_new_double(v));
}

int bench_console(const struct bench_opts *o, json_object *out)
{
	const double secs = o->quick ? 0.5 : 3.0;
	const int iters = o->quick ? 200 : 2000;
	struct env e = { 0 };
	char *err = NULL;
	double fast = 0, limited = 0, p50 = 0, p99 = 0;
	int r;

	if (find_consoled(e.bin, sizeof(e.bin))) {
		fprintf(stderr, "pvsplit-bench console: pvsplit-consoled not found (set "
				"PVSPLIT_CONSOLED)\n");
		return -ENOENT;
	}
	r = simrun_start(&e.sim, "0", 64);
	if (r) {
		fprintf(stderr, "pvsplit-bench console: cannot start pvsplit-simhv: %s\n",
			strerror(-r));
		return r;
	}
	snprintf(e.ctl, sizeof(e.ctl), "%s/consoled.sock", e.sim.dir);
	/* The logs go to the sim's directory: a tmpfs when /tmp is one; /dev/shm otherwise. */
	snprintf(e.logdir, sizeof(e.logdir), "/dev/shm/pvsplit-bench-cons-%d", (int)getpid());
	mkdir(e.logdir, 0755);
	r = pvs_schema_load(&e.schema, NULL, &err);
	if (!r)
		r = simrun_open(&e.sim, 0, &e.hv0);
	if (!r)
		r = pvhv_xs_open(e.hv0, &e.xs);
	if (r)
		goto out;

	r = daemon_start(&e, "off");
	if (r)
		goto out;
	fast = throughput(&e, 2, "throughput", secs);
	r = round_trips(&e, iters, &p50, &p99);
	daemon_stop(&e);
	if (r || fast < 0) {
		fprintf(stderr, "pvsplit-bench console: %s\n", strerror(r ? -r : EIO));
		r = r ? r : -EIO;
		goto out;
	}
	/* The same workload under xenconsoled's limit, enforced by pvsplit-consoled. */
	r = daemon_start(&e, "30/200");
	if (!r)
		limited = throughput(&e, 3, "limited", secs < 2 ? 2 : secs);
	daemon_stop(&e);

	add(out, "bytes_per_s", fast);
	add(out, "bytes_per_s_at_xenconsoled_limit", limited);
	add(out, "xenconsoled_bound_bytes_per_s", XENCONSOLED_BOUND);
	add(out, "ratio_to_xenconsoled_bound", fast / XENCONSOLED_BOUND);
	add(out, "rtt_p50_us", p50);
	add(out, "rtt_p99_us", p99);
	if (!o->json) {
		printf("pvsplit-bench console (loopback hypervisor, log on tmpfs)\n");
		printf("  %-44s %10.1f MB/s\n", "guest -> log, rate limit off", fast / 1e6);
		printf("  %-44s %10.1f KB/s\n", "guest -> log, limited to 30 events/200 ms",
		       limited / 1e3);
		printf("  %-44s %10.1f KB/s  (pvsplit: %.0fx)\n",
		       "xenconsoled's bound (30 x 2 KiB / 200 ms)", XENCONSOLED_BOUND / 1e3,
		       fast / XENCONSOLED_BOUND);
		printf("  %-44s %10.1f us  p99 %.1f us\n", "guest -> pty -> guest round trip p50",
		       p50, p99);
	}
	r = 0;
out:
	daemon_stop(&e);
	if (e.xs)
		xs_close(e.xs);
	pvhv_close(e.hv0);
	pvs_schema_free(e.schema);
	free(err);
	simrun_stop(&e.sim);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e.logdir);
		if (system(cmd))
			r = r ? r : 0;
	}
	return r;
}
