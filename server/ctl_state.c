/* The controller state's storage: creation, deep copy and release, lookups
 * by broker id, topic name, topic id and group id, equality, a canonical
 * digest and an invariant check. */
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/ctl_int.h"

/* ---- Allocation helpers ------------------------------------------------- */

int sd__reserve(void **arr, int32_t *cap, int32_t need, size_t size)
{
	if (need <= *cap) {
		return 0;
	}
	int32_t new_cap = *cap < 8 ? 8 : *cap;
	while (new_cap < need) {
		new_cap = new_cap > INT32_MAX / 2 ? need : new_cap * 2;
	}
	void *p = sl_realloc(*arr, (size_t)new_cap * size);
	if (p == NULL) {
		return SD_CTL_ENOMEM;
	}
	*arr = p;
	*cap = new_cap;
	return 0;
}

static void free_str(const char *s)
{
	sl_free((void *)(uintptr_t)s);
}

void sd__broker_clear(struct sd_ctl_broker *b)
{
	free_str(b->region);
	free_str(b->rack);
	free_str(b->kafka.host);
	free_str(b->rpc.host);
	memset(b, 0, sizeof(*b));
}

int sd__broker_dup(struct sd_ctl_broker *dst, const struct sd_ctl_broker *src)
{
	*dst = *src;
	dst->region = sl_strdup(src->region);
	dst->rack = sl_strdup(src->rack);
	dst->kafka.host = sl_strdup(src->kafka.host);
	dst->rpc.host = sl_strdup(src->rpc.host);
	if (dst->region == NULL || dst->rack == NULL || dst->kafka.host == NULL ||
	    dst->rpc.host == NULL) {
		sd__broker_clear(dst);
		return SD_CTL_ENOMEM;
	}
	return 0;
}

static void configs_free(const struct sd_ctl_config *c, int32_t n)
{
	for (int32_t i = 0; c != NULL && i < n; i++) {
		free_str(c[i].key);
		free_str(c[i].value);
	}
	sl_free((void *)(uintptr_t)c);
}

void sd__topic_free(struct sd_ctl_topic *t)
{
	if (t == NULL) {
		return;
	}
	free_str(t->name);
	configs_free(t->configs, t->n_configs);
	sl_free((void *)(uintptr_t)t->partitions);
	sl_free(t);
}

static int config_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sd_ctl_config *)a)->key,
		      ((const struct sd_ctl_config *)b)->key);
}

void sd__partitions_copy(struct sd_ctl_partition *dst, const struct sd_ctl_partition *src,
			 int32_t n)
{
	for (int32_t i = 0; i < n; i++) {
		memset(&dst[i], 0, sizeof(dst[i]));
		dst[i].group_id = src[i].group_id;
		dst[i].n_replicas = src[i].n_replicas;
		dst[i].replica_epoch = src[i].replica_epoch;
		memcpy(dst[i].replicas, src[i].replicas,
		       (size_t)src[i].n_replicas * sizeof(src[i].replicas[0]));
	}
}

int sd__configs_dup(const struct sd_ctl_config *src, int32_t n, struct sd_ctl_config **out)
{
	*out = NULL;
	if (n == 0) {
		return 0;
	}
	struct sd_ctl_config *c = sl_calloc((size_t)n, sizeof(*c));
	if (c == NULL) {
		return SD_CTL_ENOMEM;
	}
	for (int32_t i = 0; i < n; i++) {
		c[i].key = sl_strdup(src[i].key);
		c[i].value = sl_strdup(src[i].value);
		if (c[i].key == NULL || c[i].value == NULL) {
			configs_free(c, i + 1);
			return SD_CTL_ENOMEM;
		}
	}
	qsort(c, (size_t)n, sizeof(*c), config_cmp);
	*out = c;
	return 0;
}

void sd__configs_free(const struct sd_ctl_config *c, int32_t n)
{
	configs_free(c, n);
}

