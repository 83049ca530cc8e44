/* Internal state of the inter-broker transport, shared by transport.c (API,
 * peers, queues, flushing, reconnect) and transport_conn.c (sockets,
 * handshake, framing). Private to those files.
 *
 * Object lifetimes. The transport owns peers and connections. A peer is freed
 * in the close callback of its reconnect timer; a connection in the last of
 * the close callbacks of its TCP handle and its handshake timer; a pending
 * getaddrinfo request in its own callback. Each of these, plus the prepare and
 * listener handles, holds one count in `live`; sl_transport_close() finishes
 * when that count drops to zero. A peer and its current connection point at
 * each other; removing either side "detaches" the pair first (both pointers
 * NULL) so nothing reaches freed memory. */
#ifndef SL_SERVER_TRANSPORT_INT_H
#define SL_SERVER_TRANSPORT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/sl_common.h"
#include "server/transport.h"

#define SL__LOG_PREFIX "component=transport"

/* Most frames gathered into one control write. */
#define SL__WRITE_FRAMES_MAX 1024u

/* Delay before retrying an accept that failed for lack of memory. */
#define SL__ACCEPT_RETRY_MS 100u

/* Listen backlog. */
#define SL__LISTEN_BACKLOG 128

/* HELLO magic "SLTP". */
#define SL__HELLO_MAGIC 0x534C5450u

/* HELLO payload size without the cluster id. */
#define SL__HELLO_FIXED_BYTES (4 + 2 + 2 + 8 + 8 + 2)

/* Largest valid HELLO frame. Checked before the receive buffer grows, so a
 * connection that has not completed its handshake never costs more than the
 * base receive buffer. */
#define SL__HELLO_FRAME_BYTES_MAX                                                                  \
	(SL_TRANSPORT_FRAME_HEADER_BYTES + SL__HELLO_FIXED_BYTES +                                 \
	 SL_TRANSPORT_CLUSTER_ID_BYTES_MAX)

/* Intrusive doubly linked list (circular, with a sentinel head). */
struct sl__list {
	struct sl__list *next;
	struct sl__list *prev;
};

static inline void sl__list_init(struct sl__list *l)
{
	l->next = l;
	l->prev = l;
}

static inline bool sl__list_empty(const struct sl__list *l)
{
	return l->next == l;
}

