/* Unit tests for the pure half of the Kafka listener (server/kafka_api*):
 * the advertised version table, frame parsing outcomes, ApiVersions answers
 * and the whole-request error answers at every schema version; then replays
 * of fuzz regressions and of the fuzz seed corpus through the harness. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "proto/kafka_msgs.h"
#include "proto/kmsg.h"
#include "server/kafka_api.h"
#include "tests/fuzz/kmsg_fill_env.h"
#include "tests/unit/kafka_th.h"
#define SK_FUZZ_NO_ENTRY
#include "tests/fuzz/fuzz_request.c"

/* ---- Pure: table, parsing, answers --------------------------------------- */

START_TEST(ranges_match_readme_and_schemas)
{
	static const int16_t want[][3] = {
	    {0, 0, 7},	{1, 4, 11}, {2, 1, 3},	{3, 0, 4},  {8, 2, 7},	{9, 1, 5},
	    {10, 0, 2}, {11, 0, 5}, {12, 0, 3}, {13, 0, 1}, {14, 0, 3}, {18, 0, 2},
	    {19, 0, 4}, {20, 0, 3}, {22, 0, 1}, {32, 1, 2}, {33, 0, 1},
	};
	ck_assert_uint_eq(SL_ARRAY_LEN(want), SK_API_RANGE_COUNT);
	for (size_t i = 0; i < SK_API_RANGE_COUNT; i++) {
		const struct sk_api_range *r = &sk_api_ranges[i];
		ck_assert_int_eq(r->api_key, want[i][0]);
		ck_assert_int_eq(r->min_version, want[i][1]);
		ck_assert_int_eq(r->max_version, want[i][2]);
		const struct kmsg_api *api = kmsg_api_lookup(r->api_key);
		ck_assert_ptr_nonnull(api);
		ck_assert_int_ge(r->min_version, api->min_version);
		ck_assert_int_le(r->max_version, api->max_version);
		/* The README: none of the advertised versions is flexible. */
		ck_assert(api->first_flexible_version < 0 ||
			  r->max_version < api->first_flexible_version);
		ck_assert_int_lt(r->api_key, SK_API_KEY_LIMIT);
		ck_assert_ptr_eq(sk_api_range_lookup(r->api_key), r);
	}
	ck_assert_ptr_null(sk_api_range_lookup(17));
	ck_assert(sk_api_supported(0, KMSG_API_API_VERSIONS, 2));
	ck_assert(!sk_api_supported(0, KMSG_API_API_VERSIONS, 3));
	ck_assert(!sk_api_supported(0, KMSG_API_METADATA, 1));
	ck_assert(sk_api_supported(sk_api_bit(KMSG_API_METADATA), KMSG_API_METADATA, 4));
	ck_assert(!sk_api_supported(sk_api_bit(KMSG_API_METADATA), KMSG_API_METADATA, 5));
}
END_TEST

START_TEST(frame_length_bounds)
{
	static const uint8_t neg[4] = {0xff, 0xff, 0xff, 0xff};
	static const uint8_t big[4] = {0x00, 0x10, 0x00, 0x01};
	static const uint8_t ok[4] = {0x00, 0x10, 0x00, 0x00};
	static const uint8_t zero[4] = {0, 0, 0, 0};
	ck_assert_int_eq(sk_frame_length(neg, SK_REQUEST_BYTES_LIMIT), -1);
	ck_assert_int_eq(sk_frame_length(big, 1u << 20), -1);
	ck_assert_int_eq(sk_frame_length(ok, 1u << 20), 1 << 20);
	ck_assert_int_eq(sk_frame_length(zero, 1u << 20), 0);
}
END_TEST

/* Parses frame w (size prefix skipped) under mask. */
static enum sk_parse_outcome parse_w(const struct kmsg_writer *w, uint64_t mask,
				     struct kmsg_arena *a, struct sk_parsed *p)
{
	ck_assert_uint_ge(w->len, 4);
	return sk_request_parse(w->buf + 4, w->len - 4, mask, a, p);
}

