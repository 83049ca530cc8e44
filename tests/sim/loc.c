/* Locality in the simulator: regions and racks, each broker's view of
 * liveness, leader pinning and rank election timeouts run as the broker
 * runs them (server/locality.c glue over placement's pure pieces), and
 * consumers that read from replicas through the follower-read rule.
 *
 * Happy path: every broker keeps a pl_topology of the cluster whose
 * liveness is its own view (a peer is alive while it is up and the links
 * both ways pass messages: a transport connection), refreshed after every
 * event. Every replica keeps a struct pl_pin: its role and term are noted
 * after every event (the broker notes them on its partition events), a new
 * leader evaluates pinning on its own events while pl_pin_eval_due() says
 * so, and every SIM_LOC_TICK_MS each broker evaluates all its replicas; a
 * PL_LEADER_TRANSFER decision starts rl_group_transfer() unless one runs.
 *
 * Failover, as server/locality.c runs it: a replica opens with
 * pl_election_timeout_replica_ms() (the live preference rank among its
 * voters, on its broker's view), and every tick, after pinning, the
 * broker re-ranks it (rl_group_set_election_timeout()) and, when
 * pl_election_leader_lost() says its leader's broker is gone and it is
 * alone in the best live place, arms the early election
 * (rl_group_leader_lost(), one heartbeat interval of margin). Every group
 * has min_election_timeout_ms = the base timeout, as broker.c sets it: the
 * vote guard (raftlog/group.h, "Elections").
 *
 * The "connection closed" signal. The broker holds a peer alive while its
 * transport has a connection to it, and arms the early election when the
 * connection to the leader's broker is gone. Here a broker's view counts a
 * peer alive while it is up, its disk not frozen, and the links both ways
 * pass messages: a crash (kill or power loss) or a cut or partitioned link
 * closes the connection at once, seen at the next event (the tick acts on
 * it). That is what a transport that notices a dead peer promptly reports.
 * The real transport notices a killed process at once (its kernel closes
 * the socket) but a silent partition or a peer that lost power only when
 * TCP gives up (no application-level keepalive; uv_tcp_keepalive() idles
 * 30 s and does not apply while data is unacknowledged); until then the
 * broker holds that peer alive, does not re-rank and does not arm the
 * early election, and failover falls back to the rank timeouts and the
 * vote guard. Messages a crashed broker sent before it died still land
 * after its links are reported down (a real connection delivers them
 * before the close, too); one from the leader cancels an armed early
 * election, which the next tick arms again.
 *
 * A consumer reads its group from its home replica: as a follower
 * that replica answers by pl_follower_read_decide() on the virtual clock
 * (serve, hold, refuse as stale, out of range); on a refusal, or when its
 * home is down, the consumer reads from the leader.
 *
 * Checked at every read: a follower that answered (served or held) heard
 * an AppendEntries or InstallSnapshot from the leader it names within the
 * staleness bound, by the network's own record (sim_node.heard_ms), not the
 * driver's; every batch served lies below the serving replica's high
 * watermark and at or below the highest commit index any replica reached
 * (the cluster's committed prefix), and is byte-identical to the committed
 * entry (check.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "tests/sim/sim.h"

/* Batches one fetch returns at most. */
#define READ_BATCHES_MAX 4

static const char *const region_names[SIM_REGIONS] = {"a", "b", "c"};

/* ---- Setup ------------------------------------------------------------------- */

static void topo_build(struct sim *s, struct sim_broker *b)
{
	struct pl_broker br[SIM_BROKERS_MAX];
	for (unsigned i = 1; i <= s->cfg.n_brokers; i++) {
		struct sim_broker *o = &s->brokers[i];
		br[i - 1] = (struct pl_broker){(int32_t)i, o->region_name, o->rack, o == b};
	}
	char err[PL_ERRMSG_BYTES];
	pl_topology_free(b->topo);
	b->topo = NULL;
	if (pl_topology_new(br, (int)s->cfg.n_brokers, &b->topo, err, sizeof(err)) != 0) {
		sim_fail(s, "topology of broker %u: %s", b->id, err);
	}
	for (unsigned i = 0; i <= SIM_BROKERS_MAX; i++) {
		b->alive_since_ms[i] = PL_TIME_NEVER;
	}
}

/* Regions: the region-fail scenario puts brokers round-robin over a, b, c
 * (so a and b hold as many as c or more); otherwise each broker draws one.
 * Racks are named after their region, one per broker. */
