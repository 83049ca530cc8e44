/* libFuzzer harness over a live Kafka listener connection: one libuv loop and
 * one sk_server for the whole run, tight bounds (3 requests in flight, 4 KiB
 * queued, 64 KiB frames) so pausing and resuming are exercised; each input
 * is written by a client on 127.0.0.1, which reads until it has every
 * answer the input calls for or the server closes (a missing answer is a
 * hang libFuzzer reports). Handlers answer now, later (timer), by drop or
 * with a raw response, chosen by correlation id. Property: the correlation
 * ids the client receives are a prefix of those the pure parser predicts
 * for the input (request order, drops left out). ASan/UBSan catch the rest.
 * Built by tests/fuzz/run.sh. */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/sl_common.h"
#include "proto/kafka_msgs.h"
#include "proto/kmsg.h"
#include "server/kafka_api.h"
#include "server/kafka_conn.h"

#define CONN_FRAME_MAX (64u << 10)
#define EXPECT_MAX     4096

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_conn: %s:%d: %s: ", __FILE__, __LINE__, #cond);      \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static uv_loop_t loop;
static struct sk_server *srv;
static uint16_t port;
static int timers_pending;

/* What the client of the current input saw. */
static struct {
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write;
	size_t nwant;
	bool closing;
	uint8_t *input;
	size_t input_len;
	uint8_t *rbuf;
	size_t rlen;
	size_t rcap;
	bool closed;
} cli;

/* How a handled request is completed, from its correlation id. */
enum how { HOW_NOW = 0, HOW_LATER, HOW_DROP, HOW_RAW };

static enum how how_of(int32_t corr)
{
	return (enum how)((uint32_t)corr % 4u);
}

/* ---- Server side ---------------------------------------------------------- */

struct later {
	uv_timer_t timer;
	struct sk_request *req;
};

static void on_later_closed(uv_handle_t *h)
{
	free(h->data);
	timers_pending--;
}

static void on_later(uv_timer_t *t)
{
	struct later *l = t->data;
	(void)sk_respond_error(l->req, 0);
	uv_close((uv_handle_t *)t, on_later_closed);
}

static void on_cancel(struct sk_request *req)
{
	(void)req; /* the timer still completes it */
}

static const char raw_body[] = "raw-body-bytes";

static void handler(void *ctx, struct sk_request *req)
{
	(void)ctx;
	switch (how_of(req->correlation_id)) {
	case HOW_NOW:
		(void)sk_respond_error(req, 0);
		break;
	case HOW_LATER: {
		struct later *l = calloc(1, sizeof(*l));
		CHECK(l != NULL, "out of memory");
		l->req = req;
		uv_timer_init(&loop, &l->timer);
		l->timer.data = l;
		timers_pending++;
		(void)sk_request_on_cancel(req, on_cancel);
		uv_timer_start(&l->timer, on_later, (uint64_t)((uint32_t)req->correlation_id % 3u),
			       0);
		break;
	}
	case HOW_DROP:
		sk_request_drop(req);
		break;
	case HOW_RAW: {
		struct sk_segment segs[2] = {sk_segment_mem(raw_body, sizeof(raw_body)),
					     sk_segment_mem(NULL, 0)};
		(void)sk_respond_raw(req, segs, 2, NULL, NULL);
		break;
	}
	}
}

static void start_server(void)
{
	struct sk_config cfg;
	sk_config_init(&cfg);
	cfg.request_bytes_max = CONN_FRAME_MAX;
	cfg.inflight_requests_max = 3;
	cfg.queued_bytes_max = 4096;
	cfg.idle_timeout_ms = 0;
	sl_log_min_level = SL_LOG_OFF;
	signal(SIGPIPE, SIG_IGN);
	CHECK(uv_loop_init(&loop) == 0, "loop");
	CHECK(sk_server_create(&loop, &cfg, &srv) == 0, "create");
	for (size_t i = 0; i < SK_API_RANGE_COUNT; i++) {
		if (sk_api_ranges[i].api_key != KMSG_API_API_VERSIONS) {
			CHECK(sk_server_set_handler(srv, sk_api_ranges[i].api_key, handler, NULL) ==
				  0,
			      "handler");
		}
	}
	/* One api left unregistered, so "no handler" answers are reachable. */
	sk_server_set_handler(srv, KMSG_API_DELETE_TOPICS, NULL, NULL);
	CHECK(sk_server_listen(srv, "127.0.0.1", 0) == 0, "listen: %s", sk_server_errmsg(srv));
	port = sk_server_port(srv);
}

/* ---- The expected answers --------------------------------------------------- */

/* Correlation ids of the answers the input calls for, in order, up to the
 * first frame the listener closes on or the end of the complete frames. */
