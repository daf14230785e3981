/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libpvsplit-schema internals, shared by the library's .c files only. */
#ifndef PVSPLIT_SCHEMA_INTERNAL_H
#define PVSPLIT_SCHEMA_INTERNAL_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvsplit/schema.h"

/* The largest number of "{placeholder}"s one key name or one path may hold. */
#define PVS_MAX_VARS 8
/* A generous bound on the length of xenstore paths (XENSTORE_ABS_PATH_MAX is 3072). */
#define PVS_PATH_MAX 3072

/* A name with placeholders, split into components (split on '/'). */
struct pvs_pattern {
	char *text;	     /* the pattern as written */
	size_t ncomp;	     /* number of '/'-separated components */
	char **comp;	     /* each component, "{x}" kept literally */
	bool has_vars;	     /* any "{...}" at all */
	size_t nparent_vars; /* placeholders in components but the last */
};

/* One name=value binding of a placeholder, while matching. */
struct pvs_binding {
	size_t n;
	struct {
		const char *name; /* points into a pattern component, not NUL-terminated */
		size_t namelen;
		const char *val; /* points into the matched text */
		size_t vallen;
	} v[PVS_MAX_VARS];
};

enum pvs_match_var {
	PVS_MATCH_NONE = 0,
	PVS_MATCH_DOMID,
	PVS_MATCH_BACKEND_DOMID,
	PVS_MATCH_DEVID,
};

struct pvs_cond {
	struct pvs_pattern *present;
	size_t npresent;
	struct pvs_pattern *absent;
	size_t nabsent;
	char *path; /* a template of the key's side, or NULL */
};

struct pvs_rule {
	uint32_t mask; /* PVS_REQ_* */
	bool has_cond;
	struct pvs_cond cond;
};

struct pvs_key {
	struct pvs_devtype *owner;
	enum pvs_side side;
	struct pvs_pattern name;
	enum pvs_writer writer;
	enum pvs_type type;
	char *doc;
	char *source;
	char *defval;
	bool deprecated;

	size_t nrules;
	struct pvs_rule *rules;

	size_t nvalues;
	char **values;

	bool has_min, has_max;
	/* uint keys use the u fields, int keys the i fields */
	uint64_t umin, umax;
	int64_t imin, imax;

	bool has_regex;
	char *regex_src;
	regex_t regex;

	enum pvs_match_var matches;
	bool has_link;
	enum pvs_side link; /* the side the value must point to */
};

struct pvs_side_def {
	size_t npaths;
	char **paths;
	size_t nkeys;
	struct pvs_key *keys;
};

struct pvs_devtype {
	struct pvs_schema *owner;
	char *name;
	char *doc;
	char *source;
	char *origin;
	struct pvs_side_def side[2];
};

struct pvs_schema {
	size_t ntypes;
	struct pvs_devtype **types;
};

/* value.c / pattern helpers */
int pvsi_pattern_init(struct pvs_pattern *p, const char *text, char *why, size_t whylen);
void pvsi_pattern_fini(struct pvs_pattern *p);
/*
 * Match text (a relative key path) against a pattern.  Placeholders already
 * in *b must match the same digits; new ones are appended to *b.  On a
 * failed match *b is restored.
 */
bool pvsi_pattern_match(const struct pvs_pattern *p, const char *text, struct pvs_binding *b);
/*
 * Match text against the first ncomp components of the pattern only (text
 * holds exactly ncomp components).
 */
bool pvsi_pattern_match_prefix(const struct pvs_pattern *p, size_t ncomp, const char *text,
			       struct pvs_binding *b);
/* Write the pattern with bound placeholders substituted into buf. */
int pvsi_pattern_subst(const struct pvs_pattern *p, const struct pvs_binding *b, char *buf,
		       size_t len);

/* A canonical decimal (no sign, no leading zero but "0") of len bytes. */
bool pvsi_is_canonical_decimal(const char *s, size_t len);
/* Parse a canonical decimal into an int, false on overflow or bad form. */
bool pvsi_parse_small(const char *s, size_t len, int *out);

/* A valid xenstore path (absolute, allowed characters, no empty component). */
bool pvsi_is_xs_path(const char *s);

/* snprintf into a fixed buffer, returning the length or -ERANGE. */
int pvsi_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Template matching (path.c): match a path against a template, filling vars. */
struct pvs_tvars {
	int domid, backend_domid, devid;
};
/*
 * Match the first components of path against a template.  Returns the
 * length of path consumed (up to the end of the template's last component)
 * or -1 when it does not match.
 */
long pvsi_template_match(const char *tmpl, const char *path, struct pvs_tvars *v);

#endif /* PVSPLIT_SCHEMA_INTERNAL_H */
