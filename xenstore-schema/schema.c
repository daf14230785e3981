/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpvsplit-schema: loading the schema files (json-c) and looking keys up.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "internal.h"

#ifndef PVS_SCHEMA_INSTALL_DIR
#define PVS_SCHEMA_INSTALL_DIR "/usr/local/share/pvsplit/xenstore-schema"
#endif

/* Schema files are small; anything bigger is a mistake. */
#define MAX_FILE_SIZE (4u << 20)

static const char *const state_names[] = {
	"Unknown", "Initialising", "InitWait",	    "Initialised",  "Connected",
	"Closing", "Closed",	   "Reconfiguring", "Reconfigured",
};

static const char *const writer_names[] = {
	[PVS_WRITER_TOOLSTACK] = "toolstack",
	[PVS_WRITER_FRONTEND] = "frontend",
	[PVS_WRITER_BACKEND] = "backend",
	[PVS_WRITER_HOTPLUG] = "hotplug",
};

static const char *const type_names[] = {
	[PVS_TYPE_STRING] = "string", [PVS_TYPE_UINT] = "uint",	    [PVS_TYPE_INT] = "int",
	[PVS_TYPE_BOOL] = "bool",     [PVS_TYPE_STATE] = "state",   [PVS_TYPE_ENUM] = "enum",
	[PVS_TYPE_DOMID] = "domid",   [PVS_TYPE_PATH] = "path",	    [PVS_TYPE_MAC] = "mac",
	[PVS_TYPE_UUID] = "uuid",     [PVS_TYPE_DEVNUM] = "devnum", [PVS_TYPE_DIR] = "dir",
};

static const char *const side_names[] = { "frontend", "backend" };

const char *pvs_side_name(enum pvs_side side)
{
	return (unsigned)side < 2 ? side_names[side] : NULL;
}

const char *pvs_writer_name(enum pvs_writer w)
{
	return (unsigned)w < sizeof(writer_names) / sizeof(writer_names[0]) ? writer_names[w]
									    : NULL;
}

const char *pvs_type_name(enum pvs_type t)
{
	return (unsigned)t < sizeof(type_names) / sizeof(type_names[0]) ? type_names[t] : NULL;
}

const char *pvs_state_name(int state)
{
	return state >= 0 && state <= 8 ? state_names[state] : NULL;
}

int pvs_state_from_name(const char *name)
{
	int i;

	if (!name)
		return -EINVAL;
	for (i = 1; i <= 8; i++)
		if (!strcmp(name, state_names[i]))
			return i;
	return -EINVAL;
}

const char *pvs_schema_default_dir(void)
{
	const char *d = getenv(PVS_SCHEMA_DIR_ENV);

	return d && *d ? d : PVS_SCHEMA_INSTALL_DIR;
}

/* ------------------------------------------------------------------ */
/* Freeing                                                             */
/* ------------------------------------------------------------------ */

static void cond_fini(struct pvs_cond *c)
{
	size_t i;

	for (i = 0; i < c->npresent; i++)
		pvsi_pattern_fini(&c->present[i]);
	free(c->present);
	for (i = 0; i < c->nabsent; i++)
		pvsi_pattern_fini(&c->absent[i]);
	free(c->absent);
	free(c->path);
	memset(c, 0, sizeof(*c));
}

static void key_fini(struct pvs_key *k)
{
	size_t i;

	pvsi_pattern_fini(&k->name);
	free(k->doc);
	free(k->source);
	free(k->defval);
	for (i = 0; i < k->nrules; i++)
		cond_fini(&k->rules[i].cond);
	free(k->rules);
	for (i = 0; i < k->nvalues; i++)
		free(k->values[i]);
	free(k->values);
	if (k->has_regex)
		regfree(&k->regex);
	free(k->regex_src);
}

static void devtype_free(struct pvs_devtype *t)
{
	size_t s, i;

	if (!t)
		return;
	for (s = 0; s < 2; s++) {
		for (i = 0; i < t->side[s].npaths; i++)
			free(t->side[s].paths[i]);
		free(t->side[s].paths);
		for (i = 0; i < t->side[s].nkeys; i++)
			key_fini(&t->side[s].keys[i]);
		free(t->side[s].keys);
	}
	free(t->name);
	free(t->doc);
	free(t->source);
	free(t->origin);
	free(t);
}

void pvs_schema_free(struct pvs_schema *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->ntypes; i++)
		devtype_free(s->types[i]);
	free(s->types);
	free(s);
}

