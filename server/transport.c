/* Inter-broker transport: public API, peers, control and bulk queues,
 * per-iteration flushing, reconnect backoff and shutdown. Sockets, handshake
 * and framing are in transport_conn.c; the contract is in transport.h.
 *
 * Happy path. sl_transport_init() prepares the state and a uv_prepare handle;
 * sl_transport_listen() binds; sl_transport_add_peer() registers a broker and,
 * if its id is higher, dials it. Sends append frames to the peer's queue and
 * mark the peer dirty; the prepare handle, which runs once per loop iteration
 * just before the loop blocks for I/O, flushes every dirty peer with one
 * control write (and, when no control frame waits, one bulk chunk), then stops
 * itself until something is queued again.
 *
 * Failure modes. A lost connection reports the peer down, discards its queue
 * and, on the dialing side, arms the peer's reconnect timer with the next
 * backoff delay; a failed attempt only re-arms the timer. Allocation failures
 * in sends return SL_TRANSPORT_ENOMEM and leave the queues unchanged; in a
 * flush they drop the frames concerned (counted), since Raft resends. Close
 * tears everything down through libuv close callbacks and reports completion
 * only once the last one has run. */
#include "server/transport.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/rpc_bytes.h"
#include "server/transport_int.h"

const char *sl_transport_strerror(int rv)
{
	switch (rv) {
#define SL_TRANSPORT_ERR_TEXT(name, value, text)                                                   \
	case value:                                                                                \
		return text;
		SL_TRANSPORT_ERRORS(SL_TRANSPORT_ERR_TEXT)
#undef SL_TRANSPORT_ERR_TEXT
	default:
		return sl_rpc_strerror(rv);
	}
}

const char *sl_transport_err_name(int rv)
{
	switch (rv) {
#define SL_TRANSPORT_ERR_NAME(name, value, text)                                                   \
	case value:                                                                                \
		return #name;
		SL_TRANSPORT_ERRORS(SL_TRANSPORT_ERR_NAME)
#undef SL_TRANSPORT_ERR_NAME
	default:
		return rv > -100 && rv < 0 ? sl_rpc_err_name(rv) : "SL_TRANSPORT_UNKNOWN";
	}
}

void sl_transport_config_init(struct sl_transport_config *config)
{
	memset(config, 0, sizeof(*config));
	config->frame_bytes_max = SL_TRANSPORT_FRAME_BYTES_MAX_DEFAULT;
	config->control_queue_bytes_max = SL_TRANSPORT_CONTROL_QUEUE_BYTES_MAX_DEFAULT;
	config->control_queue_count_max = SL_TRANSPORT_CONTROL_QUEUE_COUNT_MAX_DEFAULT;
	config->bulk_chunk_bytes_max = SL_TRANSPORT_BULK_CHUNK_BYTES_MAX_DEFAULT;
	config->bulk_queue_count_max = SL_TRANSPORT_BULK_QUEUE_COUNT_MAX_DEFAULT;
	config->peers_max = SL_TRANSPORT_PEERS_MAX_DEFAULT;
	config->inbound_pending_max = SL_TRANSPORT_INBOUND_PENDING_MAX_DEFAULT;
	config->handshake_timeout_ms = SL_TRANSPORT_HANDSHAKE_TIMEOUT_MS_DEFAULT;
	config->backoff_base_ms = SL_TRANSPORT_BACKOFF_BASE_MS_DEFAULT;
	config->backoff_max_ms = SL_TRANSPORT_BACKOFF_MAX_MS_DEFAULT;
	config->idle_timeout_ms = SL_TRANSPORT_IDLE_TIMEOUT_MS_DEFAULT;
}

