/* raftlog group driver: one libraft 0.22.1 group over one rl_log.
 *
 * Contract
 * --------
 * struct rl_group drives a libraft core through raft_step() and is the only
 * writer of its rl_log. The host (broker or simulator) supplies time, a way
 * to send messages, and notifications; it calls rl_group_receive() for every
 * incoming message and rl_group_tick() when rl_group_deadline_ms() passes.
 *
 * - One write path: every Raft entry is one RecordBatch v2 in the rl_log. The
 *   leader's data entries are producers' batches, or several producers'
 *   batches merged into one (see "Coalescing"), offsets assigned by the
 *   log; barrier and configuration entries are control batches. On the wire
 *   an entry carries exactly the stored batch bytes, so followers store them
 *   verbatim (rl_append VERIFY mode) and replicas stay byte-identical.
 * - Durability before messages: when a step changes term or vote, the new
 *   values are written through the log's writer, and every message of that
 *   step and of later steps waits in an outbox until they are durable.
 * - Entries are persisted in order: a truncate (when the update starts at or
 *   below the last index) then an append. RAFT_PERSISTED_ENTRIES reports the
 *   highest contiguous durable index, never an index replaced since its
 *   write began.
 * - High watermark: the offset just past the last entry with Raft index <=
 *   commit index that is durable locally (the log start offset if there is
 *   none). Data is readable up to it. It is recomputed whenever the commit
 *   index or the log changes (appends made durable, and a catch-up's
 *   truncate, restart or window), so after a catch-up restarted the log it
 *   never points past the restarted log or at data it no longer holds.
 * - Submissions (leader only): acks=1 completes when the entry is durable on
 *   the leader, acks=all when it is committed. Losing leadership otherwise
 *   than by a transfer fails pending submissions with RL_ENOTLEADER (the
 *   entry may still commit: the client retries, as with Kafka without
 *   idempotence).
 * - Leadership transfer (rl_group_transfer) under load, in two phases.
 *   Drain: submissions queued for coalescing are stepped at once; those
 *   that arrive from the request on are held (not appended); those already
 *   appended commit and are acknowledged, and the
 *   target catches up. When the commit index, the leader's durable index
 *   and the target's match index all equal the last index, RAFT_TRANSFER
 *   is stepped and libraft sends TimeoutNow. (libraft 0.22.1 alone would
 *   also wait for the target's match index, but it refuses every
 *   submission meanwhile, and it knows nothing of commit or acks.)
 *   Campaign: the target starts an election at once; the leader steps down
 *   when it hears the new term.
 *   Guarantees, when the transfer moves leadership: every submission
 *   appended before the request has been acknowledged by the time the
 *   leader steps down (none is left pending to fail); only the submissions
 *   held during the transfer fail, with RL_ENOTLEADER, to be retried at
 *   the new leader, and as none of them was appended a retry cannot
 *   duplicate it. The drain lasts at most transfer_timeout_ms and the
 *   campaign about an election timeout (libraft gives up then, at its next
 *   leader tick): if either runs out the transfer is abandoned, leadership
 *   stays, and the held submissions are submitted again in order, so none
 *   fails because of the transfer. A leader that loses leadership otherwise during a
 *   transfer fails what it holds and what is pending with RL_ENOTLEADER.
 * - Coalescing (libraft caps the entries in flight per follower, so entries
 *   should be large): a submission made while the leader has entries that
 *   are not yet durable or not yet committed, or while others are queued,
 *   waits in a queue; rl_group_flush() turns the queue into entries. Runs
 *   of consecutive queued batches that kp_batch_merge_compatible() accepts
 *   (no producer id, not transactional, not control, same codec and
 *   timestamp type) become ONE merged RecordBatch = one entry
 *   (kp_batch_merge(): records re-encoded with new offset and timestamp
 *   deltas, lz4 recompressed, CRC recomputed) of at most
 *   min(coalesce_bytes_max, the log's batch_bytes_max) bytes; a batch
 *   of at least a quarter of that is large enough alone and is never
 *   re-encoded; any other batch is its own entry, unchanged. Submission order is offset order:
 *   queued batches are stepped in order, all in one RAFT_SUBMIT. Each
 *   request keeps its own completion, acks level and offsets (the merged
 *   entry's base offset plus the records before it); every request is
 *   completed exactly once on every path (step refused, leadership lost,
 *   storage error, close, leadership transfer). A submission on an idle
 *   leader (nothing in flight, nothing queued) is stepped at once, so low
 *   load sees no added latency; a queue that would grow past the cap is
 *   flushed inside rl_group_submit(). The host calls rl_group_flush() once
 *   per event-loop turn for every group with rl_group_flush_pending()
 *   (after the turn's I/O, before it waits again); as a safety net
 *   rl_group_deadline_ms() is "now" while anything is queued and
 *   rl_group_tick() flushes. coalesce_bytes_max 0 turns coalescing off.
 * - AppendEntries size: libraft picks up to max_inflight_entries entries
 *   per AppendEntries, which with large entries can exceed a transport
 *   frame. The driver fills the entries from the log and cuts one libraft
 *   AppendEntries into consecutive messages (same term and leader commit,
 *   each one's prev_log_index/prev_log_term the previous one's last entry)
 *   whose entries total at most append_bytes_max bytes, or that hold one
 *   larger entry alone. The follower takes each as an AppendEntries of its
 *   own and answers each (libraft advances the match index on every
 *   result and commits min(leader commit, last new entry), so a lost or
 *   reordered part is a mismatch Raft retries). The host keeps its frame
 *   limit above append_bytes_max and above the log's batch_bytes_max plus
 *   its own per-message and per-entry encoding overhead.
 * - Memory: messages handed to env->send() and their entry bytes are
 *   borrowed for the duration of the call only.
 *
 * Elections: the vote guard
 * -------------------------
 * Hosts give voters different election timeouts (leader-preference ranks:
 * the best-placed voter times out first) so that an election after a leader
 * failure lands in the best place. libraft 0.22.1 defeats that on its own:
 * a follower that still knows a current leader refuses every (pre-)vote
 * without the disrupt_leader flag until ITS OWN randomized election timer
 * fires and clears the leader. So the voter with the shortest timeout asks
 * first and is refused, and when every survivor is needed for a majority
 * the voter that times out last wins.
 *
 * The driver therefore applies the rule of the Raft thesis (section 4.2.3)
 * itself: a follower refuses a RequestVote (pre-vote or real) only "within
 * the minimum election timeout of hearing from a current leader". When a
 * follower that knows a leader receives a RequestVote and has not heard
 * from a leader of its current term (an AppendEntries or InstallSnapshot
 * whose term is at least its own) for min_election_timeout_ms, the shortest
 * timeout any voter may use, the message is stepped with disrupt_leader
 * set, which in libraft 0.22.1 only skips that "has a leader" refusal.
 *
 * Why this is safe. Election safety (at most one leader per term) and
 * leader completeness rest on the persisted term and vote (one vote per
 * term, durable before the reply leaves: see durability above), on
 * majorities, and on the log comparison in libraft's electionVote(); all of
 * them still apply to every vote, flag or not. The "has a leader" refusal
 * is a liveness device: it stops a removed or partitioned server, whose own
 * timer fired, from deposing a leader that is still in touch with the
 * group. That protection is kept: a healthy leader sends every follower an
 * AppendEntries at least every heartbeat_timeout_ms, which must be shorter
 * than min_election_timeout_ms, so a follower in touch with it refuses
 * (pre-)votes as before, and a candidate can win only with a majority that
 * has not heard from the leader for min_election_timeout_ms. A leader that
 * has lost such a majority is about to step down anyway (libraft's leader
 * steps down after an election timeout without a majority's replies). The
 * guard never applies to a leader or a candidate (libraft's own rules).
 *
 * Early election. A crashed leader's connections close at once, long
 * before any timer fires. The host may then tell the one voter that should
 * win (rl_group_leader_lost()) to campaign as soon as the guard has opened
 * at the other survivors, instead of after its randomized [t, 2t) timeout:
 * failover then takes about min_election_timeout_ms. It is an ordinary
 * election, pre-vote first, so it is exactly as safe, and if the leader is
 * in fact alive the followers that hear it refuse, as above. While it is
 * armed, the follower's own libraft timer is held back until the armed
 * time: re-ranked to a short timeout, that timer could otherwise fire first,
 * while the other survivors' guards are still closed, and its failed
 * pre-vote would cost a whole timeout. The armed time is bounded (last
 * leader contact + min_election_timeout_ms + delay), and once it passes an
 * early election that declines (the timer restarted meanwhile because this
 * replica granted a vote) or fails leaves the normal timer in charge, so an
 * election is never prevented, only aligned.
 *
 * Catch-up (streaming range transfer)
 * -----------------------------------
 * Snapshots are metadata: the log is the state. A replica whose log ends
 * before the leader's Raft window (libraft sends it InstallSnapshot for
 * index I, term T) gets the missing log range [its end .. I] as the stored
 * batch bytes, then libraft's install completes with a metadata write and
 * normal AppendEntries resume. It keeps the older data, so it ends with the
 * same log start offset and the same bytes as the leader.
 *
 * - Transport-agnostic. Catch-up messages (raftlog/catchup.c describes every
 *   byte) leave through env->send_catchup() and arrive through
 *   rl_group_receive_catchup(). Small requests and replies go on the
 *   control lane; data goes on the bulk lane in messages of at most
 *   RL_CATCHUP_MSG_BYTES_MAX bytes, header included. A bulk send may return
 *   RL_EAGAIN; the host then calls rl_group_catchup_writable() once the lane
 *   drains. Any message may be lost: the follower retries after
 *   catchup_timeout_ms. Catch-up messages carry no Raft term or vote, so
 *   they do not wait for term/vote writes.
 * - Pull, one window at a time. The follower asks its source (the sender of
 *   the InstallSnapshot) for the entries after its kept prefix, giving the
 *   prefix's last (index, term, next offset) and a window size. The source
 *   checks the prefix against its own log (Log Matching: same index and
 *   term means identical logs up to there), then streams whole batches of
 *   at most catchup_window_bytes (or one larger batch) as a byte stream
 *   cut into chunks, reading its log chunk by chunk (one chunk of memory
 *   per transfer). The follower reassembles the window (at most one window
 *   buffered), validates every batch (CRC, dense offsets, term in
 *   partitionLeaderEpoch), appends it verbatim (rl_append VERIFY) and asks
 *   for the next window when it is durable. A source serves a range only
 *   if it durably holds entry I with term T, which makes the range the
 *   committed prefix of the leader's log; any replica may be a source.
 * - Kept prefix. The follower proposes its whole log up to min(last, I).
 *   If the source's entry there differs, the follower binary-searches with
 *   prefix-only requests for the last entry it shares with the source, and
 *   truncates exactly after it: the entries removed differ from the
 *   leader's committed log, so none of them was committed. If the follower's
 *   log is empty, or its prefix lies below the source's log start, it
 *   restarts its log at the source's log start (rl_reset) and takes
 *   everything from there.
 * - Libraft sees the install late. libraft 0.22.1 refuses votes and never
 *   campaigns while it installs a snapshot, so a transfer that ran inside
 *   libraft's install would leave the group without a quorum if the leader
 *   died meanwhile. The InstallSnapshot is therefore kept aside while the
 *   data is appended-only (libraft's log stays a prefix of the stored log,
 *   so its votes remain truthful) and stepped into libraft only once the
 *   log holds I durably; the install is then one metadata write. Only when
 *   entries libraft knows must go (a divergent suffix, or a reset) is the
 *   InstallSnapshot stepped first, so that libraft forgets them before the
 *   log does; such an install fails over to any other replica of the
 *   configuration if its source stops answering, and if no replica holds
 *   entry I any more it completes metadata-only (log restarted at I + 1).
 * - Resumable. Appended windows are kept. An interrupted transfer (lost
 *   messages, leader change, restart of either side) resumes from the
 *   follower's log end; a newer InstallSnapshot retargets the transfer.
 *   After a restart in the middle of a reset transfer the stored log may
 *   start past the snapshot: libraft then starts without those entries
 *   (they are committed, held by a majority elsewhere) and the next
 *   InstallSnapshot resumes from them. If the source's retention deleted
 *   the range meanwhile, the follower restarts at the new log start.
 * - Normal replication wins. If libraft accepts entries while a deferred
 *   transfer runs, the transfer is abandoned (what it appended beyond is
 *   replaced through the usual truncate).
 * - Retention. rl_group_retention_bound() is the highest rl_retain()
 *   bound that keeps every entry libraft may still send. If a host deletes
 *   more, an AppendEntries that needs deleted entries is replaced by the
 *   latest snapshot (InstallSnapshot, same term), so no follower is
 *   stranded; followers then restart at the new log start.
 * - Limits. A window holds at most catchup_window_bytes, or one batch of
 *   at most RL_CATCHUP_BATCH_BYTES_MAX (the log's batch_bytes_max must not
 *   exceed it). If the search for the last shared entry reaches below the
 *   source's log start, the follower restarts its whole log at that start:
 *   entries it shared there but that the source deleted are then only kept
 *   by the replicas that still hold them.
 * - Without env->send_catchup, InstallSnapshot falls back to a metadata-only
 *   install: the follower's log restarts empty at I + 1.
 *
 * libraft 0.22.1: contracts kept and bugs worked around
 * ------------------------------------------------------
 * Found by reading the library and by tests/sim, also linked against an
 * assertions-on libraft (tests/sim/raft-debug.sh). Each is explained where
 * it is handled.
 * - Pre-vote refusals carry the request's term, not the voter's, which can
 *   leave a group leaderless: the driver puts its current term in refusals
 *   (never in a granted pre-vote, whose term libraft checks).
 * - An AppendEntries or InstallSnapshot of an older term is answered with
 *   an AppendEntriesResult whose last_log_index is never set (a leader of
 *   the current term may take it as a success up to a random index): the
 *   driver answers such messages itself (current term, rejected and
 *   last_log_index 0, which a leader of that term ignores).
 * - libraft must not start installing a snapshot while one it takes is
 *   being recorded (its install restores the trail at once, and the taken
 *   RAFT_SNAPSHOT then names an index it no longer has): InstallSnapshot
 *   waits (catch-up) or is dropped (the leader resends) meanwhile.
 * - An InstallSnapshot received while installing leaks: dropped.
 * - Entries at or below the snapshot are stripped from AppendEntries
 *   (libraft forgets their terms and would append them again).
 * - Leadership transfer does not wait for the target (see above).
 *
 * Threads: everything runs on the loop thread (or the simulator's thread). */
