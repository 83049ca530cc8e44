/* raftlog: the durable replicated log of one partition (storage engine).
 *
 * Module contract
 * ---------------
 * A log (struct rl_log) is one directory holding one partition's Raft log in
 * Kafka's own on-disk form: segment files that are the plain concatenation of
 * RecordBatch v2 batches, one batch per Raft entry, each named after the base
 * offset of its first batch. Beside each segment an append-only index file has
 * one CRC'd record per entry (Raft index, term, offsets, position, size, max
 * timestamp, kind). Term + vote and snapshot/log-start metadata live in small
 * CRC'd files updated atomically. raftlog/FORMAT.md describes every byte.
 *
 * - Entries. One Raft entry is exactly one RecordBatch v2. Its kind is DATA (a
 *   producer's batch), BARRIER or CONFIG (libraft's RAFT_BARRIER/RAFT_CHANGE,
 *   stored as one-record control batches, see rl_control_batch_build()). The
 *   batch's partitionLeaderEpoch is the entry's Raft term and Raft indexes are
 *   dense, so the index of every batch can be rebuilt from the segments.
 * - Offsets. An append either assigns offsets (leader: raftlog writes
 *   baseOffset and partitionLeaderEpoch into the caller's buffer) or verifies
 *   them (follower: stored verbatim, baseOffset must be the next offset).
 *   Indexes and offsets advance when the call returns; durability follows
 *   when the callback runs.
 * - Writer. One struct rl_writer owns one dedicated thread shared by many
 *   logs. Operations are queued; the thread takes everything queued, writes
 *   it, runs one fdatasync per touched file (group commit) and completes the
 *   operations on the libuv loop thread through uv_async, in submission order
 *   per log. A manual mode has no thread: rl_writer_run_pending() performs
 *   the queued work on the calling thread and runs the callbacks.
 * - Async contract. Every operation takes a caller-owned request whose first
 *   member is `void *data`; the request must stay valid until its callback
 *   runs. If the call returns an error the callback never runs; the callback
 *   never runs inside the call that started the operation.
 * - Threads. Every function except the writer's internals runs on the loop
 *   thread (or, in manual mode, on the one thread driving the writer).
 * - Failure. After a write or fsync failure the log is failed: the failing
 *   operation and every later one on that log complete or return RL_EIO, and
 *   rl_log_errmsg() names the file and the system call. Nothing that was not
 *   durably written is ever reported as done. Close and reopen the log to
 *   recover.
 * - Recovery. rl_log_open() runs synchronously. It trusts the index of closed
 *   segments after a cheap consistency check, scans only the tail of the last
 *   segment, cuts a torn tail back to the last whole valid batch, and reports
 *   mid-log corruption as RL_ECORRUPT with the file and position.
 *
 * Errors are negative rl_err codes; rl_strerror()/rl_err_name() name them. */
#ifndef RL_RAFTLOG_H
#define RL_RAFTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* ---- Errors ------------------------------------------------------------ */

#define RL_ERRORS(X)                                                           \
	X(RL_OK, 0, "ok")                                                      \
	X(RL_EIO, -1, "I/O error, the log is failed")                         \
	X(RL_ENOMEM, -2, "out of memory")                                      \
	X(RL_ECORRUPT, -3, "corrupt data on disk")                             \
	X(RL_EINVAL, -4, "invalid argument")                                   \
	X(RL_ETOOLARGE, -5, "size over the configured limit")                  \
	X(RL_EAGAIN, -6, "writer queue full, retry after completions")         \
	X(RL_EOFFSET, -7, "batch base offset is not the log's next offset")    \
	X(RL_EBATCH, -8, "invalid record batch")                               \
	X(RL_ENOTFOUND, -9, "no such entry")                                   \
	X(RL_ERANGE, -10, "offset out of range")                               \
	X(RL_ETOOSMALL, -11, "buffer too small")                               \
	X(RL_ENOTLEADER, -20, "not the leader")                                \
	X(RL_ESHUTDOWN, -21, "shutting down")                                  \
	X(RL_EBUSY, -22, "busy, retry later")

