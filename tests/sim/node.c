/* Simulated brokers and their replicas: starting (bootstrap or recovery
 * from the simulated disk), clean stops and crashes, writer passes, and
 * routing Raft messages between replicas through simnet.
 *
 * Happy path: a broker starts with a manual writer and opens one rl_log
 * and rl_group per hosted group; env_send() encodes each outgoing message
 * with server/rpc_codec.h and hands it to simnet; on_raft() decodes it and
 * feeds rl_group_receive().
 * Failure modes (simulated): a crash freezes the broker's disk, so every
 * queued or later write fails with -EIO; the groups are closed (their
 * storage operations complete with RL_EIO), the logs closed, and simfs
 * drops or tears the unsynced writes. The restart must recover. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/rpc_codec.h"
#include "tests/sim/sim.h"

/* Writer passes allowed for a closing broker's groups to finish. */
#define CLOSE_PASSES_MAX 1000

static void env_send(struct rl_group *g, const struct raft_message *msg)
{
	struct sim_node *n = rl_group_data(g);
	struct sim *s = n->sim;
	if (!n->broker->up || n->broker->frozen) {
		return; /* a dead process sends nothing */
	}
	sim_check_note_send(n, msg);
	uint8_t *buf;
	size_t len;
	int rv = sl_rpc_encode(msg, 0, &buf, &len);
	if (rv != 0) {
		sim_fail(s, "rpc encode (type %d): %s", (int)msg->type, sl_rpc_strerror(rv));
	}
	simnet_send(s->net, s->now, n->broker->id, (unsigned)msg->server_id, n->group->id,
		    SIMNET_RAFT, buf, len);
}

static void env_failed(struct rl_group *g, int err, const char *msg)
{
	struct sim_node *n = rl_group_data(g);
	if (!n->broker->frozen && !n->broker->disk_error) {
		sim_fail(n->sim, "group %llu on broker %u failed without a disk fault: %s (%s)",
			 (unsigned long long)n->group->id, n->broker->id, rl_err_name(err), msg);
	}
}

/* Prints a delivered message (verbose level 2). */
static void trace_msg(struct sim *s, const struct simnet_msg *m, const struct raft_message *msg)
{
	uint64_t term = 0, a = 0, b = 0;
	switch (msg->type) {
	case RAFT_APPEND_ENTRIES:
		term = msg->append_entries.term;
		a = msg->append_entries.prev_log_index;
		b = msg->append_entries.n_entries;
		break;
	case RAFT_APPEND_ENTRIES_RESULT:
		term = msg->append_entries_result.term;
		a = msg->append_entries_result.rejected;
		/* libraft 0.22.1 leaves last_log_index uninitialised when it
		 * rejects a stale term: not printed then, to keep traces equal. */
		b = a == 0 ? msg->append_entries_result.last_log_index : 0;
		break;
	case RAFT_REQUEST_VOTE:
		term = msg->request_vote.term;
		a = msg->request_vote.last_log_index;
		b = msg->request_vote.pre_vote;
		break;
	case RAFT_REQUEST_VOTE_RESULT:
		term = msg->request_vote_result.term;
		a = msg->request_vote_result.vote_granted;
		b = msg->request_vote_result.pre_vote;
		break;
	case RAFT_INSTALL_SNAPSHOT:
		term = msg->install_snapshot.term;
		a = msg->install_snapshot.last_index;
		break;
	case RAFT_TIMEOUT_NOW:
		term = msg->timeout_now.term;
		break;
	}
	uint64_t commit = msg->type == RAFT_APPEND_ENTRIES ? msg->append_entries.leader_commit : 0;
	sim_trace(s, "msg group %llu %u->%u type=%d term=%llu %llu %llu commit=%llu",
		  (unsigned long long)m->group, m->from, m->to, (int)msg->type,
		  (unsigned long long)term, (unsigned long long)a, (unsigned long long)b,
		  (unsigned long long)commit);
}

