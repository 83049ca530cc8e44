/* stretchlogd internals shared by the broker's files (private to server/).
 *
 * One struct sd_broker per process: its configuration, the libuv loop, the
 * inter-broker transport, the partition manager (every Raft group hosted
 * here), the controller (group 0 and its applied state), the leader table
 * (who leads each partition, learned from the groups and shared between
 * brokers), the Kafka listener with its handlers, and the admin HTTP server
 * with the metrics registry.
 *
 * Data flow of a produce: Kafka frame -> kafka_conn decodes -> kh_produce
 * validates every batch -> sd_part_submit (Raft: the leader appends and
 * replicates) -> the writer thread makes it durable -> commit -> the submit
 * callback answers the request. Nothing flows back the other way.
 *
 * Threads: everything here runs on the loop thread. */
#ifndef SD_BROKER_H
#define SD_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "server/cgroup.h"
#include "server/config.h"
#include "server/ctl_state.h"
#include "server/pm.h"
#include "server/transport.h"

struct sk_server;
struct sk_request;
struct sd_http;
struct sd_metrics;
struct sd_broker;

/* ---- Controller (server/controller.c) ----------------------------------- */

/* Requests a broker sends to the controller leader. */
enum sd_ctl_rpc_kind {
	SD_CTL_RPC_REGISTER = 1,
	SD_CTL_RPC_CREATE_TOPIC = 2,
	SD_CTL_RPC_DELETE_TOPIC = 3,
	SD_CTL_RPC_ALTER_CONFIGS = 4,
};

/* Outcome of a controller request: a Kafka error code (0 = done and applied
 * locally, so a following Metadata on this broker sees it) and a message. */
typedef void (*sd_ctl_done_cb)(void *data, int16_t error_code, const char *message);

/* A topic creation as a client asked for it. */
struct sd_topic_intent {
	const char *name;
	int32_t partitions;          /* -1: num.partitions */
	int32_t replication_factor;  /* -1: default.replication.factor */
	const struct sd_ctl_config *configs;
	int32_t n_configs;
	bool validate_only;
};

/* Starts group 0 and the controller's timer. */
int sd_controller_start(struct sd_broker *b);
/* Stops the timer and proposals (first step of a shutdown). */
void sd_controller_quiesce(struct sd_broker *b);
/* Frees the controller once the partition manager has closed; pending
 * calls complete with REQUEST_TIMED_OUT. */
void sd_controller_stop(struct sd_broker *b);
/* The applied controller state (borrowed; changes as entries apply). */
const struct sd_ctl_state *sd_controller_state(const struct sd_broker *b);
/* Called by the broker for group 0's events. */
void sd_controller_on_hwm(struct sd_broker *b);
void sd_controller_on_role(struct sd_broker *b, int new_role);
void sd_controller_on_control(struct sd_broker *b, uint64_t peer, const uint8_t *buf, size_t len);

int sd_controller_create_topic(struct sd_broker *b, const struct sd_topic_intent *t,
			       sd_ctl_done_cb cb, void *data);
int sd_controller_delete_topic(struct sd_broker *b, const char *name, sd_ctl_done_cb cb,
			       void *data);
/* ops: value NULL deletes the key (back to the default). */
int sd_controller_alter_configs(struct sd_broker *b, const char *topic,
				const struct sd_ctl_config *ops, int32_t n_ops, bool validate_only,
				sd_ctl_done_cb cb, void *data);
/* The controller leader's broker id, or -1 if unknown. */
int32_t sd_controller_leader(const struct sd_broker *b);

/* ---- Leader table ------------------------------------------------------- */

/* Who leads group_id, as far as this broker knows: -1 if unknown. */
int32_t sd_leader_of(struct sd_broker *b, uint64_t group_id, uint64_t *term);
void sd_leader_note(struct sd_broker *b, uint64_t group_id, uint64_t term, int32_t leader);

/* ---- Data partitions ---------------------------------------------------- */

struct sd_fetch_wait; /* kh_fetch.c */

