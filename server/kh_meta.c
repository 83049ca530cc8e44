/* Kafka Metadata (v0-4): brokers with racks, one cluster id, the controller,
 * and for each topic its partitions with leader (learned from the groups and
 * shared between brokers), leader epoch (= Raft term), replicas and ISR.
 *
 * Topics named in the request that do not exist are created with the
 * broker defaults when auto.create.topics.enable is set and the client
 * allows it (v4+; always for older versions), and answered
 * LEADER_NOT_AVAILABLE until their leaders are elected, as Kafka does;
 * otherwise UNKNOWN_TOPIC_OR_PARTITION. */
#include <string.h>

#include "common/sl_common.h"
#include "server/kh.h"

static void auto_created(void *data, int16_t err, const char *msg)
{
	(void)data;
	if (err != 0 && err != 36 /* TOPIC_ALREADY_EXISTS */) {
		SL_LOG(SL_LOG_WARN, "event=auto_create_failed err=%d msg=\"%s\"", err, msg);
	}
}

/* ISR: on the leader, replicas whose match index is within the window of
 * the last index; elsewhere every replica (the leader knows better). */
static int32_t fill_isr(struct sd_broker *b, const struct sd_ctl_partition *p, int32_t *out)
{
	struct sd_part *part = sd_pm_get(b->pm, p->group_id);
	struct rl_group *g = part ? sd_part_group(part) : NULL;
	struct rl_group_status st;
	if (g != NULL) {
		rl_group_get_status(g, &st);
	}
	if (g == NULL || st.role != RAFT_LEADER) {
		memcpy(out, p->replicas, (size_t)p->n_replicas * sizeof(*out));
		return p->n_replicas;
	}
	struct rl_group_progress pr[SD_CTL_REPLICAS_MAX * 2];
	unsigned n = rl_group_progress(g, pr, SD_CTL_REPLICAS_MAX * 2);
	int32_t k = 0;
	uint64_t now = uv_now(b->loop);
	for (unsigned i = 0; i < n && i < SD_CTL_REPLICAS_MAX * 2; i++) {
		bool caught_up = pr[i].id == (uint64_t)b->id ||
				 (pr[i].match_index + 1024 >= st.last_index &&
				  now - pr[i].last_contact_ms < 10000);
		if (pr[i].role == RAFT_VOTER && caught_up && k < SD_CTL_REPLICAS_MAX) {
			out[k++] = (int32_t)pr[i].id;
		}
	}
	return k;
}

static int fill_topic(struct sd_broker *b, struct sk_request *req, const struct sd_ctl_topic *t,
		      struct kmsg_metadata_response_topic *rt)
{
	rt->error_code = 0;
	rt->name = kmsg_str_make(t->name);
	rt->is_internal = strcmp(t->name, SD_OFFSETS_TOPIC) == 0;
	rt->partitions.count = t->n_partitions;
	rt->partitions.items =
		kmsg_arena_alloc(req->arena, (size_t)t->n_partitions * sizeof(*rt->partitions.items));
	if (rt->partitions.items == NULL) {
		return -1;
	}
	for (int32_t i = 0; i < t->n_partitions; i++) {
		const struct sd_ctl_partition *p = &t->partitions[i];
		struct kmsg_metadata_response_partition *rp = &rt->partitions.items[i];
		kmsg_metadata_response_partition_init(rp);
		uint64_t term = 0;
		rp->partition_index = i;
		rp->leader_id = sd_leader_of(b, p->group_id, &term);
		rp->leader_epoch = (int32_t)term;
		rp->error_code = rp->leader_id < 0 ? KE_LEADER_NOT_AVAILABLE : 0;
		int32_t *reps = kmsg_arena_alloc(req->arena, 2 * SD_CTL_REPLICAS_MAX * sizeof(int32_t));
		if (reps == NULL) {
			return -1;
		}
		memcpy(reps, p->replicas, (size_t)p->n_replicas * sizeof(int32_t));
		rp->replica_nodes.items = reps;
		rp->replica_nodes.count = p->n_replicas;
		rp->isr_nodes.items = reps + SD_CTL_REPLICAS_MAX;
		rp->isr_nodes.count = fill_isr(b, p, reps + SD_CTL_REPLICAS_MAX);
		rp->offline_replicas.count = 0;
		rp->offline_replicas.items = NULL;
	}
	return 0;
}

