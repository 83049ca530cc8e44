/* Private state and internal functions of the raftlog group driver. */
#ifndef RL_GROUP_INT_H
#define RL_GROUP_INT_H

#include <raft.h>

#include "raftlog/group.h"

/* A message waiting in the outbox (copied out of the raft_update). For
 * AppendEntries the entries are filled from the log when it is sent. */
struct rl__outmsg {
	struct raft_message msg;
	struct rl__outmsg *next;
};

/* Side data of the message being received: for every AppendEntries entry,
 * the whole stored batch (CONFIG entries hand libraft only the payload). */
struct rl__recv {
	struct raft_entry *entries; /* the message's array */
	unsigned n;
	struct raft_buffer *full;   /* per entry: the whole batch, or NULL */
	bool async;                 /* libraft kept the batch to persist */
};

/* Last time a message arrived from each server. */
struct rl__contact {
	uint64_t id;
	uint64_t ms;
};

/* ---- Catch-up ---------------------------------------------------------- */

/* Message types and reply statuses (raftlog/catchup.c has the layout). */
enum rl__cu_type { RL__CU_REQUEST = 1, RL__CU_REPLY = 2, RL__CU_DATA = 3 };
enum rl__cu_status {
	RL__CU_MATCH = 1,    /* the prefix matches (reply to a prefix-only request) */
	RL__CU_MISMATCH = 2, /* the prefix's last entry differs from the source's */
	RL__CU_GONE = 3,     /* the range starts below the source's log start */
	RL__CU_TOO_OLD = 4,  /* the target index is below the source's log start */
	RL__CU_STALE = 5,    /* the source does not durably hold the target */
	RL__CU_BUSY = 6      /* the source serves too many transfers */
};
#define RL__CU_REQUEST_BYTES 60
#define RL__CU_REPLY_BYTES 36
#define RL__CU_DATA_HDR_BYTES 48

/* One decoded catch-up message; fields of other types are zero. */
struct rl__cu_msg {
	uint8_t type;
	uint64_t session;
	uint32_t seq;
	/* REQUEST */
	uint64_t target_index;
	uint64_t target_term;
	uint64_t prev_index;
	uint64_t prev_term;  /* 0: the follower's log is empty at prev_index + 1 */
	int64_t next_offset;
	uint32_t window_bytes; /* 0: check the prefix only */
	/* REPLY */
	uint32_t status;
	uint64_t log_first_index;
	int64_t log_start_offset;
	/* DATA */
	uint64_t first_index;
	uint64_t last_index;
	int64_t base_offset;
	uint32_t total_bytes;
	uint32_t pos;
	const uint8_t *payload; /* decode: borrowed from the buffer */
	size_t payload_len;
};

/* Encodes m into buf[0..cap). For DATA, payload (payload_len bytes) is
 * copied after the header, or, when payload is NULL, is expected to be in
 * place already at buf + RL__CU_DATA_HDR_BYTES. Returns the message length,
 * or 0 if it does not fit (or is over RL_CATCHUP_MSG_BYTES_MAX). */
size_t rl__cu_encode(const struct rl__cu_msg *m, uint8_t *buf, size_t cap);
/* Decodes and validates one message; a DATA payload is borrowed from buf.
 * Returns 0 or RL_EINVAL. */
int rl__cu_decode(const uint8_t *buf, size_t len, struct rl__cu_msg *out);

/* Where the follower's transfer stands. */
enum rl__rx_phase {
	RL__RX_IDLE = 0, /* next request at deadline_ms */
	RL__RX_WAIT,     /* request sent: waiting for its reply or data */
	RL__RX_OP        /* a truncate, reset or append of the transfer is in flight */
};

/* How the request in flight describes the follower's log. */
enum rl__rx_kind {
	RL__RX_PREFIX = 1, /* log non-empty: prefix ends at prev_index */
	RL__RX_EMPTY,      /* log empty at prev_index + 1, next_offset */
	RL__RX_WHERE       /* log unusable for the target: asks the source's start */
};