void sim_loc_setup_brokers(struct sim *s)
{
	unsigned in_region[SIM_REGIONS] = {0};
	for (unsigned i = 1; i <= s->cfg.n_brokers; i++) {
		struct sim_broker *b = &s->brokers[i];
		b->region = s->cfg.scenario == SIM_SCENARIO_REGION_FAIL
				? (i - 1) % SIM_REGIONS
				: (unsigned)sim_rng_below(&s->rng, SIM_REGIONS);
		snprintf(b->region_name, sizeof(b->region_name), "%s", region_names[b->region]);
		snprintf(b->rack, sizeof(b->rack), "%s-%u", region_names[b->region],
			 ++in_region[b->region]);
	}
	pl_config_init(&s->pcfg);
	s->pcfg.transfer_contact_age_max_ms = 2 * (int64_t)s->cfg.election_ms;
	s->pcfg.election_timeout_step_ms = s->cfg.election_ms / 2;
	s->pcfg.transfer_healthy_min_ms = (int64_t)sim_rng_range(&s->rng, 500, 3000);
	s->pcfg.transfer_cool_down_ms = (int64_t)sim_rng_range(&s->rng, 2000, 10000);
	char err[PL_ERRMSG_BYTES];
	if (pl_config_validate(&s->pcfg, err, sizeof(err)) != 0) {
		sim_fail(s, "pinning config: %s", err);
	}
	for (unsigned i = 1; i <= s->cfg.n_brokers; i++) {
		struct sim_broker *b = &s->brokers[i];
		topo_build(s, b);
		b->loc_due = sim_rng_range(&s->rng, 1, SIM_LOC_TICK_MS);
	}
}

bool sim_scenario_parse(const char *name, enum sim_scenario *out)
{
	for (int i = 0; i < SIM_SCENARIOS; i++) {
		if (strcmp(name, sim_scenario_name((enum sim_scenario)i)) == 0) {
			*out = (enum sim_scenario)i;
			return true;
		}
	}
	return false;
}

const char *sim_scenario_name(enum sim_scenario sc)
{
	switch (sc) {
	case SIM_SCENARIO_CHAOS:
		return "chaos";
	case SIM_SCENARIO_REGION_FAIL:
		return "region-fail";
	case SIM_SCENARIO_FOLLOWER_CUT:
		return "follower-cut";
	default:
		return "draw";
	}
}

bool sim_loc_assign(struct sim *s, unsigned rows[SIM_GROUPS_MAX][SIM_RF_MAX])
{
	struct pl_broker br[SIM_BROKERS_MAX];
	for (unsigned i = 1; i <= s->cfg.n_brokers; i++) {
		struct sim_broker *b = &s->brokers[i];
		br[i - 1] = (struct pl_broker){(int32_t)i, b->region_name, b->rack, true};
	}
	struct pl_topology *t = NULL;
	struct pl_preference pref;
	struct pl_assignment a;
	SL_ASSERT(pl_preference_parse("regions:a,b,c", &pref, NULL, 0) == 0);
	if (pl_topology_new(br, (int)s->cfg.n_brokers, &t, NULL, 0) != 0) {
		sim_fail(s, "assignment topology refused");
	}
	struct pl_assign_req req = {
	    .topology = t,
	    .preference = &pref,
	    .partitions = (int32_t)s->cfg.n_groups,
	    .replication_factor = (int)s->cfg.rf,
	    .seed = s->seed,
	};
	int rv = pl_assign(&req, &a);
	pl_topology_free(t);
	if (rv != 0) {
		sim_fail(s, "pl_assign: %s: %s", pl_strerror(rv), a.detail);
	}
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		for (unsigned i = 0; i < s->cfg.rf; i++) {
			rows[k][i] = (unsigned)a.replicas[k * s->cfg.rf + i];
		}
	}
	pl_assignment_free(&a);
	return true;
}

