/* Inter-broker transport, connection side: dialing, accepting, the HELLO
 * handshake, frame parsing and delivery, control and bulk writes, and closing
 * one connection. The wire format is documented in transport.h.
 *
 * Happy path. The dialer connects (resolving the host first if it is not a
 * numeric address), writes its HELLO and starts reading; the acceptor reads
 * the HELLO, checks it, writes its own and marks the connection up; the
 * dialer marks it up when the answer checks out. Reads land in a
 * per-connection buffer; each complete frame is delivered to the receive
 * callback straight from that buffer, then the remainder is moved to the
 * front. Flushes write all queued control frames in one uv_write() and at most
 * one bulk chunk, only when no control frame is waiting.
 *
 * Failure modes. Connect errors, read and write errors, end of stream, a
 * handshake that does not complete within handshake_timeout_ms and every
 * malformed frame or HELLO close the connection through sl__conn_close(),
 * which logs one line with the reason, detaches the connection from its peer
 * (reporting the peer down or scheduling a reconnect) and closes both libuv
 * handles. Frame headers are checked as soon as their 16 bytes have arrived,
 * before the receive buffer is grown for the payload, so a bogus length costs
 * nothing. Writes still queued in libuv complete with UV_ECANCELED before the
 * close callbacks; the connection's memory and its unsent bulk chunks are
 * released in the last close callback.
 *
 * Liveness. Once a connection is up its timer (the handshake deadline until
 * then) paces the PINGs and watches the silence (transport.h, LIVENESS);
 * every read refreshes last_rx_ms, so any received byte keeps it alive. */
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/rpc_bytes.h"
#include "server/transport_int.h"

static const char *state_name(enum sl__conn_state s)
{
	static const char *names[] = {"connecting", "handshake", "up", "closing"};
	return names[s];
}

/* Default receive buffer: one full bulk frame plus room to read ahead. */
static size_t rx_base_bytes(const struct sl__transport *t)
{
	return (size_t)t->config.bulk_chunk_bytes_max + SL_TRANSPORT_FRAME_HEADER_BYTES +
	       (64u << 10);
}

static void format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		uv_ip4_name(in, ip, sizeof(ip));
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		uv_ip6_name(in6, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, len, "%s:%u", ip, port);
}

/* ---- lifetime ---------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h);

static struct sl__conn *conn_new(struct sl__transport *t, bool inbound)
{
	struct sl__conn *c = sl_calloc(1, sizeof(*c));
	if (c == NULL) {
		return NULL;
	}
	c->t = t;
	c->inbound = inbound;
	c->state = inbound ? SL__CONN_HANDSHAKE : SL__CONN_CONNECTING;
	snprintf(c->remote, sizeof(c->remote), "?");
	int rv = uv_tcp_init(t->loop, &c->tcp);
	SL_ASSERT(rv == 0); /* no socket is created yet, so this cannot fail */
	rv = uv_timer_init(t->loop, &c->timer);
	SL_ASSERT(rv == 0);
	c->tcp.data = c;
	c->timer.data = c;
	c->handles_open = 2;
	sl__list_push(&t->conns, &c->node);
	t->live++;
	return c;
}

