/* Unit tests for the catch-up message formats (raftlog/catchup.c): every
 * type round-trips, every malformed or hostile input is refused, and random
 * bytes never crash the decoder. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "raftlog/group_int.h"

static struct rl__cu_msg request(void)
{
	struct rl__cu_msg m = {
	    .type = RL__CU_REQUEST,
	    .session = 0x0102030405060708ull,
	    .seq = 77,
	    .target_index = 1000,
	    .target_term = 9,
	    .prev_index = 400,
	    .prev_term = 7,
	    .next_offset = 123456,
	    .window_bytes = 1 << 20,
	};
	return m;
}

static struct rl__cu_msg reply(void)
{
	struct rl__cu_msg m = {
	    .type = RL__CU_REPLY,
	    .session = 42,
	    .seq = 3,
	    .status = RL__CU_GONE,
	    .log_first_index = 17,
	    .log_start_offset = 9000,
	};
	return m;
}

START_TEST(request_round_trip)
{
	uint8_t buf[RL__CU_REQUEST_BYTES];
	struct rl__cu_msg m = request(), d;
	ck_assert_uint_eq(rl__cu_encode(&m, buf, sizeof(buf)), RL__CU_REQUEST_BYTES);
	ck_assert_uint_eq(rl__cu_encode(&m, buf, sizeof(buf) - 1), 0);
	ck_assert_int_eq(rl__cu_decode(buf, sizeof(buf), &d), 0);
	ck_assert_uint_eq(d.type, RL__CU_REQUEST);
	ck_assert_uint_eq(d.session, m.session);
	ck_assert_uint_eq(d.seq, m.seq);
	ck_assert_uint_eq(d.target_index, m.target_index);
	ck_assert_uint_eq(d.target_term, m.target_term);
	ck_assert_uint_eq(d.prev_index, m.prev_index);
	ck_assert_uint_eq(d.prev_term, m.prev_term);
	ck_assert_int_eq(d.next_offset, m.next_offset);
	ck_assert_uint_eq(d.window_bytes, m.window_bytes);
	/* Big-endian: the session's first byte leads. */
	ck_assert_uint_eq(buf[0], 1);
	ck_assert_uint_eq(buf[1], RL__CU_REQUEST);
	ck_assert_uint_eq(buf[4], 0x01);
	ck_assert_uint_eq(buf[11], 0x08);
}
END_TEST

START_TEST(reply_round_trip)
{
	uint8_t buf[RL__CU_REPLY_BYTES];
	struct rl__cu_msg m = reply(), d;
	ck_assert_uint_eq(rl__cu_encode(&m, buf, sizeof(buf)), RL__CU_REPLY_BYTES);
	ck_assert_int_eq(rl__cu_decode(buf, sizeof(buf), &d), 0);
	ck_assert_uint_eq(d.type, RL__CU_REPLY);
	ck_assert_uint_eq(d.status, RL__CU_GONE);
	ck_assert_uint_eq(d.log_first_index, 17);
	ck_assert_int_eq(d.log_start_offset, 9000);
}
END_TEST

START_TEST(data_round_trip)
{
	static uint8_t buf[RL_CATCHUP_MSG_BYTES_MAX];
	uint8_t payload[100];
	for (unsigned i = 0; i < sizeof(payload); i++) {
		payload[i] = (uint8_t)i;
	}
	struct rl__cu_msg m = {
	    .type = RL__CU_DATA,
	    .session = 5,
	    .seq = 6,
	    .first_index = 10,
	    .last_index = 12,
	    .base_offset = 400,
	    .total_bytes = 1000,
	    .pos = 900,
	    .payload = payload,
	    .payload_len = sizeof(payload),
	};
	size_t len = rl__cu_encode(&m, buf, sizeof(buf));
	ck_assert_uint_eq(len, RL__CU_DATA_HDR_BYTES + sizeof(payload));
	struct rl__cu_msg d;
	ck_assert_int_eq(rl__cu_decode(buf, len, &d), 0);
	ck_assert_uint_eq(d.first_index, 10);
	ck_assert_uint_eq(d.last_index, 12);
	ck_assert_int_eq(d.base_offset, 400);
	ck_assert_uint_eq(d.total_bytes, 1000);
	ck_assert_uint_eq(d.pos, 900);
	ck_assert_uint_eq(d.payload_len, sizeof(payload));
	ck_assert(memcmp(d.payload, payload, sizeof(payload)) == 0);
	/* Payload already in place (payload NULL). */
	m.payload = NULL;
	m.payload_len = RL_CATCHUP_MSG_BYTES_MAX - RL__CU_DATA_HDR_BYTES;
	m.total_bytes = 1 << 20;
	m.pos = 0;
	ck_assert_uint_eq(rl__cu_encode(&m, buf, sizeof(buf)), RL_CATCHUP_MSG_BYTES_MAX);
	ck_assert_int_eq(rl__cu_decode(buf, RL_CATCHUP_MSG_BYTES_MAX, &d), 0);
	/* One byte over the message limit is refused both ways. */
	m.payload_len++;
	ck_assert_uint_eq(rl__cu_encode(&m, buf, sizeof(buf)), 0);
}
END_TEST

/* Re-encodes m after mutate() and expects the decoder to refuse it. */
static void expect_refused(struct rl__cu_msg m)
{
	uint8_t buf[256];
	size_t len = rl__cu_encode(&m, buf, sizeof(buf));
	ck_assert_uint_gt(len, 0);
	struct rl__cu_msg d;
	ck_assert_int_eq(rl__cu_decode(buf, len, &d), RL_EINVAL);
}

