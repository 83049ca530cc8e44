/* Opening a log: load metadata, find the segments, check or rebuild their
 * indexes, and cut a torn tail. Runs synchronously before the loop runs.
 *
 * Happy path: read the state and vote files; list <base>.log files in
 * order; for every closed segment read its index file and trust it after a
 * cheap check (records CRC'd and contiguous, last record ends at the file
 * size, the last batch's CRC re-checked); for the last segment keep the
 * valid index prefix that lies inside the file, re-check its last batch and
 * scan only the data after it.
 * Failure modes: a missing, short, long or damaged index is rebuilt by
 * scanning its segment. An incomplete or invalid batch at the end of the
 * last segment, with nothing valid after it, is a torn tail: the file is
 * cut back to the last whole batch (and an emptied last segment removed).
 * An invalid batch in a closed segment, or one followed by a valid batch,
 * a gap between segments, or a missing first segment is RL_ECORRUPT with
 * the file and position; nothing is cut. A state file saying a reset was
 * in progress, or segments below the log start (an interrupted retention),
 * are finished by deleting those segments. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "raftlog/internal.h"

/* Recovery context: where we are in the chain of segments. */
struct chain {
	uint64_t next_index;
	int64_t next_offset;
	uint64_t last_term;
	char *err;
	size_t err_size;
};

static bool parse_name(const char *name, const char *ext, int64_t *base)
{
	size_t n = strlen(name);
	size_t e = strlen(ext);
	if (n != 20 + 1 + e || name[20] != '.' || strcmp(name + 21, ext) != 0) {
		return false;
	}
	int64_t v = 0;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10) {
			return false;
		}
		v = v * 10 + (name[i] - '0');
	}
	*base = v;
	return true;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a;
	int64_t y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* What one listing of the log directory found. */
struct listing {
	int64_t *logs; /* bases of <base>.log files */
	size_t n_logs;
	size_t cap_logs;
	int64_t *idxs; /* bases of <base>.index files */
	size_t n_idxs;
	size_t cap_idxs;
	bool oom;
};

