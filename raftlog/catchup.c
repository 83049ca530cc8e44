/* Wire format of catch-up messages (requests, replies, data chunks of the
 * streaming range transfer): encoding, and decoding that validates every
 * field so that hostile input is an error, never a crash.
 *
 * Every message starts with [u8 version = 1][u8 type][u16 flags = 0]; all
 * integers are big-endian.
 *
 *   REQUEST (control lane, follower -> source), 60 bytes:
 *     u64 session      follower's transfer id (non-zero)
 *     u32 seq          request number within the session
 *     u64 target_index the snapshot index to reach (>= 1)
 *     u64 target_term  its term (>= 1)
 *     u64 prev_index   last entry of the follower's kept prefix
 *     u64 prev_term    its term; 0 = the follower's log is empty and its
 *                      next entry is prev_index + 1
 *     i64 next_offset  offset just past the prefix (>= 0)
 *     u32 window_bytes bytes wanted (0 = only check the prefix)
 *   REPLY (control lane, source -> follower), 36 bytes:
 *     u64 session, u32 seq  echoed from the request
 *     u32 status            enum rl__cu_status
 *     u64 log_first_index   source's first retained index (>= 1)
 *     i64 log_start_offset  source's log start offset (>= 0)
 *   DATA (bulk lane, source -> follower), 48-byte header + payload:
 *     u64 session, u32 seq  echoed from the request
 *     u64 first_index       Raft index of the window's first batch (>= 1)
 *     u64 last_index        and of its last batch (>= first_index)
 *     i64 base_offset       base offset of the first batch (>= 0)
 *     u32 total_bytes       bytes of the window (whole stored batches)
 *     u32 pos               position of this payload within the window
 *     payload               1 .. total_bytes - pos bytes
 *   A message is at most RL_CATCHUP_MSG_BYTES_MAX bytes. */
#include <string.h>

#include "proto/proto.h"
#include "raftlog/group_int.h"

#define CU_VERSION 1
#define CU_FIXED   4

static size_t put_head(uint8_t *p, uint8_t type)
{
	p[0] = CU_VERSION;
	p[1] = type;
	kp_put_u16(p + 2, 0);
	return CU_FIXED;
}

size_t rl__cu_encode(const struct rl__cu_msg *m, uint8_t *buf, size_t cap)
{
	size_t need = m->type == RL__CU_REQUEST ? RL__CU_REQUEST_BYTES
		      : m->type == RL__CU_REPLY ? RL__CU_REPLY_BYTES
		      : m->type == RL__CU_DATA	? RL__CU_DATA_HDR_BYTES + m->payload_len
						: 0;
	if (need == 0 || need > cap || need > RL_CATCHUP_MSG_BYTES_MAX) {
		return 0;
	}
	uint8_t *p = buf + put_head(buf, m->type);
	kp_put_u64(p, m->session);
	kp_put_u32(p + 8, m->seq);
	p += 12;
	if (m->type == RL__CU_REQUEST) {
		kp_put_u64(p, m->target_index);
		kp_put_u64(p + 8, m->target_term);
		kp_put_u64(p + 16, m->prev_index);
		kp_put_u64(p + 24, m->prev_term);
		kp_put_u64(p + 32, (uint64_t)m->next_offset);
		kp_put_u32(p + 40, m->window_bytes);
	} else if (m->type == RL__CU_REPLY) {
		kp_put_u32(p, m->status);
		kp_put_u64(p + 4, m->log_first_index);
		kp_put_u64(p + 12, (uint64_t)m->log_start_offset);
	} else {
		kp_put_u64(p, m->first_index);
		kp_put_u64(p + 8, m->last_index);
		kp_put_u64(p + 16, (uint64_t)m->base_offset);
		kp_put_u32(p + 24, m->total_bytes);
		kp_put_u32(p + 28, m->pos);
		if (m->payload != NULL && m->payload_len > 0) {
			memcpy(p + 32, m->payload, m->payload_len);
		}
	}
	return need;
}

static int decode_request(const uint8_t *p, size_t len, struct rl__cu_msg *m)
{
	if (len != RL__CU_REQUEST_BYTES) {
		return RL_EINVAL;
	}
	m->target_index = kp_get_u64(p);
	m->target_term = kp_get_u64(p + 8);
	m->prev_index = kp_get_u64(p + 16);
	m->prev_term = kp_get_u64(p + 24);
	m->next_offset = (int64_t)kp_get_u64(p + 32);
	m->window_bytes = kp_get_u32(p + 40);
	if (m->target_index == 0 || m->target_term == 0 || m->target_term > INT32_MAX ||
	    m->prev_index >= m->target_index || m->prev_term > INT32_MAX || m->next_offset < 0 ||
	    m->window_bytes > RL_CATCHUP_WINDOW_BYTES_LIMIT) {
		return RL_EINVAL;
	}
	return 0;
}

static int decode_reply(const uint8_t *p, size_t len, struct rl__cu_msg *m)
{
	if (len != RL__CU_REPLY_BYTES) {
		return RL_EINVAL;
	}
	m->status = kp_get_u32(p);
	m->log_first_index = kp_get_u64(p + 4);
	m->log_start_offset = (int64_t)kp_get_u64(p + 12);
	if (m->status < RL__CU_MATCH || m->status > RL__CU_BUSY || m->log_first_index == 0 ||
	    m->log_start_offset < 0) {
		return RL_EINVAL;
	}
	return 0;
}

static int decode_data(const uint8_t *buf, size_t len, struct rl__cu_msg *m)
{
	if (len <= RL__CU_DATA_HDR_BYTES) {
		return RL_EINVAL;
	}
	const uint8_t *p = buf + CU_FIXED + 12;
	m->first_index = kp_get_u64(p);
	m->last_index = kp_get_u64(p + 8);
	m->base_offset = (int64_t)kp_get_u64(p + 16);
	m->total_bytes = kp_get_u32(p + 24);
	m->pos = kp_get_u32(p + 28);
	m->payload = buf + RL__CU_DATA_HDR_BYTES;
	m->payload_len = len - RL__CU_DATA_HDR_BYTES;
	if (m->first_index == 0 || m->last_index < m->first_index || m->base_offset < 0 ||
	    m->total_bytes == 0 || m->pos >= m->total_bytes ||
	    m->payload_len > (size_t)(m->total_bytes - m->pos)) {
		return RL_EINVAL;
	}
	return 0;
}

int rl__cu_decode(const uint8_t *buf, size_t len, struct rl__cu_msg *out)
{
	memset(out, 0, sizeof(*out));
	if (buf == NULL || len < CU_FIXED + 12 || len > RL_CATCHUP_MSG_BYTES_MAX ||
	    buf[0] != CU_VERSION || kp_get_u16(buf + 2) != 0) {
		return RL_EINVAL;
	}
	out->type = buf[1];
	out->session = kp_get_u64(buf + CU_FIXED);
	out->seq = kp_get_u32(buf + CU_FIXED + 8);
	if (out->session == 0) {
		return RL_EINVAL;
	}
	const uint8_t *p = buf + CU_FIXED + 12;
	switch (out->type) {
	case RL__CU_REQUEST:
		return decode_request(p, len, out);
	case RL__CU_REPLY:
		return decode_reply(p, len, out);
	case RL__CU_DATA:
		return decode_data(buf, len, out);
	default:
		return RL_EINVAL;
	}
}
