/* What the generated tests/unit/kmsg_fill.c expects from its includer, without
 * libcheck (aborts on failure), then the fill/equal code itself: version-aware
 * valid messages for the fuzz corpus generator and the listener's tests.
 * Include from one .c file only; everything is static. */
#ifndef SL_TESTS_FUZZ_KMSG_FILL_ENV_H
#define SL_TESTS_FUZZ_KMSG_FILL_ENV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/kafka_msgs.h"
#include "proto/kmsg.h"

/* Outside a check test, the generated code's assertions abort. */
#ifndef ck_assert_ptr_nonnull
#define ck_assert_ptr_nonnull(p)                                                                   \
	do {                                                                                       \
		if ((p) == NULL) {                                                                 \
			fprintf(stderr, "kmsg_fill_env: %s is NULL\n", #p);                        \
			abort();                                                                   \
		}                                                                                  \
	} while (0)
#endif

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

static void *fill_env_alloc(struct kmsg_arena *a, size_t n)
{
	void *p = kmsg_arena_alloc(a, n);
	if (p == NULL) {
		fprintf(stderr, "kmsg_fill_env: arena allocation of %zu bytes failed\n", n);
		abort();
	}
	return p;
}

/* A value in 1..100 derived from the seed and the field's position. */
static uint32_t fv(uint32_t seed, uint32_t j)
{
	return 1 + (seed * 7919u + j * 104729u) % 100u;
}

static struct kmsg_str fill_str(struct kmsg_arena *a, uint32_t seed, uint32_t j)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "s%u_%u", (unsigned)seed, (unsigned)j);
	char *p = fill_env_alloc(a, (size_t)n);
	memcpy(p, tmp, (size_t)n);
	struct kmsg_str s = {p, n, false};
	return s;
}

static struct kmsg_bytes fill_bytes(struct kmsg_arena *a, uint32_t seed, uint32_t j)
{
	int32_t n = (int32_t)(1 + fv(seed, j) % 8);
	uint8_t *p = fill_env_alloc(a, (size_t)n);
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
	t->items = fill_env_alloc(a, 2 * sizeof(*t->items));
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
	fprintf(stderr, "kmsg_fill_env: %s differs\n", where);
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

#include "tests/unit/kmsg_fill.c"

/* Returns the fill case of the request of api (name "<Api>Request"). */
static const struct msg_case *fill_request_case(const struct kmsg_api *api)
{
	char name[64];
	snprintf(name, sizeof(name), "%sRequest", api->name);
	for (size_t i = 0; i < sizeof(msg_cases) / sizeof(msg_cases[0]); i++) {
		if (strcmp(msg_cases[i].name, name) == 0) {
			return &msg_cases[i];
		}
	}
	return NULL;
}

/* Appends one request frame to w: size prefix, header (client id "fill"),
 * the request of api at version filled with seed. Returns 0 or a kmsg_err. */
static int fill_request_frame(struct kmsg_writer *w, const struct kmsg_api *api, int16_t version,
			      uint32_t seed, int32_t correlation_id)
{
	const struct msg_case *c = fill_request_case(api);
	if (c == NULL) {
		return KMSG_EINVAL;
	}
	struct kmsg_arena a;
	struct kmsg_request_header h;
	size_t mark;
	void *m = calloc(1, c->size);
	if (m == NULL) {
		return KMSG_ENOMEM;
	}
	kmsg_arena_init(&a, 0);
	c->fill(m, version, seed, &a);
	kmsg_request_header_init(&h);
	h.request_api_key = api->api_key;
	h.request_api_version = version;
	h.correlation_id = correlation_id;
	h.client_id = kmsg_str_make("fill");
	int rc = kmsg_writer_frame_begin(w, &mark);
	if (rc == 0) {
		rc = kmsg_request_header_write(w, &h);
	}
	if (rc == 0) {
		rc = c->encode(w, version, m);
	}
	if (rc == 0) {
		rc = kmsg_writer_frame_end(w, mark);
	}
	kmsg_arena_free(&a);
	free(m);
	return rc;
}

#endif /* SL_TESTS_FUZZ_KMSG_FILL_ENV_H */
