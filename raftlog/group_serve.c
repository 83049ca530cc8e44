/* The source side of catch-up: answers a follower's request and streams one
 * window of stored batches to it over the bulk lane.
 *
 * Happy path: a request names the follower's kept prefix and the target
 * snapshot (index, term). The source serves only if it durably holds the
 * target entry with that term, so what it sends is the committed prefix of
 * the leader's log. It checks the prefix against its own log, picks whole
 * batches after it (at most the requested window, or one larger batch),
 * and sends them as a byte stream in chunks of at most
 * RL_CATCHUP_MSG_BYTES_MAX bytes, reading the segments chunk by chunk
 * through a read reference (which keeps a segment readable even if
 * retention deletes it meanwhile). Memory per transfer: one chunk.
 *
 * Failure modes: a full bulk lane (RL_EAGAIN) keeps the built chunk until
 * rl_group_catchup_writable(); any other send error, a read error or a
 * range that vanished ends the window silently, and the follower asks
 * again. A newer request from the same peer replaces its window; a window
 * stuck for four catch-up timeouts is dropped. */
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "raftlog/group_int.h"

static void tx_free(struct rl_group *g, unsigned k)
{
	struct rl__tx *tx = g->tx[k];
	if (tx == NULL) {
		return;
	}
	rl_read_release(&tx->ref);
	sl_free(tx->chunk);
	sl_free(tx);
	g->tx[k] = NULL;
}

void rl__tx_free_all(struct rl_group *g)
{
	for (unsigned k = 0; k < RL_CATCHUP_SERVE_MAX; k++) {
		tx_free(g, k);
	}
}

static void send_reply(struct rl_group *g, uint64_t to, const struct rl__cu_msg *req,
		       uint32_t status)
{
	struct rl_log_info li;
	uint8_t buf[RL__CU_REPLY_BYTES];
	rl_log_get_info(g->log, &li);
	struct rl__cu_msg m = {
	    .type = RL__CU_REPLY,
	    .session = req->session,
	    .seq = req->seq,
	    .status = status,
	    .log_first_index = li.first_index,
	    .log_start_offset = li.start_offset,
	};
	size_t len = rl__cu_encode(&m, buf, sizeof(buf));
	SL_ASSERT(len == sizeof(buf));
	(void)g->env->send_catchup(g, to, false, buf, len);
}

/* Checks that the prefix a follower keeps is a prefix of this log.
 * Returns 0 (matches) or a reply status. */
static uint32_t check_prefix(struct rl_group *g, const struct rl__cu_msg *m,
			     const struct rl_log_info *li)
{
	struct rl_entry_info info;
	if (m->prev_term == 0) {
		/* Empty follower log: it starts where this log starts. */
		if (m->prev_index + 1 != li->first_index ||
		    rl_entry_get_info(g->log, m->prev_index + 1, &info) != 0 ||
		    info.base_offset != m->next_offset) {
			return RL__CU_GONE;
		}
		return 0;
	}
	if (m->prev_index + 1 < li->first_index) {
		return RL__CU_GONE;
	}
	if (m->prev_index + 1 == li->first_index) {
		/* The entry is gone; a snapshot at exactly it still vouches. */
		struct rl_snapshot_meta sm;
		rl_log_get_snapshot(g->log, &sm);
		bool ok = sm.index == m->prev_index && sm.term == m->prev_term &&
			  sm.log_start_offset == m->next_offset;
		return ok ? 0 : RL__CU_GONE;
	}
	if (rl_entry_get_info(g->log, m->prev_index, &info) != 0 || info.term != m->prev_term ||
	    info.last_offset + 1 != m->next_offset) {
		return RL__CU_MISMATCH;
	}
	return 0;
}

/* Decides what a request gets: 0 = a window, else a reply status. */
static uint32_t evaluate(struct rl_group *g, const struct rl__cu_msg *m)
{
	struct rl_log_info li;
	struct rl_entry_info target;
	rl_log_get_info(g->log, &li);
	if (m->target_index < li.first_index) {
		return RL__CU_TOO_OLD;
	}
	if (rl_entry_get_info(g->log, m->target_index, &target) != 0 ||
	    target.term != m->target_term || m->target_index > li.durable_index) {
		return RL__CU_STALE;
	}
	uint32_t st = check_prefix(g, m, &li);
	if (st != 0) {
		return st;
	}
	return m->window_bytes == 0 ? RL__CU_MATCH : 0;
}

/* Picks the window after the prefix: whole entries, at most window_bytes
 * unless the first alone is larger, never past the target. */
static int plan_window(struct rl_group *g, const struct rl__cu_msg *m, struct rl__tx *tx)
{
	struct rl_entry_info info;
	uint64_t total = 0;
	uint64_t k = m->prev_index + 1;
	for (; k <= m->target_index; k++) {
		if (rl_entry_get_info(g->log, k, &info) != 0) {
			return RL_ENOTFOUND;
		}
		if (k == m->prev_index + 1) {
			tx->base_offset = info.base_offset;
		} else if (total + info.size > m->window_bytes) {
			break;
		}
		total += info.size;
		tx->end_offset = info.last_offset + 1;
	}
	if (total > UINT32_MAX) {
		return RL_ETOOLARGE;
	}
	tx->first_index = m->prev_index + 1;
	tx->last_index = k - 1;
	tx->total = (uint32_t)total;
	tx->next_offset = tx->base_offset;
	return 0;
}

/* Copies the next n bytes of the window into dst, taking read references
 * segment by segment. */