static inline void sl__list_push(struct sl__list *head, struct sl__list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void sl__list_remove(struct sl__list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n;
	n->prev = n;
}

#define SL__CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* One queued control frame: the bytes follow the struct in one allocation. */
struct sl__frame {
	struct sl__list node;
	size_t len; /* header + payload */
	uint8_t bytes[];
};

/* Bytes to reserve in front of an encoded message so that it becomes a frame
 * in place. */
#define SL__FRAME_HEADROOM (offsetof(struct sl__frame, bytes) + SL_TRANSPORT_FRAME_HEADER_BYTES)

struct sl__peer;

enum sl__conn_state {
	SL__CONN_CONNECTING, /* outbound, uv_tcp_connect in flight */
	SL__CONN_HANDSHAKE,  /* waiting for the other side's HELLO */
	SL__CONN_UP,	     /* established */
	SL__CONN_CLOSING,    /* uv_close called, waiting for close callbacks */
};

/* One control write in flight: the frames it carries and one buffer each. */
struct sl__ctl_write {
	uv_write_t req;
	struct sl__conn *conn;
	struct sl__list frames;
	unsigned n;
	uv_buf_t bufs[];
};

struct sl__conn {
	struct sl__list node; /* in transport->conns */
	struct sl__transport *t;
	struct sl__peer *peer; /* NULL while inbound and unidentified, or detached */
	enum sl__conn_state state;
	bool inbound;
	bool pending_counted; /* holds one inbound_pending slot */
	const char *poison;   /* set during delivery: close after the callback */
	int handles_open;     /* tcp + timer handles not yet closed */
	uv_tcp_t tcp;
	uv_timer_t timer;      /* handshake deadline, then the liveness check once up */
	uint64_t last_rx_ms;   /* loop time of the last byte received */
	uint64_t next_ping_ms; /* loop time the next PING is due */
	uint64_t check_at_ms;  /* loop time the liveness timer was due */
	bool ping_inflight;    /* ping_req is in libuv's write queue */
	uv_write_t ping_req;
	uint8_t ping[SL_TRANSPORT_FRAME_HEADER_BYTES];
	uv_connect_t connect_req;
	uv_write_t hello_req;
	uint8_t hello[SL_TRANSPORT_FRAME_HEADER_BYTES + SL__HELLO_FIXED_BYTES +
		      SL_TRANSPORT_CLUSTER_ID_BYTES_MAX];
	uint64_t claimed_id; /* sender id from the HELLO, for logs */
	char remote[64];     /* peer socket address, for logs */
	uint8_t *rx;	     /* receive buffer */
	size_t rx_len;
	size_t rx_cap;
	struct sl__ctl_write *ctl_inflight;
	struct sl_transport_bulk_req *bulk_head; /* chunks not yet written */
	struct sl_transport_bulk_req *bulk_tail;
	struct sl_transport_bulk_req *bulk_inflight;
	uint32_t bulk_outstanding; /* queued + in flight */
};

struct sl__resolve {
	uv_getaddrinfo_t req;
	struct sl__transport *t;
	struct sl__peer *peer; /* NULL once detached */
};

struct sl__peer {
	struct sl__list node;  /* in transport->peers */
	struct sl__list dirty; /* in transport->dirty while a flush is due */
	struct sl__transport *t;
	uint64_t id;
	char *host;
	uint16_t port;
	char *address; /* "host:port", handed to libraft */
	bool dialer;
	bool removed;	       /* unlinked, timer closing */
	struct sl__conn *conn; /* current connection attempt or established one */
	struct sl__resolve *resolve;
	unsigned addr_rotation; /* which resolved address the next dial uses */
	struct sl__list ctl_queue;
	uint32_t ctl_count;
	uint64_t ctl_bytes;
	uint64_t ctl_dropped;
	uv_timer_t timer; /* reconnect */
	struct sl_transport_backoff backoff;
	uint64_t last_delay_ms;
};

struct sl__transport {
	struct sl_transport *pub;
	uv_loop_t *loop;
	uint64_t self_id;
	struct sl_transport_config config;
	char cluster_id[SL_TRANSPORT_CLUSTER_ID_BYTES_MAX + 1];
	size_t cluster_id_len;
	struct sl_transport_callbacks cbs;
	char listen_host[64];
	uint16_t listen_port;
	uint16_t bound_port;
	bool listener_init;
	uv_tcp_t listener;
	uv_timer_t accept_retry; /* initialized with the listener */
	uv_prepare_t prepare;
	struct sl__list peers;
	uint32_t n_peers;
	struct sl__list conns;
	uint32_t n_inbound_pending;
	struct sl__list dirty;
	struct sl__conn *delivering; /* connection whose frame is being delivered */
	struct sl_transport_stats stats;
	bool closing;
	unsigned live;
	sl_transport_close_cb close_cb;
	char errmsg[256];
};

/* transport.c */
struct sl__peer *sl__peer_find(struct sl__transport *t, uint64_t id);
void sl__peer_mark_dirty(struct sl__peer *p);
void sl__peer_conn_up(struct sl__peer *p);
void sl__peer_conn_lost(struct sl__peer *p, bool was_up);
void sl__peer_schedule_reconnect(struct sl__peer *p);
void sl__transport_unref(struct sl__transport *t);
int sl__parse_numeric(const char *host, uint16_t port, struct sockaddr_storage *ss);
void sl__frame_header(uint8_t *hdr, size_t payload_len, enum sl_transport_frame_type type,
		      uint64_t group_id);

/* transport_conn.c */
int sl__conn_dial(struct sl__peer *p);
void sl__conn_on_connection(uv_stream_t *server, int status);
void sl__conn_flush(struct sl__conn *c);
/* Closes c (idempotent) with a logged reason; may run the peer callback. */
__attribute__((format(printf, 3, 4))) void sl__conn_close(struct sl__conn *c, bool protocol_error,
							  const char *fmt, ...);
void sl__resolve_detach(struct sl__resolve *r);

#endif /* SL_SERVER_TRANSPORT_INT_H */
