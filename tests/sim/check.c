/* The simulator's invariants, checked after every event.
 *
 * A registry per group records every (Raft index, term) entry any replica
 * ever held, with its bytes' CRC and offsets, and the term committed at
 * each index once some replica's commit index covers it. Each replica's
 * log is verified incrementally (only entries new or changed since the
 * last check are read). Checked:
 * - log matching: the same (index, term) has the same bytes and offsets on
 *   every replica, and a log's terms never decrease;
 * - offsets dense and monotonic in every log, from its start offset;
 * - at most one leader per term per group;
 * - no committed entry lost: every entry at or below a replica's commit
 *   index equals the committed one, and a new leader holds every entry
 *   known committed in an earlier term (at or above its log start: a
 *   leader of an older term seen late need not); every acknowledged batch's
 *   records (kp_record_crc) are at the acknowledged offsets of the entry at
 *   its index (the committed one for acks=all), alone or merged with
 *   others; every data entry is a whole batch with dense record offsets;
 * - the high watermark covers only committed, locally durable entries;
 * - replicas byte-identical up to their high watermark, read back from the
 *   simulated disk (sim_check_full);
 * - across a crash: entries that were durable survive with the same bytes,
 *   the recovered term is at least every term the replica sent, and a vote
 *   it granted in that term survives;
 * - consumers (loc.c) read only committed entries, below the serving
 *   replica's high watermark, byte-identical to the committed ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "tests/sim/sim.h"

/* ---- Registry ------------------------------------------------------------ */

static struct sim_slot *slot_at(struct sim_group *grp, uint64_t index)
{
	if (index >= grp->n_slots) {
		uint64_t n = grp->n_slots == 0 ? 256 : grp->n_slots;
		while (n <= index) {
			n *= 2;
		}
		grp->slots = realloc(grp->slots, n * sizeof(*grp->slots));
		SL_ASSERT(grp->slots != NULL);
		memset(grp->slots + grp->n_slots, 0, (n - grp->n_slots) * sizeof(*grp->slots));
		grp->n_slots = n;
	}
	return &grp->slots[index];
}

static struct sim_variant *variant_find(struct sim_slot *sl, uint64_t term)
{
	for (unsigned i = 0; i < sl->n; i++) {
		if (sl->v[i].term == term) {
			return &sl->v[i];
		}
	}
	return NULL;
}

static struct sim_variant *variant_add(struct sim_slot *sl)
{
	if (sl->n == sl->cap) {
		sl->cap = sl->cap == 0 ? 2 : sl->cap * 2;
		sl->v = realloc(sl->v, sl->cap * sizeof(*sl->v));
		SL_ASSERT(sl->v != NULL);
	}
	return &sl->v[sl->n++];
}

static void ver_set(struct sim_node *n, uint64_t index, uint64_t term)
{
	if (index >= n->ver_cap) {
		uint64_t cap = n->ver_cap == 0 ? 256 : n->ver_cap;
		while (cap <= index) {
			cap *= 2;
		}
		n->ver = realloc(n->ver, cap * sizeof(*n->ver));
		SL_ASSERT(n->ver != NULL);
		memset(n->ver + n->ver_cap, 0, (cap - n->ver_cap) * sizeof(*n->ver));
		n->ver_cap = cap;
	}
	n->ver[index] = term;
}

static uint64_t ver_get(const struct sim_node *n, uint64_t index)
{
	return index < n->ver_cap ? n->ver[index] : 0;
}

void sim_read_entry(struct sim *s, struct sim_node *n, uint64_t index, struct rl_entry_info *info)
{
	int rv = rl_entry_read(n->log, index, s->scratch, s->scratch_cap, info);
	if (rv == RL_ETOOSMALL) {
		s->scratch_cap = info->size;
		s->scratch = realloc(s->scratch, s->scratch_cap);
		SL_ASSERT(s->scratch != NULL);
		rv = rl_entry_read(n->log, index, s->scratch, s->scratch_cap, info);
	}
	if (rv != 0) {
		sim_fail(s, "broker %u group %llu: reading entry %llu: %s (%s)", n->broker->id,
			 (unsigned long long)n->group->id, (unsigned long long)index, rl_err_name(rv),
			 rl_log_errmsg(n->log));
	}
}

