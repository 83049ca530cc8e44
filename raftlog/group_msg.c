/* The group driver's messages: outbox, filling AppendEntries from the log,
 * preparing received messages for libraft.
 *
 * Happy path: messages of a step are copied into the outbox and sent at
 * once unless a term/vote write is pending. An AppendEntries is filled from
 * the log when it is sent (entries not yet durable are served from the
 * append's borrowed buffers), so the bytes on the wire are the stored batch
 * bytes, and is cut into several messages when its entries exceed
 * append_bytes_max. A received AppendEntries is validated batch by batch; CONFIG
 * entries hand libraft their payload while the whole batch is kept for the
 * append.
 *
 * Failure modes: a message whose entries are gone from the log (truncated
 * or compacted since it was queued) is dropped, as is a received message
 * with an invalid batch; Raft retries both. Out of memory drops too. */
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "raftlog/group_int.h"

/* ---- Outbox ------------------------------------------------------------ */

static void send_install_snapshot(struct rl_group *g, struct raft_message *m);

/* libraft wants to send entries that retention deleted (the host retained
 * past libraft's trailing entries): the latest snapshot covers them, so it
 * is sent instead, in the same term. The follower installs it (catching up
 * its data from this log's start) and answers with its new last index, as
 * it would for libraft's own InstallSnapshot. */
static void send_snapshot_instead(struct rl_group *g, const struct raft_message *ae_msg,
				  uint64_t missing)
{
	struct rl_snapshot_meta sm;
	rl_log_get_snapshot(g->log, &sm);
	if (sm.index == 0 || missing > sm.index) {
		return; /* not covered: drop, libraft retries */
	}
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_INSTALL_SNAPSHOT;
	m.server_id = ae_msg->server_id;
	m.server_address = ae_msg->server_address;
	m.install_snapshot.version = 0;
	m.install_snapshot.term = ae_msg->append_entries.term;
	m.install_snapshot.last_index = sm.index;
	m.install_snapshot.last_term = sm.term;
	m.install_snapshot.conf_index = sm.conf_index;
	send_install_snapshot(g, &m);
}

/* Sends m carrying the n entries described by infos (bytes in total):
 * entries still being appended are sent from their pending buffers (the
 * send encodes them before it returns), the others are read from the log
 * now. Returns 0, or an error when they cannot be read. */
static int send_part(struct rl_group *g, struct raft_message *m, const struct rl_entry_info *infos,
		     unsigned n, size_t bytes)
{
	struct raft_append_entries *ae = &m->append_entries;
	struct raft_entry *entries = sl_calloc(n, sizeof(*entries));
	uint8_t *buf = NULL;
	int rv = entries == NULL ? RL_ENOMEM : 0;
	size_t pos = 0;
	for (unsigned i = 0; i < n && rv == 0; i++) {
		const uint8_t *src;
		size_t len;
		entries[i].term = infos[i].term;
		entries[i].type = (enum raft_entry_type)infos[i].kind;
		entries[i].buf.len = infos[i].size;
		if (rl_entry_peek(g->log, infos[i].index, &src, &len) == 0 && len == infos[i].size) {
			entries[i].buf.base = (void *)src;
			continue;
		}
		if (buf == NULL && (buf = sl_malloc(bytes)) == NULL) {
			rv = RL_ENOMEM;
			break;
		}
		rv = rl_entry_read(g->log, infos[i].index, buf + pos, bytes - pos, NULL);
		entries[i].buf.base = buf + pos;
		pos += infos[i].size;
	}
	if (rv == 0) {
		ae->entries = entries;
		g->env->send(g, m);
		ae->entries = NULL;
	}
	sl_free(buf);
	sl_free(entries);
	return rv;
}

/* Fills the entries of an AppendEntries from the log and sends it, cut into
 * consecutive messages of at most append_bytes_max bytes of entries (or one
 * larger entry alone): same term and leader commit, each part's previous
 * entry the last one of the part before (group.h, "AppendEntries size"). */
