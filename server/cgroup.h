/* cgroup: Kafka consumer groups (the classic group protocol) as a pure state
 * machine, the committed offsets of each group, and the record layout of
 * offset commits in __consumer_offsets. No I/O, no clock, no randomness:
 * time (now_ms) and a nonce for new member ids are inputs, answers that
 * must wait (JoinGroup, SyncGroup) leave through callbacks. The libuv and
 * Kafka glue is server/kh_group.c.
 *
 * Module contract
 * ---------------
 * - A struct cg_coord holds the groups of one __consumer_offsets partition
 *   this broker coordinates (it leads that partition). Groups are created on
 *   first use (JoinGroup, a simple consumer's commit, loading an offset
 *   record) and freed with the coordinator.
 * - States (Kafka's GroupCoordinator): EMPTY (no members; offsets may
 *   exist), PREPARING_REBALANCE (waiting for members to (re)join),
 *   COMPLETING_REBALANCE (joined; waiting for the leader's SyncGroup),
 *   STABLE, DEAD (only while a coordinator is being freed).
 * - Join. An unknown member (empty member id) joining with require_known
 *   (JoinGroup v4+) and no group.instance.id gets MEMBER_ID_REQUIRED with a
 *   generated id and is remembered as pending for one session timeout; it
 *   joins for real with that id. Otherwise a member is added (or updated)
 *   and a rebalance starts unless the join changes nothing in a stable
 *   group (then the current generation is returned at once). A static
 *   member (group.instance.id) that joins again with an empty id replaces
 *   its previous member id (later requests with the old id get
 *   FENCED_INSTANCE_ID) and triggers a rebalance.
 *   A rebalance completes when every member has rejoined, or at the
 *   rebalance timeout (the largest of the members'), removing members that
 *   did not rejoin. A group that was EMPTY waits initial_rebalance_delay_ms
 *   first, extended by that delay for every new member, bounded by the
 *   rebalance timeout (group.initial.rebalance.delay.ms). Completion bumps
 *   the generation, selects the protocol every member supports with the
 *   most first-choice votes, keeps the leader if it is still a member
 *   (else the first member), and answers every waiting JoinGroup; only the
 *   leader's answer lists the members with their metadata for the chosen
 *   protocol.
 * - Sync. In COMPLETING_REBALANCE SyncGroup waits until the leader's
 *   SyncGroup arrives with the assignments; then every waiting member gets
 *   its assignment (empty when the leader gave none) and the group is
 *   STABLE. In STABLE the member's current assignment is returned at once.
 *   A rebalance starting while syncs wait answers them
 *   REBALANCE_IN_PROGRESS.
 * - Liveness. Every member has a session deadline, refreshed by any valid
 *   Heartbeat, JoinGroup, SyncGroup or OffsetCommit; past it the member is
 *   removed as if it had left (LeaveGroup), which starts a rebalance.
 *   COMPLETING_REBALANCE members that do not sync within the rebalance
 *   timeout are removed the same way.
 * - Time. cg_coord_deadline_ms() is the earliest time cg_coord_tick() has
 *   work; the host calls tick at (or after) it, and after any call it must
 *   re-read the deadline.
 * - Callbacks. join_done and sync_done may run inside any call that takes
 *   now_ms (the answer can be immediate); they must not call back into this
 *   module. Each token given to cg_join()/cg_sync() gets exactly one answer,
 *   unless cg_coord_cancel() takes it back first.
 * - Offsets. A group's committed offsets are (topic, partition) -> offset,
 *   leader epoch, metadata, commit timestamp. They change only through
 *   cg_coord_apply_record(): after a commit record is committed in
 *   __consumer_offsets, and when the partition's log is read back after
 *   this broker becomes its leader, so the map is always the log's content.
 * - Errors are Kafka error codes (CG_E_*). Memory through sl_malloc(); out
 *   of memory gives a clear error to the request concerned
 *   (CG_E_COORDINATOR_NOT_AVAILABLE), never a crash or a half-made member.
 * - Limits (all named below) are checked before allocating.
 *
 * Record layout in __consumer_offsets (Kafka's, big-endian; strings are an
 * int16 length then bytes)
 * -------------------------------------------------------------------------
 *   key   int16 version = 1 (offset commit), string group, string topic,
 *         int32 partition.  (version 0 is read the same way; version 2 is
 *         Kafka's group metadata, which this broker neither writes nor
 *         needs: membership is rebuilt by the clients rejoining)
 *   value int16 version = 3, int64 offset, int32 leader epoch (-1 none),
 *         string metadata, int64 commit timestamp (ms).  (versions 0..2 are
 *         read too: v0 without epoch and timestamps, v1/v2 with commit and
 *         expire timestamps and no epoch.) A null value is a tombstone: the
 *         offset is deleted.
 * One commit request is one RecordBatch with one record per partition. */
