/* Locality glue of stretchlogd: topology and liveness, leader pinning,
 * election-timeout ranks, KIP-392 replica selection, follower-read checks
 * and prompt commit notices (policy itself lives in placement/).
 *
 * Happy path: every SD_LOC_TICK_MS a timer refreshes the topology (rebuilt
 * when the controller's broker set changes; a broker is alive while this
 * broker holds a transport connection to it, itself always) and walks the
 * hosted partitions. For each partition led here it hands the group's
 * role, term and Raft progress to the partition's pinning state machine
 * (placement's struct pl_pin: healthy streaks, cool-down, then
 * pl_leader_decide()) and, on PL_LEADER_TRANSFER, starts rl_group_transfer()
 * towards the preferred voter (raftlog holds submits until the target has
 * caught up). Leadership changes are noted as they happen (hwm and role
 * events reach us through sd_kh_fetch_wake()), so the cool-down counts from
 * the last change seen here. Follower reads follow placement's
 * pl_follower_read_decide(). The simulator (tests/sim) runs the same pure
 * pieces on every simulated broker.
 *
 * Election-timeout ranks. Every hosted replica, leader or not, gets
 * raft.election.timeout.ms + live rank * leaders.election.timeout.step.ms,
 * the live rank counting only the better-ranked places that still have a
 * live voter of the partition (pl_election_timeout_live_ms()). It is
 * computed when the partition opens and again on every tick, so an
 * AlterConfigs of leaders.preference, a new broker, or a voter going down
 * or coming back re-ranks running groups (rl_group_set_election_timeout(),
 * which ignores unchanged values). When the preferred region dies, the
 * next preferred one thus times out after the base timeout, first, and
 * the groups' vote guard lets it win at once.
 *
 * Commit notices. libraft 0.22.1 tells followers a new commit index only in
 * its next AppendEntries: with the next entries, or the next heartbeat
 * (raft.heartbeat.interval.ms later) when the log is idle; it has no event
 * that sends one early. So when the leader's commit index moves, a check
 * handle (run once per loop iteration, after I/O) sends each follower that
 * already holds the leader's whole log an empty AppendEntries with
 * prev = the leader's last index and leader_commit = the commit index,
 * exactly what libraft's own heartbeat to that follower would carry. Its
 * safety rests on Log Matching and on sending only when match == last index:
 * then no entries are in flight to that follower, its commit index is at
 * most the last index, so min(commit, prev) never moves it backwards, and
 * the reply updates nothing on the leader but its contact time. A follower
 * still missing entries learns the commit from the AppendEntries that
 * brings them, or from a notice once its acknowledgement arrives.
 *
 * Failure modes: a topology that placement refuses (two regions claiming
 * one rack) is logged and the previous one kept; a transfer that cannot
 * start (one already running, target not a voter) is retried next tick; a
 * notice that cannot be queued is dropped (libraft's heartbeat carries the
 * commit index a heartbeat interval later). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/broker.h"
#include "server/json.h"

/* Partitions whose state a broker tracks are indexed by group id below
 * this bound (the leader table's bound too). */
#define LOC_GROUP_ID_MAX (1ull << 24)
/* Progress entries read from a group: voters plus learners during a move. */
#define LOC_PROGRESS_MAX (SD_CTL_REPLICAS_MAX * 2)
/* Ignore visibility samples outside [0, this] (producer clocks). */
#define LOC_VISIBILITY_MAX_MS (3600 * 1000)
/* Largest rank election timeout handed to a group (an hour). */
#define LOC_ELECTION_TIMEOUT_MAX_MS (3600 * 1000)

/* What the broker remembers about one replica of a partition for commit
 * notices. */
struct loc_peer {
	int32_t id;
	uint64_t notified_commit; /* last commit index sent in a notice */
};

/* Per-partition state, kept across ticks. */
struct loc_part {
	uint64_t group_id;
	struct pl_pin pin;  /* pinning state (placement/pin.c) */
	bool eval_pending;  /* evaluate pinning from the check handle */
	bool settings_ok;
	struct pl_preference pref;
	int64_t max_staleness_ms;
	int n_peers;
	struct loc_peer peers[LOC_PROGRESS_MAX];
	bool notice_pending;
	int64_t notice_since_ms;
	struct loc_part *next_pending;
	int64_t visible_hwm; /* hwm at the last visibility sample */
	bool seen;	     /* visited by the current tick */
};

/* Since when this broker has seen another one alive (connected). */
struct loc_alive {
	int32_t id;
	int64_t since_ms; /* PL_TIME_NEVER while not alive */
};

struct sd_locality {
	struct sd_broker *b;
	struct loc_alive *alive;
	int n_alive;
	uv_timer_t timer;
	uv_check_t check;
	bool started, stopping, check_active;
	struct pl_topology *topo;
	uint64_t topo_digest;
	bool topo_warned;
	struct pl_config pcfg;
	int64_t election_base_ms;
	int64_t heartbeat_ms;
	struct loc_part **parts; /* indexed by group id */
	uint64_t cap;
	struct loc_part *pending; /* partitions with commit notices to send */
	uint64_t transfers, notices;
};

static struct sd_locality g_loc;

static struct sd_locality *loc_of(struct sd_broker *b)
{
	g_loc.b = b;
	return &g_loc;
}

static int64_t now_ms(const struct sd_locality *L)
{
	return (int64_t)uv_now(L->b->loop);
}

/* ---- Pure helpers -------------------------------------------------------- */

const char *sd_loc_where_str(enum sd_loc_where w)
{
	switch (w) {
	case SD_LOC_SAME_RACK:
		return "same_rack";
	case SD_LOC_SAME_REGION:
		return "same_region";
	case SD_LOC_CROSS_REGION:
		return "cross_region";
	default:
		return "unknown";
	}
}