__attribute__((format(printf, 3, 4))) void sl__conn_close(struct sl__conn *c, bool protocol_error,
							  const char *fmt, ...)
{
	struct sl__transport *t = c->t;
	if (c->state == SL__CONN_CLOSING) {
		return;
	}
	char reason[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	enum sl__conn_state prev = c->state;
	struct sl__peer *p = c->peer;
	SL_LOG(protocol_error ? SL_LOG_WARN : SL_LOG_INFO,
	       SL__LOG_PREFIX " self=%" PRIu64 " peer=%" PRIu64
			      " remote=%s dir=%s state=%s event=conn_closed reason=\"%s\"",
	       t->self_id, p != NULL ? p->id : c->claimed_id, c->remote, c->inbound ? "in" : "out",
	       state_name(prev), reason);
	snprintf(t->errmsg, sizeof(t->errmsg), "connection %s: %s", c->remote, reason);
	if (protocol_error) {
		t->stats.protocol_errors++;
	}
	c->state = SL__CONN_CLOSING;
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	if (c->pending_counted) {
		c->pending_counted = false;
		t->n_inbound_pending--;
	}
	c->peer = NULL;
	if (p != NULL && p->conn == c) {
		p->conn = NULL;
		sl__peer_conn_lost(p, prev == SL__CONN_UP); /* may run user callbacks */
	}
}

static void on_handle_closed(uv_handle_t *h)
{
	struct sl__conn *c = h->data;
	if (--c->handles_open > 0) {
		return;
	}
	struct sl__transport *t = c->t;
	struct sl_transport_bulk_req *req = c->bulk_head;
	SL_ASSERT(c->ctl_inflight == NULL && c->bulk_inflight == NULL);
	sl__list_remove(&c->node);
	sl_free(c->rx);
	sl_free(c);
	while (req != NULL) {
		struct sl_transport_bulk_req *next = req->next_;
		t->stats.bulk_canceled++;
		req->cb_(req, SL_TRANSPORT_ECANCELED);
		req = next;
	}
	sl__transport_unref(t);
}

/* ---- writes ------------------------------------------------------------ */

static void on_hello_written(uv_write_t *req, int status)
{
	struct sl__conn *c = SL__CONTAINER_OF(req, struct sl__conn, hello_req);
	if (status < 0 && c->state != SL__CONN_CLOSING) {
		sl__conn_close(c, false, "hello write failed: %s", uv_err_name(status));
	}
}

/* Writes our HELLO; returns false (connection closed) on failure. */
static bool send_hello(struct sl__conn *c, uint64_t receiver_id)
{
	struct sl__transport *t = c->t;
	size_t payload_len = SL__HELLO_FIXED_BYTES + t->cluster_id_len;
	uint8_t *p = c->hello + SL_TRANSPORT_FRAME_HEADER_BYTES;
	sl__frame_header(c->hello, payload_len, SL_TRANSPORT_FRAME_HELLO, 0);
	sl__put_be32(p, SL__HELLO_MAGIC);
	sl__put_be16(p + 4, SL_TRANSPORT_WIRE_VERSION);
	sl__put_be16(p + 6, 0);
	sl__put_be64(p + 8, t->self_id);
	sl__put_be64(p + 16, receiver_id);
	sl__put_be16(p + 24, (uint16_t)t->cluster_id_len);
	memcpy(p + 26, t->cluster_id, t->cluster_id_len);
	uv_buf_t buf = uv_buf_init((char *)c->hello,
				   (unsigned)(SL_TRANSPORT_FRAME_HEADER_BYTES + payload_len));
	int rv = uv_write(&c->hello_req, (uv_stream_t *)&c->tcp, &buf, 1, on_hello_written);
	if (rv != 0) {
		sl__conn_close(c, false, "hello write failed: %s", uv_err_name(rv));
		return false;
	}
	t->stats.bytes_sent += buf.len;
	return true;
}

static void free_frames(struct sl__list *frames)
{
	while (!sl__list_empty(frames)) {
		struct sl__list *n = frames->next;
		sl__list_remove(n);
		sl_free(SL__CONTAINER_OF(n, struct sl__frame, node));
	}
}

static void on_ctl_written(uv_write_t *req, int status)
{
	struct sl__ctl_write *w = SL__CONTAINER_OF(req, struct sl__ctl_write, req);
	struct sl__conn *c = w->conn;
	free_frames(&w->frames);
	sl_free(w);
	c->ctl_inflight = NULL;
	if (c->state == SL__CONN_CLOSING) {
		return;
	}
	if (status < 0) {
		sl__conn_close(c, false, "write failed: %s", uv_err_name(status));
		return;
	}
	if (c->peer != NULL && (c->peer->ctl_count > 0 || c->bulk_head != NULL)) {
		sl__peer_mark_dirty(c->peer);
	}
}

/* Moves up to SL__WRITE_FRAMES_MAX queued frames into one uv_write(). */
static void write_control(struct sl__conn *c, struct sl__peer *p)
{
	struct sl__transport *t = c->t;
	unsigned n = p->ctl_count < SL__WRITE_FRAMES_MAX ? p->ctl_count : SL__WRITE_FRAMES_MAX;
	struct sl__ctl_write *w = sl_malloc(sizeof(*w) + n * sizeof(uv_buf_t));
	struct sl__list taken;
	sl__list_init(&taken);
	size_t bytes = 0;
	for (unsigned i = 0; i < n; i++) {
		struct sl__list *node = p->ctl_queue.next;
		struct sl__frame *f = SL__CONTAINER_OF(node, struct sl__frame, node);
		sl__list_remove(node);
		sl__list_push(&taken, node);
		if (w != NULL) {
			w->bufs[i] = uv_buf_init((char *)f->bytes, (unsigned)f->len);
		}
		bytes += f->len;
	}
	p->ctl_count -= n;
	p->ctl_bytes -= bytes;
	if (w == NULL) {
		/* Raft resends; dropping beats retrying from the prepare callback. */
		free_frames(&taken);
		t->stats.control_dropped += n;
		p->ctl_dropped += n;
		return;
	}
	w->conn = c;
	w->n = n;
	sl__list_init(&w->frames);
	/* Re-link the taken frames under w (the list head moved). */
	while (!sl__list_empty(&taken)) {
		struct sl__list *node = taken.next;
		sl__list_remove(node);
		sl__list_push(&w->frames, node);
	}
	int rv = uv_write(&w->req, (uv_stream_t *)&c->tcp, w->bufs, n, on_ctl_written);
	if (rv != 0) {
		free_frames(&w->frames);
		sl_free(w);
		sl__conn_close(c, false, "write failed: %s", uv_err_name(rv));
		return;
	}
	c->ctl_inflight = w;
	t->stats.control_frames_sent += n;
	t->stats.control_writes++;
	t->stats.bytes_sent += bytes;
}

static void on_bulk_written(uv_write_t *w, int status)
{
	struct sl_transport_bulk_req *req =
	    SL__CONTAINER_OF(w, struct sl_transport_bulk_req, write_);
	struct sl__conn *c = req->conn_;
	struct sl__transport *t = c->t;
	c->bulk_inflight = NULL;
	c->bulk_outstanding--;
	int result = 0;
	if (status < 0) {
		result = SL_TRANSPORT_ECANCELED;
		t->stats.bulk_canceled++;
	}
	if (c->state != SL__CONN_CLOSING) {
		if (status < 0) {
			sl__conn_close(c, false, "bulk write failed: %s", uv_err_name(status));
		} else if (c->peer != NULL && (c->bulk_head != NULL || c->peer->ctl_count > 0)) {
			sl__peer_mark_dirty(c->peer);
		}
	}
	req->cb_(req, result);
}

static void write_bulk(struct sl__conn *c)
{
	struct sl__transport *t = c->t;
	struct sl_transport_bulk_req *req = c->bulk_head;
	uv_buf_t bufs[2] = {
	    uv_buf_init((char *)req->header_, SL_TRANSPORT_FRAME_HEADER_BYTES),
	    uv_buf_init((char *)(uintptr_t)req->buf_, (unsigned)req->len_),
	};
	int rv = uv_write(&req->write_, (uv_stream_t *)&c->tcp, bufs, 2, on_bulk_written);
	if (rv != 0) {
		/* Left at the head of the queue: the close callback cancels it. */
		sl__conn_close(c, false, "bulk write failed: %s", uv_err_name(rv));
		return;
	}
	c->bulk_head = req->next_;
	if (c->bulk_head == NULL) {
		c->bulk_tail = NULL;
	}
	c->bulk_inflight = req;
	t->stats.bulk_chunks_sent++;
	t->stats.bytes_sent += SL_TRANSPORT_FRAME_HEADER_BYTES + req->len_;
}

void sl__conn_flush(struct sl__conn *c)
{
	struct sl__peer *p = c->peer;
	SL_ASSERT(c->state == SL__CONN_UP && p != NULL);
	if (c->ctl_inflight == NULL && p->ctl_count > 0) {
		write_control(c, p);
	}
	/* Bulk only when no control frame waits, and one chunk at a time, so a
	 * control frame never queues behind more than one chunk. */
	if (c->state == SL__CONN_UP && p->ctl_count == 0 && c->bulk_inflight == NULL &&
	    c->bulk_head != NULL) {
		write_bulk(c);
	}
}

/* ---- handshake --------------------------------------------------------- */

struct hello {
	uint16_t version;
	uint64_t sender;
	uint64_t receiver;
	const uint8_t *cluster_id;
	size_t cluster_id_len;
};

/* Parses a HELLO payload; returns NULL or the reason it is malformed. */
static const char *parse_hello(const uint8_t *payload, size_t len, uint64_t group_id,
			       struct hello *h)
{
	struct sl__rd r;
	sl__rd_init(&r, payload, len);
	uint32_t magic = sl__rd_u32(&r);
	h->version = sl__rd_u16(&r);
	uint16_t flags = sl__rd_u16(&r);
	h->sender = sl__rd_u64(&r);
	h->receiver = sl__rd_u64(&r);
	h->cluster_id_len = sl__rd_u16(&r);
	h->cluster_id = sl__rd_bytes(&r, h->cluster_id_len);
	if (r.bad) {
		return "hello_truncated";
	}
	if (magic != SL__HELLO_MAGIC || flags != 0 || group_id != 0 || r.left != 0 ||
	    h->cluster_id_len == 0 || h->cluster_id_len > SL_TRANSPORT_CLUSTER_ID_BYTES_MAX) {
		return "hello_malformed";
	}
	return NULL;
}

/* ---- liveness ----------------------------------------------------------- */

static void on_ping_written(uv_write_t *req, int status)
{
	struct sl__conn *c = SL__CONTAINER_OF(req, struct sl__conn, ping_req);
	c->ping_inflight = false;
	if (status < 0 && c->state != SL__CONN_CLOSING) {
		sl__conn_close(c, false, "ping write failed: %s", uv_err_name(status));
	}
}

/* Writes one PING unless the previous one is still queued in libuv (then the
 * socket is not draining and another would only pile up); false if c was
 * closed. Written on its own, outside the control queue, so the queue's
 * bounds and drop policy never touch it. */
static bool send_ping(struct sl__conn *c)
{
	struct sl__transport *t = c->t;
	if (c->ping_inflight) {
		return true;
	}
	sl__frame_header(c->ping, 0, SL_TRANSPORT_FRAME_PING, 0);
	uv_buf_t buf = uv_buf_init((char *)c->ping, SL_TRANSPORT_FRAME_HEADER_BYTES);
	int rv = uv_write(&c->ping_req, (uv_stream_t *)&c->tcp, &buf, 1, on_ping_written);
	if (rv != 0) {
		sl__conn_close(c, false, "ping write failed: %s", uv_err_name(rv));
		return false;
	}
	c->ping_inflight = true;
	t->stats.pings_sent++;
	t->stats.bytes_sent += SL_TRANSPORT_FRAME_HEADER_BYTES;
	return true;
}

static void liveness_arm(struct sl__conn *c, uint64_t now);

/* The liveness timer: closes a connection silent for idle_timeout_ms, sends
 * the PING that is due, and re-arms itself for the earlier of the next PING
 * and the silence deadline. */
static void on_liveness(uv_timer_t *timer)
{
	struct sl__conn *c = timer->data;
	struct sl__transport *t = c->t;
	if (c->state != SL__CONN_UP) {
		return;
	}
	uint64_t now = uv_now(t->loop);
	uint64_t idle = t->config.idle_timeout_ms;
	uint64_t interval = idle / 4;
	if (now > c->check_at_ms + interval && now - c->last_rx_ms + interval > idle) {
		/* Our own loop stalled: what the peer sent meanwhile may still sit
		 * unread in the socket, so judge it one PING interval later. */
		c->last_rx_ms = now + interval - idle;
	}
	if (now - c->last_rx_ms >= idle) {
		t->stats.idle_timeouts++;
		sl__conn_close(c, false, "idle_timeout: nothing received for %" PRIu64 " ms",
			       now - c->last_rx_ms);
		return;
	}
	if (now >= c->next_ping_ms) {
		if (!send_ping(c)) {
			return;
		}
		c->next_ping_ms = now + interval;
	}
	liveness_arm(c, now);
}

static void liveness_arm(struct sl__conn *c, uint64_t now)
{
	uint64_t due = c->last_rx_ms + c->t->config.idle_timeout_ms;
	if (c->next_ping_ms < due) {
		due = c->next_ping_ms;
	}
	c->check_at_ms = due > now ? due : now;
	uv_timer_start(&c->timer, on_liveness, c->check_at_ms - now, 0);
}

/* Makes c the established connection of p. */
static void conn_established(struct sl__conn *c, struct sl__peer *p)
{
	c->state = SL__CONN_UP;
	uv_timer_stop(&c->timer);
	if (c->t->config.idle_timeout_ms != 0) {
		uint64_t now = uv_now(c->t->loop);
		c->last_rx_ms = now;
		c->next_ping_ms = now + c->t->config.idle_timeout_ms / 4;
		liveness_arm(c, now);
	}
	sl__peer_conn_up(p); /* runs the peer callback */
}

static void accept_hello(struct sl__conn *c, uint64_t sender)
{
	struct sl__transport *t = c->t;
	if (sender >= t->self_id) {
		sl__conn_close(c, true, "wrong_dial_direction: %" PRIu64 " must be dialed by us",
			       sender);
		return;
	}
	struct sl__peer *p = sl__peer_find(t, sender);
	if (p != NULL && p->conn != NULL) {
		/* The dialer only dials without a connection: the old one is dead. */
		sl__conn_close(p->conn, false, "replaced by a new connection from the peer");
		if (c->state == SL__CONN_CLOSING) {
			return; /* the peer callback closed the transport */
		}
		p = sl__peer_find(t, sender); /* the peer callback may have removed it */
	}
	if (p == NULL) {
		sl__conn_close(c, true, "unknown_peer");
		return;
	}
	c->pending_counted = false;
	t->n_inbound_pending--;
	c->peer = p;
	p->conn = c;
	if (send_hello(c, sender)) {
		conn_established(c, p);
	}
}

static void handle_hello(struct sl__conn *c, uint64_t group_id, const uint8_t *payload, size_t len)
{
	struct sl__transport *t = c->t;
	struct hello h;
	const char *bad = parse_hello(payload, len, group_id, &h);
	if (bad != NULL) {
		sl__conn_close(c, true, "%s", bad);
		return;
	}
	c->claimed_id = h.sender;
	if (h.version != SL_TRANSPORT_WIRE_VERSION) {
		sl__conn_close(c, true, "version_mismatch theirs=%u ours=%u", h.version,
			       SL_TRANSPORT_WIRE_VERSION);
		return;
	}
	if (h.cluster_id_len != t->cluster_id_len ||
	    memcmp(h.cluster_id, t->cluster_id, t->cluster_id_len) != 0) {
		char theirs[SL_TRANSPORT_CLUSTER_ID_BYTES_MAX + 1];
		for (size_t i = 0; i < h.cluster_id_len; i++) {
			uint8_t ch = h.cluster_id[i];
			theirs[i] = (ch >= 0x21 && ch < 0x7F && ch != '"') ? (char)ch : '?';
		}
		theirs[h.cluster_id_len] = '\0';
		sl__conn_close(c, true, "cluster_id_mismatch theirs=%s ours=%s", theirs,
			       t->cluster_id);
		return;
	}
	if (h.receiver != t->self_id) {
		sl__conn_close(c, true, "wrong_receiver: peer thinks we are %" PRIu64, h.receiver);
		return;
	}
	if (c->inbound) {
		accept_hello(c, h.sender);
	} else if (h.sender != c->peer->id) {
		sl__conn_close(c, true, "wrong_peer: expected %" PRIu64, c->peer->id);
	} else {
		conn_established(c, c->peer);
	}
}

static void on_handshake_timeout(uv_timer_t *timer)
{
	struct sl__conn *c = timer->data;
	if (c->state != SL__CONN_UP && c->state != SL__CONN_CLOSING) {
		sl__conn_close(c, c->inbound, "handshake_timeout after %" PRIu32 " ms",
			       c->t->config.handshake_timeout_ms);
	}
}

/* ---- reading ----------------------------------------------------------- */

struct frame_header {
	uint32_t len; /* bytes after the length field */
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint64_t group_id;
};

/* Checks a frame header against the limits and the connection state; on
 * failure writes the reason into why and returns false. */
static bool check_header(const struct sl__conn *c, const uint8_t *b, struct frame_header *h,
			 char *why, size_t why_len)
{
	h->len = sl__get_be32(b);
	h->version = b[4];
	h->type = b[5];
	h->flags = (uint16_t)(b[6] << 8 | b[7]);
	h->group_id = sl__get_be64(b + 8);
	uint64_t total = 4 + (uint64_t)h->len;
	const char *bad = NULL;
	if (total < SL_TRANSPORT_FRAME_HEADER_BYTES) {
		bad = "frame_too_short";
	} else if (total > c->t->config.frame_bytes_max) {
		bad = "frame_too_big";
	} else if (h->version != SL_TRANSPORT_WIRE_VERSION) {
		bad = "bad_frame_version";
	} else if (h->flags != 0) {
		bad = "bad_frame_flags";
	} else if (h->type < SL_TRANSPORT_FRAME_HELLO || h->type > SL_TRANSPORT_FRAME_PING) {
		bad = "unknown_frame_type";
	} else if (h->type == SL_TRANSPORT_FRAME_PING &&
		   (total != SL_TRANSPORT_FRAME_HEADER_BYTES || h->group_id != 0)) {
		bad = "bad_ping";
	} else if (h->type == SL_TRANSPORT_FRAME_HELLO && total > SL__HELLO_FRAME_BYTES_MAX) {
		bad = "hello_too_big";
	} else if (c->state != SL__CONN_UP && h->type != SL_TRANSPORT_FRAME_HELLO) {
		bad = "frame_before_hello";
	} else if (c->state == SL__CONN_UP && h->type == SL_TRANSPORT_FRAME_HELLO) {
		bad = "unexpected_hello";
	}
	if (bad == NULL) {
		return true;
	}
	snprintf(why, why_len, "%s len=%" PRIu64 " version=%u type=%u flags=%u", bad, total,
		 h->version, h->type, h->flags);
	return false;
}

static void deliver(struct sl__conn *c, const struct frame_header *h, const uint8_t *payload,
		    size_t len)
{
	struct sl__transport *t = c->t;
	if (h->type == SL_TRANSPORT_FRAME_HELLO) {
		handle_hello(c, h->group_id, payload, len);
		return;
	}
	if (h->type == SL_TRANSPORT_FRAME_PING) {
		return; /* its bytes already refreshed last_rx_ms */
	}
	struct sl_transport_frame frame = {
	    .peer_id = c->peer->id,
	    .group_id = h->group_id,
	    .type = (enum sl_transport_frame_type)h->type,
	    .payload = payload,
	    .payload_len = len,
	};
	t->stats.frames_received++;
	t->delivering = c;
	t->cbs.recv(t->pub, &frame);
	t->delivering = NULL;
	if (c->poison != NULL && c->state != SL__CONN_CLOSING) {
		sl__conn_close(c, true, "%s", c->poison);
	}
}

/* Delivers every complete frame in the receive buffer, then keeps the partial
 * tail and sizes the buffer for the frame it belongs to. */
static void parse(struct sl__conn *c)
{
	size_t off = 0;
	size_t need = 0;
	char why[160];
	while (c->state != SL__CONN_CLOSING) {
		size_t avail = c->rx_len - off;
		if (avail < SL_TRANSPORT_FRAME_HEADER_BYTES) {
			break;
		}
		struct frame_header h;
		if (!check_header(c, c->rx + off, &h, why, sizeof(why))) {
			sl__conn_close(c, true, "%s", why);
			return;
		}
		size_t total = 4 + (size_t)h.len;
		if (avail < total) {
			need = total;
			break;
		}
		deliver(c, &h, c->rx + off + SL_TRANSPORT_FRAME_HEADER_BYTES,
			total - SL_TRANSPORT_FRAME_HEADER_BYTES);
		off += total;
	}
	if (c->state == SL__CONN_CLOSING) {
		return;
	}
	if (off > 0) {
		memmove(c->rx, c->rx + off, c->rx_len - off);
		c->rx_len -= off;
	}
	size_t base = rx_base_bytes(c->t);
	size_t want = need > c->rx_cap ? need : (c->rx_len == 0 && c->rx_cap > base ? base : 0);
	if (want != 0) {
		uint8_t *rx = sl_realloc(c->rx, want);
		if (rx == NULL) {
			sl__conn_close(c, false, "out of memory for a %zu-byte frame", want);
			return;
		}
		c->rx = rx;
		c->rx_cap = want;
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct sl__conn *c = h->data;
	(void)suggested;
	SL_ASSERT(c->rx_cap > c->rx_len);
	*buf = uv_buf_init((char *)c->rx + c->rx_len, (unsigned)(c->rx_cap - c->rx_len));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct sl__conn *c = stream->data;
	(void)buf;
	if (c->state == SL__CONN_CLOSING || nread == 0) {
		return;
	}
	if (nread < 0) {
		if (nread == UV_EOF && c->rx_len > 0) {
			sl__conn_close(c, true,
				       "truncated_frame: stream ended %zu bytes into a frame",
				       c->rx_len);
		} else {
			sl__conn_close(c, false, "%s",
				       nread == UV_EOF ? "end of stream" : uv_err_name((int)nread));
		}
		return;
	}
	c->rx_len += (size_t)nread;
	c->last_rx_ms = uv_now(c->t->loop);
	c->t->stats.bytes_received += (uint64_t)nread;
	parse(c);
}

/* Keepalive and TCP_USER_TIMEOUT in line with idle_timeout_ms (see LIVENESS
 * in transport.h). Best effort: a socket option the platform refuses leaves
 * the application-level detector in charge. */
static void set_socket_timeouts(struct sl__conn *c)
{
	uint32_t idle_ms = c->t->config.idle_timeout_ms;
	if (idle_ms == 0) {
		uv_tcp_keepalive(&c->tcp, 1, 30);
		return;
	}
	unsigned idle_s = (idle_ms + 999) / 1000;
	uv_tcp_keepalive(&c->tcp, 1, idle_s);
#if defined(__linux__)
	uv_os_fd_t fd;
	if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0) {
		int intvl = 1;
		int cnt = 3;
		unsigned int user_timeout = idle_ms;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
		(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
		(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
				 sizeof(user_timeout));
	}
#endif
}

/* Allocates the receive buffer and starts reading; false if c was closed. */
static bool start_reading(struct sl__conn *c)
{
	c->rx_cap = rx_base_bytes(c->t);
	c->rx = sl_malloc(c->rx_cap);
	if (c->rx == NULL) {
		sl__conn_close(c, false, "out of memory for the receive buffer");
		return false;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	set_socket_timeouts(c);
	int rv = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (rv != 0) {
		sl__conn_close(c, false, "read start failed: %s", uv_err_name(rv));
		return false;
	}
	return true;
}

/* ---- dialing and accepting ----------------------------------------------- */

static void on_connect(uv_connect_t *req, int status)
{
	struct sl__conn *c = SL__CONTAINER_OF(req, struct sl__conn, connect_req);
	if (c->state == SL__CONN_CLOSING) {
		return;
	}
	if (status < 0) {
		sl__conn_close(c, false, "connect failed: %s", uv_err_name(status));
		return;
	}
	c->state = SL__CONN_HANDSHAKE;
	if (start_reading(c)) {
		send_hello(c, c->peer->id);
	}
}

/* Starts a connection attempt to p at ss. Failures after the connection
 * object exists are handled by closing it (which schedules the reconnect), so
 * only an allocation failure is returned. */
static int conn_connect(struct sl__peer *p, const struct sockaddr_storage *ss)
{
	struct sl__transport *t = p->t;
	struct sl__conn *c = conn_new(t, false);
	if (c == NULL) {
		return SL_TRANSPORT_ENOMEM;
	}
	c->peer = p;
	c->claimed_id = p->id;
	p->conn = c;
	format_addr((const struct sockaddr *)ss, c->remote, sizeof(c->remote));
	t->stats.connections_dialed++;
	uv_timer_start(&c->timer, on_handshake_timeout, t->config.handshake_timeout_ms, 0);
	int rv = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)ss, on_connect);
	if (rv != 0) {
		sl__conn_close(c, false, "connect failed: %s", uv_err_name(rv));
	}
	return 0;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct sl__resolve *r = SL__CONTAINER_OF(req, struct sl__resolve, req);
	struct sl__transport *t = r->t;
	struct sl__peer *p = r->peer;
	if (p != NULL) {
		p->resolve = NULL;
		if (status < 0 || res == NULL) {
			SL_LOG(SL_LOG_WARN,
			       SL__LOG_PREFIX " self=%" PRIu64 " peer=%" PRIu64
					      " event=resolve_failed host=%s error=%s",
			       t->self_id, p->id, p->host,
			       status < 0 ? uv_err_name(status) : "none");
			t->stats.connect_failures++;
			sl__peer_schedule_reconnect(p);
		} else {
			/* Successive attempts rotate through the addresses, so a name
			 * that resolves to ::1 and 127.0.0.1 reaches whichever
			 * listens. */
			unsigned count = 0;
			for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
				count++;
			}
			struct addrinfo *pick = res;
			for (unsigned i = p->addr_rotation++ % count; i > 0; i--) {
				pick = pick->ai_next;
			}
			struct sockaddr_storage ss;
			memset(&ss, 0, sizeof(ss));
			memcpy(&ss, pick->ai_addr, SL_MIN((size_t)pick->ai_addrlen, sizeof(ss)));
			if (conn_connect(p, &ss) != 0) {
				sl__peer_schedule_reconnect(p);
			}
		}
	}
	uv_freeaddrinfo(res);
	sl_free(r);
	sl__transport_unref(t);
}

