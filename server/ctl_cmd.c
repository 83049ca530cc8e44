/* Controller commands: error and name tables, the command arena, and the
 * state-independent validation every encoded, decoded or applied command
 * passes. */
#include <string.h>

#include "common/sl_common.h"
#include "server/ctl_int.h"

const char *sd_ctl_strerror(int err)
{
	if (err == 0) {
		return "success";
	}
	switch (err) {
#define SD_CTL__ERR_TEXT(name, value, msg)                                                         \
	case value:                                                                                \
		return msg;
		SD_CTL_ERRORS(SD_CTL__ERR_TEXT)
#undef SD_CTL__ERR_TEXT
	default:
		return "unknown controller error";
	}
}

const char *sd_ctl_err_name(int err)
{
	if (err == 0) {
		return "0";
	}
	switch (err) {
#define SD_CTL__ERR_NAME(name, value, msg)                                                         \
	case value:                                                                                \
		return #name;
		SD_CTL_ERRORS(SD_CTL__ERR_NAME)
#undef SD_CTL__ERR_NAME
	default:
		return "SD_CTL_EUNKNOWN";
	}
}

const char *sd_ctl_outcome_str(enum sd_ctl_outcome o)
{
	switch (o) {
#define SD_CTL__OUTCOME_TEXT(name, msg)                                                            \
	case SD_CTL_OUTCOME_##name:                                                                \
		return msg;
		SD_CTL_OUTCOMES(SD_CTL__OUTCOME_TEXT)
#undef SD_CTL__OUTCOME_TEXT
	}
	return "unknown";
}

const char *sd_ctl_outcome_name(enum sd_ctl_outcome o)
{
	switch (o) {
#define SD_CTL__OUTCOME_NAME(name, msg)                                                            \
	case SD_CTL_OUTCOME_##name:                                                                \
		return #name;
		SD_CTL_OUTCOMES(SD_CTL__OUTCOME_NAME)
#undef SD_CTL__OUTCOME_NAME
	}
	return "UNKNOWN";
}

const char *sd_ctl_cmd_type_str(enum sd_ctl_cmd_type type)
{
	switch (type) {
	case SD_CTL_CMD_REGISTER_BROKER:
		return "REGISTER_BROKER";
	case SD_CTL_CMD_UNREGISTER_BROKER:
		return "UNREGISTER_BROKER";
	case SD_CTL_CMD_CREATE_TOPIC:
		return "CREATE_TOPIC";
	case SD_CTL_CMD_DELETE_TOPIC:
		return "DELETE_TOPIC";
	case SD_CTL_CMD_ALTER_TOPIC_CONFIGS:
		return "ALTER_TOPIC_CONFIGS";
	case SD_CTL_CMD_CREATE_PARTITIONS:
		return "CREATE_PARTITIONS";
	case SD_CTL_CMD_REASSIGN:
		return "REASSIGN";
	}
	return "UNKNOWN";
}

/* ---- Arena -------------------------------------------------------------- */

struct sd__chunk {
	struct sd__chunk *next;
	size_t used;
	size_t cap;
	uint64_t data[]; /* 8-byte aligned payload */
};

/* Most commands fit one chunk of this size. */
#define CHUNK_BYTES_MIN 2048

void *sd__arena_alloc(struct sd__arena *a, size_t n)
{
	size_t need = (n + 7) & ~(size_t)7;
	struct sd__chunk *c = a->head;
	if (need < n) {
		return NULL;
	}
	if (c == NULL || c->cap - c->used < need) {
		size_t cap = SL_MAX(need, (size_t)CHUNK_BYTES_MIN);
		if (cap > SIZE_MAX - sizeof(*c)) {
			return NULL;
		}
		c = sl_malloc(sizeof(*c) + cap);
		if (c == NULL) {
			return NULL;
		}
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
	}
	void *p = (uint8_t *)c->data + c->used;
	c->used += need;
	memset(p, 0, n);
	return p;
}

char *sd__arena_strndup(struct sd__arena *a, const void *s, size_t n)
{
	char *p = sd__arena_alloc(a, n + 1);
	if (p != NULL && n > 0) {
		memcpy(p, s, n);
	}
	return p;
}

void sd__arena_release(struct sd__chunk *head)
{
	while (head != NULL) {
		struct sd__chunk *next = head->next;
		sl_free(head);
		head = next;
	}
}

