/* Reads and lookups on the loop thread: entries by Raft index (from disk or
 * from the borrowed buffer of a pending append), offset ranges for
 * consumers (sendfile references or copies), offset/index/timestamp
 * lookups, and the entry listing for RAFT_START.
 *
 * Happy path: lookups binary-search the in-memory index records; disk reads
 * pread whole batches and re-check their CRC (checked before writing, again
 * after reading).
 * Failure modes: a read error is RL_EIO and a batch that does not match its
 * record is RL_ECORRUPT, both with a message in rl_log_errmsg(); neither
 * fails the log (reads do not change it). Offset reads only see durable
 * batches, so a reader never gets bytes a crash could take back. */
#include <inttypes.h>
#include <string.h>

#include "proto/proto.h"
#include "raftlog/internal.h"

static void fill_info(const struct rl_log *log, const struct rl__rec *r, struct rl_entry_info *out)
{
	out->index = r->index;
	out->term = r->term;
	out->kind = (enum rl_kind)r->kind;
	out->base_offset = r->base_offset;
	out->last_offset = r->last_offset;
	out->max_timestamp = r->max_ts;
	out->size = r->size;
	out->durable = r->index <= log->durable_index;
}

int rl_entry_get_info(const struct rl_log *log, uint64_t index, struct rl_entry_info *out)
{
	const struct rl__rec *r = rl__find_index(log, index, NULL);
	if (r == NULL) {
		return RL_ENOTFOUND;
	}
	fill_info(log, r, out);
	return 0;
}

/* The borrowed buffer of a pending entry. */
static const uint8_t *pending_buf(const struct rl_log *log, uint64_t index)
{
	for (const struct rl__op *op = log->app_head; op != NULL; op = op->log_next) {
		if (op->first_index <= index && index <= op->live_last) {
			return op->entries[index - op->first_index].buf;
		}
	}
	return NULL;
}

/* Copies the batch of r into dst, from the pending buffer or the file. */
static int read_rec(struct rl_log *log, const struct rl__segment *seg, const struct rl__rec *r,
		    uint8_t *dst)
{
	if (r->index > log->durable_index) {
		const uint8_t *src = pending_buf(log, r->index);
		if (src == NULL) {
			/* Its append completed with an error: the log is failed. */
			SL_ASSERT(log->failed);
			return RL_EIO;
		}
		memcpy(dst, src, r->size);
		return 0;
	}
	int rv = rl__read_batch(seg->log_fd, r, dst);
	if (rv != 0) {
		rl__errmsg_set(log->errmsg, "segment %s.log: read batch at position %" PRIu64 ": %s",
			       seg->name, r->pos, rl_strerror(rv));
	}
	return rv;
}

int rl_entry_read(struct rl_log *log, uint64_t index, void *dst, size_t dst_size,
		  struct rl_entry_info *info)
{
	struct rl__segment *seg = NULL;
	const struct rl__rec *r = rl__find_index(log, index, &seg);
	struct rl_entry_info tmp;
	if (info == NULL) {
		info = &tmp;
	}
	if (r == NULL) {
		return RL_ENOTFOUND;
	}
	fill_info(log, r, info);
	if (r->size > dst_size) {
		return RL_ETOOSMALL;
	}
	return read_rec(log, seg, r, dst);
}

int rl_entry_peek(const struct rl_log *log, uint64_t index, const uint8_t **buf, size_t *len)
{
	const struct rl__rec *r = rl__find_index(log, index, NULL);
	if (r == NULL || r->index <= log->durable_index) {
		return RL_ENOTFOUND;
	}
	const uint8_t *src = pending_buf(log, r->index);
	if (src == NULL) {
		return RL_ENOTFOUND;
	}
	*buf = src;
	*len = r->size;
	return 0;
}

