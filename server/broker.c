/* stretchlogd's broker: wires configuration, transport, partition manager,
 * controller, Kafka listener and admin HTTP onto one libuv loop.
 *
 * Happy path: sd_broker_run() reads the validated configuration, listens on
 * the RPC port, starts the partition manager (one disk writer thread) and
 * the controller (group 0), then the Kafka and admin listeners, and runs the
 * loop. Partitions are opened as the controller log is applied. SIGTERM (or
 * SIGINT) starts a drain: the Kafka listener stops accepting and reading,
 * and each connection closes once it has answered what it received
 * (sk_server_drain()); after shutdown.drain.timeout.ms (0: at once) the
 * remaining connections are closed and their pending requests completed
 * and discarded (sk_server_close()). Then every group closes (pending storage work completes and is synced),
 * then the transport, and the process exits 0.
 * Failure modes: a listener that cannot bind, or a data directory that
 * cannot be opened, stops startup with a message on stderr and exit code 1;
 * a partition whose storage fails later is logged and stops serving (its
 * replicas elsewhere take over). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/sl_common.h"
#include "server/broker.h"
#include "server/kafka_conn.h"

/* ---- Leader table ------------------------------------------------------- */

struct leader_slot {
	uint64_t term;
	int32_t leader;
};

struct sd_leaders {
	struct leader_slot *v;
	uint64_t cap;
};

#define LEADERS_GROUP_ID_MAX (1ull << 24)

void sd_leader_note(struct sd_broker *b, uint64_t group_id, uint64_t term, int32_t leader)
{
	struct sd_leaders *l = b->leaders;
	if (group_id >= LEADERS_GROUP_ID_MAX) {
		return;
	}
	if (group_id >= l->cap) {
		uint64_t cap = l->cap ? l->cap : 256;
		while (cap <= group_id) {
			cap *= 2;
		}
		struct leader_slot *v = sl_realloc(l->v, cap * sizeof(*v));
		if (v == NULL) {
			return;
		}
		for (uint64_t i = l->cap; i < cap; i++) {
			v[i] = (struct leader_slot){0, -1};
		}
		l->v = v;
		l->cap = cap;
	}
	struct leader_slot *s = &l->v[group_id];
	if (term > s->term || (term == s->term && s->leader < 0)) {
		s->term = term;
		s->leader = leader;
	}
}

int32_t sd_leader_of(struct sd_broker *b, uint64_t group_id, uint64_t *term)
{
	struct sd_leaders *l = b->leaders;
	int32_t leader = -1;
	uint64_t t = 0;
	if (group_id < l->cap) {
		leader = l->v[group_id].leader;
		t = l->v[group_id].term;
	}
	/* A local replica knows at least as much for its own term. */
	struct sd_part *p = sd_pm_get(b->pm, group_id);
	struct rl_group *g = p ? sd_part_group(p) : NULL;
	if (g != NULL) {
		struct rl_group_status st;
		rl_group_get_status(g, &st);
		if (st.term >= t) {
			if (st.role == RAFT_LEADER) {
				leader = b->id;
				t = st.term;
			} else if (st.leader_id != 0) {
				leader = (int32_t)st.leader_id;
				t = st.term;
			} else if (st.term > t) {
				leader = -1;
			}
		}
	}
	if (term != NULL) {
		*term = t;
	}
	return leader;
}

/* ---- Partitions ------------------------------------------------------------ */

bool sd_partition_view(struct sd_broker *b, const char *topic, int32_t index,
		       struct sd_partition_view *v)
{
	memset(v, 0, sizeof(*v));
	v->topic = sd_ctl_state_topic_find(sd_controller_state(b), topic);
	if (v->topic == NULL || index < 0 || index >= v->topic->n_partitions) {
		return false;
	}
	struct sd_part *p = sd_pm_get(b->pm, v->topic->partitions[index].group_id);
	v->sp = p != NULL ? sd_part_data(p) : NULL;
	v->g = v->sp != NULL ? sd_part_group(p) : NULL;
	if (v->g != NULL) {
		rl_group_get_status(v->g, &v->st);
	}
	return true;
}

