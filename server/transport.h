/* Inter-broker transport: one TCP connection per broker pair, carrying the
 * Raft messages of every group (multiplexed by group id) and catch-up data.
 * Public to server/ and to the group driver. Runs on one libuv loop; nothing
 * here is thread-safe, every call must be made on the loop's thread.
 *
 * CONNECTIONS. Exactly one TCP connection exists per broker pair. The broker
 * with the LOWER id dials; the broker with the higher id only accepts. Both
 * sides must register each other with sl_transport_add_peer(). The dialer
 * writes a HELLO frame first; the acceptor checks it and answers with its own
 * HELLO; each side considers the connection up once it has accepted the
 * other's HELLO, and reports it through the peer callback. A HELLO carries the
 * sender's broker id, the receiver's id as the sender believes it, the cluster
 * id and the protocol version; any mismatch (unknown or unregistered sender,
 * wrong receiver, wrong dialing direction, other cluster, other version)
 * closes the connection with a logged reason. A valid HELLO from a peer that
 * already has a connection replaces the old one (the dialer only dials when
 * it has none, so the old one is dead from the dialer's point of view). The
 * cluster id is an identity check against misconfiguration, not a secret: the
 * transport does no authentication or encryption.
 *
 * LANES. Each connection has two lanes sharing the socket.
 * - The control lane carries Raft messages (SL_TRANSPORT_FRAME_RAFT) and small
 *   application messages (SL_TRANSPORT_FRAME_CONTROL). Sends are copied into a
 *   per-peer queue bounded by control_queue_count_max frames and
 *   control_queue_bytes_max bytes; when a new frame does not fit, the OLDEST
 *   queued frames are dropped (Raft tolerates loss and the newest message
 *   carries the freshest state) and counted in control_dropped. Everything
 *   queued for a peer during one loop iteration goes out in ONE uv_write()
 *   with one buffer per frame, just before the loop next blocks for I/O, so
 *   the heartbeats of hundreds of groups to the same peer cost one write
 *   (stats: control_frames_sent vs control_writes). At most one control write
 *   per connection is in flight; frames sent meanwhile wait, bounded, in the
 *   queue and go out together next.
 * - The bulk lane carries catch-up data (SL_TRANSPORT_FRAME_BULK) in chunks of
 *   at most bulk_chunk_bytes_max bytes, zero-copy: the caller's buffer is
 *   borrowed until the chunk's completion callback. A chunk is written only
 *   when no control frame is waiting in the queue, and at most one bulk chunk
 *   is in the socket's write queue at a time, so a control message never waits
 *   behind more than one chunk. Backpressure: at most bulk_queue_count_max
 *   chunks per connection may be outstanding; beyond that
 *   sl_transport_send_bulk() returns SL_TRANSPORT_EAGAIN and the caller sends
 *   the next chunk from a completion callback.
 *
 * QUEUE POLICY ACROSS DISCONNECTS. Control frames sent while a peer has no
 * established connection (before the first handshake, during reconnect
 * backoff) are queued, within the same bounds, and flushed once a handshake
 * completes. When an ESTABLISHED connection is lost, the frames still queued
 * for that peer are discarded and counted in control_dropped: they were
 * produced for a conversation that ended, and Raft resends what matters on its
 * next heartbeat. Frames already handed to the failed socket are lost without
 * being counted. Bulk chunks belong to one connection: sends need an
 * established connection (else SL_TRANSPORT_ENOTCONN) and chunks not yet
 * written when it is lost complete with SL_TRANSPORT_ECANCELED.
 *
 * LIVENESS. A killed peer process resets its connections at once, but a
 * frozen process, a powered-off machine or a silent partition sends nothing,
 * and TCP alone would notice only when its retransmissions give up (minutes).
 * So every established connection is watched at the application level: each
 * side writes a PING frame (header only) every idle_timeout_ms / 4 whatever
 * else it sends, and a connection on which NOTHING has been received (no
 * byte of any frame, PINGs included) for idle_timeout_ms is closed with reason
 * "idle_timeout" exactly like a reset: the peer is reported down, queued
 * control frames are discarded, and the dialer reconnects with backoff. A
 * busy peer is never cut off, however slowly a large frame trickles in, since
 * any received byte counts. If this broker's own loop was stalled (the check
 * timer fired late by more than a PING interval), the peer gets one more PING
 * interval before being judged, so a local stall is not blamed on the peer.
 * The kernel is told the same bound (Linux): TCP_USER_TIMEOUT is
 * idle_timeout_ms, so a socket whose sent data stays unacknowledged that long
 * fails by itself, and keepalive probes start after idle_timeout_ms rounded
 * up to whole seconds, one a second, three unanswered failing the socket.
 * These are a backstop; the PINGs decide. idle_timeout_ms 0 disables PINGs
 * and the detector (keepalive then as before: probes after 30 s).
 *
 * RECONNECT. Only the dialer reconnects: after a failed attempt or a lost
 * connection it waits an exponentially growing, jittered delay (see
 * struct sl_transport_backoff; base backoff_base_ms, cap backoff_max_ms,
 * jitter from backoff_seed and the broker pair, never rand()) and dials again; a
 * completed handshake resets the delay. The acceptor simply waits.
 *
 * BAD INPUT. A malformed frame (length below the header size or above
 * frame_bytes_max, unknown version, unknown type, non-zero flags, a data frame
 * before the HELLO, a second HELLO, a HELLO longer than a valid one can be, a
 * connection ending inside a frame, a malformed HELLO, or a Raft payload that
 * sl_transport_decode_raft() rejects) closes that one connection with a
 * logged reason and counts a protocol error; other peers are unaffected.
 * Accepted connections that have not completed a handshake are bounded
 * (inbound_pending_max) and timed out (handshake_timeout_ms); until its
 * handshake completes a connection can only send a HELLO, so it never holds
 * more than the base receive buffer (bulk_chunk_bytes_max + 64 KiB).
 *
 * DELIVERY GUARANTEES. Frames of one connection are delivered in the order
 * they were sent, so in order per (peer, group) while a connection lasts.
 * Nothing is retransmitted: frames can be lost when a connection is lost or a
 * queue overflows, never duplicated or reordered.
 *
 * TYPICAL USE BY THE GROUP DRIVER. For each message in a raft_update, call
 * sl_transport_send_raft(t, msg->server_id, group_id, msg) before the next
 * raft_step() on that group (the message is copied). In the receive callback,
 * for a SL_TRANSPORT_FRAME_RAFT frame call sl_transport_decode_raft() and feed
 * the result to raft_step(RAFT_RECEIVE) for frame->group_id; ownership of the
 * decoded memory is described at sl_rpc_decode(). Catch-up range transfers
 * use SL_TRANSPORT_FRAME_CONTROL for requests and sl_transport_send_bulk() for
 * the data.
 *
 * WIRE FORMAT, version 2 (all integers big-endian; version 1 had no PING, and
 * a version-1 broker's frames are refused as bad_frame_version):
 *   frame header, 16 bytes:
 *     u32 length    bytes after this field (12 + payload length)
 *     u8  version   SL_TRANSPORT_WIRE_VERSION
 *     u8  type      enum sl_transport_frame_type
 *     u16 flags     0
 *     u64 group_id  Raft group the frame belongs to (0 for HELLO)
 *   payload, length - 12 bytes:
 *     HELLO:   u32 magic "SLTP" (0x534C5450), u16 protocol version
 *              (SL_TRANSPORT_WIRE_VERSION), u16 flags (0), u64 sender id,
 *              u64 receiver id, u16 cluster id length (1..64), cluster id
 *     RAFT:    one message in the rpc_codec.h format
 *     CONTROL: opaque application bytes
 *     BULK:    opaque chunk bytes
 *     PING:    empty, group id 0 (liveness only, never delivered)
 *   A whole frame (header included) is at most frame_bytes_max bytes.
 *
 * CALLBACK CONTRACT (as libuv): when a call that takes a callback fails, the
 * callback never runs; no callback ever runs inside the call that started it;
 * handle memory is released only after libuv's close callbacks. */