/* Returns NULL if the configuration is usable, else the reason. */
static const char *config_problem(const struct sl_transport_config *c)
{
	if (c->cluster_id == NULL || c->cluster_id[0] == '\0' ||
	    strlen(c->cluster_id) > SL_TRANSPORT_CLUSTER_ID_BYTES_MAX) {
		return "cluster_id must be 1..64 bytes";
	}
	if (c->frame_bytes_max > SL_TRANSPORT_FRAME_BYTES_LIMIT) {
		return "frame_bytes_max above SL_TRANSPORT_FRAME_BYTES_LIMIT";
	}
	if (c->bulk_chunk_bytes_max == 0 ||
	    c->frame_bytes_max <
		(uint64_t)c->bulk_chunk_bytes_max + SL_TRANSPORT_FRAME_HEADER_BYTES) {
		return "frame_bytes_max below bulk_chunk_bytes_max + header";
	}
	if (c->control_queue_bytes_max < c->frame_bytes_max || c->control_queue_count_max == 0) {
		return "control queue must hold at least one largest frame";
	}
	if (c->bulk_queue_count_max == 0 || c->inbound_pending_max == 0 ||
	    c->handshake_timeout_ms == 0) {
		return "bulk_queue_count_max, inbound_pending_max and handshake_timeout_ms must be "
		       "> 0";
	}
	if (c->peers_max == 0 || c->peers_max > SL_TRANSPORT_PEERS_LIMIT) {
		return "peers_max out of range";
	}
	if (c->backoff_base_ms == 0 || c->backoff_max_ms < c->backoff_base_ms) {
		return "need 1 <= backoff_base_ms <= backoff_max_ms";
	}
	if (c->idle_timeout_ms != 0 && c->idle_timeout_ms < SL_TRANSPORT_IDLE_TIMEOUT_MS_MIN) {
		return "idle_timeout_ms must be 0 (off) or at least "
		       "SL_TRANSPORT_IDLE_TIMEOUT_MS_MIN";
	}
	return NULL;
}

__attribute__((format(printf, 2, 3))) static void set_errmsg(struct sl__transport *t,
							     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->errmsg, sizeof(t->errmsg), fmt, ap);
	va_end(ap);
}

/* ---- backoff ----------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

void sl_transport_backoff_init(struct sl_transport_backoff *b, uint32_t base_ms, uint32_t max_ms,
			       uint64_t seed, uint64_t stream)
{
	SL_ASSERT(base_ms >= 1 && max_ms >= base_ms);
	b->base_ms = base_ms;
	b->max_ms = max_ms;
	b->attempt = 0;
	b->rng_state = splitmix64(seed ^ splitmix64(stream));
	if (b->rng_state == 0) {
		b->rng_state = 0x9E3779B97F4A7C15ULL;
	}
	b->rng_origin = b->rng_state;
}

uint64_t sl_transport_backoff_stream(uint64_t self_id, uint64_t peer_id)
{
	return splitmix64(self_id) ^ peer_id;
}

uint64_t sl_transport_backoff_nominal_ms(const struct sl_transport_backoff *b, uint32_t attempt)
{
	if (attempt >= 32) {
		return b->max_ms;
	}
	uint64_t v = (uint64_t)b->base_ms << attempt;
	return v < b->max_ms ? v : b->max_ms;
}

uint64_t sl_transport_backoff_next_ms(struct sl_transport_backoff *b)
{
	uint64_t nominal = sl_transport_backoff_nominal_ms(b, b->attempt);
	if (b->attempt < UINT32_MAX) {
		b->attempt++;
	}
	/* xorshift64* */
	uint64_t x = b->rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	b->rng_state = x;
	uint64_t r = x * 0x2545F4914F6CDD1DULL;
	uint64_t lo = nominal / 2;
	return lo + r % (nominal - lo + 1);
}

void sl_transport_backoff_reset(struct sl_transport_backoff *b)
{
	b->attempt = 0;
	b->rng_state = b->rng_origin;
}

/* ---- init, listen ------------------------------------------------------ */