static void send_append_entries(struct rl_group *g, struct raft_message *m)
{
	struct raft_append_entries *ae = &m->append_entries;
	unsigned n = ae->n_entries;
	if (n == 0) {
		ae->entries = NULL;
		g->env->send(g, m);
		return;
	}
	struct rl_entry_info *infos = sl_malloc(n * sizeof(*infos));
	if (infos == NULL) {
		return; /* dropped; Raft retries */
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t index = ae->prev_log_index + 1 + i;
		if (rl_entry_get_info(g->log, index, &infos[i]) != 0) {
			struct rl_log_info li;
			rl_log_get_info(g->log, &li);
			if (index < li.first_index) {
				send_snapshot_instead(g, m, index);
			}
			sl_free(infos); /* else truncated since: drop */
			return;
		}
	}
	const struct raft_append_entries whole = *ae;
	unsigned parts = 0;
	for (unsigned first = 0, k; first < n; first = k) {
		size_t bytes = infos[first].size;
		for (k = first + 1; k < n && bytes + infos[k].size <= g->cfg.append_bytes_max; k++) {
			bytes += infos[k].size;
		}
		ae->prev_log_index = whole.prev_log_index + first;
		ae->prev_log_term = first == 0 ? whole.prev_log_term : infos[first - 1].term;
		ae->n_entries = k - first;
		if (send_part(g, m, infos + first, k - first, bytes) != 0) {
			break; /* later parts would not match: Raft retries */
		}
		parts++;
	}
	g->sub_stats.append_splits += parts > 1;
	*ae = whole;
	sl_free(infos);
}

/* The core leaves an InstallSnapshot's configuration and data to us: the
 * configuration of our latest snapshot, and as data the log start offset
 * just past it. */
static void send_install_snapshot(struct rl_group *g, struct raft_message *m)
{
	struct raft_install_snapshot *is = &m->install_snapshot;
	struct rl_snapshot_meta sm;
	rl_log_get_snapshot(g->log, &sm);
	if (sm.index == 0 || sm.index < is->last_index) {
		return; /* not stored (yet): the core retries */
	}
	if (sm.index > is->last_index) {
		/* A newer snapshot is being recorded (its metadata write may
		 * still be in flight; its entries are committed and durable):
		 * send that one rather than dropping the message, which libraft
		 * would only resend after its install-snapshot timeout (30 s). */
		is->last_index = sm.index;
		is->last_term = sm.term;
		is->conf_index = sm.conf_index;
	}
	uint8_t data[8];
	kp_put_u64(data, (uint64_t)sm.log_start_offset);
	struct raft_buffer enc = {.base = (void *)sm.conf, .len = sm.conf_len};
	raft_configuration_init(&is->conf);
	if (raft_configuration_decode(&enc, &is->conf) != 0) {
		return;
	}
	is->data.base = data;
	is->data.len = sizeof(data);
	g->env->send(g, m);
	raft_configuration_close(&is->conf);
	is->data.base = NULL;
}

static void send_one(struct rl_group *g, struct raft_message *m)
{
	switch (m->type) {
	case RAFT_APPEND_ENTRIES:
		send_append_entries(g, m);
		break;
	case RAFT_INSTALL_SNAPSHOT:
		send_install_snapshot(g, m);
		break;
	case RAFT_REQUEST_VOTE_RESULT:
		/* libraft 0.22.1 answers a pre-vote with the request's term, not
		 * its own, so a candidate with a lower term never learns the
		 * higher one and, when it holds the newest log, the group can
		 * stay leaderless forever (found by tests/sim, seeds 9 and 590).
		 * Carrying our current term makes it catch up; a higher term in
		 * a reply only ever makes the receiver step down and retry.
		 * Refusals only: a granted pre-vote carried a term at least ours
		 * when libraft made it, and one that waited in the outbox while
		 * our term moved on must keep it (libraft asserts that a pre-vote
		 * result more than one term ahead is a refusal; raft-debug.sh,
		 * seed 913). */
		if (m->request_vote_result.pre_vote && !m->request_vote_result.vote_granted &&
		    m->request_vote_result.term < raft_current_term(&g->raft)) {
			m->request_vote_result.term = raft_current_term(&g->raft);
		}
		g->env->send(g, m);
		break;
	default:
		g->env->send(g, m);
		break;
	}
}

