/* Unit tests for server/http: a real libuv loop serving on 127.0.0.1 (port 0)
 * in a background thread, driven by blocking client sockets from the test
 * thread: routing, keep-alive and pipelining, HEAD, error answers for bad
 * and over-limit requests, timeouts, the connection limit, random garbage,
 * and clean shutdown (uv_loop_close() succeeds). Also the query-string and
 * response helpers. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/sl_common.h"
#include "server/http.h"
#include "server/json.h"
#include "server/metrics.h"

/* ---- server fixture ------------------------------------------------------ */

struct server {
	uv_loop_t loop;
	struct sd_http h;
	uv_async_t stop;
	pthread_t thread;
	uint16_t port;
	struct sd_metrics *metrics;
	bool closed;
};

static void on_metrics(const struct sd_http_request *req, struct sd_http_response *resp, void *data)
{
	(void)req;
	struct server *s = data;
	sd_http_response_type(resp, SD_METRICS_CONTENT_TYPE);
	if (sd_metrics_render(s->metrics, &resp->body) != 0) {
		sd_http_response_error(resp, 500, "render failed");
	}
}

static void on_status(const struct sd_http_request *req, struct sd_http_response *resp, void *data)
{
	(void)req;
	struct server *s = data;
	struct sd_json j;
	sd_http_response_type(resp, "application/json");
	sd_json_init(&j, &resp->body);
	sd_json_object_begin(&j);
	sd_json_kv_str(&j, "state", "running");
	sd_json_kv_uint(&j, "requests", s->h.stats.requests);
	sd_json_kv_uint(&j, "rejected", s->h.stats.connections_rejected);
	sd_json_kv_uint(&j, "bad", s->h.stats.bad_requests);
	sd_json_kv_uint(&j, "timeouts", s->h.stats.timeouts);
	sd_json_kv_int(&j, "open", s->h.stats.connections_open);
	sd_json_object_end(&j);
	ck_assert_int_eq(sd_json_finish(&j), 0);
}

static void on_echo(const struct sd_http_request *req, struct sd_http_response *resp, void *data)
{
	(void)data;
	char q[64];
	int n = sd_http_query_get(req->query, "q", q, sizeof(q));
	sd_http_response_type(resp, "application/octet-stream");
	ck_assert_int_eq(sd_http_response_header(resp, "X-Query", n >= 0 ? q : "-"), 0);
	ck_assert_int_eq(sd_http_response_header(resp, "X-Path", req->path), 0);
	const char *ua = sd_http_request_header(req, "user-agent");
	ck_assert_int_eq(sd_http_response_header(resp, "X-UA", ua != NULL ? ua : "-"), 0);
	sd_buf_append(&resp->body, req->body, req->body_len);
}

static void on_big(const struct sd_http_request *req, struct sd_http_response *resp, void *data)
{
	(void)data;
	char v[32];
	long n = sd_http_query_get(req->query, "n", v, sizeof(v)) > 0 ? atol(v) : 0;
	for (long i = 0; i < n; i++) {
		sd_buf_append(&resp->body, "x", 1);
	}
}

static void on_bad_status(const struct sd_http_request *req, struct sd_http_response *resp,
			  void *data)
{
	(void)req;
	(void)data;
	resp->status = 99;
}

static void on_no_content(const struct sd_http_request *req, struct sd_http_response *resp,
			  void *data)
{
	(void)req;
	(void)data;
	resp->status = 204;
	sd_buf_puts(&resp->body, "dropped");
}

