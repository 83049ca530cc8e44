/* Kafka consumer group coordination: FindCoordinator (v0-2), JoinGroup
 * (v0-5), SyncGroup (v0-3), Heartbeat (v0-3) and LeaveGroup (v0-1), over
 * the pure state machine of server/cgroup.h.
 *
 * Happy path. A group's coordinator is the leader of partition
 * cg_partition_for(group, N) of the internal topic __consumer_offsets (N
 * partitions), which the controller creates on the first FindCoordinator
 * (offsets.topic.num.partitions, offsets.topic.replication.factor capped to
 * the brokers there are, retention disabled). When this broker becomes the
 * leader of such a partition it starts a coordinator for it, reads the
 * partition's log back up to the high watermark (at least to the log end it
 * had when elected, so every earlier commit is included) and applies every
 * offset record; until then its groups answer COORDINATOR_LOAD_IN_PROGRESS.
 * JoinGroup and SyncGroup answers that must wait for a rebalance are parked
 * in the state machine and sent from its callbacks (as long-poll Fetch
 * answers later); one libuv timer follows the state machine's deadlines
 * (session expiry, rebalance and initial delays).
 *
 * Failure modes. A request for a group this broker does not coordinate
 * gets NOT_COORDINATOR, so the client looks the coordinator up again.
 * Losing leadership (or the partition) frees the coordinator: parked
 * answers get NOT_COORDINATOR. Group membership is not written to the log
 * (only offsets are): after a coordinator moves, members get
 * UNKNOWN_MEMBER_ID and rejoin, which real clients do on their own. A
 * connection that closes while its JoinGroup or SyncGroup waits is answered
 * at once (the answer is discarded); the member stays until its session
 * expires, as in Kafka. Loading reads the log on the loop thread in chunks
 * of SD_GROUPS_LOAD_CHUNK_BYTES; a record that does not decode is skipped
 * and logged. */
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "server/kh_group_int.h"

/* ---- Strings ------------------------------------------------------------- */

const char *sd__kstr_arena(struct kmsg_arena *a, const struct kmsg_str *s, size_t max,
			   bool nullable, bool *ok)
{
	*ok = false;
	if (s->null || s->len < 0) {
		*ok = nullable;
		return NULL;
	}
	if ((size_t)s->len > max || memchr(s->ptr, '\0', (size_t)s->len) != NULL) {
		return NULL;
	}
	char *d = kmsg_arena_alloc(a, (size_t)s->len + 1);
	if (d == NULL) {
		return NULL;
	}
	memcpy(d, s->ptr, (size_t)s->len);
	d[s->len] = '\0';
	*ok = true;
	return d;
}

int16_t sd__member_ref(struct kmsg_arena *a, const struct kmsg_str *group,
		       const struct kmsg_str *member, const struct kmsg_str *instance,
		       struct sd_member_ref *out)
{
	bool ok[3];
	out->group = sd__kstr_arena(a, group, CG_GROUP_ID_BYTES_MAX, false, &ok[0]);
	out->member = sd__kstr_arena(a, member, CG_MEMBER_ID_BYTES_MAX, false, &ok[1]);
	out->instance = sd__kstr_arena(a, instance, CG_NAME_BYTES_MAX, true, &ok[2]);
	if (!ok[0]) {
		return KE_INVALID_GROUP_ID;
	}
	return ok[1] && ok[2] ? 0 : KE_INVALID_REQUEST;
}

/* ---- Coordinators per partition ------------------------------------------ */

static void coord_free(struct sd_groups *gs, struct sd_opart *op)
{
	if (op->coord != NULL) {
		struct cg_stats st = {0};
		cg_coord_stats(op->coord, &st);
		gs->rebalances_base += st.rebalances;
		gs->expired_base += st.members_expired;
		cg_coord_free(op->coord, KE_NOT_COORDINATOR);
		op->coord = NULL;
	}
	op->state = SD_OPART_NONE;
}

