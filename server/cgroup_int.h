/* Private to server/cgroup*.c: the byte-string hash map under groups and
 * offsets, and the group and member structures. */
#ifndef SD_CGROUP_INT_H
#define SD_CGROUP_INT_H

#include "server/cgroup.h"

/* ---- Map: byte-string keys -> void * (chained, grows by doubling) ---------- */

struct cg__entry {
	struct cg__entry *next;
	uint64_t hash;
	void *val;
	size_t klen;
	unsigned char key[]; /* klen bytes */
};

struct cg__map {
	struct cg__entry **buckets;
	size_t n_buckets; /* 0 or a power of two */
	size_t count;
};

/* The value stored under key, or NULL. */
void *cg__map_get(const struct cg__map *m, const void *key, size_t klen);
/* Stores val under key (which must not be present; key copied). Returns 0
 * or -1 on no memory (map unchanged). */
int cg__map_put(struct cg__map *m, const void *key, size_t klen, void *val);
/* Removes key; returns its value or NULL. */
void *cg__map_del(struct cg__map *m, const void *key, size_t klen);
/* Calls fn for each entry; fn may delete the entry it is given (only). */
void cg__map_foreach(struct cg__map *m, void (*fn)(void *arg, const void *key, size_t klen,
						    void *val),
		     void *arg);
/* Frees the map's memory (not the values). */
void cg__map_free(struct cg__map *m);

/* ---- Groups ------------------------------------------------------------------ */

struct cg__proto {
	char *name;
	uint8_t *meta;
	size_t len;
};

struct cg__member {
	struct cg__member *next;
	char *id;
	char *instance_id; /* NULL: dynamic */
	int32_t session_ms;
	int32_t rebalance_ms;
	struct cg__proto *protos;
	int32_t n_protos;
	uint8_t *assignment;
	size_t assignment_len;
	void *join_token; /* JoinGroup waiting for the rebalance to complete */
	void *sync_token; /* SyncGroup waiting for the leader's assignments */
	bool joined;	  /* rejoined in the current rebalance */
	uint64_t session_deadline_ms;
};

/* A member id handed out with MEMBER_ID_REQUIRED, not joined yet. */
struct cg__pending {
	struct cg__pending *next;
	char *id;
	uint64_t deadline_ms;
};

struct cg_group {
	struct cg_coord *c;
	char *id;
	enum cg_state state;
	int32_t generation;
	char *protocol_type; /* NULL while no member ever joined */
	char *protocol;	     /* NULL before the first completed join */
	char *leader;	     /* member id (owned copy) or NULL */
	struct cg__member *members; /* in join order */
	int32_t n_members;
	struct cg__pending *pending;
	uint64_t join_deadline_ms;  /* PREPARING_REBALANCE */
	bool initial_delay;	    /* the first join of an EMPTY group waits */
	bool new_member_added;	    /* ... and a member joined meanwhile */
	int64_t initial_remaining_ms;
	uint64_t sync_deadline_ms; /* COMPLETING_REBALANCE */
	uint32_t id_counter;
	struct cg__map offsets; /* topic NUL partition(4) -> struct cg__offset */
};

struct cg__offset {
	int64_t offset;
	int32_t leader_epoch;
	int64_t commit_ms;
	size_t metadata_len;
	char metadata[]; /* metadata_len bytes + NUL */
};

struct cg_coord {
	struct cg_config cfg;
	struct cg_env env;
	struct cg__map groups; /* id -> struct cg_group */
	uint64_t rebalances;
	uint64_t members_expired;
};

/* Creates the group id in c (EMPTY, generation 0) or returns NULL on no
 * memory or CG_GROUPS_MAX. */
struct cg_group *cg__group_create(struct cg_coord *c, const char *id);
/* Frees g's offsets (cgroup_offsets.c). */
void cg__offsets_free(struct cg_group *g);

#endif /* SD_CGROUP_INT_H */