int rl_offset_to_index(const struct rl_log *log, int64_t offset, uint64_t *index)
{
	if (offset < log->st.start_offset || offset >= log->next_offset) {
		return RL_ENOTFOUND;
	}
	size_t k = rl__find_seg_offset(log, offset);
	if (k == log->n_segs) {
		return RL_ENOTFOUND;
	}
	const struct rl__segment *seg = log->segs[k];
	size_t i = rl__seg_rec_at_offset(seg, offset);
	if (i == seg->n_recs) {
		return RL_ENOTFOUND;
	}
	*index = seg->recs[i].index;
	return 0;
}

int rl_offset_for_timestamp(const struct rl_log *log, int64_t timestamp_ms, int64_t *offset)
{
	for (size_t k = 0; k < log->n_segs; k++) {
		const struct rl__segment *seg = log->segs[k];
		for (size_t i = 0; i < seg->n_recs; i++) {
			const struct rl__rec *r = &seg->recs[i];
			if (r->index > log->durable_index) {
				return RL_ENOTFOUND;
			}
			if (r->max_ts >= timestamp_ms) {
				*offset = r->base_offset;
				return 0;
			}
		}
	}
	return RL_ENOTFOUND;
}

/* Locates the first readable batch for a fetch. Returns 0 with *seg_k and
 * *rec_i set, 1 if nothing is readable yet, or RL_ERANGE. */
static int locate(const struct rl_log *log, int64_t fetch, int64_t limit, size_t *seg_k,
		  size_t *rec_i)
{
	if (fetch < log->st.start_offset || fetch > log->next_offset) {
		return RL_ERANGE;
	}
	if (fetch >= limit) {
		return 1;
	}
	size_t k = rl__find_seg_offset(log, fetch);
	if (k == log->n_segs) {
		return 1;
	}
	size_t i = rl__seg_rec_at_offset(log->segs[k], fetch);
	if (i == log->segs[k]->n_recs || log->segs[k]->recs[i].last_offset >= limit) {
		return 1;
	}
	*seg_k = k;
	*rec_i = i;
	return 0;
}

int rl_read_range(struct rl_log *log, int64_t fetch_offset, int64_t max_offset,
		  size_t max_bytes, struct rl_read_ref *out)
{
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	out->base_offset = fetch_offset;
	out->next_offset = fetch_offset;
	int64_t limit = SL_MIN(max_offset, log->durable_offset);
	size_t k, i;
	int rv = locate(log, fetch_offset, limit, &k, &i);
	if (rv != 0) {
		return rv == 1 ? 0 : rv;
	}
	struct rl__segment *seg = log->segs[k];
	size_t len = 0;
	size_t j = i;
	while (j < seg->n_recs && seg->recs[j].last_offset < limit &&
	       (j == i || len + seg->recs[j].size <= max_bytes)) {
		len += seg->recs[j].size;
		j++;
	}
	rl__segment_ref(seg);
	out->seg_ = seg;
	out->fd = seg->log_fd;
	out->file_pos = (int64_t)seg->recs[i].pos;
	out->len = len;
	out->base_offset = seg->recs[i].base_offset;
	out->next_offset = seg->recs[j - 1].last_offset + 1;
	return 0;
}

void rl_read_release(struct rl_read_ref *ref)
{
	if (ref->seg_ != NULL) {
		rl__segment_unref(ref->seg_);
		ref->seg_ = NULL;
	}
	ref->len = 0;
	ref->fd = -1;
}

/* Checks every batch of a copied range. */
static int check_copied(const uint8_t *buf, size_t len)
{
	size_t at = 0;
	while (at < len) {
		struct kp_batch_header h;
		if (kp_batch_validate(buf + at, len - at, 0, &h) != 0) {
			return RL_ECORRUPT;
		}
		at += kp_batch_size(&h);
	}
	return 0;
}

