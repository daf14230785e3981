// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pvsplit stats: ask every running pvsplit daemon for its counters (the
 * "stats" command of its control socket) and print a table, or the JSON.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "commands.h"

#define MAX_SOCKETS 32

static json_object *ask(const char *path, const char *cmd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	json_object *o = NULL;
	ssize_t n;
	int fd;

	if (!buf || strlen(path) >= sizeof(sa.sun_path)) {
		free(buf);
		return NULL;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd)) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return NULL;
	}
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap) {
			char *b = realloc(buf, cap * 2);

			if (!b)
				break;
			buf = b;
			cap *= 2;
		}
	}
	close(fd);
	buf[len] = 0;
	o = json_tokener_parse(buf);
	free(buf);
	return o;
}

/* *.sock in dir. */
static void find_sockets(const char *dir, char **out, int *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d)) && *n < MAX_SOCKETS) {
		size_t l = strlen(e->d_name);

		if (l > 5 && !strcmp(e->d_name + l - 5, ".sock") &&
		    strcmp(e->d_name, "xenstored.sock") && strcmp(e->d_name, "hv.sock")) {
			char *p = malloc(strlen(dir) + l + 2);

			if (!p)
				break;
			sprintf(p, "%s/%s", dir, e->d_name);
			out[(*n)++] = p;
		}
	}
	if (d)
		closedir(d);
}

static int64_t get(json_object *o, const char *a, const char *b)
{
	json_object *x;

	if (!json_object_object_get_ex(o, a, &x))
		return 0;
	if (b && !json_object_object_get_ex(x, b, &x))
		return 0;
	return json_object_get_int64(x);
}

static int64_t sum_errors(json_object *q)
{
	json_object *e;
	int64_t s = 0;

	if (!json_object_object_get_ex(q, "errors", &e))
		return 0;
	json_object_object_foreach(e, k, v)
	{
		(void)k;
		s += json_object_get_int64(v);
	}
	return s;
}