enum sd_loc_where sd_loc__classify(const struct pl_topology *t, const char *my_region,
				   const char *my_rack, const char *client_rack)
{
	if (t == NULL || client_rack == NULL || client_rack[0] == '\0') {
		return SD_LOC_UNKNOWN;
	}
	struct pl_locality loc;
	pl_topology_locate(t, client_rack, &loc);
	if (loc.level == PL_LOCALITY_NONE || loc.region == NULL) {
		return SD_LOC_UNKNOWN;
	}
	if (loc.level == PL_LOCALITY_RACK && my_rack != NULL && strcmp(loc.rack, my_rack) == 0) {
		return SD_LOC_SAME_RACK;
	}
	if (my_region != NULL && strcmp(loc.region, my_region) == 0) {
		return SD_LOC_SAME_REGION;
	}
	return SD_LOC_CROSS_REGION;
}

int sd_loc__brokers_from_state(const struct sd_ctl_state *s, struct pl_broker *out, int cap)
{
	int32_t n = sd_ctl_state_broker_count(s);
	if (n > cap) {
		return -1;
	}
	for (int32_t i = 0; i < n; i++) {
		const struct sd_ctl_broker *br = sd_ctl_state_broker_at(s, i);
		out[i] = (struct pl_broker){br->id, br->region, br->rack, true};
	}
	return (int)n;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *c = p;
	for (size_t i = 0; i < n; i++) {
		h = (h ^ c[i]) * 1099511628211ull;
	}
	return h;
}

uint64_t sd_loc__brokers_digest(const struct sd_ctl_state *s)
{
	uint64_t h = 14695981039346656037ull;
	int32_t n = sd_ctl_state_broker_count(s);
	h = fnv(h, &n, sizeof(n));
	for (int32_t i = 0; i < n; i++) {
		const struct sd_ctl_broker *br = sd_ctl_state_broker_at(s, i);
		h = fnv(h, &br->id, sizeof(br->id));
		h = fnv(h, br->region, strlen(br->region) + 1);
		h = fnv(h, br->rack, strlen(br->rack) + 1);
	}
	return h;
}

bool sd_loc__notice_due(uint64_t match_index, uint64_t last_index, uint64_t commit_index,
			uint64_t notified_commit)
{
	return match_index == last_index && commit_index <= last_index &&
	       commit_index > notified_commit && commit_index > 0;
}

/* ---- Topology ------------------------------------------------------------- */

static bool connected(const struct sd_locality *L, int32_t id)
{
	struct sl_transport_peer_info pi;
	return id == L->b->id ||
	       (id >= 0 && sl_transport_peer_info(&L->b->transport, (uint64_t)id, &pi) == 0 &&
		pi.connected);
}

/* Since when broker id has been seen alive, or PL_TIME_NEVER. */
static int64_t alive_since(const struct sd_locality *L, int32_t id)
{
	for (int i = 0; i < L->n_alive; i++) {
		if (L->alive[i].id == id) {
			return L->alive[i].since_ms;
		}
	}
	return PL_TIME_NEVER;
}

/* Marks every broker alive or dead and keeps the start of its current
 * alive streak (alive[] follows the topology's order). */
static void topo_liveness(struct sd_locality *L)
{
	int n = pl_topology_broker_count(L->topo);
	int64_t now = now_ms(L);
	if (n != L->n_alive) {
		struct loc_alive *v = sl_calloc((size_t)n + 1, sizeof(*v));
		if (v == NULL) {
			return;
		}
		for (int i = 0; i < n; i++) {
			struct pl_broker br;
			pl_topology_broker_at(L->topo, i, &br);
			v[i] = (struct loc_alive){br.id, alive_since(L, br.id)};
		}
		sl_free(L->alive);
		L->alive = v;
		L->n_alive = n;
	}
	for (int i = 0; i < n; i++) {
		struct pl_broker br;
		pl_topology_broker_at(L->topo, i, &br);
		bool alive = connected(L, br.id);
		struct loc_alive *a = &L->alive[i];
		if (a->id != br.id) {
			*a = (struct loc_alive){br.id, PL_TIME_NEVER};
		}
		if (!alive) {
			a->since_ms = PL_TIME_NEVER;
		} else if (a->since_ms == PL_TIME_NEVER) {
			a->since_ms = now;
		}
		(void)pl_topology_set_alive(L->topo, br.id, alive);
	}
}

/* Rebuilds the topology when the registered brokers changed, then
 * refreshes liveness. */
static void topo_refresh(struct sd_locality *L)
{
	const struct sd_ctl_state *s = sd_controller_state(L->b);
	uint64_t digest = s != NULL ? sd_loc__brokers_digest(s) : 0;
	if (L->topo == NULL || digest != L->topo_digest) {
		int32_t n = s != NULL ? sd_ctl_state_broker_count(s) : 0;
		struct pl_broker *v = sl_calloc((size_t)n + 1, sizeof(*v));
		struct pl_topology *t = NULL;
		char err[PL_ERRMSG_BYTES] = "";
		int m = v != NULL && s != NULL ? sd_loc__brokers_from_state(s, v, n) : 0;
		int rv = v != NULL ? pl_topology_new(v, m < 0 ? 0 : m, &t, err, sizeof(err))
				   : PL_ERR_NOMEM;
		sl_free(v);
		if (rv == 0) {
			pl_topology_free(L->topo);
			L->topo = t;
			L->topo_digest = digest;
			L->topo_warned = false;
			SL_LOG(SL_LOG_INFO,
			       "broker=%d event=topology brokers=%d regions=%d racks=%d", L->b->id,
			       pl_topology_broker_count(t), pl_topology_region_count(t),
			       pl_topology_rack_count(t));
		} else if (!L->topo_warned) {
			L->topo_warned = true;
			SL_LOG(SL_LOG_WARN, "broker=%d event=topology_refused err=%s msg=\"%s\"",
			       L->b->id, pl_err_name(rv), err);
		}
		if (L->topo == NULL && pl_topology_new(NULL, 0, &L->topo, NULL, 0) != 0) {
			return;
		}
	}
	topo_liveness(L);
}