/* A random leaders.preference over the run's regions and racks. */
static void draw_preference(struct sim *s, struct pl_preference *pref)
{
	char v[64] = "none";
	unsigned x = (unsigned)sim_rng_below(&s->rng, 4);
	if (x == 1 || x == 2) {
		unsigned order[SIM_REGIONS] = {0, 1, 2};
		for (unsigned i = SIM_REGIONS - 1; i > 0; i--) {
			unsigned j = (unsigned)sim_rng_below(&s->rng, i + 1);
			unsigned t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		unsigned n = (unsigned)sim_rng_range(&s->rng, 1, SIM_REGIONS);
		int len = snprintf(v, sizeof(v), "regions:");
		for (unsigned i = 0; i < n; i++) {
			len += snprintf(v + len, sizeof(v) - (size_t)len, "%s%s", i ? "," : "",
					region_names[order[i]]);
		}
	} else if (x == 3) {
		struct sim_broker *b = &s->brokers[sim_rng_range(&s->rng, 1, s->cfg.n_brokers)];
		snprintf(v, sizeof(v), "racks:%s", b->rack);
	}
	char err[PL_ERRMSG_BYTES];
	if (pl_preference_parse(v, pref, err, sizeof(err)) != 0) {
		sim_fail(s, "preference '%s': %s", v, err);
	}
}

/* Topic settings per group; the region-fail scenario pins every group to
 * regions:a,b,c and places voters with pl_assign() (one per region). */
void sim_loc_setup_groups(struct sim *s)
{
	static const int64_t bounds[] = {-1, 0, 100, 500, 1000, 3000};
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		struct sim_group *grp = &s->groups[k];
		if (s->cfg.scenario == SIM_SCENARIO_REGION_FAIL) {
			SL_ASSERT(pl_preference_parse("regions:a,b,c", &grp->pref, NULL, 0) == 0);
		} else {
			draw_preference(s, &grp->pref);
		}
		grp->max_staleness_ms = s->cfg.scenario == SIM_SCENARIO_CHAOS
					    ? bounds[sim_rng_below(&s->rng, SL_ARRAY_LEN(bounds))]
					    : (int64_t)sim_rng_range(&s->rng, 200, 3000);
	}
}

void sim_loc_setup_consumers(struct sim *s)
{
	s->n_consumers = SL_MIN(2 * s->cfg.n_groups, SIM_CONSUMERS_MAX);
	for (unsigned i = 0; i < s->n_consumers; i++) {
		struct sim_consumer *c = &s->consumers[i];
		c->group = &s->groups[i % s->cfg.n_groups];
		c->home = c->group->nodes[sim_rng_below(&s->rng, c->group->n_replicas)].broker->id;
		c->gap_ms = (unsigned)sim_rng_range(&s->rng, 20, 300);
		c->next_ms = sim_rng_range(&s->rng, 1, c->gap_ms);
	}
}

/* The group's voters (its Raft configuration), as the broker reads them
 * from rl_group_progress(). Returns how many. */
static int group_voters(const struct sim_node *n, int32_t *out)
{
	struct rl_group_progress pr[2 * SIM_RF_MAX];
	unsigned m = rl_group_progress(n->g, pr, SL_ARRAY_LEN(pr));
	int k = 0;
	for (unsigned i = 0; i < m && i < SL_ARRAY_LEN(pr); i++) {
		if (pr[i].role == RAFT_VOTER) {
			out[k++] = (int32_t)pr[i].id;
		}
	}
	return k;
}

static void refresh_liveness(struct sim *s, struct sim_broker *b);

/* The broker's rank_timeout_ms(): the live-rank timeout on the broker's own
 * view, 0 when placement gives none (the group keeps its base). */
static unsigned replica_timeout_ms(struct sim *s, const struct sim_node *n, const int32_t *voters,
				   int n_voters)
{
	return (unsigned)pl_election_timeout_replica_ms(
	    &n->group->pref, n->broker->topo, (int32_t)n->broker->id, voters, n_voters,
	    s->cfg.election_ms, s->pcfg.election_timeout_step_ms, SIM_ELECTION_MS_MAX);
}

unsigned sim_loc_election_ms(struct sim *s, const struct sim_node *n)
{
	if (!s->cfg.pinning) {
		return s->cfg.election_ms;
	}
	/* As sd_loc_election_timeout_ms(): the topology's liveness refreshed
	 * (a broker opens its partitions once it has replayed the controller
	 * log, so its connections are up by then), the live rank among the
	 * assigned voters. */
	int32_t voters[SIM_RF_MAX];
	for (unsigned i = 0; i < n->group->n_replicas; i++) {
		voters[i] = (int32_t)n->group->nodes[i].broker->id;
	}
	refresh_liveness(s, n->broker);
	unsigned t = replica_timeout_ms(s, n, voters, (int)n->group->n_replicas);
	return t != 0 ? t : s->cfg.election_ms;
}

void sim_loc_node_opened(struct sim *s, struct sim_node *n)
{
	(void)s;
	pl_pin_init(&n->pin); /* the broker's state does not survive a restart */
}