/* Delivers a Raft message to the replica of its group on the recipient. */
static void on_raft(void *arg, const struct simnet_msg *m)
{
	struct sim *s = arg;
	struct sim_broker *b = &s->brokers[m->to];
	SL_ASSERT(m->group >= 1 && m->group <= s->cfg.n_groups);
	struct sim_node *n = b->nodes[m->group - 1];
	if (n == NULL || !n->open) {
		return;
	}
	struct raft_message msg;
	int rv = sl_rpc_decode(m->buf, m->len, NULL, &msg);
	if (rv != 0) {
		sim_fail(s, "rpc decode from %u: %s", m->from, sl_rpc_strerror(rv));
	}
	msg.server_id = m->from;
	if (s->verbose >= 2) {
		trace_msg(s, m, &msg);
	}
	sim_loc_heard(s, n, m->from, &msg);
	rl_group_receive(n->g, &msg, s->now);
}

/* The group driver's catch-up (range transfer) messages: opaque bytes
 * between two replicas of a group, routed like Raft messages (both lanes
 * share the connection's ordering; the simulated network never pushes
 * back, so a bulk send is always taken). */
static int env_send_catchup(struct rl_group *g, uint64_t to, bool bulk, const uint8_t *buf,
			    size_t len)
{
	struct sim_node *n = rl_group_data(g);
	struct sim *s = n->sim;
	(void)bulk;
	if (!n->broker->up || n->broker->frozen) {
		return 0;
	}
	uint8_t *copy = sl_malloc(len == 0 ? 1 : len);
	SL_ASSERT(copy != NULL);
	memcpy(copy, buf, len);
	simnet_send(s->net, s->now, n->broker->id, (unsigned)to, n->group->id, SIMNET_CATCHUP,
		    copy, len);
	return 0;
}

static void on_catchup(void *arg, const struct simnet_msg *m)
{
	struct sim *s = arg;
	struct sim_node *n = s->brokers[m->to].nodes[m->group - 1];
	if (n != NULL && n->open) {
		rl_group_receive_catchup(n->g, m->from, m->buf, m->len, s->now);
	}
}

/* simfs froze a broker's disk inside a writer pass (an armed crash). */
static void on_freeze(void *arg, unsigned tag)
{
	struct sim *s = arg;
	struct sim_broker *b = &s->brokers[tag];
	b->frozen = true;
	simnet_set_up(s->net, b->id, false);
	sim_trace(s, "broker %u disk froze inside a writer pass", b->id);
}

/* simfs failed one call of a broker with EIO (an armed disk error). */
static void on_error(void *arg, unsigned tag)
{
	struct sim *s = arg;
	struct sim_broker *b = &s->brokers[tag];
	b->disk_error = true;
	b->error_armed = false;
	s->stats.io_errors++;
	sim_trace(s, "broker %u: disk error injected", b->id);
}

void sim_nodes_init(struct sim *s)
{
	memset(&s->env, 0, sizeof(s->env));
	s->env.data = s;
	s->env.send = env_send;
	s->env.failed = env_failed;
	simnet_set_handler(s->net, SIMNET_RAFT, on_raft, s);
	s->env.send_catchup = env_send_catchup;
	simnet_set_handler(s->net, SIMNET_CATCHUP, on_catchup, s);
	simfs_set_callbacks(s->fs, on_freeze, on_error, s);
}

static void boot_cb(struct rl_bootstrap_req *req, int status)
{
	*(int *)req->data = status == 0 ? 1 : status;
}

static void node_bootstrap(struct sim *s, struct sim_node *n)
{
	uint64_t voters[SIM_RF_MAX];
	struct sim_group *grp = n->group;
	for (unsigned i = 0; i < grp->n_replicas; i++) {
		voters[i] = grp->nodes[i].broker->id;
	}
	struct rl_bootstrap_req br;
	int done = 0;
	br.data = &done;
	int rv = rl_group_bootstrap(n->log, &br, voters, grp->n_replicas, 0, boot_cb);
	if (rv == 0) {
		rl_writer_run_pending(n->broker->w);
	}
	if (rv != 0 || done != 1) {
		sim_fail(s, "bootstrap of %s: %s", n->dir, rl_err_name(rv != 0 ? rv : done));
	}
}