int sl_transport_init(struct sl_transport *pub, uv_loop_t *loop, uint64_t self_id,
		      const char *listen_host, uint16_t listen_port,
		      const struct sl_transport_config *config,
		      const struct sl_transport_callbacks *callbacks)
{
	if (pub == NULL || loop == NULL || self_id == 0 || listen_host == NULL || config == NULL ||
	    callbacks == NULL || callbacks->recv == NULL) {
		return SL_TRANSPORT_EINVAL;
	}
	const char *problem = config_problem(config);
	if (problem == NULL &&
	    strlen(listen_host) >= sizeof(((struct sl__transport *)0)->listen_host)) {
		problem = "listen host too long";
	}
	if (problem != NULL) {
		SL_LOG(SL_LOG_ERROR,
		       SL__LOG_PREFIX " self=%" PRIu64 " event=config_invalid reason=\"%s\"",
		       self_id, problem);
		return SL_TRANSPORT_EINVAL;
	}
	struct sl__transport *t = sl_calloc(1, sizeof(*t));
	if (t == NULL) {
		return SL_TRANSPORT_ENOMEM;
	}
	t->pub = pub;
	t->loop = loop;
	t->self_id = self_id;
	t->config = *config;
	if (t->config.entry_bytes_max == 0) {
		t->config.entry_bytes_max = t->config.frame_bytes_max;
	}
	t->cluster_id_len = strlen(config->cluster_id);
	memcpy(t->cluster_id, config->cluster_id, t->cluster_id_len + 1);
	t->config.cluster_id = t->cluster_id;
	t->cbs = *callbacks;
	snprintf(t->listen_host, sizeof(t->listen_host), "%s", listen_host);
	t->listen_port = listen_port;
	sl__list_init(&t->peers);
	sl__list_init(&t->conns);
	sl__list_init(&t->dirty);
	int rv = uv_prepare_init(loop, &t->prepare);
	if (rv != 0) {
		sl_free(t);
		return SL_TRANSPORT_EINVAL;
	}
	t->prepare.data = t;
	t->live = 1;
	pub->impl = t;
	return 0;
}

int sl__parse_numeric(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0) {
		return 0;
	}
	if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0) {
		return 0;
	}
	return SL_TRANSPORT_EADDR;
}

static void on_handle_closed(uv_handle_t *h)
{
	sl__transport_unref(h->data);
}

int sl_transport_listen(struct sl_transport *pub)
{
	struct sl__transport *t = pub->impl;
	struct sockaddr_storage ss;
	if (t->closing) {
		return SL_TRANSPORT_ECLOSED;
	}
	if (t->listener_init) {
		return SL_TRANSPORT_EINVAL;
	}
	if (sl__parse_numeric(t->listen_host, t->listen_port, &ss) != 0) {
		set_errmsg(t, "listen %s: not a numeric address", t->listen_host);
		return SL_TRANSPORT_EADDR;
	}
	int rv = uv_tcp_init(t->loop, &t->listener);
	if (rv != 0) {
		set_errmsg(t, "listen %s:%u: tcp init: %s", t->listen_host, t->listen_port,
			   uv_err_name(rv));
		return SL_TRANSPORT_EUV;
	}
	uv_timer_init(t->loop, &t->accept_retry);
	t->listener_init = true;
	t->listener.data = t;
	t->accept_retry.data = t;
	t->live += 2;
	const char *step = "bind";
	rv = uv_tcp_bind(&t->listener, (const struct sockaddr *)&ss, 0);
	if (rv == 0) {
		step = "listen";
		rv = uv_listen((uv_stream_t *)&t->listener, SL__LISTEN_BACKLOG,
			       sl__conn_on_connection);
	}
	int len = sizeof(ss);
	if (rv == 0) {
		step = "getsockname";
		rv = uv_tcp_getsockname(&t->listener, (struct sockaddr *)&ss, &len);
	}
	if (rv != 0) {
		set_errmsg(t, "listen %s:%u: %s: %s", t->listen_host, t->listen_port, step,
			   uv_err_name(rv));
		SL_LOG(SL_LOG_ERROR,
		       SL__LOG_PREFIX " self=%" PRIu64 " event=listen_failed error=\"%s\"",
		       t->self_id, t->errmsg);
		return SL_TRANSPORT_EUV;
	}
	t->bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						       : ((struct sockaddr_in *)&ss)->sin_port);
	SL_LOG(SL_LOG_INFO, SL__LOG_PREFIX " self=%" PRIu64 " event=listening address=%s port=%u",
	       t->self_id, t->listen_host, t->bound_port);
	return 0;
}

