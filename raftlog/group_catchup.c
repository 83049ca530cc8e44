/* The follower side of catch-up: turns an InstallSnapshot into a streaming
 * range transfer of log data, then completes libraft's install.
 *
 * Happy path: an InstallSnapshot (index I, term T) from the leader is kept
 * aside instead of being stepped. The follower asks the leader for the
 * entries after its log end, window by window; each window is reassembled
 * from bulk chunks, validated batch by batch and appended verbatim. Once
 * entry I is durable, the kept InstallSnapshot is stepped: libraft restores
 * the snapshot and the install is one metadata write (group_io.c), after
 * which AppendEntries resume at I + 1. See group.h, "Catch-up", for why
 * libraft learns of the install only at the end.
 *
 * Kept prefix: the follower's log up to min(last, I) is proposed; if the
 * source's entry there differs, prefix-only requests binary-search the
 * last shared entry and the log is cut right after it. An empty log, or a
 * prefix below the source's log start, restarts the log at the source's
 * start. Cutting or restarting entries that libraft knows about first
 * steps the InstallSnapshot (libraft forgets its log and installs), so the
 * two never disagree about what is stored.
 *
 * Failure modes: every request is retried after catchup_timeout_ms without
 * an answer; while libraft installs, repeated silence moves to another
 * replica of the configuration. A window that fails validation is dropped
 * and asked for again later. If no replica holds entry I any more while
 * libraft installs, the install completes metadata-only (log restarted
 * empty at I + 1). Storage errors fail the group. */
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "raftlog/group_int.h"

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Session ids differ across transfers and restarts, so late messages of an
 * older request are recognised and dropped. */
static uint64_t new_session(struct rl_group *g)
{
	g->cu_counter++;
	uint64_t s = mix64(g->cfg.server_id * 0x9e3779b97f4a7c15ull ^ (g->now_ms << 20) ^
			   g->cu_counter ^ ((uint64_t)g->cfg.seed << 40));
	return s == 0 ? 1 : s;
}

static void free_kept(struct rl_group *g)
{
	if (g->rx.have_msg) {
		raft_configuration_close(&g->rx.msg.install_snapshot.conf);
		raft_free(g->rx.msg.install_snapshot.data.base);
		g->rx.have_msg = false;
	}
}

static void drop_window(struct rl_group *g)
{
	sl_free(g->rx.buf);
	g->rx.buf = NULL;
	g->rx.got = 0;
	g->rx.total = 0;
}

/* Ends the transfer. keep_meta: the install metadata was handed on. */
static void rx_end(struct rl_group *g, bool keep_meta)
{
	struct rl__rx *rx = &g->rx;
	free_kept(g);
	drop_window(g);
	if (rx->installing && !keep_meta) {
		raft_configuration_close(&rx->meta.configuration);
	}
	rx->installing = false;
	rx->active = false;
	rx->searching = false;
	rx->phase = RL__RX_IDLE;
	rx->session = 0;
	rx->tid = 0;
}

void rl__rx_abort(struct rl_group *g, const char *why)
{
	if (!g->rx.active) {
		return;
	}
	SL_LOG(SL_LOG_INFO, "group=%llu event=catchup_abandoned index=%llu reason=\"%s\"",
	       (unsigned long long)g->cfg.group_id, (unsigned long long)g->rx.index, why);
	rx_end(g, false);
}

static void retry_later(struct rl_group *g)
{
	g->rx.phase = RL__RX_IDLE;
	g->rx.deadline_ms = g->now_ms + g->cfg.catchup_timeout_ms;
}

