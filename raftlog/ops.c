/* Submitting the operations other than append: truncate, retention, reset,
 * term/vote and snapshot metadata. Each is planned on the loop thread
 * (allocations first, then the logical state changes at once) and performed
 * by the writer in FIFO order with the appends. */
#include <string.h>

#include "raftlog/internal.h"

static int submit_prepared(struct rl_log *log, struct rl__op *op)
{
	rl__writer_submit(log->w, op);
	return 0;
}

/* Pending appends lose every entry at or after `index`. */
static void kill_pending_from(struct rl_log *log, uint64_t index)
{
	for (struct rl__op *op = log->app_head; op != NULL; op = op->log_next) {
		if (op->live_last >= index) {
			op->live_last = index - 1;
		}
	}
}

int rl_truncate(struct rl_log *log, struct rl_truncate_req *req, uint64_t index,
		rl_truncate_cb cb)
{
	if (log == NULL || req == NULL || cb == NULL || index < log->st.start_index ||
	    index > log->next_index) {
		return RL_EINVAL;
	}
	int rv = rl__op_admit(log, 0);
	if (rv != 0) {
		return rv;
	}
	struct rl__op *op = rl__op_alloc(log, RL__OP_TRUNCATE, req, 0);
	if (op == NULL) {
		return RL_ENOMEM;
	}
	size_t k = log->n_segs; /* first segment removed whole */
	struct rl__segment *trim = NULL;
	uint64_t keep = 0;
	if (index < log->next_index) {
		k = rl__seg_for_index(log, index);
		keep = index - log->segs[k]->recs[0].index;
		if (keep > 0) {
			trim = log->segs[k++];
		}
	}
	op->n_del = log->n_segs - k;
	op->del = sl_malloc(op->n_del * sizeof(*op->del));
	if (op->del == NULL) {
		op->n_del = 0;
		rl__op_free(op);
		return RL_ENOMEM;
	}
	if (index < log->next_index) {
		log->next_offset = rl__find_index(log, index, NULL)->base_offset;
	}
	rl__log_drop_segments_from(log, k, op->del);
	if (trim != NULL) {
		rl__segment_ref(trim);
		op->trim = trim;
		op->trim_recs = keep;
		op->trim_pos = trim->recs[keep].pos;
		trim->n_recs = keep;
		trim->size_bytes = op->trim_pos;
	}
	log->next_index = index;
	if (log->durable_index >= index) {
		rl__log_set_durable(log, index - 1);
	}
	kill_pending_from(log, index);
	req->cb = cb;
	req->op_ = op;
	return submit_prepared(log, op);
}

static int64_t segment_max_ts(const struct rl__segment *seg)
{
	int64_t ts = INT64_MIN;
	for (size_t i = 0; i < seg->n_recs; i++) {
		ts = SL_MAX(ts, seg->recs[i].max_ts);
	}
	return ts;
}

/* How many segments at the front the policy deletes. */
static size_t retention_count(const struct rl_log *log, const struct rl_retention *p,
			      uint64_t *bytes_out)
{
	uint64_t total = 0;
	for (size_t i = 0; i < log->n_segs; i++) {
		total += log->segs[i]->size_bytes;
	}
	size_t k = 0;
	*bytes_out = 0;
	while (k + 1 < log->n_segs) {
		const struct rl__segment *seg = log->segs[k];
		const struct rl__rec *last = &seg->recs[seg->n_recs - 1];
		if (last->last_offset >= p->bound_offset || last->index > log->durable_index) {
			break;
		}
		bool by_bytes = p->retention_bytes >= 0 &&
				total - seg->size_bytes >= (uint64_t)p->retention_bytes;
		bool by_age = p->retention_ms >= 0 && segment_max_ts(seg) < p->now_ms - p->retention_ms;
		if (!by_bytes && !by_age) {
			break;
		}
		total -= seg->size_bytes;
		*bytes_out += seg->size_bytes;
		k++;
	}
	return k;
}