void sim_loc_broker_started(struct sim *s, struct sim_broker *b)
{
	for (unsigned i = 0; i <= SIM_BROKERS_MAX; i++) {
		b->alive_since_ms[i] = PL_TIME_NEVER;
	}
	for (unsigned i = 1; i <= s->cfg.n_brokers; i++) {
		(void)pl_topology_set_alive(b->topo, (int32_t)i, i == b->id);
	}
}

void sim_loc_heard(struct sim *s, struct sim_node *n, unsigned from,
		   const struct raft_message *msg)
{
	if (from <= SIM_BROKERS_MAX &&
	    (msg->type == RAFT_APPEND_ENTRIES || msg->type == RAFT_INSTALL_SNAPSHOT)) {
		n->heard_ms[from] = s->now;
	}
}

void sim_loc_free(struct sim *s)
{
	for (unsigned i = 1; i <= SIM_BROKERS_MAX; i++) {
		pl_topology_free(s->brokers[i].topo);
		s->brokers[i].topo = NULL;
	}
}

/* ---- Liveness and pinning ----------------------------------------------------- */

/* Broker b's view: a peer is alive while up and reachable both ways. */
static void refresh_liveness(struct sim *s, struct sim_broker *b)
{
	for (unsigned i = 1; i <= s->cfg.n_brokers; i++) {
		struct sim_broker *o = &s->brokers[i];
		bool alive = o == b || (o->up && !o->frozen && simnet_link_ok(s->net, b->id, i) &&
					simnet_link_ok(s->net, i, b->id));
		if (!alive) {
			b->alive_since_ms[i] = PL_TIME_NEVER;
		} else if (b->alive_since_ms[i] == PL_TIME_NEVER) {
			b->alive_since_ms[i] = (int64_t)s->now;
		}
		(void)pl_topology_set_alive(b->topo, (int32_t)i, alive);
	}
}

static enum pl_role pin_role(int role)
{
	return role == RAFT_LEADER	  ? PL_ROLE_LEADER
	       : role == RAFT_CANDIDATE ? PL_ROLE_CANDIDATE
	       : role == RAFT_FOLLOWER	  ? PL_ROLE_FOLLOWER
					  : PL_ROLE_UNKNOWN;
}

static void note_role(struct sim *s, struct sim_node *n, const struct rl_group_status *st)
{
	int64_t now = (int64_t)s->now;
	if (st->role == RAFT_CANDIDATE && n->campaigned_ms == 0) {
		n->campaigned_ms = s->now; /* for scenario.c; the broker keeps no such note */
	}
	int64_t age = st->last_leader_contact_ms > 0 ? now - (int64_t)st->last_leader_contact_ms
						      : -1;
	(void)pl_pin_note_role(&n->pin, pin_role(st->role), st->term, age, s->cfg.election_ms,
			       &s->pcfg, now);
}

/* The broker's eval_part(): pinning for one replica, and the transfer. */
static void evaluate(struct sim *s, struct sim_node *n)
{
	struct rl_group_status st;
	rl_group_get_status(n->g, &st);
	note_role(s, n, &st);
	struct pl_pin_voter v[PL_VOTERS_MAX];
	int k = 0;
	if (st.role == RAFT_LEADER && !st.failed) {
		struct rl_group_progress pr[2 * SIM_RF_MAX];
		unsigned np = rl_group_progress(n->g, pr, SL_ARRAY_LEN(pr));
		for (unsigned i = 0; i < np && i < SL_ARRAY_LEN(pr) && k < PL_VOTERS_MAX; i++) {
			if (pr[i].role != RAFT_VOTER) {
				continue;
			}
			int64_t age = pr[i].last_contact_ms > 0
					  ? (int64_t)s->now - (int64_t)pr[i].last_contact_ms
					  : -1;
			v[k++] = (struct pl_pin_voter){(int32_t)pr[i].id, pr[i].match_index,
						       age < -1 ? 0 : age,
						       n->broker->alive_since_ms[pr[i].id]};
		}
	}
	struct pl_pin_input in = {
	    .topology = n->broker->topo,
	    .preference = &n->group->pref,
	    .config = &s->pcfg,
	    .self_id = (int32_t)n->broker->id,
	    .last_index = st.last_index,
	    .failed = st.failed,
	    .voters = v,
	    .n_voters = k,
	    .now_ms = (int64_t)s->now,
	};
	if (!pl_pin_evaluate(&n->pin, &in) || n->pin.decision.action != PL_LEADER_TRANSFER ||
	    st.transferring) {
		return;
	}
	const struct pl_leader_decision *d = &n->pin.decision;
	int rv = rl_group_transfer(n->g, (uint64_t)d->target_id, s->now);
	s->stats.pin_transfers += rv == 0;
	sim_trace(s, "group %llu: pinning transfer %u -> %d (rank %d -> %d): %s",
		  (unsigned long long)n->group->id, n->broker->id, d->target_id, d->leader_rank,
		  d->target_rank, rl_err_name(rv));
}