const struct pl_topology *sd_loc_topology(struct sd_broker *b)
{
	struct sd_locality *L = loc_of(b);
	if (L->topo == NULL) {
		topo_refresh(L);
	}
	SL_ASSERT(L->topo != NULL);
	return L->topo;
}

/* ---- Per-partition state ---------------------------------------------------- */

static struct loc_part *part_get(struct sd_locality *L, uint64_t group_id, bool create)
{
	if (group_id < L->cap && L->parts[group_id] != NULL) {
		return L->parts[group_id];
	}
	if (!create || group_id >= LOC_GROUP_ID_MAX) {
		return NULL;
	}
	if (group_id >= L->cap) {
		uint64_t cap = L->cap ? L->cap : 256;
		while (cap <= group_id) {
			cap *= 2;
		}
		struct loc_part **v = sl_realloc(L->parts, cap * sizeof(*v));
		if (v == NULL) {
			return NULL;
		}
		memset(v + L->cap, 0, (cap - L->cap) * sizeof(*v));
		L->parts = v;
		L->cap = cap;
	}
	struct loc_part *lp = sl_calloc(1, sizeof(*lp));
	if (lp == NULL) {
		return NULL;
	}
	lp->group_id = group_id;
	pl_pin_init(&lp->pin);
	lp->visible_hwm = -1;
	L->parts[group_id] = lp;
	return lp;
}

static struct loc_peer *peer_get(struct loc_part *lp, int32_t id)
{
	for (int i = 0; i < lp->n_peers; i++) {
		if (lp->peers[i].id == id) {
			return &lp->peers[i];
		}
	}
	if (lp->n_peers >= LOC_PROGRESS_MAX) {
		return NULL;
	}
	struct loc_peer *p = &lp->peers[lp->n_peers++];
	*p = (struct loc_peer){id, 0};
	return p;
}

void sd_loc_topic_settings(struct sd_broker *b, const char *topic, struct pl_preference *pref,
			   int64_t *max_staleness_ms)
{
	const struct sd_ctl_topic *t = sd_ctl_state_topic_find(sd_controller_state(b), topic);
	struct sd_config_kv kv[2];
	int n = 0;
	static const char *const keys[2] = {"leaders.preference", "follower.read.max.staleness.ms"};
	for (int i = 0; i < 2 && t != NULL; i++) {
		const char *v = sd_ctl_topic_config(t, keys[i]);
		if (v != NULL) {
			kv[n++] = (struct sd_config_kv){keys[i], v};
		}
	}
	struct sd_topic_config tc;
	char msg[256];
	if (sd_topic_config_resolve(b->cfg, kv, n, &tc, msg, sizeof(msg)) != 0 &&
	    sd_topic_config_resolve(b->cfg, NULL, 0, &tc, msg, sizeof(msg)) != 0) {
		memset(&tc, 0, sizeof(tc));
		tc.follower_read_max_staleness_ms = -1;
	}
	*pref = tc.leaders_preference;
	*max_staleness_ms = tc.follower_read_max_staleness_ms;
}

static void part_settings(struct sd_locality *L, struct loc_part *lp, const struct sd_partition *sp,
			  bool refresh)
{
	if (!lp->settings_ok || refresh) {
		sd_loc_topic_settings(L->b, sp->topic, &lp->pref, &lp->max_staleness_ms);
		lp->settings_ok = true;
	}
}

/* The pinning role of a libraft role. */
static enum pl_role pin_role(int role)
{
	switch (role) {
	case RAFT_FOLLOWER:
		return PL_ROLE_FOLLOWER;
	case RAFT_CANDIDATE:
		return PL_ROLE_CANDIDATE;
	case RAFT_LEADER:
		return PL_ROLE_LEADER;
	default:
		return PL_ROLE_UNKNOWN;
	}
}

/* Notes the group's role and term in the pinning state (a leadership
 * change starts the cool-down: see pl_pin_note_role()); a change also
 * forgets which commit indexes were sent in notices. */
static void note_role(struct sd_locality *L, struct loc_part *lp, const struct rl_group_status *st,
		      int64_t now)
{
	int64_t age =
	    st->last_leader_contact_ms > 0 ? now - (int64_t)st->last_leader_contact_ms : -1;
	if (!pl_pin_note_role(&lp->pin, pin_role(st->role), st->term, age, L->election_base_ms,
			      &L->pcfg, now)) {
		return;
	}
	for (int i = 0; i < lp->n_peers; i++) {
		lp->peers[i].notified_commit = 0;
	}
}

/* The election timeout of this broker's replica among voters under pref
 * (pl_election_timeout_replica_ms() over the current topology and
 * liveness), or 0 when the topology does not know this broker yet (the
 * template's base applies then). */
static unsigned rank_timeout_ms(struct sd_locality *L, const struct pl_preference *pref,
				const int32_t *voters, int n_voters)
{
	return (unsigned)pl_election_timeout_replica_ms(pref, L->topo, L->b->id, voters, n_voters,
							 L->election_base_ms,
							 L->pcfg.election_timeout_step_ms,
							 LOC_ELECTION_TIMEOUT_MAX_MS);
}

unsigned sd_loc_election_timeout_ms(struct sd_broker *b, const char *topic,
				    const int32_t *voters, int n_voters)
{
	struct sd_locality *L = loc_of(b);
	if (L->election_base_ms == 0) {
		sd_config_placement(b->cfg, &L->pcfg);
		L->election_base_ms = sd_config_int(b->cfg, "raft.election.timeout.ms");
	}
	topo_refresh(L);
	struct pl_preference pref;
	int64_t stale;
	sd_loc_topic_settings(b, topic, &pref, &stale);
	return rank_timeout_ms(L, &pref, voters, n_voters);
}

