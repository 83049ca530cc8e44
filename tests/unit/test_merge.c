/* Unit tests for proto/merge.c: merging producer batches into one batch
 * (kp_batch_merge), its compatibility rules and kp_record_crc. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "tests/unit/helpers.h"

/* One record as a test describes it. */
struct trec {
	int64_t ts;
	const char *key;   /* NULL = null key */
	const char *value; /* NULL = null value */
	int n_headers;
};

static const struct kp_header test_headers[2] = {
	{(const uint8_t *)"h1", 2, (const uint8_t *)"v1", 2},
	{(const uint8_t *)"h2", 2, NULL, -1},
};

static void add_rec(struct kp_batch_builder *b, const struct trec *r)
{
	int32_t klen = r->key != NULL ? (int32_t)strlen(r->key) : -1;
	int32_t vlen = r->value != NULL ? (int32_t)strlen(r->value) : -1;
	ck_assert_int_eq(kp_batch_builder_add(b, r->ts, r->key, klen, r->value, vlen,
					      r->n_headers > 0 ? test_headers : NULL, r->n_headers),
			 0);
}

/* Builds one batch of recs[0..n) (sl_malloc'd). */
static uint8_t *build(enum kp_codec codec, const struct trec *recs, int n, size_t *len)
{
	struct kp_batch_builder b;
	ck_assert_int_eq(kp_batch_builder_init(&b, 0, codec, -1, -1, -1), 0);
	for (int i = 0; i < n; i++) {
		add_rec(&b, &recs[i]);
	}
	ck_assert_int_eq(kp_batch_builder_finish(&b), 0);
	uint8_t *out = kp_batch_builder_take(&b, len);
	kp_batch_builder_free(&b);
	return out;
}

/* Collects the kp_record_crc of every record of a batch. */
static int record_crcs(const uint8_t *batch, size_t len, uint32_t *out, int max)
{
	return th_record_crcs(batch, len, INT64_MIN, INT64_MAX, out, max);
}

static const struct trec recs_a[] = {
	{1000, "k", "first", 0},
	{990, NULL, "earlier than the base", 1}, /* negative timestamp delta */
	{1005, "", NULL, 2},
};
static const struct trec recs_b[] = {
	{1000000, "key-b", "a much later timestamp: wider varlong", 0},
};
static const struct trec recs_c[] = {
	{500, "c0", "before every other", 2},
	{1001, "c1", "x", 0},
};

/* The merge equals a batch built from scratch with every record in order
 * (the builder writes records exactly as a merge re-encodes them), for
 * both codecs; the per-record CRCs are those of the sources. */
static void merge_matches_builder(enum kp_codec codec)
{
	size_t la, lb, lc, lall, lm;
	uint8_t *a = build(codec, recs_a, 3, &la);
	uint8_t *b = build(codec, recs_b, 1, &lb);
	uint8_t *c = build(codec, recs_c, 2, &lc);
	struct trec all[6];
	memcpy(all, recs_a, sizeof(recs_a));
	memcpy(all + 3, recs_b, sizeof(recs_b));
	memcpy(all + 4, recs_c, sizeof(recs_c));
	uint8_t *expect = build(codec, all, 6, &lall);
	const uint8_t *srcs[3] = {a, b, c};
	size_t lens[3] = {la, lb, lc};
	uint8_t *m;
	ck_assert_int_eq(kp_batch_merge(srcs, lens, 3, 0, &m, &lm), 0);
	ck_assert_uint_eq(lm, lall);
	ck_assert_mem_eq(m, expect, lm);
	ck_assert_int_eq(kp_batch_validate_records(m, lm, 0), 0);
	struct kp_batch_header h;
	ck_assert_int_eq(kp_batch_parse_header(m, lm, &h), 0);
	ck_assert_int_eq(h.records_count, 6);
	ck_assert_int_eq(h.last_offset_delta, 5);
	ck_assert_int_eq(h.base_timestamp, 1000);
	ck_assert_int_eq(h.max_timestamp, 1000000);
	ck_assert_int_eq(h.partition_leader_epoch, -1);
	ck_assert_int_eq(h.attributes & KP_ATTR_CODEC_MASK, codec);
	uint32_t want[8], got[8];
	int n = record_crcs(a, la, want, 8);
	n += record_crcs(b, lb, want + n, 8 - n);
	n += record_crcs(c, lc, want + n, 8 - n);
	ck_assert_int_eq(record_crcs(m, lm, got, 8), n);
	ck_assert_mem_eq(got, want, sizeof(uint32_t) * (size_t)n);
	sl_free(a);
	sl_free(b);
	sl_free(c);
	sl_free(expect);
	sl_free(m);
}

