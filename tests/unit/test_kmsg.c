/* Unit tests for proto/kmsg and the generated Kafka codecs: round trips at every version, known
 * answers, hostile input, limits and allocation failures. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "proto/kafka_msgs.h"
#include "proto/kmsg.h"

/* ---- Helpers used by the generated fill/equal code (kmsg_fill.c) -------- */

struct msg_case {
	const char *name;
	int16_t min_version;
	int16_t max_version;
	size_t size;
	void (*fill)(void *m, int16_t version, uint32_t seed, struct kmsg_arena *a);
	bool (*equal)(const void *x, const void *y);
	int (*encode)(struct kmsg_writer *w, int16_t version, const void *in);
	int (*decode)(struct kmsg_reader *r, int16_t version, void *out, struct kmsg_arena *arena);
};

/* A value in 1..100 derived from the seed and the field's position. */
static uint32_t fv(uint32_t seed, uint32_t j)
{
	return 1 + (seed * 7919u + j * 104729u) % 100u;
}

static struct kmsg_str fill_str(struct kmsg_arena *a, uint32_t seed, uint32_t j)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "s%u_%u", (unsigned)seed, (unsigned)j);
	char *p = kmsg_arena_alloc(a, (size_t)n);
	ck_assert_ptr_nonnull(p);
	memcpy(p, tmp, (size_t)n);
	struct kmsg_str s = {p, n, false};
	return s;
}

static struct kmsg_bytes fill_bytes(struct kmsg_arena *a, uint32_t seed, uint32_t j)
{
	int32_t n = (int32_t)(1 + fv(seed, j) % 8);
	uint8_t *p = kmsg_arena_alloc(a, (size_t)n);
	ck_assert_ptr_nonnull(p);
	for (int32_t i = 0; i < n; i++) {
		p[i] = (uint8_t)(seed + j + (uint32_t)i);
	}
	struct kmsg_bytes b = {p, n, false};
	return b;
}

static void fill_uuid(struct kmsg_uuid *u, uint32_t seed, uint32_t j)
{
	for (size_t i = 0; i < sizeof(u->bytes); i++) {
		u->bytes[i] = (uint8_t)(fv(seed, j) + i);
	}
}

/* Two unknown tagged fields, numbered above every known tag of the struct. */
static void fill_unknown_tags(struct kmsg_tags *t, struct kmsg_arena *a, uint32_t seed,
			      uint32_t first_tag)
{
	t->items = kmsg_arena_alloc(a, 2 * sizeof(*t->items));
	ck_assert_ptr_nonnull(t->items);
	t->count = 2;
	for (uint32_t i = 0; i < 2; i++) {
		struct kmsg_bytes b = fill_bytes(a, seed, 50 + i);
		t->items[i].tag = first_tag + 3 * i;
		t->items[i].data = b.ptr;
		t->items[i].len = (uint32_t)b.len;
	}
}

static bool differ(const char *where)
{
	fprintf(stderr, "kmsg test: %s differs\n", where);
	return false;
}

static bool str_eq(const struct kmsg_str *x, const struct kmsg_str *y)
{
	if (x->null || y->null) {
		return x->null == y->null;
	}
	return x->len == y->len && (x->len == 0 || memcmp(x->ptr, y->ptr, (size_t)x->len) == 0);
}

static bool bytes_eq(const struct kmsg_bytes *x, const struct kmsg_bytes *y)
{
	if (x->null || y->null) {
		return x->null == y->null;
	}
	return x->len == y->len && (x->len == 0 || memcmp(x->ptr, y->ptr, (size_t)x->len) == 0);
}

static bool tags_eq(const struct kmsg_tags *x, const struct kmsg_tags *y)
{
	if (x->count != y->count) {
		return false;
	}
	for (int32_t i = 0; i < x->count; i++) {
		const struct kmsg_raw_tag *a = &x->items[i];
		const struct kmsg_raw_tag *b = &y->items[i];
		if (a->tag != b->tag || a->len != b->len ||
		    (a->len > 0 && memcmp(a->data, b->data, a->len) != 0)) {
			return false;
		}
	}
	return true;
}

#include "kmsg_fill.c"

#define N_CASES ((int)SL_ARRAY_LEN(msg_cases))

/* ---- Small utilities --------------------------------------------------- */

/* A heap copy of exactly n bytes, so ASan catches any read past the end. */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n > 0 ? n : 1);
	ck_assert_ptr_nonnull(d);
	if (n > 0) {
		memcpy(d, p, n);
	}
	return d;
}

static const struct msg_case *find_case(const char *name)
{
	for (int i = 0; i < N_CASES; i++) {
		if (strcmp(msg_cases[i].name, name) == 0) {
			return &msg_cases[i];
		}
	}
	ck_abort_msg("no case %s", name);
	return NULL;
}

/* Encodes case c at version v with seed into a fresh heap buffer. */
static uint8_t *encode_filled(const struct msg_case *c, int16_t v, uint32_t seed, size_t *len)
{
	struct kmsg_arena a;
	struct kmsg_writer w;
	void *m = calloc(1, c->size);
	ck_assert_ptr_nonnull(m);
	kmsg_arena_init(&a, 0);
	kmsg_writer_init(&w, 0);
	c->fill(m, v, seed, &a);
	int rc = c->encode(&w, v, m);
	ck_assert_msg(rc == 0, "%s v%d encode: %s", c->name, v, kmsg_err_name(rc));
	uint8_t *out = dup_exact(w.buf, w.len);
	*len = w.len;
	kmsg_writer_free(&w);
	kmsg_arena_free(&a);
	free(m);
	return out;
}

/* Decodes buf[0..len) as case c at version v; returns the kmsg_err. */
static int decode_buf(const struct msg_case *c, int16_t v, const uint8_t *buf, size_t len,
		      size_t *remaining)
{
	struct kmsg_arena a;
	struct kmsg_reader r;
	void *m = calloc(1, c->size);
	ck_assert_ptr_nonnull(m);
	kmsg_arena_init(&a, 0);
	kmsg_reader_init(&r, buf, len);
	int rc = c->decode(&r, v, m, &a);
	ck_assert_uint_le(r.pos, r.len);
	if (remaining != NULL) {
		*remaining = kmsg_reader_remaining(&r);
	}
	kmsg_arena_free(&a);
	free(m);
	return rc;
}

/* Every strict prefix of buf must fail to decode, without reading past it. */
static void check_truncations(const struct msg_case *c, int16_t v, const uint8_t *buf, size_t len)
{
	for (size_t n = 0; n < len; n++) {
		uint8_t *p = dup_exact(buf, n);
		int rc = decode_buf(c, v, p, n, NULL);
		ck_assert_msg(rc < 0, "%s v%d: prefix %zu/%zu decoded", c->name, v, n, len);
		free(p);
	}
}