int pvs_schema_new(struct pvs_schema **out)
{
	struct pvs_schema *s;

	if (!out)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*out = s;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Parsing one file                                                    */
/* ------------------------------------------------------------------ */

struct loader {
	const char *origin;
	char **errmsg;
	char where[160]; /* "frontend key 'ring-ref'" */
};

static int fail(struct loader *L, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct loader *L, int rc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (L->errmsg && !*L->errmsg) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (asprintf(L->errmsg, "%s: %s%s%s", L->origin, L->where, L->where[0] ? ": " : "",
			     msg) < 0)
			*L->errmsg = NULL;
	}
	return rc;
}

static int dup_string(struct loader *L, json_object *o, const char *what, char **out)
{
	if (!json_object_is_type(o, json_type_string))
		return fail(L, -EINVAL, "\"%s\" must be a string", what);
	*out = strdup(json_object_get_string(o));
	return *out ? 0 : -ENOMEM;
}

/* A string, or an array of strings joined with "; ". */
static int dup_source(struct loader *L, json_object *o, char **out)
{
	size_t i, n, total = 1;
	char *s;

	if (json_object_is_type(o, json_type_string))
		return dup_string(L, o, "source", out);
	if (!json_object_is_type(o, json_type_array))
		return fail(L, -EINVAL, "\"source\" must be a string or an array of strings");
	n = json_object_array_length(o);
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(o, i);

		if (!json_object_is_type(e, json_type_string))
			return fail(L, -EINVAL,
				    "\"source\" must be a string or an array of strings");
		total += strlen(json_object_get_string(e)) + 2;
	}
	s = calloc(1, total);
	if (!s)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (i)
			strcat(s, "; ");
		strcat(s, json_object_get_string(json_object_array_get_idx(o, i)));
	}
	*out = s;
	return 0;
}

static int parse_enum_name(struct loader *L, json_object *o, const char *what,
			   const char *const *names, size_t nnames, int *out)
{
	const char *v;
	size_t i;

	if (!json_object_is_type(o, json_type_string))
		return fail(L, -EINVAL, "\"%s\" must be a string", what);
	v = json_object_get_string(o);
	for (i = 0; i < nnames; i++) {
		if (names[i] && !strcmp(v, names[i])) {
			*out = (int)i;
			return 0;
		}
	}
	return fail(L, -EINVAL, "unknown %s \"%s\"", what, v);
}

/* "always", or an array of state names (possibly including "always"). */
static int parse_required_in(struct loader *L, json_object *o, uint32_t *mask)
{
	size_t i, n;

	*mask = 0;
	if (json_object_is_type(o, json_type_string)) {
		if (strcmp(json_object_get_string(o), "always"))
			return fail(L, -EINVAL,
				    "\"required_in\" must be \"always\" or a list of "
				    "XenbusState names");
		*mask = PVS_REQ_ALWAYS;
		return 0;
	}
	if (!json_object_is_type(o, json_type_array) || !json_object_array_length(o))
		return fail(L, -EINVAL,
			    "\"required_in\" must be \"always\" or a non-empty list of XenbusState "
			    "names");
	n = json_object_array_length(o);
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(o, i);
		const char *v;
		int st;

		if (!json_object_is_type(e, json_type_string))
			return fail(L, -EINVAL, "\"required_in\" entries must be strings");
		v = json_object_get_string(e);
		if (!strcmp(v, "always")) {
			*mask |= PVS_REQ_ALWAYS;
			continue;
		}
		st = pvs_state_from_name(v);
		if (st < 0)
			return fail(L, -EINVAL,
				    "unknown XenbusState \"%s\" (want Initialising, "
				    "InitWait, Initialised, Connected, Closing, Closed, "
				    "Reconfiguring, Reconfigured or always)",
				    v);
		*mask |= PVS_REQ_STATE(st);
	}
	return 0;
}

static int parse_name_list(struct loader *L, json_object *o, const char *what,
			   struct pvs_pattern **out, size_t *nout)
{
	char why[160];
	size_t i, n;
	int rc;

	if (!json_object_is_type(o, json_type_array) || !json_object_array_length(o))
		return fail(L, -EINVAL, "\"%s\" must be a non-empty list of key names", what);
	n = json_object_array_length(o);
	*out = calloc(n, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(o, i);

		if (!json_object_is_type(e, json_type_string))
			return fail(L, -EINVAL, "\"%s\" entries must be strings", what);
		why[0] = '\0';
		rc = pvsi_pattern_init(&(*out)[i], json_object_get_string(e), why, sizeof(why));
		if (rc)
			return fail(L, rc, "\"%s\": \"%s\": %s", what, json_object_get_string(e),
				    why);
		*nout = i + 1;
	}
	return 0;
}