/* A follower whose leader's broker is down (no transport connection: a
 * crashed process closes it at once, a frozen or unreachable one after
 * transport.idle.timeout.ms of silence) and that sits alone in the best live
 * preference rank stands for election as soon as the other survivors'
 * vote guard opens, rather than after its randomized timeout
 * (rl_group_leader_lost(); one heartbeat interval of margin). If the
 * connection only blinked, the leader's next message cancels that, and
 * followers still hearing the leader refuse the pre-vote anyway. */
static void leader_lost(struct sd_locality *L, struct sd_partition *sp,
			const struct loc_part *lp, struct rl_group *g, const int32_t *voters,
			int n)
{
	struct rl_group_status st;
	rl_group_get_status(g, &st);
	int32_t leader = st.leader_id <= INT32_MAX ? (int32_t)st.leader_id : PL_NO_BROKER;
	if (pl_election_leader_lost(&lp->pref, L->topo, L->b->id, pin_role(st.role), leader,
				    voters, n) &&
	    rl_group_leader_lost(g, (unsigned)L->heartbeat_ms) == 0) {
		sd_part_touch(sp->part);
	}
}

/* Re-ranks a hosted replica's election timeout (each tick, after the
 * topology, liveness and the topic's settings were refreshed): an
 * AlterConfigs of leaders.preference, a broker joining, or a voter going
 * down or coming back moves the ranks. The group ignores an unchanged
 * value; a changed one redraws its timer, so the partition's timer is
 * re-armed. */
static void rerank(struct sd_locality *L, struct sd_partition *sp, struct loc_part *lp)
{
	struct rl_group *g = sd_part_group(sp->part);
	struct rl_group_progress pr[LOC_PROGRESS_MAX];
	int32_t voters[LOC_PROGRESS_MAX];
	int n = 0;
	unsigned m = rl_group_progress(g, pr, LOC_PROGRESS_MAX);
	for (unsigned i = 0; i < m && i < LOC_PROGRESS_MAX; i++) {
		if (pr[i].role == RAFT_VOTER) {
			voters[n++] = (int32_t)pr[i].id;
		}
	}
	leader_lost(L, sp, lp, g, voters, n);
	unsigned t = rank_timeout_ms(L, &lp->pref, voters, n);
	if (t == 0 || t == rl_group_election_timeout(g)) {
		return;
	}
	int rv = rl_group_set_election_timeout(g, t); /* the group logs the change */
	if (rv != 0) {
		SL_LOG(SL_LOG_WARN, "partition=%s/%d event=election_rerank_refused ms=%u err=%s",
		       sp->topic, sp->index, t, rl_err_name(rv));
		return;
	}
	sd_part_touch(sp->part);
}

/* ---- Leader pinning ---------------------------------------------------------- */

/* Fills voters (PL_VOTERS_MAX) from the leader's progress. Returns how
 * many. */
static int voters_of(struct sd_locality *L, struct rl_group *g, int64_t now,
		     struct pl_pin_voter *out)
{
	struct rl_group_progress pr[LOC_PROGRESS_MAX];
	unsigned n = rl_group_progress(g, pr, LOC_PROGRESS_MAX);
	int k = 0;
	for (unsigned i = 0; i < n && i < LOC_PROGRESS_MAX && k < PL_VOTERS_MAX; i++) {
		if (pr[i].role != RAFT_VOTER) {
			continue;
		}
		struct pl_pin_voter *v = &out[k++];
		v->broker_id = (int32_t)pr[i].id;
		v->match_index = pr[i].match_index;
		v->last_contact_age_ms =
		    pr[i].last_contact_ms > 0 ? now - (int64_t)pr[i].last_contact_ms : -1;
		if (v->last_contact_age_ms < -1) {
			v->last_contact_age_ms = 0;
		}
		v->alive_since_ms = alive_since(L, v->broker_id);
	}
	return k;
}

static void pin_transfer(struct sd_locality *L, struct sd_partition *sp, struct rl_group *g,
			 const struct rl_group_status *st, const struct pl_leader_decision *d,
			 int64_t now)
{
	int rv = rl_group_transfer(g, (uint64_t)d->target_id, (uint64_t)now);
	sd_part_touch(sp->part);
	if (rv == 0) {
		L->transfers++;
	}
	SL_LOG(rv == 0 ? SL_LOG_INFO : SL_LOG_WARN,
	       "partition=%s/%d term=%llu event=leader_transfer from=%d to=%d leader_rank=%d "
	       "target_rank=%d reason=\"%s\" rv=%s",
	       sp->topic, sp->index, (unsigned long long)st->term, L->b->id, d->target_id,
	       d->leader_rank, d->target_rank, pl_leader_reason_str(d->reason), rl_err_name(rv));
}

/* Evaluates leader pinning for one hosted partition (never from inside a
 * group callback: a transfer steps the group). */
static void eval_part(struct sd_locality *L, struct sd_partition *sp, struct loc_part *lp,
		      bool refresh_settings)
{
	struct rl_group *g = sd_part_group(sp->part);
	if (g == NULL) {
		return;
	}
	int64_t now = now_ms(L);
	struct rl_group_status st;
	rl_group_get_status(g, &st);
	note_role(L, lp, &st, now);
	part_settings(L, lp, sp, refresh_settings);
	struct pl_pin_voter v[PL_VOTERS_MAX];
	bool leads = st.role == RAFT_LEADER && !st.failed;
	struct pl_pin_input in = {
	    .topology = L->topo,
	    .preference = &lp->pref,
	    .config = &L->pcfg,
	    .self_id = L->b->id,
	    .last_index = st.last_index,
	    .failed = st.failed,
	    .voters = v,
	    .n_voters = leads ? voters_of(L, g, now, v) : 0,
	    .now_ms = now,
	};
	if (pl_pin_evaluate(&lp->pin, &in) && lp->pin.decision.action == PL_LEADER_TRANSFER &&
	    !st.transferring && !L->stopping) {
		pin_transfer(L, sp, g, &st, &lp->pin.decision, now);
	}
}