#ifndef SL_SERVER_TRANSPORT_H
#define SL_SERVER_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/rpc_codec.h"

/* Version of the frame layout and of the HELLO protocol. */
#define SL_TRANSPORT_WIRE_VERSION 2

/* Size of the frame header that precedes every payload. */
#define SL_TRANSPORT_FRAME_HEADER_BYTES 16

/* Longest cluster id carried by a HELLO. */
#define SL_TRANSPORT_CLUSTER_ID_BYTES_MAX 64

/* Hard upper bound accepted for frame_bytes_max. */
#define SL_TRANSPORT_FRAME_BYTES_LIMIT (256u << 20)

/* Hard upper bound accepted for peers_max. */
#define SL_TRANSPORT_PEERS_LIMIT 4096

/* Defaults filled in by sl_transport_config_init(). */
#define SL_TRANSPORT_FRAME_BYTES_MAX_DEFAULT	     (16u << 20)
#define SL_TRANSPORT_CONTROL_QUEUE_BYTES_MAX_DEFAULT (32u << 20)
#define SL_TRANSPORT_CONTROL_QUEUE_COUNT_MAX_DEFAULT 8192u
#define SL_TRANSPORT_BULK_CHUNK_BYTES_MAX_DEFAULT    (64u << 10)
#define SL_TRANSPORT_BULK_QUEUE_COUNT_MAX_DEFAULT    8u
#define SL_TRANSPORT_PEERS_MAX_DEFAULT		     128u
#define SL_TRANSPORT_INBOUND_PENDING_MAX_DEFAULT     32u
#define SL_TRANSPORT_HANDSHAKE_TIMEOUT_MS_DEFAULT    5000u
#define SL_TRANSPORT_BACKOFF_BASE_MS_DEFAULT	     100u
#define SL_TRANSPORT_BACKOFF_MAX_MS_DEFAULT	     10000u
#define SL_TRANSPORT_IDLE_TIMEOUT_MS_DEFAULT	     1000u

