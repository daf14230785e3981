/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpvsplit-schema: key name patterns and value validation.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define DOMID_MAX 32751 /* DOMID_FIRST_RESERVED (0x7FF0) - 1 */

int pvsi_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!buf || !len)
		return -ERANGE;
	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return -ERANGE;
	return n;
}

static void why_set(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void why_set(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

bool pvsi_is_canonical_decimal(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return !(len > 1 && s[0] == '0');
}

bool pvsi_parse_small(const char *s, size_t len, int *out)
{
	long v = 0;
	size_t i;

	if (!pvsi_is_canonical_decimal(s, len) || len > 10)
		return false;
	for (i = 0; i < len; i++) {
		v = v * 10 + (s[i] - '0');
		if (v > 0x7fffffffL)
			return false;
	}
	*out = (int)v;
	return true;
}

bool pvsi_is_xs_path(const char *s)
{
	static const char ok[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-/_@";
	size_t n;

	if (!s || s[0] != '/')
		return false;
	n = strlen(s);
	if (n > PVS_PATH_MAX || strspn(s, ok) != n)
		return false;
	if (n == 1)
		return true;
	if (s[n - 1] == '/' || strstr(s, "//"))
		return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* Patterns                                                            */
/* ------------------------------------------------------------------ */

static bool is_var_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Check one component's syntax; count its placeholders. */
static int comp_check(const char *c, size_t *nvars, char *why, size_t whylen)
{
	const char *p = c;
	bool prev_var = false;

	if (!*c) {
		why_set(why, whylen, "empty path component");
		return -EINVAL;
	}
	while (*p) {
		if (*p == '{') {
			const char *q = p + 1;

			if (prev_var) {
				why_set(why, whylen, "two placeholders without a separator");
				return -EINVAL;
			}
			while (*q && is_var_char(*q))
				q++;
			if (*q != '}' || q == p + 1) {
				why_set(why, whylen,
					"bad placeholder (want {name}, name of [a-z0-9_-])");
				return -EINVAL;
			}
			(*nvars)++;
			p = q + 1;
			prev_var = true;
			continue;
		}
		if (*p == '}') {
			why_set(why, whylen, "unmatched '}'");
			return -EINVAL;
		}
		if (prev_var && *p >= '0' && *p <= '9') {
			why_set(why, whylen, "a placeholder may not be followed by a digit");
			return -EINVAL;
		}
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_@",
			    *p)) {
			why_set(why, whylen, "character '%c' is not allowed in xenstore names", *p);
			return -EINVAL;
		}
		prev_var = false;
		p++;
	}
	return 0;
}

int pvsi_pattern_init(struct pvs_pattern *p, const char *text, char *why, size_t whylen)
{
	const char *s, *e;
	size_t nvars = 0, i;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!text || !*text || text[0] == '/') {
		why_set(why, whylen, "a key name must be a non-empty relative path");
		return -EINVAL;
	}
	p->text = strdup(text);
	if (!p->text)
		return -ENOMEM;
	p->ncomp = 1;
	for (s = text; *s; s++)
		if (*s == '/')
			p->ncomp++;
	p->comp = calloc(p->ncomp, sizeof(*p->comp));
	if (!p->comp) {
		rc = -ENOMEM;
		goto fail;
	}
	s = text;
	for (i = 0; i < p->ncomp; i++) {
		e = strchr(s, '/');
		if (!e)
			e = s + strlen(s);
		p->comp[i] = strndup(s, (size_t)(e - s));
		if (!p->comp[i]) {
			rc = -ENOMEM;
			goto fail;
		}
		rc = comp_check(p->comp[i], &nvars, why, whylen);
		if (rc)
			goto fail;
		if (i + 1 < p->ncomp)
			p->nparent_vars = nvars;
		s = *e ? e + 1 : e;
	}
	if (nvars > PVS_MAX_VARS) {
		why_set(why, whylen, "more than %d placeholders", PVS_MAX_VARS);
		rc = -EINVAL;
		goto fail;
	}
	p->has_vars = nvars > 0;
	return 0;
fail:
	pvsi_pattern_fini(p);
	return rc;
}

void pvsi_pattern_fini(struct pvs_pattern *p)
{
	size_t i;

	if (!p)
		return;
	if (p->comp)
		for (i = 0; i < p->ncomp; i++)
			free(p->comp[i]);
	free(p->comp);
	free(p->text);
	memset(p, 0, sizeof(*p));
}

/* Look up a bound placeholder; returns its index or -1. */
static int binding_find(const struct pvs_binding *b, const char *name, size_t namelen)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (b->v[i].namelen == namelen && !memcmp(b->v[i].name, name, namelen))
			return (int)i;
	return -1;
}

