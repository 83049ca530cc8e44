/* Advertised Kafka versions, request frame parsing and ApiVersions answers
 * (pure; see kafka_api.h). */
#include "server/kafka_api.h"

#include <string.h>

#include "common/sl_common.h"

/* shared/kafka-protocol/README.md, "Versions to advertise". Produce 0-2 are
 * advertised but need not be implemented (librdkafka disables lz4 unless the
 * minimum is 0); ApiVersions stops at 2 (v3 is flexible; clients that send it
 * get the KIP-511 fallback and retry lower). */
const struct sk_api_range sk_api_ranges[SK_API_RANGE_COUNT] = {
    {KMSG_API_PRODUCE, 0, 7},	       {KMSG_API_FETCH, 4, 11},
    {KMSG_API_LIST_OFFSETS, 1, 3},     {KMSG_API_METADATA, 0, 4},
    {KMSG_API_OFFSET_COMMIT, 2, 7},    {KMSG_API_OFFSET_FETCH, 1, 5},
    {KMSG_API_FIND_COORDINATOR, 0, 2}, {KMSG_API_JOIN_GROUP, 0, 5},
    {KMSG_API_HEARTBEAT, 0, 3},	       {KMSG_API_LEAVE_GROUP, 0, 1},
    {KMSG_API_SYNC_GROUP, 0, 3},       {KMSG_API_API_VERSIONS, 0, 2},
    {KMSG_API_CREATE_TOPICS, 0, 4},    {KMSG_API_DELETE_TOPICS, 0, 3},
    {KMSG_API_INIT_PRODUCER_ID, 0, 1}, {KMSG_API_DESCRIBE_CONFIGS, 1, 2},
    {KMSG_API_ALTER_CONFIGS, 0, 1},
};

const struct sk_api_range *sk_api_range_lookup(int16_t api_key)
{
	for (size_t i = 0; i < SL_ARRAY_LEN(sk_api_ranges); i++) {
		if (sk_api_ranges[i].api_key == api_key) {
			return &sk_api_ranges[i];
		}
	}
	return NULL;
}

uint64_t sk_api_bit(int16_t api_key)
{
	if (api_key < 0 || api_key >= SK_API_KEY_LIMIT) {
		return 0;
	}
	return (uint64_t)1 << api_key;
}

uint64_t sk_api_mask_all(void)
{
	uint64_t m = 0;
	for (size_t i = 0; i < SL_ARRAY_LEN(sk_api_ranges); i++) {
		m |= sk_api_bit(sk_api_ranges[i].api_key);
	}
	return m;
}

bool sk_api_supported(uint64_t mask, int16_t api_key, int16_t version)
{
	const struct sk_api_range *r = sk_api_range_lookup(api_key);
	if (r == NULL || version < r->min_version || version > r->max_version) {
		return false;
	}
	return api_key == KMSG_API_API_VERSIONS || (mask & sk_api_bit(api_key)) != 0;
}

int64_t sk_frame_length(const uint8_t p[4], uint32_t request_bytes_max)
{
	int32_t n = (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
			      ((uint32_t)p[2] << 8) | (uint32_t)p[3]);
	if (n < 0 || (uint32_t)n > request_bytes_max) {
		return -1;
	}
	return n;
}

static enum sk_parse_outcome parse_close(struct sk_parsed *out, const char *reason, int err)
{
	out->reason = reason;
	out->err = err;
	out->body = NULL;
	return SK_PARSE_CLOSE;
}

/* Decodes the body at r (the rest of the frame) into an arena struct. */
static enum sk_parse_outcome parse_body(struct kmsg_reader *r, struct kmsg_arena *arena,
					struct sk_parsed *out)
{
	const struct kmsg_api *api = out->api;
	void *body = kmsg_arena_alloc(arena, api->request_size);
	if (body == NULL) {
		return parse_close(out, "no_memory", KMSG_ENOMEM);
	}
	int rc = api->request_decode(r, out->header.request_api_version, body, arena);
	if (rc < 0) {
		return parse_close(out, "bad_body", rc);
	}
	if (kmsg_reader_remaining(r) != 0) {
		return parse_close(out, "trailing_bytes", KMSG_EMALFORMED);
	}
	out->body = body;
	return SK_PARSE_OK;
}

