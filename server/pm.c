/* Partition manager: hosts a broker's Raft groups over one writer, one
 * transport and one timer wheel.
 *
 * Happy path: open_partition opens the log, bootstraps it if it is empty and
 * voters were given, then opens the group and arms its wheel entry. Frames
 * from the transport are looked up by group id and stepped; after every step
 * the group's deadline is re-armed (capped at one heartbeat interval). A
 * submission the group queued for coalescing puts its partition on the
 * flush list; an idle handle (which also keeps the loop from blocking in
 * poll) calls rl_group_flush() for each listed group once per loop turn,
 * so every submission of one turn can share an entry.
 * Failure modes: a log that cannot be opened is reported to the caller; a
 * storage failure later marks the partition FAILED (its group stops) and is
 * reported through callbacks.failed; undecodable frames are dropped and
 * counted (the transport closes the connection for malformed Raft frames). */
#include "server/pm.h"

#include <errno.h>
#include <ftw.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/sl_common.h"
#include "raftlog/group.h"

/* First byte of a CONTROL frame payload: who it is for. */
enum { CTRL_APP = 1, CTRL_CATCHUP = 2 };

struct sd_part {
	struct sd_pm *pm;
	uint64_t group_id;
	enum sd_part_state state;
	struct rl_log *log;
	struct rl_group *group;
	struct sd_wheel_entry timer;
	struct rl_bootstrap_req boot;
	struct rl_group_config gcfg;
	char dir[512];
	uint64_t segment_bytes_max;
	bool delete_data;
	void *data;
	struct sd_part *hnext; /* hash chain */
	bool flush_listed;     /* on pm->flush_head */
	struct sd_part *flush_next;
	/* Retention: at most one rl_retain() in flight; a close waits for it
	 * (rl_log_close() needs no pending operation). */
	struct rl_retain_req retain;
	sd_part_retain_cb retain_cb;
	bool retaining;
	bool close_after_retain;
};

/* A catch-up chunk on the bulk lane: owns a copy of the bytes until the
 * transport's completion. */
struct bulk_chunk {
	struct sl_transport_bulk_req req;
	struct sd_pm *pm;
	uint64_t peer;
	size_t len;
	uint8_t data[];
};

/* A group whose bulk send to peer was refused (EAGAIN): told when a chunk
 * to that peer completes. */
struct bulk_waiter {
	uint64_t group_id;
	uint64_t peer;
	struct bulk_waiter *next;
};

struct sd_pm {
	uv_loop_t *loop;
	struct sl_transport *t;
	struct sd_pm_config cfg;
	char data_dir[400];
	struct sd_pm_callbacks cbs;
	struct rl_writer *writer;
	struct sd_wheel wheel;
	struct sd_part **buckets;
	uint32_t nbuckets;
	uint32_t count;
	struct sd_pm_stats stats;
	struct rl_group_env env;
	bool closing;
	unsigned closing_parts;
	struct bulk_waiter *bulk_waiters;
	/* Partitions whose groups queued submissions for coalescing. */
	struct sd_part *flush_head;
	uv_idle_t flush_idle;
	unsigned bulk_outstanding; /* chunks whose completion has not run */
	/* Catch-up bandwidth (cfg.catchup_bytes_per_sec): a token bucket of
	 * bytes, refilled with time, holding at most a quarter second's worth;
	 * a chunk goes while the bucket is positive and may leave it negative
	 * (a debt paid by waiting). Groups refused for the rate wait on
	 * rate_waiters until cu_timer sees the bucket positive again. */
	double cu_tokens;
	uint64_t cu_last_ms;
	uv_timer_t cu_timer;
	struct bulk_waiter *rate_waiters;
	bool released;             /* closed: freed when bulk_outstanding is 0 */
	void (*close_cb)(void *arg);
	void *close_arg;
};

