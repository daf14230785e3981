// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "simrun.h"

static int executable(const char *p)
{
	return access(p, X_OK) == 0;
}

const char *simrun_binary(char *buf, size_t len)
{
	static const char *const rel[] = {
		"../../hypercalls/sim/pvsplit-simhv",	 /* build tree: tools/x/prog */
		"../../../hypercalls/sim/pvsplit-simhv", /* build tree: tools/x/.libs/prog */
		"../hypercalls/sim/pvsplit-simhv",
		"../sbin/pvsplit-simhv", /* installed: bin/prog */
	};
	const char *e = getenv("PVSPLIT_SIMHV");
	char exe[PATH_MAX];
	ssize_t n;

	if (e && executable(e)) {
		snprintf(buf, len, "%s", e);
		return buf;
	}
	e = getenv("PVSPLIT_BUILDDIR");
	if (e) {
		snprintf(buf, len, "%s/hypercalls/sim/pvsplit-simhv", e);
		if (executable(buf))
			return buf;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
				snprintf(buf, len, "%s/%s", exe, rel[i]);
				if (executable(buf))
					return buf;
			}
		}
	}
	e = getenv("PATH");
	if (e) {
		char path[4096], *save = NULL;

		snprintf(path, sizeof(path), "%s:/usr/sbin:/usr/local/sbin", e);
		for (char *d = strtok_r(path, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			snprintf(buf, len, "%s/pvsplit-simhv", d);
			if (executable(buf))
				return buf;
		}
	}
	return NULL;
}

int simrun_start(struct simrun *r, const char *domains, unsigned mem_mib)
{
	char bin[PATH_MAX], line[512], mem[16];
	int pfd[2];
	FILE *f;

	if (!simrun_binary(bin, sizeof(bin)))
		return -ENOENT;
	snprintf(r->dir, sizeof(r->dir), "/tmp/pvsplit-sim.XXXXXX");
	if (!mkdtemp(r->dir))
		return -errno;
	snprintf(mem, sizeof(mem), "%u", mem_mib ? mem_mib : 64);
	if (pipe(pfd))
		return -errno;
	r->daemon = fork();
	if (r->daemon < 0)
		return -errno;
	if (r->daemon == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(bin, "pvsplit-simhv", "--dir", r->dir, "--domains", domains, "--mem", mem,
		      (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	if (!f || !fgets(line, sizeof(line), f) || !strstr(line, "ready")) {
		if (f)
			fclose(f);
		kill(r->daemon, SIGKILL);
		simrun_wait(r->daemon);
		rmdir(r->dir);
		return -EIO;
	}
	fclose(f);
	setenv("PVSPLIT_SIM_DIR", r->dir, 1);
	setenv("PVSPLIT_HV", "sim", 1);
	return 0;
}

int simrun_wait(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

int simrun_stop(struct simrun *r)
{
	char cmd[128];
	int st;

	kill(r->daemon, SIGTERM);
	st = simrun_wait(r->daemon);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
	if (system(cmd) != 0)
		return -1;
	return st;
}

int simrun_open(struct simrun *r, int domid, struct pvhv **out)
{
	struct pvhv_open_args a = { .provider = "sim", .sim_dir = r->dir, .domid = domid };

	return pvhv_open(out, &a);
}
