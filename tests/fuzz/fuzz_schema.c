/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for libpvsplit-schema.  The first input byte picks what
 * the rest is:
 *   0  the text of a schema file (pvs_schema_add_buffer);
 *   1  "<type>\0<side>\0<key>\0<value>": key lookup, value check, key path;
 *   2  a path: pvs_schema_parse_path / pvs_schema_path_is_ancestor;
 *   3  a xenstore tree, one "path=value" per line, checked from "/".
 * Modes 1-3 use the real schema ($PVSPLIT_SCHEMA_DIR, else the source tree's).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvsplit/schema.h"

#ifndef PVS_FUZZ_SCHEMA_DIR
#define PVS_FUZZ_SCHEMA_DIR "xenstore-schema/data"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pvs_schema *real_schema(void)
{
	static struct pvs_schema *s;
	const char *dir = getenv(PVS_SCHEMA_DIR_ENV);
	char *err = NULL;

	if (!dir || !*dir)
		dir = PVS_FUZZ_SCHEMA_DIR;
	if (!s && pvs_schema_load(&s, dir, &err)) {
		fprintf(stderr, "fuzz_schema: cannot load the schema: %s\n", err ? err : "?");
		abort();
	}
	return s;
}

/* Split buf (NUL-terminated, len bytes) at NULs into at most n fields. */
static size_t fields(char *buf, size_t len, char **out, size_t n)
{
	size_t i = 0, k = 0;

	while (k < n && i <= len) {
		out[k++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	return k;
}

/* ---- mode 3: an in-memory tree ---- */

struct ent {
	char *path, *val;
};

struct tree {
	struct ent *e;
	size_t n;
};

static bool under(const char *p, const char *dir, size_t dlen)
{
	if (dlen == 1)
		return p[0] == '/' && p[1];
	return !strncmp(p, dir, dlen) && p[dlen] == '/';
}

static int t_read(void *ctx, const char *path, char **value)
{
	struct tree *t = ctx;
	size_t i, len = strlen(path);

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->e[i].path, path))
			return (*value = strdup(t->e[i].val)) ? 0 : -ENOMEM;
	for (i = 0; i < t->n; i++)
		if (under(t->e[i].path, path, len))
			return (*value = strdup("")) ? 0 : -ENOMEM;
	return strcmp(path, "/") ? -ENOENT : ((*value = strdup("")) ? 0 : -ENOMEM);
}

static int t_list(void *ctx, const char *path, char ***names, unsigned int *count)
{
	struct tree *t = ctx;
	size_t i, j, nk = 0, bytes = 0, len = strlen(path);
	const char **kid = calloc(t->n + 1, sizeof(*kid));
	size_t *kl = calloc(t->n + 1, sizeof(*kl));
	char **out, *p;

	if (!kid || !kl) {
		free(kid);
		free(kl);
		return -ENOMEM;
	}
	for (i = 0; i < t->n; i++) {
		const char *c;
		size_t l;

		if (!under(t->e[i].path, path, len))
			continue;
		c = t->e[i].path + (len == 1 ? 1 : len + 1);
		l = strcspn(c, "/");
		if (!l)
			continue;
		for (j = 0; j < nk; j++)
			if (kl[j] == l && !strncmp(kid[j], c, l))
				break;
		if (j == nk) {
			kid[nk] = c;
			kl[nk++] = l;
			bytes += l + 1;
		}
	}
	out = malloc(nk * sizeof(char *) + bytes + 1);
	if (!out) {
		free(kid);
		free(kl);
		return -ENOMEM;
	}
	p = (char *)(out + nk);
	for (j = 0; j < nk; j++) {
		out[j] = p;
		memcpy(p, kid[j], kl[j]);
		p[kl[j]] = '\0';
		p += kl[j] + 1;
	}
	free(kid);
	free(kl);
	*names = out;
	*count = (unsigned int)nk;
	return 0;
}

static void check_tree(char *text)
{
	static const struct pvs_tree_ops ops = { .list = t_list, .read = t_read };
	struct tree t = { 0 };
	struct pvs_report *r = NULL;
	char *line, *save = NULL;
	size_t cap = 0;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (line[0] != '/')
			continue;
		if (eq)
			*eq = '\0';
		if (t.n == cap) {
			struct ent *ne;

			cap = cap ? cap * 2 : 16;
			ne = realloc(t.e, cap * sizeof(*ne));
			if (!ne)
				break;
			t.e = ne;
		}
		t.e[t.n].path = line;
		t.e[t.n].val = eq ? eq + 1 : (char *)"";
		t.n++;
	}
	if (!pvs_check_tree(real_schema(), &ops, &t, "/", &r)) {
		for (size_t i = 0; i < r->nfindings; i++)
			if (!r->findings[i].path || !r->findings[i].message ||
			    !pvs_finding_kind_name(r->findings[i].kind))
				abort();
		pvs_report_free(r);
	}
	free(t.e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *f[4], out[256], why[128];
	struct pvs_schema *s = NULL;
	const struct pvs_devtype *t;
	const struct pvs_key *k;
	struct pvs_devpath dp;
	char *err = NULL;

	if (size < 1 || size > 65536)
		return 0;
	buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';

	switch (data[0] % 4) {
	case 0:
		if (!pvs_schema_new(&s)) {
			pvs_schema_add_buffer(s, buf, size - 1, "fuzz", &err);
			free(err);
			pvs_schema_free(s);
		}
		break;
	case 1:
		if (fields(buf, size - 1, f, 4) == 4 && !pvs_schema_type(real_schema(), f[0], &t)) {
			enum pvs_side side = f[1][0] == 'b' ? PVS_SIDE_BACKEND : PVS_SIDE_FRONTEND;

			if (!pvs_devtype_key(t, side, f[2], &k)) {
				pvs_key_check_value(k, f[3], why, sizeof(why));
				pvs_key_describe(k, out, sizeof(out));
			}
			pvs_devtype_key_path(t, side, "/local/domain/1/device/x/0", f[2], out,
					     sizeof(out));
		}
		break;
	case 2:
		if (!pvs_schema_parse_path(real_schema(), buf, &dp)) {
			if (dp.devdir_len > strlen(buf))
				abort();
		}
		pvs_schema_path_is_ancestor(real_schema(), buf);
		break;
	case 3:
		check_tree(buf);
		break;
	}
	free(buf);
	return 0;
}
