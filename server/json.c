/* The bounded byte buffer and the streaming JSON writer declared in json.h. */
#include "server/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"

const char *sd_json_strerror(int err)
{
	if (err == 0) {
		return "success";
	}
	switch (err) {
#define SD_JSON_ERR_MSG(name, value, text)                                                         \
	case (value):                                                                              \
		return (text);
		SD_JSON_ERRORS(SD_JSON_ERR_MSG)
#undef SD_JSON_ERR_MSG
	default:
		return "unknown error";
	}
}

const char *sd_json_err_name(int err)
{
	if (err == 0) {
		return "0";
	}
	switch (err) {
#define SD_JSON_ERR_NAME(name, value, text)                                                        \
	case (value):                                                                              \
		return #name;
		SD_JSON_ERRORS(SD_JSON_ERR_NAME)
#undef SD_JSON_ERR_NAME
	default:
		return "SD_JSON_UNKNOWN";
	}
}

/* ---- byte buffer -------------------------------------------------------- */

void sd_buf_init(struct sd_buf *b, size_t max)
{
	SL_ASSERT(b != NULL);
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void sd_buf_free(struct sd_buf *b)
{
	size_t max = b->max;
	sl_free(b->data);
	sd_buf_init(b, max);
}

void sd_buf_reset(struct sd_buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->data != NULL) {
		b->data[0] = '\0';
	}
}

char *sd_buf_reserve(struct sd_buf *b, size_t n)
{
	if (b->err != 0) {
		return NULL;
	}
	if (n > b->max || b->len > b->max - n) {
		b->err = SD_JSON_ETOOBIG;
		return NULL;
	}
	size_t need = b->len + n;
	if (need > b->cap || b->data == NULL) {
		size_t cap = b->cap < 256 ? 256 : b->cap;
		while (cap < need) {
			cap = cap > SIZE_MAX / 4 ? need : cap * 2;
		}
		cap = SL_MIN(cap, b->max);
		char *p = sl_realloc(b->data, cap + 1);
		if (p == NULL) {
			b->err = SD_JSON_ENOMEM;
			return NULL;
		}
		b->data = p;
		b->cap = cap;
		b->data[b->len] = '\0';
	}
	return b->data + b->len;
}

void sd_buf_commit(struct sd_buf *b, size_t n)
{
	SL_ASSERT(b->err == 0 && b->len + n <= b->cap);
	b->len += n;
	b->data[b->len] = '\0';
}

int sd_buf_append(struct sd_buf *b, const void *p, size_t n)
{
	char *dst = sd_buf_reserve(b, n);
	if (dst == NULL) {
		return b->err;
	}
	if (n > 0) {
		memcpy(dst, p, n);
	}
	sd_buf_commit(b, n);
	return 0;
}

int sd_buf_puts(struct sd_buf *b, const char *s)
{
	return sd_buf_append(b, s, strlen(s));
}

int sd_buf_printf(struct sd_buf *b, const char *fmt, ...)
{
	if (b->err != 0) {
		return b->err;
	}
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	SL_ASSERT(n >= 0);
	if ((size_t)n < sizeof(small)) {
		return sd_buf_append(b, small, (size_t)n);
	}
	char *dst = sd_buf_reserve(b, (size_t)n + 1);
	if (dst == NULL) {
		return b->err;
	}
	va_start(ap, fmt);
	vsnprintf(dst, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sd_buf_commit(b, (size_t)n);
	return 0;
}

/* ---- UTF-8 and escaping ------------------------------------------------- */

/* Returns the length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80) {
		return 1;
	}
	size_t len;
	unsigned char lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		lo = c == 0xE0 ? 0xA0 : 0x80;
		hi = c == 0xED ? 0x9F : 0xBF;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		lo = c == 0xF0 ? 0x90 : 0x80;
		hi = c == 0xF4 ? 0x8F : 0xBF;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi) {
		return 0;
	}
	for (size_t i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF) {
			return 0;
		}
	}
	return len;
}

size_t sd_utf8_valid_prefix(const char *s, size_t n, size_t *bad)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t k = utf8_seq(u + i, n - i);
		if (k == 0) {
			*bad = 1;
			return i;
		}
		i += k;
	}
	*bad = 0;
	return n;
}

/* Returns the escape for a byte that JSON needs escaped, "" for one written
 * as \u00XX, or NULL for a byte written as is. */
static const char *json_escape(unsigned char c)
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	case '\b':
		return "\\b";
	case '\f':
		return "\\f";
	default:
		return c < 0x20 ? "" : NULL;
	}
}

int sd_json_quote(struct sd_buf *b, const char *s, size_t n)
{
	sd_buf_append(b, "\"", 1);
	size_t i = 0;
	while (i < n && b->err == 0) {
		size_t bad;
		size_t ok = sd_utf8_valid_prefix(s + i, n - i, &bad);
		size_t run = 0;
		for (size_t k = 0; k < ok; k++) {
			const char *e = json_escape((unsigned char)s[i + k]);
			if (e == NULL) {
				continue;
			}
			sd_buf_append(b, s + i + run, k - run);
			if (e[0] != '\0') {
				sd_buf_puts(b, e);
			} else {
				sd_buf_printf(b, "\\u%04x", (unsigned)(unsigned char)s[i + k]);
			}
			run = k + 1;
		}
		sd_buf_append(b, s + i + run, ok - run);
		i += ok;
		if (bad > 0) {
			sd_buf_puts(b, "\\ufffd");
			i += bad;
		}
	}
	return sd_buf_append(b, "\"", 1);
}

