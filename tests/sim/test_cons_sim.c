// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Sim tier: pvsplit-consoled with guests on the loopback hypervisor.
 * Both directions through the pty, exact logs, rotation, replay to a late
 * client, the rate limit, 200 guests on one daemon, hostile rings, a guest
 * destroyed and created again under the same name, a daemon restart, a
 * secondary console (channel) through xenbus.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <xenstore.h>
#include <xen/io/console.h>

#include "pvsplit/hv-sim.h"

#include "blkenv.h"
#include "consfront.h"

static struct blkenv E;
static char logdir[256];

struct guest {
	uint32_t domid;
	char name[32];
	struct pvhv *hv;
	struct pvf_cons *c;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int start_daemon(const char *const *extra)
{
	const char *args[16];
	int n = 0;

	args[n++] = "--log-dir";
	args[n++] = logdir;
	for (int i = 0; extra && extra[i] && n < 15; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	return blkenv_daemon_start(&E, args);
}

static char *cons_key(uint32_t domid, uint32_t devid, const char *key)
{
	char path[256];
	unsigned len;

	if (devid)
		snprintf(path, sizeof(path), "/local/domain/%u/device/console/%u/%s", domid, devid,
			 key);
	else
		snprintf(path, sizeof(path), "/local/domain/%u/console/%s", domid, key);
	return xs_read(E.xs, XBT_NULL, path, &len);
}

/* The daemon writes console/tty once it serves the console. */
static char *wait_tty(uint32_t domid, uint32_t devid, const char *not_this)
{
	for (int i = 0; i < 500; i++) {
		char *t = cons_key(domid, devid, "tty");

		if (t && *t && (!not_this || strcmp(t, not_this)))
			return t;
		free(t);
		poll(NULL, 0, 10);
	}
	return NULL;
}

static int guest_up(struct guest *g, uint32_t domid, const char *name)
{
	uint64_t frame;
	uint32_t port;
	int r;

	memset(g, 0, sizeof(*g));
	g->domid = domid;
	snprintf(g->name, sizeof(g->name), "%s", name);
	r = pvhv_sim_domain_create(E.hv0, domid, 4);
	if (r && r != -EEXIST)
		return r;
	r = simrun_open(&E.sim, (int)domid, &g->hv);
	if (!r)
		r = pvf_cons_primary(g->hv, 0, &g->c, &frame, &port);
	if (!r)
		r = ts_console_add(E.xs, E.schema, domid, 0, name, NULL, "xenconsoled", frame,
				   port);
	return r;
}

/* Does the daemon still serve console devid of domid? */
static bool served(uint32_t domid, uint32_t devid)
{
	json_object *root = blkenv_stats(&E);
	bool there = blkenv_dev_stats(root, domid, devid) != NULL;

	json_object_put(root);
	return there;
}

static void guest_down(struct guest *g, bool destroy)
{
	ts_console_remove(E.xs, E.schema, g->domid, 0);
	pvf_cons_close(g->c);
	pvhv_close(g->hv);
	g->c = NULL;
	g->hv = NULL;
	if (destroy)
		pvhv_sim_domain_destroy(E.hv0, g->domid);
	/*
	 * Wait for the daemon to let go: the next test may give the same
	 * domain a new console at once, which Xen never does (a new domain
	 * gets a new domid), and which the daemon may see only after the
	 * directory is back.
	 */
	for (int i = 0; i < 500 && served(g->domid, 0); i++)
		poll(NULL, 0, 10);
}

static int client_open(const char *tty)
{
	struct termios t;
	int fd = open(tty, O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd >= 0 && !tcgetattr(fd, &t)) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	return fd;
}

/* Read from fd until want appears or timeout; the bytes read go to buf. */
static size_t read_until(int fd, char *buf, size_t len, const char *want, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	size_t n = 0;

	buf[0] = 0;
	while (n < len - 1 && now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t k;

		if (poll(&p, 1, (int)(deadline - now_ms())) <= 0)
			break;
		k = read(fd, buf + n, len - 1 - n);
		if (k <= 0)
			break;
		n += (size_t)k;
		buf[n] = 0;
		if (want && memmem(buf, n, want, strlen(want)))
			break;
	}
	return n;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;

	*len = 0;
	if (!f)
		return NULL;
	buf = malloc(1 << 22);
	*len = fread(buf, 1, (1 << 22) - 1, f);
	buf[*len] = 0;
	fclose(f);
	return buf;
}

static char *log_path(const char *name, const char *suffix)
{
	static char p[512];

	snprintf(p, sizeof(p), "%s/guest-%s%s.log", logdir, name, suffix ? suffix : "");
	return p;
}

/* Wait until the log holds at least n bytes. */
static bool wait_log(const char *path, size_t n)
{
	for (int i = 0; i < 500; i++) {
		struct stat st;

		if (!stat(path, &st) && (size_t)st.st_size >= n)
			return true;
		poll(NULL, 0, 10);
	}
	return false;
}

static uint64_t cons_counter(uint32_t domid, uint32_t devid, const char *key)
{
	json_object *root = blkenv_stats(&E), *d = blkenv_dev_stats(root, domid, devid), *v;
	uint64_t x = 0;

	if (d && json_object_object_get_ex(d, key, &v))
		x = (uint64_t)json_object_get_int64(v);
	json_object_put(root);
	return x;
}

static bool cons_flag(uint32_t domid, uint32_t devid, const char *key)
{
	json_object *root = blkenv_stats(&E), *d = blkenv_dev_stats(root, domid, devid), *v;
	bool x = false;

	if (d && json_object_object_get_ex(d, key, &v))
		x = json_object_get_boolean(v);
	json_object_put(root);
	return x;
}

/* ---- tests ---- */

static void test_both_ways(void)
{
	struct guest g;
	char buf[4096], *tty;
	const char *msg = "hello from the guest\r\n";
	int fd;

	CU_ASSERT_FATAL(guest_up(&g, 1, "alpha") == 0);
	tty = wait_tty(1, 0, NULL);
	CU_ASSERT_FATAL(tty != NULL);
	fd = client_open(tty);
	CU_ASSERT_FATAL(fd >= 0);
	poll(NULL, 0, 150); /* the daemon notices the client */
	CU_ASSERT_EQUAL(pvf_cons_write(g.c, msg, strlen(msg), 2000), (ssize_t)strlen(msg));
	read_until(fd, buf, sizeof(buf), "guest\r\n", 3000);
	CU_ASSERT(strstr(buf, "hello from the guest\r\n") != NULL);
	/* Input: what the client types reaches the guest, raw (no echo, no CR mapping). */
	CU_ASSERT(write(fd, "ls -l\r", 6) == 6);
	{
		char in[64] = "";
		ssize_t n = 0;

		for (int i = 0; i < 20 && n < 6; i++) {
			ssize_t k = pvf_cons_read(g.c, in + n, sizeof(in) - 1 - (size_t)n, 200);

			if (k > 0)
				n += k;
		}
		in[n > 0 ? n : 0] = 0;
		CU_ASSERT_STRING_EQUAL(in, "ls -l\r");
	}
	/* Binary data both ways, unchanged. */
	{
		unsigned char bin[256];

		for (int i = 0; i < 256; i++)
			bin[i] = (unsigned char)i;
		CU_ASSERT_EQUAL(pvf_cons_write(g.c, bin, sizeof(bin), 2000), 256);
		{
			char got[1024];
			size_t n = 0;

			while (n < 256) {
				struct pollfd p = { .fd = fd, .events = POLLIN };
				ssize_t k;

				if (poll(&p, 1, 2000) <= 0 ||
				    (k = read(fd, got + n, sizeof(got) - n)) <= 0)
					break;
				n += (size_t)k;
			}
			CU_ASSERT(n == 256 && !memcmp(got, bin, 256));
		}
	}
	close(fd);
	free(tty);
	guest_down(&g, false);
}

static void test_log_exact(void)
{
	struct guest g;
	char *data = malloc(100000), *log;
	size_t len;

	/* Before the guest: the daemon must not be holding an unlinked log open. */
	unlink(log_path("beta", NULL));
	CU_ASSERT_FATAL(guest_up(&g, 1, "beta") == 0);
	free(wait_tty(1, 0, NULL));
	for (size_t i = 0; i < 100000; i++)
		data[i] = (char)(' ' + (i * 7 + i / 13) % 90);
	CU_ASSERT_EQUAL(pvf_cons_write(g.c, data, 100000, 5000), 100000);
	CU_ASSERT(wait_log(log_path("beta", NULL), 100000));
	log = slurp(log_path("beta", NULL), &len);
	CU_ASSERT(log && len == 100000 && !memcmp(log, data, 100000));
	free(log);
	free(data);
	guest_down(&g, false);
}

static void test_rotation(void)
{
	static const char *const args[] = { "--rotate-size", "4096", "--rotate-keep", "2", NULL };
	struct guest g;
	char data[20480], *a, *b, *c, name[64];
	size_t la, lb, lc;

	CU_ASSERT_FATAL(blkenv_daemon_stop(&E, false) == 0);
	CU_ASSERT_FATAL(start_daemon(args) == 0);
	CU_ASSERT_FATAL(guest_up(&g, 1, "gamma") == 0);
	free(wait_tty(1, 0, NULL));
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	CU_ASSERT_EQUAL(pvf_cons_write(g.c, data, sizeof(data), 5000), (ssize_t)sizeof(data));
	poll(NULL, 0, 300);
	a = slurp(log_path("gamma", NULL), &la);
	snprintf(name, sizeof(name), "%s.1", log_path("gamma", NULL));
	b = slurp(name, &lb);
	snprintf(name, sizeof(name), "%s.2", log_path("gamma", NULL));
	c = slurp(name, &lc);
	/* Every file at most the size; .3 never exists; together: the newest bytes, in order. */
	CU_ASSERT(a && b && c);
	CU_ASSERT(la <= 4096 && lb == 4096 && lc == 4096);
	snprintf(name, sizeof(name), "%s.3", log_path("gamma", NULL));
	CU_ASSERT(access(name, F_OK) != 0);
	if (a && b && c) {
		size_t total = la + lb + lc;
		const char *tail = data + sizeof(data) - total;

		CU_ASSERT(!memcmp(c, tail, lc) && !memcmp(b, tail + lc, lb) &&
			  !memcmp(a, tail + lc + lb, la));
	}
	free(a);
	free(b);
	free(c);
	CU_ASSERT(cons_counter(1, 0, "rotations") >= 4);
	guest_down(&g, false);
	CU_ASSERT_FATAL(blkenv_daemon_stop(&E, false) == 0);
	CU_ASSERT_FATAL(start_daemon(NULL) == 0);
}

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
}

/*
 * A log that cannot move aside (a file left where it goes first, as a
 * daemon killed mid-rotation leaves it): written on past rotate-size, every
 * byte; the file in the way and the older one untouched; the failure
 * counted and tried again after each further rotate-size.  With the way
 * clear, the next try rotates.
 */
static void test_rotation_blocked(void)
{
	static const char *const args[] = { "--rotate-size", "4096", "--rotate-keep", "2", NULL };
	struct guest g;
	char data[12288 + 100], one[600], two[600], blocker[600], *log = NULL;
	size_t len = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('A' + i % 26);
	snprintf(one, sizeof(one), "%s.1", log_path("lambda", NULL));
	snprintf(two, sizeof(two), "%s.2", log_path("lambda", NULL));
	snprintf(blocker, sizeof(blocker), "%s.rotating", log_path("lambda", NULL));
	unlink(log_path("lambda", NULL));
	unlink(two);
	put_file(one, "older\n");
	put_file(blocker, "left behind\n");
	CU_ASSERT_FATAL(blkenv_daemon_stop(&E, false) == 0);
	CU_ASSERT_FATAL(start_daemon(args) == 0);
	CU_ASSERT_FATAL(guest_up(&g, 11, "lambda") == 0);
	free(wait_tty(11, 0, NULL));

	/* 10 KiB: past 4096 and 8192, two failed tries; the log has it all. */
	CU_ASSERT_EQUAL(pvf_cons_write(g.c, data, 10240, 5000), 10240);
	CU_ASSERT(wait_log(log_path("lambda", NULL), 10240));
	log = slurp(log_path("lambda", NULL), &len);
	CU_ASSERT(log && len == 10240 && !memcmp(log, data, len));
	free(log);
	CU_ASSERT_EQUAL(cons_counter(11, 0, "rotate_failures"), 2);
	CU_ASSERT_EQUAL(cons_counter(11, 0, "rotations"), 0);
	CU_ASSERT_EQUAL(cons_counter(11, 0, "log_lost_bytes"), 0);
	log = slurp(one, &len);
	CU_ASSERT(log && !strcmp(log, "older\n"));
	free(log);
	CU_ASSERT(access(two, F_OK) != 0);
	log = slurp(blocker, &len);
	CU_ASSERT(log && !strcmp(log, "left behind\n"));
	free(log);

	/* The way clear: the log is cut at the next try (12288), then rotates. */
	CU_ASSERT_FATAL(unlink(blocker) == 0);
	CU_ASSERT_EQUAL(pvf_cons_write(g.c, data + 10240, 2048 + 100, 5000), 2048 + 100);
	CU_ASSERT(wait_log(one, 12288));
	CU_ASSERT(wait_log(log_path("lambda", NULL), 100));
	log = slurp(log_path("lambda", NULL), &len);
	CU_ASSERT(log && len == 100 && !memcmp(log, data + 12288, len));
	free(log);
	log = slurp(one, &len);
	CU_ASSERT(log && len == 12288 && !memcmp(log, data, len));
	free(log);
	log = slurp(two, &len);
	CU_ASSERT(log && !strcmp(log, "older\n"));
	free(log);
	CU_ASSERT(access(blocker, F_OK) != 0);
	CU_ASSERT_EQUAL(cons_counter(11, 0, "rotations"), 1);
	CU_ASSERT_EQUAL(cons_counter(11, 0, "rotate_failures"), 2);
	guest_down(&g, true);
	CU_ASSERT_FATAL(blkenv_daemon_stop(&E, false) == 0);
	CU_ASSERT_FATAL(start_daemon(NULL) == 0);
}

static void test_replay(void)
{
	struct guest g;
	char buf[4096], *tty;
	int fd;

	CU_ASSERT_FATAL(guest_up(&g, 2, "delta") == 0);
	tty = wait_tty(2, 0, NULL);
	CU_ASSERT_FATAL(tty != NULL);
	/* Nobody is attached: the bytes wait in the replay buffer. */
	CU_ASSERT_EQUAL(pvf_cons_write(g.c, "boot message 1\r\n", 16, 2000), 16);
	CU_ASSERT_EQUAL(pvf_cons_write(g.c, "boot message 2\r\n", 16, 2000), 16);
	CU_ASSERT(wait_log(log_path("delta", NULL), 32));
	fd = client_open(tty);
	CU_ASSERT_FATAL(fd >= 0);
	read_until(fd, buf, sizeof(buf), "message 2\r\n", 3000);
	CU_ASSERT(strstr(buf, "boot message 1\r\nboot message 2\r\n") != NULL);
	/* Live output follows. */
	CU_ASSERT_EQUAL(pvf_cons_write(g.c, "live\r\n", 6, 2000), 6);
	read_until(fd, buf, sizeof(buf), "live", 3000);
	CU_ASSERT(strstr(buf, "live") != NULL);
	close(fd);
	free(tty);
	guest_down(&g, false);
}

static void test_rate_limit(void)
{
	static const char *const args[] = { "--rate-limit", "10/100", NULL };
	struct guest g;
	char chunk[64];
	uint64_t t0, bytes = 0;
	double rate;

	CU_ASSERT_FATAL(blkenv_daemon_stop(&E, false) == 0);
	CU_ASSERT_FATAL(start_daemon(args) == 0);
	CU_ASSERT_FATAL(guest_up(&g, 1, "epsilon") == 0);
	free(wait_tty(1, 0, NULL));
	memset(chunk, 'r', sizeof(chunk));
	/* One event per small write: at most 10 events per 100 ms get served. */
	t0 = now_ms();
	while (now_ms() - t0 < 1500) {
		ssize_t n = pvf_cons_write(g.c, chunk, sizeof(chunk), 100);

		if (n > 0)
			bytes += (uint64_t)n;
	}
	rate = (double)bytes / ((double)(now_ms() - t0) / 1000.0);
	/* 100 events/s x a 2 KiB ring, with the ring's first fill as slack. */
	CU_ASSERT(rate <= 100 * 2048 * 1.5 + 2048);
	CU_ASSERT(cons_counter(1, 0, "rate_holds") > 0);
	guest_down(&g, false);
	CU_ASSERT_FATAL(blkenv_daemon_stop(&E, false) == 0);
	CU_ASSERT_FATAL(start_daemon(NULL) == 0);
}

static void test_hostile(void)
{
	struct guest bad, good;
	struct xencons_interface *r;
	char buf[256], *tty;
	int fd;

	CU_ASSERT_FATAL(guest_up(&bad, 3, "hostile") == 0);
	CU_ASSERT_FATAL(guest_up(&good, 4, "honest") == 0);
	free(wait_tty(3, 0, NULL));
	tty = wait_tty(4, 0, NULL);
	fd = client_open(tty);
	/* Indices more than the ring apart. */
	r = pvf_cons_ring(bad.c);
	__atomic_store_n(&r->out_prod, r->out_cons + 5000, __ATOMIC_RELEASE);
	pvf_cons_notify(bad.c);
	for (int i = 0; i < 100 && !cons_flag(3, 0, "disabled"); i++)
		poll(NULL, 0, 10);
	CU_ASSERT(cons_flag(3, 0, "disabled"));
	guest_down(&bad, false);
	/* Producer running backwards. */
	CU_ASSERT_FATAL(guest_up(&bad, 3, "hostile") == 0);
	free(wait_tty(3, 0, NULL));
	CU_ASSERT_EQUAL(pvf_cons_write(bad.c, "abc", 3, 1000), 3);
	poll(NULL, 0, 100);
	r = pvf_cons_ring(bad.c);
	__atomic_store_n(&r->out_prod, r->out_prod - 2, __ATOMIC_RELEASE);
	pvf_cons_notify(bad.c);
	for (int i = 0; i < 100 && !cons_flag(3, 0, "disabled"); i++)
		poll(NULL, 0, 10);
	CU_ASSERT(cons_flag(3, 0, "disabled"));
	guest_down(&bad, false);
	/* An event storm: the port is held for a second, the console stays. */
	CU_ASSERT_FATAL(guest_up(&bad, 3, "hostile") == 0);
	free(wait_tty(3, 0, NULL));
	/*
	 * Notifications coalesce while the daemon is busy, so on a loaded
	 * machine it takes longer to see 2000 of them in a second: keep going
	 * (up to 10 s) until it has.
	 */
	for (uint64_t t0 = now_ms(); now_ms() - t0 < 10000 && !cons_counter(3, 0, "storms");)
		for (uint64_t t1 = now_ms(); now_ms() - t1 < 1500;)
			pvf_cons_notify(bad.c);
	CU_ASSERT(cons_counter(3, 0, "storms") >= 1);
	CU_ASSERT(cons_counter(3, 0, "storms") >= 3 || !cons_flag(3, 0, "disabled"));
	/* A storm that does not stop: that console goes (3 storms in 10 s). */
	for (uint64_t t0 = now_ms(); now_ms() - t0 < 20000 && !cons_flag(3, 0, "disabled");)
		for (uint64_t t1 = now_ms(); now_ms() - t1 < 500;)
			pvf_cons_notify(bad.c);
	CU_ASSERT(cons_flag(3, 0, "disabled"));
	CU_ASSERT(cons_counter(3, 0, "storms") >= 3);
	/* Meanwhile the honest guest is served. */
	CU_ASSERT_EQUAL(pvf_cons_write(good.c, "still here\r\n", 12, 2000), 12);
	read_until(fd, buf, sizeof(buf), "still here", 3000);
	CU_ASSERT(strstr(buf, "still here") != NULL);
	close(fd);
	free(tty);
	guest_down(&bad, false);
	guest_down(&good, false);
}

static void test_recreate_same_name(void)
{
	struct guest g;
	char *log;
	size_t len;

	unlink(log_path("zeta", NULL));
	CU_ASSERT_FATAL(guest_up(&g, 5, "zeta") == 0);
	free(wait_tty(5, 0, NULL));
	CU_ASSERT_EQUAL(pvf_cons_write(g.c, "first life\n", 11, 2000), 11);
	CU_ASSERT(wait_log(log_path("zeta", NULL), 11));
	guest_down(&g, true);
	/* Rebooted: a new domain, the same name, the same log. */
	CU_ASSERT_FATAL(guest_up(&g, 6, "zeta") == 0);
	free(wait_tty(6, 0, NULL));
	CU_ASSERT_EQUAL(pvf_cons_write(g.c, "second life\n", 12, 2000), 12);
	CU_ASSERT(wait_log(log_path("zeta", NULL), 23));
	log = slurp(log_path("zeta", NULL), &len);
	CU_ASSERT(log && !strcmp(log, "first life\nsecond life\n"));
	free(log);
	guest_down(&g, true);
}

static int spoil_full(const char *path)
{
	return symlink("/dev/full", path);
}

static int spoil_dir(const char *path)
{
	return mkdir(path, 0755);
}

static int mend_dir(const char *path)
{
	return rmdir(path);
}

/*
 * Guest DOMID up with its log spoiled first (SPOIL on its path), then TEXT
 * written: log_lost_bytes comes to WANT, the console still served.
 */
static void spoiled_log_counts(struct guest *g, uint32_t domid, const char *name,
			       int (*spoil)(const char *), const char *text, uint64_t want)
{
	uint64_t lost = 0;

	unlink(log_path(name, NULL));
	CU_ASSERT_FATAL(spoil(log_path(name, NULL)) == 0);
	CU_ASSERT_FATAL(guest_up(g, domid, name) == 0);
	free(wait_tty(domid, 0, NULL));
	CU_ASSERT_EQUAL(pvf_cons_write(g->c, text, strlen(text), 2000), (ssize_t)strlen(text));
	for (int i = 0; i < 300 && (lost = cons_counter(domid, 0, "log_lost_bytes")) < want; i++)
		poll(NULL, 0, 10);
	CU_ASSERT_EQUAL(lost, want);
	CU_ASSERT(!cons_flag(domid, 0, "disabled"));
}

/*
 * The log mended (MEND on its path), SIGHUP reopens it: the next line is
 * all it holds, the count stays at LOST; then the guest goes.
 */
static void mended_log_takes(struct guest *g, uint32_t domid, const char *name,
			     int (*mend)(const char *), uint64_t lost)
{
	static const char line[] = "kept line\n";
	char *log;
	size_t len = 0;

	CU_ASSERT_FATAL(mend(log_path(name, NULL)) == 0);
	CU_ASSERT_FATAL(kill(E.daemon, SIGHUP) == 0);
	poll(NULL, 0, 200);
	CU_ASSERT_EQUAL(pvf_cons_write(g->c, line, sizeof(line) - 1, 2000),
			(ssize_t)sizeof(line) - 1);
	CU_ASSERT(wait_log(log_path(name, NULL), sizeof(line) - 1));
	log = slurp(log_path(name, NULL), &len);
	CU_ASSERT(log && len == sizeof(line) - 1 && !memcmp(log, line, len));
	free(log);
	CU_ASSERT_EQUAL(cons_counter(domid, 0, "log_lost_bytes"), lost);
	guest_down(g, true);
	unlink(log_path(name, NULL));
}

/* A log the file system cannot take: counted and said, the output still served; logged again after SIGHUP. */
static void test_log_full(void)
{
	struct guest g;

	spoiled_log_counts(&g, 7, "eta", spoil_full, "lost line\n", 10);
	/* Room again: a real file in its place (unlink: the link goes), reopened on SIGHUP. */
	mended_log_takes(&g, 7, "eta", unlink, 10);
}

/* A log that cannot be opened at all (a directory in its place): counted too. */
static void test_log_unopenable(void)
{
	struct guest g;

	spoiled_log_counts(&g, 10, "kappa", spoil_dir, "unlogged\n", 9);
	mended_log_takes(&g, 10, "kappa", mend_dir, 9);
}

/* "[YYYY-mm-dd HH:MM:SS] " at the start of s? */
static bool is_stamp(const char *s)
{
	static const char pat[] = "[dddd-dd-dd dd:dd:dd] ";

	for (size_t i = 0; i < sizeof(pat) - 1; i++)
		if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pat[i])
			return false;
	return true;
}

