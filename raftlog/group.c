/* Drives one libraft group through raft_step() over one rl_log.
 *
 * Happy path: every event (start, receive, timeout, submit, persisted,
 * configuration, snapshot, transfer) goes through step(), which calls
 * raft_step() and then applies the update in the order libraft requires:
 * term/vote to disk (messages held until durable), truncate + append the new
 * entries, copy the outgoing messages (sent now, or queued behind a pending
 * term/vote write), then read role, commit index and timeout. Storage
 * completions come back through the writer's callbacks and are stepped as
 * RAFT_PERSISTED_ENTRIES, in FIFO order.
 *
 * Failure modes: a storage error fails the log; the group then stops
 * stepping, fails every pending submission with RL_EIO and tells the host
 * through env->failed. A raft_step() error other than a rejected submission
 * is treated the same way (the core's state can no longer be trusted).
 * Received messages with invalid batches are dropped (Raft retries). */
#include "raftlog/group.h"

#include <stdio.h>
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "raftlog/group_int.h"

void rl_group_config_default(struct rl_group_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->election_timeout_ms = 1000;
	cfg->min_election_timeout_ms = 0; /* election_timeout_ms */
	cfg->heartbeat_timeout_ms = 100;
	cfg->pre_vote = true;
	cfg->max_inflight_entries = 64;
	cfg->transfer_timeout_ms = 2000;
	cfg->snapshot_threshold = 4096;
	cfg->snapshot_trailing = 1024;
	cfg->catchup_window_bytes = 1024 * 1024;
	cfg->catchup_timeout_ms = 1000;
	cfg->coalesce_bytes_max = 1024 * 1024;
	cfg->append_bytes_max = 8 * 1024 * 1024;
}

/* ---- Failure ----------------------------------------------------------- */

void rl__group_fail(struct rl_group *g, int err, const char *what)
{
	if (g->failed) {
		return;
	}
	g->failed = true;
	snprintf(g->errmsg, sizeof(g->errmsg), "%s: %s (%s)", what, rl_strerror(err),
		 rl_log_errmsg(g->log));
	SL_LOG(SL_LOG_ERROR, "group=%llu event=group_failed err=%s msg=\"%s\"",
	       (unsigned long long)g->cfg.group_id, rl_err_name(err), g->errmsg);
	rl__group_fail_submits(g, RL_EIO);
	rl__group_release_held(g, RL_EIO);
	if (g->env->failed != NULL) {
		g->env->failed(g, err, g->errmsg);
	}
}

/* ---- Stepping ---------------------------------------------------------- */

static void notify_role(struct rl_group *g)
{
	int role = raft_state(&g->raft);
	if (role == g->role) {
		return;
	}
	int old = g->role;
	g->role = role;
	SL_LOG(SL_LOG_INFO, "group=%llu term=%llu event=role_changed from=%s to=%s",
	       (unsigned long long)g->cfg.group_id,
	       (unsigned long long)raft_current_term(&g->raft), raft_state_name(old),
	       raft_state_name(role));
	g->campaign_at_ms = 0;
	if (old == RAFT_LEADER) {
		rl__group_step_down(g);
	}
	if (g->env->role_changed != NULL) {
		g->env->role_changed(g, old, role);
	}
}

int rl__group_step(struct rl_group *g, struct raft_event *ev)
{
	struct raft_update up;
	if (g->failed || g->closing) {
		return RL_ESHUTDOWN;
	}
	SL_ASSERT(!g->stepping);
	g->stepping = true;
	ev->time = g->now_ms;
	ev->capacity = 0;
	memset(&up, 0, sizeof(up));
	int rv = raft_step(&g->raft, ev, &up);
	g->stepping = false;
	if (rv != 0) {
		return rv;
	}
	if (up.flags & (RAFT_UPDATE_CURRENT_TERM | RAFT_UPDATE_VOTED_FOR)) {
		rv = rl__group_persist_meta(g);
		if (rv != 0) {
			rl__group_fail(g, rv, "persist term/vote");
			return 0;
		}
	}
	if (up.flags & RAFT_UPDATE_ENTRIES) {
		rv = rl__group_persist_entries(g, up.entries.index, up.entries.batch,
					       up.entries.n);
		if (rv != 0) {
			rl__group_fail(g, rv, "persist entries");
			return 0;
		}
	}
	if (up.flags & RAFT_UPDATE_SNAPSHOT) {
		rl__group_install_snapshot(g, &up);
	}
	if (up.flags & RAFT_UPDATE_MESSAGES) {
		rl__group_queue_messages(g, up.messages.batch, up.messages.n);
	}
	if (up.flags & RAFT_UPDATE_STATE) {
		notify_role(g);
	}
	if (up.flags & RAFT_UPDATE_COMMIT_INDEX) {
		g->commit_dirty = true;
	}
	return 0;
}

