/* Kafka protocol listener: accepts client connections on a libuv loop, reads
 * size-prefixed request frames, decodes them with the generated codecs and
 * hands each request to the handler the broker registered for its api key.
 * Handlers complete requests synchronously or later; responses are written
 * in request order. Nothing here is thread-safe: call everything on the
 * loop's thread. The process must ignore SIGPIPE (sockets are written with
 * write(2) and sendfile(2), which raise it once a client has gone).
 *
 * THE HAPPY PATH. A connection reads into a small buffer; each frame's 4-byte
 * big-endian length is checked against request_bytes_max and the
 * connection's bounds BEFORE the frame is allocated. The frame is parsed
 * (sk_request_parse() in kafka_api.h) into a per-request arena, and the
 * request is appended to the connection's FIFO and given to the handler. The
 * handler later calls exactly one of sk_respond(), sk_respond_error(),
 * sk_respond_raw() or sk_request_drop(). Completed responses at the head of
 * the FIFO are written together in one write just before the loop next
 * blocks; a response waits for every earlier one (pipelining keeps request
 * order even when handlers finish out of order). ApiVersions is answered by
 * the listener itself from sk_api_ranges[] restricted to the registered
 * handlers.
 *
 * BOUNDS. While a connection has inflight_requests_max requests in its FIFO
 * (received, response not yet written), or queued_bytes_max bytes of request
 * frames and encoded responses, it stops reading; it resumes when requests
 * complete. A single frame is always admitted when the FIFO is empty. A
 * frame's buffer grows with the bytes actually received (from 64 KiB,
 * doubling up to its length), so a bare length prefix costs little memory.
 * Accepted connections beyond connections_max are closed at once, and
 * connections idle for idle_timeout_ms are closed. A request that names more
 * than request_topics_max topics or request_partitions_max partitions gets
 * INVALID_REQUEST (42) in every part, from the listener, with one log line
 * (event=kafka_request_too_large); the connection stays open.
 *
 * BAD INPUT (Kafka convention, DESIGN.md section 8). A frame length below 0
 * or above request_bytes_max, a header that does not decode, an api key no
 * schema defines, a version outside the schema, or a body that does not
 * decode closes the connection with one key=value log line
 * (event=kafka_protocol_error); other connections are unaffected. A request
 * that decodes but is not advertised (no handler, or version outside our
 * range) gets a whole-request UNSUPPORTED_VERSION (35) answer; ApiVersions
 * above our max gets the KIP-511 v0 fallback. A request that parses but is
 * wrong gets whatever Kafka error code its handler picks.
 *
 * FAILURE MODES. A read or write error, or end of stream, closes the
 * connection. Every request still pending is marked closed and its cancel
 * callback (if set) runs from the loop; the handler must still complete it
 * (the answer is then discarded). Requests of a closed connection stay valid
 * until completed, and the server's close callback waits for all of them.
 * File segments are sent with sendfile(2) on the loop thread while the
 * socket accepts data, else read in chunks with pread(2) on the loop thread
 * (recent log data is in the page cache; a cold read blocks the loop). A
 * file shorter than the range it promised closes the connection.
 *
 * CALLBACK CONTRACT (as libuv): no callback runs inside the call that
 * started it; when a call that takes a callback fails, the callback never
 * runs. */
#ifndef SL_SERVER_KAFKA_CONN_H
#define SL_SERVER_KAFKA_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proto/kmsg.h"
#include "server/kafka_api.h"

/* Errors, negative, from -200 down. The X-macro feeds the enum,
 * sk_strerror() and sk_err_name(). */
#define SK_ERRORS(X)                                                                               \
	X(SK_EINVAL, -200, "invalid argument")                                                     \
	X(SK_ENOMEM, -201, "out of memory")                                                        \
	X(SK_ECLOSED, -202, "connection or server closed")                                         \
	X(SK_EENCODE, -203, "response does not encode at the request's version")                   \
	X(SK_EUV, -204, "socket operation failed (see sk_server_errmsg)")                          \
	X(SK_EADDR, -205, "address cannot be parsed")                                              \
	X(SK_ETOOBIG, -206, "response exceeds a size limit")

enum sk_error {
#define SK_ERR_ENUM(name, value, text) name = (value),
	SK_ERRORS(SK_ERR_ENUM)
#undef SK_ERR_ENUM
};