/* ---- Per replica ------------------------------------------------------------ */

#define NODE_FMT "broker %u group %llu"
#define NODE_ARGS(n) (n)->broker->id, (unsigned long long)(n)->group->id

int sim_record_crcs(const uint8_t *batch, size_t len, uint32_t **out)
{
	struct kp_record_iter it;
	struct kp_record rec;
	struct kp_batch_header h;
	*out = NULL;
	if (kp_batch_parse_header(batch, len, &h) != 0 || kp_record_iter_init(&it, batch, len) != 0) {
		return -1;
	}
	uint32_t *crcs = sl_malloc(((size_t)h.records_count + 1) * sizeof(*crcs));
	SL_ASSERT(crcs != NULL);
	int n = 0, rc;
	while ((rc = kp_record_iter_next(&it, &rec)) == 1) {
		crcs[n++] = kp_record_crc(&rec);
	}
	kp_record_iter_free(&it);
	if (rc != 0) {
		sl_free(crcs);
		return -1;
	}
	*out = crcs;
	return n;
}

/* A new (index, term) entry: a data batch must be whole with dense record
 * offsets (merged entries included); its records are remembered so that
 * acknowledged submissions can be found in it. */
static void register_records(struct sim *s, struct sim_node *n, uint64_t i,
			     const struct rl_entry_info *e, struct sim_variant *v)
{
	int rc = e->kind == RL_KIND_DATA ? kp_batch_validate_records(s->scratch, e->size, 0) : 0;
	int n_recs = rc == 0 ? sim_record_crcs(s->scratch, e->size, &v->rec_crc) : -1;
	if (e->kind == RL_KIND_DATA &&
	    (n_recs < 0 || (int64_t)n_recs != e->last_offset - e->base_offset + 1)) {
		sim_fail(s, NODE_FMT ": entry %llu: data batch with bad records (%s)", NODE_ARGS(n),
			 (unsigned long long)i, kp_err_name(rc));
	}
	v->n_recs = n_recs < 0 ? 0 : (uint32_t)n_recs;
}

/* Reads and registers entry i of n; *prev_last is the last offset of the
 * entry before it. */
static void verify_entry(struct sim *s, struct sim_node *n, uint64_t i, int64_t *prev_last,
			 uint64_t *prev_term)
{
	struct rl_entry_info e;
	sim_read_entry(s, n, i, &e);
	struct kp_batch_header h;
	if (kp_batch_parse_header(s->scratch, e.size, &h) != 0 || kp_batch_size(&h) != e.size ||
	    h.base_offset != e.base_offset || (uint64_t)h.partition_leader_epoch != e.term ||
	    h.base_offset + h.last_offset_delta != e.last_offset) {
		sim_fail(s, NODE_FMT ": entry %llu: batch header disagrees with the index",
			 NODE_ARGS(n), (unsigned long long)i);
	}
	if (e.base_offset != *prev_last + 1) {
		sim_fail(s, NODE_FMT ": entry %llu: base offset %lld, expected %lld (not dense)",
			 NODE_ARGS(n), (unsigned long long)i, (long long)e.base_offset,
			 (long long)(*prev_last + 1));
	}
	if (e.term < *prev_term) {
		sim_fail(s, NODE_FMT ": entry %llu: term %llu below the previous entry's %llu",
			 NODE_ARGS(n), (unsigned long long)i, (unsigned long long)e.term,
			 (unsigned long long)*prev_term);
	}
	struct sim_variant cur = {
		.term = e.term,
		.crc = kp_crc32c(0, s->scratch, e.size),
		.tail_crc = kp_crc32c(0, s->scratch + KP_BATCH_OFF_MAGIC, e.size - KP_BATCH_OFF_MAGIC),
		.len = e.size,
		.base_offset = e.base_offset,
		.last_offset = e.last_offset,
	};
	struct sim_slot *sl = slot_at(n->group, i);
	struct sim_variant *v = variant_find(sl, e.term);
	if (v == NULL) {
		register_records(s, n, i, &e, &cur);
		*variant_add(sl) = cur;
	} else if (v->crc != cur.crc || v->tail_crc != cur.tail_crc || v->len != cur.len ||
		   v->base_offset != cur.base_offset || v->last_offset != cur.last_offset) {
		sim_fail(s,
			 NODE_FMT ": log matching: entry %llu term %llu differs from another "
			 "replica's (crc %08x/%08x, offsets %lld/%lld, len %u/%u)",
			 NODE_ARGS(n), (unsigned long long)i, (unsigned long long)e.term, cur.crc,
			 v->crc, (long long)cur.base_offset, (long long)v->base_offset, cur.len, v->len);
	}
	if (i <= n->commit_checked && sl->committed_term != 0 && sl->committed_term != e.term) {
		sim_fail(s, NODE_FMT ": committed entry %llu replaced (term %llu, committed %llu)",
			 NODE_ARGS(n), (unsigned long long)i, (unsigned long long)e.term,
			 (unsigned long long)sl->committed_term);
	}
	ver_set(n, i, e.term);
	*prev_last = e.last_offset;
	*prev_term = e.term;
	if (i > s->stats.max_index) {
		s->stats.max_index = i;
	}
}

