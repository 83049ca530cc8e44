/* Parsing of configuration values by type (numbers with unit suffixes,
 * enums, lists) and of addresses: host:port endpoints, listeners, voters. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/config_int.h"

/* Bytes of a "why" message before the key name is prefixed. */
#define WHY_BYTES 400

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static void trim(const char **b, const char **e)
{
	while (*b < *e && is_blank(**b)) {
		(*b)++;
	}
	while (*e > *b && is_blank((*e)[-1])) {
		(*e)--;
	}
}

/* Parses [+-]digits spanning exactly [b, e) into *out, without overflow. */
static bool parse_i64(const char *b, const char *e, int64_t *out)
{
	bool neg = b < e && *b == '-';
	if (b < e && (*b == '-' || *b == '+')) {
		b++;
	}
	if (b == e) {
		return false;
	}
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t v = 0;
	for (; b < e; b++) {
		if (*b < '0' || *b > '9') {
			return false;
		}
		uint64_t d = (uint64_t)(*b - '0');
		if (v > (limit - d) / 10) {
			return false;
		}
		v = v * 10 + d;
	}
	*out = neg && v > 0 ? -(int64_t)(v - 1) - 1 : (int64_t)v;
	return true;
}

struct suffix {
	const char *name;
	int64_t mult;
};

static const struct suffix duration_suffixes[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000},
};

static const struct suffix bytes_suffixes[] = {
    {"b", 1},		{"k", 1LL << 10},   {"kb", 1LL << 10},	{"kib", 1LL << 10},
    {"m", 1LL << 20},	{"mb", 1LL << 20},  {"mib", 1LL << 20}, {"g", 1LL << 30},
    {"gb", 1LL << 30},	{"gib", 1LL << 30}, {"t", 1LL << 40},	{"tb", 1LL << 40},
    {"tib", 1LL << 40},
};

/* Parses an integer with an optional unit suffix (not on negatives). */
static bool parse_scaled(const char *b, const char *e, const struct suffix *sfx, size_t n_sfx,
			 int64_t *out)
{
	const char *p = b;
	if (p < e && (*p == '-' || *p == '+')) {
		p++;
	}
	while (p < e && *p >= '0' && *p <= '9') {
		p++;
	}
	int64_t v;
	if (!parse_i64(b, p, &v)) {
		return false;
	}
	const char *sb = p, *se = e;
	trim(&sb, &se);
	if (sb == se) {
		*out = v;
		return true;
	}
	if (v < 0) {
		return false;
	}
	for (size_t i = 0; i < n_sfx; i++) {
		size_t len = strlen(sfx[i].name);
		if ((size_t)(se - sb) == len && strncasecmp(sb, sfx[i].name, len) == 0) {
			if (v > INT64_MAX / sfx[i].mult) {
				return false;
			}
			*out = v * sfx[i].mult;
			return true;
		}
	}
	return false;
}

static bool parse_double(const char *s, double *out)
{
	if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s)) {
		return false;
	}
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*end != '\0' || errno != 0 || !isfinite(v)) {
		return false;
	}
	*out = v;
	return true;
}

/* Copies src into canon; false if it does not fit. */
static bool put_canon(char *canon, size_t canon_len, const char *src)
{
	size_t n = strlen(src);
	if (n + 1 > canon_len) {
		return false;
	}
	memcpy(canon, src, n + 1);
	return true;
}

