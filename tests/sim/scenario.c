/* Scripted locality scenarios, run instead of the chaos phase (then the
 * run heals and must converge as usual; every invariant of check.c and
 * loc.c holds throughout).
 *
 * region-fail: three regions a, b, c; every group prefers regions:a,b,c and
 * has one voter per region (pl_assign()). Once pinning has every leader in
 * a, all of a's brokers fail (power loss or kill, or a network partition
 * that isolates them). Every group's leader must then be in b within its
 * own bound, derived from the run's settings (failover_bound()): when the
 * early election's preconditions hold (early_promised(): b followed the
 * failed leader with a log at least as up to date as c's, c heard the
 * leader last within a heartbeat of b, and b campaigns before c's own
 * timer can fire) b must lead by the time its broker's tick noticed the
 * failure or the vote guard plus a heartbeat passed, plus two vote rounds;
 * otherwise by the slowest re-ranked timer, one lost round and a hand-over
 * from c. A group whose early election is promised is held to that fast
 * bound however its own election timer is drawn (the group holds that timer
 * back while the early election is armed). Then a recovers; every leader must be back in a within a bound
 * (failback_bound(): catch-up, healthy streak, cool-down after a
 * hand-over, transfer), none earlier than a's voters could have been
 * healthy for leaders.transfer.healthy.min.ms (the hysteresis), each group
 * may change leaders only a few times per phase, and after the return
 * leadership must stay put (no flapping) for a whole cool-down and more.
 * Disabling the vote guard (raftlog) or the tick's re-rank (loc.c) makes
 * nearly every seed fail the failover bound.
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
/* Time a recovered voter needs to catch up with the leader (for a
 * restarted broker: recovery, then the entries or a range transfer it
 * missed), within the catch-up timeout the groups use (e). */
#define CATCH_UP_MS(e) (e)
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

/* ---- region-fail: bounds ---------------------------------------------------- */

/* Time terms of the bounds, all from the run's settings. */
struct fail_terms {
	uint64_t e;	   /* raft.election.timeout.ms: the base, and the vote guard */
	uint64_t hb;	   /* raft.heartbeat.interval.ms: the early election's margin */
	uint64_t step;	   /* leaders.election.timeout.step.ms */
	uint64_t d;	   /* longest one-way message delay (latency + jitter) */
	uint64_t disk;	   /* longest writer pass delay (term and vote writes) */
	uint64_t elect;	   /* pre-vote and vote rounds, votes made durable */
	uint64_t transfer; /* a pinning hand-over once decided: the drain (the
			    * target's acknowledgement), TimeoutNow, the
			    * target's election */
};

static void fail_terms_init(struct sim *s, struct fail_terms *ft)
{
	const struct simnet_config *nc = simnet_config(s->net);
	*ft = (struct fail_terms){
	    .e = s->cfg.election_ms,
	    .hb = s->cfg.heartbeat_ms,
	    .step = (uint64_t)s->pcfg.election_timeout_step_ms,
	};
	for (unsigned i = 1; i <= s->cfg.n_brokers; i++) {
		ft->disk = SL_MAX(ft->disk, s->brokers[i].disk_max_ms);
		for (unsigned j = 1; j <= s->cfg.n_brokers; j++) {
			ft->d = SL_MAX(ft->d, nc->latency_ms[i][j]);
		}
	}
	ft->d += nc->jitter_ms;
	ft->elect = 4 * ft->d + 2 * ft->disk;
	ft->transfer = 2 * ft->d + ft->disk + ft->d + ft->elect;
}

/* One group's replica in region r (every group has one per region). */
static struct sim_node *node_in(struct sim_group *grp, unsigned r)
{
	for (unsigned i = 0; i < grp->n_replicas; i++) {
		if (grp->nodes[i].broker->region == r) {
			return &grp->nodes[i];
		}
	}
	return NULL;
}