/* Verifies the entries of n that are new or changed since the last call. */
static void verify_log(struct sim *s, struct sim_node *n, struct rl_log_info *li)
{
	rl_log_get_info(n->log, li);
	if (li->first_index != n->ver_first) {
		n->ver_first = li->first_index;
		n->ver_last = li->first_index - 1;
	}
	if (n->ver_last > li->last_index) {
		n->ver_last = li->last_index;
	}
	struct rl_entry_info e = {0};
	while (n->ver_last >= n->ver_first) {
		if (rl_entry_get_info(n->log, n->ver_last, &e) != 0) {
			sim_fail(s, NODE_FMT ": entry %llu missing inside the log", NODE_ARGS(n),
				 (unsigned long long)n->ver_last);
		}
		if (e.term == ver_get(n, n->ver_last)) {
			break;
		}
		n->ver_last--;
	}
	int64_t prev_last = li->start_offset - 1;
	uint64_t prev_term = 0;
	if (n->ver_last >= n->ver_first) {
		prev_last = e.last_offset;
		prev_term = e.term;
	}
	for (uint64_t i = n->ver_last + 1; i <= li->last_index; i++) {
		verify_entry(s, n, i, &prev_last, &prev_term);
	}
	n->ver_last = li->last_index;
	if (li->next_offset != prev_last + 1) {
		sim_fail(s, NODE_FMT ": next offset %lld, last entry ends at %lld", NODE_ARGS(n),
			 (long long)li->next_offset, (long long)prev_last);
	}
}

/* Entries up to the replica's commit index must be the committed ones. */
static void check_commit(struct sim *s, struct sim_node *n, const struct rl_log_info *li,
			 const struct rl_group_status *st)
{
	uint64_t upto = SL_MIN(st->commit_index, li->last_index);
	if (n->commit_checked > upto) {
		n->commit_checked = upto;
	}
	if (n->commit_checked + 1 < li->first_index) {
		n->commit_checked = li->first_index - 1;
	}
	for (uint64_t i = n->commit_checked + 1; i <= upto; i++) {
		struct sim_slot *sl = slot_at(n->group, i);
		uint64_t t = ver_get(n, i);
		if (sl->committed_term == 0 || st->term < sl->committed_seen_term) {
			sl->committed_seen_term = st->term;
		}
		if (sl->committed_term == 0) {
			sl->committed_term = t;
			if (s->verbose >= 2) {
				sim_trace(s, NODE_FMT ": entry %llu (term %llu) committed, commit index %llu",
					  NODE_ARGS(n), (unsigned long long)i, (unsigned long long)t,
					  (unsigned long long)st->commit_index);
			}
		} else if (sl->committed_term != t) {
			sim_fail(s,
				 NODE_FMT ": entry %llu (term %llu) is below its commit index %llu "
				 "but term %llu was committed there",
				 NODE_ARGS(n), (unsigned long long)i, (unsigned long long)t,
				 (unsigned long long)st->commit_index,
				 (unsigned long long)sl->committed_term);
		}
	}
	n->commit_checked = SL_MAX(n->commit_checked, upto);
	if (st->commit_index > n->group->committed_upto) {
		n->group->committed_upto = st->commit_index;
	}
}