static int parse_number(const struct sd_config_key *k, const char *v, char *canon, size_t canon_len,
			union sd_config_value *out, char *why)
{
	int64_t x = 0;
	bool ok;
	const char *what;
	if (k->type == SD_CONFIG_DURATION) {
		ok = parse_scaled(v, v + strlen(v), duration_suffixes,
				  SL_ARRAY_LEN(duration_suffixes), &x);
		what = "a duration (integer milliseconds, or with a suffix ms, s, m, h, d)";
	} else if (k->type == SD_CONFIG_BYTES) {
		ok = parse_scaled(v, v + strlen(v), bytes_suffixes, SL_ARRAY_LEN(bytes_suffixes),
				  &x);
		what = "a byte size (an integer, or with a suffix k, m, g, t)";
	} else {
		ok = parse_i64(v, v + strlen(v), &x);
		what = "an integer";
	}
	if (!ok) {
		snprintf(why, WHY_BYTES, "'%.120s' is not %s", v, what);
		return SD_CONFIG_EVALUE;
	}
	if (x < k->min || x > k->max) {
		snprintf(why, WHY_BYTES, "%lld is outside [%lld, %lld]%s%s", (long long)x,
			 (long long)k->min, (long long)k->max, k->unit[0] != '\0' ? " " : "",
			 k->unit);
		return SD_CONFIG_EVALUE;
	}
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%lld", (long long)x);
	out->i = x;
	return put_canon(canon, canon_len, tmp) ? 0 : SD_CONFIG_ETOOBIG;
}

static int parse_enum(const struct sd_config_key *k, const char *v, char *canon, size_t canon_len,
		      char *why)
{
	if (k->check != NULL && !k->check(v, why, WHY_BYTES)) {
		return SD_CONFIG_EVALUE;
	}
	for (const char *const *c = k->choices; *c != NULL; c++) {
		if (strcasecmp(v, *c) == 0) {
			return put_canon(canon, canon_len, *c) ? 0 : SD_CONFIG_ETOOBIG;
		}
	}
	int n = snprintf(why, WHY_BYTES, "'%.120s' is not one of", v);
	for (const char *const *c = k->choices; *c != NULL && n > 0 && n < WHY_BYTES; c++) {
		n += snprintf(why + n, WHY_BYTES - (size_t)n, "%s %s", c == k->choices ? "" : ",",
			      *c);
	}
	return SD_CONFIG_EVALUE;
}

/* Splits v at commas, trims the items and joins them into canon. */
static int parse_list(const struct sd_config_key *k, const char *v, char *canon, size_t canon_len,
		      char *why)
{
	size_t used = 0;
	int64_t count = 0;
	const char *p = v, *end = v + strlen(v);
	canon[0] = '\0';
	while (*v != '\0') {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *ib = p, *ie = comma != NULL ? comma : end;
		trim(&ib, &ie);
		count++;
		if (ib == ie) {
			snprintf(why, WHY_BYTES, "item %lld of '%.120s' is empty", (long long)count,
				 v);
			return SD_CONFIG_EVALUE;
		}
		size_t n = (size_t)(ie - ib);
		if (used + n + 2 > canon_len) {
			return SD_CONFIG_ETOOBIG;
		}
		if (used > 0) {
			canon[used++] = ',';
		}
		memcpy(canon + used, ib, n);
		used += n;
		canon[used] = '\0';
		if (comma == NULL) {
			break;
		}
		p = comma + 1;
	}
	if (count < k->min || count > k->max) {
		snprintf(why, WHY_BYTES, "%lld items; allowed %lld to %lld", (long long)count,
			 (long long)k->min, (long long)k->max);
		return SD_CONFIG_EVALUE;
	}
	if (count > 0 && k->check != NULL && !k->check(canon, why, WHY_BYTES)) {
		return SD_CONFIG_EVALUE;
	}
	return 0;
}

