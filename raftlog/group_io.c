/* The group driver's storage side: term/vote, entries, snapshots.
 *
 * Happy path: a step that changes term or vote queues rl_set_term_vote();
 * messages wait in the outbox until every such write completed. New entries
 * are a truncate (when they start at or below the last index) followed by
 * one rl_append(); the leader's entries get offsets assigned, a follower's
 * are stored verbatim. Appends complete in FIFO order; each completion
 * reports the highest contiguous durable index that no later truncate has
 * replaced, as RAFT_PERSISTED_ENTRIES.
 *
 * Failure modes: any storage error fails the group (rl__group_fail). Memory
 * handed over by libraft (received batches, the leader's barrier) is always
 * released, on success or failure, when the operation completes. */
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "raftlog/group_int.h"

/* One in-flight append and the memory it keeps alive until it completes. */
struct rl__append_op {
	struct rl_append_req req;
	struct rl_group *g;
	uint64_t cap;             /* report no more than this (later truncates) */
	void **owned;             /* buffers to free: sl_free unless raft-owned */
	bool *owned_raft;
	unsigned n_owned;
	struct rl__append_op *next;
};

struct rl__meta_op {
	struct rl_meta_req req;
	struct rl_group *g;
	bool snapshot;            /* a snapshot metadata write */
	struct raft_snapshot_metadata meta;
	unsigned trailing;
	struct raft_configuration conf_out; /* install: handed back to raft */
	bool install;
};

struct rl__trunc_op {
	struct rl_truncate_req req;
	struct rl_group *g;
	uint64_t tid; /* catch-up transfer to notify, 0 = none */
};

static int reset_for_entries(struct rl_group *g, uint64_t index);

static void op_done(struct rl_group *g)
{
	SL_ASSERT(g->ops_inflight > 0);
	g->ops_inflight--;
	rl__group_maybe_finish_close(g);
}

/* ---- Term and vote ----------------------------------------------------- */

static void meta_cb(struct rl_meta_req *req, int status)
{
	struct rl__meta_op *op = req->data;
	struct rl_group *g = op->g;
	SL_ASSERT(g->meta_inflight > 0);
	g->meta_inflight--;
	if (status != 0) {
		rl__group_fail(g, status, "write term/vote");
	} else if (g->meta_inflight == 0 && !g->closing) {
		rl__group_outbox_flush(g);
	}
	sl_free(op);
	op_done(g);
}

int rl__group_meta_write(struct rl_group *g, uint64_t term, uint64_t vote)
{
	struct rl__meta_op *op = sl_calloc(1, sizeof(*op));
	if (op == NULL) {
		return RL_ENOMEM;
	}
	op->g = g;
	op->req.data = op;
	int rv = rl_set_term_vote(g->log, &op->req, term, vote, meta_cb);
	if (rv != 0) {
		sl_free(op);
		return rv;
	}
	g->ops_inflight++;
	g->meta_inflight++;
	return 0;
}

int rl__group_persist_meta(struct rl_group *g)
{
	return rl__group_meta_write(g, raft_current_term(&g->raft), raft_voted_for(&g->raft));
}

/* ---- Entries ----------------------------------------------------------- */

static void append_free(struct rl__append_op *op)
{
	for (unsigned i = 0; i < op->n_owned; i++) {
		if (op->owned_raft[i]) {
			raft_free(op->owned[i]);
		} else {
			sl_free(op->owned[i]);
		}
	}
	sl_free(op->owned);
	sl_free(op->owned_raft);
	sl_free(op);
}

static void append_cb(struct rl_append_req *req, int status)
{
	struct rl__append_op *op = req->data;
	struct rl_group *g = op->g;
	SL_ASSERT(g->appends_head == op);
	g->appends_head = op->next;
	if (g->appends_head == NULL) {
		g->appends_tail = NULL;
	}
	if (status != 0) {
		rl__group_fail(g, status, "append entries");
	} else if (!g->closing && !g->failed) {
		uint64_t index = SL_MIN(op->req.last_index, op->cap);
		if (index > g->raft.last_stored) {
			rl__group_acks_durable(g, index);
			rl__group_step_persisted(g, index);
		}
	}
	append_free(op);
	op_done(g);
}

/* The log changed other than by an append libraft asked for (a truncate, a
 * restart at another start, a catch-up window): the high watermark depends
 * on the log as much as on the commit index, so it is recomputed from the
 * new log by the next rl__group_after() (which every host entry point and
 * every storage completion ends with). */