static void send_request(struct rl_group *g, int kind, uint64_t prev_index, uint64_t prev_term,
			 int64_t next_offset, uint32_t window)
{
	struct rl__rx *rx = &g->rx;
	uint8_t buf[RL__CU_REQUEST_BYTES];
	rx->seq++;
	rx->kind = kind;
	rx->prev_index = prev_index;
	rx->next_offset = next_offset;
	rx->window_bytes = window;
	struct rl__cu_msg m = {
	    .type = RL__CU_REQUEST,
	    .session = rx->session,
	    .seq = rx->seq,
	    .target_index = rx->index,
	    .target_term = rx->term,
	    .prev_index = prev_index,
	    .prev_term = prev_term,
	    .next_offset = next_offset,
	    .window_bytes = window,
	};
	size_t len = rl__cu_encode(&m, buf, sizeof(buf));
	SL_ASSERT(len == sizeof(buf));
	SL_LOG(SL_LOG_DEBUG,
	       "group=%llu source=%llu event=catchup_request kind=%d prev=%llu window=%u "
	       "target=%llu",
	       (unsigned long long)g->cfg.group_id, (unsigned long long)rx->source, kind,
	       (unsigned long long)prev_index, window, (unsigned long long)rx->index);
	rx->phase = RL__RX_WAIT;
	rx->deadline_ms = g->now_ms + g->cfg.catchup_timeout_ms;
	g->cu_stats.requests_sent++;
	(void)g->env->send_catchup(g, rx->source, false, buf, len);
}

/* Moves to the next replica of the snapshot's configuration. */
static void next_source(struct rl_group *g)
{
	struct rl__rx *rx = &g->rx;
	const struct raft_configuration *c = &rx->meta.configuration;
	for (unsigned i = 0; i < c->n; i++) {
		rx->source_k = (rx->source_k + 1) % c->n;
		uint64_t id = c->servers[rx->source_k].id;
		if (id != g->cfg.server_id) {
			rx->source = id;
			break;
		}
	}
	rx->session = new_session(g);
	SL_LOG(SL_LOG_INFO, "group=%llu event=catchup_source source=%llu index=%llu",
	       (unsigned long long)g->cfg.group_id, (unsigned long long)rx->source,
	       (unsigned long long)rx->index);
}

/* Whether the log holds the snapshot's entries up to (index, term), or is
 * empty right after it (restarted there from a source's log start). Sets
 * *next_offset to the offset just past index. */
static bool reaches(struct rl_group *g, uint64_t index, uint64_t term, int64_t *next_offset)
{
	struct rl_log_info li;
	struct rl_entry_info info;
	rl_log_get_info(g->log, &li);
	if (li.last_index < li.first_index) {
		*next_offset = li.next_offset;
		return li.first_index == index + 1;
	}
	if (rl_entry_get_info(g->log, index, &info) != 0 || info.term != term) {
		return false;
	}
	*next_offset = info.last_offset + 1;
	return true;
}

/* Hands meta to libraft's install as a metadata write; the log reaches the
 * snapshot durably. */
static void finish_install(struct rl_group *g, struct raft_snapshot_metadata *meta)
{
	struct rl_log_info li;
	int64_t next_offset = -1;
	rl_log_get_info(g->log, &li);
	SL_ASSERT(reaches(g, meta->index, meta->term, &next_offset));
	int rv = 0;
	if (li.last_index > meta->index) {
		rv = rl__group_truncate(g, meta->index + 1);
	}
	g->n_configs = 0;
	g->config_fed = meta->index;
	uint64_t index = meta->index;
	if (rv == 0) {
		rv = rl__group_write_snapshot(g, meta, next_offset, 0, true);
	} else {
		raft_configuration_close(&meta->configuration);
	}
	g->cu_stats.installs++;
	SL_LOG(SL_LOG_INFO, "group=%llu event=catchup_installed index=%llu start=%lld",
	       (unsigned long long)g->cfg.group_id, (unsigned long long)index,
	       (long long)li.start_offset);
	rx_end(g, true);
	if (rv != 0) {
		rl__group_fail(g, rv, "catch-up: install snapshot");
	}
}

/* Steps the kept InstallSnapshot into libraft. */
static void step_kept(struct rl_group *g)
{
	struct raft_message m = g->rx.msg;
	g->rx.have_msg = false;
	rl__group_receive_msg(g, &m);
}

