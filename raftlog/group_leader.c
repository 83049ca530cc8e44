/* The group driver's leader duties and commit handling: submissions and
 * their acknowledgements, the high watermark, committed configurations,
 * metadata snapshots, leadership transfer and membership changes. */
#include <stdio.h>
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "raftlog/group_int.h"

/* ---- Submissions ------------------------------------------------------- */

static void sub_push(struct rl_submit_req **head, struct rl_submit_req **tail,
		     struct rl_submit_req *req)
{
	req->next_ = NULL;
	if (*tail != NULL) {
		(*tail)->next_ = req;
	} else {
		*head = req;
	}
	*tail = req;
}

static void complete(struct rl_submit_req *req, int status)
{
	sl_free(req->batch_);
	req->batch_ = NULL;
	req->cb(req, status);
}

/* Completes every request of a detached list. */
static void fail_list(struct rl_submit_req *req, int status)
{
	while (req != NULL) {
		struct rl_submit_req *next = req->next_;
		complete(req, status);
		req = next;
	}
}

/* Detaches the coalescing queue. */
static struct rl_submit_req *take_pending(struct rl_group *g, unsigned *n)
{
	struct rl_submit_req *list = g->pend_head;
	if (n != NULL) {
		*n = g->pend_n;
	}
	g->pend_head = g->pend_tail = NULL;
	g->pend_bytes = 0;
	g->pend_n = 0;
	return list;
}

void rl__group_fail_submits(struct rl_group *g, int status)
{
	struct rl_submit_req *req = g->sub_head;
	g->sub_head = g->sub_tail = NULL;
	struct rl_submit_req *pend = take_pending(g, NULL);
	fail_list(req, status);
	fail_list(pend, status);
}

/* Fills the offsets of a stored submission from its entry: the records
 * before it in a merged entry come first. */
static void fill_offsets(struct rl_group *g, struct rl_submit_req *req)
{
	struct rl_entry_info info;
	if (rl_entry_get_info(g->log, req->index, &info) == 0) {
		req->base_offset = info.base_offset + req->before_;
		req->last_offset = req->base_offset + req->records_ - 1;
	}
}

/* Completes submissions in FIFO order while their condition holds. The
 * list is ordered by index; acks=1 entries complete at durability, acks=all
 * at commit, and a later acks=1 entry never waits for an earlier acks=all
 * one longer than its own condition requires. */
static void ack_ready(struct rl_group *g, uint64_t durable, uint64_t commit)
{
	struct rl_submit_req **pp = &g->sub_head;
	struct rl_submit_req *prev = NULL;
	while (*pp != NULL) {
		struct rl_submit_req *req = *pp;
		/* acks=all also waits for the leader's own durability, so the
		 * high watermark (which needs both) covers an acknowledged entry
		 * by the time the producer hears back. */
		uint64_t need = req->acks == RL_ACKS_ALL ? SL_MIN(commit, durable) : durable;
		if (req->index > durable) {
			break; /* later entries are not durable here yet */
		}
		if (req->index <= need) {
			*pp = req->next_;
			if (g->sub_tail == req) {
				g->sub_tail = prev;
			}
			fill_offsets(g, req);
			complete(req, 0);
			continue;
		}
		prev = req;
		pp = &req->next_;
	}
}

void rl__group_acks_durable(struct rl_group *g, uint64_t durable_index)
{
	ack_ready(g, durable_index, raft_commit_index(&g->raft));
}

static int submit_entries(struct rl_group *g, struct raft_entry *e, unsigned n)
{
	struct raft_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = RAFT_SUBMIT;
	ev.submit.entries = e;
	ev.submit.n = n;
	int rv = rl__group_step(g, &ev);
	if (rv == RAFT_NOTLEADER) {
		return RL_ENOTLEADER;
	}
	if (rv == RAFT_NOMEM) {
		return RL_ENOMEM;
	}
	if (rv != 0) {
		return rv == RL_ESHUTDOWN ? RL_ESHUTDOWN : RL_EINVAL;
	}
	return 0;
}

/* The largest merged entry: never above what the log accepts. */
static size_t coalesce_cap(const struct rl_group *g)
{
	return SL_MIN((size_t)g->cfg.coalesce_bytes_max, (size_t)rl_log_batch_bytes_max(g->log));
}

