/* Binary encoding of controller commands (layout in ctl_state.h): exact-size
 * encoding of validated commands, and strict decoding that checks every count
 * and length against its limit and against the bytes left before it
 * allocates, then validates the result as a whole. */
#include <string.h>

#include "common/sl_common.h"
#include "server/ctl_int.h"
#include "server/rpc_bytes.h"

/* The u16 length of a null string. */
#define NULL_STR 0xFFFFu
/* Smallest encoded partition: group id, replica count, one replica. */
#define PART_BYTES_MIN (8 + 1 + 4)
/* Smallest encoded config or alter operation: two empty strings. */
#define CONFIG_BYTES_MIN (2 + 2)

/* ---- Sizes -------------------------------------------------------------- */

static size_t str_size(const char *s)
{
	return 2 + (s != NULL ? strlen(s) : 0);
}

static size_t ref_size(const struct sd_ctl_topic_ref *r)
{
	return str_size(r->name) + SD_CTL_TOPIC_ID_BYTES;
}

static size_t configs_size(const struct sd_ctl_config *c, int32_t n)
{
	size_t size = 2;
	for (int32_t i = 0; i < n; i++) {
		size += str_size(c[i].key) + str_size(c[i].value);
	}
	return size;
}

static size_t parts_size(const struct sd_ctl_partition *p, int32_t n)
{
	size_t size = 0;
	for (int32_t i = 0; i < n; i++) {
		size += 8 + 1 + 4 * (size_t)p[i].n_replicas;
	}
	return size;
}

static size_t body_size(const struct sd_ctl_cmd *cmd)
{
	const struct sd_ctl_broker *b = &cmd->u.register_broker;
	const struct sd_ctl_topic *t = &cmd->u.create_topic;
	const struct sd_ctl_alter_configs *a = &cmd->u.alter_configs;
	const struct sd_ctl_create_partitions *c = &cmd->u.create_partitions;
	const struct sd_ctl_reassign *r = &cmd->u.reassign;
	switch (cmd->type) {
	case SD_CTL_CMD_REGISTER_BROKER:
		return 4 + str_size(b->region) + str_size(b->rack) + str_size(b->kafka.host) + 2 +
		       str_size(b->rpc.host) + 2 + 8;
	case SD_CTL_CMD_UNREGISTER_BROKER:
		return 4 + 8;
	case SD_CTL_CMD_CREATE_TOPIC:
		return str_size(t->name) + SD_CTL_TOPIC_ID_BYTES + 2 + 4 +
		       configs_size(t->configs, t->n_configs) +
		       parts_size(t->partitions, t->n_partitions);
	case SD_CTL_CMD_DELETE_TOPIC:
		return ref_size(&cmd->u.delete_topic);
	case SD_CTL_CMD_ALTER_TOPIC_CONFIGS:
		return ref_size(&a->topic) + configs_size(a->ops, a->n_ops);
	case SD_CTL_CMD_CREATE_PARTITIONS:
		return ref_size(&c->topic) + 4 + 4 + parts_size(c->partitions, c->n_partitions);
	case SD_CTL_CMD_REASSIGN:
		return ref_size(&r->topic) + 4 + 1 + 4 * (size_t)r->n_replicas;
	}
	return 0;
}

int sd_ctl_cmd_encoded_size(const struct sd_ctl_cmd *cmd, size_t *len)
{
	int rc = sd_ctl_cmd_validate(cmd);
	if (rc != 0) {
		return rc;
	}
	size_t size = 2 + body_size(cmd);
	if (size > SD_CTL_CMD_BYTES_MAX) {
		return SD_CTL_ELIMIT;
	}
	*len = size;
	return 0;
}

/* ---- Encoding ----------------------------------------------------------- */

static void put_str(struct sl__wr *w, const char *s)
{
	if (s == NULL) {
		sl__wr_u16(w, NULL_STR);
		return;
	}
	size_t n = strlen(s);
	sl__wr_u16(w, (uint16_t)n);
	sl__wr_bytes(w, s, n);
}

static void put_ref(struct sl__wr *w, const struct sd_ctl_topic_ref *r)
{
	put_str(w, r->name);
	sl__wr_bytes(w, r->id, SD_CTL_TOPIC_ID_BYTES);
}

static void put_configs(struct sl__wr *w, const struct sd_ctl_config *c, int32_t n)
{
	sl__wr_u16(w, (uint16_t)n);
	for (int32_t i = 0; i < n; i++) {
		put_str(w, c[i].key);
		put_str(w, c[i].value);
	}
}