struct sd_partition *sd_partition_find(struct sd_broker *b, const char *topic, int32_t index)
{
	struct sd_partition_view v;
	return sd_partition_view(b, topic, index, &v) ? v.sp : NULL;
}

int sd_broker_open_partition(struct sd_broker *b, const struct sd_ctl_local *l, bool bootstrap)
{
	struct sd_partition *sp = sl_calloc(1, sizeof(*sp));
	if (sp == NULL) {
		return RL_ENOMEM;
	}
	sp->b = b;
	sp->group_id = l->group_id;
	snprintf(sp->topic, sizeof(sp->topic), "%s", l->topic);
	sp->index = l->partition;
	sp->n_replicas = l->n_replicas;
	memcpy(sp->replicas, l->replicas, sizeof(sp->replicas));
	uint64_t voters[SD_CTL_REPLICAS_MAX];
	for (int32_t i = 0; i < l->n_replicas; i++) {
		voters[i] = (uint64_t)l->replicas[i];
	}
	char dir[SD_CTL_TOPIC_NAME_MAX + 48];
	snprintf(dir, sizeof(dir), "%s-%d.g%llu", l->topic, l->partition,
		 (unsigned long long)l->group_id);
	struct sd_part_opts o = {
		.group_id = l->group_id,
		.dir_name = dir,
		.voters = bootstrap ? voters : NULL,
		.n_voters = bootstrap ? (unsigned)l->n_replicas : 0,
		/* Voters in preferred places time out first (leader pinning). */
		.election_timeout_ms =
		    sd_loc_election_timeout_ms(b, l->topic, l->replicas, l->n_replicas),
	};
	struct sd_topic_config tc;
	if (sd_topic_effective_config(b, l->topic, &tc)) {
		o.segment_bytes_max = (uint64_t)tc.segment_bytes; /* new segments only */
	}
	char err[256] = "";
	int rv = sd_pm_open_partition(b->pm, &o, &sp->part, err, sizeof(err));
	if (rv != 0) {
		SL_LOG(SL_LOG_ERROR, "partition=%s/%d group=%llu event=open_failed err=%s msg=\"%s\"",
		       l->topic, l->partition, (unsigned long long)l->group_id, rl_err_name(rv),
		       err);
		sl_free(sp);
		return rv;
	}
	sd_part_set_data(sp->part, sp);
	SL_LOG(SL_LOG_INFO,
	       "partition=%s/%d group=%llu event=partition_opened election_timeout_ms=%u",
	       l->topic, l->partition, (unsigned long long)l->group_id, o.election_timeout_ms);
	return 0;
}

void sd_broker_close_partition(struct sd_broker *b, uint64_t group_id, bool delete_data)
{
	struct sd_part *p = sd_pm_get(b->pm, group_id);
	if (p == NULL) {
		return;
	}
	struct sd_partition *sp = sd_part_data(p);
	if (sp != NULL) {
		sd_kh_fetch_drop_all(sp);
		sd_kh_group_drop(sp);
		SL_LOG(SL_LOG_INFO, "partition=%s/%d group=%llu event=partition_closed deleted=%d",
		       sp->topic, sp->index, (unsigned long long)group_id, delete_data);
		sl_free(sp);
	}
	sd_part_set_data(p, NULL);
	sd_pm_close_partition(p, delete_data);
}

/* ---- Partition manager callbacks ---------------------------------------- */

static struct sd_broker *broker_of(struct sd_part *p)
{
	return sd_pm_data(sd_part_pm(p));
}

static void on_role(struct sd_part *p, int old_role, int new_role)
{
	struct sd_broker *b = broker_of(p);
	(void)old_role;
	if (sd_part_group_id(p) == SD_CTL_CONTROLLER_GROUP_ID) {
		sd_controller_on_role(b, new_role);
		return;
	}
	struct sd_partition *sp = sd_part_data(p);
	struct rl_group_status st;
	rl_group_get_status(sd_part_group(p), &st);
	if (new_role == RAFT_LEADER) {
		sd_leader_note(b, sd_part_group_id(p), st.term, b->id);
	}
	if (sp != NULL) {
		SL_LOG(SL_LOG_INFO, "partition=%s/%d term=%llu event=%s", sp->topic, sp->index,
		       (unsigned long long)st.term,
		       new_role == RAFT_LEADER ? "leader_elected" : "leadership_lost");
		sd_kh_fetch_wake(sp);
		sd_kh_group_event(sp);
	}
}

