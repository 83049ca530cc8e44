/* Committed offsets of consumer groups and their record layout in
 * __consumer_offsets (the contract is in server/cgroup.h). Pure. */
#include <string.h>

#include "common/sl_common.h"
#include "server/cgroup_int.h"

/* ---- Offsets map --------------------------------------------------------- */

/* The map key of (topic, partition): the topic, a NUL, the partition. */
static size_t offset_key(char *buf, const char *topic, int32_t partition)
{
	size_t n = strlen(topic);
	memcpy(buf, topic, n);
	buf[n] = '\0';
	memcpy(buf + n + 1, &partition, sizeof(partition));
	return n + 1 + sizeof(partition);
}

bool cg_offset_get(const struct cg_group *g, const char *topic, int32_t partition,
		   struct cg_offset *out)
{
	if (g == NULL || strlen(topic) > CG_TOPIC_BYTES_MAX) {
		return false;
	}
	char k[CG_TOPIC_BYTES_MAX + 8];
	const struct cg__offset *o = cg__map_get(&g->offsets, k, offset_key(k, topic, partition));
	if (o == NULL) {
		return false;
	}
	out->offset = o->offset;
	out->leader_epoch = o->leader_epoch;
	out->commit_ms = o->commit_ms;
	out->metadata = o->metadata;
	out->metadata_len = o->metadata_len;
	return true;
}

struct each {
	void (*fn)(void *arg, const char *topic, int32_t partition, const struct cg_offset *o);
	void *arg;
};

static void each_offset(void *arg, const void *key, size_t klen, void *val)
{
	struct each *e = arg;
	const struct cg__offset *o = val;
	int32_t partition;
	memcpy(&partition, (const char *)key + klen - sizeof(partition), sizeof(partition));
	struct cg_offset co = {o->offset, o->leader_epoch, o->commit_ms, o->metadata,
			       o->metadata_len};
	e->fn(e->arg, key, partition, &co); /* the key starts with the NUL-terminated topic */
}

void cg_offset_foreach(const struct cg_group *g,
		       void (*fn)(void *arg, const char *topic, int32_t partition,
				  const struct cg_offset *o),
		       void *arg)
{
	if (g == NULL) {
		return;
	}
	struct each e = {fn, arg};
	cg__map_foreach((struct cg__map *)&g->offsets, each_offset, &e);
}

size_t cg_offset_count(const struct cg_group *g)
{
	return g != NULL ? g->offsets.count : 0;
}

static void free_offset(void *arg, const void *key, size_t klen, void *val)
{
	(void)arg;
	(void)key;
	(void)klen;
	sl_free(val);
}

void cg__offsets_free(struct cg_group *g)
{
	cg__map_foreach(&g->offsets, free_offset, NULL);
	cg__map_free(&g->offsets);
}

int cg_coord_apply_record(struct cg_coord *c, const struct cg_record *r)
{
	if (!r->is_offset) {
		return 0;
	}
	struct cg_group *g = cg_coord_find(c, r->group);
	char k[CG_TOPIC_BYTES_MAX + 8];
	size_t klen = offset_key(k, r->topic, r->partition);
	if (r->tombstone) {
		if (g != NULL) {
			sl_free(cg__map_del(&g->offsets, k, klen));
		}
		return 0;
	}
	if (g == NULL && (g = cg__group_create(c, r->group)) == NULL) {
		return CG_E_COORDINATOR_NOT_AVAILABLE;
	}
	struct cg__offset *o = sl_malloc(sizeof(*o) + r->value.metadata_len + 1);
	if (o == NULL) {
		return CG_E_COORDINATOR_NOT_AVAILABLE;
	}
	o->offset = r->value.offset;
	o->leader_epoch = r->value.leader_epoch;
	o->commit_ms = r->value.commit_ms;
	o->metadata_len = r->value.metadata_len;
	memcpy(o->metadata, r->value.metadata, r->value.metadata_len);
	o->metadata[o->metadata_len] = '\0';
	struct cg__offset *old = cg__map_get(&g->offsets, k, klen);
	if (old != NULL) {
		sl_free(cg__map_del(&g->offsets, k, klen));
	} else if (g->offsets.count >= CG_OFFSETS_PER_GROUP_MAX) {
		sl_free(o);
		return CG_E_COORDINATOR_NOT_AVAILABLE;
	}
	if (cg__map_put(&g->offsets, k, klen, o) != 0) {
		sl_free(o);
		return CG_E_COORDINATOR_NOT_AVAILABLE;
	}
	return 0;
}

/* ---- Record codec ---------------------------------------------------------- */

struct wr {
	uint8_t *p;
	size_t cap, len;
	bool bad;
};