/* Records re-encoded in a merged batch may grow (wider offset and
 * timestamp deltas): runs are chosen with this much room per record, and
 * a run that still ends up above the cap is retried one batch shorter. */
#define MERGE_GROWTH_PER_RECORD 4u

/* A batch of at least cap / MERGE_LARGE_FRACTION bytes is its own entry:
 * it is large enough for the in-flight cap, and re-encoding it (every
 * record, then the CRC) would cost more CPU than the entries it saves. */
#define MERGE_LARGE_FRACTION 4u

/* Merges the run of n (>= 2) requests starting at first into one batch of
 * at most cap bytes, shortening the run while the merge is too large.
 * Returns how many requests the batch in *out holds (>= 2), or 0 when
 * they are to go alone. */
static unsigned merge_run(struct rl_submit_req *first, unsigned n, size_t cap, uint8_t **out,
			  size_t *out_len)
{
	const uint8_t **srcs = sl_malloc(n * sizeof(*srcs));
	size_t *lens = sl_malloc(n * sizeof(*lens));
	unsigned m = 0;
	if (srcs != NULL && lens != NULL) {
		struct rl_submit_req *r = first;
		for (unsigned i = 0; i < n; i++, r = r->next_) {
			srcs[i] = r->batch_;
			lens[i] = r->len_;
		}
		for (m = n; m >= 2; m--) {
			int rc = kp_batch_merge(srcs, lens, m, cap, out, out_len);
			if (rc == 0) {
				break;
			}
			if (rc != KP_ETOOLARGE) {
				m = 0; /* odd batch or no memory: they go unmerged */
				break;
			}
		}
	}
	sl_free(srcs);
	sl_free(lens);
	return m >= 2 ? m : 0;
}

/* Fills entry e from the queued requests starting at r: one merged batch
 * of the longest compatible run under the cap, or r's own batch. Returns
 * the first request after the entry's. */
static struct rl_submit_req *build_entry(struct rl_group *g, struct rl_submit_req *r,
					 struct raft_entry *e)
{
	struct kp_batch_header h0, h;
	size_t cap = coalesce_cap(g);
	unsigned n = 1;
	struct rl_submit_req *q = r->next_;
	(void)kp_batch_parse_header(r->batch_, r->len_, &h0); /* validated on submit */
	size_t est = r->len_ + MERGE_GROWTH_PER_RECORD * (size_t)r->records_;
	size_t large = cap / MERGE_LARGE_FRACTION;
	while (r->len_ < large && kp_batch_mergeable(&h0) && q != NULL) {
		size_t more = q->len_ + MERGE_GROWTH_PER_RECORD * (size_t)q->records_;
		(void)kp_batch_parse_header(q->batch_, q->len_, &h);
		if (q->len_ >= large || est + more > cap || !kp_batch_merge_compatible(&h0, &h)) {
			break;
		}
		est += more;
		n++;
		q = q->next_;
	}
	uint8_t *merged = NULL;
	size_t merged_len = 0;
	unsigned m = n >= 2 ? merge_run(r, n, cap, &merged, &merged_len) : 0;
	memset(e, 0, sizeof(*e));
	e->term = raft_current_term(&g->raft);
	e->type = RAFT_COMMAND;
	g->sub_stats.entries++;
	if (m == 0) {
		r->before_ = 0;
		e->buf.base = r->batch_;
		e->buf.len = r->len_;
		e->batch = e->buf.base; /* libraft asserts it is set */
		return r->next_;
	}
	g->sub_stats.merged_entries++;
	g->sub_stats.merged_batches += m;
	int32_t before = 0;
	for (unsigned i = 0; i < m; i++, r = r->next_) {
		r->before_ = before;
		before += r->records_;
		sl_free(r->batch_); /* its records are in the merged batch */
		r->batch_ = NULL;
	}
	e->buf.base = merged;
	e->buf.len = merged_len;
	e->batch = merged;
	return r;
}

/* Steps the n requests of list (linked by next_) as entries, merged where
 * possible, in one RAFT_SUBMIT. On success the entries' memory belongs to
 * the append and the requests wait in the ack list. On failure nothing was
 * stepped: a request alone keeps its batch, merged ones lost theirs, and
 * the caller completes them. */