#ifndef RL_GROUP_H
#define RL_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <raft.h>

#include "raftlog/raftlog.h"

struct rl_group;

/* What the group needs from its host. Every callback runs on the loop
 * thread. hwm_changed and role_changed may already run inside
 * rl_group_open(), before it returns: they report the restored high
 * watermark and, for a group whose only voter is this replica, its
 * leadership; the group passed to them is the one *out will name. */
struct rl_group_env {
	void *data;
	/* Sends one message to msg->server_id. msg and the entry bytes it
	 * points to are borrowed for the call only; the host copies or encodes
	 * them. Delivery may fail silently (Raft retries). */
	void (*send)(struct rl_group *g, const struct raft_message *msg);
	/* Optional: the Raft role changed (RAFT_FOLLOWER/CANDIDATE/LEADER). */
	void (*role_changed)(struct rl_group *g, int old_role, int new_role);
	/* Optional: the high watermark advanced (or fell back: after a
	 * restart, or a catch-up that restarted the log at a lower start). */
	void (*hwm_changed)(struct rl_group *g, int64_t hwm);
	/* Optional: a fatal storage error failed the group (log failed). */
	void (*failed)(struct rl_group *g, int err, const char *msg);
	/* Optional (catch-up): sends one catch-up message to server `to`.
	 * bulk false: control lane (small requests and replies); bulk true:
	 * bulk lane (data, at most RL_CATCHUP_MSG_BYTES_MAX bytes). buf is
	 * borrowed for the call; the host copies it. Returns 0 once queued.
	 * A bulk send may return RL_EAGAIN (lane full): the message was not
	 * taken and the host calls rl_group_catchup_writable(g, to) when the
	 * lane drains. Any other negative value means dropped (e.g. not
	 * connected); catch-up retries. Never called inside
	 * rl_group_open(). Without it, snapshots install metadata-only. */
	int (*send_catchup)(struct rl_group *g, uint64_t to, bool bulk, const uint8_t *buf,
			    size_t len);
};