uint16_t sl_transport_port(const struct sl_transport *pub)
{
	return pub->impl == NULL ? 0 : pub->impl->bound_port;
}

/* ---- peers ------------------------------------------------------------- */

struct sl__peer *sl__peer_find(struct sl__transport *t, uint64_t id)
{
	/* Linear: peers_max is small and this is far cheaper than a send. */
	for (struct sl__list *n = t->peers.next; n != &t->peers; n = n->next) {
		struct sl__peer *p = SL__CONTAINER_OF(n, struct sl__peer, node);
		if (p->id == id) {
			return p;
		}
	}
	return NULL;
}

static struct sl__peer *peer_new(struct sl__transport *t, uint64_t id, const char *host,
				 uint16_t port)
{
	struct sl__peer *p = sl_calloc(1, sizeof(*p));
	if (p == NULL) {
		return NULL;
	}
	size_t addr_len = strlen(host) + 16;
	p->host = sl_strdup(host);
	p->address = sl_malloc(addr_len);
	if (p->host == NULL || p->address == NULL) {
		sl_free(p->host);
		sl_free(p->address);
		sl_free(p);
		return NULL;
	}
	bool v6 = strchr(host, ':') != NULL;
	snprintf(p->address, addr_len, v6 ? "[%s]:%u" : "%s:%u", host, port);
	p->t = t;
	p->id = id;
	p->port = port;
	p->dialer = t->self_id < id;
	sl__list_init(&p->dirty);
	sl__list_init(&p->ctl_queue);
	sl_transport_backoff_init(&p->backoff, t->config.backoff_base_ms, t->config.backoff_max_ms,
				  t->config.backoff_seed,
				  sl_transport_backoff_stream(t->self_id, id));
	return p;
}

int sl_transport_add_peer(struct sl_transport *pub, uint64_t peer_id, const char *host,
			  uint16_t port)
{
	struct sl__transport *t = pub->impl;
	if (t->closing) {
		return SL_TRANSPORT_ECLOSED;
	}
	if (peer_id == 0 || peer_id == t->self_id || host == NULL || host[0] == '\0' || port == 0) {
		return SL_TRANSPORT_EINVAL;
	}
	if (sl__peer_find(t, peer_id) != NULL) {
		return SL_TRANSPORT_EEXIST;
	}
	if (t->n_peers >= t->config.peers_max) {
		return SL_TRANSPORT_ETOOMANY;
	}
	struct sl__peer *p = peer_new(t, peer_id, host, port);
	if (p == NULL) {
		return SL_TRANSPORT_ENOMEM;
	}
	uv_timer_init(t->loop, &p->timer); /* cannot fail for a valid loop */
	p->timer.data = p;
	t->live++;
	sl__list_push(&t->peers, &p->node);
	t->n_peers++;
	SL_LOG(SL_LOG_INFO,
	       SL__LOG_PREFIX " self=%" PRIu64 " peer=%" PRIu64
			      " event=peer_added address=%s role=%s",
	       t->self_id, peer_id, p->address, p->dialer ? "dialer" : "acceptor");
	if (p->dialer && sl__conn_dial(p) != 0) {
		sl__peer_schedule_reconnect(p);
	}
	return 0;
}

