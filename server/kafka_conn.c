/* Kafka listener: connections, framing, dispatch, ordered response writes
 * (libuv glue around the pure parser in kafka_api.c; see kafka_conn.h).
 *
 * The happy path: on_read() appends to the connection's small read buffer;
 * process_input() cuts frames, allocating each one only after its length
 * passed request_bytes_max and the connection's bounds; a frame larger than
 * what is buffered is then read straight into its own allocation, which
 * grows to what the socket holds (FIONREAD), at least doubling. dispatch()
 * parses it into a request appended to the connection's FIFO and calls the
 * handler. Completions only mark the request and queue the connection for
 * work; on_prepare(), which libuv runs just before it blocks for I/O,
 * resumes paused input and flushes: completed responses at the FIFO head go
 * out in one uv_write (file segments by sendfile or pread chunks), and each
 * request is finished (observer, done callback, free) once its last byte is
 * handed to the socket.
 *
 * Failure modes: a protocol error, read error, write error or end of stream
 * calls close_conn(), which marks every request closed and closes the
 * handle; on_conn_closed() fires cancel callbacks and finishes completed
 * responses as discarded. A request completed after that is freed at once.
 * The connection is freed when its handle is closed and its FIFO is empty;
 * the server when every connection, the listener and the prepare handle
 * are. */
#include "server/kafka_conn.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "common/sl_common.h"

/* Per-connection read buffer: many small frames per read; bigger frames are
 * read straight into their own allocation. */
#define RBUF_BYTES ((size_t)16 << 10)
/* First allocation for a frame longer than what is buffered; it doubles as
 * bytes arrive, so a length prefix alone does not cost its length. */
#define FRAME_GROW_MIN_BYTES ((size_t)64 << 10)
/* Most buffers gathered into one uv_write. */
#define WRITE_BUFS_MAX 64

enum req_state { REQ_PENDING = 0, REQ_DONE, REQ_DROPPED };

struct conn;

struct request {
	struct sk_request pub; /* first: handlers hold &pub */
	struct conn *conn;
	struct request *prev;
	struct request *next;
	enum req_state state;
	bool builtin;
	bool cancel_fired;
	sk_cancel_fn cancel_cb;
	uint8_t *frame; /* owned; NULL once released */
	struct kmsg_arena arena;
	uint64_t held_bytes; /* counted in conn->queued_bytes */
	/* The response: segs[0..nsegs), written in order. */
	struct sk_segment *segs;
	size_t nsegs;
	struct sk_segment seg_inline;
	uint8_t *owned;	    /* encoded response (sk_respond), owned */
	uint8_t prefix[16]; /* raw: size prefix and response header */
	sk_done_fn done;
	void *done_data;
	uint64_t bytes_out;
};

struct conn {
	uv_tcp_t tcp;
	struct sk_server *srv;
	struct conn *prev; /* server's connection list */
	struct conn *next;
	struct conn *work_next;
	bool work_queued;
	uint64_t id;
	char peer[64];
	/* Input. */
	uint8_t *rbuf; /* RBUF_BYTES */
	size_t rlen;
	uint8_t *frame; /* a frame being read straight from the socket */
	uint32_t frame_len;
	uint32_t frame_fill;
	uint32_t frame_cap; /* bytes allocated at frame, <= frame_len */
	uint64_t last_active_ns;
	bool reading;
	bool paused;
	/* Requests in arrival order. */
	struct request *head;
	struct request *tail;
	uint32_t inflight;
	uint64_t queued_bytes;
	/* Output: the cursor is (head, wr_seg, wr_off). */
	size_t wr_seg;
	size_t wr_off;
	bool write_busy;
	bool wr_is_chunk;
	uint32_t wr_done_count; /* requests the in-flight write completes */
	size_t wr_end_seg;	/* cursor after it, in the next request */
	size_t wr_end_off;
	size_t wr_chunk_len;
	uv_write_t wreq;
	uv_buf_t bufs[WRITE_BUFS_MAX];
	uint8_t *chunk; /* file_chunk_bytes, allocated on first use */
	bool no_sendfile;
	/* Lifecycle. */
	bool closing;
	bool handle_closed;
	int guard; /* > 0 while iterating callbacks: do not free */
};

struct handler {
	sk_handler_fn fn;
	void *ctx;
};

struct sk_server {
	uv_loop_t *loop;
	struct sk_config cfg;
	uv_tcp_t listener;
	bool listening;
	bool listener_closed;
	bool listener_closing;
	uv_prepare_t prepare;
	bool prepare_closing;
	uv_timer_t idle_timer;
	bool idle_closed;
	struct handler handlers[SK_API_KEY_LIMIT];
	uint64_t mask;
	sk_observe_fn observe;
	void *observe_ctx;
	struct conn *conns;
	uint32_t n_conns;
	struct conn *work_head;
	struct conn *work_tail;
	uint64_t next_conn_id;
	bool closing;
	sk_close_cb close_cb;
	void *close_data;
	bool draining; /* sk_server_drain(): no reads, close when nothing is owed */
	sk_close_cb drain_cb;
	void *drain_data;
	struct sk_stats stats;
	char errmsg[256];
};

static void maybe_drained(struct sk_server *srv);

/* ---- Errors and configuration ------------------------------------------ */

const char *sk_strerror(int rv)
{
#define SK_ERR_TEXT(name, value, text)                                                             \
	if (rv == (value)) {                                                                       \
		return text;                                                                       \
	}
	SK_ERRORS(SK_ERR_TEXT)
#undef SK_ERR_TEXT
	return "unknown error";
}

const char *sk_err_name(int rv)
{
#define SK_ERR_NAME(name, value, text)                                                             \
	if (rv == (value)) {                                                                       \
		return #name;                                                                      \
	}
	SK_ERRORS(SK_ERR_NAME)
#undef SK_ERR_NAME
	return "SK_UNKNOWN";
}