/* The high watermark covers committed, durable entries only. */
static void check_hwm(struct sim *s, struct sim_node *n, const struct rl_log_info *li,
		      const struct rl_group_status *st)
{
	if (st->hwm < li->start_offset || st->hwm > li->durable_offset) {
		sim_fail(s,
			 NODE_FMT ": high watermark %lld outside [%lld, durable %lld] (log %llu..%llu "
			 "durable %llu next offset %lld, commit %llu, role %d)",
			 NODE_ARGS(n), (long long)st->hwm, (long long)li->start_offset,
			 (long long)li->durable_offset, (unsigned long long)li->first_index,
			 (unsigned long long)li->last_index, (unsigned long long)li->durable_index,
			 (long long)li->next_offset, (unsigned long long)st->commit_index, st->role);
	}
	if (st->hwm == li->start_offset) {
		return;
	}
	uint64_t idx;
	if (rl_offset_to_index(n->log, st->hwm - 1, &idx) != 0 || idx > st->commit_index ||
	    idx > li->durable_index) {
		sim_fail(s, NODE_FMT ": high watermark %lld beyond commit %llu / durable %llu",
			 NODE_ARGS(n), (long long)st->hwm, (unsigned long long)st->commit_index,
			 (unsigned long long)li->durable_index);
	}
}

/* One leader per term; a new leader holds every committed entry. */
static void check_leader(struct sim *s, struct sim_node *n, const struct rl_log_info *li,
			 const struct rl_group_status *st)
{
	struct sim_group *grp = n->group;
	if (st->term > s->stats.max_term) {
		s->stats.max_term = st->term;
	}
	if (st->role != RAFT_LEADER) {
		return;
	}
	if (st->term >= grp->n_terms) {
		uint64_t cap = grp->n_terms == 0 ? 64 : grp->n_terms;
		while (cap <= st->term) {
			cap *= 2;
		}
		grp->leader_of_term = realloc(grp->leader_of_term, cap * sizeof(uint64_t));
		SL_ASSERT(grp->leader_of_term != NULL);
		memset(grp->leader_of_term + grp->n_terms, 0, (cap - grp->n_terms) * sizeof(uint64_t));
		grp->n_terms = cap;
	}
	uint64_t *who = &grp->leader_of_term[st->term];
	if (*who == 0) {
		*who = n->broker->id;
	} else if (*who != n->broker->id) {
		sim_fail(s, "group %llu: brokers %llu and %u are both leader in term %llu",
			 (unsigned long long)grp->id, (unsigned long long)*who, n->broker->id,
			 (unsigned long long)st->term);
	}
	if (n->leader_checked_term == st->term) {
		return;
	}
	n->leader_checked_term = st->term;
	for (uint64_t i = li->first_index; i <= grp->committed_upto && i < grp->n_slots; i++) {
		uint64_t t = grp->slots[i].committed_term;
		if (t != 0 && grp->slots[i].committed_seen_term < st->term &&
		    (i > li->last_index || ver_get(n, i) != t)) {
			sim_fail(s,
				 NODE_FMT ": leader of term %llu lacks committed entry %llu (term "
				 "%llu; its last index %llu)",
				 NODE_ARGS(n), (unsigned long long)st->term, (unsigned long long)i,
				 (unsigned long long)t, (unsigned long long)li->last_index);
		}
	}
}

void sim_check_node(struct sim *s, struct sim_node *n)
{
	struct rl_log_info li;
	struct rl_group_status st;
	verify_log(s, n, &li);
	rl_group_get_status(n->g, &st);
	if (st.failed) {
		return; /* a crashing replica: its state is being torn down */
	}
	check_commit(s, n, &li, &st);
	check_hwm(s, n, &li, &st);
	check_leader(s, n, &li, &st);
}

/* ---- Submissions ------------------------------------------------------------ */

/* The producer's records are in entry variant v at the acknowledged
 * offsets (alone, or among others in a merged entry). */
