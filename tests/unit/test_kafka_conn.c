/* Unit tests for the Kafka listener (server/kafka_conn): a real libuv loop
 * on 127.0.0.1:0 runs in a thread while the test thread plays a client with
 * blocking sockets: pipelining with out-of-order completion, drops,
 * ApiVersions v0-v4, unsupported requests, hostile frames, bounds, idle
 * connections, cancellation, unencodable and raw file responses. */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/sl_common.h"
#include "proto/kafka_msgs.h"
#include "proto/kmsg.h"
#include "server/kafka_api.h"
#include "server/kafka_conn.h"
#include "tests/unit/kafka_th.h"

#define WAIT_MS 10000

/* ---- Live server fixture ---------------------------------------------------- */

#define HELD_MAX 512

struct fx;
typedef void (*fx_fn)(struct fx *fx);

struct fx {
	uv_loop_t loop;
	struct sk_server *srv;
	uv_async_t async;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	fx_fn call;
	bool call_done;
	uint16_t port;
	/* Loop-thread state; the test thread reads it through fx_call() or
	 * after fx_stop(), or the atomics while running. */
	atomic_int dispatched;
	atomic_int held_now;
	atomic_int held_max;
	atomic_int cancels;
	atomic_int cancel_rc_closed; /* completions in cancel callbacks that gave SK_ECLOSED */
	atomic_int done_calls;
	atomic_int released; /* requests answered by release_all */
	atomic_int done_status;
	atomic_int observed[3]; /* by enum sk_outcome */
	struct sk_request *held[HELD_MAX];
	int nheld;
	int seq;
	bool peer_ok;
	bool client_id_ok;
	int respond_rc;
	/* Raw responses. */
	int file_fd;
	int64_t file_off;
	size_t file_len;
	bool server_closed;
	struct sk_stats stats;
};

static void on_async(uv_async_t *a)
{
	struct fx *fx = a->data;
	pthread_mutex_lock(&fx->mu);
	fx_fn fn = fx->call;
	pthread_mutex_unlock(&fx->mu);
	if (fn != NULL) {
		fn(fx);
	}
	pthread_mutex_lock(&fx->mu);
	fx->call = NULL;
	fx->call_done = true;
	pthread_cond_broadcast(&fx->cv);
	pthread_mutex_unlock(&fx->mu);
}

/* Runs fn on the loop thread and waits for it. */
static void fx_call(struct fx *fx, fx_fn fn)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&fx->mu);
	fx->call = fn;
	fx->call_done = false;
	pthread_mutex_unlock(&fx->mu);
	uv_async_send(&fx->async);
	pthread_mutex_lock(&fx->mu);
	while (!fx->call_done) {
		ck_assert_int_eq(pthread_cond_timedwait(&fx->cv, &fx->mu, &deadline), 0);
	}
	pthread_mutex_unlock(&fx->mu);
}

