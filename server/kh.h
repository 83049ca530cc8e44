/* Kafka request handlers of stretchlogd (private to server/): shared error
 * codes and helpers. Every handler maps internal errors to Kafka error codes
 * through sd_kafka_err_from_rl(), the one place that does it. */
#ifndef SD_KH_H
#define SD_KH_H

#include <stdint.h>

#include "proto/kmsg.h"
#include "server/broker.h"
#include "server/kafka_conn.h"

/* Kafka error codes used by the handlers. */
enum {
	KE_NONE = 0,
	KE_OFFSET_OUT_OF_RANGE = 1,
	KE_CORRUPT_MESSAGE = 2,
	KE_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KE_LEADER_NOT_AVAILABLE = 5,
	KE_NOT_LEADER_OR_FOLLOWER = 6,
	KE_REQUEST_TIMED_OUT = 7,
	KE_MESSAGE_TOO_LARGE = 10,
	KE_INVALID_TOPIC_EXCEPTION = 17,
	KE_RECORD_LIST_TOO_LARGE = 18,
	KE_NOT_ENOUGH_REPLICAS = 19,
	KE_INVALID_REQUIRED_ACKS = 21,
	KE_UNSUPPORTED_VERSION = 35,
	KE_INVALID_REQUEST = 42,
	KE_UNKNOWN_MEMBER_ID = 25,
	KE_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
	KE_KAFKA_STORAGE_ERROR = 56,
	KE_FENCED_LEADER_EPOCH = 74,
	KE_UNKNOWN_LEADER_EPOCH = 75,
	KE_INVALID_RECORD = 87,
};

/* Maps an rl_err (raftlog) to the Kafka error code a client should see. */
int16_t sd_kafka_err_from_rl(int rl_err);

/* Copies a kmsg_str into dst (NUL-terminated); false if null or too long. */
bool sd_kstr_copy(const struct kmsg_str *s, char *dst, size_t cap);

/* Registration of each handler file. */
void sd_kh_meta_register(struct sd_broker *b);
void sd_kh_produce_register(struct sd_broker *b);
void sd_kh_fetch_register(struct sd_broker *b);
void sd_kh_admin_register(struct sd_broker *b);
void sd_kh_group_register(struct sd_broker *b);

#endif /* SD_KH_H */