START_TEST(merge_uncompressed)
{
	merge_matches_builder(KP_CODEC_NONE);
}
END_TEST

START_TEST(merge_lz4)
{
	merge_matches_builder(KP_CODEC_LZ4);
}
END_TEST

/* Record bytes other than the deltas and length are copied verbatim, even
 * encodings the builder would not produce (a non-minimal varint for the
 * key length). */
START_TEST(merge_keeps_record_bytes)
{
	/* One record: attrs 0, ts delta 0, offset delta 0, key length 1 in a
	 * two-byte varint (0x82 0x00), key "k", value null, no headers. */
	static const uint8_t body[] = {0x00, 0x00, 0x00, 0x82, 0x00, 'k', 0x01, 0x00};
	uint8_t batch[KP_BATCH_HEADER_SIZE + 1 + sizeof(body)];
	size_t len = sizeof(batch);
	memset(batch, 0, sizeof(batch));
	batch[KP_BATCH_HEADER_SIZE] = (uint8_t)(sizeof(body) * 2); /* zigzag varint */
	memcpy(batch + KP_BATCH_HEADER_SIZE + 1, body, sizeof(body));
	kp_put_u32(batch + 8, (uint32_t)(len - KP_BATCH_LOG_OVERHEAD));
	batch[KP_BATCH_OFF_MAGIC] = 2;
	kp_put_u64(batch + 27, 7);
	kp_put_u64(batch + 35, 7);
	kp_put_u64(batch + 43, UINT64_MAX);
	kp_put_u16(batch + 51, UINT16_MAX);
	kp_put_u32(batch + 53, UINT32_MAX);
	kp_put_u32(batch + 57, 1);
	kp_put_u32(batch + 12, UINT32_MAX);
	kp_put_u32(batch + KP_BATCH_OFF_CRC,
		   kp_crc32c(0, batch + KP_BATCH_CRC_START, len - KP_BATCH_CRC_START));
	ck_assert_int_eq(kp_batch_validate_records(batch, len, 0), 0);
	const uint8_t *srcs[2] = {batch, batch};
	size_t lens[2] = {len, len};
	uint8_t *m;
	size_t lm;
	ck_assert_int_eq(kp_batch_merge(srcs, lens, 2, 0, &m, &lm), 0);
	ck_assert_int_eq(kp_batch_validate_records(m, lm, 0), 0);
	/* Second record: length, attrs, ts delta 0, offset delta 1 (0x02), then
	 * the original key length bytes 0x82 0x00 and the rest. */
	const uint8_t *r2 = m + KP_BATCH_HEADER_SIZE + 1 + sizeof(body);
	ck_assert_uint_eq(r2[0], sizeof(body) * 2);
	ck_assert_uint_eq(r2[3], 0x02);
	ck_assert_mem_eq(r2 + 4, body + 3, sizeof(body) - 3);
	sl_free(m);
}
END_TEST

static uint8_t *build_with(enum kp_codec codec, int64_t pid, const struct trec *r, size_t *len)
{
	struct kp_batch_builder b;
	ck_assert_int_eq(kp_batch_builder_init(&b, 0, codec, pid, pid < 0 ? -1 : 0,
					       pid < 0 ? -1 : 0),
			 0);
	add_rec(&b, r);
	ck_assert_int_eq(kp_batch_builder_finish(&b), 0);
	uint8_t *out = kp_batch_builder_take(&b, len);
	kp_batch_builder_free(&b);
	return out;
}

/* Rewrites the attributes (and max timestamp) of a batch, fixing its CRC. */
static void set_attrs(uint8_t *batch, size_t len, int16_t attrs, int64_t max_ts)
{
	kp_put_u16(batch + KP_BATCH_OFF_ATTRIBUTES, (uint16_t)attrs);
	kp_put_u64(batch + 35, (uint64_t)max_ts);
	kp_put_u32(batch + KP_BATCH_OFF_CRC,
		   kp_crc32c(0, batch + KP_BATCH_CRC_START, len - KP_BATCH_CRC_START));
}