void sd_pm_config_default(struct sd_pm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	rl_group_config_default(&cfg->group);
	cfg->segment_bytes_max = 1ull << 30;
	cfg->batch_bytes_max = 8u << 20;
	cfg->wheel_tick_ms = 2;
	cfg->partitions_max = 100000;
	/* Followers past the Raft window catch up by range transfer and keep
	 * the leader's whole log (SL_CATCHUP=0 falls back to metadata-only
	 * installs). */
	cfg->catchup = true;
}

/* ---- Hash table -------------------------------------------------------- */

static uint32_t bucket_of(const struct sd_pm *pm, uint64_t id)
{
	uint64_t h = id * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 32) & (pm->nbuckets - 1);
}

static int table_grow(struct sd_pm *pm)
{
	uint32_t n = pm->nbuckets * 2;
	struct sd_part **b = sl_calloc(n, sizeof(*b));
	if (b == NULL) {
		return RL_ENOMEM;
	}
	struct sd_part **old = pm->buckets;
	uint32_t oldn = pm->nbuckets;
	pm->buckets = b;
	pm->nbuckets = n;
	for (uint32_t i = 0; i < oldn; i++) {
		for (struct sd_part *p = old[i], *next; p != NULL; p = next) {
			next = p->hnext;
			uint32_t k = bucket_of(pm, p->group_id);
			p->hnext = b[k];
			b[k] = p;
		}
	}
	sl_free(old);
	return 0;
}

struct sd_part *sd_pm_get(struct sd_pm *pm, uint64_t group_id)
{
	for (struct sd_part *p = pm->buckets[bucket_of(pm, group_id)]; p != NULL; p = p->hnext) {
		if (p->group_id == group_id) {
			return p;
		}
	}
	return NULL;
}

static void table_remove(struct sd_pm *pm, struct sd_part *p)
{
	struct sd_part **pp = &pm->buckets[bucket_of(pm, p->group_id)];
	while (*pp != p) {
		pp = &(*pp)->hnext;
	}
	*pp = p->hnext;
	pm->count--;
}

void sd_pm_foreach(struct sd_pm *pm, void (*fn)(struct sd_part *p, void *arg), void *arg)
{
	for (uint32_t i = 0; i < pm->nbuckets; i++) {
		for (struct sd_part *p = pm->buckets[i]; p != NULL; p = p->hnext) {
			fn(p, arg);
		}
	}
}

unsigned sd_pm_count(const struct sd_pm *pm)
{
	return pm->count;
}

/* ---- Timers ------------------------------------------------------------ */

static void rearm(struct sd_part *p)
{
	if (p->state != SD_PART_RUNNING) {
		return;
	}
	uint64_t now = uv_now(p->pm->loop);
	uint64_t d = rl_group_deadline_ms(p->group);
	uint64_t cap = now + p->gcfg.heartbeat_timeout_ms;
	sd_wheel_schedule(&p->pm->wheel, &p->timer, d < cap ? d : cap);
}

static void on_timer(struct sd_wheel_entry *e, uint64_t now_ms)
{
	struct sd_part *p = e->data;
	if (p->state != SD_PART_RUNNING) {
		return;
	}
	if (rl_group_deadline_ms(p->group) <= now_ms) {
		p->pm->stats.ticks++;
		rl_group_tick(p->group, now_ms);
	}
	rearm(p);
}

void sd_part_touch(struct sd_part *p)
{
	rearm(p);
}

/* ---- Coalescing flush -------------------------------------------------- */

static void on_flush_idle(uv_idle_t *h)
{
	struct sd_pm *pm = h->data;
	struct sd_part *p = pm->flush_head;
	pm->flush_head = NULL;
	uv_idle_stop(h);
	while (p != NULL) {
		struct sd_part *next = p->flush_next;
		p->flush_listed = false;
		p->flush_next = NULL;
		if (p->state == SD_PART_RUNNING) {
			rl_group_flush(p->group, uv_now(pm->loop));
			rearm(p);
		}
		p = next;
	}
}