/* libraft must not start installing while a snapshot it took is being
 * recorded (group_io.c): the kept InstallSnapshot waits for that write,
 * and rl__rx_snapshot_taken() continues. */
static bool must_wait_taken(struct rl_group *g)
{
	if (g->snapshots_taking == 0) {
		return false;
	}
	g->rx.phase = RL__RX_IDLE;
	g->rx.deadline_ms = g->now_ms + g->cfg.catchup_timeout_ms;
	return true;
}

/* Entries from `from` on are about to be removed. If libraft knows some of
 * them, it must forget them first: the kept InstallSnapshot is stepped and
 * libraft installs. Returns false if that could not happen yet (waiting
 * for a snapshot being taken) or at all (the transfer is then
 * abandoned). */
static bool may_remove_from(struct rl_group *g, uint64_t from)
{
	if (g->rx.installing || from > raft_last_index(&g->raft)) {
		return true;
	}
	if (must_wait_taken(g)) {
		return false;
	}
	if (!g->rx.have_msg) {
		rl__rx_abort(g, "no snapshot to install");
		return false;
	}
	step_kept(g);
	if (!g->rx.active || !g->rx.installing) {
		rl__rx_abort(g, "libraft refused the install");
		return false;
	}
	return true;
}

static void start_op(struct rl_group *g, int rv, const char *what)
{
	if (rv == RL_EAGAIN || rv == RL_ENOMEM) {
		retry_later(g);
		return;
	}
	if (rv != 0) {
		rl__group_fail(g, rv, what);
		return;
	}
	g->rx.phase = RL__RX_OP;
}

/* Restarts the log empty at the source's start. */
static void do_reset(struct rl_group *g, uint64_t first_index, int64_t start_offset)
{
	struct rl_log_info li;
	rl_log_get_info(g->log, &li);
	g->rx.searching = false;
	if (li.last_index < li.first_index && li.first_index == first_index &&
	    li.next_offset == start_offset) {
		retry_later(g); /* already there: the source's state must move */
		return;
	}
	if (!may_remove_from(g, li.first_index)) {
		return; /* asks the source again later (or abandoned) */
	}
	g->cu_stats.resets++;
	SL_LOG(SL_LOG_INFO, "group=%llu event=catchup_reset index=%llu offset=%lld",
	       (unsigned long long)g->cfg.group_id, (unsigned long long)first_index,
	       (long long)start_offset);
	start_op(g, rl__group_cu_reset(g, first_index, start_offset, g->rx.tid), "catch-up: reset");
}

/* Cuts the log after lo, the last entry shared with the source. */
static void cut_after(struct rl_group *g, uint64_t lo)
{
	if (!may_remove_from(g, lo + 1)) {
		return; /* the search result stays (or the transfer ended) */
	}
	g->rx.searching = false;
	g->cu_stats.truncations++;
	SL_LOG(SL_LOG_INFO, "group=%llu event=catchup_truncate from=%llu",
	       (unsigned long long)g->cfg.group_id, (unsigned long long)lo + 1);
	start_op(g, rl__group_cu_truncate(g, lo + 1, g->rx.tid), "catch-up: truncate");
}

/* No replica holds the data up to the snapshot while libraft installs:
 * the log restarts empty after it (a metadata-only install). */
static void fallback(struct rl_group *g)
{
	struct rl__rx *rx = &g->rx;
	if (rx->end_offset < 0) {
		retry_later(g);
		return;
	}
	g->cu_stats.fallbacks++;
	SL_LOG(SL_LOG_WARN, "group=%llu event=catchup_fallback index=%llu",
	       (unsigned long long)g->cfg.group_id, (unsigned long long)rx->index);
	do_reset(g, rx->index + 1, rx->end_offset);
}

/* Starts the search for the last entry shared with the source; hi is
 * known to differ. Entries up to the commit index are shared. */
