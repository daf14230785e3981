/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpvsplit-schema: the checker.  Walks a xenstore subtree through
 * caller-supplied callbacks, finds device directories by shape and compares
 * each with the schema.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Directory keys nest at most this deep below a device directory. */
#define MAX_KEY_DEPTH 4

struct node {
	char *rel; /* path relative to the device directory */
	char *val;
	const struct pvs_key *key;
	bool valid; /* the value passed pvs_key_check_value() */
};

struct walker {
	const struct pvs_schema *s;
	const struct pvs_tree_ops *ops;
	void *ctx;
	struct pvs_report *r;
	size_t cap_findings, cap_devices;
};

struct device {
	struct walker *w;
	const char *dir;
	struct pvs_devpath dp;
	struct node *nodes;
	size_t nnodes, cap;
	int state;
	int link_backend_domid; /* from a valid link to the backend, -1 if none */
	size_t first_finding;
};

const char *pvs_finding_kind_name(enum pvs_finding_kind kind)
{
	switch (kind) {
	case PVS_FINDING_MISSING:
		return "MISSING";
	case PVS_FINDING_EXTRA:
		return "EXTRA";
	case PVS_FINDING_BADTYPE:
		return "BADTYPE";
	case PVS_FINDING_BADSTATE:
		return "BADSTATE";
	}
	return NULL;
}

void pvs_report_free(struct pvs_report *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nfindings; i++) {
		free(r->findings[i].path);
		free(r->findings[i].device);
		free(r->findings[i].expected);
		free(r->findings[i].found);
		free(r->findings[i].message);
	}
	free(r->findings);
	for (i = 0; i < r->ndevices; i++)
		free(r->devices[i].path);
	free(r->devices);
	free(r);
}

