/* Private structures and helpers shared by the raftlog .c files. Not for
 * other modules.
 *
 * Threads: fields without a prefix belong to the loop thread (the thread
 * that calls the public API). Fields prefixed w_ belong to the writer
 * thread while a pass runs. They meet only through the writer's mutex-
 * protected queues, which order every hand-off. */
#ifndef RL_INTERNAL_H
#define RL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common/sl_common.h"
#include "raftlog/raftlog.h"
#include "raftlog/vfs.h"

/* Size of one on-disk index record (FORMAT.md, "Index files"). */
#define RL__REC_SIZE 64
/* Bytes reserved for a segment's base name: 20 digits + NUL. */
#define RL__NAME_SIZE 24
#define RL__ERRMSG_SIZE 320
/* Names of the metadata files inside a log directory. */
#define RL__VOTE_FILE "vote"
#define RL__VOTE_TMP "vote.tmp"
#define RL__STATE_FILE "state"
#define RL__STATE_TMP "state.tmp"
/* Vote file: two slots, each in its own sector. */
#define RL__VOTE_SLOT_SIZE 64
#define RL__VOTE_SLOT_STRIDE 512
#define RL__VOTE_FILE_SIZE 1024
/* A batch header claiming more than this is treated as garbage. */
#define RL__SCAN_BATCH_MAX (256u << 20)

/* One entry of a segment's index, in memory. */
struct rl__rec {
	uint64_t index;
	uint64_t term;
	int64_t base_offset;
	int64_t last_offset;
	uint64_t pos;
	uint32_t size;
	uint32_t batch_crc;
	int64_t max_ts;
	uint8_t kind;
};

/* One segment: a .log file and its .index file. Reference-counted: the log,
 * queued operations and read references each hold one. */
struct rl__segment {
	atomic_int refs;
	int64_t base_offset;
	char name[RL__NAME_SIZE]; /* 20-digit base offset, no extension */
	int log_fd;               /* -1 until the writer creates the file */
	int index_fd;
	/* Loop thread: every logical entry (durable or planned). */
	struct rl__rec *recs;
	size_t n_recs;
	size_t cap_recs;
	uint64_t size_bytes; /* logical end of the data */
	/* Writer thread. */
	struct rl_log *w_log;
	bool w_data_dirty;
	bool w_index_dirty;
	bool w_listed;
	struct rl__segment *w_next;
};

/* The kinds of queued operations. */
enum rl__op_type {
	RL__OP_APPEND = 1,
	RL__OP_TRUNCATE,
	RL__OP_VOTE,
	RL__OP_SNAPSHOT,
	RL__OP_RETAIN,
	RL__OP_RESET
};

/* One entry of an append, as planned at call time. */
struct rl__op_entry {
	struct rl__segment *seg; /* reference held by the op */
	uint64_t pos;            /* file position of the batch */
	uint64_t slot;           /* record number in the index file */
	bool create;             /* first entry of a new segment: create files */
	const uint8_t *buf;      /* borrowed from the caller until the cb */
	size_t len;
	uint8_t rec[RL__REC_SIZE];  /* encoded index record */
	struct rl__op_entry *w_next; /* writer: index records pending */
};

/* One queued operation. Allocated at submission, freed at completion. */
struct rl__op {
	struct rl__op *next;     /* writer queue / completion list */
	struct rl__op *log_next; /* log's list of pending appends */
	struct rl_log *log;
	enum rl__op_type type;
	int status;
	void *req;
	uint64_t bytes; /* counted in the writer's queue bytes */
	/* APPEND */
	uint64_t first_index;
	uint64_t live_last; /* last index not yet truncated away */
	unsigned n_entries;
	/* TRUNCATE: the segment trimmed and its new sizes. */
	struct rl__segment *trim;
	uint64_t trim_pos;
	uint64_t trim_recs;
	/* VOTE */
	uint64_t term;
	uint64_t vote;
	/* TRUNCATE, RETAIN, RESET: segments to unlink, in order. */
	struct rl__segment **del;
	size_t n_del;
	/* SNAPSHOT, RETAIN, RESET: state file images to write. */
	uint8_t *state;
	size_t state_len;
	uint8_t *state2; /* RESET: written after the unlinks */
	size_t state2_len;
	struct rl__op_entry entries[];
};

struct rl_writer {
	struct rl_writer_config cfg;
	uv_loop_t *loop;
	uv_async_t *async;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop;                            /* mu */
	struct rl__op *q_head, *q_tail;       /* mu: submitted */
	struct rl__op *done_head, *done_tail; /* mu: completed, to finish */
	/* Loop thread. */
	uint32_t ops_queued;
	uint64_t bytes_queued;
	unsigned n_logs;
	/* Writer thread, during a pass. */
	struct rl__segment *w_sync_segs;
	struct rl_log *w_sync_logs;
	struct rl__op_entry *w_idx_head, *w_idx_tail;
};

/* Durable "state" file contents. */
struct rl__state {
	uint64_t start_index;
	int64_t start_offset;
	bool reset_pending; /* every segment file is garbage */
	uint64_t snap_index;
	uint64_t snap_term;
	uint64_t snap_conf_index;
	int64_t snap_log_start_offset;
	uint8_t *snap_conf; /* sl_malloc'd */
	size_t snap_conf_len;
};