static void drop_queue(struct sl__peer *p)
{
	struct sl__transport *t = p->t;
	while (!sl__list_empty(&p->ctl_queue)) {
		struct sl__list *n = p->ctl_queue.next;
		sl__list_remove(n);
		sl_free(SL__CONTAINER_OF(n, struct sl__frame, node));
		t->stats.control_dropped++;
		p->ctl_dropped++;
	}
	p->ctl_count = 0;
	p->ctl_bytes = 0;
}

static void on_peer_timer_closed(uv_handle_t *h)
{
	struct sl__peer *p = h->data;
	struct sl__transport *t = p->t;
	sl_free(p->host);
	sl_free(p->address);
	sl_free(p);
	sl__transport_unref(t);
}

/* Unlinks p, detaches its connection and resolver, frees its queue and starts
 * closing its timer (whose callback frees p). */
static void peer_remove(struct sl__peer *p)
{
	struct sl__transport *t = p->t;
	sl__list_remove(&p->node);
	sl__list_remove(&p->dirty);
	t->n_peers--;
	p->removed = true;
	struct sl__conn *c = p->conn;
	if (c != NULL) {
		p->conn = NULL;
		c->peer = NULL;
		if (c->state == SL__CONN_UP) {
			t->stats.peers_up--;
		}
		sl__conn_close(c, false, "%s", t->closing ? "transport closing" : "peer removed");
	}
	if (p->resolve != NULL) {
		sl__resolve_detach(p->resolve);
		p->resolve = NULL;
	}
	drop_queue(p);
	uv_close((uv_handle_t *)&p->timer, on_peer_timer_closed);
}

int sl_transport_remove_peer(struct sl_transport *pub, uint64_t peer_id)
{
	struct sl__transport *t = pub->impl;
	if (t->closing) {
		return SL_TRANSPORT_ECLOSED;
	}
	struct sl__peer *p = sl__peer_find(t, peer_id);
	if (p == NULL) {
		return SL_TRANSPORT_ENOPEER;
	}
	SL_LOG(SL_LOG_INFO, SL__LOG_PREFIX " self=%" PRIu64 " peer=%" PRIu64 " event=peer_removed",
	       t->self_id, peer_id);
	peer_remove(p);
	return 0;
}

/* ---- flushing ---------------------------------------------------------- */

static void on_prepare(uv_prepare_t *h)
{
	struct sl__transport *t = h->data;
	while (!sl__list_empty(&t->dirty)) {
		struct sl__list *n = t->dirty.next;
		sl__list_remove(n);
		struct sl__peer *p = SL__CONTAINER_OF(n, struct sl__peer, dirty);
		if (p->conn != NULL && p->conn->state == SL__CONN_UP) {
			sl__conn_flush(p->conn);
		}
	}
	uv_prepare_stop(h);
}

void sl__peer_mark_dirty(struct sl__peer *p)
{
	struct sl__transport *t = p->t;
	if (t->closing || p->removed || !sl__list_empty(&p->dirty)) {
		return;
	}
	sl__list_push(&t->dirty, &p->dirty);
	uv_prepare_start(&t->prepare, on_prepare);
}

/* ---- connection events ------------------------------------------------- */

void sl__peer_conn_up(struct sl__peer *p)
{
	struct sl__transport *t = p->t;
	t->stats.peers_up++;
	t->stats.handshakes_completed++;
	sl_transport_backoff_reset(&p->backoff);
	SL_LOG(SL_LOG_INFO,
	       SL__LOG_PREFIX " self=%" PRIu64 " peer=%" PRIu64 " event=peer_up queued=%" PRIu32,
	       t->self_id, p->id, p->ctl_count);
	sl__peer_mark_dirty(p);
	if (t->cbs.peer != NULL) {
		t->cbs.peer(t->pub, p->id, true);
	}
}