/* Smallest non-zero idle_timeout_ms accepted (PINGs go out every quarter). */
#define SL_TRANSPORT_IDLE_TIMEOUT_MS_MIN 40u

/* Frame types. HELLO and PING are internal and never delivered; the others
 * are delivered to the receive callback. */
enum sl_transport_frame_type {
	SL_TRANSPORT_FRAME_HELLO = 1,	/* handshake, group id 0 */
	SL_TRANSPORT_FRAME_RAFT = 2,	/* control lane: one sl_rpc-encoded raft_message */
	SL_TRANSPORT_FRAME_CONTROL = 3, /* control lane: opaque application message */
	SL_TRANSPORT_FRAME_BULK = 4,	/* bulk lane: opaque catch-up chunk */
	SL_TRANSPORT_FRAME_PING = 5,	/* liveness, empty, group id 0 (wire version 2) */
};

/* Transport error codes, negative, from -100 down; functions that also run the
 * Raft codec may return its SL_RPC_* codes (-1 to -99). The X-macro feeds the
 * enum, sl_transport_strerror() and sl_transport_err_name(). */
#define SL_TRANSPORT_ERRORS(X)                                                                     \
	X(SL_TRANSPORT_EINVAL, -100, "invalid argument")                                           \
	X(SL_TRANSPORT_ENOMEM, -101, "out of memory")                                              \
	X(SL_TRANSPORT_ENOPEER, -102, "unknown peer")                                              \
	X(SL_TRANSPORT_EEXIST, -103, "peer already registered")                                    \
	X(SL_TRANSPORT_ETOOMANY, -104, "too many peers")                                           \
	X(SL_TRANSPORT_ETOOBIG, -105, "message exceeds a size limit")                              \
	X(SL_TRANSPORT_EAGAIN, -106, "bulk queue full; retry after a chunk completes")             \
	X(SL_TRANSPORT_ENOTCONN, -107, "peer not connected")                                       \
	X(SL_TRANSPORT_ECLOSED, -108, "transport is closing")                                      \
	X(SL_TRANSPORT_ECANCELED, -109, "canceled: connection lost, peer removed or closing")      \
	X(SL_TRANSPORT_EUV, -110, "socket operation failed (see sl_transport_errmsg)")             \
	X(SL_TRANSPORT_EADDR, -111, "address cannot be parsed")

enum sl_transport_error {
#define SL_TRANSPORT_ERR_ENUM(name, value, text) name = (value),
	SL_TRANSPORT_ERRORS(SL_TRANSPORT_ERR_ENUM)
#undef SL_TRANSPORT_ERR_ENUM
};

/* Returns a static description of a transport or codec error code ("unknown
 * error" otherwise). Never returns NULL. */