/* ---- JSON writer -------------------------------------------------------- */

void sd_json_init(struct sd_json *j, struct sd_buf *buf)
{
	SL_ASSERT(j != NULL && buf != NULL);
	memset(j, 0, sizeof(*j));
	j->buf = buf;
}

/* Writes the separator a new value needs and checks it may appear here. */
static bool value_prefix(struct sd_json *j)
{
	if (j->err != 0) {
		return false;
	}
	if (j->depth == 0) {
		SL_ASSERT(!j->done); /* one top-level value per document */
		return true;
	}
	int d = j->depth - 1;
	if (j->in_object[d]) {
		SL_ASSERT(j->after_key); /* a value inside an object needs a key */
		j->after_key = false;
		return true;
	}
	if (j->has_items[d]) {
		sd_buf_append(j->buf, ",", 1);
	}
	j->has_items[d] = true;
	return true;
}

/* Marks a scalar or a closed container as complete. */
static void value_done(struct sd_json *j)
{
	if (j->depth == 0) {
		j->done = true;
	}
}

static void open_level(struct sd_json *j, bool object)
{
	if (!value_prefix(j)) {
		return;
	}
	if (j->depth == SD_JSON_DEPTH_MAX) {
		j->err = SD_JSON_EDEPTH;
		return;
	}
	j->in_object[j->depth] = object;
	j->has_items[j->depth] = false;
	j->depth++;
	sd_buf_append(j->buf, object ? "{" : "[", 1);
}

static void close_level(struct sd_json *j, bool object)
{
	if (j->err != 0) {
		return;
	}
	SL_ASSERT(j->depth > 0 && j->in_object[j->depth - 1] == object && !j->after_key);
	j->depth--;
	sd_buf_append(j->buf, object ? "}" : "]", 1);
	value_done(j);
}

void sd_json_object_begin(struct sd_json *j)
{
	open_level(j, true);
}

void sd_json_object_end(struct sd_json *j)
{
	close_level(j, true);
}

void sd_json_array_begin(struct sd_json *j)
{
	open_level(j, false);
}

void sd_json_array_end(struct sd_json *j)
{
	close_level(j, false);
}

void sd_json_key(struct sd_json *j, const char *key)
{
	if (j->err != 0) {
		return;
	}
	SL_ASSERT(j->depth > 0 && j->in_object[j->depth - 1] && !j->after_key);
	int d = j->depth - 1;
	if (j->has_items[d]) {
		sd_buf_append(j->buf, ",", 1);
	}
	j->has_items[d] = true;
	sd_json_quote(j->buf, key, strlen(key));
	sd_buf_append(j->buf, ":", 1);
	j->after_key = true;
}

void sd_json_strn(struct sd_json *j, const char *s, size_t n)
{
	if (!value_prefix(j)) {
		return;
	}
	sd_json_quote(j->buf, s, n);
	value_done(j);
}

void sd_json_str(struct sd_json *j, const char *s)
{
	if (s == NULL) {
		sd_json_null(j);
		return;
	}
	sd_json_strn(j, s, strlen(s));
}

/* Writes a pre-formatted scalar token. */
static void raw_value(struct sd_json *j, const char *tok)
{
	if (!value_prefix(j)) {
		return;
	}
	sd_buf_puts(j->buf, tok);
	value_done(j);
}

void sd_json_int(struct sd_json *j, int64_t v)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
	raw_value(j, tmp);
}

void sd_json_uint(struct sd_json *j, uint64_t v)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
	raw_value(j, tmp);
}

void sd_json_double(struct sd_json *j, double v)
{
	if (!isfinite(v)) {
		raw_value(j, "null");
		return;
	}
	char tmp[40];
	snprintf(tmp, sizeof(tmp), "%.15g", v);
	if (strtod(tmp, NULL) != v) {
		snprintf(tmp, sizeof(tmp), "%.17g", v);
	}
	raw_value(j, tmp);
}

void sd_json_bool(struct sd_json *j, bool v)
{
	raw_value(j, v ? "true" : "false");
}

void sd_json_null(struct sd_json *j)
{
	raw_value(j, "null");
}

void sd_json_kv_str(struct sd_json *j, const char *key, const char *s)
{
	sd_json_key(j, key);
	sd_json_str(j, s);
}

void sd_json_kv_int(struct sd_json *j, const char *key, int64_t v)
{
	sd_json_key(j, key);
	sd_json_int(j, v);
}

void sd_json_kv_uint(struct sd_json *j, const char *key, uint64_t v)
{
	sd_json_key(j, key);
	sd_json_uint(j, v);
}

void sd_json_kv_double(struct sd_json *j, const char *key, double v)
{
	sd_json_key(j, key);
	sd_json_double(j, v);
}

void sd_json_kv_bool(struct sd_json *j, const char *key, bool v)
{
	sd_json_key(j, key);
	sd_json_bool(j, v);
}

int sd_json_finish(struct sd_json *j)
{
	if (j->buf->err != 0) {
		return j->buf->err;
	}
	if (j->err != 0) {
		return j->err;
	}
	return j->depth == 0 && j->done ? 0 : SD_JSON_EOPEN;
}
