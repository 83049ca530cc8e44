/* The admin HTTP server's I/O on libuv: accepting, reading, dispatching to
 * route handlers, writing responses, timeouts and closing.
 *
 * Happy path: a connection is accepted (and counted), reads land in its
 * buffer, and once a whole head (and the body its Content-Length announces)
 * is there the request is parsed, routed, handled synchronously, and the
 * response goes out in one uv_write of two buffers (head, body). Reading
 * stops until the write completes; then leftover bytes (pipelined requests)
 * are processed, or the connection waits, kept alive, for the next request.
 *
 * Failure modes: over-limit connections are closed on accept; malformed or
 * over-limit requests get an error answer and the connection closes after
 * it; a request or write slower than request_timeout_ms, or a connection
 * idle past idle_timeout_ms, is closed (408 when a partial request was
 * pending); read and write errors close the connection. A connection's
 * memory is freed only after both its handles' close callbacks ran. */
#include <stdio.h>
#include <string.h>

#include "server/http_int.h"

/* Bytes of a response head we build: status line, fixed headers and the
 * handler's extra headers. */
#define HEAD_BYTES_MAX (SD_HTTP_RESPONSE_HEADER_BYTES_MAX + SD_HTTP_CONTENT_TYPE_BYTES_MAX + 256)
/* First size of a connection's read buffer. */
#define READ_BUFFER_INITIAL 4096
/* Longest a connection lingers after an error answer, draining what the
 * client still sends so that the answer is not lost to a TCP reset. */
#define LINGER_MS_MAX 2000

struct sd_http__conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	struct sd_http *h;
	struct sd_http__conn *prev;
	struct sd_http__conn *next;
	char *rbuf; /* received bytes not yet consumed */
	size_t rlen;
	size_t rcap;
	size_t scanned; /* progress of the head search */
	bool head_done; /* parsed holds the current request's head */
	struct sd_http__parsed parsed;
	char head[HEAD_BYTES_MAX]; /* response head being written */
	struct sd_http_response resp;
	bool writing;
	bool close_after_write;
	bool lingering; /* answered and shut down; reading only to discard */
	bool closing;
	int handles_open;
};

void sd_http_config_init(struct sd_http_config *cfg)
{
	cfg->connections_max = 64;
	cfg->header_bytes_max = 8u << 10;
	cfg->body_bytes_max = 64u << 10;
	cfg->response_bytes_max = 64u << 20;
	cfg->request_timeout_ms = 10000;
	cfg->idle_timeout_ms = 60000;
}

static int uv_fail(struct sd_http *h, const char *what, int rv)
{
	snprintf(h->errmsg, sizeof(h->errmsg), "%.180s: %s", what, uv_strerror(rv));
	return SD_HTTP_EUV;
}

int sd_http_init(struct sd_http *h, uv_loop_t *loop, const struct sd_http_config *cfg)
{
	SL_ASSERT(h != NULL && loop != NULL);
	memset(h, 0, sizeof(*h));
	h->loop = loop;
	if (cfg != NULL) {
		h->cfg = *cfg;
	} else {
		sd_http_config_init(&h->cfg);
	}
	if (h->cfg.connections_max <= 0 || h->cfg.header_bytes_max < 64 ||
	    h->cfg.request_timeout_ms == 0 || h->cfg.idle_timeout_ms == 0 ||
	    h->cfg.response_bytes_max == 0) {
		snprintf(h->errmsg, sizeof(h->errmsg), "invalid limits");
		return SD_HTTP_EINVAL;
	}
	int rv = uv_tcp_init(loop, &h->listener);
	if (rv != 0) {
		return uv_fail(h, "tcp init", rv);
	}
	h->listener.data = h;
	h->listener_open = true;
	return 0;
}

int sd_http_route(struct sd_http *h, const char *method, const char *prefix, sd_http_handler_fn fn,
		  void *data)
{
	SL_ASSERT(h != NULL);
	if (method == NULL || prefix == NULL || fn == NULL || prefix[0] != '/' || h->closing) {
		return SD_HTTP_EINVAL;
	}
	if (strlen(method) > SD_HTTP_METHOD_BYTES_MAX ||
	    strlen(prefix) >= SD_HTTP_PREFIX_BYTES_MAX) {
		return SD_HTTP_ETOOBIG;
	}
	if (h->n_routes == SD_HTTP_ROUTES_MAX) {
		return SD_HTTP_ELIMIT;
	}
	struct sd_http__route *r = &h->routes[h->n_routes++];
	snprintf(r->method, sizeof(r->method), "%s", method);
	snprintf(r->prefix, sizeof(r->prefix), "%s", prefix);
	r->prefix_len = strlen(r->prefix);
	r->fn = fn;
	r->data = data;
	return 0;
}