void sk_config_init(struct sk_config *c)
{
	c->request_bytes_max = SK_REQUEST_BYTES_MAX_DEFAULT;
	c->inflight_requests_max = SK_INFLIGHT_REQUESTS_MAX_DEFAULT;
	c->queued_bytes_max = SK_QUEUED_BYTES_MAX_DEFAULT;
	c->connections_max = SK_CONNECTIONS_MAX_DEFAULT;
	c->arena_bytes_max = SK_ARENA_BYTES_MAX_DEFAULT;
	c->response_bytes_max = SK_RESPONSE_BYTES_MAX_DEFAULT;
	c->file_chunk_bytes = SK_FILE_CHUNK_BYTES_DEFAULT;
	c->sendfile = true;
	c->listen_backlog = SK_LISTEN_BACKLOG_DEFAULT;
	c->idle_timeout_ms = SK_IDLE_TIMEOUT_MS_DEFAULT;
	c->request_topics_max = SK_REQUEST_TOPICS_MAX_DEFAULT;
	c->request_partitions_max = SK_REQUEST_PARTITIONS_MAX_DEFAULT;
}

static const char *config_problem(const struct sk_config *c)
{
	if (c->request_bytes_max == 0 || c->request_bytes_max > SK_REQUEST_BYTES_LIMIT) {
		return "request_bytes_max must be 1..2147483647";
	}
	if (c->inflight_requests_max == 0) {
		return "inflight_requests_max must be at least 1";
	}
	if (c->queued_bytes_max == 0) {
		return "queued_bytes_max must be at least 1";
	}
	if (c->connections_max == 0) {
		return "connections_max must be at least 1";
	}
	if (c->arena_bytes_max == 0) {
		return "arena_bytes_max must be at least 1";
	}
	if (c->response_bytes_max < 64 || c->response_bytes_max > (size_t)INT32_MAX) {
		return "response_bytes_max must be 64..2147483647";
	}
	if (c->file_chunk_bytes < 4096 || c->file_chunk_bytes > (64u << 20)) {
		return "file_chunk_bytes must be 4096..67108864";
	}
	if (c->listen_backlog < 1) {
		return "listen_backlog must be at least 1";
	}
	return NULL;
}

/* ---- Small helpers ------------------------------------------------------ */

static struct request *req_of(struct sk_request *pub)
{
	return (struct request *)pub; /* pub is the first member */
}

static void schedule_work(struct conn *c)
{
	struct sk_server *srv = c->srv;
	if (c->work_queued || c->closing) {
		return;
	}
	c->work_queued = true;
	c->work_next = NULL;
	if (srv->work_tail != NULL) {
		srv->work_tail->work_next = c;
	} else {
		srv->work_head = c;
	}
	srv->work_tail = c;
}

static void unschedule_work(struct conn *c)
{
	struct sk_server *srv = c->srv;
	struct conn *prev = NULL;
	if (!c->work_queued) {
		return;
	}
	for (struct conn *x = srv->work_head; x != NULL; prev = x, x = x->work_next) {
		if (x != c) {
			continue;
		}
		if (prev != NULL) {
			prev->work_next = x->work_next;
		} else {
			srv->work_head = x->work_next;
		}
		if (srv->work_tail == x) {
			srv->work_tail = prev;
		}
		break;
	}
	c->work_queued = false;
}

static void fifo_append(struct conn *c, struct request *r)
{
	r->prev = c->tail;
	r->next = NULL;
	if (c->tail != NULL) {
		c->tail->next = r;
	} else {
		c->head = r;
	}
	c->tail = r;
	c->inflight++;
}

static void fifo_unlink(struct conn *c, struct request *r)
{
	if (r->prev != NULL) {
		r->prev->next = r->next;
	} else {
		c->head = r->next;
	}
	if (r->next != NULL) {
		r->next->prev = r->prev;
	} else {
		c->tail = r->prev;
	}
	r->prev = r->next = NULL;
	SL_ASSERT(c->inflight > 0);
	c->inflight--;
}

static void hold_bytes(struct conn *c, struct request *r, uint64_t n)
{
	c->queued_bytes += n;
	r->held_bytes += n;
}

/* Frees the request frame and arena; the caller must not need them. */
static void release_frame(struct request *r)
{
	struct conn *c = r->conn;
	if (r->frame != NULL) {
		sl_free(r->frame);
		r->frame = NULL;
		SL_ASSERT(c->queued_bytes >= r->pub.frame_bytes &&
			  r->held_bytes >= r->pub.frame_bytes);
		c->queued_bytes -= r->pub.frame_bytes;
		r->held_bytes -= r->pub.frame_bytes;
	}
	kmsg_arena_free(&r->arena);
	r->pub.body = NULL;
	r->pub.client_id = kmsg_str_null();
}

static void request_free(struct request *r)
{
	struct conn *c = r->conn;
	release_frame(r);
	SL_ASSERT(c->queued_bytes >= r->held_bytes);
	c->queued_bytes -= r->held_bytes;
	r->held_bytes = 0;
	sl_free(r->owned);
	if (r->segs != &r->seg_inline) {
		sl_free(r->segs);
	}
	sl_free(r);
}

