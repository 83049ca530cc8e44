/* Leader preference: parsing, formatting and checking leaders.preference, and ranks. */
#include <stdio.h>
#include <string.h>

#include "placement/internal.h"

#define PREF_USAGE "expected none, regions:<r1>[,<r2>...] or racks:<a>[,<b>...]"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trims blanks from [*b, *e). */
static void trim(const char **b, const char **e)
{
	while (*b < *e && is_blank(**b)) {
		(*b)++;
	}
	while (*e > *b && is_blank((*e)[-1])) {
		(*e)--;
	}
}

static bool span_is(const char *b, const char *e, const char *word)
{
	size_t n = strlen(word);
	return (size_t)(e - b) == n && memcmp(b, word, n) == 0;
}

static void set_none(struct pl_preference *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = PL_PREF_NONE;
}

/* Parses the comma-separated names in [b, e) into out. */
static int parse_names(const char *value, const char *b, const char *e, struct pl_preference *out,
		       char *errmsg, size_t len)
{
	int pos = 0;
	for (const char *item = b;; pos++) {
		const char *end = item;
		while (end < e && *end != ',') {
			end++;
		}
		const char *nb = item;
		const char *ne = end;
		trim(&nb, &ne);
		size_t n = (size_t)(ne - nb);
		if (n == 0) {
			pl__errmsg(errmsg, len,
				   "leaders.preference: empty name at position %d of '%s'", pos + 1,
				   value);
			return PL_ERR_PREF_SYNTAX;
		}
		if (pos >= PL_PREF_NAMES_MAX) {
			pl__errmsg(errmsg, len, "leaders.preference: more than %d names in '%s'",
				   PL_PREF_NAMES_MAX, value);
			return PL_ERR_PREF_SYNTAX;
		}
		char name[PL_NAME_BYTES_MAX] = {0};
		memcpy(name, nb, n < sizeof(name) ? n : sizeof(name) - 1);
		if (n >= sizeof(name) || !pl__name_valid(name)) {
			pl__errmsg(
			    errmsg, len,
			    "leaders.preference: invalid name '%.*s' at position %d (use 1-%d "
			    "characters of [A-Za-z0-9._/-])",
			    (int)SL_MIN(n, (size_t)PL_NAME_BYTES_MAX), nb, pos + 1,
			    PL_NAME_BYTES_MAX - 1);
			return PL_ERR_PREF_SYNTAX;
		}
		for (int i = 0; i < pos; i++) {
			if (strcmp(out->names[i], name) == 0) {
				pl__errmsg(errmsg, len,
					   "leaders.preference: '%s' is listed twice in '%s'", name,
					   value);
				return PL_ERR_PREF_SYNTAX;
			}
		}
		memcpy(out->names[pos], name, sizeof(name));
		out->n_names = pos + 1;
		if (end == e) {
			return 0;
		}
		item = end + 1;
	}
}

int pl_preference_parse(const char *value, struct pl_preference *out, char *errmsg,
			size_t errmsg_len)
{
	SL_ASSERT(out != NULL);
	set_none(out);
	pl__errmsg(errmsg, errmsg_len, "%s", "");
	if (value == NULL) {
		return 0;
	}
	const char *b = value;
	const char *e = value + strlen(value);
	trim(&b, &e);
	if (span_is(b, e, "none")) {
		return 0;
	}
	const char *colon = memchr(b, ':', (size_t)(e - b));
	if (colon == NULL) {
		pl__errmsg(errmsg, errmsg_len, "leaders.preference: " PREF_USAGE ", got '%s'",
			   value);
		return PL_ERR_PREF_SYNTAX;
	}
	const char *kb = b;
	const char *ke = colon;
	trim(&kb, &ke);
	enum pl_pref_kind kind;
	if (span_is(kb, ke, "regions")) {
		kind = PL_PREF_REGIONS;
	} else if (span_is(kb, ke, "racks")) {
		kind = PL_PREF_RACKS;
	} else {
		pl__errmsg(errmsg, errmsg_len,
			   "leaders.preference: unknown kind '%.*s'; " PREF_USAGE,
			   (int)SL_MIN((size_t)(ke - kb), (size_t)PL_NAME_BYTES_MAX), kb);
		return PL_ERR_PREF_SYNTAX;
	}
	const char *lb = colon + 1;
	const char *le = e;
	trim(&lb, &le);
	if (lb == le) {
		pl__errmsg(errmsg, errmsg_len,
			   "leaders.preference: '%s' lists no names; " PREF_USAGE, value);
		return PL_ERR_PREF_SYNTAX;
	}
	int rc = parse_names(value, lb, le, out, errmsg, errmsg_len);
	if (rc != 0) {
		set_none(out);
		return rc;
	}
	out->kind = kind;
	return 0;
}