/* Error codes returned by every raftlog function (0 or negative). */
enum rl_err {
#define RL_ERR_ENUM(name, code, msg) name = (code),
	RL_ERRORS(RL_ERR_ENUM)
#undef RL_ERR_ENUM
};

/* Returns a static human-readable description of an rl_err code, or
 * "unknown error" for a code outside the table. */
const char *rl_strerror(int err);

/* Returns the static symbolic name of an rl_err code ("RL_EIO"), or
 * "RL_UNKNOWN" for a code outside the table. */
const char *rl_err_name(int err);

/* ---- Entries ----------------------------------------------------------- */

/* The kind of a Raft entry. The numeric values equal libraft's RAFT_COMMAND,
 * RAFT_BARRIER and RAFT_CHANGE so they can be passed through unchanged. */
enum rl_kind {
	RL_KIND_DATA = 1,    /* a producer's RecordBatch */
	RL_KIND_BARRIER = 2, /* control batch, record key type 0x5301 */
	RL_KIND_CONFIG = 3   /* control batch, record key type 0x5302 */
};

/* Control record key types used for BARRIER and CONFIG entries. */
#define RL_CONTROL_TYPE_BARRIER 0x5301
#define RL_CONTROL_TYPE_CONFIG 0x5302

/* Builds the control batch that stores a BARRIER or CONFIG entry: one record
 * whose key is [version int16 = 0][type int16] and whose value is payload
 * (copied; may be NULL when payload_len is 0). baseOffset and
 * partitionLeaderEpoch are left 0 for rl_append() to assign. timestamp_ms is
 * the record and batch timestamp; replicas that rebuild the batch must use
 * the same value to stay byte-identical. On success *out is sl_malloc'd and
 * ownership passes to the caller. Returns 0, RL_EINVAL (kind DATA) or
 * RL_ENOMEM. */
int rl_control_batch_build(enum rl_kind kind, const void *payload, size_t payload_len,
			   int64_t timestamp_ms, uint8_t **out, size_t *out_len);

/* Classifies the whole, validated batch buf[0..len): *kind is BARRIER or
 * CONFIG for a control batch with one of our record types, else DATA. For
 * BARRIER and CONFIG, *payload (borrowed from buf) and *payload_len give the
 * record value; for DATA they are set to NULL and 0. payload and payload_len
 * may be NULL. Returns 0 or RL_EBATCH when a control batch cannot be
 * decoded. */
int rl_batch_kind(const uint8_t *buf, size_t len, enum rl_kind *kind, const uint8_t **payload,
		  size_t *payload_len);

/* One entry handed to rl_append(). */
struct rl_entry {
	uint64_t term;     /* Raft term, 1 .. INT32_MAX; the batch's leader epoch */
	enum rl_kind kind; /* must match what rl_batch_kind() says of buf */
	uint8_t *buf;      /* one whole RecordBatch v2; borrowed until the cb */
	size_t len;        /* bytes of buf, exactly the batch size */
	/* The caller verified buf's CRC-32C in this process since its bytes
	 * last changed (or built the batch): rl_append() then checks the
	 * framing only. Leave false for bytes of unknown origin. */
	bool crc_checked;
};

/* What the log knows about one retained entry. */
struct rl_entry_info {
	uint64_t index;        /* Raft index */
	uint64_t term;         /* Raft term (= partitionLeaderEpoch) */
	enum rl_kind kind;
	int64_t base_offset;   /* first offset of the batch */
	int64_t last_offset;   /* last offset of the batch (inclusive) */
	int64_t max_timestamp; /* batch maxTimestamp */
	uint32_t size;         /* bytes of the batch */
	bool durable;          /* its append has completed */
};

/* ---- Writer ------------------------------------------------------------ */

/* The disk writer shared by many logs (opaque). */
struct rl_writer;

/* Writer settings. */
struct rl_writer_config {
	/* No thread and no loop: rl_writer_run_pending() does the work. */
	bool manual;
	/* Operations queued and not yet completed, over all logs. */
	uint32_t queue_ops_max;
	/* Batch bytes queued and not yet completed, over all logs. */
	uint64_t queue_bytes_max;
	/* Skip the fdatasync of segment data and index files (term/vote and
	 * directory syncs still happen). Appends then count as durable once
	 * written: a machine crash can lose them. For tests and benchmarks
	 * (log.flush.fsync.enable=false). */
	bool no_sync;
};