static void put_replicas(struct sl__wr *w, const int32_t *replicas, int32_t n)
{
	sl__wr_u8(w, (uint8_t)n);
	for (int32_t i = 0; i < n; i++) {
		sl__wr_u32(w, (uint32_t)replicas[i]);
	}
}

static void put_parts(struct sl__wr *w, const struct sd_ctl_partition *p, int32_t n)
{
	for (int32_t i = 0; i < n; i++) {
		sl__wr_u64(w, p[i].group_id);
		put_replicas(w, p[i].replicas, p[i].n_replicas);
	}
}

static void put_broker(struct sl__wr *w, const struct sd_ctl_broker *b)
{
	sl__wr_u32(w, (uint32_t)b->id);
	put_str(w, b->region);
	put_str(w, b->rack);
	put_str(w, b->kafka.host);
	sl__wr_u16(w, b->kafka.port);
	put_str(w, b->rpc.host);
	sl__wr_u16(w, b->rpc.port);
	sl__wr_u64(w, b->incarnation);
}

static void put_body(struct sl__wr *w, const struct sd_ctl_cmd *cmd)
{
	const struct sd_ctl_topic *t = &cmd->u.create_topic;
	const struct sd_ctl_alter_configs *a = &cmd->u.alter_configs;
	const struct sd_ctl_create_partitions *c = &cmd->u.create_partitions;
	const struct sd_ctl_reassign *r = &cmd->u.reassign;
	switch (cmd->type) {
	case SD_CTL_CMD_REGISTER_BROKER:
		put_broker(w, &cmd->u.register_broker);
		break;
	case SD_CTL_CMD_UNREGISTER_BROKER:
		sl__wr_u32(w, (uint32_t)cmd->u.unregister_broker.broker_id);
		sl__wr_u64(w, cmd->u.unregister_broker.incarnation);
		break;
	case SD_CTL_CMD_CREATE_TOPIC:
		put_str(w, t->name);
		sl__wr_bytes(w, t->id, SD_CTL_TOPIC_ID_BYTES);
		sl__wr_u16(w, (uint16_t)t->replication_factor);
		sl__wr_u32(w, (uint32_t)t->n_partitions);
		put_configs(w, t->configs, t->n_configs);
		put_parts(w, t->partitions, t->n_partitions);
		break;
	case SD_CTL_CMD_DELETE_TOPIC:
		put_ref(w, &cmd->u.delete_topic);
		break;
	case SD_CTL_CMD_ALTER_TOPIC_CONFIGS:
		put_ref(w, &a->topic);
		put_configs(w, a->ops, a->n_ops);
		break;
	case SD_CTL_CMD_CREATE_PARTITIONS:
		put_ref(w, &c->topic);
		sl__wr_u32(w, (uint32_t)c->first_index);
		sl__wr_u32(w, (uint32_t)c->n_partitions);
		put_parts(w, c->partitions, c->n_partitions);
		break;
	case SD_CTL_CMD_REASSIGN:
		put_ref(w, &r->topic);
		sl__wr_u32(w, (uint32_t)r->partition);
		put_replicas(w, r->replicas, r->n_replicas);
		break;
	}
}

int sd_ctl_cmd_encode(const struct sd_ctl_cmd *cmd, uint8_t *buf, size_t cap, size_t *len)
{
	size_t size;
	int rc = sd_ctl_cmd_encoded_size(cmd, &size);
	if (rc != 0) {
		return rc;
	}
	if (cap < size) {
		return SD_CTL_ELIMIT;
	}
	struct sl__wr w;
	sl__wr_init(&w, buf, size);
	sl__wr_u8(&w, SD_CTL_CMD_VERSION);
	sl__wr_u8(&w, (uint8_t)cmd->type);
	put_body(&w, cmd);
	SL_ASSERT(w.p == w.end);
	*len = size;
	return 0;
}

/* ---- Decoding ----------------------------------------------------------- */

/* A decoder: the input cursor and the arena the command's memory comes from. */
struct dec {
	struct sl__rd r;
	struct sd__arena arena;
};

/* Reads a str (or an nstr when nullable) of at most max bytes into *out.
 * Returns 0, SD_CTL_ETRUNC, SD_CTL_ELIMIT, SD_CTL_EMALFORMED (a NUL byte, or
 * null where not allowed) or SD_CTL_ENOMEM. */