/* The broker's view of one hosted data partition (sd_part_data()). */
struct sd_partition {
	struct sd_broker *b;
	struct sd_part *part;
	uint64_t group_id;
	char topic[SD_CTL_TOPIC_NAME_MAX + 1];
	int32_t index;
	int32_t n_replicas;
	int32_t replicas[SD_CTL_REPLICAS_MAX];
	struct sd_fetch_wait *waiters; /* long-polling fetches */
	uint64_t leader_epoch_start_ms;
};

/* The hosted partition of (topic, index), or NULL. */
struct sd_partition *sd_partition_find(struct sd_broker *b, const char *topic, int32_t index);

/* (topic, index) as the handlers see it: the topic in the controller state,
 * the hosted partition (NULL if not hosted here), its running group (NULL
 * if not running) and, when the group runs, its status (else zeroed). */
struct sd_partition_view {
	const struct sd_ctl_topic *topic;
	struct sd_partition *sp;
	struct rl_group *g;
	struct rl_group_status st;
};

/* Fills *v; returns false when the controller state has no such topic or
 * partition (Kafka's UNKNOWN_TOPIC_OR_PARTITION). */
bool sd_partition_view(struct sd_broker *b, const char *topic, int32_t index,
		       struct sd_partition_view *v);

/* ---- Broker ------------------------------------------------------------- */

struct sd_controller; /* controller.c */
struct sd_groups;     /* kh_group.c */
struct sd_leaders;    /* broker.c */

struct sd_broker {
	uv_loop_t *loop;
	struct sd_config *cfg;
	int32_t id;
	const char *region;
	const char *rack;
	const char *cluster_id;
	uint64_t incarnation;
	struct sd_endpoint kafka_adv; /* advertised Kafka endpoint */
	struct sd_endpoint rpc_ep;
	struct sl_transport transport;
	struct sd_pm *pm;
	struct sk_server *kafka;
	struct sd_http *http;
	struct sd_metrics *metrics;
	struct sd_controller *ctl;
	struct sd_leaders *leaders;
	struct sd_groups *groups; /* group coordinators (kh_group.c) */
	uv_signal_t sigterm, sigint;
	uv_timer_t housekeeping;
	uv_timer_t drain_timer; /* shutdown.drain.timeout.ms, from SIGTERM */
	bool stopping;
	int exit_code;
};

/* Kafka handlers (kh_*.c) register themselves on the listener. */
void sd_kh_register(struct sd_broker *b);
/* Wakes long-polling fetches of a partition (new data or HWM moved). */
void sd_kh_fetch_wake(struct sd_partition *p);
/* Fails every waiting fetch of a partition that is going away. */
void sd_kh_fetch_drop_all(struct sd_partition *p);

/* ---- Consumer groups (server/kh_group.c) --------------------------------- */

/* The internal topic of committed offsets; a group's coordinator is the
 * leader of its partition cg_partition_for(group, partitions). */
#define SD_OFFSETS_TOPIC "__consumer_offsets"

/* A hosted partition's role or high watermark changed: for partitions of
 * SD_OFFSETS_TOPIC this starts, loads or stops their group coordinator. */
void sd_kh_group_event(struct sd_partition *sp);
/* A hosted partition is closing: its coordinator (if any) stops. */
void sd_kh_group_drop(struct sd_partition *sp);
/* Frees every coordinator and the timers, once the Kafka listener has
 * closed (no request is pending any more). */
void sd_kh_group_stop(struct sd_broker *b);

/* Group coordination counters of this broker, for metrics. */
struct sd_group_stats {
	uint64_t groups[CG_STATE_COUNT]; /* groups coordinated here, by state */
	uint64_t rebalances;             /* completed rebalances (generations) */
	uint64_t members_expired;        /* members removed at session timeout */
	uint64_t commits_ok, commits_failed; /* partitions of OffsetCommit */
	uint64_t partitions_loading, partitions_ready;
	uint64_t loads, load_records;    /* coordinator loads, records read back */
};
void sd_kh_group_stats(struct sd_broker *b, struct sd_group_stats *out);