static int parse_typed(const struct sd_config_key *k, const char *v, char *canon, size_t canon_len,
		       union sd_config_value *out, char *why)
{
	size_t n = strlen(v);
	switch (k->type) {
	case SD_CONFIG_BOOL:
		if (strcasecmp(v, "true") != 0 && strcasecmp(v, "false") != 0) {
			snprintf(why, WHY_BYTES, "'%.120s' is not true or false", v);
			return SD_CONFIG_EVALUE;
		}
		out->b = strcasecmp(v, "true") == 0;
		return put_canon(canon, canon_len, out->b ? "true" : "false") ? 0
									      : SD_CONFIG_ETOOBIG;
	case SD_CONFIG_INT:
	case SD_CONFIG_DURATION:
	case SD_CONFIG_BYTES:
		return parse_number(k, v, canon, canon_len, out, why);
	case SD_CONFIG_DOUBLE:
		if (!parse_double(v, &out->d)) {
			snprintf(why, WHY_BYTES, "'%.120s' is not a number", v);
			return SD_CONFIG_EVALUE;
		}
		if (out->d < k->dmin || out->d > k->dmax) {
			snprintf(why, WHY_BYTES, "%.120s is outside [%g, %g]", v, k->dmin, k->dmax);
			return SD_CONFIG_EVALUE;
		}
		return put_canon(canon, canon_len, v) ? 0 : SD_CONFIG_ETOOBIG;
	case SD_CONFIG_STRING:
		if ((int64_t)n < k->min || (int64_t)n > k->max) {
			snprintf(why, WHY_BYTES, "a value of %zu bytes; allowed %lld to %lld", n,
				 (long long)k->min, (long long)k->max);
			return SD_CONFIG_EVALUE;
		}
		if (n > 0 && k->check != NULL && !k->check(v, why, WHY_BYTES)) {
			return SD_CONFIG_EVALUE;
		}
		return put_canon(canon, canon_len, v) ? 0 : SD_CONFIG_ETOOBIG;
	case SD_CONFIG_ENUM:
		return parse_enum(k, v, canon, canon_len, why);
	case SD_CONFIG_LIST:
		return parse_list(k, v, canon, canon_len, why);
	}
	snprintf(why, WHY_BYTES, "key has an unknown type");
	return SD_CONFIG_EVALUE;
}

int sd_config_value_parse(const struct sd_config_key *key, const char *text, char *canon,
			  size_t canon_len, union sd_config_value *out, char *errmsg,
			  size_t errmsg_len)
{
	SL_ASSERT(key != NULL && canon != NULL && canon_len > 0 && out != NULL);
	canon[0] = '\0';
	memset(out, 0, sizeof(*out));
	const char *b = text != NULL ? text : "";
	const char *e = b + strlen(b);
	trim(&b, &e);
	size_t n = (size_t)(e - b);
	if (n > SD_CONFIG_VALUE_BYTES_MAX) {
		sd__config_errmsg(errmsg, errmsg_len, "%s: a value of %zu bytes exceeds %d bytes",
				  key->name, n, SD_CONFIG_VALUE_BYTES_MAX);
		return SD_CONFIG_ETOOBIG;
	}
	char v[SD_CONFIG_VALUE_BYTES_MAX + 1];
	memcpy(v, b, n);
	v[n] = '\0';
	char why[WHY_BYTES] = "";
	int rv = parse_typed(key, v, canon, canon_len, out, why);
	if (rv == SD_CONFIG_ETOOBIG && why[0] == '\0') {
		snprintf(why, sizeof(why), "the value does not fit in %zu bytes", canon_len - 1);
	}
	if (rv != 0) {
		canon[0] = '\0';
		sd__config_errmsg(errmsg, errmsg_len, "%s: %s", key->name, why);
	}
	return rv;
}

/* ---- addresses -------------------------------------------------------------- */

static bool host_chars_ok(const char *b, const char *e, bool v6)
{
	for (const char *p = b; p < e; p++) {
		bool ok = v6 ? isxdigit((unsigned char)*p) || *p == ':' || *p == '.'
			     : isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_';
		if (!ok) {
			return false;
		}
	}
	return true;
}