/* The broker's leader_lost(): a follower whose leader's broker this
 * broker holds dead (no connection, see the header) and that is alone in
 * the best live place campaigns as soon as the survivors' vote guard
 * opens, one heartbeat interval of margin. */
static void leader_lost(struct sim *s, struct sim_node *n, const int32_t *voters, int n_voters)
{
	struct rl_group_status st;
	rl_group_get_status(n->g, &st);
	int32_t leader = st.leader_id <= INT32_MAX ? (int32_t)st.leader_id : PL_NO_BROKER;
	if (!pl_election_leader_lost(&n->group->pref, n->broker->topo, (int32_t)n->broker->id,
				     pin_role(st.role), leader, voters, n_voters) ||
	    rl_group_leader_lost(n->g, s->cfg.heartbeat_ms) != 0) {
		return;
	}
	if (n->early_term != st.term) {
		n->early_term = st.term;
		s->stats.early_elections++;
		sim_trace(s, "group %llu: broker %u lost leader %d, campaigns early",
			  (unsigned long long)n->group->id, n->broker->id, leader);
	}
}

/* The broker's rerank(), every tick after pinning: the early election,
 * then the live-rank timeout (the group ignores an unchanged one). */
static void rerank(struct sim *s, struct sim_node *n)
{
	int32_t voters[2 * SIM_RF_MAX];
	int k = group_voters(n, voters);
	leader_lost(s, n, voters, k);
	unsigned t = replica_timeout_ms(s, n, voters, k);
	if (t == 0 || t == rl_group_election_timeout(n->g)) {
		return;
	}
	int rv = rl_group_set_election_timeout(n->g, t);
	if (rv != 0) {
		sim_fail(s, "broker %u group %llu: re-rank to %u ms refused: %s", n->broker->id,
			 (unsigned long long)n->group->id, t, rl_err_name(rv));
	}
	s->stats.reranks++;
	sim_trace(s, "group %llu: broker %u election timeout %u ms",
		  (unsigned long long)n->group->id, n->broker->id, t);
}

static bool node_live(const struct sim_node *n)
{
	return n->open && n->broker->up && !n->broker->frozen;
}

void sim_loc_step(struct sim *s)
{
	if (!s->cfg.pinning) {
		return;
	}
	for (unsigned i = 1; i <= s->cfg.n_brokers; i++) {
		if (s->brokers[i].up) {
			refresh_liveness(s, &s->brokers[i]);
		}
	}
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		struct sim_group *grp = &s->groups[k];
		for (unsigned i = 0; i < grp->n_replicas; i++) {
			struct sim_node *n = &grp->nodes[i];
			if (!node_live(n)) {
				continue;
			}
			struct rl_group_status st;
			rl_group_get_status(n->g, &st);
			note_role(s, n, &st);
			if (st.role == RAFT_LEADER && pl_pin_eval_due(&n->pin, (int64_t)s->now)) {
				evaluate(s, n);
			}
		}
	}
}

void sim_loc_tick(struct sim *s, struct sim_broker *b)
{
	b->loc_due = s->now + SIM_LOC_TICK_MS;
	if (!s->cfg.pinning || !b->up || b->frozen) {
		return;
	}
	refresh_liveness(s, b);
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		struct sim_node *n = b->nodes[k];
		if (n != NULL && node_live(n)) {
			evaluate(s, n);
			rerank(s, n);
		}
	}
}

unsigned sim_region_of_leader(struct sim *s, struct sim_group *grp)
{
	struct sim_node *l = sim_leader(s, grp);
	return l != NULL ? l->broker->region : SIM_REGIONS;
}

/* ---- Consumers ------------------------------------------------------------------ */

uint64_t sim_loc_next_read(const struct sim *s, struct sim_consumer **c)
{
	uint64_t best = SIM_NEVER;
	*c = NULL;
	for (unsigned i = 0; i < s->n_consumers; i++) {
		if (s->consumers[i].next_ms < best) {
			best = s->consumers[i].next_ms;
			*c = (struct sim_consumer *)&s->consumers[i];
		}
	}
	return best;
}