struct rl_log {
	struct rl_writer *w;
	struct rl_log_config cfg;
	char *dir;
	int dir_fd;
	int vote_fd;
	char errmsg[RL__ERRMSG_SIZE];
	struct rl__segment **segs;
	size_t n_segs;
	size_t cap_segs;
	struct rl__state st; /* logical: latest submitted */
	uint64_t next_index;
	int64_t next_offset;
	uint64_t durable_index;
	int64_t durable_offset;
	uint64_t term;
	uint64_t vote;
	bool failed;
	unsigned ops_pending;
	struct rl__op *app_head, *app_tail; /* pending appends, FIFO */
	/* Writer thread. */
	bool w_failed;
	bool w_vote_dirty;
	bool w_dir_dirty;
	bool w_listed;
	uint64_t w_vote_seq;
	struct rl_log *w_next;
	char w_errmsg[RL__ERRMSG_SIZE];
};

/* errors.c */
void rl__errmsg_set(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* io.c: syscalls through the rl_vfs table (raftlog/vfs.h) with fault
 * injection; return 0 / bytes or -errno. */
int rl__open(int dir_fd, const char *name, int flags);
void rl__close(int fd); /* ignores fd < 0 */
int rl__pwrite_all(int fd, const void *buf, size_t len, uint64_t pos);
int rl__pwritev_all(int fd, struct iovec *iov, int iovcnt, uint64_t pos);
ssize_t rl__pread_all(int fd, void *buf, size_t len, uint64_t pos);
int rl__fdatasync(int fd);
int rl__fsync_dir(int dir_fd);
int rl__ftruncate(int fd, uint64_t len);
int rl__fsize(int fd, uint64_t *size);
int rl__unlink(int dir_fd, const char *name);
int rl__mkdir(const char *path);
int rl__list_dir(int dir_fd, rl_vfs_list_cb cb, void *arg);
void rl__writeback(int fd); /* start writeback, a hint */
int rl__write_file_atomic(int dir_fd, const char *tmp, const char *name, const void *buf,
			  size_t len);

/* index.c */
void rl__rec_encode(const struct rl__rec *r, uint8_t out[RL__REC_SIZE]);
bool rl__rec_decode(const uint8_t in[RL__REC_SIZE], struct rl__rec *r);
int rl__rec_from_batch(const uint8_t *buf, size_t len, uint64_t index, uint64_t pos,
		       struct rl__rec *r);
struct rl__rec *rl__find_index(const struct rl_log *log, uint64_t index,
			       struct rl__segment **seg_out);
size_t rl__find_seg_offset(const struct rl_log *log, int64_t offset);
size_t rl__seg_rec_at_offset(const struct rl__segment *seg, int64_t offset);
size_t rl__seg_for_index(const struct rl_log *log, uint64_t index);

/* segment.c */
struct rl__segment *rl__segment_new(int64_t base_offset);
void rl__segment_ref(struct rl__segment *seg);
void rl__segment_unref(struct rl__segment *seg);
int rl__segment_reserve(struct rl__segment *seg, size_t n);
void rl__segment_file(const struct rl__segment *seg, const char *ext, char *out, size_t size);
int rl__log_segs_reserve(struct rl_log *log, size_t n);

/* scan.c: validating reader over a segment file. */
struct rl__scan {
	int fd;
	const char *name; /* for messages */
	uint64_t file_size;
	uint64_t pos;
	uint64_t next_index;
	int64_t next_offset;
	uint64_t last_term;
	uint8_t *buf;
	size_t cap;
	char why[96]; /* reason of the last invalid batch */
};
#define RL__SCAN_BAD 2
void rl__scan_init(struct rl__scan *s, int fd, const char *name, uint64_t file_size,
		   uint64_t pos, uint64_t next_index, int64_t next_offset, uint64_t last_term);
int rl__scan_next(struct rl__scan *s, struct rl__rec *rec);
int rl__scan_valid_after(struct rl__scan *s, uint64_t from, uint64_t *found);
int rl__read_batch(int fd, const struct rl__rec *r, uint8_t *dst);
void rl__scan_free(struct rl__scan *s);

/* meta.c */
int rl__vote_load(struct rl_log *log, char *err, size_t err_size);
void rl__vote_encode(uint64_t seq, uint64_t term, uint64_t vote, uint8_t out[RL__VOTE_SLOT_SIZE]);
int rl__state_load(struct rl_log *log, struct rl__state *st, char *err, size_t err_size);
int rl__state_encode(const struct rl__state *st, uint8_t **out, size_t *out_len);
void rl__state_free(struct rl__state *st);

/* writer.c */
void rl__writer_submit(struct rl_writer *w, struct rl__op *op);
int rl__op_admit(struct rl_log *log, uint64_t bytes);
struct rl__op *rl__op_alloc(struct rl_log *log, enum rl__op_type type, void *req,
			    unsigned n_entries);
void rl__op_free(struct rl__op *op);

/* pass.c: runs on the writer thread (or the manual driver). */
void rl__pass_run(struct rl_writer *w, struct rl__op *ops);

/* log.c */
void rl__log_set_durable(struct rl_log *log, uint64_t index);
void rl__log_drop_segments_from(struct rl_log *log, size_t k, struct rl__segment **moved);

#endif /* RL_INTERNAL_H */