/* What one group looked like when region a failed. */
struct fail_group {
	uint64_t term;	     /* the term of a's leader */
	bool promised;	     /* the early election's preconditions hold */
	uint64_t campaign_ms; /* when b's early election is due */
	uint64_t bound_ms;   /* its failover bound */
};

/* Whether b's voter is set up for the early election (server/locality.c,
 * rl_group_leader_lost()), and when it is due: b's broker notices the
 * closed connection at its first locality tick after the failure
 * (detect_ms) and arms the election for b's last leader contact + the vote
 * guard + one heartbeat. Promised when b follows a's failed leader, its log
 * is at least as up to date as c's (else c refuses it: Raft's election
 * restriction), c heard that leader last at most one heartbeat interval
 * after b did (the margin the broker gives, so c's vote guard is open when
 * b campaigns), and b's pre-vote reaches c before c's own re-ranked timer
 * (e + step since its last leader contact) can fire: with a tick slower
 * than e + step both may campaign and split the vote. Evaluated once the
 * messages in flight at the failure have landed. */
static bool early_promised(const struct fail_terms *ft, struct sim_group *grp,
			   unsigned failed_leader, uint64_t detect_ms, uint64_t *campaign_ms)
{
	struct sim_node *b = node_in(grp, 1), *c = node_in(grp, 2);
	struct rl_group_status sb, sc;
	struct rl_log_info lb, lc;
	rl_group_get_status(b->g, &sb);
	rl_group_get_status(c->g, &sc);
	rl_log_get_info(b->log, &lb);
	rl_log_get_info(c->log, &lc);
	/* A message the leader sent before it failed may still land after its
	 * broker was seen gone (a real connection, too, delivers what was
	 * sent before its close); hearing from the leader cancels an armed
	 * early election, and the next tick arms it again. */
	while (detect_ms <= sb.last_leader_contact_ms) {
		detect_ms += SIM_LOC_TICK_MS;
	}
	*campaign_ms = SL_MAX(detect_ms, sb.last_leader_contact_ms + ft->e + ft->hb);
	bool up_to_date = lb.last_term > lc.last_term ||
			  (lb.last_term == lc.last_term && lb.last_index >= lc.last_index);
	return sb.role == RAFT_FOLLOWER && sb.leader_id == failed_leader && up_to_date &&
	       sb.last_leader_contact_ms > 0 &&
	       sc.last_leader_contact_ms <= sb.last_leader_contact_ms + ft->hb &&
	       *campaign_ms + ft->d < sc.last_leader_contact_ms + ft->e + ft->step;
}

/* The failover bounds of one group (t0: the failure).
 *
 * Promised (the design's path, see early_promised()): b campaigns when the
 * early election is due, at most max(SIM_LOC_TICK_MS, d + e + hb) after
 * the failure, and the pre-vote and vote win at once: b leads within
 * campaign_ms - t0 + elect.
 *
 * Otherwise (b lags c, b did not know the leader yet, or c heard it later
 * than the margin covers) an ordinary election decides: by d + 2 (e + step)
 * the re-ranked timers of b (base e: [e, 2e)) and c (e + step: [e + step,
 * 2 (e + step))) have both fired; one round may be lost (a split vote or a
 * refused pre-vote) and retried within another 2 (e + step); if c won, the
 * leader hands over to b, which is ready at once after a failover
 * (pl_pin_note_role(): no cool-down, streaks seeded from liveness), at its
 * first evaluation once b's first acknowledgement is in. */
static uint64_t failover_bound(const struct fail_terms *ft, bool promised, uint64_t campaign_in)
{
	if (promised) {
		return campaign_in + ft->elect;
	}
	return ft->d + 4 * (ft->e + ft->step) + ft->elect + PL_PIN_EVAL_MIN_MS + 2 * ft->d +
	       ft->transfer;
}

