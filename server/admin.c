/* Admin HTTP endpoints of stretchlogd: GET /metrics (Prometheus text) and
 * GET /v1/status (JSON), on admin.listener.
 *
 * Metrics: Kafka requests and their latency per API (observed by the Kafka
 * listener), bytes in and out, partitions hosted, partitions led,
 * under-replicated partitions and per-follower lag (from the leaders' Raft
 * progress), high watermark and log start offset per partition, segments and
 * bytes deleted by retention, transport counters. Gauges that
 * read live state are computed at scrape time by collect callbacks, so the
 * hot paths only bump counters.
 *
 * Locality (DESIGN.md section 6): consumer record bytes by locality
 * (same_rack, same_region, cross_region, unknown: the client's Fetch v11
 * rack_id against this broker) and by client rack; preferred-replica
 * redirects; visibility lag by role (time from a batch's producer timestamp
 * to its commit on the leader, or to its visibility on a follower: the
 * difference between the two is the follower visibility lag; exact on one
 * host, subject to clock skew across hosts); partitions led here per topic
 * and region, and their pinning compliance (summing over brokers gives the
 * cluster view). GET /v1/explain?topic=T&partition=P[&client_rack=R]
 * [&offset=O] says which replica would serve such a consumer and why, and
 * what leader pinning decided. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/http.h"
#include "server/kafka_conn.h"
#include "server/kh.h"
#include "server/metrics.h"

struct admin {
	struct sd_broker *b;
	struct sd_http http;
	struct sd_metric *requests, *latency, *bytes_in, *bytes_out;
	struct sd_metric *consumer_bytes, *consumer_rack_bytes, *redirects, *visibility;
	struct sd_series *where[SD_LOC_UNKNOWN + 1];
	struct sd_series *redirects_total;
};

static struct admin g_admin;

static const char *api_name(int16_t key)
{
	const struct kmsg_api *a = kmsg_api_lookup(key);
	return a != NULL ? a->name : "unknown";
}

static void observe(void *ctx, const struct sk_observation *o)
{
	struct admin *a = ctx;
	const char *labels[1] = {api_name(o->api_key)};
	sd_counter_inc(sd_metric_series(a->requests, labels));
	sd_histogram_observe(sd_metric_series(a->latency, labels), (double)o->duration_ns / 1e9);
	sd_counter_add(sd_metric_series(a->bytes_in, labels), o->bytes_in);
	sd_counter_add(sd_metric_series(a->bytes_out, labels), o->bytes_out);
}

/* ---- Scrape-time gauges ------------------------------------------------------ */

struct walk {
	struct sd_metric_emitter *e;
	int kind;
	double hosted, leaders, under;
};

enum { W_COUNTS, W_LAG, W_HWM, W_START };

static void walk_part(struct sd_part *p, void *arg)
{
	struct walk *w = arg;
	struct sd_partition *sp = sd_part_data(p);
	struct rl_group *g = sd_part_group(p);
	if (sp == NULL || g == NULL) {
		return;
	}
	struct rl_group_status st;
	rl_group_get_status(g, &st);
	char part[16];
	snprintf(part, sizeof(part), "%d", sp->index);
	if (w->kind == W_HWM || w->kind == W_START) {
		const char *l[2] = {sp->topic, part};
		sd_metric_emit(w->e, l, (double)(w->kind == W_HWM ? st.hwm : st.start_offset));
		return;
	}
	w->hosted++;
	if (st.role != RAFT_LEADER) {
		return;
	}
	w->leaders++;
	struct rl_group_progress pr[SD_CTL_REPLICAS_MAX * 2];
	unsigned n = rl_group_progress(g, pr, SD_CTL_REPLICAS_MAX * 2);
	bool under = false;
	for (unsigned i = 0; i < n && i < SD_CTL_REPLICAS_MAX * 2; i++) {
		uint64_t lag = st.last_index > pr[i].match_index ? st.last_index - pr[i].match_index : 0;
		if (pr[i].id == (uint64_t)sp->b->id) {
			continue;
		}
		under |= pr[i].role == RAFT_VOTER && lag > 1024;
		if (w->kind == W_LAG) {
			char follower[24];
			snprintf(follower, sizeof(follower), "%llu", (unsigned long long)pr[i].id);
			const char *l[3] = {sp->topic, part, follower};
			sd_metric_emit(w->e, l, (double)lag);
		}
	}
	w->under += under;
}