static void log_changed(struct rl_group *g)
{
	g->commit_dirty = true;
}

/* Completion of a truncate, reset or catch-up append: the transfer waiting
 * for it (tid, 0 = none) continues, and the high watermark follows the
 * log (durable_index moved). */
static void cu_notify(struct rl_group *g, uint64_t tid, int status)
{
	if (g->closing || g->failed) {
		return;
	}
	log_changed(g);
	if (tid != 0) {
		rl__rx_op_done(g, tid, status);
	}
	rl__group_after(g);
}

static void trunc_cb(struct rl_truncate_req *req, int status)
{
	struct rl__trunc_op *op = req->data;
	struct rl_group *g = op->g;
	if (status != 0) {
		rl__group_fail(g, status, "truncate");
	}
	cu_notify(g, op->tid, status);
	sl_free(op);
	op_done(g);
}

/* In-flight appends report no index >= index any more, and configurations
 * from index on are forgotten. */
static void forget_from(struct rl_group *g, uint64_t index)
{
	for (struct rl__append_op *a = g->appends_head; a != NULL; a = a->next) {
		if (a->cap >= index) {
			a->cap = index - 1;
		}
	}
	while (g->n_configs > 0 && g->configs[g->n_configs - 1] >= index) {
		g->n_configs--;
	}
}

static int truncate_from(struct rl_group *g, uint64_t index, uint64_t tid)
{
	struct rl__trunc_op *op = sl_calloc(1, sizeof(*op));
	if (op == NULL) {
		return RL_ENOMEM;
	}
	op->g = g;
	op->tid = tid;
	op->req.data = op;
	int rv = rl_truncate(g->log, &op->req, index, trunc_cb);
	if (rv != 0) {
		sl_free(op);
		return rv;
	}
	g->ops_inflight++;
	forget_from(g, index);
	log_changed(g);
	return 0;
}

int rl__group_truncate(struct rl_group *g, uint64_t index)
{
	return truncate_from(g, index, 0);
}

int rl__group_cu_truncate(struct rl_group *g, uint64_t index, uint64_t tid)
{
	return truncate_from(g, index, tid);
}

static int own(struct rl__append_op *op, void *p, bool raft_owned)
{
	op->owned[op->n_owned] = p;
	op->owned_raft[op->n_owned] = raft_owned;
	op->n_owned++;
	return 0;
}

static int track_config(struct rl_group *g, uint64_t index)
{
	if (g->n_configs == g->cap_configs) {
		unsigned cap = g->cap_configs == 0 ? 4 : g->cap_configs * 2;
		uint64_t *c = sl_realloc(g->configs, cap * sizeof(*c));
		if (c == NULL) {
			return RL_ENOMEM;
		}
		g->configs = c;
		g->cap_configs = cap;
	}
	g->configs[g->n_configs++] = index;
	return 0;
}

/* Fills out[i] for entry i, returning the bytes to store. Leader entries
 * that are not data are wrapped in control batches (owned by op). */
static int entry_bytes(struct rl_group *g, struct rl__append_op *op, const struct raft_entry *e,
		       unsigned i, bool leader, struct rl_entry *out)
{
	out->term = e->term;
	out->kind = (enum rl_kind)e->type;
	/* Every batch persisted here had its CRC checked in this process:
	 * received ones by prepare_entries(), submitted ones at
	 * rl_group_submit() (the host vouches for them), merged and control
	 * ones were built here. */
	out->crc_checked = true;
	if (!leader) {
		/* Received: the whole batch (CONFIG entries carry the payload
		 * for libraft, the batch for us). */
		size_t k = (size_t)(e - g->recv->entries);
		SL_ASSERT(k < g->recv->n);
		out->buf = g->recv->full[k].base;
		out->len = g->recv->full[k].len;
		return 0;
	}
	if (e->type == RAFT_COMMAND) {
		out->buf = e->buf.base;
		out->len = e->buf.len;
		return 0;
	}
	uint8_t *batch;
	size_t len;
	int rv = rl_control_batch_build((enum rl_kind)e->type, e->buf.base, e->buf.len,
					(int64_t)g->now_ms, &batch, &len);
	if (rv != 0) {
		return rv;
	}
	(void)i;
	own(op, batch, false);
	out->buf = batch;
	out->len = len;
	return 0;
}

