/* One pass of the writer: performs every taken operation's writes, then
 * makes them durable with one sync per touched file (group commit). Runs on
 * the writer thread, or on the manual driver's thread.
 *
 * Happy path: appends pwrite their batches into the segment files at the
 * positions planned at call time; then flush() runs fdatasync on every
 * touched segment, then writes the index records of the synced batches and
 * fdatasyncs the index files, the vote files and the directories. So an
 * index record never reaches the disk before its batch does, and recovery
 * can trust indexed batches. Before the first write into a new segment the
 * pass flushes everything so far: a closed segment is always durable and
 * fully indexed before its successor gets a byte. Truncation, retention and
 * reset are flushed in line too (they are rare).
 * Failure modes: a failed open, write, truncate, unlink or sync marks its
 * log failed (w_failed, with the file and call in w_errmsg); the log's
 * later writes in the pass and forever after are skipped, and every one of
 * its operations in this pass completes with RL_EIO, even if some bytes did
 * reach the disk. Nothing is retried after a failed fsync. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "raftlog/internal.h"

#define IOV_BATCH 64

static void fail_log(struct rl_log *log, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail_log(struct rl_log *log, const char *fmt, ...)
{
	if (log->w_failed) {
		return;
	}
	log->w_failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(log->w_errmsg, sizeof(log->w_errmsg), fmt, ap);
	va_end(ap);
}

static void list_seg(struct rl_writer *w, struct rl__segment *seg)
{
	if (!seg->w_listed) {
		seg->w_listed = true;
		seg->w_next = w->w_sync_segs;
		w->w_sync_segs = seg;
	}
}

static void list_log(struct rl_writer *w, struct rl_log *log)
{
	if (!log->w_listed) {
		log->w_listed = true;
		log->w_next = w->w_sync_logs;
		w->w_sync_logs = log;
	}
}

static void sync_data(struct rl_writer *w)
{
	/* Start writeback of every touched file first, so the device works on
	 * all of them at once; then wait for each with fdatasync. */
	for (struct rl__segment *seg = w->w_sync_segs; seg != NULL; seg = seg->w_next) {
		if (seg->w_data_dirty && !seg->w_log->w_failed) {
			rl__writeback(seg->log_fd);
		}
	}
	for (struct rl__segment *seg = w->w_sync_segs; seg != NULL; seg = seg->w_next) {
		if (!seg->w_data_dirty) {
			continue;
		}
		seg->w_data_dirty = false;
		if (seg->w_log->w_failed || w->cfg.no_sync) {
			continue;
		}
		int rv = rl__fdatasync(seg->log_fd);
		if (rv != 0) {
			fail_log(seg->w_log, "segment %s.log: fdatasync: %s", seg->name,
				 strerror(-rv));
		}
	}
}

/* Writes the pending index records, one pwritev per run of consecutive
 * records of one segment. */
static void write_index_records(struct rl_writer *w)
{
	struct rl__op_entry *e = w->w_idx_head;
	while (e != NULL) {
		struct iovec iov[IOV_BATCH];
		struct rl__segment *seg = e->seg;
		uint64_t slot = e->slot;
		int n = 0;
		do {
			iov[n].iov_base = e->rec;
			iov[n].iov_len = RL__REC_SIZE;
			n++;
			e = e->w_next;
		} while (e != NULL && n < IOV_BATCH && e->seg == seg && e->slot == slot + (uint64_t)n);
		if (seg->w_log->w_failed) {
			continue;
		}
		int rv = rl__pwritev_all(seg->index_fd, iov, n, slot * RL__REC_SIZE);
		if (rv != 0) {
			fail_log(seg->w_log, "segment %s.index: pwrite: %s", seg->name,
				 strerror(-rv));
		}
		seg->w_index_dirty = true;
		list_seg(w, seg);
	}
	w->w_idx_head = w->w_idx_tail = NULL;
}