static bool holds_records(const struct sim_variant *v, const struct sim_sub *sub)
{
	int64_t first = sub->req.base_offset - v->base_offset;
	return sub->n_recs > 0 && first >= 0 && sub->req.last_offset <= v->last_offset &&
	       sub->req.last_offset - sub->req.base_offset + 1 == (int64_t)sub->n_recs &&
	       (uint64_t)first + sub->n_recs <= v->n_recs &&
	       memcmp(v->rec_crc + first, sub->rec_crc, sub->n_recs * sizeof(uint32_t)) == 0;
}

/* Checks one answered submission; returns false to look again later (the
 * commit is not known yet, e.g. its leader crashed in the same event). */
static bool check_answer(struct sim *s, struct sim_sub *sub)
{
	if (sub->status != 0) {
		s->stats.rejected++;
		return true;
	}
	struct sim_group *grp = sub->group;
	struct sim_slot *sl = slot_at(grp, sub->req.index);
	struct sim_variant *v = NULL;
	if (sub->req.acks == RL_ACKS_ALL) {
		if (sl->committed_term == 0) {
			return false;
		}
		v = variant_find(sl, sl->committed_term);
		if (v != NULL && !holds_records(v, sub)) {
			v = NULL;
		}
	} else {
		for (unsigned i = 0; i < sl->n && v == NULL; i++) {
			v = holds_records(&sl->v[i], sub) ? &sl->v[i] : NULL;
		}
	}
	if (v == NULL) {
		sim_fail(s,
			 "group %llu: acks=%d batch acknowledged at index %llu offsets %lld..%lld "
			 "is not what the log holds there",
			 (unsigned long long)grp->id, (int)sub->req.acks,
			 (unsigned long long)sub->req.index, (long long)sub->req.base_offset,
			 (long long)sub->req.last_offset);
	}
	if (sub->req.acks == RL_ACKS_ALL) {
		s->stats.acked_all++;
	} else {
		s->stats.acked_one++;
	}
	return true;
}

static void check_answers(struct sim *s)
{
	struct sim_sub **pp = &s->pending;
	while (*pp != NULL) {
		struct sim_sub *sub = *pp;
		if (sub->status == 1) {
			pp = &sub->next;
			continue;
		}
		*pp = sub->next;
		sub->next = s->answered;
		s->answered = sub;
	}
	pp = &s->answered;
	while (*pp != NULL) {
		struct sim_sub *sub = *pp;
		if (check_answer(s, sub)) {
			*pp = sub->next;
			sl_free(sub->rec_crc);
			free(sub);
		} else {
			pp = &sub->next;
		}
	}
}

/* ---- Entry points ------------------------------------------------------------ */

static void track_failover(struct sim *s, struct sim_group *grp)
{
	struct sim_node *l = sim_leader(s, grp);
	if (l == NULL) {
		return;
	}
	if (grp->last_leader != 0 && grp->last_leader != l->broker->id) {
		s->stats.failovers++;
		grp->leader_changes++;
		grp->leader_changed_ms = s->now;
		sim_trace(s, "group %llu: leader %llu -> %u", (unsigned long long)grp->id,
			  (unsigned long long)grp->last_leader, l->broker->id);
	}
	grp->last_leader = l->broker->id;
}

void sim_check_step(struct sim *s)
{
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		struct sim_group *grp = &s->groups[k];
		for (unsigned i = 0; i < grp->n_replicas; i++) {
			if (grp->nodes[i].open) {
				sim_check_node(s, &grp->nodes[i]);
			}
		}
		track_failover(s, grp);
	}
	check_answers(s);
}

