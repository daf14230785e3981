/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpvsplit-schema: device directory paths, built from and parsed against
 * the schema's templates.
 *
 * A template is an absolute xenstore path whose components are literals or
 * one of the placeholders {domid}, {backend-domid}, {devid} (whole
 * components only).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum tvar { TV_NONE = 0, TV_DOMID, TV_BACKEND_DOMID, TV_DEVID };

static enum tvar tvar_of(const char *c, size_t len)
{
	if (len == 7 && !memcmp(c, "{domid}", 7))
		return TV_DOMID;
	if (len == 15 && !memcmp(c, "{backend-domid}", 15))
		return TV_BACKEND_DOMID;
	if (len == 7 && !memcmp(c, "{devid}", 7))
		return TV_DEVID;
	return TV_NONE;
}

/* Next component of s (after any leading '/'); *len its length; NULL at the end. */
static const char *next_comp(const char *s, size_t *len)
{
	while (*s == '/')
		s++;
	if (!*s)
		return NULL;
	*len = strcspn(s, "/");
	return s;
}

long pvsi_template_match(const char *tmpl, const char *path, struct pvs_tvars *v)
{
	const char *tc = tmpl, *pc = path;
	size_t tl, pl;

	v->domid = v->backend_domid = v->devid = -1;
	if (path[0] != '/')
		return -1;
	for (;;) {
		int n;

		tc = next_comp(tc, &tl);
		if (!tc)
			break;
		if (*pc != '/')
			return -1;
		pc++;
		if (!*pc || *pc == '/')
			return -1;
		pl = strcspn(pc, "/");
		switch (tvar_of(tc, tl)) {
		case TV_NONE:
			if (tl != pl || memcmp(tc, pc, tl))
				return -1;
			break;
		case TV_DOMID:
			if (!pvsi_parse_small(pc, pl, &n))
				return -1;
			v->domid = n;
			break;
		case TV_BACKEND_DOMID:
			if (!pvsi_parse_small(pc, pl, &n))
				return -1;
			v->backend_domid = n;
			break;
		case TV_DEVID:
			if (!pvsi_parse_small(pc, pl, &n))
				return -1;
			v->devid = n;
			break;
		}
		tc += tl;
		pc += pl;
	}
	return (long)(pc - path);
}

/* Is path (no trailing '/') a strict ancestor of some instance of tmpl? */
static bool template_has_ancestor(const char *tmpl, const char *path)
{
	const char *tc = tmpl, *pc = path;
	size_t tl, pl;
	int n;

	for (;;) {
		pc = next_comp(pc, &pl);
		tc = next_comp(tc, &tl);
		if (!pc)
			return tc != NULL; /* path exhausted first: strict ancestor */
		if (!tc)
			return false;
		if (tvar_of(tc, tl) == TV_NONE) {
			if (tl != pl || memcmp(tc, pc, tl))
				return false;
		} else if (!pvsi_parse_small(pc, pl, &n)) {
			return false;
		}
		tc += tl;
		pc += pl;
	}
}

bool pvs_schema_path_is_ancestor(const struct pvs_schema *s, const char *path)
{
	size_t i, j, side;

	if (!s || !path || path[0] != '/')
		return false;
	for (i = 0; i < s->ntypes; i++)
		for (side = 0; side < 2; side++)
			for (j = 0; j < s->types[i]->side[side].npaths; j++)
				if (template_has_ancestor(s->types[i]->side[side].paths[j], path))
					return true;
	return false;
}