static int get_str(struct dec *d, size_t max, bool nullable, const char **out)
{
	uint16_t n = sl__rd_u16(&d->r);
	if (d->r.bad) {
		return SD_CTL_ETRUNC;
	}
	if (n == NULL_STR) {
		*out = NULL;
		return nullable ? 0 : SD_CTL_EMALFORMED;
	}
	if (n > max) {
		return SD_CTL_ELIMIT;
	}
	const uint8_t *p = sl__rd_bytes(&d->r, n);
	if (p == NULL) {
		return SD_CTL_ETRUNC;
	}
	if (memchr(p, 0, n) != NULL) {
		return SD_CTL_EMALFORMED;
	}
	*out = sd__arena_strndup(&d->arena, p, n);
	return *out != NULL ? 0 : SD_CTL_ENOMEM;
}

/* Reads n fixed bytes, or fails with SD_CTL_ETRUNC. */
static int get_fixed(struct dec *d, void *dst, size_t n)
{
	const uint8_t *p = sl__rd_bytes(&d->r, n);
	if (p == NULL) {
		return SD_CTL_ETRUNC;
	}
	memcpy(dst, p, n);
	return 0;
}

static int get_ref(struct dec *d, struct sd_ctl_topic_ref *ref)
{
	int rc = get_str(d, SD_CTL_TOPIC_NAME_MAX, true, &ref->name);
	return rc != 0 ? rc : get_fixed(d, ref->id, SD_CTL_TOPIC_ID_BYTES);
}

static int get_replicas(struct dec *d, int32_t *replicas, int32_t *n_out)
{
	uint8_t n = sl__rd_u8(&d->r);
	if (d->r.bad) {
		return SD_CTL_ETRUNC;
	}
	if (n > SD_CTL_REPLICAS_MAX) {
		return SD_CTL_ELIMIT;
	}
	for (uint8_t i = 0; i < n; i++) {
		replicas[i] = (int32_t)sl__rd_u32(&d->r);
	}
	*n_out = n;
	return d->r.bad ? SD_CTL_ETRUNC : 0;
}

/* Reads n partitions after checking n against its limit and the input. */
static int get_parts(struct dec *d, uint32_t n, const struct sd_ctl_partition **out)
{
	if (n > SD_CTL_TOPIC_PARTITIONS_MAX) {
		return SD_CTL_ELIMIT;
	}
	if ((size_t)n * PART_BYTES_MIN > d->r.left) {
		return SD_CTL_ETRUNC;
	}
	struct sd_ctl_partition *p = sd__arena_alloc(&d->arena, (size_t)n * sizeof(*p));
	if (p == NULL && n > 0) {
		return SD_CTL_ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		p[i].group_id = sl__rd_u64(&d->r);
		int rc = get_replicas(d, p[i].replicas, &p[i].n_replicas);
		if (rc != 0) {
			return rc;
		}
	}
	*out = p;
	return 0;
}

/* Reads a u16 count and that many configs (values nullable for alters). */
static int get_configs(struct dec *d, bool nullable, const struct sd_ctl_config **out,
		       int32_t *n_out)
{
	uint16_t n = sl__rd_u16(&d->r);
	if (d->r.bad) {
		return SD_CTL_ETRUNC;
	}
	if (n > SD_CTL_CONFIGS_MAX) {
		return SD_CTL_ELIMIT;
	}
	if ((size_t)n * CONFIG_BYTES_MIN > d->r.left) {
		return SD_CTL_ETRUNC;
	}
	struct sd_ctl_config *c = sd__arena_alloc(&d->arena, (size_t)n * sizeof(*c));
	if (c == NULL && n > 0) {
		return SD_CTL_ENOMEM;
	}
	for (uint16_t i = 0; i < n; i++) {
		int rc = get_str(d, SD_CTL_CONFIG_KEY_MAX, false, &c[i].key);
		if (rc == 0) {
			rc = get_str(d, SD_CTL_CONFIG_VALUE_MAX, nullable, &c[i].value);
		}
		if (rc != 0) {
			return rc;
		}
	}
	*out = c;
	*n_out = n;
	return 0;
}

static int get_broker(struct dec *d, struct sd_ctl_broker *b)
{
	b->id = (int32_t)sl__rd_u32(&d->r);
	if (d->r.bad) {
		return SD_CTL_ETRUNC;
	}
	int rc = get_str(d, SD_CTL_LOCATION_NAME_MAX, false, &b->region);
	if (rc == 0) {
		rc = get_str(d, SD_CTL_LOCATION_NAME_MAX, false, &b->rack);
	}
	if (rc == 0) {
		rc = get_str(d, SD_CTL_HOST_MAX, false, &b->kafka.host);
	}
	if (rc != 0) {
		return rc;
	}
	b->kafka.port = sl__rd_u16(&d->r);
	rc = get_str(d, SD_CTL_HOST_MAX, false, &b->rpc.host);
	if (rc != 0) {
		return rc;
	}
	b->rpc.port = sl__rd_u16(&d->r);
	b->incarnation = sl__rd_u64(&d->r);
	return d->r.bad ? SD_CTL_ETRUNC : 0;
}