static int parse_cond(struct loader *L, json_object *o, struct pvs_cond *c)
{
	int rc;

	if (!json_object_is_type(o, json_type_object))
		return fail(L, -EINVAL, "\"required_when\" must be an object");
	json_object_object_foreach(o, name, val)
	{
		if (!strcmp(name, "present"))
			rc = parse_name_list(L, val, "present", &c->present, &c->npresent);
		else if (!strcmp(name, "absent"))
			rc = parse_name_list(L, val, "absent", &c->absent, &c->nabsent);
		else if (!strcmp(name, "path"))
			rc = dup_string(L, val, "path", &c->path);
		else
			rc = fail(L, -EINVAL,
				  "unknown condition \"%s\" (want present, absent or path)", name);
		if (rc)
			return rc;
	}
	if (!c->npresent && !c->nabsent && !c->path)
		return fail(L, -EINVAL, "empty condition");
	return 0;
}

static int add_rule(struct pvs_key *k, struct pvs_rule **out)
{
	struct pvs_rule *r = realloc(k->rules, (k->nrules + 1) * sizeof(*r));

	if (!r)
		return -ENOMEM;
	k->rules = r;
	*out = &r[k->nrules++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

/* "required": [ {"in": ..., "when": {...}}, ... ] */
static int parse_rules(struct loader *L, struct pvs_key *k, json_object *o)
{
	size_t i, n;
	int rc;

	if (!json_object_is_type(o, json_type_array) || !json_object_array_length(o))
		return fail(L, -EINVAL, "\"required\" must be a non-empty list of rules");
	n = json_object_array_length(o);
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(o, i), *in = NULL, *when = NULL;
		struct pvs_rule *r;

		if (!json_object_is_type(e, json_type_object))
			return fail(L, -EINVAL, "a \"required\" rule must be an object");
		json_object_object_foreach(e, name, val)
		{
			if (!strcmp(name, "in"))
				in = val;
			else if (!strcmp(name, "when"))
				when = val;
			else
				return fail(L, -EINVAL,
					    "unknown member \"%s\" in a \"required\" rule (want "
					    "in, when)",
					    name);
		}
		if (!in)
			return fail(L, -EINVAL, "a \"required\" rule needs \"in\"");
		rc = add_rule(k, &r);
		if (rc)
			return rc;
		rc = parse_required_in(L, in, &r->mask);
		if (!rc && when) {
			r->has_cond = true;
			rc = parse_cond(L, when, &r->cond);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_number(struct loader *L, struct pvs_key *k, json_object *o, bool is_max)
{
	const char *what = is_max ? "max" : "min";

	if (k->type != PVS_TYPE_UINT && k->type != PVS_TYPE_INT)
		return fail(L, -EINVAL, "\"%s\" is only for uint and int keys", what);
	if (!json_object_is_type(o, json_type_int))
		return fail(L, -EINVAL, "\"%s\" must be an integer", what);
	if (k->type == PVS_TYPE_UINT) {
		int64_t v = json_object_get_int64(o);
		uint64_t u = json_object_get_uint64(o);

		if (v < 0)
			return fail(L, -EINVAL, "\"%s\" of a uint key must not be negative", what);
		if (is_max)
			k->umax = u;
		else
			k->umin = u;
	} else {
		errno = 0;
		int64_t v = json_object_get_int64(o);

		if (errno)
			return fail(L, -EINVAL, "\"%s\" does not fit int64", what);
		if (is_max)
			k->imax = v;
		else
			k->imin = v;
	}
	if (is_max)
		k->has_max = true;
	else
		k->has_min = true;
	return 0;
}

static int parse_key(struct loader *L, struct pvs_devtype *t, enum pvs_side side, json_object *o,
		     struct pvs_key *k)
{
	static const char *const match_names[] = { [PVS_MATCH_NONE] = NULL,
						   [PVS_MATCH_DOMID] = "domid",
						   [PVS_MATCH_BACKEND_DOMID] = "backend-domid",
						   [PVS_MATCH_DEVID] = "devid" };
	json_object *name, *v, *min = NULL, *max = NULL, *req_in = NULL, *req_when = NULL;
	char why[160];
	int rc, tmp;

	k->owner = t;
	k->side = side;
	if (!json_object_is_type(o, json_type_object))
		return fail(L, -EINVAL, "a key must be an object");
	if (!json_object_object_get_ex(o, "name", &name) ||
	    !json_object_is_type(name, json_type_string))
		return fail(L, -EINVAL, "a key needs a string \"name\"");
	snprintf(L->where, sizeof(L->where), "%s key '%s'", side_names[side],
		 json_object_get_string(name));
	why[0] = '\0';
	rc = pvsi_pattern_init(&k->name, json_object_get_string(name), why, sizeof(why));
	if (rc)
		return fail(L, rc, "bad name: %s", why);

	/* type first: other members depend on it */
	if (!json_object_object_get_ex(o, "type", &v))
		return fail(L, -EINVAL, "missing \"type\"");
	rc = parse_enum_name(L, v, "type", type_names, sizeof(type_names) / sizeof(type_names[0]),
			     &tmp);
	if (rc)
		return rc;
	k->type = (enum pvs_type)tmp;

	json_object_object_foreach(o, member, val)
	{
		rc = 0;
		if (!strcmp(member, "name") || !strcmp(member, "type") ||
		    !strcmp(member, "comment")) {
			continue;
		} else if (!strcmp(member, "writer")) {
			rc = parse_enum_name(L, val, "writer", writer_names,
					     sizeof(writer_names) / sizeof(writer_names[0]), &tmp);
			k->writer = (enum pvs_writer)tmp;
		} else if (!strcmp(member, "doc")) {
			rc = dup_string(L, val, "doc", &k->doc);
		} else if (!strcmp(member, "source")) {
			rc = dup_source(L, val, &k->source);
		} else if (!strcmp(member, "default")) {
			rc = dup_string(L, val, "default", &k->defval);
		} else if (!strcmp(member, "deprecated")) {
			if (!json_object_is_type(val, json_type_boolean))
				rc = fail(L, -EINVAL, "\"deprecated\" must be true or false");
			k->deprecated = json_object_get_boolean(val);
		} else if (!strcmp(member, "values")) {
			size_t i, n;

			if (k->type != PVS_TYPE_ENUM)
				return fail(L, -EINVAL, "\"values\" is only for enum keys");
			if (!json_object_is_type(val, json_type_array) ||
			    !(n = json_object_array_length(val)))
				return fail(L, -EINVAL, "\"values\" must be a non-empty list");
			k->values = calloc(n, sizeof(*k->values));
			if (!k->values)
				return -ENOMEM;
			for (i = 0; i < n; i++) {
				rc = dup_string(L, json_object_array_get_idx(val, i), "values",
						&k->values[i]);
				if (rc)
					return rc;
				k->nvalues = i + 1;
			}
		} else if (!strcmp(member, "min")) {
			min = val;
		} else if (!strcmp(member, "max")) {
			max = val;
		} else if (!strcmp(member, "regex")) {
			int err;

			if (k->type != PVS_TYPE_STRING)
				return fail(L, -EINVAL, "\"regex\" is only for string keys");
			rc = dup_string(L, val, "regex", &k->regex_src);
			if (rc)
				return rc;
			err = regcomp(&k->regex, k->regex_src, REG_EXTENDED | REG_NOSUB);
			if (err) {
				regerror(err, &k->regex, why, sizeof(why));
				return fail(L, -EINVAL, "bad regex /%s/: %s", k->regex_src, why);
			}
			k->has_regex = true;
		} else if (!strcmp(member, "required_in")) {
			req_in = val;
		} else if (!strcmp(member, "required_when")) {
			req_when = val;
		} else if (!strcmp(member, "required")) {
			rc = parse_rules(L, k, val);
		} else if (!strcmp(member, "matches")) {
			if (k->type != PVS_TYPE_UINT && k->type != PVS_TYPE_DOMID)
				return fail(L, -EINVAL,
					    "\"matches\" is only for uint and domid keys");
			rc = parse_enum_name(L, val, "matches", match_names,
					     sizeof(match_names) / sizeof(match_names[0]), &tmp);
			k->matches = (enum pvs_match_var)tmp;
		} else if (!strcmp(member, "link")) {
			if (k->type != PVS_TYPE_PATH)
				return fail(L, -EINVAL, "\"link\" is only for path keys");
			rc = parse_enum_name(L, val, "link", side_names, 2, &tmp);
			k->link = (enum pvs_side)tmp;
			k->has_link = true;
		} else {
			return fail(L, -EINVAL, "unknown member \"%s\"", member);
		}
		if (rc)
			return rc;
	}

	if (!json_object_object_get_ex(o, "writer", &v))
		return fail(L, -EINVAL, "missing \"writer\"");
	if (!k->doc || !*k->doc)
		return fail(L, -EINVAL, "missing \"doc\"");
	if (k->type == PVS_TYPE_ENUM && !k->nvalues)
		return fail(L, -EINVAL, "an enum key needs \"values\"");
	if (min && (rc = parse_number(L, k, min, false)))
		return rc;
	if (max && (rc = parse_number(L, k, max, true)))
		return rc;
	if (k->has_min && k->has_max &&
	    (k->type == PVS_TYPE_UINT ? k->umin > k->umax : k->imin > k->imax))
		return fail(L, -EINVAL, "\"min\" is above \"max\"");
	if (req_when && !req_in)
		return fail(L, -EINVAL, "\"required_when\" needs \"required_in\"");
	if (req_in) {
		struct pvs_rule *r;

		rc = add_rule(k, &r);
		if (rc)
			return rc;
		rc = parse_required_in(L, req_in, &r->mask);
		if (!rc && req_when) {
			r->has_cond = true;
			rc = parse_cond(L, req_when, &r->cond);
		}
		if (rc)
			return rc;
	}
	if (k->defval && k->type != PVS_TYPE_DIR) {
		if (pvs_key_check_value(k, k->defval, why, sizeof(why)))
			return fail(L, -EINVAL, "bad \"default\": %s", why);
	}
	return 0;
}

static int parse_paths(struct loader *L, struct pvs_devtype *t, json_object *o)
{
	size_t s, i, n;

	if (!json_object_is_type(o, json_type_object))
		return fail(L, -EINVAL, "\"paths\" must be an object");
	json_object_object_foreach(o, name, val)
	{
		if (strcmp(name, "frontend") && strcmp(name, "backend"))
			return fail(L, -EINVAL, "\"paths\": unknown side \"%s\"", name);
	}
	for (s = 0; s < 2; s++) {
		json_object *a;

		if (!json_object_object_get_ex(o, side_names[s], &a) ||
		    !json_object_is_type(a, json_type_array) || !(n = json_object_array_length(a)))
			return fail(L, -EINVAL, "\"paths\" needs a non-empty \"%s\" list",
				    side_names[s]);
		t->side[s].paths = calloc(n, sizeof(char *));
		if (!t->side[s].paths)
			return -ENOMEM;
		for (i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(a, i);
			const char *p, *c;
			bool have_domid = false, have_be = false, have_devid = false;
			size_t len;
			int rc;

			rc = dup_string(L, e, "paths", &t->side[s].paths[i]);
			if (rc)
				return rc;
			t->side[s].npaths = i + 1;
			p = t->side[s].paths[i];
			if (p[0] != '/' || p[1] == '\0' || p[strlen(p) - 1] == '/' ||
			    strstr(p, "//"))
				return fail(L, -EINVAL,
					    "path template \"%s\" is not an absolute path", p);
			for (c = p + 1; *c; c += len + (c[len] == '/')) {
				len = strcspn(c, "/");
				if (c[0] != '{')
					continue;
				if (len == 7 && !memcmp(c, "{domid}", 7) && !have_domid)
					have_domid = true;
				else if (len == 15 && !memcmp(c, "{backend-domid}", 15) && !have_be)
					have_be = true;
				else if (len == 7 && !memcmp(c, "{devid}", 7) && !have_devid)
					have_devid = true;
				else
					return fail(
						L, -EINVAL,
						"path template \"%s\": placeholders are whole "
						"components, once each: {domid}, {backend-domid}, "
						"{devid}",
						p);
			}
			if (!have_domid)
				return fail(L, -EINVAL, "path template \"%s\" lacks {domid}", p);
			if (s == PVS_SIDE_BACKEND && !have_be)
				return fail(L, -EINVAL,
					    "backend path template \"%s\" lacks {backend-domid}",
					    p);
			if (s == PVS_SIDE_FRONTEND && have_be)
				return fail(L, -EINVAL,
					    "frontend path template \"%s\" has {backend-domid}", p);
		}
	}
	return 0;
}

static const struct pvs_key *find_exact(const struct pvs_side_def *sd, const char *name)
{
	size_t i;

	for (i = 0; i < sd->nkeys; i++)
		if (!strcmp(sd->keys[i].name.text, name))
			return &sd->keys[i];
	return NULL;
}

/* Cross-checks once all keys of a type are known. */
static int check_refs(struct loader *L, struct pvs_devtype *t)
{
	size_t s, i, j, r;

	for (s = 0; s < 2; s++) {
		struct pvs_side_def *sd = &t->side[s];

		for (i = 0; i < sd->nkeys; i++) {
			struct pvs_key *k = &sd->keys[i];

			snprintf(L->where, sizeof(L->where), "%s key '%s'", side_names[s],
				 k->name.text);
			if (find_exact(sd, k->name.text) != k)
				return fail(L, -EINVAL, "duplicate key");
			for (r = 0; r < k->nrules; r++) {
				struct pvs_cond *c = &k->rules[r].cond;

				for (j = 0; j < c->npresent; j++)
					if (!find_exact(sd, c->present[j].text))
						return fail(L, -EINVAL,
							    "condition names unknown key \"%s\"",
							    c->present[j].text);
				for (j = 0; j < c->nabsent; j++)
					if (!find_exact(sd, c->absent[j].text))
						return fail(L, -EINVAL,
							    "condition names unknown key \"%s\"",
							    c->absent[j].text);
				if (c->path) {
					for (j = 0; j < sd->npaths; j++)
						if (!strcmp(sd->paths[j], c->path))
							break;
					if (j == sd->npaths)
						return fail(
							L, -EINVAL,
							"condition \"path\" \"%s\" is not one of "
							"the %s path templates",
							c->path, side_names[s]);
				}
			}
		}
	}
	L->where[0] = '\0';
	return 0;
}

static int parse_type(struct loader *L, json_object *root, struct pvs_devtype *t)
{
	json_object *v, *sides[2] = { NULL, NULL };
	const char *p;
	size_t s, i, n;
	int rc;

	if (!json_object_is_type(root, json_type_object))
		return fail(L, -EINVAL, "the top level must be an object");
	if (!json_object_object_get_ex(root, "schema", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), PVS_SCHEMA_FORMAT))
		return fail(L, -EINVAL, "\"schema\" must be \"%s\"", PVS_SCHEMA_FORMAT);

	json_object_object_foreach(root, member, val)
	{
		rc = 0;
		if (!strcmp(member, "schema") || !strcmp(member, "comment"))
			continue;
		else if (!strcmp(member, "type"))
			rc = dup_string(L, val, "type", &t->name);
		else if (!strcmp(member, "doc"))
			rc = dup_string(L, val, "doc", &t->doc);
		else if (!strcmp(member, "source"))
			rc = dup_source(L, val, &t->source);
		else if (!strcmp(member, "paths"))
			rc = parse_paths(L, t, val);
		else if (!strcmp(member, "frontend"))
			sides[PVS_SIDE_FRONTEND] = val;
		else if (!strcmp(member, "backend"))
			sides[PVS_SIDE_BACKEND] = val;
		else
			rc = fail(L, -EINVAL, "unknown member \"%s\"", member);
		if (rc)
			return rc;
	}
	if (!t->name || !*t->name)
		return fail(L, -EINVAL, "missing \"type\"");
	for (p = t->name; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", *p))
			return fail(L, -EINVAL, "bad \"type\" name \"%s\"", t->name);
	if (!t->doc)
		return fail(L, -EINVAL, "missing \"doc\"");
	if (!t->side[0].npaths)
		return fail(L, -EINVAL, "missing \"paths\"");
	for (s = 0; s < 2; s++) {
		if (!sides[s] || !json_object_is_type(sides[s], json_type_array) ||
		    !(n = json_object_array_length(sides[s])))
			return fail(L, -EINVAL, "\"%s\" must be a non-empty list of keys",
				    side_names[s]);
		t->side[s].keys = calloc(n, sizeof(struct pvs_key));
		if (!t->side[s].keys)
			return -ENOMEM;
		for (i = 0; i < n; i++) {
			t->side[s].nkeys = i + 1;
			rc = parse_key(L, t, (enum pvs_side)s,
				       json_object_array_get_idx(sides[s], i), &t->side[s].keys[i]);
			if (rc)
				return rc;
		}
		L->where[0] = '\0';
	}
	return check_refs(L, t);
}

static void offset_to_line(const char *buf, size_t off, size_t len, int *line, int *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

int pvs_schema_add_buffer(struct pvs_schema *s, const char *buf, size_t len, const char *origin,
			  char **errmsg)
{
	struct loader L = { .origin = origin ? origin : "<buffer>", .errmsg = errmsg };
	struct json_tokener *tok;
	struct pvs_devtype *t, **types;
	json_object *root;
	size_t i, end;
	int rc;

	if (errmsg)
		*errmsg = NULL;
	if (!s || (!buf && len))
		return -EINVAL;
	if (len > MAX_FILE_SIZE)
		return fail(&L, -EFBIG, "larger than %u bytes", MAX_FILE_SIZE);
	if (len > (size_t)INT32_MAX)
		return -EFBIG;
	if (memchr(buf, '\0', len))
		return fail(&L, -EINVAL, "holds a NUL byte");

	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, buf ? buf : "", (int)len);
	if (!root) {
		enum json_tokener_error jerr = json_tokener_get_error(tok);
		int line, col;

		offset_to_line(buf, json_tokener_get_parse_end(tok), len, &line, &col);
		json_tokener_free(tok);
		if (jerr == json_tokener_continue)
			return fail(&L, -EINVAL, "line %d: unexpected end of JSON", line);
		return fail(&L, -EINVAL, "line %d column %d: JSON error: %s", line, col,
			    json_tokener_error_desc(jerr));
	}
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	for (; end < len; end++) {
		if (!strchr(" \t\r\n", buf[end])) {
			int line, col;

			offset_to_line(buf, end, len, &line, &col);
			json_object_put(root);
			return fail(&L, -EINVAL, "line %d column %d: trailing data after JSON",
				    line, col);
		}
	}

	t = calloc(1, sizeof(*t));
	if (!t) {
		json_object_put(root);
		return -ENOMEM;
	}
	t->owner = s;
	t->origin = strdup(L.origin);
	rc = t->origin ? parse_type(&L, root, t) : -ENOMEM;
	json_object_put(root);
	if (rc)
		goto fail;

	for (i = 0; i < s->ntypes; i++) {
		if (!strcmp(s->types[i]->name, t->name)) {
			rc = fail(&L, -EINVAL, "device type \"%s\" is already defined by %s",
				  t->name, s->types[i]->origin);
			goto fail;
		}
	}
	types = realloc(s->types, (s->ntypes + 1) * sizeof(*types));
	if (!types) {
		rc = -ENOMEM;
		goto fail;
	}
	s->types = types;
	s->types[s->ntypes++] = t;
	return 0;
fail:
	if (rc == -ENOMEM)
		fail(&L, rc, "out of memory");
	devtype_free(t);
	return rc;
}

int pvs_schema_add_file(struct pvs_schema *s, const char *path, char **errmsg)
{
	struct loader L = { .origin = path, .errmsg = errmsg };
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, rc;

	if (errmsg)
		*errmsg = NULL;
	if (!s || !path)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		return fail(&L, rc, "cannot open: %s", strerror(-rc));
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return fail(&L, rc, "cannot stat: %s", strerror(-rc));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail(&L, -EINVAL, "not a regular file");
	}
	if (st.st_size > (off_t)MAX_FILE_SIZE) {
		close(fd);
		return fail(&L, -EFBIG, "larger than %u bytes", MAX_FILE_SIZE);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return fail(&L, -ENOMEM, "out of memory");
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			close(fd);
			free(buf);
			return fail(&L, rc, "cannot read: %s", strerror(-rc));
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	rc = pvs_schema_add_buffer(s, buf, got, path, errmsg);
	free(buf);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int pvs_schema_load(struct pvs_schema **out, const char *dir, char **errmsg)
{
	struct loader L = { .errmsg = errmsg };
	struct pvs_schema *s = NULL;
	struct dirent *de;
	char **names = NULL, path[PVS_PATH_MAX];
	size_t n = 0, i;
	DIR *d;
	int rc;

	if (errmsg)
		*errmsg = NULL;
	if (!out)
		return -EINVAL;
	if (!dir)
		dir = pvs_schema_default_dir();
	L.origin = dir;
	d = opendir(dir);
	if (!d) {
		rc = -errno;
		return fail(&L, rc, "cannot open schema directory: %s", strerror(-rc));
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char **nn;

		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		nn = realloc(names, (n + 1) * sizeof(*names));
		if (!nn || !(nn[n] = strdup(de->d_name))) {
			names = nn ? nn : names;
			rc = -ENOMEM;
			goto out;
		}
		names = nn;
		n++;
	}
	if (!n) {
		rc = fail(&L, -ENOENT, "no .json schema file in the directory");
		goto out;
	}
	qsort(names, n, sizeof(*names), cmp_names);
	rc = pvs_schema_new(&s);
	if (rc)
		goto out;
	for (i = 0; i < n; i++) {
		rc = pvsi_fmt(path, sizeof(path), "%s/%s", dir, names[i]);
		if (rc < 0) {
			rc = fail(&L, -ENAMETOOLONG, "path too long");
			goto out;
		}
		rc = pvs_schema_add_file(s, path, errmsg);
		if (rc)
			goto out;
	}
	*out = s;
	s = NULL;
	rc = 0;
out:
	if (rc == -ENOMEM)
		fail(&L, rc, "out of memory");
	closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	pvs_schema_free(s);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Lookups and accessors                                               */
/* ------------------------------------------------------------------ */

size_t pvs_schema_type_count(const struct pvs_schema *s)
{
	return s ? s->ntypes : 0;
}

const struct pvs_devtype *pvs_schema_type_at(const struct pvs_schema *s, size_t i)
{
	return s && i < s->ntypes ? s->types[i] : NULL;
}

int pvs_schema_type(const struct pvs_schema *s, const char *name, const struct pvs_devtype **out)
{
	size_t i;

	if (!s || !name || !out)
		return -EINVAL;
	for (i = 0; i < s->ntypes; i++) {
		if (!strcmp(s->types[i]->name, name)) {
			*out = s->types[i];
			return 0;
		}
	}
	return -ENOENT;
}

const char *pvs_devtype_name(const struct pvs_devtype *t)
{
	return t ? t->name : NULL;
}

const char *pvs_devtype_doc(const struct pvs_devtype *t)
{
	return t ? t->doc : NULL;
}

const char *pvs_devtype_origin(const struct pvs_devtype *t)
{
	return t ? t->origin : NULL;
}

size_t pvs_devtype_path_count(const struct pvs_devtype *t, enum pvs_side side)
{
	return t && (unsigned)side < 2 ? t->side[side].npaths : 0;
}

const char *pvs_devtype_path_at(const struct pvs_devtype *t, enum pvs_side side, size_t i)
{
	return t && (unsigned)side < 2 && i < t->side[side].npaths ? t->side[side].paths[i] : NULL;
}

size_t pvs_devtype_key_count(const struct pvs_devtype *t, enum pvs_side side)
{
	return t && (unsigned)side < 2 ? t->side[side].nkeys : 0;
}

const struct pvs_key *pvs_devtype_key_at(const struct pvs_devtype *t, enum pvs_side side, size_t i)
{
	return t && (unsigned)side < 2 && i < t->side[side].nkeys ? &t->side[side].keys[i] : NULL;
}

int pvs_devtype_key(const struct pvs_devtype *t, enum pvs_side side, const char *name,
		    const struct pvs_key **out)
{
	const struct pvs_side_def *sd;
	const struct pvs_key *k;
	size_t i;

	if (!t || !name || !out || (unsigned)side >= 2)
		return -EINVAL;
	sd = &t->side[side];
	k = find_exact(sd, name);
	if (k) {
		*out = k;
		return 0;
	}
	for (i = 0; i < sd->nkeys; i++) {
		struct pvs_binding b = { 0 };

		if (sd->keys[i].name.has_vars && pvsi_pattern_match(&sd->keys[i].name, name, &b)) {
			*out = &sd->keys[i];
			return 0;
		}
	}
	return -ENOENT;
}

const char *pvs_key_name(const struct pvs_key *k)
{
	return k ? k->name.text : NULL;
}

enum pvs_side pvs_key_side(const struct pvs_key *k)
{
	return k ? k->side : PVS_SIDE_FRONTEND;
}

const struct pvs_devtype *pvs_key_devtype(const struct pvs_key *k)
{
	return k ? k->owner : NULL;
}

enum pvs_writer pvs_key_writer(const struct pvs_key *k)
{
	return k ? k->writer : PVS_WRITER_TOOLSTACK;
}

enum pvs_type pvs_key_type(const struct pvs_key *k)
{
	return k ? k->type : PVS_TYPE_STRING;
}

const char *pvs_key_doc(const struct pvs_key *k)
{
	return k ? k->doc : NULL;
}

const char *pvs_key_source(const struct pvs_key *k)
{
	if (!k)
		return NULL;
	return k->source ? k->source : k->owner->source;
}

const char *pvs_key_default(const struct pvs_key *k)
{
	return k ? k->defval : NULL;
}

bool pvs_key_is_pattern(const struct pvs_key *k)
{
	return k && k->name.has_vars;
}

bool pvs_key_is_deprecated(const struct pvs_key *k)
{
	return k && k->deprecated;
}

uint32_t pvs_key_required_mask(const struct pvs_key *k)
{
	uint32_t m = 0;
	size_t i;

	if (!k)
		return 0;
	for (i = 0; i < k->nrules; i++)
		m |= k->rules[i].mask;
	return m;
}

size_t pvs_key_value_count(const struct pvs_key *k)
{
	return k ? k->nvalues : 0;
}

const char *pvs_key_value_at(const struct pvs_key *k, size_t i)
{
	return k && i < k->nvalues ? k->values[i] : NULL;
}