/* Returns a static description of an SK_* code ("unknown error" otherwise). */
const char *sk_strerror(int rv);
/* Returns the static symbolic name of an SK_* code, or "SK_UNKNOWN". */
const char *sk_err_name(int rv);

/* Defaults filled in by sk_config_init(). The Kafka configuration names are
 * given where Kafka has the concept. */
#define SK_REQUEST_BYTES_MAX_DEFAULT	 (100u << 20) /* socket.request.max.bytes */
#define SK_INFLIGHT_REQUESTS_MAX_DEFAULT 100u	      /* max.inflight.requests.per.connection */
#define SK_QUEUED_BYTES_MAX_DEFAULT	 (128u << 20) /* per connection */
#define SK_CONNECTIONS_MAX_DEFAULT	 4096u	      /* max.connections */
#define SK_ARENA_BYTES_MAX_DEFAULT	 (64u << 20)
#define SK_RESPONSE_BYTES_MAX_DEFAULT	 (256u << 20)
#define SK_FILE_CHUNK_BYTES_DEFAULT	 (256u << 10)
#define SK_IDLE_TIMEOUT_MS_DEFAULT	 600000u /* connections.max.idle.ms */
#define SK_REQUEST_TOPICS_MAX_DEFAULT	 10000u	 /* request.topics.max */
#define SK_REQUEST_PARTITIONS_MAX_DEFAULT 100000u /* request.partitions.max */
#define SK_LISTEN_BACKLOG_DEFAULT	 511
/* Most segments one sk_respond_raw() call may pass. */
#define SK_RAW_SEGMENTS_MAX 4096

/* Limits and tuning; sk_server_create() validates and copies them. */
struct sk_config {
	/* Largest request frame (after the size prefix); 1..SK_REQUEST_BYTES_LIMIT. */
	uint32_t request_bytes_max;
	/* Most requests per connection between receipt and written response. */
	uint32_t inflight_requests_max;
	/* Most bytes of request frames and queued encoded responses held per
	 * connection before it stops reading (a lone request is always admitted). */
	uint64_t queued_bytes_max;
	/* Most open client connections. */
	uint32_t connections_max;
	/* Most bytes one request's decode arena hands out (arrays). */
	size_t arena_bytes_max;
	/* Largest encoded response (sk_respond) or raw response total. */
	size_t response_bytes_max;
	/* Size of the reads used for file segments when sendfile cannot be used. */
	uint32_t file_chunk_bytes;
	/* Use sendfile(2) for file segments (else pread + write only). */
	bool sendfile;
	int listen_backlog;
	/* A connection without socket activity for this long that owes no
	 * response is closed (checked every quarter of it, at most 30 s);
	 * 0 disables. */
	uint32_t idle_timeout_ms;
	/* A request naming more topics, or more partitions over all its topics
	 * (sk_api_request_extent()), is answered INVALID_REQUEST for every part
	 * without reaching its handler (request.topics.max,
	 * request.partitions.max); 0 means no limit. */
	uint32_t request_topics_max;
	uint32_t request_partitions_max;
};

/* Fills *c with the SK_*_DEFAULT values and sendfile = true. */
void sk_config_init(struct sk_config *c);

struct sk_server;

/* One request, handed to a handler. The fields are read-only for the
 * handler except data. Valid from the handler call until the request is
 * completed by exactly one of sk_respond(), sk_respond_error(),
 * sk_respond_raw() or sk_request_drop(); everything it points to (body,
 * client_id, peer, the arena's allocations) is borrowed for that long, or for
 * sk_respond_raw() until its done callback. */
struct sk_request {
	void *data;		   /* for the handler; never touched */
	int16_t api_key;	   /* enum kmsg_api_key */
	int16_t api_version;	   /* an advertised version */
	int32_t correlation_id;	   /* echoed in the response header */
	struct kmsg_str client_id; /* may be null; borrows the frame */
	/* The decoded struct kmsg_<api>_request (cast by api_key). Strings and
	 * records borrow the frame; arrays live in the arena. */
	const void *body;
	/* The request's arena; the handler may allocate its response's arrays
	 * and bytes here (freed with the request). */
	struct kmsg_arena *arena;
	uint64_t conn_id;     /* per-server connection number, from 1 */
	const char *peer;     /* "127.0.0.1:51234" or "[::1]:51234" */
	uint32_t frame_bytes; /* the request frame, size prefix excluded */
	uint64_t received_ns; /* sl_now_mono_ns() when the frame was complete */
	/* Set once the connection is closed (or closing): the answer will be
	 * discarded, but the request must still be completed. */
	bool closed;
};