static size_t expected(const uint8_t *in, size_t len, int32_t *out)
{
	size_t n = 0;
	size_t pos = 0;
	uint64_t mask = sk_server_api_mask(srv);
	while (len - pos >= 4 && n < EXPECT_MAX) {
		int64_t flen = sk_frame_length(in + pos, CONN_FRAME_MAX);
		if (flen < 0 || (size_t)flen > len - pos - 4) {
			break;
		}
		struct kmsg_arena a;
		struct sk_parsed p;
		kmsg_arena_init(&a, 0);
		enum sk_parse_outcome o =
		    sk_request_parse(in + pos + 4, (size_t)flen, mask, &a, &p);
		kmsg_arena_free(&a);
		if (o == SK_PARSE_CLOSE) {
			break;
		}
		bool handled =
		    o == SK_PARSE_OK && p.header.request_api_key != KMSG_API_API_VERSIONS;
		if (!handled || how_of(p.header.correlation_id) != HOW_DROP) {
			out[n++] = p.header.correlation_id;
		}
		pos += 4 + (size_t)flen;
	}
	return n;
}

/* ---- Client side ---------------------------------------------------------------- */

static void on_cli_closed(uv_handle_t *h)
{
	(void)h;
	cli.closed = true;
}

static void on_cli_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	if (cli.rcap - cli.rlen < suggested) {
		cli.rcap = cli.rlen + suggested;
		cli.rbuf = realloc(cli.rbuf, cli.rcap);
		CHECK(cli.rbuf != NULL, "out of memory");
	}
	*buf = uv_buf_init((char *)cli.rbuf + cli.rlen, (unsigned)(cli.rcap - cli.rlen));
}

static void cli_close(void)
{
	if (!cli.closing) {
		cli.closing = true;
		uv_close((uv_handle_t *)&cli.tcp, on_cli_closed);
	}
}

/* Complete response frames read so far. */
static size_t answers_read(void)
{
	size_t pos = 0;
	size_t n = 0;
	while (cli.rlen - pos >= 4) {
		int64_t len = sk_frame_length(cli.rbuf + pos, SK_REQUEST_BYTES_LIMIT);
		if (len < 0 || (size_t)len > cli.rlen - pos - 4) {
			break;
		}
		pos += 4 + (size_t)len;
		n++;
	}
	return n;
}

static void on_cli_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)s;
	(void)buf;
	if (nread < 0) {
		cli_close();
		return;
	}
	cli.rlen += (size_t)nread;
	if (answers_read() >= cli.nwant) {
		cli_close();
	}
}

static void on_cli_write(uv_write_t *req, int status)
{
	(void)req;
	if (status < 0 || cli.nwant == 0) {
		cli_close();
	}
}

static void on_cli_connect(uv_connect_t *req, int status)
{
	(void)req;
	CHECK(status == 0, "connect: %s", uv_strerror(status));
	uv_buf_t b = uv_buf_init((char *)cli.input, (unsigned)cli.input_len);
	uv_read_start((uv_stream_t *)&cli.tcp, on_cli_alloc, on_cli_read);
	uv_write(&cli.write, (uv_stream_t *)&cli.tcp, &b, 1, on_cli_write);
}

/* Checks the frames the client read against the expected ids. */
static void check_answers(const int32_t *want, size_t nwant)
{
	size_t pos = 0;
	size_t i = 0;
	while (cli.rlen - pos >= 4) {
		int64_t len = sk_frame_length(cli.rbuf + pos, SK_REQUEST_BYTES_LIMIT);
		CHECK(len >= 4, "bad response length");
		if ((size_t)len > cli.rlen - pos - 4) {
			break; /* cut short by the close */
		}
		const uint8_t *p = cli.rbuf + pos + 4;
		int32_t corr = (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
					 ((uint32_t)p[2] << 8) | p[3]);
		CHECK(i < nwant, "more answers than requests (%zu)", i);
		CHECK(corr == want[i], "answer %zu has correlation id %d, want %d", i, corr,
		      want[i]);
		i++;
		pos += 4 + (size_t)len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int32_t want[EXPECT_MAX];
	if (srv == NULL) {
		start_server();
	}
	if (size == 0) {
		return 0;
	}
	memset(&cli, 0, sizeof(cli));
	cli.input = malloc(size);
	CHECK(cli.input != NULL, "out of memory");
	memcpy(cli.input, data, size);
	cli.input_len = size;
	size_t nwant = expected(cli.input, size, want);
	cli.nwant = nwant;
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", port, &sa);
	uv_tcp_init(&loop, &cli.tcp);
	CHECK(uv_tcp_connect(&cli.connect, &cli.tcp, (const struct sockaddr *)&sa,
			     on_cli_connect) == 0,
	      "connect");
	struct sk_stats st;
	do {
		uv_run(&loop, UV_RUN_ONCE);
		sk_server_stats(srv, &st);
	} while (!cli.closed || st.connections_open > 0 || timers_pending > 0);
	check_answers(want, nwant);
	free(cli.input);
	free(cli.rbuf);
	return 0;
}