#define STAMP_LEN 22

/*
 * Timestamps with rotation: each file at most the size, every stamp whole
 * and at the start of its line, and the lines (stamps taken out) the newest
 * of what the guest wrote, in order.  Then a log on /dev/full: the stamps
 * it could not take are counted with the lines.
 */
static void test_stamped_log(void)
{
	static const char *const args[] = {
		"--timestamps", "yes", "--rotate-size", "4096", "--rotate-keep", "2", NULL
	};
	struct guest g;
	char data[16000], all[3 * 8192 + 1], name[64], *f;
	size_t len = 0, n = 0, total = 0;

	CU_ASSERT_FATAL(blkenv_daemon_stop(&E, false) == 0);
	CU_ASSERT_FATAL(start_daemon(args) == 0);
	CU_ASSERT_FATAL(guest_up(&g, 8, "theta") == 0);
	free(wait_tty(8, 0, NULL));
	for (int i = 0; n + 64 < sizeof(data); i++)
		n += (size_t)snprintf(data + n, sizeof(data) - n, "line %04d %.*s\n", i, i % 41 + 1,
				      "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
	CU_ASSERT_EQUAL(pvf_cons_write(g.c, data, n, 5000), (ssize_t)n);
	for (int i = 0; i < 500 && cons_counter(8, 0, "rotations") < 5; i++)
		poll(NULL, 0, 10);
	poll(NULL, 0, 300);
	for (int i = 2; i >= 0; i--) {
		if (i)
			snprintf(name, sizeof(name), "%s.%d", log_path("theta", NULL), i);
		else
			snprintf(name, sizeof(name), "%s", log_path("theta", NULL));
		f = slurp(name, &len);
		CU_ASSERT_FATAL(f != NULL);
		CU_ASSERT(len <= 4096);
		len = len < 8192 ? len : 8192; /* too long already failed: no overflow */
		memcpy(all + total, f, len);
		total += len;
		free(f);
	}
	all[total] = 0;
	CU_ASSERT(total > 2 * 4096);
	{
		/* Skip to the first whole line, then take every stamp out. */
		char *p = strchr(all, '\n'), *text = malloc(total + 1);
		size_t t = 0;
		int lines = 0;

		CU_ASSERT_FATAL(p && text);
		for (p++; *p; lines++) {
			char *nl = strchr(p, '\n');

			CU_ASSERT(is_stamp(p));
			if (!is_stamp(p) || !nl)
				break;
			memcpy(text + t, p + STAMP_LEN, (size_t)(nl + 1 - p - STAMP_LEN));
			t += (size_t)(nl + 1 - p - STAMP_LEN);
			p = nl + 1;
		}
		CU_ASSERT(lines > 100);
		CU_ASSERT(t <= n && !memcmp(text, data + n - t, t));
		free(text);
	}
	guest_down(&g, false);

	/* Two lines and their two stamps, all counted. */
	spoiled_log_counts(&g, 9, "iota", spoil_full, "one\ntwo\n", 8 + 2 * STAMP_LEN);
	guest_down(&g, true);
	unlink(log_path("iota", NULL));
	CU_ASSERT_FATAL(blkenv_daemon_stop(&E, false) == 0);
	CU_ASSERT_FATAL(start_daemon(NULL) == 0);
}

static void test_restart(void)
{
	struct guest g;
	char buf[256], *tty, *tty2;
	int fd;

	CU_ASSERT_FATAL(guest_up(&g, 7, "eta") == 0);
	tty = wait_tty(7, 0, NULL);
	CU_ASSERT_EQUAL(pvf_cons_write(g.c, "before\n", 7, 2000), 7);
	CU_ASSERT(wait_log(log_path("eta", NULL), 7));
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, true), 128 + SIGKILL);
	/* Written while nobody serves the console: kept in the ring. */
	CU_ASSERT_EQUAL(pvf_cons_write(g.c, "during\n", 7, 2000), 7);
	/* The new pty may reuse the number: watch the key being written again. */
	xs_write(E.xs, XBT_NULL, "/local/domain/7/console/tty", "", 0);
	CU_ASSERT_FATAL(start_daemon(NULL) == 0);
	tty2 = wait_tty(7, 0, NULL);
	CU_ASSERT_FATAL(tty2 != NULL);
	fd = client_open(tty2);
	poll(NULL, 0, 150);
	CU_ASSERT_EQUAL(pvf_cons_write(g.c, "after\n", 6, 2000), 6);
	read_until(fd, buf, sizeof(buf), "after", 3000);
	CU_ASSERT(strstr(buf, "after") != NULL);
	{
		char *log;
		size_t len;

		CU_ASSERT(wait_log(log_path("eta", NULL), 20));
		log = slurp(log_path("eta", NULL), &len);
		CU_ASSERT(log && !strcmp(log, "before\nduring\nafter\n"));
		free(log);
	}
	close(fd);
	free(tty);
	free(tty2);
	guest_down(&g, false);
}