/* A handler: called from the loop for every advertised request of its api
 * key. ctx is what was given to sk_server_set_handler(). It must eventually
 * complete req exactly once (possibly inside this call). */
typedef void (*sk_handler_fn)(void *ctx, struct sk_request *req);

/* Called once, from the loop, when req's connection closes while req is
 * still pending (not completed). The handler should then complete it soon
 * (a long-poll Fetch answers at once; the answer is discarded). */
typedef void (*sk_cancel_fn)(struct sk_request *req);

/* Called when a raw response's bytes have all been handed to the socket
 * (status 0) or will never be (SK_ECLOSED). The segments' memory and files
 * may be released from here on; the request is freed right after. */
typedef void (*sk_done_fn)(void *data, int status);

/* Outcome of a request, as seen by the observer. */
enum sk_outcome {
	SK_OUTCOME_SENT = 0,  /* response fully handed to the socket */
	SK_OUTCOME_DROPPED,   /* sk_request_drop(): no response by design */
	SK_OUTCOME_DISCARDED, /* connection closed before the response went out */
};

/* One completed request, for metrics. */
struct sk_observation {
	int16_t api_key;
	int16_t api_version;
	uint64_t conn_id;
	enum sk_outcome outcome;
	bool builtin;	      /* answered by the listener (ApiVersions, unsupported) */
	uint64_t duration_ns; /* from received_ns to the outcome */
	uint64_t bytes_in;    /* request frame, size prefix included */
	uint64_t bytes_out;   /* response, size prefix included; 0 unless SENT */
};

/* Called from the loop once per completed request; obs is valid for the call. */
typedef void (*sk_observe_fn)(void *ctx, const struct sk_observation *obs);

/* Counters of one api key. */
struct sk_api_stats {
	uint64_t requests;    /* dispatched to a handler or answered by the listener */
	uint64_t unsupported; /* answered UNSUPPORTED_VERSION (incl. ApiVersions fallback) */
	uint64_t responses;   /* responses fully written */
	uint64_t dropped;     /* completed with sk_request_drop() */
	uint64_t discarded;   /* completed after their connection closed */
	uint64_t bytes_in;
	uint64_t bytes_out;
};

/* Server-wide counters. */
struct sk_stats {
	uint64_t connections_accepted;
	uint64_t connections_rejected; /* over connections_max */
	uint64_t connections_open;
	uint64_t protocol_errors; /* connections closed for a bad frame */
	uint64_t read_pauses;	  /* times a connection hit its bounds */
	uint64_t sendfile_bytes;  /* file segment bytes sent with sendfile */
	uint64_t file_read_bytes; /* file segment bytes read with pread */
	struct sk_api_stats api[SK_API_KEY_LIMIT];
};

/* Creates a server on loop with config (copied; NULL = defaults). No socket
 * is opened yet. Returns 0 and *out, SK_EINVAL (bad configuration; logged)
 * or SK_ENOMEM. A created server must be closed with sk_server_close(). */
int sk_server_create(uv_loop_t *loop, const struct sk_config *config, struct sk_server **out);

/* Registers fn (with ctx, borrowed until the server is closed) for api_key,
 * which must be in sk_api_ranges[] and not ApiVersions; fn NULL unregisters.
 * Registered apis are advertised from then on. Returns 0 or SK_EINVAL. */
int sk_server_set_handler(struct sk_server *srv, int16_t api_key, sk_handler_fn fn, void *ctx);

/* Registers the observer (NULL removes it); ctx is borrowed. */
void sk_server_set_observer(struct sk_server *srv, sk_observe_fn fn, void *ctx);

/* Returns the mask of advertised api keys (see kafka_api.h). */
uint64_t sk_server_api_mask(const struct sk_server *srv);

/* Binds host (numeric IPv4 or IPv6; copied) and port (0 = ephemeral, see
 * sk_server_port()) and starts accepting. Returns 0, SK_EADDR, SK_EUV (see
 * sk_server_errmsg()), SK_EINVAL (already listening) or SK_ECLOSED. */
int sk_server_listen(struct sk_server *srv, const char *host, uint16_t port);

/* Returns the bound port, or 0 before a successful listen. */
uint16_t sk_server_port(const struct sk_server *srv);