/* One partition of the pinning pass. */
static void pin_one(struct sd_part *p, void *arg)
{
	struct sd_locality *L = arg;
	struct sd_partition *sp = sd_part_data(p);
	if (sp == NULL || sd_part_group(p) == NULL ||
	    sd_part_group_id(p) == SD_CTL_CONTROLLER_GROUP_ID) {
		return;
	}
	struct loc_part *lp = part_get(L, sp->group_id, true);
	if (lp != NULL) {
		lp->seen = true;
		eval_part(L, sp, lp, true);
		if (!L->stopping) {
			rerank(L, sp, lp);
		}
	}
}

/* Frees the state of partitions no longer hosted here. */
static void prune(struct sd_locality *L)
{
	for (uint64_t i = 0; i < L->cap; i++) {
		struct loc_part *lp = L->parts[i];
		if (lp == NULL) {
			continue;
		}
		if (!lp->seen && !lp->notice_pending) {
			L->parts[i] = NULL;
			sl_free(lp);
		} else {
			lp->seen = false;
		}
	}
}

static void on_tick(uv_timer_t *t)
{
	struct sd_locality *L = t->data;
	if (L->stopping || L->b->pm == NULL) {
		return;
	}
	topo_refresh(L);
	sd_pm_foreach(L->b->pm, pin_one, L);
	prune(L);
}

/* ---- Commit notices ----------------------------------------------------------- */

static void send_notice(struct sd_locality *L, uint64_t group_id, uint64_t to,
			const struct rl_group_status *st, uint64_t last_term)
{
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_APPEND_ENTRIES;
	m.server_id = to;
	m.server_address = "";
	m.append_entries.version = 0;
	m.append_entries.term = st->term;
	m.append_entries.prev_log_index = st->last_index;
	m.append_entries.prev_log_term = last_term;
	m.append_entries.leader_commit = st->commit_index;
	m.append_entries.entries = NULL;
	m.append_entries.n_entries = 0;
	if (sl_transport_send_raft(&L->b->transport, to, group_id, &m) == 0) {
		L->notices++;
	}
}

/* Sends the notices due for one partition. Returns true while some
 * follower still waits for one (and libraft's heartbeat has not come). */
static bool notify_part(struct sd_locality *L, struct loc_part *lp, int64_t now)
{
	struct sd_part *p = sd_pm_get(L->b->pm, lp->group_id);
	struct rl_group *g =
	    p != NULL && sd_part_state(p) == SD_PART_RUNNING ? sd_part_group(p) : NULL;
	if (g == NULL) {
		return false;
	}
	struct rl_group_status st;
	rl_group_get_status(g, &st);
	struct rl_entry_info last;
	if (st.role != RAFT_LEADER || st.failed || st.last_index == 0 ||
	    rl_entry_get_info(sd_part_log(p), st.last_index, &last) != 0) {
		return false;
	}
	struct rl_group_progress pr[LOC_PROGRESS_MAX];
	unsigned n = rl_group_progress(g, pr, LOC_PROGRESS_MAX);
	bool waiting = false;
	for (unsigned i = 0; i < n && i < LOC_PROGRESS_MAX; i++) {
		if (pr[i].id == (uint64_t)L->b->id || pr[i].role == RAFT_SPARE) {
			continue;
		}
		struct loc_peer *peer = peer_get(lp, (int32_t)pr[i].id);
		bool silent = pr[i].last_contact_ms == 0 ||
			      now - (int64_t)pr[i].last_contact_ms > L->election_base_ms;
		if (peer == NULL || peer->notified_commit >= st.commit_index || silent) {
			continue; /* told already, or down: libraft retries it */
		}
		if (sd_loc__notice_due(pr[i].match_index, st.last_index, st.commit_index,
				       peer->notified_commit)) {
			send_notice(L, lp->group_id, pr[i].id, &st, last.term);
			peer->notified_commit = st.commit_index;
		} else {
			waiting = true;
		}
	}
	return waiting && now - lp->notice_since_ms < L->heartbeat_ms;
}

static void on_check(uv_check_t *h)
{
	struct sd_locality *L = h->data;
	int64_t now = now_ms(L);
	struct loc_part *list = L->pending;
	bool fresh_liveness = false;
	L->pending = NULL;
	while (list != NULL) {
		struct loc_part *lp = list;
		list = lp->next_pending;
		lp->next_pending = NULL;
		if (lp->eval_pending && !L->stopping && L->b->pm != NULL) {
			if (!fresh_liveness) {
				topo_liveness(L); /* a failover: who is gone matters now */
				fresh_liveness = true;
			}
			struct sd_part *p = sd_pm_get(L->b->pm, lp->group_id);
			struct sd_partition *sp = p != NULL ? sd_part_data(p) : NULL;
			lp->eval_pending = false;
			if (sp != NULL) {
				eval_part(L, sp, lp, false);
			}
		}
		if (!L->stopping && L->b->pm != NULL && notify_part(L, lp, now)) {
			lp->next_pending = L->pending;
			L->pending = lp;
		} else {
			lp->notice_pending = false;
		}
	}
	if (L->pending == NULL && L->check_active) {
		uv_check_stop(&L->check);
		L->check_active = false;
	}
}

