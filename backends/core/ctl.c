// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"

#define MAX_CMDS 16

struct client {
	struct pvb_ctl *c;
	int fd;
	struct pvb_watch *w;
	char buf[256];
	size_t len;
};

struct pvb_ctl {
	struct pvb_loop *loop;
	int fd;
	struct pvb_watch *w;
	char path[108];
	struct {
		const char *name;
		pvb_ctl_fn fn;
		void *opaque;
	} cmds[MAX_CMDS];
	int ncmds;
};

static void client_close(struct client *cl)
{
	pvb_watch_del(cl->w);
	close(cl->fd);
	free(cl);
}

static void reply(struct client *cl, json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = send(cl->fd, s + off, len - off, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		off += (size_t)n;
	}
	send(cl->fd, "\n", 1, MSG_NOSIGNAL);
}

static void dispatch(struct client *cl)
{
	struct pvb_ctl *c = cl->c;
	char *args = cl->buf + strcspn(cl->buf, " \t");
	json_object *o = NULL;

	if (*args)
		*args++ = 0;
	for (int i = 0; i < c->ncmds; i++)
		if (!strcmp(cl->buf, c->cmds[i].name))
			o = c->cmds[i].fn(c->cmds[i].opaque, args);
	if (!o) {
		o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string("unknown command"));
	}
	reply(cl, o);
	json_object_put(o);
}

static void client_in(void *opaque, uint32_t events)
{
	struct client *cl = opaque;
	ssize_t n = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - 1 - cl->len, MSG_DONTWAIT);
	char *nl;

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0 && !cl->len) {
		client_close(cl);
		return;
	}
	if (n > 0)
		cl->len += (size_t)n;
	cl->buf[cl->len] = 0;
	nl = strchr(cl->buf, '\n');
	if (!nl && n > 0 && cl->len < sizeof(cl->buf) - 1)
		return; /* wait for the rest of the line */
	if (nl)
		*nl = 0;
	dispatch(cl);
	client_close(cl);
}

static void accept_in(void *opaque, uint32_t events)
{
	struct pvb_ctl *c = opaque;
	struct timeval tv = { .tv_sec = 2 };
	struct client *cl;
	int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	/* Replies are written blocking, but never for long. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	cl = calloc(1, sizeof(*cl));
	if (!cl || pvb_watch_add(c->loop, fd, EPOLLIN, client_in, cl, &cl->w)) {
		free(cl);
		close(fd);
		return;
	}
	cl->c = c;
	cl->fd = fd;
}

int pvb_ctl_new(struct pvb_loop *loop, const char *path, struct pvb_ctl **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pvb_ctl *c;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->loop = loop;
	snprintf(c->path, sizeof(c->path), "%s", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(c->fd, 16)) {
		r = -errno;
		goto fail;
	}
	r = pvb_watch_add(loop, c->fd, EPOLLIN, accept_in, c, &c->w);
	if (r)
		goto fail;
	*out = c;
	return 0;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return r;
}

int pvb_ctl_add(struct pvb_ctl *c, const char *cmd, pvb_ctl_fn fn, void *opaque)
{
	if (c->ncmds == MAX_CMDS)
		return -ENOSPC;
	c->cmds[c->ncmds].name = cmd;
	c->cmds[c->ncmds].fn = fn;
	c->cmds[c->ncmds].opaque = opaque;
	c->ncmds++;
	return 0;
}

void pvb_ctl_free(struct pvb_ctl *c)
{
	if (!c)
		return;
	pvb_watch_del(c->w);
	close(c->fd);
	unlink(c->path);
	free(c);
}