/* Work that follows a step but may itself step: feeding committed
 * configurations, taking snapshots, acknowledging submissions, moving the
 * high watermark, continuing a leadership transfer. Loops until quiet. */
void rl__group_after(struct rl_group *g)
{
	if (g->in_after) {
		return;
	}
	g->in_after = true;
	for (int rounds = 0; rounds < 64 && !g->failed && !g->closing; rounds++) {
		bool again = false;
		if (g->commit_dirty) {
			g->commit_dirty = false;
			again |= rl__group_commit_advanced(g);
		}
		again |= rl__group_transfer_poll(g);
		if (!again && !g->commit_dirty) {
			break;
		}
	}
	g->in_after = false;
}

static void step_and_after(struct rl_group *g, struct raft_event *ev)
{
	int rv = rl__group_step(g, ev);
	if (rv != 0 && rv != RL_ESHUTDOWN) {
		rl__group_fail(g, RL_EIO, raft_strerror(rv));
		return;
	}
	rl__group_after(g);
}

/* ---- Start ------------------------------------------------------------- */

struct start_ctx {
	struct raft_entry *entries;
	unsigned n;
	unsigned cap;
	uint64_t first;
	int err;
};

static int visit_entry(void *arg, const struct rl_entry_info *info, const uint8_t *payload,
		       size_t payload_len)
{
	struct start_ctx *c = arg;
	if (c->n == c->cap) {
		unsigned cap = c->cap == 0 ? 64 : c->cap * 2;
		struct raft_entry *e = raft_realloc(c->entries, cap * sizeof(*e));
		if (e == NULL) {
			return RL_ENOMEM;
		}
		c->entries = e;
		c->cap = cap;
	}
	if (c->n == 0) {
		c->first = info->index;
	}
	struct raft_entry *e = &c->entries[c->n++];
	memset(e, 0, sizeof(*e));
	e->term = info->term;
	e->type = (enum raft_entry_type)info->kind;
	if (info->kind == RL_KIND_CONFIG) {
		e->buf.base = raft_malloc(payload_len == 0 ? 1 : payload_len);
		if (e->buf.base == NULL) {
			c->n--;
			return RL_ENOMEM;
		}
		memcpy(e->buf.base, payload, payload_len);
		e->buf.len = payload_len;
		e->batch = e->buf.base;
	}
	return 0;
}

static void free_start_entries(struct start_ctx *c)
{
	for (unsigned i = 0; i < c->n; i++) {
		raft_free(c->entries[i].batch);
	}
	raft_free(c->entries);
}

static int load_snapshot(struct rl_group *g, struct raft_snapshot_metadata *meta, bool *have)
{
	struct rl_snapshot_meta sm;
	rl_log_get_snapshot(g->log, &sm);
	*have = sm.index > 0;
	if (!*have) {
		return 0;
	}
	memset(meta, 0, sizeof(*meta));
	meta->index = sm.index;
	meta->term = sm.term;
	meta->configuration_index = sm.conf_index;
	struct raft_buffer buf = {.base = (void *)sm.conf, .len = sm.conf_len};
	raft_configuration_init(&meta->configuration);
	if (raft_configuration_decode(&buf, &meta->configuration) != 0) {
		return RL_ECORRUPT;
	}
	g->snapshot_index = sm.index;
	return 0;
}

/* A restart in the middle of a catch-up that restarted the log (group.h,
 * "Catch-up") finds a log that does not continue the snapshot: it starts
 * past it, or ends before it, or there is no term yet. libraft must not see
 * those entries (they are committed elsewhere); it starts from the
 * snapshot alone and the next InstallSnapshot resumes from them. */
static bool hide_entries(const struct rl_log_info *li, const struct start_ctx *c,
			 uint64_t snap_index)
{
	return c->n > 0 &&
	       (c->first > snap_index + 1 || li->last_index < snap_index || li->term == 0);
}