const char *sd_http_errmsg(const struct sd_http *h)
{
	return h->errmsg;
}

uint16_t sd_http_port(const struct sd_http *h)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (!h->listener_open ||
	    uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len) != 0) {
		return 0;
	}
	if (ss.ss_family == AF_INET) {
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	if (ss.ss_family == AF_INET6) {
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return 0;
}

/* ---- connection teardown -------------------------------------------------- */

static void maybe_closed(struct sd_http *h)
{
	if (h->closing && !h->listener_open && h->conns == NULL && h->close_cb != NULL) {
		sd_http_close_cb cb = h->close_cb;
		h->close_cb = NULL;
		cb(h);
	}
}

static void conn_handle_closed(uv_handle_t *handle)
{
	struct sd_http__conn *c = handle->data;
	if (--c->handles_open > 0) {
		return;
	}
	struct sd_http *h = c->h;
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else {
		h->conns = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	h->stats.connections_open--;
	sl_free(c->rbuf);
	sd_buf_free(&c->resp.body);
	sl_free(c);
	maybe_closed(h);
}

static void conn_close(struct sd_http__conn *c)
{
	if (c->closing) {
		return;
	}
	c->closing = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

/* ---- responses ---------------------------------------------------------------- */

static void arm_timer(struct sd_http__conn *c);
static void on_timer(uv_timer_t *t);
static void process(struct sd_http__conn *c);
static void start_reading(struct sd_http__conn *c);

static void count_status(struct sd_http *h, int status)
{
	if (status >= 500) {
		h->stats.responses_5xx++;
	} else if (status >= 400) {
		h->stats.responses_4xx++;
	} else {
		h->stats.responses_2xx++;
	}
}

static void shutdown_done(uv_shutdown_t *req, int status)
{
	(void)req;
	(void)status; /* the linger timer or the client's EOF ends the connection */
}

/* Closes after an answer the gentle way: send FIN, then read and discard
 * until the client closes or the linger time runs out. Closing at once with
 * unread input would make the kernel send a reset that can destroy the
 * answer before the client reads it. */
static void linger(struct sd_http__conn *c)
{
	c->lingering = true;
	c->rlen = 0;
	uint64_t ms = SL_MIN(c->h->cfg.request_timeout_ms, (uint64_t)LINGER_MS_MAX);
	c->sreq.data = c;
	if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, shutdown_done) != 0) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_timer, ms, 0);
	start_reading(c);
}

static void write_done(uv_write_t *req, int status)
{
	struct sd_http__conn *c = req->data;
	c->writing = false;
	sd_buf_reset(&c->resp.body);
	if (c->closing) {
		return;
	}
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (c->close_after_write) {
		linger(c);
		return;
	}
	arm_timer(c);
	start_reading(c);
	process(c);
}

/* Writes c->resp: head and body in one uv_write. head_only omits the body
 * (HEAD requests) but keeps its Content-Length. */
static void send_response(struct sd_http__conn *c, bool keep_alive, bool head_only)
{
	struct sd_http_response *r = &c->resp;
	if (r->body.err != 0) {
		sd_http_response_error(r, 500, "response too large or out of memory");
		r->headers_len = 0;
	}
	if (r->status < 200 || r->status > 599) {
		sd_http_response_error(r, 500, "handler set an invalid status");
	}
	bool no_body = r->status == 204 || r->status == 304;
	size_t body_len = no_body ? 0 : r->body.len;
	int n = snprintf(c->head, sizeof(c->head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: %s\r\n%.*s\r\n",
			 r->status, sd_http_reason(r->status), r->content_type, body_len,
			 keep_alive ? "keep-alive" : "close", (int)r->headers_len, r->headers);
	SL_ASSERT(n > 0 && (size_t)n < sizeof(c->head));
	count_status(c->h, r->status);
	uv_buf_t bufs[2] = {uv_buf_init(c->head, (unsigned)n), uv_buf_init(r->body.data, 0)};
	unsigned nbufs = 1;
	if (!head_only && body_len > 0) {
		bufs[1] = uv_buf_init(r->body.data, (unsigned)body_len);
		nbufs = 2;
	}
	c->close_after_write = !keep_alive;
	c->writing = true;
	c->wreq.data = c;
	uv_read_stop((uv_stream_t *)&c->tcp);
	arm_timer(c);
	int rv = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, nbufs, write_done);
	if (rv != 0) {
		c->writing = false;
		conn_close(c);
	}
}