static void expect_bytes(const struct kmsg_writer *w, const uint8_t *want, size_t n)
{
	ck_assert_uint_eq(w->len, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(w->buf[i] == want[i], "byte %zu: got %02x want %02x", i, w->buf[i],
			      want[i]);
	}
}

/* ---- Round trips ------------------------------------------------------- */

#define SEEDS 8

/* For every version and seed: fill, encode, decode (from an exact-size copy),
 * compare, re-encode to identical bytes; every prefix of the first seeds'
 * encodings must fail to decode. */
START_TEST(roundtrip_every_version)
{
	const struct msg_case *c = &msg_cases[_i];
	for (int v = c->min_version; v <= c->max_version; v++) {
		for (uint32_t seed = 0; seed < SEEDS; seed++) {
			struct kmsg_arena a1;
			struct kmsg_arena a2;
			struct kmsg_writer w1;
			struct kmsg_writer w2;
			void *m1 = calloc(1, c->size);
			void *m2 = calloc(1, c->size);
			ck_assert(m1 != NULL && m2 != NULL);
			kmsg_arena_init(&a1, 0);
			kmsg_arena_init(&a2, 0);
			kmsg_writer_init(&w1, 0);
			kmsg_writer_init(&w2, 0);

			c->fill(m1, (int16_t)v, seed, &a1);
			int rc = c->encode(&w1, (int16_t)v, m1);
			ck_assert_msg(rc == 0, "%s v%d seed %u encode: %s", c->name, v, seed,
				      kmsg_err_name(rc));
			uint8_t *buf = dup_exact(w1.buf, w1.len);
			struct kmsg_reader r;
			kmsg_reader_init(&r, buf, w1.len);
			rc = c->decode(&r, (int16_t)v, m2, &a2);
			ck_assert_msg(rc == 0, "%s v%d seed %u decode: %s", c->name, v, seed,
				      kmsg_err_name(rc));
			ck_assert_msg(kmsg_reader_remaining(&r) == 0, "%s v%d: %zu bytes left",
				      c->name, v, kmsg_reader_remaining(&r));
			ck_assert_msg(c->equal(m1, m2), "%s v%d seed %u: decoded != filled",
				      c->name, v, seed);
			rc = c->encode(&w2, (int16_t)v, m2);
			ck_assert_int_eq(rc, 0);
			ck_assert_uint_eq(w1.len, w2.len);
			ck_assert_msg(w1.len == 0 || memcmp(w1.buf, w2.buf, w1.len) == 0,
				      "%s v%d seed %u: re-encoding differs", c->name, v, seed);
			if (seed < 2) {
				check_truncations(c, (int16_t)v, buf, w1.len);
			}

			free(buf);
			kmsg_writer_free(&w1);
			kmsg_writer_free(&w2);
			kmsg_arena_free(&a1);
			kmsg_arena_free(&a2);
			free(m1);
			free(m2);
		}
	}
}
END_TEST

/* A struct fresh from _init encodes at every version (defaults are always
 * representable) and decodes back equal. */
START_TEST(defaults_encode_every_version)
{
	const struct msg_case *c = &msg_cases[_i];
	for (int v = c->min_version; v <= c->max_version; v++) {
		size_t len;
		uint8_t *buf = encode_filled(c, (int16_t)v, 3, &len);
		size_t left = 99;
		ck_assert_int_eq(decode_buf(c, (int16_t)v, buf, len, &left), 0);
		ck_assert_uint_eq(left, 0);
		free(buf);
	}
}
END_TEST

START_TEST(version_out_of_range)
{
	const struct msg_case *c = &msg_cases[_i];
	struct kmsg_writer w;
	struct kmsg_arena a;
	struct kmsg_reader r;
	uint8_t zeros[64] = {0};
	void *m = calloc(1, c->size);
	ck_assert_ptr_nonnull(m);
	kmsg_writer_init(&w, 0);
	kmsg_arena_init(&a, 0);
	c->fill(m, c->max_version, 3, &a);
	ck_assert_int_eq(c->encode(&w, (int16_t)(c->max_version + 1), m), KMSG_EVERSION);
	ck_assert_int_eq(c->encode(&w, -1, m), KMSG_EVERSION);
	ck_assert_uint_eq(w.len, 0);
	kmsg_reader_init(&r, zeros, sizeof(zeros));
	ck_assert_int_eq(c->decode(&r, (int16_t)(c->max_version + 1), m, &a), KMSG_EVERSION);
	ck_assert_int_eq(c->decode(&r, -1, m, &a), KMSG_EVERSION);
	kmsg_writer_free(&w);
	kmsg_arena_free(&a);
	free(m);
}
END_TEST

/* ---- Known answers ----------------------------------------------------- */

START_TEST(kat_api_versions_v0_request)
{
	/* Header v1: api_key 18, version 0, correlation 1, client_id "cli"; empty body. */
	static const uint8_t want[] = {0x00, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00,
				       0x01, 0x00, 0x03, 'c',  'l',  'i'};
	struct kmsg_writer w;
	struct kmsg_request_header h;
	struct kmsg_api_versions_request body;
	kmsg_writer_init(&w, 0);
	kmsg_request_header_init(&h);
	h.request_api_key = KMSG_API_API_VERSIONS;
	h.request_api_version = 0;
	h.correlation_id = 1;
	h.client_id = kmsg_str_make("cli");
	ck_assert_int_eq(kmsg_request_header_write(&w, &h), 0);
	kmsg_api_versions_request_init(&body);
	ck_assert_int_eq(kmsg_api_versions_request_encode(&w, 0, &body), 0);
	expect_bytes(&w, want, sizeof(want));

	struct kmsg_reader r;
	struct kmsg_arena a;
	kmsg_arena_init(&a, 0);
	kmsg_reader_init(&r, want, sizeof(want));
	ck_assert_int_eq(kmsg_request_header_read(&r, &h, &a), 0);
	ck_assert_int_eq(h.request_api_key, 18);
	ck_assert_int_eq(h.request_api_version, 0);
	ck_assert_int_eq(h.correlation_id, 1);
	ck_assert(kmsg_str_eq(&h.client_id, "cli"));
	ck_assert_ptr_eq(h.client_id.ptr, (const char *)want + 10); /* borrowed */
	ck_assert_int_eq(kmsg_api_versions_request_decode(&r, 0, &body, &a), 0);
	ck_assert_uint_eq(kmsg_reader_remaining(&r), 0);
	kmsg_arena_free(&a);
	kmsg_writer_free(&w);
}
END_TEST