#ifndef SD_CGROUP_H
#define SD_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Kafka error codes used by the coordinator --------------------------- */

#define CG_E_NONE			     0
#define CG_E_UNKNOWN_SERVER_ERROR	     (-1)
#define CG_E_OFFSET_METADATA_TOO_LARGE	     12
#define CG_E_COORDINATOR_LOAD_IN_PROGRESS    14
#define CG_E_COORDINATOR_NOT_AVAILABLE	     15
#define CG_E_NOT_COORDINATOR		     16
#define CG_E_ILLEGAL_GENERATION		     22
#define CG_E_INCONSISTENT_GROUP_PROTOCOL     23
#define CG_E_INVALID_GROUP_ID		     24
#define CG_E_UNKNOWN_MEMBER_ID		     25
#define CG_E_INVALID_SESSION_TIMEOUT	     26
#define CG_E_REBALANCE_IN_PROGRESS	     27
#define CG_E_INVALID_COMMIT_OFFSET_SIZE	     28
#define CG_E_INVALID_REQUEST		     42
#define CG_E_GROUP_MAX_SIZE_REACHED	     81
#define CG_E_MEMBER_ID_REQUIRED		     79
#define CG_E_FENCED_INSTANCE_ID		     82

/* ---- Limits -------------------------------------------------------------- */

/* Bytes of a group id, member id, group.instance.id, client id, protocol
 * type or protocol name (longer ones are refused with INVALID_REQUEST, or
 * INVALID_GROUP_ID for the group id). */
#define CG_GROUP_ID_BYTES_MAX	 255
#define CG_MEMBER_ID_BYTES_MAX	 512
#define CG_NAME_BYTES_MAX	 255
/* Protocols one member may offer, and bytes of one protocol's metadata or
 * one member's assignment. */
#define CG_PROTOCOLS_MAX	 32
#define CG_METADATA_BYTES_MAX	 ((size_t)1 << 20)
/* Groups one coordinator holds; offsets one group holds. */
#define CG_GROUPS_MAX		 100000
#define CG_OFFSETS_PER_GROUP_MAX 1000000
/* Bytes of a topic name in an offset (Kafka's limit). */
#define CG_TOPIC_BYTES_MAX	 249
/* Most bytes of one encoded offset key or value, given the limits above
 * and a metadata of at most CG_OFFSET_METADATA_BYTES_LIMIT. */
#define CG_OFFSET_METADATA_BYTES_LIMIT 32767
#define CG_KEY_BYTES_MAX   (2 + 2 + CG_GROUP_ID_BYTES_MAX + 2 + CG_TOPIC_BYTES_MAX + 4)
#define CG_VALUE_BYTES_MAX (2 + 8 + 4 + 2 + CG_OFFSET_METADATA_BYTES_LIMIT + 8)

/* ---- Configuration and host callbacks ------------------------------------ */

struct cg_config {
	int32_t session_timeout_min_ms;	   /* group.min.session.timeout.ms */
	int32_t session_timeout_max_ms;	   /* group.max.session.timeout.ms */
	int32_t initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms */
	int32_t members_max;		   /* group.max.size */
};

/* Fills *c with Kafka's defaults (6 s, 30 min, 3 s, 1000 members). */
void cg_config_default(struct cg_config *c);

/* One member as the leader's JoinGroup answer lists it. */
struct cg_member_info {
	const char *member_id;
	const char *instance_id; /* NULL for dynamic members */
	const uint8_t *metadata; /* for the selected protocol */
	size_t metadata_len;
};

