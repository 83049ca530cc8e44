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
	bool commit_dirty;
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

	/* Leader: submissions waiting for durability or commit, FIFO. */
	struct rl_submit_req *sub_head;
	struct rl_submit_req *sub_tail;
	/* Leader: submissions held during a leadership transfer. */
	struct rl_submit_req *held_head;
	struct rl_submit_req *held_tail;
	uint64_t transfer_target;
	uint64_t transfer_deadline_ms;
	bool transfer_sent;

	/* Followers: contact tracking. */
	uint64_t last_leader_contact_ms;
	struct rl__contact *contacts;
	unsigned n_contacts;

	void (*close_cb)(struct rl_group *g, void *arg);
	void *close_arg;
};

/* group.c */
int rl__group_step(struct rl_group *g, struct raft_event *ev);
void rl__group_after(struct rl_group *g);
void rl__group_fail(struct rl_group *g, int err, const char *what);
void rl__group_step_persisted(struct rl_group *g, uint64_t index);
void rl__group_maybe_finish_close(struct rl_group *g);

/* group_io.c: storage */
int rl__group_meta_write(struct rl_group *g, uint64_t term, uint64_t vote);
int rl__group_persist_meta(struct rl_group *g);
int rl__group_persist_entries(struct rl_group *g, raft_index index, struct raft_entry *entries,
			      unsigned n);
void rl__group_install_snapshot(struct rl_group *g, struct raft_update *up);
void rl__group_track_configs(struct rl_group *g, uint64_t first, uint64_t last);

/* group_msg.c: messages */
void rl__group_queue_messages(struct rl_group *g, const struct raft_message *msgs, unsigned n);
void rl__group_outbox_flush(struct rl_group *g);
void rl__group_outbox_clear(struct rl_group *g);
int rl__group_prepare_receive(struct rl_group *g, struct raft_message *msg, struct rl__recv *recv);
void rl__group_finish_receive(struct rl_group *g, struct raft_message *msg, struct rl__recv *recv,
			      int step_rv);
void rl__group_free_message(struct raft_message *msg);
void rl__group_note_contact(struct rl_group *g, const struct raft_message *msg);
uint64_t rl__group_contact_of(const struct rl_group *g, uint64_t id);

/* group_leader.c: submissions, commit, transfer, membership */
void rl__group_fail_submits(struct rl_group *g, int status);
void rl__group_release_held(struct rl_group *g, int status);
void rl__group_acks_durable(struct rl_group *g, uint64_t durable_index);
bool rl__group_commit_advanced(struct rl_group *g);
bool rl__group_transfer_poll(struct rl_group *g);

#endif /* RL_GROUP_INT_H */