START_TEST(kat_api_versions_v0_response)
{
	/* Response header v0 (correlation 7), error 0, [{0,0,7},{18,0,2}]. */
	static const uint8_t want[] = {0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00,
				       0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
				       0x00, 0x12, 0x00, 0x00, 0x00, 0x02};
	struct kmsg_api_versions_response_api_version keys[2];
	struct kmsg_api_versions_response resp;
	struct kmsg_writer w;
	kmsg_writer_init(&w, 0);
	kmsg_api_versions_response_init(&resp);
	for (int i = 0; i < 2; i++) {
		kmsg_api_versions_response_api_version_init(&keys[i]);
	}
	keys[0].api_key = 0;
	keys[0].max_version = 7;
	keys[1].api_key = 18;
	keys[1].max_version = 2;
	resp.api_keys.items = keys;
	resp.api_keys.count = 2;
	ck_assert_int_eq(kmsg_response_header_write(&w, KMSG_API_API_VERSIONS, 0, 7), 0);
	ck_assert_int_eq(kmsg_api_versions_response_encode(&w, 0, &resp), 0);
	expect_bytes(&w, want, sizeof(want));

	struct kmsg_reader r;
	struct kmsg_arena a;
	struct kmsg_response_header rh;
	kmsg_arena_init(&a, 0);
	kmsg_reader_init(&r, want, sizeof(want));
	ck_assert_int_eq(kmsg_response_header_read(&r, KMSG_API_API_VERSIONS, 0, &rh, &a), 0);
	ck_assert_int_eq(rh.correlation_id, 7);
	ck_assert_int_eq(kmsg_api_versions_response_decode(&r, 0, &resp, &a), 0);
	ck_assert_int_eq(resp.api_keys.count, 2);
	ck_assert_int_eq(resp.api_keys.items[1].api_key, 18);
	ck_assert_int_eq(resp.api_keys.items[1].max_version, 2);
	ck_assert_int_eq(resp.throttle_time_ms, 0);
	kmsg_arena_free(&a);
	kmsg_writer_free(&w);
}
END_TEST

/* v3 is flexible: compact array, per-element and top-level tag sections, and
 * still a v0 response header (KIP-511). */
START_TEST(kat_api_versions_v3_response)
{
	static const uint8_t want[] = {
	    0x00, 0x00, 0x00, 0x09,		      /* header v0 */
	    0x00, 0x00, 0x02,			      /* error, compact count 1 */
	    0x00, 0x12, 0x00, 0x00, 0x00, 0x03, 0x00, /* {18,0,3} + tags */
	    0x00, 0x00, 0x00, 0x05,		      /* throttle 5 */
	    0x01, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00,
	    0x00, 0x00, 0x00, 0x04}; /* tag 1 (FinalizedFeaturesEpoch) = 4 */
	struct kmsg_api_versions_response_api_version key;
	struct kmsg_api_versions_response resp;
	struct kmsg_writer w;
	kmsg_writer_init(&w, 0);
	kmsg_api_versions_response_init(&resp);
	kmsg_api_versions_response_api_version_init(&key);
	key.api_key = 18;
	key.max_version = 3;
	resp.api_keys.items = &key;
	resp.api_keys.count = 1;
	resp.throttle_time_ms = 5;
	resp.finalized_features_epoch = 4;
	ck_assert_int_eq(kmsg_response_header_version(KMSG_API_API_VERSIONS, 3), 0);
	ck_assert_int_eq(kmsg_response_header_write(&w, KMSG_API_API_VERSIONS, 3, 9), 0);
	ck_assert_int_eq(kmsg_api_versions_response_encode(&w, 3, &resp), 0);
	expect_bytes(&w, want, sizeof(want));
	kmsg_writer_free(&w);
}
END_TEST

/* What librdkafka sends first: ApiVersions v3, request header v2 (client_id
 * stays a non-compact string), compact body strings. */
START_TEST(kat_api_versions_v3_request)
{
	static const uint8_t in[] = {0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x2a, 0x00,
				     0x07, 'r',	 'd',  'k',  'a',  'f',	 'k',  'a',  0x00,
				     0x0b, 'l',	 'i',  'b',  'r',  'd',	 'k',  'a',  'f',
				     'k',  'a',	 0x06, '2',  '.',  '0',	 '.',  '2',  0x00};
	struct kmsg_reader r;
	struct kmsg_arena a;
	struct kmsg_request_header h;
	struct kmsg_api_versions_request body;
	kmsg_arena_init(&a, 0);
	kmsg_reader_init(&r, in, sizeof(in));
	ck_assert_int_eq(kmsg_request_header_read(&r, &h, &a), 0);
	ck_assert_int_eq(h.correlation_id, 42);
	ck_assert(kmsg_str_eq(&h.client_id, "rdkafka"));
	ck_assert_int_eq(kmsg_api_versions_request_decode(&r, 3, &body, &a), 0);
	ck_assert(kmsg_str_eq(&body.client_software_name, "librdkafka"));
	ck_assert(kmsg_str_eq(&body.client_software_version, "2.0.2"));
	ck_assert_uint_eq(kmsg_reader_remaining(&r), 0);

	struct kmsg_writer w;
	kmsg_writer_init(&w, 0);
	ck_assert_int_eq(kmsg_request_header_write(&w, &h), 0);
	ck_assert_int_eq(kmsg_api_versions_request_encode(&w, 3, &body), 0);
	expect_bytes(&w, in, sizeof(in));
	kmsg_writer_free(&w);
	kmsg_arena_free(&a);
}
END_TEST

START_TEST(kat_metadata_v1_request)
{
	static const uint8_t one[] = {0x00, 0x00, 0x00, 0x01, 0x00, 0x03, 'f', 'o', 'o'};
	static const uint8_t all[] = {0xff, 0xff, 0xff, 0xff};
	struct kmsg_metadata_request_topic t;
	struct kmsg_metadata_request req;
	struct kmsg_writer w;
	kmsg_writer_init(&w, 0);
	kmsg_metadata_request_init(&req);
	kmsg_metadata_request_topic_init(&t);
	t.name = kmsg_str_make("foo");
	req.topics.items = &t;
	req.topics.count = 1;
	ck_assert_int_eq(kmsg_metadata_request_encode(&w, 1, &req), 0);
	expect_bytes(&w, one, sizeof(one));

	/* null = all topics, from v1 on; v0 cannot say it. */
	kmsg_writer_reset(&w);
	req.topics.null = true;
	ck_assert_int_eq(kmsg_metadata_request_encode(&w, 1, &req), 0);
	expect_bytes(&w, all, sizeof(all));
	kmsg_writer_reset(&w);
	ck_assert_int_eq(kmsg_metadata_request_encode(&w, 0, &req), KMSG_ENULL);
	ck_assert_uint_eq(w.len, 0);

	struct kmsg_reader r;
	struct kmsg_arena a;
	kmsg_arena_init(&a, 0);
	kmsg_reader_init(&r, one, sizeof(one));
	ck_assert_int_eq(kmsg_metadata_request_decode(&r, 1, &req, &a), 0);
	ck_assert(!req.topics.null);
	ck_assert_int_eq(req.topics.count, 1);
	ck_assert(kmsg_str_eq(&req.topics.items[0].name, "foo"));
	ck_assert(req.allow_auto_topic_creation); /* v4+ field: default true */
	kmsg_reader_init(&r, all, sizeof(all));
	ck_assert_int_eq(kmsg_metadata_request_decode(&r, 1, &req, &a), 0);
	ck_assert(req.topics.null);
	ck_assert_int_eq(req.topics.count, 0);
	kmsg_reader_init(&r, all, sizeof(all));
	ck_assert_int_eq(kmsg_metadata_request_decode(&r, 0, &req, &a), KMSG_ENULL);
	kmsg_arena_free(&a);
	kmsg_writer_free(&w);
}
END_TEST