/* Largest catch-up message, header included (one bulk-lane chunk). */
#define RL_CATCHUP_MSG_BYTES_MAX (64u * 1024u)
/* Largest accepted catchup_window_bytes. */
#define RL_CATCHUP_WINDOW_BYTES_LIMIT (64u * 1024u * 1024u)
/* A window may exceed catchup_window_bytes only by holding one batch,
 * which may be this large at most. */
#define RL_CATCHUP_BATCH_BYTES_MAX (16u * 1024u * 1024u)
/* Most transfers one replica serves at a time (one per peer). */
#define RL_CATCHUP_SERVE_MAX 8u

/* Group settings. */
struct rl_group_config {
	uint64_t server_id;          /* this replica's Raft id (the broker id) */
	uint64_t group_id;           /* host's identifier, for logs only */
	/* This replica's election timeout (libraft draws each timeout from
	 * [t, 2t)); rl_group_set_election_timeout() changes it later. */
	unsigned election_timeout_ms;
	/* The shortest election timeout any voter of the group may use (the
	 * vote guard, see "Elections" above); 0: election_timeout_ms. Must
	 * exceed heartbeat_timeout_ms. */
	unsigned min_election_timeout_ms;
	unsigned heartbeat_timeout_ms;
	bool pre_vote;
	unsigned max_inflight_entries;
	/* Leadership transfer: the longest the leader holds new submissions
	 * waiting for the appended entries to commit and the target to catch
	 * up before it gives up (the election that follows is bounded by
	 * election_timeout_ms). */
	unsigned transfer_timeout_ms;
	/* Take a Raft snapshot (metadata only: the log is the state) every so
	 * many committed entries, keeping snapshot_trailing entries behind. */
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	uint32_t seed;               /* randomizes election timeouts */
	/* Catch-up: bytes per window (the follower buffers one window, or one
	 * larger batch), 1 .. RL_CATCHUP_WINDOW_BYTES_LIMIT; and how long a
	 * follower waits for progress before it asks again (or, installing,
	 * tries another source). A source drops a transfer stuck this long
	 * four times over. */
	uint32_t catchup_window_bytes;
	unsigned catchup_timeout_ms;
	/* Coalescing: the largest merged entry, 0 (no coalescing) ..
	 * RL_COALESCE_BYTES_LIMIT; the log's batch_bytes_max caps it too. */
	uint32_t coalesce_bytes_max;
	/* Most entry bytes in one outgoing AppendEntries, 1 ..
	 * RL_APPEND_BYTES_LIMIT (a single larger entry goes alone). */
	uint32_t append_bytes_max;
};

