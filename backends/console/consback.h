/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The console device type for libpvsplit-back (pvsplit-consoled). */
#ifndef PVSPLIT_CONSBACK_H
#define PVSPLIT_CONSBACK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/backend.h"

struct consd_config {
	char log_dir[256];	 /* guest-<name>[-<channel>].log; "": no logs */
	char ctl[256];		 /* control socket ("": the daemon's default) */
	bool timestamps;	 /* a timestamp at the start of each logged line */
	uint64_t rotate_size;	 /* bytes; 0: never rotate */
	unsigned rotate_keep;	 /* rotated files kept */
	uint32_t replay;	 /* bytes replayed to a late client */
	uint32_t rate_events;	 /* rate limit: events... */
	uint32_t rate_ms;	 /* ...per period; 0: no limit */
	uint32_t default_limit;	 /* buffer cap when console/limit is absent */
	bool serve_ioemu;	 /* also consoles whose type is ioemu (no QEMU serves them) */
	enum pvb_wait_mode wait; /* where the daemon's loop sleeps (pvb_loop_set_wait()) */
};

void consd_config_default(struct consd_config *c);
/*
 * Apply one "key = value" setting (the config file's and the command line's
 * syntax: log-dir, timestamps, rotate-size, rotate-keep, replay, rate-limit,
 * buffer-limit, serve-ioemu, control-socket, wait).  0, or -EINVAL with a reason
 * in why.
 */
int consd_config_set(struct consd_config *c, const char *key, const char *value, char *why,
		     size_t whylen);
/*
 * Parse a configuration file's text (lines "key = value", '#' comments).
 * 0, or -EINVAL with "line N: reason" in why.
 */
int consd_config_parse(struct consd_config *c, const char *text, size_t len, char *why,
		       size_t whylen);

/* The daemon-wide state: the backend config's opaque. */
struct consd;
int consd_new(const struct consd_config *cfg, struct pvb_loop *loop, struct consd **out);
void consd_free(struct consd *cd);
/* Reopen every log (SIGHUP). */
void consd_reopen_logs(struct consd *cd);

extern const struct pvb_backend_ops console_ops;

#endif