START_TEST(kat_produce_v3_request)
{
	static const uint8_t want[] = {
	    0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07, 0x00,
	    0x07, 'r',	'd',  'k',  'a',  'f',	'k',  'a',  /* header v1 */
	    0xff, 0xff,					    /* transactional_id null */
	    0xff, 0xff, 0x00, 0x00, 0x75, 0x30,		    /* acks -1, timeout 30000 */
	    0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 't',	    /* [topic "t"] */
	    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, /* [partition 2] */
	    0x00, 0x00, 0x00, 0x03, 0xaa, 0xbb, 0xcc};	    /* records */
	struct kmsg_request_header h;
	struct kmsg_produce_request req;
	struct kmsg_produce_request_topic_produce_data td;
	struct kmsg_produce_request_partition_produce_data pd;
	static const uint8_t recs[] = {0xaa, 0xbb, 0xcc};
	struct kmsg_writer w;
	kmsg_writer_init(&w, 0);
	kmsg_request_header_init(&h);
	h.request_api_key = KMSG_API_PRODUCE;
	h.request_api_version = 3;
	h.correlation_id = 7;
	h.client_id = kmsg_str_make("rdkafka");
	kmsg_produce_request_init(&req);
	kmsg_produce_request_topic_produce_data_init(&td);
	kmsg_produce_request_partition_produce_data_init(&pd);
	req.acks = -1;
	req.timeout_ms = 30000;
	td.name = kmsg_str_make("t");
	pd.index = 2;
	pd.records.ptr = recs;
	pd.records.len = 3;
	pd.records.null = false;
	td.partition_data.items = &pd;
	td.partition_data.count = 1;
	req.topic_data.items = &td;
	req.topic_data.count = 1;
	ck_assert_int_eq(kmsg_request_header_version(KMSG_API_PRODUCE, 3), 1);
	ck_assert_int_eq(kmsg_request_header_write(&w, &h), 0);
	ck_assert_int_eq(kmsg_produce_request_encode(&w, 3, &req), 0);
	expect_bytes(&w, want, sizeof(want));

	struct kmsg_reader r;
	struct kmsg_arena a;
	kmsg_arena_init(&a, 0);
	kmsg_reader_init(&r, want, sizeof(want));
	ck_assert_int_eq(kmsg_request_header_read(&r, &h, &a), 0);
	ck_assert_int_eq(h.request_api_key, 0);
	ck_assert_int_eq(h.request_api_version, 3);
	ck_assert_int_eq(h.correlation_id, 7);
	ck_assert(kmsg_str_eq(&h.client_id, "rdkafka"));
	ck_assert_int_eq(kmsg_produce_request_decode(&r, 3, &req, &a), 0);
	ck_assert(req.transactional_id.null);
	ck_assert_int_eq(req.acks, -1);
	ck_assert_int_eq(req.topic_data.items[0].partition_data.items[0].index, 2);
	/* Records are borrowed from the input, not copied. */
	ck_assert_ptr_eq(req.topic_data.items[0].partition_data.items[0].records.ptr,
			 want + sizeof(want) - 3);
	kmsg_arena_free(&a);
	kmsg_writer_free(&w);
}
END_TEST

/* Fetch v12 is flexible: a known top-level tagged field (ClusterId, tag 0)
 * and an unknown one (tag 7) survive decode and re-encode. */
START_TEST(kat_fetch_v12_tagged_fields)
{
	static const uint8_t in[] = {
	    0xff, 0xff, 0xff, 0xff,			    /* replica_id -1 */
	    0x00, 0x00, 0x01, 0xf4, 0x00, 0x00, 0x00, 0x01, /* max_wait 500, min_bytes 1 */
	    0x7f, 0xff, 0xff, 0xff, 0x00,		    /* max_bytes, isolation 0 */
	    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, /* session 0, epoch -1 */
	    0x01, 0x01, 0x01,				    /* no topics, no forgotten, rack "" */
	    0x02,					    /* two tagged fields */
	    0x00, 0x03, 0x03, 'c',  'l',		    /* tag 0: ClusterId "cl" */
	    0x07, 0x02, 0xde, 0xad};			    /* tag 7: unknown */
	struct kmsg_fetch_request req;
	struct kmsg_reader r;
	struct kmsg_arena a;
	struct kmsg_writer w;
	kmsg_arena_init(&a, 0);
	kmsg_writer_init(&w, 0);
	kmsg_reader_init(&r, in, sizeof(in));
	ck_assert_int_eq(kmsg_fetch_request_decode(&r, 12, &req, &a), 0);
	ck_assert_uint_eq(kmsg_reader_remaining(&r), 0);
	ck_assert_int_eq(req.max_wait_ms, 500);
	ck_assert(kmsg_str_eq(&req.cluster_id, "cl"));
	ck_assert(kmsg_str_eq(&req.rack_id, ""));
	ck_assert_int_eq(req.unknown_tags.count, 1);
	ck_assert_uint_eq(req.unknown_tags.items[0].tag, 7);
	ck_assert_uint_eq(req.unknown_tags.items[0].len, 2);
	ck_assert_int_eq(kmsg_fetch_request_encode(&w, 12, &req), 0);
	expect_bytes(&w, in, sizeof(in));

	/* Tag 1 (ReplicaState) only exists from v15: at v12 it is unknown. */
	uint8_t in2[sizeof(in)];
	memcpy(in2, in, sizeof(in));
	in2[sizeof(in) - 4] = 0x01;
	kmsg_reader_init(&r, in2, sizeof(in2));
	ck_assert_int_eq(kmsg_fetch_request_decode(&r, 12, &req, &a), 0);
	ck_assert_uint_eq(req.unknown_tags.items[0].tag, 1);
	ck_assert_int_eq(req.replica_state.replica_id, -1);

	/* A known tag whose declared size does not match its content. */
	memcpy(in2, in, sizeof(in));
	in2[sizeof(in) - 8] = 0x02; /* size 2, but the string says 2 bytes + length byte */
	kmsg_reader_init(&r, in2, sizeof(in2));
	ck_assert_int_lt(kmsg_fetch_request_decode(&r, 12, &req, &a), 0);
	kmsg_writer_free(&w);
	kmsg_arena_free(&a);
}
END_TEST

/* ---- Encode-side rules ------------------------------------------------- */

