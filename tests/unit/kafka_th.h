/* Helpers shared by the Kafka listener tests (test_kafka_api.c,
 * test_kafka_conn.c): request frames built with the generated codecs and
 * decoded responses. Static; include from test files only. */
#ifndef SL_TESTS_UNIT_KAFKA_TH_H
#define SL_TESTS_UNIT_KAFKA_TH_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/kafka_msgs.h"
#include "proto/kmsg.h"
#include "server/kafka_api.h"

/* Appends a request frame (client id "test") with body encoded at ver. */
static void put_request(struct kmsg_writer *w, int16_t key, int16_t ver, int32_t corr,
			const void *body)
{
	const struct kmsg_api *api = kmsg_api_lookup(key);
	struct kmsg_request_header h;
	size_t mark;
	ck_assert_ptr_nonnull(api);
	kmsg_request_header_init(&h);
	h.request_api_key = key;
	h.request_api_version = ver;
	h.correlation_id = corr;
	h.client_id = kmsg_str_make("test");
	ck_assert_int_eq(kmsg_writer_frame_begin(w, &mark), 0);
	ck_assert_int_eq(kmsg_request_header_write(w, &h), 0);
	ck_assert_int_eq(api->request_encode(w, ver, body), 0);
	ck_assert_int_eq(kmsg_writer_frame_end(w, mark), 0);
}

/* A Metadata request naming one topic. */
static void put_metadata(struct kmsg_writer *w, int16_t ver, int32_t corr, const char *topic)
{
	struct kmsg_metadata_request m;
	struct kmsg_metadata_request_topic t;
	kmsg_metadata_request_init(&m);
	kmsg_metadata_request_topic_init(&t);
	t.name = kmsg_str_make(topic);
	m.topics.items = &t;
	m.topics.count = 1;
	m.topics.null = false;
	put_request(w, KMSG_API_METADATA, ver, corr, &m);
}

/* A Produce v3 request for one partition with acks and n bytes of records
 * (opaque to the listener). */
static void put_produce_n(struct kmsg_writer *w, int32_t corr, int16_t acks, const uint8_t *records,
			  size_t n)
{
	struct kmsg_produce_request m;
	struct kmsg_produce_request_topic_produce_data t;
	struct kmsg_produce_request_partition_produce_data p;
	kmsg_produce_request_init(&m);
	kmsg_produce_request_topic_produce_data_init(&t);
	kmsg_produce_request_partition_produce_data_init(&p);
	p.index = 0;
	p.records.ptr = records;
	p.records.len = (int32_t)n;
	p.records.null = false;
	t.name = kmsg_str_make("orders");
	t.partition_data.items = &p;
	t.partition_data.count = 1;
	m.acks = acks;
	m.timeout_ms = 1000;
	m.topic_data.items = &t;
	m.topic_data.count = 1;
	put_request(w, KMSG_API_PRODUCE, 3, corr, &m);
}

static void put_produce(struct kmsg_writer *w, int32_t corr, int16_t acks)
{
	static const uint8_t records[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	put_produce_n(w, corr, acks, records, sizeof(records));
}

static void put_api_versions(struct kmsg_writer *w, int16_t ver, int32_t corr)
{
	struct kmsg_api_versions_request m;
	kmsg_api_versions_request_init(&m);
	if (ver >= 3) {
		m.client_software_name = kmsg_str_make("librdkafka");
		m.client_software_version = kmsg_str_make("2.0.2");
	}
	const struct kmsg_api *api = kmsg_api_lookup(KMSG_API_API_VERSIONS);
	struct kmsg_request_header h;
	size_t mark;
	kmsg_request_header_init(&h);
	h.request_api_key = KMSG_API_API_VERSIONS;
	h.request_api_version = ver;
	h.correlation_id = corr;
	h.client_id = kmsg_str_make("test");
	ck_assert_int_eq(kmsg_writer_frame_begin(w, &mark), 0);
	ck_assert_int_eq(kmsg_request_header_write(w, &h), 0);
	/* Versions above the schema carry a v3 body (what a newer client would). */
	ck_assert_int_eq(api->request_encode(w, ver > 3 ? 3 : ver, &m), 0);
	ck_assert_int_eq(kmsg_writer_frame_end(w, mark), 0);
}

/* A decoded response; body and strings live as long as the struct. */
struct resp {
	uint8_t *frame;
	size_t len;
	struct kmsg_arena arena;
	int32_t corr;
	void *body;
};

static void resp_free(struct resp *r)
{
	free(r->frame);
	kmsg_arena_free(&r->arena);
	memset(r, 0, sizeof(*r));
}

/* Decodes frame (after the size prefix) as the response of (key, ver). */
static void resp_decode(struct resp *r, int16_t key, int16_t ver)
{
	const struct kmsg_api *api = kmsg_api_lookup(key);
	struct kmsg_reader rd;
	struct kmsg_response_header h;
	kmsg_arena_init(&r->arena, 0);
	kmsg_reader_init(&rd, r->frame, r->len);
	ck_assert_int_eq(kmsg_response_header_read(&rd, key, ver, &h, &r->arena), 0);
	r->corr = h.correlation_id;
	r->body = kmsg_arena_alloc(&r->arena, api->response_size);
	ck_assert_ptr_nonnull(r->body);
	int rc = api->response_decode(&rd, ver, r->body, &r->arena);
	ck_assert_msg(rc == 0, "response of api %d v%d: %s", key, ver, kmsg_err_name(rc));
	ck_assert_uint_eq(kmsg_reader_remaining(&rd), 0);
}

#endif /* SL_TESTS_UNIT_KAFKA_TH_H */
