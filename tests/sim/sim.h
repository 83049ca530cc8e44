/* tests/sim/sim.h: the deterministic cluster simulator's shared state.
 *
 * One run (one seed) builds a cluster of brokers in one process: each
 * broker has a manual rl_writer over the simulated disk (simfs.h) and one
 * replica (rl_log + rl_group) per group it hosts; replicas talk through the
 * simulated network (simnet.h) in server/rpc_codec.h form. A virtual clock
 * jumps from event to event (a message, a Raft timeout, a writer pass, a
 * client submission, a fault); after every event the invariants in check.c
 * are checked. Everything random comes from one seeded generator.
 *
 * Locality (loc.c): brokers sit in regions and racks; every broker runs
 * the broker's leader pinning (placement's pl_pin state machine, transfers
 * through rl_group_transfer()), live-rank election timeouts re-ranked every
 * tick, the early election when a leader's broker is gone, and the groups'
 * vote guard, on its own view of liveness, and simulated consumers read
 * from replicas through the
 * follower-read rule (pl_follower_read_decide()) on the virtual clock,
 * checked against the committed registry and the network's record of who
 * heard from whom. Scenarios (scenario.c) drive named situations: a region
 * failing and recovering, a follower cut off from its leader.
 *
 * Files: node.c (replica lifecycle, crash and restart, message routing),
 * check.c (invariants), loc.c (locality), scenario.c (scripted scenarios),
 * run.c (one seed: workload, faults, heal), main.c (command line, seed
 * loop, summary). */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "placement/placement.h"
#include "raftlog/raftlog.h"
#include "tests/sim/rng.h"
#include "tests/sim/simfs.h"
#include "tests/sim/simnet.h"

#define SIM_BROKERS_MAX 5
#define SIM_GROUPS_MAX 6
#define SIM_RF_MAX 5
#define SIM_NEVER UINT64_MAX
#define SIM_REGIONS 3
#define SIM_CONSUMERS_MAX 12
/* The broker's locality tick (SD_LOC_TICK_MS in server/broker.h). */
#define SIM_LOC_TICK_MS 500
/* Largest rank election timeout handed to a group (the broker's
 * LOC_ELECTION_TIMEOUT_MAX_MS in server/locality.c). */
#define SIM_ELECTION_MS_MAX (3600 * 1000)

/* What a seed runs. */
enum sim_scenario {
	SIM_SCENARIO_DRAW = 0,	  /* the seed picks one of the below */
	SIM_SCENARIO_CHAOS,	  /* random faults, pinning, consumers throughout */
	SIM_SCENARIO_REGION_FAIL, /* region a fails and recovers (regions:a,b,c) */
	SIM_SCENARIO_FOLLOWER_CUT, /* a follower loses its leader (one-way, two-way) */
	SIM_SCENARIOS
};

/* Parses a scenario name ("chaos", "region-fail", "follower-cut", "draw");
 * returns false if unknown. */
bool sim_scenario_parse(const char *name, enum sim_scenario *out);
const char *sim_scenario_name(enum sim_scenario sc);

