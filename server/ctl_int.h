/* Private to server/ctl_*.c: the state's layout, the command arena and the
 * validation helpers the codec, the state and the planner share. */
#ifndef SD_CTL_INT_H
#define SD_CTL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/ctl_state.h"

/* ---- Arena: the memory a decoded or planned command owns --------------- */

/* A chain of chunks; everything is released at once by sd__arena_release().
 * Allocations are 8-byte aligned and zeroed. */
struct sd__arena {
	struct sd__chunk *head;
};

/* Returns n zeroed bytes from the arena, or NULL when out of memory. */
void *sd__arena_alloc(struct sd__arena *a, size_t n);

/* Copies n bytes of s into the arena and adds a NUL; NULL on no memory. */
char *sd__arena_strndup(struct sd__arena *a, const void *s, size_t n);

/* Releases a chunk chain (NULL-safe). */
void sd__arena_release(struct sd__chunk *head);

/* ---- Validation shared by the codec, apply and the planner -------------- */

/* Returns true if s is 1..max bytes of printable ASCII other than space. */
bool sd__token_valid(const char *s, size_t max);

/* Returns true if s is a region or rack name placement accepts. */
bool sd__location_valid(const char *s);

/* Returns true if s is at most SD_CTL_CONFIG_VALUE_MAX bytes (no NUL by
 * construction). */
bool sd__config_value_valid(const char *s);

/* Returns true if the 16 bytes at id are all zero. */
bool sd__id_zero(const uint8_t *id);

/* Returns true if the n replicas are distinct broker ids >= 0. */
bool sd__replicas_valid(const int32_t *replicas, int32_t n);

/* Formats a topic id as 32 hex digits into buf (33 bytes). */
void sd__id_hex(const uint8_t *id, char buf[33]);

/* ---- The state ---------------------------------------------------------- */

/* Where a group lives: the index entry of the group lookup. */
struct sd__group_ref {
	uint64_t group_id;
	struct sd_ctl_topic *topic;
	int32_t partition;
};

/* Memory layout: every string, config array and partition array reachable
 * from brokers and topics is its own sl_malloc() block owned by the state
 * (the public structs hold const pointers to it). */
struct sd_ctl_state {
	uint64_t applied_index; /* entry of the last command applied */
	uint32_t applied_seq;	/* its number inside that entry */
	bool applied_complete;	/* that command was the entry's last */
	uint64_t next_group_id;
	int32_t n_brokers, brokers_cap;
	struct sd_ctl_broker *brokers; /* ascending id */
	int32_t n_topics, name_cap, id_cap;
	struct sd_ctl_topic **by_name; /* ascending name (strcmp), owns the topics */
	struct sd_ctl_topic **by_id;   /* ascending id (memcmp), same topics */
	int32_t n_groups, groups_cap;
	struct sd__group_ref *groups; /* ascending group id */
};

/* Applies cmd as command seq of the entry at index; complete says whether it
 * is the entry's last command. See sd_ctl_apply(). */
int sd__apply_at(struct sd_ctl_state *s, uint64_t index, uint32_t seq, bool complete,
		 const struct sd_ctl_cmd *cmd, struct sd_ctl_result *res);

/* Index of the topic named name in s->by_name, or -(insertion point) - 1. */
int32_t sd__topic_name_pos(const struct sd_ctl_state *s, const char *name);
/* Index of the topic with id in s->by_id, or -(insertion point) - 1. */
int32_t sd__topic_id_pos(const struct sd_ctl_state *s, const uint8_t *id);
/* Index of the broker with id in s->brokers, or -(insertion point) - 1. */
int32_t sd__broker_pos(const struct sd_ctl_state *s, int32_t id);
/* Index of group_id in s->groups, or -(insertion point) - 1. */
int32_t sd__group_pos(const struct sd_ctl_state *s, uint64_t group_id);

/* Releases a topic the state owns (NULL-safe). */
void sd__topic_free(struct sd_ctl_topic *t);
/* Releases the strings of a broker the state owns. */
void sd__broker_clear(struct sd_ctl_broker *b);
/* Deep-copies a topic into state-owned memory; configs are sorted by key.
 * Returns NULL when out of memory. */
struct sd_ctl_topic *sd__topic_dup(const struct sd_ctl_topic *t);
/* Copies n partitions, zeroing the unused tail of each replica array so
 * the state never holds bytes a command did not define. */
void sd__partitions_copy(struct sd_ctl_partition *dst, const struct sd_ctl_partition *src,
			 int32_t n);
/* Deep-copies n configs into state-owned memory sorted by key (*out NULL
 * when n is 0). Returns 0 or SD_CTL_ENOMEM. */
int sd__configs_dup(const struct sd_ctl_config *src, int32_t n, struct sd_ctl_config **out);
/* Releases configs made by sd__configs_dup() (NULL-safe). */
void sd__configs_free(const struct sd_ctl_config *c, int32_t n);
/* Deep-copies a broker's strings into dst. Returns 0 or SD_CTL_ENOMEM. */
int sd__broker_dup(struct sd_ctl_broker *dst, const struct sd_ctl_broker *src);

/* Grows an array to hold at least need elements of size bytes: *arr and
 * *cap are updated only on success. Returns 0 or SD_CTL_ENOMEM. */
int sd__reserve(void **arr, int32_t *cap, int32_t need, size_t size);

#endif /* SD_CTL_INT_H */