static void print_table(json_object *daemon)
{
	json_object *bes, *v;

	printf("%s (pid %d)\n",
	       json_object_object_get_ex(daemon, "daemon", &v) ? json_object_get_string(v) : "?",
	       (int)get(daemon, "pid", NULL));
	if (json_object_object_get_ex(daemon, "polling", &v)) {
		const char *mode = json_object_get_string(json_object_object_get(v, "mode"));
		json_object *held = json_object_object_get(v, "held");

		if (!mode)
			mode = "off";
		if (!strcmp(mode, "adaptive"))
			printf("  polling: adaptive, window %lld of at most %lld us (grown %lld, "
			       "shrunk %lld times; CPU taken away in %lld windows%s)\n",
			       (long long)get(v, "window_us", NULL),
			       (long long)get(v, "max_us", NULL), (long long)get(v, "grows", NULL),
			       (long long)get(v, "shrinks", NULL),
			       (long long)get(v, "preempts", NULL),
			       held && json_object_get_boolean(held) ? ", holding off now" : "");
		else if (strcmp(mode, "off"))
			printf("  polling: %lld us after each burst (CPU taken away in %lld "
			       "windows)\n",
			       (long long)get(v, "max_us", NULL),
			       (long long)get(v, "preempts", NULL));
		else
			printf("  polling: off\n");
	}
	if (!json_object_object_get_ex(daemon, "backends", &bes))
		return;
	bool mappings_shown = false;

	for (size_t i = 0; i < json_object_array_length(bes); i++) {
		json_object *be = json_object_array_get_idx(bes, i), *devs, *t;

		if (!json_object_object_get_ex(be, "devices", &devs))
			continue;
		json_object_object_get_ex(be, "type", &t);
		if (!json_object_array_length(devs))
			printf("  no %s device\n", json_object_get_string(t));
		for (size_t k = 0; k < json_object_array_length(devs); k++) {
			json_object *d = json_object_array_get_idx(devs, k), *qs, *st;

			json_object_object_get_ex(d, "state", &st);
			printf("  dom%d %s %d: %s\n", (int)get(d, "domid", NULL),
			       json_object_get_string(t), (int)get(d, "devid", NULL),
			       json_object_get_string(st));
			if (json_object_object_get_ex(d, "tty", &qs)) {
				json_object *name = NULL, *att = NULL, *dis = NULL;

				json_object_object_get_ex(d, "name", &name);
				json_object_object_get_ex(d, "attached", &att);
				json_object_object_get_ex(d, "disabled", &dis);
				printf("    %s on %s%s%s: out %lld B, in %lld B, events %lld, "
				       "dropped %lld, "
				       "storms %lld, rate holds %lld\n",
				       name ? json_object_get_string(name) : "?",
				       json_object_get_string(qs),
				       att && json_object_get_boolean(att) ? " (client attached)"
									   : "",
				       dis && json_object_get_boolean(dis) ? " DISABLED" : "",
				       (long long)get(d, "bytes_out", NULL),
				       (long long)get(d, "bytes_in", NULL),
				       (long long)get(d, "events", NULL),
				       (long long)get(d, "dropped", NULL),
				       (long long)get(d, "storms", NULL),
				       (long long)get(d, "rate_holds", NULL));
			}
			if (!mappings_shown &&
			    json_object_object_get_ex(d, "daemon_mappings", NULL)) {
				/* The daemon's, the same in each device: shown once. */
				mappings_shown = true;
				printf("    grant mappings (the daemon's): %lld now, peak %lld, "
				       "limit "
				       "%lld%s\n",
				       (long long)get(d, "daemon_mappings", "now"),
				       (long long)get(d, "daemon_mappings", "peak"),
				       (long long)get(d, "daemon_mappings", "limit"),
				       get(d, "daemon_mappings", "limit") ? "" : " (none)");
			}
			if (!json_object_object_get_ex(d, "queues", &qs))
				continue;
			printf("    %-5s %10s %10s %8s %8s %7s %6s %9s %9s %8s %10s\n", "queue",
			       "reads", "writes", "flushes", "discards", "errors", "inflt",
			       "gnt-cache", "gnt-copied", "evt-sent", "evt-supprd");
			for (size_t qi = 0; qi < json_object_array_length(qs); qi++) {
				json_object *q = json_object_array_get_idx(qs, qi);

				printf("    %-5d %10lld %10lld %8lld %8lld %7lld %6lld %9lld %9lld "
				       "%8lld %10lld\n",
				       (int)qi, (long long)get(q, "requests", "read"),
				       (long long)get(q, "requests", "write"),
				       (long long)get(q, "requests", "flush"),
				       (long long)get(q, "requests", "discard"),
				       (long long)sum_errors(q),
				       (long long)get(q, "in_flight", NULL),
				       (long long)get(q, "grants", "mapped"),
				       (long long)get(q, "grants", "copied"),
				       (long long)get(q, "notifications", "sent"),
				       (long long)get(q, "notifications", "suppressed"));
			}
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: pvsplit stats [--json] [--socket PATH]...\n\n"
		   "Counters of the running pvsplit daemons: every control socket in\n"
		   "/run/pvsplit (and $PVSPLIT_SIM_DIR on the loopback hypervisor), or the\n"
		   "sockets named.\n\n"
		   "  --json         print a JSON array, one object per daemon\n"
		   "  --socket PATH  ask this control socket (repeatable)\n");
}

int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *socks[MAX_SOCKETS];
	int nsock = 0, c, bad = 0;
	bool json = false;
	json_object *all;

	optind = 1;
	while ((c = getopt_long(argc, argv, "js:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 's':
			if (nsock < MAX_SOCKETS)
				socks[nsock++] = strdup(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!nsock) {
		const char *sim = getenv("PVSPLIT_SIM_DIR");

		find_sockets("/run/pvsplit", socks, &nsock);
		if (sim)
			find_sockets(sim, socks, &nsock);
	}
	if (!nsock) {
		fprintf(stderr, "pvsplit stats: no pvsplit daemon control socket found\n");
		return 1;
	}
	all = json_object_new_array();
	for (int i = 0; i < nsock; i++) {
		json_object *o = ask(socks[i], "stats\n");

		if (!o) {
			fprintf(stderr, "pvsplit stats: %s: no answer (%s)\n", socks[i],
				errno ? strerror(errno) : "bad reply");
			bad++;
		} else {
			json_object_array_add(all, o);
		}
		free(socks[i]);
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(all, JSON_C_TO_STRING_PRETTY));
	} else {
		for (size_t i = 0; i < json_object_array_length(all); i++)
			print_table(json_object_array_get_idx(all, i));
	}
	json_object_put(all);
	return bad ? 1 : 0;
}