START_TEST(invalid_fields_refused)
{
	struct rl__cu_msg m = request();
	m.session = 0;
	expect_refused(m);
	m = request();
	m.target_index = 0;
	expect_refused(m);
	m = request();
	m.target_term = 0;
	expect_refused(m);
	m = request();
	m.prev_index = m.target_index;
	expect_refused(m);
	m = request();
	m.next_offset = -1;
	expect_refused(m);
	m = request();
	m.window_bytes = RL_CATCHUP_WINDOW_BYTES_LIMIT + 1;
	expect_refused(m);
	m = reply();
	m.status = 0;
	expect_refused(m);
	m = reply();
	m.status = 99;
	expect_refused(m);
	m = reply();
	m.log_first_index = 0;
	expect_refused(m);
	m = reply();
	m.log_start_offset = -5;
	expect_refused(m);

	uint8_t p[8] = {0};
	struct rl__cu_msg d = {.type = RL__CU_DATA,
			       .session = 1,
			       .first_index = 5,
			       .last_index = 5,
			       .base_offset = 0,
			       .total_bytes = 8,
			       .pos = 0,
			       .payload = p,
			       .payload_len = 8};
	struct rl__cu_msg bad = d;
	bad.last_index = 4;
	expect_refused(bad);
	bad = d;
	bad.first_index = 0;
	expect_refused(bad);
	bad = d;
	bad.base_offset = -1;
	expect_refused(bad);
	bad = d;
	bad.total_bytes = 7; /* payload past the window */
	expect_refused(bad);
	bad = d;
	bad.pos = 8;
	bad.payload_len = 1;
	expect_refused(bad);
	bad = d;
	bad.total_bytes = 0;
	expect_refused(bad);
}
END_TEST

START_TEST(framing_refused)
{
	uint8_t buf[RL__CU_REQUEST_BYTES + 1];
	struct rl__cu_msg m = request(), d;
	size_t len = rl__cu_encode(&m, buf, sizeof(buf));
	ck_assert_int_eq(rl__cu_decode(NULL, len, &d), RL_EINVAL);
	for (size_t l = 0; l < len; l++) {
		ck_assert_int_eq(rl__cu_decode(buf, l, &d), RL_EINVAL); /* truncated */
	}
	buf[len] = 0;
	ck_assert_int_eq(rl__cu_decode(buf, len + 1, &d), RL_EINVAL); /* trailing byte */
	buf[0] = 2;
	ck_assert_int_eq(rl__cu_decode(buf, len, &d), RL_EINVAL); /* version */
	buf[0] = 1;
	buf[1] = 9;
	ck_assert_int_eq(rl__cu_decode(buf, len, &d), RL_EINVAL); /* type */
	buf[1] = RL__CU_REQUEST;
	buf[3] = 1;
	ck_assert_int_eq(rl__cu_decode(buf, len, &d), RL_EINVAL); /* flags */
	buf[3] = 0;
	ck_assert_int_eq(rl__cu_decode(buf, len, &d), 0);
	/* A DATA message with no payload, and one over the size limit. */
	static uint8_t big[RL_CATCHUP_MSG_BYTES_MAX + 1];
	struct rl__cu_msg dm = {.type = RL__CU_DATA,
				.session = 1,
				.first_index = 1,
				.last_index = 1,
				.total_bytes = RL_CATCHUP_MSG_BYTES_MAX * 2,
				.payload_len = 10};
	ck_assert_uint_gt(rl__cu_encode(&dm, big, sizeof(big)), 0);
	ck_assert_int_eq(rl__cu_decode(big, RL__CU_DATA_HDR_BYTES, &d), RL_EINVAL);
	ck_assert_int_eq(rl__cu_decode(big, sizeof(big), &d), RL_EINVAL);
}
END_TEST

START_TEST(random_bytes_never_crash)
{
	uint64_t z = 12345;
	uint8_t buf[300];
	unsigned accepted = 0;
	for (unsigned round = 0; round < 200000; round++) {
		size_t len = 0;
		z = z * 6364136223846793005ull + 1442695040888963407ull;
		len = (size_t)(z >> 33) % sizeof(buf);
		for (size_t i = 0; i < len; i++) {
			z = z * 6364136223846793005ull + 1442695040888963407ull;
			buf[i] = (uint8_t)(z >> 56);
		}
		if (len >= 4) { /* make the fixed header plausible half the time */
			if (round % 2 == 0) {
				buf[0] = 1;
				buf[1] = (uint8_t)(1 + round % 3);
				buf[2] = buf[3] = 0;
			}
		}
		struct rl__cu_msg d;
		if (rl__cu_decode(buf, len, &d) == 0) {
			accepted++;
			ck_assert(d.type >= RL__CU_REQUEST && d.type <= RL__CU_DATA);
			ck_assert_uint_ne(d.session, 0);
			if (d.type == RL__CU_DATA) {
				ck_assert_uint_le(d.pos + d.payload_len, d.total_bytes);
				ck_assert_ptr_eq(d.payload, buf + RL__CU_DATA_HDR_BYTES);
			}
		}
	}
	ck_assert_uint_gt(accepted, 0);
}
END_TEST

Suite *catchup_suite(void)
{
	Suite *s = suite_create("catchup");
	TCase *tc = tcase_create("codec");
	tcase_add_test(tc, request_round_trip);
	tcase_add_test(tc, reply_round_trip);
	tcase_add_test(tc, data_round_trip);
	tcase_add_test(tc, invalid_fields_refused);
	tcase_add_test(tc, framing_refused);
	tcase_add_test(tc, random_bytes_never_crash);
	suite_add_tcase(s, tc);
	return s;
}