int rl_retain(struct rl_log *log, struct rl_retain_req *req, const struct rl_retention *policy,
	      rl_retain_cb cb)
{
	if (log == NULL || req == NULL || policy == NULL || cb == NULL) {
		return RL_EINVAL;
	}
	int rv = rl__op_admit(log, 0);
	if (rv != 0) {
		return rv;
	}
	uint64_t bytes = 0;
	size_t k = retention_count(log, policy, &bytes);
	struct rl__op *op = rl__op_alloc(log, RL__OP_RETAIN, req, 0);
	if (op == NULL) {
		return RL_ENOMEM;
	}
	if (k > 0) {
		struct rl__state st = log->st;
		st.start_index = log->segs[k]->recs[0].index;
		st.start_offset = log->segs[k]->base_offset;
		op->del = sl_malloc(k * sizeof(*op->del));
		rv = op->del == NULL ? RL_ENOMEM : rl__state_encode(&st, &op->state, &op->state_len);
		if (rv != 0) {
			rl__op_free(op);
			return rv;
		}
		memcpy(op->del, log->segs, k * sizeof(*op->del));
		op->n_del = k;
		memmove(log->segs, log->segs + k, (log->n_segs - k) * sizeof(*log->segs));
		log->n_segs -= k;
		log->st.start_index = st.start_index;
		log->st.start_offset = st.start_offset;
	}
	req->segments_deleted = (uint32_t)k;
	req->bytes_deleted = bytes;
	req->start_offset = log->st.start_offset;
	req->cb = cb;
	req->op_ = op;
	return submit_prepared(log, op);
}

int rl_reset(struct rl_log *log, struct rl_reset_req *req, uint64_t next_index,
	     int64_t next_offset, rl_reset_cb cb)
{
	if (log == NULL || req == NULL || cb == NULL || next_index < 1 || next_offset < 0) {
		return RL_EINVAL;
	}
	int rv = rl__op_admit(log, 0);
	if (rv != 0) {
		return rv;
	}
	struct rl__op *op = rl__op_alloc(log, RL__OP_RESET, req, 0);
	if (op == NULL) {
		return RL_ENOMEM;
	}
	struct rl__state st = log->st;
	st.start_index = next_index;
	st.start_offset = next_offset;
	st.reset_pending = true;
	op->del = sl_malloc(log->n_segs * sizeof(*op->del));
	rv = op->del == NULL ? RL_ENOMEM : rl__state_encode(&st, &op->state, &op->state_len);
	st.reset_pending = false;
	if (rv == 0) {
		rv = rl__state_encode(&st, &op->state2, &op->state2_len);
	}
	if (rv != 0) {
		rl__op_free(op);
		return rv;
	}
	op->n_del = log->n_segs;
	rl__log_drop_segments_from(log, 0, op->del);
	log->st.start_index = next_index;
	log->st.start_offset = next_offset;
	log->next_index = next_index;
	log->next_offset = next_offset;
	log->durable_index = next_index - 1;
	log->durable_offset = next_offset;
	for (struct rl__op *a = log->app_head; a != NULL; a = a->log_next) {
		a->live_last = a->first_index - 1;
	}
	req->cb = cb;
	req->op_ = op;
	return submit_prepared(log, op);
}

int rl_set_term_vote(struct rl_log *log, struct rl_meta_req *req, uint64_t term, uint64_t vote,
		     rl_meta_cb cb)
{
	if (log == NULL || req == NULL || cb == NULL || term < log->term) {
		return RL_EINVAL;
	}
	int rv = rl__op_admit(log, 0);
	if (rv != 0) {
		return rv;
	}
	struct rl__op *op = rl__op_alloc(log, RL__OP_VOTE, req, 0);
	if (op == NULL) {
		return RL_ENOMEM;
	}
	op->term = term;
	op->vote = vote;
	log->term = term;
	log->vote = vote;
	req->cb = cb;
	req->op_ = op;
	return submit_prepared(log, op);
}

int rl_set_snapshot(struct rl_log *log, struct rl_meta_req *req,
		    const struct rl_snapshot_meta *meta, rl_meta_cb cb)
{
	if (log == NULL || req == NULL || meta == NULL || cb == NULL ||
	    (meta->conf == NULL && meta->conf_len > 0) || meta->conf_len > UINT32_MAX) {
		return RL_EINVAL;
	}
	int rv = rl__op_admit(log, meta->conf_len);
	if (rv != 0) {
		return rv;
	}
	struct rl__op *op = rl__op_alloc(log, RL__OP_SNAPSHOT, req, 0);
	uint8_t *conf = sl_malloc(meta->conf_len);
	if (op == NULL || conf == NULL) {
		goto err_after_alloc;
	}
	if (meta->conf_len > 0) {
		memcpy(conf, meta->conf, meta->conf_len);
	}
	struct rl__state st = log->st;
	st.snap_index = meta->index;
	st.snap_term = meta->term;
	st.snap_conf_index = meta->conf_index;
	st.snap_log_start_offset = meta->log_start_offset;
	st.snap_conf = conf;
	st.snap_conf_len = meta->conf_len;
	if (rl__state_encode(&st, &op->state, &op->state_len) != 0) {
		goto err_after_alloc;
	}
	rl__state_free(&log->st);
	log->st = st;
	req->cb = cb;
	req->op_ = op;
	return submit_prepared(log, op);

err_after_alloc:
	sl_free(conf);
	if (op != NULL) {
		rl__op_free(op);
	}
	return RL_ENOMEM;
}
