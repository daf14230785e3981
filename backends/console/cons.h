/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One console's dataplane: the xencons ring of a guest (xen/io/console.h)
 * joined to a pty, a log file and a replay buffer.  It never touches
 * xenstore: consback.c reads the keys and hands over plain values.
 *
 * Guest output goes to the log (optionally with a timestamp per line,
 * rotated by size), to a replay buffer (the last bytes, written to a client
 * that attaches late) and to the pty while a client has it open; what the
 * pty cannot take at once waits in a buffer capped at the console's limit,
 * dropping the oldest bytes.  What a client types goes to the guest's input
 * ring.  A ring whose indices cannot be right disables this console only.
 * One file descriptor per console (the pty master) besides its log.
 */
#ifndef PVSPLIT_CONS_H
#define PVSPLIT_CONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvsplit/hv.h"

#include "core/evtchn.h"
#include "core/loop.h"

struct json_object;
struct cons;

struct cons_params {
	uint32_t domid;
	bool primary;	      /* the domain builder's console: reserved grant, else foreign map */
	uint32_t ring_ref;    /* primary: the frame; secondary: a grant ref */
	uint32_t port;	      /* the guest's event channel port */
	size_t limit;	      /* cap on buffered output (0: 1 MiB) */
	const char *log_path; /* NULL: no log */
	bool timestamps;
	uint64_t rotate_size; /* rotate the log at this size (0: never) */
	unsigned rotate_keep; /* rotated files kept */
	size_t replay;	      /* bytes replayed to a late client (0: none) */
	uint32_t rate_events; /* at most this many events... */
	uint32_t rate_ms;     /* ...per this period (0: no limit) */
};

struct cons_hooks {
	void *opaque;
	void (*log)(void *opaque, int level, const char *msg);
};

/* Map the ring, bind the port, make the pty.  0 or -errno. */
int cons_start(const struct cons_params *p, struct pvhv *hv, struct pvb_loop *loop,
	       struct pvb_evtchn *ev, const struct cons_hooks *hooks, struct cons **out);
void cons_stop(struct cons *c);
/* The pty a client opens (/dev/pts/N). */
const char *cons_tty(const struct cons *c);
/* Reopen the log (SIGHUP, after an external rotation). */
void cons_reopen_log(struct cons *c);
/* Every few tens of milliseconds: notice a client attaching, end rate-limit holds. */
void cons_tick(struct cons *c, uint64_t now_ms);
void cons_stats(struct cons *c, struct json_object *o);
bool cons_disabled(const struct cons *c);

#endif
