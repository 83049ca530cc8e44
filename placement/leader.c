/* Leader choice: pinning leadership to preferred places with hysteresis, and election-timeout
 * ranks. */
#include "placement/internal.h"

bool pl_voter_healthy(const struct pl_voter_progress *v, const struct pl_topology *t,
		      const struct pl_config *cfg, uint64_t leader_last_index)
{
	SL_ASSERT(v != NULL && t != NULL && cfg != NULL);
	int i = pl__broker_index(t, v->broker_id);
	if (i < 0 || !t->brokers[i].alive) {
		return false;
	}
	if (v->last_contact_age_ms < 0 ||
	    v->last_contact_age_ms > cfg->transfer_contact_age_max_ms) {
		return false;
	}
	if (v->match_index > leader_last_index) {
		/* Progress from an older view; it has at least everything. */
		return true;
	}
	uint64_t lag = leader_last_index - v->match_index;
	return cfg->transfer_lag_max_entries >= 0 && lag <= (uint64_t)cfg->transfer_lag_max_entries;
}

void pl_voter_observe(struct pl_voter_progress *v, const struct pl_topology *t,
		      const struct pl_config *cfg, uint64_t leader_last_index, int64_t now_ms)
{
	if (!pl_voter_healthy(v, t, cfg, leader_last_index)) {
		v->healthy_since_ms = PL_TIME_NEVER;
	} else if (v->healthy_since_ms == PL_TIME_NEVER) {
		v->healthy_since_ms = now_ms;
	}
}

/* True if a voter is ready to receive leadership at now_ms. */
static bool voter_ready(const struct pl_leader_input *in, const struct pl_voter_progress *v)
{
	const struct pl_config *cfg = in->config;
	if (!pl_voter_healthy(v, in->topology, cfg, in->leader_last_index) ||
	    v->healthy_since_ms == PL_TIME_NEVER || v->healthy_since_ms > in->now_ms) {
		return false;
	}
	/* now - since cannot overflow: since <= now and since > INT64_MIN. */
	return (uint64_t)in->now_ms - (uint64_t)v->healthy_since_ms >=
	       (uint64_t)cfg->transfer_healthy_min_ms;
}

static uint64_t lag_of(const struct pl_leader_input *in, const struct pl_voter_progress *v)
{
	return v->match_index >= in->leader_last_index ? 0 : in->leader_last_index - v->match_index;
}

/* Ordering among ready voters of the best rank: smallest lag, then longest
 * healthy streak, then lowest id. */
static bool target_before(const struct pl_leader_input *in, const struct pl_voter_progress *a,
			  const struct pl_voter_progress *b)
{
	uint64_t la = lag_of(in, a);
	uint64_t lb = lag_of(in, b);
	if (la != lb) {
		return la < lb;
	}
	if (a->healthy_since_ms != b->healthy_since_ms) {
		return a->healthy_since_ms < b->healthy_since_ms;
	}
	return a->broker_id < b->broker_id;
}

static int check_voters(const struct pl_leader_input *in, int *leader_at)
{
	*leader_at = -1;
	if (in->n_voters < 1 || in->n_voters > PL_VOTERS_MAX || in->voters == NULL) {
		return PL_ERR_INVAL;
	}
	for (int i = 0; i < in->n_voters; i++) {
		for (int j = 0; j < i; j++) {
			if (in->voters[i].broker_id == in->voters[j].broker_id) {
				return PL_ERR_INVAL;
			}
		}
		if (in->voters[i].broker_id == in->leader_id) {
			*leader_at = i;
		}
	}
	if (in->leader_id != PL_NO_BROKER && *leader_at < 0) {
		return PL_ERR_INVAL;
	}
	return 0;
}

static bool in_cool_down(const struct pl_leader_input *in)
{
	if (in->now_ms < in->last_change_ms) {
		return true;
	}
	uint64_t since = (uint64_t)in->now_ms - (uint64_t)in->last_change_ms;
	return since < (uint64_t)in->config->transfer_cool_down_ms;
}

int pl_leader_decide(const struct pl_leader_input *in, struct pl_leader_decision *out)
{
	SL_ASSERT(in != NULL && out != NULL && in->topology != NULL && in->config != NULL);
	*out = (struct pl_leader_decision){.action = PL_LEADER_STAY,
					   .reason = PL_LEADER_NO_PREFERENCE,
					   .target_id = PL_NO_BROKER,
					   .leader_rank = -1,
					   .target_rank = -1};
	int leader_at;
	int rc = check_voters(in, &leader_at);
	if (rc != 0) {
		return rc;
	}
	const struct pl_preference *pref = in->preference;
	if (leader_at >= 0) {
		out->leader_rank = pl_preference_rank(pref, in->topology, in->leader_id);
	}
	if (pref == NULL || pref->kind == PL_PREF_NONE) {
		return 0;
	}
	struct pl_broker leader;
	if (leader_at < 0 || !pl_topology_find(in->topology, in->leader_id, &leader) ||
	    !leader.alive) {
		out->reason = PL_LEADER_NO_LEADER;
		return 0;
	}
	const struct pl_voter_progress *best = NULL;
	int best_rank = out->leader_rank;
	for (int i = 0; i < in->n_voters; i++) {
		const struct pl_voter_progress *v = &in->voters[i];
		int rank = pl_preference_rank(pref, in->topology, v->broker_id);
		if (i == leader_at || rank >= out->leader_rank || !voter_ready(in, v)) {
			continue;
		}
		if (best == NULL || rank < best_rank ||
		    (rank == best_rank && target_before(in, v, best))) {
			best = v;
			best_rank = rank;
		}
	}
	if (best == NULL) {
		/* Nobody better exists at all, or better ones exist but are not ready. */
		int min_rank = out->leader_rank;
		for (int i = 0; i < in->n_voters; i++) {
			min_rank = SL_MIN(min_rank, pl_preference_rank(pref, in->topology,
								       in->voters[i].broker_id));
		}
		out->reason = min_rank < out->leader_rank ? PL_LEADER_NONE_READY
							  : PL_LEADER_ALREADY_PREFERRED;
		return 0;
	}
	out->target_id = best->broker_id;
	out->target_rank = best_rank;
	if (in_cool_down(in)) {
		out->reason = PL_LEADER_COOL_DOWN;
		return 0;
	}
	out->action = PL_LEADER_TRANSFER;
	out->reason = PL_LEADER_MOVE_TO_PREFERRED;
	return 0;
}