/* Memory of the entries becomes ours once libraft asked us to persist
 * them, and stays alive until the append completes (rl_append borrows it):
 * received entries share the message's batch (handed over below), a
 * submitted data entry's batch is sl_malloc'd, the leader's barrier and our
 * configuration entries are raft_malloc'd. */
static void take_entry_memory(struct rl__append_op *op, struct raft_entry *entries, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (entries[i].type == RAFT_COMMAND) {
			own(op, entries[i].buf.base, false);
		} else if (entries[i].batch != NULL) {
			own(op, entries[i].batch, true);
		}
	}
}

/* Makes the log end just before index, where libraft's new entries go: a
 * truncate, or a restart of a log that holds only a catch-up range libraft
 * does not know (group.h, "Catch-up"). A deferred catch-up is abandoned:
 * normal replication has resumed. */
static int make_room(struct rl_group *g, uint64_t index)
{
	struct rl_log_info li;
	rl_log_get_info(g->log, &li);
	if (g->rx.active && !g->rx.installing) {
		rl__rx_abort(g, "replication resumed");
	}
	if (index < li.first_index || index > li.last_index + 1) {
		return reset_for_entries(g, index);
	}
	if (index <= li.last_index) {
		return truncate_from(g, index, 0);
	}
	return 0;
}

int rl__group_persist_entries(struct rl_group *g, raft_index index, struct raft_entry *entries,
			      unsigned n)
{
	/* Entries are received ones when they point into the message being
	 * received; otherwise this replica created them as leader (its own
	 * submissions, or the barrier appended when a vote made it leader). */
	struct rl__recv *recv = g->recv;
	bool leader = true;
	if (recv != NULL && recv->n > 0) {
		uintptr_t p = (uintptr_t)entries, lo = (uintptr_t)recv->entries;
		leader = !(p >= lo && p < lo + recv->n * sizeof(*entries));
	}
	int rv = make_room(g, index);
	if (rv != 0) {
		return rv;
	}
	struct rl__append_op *op = sl_calloc(1, sizeof(*op));
	struct rl_entry *re = sl_calloc(n, sizeof(*re));
	if (op == NULL || re == NULL) {
		rv = RL_ENOMEM;
		goto err_after_alloc;
	}
	op->owned = sl_calloc(2 * (size_t)n + 1, sizeof(*op->owned));
	op->owned_raft = sl_calloc(2 * (size_t)n + 1, sizeof(*op->owned_raft));
	if (op->owned == NULL || op->owned_raft == NULL) {
		rv = RL_ENOMEM;
		goto err_after_alloc;
	}
	op->g = g;
	op->req.data = op;
	op->cap = UINT64_MAX;
	if (leader) {
		take_entry_memory(op, entries, n);
	}
	for (unsigned i = 0; i < n && rv == 0; i++) {
		rv = entry_bytes(g, op, &entries[i], i, leader, &re[i]);
		if (rv == 0 && re[i].kind == RL_KIND_CONFIG) {
			rv = track_config(g, index + i);
		}
	}
	if (rv != 0) {
		goto err_after_alloc;
	}
	if (!leader) {
		/* The received batch buffer is ours now; free it with the op. */
		own(op, recv->entries[0].batch, true);
		recv->async = true;
	}
	rv = rl_append(g->log, &op->req, re, n, leader ? RL_APPEND_ASSIGN : RL_APPEND_VERIFY,
		       append_cb);
	if (rv != 0) {
		goto err_after_alloc;
	}
	sl_free(re);
	g->ops_inflight++;
	if (g->appends_tail != NULL) {
		g->appends_tail->next = op;
	} else {
		g->appends_head = op;
	}
	g->appends_tail = op;
	return 0;

err_after_alloc:
	sl_free(re);
	if (op != NULL) {
		if (!leader && !recv->async) {
			own(op, recv->entries[0].batch, true);
			recv->async = true;
		}
		append_free(op);
	}
	return rv;
}

void rl__group_track_configs(struct rl_group *g, uint64_t first, uint64_t last)
{
	uint64_t commit = raft_commit_index(&g->raft);
	g->config_fed = commit;
	for (uint64_t i = SL_MAX(first, commit + 1); i <= last && i >= 1; i++) {
		struct rl_entry_info info;
		if (rl_entry_get_info(g->log, i, &info) == 0 && info.kind == RL_KIND_CONFIG) {
			if (track_config(g, i) != 0) {
				rl__group_fail(g, RL_ENOMEM, "track configuration");
				return;
			}
		}
	}
}