static int step_list(struct rl_group *g, struct rl_submit_req *list, unsigned n)
{
	struct raft_entry *e = raft_malloc(n * sizeof(*e));
	if (e == NULL) {
		return RL_ENOMEM;
	}
	unsigned k = 0;
	for (struct rl_submit_req *r = list; r != NULL; k++) {
		struct rl_submit_req *next = build_entry(g, r, &e[k]);
		for (; r != next; r = r->next_) {
			r->index = k; /* position for now: the index once stepped */
		}
	}
	struct rl_log_info li;
	rl_log_get_info(g->log, &li);
	int rv = submit_entries(g, e, k);
	if (rv != 0) {
		for (unsigned i = 0; i < k; i++) {
			/* A batch still held by a request stays the request's. */
			if (list->batch_ != e[i].buf.base) {
				sl_free(e[i].buf.base);
			}
			while (list != NULL && list->index == i) {
				list = list->next_;
			}
		}
		raft_free(e);
		return rv;
	}
	raft_free(e);
	for (struct rl_submit_req *r = list, *next; r != NULL; r = next) {
		next = r->next_;
		r->batch_ = NULL; /* the append owns it now */
		r->index += li.last_index + 1;
		sub_push(&g->sub_head, &g->sub_tail, r);
	}
	if (g->failed) {
		/* The append failed inside the step (the group failed). */
		rl__group_fail_submits(g, RL_EIO);
	}
	return 0;
}

void rl__group_flush(struct rl_group *g)
{
	if (g->pend_head == NULL) {
		return;
	}
	unsigned n;
	if (g->failed || g->closing || g->role != RAFT_LEADER) {
		int status = g->failed ? RL_EIO : g->closing ? RL_ESHUTDOWN : RL_ENOTLEADER;
		fail_list(take_pending(g, NULL), status);
		return;
	}
	if (g->transfer_target != 0) {
		/* Older than every held submission: they go first. */
		g->pend_tail->next_ = g->held_head;
		if (g->held_head == NULL) {
			g->held_tail = g->pend_tail;
		}
		g->held_head = take_pending(g, NULL);
		return;
	}
	struct rl_submit_req *list = take_pending(g, &n);
	int rv = step_list(g, list, n);
	if (rv != 0) {
		fail_list(list, rv);
	}
}

/* Whether a new submission waits for rl_group_flush(): something is
 * queued already (order), or the leader has entries that are not durable
 * or not committed yet, so that later submissions can share an entry. */
static bool should_queue(struct rl_group *g)
{
	if (g->cfg.coalesce_bytes_max == 0) {
		return false;
	}
	if (g->pend_head != NULL) {
		return true;
	}
	struct rl_log_info li;
	rl_log_get_info(g->log, &li);
	return li.durable_index < li.last_index || raft_commit_index(&g->raft) < li.last_index;
}

static int submit_state(const struct rl_group *g)
{
	if (g->failed) {
		return RL_EIO;
	}
	if (g->closing) {
		return RL_ESHUTDOWN;
	}
	return g->role == RAFT_LEADER ? 0 : RL_ENOTLEADER;
}

int rl_group_submit(struct rl_group *g, struct rl_submit_req *req, uint8_t *batch, size_t len,
		    enum rl_acks acks, rl_submit_cb cb, uint64_t now_ms)
{
	struct kp_batch_header h;
	if (now_ms > g->now_ms) {
		g->now_ms = now_ms;
	}
	int rv = submit_state(g);
	if (rv != 0) {
		return rv;
	}
	/* The caller vouches for the CRC (see rl_group_submit()). */
	if (kp_batch_check_frame(batch, len, 0, &h) != 0 || kp_batch_size(&h) != len ||
	    (h.attributes & KP_ATTR_CONTROL)) {
		return RL_EBATCH;
	}
	if (len > rl_log_batch_bytes_max(g->log)) {
		return RL_ETOOLARGE;
	}
	size_t cap = coalesce_cap(g);
	bool flushed = g->pend_head != NULL && g->pend_bytes + len > cap;
	if (flushed) {
		/* The queue is as large as an entry gets: out with it. */
		rl__group_flush(g);
		rl__group_after(g);
		rv = submit_state(g);
		if (rv != 0) {
			return rv;
		}
	}
	req->acks = acks;
	req->cb = cb;
	req->batch_ = batch;
	req->len_ = len;
	req->records_ = h.last_offset_delta + 1;
	req->before_ = 0;
	req->index = 0;
	req->base_offset = req->last_offset = -1;
	if (g->transfer_target != 0) {
		sub_push(&g->held_head, &g->held_tail, req);
		g->sub_stats.submits++;
		return 0;
	}
	if (len < cap && should_queue(g)) {
		sub_push(&g->pend_head, &g->pend_tail, req);
		g->pend_bytes += len;
		g->pend_n++;
		g->sub_stats.submits++;
		return 0;
	}
	req->next_ = NULL;
	rv = step_list(g, req, 1);
	if (rv != 0) {
		req->batch_ = NULL; /* ownership stays with the caller */
		return rv;
	}
	g->sub_stats.submits++;
	rl__group_after(g);
	return 0;
}