/* Follower side of a catch-up transfer (group_catchup.c). */
struct rl__rx {
	bool active;
	bool installing;          /* libraft installs: finish with PERSISTED_SNAPSHOT */
	bool have_msg;            /* msg holds the kept InstallSnapshot */
	int phase;
	struct raft_message msg;  /* deferred: owns its conf and data */
	struct raft_snapshot_metadata meta; /* installing: owns its configuration */
	uint64_t leader;          /* sender of the InstallSnapshot */
	uint64_t source;          /* replica the data comes from */
	unsigned source_k;        /* position in the configuration, for failover */
	uint64_t index;           /* target: snapshot index and term */
	uint64_t term;
	int64_t end_offset;       /* offset just past the target; -1 unknown */
	uint64_t tid;             /* transfer id: matches our storage completions */
	uint64_t session;         /* per source: matches its replies and data */
	uint32_t seq;
	uint64_t deadline_ms;
	unsigned timeouts;        /* consecutive requests without an answer */
	/* The request in flight. */
	int kind;
	uint64_t prev_index;
	int64_t next_offset;
	uint32_t window_bytes;
	/* Search for the last entry shared with the source: lo matches, hi
	 * does not. */
	bool searching;
	uint64_t lo;
	uint64_t hi;
	/* The window being received. */
	uint8_t *buf;
	uint32_t total;
	uint32_t got;
	uint64_t first_index;
	uint64_t last_index;
	int64_t base_offset;
};

/* Source side: one window being streamed to a peer (group_serve.c). */
struct rl__tx {
	uint64_t peer;
	uint64_t session;
	uint32_t seq;
	uint64_t first_index;
	uint64_t last_index;
	int64_t base_offset;
	int64_t next_offset;      /* next offset to take a read reference at */
	int64_t end_offset;       /* offset just past the window */
	uint32_t total;
	uint32_t sent;
	struct rl_read_ref ref;   /* the segment range being read */
	size_t ref_at;
	uint8_t *chunk;           /* RL_CATCHUP_MSG_BYTES_MAX bytes */
	size_t chunk_len;         /* built and not yet taken by the host */
	uint64_t expire_ms;
};

struct rl_group {
	struct raft raft;
	struct rl_log *log;
	struct rl_group_config cfg;
	const struct rl_group_env *env;
	void *data;
	uint64_t now_ms;
	int role;
	bool stepping;
	bool in_after;
	bool failed;
	bool closing;
	bool close_done;
	bool commit_dirty;         /* commit index or log changed: recompute HWM */
	char errmsg[256];

	/* Storage pipeline. */
	unsigned ops_inflight;     /* writer operations not completed */
	unsigned meta_inflight;    /* term/vote writes not completed */
	struct rl__append_op *appends_head; /* in-flight appends, FIFO */
	struct rl__append_op *appends_tail;
	uint64_t persisted_index;  /* last index reported persisted */
	struct rl__recv *recv;     /* set while stepping RAFT_RECEIVE */

	/* Outbox: messages held until term/vote are durable. */
	struct rl__outmsg *out_head;
	struct rl__outmsg *out_tail;

	/* Commit, high watermark, configurations. */
	int64_t hwm;
	uint64_t *configs;         /* indexes of CONFIG entries above commit */
	unsigned n_configs;
	unsigned cap_configs;
	uint64_t config_fed;       /* last CONFIG index fed as RAFT_CONFIGURATION */
	uint64_t snapshot_index;
	/* Snapshots taken (RAFT_SNAPSHOT not stepped yet: metadata write in
	 * flight). libraft must not start installing one meanwhile. */
	unsigned snapshots_taking;

	/* Leader: submissions waiting for durability or commit, FIFO. */
	struct rl_submit_req *sub_head;
	struct rl_submit_req *sub_tail;
	/* Leader: submissions queued for coalescing, not stepped yet, FIFO. */
	struct rl_submit_req *pend_head;
	struct rl_submit_req *pend_tail;
	size_t pend_bytes;
	unsigned pend_n;
	struct rl_submit_stats sub_stats;
	/* Leader: a leadership transfer (group_leader.c describes its phases)
	 * and the submissions it holds. */
	struct rl_submit_req *held_head;
	struct rl_submit_req *held_tail;
	uint64_t transfer_target;      /* 0: none */
	uint64_t transfer_started_ms;
	uint64_t transfer_deadline_ms; /* end of the drain phase */
	bool transfer_sent;            /* RAFT_TRANSFER stepped (TimeoutNow sent) */

	/* Followers: contact tracking. */
	uint64_t last_leader_contact_ms;
	uint64_t campaign_at_ms;   /* rl_group_leader_lost(): 0 when not armed */
	struct rl__contact *contacts;
	unsigned n_contacts;

	/* Catch-up. */
	struct rl__rx rx;
	struct rl__tx *tx[RL_CATCHUP_SERVE_MAX];
	struct rl_catchup_stats cu_stats;
	uint64_t cu_counter;