/* After a submission: a group that queued it is flushed this loop turn. */
static void flush_later(struct sd_part *p)
{
	struct sd_pm *pm = p->pm;
	if (p->flush_listed || p->state != SD_PART_RUNNING || !rl_group_flush_pending(p->group)) {
		return;
	}
	p->flush_listed = true;
	p->flush_next = pm->flush_head;
	pm->flush_head = p;
	uv_idle_start(&pm->flush_idle, on_flush_idle);
}

static void flush_unlist(struct sd_part *p)
{
	if (!p->flush_listed) {
		return;
	}
	struct sd_part **pp = &p->pm->flush_head;
	while (*pp != p) {
		pp = &(*pp)->flush_next;
	}
	*pp = p->flush_next;
	p->flush_listed = false;
}

/* ---- Group environment ------------------------------------------------- */

static void env_send(struct rl_group *g, const struct raft_message *msg)
{
	struct sd_part *p = rl_group_data(g);
	if (p == NULL) {
		return; /* inside rl_group_open(): Raft resends */
	}
	(void)sl_transport_send_raft(p->pm->t, msg->server_id, p->group_id, msg);
}

#define ANY_PEER UINT64_MAX

/* Unlinks the waiters of *list for peer (or every waiter with ANY_PEER) and,
 * if notify, tells their groups the lane is writable. They are unlinked
 * first: a woken group sends again and, refused once more, registers a new
 * waiter (at the head of the list), which must wait for the next wake-up,
 * not be woken by this one (that would spin here forever without returning
 * to the loop). */
static void wake_waiters(struct sd_pm *pm, struct bulk_waiter **list, uint64_t peer, bool notify)
{
	struct bulk_waiter *wake = NULL;
	struct bulk_waiter **pp = list;
	while (*pp != NULL) {
		struct bulk_waiter *w = *pp;
		if (peer != ANY_PEER && w->peer != peer) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->next = wake;
		wake = w;
	}
	while (wake != NULL) {
		struct bulk_waiter *w = wake;
		wake = w->next;
		uint64_t group_id = w->group_id;
		uint64_t to = w->peer;
		sl_free(w);
		struct sd_part *p = sd_pm_get(pm, group_id);
		if (notify && !pm->closing && p != NULL && p->state == SD_PART_RUNNING) {
			rl_group_catchup_writable(p->group, to, uv_now(pm->loop));
			rearm(p);
		}
	}
}

static void bulk_done(struct sl_transport_bulk_req *req, int status)
{
	struct bulk_chunk *c = req->data;
	struct sd_pm *pm = c->pm;
	uint64_t peer = c->peer;
	sl_free(c);
	pm->bulk_outstanding--;
	if (pm->released) {
		if (pm->bulk_outstanding == 0) {
			sl_free(pm);
		}
		return;
	}
	/* A canceled chunk means the connection is gone: waking the senders
	 * would only queue more chunks on the dying connection (and keep it
	 * from closing). The follower's catch-up retries once a connection is
	 * back. */
	wake_waiters(pm, &pm->bulk_waiters, peer, status == 0);
}

static void bulk_wait(struct bulk_waiter **list, uint64_t group_id, uint64_t peer)
{
	for (struct bulk_waiter *w = *list; w != NULL; w = w->next) {
		if (w->group_id == group_id && w->peer == peer) {
			return;
		}
	}
	struct bulk_waiter *w = sl_malloc(sizeof(*w));
	if (w != NULL) {
		w->group_id = group_id;
		w->peer = peer;
		w->next = *list;
		*list = w;
	}
}

/* Adds the bandwidth earned since the last refill to the bucket. */
static void cu_refill(struct sd_pm *pm)
{
	uint64_t now = uv_now(pm->loop);
	double rate = (double)pm->cfg.catchup_bytes_per_sec;
	pm->cu_tokens += (double)(now - pm->cu_last_ms) * rate / 1000.0;
	pm->cu_tokens = SL_MIN(pm->cu_tokens, SL_MAX(rate / 4.0, 1.0));
	pm->cu_last_ms = now;
}

static void cu_on_timer(uv_timer_t *t);