static void *run_loop(void *arg)
{
	struct server *s = arg;
	uv_run(&s->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void server_closed(struct sd_http *h)
{
	struct server *s = h->data;
	s->closed = true;
}

static void on_stop(uv_async_t *a)
{
	struct server *s = a->data;
	sd_http_close(&s->h, server_closed);
	uv_close((uv_handle_t *)a, NULL);
}

static void server_start(struct server *s, const struct sd_http_config *cfg)
{
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(uv_loop_init(&s->loop), 0);
	ck_assert_int_eq(sd_metrics_new(&s->metrics), 0);
	struct sd_metric *f;
	ck_assert_int_eq(sd_metrics_register(s->metrics,
					     &(struct sd_metric_desc){
						 .name = "stretchlog_test_requests_total",
						 .help = "Test counter.",
						 .type = SD_METRIC_COUNTER,
						 .label_names = (const char *[]){"api"},
						 .n_labels = 1,
					     },
					     &f),
			 0);
	sd_counter_add(sd_metric_series(f, (const char *[]){"Produce"}), 5);
	ck_assert_int_eq(sd_http_init(&s->h, &s->loop, cfg), 0);
	s->h.data = s;
	ck_assert_int_eq(sd_http_route(&s->h, "GET", "/metrics", on_metrics, s), 0);
	ck_assert_int_eq(sd_http_route(&s->h, "GET", "/v1/status", on_status, s), 0);
	ck_assert_int_eq(sd_http_route(&s->h, "POST", "/echo", on_echo, s), 0);
	ck_assert_int_eq(sd_http_route(&s->h, "GET", "/big", on_big, s), 0);
	ck_assert_int_eq(sd_http_route(&s->h, "GET", "/bad-status", on_bad_status, s), 0);
	ck_assert_int_eq(sd_http_route(&s->h, "DELETE", "/v1/nothing", on_no_content, s), 0);
	ck_assert_int_eq(sd_http_listen(&s->h, "127.0.0.1", 0), 0);
	s->port = sd_http_port(&s->h);
	ck_assert_uint_ne(s->port, 0);
	ck_assert_int_eq(uv_async_init(&s->loop, &s->stop, on_stop), 0);
	s->stop.data = s;
	ck_assert_int_eq(pthread_create(&s->thread, NULL, run_loop, s), 0);
}

static void server_stop(struct server *s)
{
	uv_async_send(&s->stop);
	pthread_join(s->thread, NULL);
	ck_assert(s->closed);
	ck_assert_int_eq(uv_loop_close(&s->loop), 0);
	sd_metrics_free(s->metrics);
}

/* ---- client helpers -------------------------------------------------------- */

static int connect_to(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n <= 0) {
			return; /* the server may have closed on us: the caller checks */
		}
		data += n;
		len -= (size_t)n;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/* A response as read from a socket. */
struct resp {
	int status;
	char head[4096];
	char *body;
	size_t body_len;
};

/* Reads one response (head, then Content-Length bytes unless head_only).
 * Returns false on EOF or timeout before a complete head. */
static bool read_response(int fd, struct resp *r, bool head_only)
{
	memset(r, 0, sizeof(*r));
	size_t n = 0;
	char *end = NULL;
	while (end == NULL) {
		if (n == sizeof(r->head) - 1) {
			return false;
		}
		ssize_t k = recv(fd, r->head + n, 1, 0); /* byte by byte: never over-read */
		if (k <= 0) {
			return false;
		}
		n += (size_t)k;
		r->head[n] = '\0';
		end = strstr(r->head, "\r\n\r\n");
	}
	ck_assert_int_eq(sscanf(r->head, "HTTP/1.1 %d", &r->status), 1);
	const char *cl = strcasestr(r->head, "\r\nContent-Length: ");
	ck_assert_ptr_nonnull(cl);
	size_t len = (size_t)atol(cl + 18);
	r->body = calloc(1, len + 1);
	if (head_only) {
		return true;
	}
	while (r->body_len < len) {
		ssize_t k = recv(fd, r->body + r->body_len, len - r->body_len, 0);
		ck_assert_int_gt(k, 0);
		r->body_len += (size_t)k;
	}
	return true;
}

static void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

/* Returns true if the server closes the connection (EOF or reset) within the
 * receive timeout, discarding anything still sent. */
static bool closed_by_server(int fd)
{
	char buf[4096];
	for (;;) {
		ssize_t k = recv(fd, buf, sizeof(buf), 0);
		if (k == 0) {
			return true;
		}
		if (k < 0) {
			return errno == ECONNRESET;
		}
	}
}

/* Sends one request on a new connection and reads the answer. */
static int request_status(uint16_t port, const char *req, bool expect_close)
{
	int fd = connect_to(port);
	send_str(fd, req);
	struct resp r;
	ck_assert_msg(read_response(fd, &r, false), "no answer to %s", req);
	if (expect_close) {
		ck_assert_ptr_nonnull(strstr(r.head, "Connection: close\r\n"));
		ck_assert(closed_by_server(fd));
	}
	resp_free(&r);
	close(fd);
	return r.status;
}

/* Returns a numeric field of /v1/status, asked on a new connection. */
static uint64_t status_field(uint16_t port, const char *name)
{
	int fd = connect_to(port);
	send_str(fd, "GET /v1/status HTTP/1.1\r\nConnection: close\r\n\r\n");
	struct resp r;
	ck_assert(read_response(fd, &r, false));
	close(fd);
	char key[64];
	snprintf(key, sizeof(key), "\"%s\":", name);
	const char *p = strstr(r.body, key);
	ck_assert_msg(p != NULL, "%s lacks %s", r.body, name);
	uint64_t v = strtoull(p + strlen(key), NULL, 10);
	resp_free(&r);
	return v;
}

/* ---- tests ---------------------------------------------------------------------- */

START_TEST(serves_metrics_and_status)
{
	struct server s;
	server_start(&s, NULL);
	int fd = connect_to(s.port);
	send_str(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	struct resp r;
	ck_assert(read_response(fd, &r, false));
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.head, "Content-Type: text/plain; version=0.0.4"));
	ck_assert_ptr_nonnull(strstr(r.head, "Connection: keep-alive\r\n"));
	ck_assert_ptr_nonnull(
	    strstr(r.body, "stretchlog_test_requests_total{api=\"Produce\"} 5\n"));
	resp_free(&r);
	send_str(fd, "GET /v1/status HTTP/1.1\r\n\r\n");
	ck_assert(read_response(fd, &r, false));
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.head, "Content-Type: application/json\r\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "{\"state\":\"running\",\"requests\":2,"));
	resp_free(&r);
	close(fd);
	server_stop(&s);
}
END_TEST