const char *sl_transport_strerror(int rv);

/* Returns the static symbolic name of a transport or codec error code
 * ("SL_TRANSPORT_EAGAIN"), or "SL_TRANSPORT_UNKNOWN". Never returns NULL. */
const char *sl_transport_err_name(int rv);

/* Limits and tuning. Initialize with sl_transport_config_init() and change
 * fields as needed; sl_transport_init() validates and copies the struct. */
struct sl_transport_config {
	/* Cluster identity checked in every HELLO: 1..64 bytes, copied. Must be
	 * set; the default is NULL. */
	const char *cluster_id;
	/* Largest frame, header included, sent or accepted. A larger incoming
	 * frame closes the connection; a larger outgoing one is refused with
	 * SL_TRANSPORT_ETOOBIG. At least bulk_chunk_bytes_max + 16, at most
	 * SL_TRANSPORT_FRAME_BYTES_LIMIT. */
	uint32_t frame_bytes_max;
	/* Bound on the bytes of control frames queued for one peer (frames in a
	 * write already handed to the socket not included). At least
	 * frame_bytes_max. */
	uint32_t control_queue_bytes_max;
	/* Bound on the number of control frames queued for one peer. */
	uint32_t control_queue_count_max;
	/* Largest bulk chunk payload. */
	uint32_t bulk_chunk_bytes_max;
	/* Most bulk chunks accepted and not yet completed, per connection. */
	uint32_t bulk_queue_count_max;
	/* Most registered peers (1..SL_TRANSPORT_PEERS_LIMIT). */
	uint32_t peers_max;
	/* Most accepted connections that have not yet completed a handshake;
	 * further ones are closed at once. */
	uint32_t inbound_pending_max;
	/* Time allowed from starting a connection (dial or accept) to the
	 * completed handshake. */
	uint32_t handshake_timeout_ms;
	/* Reconnect delay before jitter, doubled per failed attempt up to
	 * backoff_max_ms. 1 <= backoff_base_ms <= backoff_max_ms. */
	uint32_t backoff_base_ms;
	uint32_t backoff_max_ms;
	/* Seed of the reconnect jitter; each peer draws from its own stream
	 * (see sl_transport_backoff_stream()). */
	uint64_t backoff_seed;
	/* Largest AppendEntries entry accepted by sl_transport_decode_raft();
	 * 0 means frame_bytes_max. */
	uint32_t entry_bytes_max;
	/* An established connection on which nothing arrived for this long is
	 * closed and its peer reported down (see LIVENESS); PINGs go out every
	 * idle_timeout_ms / 4. 0 disables, else at least
	 * SL_TRANSPORT_IDLE_TIMEOUT_MS_MIN. */
	uint32_t idle_timeout_ms;
};

/* Fills *config with the SL_TRANSPORT_*_DEFAULT values, cluster_id NULL,
 * backoff_seed 0 and entry_bytes_max 0. */
void sl_transport_config_init(struct sl_transport_config *config);

struct sl__transport;
struct sl__conn;

/* A transport. Caller-allocated; everything inside is private except data. */
struct sl_transport {
	void *data;		    /* for the caller; never touched */
	struct sl__transport *impl; /* private */
};

/* One received frame, valid only for the duration of the receive callback. */
struct sl_transport_frame {
	uint64_t peer_id;		   /* broker that sent it */
	uint64_t group_id;		   /* group it belongs to */
	enum sl_transport_frame_type type; /* RAFT, CONTROL or BULK */
	const uint8_t *payload;		   /* borrowed until the callback returns */
	size_t payload_len;
};

/* Called for every frame received, in the order the peer sent them (so in
 * order per (peer, group)). The callback may call any transport function,
 * including sl_transport_remove_peer() and sl_transport_close(); after those,
 * no further frame of the affected connection is delivered. */
typedef void (*sl_transport_recv_cb)(struct sl_transport *t,
				     const struct sl_transport_frame *frame);

/* Called with up=true when a connection to peer_id completes its handshake
 * and with up=false when an established connection is lost, a reset or an
 * idle timeout alike (never for a
 * failed attempt, never for sl_transport_remove_peer() or
 * sl_transport_close()). Ups and downs alternate per registration of a peer:
 * a removed peer gets no down, and if added again its next up starts anew. */