int pvs_schema_parse_path(const struct pvs_schema *s, const char *path, struct pvs_devpath *out)
{
	struct pvs_devpath best;
	long best_len = -1;
	size_t i, j, side;

	if (!s || !path || !out || path[0] != '/')
		return -EINVAL;
	memset(&best, 0, sizeof(best));
	for (i = 0; i < s->ntypes; i++) {
		const struct pvs_devtype *t = s->types[i];

		for (side = 0; side < 2; side++) {
			for (j = 0; j < t->side[side].npaths; j++) {
				struct pvs_tvars v;
				long m = pvsi_template_match(t->side[side].paths[j], path, &v);

				if (m < 0 || m <= best_len)
					continue;
				if (path[m] != '\0' && !(path[m] == '/' && path[m + 1] != '\0'))
					continue;
				best_len = m;
				best.type = t;
				best.side = (enum pvs_side)side;
				best.domid = v.domid;
				best.backend_domid = v.backend_domid;
				best.devid = v.devid < 0 ? 0 : v.devid;
				best.template_index = j;
				best.devdir_len = (size_t)m;
				best.key = path[m] ? path + m + 1 : NULL;
			}
		}
	}
	if (best_len < 0)
		return -ENOENT;
	*out = best;
	return 0;
}

/* Substitute a template; devid < 0 means "not available". */
static int template_build(const char *tmpl, unsigned int backend_domid, bool have_backend,
			  unsigned int domid, unsigned int devid, bool need_devid, char *buf,
			  size_t len)
{
	const char *tc = tmpl;
	size_t tl, o = 0;
	bool used_devid = false;
	int n;

	buf[0] = '\0';
	while ((tc = next_comp(tc, &tl))) {
		switch (tvar_of(tc, tl)) {
		case TV_NONE:
			n = pvsi_fmt(buf + o, len - o, "/%.*s", (int)tl, tc);
			break;
		case TV_DOMID:
			n = pvsi_fmt(buf + o, len - o, "/%u", domid);
			break;
		case TV_BACKEND_DOMID:
			if (!have_backend)
				return -ENOENT;
			n = pvsi_fmt(buf + o, len - o, "/%u", backend_domid);
			break;
		case TV_DEVID:
			used_devid = true;
			n = pvsi_fmt(buf + o, len - o, "/%u", devid);
			break;
		default:
			return -EINVAL;
		}
		if (n < 0)
			return n;
		o += (size_t)n;
		tc += tl;
	}
	if (need_devid && !used_devid)
		return -ENOENT;
	return (int)o;
}

static int build_dir(const struct pvs_devtype *t, enum pvs_side side, unsigned int backend_domid,
		     bool have_backend, unsigned int domid, unsigned int devid, char *buf,
		     size_t len)
{
	const struct pvs_side_def *sd;
	size_t j;
	int rc = -ENOENT;

	if (!t || !buf || !len || (side != PVS_SIDE_FRONTEND && side != PVS_SIDE_BACKEND))
		return -EINVAL;
	sd = &t->side[side];
	for (j = 0; j < sd->npaths; j++) {
		/* a template without {devid} serves devid 0 only */
		rc = template_build(sd->paths[j], backend_domid, have_backend, domid, devid,
				    devid != 0, buf, len);
		if (rc != -ENOENT)
			return rc;
	}
	buf[0] = '\0';
	return rc;
}

int pvs_devtype_frontend_dir(const struct pvs_devtype *t, unsigned int domid, unsigned int devid,
			     char *buf, size_t len)
{
	return build_dir(t, PVS_SIDE_FRONTEND, 0, false, domid, devid, buf, len);
}

int pvs_devtype_backend_dir(const struct pvs_devtype *t, unsigned int backend_domid,
			    unsigned int domid, unsigned int devid, char *buf, size_t len)
{
	return build_dir(t, PVS_SIDE_BACKEND, backend_domid, true, domid, devid, buf, len);
}

int pvs_devtype_key_path(const struct pvs_devtype *t, enum pvs_side side, const char *devdir,
			 const char *key, char *buf, size_t len)
{
	const struct pvs_key *k;
	struct pvs_binding b = { 0 };
	int rc;

	if (!t || !devdir || !key || !buf || !len || devdir[0] != '/')
		return -EINVAL;
	rc = pvs_devtype_key(t, side, key, &k);
	if (rc)
		return rc;
	/* A pattern itself is not a node: the caller must name an instance. */
	if (k->name.has_vars && !pvsi_pattern_match(&k->name, key, &b))
		return -EINVAL;
	if (strlen(devdir) > 1 && devdir[strlen(devdir) - 1] == '/')
		return -EINVAL;
	return pvsi_fmt(buf, len, "%s/%s", devdir, key);
}
