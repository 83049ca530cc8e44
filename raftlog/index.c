/* Index records: the 64-byte on-disk encoding (FORMAT.md, "Index files"),
 * building a record from a batch, and lookups over the in-memory records
 * by Raft index and by offset. No I/O. */
#include <string.h>

#include "proto/proto.h"
#include "raftlog/internal.h"

#define REC_VERSION 1
#define REC_OFF_KIND 56
#define REC_OFF_VERSION 57
#define REC_OFF_CRC 60

void rl__rec_encode(const struct rl__rec *r, uint8_t out[RL__REC_SIZE])
{
	memset(out, 0, RL__REC_SIZE);
	kp_put_u64(out + 0, r->index);
	kp_put_u64(out + 8, r->term);
	kp_put_u64(out + 16, (uint64_t)r->base_offset);
	kp_put_u64(out + 24, (uint64_t)r->last_offset);
	kp_put_u64(out + 32, r->pos);
	kp_put_u32(out + 40, r->size);
	kp_put_u32(out + 44, r->batch_crc);
	kp_put_u64(out + 48, (uint64_t)r->max_ts);
	out[REC_OFF_KIND] = r->kind;
	out[REC_OFF_VERSION] = REC_VERSION;
	kp_put_u32(out + REC_OFF_CRC, kp_crc32c(0, out, REC_OFF_CRC));
}

/* Returns false if the record's CRC, version or fields are invalid. */
bool rl__rec_decode(const uint8_t in[RL__REC_SIZE], struct rl__rec *r)
{
	if (kp_get_u32(in + REC_OFF_CRC) != kp_crc32c(0, in, REC_OFF_CRC) ||
	    in[REC_OFF_VERSION] != REC_VERSION) {
		return false;
	}
	r->index = kp_get_u64(in + 0);
	r->term = kp_get_u64(in + 8);
	r->base_offset = (int64_t)kp_get_u64(in + 16);
	r->last_offset = (int64_t)kp_get_u64(in + 24);
	r->pos = kp_get_u64(in + 32);
	r->size = kp_get_u32(in + 40);
	r->batch_crc = kp_get_u32(in + 44);
	r->max_ts = (int64_t)kp_get_u64(in + 48);
	r->kind = in[REC_OFF_KIND];
	return r->kind >= RL_KIND_DATA && r->kind <= RL_KIND_CONFIG && r->base_offset >= 0 &&
	       r->last_offset >= r->base_offset && r->size >= KP_BATCH_HEADER_SIZE &&
	       r->index > 0 && r->term > 0;
}

/* Fills *r from the whole, validated batch buf[0..len) stored at pos with
 * Raft index `index`. Returns 0 or RL_EBATCH (bad epoch or control record). */
int rl__rec_from_batch(const uint8_t *buf, size_t len, uint64_t index, uint64_t pos,
		       struct rl__rec *r)
{
	struct kp_batch_header h;
	if (kp_batch_parse_header(buf, len, &h) != 0 || h.partition_leader_epoch < 1) {
		return RL_EBATCH;
	}
	enum rl_kind kind;
	int rv = rl_batch_kind(buf, len, &kind, NULL, NULL);
	if (rv != 0) {
		return rv;
	}
	r->index = index;
	r->term = (uint64_t)h.partition_leader_epoch;
	r->base_offset = h.base_offset;
	r->last_offset = h.base_offset + h.last_offset_delta;
	r->pos = pos;
	r->size = (uint32_t)len;
	r->batch_crc = h.crc;
	r->max_ts = h.max_timestamp;
	r->kind = (uint8_t)kind;
	return 0;
}

/* Index in log->segs of the segment holding Raft index `index` (the last
 * one whose first index is <= it), or n_segs if none. */
size_t rl__seg_for_index(const struct rl_log *log, uint64_t index)
{
	size_t lo = 0;
	size_t hi = log->n_segs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (log->segs[mid]->recs[0].index <= index) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo == 0 ? log->n_segs : lo - 1;
}

struct rl__rec *rl__find_index(const struct rl_log *log, uint64_t index,
			       struct rl__segment **seg_out)
{
	if (index < log->st.start_index || index >= log->next_index) {
		return NULL;
	}
	size_t k = rl__seg_for_index(log, index);
	if (k == log->n_segs) {
		return NULL;
	}
	struct rl__segment *seg = log->segs[k];
	uint64_t i = index - seg->recs[0].index;
	if (i >= seg->n_recs) {
		return NULL;
	}
	if (seg_out != NULL) {
		*seg_out = seg;
	}
	return &seg->recs[i];
}

/* Index in log->segs of the last segment whose base offset is <= offset, or
 * n_segs if none. */
size_t rl__find_seg_offset(const struct rl_log *log, int64_t offset)
{
	size_t lo = 0;
	size_t hi = log->n_segs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (log->segs[mid]->base_offset <= offset) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo == 0 ? log->n_segs : lo - 1;
}

/* Position in seg->recs of the first record whose last offset is >= offset
 * (n_recs if none). */
size_t rl__seg_rec_at_offset(const struct rl__segment *seg, int64_t offset)
{
	size_t lo = 0;
	size_t hi = seg->n_recs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (seg->recs[mid].last_offset < offset) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}
