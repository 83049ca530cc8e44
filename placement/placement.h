/* placement: pure placement policy for stretchlog — replica assignment across
 * regions and racks, move plans, leader-preference evaluation and transfer
 * decisions, the per-partition pinning state machine (struct pl_pin, which
 * the broker and the simulator both run), election-timeout ranks,
 * closest-replica selection for fetches (KIP-392) and the follower-read
 * rule (staleness checks).
 *
 * Module contract
 * ---------------
 * - Pure policy. Nothing in this module does I/O, reads a clock, calls rand(),
 *   touches libuv or keeps state in globals. Time (now_ms, ages in ms),
 *   randomness (a seed or a client hash), topology, liveness and follower
 *   progress are inputs; decisions are outputs. The same inputs always give the
 *   same outputs, so a deterministic simulator can drive a whole cluster and
 *   replay a run from one seed.
 * - Errors. Functions that can fail return 0 or a negative PL_ERR_* code from
 *   PL_ERRNO_MAP; pl_strerror() and pl_err_name() describe a code. Where the
 *   cause deserves more than a code (bad configuration, an unsatisfiable
 *   preference) an errmsg buffer or a `detail` field receives one line of
 *   context. Bad input that can come from configuration, clients or other
 *   brokers is reported as an error; programming errors (a NULL where an
 *   object is required) trip SL_ASSERT.
 * - Memory. Allocation goes through sl_malloc()/sl_free(), so tests can fail
 *   the Nth allocation; on any error nothing is leaked and outputs own nothing.
 *   Objects created by pl_topology_new(), pl_assign() and pl_plan_moves() are
 *   owned by the caller and released with the matching *_free(). Unless a
 *   comment says otherwise, pointer parameters are borrowed for the duration
 *   of the call only.
 * - Threads. There is no shared state. A topology may be read from several
 *   threads at once, but pl_topology_set_alive() must not race with readers.
 * - Limits. Every count has a named maximum (PL_*_MAX) checked before
 *   allocating.
 *
 * Vocabulary. A *region* holds racks (availability zones); a *rack* holds
 * brokers. A broker is *live* when the topology marks it alive. The *voters*
 * of a partition are the brokers of its Raft group; its replica list puts the
 * preferred (initial) leader first.
 */
#ifndef PL_PLACEMENT_H
#define PL_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* Limits and constants                                                      */
/* ------------------------------------------------------------------------ */

/* Bytes of a region or rack name including the terminating NUL. */
#define PL_NAME_BYTES_MAX 64
/* Brokers in one topology. */
#define PL_BROKERS_MAX 4096
/* Replication factor (voters per partition) accepted by pl_assign(). */
#define PL_REPLICATION_FACTOR_MAX 15
/* Voters handed to pl_leader_decide(): a partition may briefly hold one more
 * voter than its replication factor during a move. */
#define PL_VOTERS_MAX 16
/* Replicas handed to pl_fetch_select(). */
#define PL_REPLICAS_MAX 16
/* Partitions in one assignment or move plan. */
#define PL_PARTITIONS_MAX 100000
/* Names in one leaders.preference value. */
#define PL_PREF_NAMES_MAX 8
/* Bytes of a formatted leaders.preference value, NUL included. */
#define PL_PREF_STRING_BYTES_MAX (sizeof("regions:") + PL_PREF_NAMES_MAX * PL_NAME_BYTES_MAX)
/* Bytes of an errmsg buffer or detail field that always fits a message. */
#define PL_ERRMSG_BYTES 256

/* A broker id meaning "no broker" (no leader, no choice). */
#define PL_NO_BROKER ((int32_t)-1)
/* A time meaning "never" for pl_voter_progress.healthy_since_ms. */
#define PL_TIME_NEVER INT64_MIN

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* X(name, value, message): every error this module returns. */
#define PL_ERRNO_MAP(X)                                                                            \
	X(INVAL, -1, "invalid argument")                                                           \
	X(NOMEM, -2, "out of memory")                                                              \
	X(LIMIT, -3, "a named maximum was exceeded")                                               \
	X(NAME, -4, "invalid region or rack name")                                                 \
	X(DUP_BROKER, -5, "duplicate broker id")                                                   \
	X(RACK_REGION, -6, "one rack name appears in two regions")                                 \
	X(UNKNOWN_BROKER, -7, "unknown broker id")                                                 \
	X(PREF_SYNTAX, -8, "malformed leaders.preference value")                                   \
	X(PREF_UNSATISFIABLE, -9, "no live broker in any preferred region or rack")                \
	X(NOT_ENOUGH_BROKERS, -10, "replication factor exceeds the number of live brokers")        \
	X(NOSPACE, -11, "output buffer too small")                                                 \
	X(CONFIG, -12, "unknown configuration key or value out of range")

/* Error codes returned (negated) by this module. */
enum pl_error {
#define PL__ERR_ENUM(name, value, msg) PL_ERR_##name = (value),
	PL_ERRNO_MAP(PL__ERR_ENUM)
#undef PL__ERR_ENUM
};

/* Returns a static, human-readable description of an error code. Unknown
 * codes give "unknown placement error"; 0 gives "success". */
const char *pl_strerror(int err);

/* Returns the static symbolic name of an error code ("PL_ERR_INVAL"), or
 * "PL_ERR_UNKNOWN" for a code not in PL_ERRNO_MAP and "0" for success. */
const char *pl_err_name(int err);

/* ------------------------------------------------------------------------ */
/* Topology: region > rack > broker                                          */
/* ------------------------------------------------------------------------ */