static void start_search(struct rl_group *g, const struct rl_log_info *li, uint64_t hi)
{
	uint64_t lo = SL_MAX(raft_commit_index(&g->raft), li->first_index - 1);
	g->rx.searching = true;
	g->rx.lo = SL_MIN(lo, hi - 1);
	g->rx.hi = hi;
}

static void try_complete(struct rl_group *g, const struct rl_log_info *li)
{
	struct rl__rx *rx = &g->rx;
	if (li->durable_index < SL_MIN(rx->index, li->last_index)) {
		retry_later(g); /* appends still in flight */
		return;
	}
	if (rx->installing) {
		finish_install(g, &rx->meta);
		return;
	}
	if (must_wait_taken(g)) {
		return;
	}
	step_kept(g); /* libraft installs; group_io.c calls rl__rx_on_install */
	if (g->rx.active && !g->rx.installing) {
		rl__rx_abort(g, "libraft refused the install");
	}
}

/* Decides the next step from the log's state. */
static void kick(struct rl_group *g)
{
	struct rl__rx *rx = &g->rx;
	if (!rx->active || rx->phase != RL__RX_IDLE || g->failed || g->closing) {
		return;
	}
	struct rl_log_info li;
	struct rl_entry_info info;
	int64_t next_offset;
	rl_log_get_info(g->log, &li);
	bool empty = li.last_index < li.first_index;
	if (reaches(g, rx->index, rx->term, &next_offset)) {
		try_complete(g, &li);
		return;
	}
	if (!empty && li.last_index >= rx->index &&
	    rl_entry_get_info(g->log, rx->index, &info) == 0 && !rx->searching) {
		start_search(g, &li, rx->index); /* entry I differs */
	}
	if (rx->searching) {
		if (rx->hi - rx->lo <= 1) {
			cut_after(g, rx->lo);
			return;
		}
		uint64_t mid = rx->lo + (rx->hi - rx->lo) / 2;
		if (rl_entry_get_info(g->log, mid, &info) != 0) {
			rx->searching = false; /* the log moved: start over */
			retry_later(g);
			return;
		}
		send_request(g, RL__RX_PREFIX, mid, info.term, info.last_offset + 1, 0);
	} else if (li.first_index > rx->index) {
		send_request(g, RL__RX_WHERE, 0, 0, 0, 0);
	} else if (empty) {
		send_request(g, RL__RX_EMPTY, li.first_index - 1, 0, li.next_offset,
			     g->cfg.catchup_window_bytes);
	} else if (rl_entry_get_info(g->log, li.last_index, &info) == 0) {
		send_request(g, RL__RX_PREFIX, li.last_index, info.term, info.last_offset + 1,
			     g->cfg.catchup_window_bytes);
	}
}

static void on_reply(struct rl_group *g, const struct rl__cu_msg *m)
{
	struct rl__rx *rx = &g->rx;
	struct rl_log_info li;
	rl_log_get_info(g->log, &li);
	rx->timeouts = 0;
	rx->phase = RL__RX_IDLE;
	SL_LOG(SL_LOG_DEBUG,
	       "group=%llu source=%llu event=catchup_reply status=%u kind=%d prev=%llu first=%llu",
	       (unsigned long long)g->cfg.group_id, (unsigned long long)rx->source, m->status,
	       rx->kind, (unsigned long long)rx->prev_index,
	       (unsigned long long)m->log_first_index);
	switch (m->status) {
	case RL__CU_MATCH:
		if (rx->kind == RL__RX_WHERE) {
			do_reset(g, m->log_first_index, m->log_start_offset);
			return;
		}
		if (rx->searching) {
			rx->lo = rx->prev_index;
		}
		kick(g);
		return;
	case RL__CU_MISMATCH:
		if (rx->kind == RL__RX_PREFIX) {
			if (rx->searching) {
				rx->hi = rx->prev_index;
			} else {
				start_search(g, &li, rx->prev_index);
			}
			kick(g);
			return;
		}
		do_reset(g, m->log_first_index, m->log_start_offset);
		return;
	case RL__CU_GONE:
		do_reset(g, m->log_first_index, m->log_start_offset);
		return;
	case RL__CU_TOO_OLD:
		if (m->log_first_index == rx->index + 1) {
			/* The source keeps nothing up to the snapshot: start
			 * where it starts, right after it. */
			do_reset(g, m->log_first_index, m->log_start_offset);
		} else if (rx->installing) {
			fallback(g);
		} else {
			retry_later(g); /* a newer InstallSnapshot will retarget */
		}
		return;
	default: /* STALE, BUSY */
		if (rx->installing && m->status == RL__CU_STALE) {
			next_source(g);
		}
		retry_later(g);
		return;
	}
}