/* Match one pattern component against text[0..len). */
static bool comp_match(const char *pc, const char *t, size_t len, struct pvs_binding *b)
{
	size_t ti = 0;

	while (*pc) {
		if (*pc == '{') {
			const char *name = pc + 1;
			const char *close = strchr(name, '}');
			size_t namelen = (size_t)(close - name);
			size_t start = ti;
			int idx;

			while (ti < len && t[ti] >= '0' && t[ti] <= '9')
				ti++;
			if (!pvsi_is_canonical_decimal(t + start, ti - start))
				return false;
			idx = binding_find(b, name, namelen);
			if (idx >= 0) {
				if (b->v[idx].vallen != ti - start ||
				    memcmp(b->v[idx].val, t + start, ti - start))
					return false;
			} else {
				if (b->n >= PVS_MAX_VARS)
					return false;
				b->v[b->n].name = name;
				b->v[b->n].namelen = namelen;
				b->v[b->n].val = t + start;
				b->v[b->n].vallen = ti - start;
				b->n++;
			}
			pc = close + 1;
			continue;
		}
		if (ti >= len || t[ti] != *pc)
			return false;
		ti++;
		pc++;
	}
	return ti == len;
}

static bool match_comps(const struct pvs_pattern *p, size_t ncomp, const char *text,
			struct pvs_binding *b)
{
	size_t saved = b->n, i;
	const char *s = text;

	for (i = 0; i < ncomp; i++) {
		const char *e = strchr(s, '/');
		size_t len;

		if (i + 1 < ncomp) {
			if (!e)
				goto fail;
		} else if (e) {
			goto fail;
		}
		len = e ? (size_t)(e - s) : strlen(s);
		if (!comp_match(p->comp[i], s, len, b))
			goto fail;
		s = e ? e + 1 : s + len;
	}
	return true;
fail:
	b->n = saved;
	return false;
}

bool pvsi_pattern_match(const struct pvs_pattern *p, const char *text, struct pvs_binding *b)
{
	return match_comps(p, p->ncomp, text, b);
}

bool pvsi_pattern_match_prefix(const struct pvs_pattern *p, size_t ncomp, const char *text,
			       struct pvs_binding *b)
{
	if (ncomp == 0 || ncomp > p->ncomp)
		return false;
	return match_comps(p, ncomp, text, b);
}

int pvsi_pattern_subst(const struct pvs_pattern *p, const struct pvs_binding *b, char *buf,
		       size_t len)
{
	size_t o = 0, i;

	if (!len)
		return -ERANGE;
	for (i = 0; i < p->ncomp; i++) {
		const char *pc = p->comp[i];

		if (i) {
			if (o + 1 >= len)
				goto range;
			buf[o++] = '/';
		}
		while (*pc) {
			const char *close;
			int idx;

			if (*pc == '{' && (close = strchr(pc, '}')) &&
			    (idx = binding_find(b, pc + 1, (size_t)(close - pc - 1))) >= 0) {
				if (o + b->v[idx].vallen >= len)
					goto range;
				memcpy(buf + o, b->v[idx].val, b->v[idx].vallen);
				o += b->v[idx].vallen;
				pc = close + 1;
				continue;
			}
			if (o + 1 >= len)
				goto range;
			buf[o++] = *pc++;
		}
	}
	buf[o] = '\0';
	return (int)o;
range:
	buf[len - 1] = '\0';
	return -ERANGE;
}

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return false;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool parse_i64(const char *s, int64_t *out)
{
	uint64_t u;
	bool neg = false;

	if (*s == '-') {
		neg = true;
		s++;
	}
	if (!parse_u64(s, &u))
		return false;
	if (neg) {
		if (u > (uint64_t)INT64_MAX + 1)
			return false;
		*out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
	} else {
		if (u > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)u;
	}
	return true;
}