static void maybe_finish_server(struct sk_server *srv);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_free(struct conn *c)
{
	struct sk_server *srv = c->srv;
	unschedule_work(c);
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else {
		srv->conns = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	SL_ASSERT(srv->n_conns > 0);
	srv->n_conns--;
	srv->stats.connections_open = srv->n_conns;
	sl_free(c->frame);
	sl_free(c->rbuf);
	sl_free(c->chunk);
	sl_free(c);
	maybe_drained(srv);
	maybe_finish_server(srv);
}

static void maybe_free_conn(struct conn *c)
{
	if (c->handle_closed && c->head == NULL && c->guard == 0) {
		conn_free(c);
	}
}

/* ---- Finishing requests -------------------------------------------------- */

/* Unlinks r, reports it and frees it. status goes to a raw done callback. */
static void finish_request(struct request *r, enum sk_outcome outcome, int status)
{
	struct conn *c = r->conn;
	struct sk_server *srv = c->srv;
	int16_t key = r->pub.api_key;
	fifo_unlink(c, r);
	if (key >= 0 && key < SK_API_KEY_LIMIT) {
		struct sk_api_stats *st = &srv->stats.api[key];
		st->responses += outcome == SK_OUTCOME_SENT ? 1 : 0;
		st->dropped += outcome == SK_OUTCOME_DROPPED ? 1 : 0;
		st->discarded += outcome == SK_OUTCOME_DISCARDED ? 1 : 0;
		st->bytes_out += outcome == SK_OUTCOME_SENT ? r->bytes_out : 0;
	}
	c->guard++;
	if (r->done != NULL) {
		r->done(r->done_data, status);
	}
	if (srv->observe != NULL) {
		struct sk_observation obs = {
		    .api_key = key,
		    .api_version = r->pub.api_version,
		    .conn_id = c->id,
		    .outcome = outcome,
		    .builtin = r->builtin,
		    .duration_ns = sl_now_mono_ns() - r->pub.received_ns,
		    .bytes_in = (uint64_t)r->pub.frame_bytes + 4,
		    .bytes_out = outcome == SK_OUTCOME_SENT ? r->bytes_out : 0,
		};
		srv->observe(srv->observe_ctx, &obs);
	}
	c->guard--;
	request_free(r);
	if (c->paused) {
		schedule_work(c);
	}
}

/* Completes r on a closing connection: nothing is written. */
static void complete_closed(struct request *r, enum sk_outcome outcome)
{
	struct conn *c = r->conn;
	r->done = NULL; /* the completing call reports the error itself */
	finish_request(r, outcome, SK_ECLOSED);
	maybe_free_conn(c);
}

/* ---- Closing ------------------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	c->handle_closed = true;
	c->guard++;
	/* Cancel callbacks may complete any request: rescan after each. */
	for (;;) {
		struct request *r = c->head;
		while (r != NULL &&
		       !(r->state == REQ_PENDING && !r->cancel_fired && r->cancel_cb != NULL)) {
			r = r->next;
		}
		if (r == NULL) {
			break;
		}
		r->cancel_fired = true;
		r->cancel_cb(&r->pub);
	}
	for (;;) {
		struct request *r = c->head;
		while (r != NULL && r->state == REQ_PENDING) {
			r = r->next;
		}
		if (r == NULL) {
			break;
		}
		finish_request(r,
			       r->state == REQ_DROPPED ? SK_OUTCOME_DROPPED : SK_OUTCOME_DISCARDED,
			       SK_ECLOSED);
	}
	c->guard--;
	maybe_free_conn(c);
}

static void close_conn(struct conn *c, enum sl_log_level level, const char *reason)
{
	if (c->closing) {
		return;
	}
	SL_LOG(level, "component=kafka event=kafka_conn_close conn=%" PRIu64 " peer=%s reason=%s",
	       c->id, c->peer, reason);
	c->closing = true;
	unschedule_work(c);
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
	for (struct request *r = c->head; r != NULL; r = r->next) {
		r->pub.closed = true;
	}
	if (c->frame != NULL) {
		sl_free(c->frame);
		c->frame = NULL;
		c->queued_bytes -= c->frame_len;
	}
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* Logs and closes for a frame we cannot answer. */
static void protocol_error(struct conn *c, const struct sk_parsed *p, const char *reason,
			   uint32_t frame_bytes)
{
	c->srv->stats.protocol_errors++;
	if (p != NULL && p->header_ok) {
		SL_LOG(SL_LOG_WARN,
		       "component=kafka event=kafka_protocol_error conn=%" PRIu64
		       " peer=%s reason=%s api_key=%d api_version=%d correlation_id=%" PRId32
		       " frame_bytes=%" PRIu32 " err=%s",
		       c->id, c->peer, reason, p->header.request_api_key,
		       p->header.request_api_version, p->header.correlation_id, frame_bytes,
		       kmsg_err_name(p->err));
	} else {
		SL_LOG(SL_LOG_WARN,
		       "component=kafka event=kafka_protocol_error conn=%" PRIu64
		       " peer=%s reason=%s frame_bytes=%" PRIu32,
		       c->id, c->peer, reason, frame_bytes);
	}
	close_conn(c, SL_LOG_DEBUG, "protocol_error");
}

/* ---- Writing ------------------------------------------------------------- */

static void flush(struct conn *c);

/* Moves the cursor past what the finished memory write covered. */
static void advance(struct conn *c)
{
	uint32_t n = c->wr_done_count;
	c->wr_done_count = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct request *r = c->head;
		c->wr_seg = c->wr_off = 0;
		finish_request(r, r->state == REQ_DROPPED ? SK_OUTCOME_DROPPED : SK_OUTCOME_SENT,
			       0);
	}
	c->wr_seg = c->wr_end_seg;
	c->wr_off = c->wr_end_off;
}

static void on_write(uv_write_t *wr, int status)
{
	struct conn *c = wr->data;
	c->write_busy = false;
	if (status < 0) {
		if (!c->closing) {
			char why[96];
			snprintf(why, sizeof(why), "write_error err=%s", uv_err_name(status));
			close_conn(c, SL_LOG_INFO, why);
		}
		return; /* on_conn_closed() finishes what is left */
	}
	c->last_active_ns = sl_now_mono_ns();
	if (!c->wr_is_chunk) {
		/* Written, even if the connection closed since (libuv reports a
		 * write it completed before the close with status 0). */
		advance(c);
	} else if (!c->closing) {
		c->wr_off += c->wr_chunk_len;
		if (c->wr_off == c->head->segs[c->wr_seg].len) {
			c->wr_seg++;
			c->wr_off = 0;
		}
	}
	flush(c);
}

static int start_write(struct conn *c, unsigned n)
{
	c->wreq.data = c;
	int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, c->bufs, n, on_write);
	if (rc < 0) {
		char why[96];
		snprintf(why, sizeof(why), "write_error err=%s", uv_err_name(rc));
		close_conn(c, SL_LOG_INFO, why);
		return rc;
	}
	c->write_busy = true;
	return 0;
}

/* Gathers the memory segments from the cursor on, across completed
 * requests, up to the first file segment, pending request or
 * WRITE_BUFS_MAX, and writes them. Returns 1 if a write started, 0 if there
 * was nothing to write (the cursor moved past empty segments), <0 if the
 * connection is closing. */