/* Splits a complete window into entries, checking every batch. Returns the
 * number of entries or 0 if the window is invalid. */
static unsigned parse_window(struct rl_group *g, struct rl_entry *entries, unsigned n)
{
	struct rl__rx *rx = &g->rx;
	size_t pos = 0;
	int64_t offset = rx->base_offset;
	for (unsigned i = 0; i < n; i++) {
		struct kp_batch_header h;
		enum rl_kind kind;
		if (pos >= rx->total ||
		    kp_batch_validate(rx->buf + pos, rx->total - pos, 0, &h) != 0) {
			return 0;
		}
		size_t size = kp_batch_size(&h);
		uint64_t term = (uint64_t)(int64_t)h.partition_leader_epoch;
		if (h.base_offset != offset || h.partition_leader_epoch < 1 || term > rx->term ||
		    (i > 0 && term < entries[i - 1].term) ||
		    rl_batch_kind(rx->buf + pos, size, &kind, NULL, NULL) != 0) {
			return 0;
		}
		entries[i].term = term;
		entries[i].kind = kind;
		entries[i].buf = rx->buf + pos;
		entries[i].len = size;
		entries[i].crc_checked = true; /* kp_batch_validate() above */
		offset = h.base_offset + h.last_offset_delta + 1;
		pos += size;
	}
	if (pos != rx->total || (rx->last_index == rx->index && entries[n - 1].term != rx->term)) {
		return 0;
	}
	return n;
}

static void bad_window(struct rl_group *g, const char *why)
{
	SL_LOG(SL_LOG_WARN, "group=%llu source=%llu event=catchup_window_dropped reason=\"%s\"",
	       (unsigned long long)g->cfg.group_id, (unsigned long long)g->rx.source, why);
	drop_window(g);
	if (g->rx.installing) {
		next_source(g);
	}
	retry_later(g);
}

static void append_window(struct rl_group *g)
{
	struct rl__rx *rx = &g->rx;
	struct rl_log_info li;
	rl_log_get_info(g->log, &li);
	if (li.last_index + 1 != rx->first_index || li.next_offset != rx->base_offset) {
		drop_window(g); /* the log moved meanwhile */
		rx->phase = RL__RX_IDLE;
		kick(g);
		return;
	}
	uint64_t n64 = rx->last_index - rx->first_index + 1;
	if (n64 > rx->total / KP_BATCH_HEADER_SIZE) {
		bad_window(g, "more entries than bytes allow");
		return;
	}
	unsigned n = (unsigned)n64;
	struct rl_entry *entries = sl_calloc(n, sizeof(*entries));
	if (entries == NULL) {
		drop_window(g);
		retry_later(g);
		return;
	}
	if (parse_window(g, entries, n) != n ||
	    (li.last_term > entries[0].term && li.last_index >= li.first_index)) {
		sl_free(entries);
		bad_window(g, "invalid batch");
		return;
	}
	int rv = rl__group_cu_append(g, entries, n, rx->buf, rx->tid);
	sl_free(entries);
	if (rv == 0) {
		g->cu_stats.windows_appended++;
		g->cu_stats.bytes_appended += rx->total;
		rx->buf = NULL; /* the append owns it */
		rx->got = rx->total = 0;
		rx->phase = RL__RX_OP;
		return;
	}
	if (rv == RL_EIO) {
		drop_window(g);
		rl__group_fail(g, rv, "catch-up: append");
		return;
	}
	bad_window(g, rl_err_name(rv));
}