/* Counters of one or many runs. */
struct sim_stats {
	uint64_t seeds;
	uint64_t steps;
	uint64_t virtual_ms;
	uint64_t submits;
	uint64_t acked_all;  /* acks=all batches acknowledged */
	uint64_t acked_one;  /* acks=1 batches acknowledged */
	uint64_t rejected;   /* submissions answered with an error */
	uint64_t crashes;    /* power failures (unsynced writes lost or torn) */
	uint64_t kills;      /* process kills (unsynced writes survive) */
	uint64_t mid_pass;   /* of which in the middle of a writer pass */
	uint64_t torn;       /* writes torn by crashes */
	uint64_t ops_lost;   /* unsynced file operations lost by crashes */
	uint64_t stops;      /* clean broker stops */
	uint64_t io_errors;  /* disk errors injected (the broker restarts) */
	uint64_t failovers;  /* leader changed to another broker */
	uint64_t transfers;  /* leadership transfers requested */
	uint64_t partitions; /* partitions and one-way cuts */
	uint64_t msgs;       /* messages delivered */
	uint64_t dropped;    /* messages dropped */
	uint64_t full_checks;
	uint64_t retained;     /* segments deleted by retention */
	uint64_t cu_transfers; /* catch-up transfers started */
	uint64_t cu_installs;  /* snapshots installed with the missing data */
	uint64_t cu_fallbacks; /* snapshots installed metadata-only */
	uint64_t cu_bytes;     /* catch-up data bytes appended */
	uint64_t bursts;       /* client events submitting several batches at once */
	uint64_t merged_entries; /* entries merged from several batches */
	uint64_t merged_batches; /* batches that went into them */
	uint64_t max_term;
	uint64_t max_index;
	/* Locality. */
	uint64_t scen_chaos, scen_region_fail, scen_follower_cut; /* seeds run */
	uint64_t pin_transfers;  /* transfers started by leader pinning */
	uint64_t reranks;	 /* election timeouts changed by the live rank */
	uint64_t early_elections; /* followers told their leader was lost */
	uint64_t reads;		 /* consumer fetches */
	uint64_t follower_reads; /* of which answered by a follower (served or held) */
	uint64_t stale_refusals; /* of which refused by a follower: beyond the bound */
	uint64_t batches_read;	 /* batches consumers read and checked */
	uint64_t failover_ms_max; /* region-fail: longest time until every leader was in b */
	uint64_t failback_ms_max; /* region-fail: longest recovery until every leader was back in a */
	/* region-fail: the largest share (per cent) of its bound that one group's
	 * failover (or failback) used, and groups whose own election timer
	 * fired before their early election was due (see scenario.c). The
	 * group holds that timer back while the early election is armed, so
	 * this only happens while it is not: a message the failed leader sent
	 * earlier landed after the failure was seen and cancelled it, and the
	 * next loc tick had not re-armed it yet (with e below the tick). */
	uint64_t failover_bound_pct_max;
	uint64_t failback_bound_pct_max;
	uint64_t early_preempted;
	uint64_t cutoff_ms_max;	  /* follower-cut: longest time from the cut to the first refusal */
};

struct sim;
struct sim_group;
struct sim_broker;

/* How a broker stops. */
enum sim_stop {
	SIM_STOP_CLEAN = 1, /* pending writes complete, then the process exits */
	SIM_STOP_KILL,      /* the process dies: pending writes fail, the page
			     * cache (unsynced writes) survives */
	SIM_STOP_POWER      /* the machine loses power: unsynced writes are
			     * kept, lost or torn */
};

/* What the checker knows about one entry (index, term) of a group. */
struct sim_variant {
	uint64_t term;
	uint32_t crc;      /* CRC-32C of the whole batch */
	uint32_t tail_crc; /* CRC-32C from the magic byte on (what a producer sent) */
	uint32_t len;
	int64_t base_offset;
	int64_t last_offset;
	/* kp_record_crc of each record, in offset order (a merged entry holds
	 * several producers' records). */
	uint32_t *rec_crc;
	uint32_t n_recs;
};

/* Every variant seen at one Raft index, and the committed term if known. */
struct sim_slot {
	struct sim_variant *v;
	unsigned n;
	unsigned cap;
	uint64_t committed_term; /* 0 = not known to be committed */
	/* Lowest current term of a replica seen holding it committed: the
	 * leader that committed it had a term at most this, so every leader
	 * of a higher term must hold it (older leaders need not). */
	uint64_t committed_seen_term;
};

/* One replica: a group on a broker. */
struct sim_node {
	struct sim *sim;
	struct sim_broker *broker;
	struct sim_group *group;
	char dir[64];
	struct rl_log *log;
	struct rl_group *g;
	bool open;
	bool close_done;
	/* Checker: the term of every verified entry, by index. */
	uint64_t *ver;
	uint64_t ver_cap;
	uint64_t ver_first; /* first index of the log when verified */
	uint64_t ver_last;  /* last verified index */
	uint64_t commit_checked;
	uint64_t leader_checked_term;
	/* Durability across a crash: entries ver[first..expect] were durable. */
	uint64_t durable_first;
	uint64_t durable_expect;
	bool durable_check;
	/* Messages sent: highest term, and the last vote granted. */
	uint64_t max_sent_term;
	uint64_t granted_term;
	uint64_t granted_for;
	/* Locality: the broker's pinning state for this replica, and when this
	 * replica last received an AppendEntries or InstallSnapshot from each
	 * broker (the network's truth, 0 = never). */
	struct pl_pin pin;
	uint64_t heard_ms[SIM_BROKERS_MAX + 1];
	uint64_t early_term; /* term of the last early election armed (stats) */
	uint64_t campaigned_ms; /* first time it became a candidate since a
				 * scenario cleared this (0: not since) */
};

