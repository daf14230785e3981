/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pvb_ctl: a daemon's control socket.  A client connects, writes one line
 * (a command and arguments), reads one JSON document back, and the
 * connection closes.  Commands are a table the daemon fills
 * (pvsplit stats uses "stats").  Returns -errno.
 */
#ifndef PVSPLIT_BACK_CTL_H
#define PVSPLIT_BACK_CTL_H

#include "loop.h"

struct json_object;
struct pvb_ctl;

/* Build the reply (a new reference) to a command with its arguments. */
typedef struct json_object *(*pvb_ctl_fn)(void *opaque, const char *args);

/* Listen on path (replacing a stale socket).  0 or -errno. */
int pvb_ctl_new(struct pvb_loop *loop, const char *path, struct pvb_ctl **out);
int pvb_ctl_add(struct pvb_ctl *c, const char *cmd, pvb_ctl_fn fn, void *opaque);
/* Close and unlink the socket. */
void pvb_ctl_free(struct pvb_ctl *c);

#endif
