/* rl_append(): validating entries and planning where they go, on the loop
 * thread. Nothing touches the disk here; the writer performs the plan.
 *
 * The plan is computed in full (positions, index slots, new segments, every
 * allocation) before any state changes, so a failing call leaves the log
 * exactly as it was and never runs its callback. */
#include <inttypes.h>
#include <stdio.h>

#include "proto/proto.h"
#include "raftlog/internal.h"

static uint64_t last_term(const struct rl_log *log)
{
	if (log->n_segs == 0) {
		return 0;
	}
	const struct rl__segment *seg = log->segs[log->n_segs - 1];
	return seg->recs[seg->n_recs - 1].term;
}

/* Checks one entry; *offset is the offset it must start at and is advanced
 * past it. */
static int check_entry(struct rl_log *log, const struct rl_entry *e, unsigned i,
		       enum rl_append_mode mode, uint64_t *term, int64_t *offset)
{
	struct kp_batch_header h;
	if (e->buf == NULL || e->len < KP_BATCH_HEADER_SIZE || e->len > UINT32_MAX) {
		rl__errmsg_set(log->errmsg, "append: entry %u: no batch", i);
		return RL_EBATCH;
	}
	int rv = e->crc_checked ? kp_batch_check_frame(e->buf, e->len, log->cfg.batch_bytes_max, &h)
				: kp_batch_validate(e->buf, e->len, log->cfg.batch_bytes_max, &h);
	if (rv == KP_ETOOLARGE) {
		rl__errmsg_set(log->errmsg, "append: entry %u: batch of %zu bytes over batch_bytes_max %u",
			       i, e->len, log->cfg.batch_bytes_max);
		return RL_ETOOLARGE;
	}
	if (rv != 0 || kp_batch_size(&h) != e->len) {
		rl__errmsg_set(log->errmsg, "append: entry %u: invalid batch: %s", i,
			       rv != 0 ? kp_strerror(rv) : "trailing bytes");
		return RL_EBATCH;
	}
	enum rl_kind kind;
	if (rl_batch_kind(e->buf, e->len, &kind, NULL, NULL) != 0 || kind != e->kind) {
		rl__errmsg_set(log->errmsg, "append: entry %u: kind %d does not match the batch", i,
			       (int)e->kind);
		return RL_EBATCH;
	}
	if (e->term < 1 || e->term > INT32_MAX || e->term < *term) {
		rl__errmsg_set(log->errmsg, "append: entry %u: term %" PRIu64 " invalid or below %" PRIu64,
			       i, e->term, *term);
		return RL_EINVAL;
	}
	if (mode == RL_APPEND_VERIFY && h.base_offset != *offset) {
		rl__errmsg_set(log->errmsg, "append: entry %u: base offset %" PRId64 ", expected %" PRId64,
			       i, h.base_offset, *offset);
		return RL_EOFFSET;
	}
	if (mode == RL_APPEND_VERIFY && (uint64_t)h.partition_leader_epoch != e->term) {
		rl__errmsg_set(log->errmsg, "append: entry %u: leader epoch %d is not term %" PRIu64, i,
			       h.partition_leader_epoch, e->term);
		return RL_EINVAL;
	}
	*term = e->term;
	*offset += (int64_t)h.last_offset_delta + 1;
	return 0;
}

/* Drops the plan's new segments (not yet in log->segs). */
static void unplan(struct rl__op *op)
{
	for (unsigned i = 0; i < op->n_entries; i++) {
		if (op->entries[i].create) {
			rl__segment_unref(op->entries[i].seg);
		}
	}
}

/* Assigns every entry a segment, position and index slot, creating new
 * segments as the size limit requires, and reserves all memory. */