START_TEST(parse_outcomes)
{
	struct kmsg_writer w;
	struct kmsg_arena a;
	struct sk_parsed p;
	uint64_t meta = sk_api_bit(KMSG_API_METADATA);
	kmsg_writer_init(&w, 0);
	kmsg_arena_init(&a, 0);

	put_metadata(&w, 4, 9, "t");
	ck_assert_int_eq(parse_w(&w, meta, &a, &p), SK_PARSE_OK);
	ck_assert_int_eq(p.header.correlation_id, 9);
	ck_assert(kmsg_str_eq(&p.header.client_id, "test"));
	ck_assert(
	    kmsg_str_eq(&((struct kmsg_metadata_request *)p.body)->topics.items[0].name, "t"));
	/* No handler: decoded, but unsupported. */
	ck_assert_int_eq(parse_w(&w, 0, &a, &p), SK_PARSE_UNSUPPORTED);
	ck_assert_ptr_nonnull(p.body);
	/* Inside the schema, above our range (flexible v9). */
	kmsg_writer_reset(&w);
	put_metadata(&w, 9, 1, "t");
	ck_assert_int_eq(parse_w(&w, meta, &a, &p), SK_PARSE_UNSUPPORTED);
	/* Trailing bytes after a body that decoded. */
	kmsg_writer_reset(&w);
	put_metadata(&w, 1, 1, "t");
	ck_assert_int_eq(kmsg_writer_append(&w, "x", 1), 0);
	ck_assert_int_eq(parse_w(&w, meta, &a, &p), SK_PARSE_CLOSE);
	ck_assert_str_eq(p.reason, "trailing_bytes");
	/* ApiVersions: supported up to 2, fallback above, body not decoded. */
	for (int16_t v = 0; v <= 5; v++) {
		kmsg_writer_reset(&w);
		put_api_versions(&w, v, v);
		ck_assert_int_eq(parse_w(&w, 0, &a, &p),
				 v <= 2 ? SK_PARSE_OK : SK_PARSE_API_VERSIONS_FALLBACK);
	}
	kmsg_writer_free(&w);
	kmsg_arena_free(&a);
}
END_TEST

START_TEST(parse_hostile_frames)
{
	struct kmsg_arena a;
	struct sk_parsed p;
	uint64_t all = sk_api_mask_all();
	kmsg_arena_init(&a, 0);
	/* Header cut inside the correlation id. */
	static const uint8_t trunc[] = {0x00, 0x03, 0x00, 0x01, 0x00};
	ck_assert_int_eq(sk_request_parse(trunc, sizeof(trunc), all, &a, &p), SK_PARSE_CLOSE);
	ck_assert_str_eq(p.reason, "bad_header");
	ck_assert(!p.header_ok);
	ck_assert_int_eq(sk_request_parse(trunc, 0, all, &a, &p), SK_PARSE_CLOSE);
	/* Unknown api key 999, otherwise a fine v1 header. */
	static const uint8_t unknown[] = {0x03, 0xe7, 0x00, 0x00, 0x00,
					  0x00, 0x00, 0x05, 0xff, 0xff};
	ck_assert_int_eq(sk_request_parse(unknown, sizeof(unknown), all, &a, &p), SK_PARSE_CLOSE);
	ck_assert_str_eq(p.reason, "unknown_api_key");
	ck_assert(p.header_ok);
	ck_assert_int_eq(p.header.correlation_id, 5);
	/* Metadata v99: no schema. */
	static const uint8_t v99[] = {0x00, 0x03, 0x00, 0x63, 0x00, 0x00,
				      0x00, 0x05, 0xff, 0xff, 0x00}; /* header v2 */
	ck_assert_int_eq(sk_request_parse(v99, sizeof(v99), all, &a, &p), SK_PARSE_CLOSE);
	ck_assert_str_eq(p.reason, "version_undefined");
	/* Metadata v1 claiming 2^31-1 topics in a 4-byte body. */
	static const uint8_t huge[] = {0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00,
				       0x05, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff};
	ck_assert_int_eq(sk_request_parse(huge, sizeof(huge), all, &a, &p), SK_PARSE_CLOSE);
	ck_assert_str_eq(p.reason, "bad_body");
	ck_assert_int_eq(p.err, KMSG_ETRUNC);
	/* Produce v3 whose record set length runs past the end. */
	static const uint8_t records[] = {
	    0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05, 0xff, 0xff, /* header v1 */
	    0xff, 0xff,							/* transactional_id null */
	    0x00, 0x01,							/* acks */
	    0x00, 0x00, 0x03, 0xe8,					/* timeout_ms */
	    0x00, 0x00, 0x00, 0x01,					/* one topic */
	    0x00, 0x01, 't',						/* name */
	    0x00, 0x00, 0x00, 0x01,					/* one partition */
	    0x00, 0x00, 0x00, 0x00,					/* index */
	    0x00, 0x10, 0x00, 0x00, /* records: 1 MiB claimed, none present */
	};
	ck_assert_int_eq(sk_request_parse(records, sizeof(records), all, &a, &p), SK_PARSE_CLOSE);
	ck_assert_str_eq(p.reason, "bad_body");
	kmsg_arena_free(&a);
}
END_TEST