void rl_group_flush(struct rl_group *g, uint64_t now_ms)
{
	if (now_ms > g->now_ms) {
		g->now_ms = now_ms;
	}
	if (g->pend_head != NULL) {
		rl__group_flush(g);
		rl__group_after(g);
	}
}

bool rl_group_flush_pending(const struct rl_group *g)
{
	return g->pend_head != NULL;
}

void rl_group_submit_stats(const struct rl_group *g, struct rl_submit_stats *out)
{
	*out = g->sub_stats;
}

/* Held submissions go back through the coalescing queue (behind anything
 * queued, which is older) when the transfer is abandoned, or complete with
 * status. */
void rl__group_release_held(struct rl_group *g, int status)
{
	struct rl_submit_req *req = g->held_head;
	g->held_head = g->held_tail = NULL;
	if (status != 0) {
		fail_list(req, status);
		return;
	}
	while (req != NULL) {
		struct rl_submit_req *next = req->next_;
		sub_push(&g->pend_head, &g->pend_tail, req);
		g->pend_bytes += req->len_;
		g->pend_n++;
		req = next;
	}
	rl__group_flush(g);
}

/* ---- Commit ------------------------------------------------------------ */

static void feed_configurations(struct rl_group *g, uint64_t commit)
{
	while (g->n_configs > 0 && g->configs[0] <= commit && !g->failed) {
		uint64_t index = g->configs[0];
		memmove(g->configs, g->configs + 1, (g->n_configs - 1) * sizeof(*g->configs));
		g->n_configs--;
		if (index <= g->config_fed) {
			continue;
		}
		g->config_fed = index;
		struct rl_entry_info info;
		if (rl_entry_get_info(g->log, index, &info) != 0) {
			continue;
		}
		uint8_t *buf = sl_malloc(info.size);
		const uint8_t *payload;
		size_t payload_len;
		enum rl_kind kind;
		struct raft_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.type = RAFT_CONFIGURATION;
		ev.configuration.index = index;
		raft_configuration_init(&ev.configuration.conf);
		if (buf == NULL || rl_entry_read(g->log, index, buf, info.size, NULL) != 0 ||
		    rl_batch_kind(buf, info.size, &kind, &payload, &payload_len) != 0) {
			sl_free(buf);
			rl__group_fail(g, RL_ECORRUPT, "read configuration entry");
			return;
		}
		struct raft_buffer pb = {.base = (void *)payload, .len = payload_len};
		int rv = raft_configuration_decode(&pb, &ev.configuration.conf);
		sl_free(buf);
		if (rv != 0) {
			rl__group_fail(g, RL_ECORRUPT, "decode configuration entry");
			return;
		}
		rv = rl__group_step(g, &ev); /* conf passes to raft */
		if (rv != 0 && rv != RL_ESHUTDOWN) {
			rl__group_fail(g, RL_EIO, "apply configuration");
		}
	}
}

static void update_hwm(struct rl_group *g, uint64_t commit)
{
	struct rl_log_info li;
	rl_log_get_info(g->log, &li);
	uint64_t upto = SL_MIN(commit, li.durable_index);
	int64_t hwm = li.start_offset;
	struct rl_entry_info info;
	if (upto >= li.first_index && rl_entry_get_info(g->log, upto, &info) == 0) {
		hwm = info.last_offset + 1;
	}
	if (hwm != g->hwm) {
		g->hwm = hwm;
		if (g->env->hwm_changed != NULL) {
			g->env->hwm_changed(g, hwm);
		}
	}
}