void sd_ctl_cmd_free(struct sd_ctl_cmd *cmd)
{
	if (cmd == NULL) {
		return;
	}
	sd__arena_release(cmd->mem);
	memset(cmd, 0, sizeof(*cmd));
}

/* ---- Field rules -------------------------------------------------------- */

bool sd__token_valid(const char *s, size_t max)
{
	if (s == NULL) {
		return false;
	}
	size_t n = strnlen(s, max + 1);
	if (n == 0 || n > max) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f) {
			return false;
		}
	}
	return true;
}

static bool name_char(unsigned char c, bool slash)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || (slash && c == '/');
}

bool sd__location_valid(const char *s)
{
	if (s == NULL) {
		return false;
	}
	size_t n = strnlen(s, SD_CTL_LOCATION_NAME_MAX + 1);
	if (n == 0 || n > SD_CTL_LOCATION_NAME_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!name_char((unsigned char)s[i], true)) {
			return false;
		}
	}
	return true;
}

bool sd_ctl_topic_name_valid(const char *name)
{
	if (name == NULL) {
		return false;
	}
	size_t n = strnlen(name, SD_CTL_TOPIC_NAME_MAX + 1);
	if (n == 0 || n > SD_CTL_TOPIC_NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!name_char((unsigned char)name[i], false)) {
			return false;
		}
	}
	return true;
}

bool sd__config_value_valid(const char *s)
{
	return s != NULL && strnlen(s, SD_CTL_CONFIG_VALUE_MAX + 1) <= SD_CTL_CONFIG_VALUE_MAX;
}

bool sd__id_zero(const uint8_t *id)
{
	uint8_t acc = 0;
	for (int i = 0; i < SD_CTL_TOPIC_ID_BYTES; i++) {
		acc |= id[i];
	}
	return acc == 0;
}

bool sd__replicas_valid(const int32_t *replicas, int32_t n)
{
	for (int32_t i = 0; i < n; i++) {
		if (replicas[i] < 0) {
			return false;
		}
		for (int32_t j = 0; j < i; j++) {
			if (replicas[j] == replicas[i]) {
				return false;
			}
		}
	}
	return true;
}

void sd__id_hex(const uint8_t *id, char buf[33])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < SD_CTL_TOPIC_ID_BYTES; i++) {
		buf[2 * i] = digits[id[i] >> 4];
		buf[2 * i + 1] = digits[id[i] & 15];
	}
	buf[32] = '\0';
}

const char *sd_ctl_topic_config(const struct sd_ctl_topic *t, const char *key)
{
	for (int32_t i = 0; i < t->n_configs; i++) {
		if (strcmp(t->configs[i].key, key) == 0) {
			return t->configs[i].value;
		}
	}
	return NULL;
}

/* ---- Command validation ------------------------------------------------- */

static int check_ref(const struct sd_ctl_topic_ref *ref)
{
	if (ref->name == NULL) {
		return sd__id_zero(ref->id) ? SD_CTL_EMALFORMED : 0;
	}
	return sd_ctl_topic_name_valid(ref->name) ? 0 : SD_CTL_EMALFORMED;
}

/* Configs or alter operations: valid keys, distinct, values valid (NULL
 * allowed only for deletes). */
static int check_configs(const struct sd_ctl_config *c, int32_t n, int32_t min, bool deletes)
{
	if (n < min || n > SD_CTL_CONFIGS_MAX) {
		return n < 0 || n < min ? SD_CTL_EMALFORMED : SD_CTL_ELIMIT;
	}
	if (n > 0 && c == NULL) {
		return SD_CTL_EMALFORMED;
	}
	for (int32_t i = 0; i < n; i++) {
		if (!sd__token_valid(c[i].key, SD_CTL_CONFIG_KEY_MAX)) {
			return SD_CTL_EMALFORMED;
		}
		if (c[i].value == NULL ? !deletes : !sd__config_value_valid(c[i].value)) {
			return SD_CTL_EMALFORMED;
		}
		for (int32_t j = 0; j < i; j++) {
			if (strcmp(c[i].key, c[j].key) == 0) {
				return SD_CTL_EMALFORMED;
			}
		}
	}
	return 0;
}

/* Partitions of a create: n in range, group ids ascending from >= 1, each
 * with rf distinct replicas. */