static void collect_counts(struct sd_metric_emitter *e, void *data)
{
	struct admin *a = data;
	struct walk w = {.e = e, .kind = W_COUNTS};
	sd_pm_foreach(a->b->pm, walk_part, &w);
	const char *l1[1] = {"hosted"}, *l2[1] = {"leader"}, *l3[1] = {"under_replicated"};
	sd_metric_emit(e, l1, w.hosted);
	sd_metric_emit(e, l2, w.leaders);
	sd_metric_emit(e, l3, w.under);
}

static void collect_lag(struct sd_metric_emitter *e, void *data)
{
	struct admin *a = data;
	struct walk w = {.e = e, .kind = W_LAG};
	sd_pm_foreach(a->b->pm, walk_part, &w);
}

static void collect_hwm(struct sd_metric_emitter *e, void *data)
{
	struct admin *a = data;
	struct walk w = {.e = e, .kind = W_HWM};
	sd_pm_foreach(a->b->pm, walk_part, &w);
}

static void collect_start(struct sd_metric_emitter *e, void *data)
{
	struct admin *a = data;
	struct walk w = {.e = e, .kind = W_START};
	sd_pm_foreach(a->b->pm, walk_part, &w);
}

static void collect_retention(struct sd_metric_emitter *e, void *data)
{
	struct admin *a = data;
	struct sd_retention_stats st;
	sd_retention_stats(a->b, &st);
	const char *segs[1] = {"segments"}, *bytes[1] = {"bytes"};
	sd_metric_emit(e, segs, (double)st.segments_deleted);
	sd_metric_emit(e, bytes, (double)st.bytes_deleted);
}

static void collect_retention_failures(struct sd_metric_emitter *e, void *data)
{
	struct admin *a = data;
	struct sd_retention_stats st;
	sd_retention_stats(a->b, &st);
	sd_metric_emit(e, NULL, (double)st.failures);
}

static void collect_transport(struct sd_metric_emitter *e, void *data)
{
	struct admin *a = data;
	struct sl_transport_stats s;
	sl_transport_stats(&a->b->transport, &s);
	const char *l[1];
	l[0] = "sent";
	sd_metric_emit(e, l, (double)s.bytes_sent);
	l[0] = "received";
	sd_metric_emit(e, l, (double)s.bytes_received);
}

static void collect_idle_timeouts(struct sd_metric_emitter *e, void *data)
{
	struct admin *a = data;
	struct sl_transport_stats s;
	sl_transport_stats(&a->b->transport, &s);
	sd_metric_emit(e, NULL, (double)s.idle_timeouts);
}

static void collect_controller(struct sd_metric_emitter *e, void *data)
{
	struct admin *a = data;
	sd_metric_emit(e, NULL, sd_controller_leader(a->b) == a->b->id ? 1 : 0);
}

static int reg(struct sd_metrics *m, const char *name, const char *help, enum sd_metric_type type,
	       const char *const *labels, int n, sd_metric_collect_fn fn, void *data,
	       struct sd_metric **out);

/* ---- Consumer groups --------------------------------------------------------- */

static void collect_groups(struct sd_metric_emitter *e, void *data)
{
	struct admin *a = data;
	struct sd_group_stats st;
	sd_kh_group_stats(a->b, &st);
	for (int s = 0; s < CG_DEAD; s++) {
		const char *l[1] = {cg_state_name((enum cg_state)s)};
		sd_metric_emit(e, l, (double)st.groups[s]);
	}
}