static void reset_response(struct sd_http__conn *c)
{
	struct sd_http_response *r = &c->resp;
	r->status = 200;
	sd_http_response_type(r, "text/plain; charset=utf-8");
	r->headers_len = 0;
	r->headers[0] = '\0';
	sd_buf_reset(&r->body);
}

/* Answers a protocol error and closes after the write. */
static void send_error(struct sd_http__conn *c, int status, const char *why)
{
	c->h->stats.bad_requests++;
	reset_response(c);
	sd_http_response_error(&c->resp, status, why);
	send_response(c, false, false);
}

/* ---- requests ----------------------------------------------------------------- */

static void dispatch(struct sd_http__conn *c)
{
	struct sd_http *h = c->h;
	struct sd_http__parsed *p = &c->parsed;
	p->req.body = c->rbuf + p->head_len;
	h->stats.requests++;
	reset_response(c);
	char allow[256];
	int status;
	const struct sd_http__route *r =
	    sd_http__route_find(h, p->req.method, p->req.path, allow, sizeof(allow), &status);
	if (r != NULL) {
		r->fn(&p->req, &c->resp, r->data);
	} else if (status == 405) {
		sd_http_response_error(&c->resp, 405, "method not allowed for this path");
		sd_http_response_header(&c->resp, "Allow", allow);
	} else {
		sd_http_response_error(&c->resp, 404, "no such path");
	}
	bool head_only = strcmp(p->req.method, "HEAD") == 0;
	size_t used = p->head_len + p->req.body_len;
	memmove(c->rbuf, c->rbuf + used, c->rlen - used);
	c->rlen -= used;
	c->scanned = 0;
	c->head_done = false;
	/* The request's pointers die with the memmove; only the response lives on. */
	send_response(c, p->keep_alive && !h->closing, head_only);
}

/* Grows the read buffer to hold at least need bytes. */
static bool reserve(struct sd_http__conn *c, size_t need)
{
	if (need <= c->rcap) {
		return true;
	}
	char *p = sl_realloc(c->rbuf, need);
	if (p == NULL) {
		return false;
	}
	c->rbuf = p;
	c->rcap = need;
	return true;
}

/* Parses the head once it is complete; false if the request cannot go on. */
static bool take_head(struct sd_http__conn *c)
{
	struct sd_http_config *cfg = &c->h->cfg;
	size_t head_len = sd_http__head_end(c->rbuf, c->rlen, &c->scanned);
	if (head_len == 0 || head_len > cfg->header_bytes_max) {
		if (head_len > cfg->header_bytes_max || c->rlen >= cfg->header_bytes_max) {
			send_error(c, 431, "request head exceeds the header byte limit");
			return false;
		}
		return true; /* wait for more */
	}
	sd_http__parse_head(c->rbuf, head_len, &c->parsed);
	struct sd_http__parsed *p = &c->parsed;
	if (p->error_status != 0) {
		send_error(c, p->error_status, p->why);
		return false;
	}
	if (p->body_len > cfg->body_bytes_max) {
		send_error(c, 413, "request body exceeds the body byte limit");
		return false;
	}
	if (!reserve(c, head_len + p->body_len)) {
		send_error(c, 503, "out of memory");
		return false;
	}
	p->req.body_len = p->body_len;
	c->head_done = true;
	return true;
}

static void process(struct sd_http__conn *c)
{
	while (!c->writing && !c->closing && c->rlen > 0) {
		if (!c->head_done) {
			/* Empty lines before a request line are ignored (RFC 9112 2.2). */
			size_t skip = 0;
			while (skip < c->rlen && (c->rbuf[skip] == '\r' || c->rbuf[skip] == '\n')) {
				skip++;
			}
			memmove(c->rbuf, c->rbuf + skip, c->rlen - skip);
			c->rlen -= skip;
			if (c->rlen == 0 || !take_head(c) || !c->head_done) {
				return;
			}
		}
		if (c->rlen < c->parsed.head_len + c->parsed.body_len) {
			return; /* wait for the body */
		}
		dispatch(c);
	}
}

/* ---- reading and timers ---------------------------------------------------------- */

static void on_timer(uv_timer_t *t)
{
	struct sd_http__conn *c = t->data;
	if (c->lingering) {
		conn_close(c);
		return;
	}
	c->h->stats.timeouts++;
	if (c->rlen > 0 && !c->writing) {
		send_error(c, 408, "request not received in time");
		return;
	}
	conn_close(c);
}

/* (Re)starts the timer: the request timeout while a request or response is
 * under way, the idle timeout otherwise. */