/* Largest accepted coalesce_bytes_max (a merged entry must stay a batch
 * that catch-up can carry) and append_bytes_max. */
#define RL_COALESCE_BYTES_LIMIT RL_CATCHUP_BATCH_BYTES_MAX
#define RL_APPEND_BYTES_LIMIT (256u * 1024u * 1024u)

/* Defaults: election 1000 ms (minimum: the same), heartbeat 100 ms, pre-vote on, 64 in-flight
 * entries, transfer timeout 2000 ms, snapshot every 4096 entries keeping
 * 1024, catch-up windows of 1 MiB with a 1000 ms timeout, merged entries of
 * up to 1 MiB, AppendEntries of up to 8 MiB of entries. */
void rl_group_config_default(struct rl_group_config *cfg);

/* Bootstraps an empty log: queues term 1 and entry 1, a configuration entry
 * listing the voters (addresses are the decimal ids), so that they share
 * one group commit. cb runs (from the writer's completions, never inside
 * this call) once both are durable, or with the first error. Every initial
 * voter must be bootstrapped with the same list. Returns 0, RL_EINVAL (the
 * log is not empty, or no voters), or an rl_err from the log, in which case
 * cb never runs. req is caller-owned and must stay valid until cb. */
struct rl_bootstrap_req {
	void *data;
	void (*cb)(struct rl_bootstrap_req *req, int status);
	struct rl_meta_req meta_;     /* private */
	struct rl_append_req append_; /* private */
	uint8_t *batch_;              /* private */
	int status_;                  /* private */
	int left_;                    /* private */
};
int rl_group_bootstrap(struct rl_log *log, struct rl_bootstrap_req *req, const uint64_t *voters,
		       unsigned n_voters, int64_t now_ms, void (*cb)(struct rl_bootstrap_req *, int));

