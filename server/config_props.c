/* A broker's configuration: defaults from the table, the properties-file
 * parser, --set overrides, cross-key checks and the typed getters.
 *
 * Happy path: sd_config_new() parses every default; sd_config_load_file()
 * reads the file whole, splits it into logical lines (comments skipped,
 * continuations joined), splits each into key and value, unescapes both and
 * sets the key; sd_config_set_arg() applies each --set; sd_config_finish()
 * checks what spans keys. Failure modes: unreadable or oversized file,
 * malformed line or escape, unknown key, bad value, a key twice in one file,
 * missing required keys, contradictions. Each stops at the first error with a
 * message naming the file, line and key; nothing is half-assigned. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config_int.h"

/* Bytes of a key in a properties file, NUL excluded. */
#define KEY_BYTES_MAX 255

/* ---- slots ------------------------------------------------------------------- */

static void slot_clear(struct sd__config_slot *s)
{
	sl_free(s->text);
	sl_free(s->items);
	sl_free(s->origin);
	memset(s, 0, sizeof(*s));
}

/* Builds the item array of a list's canonical text: one block holding the
 * pointers and a copy of the text with commas turned into NULs. */
static int split_items(const char *canon, char ***items, int *n_items)
{
	*items = NULL;
	*n_items = 0;
	if (canon[0] == '\0') {
		return 0;
	}
	int n = 1;
	for (const char *p = canon; *p != '\0'; p++) {
		n += *p == ',';
	}
	size_t len = strlen(canon);
	char **block = sl_malloc((size_t)n * sizeof(char *) + len + 1);
	if (block == NULL) {
		return SD_CONFIG_ENOMEM;
	}
	char *copy = (char *)(block + n);
	memcpy(copy, canon, len + 1);
	int i = 0;
	block[i++] = copy;
	for (char *p = copy; *p != '\0'; p++) {
		if (*p == ',') {
			*p = '\0';
			block[i++] = p + 1;
		}
	}
	*items = block;
	*n_items = n;
	return 0;
}

/* Replaces a slot's value; on failure the slot is unchanged. */
static int slot_assign(struct sd__config_slot *s, const struct sd_config_key *k, const char *canon,
		       union sd_config_value v, enum sd_config_source source, const char *origin,
		       unsigned load_id)
{
	struct sd__config_slot n = {.v = v, .source = source, .load_id = load_id};
	n.text = sl_strdup(canon);
	n.origin = origin != NULL ? sl_strdup(origin) : NULL;
	int rv = n.text == NULL || (origin != NULL && n.origin == NULL) ? SD_CONFIG_ENOMEM : 0;
	if (rv == 0 && k->type == SD_CONFIG_LIST) {
		rv = split_items(canon, &n.items, &n.n_items);
	}
	if (rv != 0) {
		slot_clear(&n);
		return rv;
	}
	slot_clear(s);
	*s = n;
	return 0;
}

/* Parses and assigns one broker key; errmsg gets "<where>: <why>". */
static int set_index(struct sd_config *c, int idx, const char *value, enum sd_config_source source,
		     const char *where, unsigned load_id)
{
	size_t n;
	const struct sd_config_key *k = &sd_config_keys(&n)[idx];
	char canon[SD_CONFIG_VALUE_BYTES_MAX + 1];
	char why[SD_CONFIG_ERRMSG_BYTES];
	union sd_config_value v;
	int rv = sd_config_value_parse(k, value, canon, sizeof(canon), &v, why, sizeof(why));
	if (rv == 0) {
		rv = slot_assign(&c->slots[idx], k, canon, v, source, where, load_id);
		snprintf(why, sizeof(why), "%s: out of memory", k->name);
	}
	if (rv != 0) {
		sd__config_errmsg(c->errmsg, sizeof(c->errmsg), "%s: %s", where, why);
	}
	return rv;
}

/* Reports an unknown key, pointing at the broker key when name is a topic
 * key. */
static int unknown_key(struct sd_config *c, const char *where, const char *name)
{
	const struct sd_config_key *t = sd_config_key_find(SD_CONFIG_TOPIC, name);
	if (t != NULL) {
		sd__config_errmsg(c->errmsg, sizeof(c->errmsg),
				  "%s: '%s' is a topic config; its cluster default is the broker "
				  "key %s",
				  where, name, t->synonym);
	} else {
		sd__config_errmsg(
		    c->errmsg, sizeof(c->errmsg),
		    "%s: unknown key '%s' (stretchlogd --help-config lists every key)", where,
		    name);
	}
	return SD_CONFIG_EUNKNOWN;
}