static void sync_rest(struct rl_writer *w)
{
	/* As for the data: start writeback of every index file, then wait. */
	for (struct rl__segment *seg = w->w_sync_segs; seg != NULL; seg = seg->w_next) {
		if (seg->w_index_dirty && !seg->w_log->w_failed && !w->cfg.no_sync) {
			rl__writeback(seg->index_fd);
		}
	}
	for (struct rl__segment *seg = w->w_sync_segs; seg != NULL; seg = seg->w_next) {
		seg->w_listed = false;
		if (!seg->w_index_dirty) {
			continue;
		}
		seg->w_index_dirty = false;
		int rv = seg->w_log->w_failed || w->cfg.no_sync ? 0 : rl__fdatasync(seg->index_fd);
		if (rv != 0) {
			fail_log(seg->w_log, "segment %s.index: fdatasync: %s", seg->name,
				 strerror(-rv));
		}
	}
	w->w_sync_segs = NULL;
	for (struct rl_log *log = w->w_sync_logs; log != NULL; log = log->w_next) {
		log->w_listed = false;
		int rv = 0;
		if (log->w_vote_dirty && !log->w_failed) {
			rv = rl__fdatasync(log->vote_fd);
			if (rv != 0) {
				fail_log(log, "%s/%s: fdatasync: %s", log->dir, RL__VOTE_FILE,
					 strerror(-rv));
			}
		}
		if (log->w_dir_dirty && !log->w_failed) {
			rv = rl__fsync_dir(log->dir_fd);
			if (rv != 0) {
				fail_log(log, "%s: fsync directory: %s", log->dir, strerror(-rv));
			}
		}
		log->w_vote_dirty = false;
		log->w_dir_dirty = false;
	}
	w->w_sync_logs = NULL;
}

/* Makes everything written so far in this pass durable. */
static void flush(struct rl_writer *w)
{
	sync_data(w);
	write_index_records(w);
	sync_rest(w);
}

static int create_files(struct rl_writer *w, struct rl_log *log, struct rl__segment *seg)
{
	char name[64];
	SL_ASSERT(seg->log_fd < 0 && seg->index_fd < 0);
	rl__segment_file(seg, "log", name, sizeof(name));
	int fd = rl__open(log->dir_fd, name, O_RDWR | O_CREAT | O_TRUNC);
	if (fd >= 0) {
		seg->log_fd = fd;
		rl__segment_file(seg, "index", name, sizeof(name));
		fd = rl__open(log->dir_fd, name, O_RDWR | O_CREAT | O_TRUNC);
		seg->index_fd = fd;
	}
	if (fd < 0) {
		fail_log(log, "segment %s: create: %s", name, strerror(-fd));
		return fd;
	}
	log->w_dir_dirty = true;
	list_log(w, log);
	return 0;
}

static void do_append(struct rl_writer *w, struct rl__op *op)
{
	struct rl_log *log = op->log;
	for (unsigned i = 0; i < op->n_entries && !log->w_failed; i++) {
		struct rl__op_entry *e = &op->entries[i];
		struct rl__segment *seg = e->seg;
		if (e->create) {
			flush(w);
			if (log->w_failed || create_files(w, log, seg) != 0) {
				return;
			}
		}
		int rv = rl__pwrite_all(seg->log_fd, e->buf, e->len, e->pos);
		if (rv != 0) {
			fail_log(log, "segment %s.log: pwrite at %" PRIu64 ": %s", seg->name, e->pos,
				 strerror(-rv));
			return;
		}
		seg->w_data_dirty = true;
		list_seg(w, seg);
		e->w_next = NULL;
		if (w->w_idx_tail != NULL) {
			w->w_idx_tail->w_next = e;
		} else {
			w->w_idx_head = e;
		}
		w->w_idx_tail = e;
	}
}

/* Unlinks the files of the op's doomed segments, in order. With each_sync
 * the directory is synced after each one (truncation: a crash must leave a
 * prefix of the log, never a hole). */