static int add_finding(struct device *d, enum pvs_finding_kind kind, const char *path,
		       const char *expected, const char *found, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static int add_finding(struct device *d, enum pvs_finding_kind kind, const char *path,
		       const char *expected, const char *found, const char *fmt, ...)
{
	struct walker *w = d->w;
	struct pvs_report *r = w->r;
	struct pvs_finding *f;
	va_list ap;
	int n;

	if (r->nfindings == w->cap_findings) {
		size_t cap = w->cap_findings ? w->cap_findings * 2 : 16;
		struct pvs_finding *nf = realloc(r->findings, cap * sizeof(*nf));

		if (!nf)
			return -ENOMEM;
		r->findings = nf;
		w->cap_findings = cap;
	}
	f = &r->findings[r->nfindings];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->type = d->dp.type->name;
	f->side = d->dp.side;
	f->path = strdup(path);
	f->device = strdup(d->dir);
	f->expected = strdup(expected ? expected : "");
	f->found = found ? strdup(found) : NULL;
	va_start(ap, fmt);
	n = vasprintf(&f->message, fmt, ap);
	va_end(ap);
	if (n < 0)
		f->message = NULL;
	r->nfindings++; /* counted even when incomplete, so pvs_report_free() frees it */
	if (!f->path || !f->device || !f->expected || (found && !f->found) || !f->message)
		return -ENOMEM;
	return 0;
}

static int join(char *buf, size_t len, const char *dir, const char *name)
{
	if (!strcmp(dir, "/"))
		return pvsi_fmt(buf, len, "/%s", name);
	return pvsi_fmt(buf, len, "%s/%s", dir, name);
}

static int cmp_child(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* List children, sorted; -ENOENT passes through. */
static int list_sorted(struct walker *w, const char *path, char ***names, unsigned int *n)
{
	int rc;

	*names = NULL;
	*n = 0;
	rc = w->ops->list(w->ctx, path, names, n);
	if (rc)
		return rc < 0 ? rc : -EIO;
	if (*n && !*names)
		return -EIO;
	if (*n > 1)
		qsort(*names, *n, sizeof(**names), cmp_child);
	return 0;
}

/* The key a node is: exact names for plain keys, instances for patterns. */
static const struct pvs_key *key_for(const struct pvs_devtype *t, enum pvs_side side,
				     const char *rel)
{
	const struct pvs_side_def *sd = &t->side[side];
	size_t i;

	for (i = 0; i < sd->nkeys; i++)
		if (!sd->keys[i].name.has_vars && !strcmp(sd->keys[i].name.text, rel))
			return &sd->keys[i];
	for (i = 0; i < sd->nkeys; i++) {
		struct pvs_binding b = { 0 };

		if (sd->keys[i].name.has_vars && pvsi_pattern_match(&sd->keys[i].name, rel, &b))
			return &sd->keys[i];
	}
	return NULL;
}

static int check_value(struct device *d, struct node *n, const char *full);

/* Read the children of dir (relative prefix rel, "" at the device dir). */
static int collect(struct device *d, const char *rel, int depth)
{
	struct walker *w = d->w;
	char full[PVS_PATH_MAX], crel[PVS_PATH_MAX];
	char **names = NULL;
	unsigned int n = 0, i;
	int rc;

	rc = *rel ? join(full, sizeof(full), d->dir, rel)
		  : pvsi_fmt(full, sizeof(full), "%s", d->dir);
	if (rc < 0)
		return 0; /* an over-long path cannot exist in xenstore */
	rc = list_sorted(w, full, &names, &n);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		char cfull[PVS_PATH_MAX], *val = NULL;
		const struct pvs_key *k;
		struct node *nd;

		if (*rel ? pvsi_fmt(crel, sizeof(crel), "%s/%s", rel, names[i]) < 0
			 : pvsi_fmt(crel, sizeof(crel), "%s", names[i]) < 0)
			continue;
		if (join(cfull, sizeof(cfull), d->dir, crel) < 0)
			continue;
		rc = w->ops->read(w->ctx, cfull, &val);
		if (rc == -ENOENT)
			continue;
		if (rc) {
			rc = rc < 0 ? rc : -EIO;
			goto out;
		}
		if (!val)
			val = strdup("");
		k = key_for(d->dp.type, d->dp.side, crel);
		if (!k) {
			rc = add_finding(d, PVS_FINDING_EXTRA, cfull, "no such key", val,
					 "unknown key: not in the %s %s schema", d->dp.type->name,
					 pvs_side_name(d->dp.side));
			free(val);
			if (rc)
				goto out;
			continue;
		}
		if (d->nnodes == d->cap) {
			size_t cap = d->cap ? d->cap * 2 : 32;
			struct node *nn = realloc(d->nodes, cap * sizeof(*nn));

			if (!nn) {
				free(val);
				rc = -ENOMEM;
				goto out;
			}
			d->nodes = nn;
			d->cap = cap;
		}
		nd = &d->nodes[d->nnodes];
		nd->rel = strdup(crel);
		nd->val = val;
		nd->key = k;
		nd->valid = false;
		if (!nd->rel) {
			free(val);
			rc = -ENOMEM;
			goto out;
		}
		d->nnodes++;
		rc = check_value(d, nd, cfull);
		if (rc)
			goto out;
		if (k->type == PVS_TYPE_DIR && depth < MAX_KEY_DEPTH) {
			rc = collect(d, crel, depth + 1);
			if (rc)
				goto out;
		}
	}
	rc = 0;
out:
	free(names);
	return rc;
}

static int check_link(struct device *d, const struct pvs_key *k, const char *full, const char *val)
{
	struct pvs_devpath lp;
	char expected[PVS_PATH_MAX];

	snprintf(expected, sizeof(expected), "the %s %s directory of domain %d device %d",
		 d->dp.type->name, pvs_side_name(k->link), d->dp.domid, d->dp.devid);
	if (pvs_schema_parse_path(d->w->s, val, &lp) || lp.key || lp.type != d->dp.type ||
	    lp.side != k->link || lp.domid != d->dp.domid || lp.devid != d->dp.devid)
		return add_finding(d, PVS_FINDING_BADTYPE, full, expected, val,
				   "does not point to %s", expected);
	if (lp.backend_domid >= 0)
		d->link_backend_domid = lp.backend_domid;
	return 0;
}

static int check_value(struct device *d, struct node *n, const char *full)
{
	const struct pvs_key *k = n->key;
	char why[256], desc[256];

	if (pvs_key_describe(k, desc, sizeof(desc)) < 0)
		snprintf(desc, sizeof(desc), "%s", pvs_type_name(k->type));
	if (pvs_key_check_value(k, n->val, why, sizeof(why)))
		return add_finding(
			d, k->type == PVS_TYPE_STATE ? PVS_FINDING_BADSTATE : PVS_FINDING_BADTYPE,
			full, desc, n->val, "%s", why);
	n->valid = true;
	if (k->type == PVS_TYPE_STATE && !strcmp(n->rel, "state"))
		d->state = n->val[0] - '0';
	if (k->has_link)
		return check_link(d, k, full, n->val);
	return 0;
}

/*
 * Numbers that must agree with the path (frontend-id, virtual-device) or,
 * on the frontend side where the path does not say, with the backend link.
 */
static int check_matches(struct device *d)
{
	char full[PVS_PATH_MAX], w[24];
	size_t i;
	int rc;

	for (i = 0; i < d->nnodes; i++) {
		const struct node *n = &d->nodes[i];
		const char *what;
		int want;

		if (!n->valid)
			continue;
		switch (n->key->matches) {
		case PVS_MATCH_DOMID:
			want = d->dp.domid;
			what = "domain id in the path";
			break;
		case PVS_MATCH_BACKEND_DOMID:
			want = d->dp.backend_domid;
			what = "backend domain id in the path";
			if (want < 0) {
				want = d->link_backend_domid;
				what = "backend domain id in the backend path";
			}
			break;
		case PVS_MATCH_DEVID:
			want = d->dp.devid;
			what = "device id in the path";
			break;
		default:
			continue;
		}
		if (want < 0)
			continue;
		snprintf(w, sizeof(w), "%d", want);
		if (!strcmp(w, n->val))
			continue;
		if (join(full, sizeof(full), d->dir, n->rel) < 0)
			continue;
		rc = add_finding(d, PVS_FINDING_BADTYPE, full, w, n->val,
				 "does not match the %s (%s)", what, w);
		if (rc)
			return rc;
	}
	return 0;
}

/* Does any node match pattern p under binding b (unbound placeholders: any)? */
static bool exists(const struct device *d, const struct pvs_pattern *p, const struct pvs_binding *b)
{
	size_t i;

	for (i = 0; i < d->nnodes; i++) {
		struct pvs_binding c = *b;

		if (pvsi_pattern_match(p, d->nodes[i].rel, &c))
			return true;
	}
	return false;
}

static bool cond_true(const struct device *d, const struct pvs_cond *c, const struct pvs_binding *b)
{
	size_t i;

	for (i = 0; i < c->npresent; i++)
		if (!exists(d, &c->present[i], b))
			return false;
	for (i = 0; i < c->nabsent; i++)
		if (exists(d, &c->absent[i], b))
			return false;
	if (c->path && strcmp(c->path, d->dp.type->side[d->dp.side].paths[d->dp.template_index]))
		return false;
	return true;
}

/* The first rule that requires the key now, or NULL. */
static const struct pvs_rule *requiring_rule(const struct device *d, const struct pvs_key *k,
					     const struct pvs_binding *b)
{
	size_t i;

	for (i = 0; i < k->nrules; i++) {
		const struct pvs_rule *r = &k->rules[i];
		bool now = (r->mask & PVS_REQ_ALWAYS) ||
			   (d->state >= 1 && d->state <= 8 && (r->mask & PVS_REQ_STATE(d->state)));

		if (now && (!r->has_cond || cond_true(d, &r->cond, b)))
			return r;
	}
	return NULL;
}

/* "in state Connected, when ring-page-order absent and queue-{q} absent" */
static void rule_text(const struct device *d, const struct pvs_rule *r, char *buf, size_t len)
{
	const char *sep = ", when ";
	size_t o = 0, i;
	int n;

	if (r->mask & PVS_REQ_ALWAYS)
		n = pvsi_fmt(buf, len, "always");
	else
		n = pvsi_fmt(buf, len, "in state %s", pvs_state_name(d->state));
	if (n < 0 || !r->has_cond)
		return;
	o = (size_t)n;
	for (i = 0; i < r->cond.npresent; i++, sep = " and ") {
		n = pvsi_fmt(buf + o, len - o, "%s%s present", sep, r->cond.present[i].text);
		if (n < 0)
			return;
		o += (size_t)n;
	}
	for (i = 0; i < r->cond.nabsent; i++, sep = " and ") {
		n = pvsi_fmt(buf + o, len - o, "%s%s absent", sep, r->cond.absent[i].text);
		if (n < 0)
			return;
		o += (size_t)n;
	}
	if (r->cond.path)
		pvsi_fmt(buf + o, len - o, "%sthe directory is %s", sep, r->cond.path);
}

static int report_missing(struct device *d, const struct pvs_key *k, const struct pvs_rule *r,
			  const struct pvs_binding *b)
{
	char name[PVS_PATH_MAX], full[PVS_PATH_MAX], desc[256], why[512];

	if (pvsi_pattern_subst(&k->name, b, name, sizeof(name)) < 0 ||
	    join(full, sizeof(full), d->dir, name) < 0)
		return -ENAMETOOLONG;
	if (pvs_key_describe(k, desc, sizeof(desc)) < 0)
		snprintf(desc, sizeof(desc), "%s", pvs_type_name(k->type));
	rule_text(d, r, why, sizeof(why));
	if (k->type == PVS_TYPE_STATE)
		return add_finding(d, PVS_FINDING_BADSTATE, full, desc, NULL,
				   "the state key is missing (required %s)", why);
	return add_finding(d, PVS_FINDING_MISSING, full, desc, NULL, "required %s%s", why,
			   strchr(name, '{') ? "; no instance of the pattern exists" : "");
}

static int check_required(struct device *d)
{
	const struct pvs_side_def *sd = &d->dp.type->side[d->dp.side];
	size_t i, j;
	int rc;

	for (i = 0; i < sd->nkeys; i++) {
		const struct pvs_key *k = &sd->keys[i];
		const struct pvs_rule *r;
		struct pvs_binding none = { 0 };
		bool any_parent = false;

		if (!k->nrules)
			continue;
		if (k->name.nparent_vars) {
			/* one requirement per existing instance of the parent directory */
			for (j = 0; j < d->nnodes; j++) {
				struct pvs_binding b = { 0 };

				if (!pvsi_pattern_match_prefix(&k->name, k->name.ncomp - 1,
							       d->nodes[j].rel, &b))
					continue;
				any_parent = true;
				r = requiring_rule(d, k, &b);
				if (r && !exists(d, &k->name, &b)) {
					rc = report_missing(d, k, r, &b);
					if (rc)
						return rc;
				}
			}
			if (any_parent)
				continue;
		}
		r = requiring_rule(d, k, &none);
		if (r && !exists(d, &k->name, &none)) {
			rc = report_missing(d, k, r, &none);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int check_device(struct walker *w, const char *dir, const struct pvs_devpath *dp)
{
	struct device d = { .w = w, .dir = dir, .dp = *dp, .state = -1, .link_backend_domid = -1 };
	struct pvs_report *r = w->r;
	struct pvs_checked_device *cd;
	size_t i;
	int rc;

	d.first_finding = r->nfindings;
	if (r->ndevices == w->cap_devices) {
		size_t cap = w->cap_devices ? w->cap_devices * 2 : 8;
		struct pvs_checked_device *nd = realloc(r->devices, cap * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		r->devices = nd;
		w->cap_devices = cap;
	}
	cd = &r->devices[r->ndevices];
	memset(cd, 0, sizeof(*cd));
	cd->path = strdup(dir);
	if (!cd->path)
		return -ENOMEM;
	cd->type = dp->type->name;
	cd->side = dp->side;
	cd->state = -1;
	r->ndevices++;

	rc = collect(&d, "", 0);
	if (!rc)
		rc = check_matches(&d);
	if (!rc)
		rc = check_required(&d);
	for (i = 0; i < d.nnodes; i++) {
		free(d.nodes[i].rel);
		free(d.nodes[i].val);
	}
	free(d.nodes);
	cd = &r->devices[r->ndevices - 1];
	cd->state = d.state;
	cd->nfindings = r->nfindings - d.first_finding;
	return rc;
}

static int walk(struct walker *w, const char *path)
{
	struct pvs_devpath dp;
	char **names = NULL;
	unsigned int n = 0, i;
	int rc;

	if (!pvs_schema_parse_path(w->s, path, &dp) && !dp.key)
		return check_device(w, path, &dp);
	if (!pvs_schema_path_is_ancestor(w->s, path))
		return 0;
	rc = list_sorted(w, path, &names, &n);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		char child[PVS_PATH_MAX];

		if (join(child, sizeof(child), path, names[i]) < 0)
			continue;
		rc = walk(w, child);
		if (rc)
			break;
	}
	free(names);
	return rc;
}

int pvs_check_tree(const struct pvs_schema *s, const struct pvs_tree_ops *ops, void *ctx,
		   const char *root, struct pvs_report **out)
{
	struct walker w = { .s = s, .ops = ops, .ctx = ctx };
	struct pvs_devpath dp;
	char path[PVS_PATH_MAX], *val = NULL;
	size_t len;
	int rc;

	if (!s || !ops || !ops->list || !ops->read || !root || !out || root[0] != '/')
		return -EINVAL;
	len = strlen(root);
	if (len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, root, len + 1);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';

	rc = ops->read(ctx, path, &val);
	free(val);
	if (rc)
		return rc < 0 ? rc : -EIO;

	w.r = calloc(1, sizeof(*w.r));
	if (!w.r)
		return -ENOMEM;
	/* A path inside a device directory checks that whole device. */
	if (!pvs_schema_parse_path(s, path, &dp) && dp.key)
		path[dp.devdir_len] = '\0';
	rc = walk(&w, path);
	if (rc) {
		pvs_report_free(w.r);
		return rc;
	}
	*out = w.r;
	return 0;
}