const char *pl_leader_reason_str(enum pl_leader_reason reason)
{
	switch (reason) {
	case PL_LEADER_NO_PREFERENCE:
		return "stay: no leader preference";
	case PL_LEADER_NO_LEADER:
		return "stay: no live leader; an election decides";
	case PL_LEADER_ALREADY_PREFERRED:
		return "stay: leader is in the most preferred place with a ready voter";
	case PL_LEADER_NONE_READY:
		return "stay: no voter in a more preferred place is alive, caught up and healthy "
		       "long "
		       "enough";
	case PL_LEADER_COOL_DOWN:
		return "stay: within the cool-down after the last leadership change";
	case PL_LEADER_MOVE_TO_PREFERRED:
		return "transfer: a ready voter sits in a more preferred place";
	}
	return "unknown";
}

static int64_t rank_timeout_ms(int rank, int64_t base_ms, int64_t step_ms)
{
	if (base_ms < 0) {
		base_ms = 0;
	}
	if (step_ms < 0) {
		step_ms = 0;
	}
	if (step_ms > 0 && rank > (INT64_MAX - base_ms) / step_ms) {
		return INT64_MAX;
	}
	return base_ms + (int64_t)rank * step_ms;
}

int64_t pl_election_timeout_ms(const struct pl_preference *pref, const struct pl_topology *t,
			       int32_t broker_id, int64_t base_ms, int64_t step_ms)
{
	return rank_timeout_ms(pl_preference_rank(pref, t, broker_id), base_ms, step_ms);
}

/* True with *rank set if voter id is alive in t and not `self`. */
static bool other_live_rank(const struct pl_preference *pref, const struct pl_topology *t,
			    int32_t id, int32_t self, int *rank)
{
	struct pl_broker br;
	if (id == self || !pl_topology_find(t, id, &br) || !br.alive) {
		return false;
	}
	*rank = pl_preference_rank(pref, t, id);
	return true;
}

int pl_election_rank_live(const struct pl_preference *pref, const struct pl_topology *t,
			  int32_t broker_id, const int32_t *voters, int n_voters)
{
	int mine = pl_preference_rank(pref, t, broker_id);
	int rank = 0;
	for (int i = 0; i < n_voters; i++) {
		int r, rj;
		if (!other_live_rank(pref, t, voters[i], broker_id, &r) || r >= mine) {
			continue;
		}
		bool seen = false; /* each better rank counts once */
		for (int j = 0; j < i && !seen; j++) {
			seen = other_live_rank(pref, t, voters[j], broker_id, &rj) && rj == r;
		}
		rank += !seen;
	}
	return rank;
}

bool pl_election_first(const struct pl_preference *pref, const struct pl_topology *t,
		       int32_t broker_id, const int32_t *voters, int n_voters)
{
	int mine = pl_preference_rank(pref, t, broker_id);
	for (int i = 0; i < n_voters; i++) {
		int r;
		if (other_live_rank(pref, t, voters[i], broker_id, &r) && r <= mine) {
			return false;
		}
	}
	return true;
}

int64_t pl_election_timeout_live_ms(const struct pl_preference *pref, const struct pl_topology *t,
				    int32_t broker_id, const int32_t *voters, int n_voters,
				    int64_t base_ms, int64_t step_ms)
{
	return rank_timeout_ms(pl_election_rank_live(pref, t, broker_id, voters, n_voters),
			       base_ms, step_ms);
}

int64_t pl_election_timeout_replica_ms(const struct pl_preference *pref,
				       const struct pl_topology *t, int32_t broker_id,
				       const int32_t *voters, int n_voters, int64_t base_ms,
				       int64_t step_ms, int64_t max_ms)
{
	struct pl_broker self;
	if (!pl_topology_find(t, broker_id, &self)) {
		return 0;
	}
	int64_t ms =
	    pl_election_timeout_live_ms(pref, t, broker_id, voters, n_voters, base_ms, step_ms);
	return ms > 0 && ms <= max_ms ? ms : 0;
}

bool pl_election_leader_lost(const struct pl_preference *pref, const struct pl_topology *t,
			     int32_t broker_id, enum pl_role role, int32_t leader_id,
			     const int32_t *voters, int n_voters)
{
	struct pl_broker leader;
	return role == PL_ROLE_FOLLOWER && leader_id > 0 && pl_topology_find(t, leader_id, &leader) &&
	       !leader.alive && pl_election_first(pref, t, broker_id, voters, n_voters);
}