/* ---- Snapshots --------------------------------------------------------- */

static void snapshot_cb(struct rl_meta_req *req, int status)
{
	struct rl__meta_op *op = req->data;
	struct rl_group *g = op->g;
	if (!op->install) {
		SL_ASSERT(g->snapshots_taking > 0);
		g->snapshots_taking--;
	}
	if (status != 0) {
		rl__group_fail(g, status, "write snapshot metadata");
		raft_configuration_close(&op->meta.configuration);
	} else if (g->closing || g->failed) {
		raft_configuration_close(&op->meta.configuration);
	} else if (op->install) {
		struct raft_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.type = RAFT_PERSISTED_SNAPSHOT;
		ev.persisted_snapshot.metadata = op->meta; /* conf passes to raft */
		ev.persisted_snapshot.offset = 0;
		ev.persisted_snapshot.last = true;
		g->snapshot_index = op->meta.index;
		int rv = rl__group_step(g, &ev);
		if (rv != 0 && rv != RL_ESHUTDOWN) {
			rl__group_fail(g, RL_EIO, "persisted snapshot");
		}
		rl__group_after(g);
	} else {
		struct raft_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.type = RAFT_SNAPSHOT;
		ev.snapshot.metadata = op->meta; /* conf passes to raft */
		ev.snapshot.trailing = op->trailing;
		/* Never lower: with two taken snapshots in flight, the first one's
		 * completion lowered it, and the next commit took the second
		 * index again (TrailSnapshot asserts; raft-debug.sh seed 2341). */
		g->snapshot_index = SL_MAX(g->snapshot_index, op->meta.index);
		int rv = rl__group_step(g, &ev);
		if (rv != 0 && rv != RL_ESHUTDOWN) {
			rl__group_fail(g, RL_EIO, "take snapshot");
		}
		rl__rx_snapshot_taken(g);
		rl__group_after(g);
	}
	sl_free(op);
	op_done(g);
}

/* Writes snapshot metadata, then steps RAFT_SNAPSHOT (taken) or
 * RAFT_PERSISTED_SNAPSHOT (installed). Ownership of meta->configuration
 * passes to this function. While a taken snapshot is being written,
 * libraft is not given an InstallSnapshot (g->snapshots_taking): libraft
 * 0.22.1 restores an installed snapshot's trail at once, and the taken
 * snapshot's RAFT_SNAPSHOT then names an index its trail no longer holds
 * (TrailSnapshot asserts; replication.c says the caller must wait). */
int rl__group_write_snapshot(struct rl_group *g, struct raft_snapshot_metadata *meta,
			     int64_t log_start_offset, unsigned trailing, bool install)
{
	struct raft_buffer enc = {0};
	struct rl__meta_op *op = sl_calloc(1, sizeof(*op));
	int rv = RL_ENOMEM;
	if (op == NULL || raft_configuration_encode(&meta->configuration, &enc) != 0) {
		goto err;
	}
	op->g = g;
	op->req.data = op;
	op->meta = *meta;
	op->trailing = trailing;
	op->install = install;
	struct rl_snapshot_meta sm = {
		.index = meta->index,
		.term = meta->term,
		.conf_index = meta->configuration_index,
		.log_start_offset = log_start_offset,
		.conf = enc.base,
		.conf_len = enc.len,
	};
	rv = rl_set_snapshot(g->log, &op->req, &sm, snapshot_cb);
	raft_free(enc.base);
	if (rv != 0) {
		goto err;
	}
	g->ops_inflight++;
	if (!install) {
		g->snapshots_taking++;
	}
	return 0;
err:
	sl_free(op);
	raft_configuration_close(&meta->configuration);
	return rv;
}

struct rl__reset_op {
	struct rl_reset_req req;
	struct rl_group *g;
	uint64_t tid; /* catch-up transfer to notify, 0 = none */
};

static void reset_cb(struct rl_reset_req *req, int status)
{
	struct rl__reset_op *op = req->data;
	struct rl_group *g = op->g;
	if (status != 0) {
		rl__group_fail(g, status, "reset log");
	}
	cu_notify(g, op->tid, status);
	sl_free(op);
	op_done(g);
}