static int write_memory(struct conn *c)
{
	unsigned n = 0;
	uint32_t whole = 0;
	struct request *r = c->head;
	size_t seg = c->wr_seg;
	size_t off = c->wr_off;
	while (r != NULL && r->state != REQ_PENDING && n < WRITE_BUFS_MAX) {
		while (seg < r->nsegs && n < WRITE_BUFS_MAX) {
			const struct sk_segment *s = &r->segs[seg];
			if (s->kind == SK_SEGMENT_FILE) {
				break;
			}
			if (s->len > off) {
				c->bufs[n++] =
				    uv_buf_init((char *)s->base + off, (unsigned)(s->len - off));
			}
			seg++;
			off = 0;
		}
		if (seg < r->nsegs) {
			break;
		}
		whole++;
		r = r->next;
		seg = 0;
		off = 0;
	}
	c->wr_is_chunk = false;
	c->wr_done_count = whole;
	c->wr_end_seg = seg;
	c->wr_end_off = off;
	if (n == 0) {
		/* Only empty segments (or dropped requests): advance now. */
		advance(c);
		return 0;
	}
	return start_write(c, n) < 0 ? -1 : 1;
}

/* Sends the file segment at the cursor: sendfile while the socket takes
 * data, else one pread chunk through uv_write. Returns 1 if a write started,
 * 0 if progress was made synchronously, <0 if the connection is closing. */
static int write_file(struct conn *c)
{
	struct sk_server *srv = c->srv;
	const struct sk_segment *s = &c->head->segs[c->wr_seg];
	size_t remaining = s->len - c->wr_off;
	off_t off = (off_t)(s->offset + (int64_t)c->wr_off);
	if (remaining == 0) {
		c->wr_seg++;
		c->wr_off = 0;
		return 0;
	}
	if (srv->cfg.sendfile && !c->no_sendfile) {
		int sock;
		ssize_t n = -1;
		if (uv_fileno((uv_handle_t *)&c->tcp, &sock) == 0) {
			n = sendfile(sock, s->fd, &off, remaining);
		} else {
			errno = EINVAL;
		}
		if (n > 0) {
			srv->stats.sendfile_bytes += (uint64_t)n;
			c->wr_off += (size_t)n;
			if (c->wr_off == s->len) {
				c->wr_seg++;
				c->wr_off = 0;
			}
			return 0;
		}
		if (n == 0) {
			close_conn(c, SL_LOG_WARN, "file_segment_short");
			return -1;
		}
		if (errno == EINTR) {
			return 0;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			/* EINVAL, ENOSYS, ...: this file or kernel cannot; read instead. */
			c->no_sendfile = true;
		}
		off = (off_t)(s->offset + (int64_t)c->wr_off);
	}
	if (c->chunk == NULL) {
		c->chunk = sl_malloc(srv->cfg.file_chunk_bytes);
		if (c->chunk == NULL) {
			close_conn(c, SL_LOG_WARN, "no_memory");
			return -1;
		}
	}
	size_t want = SL_MIN(remaining, (size_t)srv->cfg.file_chunk_bytes);
	ssize_t got;
	do {
		got = pread(s->fd, c->chunk, want, off);
	} while (got < 0 && errno == EINTR);
	if (got <= 0) {
		close_conn(c, SL_LOG_WARN,
			   got == 0 ? "file_segment_short" : "file_segment_read_error");
		return -1;
	}
	srv->stats.file_read_bytes += (uint64_t)got;
	c->bufs[0] = uv_buf_init((char *)c->chunk, (unsigned)got);
	c->wr_is_chunk = true;
	c->wr_chunk_len = (size_t)got;
	return start_write(c, 1) < 0 ? -1 : 1;
}

/* Writes what is ready at the FIFO head, finishing dropped requests and
 * fully written responses, until a write is in flight or the head is
 * pending. */
static void flush(struct conn *c)
{
	while (!c->closing && !c->write_busy) {
		struct request *r = c->head;
		if (r == NULL || r->state == REQ_PENDING) {
			return;
		}
		if (r->state == REQ_DROPPED || c->wr_seg == r->nsegs) {
			c->wr_seg = c->wr_off = 0;
			finish_request(
			    r, r->state == REQ_DROPPED ? SK_OUTCOME_DROPPED : SK_OUTCOME_SENT, 0);
			continue;
		}
		int rc =
		    r->segs[c->wr_seg].kind == SK_SEGMENT_FILE ? write_file(c) : write_memory(c);
		if (rc != 0) {
			return;
		}
	}
}

/* ---- Completing requests ------------------------------------------------- */

/* Makes the writer's contents r's response and marks r done. */
static void complete_with(struct request *r, struct kmsg_writer *w)
{
	struct conn *c = r->conn;
	size_t len;
	release_frame(r);
	r->owned = kmsg_writer_take(w, &len);
	r->seg_inline = sk_segment_mem(r->owned, len);
	r->segs = &r->seg_inline;
	r->nsegs = 1;
	r->bytes_out = len;
	hold_bytes(c, r, len);
	r->state = REQ_DONE;
	schedule_work(c);
}

/* A response that cannot be encoded leaves a hole in the stream: close. */
static int fail_response(struct request *r, int rc, const char *what)
{
	struct conn *c = r->conn;
	SL_LOG(SL_LOG_ERROR,
	       "component=kafka event=kafka_response_failed conn=%" PRIu64
	       " api_key=%d api_version=%d correlation_id=%" PRId32 " what=%s err=%d",
	       c->id, r->pub.api_key, r->pub.api_version, r->pub.correlation_id, what, rc);
	close_conn(c, SL_LOG_INFO, "response_failed");
	complete_closed(r, SK_OUTCOME_DISCARDED);
	return rc;
}

int sk_request_on_cancel(struct sk_request *pub, sk_cancel_fn cb)
{
	struct request *r = req_of(pub);
	SL_ASSERT(r->state == REQ_PENDING);
	if (r->conn->handle_closed) {
		return SK_ECLOSED;
	}
	r->cancel_cb = cb;
	return 0;
}