void rl__group_queue_messages(struct rl_group *g, const struct raft_message *msgs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (g->meta_inflight == 0 && g->out_head == NULL) {
			struct raft_message m = msgs[i];
			send_one(g, &m);
			continue;
		}
		struct rl__outmsg *o = sl_malloc(sizeof(*o));
		if (o == NULL) {
			continue; /* dropped; Raft retries */
		}
		o->msg = msgs[i];
		o->msg.server_address = NULL;
		o->next = NULL;
		if (g->out_tail != NULL) {
			g->out_tail->next = o;
		} else {
			g->out_head = o;
		}
		g->out_tail = o;
	}
}

void rl__group_outbox_flush(struct rl_group *g)
{
	while (g->out_head != NULL && g->meta_inflight == 0 && !g->failed && !g->closing) {
		struct rl__outmsg *o = g->out_head;
		g->out_head = o->next;
		if (g->out_head == NULL) {
			g->out_tail = NULL;
		}
		send_one(g, &o->msg);
		sl_free(o);
	}
}

void rl__group_outbox_clear(struct rl_group *g)
{
	while (g->out_head != NULL) {
		struct rl__outmsg *o = g->out_head;
		g->out_head = o->next;
		sl_free(o);
	}
	g->out_tail = NULL;
}

/* ---- Receiving --------------------------------------------------------- */

void rl__group_free_message(struct raft_message *msg)
{
	if (msg->type == RAFT_APPEND_ENTRIES && msg->append_entries.n_entries > 0) {
		raft_free(msg->append_entries.entries[0].batch);
		raft_free(msg->append_entries.entries);
		msg->append_entries.entries = NULL;
		msg->append_entries.n_entries = 0;
	} else if (msg->type == RAFT_INSTALL_SNAPSHOT) {
		raft_configuration_close(&msg->install_snapshot.conf);
		raft_free(msg->install_snapshot.data.base);
		msg->install_snapshot.data.base = NULL;
	}
}

/* libraft 0.22.1 answers an AppendEntries or InstallSnapshot of an older
 * term ("local term is higher -> reject" in recv_append_entries.c and
 * recv_install_snapshot.c) with an AppendEntriesResult whose
 * last_log_index it never sets. With rejected 0 (an InstallSnapshot, or an
 * AppendEntries with prev_log_index 0) a leader of our current term takes
 * it as a success up to a random index: a random match index, which may
 * commit entries we do not hold; with rejected > 0 it may move next_index
 * below the match index (progressMaybeDecrement asserts; tests/sim with
 * raft-debug.sh, seed 234, where our own InstallSnapshot kept aside by
 * catch-up went stale while its sender was re-elected). Such a message is
 * answered here instead of being stepped: our current term, which makes
 * an older leader step down (the answer's only purpose), with rejected and
 * last_log_index 0, which a leader of our term ignores. Returns true if
 * msg was answered (and freed). */
bool rl__group_answer_stale(struct rl_group *g, struct raft_message *msg)
{
	uint64_t term;
	if (msg->type == RAFT_APPEND_ENTRIES) {
		term = msg->append_entries.term;
	} else if (msg->type == RAFT_INSTALL_SNAPSHOT) {
		term = msg->install_snapshot.term;
	} else {
		return false;
	}
	if (term >= raft_current_term(&g->raft)) {
		return false;
	}
	struct raft_message reply;
	memset(&reply, 0, sizeof(reply));
	reply.type = RAFT_APPEND_ENTRIES_RESULT;
	reply.server_id = msg->server_id;
	reply.server_address = msg->server_address;
	reply.append_entries_result.version = 2; /* libraft 0.22.1's own */
	reply.append_entries_result.term = raft_current_term(&g->raft);
	reply.append_entries_result.rejected = 0;
	reply.append_entries_result.last_log_index = 0;
	reply.append_entries_result.features = 1; /* MESSAGE__FEATURE_CAPACITY */
	reply.append_entries_result.capacity = g->raft.capacity;
	rl__group_free_message(msg);
	rl__group_queue_messages(g, &reply, 1);
	return true;
}