/* A JoinGroup answer. Everything is borrowed for the callback only. */
struct cg_join_result {
	int16_t error;
	int32_t generation;	   /* -1 with an error */
	const char *protocol_type; /* NULL with an error */
	const char *protocol_name; /* NULL with an error */
	const char *leader;	   /* "" with an error */
	const char *member_id;	   /* the member's id ("" if none) */
	const struct cg_member_info *members; /* leader only, else NULL */
	int32_t n_members;
};

struct cg_env {
	void *data;
	/* Answers the JoinGroup of token. */
	void (*join_done)(void *data, void *token, const struct cg_join_result *r);
	/* Answers the SyncGroup of token: error, and the member's assignment
	 * (borrowed for the call; len 0 for none). */
	void (*sync_done)(void *data, void *token, int16_t error, const char *protocol_type,
			  const char *protocol_name, const uint8_t *assignment, size_t len);
};

/* ---- Coordinator ------------------------------------------------------------ */

struct cg_coord;
struct cg_group;

/* Creates an empty coordinator; cfg and env are copied. NULL on no memory. */
struct cg_coord *cg_coord_new(const struct cg_config *cfg, const struct cg_env *env);

/* Frees the coordinator, its groups and offsets. Every waiting JoinGroup and
 * SyncGroup is answered first with error (e.g. NOT_COORDINATOR when
 * leadership of the partition was lost). NULL-safe. */
void cg_coord_free(struct cg_coord *c, int16_t error);

/* The group named id, or NULL. */
struct cg_group *cg_coord_find(struct cg_coord *c, const char *id);

/* Runs expirations and delayed completions due at now_ms. */
void cg_coord_tick(struct cg_coord *c, uint64_t now_ms);

/* The earliest time tick has work, or UINT64_MAX. */
uint64_t cg_coord_deadline_ms(const struct cg_coord *c);

/* Takes back the answer owed to token (its connection closed): the member
 * stays, as in Kafka, but token gets no callback. Returns true if token was
 * waiting in group id. */
bool cg_coord_cancel(struct cg_coord *c, const char *id, void *token);

/* ---- Requests --------------------------------------------------------------- */

struct cg_protocol {
	const char *name;
	const uint8_t *metadata;
	size_t metadata_len;
};

struct cg_join_req {
	const char *group_id;
	const char *member_id;	  /* "" for a new member */
	const char *instance_id;  /* NULL: dynamic member */
	const char *client_id;	  /* for generated member ids */
	const char *protocol_type;
	const struct cg_protocol *protocols;
	int32_t n_protocols;
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms; /* < 0: the session timeout (JoinGroup v0) */
	bool require_known_member_id; /* JoinGroup v4+ */
	uint64_t nonce;		      /* randomness for a generated member id */
};

/* JoinGroup: the answer goes to env.join_done(token), possibly inside the
 * call. Everything in r is copied. */
void cg_join(struct cg_coord *c, void *token, const struct cg_join_req *r, uint64_t now_ms);

struct cg_assignment {
	const char *member_id;
	const uint8_t *data;
	size_t len;
};

struct cg_sync_req {
	const char *group_id;
	const char *member_id;
	const char *instance_id;   /* NULL if none */
	int32_t generation;
	const char *protocol_type; /* NULL: not checked (SyncGroup v0-4) */
	const char *protocol_name; /* NULL: not checked */
	const struct cg_assignment *assignments; /* the leader's; copied */
	int32_t n_assignments;
};

/* SyncGroup: the answer goes to env.sync_done(token), possibly inside. */
void cg_sync(struct cg_coord *c, void *token, const struct cg_sync_req *r, uint64_t now_ms);

/* Heartbeat: returns the Kafka error code to answer with. */
int16_t cg_heartbeat(struct cg_coord *c, const char *group_id, const char *member_id,
		     const char *instance_id, int32_t generation, uint64_t now_ms);

/* LeaveGroup of one member (by member id, or by instance id when member_id
 * is "" or NULL): returns the Kafka error code. */
int16_t cg_leave(struct cg_coord *c, const char *group_id, const char *member_id,
		 const char *instance_id, uint64_t now_ms);

/* May this OffsetCommit be written? Returns CG_E_NONE (and creates the
 * group for a simple consumer: generation < 0, no member) or the error
 * for every partition. A valid member's session is refreshed. */