static void on_hwm(struct sd_part *p, int64_t hwm)
{
	(void)hwm;
	struct sd_broker *b = broker_of(p);
	if (sd_part_group_id(p) == SD_CTL_CONTROLLER_GROUP_ID) {
		sd_controller_on_hwm(b);
		return;
	}
	struct sd_partition *sp = sd_part_data(p);
	if (sp != NULL) {
		sd_kh_fetch_wake(sp);
		sd_kh_group_event(sp);
	}
}

static void on_failed(struct sd_part *p, int err, const char *msg)
{
	SL_LOG(SL_LOG_ERROR, "group=%llu event=partition_failed err=%s msg=\"%s\"",
	       (unsigned long long)sd_part_group_id(p), rl_err_name(err), msg);
}

static void on_control(struct sd_pm *pm, uint64_t peer, uint64_t group_id, const uint8_t *buf,
		       size_t len)
{
	struct sd_broker *b = sd_pm_data(pm);
	if (group_id == SD_CTL_CONTROLLER_GROUP_ID) {
		sd_controller_on_control(b, peer, buf, len);
	}
}

static void on_frame(struct sl_transport *t, const struct sl_transport_frame *f)
{
	struct sd_broker *b = t->data;
	sd_pm_recv(b->pm, f);
}

/* ---- Shutdown ------------------------------------------------------------- */

static void close_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h)) {
		uv_close(h, NULL);
	}
}

static void transport_closed(struct sl_transport *t)
{
	struct sd_broker *b = t->data;
	SL_LOG(SL_LOG_INFO, "broker=%d event=stopped", b->id);
	uv_walk(b->loop, close_handle, NULL);
}

static void pm_closed(void *arg)
{
	struct sd_broker *b = arg;
	b->pm = NULL;
	sd_controller_stop(b);
	sl_transport_close(&b->transport, transport_closed);
}

static void release_partition(struct sd_part *p, void *arg)
{
	(void)arg;
	struct sd_partition *sp = sd_part_data(p);
	if (sp != NULL && sd_part_group_id(p) != SD_CTL_CONTROLLER_GROUP_ID) {
		sd_kh_fetch_drop_all(sp);
		sd_kh_group_drop(sp);
		sd_part_set_data(p, NULL);
		sl_free(sp);
	}
}

static void kafka_closed(struct sk_server *srv, void *data)
{
	(void)srv;
	struct sd_broker *b = data;
	b->kafka = NULL;
	uv_close((uv_handle_t *)&b->drain_timer, NULL);
	sd_pm_foreach(b->pm, release_partition, NULL);
	sd_kh_group_stop(b);
	sd_controller_quiesce(b);
	sd_pm_close(b->pm, pm_closed, b);
}

/* Every Kafka connection has answered what it received and closed. */
static void kafka_drained(struct sk_server *srv, void *data)
{
	struct sd_broker *b = data;
	uv_timer_stop(&b->drain_timer);
	SL_LOG(SL_LOG_INFO, "broker=%d event=drained", b->id);
	sk_server_close(srv, kafka_closed, b);
}

/* shutdown.drain.timeout.ms passed: close the connections still owing
 * answers (their pending requests are completed and discarded) and go on. */