/* Fills cfg with defaults: thread mode, 65536 ops, 512 MiB. */
void rl_writer_config_default(struct rl_writer_config *cfg);

/* Creates a writer. In thread mode loop (borrowed, must outlive the writer)
 * receives completions through a uv_async handle and the writer thread is
 * started; in manual mode loop must be NULL. On success *out owns the writer.
 * Returns 0, RL_EINVAL, RL_ENOMEM or RL_EIO (thread or handle creation). */
int rl_writer_create(uv_loop_t *loop, const struct rl_writer_config *cfg, struct rl_writer **out);

/* Manual mode only: performs every queued operation on the calling thread
 * (one group commit) and then runs their callbacks, repeating while the
 * callbacks queue more work. Returns the number of operations completed. */
unsigned rl_writer_run_pending(struct rl_writer *w);

/* Stops and frees the writer. Every log using it must be closed first. In
 * thread mode the thread is joined and the async handle closed; its memory
 * is released in the close callback, so the caller must run the loop (e.g.
 * uv_run(loop, UV_RUN_DEFAULT)) once more afterwards. */
void rl_writer_close(struct rl_writer *w);

/* ---- Opening a log ----------------------------------------------------- */

/* One partition's log (opaque). */
struct rl_log;

/* Log settings. */
struct rl_log_config {
	/* Directory of the log (copied). Created (one level) if missing. */
	const char *dir;
	/* Roll to a new segment when appending would grow the active segment
	 * past this many bytes (a single larger batch still gets a segment). */
	uint64_t segment_bytes_max;
	/* Largest accepted batch, in bytes. */
	uint32_t batch_bytes_max;
};

/* Fills cfg with defaults: dir NULL, 1 GiB segments, 8 MiB batches. */
void rl_log_config_default(struct rl_log_config *cfg);

/* Opens (creating if needed) the log in cfg->dir and recovers it
 * synchronously (see FORMAT.md, "Recovery"). w is borrowed and must outlive
 * the log. On failure, when errmsg is not NULL, a message with the file and
 * position is written into errmsg[0..errmsg_size). Returns 0, RL_EINVAL,
 * RL_ENOMEM, RL_EIO or RL_ECORRUPT. */
int rl_log_open(struct rl_writer *w, const struct rl_log_config *cfg, struct rl_log **out,
		char *errmsg, size_t errmsg_size);

/* Closes the log and frees it. No operation may be pending (their callbacks
 * must have run; asserted). Read references taken with rl_read_range() stay
 * valid until released. */
void rl_log_close(struct rl_log *log);

/* Returns the last error message with context ("segment
 * 00000000000000042000.log: fdatasync: Input/output error"), or "" if none.
 * Borrowed; valid until the next call on the log. */
const char *rl_log_errmsg(const struct rl_log *log);

/* Returns the log's batch_bytes_max: the largest batch rl_append() takes. */
uint32_t rl_log_batch_bytes_max(const struct rl_log *log);

/* Returns how many operations of this log are queued and not completed. */
unsigned rl_log_pending_ops(const struct rl_log *log);

/* A summary of the log's state. The indexes and offsets are logical: they
 * include appends whose callbacks have not run yet. */
struct rl_log_info {
	uint64_t first_index;    /* first retained Raft index (start index) */
	uint64_t last_index;     /* last Raft index; first_index - 1 if empty */
	uint64_t last_term;      /* term of last_index; 0 if the log is empty */
	uint64_t durable_index;  /* last index whose append completed */
	int64_t start_offset;    /* first retained offset (log start offset) */
	int64_t next_offset;     /* offset the next appended batch gets */
	int64_t durable_offset;  /* offset just past the last durable batch */
	uint64_t term;           /* current term (latest set, durable or not) */
	uint64_t vote;           /* vote in that term, 0 = none */
	uint64_t segments;       /* number of segment files */
	uint64_t bytes;          /* total bytes of all segments */
	bool failed;             /* a write or sync failed: reopen needed */
};