int16_t cg_commit_check(struct cg_coord *c, const char *group_id, const char *member_id,
			const char *instance_id, int32_t generation, uint64_t now_ms);

/* ---- Offsets --------------------------------------------------------------- */

struct cg_offset {
	int64_t offset;
	int32_t leader_epoch; /* -1: none */
	int64_t commit_ms;
	const char *metadata; /* never NULL ("" for none); borrowed */
	size_t metadata_len;
};

/* Looks up the committed offset of (topic, partition) in group g (NULL
 * allowed: nothing committed). Returns false when there is none. out's
 * metadata borrows from the group until the next change. */
bool cg_offset_get(const struct cg_group *g, const char *topic, int32_t partition,
		   struct cg_offset *out);

/* Calls fn for every committed offset of g, in no particular order. fn
 * must not change the coordinator. */
void cg_offset_foreach(const struct cg_group *g,
		       void (*fn)(void *arg, const char *topic, int32_t partition,
				  const struct cg_offset *o),
		       void *arg);

/* Offsets g holds. */
size_t cg_offset_count(const struct cg_group *g);

/* ---- Records ---------------------------------------------------------------- */

/* One decoded __consumer_offsets record. */
struct cg_record {
	bool is_offset;	  /* an offset commit key; false: a key we skip */
	bool tombstone;	  /* null value: delete */
	char group[CG_GROUP_ID_BYTES_MAX + 1];
	char topic[CG_TOPIC_BYTES_MAX + 1];
	int32_t partition;
	struct cg_offset value; /* metadata borrows from the value bytes */
};

/* Encodes an offset commit key into buf (cap bytes). Returns its length, or
 * -1 if a name is too long or does not fit. */
int cg_offset_key_encode(uint8_t *buf, size_t cap, const char *group, const char *topic,
			 int32_t partition);

/* Encodes an offset commit value (version 3) into buf. Returns its length or
 * -1 (metadata above CG_OFFSET_METADATA_BYTES_LIMIT, or too small a
 * buffer). */
int cg_offset_value_encode(uint8_t *buf, size_t cap, const struct cg_offset *o);

/* Decodes one record (key and value as stored; value NULL / len -1 is a
 * tombstone). Returns 0, or -1 for bytes that are not a record this layout
 * describes (unknown versions, truncated or trailing bytes, NUL in a
 * name). */
int cg_record_decode(const uint8_t *key, int32_t key_len, const uint8_t *value, int32_t value_len,
		     struct cg_record *out);

/* Applies a decoded record to c: sets or deletes the group's offset
 * (creating the group if needed). Returns 0, or CG_E_COORDINATOR_NOT_AVAILABLE
 * on no memory or a limit (the record is then not applied). */
int cg_coord_apply_record(struct cg_coord *c, const struct cg_record *r);

/* ---- Observation --------------------------------------------------------- */

enum cg_state {
	CG_EMPTY = 0,
	CG_PREPARING_REBALANCE,
	CG_COMPLETING_REBALANCE,
	CG_STABLE,
	CG_DEAD,
	CG_STATE_COUNT,
};

/* "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead". */
const char *cg_state_name(enum cg_state s);

enum cg_state cg_group_state(const struct cg_group *g);
int32_t cg_group_generation(const struct cg_group *g);
int32_t cg_group_member_count(const struct cg_group *g);
/* The leader's member id, "" when there is none. */
const char *cg_group_leader(const struct cg_group *g);
/* The selected protocol name, "" before the first completed join. */
const char *cg_group_protocol(const struct cg_group *g);

/* Counters of one coordinator. */
struct cg_stats {
	uint64_t groups[CG_STATE_COUNT]; /* groups by state, now */
	uint64_t rebalances;		 /* completed joins (generations) */
	uint64_t members_expired;	 /* session timeouts */
};
/* Adds c's counters to *out (so several coordinators sum up). */
void cg_coord_stats(const struct cg_coord *c, struct cg_stats *out);

/* Java's String.hashCode of id's bytes made non-negative the way Kafka does
 * (& 0x7fffffff), modulo n: the __consumer_offsets partition of a group.
 * Equal to Kafka's choice for ASCII group ids. n must be > 0. */
int32_t cg_partition_for(const char *id, int32_t n);

#endif /* SD_CGROUP_H */
