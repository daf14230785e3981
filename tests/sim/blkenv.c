// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>
#include <xenstore.h>

#include "pvsplit/schema.h"

#include "blkenv.h"

int blkenv_start(struct blkenv *e, int ndoms)
{
	char doms[64] = "0", *err = NULL;
	const char *prog = e->prog, *ctl_opt = e->ctl_opt;
	int r;

	memset(e, 0, sizeof(*e));
	e->prog = prog;
	e->ctl_opt = ctl_opt;
	for (int i = 1; i < ndoms; i++)
		snprintf(doms + strlen(doms), sizeof(doms) - strlen(doms), ",%d", i);
	r = simrun_start(&e->sim, doms, 128);
	if (r)
		return r;
	snprintf(e->ctl, sizeof(e->ctl), "%s/daemon.sock", e->sim.dir);
	r = pvs_schema_load(&e->schema, NULL, &err);
	free(err);
	if (!r)
		r = simrun_open(&e->sim, 0, &e->hv0);
	if (!r)
		r = pvhv_xs_open(e->hv0, &e->xs);
	return r;
}

int blkenv_daemon_start(struct blkenv *e, const char *const *args)
{
	char bin[4096];
	const char *b = getenv("PVSPLIT_BUILDDIR");
	const char *argv[24];
	int n = 0;

	snprintf(bin, sizeof(bin), "%s/%s", b ? b : ".",
		 e->prog ? e->prog : "dom0/blkback/pvsplit-blkback");
	argv[n++] = strrchr(bin, '/') + 1;
	argv[n++] = e->ctl_opt ? e->ctl_opt : "--ctl";
	argv[n++] = e->ctl;
	for (int i = 0; args && args[i] && n < 22; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	unlink(e->ctl);
	e->daemon = fork();
	if (e->daemon < 0)
		return -errno;
	if (e->daemon == 0) {
		setenv("PVSPLIT_DOMID", "0", 1);
		if (!getenv("PVSPLIT_TEST_VERBOSE")) {
			int fd = open("/dev/null", O_WRONLY);

			dup2(fd, 2);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	/* Ready when the control socket answers. */
	for (int i = 0; i < 1000; i++) {
		struct json_object *o = blkenv_stats(e);

		if (o) {
			json_object_put(o);
			return 0;
		}
		if (waitpid(e->daemon, NULL, WNOHANG) == e->daemon)
			return -ECHILD;
		poll(NULL, 0, 10);
	}
	return -ETIMEDOUT;
}

int blkenv_daemon_stop(struct blkenv *e, bool kill9)
{
	int st;

	if (e->daemon <= 0)
		return -1;
	kill(e->daemon, kill9 ? SIGKILL : SIGTERM);
	st = simrun_wait(e->daemon);
	e->daemon = 0;
	return st;
}

void blkenv_stop(struct blkenv *e)
{
	if (e->daemon > 0)
		blkenv_daemon_stop(e, false);
	if (e->xs)
		xs_close(e->xs);
	pvhv_close(e->hv0);
	pvs_schema_free(e->schema);
	simrun_stop(&e->sim);
}

struct json_object *blkenv_stats(struct blkenv *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[1 << 20];
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct json_object *o;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", e->ctl);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, "stats\n", 6) != 6) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = 0;
	o = json_tokener_parse(buf);
	return o;
}

struct json_object *blkenv_dev_stats(struct json_object *root, uint32_t domid, uint32_t devid)
{
	struct json_object *bes, *be, *devs;

	if (!root || !json_object_object_get_ex(root, "backends", &bes))
		return NULL;
	be = json_object_array_get_idx(bes, 0);
	if (!be || !json_object_object_get_ex(be, "devices", &devs))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		struct json_object *d = json_object_array_get_idx(devs, i), *v;

		if (json_object_object_get_ex(d, "domid", &v) &&
		    (uint32_t)json_object_get_int(v) == domid &&
		    json_object_object_get_ex(d, "devid", &v) &&
		    (uint32_t)json_object_get_int(v) == devid)
			return d;
	}
	return NULL;
}

int blkenv_make_file(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size))
		r = -errno;
	close(fd);
	return r;
}

/* The frontend's process: fn on a connected device, then exit with its verdict. */
static _Noreturn void frontend_main(struct blkenv *e, struct blkenv_child *c, uint32_t domid,
				    const struct pvf_blk_opts *o, blkenv_fn fn, void *arg)
{
	struct pvhv *hv;
	struct pvf_blk *b;
	int r = simrun_open(&e->sim, (int)domid, &hv);

	if (!r)
		r = pvf_blk_open(hv, o, &b);
	if (r) {
		fprintf(stderr, "frontend dom%u vbd %u: open: %s\n", domid, o->devid, strerror(-r));
		r = 100;
	} else {
		r = fn(b, arg);
		r = r ? (r < 0 ? 101 : r) : 0;
		pvf_blk_close(b);
		pvhv_close(hv);
	}
	if (c)
		blkenv_child_close(c);
	_exit(r);
}

int blkenv_run_frontend(struct blkenv *e, uint32_t domid, const struct pvf_blk_opts *o,
			blkenv_fn fn, void *arg)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		frontend_main(e, NULL, domid, o, fn, arg);
	return simrun_wait(pid);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void blkenv_child_close(struct blkenv_child *c)
{
	close_fd(&c->ready[0]);
	close_fd(&c->ready[1]);
	close_fd(&c->go[0]);
	close_fd(&c->go[1]);
}

pid_t blkenv_child_fork(struct blkenv_child *c)
{
	int r;

	c->pid = -1;
	c->status = -1;
	c->ready[0] = c->ready[1] = c->go[0] = c->go[1] = -1;
	if (pipe2(c->ready, O_CLOEXEC) || pipe2(c->go, O_CLOEXEC) || (c->pid = fork()) < 0) {
		r = -errno;
		blkenv_child_close(c);
		return r;
	}
	if (c->pid == 0) {
		close_fd(&c->ready[0]);
		close_fd(&c->go[1]);
	} else {
		close_fd(&c->ready[1]);
		close_fd(&c->go[0]);
	}
	return c->pid;
}

pid_t blkenv_fork_frontend(struct blkenv *e, struct blkenv_child *c, uint32_t domid,
			   const struct pvf_blk_opts *o, blkenv_fn fn, void *arg)
{
	pid_t pid = blkenv_child_fork(c);

	if (pid == 0)
		frontend_main(e, c, domid, o, fn, arg);
	return pid;
}

static int read1(int fd)
{
	ssize_t n;
	char ch;

	do
		n = read(fd, &ch, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

static int write1(int fd, char ch)
{
	ssize_t n;

	do
		n = write(fd, &ch, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

int blkenv_child_ready(struct blkenv_child *c)
{
	return write1(c->ready[1], 'r');
}

int blkenv_child_wait_go(struct blkenv_child *c)
{
	return read1(c->go[0]);
}

int blkenv_child_wait_ready(struct blkenv_child *c)
{
	pid_t pid = c->pid;

	if (!read1(c->ready[0]))
		return 0;
	fprintf(stderr, "child %d ended before it was ready: %d\n", (int)pid, blkenv_child_wait(c));
	return -1;
}

int blkenv_child_go(struct blkenv_child *c)
{
	return write1(c->go[1], 'g');
}

int blkenv_child_wait(struct blkenv_child *c)
{
	blkenv_child_close(c);
	if (c->pid > 0) {
		c->status = simrun_wait(c->pid);
		c->pid = -1;
	}
	return c->status;
}

void blkenv_pattern(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
}