static struct sd_opart *opart_get(struct sd_groups *gs, int32_t index)
{
	if (index < 0 || index >= SD_CTL_TOPIC_PARTITIONS_MAX) {
		return NULL;
	}
	if (index >= gs->n_parts) {
		int32_t n = index + 1;
		struct sd_opart *p = sl_realloc(gs->parts, (size_t)n * sizeof(*p));
		if (p == NULL) {
			return NULL;
		}
		memset(p + gs->n_parts, 0, (size_t)(n - gs->n_parts) * sizeof(*p));
		gs->parts = p;
		gs->n_parts = n;
	}
	return &gs->parts[index];
}

static void join_done(void *data, void *token, const struct cg_join_result *r);
static void sync_done(void *data, void *token, int16_t error, const char *protocol_type,
		      const char *protocol_name, const uint8_t *assignment, size_t len);

/* Applies the offset records of one stored batch. */
static void load_batch(struct sd_groups *gs, struct sd_opart *op, const uint8_t *p, size_t len)
{
	struct kp_record_iter it;
	if (kp_record_iter_init(&it, p, len) != 0) {
		SL_LOG(SL_LOG_WARN, "component=groups event=offsets_batch_skipped reason=decode");
		return;
	}
	struct kp_record rec;
	int rv;
	while ((rv = kp_record_iter_next(&it, &rec)) == 1) {
		struct cg_record cr;
		if (cg_record_decode(rec.key, rec.key_len, rec.value, rec.value_len, &cr) != 0) {
			SL_LOG(SL_LOG_WARN, "component=groups event=offsets_record_skipped offset=%lld",
			       (long long)rec.offset);
			continue;
		}
		if (cg_coord_apply_record(op->coord, &cr) != 0) {
			SL_LOG(SL_LOG_ERROR, "component=groups event=offsets_record_not_applied "
					     "group=%s offset=%lld",
			       cr.group, (long long)rec.offset);
		}
		gs->load_records++;
	}
	kp_record_iter_free(&it);
}

/* Reads up to one chunk of the log into the coordinator. Returns true
 * when there is more to read now. */
