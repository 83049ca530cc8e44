/* Private to server/kh_group.c and server/kh_offsets.c: the broker's group
 * coordinators (one struct cg_coord per __consumer_offsets partition this
 * broker leads) and how a handler finds the one for a group. */
#ifndef SD_KH_GROUP_INT_H
#define SD_KH_GROUP_INT_H

#include "server/cgroup.h"
#include "server/kh.h"

/* Kafka error codes of the group APIs not in kh.h. */
#define KE_INVALID_GROUP_ID		  24
#define KE_COORDINATOR_NOT_AVAILABLE	  15
#define KE_NOT_COORDINATOR		  16
#define KE_COORDINATOR_LOAD_IN_PROGRESS	  14
#define KE_OFFSET_METADATA_TOO_LARGE	  12
#define KE_INVALID_COMMIT_OFFSET_SIZE	  28
#define KE_UNKNOWN_SERVER_ERROR		  (-1)

/* Most bytes read from an offsets partition per loop iteration while
 * loading (the rest continues from a zero timer, so other work runs). */
#define SD_GROUPS_LOAD_CHUNK_BYTES ((size_t)4 << 20)

enum sd_opart_state {
	SD_OPART_NONE = 0, /* not the leader: not coordinating */
	SD_OPART_LOADING,  /* leader, reading the log back */
	SD_OPART_READY,
};

/* One __consumer_offsets partition, as coordinator. */
struct sd_opart {
	enum sd_opart_state state;
	uint64_t term;	     /* leader term the state belongs to */
	int64_t load_target; /* log end when leadership began */
	int64_t load_next;   /* next offset to read */
	uint64_t load_start_ms;
	struct cg_coord *coord;
};

struct sd_groups {
	struct sd_broker *b;
	struct cg_config cfg;
	struct sd_opart *parts;
	int32_t n_parts;
	uv_timer_t timer;      /* group deadlines */
	uv_timer_t load_timer; /* continues loading */
	bool timers_live;
	int closing; /* timer handles still closing at shutdown */
	bool create_pending;
	uint64_t create_last_ms;
	uint64_t nonce;
	/* Counters (coordinators come and go; their counts are summed here). */
	uint64_t rebalances_base, expired_base;
	uint64_t commits_ok, commits_failed;
	uint64_t loads, load_records;
};

/* The coordinator of group (a NUL-terminated id), or NULL with *error set:
 * INVALID_GROUP_ID, COORDINATOR_NOT_AVAILABLE (no __consumer_offsets yet:
 * its creation is requested), NOT_COORDINATOR or
 * COORDINATOR_LOAD_IN_PROGRESS. *part is the partition index. */
struct cg_coord *sd__groups_coord(struct sd_groups *gs, const char *group, int32_t *part,
				  int16_t *error);

/* Re-arms the deadline timer after any call into a coordinator. */
void sd__groups_rearm(struct sd_groups *gs);

/* Copies s into the request's arena as a NUL-terminated string: NULL if it
 * is null (and null is not allowed), longer than max or holds a NUL. *ok is
 * false then. A null string gives NULL with *ok true when nullable. */
const char *sd__kstr_arena(struct kmsg_arena *a, const struct kmsg_str *s, size_t max,
			   bool nullable, bool *ok);

/* A request's group id, member id and group instance id (nullable), copied
 * with sd__kstr_arena(). Returns 0, INVALID_GROUP_ID for a bad group id or
 * INVALID_REQUEST for a bad member or instance id. */
struct sd_member_ref {
	const char *group;
	const char *member;
	const char *instance;
};
int16_t sd__member_ref(struct kmsg_arena *a, const struct kmsg_str *group,
		       const struct kmsg_str *member, const struct kmsg_str *instance,
		       struct sd_member_ref *out);

void sd_kh_offsets_register(struct sd_broker *b);

#endif /* SD_KH_GROUP_INT_H */