static int get_create_topic(struct dec *d, struct sd_ctl_topic *t)
{
	int rc = get_str(d, SD_CTL_TOPIC_NAME_MAX, false, &t->name);
	if (rc == 0) {
		rc = get_fixed(d, t->id, SD_CTL_TOPIC_ID_BYTES);
	}
	if (rc != 0) {
		return rc;
	}
	t->replication_factor = sl__rd_u16(&d->r);
	uint32_t n = sl__rd_u32(&d->r);
	if (d->r.bad) {
		return SD_CTL_ETRUNC;
	}
	if (n > SD_CTL_TOPIC_PARTITIONS_MAX) {
		return SD_CTL_ELIMIT;
	}
	t->n_partitions = (int32_t)n;
	rc = get_configs(d, false, &t->configs, &t->n_configs);
	return rc != 0 ? rc : get_parts(d, n, &t->partitions);
}

static int get_create_partitions(struct dec *d, struct sd_ctl_create_partitions *c)
{
	int rc = get_ref(d, &c->topic);
	if (rc != 0) {
		return rc;
	}
	c->first_index = (int32_t)sl__rd_u32(&d->r);
	uint32_t n = sl__rd_u32(&d->r);
	if (d->r.bad) {
		return SD_CTL_ETRUNC;
	}
	c->n_partitions = n > SD_CTL_TOPIC_PARTITIONS_MAX ? 0 : (int32_t)n;
	return get_parts(d, n, &c->partitions);
}

static int get_reassign(struct dec *d, struct sd_ctl_reassign *r)
{
	int rc = get_ref(d, &r->topic);
	if (rc != 0) {
		return rc;
	}
	r->partition = (int32_t)sl__rd_u32(&d->r);
	if (d->r.bad) {
		return SD_CTL_ETRUNC;
	}
	return get_replicas(d, r->replicas, &r->n_replicas);
}

static int get_body(struct dec *d, struct sd_ctl_cmd *cmd)
{
	switch (cmd->type) {
	case SD_CTL_CMD_REGISTER_BROKER:
		return get_broker(d, &cmd->u.register_broker);
	case SD_CTL_CMD_UNREGISTER_BROKER:
		cmd->u.unregister_broker.broker_id = (int32_t)sl__rd_u32(&d->r);
		cmd->u.unregister_broker.incarnation = sl__rd_u64(&d->r);
		return d->r.bad ? SD_CTL_ETRUNC : 0;
	case SD_CTL_CMD_CREATE_TOPIC:
		return get_create_topic(d, &cmd->u.create_topic);
	case SD_CTL_CMD_DELETE_TOPIC:
		return get_ref(d, &cmd->u.delete_topic);
	case SD_CTL_CMD_ALTER_TOPIC_CONFIGS: {
		int rc = get_ref(d, &cmd->u.alter_configs.topic);
		return rc != 0 ? rc
			       : get_configs(d, true, &cmd->u.alter_configs.ops,
					     &cmd->u.alter_configs.n_ops);
	}
	case SD_CTL_CMD_CREATE_PARTITIONS:
		return get_create_partitions(d, &cmd->u.create_partitions);
	case SD_CTL_CMD_REASSIGN:
		return get_reassign(d, &cmd->u.reassign);
	}
	return SD_CTL_ETYPE;
}

int sd_ctl_cmd_decode(const uint8_t *buf, size_t len, struct sd_ctl_cmd *out)
{
	SL_ASSERT(out != NULL && (buf != NULL || len == 0));
	memset(out, 0, sizeof(*out));
	if (len > SD_CTL_CMD_BYTES_MAX) {
		return SD_CTL_ELIMIT;
	}
	struct dec d = {.arena = {NULL}};
	sl__rd_init(&d.r, buf, len);
	uint8_t version = sl__rd_u8(&d.r);
	uint8_t type = sl__rd_u8(&d.r);
	if (d.r.bad) {
		return SD_CTL_ETRUNC;
	}
	if (version != SD_CTL_CMD_VERSION) {
		return SD_CTL_EVERSION;
	}
	out->type = (enum sd_ctl_cmd_type)type;
	int rc = get_body(&d, out);
	if (rc == 0 && d.r.left != 0) {
		rc = SD_CTL_EMALFORMED;
	}
	if (rc == 0) {
		rc = sd_ctl_cmd_validate(out);
	}
	if (rc != 0) {
		sd__arena_release(d.arena.head);
		memset(out, 0, sizeof(*out));
		return rc;
	}
	out->mem = d.arena.head;
	return 0;
}
