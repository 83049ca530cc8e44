/* Topic configs: the checks behind CreateTopics and AlterConfigs, a topic's
 * effective configuration over the cluster defaults, and the rows of a
 * DescribeConfigs answer. Errors here are Kafka error codes. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "server/config_int.h"

/* Which field of struct sd_topic_config an int64 topic key sets. */
struct field {
	const char *name;
	size_t offset;
};

static const struct field int64_fields[] = {
    {"follower.read.max.staleness.ms",
     offsetof(struct sd_topic_config, follower_read_max_staleness_ms)},
    {"retention.ms", offsetof(struct sd_topic_config, retention_ms)},
    {"retention.bytes", offsetof(struct sd_topic_config, retention_bytes)},
    {"segment.bytes", offsetof(struct sd_topic_config, segment_bytes)},
    {"max.message.bytes", offsetof(struct sd_topic_config, max_message_bytes)},
};

static int16_t invalid(char *msg, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int16_t invalid(char *msg, size_t len, const char *fmt, ...)
{
	if (msg != NULL && len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, len, fmt, ap);
		va_end(ap);
	}
	return SD_KAFKA_INVALID_CONFIG;
}

static void clear_msg(char *msg, size_t len)
{
	if (msg != NULL && len > 0) {
		msg[0] = '\0';
	}
}

/* Parses a topic value; canon holds SD_TOPIC_VALUE_BYTES_MAX + 1 bytes. */
static int16_t parse_topic_value(const struct sd_config_key *k, const char *value, char *canon,
				 union sd_config_value *v, char *msg, size_t len)
{
	if (strlen(value) > SD_TOPIC_VALUE_BYTES_MAX) {
		return invalid(msg, len, "%s: a value of %zu bytes exceeds %d bytes", k->name,
			       strlen(value), SD_TOPIC_VALUE_BYTES_MAX);
	}
	char why[SD_CONFIG_ERRMSG_BYTES];
	if (sd_config_value_parse(k, value, canon, SD_TOPIC_VALUE_BYTES_MAX + 1, v, why,
				  sizeof(why)) != 0) {
		return invalid(msg, len, "%s", why);
	}
	return SD_KAFKA_NONE;
}

int16_t sd_topic_config_check(const char *name, const char *value, char *msg, size_t msg_len)
{
	clear_msg(msg, msg_len);
	const struct sd_config_key *k = sd_config_key_find(SD_CONFIG_TOPIC, name);
	if (k == NULL) {
		size_t n;
		const struct sd_config_key *keys = sd_config_keys(&n);
		for (size_t i = 0; name != NULL && i < n; i++) {
			if (keys[i].scope == SD_CONFIG_TOPIC &&
			    strcmp(keys[i].synonym, name) == 0) {
				return invalid(msg, msg_len,
					       "unknown topic config '%s': it is a broker key; the "
					       "topic config is %s",
					       name, keys[i].name);
			}
		}
		return invalid(msg, msg_len, "unknown topic config '%.200s'",
			       name != NULL ? name : "(null)");
	}
	if (value == NULL) {
		return SD_KAFKA_NONE;
	}
	char canon[SD_TOPIC_VALUE_BYTES_MAX + 1];
	union sd_config_value v;
	return parse_topic_value(k, value, canon, &v, msg, msg_len);
}

int16_t sd_topic_config_check_all(const struct sd_config_kv *kv, int n, char *msg, size_t msg_len)
{
	clear_msg(msg, msg_len);
	if (n < 0 || n > SD_TOPIC_CONFIGS_MAX || (n > 0 && kv == NULL)) {
		return invalid(msg, msg_len, "%d configs; at most %d per topic", n,
			       SD_TOPIC_CONFIGS_MAX);
	}
	for (int i = 0; i < n; i++) {
		int16_t err = sd_topic_config_check(kv[i].name, kv[i].value, msg, msg_len);
		if (err != SD_KAFKA_NONE) {
			return err;
		}
		for (int k = 0; k < i; k++) {
			if (strcmp(kv[k].name, kv[i].name) == 0) {
				return invalid(msg, msg_len, "%s: set twice", kv[i].name);
			}
		}
	}
	return SD_KAFKA_NONE;
}

/* Returns the override of a topic key among kv, or NULL (also for a NULL
 * value, which means the cluster default). */
static const char *override_of(const struct sd_config_kv *kv, int n, const char *name)
{
	const char *v = NULL;
	for (int i = 0; i < n; i++) {
		if (kv[i].name != NULL && strcmp(kv[i].name, name) == 0) {
			v = kv[i].value;
		}
	}
	return v;
}