static int start(struct rl_group *g)
{
	struct rl_log_info li;
	struct start_ctx c = {0};
	struct raft_snapshot_metadata meta;
	bool have_snap = false;
	rl_log_get_info(g->log, &li);
	int rv = rl_log_visit(g->log, visit_entry, &c);
	if (rv != 0) {
		goto err_after_visit;
	}
	rv = load_snapshot(g, &meta, &have_snap);
	if (rv != 0) {
		goto err_after_visit;
	}
	uint64_t snap_index = have_snap ? meta.index : 0;
	bool hidden = hide_entries(&li, &c, snap_index);
	if (hidden) {
		SL_LOG(SL_LOG_INFO, "group=%llu event=catchup_range_hidden first=%llu last=%llu",
		       (unsigned long long)g->cfg.group_id, (unsigned long long)li.first_index,
		       (unsigned long long)li.last_index);
		free_start_entries(&c);
		memset(&c, 0, sizeof(c));
	}
	struct raft_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = RAFT_START;
	ev.start.term = li.term;
	ev.start.voted_for = li.vote;
	ev.start.metadata = have_snap ? &meta : NULL;
	ev.start.start_index = c.n > 0 ? c.first : snap_index + 1;
	ev.start.entries = c.entries;
	ev.start.n_entries = c.n;
	/* The core takes ownership of entries and the snapshot configuration. */
	rv = rl__group_step(g, &ev);
	if (rv != 0) {
		return RL_EINVAL; /* the core released the entries */
	}
	free_start_entries(&c); /* the core kept only terms and configurations */
	if (!hidden) {
		rl__group_track_configs(g, li.first_index, li.last_index);
	}
	g->commit_dirty = true;
	rl__group_after(g);
	return 0;

err_after_visit:
	free_start_entries(&c);
	return rv;
}

int rl_group_open(struct rl_log *log, const struct rl_group_config *cfg,
		  const struct rl_group_env *env, uint64_t now_ms, struct rl_group **out)
{
	unsigned guard_ms = cfg->min_election_timeout_ms != 0 ? cfg->min_election_timeout_ms
							     : cfg->election_timeout_ms;
	if (cfg->catchup_window_bytes == 0 ||
	    cfg->catchup_window_bytes > RL_CATCHUP_WINDOW_BYTES_LIMIT ||
	    cfg->catchup_timeout_ms == 0 || cfg->heartbeat_timeout_ms == 0 ||
	    cfg->heartbeat_timeout_ms >= guard_ms || cfg->election_timeout_ms < guard_ms ||
	    cfg->coalesce_bytes_max > RL_COALESCE_BYTES_LIMIT || cfg->append_bytes_max == 0 ||
	    cfg->append_bytes_max > RL_APPEND_BYTES_LIMIT) {
		return RL_EINVAL;
	}
	struct rl_group *g = sl_calloc(1, sizeof(*g));
	if (g == NULL) {
		return RL_ENOMEM;
	}
	g->log = log;
	g->cfg = *cfg;
	g->cfg.min_election_timeout_ms = guard_ms;
	g->env = env;
	g->now_ms = now_ms;
	g->role = RAFT_FOLLOWER;
	g->hwm = -1;
	char address[32];
	snprintf(address, sizeof(address), "%llu", (unsigned long long)cfg->server_id);
	if (raft_init(&g->raft, NULL, NULL, cfg->server_id, address) != 0) {
		sl_free(g);
		return RL_ENOMEM;
	}
	g->raft.tracer = NULL;
	raft_seed(&g->raft, cfg->seed != 0 ? cfg->seed : (unsigned)cfg->server_id * 2654435761u);
	raft_set_election_timeout(&g->raft, cfg->election_timeout_ms);
	raft_set_heartbeat_timeout(&g->raft, cfg->heartbeat_timeout_ms);
	raft_set_pre_vote(&g->raft, cfg->pre_vote);
	raft_set_max_inflight_entries(&g->raft, cfg->max_inflight_entries);
	int rv = start(g);
	if (rv != 0) {
		raft_close(&g->raft, NULL);
		sl_free(g->configs);
		sl_free(g);
		return rv;
	}
	*out = g;
	return 0;
}