typedef void (*sl_transport_peer_cb)(struct sl_transport *t, uint64_t peer_id, bool up);

/* Callbacks given to sl_transport_init(); recv is required, peer optional. */
struct sl_transport_callbacks {
	sl_transport_recv_cb recv;
	sl_transport_peer_cb peer;
};

/* Prepares t on loop for broker self_id (non-zero), to listen on listen_host
 * (a numeric IPv4 or IPv6 address; copied) and listen_port (0 picks an
 * ephemeral port, see sl_transport_port()). config is copied (cluster_id
 * included); callbacks is copied. No socket is opened yet.
 *
 * Returns 0, SL_TRANSPORT_EINVAL (bad argument or configuration; the reason
 * is logged) or SL_TRANSPORT_ENOMEM. On success the transport must eventually
 * be closed with sl_transport_close(); on failure there is nothing to close. */
int sl_transport_init(struct sl_transport *t, uv_loop_t *loop, uint64_t self_id,
		      const char *listen_host, uint16_t listen_port,
		      const struct sl_transport_config *config,
		      const struct sl_transport_callbacks *callbacks);

/* Binds and listens on the address given to sl_transport_init(). Returns 0,
 * SL_TRANSPORT_EADDR (address not numeric), SL_TRANSPORT_EUV (bind or listen
 * failed; sl_transport_errmsg() says why), SL_TRANSPORT_EINVAL (already
 * listening) or SL_TRANSPORT_ECLOSED. A transport that never listens can
 * still dial peers with higher ids. */
int sl_transport_listen(struct sl_transport *t);

/* Returns the port actually bound by sl_transport_listen() (useful with port
 * 0), or 0 before a successful listen. */
uint16_t sl_transport_port(const struct sl_transport *t);

/* Registers broker peer_id at host:port (host and port copied; host may be a
 * numeric address or a name resolved with getaddrinfo at each dial). If
 * peer_id is higher than self_id this broker dials it now and after every
 * failure; otherwise it waits for the peer to dial in, and only then accepts
 * it. Returns 0, SL_TRANSPORT_EINVAL (peer_id 0 or self, empty host or port
 * 0), SL_TRANSPORT_EEXIST, SL_TRANSPORT_ETOOMANY (peers_max reached),
 * SL_TRANSPORT_ENOMEM or SL_TRANSPORT_ECLOSED. */
int sl_transport_add_peer(struct sl_transport *t, uint64_t peer_id, const char *host,
			  uint16_t port);

/* Unregisters peer_id: closes its connection (no peer callback), discards its
 * queued control frames, and completes its outstanding bulk chunks with
 * SL_TRANSPORT_ECANCELED later, from the loop. To change a peer's address,
 * remove and add it again. Returns 0, SL_TRANSPORT_ENOPEER or
 * SL_TRANSPORT_ECLOSED. */
int sl_transport_remove_peer(struct sl_transport *t, uint64_t peer_id);

/* Queues one control-lane frame of type SL_TRANSPORT_FRAME_RAFT or
 * SL_TRANSPORT_FRAME_CONTROL for group_id to peer_id. payload (len bytes,
 * len may be 0) is copied. The frame is written at the end of this loop
 * iteration together with everything else queued for that peer.
 *
 * Returns 0 when queued (the oldest queued frames may have been dropped to
 * make room, see the queue policy), SL_TRANSPORT_EINVAL (bad type),
 * SL_TRANSPORT_ETOOBIG (frame above frame_bytes_max), SL_TRANSPORT_ENOPEER,
 * SL_TRANSPORT_ENOMEM or SL_TRANSPORT_ECLOSED. Success means queued, not
 * delivered. */
int sl_transport_send(struct sl_transport *t, uint64_t peer_id, uint64_t group_id,
		      enum sl_transport_frame_type type, const void *payload, size_t len);

/* Encodes msg (borrowed for the call; see sl_rpc_encode()) straight into a
 * queued SL_TRANSPORT_FRAME_RAFT frame, as sl_transport_send() would. The
 * message is copied, so the caller may release it (for example the next
 * raft_step() on the group) as soon as this returns. Returns the errors of
 * sl_transport_send() and the SL_RPC_EINVAL / SL_RPC_ETOOBIG of the codec. */
