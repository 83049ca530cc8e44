/* ctl_state: the controller's replicated state machine (Raft group 0) —
 * commands, their binary encoding, the state they build, topic planning on
 * the leader and the per-broker reconcile view. Pure and deterministic.
 *
 * Module contract
 * ---------------
 * - Pure. Nothing here does I/O, reads a clock, calls rand() or touches libuv
 *   or Raft. The broker hosts group 0 and its log; it hands committed entries
 *   to sd_ctl_apply_entry() in index order. Time (a batch timestamp),
 *   randomness (a new topic id) and liveness (which brokers the leader hears)
 *   are inputs. Two states that apply the same entries are equal, byte for
 *   byte of sd_ctl_state_digest().
 * - Entries. A controller log entry is one RecordBatch v2 (or several
 *   concatenated) whose records each carry one command in the record value
 *   (key null). sd_ctl_batch_build() makes such a batch; control batches
 *   (BARRIER, CONFIG: rl_batch_kind()) carry no commands and are skipped.
 * - Apply. Every committed entry is applied, even when a command is invalid
 *   against the state (two racing creates of one name both commit): such a
 *   command is a no-op whose reason is returned as an outcome. Applying is
 *   idempotent by position: the state remembers the (Raft index, command
 *   number inside the entry) last applied and ignores anything at or before
 *   it. An entry that does not decode at all is skipped whole, the same way on
 *   every replica.
 * - Errors. Functions return 0 or a negative SD_CTL_E* code from
 *   SD_CTL_ERRORS; sd_ctl_strerror() and sd_ctl_err_name() describe one.
 *   Hostile bytes only ever give an error. Programming errors (NULL where an
 *   object is required) trip SL_ASSERT.
 * - Memory. Allocation goes through sl_malloc()/sl_free(). On any error
 *   nothing is leaked and outputs own nothing. Applying is atomic per
 *   command: after SD_CTL_ENOMEM the failing command left the state as it
 *   was, and calling sd_ctl_apply_entry() again with the same entry resumes
 *   after the commands it had already applied.
 * - Liveness and partition leadership are not replicated state: the leader
 *   passes the brokers it hears from to the planners, and leaders are learned
 *   from the partitions' own groups.
 * - Limits. Every count and length has a named maximum (SD_CTL_*_MAX),
 *   checked while decoding before anything is allocated.
 *
 * Command encoding, version 1 (one command = one record value; big-endian)
 * --------------------------------------------------------------------------
 *   u8 version (SD_CTL_CMD_VERSION) | u8 type (enum sd_ctl_cmd_type) | body
 * with, in bodies:
 *   str    u16 length, then that many bytes (no NUL byte)
 *   nstr   str, or u16 0xFFFF for null
 *   ref    nstr topic name, u8[16] topic id (null name: by id; zero id: by
 *          name; both given: both must match)
 *   part   u64 group id, u8 n_replicas, n_replicas x i32 broker id
 * bodies:
 *   REGISTER_BROKER     i32 id, str region, str rack, str kafka host,
 *                       u16 kafka port, str rpc host, u16 rpc port,
 *                       u64 incarnation
 *   UNREGISTER_BROKER   i32 id, u64 incarnation (0: any)
 *   CREATE_TOPIC        str name, u8[16] id, u16 replication factor,
 *                       u32 n_partitions, u16 n_configs,
 *                       n_configs x (str key, str value), n_partitions x part
 *   DELETE_TOPIC        ref
 *   ALTER_TOPIC_CONFIGS ref, u16 n_ops, n_ops x (str key, nstr value; a null
 *                       value deletes the key)
 *   CREATE_PARTITIONS   ref, i32 first_index, u32 n_partitions,
 *                       n_partitions x part
 *   REASSIGN            ref, i32 partition, u8 n_replicas,
 *                       n_replicas x i32 broker id
 * A command is exactly as long as its fields: trailing bytes are malformed.
 * Any change to a layout bumps SD_CTL_CMD_VERSION; decoders reject versions
 * they do not know, so a leader must not write a version some voter cannot
 * read. */
#ifndef SD_CTL_STATE_H
#define SD_CTL_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "placement/placement.h"
#include "proto/proto.h"

/* ------------------------------------------------------------------------ */
/* Limits and constants                                                      */
/* ------------------------------------------------------------------------ */