START_TEST(api_versions_answers)
{
	struct kmsg_arena a;
	struct kmsg_api_versions_response resp;
	struct kmsg_writer w;
	kmsg_arena_init(&a, 0);
	kmsg_writer_init(&w, 0);
	uint64_t mask = sk_api_bit(KMSG_API_PRODUCE) | sk_api_bit(KMSG_API_METADATA);
	ck_assert_int_eq(sk_api_versions_build(mask, &a, &resp), 0);
	ck_assert_int_eq(resp.error_code, 0);
	ck_assert_int_eq(resp.api_keys.count, 3);
	ck_assert_int_eq(resp.api_keys.items[0].api_key, 0);
	ck_assert_int_eq(resp.api_keys.items[0].max_version, 7);
	ck_assert_int_eq(resp.api_keys.items[1].api_key, 3);
	ck_assert_int_eq(resp.api_keys.items[2].api_key, 18);
	ck_assert_int_eq(sk_api_versions_build(sk_api_mask_all(), &a, &resp), 0);
	ck_assert_int_eq(resp.api_keys.count, SK_API_RANGE_COUNT);
	/* Fallback: header v0 (correlation id only), v0 body, error 35, [{18,0,2}]. */
	static const uint8_t want[] = {0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x23,
				       0x00, 0x00, 0x00, 0x01, 0x00, 0x12, 0x00, 0x00, 0x00, 0x02};
	ck_assert_int_eq(sk_api_versions_fallback(&w, 42), 0);
	ck_assert_uint_eq(w.len, sizeof(want));
	ck_assert_mem_eq(w.buf, want, sizeof(want));
	kmsg_writer_free(&w);
	kmsg_arena_free(&a);
}
END_TEST

/* Every api but ApiVersions, every schema version, four fill modes: the
 * whole-request error answer encodes at that version and decodes back. */
START_TEST(error_response_every_version)
{
	const struct kmsg_api *api = &kmsg_apis[_i];
	if (api->api_key == KMSG_API_API_VERSIONS) {
		return;
	}
	for (int v = api->min_version; v <= api->max_version; v++) {
		for (uint32_t seed = 0; seed < 4; seed++) {
			struct kmsg_writer w;
			struct kmsg_writer out;
			struct kmsg_arena a;
			struct sk_parsed p;
			kmsg_writer_init(&w, 0);
			kmsg_writer_init(&out, 0);
			kmsg_arena_init(&a, 0);
			ck_assert_int_eq(fill_request_frame(&w, api, (int16_t)v, seed, 77), 0);
			enum sk_parse_outcome o = parse_w(&w, sk_api_mask_all(), &a, &p);
			ck_assert_msg(o == SK_PARSE_OK || o == SK_PARSE_UNSUPPORTED, "%s v%d: %s",
				      api->name, v, p.reason);
			void *resp = kmsg_arena_alloc(&a, api->response_size);
			ck_assert_int_eq(
			    sk_api_error_response(api->api_key, (int16_t)v, p.body, 35, &a, resp),
			    0);
			int rc = sk_response_frame_encode(&out, api->api_key, (int16_t)v, 77, resp);
			ck_assert_msg(rc == 0, "%s v%d seed %u: %s", api->name, v, seed,
				      kmsg_err_name(rc));
			struct resp r = {0};
			r.len = out.len - 4;
			r.frame = malloc(r.len);
			memcpy(r.frame, out.buf + 4, r.len);
			resp_decode(&r, api->api_key, (int16_t)v);
			ck_assert_int_eq(r.corr, 77);
			resp_free(&r);
			kmsg_writer_free(&w);
			kmsg_writer_free(&out);
			kmsg_arena_free(&a);
		}
	}
}
END_TEST