/* Admin HTTP routes and metrics (admin.c): start, stop listening (drain),
 * free the registry after the loop ended. */
int sd_admin_start(struct sd_broker *b);
void sd_admin_stop(struct sd_broker *b);
void sd_admin_free(struct sd_broker *b);

/* Opens / closes hosted data partitions (broker.c), called by reconcile. */
int sd_broker_open_partition(struct sd_broker *b, const struct sd_ctl_local *l, bool bootstrap);
void sd_broker_close_partition(struct sd_broker *b, uint64_t group_id, bool delete_data);

/* ---- Locality (server/locality.c) -------------------------------------- */

/* Rack/region awareness of the broker (DESIGN.md section 6): the topology
 * (registered brokers, liveness = an established transport connection),
 * leader pinning (each leader, every SD_LOC_TICK_MS, asks
 * pl_leader_decide() and transfers leadership towards the preferred place),
 * election-timeout ranks, KIP-392 replica selection and follower reads, and
 * prompt commit notices to followers. Loop thread only. */

/* Period of the pinning pass and of the topology refresh. */
#define SD_LOC_TICK_MS 500
/* Bytes of a client rack kept from a Fetch v11 request, NUL included; a
 * longer rack_id is treated as unknown. */
#define SD_LOC_RACK_BYTES PL_NAME_BYTES_MAX

/* Where a consumer sits relative to the broker serving it. */
enum sd_loc_where {
	SD_LOC_SAME_RACK = 0,
	SD_LOC_SAME_REGION,
	SD_LOC_CROSS_REGION,
	SD_LOC_UNKNOWN, /* no rack_id, or one the topology does not match */
};

/* Returns "same_rack", "same_region", "cross_region" or "unknown". */
const char *sd_loc_where_str(enum sd_loc_where w);

/* Classifies a client rack (may be NULL or "") against a broker in my_region
 * and my_rack by pl_topology_locate(): same rack, else same region, else
 * cross-region; unknown when the client names no rack or one that matches
 * nothing. Pure. */
enum sd_loc_where sd_loc__classify(const struct pl_topology *t, const char *my_region,
				   const char *my_rack, const char *client_rack);

/* Fills out (cap entries) with the registered brokers of s as placement
 * brokers, all marked alive; names borrow from s. Returns how many, or -1 if
 * cap is too small. Pure. */
int sd_loc__brokers_from_state(const struct sd_ctl_state *s, struct pl_broker *out, int cap);

/* Returns a digest of the registered brokers' ids, regions and racks: it
 * changes when the topology must be rebuilt. Pure. */
uint64_t sd_loc__brokers_digest(const struct sd_ctl_state *s);

/* Decides whether the leader should send a follower a commit notice (an
 * empty AppendEntries carrying the commit index): only when the follower
 * holds the leader's whole log (match == last, so no entries are in flight to
 * it and its commit index cannot move backwards), the commit index moved past
 * what it was last told, and commit <= last. Pure. */
bool sd_loc__notice_due(uint64_t match_index, uint64_t last_index, uint64_t commit_index,
			uint64_t notified_commit);

/* Starts the pinning timer (call once the controller and admin run). */
int sd_locality_start(struct sd_broker *b);
/* Stops the timer and commit notices (first step of a shutdown). */
void sd_locality_stop(struct sd_broker *b);
/* Frees the topology and per-partition state once the loop has ended. */
void sd_locality_free(struct sd_broker *b);

/* The current topology (never NULL; liveness refreshed every tick). */
const struct pl_topology *sd_loc_topology(struct sd_broker *b);

/* A topic's leaders.preference and follower.read.max.staleness.ms: its
 * overrides over the broker defaults (the defaults if the topic is unknown). */
void sd_loc_topic_settings(struct sd_broker *b, const char *topic, struct pl_preference *pref,
			   int64_t *max_staleness_ms);