static void maybe_snapshot(struct rl_group *g, uint64_t commit)
{
	struct rl_log_info li;
	rl_log_get_info(g->log, &li);
	uint64_t upto = SL_MIN(commit, li.durable_index);
	if (g->cfg.snapshot_threshold == 0 || upto < g->snapshot_index + g->cfg.snapshot_threshold ||
	    g->raft.snapshot.installing || g->raft.configuration_committed_index == 0 ||
	    g->raft.configuration_committed_index > upto) {
		return;
	}
	struct rl_entry_info info;
	if (rl_entry_get_info(g->log, upto, &info) != 0) {
		return;
	}
	struct raft_snapshot_metadata meta;
	memset(&meta, 0, sizeof(meta));
	meta.index = upto;
	meta.term = info.term;
	meta.configuration_index = g->raft.configuration_committed_index;
	raft_configuration_init(&meta.configuration);
	const struct raft_configuration *c = &g->raft.configuration_committed;
	for (unsigned i = 0; i < c->n; i++) {
		if (raft_configuration_add(&meta.configuration, c->servers[i].id,
					   c->servers[i].address, c->servers[i].role) != 0) {
			raft_configuration_close(&meta.configuration);
			return;
		}
	}
	/* Mark it taken now so that it is not started twice. */
	g->snapshot_index = upto;
	if (rl__group_write_snapshot(g, &meta, info.last_offset + 1, g->cfg.snapshot_trailing,
				     false) != 0) {
		rl__group_fail(g, RL_EIO, "take snapshot");
	}
}

bool rl__group_commit_advanced(struct rl_group *g)
{
	uint64_t commit = raft_commit_index(&g->raft);
	feed_configurations(g, commit);
	update_hwm(g, commit);
	struct rl_log_info li;
	rl_log_get_info(g->log, &li);
	ack_ready(g, li.durable_index, commit);
	maybe_snapshot(g, commit);
	return false;
}

/* ---- Leadership transfer -----------------------------------------------
 * Phases (g->transfer_target != 0 throughout; new submissions are held):
 * 1. Drain: the entries appended before the transfer commit and are
 *    acknowledged, and the target catches up. Ends when commit index,
 *    the leader's durable index and the target's match index all equal
 *    the last index (nothing pending is left to fail at the step-down),
 *    or at transfer_timeout_ms (abandoned).
 * 2. Sent: RAFT_TRANSFER makes libraft send TimeoutNow; libraft refuses
 *    submissions from here on, so they stay held. Ends when the leader
 *    steps down (held submissions fail with RL_ENOTLEADER, see
 *    rl__group_step_down) or when libraft gives up after an election
 *    timeout without a new leader (it does so on a leader tick, at least
 *    once per election timeout); the transfer is then abandoned.
 * Abandoning resubmits the held submissions in order. */

static bool is_voter(const struct rl_group *g, uint64_t id)
{
	const struct raft_configuration *c = &g->raft.configuration;
	for (unsigned i = 0; i < c->n; i++) {
		if (c->servers[i].id == id) {
			return c->servers[i].role == RAFT_VOTER;
		}
	}
	return false;
}

static unsigned held_count(const struct rl_group *g)
{
	unsigned n = 0;
	for (const struct rl_submit_req *r = g->held_head; r != NULL; r = r->next_) {
		n++;
	}
	return n;
}