int sl_transport_send_raft(struct sl_transport *t, uint64_t peer_id, uint64_t group_id,
			   const struct raft_message *msg);

/* Decodes the Raft message carried by frame (which must be of type
 * SL_TRANSPORT_FRAME_RAFT and is only valid inside the receive callback) into
 * *msg, with the sl_rpc_decode() allocation and ownership rules and
 * entry_bytes_max as the entry limit. On success msg->server_id is the peer's
 * id and msg->server_address the peer's "host:port" as registered (borrowed:
 * valid until the peer is removed; libraft copies what it keeps), ready for
 * raft_step(RAFT_RECEIVE).
 *
 * If the payload is malformed, the connection it came from is closed with a
 * logged reason as soon as the receive callback returns (so no later frame of
 * that connection is delivered), and the codec error is returned. Returns 0,
 * SL_TRANSPORT_EINVAL (not a RAFT frame), SL_TRANSPORT_ENOPEER (peer removed
 * meanwhile) or a SL_RPC_* decode error. */
int sl_transport_decode_raft(struct sl_transport *t, const struct sl_transport_frame *frame,
			     struct raft_message *msg);

/* Bulk lane. */
struct sl_transport_bulk_req;

/* Called once per accepted chunk, from the loop: status 0 once the chunk has
 * been handed to the socket, SL_TRANSPORT_ECANCELED if it was not because the
 * connection was lost, the peer removed or the transport closed. The request
 * and its buffer are the caller's again when this runs. */
typedef void (*sl_transport_bulk_cb)(struct sl_transport_bulk_req *req, int status);

/* A bulk chunk send, caller-owned. Only data is for the caller; the rest is
 * private and need not be initialized. */
struct sl_transport_bulk_req {
	void *data; /* for the caller; never touched */
	/* private */
	uv_write_t write_;
	struct sl_transport_bulk_req *next_;
	struct sl__conn *conn_;
	const void *buf_;
	size_t len_;
	sl_transport_bulk_cb cb_;
	uint8_t header_[SL_TRANSPORT_FRAME_HEADER_BYTES];
};

/* Queues one bulk chunk of len bytes (1..bulk_chunk_bytes_max) at buf for
 * group_id to peer_id. req and buf are borrowed until cb runs. Chunks to the
 * same peer are written in the order sent.
 *
 * Returns 0 (cb will run exactly once), SL_TRANSPORT_EAGAIN when
 * bulk_queue_count_max chunks are already outstanding on this connection
 * (send again from a completion callback), SL_TRANSPORT_ENOTCONN when the
 * peer has no established connection, SL_TRANSPORT_EINVAL (len 0 or NULL
 * argument), SL_TRANSPORT_ETOOBIG (len above bulk_chunk_bytes_max),
 * SL_TRANSPORT_ENOPEER or SL_TRANSPORT_ECLOSED; on error cb never runs. */
int sl_transport_send_bulk(struct sl_transport *t, struct sl_transport_bulk_req *req,
			   uint64_t peer_id, uint64_t group_id, const void *buf, size_t len,
			   sl_transport_bulk_cb cb);

/* Called when a closed transport has released everything; t may be freed or
 * initialized again from here. */
typedef void (*sl_transport_close_cb)(struct sl_transport *t);

/* Starts closing t: stops listening, closes every connection, discards queued
 * control frames, cancels outstanding bulk chunks (their callbacks run with
 * SL_TRANSPORT_ECANCELED before cb) and delivers nothing more. cb (may be
 * NULL) runs from the loop once every handle is closed. Must be called exactly
 * once per successful sl_transport_init() (a second call asserts). Between
 * this call and cb, the calls that take a transport return
 * SL_TRANSPORT_ECLOSED (sl_transport_peer_info(): SL_TRANSPORT_ENOPEER); once
 * cb has run, t is uninitialized and may only be passed to
 * sl_transport_init() again. */
void sl_transport_close(struct sl_transport *t, sl_transport_close_cb cb);