static struct sim_node *node_on(struct sim_group *grp, unsigned broker)
{
	for (unsigned i = 0; i < grp->n_replicas; i++) {
		if (grp->nodes[i].broker->id == broker) {
			return &grp->nodes[i];
		}
	}
	return NULL;
}

/* Serves the consumer from n below hwm: up to READ_BATCHES_MAX batches,
 * each checked against the committed registry. */
static void serve(struct sim *s, struct sim_consumer *c, struct sim_node *n, int64_t start,
		  int64_t hwm)
{
	if (c->offset < start) {
		c->offset = start; /* OFFSET_OUT_OF_RANGE: the client resets */
		return;
	}
	sim_check_node(s, n); /* register what it holds and its commit */
	for (unsigned i = 0; i < READ_BATCHES_MAX && c->offset < hwm; i++) {
		uint64_t idx;
		if (rl_offset_to_index(n->log, c->offset, &idx) != 0) {
			sim_fail(s, "broker %u group %llu: offset %lld below its high watermark %lld "
				    "is not in its log",
				 n->broker->id, (unsigned long long)n->group->id, (long long)c->offset,
				 (long long)hwm);
		}
		struct rl_entry_info e;
		sim_read_entry(s, n, idx, &e);
		sim_check_consumed(s, n, idx, &e, hwm);
		s->stats.batches_read++;
		c->offset = e.last_offset + 1;
	}
}

/* The staleness rule, checked against the network: a follower that
 * answered a read heard from the leader it names within the bound. */
static void check_follower_answer(struct sim *s, struct sim_node *n,
				  const struct rl_group_status *st, int64_t bound)
{
	uint64_t heard = st->leader_id >= 1 && st->leader_id <= SIM_BROKERS_MAX
			     ? n->heard_ms[st->leader_id]
			     : 0;
	if (st->role != RAFT_FOLLOWER || heard == 0 || bound < 0 ||
	    s->now - heard > (uint64_t)bound) {
		sim_fail(s,
			 "broker %u group %llu answered a follower read (role %d, leader %llu) "
			 "but last heard from that leader %s%llu ms ago; bound %lld ms",
			 n->broker->id, (unsigned long long)n->group->id, st->role,
			 (unsigned long long)st->leader_id, heard == 0 ? "never, " : "",
			 (unsigned long long)(heard == 0 ? 0 : s->now - heard), (long long)bound);
	}
}

/* Reads from home as a follower. Returns true if answered there (served or
 * held), false if the consumer must go to the leader. */
static bool read_follower(struct sim *s, struct sim_consumer *c, struct sim_node *n,
			  const struct rl_group_status *st)
{
	struct pl_follower_view v = {
	    .follower_with_leader = st->role == RAFT_FOLLOWER && st->leader_id != 0,
	    .last_leader_contact_ms = (int64_t)st->last_leader_contact_ms,
	    .log_start_offset = st->start_offset,
	    .high_watermark = st->hwm,
	};
	int64_t bound = c->group->max_staleness_ms;
	enum pl_follower_fetch d = pl_follower_read_decide(&v, (int64_t)s->now, bound, c->offset);
	if (d == PL_FOLLOWER_REFUSE_STALE) {
		c->refused_ms = s->now;
		if (c->first_refused_ms == 0) {
			c->first_refused_ms = s->now;
		}
		s->stats.stale_refusals++;
		return false;
	}
	check_follower_answer(s, n, st, bound);
	c->accepted_ms = s->now;
	s->stats.follower_reads++;
	if (d == PL_FOLLOWER_SERVE || d == PL_FOLLOWER_OUT_OF_RANGE) {
		serve(s, c, n, st->start_offset, st->hwm);
	}
	return true;
}

void sim_loc_read(struct sim *s, struct sim_consumer *c)
{
	c->next_ms = s->now + c->gap_ms;
	s->stats.reads++;
	struct sim_node *n = node_on(c->group, c->home);
	if (n != NULL && node_live(n)) {
		struct rl_group_status st;
		rl_group_get_status(n->g, &st);
		if (st.role != RAFT_LEADER && read_follower(s, c, n, &st)) {
			return;
		}
	}
	struct sim_node *l = sim_leader(s, c->group);
	if (l == NULL || !node_live(l)) {
		return; /* no leader: the client retries */
	}
	struct rl_group_status ls;
	rl_group_get_status(l->g, &ls);
	serve(s, c, l, ls.start_offset, ls.hwm);
}