static void set_field(struct sd_topic_config *out, const struct sd_config_key *k, const char *canon,
		      union sd_config_value v)
{
	for (size_t i = 0; i < SL_ARRAY_LEN(int64_fields); i++) {
		if (strcmp(k->name, int64_fields[i].name) == 0) {
			memcpy((char *)out + int64_fields[i].offset, &v.i, sizeof(v.i));
			return;
		}
	}
	if (strcmp(k->name, "leaders.preference") == 0) {
		int rv = pl_preference_parse(canon, &out->leaders_preference, NULL, 0);
		SL_ASSERT(rv == 0);
	} else if (strcmp(k->name, "compression.type") == 0) {
		out->compression = strcmp(canon, "lz4") == 0	? SD_COMPRESSION_LZ4
				   : strcmp(canon, "none") == 0 ? SD_COMPRESSION_NONE
								: SD_COMPRESSION_PRODUCER;
	} else if (strcmp(k->name, "min.insync.replicas") == 0) {
		out->min_insync_replicas = (int32_t)v.i;
	} else {
		SL_ASSERT(strcmp(k->name, "cleanup.policy") == 0); /* a key without a field */
	}
}

int16_t sd_topic_config_resolve(const struct sd_config *broker, const struct sd_config_kv *kv,
				int n, struct sd_topic_config *out, char *msg, size_t msg_len)
{
	SL_ASSERT(broker != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	int16_t err = sd_topic_config_check_all(kv, n, msg, msg_len);
	if (err != SD_KAFKA_NONE) {
		return err;
	}
	size_t count;
	const struct sd_config_key *keys = sd_config_keys(&count);
	for (size_t i = 0; i < count; i++) {
		const struct sd_config_key *k = &keys[i];
		if (k->scope != SD_CONFIG_TOPIC) {
			continue;
		}
		const char *text = override_of(kv, n, k->name);
		if (text == NULL) {
			text = sd_config_str(broker, k->synonym);
		}
		char canon[SD_TOPIC_VALUE_BYTES_MAX + 1];
		union sd_config_value v;
		err = parse_topic_value(k, text, canon, &v, msg, msg_len);
		if (err != SD_KAFKA_NONE) {
			return err; /* only a broker default the topic key refuses */
		}
		set_field(out, k, canon, v);
	}
	return SD_KAFKA_NONE;
}

int8_t sd_config_kafka_type(const struct sd_config_key *k)
{
	switch (k->type) {
	case SD_CONFIG_BOOL:
		return SD_KAFKA_TYPE_BOOLEAN;
	case SD_CONFIG_DOUBLE:
		return SD_KAFKA_TYPE_DOUBLE;
	case SD_CONFIG_LIST:
		return SD_KAFKA_TYPE_LIST;
	case SD_CONFIG_INT:
	case SD_CONFIG_DURATION:
	case SD_CONFIG_BYTES:
		return k->max <= INT32_MAX && k->min >= INT32_MIN ? SD_KAFKA_TYPE_INT
								  : SD_KAFKA_TYPE_LONG;
	default:
		return SD_KAFKA_TYPE_STRING;
	}
}

static void describe_one(const struct sd_config *broker, const struct sd_config_key *k,
			 const char *override, struct sd_config_description *d)
{
	memset(d, 0, sizeof(*d));
	d->name = k->name;
	d->config_type = sd_config_kafka_type(k);
	d->documentation = k->description;
	d->synonym = k->synonym;
	d->synonym_value = sd_config_str(broker, k->synonym);
	d->synonym_source = sd_config_source_of(broker, k->synonym) == SD_CONFIG_SOURCE_DEFAULT
				? SD_KAFKA_SOURCE_DEFAULT
				: SD_KAFKA_SOURCE_STATIC_BROKER;
	if (override != NULL) {
		union sd_config_value v;
		if (parse_topic_value(k, override, d->value, &v, NULL, 0) != SD_KAFKA_NONE) {
			snprintf(d->value, sizeof(d->value), "%s", override);
		}
		d->source = SD_KAFKA_SOURCE_DYNAMIC_TOPIC;
	} else {
		snprintf(d->value, sizeof(d->value), "%s", d->synonym_value);
		d->source = d->synonym_source;
	}
	d->is_default = d->source == SD_KAFKA_SOURCE_DEFAULT;
}

int sd_topic_config_describe(const struct sd_config *broker, const struct sd_config_kv *kv, int n,
			     struct sd_config_description *out)
{
	SL_ASSERT(broker != NULL && out != NULL && n >= 0);
	size_t count;
	const struct sd_config_key *keys = sd_config_keys(&count);
	int rows = 0;
	for (size_t i = 0; i < count; i++) {
		if (keys[i].scope != SD_CONFIG_TOPIC) {
			continue;
		}
		SL_ASSERT(rows < SD_TOPIC_KEYS_MAX);
		describe_one(broker, &keys[i], override_of(kv, n, keys[i].name), &out[rows++]);
	}
	return rows;
}