/* The failback bound of one group after a recovers at t_rec: a's voter is
 * alive (reconnected) at once, caught up within catch_up, healthy from the
 * next evaluation (a tick) on and ready leaders.transfer.healthy.min.ms
 * later, seen at the tick after; a leader that b got by a hand-over also
 * waits out leaders.transfer.cool.down.ms from that change (a failover
 * election starts none). Then the transfer. */
static uint64_t failback_bound(struct sim *s, const struct fail_terms *ft, uint64_t t_rec,
			       uint64_t catch_up, bool handed_over, uint64_t b_since)
{
	uint64_t ready = t_rec + catch_up + 2 * SIM_LOC_TICK_MS +
			 (uint64_t)s->pcfg.transfer_healthy_min_ms;
	if (handed_over) {
		ready = SL_MAX(ready, b_since + (uint64_t)s->pcfg.transfer_cool_down_ms +
					  SIM_LOC_TICK_MS);
	}
	return ready - t_rec + ft->transfer;
}

static uint64_t pct_of(uint64_t t, uint64_t bound)
{
	return bound == 0 ? 0 : 100 * t / bound;
}

/* The first broker that led the group after term (0: none yet). */
static unsigned first_leader_after(const struct sim_group *grp, uint64_t term)
{
	for (uint64_t t = term + 1; t < grp->n_terms; t++) {
		if (grp->leader_of_term[t] != 0) {
			return (unsigned)grp->leader_of_term[t];
		}
	}
	return 0;
}

/* Region a fails at t0: every group's leader must reach b within its
 * bound. Returns in fg what the failback needs. */
static void region_a_fails(struct sim *s, const struct fail_terms *ft, struct fail_group *fg,
			   bool crash, bool *side)
{
	uint64_t changes[SIM_GROUPS_MAX];
	unsigned failed_leader[SIM_GROUPS_MAX];
	snapshot_changes(s, changes);
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		struct sim_group *grp = &s->groups[k];
		struct sim_node *l = sim_leader(s, grp);
		struct rl_group_status st;
		rl_group_get_status(l->g, &st);
		fg[k].term = st.term;
		failed_leader[k] = l->broker->id;
		if (node_in(grp, 0) == NULL || node_in(grp, 1) == NULL || node_in(grp, 2) == NULL) {
			sim_fail(s, "group %u: not one voter per region", k + 1);
		}
		node_in(grp, 1)->campaigned_ms = 0;
	}
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
	uint64_t t0 = s->now;
	uint64_t detect_ms[SIM_GROUPS_MAX];
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		detect_ms[k] = node_in(&s->groups[k], 1)->broker->loc_due; /* its next tick */
	}
	sim_trace(s, "region a fails (%s)", crash ? "crash" : "partition");
	/* The messages in flight land (nothing is elected this soon: d < e). */
	sim_run_until(s, t0 + ft->d, NULL);
	uint64_t within = 0;
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		fg[k].promised = early_promised(ft, &s->groups[k], failed_leader[k], detect_ms[k],
						&fg[k].campaign_ms);
		fg[k].bound_ms = failover_bound(ft, fg[k].promised, fg[k].campaign_ms - t0);
		within = SL_MAX(within, failover_bound(ft, false, 0));
	}
	uint64_t t = leaders_to(s, 1, within, "region a failed");
	s->stats.failover_ms_max = SL_MAX(s->stats.failover_ms_max, t);
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		struct sim_group *grp = &s->groups[k];
		struct sim_node *b = node_in(grp, 1);
		uint64_t took = grp->leader_changed_ms - t0;
		unsigned first = first_leader_after(grp, fg[k].term);
		/* libraft's own timer at b (re-ranked to the base e, drawn from
		 * [e, 2e) since its last leader contact) could fire before the
		 * early election is due, while c's vote guard is still closed;
		 * that pre-vote would fail and cost b a whole timeout. The group
		 * holds the timer back while the early election is armed
		 * (raftlog/group.h, "Early election"); it can still fire while
		 * a late message from the failed leader has cancelled the
		 * early election until the next tick re-arms it. Counted, and
		 * held to the fast bound all the same. */
		bool preempted = fg[k].promised && b->campaigned_ms != 0 &&
				 b->campaigned_ms < fg[k].campaign_ms;
		if (preempted) {
			s->stats.early_preempted++;
			sim_trace(s, "group %u: b's timer fired at %llu ms, before its early election "
				     "(%llu ms)",
				  k + 1, (unsigned long long)b->campaigned_ms,
				  (unsigned long long)fg[k].campaign_ms);
		}
		if (took > fg[k].bound_ms) {
			sim_fail(s,
				 "region a failed: group %u led from b after %llu ms, bound %llu ms "
				 "(%s; first new leader %u; e=%llu hb=%llu step=%llu d=%llu)",
				 k + 1, (unsigned long long)took, (unsigned long long)fg[k].bound_ms,
				 fg[k].promised ? "early election" : "ordinary election", first,
				 (unsigned long long)ft->e, (unsigned long long)ft->hb,
				 (unsigned long long)ft->step, (unsigned long long)ft->d);
		}
		s->stats.failover_bound_pct_max =
		    SL_MAX(s->stats.failover_bound_pct_max, pct_of(took, fg[k].bound_ms));
		/* handed over: the first leader after the failure was not in b */
		fg[k].promised = first != 0 && s->brokers[first].region != 1;
	}
	/* a -> c by election, c -> b by pinning, and one lost round. */
	check_changes(s, changes, FAIL_CHANGES_MAX, "region a failed");
}