/* Starts a group over an opened log (borrowed; must outlive the group),
 * feeding RAFT_START with the log's term, vote, snapshot and entries.
 * env is borrowed. Returns 0, RL_ENOMEM, RL_EINVAL (a setting out of its
 * range) or an error from the log. */
int rl_group_open(struct rl_log *log, const struct rl_group_config *cfg,
		  const struct rl_group_env *env, uint64_t now_ms, struct rl_group **out);

/* Stops the group: pending submissions fail with RL_ESHUTDOWN, no more
 * messages are sent. Storage operations still in flight keep the group's
 * memory alive; cb runs from a storage completion once everything is
 * released, after which the log may be closed. Only when the log has
 * already failed (it accepts no more work) does cb run inside this call.
 * The group must not be used after this call. */
void rl_group_close(struct rl_group *g, void (*cb)(struct rl_group *g, void *arg), void *arg);

/* Feeds one received message. The group takes ownership of the message's
 * AppendEntries entries array and batch (allocated with raft_malloc as
 * libraft requires; see server/rpc_codec.h) and of an InstallSnapshot's
 * data. The sender's id must be set in msg->server_id. */
void rl_group_receive(struct rl_group *g, struct raft_message *msg, uint64_t now_ms);

/* Feeds one received catch-up message (buf borrowed for the call) sent by
 * server `from`. Invalid or unexpected messages are dropped. */