/* One broker as the controller knows it. Names must be 1..PL_NAME_BYTES_MAX-1
 * characters from [A-Za-z0-9._/-]; names are case-sensitive. */
struct pl_broker {
	int32_t id;	    /* node.id, >= 0 */
	const char *region; /* broker.region; copied by pl_topology_new() */
	const char *rack;   /* broker.rack (availability zone); copied likewise */
	bool alive;	    /* liveness as the caller currently sees it */
};

/* An immutable-shape snapshot of the cluster: brokers indexed by id, their
 * racks and regions. Only liveness may change after creation. Opaque. */
struct pl_topology;

/* Builds a topology from n brokers (copied; the array may be freed after the
 * call) and stores it in *out. Each broker id must be unique and >= 0, and a
 * rack name must belong to one region only (rack names are global, as
 * availability-zone names are). Returns 0, or PL_ERR_INVAL (n < 0, negative
 * id, NULL name), PL_ERR_LIMIT (n > PL_BROKERS_MAX), PL_ERR_NAME,
 * PL_ERR_DUP_BROKER, PL_ERR_RACK_REGION or PL_ERR_NOMEM; on error *out is NULL
 * and, if errmsg is not NULL, errmsg (errmsg_len bytes) names the offending
 * broker. An empty topology (n == 0) is valid. */
int pl_topology_new(const struct pl_broker *brokers, int n, struct pl_topology **out, char *errmsg,
		    size_t errmsg_len);

/* Releases a topology. NULL is accepted. */
void pl_topology_free(struct pl_topology *t);

/* Marks a broker alive or dead. Returns 0 or PL_ERR_UNKNOWN_BROKER. */
int pl_topology_set_alive(struct pl_topology *t, int32_t broker_id, bool alive);

/* Returns the number of brokers, regions or racks in the topology. */
int pl_topology_broker_count(const struct pl_topology *t);
int pl_topology_region_count(const struct pl_topology *t);
int pl_topology_rack_count(const struct pl_topology *t);

/* Fills *out with the i-th broker in ascending id order (0 <= i < count). The
 * name pointers borrow from the topology and stay valid until it is freed. */
void pl_topology_broker_at(const struct pl_topology *t, int i, struct pl_broker *out);

/* Finds a broker by id. Returns true and fills *out (names borrowed as above)
 * if the broker exists; returns false otherwise. */
bool pl_topology_find(const struct pl_topology *t, int32_t broker_id, struct pl_broker *out);

/* Returns the name of the i-th region (ascending byte order) or the i-th rack
 * (ascending byte order); the string borrows from the topology. */
const char *pl_topology_region_name(const struct pl_topology *t, int i);
const char *pl_topology_rack_name(const struct pl_topology *t, int i);

/* How close a client can be matched to the cluster. */
enum pl_locality_level {
	PL_LOCALITY_NONE = 0, /* no match: the client reads from the leader */
	PL_LOCALITY_REGION,   /* matched a region only */
	PL_LOCALITY_RACK,     /* matched a broker rack exactly */
};

/* Where a client sits. Names borrow from the topology; NULL when unmatched. */
struct pl_locality {
	enum pl_locality_level level;
	const char *region;
	const char *rack;
};

/* Maps a client rack string (Kafka's client.rack, may be NULL or empty) to the
 * topology. The rule, in order:
 *   1. NULL or "" matches nothing (PL_LOCALITY_NONE).
 *   2. A string equal to a broker rack matches that rack and its region
 *      (PL_LOCALITY_RACK), whether or not the rack's brokers are alive.
 *   3. A string equal to a region name matches that region.
 *   4. Otherwise, by the convention that an availability-zone name starts with
 *      its region's name ("us-east-1b" lies in "us-east-1", "us-central1-a" in
 *      "us-central1"), the string matches the region whose name is the longest
 *      proper prefix of it that ends on a token boundary: the last character
 *      of the region name and the next character of the string must not both
 *      be digits nor both be letters. So "us-east-10a" does not match region
 *      "us-east-1", and "eastus" does not match region "east".
 *   5. Anything else matches nothing.
 * Matching is byte-exact and case-sensitive. Never fails. */
void pl_topology_locate(const struct pl_topology *t, const char *client_rack,
			struct pl_locality *out);

/* ------------------------------------------------------------------------ */
/* Leader preference (topic config leaders.preference)                       */
/* ------------------------------------------------------------------------ */

/* What a leader preference names. */
enum pl_pref_kind {
	PL_PREF_NONE = 0, /* "none": no preference */
	PL_PREF_REGIONS,  /* "regions:r1[,r2...]": ordered regions */
	PL_PREF_RACKS,	  /* "racks:a[,b...]": ordered racks */
};

/* A parsed leaders.preference value: a plain value type, safe to copy. The
 * names are in preference order, distinct and valid names. */
struct pl_preference {
	enum pl_pref_kind kind;
	int n_names; /* 0 for PL_PREF_NONE, 1..PL_PREF_NAMES_MAX otherwise */
	char names[PL_PREF_NAMES_MAX][PL_NAME_BYTES_MAX];
};

/* Parses a leaders.preference value into *out. Accepted forms are exactly
 * "none", "regions:" and "racks:" followed by a comma-separated list of one
 * to PL_PREF_NAMES_MAX distinct names; spaces and tabs around the kind, the
 * names and the commas are ignored; the kind is lower case. A NULL value
 * means "none". On a malformed value returns PL_ERR_PREF_SYNTAX, leaves *out
 * as "none" and, if errmsg is not NULL, writes why and where, e.g.
 * "leaders.preference: empty name at position 2 of 'regions:a,,b'". */