static void node_open(struct sim *s, struct sim_node *n, bool bootstrap)
{
	struct rl_log_config lc;
	rl_log_config_default(&lc);
	lc.dir = n->dir;
	lc.segment_bytes_max = s->cfg.segment_bytes;
	char err[512];
	int rv = rl_log_open(n->broker->w, &lc, &n->log, err, sizeof(err));
	if (rv != 0) {
		sim_fail(s, "recovery of %s failed: %s: %s", n->dir, rl_err_name(rv), err);
	}
	if (bootstrap) {
		node_bootstrap(s, n);
	} else {
		struct rl_log_info li;
		struct rl_snapshot_meta sm;
		rl_log_get_info(n->log, &li);
		rl_log_get_snapshot(n->log, &sm);
		sim_trace(s, "%s recovered: first=%llu last=%llu term=%llu vote=%llu snapshot=%llu",
			  n->dir, (unsigned long long)li.first_index,
			  (unsigned long long)li.last_index, (unsigned long long)li.term,
			  (unsigned long long)li.vote, (unsigned long long)sm.index);
		sim_check_after_restart(s, n);
	}
	struct rl_group_config gc;
	rl_group_config_default(&gc);
	gc.server_id = n->broker->id;
	gc.group_id = n->group->id;
	gc.election_timeout_ms = sim_loc_election_ms(s, n);
	/* As broker.c: rank timeouts only add to the base, so no voter times
	 * out sooner (the groups' vote guard, raftlog/group.h). */
	gc.min_election_timeout_ms = s->cfg.election_ms;
	gc.heartbeat_timeout_ms = s->cfg.heartbeat_ms;
	gc.snapshot_threshold = s->cfg.snapshot_threshold;
	gc.snapshot_trailing = s->cfg.snapshot_trailing;
	gc.transfer_timeout_ms = 2 * s->cfg.election_ms;
	gc.seed = (uint32_t)sim_rng_range(&s->rng, 1, UINT32_MAX);
	gc.catchup_window_bytes = s->cfg.catchup_window_bytes;
	gc.catchup_timeout_ms = s->cfg.election_ms;
	rv = rl_group_open(n->log, &gc, &s->env, s->now, &n->g);
	if (rv != 0) {
		sim_fail(s, "group open on %s: %s", n->dir, rl_err_name(rv));
	}
	rl_group_set_data(n->g, n);
	n->open = true;
	sim_loc_node_opened(s, n);
}

void sim_broker_start(struct sim *s, struct sim_broker *b, bool bootstrap)
{
	struct rl_writer_config wc;
	rl_writer_config_default(&wc);
	wc.manual = true;
	SL_ASSERT(!b->up && b->w == NULL);
	if (rl_writer_create(NULL, &wc, &b->w) != 0) {
		sim_fail(s, "writer create for broker %u", b->id);
	}
	b->up = true;
	b->writer_due = SIM_NEVER;
	b->restart_at = SIM_NEVER;
	b->stall_until = 0;
	simnet_set_up(s->net, b->id, true);
	sim_loc_broker_started(s, b);
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		if (b->nodes[k] != NULL) {
			node_open(s, b->nodes[k], bootstrap);
		}
	}
	sim_trace(s, "broker %u %s", b->id, bootstrap ? "bootstrapped" : "restarted");
}

static void close_cb(struct rl_group *g, void *arg)
{
	(void)g;
	((struct sim_node *)arg)->close_done = true;
}

/* Closes every group of b and drives the writer until they are released
 * (with a frozen disk the pending operations fail with RL_EIO). */
static void close_groups(struct sim *s, struct sim_broker *b)
{
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		struct sim_node *n = b->nodes[k];
		if (n != NULL && n->open) {
			n->close_done = false;
			rl_group_close(n->g, close_cb, n);
		}
	}
	for (unsigned pass = 0;; pass++) {
		bool all = true;
		for (unsigned k = 0; k < s->cfg.n_groups; k++) {
			struct sim_node *n = b->nodes[k];
			all &= n == NULL || !n->open ||
			       (n->close_done && rl_log_pending_ops(n->log) == 0);
		}
		if (all) {
			break;
		}
		if (pass == CLOSE_PASSES_MAX) {
			sim_fail(s, "groups of broker %u never finished closing", b->id);
		}
		rl_writer_run_pending(b->w);
	}
}