struct sd_ctl_topic *sd__topic_dup(const struct sd_ctl_topic *src)
{
	struct sd_ctl_topic *t = sl_calloc(1, sizeof(*t));
	if (t == NULL) {
		return NULL;
	}
	memcpy(t->id, src->id, sizeof(t->id));
	t->replication_factor = src->replication_factor;
	t->name = sl_strdup(src->name);
	size_t parts_bytes = (size_t)src->n_partitions * sizeof(*src->partitions);
	struct sd_ctl_partition *p = sl_malloc(parts_bytes);
	t->partitions = p;
	if (t->name == NULL || p == NULL) {
		sd__topic_free(t);
		return NULL;
	}
	sd__partitions_copy(p, src->partitions, src->n_partitions);
	t->n_partitions = src->n_partitions;
	struct sd_ctl_config *c;
	if (sd__configs_dup(src->configs, src->n_configs, &c) != 0) {
		sd__topic_free(t);
		return NULL;
	}
	t->configs = c;
	t->n_configs = src->n_configs;
	return t;
}

/* ---- Create, copy, free ------------------------------------------------- */

int sd_ctl_state_new(struct sd_ctl_state **out)
{
	struct sd_ctl_state *s = sl_calloc(1, sizeof(*s));
	if (s == NULL) {
		*out = NULL;
		return SD_CTL_ENOMEM;
	}
	s->next_group_id = SD_CTL_FIRST_DATA_GROUP_ID;
	s->applied_complete = true;
	*out = s;
	return 0;
}

void sd_ctl_state_free(struct sd_ctl_state *s)
{
	if (s == NULL) {
		return;
	}
	for (int32_t i = 0; i < s->n_brokers; i++) {
		sd__broker_clear(&s->brokers[i]);
	}
	for (int32_t i = 0; i < s->n_topics; i++) {
		sd__topic_free(s->by_name[i]);
	}
	sl_free(s->brokers);
	sl_free(s->by_name);
	sl_free(s->by_id);
	sl_free(s->groups);
	sl_free(s);
}

static int topic_id_cmp(const void *a, const void *b)
{
	const struct sd_ctl_topic *x = *(const struct sd_ctl_topic *const *)a;
	const struct sd_ctl_topic *y = *(const struct sd_ctl_topic *const *)b;
	return memcmp(x->id, y->id, SD_CTL_TOPIC_ID_BYTES);
}

static int group_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct sd__group_ref *)a)->group_id;
	uint64_t y = ((const struct sd__group_ref *)b)->group_id;
	return x < y ? -1 : x > y;
}

/* Rebuilds by_id and groups of a copy whose by_name is complete. */
static void rebuild_indexes(struct sd_ctl_state *s)
{
	if (s->n_topics == 0) {
		return;
	}
	memcpy(s->by_id, s->by_name, (size_t)s->n_topics * sizeof(*s->by_id));
	qsort(s->by_id, (size_t)s->n_topics, sizeof(*s->by_id), topic_id_cmp);
	int32_t g = 0;
	for (int32_t i = 0; i < s->n_topics; i++) {
		struct sd_ctl_topic *t = s->by_name[i];
		for (int32_t p = 0; p < t->n_partitions; p++) {
			s->groups[g++] = (struct sd__group_ref){t->partitions[p].group_id, t, p};
		}
	}
	SL_ASSERT(g == s->n_groups);
	qsort(s->groups, (size_t)g, sizeof(*s->groups), group_cmp);
}

int sd_ctl_state_copy(const struct sd_ctl_state *src, struct sd_ctl_state **out)
{
	struct sd_ctl_state *s;
	if (sd_ctl_state_new(&s) != 0) {
		*out = NULL;
		return SD_CTL_ENOMEM;
	}
	s->applied_index = src->applied_index;
	s->applied_seq = src->applied_seq;
	s->applied_complete = src->applied_complete;
	s->next_group_id = src->next_group_id;
	if (sd__reserve((void **)&s->brokers, &s->brokers_cap, src->n_brokers,
			sizeof(*s->brokers)) != 0 ||
	    sd__reserve((void **)&s->by_name, &s->name_cap, src->n_topics, sizeof(*s->by_name)) ||
	    sd__reserve((void **)&s->by_id, &s->id_cap, src->n_topics, sizeof(*s->by_id)) ||
	    sd__reserve((void **)&s->groups, &s->groups_cap, src->n_groups, sizeof(*s->groups))) {
		goto err_after_new;
	}
	for (int32_t i = 0; i < src->n_brokers; i++) {
		if (sd__broker_dup(&s->brokers[i], &src->brokers[i]) != 0) {
			goto err_after_new;
		}
		s->n_brokers = i + 1;
	}
	for (int32_t i = 0; i < src->n_topics; i++) {
		s->by_name[i] = sd__topic_dup(src->by_name[i]);
		if (s->by_name[i] == NULL) {
			goto err_after_new;
		}
		s->n_topics = i + 1;
	}
	s->n_groups = src->n_groups;
	rebuild_indexes(s);
	*out = s;
	return 0;

err_after_new:
	sd_ctl_state_free(s);
	*out = NULL;
	return SD_CTL_ENOMEM;
}