void rl_group_receive_catchup(struct rl_group *g, uint64_t from, const uint8_t *buf, size_t len,
			      uint64_t now_ms);

/* The bulk lane to `peer` drained after env->send_catchup() returned
 * RL_EAGAIN: the transfer to that peer continues. */
void rl_group_catchup_writable(struct rl_group *g, uint64_t peer, uint64_t now_ms);

/* Catch-up counters of this replica since rl_group_open(). */
struct rl_catchup_stats {
	uint64_t transfers;       /* follower: transfers started */
	uint64_t requests_sent;   /* follower: requests sent (windows and probes) */
	uint64_t bytes_received;  /* follower: data bytes accepted */
	uint64_t bytes_appended;  /* follower: bytes of windows appended */
	uint64_t windows_appended;
	uint64_t resets;          /* follower: log restarted at a source's start */
	uint64_t truncations;     /* follower: divergent suffixes cut */
	uint64_t installs;        /* follower: snapshots completed with data */
	uint64_t fallbacks;       /* follower: snapshots completed metadata-only */
	uint64_t bytes_sent;      /* source: data bytes sent */
	uint64_t windows_served;  /* source: windows started */
};
void rl_group_catchup_stats(const struct rl_group *g, struct rl_catchup_stats *out);

/* Fires the Raft timeout if now_ms >= rl_group_deadline_ms(). Steps the
 * submissions queued for coalescing first. */