static int reset_log(struct rl_group *g, uint64_t next_index, int64_t next_offset, uint64_t tid)
{
	struct rl__reset_op *op = sl_calloc(1, sizeof(*op));
	if (op == NULL) {
		return RL_ENOMEM;
	}
	op->g = g;
	op->tid = tid;
	op->req.data = op;
	int rv = rl_reset(g->log, &op->req, next_index, next_offset, reset_cb);
	if (rv != 0) {
		sl_free(op);
		return rv;
	}
	g->ops_inflight++;
	forget_from(g, next_index);
	log_changed(g);
	return 0;
}

int rl__group_cu_reset(struct rl_group *g, uint64_t next_index, int64_t next_offset, uint64_t tid)
{
	return reset_log(g, next_index, next_offset, tid);
}

/* libraft appends at index while the log holds only a range it does not
 * know: libraft's log ends at its snapshot, whose metadata gives the
 * offset. */
static int reset_for_entries(struct rl_group *g, uint64_t index)
{
	struct rl_snapshot_meta sm;
	rl_log_get_snapshot(g->log, &sm);
	int64_t offset;
	if (sm.index > 0 && sm.index + 1 == index) {
		offset = sm.log_start_offset;
	} else if (sm.index == 0 && index == 1) {
		offset = 0;
	} else {
		return RL_EINVAL;
	}
	return reset_log(g, index, offset, 0);
}

/* One catch-up window being appended; owns the window's buffer. */
struct rl__cu_append_op {
	struct rl_append_req req;
	struct rl_group *g;
	uint64_t tid;
	uint8_t *buf;
};

static void cu_append_cb(struct rl_append_req *req, int status)
{
	struct rl__cu_append_op *op = req->data;
	struct rl_group *g = op->g;
	if (status != 0) {
		rl__group_fail(g, status, "catch-up append");
	}
	sl_free(op->buf);
	uint64_t tid = op->tid;
	sl_free(op);
	cu_notify(g, tid, status);
	op_done(g);
}

int rl__group_cu_append(struct rl_group *g, const struct rl_entry *entries, unsigned n,
			uint8_t *buf, uint64_t tid)
{
	struct rl__cu_append_op *op = sl_calloc(1, sizeof(*op));
	if (op == NULL) {
		return RL_ENOMEM;
	}
	op->g = g;
	op->tid = tid;
	op->buf = buf;
	op->req.data = op;
	int rv = rl_append(g->log, &op->req, entries, n, RL_APPEND_VERIFY, cu_append_cb);
	if (rv != 0) {
		sl_free(op); /* buf stays the caller's */
		return rv;
	}
	g->ops_inflight++;
	return 0;
}

/* Without catch-up: the log restarts empty at the snapshot, then the
 * metadata is written and RAFT_PERSISTED_SNAPSHOT stepped. */
static void install_metadata_only(struct rl_group *g, struct raft_snapshot_metadata *meta,
				  int64_t next_offset)
{
	if (next_offset < 0) {
		raft_configuration_close(&meta->configuration);
		rl__group_fail(g, RL_EINVAL, "install snapshot: bad data");
		return;
	}
	int rv = reset_log(g, meta->index + 1, next_offset, 0);
	if (rv != 0) {
		raft_configuration_close(&meta->configuration);
		rl__group_fail(g, rv, "install snapshot: reset");
		return;
	}
	g->n_configs = 0;
	g->config_fed = meta->index;
	rv = rl__group_write_snapshot(g, meta, next_offset, 0, true);
	if (rv != 0) {
		rl__group_fail(g, rv, "install snapshot: metadata");
	}
}

/* A follower installs a snapshot sent by the leader. The snapshot data is
 * the offset just past the snapshot's last entry (8 bytes, big-endian).
 * libraft forgot its log: in-flight appends report nothing more. With
 * catch-up the log is filled up to the snapshot first (group_catchup.c),
 * else it restarts empty after it. */
void rl__group_install_snapshot(struct rl_group *g, struct raft_update *up)
{
	struct raft_snapshot_metadata meta = up->snapshot.metadata;
	int64_t next_offset = -1;
	if (up->snapshot.chunk.len == 8) {
		next_offset = (int64_t)kp_get_u64(up->snapshot.chunk.base);
	}
	raft_free(up->snapshot.chunk.base);
	for (struct rl__append_op *a = g->appends_head; a != NULL; a = a->next) {
		a->cap = 0;
	}
	if (g->env->send_catchup != NULL) {
		rl__rx_on_install(g, &meta, next_offset);
		return;
	}
	install_metadata_only(g, &meta, next_offset);
}