enum sk_parse_outcome sk_request_parse(const uint8_t *frame, size_t len, uint64_t mask,
				       struct kmsg_arena *arena, struct sk_parsed *out)
{
	struct kmsg_reader r;
	memset(out, 0, sizeof(*out));
	kmsg_reader_init(&r, frame, len);
	int rc = kmsg_request_header_read(&r, &out->header, arena);
	if (rc < 0) {
		return parse_close(out, "bad_header", rc);
	}
	out->header_ok = true;
	int16_t key = out->header.request_api_key;
	int16_t version = out->header.request_api_version;
	out->api = kmsg_api_lookup(key);
	bool supported = sk_api_supported(mask, key, version);
	if (key == KMSG_API_API_VERSIONS && !supported) {
		/* The body may be of a format we do not know: do not decode it. */
		return SK_PARSE_API_VERSIONS_FALLBACK;
	}
	if (out->api == NULL) {
		return parse_close(out, "unknown_api_key", 0);
	}
	if (version < out->api->min_version || version > out->api->max_version) {
		return parse_close(out, "version_undefined", KMSG_EVERSION);
	}
	enum sk_parse_outcome o = parse_body(&r, arena, out);
	if (o != SK_PARSE_OK) {
		return o;
	}
	return supported ? SK_PARSE_OK : SK_PARSE_UNSUPPORTED;
}

int sk_response_frame_encode(struct kmsg_writer *w, int16_t api_key, int16_t version,
			     int32_t correlation_id, const void *response)
{
	const struct kmsg_api *api = kmsg_api_lookup(api_key);
	if (api == NULL) {
		return KMSG_EINVAL;
	}
	size_t start = w->len;
	size_t mark;
	int rc = kmsg_writer_frame_begin(w, &mark);
	if (rc == 0) {
		rc = kmsg_response_header_write(w, api_key, version, correlation_id);
	}
	if (rc == 0) {
		rc = api->response_encode(w, version, response);
	}
	if (rc == 0) {
		rc = kmsg_writer_frame_end(w, mark);
	}
	if (rc < 0) {
		w->len = start;
	}
	return rc;
}

int sk_api_versions_build(uint64_t mask, struct kmsg_arena *arena,
			  struct kmsg_api_versions_response *out)
{
	int32_t n = 0;
	kmsg_api_versions_response_init(out);
	for (size_t i = 0; i < SL_ARRAY_LEN(sk_api_ranges); i++) {
		const struct sk_api_range *r = &sk_api_ranges[i];
		n += sk_api_supported(mask, r->api_key, r->min_version) ? 1 : 0;
	}
	int rc;
	struct kmsg_api_versions_response_api_version *items =
	    kmsg__arena_array(arena, n, sizeof(*items), &rc);
	if (rc < 0) {
		return rc;
	}
	int32_t j = 0;
	for (size_t i = 0; i < SL_ARRAY_LEN(sk_api_ranges); i++) {
		const struct sk_api_range *r = &sk_api_ranges[i];
		if (!sk_api_supported(mask, r->api_key, r->min_version)) {
			continue;
		}
		kmsg_api_versions_response_api_version_init(&items[j]);
		items[j].api_key = r->api_key;
		items[j].min_version = r->min_version;
		items[j].max_version = r->max_version;
		j++;
	}
	out->api_keys.items = items;
	out->api_keys.count = n;
	return 0;
}

int sk_api_versions_fallback(struct kmsg_writer *w, int32_t correlation_id)
{
	const struct sk_api_range *r = sk_api_range_lookup(KMSG_API_API_VERSIONS);
	struct kmsg_api_versions_response_api_version entry;
	struct kmsg_api_versions_response resp;
	kmsg_api_versions_response_api_version_init(&entry);
	entry.api_key = KMSG_API_API_VERSIONS;
	entry.min_version = r->min_version;
	entry.max_version = r->max_version;
	kmsg_api_versions_response_init(&resp);
	resp.error_code = SK_KAFKA_UNSUPPORTED_VERSION;
	resp.api_keys.items = &entry;
	resp.api_keys.count = 1;
	/* Header and body at version 0, whatever the request's version. */
	return sk_response_frame_encode(w, KMSG_API_API_VERSIONS, 0, correlation_id, &resp);
}