START_TEST(merge_compatibility)
{
	size_t l1, l2;
	uint8_t *plain = build_with(KP_CODEC_NONE, -1, &recs_a[0], &l1);
	uint8_t *other = build_with(KP_CODEC_LZ4, -1, &recs_a[0], &l2);
	struct kp_batch_header h1, h2;
	ck_assert_int_eq(kp_batch_parse_header(plain, l1, &h1), 0);
	ck_assert_int_eq(kp_batch_parse_header(other, l2, &h2), 0);
	ck_assert(kp_batch_mergeable(&h1));
	ck_assert(kp_batch_merge_compatible(&h1, &h1));
	/* Different codecs. */
	ck_assert(!kp_batch_merge_compatible(&h1, &h2));
	const uint8_t *srcs[2] = {plain, other};
	size_t lens[2] = {l1, l2};
	uint8_t *m;
	size_t lm;
	ck_assert_int_eq(kp_batch_merge(srcs, lens, 2, 0, &m, &lm), KP_EINVAL);
	ck_assert_int_eq(kp_batch_merge(srcs, lens, 0, 0, &m, &lm), KP_EINVAL);
	sl_free(other);
	/* An idempotent producer's batch. */
	other = build_with(KP_CODEC_NONE, 42, &recs_a[0], &l2);
	ck_assert_int_eq(kp_batch_parse_header(other, l2, &h2), 0);
	ck_assert(!kp_batch_mergeable(&h2));
	ck_assert(!kp_batch_merge_compatible(&h1, &h2));
	srcs[1] = other;
	lens[1] = l2;
	ck_assert_int_eq(kp_batch_merge(srcs, lens, 2, 0, &m, &lm), KP_EINVAL);
	sl_free(other);
	/* Transactional, control, another timestamp type, unknown codecs. */
	static const int16_t bad[] = {KP_ATTR_TRANSACTIONAL, KP_ATTR_CONTROL,
				      KP_ATTR_TIMESTAMP_LOG_APPEND, KP_CODEC_GZIP,
				      KP_CODEC_SNAPPY, KP_CODEC_ZSTD};
	for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
		other = build_with(KP_CODEC_NONE, -1, &recs_a[0], &l2);
		set_attrs(other, l2, bad[i], recs_a[0].ts);
		ck_assert_int_eq(kp_batch_parse_header(other, l2, &h2), 0);
		ck_assert(!kp_batch_merge_compatible(&h1, &h2));
		srcs[1] = other;
		lens[1] = l2;
		ck_assert_int_eq(kp_batch_merge(srcs, lens, 2, 0, &m, &lm), KP_EINVAL);
		sl_free(other);
	}
	/* Log-append time: merged only with the same time, which every record
	 * keeps. */
	set_attrs(plain, l1, KP_ATTR_TIMESTAMP_LOG_APPEND, 5555);
	other = build_with(KP_CODEC_NONE, -1, &recs_c[1], &l2);
	set_attrs(other, l2, KP_ATTR_TIMESTAMP_LOG_APPEND, 6666);
	ck_assert_int_eq(kp_batch_parse_header(plain, l1, &h1), 0);
	ck_assert_int_eq(kp_batch_parse_header(other, l2, &h2), 0);
	ck_assert(!kp_batch_merge_compatible(&h1, &h2));
	set_attrs(other, l2, KP_ATTR_TIMESTAMP_LOG_APPEND, 5555);
	ck_assert_int_eq(kp_batch_parse_header(other, l2, &h2), 0);
	ck_assert(kp_batch_merge_compatible(&h1, &h2));
	srcs[1] = other;
	lens[1] = l2;
	ck_assert_int_eq(kp_batch_merge(srcs, lens, 2, 0, &m, &lm), 0);
	struct kp_batch_header hm;
	ck_assert_int_eq(kp_batch_validate(m, lm, 0, &hm), 0);
	ck_assert_int_eq(hm.max_timestamp, 5555);
	ck_assert(hm.attributes & KP_ATTR_TIMESTAMP_LOG_APPEND);
	struct kp_record_iter it;
	struct kp_record rec;
	ck_assert_int_eq(kp_record_iter_init(&it, m, lm), 0);
	while (kp_record_iter_next(&it, &rec) == 1) {
		ck_assert_int_eq(rec.timestamp, 5555);
	}
	kp_record_iter_free(&it);
	sl_free(m);
	sl_free(other);
	sl_free(plain);
}
END_TEST

START_TEST(merge_size_cap)
{
	size_t la, lb, lm;
	uint8_t *a = build(KP_CODEC_NONE, recs_a, 3, &la);
	uint8_t *b = build(KP_CODEC_NONE, recs_b, 1, &lb);
	const uint8_t *srcs[2] = {a, b};
	size_t lens[2] = {la, lb};
	uint8_t *m;
	ck_assert_int_eq(kp_batch_merge(srcs, lens, 2, 0, &m, &lm), 0);
	sl_free(m);
	size_t exact = lm;
	ck_assert_int_eq(kp_batch_merge(srcs, lens, 2, exact - 1, &m, &lm), KP_ETOOLARGE);
	ck_assert_int_eq(kp_batch_merge(srcs, lens, 2, exact, &m, &lm), 0);
	ck_assert_uint_eq(lm, exact);
	sl_free(m);
	sl_free(a);
	sl_free(b);
}
END_TEST

/* Sources whose offsets are not dense, or that do not decode, are refused
 * rather than renumbered. */