/* ---- Host entry points ------------------------------------------------- */

void rl_group_receive(struct rl_group *g, struct raft_message *msg, uint64_t now_ms)
{
	if (now_ms > g->now_ms) {
		g->now_ms = now_ms;
	}
	rl__group_note_contact(g, msg);
	if (g->failed || g->closing) {
		rl__group_free_message(msg);
		return;
	}
	if (msg->type == RAFT_INSTALL_SNAPSHOT && rl__rx_intercept(g, msg)) {
		rl__group_after(g);
		return;
	}
	rl__group_receive_msg(g, msg);
}

void rl__group_receive_msg(struct rl_group *g, struct raft_message *msg)
{
	struct rl__recv recv;
	if (rl__group_answer_stale(g, msg)) {
		return;
	}
	if (rl__group_prepare_receive(g, msg, &recv) != 0) {
		rl__group_free_message(msg);
		return;
	}
	struct raft_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = RAFT_RECEIVE;
	ev.receive.message = msg;
	g->recv = &recv;
	int rv = rl__group_step(g, &ev);
	g->recv = NULL;
	rl__group_finish_receive(g, msg, &recv, rv);
	if (rv != 0 && rv != RL_ESHUTDOWN) {
		rl__group_fail(g, RL_EIO, raft_strerror(rv));
		return;
	}
	rl__group_after(g);
}

/* While an early election is armed, a follower's own libraft timer waits for
 * it (group.h, "Early election"): fired sooner, its pre-vote would meet vote
 * guards that are still closed and fail, costing a whole timeout. The hold
 * ends at campaign_at_ms, armed at most min_election_timeout_ms + delay after
 * the last leader contact, when the early election runs or, if it declines,
 * the overdue timer fires: an election is delayed, never prevented. */
static bool early_holds_timer(const struct rl_group *g)
{
	return g->campaign_at_ms != 0 && g->raft.state == RAFT_FOLLOWER;
}

uint64_t rl_group_deadline_ms(const struct rl_group *g)
{
	if (g->failed || g->closing) {
		return UINT64_MAX;
	}
	if (g->pend_head != NULL) {
		return g->now_ms; /* the host did not flush: tick does */
	}
	uint64_t t = raft_timeout(&g->raft);
	if (g->transfer_target != 0 && g->transfer_deadline_ms < t) {
		t = g->transfer_deadline_ms;
	}
	if (g->campaign_at_ms != 0 && (g->campaign_at_ms < t || early_holds_timer(g))) {
		t = g->campaign_at_ms;
	}
	t = SL_MIN(t, rl__rx_deadline(g));
	return SL_MIN(t, rl__tx_deadline(g));
}

/* Starts the election rl_group_leader_lost() armed. libraft 0.22.1 has no
 * event that makes a follower campaign now (TimeoutNow must come from the
 * current leader), but a timeout of at most half the time its election
 * timer has run expires that timer whatever the random draw
 * (raft_set_election_timeout() redraws from [t, 2t) counted from the
 * timer's start); RAFT_TIMEOUT then starts the pre-vote, and the
 * configured timeout is restored (redrawing the candidate's timer). The
 * timer restarts when this replica grants a vote: then an election is
 * under way already and nothing is forced. */
static void campaign(struct rl_group *g)
{
	uint64_t start = (uint64_t)g->raft.election_timer_start;
	if (!rl__group_leader_silent(g) || g->now_ms < start + g->cfg.min_election_timeout_ms) {
		return;
	}
	SL_LOG(SL_LOG_INFO,
	       "group=%llu term=%llu event=early_election leader=%llu silent_ms=%llu",
	       (unsigned long long)g->cfg.group_id,
	       (unsigned long long)raft_current_term(&g->raft),
	       (unsigned long long)g->raft.follower_state.current_leader.id,
	       (unsigned long long)(g->now_ms - g->last_leader_contact_ms));
	uint64_t half = (g->now_ms - start) / 2;
	raft_set_election_timeout(&g->raft, (unsigned)SL_MIN(half, (uint64_t)UINT32_MAX));
	struct raft_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = RAFT_TIMEOUT;
	step_and_after(g, &ev);
	raft_set_election_timeout(&g->raft, g->cfg.election_timeout_ms);
}