void sim_check_consumed(struct sim *s, struct sim_node *n, uint64_t index,
			const struct rl_entry_info *e, int64_t hwm)
{
	struct sim_group *grp = n->group;
	if (e->last_offset >= hwm) {
		sim_fail(s,
			 NODE_FMT ": a consumer was served entry %llu (offsets %lld..%lld) at or "
			 "beyond the replica's high watermark %lld",
			 NODE_ARGS(n), (unsigned long long)index, (long long)e->base_offset,
			 (long long)e->last_offset, (long long)hwm);
	}
	struct sim_slot *sl = index < grp->n_slots ? &grp->slots[index] : NULL;
	if (index > grp->committed_upto || sl == NULL || sl->committed_term == 0) {
		sim_fail(s,
			 NODE_FMT ": a consumer was served entry %llu (offsets %lld..%lld) beyond "
			 "the cluster's committed prefix (highest commit index %llu)",
			 NODE_ARGS(n), (unsigned long long)index, (long long)e->base_offset,
			 (long long)e->last_offset, (unsigned long long)grp->committed_upto);
	}
	const struct sim_variant *v = variant_find(sl, sl->committed_term);
	uint32_t crc = kp_crc32c(0, s->scratch, e->size);
	if (e->term != sl->committed_term || v == NULL || v->crc != crc || v->len != e->size ||
	    v->base_offset != e->base_offset) {
		sim_fail(s,
			 NODE_FMT ": a consumer read entry %llu term %llu at offset %lld, but the "
			 "committed entry there is term %llu",
			 NODE_ARGS(n), (unsigned long long)index, (unsigned long long)e->term,
			 (long long)e->base_offset, (unsigned long long)sl->committed_term);
	}
}

/* Reads n's log from its start to its high watermark through the read path
 * and compares every batch with the committed registry. */
static void check_read_back(struct sim *s, struct sim_node *n)
{
	struct rl_group_status st;
	rl_group_get_status(n->g, &st);
	if (st.failed || st.hwm <= st.start_offset) {
		return;
	}
	uint8_t *data = NULL;
	size_t len = 0;
	int64_t next = 0;
	int rv = rl_read_copy(n->log, st.start_offset, st.hwm, SIZE_MAX, &data, &len, &next);
	if (rv != 0 || next != st.hwm) {
		sim_fail(s, NODE_FMT ": read [%lld, %lld): %s, next %lld", NODE_ARGS(n),
			 (long long)st.start_offset, (long long)st.hwm, rl_err_name(rv),
			 (long long)next);
	}
	int64_t expect = st.start_offset;
	for (size_t pos = 0; pos < len;) {
		struct kp_batch_header h;
		uint64_t idx = 0;
		if (kp_batch_validate(data + pos, len - pos, 0, &h) != 0 || h.base_offset != expect ||
		    rl_offset_to_index(n->log, h.base_offset, &idx) != 0) {
			sim_fail(s, NODE_FMT ": read back: bad batch at offset %lld", NODE_ARGS(n),
				 (long long)expect);
		}
		size_t size = kp_batch_size(&h);
		struct sim_slot *sl = slot_at(n->group, idx);
		struct sim_variant *v = variant_find(sl, sl->committed_term);
		if (sl->committed_term == 0 || v == NULL || v->crc != kp_crc32c(0, data + pos, size)) {
			sim_fail(s, NODE_FMT ": read back: batch at offset %lld (index %llu) is not "
				    "the committed entry",
				 NODE_ARGS(n), (long long)expect, (unsigned long long)idx);
		}
		expect = h.base_offset + h.last_offset_delta + 1;
		pos += size;
	}
	sl_free(data);
}

void sim_check_full(struct sim *s)
{
	s->stats.full_checks++;
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		struct sim_group *grp = &s->groups[k];
		for (unsigned i = 0; i < grp->n_replicas; i++) {
			if (grp->nodes[i].open) {
				check_read_back(s, &grp->nodes[i]);
			}
		}
	}
}

void sim_check_note_send(struct sim_node *n, const struct raft_message *msg)
{
	uint64_t term = 0;
	switch (msg->type) {
	case RAFT_APPEND_ENTRIES:
		term = msg->append_entries.term;
		break;
	case RAFT_APPEND_ENTRIES_RESULT:
		term = msg->append_entries_result.term;
		break;
	case RAFT_REQUEST_VOTE:
		/* A pre-vote asks for term + 1 without taking it. */
		term = msg->request_vote.pre_vote ? 0 : msg->request_vote.term;
		break;
	case RAFT_REQUEST_VOTE_RESULT:
		if (!msg->request_vote_result.pre_vote) {
			term = msg->request_vote_result.term;
			if (msg->request_vote_result.vote_granted) {
				n->granted_term = term;
				n->granted_for = msg->server_id;
			}
		}
		break;
	case RAFT_INSTALL_SNAPSHOT:
		term = msg->install_snapshot.term;
		break;
	case RAFT_TIMEOUT_NOW:
		term = msg->timeout_now.term;
		break;
	}
	n->max_sent_term = SL_MAX(n->max_sent_term, term);
}

