/* libFuzzer harness over the broker's Kafka request path, without sockets:
 * framing (sk_frame_length), header parse and body decode for every api key
 * and version (sk_request_parse), re-encoding of what decoded, the
 * whole-request error answers and ApiVersions answers the listener builds,
 * and the response decoders on the same bytes. Any property violation
 * aborts. Built by tests/fuzz/run.sh; also #included by
 * tests/unit/test_kafka_conn.c (with SK_FUZZ_NO_ENTRY) to replay
 * regressions. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/kafka_msgs.h"
#include "proto/kmsg.h"
#include "server/kafka_api.h"

/* Frame bound used while fuzzing (the input is far smaller anyway). */
#define FUZZ_FRAME_MAX (1u << 20)
/* Arena bound: keeps hostile counts from using the fuzzer's memory. */
#define FUZZ_ARENA_MAX ((size_t)32 << 20)
/* Frames examined per input. */
#define FUZZ_FRAMES_MAX 8

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_request: %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* A heap copy of exactly n bytes, so ASan catches reads past the end. */
static uint8_t *fuzz_dup(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n > 0 ? n : 1);
	FUZZ_CHECK(d != NULL, "out of memory");
	if (n > 0) {
		memcpy(d, p, n);
	}
	return d;
}

/* Encodes msg, decodes the encoding and encodes again: both encodings must
 * succeed and be identical. dec/enc are the message's codec. */
static void check_reencode(const char *what, int16_t key, int16_t v, const void *msg, size_t size,
			   int (*enc)(struct kmsg_writer *, int16_t, const void *),
			   int (*dec)(struct kmsg_reader *, int16_t, void *, struct kmsg_arena *))
{
	struct kmsg_writer w1;
	struct kmsg_writer w2;
	struct kmsg_arena a;
	struct kmsg_reader r;
	kmsg_writer_init(&w1, 0);
	kmsg_writer_init(&w2, 0);
	kmsg_arena_init(&a, FUZZ_ARENA_MAX);
	int rc = enc(&w1, v, msg);
	FUZZ_CHECK(rc == 0, "%s api %d v%d: decoded message does not re-encode: %s", what, key, v,
		   kmsg_err_name(rc));
	uint8_t *buf = fuzz_dup(w1.buf, w1.len);
	void *m2 = calloc(1, size);
	FUZZ_CHECK(m2 != NULL, "out of memory");
	kmsg_reader_init(&r, buf, w1.len);
	rc = dec(&r, v, m2, &a);
	FUZZ_CHECK(rc == 0, "%s api %d v%d: re-encoding does not decode: %s", what, key, v,
		   kmsg_err_name(rc));
	FUZZ_CHECK(kmsg_reader_remaining(&r) == 0, "%s api %d v%d: %zu bytes left", what, key, v,
		   kmsg_reader_remaining(&r));
	rc = enc(&w2, v, m2);
	FUZZ_CHECK(rc == 0 && w1.len == w2.len &&
		       (w1.len == 0 || memcmp(w1.buf, w2.buf, w1.len) == 0),
		   "%s api %d v%d: encoding is not stable", what, key, v);
	free(m2);
	free(buf);
	kmsg_arena_free(&a);
	kmsg_writer_free(&w1);
	kmsg_writer_free(&w2);
}

/* Reads back a response frame written by the listener's helpers and checks
 * its size prefix, correlation id and that the body decodes exactly. */
static void check_response_frame(const struct kmsg_writer *w, int16_t key, int16_t v, int32_t corr,
				 const struct kmsg_api *api)
{
	struct kmsg_arena a;
	struct kmsg_reader r;
	struct kmsg_response_header h;
	FUZZ_CHECK(w->len >= 8, "response frame too short");
	FUZZ_CHECK(sk_frame_length(w->buf, SK_REQUEST_BYTES_LIMIT) == (int64_t)(w->len - 4),
		   "response size prefix wrong");
	kmsg_arena_init(&a, FUZZ_ARENA_MAX);
	kmsg_reader_init(&r, w->buf + 4, w->len - 4);
	int rc = kmsg_response_header_read(&r, key, v, &h, &a);
	FUZZ_CHECK(rc == 0 && h.correlation_id == corr, "response header");
	void *body = calloc(1, api->response_size);
	FUZZ_CHECK(body != NULL, "out of memory");
	rc = api->response_decode(&r, v, body, &a);
	FUZZ_CHECK(rc == 0 && kmsg_reader_remaining(&r) == 0,
		   "api %d v%d: listener response does not decode: %s", key, v, kmsg_err_name(rc));
	free(body);
	kmsg_arena_free(&a);
}