static void schedule_notice(struct sd_locality *L, struct loc_part *lp, int64_t now)
{
	lp->notice_since_ms = now;
	if (lp->notice_pending) {
		return;
	}
	lp->notice_pending = true;
	lp->next_pending = L->pending;
	L->pending = lp;
	if (!L->check_active) {
		uv_check_start(&L->check, on_check);
		L->check_active = true;
	}
}

/* ---- Partition events ------------------------------------------------------------ */

/* Records how long ago the newest batch that just became visible was
 * produced (its maxTimestamp, the producer's CreateTime): on the leader
 * that is produce-to-commit, on a follower produce-to-visible-here, so the
 * difference between the two histograms is the follower visibility lag. */
static void visibility_sample(struct sd_locality *L, struct loc_part *lp, struct sd_partition *sp,
			      const struct rl_group_status *st)
{
	if (st->hwm <= lp->visible_hwm || st->hwm <= st->start_offset) {
		lp->visible_hwm = SL_MAX(lp->visible_hwm, st->hwm);
		return;
	}
	bool first = lp->visible_hwm < 0;
	lp->visible_hwm = st->hwm;
	struct rl_log *log = sd_part_log(sp->part);
	uint64_t idx;
	struct rl_entry_info info;
	if (first || log == NULL || rl_offset_to_index(log, st->hwm - 1, &idx) != 0 ||
	    rl_entry_get_info(log, idx, &info) != 0 || info.kind != RL_KIND_DATA) {
		return;
	}
	int64_t lag = sl_now_wall_ms() - info.max_timestamp;
	if (lag >= 0 && lag <= LOC_VISIBILITY_MAX_MS) {
		sd_admin_visibility(L->b, st->role == RAFT_LEADER, (double)lag / 1000.0);
	}
}

void sd_loc_partition_event(struct sd_partition *sp)
{
	struct sd_locality *L = loc_of(sp->b);
	struct rl_group *g = sd_part_group(sp->part);
	if (g == NULL || !L->started) {
		return;
	}
	struct loc_part *lp = part_get(L, sp->group_id, true);
	if (lp == NULL) {
		return;
	}
	int64_t now = now_ms(L);
	struct rl_group_status st;
	rl_group_get_status(g, &st);
	note_role(L, lp, &st, now);
	visibility_sample(L, lp, sp, &st);
	if (st.role == RAFT_LEADER && !L->stopping) {
		/* Pinning reacts to a new leader's first commits (its followers'
		 * match indexes are known by then) rather than the next tick. */
		lp->eval_pending |= pl_pin_eval_due(&lp->pin, now);
		schedule_notice(L, lp, now);
	}
}

/* ---- Fetch from the closest replica ------------------------------------------------ */

/* The high watermark a follower with this match index has at most: the
 * offset just past the last entry with index <= min(match, commit). */
static int64_t follower_hwm(struct rl_log *log, const struct rl_group_status *st, uint64_t match)
{
	uint64_t idx = SL_MIN(match, st->commit_index);
	struct rl_entry_info info;
	if (idx == 0) {
		return st->start_offset;
	}
	if (rl_entry_get_info(log, idx, &info) == 0) {
		return info.last_offset + 1;
	}
	return -1; /* below the retained log: it cannot serve */
}

/* Fills the replica states the leader knows (PL_REPLICAS_MAX). */
static int replica_states(struct sd_locality *L, struct sd_partition *sp,
			  const struct rl_group_status *st, struct pl_replica_state *out)
{
	struct rl_group *g = sd_part_group(sp->part);
	struct rl_log *log = sd_part_log(sp->part);
	struct rl_group_progress pr[LOC_PROGRESS_MAX];
	unsigned n = rl_group_progress(g, pr, LOC_PROGRESS_MAX);
	int64_t now = now_ms(L);
	int k = 0;
	for (unsigned i = 0; i < n && i < LOC_PROGRESS_MAX && k < PL_REPLICAS_MAX; i++) {
		if (pr[i].role != RAFT_VOTER) {
			continue;
		}
		struct pl_replica_state *r = &out[k++];
		r->broker_id = (int32_t)pr[i].id;
		r->log_start_offset = st->start_offset;
		if (pr[i].id == (uint64_t)L->b->id) {
			r->high_watermark = st->hwm;
			r->leader_contact_age_ms = 0;
		} else {
			r->high_watermark =
			    log != NULL ? follower_hwm(log, st, pr[i].match_index) : -1;
			int64_t age =
			    pr[i].last_contact_ms > 0 ? now - (int64_t)pr[i].last_contact_ms : -1;
			r->leader_contact_age_ms = age < -1 ? 0 : age;
		}
	}
	return k;
}

int sd_loc_fetch_select(struct sd_broker *b, struct sd_partition *sp, uint64_t client_hash,
			const char *client_rack, int64_t fetch_offset, struct pl_fetch_choice *out)
{
	struct sd_locality *L = loc_of(b);
	struct rl_group *g = sd_part_group(sp->part);
	if (g == NULL) {
		return PL_ERR_INVAL;
	}
	struct rl_group_status st;
	rl_group_get_status(g, &st);
	if (st.role != RAFT_LEADER) {
		return PL_ERR_INVAL;
	}
	struct loc_part *lp = part_get(L, sp->group_id, true);
	struct pl_preference pref;
	int64_t stale;
	if (lp != NULL) {
		part_settings(L, lp, sp, false);
		stale = lp->max_staleness_ms;
	} else {
		sd_loc_topic_settings(b, sp->topic, &pref, &stale);
	}
	struct pl_replica_state reps[PL_REPLICAS_MAX];
	struct pl_fetch_input in = {
	    .topology = sd_loc_topology(b),
	    .client_rack = client_rack,
	    .fetch_offset = fetch_offset,
	    .max_staleness_ms = stale,
	    .leader_id = b->id,
	    .client_hash = client_hash,
	    .replicas = reps,
	    .n_replicas = replica_states(L, sp, &st, reps),
	};
	return pl_fetch_select(&in, out);
}