void sl__resolve_detach(struct sl__resolve *r)
{
	r->peer = NULL;
	uv_cancel((uv_req_t *)&r->req); /* best effort; the callback frees r */
}

int sl__conn_dial(struct sl__peer *p)
{
	struct sl__transport *t = p->t;
	struct sockaddr_storage ss;
	SL_ASSERT(p->conn == NULL && p->resolve == NULL);
	if (sl__parse_numeric(p->host, p->port, &ss) == 0) {
		return conn_connect(p, &ss);
	}
	struct sl__resolve *r = sl_calloc(1, sizeof(*r));
	if (r == NULL) {
		return SL_TRANSPORT_ENOMEM;
	}
	r->t = t;
	r->peer = p;
	char port[8];
	snprintf(port, sizeof(port), "%u", p->port);
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int rv = uv_getaddrinfo(t->loop, &r->req, on_resolved, p->host, port, &hints);
	if (rv != 0) {
		sl_free(r);
		snprintf(t->errmsg, sizeof(t->errmsg), "resolve %s: %s", p->host, uv_err_name(rv));
		return SL_TRANSPORT_EUV;
	}
	p->resolve = r;
	t->live++;
	return 0;
}

/* Accepts the connection libuv is holding; false if out of memory (libuv then
 * stops polling the listener until uv_accept() is called, so the caller
 * retries from a timer). */