START_TEST(encode_ignorable_rule)
{
	struct kmsg_fetch_request req;
	struct kmsg_fetch_request_fetch_topic t;
	struct kmsg_fetch_request_fetch_partition p;
	struct kmsg_writer w;
	kmsg_writer_init(&w, 0);
	kmsg_fetch_request_init(&req);
	kmsg_fetch_request_fetch_topic_init(&t);
	kmsg_fetch_request_fetch_partition_init(&p);
	t.topic = kmsg_str_make("t");
	t.partitions.items = &p;
	t.partitions.count = 1;
	req.topics.items = &t;
	req.topics.count = 1;

	/* IsolationLevel (v4+) is ignorable: silently dropped at v3. */
	req.isolation_level = 1;
	ck_assert_int_eq(kmsg_fetch_request_encode(&w, 3, &req), 0);
	req.isolation_level = 0;

	/* LastFetchedEpoch (v12+) is not: a non-default value fails below v12. */
	kmsg_writer_reset(&w);
	p.last_fetched_epoch = 5;
	ck_assert_int_eq(kmsg_fetch_request_encode(&w, 11, &req), KMSG_EUNSUPPORTED);
	ck_assert_uint_eq(w.len, 0); /* writer restored */
	ck_assert_int_eq(kmsg_fetch_request_encode(&w, 12, &req), 0);
	p.last_fetched_epoch = -1;

	/* ReplicaId ends at v14 and is not ignorable; ReplicaState (tagged, v15+) neither. */
	kmsg_writer_reset(&w);
	req.replica_id = 3;
	ck_assert_int_eq(kmsg_fetch_request_encode(&w, 15, &req), KMSG_EUNSUPPORTED);
	ck_assert_int_eq(kmsg_fetch_request_encode(&w, 14, &req), 0);
	req.replica_id = -1;
	req.replica_state.replica_id = 3;
	kmsg_writer_reset(&w);
	ck_assert_int_eq(kmsg_fetch_request_encode(&w, 14, &req), KMSG_EUNSUPPORTED);
	ck_assert_int_eq(kmsg_fetch_request_encode(&w, 15, &req), 0);
	kmsg_writer_free(&w);
}
END_TEST

START_TEST(encode_bad_values)
{
	struct kmsg_metadata_request req;
	struct kmsg_metadata_request_topic t;
	struct kmsg_writer w;
	kmsg_writer_init(&w, 0);
	kmsg_metadata_request_init(&req);
	kmsg_metadata_request_topic_init(&t);
	req.topics.items = &t;
	req.topics.count = 1;

	/* Null name: nullable only from v10. */
	t.name = kmsg_str_null();
	ck_assert_int_eq(kmsg_metadata_request_encode(&w, 9, &req), KMSG_ENULL);
	ck_assert_int_eq(kmsg_metadata_request_encode(&w, 10, &req), 0);

	/* A non-compact string holds at most INT16_MAX bytes. */
	kmsg_writer_reset(&w);
	char *big = calloc(1, 40000);
	ck_assert_ptr_nonnull(big);
	t.name.ptr = big;
	t.name.len = 40000;
	t.name.null = false;
	ck_assert_int_eq(kmsg_metadata_request_encode(&w, 8, &req), KMSG_ETOOLONG);
	ck_assert_uint_eq(w.len, 0);
	ck_assert_int_eq(kmsg_metadata_request_encode(&w, 9, &req), 0); /* compact: fine */
	free(big);

	/* Inconsistent arrays and strings. */
	kmsg_writer_reset(&w);
	t.name = kmsg_str_make("x");
	req.topics.items = NULL;
	ck_assert_int_eq(kmsg_metadata_request_encode(&w, 1, &req), KMSG_EINVAL);
	req.topics.items = &t;
	req.topics.count = -1;
	ck_assert_int_eq(kmsg_metadata_request_encode(&w, 1, &req), KMSG_EINVAL);
	req.topics.count = 1;
	t.name.ptr = NULL;
	ck_assert_int_eq(kmsg_metadata_request_encode(&w, 1, &req), KMSG_EINVAL);
	t.name.len = -3;
	t.name.ptr = "x";
	ck_assert_int_eq(kmsg_metadata_request_encode(&w, 1, &req), KMSG_EINVAL);
	ck_assert_uint_eq(w.len, 0);
	kmsg_writer_free(&w);
}
END_TEST

START_TEST(writer_limit_and_frames)
{
	struct kmsg_writer w;
	struct kmsg_metadata_request req;
	struct kmsg_metadata_request_topic t[4];
	kmsg_metadata_request_init(&req);
	for (int i = 0; i < 4; i++) {
		kmsg_metadata_request_topic_init(&t[i]);
		t[i].name = kmsg_str_make("topic-name");
	}
	req.topics.items = t;
	req.topics.count = 4;
	kmsg_writer_init(&w, 16);
	ck_assert_int_eq(kmsg_metadata_request_encode(&w, 1, &req), KMSG_ELIMIT);
	ck_assert_uint_eq(w.len, 0);
	kmsg_writer_free(&w);

	kmsg_writer_init(&w, 0);
	size_t mark;
	ck_assert_int_eq(kmsg_writer_frame_begin(&w, &mark), 0);
	ck_assert_int_eq(kmsg_metadata_request_encode(&w, 1, &req), 0);
	ck_assert_int_eq(kmsg_writer_frame_end(&w, mark), 0);
	ck_assert_uint_eq(w.len, 4 + 4 + 4 * 12);
	ck_assert_uint_eq(w.buf[3], 52);
	size_t len;
	uint8_t *p = kmsg_writer_take(&w, &len);
	ck_assert_uint_eq(len, 56);
	ck_assert_uint_eq(w.len, 0);
	sl_free(p);
	kmsg_writer_free(&w);
}
END_TEST

/* ---- Hostile input ----------------------------------------------------- */

START_TEST(truncated_fetch_v11_and_produce_v7)
{
	static const struct {
		const char *name;
		int16_t version;
	} cases[] = {{"FetchRequest", 11}, {"ProduceRequest", 7}};
	for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
		const struct msg_case *c = find_case(cases[i].name);
		for (uint32_t seed = 0; seed < 3; seed++) {
			size_t len;
			uint8_t *buf = encode_filled(c, cases[i].version, seed, &len);
			ck_assert_uint_gt(len, 20);
			check_truncations(c, cases[i].version, buf, len);
			ck_assert_int_eq(decode_buf(c, cases[i].version, buf, len, NULL), 0);
			free(buf);
		}
	}
}
END_TEST

static int decode_metadata(const uint8_t *in, size_t n, int16_t version, size_t arena_max)
{
	struct kmsg_metadata_request req;
	struct kmsg_reader r;
	struct kmsg_arena a;
	uint8_t *p = dup_exact(in, n);
	kmsg_arena_init(&a, arena_max);
	kmsg_reader_init(&r, p, n);
	int rc = kmsg_metadata_request_decode(&r, version, &req, &a);
	kmsg_arena_free(&a);
	free(p);
	return rc;
}

