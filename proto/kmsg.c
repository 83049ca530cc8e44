/* kmsg: bounded reader, growable writer, decode arena and header helpers for the generated
 * Kafka codecs (see proto/kmsg.h). No I/O. */
#include "proto/kmsg.h"

#include <limits.h>
#include <stdalign.h>
#include <string.h>

#include "common/sl_common.h"
#include "proto/kafka_msgs.h"
#include "proto/proto.h"

/* ---- Errors ------------------------------------------------------------ */

const char *kmsg_strerror(int err)
{
	switch (err) {
#define KMSG_ERR_STR(name, code, msg)                                                              \
	case code:                                                                                 \
		return msg;
		KMSG_ERRORS(KMSG_ERR_STR)
#undef KMSG_ERR_STR
	default:
		return "unknown error";
	}
}

const char *kmsg_err_name(int err)
{
	switch (err) {
#define KMSG_ERR_NAME(name, code, msg)                                                             \
	case code:                                                                                 \
		return #name;
		KMSG_ERRORS(KMSG_ERR_NAME)
#undef KMSG_ERR_NAME
	default:
		return "KMSG_E?";
	}
}

/* ---- Reader ------------------------------------------------------------ */

static int need(const struct kmsg_reader *r, size_t n)
{
	return r->len - r->pos < n ? KMSG_ETRUNC : 0;
}

static uint64_t get_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		v = (v << 8) | p[i];
	}
	return v;
}

static int read_be(struct kmsg_reader *r, size_t n, uint64_t *v)
{
	int rc = need(r, n);
	if (rc < 0) {
		return rc;
	}
	*v = get_be(r->buf + r->pos, n);
	r->pos += n;
	return 0;
}

/* The signed reads convert through the unsigned type: implementation-defined
 * before C23 but two's complement on every compiler we support. */
int kmsg__read_int8(struct kmsg_reader *r, int8_t *v)
{
	uint64_t x;
	int rc = read_be(r, 1, &x);
	*v = rc < 0 ? 0 : (int8_t)(uint8_t)x;
	return rc;
}

int kmsg__read_int16(struct kmsg_reader *r, int16_t *v)
{
	uint64_t x;
	int rc = read_be(r, 2, &x);
	*v = rc < 0 ? 0 : (int16_t)(uint16_t)x;
	return rc;
}

int kmsg__read_uint16(struct kmsg_reader *r, uint16_t *v)
{
	uint64_t x;
	int rc = read_be(r, 2, &x);
	*v = rc < 0 ? 0 : (uint16_t)x;
	return rc;
}

int kmsg__read_int32(struct kmsg_reader *r, int32_t *v)
{
	uint64_t x;
	int rc = read_be(r, 4, &x);
	*v = rc < 0 ? 0 : (int32_t)(uint32_t)x;
	return rc;
}

int kmsg__read_uint32(struct kmsg_reader *r, uint32_t *v)
{
	uint64_t x;
	int rc = read_be(r, 4, &x);
	*v = rc < 0 ? 0 : (uint32_t)x;
	return rc;
}

int kmsg__read_int64(struct kmsg_reader *r, int64_t *v)
{
	uint64_t x;
	int rc = read_be(r, 8, &x);
	*v = rc < 0 ? 0 : (int64_t)x;
	return rc;
}

int kmsg__read_float64(struct kmsg_reader *r, double *v)
{
	uint64_t x;
	int rc = read_be(r, 8, &x);
	if (rc < 0) {
		*v = 0;
		return rc;
	}
	memcpy(v, &x, sizeof(*v));
	return 0;
}

int kmsg__read_bool(struct kmsg_reader *r, bool *v)
{
	uint64_t x;
	int rc = read_be(r, 1, &x);
	*v = rc == 0 && x != 0;
	return rc;
}

int kmsg__read_uuid(struct kmsg_reader *r, struct kmsg_uuid *v)
{
	int rc = need(r, sizeof(v->bytes));
	if (rc < 0) {
		return rc;
	}
	memcpy(v->bytes, r->buf + r->pos, sizeof(v->bytes));
	r->pos += sizeof(v->bytes);
	return 0;
}

