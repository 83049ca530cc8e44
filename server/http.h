/* A small HTTP/1.1 server on libuv for stretchlogd's admin endpoints
 * (GET /metrics, GET /v1/status and whatever else the broker registers).
 *
 * ROUTES. sd_http_route() maps a method and a path prefix to a handler. A
 * request goes to the route with the longest prefix that matches its path:
 * the path equals the prefix, or continues it after a '/' ("/v1/status"
 * matches "/v1/status" and "/v1/status/x", not "/v1/statusx"; the prefix
 * "/" matches everything). A GET route also answers HEAD (body omitted). If
 * routes match the path but none has the method, the answer is 405 with an
 * Allow header; if none matches the path, 404. Handlers run synchronously on
 * the loop thread and fill a response: status, content type, extra headers,
 * body (bounded by response_bytes_max; a body that overflows becomes a 500).
 *
 * CONNECTIONS. HTTP/1.1 connections are kept alive unless the client sends
 * "Connection: close"; HTTP/1.0 ones only with "Connection: keep-alive".
 * Pipelined requests are answered in order, one at a time: the server stops
 * reading a connection while a response is being written, so a client that
 * does not read cannot make it buffer more than one response.
 *
 * LIMITS AND BAD INPUT. At most connections_max connections are open; more
 * are accepted and closed at once. A request's line and headers may take
 * header_bytes_max bytes (else 431) and SD_HTTP_HEADERS_MAX headers (else
 * 431); its body, announced by Content-Length, body_bytes_max (else 413).
 * A request must arrive completely within request_timeout_ms of its first
 * byte (else 408) and a response must be written within the same time; an
 * idle kept-alive connection is closed after idle_timeout_ms. A malformed
 * request line or header, a bad or repeated Content-Length, or a target not
 * starting with '/' gets 400; Transfer-Encoding in a request gets 501 (chunked
 * request bodies are not supported); a version other than HTTP/1.0 or 1.1
 * gets 505. Every error answer closes the connection afterwards, gently:
 * the server sends FIN and discards what the client still sends for at most
 * min(request_timeout_ms, 2 s), so that the answer is not destroyed by a TCP
 * reset. Nothing a client sends can crash the server or make it allocate
 * beyond these limits.
 *
 * CALLBACK CONTRACT (as libuv): when a call fails, nothing is left to clean
 * up but the server itself; the close callback never runs inside
 * sd_http_close(); the struct's memory may be released only in or after it.
 * Single-threaded: every call on the loop's thread. */
#ifndef SD_SERVER_HTTP_H
#define SD_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/json.h"

/* Routes per server. */
#define SD_HTTP_ROUTES_MAX 32
/* Headers per request. */
#define SD_HTTP_HEADERS_MAX 64
/* Bytes of a method name, NUL excluded. */
#define SD_HTTP_METHOD_BYTES_MAX 16
/* Bytes of a route prefix, NUL included. */
#define SD_HTTP_PREFIX_BYTES_MAX 128
/* Bytes of extra response header lines a handler may add. */
#define SD_HTTP_RESPONSE_HEADER_BYTES_MAX 1024
/* Bytes of a response Content-Type, NUL included. */
#define SD_HTTP_CONTENT_TYPE_BYTES_MAX 128

/* Error codes, negative, from -700 down. The X-macro feeds the enum,
 * sd_http_strerror() and sd_http_err_name(). */
#define SD_HTTP_ERRORS(X)                                                                          \
	X(SD_HTTP_EINVAL, -700, "invalid argument")                                                \
	X(SD_HTTP_ENOMEM, -701, "out of memory")                                                   \
	X(SD_HTTP_ELIMIT, -702, "too many routes")                                                 \
	X(SD_HTTP_EUV, -703, "socket operation failed (see sd_http_errmsg)")                       \
	X(SD_HTTP_ETOOBIG, -704, "value exceeds its buffer or limit")                              \
	X(SD_HTTP_ECLOSED, -705, "server is closing")                                              \
	X(SD_HTTP_ENOENT, -706, "no such query parameter")                                         \
	X(SD_HTTP_ESYNTAX, -707, "malformed percent escape")

enum sd_http_error {
#define SD_HTTP_ERR_ENUM(name, value, text) name = (value),
	SD_HTTP_ERRORS(SD_HTTP_ERR_ENUM)
#undef SD_HTTP_ERR_ENUM
};

/* Returns a static description of an SD_HTTP_* code ("success" for 0,
 * "unknown error" otherwise). Never returns NULL. */
const char *sd_http_strerror(int err);

/* Returns the static symbolic name of an SD_HTTP_* code, "0" for success,
 * or "SD_HTTP_UNKNOWN". Never returns NULL. */
const char *sd_http_err_name(int err);

/* Limits and timeouts; sd_http_config_init() sets the defaults shown. */
struct sd_http_config {
	int connections_max;	     /* 64 */
	size_t header_bytes_max;     /* 8 KiB: request line and headers */
	size_t body_bytes_max;	     /* 64 KiB */
	size_t response_bytes_max;   /* 64 MiB: a response body */
	uint64_t request_timeout_ms; /* 10 s */
	uint64_t idle_timeout_ms;    /* 60 s */
};

/* Fills cfg with the defaults. */
void sd_http_config_init(struct sd_http_config *cfg);

/* A request header; both strings NUL-terminated, the value without
 * surrounding blanks. */
struct sd_http_header {
	const char *name;
	const char *value;
};

/* A request as a handler sees it. Every pointer borrows the connection's
 * buffer and is valid only during the handler call. */