/* Appends base to a growable array; returns 0, or 1 when out of memory. */
static int push_base(int64_t **v, size_t *n, size_t *cap, int64_t base)
{
	if (*n == *cap) {
		size_t ncap = *cap == 0 ? 16 : 2 * *cap;
		int64_t *nv = sl_realloc(*v, ncap * sizeof(*nv));
		if (nv == NULL) {
			return 1;
		}
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = base;
	return 0;
}

static int list_cb(void *arg, const char *name)
{
	struct listing *l = arg;
	int64_t base;
	int rv = 0;
	if (parse_name(name, "log", &base)) {
		rv = push_base(&l->logs, &l->n_logs, &l->cap_logs, base);
	} else if (parse_name(name, "index", &base)) {
		rv = push_base(&l->idxs, &l->n_idxs, &l->cap_idxs, base);
	}
	l->oom |= rv != 0;
	return rv;
}

/* Collects the base offsets of every <base>.log file, sorted, and removes
 * index files without a segment. (Temp files are removed by open_dir.) */
static int list_segments(struct rl_log *log, int64_t **bases, size_t *n, struct chain *c)
{
	struct listing l = {0};
	int rv = rl__list_dir(log->dir_fd, list_cb, &l);
	if (rv == 0 && l.logs == NULL) {
		l.oom = push_base(&l.logs, &l.n_logs, &l.cap_logs, 0) != 0;
		l.n_logs = 0;
	}
	if (l.oom) {
		rv = RL_ENOMEM;
		snprintf(c->err, c->err_size, "%s: listing segments: out of memory", log->dir);
	} else if (rv != 0) {
		snprintf(c->err, c->err_size, "%s: opendir: %s", log->dir, strerror(-rv));
		rv = RL_EIO;
	}
	if (rv != 0) {
		sl_free(l.logs);
		sl_free(l.idxs);
		return rv;
	}
	qsort(l.logs, l.n_logs, sizeof(*l.logs), cmp_i64);
	for (size_t i = 0; i < l.n_idxs; i++) {
		if (bsearch(&l.idxs[i], l.logs, l.n_logs, sizeof(*l.logs), cmp_i64) == NULL) {
			char name[64];
			snprintf(name, sizeof(name), "%020" PRId64 ".index", l.idxs[i]);
			rl__unlink(log->dir_fd, name);
		}
	}
	sl_free(l.idxs);
	*bases = l.logs;
	*n = l.n_logs;
	return 0;
}

static int unlink_segment_files(struct rl_log *log, int64_t base, struct chain *c)
{
	char name[64];
	snprintf(name, sizeof(name), "%020" PRId64 ".log", base);
	int rv = rl__unlink(log->dir_fd, name);
	snprintf(name, sizeof(name), "%020" PRId64 ".index", base);
	if (rv == 0) {
		rv = rl__unlink(log->dir_fd, name);
	}
	if (rv != 0) {
		snprintf(c->err, c->err_size, "%s/%s: unlink: %s", log->dir, name, strerror(-rv));
		return RL_EIO;
	}
	return 0;
}

/* Reads the valid, contiguous prefix of seg's index file into seg->recs
 * (records must lie inside the data file). *complete is true if every byte
 * of the index file was a valid record. */
static int load_index(struct rl__segment *seg, uint64_t file_size, const struct chain *c,
		      bool *complete)
{
	uint64_t isize = 0;
	*complete = false;
	if (rl__fsize(seg->index_fd, &isize) != 0) {
		return RL_EIO;
	}
	size_t n_file = (size_t)(isize / RL__REC_SIZE);
	uint8_t *b = sl_malloc(n_file * RL__REC_SIZE);
	if (b == NULL || rl__segment_reserve(seg, n_file) != 0) {
		sl_free(b);
		return RL_ENOMEM;
	}
	ssize_t got = rl__pread_all(seg->index_fd, b, n_file * RL__REC_SIZE, 0);
	if (got < 0) {
		sl_free(b);
		return RL_EIO;
	}
	n_file = (size_t)got / RL__REC_SIZE;
	uint64_t index = c->next_index;
	int64_t offset = c->next_offset;
	uint64_t pos = 0;
	uint64_t term = c->last_term;
	size_t i;
	for (i = 0; i < n_file; i++) {
		struct rl__rec *r = &seg->recs[i];
		if (!rl__rec_decode(b + i * RL__REC_SIZE, r) || r->index != index ||
		    r->base_offset != offset || r->pos != pos || r->term < term ||
		    r->pos + r->size > file_size) {
			break;
		}
		index++;
		offset = r->last_offset + 1;
		pos += r->size;
		term = r->term;
	}
	seg->n_recs = i;
	*complete = i == n_file && isize % RL__REC_SIZE == 0;
	sl_free(b);
	return 0;
}

/* Writes seg->recs[from..n_recs) to the index file, cuts it to n_recs
 * records and syncs it. */
static int write_index(struct rl__segment *seg, size_t from)
{
	size_t n = seg->n_recs - from;
	uint8_t *b = sl_malloc(n * RL__REC_SIZE);
	if (b == NULL) {
		return RL_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		rl__rec_encode(&seg->recs[from + i], b + i * RL__REC_SIZE);
	}
	int rv = rl__pwrite_all(seg->index_fd, b, n * RL__REC_SIZE, (uint64_t)from * RL__REC_SIZE);
	if (rv == 0) {
		rv = rl__ftruncate(seg->index_fd, (uint64_t)seg->n_recs * RL__REC_SIZE);
	}
	if (rv == 0) {
		rv = rl__fdatasync(seg->index_fd);
	}
	sl_free(b);
	return rv == 0 ? 0 : RL_EIO;
}

/* Re-reads the last indexed batch and checks it matches its record. */
static int spot_check(struct rl__segment *seg)
{
	if (seg->n_recs == 0) {
		return 0;
	}
	const struct rl__rec *r = &seg->recs[seg->n_recs - 1];
	uint8_t *b = sl_malloc(r->size);
	if (b == NULL) {
		return RL_ENOMEM;
	}
	int rv = rl__read_batch(seg->log_fd, r, b);
	sl_free(b);
	return rv;
}

/* Scans seg's data from the end of its indexed records, appending records
 * for every valid batch. Returns 0 with *bad_pos = file size when the scan
 * reached the end, or 0 with *bad_pos at the first invalid batch (and the
 * reason in s->why), or an error. */
static int scan_tail(struct rl__segment *seg, uint64_t file_size, const struct chain *c,
		     struct rl__scan *s, uint64_t *bad_pos)
{
	uint64_t pos = 0;
	uint64_t index = c->next_index;
	int64_t offset = c->next_offset;
	uint64_t term = c->last_term;
	if (seg->n_recs > 0) {
		const struct rl__rec *r = &seg->recs[seg->n_recs - 1];
		pos = r->pos + r->size;
		index = r->index + 1;
		offset = r->last_offset + 1;
		term = r->term;
	}
	rl__scan_init(s, seg->log_fd, seg->name, file_size, pos, index, offset, term);
	for (;;) {
		struct rl__rec rec;
		int rv = rl__scan_next(s, &rec);
		if (rv == 0 || rv == RL__SCAN_BAD) {
			*bad_pos = s->pos;
			return 0;
		}
		if (rv < 0) {
			return rv;
		}
		if (rl__segment_reserve(seg, 1) != 0) {
			return RL_ENOMEM;
		}
		seg->recs[seg->n_recs++] = rec;
	}
}

/* A closed segment: trust its index after the cheap check, else rebuild
 * it; any invalid batch is corruption. */
static int check_closed(struct rl__segment *seg, uint64_t size, struct chain *c)
{
	bool complete;
	int rv = load_index(seg, size, c, &complete);
	if (rv != 0) {
		snprintf(c->err, c->err_size, "segment %s.index: load: %s", seg->name,
			 rl_strerror(rv));
		return rv;
	}
	bool ok = complete && seg->n_recs > 0 &&
		  seg->recs[seg->n_recs - 1].pos + seg->recs[seg->n_recs - 1].size == size;
	if (ok) {
		rv = spot_check(seg);
		if (rv != 0 && rv != RL_ECORRUPT) {
			snprintf(c->err, c->err_size, "segment %s.log: read: %s", seg->name,
				 rl_strerror(rv));
			return rv;
		}
		ok = rv == 0;
	}
	if (ok) {
		return 0;
	}
	SL_LOG(SL_LOG_WARN, "event=index_rebuild segment=%s.log", seg->name);
	seg->n_recs = 0;
	struct rl__scan s;
	uint64_t bad_pos = 0;
	rv = scan_tail(seg, size, c, &s, &bad_pos);
	if (rv == 0 && bad_pos < size) {
		snprintf(c->err, c->err_size,
			 "segment %s.log: invalid batch at position %" PRIu64
			 " in a closed segment: %s",
			 seg->name, bad_pos, s.why);
		rv = RL_ECORRUPT;
	} else if (rv == 0 && seg->n_recs == 0) {
		snprintf(c->err, c->err_size, "segment %s.log: empty closed segment", seg->name);
		rv = RL_ECORRUPT;
	} else if (rv == 0) {
		rv = write_index(seg, 0);
		if (rv != 0) {
			snprintf(c->err, c->err_size, "segment %s.index: rewrite: %s", seg->name,
				 rl_strerror(rv));
		}
	} else {
		snprintf(c->err, c->err_size, "segment %s.log: scan: %s", seg->name, s.why);
	}
	rl__scan_free(&s);
	return rv;
}

/* Cuts a torn tail at bad_pos, or reports corruption if a valid batch
 * follows the invalid one. */
static int cut_tail(struct rl__segment *seg, struct rl__scan *s, uint64_t bad_pos,
		    struct chain *c)
{
	uint64_t found = 0;
	int rv = rl__scan_valid_after(s, bad_pos + 1, &found);
	if (rv == 1) {
		snprintf(c->err, c->err_size,
			 "segment %s.log: invalid batch at position %" PRIu64
			 " (%s) followed by a valid batch at position %" PRIu64,
			 seg->name, bad_pos, s->why, found);
		return RL_ECORRUPT;
	}
	if (rv != 0) {
		snprintf(c->err, c->err_size, "segment %s.log: scan: %s", seg->name,
			 rl_strerror(rv));
		return rv;
	}
	SL_LOG(SL_LOG_WARN, "event=torn_tail_cut segment=%s.log position=%" PRIu64 " size=%" PRIu64
	       " reason=\"%s\"", seg->name, bad_pos, s->file_size, s->why);
	rv = rl__ftruncate(seg->log_fd, bad_pos);
	if (rv == 0) {
		rv = rl__fdatasync(seg->log_fd);
	}
	if (rv != 0) {
		snprintf(c->err, c->err_size, "segment %s.log: cut torn tail: %s", seg->name,
			 strerror(-rv));
		return RL_EIO;
	}
	return 0;
}

/* The last segment: keep the index prefix that is inside the file, check
 * its last batch, scan the rest, cut a torn tail. */
static int check_last(struct rl__segment *seg, uint64_t size, struct chain *c)
{
	bool complete;
	/* The last segment may hold writes that a killed process never synced
	 * (they live in the page cache). Recovery adopts what it reads and
	 * reports it durable, so make it durable first: otherwise a later
	 * power failure loses entries Raft was told are stored. */
	int rv = rl__fdatasync(seg->log_fd);
	if (rv == 0) {
		rv = rl__fdatasync(seg->index_fd);
	}
	if (rv != 0) {
		snprintf(c->err, c->err_size, "segment %s: fdatasync: %s", seg->name, strerror(-rv));
		return RL_EIO;
	}
	rv = load_index(seg, size, c, &complete);
	if (rv != 0) {
		snprintf(c->err, c->err_size, "segment %s.index: load: %s", seg->name,
			 rl_strerror(rv));
		return rv;
	}
	size_t n_idx = seg->n_recs;
	rv = spot_check(seg);
	if (rv != 0) {
		const struct rl__rec *r = &seg->recs[n_idx - 1];
		snprintf(c->err, c->err_size,
			 "segment %s.log: batch at position %" PRIu64 " does not match its index "
			 "record (%s)",
			 seg->name, r->pos, rl_strerror(rv));
		return rv;
	}
	struct rl__scan s;
	uint64_t bad_pos = size;
	rv = scan_tail(seg, size, c, &s, &bad_pos);
	if (rv != 0) {
		snprintf(c->err, c->err_size, "segment %s.log: scan: %s", seg->name, s.why);
	} else if (bad_pos < size) {
		rv = cut_tail(seg, &s, bad_pos, c);
	}
	rl__scan_free(&s);
	if (rv == 0 && (!complete || seg->n_recs != n_idx) && seg->n_recs > 0) {
		rv = write_index(seg, n_idx);
		if (rv != 0) {
			snprintf(c->err, c->err_size, "segment %s.index: write: %s", seg->name,
				 rl_strerror(rv));
		}
	}
	return rv;
}

/* Opens and checks one segment, appending it to log->segs (an emptied last
 * segment is removed instead). */
static int load_segment(struct rl_log *log, int64_t base, bool last, struct chain *c)
{
	char name[64];
	uint64_t size = 0;
	struct rl__segment *seg = rl__segment_new(base);
	if (seg != NULL) {
		seg->w_log = log;
	}
	if (seg == NULL || rl__log_segs_reserve(log, 1) != 0) {
		snprintf(c->err, c->err_size, "%s: out of memory", log->dir);
		if (seg != NULL) {
			rl__segment_unref(seg);
		}
		return RL_ENOMEM;
	}
	rl__segment_file(seg, "log", name, sizeof(name));
	int rv = 0;
	seg->log_fd = rl__open(log->dir_fd, name, O_RDWR);
	if (seg->log_fd < 0 || rl__fsize(seg->log_fd, &size) != 0) {
		snprintf(c->err, c->err_size, "segment %s: open: %s", name,
			 strerror(seg->log_fd < 0 ? -seg->log_fd : errno));
		rv = RL_EIO;
		goto err_after_alloc;
	}
	if (base != c->next_offset) {
		snprintf(c->err, c->err_size,
			 "segment %s: base offset %" PRId64 ", expected %" PRId64
			 " (missing or extra segment)",
			 name, base, c->next_offset);
		rv = RL_ECORRUPT;
		goto err_after_alloc;
	}
	rl__segment_file(seg, "index", name, sizeof(name));
	seg->index_fd = rl__open(log->dir_fd, name, O_RDWR | O_CREAT);
	if (seg->index_fd < 0) {
		snprintf(c->err, c->err_size, "segment %s: open: %s", name,
			 strerror(-seg->index_fd));
		rv = RL_EIO;
		goto err_after_alloc;
	}
	rv = last ? check_last(seg, size, c) : check_closed(seg, size, c);
	if (rv != 0) {
		goto err_after_alloc;
	}
	if (seg->n_recs == 0) {
		rl__segment_unref(seg);
		rv = unlink_segment_files(log, base, c);
		return rv == 0 ? rl__fsync_dir(log->dir_fd) : rv;
	}
	const struct rl__rec *r = &seg->recs[seg->n_recs - 1];
	seg->size_bytes = r->pos + r->size;
	c->next_index = r->index + 1;
	c->next_offset = r->last_offset + 1;
	c->last_term = r->term;
	log->segs[log->n_segs++] = seg;
	return 0;

err_after_alloc:
	rl__segment_unref(seg);
	return rv;
}

static int open_dir(struct rl_log *log, struct chain *c)
{
	int rv = rl__mkdir(log->dir);
	if (rv != 0 && rv != -EEXIST) {
		snprintf(c->err, c->err_size, "%s: mkdir: %s", log->dir, strerror(-rv));
		return RL_EIO;
	}
	log->dir_fd = rl__open(AT_FDCWD, log->dir, O_RDONLY | O_DIRECTORY);
	if (log->dir_fd < 0) {
		snprintf(c->err, c->err_size, "%s: open: %s", log->dir, strerror(-log->dir_fd));
		return RL_EIO;
	}
	if (rl__unlink(log->dir_fd, RL__STATE_TMP) != 0 ||
	    rl__unlink(log->dir_fd, RL__VOTE_TMP) != 0) {
		snprintf(c->err, c->err_size, "%s: removing temp files failed", log->dir);
		return RL_EIO;
	}
	/* A process that died between a rename, create or unlink and its
	 * directory fsync left names that only the page cache holds; recovery
	 * is about to trust them, so they must survive a power failure. */
	rv = rl__fsync_dir(log->dir_fd);
	if (rv != 0) {
		snprintf(c->err, c->err_size, "%s: fsync directory: %s", log->dir, strerror(-rv));
		return RL_EIO;
	}
	return 0;
}

/* Finishes an interrupted reset (every segment is garbage) or retention
 * (segments below the log start). */
static int finish_interrupted(struct rl_log *log, int64_t *bases, size_t *n, struct chain *c)
{
	size_t drop = 0;
	if (log->st.reset_pending) {
		drop = *n;
	} else {
		while (drop < *n && bases[drop] < log->st.start_offset) {
			drop++;
		}
	}
	for (size_t i = 0; i < drop; i++) {
		int rv = unlink_segment_files(log, bases[i], c);
		if (rv != 0) {
			return rv;
		}
	}
	if (drop > 0 && rl__fsync_dir(log->dir_fd) != 0) {
		snprintf(c->err, c->err_size, "%s: fsync: I/O error", log->dir);
		return RL_EIO;
	}
	memmove(bases, bases + drop, (*n - drop) * sizeof(*bases));
	*n -= drop;
	if (log->st.reset_pending) {
		uint8_t *img;
		size_t len;
		log->st.reset_pending = false;
		int rv = rl__state_encode(&log->st, &img, &len);
		if (rv != 0) {
			return rv;
		}
		rv = rl__write_file_atomic(log->dir_fd, RL__STATE_TMP, RL__STATE_FILE, img, len);
		sl_free(img);
		if (rv != 0) {
			snprintf(c->err, c->err_size, "%s/%s: write: %s", log->dir, RL__STATE_FILE,
				 strerror(-rv));
			return RL_EIO;
		}
	}
	return 0;
}

static int load_segments(struct rl_log *log, struct chain *c)
{
	int64_t *bases = NULL;
	size_t n = 0;
	int rv = list_segments(log, &bases, &n, c);
	if (rv == 0) {
		rv = finish_interrupted(log, bases, &n, c);
	}
	c->next_index = log->st.start_index;
	c->next_offset = log->st.start_offset;
	c->last_term = 0;
	for (size_t i = 0; rv == 0 && i < n; i++) {
		rv = load_segment(log, bases[i], i + 1 == n, c);
	}
	sl_free(bases);
	if (rv == 0) {
		log->next_index = c->next_index;
		log->next_offset = c->next_offset;
		log->durable_index = c->next_index - 1;
		log->durable_offset = c->next_offset;
	}
	return rv;
}

int rl_log_open(struct rl_writer *w, const struct rl_log_config *cfg, struct rl_log **out,
		char *errmsg, size_t errmsg_size)
{
	char local[RL__ERRMSG_SIZE];
	struct chain c = {0};
	c.err = errmsg != NULL ? errmsg : local;
	c.err_size = errmsg != NULL ? errmsg_size : sizeof(local);
	if (c.err_size > 0) {
		c.err[0] = '\0';
	}
	if (w == NULL || cfg == NULL || cfg->dir == NULL || out == NULL ||
	    cfg->segment_bytes_max == 0 || cfg->batch_bytes_max < KP_BATCH_HEADER_SIZE) {
		snprintf(c.err, c.err_size, "rl_log_open: invalid configuration");
		return RL_EINVAL;
	}
	int rv = RL_ENOMEM;
	struct rl_log *log = sl_calloc(1, sizeof(*log));
	if (log == NULL) {
		goto err;
	}
	log->w = w;
	log->cfg = *cfg;
	log->dir_fd = -1;
	log->vote_fd = -1;
	log->dir = sl_strdup(cfg->dir);
	if (log->dir == NULL) {
		goto err_after_alloc;
	}
	log->cfg.dir = log->dir;
	rv = open_dir(log, &c);
	if (rv == 0) {
		rv = rl__state_load(log, &log->st, c.err, c.err_size);
	}
	if (rv == 0) {
		rv = rl__vote_load(log, c.err, c.err_size);
	}
	if (rv == 0) {
		rv = load_segments(log, &c);
	}
	if (rv != 0) {
		goto err_after_alloc;
	}
	w->n_logs++;
	*out = log;
	return 0;

err_after_alloc:
	log->ops_pending = 0;
	w->n_logs++;
	rl_log_close(log);
err:
	if (rv == RL_ENOMEM && c.err_size > 0 && c.err[0] == '\0') {
		snprintf(c.err, c.err_size, "%s: out of memory", cfg->dir);
	}
	return rv;
}