/* The daemon's "wait" stats: its mode, and io_uring operations made or not. */
static void wait_is(const char *want, bool ring_ops)
{
	json_object *root = blkenv_stats(&E), *w, *v;
	const char *mode = NULL;
	int64_t ops = -1;

	if (root && json_object_object_get_ex(root, "wait", &w)) {
		mode = json_object_get_string(json_object_object_get(w, "mode"));
		if (json_object_object_get_ex(w, "ring_ops", &v))
			ops = json_object_get_int64(v);
	}
	CU_ASSERT_STRING_EQUAL(mode ? mode : "(none)", want);
	CU_ASSERT(ring_ops ? ops > 0 : ops == 0);
	json_object_put(root);
}

/*
 * The wait setting: by default the daemon sleeps in its io_uring (which reads
 * the event channel); with wait epoll in epoll_wait(), serving all the same.
 */
static void test_wait_setting(void)
{
	static const char *const epoll_wait_[] = { "--wait", "epoll", NULL };
	struct guest g;
	char buf[256], *tty;
	int fd;

	for (int pass = 0; pass < 2; pass++) {
		bool epoll = pass == 1;
		uint32_t domid = epoll ? 13 : 12;

		if (epoll) {
			CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
			CU_ASSERT_FATAL(start_daemon(epoll_wait_) == 0);
		}
		CU_ASSERT_FATAL(guest_up(&g, domid, epoll ? "kappa" : "iota") == 0);
		tty = wait_tty(domid, 0, NULL);
		CU_ASSERT_FATAL(tty != NULL);
		fd = client_open(tty);
		CU_ASSERT_FATAL(fd >= 0);
		poll(NULL, 0, 150);
		CU_ASSERT_EQUAL(pvf_cons_write(g.c, "waited\n", 7, 2000), 7);
		read_until(fd, buf, sizeof(buf), "waited", 3000);
		CU_ASSERT(strstr(buf, "waited") != NULL);
		wait_is(epoll ? "epoll" : "io_uring", !epoll);
		close(fd);
		free(tty);
		guest_down(&g, true);
	}
	CU_ASSERT_EQUAL(blkenv_daemon_stop(&E, false), 0);
	CU_ASSERT_FATAL(start_daemon(NULL) == 0);
}

