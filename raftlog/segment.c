/* Segment objects: allocation, reference counting, file names, and the
 * growable arrays of segments and index records. The files themselves are
 * created by the writer (pass.c) or opened by recovery (recovery.c). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "raftlog/internal.h"

struct rl__segment *rl__segment_new(int64_t base_offset)
{
	struct rl__segment *seg = sl_calloc(1, sizeof(*seg));
	if (seg == NULL) {
		return NULL;
	}
	atomic_init(&seg->refs, 1);
	seg->base_offset = base_offset;
	snprintf(seg->name, sizeof(seg->name), "%020" PRId64, base_offset);
	seg->log_fd = -1;
	seg->index_fd = -1;
	return seg;
}

void rl__segment_ref(struct rl__segment *seg)
{
	atomic_fetch_add(&seg->refs, 1);
}

/* Drops one reference; the last one closes the files and frees. */
void rl__segment_unref(struct rl__segment *seg)
{
	if (atomic_fetch_sub(&seg->refs, 1) != 1) {
		return;
	}
	rl__close(seg->log_fd);
	rl__close(seg->index_fd);
	sl_free(seg->recs);
	sl_free(seg);
}

/* Makes room for n more records. Returns 0 or RL_ENOMEM. */
int rl__segment_reserve(struct rl__segment *seg, size_t n)
{
	if (seg->n_recs + n <= seg->cap_recs) {
		return 0;
	}
	size_t cap = seg->cap_recs == 0 ? 64 : seg->cap_recs;
	while (cap < seg->n_recs + n) {
		cap *= 2;
	}
	struct rl__rec *recs = sl_realloc(seg->recs, cap * sizeof(*recs));
	if (recs == NULL) {
		return RL_ENOMEM;
	}
	seg->recs = recs;
	seg->cap_recs = cap;
	return 0;
}

/* Writes "<base>.<ext>" into out. */
void rl__segment_file(const struct rl__segment *seg, const char *ext, char *out, size_t size)
{
	snprintf(out, size, "%s.%s", seg->name, ext);
}

/* Makes room for n more segments in log->segs. Returns 0 or RL_ENOMEM. */
int rl__log_segs_reserve(struct rl_log *log, size_t n)
{
	if (log->n_segs + n <= log->cap_segs) {
		return 0;
	}
	size_t cap = log->cap_segs == 0 ? 8 : log->cap_segs;
	while (cap < log->n_segs + n) {
		cap *= 2;
	}
	struct rl__segment **segs = sl_realloc(log->segs, cap * sizeof(*segs));
	if (segs == NULL) {
		return RL_ENOMEM;
	}
	log->segs = segs;
	log->cap_segs = cap;
	return 0;
}
