/* Control batches that carry BARRIER and CONFIG entries, and classifying a
 * stored batch into an entry kind. Pure functions: no I/O. */
#include <string.h>

#include "proto/proto.h"
#include "raftlog/internal.h"

static int control_type(enum rl_kind kind)
{
	switch (kind) {
	case RL_KIND_BARRIER:
		return RL_CONTROL_TYPE_BARRIER;
	case RL_KIND_CONFIG:
		return RL_CONTROL_TYPE_CONFIG;
	default:
		return -1;
	}
}

int rl_control_batch_build(enum rl_kind kind, const void *payload, size_t payload_len,
			   int64_t timestamp_ms, uint8_t **out, size_t *out_len)
{
	int type = control_type(kind);
	if (type < 0 || payload_len > INT32_MAX || (payload == NULL && payload_len > 0)) {
		return RL_EINVAL;
	}
	uint8_t key[4];
	kp_put_u16(key, 0);
	kp_put_u16(key + 2, (uint16_t)type);
	struct kp_batch_builder b;
	int rv = kp_batch_builder_init(&b, 0, KP_CODEC_NONE, -1, -1, -1);
	if (rv != 0) {
		return rv == KP_ENOMEM ? RL_ENOMEM : RL_EINVAL;
	}
	kp_batch_builder_set_control(&b);
	rv = kp_batch_builder_add(&b, timestamp_ms, key, 4, payload != NULL ? payload : "",
				  (int32_t)payload_len, NULL, 0);
	if (rv == 0) {
		rv = kp_batch_builder_finish(&b);
	}
	if (rv != 0) {
		kp_batch_builder_free(&b);
		return rv == KP_ENOMEM ? RL_ENOMEM : RL_EINVAL;
	}
	*out = kp_batch_builder_take(&b, out_len);
	kp_batch_builder_free(&b);
	return *out != NULL ? 0 : RL_ENOMEM;
}

/* Decodes the single record of an uncompressed control batch and returns its
 * kind (DATA when the key is not one of ours). */
static int control_kind(const uint8_t *buf, size_t len, enum rl_kind *kind,
			const uint8_t **payload, size_t *payload_len)
{
	struct kp_record_iter it;
	struct kp_record rec;
	if (kp_record_iter_init(&it, buf, len) != 0) {
		return RL_EBATCH;
	}
	int rv = kp_record_iter_next(&it, &rec);
	if (rv != 1) {
		kp_record_iter_free(&it);
		return RL_EBATCH;
	}
	*kind = RL_KIND_DATA;
	if (rec.key_len == 4 && kp_get_u16(rec.key) == 0) {
		uint16_t type = kp_get_u16(rec.key + 2);
		if (type == RL_CONTROL_TYPE_BARRIER) {
			*kind = RL_KIND_BARRIER;
		} else if (type == RL_CONTROL_TYPE_CONFIG) {
			*kind = RL_KIND_CONFIG;
		}
	}
	if (*kind != RL_KIND_DATA) {
		if (it.hdr.records_count != 1) {
			kp_record_iter_free(&it);
			return RL_EBATCH;
		}
		*payload = rec.value_len > 0 ? rec.value : NULL;
		*payload_len = rec.value_len > 0 ? (size_t)rec.value_len : 0;
	}
	kp_record_iter_free(&it);
	return 0;
}

int rl_batch_kind(const uint8_t *buf, size_t len, enum rl_kind *kind, const uint8_t **payload,
		  size_t *payload_len)
{
	const uint8_t *p = NULL;
	size_t plen = 0;
	SL_ASSERT(len >= KP_BATCH_HEADER_SIZE);
	uint16_t attrs = kp_get_u16(buf + KP_BATCH_OFF_ATTRIBUTES);
	*kind = RL_KIND_DATA;
	if ((attrs & KP_ATTR_CONTROL) && (attrs & KP_ATTR_CODEC_MASK) == KP_CODEC_NONE) {
		int rv = control_kind(buf, len, kind, &p, &plen);
		if (rv != 0) {
			return rv;
		}
	}
	if (payload != NULL) {
		*payload = p;
	}
	if (payload_len != NULL) {
		*payload_len = plen;
	}
	return 0;
}