int rl_group_leader_lost(struct rl_group *g, unsigned delay_ms)
{
	if (g->failed || g->closing || raft_state(&g->raft) != RAFT_FOLLOWER ||
	    g->raft.follower_state.current_leader.id == 0) {
		return RL_EINVAL;
	}
	if (g->campaign_at_ms == 0) {
		uint64_t at = g->last_leader_contact_ms + g->cfg.min_election_timeout_ms + delay_ms;
		g->campaign_at_ms = SL_MAX(at, g->now_ms);
	}
	return 0;
}

void rl_group_tick(struct rl_group *g, uint64_t now_ms)
{
	if (now_ms > g->now_ms) {
		g->now_ms = now_ms;
	}
	if (g->failed || g->closing) {
		return;
	}
	rl__group_flush(g);
	rl__tx_tick(g);
	rl__rx_tick(g);
	if (g->failed || g->closing) {
		return;
	}
	if (g->campaign_at_ms != 0 && g->now_ms >= g->campaign_at_ms) {
		g->campaign_at_ms = 0;
		campaign(g);
		if (g->failed || g->closing) {
			return;
		}
	}
	if (g->now_ms >= raft_timeout(&g->raft) && !early_holds_timer(g)) {
		struct raft_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.type = RAFT_TIMEOUT;
		step_and_after(g, &ev);
	} else {
		rl__group_after(g);
	}
}

int rl_group_set_election_timeout(struct rl_group *g, unsigned ms)
{
	SL_ASSERT(!g->stepping);
	if (ms < g->cfg.min_election_timeout_ms) {
		return RL_EINVAL;
	}
	if (ms == g->cfg.election_timeout_ms) {
		return 0; /* a redraw would only reshuffle the current timer */
	}
	SL_LOG(SL_LOG_INFO,
	       "group=%llu term=%llu event=election_timeout_changed from_ms=%u to_ms=%u",
	       (unsigned long long)g->cfg.group_id,
	       (unsigned long long)raft_current_term(&g->raft), g->cfg.election_timeout_ms, ms);
	g->cfg.election_timeout_ms = ms;
	raft_set_election_timeout(&g->raft, ms);
	return 0;
}

unsigned rl_group_election_timeout(const struct rl_group *g)
{
	return g->cfg.election_timeout_ms;
}

void rl__group_step_persisted(struct rl_group *g, uint64_t index)
{
	struct raft_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = RAFT_PERSISTED_ENTRIES;
	ev.persisted_entries.index = index;
	/* The high watermark counts durable entries only: it may move now even
	 * though the commit index does not. */
	g->commit_dirty = true;
	step_and_after(g, &ev);
}

/* ---- Catch-up entry points --------------------------------------------- */

void rl_group_receive_catchup(struct rl_group *g, uint64_t from, const uint8_t *buf, size_t len,
			      uint64_t now_ms)
{
	if (now_ms > g->now_ms) {
		g->now_ms = now_ms;
	}
	struct rl__cu_msg m;
	if (g->failed || g->closing || g->env->send_catchup == NULL) {
		return;
	}
	if (rl__cu_decode(buf, len, &m) != 0) {
		SL_LOG(SL_LOG_WARN, "group=%llu from=%llu event=catchup_message_dropped len=%zu",
		       (unsigned long long)g->cfg.group_id, (unsigned long long)from, len);
		return;
	}
	if (m.type == RL__CU_REQUEST) {
		rl__tx_request(g, from, &m);
	} else {
		rl__rx_receive(g, from, &m);
	}
	rl__group_after(g);
}

void rl_group_catchup_writable(struct rl_group *g, uint64_t peer, uint64_t now_ms)
{
	if (now_ms > g->now_ms) {
		g->now_ms = now_ms;
	}
	if (!g->failed && !g->closing) {
		rl__tx_writable(g, peer);
	}
}

void rl_group_catchup_stats(const struct rl_group *g, struct rl_catchup_stats *out)
{
	*out = g->cu_stats;
}

/* ---- Status ------------------------------------------------------------ */