enum pl_follower_fetch sd_loc_follower_decide(struct sd_broker *b, struct sd_partition *sp,
					      const struct rl_group_status *st,
					      int64_t fetch_offset)
{
	struct sd_locality *L = loc_of(b);
	struct loc_part *lp = part_get(L, sp->group_id, true);
	struct pl_preference pref;
	int64_t stale;
	if (lp != NULL) {
		part_settings(L, lp, sp, false);
		stale = lp->max_staleness_ms;
	} else {
		sd_loc_topic_settings(b, sp->topic, &pref, &stale);
	}
	struct pl_follower_view v = {
	    .follower_with_leader = st->role == RAFT_FOLLOWER && st->leader_id != 0,
	    .last_leader_contact_ms = (int64_t)st->last_leader_contact_ms,
	    .log_start_offset = st->start_offset,
	    .high_watermark = st->hwm,
	};
	return pl_follower_read_decide(&v, now_ms(L), stale, fetch_offset);
}

/* ---- Reports ------------------------------------------------------------------------ */

struct led_ctx {
	struct sd_locality *L;
	void (*fn)(void *arg, const struct sd_loc_led *l);
	void *arg;
};

static void led_one(struct sd_part *p, void *arg)
{
	struct led_ctx *c = arg;
	struct sd_partition *sp = sd_part_data(p);
	struct rl_group *g = sd_part_group(p);
	if (sp == NULL || g == NULL || sd_part_group_id(p) == SD_CTL_CONTROLLER_GROUP_ID) {
		return;
	}
	struct rl_group_status st;
	rl_group_get_status(g, &st);
	if (st.role != RAFT_LEADER) {
		return;
	}
	struct loc_part *lp = part_get(c->L, sp->group_id, false);
	struct sd_loc_led l = {
	    .topic = sp->topic,
	    .partition = sp->index,
	    .decided = lp != NULL && lp->pin.decided,
	    .compliant = lp != NULL && lp->pin.decided && lp->pin.compliant,
	};
	c->fn(c->arg, &l);
}

void sd_loc_foreach_led(struct sd_broker *b, void (*fn)(void *arg, const struct sd_loc_led *l),
			void *arg)
{
	struct led_ctx c = {loc_of(b), fn, arg};
	if (b->pm != NULL) {
		sd_pm_foreach(b->pm, led_one, &c);
	}
}

/* ---- Explain ------------------------------------------------------------------------- */

static const char *level_str(enum pl_locality_level l)
{
	return l == PL_LOCALITY_RACK ? "rack" : l == PL_LOCALITY_REGION ? "region" : "none";
}

static const char *follower_str(enum pl_follower_fetch d)
{
	switch (d) {
	case PL_FOLLOWER_SERVE:
		return "serve";
	case PL_FOLLOWER_WAIT:
		return "wait for data (long poll)";
	case PL_FOLLOWER_REFUSE_STALE:
		return "refuse: no leader contact within the staleness bound";
	default:
		return "offset out of range";
	}
}

static void explain_replicas(struct sd_locality *L, const struct pl_preference *pref,
			     const struct pl_replica_state *r, int n, struct sd_json *j)
{
	sd_json_key(j, "replicas");
	sd_json_array_begin(j);
	for (int i = 0; i < n; i++) {
		struct pl_broker br = {0};
		bool known = pl_topology_find(L->topo, r[i].broker_id, &br);
		sd_json_object_begin(j);
		sd_json_kv_int(j, "id", r[i].broker_id);
		sd_json_kv_str(j, "region", known ? br.region : "");
		sd_json_kv_str(j, "rack", known ? br.rack : "");
		sd_json_kv_bool(j, "alive", known && br.alive);
		sd_json_kv_int(j, "preference_rank",
			       pl_preference_rank(pref, L->topo, r[i].broker_id));
		sd_json_kv_int(j, "high_watermark", r[i].high_watermark);
		sd_json_kv_int(j, "leader_contact_age_ms", r[i].leader_contact_age_ms);
		sd_json_object_end(j);
	}
	sd_json_array_end(j);
}

static void explain_leader(struct sd_locality *L, struct sd_partition *sp,
			   const struct rl_group_status *st, const char *client_rack,
			   int64_t offset, const struct pl_preference *pref, struct sd_json *j)
{
	struct pl_replica_state reps[PL_REPLICAS_MAX];
	int n = replica_states(L, sp, st, reps);
	struct pl_fetch_choice ch;
	int rv = sd_loc_fetch_select(L->b, sp, pl_client_hash(NULL, client_rack), client_rack,
				     offset, &ch);
	sd_json_key(j, "fetch");
	sd_json_object_begin(j);
	sd_json_kv_int(j, "offset", offset);
	sd_json_kv_int(j, "broker", rv == 0 ? ch.broker_id : L->b->id);
	sd_json_kv_str(j, "reason", rv == 0 ? pl_fetch_reason_str(ch.reason) : pl_strerror(rv));
	sd_json_kv_bool(j, "redirect", rv == 0 && ch.broker_id != L->b->id);
	sd_json_object_end(j);
	explain_replicas(L, pref, reps, n, j);
	struct loc_part *lp = part_get(L, sp->group_id, false);
	sd_json_key(j, "leader_decision");
	if (lp == NULL || !lp->pin.decided) {
		sd_json_null(j);
		return;
	}
	const struct pl_leader_decision *d = &lp->pin.decision;
	sd_json_object_begin(j);
	sd_json_kv_str(j, "action", d->action == PL_LEADER_TRANSFER ? "transfer" : "stay");
	sd_json_kv_str(j, "reason", pl_leader_reason_str(d->reason));
	sd_json_kv_int(j, "target", d->target_id);
	sd_json_kv_int(j, "leader_rank", d->leader_rank);
	sd_json_kv_int(j, "target_rank", d->target_rank);
	sd_json_kv_bool(j, "compliant", lp->pin.compliant);
	sd_json_kv_int(j, "ms_since_leader_change", now_ms(L) - lp->pin.changed_at_ms);
	sd_json_kv_bool(j, "elected_after_failure",
			lp->pin.last_change_ms != lp->pin.changed_at_ms);
	sd_json_object_end(j);
}