int rl_read_copy(struct rl_log *log, int64_t fetch_offset, int64_t max_offset, size_t max_bytes,
		 uint8_t **out, size_t *out_len, int64_t *next_offset)
{
	*out = NULL;
	*out_len = 0;
	*next_offset = fetch_offset;
	int64_t limit = SL_MIN(max_offset, log->durable_offset);
	size_t k0, i0;
	int rv = locate(log, fetch_offset, limit, &k0, &i0);
	if (rv != 0) {
		return rv == 1 ? 0 : rv;
	}
	/* First pass: how many batches fit. */
	size_t total = 0;
	size_t k = k0, i = i0;
	int64_t next = fetch_offset;
	while (k < log->n_segs) {
		const struct rl__rec *r = &log->segs[k]->recs[i];
		if (r->last_offset >= limit || (total > 0 && total + r->size > max_bytes)) {
			break;
		}
		total += r->size;
		next = r->last_offset + 1;
		if (++i == log->segs[k]->n_recs) {
			k++;
			i = 0;
		}
	}
	uint8_t *buf = sl_malloc(total);
	if (buf == NULL) {
		return RL_ENOMEM;
	}
	/* Second pass: one pread per segment. */
	size_t done = 0;
	for (k = k0, i = i0; done < total; k++, i = 0) {
		const struct rl__segment *seg = log->segs[k];
		size_t n = SL_MIN(total - done, seg->size_bytes - seg->recs[i].pos);
		ssize_t got = rl__pread_all(seg->log_fd, buf + done, n, seg->recs[i].pos);
		if (got != (ssize_t)n) {
			rl__errmsg_set(log->errmsg, "segment %s.log: pread: %s", seg->name,
				       got < 0 ? "I/O error" : "short read");
			sl_free(buf);
			return RL_EIO;
		}
		done += n;
	}
	if (check_copied(buf, total) != 0) {
		rl__errmsg_set(log->errmsg, "read at offset %" PRId64 ": batch CRC mismatch",
			       fetch_offset);
		sl_free(buf);
		return RL_ECORRUPT;
	}
	*out = buf;
	*out_len = total;
	*next_offset = next;
	return 0;
}

static int visit_config(struct rl_log *log, const struct rl__segment *seg, const struct rl__rec *r,
			struct rl_entry_info *info, rl_visit_cb cb, void *arg)
{
	uint8_t *b = sl_malloc(r->size);
	if (b == NULL) {
		return RL_ENOMEM;
	}
	const uint8_t *payload = NULL;
	size_t payload_len = 0;
	enum rl_kind kind;
	int rv = read_rec(log, seg, r, b);
	if (rv == 0 && (rl_batch_kind(b, r->size, &kind, &payload, &payload_len) != 0 ||
			kind != RL_KIND_CONFIG)) {
		rv = RL_ECORRUPT;
	}
	if (rv == 0) {
		rv = cb(arg, info, payload, payload_len);
	}
	sl_free(b);
	return rv;
}

int rl_log_visit(struct rl_log *log, rl_visit_cb cb, void *arg)
{
	for (size_t k = 0; k < log->n_segs; k++) {
		const struct rl__segment *seg = log->segs[k];
		for (size_t i = 0; i < seg->n_recs; i++) {
			struct rl_entry_info info;
			fill_info(log, &seg->recs[i], &info);
			int rv = info.kind == RL_KIND_CONFIG
				     ? visit_config(log, seg, &seg->recs[i], &info, cb, arg)
				     : cb(arg, &info, NULL, 0);
			if (rv != 0) {
				return rv;
			}
		}
	}
	return 0;
}

/* Declared in group_int.h for the catch-up source, which streams a range
 * chunk by chunk instead of copying whole batches. */
int rl__read_ref_pread(const struct rl_read_ref *ref, size_t at, void *dst, size_t len)
{
	if (ref->seg_ == NULL || at > ref->len || len > ref->len - at) {
		return RL_EINVAL;
	}
	ssize_t got = rl__pread_all(ref->fd, dst, len, (uint64_t)ref->file_pos + at);
	return got == (ssize_t)len ? 0 : RL_EIO;
}