void rl_group_get_status(const struct rl_group *g, struct rl_group_status *out)
{
	struct rl_log_info li;
	rl_log_get_info(g->log, &li);
	memset(out, 0, sizeof(*out));
	out->role = g->role;
	out->term = raft_current_term(&g->raft);
	if (g->role == RAFT_LEADER) {
		out->leader_id = g->cfg.server_id;
	} else if (g->role == RAFT_FOLLOWER) {
		out->leader_id = g->raft.follower_state.current_leader.id;
	}
	out->commit_index = raft_commit_index(&g->raft);
	out->last_index = li.last_index;
	out->durable_index = li.durable_index;
	out->hwm = g->hwm < li.start_offset ? li.start_offset : g->hwm;
	out->start_offset = li.start_offset;
	out->next_offset = li.next_offset;
	out->last_leader_contact_ms = g->last_leader_contact_ms;
	out->transferring = g->transfer_target != 0;
	out->catching_up = g->rx.active;
	out->failed = g->failed;
}

unsigned rl_group_progress(const struct rl_group *g, struct rl_group_progress *out, unsigned max)
{
	const struct raft_configuration *conf = &g->raft.configuration;
	unsigned n = 0;
	for (unsigned i = 0; i < conf->n; i++) {
		if (n < max) {
			raft_index match = 0;
			struct raft *r = (struct raft *)&g->raft;
			if (g->role == RAFT_LEADER) {
				raft_match_index(r, conf->servers[i].id, &match);
			}
			out[n].id = conf->servers[i].id;
			out[n].role = conf->servers[i].role;
			out[n].match_index = match;
			out[n].last_contact_ms = rl__group_contact_of(g, conf->servers[i].id);
			n++;
		}
	}
	return conf->n;
}

int64_t rl_group_retention_bound(struct rl_group *g)
{
	struct rl_log_info li;
	struct rl_snapshot_meta sm;
	struct rl_entry_info info;
	rl_log_get_info(g->log, &li);
	rl_log_get_snapshot(g->log, &sm);
	if (sm.index == 0 || g->failed || g->closing) {
		return li.start_offset;
	}
	int64_t bound = sm.log_start_offset;
	/* libraft's log starts at trail.offset + 1 (libraft 0.22.1 keeps it in
	 * struct raft; there is no accessor). */
	uint64_t first = g->raft.trail.offset + 1;
	if (rl_entry_get_info(g->log, first, &info) == 0 && info.base_offset < bound) {
		bound = info.base_offset;
	}
	return SL_MAX(bound, li.start_offset);
}

struct rl_log *rl_group_log(struct rl_group *g)
{
	return g->log;
}

void rl_group_set_data(struct rl_group *g, void *data)
{
	g->data = data;
}

void *rl_group_data(const struct rl_group *g)
{
	return g->data;
}

uint64_t rl_group_id(const struct rl_group *g)
{
	return g->cfg.group_id;
}

/* ---- Close ------------------------------------------------------------- */

void rl__group_maybe_finish_close(struct rl_group *g)
{
	if (!g->closing || g->close_done || g->ops_inflight > 0) {
		return;
	}
	g->close_done = true;
	rl__group_outbox_clear(g);
	rl__rx_abort(g, "closing");
	rl__tx_free_all(g);
	raft_close(&g->raft, NULL);
	sl_free(g->configs);
	sl_free(g->contacts);
	void (*cb)(struct rl_group *, void *) = g->close_cb;
	void *arg = g->close_arg;
	if (cb != NULL) {
		cb(g, arg);
	}
	sl_free(g);
}

void rl_group_close(struct rl_group *g, void (*cb)(struct rl_group *g, void *arg), void *arg)
{
	SL_ASSERT(!g->closing);
	/* Closing first: callbacks run below may try to submit again. */
	g->closing = true;
	rl__group_fail_submits(g, RL_ESHUTDOWN);
	rl__group_release_held(g, RL_ESHUTDOWN);
	g->close_cb = cb;
	g->close_arg = arg;
	rl__group_outbox_clear(g);
	rl__rx_abort(g, "closing");
	rl__tx_free_all(g);
	if (g->ops_inflight == 0 && !g->failed) {
		/* A durable no-op through the writer, so that cb runs from a
		 * completion and never inside this call. */
		struct rl_log_info li;
		rl_log_get_info(g->log, &li);
		if (rl__group_meta_write(g, li.term, li.vote) != 0) {
			g->failed = true;
		}
	}
	if (g->ops_inflight == 0) {
		/* The log is failed and refuses new work: nothing can complete
		 * later, so finish now (documented exception). */
		rl__group_maybe_finish_close(g);
	}
}