/* Validates every batch and points CONFIG entries at their payload. */
static int prepare_entries(struct raft_append_entries *ae, struct rl__recv *recv)
{
	recv->full = sl_calloc(ae->n_entries, sizeof(*recv->full));
	if (recv->full == NULL) {
		return RL_ENOMEM;
	}
	for (unsigned i = 0; i < ae->n_entries; i++) {
		struct raft_entry *e = &ae->entries[i];
		struct kp_batch_header h;
		enum rl_kind kind;
		const uint8_t *payload;
		size_t payload_len;
		if (kp_batch_validate(e->buf.base, e->buf.len, 0, &h) != 0 ||
		    kp_batch_size(&h) != e->buf.len || (uint64_t)h.partition_leader_epoch != e->term ||
		    rl_batch_kind(e->buf.base, e->buf.len, &kind, &payload, &payload_len) != 0 ||
		    (int)kind != (int)e->type) {
			return RL_EBATCH;
		}
		recv->full[i] = e->buf;
		if (kind == RL_KIND_CONFIG) {
			e->buf.base = (void *)payload;
			e->buf.len = payload_len;
		}
	}
	return 0;
}

/* libraft 0.22.1 forgets the terms of entries below its trail once a
 * snapshot is taken, and then treats an AppendEntries that starts there as
 * carrying new entries: it appends them again and corrupts its in-memory
 * log. Entries at or below our snapshot index are committed, hence equal to
 * the leader's by Raft's safety, so they are dropped from the message and
 * prev_log_index moves up to the snapshot. Returns 1 when no entry is left
 * (the batch and array were freed: the message is a heartbeat now). */
static int strip_snapshotted(struct rl_group *g, struct raft_append_entries *ae)
{
	if (g->snapshot_index == 0 || ae->prev_log_index >= g->snapshot_index) {
		return 0;
	}
	uint64_t k = SL_MIN((uint64_t)ae->n_entries, g->snapshot_index - ae->prev_log_index);
	ae->prev_log_term = ae->entries[k - 1].term;
	ae->prev_log_index += k;
	if (k == ae->n_entries) {
		raft_free(ae->entries[0].batch);
		raft_free(ae->entries);
		ae->entries = NULL;
		ae->n_entries = 0;
		return 1;
	}
	memmove(ae->entries, ae->entries + k, (ae->n_entries - k) * sizeof(*ae->entries));
	ae->n_entries -= (unsigned)k;
	return 0;
}

bool rl__group_leader_silent(const struct rl_group *g)
{
	return g->raft.state == RAFT_FOLLOWER &&
	       g->raft.follower_state.current_leader.id != 0 &&
	       (g->last_leader_contact_ms == 0 ||
		g->now_ms >= g->last_leader_contact_ms + g->cfg.min_election_timeout_ms);
}

/* The vote guard (group.h, "Elections"): a follower that knows a leader
 * but has not heard from one of its term for the group's minimum election
 * timeout treats that leader as gone, so libraft weighs the vote (term, vote
 * already cast, logs) instead of refusing it until this replica's own,
 * possibly much longer, timer fires. Leaders and candidates keep libraft's
 * rules. */
static void vote_guard(struct rl_group *g, struct raft_message *msg)
{
	if (msg->request_vote.disrupt_leader || !rl__group_leader_silent(g)) {
		return;
	}
	msg->request_vote.disrupt_leader = true;
	SL_LOG(SL_LOG_DEBUG,
	       "group=%llu term=%llu from=%llu event=vote_guard_open pre_vote=%d leader=%llu",
	       (unsigned long long)g->cfg.group_id,
	       (unsigned long long)raft_current_term(&g->raft), (unsigned long long)msg->server_id,
	       (int)msg->request_vote.pre_vote,
	       (unsigned long long)g->raft.follower_state.current_leader.id);
}