static void arm_timer(struct sd_http__conn *c)
{
	const struct sd_http_config *cfg = &c->h->cfg;
	uint64_t ms = c->writing || c->rlen > 0 ? cfg->request_timeout_ms : cfg->idle_timeout_ms;
	uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct sd_http__conn *c = handle->data;
	const struct sd_http_config *cfg = &c->h->cfg;
	size_t limit = cfg->header_bytes_max + (c->head_done ? c->parsed.body_len : 0);
	limit = SL_MAX(limit, c->head_done ? c->parsed.head_len + c->parsed.body_len : 0);
	if (c->rlen == c->rcap && c->rcap < limit) {
		reserve(c, SL_MIN(limit, SL_MAX(c->rcap * 2, (size_t)READ_BUFFER_INITIAL)));
	}
	*buf = uv_buf_init(c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	struct sd_http__conn *c = stream->data;
	if (nread == 0 || c->closing) {
		return;
	}
	if (nread < 0) {
		/* EOF, a reset, or UV_ENOBUFS (buffer full with no request). */
		conn_close(c);
		return;
	}
	if (c->lingering) {
		return; /* discarded: on_alloc hands out the buffer start again */
	}
	bool was_empty = c->rlen == 0;
	c->rlen += (size_t)nread;
	if (was_empty) {
		arm_timer(c); /* the request timeout runs from the first byte */
	}
	process(c);
}

static void start_reading(struct sd_http__conn *c)
{
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
		conn_close(c);
	}
}

/* ---- accepting -------------------------------------------------------------------- */

static void rejected_closed(uv_handle_t *handle)
{
	sl_free(handle);
}

/* Accepts and immediately closes a connection over the limit. */
static void reject_connection(struct sd_http *h, uv_stream_t *server)
{
	h->stats.connections_rejected++;
	uv_tcp_t *t = sl_malloc(sizeof(*t));
	if (t == NULL || uv_tcp_init(h->loop, t) != 0) {
		sl_free(t);
		return;
	}
	(void)uv_accept(server, (uv_stream_t *)t);
	uv_close((uv_handle_t *)t, rejected_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct sd_http *h = server->data;
	if (status < 0 || h->closing) {
		return;
	}
	if (h->stats.connections_open >= h->cfg.connections_max) {
		reject_connection(h, server);
		return;
	}
	struct sd_http__conn *c = sl_calloc(1, sizeof(*c));
	if (c == NULL) {
		reject_connection(h, server);
		return;
	}
	c->h = h;
	sd_buf_init(&c->resp.body, h->cfg.response_bytes_max);
	/* Neither can fail: AF_UNSPEC TCP handles create no socket yet. */
	int rv = uv_tcp_init(h->loop, &c->tcp);
	SL_ASSERT(rv == 0);
	rv = uv_timer_init(h->loop, &c->timer);
	SL_ASSERT(rv == 0);
	c->tcp.data = c;
	c->timer.data = c;
	c->handles_open = 2;
	c->next = h->conns;
	if (h->conns != NULL) {
		h->conns->prev = c;
	}
	h->conns = c;
	h->stats.connections_open++;
	h->stats.connections_accepted++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || !reserve(c, READ_BUFFER_INITIAL)) {
		conn_close(c);
		return;
	}
	arm_timer(c);
	start_reading(c);
}

int sd_http_listen(struct sd_http *h, const char *host, uint16_t port)
{
	SL_ASSERT(h != NULL);
	if (h->closing || !h->listener_open || host == NULL) {
		return SD_HTTP_EINVAL;
	}
	struct sockaddr_storage ss;
	const char *ip = host[0] != '\0' ? host : "0.0.0.0";
	char what[200];
	snprintf(what, sizeof(what), "bind %.160s:%u", ip, (unsigned)port);
	int rv = strchr(ip, ':') != NULL ? uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&ss)
					 : uv_ip4_addr(ip, port, (struct sockaddr_in *)&ss);
	if (rv != 0) {
		return uv_fail(h, what, rv);
	}
	rv = uv_tcp_bind(&h->listener, (const struct sockaddr *)&ss, 0);
	if (rv == 0) {
		rv = uv_listen((uv_stream_t *)&h->listener, 128, on_connection);
	}
	return rv != 0 ? uv_fail(h, what, rv) : 0;
}

static void listener_closed(uv_handle_t *handle)
{
	struct sd_http *h = handle->data;
	h->listener_open = false;
	maybe_closed(h);
}

void sd_http_close(struct sd_http *h, sd_http_close_cb cb)
{
	SL_ASSERT(h != NULL && !h->closing);
	h->closing = true;
	h->close_cb = cb;
	for (struct sd_http__conn *c = h->conns; c != NULL; c = c->next) {
		conn_close(c);
	}
	uv_close((uv_handle_t *)&h->listener, listener_closed);
}