static void auto_create(struct sd_broker *b, const char *name)
{
	struct sd_topic_intent in = {
		.name = name,
		.partitions = -1,
		.replication_factor = -1,
	};
	(void)sd_controller_create_topic(b, &in, auto_created, NULL);
}

static int fill_brokers(struct sd_broker *b, struct sk_request *req,
			struct kmsg_metadata_response *resp)
{
	const struct sd_ctl_state *s = sd_controller_state(b);
	int32_t n = sd_ctl_state_broker_count(s);
	resp->brokers.items = kmsg_arena_alloc(req->arena, (size_t)(n + 1) * sizeof(*resp->brokers.items));
	if (resp->brokers.items == NULL) {
		return -1;
	}
	resp->brokers.count = n;
	for (int32_t i = 0; i < n; i++) {
		const struct sd_ctl_broker *br = sd_ctl_state_broker_at(s, i);
		struct kmsg_metadata_response_broker *rb = &resp->brokers.items[i];
		kmsg_metadata_response_broker_init(rb);
		rb->node_id = br->id;
		rb->host = kmsg_str_make(br->kafka.host);
		rb->port = br->kafka.port;
		rb->rack = kmsg_str_make(br->rack);
	}
	if (n == 0) {
		/* Not registered yet: still name ourselves so clients can retry. */
		struct kmsg_metadata_response_broker *rb = &resp->brokers.items[0];
		kmsg_metadata_response_broker_init(rb);
		rb->node_id = b->id;
		rb->host = kmsg_str_make(b->kafka_adv.host);
		rb->port = b->kafka_adv.port;
		rb->rack = kmsg_str_make(b->rack);
		resp->brokers.count = 1;
	}
	return 0;
}

static void handle_metadata(void *ctx, struct sk_request *req)
{
	struct sd_broker *b = ctx;
	const struct kmsg_metadata_request *mr = req->body;
	const struct sd_ctl_state *s = sd_controller_state(b);
	struct kmsg_metadata_response resp;
	kmsg_api_lookup(KMSG_API_METADATA)->response_init(&resp);
	if (fill_brokers(b, req, &resp) != 0) {
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	resp.cluster_id = kmsg_str_make(b->cluster_id);
	resp.controller_id = sd_controller_leader(b);
	bool all = mr->topics.null || (req->api_version == 0 && mr->topics.count == 0);
	int32_t n = all ? sd_ctl_state_topic_count(s) : mr->topics.count;
	resp.topics.items = kmsg_arena_alloc(req->arena, (size_t)(n + 1) * sizeof(*resp.topics.items));
	if (resp.topics.items == NULL) {
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	resp.topics.count = n;
	bool may_create = req->api_version < 4 || mr->allow_auto_topic_creation;
	may_create = may_create && sd_config_bool(b->cfg, "auto.create.topics.enable");
	for (int32_t i = 0; i < n; i++) {
		struct kmsg_metadata_response_topic *rt = &resp.topics.items[i];
		kmsg_metadata_response_topic_init(rt);
		const struct sd_ctl_topic *t;
		if (all) {
			t = sd_ctl_state_topic_at(s, i);
		} else {
			char name[SD_CTL_TOPIC_NAME_MAX + 1];
			rt->name = mr->topics.items[i].name;
			if (!sd_kstr_copy(&mr->topics.items[i].name, name, sizeof(name)) ||
			    !sd_ctl_topic_name_valid(name)) {
				rt->error_code = KE_INVALID_TOPIC_EXCEPTION;
				continue;
			}
			t = sd_ctl_state_topic_find(s, name);
			if (t == NULL) {
				rt->error_code = may_create ? KE_LEADER_NOT_AVAILABLE
							    : KE_UNKNOWN_TOPIC_OR_PARTITION;
				if (may_create) {
					auto_create(b, name);
				}
				continue;
			}
		}
		if (fill_topic(b, req, t, rt) != 0) {
			sk_respond_error(req, KE_REQUEST_TIMED_OUT);
			return;
		}
	}
	sk_respond(req, &resp);
}

void sd_kh_meta_register(struct sd_broker *b)
{
	sk_server_set_handler(b->kafka, KMSG_API_METADATA, handle_metadata, b);
}