/* Version byte written first in every encoded command. */
#define SD_CTL_CMD_VERSION 1
/* Bytes of a topic id (a UUID). */
#define SD_CTL_TOPIC_ID_BYTES 16
/* Characters of a topic name (Kafka's limit). */
#define SD_CTL_TOPIC_NAME_MAX 249
/* Characters of a region or rack name (placement's PL_NAME_BYTES_MAX - 1). */
#define SD_CTL_LOCATION_NAME_MAX (PL_NAME_BYTES_MAX - 1)
/* Characters of an endpoint host. */
#define SD_CTL_HOST_MAX 255
/* Characters of a topic config key, and bytes of its value. */
#define SD_CTL_CONFIG_KEY_MAX	255
#define SD_CTL_CONFIG_VALUE_MAX 4096
/* Configs of one topic, and set/delete operations in one alter command. */
#define SD_CTL_CONFIGS_MAX 64
/* Replicas of one partition. A move may briefly need one more than the
 * largest replication factor, hence the voter limit of placement. */
#define SD_CTL_REPLICAS_MAX PL_VOTERS_MAX
/* Replication factor of a new topic. */
#define SD_CTL_REPLICATION_FACTOR_MAX PL_REPLICATION_FACTOR_MAX
/* Partitions of one topic (and added by one CREATE_PARTITIONS). Keeps one
 * command under SD_CTL_CMD_BYTES_MAX even at the largest replication factor. */
#define SD_CTL_TOPIC_PARTITIONS_MAX 10000
/* Bytes of one encoded command. */
#define SD_CTL_CMD_BYTES_MAX ((size_t)1 << 20)
/* Bytes of one controller entry (all its batches), and commands in it. */
#define SD_CTL_ENTRY_BYTES_MAX ((size_t)8 << 20)
#define SD_CTL_ENTRY_CMDS_MAX  1024
/* What one state may hold. */
#define SD_CTL_BROKERS_MAX    PL_BROKERS_MAX
#define SD_CTL_TOPICS_MAX     100000
#define SD_CTL_PARTITIONS_MAX 1000000
/* Bytes of a result detail or plan message, NUL included. */
#define SD_CTL_MSG_BYTES 512
/* Group 0 is the controller; data partitions get group ids from 1 up. */
#define SD_CTL_CONTROLLER_GROUP_ID 0
#define SD_CTL_FIRST_DATA_GROUP_ID 1

/* Kafka error codes that planning returns. */
#define SD_CTL_KAFKA_UNKNOWN_TOPIC_OR_PARTITION 3
#define SD_CTL_KAFKA_INVALID_TOPIC_EXCEPTION	17
#define SD_CTL_KAFKA_TOPIC_ALREADY_EXISTS	36
#define SD_CTL_KAFKA_INVALID_PARTITIONS		37
#define SD_CTL_KAFKA_INVALID_REPLICATION_FACTOR 38
#define SD_CTL_KAFKA_INVALID_CONFIG		40
#define SD_CTL_KAFKA_POLICY_VIOLATION		44

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* X(name, value, message): every error this module returns. */
#define SD_CTL_ERRORS(X)                                                                           \
	X(SD_CTL_EINVAL, -1, "invalid argument")                                                   \
	X(SD_CTL_ENOMEM, -2, "out of memory")                                                      \
	X(SD_CTL_ETRUNC, -3, "command shorter than its fields")                                    \
	X(SD_CTL_EMALFORMED, -4, "malformed command")                                              \
	X(SD_CTL_EVERSION, -5, "unsupported command version")                                      \
	X(SD_CTL_ETYPE, -6, "unknown command type")                                                \
	X(SD_CTL_ELIMIT, -7, "a count or length exceeds its limit")                                \
	X(SD_CTL_EBATCH, -8, "invalid record batch")                                               \
	X(SD_CTL_EREFUSED, -9, "refused; see the Kafka error code and message")                    \
	X(SD_CTL_EEXIST, -10, "topic id already in use")                                           \
	X(SD_CTL_EPLACEMENT, -11, "placement failed")                                              \
	X(SD_CTL_ECORRUPT, -12, "state invariant broken")

/* Error codes returned (negated) by this module. */
enum sd_ctl_error {
#define SD_CTL__ERR_ENUM(name, value, msg) name = (value),
	SD_CTL_ERRORS(SD_CTL__ERR_ENUM)
#undef SD_CTL__ERR_ENUM
};

/* Returns a static description of an error code: "success" for 0 and
 * "unknown controller error" for a code outside SD_CTL_ERRORS. */
const char *sd_ctl_strerror(int err);

/* Returns the static symbolic name of an error code ("SD_CTL_EINVAL"), "0"
 * for success or "SD_CTL_EUNKNOWN". */
const char *sd_ctl_err_name(int err);