static bool is_hex_run(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool is_mac(const char *s)
{
	int i;

	if (strlen(s) != 17)
		return false;
	for (i = 0; i < 6; i++) {
		if (!is_hex_run(s + i * 3, 2))
			return false;
		if (i < 5 && s[i * 3 + 2] != ':')
			return false;
	}
	return true;
}

static bool is_uuid(const char *s)
{
	static const int groups[] = { 8, 4, 4, 4, 12 };
	size_t i;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 5; i++) {
		if (!is_hex_run(s, (size_t)groups[i]))
			return false;
		s += groups[i];
		if (i < 4) {
			if (*s != '-')
				return false;
			s++;
		}
	}
	return true;
}

static bool is_devnum(const char *s)
{
	const char *colon = strchr(s, ':');

	if (!colon || colon == s || !colon[1])
		return false;
	return is_hex_run(s, (size_t)(colon - s)) && is_hex_run(colon + 1, strlen(colon + 1));
}

int pvs_key_check_value(const struct pvs_key *k, const char *value, char *why, size_t whylen)
{
	uint64_t u;
	int64_t i;
	size_t n;

	if (!k || !value) {
		why_set(why, whylen, "no value");
		return -EINVAL;
	}

	switch (k->type) {
	case PVS_TYPE_STRING:
		if (k->has_regex && regexec(&k->regex, value, 0, NULL, 0) != 0) {
			why_set(why, whylen, "does not match /%s/", k->regex_src);
			return -EINVAL;
		}
		return 0;
	case PVS_TYPE_UINT:
		if (!parse_u64(value, &u)) {
			why_set(why, whylen, "not an unsigned decimal");
			return -EINVAL;
		}
		if ((k->has_min && u < k->umin) || (k->has_max && u > k->umax)) {
			char lo[24] = "", hi[24] = "";

			if (k->has_min)
				snprintf(lo, sizeof(lo), "%" PRIu64, k->umin);
			if (k->has_max)
				snprintf(hi, sizeof(hi), "%" PRIu64, k->umax);
			why_set(why, whylen, "outside the range %s..%s", lo, hi);
			return -ERANGE;
		}
		return 0;
	case PVS_TYPE_INT:
		if (!parse_i64(value, &i)) {
			why_set(why, whylen, "not a decimal integer");
			return -EINVAL;
		}
		if ((k->has_min && i < k->imin) || (k->has_max && i > k->imax)) {
			char lo[24] = "", hi[24] = "";

			if (k->has_min)
				snprintf(lo, sizeof(lo), "%" PRId64, k->imin);
			if (k->has_max)
				snprintf(hi, sizeof(hi), "%" PRId64, k->imax);
			why_set(why, whylen, "outside the range %s..%s", lo, hi);
			return -ERANGE;
		}
		return 0;
	case PVS_TYPE_BOOL:
		if (strcmp(value, "0") && strcmp(value, "1")) {
			why_set(why, whylen, "not a boolean (0 or 1)");
			return -EINVAL;
		}
		return 0;
	case PVS_TYPE_STATE:
		if (strlen(value) != 1 || value[0] < '1' || value[0] > '8') {
			why_set(why, whylen, "not a XenbusState (1..8)");
			return -EINVAL;
		}
		return 0;
	case PVS_TYPE_ENUM:
		for (n = 0; n < k->nvalues; n++)
			if (!strcmp(value, k->values[n]))
				return 0;
		why_set(why, whylen, "not one of the allowed values");
		return -EINVAL;
	case PVS_TYPE_DOMID:
		if (!pvsi_is_canonical_decimal(value, strlen(value)) || !parse_u64(value, &u)) {
			why_set(why, whylen, "not a domain id");
			return -EINVAL;
		}
		if (u > DOMID_MAX) {
			why_set(why, whylen, "not a domain id (0..%d)", DOMID_MAX);
			return -ERANGE;
		}
		return 0;
	case PVS_TYPE_PATH:
		if (!pvsi_is_xs_path(value)) {
			why_set(why, whylen, "not an absolute xenstore path");
			return -EINVAL;
		}
		return 0;
	case PVS_TYPE_MAC:
		if (!is_mac(value)) {
			why_set(why, whylen, "not a MAC address (xx:xx:xx:xx:xx:xx)");
			return -EINVAL;
		}
		return 0;
	case PVS_TYPE_UUID:
		if (!is_uuid(value)) {
			why_set(why, whylen, "not a UUID");
			return -EINVAL;
		}
		return 0;
	case PVS_TYPE_DEVNUM:
		if (!is_devnum(value)) {
			why_set(why, whylen, "not MAJOR:MINOR in hex");
			return -EINVAL;
		}
		return 0;
	case PVS_TYPE_DIR:
		if (*value) {
			why_set(why, whylen, "not empty (a directory node has an empty value)");
			return -EINVAL;
		}
		return 0;
	}
	why_set(why, whylen, "unknown type");
	return -EINVAL;
}