void sl__peer_conn_lost(struct sl__peer *p, bool was_up)
{
	struct sl__transport *t = p->t;
	if (was_up) {
		t->stats.peers_up--;
		uint64_t dropped = p->ctl_count;
		drop_queue(p);
		SL_LOG(SL_LOG_WARN,
		       SL__LOG_PREFIX " self=%" PRIu64 " peer=%" PRIu64
				      " event=peer_down discarded=%" PRIu64,
		       t->self_id, p->id, dropped);
	} else {
		t->stats.connect_failures++;
	}
	if (p->dialer) {
		sl__peer_schedule_reconnect(p);
	}
	if (was_up && t->cbs.peer != NULL) {
		t->cbs.peer(t->pub, p->id, false);
	}
}

static void on_reconnect(uv_timer_t *timer)
{
	struct sl__peer *p = timer->data;
	if (p->conn != NULL || p->resolve != NULL || p->removed || p->t->closing) {
		return;
	}
	if (sl__conn_dial(p) != 0) {
		sl__peer_schedule_reconnect(p);
	}
}

void sl__peer_schedule_reconnect(struct sl__peer *p)
{
	struct sl__transport *t = p->t;
	if (p->removed || t->closing) {
		return;
	}
	p->last_delay_ms = sl_transport_backoff_next_ms(&p->backoff);
	SL_LOG(SL_LOG_INFO,
	       SL__LOG_PREFIX " self=%" PRIu64 " peer=%" PRIu64
			      " event=reconnect_scheduled attempt=%" PRIu32 " delay_ms=%" PRIu64,
	       t->self_id, p->id, p->backoff.attempt, p->last_delay_ms);
	uv_timer_start(&p->timer, on_reconnect, p->last_delay_ms, 0);
}

/* ---- sends ------------------------------------------------------------- */

void sl__frame_header(uint8_t *hdr, size_t payload_len, enum sl_transport_frame_type type,
		      uint64_t group_id)
{
	sl__put_be32(hdr, (uint32_t)(payload_len + SL_TRANSPORT_FRAME_HEADER_BYTES - 4));
	hdr[4] = SL_TRANSPORT_WIRE_VERSION;
	hdr[5] = (uint8_t)type;
	sl__put_be16(hdr + 6, 0);
	sl__put_be64(hdr + 8, group_id);
}

/* Appends f to p's queue, dropping the oldest frames while it does not fit. */
static void enqueue(struct sl__peer *p, struct sl__frame *f)
{
	struct sl__transport *t = p->t;
	while (p->ctl_count > 0 && (p->ctl_count >= t->config.control_queue_count_max ||
				    p->ctl_bytes + f->len > t->config.control_queue_bytes_max)) {
		struct sl__list *n = p->ctl_queue.next;
		struct sl__frame *old = SL__CONTAINER_OF(n, struct sl__frame, node);
		sl__list_remove(n);
		p->ctl_count--;
		p->ctl_bytes -= old->len;
		sl_free(old);
		t->stats.control_dropped++;
		p->ctl_dropped++;
	}
	sl__list_push(&p->ctl_queue, &f->node);
	p->ctl_count++;
	p->ctl_bytes += f->len;
	if (p->conn != NULL && p->conn->state == SL__CONN_UP) {
		sl__peer_mark_dirty(p);
	}
}