static void collect_rebalances(struct sd_metric_emitter *e, void *data)
{
	struct admin *a = data;
	struct sd_group_stats st;
	sd_kh_group_stats(a->b, &st);
	sd_metric_emit(e, NULL, (double)st.rebalances);
}

static void collect_commits(struct sd_metric_emitter *e, void *data)
{
	struct admin *a = data;
	struct sd_group_stats st;
	sd_kh_group_stats(a->b, &st);
	const char *ok[1] = {"ok"}, *err[1] = {"error"};
	sd_metric_emit(e, ok, (double)st.commits_ok);
	sd_metric_emit(e, err, (double)st.commits_failed);
}

static void collect_coordinators(struct sd_metric_emitter *e, void *data)
{
	struct admin *a = data;
	struct sd_group_stats st;
	sd_kh_group_stats(a->b, &st);
	const char *l1[1] = {"loading"}, *l2[1] = {"ready"};
	sd_metric_emit(e, l1, (double)st.partitions_loading);
	sd_metric_emit(e, l2, (double)st.partitions_ready);
}

static void collect_expired(struct sd_metric_emitter *e, void *data)
{
	struct admin *a = data;
	struct sd_group_stats st;
	sd_kh_group_stats(a->b, &st);
	sd_metric_emit(e, NULL, (double)st.members_expired);
}

static int register_groups(struct admin *a)
{
	static const char *state[1] = {"state"};
	static const char *result[1] = {"result"};
	struct sd_metrics *m = a->b->metrics;
	return reg(m, "stretchlog_consumer_groups", "Consumer groups coordinated here, by state",
		   SD_METRIC_GAUGE, state, 1, collect_groups, a, NULL) ||
	       reg(m, "stretchlog_consumer_group_rebalances_total",
		   "Rebalances completed by groups coordinated here", SD_METRIC_COUNTER, NULL, 0,
		   collect_rebalances, a, NULL) ||
	       reg(m, "stretchlog_consumer_group_members_expired_total",
		   "Group members removed at session (or sync) timeout", SD_METRIC_COUNTER, NULL, 0,
		   collect_expired, a, NULL) ||
	       reg(m, "stretchlog_offset_commits_total",
		   "Partitions of OffsetCommit requests, by result", SD_METRIC_COUNTER, result, 1,
		   collect_commits, a, NULL) ||
	       reg(m, "stretchlog_group_coordinator_partitions",
		   "__consumer_offsets partitions this broker coordinates, loading or ready",
		   SD_METRIC_GAUGE, state, 1, collect_coordinators, a, NULL);
}

/* ---- Locality -------------------------------------------------------------- */

void sd_admin_consumer_bytes(struct sd_broker *b, enum sd_loc_where w, const char *client_rack,
			     uint64_t bytes)
{
	struct admin *a = &g_admin;
	if (a->b != b || a->consumer_bytes == NULL || w > SD_LOC_UNKNOWN) {
		return;
	}
	sd_counter_add(a->where[w], bytes);
	const char *l[1] = {client_rack != NULL && client_rack[0] != '\0' ? client_rack : "none"};
	sd_counter_add(sd_metric_series(a->consumer_rack_bytes, l), bytes);
}

void sd_admin_redirect(struct sd_broker *b)
{
	struct admin *a = &g_admin;
	if (a->b == b && a->redirects_total != NULL) {
		sd_counter_inc(a->redirects_total);
	}
}

void sd_admin_visibility(struct sd_broker *b, bool leader, double seconds)
{
	struct admin *a = &g_admin;
	if (a->b != b || a->visibility == NULL) {
		return;
	}
	const char *l[1] = {leader ? "leader" : "follower"};
	sd_histogram_observe(sd_metric_series(a->visibility, l), seconds);
}

/* Partitions led here, gathered for per-topic counts. */
struct led_list {
	struct sd_loc_led *v;
	size_t n, cap;
};