static void test_secondary_channel(void)
{
	struct pvhv *hv;
	struct pvf_cons *c;
	char *tty, buf[256];
	int fd;

	CU_ASSERT_FATAL(pvhv_sim_domain_create(E.hv0, 8, 4) == 0 || 1);
	CU_ASSERT_FATAL(ts_console_add(E.xs, E.schema, 8, 1, "theta", "org.pvsplit.test",
				       "xenconsoled", 0, 0) == 0);
	CU_ASSERT_FATAL(simrun_open(&E.sim, 8, &hv) == 0);
	CU_ASSERT_FATAL(pvf_cons_secondary(hv, 1, 5000, &c) == 0);
	tty = wait_tty(8, 1, NULL);
	CU_ASSERT_FATAL(tty != NULL);
	fd = client_open(tty);
	poll(NULL, 0, 150);
	CU_ASSERT_EQUAL(pvf_cons_write(c, "channel data\n", 13, 2000), 13);
	read_until(fd, buf, sizeof(buf), "channel data", 3000);
	CU_ASSERT(strstr(buf, "channel data") != NULL);
	CU_ASSERT(wait_log(log_path("theta", "-org.pvsplit.test"), 13));
	close(fd);
	free(tty);
	pvf_cons_close(c);
	pvhv_close(hv);
	ts_console_remove(E.xs, E.schema, 8, 1);
}