static void put(struct wr *w, const void *src, size_t n)
{
	if (w->bad || w->cap - w->len < n) {
		w->bad = true;
		return;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put_be(struct wr *w, uint64_t v, int bytes)
{
	uint8_t b[8];
	for (int i = 0; i < bytes; i++) {
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	}
	put(w, b, (size_t)bytes);
}

static void put_str(struct wr *w, const char *s, size_t n)
{
	put_be(w, n, 2);
	put(w, s, n);
}

int cg_offset_key_encode(uint8_t *buf, size_t cap, const char *group, const char *topic,
			 int32_t partition)
{
	size_t gl = strlen(group), tl = strlen(topic);
	if (gl > CG_GROUP_ID_BYTES_MAX || tl > CG_TOPIC_BYTES_MAX) {
		return -1;
	}
	struct wr w = {buf, cap, 0, false};
	put_be(&w, 1, 2);
	put_str(&w, group, gl);
	put_str(&w, topic, tl);
	put_be(&w, (uint32_t)partition, 4);
	return w.bad ? -1 : (int)w.len;
}

int cg_offset_value_encode(uint8_t *buf, size_t cap, const struct cg_offset *o)
{
	if (o->metadata_len > CG_OFFSET_METADATA_BYTES_LIMIT) {
		return -1;
	}
	struct wr w = {buf, cap, 0, false};
	put_be(&w, 3, 2);
	put_be(&w, (uint64_t)o->offset, 8);
	put_be(&w, (uint32_t)o->leader_epoch, 4);
	put_str(&w, o->metadata, o->metadata_len);
	put_be(&w, (uint64_t)o->commit_ms, 8);
	return w.bad ? -1 : (int)w.len;
}

struct rd {
	const uint8_t *p;
	size_t len, pos;
	bool bad;
};

static uint64_t get_be(struct rd *r, int bytes)
{
	if (r->bad || r->len - r->pos < (size_t)bytes) {
		r->bad = true;
		return 0;
	}
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++) {
		v = (v << 8) | r->p[r->pos++];
	}
	return v;
}

/* A string: *s points into the bytes; its length is returned (-1: bad). */
static int32_t get_str(struct rd *r, const uint8_t **s)
{
	int16_t n = (int16_t)get_be(r, 2);
	if (r->bad || n < 0 || r->len - r->pos < (size_t)n) {
		r->bad = true;
		return -1;
	}
	*s = r->p + r->pos;
	r->pos += (size_t)n;
	return n;
}

/* Copies a name (no NUL bytes, at most cap - 1) into dst. */
static bool get_name(struct rd *r, char *dst, size_t cap)
{
	const uint8_t *s;
	int32_t n = get_str(r, &s);
	if (n < 0 || (size_t)n >= cap || memchr(s, '\0', (size_t)n) != NULL) {
		r->bad = true;
		return false;
	}
	memcpy(dst, s, (size_t)n);
	dst[n] = '\0';
	return true;
}

static int decode_value(struct rd *r, struct cg_offset *o)
{
	int16_t version = (int16_t)get_be(r, 2);
	if (r->bad || version < 0 || version > 3) {
		return -1;
	}
	o->offset = (int64_t)get_be(r, 8);
	o->leader_epoch = version >= 3 ? (int32_t)get_be(r, 4) : -1;
	const uint8_t *m = NULL;
	int32_t ml = get_str(r, &m);
	o->metadata = ml > 0 ? (const char *)m : "";
	o->metadata_len = ml > 0 ? (size_t)ml : 0;
	o->commit_ms = version >= 1 ? (int64_t)get_be(r, 8) : -1;
	if (version == 1) {
		(void)get_be(r, 8); /* expire timestamp: offsets never expire here */
	}
	return r->bad || r->pos != r->len ? -1 : 0;
}

int cg_record_decode(const uint8_t *key, int32_t key_len, const uint8_t *value, int32_t value_len,
		     struct cg_record *out)
{
	memset(out, 0, sizeof(*out));
	if (key == NULL || key_len < 2) {
		return -1;
	}
	struct rd r = {key, (size_t)key_len, 0, false};
	int16_t version = (int16_t)get_be(&r, 2);
	if (version == 2) {
		return 0; /* group metadata: not an offset, skipped */
	}
	if (version != 0 && version != 1) {
		return -1;
	}
	if (!get_name(&r, out->group, sizeof(out->group)) ||
	    !get_name(&r, out->topic, sizeof(out->topic))) {
		return -1;
	}
	out->partition = (int32_t)get_be(&r, 4);
	if (r.bad || r.pos != r.len || out->group[0] == '\0' || out->topic[0] == '\0') {
		return -1;
	}
	out->is_offset = true;
	if (value == NULL || value_len < 0) {
		out->tombstone = true;
		out->value.metadata = "";
		return 0;
	}
	struct rd v = {value, (size_t)value_len, 0, false};
	return decode_value(&v, &out->value);
}

int32_t cg_partition_for(const char *id, int32_t n)
{
	uint32_t h = 0;
	for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++) {
		h = 31u * h + *p;
	}
	return (int32_t)((h & 0x7fffffffu) % (uint32_t)n);
}
