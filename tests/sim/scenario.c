/* Scripted locality scenarios, run instead of the chaos phase (then the
 * run heals and must converge as usual; every invariant of check.c and
 * loc.c holds throughout).
 *
 * region-fail: three regions a, b, c; every group prefers regions:a,b,c and
 * has one voter per region (pl_assign()). Once pinning has every leader in
 * a, all of a's brokers fail (power loss or kill, or a network partition
 * that isolates them). Within a bound every group's leader must be in b.
 * Then a recovers; every leader must be back in a within a bound, none
 * earlier than a's voters could have been healthy for
 * leaders.transfer.healthy.min.ms (the hysteresis), each group may change
 * leaders only a few times per phase, and after the return leadership must
 * stay put (no flapping) for a whole cool-down and more.
 *
 * follower-cut: a consumer reads group 1 from a follower F every tick.
 * The link from the leader to F is cut (one-way), then both ways: each
 * time F must stop answering reads no later than the staleness bound after
 * the cut (its last answer lies within the bound, its first refusal within
 * the bound plus one read tick), and after the network heals it must
 * answer again. */
#include <stdio.h>
#include <string.h>

#include "common/sl_common.h"
#include "tests/sim/sim.h"

/* How long pinning may take to bring the first leaders to a. */
#define SETTLE_MS_MAX 120000
/* Leadership changes one group may see while a fails, and while it
 * recovers (a -> c by election, c -> b by pinning; b -> a). */
#define FAIL_CHANGES_MAX 3
#define RECOVER_CHANGES_MAX 2
/* The consumer's read tick in follower-cut. */
#define READ_TICK_MS 50

static unsigned want_region;

static bool all_leaders_in(struct sim *s)
{
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		if (sim_region_of_leader(s, &s->groups[k]) != want_region) {
			return false;
		}
	}
	return true;
}

/* Runs until every leader is in region, failing after within_ms. */
static uint64_t leaders_to(struct sim *s, unsigned region, uint64_t within_ms, const char *what)
{
	uint64_t t0 = s->now;
	want_region = region;
	if (!sim_run_until(s, t0 + within_ms, all_leaders_in)) {
		for (unsigned k = 0; k < s->cfg.n_groups; k++) {
			struct sim_node *l = sim_leader(s, &s->groups[k]);
			fprintf(stderr, "sim:   group %u leader %u\n", k + 1,
				l != NULL ? l->broker->id : 0);
		}
		sim_fail(s, "%s: not every leader in region %c within %llu ms", what, 'a' + region,
			 (unsigned long long)within_ms);
	}
	return s->now - t0;
}

static void snapshot_changes(struct sim *s, uint64_t *changes)
{
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		changes[k] = s->groups[k].leader_changes;
	}
}

static void check_changes(struct sim *s, const uint64_t *before, uint64_t max, const char *what)
{
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		uint64_t n = s->groups[k].leader_changes - before[k];
		if (n > max) {
			sim_fail(s, "%s: group %u changed leaders %llu times (at most %llu): flapping",
				 what, k + 1, (unsigned long long)n, (unsigned long long)max);
		}
	}
}

void sim_scenario_region_fail(struct sim *s)
{
	uint64_t e = s->cfg.election_ms;
	uint64_t changes[SIM_GROUPS_MAX];
	bool crash = sim_rng_chance(&s->rng, 500);
	bool side[SIMNET_NODES_MAX] = {false};
	sim_faults_off(s);
	(void)leaders_to(s, 0, SETTLE_MS_MAX, "start");
	/* Region a fails. */
	snapshot_changes(s, changes);
	for (unsigned i = 1; i <= s->cfg.n_brokers; i++) {
		struct sim_broker *b = &s->brokers[i];
		side[i] = b->region == 0;
		if (side[i] && crash) {
			sim_broker_stop(s, b, sim_rng_chance(&s->rng, 500) ? SIM_STOP_POWER
									  : SIM_STOP_KILL);
		}
	}
	if (!crash) {
		simnet_partition(s->net, side);
		s->stats.partitions++;
	}
	sim_trace(s, "region a fails (%s)", crash ? "crash" : "partition");
	/* Elections by rank (a few timeouts), then a hand-over to b. */
	uint64_t t = leaders_to(s, 1, 30 * e + 4 * SIM_LOC_TICK_MS, "region a failed");
	s->stats.failover_ms_max = SL_MAX(s->stats.failover_ms_max, t);
	check_changes(s, changes, FAIL_CHANGES_MAX, "region a failed");
	/* Region a recovers. */
	snapshot_changes(s, changes);
	uint64_t t_rec = s->now;
	for (unsigned i = 1; i <= s->cfg.n_brokers; i++) {
		if (side[i] && crash) {
			s->brokers[i].restart_at = s->now;
		}
	}
	if (!crash) {
		simnet_heal(s->net);
	}
	sim_trace(s, "region a recovers");
	uint64_t within = (uint64_t)(s->pcfg.transfer_healthy_min_ms + s->pcfg.transfer_cool_down_ms) +
			  30 * e + 4 * SIM_LOC_TICK_MS;
	t = leaders_to(s, 0, within, "region a recovered");
	s->stats.failback_ms_max = SL_MAX(s->stats.failback_ms_max, t);
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		struct sim_group *grp = &s->groups[k];
		if (grp->leader_changed_ms < t_rec + (uint64_t)s->pcfg.transfer_healthy_min_ms) {
			sim_fail(s,
				 "group %u: leadership returned to a at %llu ms, before a's voters "
				 "could be healthy for %lld ms (recovery at %llu ms)",
				 k + 1, (unsigned long long)grp->leader_changed_ms,
				 (long long)s->pcfg.transfer_healthy_min_ms,
				 (unsigned long long)t_rec);
		}
	}
	check_changes(s, changes, RECOVER_CHANGES_MAX, "region a recovered");
	/* No flapping: leadership stays in a. */
	snapshot_changes(s, changes);
	uint64_t hold = (uint64_t)(s->pcfg.transfer_cool_down_ms + s->pcfg.transfer_healthy_min_ms) +
			10 * e;
	sim_run_until(s, s->now + hold, NULL);
	check_changes(s, changes, 0, "after the return");
	want_region = 0;
	if (!all_leaders_in(s)) {
		sim_fail(s, "after the return: a leader left region a");
	}
}