/* ------------------------------------------------------------------------ */
/* Values shared by commands and the state                                   */
/* ------------------------------------------------------------------------ */

/* A listener address. host is 1..SD_CTL_HOST_MAX printable ASCII characters
 * without spaces; port is 1..65535. */
struct sd_ctl_endpoint {
	const char *host;
	uint16_t port;
};

/* A registered broker. region and rack follow placement's name rule:
 * 1..SD_CTL_LOCATION_NAME_MAX characters of [A-Za-z0-9._/-]. */
struct sd_ctl_broker {
	int32_t id; /* node.id, >= 0 */
	const char *region;
	const char *rack;
	struct sd_ctl_endpoint kafka; /* advertised Kafka listener */
	struct sd_ctl_endpoint rpc;   /* inter-broker RPC listener */
	uint64_t incarnation;	      /* grows on every broker start (epoch) */
};

/* One topic config, or one alter operation (value NULL deletes the key).
 * Keys are 1..SD_CTL_CONFIG_KEY_MAX printable ASCII characters without
 * spaces; values are 0..SD_CTL_CONFIG_VALUE_MAX bytes without NUL. Values are
 * stored as given; server/config.c validates them. */
struct sd_ctl_config {
	const char *key;
	const char *value;
};

/* One partition: its Raft group and its replicas in order (the first is the
 * preferred leader). Replicas are distinct broker ids >= 0. */
struct sd_ctl_partition {
	uint64_t group_id;  /* >= SD_CTL_FIRST_DATA_GROUP_ID, never reused */
	int32_t n_replicas; /* 1..SD_CTL_REPLICAS_MAX */
	int32_t replicas[SD_CTL_REPLICAS_MAX];
	/* In the state: REASSIGN commands applied to this partition so far.
	 * 0 means replicas is still the initial list, which the initial voters
	 * bootstrap the group with. In commands: not encoded, must be 0. */
	uint32_t replica_epoch;
};

/* A topic. In a CREATE_TOPIC command every partition has exactly
 * replication_factor replicas and the group ids strictly increase; in the
 * state, configs are sorted by key (byte order) and partition i is
 * partitions[i]. */
struct sd_ctl_topic {
	const char *name;		   /* Kafka's rule, see sd_ctl_topic_name_valid() */
	uint8_t id[SD_CTL_TOPIC_ID_BYTES]; /* not all zero */
	int32_t replication_factor;	   /* 1..SD_CTL_REPLICATION_FACTOR_MAX */
	int32_t n_configs;		   /* 0..SD_CTL_CONFIGS_MAX */
	const struct sd_ctl_config *configs;
	int32_t n_partitions; /* 1..SD_CTL_TOPIC_PARTITIONS_MAX */
	const struct sd_ctl_partition *partitions;
};

/* Names a topic in later commands: by name (id all zero), by id (name NULL)
 * or both (both must match, which protects a command planned against a topic
 * from landing on a re-created topic of the same name). */
struct sd_ctl_topic_ref {
	const char *name;
	uint8_t id[SD_CTL_TOPIC_ID_BYTES];
};

/* Returns true if name is a valid Kafka topic name: 1..SD_CTL_TOPIC_NAME_MAX
 * characters of [a-zA-Z0-9._-], and neither "." nor "..". */
bool sd_ctl_topic_name_valid(const char *name);

/* Returns the value of a topic config key, borrowed from t, or NULL if the
 * key is not set. */
const char *sd_ctl_topic_config(const struct sd_ctl_topic *t, const char *key);

/* ------------------------------------------------------------------------ */
/* Commands                                                                  */
/* ------------------------------------------------------------------------ */

/* Command types; the numbers are on the wire. */
enum sd_ctl_cmd_type {
	SD_CTL_CMD_REGISTER_BROKER = 1,
	SD_CTL_CMD_UNREGISTER_BROKER = 2,
	SD_CTL_CMD_CREATE_TOPIC = 3,
	SD_CTL_CMD_DELETE_TOPIC = 4,
	SD_CTL_CMD_ALTER_TOPIC_CONFIGS = 5,
	SD_CTL_CMD_CREATE_PARTITIONS = 6,
	SD_CTL_CMD_REASSIGN = 7,
};

/* UNREGISTER_BROKER: removes a broker. incarnation 0 removes any
 * incarnation; otherwise only the one given. Partitions keep their replica
 * lists (moves repair them later). */
struct sd_ctl_unregister_broker {
	int32_t broker_id;
	uint64_t incarnation;
};