int sk_respond(struct sk_request *pub, const void *response)
{
	struct request *r = req_of(pub);
	struct conn *c = r->conn;
	SL_ASSERT(r->state == REQ_PENDING);
	if (c->closing) {
		complete_closed(r, SK_OUTCOME_DISCARDED);
		return SK_ECLOSED;
	}
	struct kmsg_writer w;
	kmsg_writer_init(&w, c->srv->cfg.response_bytes_max);
	int rc = sk_response_frame_encode(&w, pub->api_key, pub->api_version, pub->correlation_id,
					  response);
	if (rc < 0) {
		kmsg_writer_free(&w);
		return fail_response(r, rc == KMSG_ELIMIT ? SK_ETOOBIG : SK_EENCODE,
				     kmsg_err_name(rc));
	}
	complete_with(r, &w);
	return 0;
}

int sk_respond_error(struct sk_request *pub, int16_t error_code)
{
	struct request *r = req_of(pub);
	SL_ASSERT(r->state == REQ_PENDING);
	if (r->conn->closing) {
		complete_closed(r, SK_OUTCOME_DISCARDED);
		return SK_ECLOSED;
	}
	const struct kmsg_api *api = kmsg_api_lookup(pub->api_key);
	void *resp = api != NULL ? kmsg_arena_alloc(&r->arena, api->response_size) : NULL;
	if (resp == NULL) {
		return fail_response(r, SK_ENOMEM, "error_response_alloc");
	}
	int rc = sk_api_error_response(pub->api_key, pub->api_version, pub->body, error_code,
				       &r->arena, resp);
	if (rc < 0) {
		return fail_response(r, rc == KMSG_EINVAL ? SK_EINVAL : SK_ENOMEM,
				     "error_response_build");
	}
	return sk_respond(pub, resp);
}

static bool segments_valid(const struct sk_segment *segs, size_t n, size_t max, size_t *total)
{
	*total = 0;
	for (size_t i = 0; i < n; i++) {
		const struct sk_segment *s = &segs[i];
		if (s->kind == SK_SEGMENT_MEM) {
			if (s->len > 0 && s->base == NULL) {
				return false;
			}
		} else if (s->kind != SK_SEGMENT_FILE || s->fd < 0 || s->offset < 0) {
			return false;
		}
		if (s->len > max - *total) {
			return false;
		}
		*total += s->len;
	}
	return true;
}

/* Writes the size prefix (header + body_len) and response header to r->prefix. */
static size_t raw_prefix(struct request *r, size_t body_len)
{
	int hv = kmsg_response_header_version(r->pub.api_key, r->pub.api_version);
	size_t hlen = hv >= 1 ? 5 : 4; /* correlation id [+ empty tagged fields] */
	uint32_t size = (uint32_t)(hlen + body_len);
	uint32_t corr = (uint32_t)r->pub.correlation_id;
	uint8_t *p = r->prefix;
	for (int i = 0; i < 4; i++) {
		p[i] = (uint8_t)(size >> (24 - 8 * i));
		p[4 + i] = (uint8_t)(corr >> (24 - 8 * i));
	}
	p[8] = 0;
	return 4 + hlen;
}

int sk_respond_raw(struct sk_request *pub, const struct sk_segment *segs, size_t n, sk_done_fn done,
		   void *done_data)
{
	struct request *r = req_of(pub);
	struct conn *c = r->conn;
	size_t total;
	SL_ASSERT(r->state == REQ_PENDING);
	if (c->closing) {
		complete_closed(r, SK_OUTCOME_DISCARDED);
		return SK_ECLOSED;
	}
	if (n > SK_RAW_SEGMENTS_MAX || (n > 0 && segs == NULL) ||
	    !segments_valid(segs, n, c->srv->cfg.response_bytes_max - 16, &total)) {
		return fail_response(r, SK_EINVAL, "bad_raw_segments");
	}
	struct sk_segment *all = sl_malloc((n + 1) * sizeof(*all));
	if (all == NULL) {
		return fail_response(r, SK_ENOMEM, "raw_segments_alloc");
	}
	size_t plen = raw_prefix(r, total);
	all[0] = sk_segment_mem(r->prefix, plen);
	if (n > 0) {
		memcpy(&all[1], segs, n * sizeof(*all));
	}
	r->segs = all;
	r->nsegs = n + 1;
	r->bytes_out = plen + total;
	r->done = done;
	r->done_data = done_data;
	r->state = REQ_DONE;
	schedule_work(c);
	return 0;
}

void sk_request_drop(struct sk_request *pub)
{
	struct request *r = req_of(pub);
	SL_ASSERT(r->state == REQ_PENDING);
	if (r->conn->closing) {
		complete_closed(r, SK_OUTCOME_DROPPED);
		return;
	}
	release_frame(r);
	r->state = REQ_DROPPED;
	schedule_work(r->conn);
}

/* ---- Dispatch -------------------------------------------------------------- */

static void answer_api_versions(struct request *r)
{
	struct kmsg_api_versions_response resp;
	int rc = sk_api_versions_build(r->conn->srv->mask, &r->arena, &resp);
	if (rc < 0) {
		fail_response(r, SK_ENOMEM, "api_versions_build");
		return;
	}
	(void)sk_respond(&r->pub, &resp);
}

static void answer_fallback(struct request *r)
{
	struct kmsg_writer w;
	kmsg_writer_init(&w, 0);
	int rc = sk_api_versions_fallback(&w, r->pub.correlation_id);
	if (rc < 0) {
		kmsg_writer_free(&w);
		fail_response(r, SK_ENOMEM, "api_versions_fallback");
		return;
	}
	complete_with(r, &w);
}

static struct request *request_new(struct conn *c, uint8_t *frame, uint32_t len)
{
	struct request *r = sl_calloc(1, sizeof(*r));
	if (r == NULL) {
		return NULL;
	}
	r->conn = c;
	r->frame = frame;
	r->held_bytes = len; /* already counted in c->queued_bytes */
	kmsg_arena_init(&r->arena, c->srv->cfg.arena_bytes_max);
	r->pub.conn_id = c->id;
	r->pub.peer = c->peer;
	r->pub.frame_bytes = len;
	r->pub.received_ns = sl_now_mono_ns();
	r->pub.arena = &r->arena;
	return r;
}