/* Counters since sl_transport_init(). */
struct sl_transport_stats {
	uint64_t control_frames_sent;  /* control frames handed to sockets */
	uint64_t control_writes;       /* uv_write() calls that carried them */
	uint64_t bulk_chunks_sent;     /* bulk chunks handed to sockets (one write each) */
	uint64_t bytes_sent;	       /* all bytes written, headers and HELLOs included */
	uint64_t frames_received;      /* frames delivered to the receive callback */
	uint64_t bytes_received;       /* all bytes read */
	uint64_t control_dropped;      /* queued control frames dropped (queue full or conn lost) */
	uint64_t bulk_canceled;	       /* bulk chunks completed with SL_TRANSPORT_ECANCELED */
	uint64_t connections_dialed;   /* outgoing connection attempts started */
	uint64_t connections_accepted; /* incoming connections accepted */
	uint64_t connect_failures;     /* attempts that ended before a completed handshake */
	uint64_t handshakes_completed; /* connections that came up */
	uint64_t protocol_errors;      /* connections closed for bad frames or HELLO mismatch */
	uint64_t inbound_rejected;     /* accepted connections closed for inbound_pending_max */
	uint64_t pings_sent;	       /* PING frames written (their bytes are in bytes_sent) */
	uint64_t idle_timeouts;	       /* established connections closed for idle_timeout_ms */
	uint32_t peers_up;	       /* peers with an established connection now */
};

/* Copies the counters into *out. */
void sl_transport_stats(const struct sl_transport *t, struct sl_transport_stats *out);

/* State of one peer, for tests, metrics and the group driver. */
struct sl_transport_peer_info {
	bool connected;		       /* an established connection exists */
	bool dialer;		       /* this broker dials that peer */
	uint32_t control_queued_count; /* control frames queued, not yet written */
	uint64_t control_queued_bytes; /* their bytes, headers included */
	uint32_t bulk_outstanding;     /* bulk chunks accepted, not yet completed */
	uint64_t control_dropped;      /* control frames dropped for this peer */
	uint32_t backoff_attempt;      /* reconnect delays drawn since the last handshake */
	uint64_t reconnect_delay_ms;   /* the last delay drawn (0 before any) */
	bool reconnect_pending;	       /* a reconnect timer is running */
};

/* Fills *out for peer_id. Returns 0 or SL_TRANSPORT_ENOPEER. */
int sl_transport_peer_info(const struct sl_transport *t, uint64_t peer_id,
			   struct sl_transport_peer_info *out);

/* Returns the context of the last failed call or dropped connection on t
 * ("listen 127.0.0.1:9093: EADDRINUSE"), or "" if none. Valid until the next
 * transport call or callback. */
const char *sl_transport_errmsg(const struct sl_transport *t);

/* Reconnect backoff, exposed so its delays can be tested without clocks.
 * Delay k (k = 0, 1, ... since init or the last reset) has nominal value
 * n_k = min(max_ms, base_ms * 2^k) and is drawn uniformly from [n_k / 2, n_k]
 * ("equal jitter") by a xorshift generator seeded from (seed, stream). A reset
 * replays the same draws, so the k-th delay after any handshake is a pure
 * function of (seed, stream, k). The transport uses
 * stream = sl_transport_backoff_stream(self_id, peer_id), so two brokers that
 * share a seed still do not redial a restarted peer in lockstep. */
struct sl_transport_backoff {
	uint32_t base_ms;
	uint32_t max_ms;
	uint32_t attempt;    /* delays drawn since init or reset */
	uint64_t rng_state;  /* never 0 */
	uint64_t rng_origin; /* rng_state after init, restored by reset */
};

/* Initializes *b; base_ms >= 1 and max_ms >= base_ms (asserted). */
void sl_transport_backoff_init(struct sl_transport_backoff *b, uint32_t base_ms, uint32_t max_ms,
			       uint64_t seed, uint64_t stream);

/* Returns the stream the transport of broker self_id uses for peer_id. */
uint64_t sl_transport_backoff_stream(uint64_t self_id, uint64_t peer_id);

/* Returns the next delay in milliseconds and advances the attempt count
 * (saturating). */
uint64_t sl_transport_backoff_next_ms(struct sl_transport_backoff *b);

/* Returns the nominal (jitter-free) value of delay number attempt. */
uint64_t sl_transport_backoff_nominal_ms(const struct sl_transport_backoff *b, uint32_t attempt);

/* Restarts the sequence at attempt 0 with the generator state of init. */
void sl_transport_backoff_reset(struct sl_transport_backoff *b);

#endif /* SL_SERVER_TRANSPORT_H */