/* ---- follower-cut ----------------------------------------------------------- */

static struct sim_node *cut_node;
static uint64_t cut_heal_ms;
static struct sim_consumer *cut_consumer;

static bool has_leader(struct sim *s)
{
	struct sim_node *l = sim_leader(s, &s->groups[0]);
	if (l == NULL) {
		return false;
	}
	struct rl_group_status st;
	rl_group_get_status(l->g, &st);
	return st.hwm > st.start_offset && st.commit_index > 1; /* serving data */
}

/* The follower answered the consumer since the heal, or leads. */
static bool answers_again(struct sim *s)
{
	struct rl_group_status st;
	(void)s;
	if (!cut_node->open) {
		return false;
	}
	rl_group_get_status(cut_node->g, &st);
	return cut_consumer->accepted_ms > cut_heal_ms || st.role == RAFT_LEADER;
}

/* Cuts leader -> follower (and back when two_way), checks that the
 * follower stops answering within the bound, heals and waits for it to
 * answer again. */
static void cut_once(struct sim *s, struct sim_consumer *c, struct sim_node *l,
		     struct sim_node *f, bool two_way)
{
	int64_t bound = c->group->max_staleness_ms;
	uint64_t t_cut = s->now;
	c->first_refused_ms = 0;
	simnet_cut(s->net, l->broker->id, f->broker->id, true);
	if (two_way) {
		simnet_cut(s->net, f->broker->id, l->broker->id, true);
	}
	s->stats.partitions++;
	sim_trace(s, "follower-cut: %s cut between leader %u and follower %u, bound %lld ms",
		  two_way ? "two-way" : "one-way", l->broker->id, f->broker->id, (long long)bound);
	sim_run_until(s, t_cut + (uint64_t)bound + c->gap_ms + 1, NULL);
	if (c->accepted_ms > t_cut + (uint64_t)bound) {
		sim_fail(s, "follower-cut (%s): follower %u answered at %llu ms, cut at %llu ms, "
			    "bound %lld ms",
			 two_way ? "two-way" : "one-way", f->broker->id,
			 (unsigned long long)c->accepted_ms, (unsigned long long)t_cut,
			 (long long)bound);
	}
	if (c->first_refused_ms == 0 ||
	    c->first_refused_ms > t_cut + (uint64_t)bound + c->gap_ms) {
		sim_fail(s, "follower-cut (%s): follower %u did not refuse within bound %lld ms + "
			    "one read tick of the cut at %llu ms",
			 two_way ? "two-way" : "one-way", f->broker->id, (long long)bound,
			 (unsigned long long)t_cut);
	}
	s->stats.cutoff_ms_max = SL_MAX(s->stats.cutoff_ms_max, c->first_refused_ms - t_cut);
	simnet_heal(s->net);
	cut_heal_ms = s->now;
	cut_node = f;
	cut_consumer = c;
	if (!sim_run_until(s, s->now + 60000, answers_again)) {
		sim_fail(s, "follower-cut (%s): follower %u never answered again after the heal",
			 two_way ? "two-way" : "one-way", f->broker->id);
	}
}

void sim_scenario_follower_cut(struct sim *s)
{
	struct sim_group *grp = &s->groups[0];
	sim_faults_off(s);
	/* Group 1's leader stays where elections put it. */
	SL_ASSERT(pl_preference_parse("none", &grp->pref, NULL, 0) == 0);
	int64_t lo = SL_MAX(300, 2 * (int64_t)s->cfg.heartbeat_ms + 200);
	grp->max_staleness_ms = (int64_t)sim_rng_range(&s->rng, (uint64_t)lo, 3000);
	if (!sim_run_until(s, s->now + SETTLE_MS_MAX, has_leader)) {
		sim_fail(s, "follower-cut: group 1 has no leader serving data");
	}
	for (int pass = 0; pass < 2; pass++) {
		struct sim_node *l = sim_leader(s, grp);
		struct sim_node *f = NULL;
		for (unsigned i = 0; i < grp->n_replicas && f == NULL; i++) {
			if (&grp->nodes[i] != l && grp->nodes[i].open) {
				f = &grp->nodes[i];
			}
		}
		SL_ASSERT(l != NULL && f != NULL);
		struct sim_consumer *c = &s->consumers[0];
		c->home = f->broker->id;
		c->gap_ms = READ_TICK_MS;
		c->next_ms = s->now;
		/* It answers before the cut. */
		cut_node = f;
		cut_consumer = c;
		cut_heal_ms = s->now;
		if (!sim_run_until(s, s->now + 30000, answers_again)) {
			sim_fail(s, "follower-cut: follower %u never answered before the cut",
				 f->broker->id);
		}
		if (sim_leader(s, grp) != l) {
			continue; /* the leader moved meanwhile: pick again next pass */
		}
		cut_once(s, c, l, f, pass == 1);
	}
}
