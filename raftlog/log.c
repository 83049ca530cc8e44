/* Log lifecycle and state accessors: defaults, close, error message, info
 * and snapshot getters. Opening is in recovery.c. */
#include <string.h>

#include "raftlog/internal.h"

void rl_log_config_default(struct rl_log_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->segment_bytes_max = 1ull << 30;
	cfg->batch_bytes_max = 8u << 20;
}

void rl_log_close(struct rl_log *log)
{
	SL_ASSERT(log->ops_pending == 0);
	for (size_t i = 0; i < log->n_segs; i++) {
		rl__segment_unref(log->segs[i]);
	}
	sl_free(log->segs);
	rl__close(log->vote_fd);
	rl__close(log->dir_fd);
	rl__state_free(&log->st);
	log->w->n_logs--;
	sl_free(log->dir);
	sl_free(log);
}

const char *rl_log_errmsg(const struct rl_log *log)
{
	return log->errmsg;
}

uint32_t rl_log_batch_bytes_max(const struct rl_log *log)
{
	return log->cfg.batch_bytes_max;
}

unsigned rl_log_pending_ops(const struct rl_log *log)
{
	return log->ops_pending;
}

void rl_log_get_info(const struct rl_log *log, struct rl_log_info *out)
{
	memset(out, 0, sizeof(*out));
	out->first_index = log->st.start_index;
	out->last_index = log->next_index - 1;
	out->durable_index = log->durable_index;
	out->start_offset = log->st.start_offset;
	out->next_offset = log->next_offset;
	out->durable_offset = log->durable_offset;
	out->term = log->term;
	out->vote = log->vote;
	out->failed = log->failed;
	out->segments = log->n_segs;
	for (size_t i = 0; i < log->n_segs; i++) {
		out->bytes += log->segs[i]->size_bytes;
	}
	if (log->n_segs > 0) {
		const struct rl__segment *seg = log->segs[log->n_segs - 1];
		out->last_term = seg->recs[seg->n_recs - 1].term;
	}
}

void rl_log_get_snapshot(const struct rl_log *log, struct rl_snapshot_meta *out)
{
	out->index = log->st.snap_index;
	out->term = log->st.snap_term;
	out->conf_index = log->st.snap_conf_index;
	out->log_start_offset = log->st.snap_log_start_offset;
	out->conf = log->st.snap_conf;
	out->conf_len = log->st.snap_conf_len;
}

/* Marks every entry up to `index` durable (readable by offset). */
void rl__log_set_durable(struct rl_log *log, uint64_t index)
{
	log->durable_index = index;
	const struct rl__rec *r = rl__find_index(log, index, NULL);
	log->durable_offset = r != NULL ? r->last_offset + 1 : log->st.start_offset;
}

/* Removes log->segs[k..] from the log; their references move to
 * moved[0..n_segs-k) (last segment first) when moved is not NULL, else
 * they are dropped. */
void rl__log_drop_segments_from(struct rl_log *log, size_t k, struct rl__segment **moved)
{
	size_t j = 0;
	while (log->n_segs > k) {
		struct rl__segment *seg = log->segs[--log->n_segs];
		if (moved != NULL) {
			moved[j++] = seg;
		} else {
			rl__segment_unref(seg);
		}
	}
}