	void (*close_cb)(struct rl_group *g, void *arg);
	void *close_arg;
};

/* group.c */
int rl__group_step(struct rl_group *g, struct raft_event *ev);
void rl__group_after(struct rl_group *g);
void rl__group_fail(struct rl_group *g, int err, const char *what);
void rl__group_step_persisted(struct rl_group *g, uint64_t index);
void rl__group_maybe_finish_close(struct rl_group *g);
void rl__group_receive_msg(struct rl_group *g, struct raft_message *msg);

/* group_io.c: storage */
int rl__group_meta_write(struct rl_group *g, uint64_t term, uint64_t vote);
int rl__group_persist_meta(struct rl_group *g);
int rl__group_persist_entries(struct rl_group *g, raft_index index, struct raft_entry *entries,
			      unsigned n);
void rl__group_install_snapshot(struct rl_group *g, struct raft_update *up);
int rl__group_write_snapshot(struct rl_group *g, struct raft_snapshot_metadata *meta,
			     int64_t log_start_offset, unsigned trailing, bool install);
int rl__group_truncate(struct rl_group *g, uint64_t index);
void rl__group_track_configs(struct rl_group *g, uint64_t first, uint64_t last);
/* Catch-up storage operations: each completes with rl__rx_op_done(g,
 * session, status); buf (sl_malloc'd window) passes to the append. */
int rl__group_cu_truncate(struct rl_group *g, uint64_t index, uint64_t session);
int rl__group_cu_reset(struct rl_group *g, uint64_t next_index, int64_t next_offset,
		       uint64_t session);
int rl__group_cu_append(struct rl_group *g, const struct rl_entry *entries, unsigned n,
			uint8_t *buf, uint64_t session);

/* group_msg.c: messages */
void rl__group_queue_messages(struct rl_group *g, const struct raft_message *msgs, unsigned n);
void rl__group_outbox_flush(struct rl_group *g);
void rl__group_outbox_clear(struct rl_group *g);
int rl__group_prepare_receive(struct rl_group *g, struct raft_message *msg, struct rl__recv *recv);
void rl__group_finish_receive(struct rl_group *g, struct raft_message *msg, struct rl__recv *recv,
			      int step_rv);
void rl__group_free_message(struct raft_message *msg);
bool rl__group_answer_stale(struct rl_group *g, struct raft_message *msg);
void rl__group_note_contact(struct rl_group *g, const struct raft_message *msg);
uint64_t rl__group_contact_of(const struct rl_group *g, uint64_t id);
/* True while this replica is a follower that names a leader it has not
 * heard from (in its term) for the group's minimum election timeout. */
bool rl__group_leader_silent(const struct rl_group *g);

/* group_leader.c: submissions, commit, transfer, membership */
void rl__group_fail_submits(struct rl_group *g, int status);
void rl__group_release_held(struct rl_group *g, int status);
void rl__group_flush(struct rl_group *g);
void rl__group_acks_durable(struct rl_group *g, uint64_t durable_index);
bool rl__group_commit_advanced(struct rl_group *g);
bool rl__group_transfer_poll(struct rl_group *g);
void rl__group_step_down(struct rl_group *g);

/* group_catchup.c: follower side of catch-up */
bool rl__rx_intercept(struct rl_group *g, struct raft_message *msg);
void rl__rx_receive(struct rl_group *g, uint64_t from, const struct rl__cu_msg *m);
void rl__rx_on_install(struct rl_group *g, struct raft_snapshot_metadata *meta,
		       int64_t end_offset);
void rl__rx_op_done(struct rl_group *g, uint64_t session, int status);
void rl__rx_abort(struct rl_group *g, const char *why);
void rl__rx_tick(struct rl_group *g);
void rl__rx_snapshot_taken(struct rl_group *g);
uint64_t rl__rx_deadline(const struct rl_group *g);

/* group_serve.c: source side of catch-up */
void rl__tx_request(struct rl_group *g, uint64_t from, const struct rl__cu_msg *m);
void rl__tx_writable(struct rl_group *g, uint64_t peer);
void rl__tx_tick(struct rl_group *g);
uint64_t rl__tx_deadline(const struct rl_group *g);
void rl__tx_free_all(struct rl_group *g);

/* read.c: copies len bytes at position at of a read reference's range,
 * through the log's file-system table. Returns 0, RL_EINVAL or RL_EIO. */
int rl__read_ref_pread(const struct rl_read_ref *ref, size_t at, void *dst, size_t len);

#endif /* RL_GROUP_INT_H */