static void cu_arm(struct sd_pm *pm)
{
	if (uv_is_active((uv_handle_t *)&pm->cu_timer)) {
		return;
	}
	double ms = -pm->cu_tokens * 1000.0 / (double)pm->cfg.catchup_bytes_per_sec;
	uv_timer_start(&pm->cu_timer, cu_on_timer, (uint64_t)ms + 1, 0);
}

static void cu_on_timer(uv_timer_t *t)
{
	struct sd_pm *pm = t->data;
	cu_refill(pm);
	if (pm->cu_tokens > 0) {
		wake_waiters(pm, &pm->rate_waiters, ANY_PEER, true);
	} else if (pm->rate_waiters != NULL) {
		cu_arm(pm);
	}
}

static int env_send_catchup(struct rl_group *g, uint64_t to, bool bulk, const uint8_t *buf,
			    size_t len)
{
	struct sd_part *p = rl_group_data(g);
	if (p == NULL) {
		return RL_EINVAL;
	}
	struct sd_pm *pm = p->pm;
	if (!bulk) {
		uint8_t *m = sl_malloc(len + 1);
		if (m == NULL) {
			return RL_ENOMEM;
		}
		m[0] = CTRL_CATCHUP;
		memcpy(m + 1, buf, len);
		int rv = sl_transport_send(pm->t, to, p->group_id, SL_TRANSPORT_FRAME_CONTROL, m,
					   len + 1);
		sl_free(m);
		return rv == 0 ? 0 : RL_EIO;
	}
	if (pm->cfg.catchup_bytes_per_sec > 0) {
		cu_refill(pm);
		if (pm->cu_tokens <= 0) {
			pm->stats.catchup_throttled++;
			bulk_wait(&pm->rate_waiters, p->group_id, to);
			cu_arm(pm);
			return RL_EAGAIN;
		}
	}
	struct bulk_chunk *c = sl_malloc(sizeof(*c) + len);
	if (c == NULL) {
		return RL_ENOMEM;
	}
	c->pm = pm;
	c->peer = to;
	c->len = len;
	memcpy(c->data, buf, len);
	c->req.data = c;
	int rv = sl_transport_send_bulk(pm->t, &c->req, to, p->group_id, c->data, len, bulk_done);
	if (rv == 0) {
		pm->bulk_outstanding++;
		pm->cu_tokens -= (double)len;
		return 0;
	}
	sl_free(c);
	if (rv == SL_TRANSPORT_EAGAIN) {
		bulk_wait(&pm->bulk_waiters, p->group_id, to);
		return RL_EAGAIN;
	}
	return RL_EIO;
}

static void env_role(struct rl_group *g, int old_role, int new_role)
{
	struct sd_part *p = rl_group_data(g);
	if (p == NULL) {
		return; /* inside rl_group_open(): the host reads the status after */
	}
	rearm(p);
	if (p->pm->cbs.role_changed != NULL) {
		p->pm->cbs.role_changed(p, old_role, new_role);
	}
}

static void env_hwm(struct rl_group *g, int64_t hwm)
{
	struct sd_part *p = rl_group_data(g);
	if (p == NULL) {
		return; /* inside rl_group_open(): the host reads the status after */
	}
	if (p->pm->cbs.hwm_changed != NULL) {
		p->pm->cbs.hwm_changed(p, hwm);
	}
}

static void env_failed(struct rl_group *g, int err, const char *msg)
{
	struct sd_part *p = rl_group_data(g);
	if (p == NULL) {
		return; /* inside rl_group_open(): the host reads the status after */
	}
	p->state = SD_PART_FAILED;
	sd_wheel_cancel(&p->pm->wheel, &p->timer);
	if (p->pm->cbs.failed != NULL) {
		p->pm->cbs.failed(p, err, msg);
	}
}

/* ---- Lifecycle --------------------------------------------------------- */