int pl_preference_parse(const char *value, struct pl_preference *out, char *errmsg,
			size_t errmsg_len);

/* Formats a preference in canonical form ("none", "regions:a,b", "racks:x")
 * into buf (len bytes). Returns the string length, or PL_ERR_NOSPACE if it
 * does not fit (buf then holds ""), or PL_ERR_INVAL for an invalid
 * preference. PL_PREF_STRING_BYTES_MAX always suffices. Parsing the output
 * gives back an equal preference. */
int pl_preference_format(const struct pl_preference *pref, char *buf, size_t len);

/* Returns true if two preferences are equal (same kind and same names in the
 * same order). */
bool pl_preference_equal(const struct pl_preference *a, const struct pl_preference *b);

/* Checks a preference against a topology, as topic creation and AlterConfigs
 * should. Returns 0 if the preference is "none" or at least one preferred
 * region or rack holds a live broker; otherwise PL_ERR_PREF_UNSATISFIABLE with
 * errmsg explaining which names are unknown or have no live broker (and
 * hinting "racks:" when a region preference names a rack, or the reverse).
 * When 0 is returned but some names are unknown or down, *partial (if not
 * NULL) is set true and errmsg describes them; otherwise *partial is false. */
int pl_preference_check(const struct pl_preference *pref, const struct pl_topology *t,
			bool *partial, char *errmsg, size_t errmsg_len);

/* Returns a broker's preference rank: the index of its region (regions:) or
 * rack (racks:) in the preference list; pref->n_names when the broker is not
 * preferred or unknown to the topology; 0 for every broker under "none" or a
 * NULL pref. Ranks ignore liveness. */
int pl_preference_rank(const struct pl_preference *pref, const struct pl_topology *t,
		       int32_t broker_id);

/* ------------------------------------------------------------------------ */
/* Assignment                                                                */
/* ------------------------------------------------------------------------ */

/* Replica and leader counts a broker already carries (other topics), so that
 * several topics balance together. */
struct pl_broker_load {
	int32_t broker_id;
	int32_t replicas;
	int32_t leaders;
};

/* Warning bits of an assignment or move-plan target. */
enum pl_warning {
	/* In some partition one region holds a strict majority of the voters
	 * and it is not the region the preference puts leaders in: commits need
	 * that other region, and losing it loses the partition. */
	PL_WARN_MAJORITY_ELSEWHERE = 1u << 0,
	/* Some preferred region or rack has no live broker, or holds no voter
	 * of some partition (the replication factor or the region spread left no
	 * room for it). Leaders still go to the first live preferred entry. */
	PL_WARN_PREF_PARTIAL = 1u << 1,
	/* Some partition has two voters in one rack: its region's share of the
	 * voters exceeds the region's live racks. */
	PL_WARN_RACK_SHARED = 1u << 2,
};

/* Input of pl_assign(). All pointers are borrowed for the call. */
struct pl_assign_req {
	const struct pl_topology *topology;	/* live brokers receive replicas */
	const struct pl_preference *preference; /* NULL means "none" */
	int32_t partitions;			/* 1..PL_PARTITIONS_MAX */
	int replication_factor;			/* 1..PL_REPLICATION_FACTOR_MAX */
	const struct pl_broker_load *load;	/* existing load, may be NULL */
	int n_load;				/* entries in load; unknown ids ignored */
	uint64_t seed; /* breaks ties between equally loaded candidates, e.g. a
			* hash of the topic id, so topics created on an idle
			* cluster do not all start on the same broker */
};

/* An assignment: partitions rows of replication_factor distinct broker ids.
 * Row p starts at replicas[p * replication_factor]; its first entry is the
 * preferred (initial) leader. Owned by the caller; release with
 * pl_assignment_free(). */
struct pl_assignment {
	int32_t partitions;
	int replication_factor;
	int32_t *replicas;
	unsigned warnings;	      /* PL_WARN_* bits */
	char detail[PL_ERRMSG_BYTES]; /* context of the first warning or of the
				       * error, "" if none */
};

