/* Leader pinning state of one partition: role and term changes, the
 * cool-down clock, voters' healthy streaks, and one evaluation that turns
 * the leader's Raft progress into a pl_leader_decide() decision. */
#include <string.h>

#include "placement/internal.h"

void pl_pin_init(struct pl_pin *p)
{
	SL_ASSERT(p != NULL);
	memset(p, 0, sizeof(*p));
	p->role = PL_ROLE_UNKNOWN;
}

bool pl_pin_note_role(struct pl_pin *p, enum pl_role role, uint64_t term,
		      int64_t leader_contact_age_ms, int64_t election_timeout_ms,
		      const struct pl_config *cfg, int64_t now_ms)
{
	SL_ASSERT(p != NULL && cfg != NULL);
	if (p->role == role && p->term == term) {
		return false;
	}
	int64_t silence = leader_contact_age_ms >= 0 ? leader_contact_age_ms : INT64_MAX;
	bool failover = role == PL_ROLE_LEADER && p->role != PL_ROLE_LEADER &&
			silence >= election_timeout_ms;
	p->role = role;
	p->term = term;
	p->decided = false;
	p->seed_streaks = failover;
	p->last_change_ms = failover ? now_ms - cfg->transfer_cool_down_ms : now_ms;
	p->changed_at_ms = now_ms;
	for (int i = 0; i < p->n_peers; i++) {
		p->peers[i].healthy_since_ms = PL_TIME_NEVER;
	}
	return true;
}

bool pl_pin_eval_due(const struct pl_pin *p, int64_t now_ms)
{
	SL_ASSERT(p != NULL);
	return now_ms - p->changed_at_ms < PL_PIN_EVAL_FRESH_MS &&
	       now_ms - p->last_eval_ms >= PL_PIN_EVAL_MIN_MS;
}

/* The remembered streak of a peer, added if new; NULL when full. */
static struct pl_pin_peer *peer_get(struct pl_pin *p, int32_t id)
{
	for (int i = 0; i < p->n_peers; i++) {
		if (p->peers[i].broker_id == id) {
			return &p->peers[i];
		}
	}
	if (p->n_peers >= PL_PIN_PEERS_MAX) {
		return NULL;
	}
	struct pl_pin_peer *peer = &p->peers[p->n_peers++];
	*peer = (struct pl_pin_peer){id, PL_TIME_NEVER};
	return peer;
}

/* Fills out (PL_VOTERS_MAX) from the voters, keeping each voter's healthy
 * streak in p. Returns how many. */
static int voters_of(struct pl_pin *p, const struct pl_pin_input *in,
		     struct pl_voter_progress *out)
{
	int k = 0;
	bool all_probed = true;
	for (int i = 0; i < in->n_voters && k < PL_VOTERS_MAX; i++) {
		const struct pl_pin_voter *src = &in->voters[i];
		int32_t id = src->broker_id;
		struct pl_pin_peer *peer = peer_get(p, id);
		struct pl_voter_progress *v = &out[k++];
		v->broker_id = id;
		if (id == in->self_id) {
			v->match_index = in->last_index;
			v->last_contact_age_ms = 0;
		} else {
			v->match_index = src->match_index;
			v->last_contact_age_ms = src->last_contact_age_ms;
		}
		v->healthy_since_ms = peer != NULL ? peer->healthy_since_ms : PL_TIME_NEVER;
		if (p->seed_streaks && v->healthy_since_ms == PL_TIME_NEVER) {
			v->healthy_since_ms = src->alive_since_ms;
		}
		/* A new leader learns a follower's match index with its first
		 * AppendEntries result: until then it neither counts the
		 * follower healthy nor breaks its streak. */
		bool unprobed = id != in->self_id && v->match_index == 0;
		if (unprobed) {
			v->last_contact_age_ms = -1; /* not a candidate yet */
		} else {
			pl_voter_observe(v, in->topology, in->config, in->last_index, in->now_ms);
		}
		all_probed &= !unprobed;
		if (peer != NULL) {
			peer->healthy_since_ms = v->healthy_since_ms;
		}
	}
	if (all_probed) {
		p->seed_streaks = false; /* from now on streaks are observed */
	}
	return k;
}

/* True if the leader is in the best preference rank any live voter has. */
static bool compliant(const struct pl_pin_input *in, const struct pl_voter_progress *v, int n)
{
	int best = INT32_MAX, mine = INT32_MAX;
	for (int i = 0; i < n; i++) {
		struct pl_broker br;
		if (!pl_topology_find(in->topology, v[i].broker_id, &br) || !br.alive) {
			continue;
		}
		int r = pl_preference_rank(in->preference, in->topology, v[i].broker_id);
		best = SL_MIN(best, r);
		if (v[i].broker_id == in->self_id) {
			mine = r;
		}
	}
	return mine <= best;
}

bool pl_pin_evaluate(struct pl_pin *p, const struct pl_pin_input *in)
{
	SL_ASSERT(p != NULL && in != NULL && in->topology != NULL && in->config != NULL);
	p->last_eval_ms = in->now_ms;
	p->decided = false;
	if (p->role != PL_ROLE_LEADER || in->failed) {
		return false;
	}
	struct pl_voter_progress v[PL_VOTERS_MAX];
	int n = voters_of(p, in, v);
	struct pl_leader_input li = {
	    .topology = in->topology,
	    .preference = in->preference,
	    .config = in->config,
	    .leader_id = in->self_id,
	    .leader_last_index = in->last_index,
	    .voters = v,
	    .n_voters = n,
	    .now_ms = in->now_ms,
	    .last_change_ms = p->last_change_ms,
	};
	if (n < 1 || pl_leader_decide(&li, &p->decision) != 0) {
		return false;
	}
	p->decided = true;
	p->compliant = compliant(in, v, n);
	return true;
}
