/* Kafka API surface of the broker, without I/O: the versions we advertise,
 * parsing of one request frame, ApiVersions answers and whole-request error
 * responses. Pure functions (no libuv, no clock), so the fuzzer and tests call
 * them directly; server/kafka_conn.c is the libuv glue around them.
 *
 * VERSIONS. sk_api_ranges[] is the one table of what the broker may
 * advertise (shared/kafka-protocol/README.md). A running server advertises
 * the subset whose api keys have a handler, plus ApiVersions itself; that
 * subset is an "enabled mask": bit k set means api key k is enabled.
 *
 * PARSING a frame (the bytes after the 4-byte size prefix) gives one of:
 *   SK_PARSE_OK           header and body decoded, version advertised:
 *                         dispatch to the handler.
 *   SK_PARSE_UNSUPPORTED  api key known to the schemas but not enabled, or
 *                         version not advertised while still inside the
 *                         schema's range: the body decoded, so answer with
 *                         sk_api_error_response(..., UNSUPPORTED_VERSION).
 *   SK_PARSE_API_VERSIONS_FALLBACK
 *                         ApiVersions at a version we do not advertise:
 *                         answer with the v0-format body of
 *                         sk_api_versions_fallback() and response header v0
 *                         (KIP-511; librdkafka sends v3 first).
 *   SK_PARSE_CLOSE        no answer can be formed (header does not decode,
 *                         api key no schema defines, version outside the
 *                         schema, body that does not decode or leaves
 *                         trailing bytes): close the connection.
 *                         The Kafka broker does the same. */
#ifndef SL_SERVER_KAFKA_API_H
#define SL_SERVER_KAFKA_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/kafka_msgs.h"
#include "proto/kmsg.h"

/* Kafka error codes the listener itself produces. */
#define SK_KAFKA_NONE		      0
#define SK_KAFKA_UNKNOWN_SERVER_ERROR (-1)
#define SK_KAFKA_CORRUPT_MESSAGE      2
#define SK_KAFKA_UNSUPPORTED_VERSION  35
#define SK_KAFKA_INVALID_REQUEST      42

/* Api keys 0..SK_API_KEY_LIMIT-1 can be enabled (every key in
 * sk_api_ranges[] is below it). */
#define SK_API_KEY_LIMIT 64

/* One advertised range. */
struct sk_api_range {
	int16_t api_key;
	int16_t min_version;
	int16_t max_version;
};

#define SK_API_RANGE_COUNT 17
/* The versions the broker may advertise, sorted by api key; every range lies
 * inside the schema's validVersions (checked by the unit tests). */
extern const struct sk_api_range sk_api_ranges[SK_API_RANGE_COUNT];

/* Returns the advertised range of api_key, or NULL if we never advertise it. */
const struct sk_api_range *sk_api_range_lookup(int16_t api_key);

/* Returns the bit of api_key in an enabled mask (0 if it cannot be enabled). */
uint64_t sk_api_bit(int16_t api_key);

/* The enabled mask with every api of sk_api_ranges[] (tests and fuzzing). */
uint64_t sk_api_mask_all(void);

/* True if a request of (api_key, version) is advertised under mask
 * (ApiVersions always is, within its range). */
bool sk_api_supported(uint64_t mask, int16_t api_key, int16_t version);

/* ---- Frames ------------------------------------------------------------ */

/* Most bytes socket.request.max.bytes may be set to (Kafka's size field is an
 * int32). */
#define SK_REQUEST_BYTES_LIMIT ((uint32_t)INT32_MAX)

/* Reads the 4-byte big-endian size prefix at p. Returns the frame length (the
 * bytes that follow the prefix) or -1 when it is negative or above
 * request_bytes_max. A length of 0 is returned as 0 (the header parse then
 * fails). */
int64_t sk_frame_length(const uint8_t p[4], uint32_t request_bytes_max);

/* ---- Requests ---------------------------------------------------------- */

enum sk_parse_outcome {
	SK_PARSE_OK = 0,
	SK_PARSE_UNSUPPORTED,
	SK_PARSE_API_VERSIONS_FALLBACK,
	SK_PARSE_CLOSE,
};