/* ALTER_TOPIC_CONFIGS: set (value not NULL) or delete (value NULL) keys, in
 * order; keys are distinct within one command. */
struct sd_ctl_alter_configs {
	struct sd_ctl_topic_ref topic;
	int32_t n_ops; /* 1..SD_CTL_CONFIGS_MAX */
	const struct sd_ctl_config *ops;
};

/* CREATE_PARTITIONS: appends partitions first_index, first_index + 1, ...
 * to a topic; applies only while the topic has exactly first_index
 * partitions, so two racing requests cannot both add. Each new partition has
 * the topic's replication factor; group ids strictly increase. */
struct sd_ctl_create_partitions {
	struct sd_ctl_topic_ref topic;
	int32_t first_index;
	int32_t n_partitions; /* 1..SD_CTL_TOPIC_PARTITIONS_MAX */
	const struct sd_ctl_partition *partitions;
};

/* REASSIGN: replaces the replica list of one partition (its Raft group
 * stays). The membership change itself is driven by the partition's leader. */
struct sd_ctl_reassign {
	struct sd_ctl_topic_ref topic;
	int32_t partition;
	int32_t n_replicas; /* 1..SD_CTL_REPLICAS_MAX, distinct */
	int32_t replicas[SD_CTL_REPLICAS_MAX];
};

/* One controller command. The `u` member named after the type is valid.
 * Pointers inside are borrowed from whoever built the command, except for a
 * command produced by sd_ctl_cmd_decode() or a planner: it owns its memory
 * (mem) until sd_ctl_cmd_free(). A command built by hand leaves mem NULL. */
struct sd_ctl_cmd {
	enum sd_ctl_cmd_type type;
	union {
		struct sd_ctl_broker register_broker;
		struct sd_ctl_unregister_broker unregister_broker;
		struct sd_ctl_topic create_topic;
		struct sd_ctl_topic_ref delete_topic;
		struct sd_ctl_alter_configs alter_configs;
		struct sd_ctl_create_partitions create_partitions;
		struct sd_ctl_reassign reassign;
	} u;
	void *mem; /* private: owned memory, NULL for a hand-built command */
};

/* Returns "REGISTER_BROKER", ..., or "UNKNOWN". */
const char *sd_ctl_cmd_type_str(enum sd_ctl_cmd_type type);

/* Checks everything about cmd that does not depend on a state: field ranges,
 * names, limits, distinct replicas and keys, ascending group ids. Returns 0,
 * SD_CTL_ETYPE, SD_CTL_ELIMIT or SD_CTL_EMALFORMED. Borrowed for the call. */
int sd_ctl_cmd_validate(const struct sd_ctl_cmd *cmd);

/* Returns the encoded size of cmd in *len (after sd_ctl_cmd_validate()).
 * Returns 0 or the validation errors. */
int sd_ctl_cmd_encoded_size(const struct sd_ctl_cmd *cmd, size_t *len);

/* Encodes a valid cmd (borrowed) into buf of cap bytes, which must hold at
 * least sd_ctl_cmd_encoded_size(); stores the bytes written in *len. Returns
 * 0, the validation errors, or SD_CTL_ELIMIT when cap is too small. */
int sd_ctl_cmd_encode(const struct sd_ctl_cmd *cmd, uint8_t *buf, size_t cap, size_t *len);

/* Decodes exactly len bytes (borrowed) into *out, which then owns its memory
 * (release with sd_ctl_cmd_free()). The result passes sd_ctl_cmd_validate().
 * Returns 0, SD_CTL_ETRUNC, SD_CTL_EMALFORMED, SD_CTL_EVERSION, SD_CTL_ETYPE,
 * SD_CTL_ELIMIT or SD_CTL_ENOMEM; on error *out owns nothing. Hostile input
 * never reads outside buf[0..len) and allocates at most a small multiple of
 * len. */
int sd_ctl_cmd_decode(const uint8_t *buf, size_t len, struct sd_ctl_cmd *out);

/* Releases what a decoded or planned command owns and zeroes it. Safe on a
 * hand-built command (mem NULL) and on a zeroed one. */
void sd_ctl_cmd_free(struct sd_ctl_cmd *cmd);

/* ------------------------------------------------------------------------ */
/* Entries: RecordBatches of commands                                        */
/* ------------------------------------------------------------------------ */

