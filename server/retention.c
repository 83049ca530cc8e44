/* Retention of the broker's data partitions: every
 * log.retention.check.interval.ms, each hosted replica (leader or follower:
 * every replica deletes its own segments) runs one pass of its topic's
 * effective retention.ms / retention.bytes through sd_part_retain().
 *
 * Happy path: the timer walks the hosted partitions; for each running data
 * partition whose topic has a limit (retention.ms or retention.bytes >= 0,
 * the topic's override or the cluster default log.retention.*), one
 * rl_retain() pass starts with the wall clock as now_ms, bounded by
 * rl_group_retention_bound() (pm.c), so no entry a replica or a catch-up
 * still needs is deleted. rl_retain() moves the log start offset at once
 * (Fetch answers OFFSET_OUT_OF_RANGE below it, ListOffsets earliest returns
 * it) and completes on the disk writer; the completion logs one key=value
 * line per pass that deleted something and adds to the counters exported
 * in /metrics. Nothing blocks the loop: deciding which segments go is a walk
 * over the in-memory segment list, the unlinks run on the writer thread.
 * Failure modes: a partition with a pass still in flight (RL_EBUSY) or a
 * full writer queue (RL_EAGAIN) is skipped until the next tick; a storage
 * failure (RL_EIO) is logged and counted, the log is then failed and its
 * partition stops serving (pm.c reports it). __consumer_offsets is never
 * touched: committed offsets must not be deleted (the controller also pins
 * its retention keys at -1). A topic unknown to the applied controller
 * state (being deleted) is skipped.
 *
 * Threads: loop thread only. */
#include <string.h>

#include "common/sl_common.h"
#include "server/broker.h"

struct sd_retention {
	struct sd_broker *b;
	uv_timer_t timer;
	bool started;
	struct sd_retention_stats stats;
};

/* One per process, like the broker itself; lives until exit so that a pass
 * completing during shutdown can still count. */
static struct sd_retention g_retention;

bool sd_topic_effective_config(struct sd_broker *b, const char *topic, struct sd_topic_config *out)
{
	const struct sd_ctl_topic *t = sd_ctl_state_topic_find(sd_controller_state(b), topic);
	if (t == NULL) {
		return false;
	}
	struct sd_config_kv kv[SD_CTL_CONFIGS_MAX];
	int n = 0;
	for (int32_t i = 0; i < t->n_configs && n < SD_CTL_CONFIGS_MAX; i++) {
		kv[n++] = (struct sd_config_kv){t->configs[i].key, t->configs[i].value};
	}
	char msg[256];
	/* Overrides were checked when committed; a key this build no longer
	 * knows falls back to the cluster defaults rather than to nothing. */
	return sd_topic_config_resolve(b->cfg, kv, n, out, msg, sizeof(msg)) == 0 ||
	       sd_topic_config_resolve(b->cfg, NULL, 0, out, msg, sizeof(msg)) == 0;
}

static void pass_done(struct sd_part *p, const struct rl_retain_req *req, int status)
{
	struct sd_retention *r = &g_retention;
	struct sd_partition *sp = sd_part_data(p);
	const char *topic = sp != NULL ? sp->topic : "?";
	int32_t index = sp != NULL ? sp->index : -1;
	if (status != 0) {
		r->stats.failures++;
		SL_LOG(SL_LOG_ERROR, "partition=%s/%d group=%llu event=retention_failed err=%s",
		       topic, index, (unsigned long long)sd_part_group_id(p), rl_err_name(status));
		return;
	}
	if (req->segments_deleted == 0) {
		return;
	}
	r->stats.segments_deleted += req->segments_deleted;
	r->stats.bytes_deleted += req->bytes_deleted;
	SL_LOG(SL_LOG_INFO,
	       "partition=%s/%d group=%llu event=retention_deleted segments=%u bytes=%llu "
	       "log_start_offset=%lld",
	       topic, index, (unsigned long long)sd_part_group_id(p), req->segments_deleted,
	       (unsigned long long)req->bytes_deleted, (long long)req->start_offset);
}

static void retain_part(struct sd_part *p, void *arg)
{
	struct sd_retention *r = arg;
	struct sd_partition *sp = sd_part_data(p);
	if (sp == NULL || sd_part_group(p) == NULL || strcmp(sp->topic, SD_OFFSETS_TOPIC) == 0) {
		return;
	}
	struct sd_topic_config tc;
	if (!sd_topic_effective_config(r->b, sp->topic, &tc) ||
	    (tc.retention_ms < 0 && tc.retention_bytes < 0)) {
		return;
	}
	struct rl_retention pol = {
	    .retention_bytes = tc.retention_bytes,
	    .retention_ms = tc.retention_ms,
	    .now_ms = sl_now_wall_ms(),
	};
	int rv = sd_part_retain(p, &pol, pass_done);
	if (rv == 0) {
		r->stats.passes++;
	} else if (rv != RL_EBUSY && rv != RL_EAGAIN && rv != RL_ENOTLEADER) {
		r->stats.failures++;
		SL_LOG(SL_LOG_WARN, "partition=%s/%d group=%llu event=retention_refused err=%s",
		       sp->topic, sp->index, (unsigned long long)sp->group_id, rl_err_name(rv));
	}
}

static void on_tick(uv_timer_t *t)
{
	struct sd_retention *r = t->data;
	sd_pm_foreach(r->b->pm, retain_part, r);
}

int sd_retention_start(struct sd_broker *b)
{
	struct sd_retention *r = &g_retention;
	uint64_t interval_ms = (uint64_t)sd_config_int(b->cfg, "log.retention.check.interval.ms");
	r->b = b;
	int rv = uv_timer_init(b->loop, &r->timer);
	if (rv != 0) {
		fprintf(stderr, "stretchlogd: retention timer: %s\n", uv_strerror(rv));
		return rv;
	}
	r->timer.data = r;
	r->started = true;
	return uv_timer_start(&r->timer, on_tick, interval_ms, interval_ms);
}

void sd_retention_stop(struct sd_broker *b)
{
	(void)b;
	struct sd_retention *r = &g_retention;
	if (r->started) {
		r->started = false;
		uv_close((uv_handle_t *)&r->timer, NULL);
	}
}

void sd_retention_stats(const struct sd_broker *b, struct sd_retention_stats *out)
{
	(void)b;
	*out = g_retention.stats;
}