int sl_transport_send(struct sl_transport *pub, uint64_t peer_id, uint64_t group_id,
		      enum sl_transport_frame_type type, const void *payload, size_t len)
{
	struct sl__transport *t = pub->impl;
	if (t->closing) {
		return SL_TRANSPORT_ECLOSED;
	}
	if ((type != SL_TRANSPORT_FRAME_RAFT && type != SL_TRANSPORT_FRAME_CONTROL) ||
	    (len > 0 && payload == NULL)) {
		return SL_TRANSPORT_EINVAL;
	}
	if (len > t->config.frame_bytes_max - SL_TRANSPORT_FRAME_HEADER_BYTES) {
		return SL_TRANSPORT_ETOOBIG;
	}
	struct sl__peer *p = sl__peer_find(t, peer_id);
	if (p == NULL) {
		return SL_TRANSPORT_ENOPEER;
	}
	struct sl__frame *f = sl_malloc(SL__FRAME_HEADROOM + len);
	if (f == NULL) {
		return SL_TRANSPORT_ENOMEM;
	}
	f->len = SL_TRANSPORT_FRAME_HEADER_BYTES + len;
	sl__frame_header(f->bytes, len, type, group_id);
	if (len > 0) {
		memcpy(f->bytes + SL_TRANSPORT_FRAME_HEADER_BYTES, payload, len);
	}
	enqueue(p, f);
	return 0;
}

int sl_transport_send_raft(struct sl_transport *pub, uint64_t peer_id, uint64_t group_id,
			   const struct raft_message *msg)
{
	struct sl__transport *t = pub->impl;
	if (t->closing) {
		return SL_TRANSPORT_ECLOSED;
	}
	struct sl__peer *p = sl__peer_find(t, peer_id);
	if (p == NULL) {
		return SL_TRANSPORT_ENOPEER;
	}
	uint8_t *buf = NULL;
	size_t total = 0;
	int rv = sl_rpc_encode(msg, SL__FRAME_HEADROOM, &buf, &total);
	if (rv != 0) {
		return rv == SL_RPC_ENOMEM ? SL_TRANSPORT_ENOMEM : rv;
	}
	size_t payload_len = total - SL__FRAME_HEADROOM;
	if (payload_len > t->config.frame_bytes_max - SL_TRANSPORT_FRAME_HEADER_BYTES) {
		sl_free(buf);
		return SL_TRANSPORT_ETOOBIG;
	}
	struct sl__frame *f = (struct sl__frame *)(void *)buf;
	f->len = SL_TRANSPORT_FRAME_HEADER_BYTES + payload_len;
	sl__frame_header(f->bytes, payload_len, SL_TRANSPORT_FRAME_RAFT, group_id);
	enqueue(p, f);
	return 0;
}

int sl_transport_decode_raft(struct sl_transport *pub, const struct sl_transport_frame *frame,
			     struct raft_message *msg)
{
	struct sl__transport *t = pub->impl;
	if (frame == NULL || msg == NULL || frame->type != SL_TRANSPORT_FRAME_RAFT) {
		return SL_TRANSPORT_EINVAL;
	}
	struct sl__peer *p = sl__peer_find(t, frame->peer_id);
	if (p == NULL) {
		return SL_TRANSPORT_ENOPEER;
	}
	struct sl_rpc_limits limits = {.entry_bytes_max = t->config.entry_bytes_max};
	int rv = sl_rpc_decode(frame->payload, frame->payload_len, &limits, msg);
	if (rv != 0) {
		set_errmsg(t, "peer %" PRIu64 " group %" PRIu64 ": raft message: %s", p->id,
			   frame->group_id, sl_rpc_strerror(rv));
		struct sl__conn *c = t->delivering;
		if (rv != SL_RPC_ENOMEM && c != NULL && c->peer == p) {
			c->poison = "malformed_raft_message";
		}
		return rv;
	}
	msg->server_id = p->id;
	msg->server_address = p->address;
	return 0;
}