static bool accept_one(struct sl__transport *t)
{
	struct sl__conn *c = conn_new(t, true);
	if (c == NULL) {
		return false;
	}
	int rv = uv_accept((uv_stream_t *)&t->listener, (uv_stream_t *)&c->tcp);
	if (rv != 0) {
		sl__conn_close(c, false, "accept failed: %s", uv_err_name(rv));
		return true;
	}
	t->stats.connections_accepted++;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		format_addr((const struct sockaddr *)&ss, c->remote, sizeof(c->remote));
	}
	if (t->n_inbound_pending >= t->config.inbound_pending_max) {
		t->stats.inbound_rejected++;
		sl__conn_close(c, false, "too many connections awaiting a handshake (%" PRIu32 ")",
			       t->config.inbound_pending_max);
		return true;
	}
	t->n_inbound_pending++;
	c->pending_counted = true;
	uv_timer_start(&c->timer, on_handshake_timeout, t->config.handshake_timeout_ms, 0);
	start_reading(c);
	return true;
}

static void accept_retry(uv_timer_t *timer)
{
	struct sl__transport *t = timer->data;
	if (!t->closing && !accept_one(t)) {
		uv_timer_start(timer, accept_retry, SL__ACCEPT_RETRY_MS, 0);
	}
}

void sl__conn_on_connection(uv_stream_t *server, int status)
{
	struct sl__transport *t = server->data;
	if (status < 0 || t->closing) {
		SL_LOG(SL_LOG_WARN, SL__LOG_PREFIX " self=%" PRIu64 " event=accept_failed error=%s",
		       t->self_id, status < 0 ? uv_err_name(status) : "closing");
		return;
	}
	if (!accept_one(t)) {
		SL_LOG(SL_LOG_ERROR,
		       SL__LOG_PREFIX " self=%" PRIu64
				      " event=accept_deferred error=ENOMEM retry_ms=%u",
		       t->self_id, SL__ACCEPT_RETRY_MS);
		uv_timer_start(&t->accept_retry, accept_retry, SL__ACCEPT_RETRY_MS, 0);
	}
}