/* Accepts the first chunk of a window if it continues the request. */
static bool start_window(struct rl_group *g, const struct rl__cu_msg *m)
{
	struct rl__rx *rx = &g->rx;
	bool fits =
	    m->total_bytes <= rx->window_bytes ||
	    (m->first_index == m->last_index && m->total_bytes <= RL_CATCHUP_BATCH_BYTES_MAX);
	if (m->pos != 0 || m->first_index != rx->prev_index + 1 ||
	    m->base_offset != rx->next_offset || m->last_index > rx->index || !fits) {
		return false;
	}
	rx->buf = sl_malloc(m->total_bytes);
	if (rx->buf == NULL) {
		return false;
	}
	rx->total = m->total_bytes;
	rx->got = 0;
	rx->first_index = m->first_index;
	rx->last_index = m->last_index;
	rx->base_offset = m->base_offset;
	return true;
}

static void on_data(struct rl_group *g, const struct rl__cu_msg *m)
{
	struct rl__rx *rx = &g->rx;
	if (rx->window_bytes == 0) {
		return;
	}
	bool ok;
	if (rx->buf == NULL) {
		ok = start_window(g, m);
	} else {
		ok = m->pos == rx->got && m->total_bytes == rx->total &&
		     m->first_index == rx->first_index && m->last_index == rx->last_index &&
		     m->base_offset == rx->base_offset;
	}
	if (!ok) {
		drop_window(g); /* a chunk was lost or is invalid: ask again */
		rx->phase = RL__RX_IDLE;
		kick(g);
		return;
	}
	memcpy(rx->buf + rx->got, m->payload, m->payload_len);
	rx->got += (uint32_t)m->payload_len;
	rx->timeouts = 0;
	rx->deadline_ms = g->now_ms + g->cfg.catchup_timeout_ms;
	g->cu_stats.bytes_received += m->payload_len;
	if (rx->got == rx->total) {
		append_window(g);
	}
}

void rl__rx_receive(struct rl_group *g, uint64_t from, const struct rl__cu_msg *m)
{
	struct rl__rx *rx = &g->rx;
	if (!rx->active || rx->phase != RL__RX_WAIT || from != rx->source ||
	    m->session != rx->session || m->seq != rx->seq) {
		return;
	}
	if (m->type == RL__CU_REPLY) {
		drop_window(g);
		on_reply(g, m);
	} else if (m->type == RL__CU_DATA) {
		on_data(g, m);
	}
}

void rl__rx_op_done(struct rl_group *g, uint64_t tid, int status)
{
	struct rl__rx *rx = &g->rx;
	if (status != 0 || !rx->active || tid != rx->tid || rx->phase != RL__RX_OP) {
		return;
	}
	rx->phase = RL__RX_IDLE;
	rx->timeouts = 0;
	kick(g);
}

static void start_transfer(struct rl_group *g, uint64_t leader)
{
	struct rl__rx *rx = &g->rx;
	rx->active = true;
	rx->installing = false;
	rx->searching = false;
	rx->leader = leader;
	rx->source = leader;
	rx->source_k = 0;
	rx->session = new_session(g);
	rx->tid = rx->session;
	rx->phase = RL__RX_IDLE;
	rx->timeouts = 0;
	rx->end_offset = -1;
	g->cu_stats.transfers++;
}

/* Keeps msg (ownership taken) as the install to step at the end. */
static void keep(struct rl_group *g, struct raft_message *msg)
{
	struct rl__rx *rx = &g->rx;
	const struct raft_install_snapshot *is = &msg->install_snapshot;
	free_kept(g);
	rx->msg = *msg;
	rx->msg.server_address = NULL;
	rx->have_msg = true;
	rx->index = is->last_index;
	rx->term = is->last_term;
	rx->end_offset = -1;
	if (is->data.len == 8) {
		rx->end_offset = (int64_t)kp_get_u64(is->data.base);
	}
}