int rl_group_transfer(struct rl_group *g, uint64_t target_id, uint64_t now_ms)
{
	if (now_ms > g->now_ms) {
		g->now_ms = now_ms;
	}
	if (g->failed || g->closing) {
		return RL_ESHUTDOWN;
	}
	if (g->role != RAFT_LEADER) {
		return RL_ENOTLEADER;
	}
	if (g->transfer_target != 0) {
		return RL_EBUSY;
	}
	if (target_id == g->cfg.server_id || !is_voter(g, target_id)) {
		return RL_EINVAL;
	}
	/* Submissions queued for coalescing arrived before the request: they
	 * are appended (and so acknowledged by the drain), not held. */
	if (g->pend_head != NULL) {
		rl__group_flush(g);
		if (g->role != RAFT_LEADER || g->failed) {
			rl__group_after(g);
			return g->failed ? RL_ESHUTDOWN : RL_ENOTLEADER;
		}
	}
	g->transfer_target = target_id;
	g->transfer_started_ms = g->now_ms;
	g->transfer_deadline_ms = g->now_ms + g->cfg.transfer_timeout_ms;
	g->transfer_sent = false;
	SL_LOG(SL_LOG_INFO, "group=%llu term=%llu event=transfer_started target=%llu",
	       (unsigned long long)g->cfg.group_id,
	       (unsigned long long)raft_current_term(&g->raft), (unsigned long long)target_id);
	rl__group_after(g);
	return 0;
}

/* Ends a transfer that did not move leadership: the held submissions are
 * resubmitted, in order, as if they had just arrived. */
static void transfer_abandon(struct rl_group *g, const char *reason)
{
	SL_LOG(SL_LOG_WARN,
	       "group=%llu term=%llu event=transfer_abandoned target=%llu reason=%s held=%u "
	       "held_ms=%llu",
	       (unsigned long long)g->cfg.group_id,
	       (unsigned long long)raft_current_term(&g->raft),
	       (unsigned long long)g->transfer_target, reason, held_count(g),
	       (unsigned long long)(g->now_ms - g->transfer_started_ms));
	g->transfer_target = 0;
	g->transfer_sent = false;
	rl__group_release_held(g, 0);
}

/* True once stepping down would leave nothing appended unanswered and the
 * target can win: every entry is committed and durable here (so every
 * submission appended before the transfer has been acknowledged) and the
 * target holds them all (it ignores TimeoutNow unless its log matches the
 * leader's, and libraft sends TimeoutNow only once). */
static bool transfer_ready(struct rl_group *g)
{
	struct rl_log_info li;
	rl_log_get_info(g->log, &li);
	raft_index match = 0;
	return raft_match_index(&g->raft, g->transfer_target, &match) == 0 &&
	       match == li.last_index && li.durable_index == li.last_index &&
	       raft_commit_index(&g->raft) == li.last_index && g->sub_head == NULL;
}

/* Called after every step: moves the transfer through its phases. */
bool rl__group_transfer_poll(struct rl_group *g)
{
	if (g->transfer_target == 0 || g->role != RAFT_LEADER) {
		return false;
	}
	if (g->transfer_sent) {
		if (raft_transferee(&g->raft) != 0) {
			return false; /* the target's election is under way */
		}
		transfer_abandon(g, "not_elected");
		return true;
	}
	if (g->now_ms >= g->transfer_deadline_ms) {
		transfer_abandon(g, "catch_up_timeout");
		return true;
	}
	if (!transfer_ready(g)) {
		return false;
	}
	struct raft_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = RAFT_TRANSFER;
	ev.transfer.server_id = g->transfer_target;
	g->transfer_sent = true;
	/* From here libraft bounds the wait (an election timeout); our
	 * deadline no longer applies. */
	g->transfer_deadline_ms = UINT64_MAX;
	int rv = rl__group_step(g, &ev);
	if (rv == RL_ESHUTDOWN) {
		return true;
	}
	if (rv != 0) {
		SL_LOG(SL_LOG_WARN, "group=%llu event=transfer_failed err=%s",
		       (unsigned long long)g->cfg.group_id, raft_strerror(rv));
		transfer_abandon(g, "refused");
		return true;
	}
	SL_LOG(SL_LOG_INFO,
	       "group=%llu term=%llu event=transfer_timeout_now target=%llu held=%u drain_ms=%llu",
	       (unsigned long long)g->cfg.group_id,
	       (unsigned long long)raft_current_term(&g->raft),
	       (unsigned long long)g->transfer_target, held_count(g),
	       (unsigned long long)(g->now_ms - g->transfer_started_ms));
	return true;
}

/* Leadership is lost (a transfer completed, or any other step-down).
 * Submissions still pending fail with RL_ENOTLEADER: their entries may yet
 * commit under the new leader, so a client that retries may write them
 * twice. A completed transfer leaves none (it waited for commit index ==
 * last index); the submissions it held were never appended and fail with
 * RL_ENOTLEADER too, to be retried at the new leader. */