START_TEST(hostile_array_lengths)
{
	static const uint8_t neg2[] = {0xff, 0xff, 0xff, 0xfe, 0x00, 0x00};
	static const uint8_t neg_big[] = {0x80, 0x00, 0x00, 0x00, 0x00, 0x00};
	static const uint8_t null_v0[] = {0xff, 0xff, 0xff, 0xff};
	static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, 0x00, 0x00};
	static const uint8_t three[] = {0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00};
	/* Compact (v9+): uvarint 0xffffffff = count 0xfffffffe. */
	static const uint8_t compact_huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00};
	ck_assert_int_eq(decode_metadata(neg2, sizeof(neg2), 1, 0), KMSG_EMALFORMED);
	ck_assert_int_eq(decode_metadata(neg_big, sizeof(neg_big), 1, 0), KMSG_EMALFORMED);
	ck_assert_int_eq(decode_metadata(null_v0, sizeof(null_v0), 0, 0), KMSG_ENULL);
	ck_assert_int_eq(decode_metadata(huge, sizeof(huge), 1, 0), KMSG_ETRUNC);
	ck_assert_int_eq(decode_metadata(three, sizeof(three), 1, 0), KMSG_ETRUNC);
	ck_assert_int_eq(decode_metadata(compact_huge, sizeof(compact_huge), 9, 0), KMSG_ETRUNC);

	/* Produce v7: negative topic count, and a partition count far past the end. */
	static const uint8_t produce_neg[] = {0xff, 0xff, 0x00, 0x01, 0x00, 0x00,
					      0x00, 0x00, 0xff, 0xff, 0xff, 0xf0};
	static const uint8_t produce_big[] = {0xff, 0xff, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
					      0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 't',	0x01,
					      0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
	const struct msg_case *pc = find_case("ProduceRequest");
	ck_assert_int_eq(decode_buf(pc, 7, produce_neg, sizeof(produce_neg), NULL),
			 KMSG_EMALFORMED);
	ck_assert_int_eq(decode_buf(pc, 7, produce_big, sizeof(produce_big), NULL), KMSG_ETRUNC);
}
END_TEST

START_TEST(array_count_and_arena_limits)
{
	/* Enough bytes for KMSG_ARRAY_COUNT_MAX + 1 empty topic names (2 bytes each). */
	int32_t count = KMSG_ARRAY_COUNT_MAX + 1;
	size_t n = 4 + 2 * (size_t)count;
	uint8_t *buf = calloc(1, n);
	ck_assert_ptr_nonnull(buf);
	buf[0] = (uint8_t)(count >> 24);
	buf[1] = (uint8_t)(count >> 16);
	buf[2] = (uint8_t)(count >> 8);
	buf[3] = (uint8_t)count;
	ck_assert_int_eq(decode_metadata(buf, n, 1, 0), KMSG_ELIMIT);

	/* 1000 topics fit the count limit but not a 4 KiB arena. */
	count = 1000;
	n = 4 + 2 * (size_t)count;
	buf[0] = 0;
	buf[1] = 0;
	buf[2] = (uint8_t)(count >> 8);
	buf[3] = (uint8_t)count;
	ck_assert_int_eq(decode_metadata(buf, n, 1, 4096), KMSG_ELIMIT);
	ck_assert_int_eq(decode_metadata(buf, n, 1, 0), 0);
	free(buf);
}
END_TEST