/* One broker: a writer, a disk tag, a network address. */
struct sim_broker {
	unsigned id;
	bool up;
	bool crash_armed; /* simfs will freeze it inside a writer pass */
	enum sim_stop crash_how; /* what the armed crash is: KILL or POWER */
	bool frozen;      /* its disk froze: crash it after the pass */
	bool error_armed; /* simfs will fail one of its calls with EIO */
	bool disk_error;  /* that happened: restart it */
	struct rl_writer *w;
	uint64_t writer_due;
	uint64_t restart_at;
	unsigned disk_min_ms;
	unsigned disk_max_ms;
	uint64_t stall_until;
	struct sim_node *nodes[SIM_GROUPS_MAX]; /* by group index; NULL = none */
	/* Locality: where it sits, its own view of the cluster (liveness =
	 * up and reachable both ways, like a transport connection) and since
	 * when it has seen each broker alive; the next pinning tick. */
	unsigned region;
	char region_name[8];
	char rack[16];
	struct pl_topology *topo;
	int64_t alive_since_ms[SIM_BROKERS_MAX + 1];
	uint64_t loc_due;
};

/* One group (partition) and the checker's registry of its entries. */
struct sim_group {
	unsigned idx;
	uint64_t id;
	unsigned n_replicas;
	struct sim_node nodes[SIM_RF_MAX];
	struct sim_slot *slots; /* by Raft index */
	uint64_t n_slots;
	uint64_t committed_upto;
	uint64_t *leader_of_term; /* broker id by term */
	uint64_t n_terms;
	uint64_t last_leader;
	unsigned next_batch;
	/* Locality: topic settings and leadership changes seen. */
	struct pl_preference pref;
	int64_t max_staleness_ms; /* follower.read.max.staleness.ms; < 0: off */
	uint64_t leader_changes;
	uint64_t leader_changed_ms;
};

/* A consumer reading one group from its home replica (falling back to the
 * leader when the follower refuses or is down), like a KIP-392 client. */
struct sim_consumer {
	struct sim_group *group;
	unsigned home; /* broker id */
	int64_t offset; /* next offset to fetch */
	uint64_t next_ms;
	unsigned gap_ms;
	/* Reads from home while it was a follower: the last one it answered
	 * (served or held) and the last refusal. */
	uint64_t accepted_ms;
	uint64_t refused_ms;
	uint64_t first_refused_ms; /* the first since it was last cleared */
};

/* A client's submission. */
struct sim_sub {
	struct rl_submit_req req;
	struct sim *sim;
	struct sim_group *group;
	unsigned broker;
	int status; /* 1 = pending */
	bool probe; /* a convergence probe after healing */
	uint32_t *rec_crc; /* kp_record_crc of each record the producer sent */
	uint32_t n_recs;
	struct sim_sub *next;
};

/* Per-run settings drawn from the seed. */
struct sim_config {
	unsigned n_brokers;
	unsigned n_groups;
	unsigned rf;
	unsigned election_ms;
	unsigned heartbeat_ms;
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	unsigned segment_bytes;
	unsigned submits;     /* client submissions in the chaos phase */
	uint64_t chaos_ms;    /* length of the chaos phase */
	uint64_t heal_ms_max; /* time allowed to converge after healing */
	unsigned fault_gap_ms;
	unsigned client_gap_ms;
	unsigned drop_permille;
	unsigned catchup_window_bytes;
	enum sim_scenario scenario;
	bool pinning; /* leader pinning and rank election timeouts run */
	bool host_flushes; /* the host calls rl_group_flush() after each event */
};

struct sim {
	uint64_t seed;
	int verbose; /* 1: events, 2: + messages, 3: + every disk call */
	bool strict; /* known issues fail too */
	struct sim_rng rng;
	struct sim_config cfg;
	uint64_t now;
	uint64_t step;
	struct simfs *fs;
	struct simnet *net;
	struct sim_broker brokers[SIM_BROKERS_MAX + 1]; /* by id, 1-based */
	struct sim_group groups[SIM_GROUPS_MAX];
	struct rl_group_env env;
	struct sim_sub *pending;  /* submitted, callback not yet run */
	struct sim_sub *answered; /* callback ran, not yet checked */
	uint8_t *scratch;
	size_t scratch_cap;
	struct sim_stats stats;
	bool healing;
	struct pl_config pcfg; /* pinning tunables (scaled to the run's timeouts) */
	struct sim_consumer consumers[SIM_CONSUMERS_MAX];
	unsigned n_consumers;
};