bool pl__pref_valid(const struct pl_preference *p)
{
	if (p->kind == PL_PREF_NONE) {
		return p->n_names == 0;
	}
	if ((p->kind != PL_PREF_REGIONS && p->kind != PL_PREF_RACKS) || p->n_names < 1 ||
	    p->n_names > PL_PREF_NAMES_MAX) {
		return false;
	}
	for (int i = 0; i < p->n_names; i++) {
		if (memchr(p->names[i], '\0', PL_NAME_BYTES_MAX) == NULL ||
		    !pl__name_valid(p->names[i])) {
			return false;
		}
		for (int j = 0; j < i; j++) {
			if (strcmp(p->names[i], p->names[j]) == 0) {
				return false;
			}
		}
	}
	return true;
}

int pl_preference_format(const struct pl_preference *pref, char *buf, size_t len)
{
	SL_ASSERT(pref != NULL && buf != NULL);
	if (len > 0) {
		buf[0] = '\0';
	}
	if (!pl__pref_valid(pref)) {
		return PL_ERR_INVAL;
	}
	char tmp[PL_PREF_STRING_BYTES_MAX];
	size_t n = 0;
	if (pref->kind == PL_PREF_NONE) {
		n = (size_t)snprintf(tmp, sizeof(tmp), "none");
	} else {
		n = (size_t)snprintf(tmp, sizeof(tmp),
				     "%s:", pref->kind == PL_PREF_REGIONS ? "regions" : "racks");
		for (int i = 0; i < pref->n_names; i++) {
			n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, "%s%s", i > 0 ? "," : "",
					      pref->names[i]);
		}
	}
	SL_ASSERT(n < sizeof(tmp));
	if (n >= len) {
		return PL_ERR_NOSPACE;
	}
	memcpy(buf, tmp, n + 1);
	return (int)n;
}

bool pl_preference_equal(const struct pl_preference *a, const struct pl_preference *b)
{
	if (a->kind != b->kind || a->n_names != b->n_names) {
		return false;
	}
	for (int i = 0; i < a->n_names; i++) {
		if (strcmp(a->names[i], b->names[i]) != 0) {
			return false;
		}
	}
	return true;
}

/* Returns the number of live brokers in region r (or rack k if r < 0). */
static int live_in(const struct pl_topology *t, int region, int rack)
{
	int n = 0;
	for (int i = 0; i < t->n_brokers; i++) {
		const struct pl__broker_rec *b = &t->brokers[i];
		if (b->alive && (region < 0 || b->region == region) &&
		    (rack < 0 || b->rack == rack)) {
			n++;
		}
	}
	return n;
}

/* Describes one preferred name that cannot host leaders, appending to msg. */
static void describe_missing(const struct pl_preference *pref, const struct pl_topology *t,
			     const char *name, char *msg, size_t len)
{
	size_t used = strlen(msg);
	if (used + 1 >= len) {
		return;
	}
	bool regions = pref->kind == PL_PREF_REGIONS;
	int idx = regions ? pl__region_index(t, name) : pl__rack_index(t, name);
	const char *what = regions ? "region" : "rack";
	if (idx >= 0) {
		snprintf(msg + used, len - used, "%s%s %s has no live broker", used ? "; " : "",
			 what, name);
	} else if (regions && pl__rack_index(t, name) >= 0) {
		snprintf(msg + used, len - used, "%s%s is a rack, not a region (use racks:%s?)",
			 used ? "; " : "", name, name);
	} else if (!regions && pl__region_index(t, name) >= 0) {
		snprintf(msg + used, len - used, "%s%s is a region, not a rack (use regions:%s?)",
			 used ? "; " : "", name, name);
	} else {
		snprintf(msg + used, len - used, "%sno %s named %s", used ? "; " : "", what, name);
	}
}