/* Parses a complete frame (ownership passes here; its len bytes are already
 * in c->queued_bytes) and hands the request to its handler. */
/* True if req names more topics or partitions than the server allows; logs
 * why. The answer is then INVALID_REQUEST for every part. */
static bool too_large(const struct conn *c, const struct sk_request *req)
{
	const struct sk_config *cfg = &c->srv->cfg;
	struct sk_request_extent e;
	sk_api_request_extent(req->api_key, req->body, &e);
	bool topics = cfg->request_topics_max > 0 && e.topics > (int64_t)cfg->request_topics_max;
	bool parts = cfg->request_partitions_max > 0 &&
		     e.partitions > (int64_t)cfg->request_partitions_max;
	if (topics || parts) {
		SL_LOG(SL_LOG_WARN,
		       "component=kafka event=kafka_request_too_large conn=%" PRIu64
		       " peer=%s api_key=%d topics=%" PRId64 " topics_max=%u partitions=%" PRId64
		       " partitions_max=%u",
		       c->id, c->peer, (int)req->api_key, e.topics, cfg->request_topics_max,
		       e.partitions, cfg->request_partitions_max);
	}
	return topics || parts;
}

static void dispatch(struct conn *c, uint8_t *frame, uint32_t len)
{
	struct sk_server *srv = c->srv;
	struct request *r = request_new(c, frame, len);
	if (r == NULL) {
		sl_free(frame);
		c->queued_bytes -= len;
		close_conn(c, SL_LOG_WARN, "no_memory");
		return;
	}
	struct sk_parsed p;
	enum sk_parse_outcome o = sk_request_parse(frame, len, srv->mask, &r->arena, &p);
	if (o == SK_PARSE_CLOSE) {
		protocol_error(c, &p, p.reason, len);
		request_free(r);
		return;
	}
	r->pub.api_key = p.header.request_api_key;
	r->pub.api_version = p.header.request_api_version;
	r->pub.correlation_id = p.header.correlation_id;
	r->pub.client_id = p.header.client_id;
	r->pub.body = p.body;
	fifo_append(c, r);
	/* Every outcome but CLOSE has a key from sk_api_ranges[]. */
	struct sk_api_stats *st = &srv->stats.api[r->pub.api_key];
	st->requests++;
	st->bytes_in += (uint64_t)len + 4;
	if (o == SK_PARSE_OK && r->pub.api_key == KMSG_API_API_VERSIONS) {
		r->builtin = true;
		answer_api_versions(r);
	} else if (o == SK_PARSE_OK && too_large(c, &r->pub)) {
		r->builtin = true;
		(void)sk_respond_error(&r->pub, SK_KAFKA_INVALID_REQUEST);
	} else if (o == SK_PARSE_OK) {
		const struct handler *h = &srv->handlers[r->pub.api_key];
		h->fn(h->ctx, &r->pub);
	} else if (o == SK_PARSE_UNSUPPORTED) {
		st->unsupported++;
		r->builtin = true;
		(void)sk_respond_error(&r->pub, SK_KAFKA_UNSUPPORTED_VERSION);
	} else {
		st->unsupported++;
		r->builtin = true;
		answer_fallback(r);
	}
}

/* ---- Reading --------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	if (c->frame != NULL) {
		if (c->frame_fill == c->frame_cap) {
			/* Grow to what the socket already holds (at least
			 * double): a large frame that has arrived costs one
			 * reallocation, not one per doubling, and a length
			 * prefix alone still costs no more than what was sent. */
			size_t want = (size_t)c->frame_cap * 2;
			uv_os_fd_t fd;
			int queued = 0;
			if (uv_fileno(h, &fd) == 0 && ioctl(fd, FIONREAD, &queued) == 0 &&
			    queued > 0 && (size_t)c->frame_fill + (size_t)queued > want) {
				want = (size_t)c->frame_fill + (size_t)queued;
			}
			size_t cap = SL_MIN((size_t)c->frame_len, want);
			uint8_t *f = sl_realloc(c->frame, cap);
			if (f == NULL) {
				*buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
				return;
			}
			c->frame = f;
			c->frame_cap = (uint32_t)cap;
		}
		*buf = uv_buf_init((char *)c->frame + c->frame_fill,
				   (unsigned)(c->frame_cap - c->frame_fill));
	} else {
		*buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(RBUF_BYTES - c->rlen));
	}
}

static bool has_room(const struct conn *c, uint32_t len)
{
	const struct sk_config *cfg = &c->srv->cfg;
	if (c->inflight == 0) {
		return true;
	}
	return c->inflight < cfg->inflight_requests_max &&
	       c->queued_bytes + len <= cfg->queued_bytes_max;
}

static void update_reading(struct conn *c)
{
	bool want = !c->closing && !c->paused && !c->srv->draining;
	if (want == c->reading) {
		return;
	}
	if (!want) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
		return;
	}
	int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (rc < 0) {
		close_conn(c, SL_LOG_WARN, "read_start_failed");
		return;
	}
	c->reading = true;
}

/* Cuts complete frames out of the read buffer and dispatches them, until
 * the buffer lacks a whole size prefix, a frame continues beyond it, or the
 * connection is out of room (then it pauses). */