int sd_config_new(struct sd_config **out)
{
	SL_ASSERT(out != NULL);
	*out = NULL;
	size_t n;
	const struct sd_config_key *keys = sd_config_keys(&n);
	struct sd_config *c = sl_calloc(1, sizeof(*c));
	if (c == NULL) {
		return SD_CONFIG_ENOMEM;
	}
	c->n_keys = n;
	c->slots = sl_calloc(n, sizeof(*c->slots));
	if (c->slots == NULL) {
		sl_free(c);
		return SD_CONFIG_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (keys[i].scope != SD_CONFIG_BROKER || keys[i].default_value == NULL) {
			continue;
		}
		int rv =
		    set_index(c, (int)i, keys[i].default_value, SD_CONFIG_SOURCE_DEFAULT, NULL, 0);
		if (rv != 0) {
			/* Only memory can fail here: defaults are checked by the tests. */
			SL_ASSERT(rv == SD_CONFIG_ENOMEM);
			sd_config_free(c);
			return rv;
		}
	}
	c->errmsg[0] = '\0';
	*out = c;
	return 0;
}

void sd_config_free(struct sd_config *c)
{
	if (c == NULL) {
		return;
	}
	for (size_t i = 0; i < c->n_keys; i++) {
		slot_clear(&c->slots[i]);
	}
	sl_free(c->slots);
	sl_free(c);
}

const char *sd_config_errmsg(const struct sd_config *c)
{
	return c->errmsg;
}

int sd_config_set(struct sd_config *c, const char *name, const char *value, const char *origin)
{
	SL_ASSERT(c != NULL);
	c->errmsg[0] = '\0';
	const char *where = origin != NULL ? origin : "--set";
	int idx = sd__config_index(SD_CONFIG_BROKER, name);
	if (idx < 0) {
		return unknown_key(c, where, name != NULL ? name : "(null)");
	}
	return set_index(c, idx, value, SD_CONFIG_SOURCE_OVERRIDE, where, 0);
}

int sd_config_set_arg(struct sd_config *c, const char *arg)
{
	SL_ASSERT(c != NULL && arg != NULL);
	const char *eq = strchr(arg, '=');
	if (eq == NULL || eq == arg || (size_t)(eq - arg) > KEY_BYTES_MAX) {
		sd__config_errmsg(c->errmsg, sizeof(c->errmsg), "--set: '%s' is not key=value",
				  arg);
		return SD_CONFIG_ESYNTAX;
	}
	char key[KEY_BYTES_MAX + 1];
	memcpy(key, arg, (size_t)(eq - arg));
	key[eq - arg] = '\0';
	return sd_config_set(c, key, eq + 1, "--set");
}

/* ---- properties files -------------------------------------------------------- */

struct reader {
	const char *p;
	const char *end;
	int line; /* number of the last physical line read */
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\f';
}

/* Reads the next physical line into [*b, *e); false at the end of text. */
static bool phys_line(struct reader *r, const char **b, const char **e)
{
	if (r->p >= r->end) {
		return false;
	}
	const char *q = r->p;
	while (q < r->end && *q != '\n' && *q != '\r') {
		q++;
	}
	*b = r->p;
	*e = q;
	if (q < r->end) {
		q += *q == '\r' && q + 1 < r->end && q[1] == '\n' ? 2 : 1;
	}
	r->p = q;
	r->line++;
	while (*b < *e && is_space(**b)) {
		(*b)++;
	}
	return true;
}

/* Joins the next logical line into buf (cap bytes). Returns 1 with *len and
 * *first_line set, 0 at the end, or SD_CONFIG_ETOOBIG. */