/* Builds one RecordBatch v2 (uncompressed, baseOffset and leader epoch 0 for
 * the log to assign) with one record per command, in order, all stamped
 * timestamp_ms (an input: replicas that rebuild the batch must pass the same
 * value). cmds (n, 1..SD_CTL_ENTRY_CMDS_MAX) are borrowed. On success *out is
 * sl_malloc'd and ownership passes to the caller. Returns 0, the validation
 * errors of a command, SD_CTL_ELIMIT (over SD_CTL_ENTRY_BYTES_MAX or the
 * command count), SD_CTL_EINVAL (n out of range) or SD_CTL_ENOMEM. */
int sd_ctl_batch_build(const struct sd_ctl_cmd *cmds, int32_t n, int64_t timestamp_ms,
		       uint8_t **out, size_t *out_len);

/* Iterates the commands of one stored entry: one or more concatenated
 * RecordBatches, each checked whole (kp_batch_validate) before use. Control
 * batches are skipped. Fields are private. */
struct sd_ctl_entry_iter {
	const uint8_t *pos;	    /* next unread batch */
	const uint8_t *end;	    /* end of the entry */
	struct kp_record_iter recs; /* records of the current batch */
	bool in_batch;		    /* recs is live */
	int err;		    /* a call failed with this; later calls too */
	int32_t n_cmds;		    /* commands returned so far */
};

/* Starts iterating the entry buf[0..len) (borrowed until the iterator is
 * freed). Returns 0, SD_CTL_ELIMIT (len over SD_CTL_ENTRY_BYTES_MAX) or
 * SD_CTL_EINVAL; sd_ctl_entry_iter_free() is safe either way. */
int sd_ctl_entry_iter_init(struct sd_ctl_entry_iter *it, const uint8_t *buf, size_t len);

/* Decodes the next command into *out (owned by the caller; release with
 * sd_ctl_cmd_free()). Returns 1 with a command, 0 at the end, or a negative
 * code: SD_CTL_EBATCH (a batch is torn, has a bad CRC or bad records), the
 * errors of sd_ctl_cmd_decode(), SD_CTL_ELIMIT (more than
 * SD_CTL_ENTRY_CMDS_MAX commands) or SD_CTL_ENOMEM. */
int sd_ctl_entry_iter_next(struct sd_ctl_entry_iter *it, struct sd_ctl_cmd *out);

/* Releases the iterator's resources. */
void sd_ctl_entry_iter_free(struct sd_ctl_entry_iter *it);

/* ------------------------------------------------------------------------ */
/* State                                                                     */
/* ------------------------------------------------------------------------ */

/* The controller state: brokers, topics, the next group id and the position
 * last applied. Opaque; read it through the functions below. Pointers those
 * return borrow from the state and stay valid until it is next changed or
 * freed. */
struct sd_ctl_state;

/* Creates an empty state (nothing applied, next group id 1) in *out.
 * Returns 0 or SD_CTL_ENOMEM. */
int sd_ctl_state_new(struct sd_ctl_state **out);

/* Releases a state. NULL is accepted. */
void sd_ctl_state_free(struct sd_ctl_state *s);

/* Deep-copies src (borrowed) into a new state *out. Returns 0 or
 * SD_CTL_ENOMEM. */
int sd_ctl_state_copy(const struct sd_ctl_state *src, struct sd_ctl_state **out);

/* Returns true if a and b hold the same brokers, topics, next group id and
 * applied position. */
bool sd_ctl_state_equal(const struct sd_ctl_state *a, const struct sd_ctl_state *b);

/* Returns a 64-bit digest (FNV-1a) of a canonical form of the state; equal
 * states have equal digests on every platform. */
uint64_t sd_ctl_state_digest(const struct sd_ctl_state *s);

/* Checks the state's internal invariants (sorted indexes agree, group ids
 * below next_group_id and unique, replicas distinct). Returns 0 or
 * SD_CTL_ECORRUPT. For tests and assertions. */
int sd_ctl_state_check(const struct sd_ctl_state *s);

/* The Raft index of the last entry applied completely (0: none): resume
 * applying at the next index. While an entry is only partly applied (its
 * sd_ctl_apply_entry() failed with SD_CTL_ENOMEM after some of its
 * commands), this is the index before it. */
uint64_t sd_ctl_state_applied_index(const struct sd_ctl_state *s);

/* The position of the last command applied: the number of the command inside
 * its entry (0 for the first), and whether that entry is complete. For
 * tests and diagnostics. */
uint32_t sd_ctl_state_applied_seq(const struct sd_ctl_state *s);
bool sd_ctl_state_applied_complete(const struct sd_ctl_state *s);

/* The group id the next new partition will get (at least). */
uint64_t sd_ctl_state_next_group_id(const struct sd_ctl_state *s);