START_TEST(error_response_shapes)
{
	struct kmsg_writer w;
	struct kmsg_arena a;
	struct sk_parsed p;
	kmsg_writer_init(&w, 0);
	kmsg_arena_init(&a, 0);
	put_produce(&w, 1, 1);
	ck_assert_int_eq(parse_w(&w, 0, &a, &p), SK_PARSE_UNSUPPORTED);
	struct kmsg_produce_response pr;
	ck_assert_int_eq(sk_api_error_response(KMSG_API_PRODUCE, 3, p.body, 35, &a, &pr), 0);
	ck_assert_int_eq(pr.responses.count, 1);
	ck_assert(kmsg_str_eq(&pr.responses.items[0].name, "orders"));
	ck_assert_int_eq(pr.responses.items[0].partition_responses.count, 1);
	ck_assert_int_eq(pr.responses.items[0].partition_responses.items[0].error_code, 35);
	kmsg_writer_reset(&w);
	put_metadata(&w, 1, 1, "orders");
	ck_assert_int_eq(parse_w(&w, 0, &a, &p), SK_PARSE_UNSUPPORTED);
	struct kmsg_metadata_response mr;
	ck_assert_int_eq(sk_api_error_response(KMSG_API_METADATA, 1, p.body, 35, &a, &mr), 0);
	ck_assert_int_eq(mr.topics.count, 1);
	ck_assert_int_eq(mr.topics.items[0].error_code, 35);
	struct kmsg_heartbeat_response hr;
	struct kmsg_heartbeat_request hq;
	kmsg_heartbeat_request_init(&hq);
	ck_assert_int_eq(sk_api_error_response(KMSG_API_HEARTBEAT, 1, &hq, 16, &a, &hr), 0);
	ck_assert_int_eq(hr.error_code, 16);
	struct kmsg_api_versions_request aq;
	struct kmsg_api_versions_response ar;
	kmsg_api_versions_request_init(&aq);
	ck_assert_int_eq(sk_api_error_response(KMSG_API_API_VERSIONS, 0, &aq, 35, &a, &ar),
			 KMSG_EINVAL);
	kmsg_writer_free(&w);
	kmsg_arena_free(&a);
}
END_TEST

/* ---- Fuzz regressions and seed replay --------------------------------------- */

/* Inputs the fuzzer once crashed on (see tests/fuzz/run.sh). */
static const struct {
	const char *what;
	uint8_t bytes[64];
	size_t len;
} fuzz_regressions[] = {
    /* Harness: memcmp on an empty re-encoding (NULL buffers) of ApiVersions v2. */
    {"api_versions_v2_empty_body",
     {0x00, 0x00, 0x00, 0x0e, 0x00, 0x12, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x04, 'f', 'i',
      'l', 'l'},
     18},
};

START_TEST(fuzz_regressions_replay)
{
	for (size_t i = 0; i < SL_ARRAY_LEN(fuzz_regressions); i++) {
		uint8_t *p = fuzz_dup(fuzz_regressions[i].bytes, fuzz_regressions[i].len);
		ck_assert_int_eq(sk_fuzz_one(p, fuzz_regressions[i].len), 0);
		free(p);
	}
}
END_TEST

/* The fuzz properties hold on every seed the corpus generator writes. */
START_TEST(fuzz_seeds_replay)
{
	const struct kmsg_api *api = &kmsg_apis[_i];
	for (int v = api->min_version; v <= api->max_version; v++) {
		for (uint32_t seed = 0; seed < 4; seed++) {
			struct kmsg_writer w;
			kmsg_writer_init(&w, 0);
			ck_assert_int_eq(fill_request_frame(&w, api, (int16_t)v, seed, 1), 0);
			uint8_t *p = fuzz_dup(w.buf, w.len);
			sk_fuzz_one(p, w.len);
			/* Every strict prefix too (the harness then examines the rest). */
			for (size_t n = 0; n < w.len && seed == 0; n += 3) {
				sk_fuzz_one(p, n);
			}
			free(p);
			kmsg_writer_free(&w);
		}
	}
}
END_TEST

Suite *kafka_api_suite(void)
{
	Suite *s = suite_create("kafka_api");
	TCase *tc = tcase_create("pure");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, ranges_match_readme_and_schemas);
	tcase_add_test(tc, frame_length_bounds);
	tcase_add_test(tc, parse_outcomes);
	tcase_add_test(tc, parse_hostile_frames);
	tcase_add_test(tc, api_versions_answers);
	tcase_add_loop_test(tc, error_response_every_version, 0, KMSG_API_COUNT);
	tcase_add_test(tc, error_response_shapes);
	tcase_add_test(tc, fuzz_regressions_replay);
	tcase_add_loop_test(tc, fuzz_seeds_replay, 0, KMSG_API_COUNT);
	suite_add_tcase(s, tc);

	return s;
}