/* Reports a violated invariant with the seed and step and exits(1). */
_Noreturn void sim_fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reports a recognised, already reported bug outside the simulator (name
 * says which) with the seed and step, and exits(SIM_EXIT_KNOWN); in strict
 * mode it is a failure like sim_fail(). */
_Noreturn void sim_known(struct sim *s, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Exit status of a seed that hit a known issue. */
#define SIM_EXIT_KNOWN 4

/* What a seed's process reports to the runner (main.c) through
 * sim_result_fd. */
struct sim_result {
	uint32_t known;       /* 1: a known issue, named below */
	char known_name[48];
	struct sim_stats stats;
};

/* Where sim_known() writes its struct sim_result (-1: nowhere). */
extern int sim_result_fd;

/* Prints a trace line when verbose. */
void sim_trace(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* node.c */
void sim_nodes_init(struct sim *s);
void sim_broker_start(struct sim *s, struct sim_broker *b, bool bootstrap);
void sim_broker_stop(struct sim *s, struct sim_broker *b, enum sim_stop how);
bool sim_broker_busy(const struct sim_broker *b);
void sim_broker_run_writer(struct sim *s, struct sim_broker *b);
struct sim_node *sim_leader(struct sim *s, struct sim_group *grp);

/* check.c */
void sim_check_step(struct sim *s);
void sim_check_node(struct sim *s, struct sim_node *n);
void sim_check_full(struct sim *s);
void sim_check_before_crash(struct sim *s, struct sim_node *n);
void sim_check_after_restart(struct sim *s, struct sim_node *n);
void sim_check_note_send(struct sim_node *n, const struct raft_message *msg);
/* Reads entry index of n into s->scratch (fails the run on an error). */
void sim_read_entry(struct sim *s, struct sim_node *n, uint64_t index, struct rl_entry_info *info);
/* A consumer was served entry index of n (bytes in s->scratch) by a
 * replica whose high watermark is hwm: it must lie below hwm, within the
 * cluster's committed prefix, and be the committed entry. */
void sim_check_consumed(struct sim *s, struct sim_node *n, uint64_t index,
			const struct rl_entry_info *e, int64_t hwm);
bool sim_check_answers_done(struct sim *s);
/* The kp_record_crc of every record of a whole batch, sl_malloc'd into
 * *out (NULL when it has none); returns the count, or -1 if the records do
 * not decode. */
int sim_record_crcs(const uint8_t *batch, size_t len, uint32_t **out);
void sim_check_free(struct sim *s);

/* loc.c */
void sim_loc_setup_brokers(struct sim *s);
/* Fills each group's voters from pl_assign() over the brokers' regions
 * with regions:a,b,c. */
bool sim_loc_assign(struct sim *s, unsigned rows[SIM_GROUPS_MAX][SIM_RF_MAX]);
void sim_loc_setup_groups(struct sim *s);
void sim_loc_setup_consumers(struct sim *s);
unsigned sim_loc_election_ms(struct sim *s, const struct sim_node *n);
void sim_loc_node_opened(struct sim *s, struct sim_node *n);
void sim_loc_broker_started(struct sim *s, struct sim_broker *b);
void sim_loc_heard(struct sim *s, struct sim_node *n, unsigned from,
		   const struct raft_message *msg);
void sim_loc_step(struct sim *s);
void sim_loc_tick(struct sim *s, struct sim_broker *b);
uint64_t sim_loc_next_read(const struct sim *s, struct sim_consumer **c);
void sim_loc_read(struct sim *s, struct sim_consumer *c);
void sim_loc_free(struct sim *s);
unsigned sim_region_of_leader(struct sim *s, struct sim_group *grp); /* SIM_REGIONS if none */

/* scenario.c */
void sim_scenario_region_fail(struct sim *s);
void sim_scenario_follower_cut(struct sim *s);

/* run.c */
int sim_run_seed(uint64_t seed, int verbose, bool strict, enum sim_scenario scenario,
		 struct sim_stats *out);
/* Runs events until virtual time end or until done(s) holds (polled every
 * few steps; NULL: never). Returns true if done() held. */
bool sim_run_until(struct sim *s, uint64_t end, bool (*done)(struct sim *s));
/* Stops random faults (scenarios script their own). */
void sim_faults_off(struct sim *s);

#endif /* SIM_SIM_H */