static void led_add(void *arg, const struct sd_loc_led *l)
{
	struct led_list *ll = arg;
	if (ll->n == ll->cap) {
		size_t cap = ll->cap ? ll->cap * 2 : 64;
		struct sd_loc_led *v = sl_realloc(ll->v, cap * sizeof(*v));
		if (v == NULL) {
			return;
		}
		ll->v = v;
		ll->cap = cap;
	}
	ll->v[ll->n++] = *l;
}

static int led_cmp(const void *x, const void *y)
{
	const struct sd_loc_led *a = x, *b = y;
	return strcmp(a->topic, b->topic);
}

enum { LED_LEADERS, LED_PINNING };

/* Emits one series per topic (and, for pinning, per state). */
static void collect_led(struct sd_metric_emitter *e, struct admin *a, int kind)
{
	struct led_list ll = {0};
	sd_loc_foreach_led(a->b, led_add, &ll);
	if (ll.n > 1) {
		qsort(ll.v, ll.n, sizeof(*ll.v), led_cmp);
	}
	for (size_t i = 0; i < ll.n;) {
		size_t j = i;
		double n = 0, ok = 0, undecided = 0;
		for (; j < ll.n && strcmp(ll.v[j].topic, ll.v[i].topic) == 0; j++) {
			n++;
			ok += ll.v[j].compliant;
			undecided += !ll.v[j].decided;
		}
		if (kind == LED_LEADERS) {
			const char *l[2] = {ll.v[i].topic, a->b->region};
			sd_metric_emit(e, l, n);
		} else {
			const char *l1[2] = {ll.v[i].topic, "compliant"};
			const char *l2[2] = {ll.v[i].topic, "noncompliant"};
			const char *l3[2] = {ll.v[i].topic, "unevaluated"};
			sd_metric_emit(e, l1, ok);
			sd_metric_emit(e, l2, n - ok - undecided);
			sd_metric_emit(e, l3, undecided);
		}
		i = j;
	}
	sl_free(ll.v);
}

static void collect_leaders_region(struct sd_metric_emitter *e, void *data)
{
	collect_led(e, data, LED_LEADERS);
}

static void collect_pinning(struct sd_metric_emitter *e, void *data)
{
	collect_led(e, data, LED_PINNING);
}

static int register_locality(struct admin *a)
{
	static const char *where[1] = {"locality"};
	static const char *rack[1] = {"client_rack"};
	static const char *role[1] = {"role"};
	static const char *tr[2] = {"topic", "region"};
	static const char *ts[2] = {"topic", "state"};
	struct sd_metrics *m = a->b->metrics;
	struct sd_metric *leaders, *pinning;
	struct sd_metric_desc d = {
		.name = "stretchlog_consumer_bytes_by_rack_total",
		.help = "Record bytes served to consumers, by the client rack of Fetch v11 (none: "
			"not given)",
		.type = SD_METRIC_COUNTER, .label_names = rack, .n_labels = 1, .series_max = 256,
	};
	if (reg(m, "stretchlog_consumer_bytes_total",
		"Record bytes served to consumers, by client locality against this broker",
		SD_METRIC_COUNTER, where, 1, NULL, NULL, &a->consumer_bytes) != 0 ||
	    sd_metrics_register(m, &d, &a->consumer_rack_bytes) != 0 ||
	    reg(m, "stretchlog_preferred_replica_redirects_total",
		"Fetch partitions answered with a preferred read replica (KIP-392)",
		SD_METRIC_COUNTER, NULL, 0, NULL, NULL, &a->redirects) != 0 ||
	    reg(m, "stretchlog_visibility_lag_seconds",
		"Producer timestamp to committed (leader) or visible (follower) of the newest "
		"batch each high-watermark advance exposes",
		SD_METRIC_HISTOGRAM, role, 1, NULL, NULL, &a->visibility) != 0 ||
	    reg(m, "stretchlog_partition_leaders", "Partitions led by this broker, by topic and "
		"region (sum over brokers for the cluster)", SD_METRIC_GAUGE, tr, 2,
		collect_leaders_region, a, &leaders) != 0 ||
	    reg(m, "stretchlog_pinning_partitions",
		"Partitions led here whose leader is (compliant) or is not in the best preferred "
		"rank any live voter has", SD_METRIC_GAUGE, ts, 2, collect_pinning, a,
		&pinning) != 0) {
		return -1;
	}
	for (int w = 0; w <= SD_LOC_UNKNOWN; w++) {
		const char *l[1] = {sd_loc_where_str((enum sd_loc_where)w)};
		a->where[w] = sd_metric_series(a->consumer_bytes, l);
	}
	a->redirects_total = sd_metric_series(a->redirects, NULL);
	return 0;
}