/* Unsigned varint via proto/varint.c (at most 5 bytes, no overflow). */
int kmsg__read_uvarint(struct kmsg_reader *r, uint32_t *v)
{
	int n = kp_uvarint_decode(r->buf + r->pos, r->len - r->pos, v);
	if (n < 0) {
		return n == KP_ETRUNC ? KMSG_ETRUNC : KMSG_EMALFORMED;
	}
	r->pos += (size_t)n;
	return 0;
}

/* Reads the length of a string/bytes field: -1 = null. */
static int read_len(struct kmsg_reader *r, bool compact, bool int16_len, bool nullable,
		    int32_t *len)
{
	int rc;
	int64_t n;
	if (compact) {
		uint32_t u;
		rc = kmsg__read_uvarint(r, &u);
		if (rc < 0) {
			return rc;
		}
		n = (int64_t)u - 1;
	} else if (int16_len) {
		int16_t s;
		rc = kmsg__read_int16(r, &s);
		if (rc < 0) {
			return rc;
		}
		n = s;
	} else {
		int32_t s;
		rc = kmsg__read_int32(r, &s);
		if (rc < 0) {
			return rc;
		}
		n = s;
	}
	if (n < -1) {
		return KMSG_EMALFORMED;
	}
	if (n == -1) {
		if (!nullable) {
			return KMSG_ENULL;
		}
		*len = -1;
		return 0;
	}
	if ((uint64_t)n > kmsg_reader_remaining(r)) {
		return KMSG_ETRUNC;
	}
	*len = (int32_t)n; /* <= remaining, and compact n <= UINT32_MAX - 1 */
	if ((int64_t)*len != n) {
		return KMSG_ETOOLONG;
	}
	return 0;
}

int kmsg__read_string(struct kmsg_reader *r, bool compact, bool nullable, struct kmsg_str *s)
{
	int32_t len;
	int rc = read_len(r, compact, true, nullable, &len);
	if (rc < 0) {
		return rc;
	}
	if (len < 0) {
		*s = kmsg_str_null();
		return 0;
	}
	s->ptr = (const char *)(r->buf + r->pos);
	s->len = len;
	s->null = false;
	r->pos += (size_t)len;
	return 0;
}

int kmsg__read_bytes(struct kmsg_reader *r, bool compact, bool nullable, struct kmsg_bytes *b)
{
	int32_t len;
	int rc = read_len(r, compact, false, nullable, &len);
	if (rc < 0) {
		return rc;
	}
	if (len < 0) {
		b->ptr = NULL;
		b->len = 0;
		b->null = true;
		return 0;
	}
	b->ptr = r->buf + r->pos;
	b->len = len;
	b->null = false;
	r->pos += (size_t)len;
	return 0;
}

int kmsg__read_array_len(struct kmsg_reader *r, bool compact, bool nullable, size_t min_elem_bytes,
			 int32_t *n)
{
	int64_t count;
	int rc;
	if (compact) {
		uint32_t u;
		rc = kmsg__read_uvarint(r, &u);
		if (rc < 0) {
			return rc;
		}
		count = (int64_t)u - 1;
	} else {
		int32_t s;
		rc = kmsg__read_int32(r, &s);
		if (rc < 0) {
			return rc;
		}
		count = s;
	}
	if (count < -1) {
		return KMSG_EMALFORMED;
	}
	if (count == -1) {
		if (!nullable) {
			return KMSG_ENULL;
		}
		*n = -1;
		return 0;
	}
	/* count <= UINT32_MAX and min_elem_bytes is small: no overflow. */
	if ((uint64_t)count * (uint64_t)(min_elem_bytes > 0 ? min_elem_bytes : 1) >
	    kmsg_reader_remaining(r)) {
		return KMSG_ETRUNC;
	}
	if (count > KMSG_ARRAY_COUNT_MAX) {
		return KMSG_ELIMIT;
	}
	*n = (int32_t)count;
	return 0;
}