static int logical_line(struct reader *r, char *buf, size_t cap, size_t *len, int *first_line)
{
	const char *b, *e;
	do {
		if (!phys_line(r, &b, &e)) {
			return 0;
		}
	} while (b == e || *b == '#' || *b == '!');
	*first_line = r->line;
	size_t n = 0;
	for (;;) {
		size_t bs = 0;
		while (e - (ptrdiff_t)bs > b && e[-1 - (ptrdiff_t)bs] == '\\') {
			bs++;
		}
		bool cont = bs % 2 == 1;
		size_t k = (size_t)(e - b) - (cont ? 1 : 0);
		if (k > cap - n) {
			return SD_CONFIG_ETOOBIG;
		}
		memcpy(buf + n, b, k);
		n += k;
		if (!cont || !phys_line(r, &b, &e)) {
			break;
		}
	}
	*len = n;
	return 1;
}

static int hex4(const char *s, size_t n, size_t i, uint32_t *out)
{
	if (i + 4 > n) {
		return -1;
	}
	uint32_t v = 0;
	for (size_t k = i; k < i + 4; k++) {
		char c = s[k];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0) {
			return -1;
		}
		v = v * 16 + (uint32_t)d;
	}
	*out = v;
	return 0;
}

/* Decodes \uXXXX (and a following low surrogate) at s[*i] (after the 'u');
 * returns the code point or 0 on error. */