static int reg(struct sd_metrics *m, const char *name, const char *help, enum sd_metric_type type,
	       const char *const *labels, int n, sd_metric_collect_fn fn, void *data,
	       struct sd_metric **out)
{
	struct sd_metric_desc d = {
		.name = name, .help = help, .type = type, .label_names = labels, .n_labels = n,
		.collect = fn, .collect_data = data,
	};
	if (type == SD_METRIC_HISTOGRAM) {
		d.buckets = sd_metrics_latency_seconds_buckets;
		d.n_buckets = sd_metrics_latency_seconds_buckets_count;
	}
	struct sd_metric *tmp;
	int rv = sd_metrics_register(m, &d, out ? out : &tmp);
	if (rv != 0) {
		fprintf(stderr, "stretchlogd: metrics: %s\n", sd_metrics_errmsg(m));
	}
	return rv;
}

static int register_metrics(struct admin *a)
{
	static const char *api[1] = {"api"};
	static const char *kind[1] = {"kind"};
	static const char *dir[1] = {"direction"};
	static const char *tp[2] = {"topic", "partition"};
	static const char *tpf[3] = {"topic", "partition", "follower"};
	struct sd_metrics *m = a->b->metrics;
	return reg(m, "stretchlog_kafka_requests_total", "Kafka requests handled, by API",
		   SD_METRIC_COUNTER, api, 1, NULL, NULL, &a->requests) ||
	       reg(m, "stretchlog_kafka_request_seconds", "Kafka request latency, by API",
		   SD_METRIC_HISTOGRAM, api, 1, NULL, NULL, &a->latency) ||
	       reg(m, "stretchlog_kafka_bytes_in_total", "Kafka request bytes received, by API",
		   SD_METRIC_COUNTER, api, 1, NULL, NULL, &a->bytes_in) ||
	       reg(m, "stretchlog_kafka_bytes_out_total", "Kafka response bytes sent, by API",
		   SD_METRIC_COUNTER, api, 1, NULL, NULL, &a->bytes_out) ||
	       reg(m, "stretchlog_partitions", "Partitions hosted, led and under-replicated",
		   SD_METRIC_GAUGE, kind, 1, collect_counts, a, NULL) ||
	       reg(m, "stretchlog_follower_lag_entries",
		   "Raft entries each follower is behind the leader", SD_METRIC_GAUGE, tpf, 3,
		   collect_lag, a, NULL) ||
	       reg(m, "stretchlog_partition_high_watermark", "High watermark per partition",
		   SD_METRIC_GAUGE, tp, 2, collect_hwm, a, NULL) ||
	       reg(m, "stretchlog_partition_log_start_offset",
		   "Log start offset per hosted partition (advanced by retention)", SD_METRIC_GAUGE,
		   tp, 2, collect_start, a, NULL) ||
	       reg(m, "stretchlog_retention_deleted_total",
		   "Segment files and bytes deleted by retention on this broker", SD_METRIC_COUNTER,
		   kind, 1, collect_retention, a, NULL) ||
	       reg(m, "stretchlog_retention_failures_total",
		   "Retention passes refused or failed (storage errors)", SD_METRIC_COUNTER, NULL,
		   0, collect_retention_failures, a, NULL) ||
	       reg(m, "stretchlog_rpc_bytes_total", "Inter-broker bytes", SD_METRIC_COUNTER, dir,
		   1, collect_transport, a, NULL) ||
	       reg(m, "stretchlog_rpc_idle_timeouts_total",
		   "Inter-broker connections closed because the peer sent nothing for "
		   "transport.idle.timeout.ms (a frozen or unreachable broker)",
		   SD_METRIC_COUNTER, NULL, 0, collect_idle_timeouts, a, NULL) ||
	       reg(m, "stretchlog_controller_leader", "1 if this broker leads the controller",
		   SD_METRIC_GAUGE, NULL, 0, collect_controller, a, NULL) ||
	       register_locality(a) || register_groups(a);
}