static int check_partitions(const struct sd_ctl_partition *p, int32_t n, int32_t rf)
{
	if (n < 1 || n > SD_CTL_TOPIC_PARTITIONS_MAX) {
		return n < 1 ? SD_CTL_EMALFORMED : SD_CTL_ELIMIT;
	}
	if (p == NULL) {
		return SD_CTL_EMALFORMED;
	}
	uint64_t prev = SD_CTL_CONTROLLER_GROUP_ID;
	for (int32_t i = 0; i < n; i++) {
		if (p[i].group_id <= prev || p[i].n_replicas != rf || p[i].replica_epoch != 0 ||
		    !sd__replicas_valid(p[i].replicas, rf)) {
			return SD_CTL_EMALFORMED;
		}
		prev = p[i].group_id;
	}
	return 0;
}

static int check_broker(const struct sd_ctl_broker *b)
{
	if (b->id < 0 || !sd__location_valid(b->region) || !sd__location_valid(b->rack) ||
	    !sd__token_valid(b->kafka.host, SD_CTL_HOST_MAX) || b->kafka.port == 0 ||
	    !sd__token_valid(b->rpc.host, SD_CTL_HOST_MAX) || b->rpc.port == 0) {
		return SD_CTL_EMALFORMED;
	}
	return 0;
}

static int check_create_topic(const struct sd_ctl_topic *t)
{
	if (!sd_ctl_topic_name_valid(t->name) || sd__id_zero(t->id) || t->replication_factor < 1) {
		return SD_CTL_EMALFORMED;
	}
	if (t->replication_factor > SD_CTL_REPLICATION_FACTOR_MAX) {
		return SD_CTL_ELIMIT;
	}
	int rc = check_configs(t->configs, t->n_configs, 0, false);
	if (rc == 0) {
		rc = check_partitions(t->partitions, t->n_partitions, t->replication_factor);
	}
	return rc;
}

static int check_create_partitions(const struct sd_ctl_create_partitions *c)
{
	int rc = check_ref(&c->topic);
	if (rc != 0) {
		return rc;
	}
	if (c->first_index < 1 || c->n_partitions < 1 || c->partitions == NULL) {
		return SD_CTL_EMALFORMED;
	}
	if (c->n_partitions > SD_CTL_TOPIC_PARTITIONS_MAX ||
	    c->first_index > SD_CTL_TOPIC_PARTITIONS_MAX - c->n_partitions) {
		return SD_CTL_ELIMIT;
	}
	int32_t rf = c->partitions[0].n_replicas;
	if (rf < 1 || rf > SD_CTL_REPLICATION_FACTOR_MAX) {
		return rf < 1 ? SD_CTL_EMALFORMED : SD_CTL_ELIMIT;
	}
	return check_partitions(c->partitions, c->n_partitions, rf);
}

static int check_reassign(const struct sd_ctl_reassign *r)
{
	int rc = check_ref(&r->topic);
	if (rc != 0) {
		return rc;
	}
	if (r->partition < 0 || r->n_replicas < 1) {
		return SD_CTL_EMALFORMED;
	}
	if (r->partition >= SD_CTL_TOPIC_PARTITIONS_MAX || r->n_replicas > SD_CTL_REPLICAS_MAX) {
		return SD_CTL_ELIMIT;
	}
	return sd__replicas_valid(r->replicas, r->n_replicas) ? 0 : SD_CTL_EMALFORMED;
}

int sd_ctl_cmd_validate(const struct sd_ctl_cmd *cmd)
{
	SL_ASSERT(cmd != NULL);
	switch (cmd->type) {
	case SD_CTL_CMD_REGISTER_BROKER:
		return check_broker(&cmd->u.register_broker);
	case SD_CTL_CMD_UNREGISTER_BROKER:
		return cmd->u.unregister_broker.broker_id >= 0 ? 0 : SD_CTL_EMALFORMED;
	case SD_CTL_CMD_CREATE_TOPIC:
		return check_create_topic(&cmd->u.create_topic);
	case SD_CTL_CMD_DELETE_TOPIC:
		return check_ref(&cmd->u.delete_topic);
	case SD_CTL_CMD_ALTER_TOPIC_CONFIGS: {
		int rc = check_ref(&cmd->u.alter_configs.topic);
		if (rc == 0) {
			rc = check_configs(cmd->u.alter_configs.ops, cmd->u.alter_configs.n_ops, 1,
					   true);
		}
		return rc;
	}
	case SD_CTL_CMD_CREATE_PARTITIONS:
		return check_create_partitions(&cmd->u.create_partitions);
	case SD_CTL_CMD_REASSIGN:
		return check_reassign(&cmd->u.reassign);
	}
	return SD_CTL_ETYPE;
}