/* Brokers, in ascending id order (0 <= i < count). */
int32_t sd_ctl_state_broker_count(const struct sd_ctl_state *s);
const struct sd_ctl_broker *sd_ctl_state_broker_at(const struct sd_ctl_state *s, int32_t i);
/* Returns the broker with this id, or NULL. */
const struct sd_ctl_broker *sd_ctl_state_broker_find(const struct sd_ctl_state *s, int32_t id);

/* Topics, in ascending name (byte) order (0 <= i < count), for Metadata. */
int32_t sd_ctl_state_topic_count(const struct sd_ctl_state *s);
const struct sd_ctl_topic *sd_ctl_state_topic_at(const struct sd_ctl_state *s, int32_t i);
/* Returns the topic with this name or id (SD_CTL_TOPIC_ID_BYTES), or NULL. */
const struct sd_ctl_topic *sd_ctl_state_topic_find(const struct sd_ctl_state *s, const char *name);
const struct sd_ctl_topic *sd_ctl_state_topic_find_id(const struct sd_ctl_state *s,
						      const uint8_t *id);

/* Total partitions of all topics. */
int32_t sd_ctl_state_partition_count(const struct sd_ctl_state *s);

/* Finds the partition of a group id: returns true and sets *topic and
 * *partition (either may be NULL), or returns false. */
bool sd_ctl_state_group_find(const struct sd_ctl_state *s, uint64_t group_id,
			     const struct sd_ctl_topic **topic, int32_t *partition);

/* ------------------------------------------------------------------------ */
/* Apply                                                                     */
/* ------------------------------------------------------------------------ */

/* X(name, message): what applying one command did. Only APPLIED changes
 * brokers or topics; every outcome but STALE_POSITION advances the applied
 * position. */
#define SD_CTL_OUTCOMES(X)                                                                         \
	X(APPLIED, "applied")                                                                      \
	X(STALE_POSITION, "already applied: at or before the last applied position")               \
	X(NOT_A_COMMAND, "control entry: nothing to apply")                                        \
	X(MALFORMED, "entry or command is malformed: skipped")                                     \
	X(UNCHANGED, "nothing to change")                                                          \
	X(TOPIC_EXISTS, "a topic with this name exists")                                           \
	X(TOPIC_ID_EXISTS, "a topic with this id exists")                                          \
	X(UNKNOWN_TOPIC, "no such topic")                                                          \
	X(UNKNOWN_PARTITION, "no such partition")                                                  \
	X(UNKNOWN_BROKER, "a replica names an unregistered broker")                                \
	X(STALE_INCARNATION, "the broker is registered with a newer or different incarnation")     \
	X(GROUP_ID_USED, "a group id was already allocated")                                       \
	X(PARTITION_COUNT_CHANGED, "the topic's partition count changed since planning")           \
	X(REPLICATION_FACTOR_MISMATCH, "replica count differs from the replication factor")        \
	X(RACK_REGION_CONFLICT, "the rack belongs to another region")                              \
	X(LIMIT, "a state limit would be exceeded")

/* Outcomes of applying one command. */
enum sd_ctl_outcome {
#define SD_CTL__OUTCOME_ENUM(name, msg) SD_CTL_OUTCOME_##name,
	SD_CTL_OUTCOMES(SD_CTL__OUTCOME_ENUM)
#undef SD_CTL__OUTCOME_ENUM
};

/* Returns the static message or symbolic name ("TOPIC_EXISTS") of an
 * outcome; "unknown" / "UNKNOWN" for values outside the table. */
const char *sd_ctl_outcome_str(enum sd_ctl_outcome o);
const char *sd_ctl_outcome_name(enum sd_ctl_outcome o);

/* The result of applying one command. detail is deterministic text naming
 * the topic, broker or group involved ("" when APPLIED without remark). */
struct sd_ctl_result {
	enum sd_ctl_outcome outcome;
	char detail[SD_CTL_MSG_BYTES];
};

/* Applies cmd (borrowed) as the single command of the entry at Raft index
 * index (>= 1). When the entry is at or before the last applied position
 * the state is unchanged and the outcome is STALE_POSITION; otherwise the
 * command is applied, or is a no-op with the reason as outcome (a command
 * that fails sd_ctl_cmd_validate() gives MALFORMED), and the entry counts as
 * applied. res may be NULL. Returns 0, SD_CTL_EINVAL (index 0) or
 * SD_CTL_ENOMEM (state and position unchanged). Deterministic: the same state
 * and command give the same state and result everywhere. */