/* ---- Routes ---------------------------------------------------------------- */

static void get_metrics(const struct sd_http_request *req, struct sd_http_response *resp,
			void *data)
{
	(void)req;
	struct admin *a = data;
	sd_http_response_type(resp, SD_METRICS_CONTENT_TYPE);
	if (sd_metrics_render(a->b->metrics, &resp->body) != 0) {
		sd_http_response_error(resp, 500, "metrics do not fit");
	}
}

static void status_part(struct sd_part *p, void *arg)
{
	struct sd_json *j = arg;
	struct sd_partition *sp = sd_part_data(p);
	struct rl_group *g = sd_part_group(p);
	if (sp == NULL || g == NULL) {
		return;
	}
	struct rl_group_status st;
	rl_group_get_status(g, &st);
	sd_json_object_begin(j);
	sd_json_kv_str(j, "topic", sp->topic);
	sd_json_kv_int(j, "partition", sp->index);
	sd_json_kv_uint(j, "group", sp->group_id);
	sd_json_kv_str(j, "role", st.role == RAFT_LEADER ? "leader" : "follower");
	sd_json_kv_uint(j, "term", st.term);
	sd_json_kv_int(j, "leader", st.role == RAFT_LEADER ? sp->b->id : (int64_t)st.leader_id);
	sd_json_kv_int(j, "high_watermark", st.hwm);
	sd_json_kv_int(j, "log_start_offset", st.start_offset);
	sd_json_kv_int(j, "log_end_offset", st.next_offset);
	sd_json_object_end(j);
}

static void get_status(const struct sd_http_request *req, struct sd_http_response *resp,
		       void *data)
{
	(void)req;
	struct admin *a = data;
	struct sd_broker *b = a->b;
	const struct sd_ctl_state *s = sd_controller_state(b);
	struct sd_json j;
	sd_http_response_type(resp, "application/json");
	sd_json_init(&j, &resp->body);
	sd_json_object_begin(&j);
	sd_json_kv_int(&j, "node_id", b->id);
	sd_json_kv_str(&j, "region", b->region);
	sd_json_kv_str(&j, "rack", b->rack);
	sd_json_kv_str(&j, "cluster_id", b->cluster_id);
	sd_json_kv_int(&j, "controller_leader", sd_controller_leader(b));
	sd_json_kv_uint(&j, "controller_applied_index", sd_ctl_state_applied_index(s));
	sd_json_key(&j, "brokers");
	sd_json_array_begin(&j);
	for (int32_t i = 0; i < sd_ctl_state_broker_count(s); i++) {
		const struct sd_ctl_broker *br = sd_ctl_state_broker_at(s, i);
		sd_json_object_begin(&j);
		sd_json_kv_int(&j, "id", br->id);
		sd_json_kv_str(&j, "region", br->region);
		sd_json_kv_str(&j, "rack", br->rack);
		sd_json_kv_str(&j, "host", br->kafka.host);
		sd_json_kv_int(&j, "port", br->kafka.port);
		sd_json_object_end(&j);
	}
	sd_json_array_end(&j);
	sd_json_key(&j, "topics");
	sd_json_array_begin(&j);
	for (int32_t i = 0; i < sd_ctl_state_topic_count(s); i++) {
		const struct sd_ctl_topic *t = sd_ctl_state_topic_at(s, i);
		sd_json_object_begin(&j);
		sd_json_kv_str(&j, "name", t->name);
		sd_json_kv_int(&j, "partitions", t->n_partitions);
		sd_json_kv_int(&j, "replication_factor", t->replication_factor);
		sd_json_object_end(&j);
	}
	sd_json_array_end(&j);
	sd_json_key(&j, "partitions");
	sd_json_array_begin(&j);
	sd_pm_foreach(b->pm, status_part, &j);
	sd_json_array_end(&j);
	sd_json_object_end(&j);
}