static void on_drain_timeout(uv_timer_t *t)
{
	struct sd_broker *b = t->data;
	SL_LOG(SL_LOG_WARN, "broker=%d event=drain_timeout timeout_ms=%lld", b->id,
	       (long long)sd_config_int(b->cfg, "shutdown.drain.timeout.ms"));
	sk_server_close(b->kafka, kafka_closed, b);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct sd_broker *b = h->data;
	if (b->stopping) {
		return;
	}
	b->stopping = true;
	SL_LOG(SL_LOG_INFO, "broker=%d event=draining signal=%d", b->id, signum);
	uv_signal_stop(&b->sigterm);
	uv_signal_stop(&b->sigint);
	uv_timer_stop(&b->housekeeping);
	sd_locality_stop(b);
	sd_retention_stop(b);
	sd_admin_stop(b);
	uv_timer_init(b->loop, &b->drain_timer);
	b->drain_timer.data = b;
	uint64_t drain_ms = (uint64_t)sd_config_int(b->cfg, "shutdown.drain.timeout.ms");
	if (b->kafka == NULL) {
		kafka_closed(NULL, b);
	} else if (drain_ms == 0) {
		sk_server_close(b->kafka, kafka_closed, b);
	} else {
		uv_timer_start(&b->drain_timer, on_drain_timeout, drain_ms, 0);
		sk_server_drain(b->kafka, kafka_drained, b);
	}
}

/* ---- Startup --------------------------------------------------------------- */

static int start_transport(struct sd_broker *b)
{
	struct sl_transport_config tc;
	sd_config_transport(b->cfg, &tc);
	tc.cluster_id = b->cluster_id;
	struct sl_transport_callbacks cb = {.recv = on_frame, .peer = NULL};
	const char *host = b->rpc_ep.wildcard ? "0.0.0.0" : b->rpc_ep.host;
	b->transport.data = b;
	int rv = sl_transport_init(&b->transport, b->loop, (uint64_t)b->id, host, b->rpc_ep.port,
				   &tc, &cb);
	if (rv == 0) {
		rv = sl_transport_listen(&b->transport);
		if (rv != 0) {
			fprintf(stderr, "stretchlogd: rpc.listener: %s\n",
				sl_transport_errmsg(&b->transport));
			return rv;
		}
		if (b->rpc_ep.port == 0) {
			b->rpc_ep.port = sl_transport_port(&b->transport);
		}
	}
	return rv;
}

static int start_pm(struct sd_broker *b)
{
	struct sd_pm_config pc;
	sd_pm_config_default(&pc);
	pc.self_id = (uint64_t)b->id;
	const char *const *dirs;
	if (sd_config_list(b->cfg, "log.dirs", &dirs) < 1) {
		fprintf(stderr, "stretchlogd: log.dirs is empty\n");
		return -1;
	}
	pc.data_dir = dirs[0];
	pc.segment_bytes_max = (uint64_t)sd_config_int(b->cfg, "log.segment.bytes");
	pc.batch_bytes_max = (uint32_t)sd_config_int(b->cfg, "message.max.bytes");
	pc.group.election_timeout_ms = (unsigned)sd_config_int(b->cfg, "raft.election.timeout.ms");
	/* Rank timeouts only add to the base: no voter times out sooner (the
	 * groups' vote guard, raftlog/group.h). */
	pc.group.min_election_timeout_ms = pc.group.election_timeout_ms;
	pc.group.heartbeat_timeout_ms =
		(unsigned)sd_config_int(b->cfg, "raft.heartbeat.interval.ms");
	pc.group.snapshot_threshold =
		(unsigned)sd_config_int(b->cfg, "raft.snapshot.interval.entries");
	pc.group.snapshot_trailing =
		(unsigned)sd_config_int(b->cfg, "raft.snapshot.trailing.entries");
	pc.group.max_inflight_entries = (unsigned)sd_config_int(b->cfg, "raft.max.inflight.entries");
	pc.group.coalesce_bytes_max = (uint32_t)sd_config_int(b->cfg, "raft.coalesce.max.bytes");
	pc.group.append_bytes_max = (uint32_t)sd_config_int(b->cfg, "raft.append.max.bytes");
	pc.no_sync = !sd_config_bool(b->cfg, "log.flush.fsync.enable");
	pc.catchup_bytes_per_sec = (uint64_t)sd_config_int(b->cfg, "replica.catchup.bytes.per.sec");
	struct sd_pm_callbacks cbs = {
		.data = b,
		.role_changed = on_role,
		.hwm_changed = on_hwm,
		.failed = on_failed,
		.control = on_control,
	};
	int rv = sd_pm_create(b->loop, &b->transport, &pc, &cbs, &b->pm);
	if (rv != 0) {
		fprintf(stderr, "stretchlogd: log.dirs %s: %s\n", pc.data_dir, rl_strerror(rv));
	}
	return rv;
}