static void explain_follower(struct sd_locality *L, struct sd_partition *sp,
			     const struct rl_group_status *st, int64_t offset, int64_t stale,
			     struct sd_json *j)
{
	int64_t age =
	    st->last_leader_contact_ms > 0 ? now_ms(L) - (int64_t)st->last_leader_contact_ms : -1;
	sd_json_key(j, "follower");
	sd_json_object_begin(j);
	sd_json_kv_int(j, "offset", offset);
	sd_json_kv_int(j, "high_watermark", st->hwm);
	sd_json_kv_int(j, "leader_contact_age_ms", age);
	sd_json_kv_int(j, "max_staleness_ms", stale);
	sd_json_kv_str(j, "decision", follower_str(sd_loc_follower_decide(L->b, sp, st, offset)));
	sd_json_object_end(j);
}

static void explain_client(struct sd_locality *L, const char *client_rack, struct sd_json *j)
{
	struct pl_locality loc;
	pl_topology_locate(L->topo, client_rack, &loc);
	sd_json_kv_str(j, "client_rack", client_rack != NULL ? client_rack : "");
	sd_json_key(j, "client_locality");
	sd_json_object_begin(j);
	sd_json_kv_str(j, "level", level_str(loc.level));
	sd_json_kv_str(j, "region", loc.region != NULL ? loc.region : "");
	sd_json_kv_str(j, "rack", loc.rack != NULL ? loc.rack : "");
	sd_json_kv_str(
	    j, "versus_this_broker",
	    sd_loc_where_str(sd_loc__classify(L->topo, L->b->region, L->b->rack, client_rack)));
	sd_json_object_end(j);
}

int sd_loc_explain(struct sd_broker *b, const char *topic, int32_t partition,
		   const char *client_rack, int64_t offset, struct sd_json *j, char *msg,
		   size_t msg_len)
{
	struct sd_locality *L = loc_of(b);
	struct sd_partition_view v;
	if (!sd_partition_view(b, topic, partition, &v)) {
		snprintf(msg, msg_len, "unknown topic or partition");
		return 404;
	}
	const struct sd_ctl_topic *t = v.topic;
	(void)sd_loc_topology(b);
	struct pl_preference pref;
	int64_t stale;
	sd_loc_topic_settings(b, topic, &pref, &stale);
	char pref_s[PL_PREF_STRING_BYTES_MAX];
	(void)pl_preference_format(&pref, pref_s, sizeof(pref_s));
	struct sd_partition *sp = v.sp;
	struct rl_group *g = v.g;
	struct rl_group_status st = v.st;
	sd_json_object_begin(j);
	sd_json_kv_str(j, "topic", topic);
	sd_json_kv_int(j, "partition", partition);
	sd_json_kv_int(j, "broker", b->id);
	sd_json_kv_int(j, "leader", sd_leader_of(b, t->partitions[partition].group_id, NULL));
	sd_json_kv_str(j, "leaders_preference", pref_s);
	sd_json_kv_int(j, "max_staleness_ms", stale);
	explain_client(L, client_rack, j);
	if (g != NULL) {
		/* This replica's current (re-ranked) election timeout. */
		sd_json_kv_int(j, "election_timeout_ms", rl_group_election_timeout(g));
	}
	if (g == NULL) {
		sd_json_kv_str(j, "evaluated_by", "none: not hosted here; ask the leader");
	} else if (st.role == RAFT_LEADER) {
		sd_json_kv_str(j, "evaluated_by", "leader");
		explain_leader(L, sp, &st, client_rack, offset < 0 ? st.hwm : offset, &pref, j);
	} else {
		sd_json_kv_str(j, "evaluated_by",
			       "follower: ask the leader for the replica choice");
		explain_follower(L, sp, &st, offset < 0 ? st.hwm : offset, stale, j);
	}
	sd_json_object_end(j);
	return 200;
}

/* ---- Lifecycle ------------------------------------------------------------------------ */

int sd_locality_start(struct sd_broker *b)
{
	struct sd_locality *L = loc_of(b);
	sd_config_placement(b->cfg, &L->pcfg);
	L->election_base_ms = sd_config_int(b->cfg, "raft.election.timeout.ms");
	L->heartbeat_ms = sd_config_int(b->cfg, "raft.heartbeat.interval.ms");
	topo_refresh(L);
	if (uv_timer_init(b->loop, &L->timer) != 0 || uv_check_init(b->loop, &L->check) != 0) {
		return -1;
	}
	L->timer.data = L;
	L->check.data = L;
	uv_timer_start(&L->timer, on_tick, SD_LOC_TICK_MS, SD_LOC_TICK_MS);
	L->started = true;
	return 0;
}

void sd_locality_stop(struct sd_broker *b)
{
	struct sd_locality *L = loc_of(b);
	if (!L->started || L->stopping) {
		return;
	}
	L->stopping = true;
	uv_timer_stop(&L->timer);
	if (L->check_active) {
		uv_check_stop(&L->check);
		L->check_active = false;
	}
}

void sd_locality_free(struct sd_broker *b)
{
	struct sd_locality *L = loc_of(b);
	for (uint64_t i = 0; i < L->cap; i++) {
		sl_free(L->parts[i]);
	}
	sl_free(L->parts);
	sl_free(L->alive);
	pl_topology_free(L->topo);
	memset(L, 0, sizeof(*L));
}