/* Fills *out with the log's current state. */
void rl_log_get_info(const struct rl_log *log, struct rl_log_info *out);

/* Snapshot metadata kept with the log. raftlog stores it and returns it
 * after a restart; it does not interpret it. */
struct rl_snapshot_meta {
	uint64_t index;               /* last Raft index in the snapshot; 0 = none */
	uint64_t term;                /* its term */
	uint64_t conf_index;          /* index of the configuration entry */
	int64_t log_start_offset;     /* offset just past the snapshot's entries */
	const uint8_t *conf;          /* encoded configuration */
	size_t conf_len;
};

/* Fills *out with the latest snapshot metadata (index 0 if none was ever
 * set). out->conf is borrowed from the log until the next rl_set_snapshot()
 * or rl_log_close(). */
void rl_log_get_snapshot(const struct rl_log *log, struct rl_snapshot_meta *out);

/* Called by rl_log_visit() once per retained entry, in index order. payload
 * (valid during the call only) is the configuration bytes of a CONFIG entry
 * and NULL otherwise. A non-zero return stops the visit and is returned. */
typedef int (*rl_visit_cb)(void *arg, const struct rl_entry_info *info, const uint8_t *payload,
			   size_t payload_len);

/* Lists every retained entry's (index, term, kind, offsets), reading only
 * CONFIG batches from disk, so a Raft driver can build RAFT_START without
 * loading data payloads. Returns 0, the callback's non-zero value, RL_EIO,
 * RL_ENOMEM or RL_ECORRUPT. */
int rl_log_visit(struct rl_log *log, rl_visit_cb cb, void *arg);

/* ---- Appending --------------------------------------------------------- */

/* How rl_append() treats the batch headers. */
enum rl_append_mode {
	/* Leader: raftlog writes baseOffset = next offset and
	 * partitionLeaderEpoch = term into each buffer (outside the CRC). */
	RL_APPEND_ASSIGN = 1,
	/* Follower: bytes are stored verbatim; baseOffset must equal the next
	 * offset (else RL_EOFFSET) and partitionLeaderEpoch the term. */
	RL_APPEND_VERIFY = 2
};

struct rl_append_req;
/* Runs with status 0 once the entries are durable, or RL_EIO. */
typedef void (*rl_append_cb)(struct rl_append_req *req, int status);

/* An append request. data is the caller's; the results are filled when
 * rl_append() returns 0; the rest is private. */
struct rl_append_req {
	void *data;
	uint64_t first_index; /* Raft index of the first entry */
	uint64_t last_index;  /* Raft index of the last entry */
	int64_t base_offset;  /* base offset of the first batch */
	int64_t last_offset;  /* last offset of the last batch */
	rl_append_cb cb;      /* private */
	void *op_;            /* private */
};

/* Appends n (>= 1) entries after the last index. Every batch is validated
 * (header, size <= batch_bytes_max, CRC-32C unless crc_checked, kind)
 * before anything changes;
 * terms must not decrease. entries is copied; each buf is borrowed until cb
 * (in ASSIGN mode it is modified in place), and rl_entry_read() serves the
 * entries from it until then. On return the indexes and offsets have
 * advanced and req's result fields are set. Returns 0, RL_EINVAL, RL_EBATCH,
 * RL_ETOOLARGE, RL_EOFFSET, RL_EAGAIN, RL_ENOMEM or RL_EIO (failed log). */
int rl_append(struct rl_log *log, struct rl_append_req *req, const struct rl_entry *entries,
	      unsigned n, enum rl_append_mode mode, rl_append_cb cb);

/* ---- Truncation, retention, reset -------------------------------------- */

struct rl_truncate_req;
/* Runs once the truncation is durable (status 0) or failed (RL_EIO). */
typedef void (*rl_truncate_cb)(struct rl_truncate_req *req, int status);
/* A truncate request: data is the caller's, the rest is private. */
struct rl_truncate_req {
	void *data;
	rl_truncate_cb cb; /* private */
	void *op_;         /* private */
};