/* Finds the host and port spans of "host:port", "[v6]:port" or ":port". */
static bool split_host_port(const char *b, const char *e, const char **hb, const char **he,
			    const char **pb, const char *text, char *err, size_t len)
{
	if (b < e && *b == '[') {
		const char *close = memchr(b, ']', (size_t)(e - b));
		if (close == NULL || close + 1 >= e || close[1] != ':') {
			sd__config_errmsg(err, len, "'%s' is not [address]:port", text);
			return false;
		}
		*hb = b + 1;
		*he = close;
		*pb = close + 2;
		if (*hb == *he || !host_chars_ok(*hb, *he, true)) {
			sd__config_errmsg(err, len, "'%s' has an invalid IPv6 address", text);
			return false;
		}
		return true;
	}
	const char *colon = memrchr(b, ':', (size_t)(e - b));
	if (colon == NULL) {
		sd__config_errmsg(err, len, "'%s' is not host:port", text);
		return false;
	}
	*hb = b;
	*he = colon;
	*pb = colon + 1;
	if (memchr(b, ':', (size_t)(colon - b)) != NULL) {
		sd__config_errmsg(err, len, "'%s': write IPv6 addresses in brackets, [::1]:9092",
				  text);
		return false;
	}
	if (!host_chars_ok(*hb, *he, false)) {
		sd__config_errmsg(err, len, "'%s' has an invalid host name", text);
		return false;
	}
	return true;
}

static int endpoint_span(const char *b, const char *e, bool concrete, struct sd_endpoint *out,
			 char *err, size_t len)
{
	memset(out, 0, sizeof(*out));
	char text[SD_HOST_BYTES_MAX + 16];
	snprintf(text, sizeof(text), "%.*s", (int)SL_MIN((size_t)(e - b), sizeof(text) - 1), b);
	const char *hb, *he, *pb;
	if (!split_host_port(b, e, &hb, &he, &pb, text, err, len)) {
		return SD_CONFIG_EVALUE;
	}
	int64_t port;
	if (e - pb < 1 || e - pb > 5 || !isdigit((unsigned char)*pb) || !parse_i64(pb, e, &port) ||
	    port > 65535) {
		sd__config_errmsg(err, len, "'%s' has no valid port (0 to 65535)", text);
		return SD_CONFIG_EVALUE;
	}
	size_t hn = (size_t)(he - hb);
	if (hn >= SD_HOST_BYTES_MAX) {
		sd__config_errmsg(err, len, "host name longer than %d bytes",
				  SD_HOST_BYTES_MAX - 1);
		return SD_CONFIG_EVALUE;
	}
	memcpy(out->host, hb, hn);
	out->host[hn] = '\0';
	out->port = (uint16_t)port;
	if (hn == 0) {
		snprintf(out->host, sizeof(out->host), "0.0.0.0");
	}
	out->wildcard = strcmp(out->host, "0.0.0.0") == 0 || strcmp(out->host, "::") == 0;
	if (concrete && (out->wildcard || out->port == 0)) {
		sd__config_errmsg(err, len,
				  "'%s' must name a concrete host and a non-zero port others can "
				  "connect to",
				  text);
		return SD_CONFIG_EVALUE;
	}
	return 0;
}

int sd_config_parse_endpoint(const char *text, bool concrete, struct sd_endpoint *out, char *errmsg,
			     size_t errmsg_len)
{
	SL_ASSERT(text != NULL && out != NULL);
	const char *b = text, *e = text + strlen(text);
	trim(&b, &e);
	return endpoint_span(b, e, concrete, out, errmsg, errmsg_len);
}

/* Iterates comma-separated items: sets [*ib, *ie) to the next trimmed item
 * and advances *p; false at the end. An empty text has no items. */
static bool next_item(const char **p, const char *end, const char **ib, const char **ie)
{
	if (*p == NULL) {
		return false;
	}
	const char *comma = memchr(*p, ',', (size_t)(end - *p));
	*ib = *p;
	*ie = comma != NULL ? comma : end;
	*p = comma != NULL ? comma + 1 : NULL;
	trim(ib, ie);
	return true;
}

static bool text_empty(const char *text)
{
	const char *b = text, *e = text + strlen(text);
	trim(&b, &e);
	return b == e;
}