void sim_scenario_region_fail(struct sim *s)
{
	uint64_t e = s->cfg.election_ms;
	uint64_t changes[SIM_GROUPS_MAX];
	struct fail_group fg[SIM_GROUPS_MAX];
	struct fail_terms ft;
	bool crash = sim_rng_chance(&s->rng, 500);
	bool side[SIMNET_NODES_MAX] = {false};
	sim_faults_off(s);
	fail_terms_init(s, &ft);
	(void)leaders_to(s, 0, SETTLE_MS_MAX, "start");
	region_a_fails(s, &ft, fg, crash, side);
	/* Region a recovers. */
	snapshot_changes(s, changes);
	uint64_t t_rec = s->now;
	uint64_t bound[SIM_GROUPS_MAX], within = 0;
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		bound[k] = failback_bound(s, &ft, t_rec, CATCH_UP_MS(e), fg[k].promised,
					  s->groups[k].leader_changed_ms);
		within = SL_MAX(within, bound[k]);
	}
	for (unsigned i = 1; i <= s->cfg.n_brokers; i++) {
		if (side[i] && crash) {
			s->brokers[i].restart_at = s->now;
		}
	}
	if (!crash) {
		simnet_heal(s->net);
	}
	sim_trace(s, "region a recovers");
	uint64_t t = leaders_to(s, 0, within, "region a recovered");
	s->stats.failback_ms_max = SL_MAX(s->stats.failback_ms_max, t);
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		struct sim_group *grp = &s->groups[k];
		uint64_t took = grp->leader_changed_ms - t_rec;
		if (grp->leader_changed_ms < t_rec + (uint64_t)s->pcfg.transfer_healthy_min_ms) {
			sim_fail(s,
				 "group %u: leadership returned to a at %llu ms, before a's voters "
				 "could be healthy for %lld ms (recovery at %llu ms)",
				 k + 1, (unsigned long long)grp->leader_changed_ms,
				 (long long)s->pcfg.transfer_healthy_min_ms,
				 (unsigned long long)t_rec);
		}
		if (took > bound[k]) {
			sim_fail(s, "region a recovered: group %u led from a after %llu ms, bound %llu ms",
				 k + 1, (unsigned long long)took, (unsigned long long)bound[k]);
		}
		s->stats.failback_bound_pct_max =
		    SL_MAX(s->stats.failback_bound_pct_max, pct_of(took, bound[k]));
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