static void unlink_segments(struct rl_writer *w, struct rl__op *op, bool each_sync)
{
	struct rl_log *log = op->log;
	for (size_t i = 0; i < op->n_del && !log->w_failed; i++) {
		char name[64];
		struct rl__segment *seg = op->del[i];
		rl__segment_file(seg, "log", name, sizeof(name));
		int rv = rl__unlink(log->dir_fd, name);
		if (rv == 0) {
			rl__segment_file(seg, "index", name, sizeof(name));
			rv = rl__unlink(log->dir_fd, name);
		}
		if (rv == 0 && each_sync) {
			rv = rl__fsync_dir(log->dir_fd);
		}
		if (rv != 0) {
			fail_log(log, "segment %s: unlink: %s", name, strerror(-rv));
			return;
		}
	}
	if (op->n_del > 0 && !each_sync) {
		log->w_dir_dirty = true;
		list_log(w, log);
	}
}

static void do_truncate(struct rl_writer *w, struct rl__op *op)
{
	struct rl_log *log = op->log;
	flush(w);
	unlink_segments(w, op, true);
	struct rl__segment *seg = op->trim;
	if (seg == NULL || log->w_failed) {
		return;
	}
	int rv = rl__ftruncate(seg->log_fd, op->trim_pos);
	if (rv == 0) {
		rv = rl__ftruncate(seg->index_fd, op->trim_recs * RL__REC_SIZE);
	}
	if (rv != 0) {
		fail_log(log, "segment %s: ftruncate: %s", seg->name, strerror(-rv));
		return;
	}
	seg->w_data_dirty = true;
	seg->w_index_dirty = true;
	list_seg(w, seg);
	flush(w);
}

static void write_state(struct rl_log *log, const uint8_t *img, size_t len)
{
	if (img == NULL || log->w_failed) {
		return;
	}
	int rv = rl__write_file_atomic(log->dir_fd, RL__STATE_TMP, RL__STATE_FILE, img, len);
	if (rv != 0) {
		fail_log(log, "%s/%s: write: %s", log->dir, RL__STATE_FILE, strerror(-rv));
	}
}

static void do_vote(struct rl_writer *w, struct rl__op *op)
{
	struct rl_log *log = op->log;
	if (log->w_failed) {
		return;
	}
	uint8_t slot[RL__VOTE_SLOT_SIZE];
	uint64_t seq = log->w_vote_seq + 1;
	rl__vote_encode(seq, op->term, op->vote, slot);
	int rv = rl__pwrite_all(log->vote_fd, slot, sizeof(slot), (seq % 2) * RL__VOTE_SLOT_STRIDE);
	if (rv != 0) {
		fail_log(log, "%s/%s: pwrite: %s", log->dir, RL__VOTE_FILE, strerror(-rv));
		return;
	}
	log->w_vote_seq = seq;
	log->w_vote_dirty = true;
	list_log(w, log);
}

void rl__pass_run(struct rl_writer *w, struct rl__op *ops)
{
	for (struct rl__op *op = ops; op != NULL; op = op->next) {
		switch (op->type) {
		case RL__OP_APPEND:
			do_append(w, op);
			break;
		case RL__OP_TRUNCATE:
			do_truncate(w, op);
			break;
		case RL__OP_VOTE:
			do_vote(w, op);
			break;
		case RL__OP_SNAPSHOT:
			write_state(op->log, op->state, op->state_len);
			break;
		case RL__OP_RETAIN:
			write_state(op->log, op->state, op->state_len);
			unlink_segments(w, op, false);
			break;
		case RL__OP_RESET:
			flush(w);
			write_state(op->log, op->state, op->state_len);
			unlink_segments(w, op, false);
			flush(w);
			write_state(op->log, op->state2, op->state2_len);
			break;
		}
	}
	flush(w);
	for (struct rl__op *op = ops; op != NULL; op = op->next) {
		op->status = op->log->w_failed ? RL_EIO : 0;
	}
}