/* What sk_request_parse() learnt about one frame. */
struct sk_parsed {
	/* The request header. Valid unless the outcome is SK_PARSE_CLOSE with
	 * header_ok false. client_id borrows from the frame. */
	struct kmsg_request_header header;
	bool header_ok;
	/* Schema row of the api key; NULL for keys no schema defines. */
	const struct kmsg_api *api;
	/* The decoded request struct (struct kmsg_<api>_request) for OK and
	 * UNSUPPORTED, allocated from the arena and borrowing from the frame;
	 * NULL otherwise. */
	void *body;
	/* For SK_PARSE_CLOSE: a static reason for the log ("bad_header",
	 * "unknown_api_key", "version_undefined", "bad_body", "trailing_bytes",
	 * "no_memory") and the kmsg error code if a decoder failed (else 0). */
	const char *reason;
	int err;
};

/* Parses one request frame (borrowed; decoded strings and bytes point into it,
 * so it must outlive *out) under the enabled mask. Arrays are allocated from
 * arena. Returns the outcome, also stored nowhere else; never fails
 * otherwise. */
enum sk_parse_outcome sk_request_parse(const uint8_t *frame, size_t len, uint64_t mask,
				       struct kmsg_arena *arena, struct sk_parsed *out);

/* ---- Responses --------------------------------------------------------- */

/* Appends one complete response frame to w: the size prefix, the response
 * header version (api_key, version) calls for, then response (a struct
 * kmsg_<api>_response, borrowed for the call) encoded at version. Returns 0
 * or a negative kmsg_err (KMSG_EINVAL for an api key no schema defines); on
 * error w is left as it was. */
int sk_response_frame_encode(struct kmsg_writer *w, int16_t api_key, int16_t version,
			     int32_t correlation_id, const void *response);

/* Fills *out with the ApiVersions answer for mask: error 0, one entry per
 * enabled api (ApiVersions included) in api key order. Entries are allocated
 * from arena. Returns 0 or KMSG_ENOMEM/KMSG_ELIMIT. */
int sk_api_versions_build(uint64_t mask, struct kmsg_arena *arena,
			  struct kmsg_api_versions_response *out);

/* Appends the answer to an ApiVersions request of a version we do not
 * advertise: size prefix, response header v0 with correlation_id, and a v0
 * body with error UNSUPPORTED_VERSION and api_keys = [{18, min, max}] of our
 * ApiVersions range. Returns 0 or a negative kmsg_err. */
int sk_api_versions_fallback(struct kmsg_writer *w, int32_t correlation_id);

/* How much of the cluster one decoded request names, for the per-request
 * limits (request.topics.max, request.partitions.max). */
struct sk_request_extent {
	int64_t topics;	    /* topic entries, repeats included */
	int64_t partitions; /* partition entries over all topics */
};

/* Fills *out with the topics and partitions that request (the decoded struct
 * kmsg_<api>_request of api_key) lists: Produce, Fetch (forgotten topics
 * too), ListOffsets, OffsetCommit and OffsetFetch (every group's topics)
 * count both; Metadata, CreateTopics and DeleteTopics count topics (a
 * CreateTopics' explicit assignments count as partitions). Every other api,
 * or a null "all topics" array, counts 0. Pure. */
void sk_api_request_extent(int16_t api_key, const void *request, struct sk_request_extent *out);

/* Fills *response (a struct kmsg_<api>_response of api_key, initialised here)
 * with the answer that reports error_code for every part of request (the
 * decoded struct kmsg_<api>_request of the same version, borrowed: strings in
 * the response point into it), as the Kafka broker's getErrorResponse does:
 * per partition for Produce, Fetch, ListOffsets, OffsetCommit, OffsetFetch;
 * per topic for Metadata, CreateTopics, DeleteTopics; per resource for
 * DescribeConfigs, AlterConfigs; per key for FindCoordinator v4+; the
 * top-level error code elsewhere. Arrays come from arena. The result encodes
 * at version. Returns 0, KMSG_EINVAL (api key without a schema or
 * ApiVersions, which has its own rules), or KMSG_ENOMEM/KMSG_ELIMIT. */
int sk_api_error_response(int16_t api_key, int16_t version, const void *request, int16_t error_code,
			  struct kmsg_arena *arena, void *response);

#endif /* SL_SERVER_KAFKA_API_H */