void rl__group_step_down(struct rl_group *g)
{
	if (g->transfer_target != 0) {
		SL_LOG(SL_LOG_INFO,
		       "group=%llu term=%llu event=transfer_stepped_down target=%llu "
		       "timeout_now_sent=%d held=%u pending=%d held_ms=%llu",
		       (unsigned long long)g->cfg.group_id,
		       (unsigned long long)raft_current_term(&g->raft),
		       (unsigned long long)g->transfer_target, g->transfer_sent, held_count(g),
		       g->sub_head != NULL, (unsigned long long)(g->now_ms - g->transfer_started_ms));
	}
	g->transfer_target = 0;
	g->transfer_sent = false;
	rl__group_fail_submits(g, RL_ENOTLEADER);
	rl__group_release_held(g, RL_ENOTLEADER);
}

/* ---- Membership -------------------------------------------------------- */

static bool change_pending(const struct rl_group *g)
{
	return g->raft.configuration_uncommitted_index != 0;
}

/* Submits the current configuration with id set to role (added if absent,
 * removed if role < 0). */
static int submit_change(struct rl_group *g, uint64_t id, int role)
{
	if (g->failed || g->closing) {
		return RL_ESHUTDOWN;
	}
	if (g->role != RAFT_LEADER) {
		return RL_ENOTLEADER;
	}
	if (change_pending(g) || g->transfer_target != 0) {
		return RL_EBUSY;
	}
	struct raft_configuration c;
	raft_configuration_init(&c);
	const struct raft_configuration *cur = &g->raft.configuration;
	bool found = false;
	int rv = 0;
	for (unsigned i = 0; i < cur->n && rv == 0; i++) {
		const struct raft_server *s = &cur->servers[i];
		if (s->id == id) {
			found = true;
			if (role >= 0) {
				rv = raft_configuration_add(&c, s->id, s->address, role);
			}
		} else {
			rv = raft_configuration_add(&c, s->id, s->address, s->role);
		}
	}
	if (rv == 0 && !found && role >= 0) {
		char address[32];
		snprintf(address, sizeof(address), "%llu", (unsigned long long)id);
		rv = raft_configuration_add(&c, id, address, role);
	}
	if (rv != 0 || (found == false && role < 0)) {
		raft_configuration_close(&c);
		return rv != 0 ? RL_EINVAL : RL_EINVAL;
	}
	struct raft_entry e;
	memset(&e, 0, sizeof(e));
	e.term = raft_current_term(&g->raft);
	e.type = RAFT_CHANGE;
	rv = raft_configuration_encode(&c, &e.buf);
	raft_configuration_close(&c);
	if (rv != 0) {
		return RL_ENOMEM;
	}
	e.batch = e.buf.base;
	rv = submit_entries(g, &e, 1);
	if (rv != 0) {
		raft_free(e.buf.base);
		return rv;
	}
	rl__group_after(g);
	return 0;
}

int rl_group_add_learner(struct rl_group *g, uint64_t id, uint64_t now_ms)
{
	if (now_ms > g->now_ms) {
		g->now_ms = now_ms;
	}
	return submit_change(g, id, RAFT_STANDBY);
}

/* Promotion waits until the learner has every entry, so the voter count
 * never grows by a server that cannot yet vote for a current log. */
int rl_group_promote(struct rl_group *g, uint64_t id, uint64_t now_ms)
{
	if (now_ms > g->now_ms) {
		g->now_ms = now_ms;
	}
	if (g->role == RAFT_LEADER) {
		struct rl_log_info li;
		raft_index match = 0;
		rl_log_get_info(g->log, &li);
		if (raft_match_index(&g->raft, id, &match) != 0) {
			return RL_EINVAL;
		}
		if (match < li.last_index) {
			return RL_EAGAIN;
		}
	}
	return submit_change(g, id, RAFT_VOTER);
}

int rl_group_remove(struct rl_group *g, uint64_t id, uint64_t now_ms)
{
	if (now_ms > g->now_ms) {
		g->now_ms = now_ms;
	}
	return submit_change(g, id, -1);
}
