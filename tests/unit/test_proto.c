/* Unit tests for proto/'s record layer: CRC-32C, varints, RecordBatch v2, lz4 frames. */
#include <check.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "tests/unit/helpers.h"

/* ---- helpers ----------------------------------------------------------- */

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
	rng_state = seed * 0x9E3779B97F4A7C15u + 1;
}

static uint64_t rng_next(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static void rng_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		p[i] = (uint8_t)rng_next();
	}
}

/* Text-like data that compresses, with random stretches that do not. */
static void fill_mixed(uint8_t *p, size_t n)
{
	static const char words[] = "stretchlog raft kafka partition offset leader region ";
	for (size_t i = 0; i < n; i++) {
		if ((i / 4096) % 3 == 2) {
			p[i] = (uint8_t)rng_next();
		} else {
			p[i] = (uint8_t)words[(i * 7 + i / 64) % (sizeof(words) - 1)];
		}
	}
}

static uint8_t *hex_decode(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	uint8_t *out = malloc(n);
	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	*len = n;
	return out;
}

/* Recomputes the CRC of a batch after a test edited it on purpose. */
static void fix_crc(uint8_t *batch, size_t size)
{
	uint32_t crc = kp_crc32c(0, batch + KP_BATCH_CRC_START, size - KP_BATCH_CRC_START);
	kp_put_u32(batch + KP_BATCH_OFF_CRC, crc);
}

static int quick(void)
{
	const char *q = getenv("SL_TEST_QUICK");
	return q != NULL && q[0] == '1';
}

/* ---- CRC-32C ----------------------------------------------------------- */

static const struct {
	const char *name;
	uint32_t want;
} crc_vectors[] = {
    {"zeros", 0x8A9136AAu},
    {"ones", 0x62A8AB43u},
    {"ascending", 0x46DD794Eu},
    {"descending", 0x113FDB5Cu},
};

static void crc_vector_input(int which, uint8_t *buf)
{
	for (int i = 0; i < 32; i++) {
		switch (which) {
		case 0:
			buf[i] = 0;
			break;
		case 1:
			buf[i] = 0xFF;
			break;
		case 2:
			buf[i] = (uint8_t)i;
			break;
		default:
			buf[i] = (uint8_t)(31 - i);
			break;
		}
	}
}

