/* Fetch-from-closest-replica selection (KIP-392) and follower staleness decisions. */
#include "placement/internal.h"

bool pl_follower_may_serve(int64_t leader_contact_age_ms, int64_t max_staleness_ms)
{
	return max_staleness_ms >= 0 && leader_contact_age_ms >= 0 &&
	       leader_contact_age_ms <= max_staleness_ms;
}

enum pl_follower_fetch pl_follower_fetch_decide(int64_t leader_contact_age_ms,
						int64_t max_staleness_ms, int64_t log_start_offset,
						int64_t high_watermark, int64_t fetch_offset)
{
	if (!pl_follower_may_serve(leader_contact_age_ms, max_staleness_ms)) {
		return PL_FOLLOWER_REFUSE_STALE;
	}
	if (fetch_offset < 0 || fetch_offset < log_start_offset) {
		return PL_FOLLOWER_OUT_OF_RANGE;
	}
	return fetch_offset < high_watermark ? PL_FOLLOWER_SERVE : PL_FOLLOWER_WAIT;
}

enum pl_follower_fetch pl_follower_read_decide(const struct pl_follower_view *v, int64_t now_ms,
					       int64_t max_staleness_ms, int64_t fetch_offset)
{
	SL_ASSERT(v != NULL);
	int64_t age = -1;
	if (v->follower_with_leader && v->last_leader_contact_ms > 0) {
		age = now_ms - v->last_leader_contact_ms;
		age = age < 0 ? 0 : age;
	}
	return pl_follower_fetch_decide(age, max_staleness_ms, v->log_start_offset,
					v->high_watermark, fetch_offset);
}

/* How far an in-region follower got through the eligibility checks. */
enum stage {
	STAGE_NONE = -1, /* no in-region follower */
	STAGE_DOWN = 0,	 /* not alive */
	STAGE_STALE,	 /* alive, beyond the staleness bound */
	STAGE_BEHIND,	 /* alive and fresh, cannot serve the offset */
	STAGE_ELIGIBLE,
};

static enum stage replica_stage(const struct pl_fetch_input *in, const struct pl_replica_state *r,
				const struct pl__broker_rec *b)
{
	bool leader = r->broker_id == in->leader_id;
	if (!leader && !b->alive) {
		return STAGE_DOWN;
	}
	if (!leader && !pl_follower_may_serve(r->leader_contact_age_ms, in->max_staleness_ms)) {
		return STAGE_STALE;
	}
	/* The leader is where the fetch goes anyway; it answers out-of-range
	 * offsets itself, so only followers must be able to serve. */
	if (!leader &&
	    (in->fetch_offset < r->log_start_offset || in->fetch_offset > r->high_watermark)) {
		return STAGE_BEHIND;
	}
	return STAGE_ELIGIBLE;
}

static uint64_t rendezvous(uint64_t client_hash, int32_t broker_id)
{
	return pl__mix64(client_hash ^ pl__mix64((uint64_t)(uint32_t)broker_id));
}

static int check_input(const struct pl_fetch_input *in)
{
	if (in->replicas == NULL || in->n_replicas < 1 || in->n_replicas > PL_REPLICAS_MAX) {
		return PL_ERR_INVAL;
	}
	bool leader_found = false;
	for (int i = 0; i < in->n_replicas; i++) {
		for (int j = 0; j < i; j++) {
			if (in->replicas[i].broker_id == in->replicas[j].broker_id) {
				return PL_ERR_INVAL;
			}
		}
		leader_found |= in->replicas[i].broker_id == in->leader_id;
	}
	return leader_found ? 0 : PL_ERR_INVAL;
}

/* Picks within one tier (replicas in rack `rack`, or in region `region` if
 * rack < 0): the leader if eligible there, else the rendezvous winner.
 * Updates *stage with the furthest stage of in-region followers. */