/*
 * Descriptors of the daemon, leaving out the eventfds the loopback
 * hypervisor hands out per event channel port (on Xen every port shares
 * the one /dev/xen/evtchn descriptor).
 */
static int count_fds(pid_t pid)
{
	char cmd[128];
	int n = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls -l /proc/%d/fd | grep -vc 'anon_inode:\\[eventfd\\]'",
		 (int)pid);
	p = popen(cmd, "r");
	if (p && fscanf(p, "%d", &n) != 1)
		n = -1;
	if (p)
		pclose(p);
	return n;
}

static void test_200_guests(void)
{
	enum { N = 200, BASE = 100 };
	static struct guest g[N];
	int base_fds = count_fds(E.daemon), fds, ok = 0;

	for (int i = 0; i < N; i++) {
		char name[32];

		snprintf(name, sizeof(name), "many-%03d", i);
		unlink(log_path(name, NULL));
		CU_ASSERT_FATAL(guest_up(&g[i], BASE + (uint32_t)i, name) == 0);
	}
	for (int i = 0; i < N; i++) {
		char line[64];
		int n = snprintf(line, sizeof(line), "guest %d says hello\n", i);

		free(wait_tty(BASE + (uint32_t)i, 0, NULL));
		CU_ASSERT(pvf_cons_write(g[i].c, line, (size_t)n, 2000) == n);
	}
	for (int i = 0; i < N; i++) {
		char name[32], want[64], *log;
		size_t len;

		snprintf(name, sizeof(name), "many-%03d", i);
		snprintf(want, sizeof(want), "guest %d says hello\n", i);
		wait_log(log_path(name, NULL), strlen(want));
		log = slurp(log_path(name, NULL), &len);
		ok += log && !strcmp(log, want);
		free(log);
	}
	CU_ASSERT_EQUAL(ok, N);
	fds = count_fds(E.daemon);
	/* The pty and the log of each console, nothing else per guest. */
	printf("\n  200 guests: daemon fds %d (before %d)\n", fds, base_fds);
	CU_ASSERT(fds - base_fds <= 2 * N);
	for (int i = 0; i < N; i++)
		guest_down(&g[i], true);
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;
	struct rlimit rl;
	int r;

	signal(SIGPIPE, SIG_IGN);
	/* 200 guests in this process: a connection and an event channel handle each. */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	E.prog = "dom0/consoled/pvsplit-consoled";
	E.ctl_opt = "--control-socket";
	r = blkenv_start(&E, 2);
	if (!r) {
		snprintf(logdir, sizeof(logdir), "%s/logs", E.sim.dir);
		mkdir(logdir, 0755);
		r = start_daemon(NULL);
	}
	if (r) {
		fprintf(stderr, "cannot start the sim and pvsplit-consoled: %s\n", strerror(-r));
		blkenv_stop(&E);
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("cons-sim", NULL, NULL);
	CU_add_test(s, "output and input through the pty", test_both_ways);
	CU_add_test(s, "the log holds exactly the output", test_log_exact);
	CU_add_test(s, "log rotation by size", test_rotation);
	CU_add_test(s, "a log that cannot be rotated", test_rotation_blocked);
	CU_add_test(s, "replay to a late client", test_replay);
	CU_add_test(s, "rate limit", test_rate_limit);
	CU_add_test(s, "hostile rings and event storms", test_hostile);
	CU_add_test(s, "guest recreated with the same name", test_recreate_same_name);
	CU_add_test(s, "a log the file system cannot take", test_log_full);
	CU_add_test(s, "a log that cannot be opened", test_log_unopenable);
	CU_add_test(s, "timestamps: rotated with their lines, counted when lost", test_stamped_log);
	CU_add_test(s, "daemon SIGKILLed and restarted", test_restart);
	CU_add_test(s, "wait io_uring (default) and wait epoll", test_wait_setting);
	CU_add_test(s, "secondary console / channel", test_secondary_channel);
	CU_add_test(s, "200 guests on one daemon", test_200_guests);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	r = blkenv_daemon_stop(&E, false);
	if (r) {
		fprintf(stderr, "pvsplit-consoled exited with %d\n", r);
		fails++;
	}
	blkenv_stop(&E);
	return fails ? 1 : 0;
}