/* The election timeout a new replica of topic on this broker should use,
 * given the partition's voters: pl_election_timeout_live_ms() with
 * raft.election.timeout.ms as base (ranks among live voters), or 0 (the
 * template's) when the topology does not know this broker yet. The
 * locality tick re-ranks hosted replicas later (preference, topology or
 * liveness changes) through rl_group_set_election_timeout(). */
unsigned sd_loc_election_timeout_ms(struct sd_broker *b, const char *topic,
				    const int32_t *voters, int n_voters);

/* A hosted partition's high watermark or role changed (called from
 * sd_kh_fetch_wake()): notes leadership changes, schedules commit notices on
 * the leader and records visibility lag. */
void sd_loc_partition_event(struct sd_partition *sp);

/* On the leader of sp: chooses the replica a consumer at client_rack (may be
 * NULL) with identity client_hash (pl_client_hash()) should fetch
 * fetch_offset from. Returns 0 and fills *out, or a PL_ERR_* code (then the
 * leader serves). */
int sd_loc_fetch_select(struct sd_broker *b, struct sd_partition *sp, uint64_t client_hash,
			const char *client_rack, int64_t fetch_offset, struct pl_fetch_choice *out);

/* On a follower of sp: how to answer a consumer fetch at fetch_offset,
 * given the group status st (staleness first, then range, then serve or
 * wait; see pl_follower_fetch_decide()). */
enum pl_follower_fetch sd_loc_follower_decide(struct sd_broker *b, struct sd_partition *sp,
					      const struct rl_group_status *st,
					      int64_t fetch_offset);

/* One partition this broker leads, for metrics. */
struct sd_loc_led {
	const char *topic;
	int32_t partition;
	bool decided;	/* a pinning pass evaluated it */
	bool compliant; /* its leader is in the best preferred rank any live voter has */
};

/* Calls fn for every partition led here. */
void sd_loc_foreach_led(struct sd_broker *b, void (*fn)(void *arg, const struct sd_loc_led *l),
			void *arg);

struct sd_json;
/* Writes the explanation of GET /v1/explain into j: which replica would serve
 * a consumer at client_rack (may be NULL) reading (topic, partition) from
 * offset (< 0: the high watermark, a tail consumer) and why, and the
 * leader-pinning decision. The full answer comes from the partition's
 * leader; a follower explains its own serving decision and names the
 * leader. Returns 200, or 404 with msg (msg_len bytes) filled when the
 * partition is unknown. */
int sd_loc_explain(struct sd_broker *b, const char *topic, int32_t partition,
		   const char *client_rack, int64_t offset, struct sd_json *j, char *msg,
		   size_t msg_len);

/* Metrics hooks (admin.c): consumer record bytes served, by locality and
 * client rack; a preferred-replica redirect; a visibility-lag sample. */
void sd_admin_consumer_bytes(struct sd_broker *b, enum sd_loc_where w, const char *client_rack,
			     uint64_t bytes);
void sd_admin_redirect(struct sd_broker *b);
void sd_admin_visibility(struct sd_broker *b, bool leader, double seconds);

/* ---- Retention (server/retention.c) ------------------------------------ */

/* Retention counters of this broker, for metrics. */
struct sd_retention_stats {
	uint64_t passes;           /* rl_retain() passes started */
	uint64_t segments_deleted; /* segment files deleted by retention */
	uint64_t bytes_deleted;    /* their bytes */
	uint64_t failures;         /* passes refused or failed (not busy/queue full) */
};

/* Starts the retention timer (every log.retention.check.interval.ms, each
 * hosted data replica runs one pass of its topic's retention.ms /
 * retention.bytes). Returns 0 or a libuv error. */
int sd_retention_start(struct sd_broker *b);
/* Stops the timer (first step of a shutdown); passes in flight complete. */
void sd_retention_stop(struct sd_broker *b);
void sd_retention_stats(const struct sd_broker *b, struct sd_retention_stats *out);

/* A topic's effective configuration (its overrides over the cluster
 * defaults) from the applied controller state; false if the topic is
 * unknown. */
bool sd_topic_effective_config(struct sd_broker *b, const char *topic,
			       struct sd_topic_config *out);

#endif /* SD_BROKER_H */
