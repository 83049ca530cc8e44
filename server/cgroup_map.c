/* The byte-string hash map of server/cgroup*.c (see cgroup_int.h): FNV-1a
 * hashes, chained buckets, doubling at a load factor of 1. */
#include <string.h>

#include "common/sl_common.h"
#include "server/cgroup_int.h"

static uint64_t hash_bytes(const void *key, size_t klen)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < klen; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static struct cg__entry **slot(const struct cg__map *m, const void *key, size_t klen, uint64_t h)
{
	struct cg__entry **pp = &m->buckets[h & (m->n_buckets - 1)];
	while (*pp != NULL &&
	       ((*pp)->hash != h || (*pp)->klen != klen || memcmp((*pp)->key, key, klen) != 0)) {
		pp = &(*pp)->next;
	}
	return pp;
}

void *cg__map_get(const struct cg__map *m, const void *key, size_t klen)
{
	if (m->n_buckets == 0) {
		return NULL;
	}
	struct cg__entry *e = *slot(m, key, klen, hash_bytes(key, klen));
	return e != NULL ? e->val : NULL;
}

static int grow(struct cg__map *m)
{
	size_t n = m->n_buckets ? m->n_buckets * 2 : 16;
	struct cg__entry **b = sl_calloc(n, sizeof(*b));
	if (b == NULL) {
		return -1;
	}
	for (size_t i = 0; i < m->n_buckets; i++) {
		struct cg__entry *e = m->buckets[i];
		while (e != NULL) {
			struct cg__entry *next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	sl_free(m->buckets);
	m->buckets = b;
	m->n_buckets = n;
	return 0;
}

int cg__map_put(struct cg__map *m, const void *key, size_t klen, void *val)
{
	if (m->count >= m->n_buckets && grow(m) != 0 && m->n_buckets == 0) {
		return -1; /* a map that cannot grow still works, only slower */
	}
	struct cg__entry *e = sl_malloc(sizeof(*e) + klen);
	if (e == NULL) {
		return -1;
	}
	e->hash = hash_bytes(key, klen);
	e->val = val;
	e->klen = klen;
	memcpy(e->key, key, klen);
	struct cg__entry **b = &m->buckets[e->hash & (m->n_buckets - 1)];
	e->next = *b;
	*b = e;
	m->count++;
	return 0;
}

void *cg__map_del(struct cg__map *m, const void *key, size_t klen)
{
	if (m->n_buckets == 0) {
		return NULL;
	}
	struct cg__entry **pp = slot(m, key, klen, hash_bytes(key, klen));
	struct cg__entry *e = *pp;
	if (e == NULL) {
		return NULL;
	}
	void *val = e->val;
	*pp = e->next;
	sl_free(e);
	m->count--;
	return val;
}

void cg__map_foreach(struct cg__map *m, void (*fn)(void *arg, const void *key, size_t klen,
						    void *val),
		     void *arg)
{
	for (size_t i = 0; i < m->n_buckets; i++) {
		struct cg__entry *e = m->buckets[i];
		while (e != NULL) {
			struct cg__entry *next = e->next; /* fn may delete e */
			fn(arg, e->key, e->klen, e->val);
			e = next;
		}
	}
}

void cg__map_free(struct cg__map *m)
{
	for (size_t i = 0; i < m->n_buckets; i++) {
		struct cg__entry *e = m->buckets[i];
		while (e != NULL) {
			struct cg__entry *next = e->next;
			sl_free(e);
			e = next;
		}
	}
	sl_free(m->buckets);
	memset(m, 0, sizeof(*m));
}