int sd_ctl_apply(struct sd_ctl_state *s, uint64_t index, const struct sd_ctl_cmd *cmd,
		 struct sd_ctl_result *res);

/* Applies a committed entry buf[0..len) (borrowed) at Raft index index: every
 * command in order (command k at position (index, k)). The entry is decoded
 * whole first: if it does not decode (bad batch, bad command, too many
 * commands) it is skipped as one MALFORMED no-op; an entry with no commands
 * (BARRIER, CONFIG) is one NOT_A_COMMAND no-op. Either way the position
 * reaches index. *n_results (may be NULL) receives the number of results
 * produced, at least 1; the first results_cap of them are stored in results
 * (may be NULL when results_cap is 0). Returns 0, SD_CTL_EINVAL or
 * SD_CTL_ENOMEM; after SD_CTL_ENOMEM call again with the same entry before
 * any later one: commands already applied report STALE_POSITION, and
 * sd_ctl_state_applied_index() stays below index until the entry is done. */
int sd_ctl_apply_entry(struct sd_ctl_state *s, uint64_t index, const uint8_t *buf, size_t len,
		       struct sd_ctl_result *results, int32_t results_cap, int32_t *n_results);

/* ------------------------------------------------------------------------ */
/* Planning (controller leader, before submitting)                           */
/* ------------------------------------------------------------------------ */

/* Input of sd_ctl_plan_create_topic(). All pointers are borrowed. */
struct sd_ctl_plan_topic_req {
	const char *name;
	const uint8_t *topic_id; /* SD_CTL_TOPIC_ID_BYTES drawn at random by the
				  * caller, not all zero */
	int32_t partitions;	 /* Kafka's -1 (broker default) is the caller's
				  * to resolve before calling */
	int32_t replication_factor;
	const struct sd_ctl_config *configs; /* values not NULL */
	int32_t n_configs;
	const int32_t *live_brokers; /* ids the leader currently hears from;
				      * ids not registered are ignored */
	int32_t n_live;
	/* First group id to hand out: 0 means the state's next group id. Pass
	 * the previous plan's next_group_id while that plan's command is still
	 * uncommitted, so two plans never share group ids. */
	uint64_t first_group_id;
	/* PL_WARN_* bits that refuse the topic with POLICY_VIOLATION instead of
	 * warning (e.g. PL_WARN_MAJORITY_ELSEWHERE). */
	unsigned refuse_warnings;
};

/* What planning says besides the command. */
struct sd_ctl_plan_result {
	int16_t error_code;		/* Kafka error code; 0 on success */
	unsigned warnings;		/* PL_WARN_* bits of the assignment */
	char message[SD_CTL_MSG_BYTES]; /* why refused, or the warnings; "" if none */
	uint64_t next_group_id;		/* first group id after this plan's */
};

/* Plans a CREATE_TOPIC command: checks the request against Kafka's rules and
 * the state, builds a placement topology from the registered brokers (alive
 * if listed in live_brokers), assigns replicas with pl_assign() balancing
 * against every existing topic's load and the topic's leaders.preference,
 * and numbers the partitions' groups from first_group_id. On success *out
 * owns its memory (sd_ctl_cmd_free()) and res->warnings/message carry any
 * placement warning. Refusals return SD_CTL_EREFUSED with res->error_code:
 *   INVALID_TOPIC_EXCEPTION (17)    bad name, or it collides with an existing
 *                                   topic once '.' and '_' are equated
 *   TOPIC_ALREADY_EXISTS (36)       the name exists
 *   INVALID_PARTITIONS (37)         partitions < 1 or above the limit
 *   INVALID_REPLICATION_FACTOR (38) < 1, above the limit, or above the live
 *                                   registered brokers
 *   INVALID_CONFIG (40)             bad, duplicate or too many configs, or a
 *                                   malformed leaders.preference
 *   POLICY_VIOLATION (44)           the preference cannot be met, or the
 *                                   assignment has a warning in
 *                                   refuse_warnings
 * and res->message explaining (placement's reason and warnings included).
 * Other returns: SD_CTL_EINVAL (NULL or zero topic id), SD_CTL_EEXIST (the
 * topic id is in use: draw another), SD_CTL_EPLACEMENT (placement failed
 * unexpectedly; message says why) or SD_CTL_ENOMEM. On error *out owns
 * nothing. Deterministic. */
int sd_ctl_plan_create_topic(const struct sd_ctl_state *s, const struct sd_ctl_plan_topic_req *req,
			     struct sd_ctl_cmd *out, struct sd_ctl_plan_result *res);