int kmsg__read_tags(struct kmsg_reader *r, int16_t version, void *out, struct kmsg_arena *arena,
		    struct kmsg_tags *unknown, kmsg__tag_fn fn)
{
	uint32_t n;
	int32_t cap = unknown->count; /* full: the first unknown tag reallocates */
	int rc = kmsg__read_uvarint(r, &n);
	if (rc < 0) {
		return rc;
	}
	/* Every tagged field takes at least two bytes (tag, size). */
	if ((uint64_t)n * 2 > kmsg_reader_remaining(r)) {
		return KMSG_ETRUNC;
	}
	if (n > KMSG_ARRAY_COUNT_MAX) {
		return KMSG_ELIMIT;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t tag;
		uint32_t size;
		rc = kmsg__read_uvarint(r, &tag);
		if (rc < 0) {
			return rc;
		}
		rc = kmsg__read_uvarint(r, &size);
		if (rc < 0) {
			return rc;
		}
		if (size > kmsg_reader_remaining(r)) {
			return KMSG_ETRUNC;
		}
		struct kmsg_reader sub;
		kmsg_reader_init(&sub, r->buf + r->pos, size);
		r->pos += size;
		if (fn != NULL) {
			rc = fn(&sub, tag, version, out, arena);
			if (rc < 0) {
				return rc;
			}
			if (rc > 0) {
				/* A known field must fill its declared size exactly. */
				if (sub.pos != sub.len) {
					return KMSG_EMALFORMED;
				}
				continue;
			}
		}
		if (unknown->count == cap) {
			/* First unknown tag of this section: room for all the rest. */
			struct kmsg_raw_tag *items = kmsg__arena_array(
			    arena, (int32_t)(n - i) + unknown->count, sizeof(*items), &rc);
			if (rc < 0) {
				return rc;
			}
			if (unknown->count > 0) {
				memcpy(items, unknown->items,
				       (size_t)unknown->count * sizeof(*items));
			}
			unknown->items = items;
			cap = (int32_t)(n - i) + unknown->count;
		}
		struct kmsg_raw_tag *t = &unknown->items[unknown->count++];
		t->tag = tag;
		t->data = sub.buf;
		t->len = size;
	}
	return 0;
}

/* ---- Arena ------------------------------------------------------------- */

struct kmsg__arena_chunk {
	struct kmsg__arena_chunk *next;
	size_t size; /* bytes in data[] */
	max_align_t data[];
};

#define ARENA_ALIGN alignof(max_align_t)

void kmsg_arena_init(struct kmsg_arena *a, size_t max_bytes)
{
	a->chunks = NULL;
	a->chunk_used = 0;
	a->used_bytes = 0;
	a->max_bytes = max_bytes > 0 ? max_bytes : KMSG_ARENA_BYTES_MAX_DEFAULT;
}

static void *arena_alloc(struct kmsg_arena *a, size_t n, int *rc)
{
	*rc = 0;
	if (n == 0) {
		return NULL;
	}
	/* The second test keeps the rounding and chunk header below from
	 * overflowing when a caller picked an enormous max_bytes. */
	if (n > a->max_bytes - a->used_bytes || n > SIZE_MAX / 2) {
		*rc = KMSG_ELIMIT;
		return NULL;
	}
	size_t rounded = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	struct kmsg__arena_chunk *c = a->chunks;
	if (c == NULL || c->size - a->chunk_used < rounded) {
		size_t size = rounded > KMSG_ARENA_CHUNK_BYTES ? rounded : KMSG_ARENA_CHUNK_BYTES;
		c = sl_malloc(sizeof(*c) + size);
		if (c == NULL) {
			*rc = KMSG_ENOMEM;
			return NULL;
		}
		c->size = size;
		if (rounded >= KMSG_ARENA_CHUNK_BYTES && a->chunks != NULL) {
			/* A big one-off: keep bump-allocating from the current chunk. */
			c->next = a->chunks->next;
			a->chunks->next = c;
			a->used_bytes += n;
			memset(c->data, 0, n);
			return c->data;
		}
		c->next = a->chunks;
		a->chunks = c;
		a->chunk_used = 0;
	}
	uint8_t *p = (uint8_t *)c->data + a->chunk_used;
	a->chunk_used += rounded;
	a->used_bytes += n;
	memset(p, 0, n);
	return p;
}

void *kmsg_arena_alloc(struct kmsg_arena *a, size_t n)
{
	int rc;
	return arena_alloc(a, n, &rc);
}