static void *fx_run(void *arg)
{
	struct fx *fx = arg;
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void on_observe(void *ctx, const struct sk_observation *obs)
{
	struct fx *fx = ctx;
	ck_assert_int_ge(obs->outcome, 0);
	ck_assert_int_le(obs->outcome, 2);
	ck_assert_uint_gt(obs->bytes_in, 4);
	atomic_fetch_add(&fx->observed[obs->outcome], 1);
}

static void fx_start(struct fx *fx, const struct sk_config *cfg, fx_fn setup)
{
	memset(fx, 0, sizeof(*fx));
	fx->file_fd = -1;
	signal(SIGPIPE, SIG_IGN); /* as the broker must: libuv writes with write(2) */
	ck_assert_int_eq(uv_loop_init(&fx->loop), 0);
	pthread_mutex_init(&fx->mu, NULL);
	pthread_cond_init(&fx->cv, NULL);
	ck_assert_int_eq(sk_server_create(&fx->loop, cfg, &fx->srv), 0);
	sk_server_set_observer(fx->srv, on_observe, fx);
	if (setup != NULL) {
		setup(fx);
	}
	ck_assert_int_eq(sk_server_listen(fx->srv, "127.0.0.1", 0), 0);
	fx->port = sk_server_port(fx->srv);
	ck_assert_uint_ne(fx->port, 0);
	ck_assert_int_eq(uv_async_init(&fx->loop, &fx->async, on_async), 0);
	fx->async.data = fx;
	ck_assert_int_eq(pthread_create(&fx->thread, NULL, fx_run, fx), 0);
}

static void on_server_closed(struct sk_server *srv, void *data)
{
	struct fx *fx = data;
	sk_server_stats(srv, &fx->stats);
	fx->server_closed = true;
}

static void do_close(struct fx *fx)
{
	sk_server_close(fx->srv, on_server_closed, fx);
	uv_close((uv_handle_t *)&fx->async, NULL);
}

/* Closes the server, waits for the loop to end and checks nothing leaked a
 * handle. */
static void fx_stop(struct fx *fx)
{
	fx_call(fx, do_close);
	ck_assert_int_eq(pthread_join(fx->thread, NULL), 0);
	ck_assert(fx->server_closed);
	ck_assert_int_eq(uv_loop_close(&fx->loop), 0);
	pthread_mutex_destroy(&fx->mu);
	pthread_cond_destroy(&fx->cv);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Waits until *v reaches at least want; false on timeout. */
static bool wait_atomic(atomic_int *v, int want)
{
	for (int waited = 0; waited < WAIT_MS; waited += 2) {
		if (atomic_load(v) >= want) {
			return true;
		}
		sleep_ms(2);
	}
	return false;
}

/* ---- Client side -------------------------------------------------------------- */

/* Connects a new socket to 127.0.0.1:port into *fd; returns connect's result. */
static int cli_try_connect(uint16_t port, int *fd)
{
	*fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(*fd, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return connect(*fd, (struct sockaddr *)&sa, sizeof(sa));
}

static int cli_connect(uint16_t port)
{
	int fd;
	ck_assert_int_eq(cli_try_connect(port, &fd), 0);
	struct timeval tv = {WAIT_MS / 1000, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void cli_send(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		ck_assert_int_gt(n, 0);
		p += n;
		len -= (size_t)n;
	}
}

/* Reads exactly len bytes; false on end of stream, error or timeout. */
static bool cli_read_exact(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads one response frame into r->frame (after the size prefix). */
static bool cli_read_frame(int fd, struct resp *r)
{
	uint8_t pre[4];
	memset(r, 0, sizeof(*r));
	if (!cli_read_exact(fd, pre, 4)) {
		return false;
	}
	int64_t len = sk_frame_length(pre, SK_REQUEST_BYTES_LIMIT);
	ck_assert_int_ge(len, 4);
	r->len = (size_t)len;
	r->frame = malloc(r->len);
	ck_assert_ptr_nonnull(r->frame);
	if (!cli_read_exact(fd, r->frame, r->len)) {
		free(r->frame);
		r->frame = NULL;
		return false;
	}
	return true;
}

/* Reads and decodes the next response as (key, ver). */
static void cli_expect(int fd, int16_t key, int16_t ver, struct resp *r)
{
	ck_assert_msg(cli_read_frame(fd, r), "no response for api %d v%d", key, ver);
	resp_decode(r, key, ver);
}

/* True if the server closed the connection without sending anything more. */
static bool cli_closed(int fd)
{
	uint8_t b;
	ssize_t n;
	do {
		n = recv(fd, &b, 1, 0);
	} while (n < 0 && errno == EINTR);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void cli_send_w(int fd, struct kmsg_writer *w)
{
	cli_send(fd, w->buf, w->len);
	kmsg_writer_reset(w);
}

/* ApiVersions v2 round trip on a fresh connection: the server still serves. */
static void check_serving(uint16_t port)
{
	struct kmsg_writer w;
	struct resp r;
	int fd = cli_connect(port);
	kmsg_writer_init(&w, 0);
	put_api_versions(&w, 2, 4242);
	cli_send_w(fd, &w);
	cli_expect(fd, KMSG_API_API_VERSIONS, 2, &r);
	ck_assert_int_eq(r.corr, 4242);
	ck_assert_int_eq(((struct kmsg_api_versions_response *)r.body)->error_code, 0);
	resp_free(&r);
	kmsg_writer_free(&w);
	close(fd);
}

/* ---- Handlers ------------------------------------------------------------------ */

struct delayed {
	uv_timer_t timer;
	struct fx *fx;
	struct sk_request *req;
	int seq;
};

static void on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Metadata answer: the request's topics echoed with error 0 and
 * controller_id = the dispatch sequence number. */
static void answer_metadata(struct fx *fx, struct sk_request *req, int seq)
{
	const struct kmsg_metadata_request *q = req->body;
	struct kmsg_metadata_response m;
	kmsg_metadata_response_init(&m);
	m.controller_id = seq;
	int32_t n = q->topics.null ? 0 : q->topics.count;
	struct kmsg_metadata_response_topic *ts =
	    n > 0 ? kmsg_arena_alloc(req->arena, (size_t)n * sizeof(*ts)) : NULL;
	for (int32_t i = 0; i < n; i++) {
		kmsg_metadata_response_topic_init(&ts[i]);
		ts[i].name = q->topics.items[i].name;
	}
	m.topics.items = ts;
	m.topics.count = n;
	fx->respond_rc = sk_respond(req, &m);
}

static void on_delay(uv_timer_t *t)
{
	struct delayed *d = t->data;
	answer_metadata(d->fx, d->req, d->seq);
	uv_close((uv_handle_t *)t, on_timer_closed);
}

/* Completes after (50 - seq) ms, so earlier requests finish later. */
static void h_metadata_delayed(void *ctx, struct sk_request *req)
{
	struct fx *fx = ctx;
	int seq = fx->seq++;
	atomic_fetch_add(&fx->dispatched, 1);
	fx->peer_ok = strncmp(req->peer, "127.0.0.1:", 10) == 0 && req->conn_id > 0;
	fx->client_id_ok = kmsg_str_eq(&req->client_id, "test");
	struct delayed *d = calloc(1, sizeof(*d));
	ck_assert_ptr_nonnull(d);
	d->fx = fx;
	d->req = req;
	d->seq = seq;
	uv_timer_init(&fx->loop, &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, on_delay, (uint64_t)(seq < 50 ? 50 - seq : 1), 0);
}

static void h_metadata_now(void *ctx, struct sk_request *req)
{
	struct fx *fx = ctx;
	atomic_fetch_add(&fx->dispatched, 1);
	answer_metadata(fx, req, fx->seq++);
}

/* acks=0 is dropped after a short delay; else base_offset 42 after none. */
static void on_drop_timer(uv_timer_t *t)
{
	struct delayed *d = t->data;
	sk_request_drop(d->req);
	uv_close((uv_handle_t *)t, on_timer_closed);
}

static void h_produce(void *ctx, struct sk_request *req)
{
	struct fx *fx = ctx;
	const struct kmsg_produce_request *q = req->body;
	atomic_fetch_add(&fx->dispatched, 1);
	if (q->acks == 0) {
		struct delayed *d = calloc(1, sizeof(*d));
		ck_assert_ptr_nonnull(d);
		d->req = req;
		uv_timer_init(&fx->loop, &d->timer);
		d->timer.data = d;
		uv_timer_start(&d->timer, on_drop_timer, 20, 0);
		return;
	}
	struct kmsg_produce_response r;
	int rc = sk_api_error_response(KMSG_API_PRODUCE, req->api_version, q, 0, req->arena, &r);
	ck_assert_int_eq(rc, 0);
	r.responses.items[0].partition_responses.items[0].base_offset = 42;
	ck_assert_int_eq(sk_respond(req, &r), 0);
}

static void on_cancel(struct sk_request *req)
{
	struct fx *fx = req->data;
	ck_assert(req->closed);
	atomic_fetch_add(&fx->cancels, 1);
	for (int i = 0; i < fx->nheld; i++) {
		if (fx->held[i] == req) {
			fx->held[i] = fx->held[--fx->nheld];
			atomic_store(&fx->held_now, fx->nheld);
			break;
		}
	}
	if (sk_respond_error(req, 0) == SK_ECLOSED) {
		atomic_fetch_add(&fx->cancel_rc_closed, 1);
	}
}

/* Holds the request (a long poll) until release_all or its cancellation. */
static void h_hold(void *ctx, struct sk_request *req)
{
	struct fx *fx = ctx;
	atomic_fetch_add(&fx->dispatched, 1);
	ck_assert_int_lt(fx->nheld, HELD_MAX);
	req->data = fx;
	ck_assert_int_eq(sk_request_on_cancel(req, on_cancel), 0);
	fx->held[fx->nheld++] = req;
	atomic_store(&fx->held_now, fx->nheld);
	if (fx->nheld > atomic_load(&fx->held_max)) {
		atomic_store(&fx->held_max, fx->nheld);
	}
}

/* Answers every held request, newest first (out of order on purpose). */
static void release_all(struct fx *fx)
{
	while (fx->nheld > 0) {
		struct sk_request *req = fx->held[--fx->nheld];
		if (req->api_key == KMSG_API_METADATA) {
			answer_metadata(fx, req, fx->seq++);
		} else {
			ck_assert_int_eq(sk_respond_error(req, 0), 0);
		}
		atomic_fetch_add(&fx->released, 1);
	}
	atomic_store(&fx->held_now, 0);
}

static void setup_basic(struct fx *fx)
{
	ck_assert_int_eq(sk_server_set_handler(fx->srv, KMSG_API_METADATA, h_metadata_delayed, fx),
			 0);
	ck_assert_int_eq(sk_server_set_handler(fx->srv, KMSG_API_PRODUCE, h_produce, fx), 0);
	ck_assert_int_eq(sk_server_set_handler(fx->srv, KMSG_API_FETCH, h_hold, fx), 0);
	ck_assert_int_eq(sk_server_set_handler(fx->srv, KMSG_API_API_VERSIONS, h_hold, fx),
			 SK_EINVAL);
	ck_assert_int_eq(sk_server_set_handler(fx->srv, 17, h_hold, fx), SK_EINVAL);
}

static void setup_hold_metadata(struct fx *fx)
{
	ck_assert_int_eq(sk_server_set_handler(fx->srv, KMSG_API_METADATA, h_hold, fx), 0);
	ck_assert_int_eq(sk_server_set_handler(fx->srv, KMSG_API_FETCH, h_hold, fx), 0);
}

/* ---- Live tests ------------------------------------------------------------------ */

/* ApiVersions v0, v1, v2 list exactly the registered apis plus ApiVersions;
 * v3 and v4 get the v0-format fallback; the connection stays usable. */
START_TEST(api_versions_live)
{
	struct fx fx;
	struct kmsg_writer w;
	struct resp r;
	fx_start(&fx, NULL, setup_basic);
	int fd = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	for (int16_t v = 0; v <= 4; v++) {
		put_api_versions(&w, v, 100 + v);
		cli_send_w(fd, &w);
		int16_t rv = v <= 2 ? v : 0;
		cli_expect(fd, KMSG_API_API_VERSIONS, rv, &r);
		const struct kmsg_api_versions_response *m = r.body;
		ck_assert_int_eq(r.corr, 100 + v);
		if (v <= 2) {
			ck_assert_int_eq(m->error_code, 0);
			ck_assert_int_eq(m->api_keys.count, 4);
			static const int16_t want[4][3] = {
			    {0, 0, 7}, {1, 4, 11}, {3, 0, 4}, {18, 0, 2}};
			for (int i = 0; i < 4; i++) {
				ck_assert_int_eq(m->api_keys.items[i].api_key, want[i][0]);
				ck_assert_int_eq(m->api_keys.items[i].min_version, want[i][1]);
				ck_assert_int_eq(m->api_keys.items[i].max_version, want[i][2]);
			}
		} else {
			ck_assert_int_eq(m->error_code, SK_KAFKA_UNSUPPORTED_VERSION);
			ck_assert_int_eq(m->api_keys.count, 1);
			ck_assert_int_eq(m->api_keys.items[0].api_key, 18);
			ck_assert_int_eq(m->api_keys.items[0].min_version, 0);
			ck_assert_int_eq(m->api_keys.items[0].max_version, 2);
			ck_assert_uint_eq(r.len, 16); /* header v0 + v0 body, nothing else */
		}
		resp_free(&r);
	}
	close(fd);
	kmsg_writer_free(&w);
	fx_stop(&fx);
	ck_assert_uint_eq(fx.stats.api[KMSG_API_API_VERSIONS].requests, 5);
	ck_assert_uint_eq(fx.stats.api[KMSG_API_API_VERSIONS].unsupported, 2);
	ck_assert_uint_eq(fx.stats.api[KMSG_API_API_VERSIONS].responses, 5);
}
END_TEST

/* 50 requests in one write; the handler finishes them in reverse order;
 * the responses come back in request order. */
START_TEST(pipelined_out_of_order)
{
	struct fx fx;
	struct kmsg_writer w;
	struct resp r;
	fx_start(&fx, NULL, setup_basic);
	int fd = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	for (int i = 0; i < 50; i++) {
		char topic[16];
		snprintf(topic, sizeof(topic), "t%d", i);
		put_metadata(&w, 1, 1000 + i, topic);
	}
	cli_send_w(fd, &w);
	for (int i = 0; i < 50; i++) {
		char topic[16];
		snprintf(topic, sizeof(topic), "t%d", i);
		cli_expect(fd, KMSG_API_METADATA, 1, &r);
		const struct kmsg_metadata_response *m = r.body;
		ck_assert_int_eq(r.corr, 1000 + i);
		ck_assert_int_eq(m->controller_id, i);
		ck_assert_int_eq(m->topics.count, 1);
		ck_assert(kmsg_str_eq(&m->topics.items[0].name, topic));
		resp_free(&r);
	}
	close(fd);
	kmsg_writer_free(&w);
	fx_stop(&fx);
	ck_assert(fx.peer_ok);
	ck_assert(fx.client_id_ok);
	ck_assert_int_eq(fx.respond_rc, 0);
	ck_assert_uint_eq(fx.stats.api[KMSG_API_METADATA].responses, 50);
	ck_assert_int_eq(atomic_load(&fx.observed[SK_OUTCOME_SENT]), 50);
}
END_TEST

/* Delayed Metadata, builtin ApiVersions, a dropped acks=0 Produce that
 * completes late, an acks=1 Produce: three responses, in order. */
START_TEST(drop_keeps_order)
{
	struct fx fx;
	struct kmsg_writer w;
	struct resp r;
	fx_start(&fx, NULL, setup_basic);
	int fd = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	put_metadata(&w, 1, 1, "a");
	put_produce(&w, 2, 0);
	put_api_versions(&w, 1, 3);
	put_produce(&w, 4, 0);
	put_produce(&w, 5, 1);
	cli_send_w(fd, &w);
	cli_expect(fd, KMSG_API_METADATA, 1, &r);
	ck_assert_int_eq(r.corr, 1);
	resp_free(&r);
	cli_expect(fd, KMSG_API_API_VERSIONS, 1, &r);
	ck_assert_int_eq(r.corr, 3);
	resp_free(&r);
	cli_expect(fd, KMSG_API_PRODUCE, 3, &r);
	ck_assert_int_eq(r.corr, 5);
	const struct kmsg_produce_response *p = r.body;
	ck_assert_int_eq(p->responses.items[0].partition_responses.items[0].base_offset, 42);
	resp_free(&r);
	close(fd);
	kmsg_writer_free(&w);
	fx_stop(&fx);
	ck_assert_uint_eq(fx.stats.api[KMSG_API_PRODUCE].dropped, 2);
	ck_assert_uint_eq(fx.stats.api[KMSG_API_PRODUCE].responses, 1);
	ck_assert_int_eq(atomic_load(&fx.observed[SK_OUTCOME_DROPPED]), 2);
}
END_TEST

/* Requests the server decodes but does not advertise get UNSUPPORTED_VERSION
 * and the connection stays open. */
START_TEST(unsupported_answered)
{
	struct fx fx;
	struct kmsg_writer w;
	struct resp r;
	fx_start(&fx, NULL, setup_basic);
	int fd = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	put_metadata(&w, 9, 1, "flex"); /* above our 0-4 */
	struct kmsg_delete_topics_request d;
	struct kmsg_str name = kmsg_str_make("gone");
	kmsg_delete_topics_request_init(&d);
	d.topic_names.items = &name;
	d.topic_names.count = 1;
	put_request(&w, KMSG_API_DELETE_TOPICS, 1, 2, &d); /* no handler */
	put_metadata(&w, 1, 3, "ok");
	cli_send_w(fd, &w);
	cli_expect(fd, KMSG_API_METADATA, 9, &r);
	ck_assert_int_eq(r.corr, 1);
	const struct kmsg_metadata_response *m = r.body;
	ck_assert_int_eq(m->topics.count, 1);
	ck_assert_int_eq(m->topics.items[0].error_code, SK_KAFKA_UNSUPPORTED_VERSION);
	resp_free(&r);
	cli_expect(fd, KMSG_API_DELETE_TOPICS, 1, &r);
	ck_assert_int_eq(r.corr, 2);
	const struct kmsg_delete_topics_response *dr = r.body;
	ck_assert_int_eq(dr->responses.count, 1);
	ck_assert(kmsg_str_eq(&dr->responses.items[0].name, "gone"));
	ck_assert_int_eq(dr->responses.items[0].error_code, SK_KAFKA_UNSUPPORTED_VERSION);
	resp_free(&r);
	cli_expect(fd, KMSG_API_METADATA, 1, &r);
	ck_assert_int_eq(r.corr, 3);
	resp_free(&r);
	close(fd);
	kmsg_writer_free(&w);
	fx_stop(&fx);
	ck_assert_uint_eq(fx.stats.api[KMSG_API_METADATA].unsupported, 1);
	ck_assert_uint_eq(fx.stats.api[KMSG_API_DELETE_TOPICS].unsupported, 1);
	ck_assert_uint_eq(fx.stats.protocol_errors, 0);
}
END_TEST

/* request_topics_max and request_partitions_max: a request naming more gets
 * INVALID_REQUEST in every part from the listener, its handler never runs,
 * and the connection goes on serving. */
START_TEST(request_extent_limits)
{
	struct fx fx;
	struct sk_config cfg;
	struct kmsg_writer w;
	struct resp r;
	sk_config_init(&cfg);
	cfg.request_topics_max = 2;
	cfg.request_partitions_max = 3;
	fx_start(&fx, &cfg, setup_basic);
	int fd = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	struct kmsg_metadata_request m;
	struct kmsg_metadata_request_topic ts[3];
	kmsg_metadata_request_init(&m);
	for (int i = 0; i < 3; i++) {
		kmsg_metadata_request_topic_init(&ts[i]);
		ts[i].name = kmsg_str_make(i == 0 ? "a" : i == 1 ? "b" : "c");
	}
	m.topics.items = ts;
	m.topics.count = 3;
	m.topics.null = false;
	put_request(&w, KMSG_API_METADATA, 1, 1, &m); /* 3 topics > 2 */
	m.topics.count = 2;
	put_request(&w, KMSG_API_METADATA, 1, 2, &m); /* at the limit */
	struct kmsg_produce_request p;
	struct kmsg_produce_request_topic_produce_data pt;
	struct kmsg_produce_request_partition_produce_data pp[4];
	kmsg_produce_request_init(&p);
	kmsg_produce_request_topic_produce_data_init(&pt);
	pt.name = kmsg_str_make("t");
	for (int i = 0; i < 4; i++) {
		kmsg_produce_request_partition_produce_data_init(&pp[i]);
		pp[i].index = i;
	}
	pt.partition_data.items = pp;
	pt.partition_data.count = 4;
	p.topic_data.items = &pt;
	p.topic_data.count = 1;
	p.acks = 1;
	put_request(&w, KMSG_API_PRODUCE, 3, 3, &p); /* 4 partitions > 3 */
	cli_send_w(fd, &w);
	cli_expect(fd, KMSG_API_METADATA, 1, &r);
	ck_assert_int_eq(r.corr, 1);
	const struct kmsg_metadata_response *mr = r.body;
	ck_assert_int_eq(mr->topics.count, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(mr->topics.items[i].error_code, SK_KAFKA_INVALID_REQUEST);
	}
	resp_free(&r);
	cli_expect(fd, KMSG_API_METADATA, 1, &r);
	ck_assert_int_eq(r.corr, 2);
	resp_free(&r);
	cli_expect(fd, KMSG_API_PRODUCE, 3, &r);
	ck_assert_int_eq(r.corr, 3);
	const struct kmsg_produce_response *pr = r.body;
	ck_assert_int_eq(pr->responses.count, 1);
	ck_assert_int_eq(pr->responses.items[0].partition_responses.count, 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pr->responses.items[0].partition_responses.items[i].error_code,
				 SK_KAFKA_INVALID_REQUEST);
	}
	resp_free(&r);
	ck_assert_int_eq(atomic_load(&fx.dispatched), 1); /* only the request at the limit */
	close(fd);
	kmsg_writer_free(&w);
	fx_stop(&fx);
	ck_assert_uint_eq(fx.stats.protocol_errors, 0);
}
END_TEST

static atomic_int drained_calls;

static void on_drained(struct sk_server *srv, void *data)
{
	struct fx *fx = data;
	ck_assert_ptr_eq(srv, fx->srv);
	atomic_fetch_add(&drained_calls, 1);
}

static void do_drain(struct fx *fx)
{
	sk_server_drain(fx->srv, on_drained, fx);
}

/* True if nothing accepts a connection on port any more. */
static bool refuses(uint16_t port)
{
	int fd;
	int rc = cli_try_connect(port, &fd);
	close(fd);
	return rc != 0;
}

/* sk_server_drain(): no new connections, an idle connection closes, a
 * connection with a pending request gets its answer and then closes, and
 * the drain callback runs once no connection is left. */
START_TEST(drain_answers_then_closes)
{
	struct fx fx;
	struct kmsg_writer w;
	struct resp r;
	atomic_store(&drained_calls, 0);
	fx_start(&fx, NULL, setup_hold_metadata);
	int busy = cli_connect(fx.port);
	int idle = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	put_api_versions(&w, 2, 5);
	cli_send_w(idle, &w); /* answered: the connection is accepted and owes nothing */
	cli_expect(idle, KMSG_API_API_VERSIONS, 2, &r);
	resp_free(&r);
	put_metadata(&w, 1, 7, "t");
	cli_send_w(busy, &w);
	ck_assert(wait_atomic(&fx.dispatched, 1));
	fx_call(&fx, do_drain);
	ck_assert(cli_closed(idle));
	ck_assert(refuses(fx.port));
	sleep_ms(50);
	ck_assert_int_eq(atomic_load(&drained_calls), 0); /* busy still owes an answer */
	fx_call(&fx, release_all);
	cli_expect(busy, KMSG_API_METADATA, 1, &r);
	ck_assert_int_eq(r.corr, 7);
	resp_free(&r);
	ck_assert(cli_closed(busy));
	ck_assert(wait_atomic(&drained_calls, 1));
	close(busy);
	close(idle);
	kmsg_writer_free(&w);
	fx_stop(&fx);
	ck_assert_int_eq(atomic_load(&drained_calls), 1);
	ck_assert_int_eq(atomic_load(&fx.observed[SK_OUTCOME_SENT]), 2);
}
END_TEST

/* sk_server_close() during a drain (the drain timeout) closes what is left:
 * the held request is cancelled and the drain callback never runs. */
START_TEST(drain_cut_short_by_close)
{
	struct fx fx;
	struct kmsg_writer w;
	atomic_store(&drained_calls, 0);
	fx_start(&fx, NULL, setup_hold_metadata);
	int fd = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	put_metadata(&w, 1, 1, "t");
	cli_send_w(fd, &w);
	ck_assert(wait_atomic(&fx.dispatched, 1));
	fx_call(&fx, do_drain);
	fx_stop(&fx);
	ck_assert(cli_closed(fd));
	ck_assert_int_eq(atomic_load(&fx.cancels), 1);
	ck_assert_int_eq(atomic_load(&drained_calls), 0);
	close(fd);
	kmsg_writer_free(&w);
}
END_TEST

struct hostile {
	const char *name;
	uint8_t bytes[64];
	size_t len;
};

/* Each frame is sent on its own connection after a valid request was
 * answered; the server closes that connection (answers still pending would be
 * discarded, as Kafka does), and a new connection is still served. */
START_TEST(hostile_frames_close)
{
	static const struct hostile cases[] = {
	    {"negative length", {0xff, 0xff, 0xff, 0xfe}, 4},
	    {"length above max", {0x00, 0x20, 0x00, 0x00, 0x00, 0x03}, 6},
	    {"zero length", {0, 0, 0, 0}, 4},
	    {"truncated header", {0, 0, 0, 3, 0x00, 0x03, 0x00}, 7},
	    {"unknown api key", {0, 0, 0, 10, 0x03, 0xe7, 0, 0, 0, 0, 0, 5, 0xff, 0xff}, 14},
	    {"version undefined",
	     {0, 0, 0, 10, 0x00, 0x03, 0x00, 0x63, 0, 0, 0, 5, 0xff, 0xff},
	     14},
	    {"huge array count",
	     {0, 0, 0, 14, 0x00, 0x03, 0x00, 0x01, 0, 0, 0, 5, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff},
	     18},
	    {"huge string length",
	     {0, 0, 0, 16, 0x00, 0x03, 0x00, 0x01, 0, 0, 0, 5, 0xff, 0xff, 0, 0, 0, 1, 0x7f, 0xff},
	     20},
	    {"trailing garbage",
	     {0, 0, 0, 15, 0x00, 0x03, 0x00, 0x01, 0, 0, 0, 5, 0xff, 0xff, 0, 0, 0, 0, 0xaa},
	     19},
	    {"garbage", {0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef, 0x12, 0x34, 0x56, 0x78}, 12},
	    {"header tags on flexible version",
	     {0, 0, 0, 12, 0x00, 0x03, 0x00, 0x09, 0, 0, 0, 5, 0xff, 0xff, 0x05, 0x01},
	     16},
	};
	struct fx fx;
	struct sk_config cfg;
	struct kmsg_writer w;
	struct resp r;
	sk_config_init(&cfg);
	cfg.request_bytes_max = 1u << 20;
	fx_start(&fx, &cfg, setup_basic);
	kmsg_writer_init(&w, 0);
	for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
		int fd = cli_connect(fx.port);
		put_metadata(&w, 1, 7, "before");
		cli_send_w(fd, &w);
		cli_expect(fd, KMSG_API_METADATA, 1, &r);
		ck_assert_int_eq(r.corr, 7);
		resp_free(&r);
		cli_send(fd, cases[i].bytes, cases[i].len);
		ck_assert_msg(cli_closed(fd), "%s: connection not closed", cases[i].name);
		close(fd);
		check_serving(fx.port);
	}
	/* End of stream in the middle of a frame. */
	int fd = cli_connect(fx.port);
	static const uint8_t partial[] = {0, 0, 1, 0, 0, 3, 0, 1};
	cli_send(fd, partial, sizeof(partial));
	shutdown(fd, SHUT_WR);
	ck_assert(cli_closed(fd));
	close(fd);
	check_serving(fx.port);
	kmsg_writer_free(&w);
	fx_stop(&fx);
	/* Every case but the EOF counts as a protocol error. */
	ck_assert_uint_eq(fx.stats.protocol_errors, SL_ARRAY_LEN(cases));
	ck_assert_uint_eq(fx.stats.connections_open, 0);
}
END_TEST

/* Releases held Metadata requests until n answers (correlation ids 0..n-1)
 * were read, in order. */
static void drain_held(struct fx *fx, int fd, int n)
{
	struct resp r;
	int got = 0;
	while (got < n) {
		fx_call(fx, release_all);
		int target = atomic_load(&fx->released);
		for (; got < target; got++) {
			cli_expect(fd, KMSG_API_METADATA, 1, &r);
			ck_assert_int_eq(r.corr, got);
			resp_free(&r);
		}
		if (got < n) {
			ck_assert(wait_atomic(&fx->dispatched, got + 1));
			sleep_ms(20);
		}
	}
}

/* At most inflight_requests_max requests reach handlers; the rest wait in
 * the socket until earlier ones are written. */
START_TEST(inflight_bound)
{
	struct fx fx;
	struct sk_config cfg;
	struct kmsg_writer w;
	sk_config_init(&cfg);
	cfg.inflight_requests_max = 4;
	fx_start(&fx, &cfg, setup_hold_metadata);
	int fd = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	for (int i = 0; i < 10; i++) {
		put_metadata(&w, 1, i, "t");
	}
	cli_send_w(fd, &w);
	ck_assert(wait_atomic(&fx.dispatched, 4));
	sleep_ms(100);
	ck_assert_int_eq(atomic_load(&fx.dispatched), 4);
	drain_held(&fx, fd, 10);
	ck_assert_int_le(atomic_load(&fx.held_max), 4);
	close(fd);
	kmsg_writer_free(&w);
	fx_stop(&fx);
	ck_assert_uint_ge(fx.stats.read_pauses, 1);
}
END_TEST

/* queued_bytes_max bounds the request bytes held per connection. */
START_TEST(queued_bytes_bound)
{
	struct fx fx;
	struct sk_config cfg;
	struct kmsg_writer w;
	char topic[1001];
	memset(topic, 'x', 1000);
	topic[1000] = '\0';
	sk_config_init(&cfg);
	cfg.queued_bytes_max = 3500;
	fx_start(&fx, &cfg, setup_hold_metadata);
	int fd = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	for (int i = 0; i < 8; i++) {
		put_metadata(&w, 1, i, topic); /* ~1020 bytes each */
	}
	cli_send_w(fd, &w);
	ck_assert(wait_atomic(&fx.dispatched, 3));
	sleep_ms(100);
	ck_assert_int_eq(atomic_load(&fx.dispatched), 3);
	drain_held(&fx, fd, 8);
	ck_assert_int_le(atomic_load(&fx.held_max), 3);
	close(fd);
	kmsg_writer_free(&w);
	fx_stop(&fx);
}
END_TEST

START_TEST(connections_bound)
{
	struct fx fx;
	struct sk_config cfg;
	sk_config_init(&cfg);
	cfg.connections_max = 2;
	fx_start(&fx, &cfg, setup_basic);
	int a = cli_connect(fx.port);
	int b = cli_connect(fx.port);
	struct kmsg_writer w;
	struct resp r;
	kmsg_writer_init(&w, 0);
	for (int i = 0; i < 2; i++) {
		int fd = i == 0 ? a : b;
		put_api_versions(&w, 0, i);
		cli_send_w(fd, &w);
		cli_expect(fd, KMSG_API_API_VERSIONS, 0, &r);
		resp_free(&r);
	}
	int c = cli_connect(fx.port);
	ck_assert(cli_closed(c));
	close(c);
	close(a);
	/* Once a's close is seen, there is room again. */
	bool served = false;
	for (int attempt = 0; attempt < 200 && !served; attempt++) {
		int d = cli_connect(fx.port);
		put_api_versions(&w, 0, 9);
		cli_send(d, w.buf, w.len);
		kmsg_writer_reset(&w);
		served = cli_read_frame(d, &r);
		if (served) {
			free(r.frame);
		}
		close(d);
		if (!served) {
			sleep_ms(10);
		}
	}
	ck_assert(served);
	close(b);
	kmsg_writer_free(&w);
	fx_stop(&fx);
	ck_assert_uint_ge(fx.stats.connections_rejected, 1);
}
END_TEST

/* A client that goes away while its long poll is held: the cancel callback
 * runs, the late answer is discarded, nothing leaks. */
START_TEST(cancel_on_client_close)
{
	struct fx fx;
	struct kmsg_writer w;
	fx_start(&fx, NULL, setup_basic);
	int fd = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	struct kmsg_fetch_request f;
	kmsg_fetch_request_init(&f);
	f.max_wait_ms = 60000;
	put_request(&w, KMSG_API_FETCH, 11, 1, &f);
	put_request(&w, KMSG_API_FETCH, 11, 2, &f);
	cli_send_w(fd, &w);
	ck_assert(wait_atomic(&fx.dispatched, 2));
	close(fd);
	ck_assert(wait_atomic(&fx.cancels, 2));
	ck_assert_int_eq(atomic_load(&fx.cancel_rc_closed), 2);
	check_serving(fx.port);
	kmsg_writer_free(&w);
	fx_stop(&fx);
	ck_assert_uint_eq(fx.stats.api[KMSG_API_FETCH].discarded, 2);
	/* check_serving's answer may count too: a write libuv completes after
	 * the peer's close is reported as cancelled. */
	ck_assert_int_ge(atomic_load(&fx.observed[SK_OUTCOME_DISCARDED]), 2);
}
END_TEST

/* Closing the server cancels held requests and waits for their answers. */
START_TEST(close_with_pending)
{
	struct fx fx;
	struct kmsg_writer w;
	fx_start(&fx, NULL, setup_basic);
	int fd = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	struct kmsg_fetch_request f;
	kmsg_fetch_request_init(&f);
	put_request(&w, KMSG_API_FETCH, 4, 1, &f);
	cli_send_w(fd, &w);
	ck_assert(wait_atomic(&fx.dispatched, 1));
	fx_stop(&fx);
	ck_assert_int_eq(atomic_load(&fx.cancels), 1);
	ck_assert(cli_closed(fd));
	close(fd);
	kmsg_writer_free(&w);
}
END_TEST

/* A response that cannot be encoded closes the connection. */
static void h_bad_metadata(void *ctx, struct sk_request *req)
{
	struct fx *fx = ctx;
	struct kmsg_metadata_response m;
	struct kmsg_metadata_response_topic t;
	kmsg_metadata_response_init(&m);
	kmsg_metadata_response_topic_init(&t);
	t.name = kmsg_str_null(); /* not nullable before v12 */
	m.topics.items = &t;
	m.topics.count = 1;
	fx->respond_rc = sk_respond(req, &m);
}

static void setup_bad(struct fx *fx)
{
	ck_assert_int_eq(sk_server_set_handler(fx->srv, KMSG_API_METADATA, h_bad_metadata, fx), 0);
}

START_TEST(unencodable_response_closes)
{
	struct fx fx;
	struct kmsg_writer w;
	fx_start(&fx, NULL, setup_bad);
	int fd = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	put_metadata(&w, 1, 1, "t");
	cli_send_w(fd, &w);
	ck_assert(cli_closed(fd));
	close(fd);
	kmsg_writer_free(&w);
	fx_stop(&fx);
	ck_assert_int_eq(fx.respond_rc, SK_EENCODE);
}
END_TEST

/* Idle connections are closed; one holding a long poll is not idle. */
START_TEST(idle_timeout)
{
	struct fx fx;
	struct sk_config cfg;
	struct kmsg_writer w;
	sk_config_init(&cfg);
	cfg.idle_timeout_ms = 100;
	fx_start(&fx, &cfg, setup_hold_metadata);
	int idle = cli_connect(fx.port);
	int busy = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	put_metadata(&w, 1, 0, "held");
	cli_send_w(busy, &w);
	ck_assert(wait_atomic(&fx.dispatched, 1));
	ck_assert(cli_closed(idle));
	close(idle);
	sleep_ms(300);
	drain_held(&fx, busy, 1);    /* still open: the answer arrives */
	ck_assert(cli_closed(busy)); /* and once it owes nothing, it idles out */
	close(busy);
	kmsg_writer_free(&w);
	fx_stop(&fx);
}
END_TEST

static void h_produce_size(void *ctx, struct sk_request *req)
{
	struct fx *fx = ctx;
	const struct kmsg_produce_request *q = req->body;
	const struct kmsg_bytes *rec = &q->topic_data.items[0].partition_data.items[0].records;
	struct kmsg_produce_response r;
	ck_assert_int_eq(
	    sk_api_error_response(KMSG_API_PRODUCE, req->api_version, q, 0, req->arena, &r), 0);
	/* base_offset carries the record bytes' length and a checksum. */
	uint32_t sum = 0;
	for (int32_t i = 0; i < rec->len; i++) {
		sum = sum * 31u + rec->ptr[i];
	}
	r.responses.items[0].partition_responses.items[0].base_offset =
	    ((int64_t)rec->len << 32) | sum;
	fx->respond_rc = sk_respond(req, &r);
}

static void setup_produce_size(struct fx *fx)
{
	ck_assert_int_eq(sk_server_set_handler(fx->srv, KMSG_API_PRODUCE, h_produce_size, fx), 0);
}

/* Frames far larger than the read buffer arrive intact (read straight into
 * a buffer that grows); a frame announced but never sent costs nothing
 * visible and ends with the connection. */
START_TEST(large_frames)
{
	struct fx fx;
	struct kmsg_writer w;
	struct resp r;
	size_t n = (size_t)3 << 20;
	uint8_t *rec = malloc(n);
	ck_assert_ptr_nonnull(rec);
	uint32_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		rec[i] = (uint8_t)(i * 7u + (i >> 9));
		sum = sum * 31u + rec[i];
	}
	fx_start(&fx, NULL, setup_produce_size);
	int fd = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	put_produce_n(&w, 1, 1, rec, n);
	put_produce_n(&w, 2, 1, rec, 100);
	cli_send_w(fd, &w);
	cli_expect(fd, KMSG_API_PRODUCE, 3, &r);
	const struct kmsg_produce_response *p = r.body;
	ck_assert_int_eq(r.corr, 1);
	ck_assert_int_eq(p->responses.items[0].partition_responses.items[0].base_offset,
			 ((int64_t)n << 32) | sum);
	resp_free(&r);
	cli_expect(fd, KMSG_API_PRODUCE, 3, &r);
	ck_assert_int_eq(r.corr, 2);
	resp_free(&r);
	/* 90 MiB announced, 1 KiB sent, then the client goes away. */
	static const uint8_t big[4] = {0x05, 0xa0, 0x00, 0x00};
	uint8_t some[1024] = {0};
	cli_send(fd, big, sizeof(big));
	cli_send(fd, some, sizeof(some));
	close(fd);
	check_serving(fx.port);
	kmsg_writer_free(&w);
	free(rec);
	fx_stop(&fx);
	ck_assert_int_eq(fx.respond_rc, 0);
}
END_TEST

/* ---- Raw responses with file segments --------------------------------------- */

static const char raw_head[] = "HEAD";
static const char raw_tail[] = "TAIL";

static void on_raw_done(void *data, int status)
{
	struct fx *fx = data;
	atomic_store(&fx->done_status, status);
	atomic_fetch_add(&fx->done_calls, 1);
}

static void h_raw(void *ctx, struct sk_request *req)
{
	struct fx *fx = ctx;
	atomic_fetch_add(&fx->dispatched, 1);
	struct sk_segment segs[4] = {
	    sk_segment_mem(raw_head, 4),
	    sk_segment_file(fx->file_fd, fx->file_off, fx->file_len),
	    sk_segment_mem(NULL, 0),
	    sk_segment_mem(raw_tail, 4),
	};
	fx->respond_rc = sk_respond_raw(req, segs, 4, on_raw_done, fx);
}

static void setup_raw(struct fx *fx)
{
	ck_assert_int_eq(sk_server_set_handler(fx->srv, KMSG_API_FETCH, h_raw, fx), 0);
	ck_assert_int_eq(sk_server_set_handler(fx->srv, KMSG_API_METADATA, h_metadata_now, fx), 0);
}

#define RAW_FILE_BYTES ((size_t)6 << 20)

/* A temporary file of RAW_FILE_BYTES pattern bytes; returns its fd. */
static int make_file(void)
{
	char path[] = "/tmp/sk_raw_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	uint8_t *buf = malloc(RAW_FILE_BYTES);
	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < RAW_FILE_BYTES; i++) {
		buf[i] = (uint8_t)(i * 131u + (i >> 12));
	}
	ck_assert_int_eq(pwrite(fd, buf, RAW_FILE_BYTES, 0), (ssize_t)RAW_FILE_BYTES);
	free(buf);
	return fd;
}

/* Fetch v4 (header v0 answer), then Metadata pipelined behind it: the raw
 * frame arrives intact (read late, so the socket fills and sendfile hits
 * EAGAIN), then the Metadata answer. */
static void raw_roundtrip(bool use_sendfile)
{
	struct fx fx;
	struct sk_config cfg;
	struct kmsg_writer w;
	struct resp r;
	sk_config_init(&cfg);
	cfg.sendfile = use_sendfile;
	cfg.file_chunk_bytes = 64 << 10;
	int file = make_file();
	fx_start(&fx, &cfg, setup_raw);
	fx.file_fd = file; /* read only on the loop thread, after the request below */
	fx.file_off = 1000;
	fx.file_len = RAW_FILE_BYTES - 2000;
	int fd = cli_connect(fx.port);
	int small = 64 << 10;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	kmsg_writer_init(&w, 0);
	struct kmsg_fetch_request f;
	kmsg_fetch_request_init(&f);
	put_request(&w, KMSG_API_FETCH, 4, 11, &f);
	put_metadata(&w, 1, 12, "after");
	cli_send_w(fd, &w);
	sleep_ms(200);
	ck_assert(cli_read_frame(fd, &r));
	ck_assert_uint_eq(r.len, 4 + 4 + fx.file_len + 4);
	ck_assert_int_eq(sk_frame_length(r.frame, SK_REQUEST_BYTES_LIMIT), 11);
	ck_assert_mem_eq(r.frame + 4, "HEAD", 4);
	ck_assert_mem_eq(r.frame + 8 + fx.file_len, "TAIL", 4);
	for (size_t i = 0; i < fx.file_len; i++) {
		size_t at = i + 1000;
		uint8_t want = (uint8_t)(at * 131u + (at >> 12));
		if (r.frame[8 + i] != want) {
			ck_abort_msg("byte %zu of the file range differs", i);
		}
	}
	free(r.frame);
	cli_expect(fd, KMSG_API_METADATA, 1, &r);
	ck_assert_int_eq(r.corr, 12);
	resp_free(&r);
	close(fd);
	kmsg_writer_free(&w);
	fx_stop(&fx);
	close(file);
	ck_assert_int_eq(fx.respond_rc, 0);
	ck_assert_int_eq(atomic_load(&fx.done_calls), 1);
	ck_assert_int_eq(atomic_load(&fx.done_status), 0);
	ck_assert_uint_eq(fx.stats.sendfile_bytes + fx.stats.file_read_bytes,
			  RAW_FILE_BYTES - 2000);
	if (use_sendfile) {
		ck_assert_uint_gt(fx.stats.sendfile_bytes, 0);
	} else {
		ck_assert_uint_eq(fx.stats.sendfile_bytes, 0);
	}
	ck_assert_uint_eq(fx.stats.api[KMSG_API_FETCH].bytes_out, 4 + 4 + 4 + fx.file_len + 4);
}

START_TEST(raw_file_sendfile)
{
	raw_roundtrip(true);
}
END_TEST

START_TEST(raw_file_pread)
{
	raw_roundtrip(false);
}
END_TEST

/* A file range past the end of the file closes the connection; the done
 * callback reports SK_ECLOSED. */
START_TEST(raw_file_short)
{
	struct fx fx;
	struct kmsg_writer w;
	int file = make_file();
	fx_start(&fx, NULL, setup_raw);
	fx.file_fd = file;
	fx.file_off = (int64_t)RAW_FILE_BYTES - 10;
	fx.file_len = 100;
	int fd = cli_connect(fx.port);
	kmsg_writer_init(&w, 0);
	struct kmsg_fetch_request f;
	kmsg_fetch_request_init(&f);
	put_request(&w, KMSG_API_FETCH, 4, 11, &f);
	cli_send_w(fd, &w);
	uint8_t buf[256];
	size_t total = 0;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			break;
		}
		total += (size_t)n;
	}
	ck_assert_uint_lt(total, 4 + 4 + 4 + 100 + 4);
	close(fd);
	ck_assert(wait_atomic(&fx.done_calls, 1));
	kmsg_writer_free(&w);
	fx_stop(&fx);
	close(file);
	ck_assert_int_eq(atomic_load(&fx.done_status), SK_ECLOSED);
}
END_TEST

Suite *kafka_conn_suite(void)
{
	Suite *s = suite_create("kafka_conn");
	TCase *tc;
	tc = tcase_create("live");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, api_versions_live);
	tcase_add_test(tc, pipelined_out_of_order);
	tcase_add_test(tc, drop_keeps_order);
	tcase_add_test(tc, unsupported_answered);
	tcase_add_test(tc, request_extent_limits);
	tcase_add_test(tc, drain_answers_then_closes);
	tcase_add_test(tc, drain_cut_short_by_close);
	tcase_add_test(tc, hostile_frames_close);
	tcase_add_test(tc, inflight_bound);
	tcase_add_test(tc, queued_bytes_bound);
	tcase_add_test(tc, connections_bound);
	tcase_add_test(tc, cancel_on_client_close);
	tcase_add_test(tc, close_with_pending);
	tcase_add_test(tc, unencodable_response_closes);
	tcase_add_test(tc, idle_timeout);
	tcase_add_test(tc, large_frames);
	tcase_add_test(tc, raw_file_sendfile);
	tcase_add_test(tc, raw_file_pread);
	tcase_add_test(tc, raw_file_short);
	suite_add_tcase(s, tc);
	return s;
}