/* Adds a closing replica's catch-up counters to the run's. */
static void count_catchup(struct sim *s, struct sim_node *n)
{
	struct rl_catchup_stats cs;
	rl_group_catchup_stats(n->g, &cs);
	s->stats.cu_transfers += cs.transfers;
	s->stats.cu_installs += cs.installs;
	s->stats.cu_fallbacks += cs.fallbacks;
	s->stats.cu_bytes += cs.bytes_appended;
	struct rl_submit_stats ss;
	rl_group_submit_stats(n->g, &ss);
	s->stats.merged_entries += ss.merged_entries;
	s->stats.merged_batches += ss.merged_batches;
}

/* The broker's disk after its groups and logs are closed. */
static void settle_disk(struct sim *s, struct sim_broker *b, enum sim_stop how)
{
	if (how == SIM_STOP_POWER) {
		struct simfs_crash_stats st = {0};
		simfs_crash(s->fs, b->id, &s->rng, &st);
		s->stats.crashes++;
		s->stats.torn += st.torn;
		s->stats.ops_lost += st.ops_lost;
		sim_trace(s, "broker %u lost power: files=%u kept=%u lost=%u torn=%u dir_lost=%u",
			  b->id, st.files, st.ops_kept, st.ops_lost, st.torn, st.dir_ops_lost);
	} else if (how == SIM_STOP_KILL) {
		simfs_freeze(s->fs, b->id, false); /* the page cache survives */
		s->stats.kills++;
		sim_trace(s, "broker %u killed", b->id);
	} else {
		s->stats.stops++;
		sim_trace(s, "broker %u stopped cleanly", b->id);
	}
	/* Faults armed for the process that stopped do not carry over. */
	simfs_arm_crash(s->fs, b->id, 0);
	simfs_arm_error(s->fs, b->id, 0);
}

void sim_broker_stop(struct sim *s, struct sim_broker *b, enum sim_stop how)
{
	SL_ASSERT(b->up);
	if (how != SIM_STOP_CLEAN) {
		simfs_freeze(s->fs, b->id, true);
		b->frozen = true;
	}
	/* Record what the replicas knew (commit indexes, entries) while the
	 * groups still exist; reads work on a frozen disk. */
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		if (b->nodes[k] != NULL && b->nodes[k]->open) {
			sim_check_node(s, b->nodes[k]);
		}
	}
	b->up = false;
	simnet_set_up(s->net, b->id, false);
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		if (b->nodes[k] != NULL && b->nodes[k]->open) {
			count_catchup(s, b->nodes[k]);
		}
	}
	close_groups(s, b);
	for (unsigned k = 0; k < s->cfg.n_groups; k++) {
		struct sim_node *n = b->nodes[k];
		if (n == NULL || !n->open) {
			continue;
		}
		sim_check_before_crash(s, n);
		rl_log_close(n->log);
		n->log = NULL;
		n->g = NULL;
		n->open = false;
	}
	rl_writer_close(b->w);
	b->w = NULL;
	b->writer_due = SIM_NEVER;
	if (how == SIM_STOP_CLEAN && b->frozen) {
		how = b->crash_how; /* an armed crash fired while closing */
	}
	settle_disk(s, b, how);
	b->frozen = false;
	b->crash_armed = false;
	b->error_armed = false;
	b->disk_error = false;
}

bool sim_broker_busy(const struct sim_broker *b)
{
	for (unsigned k = 0; k < SIM_GROUPS_MAX; k++) {
		const struct sim_node *n = b->nodes[k];
		if (n != NULL && n->open && rl_log_pending_ops(n->log) > 0) {
			return true;
		}
	}
	return false;
}

void sim_broker_run_writer(struct sim *s, struct sim_broker *b)
{
	b->writer_due = SIM_NEVER;
	rl_writer_run_pending(b->w);
	if (b->frozen) {
		s->stats.mid_pass++;
		sim_broker_stop(s, b, b->crash_how);
	}
}

struct sim_node *sim_leader(struct sim *s, struct sim_group *grp)
{
	(void)s;
	struct sim_node *best = NULL;
	uint64_t best_term = 0;
	for (unsigned i = 0; i < grp->n_replicas; i++) {
		struct sim_node *n = &grp->nodes[i];
		struct rl_group_status st;
		if (!n->open) {
			continue;
		}
		rl_group_get_status(n->g, &st);
		if (st.role == RAFT_LEADER && st.term > best_term) {
			best = n;
			best_term = st.term;
		}
	}
	return best;
}