static int32_t pick_tier(const struct pl_fetch_input *in, int region, int rack, enum stage *stage)
{
	const struct pl_topology *t = in->topology;
	int32_t best = PL_NO_BROKER;
	uint64_t best_score = 0;
	for (int i = 0; i < in->n_replicas; i++) {
		const struct pl_replica_state *r = &in->replicas[i];
		int bi = pl__broker_index(t, r->broker_id);
		if (bi < 0) {
			continue;
		}
		const struct pl__broker_rec *b = &t->brokers[bi];
		if (b->region != region || (rack >= 0 && b->rack != rack)) {
			continue;
		}
		enum stage s = replica_stage(in, r, b);
		if (r->broker_id != in->leader_id && s > *stage) {
			*stage = s;
		}
		if (s != STAGE_ELIGIBLE) {
			continue;
		}
		if (r->broker_id == in->leader_id) {
			return r->broker_id;
		}
		uint64_t score = rendezvous(in->client_hash, r->broker_id);
		if (best == PL_NO_BROKER || score > best_score ||
		    (score == best_score && r->broker_id < best)) {
			best = r->broker_id;
			best_score = score;
		}
	}
	return best;
}

int pl_fetch_select(const struct pl_fetch_input *in, struct pl_fetch_choice *out)
{
	SL_ASSERT(in != NULL && out != NULL && in->topology != NULL);
	int rc = check_input(in);
	if (rc != 0) {
		return rc;
	}
	out->broker_id = in->leader_id;
	if (in->fetch_offset < 0) {
		out->reason = PL_FETCH_LEADER_BAD_OFFSET;
		return 0;
	}
	int region;
	int rack;
	enum pl_locality_level level = pl__locate(in->topology, in->client_rack, &region, &rack);
	if (level == PL_LOCALITY_NONE) {
		bool empty = in->client_rack == NULL || in->client_rack[0] == '\0';
		out->reason = empty ? PL_FETCH_LEADER_NO_RACK : PL_FETCH_LEADER_UNKNOWN_RACK;
		return 0;
	}
	enum stage stage = STAGE_NONE;
	int32_t choice = PL_NO_BROKER;
	if (level == PL_LOCALITY_RACK) {
		choice = pick_tier(in, region, rack, &stage);
		if (choice != PL_NO_BROKER) {
			out->broker_id = choice;
			out->reason = PL_FETCH_SAME_RACK;
			return 0;
		}
	}
	choice = pick_tier(in, region, -1, &stage);
	if (choice != PL_NO_BROKER) {
		out->broker_id = choice;
		out->reason = PL_FETCH_SAME_REGION;
		return 0;
	}
	static const enum pl_fetch_reason why[] = {
	    [STAGE_DOWN] = PL_FETCH_LEADER_LOCAL_DOWN,
	    [STAGE_STALE] = PL_FETCH_LEADER_LOCAL_STALE,
	    [STAGE_BEHIND] = PL_FETCH_LEADER_LOCAL_BEHIND,
	};
	SL_ASSERT(stage != STAGE_ELIGIBLE);
	out->reason = stage == STAGE_NONE ? PL_FETCH_LEADER_NO_LOCAL : why[stage];
	return 0;
}

const char *pl_fetch_reason_str(enum pl_fetch_reason reason)
{
	switch (reason) {
	case PL_FETCH_SAME_RACK:
		return "same-rack";
	case PL_FETCH_SAME_REGION:
		return "same-region";
	case PL_FETCH_LEADER_NO_RACK:
		return "leader: client sent no rack";
	case PL_FETCH_LEADER_UNKNOWN_RACK:
		return "leader: client rack matches no rack or region of the cluster";
	case PL_FETCH_LEADER_NO_LOCAL:
		return "leader: no replica in the client's region";
	case PL_FETCH_LEADER_LOCAL_DOWN:
		return "leader: no in-region replica is alive";
	case PL_FETCH_LEADER_LOCAL_STALE:
		return "leader: no in-region replica within staleness bound";
	case PL_FETCH_LEADER_LOCAL_BEHIND:
		return "leader: no in-region replica can serve the fetch offset yet";
	case PL_FETCH_LEADER_BAD_OFFSET:
		return "leader: negative fetch offset";
	}
	return "unknown";
}