int sd_pm_create(uv_loop_t *loop, struct sl_transport *t, const struct sd_pm_config *cfg,
		 const struct sd_pm_callbacks *cbs, struct sd_pm **out)
{
	if (cfg->self_id == 0 || cfg->data_dir == NULL ||
	    strlen(cfg->data_dir) >= sizeof(((struct sd_pm *)0)->data_dir)) {
		return RL_EINVAL;
	}
	if (mkdir(cfg->data_dir, 0755) != 0 && errno != EEXIST) {
		return RL_EIO;
	}
	struct sd_pm *pm = sl_calloc(1, sizeof(*pm));
	if (pm == NULL) {
		return RL_ENOMEM;
	}
	pm->loop = loop;
	pm->t = t;
	pm->cfg = *cfg;
	snprintf(pm->data_dir, sizeof(pm->data_dir), "%s", cfg->data_dir);
	pm->cfg.data_dir = pm->data_dir;
	if (cbs != NULL) {
		pm->cbs = *cbs;
	}
	pm->nbuckets = 64;
	pm->buckets = sl_calloc(pm->nbuckets, sizeof(*pm->buckets));
	if (pm->buckets == NULL) {
		goto err_after_alloc;
	}
	struct rl_writer_config wc;
	rl_writer_config_default(&wc);
	wc.no_sync = cfg->no_sync;
	int rv = rl_writer_create(loop, &wc, &pm->writer);
	if (rv != 0) {
		goto err_after_buckets;
	}
	if (sd_wheel_init(&pm->wheel, loop, cfg->wheel_tick_ms ? cfg->wheel_tick_ms : 2, 1024) !=
	    0) {
		rl_writer_close(pm->writer);
		goto err_after_buckets;
	}
	uv_idle_init(loop, &pm->flush_idle); /* cannot fail */
	pm->flush_idle.data = pm;
	uv_timer_init(loop, &pm->cu_timer); /* cannot fail */
	pm->cu_timer.data = pm;
	uv_unref((uv_handle_t *)&pm->cu_timer);
	pm->cu_last_ms = uv_now(loop);
	pm->cu_tokens = SL_MAX((double)cfg->catchup_bytes_per_sec / 4.0, 1.0);
	pm->env.send = env_send;
	pm->env.role_changed = env_role;
	pm->env.hwm_changed = env_hwm;
	pm->env.failed = env_failed;
	const char *env = getenv("SL_CATCHUP");
	bool catchup = env != NULL ? strcmp(env, "1") == 0 : cfg->catchup;
	pm->env.send_catchup = catchup ? env_send_catchup : NULL;
	*out = pm;
	return 0;
err_after_buckets:
	sl_free(pm->buckets);
err_after_alloc:
	sl_free(pm);
	return RL_ENOMEM;
}

static int start_group(struct sd_part *p)
{
	int rv = rl_group_open(p->log, &p->gcfg, &p->pm->env, uv_now(p->pm->loop), &p->group);
	if (rv != 0) {
		p->state = SD_PART_FAILED;
		SL_LOG(SL_LOG_ERROR, "group=%llu event=group_open_failed err=%s",
		       (unsigned long long)p->group_id, rl_err_name(rv));
		return rv;
	}
	rl_group_set_data(p->group, p);
	p->state = SD_PART_RUNNING;
	rearm(p);
	if (p->pm->cbs.hwm_changed != NULL) {
		struct rl_group_status st;
		rl_group_get_status(p->group, &st);
		p->pm->cbs.hwm_changed(p, st.hwm);
	}
	return 0;
}

static void finish_close(struct sd_part *p);
static void pm_release(struct sd_pm *pm);

static void boot_done(struct rl_bootstrap_req *req, int status)
{
	struct sd_part *p = req->data;
	if (p->state == SD_PART_CLOSING) {
		finish_close(p);
		return;
	}
	if (status != 0) {
		p->state = SD_PART_FAILED;
		SL_LOG(SL_LOG_ERROR, "group=%llu event=bootstrap_failed err=%s",
		       (unsigned long long)p->group_id, rl_err_name(status));
		if (p->pm->cbs.failed != NULL) {
			p->pm->cbs.failed(p, status, "bootstrap failed");
		}
		return;
	}
	(void)start_group(p);
}