void sim_check_before_crash(struct sim *s, struct sim_node *n)
{
	struct rl_log_info li;
	verify_log(s, n, &li);
	n->durable_first = li.first_index;
	n->durable_expect = SL_MIN(li.durable_index, li.last_index);
	n->durable_check = true;
	sim_trace(s, "%s stopping: first=%llu last=%llu durable=%llu term=%llu failed=%d", n->dir,
		  (unsigned long long)li.first_index, (unsigned long long)li.last_index,
		  (unsigned long long)li.durable_index, (unsigned long long)li.term, li.failed);
}

void sim_check_after_restart(struct sim *s, struct sim_node *n)
{
	struct rl_log_info li;
	rl_log_get_info(n->log, &li);
	if (n->durable_check && n->durable_expect >= n->durable_first) {
		if (li.first_index > n->durable_first) {
			sim_fail(s, NODE_FMT ": log start moved from %llu to %llu across a restart",
				 NODE_ARGS(n), (unsigned long long)n->durable_first,
				 (unsigned long long)li.first_index);
		}
		for (uint64_t i = n->durable_first; i <= n->durable_expect; i++) {
			struct rl_entry_info e;
			if (i > li.last_index) {
				sim_fail(s, NODE_FMT ": durable entry %llu lost across a restart (last "
						     "index now %llu)",
					 NODE_ARGS(n), (unsigned long long)i,
					 (unsigned long long)li.last_index);
			}
			sim_read_entry(s, n, i, &e);
			struct sim_variant *v = variant_find(slot_at(n->group, i), ver_get(n, i));
			if (e.term != ver_get(n, i) || v == NULL ||
			    v->crc != kp_crc32c(0, s->scratch, e.size)) {
				sim_fail(s, NODE_FMT ": durable entry %llu changed across a restart",
					 NODE_ARGS(n), (unsigned long long)i);
			}
		}
	}
	if (li.term < n->max_sent_term) {
		sim_fail(s, NODE_FMT ": recovered term %llu, but term %llu was sent before",
			 NODE_ARGS(n), (unsigned long long)li.term,
			 (unsigned long long)n->max_sent_term);
	}
	if (n->granted_term != 0 && li.term == n->granted_term && li.vote != n->granted_for) {
		sim_fail(s, NODE_FMT ": voted for %llu in term %llu, recovered vote %llu",
			 NODE_ARGS(n), (unsigned long long)n->granted_for,
			 (unsigned long long)n->granted_term, (unsigned long long)li.vote);
	}
	n->durable_check = false;
	n->ver_first = li.first_index;
	n->ver_last = li.first_index - 1;
	n->commit_checked = 0;
	n->leader_checked_term = 0;
}

bool sim_check_answers_done(struct sim *s)
{
	check_answers(s);
	return s->pending == NULL && s->answered == NULL;
}

void sim_check_free(struct sim *s)
{
	for (unsigned k = 0; k < SIM_GROUPS_MAX; k++) {
		struct sim_group *grp = &s->groups[k];
		for (uint64_t i = 0; i < grp->n_slots; i++) {
			for (unsigned j = 0; j < grp->slots[i].n; j++) {
				sl_free(grp->slots[i].v[j].rec_crc);
			}
			free(grp->slots[i].v);
		}
		free(grp->slots);
		free(grp->leader_of_term);
		for (unsigned i = 0; i < SIM_RF_MAX; i++) {
			free(grp->nodes[i].ver);
		}
	}
	while (s->pending != NULL) {
		struct sim_sub *sub = s->pending;
		s->pending = sub->next;
		sl_free(sub->rec_crc);
		free(sub);
	}
	while (s->answered != NULL) {
		struct sim_sub *sub = s->answered;
		s->answered = sub->next;
		sl_free(sub->rec_crc);
		free(sub);
	}
}