START_TEST(crc_published_vectors)
{
	for (int v = 0; v < (int)SL_ARRAY_LEN(crc_vectors); v++) {
		uint8_t buf[32];
		crc_vector_input(v, buf);
		ck_assert_msg(kp_crc32c(0, buf, 32) == crc_vectors[v].want, "%s",
			      crc_vectors[v].name);
		ck_assert_msg(kp__crc32c_sw(0, buf, 32) == crc_vectors[v].want, "%s sw",
			      crc_vectors[v].name);
	}
	ck_assert_uint_eq(kp_crc32c(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(kp__crc32c_sw(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(kp_crc32c(0, NULL, 0), 0);
	ck_assert_uint_eq(kp_crc32c(0x12345678u, "", 0), 0x12345678u);
}
END_TEST

START_TEST(crc_hw_matches_sw)
{
	/* On a CPU with SSE4.2 kp_crc32c is the instruction; either way both
	 * must agree for every length and alignment. */
	fprintf(stderr, "crc32c: sse4.2 %s\n",
		__builtin_cpu_supports("sse4.2") ? "present" : "absent (sw only)");
	static uint8_t buf[1024 + 16];
	rng_seed(1);
	rng_fill(buf, sizeof(buf));
	for (size_t start = 0; start < 8; start++) {
		for (size_t len = 0; len <= 1024; len++) {
			uint32_t hw = kp_crc32c(0, buf + start, len);
			uint32_t sw = kp__crc32c_sw(0, buf + start, len);
			ck_assert_msg(hw == sw, "start %zu len %zu", start, len);
		}
	}
	/* Lengths around the interleaved block sizes (3 x 256, 3 x 8192). */
	static uint8_t big[3 * 3 * 8192 + 64];
	rng_fill(big, sizeof(big));
	static const size_t lens[] = {767, 768, 769, 1536, 3 * 8192 - 1, 3 * 8192, 3 * 8192 + 1,
				      3 * 8192 + 3 * 256 + 7, 2 * 3 * 8192 + 5, sizeof(big) - 8};
	for (size_t start = 0; start < 8; start += 3) {
		for (size_t i = 0; i < SL_ARRAY_LEN(lens); i++) {
			ck_assert_msg(kp_crc32c(7, big + start, lens[i]) ==
					      kp__crc32c_sw(7, big + start, lens[i]),
				      "start %zu len %zu", start, lens[i]);
		}
	}
}
END_TEST

START_TEST(crc_incremental)
{
	uint8_t buf[300];
	rng_seed(2);
	rng_fill(buf, sizeof(buf));
	uint32_t whole = kp_crc32c(0, buf, sizeof(buf));
	for (size_t cut = 0; cut <= sizeof(buf); cut++) {
		uint32_t a = kp_crc32c(kp_crc32c(0, buf, cut), buf + cut, sizeof(buf) - cut);
		uint32_t b =
		    kp__crc32c_sw(kp__crc32c_sw(0, buf, cut), buf + cut, sizeof(buf) - cut);
		uint32_t c = kp__crc32c_sw(kp_crc32c(0, buf, cut), buf + cut, sizeof(buf) - cut);
		ck_assert_uint_eq(a, whole);
		ck_assert_uint_eq(b, whole);
		ck_assert_uint_eq(c, whole);
	}
	/* Byte at a time. */
	uint32_t crc = 0;
	for (size_t i = 0; i < sizeof(buf); i++) {
		crc = kp_crc32c(crc, buf + i, 1);
	}
	ck_assert_uint_eq(crc, whole);
}
END_TEST

/* ---- varints ----------------------------------------------------------- */

static void varint_roundtrip(int32_t v, size_t want_size)
{
	uint8_t buf[KP_VARINT_MAX];
	size_t n = kp_varint_encode(v, buf);
	if (want_size != 0) {
		ck_assert_msg(n == want_size, "varint %" PRId32 ": %zu bytes", v, n);
	}
	int32_t got;
	ck_assert_int_eq(kp_varint_decode(buf, n, &got), (int)n);
	ck_assert_int_eq(got, v);
	for (size_t k = 0; k < n; k++) {
		ck_assert_int_eq(kp_varint_decode(buf, k, &got), KP_ETRUNC);
	}
}

static void varlong_roundtrip(int64_t v, size_t want_size)
{
	uint8_t buf[KP_VARLONG_MAX];
	size_t n = kp_varlong_encode(v, buf);
	if (want_size != 0) {
		ck_assert_msg(n == want_size, "varlong %" PRId64 ": %zu bytes", v, n);
	}
	int64_t got;
	ck_assert_int_eq(kp_varlong_decode(buf, n, &got), (int)n);
	ck_assert(got == v);
	for (size_t k = 0; k < n; k++) {
		ck_assert_int_eq(kp_varlong_decode(buf, k, &got), KP_ETRUNC);
	}
}

START_TEST(varint_boundaries)
{
	static const struct {
		int32_t v;
		size_t size;
	} cases[] = {
	    {0, 1},
	    {-1, 1},
	    {1, 1},
	    {63, 1},
	    {-64, 1},
	    {64, 2},
	    {-65, 2},
	    {8191, 2},
	    {-8192, 2},
	    {8192, 3},
	    {-8193, 3},
	    {1048575, 3},
	    {1048576, 4},
	    {-1048577, 4},
	    {134217727, 4},
	    {134217728, 5},
	    {INT32_MAX, 5},
	    {INT32_MIN, 5},
	    {INT32_MAX - 1, 5},
	    {INT32_MIN + 1, 5},
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
		varint_roundtrip(cases[i].v, cases[i].size);
		varlong_roundtrip(cases[i].v, cases[i].size);
	}
	varlong_roundtrip(INT64_MAX, 10);
	varlong_roundtrip(INT64_MIN, 10);
	varlong_roundtrip((int64_t)1 << 62, 10);
	varlong_roundtrip(((int64_t)1 << 62) - 1, 9);
	varlong_roundtrip(((int64_t)1 << 55) - 1, 8);
	varlong_roundtrip((int64_t)INT32_MAX + 1, 5);
	varlong_roundtrip((int64_t)INT32_MIN - 1, 5);
	rng_seed(3);
	int rounds = quick() ? 5000 : 20000;
	for (int i = 0; i < rounds; i++) {
		uint64_t r = rng_next();
		varint_roundtrip((int32_t)(uint32_t)(r >> (r & 31)), 0);
		varlong_roundtrip((int64_t)(r >> (r & 63)), 0);
		varlong_roundtrip((int64_t)r, 0);
	}
}
END_TEST

START_TEST(varint_known_encodings)
{
	uint8_t buf[KP_VARLONG_MAX];
	ck_assert_uint_eq(kp_varint_encode(0, buf), 1);
	ck_assert_uint_eq(buf[0], 0x00);
	ck_assert_uint_eq(kp_varint_encode(-1, buf), 1);
	ck_assert_uint_eq(buf[0], 0x01);
	ck_assert_uint_eq(kp_varint_encode(1, buf), 1);
	ck_assert_uint_eq(buf[0], 0x02);
	ck_assert_uint_eq(kp_varint_encode(300, buf), 2);
	ck_assert(buf[0] == 0xD8 && buf[1] == 0x04);
	ck_assert_uint_eq(kp_varint_encode(INT32_MIN, buf), 5);
	ck_assert(memcmp(buf, "\xFF\xFF\xFF\xFF\x0F", 5) == 0);
	ck_assert_uint_eq(kp_uvarint_encode(300, buf), 2);
	ck_assert(buf[0] == 0xAC && buf[1] == 0x02);
	ck_assert_uint_eq(kp_uvarint_encode(UINT32_MAX, buf), 5);
	ck_assert(memcmp(buf, "\xFF\xFF\xFF\xFF\x0F", 5) == 0);

	static const uint32_t uv[] = {0,     1,		  127,	       128,	  16383,
				      16384, 0x0FFFFFFFu, 0x10000000u, UINT32_MAX};
	for (size_t i = 0; i < SL_ARRAY_LEN(uv); i++) {
		size_t n = kp_uvarint_encode(uv[i], buf);
		uint32_t got;
		ck_assert_int_eq(kp_uvarint_decode(buf, n, &got), (int)n);
		ck_assert_uint_eq(got, uv[i]);
		for (size_t k = 0; k < n; k++) {
			ck_assert_int_eq(kp_uvarint_decode(buf, k, &got), KP_ETRUNC);
		}
	}
}
END_TEST

START_TEST(varint_rejects_overflow)
{
	int32_t v32;
	int64_t v64;
	uint32_t u32;
	/* 5th byte may carry only 4 more bits of an int32. */
	ck_assert_int_eq(kp_varint_decode((const uint8_t *)"\xFF\xFF\xFF\xFF\x10", 5, &v32),
			 KP_ECORRUPT);
	ck_assert_int_eq(kp_uvarint_decode((const uint8_t *)"\xFF\xFF\xFF\xFF\x1F", 5, &u32),
			 KP_ECORRUPT);
	ck_assert_int_eq(kp_varint_decode((const uint8_t *)"\x80\x80\x80\x80\x70", 5, &v32),
			 KP_ECORRUPT);
	/* Longer than 5 bytes. */
	ck_assert_int_eq(kp_varint_decode((const uint8_t *)"\x80\x80\x80\x80\x80\x00", 6, &v32),
			 KP_ECORRUPT);
	ck_assert_int_eq(kp_uvarint_decode((const uint8_t *)"\xFF\xFF\xFF\xFF\xFF\x01", 6, &u32),
			 KP_ECORRUPT);
	/* Continuation bit on the 5th byte is overlong even if the 6th is absent. */
	ck_assert_int_eq(kp_varint_decode((const uint8_t *)"\x80\x80\x80\x80\x80", 5, &v32),
			 KP_ECORRUPT);
	/* Varlong: the 10th byte may carry only 1 bit. */
	ck_assert_int_eq(kp_varlong_decode((const uint8_t *)"\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF"
							    "\x01",
					   10, &v64),
			 10);
	ck_assert(v64 == INT64_MIN);
	ck_assert_int_eq(kp_varlong_decode((const uint8_t *)"\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF"
							    "\x02",
					   10, &v64),
			 KP_ECORRUPT);
	ck_assert_int_eq(kp_varlong_decode((const uint8_t *)"\x80\x80\x80\x80\x80\x80\x80\x80\x80"
							    "\x80\x00",
					   11, &v64),
			 KP_ECORRUPT);
	/* Non-minimal but in range: accepted, as Kafka's decoder does. */
	ck_assert_int_eq(kp_varint_decode((const uint8_t *)"\x80\x00", 2, &v32), 2);
	ck_assert_int_eq(v32, 0);
	ck_assert_int_eq(kp_varint_decode((const uint8_t *)"", 0, &v32), KP_ETRUNC);
	ck_assert_int_eq(kp_varint_decode((const uint8_t *)"\x80\x80", 2, &v32), KP_ETRUNC);
}
END_TEST

/* ---- batches: building blocks ------------------------------------------ */

/* A record as the tests describe it. */
struct trec {
	int64_t ts;
	const char *key; /* NULL = null */
	int32_t key_len;
	const char *value;
	int32_t value_len;
	int32_t n_headers;
	struct kp_header headers[3];
};

static int build(const struct trec *recs, int n, enum kp_codec codec, bool control, uint8_t **out,
		 size_t *out_len)
{
	struct kp_batch_builder b;
	int rc = kp_batch_builder_init(&b, 1000, codec, 77, 5, 9);
	if (rc != 0) {
		return rc;
	}
	if (control) {
		kp_batch_builder_set_control(&b);
	}
	for (int i = 0; i < n && rc == 0; i++) {
		rc = kp_batch_builder_add(&b, recs[i].ts, recs[i].key, recs[i].key_len,
					  recs[i].value, recs[i].value_len, recs[i].headers,
					  recs[i].n_headers);
	}
	if (rc == 0) {
		rc = kp_batch_builder_finish(&b);
	}
	if (rc == 0) {
		*out = kp_batch_builder_take(&b, out_len);
		ck_assert_ptr_nonnull(*out);
	}
	kp_batch_builder_free(&b);
	return rc;
}

static void assert_bytes(const uint8_t *p, int32_t len, const char *want, int32_t want_len)
{
	ck_assert_int_eq(len, want_len);
	if (want_len > 0) {
		ck_assert(memcmp(p, want, (size_t)want_len) == 0);
	} else if (want_len == -1) {
		ck_assert_ptr_null(p);
	}
}

static const struct trec sample[] = {
    {1700000000000, "key-0", 5, "value-0", 7, 0, {{NULL, 0, NULL, 0}}},
    {1700000000005,
     NULL,
     -1,
     "",
     0,
     3,
     {{(const uint8_t *)"h1", 2, (const uint8_t *)"x", 1},
      {(const uint8_t *)"h2", 2, NULL, -1},
      {(const uint8_t *)"", 0, (const uint8_t *)"", 0}}},
    {1699999999990, "", 0, NULL, -1, 0, {{NULL, 0, NULL, 0}}},
};

/* Iterates batch and compares with recs. */
static void check_records(const uint8_t *batch, size_t len, const struct trec *recs, int n,
			  int64_t base_offset)
{
	struct kp_record_iter it;
	ck_assert_int_eq(kp_record_iter_init(&it, batch, len), 0);
	struct kp_record r;
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(kp_record_iter_next(&it, &r), 1);
		ck_assert(r.offset == base_offset + i);
		ck_assert(r.timestamp == recs[i].ts);
		ck_assert_int_eq(r.attributes, 0);
		assert_bytes(r.key, r.key_len, recs[i].key, recs[i].key ? recs[i].key_len : -1);
		assert_bytes(r.value, r.value_len, recs[i].value,
			     recs[i].value ? recs[i].value_len : -1);
		ck_assert_int_eq(r.headers_count, recs[i].n_headers);
		for (int32_t h = 0; h < recs[i].n_headers; h++) {
			struct kp_header hd;
			const struct kp_header *w = &recs[i].headers[h];
			ck_assert_int_eq(kp_record_header(&r, h, &hd), 0);
			assert_bytes(hd.key, hd.key_len, (const char *)w->key, w->key_len);
			assert_bytes(hd.value, hd.value_len, (const char *)w->value,
				     w->value ? w->value_len : -1);
		}
		struct kp_header hd;
		ck_assert_int_eq(kp_record_header(&r, recs[i].n_headers, &hd), KP_EINVAL);
		ck_assert_int_eq(kp_record_header(&r, -1, &hd), KP_EINVAL);
	}
	ck_assert_int_eq(kp_record_iter_next(&it, &r), 0);
	ck_assert_int_eq(kp_record_iter_next(&it, &r), 0);
	kp_record_iter_free(&it);
	kp_record_iter_free(&it); /* idempotent */
}

/* ---- batches ----------------------------------------------------------- */

START_TEST(batch_roundtrip_sample)
{
	for (int codec = 0; codec <= 3; codec += 3) {
		uint8_t *batch;
		size_t len;
		ck_assert_int_eq(build(sample, 3, (enum kp_codec)codec, false, &batch, &len), 0);
		struct kp_batch_header h;
		ck_assert_int_eq(kp_batch_validate(batch, len, 0, &h), 0);
		ck_assert_uint_eq(kp_batch_size(&h), len);
		ck_assert(h.base_offset == 1000);
		ck_assert_int_eq(h.partition_leader_epoch, -1);
		ck_assert_int_eq(h.magic, 2);
		ck_assert_int_eq(h.attributes, codec);
		ck_assert_int_eq(h.last_offset_delta, 2);
		ck_assert(h.base_timestamp == 1700000000000);
		ck_assert(h.max_timestamp == 1700000000005);
		ck_assert(h.producer_id == 77);
		ck_assert_int_eq(h.producer_epoch, 5);
		ck_assert_int_eq(h.base_sequence, 9);
		ck_assert_int_eq(h.records_count, 3);
		ck_assert_int_eq(kp_batch_validate_records(batch, len, 0), 0);
		ck_assert_int_eq(kp_batch_validate_records(batch, len, len), 0);
		check_records(batch, len, sample, 3, 1000);
		sl_free(batch);
	}
}
END_TEST

START_TEST(batch_builder_layout)
{
	/* Known answer: one record, every byte spelled out. */
	struct trec r = {1000, "k", 1, "v", 1, 0, {{NULL, 0, NULL, 0}}};
	uint8_t *batch;
	size_t len;
	ck_assert_int_eq(build(&r, 1, KP_CODEC_NONE, false, &batch, &len), 0);
	static const uint8_t want_records[] = {0x10, 0x00, 0x00, 0x00, 0x02, 'k', 0x02, 'v', 0x00};
	ck_assert_uint_eq(len, KP_BATCH_HEADER_SIZE + sizeof(want_records));
	ck_assert(memcmp(batch + KP_BATCH_HEADER_SIZE, want_records, sizeof(want_records)) == 0);
	static const uint8_t want_header[] = {
	    0,	  0,	0,    0,    0, 0, 0x03, 0xE8, /* baseOffset 1000 */
	    0,	  0,	0,    58,		      /* batchLength 49 + 9 */
	    0xFF, 0xFF, 0xFF, 0xFF,		      /* partitionLeaderEpoch -1 */
	    2,					      /* magic */
	};
	ck_assert(memcmp(batch, want_header, sizeof(want_header)) == 0);
	static const uint8_t want_tail[] = {
	    0, 0,			  /* attributes */
	    0, 0, 0, 0,			  /* lastOffsetDelta */
	    0, 0, 0, 0, 0, 0, 0x03, 0xE8, /* baseTimestamp */
	    0, 0, 0, 0, 0, 0, 0x03, 0xE8, /* maxTimestamp */
	    0, 0, 0, 0, 0, 0, 0,    77,	  /* producerId */
	    0, 5,			  /* producerEpoch */
	    0, 0, 0, 9,			  /* baseSequence */
	    0, 0, 0, 1,			  /* recordsCount */
	};
	ck_assert(memcmp(batch + KP_BATCH_CRC_START, want_tail, sizeof(want_tail)) == 0);
	ck_assert_uint_eq(kp_get_u32(batch + KP_BATCH_OFF_CRC),
			  kp__crc32c_sw(0, batch + KP_BATCH_CRC_START, len - KP_BATCH_CRC_START));
	sl_free(batch);
}
END_TEST

/* Batches written by kafka-python 2.0.2 (DefaultRecordBatchBuilder), producer
 * 4242 epoch 3 sequence 17: none and lz4 (a frame with content size). */
static const char *kafka_python_batches[] = {
    "0000000000000000000000c100000000021ad4f1170000000000020000018bcfe568000000018bcfe5680500"
    "0000000000109200030000001100000003240000000a6b65792d300e76616c75652d3000e801000a0201c801"
    "7676767676767676767676767676767676767676767676767676767676767676767676767676767676767676"
    "7676767676767676767676767676767676767676767676767676767676767676767676767676767676767676"
    "767676767676767676767676040468310278046832010c001304000100",
    "00000000000000000000007c00000000021d8012f30003000000020000018bcfe568000000018bcfe5680500"
    "000000000010920003000000110000000304224d18684090000000000000007934000000ff0d240000000a6b"
    "65792d300e76616c75652d3000e801000a0201c80176010050f002040468310278046832010c001304000100"
    "00000000",
};

START_TEST(batch_reads_kafka_python)
{
	char v100[101];
	memset(v100, 'v', 100);
	v100[100] = '\0';
	const struct trec want[] = {
	    {1700000000000, "key-0", 5, "value-0", 7, 0, {{NULL, 0, NULL, 0}}},
	    {1700000000005,
	     NULL,
	     -1,
	     v100,
	     100,
	     2,
	     {{(const uint8_t *)"h1", 2, (const uint8_t *)"x", 1},
	      {(const uint8_t *)"h2", 2, NULL, -1}}},
	    {1699999999990, "", 0, NULL, -1, 0, {{NULL, 0, NULL, 0}}},
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(kafka_python_batches); i++) {
		size_t len;
		uint8_t *batch = hex_decode(kafka_python_batches[i], &len);
		struct kp_batch_header h;
		ck_assert_int_eq(kp_batch_validate(batch, len, 0, &h), 0);
		ck_assert_int_eq(h.attributes, i == 0 ? 0 : 3);
		ck_assert(h.producer_id == 4242);
		ck_assert_int_eq(h.producer_epoch, 3);
		ck_assert_int_eq(h.base_sequence, 17);
		ck_assert_int_eq(kp_batch_validate_records(batch, len, 0), 0);
		check_records(batch, len, want, 3, 0);
		free(batch);
	}
}
END_TEST

START_TEST(batch_many_records)
{
	int n = quick() ? 2000 : 20000;
	struct trec *recs = calloc((size_t)n, sizeof(*recs));
	char *vals = malloc((size_t)n * 40);
	ck_assert(recs != NULL && vals != NULL);
	for (int i = 0; i < n; i++) {
		char *v = vals + (size_t)i * 40;
		int vl = snprintf(v, 40, "value %d of the many", i);
		recs[i] =
		    (struct trec){1700000000000 + i % 97, (i % 5) ? v : NULL, vl % 7, v, vl, 0,
				  {{NULL, 0, NULL, 0}}};
	}
	for (int codec = 0; codec <= 3; codec += 3) {
		uint8_t *batch;
		size_t len;
		ck_assert_int_eq(build(recs, n, (enum kp_codec)codec, false, &batch, &len), 0);
		ck_assert_int_eq(kp_batch_validate_records(batch, len, 0), 0);
		check_records(batch, len, recs, n, 1000);
		if (codec == 3) {
			ck_assert_uint_lt(len, (size_t)n * 20); /* it did compress */
		}
		sl_free(batch);
	}
	free(vals);
	free(recs);
}
END_TEST

START_TEST(batch_control_and_rewrites)
{
	/* A control record: key version 0, type 1 (commit). */
	struct trec r = {5, "\x00\x00\x00\x01",	 4, "\x00\x00\x00\x00\x00\x00", 6,
			 0, {{NULL, 0, NULL, 0}}};
	uint8_t *batch;
	size_t len;
	ck_assert_int_eq(build(&r, 1, KP_CODEC_NONE, true, &batch, &len), 0);
	struct kp_batch_header h;
	ck_assert_int_eq(kp_batch_validate(batch, len, 0, &h), 0);
	ck_assert_int_eq(h.attributes, KP_ATTR_CONTROL);
	ck_assert_int_eq(kp_batch_validate_records(batch, len, 0), 0);

	/* baseOffset and partitionLeaderEpoch lie outside the CRC. */
	uint32_t crc = kp_get_u32(batch + KP_BATCH_OFF_CRC);
	kp_batch_set_base_offset(batch, INT64_C(0x123456789AB));
	kp_batch_set_leader_epoch(batch, 42);
	ck_assert_uint_eq(kp_get_u32(batch + KP_BATCH_OFF_CRC), crc);
	ck_assert_int_eq(kp_batch_validate(batch, len, 0, &h), 0);
	ck_assert(h.base_offset == INT64_C(0x123456789AB));
	ck_assert_int_eq(h.partition_leader_epoch, 42);
	check_records(batch, len, &r, 1, INT64_C(0x123456789AB));
	kp_batch_set_base_offset(batch, INT64_MAX); /* offsets wrap, no UB */
	kp_batch_set_leader_epoch(batch, INT32_MIN);
	ck_assert_int_eq(kp_batch_validate(batch, len, 0, &h), 0);
	ck_assert_int_eq(h.partition_leader_epoch, INT32_MIN);

	/* Log-append time: every record takes maxTimestamp. */
	kp_put_u16(batch + KP_BATCH_OFF_ATTRIBUTES, KP_ATTR_TIMESTAMP_LOG_APPEND);
	kp_put_u64(batch + 35, 999);
	fix_crc(batch, len);
	struct kp_record_iter it;
	struct kp_record rec;
	ck_assert_int_eq(kp_record_iter_init(&it, batch, len), 0);
	ck_assert_int_eq(kp_record_iter_next(&it, &rec), 1);
	ck_assert(rec.timestamp == 999);
	kp_record_iter_free(&it);
	sl_free(batch);
}
END_TEST

START_TEST(batch_limits_and_truncation)
{
	for (int codec = 0; codec <= 3; codec += 3) {
		uint8_t *batch;
		size_t len;
		ck_assert_int_eq(build(sample, 3, (enum kp_codec)codec, false, &batch, &len), 0);
		ck_assert_int_eq(kp_batch_validate(batch, len, len, NULL), 0);
		ck_assert_int_eq(kp_batch_validate(batch, len, len - 1, NULL), KP_ETOOLARGE);
		ck_assert_int_eq(kp_batch_validate_records(batch, len, len - 1), KP_ETOOLARGE);
		/* Trailing bytes after the batch are not part of it. */
		uint8_t *longer = malloc(len + 10);
		memcpy(longer, batch, len);
		memset(longer + len, 0xAB, 10);
		ck_assert_int_eq(kp_batch_validate_records(longer, len + 10, 0), 0);
		check_records(longer, len + 10, sample, 3, 1000);
		free(longer);
		for (size_t cut = 0; cut < len; cut++) {
			/* An exact-size copy so ASan sees any read past the end. */
			uint8_t *p = malloc(cut + 1);
			memcpy(p, batch, cut);
			struct kp_batch_header h;
			struct kp_record_iter it;
			ck_assert_int_eq(kp_batch_validate(p, cut, 0, &h), KP_ETRUNC);
			ck_assert_int_eq(kp_batch_validate_records(p, cut, 0), KP_ETRUNC);
			ck_assert_int_eq(kp_record_iter_init(&it, p, cut), KP_ETRUNC);
			kp_record_iter_free(&it);
			if (cut < KP_BATCH_HEADER_SIZE) {
				ck_assert_int_eq(kp_batch_parse_header(p, cut, &h), KP_ETRUNC);
			} else {
				ck_assert_int_eq(kp_batch_parse_header(p, cut, &h), 0);
			}
			free(p);
		}
		sl_free(batch);
	}
}
END_TEST

/* Runs every reader over a (possibly damaged) batch; returns validate's code.
 * Checks only that results are clean: a code from the table, and records
 * whose bytes lie inside the buffer. */
static int exercise(const uint8_t *p, size_t len)
{
	int rc = kp_batch_validate(p, len, 0, NULL);
	ck_assert(rc <= 0 && rc >= KP_EINVAL);
	int deep = kp_batch_validate_records(p, len, 0);
	ck_assert(deep <= 0 && deep >= KP_EINVAL);
	struct kp_record_iter it;
	if (kp_record_iter_init(&it, p, len) == 0) {
		struct kp_record r;
		int n = 0;
		int got;
		while ((got = kp_record_iter_next(&it, &r)) == 1) {
			const uint8_t *lo = it.decompressed ? it.decompressed : p;
			const uint8_t *hi = it.end;
			ck_assert(r.key == NULL || (r.key >= lo && r.key + r.key_len <= hi));
			ck_assert(r.value == NULL ||
				  (r.value >= lo && r.value + r.value_len <= hi));
			for (int32_t h = 0; h < r.headers_count; h++) {
				struct kp_header hd;
				ck_assert_int_eq(kp_record_header(&r, h, &hd), 0);
			}
			n++;
		}
		ck_assert(got <= 0);
		ck_assert(n <= it.hdr.records_count);
		if (deep == 0) {
			ck_assert_int_eq(got, 0);
			ck_assert_int_eq(n, it.hdr.records_count);
		}
		kp_record_iter_free(&it);
	}
	return rc;
}

START_TEST(batch_every_byte_corruption)
{
	static const uint8_t masks[] = {0x01, 0x80, 0xFF, 0x3C};
	for (int codec = 0; codec <= 3; codec += 3) {
		uint8_t *batch;
		size_t len;
		ck_assert_int_eq(build(sample, 3, (enum kp_codec)codec, false, &batch, &len), 0);
		uint8_t *p = malloc(len);
		for (size_t i = 0; i < len; i++) {
			for (size_t m = 0; m < SL_ARRAY_LEN(masks); m++) {
				memcpy(p, batch, len);
				p[i] ^= masks[m];
				int rc = exercise(p, len);
				if (i < KP_BATCH_LENGTH_OFFSET ||
				    (i >= KP_BATCH_OFF_LEADER_EPOCH && i < KP_BATCH_OFF_MAGIC)) {
					ck_assert_int_eq(rc, 0); /* outside the CRC */
				} else if (i == KP_BATCH_OFF_MAGIC) {
					ck_assert_int_eq(rc, KP_EMAGIC);
				} else {
					ck_assert_msg(rc != 0, "byte %zu mask %02x undetected", i,
						      masks[m]);
				}
				/* Now hide the damage from the CRC: the record
				 * decoder alone must stay safe. */
				if (i >= KP_BATCH_CRC_START) {
					fix_crc(p, len);
					exercise(p, len);
				}
			}
		}
		free(p);
		sl_free(batch);
	}
}
END_TEST

START_TEST(batch_random_records_hostile)
{
	/* Random record sections behind a valid header and CRC. */
	int rounds = quick() ? 2000 : 20000;
	rng_seed(4);
	for (int round = 0; round < rounds; round++) {
		size_t body = rng_next() % 64;
		size_t len = KP_BATCH_HEADER_SIZE + body;
		uint8_t *p = malloc(len);
		memset(p, 0, KP_BATCH_HEADER_SIZE);
		kp_put_u32(p + KP_BATCH_LENGTH_OFFSET, (uint32_t)(len - KP_BATCH_LOG_OVERHEAD));
		p[KP_BATCH_OFF_MAGIC] = 2;
		kp_put_u16(p + KP_BATCH_OFF_ATTRIBUTES, (round & 1) ? KP_CODEC_LZ4 : 0);
		int32_t count = (int32_t)(rng_next() % 4);
		kp_put_u32(p + 23, (uint32_t)(count > 0 ? count - 1 : 0));
		kp_put_u32(p + 57, (uint32_t)count);
		rng_fill(p + KP_BATCH_HEADER_SIZE, body);
		/* Bias towards small varints so decoding gets further. */
		for (size_t i = KP_BATCH_HEADER_SIZE; i < len; i++) {
			if (rng_next() % 2) {
				p[i] &= 0x0F;
			}
		}
		fix_crc(p, len);
		exercise(p, len);
		free(p);
	}
}
END_TEST

/* Writes a raw record (offset delta given) for hand-crafted batches. */
static size_t raw_record(uint8_t *w, int32_t offset_delta, int32_t value_len)
{
	uint8_t body[64];
	size_t n = 0;
	body[n++] = 0;
	n += kp_varlong_encode(0, body + n);
	n += kp_varint_encode(offset_delta, body + n);
	n += kp_varint_encode(-1, body + n);
	n += kp_varint_encode(value_len, body + n);
	memset(body + n, 'a', (size_t)(value_len > 0 ? value_len : 0));
	n += (size_t)(value_len > 0 ? value_len : 0);
	n += kp_varint_encode(0, body + n);
	size_t h = kp_varint_encode((int32_t)n, w);
	memcpy(w + h, body, n);
	return h + n;
}

/* Builds a batch from offset deltas, with header counts given separately. */
static size_t raw_batch(uint8_t *p, const int32_t *deltas, int n, int32_t records_count,
			int32_t last_offset_delta, int16_t attributes)
{
	memset(p, 0, KP_BATCH_HEADER_SIZE);
	size_t len = KP_BATCH_HEADER_SIZE;
	for (int i = 0; i < n; i++) {
		len += raw_record(p + len, deltas[i], 3);
	}
	kp_put_u32(p + KP_BATCH_LENGTH_OFFSET, (uint32_t)(len - KP_BATCH_LOG_OVERHEAD));
	p[KP_BATCH_OFF_MAGIC] = 2;
	kp_put_u16(p + KP_BATCH_OFF_ATTRIBUTES, (uint16_t)attributes);
	kp_put_u32(p + 23, (uint32_t)last_offset_delta);
	kp_put_u32(p + 57, (uint32_t)records_count);
	fix_crc(p, len);
	return len;
}

START_TEST(batch_validate_records_rules)
{
	uint8_t p[512];
	struct kp_record_iter it;
	struct kp_record r;
	static const int32_t dense[] = {0, 1, 2};
	size_t len = raw_batch(p, dense, 3, 3, 2, 0);
	ck_assert_int_eq(kp_batch_validate_records(p, len, 0), 0);

	/* A compacted batch: gaps are fine to read, not to accept. */
	static const int32_t gaps[] = {0, 2, 5};
	len = raw_batch(p, gaps, 3, 3, 5, 0);
	ck_assert_int_eq(kp_batch_validate(p, len, 0, NULL), 0);
	ck_assert_int_eq(kp_batch_validate_records(p, len, 0), KP_ECORRUPT);
	ck_assert_int_eq(kp_record_iter_init(&it, p, len), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(kp_record_iter_next(&it, &r), 1);
		ck_assert(r.offset == gaps[i]);
	}
	ck_assert_int_eq(kp_record_iter_next(&it, &r), 0);
	kp_record_iter_free(&it);

	static const int32_t swapped[] = {1, 0, 2};
	len = raw_batch(p, swapped, 3, 3, 2, 0);
	ck_assert_int_eq(kp_batch_validate_records(p, len, 0), KP_ECORRUPT);
	/* Count disagreeing with the records, in either direction. */
	len = raw_batch(p, dense, 3, 2, 1, 0);
	ck_assert_int_eq(kp_batch_validate_records(p, len, 0), KP_ECORRUPT);
	len = raw_batch(p, dense, 3, 4, 3, 0);
	ck_assert_int_eq(kp_batch_validate_records(p, len, 0), KP_ECORRUPT);
	/* lastOffsetDelta disagreeing. */
	len = raw_batch(p, dense, 3, 3, 3, 0);
	ck_assert_int_eq(kp_batch_validate_records(p, len, 0), KP_ECORRUPT);
	/* Empty batch (as compaction leaves): readable, not acceptable. */
	len = raw_batch(p, dense, 0, 0, 7, 0);
	ck_assert_int_eq(kp_batch_validate(p, len, 0, NULL), 0);
	ck_assert_int_eq(kp_batch_validate_records(p, len, 0), KP_ECORRUPT);
	ck_assert_int_eq(kp_record_iter_init(&it, p, len), 0);
	ck_assert_int_eq(kp_record_iter_next(&it, &r), 0);
	kp_record_iter_free(&it);
	len = raw_batch(p, dense, 0, 0, 0, KP_CODEC_ZSTD); /* no records section */
	ck_assert_int_eq(kp_record_iter_init(&it, p, len), 0);
	ck_assert_int_eq(kp_record_iter_next(&it, &r), 0);
	kp_record_iter_free(&it);
	ck_assert_int_eq(kp_batch_validate_records(p, len, 0), KP_ECODEC);
	/* Other codecs. */
	for (int16_t codec = 1; codec <= 7; codec++) {
		if (codec == KP_CODEC_LZ4) {
			continue;
		}
		len = raw_batch(p, dense, 3, 3, 2, codec);
		ck_assert_int_eq(kp_batch_validate(p, len, 0, NULL), 0);
		ck_assert_int_eq(kp_batch_validate_records(p, len, 0), KP_ECODEC);
		ck_assert_int_eq(kp_record_iter_init(&it, p, len), KP_ECODEC);
	}
}
END_TEST

START_TEST(batch_header_sanity)
{
	uint8_t p[512];
	static const int32_t dense[] = {0, 1, 2};
	size_t len = raw_batch(p, dense, 3, 3, 2, 0);
	p[KP_BATCH_OFF_MAGIC] = 1;
	ck_assert_int_eq(kp_batch_validate(p, len, 0, NULL), KP_EMAGIC);
	p[KP_BATCH_OFF_MAGIC] = 2;
	kp_put_u32(p + KP_BATCH_LENGTH_OFFSET, 48);
	ck_assert_int_eq(kp_batch_validate(p, len, 0, NULL), KP_ECORRUPT);
	kp_put_u32(p + KP_BATCH_LENGTH_OFFSET, 0x80000000u);
	ck_assert_int_eq(kp_batch_validate(p, len, 0, NULL), KP_ECORRUPT);
	len = raw_batch(p, dense, 3, -1, 2, 0);
	ck_assert_int_eq(kp_batch_validate(p, len, 0, NULL), KP_ECORRUPT);
	len = raw_batch(p, dense, 3, 3, -1, 0);
	ck_assert_int_eq(kp_batch_validate(p, len, 0, NULL), KP_ECORRUPT);
	len = raw_batch(p, dense, 3, 3, 2, 0);
	p[len - 1] ^= 1;
	ck_assert_int_eq(kp_batch_validate(p, len, 0, NULL), KP_ECRC);
	/* The framing check skips the CRC only: size, presence, magic stay. */
	struct kp_batch_header h;
	ck_assert_int_eq(kp_batch_check_frame(p, len, 0, &h), 0);
	ck_assert_uint_eq(kp_batch_size(&h), len);
	ck_assert_int_eq(kp_batch_check_frame(p, len - 1, 0, NULL), KP_ETRUNC);
	ck_assert_int_eq(kp_batch_check_frame(p, len, len - 1, NULL), KP_ETOOLARGE);
	p[KP_BATCH_OFF_MAGIC] = 1;
	ck_assert_int_eq(kp_batch_check_frame(p, len, 0, NULL), KP_EMAGIC);
}
END_TEST

/* Wraps one raw record section (bytes after the header) in a valid batch. */
static size_t raw_section_batch(uint8_t *p, const uint8_t *records, size_t n, int32_t count)
{
	memset(p, 0, KP_BATCH_HEADER_SIZE);
	memcpy(p + KP_BATCH_HEADER_SIZE, records, n);
	size_t len = KP_BATCH_HEADER_SIZE + n;
	kp_put_u32(p + KP_BATCH_LENGTH_OFFSET, (uint32_t)(len - KP_BATCH_LOG_OVERHEAD));
	p[KP_BATCH_OFF_MAGIC] = 2;
	kp_put_u32(p + 23, (uint32_t)(count > 0 ? count - 1 : 0));
	kp_put_u32(p + 57, (uint32_t)count);
	fix_crc(p, len);
	return len;
}

START_TEST(batch_record_field_errors)
{
	static const struct {
		const char *what;
		uint8_t bytes[16];
		size_t n;
		int want;
	} cases[] = {
	    /* len, attrs, tsDelta, offsetDelta, keyLen, key, valueLen, value, headers */
	    {"valid", {0x0E, 0, 0, 0, 0x01, 0x02, 'a', 0x00}, 8, 0},
	    {"null header value", {0x12, 0, 0, 0, 0x01, 0x01, 0x02, 0x02, 'h', 0x01}, 10, 0},
	    {"byte left over in record",
	     {0x10, 0, 0, 0, 0x01, 0x02, 'a', 0x00, 0x00},
	     9,
	     KP_ECORRUPT},
	    {"record length past section", {0x12, 0, 0, 0, 0x01, 0x02, 'a', 0x00}, 8, KP_ECORRUPT},
	    {"negative record length", {0x01, 0, 0, 0, 0x01, 0x02, 'a', 0x00}, 8, KP_ECORRUPT},
	    {"empty record", {0x00}, 1, KP_ECORRUPT},
	    {"key length -2", {0x0E, 0, 0, 0, 0x03, 0x02, 'a', 0x00}, 8, KP_ECORRUPT},
	    {"value past record", {0x0E, 0, 0, 0, 0x01, 0x04, 'a', 0x00}, 8, KP_ECORRUPT},
	    {"negative header count", {0x0C, 0, 0, 0, 0x01, 0x01, 0x01}, 7, KP_ECORRUPT},
	    {"null header key", {0x10, 0, 0, 0, 0x01, 0x01, 0x02, 0x01, 0x01}, 9, KP_ECORRUPT},
	    {"header count too high",
	     {0x10, 0, 0, 0, 0x01, 0x01, 0x04, 0x00, 0x01},
	     9,
	     KP_ECORRUPT},
	    {"overlong timestamp varint",
	     {0x18, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0, 0x01,
	      0x01},
	     16,
	     KP_ECORRUPT},
	    {"attributes missing", {0x00, 0x00}, 2, KP_ECORRUPT},
	    {"length varint cut", {0x80}, 1, KP_ECORRUPT},
	};
	uint8_t p[128];
	for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
		size_t len = raw_section_batch(p, cases[i].bytes, cases[i].n, 1);
		ck_assert_int_eq(kp_batch_validate(p, len, 0, NULL), 0);
		int rc = kp_batch_validate_records(p, len, 0);
		ck_assert_msg(rc == cases[i].want, "%s: %s", cases[i].what, kp_err_name(rc));
		struct kp_record_iter it;
		struct kp_record r;
		ck_assert_int_eq(kp_record_iter_init(&it, p, len), 0);
		rc = kp_record_iter_next(&it, &r);
		ck_assert_msg(rc == (cases[i].want == 0 ? 1 : cases[i].want), "%s: next %d",
			      cases[i].what, rc);
		kp_record_iter_free(&it);
	}
	/* Header fields are returned even when the magic is wrong. */
	struct kp_batch_header h;
	size_t len = raw_section_batch(p, cases[0].bytes, cases[0].n, 1);
	p[KP_BATCH_OFF_MAGIC] = 1;
	ck_assert_int_eq(kp_batch_parse_header(p, len, &h), KP_EMAGIC);
	ck_assert_int_eq(h.magic, 1);
	ck_assert_uint_eq(kp_batch_size(&h), len);
}
END_TEST

START_TEST(batch_decompressed_limit)
{
	/* An lz4 bomb: a small batch whose records inflate past the bound. */
	size_t big = KP_RECORDS_DECOMPRESSED_MAX;
	uint8_t *zeros = calloc(1, big);
	ck_assert_ptr_nonnull(zeros);
	struct kp_batch_builder b;
	ck_assert_int_eq(kp_batch_builder_init(&b, 0, KP_CODEC_LZ4, -1, -1, -1), 0);
	ck_assert_int_eq(kp_batch_builder_add(&b, 0, NULL, 0, zeros, (int32_t)big, NULL, 0), 0);
	ck_assert_int_eq(kp_batch_builder_finish(&b), 0);
	free(zeros);
	ck_assert_uint_lt(b.len, big / 100);
	ck_assert_int_eq(kp_batch_validate(b.buf, b.len, 0, NULL), 0);
	ck_assert_int_eq(kp_batch_validate_records(b.buf, b.len, 0), KP_ETOOLARGE);
	struct kp_record_iter it;
	ck_assert_int_eq(kp_record_iter_init(&it, b.buf, b.len), KP_ETOOLARGE);
	kp_record_iter_free(&it);
	kp_batch_builder_free(&b);
}
END_TEST

START_TEST(batch_builder_misuse)
{
	struct kp_batch_builder b;
	ck_assert_int_eq(kp_batch_builder_init(&b, 0, KP_CODEC_GZIP, -1, -1, -1), KP_ECODEC);
	kp_batch_builder_free(&b);
	ck_assert_int_eq(kp_batch_builder_init(&b, 0, KP_CODEC_NONE, -1, -1, -1), 0);
	size_t len = 1;
	ck_assert_ptr_null(kp_batch_builder_take(&b, &len));
	ck_assert_int_eq(kp_batch_builder_finish(&b), KP_EINVAL); /* empty */
	ck_assert_int_eq(kp_batch_builder_add(&b, 0, "k", -2, NULL, 0, NULL, 0), KP_EINVAL);
	ck_assert_int_eq(kp_batch_builder_add(&b, 0, NULL, 0, "v", -5, NULL, 0), KP_EINVAL);
	ck_assert_int_eq(kp_batch_builder_add(&b, 0, NULL, 0, NULL, 0, NULL, 1), KP_EINVAL);
	ck_assert_int_eq(kp_batch_builder_add(&b, 0, NULL, 0, NULL, 0, NULL, -1), KP_EINVAL);
	struct kp_header bad_key = {NULL, -1, NULL, -1};
	ck_assert_int_eq(kp_batch_builder_add(&b, 0, NULL, 0, NULL, 0, &bad_key, 1), KP_EINVAL);
	struct kp_header null_key = {NULL, 3, NULL, -1};
	ck_assert_int_eq(kp_batch_builder_add(&b, 0, NULL, 0, NULL, 0, &null_key, 1), KP_EINVAL);
	struct kp_header bad_val = {(const uint8_t *)"k", 1, (const uint8_t *)"v", -3};
	ck_assert_int_eq(kp_batch_builder_add(&b, 0, NULL, 0, NULL, 0, &bad_val, 1), KP_EINVAL);
	/* Timestamps far apart still encode (delta wraps consistently). */
	ck_assert_int_eq(kp_batch_builder_add(&b, INT64_MAX, "k", -1, NULL, 7, NULL, 0), 0);
	ck_assert_int_eq(kp_batch_builder_add(&b, INT64_MIN, NULL, 0, NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(kp_batch_builder_finish(&b), 0);
	ck_assert_int_eq(kp_batch_builder_finish(&b), KP_EINVAL);
	ck_assert_int_eq(kp_batch_builder_add(&b, 0, NULL, 0, NULL, 0, NULL, 0), KP_EINVAL);
	ck_assert_int_eq(kp_batch_validate_records(b.buf, b.len, 0), 0);
	struct trec want[2] = {{INT64_MAX, NULL, -1, NULL, -1, 0, {{NULL, 0, NULL, 0}}},
			       {INT64_MIN, NULL, -1, NULL, -1, 0, {{NULL, 0, NULL, 0}}}};
	check_records(b.buf, b.len, want, 2, 0);
	struct kp_batch_header h;
	ck_assert_int_eq(kp_batch_validate(b.buf, b.len, 0, &h), 0);
	ck_assert(h.max_timestamp == INT64_MAX);
	kp_batch_builder_free(&b);
	kp_batch_builder_free(&b);
}
END_TEST

START_TEST(err_names)
{
	ck_assert_str_eq(kp_err_name(KP_OK), "KP_OK");
	ck_assert_str_eq(kp_err_name(KP_ECRC), "KP_ECRC");
	ck_assert_str_eq(kp_err_name(KP_EINVAL), "KP_EINVAL");
	ck_assert_str_eq(kp_strerror(KP_ECRC), "CRC mismatch");
	ck_assert_str_eq(kp_strerror(KP_ETRUNC), "input truncated");
	ck_assert_str_eq(kp_err_name(-99), "KP_UNKNOWN");
	ck_assert_str_eq(kp_strerror(1), "unknown error");
	for (int e = 0; e >= KP_EINVAL; e--) {
		ck_assert(strncmp(kp_err_name(e), "KP_", 3) == 0);
		ck_assert_str_ne(kp_strerror(e), "unknown error");
	}
}
END_TEST

/* ---- lz4 frames -------------------------------------------------------- */

static void lz4_roundtrip(const uint8_t *src, size_t len)
{
	uint8_t *z, *out;
	size_t z_len, out_len;
	ck_assert_int_eq(kp_lz4_compress(src, len, &z, &z_len), 0);
	/* The frame Kafka readers expect: independent blocks, 64 KB. */
	ck_assert_uint_eq(kp_get_u32(z), 0x04224D18u);
	ck_assert_uint_eq(z[4], 0x60); /* version 01, block independence, nothing else */
	ck_assert_uint_eq(z[5], 0x40); /* 64 KB blocks */
	ck_assert_int_eq(kp_lz4_decompress(z, z_len, len, &out, &out_len), 0);
	ck_assert_uint_eq(out_len, len);
	ck_assert(len == 0 || memcmp(out, src, len) == 0);
	sl_free(out);
	if (len > 0) {
		ck_assert_int_eq(kp_lz4_decompress(z, z_len, len - 1, &out, &out_len),
				 KP_ETOOLARGE);
	}
	sl_free(z);
}

START_TEST(lz4_roundtrips)
{
	static const size_t sizes[] = {0,    1,	    2,	   100,	  4095,	  4096,
				       4097, 65535, 65536, 65537, 300000, 1 << 20};
	size_t max = 1 << 20;
	uint8_t *buf = malloc(max);
	rng_seed(5);
	for (size_t i = 0; i < SL_ARRAY_LEN(sizes); i++) {
		fill_mixed(buf, sizes[i]);
		lz4_roundtrip(buf, sizes[i]);
		rng_fill(buf, sizes[i]);
		lz4_roundtrip(buf, sizes[i]);
		memset(buf, 0, sizes[i]);
		lz4_roundtrip(buf, sizes[i]);
	}
	free(buf);
}
END_TEST

/* Frames as other libraries write them. */
static uint8_t *lz4_frame_with(const uint8_t *src, size_t len, const LZ4F_preferences_t *prefs,
			       size_t *out_len)
{
	size_t cap = LZ4F_compressFrameBound(len, prefs);
	uint8_t *z = malloc(cap);
	ck_assert_ptr_nonnull(z);
	size_t n = LZ4F_compressFrame(z, cap, src, len, prefs);
	ck_assert_msg(!LZ4F_isError(n), "%s", LZ4F_getErrorName(n));
	*out_len = n;
	return z;
}

START_TEST(lz4_every_frame_option)
{
	size_t len = 600000;
	uint8_t *src = malloc(len);
	rng_seed(6);
	fill_mixed(src, len);
	/* Bits of combo: content checksum, block checksum, content size,
	 * independent blocks, block size (2 bits), HC level. */
	for (int combo = 0; combo < 128; combo++) {
		int bsid = 4 + ((combo >> 4) & 3);
		LZ4F_preferences_t prefs;
		memset(&prefs, 0, sizeof(prefs));
		if (combo & 1) {
			prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
		}
		if (combo & 2) {
			prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
		}
		if (combo & 4) {
			prefs.frameInfo.contentSize = len;
		}
		prefs.frameInfo.blockMode = (combo & 8) ? LZ4F_blockIndependent : LZ4F_blockLinked;
		prefs.frameInfo.blockSizeID = (LZ4F_blockSizeID_t)bsid;
		prefs.compressionLevel = (combo & 64) ? 9 : 0;
		size_t z_len;
		uint8_t *z = lz4_frame_with(src, len, &prefs, &z_len);
		uint8_t *out;
		size_t out_len;
		ck_assert_int_eq(kp_lz4_decompress(z, z_len, len, &out, &out_len), 0);
		ck_assert_uint_eq(out_len, len);
		ck_assert(memcmp(out, src, len) == 0);
		sl_free(out);
		ck_assert_int_eq(kp_lz4_decompress(z, z_len, len - 1, &out, &out_len),
				 KP_ETOOLARGE);
		ck_assert_int_eq(kp_lz4_decompress(z, z_len - 1, len, &out, &out_len), KP_ECORRUPT);
		free(z);
	}
	free(src);
}
END_TEST

START_TEST(lz4_concatenated_frames)
{
	size_t a_len = 70000, b_len = 1000;
	uint8_t *src = malloc(a_len + b_len);
	rng_seed(7);
	fill_mixed(src, a_len + b_len);
	LZ4F_preferences_t pa, pb;
	memset(&pa, 0, sizeof(pa));
	memset(&pb, 0, sizeof(pb));
	pa.frameInfo.blockSizeID = LZ4F_max64KB;
	pa.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	pb.frameInfo.blockSizeID = LZ4F_max4MB;
	pb.frameInfo.contentSize = b_len;
	pb.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
	size_t za_len, zb_len, ze_len;
	uint8_t *za = lz4_frame_with(src, a_len, &pa, &za_len);
	uint8_t *zb = lz4_frame_with(src + a_len, b_len, &pb, &zb_len);
	uint8_t *ze = lz4_frame_with(src, 0, &pa, &ze_len); /* empty frame */
	/* Frame, empty frame, skippable frame, frame. */
	static const uint8_t skippable[] = {0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3};
	size_t cat_len = za_len + ze_len + sizeof(skippable) + zb_len;
	uint8_t *cat = malloc(cat_len);
	memcpy(cat, za, za_len);
	memcpy(cat + za_len, ze, ze_len);
	memcpy(cat + za_len + ze_len, skippable, sizeof(skippable));
	memcpy(cat + za_len + ze_len + sizeof(skippable), zb, zb_len);
	uint8_t *out;
	size_t out_len;
	ck_assert_int_eq(kp_lz4_decompress(cat, cat_len, a_len + b_len, &out, &out_len), 0);
	ck_assert_uint_eq(out_len, a_len + b_len);
	ck_assert(memcmp(out, src, a_len + b_len) == 0);
	sl_free(out);
	ck_assert_int_eq(kp_lz4_decompress(cat, cat_len, a_len + b_len - 1, &out, &out_len),
			 KP_ETOOLARGE);
	/* Only empty frames: empty output, limit 0 is fine. */
	ck_assert_int_eq(kp_lz4_decompress(ze, ze_len, 0, &out, &out_len), 0);
	ck_assert_uint_eq(out_len, 0);
	ck_assert_ptr_nonnull(out);
	sl_free(out);
	/* Garbage after a good frame. */
	cat[za_len] ^= 0xFF;
	ck_assert_int_eq(kp_lz4_decompress(cat, za_len + 1, a_len, &out, &out_len), KP_ECORRUPT);
	free(cat);
	free(za);
	free(zb);
	free(ze);
	free(src);
}
END_TEST

START_TEST(lz4_hostile_input)
{
	uint8_t *out;
	size_t out_len;
	ck_assert_int_eq(kp_lz4_decompress((const uint8_t *)"", 0, 100, &out, &out_len),
			 KP_ECORRUPT);
	rng_seed(8);
	uint8_t junk[256];
	for (int i = 0; i < 2000; i++) {
		size_t n = 1 + rng_next() % sizeof(junk);
		rng_fill(junk, n);
		if (i % 2) {
			kp_put_u32(junk, 0x04224D18u); /* valid magic, random rest */
		}
		int rc = kp_lz4_decompress(junk, n, 1 << 20, &out, &out_len);
		ck_assert(rc == KP_ECORRUPT || rc == 0);
		if (rc == 0) {
			sl_free(out);
		}
	}
	/* Every truncation and single-byte flip of checksummed and plain frames. */
	size_t len = 3000;
	uint8_t *src = malloc(len);
	fill_mixed(src, len);
	for (int cks = 0; cks < 2; cks++) {
		LZ4F_preferences_t prefs;
		memset(&prefs, 0, sizeof(prefs));
		prefs.frameInfo.blockSizeID = LZ4F_max64KB;
		prefs.frameInfo.contentChecksumFlag = cks ? LZ4F_contentChecksumEnabled : 0;
		prefs.frameInfo.blockChecksumFlag = cks ? LZ4F_blockChecksumEnabled : 0;
		size_t z_len;
		uint8_t *z = lz4_frame_with(src, len, &prefs, &z_len);
		for (size_t cut = 0; cut < z_len; cut++) {
			uint8_t *p = malloc(cut + 1);
			memcpy(p, z, cut);
			ck_assert_int_eq(kp_lz4_decompress(p, cut, len, &out, &out_len),
					 KP_ECORRUPT);
			free(p);
		}
		uint8_t *p = malloc(z_len);
		int undetected = 0;
		for (size_t i = 0; i < z_len; i++) {
			memcpy(p, z, z_len);
			p[i] ^= 0x20;
			int rc = kp_lz4_decompress(p, z_len, len, &out, &out_len);
			ck_assert(rc == 0 || rc == KP_ECORRUPT || rc == KP_ETOOLARGE);
			if (rc == 0) {
				undetected += out_len != len || memcmp(out, src, len) != 0;
				sl_free(out);
			}
		}
		if (cks) {
			ck_assert_int_eq(undetected, 0);
		}
		free(p);
		free(z);
	}
	free(src);
}
END_TEST

/* Decompresses a frame written by the lz4 command-line tool with opts. */
static void lz4_cli_case(const char *dir, const char *opts, const uint8_t *src, size_t len)
{
	char in_path[4200], out_path[4300], cmd[9000];
	snprintf(in_path, sizeof(in_path), "%s/in.bin", dir);
	snprintf(out_path, sizeof(out_path), "%s/in.bin.lz4", dir);
	FILE *f = fopen(in_path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(src, 1, len, f), len);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "lz4 -q -f %s '%s' '%s'", opts, in_path, out_path);
	ck_assert_int_eq(system(cmd), 0);
	f = fopen(out_path, "rb");
	ck_assert_ptr_nonnull(f);
	size_t cap = len + len / 2 + 1024;
	uint8_t *z = malloc(cap);
	size_t z_len = fread(z, 1, cap, f);
	fclose(f);
	uint8_t *out;
	size_t out_len;
	ck_assert_int_eq(kp_lz4_decompress(z, z_len, len, &out, &out_len), 0);
	ck_assert_uint_eq(out_len, len);
	ck_assert(memcmp(out, src, len) == 0);
	sl_free(out);
	free(z);
}

START_TEST(lz4_cli_frames)
{
	if (system("command -v lz4 >/dev/null 2>&1") != 0) {
		fprintf(stderr, "lz4_cli_frames: lz4 tool not installed, skipped\n");
		return;
	}
	char dir[4096];
	th_tmpdir(dir, sizeof(dir));
	size_t len = 500000;
	uint8_t *src = malloc(len);
	rng_seed(9);
	fill_mixed(src, len);
	lz4_cli_case(dir, "", src, len); /* the tool's defaults: 4 MB blocks, content checksum */
	lz4_cli_case(dir, "-B4 -BX --content-size", src, len);
	lz4_cli_case(dir, "-B6 -BD", src, len);
	lz4_cli_case(dir, "-B5 -BI --no-frame-crc -9", src, len);
	free(src);
	th_rmtree(dir);
}
END_TEST

/* ---- allocation failures ----------------------------------------------- */

/* Builds the sample batch with the nth allocation failing; every operation
 * that reports KP_ENOMEM is retried (the fault is not sticky) and must then
 * succeed, leaving exactly the batch a clean run builds. Returns the number
 * of KP_ENOMEM seen. */
static int build_with_fault(long n, enum kp_codec codec, const uint8_t *want, size_t want_len)
{
	int fails = 0;
	struct kp_batch_builder b;
	sl_fault_arm(SL_FAULT_ALLOC, n, false);
	int rc = kp_batch_builder_init(&b, 1000, codec, 77, 5, 9);
	if (rc != 0) {
		ck_assert_int_eq(rc, KP_ENOMEM);
		kp_batch_builder_free(&b);
		sl_fault_reset();
		return 1;
	}
	for (int rep = 0; rep < 40; rep++) {
		const struct trec *r = &sample[rep % 3];
		rc = kp_batch_builder_add(&b, r->ts, r->key, r->key_len, r->value, r->value_len,
					  r->headers, r->n_headers);
		if (rc != 0) {
			ck_assert_int_eq(rc, KP_ENOMEM);
			fails++;
			rep--; /* retry the same record */
		}
	}
	while ((rc = kp_batch_builder_finish(&b)) != 0) {
		ck_assert_int_eq(rc, KP_ENOMEM);
		fails++;
	}
	sl_fault_reset();
	ck_assert_uint_eq(b.len, want_len);
	ck_assert(memcmp(b.buf, want, want_len) == 0);
	kp_batch_builder_free(&b);
	return fails;
}

START_TEST(alloc_failures_builder)
{
	for (int codec = 0; codec <= 3; codec += 3) {
		uint8_t *want;
		size_t want_len;
		struct kp_batch_builder b;
		ck_assert_int_eq(kp_batch_builder_init(&b, 1000, (enum kp_codec)codec, 77, 5, 9),
				 0);
		for (int rep = 0; rep < 40; rep++) {
			const struct trec *r = &sample[rep % 3];
			ck_assert_int_eq(kp_batch_builder_add(&b, r->ts, r->key, r->key_len,
							      r->value, r->value_len, r->headers,
							      r->n_headers),
					 0);
		}
		ck_assert_int_eq(kp_batch_builder_finish(&b), 0);
		want = kp_batch_builder_take(&b, &want_len);
		kp_batch_builder_free(&b);
		long n = 1;
		while (build_with_fault(n, (enum kp_codec)codec, want, want_len) > 0) {
			n++;
		}
		ck_assert_int_gt(n, codec == 0 ? 1 : 3); /* the sweep reached several */
		sl_free(want);
	}
}
END_TEST

START_TEST(alloc_failures_lz4)
{
	size_t len = 300000;
	uint8_t *src = malloc(len);
	rng_seed(10);
	fill_mixed(src, len);
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max4MB;
	prefs.frameInfo.blockMode = LZ4F_blockLinked;
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	size_t z_len;
	uint8_t *z = lz4_frame_with(src, len, &prefs, &z_len);
	uint8_t *out;
	size_t out_len;
	long n;
	for (n = 1;; n++) {
		sl_fault_arm(SL_FAULT_ALLOC, n, false);
		int rc = kp_lz4_decompress(z, z_len, len, &out, &out_len);
		sl_fault_reset();
		if (rc == 0) {
			ck_assert(out_len == len && memcmp(out, src, len) == 0);
			sl_free(out);
			break;
		}
		ck_assert_int_eq(rc, KP_ENOMEM);
	}
	ck_assert_int_gt(n, 2);
	for (n = 1;; n++) {
		sl_fault_arm(SL_FAULT_ALLOC, n, false);
		int rc = kp_lz4_compress(src, len, &out, &out_len);
		sl_fault_reset();
		if (rc == 0) {
			sl_free(out);
			break;
		}
		ck_assert_int_eq(rc, KP_ENOMEM);
	}
	ck_assert_int_gt(n, 2);
	free(z);
	free(src);
}
END_TEST

START_TEST(alloc_failures_readers)
{
	uint8_t *batch;
	size_t len;
	ck_assert_int_eq(build(sample, 3, KP_CODEC_LZ4, false, &batch, &len), 0);
	long n;
	for (n = 1;; n++) {
		sl_fault_arm(SL_FAULT_ALLOC, n, false);
		int rc = kp_batch_validate_records(batch, len, 0);
		sl_fault_reset();
		if (rc == 0) {
			break;
		}
		ck_assert_int_eq(rc, KP_ENOMEM);
	}
	ck_assert_int_gt(n, 1);
	for (n = 1;; n++) {
		struct kp_record_iter it;
		sl_fault_arm(SL_FAULT_ALLOC, n, false);
		int rc = kp_record_iter_init(&it, batch, len);
		sl_fault_reset();
		if (rc == 0) {
			kp_record_iter_free(&it);
			break;
		}
		ck_assert_int_eq(rc, KP_ENOMEM);
		kp_record_iter_free(&it);
	}
	ck_assert_int_gt(n, 1);
	check_records(batch, len, sample, 3, 1000);
	sl_free(batch);
}
END_TEST

Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("crc32c");
	tcase_add_test(tc, crc_published_vectors);
	tcase_add_test(tc, crc_hw_matches_sw);
	tcase_add_test(tc, crc_incremental);
	suite_add_tcase(s, tc);

	tc = tcase_create("varint");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, varint_boundaries);
	tcase_add_test(tc, varint_known_encodings);
	tcase_add_test(tc, varint_rejects_overflow);
	suite_add_tcase(s, tc);

	tc = tcase_create("batch");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, batch_roundtrip_sample);
	tcase_add_test(tc, batch_builder_layout);
	tcase_add_test(tc, batch_reads_kafka_python);
	tcase_add_test(tc, batch_many_records);
	tcase_add_test(tc, batch_control_and_rewrites);
	tcase_add_test(tc, batch_limits_and_truncation);
	tcase_add_test(tc, batch_every_byte_corruption);
	tcase_add_test(tc, batch_random_records_hostile);
	tcase_add_test(tc, batch_validate_records_rules);
	tcase_add_test(tc, batch_header_sanity);
	tcase_add_test(tc, batch_record_field_errors);
	tcase_add_test(tc, batch_decompressed_limit);
	tcase_add_test(tc, batch_builder_misuse);
	tcase_add_test(tc, err_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("lz4");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, lz4_roundtrips);
	tcase_add_test(tc, lz4_every_frame_option);
	tcase_add_test(tc, lz4_concatenated_frames);
	tcase_add_test(tc, lz4_hostile_input);
	tcase_add_test(tc, lz4_cli_frames);
	suite_add_tcase(s, tc);

	tc = tcase_create("alloc");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, alloc_failures_builder);
	tcase_add_test(tc, alloc_failures_lz4);
	tcase_add_test(tc, alloc_failures_readers);
	suite_add_tcase(s, tc);
	return s;
}
