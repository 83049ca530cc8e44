/* Partition manager: the Raft groups one broker hosts (the controller's
 * group 0 and every data partition), each an rl_log driven by an rl_group,
 * all sharing one disk writer (group commit across partitions), one
 * transport (frames tagged with the group id) and one timer wheel.
 *
 * Contract
 * --------
 * - Opening a partition opens (creating if needed) its log directory under
 *   the data directory and recovers it. If the log is empty and voters are
 *   given, the group is bootstrapped with that voter list first (every
 *   initial voter bootstraps with the same list, so no election is needed to
 *   agree on the configuration); with no voters the replica waits for a
 *   leader to add it and send it data (a learner). The partition is usable
 *   (state SD_PART_RUNNING) once its group is open; until then frames for it
 *   are dropped (Raft resends) and submissions fail with RL_ENOTLEADER.
 * - Frames: the host's transport receive callback hands every frame to
 *   sd_pm_recv(); RAFT frames are decoded and fed to the group, catch-up
 *   frames to the group's catch-up receiver. Frames for unknown groups are
 *   dropped and counted (the controller log may not have created the
 *   partition here yet).
 * - Time: each group's deadline is kept in the shared wheel. A group is
 *   re-armed after every call that steps it, and at least every heartbeat
 *   interval, so a deadline moved by a storage completion is never missed by
 *   more than that.
 * - Retention: sd_part_retain() runs one rl_retain() pass bounded by the
 *   group's rl_group_retention_bound(); the policy (limits, clock, period)
 *   is the host's (server/retention.c).
 * - Closing a partition stops its group (pending submissions fail with
 *   RL_ESHUTDOWN), waits for its storage work (and a retention pass in
 *   flight), closes the log and, when asked, deletes its directory.
 *
 * Threads: loop thread only (the writer thread is internal to raftlog). */
#ifndef SD_PM_H
#define SD_PM_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "raftlog/raftlog.h"
#include "server/timer_wheel.h"
#include "server/transport.h"

struct sd_pm;
struct sd_part;

enum sd_part_state {
	SD_PART_STARTING = 1, /* bootstrap write in flight */
	SD_PART_RUNNING = 2,
	SD_PART_FAILED = 3,   /* storage failed; needs a restart */
	SD_PART_CLOSING = 4,
};

/* Notifications, all on the loop thread; any may be NULL. */
struct sd_pm_callbacks {
	void *data;
	void (*role_changed)(struct sd_part *p, int old_role, int new_role);
	void (*hwm_changed)(struct sd_part *p, int64_t hwm);
	void (*failed)(struct sd_part *p, int err, const char *msg);
	/* An application CONTROL frame that is not catch-up traffic (for
	 * example controller RPCs or leadership notices). */
	void (*control)(struct sd_pm *pm, uint64_t peer_id, uint64_t group_id, const uint8_t *buf,
			size_t len);
};

struct sd_pm_config {
	uint64_t self_id;
	const char *data_dir;             /* copied; created if missing */
	struct rl_group_config group;     /* template: server_id, group_id, seed set per group */
	uint64_t segment_bytes_max;
	uint32_t batch_bytes_max;
	uint32_t wheel_tick_ms;
	bool no_sync;                     /* log.flush.fsync.enable=false */
	/* Route catch-up range transfers (raftlog/group.h) over the transport
	 * (default on; SL_CATCHUP=0/1 overrides). Off: a follower past the
	 * Raft window installs a metadata-only snapshot and restarts its log
	 * there, without the older data. */
	bool catchup;
	uint32_t partitions_max;
	/* Bandwidth of catch-up chunks on the bulk lane, over all groups and
	 * peers (replica.catchup.bytes.per.sec); 0 means unlimited. A group
	 * over it gets RL_EAGAIN from its send and is told writable once the
	 * budget allows (a token bucket holding a quarter second's worth); the
	 * control lane (heartbeats, catch-up requests) is never held back. */
	uint64_t catchup_bytes_per_sec;
};

/* Fills cfg with defaults (group defaults from rl_group_config_default,
 * 1 GiB segments, 8 MiB batches, 2 ms ticks, 100000 partitions). */
void sd_pm_config_default(struct sd_pm_config *cfg);

/* Creates the manager: starts the disk writer thread and the wheel. t is
 * borrowed (the host creates and closes it); cbs is copied. Returns 0,
 * RL_EINVAL, RL_ENOMEM or RL_EIO. */
int sd_pm_create(uv_loop_t *loop, struct sl_transport *t, const struct sd_pm_config *cfg,
		 const struct sd_pm_callbacks *cbs, struct sd_pm **out);