static bool log_is_empty(struct rl_log *log)
{
	struct rl_log_info info;
	rl_log_get_info(log, &info);
	return info.last_index == 0 && info.term == 0 && info.first_index <= 1;
}

static int open_log(struct sd_part *p, char *errmsg, size_t errmsg_size)
{
	struct rl_log_config lc;
	rl_log_config_default(&lc);
	lc.dir = p->dir;
	lc.segment_bytes_max = p->segment_bytes_max;
	lc.batch_bytes_max = p->pm->cfg.batch_bytes_max;
	return rl_log_open(p->pm->writer, &lc, &p->log, errmsg, errmsg_size);
}

int sd_pm_open_partition(struct sd_pm *pm, const struct sd_part_opts *opts, struct sd_part **out,
			 char *errmsg, size_t errmsg_size)
{
	if (pm->closing || opts->dir_name == NULL || opts->dir_name[0] == '\0' ||
	    strchr(opts->dir_name, '/') != NULL || sd_pm_get(pm, opts->group_id) != NULL ||
	    pm->count >= pm->cfg.partitions_max) {
		return RL_EINVAL;
	}
	if (pm->count + 1 > pm->nbuckets && table_grow(pm) != 0) {
		return RL_ENOMEM;
	}
	struct sd_part *p = sl_calloc(1, sizeof(*p));
	if (p == NULL) {
		return RL_ENOMEM;
	}
	p->pm = pm;
	p->group_id = opts->group_id;
	p->state = SD_PART_STARTING;
	snprintf(p->dir, sizeof(p->dir), "%s/%s", pm->data_dir, opts->dir_name);
	sd_wheel_entry_init(&p->timer, on_timer, p);
	p->gcfg = pm->cfg.group;
	p->gcfg.server_id = pm->cfg.self_id;
	p->gcfg.group_id = opts->group_id;
	p->gcfg.seed = (uint32_t)((pm->cfg.self_id * 0x9e3779b1u) ^ (opts->group_id * 0x85ebca6bu) ^
				  (uv_hrtime() & 0xffffffffu));
	if (opts->election_timeout_ms != 0) {
		p->gcfg.election_timeout_ms = opts->election_timeout_ms;
	}
	if (opts->snapshot_threshold != 0) {
		p->gcfg.snapshot_threshold = opts->snapshot_threshold;
	}
	p->segment_bytes_max =
	    opts->segment_bytes_max != 0 ? opts->segment_bytes_max : pm->cfg.segment_bytes_max;
	int rv = open_log(p, errmsg, errmsg_size);
	if (rv != 0) {
		sl_free(p);
		return rv;
	}
	uint32_t k = bucket_of(pm, p->group_id);
	p->hnext = pm->buckets[k];
	pm->buckets[k] = p;
	pm->count++;
	*out = p;
	if (opts->n_voters > 0 && log_is_empty(p->log)) {
		p->boot.data = p;
		rv = rl_group_bootstrap(p->log, &p->boot, opts->voters, opts->n_voters,
					0 /* same bytes on every voter */, boot_done);
		if (rv != 0) {
			p->state = SD_PART_FAILED;
			return 0;
		}
		return 0;
	}
	(void)start_group(p);
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void finish_close(struct sd_part *p)
{
	struct sd_pm *pm = p->pm;
	if (p->retaining) {
		p->close_after_retain = true; /* retain_done finishes the close */
		return;
	}
	if (p->log != NULL) {
		rl_log_close(p->log);
		p->log = NULL;
	}
	if (p->delete_data) {
		if (nftw(p->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
			SL_LOG(SL_LOG_WARN, "group=%llu event=delete_dir_failed dir=%s errno=%d",
			       (unsigned long long)p->group_id, p->dir, errno);
		}
	}
	sl_free(p);
	if (pm->closing && --pm->closing_parts == 0) {
		/* All partitions gone: the writer and the wheel go next. */
		pm_release(pm);
	}
}

static void group_closed(struct rl_group *g, void *arg)
{
	(void)g;
	finish_close(arg);
}

void sd_pm_close_partition(struct sd_part *p, bool delete_data)
{
	struct sd_pm *pm = p->pm;
	enum sd_part_state was = p->state;
	SL_ASSERT(was != SD_PART_CLOSING);
	p->state = SD_PART_CLOSING;
	p->delete_data = delete_data;
	sd_wheel_cancel(&pm->wheel, &p->timer);
	flush_unlist(p);
	table_remove(pm, p);
	if (p->group != NULL) {
		struct rl_group *g = p->group;
		p->group = NULL;
		rl_group_close(g, group_closed, p);
		return;
	}
	if (was == SD_PART_STARTING) {
		return; /* boot_done finishes the close */
	}
	finish_close(p);
}

/* ---- Retention ---------------------------------------------------------- */

static void retain_done(struct rl_retain_req *req, int status)
{
	struct sd_part *p = req->data;
	p->retaining = false;
	if (p->close_after_retain) {
		finish_close(p);
		return;
	}
	if (p->state != SD_PART_CLOSING && p->retain_cb != NULL) {
		p->retain_cb(p, req, status);
	}
}

int sd_part_retain(struct sd_part *p, const struct rl_retention *policy, sd_part_retain_cb cb)
{
	if (p->state != SD_PART_RUNNING || p->group == NULL) {
		return RL_ENOTLEADER;
	}
	if (p->retaining) {
		return RL_EBUSY;
	}
	struct rl_retention pol = *policy;
	pol.bound_offset = rl_group_retention_bound(p->group);
	p->retain = (struct rl_retain_req){.data = p};
	p->retain_cb = cb;
	int rv = rl_retain(p->log, &p->retain, &pol, retain_done);
	if (rv == 0) {
		p->retaining = true;
	}
	return rv;
}

/* ---- Frames ------------------------------------------------------------ */

void sd_pm_recv(struct sd_pm *pm, const struct sl_transport_frame *f)
{
	if (f->type == SL_TRANSPORT_FRAME_CONTROL && f->payload_len >= 1 &&
	    f->payload[0] == CTRL_APP) {
		if (pm->cbs.control != NULL) {
			pm->cbs.control(pm, f->peer_id, f->group_id, f->payload + 1,
					f->payload_len - 1);
		}
		return;
	}
	struct sd_part *p = sd_pm_get(pm, f->group_id);
	if (p == NULL || p->state != SD_PART_RUNNING) {
		pm->stats.frames_unknown_group++;
		return;
	}
	if (f->type == SL_TRANSPORT_FRAME_CONTROL || f->type == SL_TRANSPORT_FRAME_BULK) {
		bool ctl = f->type == SL_TRANSPORT_FRAME_CONTROL;
		if (ctl && (f->payload_len < 1 || f->payload[0] != CTRL_CATCHUP)) {
			pm->stats.frames_bad++;
			return;
		}
		rl_group_receive_catchup(p->group, f->peer_id, f->payload + ctl,
					 f->payload_len - ctl, uv_now(pm->loop));
		rearm(p);
		return;
	}
	if (f->type == SL_TRANSPORT_FRAME_RAFT) {
		struct raft_message msg;
		if (sl_transport_decode_raft(pm->t, f, &msg) != 0) {
			pm->stats.frames_bad++;
			return;
		}
		rl_group_receive(p->group, &msg, uv_now(pm->loop));
		rearm(p);
		return;
	}
	pm->stats.frames_bad++;
}

int sd_pm_send_control(struct sd_pm *pm, uint64_t peer_id, uint64_t group_id, const void *buf,
		       size_t len)
{
	uint8_t stackbuf[1024];
	uint8_t *p = len + 1 <= sizeof(stackbuf) ? stackbuf : sl_malloc(len + 1);
	if (p == NULL) {
		return SL_TRANSPORT_ENOMEM;
	}
	p[0] = CTRL_APP;
	if (len > 0) {
		memcpy(p + 1, buf, len);
	}
	int rv = sl_transport_send(pm->t, peer_id, group_id, SL_TRANSPORT_FRAME_CONTROL, p, len + 1);
	if (p != stackbuf) {
		sl_free(p);
	}
	return rv;
}

/* ---- Submissions and accessors ----------------------------------------- */

int sd_part_submit(struct sd_part *p, struct rl_submit_req *req, uint8_t *batch, size_t len,
		   enum rl_acks acks, rl_submit_cb cb)
{
	if (p->state != SD_PART_RUNNING) {
		return RL_ENOTLEADER;
	}
	int rv = rl_group_submit(p->group, req, batch, len, acks, cb, uv_now(p->pm->loop));
	flush_later(p);
	rearm(p);
	return rv;
}

enum sd_part_state sd_part_state(const struct sd_part *p)
{
	return p->state;
}

uint64_t sd_part_group_id(const struct sd_part *p)
{
	return p->group_id;
}

struct rl_group *sd_part_group(struct sd_part *p)
{
	return p->state == SD_PART_RUNNING ? p->group : NULL;
}

struct rl_log *sd_part_log(struct sd_part *p)
{
	return p->state == SD_PART_CLOSING ? NULL : p->log;
}

struct sd_pm *sd_part_pm(struct sd_part *p)
{
	return p->pm;
}

void sd_part_set_data(struct sd_part *p, void *data)
{
	p->data = data;
}

void *sd_part_data(const struct sd_part *p)
{
	return p->data;
}

void *sd_pm_data(const struct sd_pm *pm)
{
	return pm->cbs.data;
}

void sd_pm_stats(const struct sd_pm *pm, struct sd_pm_stats *out)
{
	*out = pm->stats;
	out->wheel_wakeups = pm->wheel.wakeups;
}

/* ---- Closing the manager ----------------------------------------------- */

static void wheel_closed(struct sd_wheel *w)
{
	struct sd_pm *pm = (struct sd_pm *)((char *)w - offsetof(struct sd_pm, wheel));
	wake_waiters(pm, &pm->bulk_waiters, ANY_PEER, false);
	wake_waiters(pm, &pm->rate_waiters, ANY_PEER, false);
	void (*cb)(void *) = pm->close_cb;
	void *arg = pm->close_arg;
	sl_free(pm->buckets);
	pm->buckets = NULL;
	pm->released = true;
	if (pm->bulk_outstanding == 0) {
		sl_free(pm);
	}
	if (cb != NULL) {
		cb(arg);
	}
}

static void flush_idle_closed(uv_handle_t *h)
{
	struct sd_pm *pm = h->data;
	rl_writer_close(pm->writer);
	pm->writer = NULL;
	sd_wheel_close(&pm->wheel, wheel_closed);
}

/* The idle handle closes first, then the writer and the wheel (whose close
 * callback frees the manager). */
static void cu_timer_closed(uv_handle_t *h)
{
	struct sd_pm *pm = h->data;
	uv_close((uv_handle_t *)&pm->flush_idle, flush_idle_closed);
}

static void pm_release(struct sd_pm *pm)
{
	uv_close((uv_handle_t *)&pm->cu_timer, cu_timer_closed);
}

static void collect(struct sd_part *p, void *arg)
{
	struct sd_part ***cursor = arg;
	*(*cursor)++ = p;
}

void sd_pm_close(struct sd_pm *pm, void (*cb)(void *arg), void *arg)
{
	SL_ASSERT(!pm->closing);
	pm->closing = true;
	pm->close_cb = cb;
	pm->close_arg = arg;
	unsigned n = pm->count;
	if (n == 0) {
		pm_release(pm);
		return;
	}
	struct sd_part **all = sl_malloc(n * sizeof(*all));
	SL_ASSERT(all != NULL);
	struct sd_part **cursor = all;
	sd_pm_foreach(pm, collect, &cursor);
	pm->closing_parts = n;
	for (unsigned i = 0; i < n; i++) {
		sd_pm_close_partition(all[i], false);
	}
	sl_free(all);
}