/* ---- Lookups ------------------------------------------------------------ */

int32_t sd__broker_pos(const struct sd_ctl_state *s, int32_t id)
{
	int32_t lo = 0, hi = s->n_brokers;
	while (lo < hi) {
		int32_t mid = lo + (hi - lo) / 2;
		if (s->brokers[mid].id < id) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo < s->n_brokers && s->brokers[lo].id == id ? lo : -lo - 1;
}

int32_t sd__topic_name_pos(const struct sd_ctl_state *s, const char *name)
{
	int32_t lo = 0, hi = s->n_topics;
	while (lo < hi) {
		int32_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->by_name[mid]->name, name) < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo < s->n_topics && strcmp(s->by_name[lo]->name, name) == 0 ? lo : -lo - 1;
}

int32_t sd__topic_id_pos(const struct sd_ctl_state *s, const uint8_t *id)
{
	int32_t lo = 0, hi = s->n_topics;
	while (lo < hi) {
		int32_t mid = lo + (hi - lo) / 2;
		if (memcmp(s->by_id[mid]->id, id, SD_CTL_TOPIC_ID_BYTES) < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo < s->n_topics && memcmp(s->by_id[lo]->id, id, SD_CTL_TOPIC_ID_BYTES) == 0
		   ? lo
		   : -lo - 1;
}

int32_t sd__group_pos(const struct sd_ctl_state *s, uint64_t group_id)
{
	int32_t lo = 0, hi = s->n_groups;
	while (lo < hi) {
		int32_t mid = lo + (hi - lo) / 2;
		if (s->groups[mid].group_id < group_id) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo < s->n_groups && s->groups[lo].group_id == group_id ? lo : -lo - 1;
}

uint64_t sd_ctl_state_applied_index(const struct sd_ctl_state *s)
{
	return s->applied_complete ? s->applied_index : s->applied_index - 1;
}

bool sd_ctl_state_applied_complete(const struct sd_ctl_state *s)
{
	return s->applied_complete;
}

uint32_t sd_ctl_state_applied_seq(const struct sd_ctl_state *s)
{
	return s->applied_seq;
}

uint64_t sd_ctl_state_next_group_id(const struct sd_ctl_state *s)
{
	return s->next_group_id;
}

int32_t sd_ctl_state_broker_count(const struct sd_ctl_state *s)
{
	return s->n_brokers;
}

const struct sd_ctl_broker *sd_ctl_state_broker_at(const struct sd_ctl_state *s, int32_t i)
{
	SL_ASSERT(i >= 0 && i < s->n_brokers);
	return &s->brokers[i];
}

const struct sd_ctl_broker *sd_ctl_state_broker_find(const struct sd_ctl_state *s, int32_t id)
{
	int32_t pos = sd__broker_pos(s, id);
	return pos >= 0 ? &s->brokers[pos] : NULL;
}

int32_t sd_ctl_state_topic_count(const struct sd_ctl_state *s)
{
	return s->n_topics;
}

const struct sd_ctl_topic *sd_ctl_state_topic_at(const struct sd_ctl_state *s, int32_t i)
{
	SL_ASSERT(i >= 0 && i < s->n_topics);
	return s->by_name[i];
}

const struct sd_ctl_topic *sd_ctl_state_topic_find(const struct sd_ctl_state *s, const char *name)
{
	int32_t pos = name != NULL ? sd__topic_name_pos(s, name) : -1;
	return pos >= 0 ? s->by_name[pos] : NULL;
}

const struct sd_ctl_topic *sd_ctl_state_topic_find_id(const struct sd_ctl_state *s,
						      const uint8_t *id)
{
	int32_t pos = id != NULL ? sd__topic_id_pos(s, id) : -1;
	return pos >= 0 ? s->by_id[pos] : NULL;
}

int32_t sd_ctl_state_partition_count(const struct sd_ctl_state *s)
{
	return s->n_groups;
}

bool sd_ctl_state_group_find(const struct sd_ctl_state *s, uint64_t group_id,
			     const struct sd_ctl_topic **topic, int32_t *partition)
{
	int32_t pos = sd__group_pos(s, group_id);
	if (pos < 0) {
		return false;
	}
	if (topic != NULL) {
		*topic = s->groups[pos].topic;
	}
	if (partition != NULL) {
		*partition = s->groups[pos].partition;
	}
	return true;
}

/* ---- Equality and digest ------------------------------------------------ */

static bool str_eq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static bool broker_eq(const struct sd_ctl_broker *a, const struct sd_ctl_broker *b)
{
	return a->id == b->id && a->incarnation == b->incarnation && str_eq(a->region, b->region) &&
	       str_eq(a->rack, b->rack) && str_eq(a->kafka.host, b->kafka.host) &&
	       a->kafka.port == b->kafka.port && str_eq(a->rpc.host, b->rpc.host) &&
	       a->rpc.port == b->rpc.port;
}

static bool partition_eq(const struct sd_ctl_partition *a, const struct sd_ctl_partition *b)
{
	return a->group_id == b->group_id && a->n_replicas == b->n_replicas &&
	       a->replica_epoch == b->replica_epoch &&
	       memcmp(a->replicas, b->replicas, (size_t)a->n_replicas * sizeof(a->replicas[0])) ==
		   0;
}

static bool topic_eq(const struct sd_ctl_topic *a, const struct sd_ctl_topic *b)
{
	if (!str_eq(a->name, b->name) || memcmp(a->id, b->id, sizeof(a->id)) != 0 ||
	    a->replication_factor != b->replication_factor || a->n_configs != b->n_configs ||
	    a->n_partitions != b->n_partitions) {
		return false;
	}
	for (int32_t i = 0; i < a->n_configs; i++) {
		if (!str_eq(a->configs[i].key, b->configs[i].key) ||
		    !str_eq(a->configs[i].value, b->configs[i].value)) {
			return false;
		}
	}
	for (int32_t i = 0; i < a->n_partitions; i++) {
		if (!partition_eq(&a->partitions[i], &b->partitions[i])) {
			return false;
		}
	}
	return true;
}

bool sd_ctl_state_equal(const struct sd_ctl_state *a, const struct sd_ctl_state *b)
{
	if (a->applied_index != b->applied_index || a->applied_seq != b->applied_seq ||
	    a->applied_complete != b->applied_complete || a->next_group_id != b->next_group_id ||
	    a->n_brokers != b->n_brokers || a->n_topics != b->n_topics) {
		return false;
	}
	for (int32_t i = 0; i < a->n_brokers; i++) {
		if (!broker_eq(&a->brokers[i], &b->brokers[i])) {
			return false;
		}
	}
	for (int32_t i = 0; i < a->n_topics; i++) {
		if (!topic_eq(a->by_name[i], b->by_name[i])) {
			return false;
		}
	}
	return true;
}

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

static void hash_bytes(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		*h = (*h ^ b[i]) * FNV_PRIME;
	}
}

/* Integers are hashed as 8 big-endian bytes, so the digest does not depend
 * on the host's byte order. */
static void hash_u64(uint64_t *h, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		*h = (*h ^ (uint8_t)(v >> (8 * i))) * FNV_PRIME;
	}
}

static void hash_str(uint64_t *h, const char *s)
{
	size_t n = strlen(s);
	hash_u64(h, n);
	hash_bytes(h, s, n);
}

static void hash_topic(uint64_t *h, const struct sd_ctl_topic *t)
{
	hash_str(h, t->name);
	hash_bytes(h, t->id, sizeof(t->id));
	hash_u64(h, (uint64_t)t->replication_factor);
	hash_u64(h, (uint64_t)t->n_configs);
	for (int32_t i = 0; i < t->n_configs; i++) {
		hash_str(h, t->configs[i].key);
		hash_str(h, t->configs[i].value);
	}
	hash_u64(h, (uint64_t)t->n_partitions);
	for (int32_t i = 0; i < t->n_partitions; i++) {
		const struct sd_ctl_partition *p = &t->partitions[i];
		hash_u64(h, p->group_id);
		hash_u64(h, p->replica_epoch);
		hash_u64(h, (uint64_t)p->n_replicas);
		for (int32_t r = 0; r < p->n_replicas; r++) {
			hash_u64(h, (uint64_t)(uint32_t)p->replicas[r]);
		}
	}
}

uint64_t sd_ctl_state_digest(const struct sd_ctl_state *s)
{
	uint64_t h = FNV_OFFSET;
	hash_u64(&h, s->applied_index);
	hash_u64(&h, s->applied_seq);
	hash_u64(&h, s->applied_complete);
	hash_u64(&h, s->next_group_id);
	hash_u64(&h, (uint64_t)s->n_brokers);
	for (int32_t i = 0; i < s->n_brokers; i++) {
		const struct sd_ctl_broker *b = &s->brokers[i];
		hash_u64(&h, (uint64_t)(uint32_t)b->id);
		hash_str(&h, b->region);
		hash_str(&h, b->rack);
		hash_str(&h, b->kafka.host);
		hash_u64(&h, b->kafka.port);
		hash_str(&h, b->rpc.host);
		hash_u64(&h, b->rpc.port);
		hash_u64(&h, b->incarnation);
	}
	hash_u64(&h, (uint64_t)s->n_topics);
	for (int32_t i = 0; i < s->n_topics; i++) {
		hash_topic(&h, s->by_name[i]);
	}
	return h;
}

/* ---- Invariants --------------------------------------------------------- */

static bool topic_ok(const struct sd_ctl_state *s, const struct sd_ctl_topic *t)
{
	if (!sd_ctl_topic_name_valid(t->name) || sd__id_zero(t->id) || t->n_partitions < 1 ||
	    t->n_configs < 0 || t->n_configs > SD_CTL_CONFIGS_MAX) {
		return false;
	}
	for (int32_t i = 1; i < t->n_configs; i++) {
		if (strcmp(t->configs[i - 1].key, t->configs[i].key) >= 0) {
			return false;
		}
	}
	for (int32_t p = 0; p < t->n_partitions; p++) {
		const struct sd_ctl_partition *part = &t->partitions[p];
		int32_t pos = sd__group_pos(s, part->group_id);
		if (part->group_id < SD_CTL_FIRST_DATA_GROUP_ID ||
		    part->group_id >= s->next_group_id || pos < 0 || s->groups[pos].topic != t ||
		    s->groups[pos].partition != p || part->n_replicas < 1 ||
		    part->n_replicas > SD_CTL_REPLICAS_MAX ||
		    !sd__replicas_valid(part->replicas, part->n_replicas)) {
			return false;
		}
	}
	return sd__topic_id_pos(s, t->id) >= 0 && s->by_id[sd__topic_id_pos(s, t->id)] == t;
}

int sd_ctl_state_check(const struct sd_ctl_state *s)
{
	int64_t partitions = 0;
	for (int32_t i = 1; i < s->n_brokers; i++) {
		if (s->brokers[i - 1].id >= s->brokers[i].id) {
			return SD_CTL_ECORRUPT;
		}
	}
	for (int32_t i = 0; i < s->n_topics; i++) {
		if ((i > 0 && strcmp(s->by_name[i - 1]->name, s->by_name[i]->name) >= 0) ||
		    (i > 0 &&
		     memcmp(s->by_id[i - 1]->id, s->by_id[i]->id, SD_CTL_TOPIC_ID_BYTES) >= 0) ||
		    !topic_ok(s, s->by_name[i])) {
			return SD_CTL_ECORRUPT;
		}
		partitions += s->by_name[i]->n_partitions;
	}
	for (int32_t i = 1; i < s->n_groups; i++) {
		if (s->groups[i - 1].group_id >= s->groups[i].group_id) {
			return SD_CTL_ECORRUPT;
		}
	}
	return partitions == s->n_groups ? 0 : SD_CTL_ECORRUPT;
}