static int plan(struct rl_log *log, struct rl__op *op, const struct rl_entry *entries)
{
	struct rl__segment *active = log->n_segs > 0 ? log->segs[log->n_segs - 1] : NULL;
	uint64_t size = active != NULL ? active->size_bytes : 0;
	uint64_t slot = active != NULL ? active->n_recs : 0;
	int64_t offset = log->next_offset;
	size_t n_new = 0;
	for (unsigned i = 0; i < op->n_entries; i++) {
		struct rl__op_entry *e = &op->entries[i];
		if (active == NULL || (size > 0 && size + entries[i].len > log->cfg.segment_bytes_max)) {
			active = rl__segment_new(offset);
			if (active == NULL) {
				unplan(op);
				return RL_ENOMEM;
			}
			active->w_log = log;
			e->create = true;
			size = 0;
			slot = 0;
			n_new++;
		}
		rl__segment_ref(active);
		e->seg = active;
		e->pos = size;
		e->slot = slot++;
		size += entries[i].len;
		offset += (int64_t)kp_get_u32(entries[i].buf + 23) + 1; /* lastOffsetDelta */
	}
	int rv = rl__log_segs_reserve(log, n_new);
	for (unsigned i = 0; rv == 0 && i < op->n_entries; i++) {
		struct rl__op_entry *e = &op->entries[i];
		if (i == 0 || e->create) {
			unsigned n = 1;
			while (i + n < op->n_entries && !op->entries[i + n].create) {
				n++;
			}
			rv = rl__segment_reserve(e->seg, n);
		}
	}
	if (rv != 0) {
		unplan(op);
	}
	return rv;
}

/* Applies the plan: headers (ASSIGN), records, segments, counters. */
static void commit(struct rl_log *log, struct rl__op *op, const struct rl_entry *entries,
		   enum rl_append_mode mode)
{
	for (unsigned i = 0; i < op->n_entries; i++) {
		struct rl__op_entry *e = &op->entries[i];
		const struct rl_entry *in = &entries[i];
		if (mode == RL_APPEND_ASSIGN) {
			kp_batch_set_base_offset(in->buf, log->next_offset);
			kp_batch_set_leader_epoch(in->buf, (int32_t)in->term);
		}
		if (e->create) {
			log->segs[log->n_segs++] = e->seg;
		}
		struct rl__rec r;
		int rv = rl__rec_from_batch(in->buf, in->len, log->next_index, e->pos, &r);
		SL_ASSERT(rv == 0 && r.base_offset == log->next_offset && r.term == in->term);
		rl__rec_encode(&r, e->rec);
		e->seg->recs[e->seg->n_recs++] = r;
		e->seg->size_bytes = e->pos + in->len;
		e->buf = in->buf;
		e->len = in->len;
		op->bytes += in->len;
		log->next_index++;
		log->next_offset = r.last_offset + 1;
	}
}

int rl_append(struct rl_log *log, struct rl_append_req *req, const struct rl_entry *entries,
	      unsigned n, enum rl_append_mode mode, rl_append_cb cb)
{
	if (log == NULL || req == NULL || entries == NULL || n == 0 || cb == NULL ||
	    (mode != RL_APPEND_ASSIGN && mode != RL_APPEND_VERIFY)) {
		return RL_EINVAL;
	}
	uint64_t bytes = 0;
	for (unsigned i = 0; i < n; i++) {
		bytes += entries[i].len;
	}
	int rv = rl__op_admit(log, bytes);
	if (rv != 0) {
		return rv;
	}
	uint64_t term = last_term(log);
	int64_t offset = log->next_offset;
	for (unsigned i = 0; i < n; i++) {
		rv = check_entry(log, &entries[i], i, mode, &term, &offset);
		if (rv != 0) {
			return rv;
		}
	}
	struct rl__op *op = rl__op_alloc(log, RL__OP_APPEND, req, n);
	if (op == NULL) {
		return RL_ENOMEM;
	}
	rv = plan(log, op, entries);
	if (rv != 0) {
		rl__op_free(op);
		return rv;
	}
	req->first_index = log->next_index;
	req->base_offset = log->next_offset;
	commit(log, op, entries, mode);
	req->last_index = log->next_index - 1;
	req->last_offset = log->next_offset - 1;
	req->cb = cb;
	req->op_ = op;
	op->first_index = req->first_index;
	op->live_last = req->last_index;
	rl__writer_submit(log->w, op);
	return 0;
}