/* Computes a deterministic assignment of req->partitions partitions with
 * req->replication_factor voters each over the live brokers: the same
 * request (topology, preference, load, seed) gives the same rows, whatever
 * order the brokers were given to pl_topology_new() in. What it guarantees,
 * per partition, with c_r the voters in region r, n_k the voters in rack k
 * and cap_x the live brokers in region or rack x:
 *   1. The voters are replication_factor distinct live brokers.
 *   2. Region spread: c_r >= c_s + 2 implies c_s == cap_s (a region has two
 *      more voters than another only when the other is full). Hence when the
 *      replication factor is at most the number of live regions, no region
 *      holds two voters, and otherwise every live region holds one.
 *   3. Rack spread, inside each region: for racks k, l of one region,
 *      n_k >= n_l + 2 implies n_l == cap_l. Hence no two voters share a rack
 *      whenever c_r is at most the live racks of r for every region r
 *      (otherwise PL_WARN_RACK_SHARED is set). Region spread comes first.
 *   4. Preference. Under "regions:", a more preferred live region never holds
 *      fewer voters than a less preferred or unpreferred one unless it is
 *      full; so the first min(RF, live preferred regions) preferred regions
 *      each hold a voter, and the first replica is in the first preferred
 *      region that has a live broker. Under "racks:", regions rank by their
 *      best live preferred rack, racks inside a region rank likewise, and the
 *      first replica is in the first preferred rack that has a live broker.
 *   5. Balance, counting req->load plus this topic. Each partition's voters go
 *    to the least-loaded region, then rack, then broker (replicas per live
 *    broker; leaders break ties), and its preferred leader to its eligible
 *    voter with the fewest leaders (eligible: in the first live preferred
 *    region or rack, or any voter under "none"). Then, until nothing
 *    changes: (a) no single move of one replica from a broker to a broker
 *    with two fewer replicas keeps guarantees 2-4; (b) no chain of
 *    leadership moves between eligible voters takes a leader from a broker
 *    to one with two fewer leaders (an optimal semi-matching: the largest
 *    leader count is as small as these rows allow); (c) where (b) finds no
 *    chain, two voters of two partitions may trade places (replica counts
 *    unchanged, rows still meeting 2-4) to open one; the search for (c) has
 *    a fixed work budget. Consequences the tests check: within every rack,
 *    live brokers' replica counts differ by at most one; on a symmetric
 *    topology (every region the same number of live racks, every live rack
 *    the same number of live brokers) with no preference, or with
 *    "regions:" and a replication factor that is a multiple of the region
 *    count, replica counts differ by at most one, and so do leader counts
 *    (among eligible brokers); and topics assigned one after another on a
 *    symmetric topology, each with the earlier ones' load and no
 *    preference, keep total replica counts within one. Total leader counts
 *    across topics cannot always stay within one (a one-partition topic whose
 *    only broker with fewer leaders holds the most replicas must unbalance
 *    one count; replicas win); measured over thousands of random topic
 *    sequences they stay within two, three with replication factor 1 mixed
 *    in.
 * Returns 0 with *out filled (warnings and detail set), or PL_ERR_INVAL,
 * PL_ERR_LIMIT, PL_ERR_NOT_ENOUGH_BROKERS (replication factor above the live
 * brokers), PL_ERR_PREF_UNSATISFIABLE (no live broker in any preferred
 * region or rack) or PL_ERR_NOMEM, with out->detail explaining and
 * out->replicas NULL. */
int pl_assign(const struct pl_assign_req *req, struct pl_assignment *out);

/* Releases the rows of an assignment (NULL-safe) and zeroes it. */
void pl_assignment_free(struct pl_assignment *a);

/* Returns row p of an assignment (replication_factor broker ids). */
static inline const int32_t *pl_assignment_row(const struct pl_assignment *a, int32_t p)
{
	return a->replicas + (size_t)p * (size_t)a->replication_factor;
}

/* Adds an assignment's replica and leader (first replica) counts to a load
 * table, for the next topic's pl_assign(). Returns 0, or
 * PL_ERR_UNKNOWN_BROKER if a broker of the assignment has no entry in load
 * (the table is then unchanged). */
int pl_assignment_tally(const struct pl_assignment *a, struct pl_broker_load *load, int n_load);

/* ------------------------------------------------------------------------ */
/* Move plans                                                                */
/* ------------------------------------------------------------------------ */

/* One single-server membership change of one partition. */
enum pl_step_kind {
	PL_STEP_ADD_LEARNER = 0, /* add broker as a non-voting learner */
	PL_STEP_PROMOTE,	 /* make the caught-up learner a voter */
	PL_STEP_REMOVE,		 /* remove the voter */
};

/* A step of a move plan. Steps of one partition must run one at a time in
 * plan order; steps of different partitions with the same round may run
 * concurrently. */
struct pl_move_step {
	int32_t partition;
	int32_t round; /* position among this partition's steps, from 0 */
	enum pl_step_kind kind;
	int32_t broker_id;
};

/* Input of pl_plan_moves(). All pointers are borrowed for the call. */
struct pl_move_req {
	const struct pl_topology *topology;	/* the new broker set: voters on
						 * brokers that are absent or dead
						 * are moved off */
	const struct pl_preference *preference; /* NULL means "none" */
	const struct pl_assignment *current;	/* rows of distinct broker ids */
	const struct pl_broker_load *load;	/* other topics' load, may be NULL */
	int n_load;
	uint64_t seed; /* tie-breaking, as in pl_assign_req */
};

/* A move plan: the target assignment and the ordered steps that reach it. */
struct pl_move_plan {
	struct pl_assignment target;
	int n_steps;
	struct pl_move_step *steps;
	int32_t partitions_changed; /* partitions with at least one step */
};

/* Plans the membership changes that take req->current to a target that meets
 * guarantees 1-4 and 5(a)-(b) of pl_assign() on the new topology (so within
 * every rack replica counts differ by at most one), moving as few replicas
 * as it can: a partition keeps its live voters unless the spread, the
 * preference or the balance (a replica move between brokers whose counts
 * differ by two or more) needs otherwise. For each replaced voter the plan
 * has three steps: add the replacement as a learner, promote it, remove the
 * old voter; voters on absent or dead brokers are replaced first. So at every
 * point of the plan a partition has at least as many voters on live brokers
 * as it had at the start, and at most replication_factor + 1 voters. Steps
 * are ordered by round, then partition. In the target, voters that stay keep
 * their positions and the first replica is the preferred leader: the
 * current one when still eligible, unless a chain of leadership moves
 * balances leaders better (5b of pl_assign(); plans never trade voters
 * between partitions just for leader balance, as that would move data).
 * Planning again from the target on the same topology gives no steps, and so
 * does planning from pl_assign()'s output on the topology it was made for.
 * Returns 0, or the errors of pl_assign(), plus PL_ERR_INVAL for a current
 * assignment with duplicate voters in a row or out-of-range sizes; on error
 * *out owns nothing and out->target.detail explains. */