void *kmsg__arena_array(struct kmsg_arena *a, int32_t n, size_t elem_bytes, int *rc)
{
	*rc = 0;
	if (n < 0) {
		*rc = KMSG_EINVAL;
		return NULL;
	}
	if (n == 0) {
		return NULL;
	}
	if (elem_bytes > 0 && (size_t)n > SIZE_MAX / elem_bytes) {
		*rc = KMSG_ELIMIT;
		return NULL;
	}
	return arena_alloc(a, (size_t)n * elem_bytes, rc);
}

void kmsg_arena_reset(struct kmsg_arena *a)
{
	struct kmsg__arena_chunk *c = a->chunks;
	while (c != NULL) {
		struct kmsg__arena_chunk *next = c->next;
		sl_free(c);
		c = next;
	}
	kmsg_arena_init(a, a->max_bytes);
}

void kmsg_arena_free(struct kmsg_arena *a)
{
	kmsg_arena_reset(a);
}

/* ---- Writer ------------------------------------------------------------ */

void kmsg_writer_init(struct kmsg_writer *w, size_t max_bytes)
{
	w->buf = NULL;
	w->len = 0;
	w->cap = 0;
	w->max_bytes = max_bytes > 0 ? max_bytes : KMSG_WRITER_BYTES_MAX_DEFAULT;
}

void kmsg_writer_reset(struct kmsg_writer *w)
{
	w->len = 0;
}

void kmsg_writer_free(struct kmsg_writer *w)
{
	sl_free(w->buf);
	kmsg_writer_init(w, w->max_bytes);
}

uint8_t *kmsg_writer_take(struct kmsg_writer *w, size_t *len)
{
	uint8_t *p = w->len > 0 ? w->buf : NULL;
	*len = w->len;
	if (p == NULL) {
		sl_free(w->buf);
	}
	kmsg_writer_init(w, w->max_bytes);
	return p;
}

/* Makes room for n more bytes. */
static int reserve(struct kmsg_writer *w, size_t n)
{
	if (n <= w->cap - w->len) {
		return 0;
	}
	if (n > w->max_bytes - w->len) {
		return KMSG_ELIMIT;
	}
	size_t want = w->len + n;
	size_t cap = w->cap > 0 ? w->cap : 256;
	while (cap < want) {
		cap = cap > w->max_bytes / 2 ? w->max_bytes : cap * 2;
	}
	if (cap > w->max_bytes) {
		cap = w->max_bytes;
	}
	uint8_t *p = sl_realloc(w->buf, cap);
	if (p == NULL) {
		return KMSG_ENOMEM;
	}
	w->buf = p;
	w->cap = cap;
	return 0;
}