/* Returns the last error message (static storage inside srv; never NULL). */
const char *sk_server_errmsg(const struct sk_server *srv);

/* Copies the counters into *out. */
void sk_server_stats(const struct sk_server *srv, struct sk_stats *out);

/* Stops accepting and closes every connection (pending requests get their
 * cancel callbacks). cb(srv, data) runs from the loop once every handle is
 * closed and every request has been completed; srv is freed when cb returns.
 * Calling it twice is a programming error. */
typedef void (*sk_close_cb)(struct sk_server *srv, void *data);
void sk_server_close(struct sk_server *srv, sk_close_cb cb, void *data);

/* Starts a graceful shutdown: stops accepting and reading, answers every
 * request already received (complete frames already read are still
 * dispatched) and closes each connection once it owes nothing. cb(srv, data)
 * runs from the loop once the listener and every connection are closed; srv
 * stays valid and the caller then calls sk_server_close(). Calling
 * sk_server_close() before that closes the remaining connections at once
 * (the broker's shutdown.drain.timeout.ms) and cb never runs. Calling it
 * twice, or after sk_server_close(), is a programming error. */
void sk_server_drain(struct sk_server *srv, sk_close_cb cb, void *data);

/* ---- Completing requests ----------------------------------------------- */

/* Sets the cancel callback of req (see sk_cancel_fn). Returns 0, or
 * SK_ECLOSED when the connection has already closed and cancelled its
 * requests: then cb never runs, complete req now. */
int sk_request_on_cancel(struct sk_request *req, sk_cancel_fn cb);

/* Completes req with response, a struct kmsg_<api>_response of req's api key
 * (borrowed for the call), encoded at once at req->api_version with the
 * matching response header. Returns 0; SK_ECLOSED (connection closed: answer
 * discarded); SK_EENCODE or SK_ETOOBIG (the response cannot be encoded; the
 * connection is closed, since skipping a response would break ordering).
 * req is invalid after the call in every case. */
int sk_respond(struct sk_request *req, const void *response);

/* Completes req with the whole-request answer for error_code built by
 * sk_api_error_response() (every partition/topic/resource gets the error).
 * Same returns as sk_respond(). */
int sk_respond_error(struct sk_request *req, int16_t error_code);

enum sk_segment_kind { SK_SEGMENT_MEM = 0, SK_SEGMENT_FILE };

/* A piece of a raw response body: memory, or a range of an open file. */
struct sk_segment {
	enum sk_segment_kind kind;
	size_t len;	  /* bytes; 0 is allowed */
	const void *base; /* MEM: the bytes */
	int fd;		  /* FILE: a regular file open for reading */
	int64_t offset;	  /* FILE: where the range starts */
};

static inline struct sk_segment sk_segment_mem(const void *base, size_t len)
{
	struct sk_segment s = {SK_SEGMENT_MEM, len, base, -1, 0};
	return s;
}

static inline struct sk_segment sk_segment_file(int fd, int64_t offset, size_t len)
{
	struct sk_segment s = {SK_SEGMENT_FILE, len, NULL, fd, offset};
	return s;
}

/* Completes req with a response body given as n segments, written after the
 * size prefix and the response header (which the listener writes) without
 * re-encoding: the handler encodes the body of req->api_version itself, for
 * example a Fetch response whose record sets are file ranges. The array is
 * copied; memory and files are borrowed until done(done_data, status), which
 * runs from the loop, never inside this call. The request's body and arena
 * (where the handler may keep the segments' memory) live until then too;
 * the handler must not use req itself after the call.
 *
 * Returns 0 (done will run; it may be NULL when nothing needs releasing);
 * SK_ECLOSED (connection already closed); SK_EINVAL (n above
 * SK_RAW_SEGMENTS_MAX, a MEM segment without memory, a FILE segment with a
 * negative fd or offset, or a total above response_bytes_max) or SK_ENOMEM:
 * the connection is closed. On every error done never runs and req is
 * already completed. */
int sk_respond_raw(struct sk_request *req, const struct sk_segment *segs, size_t n, sk_done_fn done,
		   void *done_data);

/* Completes req without a response (Produce with acks=0). Later responses
 * still wait for every earlier one. req is invalid after the call. */
void sk_request_drop(struct sk_request *req);

#endif /* SL_SERVER_KAFKA_CONN_H */