/* Removes every entry with Raft index >= index (first_index <= index <=
 * last_index + 1). Queued in order with appends; the last index and next
 * offset rewind when the call returns, so the next append reuses the
 * offsets. Segments past the cut are deleted and the one holding it is
 * trimmed, durably, before cb. Returns 0, RL_EINVAL, RL_EAGAIN, RL_ENOMEM or
 * RL_EIO. */
int rl_truncate(struct rl_log *log, struct rl_truncate_req *req, uint64_t index,
		rl_truncate_cb cb);

/* Retention policy for rl_retain(). */
struct rl_retention {
	int64_t retention_bytes; /* keep at least this many bytes; < 0 = no limit */
	int64_t retention_ms;    /* delete segments older than this; < 0 = none */
	int64_t now_ms;          /* the caller's wall clock (policy takes time as input) */
	int64_t bound_offset;    /* never delete any offset >= this */
};

struct rl_retain_req;
/* Runs once the new log start is durable and the files are unlinked
 * (status 0), or on failure (RL_EIO). */
typedef void (*rl_retain_cb)(struct rl_retain_req *req, int status);
/* A retention request: data is the caller's, results are set when
 * rl_retain() returns 0, the rest is private. */
struct rl_retain_req {
	void *data;
	uint32_t segments_deleted; /* result, set when rl_retain() returns 0 */
	uint64_t bytes_deleted;    /* result, set when rl_retain() returns 0 */
	int64_t start_offset;      /* the new log start offset */
	rl_retain_cb cb;           /* private */
	void *op_;                 /* private */
};

/* Deletes whole segments from the front of the log: oldest first, while the
 * remaining bytes would stay >= retention_bytes or the segment's newest
 * timestamp is older than now_ms - retention_ms. Never the active (last)
 * segment, never a segment holding an offset >= bound_offset. The new log
 * start is durably recorded before any file is unlinked. Logical state
 * (first index, start offset) changes when the call returns; cb may report
 * 0 segments deleted. Returns 0, RL_EINVAL, RL_EAGAIN, RL_ENOMEM or
 * RL_EIO. */
int rl_retain(struct rl_log *log, struct rl_retain_req *req, const struct rl_retention *policy,
	      rl_retain_cb cb);

struct rl_reset_req;
/* Runs once the reset is durable (status 0) or failed (RL_EIO). */
typedef void (*rl_reset_cb)(struct rl_reset_req *req, int status);
/* A reset request: data is the caller's, the rest is private. */
struct rl_reset_req {
	void *data;
	rl_reset_cb cb; /* private */
	void *op_;      /* private */
};

/* Discards every entry and restarts the log empty at (next_index,
 * next_offset), e.g. after installing a snapshot. Crash-safe: a restart
 * sees either the old log or the empty new one. Returns 0, RL_EINVAL,
 * RL_EAGAIN, RL_ENOMEM or RL_EIO. */
int rl_reset(struct rl_log *log, struct rl_reset_req *req, uint64_t next_index,
	     int64_t next_offset, rl_reset_cb cb);

/* ---- Metadata ---------------------------------------------------------- */

struct rl_meta_req;
/* Runs once the metadata is durable (status 0) or failed (RL_EIO). */
typedef void (*rl_meta_cb)(struct rl_meta_req *req, int status);
/* A term/vote or snapshot request: data is the caller's, the rest is
 * private. */
struct rl_meta_req {
	void *data;
	rl_meta_cb cb; /* private */
	void *op_;     /* private */
};

/* Durably records the current term and vote (0 = none). The term must not
 * decrease. rl_log_get_info() reports the new values when the call returns;
 * cb runs once they are durable. Returns 0, RL_EINVAL, RL_EAGAIN, RL_ENOMEM
 * or RL_EIO. */
int rl_set_term_vote(struct rl_log *log, struct rl_meta_req *req, uint64_t term, uint64_t vote,
		     rl_meta_cb cb);

/* Durably records snapshot metadata (meta and meta->conf copied).
 * Returns 0, RL_EINVAL, RL_EAGAIN, RL_ENOMEM or RL_EIO. */
int rl_set_snapshot(struct rl_log *log, struct rl_meta_req *req,
		    const struct rl_snapshot_meta *meta, rl_meta_cb cb);