int pvs_key_describe(const struct pvs_key *k, char *buf, size_t len)
{
	char range[64] = "";
	size_t o;
	int n;

	if (!k || !buf || !len)
		return -EINVAL;
	if (k->type == PVS_TYPE_UINT && (k->has_min || k->has_max)) {
		char lo[24] = "", hi[24] = "";

		if (k->has_min)
			snprintf(lo, sizeof(lo), "%" PRIu64, k->umin);
		if (k->has_max)
			snprintf(hi, sizeof(hi), "%" PRIu64, k->umax);
		snprintf(range, sizeof(range), " %s..%s", lo, hi);
	} else if (k->type == PVS_TYPE_INT && (k->has_min || k->has_max)) {
		char lo[24] = "", hi[24] = "";

		if (k->has_min)
			snprintf(lo, sizeof(lo), "%" PRId64, k->imin);
		if (k->has_max)
			snprintf(hi, sizeof(hi), "%" PRId64, k->imax);
		snprintf(range, sizeof(range), " %s..%s", lo, hi);
	}

	switch (k->type) {
	case PVS_TYPE_STRING:
		if (k->has_regex)
			return pvsi_fmt(buf, len, "string matching /%s/", k->regex_src);
		return pvsi_fmt(buf, len, "string");
	case PVS_TYPE_UINT:
		return pvsi_fmt(buf, len, "uint%s", range);
	case PVS_TYPE_INT:
		return pvsi_fmt(buf, len, "int%s", range);
	case PVS_TYPE_BOOL:
		return pvsi_fmt(buf, len, "bool (0|1)");
	case PVS_TYPE_STATE:
		return pvsi_fmt(buf, len, "XenbusState (1..8)");
	case PVS_TYPE_DOMID:
		return pvsi_fmt(buf, len, "domid (0..%d)", DOMID_MAX);
	case PVS_TYPE_PATH:
		return pvsi_fmt(buf, len, "absolute xenstore path");
	case PVS_TYPE_MAC:
		return pvsi_fmt(buf, len, "MAC (xx:xx:xx:xx:xx:xx)");
	case PVS_TYPE_UUID:
		return pvsi_fmt(buf, len, "UUID");
	case PVS_TYPE_DEVNUM:
		return pvsi_fmt(buf, len, "devnum (hex MAJOR:MINOR)");
	case PVS_TYPE_DIR:
		return pvsi_fmt(buf, len, "directory (empty value)");
	case PVS_TYPE_ENUM:
		n = pvsi_fmt(buf, len, "enum ");
		if (n < 0)
			return n;
		o = (size_t)n;
		for (size_t i = 0; i < k->nvalues; i++) {
			n = pvsi_fmt(buf + o, len - o, "%s%s", i ? "|" : "",
				     k->values[i][0] ? k->values[i] : "\"\"");
			if (n < 0)
				return n;
			o += (size_t)n;
		}
		return (int)o;
	}
	return -EINVAL;
}