static void process_input(struct conn *c)
{
	uint32_t max = c->srv->cfg.request_bytes_max;
	size_t pos = 0;
	while (!c->closing && c->frame == NULL && c->rlen - pos >= 4) {
		int64_t len = sk_frame_length(c->rbuf + pos, max);
		if (len < 0) {
			protocol_error(c, NULL, "bad_frame_length", 0);
			return;
		}
		if (!has_room(c, (uint32_t)len)) {
			c->paused = true;
			c->srv->stats.read_pauses++;
			break;
		}
		size_t avail = c->rlen - pos - 4;
		size_t n = SL_MIN(avail, (size_t)len);
		size_t cap = n == (size_t)len ? n : SL_MIN((size_t)len, FRAME_GROW_MIN_BYTES);
		uint8_t *f = sl_malloc(cap > 0 ? cap : 1);
		if (f == NULL) {
			close_conn(c, SL_LOG_WARN, "no_memory");
			return;
		}
		memcpy(f, c->rbuf + pos + 4, n);
		pos += 4 + n;
		c->queued_bytes += (uint64_t)len;
		if (n == (size_t)len) {
			dispatch(c, f, (uint32_t)len);
		} else {
			c->frame = f;
			c->frame_len = (uint32_t)len;
			c->frame_fill = (uint32_t)n;
			c->frame_cap = (uint32_t)cap;
		}
	}
	if (c->closing) {
		return;
	}
	memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
	c->rlen -= pos;
	update_reading(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	if (nread < 0) {
		bool mid_frame = c->frame != NULL || c->rlen > 0;
		if (nread == UV_EOF) {
			close_conn(c, mid_frame ? SL_LOG_INFO : SL_LOG_DEBUG,
				   mid_frame ? "eof_in_frame" : "eof");
		} else {
			char why[96];
			snprintf(why, sizeof(why), "read_error err=%s", uv_err_name((int)nread));
			close_conn(c, SL_LOG_INFO, why);
		}
		return;
	}
	if (nread == 0 || c->closing) {
		return;
	}
	c->last_active_ns = sl_now_mono_ns();
	if (c->frame != NULL && buf->base == (char *)c->frame + c->frame_fill) {
		c->frame_fill += (uint32_t)nread;
		if (c->frame_fill < c->frame_len) {
			return;
		}
		uint8_t *f = c->frame;
		c->frame = NULL;
		dispatch(c, f, c->frame_len);
	} else {
		c->rlen += (size_t)nread;
	}
	process_input(c);
}

/* ---- Deferred work ----------------------------------------------------------- */

/* Runs just before the loop blocks: resumes paused input and flushes every
 * connection whose requests completed during this iteration. Handlers called
 * from here may queue more work; it is done in the same pass. */
/* While draining: closes every connection that owes nothing (no request
 * between receipt and written response, no write under way). */
static void close_drained_conns(struct sk_server *srv)
{
	struct conn *next;
	for (struct conn *c = srv->conns; c != NULL; c = next) {
		next = c->next;
		if (!c->closing && c->inflight == 0 && !c->write_busy) {
			close_conn(c, SL_LOG_DEBUG, "drained");
		}
	}
}

static void on_prepare(uv_prepare_t *p)
{
	struct sk_server *srv = p->data;
	while (srv->work_head != NULL) {
		struct conn *c = srv->work_head;
		srv->work_head = c->work_next;
		if (srv->work_head == NULL) {
			srv->work_tail = NULL;
		}
		c->work_queued = false;
		if (c->closing) {
			continue;
		}
		if (c->paused && c->frame == NULL) {
			c->paused = false;
			process_input(c);
		}
		flush(c);
	}
	if (srv->draining && !srv->closing) {
		close_drained_conns(srv);
	}
}

/* ---- Accepting ----------------------------------------------------------------- */

static void format_peer(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	snprintf(c->peer, sizeof(c->peer), "?");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) {
		return;
	}
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
		uv_ip4_name(a, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
		uv_ip6_name(a, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(c->peer, sizeof(c->peer), "[%s]:%d", host, port);
	}
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct sk_server *srv = listener->data;
	if (status < 0 || srv->closing) {
		SL_LOG(SL_LOG_WARN, "component=kafka event=kafka_accept_failed err=%s",
		       uv_err_name(status));
		return;
	}
	struct conn *c = sl_calloc(1, sizeof(*c));
	if (c == NULL) {
		SL_LOG(SL_LOG_ERROR, "component=kafka event=kafka_accept_failed err=no_memory");
		return;
	}
	c->srv = srv;
	c->id = ++srv->next_conn_id;
	uv_tcp_init(srv->loop, &c->tcp);
	c->tcp.data = c;
	c->next = srv->conns;
	if (srv->conns != NULL) {
		srv->conns->prev = c;
	}
	srv->conns = c;
	srv->n_conns++;
	srv->stats.connections_open = srv->n_conns;
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
		close_conn(c, SL_LOG_WARN, "accept_failed");
		return;
	}
	format_peer(c);
	if (srv->n_conns > srv->cfg.connections_max) {
		srv->stats.connections_rejected++;
		close_conn(c, SL_LOG_WARN, "too_many_connections");
		return;
	}
	c->rbuf = sl_malloc(RBUF_BYTES);
	if (c->rbuf == NULL) {
		close_conn(c, SL_LOG_WARN, "no_memory");
		return;
	}
	srv->stats.connections_accepted++;
	c->last_active_ns = sl_now_mono_ns();
	uv_tcp_nodelay(&c->tcp, 1);
	SL_LOG(SL_LOG_DEBUG, "component=kafka event=kafka_conn_open conn=%" PRIu64 " peer=%s",
	       c->id, c->peer);
	update_reading(c);
}

/* Closes connections without socket activity for idle_timeout_ms that owe
 * nothing (Kafka's connections.max.idle.ms); a held long poll is not idle. */
static void on_idle_timer(uv_timer_t *t)
{
	struct sk_server *srv = t->data;
	uint64_t now = sl_now_mono_ns();
	uint64_t limit_ns = (uint64_t)srv->cfg.idle_timeout_ms * 1000000u;
	for (struct conn *c = srv->conns; c != NULL; c = c->next) {
		if (!c->closing && c->inflight == 0 && now - c->last_active_ns > limit_ns) {
			close_conn(c, SL_LOG_INFO, "idle");
		}
	}
}

/* ---- Server ---------------------------------------------------------------------- */