/* Input of sd_ctl_plan_create_partitions(). All pointers are borrowed. */
struct sd_ctl_plan_partitions_req {
	const char *name;
	int32_t new_total; /* partitions the topic should have afterwards */
	const int32_t *live_brokers;
	int32_t n_live;
	uint64_t first_group_id; /* as in sd_ctl_plan_topic_req */
	unsigned refuse_warnings;
};

/* Plans a CREATE_PARTITIONS command that grows a topic to new_total
 * partitions, assigning the new ones like sd_ctl_plan_create_topic() (same
 * replication factor and preference, balanced against all topics). Returns 0
 * with *out owning its memory, SD_CTL_EREFUSED with
 * UNKNOWN_TOPIC_OR_PARTITION (3), INVALID_PARTITIONS (37: not more than now,
 * or above the limit), INVALID_REPLICATION_FACTOR (38: more than the live
 * brokers), INVALID_CONFIG (40: the stored leaders.preference does not
 * parse) or POLICY_VIOLATION (44), or SD_CTL_EPLACEMENT / SD_CTL_ENOMEM.
 * The command carries the topic's name and id, so it cannot land on a
 * re-created topic of the same name. */
int sd_ctl_plan_create_partitions(const struct sd_ctl_state *s,
				  const struct sd_ctl_plan_partitions_req *req,
				  struct sd_ctl_cmd *out, struct sd_ctl_plan_result *res);

/* ------------------------------------------------------------------------ */
/* Reconcile: what one broker must host                                      */
/* ------------------------------------------------------------------------ */

/* One partition a broker hosts: a plain value (everything copied). */
struct sd_ctl_local {
	uint64_t group_id;
	char topic[SD_CTL_TOPIC_NAME_MAX + 1];
	uint8_t topic_id[SD_CTL_TOPIC_ID_BYTES];
	int32_t partition;
	int32_t n_replicas;
	int32_t replicas[SD_CTL_REPLICAS_MAX];
	uint32_t replica_epoch; /* see struct sd_ctl_partition */
	/* True while replica_epoch is 0: an empty log is bootstrapped with
	 * replicas as the voters (every initial voter does the same). False
	 * once the partition was reassigned: a broker that receives it then
	 * starts empty and waits for the leader to add it as a learner. */
	bool bootstrap;
};

/* Lists the partitions whose replicas include broker_id, in ascending group
 * id order. *out is sl_malloc'd (ownership passes to the caller; NULL when
 * *n_out is 0). Returns 0 or SD_CTL_ENOMEM (*out NULL, *n_out 0). */
int sd_ctl_local_partitions(const struct sd_ctl_state *s, int32_t broker_id,
			    struct sd_ctl_local **out, int32_t *n_out);

/* What the partition manager must do for one group. */
enum sd_ctl_change_kind {
	SD_CTL_CHANGE_DELETE = 0, /* stop the group and delete its log */
	SD_CTL_CHANGE_REPLICAS,	  /* still hosted; the replica list changed */
	SD_CTL_CHANGE_CREATE,	  /* create and start the group */
};

/* One change. part is the partition as it should be (for DELETE, as it was);
 * old_n_replicas/old_replicas give the previous list for REPLICAS and
 * DELETE (0 for CREATE). */
struct sd_ctl_change {
	enum sd_ctl_change_kind kind;
	struct sd_ctl_local part;
	int32_t old_n_replicas;
	int32_t old_replicas[SD_CTL_REPLICAS_MAX];
};

/* Diffs what a broker hosts (have, n_have) against what it should host
 * (want, n_want); both borrowed and sorted by ascending group id, as
 * sd_ctl_local_partitions() gives them. The changes come deletes first, then
 * replica changes, then creates, each in ascending group id order. *out is
 * sl_malloc'd (ownership passes; NULL when *n_out is 0). Returns 0,
 * SD_CTL_EINVAL (a list not strictly ascending) or SD_CTL_ENOMEM. */
int sd_ctl_local_diff(const struct sd_ctl_local *have, int32_t n_have,
		      const struct sd_ctl_local *want, int32_t n_want, struct sd_ctl_change **out,
		      int32_t *n_out);

/* sd_ctl_local_diff() of broker_id's partitions in from (NULL: an empty
 * state) and in to. Returns 0 or SD_CTL_ENOMEM. */
int sd_ctl_state_diff(const struct sd_ctl_state *from, const struct sd_ctl_state *to,
		      int32_t broker_id, struct sd_ctl_change **out, int32_t *n_out);

#endif /* SD_CTL_STATE_H */