int pl_preference_check(const struct pl_preference *pref, const struct pl_topology *t,
			bool *partial, char *errmsg, size_t errmsg_len)
{
	SL_ASSERT(t != NULL);
	if (partial != NULL) {
		*partial = false;
	}
	pl__errmsg(errmsg, errmsg_len, "%s", "");
	if (pref == NULL || pref->kind == PL_PREF_NONE) {
		return 0;
	}
	if (!pl__pref_valid(pref)) {
		pl__errmsg(errmsg, errmsg_len, "leaders.preference: invalid value");
		return PL_ERR_INVAL;
	}
	char msg[PL_ERRMSG_BYTES] = "";
	int usable = 0;
	for (int i = 0; i < pref->n_names; i++) {
		const char *name = pref->names[i];
		int idx = pref->kind == PL_PREF_REGIONS ? pl__region_index(t, name)
							: pl__rack_index(t, name);
		bool live = idx >= 0 && (pref->kind == PL_PREF_REGIONS ? live_in(t, idx, -1)
								       : live_in(t, -1, idx)) > 0;
		if (live) {
			usable++;
		} else {
			describe_missing(pref, t, name, msg, sizeof(msg));
		}
	}
	if (usable == 0) {
		pl__errmsg(errmsg, errmsg_len, "leaders.preference cannot be met: %s", msg);
		return PL_ERR_PREF_UNSATISFIABLE;
	}
	if (usable < pref->n_names) {
		if (partial != NULL) {
			*partial = true;
		}
		pl__errmsg(errmsg, errmsg_len, "leaders.preference partly unavailable: %s", msg);
	}
	return 0;
}

int pl_preference_rank(const struct pl_preference *pref, const struct pl_topology *t,
		       int32_t broker_id)
{
	SL_ASSERT(t != NULL);
	if (pref == NULL || pref->kind == PL_PREF_NONE) {
		return 0;
	}
	int i = pl__broker_index(t, broker_id);
	if (i < 0) {
		return pref->n_names;
	}
	const struct pl__broker_rec *b = &t->brokers[i];
	const char *name =
	    pref->kind == PL_PREF_REGIONS ? t->regions[b->region] : t->racks[b->rack].name;
	for (int r = 0; r < pref->n_names; r++) {
		if (strcmp(pref->names[r], name) == 0) {
			return r;
		}
	}
	return pref->n_names;
}

int pl__pref_resolve(const struct pl_preference *pref, const struct pl_topology *t,
		     struct pl__pref_ranks *out)
{
	bool none = pref == NULL || pref->kind == PL_PREF_NONE;
	out->n_names = none ? 0 : pref->n_names;
	out->lead_region = -1;
	out->lead_rack = -1;
	out->lead_region_of = -1;
	for (int r = 0; r < t->n_regions; r++) {
		out->region_rank[r] = out->n_names;
	}
	for (int k = 0; k < t->n_racks; k++) {
		out->rack_rank[k] = out->n_names;
	}
	if (none) {
		return 0;
	}
	int usable = 0;
	for (int i = pref->n_names - 1; i >= 0; i--) {
		bool regions = pref->kind == PL_PREF_REGIONS;
		int idx = regions ? pl__region_index(t, pref->names[i])
				  : pl__rack_index(t, pref->names[i]);
		if (idx < 0) {
			continue;
		}
		int live = regions ? live_in(t, idx, -1) : live_in(t, -1, idx);
		if (regions) {
			out->region_rank[idx] = i;
		} else {
			out->rack_rank[idx] = i;
			if (live > 0) {
				out->region_rank[t->racks[idx].region] = i;
			}
		}
		if (live > 0) {
			usable++;
			/* Iterating backwards, the last live entry seen is the first. */
			out->lead_region = regions ? idx : -1;
			out->lead_rack = regions ? -1 : idx;
			out->lead_region_of = regions ? idx : t->racks[idx].region;
		}
	}
	return usable;
}