int rl__group_prepare_receive(struct rl_group *g, struct raft_message *msg, struct rl__recv *recv)
{
	memset(recv, 0, sizeof(*recv));
	if (msg->server_address == NULL) {
		msg->server_address = "";
	}
	if (msg->type == RAFT_REQUEST_VOTE) {
		vote_guard(g, msg);
	}
	if (msg->type == RAFT_INSTALL_SNAPSHOT &&
	    (g->raft.snapshot.installing ||
	     (g->snapshots_taking > 0 && msg->install_snapshot.last_index > g->snapshot_index))) {
		/* Installing: libraft 0.22.1 would leak it. Taking: it must not
		 * start an install now (group_io.c; one at or below the snapshot
		 * being taken is answered at once, those entries are committed
		 * here). The leader resends. */
		return RL_EBUSY;
	}
	if (msg->type != RAFT_APPEND_ENTRIES || msg->append_entries.n_entries == 0 ||
	    strip_snapshotted(g, &msg->append_entries) == 1) {
		return 0;
	}
	recv->entries = msg->append_entries.entries;
	recv->n = msg->append_entries.n_entries;
	int rv = prepare_entries(&msg->append_entries, recv);
	if (rv != 0) {
		SL_LOG(SL_LOG_WARN, "group=%llu from=%llu event=append_entries_dropped reason=%s",
		       (unsigned long long)g->cfg.group_id, (unsigned long long)msg->server_id,
		       rl_err_name(rv));
		sl_free(recv->full);
		recv->full = NULL;
	}
	return rv;
}

void rl__group_finish_receive(struct rl_group *g, struct raft_message *msg, struct rl__recv *recv,
			      int step_rv)
{
	(void)g;
	if (msg->type == RAFT_APPEND_ENTRIES && recv->n > 0) {
		/* libraft frees the batch unless it asked us to persist it (then
		 * the append owns it); the entries array is always ours. */
		if (step_rv == RL_ESHUTDOWN) {
			raft_free(recv->entries[0].batch);
		}
		raft_free(recv->entries);
		sl_free(recv->full);
	} else if (msg->type == RAFT_INSTALL_SNAPSHOT && step_rv == RL_ESHUTDOWN) {
		rl__group_free_message(msg);
	}
}

/* ---- Contact tracking -------------------------------------------------- */

/* Leader contact is an AppendEntries or InstallSnapshot of the current
 * term or a later one (the sender leads it: one leader per term). A deposed
 * leader that has not learned the newer term yet sends older terms: it is
 * not this follower's leader, and counting it would keep a follower cut off
 * from its real leader serving reads beyond the staleness bound. */
void rl__group_note_contact(struct rl_group *g, const struct raft_message *msg)
{
	uint64_t term = raft_current_term(&g->raft);
	if ((msg->type == RAFT_APPEND_ENTRIES && msg->append_entries.term >= term) ||
	    (msg->type == RAFT_INSTALL_SNAPSHOT && msg->install_snapshot.term >= term)) {
		g->last_leader_contact_ms = g->now_ms;
		g->campaign_at_ms = 0; /* a leader is alive: no early election */
	}
	for (unsigned i = 0; i < g->n_contacts; i++) {
		if (g->contacts[i].id == msg->server_id) {
			g->contacts[i].ms = g->now_ms;
			return;
		}
	}
	struct rl__contact *c = sl_realloc(g->contacts, (g->n_contacts + 1) * sizeof(*c));
	if (c == NULL) {
		return;
	}
	g->contacts = c;
	c[g->n_contacts].id = msg->server_id;
	c[g->n_contacts].ms = g->now_ms;
	g->n_contacts++;
}

uint64_t rl__group_contact_of(const struct rl_group *g, uint64_t id)
{
	if (id == g->cfg.server_id) {
		return g->now_ms;
	}
	for (unsigned i = 0; i < g->n_contacts; i++) {
		if (g->contacts[i].id == id) {
			return g->contacts[i].ms;
		}
	}
	return 0;
}