int pl_plan_moves(const struct pl_move_req *req, struct pl_move_plan *out);

/* Releases a move plan (NULL-safe) and zeroes it. */
void pl_move_plan_free(struct pl_move_plan *plan);

/* Returns "add-learner", "promote" or "remove". */
const char *pl_step_kind_str(enum pl_step_kind kind);

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

/* Tunables of leader pinning, transfer hysteresis and election offsets. */
struct pl_config {
	/* A voter is caught up when leader_last_index - match_index <= this. */
	int64_t transfer_lag_max_entries;
	/* A voter is reachable when the leader heard from it within this. */
	int64_t transfer_contact_age_max_ms;
	/* A voter receives leadership only after being healthy (alive,
	 * reachable, caught up) continuously for this long. */
	int64_t transfer_healthy_min_ms;
	/* No transfer within this long after the last leadership change. */
	int64_t transfer_cool_down_ms;
	/* Election timeout added per preference rank (see
	 * pl_election_timeout_ms()). */
	int64_t election_timeout_step_ms;
};

/* One configuration key: the single table that drives parsing, validation,
 * --help and the generated reference. */
struct pl_config_key {
	const char *name; /* Kafka-style key, e.g. "leaders.transfer.cool.down.ms" */
	int64_t min, max; /* inclusive bounds */
	int64_t default_value;
	const char *unit;	 /* "ms", "entries" */
	const char *description; /* one sentence */
};

/* Returns the table of placement configuration keys and its length in *n. */
const struct pl_config_key *pl_config_keys(size_t *n);

/* Fills *cfg with every key's default. */
void pl_config_init(struct pl_config *cfg);

/* Sets the key `name` from its decimal text `value` after checking bounds.
 * Returns 0, or PL_ERR_CONFIG with errmsg naming the key and its bounds. */
int pl_config_set(struct pl_config *cfg, const char *name, const char *value, char *errmsg,
		  size_t errmsg_len);

/* Returns 0 if every field of cfg is within its key's bounds, else
 * PL_ERR_CONFIG with errmsg naming the first offending key. */
int pl_config_validate(const struct pl_config *cfg, char *errmsg, size_t errmsg_len);

/* ------------------------------------------------------------------------ */
/* Leader choice                                                             */
/* ------------------------------------------------------------------------ */

/* What the leader knows about one voter. For the leader itself use
 * match_index = leader_last_index and last_contact_age_ms = 0. */
struct pl_voter_progress {
	int32_t broker_id;
	uint64_t match_index;	     /* highest index known replicated there */
	int64_t last_contact_age_ms; /* ms since the leader last heard from it;
				      * negative means never */
	int64_t healthy_since_ms;    /* start of its current healthy streak, or
				      * PL_TIME_NEVER; kept by pl_voter_observe() */
};

/* Returns true if a voter is healthy now: alive in the topology, heard from
 * within cfg->transfer_contact_age_max_ms and at most
 * cfg->transfer_lag_max_entries behind leader_last_index. */
bool pl_voter_healthy(const struct pl_voter_progress *v, const struct pl_topology *t,
		      const struct pl_config *cfg, uint64_t leader_last_index);

/* Updates v->healthy_since_ms for one observation at now_ms: a healthy voter
 * whose streak had not started gets now_ms; an unhealthy one gets
 * PL_TIME_NEVER. Call it on every tick or progress change before
 * pl_leader_decide(); it is the only state hysteresis needs, and the caller
 * owns it. */
void pl_voter_observe(struct pl_voter_progress *v, const struct pl_topology *t,
		      const struct pl_config *cfg, uint64_t leader_last_index, int64_t now_ms);

/* Input of pl_leader_decide(). All pointers are borrowed for the call. */
struct pl_leader_input {
	const struct pl_topology *topology;
	const struct pl_preference *preference; /* NULL means "none" */
	const struct pl_config *config;
	int32_t leader_id;			/* current leader or PL_NO_BROKER */
	uint64_t leader_last_index;		/* the leader's last log index */
	const struct pl_voter_progress *voters; /* every voter, leader included */
	int n_voters;				/* 1..PL_VOTERS_MAX */
	int64_t now_ms;
	int64_t last_change_ms; /* when leadership last changed hands */
};

/* What the leader should do about leadership. */
enum pl_leader_action {
	PL_LEADER_STAY = 0, /* keep the current leader */
	PL_LEADER_TRANSFER, /* transfer leadership to target_id */
};

/* Why. */
enum pl_leader_reason {
	PL_LEADER_NO_PREFERENCE = 0, /* stay: "none" never moves leaders */
	PL_LEADER_NO_LEADER,	     /* stay: no live current leader; an election decides */
	PL_LEADER_ALREADY_PREFERRED, /* stay: leader is in the best rank any ready voter has */
	PL_LEADER_NONE_READY,	     /* stay: better-ranked voters exist, none ready */
	PL_LEADER_COOL_DOWN,	     /* stay: a better voter is ready, but within the cool-down */
	PL_LEADER_MOVE_TO_PREFERRED, /* transfer to a ready voter of a better rank */
};

/* A decision. target_id is the voter leadership should go to (for
 * PL_LEADER_COOL_DOWN, where it will go once the cool-down ends), or
 * PL_NO_BROKER. Ranks are pl_preference_rank() values (-1 if no leader). */
