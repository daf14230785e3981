// SPDX-License-Identifier: LGPL-2.1-or-later
/* pvsplit-consoled's configuration: one parser for the file and the command line. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consback.h"

static int why_(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why_(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A size with an optional K, M or G suffix (powers of 1024). */
static int parse_size(const char *v, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'K':
	case 'k':
		x <<= 10, end++;
		break;
	case 'M':
	case 'm':
		x <<= 20, end++;
		break;
	case 'G':
	case 'g':
		x <<= 30, end++;
		break;
	}
	if (*end || x > max)
		return -EINVAL;
	*out = x;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "on"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "off"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

int consd_config_set(struct consd_config *c, const char *key, const char *v, char *why, size_t wl)
{
	uint64_t x;

	if (!strcmp(key, "log-dir")) {
		if (!strcmp(v, "none")) {
			c->log_dir[0] = 0;
			return 0;
		}
		if (v[0] != '/' || strlen(v) >= sizeof(c->log_dir))
			return why_(why, wl, "log-dir %s: expected an absolute path or none", v);
		snprintf(c->log_dir, sizeof(c->log_dir), "%s", v);
	} else if (!strcmp(key, "control-socket")) {
		if (v[0] != '/' || strlen(v) >= 108)
			return why_(why, wl, "control-socket %s: expected an absolute path", v);
		snprintf(c->ctl, sizeof(c->ctl), "%s", v);
	} else if (!strcmp(key, "timestamps")) {
		if (parse_bool(v, &c->timestamps))
			return why_(why, wl, "timestamps %s: expected yes or no", v);
	} else if (!strcmp(key, "serve-ioemu")) {
		if (parse_bool(v, &c->serve_ioemu))
			return why_(why, wl, "serve-ioemu %s: expected yes or no", v);
	} else if (!strcmp(key, "rotate-size")) {
		if (parse_size(v, 1ull << 40, &x) || (x && x < 4096))
			return why_(why, wl, "rotate-size %s: expected 0 (never) or 4K and more",
				    v);
		c->rotate_size = x;
	} else if (!strcmp(key, "rotate-keep")) {
		if (parse_size(v, 1000, &x))
			return why_(why, wl, "rotate-keep %s: expected 0 to 1000", v);
		c->rotate_keep = (unsigned)x;
	} else if (!strcmp(key, "replay")) {
		if (parse_size(v, 64ull << 20, &x))
			return why_(why, wl, "replay %s: expected a size up to 64M", v);
		c->replay = (uint32_t)x;
	} else if (!strcmp(key, "buffer-limit")) {
		if (parse_size(v, 1ull << 30, &x) || x < 4096)
			return why_(why, wl, "buffer-limit %s: expected a size from 4K to 1G", v);
		c->default_limit = (uint32_t)x;
	} else if (!strcmp(key, "wait")) {
		if (!strcmp(v, "io_uring"))
			c->wait = PVB_WAIT_URING;
		else if (!strcmp(v, "epoll"))
			c->wait = PVB_WAIT_EPOLL;
		else
			return why_(why, wl, "wait %s: expected io_uring or epoll", v);
	} else if (!strcmp(key, "rate-limit")) {
		unsigned long ev, ms;
		char tail;

		if (!strcmp(v, "off")) {
			c->rate_events = c->rate_ms = 0;
			return 0;
		}
		if (sscanf(v, "%lu/%lu%c", &ev, &ms, &tail) != 2 || !ev || !ms || ev > 1000000 ||
		    ms > 60000)
			return why_(why, wl,
				    "rate-limit %s: expected off or EVENTS/MS (e.g. 30/200)", v);
		c->rate_events = (uint32_t)ev;
		c->rate_ms = (uint32_t)ms;
	} else {
		return why_(why, wl, "unknown setting %s", key);
	}
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

int consd_config_parse(struct consd_config *c, const char *text, size_t len, char *why, size_t wl)
{
	char *copy = malloc(len + 1), *line, *next;
	unsigned n = 0;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = 0;
	if (memchr(copy, 0, len)) {
		free(copy);
		return why_(why, wl, "%snot a text file (a NUL byte)", "");
	}
	for (line = copy; line && !r; line = next) {
		char *nl = strchr(line, '\n'), *hash, *eq, *k, *v, msg[256];

		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = 0;
		n++;
		hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		k = trim(line);
		if (!*k)
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			snprintf(msg, sizeof(msg), "line %u: expected key = value", n);
			r = why_(why, wl, "%s", msg);
			break;
		}
		*eq = 0;
		v = trim(eq + 1);
		k = trim(k);
		r = consd_config_set(c, k, v, msg, sizeof(msg));
		if (r && why && wl)
			snprintf(why, wl, "line %u: %s", n, msg);
	}
	free(copy);
	return r;
}
