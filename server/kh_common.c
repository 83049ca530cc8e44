/* Shared pieces of the Kafka handlers: the one internal-to-Kafka error
 * mapping, string helpers and handler registration. */
#include <string.h>

#include "server/kh.h"

int16_t sd_kafka_err_from_rl(int rl_err)
{
	switch (rl_err) {
	case 0:
		return KE_NONE;
	case RL_ENOTLEADER:
	case RL_ESHUTDOWN:
		return KE_NOT_LEADER_OR_FOLLOWER;
	case RL_ETOOLARGE:
		return KE_MESSAGE_TOO_LARGE;
	case RL_EBATCH:
		return KE_CORRUPT_MESSAGE;
	case RL_ERANGE:
		return KE_OFFSET_OUT_OF_RANGE;
	case RL_EIO:
	case RL_ECORRUPT:
		return KE_KAFKA_STORAGE_ERROR;
	case RL_ENOMEM:
	case RL_EBUSY:
	case RL_EAGAIN:
		return KE_REQUEST_TIMED_OUT;
	default:
		return KE_KAFKA_STORAGE_ERROR;
	}
}

bool sd_kstr_copy(const struct kmsg_str *s, char *dst, size_t cap)
{
	if (s->null || s->len < 0 || (size_t)s->len >= cap) {
		return false;
	}
	memcpy(dst, s->ptr, (size_t)s->len);
	dst[s->len] = '\0';
	return memchr(dst, '\0', (size_t)s->len) == NULL;
}

void sd_kh_register(struct sd_broker *b)
{
	sd_kh_meta_register(b);
	sd_kh_produce_register(b);
	sd_kh_fetch_register(b);
	sd_kh_admin_register(b);
	sd_kh_group_register(b);
}