struct pl_leader_decision {
	enum pl_leader_action action;
	enum pl_leader_reason reason;
	int32_t target_id;
	int leader_rank;
	int target_rank;
};

/* Decides whether the leader should transfer leadership, for leader pinning.
 * Ranks order voters by preference: under regions:a,b,c leadership belongs in
 * a while a has a ready voter, else in b, else in c, else anywhere; racks:
 * likewise; under "none" leaders never move. A voter is *ready* when it is
 * healthy now (pl_voter_healthy()) and has been healthy for at least
 * cfg->transfer_healthy_min_ms (healthy_since_ms). The decision is TRANSFER
 * only when a ready voter has a strictly better rank than the leader and
 * now_ms - last_change_ms >= cfg->transfer_cool_down_ms; the target is the
 * ready voter of the best rank with the smallest lag, then the longest
 * streak, then the lowest id. Hence it never picks a dead, unreachable or
 * lagging voter, never moves within the cool-down, and each transfer strictly
 * improves the rank, so with stable inputs leadership settles after at most
 * n_names transfers. Before RAFT_TRANSFER the caller must hold new submits
 * until the target's match index equals the last index (libraft does not
 * check). Returns 0, or PL_ERR_INVAL for a voter count out of range,
 * duplicate voters, or a leader that is not among the voters. */
int pl_leader_decide(const struct pl_leader_input *in, struct pl_leader_decision *out);

/* Returns a short static explanation of a leader reason. */
const char *pl_leader_reason_str(enum pl_leader_reason reason);

/* Returns the election timeout a voter should use so that voters in
 * preferred places time out first: base_ms + rank * step_ms, with rank from
 * pl_preference_rank() (0 for the first preferred entry, n_names for an
 * unpreferred voter, 0 for every voter under "none"). Under regions:a,b,
 * voters in a use base, in b base + step, elsewhere base + 2 * step. libraft
 * draws the real timeout from [t, 2t), so a step of at least base_ms / 2
 * makes the first preferred rank win most elections. Saturates instead of
 * overflowing. */
int64_t pl_election_timeout_ms(const struct pl_preference *pref, const struct pl_topology *t,
			       int32_t broker_id, int64_t base_ms, int64_t step_ms);

/* The rank a voter's election timeout uses once liveness is known: the
 * number of distinct pl_preference_rank() values better than broker_id's
 * that live voters of the partition (voters[0..n_voters), other than
 * broker_id; liveness from the topology) hold. So the best place that
 * still has a live voter gets rank 0: when the preferred region is down,
 * the next preferred one times out first, after the base timeout rather
 * than base + step. Under "none" every voter gets 0. */
int pl_election_rank_live(const struct pl_preference *pref, const struct pl_topology *t,
			  int32_t broker_id, const int32_t *voters, int n_voters);

/* True when broker_id is alone in the best place that has a live voter:
 * live rank 0 and no other live voter of voters[0..n_voters) shares its
 * preference rank. Such a voter may stand for election as soon as it
 * learns the leader is gone, without racing a peer of equal rank. */
bool pl_election_first(const struct pl_preference *pref, const struct pl_topology *t,
		       int32_t broker_id, const int32_t *voters, int n_voters);

/* pl_election_timeout_ms() with the live rank above:
 * base_ms + pl_election_rank_live() * step_ms, saturating. */
int64_t pl_election_timeout_live_ms(const struct pl_preference *pref, const struct pl_topology *t,
				    int32_t broker_id, const int32_t *voters, int n_voters,
				    int64_t base_ms, int64_t step_ms);

/* The election timeout a host gives broker_id's replica of a partition
 * with these voters when the replica opens and again on every re-rank
 * (liveness or the preference changed): pl_election_timeout_live_ms() over
 * the host's own topology and liveness view. Returns 0 when the topology
 * does not know broker_id yet or the result is not within 1..max_ms: the
 * host then leaves the group's timeout as it is (its base). */
int64_t pl_election_timeout_replica_ms(const struct pl_preference *pref,
				       const struct pl_topology *t, int32_t broker_id,
				       const int32_t *voters, int n_voters, int64_t base_ms,
				       int64_t step_ms, int64_t max_ms);

/* ------------------------------------------------------------------------ */
/* Leader pinning state of one partition                                     */
/* ------------------------------------------------------------------------ */

/* The Raft roles pinning distinguishes; the host maps its Raft library's
 * roles onto these. */
enum pl_role {
	PL_ROLE_UNKNOWN = 0, /* not observed yet */
	PL_ROLE_FOLLOWER,
	PL_ROLE_CANDIDATE,
	PL_ROLE_LEADER,
};

/* True when a host should tell its follower replica on broker_id to stand
 * for election early (raftlog's rl_group_leader_lost()): role is
 * PL_ROLE_FOLLOWER, the replica follows leader_id, the topology knows that
 * broker and holds it dead (the host has no connection to it: a crashed
 * process closes its connections at once, long before an election timer
 * fires), and broker_id is pl_election_first() among voters[0..n_voters).
 * leader_id <= 0 (no leader known) gives false. */
bool pl_election_leader_lost(const struct pl_preference *pref, const struct pl_topology *t,
			     int32_t broker_id, enum pl_role role, int32_t leader_id,
			     const int32_t *voters, int n_voters);

/* Peers whose healthy streaks one partition remembers: the voters, plus
 * room for voters replaced by moves. */