static uint32_t unicode_escape(const char *s, size_t n, size_t *i)
{
	uint32_t cp, lo;
	if (hex4(s, n, *i, &cp) != 0) {
		return 0;
	}
	*i += 4;
	if (cp >= 0xDC00 && cp <= 0xDFFF) {
		return 0;
	}
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (*i + 6 > n || s[*i] != '\\' || s[*i + 1] != 'u' ||
		    hex4(s, n, *i + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
			return 0;
		}
		*i += 6;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	return cp;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Unescapes s (n bytes) into dst (cap bytes + NUL). Trailing blanks that
 * were not escaped are dropped. Returns 0, or -1 with why set. */
static int unescape(const char *s, size_t n, char *dst, size_t cap, const char **why)
{
	size_t o = 0, keep = 0;
	for (size_t i = 0; i < n;) {
		char tmp[4];
		size_t k = 1;
		bool escaped = s[i] == '\\';
		tmp[0] = s[i++];
		if (escaped) {
			if (i == n) {
				break; /* a lone backslash at the very end is dropped */
			}
			char d = s[i++];
			tmp[0] = d == 't'   ? '\t'
				 : d == 'n' ? '\n'
				 : d == 'r' ? '\r'
				 : d == 'f' ? '\f'
					    : d;
			if (d == 'u') {
				uint32_t cp = unicode_escape(s, n, &i);
				if (cp == 0) {
					*why = "invalid \\u escape (4 hex digits, no NUL, paired "
					       "surrogates)";
					return -1;
				}
				k = utf8_encode(cp, tmp);
			}
		}
		if (o + k > cap) {
			*why = "too long";
			return -1;
		}
		memcpy(dst + o, tmp, k);
		o += k;
		if (escaped || !is_space(tmp[0])) {
			keep = o;
		}
	}
	dst[keep] = '\0';
	return 0;
}

/* Splits a logical line into its unescaped key and value. */
static int split_kv(const char *s, size_t n, char *key, char *val, const char **why)
{
	size_t i = 0;
	while (i < n && s[i] != '=' && s[i] != ':' && !is_space(s[i])) {
		i += s[i] == '\\' ? 2 : 1;
	}
	i = SL_MIN(i, n);
	size_t j = i;
	while (j < n && is_space(s[j])) {
		j++;
	}
	if (j < n && (s[j] == '=' || s[j] == ':')) {
		j++;
	}
	while (j < n && is_space(s[j])) {
		j++;
	}
	if (unescape(s, i, key, KEY_BYTES_MAX, why) != 0) {
		*why = strcmp(*why, "too long") == 0 ? "key longer than 255 bytes" : *why;
		return -1;
	}
	if (unescape(s + j, n - j, val, SD_CONFIG_VALUE_BYTES_MAX, why) != 0) {
		*why = strcmp(*why, "too long") == 0 ? "value longer than 4096 bytes" : *why;
		return -1;
	}
	if (key[0] == '\0') {
		*why = "a line with a value but no key";
		return -1;
	}
	return 0;
}

/* Applies one logical line. */
static int apply_line(struct sd_config *c, const char *origin, int line, const char *s, size_t n,
		      unsigned load_id)
{
	char where[SD_CONFIG_ERRMSG_BYTES / 2];
	snprintf(where, sizeof(where), "%s:%d", origin, line);
	if (memchr(s, '\0', n) != NULL) {
		sd__config_errmsg(c->errmsg, sizeof(c->errmsg), "%s: NUL byte in line", where);
		return SD_CONFIG_ESYNTAX;
	}
	char key[KEY_BYTES_MAX + 1];
	char val[SD_CONFIG_VALUE_BYTES_MAX + 1];
	const char *why = NULL;
	if (split_kv(s, n, key, val, &why) != 0) {
		sd__config_errmsg(c->errmsg, sizeof(c->errmsg), "%s: %s", where, why);
		return strstr(why, "longer") != NULL ? SD_CONFIG_ETOOBIG : SD_CONFIG_ESYNTAX;
	}
	int idx = sd__config_index(SD_CONFIG_BROKER, key);
	if (idx < 0) {
		return unknown_key(c, where, key);
	}
	const struct sd__config_slot *s0 = &c->slots[idx];
	if (s0->source == SD_CONFIG_SOURCE_FILE && s0->load_id == load_id) {
		sd__config_errmsg(c->errmsg, sizeof(c->errmsg),
				  "%s: %s: set twice in this file (first at %s)", where, key,
				  s0->origin);
		return SD_CONFIG_EDUP;
	}
	return set_index(c, idx, val, SD_CONFIG_SOURCE_FILE, where, load_id);
}

int sd_config_load_text(struct sd_config *c, const char *text, size_t len, const char *origin)
{
	SL_ASSERT(c != NULL && (text != NULL || len == 0));
	c->errmsg[0] = '\0';
	origin = origin != NULL ? origin : "(text)";
	if (len > SD_CONFIG_FILE_BYTES_MAX) {
		sd__config_errmsg(c->errmsg, sizeof(c->errmsg), "%s: %zu bytes exceed %u", origin,
				  len, SD_CONFIG_FILE_BYTES_MAX);
		return SD_CONFIG_ETOOBIG;
	}
	char *buf = sl_malloc(SD_CONFIG_LINE_BYTES_MAX);
	if (buf == NULL) {
		sd__config_errmsg(c->errmsg, sizeof(c->errmsg), "%s: out of memory", origin);
		return SD_CONFIG_ENOMEM;
	}
	unsigned load_id = ++c->loads;
	struct reader r = {text, text + len, 0};
	int rv;
	for (;;) {
		size_t n;
		int first;
		rv = logical_line(&r, buf, SD_CONFIG_LINE_BYTES_MAX, &n, &first);
		if (rv <= 0) {
			if (rv != 0) {
				sd__config_errmsg(c->errmsg, sizeof(c->errmsg),
						  "%s:%d: line longer than %u bytes", origin,
						  r.line, SD_CONFIG_LINE_BYTES_MAX);
			}
			break;
		}
		rv = apply_line(c, origin, first, buf, n, load_id);
		if (rv != 0) {
			break;
		}
	}
	sl_free(buf);
	return rv;
}

int sd_config_load_file(struct sd_config *c, const char *path)
{
	SL_ASSERT(c != NULL && path != NULL);
	FILE *f = sl_fault_hit(SL_FAULT_OPEN) ? NULL : fopen(path, "rb");
	if (f == NULL) {
		sd__config_errmsg(c->errmsg, sizeof(c->errmsg), "%s: cannot open: %s", path,
				  strerror(errno != 0 ? errno : EIO));
		return SD_CONFIG_EIO;
	}
	char *text = sl_malloc(SD_CONFIG_FILE_BYTES_MAX + 1);
	if (text == NULL) {
		fclose(f);
		sd__config_errmsg(c->errmsg, sizeof(c->errmsg), "%s: out of memory", path);
		return SD_CONFIG_ENOMEM;
	}
	size_t len = fread(text, 1, SD_CONFIG_FILE_BYTES_MAX + 1, f);
	bool failed = ferror(f) != 0 || sl_fault_hit(SL_FAULT_READ);
	fclose(f);
	int rv;
	if (failed) {
		sd__config_errmsg(c->errmsg, sizeof(c->errmsg), "%s: read error", path);
		rv = SD_CONFIG_EIO;
	} else {
		rv = sd_config_load_text(c, text, len, path);
	}
	sl_free(text);
	return rv;
}