struct sd_http_request {
	const char *method; /* "GET", "POST", ... (HEAD for a HEAD request) */
	const char *path;   /* the target up to '?', not percent-decoded */
	const char *query;  /* after '?', "" if none, not decoded */
	int minor_version;  /* 0 or 1: HTTP/1.0 or HTTP/1.1 */
	const struct sd_http_header *headers;
	int n_headers;
	const char *body; /* body_len bytes, not NUL-terminated */
	size_t body_len;
};

/* Returns the value of the first header named name (case-insensitive), or
 * NULL. */
const char *sd_http_request_header(const struct sd_http_request *req, const char *name);

/* A response being filled by a handler. Defaults: 200, text/plain. */
struct sd_http_response {
	int status;
	char content_type[SD_HTTP_CONTENT_TYPE_BYTES_MAX];
	struct sd_buf body; /* append with sd_buf_* or an sd_json writer */
	char headers[SD_HTTP_RESPONSE_HEADER_BYTES_MAX]; /* extra "Name: value\r\n" lines */
	size_t headers_len;
};

/* Sets the Content-Type (copied; truncated to fit). */
void sd_http_response_type(struct sd_http_response *resp, const char *content_type);

/* Adds a response header (copied). Returns 0, SD_HTTP_EINVAL for a name
 * that is not a token or a value with CR, LF or NUL, or SD_HTTP_ETOOBIG
 * when the extra headers would exceed SD_HTTP_RESPONSE_HEADER_BYTES_MAX. */
int sd_http_response_header(struct sd_http_response *resp, const char *name, const char *value);

/* Replaces the response with status and a one-line text/plain body
 * (message copied). */
void sd_http_response_error(struct sd_http_response *resp, int status, const char *message);

/* A route handler. req is borrowed for the call; resp is filled by the
 * handler; data is the pointer given to sd_http_route(). */
typedef void (*sd_http_handler_fn)(const struct sd_http_request *req, struct sd_http_response *resp,
				   void *data);

/* Counters for metrics. */
struct sd_http_stats {
	uint64_t connections_accepted;
	uint64_t connections_rejected; /* over connections_max */
	uint64_t requests;	       /* complete requests handled */
	uint64_t responses_2xx;
	uint64_t responses_4xx;
	uint64_t responses_5xx;
	uint64_t bad_requests; /* closed with a 4xx/5xx for malformed input */
	uint64_t timeouts;
	int connections_open;
};

struct sd_http;
typedef void (*sd_http_close_cb)(struct sd_http *h);

struct sd_http__route {
	char method[SD_HTTP_METHOD_BYTES_MAX + 1];
	char prefix[SD_HTTP_PREFIX_BYTES_MAX];
	size_t prefix_len;
	sd_http_handler_fn fn;
	void *data;
};

struct sd_http__conn;

/* A server. Caller-owned; only `data` and `stats` are for the caller, the
 * other fields are private. */
struct sd_http {
	void *data;
	struct sd_http_stats stats;
	/* private */
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct sd_http_config cfg;
	struct sd_http__route routes[SD_HTTP_ROUTES_MAX];
	int n_routes;
	struct sd_http__conn *conns;
	bool listener_open;
	bool closing;
	sd_http_close_cb close_cb;
	char errmsg[256];
};

/* Initializes a server on loop with cfg (copied; NULL for defaults). No
 * socket is opened yet. Returns 0, SD_HTTP_EINVAL (a zero limit) or
 * SD_HTTP_EUV. After success the server must be closed with
 * sd_http_close(). */
int sd_http_init(struct sd_http *h, uv_loop_t *loop, const struct sd_http_config *cfg);

/* Adds a route: method (e.g. "GET", copied), path prefix starting with '/'
 * (copied), handler and its data (borrowed until close). Returns 0,
 * SD_HTTP_EINVAL, SD_HTTP_ELIMIT, or SD_HTTP_ETOOBIG for an over-long method
 * or prefix. Routes may be added at any time before close. */
int sd_http_route(struct sd_http *h, const char *method, const char *prefix, sd_http_handler_fn fn,
		  void *data);

/* Binds host:port (host copied: an IPv4 or IPv6 literal, "" for 0.0.0.0;
 * port 0 picks a free port) and starts accepting. Returns 0, SD_HTTP_EINVAL
 * (already listening or closing), SD_HTTP_EUV with sd_http_errmsg() saying
 * what failed (e.g. "bind 127.0.0.1:9644: address already in use"). */
int sd_http_listen(struct sd_http *h, const char *host, uint16_t port);

/* Returns the bound port (after sd_http_listen()), or 0. */
uint16_t sd_http_port(const struct sd_http *h);

/* Returns the last error's context, "" if none. Borrowed from h. */
const char *sd_http_errmsg(const struct sd_http *h);

/* Stops accepting, closes every connection (responses being written are
 * cut off) and calls cb (may be NULL) once every handle has closed, from the
 * loop, never inside this call. */
void sd_http_close(struct sd_http *h, sd_http_close_cb cb);

/* Finds key in a query string ("a=1&b=x%20y"; key and value are
 * percent-decoded, '+' is a space) and writes its NUL-terminated value into
 * buf (len bytes). A key without '=' has the value "". Returns the value's
 * length, SD_HTTP_ENOENT when absent, SD_HTTP_ESYNTAX for a malformed escape
 * or a decoded NUL, or SD_HTTP_ETOOBIG when the value does not fit. */
int sd_http_query_get(const char *query, const char *key, char *buf, size_t len);

/* Returns the reason phrase of a status code ("Not Found"), or "Unknown". */
const char *sd_http_reason(int status);

#endif /* SD_SERVER_HTTP_H */