/* ---- Reads and lookups ------------------------------------------------- */

/* Fills *out for the entry at Raft index. Returns 0 or RL_ENOTFOUND. */
int rl_entry_get_info(const struct rl_log *log, uint64_t index, struct rl_entry_info *out);

/* Copies the bytes of the entry at Raft index into dst[0..dst_size) and
 * fills *info (may be NULL). Entries whose append has not completed are
 * copied from the caller's borrowed buffer; others are read from the
 * segment and their CRC is checked. Returns 0, RL_ENOTFOUND, RL_ETOOSMALL
 * (info->size says how much is needed), RL_EIO or RL_ECORRUPT. */
int rl_entry_read(struct rl_log *log, uint64_t index, void *dst, size_t dst_size,
		  struct rl_entry_info *info);

/* The bytes of the entry at Raft index while its append has not completed:
 * sets *buf (the appender's borrowed buffer, valid until the append's
 * callback runs: use it within the current loop callback only) and *len.
 * Returns 0, or RL_ENOTFOUND when the entry is not pending (then
 * rl_entry_read() reads it). Saves a copy when sending fresh entries. */
int rl_entry_peek(const struct rl_log *log, uint64_t index, const uint8_t **buf, size_t *len);

/* Finds the Raft index of the batch containing offset. Returns 0 or
 * RL_ENOTFOUND. */
int rl_offset_to_index(const struct rl_log *log, int64_t offset, uint64_t *index);

/* Finds the base offset of the first durable batch whose max timestamp is
 * >= timestamp_ms (Kafka ListOffsets). Returns 0 or RL_ENOTFOUND. */
int rl_offset_for_timestamp(const struct rl_log *log, int64_t timestamp_ms, int64_t *offset);

/* A range of whole batches in one segment file, for sendfile(). The
 * reference keeps the file open (even if retention or truncation removes
 * it) until rl_read_release(). fd is a real file descriptor only with the
 * default POSIX file-system table (raftlog/vfs.h); under another table it
 * is that table's descriptor, so use rl_read_copy() there. */
struct rl_read_ref {
	int fd;              /* segment file descriptor, borrowed */
	int64_t file_pos;    /* position of the first batch */
	size_t len;          /* bytes of whole batches; 0 = nothing to read */
	int64_t base_offset; /* base offset of the first batch */
	int64_t next_offset; /* offset just past the last batch returned */
	void *seg_;          /* private */
};

/* Finds whole durable batches from the batch containing fetch_offset,
 * within one segment, each with last offset < max_offset (exclusive, e.g.
 * the high watermark), adding batches while the total stays <= max_bytes
 * but always at least one. Fills *out; out->len is 0 when nothing is
 * readable yet. Returns 0 or RL_ERANGE (fetch_offset below the start offset
 * or beyond the next offset). A ref with len > 0 must be released. */
int rl_read_range(struct rl_log *log, int64_t fetch_offset, int64_t max_offset,
		  size_t max_bytes, struct rl_read_ref *out);

/* Releases a reference from rl_read_range(); ref->len becomes 0. Safe to
 * call twice and on a ref with len 0. */
void rl_read_release(struct rl_read_ref *ref);

/* Like rl_read_range() but copies, possibly across segments. On success
 * *out is sl_malloc'd (NULL when *out_len is 0) and ownership passes to the
 * caller; *next_offset is the offset to fetch next. Returns 0, RL_ERANGE,
 * RL_ENOMEM, RL_EIO or RL_ECORRUPT (a copied batch failed its CRC). */
int rl_read_copy(struct rl_log *log, int64_t fetch_offset, int64_t max_offset, size_t max_bytes,
		 uint8_t **out, size_t *out_len, int64_t *next_offset);

/* The file-system table under every log (replaceable, e.g. by a simulated
 * disk) is declared in raftlog/vfs.h, part of this module's interface. */
#include "raftlog/vfs.h"

/* The Raft group driver (one libraft group over one log) is declared in
 * raftlog/group.h, part of this module's public interface. */
#include "raftlog/group.h"

#endif /* RL_RAFTLOG_H */