#define PL_PIN_PEERS_MAX (2 * PL_VOTERS_MAX)
/* A new leader re-evaluates pinning on its own events (not only on the
 * host's periodic tick) at most this often ... */
#define PL_PIN_EVAL_MIN_MS 100
/* ... during this long after it became leader (a failover's hand-over). */
#define PL_PIN_EVAL_FRESH_MS 5000

/* One peer's healthy streak (pl_voter_observe() state). */
struct pl_pin_peer {
	int32_t broker_id;
	int64_t healthy_since_ms;
};

/* The pinning state of one replica of one partition, kept by the host
 * across evaluations: the role and term last noted, the cool-down clock,
 * each voter's healthy streak and the last decision. A plain value: the
 * host owns it, initialises it with pl_pin_init() and changes it only
 * through pl_pin_note_role() and pl_pin_evaluate(); it may read every
 * field. */
struct pl_pin {
	enum pl_role role;
	uint64_t term;
	int64_t last_change_ms; /* the cool-down counts from here */
	int64_t changed_at_ms;	/* when the role or term last changed */
	bool seed_streaks;	/* elected after a failure: streaks start at liveness */
	int64_t last_eval_ms;
	bool decided;  /* decision (and compliant) describe the current term */
	bool compliant; /* the leader is in the best rank any live voter has */
	struct pl_leader_decision decision;
	int n_peers;
	struct pl_pin_peer peers[PL_PIN_PEERS_MAX];
};

/* Resets a pinning state: role unknown, nothing decided, no streaks. */
void pl_pin_init(struct pl_pin *p);

/* Notes the replica's role and term as observed at now_ms, the moment the
 * host learns of them (every role or term change should be noted when it
 * happens, so the cool-down counts from the change). leader_contact_age_ms
 * is how long ago this replica last heard from a leader (negative: never).
 * A leader elected because its predecessor went silent (no leader contact
 * for election_timeout_ms, the group's base election timeout: its own timer
 * fired; a transfer target hears from the old leader until it is told to
 * campaign) is not a hand-over that could flap: the cool-down does not
 * apply to it, and the voters' healthy streaks start at their liveness
 * streaks, so a leader elected outside the preferred place hands over to a
 * ready preferred voter at once. (libraft's pre-vote lets a follower that
 * still hears its leader refuse votes until its own election timer fires,
 * so when every survivor is needed for a majority the voter that times out
 * last wins: elections often land in a worse rank despite
 * pl_election_timeout_ms().) Any change forgets the decision and every
 * streak. Returns true if the role or the term changed. */
bool pl_pin_note_role(struct pl_pin *p, enum pl_role role, uint64_t term,
		      int64_t leader_contact_age_ms, int64_t election_timeout_ms,
		      const struct pl_config *cfg, int64_t now_ms);

/* True when a leader should evaluate pinning now on its own events rather
 * than wait for the host's tick: within PL_PIN_EVAL_FRESH_MS of the last
 * change and PL_PIN_EVAL_MIN_MS after the last evaluation. */
bool pl_pin_eval_due(const struct pl_pin *p, int64_t now_ms);

/* What the leader's Raft progress says about one voter. */
struct pl_pin_voter {
	int32_t broker_id;
	uint64_t match_index;	     /* ignored for the leader itself */
	int64_t last_contact_age_ms; /* negative: never; ignored for the leader */
	int64_t alive_since_ms;	     /* start of its liveness streak as the host
				      * sees it, or PL_TIME_NEVER */
};

/* Input of pl_pin_evaluate(). Pointers are borrowed for the call. */
struct pl_pin_input {
	const struct pl_topology *topology;
	const struct pl_preference *preference; /* NULL means "none" */
	const struct pl_config *config;
	int32_t self_id;		  /* this replica's broker id */
	uint64_t last_index;		  /* this replica's last log index */
	bool failed;			  /* the group failed: decide nothing */
	const struct pl_pin_voter *voters; /* every voter, this replica included */
	int n_voters;			  /* 0..PL_VOTERS_MAX */
	int64_t now_ms;
};

/* Evaluates pinning for a replica whose role was noted (pl_pin_note_role()
 * first, at the same now_ms). On a leader that has not failed: turns the
 * voters into pl_voter_progress, keeping each one's healthy streak in p (a
 * voter with match index 0 has not answered the new leader yet: it is not a
 * candidate and its streak is left alone; while the leader was elected
 * after a failure, a streak that has not started begins at the voter's
 * liveness streak, until every voter has answered), asks pl_leader_decide()
 * with the cool-down from p, and sets p->decided, p->decision and
 * p->compliant. Otherwise p->decided becomes false. Records now_ms as the
 * last evaluation. Returns p->decided. The host acts on a PL_LEADER_TRANSFER
 * decision (rl_group_transfer() when no transfer runs). */
bool pl_pin_evaluate(struct pl_pin *p, const struct pl_pin_input *in);

/* ------------------------------------------------------------------------ */
/* Fetch from the closest replica (KIP-392) and follower staleness           */
/* ------------------------------------------------------------------------ */

/* What the leader knows about one replica of a partition. */
struct pl_replica_state {
	int32_t broker_id;
	int64_t log_start_offset;      /* first offset it still stores */
	int64_t high_watermark;	       /* offsets below it are committed and stored there */
	int64_t leader_contact_age_ms; /* ms since it last heard from the leader
					* (the leader's estimate); negative
					* means never; ignored for the leader */
};