void rl_group_tick(struct rl_group *g, uint64_t now_ms);

/* Absolute time at which rl_group_tick() must next be called: the current
 * time while submissions are queued for coalescing. */
uint64_t rl_group_deadline_ms(const struct rl_group *g);

/* Changes this replica's election timeout at run time (leader-preference
 * ranks moved), between steps. An unchanged value changes nothing; a new
 * one redraws the current timer from [ms, 2 ms) counted from its start
 * (libraft's raft_set_election_timeout()), so rl_group_deadline_ms() may
 * move earlier: the host re-arms its timer. Returns 0, or RL_EINVAL when ms
 * is below the group's min_election_timeout_ms (the vote guard assumes no
 * voter times out sooner). */
int rl_group_set_election_timeout(struct rl_group *g, unsigned ms);
unsigned rl_group_election_timeout(const struct rl_group *g);

/* The host learned that this follower's current leader is gone (the
 * connection to its broker closed) and that this replica should stand for
 * election first (it is alone in the best live preference rank). Instead
 * of waiting for its own randomized timer, the follower then starts an
 * election (pre-vote first, as always) as soon as the vote guard opens at
 * the voters that lost the leader when it did: at its last leader contact
 * + min_election_timeout_ms + delay_ms (the margin covers followers that
 * heard the leader slightly later), or at once if that has passed. Hearing
 * from a leader of its term, or a role change, cancels it; calling again
 * while armed changes nothing. While armed, libraft's own election timer
 * does not fire before the armed time (rl_group_deadline_ms() is the armed
 * time); from then on it runs as usual. If the host was wrong and the leader is
 * alive, the other followers refuse the pre-vote (the vote guard) and
 * nothing changes. Returns 0, or RL_EINVAL when this replica is not a
 * follower that knows a leader. */
int rl_group_leader_lost(struct rl_group *g, unsigned delay_ms);

/* Steps every submission queued for coalescing (see "Coalescing" above):
 * merged where compatible, in order, in one RAFT_SUBMIT. Requests the core
 * refuses complete with the error (their callbacks run inside this call).
 * During a leadership transfer the queue joins the held submissions
 * instead. Cheap when nothing is queued. */
void rl_group_flush(struct rl_group *g, uint64_t now_ms);

/* Whether submissions wait for rl_group_flush(). */
bool rl_group_flush_pending(const struct rl_group *g);

/* Acknowledgement levels, as Kafka's acks. */
enum rl_acks { RL_ACKS_LEADER = 1, RL_ACKS_ALL = -1 };

struct rl_submit_req;
/* status: 0, RL_ENOTLEADER, RL_ESHUTDOWN, RL_EIO, or RL_ENOMEM / RL_EINVAL
 * when the core refused a queued submission. */
typedef void (*rl_submit_cb)(struct rl_submit_req *req, int status);

/* A submission. data is the caller's; the results are set before cb runs
 * with status 0 (index once the submission is stepped, which may be after
 * rl_group_submit() returned); the rest is private. */
struct rl_submit_req {
	void *data;
	uint64_t index;      /* Raft index of the entry (shared when merged) */
	int64_t base_offset; /* offset of the first record */
	int64_t last_offset; /* offset of the last record */
	enum rl_acks acks;
	rl_submit_cb cb;
	uint8_t *batch_;     /* private: owned until the entry is stored */
	size_t len_;
	int32_t records_;    /* private: records in the batch */
	int32_t before_;     /* private: records before it in its entry */
	struct rl_submit_req *next_;
};

/* Submits one producer batch (a validated RecordBatch v2; ownership of
 * batch, sl_malloc'd, passes to the group on success). Leader only. The
 * batch may be merged with others into one entry (see "Coalescing").
 * The caller vouches for its CRC-32C: it built the batch or
 * kp_batch_validate() accepted it (the group checks the framing only, and
 * no later step of this process checks the CRC again; a bad one would be
 * stored and cut off as a torn tail by recovery).
 * Returns 0, RL_ENOTLEADER, RL_ESHUTDOWN, RL_EBATCH (not one whole
 * data batch), RL_ETOOLARGE (above the log's batch_bytes_max),
 * RL_ENOMEM, RL_EINVAL or RL_EIO; cb never runs inside the call. */