static int fill(struct rl_group *g, struct rl__tx *tx, uint8_t *dst, size_t n)
{
	while (n > 0) {
		if (tx->ref_at == tx->ref.len) {
			rl_read_release(&tx->ref);
			int rv = rl_read_range(g->log, tx->next_offset, tx->end_offset, SIZE_MAX,
					       &tx->ref);
			if (rv != 0 || tx->ref.len == 0) {
				return rv != 0 ? rv : RL_ERANGE;
			}
			tx->ref_at = 0;
			tx->next_offset = tx->ref.next_offset;
		}
		size_t take = SL_MIN(n, tx->ref.len - tx->ref_at);
		int rv = rl__read_ref_pread(&tx->ref, tx->ref_at, dst, take);
		if (rv != 0) {
			return rv;
		}
		tx->ref_at += take;
		dst += take;
		n -= take;
	}
	return 0;
}

/* Builds the next chunk into tx->chunk. */
static int build_chunk(struct rl_group *g, struct rl__tx *tx)
{
	size_t n = SL_MIN((size_t)(tx->total - tx->sent),
			  (size_t)RL_CATCHUP_MSG_BYTES_MAX - RL__CU_DATA_HDR_BYTES);
	int rv = fill(g, tx, tx->chunk + RL__CU_DATA_HDR_BYTES, n);
	if (rv != 0) {
		return rv;
	}
	struct rl__cu_msg m = {
	    .type = RL__CU_DATA,
	    .session = tx->session,
	    .seq = tx->seq,
	    .first_index = tx->first_index,
	    .last_index = tx->last_index,
	    .base_offset = tx->base_offset,
	    .total_bytes = tx->total,
	    .pos = tx->sent,
	    .payload = NULL, /* already in place */
	    .payload_len = n,
	};
	tx->chunk_len = rl__cu_encode(&m, tx->chunk, RL_CATCHUP_MSG_BYTES_MAX);
	SL_ASSERT(tx->chunk_len == RL__CU_DATA_HDR_BYTES + n);
	return 0;
}

/* Sends chunks until the window is done or the lane is full. */
static void pump(struct rl_group *g, unsigned k)
{
	struct rl__tx *tx = g->tx[k];
	while (tx->sent < tx->total) {
		if (tx->chunk_len == 0 && build_chunk(g, tx) != 0) {
			SL_LOG(SL_LOG_WARN, "group=%llu peer=%llu event=catchup_serve_failed",
			       (unsigned long long)g->cfg.group_id, (unsigned long long)tx->peer);
			tx_free(g, k);
			return;
		}
		int rv = g->env->send_catchup(g, tx->peer, true, tx->chunk, tx->chunk_len);
		if (rv == RL_EAGAIN) {
			return;
		}
		if (rv != 0) {
			tx_free(g, k);
			return;
		}
		size_t n = tx->chunk_len - RL__CU_DATA_HDR_BYTES;
		tx->sent += (uint32_t)n;
		g->cu_stats.bytes_sent += n;
		tx->chunk_len = 0;
	}
	tx_free(g, k);
}

static int find_tx(const struct rl_group *g, uint64_t peer)
{
	for (unsigned k = 0; k < RL_CATCHUP_SERVE_MAX; k++) {
		if (g->tx[k] != NULL && g->tx[k]->peer == peer) {
			return (int)k;
		}
	}
	return -1;
}

static int free_slot(const struct rl_group *g)
{
	for (unsigned k = 0; k < RL_CATCHUP_SERVE_MAX; k++) {
		if (g->tx[k] == NULL) {
			return (int)k;
		}
	}
	return -1;
}

void rl__tx_request(struct rl_group *g, uint64_t from, const struct rl__cu_msg *m)
{
	int k = find_tx(g, from);
	if (k >= 0) {
		tx_free(g, (unsigned)k); /* superseded by the peer's newer request */
	}
	uint32_t st = evaluate(g, m);
	k = free_slot(g);
	if (st == 0 && k < 0) {
		st = RL__CU_BUSY;
	}
	if (st != 0) {
		send_reply(g, from, m, st);
		return;
	}
	struct rl__tx *tx = sl_calloc(1, sizeof(*tx));
	uint8_t *chunk = sl_malloc(RL_CATCHUP_MSG_BYTES_MAX);
	if (tx == NULL || chunk == NULL || plan_window(g, m, tx) != 0) {
		sl_free(tx);
		sl_free(chunk);
		send_reply(g, from, m, RL__CU_BUSY);
		return;
	}
	tx->peer = from;
	tx->session = m->session;
	tx->seq = m->seq;
	tx->chunk = chunk;
	tx->ref.fd = -1;
	tx->expire_ms = g->now_ms + 4 * (uint64_t)g->cfg.catchup_timeout_ms;
	g->tx[k] = tx;
	g->cu_stats.windows_served++;
	pump(g, (unsigned)k);
}

void rl__tx_writable(struct rl_group *g, uint64_t peer)
{
	int k = find_tx(g, peer);
	if (k >= 0) {
		pump(g, (unsigned)k);
	}
}

void rl__tx_tick(struct rl_group *g)
{
	for (unsigned k = 0; k < RL_CATCHUP_SERVE_MAX; k++) {
		if (g->tx[k] != NULL && g->now_ms >= g->tx[k]->expire_ms) {
			tx_free(g, k);
		}
	}
}

uint64_t rl__tx_deadline(const struct rl_group *g)
{
	uint64_t t = UINT64_MAX;
	for (unsigned k = 0; k < RL_CATCHUP_SERVE_MAX; k++) {
		if (g->tx[k] != NULL && g->tx[k]->expire_ms < t) {
			t = g->tx[k]->expire_ms;
		}
	}
	return t;
}