/* Closes every partition, then the writer and the wheel; cb runs from the
 * loop once they are closed. Catch-up chunks still queued on the bulk lane
 * keep a little memory until the transport completes them (closing the
 * transport after this cb cancels them); pm must not be used after cb. */
void sd_pm_close(struct sd_pm *pm, void (*cb)(void *arg), void *arg);

/* Per-partition options. */
struct sd_part_opts {
	uint64_t group_id;
	const char *dir_name;       /* directory under the data dir; copied */
	const uint64_t *voters;     /* bootstrap voters (copied), or NULL */
	unsigned n_voters;
	unsigned election_timeout_ms; /* 0: the template's */
	unsigned snapshot_threshold;  /* 0: the template's */
	uint64_t segment_bytes_max;   /* 0: the manager's (segment.bytes) */
};

/* Opens a partition. Returns 0 (and *out, owned by the manager), RL_EINVAL
 * (group already open, bad options, too many partitions), RL_ENOMEM, or an
 * error from opening the log (with errmsg filled). */
int sd_pm_open_partition(struct sd_pm *pm, const struct sd_part_opts *opts, struct sd_part **out,
			 char *errmsg, size_t errmsg_size);

/* Closes a partition; with delete_data its directory is removed once the
 * log is closed. The pointer must not be used after this call. */
void sd_pm_close_partition(struct sd_part *p, bool delete_data);

/* The partition of group_id, or NULL. */
struct sd_part *sd_pm_get(struct sd_pm *pm, uint64_t group_id);

/* Calls fn for every partition (it must not open or close partitions). */
void sd_pm_foreach(struct sd_pm *pm, void (*fn)(struct sd_part *p, void *arg), void *arg);
unsigned sd_pm_count(const struct sd_pm *pm);

/* Hands one received transport frame to its group. */
void sd_pm_recv(struct sd_pm *pm, const struct sl_transport_frame *f);

/* Sends an application CONTROL frame (prefixed so the receiver's pm passes
 * it to callbacks.control). Returns a transport error or 0. */
int sd_pm_send_control(struct sd_pm *pm, uint64_t peer_id, uint64_t group_id, const void *buf,
		       size_t len);

/* Submits one producer batch to the partition's group (see
 * rl_group_submit; ownership of batch passes on success). Returns
 * RL_ENOTLEADER when the partition is not running. */
int sd_part_submit(struct sd_part *p, struct rl_submit_req *req, uint8_t *batch, size_t len,
		   enum rl_acks acks, rl_submit_cb cb);

/* Completion of sd_part_retain(): req's results (segments_deleted,
 * bytes_deleted, start_offset) and status 0, or RL_EIO (the log failed). */
typedef void (*sd_part_retain_cb)(struct sd_part *p, const struct rl_retain_req *req, int status);

/* Runs one retention pass on the partition's log: rl_retain() with the
 * policy's limits and clock, its bound_offset replaced by
 * rl_group_retention_bound() (never an entry a replica or catch-up may still
 * need). Each replica deletes its own segments; the log start offset moves
 * when this returns 0. At most one pass runs per partition. cb runs later
 * from the loop, never inside this call, and not at all if the partition is
 * closed first (the close then waits for the pass to finish). Returns 0,
 * RL_ENOTLEADER (not running), RL_EBUSY (a pass is in flight), or an error
 * of rl_retain() (RL_EAGAIN: writer queue full, RL_EIO, RL_ENOMEM). */
int sd_part_retain(struct sd_part *p, const struct rl_retention *policy, sd_part_retain_cb cb);

/* Re-arms the partition's timer after the host stepped its group directly
 * (transfer, membership changes). */
void sd_part_touch(struct sd_part *p);

enum sd_part_state sd_part_state(const struct sd_part *p);
uint64_t sd_part_group_id(const struct sd_part *p);
/* The group (NULL unless running) and the log (NULL while closing). */
struct rl_group *sd_part_group(struct sd_part *p);
struct rl_log *sd_part_log(struct sd_part *p);
struct sd_pm *sd_part_pm(struct sd_part *p);
void sd_part_set_data(struct sd_part *p, void *data);
void *sd_part_data(const struct sd_part *p);
void *sd_pm_data(const struct sd_pm *pm);

/* Counters. */
struct sd_pm_stats {
	uint64_t frames_unknown_group; /* dropped: no such partition here */
	uint64_t frames_bad;           /* dropped: undecodable */
	uint64_t ticks;                /* group timeouts fired */
	uint64_t wheel_wakeups;
	uint64_t catchup_throttled;    /* catch-up sends deferred by the bandwidth limit */
};
void sd_pm_stats(const struct sd_pm *pm, struct sd_pm_stats *out);

#endif /* SD_PM_H */