int rl_group_submit(struct rl_group *g, struct rl_submit_req *req, uint8_t *batch, size_t len,
		    enum rl_acks acks, rl_submit_cb cb, uint64_t now_ms);

/* Coalescing counters of this replica since rl_group_open(). */
struct rl_submit_stats {
	uint64_t submits;        /* submissions accepted */
	uint64_t entries;        /* data entries stepped (merged or not) */
	uint64_t merged_entries; /* entries made by merging two or more batches */
	uint64_t merged_batches; /* batches that went into those entries */
	uint64_t append_splits;  /* AppendEntries cut into several messages */
};
void rl_group_submit_stats(const struct rl_group *g, struct rl_submit_stats *out);

/* Starts a leadership transfer to voter target_id (leader only; see
 * "Leadership transfer" above for what happens to submissions). Returns 0,
 * RL_ENOTLEADER, RL_EINVAL (not a voter, or self), RL_EBUSY (one is
 * already in progress) or RL_ESHUTDOWN. The outcome shows as a role change
 * (success) or as rl_group_status.transferring turning false while still
 * leader (abandoned). Membership changes return RL_EBUSY meanwhile. */
int rl_group_transfer(struct rl_group *g, uint64_t target_id, uint64_t now_ms);

/* Membership changes, leader only, one at a time (RL_EBUSY otherwise):
 * promotion returns RL_EAGAIN until the learner has every entry;
 * add a replica as a non-voter (standby) and catch it up, promote it to
 * voter once caught up, or remove a replica. */
int rl_group_add_learner(struct rl_group *g, uint64_t id, uint64_t now_ms);
int rl_group_promote(struct rl_group *g, uint64_t id, uint64_t now_ms);
int rl_group_remove(struct rl_group *g, uint64_t id, uint64_t now_ms);

/* Observed state. */
struct rl_group_status {
	int role;               /* RAFT_FOLLOWER, RAFT_CANDIDATE, RAFT_LEADER */
	uint64_t term;
	uint64_t leader_id;     /* 0 if unknown */
	uint64_t commit_index;
	uint64_t last_index;
	uint64_t durable_index;
	int64_t hwm;            /* high watermark (offset) */
	int64_t start_offset;   /* log start offset */
	int64_t next_offset;    /* log end offset */
	uint64_t last_leader_contact_ms; /* followers: last AppendEntries or
					  * InstallSnapshot of the current term
					  * or later (from the leader), 0 if never */
	bool transferring;
	bool catching_up;       /* a catch-up transfer towards a snapshot runs */
	bool failed;
};
void rl_group_get_status(const struct rl_group *g, struct rl_group_status *out);

/* Per-replica progress as seen by the leader. */
struct rl_group_progress {
	uint64_t id;
	int role;                /* RAFT_VOTER, RAFT_STANDBY, RAFT_SPARE */
	uint64_t match_index;
	uint64_t last_contact_ms;
};
/* Fills up to max entries; returns how many servers are in the current
 * configuration. Match indexes are meaningful on the leader only. */
unsigned rl_group_progress(const struct rl_group *g, struct rl_group_progress *out, unsigned max);

/* The highest bound_offset to give rl_retain() on this replica's log: the
 * offset just past the latest snapshot, lowered to the first entry libraft
 * may still send in AppendEntries (its trailing entries). Replicas that
 * need older data catch up from the new log start. Returns the log start
 * offset when nothing may be deleted. */
int64_t rl_group_retention_bound(struct rl_group *g);

/* The log (borrowed). */
struct rl_log *rl_group_log(struct rl_group *g);
/* The host's pointer, for callbacks. */
void rl_group_set_data(struct rl_group *g, void *data);
void *rl_group_data(const struct rl_group *g);
uint64_t rl_group_id(const struct rl_group *g);

#endif /* RL_GROUP_H */