static int start_kafka(struct sd_broker *b)
{
	struct sd_listener ls[SD_LISTENERS_MAX];
	int n = sd_config_listeners(b->cfg, ls);
	struct sk_config kc;
	sd_config_kafka(b->cfg, &kc);
	int rv = sk_server_create(b->loop, &kc, &b->kafka);
	if (rv != 0 || n < 1) {
		fprintf(stderr, "stretchlogd: kafka listener: %s\n", sk_strerror(rv));
		return -1;
	}
	sd_kh_register(b);
	const char *host = ls[0].ep.wildcard ? "0.0.0.0" : ls[0].ep.host;
	rv = sk_server_listen(b->kafka, host, ls[0].ep.port);
	if (rv != 0) {
		fprintf(stderr, "stretchlogd: listeners %s:%u: %s\n", host, ls[0].ep.port,
			sk_server_errmsg(b->kafka));
		return -1;
	}
	struct sd_listener adv[SD_LISTENERS_MAX];
	int na = sd_config_advertised_listeners(b->cfg, adv);
	b->kafka_adv = na > 0 ? adv[0].ep : ls[0].ep;
	if (b->kafka_adv.port == 0) {
		b->kafka_adv.port = sk_server_port(b->kafka);
	}
	if (b->kafka_adv.wildcard) {
		snprintf(b->kafka_adv.host, sizeof(b->kafka_adv.host), "127.0.0.1");
	}
	return 0;
}

static void housekeeping(uv_timer_t *t)
{
	(void)t;
}

int sd_broker_run(struct sd_config *cfg);
int sd_broker_run(struct sd_config *cfg)
{
	static struct sd_broker broker;
	static struct sd_leaders leaders;
	struct sd_broker *b = &broker;
	uv_loop_t loop;
	uv_loop_init(&loop);
	b->loop = &loop;
	b->cfg = cfg;
	b->leaders = &leaders;
	b->id = (int32_t)sd_config_int(cfg, "node.id");
	b->region = sd_config_str(cfg, "broker.region");
	b->rack = sd_config_str(cfg, "broker.rack");
	b->cluster_id = sd_config_str(cfg, "cluster.id");
	b->incarnation = sl_now_wall_ms();
	sd_config_endpoint(cfg, "rpc.listener", &b->rpc_ep);
	if (b->rpc_ep.wildcard) {
		snprintf(b->rpc_ep.host, sizeof(b->rpc_ep.host), "127.0.0.1");
	}
	if (start_transport(b) != 0 || start_pm(b) != 0 || start_kafka(b) != 0 ||
	    sd_controller_start(b) != 0 || sd_admin_start(b) != 0 || sd_locality_start(b) != 0 ||
	    sd_retention_start(b) != 0) {
		return 1;
	}
	uv_signal_init(&loop, &b->sigterm);
	b->sigterm.data = b;
	uv_signal_start(&b->sigterm, on_signal, SIGTERM);
	uv_signal_init(&loop, &b->sigint);
	b->sigint.data = b;
	uv_signal_start(&b->sigint, on_signal, SIGINT);
	uv_timer_init(&loop, &b->housekeeping);
	uv_timer_start(&b->housekeeping, housekeeping, 1000, 1000);
	SL_LOG(SL_LOG_INFO,
	       "broker=%d event=started region=%s rack=%s kafka=%s:%u rpc=%s:%u cluster=%s", b->id,
	       b->region, b->rack, b->kafka_adv.host, b->kafka_adv.port, b->rpc_ep.host,
	       b->rpc_ep.port, b->cluster_id);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	sd_locality_free(b);
	sd_admin_free(b);
	sl_free(leaders.v);
	return b->exit_code;
}
