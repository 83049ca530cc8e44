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

void rl__group_fail_submits(struct rl_group *g, int status)
{
	struct rl_submit_req *req = g->sub_head;
	g->sub_head = g->sub_tail = NULL;
	while (req != NULL) {
		struct rl_submit_req *next = req->next_;
		complete(req, status);
		req = next;
	}
}

/* Fills the offsets of a stored submission from the log. */
static void fill_offsets(struct rl_group *g, struct rl_submit_req *req)
{
	struct rl_entry_info info;
	if (rl_entry_get_info(g->log, req->index, &info) == 0) {
		req->base_offset = info.base_offset;
		req->last_offset = info.last_offset;
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

/* Steps one submission; on success the entry's memory belongs to the
 * append and the request waits in the ack list. */
static int submit_one(struct rl_group *g, struct rl_submit_req *req)
{
	struct rl_log_info li;
	struct raft_entry *e = raft_malloc(sizeof(*e));
	if (e == NULL) {
		return RL_ENOMEM;
	}
	memset(e, 0, sizeof(*e));
	e->term = raft_current_term(&g->raft);
	e->type = RAFT_COMMAND;
	e->buf.base = req->batch_;
	e->buf.len = req->len_;
	e->batch = req->batch_; /* libraft asserts it is set; take_entry_memory ignores it */
	rl_log_get_info(g->log, &li);
	int rv = submit_entries(g, e, 1);
	raft_free(e);
	if (rv != 0) {
		return rv;
	}
	req->batch_ = NULL; /* the append owns it now */
	req->index = li.last_index + 1;
	req->base_offset = li.next_offset;
	sub_push(&g->sub_head, &g->sub_tail, req);
	return 0;
}

int rl_group_submit(struct rl_group *g, struct rl_submit_req *req, uint8_t *batch, size_t len,
		    enum rl_acks acks, rl_submit_cb cb, uint64_t now_ms)
{
	struct kp_batch_header h;
	if (now_ms > g->now_ms) {
		g->now_ms = now_ms;
	}
	if (g->failed) {
		return RL_EIO;
	}
	if (g->closing) {
		return RL_ESHUTDOWN;
	}
	if (g->role != RAFT_LEADER) {
		return RL_ENOTLEADER;
	}
	if (kp_batch_validate(batch, len, 0, &h) != 0 || kp_batch_size(&h) != len ||
	    (h.attributes & KP_ATTR_CONTROL)) {
		return RL_EBATCH;
	}
	req->acks = acks;
	req->cb = cb;
	req->batch_ = batch;
	req->len_ = len;
	req->index = 0;
	req->base_offset = req->last_offset = -1;
	if (g->transfer_target != 0) {
		sub_push(&g->held_head, &g->held_tail, req);
		return 0;
	}
	int rv = submit_one(g, req);
	if (rv != 0) {
		req->batch_ = NULL; /* ownership stays with the caller */
		return rv;
	}
	rl__group_after(g);
	return 0;
}

void rl__group_release_held(struct rl_group *g, int status)
{
	struct rl_submit_req *req = g->held_head;
	g->held_head = g->held_tail = NULL;
	while (req != NULL) {
		struct rl_submit_req *next = req->next_;
		int rv = status;
		if (status == 0) {
			rv = submit_one(g, req);
		}
		if (rv != 0) {
			complete(req, rv);
		}
		req = next;
	}
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