static bool load_step(struct sd_groups *gs, struct sd_opart *op, struct sd_partition *sp,
		      const struct rl_group_status *st)
{
	if (op->load_next < st->start_offset) {
		op->load_next = st->start_offset;
	}
	if (op->load_next >= st->hwm) {
		return false;
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t next = op->load_next;
	int rv = rl_read_copy(sd_part_log(sp->part), op->load_next, st->hwm,
			      SD_GROUPS_LOAD_CHUNK_BYTES, &buf, &len, &next);
	if (rv != 0) {
		SL_LOG(SL_LOG_ERROR, "component=groups partition=%d event=offsets_load_failed err=%s",
		       sp->index, rl_err_name(rv));
		return false;
	}
	size_t pos = 0;
	while (pos < len) {
		struct kp_batch_header h;
		if (kp_batch_parse_header(buf + pos, len - pos, &h) != 0 ||
		    kp_batch_size(&h) > len - pos) {
			break;
		}
		if ((h.attributes & KP_ATTR_CONTROL) == 0) {
			load_batch(gs, op, buf + pos, kp_batch_size(&h));
		}
		pos += kp_batch_size(&h);
	}
	sl_free(buf);
	if (next <= op->load_next) {
		return false;
	}
	op->load_next = next;
	return op->load_next < st->hwm;
}

static void on_load_timer(uv_timer_t *t);

/* Brings the partition's coordinator in line with its Raft role. */
static void partition_event(struct sd_groups *gs, struct sd_partition *sp)
{
	struct sd_opart *op = opart_get(gs, sp->index);
	struct rl_group *g = sd_part_group(sp->part);
	if (op == NULL) {
		return;
	}
	struct rl_group_status st;
	if (g != NULL) {
		rl_group_get_status(g, &st);
	}
	if (g == NULL || st.role != RAFT_LEADER || gs->b->stopping) {
		if (op->state != SD_OPART_NONE) {
			SL_LOG(SL_LOG_INFO, "component=groups partition=%d event=coordinator_stopped",
			       sp->index);
		}
		coord_free(gs, op);
		return;
	}
	if (op->state == SD_OPART_NONE || op->term != st.term) {
		coord_free(gs, op);
		struct cg_env env = {.data = gs, .join_done = join_done, .sync_done = sync_done};
		op->coord = cg_coord_new(&gs->cfg, &env);
		if (op->coord == NULL) {
			SL_LOG(SL_LOG_ERROR, "component=groups partition=%d event=coordinator_no_memory",
			       sp->index);
			return;
		}
		op->state = SD_OPART_LOADING;
		op->term = st.term;
		op->load_target = st.next_offset;
		op->load_next = st.start_offset;
		op->load_start_ms = uv_now(gs->b->loop);
		gs->loads++;
	}
	if (op->state != SD_OPART_LOADING) {
		return;
	}
	if (load_step(gs, op, sp, &st)) {
		uv_timer_start(&gs->load_timer, on_load_timer, 0, 0);
		return;
	}
	if (st.hwm >= op->load_target && op->load_next >= op->load_target) {
		op->state = SD_OPART_READY;
		SL_LOG(SL_LOG_INFO,
		       "component=groups partition=%d term=%llu event=coordinator_ready "
		       "offsets_read_to=%lld groups_load_ms=%llu",
		       sp->index, (unsigned long long)st.term, (long long)op->load_next,
		       (unsigned long long)(uv_now(gs->b->loop) - op->load_start_ms));
	}
}

static void on_load_timer(uv_timer_t *t)
{
	struct sd_groups *gs = t->data;
	const struct sd_ctl_topic *topic =
		sd_ctl_state_topic_find(sd_controller_state(gs->b), SD_OFFSETS_TOPIC);
	for (int32_t i = 0; topic != NULL && i < gs->n_parts && i < topic->n_partitions; i++) {
		if (gs->parts[i].state != SD_OPART_LOADING) {
			continue;
		}
		struct sd_partition *sp = sd_partition_find(gs->b, SD_OFFSETS_TOPIC, i);
		if (sp != NULL) {
			partition_event(gs, sp);
		}
	}
}

void sd_kh_group_event(struct sd_partition *sp)
{
	struct sd_groups *gs = sp->b->groups;
	if (gs != NULL && strcmp(sp->topic, SD_OFFSETS_TOPIC) == 0) {
		partition_event(gs, sp);
	}
}

void sd_kh_group_drop(struct sd_partition *sp)
{
	struct sd_groups *gs = sp->b->groups;
	if (gs != NULL && strcmp(sp->topic, SD_OFFSETS_TOPIC) == 0 && sp->index >= 0 &&
	    sp->index < gs->n_parts) {
		coord_free(gs, &gs->parts[sp->index]);
	}
}

/* ---- Finding the coordinator --------------------------------------------- */

static void offsets_created(void *data, int16_t err, const char *msg)
{
	struct sd_groups *gs = data;
	gs->create_pending = false;
	if (err != 0 && err != SD_CTL_KAFKA_TOPIC_ALREADY_EXISTS) {
		SL_LOG(SL_LOG_WARN, "component=groups event=offsets_topic_create_failed err=%d msg=\"%s\"",
		       err, msg);
	} else if (err == 0) {
		SL_LOG(SL_LOG_INFO, "component=groups event=offsets_topic_created topic=%s",
		       SD_OFFSETS_TOPIC);
	}
}

/* Asks the controller for __consumer_offsets (at most once a second). */
static void ensure_offsets_topic(struct sd_groups *gs)
{
	struct sd_broker *b = gs->b;
	uint64_t now = uv_now(b->loop);
	if (gs->create_pending || (gs->create_last_ms != 0 && now - gs->create_last_ms < 1000)) {
		return;
	}
	/* Capped to the cluster's size: the registered brokers, or the
	 * controller voters while not every broker has registered yet. */
	struct sd_voter voters[SD_VOTERS_MAX];
	int32_t n = SL_MAX(sd_ctl_state_broker_count(sd_controller_state(b)),
			   (int32_t)sd_config_voters(b->cfg, voters));
	int32_t rf = (int32_t)sd_config_int(b->cfg, "offsets.topic.replication.factor");
	/* Retention off: committed offsets must never be deleted. */
	static const struct sd_ctl_config cfgs[] = {{"retention.bytes", "-1"},
						    {"retention.ms", "-1"}};
	struct sd_topic_intent in = {
		.name = SD_OFFSETS_TOPIC,
		.partitions = (int32_t)sd_config_int(b->cfg, "offsets.topic.num.partitions"),
		.replication_factor = SL_MAX(1, SL_MIN(rf, n)),
		.configs = cfgs,
		.n_configs = 2,
	};
	gs->create_last_ms = now;
	if (sd_controller_create_topic(b, &in, offsets_created, gs) == 0) {
		gs->create_pending = true;
	}
}

struct cg_coord *sd__groups_coord(struct sd_groups *gs, const char *group, int32_t *part,
				  int16_t *error)
{
	*part = -1;
	if (group == NULL || group[0] == '\0' || strlen(group) > CG_GROUP_ID_BYTES_MAX) {
		*error = KE_INVALID_GROUP_ID;
		return NULL;
	}
	const struct sd_ctl_topic *t =
		sd_ctl_state_topic_find(sd_controller_state(gs->b), SD_OFFSETS_TOPIC);
	if (t == NULL) {
		ensure_offsets_topic(gs);
		*error = KE_NOT_COORDINATOR;
		return NULL;
	}
	*part = cg_partition_for(group, t->n_partitions);
	struct sd_opart *op = *part < gs->n_parts ? &gs->parts[*part] : NULL;
	if (op == NULL || op->state == SD_OPART_NONE) {
		*error = KE_NOT_COORDINATOR;
		return NULL;
	}
	if (op->state == SD_OPART_LOADING) {
		*error = KE_COORDINATOR_LOAD_IN_PROGRESS;
		return NULL;
	}
	*error = 0;
	return op->coord;
}

#define KEY_TYPE_GROUP 0
#define KEY_TYPE_TRANSACTION 1

/* FindCoordinator: the broker leading the group's offsets partition. (It
 * must stay advertised in any case: librdkafka enables its lz4 codec only
 * when the broker lists FindCoordinator v0.) Transaction coordinators get
 * INVALID_REQUEST with a message, since there are no transactions. */
static void handle_find_coordinator(void *ctx, struct sk_request *req)
{
	struct sd_groups *gs = ctx;
	struct sd_broker *b = gs->b;
	const struct kmsg_find_coordinator_request *r = req->body;
	struct kmsg_find_coordinator_response resp;
	kmsg_find_coordinator_response_init(&resp);
	resp.node_id = -1;
	resp.host = kmsg_str_make("");
	resp.port = -1;
	resp.error_message = kmsg_str_null();
	bool ok;
	const char *key = sd__kstr_arena(req->arena, &r->key, CG_GROUP_ID_BYTES_MAX, false, &ok);
	const struct sd_ctl_topic *t =
		sd_ctl_state_topic_find(sd_controller_state(b), SD_OFFSETS_TOPIC);
	if (r->key_type == KEY_TYPE_TRANSACTION) {
		resp.error_code = KE_INVALID_REQUEST;
		resp.error_message = kmsg_str_make(
			"transaction coordinators are not supported: stretchlog has no transactions");
	} else if (r->key_type != KEY_TYPE_GROUP) {
		resp.error_code = KE_INVALID_REQUEST;
		resp.error_message = kmsg_str_make("unknown coordinator key type");
	} else if (!ok || key[0] == '\0') {
		resp.error_code = KE_INVALID_REQUEST;
		resp.error_message = kmsg_str_make("group id empty, too long or holding a NUL byte");
	} else if (t == NULL) {
		ensure_offsets_topic(gs);
		resp.error_code = KE_COORDINATOR_NOT_AVAILABLE;
		resp.error_message = kmsg_str_make("creating " SD_OFFSETS_TOPIC);
	} else {
		int32_t p = cg_partition_for(key, t->n_partitions);
		int32_t leader = sd_leader_of(b, t->partitions[p].group_id, NULL);
		const struct sd_ctl_broker *br =
			leader >= 0 ? sd_ctl_state_broker_find(sd_controller_state(b), leader) : NULL;
		if (br == NULL) {
			resp.error_code = KE_COORDINATOR_NOT_AVAILABLE;
			resp.error_message = kmsg_str_make("the group's offsets partition has no leader");
		} else {
			resp.node_id = br->id;
			resp.host = kmsg_str_make(br->kafka.host);
			resp.port = br->kafka.port;
		}
	}
	sk_respond(req, &resp);
}

/* ---- Parked answers ------------------------------------------------------ */

/* A JoinGroup or SyncGroup the state machine may answer later. */
struct parked {
	struct sk_request *req;
	struct sd_groups *gs;
	int32_t part;
	char group[CG_GROUP_ID_BYTES_MAX + 1];
};

static void join_done(void *data, void *token, const struct cg_join_result *r)
{
	(void)data;
	struct parked *pk = token;
	struct sk_request *req = pk->req;
	struct kmsg_join_group_response resp;
	kmsg_join_group_response_init(&resp);
	resp.error_code = r->error;
	resp.generation_id = r->generation;
	resp.protocol_type = r->protocol_type ? kmsg_str_make(r->protocol_type) : kmsg_str_null();
	resp.protocol_name = kmsg_str_make(r->protocol_name ? r->protocol_name : "");
	resp.leader = kmsg_str_make(r->leader ? r->leader : "");
	resp.member_id = kmsg_str_make(r->member_id ? r->member_id : "");
	if (r->n_members > 0) {
		resp.members.items =
			kmsg_arena_alloc(req->arena, (size_t)r->n_members * sizeof(*resp.members.items));
		if (resp.members.items == NULL) {
			resp.error_code = KE_COORDINATOR_NOT_AVAILABLE;
		} else {
			for (int32_t i = 0; i < r->n_members; i++) {
				struct kmsg_join_group_response_member *m = &resp.members.items[i];
				kmsg_join_group_response_member_init(m);
				m->member_id = kmsg_str_make(r->members[i].member_id);
				m->group_instance_id = r->members[i].instance_id
							       ? kmsg_str_make(r->members[i].instance_id)
							       : kmsg_str_null();
				m->metadata.ptr = r->members[i].metadata;
				m->metadata.len = (int32_t)r->members[i].metadata_len;
				m->metadata.null = false;
			}
			resp.members.count = r->n_members;
		}
	}
	sl_free(pk);
	sk_respond(req, &resp);
}

static void sync_done(void *data, void *token, int16_t error, const char *protocol_type,
		      const char *protocol_name, const uint8_t *assignment, size_t len)
{
	(void)data;
	struct parked *pk = token;
	struct sk_request *req = pk->req;
	struct kmsg_sync_group_response resp;
	kmsg_sync_group_response_init(&resp);
	resp.error_code = error;
	resp.protocol_type = protocol_type ? kmsg_str_make(protocol_type) : kmsg_str_null();
	resp.protocol_name = protocol_name ? kmsg_str_make(protocol_name) : kmsg_str_null();
	resp.assignment.ptr = assignment ? assignment : (const uint8_t *)"";
	resp.assignment.len = (int32_t)len;
	resp.assignment.null = false;
	sl_free(pk);
	sk_respond(req, &resp);
}

static void parked_cancel(struct sk_request *req)
{
	struct parked *pk = req->data;
	struct sd_groups *gs = pk->gs;
	struct cg_coord *c = pk->part < gs->n_parts ? gs->parts[pk->part].coord : NULL;
	if (c != NULL) {
		(void)cg_coord_cancel(c, pk->group, pk);
	}
	/* Only pending requests are cancelled, so the answer is still owed. */
	sl_free(pk);
	sk_respond_error(req, KE_NOT_COORDINATOR);
	sd__groups_rearm(gs);
}

/* A parked token for req, or NULL (then req has been answered). */
static struct parked *park(struct sd_groups *gs, struct sk_request *req, const char *group,
			   int32_t part)
{
	struct parked *pk = sl_calloc(1, sizeof(*pk));
	if (pk == NULL) {
		sk_respond_error(req, KE_COORDINATOR_NOT_AVAILABLE);
		return NULL;
	}
	pk->req = req;
	pk->gs = gs;
	pk->part = part;
	snprintf(pk->group, sizeof(pk->group), "%s", group);
	req->data = pk;
	/* Set before the state machine sees pk: an answer given inside the
	 * call completes req, after which no cancel runs. */
	if (sk_request_on_cancel(req, parked_cancel) == SK_ECLOSED) {
		sl_free(pk);
		sk_respond_error(req, KE_NOT_COORDINATOR);
		return NULL;
	}
	return pk;
}


/* ---- Handlers ------------------------------------------------------------ */

static uint64_t next_nonce(struct sd_groups *gs)
{
	/* splitmix64 over a seed from the clock: unique member ids. */
	uint64_t z = (gs->nonce += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void handle_join(void *ctx, struct sk_request *req)
{
	struct sd_groups *gs = ctx;
	const struct kmsg_join_group_request *r = req->body;
	bool ok[5];
	struct cg_join_req jr = {
		.group_id = sd__kstr_arena(req->arena, &r->group_id, CG_GROUP_ID_BYTES_MAX, false, &ok[0]),
		.member_id = sd__kstr_arena(req->arena, &r->member_id, CG_MEMBER_ID_BYTES_MAX, false, &ok[1]),
		.instance_id = sd__kstr_arena(req->arena, &r->group_instance_id, CG_NAME_BYTES_MAX, true,
					      &ok[2]),
		.protocol_type = sd__kstr_arena(req->arena, &r->protocol_type, CG_NAME_BYTES_MAX, false,
						&ok[3]),
		.client_id = sd__kstr_arena(req->arena, &req->client_id, 200, true, &ok[4]),
		.session_timeout_ms = r->session_timeout_ms,
		.rebalance_timeout_ms = req->api_version >= 1 ? r->rebalance_timeout_ms
							      : r->session_timeout_ms,
		.require_known_member_id = req->api_version >= 4,
		.nonce = next_nonce(gs),
	};
	if (!ok[0]) {
		sk_respond_error(req, KE_INVALID_GROUP_ID);
		return;
	}
	if (!ok[1] || !ok[2] || !ok[3] || r->protocols.count > CG_PROTOCOLS_MAX) {
		sk_respond_error(req, KE_INVALID_REQUEST);
		return;
	}
	if (!ok[4]) {
		jr.client_id = "consumer";
	}
	int32_t part;
	int16_t err;
	struct cg_coord *c = sd__groups_coord(gs, jr.group_id, &part, &err);
	if (c == NULL) {
		sk_respond_error(req, err);
		return;
	}
	struct cg_protocol *ps =
		kmsg_arena_alloc(req->arena, (size_t)(r->protocols.count + 1) * sizeof(*ps));
	if (ps == NULL) {
		sk_respond_error(req, KE_COORDINATOR_NOT_AVAILABLE);
		return;
	}
	for (int32_t i = 0; i < r->protocols.count; i++) {
		const struct kmsg_join_group_request_protocol *p = &r->protocols.items[i];
		bool pok;
		ps[i].name = sd__kstr_arena(req->arena, &p->name, CG_NAME_BYTES_MAX, false, &pok);
		if (!pok) {
			sk_respond_error(req, KE_INVALID_REQUEST);
			return;
		}
		ps[i].metadata = p->metadata.null ? NULL : p->metadata.ptr;
		ps[i].metadata_len = p->metadata.null || p->metadata.len < 0 ? 0 : (size_t)p->metadata.len;
	}
	jr.protocols = ps;
	jr.n_protocols = r->protocols.count;
	struct parked *pk = park(gs, req, jr.group_id, part);
	if (pk == NULL) {
		return;
	}
	cg_join(c, pk, &jr, uv_now(gs->b->loop));
	sd__groups_rearm(gs);
}

static void handle_sync(void *ctx, struct sk_request *req)
{
	struct sd_groups *gs = ctx;
	const struct kmsg_sync_group_request *r = req->body;
	bool ok[5];
	bool v5 = req->api_version >= 5;
	struct kmsg_str none = kmsg_str_null();
	struct cg_sync_req sr = {
		.group_id = sd__kstr_arena(req->arena, &r->group_id, CG_GROUP_ID_BYTES_MAX, false, &ok[0]),
		.member_id = sd__kstr_arena(req->arena, &r->member_id, CG_MEMBER_ID_BYTES_MAX, false, &ok[1]),
		.instance_id = sd__kstr_arena(req->arena, &r->group_instance_id, CG_NAME_BYTES_MAX, true,
					      &ok[2]),
		.protocol_type = sd__kstr_arena(req->arena, v5 ? &r->protocol_type : &none,
						CG_NAME_BYTES_MAX, true, &ok[3]),
		.protocol_name = sd__kstr_arena(req->arena, v5 ? &r->protocol_name : &none,
						CG_NAME_BYTES_MAX, true, &ok[4]),
		.generation = r->generation_id,
	};
	if (!ok[0]) {
		sk_respond_error(req, KE_INVALID_GROUP_ID);
		return;
	}
	if (!ok[1] || !ok[2] || !ok[3] || !ok[4]) {
		sk_respond_error(req, KE_INVALID_REQUEST);
		return;
	}
	int32_t part;
	int16_t err;
	struct cg_coord *c = sd__groups_coord(gs, sr.group_id, &part, &err);
	if (c == NULL) {
		sk_respond_error(req, err);
		return;
	}
	int32_t n = r->assignments.count;
	struct cg_assignment *as = kmsg_arena_alloc(req->arena, (size_t)(n + 1) * sizeof(*as));
	if (as == NULL) {
		sk_respond_error(req, KE_COORDINATOR_NOT_AVAILABLE);
		return;
	}
	for (int32_t i = 0; i < n; i++) {
		const struct kmsg_sync_group_request_assignment *a = &r->assignments.items[i];
		bool aok;
		as[i].member_id =
			sd__kstr_arena(req->arena, &a->member_id, CG_MEMBER_ID_BYTES_MAX, false, &aok);
		if (!aok) {
			sk_respond_error(req, KE_INVALID_REQUEST);
			return;
		}
		as[i].data = a->assignment.null ? NULL : a->assignment.ptr;
		as[i].len = a->assignment.null || a->assignment.len < 0 ? 0 : (size_t)a->assignment.len;
	}
	sr.assignments = as;
	sr.n_assignments = n;
	struct parked *pk = park(gs, req, sr.group_id, part);
	if (pk != NULL) {
		cg_sync(c, pk, &sr, uv_now(gs->b->loop));
		sd__groups_rearm(gs);
	}
}

static void handle_heartbeat(void *ctx, struct sk_request *req)
{
	struct sd_groups *gs = ctx;
	const struct kmsg_heartbeat_request *r = req->body;
	struct sd_member_ref m;
	struct kmsg_heartbeat_response resp;
	kmsg_heartbeat_response_init(&resp);
	resp.error_code =
	    sd__member_ref(req->arena, &r->group_id, &r->member_id, &r->group_instance_id, &m);
	int32_t part;
	struct cg_coord *c = NULL;
	if (resp.error_code == 0 &&
	    (c = sd__groups_coord(gs, m.group, &part, &resp.error_code)) != NULL) {
		resp.error_code = cg_heartbeat(c, m.group, m.member, m.instance, r->generation_id,
					       uv_now(gs->b->loop));
		sd__groups_rearm(gs);
	}
	sk_respond(req, &resp);
}

static void handle_leave(void *ctx, struct sk_request *req)
{
	struct sd_groups *gs = ctx;
	const struct kmsg_leave_group_request *r = req->body;
	bool ok[2];
	const char *group =
		sd__kstr_arena(req->arena, &r->group_id, CG_GROUP_ID_BYTES_MAX, false, &ok[0]);
	const char *member =
		sd__kstr_arena(req->arena, &r->member_id, CG_MEMBER_ID_BYTES_MAX, false, &ok[1]);
	struct kmsg_leave_group_response resp;
	kmsg_leave_group_response_init(&resp);
	int32_t part;
	struct cg_coord *c = NULL;
	if (!ok[0]) {
		resp.error_code = KE_INVALID_GROUP_ID;
	} else if (!ok[1] || member[0] == '\0') {
		resp.error_code = KE_UNKNOWN_MEMBER_ID;
	} else if ((c = sd__groups_coord(gs, group, &part, &resp.error_code)) != NULL) {
		resp.error_code = cg_leave(c, group, member, NULL, uv_now(gs->b->loop));
		sd__groups_rearm(gs);
	}
	sk_respond(req, &resp);
}

/* ---- Timer ------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t)
{
	struct sd_groups *gs = t->data;
	uint64_t now = uv_now(gs->b->loop);
	for (int32_t i = 0; i < gs->n_parts; i++) {
		if (gs->parts[i].state == SD_OPART_READY) {
			cg_coord_tick(gs->parts[i].coord, now);
		}
	}
	sd__groups_rearm(gs);
}

void sd__groups_rearm(struct sd_groups *gs)
{
	if (!gs->timers_live) {
		return;
	}
	uint64_t d = UINT64_MAX;
	for (int32_t i = 0; i < gs->n_parts; i++) {
		if (gs->parts[i].state == SD_OPART_READY) {
			d = SL_MIN(d, cg_coord_deadline_ms(gs->parts[i].coord));
		}
	}
	if (d == UINT64_MAX) {
		uv_timer_stop(&gs->timer);
		return;
	}
	uint64_t now = uv_now(gs->b->loop);
	uv_timer_start(&gs->timer, on_timer, d > now ? d - now : 0, 0);
}

/* ---- Life cycle -------------------------------------------------------------- */

void sd_kh_group_register(struct sd_broker *b)
{
	struct sd_groups *gs = sl_calloc(1, sizeof(*gs));
	SL_ASSERT(gs != NULL);
	gs->b = b;
	gs->cfg.session_timeout_min_ms = (int32_t)sd_config_int(b->cfg, "group.min.session.timeout.ms");
	gs->cfg.session_timeout_max_ms = (int32_t)sd_config_int(b->cfg, "group.max.session.timeout.ms");
	gs->cfg.initial_rebalance_delay_ms =
		(int32_t)sd_config_int(b->cfg, "group.initial.rebalance.delay.ms");
	gs->cfg.members_max = (int32_t)sd_config_int(b->cfg, "group.max.size");
	gs->nonce = sl_now_mono_ns() ^ ((uint64_t)b->id << 40) ^ (uint64_t)sl_now_wall_ms();
	uv_timer_init(b->loop, &gs->timer);
	uv_timer_init(b->loop, &gs->load_timer);
	gs->timer.data = gs;
	gs->load_timer.data = gs;
	gs->timers_live = true;
	b->groups = gs;
	sk_server_set_handler(b->kafka, KMSG_API_FIND_COORDINATOR, handle_find_coordinator, gs);
	sk_server_set_handler(b->kafka, KMSG_API_JOIN_GROUP, handle_join, gs);
	sk_server_set_handler(b->kafka, KMSG_API_SYNC_GROUP, handle_sync, gs);
	sk_server_set_handler(b->kafka, KMSG_API_HEARTBEAT, handle_heartbeat, gs);
	sk_server_set_handler(b->kafka, KMSG_API_LEAVE_GROUP, handle_leave, gs);
	sd_kh_offsets_register(b);
}

/* Close callbacks run in no promised order: the last one frees gs. */
static void groups_closed(uv_handle_t *h)
{
	struct sd_groups *gs = h->data;
	if (--gs->closing == 0) {
		sl_free(gs->parts);
		sl_free(gs);
	}
}

void sd_kh_group_stop(struct sd_broker *b)
{
	struct sd_groups *gs = b->groups;
	if (gs == NULL) {
		return;
	}
	for (int32_t i = 0; i < gs->n_parts; i++) {
		coord_free(gs, &gs->parts[i]);
	}
	b->groups = NULL;
	gs->timers_live = false;
	gs->closing = 2;
	uv_close((uv_handle_t *)&gs->timer, groups_closed);
	uv_close((uv_handle_t *)&gs->load_timer, groups_closed);
}

void sd_kh_group_stats(struct sd_broker *b, struct sd_group_stats *out)
{
	memset(out, 0, sizeof(*out));
	struct sd_groups *gs = b->groups;
	if (gs == NULL) {
		return;
	}
	struct cg_stats st = {0};
	for (int32_t i = 0; i < gs->n_parts; i++) {
		if (gs->parts[i].coord != NULL) {
			cg_coord_stats(gs->parts[i].coord, &st);
		}
		out->partitions_loading += gs->parts[i].state == SD_OPART_LOADING;
		out->partitions_ready += gs->parts[i].state == SD_OPART_READY;
	}
	for (int s = 0; s < CG_STATE_COUNT; s++) {
		out->groups[s] = st.groups[s];
	}
	out->rebalances = gs->rebalances_base + st.rebalances;
	out->members_expired = gs->expired_base + st.members_expired;
	out->commits_ok = gs->commits_ok;
	out->commits_failed = gs->commits_failed;
	out->loads = gs->loads;
	out->load_records = gs->load_records;
}