START_TEST(hostile_string_lengths)
{
	/* Metadata v1, one topic whose name length is ... */
	static const uint8_t past_end[] = {0x00, 0x00, 0x00, 0x01, 0x7f, 0xff, 'a', 'b'};
	static const uint8_t neg2[] = {0x00, 0x00, 0x00, 0x01, 0xff, 0xfe, 'a', 'b'};
	static const uint8_t null_v1[] = {0x00, 0x00, 0x00, 0x01, 0xff, 0xff};
	ck_assert_int_eq(decode_metadata(past_end, sizeof(past_end), 1, 0), KMSG_ETRUNC);
	ck_assert_int_eq(decode_metadata(neg2, sizeof(neg2), 1, 0), KMSG_EMALFORMED);
	ck_assert_int_eq(decode_metadata(null_v1, sizeof(null_v1), 1, 0), KMSG_ENULL);

	/* Metadata v9 (compact): count 1, then the name's uvarint length. */
	static const uint8_t c_max[] = {0x02, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'};
	static const uint8_t c_overflow[] = {0x02, 0xff, 0xff, 0xff, 0xff, 0x1f, 'a'};
	static const uint8_t c_overlong[] = {0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 'a'};
	static const uint8_t c_cut[] = {0x02, 0x80, 0x80};
	static const uint8_t c_null[] = {0x02, 0x00, 0x00, 0x00, 0x00};
	ck_assert_int_eq(decode_metadata(c_max, sizeof(c_max), 9, 0), KMSG_ETRUNC);
	ck_assert_int_eq(decode_metadata(c_overflow, sizeof(c_overflow), 9, 0), KMSG_EMALFORMED);
	ck_assert_int_eq(decode_metadata(c_overlong, sizeof(c_overlong), 9, 0), KMSG_EMALFORMED);
	ck_assert_int_eq(decode_metadata(c_cut, sizeof(c_cut), 9, 0), KMSG_ETRUNC);
	ck_assert_int_eq(decode_metadata(c_null, sizeof(c_null), 9, 0), KMSG_ENULL);

	/* Produce v7 records length 0x7fffffff. */
	static const uint8_t rec[] = {0xff, 0xff, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
				      0x00, 0x00, 0x01, 0x00, 0x01, 't',  0x00, 0x00, 0x00,
				      0x01, 0x00, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff};
	ck_assert_int_eq(decode_buf(find_case("ProduceRequest"), 7, rec, sizeof(rec), NULL),
			 KMSG_ETRUNC);
}
END_TEST

START_TEST(hostile_tag_sections)
{
	/* Heartbeat v4 request: group "g", generation 1, member "m", instance null, tags. */
	static const uint8_t base[] = {0x02, 'g', 0x00, 0x00, 0x00, 0x01, 0x02, 'm', 0x00};
	const struct msg_case *c = find_case("HeartbeatRequest");
	uint8_t buf[64];
	size_t n = sizeof(base);
	memcpy(buf, base, n);
	buf[n] = 0x00; /* no tags */
	ck_assert_int_eq(decode_buf(c, 4, buf, n + 1, NULL), 0);
	buf[n] = 0x7f; /* 127 tags in 0 bytes */
	ck_assert_int_eq(decode_buf(c, 4, buf, n + 1, NULL), KMSG_ETRUNC);
	const uint8_t big_size[] = {0x01, 0x05, 0x7f, 0x00};
	memcpy(buf + n, big_size, sizeof(big_size));
	ck_assert_int_eq(decode_buf(c, 4, buf, n + sizeof(big_size), NULL), KMSG_ETRUNC);
	const uint8_t ok_tag[] = {0x01, 0x05, 0x01, 0x00};
	memcpy(buf + n, ok_tag, sizeof(ok_tag));
	ck_assert_int_eq(decode_buf(c, 4, buf, n + sizeof(ok_tag), NULL), 0);
	const uint8_t huge_count[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	memcpy(buf + n, huge_count, sizeof(huge_count));
	ck_assert_int_eq(decode_buf(c, 4, buf, n + sizeof(huge_count), NULL), KMSG_ETRUNC);
}
END_TEST

/* xorshift32: deterministic garbage. */
static uint32_t rnd(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* Random bytes and bit-flipped valid encodings: decoding must return 0 or an
 * error, never crash or read out of bounds (ASan build). */
START_TEST(fuzz_every_message)
{
	const struct msg_case *c = &msg_cases[_i];
	uint32_t s = 0x9e3779b9u ^ (uint32_t)_i;
	for (int v = c->min_version; v <= c->max_version; v++) {
		for (int k = 0; k < 64; k++) {
			size_t n = rnd(&s) % 96;
			uint8_t *p = malloc(n > 0 ? n : 1);
			ck_assert_ptr_nonnull(p);
			for (size_t i = 0; i < n; i++) {
				/* Small values make plausible lengths and counts. */
				uint32_t x = rnd(&s);
				p[i] = (uint8_t)((x & 0x300) ? (x & 0x03) : x);
			}
			(void)decode_buf(c, (int16_t)v, p, n, NULL);
			free(p);
		}
		size_t len;
		uint8_t *good = encode_filled(c, (int16_t)v, 1, &len);
		for (int k = 0; k < 64 && len > 0; k++) {
			uint8_t *p = dup_exact(good, len);
			p[rnd(&s) % len] ^= (uint8_t)(1u << (rnd(&s) % 8));
			(void)decode_buf(c, (int16_t)v, p, len, NULL);
			free(p);
		}
		free(good);
	}
}
END_TEST

/* Fail the Nth allocation of a decode and of an encode, for every N: an
 * error comes back as KMSG_ENOMEM, nothing leaks (ASan), and once enough
 * allocations succeed the result is correct. */
START_TEST(alloc_failures)
{
	const struct msg_case *c = find_case("FetchResponse");
	size_t len;
	uint8_t *buf = encode_filled(c, 16, 1, &len);
	int rc = -1;
	long nth;
	for (nth = 1; nth < 1000 && rc != 0; nth++) {
		sl_fault_arm(SL_FAULT_ALLOC, nth, false);
		rc = decode_buf(c, 16, buf, len, NULL);
		sl_fault_reset();
		ck_assert_msg(rc == 0 || rc == KMSG_ENOMEM, "nth %ld: %s", nth, kmsg_err_name(rc));
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_gt(nth, 2);

	struct kmsg_arena a;
	void *m = calloc(1, c->size);
	ck_assert_ptr_nonnull(m);
	kmsg_arena_init(&a, 0);
	c->fill(m, 16, 1, &a);
	rc = -1;
	for (nth = 1; nth < 1000 && rc != 0; nth++) {
		struct kmsg_writer w;
		kmsg_writer_init(&w, 0);
		sl_fault_arm(SL_FAULT_ALLOC, nth, false);
		rc = c->encode(&w, 16, m);
		sl_fault_reset();
		ck_assert_msg(rc == 0 || rc == KMSG_ENOMEM, "nth %ld: %s", nth, kmsg_err_name(rc));
		if (rc == 0) {
			ck_assert_uint_eq(w.len, len);
			ck_assert(len == 0 || memcmp(w.buf, buf, len) == 0);
		} else {
			ck_assert_uint_eq(w.len, 0);
		}
		kmsg_writer_free(&w);
	}
	ck_assert_int_eq(rc, 0);
	kmsg_arena_free(&a);
	free(m);
	free(buf);
}
END_TEST

/* ---- Tables and headers ------------------------------------------------ */

START_TEST(api_table)
{
	ck_assert_int_eq(KMSG_API_COUNT, 17);
	for (int i = 1; i < KMSG_API_COUNT; i++) {
		ck_assert_int_lt(kmsg_apis[i - 1].api_key, kmsg_apis[i].api_key);
	}
	for (int i = 0; i < KMSG_API_COUNT; i++) {
		ck_assert_ptr_eq(kmsg_api_lookup(kmsg_apis[i].api_key), &kmsg_apis[i]);
	}
	const struct kmsg_api *m = kmsg_api_lookup(KMSG_API_METADATA);
	ck_assert_str_eq(m->name, "Metadata");
	ck_assert_int_eq(m->min_version, 0);
	ck_assert_int_eq(m->max_version, 12);
	ck_assert_int_eq(m->first_flexible_version, 9);
	const struct kmsg_api *f = kmsg_api_lookup(KMSG_API_FETCH);
	ck_assert_int_eq(f->max_version, 16);
	ck_assert_int_eq(f->first_flexible_version, 12);
	ck_assert_int_eq(kmsg_api_lookup(KMSG_API_API_VERSIONS)->first_flexible_version, 3);
	ck_assert_ptr_null(kmsg_api_lookup(4));
	ck_assert_ptr_null(kmsg_api_lookup(-1));
	ck_assert_ptr_null(kmsg_api_lookup(1000));

	/* Dispatch through the table. */
	static const uint8_t one[] = {0x00, 0x00, 0x00, 0x01, 0x00, 0x03, 'f', 'o', 'o'};
	struct kmsg_reader r;
	struct kmsg_arena a;
	void *req = calloc(1, m->request_size);
	ck_assert_ptr_nonnull(req);
	kmsg_arena_init(&a, 0);
	kmsg_reader_init(&r, one, sizeof(one));
	ck_assert_int_eq(m->request_decode(&r, 1, req, &a), 0);
	ck_assert_int_eq(((struct kmsg_metadata_request *)req)->topics.count, 1);
	struct kmsg_writer w;
	kmsg_writer_init(&w, 0);
	ck_assert_int_eq(m->request_encode(&w, 1, req), 0);
	expect_bytes(&w, one, sizeof(one));
	void *resp = calloc(1, m->response_size);
	ck_assert_ptr_nonnull(resp);
	m->response_init(resp);
	ck_assert_int_eq(((struct kmsg_metadata_response *)resp)->controller_id, -1);
	free(resp);
	kmsg_writer_free(&w);
	kmsg_arena_free(&a);
	free(req);
}
END_TEST

START_TEST(header_versions)
{
	ck_assert_int_eq(kmsg_request_header_version(KMSG_API_METADATA, 8), 1);
	ck_assert_int_eq(kmsg_request_header_version(KMSG_API_METADATA, 9), 2);
	ck_assert_int_eq(kmsg_response_header_version(KMSG_API_METADATA, 8), 0);
	ck_assert_int_eq(kmsg_response_header_version(KMSG_API_METADATA, 9), 1);
	ck_assert_int_eq(kmsg_request_header_version(KMSG_API_API_VERSIONS, 3), 2);
	ck_assert_int_eq(kmsg_request_header_version(KMSG_API_API_VERSIONS, 4), 2);
	ck_assert_int_eq(kmsg_response_header_version(KMSG_API_API_VERSIONS, 3), 0);
	ck_assert_int_eq(kmsg_request_header_version(KMSG_API_PRODUCE, 7), 1);
	ck_assert_int_eq(kmsg_request_header_version(KMSG_API_FETCH, 11), 1);
	ck_assert_int_eq(kmsg_request_header_version(KMSG_API_FETCH, 12), 2);
	ck_assert_int_eq(kmsg_request_header_version(99, 0), 1);
	ck_assert_int_eq(kmsg_response_header_version(99, 0), 0);

	/* Header v2: tagged fields after a non-compact client id; null client id. */
	static const uint8_t h2[] = {0x00, 0x03, 0x00, 0x0c, 0x00, 0x00, 0x00,
				     0x05, 0xff, 0xff, 0x01, 0x04, 0x01, 0x00};
	struct kmsg_request_header h;
	struct kmsg_reader r;
	struct kmsg_arena a;
	struct kmsg_writer w;
	kmsg_arena_init(&a, 0);
	kmsg_writer_init(&w, 0);
	kmsg_reader_init(&r, h2, sizeof(h2));
	ck_assert_int_eq(kmsg_request_header_read(&r, &h, &a), 0);
	ck_assert_uint_eq(kmsg_reader_remaining(&r), 0);
	ck_assert(h.client_id.null);
	ck_assert_int_eq(h.unknown_tags.count, 1);
	ck_assert_int_eq(kmsg_request_header_write(&w, &h), 0);
	expect_bytes(&w, h2, sizeof(h2));
	/* Unknown api key: read as header v1. */
	static const uint8_t unk[] = {0x00, 0x63, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00};
	kmsg_reader_init(&r, unk, sizeof(unk));
	ck_assert_int_eq(kmsg_request_header_read(&r, &h, &a), 0);
	ck_assert_int_eq(h.correlation_id, 9);
	ck_assert_uint_eq(kmsg_reader_remaining(&r), 0);
	for (size_t n = 0; n < sizeof(h2); n++) {
		uint8_t *p = dup_exact(h2, n);
		kmsg_reader_init(&r, p, n);
		ck_assert_int_lt(kmsg_request_header_read(&r, &h, &a), 0);
		free(p);
	}
	/* Response header v1 carries a tag section. */
	kmsg_writer_reset(&w);
	static const uint8_t rh1[] = {0x00, 0x00, 0x00, 0x05, 0x00};
	ck_assert_int_eq(kmsg_response_header_write(&w, KMSG_API_METADATA, 9, 5), 0);
	expect_bytes(&w, rh1, sizeof(rh1));
	kmsg_writer_free(&w);
	kmsg_arena_free(&a);
}
END_TEST

START_TEST(error_names)
{
	static const int codes[] = {
#define KMSG_ERR_CODE(name, code, msg) code,
	    KMSG_ERRORS(KMSG_ERR_CODE)
#undef KMSG_ERR_CODE
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(codes); i++) {
		ck_assert_int_le(codes[i], 0);
		ck_assert_str_ne(kmsg_err_name(codes[i]), "KMSG_E?");
		ck_assert_str_ne(kmsg_strerror(codes[i]), "unknown error");
		for (size_t j = 0; j < i; j++) {
			ck_assert_int_ne(codes[i], codes[j]);
		}
	}
	ck_assert_str_eq(kmsg_err_name(KMSG_ETRUNC), "KMSG_ETRUNC");
	ck_assert_str_eq(kmsg_err_name(-1000), "KMSG_E?");
	ck_assert_str_eq(kmsg_strerror(-1000), "unknown error");
}
END_TEST

START_TEST(arena_basics)
{
	struct kmsg_arena a;
	kmsg_arena_init(&a, 100000);
	ck_assert_ptr_null(kmsg_arena_alloc(&a, 0));
	uint8_t *p = kmsg_arena_alloc(&a, 10);
	uint8_t *q = kmsg_arena_alloc(&a, 3);
	ck_assert(p != NULL && q != NULL && p != q);
	ck_assert_uint_eq((uintptr_t)q % _Alignof(max_align_t), 0);
	uint8_t *big = kmsg_arena_alloc(&a, 50000); /* its own chunk */
	ck_assert_ptr_nonnull(big);
	ck_assert_uint_eq(big[49999], 0);
	uint8_t *r = kmsg_arena_alloc(&a, 8); /* still from the first chunk */
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_null(kmsg_arena_alloc(&a, 60000)); /* over the limit */
	ck_assert_uint_eq(a.used_bytes, 10 + 3 + 50000 + 8);
	kmsg_arena_reset(&a);
	ck_assert_uint_eq(a.used_bytes, 0);
	ck_assert_ptr_nonnull(kmsg_arena_alloc(&a, 60000));
	kmsg_arena_free(&a);
}
END_TEST

Suite *kmsg_suite(void)
{
	Suite *s = suite_create("kmsg");
	TCase *tc = tcase_create("roundtrip");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, roundtrip_every_version, 0, N_CASES);
	tcase_add_loop_test(tc, defaults_encode_every_version, 0, N_CASES);
	tcase_add_loop_test(tc, version_out_of_range, 0, N_CASES);
	suite_add_tcase(s, tc);

	tc = tcase_create("known_answers");
	tcase_add_test(tc, kat_api_versions_v0_request);
	tcase_add_test(tc, kat_api_versions_v0_response);
	tcase_add_test(tc, kat_api_versions_v3_response);
	tcase_add_test(tc, kat_api_versions_v3_request);
	tcase_add_test(tc, kat_metadata_v1_request);
	tcase_add_test(tc, kat_produce_v3_request);
	tcase_add_test(tc, kat_fetch_v12_tagged_fields);
	tcase_add_test(tc, encode_ignorable_rule);
	tcase_add_test(tc, encode_bad_values);
	tcase_add_test(tc, writer_limit_and_frames);
	tcase_add_test(tc, api_table);
	tcase_add_test(tc, header_versions);
	tcase_add_test(tc, error_names);
	tcase_add_test(tc, arena_basics);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, truncated_fetch_v11_and_produce_v7);
	tcase_add_test(tc, hostile_array_lengths);
	tcase_add_test(tc, array_count_and_arena_limits);
	tcase_add_test(tc, hostile_string_lengths);
	tcase_add_test(tc, hostile_tag_sections);
	tcase_add_loop_test(tc, fuzz_every_message, 0, N_CASES);
	tcase_add_test(tc, alloc_failures);
	suite_add_tcase(s, tc);
	return s;
}