static void get_explain(const struct sd_http_request *req, struct sd_http_response *resp,
			void *data)
{
	struct admin *a = data;
	char topic[SD_CTL_TOPIC_NAME_MAX + 1], part[16], rack[SD_LOC_RACK_BYTES], off[24];
	if (sd_http_query_get(req->query, "topic", topic, sizeof(topic)) < 1 ||
	    sd_http_query_get(req->query, "partition", part, sizeof(part)) < 1) {
		sd_http_response_error(resp, 400, "topic and partition are required");
		return;
	}
	char *end;
	long p = strtol(part, &end, 10);
	int64_t offset = -1;
	if (*end != '\0' || p < 0 || p > INT32_MAX) {
		sd_http_response_error(resp, 400, "partition must be a non-negative integer");
		return;
	}
	if (sd_http_query_get(req->query, "offset", off, sizeof(off)) >= 1) {
		offset = strtoll(off, &end, 10);
		if (*end != '\0' || offset < 0) {
			sd_http_response_error(resp, 400, "offset must be a non-negative integer");
			return;
		}
	}
	bool has_rack = sd_http_query_get(req->query, "client_rack", rack, sizeof(rack)) >= 0;
	struct sd_json j;
	char msg[128];
	sd_http_response_type(resp, "application/json");
	sd_json_init(&j, &resp->body);
	int status = sd_loc_explain(a->b, topic, (int32_t)p, has_rack ? rack : NULL, offset, &j,
				    msg, sizeof(msg));
	if (status != 200) {
		sd_http_response_error(resp, status, msg);
	}
}

int sd_admin_start(struct sd_broker *b)
{
	struct admin *a = &g_admin;
	a->b = b;
	if (sd_metrics_new(&b->metrics) != 0 ||
	    sd_metrics_set_series_max(b->metrics, (int)sd_config_int(b->cfg,
							       "metrics.series.per.metric.max")) !=
		0 ||
	    register_metrics(a) != 0) {
		return -1;
	}
	sk_server_set_observer(b->kafka, observe, a);
	struct sd_endpoint ep;
	sd_config_endpoint(b->cfg, "admin.listener", &ep);
	struct sd_http_config hc;
	sd_config_http(b->cfg, &hc);
	if (sd_http_init(&a->http, b->loop, &hc) != 0 ||
	    sd_http_route(&a->http, "GET", "/metrics", get_metrics, a) != 0 ||
	    sd_http_route(&a->http, "GET", "/v1/status", get_status, a) != 0 ||
	    sd_http_route(&a->http, "GET", "/v1/explain", get_explain, a) != 0) {
		fprintf(stderr, "stretchlogd: admin http: setup failed\n");
		return -1;
	}
	if (sd_http_listen(&a->http, ep.wildcard ? "" : ep.host, ep.port) != 0) {
		fprintf(stderr, "stretchlogd: admin.listener: %s\n", sd_http_errmsg(&a->http));
		return -1;
	}
	b->http = &a->http;
	return 0;
}

void sd_admin_stop(struct sd_broker *b)
{
	if (b->http != NULL) {
		sd_http_close(b->http, NULL);
		b->http = NULL;
	}
}

void sd_admin_free(struct sd_broker *b)
{
	sd_metrics_free(b->metrics);
	b->metrics = NULL;
}