static int listener_span(const char *b, const char *e, bool concrete, struct sd_listener *out,
			 char *err, size_t len)
{
	const char *sep = NULL;
	for (const char *p = b; p + 3 <= e && sep == NULL; p++) {
		sep = strncmp(p, "://", 3) == 0 ? p : NULL;
	}
	size_t n = sep != NULL ? (size_t)(sep - b) : 0;
	bool ok = n > 0 && n < SD_LISTENER_NAME_BYTES_MAX && !isdigit((unsigned char)*b);
	for (size_t i = 0; ok && i < n; i++) {
		ok = isalnum((unsigned char)b[i]) || b[i] == '_';
		out->name[i] = (char)toupper((unsigned char)b[i]);
	}
	if (!ok) {
		sd__config_errmsg(err, len, "'%.*s' is not NAME://host:port", (int)(e - b), b);
		return SD_CONFIG_EVALUE;
	}
	out->name[n] = '\0';
	if (strcmp(out->name, "SSL") == 0 || strncmp(out->name, "SASL_", 5) == 0) {
		sd__config_errmsg(err, len, "listener %s: only PLAINTEXT is supported", out->name);
		return SD_CONFIG_EVALUE;
	}
	return endpoint_span(sep + 3, e, concrete, &out->ep, err, len);
}

int sd_config_parse_listeners(const char *text, bool concrete, struct sd_listener *out, int max,
			      char *errmsg, size_t errmsg_len)
{
	SL_ASSERT(text != NULL && out != NULL && max >= 0);
	if (text_empty(text)) {
		return 0;
	}
	const char *p = text, *end = text + strlen(text), *ib, *ie;
	int n = 0;
	while (next_item(&p, end, &ib, &ie)) {
		if (n == max) {
			sd__config_errmsg(errmsg, errmsg_len, "more than %d listeners", max);
			return SD_CONFIG_EVALUE;
		}
		if (listener_span(ib, ie, concrete, &out[n], errmsg, errmsg_len) != 0) {
			return SD_CONFIG_EVALUE;
		}
		for (int i = 0; i < n; i++) {
			if (strcmp(out[i].name, out[n].name) == 0) {
				sd__config_errmsg(errmsg, errmsg_len, "listener name %s repeated",
						  out[n].name);
				return SD_CONFIG_EVALUE;
			}
		}
		n++;
	}
	return n;
}

static int voter_span(const char *b, const char *e, struct sd_voter *out, char *err, size_t len)
{
	const char *at = memchr(b, '@', (size_t)(e - b));
	int64_t id;
	if (at == NULL || !isdigit((unsigned char)*b) || !parse_i64(b, at, &id) || id > INT32_MAX) {
		sd__config_errmsg(err, len, "'%.*s' is not id@host:port with a node id",
				  (int)(e - b), b);
		return SD_CONFIG_EVALUE;
	}
	out->id = (int32_t)id;
	return endpoint_span(at + 1, e, true, &out->ep, err, len);
}

int sd_config_parse_voters(const char *text, struct sd_voter *out, int max, char *errmsg,
			   size_t errmsg_len)
{
	SL_ASSERT(text != NULL && out != NULL && max >= 0);
	if (text_empty(text)) {
		return 0;
	}
	const char *p = text, *end = text + strlen(text), *ib, *ie;
	int n = 0;
	while (next_item(&p, end, &ib, &ie)) {
		if (n == max) {
			sd__config_errmsg(errmsg, errmsg_len, "more than %d voters", max);
			return SD_CONFIG_EVALUE;
		}
		if (voter_span(ib, ie, &out[n], errmsg, errmsg_len) != 0) {
			return SD_CONFIG_EVALUE;
		}
		for (int i = 0; i < n; i++) {
			if (out[i].id == out[n].id) {
				sd__config_errmsg(errmsg, errmsg_len, "voter id %d repeated",
						  (int)out[n].id);
				return SD_CONFIG_EVALUE;
			}
		}
		n++;
	}
	return n;
}