int sk_server_create(uv_loop_t *loop, const struct sk_config *config, struct sk_server **out)
{
	struct sk_config defaults;
	if (config == NULL) {
		sk_config_init(&defaults);
		config = &defaults;
	}
	const char *problem = config_problem(config);
	if (loop == NULL || out == NULL || problem != NULL) {
		SL_LOG(SL_LOG_ERROR, "component=kafka event=kafka_config_invalid reason=\"%s\"",
		       problem != NULL ? problem : "no loop or no out");
		return SK_EINVAL;
	}
	struct sk_server *srv = sl_calloc(1, sizeof(*srv));
	if (srv == NULL) {
		return SK_ENOMEM;
	}
	srv->loop = loop;
	srv->cfg = *config;
	srv->mask = sk_api_bit(KMSG_API_API_VERSIONS);
	uv_tcp_init(loop, &srv->listener);
	srv->listener.data = srv;
	uv_prepare_init(loop, &srv->prepare);
	srv->prepare.data = srv;
	uv_prepare_start(&srv->prepare, on_prepare);
	uv_unref((uv_handle_t *)&srv->prepare);
	uv_timer_init(loop, &srv->idle_timer);
	srv->idle_timer.data = srv;
	if (config->idle_timeout_ms > 0) {
		uint64_t every = SL_MAX(SL_MIN(config->idle_timeout_ms / 4, 30000u), 10u);
		uv_timer_start(&srv->idle_timer, on_idle_timer, every, every);
		uv_unref((uv_handle_t *)&srv->idle_timer);
	}
	*out = srv;
	return 0;
}

int sk_server_set_handler(struct sk_server *srv, int16_t api_key, sk_handler_fn fn, void *ctx)
{
	if (sk_api_range_lookup(api_key) == NULL || api_key == KMSG_API_API_VERSIONS) {
		return SK_EINVAL;
	}
	srv->handlers[api_key].fn = fn;
	srv->handlers[api_key].ctx = ctx;
	if (fn != NULL) {
		srv->mask |= sk_api_bit(api_key);
	} else {
		srv->mask &= ~sk_api_bit(api_key);
	}
	return 0;
}

void sk_server_set_observer(struct sk_server *srv, sk_observe_fn fn, void *ctx)
{
	srv->observe = fn;
	srv->observe_ctx = ctx;
}

uint64_t sk_server_api_mask(const struct sk_server *srv)
{
	return srv->mask;
}

int sk_server_listen(struct sk_server *srv, const char *host, uint16_t port)
{
	struct sockaddr_storage ss;
	if (srv->closing) {
		return SK_ECLOSED;
	}
	if (srv->listening) {
		return SK_EINVAL;
	}
	if (host == NULL || (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
			     uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)) {
		snprintf(srv->errmsg, sizeof(srv->errmsg), "listen address %s: not numeric",
			 host != NULL ? host : "(null)");
		return SK_EADDR;
	}
	int rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&ss, 0);
	if (rc == 0) {
		rc = uv_listen((uv_stream_t *)&srv->listener, srv->cfg.listen_backlog,
			       on_connection);
	}
	if (rc != 0) {
		snprintf(srv->errmsg, sizeof(srv->errmsg), "listen %s:%u: %s", host, (unsigned)port,
			 uv_strerror(rc));
		return SK_EUV;
	}
	srv->listening = true;
	SL_LOG(SL_LOG_INFO, "component=kafka event=kafka_listening host=%s port=%u", host,
	       (unsigned)sk_server_port(srv));
	return 0;
}

uint16_t sk_server_port(const struct sk_server *srv)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (!srv->listening ||
	    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len) != 0) {
		return 0;
	}
	if (ss.ss_family == AF_INET6) {
		return ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return ntohs(((const struct sockaddr_in *)&ss)->sin_port);
}

const char *sk_server_errmsg(const struct sk_server *srv)
{
	return srv->errmsg;
}

void sk_server_stats(const struct sk_server *srv, struct sk_stats *out)
{
	*out = srv->stats;
}

static void on_prepare_closed(uv_handle_t *h)
{
	struct sk_server *srv = h->data;
	if (srv->close_cb != NULL) {
		srv->close_cb(srv, srv->close_data);
	}
	sl_free(srv);
}

/* Closes the prepare handle last, once nothing else is left, so the close
 * callback always runs from a libuv close callback. */
static void maybe_finish_server(struct sk_server *srv)
{
	if (!srv->closing || !srv->listener_closed || !srv->idle_closed || srv->conns != NULL ||
	    srv->prepare_closing) {
		return;
	}
	srv->prepare_closing = true;
	uv_close((uv_handle_t *)&srv->prepare, on_prepare_closed);
}

static void on_listener_closed(uv_handle_t *h)
{
	struct sk_server *srv = h->data;
	srv->listener_closed = true;
	maybe_drained(srv);
	maybe_finish_server(srv);
}

/* Runs the drain callback once the listener and every connection are
 * closed, unless sk_server_close() came first. */
static void maybe_drained(struct sk_server *srv)
{
	if (!srv->draining || srv->closing || srv->drain_cb == NULL || !srv->listener_closed ||
	    srv->conns != NULL) {
		return;
	}
	sk_close_cb cb = srv->drain_cb;
	srv->drain_cb = NULL;
	cb(srv, srv->drain_data);
}

void sk_server_drain(struct sk_server *srv, sk_close_cb cb, void *data)
{
	SL_ASSERT(!srv->closing && !srv->draining);
	srv->draining = true;
	srv->drain_cb = cb;
	srv->drain_data = data;
	srv->listener_closing = true;
	uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
	for (struct conn *c = srv->conns; c != NULL; c = c->next) {
		update_reading(c);
	}
	/* Connections that owe nothing close from the next loop iteration. */
	uv_ref((uv_handle_t *)&srv->prepare);
	SL_LOG(SL_LOG_INFO, "component=kafka event=kafka_draining connections=%" PRIu32,
	       srv->n_conns);
}

static void on_idle_closed(uv_handle_t *h)
{
	struct sk_server *srv = h->data;
	srv->idle_closed = true;
	maybe_finish_server(srv);
}

void sk_server_close(struct sk_server *srv, sk_close_cb cb, void *data)
{
	SL_ASSERT(!srv->closing);
	srv->closing = true;
	srv->close_cb = cb;
	srv->close_data = data;
	if (!srv->listener_closing) {
		srv->listener_closing = true;
		uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
	}
	uv_close((uv_handle_t *)&srv->idle_timer, on_idle_closed);
	for (struct conn *c = srv->conns; c != NULL; c = c->next) {
		close_conn(c, SL_LOG_DEBUG, "server_close");
	}
}