static void drop_msg(struct raft_message *msg)
{
	raft_configuration_close(&msg->install_snapshot.conf);
	raft_free(msg->install_snapshot.data.base);
	msg->install_snapshot.data.base = NULL;
}

bool rl__rx_intercept(struct rl_group *g, struct raft_message *msg)
{
	struct rl__rx *rx = &g->rx;
	const struct raft_install_snapshot *is = &msg->install_snapshot;
	struct rl_entry_info info;
	if (g->env->send_catchup == NULL || g->raft.snapshot.installing ||
	    is->term < raft_current_term(&g->raft) || is->last_index <= g->snapshot_index ||
	    (is->last_index <= raft_last_index(&g->raft) &&
	     rl_entry_get_info(g->log, is->last_index, &info) == 0 && info.term == is->last_term)) {
		return false; /* libraft answers it without installing */
	}
	if (rx->active) {
		const struct raft_install_snapshot *kept = &rx->msg.install_snapshot;
		bool newer =
		    rx->have_msg && (is->term > kept->term ||
				     (is->term == kept->term && is->last_index > rx->index));
		if (rx->installing || !newer) {
			drop_msg(msg); /* a resend of what is being fetched */
			return true;
		}
		keep(g, msg);
		if (msg->server_id != rx->leader) {
			rx->leader = rx->source = msg->server_id;
			rx->session = new_session(g);
			if (rx->phase == RL__RX_WAIT) {
				drop_window(g);
				rx->phase = RL__RX_IDLE;
			}
		}
		kick(g);
		return true;
	}
	start_transfer(g, msg->server_id);
	keep(g, msg);
	SL_LOG(SL_LOG_INFO, "group=%llu event=catchup_started leader=%llu index=%llu",
	       (unsigned long long)g->cfg.group_id, (unsigned long long)msg->server_id,
	       (unsigned long long)rx->index);
	kick(g);
	return true;
}

void rl__rx_on_install(struct rl_group *g, struct raft_snapshot_metadata *meta, int64_t end_offset)
{
	struct rl__rx *rx = &g->rx;
	struct rl_log_info li;
	int64_t next_offset;
	rl_log_get_info(g->log, &li);
	if (reaches(g, meta->index, meta->term, &next_offset) &&
	    li.durable_index >= SL_MIN(meta->index, li.last_index)) {
		finish_install(g, meta);
		return;
	}
	if (!rx->active) {
		start_transfer(g, g->raft.follower_state.current_leader.id);
		rx->deadline_ms = g->now_ms; /* the next tick starts it */
	}
	free_kept(g);
	rx->installing = true;
	rx->meta = *meta; /* configuration owned until the install completes */
	rx->index = meta->index;
	rx->term = meta->term;
	if (end_offset >= 0) {
		rx->end_offset = end_offset;
	}
}

void rl__rx_tick(struct rl_group *g)
{
	struct rl__rx *rx = &g->rx;
	if (!rx->active || rx->phase == RL__RX_OP || g->now_ms < rx->deadline_ms) {
		return;
	}
	if (rx->phase == RL__RX_WAIT) {
		rx->timeouts++;
		drop_window(g);
		rx->phase = RL__RX_IDLE;
		if (rx->installing && rx->timeouts >= 2) {
			next_source(g);
		}
	}
	kick(g);
}

/* A taken snapshot was recorded: a transfer waiting to step its kept
 * InstallSnapshot continues now. */
void rl__rx_snapshot_taken(struct rl_group *g)
{
	if (g->snapshots_taking == 0 && g->rx.active && g->rx.phase == RL__RX_IDLE) {
		kick(g);
	}
}

uint64_t rl__rx_deadline(const struct rl_group *g)
{
	if (!g->rx.active || g->rx.phase == RL__RX_OP) {
		return UINT64_MAX;
	}
	return g->rx.deadline_ms;
}