int kmsg_writer_append(struct kmsg_writer *w, const void *p, size_t n)
{
	if (n == 0) {
		return 0;
	}
	int rc = reserve(w, n);
	if (rc < 0) {
		return rc;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

static int write_be(struct kmsg_writer *w, uint64_t v, size_t n)
{
	int rc = reserve(w, n);
	if (rc < 0) {
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		w->buf[w->len + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	}
	w->len += n;
	return 0;
}

int kmsg_writer_frame_begin(struct kmsg_writer *w, size_t *mark)
{
	*mark = w->len;
	return write_be(w, 0, 4);
}

int kmsg_writer_frame_end(struct kmsg_writer *w, size_t mark)
{
	if (mark > w->len || w->len - mark < 4) {
		return KMSG_EINVAL;
	}
	size_t n = w->len - mark - 4;
	if (n > INT32_MAX) {
		return KMSG_ETOOLONG;
	}
	for (size_t i = 0; i < 4; i++) {
		w->buf[mark + i] = (uint8_t)(n >> (8 * (3 - i)));
	}
	return 0;
}

int kmsg__write_int8(struct kmsg_writer *w, int8_t v)
{
	return write_be(w, (uint8_t)v, 1);
}

int kmsg__write_int16(struct kmsg_writer *w, int16_t v)
{
	return write_be(w, (uint16_t)v, 2);
}

int kmsg__write_uint16(struct kmsg_writer *w, uint16_t v)
{
	return write_be(w, v, 2);
}

int kmsg__write_int32(struct kmsg_writer *w, int32_t v)
{
	return write_be(w, (uint32_t)v, 4);
}

int kmsg__write_uint32(struct kmsg_writer *w, uint32_t v)
{
	return write_be(w, v, 4);
}

int kmsg__write_int64(struct kmsg_writer *w, int64_t v)
{
	return write_be(w, (uint64_t)v, 8);
}

int kmsg__write_float64(struct kmsg_writer *w, double v)
{
	uint64_t x;
	memcpy(&x, &v, sizeof(x));
	return write_be(w, x, 8);
}

int kmsg__write_bool(struct kmsg_writer *w, bool v)
{
	return write_be(w, v ? 1 : 0, 1);
}

int kmsg__write_uuid(struct kmsg_writer *w, const struct kmsg_uuid *v)
{
	return kmsg_writer_append(w, v->bytes, sizeof(v->bytes));
}

int kmsg__write_uvarint(struct kmsg_writer *w, uint32_t v)
{
	uint8_t tmp[5];
	return kmsg_writer_append(w, tmp, kp_uvarint_encode(v, tmp));
}

/* Writes the length prefix of a string (int16_len) or bytes/array field. */
static int write_len(struct kmsg_writer *w, bool compact, bool int16_len, bool nullable,
		     bool is_null, int32_t len)
{
	if (is_null && !nullable) {
		return KMSG_ENULL;
	}
	if (!is_null && len < 0) {
		return KMSG_EINVAL;
	}
	if (compact) {
		return kmsg__write_uvarint(w, is_null ? 0 : (uint32_t)len + 1);
	}
	if (int16_len) {
		if (len > INT16_MAX) {
			return KMSG_ETOOLONG;
		}
		return kmsg__write_int16(w, is_null ? -1 : (int16_t)len);
	}
	return kmsg__write_int32(w, is_null ? -1 : len);
}

int kmsg__write_string(struct kmsg_writer *w, bool compact, bool nullable, const struct kmsg_str *s)
{
	if (!s->null && s->len > 0 && s->ptr == NULL) {
		return KMSG_EINVAL;
	}
	size_t start = w->len;
	int rc = write_len(w, compact, true, nullable, s->null, s->len);
	if (rc == 0 && !s->null) {
		rc = kmsg_writer_append(w, s->ptr, (size_t)s->len);
	}
	if (rc < 0) {
		w->len = start;
	}
	return rc;
}

int kmsg__write_bytes(struct kmsg_writer *w, bool compact, bool nullable,
		      const struct kmsg_bytes *b)
{
	if (!b->null && b->len > 0 && b->ptr == NULL) {
		return KMSG_EINVAL;
	}
	size_t start = w->len;
	int rc = write_len(w, compact, false, nullable, b->null, b->len);
	if (rc == 0 && !b->null) {
		rc = kmsg_writer_append(w, b->ptr, (size_t)b->len);
	}
	if (rc < 0) {
		w->len = start;
	}
	return rc;
}

int kmsg__write_array_len(struct kmsg_writer *w, bool compact, bool nullable, bool is_null,
			  int32_t count, bool has_items)
{
	if (!is_null && count > 0 && !has_items) {
		return KMSG_EINVAL;
	}
	return write_len(w, compact, false, nullable, is_null, count);
}

int kmsg__write_tag_begin(struct kmsg_writer *w, uint32_t tag, size_t *mark)
{
	int rc = kmsg__write_uvarint(w, tag);
	*mark = w->len;
	return rc;
}

int kmsg__write_tag_end(struct kmsg_writer *w, size_t mark)
{
	size_t size = w->len - mark;
	if (size > UINT32_MAX) {
		return KMSG_ETOOLONG;
	}
	uint8_t tmp[5];
	size_t n = kp_uvarint_encode((uint32_t)size, tmp);
	int rc = reserve(w, n);
	if (rc < 0) {
		return rc;
	}
	memmove(w->buf + mark + n, w->buf + mark, size);
	memcpy(w->buf + mark, tmp, n);
	w->len += n;
	return 0;
}

static int write_raw_tag(struct kmsg_writer *w, const struct kmsg_raw_tag *t)
{
	if (t->len > 0 && t->data == NULL) {
		return KMSG_EINVAL;
	}
	int rc = kmsg__write_uvarint(w, t->tag);
	if (rc == 0) {
		rc = kmsg__write_uvarint(w, t->len);
	}
	if (rc == 0) {
		rc = kmsg_writer_append(w, t->data, t->len);
	}
	return rc;
}

int kmsg__write_unknown_tags_below(struct kmsg_writer *w, const struct kmsg_tags *t, int32_t *idx,
				   uint32_t below)
{
	while (*idx < t->count && t->items[*idx].tag < below) {
		int rc = write_raw_tag(w, &t->items[*idx]);
		if (rc < 0) {
			return rc;
		}
		(*idx)++;
	}
	return 0;
}

int kmsg__write_unknown_tags_rest(struct kmsg_writer *w, const struct kmsg_tags *t, int32_t *idx)
{
	while (*idx < t->count) {
		int rc = write_raw_tag(w, &t->items[*idx]);
		if (rc < 0) {
			return rc;
		}
		(*idx)++;
	}
	return 0;
}

int kmsg__write_tags_unknown(struct kmsg_writer *w, const struct kmsg_tags *t)
{
	int32_t idx = 0;
	if (t->count < 0 || (t->count > 0 && t->items == NULL)) {
		return KMSG_EINVAL;
	}
	int rc = kmsg__write_uvarint(w, (uint32_t)t->count);
	if (rc < 0) {
		return rc;
	}
	return kmsg__write_unknown_tags_rest(w, t, &idx);
}

bool kmsg__uuid_is_zero(const struct kmsg_uuid *u)
{
	for (size_t i = 0; i < sizeof(u->bytes); i++) {
		if (u->bytes[i] != 0) {
			return false;
		}
	}
	return true;
}

bool kmsg__str_equals(const struct kmsg_str *s, const char *c, size_t n)
{
	return !s->null && (size_t)s->len == n && (n == 0 || memcmp(s->ptr, c, n) == 0);
}

/* ---- Headers ----------------------------------------------------------- */

int kmsg_request_header_version(int16_t api_key, int16_t api_version)
{
	const struct kmsg_api *api = kmsg_api_lookup(api_key);
	if (api != NULL && api->first_flexible_version >= 0 &&
	    api_version >= api->first_flexible_version) {
		return 2;
	}
	return 1;
}

int kmsg_response_header_version(int16_t api_key, int16_t api_version)
{
	if (api_key == KMSG_API_API_VERSIONS) {
		return 0;
	}
	const struct kmsg_api *api = kmsg_api_lookup(api_key);
	if (api != NULL && api->first_flexible_version >= 0 &&
	    api_version >= api->first_flexible_version) {
		return 1;
	}
	return 0;
}

int kmsg_request_header_read(struct kmsg_reader *r, struct kmsg_request_header *out,
			     struct kmsg_arena *arena)
{
	int rc = need(r, 4);
	if (rc < 0) {
		return rc;
	}
	const uint8_t *p = r->buf + r->pos;
	int16_t key = (int16_t)(uint16_t)get_be(p, 2);
	int16_t version = (int16_t)(uint16_t)get_be(p + 2, 2);
	return kmsg_request_header_decode(r, (int16_t)kmsg_request_header_version(key, version),
					  out, arena);
}

int kmsg_request_header_write(struct kmsg_writer *w, const struct kmsg_request_header *h)
{
	int hv = kmsg_request_header_version(h->request_api_key, h->request_api_version);
	return kmsg_request_header_encode(w, (int16_t)hv, h);
}

int kmsg_response_header_read(struct kmsg_reader *r, int16_t api_key, int16_t api_version,
			      struct kmsg_response_header *out, struct kmsg_arena *arena)
{
	int hv = kmsg_response_header_version(api_key, api_version);
	return kmsg_response_header_decode(r, (int16_t)hv, out, arena);
}

int kmsg_response_header_write(struct kmsg_writer *w, int16_t api_key, int16_t api_version,
			       int32_t correlation_id)
{
	struct kmsg_response_header h;
	kmsg_response_header_init(&h);
	h.correlation_id = correlation_id;
	return kmsg_response_header_encode(
	    w, (int16_t)kmsg_response_header_version(api_key, api_version), &h);
}