/* Input of pl_fetch_select(). All pointers are borrowed for the call. */
struct pl_fetch_input {
	const struct pl_topology *topology; /* regions, racks and liveness */
	const char *client_rack;	    /* Fetch v11 rack_id; may be NULL */
	int64_t fetch_offset;
	int64_t max_staleness_ms; /* follower.read.max.staleness.ms; < 0 disables
				   * follower reads */
	int32_t leader_id;	  /* must be one of the replicas */
	uint64_t client_hash;	  /* stable per client, e.g. pl_client_hash() */
	const struct pl_replica_state *replicas;
	int n_replicas; /* 1..PL_REPLICAS_MAX */
};

/* Why a replica was chosen. */
enum pl_fetch_reason {
	PL_FETCH_SAME_RACK = 0,	      /* a replica in the client's rack */
	PL_FETCH_SAME_REGION,	      /* a replica in the client's region */
	PL_FETCH_LEADER_NO_RACK,      /* client sent no rack */
	PL_FETCH_LEADER_UNKNOWN_RACK, /* client rack matches no rack or region */
	PL_FETCH_LEADER_NO_LOCAL,     /* no replica in the client's region */
	PL_FETCH_LEADER_LOCAL_DOWN,   /* the in-region replicas are down */
	PL_FETCH_LEADER_LOCAL_STALE,  /* in-region replicas beyond the staleness bound */
	PL_FETCH_LEADER_LOCAL_BEHIND, /* in-region replicas cannot serve the offset */
	PL_FETCH_LEADER_BAD_OFFSET,   /* negative fetch offset */
};

/* A choice: the broker to read from and why. */
struct pl_fetch_choice {
	int32_t broker_id;
	enum pl_fetch_reason reason;
};

/* Chooses the replica a consumer should fetch from. A replica is *eligible*
 * when it is alive, can serve the fetch offset now — log_start_offset <=
 * fetch_offset <= high_watermark; at fetch_offset == high_watermark the
 * consumer is at that replica's tail and the fetch long-polls there, which is
 * what tail consumers need — and, unless it is the leader, passes
 * pl_follower_may_serve(). The choice is the first non-empty tier among
 * eligible replicas in the client's rack, then eligible replicas in its
 * region (pl_topology_locate()), else the leader. Inside a tier the leader
 * wins if present (no redirect, freshest data); otherwise rendezvous hashing
 * on (client_hash, broker_id) picks one, so each client sticks to one replica
 * while the tier is unchanged, clients spread evenly, and a replica leaving
 * the tier moves only its own clients. The reason explains the choice for an
 * admin "explain" endpoint (pl_fetch_reason_str()); when falling back to the
 * leader it tells why the in-region replicas were not used, naming the
 * furthest check any of them passed. Returns 0, or PL_ERR_INVAL for a replica
 * count out of range, duplicate replicas, or a leader not among them. */
int pl_fetch_select(const struct pl_fetch_input *in, struct pl_fetch_choice *out);

/* Returns a static explanation such as "same-rack" or "leader: no in-region
 * replica within staleness bound". */
const char *pl_fetch_reason_str(enum pl_fetch_reason reason);

/* Returns a stable 64-bit identity for a client from its client.id and rack
 * (either may be NULL), for pl_fetch_input.client_hash. */
uint64_t pl_client_hash(const char *client_id, const char *client_rack);

/* Returns true if a follower that last heard from the current leader
 * leader_contact_age_ms ago may serve reads under the bound
 * max_staleness_ms: 0 <= age <= bound. A negative age (never heard) or a
 * negative bound (follower reads disabled) gives false. */
bool pl_follower_may_serve(int64_t leader_contact_age_ms, int64_t max_staleness_ms);

/* What a follower does with a fetch. */
enum pl_follower_fetch {
	PL_FOLLOWER_SERVE = 0,	  /* fetch_offset < high_watermark: answer now */
	PL_FOLLOWER_WAIT,	  /* fetch_offset >= high_watermark: hold until
				   * data arrives or MaxWaitMs */
	PL_FOLLOWER_REFUSE_STALE, /* NOT_LEADER_OR_FOLLOWER: client goes back to
				   * the leader */
	PL_FOLLOWER_OUT_OF_RANGE, /* fetch_offset < log_start_offset (or < 0) */
};

/* Decides how a follower answers a fetch: staleness first (a stale follower
 * refuses everything), then the offset range, then serve or wait. */
enum pl_follower_fetch pl_follower_fetch_decide(int64_t leader_contact_age_ms,
						int64_t max_staleness_ms, int64_t log_start_offset,
						int64_t high_watermark, int64_t fetch_offset);

/* What a replica knows when a consumer reads from it as a follower. */
struct pl_follower_view {
	bool follower_with_leader;	/* a follower that knows its current leader */
	int64_t last_leader_contact_ms; /* host clock of the last message from a
					 * leader; <= 0 means never */
	int64_t log_start_offset;
	int64_t high_watermark; /* this replica's own */
};

/* The follower-read rule: how a replica answers a consumer's fetch at
 * fetch_offset at now_ms (host clock) as a follower. Its leader contact age
 * is now_ms - last_leader_contact_ms (0 if the clock went backwards), or
 * "never" when it is not a follower with a known leader or never heard from
 * one; then pl_follower_fetch_decide(). So a replica serves only offsets
 * below its own high watermark, and only while it heard from a leader
 * within max_staleness_ms. */
enum pl_follower_fetch pl_follower_read_decide(const struct pl_follower_view *v, int64_t now_ms,
					       int64_t max_staleness_ms, int64_t fetch_offset);

#endif /* PL_PLACEMENT_H */