START_TEST(merge_refuses_odd_sources)
{
	size_t la, lb, lm;
	uint8_t *a = build(KP_CODEC_NONE, recs_a, 3, &la);
	uint8_t *b = build(KP_CODEC_NONE, recs_c, 2, &lb);
	const uint8_t *srcs[2] = {a, b};
	size_t lens[2] = {la, lb};
	uint8_t *m = NULL;
	/* lastOffsetDelta that skips an offset (a compacted batch). */
	kp_put_u32(b + 23, 2);
	kp_put_u32(b + KP_BATCH_OFF_CRC, kp_crc32c(0, b + KP_BATCH_CRC_START, lb - KP_BATCH_CRC_START));
	ck_assert_int_eq(kp_batch_merge(srcs, lens, 2, 0, &m, &lm), KP_ECORRUPT);
	/* A record count that disagrees with the records. */
	kp_put_u32(b + 23, 2);
	kp_put_u32(b + 57, 3);
	kp_put_u32(b + KP_BATCH_OFF_CRC, kp_crc32c(0, b + KP_BATCH_CRC_START, lb - KP_BATCH_CRC_START));
	ck_assert_int_eq(kp_batch_merge(srcs, lens, 2, 0, &m, &lm), KP_ECORRUPT);
	/* Trailing garbage inside the records section. */
	kp_put_u32(b + 23, 0);
	kp_put_u32(b + 57, 1);
	kp_put_u32(b + KP_BATCH_OFF_CRC, kp_crc32c(0, b + KP_BATCH_CRC_START, lb - KP_BATCH_CRC_START));
	ck_assert_int_eq(kp_batch_merge(srcs, lens, 2, 0, &m, &lm), KP_ECORRUPT);
	/* A length that is not the batch's. */
	lens[1] = lb - 1;
	ck_assert_int_eq(kp_batch_merge(srcs, lens, 2, 0, &m, &lm), KP_ECORRUPT);
	ck_assert_ptr_null(m);
	sl_free(a);
	sl_free(b);
}
END_TEST

START_TEST(merge_alloc_failures)
{
	size_t la, lb, lm;
	uint8_t *a = build(KP_CODEC_LZ4, recs_a, 3, &la);
	uint8_t *b = build(KP_CODEC_LZ4, recs_c, 2, &lb);
	const uint8_t *srcs[2] = {a, b};
	size_t lens[2] = {la, lb};
	long n;
	for (n = 1;; n++) {
		uint8_t *m = NULL;
		sl_fault_arm(SL_FAULT_ALLOC, n, false);
		int rc = kp_batch_merge(srcs, lens, 2, 0, &m, &lm);
		sl_fault_reset();
		if (rc == 0) {
			ck_assert_int_eq(kp_batch_validate_records(m, lm, 0), 0);
			sl_free(m);
			break;
		}
		ck_assert_int_eq(rc, KP_ENOMEM);
		ck_assert_ptr_null(m);
	}
	ck_assert_int_gt(n, 3);
	sl_free(a);
	sl_free(b);
}
END_TEST

/* kp_record_crc tells records apart by every field but the offset. */
START_TEST(record_crc_fields)
{
	static const struct trec variants[] = {
		{1000, "k", "v", 0}, {1001, "k", "v", 0}, {1000, NULL, "v", 0},
		{1000, "", "v", 0},  {1000, "k", NULL, 0}, {1000, "k", "", 0},
		{1000, "k", "v", 1}, {1000, "k", "v", 2}, {1000, "kv", "", 0},
	};
	size_t len;
	uint8_t *batch = build(KP_CODEC_NONE, variants, (int)SL_ARRAY_LEN(variants), &len);
	uint32_t crcs[16];
	int n = record_crcs(batch, len, crcs, 16);
	ck_assert_int_eq(n, (int)SL_ARRAY_LEN(variants));
	for (int i = 0; i < n; i++) {
		for (int j = i + 1; j < n; j++) {
			ck_assert_uint_ne(crcs[i], crcs[j]);
		}
	}
	sl_free(batch);
}
END_TEST

Suite *merge_suite(void)
{
	Suite *s = suite_create("merge");
	TCase *tc = tcase_create("merge");
	tcase_add_test(tc, merge_uncompressed);
	tcase_add_test(tc, merge_lz4);
	tcase_add_test(tc, merge_keeps_record_bytes);
	tcase_add_test(tc, merge_compatibility);
	tcase_add_test(tc, merge_size_cap);
	tcase_add_test(tc, merge_refuses_odd_sources);
	tcase_add_test(tc, merge_alloc_failures);
	tcase_add_test(tc, record_crc_fields);
	suite_add_tcase(s, tc);
	return s;
}