/* The answers the listener would send for a decoded request. */
static void check_answers(const struct sk_parsed *p, struct kmsg_arena *arena)
{
	const struct kmsg_api *api = p->api;
	int16_t key = p->header.request_api_key;
	int16_t v = p->header.request_api_version;
	struct kmsg_writer w;
	kmsg_writer_init(&w, 0);
	void *resp = kmsg_arena_alloc(arena, api->response_size);
	if (resp == NULL) {
		return; /* arena limit reached by the request itself */
	}
	int rc;
	if (key == KMSG_API_API_VERSIONS) {
		rc = sk_api_versions_build(sk_api_mask_all(), arena, resp);
	} else {
		rc = sk_api_error_response(key, v, p->body, SK_KAFKA_UNSUPPORTED_VERSION, arena,
					   resp);
	}
	if (rc == KMSG_ELIMIT || rc == KMSG_ENOMEM) {
		kmsg_writer_free(&w);
		return;
	}
	FUZZ_CHECK(rc == 0, "api %d v%d: error response build: %s", key, v, kmsg_err_name(rc));
	rc = sk_response_frame_encode(&w, key, v, p->header.correlation_id, resp);
	FUZZ_CHECK(rc == 0, "api %d v%d: error response encode: %s", key, v, kmsg_err_name(rc));
	check_response_frame(&w, key, v, p->header.correlation_id, api);
	kmsg_writer_free(&w);
}

static void check_fallback(int32_t corr)
{
	struct kmsg_writer w;
	kmsg_writer_init(&w, 0);
	int rc = sk_api_versions_fallback(&w, corr);
	FUZZ_CHECK(rc == 0, "fallback encode");
	check_response_frame(&w, KMSG_API_API_VERSIONS, 0, corr,
			     kmsg_api_lookup(KMSG_API_API_VERSIONS));
	kmsg_writer_free(&w);
}

/* Client side: the body bytes decoded as the response of the same api and
 * version must, if they decode, re-encode stably. */
static void check_response_decoder(const struct kmsg_api *api, int16_t v, const uint8_t *body,
				   size_t len)
{
	struct kmsg_arena a;
	struct kmsg_reader r;
	void *m = calloc(1, api->response_size);
	FUZZ_CHECK(m != NULL, "out of memory");
	kmsg_arena_init(&a, FUZZ_ARENA_MAX);
	kmsg_reader_init(&r, body, len);
	if (api->response_decode(&r, v, m, &a) == 0) {
		check_reencode("response", api->api_key, v, m, api->response_size,
			       api->response_encode, api->response_decode);
	}
	kmsg_arena_free(&a);
	free(m);
}

/* One frame (the bytes after the size prefix), as the listener handles it. */
static void check_frame(const uint8_t *frame, size_t len)
{
	struct kmsg_arena arena;
	struct sk_parsed p;
	kmsg_arena_init(&arena, FUZZ_ARENA_MAX);
	enum sk_parse_outcome o = sk_request_parse(frame, len, sk_api_mask_all(), &arena, &p);
	switch (o) {
	case SK_PARSE_OK:
	case SK_PARSE_UNSUPPORTED:
		FUZZ_CHECK(p.api != NULL && p.body != NULL && p.header_ok, "parsed without body");
		check_reencode("request", p.api->api_key, p.header.request_api_version, p.body,
			       p.api->request_size, p.api->request_encode, p.api->request_decode);
		check_answers(&p, &arena);
		break;
	case SK_PARSE_API_VERSIONS_FALLBACK:
		FUZZ_CHECK(p.header_ok && p.header.request_api_key == KMSG_API_API_VERSIONS,
			   "fallback for another api");
		FUZZ_CHECK(
		    !sk_api_supported(0, KMSG_API_API_VERSIONS, p.header.request_api_version),
		    "fallback for a supported version");
		check_fallback(p.header.correlation_id);
		break;
	case SK_PARSE_CLOSE:
		FUZZ_CHECK(p.reason != NULL && p.body == NULL, "close without reason");
		break;
	}
	if (p.header_ok && p.api != NULL && p.header.request_api_version >= p.api->min_version &&
	    p.header.request_api_version <= p.api->max_version) {
		struct kmsg_reader r;
		struct kmsg_request_header h;
		struct kmsg_arena ha;
		kmsg_arena_init(&ha, FUZZ_ARENA_MAX);
		kmsg_reader_init(&r, frame, len);
		if (kmsg_request_header_read(&r, &h, &ha) == 0) {
			check_response_decoder(p.api, h.request_api_version, frame + r.pos,
					       len - r.pos);
		}
		kmsg_arena_free(&ha);
	}
	kmsg_arena_free(&arena);
}

/* Cuts the input into size-prefixed frames the way a connection does. When
 * the first prefix does not fit the input, the bytes after it are examined as
 * one frame anyway, so mutations of the prefix do not hide the body. */
int sk_fuzz_one(const uint8_t *data, size_t size)
{
	size_t pos = 0;
	int frames = 0;
	while (size - pos >= 4 && frames < FUZZ_FRAMES_MAX) {
		int64_t len = sk_frame_length(data + pos, FUZZ_FRAME_MAX);
		if (len < 0 || (size_t)len > size - pos - 4) {
			break;
		}
		uint8_t *f = fuzz_dup(data + pos + 4, (size_t)len);
		check_frame(f, (size_t)len);
		free(f);
		pos += 4 + (size_t)len;
		frames++;
	}
	if (frames == 0 && size >= 4) {
		uint8_t *f = fuzz_dup(data + 4, size - 4);
		check_frame(f, size - 4);
		free(f);
	}
	return 0;
}

#ifndef SK_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return sk_fuzz_one(data, size);
}
#endif