int sl_transport_send_bulk(struct sl_transport *pub, struct sl_transport_bulk_req *req,
			   uint64_t peer_id, uint64_t group_id, const void *buf, size_t len,
			   sl_transport_bulk_cb cb)
{
	struct sl__transport *t = pub->impl;
	if (t->closing) {
		return SL_TRANSPORT_ECLOSED;
	}
	if (req == NULL || buf == NULL || len == 0 || cb == NULL) {
		return SL_TRANSPORT_EINVAL;
	}
	if (len > t->config.bulk_chunk_bytes_max) {
		return SL_TRANSPORT_ETOOBIG;
	}
	struct sl__peer *p = sl__peer_find(t, peer_id);
	if (p == NULL) {
		return SL_TRANSPORT_ENOPEER;
	}
	struct sl__conn *c = p->conn;
	if (c == NULL || c->state != SL__CONN_UP) {
		return SL_TRANSPORT_ENOTCONN;
	}
	if (c->bulk_outstanding >= t->config.bulk_queue_count_max) {
		return SL_TRANSPORT_EAGAIN;
	}
	req->next_ = NULL;
	req->conn_ = c;
	req->buf_ = buf;
	req->len_ = len;
	req->cb_ = cb;
	sl__frame_header(req->header_, len, SL_TRANSPORT_FRAME_BULK, group_id);
	if (c->bulk_tail == NULL) {
		c->bulk_head = req;
	} else {
		c->bulk_tail->next_ = req;
	}
	c->bulk_tail = req;
	c->bulk_outstanding++;
	sl__peer_mark_dirty(p);
	return 0;
}

/* ---- close, introspection ---------------------------------------------- */

void sl__transport_unref(struct sl__transport *t)
{
	SL_ASSERT(t->live > 0);
	t->live--;
	if (!t->closing || t->live > 0) {
		return;
	}
	struct sl_transport *pub = t->pub;
	sl_transport_close_cb cb = t->close_cb;
	SL_LOG(SL_LOG_INFO, SL__LOG_PREFIX " self=%" PRIu64 " event=closed", t->self_id);
	pub->impl = NULL;
	sl_free(t);
	if (cb != NULL) {
		cb(pub);
	}
}

void sl_transport_close(struct sl_transport *pub, sl_transport_close_cb cb)
{
	struct sl__transport *t = pub->impl;
	SL_ASSERT(t != NULL && !t->closing);
	t->closing = true;
	t->close_cb = cb;
	if (t->listener_init) {
		uv_close((uv_handle_t *)&t->listener, on_handle_closed);
		uv_close((uv_handle_t *)&t->accept_retry, on_handle_closed);
	}
	uv_close((uv_handle_t *)&t->prepare, on_handle_closed);
	while (!sl__list_empty(&t->peers)) {
		peer_remove(SL__CONTAINER_OF(t->peers.next, struct sl__peer, node));
	}
	for (struct sl__list *n = t->conns.next; n != &t->conns; n = n->next) {
		struct sl__conn *c = SL__CONTAINER_OF(n, struct sl__conn, node);
		if (c->state != SL__CONN_CLOSING) {
			sl__conn_close(c, false, "transport closing");
		}
	}
}

void sl_transport_stats(const struct sl_transport *pub, struct sl_transport_stats *out)
{
	if (pub->impl == NULL) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = pub->impl->stats;
}

int sl_transport_peer_info(const struct sl_transport *pub, uint64_t peer_id,
			   struct sl_transport_peer_info *out)
{
	struct sl__peer *p = sl__peer_find(pub->impl, peer_id);
	if (p == NULL) {
		return SL_TRANSPORT_ENOPEER;
	}
	memset(out, 0, sizeof(*out));
	out->connected = p->conn != NULL && p->conn->state == SL__CONN_UP;
	out->dialer = p->dialer;
	out->control_queued_count = p->ctl_count;
	out->control_queued_bytes = p->ctl_bytes;
	out->bulk_outstanding = p->conn != NULL ? p->conn->bulk_outstanding : 0;
	out->control_dropped = p->ctl_dropped;
	out->backoff_attempt = p->backoff.attempt;
	out->reconnect_delay_ms = p->last_delay_ms;
	out->reconnect_pending = uv_is_active((const uv_handle_t *)&p->timer) != 0;
	return 0;
}

const char *sl_transport_errmsg(const struct sl_transport *pub)
{
	return pub->impl == NULL ? "" : pub->impl->errmsg;
}