START_TEST(keep_alive_pipelining_and_head)
{
	struct server s;
	server_start(&s, NULL);
	int fd = connect_to(s.port);
	/* Three requests in one write, with a blank line between two of them;
	 * HEAD must not send a body, so the next response follows directly. */
	send_str(fd,
		 "HEAD /metrics HTTP/1.1\r\n\r\n\r\n"
		 "POST /echo?q=a%20b+c HTTP/1.1\r\nContent-Length: 5\r\nUser-Agent: t\r\n\r\nhello"
		 "GET /v1/status/sub HTTP/1.1\r\n\r\n");
	struct resp r;
	ck_assert(read_response(fd, &r, true));
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_null(strstr(r.head, "Content-Length: 0\r\n"));
	resp_free(&r);
	ck_assert(read_response(fd, &r, false));
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "hello");
	ck_assert_ptr_nonnull(strstr(r.head, "X-Query: a b c\r\n"));
	ck_assert_ptr_nonnull(strstr(r.head, "X-Path: /echo\r\n"));
	ck_assert_ptr_nonnull(strstr(r.head, "X-UA: t\r\n"));
	resp_free(&r);
	ck_assert(read_response(fd, &r, false));
	ck_assert_int_eq(r.status, 200); /* /v1/status matches /v1/status/sub */
	resp_free(&r);
	/* A body arriving in pieces. */
	send_str(fd, "POST /echo HTTP/1.1\r\nContent-Len");
	usleep(20000);
	send_str(fd, "gth: 6\r\n\r\nab");
	usleep(20000);
	send_str(fd, "cdef");
	ck_assert(read_response(fd, &r, false));
	ck_assert_str_eq(r.body, "abcdef");
	resp_free(&r);
	/* Connection: close is honoured. */
	send_str(fd, "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
	ck_assert(read_response(fd, &r, false));
	ck_assert_ptr_nonnull(strstr(r.head, "Connection: close\r\n"));
	ck_assert(closed_by_server(fd));
	resp_free(&r);
	close(fd);
	/* HTTP/1.0 closes unless asked to keep alive. */
	fd = connect_to(s.port);
	send_str(fd, "GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	ck_assert(read_response(fd, &r, false));
	ck_assert_ptr_nonnull(strstr(r.head, "Connection: keep-alive\r\n"));
	resp_free(&r);
	send_str(fd, "GET /metrics HTTP/1.0\r\n\r\n");
	ck_assert(read_response(fd, &r, false));
	ck_assert_ptr_nonnull(strstr(r.head, "Connection: close\r\n"));
	ck_assert(closed_by_server(fd));
	resp_free(&r);
	close(fd);
	server_stop(&s);
}
END_TEST

START_TEST(routing_answers)
{
	struct server s;
	server_start(&s, NULL);
	int fd = connect_to(s.port);
	struct resp r;
	send_str(fd, "GET /nope HTTP/1.1\r\n\r\n");
	ck_assert(read_response(fd, &r, false));
	ck_assert_int_eq(r.status, 404);
	resp_free(&r);
	send_str(fd, "GET /metricsx HTTP/1.1\r\n\r\n");
	ck_assert(read_response(fd, &r, false));
	ck_assert_int_eq(r.status, 404);
	resp_free(&r);
	send_str(fd, "POST /v1/status HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	ck_assert(read_response(fd, &r, false));
	ck_assert_int_eq(r.status, 405);
	ck_assert_ptr_nonnull(strstr(r.head, "Allow: GET, HEAD\r\n"));
	resp_free(&r);
	send_str(fd, "get /metrics HTTP/1.1\r\n\r\n"); /* methods are case-sensitive */
	ck_assert(read_response(fd, &r, false));
	ck_assert_int_eq(r.status, 405);
	resp_free(&r);
	send_str(fd, "GET /bad-status HTTP/1.1\r\n\r\n");
	ck_assert(read_response(fd, &r, false));
	ck_assert_int_eq(r.status, 500);
	resp_free(&r);
	send_str(fd, "DELETE /v1/nothing HTTP/1.1\r\n\r\n");
	ck_assert(read_response(fd, &r, false));
	ck_assert_int_eq(r.status, 204);
	ck_assert_ptr_nonnull(strstr(r.head, "Content-Length: 0\r\n"));
	resp_free(&r);
	/* Still alive after all of these. */
	send_str(fd, "GET /metrics HTTP/1.1\r\n\r\n");
	ck_assert(read_response(fd, &r, false));
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	close(fd);
	server_stop(&s);
}
END_TEST

struct bad_case {
	const char *req;
	int status;
};

static const struct bad_case bad_cases[] = {
    {"garbage\r\n\r\n", 400},
    {"GET\r\n\r\n", 400},
    {"GET /metrics\r\n\r\n", 400},
    {"GET  /metrics HTTP/1.1\r\n\r\n", 400},
    {"GET /metrics HTTP/1.1 x\r\n\r\n", 400},
    {"GET metrics HTTP/1.1\r\n\r\n", 400},
    {"GET http://h/metrics HTTP/1.1\r\n\r\n", 400},
    {"GET * HTTP/1.1\r\n\r\n", 400},
    {"GET /metrics HTTP/2.0\r\n\r\n", 505},
    {"GET /metrics HTTP/1.2\r\n\r\n", 505},
    {"GET /metrics HTTQ/1.1\r\n\r\n", 400},
    {"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", 400},
    {"GET /metrics HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400},
    {"GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},
    {"GET /metrics HTTP/1.1\r\n: x\r\n\r\n", 400},
    {"GET /metrics HTTP/1.1\r\nA: b\rc\r\n\r\n", 400},
    {"GET /metrics HTTP/1.1\r\nA: \x01\r\n\r\n", 400},
    {"POST /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
    {"POST /echo HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400},
    {"POST /echo HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", 400},
    {"POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
    {"POST /echo HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
    {"POST /echo HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n", 413},
    {"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501},
    {"GET /met\x01rics HTTP/1.1\r\n\r\n", 400},
    {"VERYLONGMETHODNAMEXX /metrics HTTP/1.1\r\n\r\n", 400},
};

START_TEST(bad_requests_get_errors_and_close)
{
	struct server s;
	server_start(&s, NULL);
	const struct bad_case *bc = &bad_cases[_i];
	int status = request_status(s.port, bc->req, true);
	ck_assert_msg(status == bc->status, "'%s': %d, want %d", bc->req, status, bc->status);
	/* A NUL byte inside a header line. */
	int fd = connect_to(s.port);
	send_all(fd, "GET /metrics HTTP/1.1\r\nA: \0b\r\n\r\n", 32);
	struct resp r;
	ck_assert(read_response(fd, &r, false));
	ck_assert_int_eq(r.status, 400);
	resp_free(&r);
	close(fd);
	/* The server still serves. */
	ck_assert_int_eq(request_status(s.port, "GET /metrics HTTP/1.1\r\n\r\n", false), 200);
	server_stop(&s);
}
END_TEST

START_TEST(size_limits)
{
	struct server s;
	struct sd_http_config cfg;
	sd_http_config_init(&cfg);
	cfg.header_bytes_max = 1024;
	cfg.body_bytes_max = 100;
	cfg.response_bytes_max = 1000;
	server_start(&s, &cfg);
	char req[8192];
	/* A head over the limit, whether or not it is complete. */
	int n = snprintf(req, sizeof(req), "GET /metrics HTTP/1.1\r\nX: ");
	memset(req + n, 'a', 2000);
	snprintf(req + n + 2000, sizeof(req) - (size_t)n - 2000, "\r\n\r\n");
	ck_assert_int_eq(request_status(s.port, req, true), 431);
	req[n + 1500] = '\0';
	ck_assert_int_eq(request_status(s.port, req, true), 431);
	/* Too many headers. */
	n = snprintf(req, sizeof(req), "GET /metrics HTTP/1.1\r\n");
	for (int i = 0; i < SD_HTTP_HEADERS_MAX + 1; i++) {
		n += snprintf(req + n, sizeof(req) - (size_t)n, "H%d: v\r\n", i % 10);
	}
	snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
	cfg.header_bytes_max = 8192;
	ck_assert_int_eq(request_status(s.port, req, true), 431);
	/* A body over the limit, and one exactly at it. */
	ck_assert_int_eq(
	    request_status(s.port, "POST /echo HTTP/1.1\r\nContent-Length: 101\r\n\r\n", true),
	    413);
	n = snprintf(req, sizeof(req), "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n");
	memset(req + n, 'b', 100);
	req[n + 100] = '\0';
	ck_assert_int_eq(request_status(s.port, req, false), 200);
	/* A response over its limit becomes a 500. */
	ck_assert_int_eq(request_status(s.port, "GET /big?n=1000 HTTP/1.1\r\n\r\n", false), 200);
	ck_assert_int_eq(request_status(s.port, "GET /big?n=1001 HTTP/1.1\r\n\r\n", false), 500);
	server_stop(&s);
}
END_TEST

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(timeouts)
{
	struct server s;
	struct sd_http_config cfg;
	sd_http_config_init(&cfg);
	cfg.request_timeout_ms = 200;
	cfg.idle_timeout_ms = 300;
	server_start(&s, &cfg);
	/* A partial request gets 408 and a close. */
	int fd = connect_to(s.port);
	send_str(fd, "GET /metrics HTTP/1.1\r\n");
	struct resp r;
	ck_assert(read_response(fd, &r, false));
	ck_assert_int_eq(r.status, 408);
	ck_assert(closed_by_server(fd));
	resp_free(&r);
	close(fd);
	/* An idle connection is closed silently, after a request too. */
	fd = connect_to(s.port);
	double t0 = now_s();
	ck_assert(closed_by_server(fd));
	ck_assert(now_s() - t0 >= 0.25);
	close(fd);
	fd = connect_to(s.port);
	send_str(fd, "GET /metrics HTTP/1.1\r\n\r\n");
	ck_assert(read_response(fd, &r, false));
	resp_free(&r);
	ck_assert(closed_by_server(fd));
	close(fd);
	/* A client that sends requests but never reads big answers is cut off
	 * when a write does not finish in time: the server's timeout count goes
	 * up by one and only the status connection stays open. (Reading what the
	 * kernel still delivers through a tiny window would take long: the
	 * check looks at the server's side.) */
	uint64_t before = status_field(s.port, "timeouts");
	fd = connect_to(s.port);
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	for (int i = 0; i < 40; i++) {
		send_str(fd, "GET /big?n=1000000 HTTP/1.1\r\n\r\n");
	}
	usleep(600000);
	ck_assert_uint_eq(status_field(s.port, "timeouts"), before + 1);
	ck_assert_uint_eq(status_field(s.port, "open"), 1);
	close(fd);
	ck_assert_int_eq(request_status(s.port, "GET /metrics HTTP/1.1\r\n\r\n", false), 200);
	server_stop(&s);
}
END_TEST

START_TEST(connection_limit)
{
	struct server s;
	struct sd_http_config cfg;
	sd_http_config_init(&cfg);
	cfg.connections_max = 2;
	server_start(&s, &cfg);
	int a = connect_to(s.port);
	int b = connect_to(s.port);
	/* Make sure both are accepted before the third arrives. */
	struct resp r;
	send_str(a, "GET /metrics HTTP/1.1\r\n\r\n");
	ck_assert(read_response(a, &r, false));
	resp_free(&r);
	send_str(b, "GET /metrics HTTP/1.1\r\n\r\n");
	ck_assert(read_response(b, &r, false));
	resp_free(&r);
	int c = connect_to(s.port);
	ck_assert(closed_by_server(c));
	close(c);
	send_str(a, "GET /v1/status HTTP/1.1\r\n\r\n");
	ck_assert(read_response(a, &r, false));
	ck_assert_ptr_nonnull(strstr(r.body, "\"rejected\":1,"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"open\":2}"));
	resp_free(&r);
	close(a);
	close(b);
	usleep(50000);
	ck_assert_int_eq(request_status(s.port, "GET /metrics HTTP/1.1\r\n\r\n", false), 200);
	server_stop(&s);
}
END_TEST

START_TEST(random_garbage_never_crashes)
{
	struct server s;
	struct sd_http_config cfg;
	sd_http_config_init(&cfg);
	cfg.request_timeout_ms = 100;
	cfg.idle_timeout_ms = 50;
	server_start(&s, &cfg);
	static const char *const pieces[] = {
	    "GET ",
	    "POST ",
	    "/metrics",
	    "/echo",
	    " HTTP/1.1",
	    " HTTP/1.0",
	    "\r\n",
	    "\n",
	    "\r",
	    "Content-Length: ",
	    "12",
	    "999999",
	    "Connection: close",
	    ": ",
	    "\0",
	    "?q=%",
	    "%zz",
	    "Transfer-Encoding: x",
	    "\t",
	    " ",
	    "\xff\xfe",
	    "HEAD ",
	    "/v1/status",
	};
	uint64_t x = 0x243F6A8885A308D3ULL;
	for (int iter = 0; iter < 200; iter++) {
		int fd = connect_to(s.port);
		char buf[2048];
		size_t n = 0;
		for (;;) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			const char *p = pieces[x % SL_ARRAY_LEN(pieces)];
			size_t len = p[0] == '\0' ? 1 : strlen(p);
			if (x % 11 == 0) {
				p = (const char *)&x; /* raw random bytes */
				len = sizeof(x);
			}
			if (n + len > sizeof(buf) || x % 37 == 0) {
				break;
			}
			memcpy(buf + n, p, len);
			n += len;
		}
		send_all(fd, buf, n);
		if (iter % 2 == 0) {
			shutdown(fd, SHUT_WR);
		}
		closed_by_server(fd); /* answers, timeouts or closes: all fine */
		close(fd);
	}
	ck_assert_int_eq(request_status(s.port, "GET /metrics HTTP/1.1\r\n\r\n", false), 200);
	server_stop(&s);
}
END_TEST

START_TEST(close_with_open_connections)
{
	struct server s;
	server_start(&s, NULL);
	int a = connect_to(s.port);
	int b = connect_to(s.port);
	send_str(b, "GET /metr"); /* a partial request */
	struct resp r;
	send_str(a, "GET /metrics HTTP/1.1\r\n\r\n");
	ck_assert(read_response(a, &r, false));
	resp_free(&r);
	server_stop(&s); /* uv_loop_close() succeeding means nothing leaked */
	ck_assert(closed_by_server(a));
	ck_assert(closed_by_server(b));
	close(a);
	close(b);
}
END_TEST

START_TEST(init_and_route_errors)
{
	uv_loop_t loop;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	struct sd_http h;
	struct sd_http_config cfg;
	sd_http_config_init(&cfg);
	cfg.connections_max = 0;
	ck_assert_int_eq(sd_http_init(&h, &loop, &cfg), SD_HTTP_EINVAL);
	ck_assert_int_eq(sd_http_init(&h, &loop, NULL), 0);
	ck_assert_int_eq(sd_http_route(&h, "GET", "metrics", on_big, NULL), SD_HTTP_EINVAL);
	ck_assert_int_eq(sd_http_route(&h, "GET", "/x", NULL, NULL), SD_HTTP_EINVAL);
	ck_assert_int_eq(sd_http_route(&h, "AVERYLONGMETHODNAME", "/x", on_big, NULL),
			 SD_HTTP_ETOOBIG);
	for (int i = 0; i < SD_HTTP_ROUTES_MAX; i++) {
		ck_assert_int_eq(sd_http_route(&h, "GET", "/r", on_big, NULL), 0);
	}
	ck_assert_int_eq(sd_http_route(&h, "GET", "/r", on_big, NULL), SD_HTTP_ELIMIT);
	ck_assert_int_eq(sd_http_listen(&h, "not-an-ip", 0), SD_HTTP_EUV);
	ck_assert_ptr_nonnull(strstr(sd_http_errmsg(&h), "bind not-an-ip:0"));
	ck_assert_uint_eq(sd_http_port(&h), 0);
	/* A port already in use. */
	struct sd_http other;
	ck_assert_int_eq(sd_http_init(&other, &loop, NULL), 0);
	ck_assert_int_eq(sd_http_listen(&other, "127.0.0.1", 0), 0);
	int rv = sd_http_listen(&h, "127.0.0.1", sd_http_port(&other));
	ck_assert_int_eq(rv, SD_HTTP_EUV);
	ck_assert_ptr_nonnull(strstr(sd_http_errmsg(&h), "address already in use"));
	sd_http_close(&h, NULL);
	sd_http_close(&other, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_str_eq(sd_http_err_name(SD_HTTP_ELIMIT), "SD_HTTP_ELIMIT");
	ck_assert_str_eq(sd_http_strerror(SD_HTTP_ENOENT), "no such query parameter");
}
END_TEST

START_TEST(query_strings)
{
	char v[16];
	ck_assert_int_eq(sd_http_query_get("a=1&b=x%20y+z&c", "b", v, sizeof(v)), 5);
	ck_assert_str_eq(v, "x y z");
	ck_assert_int_eq(sd_http_query_get("a=1&b=2&c", "c", v, sizeof(v)), 0);
	ck_assert_str_eq(v, "");
	ck_assert_int_eq(sd_http_query_get("a=1&a=2", "a", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "1");
	ck_assert_int_eq(sd_http_query_get("t%6Fpic=orders", "topic", v, sizeof(v)), 6);
	ck_assert_int_eq(sd_http_query_get("", "a", v, sizeof(v)), SD_HTTP_ENOENT);
	ck_assert_int_eq(sd_http_query_get("ab=1", "a", v, sizeof(v)), SD_HTTP_ENOENT);
	ck_assert_int_eq(sd_http_query_get("a=%", "a", v, sizeof(v)), SD_HTTP_ESYNTAX);
	ck_assert_int_eq(sd_http_query_get("a=%4", "a", v, sizeof(v)), SD_HTTP_ESYNTAX);
	ck_assert_int_eq(sd_http_query_get("a=%zz", "a", v, sizeof(v)), SD_HTTP_ESYNTAX);
	ck_assert_int_eq(sd_http_query_get("a=%00", "a", v, sizeof(v)), SD_HTTP_ESYNTAX);
	ck_assert_int_eq(sd_http_query_get("a=0123456789abcdef", "a", v, sizeof(v)),
			 SD_HTTP_ETOOBIG);
	ck_assert_int_eq(sd_http_query_get("&&a=1&", "a", v, sizeof(v)), 1);
}
END_TEST

START_TEST(response_helpers)
{
	struct sd_http_response r;
	memset(&r, 0, sizeof(r));
	sd_buf_init(&r.body, 1000);
	ck_assert_int_eq(sd_http_response_header(&r, "X-A", "1"), 0);
	ck_assert_int_eq(sd_http_response_header(&r, "Bad Name", "1"), SD_HTTP_EINVAL);
	ck_assert_int_eq(sd_http_response_header(&r, "X-B", "a\r\nInjected: 1"), SD_HTTP_EINVAL);
	ck_assert_str_eq(r.headers, "X-A: 1\r\n");
	char big[SD_HTTP_RESPONSE_HEADER_BYTES_MAX];
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(sd_http_response_header(&r, "X-C", big), SD_HTTP_ETOOBIG);
	sd_http_response_type(&r, "text/html\r\nX-Evil: 1");
	ck_assert_ptr_null(strchr(r.content_type, '\r'));
	sd_http_response_error(&r, 404, "gone");
	ck_assert_int_eq(r.status, 404);
	ck_assert_str_eq(r.body.data, "404 Not Found: gone\n");
	ck_assert_str_eq(sd_http_reason(413), "Content Too Large");
	ck_assert_str_eq(sd_http_reason(299), "Unknown");
	sd_buf_free(&r.body);
}
END_TEST

Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("server");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, serves_metrics_and_status);
	tcase_add_test(tc, keep_alive_pipelining_and_head);
	tcase_add_test(tc, routing_answers);
	tcase_add_loop_test(tc, bad_requests_get_errors_and_close, 0, (int)SL_ARRAY_LEN(bad_cases));
	tcase_add_test(tc, size_limits);
	tcase_add_test(tc, timeouts);
	tcase_add_test(tc, connection_limit);
	tcase_add_test(tc, random_garbage_never_crashes);
	tcase_add_test(tc, close_with_open_connections);
	tcase_add_test(tc, init_and_route_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("helpers");
	tcase_add_test(tc, query_strings);
	tcase_add_test(tc, response_helpers);
	suite_add_tcase(s, tc);
	return s;
}
