/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sim-tier block test environment: a pvsplit-simhv, a pvsplit-blkback
 * started from the build, a toolstack connection as dom0, and frontends run
 * in child processes acting as guests.
 */
#ifndef PVSPLIT_TEST_BLKENV_H
#define PVSPLIT_TEST_BLKENV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "blkfront.h"
#include "simrun.h"
#include "toolstack.h"

struct json_object;

struct blkenv {
	struct simrun sim;
	pid_t daemon;
	char ctl[128];
	struct pvhv *hv0;
	struct xs_handle *xs;
	struct pvs_schema *schema;
	const char *prog;    /* daemon, relative to the build dir (default pvsplit-blkback) */
	const char *ctl_opt; /* its control socket option (default --ctl) */
};

/* Start the sim (domains 0..ndoms-1) and the toolstack connection.  0 or -errno. */
int blkenv_start(struct blkenv *e, int ndoms);
/* Start (or restart) the daemon with extra arguments (NULL-terminated).  0 or -errno. */
int blkenv_daemon_start(struct blkenv *e, const char *const *args);
/* SIGTERM (or SIGKILL) the daemon and wait: its exit status. */
int blkenv_daemon_stop(struct blkenv *e, bool kill9);
void blkenv_stop(struct blkenv *e);

/* The daemon's stats (pvsplit stats), or NULL. */
struct json_object *blkenv_stats(struct blkenv *e);
/* One device's stats object inside them (borrowed from root), or NULL. */
struct json_object *blkenv_dev_stats(struct json_object *root, uint32_t domid, uint32_t devid);

/* Create a file of size bytes filled with zeros.  0 or -errno. */
int blkenv_make_file(const char *path, uint64_t size);

/*
 * Run fn in a child process acting as domid with a connected pvf_blk for
 * devid.  Returns fn's return value (0 = pass), or a negative open error,
 * or 128+signal.
 */
typedef int (*blkenv_fn)(struct pvf_blk *b, void *arg);
int blkenv_run_frontend(struct blkenv *e, uint32_t domid, const struct pvf_blk_opts *o,
			blkenv_fn fn, void *arg);

/*
 * A child process the test steps with while it runs, such as a frontend kept
 * connected while the test looks at the daemon or acts on it: the child says
 * it is ready (blkenv_child_ready) and waits to be told to go on
 * (blkenv_child_wait_go); the test waits for the first
 * (blkenv_child_wait_ready), does the second (blkenv_child_go), and waits for
 * the child (blkenv_child_wait).  Each side closes the pipe ends it does not
 * use at fork, so either sees the other's death as end of file, and the pipes
 * are close-on-exec: daemons started meanwhile do not hold them.
 */
struct blkenv_child {
	pid_t pid;
	int ready[2]; /* child -> test */
	int go[2];    /* test -> child */
	int status;   /* once waited for */
};

/* fork() with the pipes: 0 in the child, its pid in the test, or -errno. */
pid_t blkenv_child_fork(struct blkenv_child *c);
/*
 * blkenv_run_frontend's frontend in such a child, without waiting for it: its
 * pid, or -errno.  fn reaches c through arg.
 */
pid_t blkenv_fork_frontend(struct blkenv *e, struct blkenv_child *c, uint32_t domid,
			   const struct pvf_blk_opts *o, blkenv_fn fn, void *arg);
/* In the child: 0, or -1 (the test went away). */
int blkenv_child_ready(struct blkenv_child *c);
int blkenv_child_wait_go(struct blkenv_child *c);
/*
 * In the test: 0, or -1 if the child ended first (then it is waited for, its
 * exit status printed and kept for blkenv_child_wait).
 */
int blkenv_child_wait_ready(struct blkenv_child *c);
/* In the test: 0, or -1 (the child went away). */
int blkenv_child_go(struct blkenv_child *c);
/* Either side: close the pipe ends this process still holds. */
void blkenv_child_close(struct blkenv_child *c);
/*
 * In the test: close its pipe ends and wait for the child.  Its exit status
 * (as blkenv_run_frontend's for a frontend), 128+signal, or -1.
 */
int blkenv_child_wait(struct blkenv_child *c);

/* Deterministic test data. */
void blkenv_pattern(uint8_t *buf, size_t len, uint64_t seed);

#endif
